/* test_pyrev.c - Alembic .py revision metadata. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/pyrev.h"

/* The corpus: real files rendered by Alembic's templates plus hand-written
 * shapes, with what Alembic itself reads from them (make_expected.py). */
#ifndef PYREV_FIXTURES
#define PYREV_FIXTURES "tests/unit/fixtures/pyrev"
#endif

static int parse(const char *path, const char *text, struct revision *rev, struct err *e)
{
	return pyrev_parse(path, text, strlen(text), rev, e);
}

static void parse_ok(const char *text, struct revision *rev)
{
	struct err e = { 0 };

	if (parse("v/x.py", text, rev, &e) < 0)
		fail_msg("parse failed: %s", e.msg);
}

static void parse_fails(const char *text, const char *want)
{
	struct revision rev;
	struct err e = { 0 };

	if (parse("v/x.py", text, &rev, &e) == 0) {
		revision_release(&rev);
		fail_msg("parse of [%s] succeeded, want: %s", text, want);
	}
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, want);
	assert_null(rev.id);
	assert_null(rev.path);
}

static void assert_list(const struct strlist *l, const char *want)
{
	char *got = strlist_join(l, ",");

	assert_string_equal(got, want);
	free(got);
}

static void test_corpus(void **state)
{
	char *idx, *line, *save = NULL;
	size_t len;
	struct err e = { 0 };
	int n = 0;

	(void)state;
	if (read_file(PYREV_FIXTURES "/expected.txt", 1 << 20, &idx, &len, &e) < 0)
		fail_msg("%s", e.msg);
	for (line = strtok_r(idx, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[6], *p = line, *path, *text, *msg, *m;
		struct revision rev;
		int i;

		for (i = 0; i < 6; i++) {
			f[i] = p;
			p = strchr(p, '|');
			if (p)
				*p++ = '\0';
			else
				assert_int_equal(i, 5);
		}
		path = xasprintf("%s/%s", PYREV_FIXTURES, f[0]);
		if (read_file(path, 1 << 20, &text, &len, &e) < 0)
			fail_msg("%s", e.msg);
		if (pyrev_parse(path, text, len, &rev, &e) < 0)
			fail_msg("%s", e.msg);
		/* undo the \\ and \n escapes of the message column */
		msg = m = xstrdup(f[5]);
		for (p = f[5]; *p; p++) {
			if (*p == '\\' && p[1] == 'n')
				*m++ = '\n', p++;
			else if (*p == '\\' && p[1] == '\\')
				*m++ = '\\', p++;
			else
				*m++ = *p;
		}
		*m = '\0';
		print_message("%s\n", f[0]);
		assert_string_equal(rev.id, f[1]);
		assert_list(&rev.down, f[2]);
		assert_list(&rev.labels, f[3]);
		assert_list(&rev.depends, f[4]);
		assert_string_equal(rev.message, msg);
		assert_int_equal(rev.is_py, 1);
		assert_int_equal(rev.transactional, 1);
		assert_null(rev.upgrade_sql);
		assert_null(rev.downgrade_sql);
		assert_string_equal(rev.path, path);
		revision_release(&rev);
		free(msg);
		free(text);
		free(path);
		n++;
	}
	free(idx);
	assert_true(n >= 15);
}

static void test_create_date(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("\"\"\"msg\n\nRevision ID: a\nRevises: \nCreate Date: 2011-11-08 11:40:27.089406\n\n"
		 "\"\"\"\nrevision = 'a'\ndown_revision = None\n",
		 &rev);
	assert_string_equal(rev.message, "msg");
	assert_string_equal(rev.create_date, "2011-11-08 11:40:27.089406");
	revision_release(&rev);

	parse_ok("revision = 'a'\ndown_revision = None\n", &rev);
	assert_string_equal(rev.message, "");
	assert_null(rev.create_date);
	assert_int_equal(rev.down.n, 0);
	assert_int_equal(rev.labels.n, 0);
	revision_release(&rev);
}

static void test_values(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("revision = ('abc')\ndown_revision = ['a', \"b\",]\nbranch_labels = []\n"
		 "depends_on = 'x'  # a comment\n",
		 &rev);
	assert_string_equal(rev.id, "abc");
	assert_list(&rev.down, "a,b");
	assert_list(&rev.labels, "");
	assert_list(&rev.depends, "x");
	revision_release(&rev);

	parse_ok("revision = '''tri''' \"ple\"\ndown_revision = ('a',)\n"
		 "revision_extra = foo()\nrevisions = 1\n",
		 &rev);
	assert_string_equal(rev.id, "triple");
	assert_list(&rev.down, "a");
	revision_release(&rev);

	/* a bare annotation declares without assigning */
	parse_ok("revision: str\nrevision: str = 'b'\ndown_revision: Union[str, None] = None\n",
		 &rev);
	assert_string_equal(rev.id, "b");
	revision_release(&rev);

	/* comparisons and attribute use are not assignments */
	parse_ok("revision = 'c'\ndown_revision = None\nrevision == 'x'\nrevision.upper()\n"
		 "print(revision)\n",
		 &rev);
	assert_string_equal(rev.id, "c");
	revision_release(&rev);
}

static void test_ignored_blocks(void **state)
{
	struct revision rev;

	(void)state;
	/* other scopes, blocks that never run, brackets and strings */
	parse_ok("revision = 'a'\ndown_revision = None\n"
		 "if TYPE_CHECKING:\n    revision = 'b'\n"
		 "if typing.TYPE_CHECKING: depends_on = f'{x}'\n"
		 "@decorator\ndef f(): branch_labels = 1\n"
		 "class C:\n    depends_on = 'x'\n    def g(self):\n        revision = 'y'\n"
		 "async def h():\n    global revision\n    revision = 'z'\n"
		 "x = [\nrevision\n]\n"
		 "y = '''\nrevision = 'd'\n'''\n"
		 "f(revision='e', depends_on=1)\nlambda revision: revision\n",
		 &rev);
	assert_string_equal(rev.id, "a");
	assert_int_equal(rev.depends.n, 0);
	assert_int_equal(rev.labels.n, 0);
	revision_release(&rev);
}

/* Module-level blocks run in the module's scope: what they assign is
 * metadata, and only Python knows whether they run. */
static void test_computed_bindings(void **state)
{
	static const char head[] = "\"\"\"msg\n\nRevision ID: a\n\"\"\"\n";
	static const char *const cases[][2] = {
		{ "if True: revision = 'b'\n",
		  "v/x.py:7: cannot read 'revision' without running Python: it is assigned inside "
		  "a module-level 'if' block" },
		{ "for x in []:\n    revision = 'c'\n",
		  "v/x.py:8: cannot read 'revision' without running Python: it is assigned inside "
		  "a module-level 'for' block" },
		{ "try:\n    from neutron.db import migration\n    depends_on = ('x',)\n"
		  "except ImportError:\n    depends_on = None\n",
		  "v/x.py:11: cannot read 'depends_on' without running Python: it is assigned "
		  "inside a module-level 'except' block" },
		{ "if TYPE_CHECKING:\n    pass\nelse:\n    branch_labels = ('x',)\n",
		  "v/x.py:10: cannot read 'branch_labels' without running Python: it is assigned "
		  "inside a module-level 'else' block" },
		{ "from .common import depends_on\n",
		  "v/x.py:7: cannot read 'depends_on' without running Python: it is bound by an "
		  "import" },
		{ "import labels as branch_labels\n",
		  "v/x.py:7: cannot read 'branch_labels' without running Python: it is bound by "
		  "'as'" },
		{ "x = depends_on = ('a',)\n",
		  "v/x.py:7: cannot read 'depends_on' without running Python: it is bound by a "
		  "chained assignment" },
		{ "(revision := 'z')\n",
		  "v/x.py:7: cannot read 'revision' without running Python: it is bound by ':='" },
		{ "del depends_on\n",
		  "v/x.py:7: cannot read 'depends_on' without running Python: it is bound by "
		  "'del'" },
		{ "with open('x') as f:\n    revision, y = f.read().split()\n",
		  "v/x.py:8: cannot read 'revision' without running Python: it is assigned inside "
		  "a module-level 'with' block" },
		{ "branch_labels = (cli.CONTRACT_BRANCH,)\n",
		  "v/x.py:7: cannot read 'branch_labels' without running Python: only strings, "
		  "None and tuples or lists of strings are understood, not 'cli'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct revision rev;
		struct err e = { 0 };
		char *text = xasprintf("%srevision = 'a'\ndown_revision = 'p'\n%s", head,
				       cases[i][0]);

		parse_fails(text, cases[i][1]);
		/* pyrev_read keeps what it could read, for Python to complete */
		assert_int_equal(pyrev_read("v/x.py", text, strlen(text), &rev, &e), 1);
		assert_int_equal(e.kind, ERR_SCRIPT);
		assert_string_equal(e.msg, cases[i][1]);
		assert_string_equal(rev.path, "v/x.py");
		assert_string_equal(rev.message, "msg");
		assert_string_equal(rev.doc, "msg\n\nRevision ID: a");
		assert_int_equal(rev.is_py, 1);
		revision_release(&rev);
		free(text);
	}
}

static void test_last_binding_wins(void **state)
{
	struct revision rev;

	(void)state;
	/* as in Python: the last assignment of a name is its value */
	parse_ok("revision = 'a'\ndown_revision = None\nrevision = 'b'\n"
		 "depends_on = None\ndepends_on = None\n",
		 &rev);
	assert_string_equal(rev.id, "b");
	revision_release(&rev);
	parse_ok("revision = 'a'; down_revision = None; down_revision = 'x'\n", &rev);
	assert_list(&rev.down, "x");
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = 'x'\ndown_revision = None\n"
		 "branch_labels = ('l',)\nbranch_labels = ()\n",
		 &rev);
	assert_int_equal(rev.down.n, 0);
	assert_int_equal(rev.labels.n, 0);
	revision_release(&rev);
	/* a bad value replaced before the end is no error... */
	parse_ok("revision = None\nrevision = 'c'\ndown_revision = ''\ndown_revision = 'a'\n",
		 &rev);
	assert_string_equal(rev.id, "c");
	assert_list(&rev.down, "a");
	revision_release(&rev);
	/* ...and a computed value replaced by a literal needs no Python */
	parse_ok("try:\n    depends_on = (cli.X,)\nexcept ImportError:\n    pass\n"
		 "revision = 'd'\ndown_revision = 'a'\ndepends_on = None\n",
		 &rev);
	assert_int_equal(rev.depends.n, 0);
	revision_release(&rev);
	parse_fails("revision = 'a'\ndown_revision = None\nrevision = 'b'\nrevision += 'c'\n",
		    "v/x.py:4: cannot read 'revision' without running Python: only strings, None "
		    "and tuples or lists of strings are understood, not '+='");
}

static void test_empty_strings(void **state)
{
	struct revision rev;

	(void)state;
	/* Alembic reads "" as no revision (tuple_rev_as_scalar) */
	parse_ok("revision = 'a'\ndown_revision = ''\n", &rev);
	assert_int_equal(rev.down.n, 0);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = 'b'\ndepends_on = \"\"\n", &rev);
	assert_int_equal(rev.depends.n, 0);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = ('b',)\nbranch_labels = ()\ndepends_on = []\n",
		 &rev);
	assert_list(&rev.down, "b");
	revision_release(&rev);
	/* ...but ("",) is kept by Alembic, and breaks its graph */
	parse_fails("revision = 'a'\ndown_revision = ('',)\n",
		    "v/x.py:2: invalid revision id '' in 'down_revision' "
		    "(1-32 characters of A-Z a-z 0-9 _ . -)");
	parse_fails("revision = 'a'\ndown_revision = 'b'\ndepends_on = ('',)\n",
		    "v/x.py:3: invalid name '' in 'depends_on'");
	parse_fails("revision = 'a'\ndown_revision = 'b'\nbranch_labels = ''\n",
		    "v/x.py:3: invalid name '' in 'branch_labels'");
	/* a base that depends on "": Alembic reports a dependency cycle */
	parse_fails("revision = 'a'\ndown_revision = None\ndepends_on = ''\n",
		    "v/x.py:3: depends_on = '' on a revision without a down_revision: Alembic "
		    "reports a dependency cycle; write depends_on = None");
}

