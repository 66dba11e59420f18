/* test_guard.c - the deploy-time guard's judgement (guard.h) without a
 * database: which statements of a plan it keeps, what it asks the catalog,
 * how it reads the answers, what it says.  The catalog itself:
 * tests/integration/test_guard.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/guard.h"

#define MB (1024LL * 1024)

static void collect(struct guard_set *s, const char *const *sql, size_t n)
{
	struct guard_rev revs[8] = { 0 };

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		revs[i].revision = i ? "r2" : "r1";
		revs[i].path = "v.sql";
		revs[i].sql = sql[i];
		revs[i].first_line = 10;
	}
	guard_collect(revs, n, s);
}

/* "rule:table:ask" of each check, space-separated (caller frees). */
static char *kept(const char *sql)
{
	struct guard_set s;
	struct sbuf b = { 0 };
	const char *const v[] = { sql };

	collect(&s, v, 1);
	for (size_t i = 0; i < s.n; i++)
		sbuf_addf(&b, "%s%s:%s:%d", i ? " " : "", s.v[i].rule ? s.v[i].rule->id : "?",
			  s.v[i].table, (int)s.v[i].ask);
	guard_release(&s);
	return b.buf ? b.buf : xstrdup("");
}

static void expect(const char *sql, const char *want)
{
	char *got = kept(sql);

	if (strcmp(got, want))
		fail_msg("[%s]: got '%s', wanted '%s'", sql, got, want);
	free(got);
}

static void test_what_is_kept(void **state)
{
	(void)state;
	expect("CREATE INDEX i ON t (a);", "create-index-not-concurrently:t:0");
	expect("CREATE INDEX CONCURRENTLY i ON t (a);", "");
	expect("ALTER TABLE t ALTER COLUMN a TYPE bigint;", "change-column-type:t:1");
	/* the static analysis calls this free; the live type decides */
	expect("ALTER TABLE t ALTER COLUMN a TYPE text;", "change-column-type:t:1");
	expect("ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();",
	       "volatile-default:t:2");
	expect("ALTER TABLE t ADD COLUMN s text DEFAULT 'x';", "");
	expect("ALTER TABLE t ADD COLUMN id bigserial;", "volatile-default:t:0");
	expect("ALTER TABLE t ALTER COLUMN a SET NOT NULL;", "set-not-null:t:3");
	expect("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES app.p (id);",
	       "foreign-key-without-not-valid:t:0 foreign-key-without-not-valid:app.p:0");
	expect("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES p (id) NOT VALID;", "");
	expect("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);", "check-without-not-valid:t:0");
	expect("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;", "");
	expect("ALTER TABLE t VALIDATE CONSTRAINT c;", "");
	expect("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);", "unique-constraint-without-index:t:0");
	expect("ALTER TABLE t ADD PRIMARY KEY (id);", "add-primary-key:t:0");
	expect("VACUUM FULL t, u;", "vacuum-full:t:0 vacuum-full:u:0");
	expect("VACUUM t;", "");
	expect("CLUSTER t USING t_pkey;", "cluster:t:0");
	expect("REINDEX TABLE t;", "reindex-not-concurrently:t:0");
	/* row locks only */
	expect("UPDATE t SET a = 1; DELETE FROM t;", "");
	/* created in the same revision, before: exempt */
	expect("CREATE TABLE n (id int, a text);\nCREATE INDEX i ON n (a);\n"
	       "ALTER TABLE n ALTER COLUMN a SET NOT NULL;", "");
}

/* what each kept check says the statement does to its table: a scan, a
 * rewrite, or (a foreign key's referenced table) only a lock held while
 * the other is scanned */
static void effects_are(const char *sql, const char *want)
{
	struct guard_set s;
	struct sbuf b = { 0 };
	const char *const v[] = { sql };
	static const char *const names[] = { "catalog", "scan", "rewrite" };

	collect(&s, v, 1);
	for (size_t i = 0; i < s.n; i++)
		sbuf_addf(&b, "%s%s:%s", i ? " " : "", s.v[i].table, names[s.v[i].effect]);
	if (strcmp(b.buf ? b.buf : "", want))
		fail_msg("[%s]: got '%s', wanted '%s'", sql, b.buf ? b.buf : "", want);
	sbuf_free(&b);
	guard_release(&s);
}

