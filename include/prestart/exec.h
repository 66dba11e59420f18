/* exec.h - starting programs without a shell: the application (exec, SPEC
 * §4.8) and after_upgrade hooks (fork + exec + wait).
 */
#ifndef PRESTART_EXEC_H
#define PRESTART_EXEC_H

#include <signal.h>

#include "prestart/util.h"

/* Split a hook command line into words, shell-like but without a shell:
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

/* Run a hook to completion.  SIGTERM/SIGINT recorded in *stop are forwarded
 * to the child.  Returns 0 when it exits 0; -1 with ERR_FAILED naming the
 * command and its status, or 128+N when stopped. */
int exec_hook(const char *line, volatile sig_atomic_t *stop, struct err *e);

#endif
