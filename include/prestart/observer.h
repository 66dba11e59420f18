/* observer.h - one second connection that watches the migration's
 * PostgreSQL backend while it works (SPEC §7.2, §7.4).
 *
 * A statement cancelled by lock_timeout no longer waits, so asking who
 * blocked it afterwards finds nobody: the question has to be asked while
 * it waits.  The observer asks it every blockers_ms (pg_blocking_pids()
 * joined with pg_stat_activity, blockers.h) and keeps the last answer that
 * named someone; every progress_ms it reads a running CREATE INDEX's
 * progress (pg_stat_progress_create_index) into /status.  One worker
 * (worker.h), one connection (application_name "prestart blockers"), one
 * pid asked of the migration's connection, two cadences.
 *
 * The connection is made by the thread and made again when lost: a server
 * that refuses it only leaves the answers empty.  The observer only
 * informs; its failures are silent.
 */
#ifndef PRESTART_OBSERVER_H
#define PRESTART_OBSERVER_H

#include "prestart/db.h"
#include "prestart/dburl.h"
#include "prestart/status.h"

#define OBSERVER_APPLICATION_NAME "prestart blockers"
/* How often a running CREATE INDEX's progress is read. */
#ifndef OBSERVER_PROGRESS_MS
#define OBSERVER_PROGRESS_MS 500
#endif

struct observer_opts {
	long long blockers_ms; /* 0: who blocks is not asked */
	long long progress_ms; /* 0: index progress is not read */
	int connect_timeout_s; /* of the observer's connection */
};

struct observer;

/* Watch the backend of `migrating` (whose URL is u; borrowed until
 * observer_stop) as o asks, writing into st.  NULL when there is nothing
 * to watch: neither cadence set, an engine without DB_HAS_BLOCKERS /
 * DB_HAS_INDEX_PROGRESS for what is asked, a backend pid that cannot be
 * read, or a thread that cannot start (then one warning is logged). */
struct observer *observer_start(struct db *migrating, const struct dburl *u,
				const struct observer_opts *o, struct status *st);
/* The last non-empty answer to "who blocks?" as one line ("pid 42 (psql,
 * idle in transaction, transaction open 4.2 s): UPDATE ..."; several
 * joined with "; "), and forget it: new string, "" when nobody was seen
 * since the last take.  ob may be NULL (then ""). */
char *observer_blockers_take(struct observer *ob);
/* Bound the lock waits of one statement run on db outside a transaction
 * (SPEC §7.2: CREATE INDEX CONCURRENTLY cannot take SET LOCAL, and a
 * session SET would stay on a pooled server session for other clients):
 * until observer_unbound(), the observer looks, every blockers_ms, for
 * the backend running sql[0..len) (by its text, so that it is found
 * through a transaction pooler too, where the pid asked at the start may
 * not be the one running it) and cancels db's statement once that backend
 * has waited for one lock for limit_ms (pg_locks.waitstart; timed from
 * the first look before PostgreSQL 14).  No-op when ob is NULL or
 * limit_ms <= 0. */
void observer_bound(struct observer *ob, struct db *db, const char *sql, size_t len,
		    long long limit_ms);
/* Lift the bound; once it returns, no cancel of the bound's reaches db.
 * 1 when the bound cancelled the statement, else 0.  ob may be NULL. */
int observer_unbound(struct observer *ob);
/* Stop the thread, close its connection, clear /status's index progress
 * when it was read, free ob.  NULL is fine. */
void observer_stop(struct observer *ob);

#endif
