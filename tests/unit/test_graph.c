/* Unit tests for the revision graph.  The expected answers were produced
 * by Alembic 1.8.1 itself for the same graphs (RevisionMap,
 * ScriptDirectory._upgrade_revs/_downgrade_revs/_stamp_revs,
 * walk_revisions and HeadMaintainer); tests/integration/test_graph_oracle.py
 * compares many random graphs the same way. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prestart/graph.h"

/* Sanitizers make the graph several times slower: the time bound scales. */
#if defined(__SANITIZE_ADDRESS__)
#define SLOWDOWN 10
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLOWDOWN 10
#endif
#endif
#ifndef SLOWDOWN
#define SLOWDOWN 1
#endif

/* ---- helpers ------------------------------------------------------------ */

/* "id|down,down|label,label|dep,dep" lines */
static void set_from_spec(struct revision_set *set, const char *spec)
{
	char *copy = xstrdup(spec), *save = NULL;

	memset(set, 0, sizeof(*set));
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[4] = { line, NULL, NULL, NULL };
		struct revision *r;
		int n = 1;
		for (char *p = line; *p && n < 4; p++)
			if (*p == '|') {
				*p = '\0';
				f[n++] = p + 1;
			}
		xgrow((void **)&set->v, &set->alloc, set->n + 1, sizeof(*set->v));
		r = &set->v[set->n++];
		memset(r, 0, sizeof(*r));
		r->id = xstrdup(f[0]);
		if (f[1])
			strlist_split(&r->down, f[1], ",");
		if (f[2])
			strlist_split(&r->labels, f[2], ",");
		if (f[3])
			strlist_split(&r->depends, f[3], ",");
		r->message = xasprintf("msg %s", r->id);
		r->path = xasprintf("versions/%s.sql", r->id);
		r->transactional = 1;
	}
	free(copy);
}

static void set_free(struct revision_set *set)
{
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].id);
		free(set->v[i].message);
		free(set->v[i].path);
		strlist_free(&set->v[i].down);
		strlist_free(&set->v[i].labels);
		strlist_free(&set->v[i].depends);
	}
	free(set->v);
	memset(set, 0, sizeof(*set));
}

struct fixture {
	struct revision_set set;
	struct graph *g;
};

static void fx_build(struct fixture *fx, const char *spec)
{
	struct err e = { 0 };

	set_from_spec(&fx->set, spec);
	if (graph_build(&fx->set, &fx->g, &e) < 0)
		fail_msg("graph_build: %s", e.msg);
}

static void fx_free(struct fixture *fx)
{
	graph_free(fx->g);
	set_free(&fx->set);
}

static int build_error(const char *spec, struct err *e)
{
	struct revision_set set;
	struct graph *g = NULL;
	int rc;

	set_from_spec(&set, spec);
	rc = graph_build(&set, &g, e);
	graph_free(g);
	set_free(&set);
	return rc;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_revs(struct sbuf *b, const struct revptrs *r)
{
	for (size_t i = 0; i < r->n; i++)
		sbuf_addf(b, "%s%s", i ? " " : "", r->v[i]->id);
}

static void add_plan(struct sbuf *b, const struct plan *p)
{
	struct strlist h = { 0 };

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_step *s = &p->steps[i];
		sbuf_addf(b, "step %s %s\n", s->rev ? (s->dir == DIR_UP ? "up" : "down") : "stamp",
			  s->rev ? s->rev->id : "-");
		for (size_t k = s->op_first; k < s->op_first + s->op_count; k++) {
			const struct vt_op *op = &p->ops[k];
			if (op->kind == VT_INSERT)
				sbuf_addf(b, "  INSERT %s\n", op->to);
			else if (op->kind == VT_DELETE)
				sbuf_addf(b, "  DELETE %s\n", op->from);
			else
				sbuf_addf(b, "  UPDATE %s %s\n", op->from, op->to);
		}
	}
	for (size_t i = 0; i < p->end_heads.n; i++)
		strlist_push(&h, p->end_heads.v[i]);
	if (h.n)
		qsort(h.v, h.n, sizeof(*h.v), cmp);
	sbuf_adds(b, "heads");
	for (size_t i = 0; i < h.n; i++)
		sbuf_addf(b, " %s", h.v[i]);
	strlist_free(&h);
}

/* Run one command of the form tests/tools/graphtool understands; returns
 * its answer (caller frees) and the error kind in *kind. */
