/* test_termlog.c - the termination message's JSON stays within the
 * kubelet's 4096 bytes, whatever the error.  Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/termlog.h"

static void test_fields(void **state)
{
	struct termlog_info t = { 0 };
	char *s;

	(void)state;
	t.exit_code = 1;
	t.phase = "migrating";
	t.error = "x.sql:1:1: relation \"t\" already exists (SQLSTATE 42P07)";
	t.revision = "b2";
	t.sqlstate = "42P07";
	t.elapsed_ms = 12;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_string_equal(s, "{\"exit_code\":1,\"phase\":\"migrating\",\"error\":\"x.sql:1:1: "
			       "relation \\\"t\\\" already exists (SQLSTATE 42P07)\",\"revision\":"
			       "\"b2\",\"sqlstate\":\"42P07\",\"blockers\":[],\"elapsed_ms\":12}\n");
	free(s);
	memset(&t, 0, sizeof(t));
	t.phase = "done";
	s = termlog_json(&t, TERMLOG_MAX);
	assert_string_equal(s, "{\"exit_code\":0,\"phase\":\"done\",\"error\":null,\"revision\":"
			       "null,\"sqlstate\":null,\"blockers\":[],\"elapsed_ms\":0}\n");
	free(s);
}

static void test_long_error_is_shortened(void **state)
{
	struct termlog_info t = { 0 };
	char *err = malloc(20000), *rev = malloc(6000), *s;

	(void)state;
	/* control characters become six bytes each in JSON */
	memset(err, '\x01', 19999);
	err[19999] = '\0';
	memset(rev, 'r', 5999);
	rev[5999] = '\0';
	t.exit_code = 1;
	t.phase = "migrating";
	t.error = err;
	t.revision = rev;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_true(strlen(s) <= TERMLOG_MAX);
	assert_non_null(strstr(s, "\"exit_code\":1"));
	assert_non_null(strstr(s, "..."));
	free(s);
	free(err);
	free(rev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_long_error_is_shortened),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
