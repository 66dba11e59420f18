/* child.h - running a program to completion: the one way prestart starts a
 * child process (after_upgrade hooks, Alembic for .py revisions, Alembic's
 * offline mode).  The application itself is not a child: it replaces
 * prestart (exec.h).
 *
 * No shell: argv[0] is searched in PATH.  The child gets prestart's
 * environment and working directory, default signal dispositions and an
 * empty signal mask; prestart's own descriptors are close-on-exec.
 */
#ifndef PRESTART_CHILD_H
#define PRESTART_CHILD_H

#include <signal.h>

#include "prestart/util.h"

struct child_opts {
	/* How error messages name the child: "hook 'x'", "'alembic upgrade
	 * head'".  Required. */
	const char *what;
	/* A short name for log events ("alembic"): the output lines below,
	 * and "<label>_kill" when kill_after_ms runs out.  Required with
	 * log_output; with kill_after_ms, NULL kills without a log event. */
	const char *label;
	/* 1: the child's stdout and stderr are read through pipes and each
	 * line is logged as the event <label> ("<label>: <line>", with the
	 * fields stream and line); a line longer than 16 KiB is logged in
	 * pieces.  A child that cannot exec says why on its stderr.  0: the
	 * child writes to prestart's own stdout and stderr. */
	int log_output;
	/* With log_output: called with each non-empty stderr line (without
	 * its line end) after it is logged.  May be NULL. */
	void (*on_stderr_line)(const char *line, void *arg);
	void *arg;
	/* Both set (with log_output 0): the child's stdout and stderr are
	 * read through pipes and appended whole to these buffers, not logged.
	 * A child that cannot exec says why in capture_err. */
	struct sbuf *capture_out, *capture_err;
	/* 1: the child's stdin is /dev/null; 0: prestart's own. */
	int stdin_null;
	/* The signal handler's flag: a signal recorded here is forwarded to
	 * the child, once.  May be NULL. */
	volatile sig_atomic_t *stop;
	/* After forwarding, SIGKILL a child still alive this long after; 0:
	 * wait for it however long it takes. */
	long long kill_after_ms;
};

/* How a child ended. */
struct child_exit {
	int status;     /* as waitpid() reports it */
	int exec_errno; /* the child could not exec argv[0], for this reason
			 * (ENOENT: not found; it then exits 127, else 126); 0:
			 * it ran */
	int stopped;    /* the signal *stop recorded, or 0 */
};

/* Run argv (NULL-terminated) to completion.  Returns 0 with *x filled once
 * the child has been reaped; -1 with e filled (ERR_FAILED, "cannot start
 * <what>: ..." or "cannot wait for <what>: ...") otherwise. */
int child_run(char *const argv[], const struct child_opts *o, struct child_exit *x,
	      struct err *e);

/* Judge how a child described as `what` ended: 0 when it exited 0;
 * otherwise -1 with e filled: 128+N "stopped by signal N while running
 * <what>" when a signal stopped us, else ERR_FAILED "<what> exited with
 * status S" (" (command not found)" for 127, ": <detail>" when detail is
 * not NULL) or "<what> was killed by signal N". */
int child_check(const struct child_exit *x, const char *what, const char *detail,
		struct err *e);

#endif
