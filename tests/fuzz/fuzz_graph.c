/* The target grammar over a small fixed graph with a branch, a merge, a
 * second base, labels and a dependency.  Input lines: a target, the
 * database heads (comma-separated), a history range.  Every entry point
 * that takes user text runs: graph_resolve, upgrade, downgrade and stamp
 * plans, history.  A failure must be a usage or script error with a
 * message; a plan's steps must be consistent with its op list. */
#include "fuzz.h"

#include "prestart/graph.h"

/* id|down,down|labels|depends, as the graph unit tests write graphs */
static const char *const spec[] = {
	"r1||", "r2|r1|", "br_a|r2|feature", "br_a2|br_a|", "br_b|r2|",
	"m1|br_a2,br_b|", "r3|m1|", "o1||other", "o2|o1||br_b", "ab12|r3|", "ab34|r3|",
};
#define NSPEC (sizeof(spec) / sizeof(spec[0]))

static struct revision_set set;
static struct graph *g;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct err e = { 0 };

	(void)argc;
	(void)argv;
	set.v = xcalloc(NSPEC, sizeof(*set.v));
	set.n = set.alloc = NSPEC;
	for (size_t i = 0; i < NSPEC; i++) {
		struct revision *r = &set.v[i];
		char *copy = xstrdup(spec[i]);
		const char *f[4] = { copy, "", "", "" };
		int n = 1;

		for (char *p = copy; *p && n < 4; p++)
			if (*p == '|') {
				*p = '\0';
				f[n++] = p + 1;
			}
		r->id = xstrdup(f[0]);
		strlist_split(&r->down, f[1], ",");
		strlist_split(&r->labels, f[2], ",");
		strlist_split(&r->depends, f[3], ",");
		r->message = xasprintf("msg %s", r->id);
		r->path = xasprintf("versions/%s.sql", r->id);
		r->transactional = 1;
		free(copy);
	}
	if (graph_build(&set, &g, &e) < 0) {
		fprintf(stderr, "graph_build: %s\n", e.msg);
		abort();
	}
	return 0;
}

static void check_err(const struct err *e)
{
	FUZZ_CHECK(e->kind == ERR_USAGE || e->kind == ERR_SCRIPT);
	FUZZ_CHECK(e->msg[0] != '\0');
}

static void check_plan(const struct plan *p)
{
	size_t ops = 0;

	for (size_t i = 0; i < p->n; i++) {
		FUZZ_CHECK(p->steps[i].op_first == ops);
		ops += p->steps[i].op_count;
		FUZZ_CHECK(p->steps[i].desc != NULL);
	}
	FUZZ_CHECK(ops == p->n_ops);
	/* A head is a revision, or a row the version table already held: as
	 * Alembic's HeadMaintainer, a row that resolved as a partial id or
	 * label ("o" for label "other") and was not touched stays as it is. */
	for (size_t i = 0; i < p->end_heads.n; i++)
		FUZZ_CHECK(graph_find(g, p->end_heads.v[i]) != NULL ||
			   strlist_contains(&p->start_heads, p->end_heads.v[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char *target = s, *cur = NULL, *range = NULL, *nl;
	struct strlist current = { 0 }, targets = { 0 };
	struct revptrs out = { 0 };
	struct plan p;
	struct err e = { 0 };

	if ((nl = strchr(target, '\n'))) {
		*nl = '\0';
		cur = nl + 1;
		if ((nl = strchr(cur, '\n'))) {
			*nl = '\0';
			range = nl + 1;
		}
	}
	if (cur)
		strlist_split(&current, cur, ",");

	if (graph_resolve(g, target, &current, &out, &e) < 0)
		check_err(&e);
	/* the expand phase's plan: the resolved revisions as the subset to
	 * run (any set: not pending, or missing a parent, is an error) */
	memset(&e, 0, sizeof(e));
	if (graph_plan_upgrade_only(g, &current, &out, &p, &e) == 0)
		check_plan(&p);
	else
		check_err(&e);
	plan_release(&p);
	revptrs_free(&out);

	memset(&e, 0, sizeof(e));
	if (graph_plan(g, &current, target, DIR_UP, &p, &e) == 0)
		check_plan(&p);
	else
		check_err(&e);
	plan_release(&p);

	memset(&e, 0, sizeof(e));
	if (graph_plan(g, &current, target, DIR_DOWN, &p, &e) == 0)
		check_plan(&p);
	else
		check_err(&e);
	plan_release(&p);

	strlist_split(&targets, target, " ");
	memset(&e, 0, sizeof(e));
	if (graph_plan_stamp(g, &current, &targets, size & 1, &p, &e) == 0)
		check_plan(&p);
	else
		check_err(&e);
	plan_release(&p);

	memset(&e, 0, sizeof(e));
	if (graph_history(g, &current, range, &out, &e) < 0)
		check_err(&e);
	revptrs_free(&out);

	strlist_free(&targets);
	strlist_free(&current);
	free(s);
	return 0;
}
