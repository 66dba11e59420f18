/* test_lint.c - each rule of `prestart lint` on one statement that must
 * fire it and a near miss that must not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/lint.h"

/* The tables every case starts from, created by an earlier revision. */
static const char setup_sql[] =
	"CREATE TABLE t (id int, a varchar(20), b text, n numeric(10,2));\n"
	"CREATE TABLE ref (id int PRIMARY KEY);\n";

/* The ids of the findings (not allowed) of `sql` as the second revision,
 * space-separated (caller frees). */
static char *fired(const char *sql, int transactional)
{
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct err e = { 0 };
	struct lint_input in = { .path = "v.sql", .revision = "r1", .sql = setup_sql,
				 .first_line = 1, .transactional = 1, .report = 0 };
	struct sbuf b = { 0 };

	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	in.revision = "r2";
	in.sql = sql;
	in.transactional = transactional;
	in.report = 1;
	if (lint_revision(&in, &st, &f, NULL, &e) < 0)
		fail_msg("lint failed on [%s]: %s", sql, e.msg);
	for (size_t i = 0; i < f.n; i++)
		if (!f.v[i].allowed)
			sbuf_addf(&b, " %s", f.v[i].rule->id);
	sbuf_addc(&b, ' ');
	lint_findings_release(&f);
	lint_state_release(&st);
	return b.buf;
}

static int has(const char *ids, const char *id)
{
	char *needle = malloc(strlen(id) + 3);
	int r;

	sprintf(needle, " %s ", id);
	r = strstr(ids, needle) != NULL;
	free(needle);
	return r;
}

struct rule_case {
	const char *rule;
	const char *fires;   /* must fire the rule */
	const char *near;    /* must not */
	int tx_fires, tx_near;
};

