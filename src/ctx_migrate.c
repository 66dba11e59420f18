/* Migrating under the lock (SPEC §4 steps 4-6): read the version table
 * and plan; with work to do, lock, re-read, re-plan and apply, natively
 * (migrate.c) or, for Alembic .py revisions, by running Alembic and then
 * checking the version table against the plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/delegate.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"

static int same_heads(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strlist_contains(b, a->v[i]))
			return 0;
	return 1;
}

/* Apply a plan holding Alembic .py revisions by running Alembic (how:
 * MOVE_UP or MOVE_DOWN; target: the user's), then check that the version
 * table reached p->end_heads. */
static int delegate_plan(struct ctx *c, const struct plan *p, enum move how, const char *target)
{
	struct delegate_opts o = { 0 };
	struct strlist heads = { 0 };
	const char *verb = how == MOVE_UP ? "upgrade" : "downgrade";
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");
	char *t = delegate_target(p, how == MOVE_UP, target);
	char *now = NULL;
	int rc = 0;

	status_set_heads(&c->st, from, to);
	status_set_counts(&c->st, (long)p->n, 0);
	status_set_phase(&c->st, PHASE_MIGRATING);
	log_event(LOG_INFO, "plan",
		  (struct log_field[]){ LFS("from", from), LFS("to", to), LFI("steps", p->n),
					LFS("alembic_target", t), { 0 } },
		  "%s from %s to %s: %zu step%s, run by alembic (.py revisions)", verb,
		  *from ? from : "<base>", *to ? to : "<base>", p->n, p->n == 1 ? "" : "s");
	o.command = c->cfg.alembic_command;
	o.ini = c->cfg.alembic_config;
	o.stop = c->stop;
	if (delegate_run(&o, verb, t, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	/* Alembic's exit status says it ran; only the version table says
	 * where it went (an env.py pointed at another database, a revision
	 * file edited since prestart read it). */
	if ((rc = ctx_read_heads(c, &heads, NULL, NULL, 0)))
		goto out;
	if (!same_heads(&heads, &p->end_heads)) {
		now = strlist_join(&heads, ",");
		err_set(&c->e, ERR_FAILED,
			"alembic %s %s exited 0 but the version table is at %s, not at %s as planned",
			verb, t, *now ? now : "<base>", *to ? to : "<base>");
		rc = ctx_fail(c);
		goto out;
	}
	c->st.migrate_ms = now_ms() - t0;
	status_set_counts(&c->st, 0, (long)p->n);
	log_event(LOG_INFO, "done",
		  (struct log_field[]){ LFS("revision", to), LFI("applied", p->n),
					LFI("duration_ms", now_ms() - t0), { 0 } },
		  "at %s (%zu step%s in %lld ms)", *to ? to : "<base>", p->n,
		  p->n == 1 ? "" : "s", now_ms() - t0);
out:
	strlist_free(&heads);
	free(now);
	free(t);
	free(from);
	free(to);
	return rc;
}

/* Apply plan p (already computed) under the current connection with the
 * configured transaction mode; logs the summary. */
static int check_lock(void *arg, struct err *e)
{
	return lock_check(arg, e);
}

static int apply_plan(struct ctx *c, const struct plan *p, const char *what, struct lock *lk)
{
	struct migrate_opts o = { 0 };
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");

	o.per_migration = c->cfg.transaction_per_migration;
	o.schema = c->cfg.version_table_schema;
	o.table = c->cfg.version_table;
	o.purge = c->cli->purge;
	o.stop = c->stop;
	o.st = &c->st;
	o.clear_pending = strcmp(what, "stamp") == 0;
	o.check = check_lock;
	o.check_arg = lk;
	status_set_heads(&c->st, from, to);
	status_set_counts(&c->st, (long)p->n, 0);
	status_set_phase(&c->st, PHASE_MIGRATING);
	if (p->n)
		log_event(LOG_INFO, "plan",
			  (struct log_field[]){ LFS("from", from), LFS("to", to), LFI("steps", p->n),
						{ 0 } },
			  "%s from %s to %s: %zu step%s", what, *from ? from : "<base>",
			  *to ? to : "<base>", p->n, p->n == 1 ? "" : "s");
	if (migrate_apply(&c->db, p, &o, &c->e) < 0) {
		free(from);
		free(to);
		return ctx_fail(c);
	}
	c->st.migrate_ms = now_ms() - t0;
	log_event(LOG_INFO, "done",
		  (struct log_field[]){ LFS("revision", to), LFI("applied", p->n),
					LFI("duration_ms", now_ms() - t0), { 0 } },
		  "at %s%s (%zu step%s in %lld ms)", *to ? to : "<base>",
		  p->n ? "" : ", nothing to do", p->n, p->n == 1 ? "" : "s", now_ms() - t0);
	free(from);
	free(to);
	return 0;
}

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
		r = graph_plan(c->g, heads, target, GRAPH_UPGRADE, p, &c->e);
	else if (how == MOVE_DOWN)
		r = graph_plan(c->g, heads, target, GRAPH_DOWNGRADE, p, &c->e);
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

int ctx_migrate(struct ctx *c, enum move how, const char *target, struct plan *p)
{
	struct strlist heads = { 0 };
	struct lock lk;
	struct replan rp = { c, how, target, p, 0 };
	int exists, marked, rc, lr;

	if ((rc = ctx_read_heads(c, &heads, &exists, &marked, READ_MAY_RECONNECT)))
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
	if (p->n == 0 && exists && how != MOVE_STAMP && !marked) {
		log_event(LOG_INFO, "up_to_date",
			  (struct log_field[]){ LFS("revision", ""), { 0 } }, "already at %s",
			  p->end_heads.n ? p->end_heads.v[0] : "<base>");
		return 0;
	}
	plan_release(p);
	memset(p, 0, sizeof(*p));

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
		if ((rc = ctx_read_heads(c, &heads, NULL, NULL, 0)))
			return rc;
		rc = make_plan(c, how, target, &heads, p) < 0 ? ctx_fail(c) : 0;
		strlist_free(&heads);
		return rc;
	}
	rc = ctx_read_heads(c, &heads, NULL, &marked, 0);
	if (!rc && marked)
		rc = ctx_check_pending(c, how == MOVE_STAMP);
	if (!rc && make_plan(c, how, target, &heads, p) < 0)
		rc = ctx_fail(c);
	strlist_free(&heads);
	if (!rc && how != MOVE_STAMP && delegate_needed(p)) {
		rc = lock_check(&lk, &c->e) < 0 ? ctx_fail(c) : delegate_plan(c, p, how, target);
	} else if (!rc) {
		rc = apply_plan(c, p, how == MOVE_UP ? "upgrade"
				      : how == MOVE_DOWN ? "downgrade" : "stamp", &lk);
	}
	lock_release(&lk);
	return rc;
}
