/* run and wait: the pipeline of SPEC §4. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/child.h"
#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/exec.h"
#include "prestart/log.h"
#include "prestart/wait.h"

/* The database joins the --wait-for targets ctx_load parsed. */
static void add_db_target(struct ctx *c)
{
	wait_target_from_db(&c->url, &c->targets[c->wait_targets++]);
}

/* Wait for the --wait-for targets and the database under one deadline. */
static int wait_everything(struct ctx *c)
{
	long long t0 = now_ms();

	if (!c->wait_targets)
		return 0;
	status_set_phase(&c->st, PHASE_WAITING);
	if (wait_all(c->targets, c->wait_targets, c->cfg.wait_timeout_ms, 0, c->stop, &c->st,
		     &c->e) < 0)
		return ctx_fail(c);
	c->st.wait_ms = now_ms() - t0;
	return 0;
}

static int start_health(struct ctx *c)
{
	if (!c->cfg.health_addr)
		return 0;
	if (health_start(&c->health, c->cfg.health_addr, &c->st, &c->e) < 0)
		return ctx_fail(c);
	log_event(LOG_INFO, "health", (struct log_field[]){ LFS("addr", c->cfg.health_addr), { 0 } },
		  "health endpoint on %s", c->cfg.health_addr);
	return 0;
}

/* Release the lock, the connection and the health socket before exec: the
 * application may bind the same port.  Returns only on failure (126/127). */
/* A mistyped APP fails before anything waits or migrates: the exit code
 * exec would give (127, 126), and the database untouched. */
static int check_application(struct ctx *c)
{
	if (c->cli->app && exec_resolve(c->cli->app[0], &c->e))
		return ctx_fail(c);
	return 0;
}

static int exec_application(struct ctx *c, const char *rev)
{
	char **app = c->cli->app;
	struct err e = { 0 };
	int rc;

	ctx_release(c);
	log_event(LOG_INFO, "exec", (struct log_field[]){ LFS("command", app[0]), { 0 } },
		  "exec %s", app[0]);
	rc = exec_app(app, rev, &e);
	log_event(LOG_ERROR, "exec_failed", (struct log_field[]){ LFI("exit_code", rc), { 0 } },
		  "%s", e.msg);
	return rc;
}

/* wait [--head] [-- APP]: the wait step alone; --head also until the
 * database is at head, migrated by someone else (SPEC §7.4). */
int cmd_wait(struct ctx *c)
{
	char *rev = NULL;
	int rc;

	if ((rc = check_application(c)))
		return rc;
	add_db_target(c);
	if (!(rc = start_health(c)))
		rc = wait_everything(c);
	if (!rc && c->cli->wait_head && !(rc = ctx_connect(c)))
		rc = ctx_wait_head(c, c->cfg.phase == ROLLOUT_EXPAND, &rev);
	if (!rc) {
		status_set_phase(&c->st, PHASE_DONE);
		log_event(LOG_INFO, "ready", NULL, "all dependencies are ready");
	}
	if (!rc && c->cli->app)
		rc = exec_application(c, rev);
	free(rev);
	return rc;
}

/* Run one hook to completion; its output goes where prestart's does. */
static int run_hook(struct ctx *c, const char *line)
{
	struct strlist argv = { 0 };
	struct child_opts o = { 0 };
	struct child_exit x;
	char *what = xasprintf("hook '%s'", line);
	int rc = -1;

	o.what = what;
	o.stop = c->stop;
	if (exec_split(line, &argv, &c->e) == 0 && child_run(argv.v, &o, &x, &c->e) == 0)
		rc = child_check(&x, what, NULL, &c->e);
	strlist_free(&argv);
	free(what);
	return rc;
}

static int run_hooks(struct ctx *c)
{
	for (size_t i = 0; i < c->cfg.after_upgrade.n; i++) {
		const char *h = c->cfg.after_upgrade.v[i];
		long long t0 = now_ms();

		log_event(LOG_INFO, "hook", (struct log_field[]){ LFS("command", h), { 0 } },
			  "running hook: %s", h);
		if (run_hook(c, h) < 0)
			return ctx_fail(c);
		log_event(LOG_INFO, "hook_done",
			  (struct log_field[]){ LFS("command", h), LFI("duration_ms", now_ms() - t0),
						{ 0 } },
			  "hook done in %lld ms: %s", now_ms() - t0, h);
	}
	return 0;
}

