/* upgrade, downgrade and stamp: plan with the graph, apply under the lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/cmd.h"
#include "prestart/delegate.h"
#include "prestart/lock.h"
#include "prestart/log.h"

struct replan {
	struct ctx *c;
	enum move how;
	const char *target;
	struct plan *p;
	long long lost_since; /* when the connection was lost; 0: it is not */
};

static int make_plan(struct ctx *c, enum move how, const char *target,
		     const struct strlist *heads, struct plan *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	if (how == MOVE_UP)
		r = graph_plan_upgrade(c->g, heads, target, p, &c->e);
	else if (how == MOVE_DOWN)
		r = graph_plan_downgrade(c->g, heads, target, p, &c->e);
	else
		r = graph_plan_stamp(c->g, heads, &c->cli->args, c->cli->purge, p, &c->e);
	return r;
}

/* Between lock polls: stop waiting when another process already did the
 * work (the plan from the current version table is empty). */
static int poll_done(void *arg, struct err *e)
{
	struct replan *r = arg;
	struct strlist heads = { 0 };
	struct plan p;
	int exists, done, marked;

	if (db_read_versions_pending(&r->c->db, r->c->cfg.version_table_schema,
				     r->c->cfg.version_table, &heads, &exists, &marked) < 0)
		return err_set(e, ERR_FAILED, "%s", r->c->db.errstr);
	if (make_plan(r->c, r->how, r->target, &heads, &p) < 0) {
		strlist_free(&heads);
		*e = r->c->e;
		return -1;
	}
	/* A marker means a revision is running outside a transaction, or was
	 * interrupted: only the lock holder can tell which. */
	done = p.n == 0 && r->how != MOVE_STAMP && !marked;
	plan_release(&p);
	strlist_free(&heads);
	return done;
}

/* While waiting for the lock: the server went away (a restart, a
 * failover).  Waiting for it to come back is the wait step over again, so
 * --wait-timeout bounds it. */
static int reconnect_db(void *arg, struct err *e)
{
	struct replan *r = arg;
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

int cmd_migrate_locked(struct ctx *c, int how, const char *target, struct plan *p)
{
	struct strlist heads = { 0 };
	struct lock lk;
	struct replan rp = { c, how, target, p, 0 };
	int exists, rc, lr;

	c->may_reconnect = 1;
	rc = ctx_read_heads(c, &heads, &exists);
	c->may_reconnect = 0;
	if (rc)
		return rc;
	if (make_plan(c, how, target, &heads, p) < 0) {
		strlist_free(&heads);
		return ctx_fail(c);
	}
	strlist_free(&heads);
	/* The common case of every restart: nothing to do, no lock, no more
	 * queries.  A missing version table still needs creating (as Alembic
	 * does on upgrade), so it goes through the locked path, and so does a
	 * marker of a non-transactional revision (judged under the lock). */
	if (p->n == 0 && exists && how != MOVE_STAMP && !c->pending_marker) {
		log_event(LOG_INFO, "up_to_date",
			  (struct log_field[]){ LFS("revision", ""), { 0 } }, "already at %s",
			  p->end_heads.n ? p->end_heads.v[0] : "<base>");
		return 0;
	}
	plan_release(p);
	memset(p, 0, sizeof(*p));

	status_set_phase(&c->st, PHASE_LOCKING);
	lr = lock_acquire(&lk, &c->db, c->url.path, c->cfg.version_table_schema,
			  c->cfg.version_table, c->cfg.lock_timeout_ms, c->stop, poll_done,
			  reconnect_db, &rp, &c->e);
	if (lr < 0)
		return ctx_fail(c);
	if (lr == LOCK_NOT_NEEDED) {
		lock_release(&lk);
		log_event(LOG_INFO, "up_to_date", NULL,
			  "another process reached the target while we waited for the lock");
		if ((rc = ctx_read_heads(c, &heads, &exists)))
			return rc;
		rc = make_plan(c, how, target, &heads, p) < 0 ? ctx_fail(c) : 0;
		strlist_free(&heads);
		return rc;
	}
	rc = ctx_read_heads(c, &heads, &exists);
	if (!rc && c->pending_marker)
		rc = ctx_check_pending(c, how == MOVE_STAMP);
	if (!rc && make_plan(c, how, target, &heads, p) < 0)
		rc = ctx_fail(c);
	strlist_free(&heads);
	if (!rc && how != MOVE_STAMP && delegate_needed(p))
		rc = ctx_compiled_apply(c, p, how, target); /* §7.5: compiled SQL, else alembic */
	else if (!rc)
		rc = cmd_apply_plan(c, p, how == MOVE_UP ? "upgrade"
					  : how == MOVE_DOWN ? "downgrade" : "stamp");
	lock_release(&lk);
	return rc;
}

static int online(struct ctx *c, enum move how, const char *target)
{
	struct plan p;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((rc = ctx_load(c, 1)))
		return rc;
	if (c->cli->sql)
		return cmd_offline(c, how);
	if ((rc = ctx_connect(c)))
		return rc;
	rc = cmd_migrate_locked(c, how, target, &p);
	plan_release(&p);
	return rc;
}

int cmd_upgrade(struct ctx *c)
{
	return online(c, MOVE_UP, c->cli->args.n ? c->cli->args.v[0] : "head");
}

int cmd_downgrade(struct ctx *c)
{
	return online(c, MOVE_DOWN, c->cli->args.v[0]);
}

int cmd_stamp(struct ctx *c)
{
	return online(c, MOVE_STAMP, NULL);
}
