/* test_util.c - helpers shared by every module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "prestart/util.h"

/* What Python's os.path.abspath returns, run from "/". */
static void test_path_abspath(void **state)
{
	static const char *const cases[][2] = {
		{ "/a/b/../c", "/a/c" }, { "//a//b/", "//a/b" }, { "///a", "/a" },
		{ "/..", "/" },		 { "/a/./b/.", "/a/b" }, { "/", "/" },
		{ "//", "//" },		 { "//..", "//" },	 { "x/../y", "/y" },
		{ "../..", "/" },	 { "", "/" },		 { "./m/versions/", "/m/versions" },
		{ "/a/../../b/..", "/" },
	};
	char *cwd = getcwd(NULL, 0);

	(void)state;
	assert_non_null(cwd);
	assert_int_equal(chdir("/"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = path_abspath(cases[i][0]);

		print_message("'%s'\n", cases[i][0]);
		assert_string_equal(got, cases[i][1]);
		free(got);
	}
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_abspath),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
