/* Migrating under the lock (SPEC §4 steps 4-6): read the version table
 * and plan; with work to do, lock, re-read, re-plan and apply, natively
 * (migrate.c) or, for Alembic .py revisions, by running Alembic and then
 * checking the version table against the plan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/ddl.h"
#include "prestart/delegate.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"
#include "prestart/observer.h"

int ctx_delegate_plan(struct ctx *c, const struct plan *p, enum move how, const char *target,
		      const struct ledger *l)
{
	struct delegate_opts o = { 0 };
	struct ddl d;
	struct strlist heads = { 0 };
	const char *verb = how == MOVE_UP ? "upgrade" : "downgrade";
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");
	char *t = delegate_target(p, how == MOVE_UP, target);
	char *now = NULL;
	int bounded, rc = 0;

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
	/* the database prestart waited for and locked, for env.py wherever
	 * it looks (DATABASE_URL, or the ini's sqlalchemy.url) */
	o.database_url = c->cfg.database_url;
	o.url_from_ini = c->cfg.database_url_key &&
			 !strcmp(c->cfg.database_url_key, "sqlalchemy.url");
	bounded = db_kind_supports(c->url.kind, DB_HAS_LOCK_TIMEOUT);
	ddl_init(&d, bounded ? c->cfg.ddl_lock_timeout_ms : 0, c->cfg.ddl_retry_budget_ms,
		 c->stop, &c->st);
	rc = ddl_delegate_run(bounded ? &d : NULL, &o, verb, t, &c->e);
	ddl_release(&d);
	if (rc < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	/* Alembic's exit status says it ran; only the version table says
	 * where it went (an env.py pointed at another database, a revision
	 * file edited since prestart read it). */
	if ((rc = ctx_read_heads(c, &heads, NULL, NULL, 0)))
		goto out;
	if (!strlist_same_set(&heads, &p->end_heads)) {
		now = strlist_join(&heads, ",");
		err_set(&c->e, ERR_FAILED,
			"alembic %s %s exited 0 but the version table of %s is at %s, not at %s "
			"as planned: env.py most likely migrated another database than the one "
			"prestart locked (it was given this one as DATABASE_URL and as "
			"sqlalchemy.url); "
			"check which URL env.py connects to, e.g. `alembic current` in the same "
			"environment, or set the URL env.py reads to this database",
			verb, t, c->url.masked, *now ? now : "<base>", *to ? to : "<base>");
		rc = ctx_fail(c);
		goto out;
	}
	/* SPEC §7.3: the ledger rows of this stretch, one commit after
	 * Alembic's (see ctx_ledger_delegated). */
	if (l)
		ctx_ledger_delegated(c, l, p, now_ms() - t0);
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

/* SPEC §7.2 and §7.4: who blocks the migration's backend (a statement
 * cancelled by its lock timeout no longer waits, so the question must be
 * asked while it does), and a running CREATE INDEX for /status when someone
 * can ask, from one second connection.  NULL when it cannot be: the run
 * goes on, with no names in its messages. */
static struct observer *watch_backend(struct ctx *c, int blockers)
{
	struct observer_opts o = { 0 };
	long long every = c->cfg.ddl_lock_timeout_ms / 4;

	/* Several looks within one lock timeout, none busier than 50 a second. */
	if (every <= 0 || every > 250)
		every = 250;
	if (every < 20)
		every = 20;
	o.blockers_ms = blockers ? every : 0;
	o.progress_ms = c->health ? OBSERVER_PROGRESS_MS : 0;
	o.connect_timeout_s = 5;
	return observer_start(&c->db, &c->url, &o, &c->st);
}

/* After a read-only failure (25006), rolled back: does this session take
 * writes now?  Then the server did not turn read-only; the revision made
 * its own transaction so (SET TRANSACTION READ ONLY), and running it again
 * would fail the same way for as long as the wait allowed.  A connection
 * that cannot answer counts as not writable: the wait reconnects. */
static int writable_now(struct ctx *c)
{
	char why[256];
	int ro = 1;

	if (db_read_only(&c->db, &ro, why, sizeof(why)) < 0) {
		db_clear_error(&c->db);
		return 0;
	}
	return !ro;
}

static int check_lock(void *arg, struct err *e)
{
	return lock_check(arg, e);
}

/* Apply plan p (already computed) under the current connection with the
 * configured transaction mode; logs the summary.  may_wait: a read-only
 * failure returns CTX_NOT_READY instead of failing (SPEC §7.4).  l: the
 * ledger to write in the migration's transactions, or NULL.  lk: the lock
 * held, proven ours before each revision and each commit (SPEC §7.1), or
 * NULL. */
static int apply_plan(struct ctx *c, const struct plan *p, const char *what, int may_wait,
		      const struct ledger *l, struct lock *lk)
{
	struct migrate_opts o = { 0 };
	struct observer *watch = NULL;
	struct ddl d;
	int bounded, r;
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
	o.ledger = l;
	if (lk) {
		o.check = check_lock;
		o.check_arg = lk;
	}
	status_set_heads(&c->st, from, to);
	status_set_counts(&c->st, (long)p->n, 0);
	status_set_phase(&c->st, PHASE_MIGRATING);
	if (p->n)
		log_event(LOG_INFO, "plan",
			  (struct log_field[]){ LFS("from", from), LFS("to", to), LFI("steps", p->n),
						{ 0 } },
			  "%s from %s to %s: %zu step%s", what, *from ? from : "<base>",
			  *to ? to : "<base>", p->n, p->n == 1 ? "" : "s");
	bounded = p->n && db_supports(&c->db, DB_HAS_LOCK_TIMEOUT);
	if (p->n)
		watch = watch_backend(c, bounded);
	if (bounded) {
		ddl_init(&d, c->cfg.ddl_lock_timeout_ms, c->cfg.ddl_retry_budget_ms, c->stop,
			 &c->st);
		d.ob = watch;
		o.ddl = &d;
	}
	r = migrate_apply(&c->db, p, &o, &c->e);
	observer_stop(watch);
	if (o.ddl) {
		status_set_blockers(&c->st, NULL);
		ddl_release(&d);
	}
	if (r < 0) {
		char st[6];

		free(from);
		free(to);
		if (may_wait && db_sqlstate_of(c->e.msg, st) && strcmp(st, "25006") == 0 &&
		    !writable_now(c)) {
			log_event(LOG_WARN, "read_only",
				  (struct log_field[]){ LFS("error", c->e.msg), { 0 } },
				  "the server became read-only, rolled back: %s", c->e.msg);
			return CTX_NOT_READY;
		}
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

int ctx_apply_plan(struct ctx *c, const struct plan *p, const char *what, int may_wait,
		   const struct ledger *l, struct lock *lk)
{
	return apply_plan(c, p, what, may_wait, l, lk);
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

/* One pass of ctx_migrate; CTX_NOT_READY when the server turned read-only
 * while migrating and waiting for a primary is still allowed. */
static int migrate_once(struct ctx *c, enum move how, const char *target, struct plan *p,
			long long *since)
{
	struct strlist heads = { 0 };
	struct lock lk;
	struct replan rp = { c, how, target, p, 0 };
	struct ledger ledger;
	long long limit = c->cfg.wait_timeout_ms;
	int exists, marked, rc, lr, may_wait;
	struct strlist sums = { 0 };
	struct db_probe probe = { NULL, LEDGER_SUMS_PREFIX, &sums };
	char *sums_sql;
	/* SPEC §7.3: run, and upgrade to head or heads (a migration Job, the
	 * same intent), judge a database ahead of the scripts by --if-ahead;
	 * an explicit revision target, downgrade and stamp refuse it. */
	unsigned ahead = how == MOVE_UP && (!strcmp(c->cli->command, "run") ||
					    !strcmp(target, "head") || !strcmp(target, "heads"))
			 ? READ_AHEAD_OK : 0;

	/* the ledger's checksums ride on the same query (--checksum) */
	sums_sql = how == MOVE_UP ? ctx_ledger_sums_sql(c) : NULL;
	probe.sql = sums_sql;
	rc = ctx_read_heads_probe(c, &heads, &exists, &marked, READ_MAY_RECONNECT | ahead, &probe);
	free(sums_sql);
	if (rc) {
		strlist_free(&sums);
		return rc;
	}
	if (c->ahead) {
		strlist_free(&sums);
		/* Run the application on the newer schema, migrating nothing. */
		memset(p, 0, sizeof(*p));
		for (size_t i = 0; i < heads.n; i++) {
			strlist_push(&p->start_heads, heads.v[i]);
			strlist_push(&p->end_heads, heads.v[i]);
		}
		strlist_free(&heads);
		return 0;
	}
	if (make_plan(c, how, target, &heads, p) < 0) {
		strlist_free(&heads);
		strlist_free(&sums);
		return ctx_fail(c);
	}
	strlist_free(&heads);
	/* The common case of every restart: nothing to do, no lock, no more
	 * queries.  A missing version table still needs creating (as Alembic
	 * does on upgrade), so it goes through the locked path, and so does a
	 * marker of a non-transactional revision (judged under the lock). */
	if (p->n == 0 && exists && how != MOVE_STAMP && !marked) {
		char *at;

		/* an applied revision edited since it ran: named here too, the
		 * likeliest beginner's mistake being create, run, edit */
		rc = how == MOVE_UP ? ctx_ledger_check_at_head(c, &sums) : 0;
		strlist_free(&sums);
		if (rc)
			return rc;
		at = strlist_join(&p->end_heads, ",");

		/* JSON: the heads, null at base */
		log_event(LOG_INFO, "up_to_date",
			  (struct log_field[]){ LFS("revision", *at ? at : NULL), { 0 } },
			  "already at %s", *at ? at : "<base>");
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
	may_wait = limit <= 0 || !*since || now_ms() - *since < limit;

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
	ctx_ledger_init(c, &ledger);
	if (!rc)
		rc = ctx_ledger_prepare(c, &ledger, &heads);
	strlist_free(&heads);
	if (!rc && how != MOVE_STAMP && delegate_needed(p)) {
		rc = lock_check(&lk, &c->e) < 0 ? ctx_fail(c)
						 : ctx_compiled_apply(c, p, how, target, may_wait,
								      &ledger, &lk);
	} else if (!rc) {
		rc = apply_plan(c, p, how == MOVE_UP ? "upgrade"
				      : how == MOVE_DOWN ? "downgrade" : "stamp", may_wait, &ledger,
				&lk);
	}
	/* a failed first migration leaves no empty ledger behind */
	if (rc)
		ledger_undo_create(&ledger, &c->db);
	ledger_release(&ledger);
	lock_release(&lk);
	return rc;
}

int ctx_migrate(struct ctx *c, enum move how, const char *target, struct plan *p)
{
	long long since = 0;
	int rc;

	/* A failover while migrating (SQLSTATE 25006) sends the run back to
	 * waiting for a primary, then to the start: re-read, re-plan. */
	while ((rc = migrate_once(c, how, target, p, &since)) == CTX_NOT_READY) {
		plan_release(p);
		memset(p, 0, sizeof(*p));
		if (!since)
			since = now_ms();
	}
	return rc;
}
