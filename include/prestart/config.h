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
 * The packaged inih limits a line to 197 characters; longer lines are an
 * error naming the line rather than being silently split.
 *
 *   [prestart]  database_url, script_location, version_locations
 *               (split on blanks, commas or newlines), version_table,
 *               version_table_schema, wait_timeout, wait_for (commas or
 *               newlines), lock_timeout, lock_strategy, health_addr, log_format,
 *               transaction_per_migration, after_upgrade (one command per
 *               line), alembic_command, alembic_config.  Any other key is an
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

#include "prestart/util.h"

enum log_format { LOGFMT_TEXT = 0, LOGFMT_JSON = 1 };

struct config {
	char *database_url;         /* NULL: libpq PG* variables */
	/* Where it came from: "--database-url", "DATABASE_URL", "<file>:<line>",
	 * "PG* environment" (no URL, but PGHOST, PGDATABASE, ... are set), or
	 * NULL when nothing names a database. */
	char *database_url_source;
	char *config_file;          /* the ini file read, or NULL */
	char *alembic_config;       /* the file whose [alembic] section was read
				     * (for `alembic -c`), or NULL */
	char *script_location;      /* default "migrations" */
	struct strlist version_locations; /* default <script_location>/versions */
	char *version_table;        /* default "alembic_version" */
	char *version_table_schema; /* NULL: default schema */
	long long wait_timeout_ms;  /* default 60000; 0 = forever */
	struct strlist wait_for;
	long long lock_timeout_ms;  /* default 0 = forever */
	int lock_strategy;          /* db.h's enum lock_strategy: 0 auto (default),
				     * 1 session, 2 lease */
	char *health_addr;          /* NULL: off */
	enum log_format log_format;
	int transaction_per_migration;
	struct strlist after_upgrade; /* commands, split into argv by the runner */
	char *alembic_command;      /* default "alembic"; split into argv by the runner */
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
	const char *lock_strategy;
	const char *health_addr;
	const char *log_format;
	int transaction_per_migration; /* -1 not given, else 0/1 */
	struct strlist after_upgrade;
};

void config_flags_init(struct config_flags *f);
void config_flags_release(struct config_flags *f);

/* Build the effective configuration.  Reads the environment (getenv) and
 * the config file: the one named by flags/PRESTART_CONFIG (an error when
 * missing), else ./prestart.ini, else ./alembic.ini, else none.  Every value
 * is validated here (the database URL through dburl_parse, durations, log
 * format, booleans, unknown [prestart] keys, ini syntax errors with
 * file:line): errors are ERR_USAGE and name the setting and its source
 * ("invalid duration 'x' for --wait-timeout", "prestart.ini:4: invalid
 * duration 'x' for wait_timeout").  On failure *c holds nothing to release.
 * Release with config_release(). */
int config_load(struct config *c, const struct config_flags *flags, struct err *e);
void config_release(struct config *c);

/* The keys [prestart] accepts, NULL-terminated (static storage). */
const char *const *config_keys(void);

/* Parse "250ms", "30s", "5m", "1h" or bare seconds ("10", "1.5"; every
 * unit takes decimals) into milliseconds, rounded to the nearest, a
 * non-zero duration never to 0.  Returns -1 on anything else (sign,
 * blanks, unknown unit, overflow). Pure. */
int config_parse_duration(const char *s, long long *ms);

/* Parse a boolean ("1", "true", "yes", "on", "0", "false", "no", "off",
 * case-insensitive). Returns -1 on anything else. */
int config_parse_bool(const char *s, int *out);

#endif
