/* The expand phase (SPEC §9.4): the pending revisions classified from the
 * SQL that would run, the subset the expand phase applies planned, the
 * others logged and shown in the status. */
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/log.h"

/* The class of r in the cache, or NULL. */
static const struct phase_class *cached_class(const struct phase_cache *pc,
					      const struct revision *r)
{
	for (size_t i = 0; pc && i < pc->n; i++)
		if (pc->v[i].rev == r)
			return &pc->v[i].cls;
	return NULL;
}

void phase_cache_release(struct phase_cache *pc)
{
	for (size_t i = 0; i < pc->n; i++)
		phase_class_release(&pc->v[i].cls);
	free(pc->v);
	memset(pc, 0, sizeof(*pc));
}

int ctx_phase_split(struct ctx *c, const struct strlist *heads, struct plan *full,
		    struct phase_split *split)
{
	return ctx_phase_split_cached(c, heads, full, split, NULL);
}

int ctx_phase_split_cached(struct ctx *c, const struct strlist *heads, struct plan *full,
			   struct phase_split *split, struct phase_cache *cache)
{
	struct revptrs pending = { 0 };
	struct phase_class *cls;
	int sqlite = c->url.kind == DB_SQLITE, rc = 0;

	memset(split, 0, sizeof(*split));
	if (graph_plan(c->g, heads, "heads", DIR_UP, full, &c->e) < 0)
		return -1;
	/* a .py revision is judged by its compiled SQL when that is fresh */
	if (ctx_bind_plan(c, full, NULL, NULL) < 0) {
		plan_release(full);
		return -1;
	}
	cls = xcalloc(full->n + 1, sizeof(*cls));
	for (size_t i = 0; i < full->n && !rc; i++) {
		const struct plan_step *s = &full->steps[i];
		/* the graph's revision: a bound step points at the compiled one */
		const struct revision *r = graph_find(c->g, s->rev->id);
		const struct revision *run = s->runner == RUN_SQL ? s->rev : r;

		const struct phase_class *known = cached_class(cache, r);

		revptrs_push(&pending, r);
		if (known) {
			cls[i].contract = known->contract;
			cls[i].why = known->why ? xstrdup(known->why) : NULL;
			continue;
		}
		rc = phase_classify_sql(run, run->is_py ? NULL : run->upgrade_sql, run->path,
					run->upgrade_line, sqlite, &cls[i], &c->e);
		if (!rc && cache) {
			struct phase_cached *k;

			xgrow((void **)&cache->v, &cache->alloc, cache->n + 1, sizeof(*cache->v));
			k = &cache->v[cache->n++];
			k->rev = r;
			k->cls.contract = cls[i].contract;
			k->cls.why = cls[i].why ? xstrdup(cls[i].why) : NULL;
		}
	}
	if (!rc)
		phase_expand_split(&pending, cls, split);
	for (size_t i = 0; i < full->n; i++)
		phase_class_release(&cls[i]);
	free(cls);
	revptrs_free(&pending);
	if (rc)
		plan_release(full);
	return rc;
}

/* The one Alembic target that runs exactly p from its start heads: "heads"
 * when nothing is held back, the last step's id when it is the only new
 * head (an upgrade to it runs what it descends from), else NULL. */
static char *target_of(const struct plan *p, const struct phase_split *split)
{
	const struct revision *last = p->n ? p->steps[p->n - 1].rev : NULL;
	size_t fresh = 0;

	if (!split->ndeferred)
		return xstrdup("heads");
	for (size_t i = 0; i < p->end_heads.n; i++)
		fresh += !strlist_contains(&p->start_heads, p->end_heads.v[i]);
	if (last && fresh == 1 && strlist_contains(&p->end_heads, last->id))
		return xstrdup(last->id);
	return NULL;
}

int ctx_plan_expand(struct ctx *c, const struct strlist *heads, struct plan *p)
{
	struct plan full;

	memset(p, 0, sizeof(*p));
	phase_split_release(&c->split);
	free(c->expand_target);
	c->expand_target = NULL;
	if (ctx_phase_split(c, heads, &full, &c->split) < 0)
		return -1;
	plan_release(&full);
	if (graph_plan_upgrade_only(c->g, heads, &c->split.apply, p, &c->e) < 0)
		return -1;
	c->expand_target = target_of(p, &c->split);
	return 0;
}

void ctx_report_deferred(struct ctx *c)
{
	struct strlist ids = { 0 }, whys = { 0 };

	for (size_t i = 0; i < c->split.ndeferred; i++) {
		const struct phase_deferred *d = &c->split.deferred[i];

		log_event(LOG_INFO, "deferred",
			  (struct log_field[]){ LFS("revision", d->rev->id), LFS("reason", d->why),
						{ 0 } },
			  "held back for the contract phase: %s: %s", d->rev->id, d->why);
		strlist_push(&ids, d->rev->id);
		strlist_push(&whys, d->why);
	}
	status_set_deferred(&c->st, &ids, &whys);
	strlist_free(&ids);
	strlist_free(&whys);
}
