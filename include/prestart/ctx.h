/* ctx.h - what main.c hands to each command (src/cmd_*.c), and the steps
 * they share (src/ctx*.c): load and validate everything, connect, read the
 * version table, migrate under the lock.  Like the commands, these steps
 * return 0 or the process exit status (SPEC §6), with the error logged.
 */
#ifndef PRESTART_CTX_H
#define PRESTART_CTX_H

#include <signal.h>

#include "prestart/compiled.h"
#include "prestart/config.h"
#include "prestart/db.h"
#include "prestart/dburl.h"
#include "prestart/graph.h"
#include "prestart/health.h"
#include "prestart/phase.h"
#include "prestart/script.h"
#include "prestart/status.h"
#include "prestart/wait.h"

struct migrate_cache;

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
	int connects;          /* the command connects: ctx_load checks the
				* database URL (the others check it only when
				* they connect, as history -i does) */
	int wait_head;         /* wait --head */
	const char *compat;    /* revision --compat */
	const char *format;    /* lint --format */
	int compile;           /* lint --compile */
	int resolve_dependencies; /* heads --resolve-dependencies */
};

struct ctx {
	struct cli *cli;
	struct config cfg;
	int cfg_loaded;
	struct dburl url;
	int url_parsed;
	struct revision_set revs;
	struct graph *g;
	/* .py revisions bound to their compiled SQL, on first use
	 * (ctx_bind_plan); bind.dir is NULL until then. */
	struct compiled_binder bind;
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
	/* ctx_read_heads found the database ahead of the scripts and the
	 * ledger proved it safe to run on (SPEC §7.3, --if-ahead run). */
	int ahead;
	/* The expand phase (SPEC §9.4), set by the last expand plan
	 * (ctx_plan_expand): the pending revisions held back, in order, with
	 * why, and the Alembic target that names the subset applied (NULL when
	 * none does: several heads with some held back). */
	struct phase_split split;
	char *expand_target;
};

/* Set by the signal handler: the number of the signal that asked us to stop. */
extern volatile sig_atomic_t g_stop;
/* The connection whose running statement a signal cancels (or NULL). */
extern struct db *volatile g_cancel_db;

/* Read configuration, parse the URL, load the scripts and build the graph:
 * everything that can be validated before waiting or connecting.
 * want_scripts = 0 skips the scripts. Returns 0 or an exit status (with the
 * error logged).  (src/ctx_load.c, as the two below) */
int ctx_load(struct ctx *c, int want_scripts);
/* The one script loader, after ctx_load(c, 0): read the revision files,
 * resolve .py metadata (through Alembic where only Python can) and build
 * the graph.  may_be_new (revision and merge): the one configured version
 * directory may be missing when ctx_make_versions_dir() could create it
 * (a new project: no revisions yet), and .py metadata is read without
 * Python.  Nothing is created here.  Returns 0 or an exit status. */
int ctx_load_scripts(struct ctx *c, int may_be_new);
/* Before a new revision file is written to `dir`: when dir does not exist
 * and is the one configured version directory, create it (and the script
 * location above it, when that is missing and its own parent exists) and
 * say so in the log.  Anything else is left alone (0).  Returns 0, or -1
 * with c->e filled. */
int ctx_make_versions_dir(struct ctx *c, const char *dir);
/* Parse the database URL, once, and check what depends on its engine.
 * Returns 0 or an exit status.  (src/ctx.c) */
int ctx_parse_url(struct ctx *c);
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
/* Close the connection; no signal may cancel through it any more. */
void ctx_disconnect(struct ctx *c);

/* ctx_read_heads' flags. */
enum {
	/* Nothing is held on the connection yet (no lock, no transaction):
	 * a lost one may be replaced, waiting again under --wait-timeout. */
	READ_MAY_RECONNECT = 1 << 0,
	/* Revisions the scripts do not know are judged by --if-ahead: when
	 * the ledger proves them safe, warn, set c->ahead and return 0. */
	READ_AHEAD_OK = 1 << 1,
	/* Revisions the scripts do not know are returned, not refused
	 * (rollback, and stamp --purge, which replaces whatever is there). */
	READ_KEEP_UNKNOWN = 1 << 2,
};

