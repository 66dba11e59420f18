/* migrate.h - apply a plan (plan.h) to a database (db.h) with the
 * transaction rules of SPEC §4.6.
 *
 * Default: one transaction for all pending transactional revisions, the
 * version table written inside it.  per_migration: one transaction per
 * revision.  A `Transactional: false` revision commits what came before,
 * runs its statements one by one outside any transaction, then records
 * itself.  A failing statement rolls back and is reported as
 * "path:line:col: message (SQLSTATE x); detail: ...; hint: ...".
 * A non-transactional revision is bracketed by the marker of db.h
 * (db_mark_pending before, db_clear_pending with its version row).
 *
 * With o->ddl (SPEC §7.2), every transaction starts with SET LOCAL
 * lock_timeout, each statement of a non-transactional revision is bounded
 * the same way, and a unit that fails with a lock timeout or deadlock is
 * rolled back and run again (ddl.h): the transaction as a whole (the run
 * in one-transaction mode, the revision with per_migration), the statement
 * outside a transaction.
 */
#ifndef PRESTART_MIGRATE_H
#define PRESTART_MIGRATE_H

#include <signal.h>

#include "prestart/db.h"
#include "prestart/ddl.h"
#include "prestart/plan.h"
#include "prestart/status.h"

struct ledger;
struct archive;
struct an_script;

/* Step analyses kept from one migrate_apply to the next (a run over many
 * tenants applies the same revisions again and again): each revision's
 * text parsed once.  Owned by the caller, one per thread; zeroed to start,
 * migrate_cache_release at the end. */
struct migrate_cache {
	struct migrate_cached *v;
	size_t n, a;
};

void migrate_cache_release(struct migrate_cache *mc);
/* sql's PostgreSQL analysis in mc, made on the first ask; NULL when it
 * failed (then the hold is not measured, as without the cache). */
const struct an_script *migrate_cache_analysis(struct migrate_cache *mc, const char *sql);

/* The version table as the caller read it, under the lock, right before
 * migrate_apply (MIGRATE_VT_UNKNOWN: read in the first transaction). */
enum { MIGRATE_VT_UNKNOWN = 0, MIGRATE_VT_ABSENT, MIGRATE_VT_PRESENT };

struct migrate_opts {
	int per_migration;
	const char *schema;  /* version table schema, or NULL */
	const char *table;   /* version table name */
	int purge;           /* stamp --purge: empty the version table first */
	volatile sig_atomic_t *stop; /* non-zero: a signal asked us to stop */
	struct status *st;   /* may be NULL */
	int clear_pending;   /* drop the interrupted-revision marker (stamp) in
			      * the transaction that writes the version table */
	/* The ledger (ledger.h): each step's row is written or removed with
	 * its version-table operations, in the same transaction.  NULL, or
	 * off: none. */
	const struct ledger *ledger;
	/* SPEC §9.3 (archive.h): what a data-loss statement destroys is
	 * archived first, in its transaction; a downgrade step puts its
	 * revision's archives back after its SQL ran.  NULL: none. */
	const struct archive *archive;
	struct ddl *ddl;     /* PostgreSQL: lock-wait bounds and retries (ddl.h);
			      * NULL: none */
	/* May be NULL: is the migration lock still ours?  Asked before each
	 * revision and before each commit; 0, or -1 with e filled (ERR_LOCK
	 * when lost: migrate_apply rolls back and returns it). */
	int (*check)(void *arg, struct err *e);
	void *check_arg;
	/* May be NULL: SQL run first in every transaction migrate_apply
	 * begins (SPEC §9.5: a tenant's SET LOCAL search_path), sent with
	 * the begin and the lock_timeout in one round trip. */
	const char *tx_setup;
	/* May be NULL: analyses kept across calls (see above). */
	struct migrate_cache *cache;
	/* MIGRATE_VT_*: with ABSENT or PRESENT (the caller holds the lock
	 * and has just read the table), the first transaction creates the
	 * table, or leaves it, without reading it again. */
	int vt_known;
	/* Non-zero: no line per step (a run over many tenants logs one line
	 * per tenant instead). */
	int quiet;
};

/* Apply every step of p.  Creates the version table when missing.  Logs
 * "[i/N] <rev> <message> (<ms> ms)" per step, with the ACCESS EXCLUSIVE
 * hold measured on PostgreSQL (SPEC §9.3: the log line, the ledger row,
 * o->st's histogram and longest holder).  On failure: rollback, -1 with
 * ERR_FAILED (or 128+signal when stopped) and the located message; ERR_LOCK
 * when o->check finds the lock lost (also when that is why a statement
 * failed: the lease's loss cancels it). */
int migrate_apply(struct db *db, const struct plan *p, const struct migrate_opts *o,
		  struct err *e);

/* The section of a step: upgrade or downgrade text, its first line, and
 * whether it exists. */
const char *migrate_step_sql(const struct plan_step *s, int *first_line);

#endif
