/* phase.h - rollouts in two phases (SPEC §9.4): which revisions break the
 * previous application version (contract) and which pending revisions the
 * expand phase may apply.  Pure: no I/O; the analysis (analysis.h) and the
 * revision headers (revision.h) are its inputs.
 */
#ifndef PRESTART_PHASE_H
#define PRESTART_PHASE_H

#include "prestart/analysis.h"
#include "prestart/graph.h"
#include "prestart/revision.h"

/* A revision's class and why: "path:line: -- Phase: contract",
 * "path:line: contract statement: ALTER TABLE users DROP COLUMN fax", ... */
struct phase_class {
	int contract; /* 1: it waits for the contract phase */
	char *why;    /* owned; phase_class_release() frees it */
};

/* The class of r.  Contract when its header says `-- Phase: contract` /
 * `prestart_phase = "contract"` or `-- Compat: breaking`, else when a
 * statement of `an` is contract or data-loss, unless the header says
 * `-- Phase: expand`.  an is the analysis of `sql` (the upgrade SQL that
 * runs: the revision's, or a .py revision's compiled SQL), whose first line
 * is first_line in `path`; an == NULL: not analysed (a .py revision without
 * compiled SQL), expand unless marked. */
void phase_classify(const struct revision *r, const struct an_script *an, const char *sql,
		    const char *path, int first_line, struct phase_class *out);
void phase_class_release(struct phase_class *c);

/* phase_classify() on the analysis of sql: PostgreSQL's parser, or the
 * token-level reading when sqlite.  sql == NULL: not analysed.  Fails
 * (ERR_SCRIPT, "path:line:col: ...") only when sql does not split; *out
 * is then empty. */
int phase_classify_sql(const struct revision *r, const char *sql, const char *path,
		       int first_line, int sqlite, struct phase_class *out, struct err *e);

struct phase_deferred {
	const struct revision *rev;
	char *why; /* owned */
};

struct phase_split {
	struct revptrs apply;            /* the expand phase's revisions, in order */
	struct phase_deferred *deferred; /* the others, in order, with why */
	size_t ndeferred, alloc;
};

/* Split the pending revisions (in apply order: each after every pending
 * revision it descends from or depends on) for the expand phase: a
 * revision applies when it is not contract (cls[i] is pending->v[i]'s) and
 * descends from, or depends on, no deferred one.  Branches that do not
 * descend from a contract revision are not held back.  Free *out with
 * phase_split_release(). */
void phase_expand_split(const struct revptrs *pending, const struct phase_class *cls,
			struct phase_split *out);
void phase_split_release(struct phase_split *s);

#endif
