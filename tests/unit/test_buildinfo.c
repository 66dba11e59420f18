/* What `prestart version` reports: the first line scripts parse, one
 * "name: value" line per fact, and a buffer too small cut short but always
 * terminated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/buildinfo.h"

static void test_first_line_is_name_and_version(void **state)
{
	char buf[1024], want[64];

	(void)state;
	buildinfo_describe(buf, sizeof(buf));
	snprintf(want, sizeof(want), "prestart %s\n", buildinfo_version());
	assert_int_equal(strncmp(buf, want, strlen(want)), 0);
}

static void test_one_line_per_fact(void **state)
{
	static const char *const names[] = { "\ncommit: ", "\nbuilt: ", "\nplatform: linux/",
		"\nlibpq: ", "\nlibcurl: ", "\nsqlite: ", "\nlibpg_query: ", "\nglibc: " };
	char buf[1024];

	(void)state;
	buildinfo_describe(buf, sizeof(buf));
	assert_int_equal(buf[strlen(buf) - 1], '\n');
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_non_null(strstr(buf, names[i]));
}

static void test_small_buffer_is_cut_and_terminated(void **state)
{
	char full[1024], buf[20];

	(void)state;
	buildinfo_describe(full, sizeof(full));
	memset(buf, 'x', sizeof(buf));
	buildinfo_describe(buf, sizeof(buf));
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(strncmp(buf, full, sizeof(buf) - 1), 0);
	buildinfo_describe(buf, 0);   /* nothing written, nothing read */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_line_is_name_and_version),
		cmocka_unit_test(test_one_line_per_fact),
		cmocka_unit_test(test_small_buffer_is_cut_and_terminated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