static char *run(const struct graph *g, const char *cmd, int *kind)
{
	char *copy = xstrdup(cmd), *w[4] = { 0 }, *save = NULL;
	int nw = 0, rc = 0;
	struct err e = { 0 };
	struct strlist cur = { 0 }, t = { 0 };
	struct revptrs r = { 0 };
	struct plan p = { 0 };
	struct sbuf b = { 0 };

	for (char *s = strtok_r(copy, " ", &save); s && nw < 4; s = strtok_r(NULL, " ", &save))
		w[nw++] = s;
	if (nw > 1 && strcmp(w[1], "-"))
		strlist_split(&cur, w[1], ",");
	if (!strcmp(w[0], "heads")) {
		graph_heads(g, &r);
	} else if (!strcmp(w[0], "bases")) {
		graph_bases(g, &r);
	} else if (!strcmp(w[0], "branches")) {
		graph_branch_points(g, &r);
	} else if (!strcmp(w[0], "resolve")) {
		strlist_free(&cur);
		rc = graph_resolve(g, w[1], NULL, &r, &e);
	} else if (!strcmp(w[0], "history")) {
		rc = graph_history(g, &cur, strcmp(w[2], "-") ? w[2] : NULL, &r, &e);
	} else if (!strcmp(w[0], "upgrade")) {
		rc = graph_plan(g, &cur, w[2], DIR_UP, &p, &e);
	} else if (!strcmp(w[0], "downgrade")) {
		rc = graph_plan(g, &cur, w[2], DIR_DOWN, &p, &e);
	} else if (!strcmp(w[0], "stamp")) {
		strlist_split(&t, w[2], ",");
		rc = graph_plan_stamp(g, &cur, &t, nw == 4, &p, &e);
	} else {
		fail_msg("bad command %s", cmd);
	}
	*kind = rc ? e.kind : 0;
	if (rc)
		sbuf_addf(&b, "ERROR %s", e.msg);
	else if (!strcmp(w[0], "upgrade") || !strcmp(w[0], "downgrade") || !strcmp(w[0], "stamp"))
		add_plan(&b, &p);
	else
		add_revs(&b, &r);
	plan_release(&p);
	revptrs_free(&r);
	strlist_free(&cur);
	strlist_free(&t);
	free(copy);
	if (!b.buf)
		return xstrdup("");
	return sbuf_detach(&b);
}

/* ---- Alembic's answers --------------------------------------------------- */

static const char LINEAR[] = "a1b2c3|||\nb2c3d4|a1b2c3||\nc3d4e5|b2c3d4||\n";

/* Two roots; 2000 branches into 3000 and 4000 (labelled feat), merged by
 * 5000 which branches again; 7000 depends on 3000 across roots. */
static const char TREE[] =
	"1000||core|\n2000|1000||\n3000|2000||\n4000|2000|feat|\n5000|3000,4000||\n"
	"6000||other|\n7000|6000||3000\n80001|5000||\n80002|5000||\n";

struct expect {
	const char *graph, *cmd, *want;
};

