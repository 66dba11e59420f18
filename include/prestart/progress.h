/* progress.h - the progress of a running CREATE INDEX for /status (SPEC
 * §7.4), read from pg_stat_progress_create_index on a second connection
 * while the migration connection is busy with the statement.
 *
 * This is one of two "second connection" watchers (the other reports the
 * sessions blocking a DDL statement, SPEC §7.2): both open their own
 * connection with the run's URL, poll on a thread, and write into the
 * status; they can share one connection when merged.
 */
#ifndef PRESTART_PROGRESS_H
#define PRESTART_PROGRESS_H

#include "prestart/db.h"
#include "prestart/dburl.h"
#include "prestart/status.h"

struct progress_watch;

/* Start watching the backend of `migrating` (PostgreSQL only; NULL for
 * other engines or when its pid cannot be read): every PROGRESS_POLL_MS a
 * thread with its own connection to u sets st's index_progress to one line
 * ("CREATE INDEX on t: building index: scanning table, blocks 10/40") or
 * "" when no CREATE INDEX runs.  Failures of the watcher are silent: it
 * only informs. */
struct progress_watch *progress_watch_start(struct db *migrating, const struct dburl *u,
					    const char *application_name, struct status *st);
/* Stop the thread, close its connection, clear index_progress; NULL is a
 * no-op. */
void progress_watch_stop(struct progress_watch *w);

#endif
