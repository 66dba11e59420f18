/* prestart - wait, lock, migrate, report, exec.  See README.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prestart/buildinfo.h"
#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/help.h"
#include "prestart/log.h"
#include "prestart/termlog.h"


enum {
	O_DBURL = 1, O_CONFIG, O_DIR, O_WAIT_TIMEOUT, O_WAIT_FOR, O_LOCK_TIMEOUT, O_HEALTH,
	O_LOGFMT, O_TPM, O_AFTER, O_LOCK_STRATEGY, O_HELP, O_VERSION, O_REQUIRE_COMPILED, O_TERMLOG,
	O_LEDGER_SCHEMA, O_IF_AHEAD, O_CHECKSUM, O_PHASE, O_TENANTS, O_TENANT_PARALLEL,
	O_TENANT_CANARY, O_TENANT_MAX_FAILURES, O_TENANT_SHARD, O_TENANT_SEARCH_PATH, O_GUARD,
	O_GUARD_SIZE, O_ARCHIVE_LIMIT, O_ARCHIVE_RETENTION, O_DDL_LOCK_TIMEOUT,
	O_DDL_RETRY_BUDGET, O_NO_TPM, O_NO_REQUIRE_COMPILED,
	/* command-local */
	O_VERBOSE, O_INDICATE, O_RANGE, O_SQL, O_PURGE, O_MESSAGE, O_HEAD, O_BRANCH_LABEL,
	O_DEPENDS_ON, O_REV_ID, O_SPLICE, O_VERSION_PATH, O_TIMEOUT, O_COMPAT,
	O_DIALECT, O_URL, O_XARG, /* compile */
	O_FORMAT, O_COMPILE, /* lint */
	O_RESOLVE_DEPS, /* heads */
	O_LOCAL_END
};

#define L(o) (1u << ((o) - O_VERBOSE))

struct option_def {
	const char *lng;
	char shrt;
	int has_arg;
	int id;
};

static const struct option_def options[] = {
	{ "database-url", 'd', 1, O_DBURL },
	{ "config", 'c', 1, O_CONFIG },
	{ "dir", 0, 1, O_DIR },
	{ "wait-timeout", 0, 1, O_WAIT_TIMEOUT },
	{ "wait-for", 0, 1, O_WAIT_FOR },
	{ "lock-timeout", 0, 1, O_LOCK_TIMEOUT },
	{ "ddl-lock-timeout", 0, 1, O_DDL_LOCK_TIMEOUT },
	{ "ddl-retry-budget", 0, 1, O_DDL_RETRY_BUDGET },
	{ "lock-strategy", 0, 1, O_LOCK_STRATEGY },
	{ "health-addr", 0, 1, O_HEALTH },
	{ "log-format", 0, 1, O_LOGFMT },
	{ "transaction-per-migration", 0, 0, O_TPM },
	{ "no-transaction-per-migration", 0, 0, O_NO_TPM },
	{ "after", 0, 1, O_AFTER },
	{ "termination-log", 0, 1, O_TERMLOG },
	{ "ledger-schema", 0, 1, O_LEDGER_SCHEMA },
	{ "if-ahead", 0, 1, O_IF_AHEAD },
	{ "checksum", 0, 1, O_CHECKSUM },
	{ "phase", 0, 1, O_PHASE },
	{ "tenants", 0, 1, O_TENANTS },
	{ "tenant-parallel", 0, 1, O_TENANT_PARALLEL },
	{ "tenant-canary", 0, 1, O_TENANT_CANARY },
	{ "tenant-max-failures", 0, 1, O_TENANT_MAX_FAILURES },
	{ "tenant-shard", 0, 1, O_TENANT_SHARD },
	{ "tenant-search-path", 0, 1, O_TENANT_SEARCH_PATH },
	{ "guard", 0, 1, O_GUARD },
	{ "guard-size", 0, 1, O_GUARD_SIZE },
	{ "archive-limit", 0, 1, O_ARCHIVE_LIMIT },
	{ "archive-retention", 0, 1, O_ARCHIVE_RETENTION },
	{ "help", 'h', 0, O_HELP },
	{ "version", 0, 0, O_VERSION },
	{ "verbose", 'v', 0, O_VERBOSE },
	{ "indicate-current", 'i', 0, O_INDICATE },
	{ "rev-range", 'r', 1, O_RANGE },
	{ "sql", 0, 0, O_SQL },
	{ "purge", 0, 0, O_PURGE },
	{ "message", 'm', 1, O_MESSAGE },
	{ "head", 0, 1, O_HEAD },
	{ "branch-label", 0, 1, O_BRANCH_LABEL },
	{ "depends-on", 0, 1, O_DEPENDS_ON },
	{ "rev-id", 0, 1, O_REV_ID },
	{ "splice", 0, 0, O_SPLICE },
	{ "version-path", 0, 1, O_VERSION_PATH },
	{ "timeout", 0, 1, O_TIMEOUT },
	{ "require-compiled", 0, 0, O_REQUIRE_COMPILED },
	{ "no-require-compiled", 0, 0, O_NO_REQUIRE_COMPILED },
	{ "dialect", 0, 1, O_DIALECT },
	{ "url", 0, 1, O_URL },
	{ "x", 'x', 1, O_XARG },
	{ "compat", 0, 1, O_COMPAT },
	{ "format", 0, 1, O_FORMAT },
	{ "compile", 0, 0, O_COMPILE },
	{ "resolve-dependencies", 0, 0, O_RESOLVE_DEPS },
	{ NULL, 0, 0, 0 }
};

