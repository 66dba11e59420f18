/* graph.h - the revision graph with Alembic 1.8's semantics (SPEC §3.3).
 *
 * Built from a revision_set (which must outlive the graph).  Mirrors
 * alembic.script.revision.RevisionMap, alembic.script.base.ScriptDirectory
 * (_upgrade_revs, _downgrade_revs, _stamp_revs, walk_revisions) and
 * alembic.runtime.migration (MigrationStep, StampStep, HeadMaintainer):
 * heads, bases, branch points, merge points, depends_on, branch labels,
 * the target grammar of SPEC §1, the order in which upgrades and downgrades
 * walk the graph, and the version-table writes each step makes.  Pure: no
 * I/O.  Lookups by id are hashed so that 100,000 revisions stay fast.
 *
 * Errors: script problems (duplicate id, cycle, unknown down revision or
 * dependency, duplicate branch label) are ERR_SCRIPT and name the revision
 * and its file; a current head no script knows is ERR_SCRIPT; unknown,
 * ambiguous or unreachable targets are ERR_USAGE with Alembic's wording.
 */
#ifndef PRESTART_GRAPH_H
#define PRESTART_GRAPH_H

#include "prestart/plan.h"
#include "prestart/script.h"
#include "prestart/util.h"

struct graph;

/* A list of borrowed revision pointers. */
struct revptrs {
	const struct revision **v;
	size_t n, alloc;
};
void revptrs_push(struct revptrs *l, const struct revision *r);
void revptrs_free(struct revptrs *l);

/* Build and validate the graph. On success *out is a new graph to free with
 * graph_free(). */
int graph_build(const struct revision_set *set, struct graph **out, struct err *e);
void graph_free(struct graph *g);

size_t graph_count(const struct graph *g);

/* Heads, bases and branch points, in Alembic's order (ScriptDirectory
 * get_heads(), get_bases(), and the revisions `alembic branches` lists). */
void graph_heads(const struct graph *g, struct revptrs *out);
/* The heads when dependencies count as down revisions (Alembic's
 * _real_heads, `heads --resolve-dependencies`): a revision another one
 * depends on is no head. */
void graph_real_heads(const struct graph *g, struct revptrs *out);
void graph_bases(const struct graph *g, struct revptrs *out);
void graph_branch_points(const struct graph *g, struct revptrs *out);

/* Facts about one revision, as Alembic's Revision properties. */
int graph_is_head(const struct graph *g, const struct revision *r);
int graph_is_base(const struct graph *g, const struct revision *r);
int graph_is_branch_point(const struct graph *g, const struct revision *r);
int graph_is_merge_point(const struct graph *g, const struct revision *r);
/* Revisions whose down revisions include r (Alembic's nextrev). */
void graph_nextrevs(const struct graph *g, const struct revision *r, struct revptrs *out);

/* What `alembic current` shows for the database heads `heads`
 * (RevisionMap._get_all_current): the heads and their ancestors, dependencies
 * included, reduced to those with no descendant in that set.  A revision a
 * head depends on shows as current too. */
void graph_all_current(const struct graph *g, const struct strlist *heads, struct revptrs *out);

/* Exact id lookup (NULL when unknown). */
const struct revision *graph_find(const struct graph *g, const char *id);

/* Resolve a revision argument as Alembic's get_revisions(): "heads", "head",
 * "base", full ids, unique prefixes, "LABEL@head", "LABEL@REV", "LABEL"
 * alone, and relative forms with `current` (the database's heads; may be
 * NULL when none are known).  "base" yields an empty list. */
int graph_resolve(const struct graph *g, const char *arg, const struct strlist *current,
		  struct revptrs *out, struct err *e);

/* After "Ambiguous walk" (Alembic's words, for a relative target that
 * meets a merge point or a branch point): the same words with where the
 * walk forks and the way out in parentheses.  Any other error is left. */
