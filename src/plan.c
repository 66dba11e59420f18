/* plan.c - a plan's memory (plan.h): the graph makes plans, the engine
 * runs them, and neither needs the other to free one or to cut a slice of
 * one (plan_slice). */
#include "prestart/plan.h"

#include <stdlib.h>
#include <string.h>

void plan_release(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->steps[i].desc);
	free(p->steps);
	for (size_t i = 0; i < p->n_ops; i++) {
		free(p->ops[i].from);
		free(p->ops[i].to);
	}
	free(p->ops);
	strlist_free(&p->start_heads);
	strlist_free(&p->end_heads);
	memset(p, 0, sizeof(*p));
}

/* Apply the version-table operations of steps [lo, hi) to heads. */
static void replay(const struct plan *p, size_t lo, size_t hi, struct strlist *heads)
{
	for (size_t i = lo; i < hi; i++) {
		const struct plan_step *s = &p->steps[i];

		for (size_t k = 0; k < s->op_count; k++) {
			const struct vt_op *op = &p->ops[s->op_first + k];

			for (size_t h = 0; op->kind != VT_INSERT && h < heads->n; h++) {
				if (strcmp(heads->v[h], op->from))
					continue;
				free(heads->v[h]);
				if (op->kind == VT_UPDATE) {
					heads->v[h] = xstrdup(op->to);
				} else {
					memmove(&heads->v[h], &heads->v[h + 1],
						(heads->n - h) * sizeof(*heads->v));
					heads->n--;
				}
				break;
			}
			if (op->kind == VT_INSERT)
				strlist_push(heads, op->to);
		}
	}
}

void plan_slice(const struct plan *p, size_t lo, size_t hi, struct plan *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < p->start_heads.n; i++)
		strlist_push(&out->start_heads, p->start_heads.v[i]);
	replay(p, 0, lo, &out->start_heads);
	for (size_t i = 0; i < out->start_heads.n; i++)
		strlist_push(&out->end_heads, out->start_heads.v[i]);
	replay(p, lo, hi, &out->end_heads);
	for (size_t i = lo; i < hi; i++) {
		const struct plan_step *s = &p->steps[i];
		struct plan_step *d;

		xgrow((void **)&out->steps, &out->alloc, out->n + 1, sizeof(*out->steps));
		d = &out->steps[out->n++];
		*d = *s;
		d->desc = s->desc ? xstrdup(s->desc) : NULL;
		d->op_first = out->n_ops;
		for (size_t k = 0; k < s->op_count; k++) {
			const struct vt_op *op = &p->ops[s->op_first + k];
			struct vt_op *o;

			xgrow((void **)&out->ops, &out->ops_alloc, out->n_ops + 1, sizeof(*out->ops));
			o = &out->ops[out->n_ops++];
			o->kind = op->kind;
			o->from = op->from ? xstrdup(op->from) : NULL;
			o->to = op->to ? xstrdup(op->to) : NULL;
		}
	}
}

void plan_replay(const struct plan *p, size_t lo, size_t hi, struct strlist *heads)
{
	replay(p, lo, hi, heads);
}