static void test_docstring(void **state)
{
	struct revision rev;

	(void)state;
	/* kept whole and stripped as str.strip() (Unicode spaces included);
	 * universal newlines in the source, an escaped \r kept */
	parse_ok("\"\"\"\xc2\xa0 first line\r\nsame paragraph\r\rsecond\\r paragraph\n\n"
		 "Revision ID: a\nRevises: \nCreate Date: 2024-01-02 03:04:05.000006\n\n"
		 "\xe2\x80\x83\"\"\"\nrevision = 'a'\ndown_revision = None\n",
		 &rev);
	assert_string_equal(rev.doc, "first line\nsame paragraph\n\nsecond\r paragraph\n\n"
				     "Revision ID: a\nRevises: \n"
				     "Create Date: 2024-01-02 03:04:05.000006");
	assert_string_equal(rev.message, "first line\nsame paragraph");
	assert_string_equal(rev.create_date, "2024-01-02 03:04:05.000006");
	revision_release(&rev);
	/* no docstring: "" as Alembic's longdoc */
	parse_ok("import x\n\"\"\"not a docstring\"\"\"\nrevision = 'a'\ndown_revision = None\n",
		 &rev);
	assert_string_equal(rev.doc, "");
	assert_string_equal(rev.message, "");
	revision_release(&rev);
}

