/* compile: render Alembic .py revisions to SQL with Alembic's own offline
 * mode, where Python works (a build stage, CI), so that deploys run them
 * without Python (SPEC §7.5).
 *
 * One Python process (the `python` setting) runs compiled_renderer_py with
 * the project's Alembic and env.py, once per revision, direction and
 * dialect, and reports the statements in a file (compiled.h); prestart
 * then writes <script_location>/compiled/<rev>.<dialect>.sql, and the
 * revisions that cannot be rendered offline into online-only.<dialect>.txt.
 * Nothing connects to a database.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/compiled.h"
#include "prestart/delegate.h"
#include "prestart/exec.h"
#include "prestart/log.h"
#include "prestart/sha256.h"
#include "prestart/sqlsplit.h"

#define RENDERER_ENV "PRESTART_COMPILE_RENDERER"
#define REPORT_MAX (1024u * 1024 * 1024)

/* `python -c` puts the working directory first on sys.path, where the
 * alembic command has its own bin directory: take it out so that env.py
 * imports what it imports under `alembic` (prepend_sys_path, PYTHONPATH).
 * No __pycache__ is written into the project: compile reads it, and a
 * build stage copies its directories into the migration image. */
static const char bootstrap[] =
	"import os, sys; sys.dont_write_bytecode = True; del sys.path[0]; "
	"exec(compile(os.environ.pop('" RENDERER_ENV "'), 'prestart-compile', 'exec'))";

struct target {
	enum db_kind kind;
	const char *url;  /* what env.py sees as sqlalchemy.url and DATABASE_URL */
	size_t compiled, online;
	struct sbuf online_list;
};

/* The dialect of a SQLAlchemy URL from its scheme ("postgresql+asyncpg"). */
static int url_dialect(const char *url, enum db_kind *kind)
{
	size_t n = strcspn(url, "+:");
	char scheme[32];

	if (!strstr(url, "://") || n == 0 || n >= sizeof(scheme))
		return -1;
	memcpy(scheme, url, n);
	scheme[n] = '\0';
	if (!strcmp(scheme, "pg"))
		return -1;
	return compiled_dialect_parse(scheme, kind);
}

static int add_target(struct target *t, size_t *n, enum db_kind kind)
{
	for (size_t i = 0; i < *n; i++)
		if (t[i].kind == kind)
			return 0;
	memset(&t[*n], 0, sizeof(t[*n]));
	t[(*n)++].kind = kind;
	return 0;
}

static int pick_targets(struct ctx *c, struct target *t, size_t *n)
{
	enum db_kind url_kind = DB_PG;
	const char *url = c->cli->render_url;

	*n = 0;
	for (size_t i = 0; i < c->cli->dialects.n; i++) {
		enum db_kind k;

		if (compiled_dialect_parse(c->cli->dialects.v[i], &k) < 0)
			return usage_error("unknown dialect '%s' for --dialect (expected postgresql "
					   "or sqlite)", c->cli->dialects.v[i]);
		add_target(t, n, k);
	}
	if (url) {
		if (url_dialect(url, &url_kind) < 0) {
			char *m = dburl_mask(url);
			int rc = usage_error("cannot tell the dialect of --url '%s' (expected a "
					     "postgresql:// or sqlite:// URL)", m);

			free(m);
			return rc;
		}
		if (*n && !((t[0].kind == url_kind) || (*n > 1 && t[1].kind == url_kind)))
			return usage_error("--url is a %s URL, but --dialect asks for %s",
					   compiled_dialect(url_kind), compiled_dialect(t[0].kind));
		add_target(t, n, url_kind);
	}
	if (!*n) {
		int rc;

		if (!c->cfg.database_url && !c->cfg.database_url_source)
			return usage_error("compile needs a SQL dialect: give --dialect postgresql|"
					   "sqlite, or a database URL (--database-url, DATABASE_URL "
					   "or sqlalchemy.url); nothing connects to it");
		if ((rc = ctx_need_db(c)))
			return rc;
		add_target(t, n, c->url.kind);
	}
	for (size_t i = 0; i < *n; i++)
		t[i].url = url && t[i].kind == url_kind ? url
			   : t[i].kind == DB_SQLITE ? "sqlite://" : "postgresql://";
	return 0;
}

