#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scratch.h"

#include "prestart/inifile.h"

/* The value of section/key after interpolation, or the error's text. */
static char *value_of(const struct inifile *f, const char *section, const char *key)
{
	const struct inifile_entry *en = inifile_find(f, section, key);
	struct sbuf b = { 0 };
	struct err e = { 0 };

	if (!en)
		return NULL;
	if (inifile_interpolate(f, section, en, &b, &e) < 0) {
		sbuf_free(&b);
		return xstrdup(e.msg);
	}
	return b.buf ? sbuf_detach(&b) : xstrdup("");
}

static void expect(const struct inifile *f, const char *section, const char *key,
		   const char *want)
{
	char *v = value_of(f, section, key);

	if (!want) {
		assert_null(v);
		return;
	}
	assert_non_null(v);
	assert_string_equal(v, want);
	free(v);
}

static void test_read_as_configparser(void **state)
{
	struct inifile f;
	struct err e = { 0 };

	(void)state;
	write_file("a.ini", "[DEFAULT]\nroot = /srv\n"
			    "[alembic]\n"
			    "Script_Location = %(root)s/migrations\n"
			    "version_path_separator = ;\n"
			    "locs = one\n  two\n\tthree\n"
			    "pct = 100%%\n"
			    "dir = %(here)s/x\n"
			    "; a comment\n# another\n"
			    "[other]\nk: v\n");
	assert_int_equal(inifile_load(&f, "a.ini", &e), 0);
	assert_true(inifile_has_section(&f, "alembic"));
	assert_false(inifile_has_section(&f, "prestart"));
	/* keys lower-cased; [DEFAULT] seen from every section */
	expect(&f, "alembic", "script_location", "/srv/migrations");
	expect(&f, "other", "root", "/srv");
	/* no inline comments, as in Python 3 */
	expect(&f, "alembic", "version_path_separator", ";");
	expect(&f, "alembic", "locs", "one\ntwo\nthree");
	expect(&f, "alembic", "pct", "100%");
	expect(&f, "other", "k", "v");
	expect(&f, "other", "missing", NULL);
	{
		char *v = value_of(&f, "alembic", "dir");

		assert_non_null(v);
		assert_int_equal(strncmp(v, f.here, strlen(f.here)), 0);
		assert_string_equal(v + strlen(f.here), "/x");
		free(v);
	}
	assert_int_equal(inifile_find(&f, "alembic", "locs")->line, 6);
	inifile_release(&f);
	inifile_release(&f); /* fine on a zeroed struct */
}

static void test_interpolation_errors(void **state)
{
	static const struct {
		const char *value, *want;
	} cases[] = {
		{ "%(nope)s", "b.ini:2: bad interpolation in 'k': no key 'nope' in [s] or [DEFAULT]" },
		{ "50%", "b.ini:2: bad interpolation in 'k': '%' must be followed by '%' or '(' "
			 "(write a literal '%' as '%%')" },
		{ "%(x", "b.ini:2: bad interpolation in 'k': expected '%(name)s'" },
		{ "%(k)s", "b.ini:2: interpolation of 'k' is too deep (a reference loop?)" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct inifile f;
		struct err e = { 0 };
		char text[128];

		snprintf(text, sizeof(text), "[s]\nk = %s\n", cases[i].value);
		write_file("b.ini", text);
		assert_int_equal(inifile_load(&f, "b.ini", &e), 0);
		expect(&f, "s", "k", cases[i].want);
		inifile_release(&f);
	}
}

static void test_load_errors(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "[s]\nk = 1\nk = 2\n", "c.ini:3: duplicate key 'k' in [s] (first on line 2)" },
		{ "[s\nk = 1\n", "c.ini:1: syntax error" },
		{ "[s]\njust words\n", "c.ini:2: syntax error" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct inifile f;
		struct err e = { 0 };

		write_file("c.ini", cases[i].text);
		assert_int_equal(inifile_load(&f, "c.ini", &e), -1);
		assert_int_equal(e.kind, ERR_USAGE);
		assert_string_equal(e.msg, cases[i].want);
		assert_int_equal(f.n, 0);
	}
	{
		struct inifile f;
		struct err e = { 0 };

		assert_int_equal(inifile_load(&f, "absent.ini", &e), -1);
		assert_int_equal(e.kind, ERR_USAGE);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_as_configparser, scratch_setup,
						scratch_teardown),
		cmocka_unit_test_setup_teardown(test_interpolation_errors, scratch_setup,
						scratch_teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, scratch_setup, scratch_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