/* One line that says what this run will do, before it does anything. */
static void log_config(struct ctx *c)
{
	struct revptrs heads = { 0 };
	struct strlist ids = { 0 };
	char *h, *dirs = strlist_join(&c->cfg.version_locations, ",");
	char wait[32], lock[32];

	graph_heads(c->g, &heads);
	for (size_t i = 0; i < heads.n; i++)
		strlist_push(&ids, heads.v[i]->id);
	h = strlist_join(&ids, ",");
	snprintf(wait, sizeof(wait), c->cfg.wait_timeout_ms ? "%lld ms" : "forever",
		 c->cfg.wait_timeout_ms);
	snprintf(lock, sizeof(lock), c->cfg.lock_timeout_ms ? "%lld ms" : "forever",
		 c->cfg.lock_timeout_ms);
	log_event(LOG_INFO, "config",
		  (struct log_field[]){ LFS("database", c->url.masked), LFS("scripts", dirs),
					LFI("revisions", graph_count(c->g)), LFS("heads", h),
					LFS("version_table", c->cfg.version_table),
					LFI("wait_timeout_ms", c->cfg.wait_timeout_ms),
					LFI("lock_timeout_ms", c->cfg.lock_timeout_ms),
					LFS("transaction", c->cfg.transaction_per_migration
							       ? "per-migration" : "per-run"),
					{ 0 } },
		  "database %s, %zu revision%s in %s (head %s), version table %s, "
		  "wait %s, lock wait %s, one transaction per %s",
		  c->url.masked, graph_count(c->g), graph_count(c->g) == 1 ? "" : "s", dirs,
		  *h ? h : "<base>", c->cfg.version_table, wait, lock,
		  c->cfg.transaction_per_migration ? "revision" : "run");
	free(h);
	free(dirs);
	strlist_free(&ids);
	revptrs_free(&heads);
}

int cmd_run(struct ctx *c)
{
	/* SPEC §7.3: run judges a database ahead of the scripts by
	 * --if-ahead (as upgrade to head does). */
	struct migrate_request rq = { .dir = DIR_UP, .target = "heads",
				      .read_flags = READ_AHEAD_OK };
	struct plan p;
	int rc;
	char *rev = NULL;

	memset(&p, 0, sizeof(p));
	/* SPEC §9.4: the expand phase holds the contract revisions back */
	rq.expand = c->cfg.phase == ROLLOUT_EXPAND;
	for (size_t i = 0; i < c->cfg.after_upgrade.n; i++) {
		struct strlist argv = { 0 };

		rc = exec_split(c->cfg.after_upgrade.v[i], &argv, &c->e) < 0;
		strlist_free(&argv);
		if (rc)
			return ctx_fail(c);
	}
	if ((rc = check_application(c)) || (rc = ctx_tenants_refuse(c)))
		return rc;
	log_config(c);
	/* With no other target and a database whose connection is its
	 * readiness check (PostgreSQL), connecting is the check (one
	 * connection on the fast path); ctx_connect waits when it is not
	 * ready yet. */
	if (c->cfg.wait_for.n > 0 || !db_kind_supports(c->url.kind, DB_CONNECT_IS_PROBE))
		add_db_target(c);
	if ((rc = start_health(c)) || (rc = wait_everything(c)) || (rc = ctx_connect(c)))
		goto out;
	/* SPEC §9.5: every tenant of the shard at head, or no application */
	if (c->cfg.tenants) {
		if ((rc = ctx_tenants_run(c)))
			goto out;
		if (c->cfg.after_upgrade.n)
			log_event(LOG_INFO, "hooks_skipped", NULL,
				  "after_upgrade hooks are not run over tenants");
		status_set_phase(&c->st, PHASE_DONE);
		goto out;
	}
	if ((rc = ctx_migrate(c, &rq, &p)))
		goto out;
	/* Hooks follow an upgrade that applied something (here or, when the
	 * plan is empty, nowhere): a restart at head, or one that found
	 * another replica's work done, runs none. */
	if (p.n > 0 && (rc = run_hooks(c)))
		goto out;
	if (p.n == 0 && c->cfg.after_upgrade.n)
		log_event(LOG_INFO, "hooks_skipped", NULL,
			  "after_upgrade hooks not run: no revision was applied");
	rev = strlist_join(&p.end_heads, ",");
	status_set_phase(&c->st, PHASE_DONE);
out:
	plan_release(&p);
	if (rc) {
		free(rev);
		return rc;
	}
	if (c->cli->app)
		rc = exec_application(c, rev);
	free(rev);
	return rc;
}
