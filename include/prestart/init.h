/* init.h - starting a project (src/cmd_init.c): the prestart.ini that
 * `prestart init` writes, the versions directory that `revision` and `merge`
 * create on first use, and what an error about a missing script directory
 * adds so that a newcomer knows the way out.  The command itself,
 * cmd_init(), is declared with the others in cmd.h.
 */
#ifndef PRESTART_INIT_H
#define PRESTART_INIT_H

#include "prestart/cmd.h"

/* The text of the prestart.ini that `init` writes: every [prestart] key that
 * config_load() knows, commented out with its default, so that uncommenting
 * any line changes nothing.  A script_location other than "migrations" is
 * written uncommented ('%' doubled for the ini's interpolation).  Pure;
 * the caller frees the result. */
char *init_config_text(const char *script_location);

/* For revision and merge, after ctx_load(c, 0): read the scripts and build
 * the graph as ctx_load(c, 1) does, except that the one configured version
 * directory may be missing when init_make_versions_dir() could create it
 * (a new project, or a clone that lost its empty directory): the project
 * then has no revisions yet.  Nothing is created here.  Returns 0 or an
 * exit status (error logged). */
int init_load_scripts(struct ctx *c);

/* Before a new revision file is written to `dir`: when dir does not exist
 * and is the one configured version directory, create it (and the script
 * location above it, when that is missing and its own parent exists) and
 * say so in the log.  Anything else is left alone (0).  Returns 0, or -1
 * with c->e filled. */
int init_make_versions_dir(struct ctx *c, const char *dir);

/* After scriptdir_load() failed in c->e: when the failure is a missing
 * version directory, append the way out to c->e.msg (prestart init, --dir
 * or PRESTART_SCRIPT_LOCATION, the config file that named the directory,
 * an Alembic project's alembic.ini).  Otherwise c->e is left as it is. */
void init_explain_missing(struct ctx *c);

#endif
