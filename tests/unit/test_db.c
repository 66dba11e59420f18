/* db: identifier quoting and the version table's SQL text, the pure half of
 * db.c.
 *
 * Every expected statement below is the text Alembic 1.8.1 (SQLAlchemy 1.4)
 * prints for the same operation with `alembic upgrade --sql` and
 * `alembic downgrade --sql`, on postgresql:// and on sqlite:// URLs, with
 * version_table and version_table_schema set in env.py to the names used
 * here (minus the final ';' Alembic adds).  A database has to be able to
 * move between alembic and prestart at any point (SPEC §3.3), and offline
 * scripts are compared with Alembic's line by line, so these strings are
 * the contract, not an implementation detail.  The two places where
 * prestart deliberately differs from Alembic's text are marked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prestart/db.h"
#include "prestart/plan.h"

static void quoted(enum db_kind kind, const char *in, const char *want)
{
	char *got = db_quote_ident(kind, in);

	assert_string_equal(got, want);
	free(got);
}

static void both_quoted(const char *in, const char *want)
{
	quoted(DB_PG, in, want);
	quoted(DB_SQLITE, in, want);
}

static void test_quote_ident_plain_names_stay_bare(void **state)
{
	(void)state;
	both_quoted("alembic_version", "alembic_version");
	both_quoted("a1", "a1");
	both_quoted("ok_name$", "ok_name$");  /* '$' inside a name is legal */
	both_quoted("_private", "_private");
}

static void test_quote_ident_what_would_fold_or_break(void **state)
{
	(void)state;
	/* upper case: unquoted it would fold to another name */
	both_quoted("Version", "\"Version\"");
	both_quoted("ALEMBIC", "\"ALEMBIC\"");
	/* an illegal first character */
	both_quoted("1abc", "\"1abc\"");
	both_quoted("$x", "\"$x\"");
	/* anything outside [a-z0-9_$], non-ASCII included */
	both_quoted("a b", "\"a b\"");
	both_quoted("it's", "\"it's\"");
	both_quoted("back\\slash", "\"back\\slash\"");
	both_quoted("a.b", "\"a.b\"");
	both_quoted("\xc3\x9cn\xc3\xaf", "\"\xc3\x9cn\xc3\xaf\"");
	/* a double quote inside is doubled */
	both_quoted("we\"ird", "\"we\"\"ird\"");
	both_quoted("\"", "\"\"\"\"");
	/* not an identifier at all: still well-formed SQL */
	both_quoted("", "\"\"");
}

static void test_quote_ident_reserved_words_per_dialect(void **state)
{
	(void)state;
	/* reserved in both dialects */
	both_quoted("order", "\"order\"");
	both_quoted("select", "\"select\"");
	both_quoted("table", "\"table\"");
	/* PostgreSQL's list only */
	quoted(DB_PG, "user", "\"user\"");
	quoted(DB_SQLITE, "user", "user");
	quoted(DB_PG, "off", "\"off\"");
	quoted(DB_SQLITE, "off", "off");
	/* SQLite's list only */
	quoted(DB_SQLITE, "key", "\"key\"");
	quoted(DB_PG, "key", "key");
	quoted(DB_SQLITE, "begin", "\"begin\"");
	quoted(DB_PG, "begin", "begin");
	quoted(DB_SQLITE, "delete", "\"delete\"");
	quoted(DB_PG, "delete", "delete");
	/* the lists hold lower-case words: an upper-case one is quoted anyway */
	both_quoted("Order", "\"Order\"");
}

static void sql_is(char *got, const char *want)
{
	assert_string_equal(got, want);
	free(got);
}

static struct vt_op op(enum vt_kind kind, const char *from, const char *to)
{
	struct vt_op o = { kind, (char *)from, (char *)to };

	return o;
}

static void ops_are(enum db_kind kind, const char *schema, const char *table,
		    const char *const want[5])
{
	/* upgrade base:a1, a1:b2, then b2 + c3 merged into m4: the INSERT of
	 * c3, the DELETE of b2 and the UPDATE of c3; downgrade a1:base */
	struct vt_op ops[5] = {
		op(VT_INSERT, NULL, "a1"), op(VT_UPDATE, "a1", "b2"),
		op(VT_DELETE, "b2", NULL), op(VT_UPDATE, "c3", "m4"),
		op(VT_DELETE, "a1", NULL),
	};

	for (int i = 0; i < 5; i++)
		sql_is(db_sql_version_op(kind, schema, table, &ops[i]), want[i]);
}