static const struct expect alembic[] = {
	{ "linear", "heads", "c3d4e5" },
	{ "linear", "bases", "a1b2c3" },
	{ "linear", "history - -", "c3d4e5 b2c3d4 a1b2c3" },
	{ "linear", "upgrade - head", "step up a1b2c3\n  INSERT a1b2c3\nstep up b2c3d4\n  UPDATE a1b2c3 b2c3d4\nstep up c3d4e5\n  UPDATE b2c3d4 c3d4e5\nheads c3d4e5" },
	{ "linear", "upgrade a1b2c3 +1", "step up b2c3d4\n  UPDATE a1b2c3 b2c3d4\nheads b2c3d4" },
	{ "linear", "upgrade - b2c3d4", "step up a1b2c3\n  INSERT a1b2c3\nstep up b2c3d4\n  UPDATE a1b2c3 b2c3d4\nheads b2c3d4" },
	{ "linear", "upgrade c3d4e5 a1b2c3", "heads c3d4e5" },
	{ "linear", "downgrade c3d4e5 -1", "step down c3d4e5\n  UPDATE c3d4e5 b2c3d4\nheads b2c3d4" },
	{ "linear", "downgrade c3d4e5 base", "step down c3d4e5\n  UPDATE c3d4e5 b2c3d4\nstep down b2c3d4\n  UPDATE b2c3d4 a1b2c3\nstep down a1b2c3\n  DELETE a1b2c3\nheads" },
	{ "linear", "downgrade c3d4e5 a1b2", "step down c3d4e5\n  UPDATE c3d4e5 b2c3d4\nstep down b2c3d4\n  UPDATE b2c3d4 a1b2c3\nheads a1b2c3" },
	{ "linear", "downgrade a1b2c3 c3d4e5", "ERROR Destination c3d4e5 is not a valid downgrade target from current head(s)" },
	{ "linear", "upgrade - +4", "ERROR Relative revision +4 didn't produce 4 migrations" },
	{ "linear", "upgrade - a1b", "step up a1b2c3\n  INSERT a1b2c3\nheads a1b2c3" },
	{ "linear", "stamp c3d4e5 a1b2c3", "step stamp -\n  UPDATE c3d4e5 a1b2c3\nheads a1b2c3" },
	{ "linear", "stamp c3d4e5 base", "step stamp -\n  DELETE c3d4e5\nheads" },
	{ "linear", "stamp - b2c3d4", "step stamp -\n  INSERT b2c3d4\nheads b2c3d4" },
	{ "linear", "stamp a1b2c3 c3d4e5 purge", "step stamp -\n  INSERT c3d4e5\nheads c3d4e5" },
	{ "linear", "history - b2c3d4:", "c3d4e5 b2c3d4" },
	{ "linear", "history - :b2c3d4", "b2c3d4 a1b2c3" },
	{ "linear", "history b2c3d4 current:", "c3d4e5 b2c3d4" },
	{ "linear", "history b2c3d4 :current", "b2c3d4 a1b2c3" },
	{ "linear", "resolve head", "c3d4e5" },
	{ "linear", "resolve c3d4e5-2", "ERROR Can't locate revision identified by 'c3d4e5-2'" },
	{ "linear", "upgrade - b2c3d4+1", "step up a1b2c3\n  INSERT a1b2c3\nstep up b2c3d4\n  UPDATE a1b2c3 b2c3d4\nstep up c3d4e5\n  UPDATE b2c3d4 c3d4e5\nheads c3d4e5" },
	{ "linear", "downgrade - -1", "ERROR Relative revision -1 didn't produce 1 migrations" },
	{ "tree", "heads", "7000 80001 80002" },
	{ "tree", "bases", "1000 6000" },
	{ "tree", "branches", "5000 2000" },
	{ "tree", "history - -", "7000 6000 80001 80002 5000 4000 3000 2000 1000" },
	{ "tree", "upgrade - head", "ERROR Multiple head revisions are present for given argument 'head'; please specify a specific target revision, '<branchname>@head' to narrow to a specific head, or 'heads' for all heads" },
	{ "tree", "upgrade - heads", "step up 1000\n  INSERT 1000\nstep up 2000\n  UPDATE 1000 2000\nstep up 3000\n  UPDATE 2000 3000\nstep up 4000\n  INSERT 4000\nstep up 5000\n  DELETE 3000\n  UPDATE 4000 5000\nstep up 80002\n  UPDATE 5000 80002\nstep up 80001\n  INSERT 80001\nstep up 6000\n  INSERT 6000\nstep up 7000\n  UPDATE 6000 7000\nheads 7000 80001 80002" },
	{ "tree", "upgrade - 80001", "step up 1000\n  INSERT 1000\nstep up 2000\n  UPDATE 1000 2000\nstep up 4000\n  UPDATE 2000 4000\nstep up 3000\n  INSERT 3000\nstep up 5000\n  DELETE 3000\n  UPDATE 4000 5000\nstep up 80001\n  UPDATE 5000 80001\nheads 80001" },
	{ "tree", "upgrade 3000 5000", "step up 4000\n  INSERT 4000\nstep up 5000\n  DELETE 3000\n  UPDATE 4000 5000\nheads 5000" },
	{ "tree", "upgrade 3000,4000 80002", "step up 5000\n  DELETE 3000\n  UPDATE 4000 5000\nstep up 80002\n  UPDATE 5000 80002\nheads 80002" },
	{ "tree", "upgrade 7000,80001 heads", "step up 80002\n  INSERT 80002\nheads 7000 80001 80002" },
	{ "tree", "upgrade 2000 feat@head", "ERROR Multiple head revisions are present for given argument 'feat@head'; please specify a specific target revision, '<branchname>@feat@head' to narrow to a specific head, or 'heads' for all heads" },
	{ "tree", "upgrade 2000 feat@+1", "step up 4000\n  UPDATE 2000 4000\nheads 4000" },
	{ "tree", "upgrade 1000 core@+1", "step up 2000\n  UPDATE 1000 2000\nheads 2000" },
	{ "tree", "upgrade - 8000", "ERROR Can't locate revision identified by '8000'" },
	{ "tree", "upgrade - other@head", "step up 1000\n  INSERT 1000\nstep up 2000\n  UPDATE 1000 2000\nstep up 3000\n  UPDATE 2000 3000\nstep up 6000\n  INSERT 6000\nstep up 7000\n  DELETE 6000\n  UPDATE 3000 7000\nheads 7000" },
	{ "tree", "upgrade - feat@3000", "ERROR Can't locate revision identified by '3000'" },
	{ "tree", "downgrade 7000,80001,80002 5000", "step down 80001\n  DELETE 80001\nstep down 80002\n  UPDATE 80002 5000\nheads 5000 7000" },
	{ "tree", "downgrade 7000,80001,80002 3000", "step down 80001\n  DELETE 80001\nstep down 80002\n  UPDATE 80002 5000\nstep down 5000\n  UPDATE 5000 4000\nheads 4000 7000" },
	{ "tree", "downgrade 7000,80001 base", "step down 7000\n  UPDATE 7000 6000\nstep down 6000\n  DELETE 6000\nstep down 80001\n  UPDATE 80001 5000\nstep down 5000\n  INSERT 3000\n  UPDATE 5000 4000\nstep down 4000\n  DELETE 4000\nstep down 3000\n  UPDATE 3000 2000\nstep down 2000\n  UPDATE 2000 1000\nstep down 1000\n  DELETE 1000\nheads" },
	{ "tree", "downgrade 7000,80001 other@base", "step down 7000\n  UPDATE 7000 6000\nstep down 6000\n  DELETE 6000\nheads 80001" },
	{ "tree", "downgrade 80001,80002 -1", "step down 80001\n  DELETE 80001\nheads 80002" },
	{ "tree", "downgrade 80001 80002", "ERROR Destination 80002 is not a valid downgrade target from current head(s)" },
	{ "tree", "downgrade 7000,80001 3000", "step down 80001\n  UPDATE 80001 5000\nstep down 5000\n  UPDATE 5000 4000\nheads 4000 7000" },
	{ "tree", "stamp - heads", "step stamp -\n  INSERT 7000\nstep stamp -\n  INSERT 80001\nstep stamp -\n  INSERT 80002\nheads 7000 80001 80002" },
	{ "tree", "stamp 3000,4000 5000", "step stamp -\n  DELETE 3000\n  UPDATE 4000 5000\nheads 5000" },
	{ "tree", "stamp 80001,80002 2000", "step stamp -\n  DELETE 80001\n  UPDATE 80002 2000\nheads 2000" },
	{ "tree", "stamp 7000 6000", "step stamp -\n  UPDATE 7000 6000\nheads 6000" },
	{ "tree", "stamp 80001 3000", "step stamp -\n  UPDATE 80001 3000\nheads 3000" },
	{ "tree", "history - 4000:", "80001 80002 5000 4000" },
	{ "tree", "history - core@base:feat@head", "ERROR Multiple head revisions are present for given argument 'feat@head'; please specify a specific target revision, '<branchname>@feat@head' to narrow to a specific head, or 'heads' for all heads" },
	{ "tree", "resolve feat", "4000" },
	{ "tree", "resolve feat@head", "ERROR Multiple head revisions are present for given argument 'feat@head'; please specify a specific target revision, '<branchname>@feat@head' to narrow to a specific head, or 'heads' for all heads" },
	{ "tree", "resolve other@heads", "7000" },
	{ "tree", "resolve 800", "ERROR Can't locate revision identified by '800'" },
	{ "tree", "resolve 9999", "ERROR Can't locate revision identified by '9999'" },
	{ "tree", "resolve feat@6000", "ERROR Can't locate revision identified by '6000'" },
	{ "tree", "resolve feat@-1", "5000 5000" },
	{ "tree", "upgrade - abc@head", "ERROR Can't locate revision identified by 'abc'" },
	{ "tree", "downgrade 80001 -1", "step down 80001\n  UPDATE 80001 5000\nheads 5000" },
};

