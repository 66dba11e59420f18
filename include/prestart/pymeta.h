/* pymeta.h - Alembic .py revision metadata that only Python can compute,
 * asked of Alembic itself (SPEC §3.2).
 *
 * pyrev reads literal metadata without Python and marks the rest
 * (rev->unread: `branch_labels = (cli.CONTRACT_BRANCH,)`, a depends_on
 * assigned in a `try: import ... except ImportError` block).  When a Python
 * that can import Alembic is at hand, one child process loads every such
 * module as Alembic does (Script._from_path, after the alembic.ini's
 * prepend_sys_path) and reports each file's revision, down_revision,
 * branch_labels, depends_on and docstring; without one, the revision
 * scripts are refused, saying what to do.
 *
 * Interpreters tried, in order, until one imports Alembic: the one the
 * alembic_command runs (its first word when that is a python, else the
 * `#!` line of the script it names), then every `python3` on PATH (looked
 * up as execvp() does: PATH unset means /bin:/usr/bin).  Never a fixed
 * path: an image without Python on PATH has none.
 */
#ifndef PRESTART_PYMETA_H
#define PRESTART_PYMETA_H

#include <signal.h>

#include "prestart/script.h"

struct pymeta_opts {
	const char *alembic_command;  /* NULL: "alembic" */
	const char *ini;              /* the alembic.ini read, or NULL */
	volatile sig_atomic_t *stop;  /* SIGTERM/SIGINT recorded here stop the child */
};

/* Complete every revision of `set` whose rev->unread is set, with one
 * Python process for all of them, and log that it did ("read N
 * revisions' metadata with Python (...): files").  Nothing to complete:
 * returns 0 at once.  Errors (ERR_SCRIPT unless stopped by a signal,
 * 128+N): no Python with Alembic (the first file's reason, and what to
 * do), a module Python cannot load (its file and Python's error), values
 * that are not valid ids or labels. */
int pymeta_resolve(struct revision_set *set, const struct pymeta_opts *o, struct err *e);

/* The parsing half of pymeta_resolve(): apply `out`, the child's output
 * (one JSON object per line: path, and revision, down_revision,
 * branch_labels, depends_on, doc, or error), to the unread revisions of
 * `set`; `python` names the interpreter in messages.  Pure. */
int pymeta_apply(struct revision_set *set, const char *out, const char *python,
		 struct err *e);

#endif
