/* help: the "did you mean" of a mistyped word, and every command's help
 * holding what a user looks for (usage, options, example, exit codes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "prestart/help.h"

static const char *const cmds[] = { "run", "wait", "upgrade", "downgrade", "current",
				    "history", "heads", "branches", "show", "stamp", "status",
				    "help", "healthcheck", NULL };

static void test_suggest_typos(void **state)
{
	(void)state;
	assert_string_equal(help_suggest("upgarde", cmds), "upgrade");  /* transposition */
	assert_string_equal(help_suggest("upgrad", cmds), "upgrade");   /* deletion */
	assert_string_equal(help_suggest("histroy", cmds), "history");
	assert_string_equal(help_suggest("stauts", cmds), "status");
	assert_string_equal(help_suggest("rnu", cmds), "run");
	assert_string_equal(help_suggest("health", cmds), "healthcheck"); /* a prefix */
	assert_string_equal(help_suggest("Run", cmds), "run");
}

static void test_suggest_nothing_far(void **state)
{
	(void)state;
	assert_null(help_suggest("frobnicate", cmds));
	assert_null(help_suggest("", cmds));
	assert_null(help_suggest("xyz", cmds));
	assert_null(help_suggest("migrate", cmds));
}

static void test_every_topic_has_the_parts(void **state)
{
	char buf[8192];

	(void)state;
	for (const char *const *t = help_topics(); *t; t++) {
		assert_int_equal(help_command(*t, buf, sizeof(buf)), 0);
		assert_true(!strncmp(buf, "usage: prestart ", 16));
		assert_non_null(strstr(buf, *t));
		assert_non_null(strstr(buf, "\nexample:\n  "));
		assert_non_null(strstr(buf, "\nexit codes: 0"));
		assert_true(strlen(buf) < sizeof(buf) - 1);
	}
	assert_int_equal(help_command("nosuch", buf, sizeof(buf)), -1);
	assert_non_null(strstr(help_usage(), "[--sql]"));
	assert_non_null(strstr(help_usage(), "\ntargets: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_suggest_typos),
		cmocka_unit_test(test_suggest_nothing_far),
		cmocka_unit_test(test_every_topic_has_the_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