/* What main() does for a command before calling it, as git's RUN_SETUP. */
enum {
	NEED_CONFIG = 1 << 0,  /* read and validate the configuration (ctx_load) */
	NEED_SCRIPTS = 1 << 1, /* ...and the revision scripts and their graph too */
	NEED_DB = 1 << 2,      /* a database must be named: exit 2 before anything else */
	DATA_OUT = 1 << 3,     /* prints data on stdout, so logs go to stderr */
	TAKES_APP = 1 << 4,    /* accepts "-- APP..." */
	/* reads only the revision scripts: the database URL is checked when
	 * the command connects (history -i, show current), not before, as in
	 * Alembic, since real alembic.ini files ship a placeholder or a
	 * templated sqlalchemy.url */
	URL_ON_DEMAND = 1 << 5,
	/* a probe, run often beside the real process (a Docker HEALTHCHECK,
	 * an exec probe): it leaves no termination message of its own */
	NO_TERMLOG = 1 << 6,
	/* reads or writes one schema's version table: a tenants setting
	 * (run, upgrade and status take it) is refused, not ignored */
	ONE_SCHEMA = 1 << 7,
	/* uses the health address: run and wait serve it, healthcheck probes
	 * it; the others warn about a --health-addr flag they would ignore */
	USES_HEALTH = 1 << 8,
	/* runs the after-upgrade hooks (--after, after_upgrade) */
	RUNS_HOOKS = 1 << 9,
};

struct command {
	const char *name;
	int (*fn)(struct ctx *c);
	unsigned flags;         /* NEED_*, DATA_OUT, TAKES_APP */
	unsigned opts;          /* command options it accepts: L(O_...) */
	int min_args, max_args; /* positional arguments; max_args -1: no limit */
	const char *arg_usage;  /* what the usage error asks for when min_args is not met */
};

static int cmd_help(struct ctx *c);
static int cmd_version(struct ctx *c);

