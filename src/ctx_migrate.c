/* Migrating under the lock (SPEC §4 steps 4-6): read the version table
 * and plan; with work to do, lock, re-read, re-plan, bind (ctx_bind.c) and
 * apply the plan a stretch at a time (graph_stretches), each through the
 * applier of its runner: SQL (migrate.c) or Alembic (delegate.c, then the
 * version table checked against the plan).
 *
 *   appliers     apply_alembic, apply_sql and their table
 *   the loop     apply_plan: the lock checked before every stretch
 *   the pass     make_plan, poll_done, reconnect_db, migrate_once
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/archive.h"
#include "prestart/ctx.h"
#include "prestart/ddl.h"
#include "prestart/delegate.h"
#include "prestart/graph.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"
#include "prestart/observer.h"

/* The answer of a pass that found the server turned read-only under it
 * (SQLSTATE 25006, a failover): rolled back, not ready rather than failed;
 * ctx_migrate waits for a primary and starts again (SPEC §7.4).  Not an
 * exit status. */
#define NOT_READY (-1)

/* One application of a plan: what its stretches share. */
struct run {
	struct ctx *c;
	const struct migrate_request *rq;
	const struct ledger *l; /* written with each step; NULL: none */
	const struct archive *arch; /* SPEC §9.3; NULL: none */
	struct lock *lk;        /* held; proven ours before each stretch */
	int may_wait;           /* a read-only failure is NOT_READY */
};

/* For log lines only. */
static const char *verb_of(const struct migrate_request *rq)
{
	return rq->stamp ? "stamp" : rq->dir == DIR_UP ? "upgrade" : "downgrade";
}

/* The Alembic applier: run `alembic upgrade|downgrade` for the steps of
 * p (target: the stretch's), then check that the version table reached
 * p->end_heads and write the ledger for them in a transaction of its own
 * (ctx_ledger_delegated). */
