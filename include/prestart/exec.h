/* exec.h - programs without a shell: splitting a configured command line,
 * and replacing prestart with the application (SPEC §4.8).  Children that
 * prestart waits for (hooks, Alembic) are child.h's.
 */
#ifndef PRESTART_EXEC_H
#define PRESTART_EXEC_H

#include <signal.h>

#include "prestart/util.h"

/* Split a command line (a hook, alembic_command) into words, shell-like but without a shell:
 * blanks separate words, '...' and "..." quote, backslash escapes the next
 * character.  No variables, globs or redirections.  ERR_USAGE on an
 * unterminated quote or an empty command. Pure. */
int exec_split(const char *line, struct strlist *argv, struct err *e);

/* Reset signal dispositions and the signal mask to what a new process
 * expects (default handlers, nothing blocked).  Called right before exec. */
void exec_reset_signals(void);

/* Would exec_app find `name` (execvp's search of PATH, or the path as it
 * is when it has a slash)?  0; 127 "command not found" or 126 "not
 * executable" with e filled, as exec_app would fail later.  Asked before
 * anything waits or migrates, so that a mistyped APP fails at once. */
int exec_resolve(const char *name, struct err *e);

/* Replace this process with argv[0] (searched in PATH) with the
 * environment unchanged plus PRESTART_REVISION=revision.  Only returns on
 * failure: 127 when not found, 126 when not executable (e filled). */
int exec_app(char *const argv[], const char *revision, struct err *e);

#endif
