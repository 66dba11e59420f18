/* ctx_apply_int.h - what the pass (ctx_migrate.c) hands the apply loop below
 * it (ctx_apply.c): one application of a plan, and the answer of a pass
 * that must wait for a primary.  Private to those two files.
 */
#ifndef PRESTART_CTX_APPLY_INT_H
#define PRESTART_CTX_APPLY_INT_H

#include "prestart/ctx.h"

struct archive;
struct ledger;
struct lock;
struct plan;

/* The answer of a pass that found the server turned read-only under it
 * (SQLSTATE 25006, a failover): rolled back, not ready rather than failed;
 * ctx_migrate waits for a primary and starts again (SPEC §7.4).  Not an
 * exit status. */
#define NOT_READY (-1)

/* One application of a plan: what its stretches share. */
struct apply_run {
	struct ctx *c;
	const struct migrate_request *rq;
	const struct ledger *l; /* written with each step; NULL: none */
	const struct archive *arch; /* SPEC §9.3; NULL: none */
	struct lock *lk;        /* held; proven ours before each stretch */
	int may_wait;           /* a read-only failure is NOT_READY */
};

/* Apply plan p (bound) a stretch at a time, in plan order, the lock
 * proven ours before each, each stretch through the applier of its
 * runner.  Returns 0, NOT_READY or an exit status. */
int ctx_apply_plan(struct apply_run *r, const struct plan *p);

#endif
