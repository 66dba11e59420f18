/* prestart - wait, lock, migrate, report, exec.  See README.md. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prestart/cmd.h"
#include "prestart/log.h"

#ifndef PRESTART_VERSION
#define PRESTART_VERSION "0.1.0"
#endif

enum {
	O_DBURL = 1, O_CONFIG, O_DIR, O_WAIT_TIMEOUT, O_WAIT_FOR, O_LOCK_TIMEOUT, O_HEALTH,
	O_LOGFMT, O_TPM, O_AFTER, O_HELP, O_VERSION, O_REQUIRE_COMPILED,
	/* command-local */
	O_VERBOSE, O_INDICATE, O_RANGE, O_SQL, O_PURGE, O_MESSAGE, O_HEAD, O_BRANCH_LABEL,
	O_DEPENDS_ON, O_REV_ID, O_SPLICE, O_VERSION_PATH, O_TIMEOUT,
	O_DIALECT, O_URL, O_XARG, /* compile */
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
	{ "health-addr", 0, 1, O_HEALTH },
	{ "log-format", 0, 1, O_LOGFMT },
	{ "transaction-per-migration", 0, 0, O_TPM },
	{ "after", 0, 1, O_AFTER },
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
	{ "dialect", 0, 1, O_DIALECT },
	{ "url", 0, 1, O_URL },
	{ "x", 'x', 1, O_XARG },
	{ NULL, 0, 0, 0 }
};

struct command {
	const char *name;
	int (*fn)(struct ctx *c);
	unsigned local_opts; /* command options it accepts */
	int min_args, max_args;
	int data;            /* data command: logs go to stderr */
	int takes_app;       /* accepts "-- APP..." */
};

static int cmd_help(struct ctx *c);
static int cmd_version(struct ctx *c);

static const struct command commands[] = {
	{ "run", cmd_run, 0, 0, 0, 0, 1 },
	{ "wait", cmd_wait, 0, 0, 0, 0, 0 },
	{ "upgrade", cmd_upgrade, L(O_SQL), 0, 1, 0, 0 },
	{ "downgrade", cmd_downgrade, L(O_SQL), 1, 1, 0, 0 },
	{ "current", cmd_current, L(O_VERBOSE), 0, 0, 1, 0 },
	{ "history", cmd_history, L(O_VERBOSE) | L(O_INDICATE) | L(O_RANGE), 0, 0, 1, 0 },
	{ "heads", cmd_heads, L(O_VERBOSE), 0, 0, 1, 0 },
	{ "branches", cmd_branches, L(O_VERBOSE), 0, 0, 1, 0 },
	{ "show", cmd_show, 0, 1, 1, 1, 0 },
	{ "stamp", cmd_stamp, L(O_PURGE) | L(O_SQL), 1, -1, 0, 0 },
	{ "check", cmd_check, 0, 0, 0, 1, 0 },
	{ "status", cmd_status, 0, 0, 0, 1, 0 },
	{ "revision", cmd_revision,
	  L(O_MESSAGE) | L(O_HEAD) | L(O_BRANCH_LABEL) | L(O_DEPENDS_ON) | L(O_REV_ID) | L(O_SPLICE) |
	  L(O_VERSION_PATH), 0, 0, 1, 0 },
	{ "merge", cmd_merge, L(O_MESSAGE) | L(O_BRANCH_LABEL) | L(O_REV_ID), 1, -1, 1, 0 },
	{ "healthcheck", cmd_healthcheck, L(O_TIMEOUT), 0, 1, 1, 0 },
	{ "compile", cmd_compile, L(O_DIALECT) | L(O_URL) | L(O_XARG), 0, 0, 1, 0 },
	{ "version", cmd_version, 0, 0, 0, 1, 0 },
	{ "help", cmd_help, 0, 0, 1, 1, 0 },
	{ NULL, NULL, 0, 0, 0, 0, 0 }
};

