/* lock.h - the migration lock (SPEC §4.5).
 *
 * PostgreSQL: a session-level advisory lock polled with pg_try_advisory_lock
 * on the migration connection (never pg_advisory_lock, never inside an open
 * transaction: both deadlock with CREATE INDEX CONCURRENTLY in another
 * replica).  Between polls the version table is re-read through the
 * caller's callback, which can end the wait early when another replica has
 * reached head.  While waiting, who holds the lock is logged.
 * SQLite: an exclusive flock on "<db>.prestart.lock" (the migration itself
 * then runs under BEGIN IMMEDIATE with a busy timeout).
 */
#ifndef PRESTART_LOCK_H
#define PRESTART_LOCK_H

#include <signal.h>

#include "prestart/db.h"

struct lock {
	struct db *db;
	long long key;   /* PostgreSQL advisory key */
	int fd;          /* SQLite lock file, -1 when not held */
	int held;
};

/* The advisory key for a schema-qualified version table name. Pure. */
long long lock_key(const char *schema, const char *table);

/* Called between polls: return 1 to stop waiting (nothing left to do),
 * 0 to go on, -1 on error (e filled). */
typedef int (*lock_poll_fn)(void *arg, struct err *e);
/* Called when the connection was lost while waiting (the server restarted,
 * a proxy dropped it): reopen it in place.  Return 0 when connected again,
 * 1 when not yet (called again after the next pause), -1 to give up (e
 * filled). */
typedef int (*lock_reconnect_fn)(void *arg, struct err *e);

enum lock_result { LOCK_ACQUIRED = 0, LOCK_NOT_NEEDED = 1 };

/* Take the lock, polling until timeout_ms (0 = forever).  Returns
 * LOCK_ACQUIRED, LOCK_NOT_NEEDED (poll said so), or -1: ERR_LOCK on timeout
 * (naming the holder), 128+N when *stop became N, ERR_FAILED on database
 * errors.  A lost connection is not an error when `reconnect` is given:
 * the wait goes on through it, under the same timeout.  poll and
 * reconnect get `arg`. */
int lock_acquire(struct lock *l, struct db *db, const char *sqlite_path, const char *schema,
		 const char *table, long long timeout_ms, volatile sig_atomic_t *stop,
		 lock_poll_fn poll, lock_reconnect_fn reconnect, void *arg, struct err *e);
/* Release (no-op when not held). */
void lock_release(struct lock *l);

#endif