static int apply_alembic(struct run *r, const struct plan *p, const char *target)
{
	struct ctx *c = r->c;
	struct delegate_opts o = { 0 };
	struct ddl d;
	struct strlist heads = { 0 };
	const char *verb = verb_of(r->rq);
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");
	char *t = graph_alembic_target(p, r->rq->dir, target);
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
	rc = ddl_delegate_run(bounded ? &d : NULL, &o, r->rq->dir, t, &c->e);
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
	if (r->l)
		ctx_ledger_delegated(c, r->l, p, now_ms() - t0);
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

/* The SQL applier: apply p under the current connection with the
 * configured transaction mode, the ledger written in the migration's
 * transactions and the lock proven ours before each revision and each
 * commit (SPEC §7.1); logs the summary.  A read-only failure is NOT_READY
 * when r->may_wait (SPEC §7.4). */
static int apply_sql(struct run *r, const struct plan *p, const char *target)
{
	struct ctx *c = r->c;
	struct migrate_opts o = { 0 };
	struct observer *watch = NULL;
	struct ddl d;
	int bounded, rc;
	long long t0 = now_ms();
	char *from = strlist_join(&p->start_heads, ",");
	char *to = strlist_join(&p->end_heads, ",");

	o.per_migration = c->cfg.transaction_per_migration;
	o.schema = c->cfg.version_table_schema;
	o.table = c->cfg.version_table;
	(void)target;
	o.purge = r->rq->purge;
	o.stop = c->stop;
	o.st = &c->st;
	o.clear_pending = r->rq->stamp;
	o.ledger = r->l;
	o.archive = r->arch;
	o.check = check_lock;
	o.check_arg = r->lk;
	status_set_heads(&c->st, from, to);
	status_set_counts(&c->st, (long)p->n, 0);
	status_set_phase(&c->st, PHASE_MIGRATING);
	if (p->n)
		log_event(LOG_INFO, "plan",
			  (struct log_field[]){ LFS("from", from), LFS("to", to), LFI("steps", p->n),
						{ 0 } },
			  "%s from %s to %s: %zu step%s", verb_of(r->rq), *from ? from : "<base>",
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
	rc = migrate_apply(&c->db, p, &o, &c->e);
	observer_stop(watch);
	if (o.ddl) {
		status_set_blockers(&c->st, NULL);
		ddl_release(&d);
	}
	if (rc < 0) {
		char st[6];

		free(from);
		free(to);
		if (r->may_wait && db_sqlstate_of(c->e.msg, st) && strcmp(st, "25006") == 0 &&
		    !writable_now(c)) {
			log_event(LOG_WARN, "read_only",
				  (struct log_field[]){ LFS("error", c->e.msg), { 0 } },
				  "the server became read-only, rolled back: %s", c->e.msg);
			return NOT_READY;
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

static const struct applier {
	int (*apply)(struct run *r, const struct plan *p, const char *target);
} appliers[] = {
	[RUN_SQL] = { apply_sql },
	[RUN_ALEMBIC] = { apply_alembic },
};

/* Apply plan p (bound) a stretch at a time, in plan order, the lock
 * proven ours before each.  Returns 0, NOT_READY or an exit status. */
static int apply_plan(struct run *r, const struct plan *p)
{
	struct ctx *c = r->c;
	struct stretches s;
	size_t fresh = 0, missing = 0;
	int rc = 0, whole;
	const char *target = r->rq->target, *verb = verb_of(r->rq);

	for (size_t i = 0; i < p->n; i++) {
		if (p->steps[i].runner == RUN_ALEMBIC)
			missing++;
		else if (p->steps[i].rev)
			fresh++;
	}
	/* With nothing compiled there is nothing to say per revision, unless
	 * that is an error. */
	if (missing && (fresh || c->cfg.require_compiled) &&
	    (rc = ctx_report_unbound(c, p, missing)))
		return rc;
	/* the expand phase: the target that names its subset (ctx_phase.c) */
	if (r->rq->expand && !(target = c->expand_target) && missing) {
		err_set(&c->e, ERR_SCRIPT,
			"the expand phase cannot hand its .py revisions to alembic: no one "
			"alembic target names the revisions it applies while others are held "
			"back; compile them (`prestart compile`) or apply everything "
			"(--phase contract)");
		return ctx_fail(c);
	}
	whole = graph_stretches(c->g, p, target ? target : "heads", &s);
	if (whole)
		log_event(LOG_INFO, "not_compiled", NULL,
			  "the revisions without compiled SQL cannot be run apart from the others: "
			  "alembic runs the whole %s", verb);
	else if (fresh && missing)
		log_event(LOG_INFO, "compiled_plan",
			  (struct log_field[]){ LFI("steps", p->n), LFI("compiled", fresh),
						LFI("alembic", missing), LFI("runs", s.n), { 0 } },
			  "%s of %zu step%s: %zu from compiled SQL, %zu through alembic, in %zu run%s",
			  verb, p->n, p->n == 1 ? "" : "s", fresh, missing, s.n,
			  s.n == 1 ? "" : "s");
	for (size_t i = 0; i < s.n && !rc; i++) {
		const struct stretch *st = &s.v[i];
		struct plan sub;

		if (lock_check(r->lk, &c->e) < 0) {
			rc = ctx_fail(c);
			break;
		}
		if (s.n == 1) {
			rc = appliers[st->runner].apply(r, p, st->target);
			continue;
		}
		plan_slice(p, st->lo, st->hi, &sub);
		rc = appliers[st->runner].apply(r, &sub, st->target);
		plan_release(&sub);
	}
	stretches_release(&s);
	return rc;
}

struct replan {
	struct ctx *c;
	const struct migrate_request *rq;
	long long lost_since; /* when the connection was lost; 0: it is not */
};

/* Plan rq from heads (not bound).  0, or -1 with c->e filled. */
static int make_plan(struct ctx *c, const struct migrate_request *rq,
		     const struct strlist *heads, struct plan *p)
{
	memset(p, 0, sizeof(*p));
	if (rq->stamp)
		return graph_plan_stamp(c->g, heads, rq->revisions, rq->purge, p, &c->e);
	/* SPEC §9.4: the expand phase's subset (ctx_phase.c) */
	if (rq->expand && rq->dir == DIR_UP)
		return ctx_plan_expand(c, heads, p);
	if (graph_plan(c->g, heads, rq->target, rq->dir, p, &c->e) < 0) {
		graph_explain_walk(c->g, rq->target, heads, &c->e);
		return -1;
	}
	return 0;
}

/* Read the version table again, now that the lock is settled, and plan rq
 * from it: a marker of a non-transactional revision is judged when marked
 * is asked for (NULL: not).  0 or an exit status. */
static int replan(struct ctx *c, const struct migrate_request *rq, unsigned keep,
		  struct strlist *heads, int *marked, struct plan *p)
{
	int rc = ctx_read_heads(c, heads, NULL, marked, keep);

	if (!rc && marked && *marked)
		rc = ctx_check_pending(c, rq->stamp);
	if (!rc && make_plan(c, rq, heads, p) < 0)
		rc = ctx_fail(c);
	return rc;
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
	if (make_plan(r->c, r->rq, &heads, &p) < 0) {
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

/* One pass of ctx_migrate; NOT_READY when the server turned read-only
 * while migrating and waiting for a primary is still allowed. */
static int migrate_once(struct ctx *c, const struct migrate_request *rq, struct plan *p,
			long long *since)
{
	struct strlist heads = { 0 };
	struct lock lk;
	struct replan rp = { c, rq, 0 };
	struct ledger ledger;
	struct archive arch;
	struct run run = { c, rq, &ledger, NULL, &lk, 0 };
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
	rc = ctx_read_heads_probe(c, &heads, &exists, &marked,
				  READ_MAY_RECONNECT | rq->read_flags | keep, &probe);
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
	if (make_plan(c, rq, &heads, p) < 0) {
		strlist_free(&heads);
		strlist_free(&sums);
		return ctx_fail(c);
	}
	strlist_free(&heads);
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
		rc = replan(c, rq, keep, &heads, NULL, p);
		strlist_free(&heads);
		return rc;
	}
	rc = replan(c, rq, keep, &heads, &marked, p);
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
		rc = apply_plan(&run, p);
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
