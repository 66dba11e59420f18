/* init.h - starting a project (src/cmd_init.c): the prestart.ini that
 * `prestart init` writes.  The command itself, cmd_init(), is declared with
 * the others in cmd.h.
 */
#ifndef PRESTART_INIT_H
#define PRESTART_INIT_H


/* The text of the prestart.ini that `init` writes: every [prestart] key that
 * config_load() knows, commented out with its default, so that uncommenting
 * any line changes nothing.  A script_location other than "migrations" is
 * written uncommented ('%' doubled for the ini's interpolation).  Pure;
 * the caller frees the result. */
char *init_config_text(const char *script_location);

#endif
