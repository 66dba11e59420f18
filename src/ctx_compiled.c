/* Plans with .py revisions, run from compiled SQL where it is fresh (SPEC
 * §7.5): the plan is cut into runs of native steps and stretches left to
 * Alembic, applied in plan order under the lock the caller holds. */
#include <stdlib.h>
#include <string.h>

#include "prestart/ctx.h"
#include "prestart/compiled.h"
#include "prestart/delegate.h"
#include "prestart/log.h"

/* Log each revision that has no fresh compiled file; with require_compiled
 * that is an error naming them all. */
static int report_missing(struct ctx *c, const struct plan *p, const struct compiled_run *r)
{
	struct sbuf b = { 0 };
	int refuse = c->cfg.require_compiled;

	for (size_t i = 0; i < p->n; i++) {
		const struct revision *rev = p->steps[i].rev;

		if (!compiled_run_delegated(r, p, i))
			continue;
		/* refused: one error line names them all */
		if (refuse) {
			sbuf_addf(&b, "%s%s (%s) has no fresh compiled SQL: %s", b.len ? "; " : "",
				  rev->id, rev->path, r->found[i].why);
			continue;
		}
		log_event(LOG_INFO, "not_compiled",
			  (struct log_field[]){ LFS("revision", rev->id), LFS("file", rev->path),
						LFS("reason", r->found[i].why), { 0 } },
			  "%s (%s) runs through alembic: %s", rev->id, rev->path, r->found[i].why);
	}
	if (refuse)
		err_set(&c->e, ERR_SCRIPT,
			"require_compiled: %zu revision%s without fresh compiled SQL for %s, "
			"nothing was run: %s (run `prestart compile` where Python and the "
			"project's env.py work)",
			r->missing, r->missing == 1 ? "" : "s", compiled_dialect(c->url.kind), b.buf);
	sbuf_free(&b);
	return refuse ? ctx_fail(c) : 0;
}

/* The one Alembic target that runs exactly the steps of sub (from its
 * start heads), or NULL: checked by planning that target the way Alembic
 * would. */
static char *stretch_target(struct ctx *c, const struct plan *sub, int upgrade)
{
	struct plan q;
	struct err e = { 0 };
	char *t;
	int ok;

	if (upgrade) {
		t = xstrdup(sub->steps[sub->n - 1].rev->id);
	} else {
		t = delegate_target(sub, 0, "");
		if (!*t) {
			free(t);
			return NULL;
		}
	}
	memset(&q, 0, sizeof(q));
	ok = graph_plan(c->g, &sub->start_heads, t, upgrade ? GRAPH_UPGRADE : GRAPH_DOWNGRADE, &q,
			&e) == 0 &&
	     q.n == sub->n && strlist_same_set(&q.end_heads, &sub->end_heads);
	for (size_t i = 0; ok && i < q.n; i++) {
		int found = 0;

		for (size_t k = 0; !found && k < sub->n; k++)
			found = q.steps[i].rev && sub->steps[k].rev &&
				!strcmp(q.steps[i].rev->id, sub->steps[k].rev->id);
		ok = found;
	}
	plan_release(&q);
	if (!ok) {
		free(t);
		return NULL;
	}
	return t;
}

struct piece {
	size_t lo, hi;  /* steps [lo, hi) of the plan */
	char *target;   /* delegated: the Alembic target; NULL: native */
};

/* Cut p into native runs and delegated stretches, each stretch as long as
 * one Alembic target can say.  Returns the number of pieces, or 0 when some
 * delegated step cannot be given a target of its own. */
static size_t cut(struct ctx *c, const struct plan *p, const struct compiled_run *r, int upgrade,
		  struct piece **out)
{
	struct piece *v = NULL;
	size_t n = 0, alloc = 0, i = 0;

