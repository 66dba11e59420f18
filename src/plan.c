/* plan.c - a plan's memory (plan.h): the graph makes plans, the engine
 * runs them, and neither needs the other to free one. */
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
