/* test_phase.c - revision classes and the expand phase's subset (SPEC
 * §9.4), without a database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/phase.h"

/* A revision id on top of down (comma-separated, "" for a base). */
static void mk(struct revision *r, const char *id, const char *down)
{
	memset(r, 0, sizeof(*r));
	r->transactional = 1;
	r->id = xstrdup(id);
	r->path = xasprintf("v/%s.sql", id);
	if (*down)
		strlist_split(&r->down, down, ",");
}

static void classify_sql(const struct revision *r, const char *sql, struct phase_class *c)
{
	struct an_script an = { 0 };
	struct err e = { 0 };
	size_t off = 0;

	assert_int_equal(analysis_pg(sql, NULL, &an, &off, &e), 0);
	phase_classify(r, &an, sql, r->path, 4, c);
	analysis_release(&an);
}

static void test_classify(void **state)
{
	struct revision r;
	struct phase_class c;

	(void)state;
	mk(&r, "a", "");
	classify_sql(&r, "ALTER TABLE users ADD COLUMN note text;\n", &c);
	assert_int_equal(c.contract, 0);
	assert_string_equal(c.why, "v/a.sql: every statement is expand");
	phase_class_release(&c);

	classify_sql(&r, "ALTER TABLE users ADD COLUMN note text;\n\nALTER TABLE users\n"
			 "  DROP COLUMN fax;\n", &c);
	assert_int_equal(c.contract, 1);
	assert_string_equal(c.why, "v/a.sql:6: data-loss statement: ALTER TABLE users DROP COLUMN fax");
	phase_class_release(&c);

	classify_sql(&r, "ALTER TABLE users RENAME COLUMN a TO b;\n", &c);
	assert_int_equal(c.contract, 1);
	assert_string_equal(c.why, "v/a.sql:4: contract statement: ALTER TABLE users RENAME COLUMN a TO b");
	phase_class_release(&c);

	/* the header's expand overrides the analysis, and says what it overrides */
	r.phase = REV_PHASE_EXPAND;
	r.phase_line = 2;
	classify_sql(&r, "ALTER TABLE users DROP COLUMN fax;\n", &c);
	assert_int_equal(c.contract, 0);
	assert_string_equal(c.why, "v/a.sql:2: -- Phase: expand (the analysis calls v/a.sql:4 "
				   "data-loss: ALTER TABLE users DROP COLUMN fax)");
	phase_class_release(&c);

	/* marked contract, whatever the statements do */
	r.phase = REV_PHASE_CONTRACT;
	r.phase_line = 3;
	classify_sql(&r, "CREATE TABLE t (id int);\n", &c);
	assert_int_equal(c.contract, 1);
	assert_string_equal(c.why, "v/a.sql:3: -- Phase: contract");
	phase_class_release(&c);

	/* Compat: breaking is contract too, even beside Phase: expand */
	r.phase = REV_PHASE_EXPAND;
	r.compat_breaking = 1;
	r.compat_line = 5;
	classify_sql(&r, "CREATE TABLE t (id int);\n", &c);
	assert_int_equal(c.contract, 1);
	assert_string_equal(c.why, "v/a.sql:5: -- Compat: breaking");
	phase_class_release(&c);

	/* a .py revision that could not be analysed: expand unless marked */
	r.phase = REV_PHASE_UNSET;
	r.compat_breaking = 0;
	phase_classify(&r, NULL, NULL, r.path, 0, &c);
	assert_int_equal(c.contract, 0);
	assert_string_equal(c.why, "v/a.sql: not analysed and not marked: expand");
	phase_class_release(&c);
	r.phase = REV_PHASE_CONTRACT;
	phase_classify(&r, NULL, NULL, r.path, 0, &c);
	assert_int_equal(c.contract, 1);
	phase_class_release(&c);
	revision_release(&r);
}

/* Split revs (ids in apply order) with the given contract flags; check the
 * applied ids and the deferred ones (each "id: why"). */
static void check_split(struct revision *revs, size_t n, const int *contract,
			const char *want_apply, const char *const *want_deferred, size_t ndef)
{
	struct revptrs pending = { 0 };
	struct phase_class *cls = xcalloc(n, sizeof(*cls));
	struct phase_split s;
	struct sbuf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		revptrs_push(&pending, &revs[i]);
		cls[i].contract = contract[i];
		cls[i].why = xasprintf("why %s", revs[i].id);
	}
	phase_expand_split(&pending, cls, &s);
	for (size_t i = 0; i < s.apply.n; i++)
		sbuf_addf(&b, "%s%s", i ? " " : "", s.apply.v[i]->id);
	sbuf_adds(&b, "");
	assert_string_equal(b.buf, want_apply);
	assert_int_equal(s.ndeferred, ndef);
	for (size_t i = 0; i < ndef; i++) {
		char *got = xasprintf("%s: %s", s.deferred[i].rev->id, s.deferred[i].why);

		assert_string_equal(got, want_deferred[i]);
		free(got);
	}
	sbuf_free(&b);
	phase_split_release(&s);
	for (size_t i = 0; i < n; i++)
		phase_class_release(&cls[i]);
	free(cls);
	revptrs_free(&pending);
}