/* Run the renderer; *report receives the file it wrote.  Returns 0 or an
 * exit status. */
static int render(struct ctx *c, const char *dir, struct target *t, size_t nt,
		  struct compiled_output *report)
{
	struct strlist argv = { 0 };
	struct delegate_opts o = { 0 };
	char *out = xasprintf("%s/.render-%ld.out", dir, (long)getpid());
	char *buf = NULL;
	size_t len = 0;
	int fd, run, rc = 0;
	char *shown = NULL;
	struct err run_err = { 0 };

	memset(report, 0, sizeof(*report));
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err_set(&c->e, ERR_FAILED, "cannot create '%s': %s", out, strerror(errno));
		free(out);
		return ctx_fail(c);
	}
	close(fd);
	if (exec_split(c->cfg.python, &argv, &c->e) < 0) {
		err_prefix(&c->e, "python");
		rc = ctx_fail(c);
		goto out;
	}
	strlist_push(&argv, "-c");
	strlist_push(&argv, bootstrap);
	strlist_push(&argv, "--out");
	strlist_push(&argv, out);
	strlist_push(&argv, "--script-location");
	strlist_push(&argv, c->cfg.script_location);
	if (c->cfg.alembic_config) {
		strlist_push(&argv, "--ini");
		strlist_push(&argv, c->cfg.alembic_config);
	}
	for (size_t i = 0; i < c->cfg.version_locations.n; i++) {
		strlist_push(&argv, "--version-location");
		strlist_push(&argv, c->cfg.version_locations.v[i]);
	}
	for (size_t i = 0; i < nt; i++) {
		strlist_push(&argv, "--render");
		strlist_push_owned(&argv, xasprintf("%s=%s", compiled_dialect(t[i].kind), t[i].url));
	}
	for (size_t i = 0; i < c->cli->xargs.n; i++) {
		strlist_push(&argv, "-x");
		strlist_push(&argv, c->cli->xargs.v[i]);
	}
	o.stop = c->stop;
	shown = xasprintf("%s with Alembic's offline mode (one process, every revision)",
			  argv.v[0]);
	o.shown = shown;
	setenv(RENDERER_ENV, compiled_renderer_py, 1);
	run = delegate_run_argv(&o, argv.v, &run_err);
	unsetenv(RENDERER_ENV);

	if (read_file(out, REPORT_MAX, &buf, &len, &c->e) < 0 ||
	    compiled_parse_output(buf, len, report, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if (run_err.kind > ERR_TIMEOUT) {
		/* stopped by a signal */
		c->e = run_err;
		rc = ctx_fail(c);
	} else if (report->fatal) {
		err_set(&c->e, ERR_FAILED, "compile: %s", report->fatal);
		rc = ctx_fail(c);
	} else if (run < 0) {
		c->e = run_err;
		err_prefix(&c->e, "compile");
		rc = ctx_fail(c);
	} else if (!report->complete) {
		err_set(&c->e, ERR_FAILED, "compile: the renderer stopped before it was done");
		rc = ctx_fail(c);
	}
out:
	unlink(out);
	free(out);
	free(buf);
	free(shown);
	strlist_free(&argv);
	return rc;
}

static const struct compiled_rendering *find_rendering(const struct compiled_output *o,
						       enum db_kind kind, const char *rev)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].rev, rev) && !strcmp(o->v[i].dialect, compiled_dialect(kind)))
			return &o->v[i];
	return NULL;
}

/* Alembic and prestart must see the same revisions. */
static int same_revisions(struct ctx *c, const struct compiled_output *o, const struct target *t,
			  size_t nt)
{
	for (size_t k = 0; k < nt; k++) {
		for (size_t i = 0; i < c->revs.n; i++) {
			const struct revision *r = &c->revs.v[i];

			if (r->is_py && !find_rendering(o, t[k].kind, r->id)) {
				err_set(&c->e, ERR_SCRIPT,
					"Alembic does not see revision %s (%s): check script_location "
					"and version_locations", r->id, r->path);
				return ctx_fail(c);
			}
		}
	}
	for (size_t i = 0; i < o->n; i++) {
		if (!c->g || !graph_find(c->g, o->v[i].rev)) {
			err_set(&c->e, ERR_SCRIPT,
				"Alembic sees a revision %s that prestart does not: check "
				"script_location and version_locations", o->v[i].rev);
			return ctx_fail(c);
		}
	}
	return 0;
}

