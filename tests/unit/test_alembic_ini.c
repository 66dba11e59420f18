/* alembic_ini: the copy of a user's alembic.ini that names the database
 * prestart locked, as ConfigParser will read it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prestart/alembic_ini.h"

static void rewrite(const char *in, const char *url, const char *want)
{
	char *got = alembic_ini_with_url(in, "alembic", url, "/srv/app");

	assert_string_equal(got, want);
	free(got);
}

static void test_replaces_the_key(void **state)
{
	(void)state;
	rewrite("[alembic]\nscript_location = alembic\nsqlalchemy.url = driver://user:pass@localhost/dbname\n\n[loggers]\nkeys = root\n",
		"sqlite:///app.db",
		"[DEFAULT]\nhere = /srv/app\n[alembic]\nsqlalchemy.url = sqlite:///app.db\n"
		"script_location = alembic\n\n[loggers]\nkeys = root\n");
	/* continuation lines and "key: value" go too; other sections keep
	 * their own sqlalchemy.url */
	rewrite("[other]\nsqlalchemy.url = x\n[alembic]\nSQLAlchemy.URL: a\n  b\nk = v\n",
		"postgresql://u@h/d",
		"[DEFAULT]\nhere = /srv/app\n[other]\nsqlalchemy.url = x\n[alembic]\n"
		"sqlalchemy.url = postgresql://u@h/d\nk = v\n");
}

static void test_adds_what_is_missing(void **state)
{
	(void)state;
	rewrite("[alembic]\nscript_location = a\n", "sqlite:///x.db",
		"[DEFAULT]\nhere = /srv/app\n[alembic]\nsqlalchemy.url = sqlite:///x.db\n"
		"script_location = a\n");
	rewrite("[loggers]\nkeys = root", "sqlite:///x.db",
		"[DEFAULT]\nhere = /srv/app\n[loggers]\nkeys = root\n\n[alembic]\n"
		"sqlalchemy.url = sqlite:///x.db\n");
}

static void test_percent_is_escaped(void **state)
{
	char *got;

	(void)state;
	got = alembic_ini_with_url("[alembic]\n", "alembic", "postgresql://u:p%40ss@h/d", "/a%b");
	assert_string_equal(got, "[DEFAULT]\nhere = /a%%b\n[alembic]\n"
			    "sqlalchemy.url = postgresql://u:p%%40ss@h/d\n");
	free(got);
}

static void test_reads_the_value(void **state)
{
	char *v;

	(void)state;
	v = alembic_ini_url("[x]\nsqlalchemy.url = no\n[alembic]\nsqlalchemy.url =  sqlite:///a%%b.db \n",
			    "alembic");
	assert_string_equal(v, "sqlite:///a%b.db");
	free(v);
	v = alembic_ini_url("[alembic]\nsqlalchemy.url = sqlite:///%(here)s/a.db\n", "alembic");
	assert_string_equal(v, "sqlite:///%(here)s/a.db");
	free(v);
	assert_null(alembic_ini_url("[alembic]\nscript_location = a\n", "alembic"));
	assert_null(alembic_ini_url("[other]\nsqlalchemy.url = a\n", "alembic"));
}

static void test_sqlalchemy_scheme(void **state)
{
	char *u;

	(void)state;
	u = alembic_url("postgres://u@h/d");
	assert_string_equal(u, "postgresql://u@h/d");
	free(u);
	u = alembic_url("postgresql+asyncpg://u@h/d");
	assert_string_equal(u, "postgresql+asyncpg://u@h/d");
	free(u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replaces_the_key),
		cmocka_unit_test(test_adds_what_is_missing),
		cmocka_unit_test(test_percent_is_escaped),
		cmocka_unit_test(test_reads_the_value),
		cmocka_unit_test(test_sqlalchemy_scheme),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
