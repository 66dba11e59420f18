/* ctx_plan.c - a request's plan from the version table (SPEC §4 steps 4
 * and 5): read the table and plan the request from what it holds, before
 * the lock (the fast path) and again under it.  The plan is not bound: a
 * .py step's runner is decided after, by ctx_bind.c.
 */
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/graph.h"

int ctx_plan_from(struct ctx *c, const struct migrate_request *rq,
		  const struct strlist *heads, struct plan *p)
{
	memset(p, 0, sizeof(*p));
	if (rq->stamp)
		return graph_plan_stamp(c->g, heads, rq->revisions, rq->purge, p, &c->e);
	/* SPEC §9.4: the expand phase's subset (ctx_phase.c) */
	if (rq->expand && rq->dir == DIR_UP)
		return ctx_plan_expand(c, heads, p);
	if (graph_plan(c->g, heads, rq->target, rq->dir, p, &c->e) < 0) {
		graph_explain_walk(c->g, rq->target, heads, &c->e);
		return -1;
	}
	return 0;
}

int ctx_replan(struct ctx *c, const struct migrate_request *rq, unsigned keep,
	       struct strlist *heads, int *marked, struct plan *p)
{
	int rc = ctx_read_heads(c, heads, NULL, marked, keep);

	if (!rc && marked && *marked)
		rc = ctx_check_pending(c, rq->stamp);
	if (!rc && ctx_plan_from(c, rq, heads, p) < 0)
		rc = ctx_fail(c);
	return rc;
}

int ctx_plan_read(struct ctx *c, const struct migrate_request *rq, unsigned flags,
		  const struct db_probe *probe, int *exists, int *marked, struct plan *p)
{
	struct strlist heads = { 0 };
	int rc = ctx_read_heads_probe(c, &heads, exists, marked, flags, probe);

	memset(p, 0, sizeof(*p));
	if (!rc && c->ahead) {
		/* the database is ahead: nothing to plan, at its heads */
		for (size_t i = 0; i < heads.n; i++) {
			strlist_push(&p->start_heads, heads.v[i]);
			strlist_push(&p->end_heads, heads.v[i]);
		}
	} else if (!rc && ctx_plan_from(c, rq, &heads, p) < 0) {
		rc = ctx_fail(c);
	}
	strlist_free(&heads);
	return rc;
}