static void test_against_alembic(void **state)
{
	struct fixture lin = { 0 }, tree = { 0 };

	(void)state;
	fx_build(&lin, LINEAR);
	fx_build(&tree, TREE);
	for (size_t i = 0; i < sizeof(alembic) / sizeof(alembic[0]); i++) {
		const struct expect *x = &alembic[i];
		int kind;
		char *got = run(!strcmp(x->graph, "linear") ? lin.g : tree.g, x->cmd, &kind);
		/* prestart keeps Alembic's "Can't locate ..." and adds the
		 * resolver's reason in parentheses */
		size_t wl = strlen(x->want);
		if (strcmp(got, x->want) &&
		    !(!strncmp(x->want, "ERROR", 5) && strstr(x->want, "Can't locate") &&
		      !strncmp(got, x->want, wl) && !strncmp(got + wl, " (", 2)))
			fail_msg("%s: %s\nwant: %s\ngot:  %s", x->graph, x->cmd, x->want, got);
		/* every refusal of these targets is a usage error (exit 2) */
		if (kind)
			assert_int_equal(kind, ERR_USAGE);
		free(got);
	}
	fx_free(&lin);
	fx_free(&tree);
}

/* ---- building ------------------------------------------------------------ */

static void test_build_basics(void **state)
{
	struct fixture fx = { 0 };
	const struct revision *r2000, *r5000;
	struct revptrs next = { 0 };

	(void)state;
	fx_build(&fx, TREE);
	assert_int_equal(graph_count(fx.g), 9);
	r2000 = graph_find(fx.g, "2000");
	r5000 = graph_find(fx.g, "5000");
	assert_non_null(r2000);
	assert_null(graph_find(fx.g, "200"));
	assert_true(graph_is_branch_point(fx.g, r2000));
	assert_false(graph_is_merge_point(fx.g, r2000));
	assert_true(graph_is_merge_point(fx.g, r5000));
	assert_true(graph_is_base(fx.g, graph_find(fx.g, "6000")));
	assert_false(graph_is_head(fx.g, graph_find(fx.g, "6000")));
	assert_true(graph_is_head(fx.g, graph_find(fx.g, "80002")));
	graph_nextrevs(fx.g, r2000, &next);
	assert_int_equal(next.n, 2);
	assert_string_equal(next.v[0]->id, "3000");
	assert_string_equal(next.v[1]->id, "4000");
	revptrs_free(&next);
	fx_free(&fx);
}

