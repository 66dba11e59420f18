/* Unit tests for offline scripts and new revision files.  The expected
 * offline texts follow Alembic 1.8.1's `--sql` output for the same plans
 * (statement text, blank lines, "-- Running ..." comments), with prestart's
 * transaction rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prestart/graph.h"
#include "prestart/offline.h"
#include "prestart/script.h"

/* ---- helpers ------------------------------------------------------------ */

struct fixture {
	struct revision_set set;
	struct graph *g;
	struct plan p;
};

static void add_rev(struct revision_set *set, const char *text)
{
	struct err e = { 0 };
	struct revision *r;

	xgrow((void **)&set->v, &set->alloc, set->n + 1, sizeof(*set->v));
	r = &set->v[set->n];
	if (script_parse_sql("v.sql", text, strlen(text), r, &e) < 0)
		fail_msg("%s", e.msg);
	set->n++;
}

/* a1 <- b2 (Transactional: false) <- c3 */
static void linear(struct fixture *f)
{
	struct err e = { 0 };

	memset(f, 0, sizeof(*f));
	add_rev(&f->set, "-- Revision ID: a1\n-- Revises:\n-- Message: one\n"
			 "-- +upgrade\nCREATE TABLE t_a1 (id int);\n"
			 "-- +downgrade\nDROP TABLE t_a1;\n");
	add_rev(&f->set, "-- Revision ID: b2\n-- Revises: a1\n-- Transactional: false\n"
			 "-- +upgrade\n-- a comment before the statement\n"
			 "CREATE INDEX CONCURRENTLY ix_a1 ON t_a1 (id) -- trailing\n;\n"
			 "-- +downgrade\nDROP INDEX CONCURRENTLY ix_a1\n");
	add_rev(&f->set, "-- Revision ID: c3\n-- Revises: b2\n"
			 "-- +upgrade\nCREATE TABLE t_c3 (s text DEFAULT 'a;b'); "
			 "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql\n"
			 "-- +downgrade\nDROP FUNCTION f(); DROP TABLE t_c3;\n");
	if (graph_build(&f->set, &f->g, &e) < 0)
		fail_msg("%s", e.msg);
}

static void release(struct fixture *f)
{
	plan_release(&f->p);
	graph_free(f->g);
	revision_set_release(&f->set);
}

static char *render_annotated(struct fixture *f, int up, const char *from, const char *to,
			      enum db_kind kind, int per_migration, int annotate)
{
	struct strlist start = { 0 };
	struct offline_opts o = { kind, NULL, "alembic_version", per_migration, annotate };
	struct sbuf out = { 0 };
	struct err e = { 0 };
	int r;

	if (from)
		strlist_push(&start, from);
	plan_release(&f->p);
	r = up ? graph_plan(f->g, &start, to, DIR_UP, &f->p, &e)
	       : graph_plan(f->g, &start, to, DIR_DOWN, &f->p, &e);
	if (r < 0)
		fail_msg("%s", e.msg);
	strlist_free(&start);
	if (offline_render(&f->p, &o, &out, &e) < 0)
		fail_msg("%s", e.msg);
	return sbuf_detach(&out);
}

static char *render(struct fixture *f, int up, const char *from, const char *to,
		    enum db_kind kind, int per_migration)
{
	return render_annotated(f, up, from, to, kind, per_migration, 0);
}

#define CREATE_VT                                                                 \
	"CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n" \
	"    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n);\n\n"

/* ---- offline scripts ---------------------------------------------------- */

