/* test_db_pg.c - the PostgreSQL driver's verdict on a failed connection
 * (db_pg_verdict), the one db_open and the wait step both go by.  Pure:
 * no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "prestart/db.h"

static enum db_conn_status verdict(const char *sqlstate, const char *msg)
{
	struct db_pg_failure f = { 0 };

	f.sqlstate = sqlstate;
	f.message = msg;
	return db_pg_verdict(&f);
}

static void test_by_sqlstate(void **state)
{
	(void)state;
	assert_int_equal(verdict("28P01", ""), DBC_FATAL);
	assert_int_equal(verdict("3D000", NULL), DBC_FATAL);
	assert_int_equal(verdict("28000", NULL), DBC_FATAL);
	/* No CONNECT privilege: waiting will not grant it. */
	assert_int_equal(verdict("42501", NULL), DBC_FATAL);
	assert_int_equal(verdict("42501", "FATAL:  permission denied for database \"app\""),
			 DBC_FATAL);
	assert_int_equal(verdict("57P03", NULL), DBC_RETRY);
	assert_int_equal(verdict("53300", NULL), DBC_RETRY);
	assert_int_equal(verdict("08006", "could not receive data"), DBC_RETRY);
	/* The SQLSTATE wins over text that would say otherwise. */
	assert_int_equal(verdict("57P03", "password authentication failed"), DBC_RETRY);
	assert_int_equal(verdict("28P01", "the database system is starting up"), DBC_FATAL);
	/* Other refusals the server means are final, whatever their class. */
	assert_int_equal(verdict("55000", "database \"app\" is not currently accepting "
				 "connections"), DBC_FATAL);
}

static void test_by_text(void **state)
{
	(void)state;
	/* No SQLSTATE: libpq's text decides. */
	assert_int_equal(verdict(NULL, "FATAL:  password authentication failed for "
				 "user \"app\""), DBC_FATAL);
	assert_int_equal(verdict("", "FATAL:  database \"app\" does not exist"), DBC_FATAL);
	assert_int_equal(verdict(NULL, "FATAL:  role \"app\" does not exist"), DBC_FATAL);
	assert_int_equal(verdict(NULL, "fe_sendauth: no password supplied"), DBC_FATAL);
	assert_int_equal(verdict(NULL, "FATAL:  no pg_hba.conf entry for host"), DBC_FATAL);
	assert_int_equal(verdict(NULL, "FATAL:  permission denied for database \"app\""),
			 DBC_FATAL);
	assert_int_equal(verdict(NULL, "invalid sslmode value: \"x\""), DBC_FATAL);
	assert_int_equal(verdict(NULL, "invalid connection option \"x\""), DBC_FATAL);
	assert_int_equal(verdict(NULL, "connection to server at \"h\", port 1 failed: invalid "
				 "integer value \"x\" for connection option \"port\""), DBC_FATAL);
	assert_int_equal(verdict(NULL, "connection to server at \"h\", port 1 failed: server "
				 "does not support SSL, but SSL was required"), DBC_FATAL);
	assert_int_equal(verdict(NULL, "FATAL:  the database system is starting up"),
			 DBC_RETRY);
	assert_int_equal(verdict(NULL, "FATAL:  sorry, too many clients already"), DBC_RETRY);
	assert_int_equal(verdict(NULL, "FATAL:  remaining connection slots are reserved"),
			 DBC_RETRY);
	assert_int_equal(verdict(NULL, "Connection refused"), DBC_RETRY);
	assert_int_equal(verdict(NULL, "No such file or directory"), DBC_RETRY);
	assert_int_equal(verdict(NULL, "could not translate host name \"db\" to address"),
			 DBC_RETRY);
	/* Nothing known: retrying until the deadline is the safe direction. */
	assert_int_equal(verdict(NULL, NULL), DBC_RETRY);
}

static void test_by_facts(void **state)
{
	struct db_pg_failure f = { 0 };

	(void)state;
	/* PQping's NO_ATTEMPT: the parameters are wrong, fail at once. */
	f.no_attempt = 1;
	f.message = "could not translate host name \"db\" to address";
	assert_int_equal(db_pg_verdict(&f), DBC_FATAL);
	/* No answer in time: a server that may still come. */
	f.no_attempt = 0;
	f.timed_out = 1;
	f.message = "";
	assert_int_equal(db_pg_verdict(&f), DBC_RETRY);
	/* Asked for a password that was not given. */
	f.timed_out = 0;
	f.needs_password = 1;
	assert_int_equal(db_pg_verdict(&f), DBC_FATAL);
	/* ... but the server's own word comes first. */
	f.sqlstate = "57P03";
	assert_int_equal(db_pg_verdict(&f), DBC_RETRY);
}

static int soon(const char *sqlstate, const char *msg, int timed_out)
{
	struct db_pg_failure f = { 0 };

	f.sqlstate = sqlstate;
	f.message = msg;
	f.timed_out = timed_out;
	return db_pg_retry_soon(&f);
}

/* SPEC §7.4: only what costs the server nothing, or a server starting up,
 * is probed again at once. */
static void test_retry_soon(void **state)
{
	(void)state;
	assert_true(soon("", "connection to server at \"127.0.0.1\", port 5 failed: "
			     "Connection refused\n\tIs the server running", 0));
	assert_true(soon(NULL, "connection to server on socket \"/tmp/.s.PGSQL.5\" failed: "
			       "No such file or directory", 0));
	assert_true(soon("57P03", "FATAL:  the database system is starting up", 0));
	assert_false(soon("53300", "FATAL:  sorry, too many clients already", 0));
	assert_false(soon("57P01", "FATAL:  terminating connection", 0));
	assert_false(soon("", "timeout expired", 1));
	assert_false(soon("", "Connection refused", 1));
	assert_false(soon("", "could not translate host name", 0));
}

/* SPEC §7.1: auto takes the lease on servers whose advisory locks cannot
 * be trusted, known by version(). */
static void test_distributed(void **state)
{
	(void)state;
	assert_string_equal(db_pg_distributed("CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, "
					      "built 2023/09/27 01:53:43, go1.19.10)"),
			    "CockroachDB");
	assert_string_equal(db_pg_distributed("CockroachDB OSS v2.1.0"), "CockroachDB");
	assert_string_equal(db_pg_distributed("PostgreSQL 11.2-YB-2.20.1.0-b0 on "
					      "x86_64-pc-linux-gnu, compiled by clang"),
			    "YugabyteDB");
	assert_string_equal(db_pg_distributed("PostgreSQL 15.2-YB-2.25.0.0-b0"), "YugabyteDB");
	assert_null(db_pg_distributed("PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on "
				      "x86_64-pc-linux-gnu, compiled by gcc"));
	assert_null(db_pg_distributed("PostgreSQL 16.4 on aarch64-unknown-linux-gnu, "
				      "compiled by gcc (GCC) 7.3.1, 64-bit")); /* RDS, Aurora */
	assert_null(db_pg_distributed("PostgreSQL 17.0 (Neon)"));
	assert_null(db_pg_distributed(""));
	assert_null(db_pg_distributed(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_sqlstate),
		cmocka_unit_test(test_by_text),
		cmocka_unit_test(test_by_facts),
		cmocka_unit_test(test_retry_soon),
		cmocka_unit_test(test_distributed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