static void test_fstring_bodies(void **state)
{
	struct revision rev;

	(void)state;
	/* Python 3.12 lets a replacement field reuse the outer quote */
	parse_ok("def upgrade():\n    op.execute(f\"SELECT {d[\"k\"]} {'}'} {x:{w}}\")\n"
		 "revision = 'a'\ndown_revision = None\n",
		 &rev);
	assert_string_equal(rev.id, "a");
	revision_release(&rev);
}

static void test_candidates(void **state)
{
	(void)state;
	assert_true(pyrev_is_candidate("ae1027a6acf_create_account_table.py"));
	assert_true(pyrev_is_candidate("001.py"));
	assert_false(pyrev_is_candidate("__init__.py"));
	assert_false(pyrev_is_candidate("env.py"));
	assert_false(pyrev_is_candidate("script.py.mako"));
	assert_false(pyrev_is_candidate("x.pyc"));
	assert_false(pyrev_is_candidate(".#x.py"));
	assert_false(pyrev_is_candidate(".py"));
	assert_false(pyrev_is_candidate("README"));
}

static void test_value_errors(void **state)
{
	(void)state;
	parse_fails("revision = 'a'\ndown_revision = BASE\n",
		    "v/x.py:2: cannot read 'down_revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'BASE'");
	parse_fails("revision = make_id()\ndown_revision = None\n",
		    "v/x.py:1: cannot read 'revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'make_id'");
	parse_fails("revision = 'a'\ndown_revision = f'{x}'\n",
		    "v/x.py:2: cannot read 'down_revision' without running Python: an f-string");
	parse_fails("revision = 'a' f'b'\ndown_revision = None\n",
		    "v/x.py:1: cannot read 'revision' without running Python: an f-string");
	parse_fails("revision = b'a'\ndown_revision = None\n",
		    "v/x.py:1: cannot read 'revision' without running Python: a bytes literal");
	parse_fails("revision = 'a' + 'b'\ndown_revision = None\n",
		    "v/x.py:1: cannot read 'revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not '+'");
	parse_fails("revision = 'a'\ndown_revision = None\nbranch_labels = ('x', y)\n",
		    "v/x.py:3: cannot read 'branch_labels' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'y'");
	parse_fails("revision = 'a'\ndown_revision = None\ndepends_on = 'x'.upper()\n",
		    "v/x.py:3: cannot read 'depends_on' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not '.'");
	parse_fails("revision = 'a'\ndown_revision = ('a', None)\n",
		    "v/x.py:2: cannot read 'down_revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'None'");
	parse_fails("revision = 'a'\ndown_revision = 'x' if X else None\n",
		    "v/x.py:2: cannot read 'down_revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'if'");
	parse_fails("revision = 'a'\ndown_revision = None\ndown_revision += ('b',)\n",
		    "v/x.py:3: cannot read 'down_revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not '+='");
	parse_fails("revision, down_revision = 'a', None\n",
		    "v/x.py:1: cannot read 'revision' without running Python: it is assigned by "
		    "unpacking");
	parse_fails("revision = down_revision = 'a'\n",
		    "v/x.py:1: cannot read 'revision' without running Python: only strings, "
		    "None and tuples or lists of strings are understood, not 'down_revision'");
}

