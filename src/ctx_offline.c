/* The offline (--sql) mode of upgrade, downgrade and stamp: print the SQL
 * the online run would execute, without connecting (SPEC §1, §7.5). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prestart/ctx.h"
#include "prestart/exec.h"
#include "prestart/log.h"
#include "prestart/offline.h"

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");

	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	while (path && *path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		/* An empty PATH entry is the current directory. */
		char *full = n ? xasprintf("%.*s/%s", (int)n, path, prog)
			       : xasprintf("./%s", prog);
		int ok = access(full, X_OK) == 0;

		free(full);
		if (ok)
			return 1;
		path = colon ? colon + 1 : NULL;
	}
	return 0;
}

/* Append one word, quoted for exec_split. */
static void add_word(struct sbuf *b, const char *w)
{
	sbuf_adds(b, " '");
	for (const char *p = w; *p; p++) {
		if (*p == '\'')
			sbuf_adds(b, "'\\''");
		else
			sbuf_addc(b, *p);
	}
	sbuf_addc(b, '\'');
}

/* Offline mode for .py revisions is Alembic's own: run it. */
static int delegate_to_alembic(struct ctx *c)
{
	struct strlist argv = { 0 };
	struct sbuf line = { 0 };
	int rc;

	if (exec_split(c->cfg.alembic_command, &argv, &c->e) < 0)
		return ctx_fail(c);
	if (!on_path(argv.v[0])) {
		usage_error("--sql with Alembic .py revisions runs '%s %s ... --sql', and '%s' was "
			    "not found on PATH (set alembic_command or PRESTART_ALEMBIC_COMMAND)",
			    c->cfg.alembic_command, c->cli->command, argv.v[0]);
		strlist_free(&argv);
		return ERR_USAGE;
	}
	strlist_free(&argv);
	sbuf_adds(&line, c->cfg.alembic_command);
	if (c->cfg.alembic_config) {
		add_word(&line, "-c");
		add_word(&line, c->cfg.alembic_config);
	}
	add_word(&line, c->cli->command);
	for (size_t i = 0; i < c->cli->args.n; i++)
		add_word(&line, c->cli->args.v[i]);
	if (!c->cli->args.n)
		add_word(&line, "head");
	add_word(&line, "--sql");
	/* env.py usually reads the URL from the environment; hand it the one
	 * prestart was given, wherever it came from. */
	setenv("DATABASE_URL", c->cfg.database_url, 1);
	rc = exec_hook(line.buf, c->stop, &c->e);
	if (rc < 0 && c->e.kind == ERR_FAILED)
		err_set(&c->e, ERR_FAILED, "offline run of '%s' failed", line.buf);
	sbuf_free(&line);
	return rc < 0 ? ctx_fail(c) : 0;
}

/* Split "FROM:TO"; *from is NULL without a colon. */
static void split_range(const char *arg, char **from, char **to)
{
	const char *colon = strchr(arg, ':');

	*from = colon ? xstrndup(arg, (size_t)(colon - arg)) : NULL;
	*to = xstrdup(colon ? colon + 1 : arg);
}

/* The starting heads of an offline run: Alembic's get_current_heads() in
 * --sql mode, i.e. the FROM revision resolved, "base" or none for empty.
 * A database may hold several heads, so FROM may list them ("a,b"). */
static int resolve_from(struct ctx *c, const char *from, struct strlist *start)
{
	struct strlist items = { 0 };
	int rc = 0;

	if (!from || !*from || !strcmp(from, "base"))
		return 0;
	strlist_split(&items, from, ",");
	for (size_t i = 0; i < items.n && !rc; i++) {
		struct revptrs r = { 0 };

		if (graph_resolve(c->g, items.v[i], NULL, &r, &c->e) < 0)
			rc = -1;
		for (size_t j = 0; j < r.n; j++)
			if (!strlist_contains(start, r.v[j]->id))
				strlist_push(start, r.v[j]->id);
		revptrs_free(&r);
	}
	strlist_free(&items);
	return rc;
}

int ctx_offline(struct ctx *c, enum move how)
{
	struct strlist start = { 0 }, targets = { 0 };
	struct sbuf sql = { 0 };
	struct offline_opts o = { 0 };
	struct plan p;
	char *from = NULL, *to = NULL;
	int rc = 0, r;

	memset(&p, 0, sizeof(p));
	if (!c->cfg.database_url)
		return usage_error("--sql needs a database URL to choose the SQL dialect "
				   "(--database-url, DATABASE_URL or sqlalchemy.url); nothing "
				   "connects to it");
	if (how == MOVE_STAMP && c->cli->purge)
		return usage_error("Can't use --purge with --sql mode");
	if (how == MOVE_DOWN && !strchr(c->cli->args.v[0], ':'))
		return usage_error("downgrade with --sql requires <fromrev>:<torev>");
	if (ctx_has_py(c))
		return delegate_to_alembic(c);

	if (how == MOVE_STAMP) {
		for (size_t i = 0; i < c->cli->args.n; i++) {
			char *f, *t;

			split_range(c->cli->args.v[i], &f, &t);
			if (f && from && strcmp(f, from)) {
				free(f);
				free(t);
				rc = usage_error("Stamp operation with --sql only supports a single "
						 "starting revision at a time");
				goto out;
			}
			if (f && !from)
				from = f;
			else
				free(f);
			strlist_push_owned(&targets, t);
		}
	} else {
		split_range(how == MOVE_UP && !c->cli->args.n ? "head" : c->cli->args.v[0], &from,
			    &to);
	}
	if (resolve_from(c, from, &start) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if (how == MOVE_UP)
		r = graph_plan_upgrade(c->g, &start, to, &p, &c->e);
	else if (how == MOVE_DOWN)
		r = graph_plan_downgrade(c->g, &start, to, &p, &c->e);
	else
		r = graph_plan_stamp(c->g, &start, &targets, 0, &p, &c->e);
	if (r < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	o.kind = c->url.kind;
	o.schema = c->cfg.version_table_schema;
	o.table = c->cfg.version_table;
	o.per_migration = c->cfg.transaction_per_migration;
	if (offline_render(&p, &o, &sql, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if (sql.len && (fwrite(sql.buf, 1, sql.len, stdout) != sql.len || fflush(stdout))) {
		err_set(&c->e, ERR_FAILED, "cannot write to stdout: %s", strerror(errno));
		rc = ctx_fail(c);
	}
out:
	plan_release(&p);
	strlist_free(&start);
	strlist_free(&targets);
	free(from);
	free(to);
	sbuf_free(&sql);
	return rc;
}
