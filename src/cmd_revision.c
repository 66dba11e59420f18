/* revision and merge: write new SQL revision files, with the rules of
 * Alembic's command.revision/merge and ScriptDirectory.generate_revision. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/log.h"
#include "prestart/offline.h"

/* Alembic's ScriptDirectory.truncate_slug_length default. */
#define SLUG_MAX 40

/* A 12-hex-digit id, as Alembic's uuid4().hex[-12:]. */
static int random_id(char out[13], struct err *e)
{
	unsigned char b[6];
	size_t got = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return err_set(e, ERR_FAILED, "cannot open '/dev/urandom': %s", strerror(errno));
	while (got < sizeof(b)) {
		ssize_t n = read(fd, b + got, sizeof(b) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return err_set(e, ERR_FAILED, "cannot read '/dev/urandom': %s",
				       n < 0 ? strerror(errno) : "end of file");
		}
		got += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	return 0;
}

/* str(datetime.datetime.now()): local time, microseconds only when
 * non-zero. */
static char *create_date(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];
	long us;

	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	us = ts.tv_nsec / 1000;
	if (us)
		return xasprintf("%s.%06ld", buf, us);
	return xstrdup(buf);
}

static int check_rev_id(struct ctx *c, const char *id)
{
	static const char illegal[] = "+-@";
	char found[8];
	size_t n = 0;
	const struct revision *other;

	/* Alembic forbids these because they would read as target grammar
	 * ("-1", "a@head", "+2"). */
	for (const char *p = illegal; *p; p++) {
		if (strchr(id, *p)) {
			if (n)
				found[n++] = ',', found[n++] = ' ';
			found[n++] = *p;
		}
	}
	found[n] = '\0';
	if (n)
		return err_set(&c->e, ERR_USAGE,
			       "Character(s) '%s' not allowed in revision identifier '%s'", found, id);
	if (!revision_valid_id(id))
		return err_set(&c->e, ERR_USAGE,
			       "invalid revision id '%s': 1-%d characters of [A-Za-z0-9_.] expected",
			       id, REVISION_ID_MAX);
	other = graph_find(c->g, id);
	if (other)
		return err_set(&c->e, ERR_USAGE, "revision id '%s' is already used by %s", id,
			       other->path);
	return 0;
}

