/* config.h - settings from flags, environment, ini file and defaults (SPEC §2).
 *
 * Precedence, highest first: command-line flags, environment, config file,
 * defaults.  The ini file is read with inih: `[prestart]` keys of
 * prestart.ini, or `[alembic]` keys of alembic.ini (script_location,
 * version_locations, version_path_separator, sqlalchemy.url) with
 * `%(here)s` and `[DEFAULT]` interpolation.  prestart.ini may name an
 * alembic.ini with `alembic_config = path`; its [alembic] values then fill
 * what prestart.ini leaves unset.
 */
#ifndef PRESTART_CONFIG_H
#define PRESTART_CONFIG_H

#include "prestart/util.h"

enum log_format { LOGFMT_TEXT = 0, LOGFMT_JSON = 1 };

struct config {
	char *database_url;         /* NULL: libpq PG* variables */
	char *database_url_source;  /* "--database-url", "DATABASE_URL", "<file>", ... */
	char *config_file;          /* the ini file read, or NULL */
	char *script_location;      /* default "migrations" */
	struct strlist version_locations; /* default <script_location>/versions */
	char *version_table;        /* default "alembic_version" */
	char *version_table_schema; /* NULL: default schema */
	long long wait_timeout_ms;  /* default 60000; 0 = forever */
	struct strlist wait_for;
	long long lock_timeout_ms;  /* default 0 = forever */
	char *health_addr;          /* NULL: off */
	enum log_format log_format;
	int transaction_per_migration;
	struct strlist after_upgrade; /* commands, split into argv by the runner */
	char *alembic_command;      /* default "alembic" */
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
 * is validated here (durations, log format, booleans, unknown [prestart]
 * keys, ini syntax errors with file:line): errors are ERR_USAGE.
 * Release with config_release(). */
int config_load(struct config *c, const struct config_flags *flags, struct err *e);
void config_release(struct config *c);

/* Parse "250ms", "30s", "5m", "1h" or bare seconds ("10", "1.5") into
 * milliseconds. Returns -1 on anything else. Pure. */
int config_parse_duration(const char *s, long long *ms);

/* Parse a boolean ("1", "true", "yes", "on", "0", "false", "no", "off",
 * case-insensitive). Returns -1 on anything else. */
int config_parse_bool(const char *s, int *out);

#endif
