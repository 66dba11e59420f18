#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/dburl.h"

/* Parse a URL that must be accepted; keys/vals are checked in order. */
static void ok(const char *url, const char *const *kv, const char *masked)
{
	struct dburl u;
	struct err e = { 0 };
	size_t n = 0;

	if (dburl_parse(url, &u, &e) < 0)
		fail_msg("'%s' rejected: %s", url, e.msg);
	assert_int_equal(u.kind, DB_PG);
	for (; kv[2 * n]; n++) {
		assert_true(n < u.n);
		assert_string_equal(u.keys[n], kv[2 * n]);
		assert_string_equal(u.vals[n], kv[2 * n + 1]);
	}
	assert_int_equal(u.n, n);
	assert_null(u.keys[n]);
	assert_null(u.vals[n]);
	if (masked)
		assert_string_equal(u.masked, masked);
	dburl_release(&u);
}

static void bad(const char *url, const char *msg)
{
	struct dburl u;
	struct err e = { 0 };

	assert_int_equal(dburl_parse(url, &u, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	if (!strstr(e.msg, msg))
		fail_msg("'%s': got '%s', wanted '%s'", url ? url : "(null)", e.msg, msg);
	assert_null(strstr(e.msg, "s3cret"));
}

static void test_pg_basic(void **state)
{
	(void)state;
	ok("postgresql://user:s3cret@db.example:5432/app",
	   (const char *const[]){ "host", "db.example", "port", "5432", "user", "user",
				  "password", "s3cret", "dbname", "app", NULL },
	   "postgresql://user:***@db.example:5432/app");
	ok("postgres://u@h/d", (const char *const[]){ "host", "h", "user", "u", "dbname", "d", NULL },
	   "postgres://u@h/d");
	ok("postgresql://", (const char *const[]){ NULL }, "postgresql://");
	ok("postgresql:///app", (const char *const[]){ "dbname", "app", NULL }, NULL);
	ok("postgresql://h", (const char *const[]){ "host", "h", NULL }, NULL);
	ok("postgresql://:5433/x", (const char *const[]){ "port", "5433", "dbname", "x", NULL },
	   NULL);
	ok("PostgreSQL://h/", (const char *const[]){ "host", "h", NULL }, NULL);
}

static void test_pg_drivers(void **state)
{
	static const char *const kv[] = { "host", "h", "user", "u", "password", "s3cret",
					  "dbname", "d", NULL };

	(void)state;
	ok("postgresql+psycopg2://u:s3cret@h/d", kv, "postgresql+psycopg2://u:***@h/d");
	ok("postgresql+psycopg://u:s3cret@h/d", kv, NULL);
	ok("postgresql+asyncpg://u:s3cret@h/d", kv, NULL);
	ok("postgresql+pg8000://u:s3cret@h/d", kv, NULL);
	ok("postgres+psycopg2://u:s3cret@h/d", kv, NULL);
	bad("postgresql+foo://u:s3cret@h/d", "unsupported database URL scheme 'postgresql+foo'");
}

static void test_pg_percent(void **state)
{
	(void)state;
	ok("postgresql://us%40er:p%40ss%2Fw%3Ad@h/my%20db",
	   (const char *const[]){ "host", "h", "user", "us@er", "password", "p@ss/w:d",
				  "dbname", "my db", NULL },
	   "postgresql://us%40er:***@h/my%20db");
	/* the socket directory, libpq-URI style */
	ok("postgresql://%2Fvar%2Frun%2Fpostgresql/d",
	   (const char *const[]){ "host", "/var/run/postgresql", "dbname", "d", NULL }, NULL);
	/* a password may hold '/', ':' and '?' unescaped, as in SQLAlchemy */
	ok("postgresql://u:a/b:c?d@h/x",
	   (const char *const[]){ "host", "h", "user", "u", "password", "a/b:c?d", "dbname", "x",
				  NULL },
	   "postgresql://u:***@h/x");
	ok("postgresql://h/d?application_name=my+app%21",
	   (const char *const[]){ "host", "h", "dbname", "d", "application_name", "my app!", NULL },
	   NULL);
	bad("postgresql://u:s3cret%zz@h/d", "invalid percent-encoding in database URL password");
	bad("postgresql://u:s3cret%4@h/d", "password");
	bad("postgresql://u:s3cret%00@h/d", "password");
	bad("postgresql://u%g1:s3cret@h/d", "invalid percent-encoding in database URL user name");
	bad("postgresql://u:s3cret@h%zz/d", "invalid percent-encoding in database URL host");
	bad("postgresql://u:s3cret@h/d%", "invalid percent-encoding in database URL database name");
	bad("postgresql://u:s3cret@h/d?sslmode=%", "in database URL parameter 'sslmode'");
	bad("postgresql://u:s3cret@h/d?ssl%x=1", "parameter name");
}

static void test_pg_hosts(void **state)
{
	(void)state;
	ok("postgresql://u@[::1]:5432/d",
	   (const char *const[]){ "host", "::1", "port", "5432", "user", "u", "dbname", "d", NULL },
	   NULL);
	ok("postgresql://[fe80::1%25eth0]/d",
	   (const char *const[]){ "host", "fe80::1%eth0", "dbname", "d", NULL }, NULL);
	ok("postgresql://u:s3cret@h1:5432,h2:5433/d",
	   (const char *const[]){ "host", "h1,h2", "port", "5432,5433", "user", "u", "password",
				  "s3cret", "dbname", "d", NULL },
	   "postgresql://u:***@h1:5432,h2:5433/d");
	ok("postgresql://h1,h2:5433,[::1]/d",
	   (const char *const[]){ "host", "h1,h2,::1", "port", ",5433,", "dbname", "d", NULL },
	   NULL);
	ok("postgresql://h1,h2/d", (const char *const[]){ "host", "h1,h2", "dbname", "d", NULL },
	   NULL);
	bad("postgresql://[::1/d", "missing ']'");
	bad("postgresql://[::1]x/d", "after ']'");
	bad("postgresql://h:99999/d", "invalid port");
	bad("postgresql://h:0/d", "invalid port");
	bad("postgresql://h:/d", "invalid port");
	/* a forgotten '@' must not put the password in the message */
	bad("postgresql://user:s3cret/d", "invalid port");
	bad("postgresql://user:s3cret@x@host/d", "%40");
}

static void test_pg_query(void **state)
{
	(void)state;
	ok("postgresql://u:s3cret@/d?host=/var/run/postgresql",
	   (const char *const[]){ "host", "/var/run/postgresql", "user", "u", "password", "s3cret",
				  "dbname", "d", NULL },
	   "postgresql://u:***@/d?host=/var/run/postgresql");
	ok("postgresql://u@:5433/d?host=/tmp",
	   (const char *const[]){ "host", "/tmp", "port", "5433", "user", "u", "dbname", "d", NULL },
	   NULL);
	ok("postgresql://u@/d?host=h1:5432&host=h2:5433",
	   (const char *const[]){ "host", "h1,h2", "port", "5432,5433", "user", "u", "dbname", "d",
				  NULL },
	   NULL);
	ok("postgresql://old/d?host=new&port=6000",
	   (const char *const[]){ "host", "new", "port", "6000", "dbname", "d", NULL }, NULL);
	ok("postgresql://h/d?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=5"
	   "&application_name=app&target_session_attrs=read-write&options=-c%20x%3D1",
	   (const char *const[]){ "host", "h", "dbname", "d", "sslmode", "verify-full",
				  "sslrootcert", "/ca.pem", "connect_timeout", "5",
				  "application_name", "app", "target_session_attrs",
				  "read-write", "options", "-c x=1", NULL },
	   NULL);
	ok("postgresql://h/d?user=q&password=s3cret&dbname=other",
	   (const char *const[]){ "host", "h", "user", "q", "password", "s3cret", "dbname",
				  "other", NULL },
	   "postgresql://h/d?user=q&password=***&dbname=other");
	ok("postgresql://h/d?sslmode=&&keepalives=1",
	   (const char *const[]){ "host", "h", "dbname", "d", "keepalives", "1", NULL }, NULL);
	bad("postgresql://u:s3cret@h/d?foo=1", "unknown database URL parameter 'foo'");
	bad("postgresql://u:s3cret@h/d?replication=1", "unknown database URL parameter");
	bad("postgresql://u:s3cret@h/d?sslmode=require&sslmode=disable", "given more than once");
	bad("postgresql://u:s3cret@h/d?=x", "empty database URL parameter name");
}

static void test_pg_asyncpg(void **state)
{
	static const char *const in[] = { "require", "disable", "prefer", "allow", "verify-ca",
					  "verify-full", "true", "false", "TRUE", NULL };
	static const char *const out[] = { "require", "disable", "prefer", "allow", "verify-ca",
					   "verify-full", "require", "disable", "require" };

	(void)state;
	for (size_t i = 0; in[i]; i++) {
		char url[128];

		snprintf(url, sizeof(url), "postgresql+asyncpg://h/d?ssl=%s", in[i]);
		ok(url, (const char *const[]){ "host", "h", "dbname", "d", "sslmode", out[i], NULL },
		   NULL);
	}
	ok("postgresql+asyncpg://h/d?prepared_statement_cache_size=0&async_fallback=true",
	   (const char *const[]){ "host", "h", "dbname", "d", NULL }, NULL);
	bad("postgresql+asyncpg://h/d?ssl=maybe", "invalid value 'maybe' for database URL "
	    "parameter 'ssl'");
	bad("postgresql+asyncpg://h/d?ssl=require&sslmode=require", "given more than once");
}

static void test_pg_env(void **state)
{
	struct dburl u;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(dburl_parse(NULL, &u, &e), 0);
	assert_int_equal(u.kind, DB_PG);
	assert_int_equal(u.n, 0);
	assert_non_null(u.keys);
	assert_null(u.keys[0]);
	assert_null(u.vals[0]);
	assert_string_equal(u.masked, "postgresql:// (from PG* environment)");
	assert_null(dburl_get(&u, "host"));
	dburl_release(&u);

	assert_int_equal(dburl_parse("postgresql://h:1/d", &u, &e), 0);
	assert_string_equal(dburl_get(&u, "port"), "1");
	assert_null(dburl_get(&u, "user"));
	dburl_release(&u);
}

static void sqlite_ok(const char *url, const char *path)
{
	struct dburl u;
	struct err e = { 0 };

	if (dburl_parse(url, &u, &e) < 0)
		fail_msg("'%s' rejected: %s", url, e.msg);
	assert_int_equal(u.kind, DB_SQLITE);
	assert_string_equal(u.path, path);
	assert_string_equal(u.masked, url);
	assert_int_equal(u.n, 0);
	dburl_release(&u);
}

static void test_sqlite(void **state)
{
	(void)state;
	sqlite_ok("sqlite:///app.db", "app.db");
	sqlite_ok("sqlite:///data/app.db", "data/app.db");
	sqlite_ok("sqlite:////var/lib/app.db", "/var/lib/app.db");
	sqlite_ok("sqlite+pysqlite:///app.db", "app.db");
	sqlite_ok("sqlite+aiosqlite:////abs/app.db", "/abs/app.db");
	sqlite_ok("sqlite:///my%20app.db", "my app.db");
	sqlite_ok("sqlite:///app.db?timeout=30&check_same_thread=false&mode=rwc&uri=false",
		  "app.db");
	bad("sqlite://", "in-memory SQLite");
	bad("sqlite:///", "in-memory SQLite");
	bad("sqlite:///:memory:", "in-memory SQLite");
	bad("sqlite+aiosqlite://", "in-memory SQLite");
	bad("sqlite://?timeout=1", "in-memory SQLite");
	bad("sqlite://host/app.db", "with a host");
	bad("sqlite:///app.db?uri=true", "uri=true");
	bad("sqlite:///app.db?foo=1", "unknown database URL parameter 'foo'");
	bad("sqlite:///app%zz.db", "invalid percent-encoding in SQLite database URL path");
	bad("sqlite+pysqlcipher:///app.db", "unsupported database URL scheme 'sqlite+pysqlcipher'");
}

static void test_unsupported(void **state)
{
	(void)state;
	bad("mysql://u:s3cret@h/d", "unsupported database URL scheme 'mysql'");
	bad("mariadb://u:s3cret@h/d", "unsupported database URL scheme 'mariadb'");
	bad("oracle+cx_oracle://u:s3cret@h/d", "invalid database URL");
	bad("oracle://u:s3cret@h/d", "unsupported database URL scheme 'oracle'");
	bad("MySQL+pymysql://u:s3cret@h/d", "unsupported database URL scheme 'mysql+pymysql'");
	bad("", "empty database URL");
	bad("garbage", "invalid database URL");
	bad("u:s3cret@h/d", "invalid database URL");
	bad("://x", "invalid database URL");
	bad("user:s3cret@host://x", "invalid database URL");
}

static void mask_is(const char *in, const char *want)
{
	char *m = dburl_mask(in);

	assert_string_equal(m, want);
	free(m);
}

static void test_mask(void **state)
{
	(void)state;
	mask_is(NULL, "");
	mask_is("", "");
	mask_is("garbage", "garbage");
	mask_is("postgresql://u:pw@h/d", "postgresql://u:***@h/d");
	mask_is("postgresql://u@h/d", "postgresql://u@h/d");
	mask_is("postgresql://h:5432/d", "postgresql://h:5432/d");
	mask_is("postgresql://u:@h/d", "postgresql://u:***@h/d");
	mask_is("mysql://root:pw@h/d", "mysql://root:***@h/d");
	mask_is("u:pw@h/d", "u:***@h/d");
	mask_is("postgresql://u:p@ss@h/d", "postgresql://u:***@h/d");
	mask_is("postgresql://u:pw@h/d?application_name=a@b", "postgresql://u:***@h/d?application_name=a@b");
	mask_is("postgresql://h/d?password=pw&sslmode=require",
		"postgresql://h/d?password=***&sslmode=require");
	mask_is("postgresql://h/d?sslmode=require&SSLPASSWORD=pw",
		"postgresql://h/d?sslmode=require&SSLPASSWORD=***");
	mask_is("postgresql://h/d?password=", "postgresql://h/d?password=***");
	mask_is("user:pa://ss@host", "user:***@host");
}

/* SPEC §2: a control character inside a URL is an error, named without
 * the URL (it may sit in the password).  Trimming the whitespace around a
 * URL is the caller's (config.c), with a warning: dburl refuses it too. */
static void test_control_characters(void **state)
{
	static const char *const urls[] = {
		"postgresql://u:s3cret@db\nhost/app",
		"postgresql://u:s3cret@dbhost/app\n",
		"\npostgresql://u:s3cret@dbhost/app",
		"postgresql://u:s3cret@dbhost/app\r\n",
		"postgresql://u:s3\tcret@dbhost/app",
		"postgresql://u:s3cret\x01@dbhost/app",
		"postgresql://u:s3cret@dbhost/app?sslmode=require\x7f",
		"sqlite:///app\n.db",
		"mysql://u:s3cret@h/d\n",
		NULL
	};
	struct dburl u;
	struct err e = { 0 };

	(void)state;
	for (size_t i = 0; urls[i]; i++)
		bad(urls[i], "invalid database URL: it contains a control character");
	bad("postgresql://u:s3cret@db\nhost/app", "control character (\\n)");
	bad("postgresql://u:s3\tcret@dbhost/app", "control character (\\t)");
	bad("postgresql://u:s3cret\x01@dbhost/app", "control character (\\x01)");
	bad("postgresql://u:s3cret@h/d\x7f", "control character (\\x7f)");
	/* percent-encoded, a newline is data (in a password, say), not a mistake */
	assert_int_equal(dburl_parse("postgresql://u:s3%0Acret@h/d", &u, &e), 0);
	assert_string_equal(dburl_get(&u, "password"), "s3\ncret");
	dburl_release(&u);
	/* high bytes (UTF-8) are not control characters */
	assert_int_equal(dburl_parse("postgresql://u:s3cr\xc3\xa9t@h/d", &u, &e), 0);
	dburl_release(&u);
}

static void test_mask_control_characters(void **state)
{
	(void)state;
	mask_is("postgresql://u:pw@db\nhost/d", "postgresql://u:***@db\\nhost/d");
	mask_is("postgresql://u:p\nw@h/d\r\n", "postgresql://u:***@h/d\\r\\n");
	mask_is("tcp://h:1\t\x01\x7f", "tcp://h:1\\t\\x01\\x7f");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pg_basic),
		cmocka_unit_test(test_pg_drivers),
		cmocka_unit_test(test_pg_percent),
		cmocka_unit_test(test_pg_hosts),
		cmocka_unit_test(test_pg_query),
		cmocka_unit_test(test_pg_asyncpg),
		cmocka_unit_test(test_pg_env),
		cmocka_unit_test(test_sqlite),
		cmocka_unit_test(test_unsupported),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_mask_control_characters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