static void test_metadata_errors(void **state)
{
	struct revision rev;
	struct err e = { 0 };
	static const char bin[] = "revision = 'a'\ndown_revision = None\n\0\n";

	(void)state;
	parse_fails("revision = None\ndown_revision = None\n",
		    "v/x.py:1: 'revision' must be a string");
	parse_fails("revision = ('a', 'b')\ndown_revision = None\n",
		    "v/x.py:1: 'revision' must be a string");
	parse_fails("revision = 'a b'\ndown_revision = None\n",
		    "v/x.py:1: invalid revision id 'a b' (1-32 characters of A-Z a-z 0-9 _ . -)");
	parse_fails("revision = 'a'\ndown_revision = None\nbranch_labels = 'x@y'\n",
		    "v/x.py:3: invalid name 'x@y' in 'branch_labels'");
	parse_fails("down_revision = None\n",
		    "v/x.py: could not determine the revision id: no module-level 'revision = ...'");
	parse_fails("def f():\n    revision = 'a'\ndown_revision = None\n",
		    "v/x.py: could not determine the revision id: no module-level 'revision = ...'");
	parse_fails("revision = 'a'\n", "v/x.py: no module-level 'down_revision = ...'");
	parse_fails("revision = 'a\ndown_revision = None\n", "v/x.py:1: unterminated string");
	parse_fails("\"\"\"doc\n\nrevision = 'a'\n", "v/x.py:1: unterminated triple-quoted string");
	parse_fails("revision = 'a'\ndown_revision = None\nx = f'{y'\n",
		    "v/x.py:3: unterminated string");
	assert_int_equal(pyrev_parse("v/x.py", bin, sizeof(bin) - 1, &rev, &e), -1);
	assert_string_equal(e.msg, "v/x.py:3: NUL byte in a revision file (binary file?)");
	assert_null(rev.id);
}