/* How many statements sqlsplit finds in each of `stmts` together (-1 when
 * one does not split). */
static long count_statements(const struct strlist *stmts)
{
	long total = 0;

	for (size_t i = 0; i < stmts->n; i++) {
		struct sql_stmts st = { 0 };
		struct err e = { 0 };
		size_t bad = 0;

		if (sqlsplit(stmts->v[i], strlen(stmts->v[i]), &st, &bad, &e) < 0)
			return -1;
		total += (long)st.n;
		sqlsplit_release(&st);
	}
	return total;
}

static long count_section(const char *sql)
{
	struct sql_stmts st = { 0 };
	struct err e = { 0 };
	size_t bad = 0;
	long n;

	if (!sql)
		return 0;
	if (sqlsplit(sql, strlen(sql), &st, &bad, &e) < 0)
		return -1;
	n = (long)st.n;
	sqlsplit_release(&st);
	return n;
}

/* The text must read back as the same revision with the same statements:
 * a line inside a statement that looks like a section marker would not. */
static int reads_back(const char *path, const char *text, const struct compiled_rendering *r)
{
	struct revision back;
	struct err e = { 0 };
	long up = count_statements(&r->up), down = count_statements(&r->down);
	int ok;

	if (script_parse_sql(path, text, strlen(text), &back, &e) < 0)
		return 0;
	ok = up >= 0 && down >= 0 && count_section(back.upgrade_sql) == up &&
	     count_section(back.downgrade_sql) == down;
	revision_release(&back);
	return ok;
}

/* Write text to path unless it already holds exactly that (so that an image
 * build's layer stays cached).  0 written, 1 unchanged, -1 with e filled. */
