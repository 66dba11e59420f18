/* ddl.h - migrations that never stall the application (SPEC §7.2): every
 * migration statement on PostgreSQL waits for a table lock at most
 * --ddl-lock-timeout, and a unit cancelled by a lock timeout (55P03) or a
 * deadlock (40P01) is rolled back and tried again, with backoff, until
 * --ddl-retry-budget is spent.
 *
 * The units (chosen by migrate.c): the whole run in one-transaction mode,
 * the revision with --transaction-per-migration, the statement for a
 * `Transactional: false` revision, the whole Alembic child for delegated
 * .py revisions.  The budget bounds the run's retrying as a whole (its
 * clock starts at the run's first retryable failure); the backoff starts
 * again at 0.5 s for each unit.
 *
 * SQLite has no lock queue (a writer holds the whole file, the
 * busy timeout bounds the wait): there is no struct ddl for it.
 */
#ifndef PRESTART_DDL_H
#define PRESTART_DDL_H

#include <signal.h>

#include "prestart/db.h"
#include "prestart/delegate.h"
#include "prestart/observer.h"
#include "prestart/status.h"

#define DDL_BACKOFF_FIRST_MS 500
#define DDL_BACKOFF_MAX_MS 30000

struct ddl {
	long long lock_timeout_ms;   /* 0: statements wait forever (nothing SET) */
	long long budget_ms;         /* 0: never retry */
	struct observer *ob;         /* who blocks the migration; may be NULL */
	struct status *st;           /* may be NULL */
	volatile sig_atomic_t *stop; /* a signal ends the backoff at once */
	/* State. */
	long long first_failure_ms;  /* the budget's clock; 0 before any failure */
	int attempt;                 /* failures of the current unit */
	int retries;                 /* of the whole run */
	unsigned seed;               /* the jitter's */
	char *last_blockers;         /* the last non-empty answer, or NULL */
};

/* Fill d with the settings and a fresh state; ddl_release() frees. */
void ddl_init(struct ddl *d, long long lock_timeout_ms, long long budget_ms,
	      volatile sig_atomic_t *stop, struct status *st);
void ddl_release(struct ddl *d);

/* Right after BEGIN: SET LOCAL lock_timeout, which ends with the
 * transaction, so that nothing leaks to a pooled connection and prestart's
 * own lock waits stay unbounded.  No-op when d is NULL or its timeout 0.
 * 0, or -1 with db->errstr. */
int ddl_bound_tx(const struct ddl *d, struct db *db);
/* ddl_bound_tx's statement, to send with others in one round trip (a new
 * string), or NULL when there is none. */
char *ddl_bound_tx_sql(const struct ddl *d);
/* Around one statement sql[0..len) run on db outside any transaction
 * (CREATE INDEX CONCURRENTLY cannot run in one, so SET LOCAL cannot reach
 * it, and a session SET would stay on a pooled server session for other
 * clients): no setting at all; the observer (d->ob) cancels the
 * statement once it has waited for one lock longer than the timeout
 * (observer_bound).  ddl_unbound_stmt, right after the statement (failed:
 * it returned an error), lifts the bound and returns 1 when the bound
 * cancelled it: db->dberr then reads as a lock timeout (55P03), to be
 * retried like one.  No-ops when d is NULL, its timeout 0, or it has no
 * watcher (then the statement is not bounded). */
void ddl_bound_stmt(const struct ddl *d, struct db *db, const char *sql, size_t len);
int ddl_unbound_stmt(const struct ddl *d, struct db *db, int failed);

/* Is this SQLSTATE one to retry (55P03 lock_not_available, 40P01
 * deadlock_detected)?  Pure. */
int ddl_retryable(const char *sqlstate);
/* The backoff before retry `attempt` (1, 2, ...): 500 ms doubling to 30 s,
 * scaled by 0.5 + r (r in [0, 1)): ±50 % jitter.  Pure. */
long long ddl_backoff_ms(int attempt, double r);
/* PGOPTIONS for the Alembic child: `existing` (may be NULL) with
 * "-c lock_timeout=<ms>ms" appended (new string).  Pure. */
char *ddl_pgoptions(const char *existing, long long lock_timeout_ms);

/* After `unit` (words for the log: "revision abc") failed with
 * `sqlstate`, e holding the error.  Not retryable (or d NULL, or budget 0):
 * returns 0, e untouched.  Retryable: logs the attempt with the blockers,
 * counts a lock timeout in /metrics, sleeps the backoff and returns 1: the
 * caller (which rolled the unit back) runs it again.  Budget spent: -1, e
 * becomes ERR_FAILED "<e>; gave up after N attempts in S s
 * (--ddl-retry-budget); blocked by: ..."; a signal during the backoff:
 * -1 with 128+N. */
int ddl_retry(struct ddl *d, const char *sqlstate, const char *unit, struct err *e);
/* A unit committed: its backoff starts over, /status shows no blockers. */
void ddl_unit_done(struct ddl *d);

/* delegate_run() under the same bound and retries: the child gets
 * PGOPTIONS with the lock timeout, and a run whose output reports a lock
 * timeout or deadlock is run again (Alembic resumes from the version table
 * it left).  d may be NULL (no bound, no retry). */
int ddl_delegate_run(struct ddl *d, struct delegate_opts *o, enum dir dir,
		     const char *target, struct err *e);

/* The INVALID indexes of the database, as "schema"."name" (quoted as for
 * SQL), appended to out.  0, or -1 with db->errstr. */
int ddl_invalid_indexes(struct db *db, struct strlist *out);

#endif