static const struct rule_case cases[] = {
	{ "create-index-not-concurrently", "CREATE INDEX i ON t (a)",
	  "CREATE TABLE nt (x int); CREATE INDEX ni ON nt (x)", 1, 1 },
	{ "drop-index-not-concurrently", "DROP INDEX old_i", "DROP INDEX CONCURRENTLY old_i", 1, 0 },
	{ "concurrently-in-transaction", "CREATE INDEX CONCURRENTLY i ON t (a)",
	  "CREATE INDEX CONCURRENTLY i ON t (a)", 1, 0 },
	{ "foreign-key-without-not-valid",
	  "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES ref (id)",
	  "ALTER TABLE t ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES ref (id) NOT VALID", 1, 1 },
	{ "check-without-not-valid", "ALTER TABLE t ADD CONSTRAINT c CHECK (id > 0)",
	  "ALTER TABLE t ADD CONSTRAINT c CHECK (id > 0) NOT VALID", 1, 1 },
	{ "unique-constraint-without-index", "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)",
	  "ALTER TABLE t ADD CONSTRAINT u UNIQUE USING INDEX u_idx", 1, 1 },
	{ "add-primary-key", "ALTER TABLE t ADD PRIMARY KEY (id)",
	  "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey_idx", 1, 1 },
	{ "set-not-null", "ALTER TABLE t ALTER COLUMN a SET NOT NULL",
	  "ALTER TABLE t ADD CONSTRAINT a_nn CHECK (a IS NOT NULL) NOT VALID;\n"
	  "ALTER TABLE t VALIDATE CONSTRAINT a_nn;\n"
	  "ALTER TABLE t ALTER COLUMN a SET NOT NULL", 1, 1 },
	{ "not-null-column-without-default", "ALTER TABLE t ADD COLUMN c int NOT NULL",
	  "ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0", 1, 1 },
	{ "volatile-default", "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid()",
	  "ALTER TABLE t ADD COLUMN c boolean DEFAULT true", 1, 1 },
	{ "volatile-default", "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT clock_timestamp()",
	  "ALTER TABLE t ADD COLUMN at timestamptz DEFAULT now()", 1, 1 },
	{ "volatile-default", "ALTER TABLE t ADD COLUMN s bigserial",
	  "ALTER TABLE t ADD COLUMN s bigint", 1, 1 },
	{ "change-column-type", "ALTER TABLE t ALTER COLUMN id TYPE bigint",
	  "ALTER TABLE t ALTER COLUMN a TYPE text", 1, 1 },
	{ "change-column-type", "ALTER TABLE t ALTER COLUMN a TYPE varchar(10)",
	  "ALTER TABLE t ALTER COLUMN a TYPE varchar(50)", 1, 1 },
	{ "change-column-type", "ALTER TABLE t ALTER COLUMN n TYPE numeric(10,4)",
	  "ALTER TABLE t ALTER COLUMN n TYPE numeric(12,2)", 1, 1 },
	{ "drop-column", "ALTER TABLE t DROP COLUMN b",
	  "CREATE TABLE nt (x int, y int); ALTER TABLE nt DROP COLUMN y", 1, 1 },
	{ "drop-table", "DROP TABLE t", "CREATE TABLE nt (x int); DROP TABLE nt", 1, 1 },
	{ "truncate-table", "TRUNCATE t", "DELETE FROM t WHERE id < 10", 1, 1 },
	{ "delete-without-where", "DELETE FROM t", "DELETE FROM t WHERE id = 1", 1, 1 },
	{ "rename-column", "ALTER TABLE t RENAME COLUMN a TO a2",
	  "ALTER TABLE t RENAME CONSTRAINT c TO c2", 1, 1 },
	{ "rename-table", "ALTER TABLE t RENAME TO t2", "ALTER INDEX i RENAME TO i2", 1, 1 },
	{ "drop-add-same-table", "ALTER TABLE t DROP COLUMN b; ALTER TABLE t ADD COLUMN b2 text",
	  "ALTER TABLE t DROP COLUMN b; ALTER TABLE ref ADD COLUMN c text", 1, 0 },
	{ "several-tables-access-exclusive",
	  "ALTER TABLE t ADD COLUMN c text; ALTER TABLE ref ADD COLUMN c text",
	  "ALTER TABLE t ADD COLUMN c text; ALTER TABLE ref ADD COLUMN c text", 1, 0 },
	{ "backfill-in-ddl-transaction", "ALTER TABLE t ADD COLUMN c int; UPDATE t SET c = 1",
	  "ALTER TABLE t ADD COLUMN c int; UPDATE ref SET id = id WHERE id = 0", 1, 1 },
	{ "vacuum-full", "VACUUM FULL t", "VACUUM (ANALYZE) t", 0, 0 },
	{ "cluster", "CLUSTER t USING i", "ALTER TABLE t SET (fillfactor = 90)", 1, 1 },
	{ "reindex-not-concurrently", "REINDEX TABLE t", "REINDEX TABLE CONCURRENTLY t", 0, 0 },
	{ "identifier-too-long",
	  "CREATE TABLE t_01234567890123456789012345678901234567890123456789012345678901 (x int)",
	  "CREATE TABLE t_0123456789012345678901234567890123456789012345678901234567890 (x int)",
	  1, 1 },
	{ "unparsed-statement", "ALTER TABLE t DROP COLUMN b WITH SPARKLES",
	  "ALTER TABLE t DROP COLUMN b", 1, 1 },
	{ "drop-column", "ALTER TABLE t DROP COLUMN b WITH SPARKLES", "ALTER TABLE t ADD COLUMN q int",
	  1, 1 },
	{ "not-analysed", "DO $$ BEGIN IF true THEN ALTER TABLE t DROP COLUMN b; END IF; END $$",
	  "DO $$ BEGIN ALTER TABLE t DROP COLUMN b; END $$", 1, 1 },
	{ "drop-column", "DO $$ BEGIN ALTER TABLE t DROP COLUMN b; END $$",
	  "DO $$ BEGIN PERFORM 1; END $$", 1, 1 },
	{ "unmatched-allow", "-- prestart:allow drop-table not today\nSELECT 1;\nSELECT 2",
	  "-- prestart:allow drop-column unused since v3\nALTER TABLE t DROP COLUMN b", 1, 1 },
	{ "drop-column", "SELECT 1;\n-- prestart:allow drop-table unused\nALTER TABLE t DROP COLUMN b",
	  "SELECT 1;\n-- prestart:allow drop-column unused\nALTER TABLE t DROP COLUMN b", 1, 1 },
	{ "allow-without-reason", "SELECT 1;\n-- prestart:allow drop-table\nDROP TABLE t",
	  "SELECT 1;\n-- prestart:allow drop-table gone since v2\nDROP TABLE t", 1, 1 },
	{ "drop-table", "SELECT 1;\n-- prestart:allow drop-table\nDROP TABLE t",
	  "-- prestart:allow drop-table the whole revision, on purpose\nSELECT 1;\nDROP TABLE t", 1, 1 },
};

