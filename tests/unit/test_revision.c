/* The revision type's validators and offsets (revision.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/revision.h"

static void test_ids(void **state)
{
	static const char *const good[] = { "a", "3f2a1b9c0d4e", "add_users", "v1.2-rc", "A_b.C-9",
					    "0123456789abcdef0123456789abcdef", NULL };
	static const char *const bad[] = { "", "a b", "a@b", "a,b", "a/b", "é", "a\n",
					   "0123456789abcdef0123456789abcdef0", NULL };

	(void)state;
	for (size_t i = 0; good[i]; i++)
		if (!revision_valid_id(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (size_t i = 0; bad[i]; i++)
		if (revision_valid_id(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

static void test_labels(void **state)
{
	(void)state;
	assert_true(revision_valid_label("feature"));
	assert_true(revision_valid_label("with space"));
	assert_false(revision_valid_label(""));
	assert_false(revision_valid_label("a@b"));
	assert_false(revision_valid_label("a,b"));
}

static void test_offset_to_linecol(void **state)
{
	static const struct {
		size_t off;
		int line, col;
	} cases[] = {
		{ 0, 10, 1 }, { 3, 10, 4 }, { 4, 10, 5 }, { 5, 11, 1 }, { 7, 11, 3 }, { 8, 12, 1 },
	};
	const char *text = "abcd\nef\n";

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int line = 0, col = 0;

		revision_offset_to_linecol(text, cases[i].off, 10, &line, &col);
		assert_int_equal(line, cases[i].line);
		assert_int_equal(col, cases[i].col);
	}
}

static void test_release(void **state)
{
	struct revision rev;

	(void)state;
	memset(&rev, 0, sizeof(rev));
	rev.transactional = 0;
	revision_release(&rev);
	assert_int_equal(rev.transactional, 1);
	assert_null(rev.id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_offset_to_linecol),
		cmocka_unit_test(test_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