static void test_build_errors(void **state)
{
	struct err e = { 0 };

	(void)state;
	assert_int_equal(build_error("a|||\nb|a||\na|b||\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_non_null(strstr(e.msg, "versions/a.sql"));
	assert_non_null(strstr(e.msg, "'a'"));

	assert_int_equal(build_error("a|||\nb|zzz||\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "versions/b.sql: revision b revises 'zzz', which is not present");

	assert_int_equal(build_error("a|||\nb|a||nope\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "versions/b.sql: revision b depends on 'nope', which is not present");

	assert_int_equal(build_error("a|||\nb|c||\nc|b||\nd|c||\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "versions/b.sql: cycle is detected in revisions (b, c)");

	assert_int_equal(build_error("a|a||\n", &e), -1);
	assert_string_equal(e.msg, "versions/a.sql: cycle is detected in revisions (a)");

	assert_int_equal(build_error("a|||b\nb|||a\n", &e), -1);
	assert_string_equal(e.msg, "versions/a.sql: dependency cycle is detected in revisions (a, b)");

	assert_int_equal(build_error("a||x|\nb|a|x|\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg,
			    "versions/b.sql: branch name 'x' in revision b already used by revision a");

	/* a label may not shadow a revision id either */
	assert_int_equal(build_error("a|||\nb|a|a|\n", &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
}

static void test_unknown_current_head(void **state)
{
	struct fixture fx = { 0 };
	int kind;
	char *out;

	(void)state;
	fx_build(&fx, LINEAR);
	out = run(fx.g, "upgrade zzzzzz heads", &kind);
	assert_string_equal(out, "ERROR Can't locate revision identified by 'zzzzzz'");
	assert_int_equal(kind, ERR_SCRIPT);
	free(out);
	out = run(fx.g, "downgrade zzzzzz base", &kind);
	assert_int_equal(kind, ERR_SCRIPT);
	free(out);
	out = run(fx.g, "stamp zzzzzz base", &kind);
	assert_int_equal(kind, ERR_SCRIPT);
	free(out);
	/* stamp --purge ignores what the table holds */
	out = run(fx.g, "stamp zzzzzz a1b2c3 purge", &kind);
	assert_string_equal(out, "step stamp -\n  INSERT a1b2c3\nheads a1b2c3");
	free(out);
	fx_free(&fx);
}

static void test_ambiguous_prefix(void **state)
{
	struct fixture fx = { 0 };
	struct revptrs r = { 0 };
	struct err e = { 0 };

	(void)state;
	fx_build(&fx, "abcd1|||\nabcd2|abcd1||\nabce3|abcd2||\n");
	assert_int_equal(graph_resolve(fx.g, "abcd", NULL, &r, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_string_equal(e.msg, "Can't locate revision identified by 'abcd' (Multiple "
				   "revisions start with 'abcd': 'abcd1', 'abcd2'...)");
	assert_int_equal(graph_resolve(fx.g, "abce", NULL, &r, &e), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0]->id, "abce3");
	revptrs_free(&r);
	fx_free(&fx);
}

/* A label in the middle of a plain line also names its ancestors down to
 * the previous branch point (Alembic's _add_branches). */
static void test_label_propagation(void **state)
{
	struct fixture fx = { 0 };
	struct graph_fmt f = { .include_branches = 1 };
	char *s;

	(void)state;
	fx_build(&fx, "aaaa|||\nbbbb|aaaa|mid|\ncccc|bbbb||\n");
	s = graph_format(fx.g, graph_find(fx.g, "aaaa"), &f);
	assert_string_equal(s, "aaaa (mid)");
	free(s);
	fx_free(&fx);

	fx_build(&fx, "aaaa|||\nbbbb|aaaa|mid|\ncccc|bbbb||\ndddd|aaaa||\n");
	s = graph_format(fx.g, graph_find(fx.g, "aaaa"), &f);
	assert_string_equal(s, "aaaa");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "cccc"), &f);
	assert_string_equal(s, "cccc (mid) (head)");
	free(s);
	fx_free(&fx);
}

static void test_format(void **state)
{
	struct fixture fx = { 0 };
	struct graph_fmt hist = { .include_branches = 1, .include_doc = 1, .include_parents = 1,
				  .tree_indicators = 1 };
	struct graph_fmt heads = { .include_branches = 1 };
	struct graph_fmt verbose = { .verbose = 1 };
	struct strlist cur = { 0 };
	char *s;

	(void)state;
	fx_build(&fx, TREE);
	s = graph_format(fx.g, graph_find(fx.g, "2000"), &hist);
	assert_string_equal(s, "1000 -> 2000 (core) (branchpoint), msg 2000");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "1000"), &hist);
	assert_string_equal(s, "<base> -> 1000 (core), msg 1000");
	free(s);
	/* inherited labels: Alembic lists a set, here they come in file order */
	s = graph_format(fx.g, graph_find(fx.g, "5000"), &hist);
	assert_string_equal(s, "3000, 4000 -> 5000 (core, feat) (branchpoint) (mergepoint), msg 5000");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "7000"), &hist);
	assert_string_equal(s, "6000 (3000) -> 7000 (other) (head), msg 7000");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "80001"), &heads);
	assert_string_equal(s, "80001 (core, feat) (head)");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "2000"), &verbose);
	assert_string_equal(s, "Rev: 2000 (branchpoint)\nParent: 1000\nBranches into: 3000, 4000\n"
			       "Branch names: core\nPath: versions/2000.sql\n\n    msg 2000\n");
	free(s);
	s = graph_format(fx.g, graph_find(fx.g, "7000"), &verbose);
	assert_string_equal(s, "Rev: 7000 (head)\nParent: 6000\nAlso depends on: 3000\n"
			       "Branch names: other\nPath: versions/7000.sql\n\n    msg 7000\n");
	free(s);
	strlist_push(&cur, "7000");
	hist.head_indicators = 1;
	hist.current = &cur;
	s = graph_format(fx.g, graph_find(fx.g, "7000"), &hist);
	assert_string_equal(s, "6000 (3000) -> 7000 (other) (head) (current), msg 7000");
	free(s);
	strlist_free(&cur);
	fx_free(&fx);

	/* a head that only a dependency keeps from being a real head */
	fx_build(&fx, "aaaa|||\nbbbb|||aaaa\n");
	s = graph_format(fx.g, graph_find(fx.g, "aaaa"), &heads);
	assert_string_equal(s, "aaaa (effective head)");
	free(s);
	fx_free(&fx);
}

static void test_step_desc(void **state)
{
	struct fixture fx = { 0 };
	struct strlist cur = { 0 };
	struct plan p = { 0 };
	struct err e = { 0 };

	(void)state;
	fx_build(&fx, TREE);
	strlist_push(&cur, "3000");
	strlist_push(&cur, "4000");
	assert_int_equal(graph_plan(fx.g, &cur, "5000", DIR_UP, &p, &e), 0);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.steps[0].desc, "3000, 4000 -> 5000, msg 5000");
	assert_int_equal(p.start_heads.n, 2);
	plan_release(&p);
	strlist_free(&cur);
	assert_int_equal(graph_plan(fx.g, &cur, "1000", DIR_UP, &p, &e), 0);
	assert_string_equal(p.steps[0].desc, " -> 1000, msg 1000");
	plan_release(&p);
	fx_free(&fx);
}

/* 100,000 revisions in one line: built, walked and planned without deep
 * recursion, and in linear time: the bound is on the CPU time this process
 * used (a quadratic walk needs minutes of it), so a loaded machine that
 * only delays the test cannot fail it. */
static void test_long_chain(void **state)
{
	struct revision_set set = { 0 };
	struct graph *g = NULL;
	struct err e = { 0 };
	struct revptrs h = { 0 }, hist = { 0 };
	struct strlist cur = { 0 };
	struct plan p = { 0 };
	struct timespec t0, t1;
	size_t n = 100000;
	double secs;

	(void)state;
	set.v = xcalloc(n, sizeof(*set.v));
	set.n = set.alloc = n;
	for (size_t i = 0; i < n; i++) {
		set.v[i].id = xasprintf("r%06zu", i);
		if (i)
			strlist_push(&set.v[i].down, set.v[i - 1].id);
		set.v[i].message = xstrdup("");
		set.v[i].path = xstrdup("p");
	}
	strlist_push(&set.v[0].labels, "main");
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	assert_int_equal(graph_build(&set, &g, &e), 0);
	graph_heads(g, &h);
	assert_int_equal(graph_history(g, NULL, NULL, &hist, &e), 0);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs < 0.5 * SLOWDOWN);
	assert_int_equal(h.n, 1);
	assert_int_equal(hist.n, n);
	assert_string_equal(hist.v[0]->id, "r099999");
	strlist_push(&cur, "r000010");
	assert_int_equal(graph_plan(g, &cur, "main@head", DIR_UP, &p, &e), 0);
	assert_int_equal(p.n, n - 11);
	assert_string_equal(p.end_heads.v[0], "r099999");
	plan_release(&p);
	strlist_free(&cur);
	strlist_push(&cur, "r099999");
	assert_int_equal(graph_plan(g, &cur, "base", DIR_DOWN, &p, &e), 0);
	assert_int_equal(p.n, n);
	assert_int_equal(p.end_heads.n, 0);
	plan_release(&p);
	strlist_free(&cur);
	revptrs_free(&h);
	revptrs_free(&hist);
	graph_free(g);
	set_free(&set);
}