static void test_effect_of_each_check(void **state)
{
	(void)state;
	effects_are("CREATE INDEX i ON t (a);", "t:scan");
	effects_are("REINDEX TABLE t;", "t:scan");
	effects_are("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES app.p (id);",
		    "t:scan app.p:catalog");
	/* a table that references itself is one check */
	effects_are("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (r) REFERENCES t (id);", "t:scan");
	effects_are("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);", "t:scan");
	effects_are("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a);", "t:scan");
	effects_are("ALTER TABLE t ADD PRIMARY KEY (id);", "t:scan");
	effects_are("CLUSTER t USING t_pkey;", "t:rewrite");
	effects_are("VACUUM FULL t, u;", "t:rewrite u:rewrite");
	effects_are("ALTER TABLE t ALTER COLUMN a SET NOT NULL;", "t:scan");
	effects_are("ALTER TABLE t ALTER COLUMN a TYPE bigint;", "t:rewrite");
	effects_are("ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();", "t:rewrite");
}

static void test_created_earlier_in_the_plan(void **state)
{
	const char *const v[] = { "CREATE TABLE app.n (id int);",
				  "ALTER TABLE app.n ALTER COLUMN id TYPE bigint;\n"
				  "CREATE INDEX i ON t (id);" };
	struct guard_set s;

	(void)state;
	collect(&s, v, 2);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.v[0].table, "t");
	assert_int_equal(s.v[0].rev, 1);
	assert_int_equal(s.v[0].line, 11);
	assert_string_equal(s.v[0].statement, "CREATE INDEX i ON t (id)");
	assert_int_equal(s.v[0].lock, AN_SHARE);
	guard_release(&s);
}

static void test_what_the_plan_did_before(void **state)
{
	const char *const v[] = {
		"ALTER TABLE t ADD COLUMN c varchar(20);\n"
		"ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;",
		"ALTER TABLE t ALTER COLUMN c TYPE varchar(40);\n"
		"ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;\n"
		"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"
		"ALTER TABLE t ALTER COLUMN b SET NOT NULL;\n"
		"ALTER TABLE t ALTER COLUMN c TYPE text USING c || '';"
	};
	struct guard_set s;

	(void)state;
	collect(&s, v, 2);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.v[0].plan_type, "varchar(20)");
	assert_string_equal(s.v[0].detail, "varchar(40)");
	assert_false(s.v[0].using_expr);
	assert_true(s.v[1].proven);
	assert_string_equal(s.v[1].column, "a");
	assert_string_equal(s.v[1].detail, "t_a_nn");
	assert_false(s.v[2].proven);
	/* the catalog may know the check as NOT VALID: its name goes along */
	assert_string_equal(s.v[2].detail, "t_a_nn");
	assert_string_equal(s.v[3].plan_type, "varchar(40)");
	assert_true(s.v[3].using_expr);
	guard_release(&s);
}

static void test_every_function_called(void **state)
{
	const char *const v[] = {
		"ALTER TABLE t ADD COLUMN u int DEFAULT answer() + (random() * \"MyFn\"(2))::int,\n"
		"  ADD COLUMN w varchar(20) DEFAULT left(md5(answer()::text), 20);"
	};
	struct guard_set s;

	(void)state;
	collect(&s, v, 1);
	/* each column's default is judged with every function of the statement */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.v[0].ask, GUARD_ASK_DEFAULT);
	assert_string_equal(s.v[0].detail, "answer,random,MyFn,varchar,left,md5");
	assert_string_equal(s.v[1].detail, "answer,random,MyFn,varchar,left,md5");
	guard_release(&s);
}

static void test_allow_comments(void **state)
{
	const char *const v[] = {
		"ALTER TABLE t ADD COLUMN x int;\n"
		"-- prestart:allow change-column-type,create-index-not-concurrently quiet hours\n"
		"CREATE INDEX i ON t (a);\n"
		"CREATE INDEX j ON t (b);\n"
		"-- prestart:allow create-index-not-concurrently\n"
		"CREATE INDEX k ON t (c);\n"
		"-- prestart:allow set-not-null wrong rule\n"
		"CREATE INDEX l ON t (d);\n"
	};
	const char *const whole[] = {
		"-- prestart:allow create-index-not-concurrently the table is write-once\n"
		"CREATE INDEX i ON t (a);\n"
		"CREATE INDEX j ON t (b);\n"
	};
	struct guard_set s;

	(void)state;
	collect(&s, v, 1);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.v[0].allowed, "quiet hours");
	assert_null(s.v[1].allowed); /* the comment is for the statement after it */
	assert_null(s.v[2].allowed); /* no reason: accepts nothing */
	assert_null(s.v[3].allowed);
	guard_release(&s);
	/* before the first statement: the whole revision's */
	collect(&s, whole, 1);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].allowed, "the table is write-once");
	assert_string_equal(s.v[1].allowed, "the table is write-once");
	guard_release(&s);
}

