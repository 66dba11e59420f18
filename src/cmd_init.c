/* init: start a new SQL-first project (a versions directory and a
 * prestart.ini that lists every setting).
 *
 * Map: the generated prestart.ini; cmd_init.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/init.h"
#include "prestart/log.h"

#define DEFAULT_CONFIG "prestart.ini"

/* ---- the generated prestart.ini ---- */

/* One [prestart] key.  `value` is what the key is set to when its line is
 * uncommented: the default, or empty where the default is "none" (an empty
 * ini value leaves a setting to the level below), so that uncommenting
 * changes nothing.  NULL: derived from the script location. */
struct init_setting {
	const char *key;
	const char *value;
	const char *about; /* comment lines, each ending in '\n'; NULL: none */
};

static const struct init_setting settings[] = {
	{ "database_url", "",
	  "The database: postgresql://user@host/db, sqlite:///relative.db or\n"
	  "sqlite:////absolute.db (-d/--database-url, DATABASE_URL; default: libpq's\n"
	  "PG* variables).  A password is better kept in the environment.\n" },
	{ "script_location", NULL,
	  "The script directory (--dir, PRESTART_SCRIPT_LOCATION).\n" },
	{ "version_locations", NULL,
	  "The directories of revision files, separated by blanks, commas or newlines.\n" },
	{ "version_table", "alembic_version",
	  "The version table, and its schema (empty: the connection's default)\n"
	  "(PRESTART_VERSION_TABLE, PRESTART_VERSION_TABLE_SCHEMA).\n" },
	{ "version_table_schema", "", NULL },
	{ "wait_timeout", "60s",
	  "How long to wait for the database and the wait_for targets: 250ms, 30s,\n"
	  "5m, 1h or seconds; 0 = forever (--wait-timeout, PRESTART_WAIT_TIMEOUT).\n" },
	{ "wait_for", "",
	  "More to wait for, separated by commas or newlines: tcp://host:port,\n"
	  "http(s)://..., file:///path, postgresql://... (--wait-for,\n"
	  "PRESTART_WAIT_FOR).\n" },
	{ "lock_timeout", "0",
	  "How long to wait for the migration lock; 0 = forever (--lock-timeout,\n"
	  "PRESTART_LOCK_TIMEOUT).\n" },
	{ "ddl_lock_timeout", "1s",
	  "PostgreSQL: how long one migration statement may wait for a table lock\n"
	  "(while it waits, the application's queries on that table queue behind\n"
	  "it); 0 = forever (--ddl-lock-timeout, PRESTART_DDL_LOCK_TIMEOUT).\n" },
	{ "ddl_retry_budget", "10m",
	  "How long to keep retrying after lock timeouts and deadlocks; 0 = no\n"
	  "retry (--ddl-retry-budget, PRESTART_DDL_RETRY_BUDGET).\n" },
	{ "lock_strategy", "auto",
	  "How the lock is held: session (an advisory lock), lease (a row in\n"
	  "prestart.migration_lock, for transaction poolers and CockroachDB), auto\n"
	  "(session unless a pooler or the server needs lease) (--lock-strategy,\n"
	  "PRESTART_LOCK_STRATEGY).\n" },
	{ "health_addr", "",
	  "Serve /livez /readyz /status /metrics on [HOST]:PORT, e.g. :8080;\n"
	  "empty: off (--health-addr, PRESTART_HEALTH_ADDR).\n" },
	{ "termination_log", "",
	  "Where to write why prestart exited, one JSON object for Kubernetes'\n"
	  "termination message; empty: /dev/termination-log when it is writable\n"
	  "(--termination-log, PRESTART_TERMINATION_LOG).\n" },
	{ "log_format", "text",
	  "text or json (--log-format, PRESTART_LOG_FORMAT).\n" },
	{ "transaction_per_migration", "false",
	  "true: one transaction per revision; false: one for the whole run\n"
	  "(--transaction-per-migration, PRESTART_TRANSACTION_PER_MIGRATION).\n" },
	{ "after_upgrade", "",
	  "Commands run by `run` after an upgrade that applied revisions (none at\n"
	  "head), one per line (continuation lines indented), without a shell\n"
	  "(--after).\n" },
	{ "alembic_command", "alembic",
	  "How to run Alembic for .py revisions (PRESTART_ALEMBIC_COMMAND).\n" },
	{ "alembic_config", "",
	  "An alembic.ini whose [alembic] section to read, relative to this file.\n" },
	{ "python", "/usr/bin/python3",
	  "The Python `prestart compile` runs Alembic's offline mode with\n"
	  "(PRESTART_PYTHON).\n" },
	{ "require_compiled", "false",
	  "Refuse .py revisions without a fresh compiled SQL file (exit 3) instead\n"
	  "of running them through Alembic (--require-compiled,\n"
	  "PRESTART_REQUIRE_COMPILED).\n" },
	{ "ledger", "",
	  "Keep the ledger of applied revisions: when, how long, by whom, their\n"
	  "checksum and downgrade SQL: on or off (PRESTART_LEDGER; empty: on, except\n"
	  "for .py projects on SQLite).\n" },
	{ "ledger_schema", "prestart",
	  "PostgreSQL schema of the ledger table 'history' (--ledger-schema,\n"
	  "PRESTART_LEDGER_SCHEMA).\n" },
	{ "if_ahead", "run",
	  "The database holds revisions this image does not know (a rollback): run\n"
	  "the app when the ledger proves it safe, or fail (--if-ahead,\n"
	  "PRESTART_IF_AHEAD).\n" },
	{ "checksum", "warn",
	  "An applied revision file edited since it ran: warn, fail or off\n"
	  "(--checksum, PRESTART_CHECKSUM).\n" },
	{ "phase", "all",
	  "Which pending revisions run applies: all; expand, those that do not\n"
	  "break the previous application version (the contract ones wait);\n"
	  "contract, every one, after the rollout (--phase, PRESTART_PHASE).\n" },
	{ "guard", "fail",
	  "PostgreSQL: a statement that rewrites or scans a table larger than\n"
	  "guard_size under a lock that blocks the application: fail (refused\n"
	  "before anything runs), warn or off (--guard, PRESTART_GUARD).\n" },
	{ "guard_size", "128MB",
	  "The table size the guard allows, e.g. 64kB, 10MB, 1GB (--guard-size,\n"
	  "PRESTART_GUARD_SIZE).\n" },
	{ "tenants", "",
	  "PostgreSQL schema-per-tenant: the tenants' schemas, a comma list, @FILE\n"
	  "or query:SQL; empty: off (--tenants, PRESTART_TENANTS).\n" },
	{ "tenant_parallel", "4",
	  "How many tenants are migrated at once, each on its own connection\n"
	  "(--tenant-parallel, PRESTART_TENANT_PARALLEL).\n" },
	{ "tenant_canary", "0",
	  "Migrate the first N tenants alone first; a failure there stops the run\n"
	  "(--tenant-canary, PRESTART_TENANT_CANARY).\n" },
	{ "tenant_max_failures", "0",
	  "Start no more tenants after N failures; 0 = no limit\n"
	  "(--tenant-max-failures, PRESTART_TENANT_MAX_FAILURES).\n" },
	{ "tenant_shard", "",
	  "This process's share of the tenants, I/N; empty: all, or\n"
	  "JOB_COMPLETION_INDEX/PRESTART_TENANT_SHARDS in an Indexed Job (--tenant-shard,\n"
	  "PRESTART_TENANT_SHARD).\n" },
	{ "tenant_search_path", "{tenant},public",
	  "The search_path each tenant's revisions run with (--tenant-search-path,\n"
	  "PRESTART_TENANT_SEARCH_PATH).\n" },
	{ "archive_limit", "1GB",
	  "PostgreSQL: copy what a dropped column or table held into the ledger\n"
	  "schema first, up to this size per table; 0 turns it off; the copies hold\n"
	  "personal data (--archive-limit, PRESTART_ARCHIVE_LIMIT).\n" },
	{ "archive_retention", "30d",
	  "How long those copies are kept (--archive-retention,\n"
	  "PRESTART_ARCHIVE_RETENTION).\n" },
	{ NULL, NULL, NULL }
};

