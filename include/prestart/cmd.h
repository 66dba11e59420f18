/* cmd.h - the commands main.c dispatches to (src/cmd_*.c).  Each runs
 * after main.c has parsed the command line and done what the command's
 * entry in its table asks (ctx_load for NEED_CONFIG and NEED_SCRIPTS,
 * ctx_need_db for NEED_DB), and returns the process exit status (SPEC §6).
 */
#ifndef PRESTART_CMD_H
#define PRESTART_CMD_H

/* Only pointers: the commands include ctx.h themselves. */
struct ctx;

int cmd_run(struct ctx *c);
int cmd_wait(struct ctx *c);
int cmd_upgrade(struct ctx *c);
int cmd_downgrade(struct ctx *c);
int cmd_stamp(struct ctx *c);
int cmd_current(struct ctx *c);
int cmd_history(struct ctx *c);
int cmd_heads(struct ctx *c);
int cmd_branches(struct ctx *c);
int cmd_show(struct ctx *c);
int cmd_check(struct ctx *c);
int cmd_rollback(struct ctx *c);
int cmd_status(struct ctx *c);
int cmd_healthcheck(struct ctx *c);
int cmd_revision(struct ctx *c);
int cmd_merge(struct ctx *c);
int cmd_init(struct ctx *c);
int cmd_compile(struct ctx *c);
int cmd_lint(struct ctx *c);
int cmd_archives(struct ctx *c);

/* What compile lends lint (--compile): every .py revision rendered for
 * PostgreSQL (sqlite: SQLite) by the project's Alembic in a temporary
 * directory, nothing written into the project.  Returns 0 with *report
 * filled (release with compiled_output_release()), or the exit status
 * after reporting why (no Python, env.py failed, ...). */
struct compiled_output;
int compile_render_temp(struct ctx *c, int sqlite, struct compiled_output *report);

#endif