/* Read the version table (src/ctx_versions.c, as ctx_check_pending);
 * every head must be known to the scripts (exit 3 otherwise).  *exists (may be NULL) tells whether the table exists;
 * *marked (may be NULL) whether the marker table of an interrupted
 * non-transactional revision exists.  flags: READ_*.  Returns 0 or an exit
 * status. */
int ctx_read_heads(struct ctx *c, struct strlist *heads, int *exists, int *marked,
		   unsigned flags);
struct db_probe;
/* ctx_read_heads with a probe riding on the same query (db_probe; NULL:
 * none). */
int ctx_read_heads_probe(struct ctx *c, struct strlist *heads, int *exists, int *marked,
			 unsigned flags, const struct db_probe *probe);
/* Under the lock, after ctx_read_heads saw the marker table (*marked):
 * refuse (exit 3) when it names an interrupted non-transactional revision,
 * saying what to check and what to stamp.  stamping = 1: log that the
 * marker is about to be cleared instead.  Returns 0 or an exit status. */
int ctx_check_pending(struct ctx *c, int stamping);
struct ledger;
struct lock;
struct ledger_ahead;

/* The ledger (SPEC §7.3), src/ctx_ledger.c.  Is it in use for this
 * project and database (the `ledger` setting; by default on, except for
 * .py projects on SQLite)? */
int ctx_ledger_wanted(const struct ctx *c);
/* Fill *l for the configured version table (ledger_release() it); l->on
 * follows ctx_ledger_wanted. */
void ctx_ledger_init(struct ctx *c, struct ledger *l);
/* SPEC §9.3: fill *a and return it when archiving is on (PostgreSQL, the
 * ledger in use, --archive-limit not 0), else NULL (nothing to release). */
struct archive;
const struct archive *ctx_archive_init(struct ctx *c, const struct ledger *l, struct archive *a);
/* Drop the archives older than --archive-retention, under the lock; a
 * failure is a warning. */
void ctx_archive_prune(struct ctx *c, const struct archive *a);
/* The checksums of the fast path (SPEC §7.3, --checksum): the probe's SQL
 * for the version read (NULL: none; ctx_ledger_check_at_head reads the
 * ledger itself, as on SQLite, where that costs no round trip), then the
 * check on what it returned.  Returns 0 or an exit status (--checksum
 * fail: exit 3). */
char *ctx_ledger_sums_sql(struct ctx *c);
int ctx_ledger_check_at_head(struct ctx *c, const struct strlist *sums);
/* Read the ledger and judge heads (ledger_judge_ahead).  0, or -1 with
 * c->e filled. */
int ctx_judge_ahead(struct ctx *c, const struct strlist *heads, struct ledger_ahead *a);
/* Under the lock, before a plan is applied to the version table at
 * heads: create the ledger when missing (one warning when it cannot be),
 * drop the rows of revisions no longer applied, then compare the
 * checksums of applied revisions (--checksum).  Returns 0 or an exit
 * status (3 for --checksum fail). */
int ctx_ledger_prepare(struct ctx *c, struct ledger *l, const struct strlist *heads);
struct plan;
/* After Alembic applied the steps of p (a delegated stretch, the version
 * table verified at p->end_heads): record them in the ledger l (upgrade)
 * or remove their rows (downgrade), in one transaction of our own, one
 * commit after Alembic's.  Each row's duration is duration_ms shared
 * equally among the steps.  Never fails the run: a failure is one
 * warning, the revisions stay "not proven".  Always 0. */
int ctx_ledger_delegated(struct ctx *c, const struct ledger *l, const struct plan *p,
			 long long duration_ms);
struct ledger_rows;
/* The ledger's rows for the version table, for display (current -v,
 * history -v, status): a failure is logged as a warning, *rows left
 * empty, -1 returned. */
int ctx_ledger_rows(struct ctx *c, struct ledger_rows *rows);

/* Stop the health endpoint, close the connection, free what ctx_load
 * loaded; c may be partly loaded, and may be released twice. */
void ctx_release(struct ctx *c);

/* Are any of the loaded revisions Alembic .py files? */
int ctx_has_py(const struct ctx *c);

/* Log c->e as an error and return its exit status. */
int ctx_fail(struct ctx *c);
/* Log a usage error and return 2. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print to stdout (data commands).  A write error is remembered for
 * out_close(). */