/* ---- stretches: who runs which steps ------------------------------------ */

/* The stretches of `dir target` from heads `cur`, with the revisions in
 * `py` (comma-separated) needing Alembic: "sql 0-1 | alembic 1-3 c | ...";
 * *whole receives graph_stretches' answer. */
static char *cut_plan(struct fixture *fx, const char *cur, enum dir dir, const char *target,
		      const char *py, int *whole)
{
	struct strlist heads = { 0 }, by_alembic = { 0 };
	struct plan p = { 0 };
	struct stretches st;
	struct sbuf b = { 0 };
	struct err e = { 0 };

	strlist_split(&heads, cur, ",");
	strlist_split(&by_alembic, py, ",");
	for (size_t i = 0; i < fx->set.n; i++)
		fx->set.v[i].is_py = strlist_contains(&by_alembic, fx->set.v[i].id);
	if (graph_plan(fx->g, &heads, target, dir, &p, &e) < 0)
		fail_msg("plan %s: %s", target, e.msg);
	*whole = graph_stretches(fx->g, &p, target, &st);
	for (size_t i = 0; i < st.n; i++)
		sbuf_addf(&b, "%s%s %zu-%zu%s%s", i ? " | " : "",
			  st.v[i].runner == RUN_SQL ? "sql" : "alembic", st.v[i].lo, st.v[i].hi,
			  st.v[i].target ? " " : "", st.v[i].target ? st.v[i].target : "");
	stretches_release(&st);
	plan_release(&p);
	strlist_free(&heads);
	strlist_free(&by_alembic);
	return b.buf ? sbuf_detach(&b) : xstrdup("");
}