static int write_if_changed(const char *path, const char *text, struct err *e)
{
	char *old = NULL, *tmp;
	size_t len = strlen(text), old_len = 0;
	struct err ignored = { 0 };
	int fd, same;
	ssize_t w;

	same = access(path, F_OK) == 0 && read_file(path, REPORT_MAX, &old, &old_len, &ignored) == 0 &&
	       old_len == len && !memcmp(old, text, len);
	free(old);
	if (same)
		return 1;
	tmp = xasprintf("%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set(e, ERR_FAILED, "cannot write '%s': %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	w = write(fd, text, len);
	if (w != (ssize_t)len || close(fd) < 0 || rename(tmp, path) < 0) {
		err_set(e, ERR_FAILED, "cannot write '%s': %s", path,
			w < 0 || w == (ssize_t)len ? strerror(errno) : "short write");
		if (w != (ssize_t)len)
			close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

/* The .py path as the header shows it: relative to the script location
 * when it is inside it. */
static const char *source_name(const struct ctx *c, const char *path)
{
	size_t n = strlen(c->cfg.script_location);

	if (!strncmp(path, c->cfg.script_location, n) && path[n] == '/')
		return path + n + 1;
	return path;
}

static void mark_online(struct target *t, const struct revision *r, const char *path,
			const char *why)
{
	log_event(LOG_WARN, "online_only",
		  (struct log_field[]){ LFS("revision", r->id), LFS("file", r->path),
					LFS("dialect", compiled_dialect(t->kind)), LFS("reason", why),
					{ 0 } },
		  "%s (%s) is online-only for %s, alembic will run it: %s", r->id, r->path,
		  compiled_dialect(t->kind), why);
	sbuf_addf(&t->online_list, "%s %s\n", r->id, why);
	t->online++;
	/* A file from an earlier compile would be stale: never leave it. */
	unlink(path);
}

static int write_one(struct ctx *c, const char *dir, struct target *t, const char *version,
		     const struct revision *r, const struct compiled_rendering *rd)
{
	char *path = compiled_path(dir, r->id, t->kind);
	char *src = NULL, *text = NULL, *by = xasprintf("alembic %s", version);
	char hex[SHA256_HEX_LEN + 1];
	const char *why = NULL;
	struct compiled_doc d = { 0 };
	size_t slen;
	int tx, unchanged = 0, rc = 0;

	if (rd->online) {
		mark_online(t, r, path, rd->online);
		goto out;
	}
	if ((tx = compiled_transactional(rd, &why)) < 0) {
		mark_online(t, r, path, why);
		goto out;
	}
	if (read_file(r->path, REPORT_MAX, &src, &slen, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	sha256_hex(src, slen, hex);
	d.py = r;
	d.source = source_name(c, r->path);
	d.sha256 = hex;
	d.compiled_by = by;
	d.transactional = tx;
	text = compiled_text(&d, rd);
	if (!reads_back(path, text, rd)) {
		mark_online(t, r, path,
			    "its SQL does not read back the same from a revision file (a line "
			    "inside a statement reads like a section marker?)");
		goto out;
	}
	if ((unchanged = write_if_changed(path, text, &c->e)) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	t->compiled++;
	if (rd->online_down) {
		log_event(LOG_WARN, "online_only",
			  (struct log_field[]){ LFS("revision", r->id), LFS("file", r->path),
						LFS("dialect", compiled_dialect(t->kind)),
						LFS("reason", rd->online_down), { 0 } },
			  "%s (%s): its downgrade is online-only for %s, alembic will run it: %s",
			  r->id, r->path, compiled_dialect(t->kind), rd->online_down);
		sbuf_addf(&t->online_list, "%s downgrade: %s\n", r->id, rd->online_down);
	}
	log_event(LOG_INFO, "compiled",
		  (struct log_field[]){ LFS("revision", r->id), LFS("dialect", compiled_dialect(t->kind)),
					LFS("file", path), LFI("upgrade_statements", rd->up.n),
					LFI("downgrade_statements", rd->down.n), { 0 } },
		  "%s -> %s (%zu upgrade, %zu downgrade statement%s%s%s)", r->id, path, rd->up.n,
		  rd->down.n, rd->down.n == 1 ? "" : "s", tx ? "" : ", outside a transaction",
		  unchanged ? "; unchanged" : "");
	/* stdout lists the files written: an unchanged one was not */
	if (!unchanged)
		out("%s\n", path);
out:
	free(by);
	free(text);
	free(src);
	free(path);
	return rc;
}

static int write_online_list(struct ctx *c, const char *dir, struct target *t)
{
	char *path = compiled_online_list_path(dir, t->kind);
	int rc = 0;

	if (!t->online_list.len) {
		unlink(path);
	} else if (write_if_changed(path, t->online_list.buf, &c->e) < 0) {
		rc = ctx_fail(c);
	}
	free(path);
	return rc;
}

/* The .py revision of the project with this id, or NULL. */
static const struct revision *py_revision(const struct ctx *c, const char *id, size_t len)
{
	for (size_t i = 0; i < c->revs.n; i++) {
		const struct revision *r = &c->revs.v[i];

		if (r->is_py && strlen(r->id) == len && !strncmp(r->id, id, len))
			return r;
	}
	return NULL;
}

/* Remove dir's <rev>.<dialect>.sql files whose revision is no longer in
 * the project (deleted, squashed, renamed): compiled/ is compile's own
 * output, and an image should not carry SQL for revisions that do not
 * exist.  Other files are left alone. */
static int remove_orphans(struct ctx *c, const char *dir, const struct target *t)
{
	char suffix[32];
	size_t ns;
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		err_set(&c->e, ERR_FAILED, "cannot read '%s': %s", dir, strerror(errno));
		return ctx_fail(c);
	}
	ns = (size_t)snprintf(suffix, sizeof(suffix), ".%s.sql", compiled_dialect(t->kind));
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name), len;
		char *path;

		if (n <= ns || strcmp(de->d_name + n - ns, suffix) != 0)
			continue;
		len = n - ns;
		if (memchr(de->d_name, '.', len) || py_revision(c, de->d_name, len))
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (unlink(path) == 0)
			log_event(LOG_INFO, "compiled_removed",
				  (struct log_field[]){ LFS("file", path), { 0 } },
				  "removed %s: no revision %.*s in the project any more", path,
				  (int)len, de->d_name);
		else
			log_event(LOG_WARN, "compiled_removed",
				  (struct log_field[]){ LFS("file", path), { 0 } },
				  "cannot remove %s (no revision %.*s in the project): %s", path,
				  (int)len, de->d_name, strerror(errno));
		free(path);
	}
	closedir(d);
	return 0;
}

int compile_render_temp(struct ctx *c, int sqlite, struct compiled_output *report)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = xasprintf("%s/prestart-compile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	struct target t;
	int rc;

	memset(&t, 0, sizeof(t));
	memset(report, 0, sizeof(*report));
	t.kind = sqlite ? DB_SQLITE : DB_PG;
	t.url = sqlite ? "sqlite://" : "postgresql://";
	if (!mkdtemp(dir)) {
		err_set(&c->e, ERR_FAILED, "cannot create a temporary directory '%s': %s", dir,
			strerror(errno));
		free(dir);
		return ctx_fail(c);
	}
	if (!(rc = render(c, dir, &t, 1, report)))
		rc = same_revisions(c, report, &t, 1);
	rmdir(dir);
	free(dir);
	return rc;
}

int cmd_compile(struct ctx *c)
{
	struct target t[2];
	struct compiled_output report = { 0 };
	size_t nt = 0, npy = 0, online = 0;
	char *dir = NULL;
	int rc;

	memset(t, 0, sizeof(t));
	/* The database URL only names the default dialect: with --dialect or
	 * --url it is not read at all (the command is URL_ON_DEMAND), so that a
	 * placeholder sqlalchemy.url (`alembic init` writes
	 * driver://user:pass@localhost/dbname) or a URL the build stage does
	 * not have stops nothing. */
	if ((rc = pick_targets(c, t, &nt)))
		return rc;
	for (size_t i = 0; i < c->revs.n; i++)
		npy += c->revs.v[i].is_py;
	if (!npy) {
		log_event(LOG_INFO, "compiled", NULL,
			  "nothing to compile: no Alembic .py revisions in %s",
			  c->cfg.version_locations.n ? c->cfg.version_locations.v[0] : "");
		return 0;
	}
	dir = compiled_dir(c->cfg.script_location);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		err_set(&c->e, ERR_FAILED, "cannot create '%s': %s", dir, strerror(errno));
		rc = ctx_fail(c);
		goto out;
	}
	if ((rc = render(c, dir, t, nt, &report)) || (rc = same_revisions(c, &report, t, nt)))
		goto out;
	for (size_t k = 0; k < nt && !rc; k++) {
		for (size_t i = 0; i < c->revs.n && !rc; i++) {
			const struct revision *r = &c->revs.v[i];

			if (r->is_py)
				rc = write_one(c, dir, &t[k], report.alembic_version
							? report.alembic_version : "?",
					       r, find_rendering(&report, t[k].kind, r->id));
		}
		if (!rc)
			rc = write_online_list(c, dir, &t[k]);
		if (!rc)
			rc = remove_orphans(c, dir, &t[k]);
		if (!rc)
			log_event(LOG_INFO, "compile_done",
				  (struct log_field[]){ LFS("dialect", compiled_dialect(t[k].kind)),
							LFI("compiled", t[k].compiled),
							LFI("online_only", t[k].online), { 0 } },
				  "%s: %zu revision%s compiled into %s, %zu online-only", 
				  compiled_dialect(t[k].kind), t[k].compiled,
				  t[k].compiled == 1 ? "" : "s", dir, t[k].online);
		online += t[k].online;
	}
	if (!rc && online && c->cfg.require_compiled) {
		err_set(&c->e, ERR_SCRIPT,
			"require_compiled: %zu revision%s cannot be rendered offline (listed in "
			"%s/online-only.*.txt)", online, online == 1 ? "" : "s", dir);
		rc = ctx_fail(c);
	}
	if (!rc && fflush(stdout) != 0) {
		err_set(&c->e, ERR_FAILED, "cannot write to stdout: %s", strerror(errno));
		rc = ctx_fail(c);
	}
out:
	for (size_t k = 0; k < nt; k++)
		sbuf_free(&t[k].online_list);
	compiled_output_release(&report);
	free(dir);
	return rc;
}
