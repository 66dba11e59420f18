/* The ledger's steps in the pipeline (SPEC §7.3): which ledger, judging a
 * database ahead of the scripts, and the checks made under the lock
 * before a plan is applied. */
#include <stdlib.h>
#include <string.h>

#include "prestart/archive.h"
#include "prestart/ctx.h"
#include "prestart/ledger.h"
#include "prestart/log.h"
#include "prestart/plan.h"

int ctx_ledger_wanted(const struct ctx *c)
{
	if (c->cfg.ledger >= 0)
		return c->cfg.ledger;
	/* SPEC §7.3: on, except for a .py project where the ledger cannot
	 * have a schema of its own (SQLite): beside the version table it
	 * would stand in the way of Alembic's autogenerate. */
	return db_kind_supports(c->url.kind, DB_HAS_LEDGER_SCHEMA) || !ctx_has_py(c);
}

const struct archive *ctx_archive_init(struct ctx *c, const struct ledger *l, struct archive *a)
{
	/* in the ledger's schema, so only where the ledger could be made */
	if (c->url.kind != DB_PG || !l->on || c->cfg.archive_limit <= 0)
		return NULL;
	archive_init(a, c->cfg.ledger_schema, c->cfg.version_table_schema, c->cfg.version_table,
		     c->cfg.archive_limit, c->cfg.archive_retention_ms);
	a->limit_from = c->cfg.archive_limit_from;
	a->guard_from = c->cfg.guard_from;
	return a;
}

void ctx_archive_prune(struct ctx *c, const struct archive *a)
{
	struct err e;

	if (archive_prune(a, &c->db, &e) < 0) {
		log_event(LOG_WARN, "archive_prune_failed",
			  (struct log_field[]){ LFS("error", e.msg), { 0 } },
			  "old archives not dropped: %s", e.msg);
		db_clear_error(&c->db);
	}
}

void ctx_ledger_init(struct ctx *c, struct ledger *l)
{
	ledger_init(l, c->url.kind, c->cfg.ledger_schema, c->cfg.version_table_schema,
		    c->cfg.version_table);
	l->on = ctx_ledger_wanted(c);
}

int ctx_judge_ahead(struct ctx *c, const struct strlist *heads, struct ledger_ahead *a)
{
	struct ledger l;
	struct ledger_rows rows;
	int rc;

	memset(a, 0, sizeof(*a));
	ctx_ledger_init(c, &l);
	rc = ledger_read(&l, &c->db, &rows);
	ledger_release(&l);
	if (rc < 0)
		return err_set(&c->e, l.refused ? ERR_USAGE : ERR_FAILED,
			       "cannot read the ledger: %s", c->db.errstr);
	ledger_judge_ahead(c->g, heads, &rows, a);
	ledger_rows_release(&rows);
	return 0;
}

static int check_checksums(struct ctx *c, const struct ledger_rows *rows)
{
	struct strlist changed = { 0 };
	char *files;
	int rc = 0;

	if (c->cfg.checksum == CHECKSUM_OFF)
		return 0;
	ledger_check_checksums(c->g, rows, &changed);
	if (!changed.n)
		return 0;
	files = strlist_join(&changed, ", ");
	if (c->cfg.checksum == CHECKSUM_FAIL) {
		err_set(&c->e, ERR_SCRIPT,
			"applied revision files changed since they ran (a statement differs, "
			"%s): %s",
			c->cfg.checksum_from ? c->cfg.checksum_from : "--checksum fail", files);
		rc = ctx_fail(c);
	} else {
		log_event(LOG_WARN, "checksum", (struct log_field[]){ LFS("files", files), { 0 } },
			  "applied revision files changed since they ran (a statement differs): %s",
			  files);
	}
	free(files);
	strlist_free(&changed);
	return rc;
}

char *ctx_ledger_sums_sql(struct ctx *c)
{
	struct ledger l;
	char *sql;

	if (!ctx_ledger_wanted(c) || c->cfg.checksum == CHECKSUM_OFF)
		return NULL;
	ctx_ledger_init(c, &l);
	sql = ledger_sums_sql(&l);
	ledger_release(&l);
	return sql;
}

int ctx_ledger_check_at_head(struct ctx *c, const struct strlist *sums)
{
	struct ledger_rows rows = { 0 };
	struct ledger l;
	int rc;

	if (!ctx_ledger_wanted(c) || c->cfg.checksum == CHECKSUM_OFF)
		return 0;
	ctx_ledger_init(c, &l);
	if (l.drv->supports & DB_HAS_LEDGER_SCHEMA) {
		/* the probe rode on the version read */
		ledger_sums_parse(sums, &rows);
	} else if (ledger_read_sums(&l, &c->db, &rows) < 0) {
		/* a ledger that cannot be read is no reason to stop a start */
		db_clear_error(&c->db);
		ledger_rows_release(&rows);
	}
	ledger_release(&l);
	rc = check_checksums(c, &rows);
	ledger_rows_release(&rows);
	return rc;
}

/* What prune walks: the rows by revision, and the revisions found applied
 * (the keys are the graph's and the rows' strings). */