static void test_version_table_sql_default_name(void **state)
{
	static const char *const pg[5] = {
		"INSERT INTO alembic_version (version_num) VALUES ('a1') "
		"RETURNING alembic_version.version_num",
		"UPDATE alembic_version SET version_num='b2' "
		"WHERE alembic_version.version_num = 'a1'",
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'b2'",
		"UPDATE alembic_version SET version_num='m4' "
		"WHERE alembic_version.version_num = 'c3'",
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1'",
	};
	/* SQLite: the same without PostgreSQL's implicit RETURNING */
	static const char *const sqlite[5] = {
		"INSERT INTO alembic_version (version_num) VALUES ('a1')",
		"UPDATE alembic_version SET version_num='b2' "
		"WHERE alembic_version.version_num = 'a1'",
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'b2'",
		"UPDATE alembic_version SET version_num='m4' "
		"WHERE alembic_version.version_num = 'c3'",
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1'",
	};
	/* SQLAlchemy's DDL, its tab as four blanks and the blank after the
	 * comma included */
	static const char create[] =
		"CREATE TABLE alembic_version (\n"
		"    version_num VARCHAR(32) NOT NULL, \n"
		"    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n"
		")";

	(void)state;
	sql_is(db_sql_create_version_table(DB_PG, NULL, "alembic_version"), create);
	sql_is(db_sql_create_version_table(DB_SQLITE, NULL, "alembic_version"), create);
	ops_are(DB_PG, NULL, "alembic_version", pg);
	ops_are(DB_SQLITE, NULL, "alembic_version", sqlite);
	sql_is(db_sql_drop_version_table(DB_PG, NULL, "alembic_version"),
	       "DROP TABLE alembic_version");
	sql_is(db_sql_drop_version_table(DB_SQLITE, NULL, "alembic_version"),
	       "DROP TABLE alembic_version");
}

static void test_version_table_sql_quoted_schema_and_table(void **state)
{
	/* version_table='we"ird', version_table_schema='my schema' */
	static const char *const pg[5] = {
		"INSERT INTO \"my schema\".\"we\"\"ird\" (version_num) VALUES ('a1') "
		"RETURNING \"my schema\".\"we\"\"ird\".version_num",
		"UPDATE \"my schema\".\"we\"\"ird\" SET version_num='b2' "
		"WHERE \"my schema\".\"we\"\"ird\".version_num = 'a1'",
		"DELETE FROM \"my schema\".\"we\"\"ird\" "
		"WHERE \"my schema\".\"we\"\"ird\".version_num = 'b2'",
		"UPDATE \"my schema\".\"we\"\"ird\" SET version_num='m4' "
		"WHERE \"my schema\".\"we\"\"ird\".version_num = 'c3'",
		"DELETE FROM \"my schema\".\"we\"\"ird\" "
		"WHERE \"my schema\".\"we\"\"ird\".version_num = 'a1'",
	};
	/* version_table='key' (reserved in SQLite only), schema 'Sch' */
	static const char *const sqlite[5] = {
		"INSERT INTO \"Sch\".\"key\" (version_num) VALUES ('a1')",
		"UPDATE \"Sch\".\"key\" SET version_num='b2' WHERE \"Sch\".\"key\".version_num = 'a1'",
		"DELETE FROM \"Sch\".\"key\" WHERE \"Sch\".\"key\".version_num = 'b2'",
		"UPDATE \"Sch\".\"key\" SET version_num='m4' WHERE \"Sch\".\"key\".version_num = 'c3'",
		"DELETE FROM \"Sch\".\"key\" WHERE \"Sch\".\"key\".version_num = 'a1'",
	};

	(void)state;
	/* the constraint is named "<table>_pkc" and quoted on its own merits:
	 * key_pkc needs no quotes although key does */
	sql_is(db_sql_create_version_table(DB_PG, "my schema", "we\"ird"),
	       "CREATE TABLE \"my schema\".\"we\"\"ird\" (\n"
	       "    version_num VARCHAR(32) NOT NULL, \n"
	       "    CONSTRAINT \"we\"\"ird_pkc\" PRIMARY KEY (version_num)\n"
	       ")");
	sql_is(db_sql_create_version_table(DB_SQLITE, "Sch", "key"),
	       "CREATE TABLE \"Sch\".\"key\" (\n"
	       "    version_num VARCHAR(32) NOT NULL, \n"
	       "    CONSTRAINT key_pkc PRIMARY KEY (version_num)\n"
	       ")");
	ops_are(DB_PG, "my schema", "we\"ird", pg);
	ops_are(DB_SQLITE, "Sch", "key", sqlite);
	sql_is(db_sql_drop_version_table(DB_PG, "my schema", "we\"ird"),
	       "DROP TABLE \"my schema\".\"we\"\"ird\"");
	sql_is(db_sql_drop_version_table(DB_SQLITE, "Sch", "key"), "DROP TABLE \"Sch\".\"key\"");
	/* a plain schema stays bare, as in public."Version" */
	sql_is(db_sql_drop_version_table(DB_PG, "public", "Version"),
	       "DROP TABLE public.\"Version\"");
	sql_is(db_sql_create_version_table(DB_PG, "public", "user"),
	       "CREATE TABLE public.\"user\" (\n"
	       "    version_num VARCHAR(32) NOT NULL, \n"
	       "    CONSTRAINT user_pkc PRIMARY KEY (version_num)\n"
	       ")");
}