static const char ini_header[] =
	"# prestart.ini, written by 'prestart init'.\n"
	"#\n"
	"# Every setting prestart reads from this file, commented out with its\n"
	"# default: uncomment a line to change it.  Precedence, highest first:\n"
	"# command-line flags, the environment, this file, the defaults.  An empty\n"
	"# value leaves a setting to the level below.\n"
	"\n"
	"[prestart]\n";

/* ConfigParser interpolates '%': a literal one is written twice. */
static char *ini_escape(const char *s)
{
	struct sbuf b = { 0 };

	for (const char *p = s; *p; p++) {
		if (*p == '%')
			sbuf_addc(&b, '%');
		sbuf_addc(&b, *p);
	}
	return sbuf_detach(&b);
}

char *init_config_text(const char *script_location)
{
	const char *loc = script_location && *script_location ? script_location : CONFIG_SCRIPT_LOCATION;
	int custom = strcmp(loc, CONFIG_SCRIPT_LOCATION) != 0;
	char *esc = ini_escape(loc);
	struct sbuf b = { 0 };

	sbuf_adds(&b, ini_header);
	for (const struct init_setting *s = settings; s->key; s++) {
		if (s->about) {
			sbuf_addc(&b, '\n');
			for (const char *p = s->about; *p;) {
				size_t n = strcspn(p, "\n");

				sbuf_addf(&b, "# %.*s\n", (int)n, p);
				p += n + (p[n] == '\n');
			}
		}
		if (!strcmp(s->key, "script_location"))
			/* A directory other than the default must be found by
			 * every later command, so it is set, not suggested. */
			sbuf_addf(&b, "%s%s = %s\n", custom ? "" : "# ", s->key, esc);
		else if (!strcmp(s->key, "version_locations"))
			sbuf_addf(&b, "# %s = %s/versions\n", s->key, esc);
		else
			sbuf_addf(&b, "# %s =%s%s\n", s->key, *s->value ? " " : "", s->value);
	}
	free(esc);
	return sbuf_detach(&b);
}