#define CUT_IS(fx, cur, dir, target, py, want_whole, want)                   \
	do {                                                                  \
		int whole_;                                                   \
		char *got_ = cut_plan((fx), (cur), (dir), (target), (py), &whole_); \
		assert_string_equal(got_, (want));                            \
		assert_int_equal(whole_, (want_whole));                       \
		free(got_);                                                   \
	} while (0)

static void test_stretches_one_runner(void **state)
{
	struct fixture fx = { 0 };

	(void)state;
	fx_build(&fx, "a\nb|a\nc|b\nd|c");
	CUT_IS(&fx, "", DIR_UP, "heads", "", 0, "sql 0-4");
	CUT_IS(&fx, "d", DIR_UP, "heads", "", 0, "sql 0-0");
	/* all Alembic: one stretch, with the user's target as it was */
	CUT_IS(&fx, "", DIR_UP, "+2", "a,b,c,d", 0, "alembic 0-2 +2");
	CUT_IS(&fx, "d", DIR_DOWN, "base", "a,b,c,d", 0, "alembic 0-4 base");
	fx_free(&fx);
}

static void test_stretches_mixed(void **state)
{
	struct fixture fx = { 0 };

	(void)state;
	fx_build(&fx, "a\nb|a\nc|b\nd|c\ne|d");
	/* a linear run of Alembic steps is one target: its last revision */
	CUT_IS(&fx, "", DIR_UP, "heads", "b,c", 0, "sql 0-1 | alembic 1-3 c | sql 3-5");
	CUT_IS(&fx, "", DIR_UP, "heads", "b,d", 0,
	       "sql 0-1 | alembic 1-2 b | sql 2-3 | alembic 3-4 d | sql 4-5");
	/* downgrading, the revision left as the only new head */
	CUT_IS(&fx, "e", DIR_DOWN, "base", "d,c", 0, "sql 0-1 | alembic 1-3 b | sql 3-5");
	CUT_IS(&fx, "e", DIR_DOWN, "base", "b,a", 0, "sql 0-3 | alembic 3-5 base");
	fx_free(&fx);
}

/* A merge: undoing it leaves two heads, which no single Alembic target
 * names; an upgrade of two independent roots is cut in two. */
static void test_stretches_without_a_target(void **state)
{
	struct fixture fx = { 0 };

	(void)state;
	fx_build(&fx, "r\nx|r\ny|r\nm|x,y");
	CUT_IS(&fx, "m", DIR_DOWN, "base", "m", 1, "alembic 0-4 base");
	CUT_IS(&fx, "m", DIR_DOWN, "r", "m", 1, "alembic 0-3 r");
	/* the merge alone, upgrading, is named by its id */
	CUT_IS(&fx, "", DIR_UP, "heads", "m", 0, "sql 0-3 | alembic 3-4 m");
	fx_free(&fx);
	fx_build(&fx, "a\nb\nm|a,b");
	CUT_IS(&fx, "", DIR_UP, "heads", "a,b", 0, "alembic 0-1 b | alembic 1-2 a | sql 2-3");
	fx_free(&fx);
}

/* ---- an upgrade that runs only some pending revisions (--phase expand) -- */

/* The upgrade to heads from `cur` running only the ids of `only`: its
 * add_plan() text, or "error: ..." */
