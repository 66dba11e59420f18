/* The offline (--sql) mode of upgrade, downgrade and stamp: print the SQL
 * the online run would execute, without connecting (SPEC §1, §7.5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/alembic_ini.h"
#include "prestart/compiled.h"
#include "prestart/ctx.h"
#include "prestart/delegate.h"
#include "prestart/offline.h"

/* Offline mode for .py revisions is Alembic's own: run it, its output on
 * prestart's stdout. */
static int delegate_to_alembic(struct ctx *c, const struct migrate_request *rq)
{
	const char *verb = rq->stamp ? "stamp" : delegate_verb(rq->dir);
	struct strlist argv = { 0 };
	struct delegate_opts o = { 0 };
	struct alembic_ini ai;
	char *what;
	int rc = 0;

	o.command = c->cfg.alembic_command;
	o.ini = c->cfg.alembic_config;
	/* env.py usually reads the URL from the environment or the ini; hand
	 * it the one prestart was given, wherever it came from: its scheme is
	 * the dialect of the script. */
	o.database_url = c->cfg.database_url;
	o.url_from_ini = c->cfg.database_url_key &&
			 !strcmp(c->cfg.database_url_key, "sqlalchemy.url");
	if (delegate_argv_opts(&o, &argv, &ai, &c->e) < 0) {
		alembic_ini_release(&ai);
		strlist_free(&argv);
		return ctx_fail(c);
	}
	strlist_push(&argv, verb);
	if (!rq->stamp)
		strlist_push(&argv, rq->target);
	for (size_t i = 0; rq->stamp && i < rq->revisions->n; i++)
		strlist_push(&argv, rq->revisions->v[i]);
	strlist_push(&argv, "--sql");
	o.stop = c->stop;
	o.kill_after_ms = -1;
	o.pass_output = 1;
	if (delegate_run_argv(&o, argv.v, &c->e) < 0) {
		if (c->e.kind == ERR_USAGE) {
			rc = usage_error("--sql with Alembic .py revisions runs '%s %s ... --sql', and "
					 "%s (set alembic_command or PRESTART_ALEMBIC_COMMAND)",
					 c->cfg.alembic_command, verb, c->e.msg);
		} else {
			if (c->e.kind == ERR_FAILED) {
				struct strlist shown = { 0 };

				/* the user's ini, not the copy's /proc path */
				for (size_t i = 0; i < argv.n; i++)
					strlist_push(&shown, ai.path && o.ini &&
							     !strcmp(argv.v[i], ai.path)
							     ? o.ini : argv.v[i]);
				what = strlist_join(&shown, " ");
				strlist_free(&shown);
				err_set(&c->e, ERR_FAILED, "offline run of '%s' failed", what);
				free(what);
			}
			rc = ctx_fail(c);
		}
	}
	alembic_ini_release(&ai);
	strlist_free(&argv);
	return rc;
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

int ctx_offline(struct ctx *c, const struct migrate_request *rq)
{
	struct strlist start = { 0 }, targets = { 0 };
	struct sbuf sql = { 0 };
	struct offline_opts o = { 0 };
	struct plan p;
	char *from = NULL, *to = NULL;
	size_t fresh = 0, missing = 0;
	int rc = 0, r, py = ctx_has_py(c);

	memset(&p, 0, sizeof(p));
	if (!c->cfg.database_url)
		return usage_error("--sql needs a database URL to choose the SQL dialect "
				   "(--database-url, DATABASE_URL or sqlalchemy.url); nothing "
				   "connects to it");
	if (rq->stamp && rq->purge)
		return usage_error("Can't use --purge with --sql mode");
	if (!rq->stamp && rq->dir == DIR_DOWN && !strchr(rq->target, ':'))
		return usage_error("downgrade with --sql requires <fromrev>:<torev>");
	/* SPEC §7.5: .py revisions render from fresh compiled files when all
	 * have one (below); otherwise, and for stamp, Alembic renders. */
	if (py && rq->stamp)
		return delegate_to_alembic(c, rq);

	if (rq->stamp) {
		for (size_t i = 0; i < rq->revisions->n; i++) {
			char *f, *t;

			split_range(rq->revisions->v[i], &f, &t);
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
		split_range(rq->target, &from, &to);
	}
	if (resolve_from(c, from, &start) < 0) {
		rc = py ? delegate_to_alembic(c, rq) : ctx_fail(c);
		goto out;
	}
	if (rq->stamp)
		r = graph_plan_stamp(c->g, &start, &targets, 0, &p, &c->e);
	else
		r = graph_plan(c->g, &start, to, rq->dir, &p, &c->e);
	if (r < 0) {
		graph_explain_walk(c->g, to, &start, &c->e);
		rc = py ? delegate_to_alembic(c, rq) : ctx_fail(c);
		goto out;
	}
	if (py && ctx_bind_plan(c, &p, &fresh, &missing) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	/* Rendered here only when every step runs as SQL (and some .py one
	 * does); otherwise Alembic renders the whole script. */
	if (py && (missing || !fresh)) {
		rc = missing && c->cfg.require_compiled ? ctx_report_unbound(c, &p, missing) : 0;
		if (!rc)
			rc = delegate_to_alembic(c, rq);
		goto out;
	}
	o.kind = c->url.kind;
	o.schema = c->cfg.version_table_schema;
	o.table = c->cfg.version_table;
	o.per_migration = c->cfg.transaction_per_migration;
	/* what each statement does, as comments a reviewer reads; Alembic's
	 * own scripts (rendered by Alembic, above) are left as Alembic writes
	 * them */
	o.annotate = 1;
	if (offline_render(&p, &o, &sql, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	/* A write error is main's to report, as for every command. */
	if (sql.len)
		out("%s", sql.buf);
out:
	plan_release(&p);
	strlist_free(&start);
	strlist_free(&targets);
	free(from);
	free(to);
	sbuf_free(&sql);
	return rc;
}