static const struct command commands[] = {
	{ .name = "run", .fn = cmd_run,
	  .flags = NEED_SCRIPTS | NEED_DB | TAKES_APP | USES_HEALTH | RUNS_HOOKS },
	{ .name = "wait", .fn = cmd_wait, .flags = NEED_CONFIG | NEED_DB | TAKES_APP | USES_HEALTH,
	  .opts = L(O_HEAD) },
	{ .name = "upgrade", .fn = cmd_upgrade, .flags = NEED_SCRIPTS, .opts = L(O_SQL),
	  .max_args = 1 },
	{ .name = "downgrade", .fn = cmd_downgrade, .flags = NEED_SCRIPTS | ONE_SCHEMA, .opts = L(O_SQL),
	  .min_args = 1, .max_args = 1, .arg_usage = "a target revision (e.g. -1, base, <rev>)" },
	{ .name = "current", .fn = cmd_current,
	  .flags = NEED_SCRIPTS | NEED_DB | DATA_OUT | ONE_SCHEMA,
	  .opts = L(O_VERBOSE) },
	{ .name = "history", .fn = cmd_history, .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_VERBOSE) | L(O_INDICATE) | L(O_RANGE) },
	{ .name = "heads", .fn = cmd_heads, .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_VERBOSE) | L(O_RESOLVE_DEPS) },
	{ .name = "branches", .fn = cmd_branches,
	  .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_VERBOSE) },
	{ .name = "show", .fn = cmd_show, .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .min_args = 1,
	  .max_args = 1, .arg_usage = "a revision argument" },
	{ .name = "stamp", .fn = cmd_stamp, .flags = NEED_SCRIPTS | ONE_SCHEMA, .opts = L(O_PURGE) | L(O_SQL),
	  .min_args = 1, .max_args = -1, .arg_usage = "a revision argument" },
	{ .name = "rollback", .fn = cmd_rollback, .flags = NEED_SCRIPTS | NEED_DB | ONE_SCHEMA,
	  .opts = L(O_SQL) },
	{ .name = "archives", .fn = cmd_archives,
	  .flags = NEED_CONFIG | NEED_DB | DATA_OUT | ONE_SCHEMA,
	  .opts = L(O_FORMAT) },
	{ .name = "check", .fn = cmd_check,
	  .flags = NEED_SCRIPTS | NEED_DB | DATA_OUT | ONE_SCHEMA },
	{ .name = "status", .fn = cmd_status, .flags = NEED_SCRIPTS | NEED_DB | DATA_OUT },
	/* revision and merge read the scripts themselves: a project whose
	 * versions directory is not there yet has no revisions (ctx_load_scripts) */
	{ .name = "revision", .fn = cmd_revision, .flags = NEED_CONFIG | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_MESSAGE) | L(O_HEAD) | L(O_BRANCH_LABEL) | L(O_DEPENDS_ON) | L(O_REV_ID) |
		  L(O_SPLICE) | L(O_VERSION_PATH) | L(O_COMPAT) },
	{ .name = "merge", .fn = cmd_merge, .flags = NEED_CONFIG | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_MESSAGE) | L(O_BRANCH_LABEL) | L(O_REV_ID), .min_args = 1, .max_args = -1,
	  .arg_usage = "a revision argument" },
	{ .name = "healthcheck", .fn = cmd_healthcheck,
	  .flags = NEED_CONFIG | URL_ON_DEMAND | DATA_OUT | NO_TERMLOG | USES_HEALTH,
	  .opts = L(O_TIMEOUT),
	  .max_args = 1 },
	{ .name = "compile", .fn = cmd_compile, .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_DIALECT) | L(O_URL) | L(O_XARG) },
	{ .name = "lint", .fn = cmd_lint, .flags = NEED_SCRIPTS | DATA_OUT | URL_ON_DEMAND,
	  .opts = L(O_FORMAT) | L(O_DIALECT) | L(O_COMPILE) | L(O_XARG), .max_args = 1 },
	{ .name = "init", .fn = cmd_init, .flags = DATA_OUT, .max_args = 1 },
	{ .name = "version", .fn = cmd_version, .flags = DATA_OUT },
	{ .name = "help", .fn = cmd_help, .flags = DATA_OUT, .max_args = 1 },
	{ .name = NULL }
};

/* "did you mean": the closest command or long option name, or "". */
static const char *suggest_command(const char *word, char *buf, size_t size)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *s;
	size_t n = 0;

	for (const struct command *c = commands; c->name; c++)
		names[n++] = c->name;
	names[n] = NULL;
	s = help_suggest(word, names);
	if (s)
		snprintf(buf, size, " (did you mean '%s'?)", s);
	else
		buf[0] = '\0';
	return buf;
}

static const char *suggest_option(const char *word, size_t len, char *buf, size_t size)
{
	const char *names[sizeof(options) / sizeof(options[0])];
	char w[64];
	const char *s;
	size_t n = 0;

	for (const struct option_def *o = options; o->lng; o++)
		names[n++] = o->lng;
	names[n] = NULL;
	snprintf(w, sizeof(w), "%.*s", (int)len, word);
	s = help_suggest(w, names);
	if (s)
		snprintf(buf, size, " (did you mean '--%s'?)", s);
	else
		buf[0] = '\0';
	return buf;
}

