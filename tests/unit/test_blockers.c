/* Who blocks a backend (SPEC §7.2): the rows of blockers_sql, as the log
 * and /status show them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/blockers.h"

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
		cmocka_unit_test(test_blocker_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
