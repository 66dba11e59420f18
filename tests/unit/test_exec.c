/* exec: splitting an after_upgrade hook's command line into argv, the way a
 * shell would for quoting, and in no other way (no variables, globs,
 * redirections or operators: the words are handed to execvp as they are).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prestart/exec.h"

/* line splits into exactly the NULL-terminated words given */
static void split_ok(const char *line, ...)
{
	struct strlist argv = { 0 };
	struct err e = { 0 };
	const char *w;
	size_t i = 0;
	va_list ap;

	if (exec_split(line, &argv, &e) < 0)
		fail_msg("exec_split(%s): %s", line, e.msg);
	va_start(ap, line);
	while ((w = va_arg(ap, const char *))) {
		if (i >= argv.n)
			fail_msg("exec_split(%s): %zu words, expected more", line, argv.n);
		assert_string_equal(argv.v[i], w);
		i++;
	}
	va_end(ap);
	assert_int_equal(argv.n, i);
	assert_null(argv.v[argv.n]); /* ready for execvp */
	strlist_free(&argv);
}

static void split_bad(const char *line, const char *msg)
{
	struct strlist argv = { 0 };
	struct err e = { 0 };

	assert_int_equal(exec_split(line, &argv, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_string_equal(e.msg, msg);
	strlist_free(&argv);
}

static void test_blanks_separate_words(void **state)
{
	(void)state;
	split_ok("/bin/true", "/bin/true", NULL);
	split_ok("a b  c", "a", "b", "c", NULL);
	split_ok("  \tlead and trail\t \n", "lead", "and", "trail", NULL);
	split_ok("a\nb\tc", "a", "b", "c", NULL);
}

static void test_quotes(void **state)
{
	(void)state;
	/* single quotes: everything literal, backslashes included */
	split_ok("echo 'a  b' 'c\\d' 'say \"hi\"'", "echo", "a  b", "c\\d", "say \"hi\"", NULL);
	/* double quotes: a backslash escapes only '"' and '\' */
	split_ok("echo \"x \\\"y\\\" \\\\ \\n\"", "echo", "x \"y\" \\ \\n", NULL);
	split_ok("echo \"it's\"", "echo", "it's", NULL);
	/* quoted and bare parts of one word join */
	split_ok("a'b c'\"d\"e", "ab cde", NULL);
	/* empty quotes are an empty word, not no word */
	split_ok("a '' b \"\"", "a", "", "b", "", NULL);
	split_ok("''", "", NULL);
}

static void test_backslash_outside_quotes(void **state)
{
	(void)state;
	split_ok("a\\ b c", "a b", "c", NULL);
	split_ok("\\'x\\\"", "'x\"", NULL);
	split_ok("a\\\\b", "a\\b", NULL);
	/* a final backslash has nothing to escape: kept */
	split_ok("a\\", "a\\", NULL);
}

static void test_no_shell_features(void **state)
{
	(void)state;
	split_ok("echo $HOME *.txt ~ a;b | c > d && e `id` $(id)",
		 "echo", "$HOME", "*.txt", "~", "a;b", "|", "c", ">", "d", "&&", "e", "`id`",
		 "$(id)", NULL);
	split_ok("# not a comment", "#", "not", "a", "comment", NULL);
}

static void test_errors(void **state)
{
	(void)state;
	split_bad("", "empty command");
	split_bad(" \t\n", "empty command");
	split_bad("echo 'open", "unterminated quote in command 'echo 'open'");
	split_bad("echo \"open \\\"", "unterminated quote in command 'echo \"open \\\"'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blanks_separate_words),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_backslash_outside_quotes),
		cmocka_unit_test(test_no_shell_features),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