struct applied_walk {
	const struct graph *g;
	struct ledger_index rows;
	struct strmap applied;
};

/* Mark id and everything below it (scripts first, then ledger rows), each
 * revision once. */
static void mark_applied(struct applied_walk *w, const char *id)
{
	const struct revision *r;
	const struct ledger_row *lr;

	if (strmap_get(&w->applied, id) >= 0)
		return;
	strmap_put(&w->applied, id, 1);
	if ((r = graph_find(w->g, id))) {
		for (size_t i = 0; i < r->down.n; i++)
			mark_applied(w, r->down.v[i]);
		for (size_t i = 0; i < r->depends.n; i++)
			mark_applied(w, r->depends.v[i]);
	} else if ((lr = ledger_index_find(&w->rows, id))) {
		for (size_t i = 0; i < lr->down.n; i++)
			mark_applied(w, lr->down.v[i]);
	}
}

/* Rows of revisions the version table no longer holds (Alembic, a stamp
 * or an offline script took them back) would vouch for a later,
 * different application of the same id: drop them. */
static int prune(struct ctx *c, const struct ledger *l, const struct strlist *heads,
		 const struct ledger_rows *rows)
{
	struct applied_walk w = { c->g, { 0 }, { 0 } };
	int rc = 0;

	ledger_index_init(&w.rows, rows);
	for (size_t i = 0; i < heads->n; i++)
		mark_applied(&w, heads->v[i]);
	for (size_t i = 0; rc == 0 && i < rows->n; i++) {
		if (strmap_get(&w.applied, rows->v[i].revision) >= 0)
			continue;
		if (ledger_forget(l, &c->db, rows->v[i].revision) < 0) {
			err_set(&c->e, ERR_FAILED, "cannot write the ledger: %s", c->db.errstr);
			rc = ctx_fail(c);
		}
	}
	ledger_index_free(&w.rows);
	strmap_free(&w.applied);
	return rc;
}

int ctx_ledger_prepare(struct ctx *c, struct ledger *l, const struct strlist *heads)
{
	struct ledger_rows rows;
	int rc;

	if (!l->on)
		return 0;
	if (ledger_prepare(l, &c->db) < 0) {
		err_set(&c->e, l->refused ? ERR_USAGE : ERR_FAILED, "cannot prepare the ledger: %s",
			c->db.errstr);
		return ctx_fail(c);
	}
	if (!l->on)
		return 0;
	if (ledger_read(l, &c->db, &rows) < 0) {
		err_set(&c->e, l->refused ? ERR_USAGE : ERR_FAILED, "cannot read the ledger: %s",
			c->db.errstr);
		return ctx_fail(c);
	}
	rc = prune(c, l, heads, &rows);
	if (!rc)
		rc = check_checksums(c, &rows);
	ledger_rows_release(&rows);
	return rc;
}

int ctx_ledger_rows(struct ctx *c, struct ledger_rows *rows)
{
	struct ledger l;
	int rc;

	ctx_ledger_init(c, &l);
	/* What a ledger holds is worth showing even where it is not written
	 * by default (.py projects on SQLite). */
	l.on = c->cfg.ledger != 0;
	l.read_hold = 1;
	rc = ledger_read(&l, &c->db, rows);
	ledger_release(&l);
	if (rc < 0) {
		log_event(LOG_WARN, "ledger_unreadable",
			  (struct log_field[]){ LFS("error", c->db.errstr), { 0 } },
			  "cannot read the ledger: %s", c->db.errstr);
		db_clear_error(&c->db);
		ledger_rows_release(rows);
	}
	return rc;
}

int ctx_ledger_delegated(struct ctx *c, const struct ledger *l, const struct plan *p,
			 long long duration_ms)
{
	const char *verb = p->n && p->steps[0].dir == DIR_DOWN ? "downgraded" : "applied";
	/* Alembic times no revision of its own: each row gets an equal share
	 * of the stretch, so that the rows still add up to its duration. */
	long long each = p->n ? duration_ms / (long long)p->n : 0;
	int rc;

	if (!l || !l->on || !p->n)
		return 0;
	/* Alembic committed the version table itself; these rows follow it
	 * by one commit.  A crash in between leaves revisions applied without
	 * a row: "not proven" to --if-ahead, the safe direction (a row
	 * without its revision cannot happen: the version table was read
	 * back first, and stale rows are pruned under the next lock). */
	rc = db_begin(&c->db);
	for (size_t i = 0; rc == 0 && i < p->n; i++)
		rc = ledger_record(l, &c->db, p->steps[i].rev, p->steps[i].dir == DIR_UP, each,
				   -1);
	if (rc == 0)
		rc = db_commit(&c->db);
	if (rc == 0)
		return 0;
	log_event(LOG_WARN, "ledger_unwritten",
		  (struct log_field[]){ LFS("error", c->db.errstr), { 0 } },
		  "cannot write the ledger for the revisions alembic %s, they stay not proven: %s",
		  verb, c->db.errstr);
	db_rollback(&c->db);
	db_clear_error(&c->db);
	return 0;
}