static void test_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		const struct rule_case *c = &cases[i];
		char *a = fired(c->fires, c->tx_fires), *b = fired(c->near, c->tx_near);

		if (!has(a, c->rule))
			fail_msg("%s did not fire on [%s]: got [%s]", c->rule, c->fires, a);
		if (has(b, c->rule))
			fail_msg("%s fired on the near miss [%s]", c->rule, c->near);
		free(a);
		free(b);
	}
}

/* Every rule has a case that fires it (expand-after-contract and
 * phase-expand-override: below). */
static void test_every_rule_tested(void **state)
{
	(void)state;
	for (const struct lint_rule *r = lint_rules; r->id; r++) {
		int found = !strcmp(r->id, "expand-after-contract") ||
			    !strcmp(r->id, "phase-expand-override");

		for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++)
			found |= !strcmp(cases[i].rule, r->id);
		if (!found)
			fail_msg("no test for rule %s", r->id);
		assert_non_null(r->why);
		assert_non_null(strchr(r->instead, '\n') ? r->instead : r->instead);
		if (r->template && !strchr(r->template, '{'))
			fail_msg("%s: a template without a placeholder", r->id);
	}
}

static void test_expand_after_contract(void **state)
{
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct err e = { 0 };
	struct strlist down = { 0 };
	struct lint_input in = { .path = "a.sql", .revision = "a", .sql = setup_sql,
				 .first_line = 1, .transactional = 1, .report = 1 };
	enum an_class cls;

	(void)state;
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_int_equal(cls, AN_EXPAND);
	strlist_push(&down, "a");
	in.revision = "b";
	in.down = &down;
	in.sql = "ALTER TABLE t RENAME COLUMN a TO a2";
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_int_equal(cls, AN_CONTRACT);
	strlist_free(&down);
	strlist_push(&down, "b");
	in.revision = "c";
	in.sql = "ALTER TABLE t ADD COLUMN c text";
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_int_equal(cls, AN_EXPAND);
	assert_string_equal(f.v[f.n - 1].rule->id, "expand-after-contract");
	/* `-- Phase: expand` is expand whatever the analysis says */
	in.revision = "d";
	in.phase_expand = 1;
	in.phase_line = 3;
	in.sql = "ALTER TABLE t DROP COLUMN b";
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_int_equal(cls, AN_EXPAND);
	/* ... and lint says so, on the mark's line */
	assert_string_equal(f.v[f.n - 1].rule->id, "phase-expand-override");
	assert_int_equal(f.v[f.n - 1].line, 3);
	assert_string_equal(f.v[f.n - 1].message,
			    "marked expand by -- Phase: expand: applies in the expand phase, "
			    "though the analysis calls it data-loss");
	/* a revision marked expand is no contract parent */
	strlist_free(&down);
	strlist_push(&down, "d");
	in.revision = "e";
	in.phase_expand = 0;
	in.phase_line = 0;
	in.sql = "ALTER TABLE t ADD COLUMN e text";
	{
		size_t before = f.n;

		assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
		assert_int_equal(f.n, before);
	}
	/* `-- Phase: contract` / `-- Compat: breaking` make an additive
	 * revision contract: the next expand revision is held back by it */
	strlist_free(&down);
	strlist_push(&down, "e");
	in.revision = "f";
	in.phase_contract = 1;
	in.sql = "ALTER TABLE t ADD COLUMN f text";
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_int_equal(cls, AN_CONTRACT);
	strlist_free(&down);
	strlist_push(&down, "f");
	in.revision = "g";
	in.phase_contract = 0;
	in.sql = "ALTER TABLE t ADD COLUMN g text";
	assert_int_equal(lint_revision(&in, &st, &f, &cls, &e), 0);
	assert_string_equal(f.v[f.n - 1].rule->id, "expand-after-contract");
	strlist_free(&down);
	lint_findings_release(&f);
	lint_state_release(&st);
}