/* help [COMMAND], and COMMAND --help. */
static int print_help(const char *topic)
{
	char buf[8192], hint[96];

	if (!topic) {
		out("%s", help_usage());
		return 0;
	}
	if (help_command(topic, buf, sizeof(buf)) < 0)
		return usage_error("unknown help topic '%s'%s; the commands are in 'prestart help'",
				   topic, suggest_command(topic, hint, sizeof(hint)));
	out("%s", buf);
	return 0;
}

static int cmd_help(struct ctx *c)
{
	return print_help(c->cli->args.n ? c->cli->args.v[0] : NULL);
}

static int cmd_version(struct ctx *c)
{
	char buf[1024];

	(void)c;
	buildinfo_describe(buf, sizeof(buf));
	out("%s", buf);
	return 0;
}

static const struct option_def *find_long(const char *name, size_t n)
{
	for (const struct option_def *o = options; o->lng; o++)
		if (strlen(o->lng) == n && !strncmp(o->lng, name, n))
			return o;
	return NULL;
}

static const struct option_def *find_short(char ch)
{
	for (const struct option_def *o = options; o->lng; o++)
		if (o->shrt == ch)
			return o;
	return NULL;
}

static const struct command *find_command(const char *name)
{
	for (const struct command *c = commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static void set_option(struct cli *cli, int id, const char *val, int *help, int *version)
{
	switch (id) {
	case O_DBURL: cli->flags.database_url = val; break;
	case O_CONFIG: cli->flags.config_file = val; break;
	case O_DIR: cli->flags.script_location = val; break;
	case O_WAIT_TIMEOUT: cli->flags.wait_timeout = val; break;
	case O_WAIT_FOR: strlist_push(&cli->flags.wait_for, val); break;
	case O_LOCK_TIMEOUT: cli->flags.lock_timeout = val; break;
	case O_DDL_LOCK_TIMEOUT: cli->flags.ddl_lock_timeout = val; break;
	case O_DDL_RETRY_BUDGET: cli->flags.ddl_retry_budget = val; break;
	case O_LOCK_STRATEGY: cli->flags.lock_strategy = val; break;
	case O_HEALTH: cli->flags.health_addr = val; break;
	case O_LOGFMT: cli->flags.log_format = val; break;
	case O_TPM: cli->flags.transaction_per_migration = 1; break;
	case O_NO_TPM: cli->flags.transaction_per_migration = 0; break;
	case O_AFTER: strlist_push(&cli->flags.after_upgrade, val); break;
	case O_TERMLOG: cli->flags.termination_log = val; break;
	case O_LEDGER_SCHEMA: cli->flags.ledger_schema = val; break;
	case O_IF_AHEAD: cli->flags.if_ahead = val; break;
	case O_CHECKSUM: cli->flags.checksum = val; break;
	case O_PHASE: cli->flags.phase = val; break;
	case O_TENANTS: cli->flags.tenants = val; break;
	case O_TENANT_PARALLEL: cli->flags.tenant_parallel = val; break;
	case O_TENANT_CANARY: cli->flags.tenant_canary = val; break;
	case O_TENANT_MAX_FAILURES: cli->flags.tenant_max_failures = val; break;
	case O_TENANT_SHARD: cli->flags.tenant_shard = val; break;
	case O_TENANT_SEARCH_PATH: cli->flags.tenant_search_path = val; break;
	case O_GUARD: cli->flags.guard = val; break;
	case O_GUARD_SIZE: cli->flags.guard_size = val; break;
	case O_ARCHIVE_LIMIT: cli->flags.archive_limit = val; break;
	case O_ARCHIVE_RETENTION: cli->flags.archive_retention = val; break;
	case O_HELP: *help = 1; break;
	case O_VERSION: *version = 1; break;
	case O_VERBOSE: cli->verbose = 1; break;
	case O_INDICATE: cli->indicate_current = 1; break;
	case O_RANGE: cli->range = val; break;
	case O_SQL: cli->sql = 1; break;
	case O_PURGE: cli->purge = 1; break;
	case O_MESSAGE: cli->message = val; break;
	case O_HEAD: cli->head = val; break;
	case O_BRANCH_LABEL: cli->branch_label = val; break;
	case O_DEPENDS_ON: cli->depends_on = val; break;
	case O_REV_ID: cli->rev_id = val; break;
	case O_SPLICE: cli->splice = 1; break;
	case O_VERSION_PATH: cli->version_path = val; break;
	case O_TIMEOUT: cli->timeout = val; break;
	case O_REQUIRE_COMPILED: cli->flags.require_compiled = 1; break;
	case O_NO_REQUIRE_COMPILED: cli->flags.require_compiled = 0; break;
	case O_DIALECT: strlist_push(&cli->dialects, val); break;
	case O_URL: cli->render_url = val; break;
	case O_XARG: strlist_push(&cli->xargs, val); break;
	case O_COMPAT: cli->compat = val; break;
	case O_FORMAT: cli->format = val; break;
	case O_COMPILE: cli->compile = 1; break;
	case O_RESOLVE_DEPS: cli->resolve_dependencies = 1; break;
	}
}

/* Parse argv.  Options may come before or after the command word; "--" ends
 * them and the rest is the application's argv, untouched.  Returns 0, or 2
 * after printing a usage error. */
static int parse_args(int argc, char **argv, struct cli *cli, const struct command **cmd,
		      unsigned *seen_local, int *help, int *version)
{
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		const struct option_def *o = NULL;
		const char *val = NULL;

		if (!strcmp(a, "--")) {
			cli->app = &argv[i + 1];
			if (!argv[i + 1])
				return usage_error("'--' must be followed by a command to exec");
			break;
		}
		if (a[0] == '-' && a[1] == '-') {
			const char *eq = strchr(a + 2, '=');
			size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);

			o = find_long(a + 2, n);
			if (!o) {
				char hint[96];

				return usage_error("unknown option '%.*s'%s", (int)n + 2, a,
						   suggest_option(a + 2, n, hint, sizeof(hint)));
			}
			/* wait --head is a flag; revision --head takes a value. */
			if (o->id == O_HEAD && *cmd && (*cmd)->fn == cmd_wait) {
				if (eq)
					return usage_error("option '--head' of 'wait' takes no value");
				cli->wait_head = 1;
				*seen_local |= L(o->id);
				continue;
			}
			if (o->has_arg) {
				if (eq)
					val = eq + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return usage_error("option '--%s' needs a value", o->lng);
			} else if (eq) {
				return usage_error("option '--%s' takes no value", o->lng);
			}
		} else if (a[0] == '-' && a[1] && !(a[1] >= '0' && a[1] <= '9')) {
			/* "-1" and "-2" are relative downgrade targets, not options. */
			o = find_short(a[1]);
			if (!o)
				return usage_error("unknown option '-%c'", a[1]);
			if (o->has_arg) {
				if (a[2])
					val = a + 2;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return usage_error("option '-%c' needs a value", a[1]);
			} else if (a[2]) {
				/* Bundled flags such as -vi. */
				for (char *p = a + 1; *p; p++) {
					const struct option_def *b = find_short(*p);

					if (!b || b->has_arg)
						return usage_error("unknown option '-%c' in '%s'", *p, a);
					if (b->id >= O_VERBOSE)
						*seen_local |= L(b->id);
					set_option(cli, b->id, NULL, help, version);
				}
				continue;
			}
		} else if (!*cmd) {
			*cmd = find_command(a);
			if (!*cmd) {
				char hint[96];

				return usage_error("unknown command '%s'%s; the commands are in "
						   "'prestart help'", a,
						   suggest_command(a, hint, sizeof(hint)));
			}
			cli->command = (*cmd)->name;
			continue;
		} else {
			strlist_push(&cli->args, a);
			continue;
		}
		if (o->id >= O_VERBOSE)
			*seen_local |= L(o->id);
		set_option(cli, o->id, val, help, version);
	}
	return 0;
}

