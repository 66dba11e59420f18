/* config.h - settings from flags, environment, ini file and defaults (SPEC §2).
 *
 * Precedence, highest first: command-line flags, environment, config file,
 * defaults.  An empty environment variable counts as unset (compose files
 * pass VAR= through); an empty flag value is an error; an empty ini value
 * leaves the setting to the level below.
 *
 * The config file is read with inih, as Python's ConfigParser reads it:
 * keys are case-insensitive, indented lines continue the previous value
 * (joined with newlines), a key given twice in a section is an error, and
 * values are interpolated on use (`%(name)s` from the same section, then
 * [DEFAULT], then `here` = the file's absolute directory; `%%` is a literal
 * percent, so a percent-encoded URL in an ini file doubles its '%').
 * Lines may be of any length (the packaged inih's fixed line buffer is
 * worked around); only a section name or key over 197 characters is an
 * error naming the line.
 *
 *   [prestart]  database_url, script_location, version_locations
 *               (split on blanks, commas or newlines), version_table,
 *               version_table_schema, wait_timeout, wait_for (commas or
 *               newlines), lock_timeout, lock_strategy, ddl_lock_timeout,
 *               ddl_retry_budget, health_addr, log_format,
 *               transaction_per_migration, after_upgrade (one command per
 *               line), alembic_command, alembic_config, python,
 *               require_compiled, termination_log, ledger, ledger_schema,
 *               if_ahead, checksum.  Any other key is an
 *               error.
 *   [alembic]   script_location, version_locations split by
 *               version_path_separator as Alembic does (unset: blanks or
 *               commas; os, ':', colon, ';', semicolon, space, comma,
 *               newline), and sqlalchemy.url as the last source of the
 *               database URL.  Other keys are ignored.
 *
 * The [alembic] section read is the one of the file named by
 * `alembic_config` (relative to the prestart.ini's directory), else the
 * config file's own.  Relative script and version locations are relative to
 * the working directory, as in Alembic; a relative location with a colon is
 * Alembic's package-resource form, taken here as a directory under the
 * working directory ("myapp.db:migrations" is myapp/db/migrations).
 */
#ifndef PRESTART_CONFIG_H
#define PRESTART_CONFIG_H

#include "prestart/dburl.h"
#include "prestart/log.h"
#include "prestart/util.h"

/* The script directory when nothing names one. */
#define CONFIG_SCRIPT_LOCATION "migrations"

struct config {
	/* NULL: libpq PG* variables.  Not parsed by config_load(): only the
	 * commands that connect read it, through config_database_url(). */
	char *database_url;
	/* Where it came from: "--database-url", "DATABASE_URL", "<file>:<line>",
	 * "PG* environment" (no URL, but one of libpq's PGHOST, PGHOSTADDR,
	 * PGPORT, PGDATABASE, PGUSER, PGSERVICE, PGSERVICEFILE is set), or NULL
	 * when nothing names a database. */
	char *database_url_source;
	/* The ini key it was read from ("database_url", "sqlalchemy.url"; a
	 * static string), or NULL. */
	const char *database_url_key;
	/* What the caller should log as warnings: whitespace removed around a
	 * URL, each naming where it came from and never the value. */
	struct strlist warnings;
	char *config_file;          /* the ini file read, or NULL */
	char *alembic_config;       /* the file whose [alembic] section was read
				     * (for `alembic -c`), or NULL */
	char *script_location;      /* default CONFIG_SCRIPT_LOCATION */
	struct strlist version_locations; /* default <script_location>/versions */
	char *version_table;        /* default "alembic_version" */
	char *version_table_schema; /* NULL: default schema */
	long long wait_timeout_ms;  /* default 60000; 0 = forever */
	struct strlist wait_for;
	long long lock_timeout_ms;  /* default 0 = forever */
	long long ddl_lock_timeout_ms;  /* SPEC §7.2: default 1000; 0 = forever */
	long long ddl_retry_budget_ms;  /* SPEC §7.2: default 600000; 0 = no retries */
	int lock_strategy;          /* db.h's enum lock_strategy: 0 auto (default),
				     * 1 session, 2 lease */
	char *health_addr;          /* NULL: off */
	char *termination_log;      /* NULL: /dev/termination-log when writable (termlog.h) */
	enum log_format log_format;
	int transaction_per_migration;
	struct strlist after_upgrade; /* commands, split into argv by the runner */
	char *alembic_command;      /* default "alembic"; split into argv by the runner */
	/* SPEC §7.5 */
	char *python;               /* for `compile`; default "/usr/bin/python3", split
				     * into argv like alembic_command */
	int require_compiled;       /* a .py revision to run without a fresh compiled
				     * file is an error (exit 3) */
	/* The ledger (SPEC §7.3). */
	int ledger;                 /* -1 default (on, except .py projects on
				     * SQLite), 0 off, 1 on */
	char *ledger_schema;        /* default "prestart" (PostgreSQL) */
	int if_ahead_fail;          /* --if-ahead fail (default run: 0) */
	enum checksum_mode { CHECKSUM_WARN = 0, CHECKSUM_FAIL, CHECKSUM_OFF } checksum;
	/* Where if_ahead and checksum were set, as errors quote it ("--checksum
	 * fail", "PRESTART_CHECKSUM=fail", "checksum = fail in prestart.ini:7"),
	 * or NULL for the default. */
	char *if_ahead_from, *checksum_from;
	/* SPEC §9.4's --phase: all (default, every pending revision), expand
	 * (those that do not break the previous application version),
	 * contract (everything, after the rollout). */
	enum rollout_phase { ROLLOUT_ALL = 0, ROLLOUT_EXPAND, ROLLOUT_CONTRACT } phase;
	char *phase_from;           /* where it was set, or NULL for the default */
	/* SPEC §9.5: many tenants.  tenants: the source as given (a comma
	 * list, @FILE or query:SQL; tenants.h), NULL: a single run;
	 * tenants_from: where it was set ("--tenants", "PRESTART_TENANTS",
	 * "prestart.ini:4") for error messages. */
	char *tenants, *tenants_from;
	int tenant_parallel;        /* default 4 connections */
	int tenant_canary;          /* default 0 */
	int tenant_max_failures;    /* default 0: no limit */
	int tenant_shard_index, tenant_shard_count; /* default 0/1: every tenant */
	char *tenant_search_path;   /* default "{tenant},public" */
	/* SPEC §9.3's deploy-time guard: refuse (fail, default), log (warn) or
	 * ignore (off) a statement that rewrites or scans a table larger than
	 * guard_size bytes (default 128MB) under a lock that blocks the
	 * application. */
	enum guard_mode { GUARD_FAIL = 0, GUARD_WARN, GUARD_OFF } guard;
	long long guard_size;
	/* SPEC §9.3: data kept on drops (archive.h) */
	long long archive_limit;        /* bytes; default 1GB; 0 = no archiving */
	/* Where guard, guard_size and archive_limit were set, as the guard's
	 * refusals quote it (like checksum_from: "--guard-size 1MB",
	 * "PRESTART_GUARD_SIZE=1MB", "guard_size = 1MB in prestart.ini:3"), or
	 * NULL for the default. */
	char *guard_from, *guard_size_from, *archive_limit_from;
	long long archive_retention_ms; /* default 30d; 0 = kept until restored */
};

