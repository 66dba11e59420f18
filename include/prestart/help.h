/* help.h - the text of `prestart help`, `prestart help COMMAND` and
 * `COMMAND --help`, and the "did you mean" of a mistyped word.  Pure: no
 * I/O; main.c prints what these return.  The strings are static and
 * never freed. */
#ifndef PRESTART_HELP_H
#define PRESTART_HELP_H

#include <stddef.h>

/* The global usage: every command, every option, the targets, the exit
 * codes. */
const char *help_usage(void);

/* One command's help (usage, what it does, the options that apply, an
 * example, its exit codes) into buf; 0, or -1 when no command has that
 * name. */
int help_command(const char *name, char *buf, size_t size);

/* The candidate closest to word by edit distance (a transposition counts
 * one), when it is close enough to be a likely typo; else NULL.
 * candidates ends with NULL. */
const char *help_suggest(const char *word, const char *const *candidates);

/* The names help_command knows, NULL-terminated. */
const char *const *help_topics(void);

#endif
