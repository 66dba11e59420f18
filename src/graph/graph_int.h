/* graph_int.h - what the files of the revision graph share.
 *
 * Code outside this module (the folder src/graph/) should not include this
 * file: the contract is include/prestart/graph.h.  These are the graph's
 * own representation and the steps its files call in one another, and they
 * may change with them.
 *
 * The module, in the order data flows through it:
 *
 *   graph.c          containers, the working state of a query, building and
 *                    validating the graph, facts about one revision
 *   graph_resolve.c  Alembic's exceptions; revision arguments: identifiers,
 *                    prefixes, labels, relative ids (RevisionMap.get_revisions)
 *   graph_walk.c     upgrade and downgrade targets, the revisions between two
 *                    points, topological order, `current` and history
 *   graph_plan.c     the version-table maintainer (HeadMaintainer) and the
 *                    upgrade, downgrade and stamp plans
 *   graph_stretch.c  a plan cut into stretches, each run by one applier
 *                    (over the public header only)
 *   graph_format.c   one revision as the info commands print it
 *
 * The functions mirror alembic.script.revision.RevisionMap and the parts of
 * ScriptDirectory, MigrationStep and HeadMaintainer that decide what an
 * upgrade, downgrade or stamp does.  Where Alembic walks the graph with
 * repeated ancestor sets (quadratic on long chains), the same answer is
 * computed with counters and pruned searches; where Alembic's answer
 * depends on Python's set iteration order, the declared order is used.
 *
 * Revisions are node indexes into graph.nodes, in the order of the
 * revision_set.  The small helpers below are inline because the walks call
 * them in their inner loops.
 */
#ifndef PRESTART_GRAPH_INT_H
#define PRESTART_GRAPH_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/graph.h"

/* ---- containers -------------------------------------------------------- */

/* A resolved revision value: a node index, None, or the string "base". */
#define RV_NONE (-1)
#define RV_BASE (-2)

struct ivec {
	int *v;
	int n, alloc;
};