static const char *opt_name(int id)
{
	for (const struct option_def *o = options; o->lng; o++)
		if (o->id == id)
			return o->lng;
	return "?";
}

static void on_signal(int sig)
{
	struct db *db = g_cancel_db;

	if (!g_stop)
		g_stop = sig;
	/* PQcancel is documented as safe to call from a signal handler; SQLite's
	 * interrupt only sets a flag. */
	if (db)
		db_cancel(db);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: blocking calls return EINTR so that loops notice. */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
}

/* A closed pipe on stdout is a write error to report (SPEC §7.6), not a
 * silent death, for --help as for every command; and a health client that
 * hangs up must not kill us.  exec_reset_signals() restores the default
 * for children and the application. */
static void ignore_sigpipe(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

/* After every command, as git's run_builtin does: output that could not
 * be written (a full disk, a closed pipe) fails the run.  Returns the exit
 * status. */
static int finish_stdout(int rc)
{
	struct err e = { 0 };

	if (out_close(&e) == 0)
		return rc;
	rc = rc ? rc : ERR_FAILED;
	/* stdout is unusable: say so on stderr, whatever the log format. */
	log_init(log_format_get(), 2);
	log_event(LOG_ERROR, "error", (struct log_field[]){ LFI("exit_code", rc), { 0 } }, "%s",
		  e.msg);
	return rc;
}

/* The termination message's file (SPEC §7.4): the configured one, or,
 * when the configuration could not be read, the flag's or the
 * environment's (unless the configuration would refuse it: that error is
 * then the one already said); else the default when writable.  New string
 * or NULL. */
static char *termlog_target(const struct cli *cli, const struct ctx *c)
{
	const char *p;

	if (c->cfg_loaded) {
		p = c->cfg.termination_log;
	} else {
		struct err e = { 0 };

		if (!(p = cli->flags.termination_log))
			p = getenv("PRESTART_TERMINATION_LOG");
		if (p && termlog_check(p, "", &e) < 0)
			return NULL;
	}
	if (p && !*p)
		p = NULL;
	p = termlog_path(p);
	return p ? xstrdup(p) : NULL;
}

/* How far main() got with the status, for write_termlog. */
enum st_state { ST_NONE, ST_LIVE, ST_RELEASED };

/* prestart exits by itself (a failure, or done with nothing to exec):
 * leave why where `kubectl describe pod` shows it.  ST_RELEASED:
 * ctx_release already ran (an exec that failed), the status is gone;
 * ST_NONE: it never existed (a usage error). */
static void write_termlog(const char *path, struct ctx *c, enum st_state st, int rc,
			  long long t0)
{
	struct termlog_info t = { 0 };
	char error[1024], sqlstate[6];
	char *rev = NULL, *blockers = NULL, *hold = NULL;
	struct err e = { 0 };

	if (!path)
		return;
	t.exit_code = rc;
	if (st != ST_LIVE) {
		t.phase = st == ST_RELEASED ? "exec" : "starting";
		log_last_error(error, sizeof(error));
	} else {
		t.phase = status_phase_name(status_failed_phase(&c->st));
		status_error(&c->st, error, sizeof(error));
		if (!error[0] && rc)
			log_last_error(error, sizeof(error));
		rev = status_revision(&c->st);
		blockers = status_blockers_json(&c->st);
		hold = status_holder_json(&c->st);
	}
	if (rc == 0) {
		/* not every command walks the phases to the end */
		t.phase = status_phase_name(PHASE_DONE);
		error[0] = '\0';
	}
	db_sqlstate_of(error, sqlstate);
	t.error = error;
	t.sqlstate = sqlstate;
	t.revision = rev;
	t.blockers = blockers;
	t.lock_hold = hold;
	t.elapsed_ms = now_ms() - t0;
	if (termlog_write(path, &t, &e) < 0)
		log_event(LOG_WARN, "termination_log", NULL, "%s", e.msg);
	free(rev);
	free(blockers);
	free(hold);
}

/* A flag given to a command that ignores it, and why. */
static void warn_ignored(const char *option, const char *command, const char *why)
{
	log_event(LOG_WARN, "option_ignored",
		  (struct log_field[]){ LFS("option", option), LFS("command", command), { 0 } },
		  "%s is ignored by '%s': %s", option, command, why);
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct ctx c;
	const struct command *cmd = NULL;
	unsigned seen_local = 0;
	int help = 0, version = 0, rc;
	long long t0 = now_ms();
	char *termlog = NULL;
	int status_ready = 0;

	memset(&cli, 0, sizeof(cli));
	memset(&c, 0, sizeof(c));
	config_flags_init(&cli.flags);
	log_init(LOGFMT_TEXT, 2);
	ignore_sigpipe();

	rc = parse_args(argc, argv, &cli, &cmd, &seen_local, &help, &version);
	if (rc)
		goto out;
	if (help) {
		rc = print_help(cmd ? cmd->name : NULL);
		goto out;
	}
	if (version) {
		rc = cmd_version(&c);
		goto out;
	}
	if (!cmd)
		cmd = find_command("run");
	cli.command = cmd->name;
	cli.connects = !(cmd->flags & URL_ON_DEMAND);
	for (int id = O_VERBOSE; id < O_LOCAL_END; id++) {
		if ((seen_local & L(id)) && !(cmd->opts & L(id))) {
			rc = usage_error("option '--%s' does not apply to '%s'", opt_name(id),
					 cmd->name);
			goto out;
		}
	}
	if ((int)cli.args.n < cmd->min_args) {
		rc = usage_error("'%s' needs %s", cmd->name,
				 cmd->arg_usage ? cmd->arg_usage : "an argument");
		goto out;
	}
	if (cmd->max_args >= 0 && (int)cli.args.n > cmd->max_args) {
		rc = usage_error("unexpected argument '%s' for '%s'", cli.args.v[cmd->max_args],
				 cmd->name);
		goto out;
	}
	if (cli.app && !(cmd->flags & TAKES_APP)) {
		rc = usage_error("'%s' does not exec an application; use 'run -- APP'", cmd->name);
		goto out;
	}
	log_init(LOGFMT_TEXT, (cmd->flags & DATA_OUT) || cli.sql ? 2 : 1);
	install_signals();
	status_init(&c.st);
	status_ready = 1;
	c.cli = &cli;
	c.stop = &g_stop;
	/* wait --head compares the database with the scripts' heads. */
	if ((cmd->flags & (NEED_CONFIG | NEED_SCRIPTS)) &&
	    (rc = ctx_load(&c, (cmd->flags & NEED_SCRIPTS) || cli.wait_head)))
		goto out;
	if (((cmd->flags & ONE_SCHEMA) || cli.wait_head) && c.cfg.tenants) {
		rc = usage_error("%s: '%s%s' works on one schema's version table and does not take "
				 "tenants (run, upgrade and status do)",
				 c.cfg.tenants_from ? c.cfg.tenants_from : "--tenants", cmd->name,
				 cli.wait_head ? " --head" : "");
		goto out;
	}
	/* A shared PRESTART_HEALTH_ADDR or health_addr (or after_upgrade in
	 * the config file) reaches every command: only the flag, given to a
	 * command that does not use it, is worth a word. */
	if (cli.flags.health_addr && !(cmd->flags & USES_HEALTH))
		warn_ignored("--health-addr", cmd->name,
			     "only run and wait serve the health endpoint");
	if (cli.flags.after_upgrade.n && !(cmd->flags & RUNS_HOOKS))
		warn_ignored("--after", cmd->name, "only run runs the after-upgrade hooks");
	if ((cmd->flags & NEED_DB) && (rc = ctx_need_db(&c)))
		goto out;
	/* Resolved now: a run that execs releases the configuration first. */
	termlog = termlog_target(&cli, &c);
	rc = cmd->fn(&c);
out:
	/* The commands that read the configuration report how they ended;
	 * help, version, init and healthcheck do not. */
	if (!cmd || ((cmd->flags & (NEED_CONFIG | NEED_SCRIPTS)) && !(cmd->flags & NO_TERMLOG))) {
		if (!termlog)
			termlog = termlog_target(&cli, &c);
		write_termlog(termlog, &c, !status_ready ? ST_NONE : c.cli ? ST_LIVE : ST_RELEASED,
			      rc, t0);
	}
	free(termlog);
	ctx_release(&c);
	strlist_free(&cli.args);
	strlist_free(&cli.dialects);
	strlist_free(&cli.xargs);
	config_flags_release(&cli.flags);
	return finish_stdout(rc);
}