/* ---- prestart init [DIR] ---- */

/* The first entry of `dir` that is not hidden (.gitkeep keeps an empty
 * directory in git), or NULL; *e filled when it cannot be read. */
static char *first_entry(const char *dir, struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *name = NULL;

	if (!d) {
		err_set(e, ERR_USAGE, "cannot read '%s': %s", dir, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			name = xstrdup(de->d_name);
			break;
		}
	closedir(d);
	return name;
}

/* Refuse what init must not touch, before anything is written. */
static int init_check(struct ctx *c, const char *ini, const char *dir, const char *versions)
{
	struct stat st;
	char *entry, *parent;

	if (!path_is_absent("alembic.ini"))
		return usage_error("alembic.ini found: this directory holds an Alembic project, which "
				   "prestart reads as it is, without init; add revisions with "
				   "'alembic revision', apply them with 'prestart upgrade' or "
				   "'prestart run -- APP'; nothing written");
	if (!path_is_absent(ini))
		return usage_error("'%s' already exists: this directory already has a prestart "
				   "project; nothing written", ini);
	parent = path_dirname(ini);
	if (!path_is_dir(parent)) {
		int rc = usage_error("cannot write '%s': no directory '%s'; nothing written", ini,
				     parent);

		free(parent);
		return rc;
	}
	free(parent);
	if (!path_is_absent(dir) && !path_is_dir(dir))
		return usage_error("cannot make directory '%s': something else is in the way; "
				   "nothing written", dir);
	if (path_is_absent(versions))
		return 0;
	if (stat(versions, &st) < 0 || !S_ISDIR(st.st_mode))
		return usage_error("'%s' exists and is not a directory; nothing written", versions);
	memset(&c->e, 0, sizeof(c->e));
	entry = first_entry(versions, &c->e);
	if (c->e.kind)
		return ctx_fail(c);
	if (entry) {
		int rc = usage_error("'%s' is not empty (it holds '%s'): this directory already "
				     "has a project; nothing written", versions, entry);

		free(entry);
		return rc;
	}
	return 0;
}

/* mkdir -p, remembering what it made so that a failure can undo it. */
static int make_dirs(const char *path, struct strlist *made, struct err *e)
{
	char *p = xstrdup(path);
	int rc = 0;

	for (char *s = p + 1; !rc; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (path_is_absent(p)) {
			rc = path_mkdir(p, e);
			if (!rc)
				strlist_push(made, p);
		} else if (!path_is_dir(p)) {
			rc = err_set(e, ERR_USAGE, "'%s' exists and is not a directory", p);
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

/* DIR, else --dir, else PRESTART_SCRIPT_LOCATION, else the default: the
 * location later commands will use (prestart.ini and alembic.ini are not
 * read: init refuses to run beside either). */
static const char *init_location(const struct ctx *c)
{
	const char *env = getenv("PRESTART_SCRIPT_LOCATION");

	if (c->cli->args.n)
		return c->cli->args.v[0];
	if (c->cli->flags.script_location)
		return c->cli->flags.script_location;
	if (env && *env)
		return env;
	return CONFIG_SCRIPT_LOCATION;
}

int cmd_init(struct ctx *c)
{
	const char *ini = c->cli->flags.config_file, *env = getenv("PRESTART_CONFIG");
	const char *loc = init_location(c);
	struct strlist made = { 0 };
	char *dir, *versions, *text = NULL, *cfg = NULL;
	int rc;

	if (!ini)
		ini = env && *env ? env : DEFAULT_CONFIG;
	if (!*ini || !*loc)
		return usage_error("empty %s for init", *ini ? "script directory" : "config file");
	/* A later command reads the location from the ini file, which trims
	 * blanks and takes "a:b" as Alembic's package:path: refuse what would
	 * not read back as the directory made here. */
	for (const char *p = loc; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ':')
			return usage_error("cannot use '%s' as a script directory: no ':' or control "
					   "characters", loc);
	if (loc[0] == ' ' || loc[0] == '\t' || str_has_suffix(loc, " ") ||
	    str_has_suffix(loc, "\t"))
		return usage_error("cannot use '%s' as a script directory: no leading or trailing "
				   "blanks", loc);
	dir = xstrdup(loc);
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/';)
		dir[--n] = '\0';
	versions = xasprintf("%s%sversions", dir, str_has_suffix(dir, "/") ? "" : "/");
	if ((rc = init_check(c, ini, dir, versions)))
		goto out;

	text = init_config_text(dir);
	/* The file first: it is what fails most (a directory not writable). */
	if (write_new_file(ini, text, &c->e) < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if (make_dirs(versions, &made, &c->e) < 0) {
		/* Nothing written: undo what was made. */
		for (size_t i = made.n; i-- > 0;)
			rmdir(made.v[i]);
		unlink(ini);
		rc = ctx_fail(c);
		goto out;
	}
	if (made.n)
		out("created %s/\n", versions);
	else
		out("using the empty %s/\n", versions);
	out("created %s (every setting, commented out with its default)\n", ini);
	if (c->cli->flags.config_file) {
		char *w = shell_word(ini);

		cfg = xasprintf(" -c %s", w);
		free(w);
	}
	out("next:\n"
	    "  prestart%s revision -m \"create users\"             # a new SQL revision in %s/\n"
	    "  DATABASE_URL=sqlite:///app.db prestart%s upgrade  # or database_url in %s\n",
	    cfg ? cfg : "", versions, cfg ? cfg : "", ini);
	rc = 0;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		err_set(&c->e, ERR_FAILED, "cannot write to stdout: %s", strerror(errno));
		rc = ctx_fail(c);
	}
out:
	strlist_free(&made);
	free(dir);
	free(versions);
	free(text);
	free(cfg);
	return rc;
}