static void test_the_query(void **state)
{
	const char *const v[] = { "CREATE INDEX i ON \"Odd\"\"Name\" (a);\n"
				  "ALTER TABLE app.t ADD COLUMN u int DEFAULT f();\n"
				  "ALTER TABLE t ALTER COLUMN \"it's\" TYPE bigint;" };
	struct guard_set s = { 0 };
	char *sql;

	(void)state;
	assert_null(guard_query_sql(&s));
	collect(&s, v, 1);
	sql = guard_query_sql(&s);
	assert_non_null(sql);
	/* one row per check, in order */
	assert_non_null(strstr(sql, "WITH ORDINALITY"));
	assert_non_null(strstr(sql, "ORDER BY q.i"));
	/* names quoted back as the parser read them, literals safe */
	assert_non_null(strstr(sql, "ARRAY[E'\"Odd\"\"Name\"',E'\"app\".\"t\"',E'\"t\"']"));
	assert_non_null(strstr(sql, "ARRAY[E's',E'd',E't']"));
	assert_non_null(strstr(sql, "ARRAY[E'',E'',E'it''s']"));
	assert_non_null(strstr(sql, "ARRAY[E'',E'f',E'int8']"));
	assert_non_null(strstr(sql, "pg_total_relation_size"));
	free(sql);
	guard_release(&s);
}

static void test_answers(void **state)
{
	const char *const v[] = {
		"CREATE INDEX i ON t (a);\n"                              /* 0 size */
		"ALTER TABLE t ALTER COLUMN a TYPE varchar(50);\n"        /* 1 type */
		"ALTER TABLE t ALTER COLUMN n TYPE text;\n"               /* 2 type */
		"ALTER TABLE t ADD COLUMN u int DEFAULT f();\n"           /* 3 default */
		"ALTER TABLE t ADD COLUMN w int DEFAULT g();\n"           /* 4 default */
		"ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"            /* 5 not null */
		"ALTER TABLE t ALTER COLUMN b SET NOT NULL;\n"            /* 6 not null */
		"CREATE INDEX j ON missing (a);\n"                        /* 7 no table */
		"CREATE INDEX k ON small (a);\n"                          /* 8 small */
		"-- prestart:allow cluster ok at night\n"
		"CLUSTER t USING t_pkey;\n"                               /* 9 allowed */
	};
	static const char *const rows[] = {
		"20000000|", "20000000|varchar(20)", "20000000|int4", "20000000|stable",
		"20000000|volatile", "20000000|check", "20000000|", "|", "8192|", "20000000|"
	};
	static const enum guard_verdict want[] = {
		GUARD_OVER, GUARD_CHEAP, GUARD_OVER, GUARD_CHEAP, GUARD_OVER,
		GUARD_CHEAP, GUARD_OVER, GUARD_UNKNOWN, GUARD_UNDER, GUARD_ALLOWED
	};
	struct strlist r = { 0 };
	struct guard_set s;
	struct err e = { 0 };

	(void)state;
	collect(&s, v, 1);
	assert_int_equal(s.n, 10);
	for (size_t i = 0; i < 10; i++)
		strlist_push(&r, rows[i]);
	assert_int_equal(guard_answer(&s, &r, 1 * MB, &e), 0);
	for (size_t i = 0; i < 10; i++)
		if (s.v[i].verdict != want[i])
			fail_msg("check %zu (%s): verdict %d, wanted %d", i, s.v[i].statement,
				 (int)s.v[i].verdict, (int)want[i]);
	assert_int_equal(s.v[0].size, 20000000);
	/* a size at the limit passes */
	assert_int_equal(guard_answer(&s, &r, 20000000, &e), 0);
	assert_int_equal(s.v[0].verdict, GUARD_UNDER);
	/* rows that do not match the checks */
	strlist_push(&r, "1|");
	assert_int_equal(guard_answer(&s, &r, MB, &e), -1);
	assert_int_equal(e.kind, ERR_FAILED);
	strlist_free(&r);
	guard_release(&s);
}