	while (i < p->n) {
		int deleg = compiled_run_delegated(r, p, i);
		size_t end = i;

		while (end < p->n && compiled_run_delegated(r, p, end) == deleg)
			end++;
		if (!deleg) {
			xgrow((void **)&v, &alloc, n + 1, sizeof(*v));
			v[n++] = (struct piece){ i, end, NULL };
			i = end;
			continue;
		}
		/* Longest first: a linear stretch is one target. */
		while (i < end) {
			size_t k = end;
			char *t = NULL;

			for (; k > i; k--) {
				struct plan sub;

				compiled_subplan(p, i, k, NULL, &sub);
				t = stretch_target(c, &sub, upgrade);
				plan_release(&sub);
				if (t)
					break;
			}
			if (!t) {
				for (size_t x = 0; x < n; x++)
					free(v[x].target);
				free(v);
				return 0;
			}
			xgrow((void **)&v, &alloc, n + 1, sizeof(*v));
			v[n++] = (struct piece){ i, k, t };
			i = k;
		}
	}
	*out = v;
	return n;
}

int ctx_compiled_apply(struct ctx *c, const struct plan *p, enum move how, const char *target,
		       int may_wait, const struct ledger *l, struct lock *lk)
{
	const char *verb = how == MOVE_UP ? "upgrade" : "downgrade";
	char *dir = compiled_dir(c->cfg.script_location);
	struct compiled_run r;
	struct piece *pieces = NULL;
	struct plan sub;
	size_t n = 0;
	int rc = 0;

	if (compiled_run_find(&r, dir, c->url.kind, p, &c->e) < 0) {
		free(dir);
		return ctx_fail(c);
	}
	free(dir);
	/* With nothing compiled there is nothing to say per revision, unless
	 * that is an error. */
	if (r.missing && (r.fresh || c->cfg.require_compiled) && (rc = report_missing(c, p, &r)))
		goto out;
	if (!r.fresh) {
		/* Nothing compiled: Alembic runs the plan as it always has. */
		rc = ctx_delegate_plan(c, p, how, target, l);
		goto out;
	}
	if (!r.missing) {
		compiled_subplan(p, 0, p->n, &r, &sub);
		rc = ctx_apply_plan(c, &sub, verb, may_wait, l, lk);
		plan_release(&sub);
		goto out;
	}
	n = cut(c, p, &r, how == MOVE_UP, &pieces);
	if (!n) {
		log_event(LOG_INFO, "not_compiled", NULL,
			  "the revisions without compiled SQL cannot be run apart from the others: "
			  "alembic runs the whole %s", verb);
		rc = ctx_delegate_plan(c, p, how, target, l);
		goto out;
	}
	log_event(LOG_INFO, "compiled_plan",
		  (struct log_field[]){ LFI("steps", p->n), LFI("compiled", r.fresh),
					LFI("alembic", r.missing), LFI("runs", n), { 0 } },
		  "%s of %zu step%s: %zu from compiled SQL, %zu through alembic, in %zu run%s", verb,
		  p->n, p->n == 1 ? "" : "s", r.fresh, r.missing, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n && !rc; i++) {
		compiled_subplan(p, pieces[i].lo, pieces[i].hi, pieces[i].target ? NULL : &r, &sub);
		rc = pieces[i].target ? ctx_delegate_plan(c, &sub, how, pieces[i].target, l)
				      : ctx_apply_plan(c, &sub, verb, may_wait, l, lk);
		plan_release(&sub);
	}
out:
	for (size_t i = 0; i < n; i++)
		free(pieces[i].target);
	free(pieces);
	compiled_run_release(&r);
	return rc;
}

int ctx_compiled_offline(struct ctx *c, const struct plan *p, struct compiled_run *run,
			 struct plan *native, int *ready)
{
	char *dir = compiled_dir(c->cfg.script_location);
	int rc;

	*ready = 0;
	rc = compiled_run_find(run, dir, c->url.kind, p, &c->e);
	free(dir);
	if (rc < 0)
		return ctx_fail(c);
	if (run->missing || !run->fresh) {
		rc = run->missing && c->cfg.require_compiled ? report_missing(c, p, run) : 0;
		compiled_run_release(run);
		return rc;
	}
	compiled_subplan(p, 0, p->n, run, native);
	*ready = 1;
	return 0;
}