/* The same directory however it is spelled (relative, symlinked). */
static int same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISDIR(sa.st_mode) &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Where the file goes: --version-path (one of the locations), else the
 * only location, else the directory of the first parent (Alembic's rule). */
static int pick_dir(struct ctx *c, const struct revptrs *parents, char **dir)
{
	const struct strlist *locs = &c->cfg.version_locations;
	const char *vp = c->cli->version_path;

	if (vp) {
		for (size_t i = 0; i < locs->n; i++) {
			if (same_dir(vp, locs->v[i])) {
				*dir = xstrdup(vp);
				return 0;
			}
		}
		return err_set(&c->e, ERR_USAGE,
			       "Path %s is not represented in current version locations", vp);
	}
	if (locs->n == 1) {
		*dir = xstrdup(locs->v[0]);
		return 0;
	}
	if (parents->n) {
		const char *path = parents->v[0]->path;
		const char *slash = strrchr(path, '/');

		*dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup(".");
		return 0;
	}
	return err_set(&c->e, ERR_USAGE,
		       "Multiple version locations present, please specify --version-path");
}

static int label_owner(const struct ctx *c, const char *label, const char **path)
{
	for (size_t i = 0; i < c->revs.n; i++) {
		if (strlist_contains(&c->revs.v[i].labels, label)) {
			*path = c->revs.v[i].id;
			return 1;
		}
	}
	return 0;
}

static int check_labels(struct ctx *c, struct strlist *labels)
{
	if (!c->cli->branch_label)
		return 0;
	strlist_split(labels, c->cli->branch_label, ",");
	for (size_t i = 0; i < labels->n; i++) {
		const char *owner;

		if (!revision_valid_label(labels->v[i]))
			return err_set(&c->e, ERR_USAGE,
				       "invalid branch label '%s' (no '@' or ',' allowed)",
				       labels->v[i]);
		if (label_owner(c, labels->v[i], &owner))
			return err_set(&c->e, ERR_USAGE,
				       "Branch name '%s' is already used by revision %s", labels->v[i],
				       owner);
	}
	return 0;
}

/* Depends On keeps a branch label as given and turns a partial id into the
 * full one, as generate_revision does. */
static int resolve_depends(struct ctx *c, struct strlist *deps)
{
	struct strlist given = { 0 };
	int rc = 0;

	if (!c->cli->depends_on)
		return 0;
	strlist_split(&given, c->cli->depends_on, ",");
	for (size_t i = 0; i < given.n && !rc; i++) {
		struct revptrs r = { 0 };

		if (graph_resolve(c->g, given.v[i], NULL, &r, &c->e) < 0) {
			rc = -1;
		} else if (r.n != 1) {
			rc = err_set(&c->e, ERR_USAGE,
				     "--depends-on '%s' must name one revision or branch label",
				     given.v[i]);
		} else if (strlist_contains(&r.v[0]->labels, given.v[i])) {
			strlist_push(deps, given.v[i]);
		} else {
			strlist_push(deps, r.v[0]->id);
		}
		revptrs_free(&r);
	}
	strlist_free(&given);
	return rc;
}

/* Write a revision on top of `parents` (none: a new base). */
static int generate(struct ctx *c, const struct revptrs *parents, int splice)
{
	struct strlist down = { 0 }, labels = { 0 }, deps = { 0 };
	struct offline_revision nr = { 0 };
	struct revision parsed;
	char idbuf[13], *dir = NULL, *date = NULL, *slug = NULL, *path = NULL, *text = NULL;
	const char *id = c->cli->rev_id;
	int rc = -1;

	memset(&parsed, 0, sizeof(parsed));
	for (size_t i = 0; i < parents->n; i++) {
		for (size_t j = 0; j < i; j++) {
			if (parents->v[i] == parents->v[j]) {
				err_set(&c->e, ERR_USAGE, "Duplicate head revisions specified");
				goto out;
			}
		}
		strlist_push(&down, parents->v[i]->id);
	}
	if (!id) {
		if (random_id(idbuf, &c->e) < 0)
			goto out;
		id = idbuf;
	}
	if (check_rev_id(c, id) < 0 || pick_dir(c, parents, &dir) < 0)
		goto out;
	for (size_t i = 0; i < parents->n && !splice; i++) {
		if (!graph_is_head(c->g, parents->v[i])) {
			err_set(&c->e, ERR_USAGE,
				"Revision %s is not a head revision; please specify --splice to "
				"create a new branch from this revision",
				parents->v[i]->id);
			goto out;
		}
	}
	if (check_labels(c, &labels) < 0 || resolve_depends(c, &deps) < 0)
		goto out;

	date = create_date();
	nr.id = id;
	nr.down = &down;
	nr.create_date = date;
	nr.message = c->cli->message;
	nr.labels = &labels;
	nr.depends = &deps;
	nr.compat = c->cli->compat;
	/* the flag only: PRESTART_PHASE says what a deploy applies, not what
	 * a new revision is */
	nr.phase = c->cli->flags.phase;
	text = offline_revision_text(&nr);
	slug = offline_slug(c->cli->message, SLUG_MAX);
	path = xasprintf("%s%s%s_%s.sql", dir, str_has_suffix(dir, "/") ? "" : "/", id, slug);
	/* The file must read back as written (a message cannot break the
	 * header): check before anything touches the disk. */
	if (script_parse_sql(path, text, strlen(text), &parsed, &c->e) < 0) {
		c->e.kind = ERR_USAGE;
		goto out;
	}
	if (ctx_make_versions_dir(c, dir) < 0 || write_new_file(path, text, &c->e) < 0)
		goto out;
	log_event(LOG_INFO, "revision",
		  (struct log_field[]){ LFS("revision", id), LFS("path", path), { 0 } },
		  "wrote %s", path);
	out("%s\n", path);
	rc = 0;
out:
	revision_release(&parsed);
	strlist_free(&down);
	strlist_free(&labels);
	strlist_free(&deps);
	free(dir);
	free(date);
	free(slug);
	free(path);
	free(text);
	return rc < 0 ? ctx_fail(c) : 0;
}

static int refuse_py(struct ctx *c)
{
	return usage_error("the revisions in %s are Alembic .py files; use 'alembic %s' to add one",
			   c->cfg.version_locations.n ? c->cfg.version_locations.v[0] : "the scripts",
			   c->cli->command);
}

int cmd_revision(struct ctx *c)
{
	struct revptrs parents = { 0 }, heads = { 0 };
	const char *head = c->cli->head ? c->cli->head : "head";
	int rc;

	if (c->cli->compat && strcmp(c->cli->compat, "breaking") &&
	    strcmp(c->cli->compat, "compatible"))
		return usage_error("invalid value '%s' for --compat (expected breaking or compatible)",
				   c->cli->compat);
	if (c->cli->flags.phase && strcmp(c->cli->flags.phase, "expand") &&
	    strcmp(c->cli->flags.phase, "contract"))
		return usage_error("invalid value '%s' for revision --phase (expected expand or "
				   "contract)",
				   c->cli->flags.phase);
	/* A breaking revision is contract whatever its Phase header says: refuse
	 * to write a file whose two headers disagree. */
	if (c->cli->flags.phase && !strcmp(c->cli->flags.phase, "expand") && c->cli->compat &&
	    !strcmp(c->cli->compat, "breaking"))
		return usage_error("revision --phase expand contradicts --compat breaking (a breaking "
				   "revision is contract): give one of them");
	if ((rc = ctx_load_scripts(c, 1)))
		return rc;
	if (ctx_has_py(c))
		return refuse_py(c);
	graph_heads(c->g, &heads);
	if (!strcmp(head, "head") && heads.n > 1) {
		revptrs_free(&heads);
		return usage_error("Multiple heads are present; please specify the head revision "
				   "on which the new revision should be based, or perform a merge.");
	}
	if (!strcmp(head, "head") || !strcmp(head, "heads")) {
		for (size_t i = 0; i < heads.n; i++)
			revptrs_push(&parents, heads.v[i]);
	} else if (graph_resolve(c->g, head, NULL, &parents, &c->e) < 0) {
		revptrs_free(&heads);
		return ctx_fail(c);
	}
	revptrs_free(&heads);
	rc = generate(c, &parents, c->cli->splice);
	revptrs_free(&parents);
	return rc;
}

int cmd_merge(struct ctx *c)
{
	struct revptrs parents = { 0 };
	int rc;

	if ((rc = ctx_load_scripts(c, 1)))
		return rc;
	if (ctx_has_py(c))
		return refuse_py(c);
	for (size_t i = 0; i < c->cli->args.n; i++) {
		struct revptrs r = { 0 };

		if (graph_resolve(c->g, c->cli->args.v[i], NULL, &r, &c->e) < 0) {
			revptrs_free(&parents);
			return ctx_fail(c);
		}
		for (size_t j = 0; j < r.n; j++) {
			size_t k = 0;

			while (k < parents.n && parents.v[k] != r.v[j])
				k++;
			if (k == parents.n)
				revptrs_push(&parents, r.v[j]);
		}
		revptrs_free(&r);
	}
	if (parents.n < 2) {
		revptrs_free(&parents);
		return usage_error("merge needs at least two distinct head revisions; '%s' %s",
				   c->cli->args.n ? c->cli->args.v[0] : "",
				   c->cli->args.n > 1 ? "and the others name only one"
						      : "names only one");
	}
	rc = generate(c, &parents, 0);
	revptrs_free(&parents);
	return rc;
}