static void test_lines_and_errors(void **state)
{
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct err e = { 0 };
	struct lint_input in = { .path = "v/x.sql", .revision = "x", .first_line = 10,
				 .transactional = 1, .report = 1 };

	(void)state;
	in.sql = "SELECT 1;\n\n  DROP TABLE t;\n";
	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.v[0].line, 12);
	assert_string_equal(f.v[0].statement, "DROP TABLE t");
	assert_int_equal(f.errors, 1);
	in.sql = "SELECT 1;\nSELECT 'open";
	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "v/x.sql:11:8: unterminated quoted string");
	lint_findings_release(&f);
	lint_state_release(&st);
}

/* A misspelt rule id in an allow comment is named once, with the rule
 * meant; a known id beside it still accepts its finding. */
static void test_allow_misspelt_rule(void **state)
{
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct err e = { 0 };
	struct lint_input in = { .path = "v/x.sql", .revision = "x", .first_line = 10,
				 .transactional = 1, .report = 1 };
	size_t unmatched = 0, allowed = 0;

	(void)state;
	in.sql = "SELECT 1;\n-- prestart:allow drop-tabel,drop-column gone since v2\n"
		 "ALTER TABLE t DROP COLUMN b;\n";
	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	for (size_t i = 0; i < f.n; i++) {
		if (!strcmp(f.v[i].rule->id, "unmatched-allow")) {
			unmatched++;
			assert_int_equal(f.v[i].line, 11);
			assert_string_equal(f.v[i].message, "allow names 'drop-tabel', which is "
							    "no rule (did you mean drop-table?)");
		}
		if (!strcmp(f.v[i].rule->id, "drop-column") && f.v[i].allowed)
			allowed++;
	}
	assert_int_equal(unmatched, 1);
	assert_int_equal(allowed, 1);
	lint_findings_release(&f);
	/* misspelt alone: one warning, not a second "matches no finding" */
	in.sql = "SELECT 1;\n-- prestart:allow qwertyuiop gone since v2\nDROP TABLE t;\n";
	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	unmatched = 0;
	for (size_t i = 0; i < f.n; i++)
		if (!strcmp(f.v[i].rule->id, "unmatched-allow")) {
			unmatched++;
			assert_string_equal(f.v[i].message,
					    "allow names 'qwertyuiop', which is no rule");
		}
	assert_int_equal(unmatched, 1);
	assert_int_equal(f.errors, 1); /* the DROP TABLE is not accepted */
	lint_findings_release(&f);
	lint_state_release(&st);
}

/* The rendered safe alternative of the first finding of `rule` on `sql`,
 * linted after a revision that creates orders and customers (caller
 * frees); NULL when the rule did not fire. */
static char *instead_of(const char *sql, int transactional, const char *rule)
{
	struct lint_state st = { 0 };
	struct lint_findings f = { 0 };
	struct err e = { 0 };
	struct lint_input in = {
		.path = "v.sql", .revision = "r1", .first_line = 1, .transactional = 1,
		.sql = "CREATE TABLE orders (id int, customer_id int, email text, total int, note text);\n"
		       "CREATE TABLE customers (id int PRIMARY KEY);\n"
	};
	char *r = NULL;

	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	in.revision = "r2";
	in.sql = sql;
	in.transactional = transactional;
	in.report = 1;
	assert_int_equal(lint_revision(&in, &st, &f, NULL, &e), 0);
	for (size_t i = 0; i < f.n && !r; i++)
		if (!strcmp(f.v[i].rule->id, rule))
			r = xstrdup(f.v[i].instead);
	lint_findings_release(&f);
	lint_state_release(&st);
	return r;
}

