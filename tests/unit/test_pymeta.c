/* test_pymeta.c - applying Alembic's answers about computed .py metadata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/pymeta.h"

/* Two .py revisions as the deferred loader leaves them: a/x.py read,
 * a/y.py waiting for Python. */
static void make_set(struct revision_set *set)
{
	memset(set, 0, sizeof(*set));
	set->v = xcalloc(2, sizeof(*set->v));
	set->n = set->alloc = 2;
	for (int i = 0; i < 2; i++) {
		set->v[i].is_py = 1;
		set->v[i].transactional = 1;
		set->v[i].message = xstrdup("");
	}
	set->v[0].id = xstrdup("x1");
	set->v[0].path = xstrdup("a/x.py");
	set->v[1].path = xstrdup("a/y.py");
	set->v[1].unread = xstrdup("a/y.py:9: cannot read 'branch_labels' without running Python");
}

static void apply_fails(const char *out, const char *want)
{
	struct revision_set set;
	struct err e = { 0 };

	make_set(&set);
	assert_int_equal(pymeta_apply(&set, out, "/usr/bin/python3", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, want);
	revision_set_release(&set);
}

static void test_apply(void **state)
{
	struct revision_set set;
	struct err e = { 0 };

	(void)state;
	make_set(&set);
	assert_int_equal(pymeta_apply(&set,
				      "{\"path\": \"a/y.py\", \"revision\": \"y2\", \"down_revision\": "
				      "[\"x1\"], \"branch_labels\": [\"contract\"], \"depends_on\": [], "
				      "\"doc\": \"caf\xc3\xa9 \\\"q\\\" \\u0001\\n\\nRevision ID: y2\\n"
				      "Create Date: 2024-01-01\"}\n",
				      "/usr/bin/python3", &e),
			 0);
	assert_null(set.v[1].unread);
	assert_string_equal(set.v[1].id, "y2");
	assert_int_equal(set.v[1].down.n, 1);
	assert_string_equal(set.v[1].down.v[0], "x1");
	assert_int_equal(set.v[1].labels.n, 1);
	assert_string_equal(set.v[1].labels.v[0], "contract");
	assert_int_equal(set.v[1].depends.n, 0);
	assert_string_equal(set.v[1].doc,
			    "caf\xc3\xa9 \"q\" \x01\n\nRevision ID: y2\nCreate Date: 2024-01-01");
	assert_string_equal(set.v[1].message, "caf\xc3\xa9 \"q\" \x01");
	assert_string_equal(set.v[1].create_date, "2024-01-01");
	/* the revision read without Python is left alone */
	assert_string_equal(set.v[0].id, "x1");
	revision_set_release(&set);
}

static void test_apply_errors(void **state)
{
	(void)state;
	apply_fails("{\"path\": \"a/y.py\", \"error\": \"ModuleNotFoundError: No module named "
		    "'neutron'\"}\n",
		    "a/y.py: /usr/bin/python3 could not load it: ModuleNotFoundError: No module "
		    "named 'neutron'");
	apply_fails("{\"path\": \"a/y.py\", \"revision\": \"y 2\", \"down_revision\": [], "
		    "\"branch_labels\": [], \"depends_on\": [], \"doc\": \"\"}\n",
		    "a/y.py: invalid revision id 'y 2' (computed by Python; 1-32 characters of A-Z "
		    "a-z 0-9 _ . -)");
	apply_fails("{\"path\": \"a/y.py\", \"revision\": \"y2\", \"down_revision\": [], "
		    "\"branch_labels\": [\"a@b\"], \"depends_on\": [], \"doc\": \"\"}\n",
		    "a/y.py: invalid name 'a@b' in 'branch_labels' (computed by Python)");
	apply_fails("{\"path\": \"a/y.py\", \"revision\": \"y2\"}\n",
		    "a/y.py: incomplete answer from /usr/bin/python3");
	apply_fails("Traceback (most recent call last):\n",
		    "unreadable answer from /usr/bin/python3: 'Traceback (most recent call last):'");
	apply_fails("{\"path\": \"a/y.py\", \"revision\": 1}\n",
		    "unreadable answer from /usr/bin/python3: '{\"path\": \"a/y.py\", \"revision\": 1}'");
	apply_fails("{\"path\": \"a/x.py\", \"error\": \"x\"}\n",
		    "unexpected answer from /usr/bin/python3 about 'a/x.py'");
	apply_fails("", "a/y.py: no answer from /usr/bin/python3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_apply_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