/* Values given on the command line. NULL strings and negative numbers mean
 * "not given"; lists are appended to nothing below them (a flag list
 * replaces env/file lists when non-empty). */
struct config_flags {
	const char *database_url;
	const char *config_file;
	const char *script_location;
	const char *wait_timeout;     /* unparsed duration */
	struct strlist wait_for;
	const char *lock_timeout;
	const char *ddl_lock_timeout;
	const char *ddl_retry_budget;
	const char *lock_strategy;
	const char *health_addr;
	const char *termination_log;
	const char *log_format;
	int transaction_per_migration; /* -1 not given, else 0/1 */
	struct strlist after_upgrade;
	int require_compiled;          /* -1 not given, else 0/1 */
	const char *ledger_schema;
	const char *if_ahead;
	const char *checksum;
	const char *phase;
	const char *tenants;
	const char *tenant_parallel;
	const char *tenant_canary;
	const char *tenant_max_failures;
	const char *tenant_shard;
	const char *tenant_search_path;
	const char *guard;
	const char *guard_size;        /* unparsed size */
	const char *archive_limit;     /* unparsed size */
	const char *archive_retention; /* unparsed duration */
};

void config_flags_init(struct config_flags *f);
void config_flags_release(struct config_flags *f);

/* Build the effective configuration.  Reads the environment (getenv) and
 * the config file: the one named by flags/PRESTART_CONFIG (an error when
 * missing), else ./prestart.ini, else ./alembic.ini, else none.  Every value
 * is validated here (durations, log format, booleans, unknown [prestart]
 * keys, ini syntax errors with file:line) except the database URL, which
 * only the commands that connect parse (config_database_url()): Alembic
 * never looks at it for the others, and real alembic.ini files ship a
 * placeholder.  Whitespace around the database URL and the --wait-for URLs
 * is removed, with a warning in c->warnings.  Errors are ERR_USAGE and name
 * the setting and its source ("invalid duration 'x' for --wait-timeout",
 * "prestart.ini:4: invalid duration 'x' for wait_timeout").  On failure *c
 * holds nothing to release.  Release with config_release(). */
int config_load(struct config *c, const struct config_flags *flags, struct err *e);
void config_release(struct config *c);

/* The keys [prestart] accepts, NULL-terminated (static storage). */
const char *const *config_keys(void);

/* Parse c->database_url with dburl_parse() into *u (release it with
 * dburl_release()).  Errors are dburl_parse's, prefixed with where the URL
 * came from ("DATABASE_URL: ...", "alembic.ini:3: ..., in sqlalchemy.url
 * ..."), never showing the password. */
int config_database_url(const struct config *c, struct dburl *u, struct err *e);

/* Parse "250ms", "30s", "5m", "1h", "30d" or bare seconds ("10", "1.5"; every
 * unit takes decimals) into milliseconds, rounded to the nearest, a
 * non-zero duration never to 0.  Returns -1 on anything else (sign,
 * blanks, unknown unit, overflow). Pure. */
int config_parse_duration(const char *s, long long *ms);
/* Parse a size: bytes, or a number with B, kB, MB, GB or TB (1024-based,
 * as PostgreSQL's own units).  0 or -1. */
int config_parse_size(const char *s, long long *bytes);

/* Parse a boolean ("1", "true", "yes", "on", "0", "false", "no", "off",
 * case-insensitive). Returns -1 on anything else. */
int config_parse_bool(const char *s, int *out);

#endif