struct instead_case {
	const char *sql, *rule;
	int tx;
	const char *want[3]; /* lines the alternative must hold */
};

static const struct instead_case instead_cases[] = {
	{ "CREATE INDEX ON orders (customer_id)", "create-index-not-concurrently", 1,
	  { "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);",
	    "DROP INDEX CONCURRENTLY orders_customer_id_idx" } },
	{ "CREATE UNIQUE INDEX o_mail ON public.orders USING btree (lower(email)) WHERE email <> ''",
	  "create-index-not-concurrently", 1,
	  { "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS o_mail ON public.orders USING btree "
	    "(lower(email)) WHERE email <> '';" } },
	{ "DROP INDEX orders_customer_id_idx", "drop-index-not-concurrently", 1,
	  { "DROP INDEX CONCURRENTLY IF EXISTS orders_customer_id_idx;" } },
	{ "CREATE INDEX CONCURRENTLY o_c ON orders (customer_id)", "concurrently-in-transaction", 1,
	  { "CREATE INDEX CONCURRENTLY IF NOT EXISTS o_c ON orders (customer_id);" } },
	{ "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (customer_id) REFERENCES customers (id)",
	  "foreign-key-without-not-valid", 1,
	  { "ALTER TABLE orders ADD CONSTRAINT o_fk",
	    "FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;",
	    "ALTER TABLE orders VALIDATE CONSTRAINT o_fk;" } },
	{ "ALTER TABLE orders ADD COLUMN buyer int REFERENCES customers", "foreign-key-without-not-valid",
	  1, { "ALTER TABLE orders ADD CONSTRAINT orders_buyer_fkey",
	       "FOREIGN KEY (buyer) REFERENCES customers NOT VALID;" } },
	{ "ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0)", "check-without-not-valid", 1,
	  { "ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0) NOT VALID;",
	    "ALTER TABLE orders VALIDATE CONSTRAINT pos;" } },
	{ "ALTER TABLE orders ADD UNIQUE (email)", "unique-constraint-without-index", 1,
	  { "CREATE UNIQUE INDEX CONCURRENTLY orders_email_key ON orders (email);",
	    "ALTER TABLE orders ADD CONSTRAINT orders_email_key UNIQUE USING INDEX orders_email_key;" } },
	{ "ALTER TABLE orders ADD PRIMARY KEY (id)", "add-primary-key", 1,
	  { "CREATE UNIQUE INDEX CONCURRENTLY orders_pkey ON orders (id);" } },
	{ "ALTER TABLE orders ALTER COLUMN email SET NOT NULL", "set-not-null", 1,
	  { "ALTER TABLE orders ADD CONSTRAINT orders_email_not_null CHECK (email IS NOT NULL) NOT VALID;",
	    "ALTER TABLE orders ALTER COLUMN email SET NOT NULL;" } },
	{ "ALTER TABLE orders ADD COLUMN status text NOT NULL", "not-null-column-without-default", 1,
	  { "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT <constant>;" } },
	{ "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()", "volatile-default", 1,
	  { "ALTER TABLE orders ADD COLUMN token uuid;",
	    "ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid();" } },
	{ "ALTER TABLE orders ALTER COLUMN total TYPE bigint", "change-column-type", 1,
	  { "ALTER TABLE orders ADD COLUMN total_new int8;" } },
	{ "ALTER TABLE orders DROP COLUMN note", "drop-column", 1,
	  { "CREATE TABLE orders_note_archive AS SELECT <key>, note FROM orders;",
	    "ALTER TABLE orders DROP COLUMN note;",
	    "-- prestart:allow drop-column REASON" } },
	{ "DROP TABLE \"Orders Old\"", "drop-table", 1,
	  { "ALTER TABLE \"Orders Old\" RENAME TO \"Orders Old_deprecated\";" } },
	{ "ALTER TABLE orders RENAME COLUMN email TO mail", "rename-column", 1,
	  { "UPDATE orders SET mail = email WHERE", "ALTER TABLE orders DROP COLUMN email;" } },
	{ "ALTER TABLE customers RENAME TO clients", "rename-table", 1,
	  { "CREATE VIEW customers AS SELECT * FROM clients;" } },
	{ "TRUNCATE orders", "truncate-table", 1, { "DELETE FROM orders WHERE ctid IN" } },
	{ "ALTER TABLE orders ADD COLUMN a text; ALTER TABLE customers ADD COLUMN b text",
	  "several-tables-access-exclusive", 1,
	  { "revision 1: the changes to orders", "revision 2: the changes to customers" } },
	{ "VACUUM FULL orders", "vacuum-full", 0, { "VACUUM (ANALYZE) orders;" } },
	{ "REINDEX INDEX orders_pkey", "reindex-not-concurrently", 0,
	  { "REINDEX INDEX CONCURRENTLY orders_pkey;" } },
	/* the grammar refuses it: the tokens give the table, not the columns */
	{ "CREATE INDEX ON orders (customer_id) WITH SPARKLES", "create-index-not-concurrently", 1,
	  { "ON orders (<columns>);" } },
};