static void test_version_table_sql_literals(void **state)
{
	struct vt_op quote = op(VT_UPDATE, "it's", "b'2");
	struct vt_op slash = op(VT_INSERT, NULL, "a\\1");

	(void)state;
	/* Differs from Alembic on purpose: Alembic 1.8 prints a quote inside a
	 * revision id as is ('it's'), which is not SQL.  prestart's own ids
	 * cannot hold one, but a version table read from a database can. */
	sql_is(db_sql_version_op(DB_SQLITE, NULL, "alembic_version", &quote),
	       "UPDATE alembic_version SET version_num='b''2' "
	       "WHERE alembic_version.version_num = 'it''s'");
	sql_is(db_sql_version_op(DB_PG, NULL, "alembic_version", &quote),
	       "UPDATE alembic_version SET version_num='b''2' "
	       "WHERE alembic_version.version_num = 'it''s'");
	/* Differs too: SQLAlchemy doubles a backslash without E'', which
	 * means two backslashes under standard_conforming_strings = on; E''
	 * means one whatever the server's setting. */
	sql_is(db_sql_version_op(DB_PG, NULL, "alembic_version", &slash),
	       "INSERT INTO alembic_version (version_num) VALUES (E'a\\\\1') "
	       "RETURNING alembic_version.version_num");
	sql_is(db_sql_version_op(DB_SQLITE, NULL, "alembic_version", &slash),
	       "INSERT INTO alembic_version (version_num) VALUES ('a\\1')");
}

static void name_ok(enum db_kind kind, const char *schema, const char *table)
{
	struct err e = { 0 };

	assert_int_equal(db_check_version_table_name(kind, schema, table, &e), 0);
}

static void name_bad(enum db_kind kind, const char *schema, const char *table, const char *msg)
{
	struct err e = { 0 };

	assert_int_equal(db_check_version_table_name(kind, schema, table, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_string_equal(e.msg, msg);
}

static void test_check_version_table_name(void **state)
{
	char t59[60], t60[61], s63[64], s64[65];
	char *msg;

	(void)state;
	memset(t59, 'v', 59);
	t59[59] = '\0';
	memset(t60, 'v', 60);
	t60[60] = '\0';
	memset(s63, 's', 63);
	s63[63] = '\0';
	memset(s64, 's', 64);
	s64[64] = '\0';

	name_ok(DB_PG, NULL, "alembic_version");
	name_ok(DB_PG, s63, t59); /* "<t59>_pkc" is 63 bytes: the limit */
	name_ok(DB_SQLITE, s64, t60);
	name_bad(DB_PG, NULL, "", "the version table name is empty");
	name_bad(DB_SQLITE, NULL, "", "the version table name is empty");
	name_bad(DB_SQLITE, "", "alembic_version", "the version table schema is empty");
	/* PostgreSQL would truncate a longer name silently */
	msg = xasprintf("version table name '%s' is too long: '%s_pkc' exceeds 63 bytes", t60, t60);
	name_bad(DB_PG, NULL, t60, msg);
	free(msg);
	msg = xasprintf("version table schema '%s' exceeds 63 bytes", s64);
	name_bad(DB_PG, s64, "alembic_version", msg);
	free(msg);
}

/* Code above the driver asks bits, never the engine: each driver says what
 * it can do, and an unknown engine can do nothing. */
static void test_capability_bits(void **state)
{
	struct db db = { 0 };

	(void)state;
	assert_true(db_kind_supports(DB_PG, DB_CAN_ADVISORY_LOCK | DB_HAS_LOCK_TIMEOUT |
						    DB_HAS_BLOCKERS | DB_HAS_INDEX_PROGRESS |
						    DB_HAS_LEDGER_SCHEMA));
	assert_false(db_kind_supports(DB_SQLITE, DB_CAN_ADVISORY_LOCK));
	assert_false(db_kind_supports(DB_SQLITE, DB_HAS_BLOCKERS));
	assert_false(db_kind_supports(DB_SQLITE, DB_HAS_LEDGER_SCHEMA));
	assert_true(db_kind_supports(DB_SQLITE, 0));
	assert_false(db_kind_supports((enum db_kind)99, 0));
	assert_ptr_equal(db_driver(DB_SQLITE), &db_sqlite_ops);
	db.kind = DB_PG;
	assert_true(db_supports(&db, DB_HAS_INDEX_PROGRESS));
	db.ops = &db_sqlite_ops;
	assert_false(db_supports(&db, DB_HAS_INDEX_PROGRESS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_ident_plain_names_stay_bare),
		cmocka_unit_test(test_quote_ident_what_would_fold_or_break),
		cmocka_unit_test(test_quote_ident_reserved_words_per_dialect),
		cmocka_unit_test(test_version_table_sql_default_name),
		cmocka_unit_test(test_version_table_sql_quoted_schema_and_table),
		cmocka_unit_test(test_version_table_sql_literals),
		cmocka_unit_test(test_check_version_table_name),
		cmocka_unit_test(test_capability_bits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