static void test_upgrade_from_base_pg(void **state)
{
	struct fixture f;
	char *sql;

	(void)state;
	linear(&f);
	sql = render(&f, 1, NULL, "heads", DB_PG, 0);
	assert_string_equal(sql,
		"BEGIN;\n\n" CREATE_VT
		"-- Running upgrade  -> a1\n\n"
		"CREATE TABLE t_a1 (id int);\n\n"
		"INSERT INTO alembic_version (version_num) VALUES ('a1') "
		"RETURNING alembic_version.version_num;\n\n"
		"COMMIT;\n\n"
		"-- Running upgrade a1 -> b2\n\n"
		"CREATE INDEX CONCURRENTLY ix_a1 ON t_a1 (id);\n\n"
		"BEGIN;\n\n"
		"UPDATE alembic_version SET version_num='b2' "
		"WHERE alembic_version.version_num = 'a1';\n\n"
		"COMMIT;\n\n"
		"BEGIN;\n\n"
		"-- Running upgrade b2 -> c3\n\n"
		"CREATE TABLE t_c3 (s text DEFAULT 'a;b');\n\n"
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\n"
		"UPDATE alembic_version SET version_num='c3' "
		"WHERE alembic_version.version_num = 'b2';\n\n"
		"COMMIT;\n\n");
	free(sql);
	release(&f);
}

/* Annotated: what each statement of a revision does, in a comment right
 * before it (after BEGIN); the version table's statements get none, and
 * SQLite scripts none at all. */
static void test_annotated(void **state)
{
	struct fixture f;
	char *sql;

	(void)state;
	linear(&f);
	sql = render_annotated(&f, 1, NULL, "b2", DB_PG, 0, 1);
	assert_string_equal(sql,
		"BEGIN;\n\n" CREATE_VT
		"-- Running upgrade  -> a1\n\n"
		"-- prestart: ACCESS EXCLUSIVE on t_a1 (catalog), expand\n"
		"CREATE TABLE t_a1 (id int);\n\n"
		"INSERT INTO alembic_version (version_num) VALUES ('a1') "
		"RETURNING alembic_version.version_num;\n\n"
		"COMMIT;\n\n"
		"-- Running upgrade a1 -> b2\n\n"
		"-- prestart: SHARE UPDATE EXCLUSIVE on t_a1 (scan), expand\n"
		"CREATE INDEX CONCURRENTLY ix_a1 ON t_a1 (id);\n\n"
		"BEGIN;\n\n"
		"UPDATE alembic_version SET version_num='b2' "
		"WHERE alembic_version.version_num = 'a1';\n\n"
		"COMMIT;\n\n");
	free(sql);
	sql = render_annotated(&f, 1, NULL, "b2", DB_SQLITE, 0, 1);
	assert_null(strstr(sql, "-- prestart:"));
	free(sql);
	release(&f);
	/* a type change is judged by the type an earlier revision of the
	 * script gave the column: int to text rewrites, a longer varchar not */
	memset(&f, 0, sizeof(f));
	add_rev(&f.set, "-- Revision ID: a1\n-- Revises:\n"
			"-- +upgrade\nCREATE TABLE t (n int, v varchar(10));\n");
	add_rev(&f.set, "-- Revision ID: b2\n-- Revises: a1\n-- +upgrade\n"
			"ALTER TABLE t ALTER COLUMN n TYPE text;\n"
			"ALTER TABLE t ALTER COLUMN v TYPE varchar(20);\n");
	{
		struct err e = { 0 };

		assert_int_equal(graph_build(&f.set, &f.g, &e), 0);
	}
	sql = render_annotated(&f, 1, NULL, "heads", DB_PG, 0, 1);
	assert_non_null(strstr(sql, "-- prestart: ACCESS EXCLUSIVE on t (rewrite), contract\n"
				    "ALTER TABLE t ALTER COLUMN n TYPE text;\n"));
	assert_non_null(strstr(sql, "-- prestart: ACCESS EXCLUSIVE on t (catalog), expand\n"
				    "ALTER TABLE t ALTER COLUMN v TYPE varchar(20);\n"));
	free(sql);
	release(&f);
}