void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Flush and close stdout, once, after the command (SPEC §7.6: output that
 * cannot be written is a failure).  Returns 0, or -1 with ERR_FAILED
 * "cannot write to stdout: <reason>" (a full disk, a closed pipe). */
int out_close(struct err *e);

/* What a command asks of the migration layer (src/ctx_migrate.c,
 * src/ctx_offline.c), which reads nothing else of the command line. */
struct migrate_request {
	int stamp;           /* write the version table only (stamp) */
	enum dir dir;        /* otherwise: upgrade or downgrade */
	const char *target;  /* upgrade, downgrade: the user's target (offline:
			      * "[FROM:]TO") */
	const struct strlist *revisions; /* stamp: the revisions given
					  * (offline: "[FROM:]TO" each) */
	int purge;           /* stamp --purge: revisions the scripts do not
			      * know are replaced, not refused */
	unsigned read_flags; /* more ctx_read_heads flags for the first read
			      * (READ_AHEAD_OK: run's --if-ahead) */
	int expand;          /* upgrade to heads: only the revisions the
			      * expand phase applies (--phase expand, SPEC
			      * §9.4); the others are held back */
};

/* Offline mode (--sql) of upgrade, downgrade and stamp, after ctx_load():
 * print the SQL the online run would execute, with no connection; a plan
 * with any step needing Alembic is handed to `alembic ... --sql`.  Returns
 * 0 or an exit status.  (src/ctx_offline.c) */
int ctx_offline(struct ctx *c, const struct migrate_request *rq);

/* Read the version table and plan; when there is work: lock (polling, and
 * stopping early when another process did it), re-read, re-plan, apply
 * each stretch of the plan with its runner (SQL here, Alembic for .py
 * revisions without compiled SQL).  Already there: one query, no lock.
 * *p receives the final plan (plan_release() it).  Returns 0 or an exit
 * status.  (src/ctx_migrate.c) */
int ctx_migrate(struct ctx *c, const struct migrate_request *rq, struct plan *p);

/* A request's plan from the version table (src/ctx_plan.c); not bound.
 * ctx_plan_from: plan rq from heads, 0 or -1 with c->e filled.
 * ctx_plan_read: read the version table (ctx_read_heads_probe with flags
 * and probe) and plan rq from it; with the database ahead (c->ahead) the
 * plan is empty, at its heads.  0 or an exit status.
 * ctx_replan: read it again, now that the lock is settled, and plan rq
 * from it: a marker of a non-transactional revision is judged when marked
 * is asked for (NULL: not).  0 or an exit status. */
int ctx_plan_from(struct ctx *c, const struct migrate_request *rq, const struct strlist *heads,
		  struct plan *p);
int ctx_plan_read(struct ctx *c, const struct migrate_request *rq, unsigned flags,
		  const struct db_probe *probe, int *exists, int *marked, struct plan *p);
int ctx_replan(struct ctx *c, const struct migrate_request *rq, unsigned keep,
	       struct strlist *heads, int *marked, struct plan *p);

/* The binding step (SPEC §7.5): give the .py steps of p the SQL of their
 * fresh compiled files for the database's dialect (compiled_bind; c->bind
 * is made on first use).  *fresh and *missing count the .py steps bound
 * and those left to Alembic.  Returns 0, or -1 with c->e filled (a
 * compiled file that cannot be read or does not parse).  (src/ctx_bind.c) */
int ctx_bind_plan(struct ctx *c, struct plan *p, size_t *fresh, size_t *missing);
/* Log each step of p left to Alembic, saying why; with require_compiled
 * that is one error line naming each, its file and why (exit 3, nothing
 * run).  missing: how
 * many there are.  Returns 0 or an exit status.  (src/ctx_bind.c) */
int ctx_report_unbound(struct ctx *c, const struct plan *p, size_t missing);

/* Before a command writes (SPEC §7.4): 0 at once (one query) when the
 * server takes writes; else, logged as a standby, wait for one under
 * --wait-timeout counted from *since (set to now_ms() when 0), connecting
 * again between tries.  Returns 0 or an exit status (124 at the deadline).
 * (src/ctx_ready.c) */
int ctx_wait_writable(struct ctx *c, long long *since);

