/* blockers.h - who holds up a PostgreSQL backend (SPEC §7.2): the
 * question, asked from a connection of its own while the backend waits
 * (observer.h), and its answer's rows.  Pure.
 */
#ifndef PRESTART_BLOCKERS_H
#define PRESTART_BLOCKERS_H

#include "prestart/util.h"

/* One backend in the way. */
struct blocker {
	long pid;
	char app[64];       /* application_name */
	char state[32];     /* pg_stat_activity.state */
	long long xact_ms;  /* age of its transaction; -1 when it has none */
	char query[201];    /* the first 200 characters, control characters blanked */
};

/* The query the observer runs, with %ld the watched pid: one row per
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
