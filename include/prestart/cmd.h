/* cmd.h - what main.c hands to each command (src/cmd_*.c), and the steps
 * they share: load and validate everything, connect, read the version table.
 * Commands return the process exit status (SPEC §6).
 */
#ifndef PRESTART_CMD_H
#define PRESTART_CMD_H

#include <signal.h>

#include "prestart/config.h"
#include "prestart/db.h"
#include "prestart/dburl.h"
#include "prestart/graph.h"
#include "prestart/health.h"
#include "prestart/script.h"
#include "prestart/status.h"
#include "prestart/wait.h"

struct compiled_run;

struct cli {
	struct config_flags flags;
	const char *command;
	struct strlist args;   /* positional arguments of the command */
	char **app;            /* argv after "--", or NULL */
	int verbose;
	int indicate_current;  /* history -i */
	int sql;               /* --sql */
	int purge;             /* stamp --purge */
	int splice;            /* revision --splice */
	const char *range;     /* history -r */
	const char *message;   /* -m */
	const char *head;      /* revision --head */
	const char *branch_label;
	const char *depends_on;
	const char *rev_id;
	const char *version_path;
	const char *timeout;   /* healthcheck --timeout */
	struct strlist dialects; /* compile --dialect */
	const char *render_url;  /* compile --url */
	struct strlist xargs;    /* compile -x */
};

struct ctx {
	struct cli *cli;
	struct config cfg;
	int cfg_loaded;
	struct dburl url;
	int url_parsed;
	struct revision_set revs;
	struct graph *g;
	/* The --wait-for targets, parsed (validated) by ctx_load, with one
	 * more slot for the database itself; wait_targets counts those in use. */
	struct wait_target *targets;
	size_t wait_targets;
	struct db db;
	int db_opened;
	struct status st;
	struct health *health;
	volatile sig_atomic_t *stop;
	struct err e;
	int pending_marker;    /* the last ctx_read_heads saw the marker table */
	int may_reconnect;     /* ctx_read_heads may replace a lost connection
				* (nothing held on it: no lock, no transaction) */
};

/* Set by the signal handler: the number of the signal that asked us to stop. */
extern volatile sig_atomic_t g_stop;
/* The connection whose running statement a signal cancels (or NULL). */
extern struct db *volatile g_cancel_db;

/* Read configuration, parse the URL, load the scripts and build the graph:
 * everything that can be validated before waiting or connecting.
 * want_scripts = 0 skips the scripts. Returns 0 or an exit status (with the
 * error logged). */
int ctx_load(struct ctx *c, int want_scripts);
/* Exit 2 unless a database is named somewhere (a URL, or libpq's PG*
 * variables). Returns 0 or an exit status. */
int ctx_need_db(struct ctx *c);
/* Connect to the database (waiting for it under --wait-timeout when it is
 * not ready yet). Returns 0 or an exit status. */
int ctx_connect(struct ctx *c);
/* Close the connection and open it again with the same URL and options
 * (after the server went away).  Returns 0 when connected, 1 when the
 * server is not ready yet (e says why), -1 when waiting will not help (e
 * filled, ERR_USAGE).  Logs nothing. */
int ctx_reconnect(struct ctx *c, struct err *e);
/* Read the version table; every head must be known to the scripts (exit 3
 * otherwise). *exists tells whether the table exists. Returns 0 or an exit
 * status. */
int ctx_read_heads(struct ctx *c, struct strlist *heads, int *exists);
/* Under the lock, after ctx_read_heads saw the marker table: refuse (exit
 * 3) when it names an interrupted non-transactional revision, saying what
 * to check and what to stamp.  stamping = 1: log that the marker is about
 * to be cleared instead.  Returns 0 or an exit status. */
int ctx_check_pending(struct ctx *c, int stamping);
void ctx_release(struct ctx *c);

/* Log c->e as an error and return its exit status. */
int ctx_fail(struct ctx *c);
/* Log a usage error and return 2. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print to stdout (data commands). */
void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
int cmd_status(struct ctx *c);
int cmd_healthcheck(struct ctx *c);
int cmd_revision(struct ctx *c);
int cmd_merge(struct ctx *c);
int cmd_compile(struct ctx *c);

enum move { MOVE_UP, MOVE_DOWN, MOVE_STAMP };

/* Read the version table and plan; when there is work: lock (polling, and
 * stopping early when another process did it), re-read, re-plan, apply.
 * Already there: one query, no lock.  *p receives the final plan.  Returns
 * 0 or an exit status. */
/* Offline mode (--sql) of upgrade, downgrade (how: enum move) and stamp,
 * after ctx_load(): print the SQL the online run would execute, with no
 * connection; .py revisions are handed to `alembic ... --sql`.  Returns 0 or
 * an exit status. */
int cmd_offline(struct ctx *c, int how);

int cmd_migrate_locked(struct ctx *c, int how, const char *target, struct plan *p);

/* Apply plan p (already computed) under the current connection with the
 * configured transaction mode; logs the summary. Returns 0 or an exit
 * status. Used by upgrade, downgrade, stamp and run. */
int cmd_apply_plan(struct ctx *c, const struct plan *p, const char *what);

/* Apply a plan holding Alembic .py revisions by running Alembic (how:
 * MOVE_UP or MOVE_DOWN; target: the user's), then check that the version
 * table reached p->end_heads. Returns 0 or an exit status. */
int cmd_delegate_plan(struct ctx *c, const struct plan *p, int how, const char *target);

/* ---- SPEC §7.5: .py revisions run from compiled SQL (ctx_compiled.c) ---- */

/* Apply a plan holding .py revisions (how: MOVE_UP or MOVE_DOWN; target:
 * the user's): the revisions with a fresh compiled file for the database's
 * dialect run natively, the others through Alembic, each stretch of them
 * one `alembic upgrade|downgrade <rev>`, in plan order and under the lock
 * already held.  With require_compiled, a revision without a fresh file is
 * exit 3 before anything runs.  Returns 0 or an exit status. */
int ctx_compiled_apply(struct ctx *c, const struct plan *p, int how, const char *target);

/* For `--sql`: when every .py step of p has a fresh compiled file, set
 * *ready, fill *run (the files) and *native (p's steps running them);
 * release both with plan_release() and compiled_run_release().  Otherwise
 * *ready = 0 and Alembic renders the script.  With require_compiled, a
 * step without a fresh file is exit 3, naming each.  Returns 0 or an exit
 * status. */
int ctx_compiled_offline(struct ctx *c, const struct plan *p, struct compiled_run *run,
			 struct plan *native, int *ready);

#endif