static void test_per_migration_sqlite_range(void **state)
{
	struct fixture f;
	char *sql;

	(void)state;
	linear(&f);
	/* From b2: the version table exists, no CREATE; SQLite has no RETURNING. */
	sql = render(&f, 1, "b2", "c3", DB_SQLITE, 1);
	assert_string_equal(sql,
		"BEGIN;\n\n"
		"-- Running upgrade b2 -> c3\n\n"
		"CREATE TABLE t_c3 (s text DEFAULT 'a;b');\n\n"
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n\n"
		"UPDATE alembic_version SET version_num='c3' "
		"WHERE alembic_version.version_num = 'b2';\n\n"
		"COMMIT;\n\n");
	free(sql);
	sql = render(&f, 1, NULL, "a1", DB_SQLITE, 1);
	assert_string_equal(sql,
		"BEGIN;\n\n" CREATE_VT
		"-- Running upgrade  -> a1\n\n"
		"CREATE TABLE t_a1 (id int);\n\n"
		"INSERT INTO alembic_version (version_num) VALUES ('a1');\n\n"
		"COMMIT;\n\n");
	free(sql);
	release(&f);
}

static void test_downgrade_to_base_drops_table(void **state)
{
	struct fixture f;
	char *sql;

	(void)state;
	linear(&f);
	sql = render(&f, 0, "b2", "base", DB_PG, 0);
	assert_string_equal(sql,
		"-- Running downgrade b2 -> a1\n\n"
		"DROP INDEX CONCURRENTLY ix_a1;\n\n"
		"BEGIN;\n\n"
		"UPDATE alembic_version SET version_num='a1' "
		"WHERE alembic_version.version_num = 'b2';\n\n"
		"COMMIT;\n\n"
		"BEGIN;\n\n"
		"-- Running downgrade a1 -> \n\n"
		"DROP TABLE t_a1;\n\n"
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1';\n\n"
		"DROP TABLE alembic_version;\n\n"
		"COMMIT;\n\n");
	free(sql);
	/* One transaction per migration: the DROP comes after the last COMMIT,
	 * where Alembic puts it. */
	sql = render(&f, 0, "a1", "base", DB_SQLITE, 1);
	assert_string_equal(sql,
		"BEGIN;\n\n"
		"-- Running downgrade a1 -> \n\n"
		"DROP TABLE t_a1;\n\n"
		"DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1';\n\n"
		"COMMIT;\n\n"
		"DROP TABLE alembic_version;\n\n");
	free(sql);
	release(&f);
}

