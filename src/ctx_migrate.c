/* Migrating under the lock (SPEC §4 steps 4-6): read the version table
 * and plan (ctx_plan.c); with work to do, lock, re-read, re-plan, bind
 * (ctx_bind.c),
 * judge the plan against the live catalog (ctx_guard.c) and hand it to the
 * apply loop (ctx_apply.c).
 *
 *   the pass     poll_done, reconnect_db, migrate_once
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/archive.h"
#include "prestart/ctx.h"
#include "prestart/graph.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"

#include "ctx_apply_int.h"

struct lock_wait {
	struct ctx *c;
	const struct migrate_request *rq;
	long long lost_since; /* when the connection was lost; 0: it is not */
};

/* Between lock polls: stop waiting when another process already did the
 * work (the plan from the current version table is empty). */
static int poll_done(void *arg, struct err *e)
{
	struct lock_wait *r = arg;
	struct strlist heads = { 0 };
	struct plan p;
	int exists, done, marked;

	if (db_read_versions_pending(&r->c->db, r->c->cfg.version_table_schema,
				     r->c->cfg.version_table, &heads, &exists, &marked) < 0)
		return err_set(e, ERR_FAILED, "%s", r->c->db.errstr);
	if (ctx_plan_from(r->c, r->rq, &heads, &p) < 0) {
		strlist_free(&heads);
		*e = r->c->e;
		return -1;
	}
	/* A marker means a revision is running outside a transaction, or was
	 * interrupted: only the lock holder can tell which. */
	done = p.n == 0 && !r->rq->stamp && !marked;
	plan_release(&p);
	strlist_free(&heads);
	return done;
}

/* While waiting for the lock: the server went away (a restart, a
 * failover).  Waiting for it to come back is the wait step over again, so
 * --wait-timeout bounds it. */
static int reconnect_db(void *arg, struct err *e)
{
	struct lock_wait *r = arg;
	long long limit = r->c->cfg.wait_timeout_ms;
	int rc;

	if (!r->lost_since)
		r->lost_since = now_ms();
	rc = ctx_reconnect(r->c, e);
	if (rc == 0)
		r->lost_since = 0;
	else if (rc > 0 && limit > 0 && now_ms() - r->lost_since >= limit) {
		char why[ERR_MSG_MAX];

		snprintf(why, sizeof(why), "%s", e->msg);
		rc = err_set(e, ERR_TIMEOUT, "database not back within %lld ms: %s", limit, why);
	}
	return rc;
}

/* One pass of ctx_migrate; NOT_READY when the server turned read-only
 * while migrating and waiting for a primary is still allowed. */
