/* delegate: which target Alembic is handed for a plan, and when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/delegate.h"
#include "prestart/graph.h"

struct gx {
	struct revision_set set;
	struct graph *g;
};

/* Lines of "id down,down dep,dep" ('-' for none); every revision is .py. */
static void gx_build(struct gx *x, const char *const *lines)
{
	struct err e = { 0 };

	memset(x, 0, sizeof(*x));
	for (; *lines; lines++) {
		char id[32], down[64], dep[64];
		struct revision *r;

		assert_int_equal(sscanf(*lines, "%31s %63s %63s", id, down, dep), 3);
		xgrow((void **)&x->set.v, &x->set.alloc, x->set.n + 1, sizeof(*x->set.v));
		r = &x->set.v[x->set.n++];
		memset(r, 0, sizeof(*r));
		r->id = xstrdup(id);
		if (strcmp(down, "-"))
			strlist_split(&r->down, down, ",");
		if (strcmp(dep, "-"))
			strlist_split(&r->depends, dep, ",");
		r->message = xstrdup("");
		r->path = xasprintf("versions/%s.py", id);
		r->is_py = 1;
	}
	if (graph_build(&x->set, &x->g, &e) < 0)
		fail_msg("graph_build: %s", e.msg);
}

static void gx_free(struct gx *x)
{
	graph_free(x->g);
	for (size_t i = 0; i < x->set.n; i++) {
		free(x->set.v[i].id);
		free(x->set.v[i].message);
		free(x->set.v[i].path);
		strlist_free(&x->set.v[i].down);
		strlist_free(&x->set.v[i].depends);
	}
	free(x->set.v);
}

/* Does any step of p need Alembic (the plan carries its runner)? */
static int needs_alembic(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->steps[i].runner == RUN_ALEMBIC)
			return 1;
	return 0;
}

/* The target for `verb target` from the heads in `cur` (comma-separated). */
static char *target_for(struct gx *x, int upgrade, const char *cur, const char *target)
{
	struct strlist heads = { 0 };
	struct plan p;
	struct err e = { 0 };
	char *t;
	int r;

	memset(&p, 0, sizeof(p));
	strlist_split(&heads, cur, ",");
	r = upgrade ? graph_plan(x->g, &heads, target, DIR_UP, &p, &e)
		    : graph_plan(x->g, &heads, target, DIR_DOWN, &p, &e);
	if (r < 0)
		fail_msg("plan %s: %s", target, e.msg);
	assert_true(p.n > 0);
	assert_true(needs_alembic(&p));
	t = graph_alembic_target(&p, upgrade ? DIR_UP : DIR_DOWN, target);
	plan_release(&p);
	strlist_free(&heads);
	return t;
}

#define TARGET_IS(x, up, cur, target, want)                       \
	do {                                                      \
		char *got_ = target_for((x), (up), (cur), (target)); \
		assert_string_equal(got_, (want));                \
		free(got_);                                       \
	} while (0)

static const char *const LINEAR[] = { "a - -", "b a -", "c b -", NULL };

static void test_relative_targets_become_ids(void **state)
{
	struct gx x;

	(void)state;
	gx_build(&x, LINEAR);
	TARGET_IS(&x, 1, "", "+2", "b");
	TARGET_IS(&x, 1, "a", "+1", "b");
	TARGET_IS(&x, 1, "", "head", "c");
	TARGET_IS(&x, 1, "a", "c", "c");
	TARGET_IS(&x, 0, "c", "-1", "b");
	TARGET_IS(&x, 0, "c", "b-1", "a");
	gx_free(&x);
}

static void test_heads_and_base_stay(void **state)
{
	struct gx x;

	(void)state;
	gx_build(&x, LINEAR);
	TARGET_IS(&x, 1, "", "heads", "heads");
	TARGET_IS(&x, 0, "c", "base", "base");
	/* -3 from c empties the table: "base" says so without arithmetic */
	TARGET_IS(&x, 0, "c", "-3", "base");
	gx_free(&x);
}

static void test_branches_merges_and_dependencies(void **state)
{
	static const char *const G[] = { "r - -", "x r -", "y r -", "m x,y -",
					 "o - -", "t m o", NULL };
	struct gx x;

	(void)state;
	gx_build(&x, G);
	/* t depends on o: Alembic runs o too, and t last */
	TARGET_IS(&x, 1, "", "t", "t");
	TARGET_IS(&x, 1, "x", "m", "m");
	/* undoing a merge leaves two heads: no single id says that */
	TARGET_IS(&x, 0, "m", "x", "x");
	TARGET_IS(&x, 0, "x,y", "r", "r");
	gx_free(&x);
}

static void test_sql_plans_are_not_delegated(void **state)
{
	struct gx x;
	struct strlist none = { 0 };
	struct plan p;
	struct err e = { 0 };

	(void)state;
	gx_build(&x, LINEAR);
	for (size_t i = 0; i < x.set.n; i++)
		x.set.v[i].is_py = 0;
	memset(&p, 0, sizeof(p));
	assert_int_equal(graph_plan(x.g, &none, "heads", DIR_UP, &p, &e), 0);
	assert_int_equal((int)p.n, 3);
	assert_false(needs_alembic(&p));
	plan_release(&p);
	gx_free(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative_targets_become_ids),
		cmocka_unit_test(test_heads_and_base_stay),
		cmocka_unit_test(test_branches_merges_and_dependencies),
		cmocka_unit_test(test_sql_plans_are_not_delegated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