static void test_legacy_names(void **state)
{
	struct revision rev;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(parse("versions/1a2b3c.py", "down_revision = None\n", &rev, &e), 0);
	assert_string_equal(rev.id, "1a2b3c");
	revision_release(&rev);
	/* a module-level revision wins over the name */
	assert_int_equal(parse("versions/1a2b3c.py", "revision = 'x'\ndown_revision = None\n",
			       &rev, &e),
			 0);
	assert_string_equal(rev.id, "x");
	revision_release(&rev);
	assert_int_equal(parse("versions/1A2B.py", "down_revision = None\n", &rev, &e), -1);
	assert_string_equal(e.msg, "versions/1A2B.py: could not determine the revision id: "
				   "no module-level 'revision = ...'");
}

/* SPEC §7.3's compat mark, read natively. */
static void test_compat_mark(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("revision = 'a'\ndown_revision = None\nprestart_compat = \"breaking\"\n", &rev);
	assert_int_equal(rev.compat_breaking, 1);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = None\nprestart_compat = 'compatible'\n", &rev);
	assert_int_equal(rev.compat_breaking, 0);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = None\n", &rev);
	assert_int_equal(rev.compat_breaking, 0);
	revision_release(&rev);
	parse_fails("revision = 'a'\ndown_revision = None\nprestart_compat = 'maybe'\n",
		    "v/x.py:3: 'prestart_compat' must be \"breaking\" or \"compatible\"");
}

/* SPEC §9.4's phase mark, read natively. */
static void test_phase_mark(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("revision = 'a'\ndown_revision = None\nprestart_phase = \"contract\"\n", &rev);
	assert_int_equal(rev.phase, REV_PHASE_CONTRACT);
	assert_int_equal(rev.phase_line, 3);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = None\nprestart_phase = 'expand'\n", &rev);
	assert_int_equal(rev.phase, REV_PHASE_EXPAND);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = None\nprestart_phase = None\n", &rev);
	assert_int_equal(rev.phase, REV_PHASE_UNSET);
	revision_release(&rev);
	parse_ok("revision = 'a'\ndown_revision = None\n", &rev);
	assert_int_equal(rev.phase, REV_PHASE_UNSET);
	assert_int_equal(rev.phase_line, 0);
	revision_release(&rev);
	parse_fails("revision = 'a'\ndown_revision = None\nprestart_phase = 'later'\n",
		    "v/x.py:3: 'prestart_phase' must be \"expand\" or \"contract\"");
	parse_fails("revision = 'a'\ndown_revision = None\nprestart_phase = ('expand',)\n",
		    "v/x.py:3: 'prestart_phase' must be \"expand\" or \"contract\"");
	/* a computed mark is an error, not left to Python, which would drop it */
	{
		const char *t = "revision = 'a'\ndown_revision = None\nprestart_phase = PHASE\n";
		struct err e = { 0 };

		assert_int_equal(pyrev_read("v/x.py", t, strlen(t), &rev, &e), -1);
		assert_string_equal(e.msg, "v/x.py:3: cannot read 'prestart_phase' without running "
					   "Python: only strings, None and tuples or lists of strings "
					   "are understood, not 'PHASE' (prestart reads "
					   "'prestart_phase' only as a literal string)");
		t = "revision = 'a'\ndown_revision = None\nif X:\n    prestart_compat = 'breaking'\n";
		assert_int_equal(pyrev_read("v/x.py", t, strlen(t), &rev, &e), -1);
		assert_non_null(strstr(e.msg, "(prestart reads 'prestart_compat' only as a literal "
					      "string)"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_create_date),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_ignored_blocks),
		cmocka_unit_test(test_computed_bindings),
		cmocka_unit_test(test_last_binding_wins),
		cmocka_unit_test(test_empty_strings),
		cmocka_unit_test(test_docstring),
		cmocka_unit_test(test_fstring_bodies),
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_metadata_errors),
		cmocka_unit_test(test_legacy_names),
		cmocka_unit_test(test_compat_mark),
		cmocka_unit_test(test_phase_mark),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