static char *plan_only(struct fixture *fx, const char *cur, const char *only)
{
	struct strlist heads = { 0 }, ids = { 0 };
	struct revptrs keep = { 0 };
	struct plan p = { 0 };
	struct sbuf b = { 0 };
	struct err e = { 0 };

	strlist_split(&heads, cur, ",");
	strlist_split(&ids, only, ",");
	for (size_t i = 0; i < ids.n; i++)
		revptrs_push(&keep, graph_find(fx->g, ids.v[i]));
	if (graph_plan_upgrade_only(fx->g, &heads, &keep, &p, &e) < 0)
		sbuf_addf(&b, "error: %s", e.msg);
	else
		add_plan(&b, &p);
	plan_release(&p);
	revptrs_free(&keep);
	strlist_free(&heads);
	strlist_free(&ids);
	return sbuf_detach(&b);
}

#define ONLY_IS(fx, cur, only, want)                                \
	do {                                                        \
		char *got_ = plan_only((fx), (cur), (only));        \
		assert_string_equal(got_, (want));                  \
		free(got_);                                         \
	} while (0)

/* Every pending revision: the plan of the upgrade to heads, step for step. */
#define SAME_AS_HEADS(fx, cur, only)                                            \
	do {                                                                    \
		struct strlist h_ = { 0 };                                      \
		struct plan p_ = { 0 };                                         \
		struct sbuf b_ = { 0 };                                         \
		struct err e_ = { 0 };                                          \
		strlist_split(&h_, (cur), ",");                                 \
		assert_int_equal(graph_plan((fx)->g, &h_, "heads", DIR_UP, &p_, &e_), 0); \
		add_plan(&b_, &p_);                                             \
		ONLY_IS((fx), (cur), (only), b_.buf);                           \
		sbuf_free(&b_);                                                 \
		plan_release(&p_);                                              \
		strlist_free(&h_);                                              \
	} while (0)

/* Two heads: a contract revision on one branch holds back only that
 * branch; the version table ends at both branches' last applied
 * revisions. */
static void test_plan_only_two_heads(void **state)
{
	struct fixture fx = { 0 };

	(void)state;
	fx_build(&fx, "r\na1|r\na2|a1\na3|a2\nb1|r\nb2|b1");
	ONLY_IS(&fx, "r", "a1,b1,b2",
		"step up b1\n  UPDATE r b1\nstep up b2\n  UPDATE b1 b2\nstep up a1\n"
		"  INSERT a1\nheads a1 b2");
	/* everything: the same plan as the upgrade to heads */
	SAME_AS_HEADS(&fx, "a1,b2", "a2,a3");
	SAME_AS_HEADS(&fx, "r", "a1,a2,a3,b1,b2");
	ONLY_IS(&fx, "a1,b2", "a2,a3", "step up a2\n  UPDATE a1 a2\nstep up a3\n"
					"  UPDATE a2 a3\nheads a3 b2");
	/* nothing at all: an empty plan at the current heads */
	ONLY_IS(&fx, "a1,b2", "", "heads a1 b2");
	/* a revision whose pending parent is held back cannot run */
	ONLY_IS(&fx, "r", "a1,a3",
		"error: revision 'a3' cannot be applied without 'a2', which is held back");
	ONLY_IS(&fx, "a1,b2", "b2", "error: revision 'b2' is not pending: it cannot be applied");
	fx_free(&fx);
}

/* A merge of an expand branch and a held-back one waits: the expand
 * branch is applied up to below the merge, and the database keeps two
 * heads until the contract phase merges them. */
static void test_plan_only_merge_waits(void **state)
{
	struct fixture fx = { 0 };

	(void)state;
	fx_build(&fx, "r\nx|r\ny|r\nm|x,y\nafter|m\ndep|y||x");
	ONLY_IS(&fx, "r", "y",
		"step up y\n  UPDATE r y\nheads y");
	ONLY_IS(&fx, "", "r,y", "step up r\n  INSERT r\nstep up y\n  UPDATE r y\nheads y");
	ONLY_IS(&fx, "r", "y,m", "error: revision 'm' cannot be applied without 'x', which is "
				 "held back");
	ONLY_IS(&fx, "r", "y,dep", "error: revision 'dep' cannot be applied without 'x', which "
				   "is held back");
	/* then the contract phase: the rest, the merge joining both lines */
	ONLY_IS(&fx, "y", "x,m,after,dep",
		"step up x\n  INSERT x\nstep up dep\n  DELETE y\n  UPDATE x dep\n"
		"step up m\n  INSERT m\nstep up after\n  UPDATE m after\nheads after dep");
	SAME_AS_HEADS(&fx, "y", "x,m,after,dep");
	fx_free(&fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_alembic),
		cmocka_unit_test(test_build_basics),
		cmocka_unit_test(test_build_errors),
		cmocka_unit_test(test_unknown_current_head),
		cmocka_unit_test(test_ambiguous_prefix),
		cmocka_unit_test(test_label_propagation),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_step_desc),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_stretches_one_runner),
		cmocka_unit_test(test_stretches_mixed),
		cmocka_unit_test(test_stretches_without_a_target),
		cmocka_unit_test(test_plan_only_two_heads),
		cmocka_unit_test(test_plan_only_merge_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
