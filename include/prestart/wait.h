/* wait.h - waiting for the database and --wait-for targets (SPEC §4.3).
 *
 * Every target is waited on by its own thread under one deadline, with
 * exponential backoff and jitter (100 ms doubling to 5 s).  Each failed
 * attempt is logged with its reason, attempt number and elapsed time.
 */
#ifndef PRESTART_WAIT_H
#define PRESTART_WAIT_H

#include <signal.h>

#include "prestart/status.h"
#include "prestart/util.h"
#include "prestart/wait_target.h"

/* Wait for all targets in parallel.  timeout_ms 0 = forever.  Returns 0
 * when all are ready; -1 with ERR_TIMEOUT (naming what was not ready and
 * why), ERR_USAGE (a PostgreSQL failure that waiting will not fix, as
 * the driver judges it: bad password, missing database, unknown role, no
 * CONNECT privilege, bad parameters), ERR_FAILED
 * (no thread could be started), or kind 128+N when *stop became N (a
 * signal) while waiting.  `stop` and `st` may be NULL.  named_ms is the
 * wait a timeout error names: the whole --wait-timeout where timeout_ms is
 * what is left of it; 0 names timeout_ms. */
int wait_all(struct wait_target *targets, size_t n, long long timeout_ms, long long named_ms,
	     volatile sig_atomic_t *stop, struct status *st, struct err *e);

/* Pure helpers, exposed for the tests. */

/* The pause after failed attempt number `attempt` (1-based): the cap is
 * 100 ms doubled per attempt up to 5 s, and the pause is "equal jitter":
 * cap/2 plus `rnd` folded into [0, cap/2]. */
long long wait_backoff_ms(unsigned attempt, unsigned long long rnd);

#endif
