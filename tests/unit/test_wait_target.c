/* test_wait_target.c - parsing --wait-for targets, and the database as a
 * target (no network, no database). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/wait_target.h"

static void parse_ok(const char *spec, struct wait_target *t)
{
	struct err e = { 0 };

	if (wait_target_parse(spec, t, &e) != 0)
		fail_msg("'%s' rejected: %s", spec, e.msg);
}

static void parse_bad(const char *spec, const char *want)
{
	struct wait_target t;
	struct err e = { 0 };

	if (wait_target_parse(spec, &t, &e) == 0) {
		wait_target_release(&t);
		fail_msg("'%s' accepted", spec ? spec : "(null)");
	}
	assert_int_equal(e.kind, ERR_USAGE);
	if (want && !strstr(e.msg, want))
		fail_msg("'%s': message '%s' lacks '%s'", spec, e.msg, want);
	assert_null(strstr(e.msg, "secret"));
	/* A failed parse leaves nothing to free, and releasing is harmless. */
	wait_target_release(&t);
}

static void test_tcp(void **state)
{
	struct wait_target t;

	(void)state;
	parse_ok("tcp://localhost:6379", &t);
	assert_int_equal(t.kind, WT_TCP);
	assert_string_equal(t.host, "localhost");
	assert_string_equal(t.port, "6379");
	assert_string_equal(t.display, "tcp://localhost:6379");
	wait_target_release(&t);

	parse_ok("TCP://db.internal:5432/", &t);
	assert_string_equal(t.host, "db.internal");
	assert_string_equal(t.port, "5432");
	wait_target_release(&t);

	parse_ok("tcp://[::1]:65535", &t);
	assert_string_equal(t.host, "::1");
	assert_string_equal(t.port, "65535");
	wait_target_release(&t);

	parse_ok("tcp://10.0.0.1:1", &t);
	assert_string_equal(t.host, "10.0.0.1");
	assert_string_equal(t.port, "1");
	wait_target_release(&t);
}

static void test_tcp_bad(void **state)
{
	(void)state;
	parse_bad("tcp://", "expected tcp://host:port");
	parse_bad("tcp://localhost", "missing port");
	parse_bad("tcp://localhost:", "port");
	parse_bad("tcp://:6379", "missing host");
	parse_bad("tcp://localhost:0", "port");
	parse_bad("tcp://localhost:65536", "port");
	parse_bad("tcp://localhost:99999999999", "port");
	parse_bad("tcp://localhost:http", "port");
	parse_bad("tcp://localhost:-1", "port");
	parse_bad("tcp://::1:5432", "brackets");
	parse_bad("tcp://[::1]", "ipv6");
	parse_bad("tcp://[::1", "ipv6");
	parse_bad("tcp://localhost:80/path", "no path");
	parse_bad("tcp://a]b:80", "expected tcp://host:port");
	parse_bad("tcp://user:secret@localhost:80", "no path or user");
}

static void test_http(void **state)
{
	struct wait_target t;

	(void)state;
	parse_ok("http://localhost:8080/health", &t);
	assert_int_equal(t.kind, WT_HTTP);
	assert_string_equal(t.url, "http://localhost:8080/health");
	assert_int_equal(t.status_lo, 200);
	assert_int_equal(t.status_hi, 299);
	wait_target_release(&t);

	parse_ok("https://api.example.com/ready?deep=1#status=200-399", &t);
	assert_string_equal(t.url, "https://api.example.com/ready?deep=1");
	assert_int_equal(t.status_lo, 200);
	assert_int_equal(t.status_hi, 399);
	assert_string_equal(t.display, "https://api.example.com/ready?deep=1#status=200-399");
	wait_target_release(&t);

	parse_ok("http://svc#status=204", &t);
	assert_string_equal(t.url, "http://svc");
	assert_int_equal(t.status_lo, 204);
	assert_int_equal(t.status_hi, 204);
	wait_target_release(&t);

	/* An empty fragment is no fragment. */
	parse_ok("HTTP://svc/#", &t);
	assert_string_equal(t.url, "HTTP://svc/");
	assert_int_equal(t.status_lo, 200);
	wait_target_release(&t);

	/* Credentials are sent, never shown. */
	parse_ok("http://admin:secret@svc:9000/ping", &t);
	assert_string_equal(t.url, "http://admin:secret@svc:9000/ping");
	assert_null(strstr(t.display, "secret"));
	assert_non_null(strstr(t.display, "***"));
	wait_target_release(&t);
}