static void test_classify_sql(void **state)
{
	struct revision r;
	struct phase_class c;
	struct err e = { 0 };

	(void)state;
	mk(&r, "a", "");
	assert_int_equal(phase_classify_sql(&r, "CREATE TABLE t (id int);\nDROP TABLE old;\n",
					    r.path, 5, 0, &c, &e), 0);
	assert_int_equal(c.contract, 1);
	assert_string_equal(c.why, "v/a.sql:6: data-loss statement: DROP TABLE old");
	phase_class_release(&c);
	/* SQLite: the token-level reading */
	assert_int_equal(phase_classify_sql(&r, "ALTER TABLE t RENAME COLUMN a TO b;\n", r.path, 5,
					    1, &c, &e), 0);
	assert_int_equal(c.contract, 1);
	phase_class_release(&c);
	assert_int_equal(phase_classify_sql(&r, "ALTER TABLE t ADD COLUMN b text;\n", r.path, 5,
					    1, &c, &e), 0);
	assert_int_equal(c.contract, 0);
	phase_class_release(&c);
	/* not analysed */
	assert_int_equal(phase_classify_sql(&r, NULL, r.path, 0, 0, &c, &e), 0);
	assert_int_equal(c.contract, 0);
	phase_class_release(&c);
	/* SQL that does not split is a broken script, named */
	assert_int_equal(phase_classify_sql(&r, "SELECT 1;\nSELECT 'x;\n", r.path, 5, 0, &c, &e),
			 -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_non_null(strstr(e.msg, "v/a.sql:6:"));
	assert_null(c.why);
	revision_release(&r);
}

static void release_all(struct revision *revs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		revision_release(&revs[i]);
}

/* base -> a1 -> a2 (contract) -> a3 ; base -> b1 -> b2: two heads.  The
 * contract revision holds back its own branch only. */
static void test_two_heads(void **state)
{
	struct revision r[6];
	static const int contract[6] = { 0, 0, 0, 1, 0, 0 };
	static const char *const def[] = {
		"a2: contract: why a2",
		"a3: descends from deferred revision a2",
	};

	(void)state;
	mk(&r[0], "base", "");
	mk(&r[1], "a1", "base");
	mk(&r[2], "b1", "base");
	mk(&r[3], "a2", "a1");
	mk(&r[4], "b2", "b1");
	mk(&r[5], "a3", "a2");
	check_split(r, 6, contract, "base a1 b1 b2", def, 2);
	release_all(r, 6);
}

/* a merge of an expand branch and a contract branch waits, and so does
 * what comes after it; a revision that depends on a deferred one too. */
static void test_merge_waits(void **state)
{
	struct revision r[6];
	static const int contract[6] = { 0, 1, 0, 0, 0, 0 };
	static const char *const def[] = {
		"x: contract: why x",
		"m: descends from deferred revision x",
		"after: descends from deferred revision m",
		"dep: descends from deferred revision x",
	};

	(void)state;
	mk(&r[0], "base", "");
	mk(&r[1], "x", "base");
	mk(&r[2], "y", "base");
	mk(&r[3], "m", "y,x");
	mk(&r[4], "after", "m");
	mk(&r[5], "dep", "y");
	strlist_push(&r[5].depends, "x");
	check_split(r, 6, contract, "base y", def, 4);
	release_all(r, 6);
}

/* the first pending revision is contract: nothing after it applies; one
 * that is not contract (a revision marked expand) applies. */
static void test_marked_expand_applies(void **state)
{
	struct revision r[3];
	struct revptrs pending = { 0 };
	struct phase_class cls[3];
	struct phase_split s;

	(void)state;
	mk(&r[0], "a", "");
	mk(&r[1], "b", "a");
	mk(&r[2], "c", "b");
	r[1].phase = REV_PHASE_EXPAND;
	r[1].phase_line = 2;
	classify_sql(&r[0], "CREATE TABLE users (id int, fax text);\n", &cls[0]);
	classify_sql(&r[1], "ALTER TABLE users DROP COLUMN fax;\n", &cls[1]);
	classify_sql(&r[2], "ALTER TABLE users RENAME TO people;\n", &cls[2]);
	for (int i = 0; i < 3; i++)
		revptrs_push(&pending, &r[i]);
	phase_expand_split(&pending, cls, &s);
	assert_int_equal(s.apply.n, 2);
	assert_string_equal(s.apply.v[1]->id, "b");
	assert_int_equal(s.ndeferred, 1);
	assert_string_equal(s.deferred[0].rev->id, "c");
	assert_string_equal(s.deferred[0].why,
			    "contract: v/c.sql:4: contract statement: ALTER TABLE users RENAME TO people");
	phase_split_release(&s);
	revptrs_free(&pending);
	for (int i = 0; i < 3; i++)
		phase_class_release(&cls[i]);
	release_all(r, 3);
}

static void test_empty(void **state)
{
	struct revptrs pending = { 0 };
	struct phase_split s;

	(void)state;
	phase_expand_split(&pending, NULL, &s);
	assert_int_equal(s.apply.n, 0);
	assert_int_equal(s.ndeferred, 0);
	phase_split_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_classify_sql),
		cmocka_unit_test(test_two_heads),
		cmocka_unit_test(test_merge_waits),
		cmocka_unit_test(test_marked_expand_applies),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