static const char usage_text[] =
	"usage: prestart [OPTIONS] [-- APP [ARG...]]\n"
	"       prestart [OPTIONS] COMMAND [ARGS] [-- APP [ARG...]]\n"
	"\n"
	"commands:\n"
	"  run [-- APP...]          wait, lock, upgrade to head, then exec APP (default)\n"
	"  wait                     only wait for the database and --wait-for targets\n"
	"  upgrade [TARGET]         apply revisions up to TARGET (default head)\n"
	"  downgrade TARGET         revert down to TARGET\n"
	"  current [-v]             revisions recorded in the database\n"
	"  history [-r A:B] [-v] [-i]  revision scripts, newest first\n"
	"  heads [-v], branches [-v], show REV\n"
	"  stamp REV... [--purge]   set the version table without running migrations\n"
	"  check                    exit 0 at head, 1 when revisions are pending\n"
	"  status                   one JSON object: reachability, current, heads, pending\n"
	"  revision -m MSG [--head H] [--branch-label L] [--depends-on R] [--rev-id ID]\n"
	"           [--splice] [--version-path DIR]  write a new SQL revision file\n"
	"  merge REV... -m MSG      write a merge revision ('merge heads' merges all heads)\n"
	"  healthcheck [URL]        HTTP GET, exit 0 on 2xx (--timeout, default 5s)\n"
	"  compile [--dialect D]... [--url URL] [-x ARG]...\n"
	"                           render .py revisions to SQL with Alembic's offline mode\n"
	"  version, help\n"
	"\n"
	"options:\n"
	"  -d, --database-url URL   database (env DATABASE_URL, else libpq PG* variables)\n"
	"  -c, --config FILE        ini file (env PRESTART_CONFIG; default prestart.ini, alembic.ini)\n"
	"      --dir DIR            script location (env PRESTART_SCRIPT_LOCATION; default migrations)\n"
	"      --wait-timeout D     how long to wait for dependencies (default 60s, 0 = forever)\n"
	"      --wait-for TARGET    also wait for tcp://, http(s)://, file://, postgresql:// (repeatable)\n"
	"      --lock-timeout D     how long to wait for the migration lock (default 0 = forever)\n"
	"      --health-addr ADDR   serve /livez /readyz /status /metrics on [HOST]:PORT\n"
	"      --log-format F       text or json\n"
	"      --transaction-per-migration  one transaction per revision\n"
	"      --after CMD          run CMD after a successful upgrade (repeatable)\n"
	"      --require-compiled   refuse .py revisions without a fresh compiled SQL file\n"
	"\n"
	"exit codes: 0 ok, 1 migration/hook failed (check: pending), 2 usage/configuration,\n"
	"  3 scripts or version table inconsistent, 4 lock timeout, 124 wait timeout,\n"
	"  126/127 APP not executable/not found, 128+N stopped by signal N\n";

static int cmd_help(struct ctx *c)
{
	(void)c;
	fputs(usage_text, stdout);
	return 0;
}

static int cmd_version(struct ctx *c)
{
	(void)c;
	printf("prestart %s\n", PRESTART_VERSION);
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
	case O_HEALTH: cli->flags.health_addr = val; break;
	case O_LOGFMT: cli->flags.log_format = val; break;
	case O_TPM: cli->flags.transaction_per_migration = 1; break;
	case O_AFTER: strlist_push(&cli->flags.after_upgrade, val); break;
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
	case O_DIALECT: strlist_push(&cli->dialects, val); break;
	case O_URL: cli->render_url = val; break;
	case O_XARG: strlist_push(&cli->xargs, val); break;
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
			if (!o)
				return usage_error("unknown option '%.*s'", (int)n + 2, a);
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
			if (!*cmd)
				return usage_error("unknown command '%s' (see 'prestart help')", a);
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
	sa.sa_handler = SIG_IGN;
	/* A health client that hangs up must not kill us. */
	sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct ctx c;
	const struct command *cmd = NULL;
	unsigned seen_local = 0;
	int help = 0, version = 0, rc;

	memset(&cli, 0, sizeof(cli));
	memset(&c, 0, sizeof(c));
	config_flags_init(&cli.flags);
	log_init(LOGFMT_TEXT, 2);

	rc = parse_args(argc, argv, &cli, &cmd, &seen_local, &help, &version);
	if (rc)
		goto out;
	if (help) {
		rc = cmd_help(&c);
		goto out;
	}
	if (version) {
		rc = cmd_version(&c);
		goto out;
	}
	if (!cmd)
		cmd = find_command("run");
	cli.command = cmd->name;
	for (int id = O_VERBOSE; id < O_LOCAL_END; id++) {
		if ((seen_local & L(id)) && !(cmd->local_opts & L(id))) {
			rc = usage_error("option '--%s' does not apply to '%s'", opt_name(id),
					 cmd->name);
			goto out;
		}
	}
	if ((int)cli.args.n < cmd->min_args) {
		rc = usage_error("'%s' needs %s", cmd->name,
				 !strcmp(cmd->name, "downgrade") ? "a target revision (e.g. -1, base, <rev>)"
								 : "a revision argument");
		goto out;
	}
	if (cmd->max_args >= 0 && (int)cli.args.n > cmd->max_args) {
		rc = usage_error("unexpected argument '%s' for '%s'", cli.args.v[cmd->max_args],
				 cmd->name);
		goto out;
	}
	if (cli.app && !cmd->takes_app) {
		rc = usage_error("'%s' does not exec an application; use 'run -- APP'", cmd->name);
		goto out;
	}
	log_init(LOGFMT_TEXT, cmd->data || cli.sql ? 2 : 1);
	install_signals();
	status_init(&c.st);
	c.cli = &cli;
	c.stop = &g_stop;
	rc = cmd->fn(&c);
out:
	ctx_release(&c);
	strlist_free(&cli.args);
	strlist_free(&cli.dialects);
	strlist_free(&cli.xargs);
	config_flags_release(&cli.flags);
	return rc;
}