void graph_explain_walk(const struct graph *g, const char *target, const struct strlist *current,
			struct err *e);

/* Plan `alembic upgrade TARGET` or `alembic downgrade TARGET` from the
 * database heads `current` (plan.h; release with plan_release()).  Each
 * step's runner is RUN_ALEMBIC for a .py revision, else RUN_SQL (a
 * binding step may then give a .py step SQL: compiled.h). */
int graph_plan(const struct graph *g, const struct strlist *current, const char *target,
	       enum dir dir, struct plan *p, struct err *e);
/* Plan the upgrade to heads from `current`, but run only the revisions
 * of `only` (each pending, and with every pending revision it descends
 * from or depends on among them; else ERR_USAGE naming the pair): the
 * version table ends at the heads of that subset, as an upgrade to
 * several targets would leave it.  The expand phase's plan (phase.h). */
int graph_plan_upgrade_only(const struct graph *g, const struct strlist *current,
			    const struct revptrs *only, struct plan *p, struct err *e);
/* Plan `alembic stamp TARGET...` (with --purge: start from no heads). */
int graph_plan_stamp(const struct graph *g, const struct strlist *current,
		     const struct strlist *targets, int purge, struct plan *p, struct err *e);

/* The target to hand to Alembic for a plan computed from the user's
 * `target` (new string, caller frees).  Explicit revision ids where the
 * plan pins them down, so that a relative target ("+1", "-2") cannot be
 * evaluated twice to different places; "heads" and "base" as themselves;
 * the user's string when no single id stands for the plan's end. */
char *graph_alembic_target(const struct plan *p, enum dir dir, const char *target);

/* A run of a plan's steps with one runner: what one applier does. */
struct stretch {
	size_t lo, hi;       /* steps [lo, hi) of the plan */
	enum runner runner;
	char *target;        /* RUN_ALEMBIC: the target to run it with (give it
			      * to graph_alembic_target() with the stretch's
			      * plan_slice); NULL for RUN_SQL */
};
struct stretches {
	struct stretch *v;
	size_t n;
};

/* Cut plan p (made from the user's `target`) into stretches, in plan
 * order, at least one: an empty plan or one all SQL is one SQL stretch, a
 * plan all Alembic one Alembic stretch with `target`.  A run of Alembic
 * steps amid SQL ones is cut into as few stretches as can each be named by
 * one Alembic target that runs exactly those steps from where the stretch
 * starts (checked by planning that target as Alembic would).  Returns 0;
 * or 1 when some Alembic step cannot be given a target of its own: then
 * the whole plan is one Alembic stretch with `target`.  Pure.  Release
 * with stretches_release(). */
int graph_stretches(const struct graph *g, const struct plan *p, const char *target,
		    struct stretches *out);
void stretches_release(struct stretches *s);

/* Revisions for `alembic history -r RANGE` (RANGE NULL for all; forms
 * "A:B", "A:", ":B", with "current" resolved against `current`), newest
 * first, in walk_revisions() order. */
int graph_history(const struct graph *g, const struct strlist *current, const char *range,
		  struct revptrs *out, struct err *e);

/* Alembic's Revision.cmd_format / log_entry text for one revision, as the
 * `history`, `heads`, `branches`, `current` and `show` commands print it
 * (new string, caller frees).  verbose: the log_entry form, which ends with
 * r->doc (a .py revision's whole docstring) or else r->message; otherwise
 * "<down> -> <rev> (head) (branchpoint), message" style with the flags
 * given. */
struct graph_fmt {
	int verbose;
	int include_branches;
	int include_doc;
	int include_parents;
	int tree_indicators;
	int head_indicators;  /* history -i: "(current)" markers */
	const struct strlist *current;
	const char *path;     /* verbose: the Path: line's value; NULL: r->path */
};
char *graph_format(const struct graph *g, const struct revision *r, const struct graph_fmt *f);

#endif