static int migrate_once(struct ctx *c, const struct migrate_request *rq, struct plan *p,
			long long *since)
{
	struct strlist heads = { 0 };
	struct lock lk;
	struct lock_wait rp = { c, rq, 0 };
	struct ledger ledger;
	struct archive arch;
	struct apply_run run = { c, rq, &ledger, NULL, &lk, 0 };
	long long limit = c->cfg.wait_timeout_ms;
	int exists, marked, rc, lr;
	struct strlist sums = { 0 };
	struct db_probe probe = { NULL, LEDGER_SUMS_PREFIX, &sums };
	char *sums_sql;
	/* stamp --purge replaces whatever is there, known or not */
	unsigned keep = rq->purge ? READ_KEEP_UNKNOWN : 0;
	int upgrade = !rq->stamp && rq->dir == DIR_UP;

	/* the ledger's checksums ride on the same query (--checksum) */
	sums_sql = upgrade ? ctx_ledger_sums_sql(c) : NULL;
	probe.sql = sums_sql;
	rc = ctx_plan_read(c, rq, READ_MAY_RECONNECT | rq->read_flags | keep, &probe, &exists,
			   &marked, p);
	free(sums_sql);
	if (rc || c->ahead) {
		/* c->ahead: run the application on the newer schema, migrating
		 * nothing */
		strlist_free(&sums);
		return rc;
	}
	if (rq->expand)
		ctx_report_deferred(c);
	/* The common case of every restart: nothing to do, no lock, no more
	 * queries.  A missing version table still needs creating (as Alembic
	 * does on upgrade), so it goes through the locked path, and so does a
	 * marker of a non-transactional revision (judged under the lock). */
	if (p->n == 0 && exists && !rq->stamp && !marked) {
		char *at;

		/* an applied revision edited since it ran: named here too, the
		 * likeliest beginner's mistake being create, run, edit */
		rc = upgrade ? ctx_ledger_check_at_head(c, &sums) : 0;
		strlist_free(&sums);
		if (rc)
			return rc;
		at = strlist_join(&p->end_heads, ",");

		/* JSON: the heads, null at base */
		log_event(LOG_INFO, "up_to_date",
			  (struct log_field[]){ LFS("revision", *at ? at : NULL), { 0 } },
			  "already at %s%s", *at ? at : "<base>",
			  rq->expand && c->split.ndeferred ? ", the expand point" : "");
		free(at);
		return 0;
	}
	strlist_free(&sums);
	plan_release(p);
	memset(p, 0, sizeof(*p));
	/* There is work to do: a standby cannot do it (checked only now, so
	 * the fast path above stays one query). */
	if ((rc = ctx_wait_writable(c, since)))
		return rc;
	run.may_wait = limit <= 0 || !*since || now_ms() - *since < limit;

	status_set_phase(&c->st, PHASE_LOCKING);
	lr = lock_acquire(&lk, &c->db,
			  &(struct lock_opts){ .schema = c->cfg.version_table_schema,
					       .table = c->cfg.version_table,
					       .timeout_ms = c->cfg.lock_timeout_ms,
					       .stop = c->stop, .poll = poll_done,
					       .reconnect = reconnect_db, .arg = &rp,
					       .strategy = (enum lock_strategy)c->cfg.lock_strategy },
			  &c->e);
	if (lr < 0)
		return ctx_fail(c);
	if (lr == LOCK_NOT_NEEDED) {
		lock_release(&lk);
		log_event(LOG_INFO, "up_to_date", NULL,
			  "another process reached the target while we waited for the lock");
		rc = ctx_replan(c, rq, keep, &heads, NULL, p);
		strlist_free(&heads);
		return rc;
	}
	rc = ctx_replan(c, rq, keep, &heads, &marked, p);
	ctx_ledger_init(c, &ledger);
	if (!rc)
		rc = ctx_ledger_prepare(c, &ledger, &heads);
	strlist_free(&heads);
	/* SPEC §7.5: from here on a .py step runs as SQL or needs Alembic. */
	if (!rc && ctx_bind_plan(c, p, NULL, NULL) < 0)
		rc = ctx_fail(c);
	if (!rc && (run.arch = ctx_archive_init(c, &ledger, &arch)) != NULL)
		ctx_archive_prune(c, &arch);
	if (!rc)
		rc = ctx_guard(c, rq, p); /* SPEC §9.3: before the first statement */
	/* SPEC §9.3: a drop whose data is over --archive-limit is the
	 * guard's to refuse, before the first statement too */
	if (!rc && run.arch && c->cfg.guard == GUARD_FAIL && !rq->stamp &&
	    archive_precheck(run.arch, &c->db, p, &c->e) < 0)
		rc = ctx_fail(c);
	if (!rc)
		rc = ctx_apply_plan(&run, p);
	if (run.arch)
		archive_release(&arch);
	/* a failed first migration leaves no empty ledger behind */
	if (rc)
		ledger_undo_create(&ledger, &c->db);
	ledger_release(&ledger);
	lock_release(&lk);
	return rc;
}

int ctx_migrate(struct ctx *c, const struct migrate_request *rq, struct plan *p)
{
	long long since = 0;
	int rc;

	/* A failover while migrating (SQLSTATE 25006) sends the run back to
	 * waiting for a primary, then to the start: re-read, re-plan. */
	while ((rc = migrate_once(c, rq, p, &since)) == NOT_READY) {
		plan_release(p);
		memset(p, 0, sizeof(*p));
		if (!since)
			since = now_ms();
	}
	return rc;
}
