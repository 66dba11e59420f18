#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scratch.h"

#include "prestart/config.h"

static void load_ok(struct config *c, const struct config_flags *fl)
{
	struct err e = { 0 };
	struct config_flags none;

	config_flags_init(&none);
	if (config_load(c, fl ? fl : &none, &e) < 0)
		fail_msg("config_load: %s", e.msg);
}

static void load_bad(const struct config_flags *fl, const char *want)
{
	struct err e = { 0 };
	struct config c;
	struct config_flags none;

	config_flags_init(&none);
	assert_int_equal(config_load(&c, fl ? fl : &none, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	if (!strstr(e.msg, want))
		fail_msg("got '%s', wanted '%s'", e.msg, want);
	assert_null(strstr(e.msg, "s3cret"));
}

/* The configuration loads (the URL is not parsed then), and parsing its
 * database URL fails with `want`, never showing the password. */
static void url_bad(const struct config_flags *fl, const char *want)
{
	struct err e = { 0 };
	struct config c;
	struct dburl u;

	load_ok(&c, fl);
	assert_int_equal(config_database_url(&c, &u, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	if (!strstr(e.msg, want))
		fail_msg("got '%s', wanted '%s'", e.msg, want);
	assert_null(strstr(e.msg, "s3cret"));
	config_release(&c);
}

static void test_duration(void **state)
{
	static const struct { const char *s; long long ms; } good[] = {
		{ "250ms", 250 }, { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
		{ "30d", 2592000000LL },
		{ "10", 10000 }, { "1.5", 1500 }, { "0", 0 }, { "0s", 0 }, { "0.5m", 30000 },
		{ ".5", 500 }, { "2.", 2000 }, { "0.0001", 1 }, { "1.2345ms", 1 },
		{ "9223372036854775ms", 9223372036854775LL }, { "00012s", 12000 },
	};
	static const char *const bad[] = {
		"", "ms", "5x", "-1", "+1", " 1", "1 ", "1.2.3", ".", "s", "1e3", "abc", "1sm",
		"99999999999999999999", "9223372036854776s", "2562047788015216h", "1hh", NULL
	};
	long long ms;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		ms = -1;
		if (config_parse_duration(good[i].s, &ms) < 0)
			fail_msg("'%s' rejected", good[i].s);
		assert_int_equal(ms, good[i].ms);
	}
	for (size_t i = 0; bad[i]; i++)
		if (config_parse_duration(bad[i], &ms) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(config_parse_duration(NULL, &ms), -1);
}

static void test_size(void **state)
{
	static const struct { const char *s; long long bytes; } good[] = {
		{ "0", 0 }, { "512", 512 }, { "512B", 512 }, { "64kB", 65536 }, { "64KB", 65536 },
		{ "10MB", 10485760 }, { "128MB", 134217728 }, { "1GB", 1073741824 },
		{ "2TB", 2199023255552LL }, { "10 MB", 10485760 },
		{ "9223372036854775807", 9223372036854775807LL },
	};
	static const char *const bad[] = {
		"", "MB", "-1", "+1", " 1", "1 ", "1.5GB", "10mb", "10 parsecs", "1e3", "10M",
		"9223372036854775808", "9000000000TB", NULL
	};
	long long n;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		n = -1;
		if (config_parse_size(good[i].s, &n) < 0)
			fail_msg("'%s' rejected", good[i].s);
		assert_int_equal(n, good[i].bytes);
	}
	for (size_t i = 0; bad[i]; i++)
		if (config_parse_size(bad[i], &n) == 0)
			fail_msg("'%s' accepted", bad[i]);
	assert_int_equal(config_parse_size(NULL, &n), -1);
}

static void test_bool(void **state)
{
	static const char *const t[] = { "1", "true", "YES", "On", NULL };
	static const char *const f[] = { "0", "False", "no", "OFF", NULL };
	int b;

	(void)state;
	for (size_t i = 0; t[i]; i++) {
		assert_int_equal(config_parse_bool(t[i], &b), 0);
		assert_int_equal(b, 1);
		assert_int_equal(config_parse_bool(f[i], &b), 0);
		assert_int_equal(b, 0);
	}
	assert_int_equal(config_parse_bool("", &b), -1);
	assert_int_equal(config_parse_bool("2", &b), -1);
	assert_int_equal(config_parse_bool("truee", &b), -1);
}

static void test_defaults(void **state)
{
	struct config c;

	(void)state;
	load_ok(&c, NULL);
	assert_null(c.database_url);
	assert_null(c.database_url_source);
	assert_null(c.config_file);
	assert_null(c.alembic_config);
	assert_string_equal(c.script_location, "migrations");
	assert_int_equal(c.version_locations.n, 1);
	assert_string_equal(c.version_locations.v[0], "migrations/versions");
	assert_string_equal(c.version_table, "alembic_version");
	assert_null(c.version_table_schema);
	assert_int_equal(c.wait_timeout_ms, 60000);
	assert_int_equal(c.lock_timeout_ms, 0);
	assert_int_equal(c.ddl_lock_timeout_ms, 1000);
	assert_int_equal(c.guard, GUARD_FAIL);
	assert_int_equal(c.guard_size, 128LL * 1024 * 1024);
	assert_int_equal(c.ddl_retry_budget_ms, 600000);
	assert_int_equal(c.wait_for.n, 0);
	assert_null(c.health_addr);
	assert_int_equal(c.log_format, LOGFMT_TEXT);
	assert_int_equal(c.transaction_per_migration, 0);
	assert_int_equal(c.after_upgrade.n, 0);
	assert_string_equal(c.alembic_command, "alembic");
	config_release(&c);

	setenv("PGHOST", "db", 1);
	load_ok(&c, NULL);
	assert_null(c.database_url);
	assert_string_equal(c.database_url_source, "PG* environment");
	config_release(&c);
}

static const char full_ini[] =
	"; prestart settings\n"
	"[prestart]\n"
	"database_url = postgresql://u:s3cret@ini/db\n"
	"script_location = ini_migrations\n"
	"version_table = ini_version\n"
	"version_table_schema = ini_schema\n"
	"wait_timeout = 10s\n"
	"wait_for = tcp://a:1, tcp://b:2\n"
	"lock_timeout = 1m\n"
	"health_addr = :8081\n"
	"log_format = json\n"
	"transaction_per_migration = yes\n"
	"after_upgrade =\n"
	"    echo one\n"
	"    echo two\n"
	"alembic_command = /venv/bin/alembic\n";

static void test_precedence_file(void **state)
{
	struct config c;

	(void)state;
	write_file("prestart.ini", full_ini);
	write_file("alembic.ini", "[alembic]\nscript_location = ignored\n");
	load_ok(&c, NULL);
	assert_string_equal(c.config_file, "prestart.ini");
	assert_null(c.alembic_config);
	assert_string_equal(c.database_url, "postgresql://u:s3cret@ini/db");
	assert_string_equal(c.database_url_source, "prestart.ini:3");
	assert_string_equal(c.script_location, "ini_migrations");
	assert_string_equal(c.version_locations.v[0], "ini_migrations/versions");
	assert_string_equal(c.version_table, "ini_version");
	assert_string_equal(c.version_table_schema, "ini_schema");
	assert_int_equal(c.wait_timeout_ms, 10000);
	assert_int_equal(c.wait_for.n, 2);
	assert_string_equal(c.wait_for.v[0], "tcp://a:1");
	assert_string_equal(c.wait_for.v[1], "tcp://b:2");
	assert_int_equal(c.lock_timeout_ms, 60000);
	assert_string_equal(c.health_addr, ":8081");
	assert_int_equal(c.log_format, LOGFMT_JSON);
	assert_int_equal(c.transaction_per_migration, 1);
	assert_int_equal(c.after_upgrade.n, 2);
	assert_string_equal(c.after_upgrade.v[0], "echo one");
	assert_string_equal(c.after_upgrade.v[1], "echo two");
	assert_string_equal(c.alembic_command, "/venv/bin/alembic");
	config_release(&c);
}

static void test_precedence_env(void **state)
{
	struct config c;

	(void)state;
	write_file("prestart.ini", full_ini);
	setenv("DATABASE_URL", "sqlite:///env.db", 1);
	setenv("PRESTART_SCRIPT_LOCATION", "env_migrations", 1);
	setenv("PRESTART_VERSION_TABLE", "env_version", 1);
	setenv("PRESTART_VERSION_TABLE_SCHEMA", "env_schema", 1);
	setenv("PRESTART_WAIT_TIMEOUT", "20s", 1);
	setenv("PRESTART_WAIT_FOR", "tcp://e:1,http://f/", 1);
	setenv("PRESTART_LOCK_TIMEOUT", "2m", 1);
	setenv("PRESTART_HEALTH_ADDR", ":9000", 1);
	setenv("PRESTART_LOG_FORMAT", "text", 1);
	setenv("PRESTART_TRANSACTION_PER_MIGRATION", "false", 1);
	setenv("PRESTART_ALEMBIC_COMMAND", "python -m alembic", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.database_url, "sqlite:///env.db");
	assert_string_equal(c.database_url_source, "DATABASE_URL");
	assert_string_equal(c.script_location, "env_migrations");
	assert_string_equal(c.version_locations.v[0], "env_migrations/versions");
	assert_string_equal(c.version_table, "env_version");
	assert_string_equal(c.version_table_schema, "env_schema");
	assert_int_equal(c.wait_timeout_ms, 20000);
	assert_int_equal(c.wait_for.n, 2);
	assert_string_equal(c.wait_for.v[1], "http://f/");
	assert_int_equal(c.lock_timeout_ms, 120000);
	assert_string_equal(c.health_addr, ":9000");
	assert_int_equal(c.log_format, LOGFMT_TEXT);
	assert_int_equal(c.transaction_per_migration, 0);
	assert_int_equal(c.after_upgrade.n, 2); /* no environment variable */
	assert_string_equal(c.alembic_command, "python -m alembic");
	config_release(&c);

	/* an empty variable is unset */
	setenv("PRESTART_WAIT_TIMEOUT", "", 1);
	setenv("DATABASE_URL", "", 1);
	load_ok(&c, NULL);
	assert_int_equal(c.wait_timeout_ms, 10000);
	assert_string_equal(c.database_url_source, "prestart.ini:3");
	config_release(&c);
}

static void test_precedence_flags(void **state)
{
	struct config_flags fl;
	struct config c;

	(void)state;
	write_file("prestart.ini", full_ini);
	setenv("DATABASE_URL", "sqlite:///env.db", 1);
	setenv("PRESTART_SCRIPT_LOCATION", "env_migrations", 1);
	setenv("PRESTART_WAIT_TIMEOUT", "20s", 1);
	setenv("PRESTART_WAIT_FOR", "tcp://e:1", 1);
	setenv("PRESTART_LOCK_TIMEOUT", "2m", 1);
	setenv("PRESTART_HEALTH_ADDR", ":9000", 1);
	setenv("PRESTART_LOG_FORMAT", "text", 1);
	setenv("PRESTART_TRANSACTION_PER_MIGRATION", "0", 1);
	config_flags_init(&fl);
	fl.database_url = "postgresql://flag/db";
	fl.script_location = "flag_migrations/";
	fl.wait_timeout = "0";
	fl.lock_timeout = "250ms";
	fl.health_addr = "127.0.0.1:1";
	fl.log_format = "json";
	fl.transaction_per_migration = 1;
	strlist_push(&fl.wait_for, "tcp://flag:1");
	strlist_push(&fl.after_upgrade, "flag hook");
	load_ok(&c, &fl);
	assert_string_equal(c.database_url, "postgresql://flag/db");
	assert_string_equal(c.database_url_source, "--database-url");
	assert_string_equal(c.script_location, "flag_migrations");
	assert_string_equal(c.version_locations.v[0], "flag_migrations/versions");
	assert_int_equal(c.wait_timeout_ms, 0);
	assert_int_equal(c.lock_timeout_ms, 250);
	assert_string_equal(c.health_addr, "127.0.0.1:1");
	assert_int_equal(c.log_format, LOGFMT_JSON);
	assert_int_equal(c.transaction_per_migration, 1);
	assert_int_equal(c.wait_for.n, 1);
	assert_string_equal(c.wait_for.v[0], "tcp://flag:1");
	assert_int_equal(c.after_upgrade.n, 1);
	assert_string_equal(c.after_upgrade.v[0], "flag hook");
	config_release(&c);

	fl.transaction_per_migration = 0;
	load_ok(&c, &fl);
	assert_int_equal(c.transaction_per_migration, 0);
	config_release(&c);
	config_flags_release(&fl);
}

static void test_alembic_ini(void **state)
{
	struct config c;
	char here[4200], want[4300];

	(void)state;
	assert_non_null(getcwd(here, sizeof(here)));
	write_file("alembic.ini",
		   "[DEFAULT]\n"
		   "base = %(here)s/db\n"
		   "[alembic]\n"
		   "Script_Location = %(base)s/migrations\n"
		   "file_template = %%(rev)s_%%(slug)s\n"
		   "prepend_sys_path = .\n"
		   "version_path_separator = os\n"
		   "version_locations = %(base)s/migrations/versions:extra/versions/\n"
		   "sqlalchemy.url = postgresql://u:p%%40ss@h/d\n"
		   "[loggers]\n"
		   "keys = root\n");
	load_ok(&c, NULL);
	assert_string_equal(c.config_file, "alembic.ini");
	assert_string_equal(c.alembic_config, "alembic.ini");
	snprintf(want, sizeof(want), "%s/db/migrations", here);
	assert_string_equal(c.script_location, want);
	assert_int_equal(c.version_locations.n, 2);
	snprintf(want, sizeof(want), "%s/db/migrations/versions", here);
	assert_string_equal(c.version_locations.v[0], want);
	assert_string_equal(c.version_locations.v[1], "extra/versions");
	assert_string_equal(c.database_url, "postgresql://u:p%40ss@h/d");
	assert_string_equal(c.database_url_source, "alembic.ini:9");
	config_release(&c);
}

static void test_version_separators(void **state)
{
	static const struct { const char *sep, *val; size_t n; } cases[] = {
		{ NULL, "a b,c, d", 4 }, { "space", "a b", 2 }, { "os", "a:b c", 2 },
		{ ":", "a:b", 2 }, { ";", "a;b;c", 3 }, { "semicolon", "a;b", 2 },
		{ "colon", "a:b", 2 }, { "comma", "a,b c", 2 }, { "newline", "\n a b\n c", 2 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct config c;
		char text[256];

		snprintf(text, sizeof(text), "[alembic]\n%s%s%sversion_locations = %s\n",
			 cases[i].sep ? "version_path_separator = " : "",
			 cases[i].sep ? cases[i].sep : "", cases[i].sep ? "\n" : "", cases[i].val);
		write_file("alembic.ini", text);
		load_ok(&c, NULL);
		if (c.version_locations.n != cases[i].n)
			fail_msg("separator %s: %zu locations", cases[i].sep ? cases[i].sep : "unset",
				 c.version_locations.n);
		config_release(&c);
	}
	write_file("alembic.ini", "[alembic]\nversion_path_separator = tab\nversion_locations = a\n");
	load_bad(NULL, "alembic.ini:2: invalid separator 'tab' for version_path_separator");
}

static void test_package_location(void **state)
{
	struct config c;

	(void)state;
	write_file("alembic.ini", "[alembic]\nscript_location = myapp.db:migrations\n");
	load_ok(&c, NULL);
	assert_string_equal(c.script_location, "myapp/db/migrations");
	assert_string_equal(c.version_locations.v[0], "myapp/db/migrations/versions");
	config_release(&c);
}

static void test_alembic_config_key(void **state)
{
	struct config c;
	char here[4200], want[4300];

	(void)state;
	assert_non_null(getcwd(here, sizeof(here)));
	assert_int_equal(mkdir("conf", 0700), 0);
	assert_int_equal(mkdir("conf/app", 0700), 0);
	write_file("conf/prestart.ini",
		   "[prestart]\n"
		   "alembic_config = app/alembic.ini\n"
		   "wait_timeout = 5s\n"
		   "script_location =\n");
	write_file("conf/app/alembic.ini",
		   "[alembic]\n"
		   "script_location = %(here)s/migrations\n"
		   "sqlalchemy.url = sqlite:///x.db\n");
	setenv("PRESTART_CONFIG", "conf/prestart.ini", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.config_file, "conf/prestart.ini");
	assert_string_equal(c.alembic_config, "conf/app/alembic.ini");
	snprintf(want, sizeof(want), "%s/conf/app/migrations", here);
	assert_string_equal(c.script_location, want);
	assert_string_equal(c.database_url, "sqlite:///x.db");
	assert_string_equal(c.database_url_source, "conf/app/alembic.ini:3");
	assert_int_equal(c.wait_timeout_ms, 5000);
	config_release(&c);

	/* [prestart] wins over [alembic], and the same file may carry both */
	write_file("both.ini",
		   "[alembic]\nscript_location = from_alembic\nsqlalchemy.url = sqlite:///a.db\n"
		   "[prestart]\nscript_location = from_prestart\n");
	setenv("PRESTART_CONFIG", "both.ini", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.script_location, "from_prestart");
	assert_string_equal(c.database_url, "sqlite:///a.db");
	assert_string_equal(c.alembic_config, "both.ini");
	config_release(&c);

	write_file("conf/prestart.ini", "[prestart]\nalembic_config = missing.ini\n");
	setenv("PRESTART_CONFIG", "conf/prestart.ini", 1);
	load_bad(NULL, "conf/prestart.ini:2: alembic_config: cannot open 'conf/missing.ini'");
}

static void test_interpolation(void **state)
{
	struct config c;
	char here[4200], want[4300];

	(void)state;
	assert_non_null(getcwd(here, sizeof(here)));
	write_file("prestart.ini",
		   "[DEFAULT]\n"
		   "host = db.internal\n"
		   "[prestart]\n"
		   "database_url = postgresql://u:p%%25w@%(host)s/%(name)s\n"
		   "name = app\n");
	load_bad(NULL, "prestart.ini:5: unknown key 'name' in [prestart]");

	write_file("prestart.ini",
		   "[DEFAULT]\n"
		   "host = db.internal\n"
		   "[prestart]\n"
		   "database_url = postgresql://u:p%%25w@%(HOST)s/app\n"
		   "health_addr = 100%%\n"
		   "script_location = %(here)s/m\n");
	load_ok(&c, NULL);
	assert_string_equal(c.database_url, "postgresql://u:p%25w@db.internal/app");
	assert_string_equal(c.health_addr, "100%");
	snprintf(want, sizeof(want), "%s/m", here);
	assert_string_equal(c.script_location, want);
	config_release(&c);

	write_file("prestart.ini", "[prestart]\nhealth_addr = 100%\n");
	load_bad(NULL, "prestart.ini:2: bad interpolation in 'health_addr': '%' must be followed");
	write_file("prestart.ini", "[prestart]\nhealth_addr = %(nope)s\n");
	load_bad(NULL, "prestart.ini:2: bad interpolation in 'health_addr': no key 'nope'");
	write_file("prestart.ini", "[prestart]\nhealth_addr = %(nope\n");
	load_bad(NULL, "prestart.ini:2: bad interpolation in 'health_addr': expected '%(name)s'");
	write_file("prestart.ini", "[DEFAULT]\na = %(b)s\nb = %(a)s\n[prestart]\nhealth_addr = %(a)s\n");
	load_bad(NULL, "prestart.ini:5: interpolation of 'health_addr' is too deep");
	/* interpolation is lazy: an unused key may hold anything */
	write_file("alembic.ini", "[alembic]\nfile_template = %(rev\n");
	remove("prestart.ini");
	load_ok(&c, NULL);
	config_release(&c);
}

static void test_multiline(void **state)
{
	struct config c;

	(void)state;
	write_file("prestart.ini",
		   "[prestart]\n"
		   "wait_for = tcp://a:1\n"
		   "  tcp://b:2, tcp://c:3\n"
		   "\n"
		   "  # a comment inside the value\n"
		   "  http://d/\n"
		   "after_upgrade = ./hook --flag=1\n"
		   "\t./second\n"
		   "alembic_command = alembic ;not a comment in Python 3\r\n");
	load_ok(&c, NULL);
	assert_string_equal(c.alembic_command, "alembic ;not a comment in Python 3");
	assert_int_equal(c.wait_for.n, 4);
	assert_string_equal(c.wait_for.v[3], "http://d/");
	assert_int_equal(c.after_upgrade.n, 2);
	assert_string_equal(c.after_upgrade.v[0], "./hook --flag=1");
	assert_string_equal(c.after_upgrade.v[1], "./second");
	config_release(&c);
}

/* One mistake in prestart.ini: the message names the file and line.  url:
 * the file loads, and parsing its database URL fails. */
static const struct {
	const char *ini, *want;
	int url;
} ini_mistakes[] = {
	{ "[prestart]\nwait_timeout = 1s\nfrobnicate = 1\n",
	  "prestart.ini:3: unknown key 'frobnicate' in [prestart]", 0 },
	{ "[prestart]\nwait_timeout = 1s\nthis is not ini\n", "prestart.ini:3: syntax error", 0 },
	{ "[prestart\n", "prestart.ini:1: syntax error", 0 },
	{ "[prestart]\nwait_timeout = 1s\nWAIT_TIMEOUT = 2s\n",
	  "prestart.ini:3: duplicate key 'wait_timeout' in [prestart] (first on line 2)", 0 },
	{ "[prestart]\nwait_timeout = abc\n",
	  "prestart.ini:2: invalid duration 'abc' for wait_timeout", 0 },
	{ "[prestart]\nlock_timeout = -1s\n",
	  "prestart.ini:2: invalid duration '-1s' for lock_timeout", 0 },
	{ "[prestart]\nlog_format = xml\n",
	  "prestart.ini:2: invalid log format 'xml' for log_format", 0 },
	{ "[prestart]\ntransaction_per_migration = maybe\n",
	  "prestart.ini:2: invalid boolean 'maybe' for transaction_per_migration", 0 },
	{ "[prestart]\ndatabase_url = mysql://u:s3cret@h/d\n",
	  "prestart.ini:2: unsupported database URL scheme 'mysql'", 1 },
};

static void test_file_errors(void **state)
{
	struct config_flags fl;
	struct config c;
	char longline[400];

	(void)state;
	for (size_t i = 0; i < sizeof(ini_mistakes) / sizeof(ini_mistakes[0]); i++) {
		write_file("prestart.ini", ini_mistakes[i].ini);
		if (ini_mistakes[i].url)
			url_bad(NULL, ini_mistakes[i].want);
		else
			load_bad(NULL, ini_mistakes[i].want);
	}
	/* a long value is read whole; a section name that long is refused */
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "[prestart]\nhealth_addr = ", 25);
	longline[sizeof(longline) - 1] = '\0';
	write_file("prestart.ini", longline);
	load_ok(&c, NULL);
	assert_int_equal(strlen(c.health_addr), sizeof(longline) - 1 - 25);
	config_release(&c);
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "[prestart]\n[", 12);
	longline[sizeof(longline) - 2] = ']';
	longline[sizeof(longline) - 1] = '\0';
	write_file("prestart.ini", longline);
	load_bad(NULL, "prestart.ini:2: line too long: a section name must fit in 197 characters");

	/* an explicitly named file must exist; the implicit ones may not */
	remove("prestart.ini");
	config_flags_init(&fl);
	fl.config_file = "nope.ini";
	load_bad(&fl, "cannot open config file 'nope.ini' (from --config)");
	setenv("PRESTART_CONFIG", "nope2.ini", 1);
	load_bad(NULL, "cannot open config file 'nope2.ini' (from PRESTART_CONFIG)");
	fl.config_file = "";
	load_bad(&fl, "empty value for --config");
	assert_int_equal(mkdir("adir", 0700), 0);
	fl.config_file = "adir";
	load_bad(&fl, "is a directory");
}

/* One bad flag (a string member of struct config_flags) or environment
 * variable, the rest unset.  url: the configuration loads, and parsing its
 * database URL fails. */
#define FLAG(member) offsetof(struct config_flags, member)
static const struct {
	size_t flag;
	const char *value, *want;
	int url;
} flag_mistakes[] = {
	{ FLAG(wait_timeout), "abc", "invalid duration 'abc' for --wait-timeout", 0 },
	{ FLAG(lock_timeout), "5x", "invalid duration '5x' for --lock-timeout", 0 },
	{ FLAG(log_format), "yaml",
	  "invalid log format 'yaml' for --log-format (expected text or json)", 0 },
	{ FLAG(health_addr), "", "empty value for --health-addr", 0 },
	{ FLAG(database_url), "", "empty value for --database-url", 0 },
	{ FLAG(database_url), "postgresql://u:s3cret@h/d?bogus=1",
	  "--database-url: unknown database URL parameter 'bogus'", 1 },
};

static const struct {
	const char *var, *value, *want;
	int url;
} env_mistakes[] = {
	{ "PRESTART_WAIT_TIMEOUT", "ms", "invalid duration 'ms' for PRESTART_WAIT_TIMEOUT", 0 },
	{ "PRESTART_LOCK_TIMEOUT", "1.5.2",
	  "invalid duration '1.5.2' for PRESTART_LOCK_TIMEOUT", 0 },
	{ "PRESTART_LOG_FORMAT", "JSONL", "invalid log format 'JSONL' for PRESTART_LOG_FORMAT", 0 },
	{ "PRESTART_TRANSACTION_PER_MIGRATION", "2",
	  "invalid boolean '2' for PRESTART_TRANSACTION_PER_MIGRATION", 0 },
	{ "DATABASE_URL", "sqlite://", "DATABASE_URL: in-memory SQLite", 1 },
	{ "DATABASE_URL", "postgresql://u:s3cret@h:port/d", "DATABASE_URL: invalid port", 1 },
};

static void test_value_errors(void **state)
{
	struct config_flags fl;

	(void)state;
	for (size_t i = 0; i < sizeof(flag_mistakes) / sizeof(flag_mistakes[0]); i++) {
		config_flags_init(&fl);
		*(const char **)((char *)&fl + flag_mistakes[i].flag) = flag_mistakes[i].value;
		if (flag_mistakes[i].url)
			url_bad(&fl, flag_mistakes[i].want);
		else
			load_bad(&fl, flag_mistakes[i].want);
		config_flags_release(&fl);
	}
	config_flags_init(&fl);
	strlist_push(&fl.wait_for, "");
	load_bad(&fl, "empty value for --wait-for");
	config_flags_release(&fl);

	for (size_t i = 0; i < sizeof(env_mistakes) / sizeof(env_mistakes[0]); i++) {
		setenv(env_mistakes[i].var, env_mistakes[i].value, 1);
		if (env_mistakes[i].url)
			url_bad(NULL, env_mistakes[i].want);
		else
			load_bad(NULL, env_mistakes[i].want);
		unsetenv(env_mistakes[i].var);
	}
}

/* A version_locations line of 400 characters (OpenStack-style projects
 * list many directories), a long continuation line and a long comment. */
static void test_long_lines(void **state)
{
	struct sbuf b = { 0 }, locs = { 0 };
	struct config c;

	(void)state;
	for (int i = 0; locs.len < 400 - strlen("version_locations = "); i++)
		sbuf_addf(&locs, "%s%%(here)s/project/db/migrations/alembic_migrations/v%02d",
			  i ? " " : "", i);
	sbuf_adds(&b, "[alembic]\nscript_location = migrations\n");
	sbuf_addf(&b, "version_locations = %s\n", locs.buf);
	sbuf_adds(&b, "; ");
	for (int i = 0; i < 30; i++)
		sbuf_adds(&b, "a long comment ");
	sbuf_adds(&b, "\nsqlalchemy.url = sqlite:///app.db\n[prestart]\nwait_for =\n    ");
	for (int i = 0; i < 20; i++)
		sbuf_addf(&b, "%stcp://host%02d.example.internal:5432", i ? "," : "", i);
	sbuf_adds(&b, "\n    tcp://last:1\n");
	assert_true(strlen("version_locations = ") + locs.len >= 400);
	write_file("alembic.ini", b.buf);
	load_ok(&c, NULL);
	assert_true(c.version_locations.n >= 6);
	assert_non_null(strstr(c.version_locations.v[0], "/project/db/migrations/alembic_migrations/v00"));
	assert_string_equal(c.database_url, "sqlite:///app.db");
	assert_string_equal(c.database_url_source, "alembic.ini:5");
	assert_int_equal(c.wait_for.n, 21);
	assert_string_equal(c.wait_for.v[19], "tcp://host19.example.internal:5432");
	assert_string_equal(c.wait_for.v[20], "tcp://last:1");
	config_release(&c);

	/* a key too long to fit with its '=' is refused, naming the line */
	sbuf_reset(&b);
	sbuf_adds(&b, "[alembic]\n");
	for (int i = 0; i < 210; i++)
		sbuf_addc(&b, 'k');
	sbuf_adds(&b, " = v\n");
	write_file("alembic.ini", b.buf);
	load_bad(NULL, "alembic.ini:2: line too long: a key and its '=' must fit in 197 characters");
	sbuf_free(&b);
	sbuf_free(&locs);
}

/* SPEC §2: whitespace around a URL is removed with a warning naming where
 * it came from; a control character inside is refused, but only when the
 * URL is parsed (by the commands that connect). */
static void test_url_whitespace(void **state)
{
	struct config_flags fl;
	struct config c;

	(void)state;
	setenv("DATABASE_URL", "postgresql://u:s3cret@h/d\n", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.database_url, "postgresql://u:s3cret@h/d");
	assert_string_equal(c.database_url_source, "DATABASE_URL");
	assert_int_equal(c.warnings.n, 1);
	assert_non_null(strstr(c.warnings.v[0], "DATABASE_URL: removed whitespace around the URL"));
	assert_null(strstr(c.warnings.v[0], "s3cret"));
	config_release(&c);

	setenv("DATABASE_URL", " \tsqlite:///app.db\r\n", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.database_url, "sqlite:///app.db");
	assert_int_equal(c.warnings.n, 1);
	config_release(&c);

	setenv("DATABASE_URL", "sqlite:///app.db", 1);
	load_ok(&c, NULL);
	assert_int_equal(c.warnings.n, 0);
	config_release(&c);

	config_flags_init(&fl);
	fl.database_url = "postgresql://u:s3cret@h/d\n";
	strlist_push(&fl.wait_for, "postgresql://u:s3cret@w/d\n");
	strlist_push(&fl.wait_for, "tcp://a:1");
	load_ok(&c, &fl);
	assert_string_equal(c.database_url, "postgresql://u:s3cret@h/d");
	assert_string_equal(c.wait_for.v[0], "postgresql://u:s3cret@w/d");
	assert_int_equal(c.warnings.n, 2);
	assert_non_null(strstr(c.warnings.v[0], "--database-url: "));
	assert_non_null(strstr(c.warnings.v[1], "--wait-for: "));
	config_release(&c);
	config_flags_release(&fl);

	setenv("PRESTART_WAIT_FOR", "postgresql://u:s3cret@w/d\n", 1);
	load_ok(&c, NULL);
	assert_string_equal(c.wait_for.v[0], "postgresql://u:s3cret@w/d");
	assert_int_equal(c.warnings.n, 1);
	assert_non_null(strstr(c.warnings.v[0], "PRESTART_WAIT_FOR: "));
	config_release(&c);
	unsetenv("PRESTART_WAIT_FOR");

	/* inside: loads, then fails to parse, naming the setting */
	setenv("DATABASE_URL", "postgresql://u:s3cret@db\nhost/d", 1);
	url_bad(NULL, "DATABASE_URL: invalid database URL: it contains a control character (\\n)");
	setenv("DATABASE_URL", "postgresql://u:s3\tcret@dbhost/d", 1);
	url_bad(NULL, "DATABASE_URL: invalid database URL: it contains a control character (\\t)");
	setenv("DATABASE_URL", "postgresql://u:s3cret@dbhost/d\x01", 1);
	url_bad(NULL, "DATABASE_URL: invalid database URL: it contains a control character (\\x01)");
	unsetenv("DATABASE_URL");
	config_flags_init(&fl);
	fl.database_url = "postgresql://u:s3cret@db\nhost/d";
	url_bad(&fl, "--database-url: invalid database URL: it contains a control character");
	/* an indented line continues the value: a newline inside the URL */
	write_file("alembic.ini", "[alembic]\nsqlalchemy.url = postgresql://u:s3cret@db\n"
		   "  host/d\n");
	url_bad(NULL, "alembic.ini:2: invalid database URL: it contains a control character "
		"(\\n), in sqlalchemy.url");
	write_file("alembic.ini", "[alembic]\nsqlalchemy.url = postgresql://u:s3cret@db\thost/d\n");
	url_bad(NULL, "alembic.ini:2: invalid database URL: it contains a control character "
		"(\\t), in sqlalchemy.url");
	write_file("prestart.ini", "[prestart]\ndatabase_url = postgresql://u:s3cret@db\x01host/d\n");
	url_bad(NULL, "prestart.ini:2: invalid database URL: it contains a control character "
		"(\\x01), in database_url");
}

/* Placeholder and templated URLs that real alembic.ini files ship: the
 * configuration loads; the commands that connect get an error naming the
 * setting and its source. */
static void test_url_placeholders(void **state)
{
	static const char *const urls[][2] = {
		{ "driver://user:s3cret@localhost/dbname", "unsupported database URL scheme 'driver'" },
		{ "postgresql://${DB_USER}:${DB_PASSWORD}@${DB_HOST}:${DB_PORT}/${DB_NAME}",
		  "invalid port in database URL" },
		{ "scheme://...", "unsupported database URL scheme 'scheme'" },
	};
	char ini[512], want[256];
	struct config c;
	struct err e = { 0 };
	struct dburl u;

	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
		snprintf(ini, sizeof(ini), "[alembic]\nscript_location = m\nsqlalchemy.url = %s\n",
			 urls[i][0]);
		write_file("alembic.ini", ini);
		snprintf(want, sizeof(want), "alembic.ini:3: %s", urls[i][1]);
		url_bad(NULL, want);
		url_bad(NULL, ", in sqlalchemy.url (DATABASE_URL or --database-url override it)");
		/* the environment wins, and then the placeholder is never read */
		setenv("DATABASE_URL", "sqlite:///app.db", 1);
		load_ok(&c, NULL);
		assert_int_equal(config_database_url(&c, &u, &e), 0);
		assert_int_equal(u.kind, DB_SQLITE);
		dburl_release(&u);
		config_release(&c);
		unsetenv("DATABASE_URL");
	}
}

/* One list of libpq's variables decides whether a database is named. */
static void test_pg_variables(void **state)
{
	static const char *const vars[] = { "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE",
					    "PGUSER", "PGSERVICE", "PGSERVICEFILE", NULL };
	struct config c;

	(void)state;
	for (size_t i = 0; vars[i]; i++) {
		setenv(vars[i], "x", 1);
		load_ok(&c, NULL);
		assert_null(c.database_url);
		assert_string_equal(c.database_url_source, "PG* environment");
		config_release(&c);
		setenv(vars[i], "", 1);
		load_ok(&c, NULL);
		assert_null(c.database_url_source);
		config_release(&c);
		unsetenv(vars[i]);
	}
	setenv("PGPASSWORD", "s3cret", 1);
	load_ok(&c, NULL);
	assert_null(c.database_url_source);
	config_release(&c);
	unsetenv("PGPASSWORD");
}

/* SPEC §9.4's --phase: flag over environment over file, default all,
 * checked up front naming where a bad value came from. */
static void test_phase(void **state)
{
	struct config c;
	struct config_flags fl;

	(void)state;
	load_ok(&c, NULL);
	assert_int_equal(c.phase, ROLLOUT_ALL);
	assert_null(c.phase_from);
	config_release(&c);
	write_file("prestart.ini", "[prestart]\nphase = expand\n");
	load_ok(&c, NULL);
	assert_int_equal(c.phase, ROLLOUT_EXPAND);
	assert_string_equal(c.phase_from, "phase = expand in prestart.ini:2");
	config_release(&c);
	setenv("PRESTART_PHASE", "Contract", 1);
	load_ok(&c, NULL);
	assert_int_equal(c.phase, ROLLOUT_CONTRACT);
	assert_string_equal(c.phase_from, "PRESTART_PHASE=Contract");
	config_release(&c);
	config_flags_init(&fl);
	fl.phase = "all";
	load_ok(&c, &fl);
	assert_int_equal(c.phase, ROLLOUT_ALL);
	assert_string_equal(c.phase_from, "--phase all");
	config_release(&c);
	fl.phase = "later";
	load_bad(&fl, "invalid phase 'later' for --phase (expected all, expand or contract)");
	unsetenv("PRESTART_PHASE");
	setenv("PRESTART_PHASE", "both", 1);
	load_bad(NULL, "invalid phase 'both' for PRESTART_PHASE (expected all, expand or contract)");
	unsetenv("PRESTART_PHASE");
	write_file("prestart.ini", "[prestart]\nphase = soon\n");
	load_bad(NULL, "prestart.ini:2: invalid phase 'soon' for phase");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bool),
		cmocka_unit_test_setup_teardown(test_defaults, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_phase, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_precedence_file, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_precedence_env, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_precedence_flags, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_alembic_ini, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_version_separators, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_package_location, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_alembic_config_key, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_interpolation, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_multiline, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_value_errors, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_url_whitespace, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_url_placeholders, scratch_setup, scratch_teardown),
		cmocka_unit_test_setup_teardown(test_pg_variables, scratch_setup, scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