static void test_http_bad(void **state)
{
	(void)state;
	parse_bad("http://", "missing host");
	parse_bad("https:///path", "missing host");
	parse_bad("http://user:secret@/x", "missing host");
	parse_bad("http://svc/#status=99", "#status");
	parse_bad("http://svc/#status=600", "#status");
	parse_bad("http://svc/#status=300-200", "#status");
	parse_bad("http://svc/#status=200-", "#status");
	parse_bad("http://svc/#status=-299", "#status");
	parse_bad("http://svc/#status=abc", "#status");
	parse_bad("http://svc/#status=", "#status");
	parse_bad("http://svc/#code=200", "unknown fragment");
	parse_bad("http://u:secret@svc/#top", "unknown fragment");
	parse_bad("http://svc/a b", "blanks");
	parse_bad("http://svc/\n", "blanks");
}

static void test_file(void **state)
{
	struct wait_target t;

	(void)state;
	parse_ok("file:///run/secrets/ready", &t);
	assert_int_equal(t.kind, WT_FILE);
	assert_string_equal(t.path, "/run/secrets/ready");
	wait_target_release(&t);

	parse_ok("file://localhost/tmp/x", &t);
	assert_string_equal(t.path, "/tmp/x");
	wait_target_release(&t);

	parse_ok("file:///tmp/with%20space", &t);
	assert_string_equal(t.path, "/tmp/with space");
	wait_target_release(&t);

	parse_ok("file:///", &t);
	assert_string_equal(t.path, "/");
	wait_target_release(&t);
}

static void test_file_bad(void **state)
{
	(void)state;
	parse_bad("file://", "absolute");
	parse_bad("file://relative/path", "absolute");
	parse_bad("file:///tmp/x?y=1", "no query");
	parse_bad("file:///tmp/x#frag", "no query");
	parse_bad("file:///tmp/%zz", "percent");
	parse_bad("file:///tmp/%2", "percent");
	parse_bad("file:///tmp/%00x", "percent");
}

static void test_postgres(void **state)
{
	static const char *const forms[] = {
		"postgresql://app:secret@db:5432/app",
		"postgres://app:secret@db/app",
		"postgresql+psycopg2://app:secret@db/app",
		"postgresql+psycopg://app:secret@db/app",
		"postgresql+asyncpg://app:secret@db/app",
		"postgresql+pg8000://app:secret@db/app",
		"PostgreSQL://app:secret@db/app",
	};
	struct wait_target t;

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		parse_ok(forms[i], &t);
		assert_int_equal(t.kind, WT_PG);
		assert_null(strstr(t.display, "secret"));
		assert_string_equal(dburl_get(&t.db, "host"), "db");
		assert_string_equal(dburl_get(&t.db, "dbname"), "app");
		assert_string_equal(dburl_get(&t.db, "password"), "secret");
		wait_target_release(&t);
	}
}

static void test_sqlite(void **state)
{
	struct wait_target t;

	(void)state;
	parse_ok("sqlite:////var/lib/app/app.db", &t);
	assert_int_equal(t.kind, WT_SQLITE);
	assert_string_equal(t.path, "/var/lib/app/app.db");
	wait_target_release(&t);
}

static void test_bad_scheme(void **state)
{
	(void)state;
	parse_bad(NULL, "empty");
	parse_bad("", "empty");
	parse_bad("localhost:5432", "expected tcp://host:port");
	parse_bad("mysql://root:secret@db/app", "unsupported scheme 'mysql'");
	parse_bad("redis://:secret@cache:6379", "unsupported scheme 'redis'");
	parse_bad("://x", "unsupported scheme");
	parse_bad("postgresqlx://u:secret@db/app", "unsupported scheme");
	/* Errors from the database URL parser keep the target and its mask. */
	parse_bad("postgresql://u:secret@db/app?bogus_param=1", "invalid wait target");
	parse_bad("sqlite://", "invalid wait target");
}

static void test_from_db(void **state)
{
	struct dburl u;
	struct wait_target t;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(dburl_parse("postgresql://app:secret@db:5433/app", &u, &e), 0);
	wait_target_from_db(&u, &t);
	dburl_release(&u); /* the target keeps its own copy */
	assert_int_equal(t.kind, WT_PG);
	assert_null(strstr(t.display, "secret"));
	assert_string_equal(dburl_get(&t.db, "port"), "5433");
	assert_string_equal(dburl_get(&t.db, "password"), "secret");
	wait_target_release(&t);

	assert_int_equal(dburl_parse(NULL, &u, &e), 0);
	wait_target_from_db(&u, &t);
	dburl_release(&u);
	assert_int_equal(t.kind, WT_PG);
	assert_non_null(t.display);
	wait_target_release(&t);

	assert_int_equal(dburl_parse("sqlite:///data/app.db", &u, &e), 0);
	wait_target_from_db(&u, &t);
	dburl_release(&u);
	assert_int_equal(t.kind, WT_SQLITE);
	assert_string_equal(t.path, "data/app.db");
	wait_target_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tcp),
		cmocka_unit_test(test_tcp_bad),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_bad),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_bad),
		cmocka_unit_test(test_postgres),
		cmocka_unit_test(test_sqlite),
		cmocka_unit_test(test_bad_scheme),
		cmocka_unit_test(test_from_db),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
