/* test_sqlsplit.c - statement splitting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/sqlsplit.h"

/* Split `sql` and compare with the NULL-terminated list of statements. */
static void check_split(const char *sql, ...)
{
	struct sql_stmts st;
	struct err e = { 0 };
	size_t off = 99, i = 0;
	const char *want;
	va_list ap;

	if (sqlsplit(sql, strlen(sql), &st, &off, &e) < 0)
		fail_msg("sqlsplit failed on [%s]: %s at %zu", sql, e.msg, off);
	va_start(ap, sql);
	while ((want = va_arg(ap, const char *))) {
		if (i >= st.n)
			fail_msg("missing statement %zu: %s", i, want);
		if (strlen(want) != st.v[i].len || memcmp(sql + st.v[i].off, want, st.v[i].len))
			fail_msg("statement %zu: got [%.*s], want [%s]", i, (int)st.v[i].len,
				 sql + st.v[i].off, want);
		i++;
	}
	va_end(ap);
	assert_int_equal(st.n, i);
	sqlsplit_release(&st);
}

static void check_error(const char *sql, size_t want_off, const char *want_msg)
{
	struct sql_stmts st;
	struct err e = { 0 };
	size_t off = 99;

	assert_int_equal(sqlsplit(sql, strlen(sql), &st, &off, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, want_msg);
	assert_int_equal(off, want_off);
	assert_null(st.v);
	assert_int_equal(st.n, 0);
}

static void test_basic(void **state)
{
	(void)state;
	check_split("SELECT 1; SELECT 2;", "SELECT 1", "SELECT 2", NULL);
	check_split("SELECT 1", "SELECT 1", NULL);
	check_split("  \n\tSELECT 1  \n", "SELECT 1", NULL);
	check_split("", NULL);
	check_split(" ;;\n ; ", NULL);
	check_split("CREATE TABLE t (a int, b text);\nINSERT INTO t VALUES (1, 'x');\n",
		    "CREATE TABLE t (a int, b text)", "INSERT INTO t VALUES (1, 'x')", NULL);
}

static void test_offsets(void **state)
{
	const char *sql = "-- c\nSELECT 1 ;\n  SELECT 2";
	struct sql_stmts st;
	struct err e = { 0 };
	size_t off;

	(void)state;
	assert_int_equal(sqlsplit(sql, strlen(sql), &st, &off, &e), 0);
	assert_int_equal(st.n, 2);
	assert_int_equal(st.v[0].off, 5);
	assert_int_equal(st.v[0].len, 8);
	assert_int_equal(st.v[1].off, 18);
	assert_int_equal(st.v[1].len, 8);
	sqlsplit_release(&st);
}

static void test_single_quotes(void **state)
{
	(void)state;
	check_split("SELECT 'a;b'; SELECT 'it''s;'", "SELECT 'a;b'", "SELECT 'it''s;'", NULL);
	/* standard_conforming_strings: a backslash does not escape the quote */
	check_split("SELECT 'a\\'; SELECT 2", "SELECT 'a\\'", "SELECT 2", NULL);
	check_split("SELECT B'101', X'ff;'", "SELECT B'101', X'ff;'", NULL);
	check_split("SELECT ''; SELECT ''''", "SELECT ''", "SELECT ''''", NULL);
}

static void test_escape_strings(void **state)
{
	(void)state;
	check_split("SELECT E'a\\';b'; SELECT 2", "SELECT E'a\\';b'", "SELECT 2", NULL);
	check_split("SELECT e'x\\\\'; SELECT 2", "SELECT e'x\\\\'", "SELECT 2", NULL);
	check_split("SELECT E'it''s;'", "SELECT E'it''s;'", NULL);
	/* an 'e' ending an identifier is not a prefix */
	check_split("SELECT name'a\\'; SELECT 2", "SELECT name'a\\'", "SELECT 2", NULL);
}

static void test_unicode_strings(void **state)
{
	(void)state;
	check_split("SELECT U&'d\\0061t;a'; SELECT 2", "SELECT U&'d\\0061t;a'", "SELECT 2", NULL);
	check_split("SELECT u&'x'' ;' UESCAPE '!'", "SELECT u&'x'' ;' UESCAPE '!'", NULL);
	check_split("SELECT U&\"a;b\"; SELECT 2", "SELECT U&\"a;b\"", "SELECT 2", NULL);
}

static void test_quoted_identifiers(void **state)
{
	(void)state;
	check_split("SELECT \"a;b\" FROM \"t\"\"x;\"; SELECT 2",
		    "SELECT \"a;b\" FROM \"t\"\"x;\"", "SELECT 2", NULL);
	check_split("SELECT \"it's\"; SELECT 2", "SELECT \"it's\"", "SELECT 2", NULL);
}

static void test_dollar_quotes(void **state)
{
	(void)state;
	check_split("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2",
		    "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql",
		    "SELECT 2", NULL);
	check_split("DO $body$ BEGIN PERFORM 1; RAISE NOTICE $$x;$$; END $body$; SELECT 2",
		    "DO $body$ BEGIN PERFORM 1; RAISE NOTICE $$x;$$; END $body$", "SELECT 2",
		    NULL);
	/* a different tag does not close the quote */
	check_split("SELECT $a$ $b$; $a$; SELECT 2", "SELECT $a$ $b$; $a$", "SELECT 2", NULL);
	check_split("SELECT $_x1$;$_x1$", "SELECT $_x1$;$_x1$", NULL);
	/* quotes inside dollar quotes are plain */
	check_split("SELECT $$it's \"x$$; SELECT 2", "SELECT $$it's \"x$$", "SELECT 2", NULL);
	check_split("SELECT $Ä$;$Ä$", "SELECT $Ä$;$Ä$", NULL);
}

static void test_dollar_not_quotes(void **state)
{
	(void)state;
	/* parameters */
	check_split("PREPARE p AS SELECT $1; EXECUTE p($2)", "PREPARE p AS SELECT $1",
		    "EXECUTE p($2)", NULL);
	check_split("SELECT $1$; SELECT 2", "SELECT $1$", "SELECT 2", NULL);
	/* '$' inside identifiers */
	check_split("SELECT a$b, x$$ FROM t$; SELECT 2", "SELECT a$b, x$$ FROM t$", "SELECT 2",
		    NULL);
	check_split("SELECT abc$$;$$ x; $$", "SELECT abc$$", "$$ x; $$", NULL);
	/* a lone '$' */
	check_split("SELECT $ ; SELECT 2", "SELECT $", "SELECT 2", NULL);
	check_split("SELECT $x ; SELECT 2", "SELECT $x", "SELECT 2", NULL);
}

static void test_line_comments(void **state)
{
	(void)state;
	check_split("SELECT 1 -- a; b\n; SELECT 2 -- x", "SELECT 1", "SELECT 2", NULL);
	check_split("-- only a comment;\n", NULL);
	check_split("SELECT 1 - -2; SELECT 3", "SELECT 1 - -2", "SELECT 3", NULL);
	check_split("SELECT 1\n-- mid;\n+ 2;", "SELECT 1\n-- mid;\n+ 2", NULL);
}

static void test_block_comments(void **state)
{
	(void)state;
	check_split("SELECT /* ; */ 1; /* x */ SELECT 2", "SELECT /* ; */ 1", "SELECT 2", NULL);
	check_split("/* a /* nested ; */ still; */ SELECT 1", "SELECT 1", NULL);
	check_split("/* only */ ; /* comments */", NULL);
	check_split("SELECT 1 /* trailing */ ;", "SELECT 1", NULL);
	check_split("SELECT 2/3;", "SELECT 2/3", NULL);
	check_split("SELECT '/*'; SELECT 2", "SELECT '/*'", "SELECT 2", NULL);
}

static void test_begin_atomic(void **state)
{
	(void)state;
	check_split("CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
		    "BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nSELECT 3;",
		    "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
		    "BEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND",
		    "SELECT 3", NULL);
	check_split("create or replace procedure p() language sql begin atomic "
		    "insert into t values (case when true then 1 else 2 end); "
		    "select case 1 when 1 then 2 end; end; select 3",
		    "create or replace procedure p() language sql begin atomic "
		    "insert into t values (case when true then 1 else 2 end); "
		    "select case 1 when 1 then 2 end; end",
		    "select 3", NULL);
	/* BEGIN ATOMIC outside a routine definition is not a body */
	check_split("BEGIN; SELECT 1; END;", "BEGIN", "SELECT 1", "END", NULL);
	check_split("SELECT begin, atomic; SELECT 2", "SELECT begin, atomic", "SELECT 2", NULL);
	/* CREATE TABLE ... is not a routine even with these words */
	check_split("CREATE TABLE begin (atomic int); SELECT 2",
		    "CREATE TABLE begin (atomic int)", "SELECT 2", NULL);
	/* a column called end, qualified, does not close the body */
	check_split("CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT t.end FROM t; END; SELECT 2",
		    "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT t.end FROM t; END",
		    "SELECT 2", NULL);
	/* a plpgsql body in dollar quotes keeps working */
	check_split("CREATE FUNCTION f() RETURNS void AS $$ BEGIN NULL; END $$ LANGUAGE plpgsql; "
		    "SELECT 2",
		    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN NULL; END $$ LANGUAGE plpgsql",
		    "SELECT 2", NULL);
	/* a trigger executing a function is not a routine body */
	check_split("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); "
		    "SELECT 2",
		    "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
		    "SELECT 2", NULL);
	/* state is reset after each statement */
	check_split("CREATE FUNCTION f() RETURNS int RETURN 1; BEGIN; SELECT 1; COMMIT",
		    "CREATE FUNCTION f() RETURNS int RETURN 1", "BEGIN", "SELECT 1", "COMMIT",
		    NULL);
}

static void test_errors(void **state)
{
	(void)state;
	check_error("SELECT 1; SELECT 'abc", 17, "unterminated quoted string");
	check_error("SELECT 'a''", 7, "unterminated quoted string");
	check_error("SELECT E'a\\'", 7, "unterminated quoted string");
	check_error("SELECT x, U&'abc", 10, "unterminated quoted string");
	check_error("SELECT \"abc", 7, "unterminated quoted identifier");
	check_error("SELECT 1;\nDO $f$ BEGIN END $g$;", 13, "unterminated dollar-quoted string");
	check_error("SELECT $$", 7, "unterminated dollar-quoted string");
	check_error("SELECT 1; /* a /* b */", 10, "unterminated block comment");
	check_error("/*/", 0, "unterminated block comment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_single_quotes),
		cmocka_unit_test(test_escape_strings),
		cmocka_unit_test(test_unicode_strings),
		cmocka_unit_test(test_quoted_identifiers),
		cmocka_unit_test(test_dollar_quotes),
		cmocka_unit_test(test_dollar_not_quotes),
		cmocka_unit_test(test_line_comments),
		cmocka_unit_test(test_block_comments),
		cmocka_unit_test(test_begin_atomic),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