static void test_missing_section(void **state)
{
	struct fixture f;
	struct strlist start = { 0 };
	struct offline_opts o = { DB_PG, NULL, "alembic_version", 0, 0 };
	struct sbuf out = { 0 };
	struct err e = { 0 };

	(void)state;
	memset(&f, 0, sizeof(f));
	add_rev(&f.set, "-- Revision ID: a1\n-- +upgrade\nSELECT 1;\n");
	assert_int_equal(graph_build(&f.set, &f.g, &e), 0);
	strlist_push(&start, "a1");
	assert_int_equal(graph_plan(f.g, &start, "base", DIR_DOWN, &f.p, &e), 0);
	assert_int_equal(offline_render(&f.p, &o, &out, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "v.sql: revision a1 has no downgrade section");
	/* Nothing is printed before the check. */
	assert_true(out.len == 0);
	sbuf_free(&out);
	strlist_free(&start);
	release(&f);
}

static void test_unterminated_section(void **state)
{
	struct fixture f;
	struct offline_opts o = { DB_PG, NULL, "alembic_version", 0, 0 };
	struct sbuf out = { 0 };
	struct err e = { 0 };

	(void)state;
	memset(&f, 0, sizeof(f));
	add_rev(&f.set, "-- Revision ID: a1\n\n-- +upgrade\nSELECT 1;\nSELECT 'x;\n");
	assert_int_equal(graph_build(&f.set, &f.g, &e), 0);
	assert_int_equal(graph_plan(f.g, NULL, "head", DIR_UP, &f.p, &e), 0);
	assert_int_equal(offline_render(&f.p, &o, &out, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_non_null(strstr(e.msg, "v.sql:5:8: "));
	sbuf_free(&out);
	release(&f);
}

/* ---- authoring ---------------------------------------------------------- */

static void check_slug(const char *msg, const char *want)
{
	char *s = offline_slug(msg, 40);

	assert_string_equal(s, want);
	free(s);
}

static void test_slug(void **state)
{
	(void)state;
	/* Expected values: Alembic's "_".join(re.findall(r"\w+", m)).lower()
	 * and truncation, on ASCII. */
	check_slug("Add users table", "add_users_table");
	check_slug("  fix: users.email -> NOT NULL!! ", "fix_users_email_not_null");
	check_slug("snake_case__kept", "snake_case__kept");
	check_slug(NULL, "");
	check_slug("!!!", "");
	/* 53 characters: cut to 40, back to the last "_", then "_". */
	check_slug("add a very long column name to the accounts table now",
		   "add_a_very_long_column_name_to_the_");
	/* No "_" within the first 40: the cut is kept whole. */
	check_slug("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
		   "abcdefghijklmnopqrstuvwxyzabcdefghijklmn_");
	/* Bytes outside ASCII are dropped. */
	check_slug("caf\xc3\xa9 cr\xc3\xa8me", "caf_crme");
}

static void test_revision_text_parses(void **state)
{
	struct strlist down = { 0 }, labels = { 0 }, deps = { 0 };
	struct offline_revision nr = { 0 };
	struct revision r;
	struct err e = { 0 };
	char *text;

	(void)state;
	strlist_push(&down, "a1");
	strlist_push(&down, "b2");
	strlist_push(&labels, "feature");
	strlist_push(&deps, "c3");
	nr.id = "0123456789ab";
	nr.down = &down;
	nr.create_date = "2026-11-21 10:00:00.123456";
	nr.message = "two\nlines";
	nr.labels = &labels;
	nr.depends = &deps;
	text = offline_revision_text(&nr);
	assert_string_equal(text, "-- Revision ID: 0123456789ab\n"
				  "-- Revises: a1, b2\n"
				  "-- Create Date: 2026-11-21 10:00:00.123456\n"
				  "-- Message: two lines\n"
				  "-- Branch Labels: feature\n"
				  "-- Depends On: c3\n"
				  "-- Transactional: true\n"
				  "\n-- +upgrade\n\n\n-- +downgrade\n\n");
	memset(&r, 0, sizeof(r));
	assert_int_equal(script_parse_sql("x.sql", text, strlen(text), &r, &e), 0);
	assert_string_equal(r.id, "0123456789ab");
	assert_int_equal(r.down.n, 2);
	assert_string_equal(r.down.v[1], "b2");
	assert_string_equal(r.message, "two lines");
	assert_string_equal(r.labels.v[0], "feature");
	assert_string_equal(r.depends.v[0], "c3");
	assert_non_null(r.upgrade_sql);
	assert_non_null(r.downgrade_sql);
	revision_release(&r);
	free(text);

	/* A base without a message: Alembic's "empty message". */
	strlist_free(&down);
	nr.message = NULL;
	nr.labels = nr.depends = NULL;
	text = offline_revision_text(&nr);
	memset(&r, 0, sizeof(r));
	assert_int_equal(script_parse_sql("x.sql", text, strlen(text), &r, &e), 0);
	assert_int_equal(r.down.n, 0);
	assert_string_equal(r.message, "empty message");
	revision_release(&r);
	free(text);
	strlist_free(&labels);
	strlist_free(&deps);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upgrade_from_base_pg),
		cmocka_unit_test(test_annotated),
		cmocka_unit_test(test_per_migration_sqlite_range),
		cmocka_unit_test(test_downgrade_to_base_drops_table),
		cmocka_unit_test(test_missing_section),
		cmocka_unit_test(test_unterminated_section),
		cmocka_unit_test(test_slug),
		cmocka_unit_test(test_revision_text_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
