/* The pure parts of SPEC §7.2: backoff, retryable states, Alembic output
 * lines, PGOPTIONS (blocker rows: test_blockers.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retryable),
		cmocka_unit_test(test_alembic_lines),
		cmocka_unit_test(test_pgoptions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
