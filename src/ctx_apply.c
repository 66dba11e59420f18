/* ctx_apply.c - the apply loop (SPEC §4 step 6): a bound plan a stretch
 * at a time (graph_stretches), the lock proven ours before each, each
 * stretch through the applier of its runner: SQL (migrate.c) or Alembic
 * (delegate.c, then the version table checked against the plan).
 *
 *   appliers     apply_alembic, apply_sql and their table
 *   the loop     ctx_apply_plan
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/ddl.h"
#include "prestart/delegate.h"
#include "prestart/graph.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"
#include "prestart/observer.h"

#include "ctx_apply_int.h"

/* For log lines only. */
static const char *verb_of(const struct migrate_request *rq)
{
	return rq->stamp ? "stamp" : rq->dir == DIR_UP ? "upgrade" : "downgrade";
}

/* The Alembic applier: run `alembic upgrade|downgrade` for the steps of
 * p (target: the stretch's), then check that the version table reached
 * p->end_heads and write the ledger for them in a transaction of its own
 * (ctx_ledger_delegated). */
static int apply_alembic(struct apply_run *r, const struct plan *p, const char *target)
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
static int apply_sql(struct apply_run *r, const struct plan *p, const char *target)
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
	int (*apply)(struct apply_run *r, const struct plan *p, const char *target);
} appliers[] = {
	[RUN_SQL] = { apply_sql },
	[RUN_ALEMBIC] = { apply_alembic },
};

int ctx_apply_plan(struct apply_run *r, const struct plan *p)
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
