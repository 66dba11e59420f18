/* termlog.h - the termination message (SPEC §7.4): when prestart itself
 * exits (a failure, or success with no application to exec), one JSON
 * object of at most TERMLOG_MAX bytes in the file Kubernetes shows in
 * `kubectl describe pod` (/dev/termination-log by default).
 */
#ifndef PRESTART_TERMLOG_H
#define PRESTART_TERMLOG_H

#include <stddef.h>

#include "prestart/util.h"

/* What the kubelet keeps of the file. */
#define TERMLOG_MAX 4096
#define TERMLOG_DEFAULT "/dev/termination-log"

struct termlog_info {
	int exit_code;
	const char *phase;     /* status_phase_name() of where it ended */
	const char *error;     /* one line; NULL or "": null */
	const char *revision;  /* being applied, else the current heads; NULL: null */
	const char *sqlstate;  /* NULL or "": null */
	const char *blockers;  /* a JSON array, as the status gives it; NULL: [] */
	long long elapsed_ms;
	/* SPEC §9.3: the statement that held ACCESS EXCLUSIVE the longest
	 * in the run, a JSON object as status_holder_json gives it; NULL: the
	 * key is left out. */
	const char *lock_hold;
};

/* The JSON object (new string) of at most max bytes: the error, then the
 * revision, are shortened (with "...") until it fits; then the blockers
 * and the lock holder are left out.  Pure. */
char *termlog_json(const struct termlog_info *t, size_t max);
/* The path to write: `path` when not NULL ("" turns the log off: NULL),
 * else TERMLOG_DEFAULT when it exists and is writable, else NULL. */
const char *termlog_path(const char *path);
/* Check a configured path before anything waits: it, or its directory
 * when it does not exist, must be writable.  ERR_USAGE naming the setting. */
int termlog_check(const char *path, const char *setting, struct err *e);
/* Write (truncating) t as JSON to path.  0, or -1 with e set. */
int termlog_write(const char *path, const struct termlog_info *t, struct err *e);

#endif