/* The expand phase (SPEC §9.4), src/ctx_phase.c.  Plan the upgrade to
 * heads from `heads`, bind it (ctx_bind_plan) and classify each pending
 * revision from the upgrade SQL that would run (a .py revision without
 * fresh compiled SQL: its mark only), then split it (phase_expand_split):
 * *full receives the whole plan, *split the subset and the held-back
 * revisions.  0, or -1 with c->e filled. */
int ctx_phase_split(struct ctx *c, const struct strlist *heads, struct plan *full,
		    struct phase_split *split);
/* Each revision's class, classified once however many plans ask
 * (ctx_phase_split_cached); phase_cache_release() frees it. */
struct phase_cache {
	struct phase_cached {
		const struct revision *rev; /* the graph's */
		struct phase_class cls;
	} *v;
	size_t n, alloc;
};
/* ctx_phase_split, each revision classified only when cache (NULL: none)
 * does not know it yet, and then added to it. */
int ctx_phase_split_cached(struct ctx *c, const struct strlist *heads, struct plan *full,
			   struct phase_split *split, struct phase_cache *cache);
void phase_cache_release(struct phase_cache *pc);
/* The expand phase's plan from heads: the subset ctx_phase_split applies
 * (graph_plan_upgrade_only), c->split and c->expand_target replaced.  0,
 * or -1 with c->e filled. */
int ctx_plan_expand(struct ctx *c, const struct strlist *heads, struct plan *p);
/* Log each revision of c->split held back, by id and why, and hand the
 * list to the status (/status, /metrics). */
void ctx_report_deferred(struct ctx *c);

/* wait --head (SPEC §7.4), connected: poll the version table, without the
 * lock and without writing, until the database is at the scripts' heads,
 * under --wait-timeout (124); expand: until it is at the expand point
 * (ctx_plan_expand: nothing left that the expand phase applies).
 * *revision receives the heads reached (comma-separated, new string) on
 * success.  Returns 0 or an exit status.  (src/ctx_head.c) */
int ctx_wait_head(struct ctx *c, int expand, char **revision);

/* SPEC §9.5, src/ctx_tenants.c.  With cfg.tenants set: exit 2 unless
 * the engine has schemas (SQLite), else 0; without: 0. */
int ctx_tenants_refuse(struct ctx *c);
/* Connected: bring every tenant of the shard to head.  One survey (a few
 * queries for all tenants, no lock) finds those with work; each of them
 * is migrated under its own lock, in its own schema and transactions, on
 * --tenant-parallel connections, canary tenants first.  Returns 0 when
 * every tenant is at head, else an exit status (1 naming each failed
 * tenant; 3 when a revision would need Alembic; 128+N stopped). */
int ctx_tenants_run(struct ctx *c);
/* Connected: print the status JSON per tenant (current, pending).
 * Returns 0 or an exit status. */
int ctx_tenants_status(struct ctx *c);

/* The deploy-time guard (SPEC §9.3, guard.h), under the lock, after the
 * plan is bound and before its first statement: one catalog query for the
 * statements of p's SQL steps that rewrite or scan a table under a lock
 * blocking the application; a table over --guard-size is refused (exit 3,
 * nothing run) or, with --guard warn, logged.  Nothing on engines without
 * DB_HAS_CATALOG_SIZES, for stamps, or with --guard off.  Returns 0 or an
 * exit status.  (src/ctx_guard.c) */
int ctx_guard(struct ctx *c, const struct migrate_request *rq, const struct plan *p);
/* The same on connection db for plan p (the tenant runner's, SPEC §9.5):
 * tenant names the schema in log lines (NULL: none), tx_setup (NULL:
 * none) runs first in a transaction of the guard's own, rolled back after
 * the query (a tenant's SET LOCAL search_path).  Logs what passes; returns
 * 0, or -1 with e filled (ERR_SCRIPT: refused) and nothing logged. */
int ctx_guard_db(const struct ctx *c, struct db *db, const struct plan *p, const char *tenant,
		 const char *tx_setup, struct err *e);
/* The same with each revision's analysis from mc (NULL: made here). */
int ctx_guard_db_cached(const struct ctx *c, struct db *db, const struct plan *p,
			const char *tenant, const char *tx_setup, struct migrate_cache *mc,
			struct err *e);

#endif
