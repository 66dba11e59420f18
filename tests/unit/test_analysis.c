/* test_analysis.c - what each statement does: tables, locks, effect, class. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/analysis.h"

/* Analyse one PostgreSQL statement and check its lock and effect on
 * `table` and its class. */
static void check(const char *sql, const char *table, enum an_lock lock, enum an_effect eff,
		  enum an_class cls)
{
	struct an_script s;
	struct err e = { 0 };
	size_t off;
	int seen = 0;

	if (analysis_pg(sql, NULL, &s, &off, &e) < 0)
		fail_msg("[%s]: %s", sql, e.msg);
	assert_int_equal(s.n, 1);
	if (s.v[0].unparsed)
		fail_msg("[%s] unparsed: %s", sql, s.v[0].unparsed_why);
	for (size_t i = 0; i < s.v[0].ntables; i++) {
		const struct an_table *t = &s.v[0].tables[i];

		if (strcmp(t->name, table))
			continue;
		seen = 1;
		if (t->lock != lock || t->effect != eff)
			fail_msg("[%s] on %s: %s/%s, want %s/%s", sql, table, analysis_lock_name(t->lock),
				 analysis_effect_name(t->effect), analysis_lock_name(lock),
				 analysis_effect_name(eff));
	}
	if (!seen && lock != AN_LOCK_NONE)
		fail_msg("[%s] does not touch %s", sql, table);
	if (s.v[0].cls != cls)
		fail_msg("[%s]: class %s, want %s", sql, analysis_class_name(s.v[0].cls),
			 analysis_class_name(cls));
	analysis_release(&s);
}

static void test_locks(void **state)
{
	(void)state;
	check("CREATE INDEX i ON t (a)", "t", AN_SHARE, AN_SCAN, AN_EXPAND);
	check("CREATE INDEX CONCURRENTLY i ON t (a)", "t", AN_SHARE_UPDATE_EXCLUSIVE, AN_SCAN,
	      AN_EXPAND);
	check("ALTER TABLE t ADD COLUMN c int", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG, AN_EXPAND);
	check("ALTER TABLE t ADD COLUMN c timestamptz DEFAULT now()", "t", AN_ACCESS_EXCLUSIVE,
	      AN_CATALOG, AN_EXPAND);
	check("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid()", "t",
	      AN_ACCESS_EXCLUSIVE, AN_REWRITE, AN_EXPAND);
	/* a foreign key: SHARE ROW EXCLUSIVE on both tables */
	check("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES ref (id)", "t",
	      AN_SHARE_ROW_EXCLUSIVE, AN_SCAN, AN_EXPAND);
	check("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES ref (id) NOT VALID", "ref",
	      AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG, AN_EXPAND);
	/* several subcommands take the strongest */
	check("ALTER TABLE t VALIDATE CONSTRAINT f", "t", AN_SHARE_UPDATE_EXCLUSIVE, AN_SCAN,
	      AN_EXPAND);
	check("ALTER TABLE t SET (fillfactor = 70), ADD COLUMN c int", "t", AN_ACCESS_EXCLUSIVE,
	      AN_CATALOG, AN_EXPAND);
	check("ALTER TABLE t ALTER COLUMN a SET STATISTICS 500", "t", AN_SHARE_UPDATE_EXCLUSIVE,
	      AN_CATALOG, AN_EXPAND);
	check("ALTER TABLE t DISABLE TRIGGER tr", "t", AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG,
	      AN_EXPAND);
	check("ALTER TABLE t ALTER COLUMN a SET NOT NULL", "t", AN_ACCESS_EXCLUSIVE, AN_SCAN,
	      AN_CONTRACT);
	check("ALTER TABLE t ALTER COLUMN a TYPE bigint", "t", AN_ACCESS_EXCLUSIVE, AN_REWRITE,
	      AN_CONTRACT);
	check("ALTER TABLE t ALTER COLUMN a TYPE text", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG,
	      AN_EXPAND);
	check("ALTER TABLE t SET TABLESPACE fast", "t", AN_ACCESS_EXCLUSIVE, AN_REWRITE, AN_EXPAND);
	check("ALTER TABLE t DROP COLUMN a", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG, AN_DATA_LOSS);
	check("ALTER TABLE t RENAME COLUMN a TO b", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG,
	      AN_CONTRACT);
	check("DROP TABLE t", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG, AN_DATA_LOSS);
	check("TRUNCATE t", "t", AN_ACCESS_EXCLUSIVE, AN_CATALOG, AN_DATA_LOSS);
	check("DELETE FROM t", "t", AN_ROW_EXCLUSIVE, AN_CATALOG, AN_DATA_LOSS);
	check("DELETE FROM t WHERE id = 1", "t", AN_ROW_EXCLUSIVE, AN_CATALOG, AN_EXPAND);
	check("UPDATE t SET a = 1", "t", AN_ROW_EXCLUSIVE, AN_CATALOG, AN_EXPAND);
	check("VACUUM FULL t", "t", AN_ACCESS_EXCLUSIVE, AN_REWRITE, AN_EXPAND);
	check("VACUUM t", "t", AN_SHARE_UPDATE_EXCLUSIVE, AN_SCAN, AN_EXPAND);
	check("CLUSTER t USING i", "t", AN_ACCESS_EXCLUSIVE, AN_REWRITE, AN_EXPAND);
	check("REINDEX TABLE t", "t", AN_SHARE, AN_SCAN, AN_EXPAND);
	check("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE", "t", AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG,
	      AN_EXPAND);
	check("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", "mv", AN_EXCLUSIVE, AN_REWRITE,
	      AN_EXPAND);
	check("CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "t",
	      AN_SHARE_ROW_EXCLUSIVE, AN_CATALOG, AN_EXPAND);
	check("ALTER TABLE s.t ADD COLUMN c int", "s.t", AN_ACCESS_EXCLUSIVE, AN_CATALOG,
	      AN_EXPAND);
	check("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'", "-", AN_LOCK_NONE, AN_CATALOG,
	      AN_CONTRACT);
	/* DDL inside a plain DO block counts */
	check("DO $$ BEGIN ALTER TABLE t DROP COLUMN a; END $$", "t", AN_ACCESS_EXCLUSIVE,
	      AN_CATALOG, AN_DATA_LOSS);
}

