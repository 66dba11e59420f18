/* blockers.h - who holds up a PostgreSQL backend, read from a connection
 * of its own (SPEC §7.2).
 *
 * A statement cancelled by lock_timeout no longer waits, so asking who
 * blocked it afterwards finds nobody: the question has to be asked while it
 * waits.  A watcher thread does that on a second connection, every
 * interval, with pg_blocking_pids() joined with pg_stat_activity, and keeps
 * the last answer that named someone.  The second connection is its own
 * module so that other work needing one beside the migration (progress of
 * CREATE INDEX, a lease renewal) can share it later.
 */
#ifndef PRESTART_BLOCKERS_H
#define PRESTART_BLOCKERS_H

#include "prestart/db.h"
#include "prestart/dburl.h"
#include "prestart/status.h"

/* One backend in the way. */
struct blocker {
	long pid;
	char app[64];       /* application_name */
	char state[32];     /* pg_stat_activity.state */
	long long xact_ms;  /* age of its transaction; -1 when it has none */
	char query[201];    /* the first 200 characters, control characters blanked */
};

struct blockers;

/* Start watching backend `pid` through a new connection to u made with o
 * (its application_name should say what it is).  Every interval_ms the
 * thread asks who blocks pid; a non-empty answer is kept for
 * blockers_take() and, when st is not NULL, shown in /status
 * (status_set_blockers).  The connection is made by the thread: a server
 * that refuses it only leaves the answers empty.  Returns 0, or -1 with e
 * filled (ERR_FAILED) when the thread cannot start. */
int blockers_start(struct blockers **out, const struct dburl *u, const struct db_opts *o,
		   long pid, long long interval_ms, struct status *st, struct err *e);
/* The last non-empty answer as one line ("pid 42 (psql, idle in
 * transaction, transaction open 4.2 s): UPDATE ..."; several joined with
 * "; "), and forget it: new string, "" when nobody was seen since the last
 * take.  b may be NULL (then ""). */
char *blockers_take(struct blockers *b);
/* Stop the thread, close its connection, free b.  NULL is fine. */
void blockers_stop(struct blockers *b);

/* The query the watcher runs, with $1 the watched pid: one row per
 * blocker, fields separated by 0x1f (blockers_parse). */
extern const char blockers_sql[];
/* Parse one row of blockers_sql into *b.  Pure.  0, or -1 on a malformed
 * row. */
int blockers_parse(const char *row, struct blocker *b);
/* Append b as the log's words ("pid 42 (psql, idle in transaction,
 * transaction open 4.2 s): UPDATE ...") or as a JSON object (/status). */
void blockers_format(struct sbuf *out, const struct blocker *b);
void blockers_json(struct sbuf *out, const struct blocker *b);

#endif