static inline void iv_push(struct ivec *a, int x)
{
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 4;
		a->v = xrealloc(a->v, (size_t)a->alloc * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static inline int iv_has(const struct ivec *a, int x)
{
	for (int i = 0; i < a->n; i++)
		if (a->v[i] == x)
			return 1;
	return 0;
}

static inline void iv_push_unique(struct ivec *a, int x)
{
	if (!iv_has(a, x))
		iv_push(a, x);
}

static inline void iv_free(struct ivec *a)
{
	free(a->v);
	a->v = NULL;
	a->n = a->alloc = 0;
}

/* A list of borrowed strings. */
struct plist {
	const char **v;
	int n, alloc;
};

static inline void pl_push(struct plist *l, const char *s)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 4;
		l->v = xrealloc(l->v, (size_t)l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static inline void pl_free(struct plist *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

/* Open-addressing string table: key -> int. */
struct htab {
	const char **keys;
	int *vals;
	size_t cap;
};

static inline uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static inline int ht_get(const struct htab *t, const char *k)
{
	size_t i;

	if (!t->cap || !k)
		return -1;
	i = hash_str(k) & (t->cap - 1);
	while (t->keys[i]) {
		if (!strcmp(t->keys[i], k))
			return t->vals[i];
		i = (i + 1) & (t->cap - 1);
	}
	return -1;
}

/* ---- the graph --------------------------------------------------------- */

struct node {
	const struct revision *rev;
	struct ivec down;    /* _versioned_down_revisions */
	struct ivec rdeps;   /* _resolved_dependencies */
	struct ivec alldown; /* _all_down_revisions */
	struct ivec ndeps;   /* _normalized_resolved_dependencies */
	struct ivec norm;    /* _normalized_down_revisions */
	struct ivec next;    /* nextrev */
	struct ivec allnext; /* _all_nextrev */
	struct ivec labels;  /* branch_labels after propagation (label ids) */
	int topo;            /* position in a topological order, parents first */
};

struct label {
	const char *name;
	int owner;
};

struct graph {
	const struct revision_set *set;
	struct node *nodes;
	int n;
	struct htab ids;
	struct htab labtab; /* label name -> label id */
	struct label *labs;
	int nlabs;
	struct ivec heads, real_heads, bases;
	int *order; /* every revision, parents first */
};

/* The node of a revision (-1 for NULL or one of another set). */
static inline int idx_of(const struct graph *g, const struct revision *r)
{
	if (!r)
		return -1;
	if (r >= g->set->v && r < g->set->v + g->set->n)
		return (int)(r - g->set->v);
	return ht_get(&g->ids, r->id);
}

/* A mark per revision, all clear; free() it. */
static inline unsigned char *new_set(const struct graph *g)
{
	return xcalloc((size_t)g->n + 1, 1);
}

/* ---- Alembic's exceptions (graph_resolve.c) ---------------------------- */

/* The exception classes of alembic.script.revision a query can raise:
 * RevisionError, MultipleHeads, ResolutionError, RangeNotAncestorError. */
enum xkind { X_NONE, X_REV, X_MULTI, X_RES, X_RANGE };

struct xc {
	int kind;
	int script; /* a problem of the scripts or the version table */
	char msg[1024];
	char arg[512];
};

/* Record the exception in *x; returns -1 so that `return xraise(...)` fails. */
__attribute__((format(printf, 4, 5)))
int xraise(struct xc *x, int kind, const char *arg, const char *fmt, ...);

/* ---- the working state of one query (graph.c) -------------------------- */

/* Working state of one query: the graph, the pending exception, scratch
 * strings that live until the query ends, and reusable marks. */
struct gwalk {
	const struct graph *g;
	struct xc x;
	struct strlist tmp;
	unsigned *stamp;
	unsigned gen;
	int *stack;
	size_t nstack, astack;
};

void gwalk_init(struct gwalk *c, const struct graph *g);
void gwalk_release(struct gwalk *c);
/* Keep s (owned) until the query ends; returns it. */
const char *gwalk_keep(struct gwalk *c, char *s);

static inline void push(struct gwalk *c, int v)
{
	xgrow((void **)&c->stack, &c->astack, c->nstack + 1, sizeof(*c->stack));
	c->stack[c->nstack++] = v;
}

/* A fresh generation of c->stamp: no revision is marked with it yet. */
static inline unsigned new_gen(struct gwalk *c)
{
	if (++c->gen == 0) {
		memset(c->stamp, 0, (size_t)c->g->n * sizeof(*c->stamp));
		c->gen = 1;
	}
	return c->gen;
}

/* The edges a walk follows: children by down revisions (nextrev), children
 * by down revisions or dependencies (_all_nextrev), down revisions, and
 * down revisions with the normalized dependencies. */
enum rel { R_NEXT, R_ALLNEXT, R_DOWN, R_NORM };

static inline const struct ivec *rel_of(const struct graph *g, int i, enum rel r)
{
	const struct node *n = &g->nodes[i];

	switch (r) {
	case R_NEXT:
		return &n->next;
	case R_ALLNEXT:
		return &n->allnext;
	case R_DOWN:
		return &n->down;
	default:
		return &n->norm;
	}
}

/* Mark (set[i] = 1) everything reachable from starts along rel, starts
 * included: Alembic's _iterate_related_revisions. */
void gwalk_reach(struct gwalk *c, const int *starts, int n, enum rel r, unsigned char *set);

/* Append the ids of nodes v[0..n) to b, ", " between them. */
void join_ids(const struct graph *g, const int *v, int n, struct sbuf *b);

/* ---- resolving revision arguments (graph_resolve.c) -------------------- */

/* Flags of the walks, each named after the keyword argument of Alembic's
 * it stands for. */
enum walk_flag {
	WALK_INCLUDE_DEPS = 1 << 0, /* include_dependencies: follow depends_on too */
	WALK_NO_OVERWALK = 1 << 1,  /* no_overwalk, assert_relative_length: a
				     * relative id that walks off the graph
				     * fails rather than stopping at its end */
	WALK_INCLUSIVE = 1 << 2,    /* inclusive: the lower revisions too */
	WALK_IMPLICIT_BASE = 1 << 3 /* implicit_base: the lower revisions need
				     * not be ancestors of the upper (they are
				     * the version table of an upgrade) */
};

static inline int truthy(const char *s)
{
	return s && *s;
}

/* An argument that is either one string (Alembic's str or None) or a
 * tuple of strings. */
struct rarg {
	const char *const *v;
	int n;
	int is_str;
};

/* The tuple of the database heads (NULL: none). */
static inline void rarg_of(struct rarg *a, const struct strlist *current)
{
	a->v = (const char *const *)(current ? current->v : NULL);
	a->n = current ? (int)current->n : 0;
	a->is_str = 0;
}

/* Alembic's _relative_destination: (?:(.+?)@)?(\w+)?((?:\+|-)\d+), matched
 * at the start of the string only. */
struct relmatch {
	char *branch, *symbol, *relative;
	long long rel;
};

/* Match s against _relative_destination; on a match, release m with
 * rel_free(). */
int rel_match(const char *s, struct relmatch *m);
void rel_free(struct relmatch *m);

/* RevisionMap.filter_for_lineage over nodes: keep_out[i] set for the
 * targets[i] that share lineage with `check`.  flags: WALK_INCLUDE_DEPS. */
int filter_lineage(struct gwalk *c, const int *targets, int n, const char *check, int flags,
		   unsigned char *keep_out);
/* A branch label (or revision) to its node. */
int resolve_branch(struct gwalk *c, const char *label, int *out);
/* RevisionMap._revision_for_ident: exact id or label, else a unique prefix
 * of four characters or more, checked against a branch when given. */
int revision_for_ident(struct gwalk *c, const char *ident, const char *check_branch, int *out);
/* RevisionMap.get_revisions of one string, of the ids of nodes, of an
 * argument: appends nodes (or RV_NONE, RV_BASE) to out. */
int get_revisions_str(struct gwalk *c, const char *id, struct ivec *out);
int get_revisions_nodes(struct gwalk *c, const int *v, int n, struct ivec *out);
int get_revisions_arg(struct gwalk *c, const struct rarg *a, struct ivec *out);
/* RevisionMap.get_revision: at most one. */
int get_revision(struct gwalk *c, const char *id, int *out);
/* RevisionMap._walk: `steps` up (> 0) or down from start (a node; RV_NONE:
 * from the bases up or the heads down; RV_BASE), on a branch when given.
 * flags: WALK_NO_OVERWALK. */
int walk_relative(struct gwalk *c, int start, long long steps, const char *branch, int flags,
		  int *out);
/* A RevisionError unless v is a node. */
int require_rev(struct gwalk *c, int v);
/* Every database head must name a script: ERR_SCRIPT in *e otherwise. */
int check_current_heads(struct gwalk *c, const struct strlist *current, struct err *e);

/* Which command's wording a range error takes. */
enum anc_msg { ANC_DEFAULT, ANC_UPGRADE, ANC_DOWNGRADE };

/* Alembic's _catch_revision_errors: turn the exception pending in c into
 * the command's message in *e (ERR_SCRIPT when c->x.script, else
 * ERR_USAGE).  am picks the wording of a range error; mh_custom replaces
 * that of multiple heads; start and end are the arguments of a range.
 * Returns -1. */
int catch_revision_errors(struct gwalk *c, struct err *e, enum anc_msg am, const char *mh_custom,
			  const char *start, const char *end);

/* ---- walking (graph_walk.c) -------------------------------------------- */

/* RevisionMap._collect_upgrade_revisions: needs[] marks the revisions
 * between lower and upper; targets gets the upper revisions.  flags:
 * WALK_INCLUSIVE, WALK_IMPLICIT_BASE, WALK_NO_OVERWALK. */
int collect_upgrade(struct gwalk *c, const struct rarg *upper, const struct rarg *lower,
		    int flags, unsigned char *needs, struct ivec *targets);
/* RevisionMap._collect_downgrade_revisions: drop[] marks the revisions
 * above target that the heads `upper` hold; heads gets those heads.
 * flags: WALK_NO_OVERWALK. */
int collect_downgrade(struct gwalk *c, const struct rarg *upper, const char *target, int flags,
		      unsigned char *drop, struct ivec *heads);
/* RevisionMap._topological_sort of the marked revisions todo[], from the
 * heads down: out lists them heads first. */
int topo_sort(struct gwalk *c, const unsigned char *todo, const int *heads, int nheads,
	      struct ivec *out);

#endif
