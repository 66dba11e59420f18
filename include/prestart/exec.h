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

/* Replace this process with argv[0] (searched in PATH) with the
 * environment unchanged plus PRESTART_REVISION=revision.  Only returns on
 * failure: 127 when not found, 126 when not executable (e filled). */
int exec_app(char *const argv[], const char *revision, struct err *e);

#endif
