/* graph_stretch.c - a plan cut into stretches, each run by one applier
 * (SPEC §3.2, §7.5): prestart runs the SQL steps, Alembic the others, a
 * run of them at a time, each named by one Alembic target.  Pure: planning
 * only, no I/O.
 *
 *   graph_alembic_target  the target that says a plan's end to Alembic
 *   graph_stretches       the cut
 */
#include "prestart/graph.h"

#include <stdlib.h>
#include <string.h>

char *graph_alembic_target(const struct plan *p, enum dir dir, const char *target)
{
	struct strlist fresh = { 0 };
	char *r = NULL;

	if (!strcmp(target, "heads") || !strcmp(target, "base"))
		return xstrdup(target);
	if (dir == DIR_UP) {
		/* Alembic walks a single destination last: everything else the
		 * plan runs is among its ancestors or dependencies. */
		const struct revision *last = p->n ? p->steps[p->n - 1].rev : NULL;

		if (last && strlist_contains(&p->end_heads, last->id))
			return xstrdup(last->id);
		return xstrdup(target);
	}
	if (p->end_heads.n == 0)
		return xstrdup("base");
	for (size_t i = 0; i < p->end_heads.n; i++)
		if (!strlist_contains(&p->start_heads, p->end_heads.v[i]))
			strlist_push(&fresh, p->end_heads.v[i]);
	/* A downgrade to one revision leaves it as the only new head; when
	 * more appear (a merge undone) or none (a branch removed whole), no
	 * single id says the same thing. */
	r = xstrdup(fresh.n == 1 ? fresh.v[0] : target);
	strlist_free(&fresh);
	return r;
}

/* The one Alembic target that runs exactly the steps of sub (from its
 * start heads), or NULL: checked by planning that target the way Alembic
 * would. */
static char *stretch_target(const struct graph *g, const struct plan *sub, enum dir dir)
{
	struct plan q;
	struct err e = { 0 };
	struct strmap ids = { 0 };
	char *t;
	int ok;

	if (dir == DIR_UP) {
		t = xstrdup(sub->steps[sub->n - 1].rev->id);
	} else {
		t = graph_alembic_target(sub, DIR_DOWN, "");
		if (!*t) {
			free(t);
			return NULL;
		}
	}
	memset(&q, 0, sizeof(q));
	ok = graph_plan(g, &sub->start_heads, t, dir, &q, &e) == 0 && q.n == sub->n &&
	     strlist_same_set(&q.end_heads, &sub->end_heads);
	/* every step of q is one of sub's (the keys are the revisions') */
	for (size_t k = 0; ok && k < sub->n; k++)
		if (sub->steps[k].rev)
			strmap_put(&ids, sub->steps[k].rev->id, 1);
	for (size_t i = 0; ok && i < q.n; i++)
		ok = q.steps[i].rev && strmap_get(&ids, q.steps[i].rev->id) >= 0;
	strmap_free(&ids);
	plan_release(&q);
	if (!ok) {
		free(t);
		return NULL;
	}
	return t;
}

static void push(struct stretches *s, size_t *alloc, size_t lo, size_t hi, enum runner runner,
		 char *target)
{
	xgrow((void **)&s->v, alloc, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = (struct stretch){ lo, hi, runner, target };
}

int graph_stretches(const struct graph *g, const struct plan *p, const char *target,
		    struct stretches *out)
{
	size_t alloc = 0, i = 0, alembic = 0;

	memset(out, 0, sizeof(*out));
	for (size_t k = 0; k < p->n; k++)
		alembic += p->steps[k].runner == RUN_ALEMBIC;
	if (!alembic || alembic == p->n) {
		push(out, &alloc, 0, p->n, alembic ? RUN_ALEMBIC : RUN_SQL,
		     alembic ? xstrdup(target) : NULL);
		return 0;
	}
	while (i < p->n) {
		enum runner runner = p->steps[i].runner;
		size_t end = i;

		while (end < p->n && p->steps[end].runner == runner)
			end++;
		if (runner == RUN_SQL) {
			push(out, &alloc, i, end, RUN_SQL, NULL);
			i = end;
			continue;
		}
		/* Longest first: a linear stretch is one target. */
		while (i < end) {
			size_t k = end;
			char *t = NULL;

			for (; k > i; k--) {
				struct plan sub;

				plan_slice(p, i, k, &sub);
				t = stretch_target(g, &sub, p->steps[i].dir);
				plan_release(&sub);
				if (t)
					break;
			}
			if (!t) {
				stretches_release(out);
				alloc = 0;
				push(out, &alloc, 0, p->n, RUN_ALEMBIC, xstrdup(target));
				return 1;
			}
			push(out, &alloc, i, k, RUN_ALEMBIC, t);
			i = k;
		}
	}
	return 0;
}

void stretches_release(struct stretches *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].target);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
