/* delegate.h - applying Alembic .py revisions by running Alembic itself
 * (SPEC §3.2).
 *
 * prestart reads .py revisions without Python, but cannot run them: a plan
 * with any .py step is handed whole to `<alembic_command> [-c INI] upgrade
 * TARGET` (or downgrade) while prestart holds its own lock.  The child gets
 * prestart's environment and working directory; each line it writes on
 * stdout or stderr becomes one log event "alembic".  The caller re-reads
 * the version table afterwards: Alembic's exit status alone does not prove
 * the database is where the plan said it would be.
 */
#ifndef PRESTART_DELEGATE_H
#define PRESTART_DELEGATE_H

#include <signal.h>

#include "prestart/plan.h"
#include "prestart/util.h"

/* A line of Alembic's output saying a statement failed for a lock timeout
 * or a deadlock (SPEC §7.2): "55P03" or "40P01", else NULL.  Pure. */
const char *delegate_lock_failure_line(const char *line);

/* The start of an Alembic command line: `command` (alembic_command; NULL
 * or empty: "alembic") split like a hook, then "-c ini" when ini is not
 * NULL.  ERR_USAGE, prefixed "alembic_command", when it does not split. */
int delegate_argv(const char *command, const char *ini, struct strlist *argv, struct err *e);

struct delegate_opts {
	const char *command;  /* alembic_command, split like a hook; NULL: "alembic" */
	const char *ini;      /* passed as -c; NULL: Alembic finds ./alembic.ini */
	volatile sig_atomic_t *stop; /* SIGTERM/SIGINT recorded here are forwarded */
	long long kill_after_ms; /* after forwarding, SIGKILL a child still alive;
				  * 0: 10 s; negative: never */
	/* May be NULL; else room for 6 bytes, set to "55P03" or "40P01" when a
	 * line of the child's output reports a lock timeout or a deadlock
	 * (delegate_lock_failure_line), "" otherwise. */
	char *lock_failure;
	/* 1: the child writes to prestart's own stdout and stderr (offline
	 * mode: its output is the script), nothing is logged, and a command
	 * that cannot be started is ERR_USAGE "'x' was not found on PATH" or
	 * "'x' cannot be executed: <reason>".  0: each line of its output is
	 * logged as the event "alembic". */
	int pass_output;
	/* Not NULL: the database prestart locked, for env.py wherever it
	 * looks: exported as DATABASE_URL, and as sqlalchemy.url in a copy of
	 * the ini that -c names (alembic_ini.h; the user's file is never
	 * written). */
	const char *database_url;
	/* 1: database_url is the ini's own sqlalchemy.url (interpolated):
	 * the ini needs no copy. */
	int url_from_ini;
	/* What the log's "running ..." line says instead of the command line
	 * (an internal program's, not worth reading); NULL: the command. */
	const char *shown;
};

struct alembic_ini;
/* delegate_argv for o (o->command, o->ini), with o->database_url in the
 * copy of the ini *ai names; alembic_ini_release(ai) once the child has
 * ended.  0 or -1 with e filled. */
int delegate_argv_opts(const struct delegate_opts *o, struct strlist *argv,
		       struct alembic_ini *ai, struct err *e);

/* The Alembic command of a direction: "upgrade" or "downgrade". */
const char *delegate_verb(enum dir dir);

/* Run `<command> [-c ini] upgrade|downgrade <target>` (by dir) to
 * completion (child.h), its output logged line by line.  Returns 0 when it exits 0; -1 with ERR_USAGE for a
 * command that does not split, ERR_FAILED naming the command and its exit
 * status (127: not found), or 128+N when a signal N stopped us (the child
 * got the signal too and has been reaped). */
int delegate_run(const struct delegate_opts *o, enum dir dir, const char *target,
		 struct err *e);

/* The one runner under delegate_run, for any NULL-terminated command line
 * (offline mode builds Alembic's with delegate_argv; `prestart compile`
 * runs Python this way, o->command and o->ini unused).  Same returns. */
int delegate_run_argv(const struct delegate_opts *o, char **argv, struct err *e);

#endif
