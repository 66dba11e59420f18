/* The pure parts of SPEC §7.2: backoff, retryable states, Alembic output
 * lines, PGOPTIONS, blocker rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/blockers.h"
#include "prestart/ddl.h"
#include "prestart/delegate.h"

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(ddl_backoff_ms(1, 0.5), 500);
	assert_int_equal(ddl_backoff_ms(1, 0.0), 250);
	assert_true(ddl_backoff_ms(1, 0.999) < 750);
	assert_int_equal(ddl_backoff_ms(2, 0.5), 1000);
	assert_int_equal(ddl_backoff_ms(7, 0.5), 30000);  /* 32 s capped */
	assert_int_equal(ddl_backoff_ms(100, 0.5), 30000);
	assert_int_equal(ddl_backoff_ms(100, 0.0), 15000);
	assert_true(ddl_backoff_ms(100, 5.0) < 45000);
}

static void test_retryable(void **state)
{
	(void)state;
	assert_true(ddl_retryable("55P03"));
	assert_true(ddl_retryable("40P01"));
	assert_false(ddl_retryable("57014")); /* statement timeout */
	assert_false(ddl_retryable("42601"));
	assert_false(ddl_retryable(""));
	assert_false(ddl_retryable(NULL));
}

static void test_alembic_lines(void **state)
{
	(void)state;
	assert_string_equal(delegate_lock_failure_line(
		"sqlalchemy.exc.OperationalError: (psycopg2.errors.LockNotAvailable) "
		"canceling statement due to lock timeout"), "55P03");
	assert_string_equal(delegate_lock_failure_line("ERROR: Lock Timeout"), "55P03");
	assert_string_equal(delegate_lock_failure_line(
		"(psycopg2.errors.DeadlockDetected) deadlock detected"), "40P01");
	assert_null(delegate_lock_failure_line("canceling statement due to statement timeout"));
	assert_null(delegate_lock_failure_line("INFO  [alembic.runtime.migration] Running upgrade"));
}

static void test_pgoptions(void **state)
{
	char *s;

	(void)state;
	s = ddl_pgoptions(NULL, 1000);
	assert_string_equal(s, "-c lock_timeout=1000ms");
	free(s);
	s = ddl_pgoptions("-c search_path=app", 250);
	assert_string_equal(s, "-c search_path=app -c lock_timeout=250ms");
	free(s);
}

static void test_blocker_rows(void **state)
{
	struct blocker b;
	struct sbuf out = { 0 };

	(void)state;
	assert_int_equal(blockers_parse("4242\x1fpsql\x1fidle in transaction\x1f"
					"4210\x1fUPDATE t SET x = 1", &b), 0);
	assert_int_equal(b.pid, 4242);
	assert_string_equal(b.app, "psql");
	assert_int_equal(b.xact_ms, 4210);
	blockers_format(&out, &b);
	assert_string_equal(out.buf, "pid 4242 (psql, idle in transaction, transaction open "
				     "4.2 s): UPDATE t SET x = 1");
	sbuf_reset(&out);
	blockers_json(&out, &b);
	assert_string_equal(out.buf, "{\"pid\":4242,\"application_name\":\"psql\",\"state\":"
				     "\"idle in transaction\",\"xact_age_ms\":4210,\"query\":"
				     "\"UPDATE t SET x = 1\"}");
	sbuf_free(&out);
	assert_int_equal(blockers_parse("7\x1f\x1f\x1f-1\x1f", &b), 0);
	assert_int_equal(b.xact_ms, -1);
	assert_int_equal(blockers_parse("x\x1f\x1f\x1f-1\x1f", &b), -1);
	assert_int_equal(blockers_parse("7\x1f" "app", &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retryable),
		cmocka_unit_test(test_alembic_lines),
		cmocka_unit_test(test_pgoptions),
		cmocka_unit_test(test_blocker_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