/* Each finding's safe alternative names the statement's own table,
 * columns, index and constraint. */
static void test_instead_names_the_statement(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(instead_cases) / sizeof(*instead_cases); i++) {
		const struct instead_case *c = &instead_cases[i];
		char *got = instead_of(c->sql, c->tx, c->rule);

		if (!got)
			fail_msg("%s did not fire on [%s]", c->rule, c->sql);
		for (size_t k = 0; k < 3 && c->want[k]; k++)
			if (!strstr(got, c->want[k]))
				fail_msg("[%s]: %s's alternative lacks [%s]:\n%s", c->sql, c->rule,
					 c->want[k], got);
		if (strchr(got, '{'))
			fail_msg("[%s]: unfilled placeholder:\n%s", c->sql, got);
		free(got);
	}
}

/* Without a fact the generic text; every template fills with a full fact. */
static void test_instead_generic(void **state)
{
	char table[] = "orders", name[] = "customer_id", detail[] = "int8", spec[] = "(customer_id)";
	struct an_fact full = { AF_CREATE_INDEX, table, name, detail, spec };

	(void)state;
	for (const struct lint_rule *r = lint_rules; r->id; r++) {
		char *g = lint_render_instead(r, NULL), *x = lint_render_instead(r, &full);

		assert_string_equal(g, r->instead);
		if (strchr(x, '{') || strstr(x, "<table>"))
			fail_msg("%s: unfilled placeholder:\n%s", r->id, x);
		free(g);
		free(x);
	}
}

/* A statement shortened for a message (lint, the guard, the termination
 * log's lock holder): one line, at most 160 bytes, never half a
 * character. */
static void test_short_statement(void **state)
{
	char sql[400], *s;
	size_t n = 0;

	(void)state;
	s = lint_short_statement("ALTER  TABLE t\n\tADD COLUMN x int", 32);
	assert_string_equal(s, "ALTER TABLE t ADD COLUMN x int");
	free(s);
	n += (size_t)snprintf(sql, sizeof(sql), "UPDATE t SET v = 'x");
	while (n < 300)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "\xc3\xa9"); /* é */
	s = lint_short_statement(sql, n);
	assert_true(strlen(s) <= 164);
	assert_true(strlen(s) > 150);
	assert_string_equal(s + strlen(s) - 4, " ...");
	/* what is left before " ..." ends on a whole é */
	assert_int_equal((unsigned char)s[strlen(s) - 5], 0xa9);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_short_statement),
		cmocka_unit_test(test_every_rule_tested),
		cmocka_unit_test(test_expand_after_contract),
		cmocka_unit_test(test_lines_and_errors),
		cmocka_unit_test(test_allow_misspelt_rule),
		cmocka_unit_test(test_instead_names_the_statement),
		cmocka_unit_test(test_instead_generic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
