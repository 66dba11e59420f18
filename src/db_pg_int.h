/* db_pg_int.h - what db_pg.c shares with db_pg_lock.c.
 *
 * Private to the PostgreSQL driver: code outside src/db_pg*.c should not
 * include this file (it reaches the driver through db.h's struct db_ops).
 */
#ifndef PRESTART_DB_PG_INT_H
#define PRESTART_DB_PG_INT_H

#include <libpq-fe.h>

#include "prestart/db.h"

struct pg_lease;

struct pg_impl {
	PGconn *conn;
	/* Made once after connecting: PQcancel() on it is safe from any
	 * thread, PQgetCancel() is not. */
	PGcancel *cancel;
	/* The connection's parameters (copies, NULL-terminated), for the
	 * lock's second connections: the pooler probe and the lease's
	 * renewal. */
	char **keys, **vals;
	/* The session lock: the backend that took it (0: not held). */
	int lock_pid;
	/* Set by lock_prepare on a distributed server: the lease takes no
	 * advisory lock there. */
	int no_advisory;
	/* lock_prepare found the session lock usable on this connection:
	 * later prepares (the next tenant's lock) skip its queries.  Cleared
	 * when a session lock turns out not to be ours. */
	int session_ok;
	/* lock_prepare found a backend of our own (no pooler, no proxy): with
	 * many_locks, the lock's catalog queries run as statements prepared once
	 * (PREP_* bits: which are). */
	int direct;
	unsigned prepared;
	int many_locks; /* db_opts.many_locks: only then prepared */
	/* db_opts.stop: a signal that came after the caller last looked and
	 * before a statement was sent (the handler's cancel found nothing
	 * running) cancels it once sent (pg_exec). */
	volatile sig_atomic_t *stop;
	/* With many_locks: the ownership check of precheck_id, answered in
	 * the statement that looked for the lease table right after the lock
	 * was taken; the next check of that key takes it instead of a query. */
	int prechecked, precheck_held;
	long long precheck_id;
	/* The lease while held (db_pg_lock.c), else NULL. */
	struct pg_lease *lease;
};

/* Record a failed result (or, with res NULL, the connection's message) in
 * db->dberr and db->errstr; sql[0..len) is the text sent, for the error
 * position (may be NULL).  Returns -1. */
int db_pg_result_failed(struct db *db, const PGresult *res, const char *sql, size_t len);

/* The lock members (db_pg_lock.c). */
int db_pg_lock_try(struct db *db, const struct lock_key *k, int *got);
int db_pg_lock_release(struct db *db, const struct lock_key *k);
int db_pg_lock_holder(struct db *db, const struct lock_key *k, char *buf, size_t n);
int db_pg_lock_prepare(struct db *db, struct lock_key *k);
int db_pg_lock_check(struct db *db, const struct lock_key *k, int *held);
/* From close: stop a lease still held (its row is deleted when the renewal
 * connection can, else it expires). */
void db_pg_lock_drop(struct pg_impl *p);

#endif