static void test_script(void **state)
{
	struct an_script s;
	struct err e = { 0 };
	size_t off;

	(void)state;
	assert_int_equal(analysis_pg("CREATE TABLE x (id int);\n"
				     "ALTER TABLE x ADD COLUMN y text;\n"
				     "ALTER TABLE x MERGE PARTITIONS (a, b) INTO c;\n",
				     NULL, &s, &off, &e), 0);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.v[0].unparsed, 0);
	assert_int_equal(s.v[2].unparsed, 1);
	assert_non_null(s.v[2].unparsed_why);
	assert_int_equal(analysis_lock_on(&s, "x"), AN_ACCESS_EXCLUSIVE);
	assert_int_equal(s.cls, AN_EXPAND);
	analysis_release(&s);
	assert_int_equal(analysis_pg("SELECT 'x", NULL, &s, &off, &e), -1);
	assert_int_equal(off, 7);
	analysis_release(&s);
}

static int has_fact(const struct an_script *s, enum an_fact_kind k, const char *table,
		    const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < s->v[i].nfacts; j++) {
			const struct an_fact *f = &s->v[i].facts[j];

			if (f->kind == k && (!table || (f->table && !strcmp(f->table, table))) &&
			    (!name || (f->name && !strcmp(f->name, name))))
				return 1;
		}
	return 0;
}

static void test_sqlite(void **state)
{
	struct an_script s;
	struct err e = { 0 };
	size_t off;

	(void)state;
	assert_int_equal(analysis_sqlite("ALTER TABLE `users` DROP COLUMN [fax];\n"
					 "ALTER TABLE users RENAME COLUMN name TO full_name;\n"
					 "ALTER TABLE users RENAME TO people;\n"
					 "DROP TABLE IF EXISTS old;\n"
					 "INSERT INTO t VALUES ('DROP TABLE x');\n",
					 &s, &off, &e), 0);
	assert_int_equal(s.n, 5);
	assert_true(has_fact(&s, AF_DROP_COLUMN, "users", "fax"));
	assert_true(has_fact(&s, AF_RENAME_COLUMN, "users", "name"));
	assert_true(has_fact(&s, AF_RENAME_TABLE, "users", NULL));
	assert_true(has_fact(&s, AF_DROP_TABLE, "old", NULL));
	assert_false(has_fact(&s, AF_DROP_TABLE, "x", NULL));
	assert_int_equal(s.cls, AN_DATA_LOSS);
	analysis_release(&s);
}

static const char *varchar_known(void *arg, const char *table, const char *column)
{
	(void)arg;
	(void)table;
	return !strcmp(column, "a") ? "int4" : NULL;
}

static void test_known_types(void **state)
{
	struct an_script s;
	struct an_known k = { varchar_known, NULL };
	struct err e = { 0 };
	size_t off;

	(void)state;
	/* int to text is a rewrite even though text is the usual safe target */
	assert_int_equal(analysis_pg("ALTER TABLE t ALTER COLUMN a TYPE text", &k, &s, &off, &e), 0);
	assert_true(has_fact(&s, AF_TYPE_CHANGE, "t", "a"));
	analysis_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_locks),
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_sqlite),
		cmocka_unit_test(test_known_types),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
