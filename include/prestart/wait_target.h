/* wait_target.h - a target of the wait step (SPEC §4.3): a --wait-for
 * argument parsed, or the database itself.  No I/O: wait.h waits on them.
 */
#ifndef PRESTART_WAIT_TARGET_H
#define PRESTART_WAIT_TARGET_H

#include "prestart/dburl.h"
#include "prestart/util.h"

enum wait_kind { WT_TCP = 1, WT_HTTP, WT_FILE, WT_PG, WT_SQLITE };

/* All strings are owned by the target; wait_target_release() frees them. */
struct wait_target {
	enum wait_kind kind;
	char *display;     /* for logs: URL with the password masked */
	char *host, *port; /* WT_TCP (host without IPv6 brackets) */
	char *url;         /* WT_HTTP: URL without the #fragment */
	int status_lo, status_hi; /* WT_HTTP: accepted range, default 200-299 */
	char *path;        /* WT_FILE, WT_SQLITE (the database file) */
	struct dburl db;   /* WT_PG: a private deep copy */
};

/* Parse a --wait-for target: tcp://host:port, http(s)://...[#status=A-B or
 * #status=N], file:///path, postgresql://... (and the other DATABASE_URL
 * forms of dburl.h).  ERR_USAGE naming the target on bad input (the message
 * never contains a password).  On error *t is left empty (releasable). */
int wait_target_parse(const char *spec, struct wait_target *t, struct err *e);
/* The database itself as a target (WT_PG or WT_SQLITE); *u is copied, the
 * caller keeps ownership of it. */
void wait_target_from_db(const struct dburl *u, struct wait_target *t);
void wait_target_release(struct wait_target *t);

#endif
