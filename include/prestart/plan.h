/* plan.h - what an upgrade, downgrade or stamp will do: the revisions it
 * runs, in order, and the version-table writes of each step.
 *
 * The graph makes plans (graph.h), the database runs them (migrate.h),
 * offline mode prints them (offline.h), and Alembic is handed those with
 * .py steps (delegate.h).  A plan holds no pointer into the graph, only to
 * the revisions of the revision_set (script.h) it was made from, which
 * must outlive it.
 */
#ifndef PRESTART_PLAN_H
#define PRESTART_PLAN_H

#include <stddef.h>

#include "prestart/util.h"

struct revision;

/* Version-table operations, exactly those Alembic's HeadMaintainer
 * performs. */
enum vt_kind { VT_INSERT = 1, VT_UPDATE, VT_DELETE };
struct vt_op {
	enum vt_kind kind;
	char *from; /* UPDATE, DELETE */
	char *to;   /* UPDATE, INSERT */
};

/* The one direction of a step, a plan or a run.  Strings ("upgrade",
 * "downgrade") are for log lines only. */
enum dir { DIR_UP, DIR_DOWN };

/* Who runs a step: prestart, from SQL (a .sql revision, a stamp step, or
 * a .py revision bound to its fresh compiled file: compiled.h), or
 * Alembic (a .py revision without one). */
enum runner { RUN_SQL, RUN_ALEMBIC };

struct plan_step {
	const struct revision *rev; /* the script run; NULL for a stamp step */
	enum dir dir;
	enum runner runner;
	const char *why;            /* RUN_ALEMBIC: why not SQL, or NULL (not
				     * owned: the binder's, compiled.h) */
	size_t op_first, op_count;  /* this step's slice of plan.ops */
	char *desc;                 /* Alembic's short log, e.g. "a -> b, message" */
};

struct plan {
	struct plan_step *steps;
	size_t n, alloc;
	struct vt_op *ops;
	size_t n_ops, ops_alloc;
	struct strlist start_heads; /* the version table before */
	struct strlist end_heads;   /* the version table after all steps */
};

/* Free everything p owns and zero it; a zeroed plan may be released. */
void plan_release(struct plan *p);

/* Apply the version-table operations of steps [lo, hi) of p to heads
 * (the heads before step lo): the heads after step hi - 1. */
void plan_replay(const struct plan *p, size_t lo, size_t hi, struct strlist *heads);

/* Steps [lo, hi) of p as a plan of their own (deep copy, release with
 * plan_release()): their version-table operations, the heads before step
 * lo and after step hi - 1.  Pure (src/plan.c). */
void plan_slice(const struct plan *p, size_t lo, size_t hi, struct plan *out);

#endif
