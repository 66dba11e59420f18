/* lock.h - the migration lock (SPEC §4.5), engine-free.
 *
 * The lock is taken by polling the driver's lock_try (struct db_ops in
 * db.h: PostgreSQL's session advisory lock, SQLite's flock beside the
 * database) until a timeout, never by blocking.  Between polls the
 * version table is re-read through the caller's callback, which can end
 * the wait early when another replica has reached head, and who holds the
 * lock is logged when the driver can tell.
 */
#ifndef PRESTART_LOCK_H
#define PRESTART_LOCK_H

#include <signal.h>

#include "prestart/db.h"

struct lock {
	struct db *db;
	struct lock_key key; /* borrows lock_opts' schema and table; its
			      * strategy is the settled one */
	enum lock_strategy asked;
	int held;
};

/* The advisory key for a schema-qualified version table name. Pure. */
long long lock_key_of(const char *schema, const char *table);

/* Called between polls: return 1 to stop waiting (nothing left to do),
 * 0 to go on, -1 on error (e filled). */
typedef int (*lock_poll_fn)(void *arg, struct err *e);
/* Called when the connection was lost while waiting (the server restarted,
 * a proxy dropped it): reopen it in place.  Return 0 when connected again,
 * 1 when not yet (called again after the next pause), -1 to give up (e
 * filled). */
typedef int (*lock_reconnect_fn)(void *arg, struct err *e);

struct lock_opts {
	/* The version table the lock guards: the key is derived from it.
	 * Borrowed: they must outlive the lock. */
	const char *schema; /* NULL: the default schema */
	const char *table;
	long long timeout_ms;         /* 0: wait forever */
	volatile sig_atomic_t *stop;  /* a signal number ends the wait; may be NULL */
	lock_poll_fn poll;            /* may be NULL */
	lock_reconnect_fn reconnect;  /* NULL: a lost connection is an error */
	void *arg;                    /* for poll and reconnect */
	enum lock_strategy strategy;  /* SPEC §7.1; LOCK_AUTO when 0 */
};

enum lock_result { LOCK_ACQUIRED = 0, LOCK_NOT_NEEDED = 1 };

/* Take the lock through db, polling until o->timeout_ms, with the driver's
 * strategy settled first (LOCK_AUTO: a session lock, or the lease when the
 * server or a transaction pooler needs it, logged once).  Returns
 * LOCK_ACQUIRED, LOCK_NOT_NEEDED (poll said so), or -1: ERR_LOCK on timeout
 * (naming the holder) or when the strategy asked cannot hold a lock here,
 * ERR_USAGE when the lease table cannot be created, 128+N when *stop
 * became N, ERR_FAILED on database errors.  A lost connection is not an error when o->reconnect is given:
 * the wait goes on through it, under the same timeout.  Call
 * lock_release() after either success. */
int lock_acquire(struct lock *l, struct db *db, const struct lock_opts *o, struct err *e);
/* Is the lock still ours (SPEC §7.1: before each revision and before the
 * final commit)?  0, or -1: ERR_LOCK "migration lock lost: <how>", or
 * ERR_FAILED when the database could not be asked.  Always 0 for an
 * engine that cannot lose it. */
int lock_check(struct lock *l, struct err *e);
/* Release (no-op when not held).  A release the database refuses (the lock
 * was no longer ours) is logged as a warning. */
void lock_release(struct lock *l);

#endif