static void test_sizes(void **state)
{
	static const struct { long long n; const char *s; } v[] = {
		{ 0, "0 bytes" }, { 1023, "1023 bytes" }, { 1024, "1 kB" }, { 65536, "64 kB" },
		{ 1536, "1.5 kB" }, { 412 * MB, "412 MB" }, { 128 * MB, "128 MB" },
		{ 1024 * MB, "1 GB" }, { 1536 * MB, "1.5 GB" }, { 14680064, "14 MB" },
	};
	char buf[32];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		guard_size_str(v[i].n, buf, sizeof(buf));
		assert_string_equal(buf, v[i].s);
	}
	assert_string_equal(guard_blocks(AN_ACCESS_EXCLUSIVE), "blocks reads and writes");
	assert_string_equal(guard_blocks(AN_SHARE), "blocks writes");
	assert_string_equal(guard_blocks(AN_SHARE_ROW_EXCLUSIVE), "blocks writes");
}

static void test_message(void **state)
{
	const char *const v[] = { "\n\nALTER TABLE orders\n  ALTER COLUMN total TYPE bigint;" };
	struct guard_rev rev = { .revision = "3f2a", .path = "versions/3f2a_total.sql",
				 .sql = v[0], .first_line = 14 };
	struct guard_set s;
	char *m;

	(void)state;
	guard_collect(&rev, 1, &s);
	assert_int_equal(s.n, 1);
	s.v[0].size = 412 * MB;
	m = guard_message(&s.v[0], &rev, 128 * MB, NULL);
	assert_string_equal(
		m, "revision 3f2a (versions/3f2a_total.sql:16) rewrites table orders (412 MB, over "
		   "--guard-size 128 MB) under ACCESS EXCLUSIVE, which blocks reads and writes "
		   "until it ends: `ALTER TABLE orders ALTER COLUMN total TYPE bigint`. Instead "
		   "(change-column-type): Add a column of the new type, write both from the "
		   "application, backfill in batches, switch reads, drop the old column in a later "
		   "release: ALTER TABLE orders ADD COLUMN total_new int8; UPDATE orders SET "
		   "total_new = total::int8 WHERE <key> BETWEEN 1 AND 10000; /* per batch */ To lift a "
		   "length limit, change to text or a longer varchar: catalog only.");
	free(m);
	guard_release(&s);
	/* a header quoted in the prose stays as written; the SQL's comments
	 * are closed, so the sentence after them reads as prose */
	rev.sql = "CREATE INDEX ON orders (customer_id);";
	guard_collect(&rev, 1, &s);
	assert_int_equal(s.n, 1);
	s.v[0].size = 412 * MB;
	m = guard_message(&s.v[0], &rev, 128 * MB, NULL);
	assert_non_null(strstr(m, "in a revision marked `-- Transactional: false` (CONCURRENTLY"));
	assert_null(strstr(m, "/*"));
	free(m);
	/* where the limit was set: the flag names itself, the rest are said */
	m = guard_message(&s.v[0], &rev, 128 * MB, "--guard-size 128MB");
	assert_non_null(strstr(m, "(412 MB, over --guard-size 128 MB) under SHARE"));
	free(m);
	m = guard_message(&s.v[0], &rev, 128 * MB, "PRESTART_GUARD_SIZE=128MB");
	assert_non_null(strstr(m, "(412 MB, over --guard-size 128 MB, set by "
				  "PRESTART_GUARD_SIZE=128MB) under SHARE"));
	free(m);
	m = guard_message(&s.v[0], &rev, 128 * MB, "guard_size = 128MB in prestart.ini:3");
	assert_non_null(strstr(m, "(412 MB, over --guard-size 128 MB, set by guard_size = 128MB "
				  "in prestart.ini:3) under SHARE"));
	free(m);
	guard_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_what_is_kept),
		cmocka_unit_test(test_effect_of_each_check),
		cmocka_unit_test(test_created_earlier_in_the_plan),
		cmocka_unit_test(test_what_the_plan_did_before),
		cmocka_unit_test(test_every_function_called),
		cmocka_unit_test(test_allow_comments),
		cmocka_unit_test(test_the_query),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
