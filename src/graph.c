/* graph.c - the revision graph with Alembic 1.8's semantics.
 *
 * The functions below mirror alembic.script.revision.RevisionMap and the
 * parts of ScriptDirectory, MigrationStep and HeadMaintainer that decide
 * what an upgrade, downgrade or stamp does.  Where Alembic walks the graph
 * with repeated ancestor sets (quadratic on long chains), the same answer is
 * computed with counters and pruned searches; where Alembic's answer depends
 * on Python's set iteration order, the declared order is used.
 */
#include "prestart/graph.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A resolved revision value: a node index, None, or the string "base". */
#define RV_NONE (-1)
#define RV_BASE (-2)

struct ivec {
	int *v;
	int n, alloc;
};

static void iv_push(struct ivec *a, int x)
{
	if (a->n == a->alloc) {
		a->alloc = a->alloc ? a->alloc * 2 : 4;
		a->v = xrealloc(a->v, (size_t)a->alloc * sizeof(*a->v));
	}
	a->v[a->n++] = x;
}

static int iv_has(const struct ivec *a, int x)
{
	for (int i = 0; i < a->n; i++)
		if (a->v[i] == x)
			return 1;
	return 0;
}

static void iv_push_unique(struct ivec *a, int x)
{
	if (!iv_has(a, x))
		iv_push(a, x);
}

static void iv_free(struct ivec *a)
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

static void pl_push(struct plist *l, const char *s)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 4;
		l->v = xrealloc(l->v, (size_t)l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static void pl_free(struct plist *l)
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

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void ht_init(struct htab *t, size_t n)
{
	t->cap = 16;
	while (t->cap < n * 2 + 1)
		t->cap *= 2;
	t->keys = xcalloc(t->cap, sizeof(*t->keys));
	t->vals = xcalloc(t->cap, sizeof(*t->vals));
}

static int ht_get(const struct htab *t, const char *k)
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

/* Insert k unless present; returns the existing value or -1. */
static int ht_put(struct htab *t, const char *k, int v)
{
	size_t i = hash_str(k) & (t->cap - 1);

	while (t->keys[i]) {
		if (!strcmp(t->keys[i], k))
			return t->vals[i];
		i = (i + 1) & (t->cap - 1);
	}
	t->keys[i] = k;
	t->vals[i] = v;
	return -1;
}

static void ht_free(struct htab *t)
{
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

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

/* ---- revptrs ---------------------------------------------------------- */

void revptrs_push(struct revptrs *l, const struct revision *r)
{
	xgrow((void **)&l->v, &l->alloc, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = r;
}

void revptrs_free(struct revptrs *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

/* ---- Alembic's exceptions ---------------------------------------------- */

enum xkind { X_NONE, X_REV, X_MULTI, X_RES, X_RANGE };

struct xc {
	int kind;
	int script; /* a problem of the scripts or the version table */
	char msg[1024];
	char arg[512];
};

__attribute__((format(printf, 4, 5)))
static int xraise(struct xc *x, int kind, const char *arg, const char *fmt, ...)
{
	va_list ap;

	x->kind = kind;
	snprintf(x->arg, sizeof(x->arg), "%s", arg ? arg : "");
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* Working state of one query: the graph, the pending exception, scratch
 * strings that live until the query ends, and reusable marks. */
struct ctx {
	const struct graph *g;
	struct xc x;
	struct strlist tmp;
	unsigned *stamp;
	unsigned gen;
	int *stack;
	size_t nstack, astack;
};

static void ctx_init(struct ctx *c, const struct graph *g)
{
	memset(c, 0, sizeof(*c));
	c->g = g;
	c->stamp = xcalloc((size_t)g->n + 1, sizeof(*c->stamp));
}

static void ctx_release(struct ctx *c)
{
	strlist_free(&c->tmp);
	free(c->stamp);
	free(c->stack);
}

static const char *keep(struct ctx *c, char *s)
{
	strlist_push_owned(&c->tmp, s);
	return s;
}

static void push(struct ctx *c, int v)
{
	xgrow((void **)&c->stack, &c->astack, c->nstack + 1, sizeof(*c->stack));
	c->stack[c->nstack++] = v;
}

static unsigned new_gen(struct ctx *c)
{
	if (++c->gen == 0) {
		memset(c->stamp, 0, (size_t)c->g->n * sizeof(*c->stamp));
		c->gen = 1;
	}
	return c->gen;
}

enum rel { R_NEXT, R_ALLNEXT, R_DOWN, R_NORM };

static const struct ivec *rel_of(const struct graph *g, int i, enum rel r)
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
static void reach(struct ctx *c, const int *starts, int n, enum rel r, unsigned char *set)
{
	c->nstack = 0;
	for (int i = 0; i < n; i++)
		if (starts[i] >= 0 && !set[starts[i]]) {
			set[starts[i]] = 1;
			push(c, starts[i]);
		}
	while (c->nstack) {
		const struct ivec *e = rel_of(c->g, c->stack[--c->nstack], r);
		for (int j = 0; j < e->n; j++)
			if (!set[e->v[j]]) {
				set[e->v[j]] = 1;
				push(c, e->v[j]);
			}
	}
}

static unsigned char *new_set(const struct graph *g)
{
	return xcalloc((size_t)g->n + 1, 1);
}

/* ---- building ---------------------------------------------------------- */

static const char *revpath(const struct revision *r)
{
	return r->path ? r->path : r->id;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fail_cycle(struct graph *g, const char *kind, const unsigned char *left, struct err *e)
{
	struct strlist ids = { 0 };
	char *s;
	int first = -1;

	for (int i = 0; i < g->n; i++)
		if (left[i])
			strlist_push(&ids, g->nodes[i].rev->id);
	qsort(ids.v, ids.n, sizeof(*ids.v), cmp_strp);
	/* sorted ids: name the file of the first one */
	for (int i = 0; i < g->n && ids.n; i++)
		if (left[i] && !strcmp(g->nodes[i].rev->id, ids.v[0]))
			first = i;
	s = strlist_join(&ids, ", ");
	err_set(e, ERR_SCRIPT, "%s: %s is detected in revisions (%s)",
		first >= 0 ? revpath(g->nodes[first].rev) : "?", kind, s);
	free(s);
	strlist_free(&ids);
	return -1;
}

/* Kahn's algorithm over `down` (versioned) or `alldown`; on a cycle, report
 * the revisions on or between cycles. */
static int check_cycles(struct graph *g, int all, struct err *e)
{
	int n = g->n, *indeg = xcalloc((size_t)n + 1, sizeof(int));
	int *queue = xmalloc(((size_t)n + 1) * sizeof(int)), qh = 0, qt = 0;
	unsigned char *left;
	int rc = 0;

	for (int i = 0; i < n; i++) {
		const struct ivec *d = all ? &g->nodes[i].alldown : &g->nodes[i].down;
		indeg[i] = d->n;
		if (!d->n)
			queue[qt++] = i;
	}
	while (qh < qt) {
		int i = queue[qh++];
		const struct ivec *nx = all ? &g->nodes[i].allnext : &g->nodes[i].next;
		if (all) {
			g->nodes[i].topo = qh;
			g->order[qh - 1] = i;
		}
		for (int j = 0; j < nx->n; j++)
			if (--indeg[nx->v[j]] == 0)
				queue[qt++] = nx->v[j];
	}
	if (qt < n) {
		/* Drop the revisions that merely descend from a cycle. */
		int changed = 1;
		left = new_set(g);
		for (int i = 0; i < n; i++)
			left[i] = indeg[i] > 0;
		while (changed) {
			changed = 0;
			for (int i = 0; i < n; i++) {
				const struct ivec *nx;
				int any = 0;
				if (!left[i])
					continue;
				nx = all ? &g->nodes[i].allnext : &g->nodes[i].next;
				for (int j = 0; j < nx->n && !any; j++)
					any = left[nx->v[j]];
				if (!any) {
					left[i] = 0;
					changed = 1;
				}
			}
		}
		rc = fail_cycle(g, all ? "dependency cycle" : "cycle", left, e);
		free(left);
	}
	free(indeg);
	free(queue);
	return rc;
}

static void add_label(struct node *nd, int lab)
{
	iv_push_unique(&nd->labels, lab);
}

/* Alembic's _add_branches: a revision's labels go to all its descendants;
 * when those form a plain line, they also go down from its tip through
 * the revision to its ancestors until a branch point or merge point. */
static void propagate_labels(struct graph *g, struct ctx *c)
{
	unsigned char *in = new_set(g);
	int *list = xmalloc(((size_t)g->n + 1) * sizeof(int));

	/* a revision's own labels come first when listed */
	for (int r = 0; r < g->n; r++)
		for (size_t k = 0; k < g->nodes[r].rev->labels.n; k++)
			add_label(&g->nodes[r], ht_get(&g->labtab, g->nodes[r].rev->labels.v[k]));
	for (int r = 0; r < g->n; r++) {
		const struct strlist *own = &g->nodes[r].rev->labels;
		int nl = 0, tip = r, chain = 1;
		struct ivec labs = { 0 };

		if (!own->n)
			continue;
		for (size_t k = 0; k < own->n; k++)
			iv_push_unique(&labs, ht_get(&g->labtab, own->v[k]));
		c->nstack = 0;
		push(c, r);
		in[r] = 1;
		while (c->nstack) {
			int i = c->stack[--c->nstack];
			const struct ivec *nx = &g->nodes[i].next;
			list[nl++] = i;
			if (nx->n > 1)
				chain = 0;
			if (!nx->n)
				tip = i;
			for (int j = 0; j < nx->n; j++)
				if (!in[nx->v[j]]) {
					in[nx->v[j]] = 1;
					push(c, nx->v[j]);
				}
		}
		for (int k = 0; k < nl; k++) {
			for (int j = 0; j < labs.n; j++)
				add_label(&g->nodes[list[k]], labs.v[j]);
			in[list[k]] = 0;
		}
		if (chain) {
			int p = tip;
			while (p >= 0 && g->nodes[p].allnext.n <= 1 && g->nodes[p].down.n <= 1) {
				for (int j = 0; j < labs.n; j++)
					add_label(&g->nodes[p], labs.v[j]);
				p = g->nodes[p].down.n ? g->nodes[p].down.v[0] : -1;
			}
		}
		iv_free(&labs);
	}
	free(in);
	free(list);
}

/* Alembic's _normalize_depends_on: drop dependencies that an ancestor (by
 * down revisions) already depends on.  Only revisions placed after the
 * earliest dependency can depend on it, which bounds the search. */
static void normalize_deps(struct graph *g, struct ctx *c)
{
	unsigned char *drop = new_set(g);

	for (int r = 0; r < g->n; r++) {
		struct node *nd = &g->nodes[r];
		int mintopo = INT_MAX, left;
		unsigned gen;

		if (!nd->rdeps.n) {
			for (int j = 0; j < nd->down.n; j++)
				iv_push(&nd->norm, nd->down.v[j]);
			continue;
		}
		for (int j = 0; j < nd->rdeps.n; j++) {
			int t = g->nodes[nd->rdeps.v[j]].topo;
			if (t < mintopo)
				mintopo = t;
		}
		left = nd->rdeps.n;
		gen = new_gen(c);
		c->nstack = 0;
		c->stamp[r] = gen;
		for (int j = 0; j < nd->down.n; j++)
			if (c->stamp[nd->down.v[j]] != gen) {
				c->stamp[nd->down.v[j]] = gen;
				push(c, nd->down.v[j]);
			}
		while (c->nstack && left > 0) {
			int i = c->stack[--c->nstack];
			const struct node *a = &g->nodes[i];
			if (a->topo <= mintopo)
				continue;
			for (int j = 0; j < a->rdeps.n; j++)
				if (iv_has(&nd->rdeps, a->rdeps.v[j]) && !drop[a->rdeps.v[j]]) {
					drop[a->rdeps.v[j]] = 1;
					left--;
				}
			for (int j = 0; j < a->down.n; j++)
				if (c->stamp[a->down.v[j]] != gen) {
					c->stamp[a->down.v[j]] = gen;
					push(c, a->down.v[j]);
				}
		}
		for (int j = 0; j < nd->rdeps.n; j++) {
			if (!drop[nd->rdeps.v[j]])
				iv_push_unique(&nd->ndeps, nd->rdeps.v[j]);
		}
		for (int j = 0; j < nd->rdeps.n; j++)
			drop[nd->rdeps.v[j]] = 0;
		for (int j = 0; j < nd->down.n; j++)
			iv_push_unique(&nd->norm, nd->down.v[j]);
		for (int j = 0; j < nd->ndeps.n; j++)
			iv_push_unique(&nd->norm, nd->ndeps.v[j]);
	}
	free(drop);
}

int graph_build(const struct revision_set *set, struct graph **out, struct err *e)
{
	struct graph *g = xcalloc(1, sizeof(*g));
	struct ctx c;
	size_t nlab = 0;

	*out = NULL;
	g->set = set;
	g->n = (int)set->n;
	g->nodes = xcalloc((size_t)g->n + 1, sizeof(*g->nodes));
	g->order = xcalloc((size_t)g->n + 1, sizeof(int));
	ht_init(&g->ids, (size_t)g->n);
	for (int i = 0; i < g->n; i++) {
		const struct revision *r = &set->v[i];
		int old;
		g->nodes[i].rev = r;
		nlab += r->labels.n;
		old = ht_put(&g->ids, r->id, i);
		if (old >= 0) {
			err_set(e, ERR_SCRIPT, "%s: revision id '%s' is already used by %s",
				revpath(r), r->id, revpath(&set->v[old]));
			graph_free(g);
			return -1;
		}
	}
	/* Branch labels share the id namespace, as in Alembic's map. */
	ht_init(&g->labtab, nlab);
	g->labs = xcalloc(nlab + 1, sizeof(*g->labs));
	for (int i = 0; i < g->n; i++) {
		const struct revision *r = &set->v[i];
		for (size_t k = 0; k < r->labels.n; k++) {
			const char *l = r->labels.v[k];
			int other = ht_get(&g->ids, l);
			int lab = ht_get(&g->labtab, l);
			if (lab >= 0)
				other = g->labs[lab].owner;
			if (other >= 0) {
				err_set(e, ERR_SCRIPT,
					"%s: branch name '%s' in revision %s already used by revision %s",
					revpath(r), l, r->id, set->v[other].id);
				graph_free(g);
				return -1;
			}
			g->labs[g->nlabs].name = l;
			g->labs[g->nlabs].owner = i;
			ht_put(&g->labtab, l, g->nlabs++);
		}
	}
	for (int i = 0; i < g->n; i++) {
		const struct revision *r = &set->v[i];
		struct node *nd = &g->nodes[i];
		for (size_t k = 0; k < r->down.n; k++) {
			int d = ht_get(&g->ids, r->down.v[k]);
			if (d < 0) {
				err_set(e, ERR_SCRIPT, "%s: revision %s revises '%s', which is not present",
					revpath(r), r->id, r->down.v[k]);
				graph_free(g);
				return -1;
			}
			iv_push(&nd->down, d);
		}
		for (size_t k = 0; k < r->depends.n; k++) {
			int d = ht_get(&g->ids, r->depends.v[k]);
			if (d < 0) {
				int lab = ht_get(&g->labtab, r->depends.v[k]);
				if (lab >= 0)
					d = g->labs[lab].owner;
			}
			if (d < 0) {
				err_set(e, ERR_SCRIPT,
					"%s: revision %s depends on '%s', which is not present",
					revpath(r), r->id, r->depends.v[k]);
				graph_free(g);
				return -1;
			}
			iv_push(&nd->rdeps, d);
		}
		for (int k = 0; k < nd->down.n; k++)
			iv_push_unique(&nd->alldown, nd->down.v[k]);
		for (int k = 0; k < nd->rdeps.n; k++)
			iv_push_unique(&nd->alldown, nd->rdeps.v[k]);
	}
	for (int i = 0; i < g->n; i++) {
		struct node *nd = &g->nodes[i];
		for (int k = 0; k < nd->alldown.n; k++) {
			struct node *d = &g->nodes[nd->alldown.v[k]];
			iv_push_unique(&d->allnext, i);
			if (iv_has(&nd->down, nd->alldown.v[k]))
				iv_push_unique(&d->next, i);
		}
	}
	if (check_cycles(g, 0, e) < 0 || check_cycles(g, 1, e) < 0) {
		graph_free(g);
		return -1;
	}
	for (int i = 0; i < g->n; i++) {
		struct node *nd = &g->nodes[i];
		if (!nd->next.n)
			iv_push(&g->heads, i);
		if (!nd->allnext.n)
			iv_push(&g->real_heads, i);
		if (!nd->down.n)
			iv_push(&g->bases, i);
	}
	ctx_init(&c, g);
	normalize_deps(g, &c);
	propagate_labels(g, &c);
	ctx_release(&c);
	*out = g;
	return 0;
}

void graph_free(struct graph *g)
{
	if (!g)
		return;
	for (int i = 0; i < g->n; i++) {
		struct node *nd = &g->nodes[i];
		iv_free(&nd->down);
		iv_free(&nd->rdeps);
		iv_free(&nd->alldown);
		iv_free(&nd->ndeps);
		iv_free(&nd->norm);
		iv_free(&nd->next);
		iv_free(&nd->allnext);
		iv_free(&nd->labels);
	}
	free(g->nodes);
	free(g->order);
	free(g->labs);
	ht_free(&g->ids);
	ht_free(&g->labtab);
	iv_free(&g->heads);
	iv_free(&g->real_heads);
	iv_free(&g->bases);
	free(g);
}

size_t graph_count(const struct graph *g)
{
	return (size_t)g->n;
}

static int idx_of(const struct graph *g, const struct revision *r)
{
	if (!r)
		return -1;
	if (r >= g->set->v && r < g->set->v + g->set->n)
		return (int)(r - g->set->v);
	return ht_get(&g->ids, r->id);
}

const struct revision *graph_find(const struct graph *g, const char *id)
{
	int i = ht_get(&g->ids, id);

	return i < 0 ? NULL : g->nodes[i].rev;
}

static void push_nodes(const struct graph *g, const struct ivec *v, struct revptrs *out)
{
	for (int i = 0; i < v->n; i++)
		revptrs_push(out, g->nodes[v->v[i]].rev);
}

void graph_heads(const struct graph *g, struct revptrs *out)
{
	push_nodes(g, &g->heads, out);
}

void graph_bases(const struct graph *g, struct revptrs *out)
{
	push_nodes(g, &g->bases, out);
}

int graph_is_head(const struct graph *g, const struct revision *r)
{
	int i = idx_of(g, r);
	return i >= 0 && g->nodes[i].next.n == 0;
}

int graph_is_base(const struct graph *g, const struct revision *r)
{
	int i = idx_of(g, r);
	return i >= 0 && g->nodes[i].down.n == 0;
}

int graph_is_branch_point(const struct graph *g, const struct revision *r)
{
	int i = idx_of(g, r);
	return i >= 0 && g->nodes[i].next.n > 1;
}

int graph_is_merge_point(const struct graph *g, const struct revision *r)
{
	int i = idx_of(g, r);
	return i >= 0 && g->nodes[i].down.n > 1;
}

void graph_nextrevs(const struct graph *g, const struct revision *r, struct revptrs *out)
{
	int i = idx_of(g, r);

	if (i >= 0)
		push_nodes(g, &g->nodes[i].next, out);
}

void graph_all_current(const struct graph *g, const struct strlist *heads, struct revptrs *out)
{
	unsigned char *in = xcalloc((size_t)g->n + 1, 1), *below = xcalloc((size_t)g->n + 1, 1);
	int *stack = xmalloc(((size_t)g->n + 1) * sizeof(int)), sp = 0;

	/* The heads and everything they need, dependencies included ... */
	for (size_t k = 0; k < heads->n; k++) {
		const struct revision *r = graph_find(g, heads->v[k]);
		int i = r ? idx_of(g, r) : -1;

		if (i >= 0 && !in[i]) {
			in[i] = 1;
			stack[sp++] = i;
		}
	}
	while (sp) {
		const struct ivec *d = &g->nodes[stack[--sp]].norm;

		for (int k = 0; k < d->n; k++)
			if (!in[d->v[k]]) {
				in[d->v[k]] = 1;
				stack[sp++] = d->v[k];
			}
	}
	/* ... less those with a descendant (by down revisions only) in the
	 * set: children come after parents in g->order, so walk it backwards. */
	for (int o = g->n - 1; o >= 0; o--) {
		int i = g->order[o];
		const struct ivec *nx = &g->nodes[i].next;

		for (int k = 0; k < nx->n && !below[i]; k++)
			below[i] = in[nx->v[k]] || below[nx->v[k]];
	}
	for (int o = 0; o < g->n; o++) {
		int i = g->order[o];

		if (in[i] && !below[i])
			revptrs_push(out, g->nodes[i].rev);
	}
	free(stack);
	free(below);
	free(in);
}

/* ---- resolution: RevisionMap.get_revisions and friends ----------------- */

static int is_word(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       ch == '_' || ch >= 0x80;
}

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Python's int() on a decimal string: blanks, a sign, digits with single
 * underscores between them.  Saturates instead of overflowing. */
static int py_int(const char *s, long long *out)
{
	int neg = 0, any = 0;
	long long v = 0;

	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	while (*s) {
		if (is_digit(*s)) {
			if (v < LLONG_MAX / 10 - 10)
				v = v * 10 + (*s - '0');
			any = 1;
		} else if (*s == '_' && any && is_digit(s[1])) {
			/* separator */
		} else {
			break;
		}
		s++;
	}
	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	if (!any || *s)
		return 0;
	*out = neg ? -v : v;
	return 1;
}

/* Alembic's _relative_destination: (?:(.+?)@)?(\w+)?((?:\+|-)\d+), matched
 * at the start of the string only. */
struct relmatch {
	char *branch, *symbol, *relative;
	long long rel;
};

static int rel_rest(const char *s, size_t pos, struct relmatch *m)
{
	size_t p = pos, q;

	while (is_word((unsigned char)s[p]))
		p++;
	if (!(s[p] == '+' || s[p] == '-') || !is_digit(s[p + 1]))
		return 0;
	q = p + 1;
	while (is_digit(s[q]))
		q++;
	m->symbol = p > pos ? xstrndup(s + pos, p - pos) : NULL;
	m->relative = xstrndup(s + p, q - p);
	py_int(m->relative, &m->rel);
	return 1;
}

static int rel_match(const char *s, struct relmatch *m)
{
	memset(m, 0, sizeof(*m));
	if (!s)
		return 0;
	for (size_t k = 1; s[k - 1] && s[k - 1] != '\n'; k++) {
		if (s[k] == '@' && rel_rest(s, k + 1, m)) {
			m->branch = xstrndup(s, k);
			return 1;
		}
	}
	return rel_rest(s, 0, m);
}

static void rel_free(struct relmatch *m)
{
	free(m->branch);
	free(m->symbol);
	free(m->relative);
}

static int truthy(const char *s)
{
	return s && *s;
}

static int resolve_number(struct ctx *c, const char *id, struct plist *ids, const char **branch);
static int revision_for_ident(struct ctx *c, const char *ident, const char *check_branch, int *out);

static int key_lookup(const struct graph *g, const char *k)
{
	int i = ht_get(&g->ids, k);

	if (i < 0) {
		int lab = ht_get(&g->labtab, k);
		if (lab >= 0)
			i = g->labs[lab].owner;
	}
	return i;
}

/* Does target share lineage (descendant or ancestor) with any of test? */
static int shares(struct ctx *c, int target, const unsigned char *test, int deps)
{
	unsigned gen;
	enum rel up = deps ? R_ALLNEXT : R_NEXT, down = deps ? R_NORM : R_DOWN;

	for (int pass = 0; pass < 2; pass++) {
		enum rel r = pass ? down : up;
		gen = new_gen(c);
		c->nstack = 0;
		c->stamp[target] = gen;
		push(c, target);
		while (c->nstack) {
			int i = c->stack[--c->nstack];
			const struct ivec *e = rel_of(c->g, i, r);
			if (test[i])
				return 1;
			for (int j = 0; j < e->n; j++)
				if (c->stamp[e->v[j]] != gen) {
					c->stamp[e->v[j]] = gen;
					push(c, e->v[j]);
				}
		}
	}
	return 0;
}

/* RevisionMap.filter_for_lineage over nodes: keep[i] set for those kept. */
static int filter_lineage(struct ctx *c, const int *targets, int n, const char *check,
			  int deps, unsigned char *keep_out)
{
	struct plist ids = { 0 };
	const char *branch = NULL;
	unsigned char *test = NULL;
	int any = 0;

	if (resolve_number(c, check, &ids, &branch) < 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		if (!any && (truthy(branch) || ids.n)) {
			int v;
			test = new_set(c->g);
			if (truthy(branch)) {
				if (revision_for_ident(c, branch, NULL, &v) < 0)
					goto fail;
				if (v >= 0)
					test[v] = 1;
			}
			for (int k = 0; k < ids.n; k++) {
				if (revision_for_ident(c, ids.v[k], NULL, &v) < 0)
					goto fail;
				if (v >= 0)
					test[v] = 1;
			}
		}
		any = 1;
		keep_out[i] = !test || shares(c, targets[i], test, deps);
	}
	free(test);
	pl_free(&ids);
	return 0;
fail:
	free(test);
	pl_free(&ids);
	return -1;
}

static void join_ids(const struct graph *g, const int *v, int n, struct sbuf *b)
{
	for (int i = 0; i < n; i++) {
		if (i)
			sbuf_adds(b, ", ");
		sbuf_adds(b, g->nodes[v[i]].rev->id);
	}
}

static int get_current_head(struct ctx *c, const char *branch, int *out)
{
	const struct graph *g = c->g;
	struct ivec h = { 0 };

	if (truthy(branch)) {
		unsigned char *k = xcalloc((size_t)g->heads.n + 1, 1);
		if (filter_lineage(c, g->heads.v, g->heads.n, branch, 0, k) < 0) {
			free(k);
			return -1;
		}
		for (int i = 0; i < g->heads.n; i++)
			if (k[i])
				iv_push(&h, g->heads.v[i]);
		free(k);
	} else {
		for (int i = 0; i < g->heads.n; i++)
			iv_push(&h, g->heads.v[i]);
	}
	if (h.n > 1) {
		struct sbuf b = { 0 };
		char *arg = truthy(branch) ? xasprintf("%s@head", branch) : xstrdup("head");
		join_ids(g, h.v, h.n, &b);
		xraise(&c->x, X_MULTI, arg, "Multiple heads are present for given argument '%s'; %s",
		       arg, b.buf);
		free(arg);
		sbuf_free(&b);
		iv_free(&h);
		return -1;
	}
	*out = h.n ? h.v[0] : -1;
	iv_free(&h);
	return 0;
}

/* RevisionMap._resolve_revision_number: the ids an argument names and its
 * branch label (NULL when none; may be ""). */
static int resolve_number(struct ctx *c, const char *id, struct plist *ids, const char **branch)
{
	const struct graph *g = c->g;
	const char *at;

	*branch = NULL;
	ids->n = 0;
	if (id && (at = strchr(id, '@'))) {
		*branch = keep(c, xstrndup(id, (size_t)(at - id)));
		id = at + 1;
	}
	if (id && !strcmp(id, "heads")) {
		if (truthy(*branch)) {
			unsigned char *k = xcalloc((size_t)g->heads.n + 1, 1);
			if (filter_lineage(c, g->heads.v, g->heads.n, *branch, 0, k) < 0) {
				free(k);
				return -1;
			}
			for (int i = 0; i < g->heads.n; i++)
				if (k[i])
					pl_push(ids, g->nodes[g->heads.v[i]].rev->id);
			free(k);
		} else {
			for (int i = 0; i < g->real_heads.n; i++)
				pl_push(ids, g->nodes[g->real_heads.v[i]].rev->id);
		}
	} else if (id && !strcmp(id, "head")) {
		int h;
		if (get_current_head(c, *branch, &h) < 0)
			return -1;
		if (h >= 0)
			pl_push(ids, g->nodes[h].rev->id);
	} else if (id && strcmp(id, "base")) {
		pl_push(ids, id);
	}
	return 0;
}

static int resolve_branch(struct ctx *c, const char *label, int *out)
{
	int i = key_lookup(c->g, label);

	if (i >= 0) {
		*out = i;
		return 0;
	}
	if (revision_for_ident(c, label, NULL, out) < 0) {
		if (c->x.kind == X_RES)
			return xraise(&c->x, X_RES, label, "No such branch: '%s'", label);
		return -1;
	}
	return 0;
}

/* RevisionMap._revision_for_ident: exact id or label, else a unique prefix
 * (of four characters or more) of an id or label. */
static int revision_for_ident(struct ctx *c, const char *ident, const char *check_branch, int *out)
{
	const struct graph *g = c->g;
	int branch_rev = -1, rev;

	if (truthy(check_branch) && resolve_branch(c, check_branch, &branch_rev) < 0)
		return -1;
	if (!ident) {
		*out = RV_NONE;
		return 0;
	}
	rev = key_lookup(g, ident);
	if (rev < 0) {
		struct plist keys = { 0 };
		struct ivec nodes = { 0 };
		size_t il = strlen(ident);

		for (int i = 0; i < g->n; i++) {
			const char *k = g->nodes[i].rev->id;
			if (strlen(k) > 3 && !strncmp(k, ident, il)) {
				pl_push(&keys, k);
				iv_push(&nodes, i);
			}
		}
		for (int i = 0; i < g->nlabs; i++) {
			const char *k = g->labs[i].name;
			if (strlen(k) > 3 && !strncmp(k, ident, il)) {
				pl_push(&keys, k);
				iv_push(&nodes, g->labs[i].owner);
			}
		}
		if (branch_rev >= 0 && keys.n) {
			unsigned char *k = xcalloc((size_t)keys.n + 1, 1);
			int m = 0;
			if (filter_lineage(c, nodes.v, nodes.n, check_branch, 0, k) < 0) {
				free(k);
				pl_free(&keys);
				iv_free(&nodes);
				return -1;
			}
			for (int i = 0; i < keys.n; i++)
				if (k[i]) {
					keys.v[m] = keys.v[i];
					nodes.v[m++] = nodes.v[i];
				}
			keys.n = nodes.n = m;
			free(k);
		}
		if (!keys.n) {
			xraise(&c->x, X_RES, ident, "No such revision or branch '%s'%s", ident,
			       il < 4 ? "; please ensure at least four characters are present for "
					"partial revision identifier matches" : "");
		} else if (keys.n > 1) {
			struct sbuf b = { 0 };
			for (int i = 0; i < keys.n && i < 3; i++)
				sbuf_addf(&b, "%s'%s'", i ? ", " : "", keys.v[i]);
			xraise(&c->x, X_RES, ident, "Multiple revisions start with '%s': %s...", ident,
			       b.buf);
			sbuf_free(&b);
		} else {
			rev = nodes.v[0];
		}
		pl_free(&keys);
		iv_free(&nodes);
		if (rev < 0)
			return -1;
	}
	if (truthy(check_branch)) {
		unsigned char *test = new_set(g);
		int ok;
		test[branch_rev] = 1;
		ok = shares(c, rev, test, 0);
		free(test);
		if (!ok)
			return xraise(&c->x, X_RES, ident, "Revision %s is not a member of branch '%s'",
				      g->nodes[rev].rev->id, check_branch);
	}
	*out = rev;
	return 0;
}

static int walk(struct ctx *c, int start, long long steps, const char *branch, int no_overwalk,
		int *out);

static int get_revisions_str(struct ctx *c, const char *id, struct ivec *out)
{
	struct plist ids = { 0 };
	const char *branch;
	long long rint;
	int rc = 0;

	if (resolve_number(c, id, &ids, &branch) < 0) {
		pl_free(&ids);
		return -1;
	}
	if (ids.n == 1 && py_int(ids.v[0], &rint) && rint < 0) {
		const struct graph *g = c->g;
		for (int i = 0; i < g->real_heads.n && !rc; i++) {
			int h = g->real_heads.v[i], v;
			if (branch) {
				int lab = ht_get(&g->labtab, branch);
				if (lab < 0 || !iv_has(&g->nodes[h].labels, lab))
					continue;
			}
			rc = walk(c, h, rint, NULL, 1, &v);
			if (!rc)
				iv_push(out, v);
		}
	} else {
		for (int i = 0; i < ids.n && !rc; i++) {
			int v;
			rc = revision_for_ident(c, ids.v[i], branch, &v);
			if (!rc)
				iv_push(out, v);
		}
	}
	pl_free(&ids);
	return rc;
}

static int get_revisions_nodes(struct ctx *c, const int *v, int n, struct ivec *out)
{
	for (int i = 0; i < n; i++)
		if (get_revisions_str(c, c->g->nodes[v[i]].rev->id, out) < 0)
			return -1;
	return 0;
}

static int get_revision(struct ctx *c, const char *id, int *out)
{
	struct plist ids = { 0 };
	const char *branch;
	int rc;

	if (resolve_number(c, id, &ids, &branch) < 0) {
		pl_free(&ids);
		return -1;
	}
	if (ids.n > 1) {
		struct sbuf b = { 0 };
		for (int i = 0; i < ids.n; i++)
			sbuf_addf(&b, "%s%s", i ? ", " : "", ids.v[i]);
		xraise(&c->x, X_MULTI, id, "Multiple heads are present for given argument '%s'; %s",
		       id ? id : "None", b.buf);
		sbuf_free(&b);
		pl_free(&ids);
		return -1;
	}
	rc = revision_for_ident(c, ids.n ? ids.v[0] : NULL, branch, out);
	pl_free(&ids);
	return rc;
}

/* RevisionMap._walk. */
static int walk(struct ctx *c, int start, long long steps, const char *branch, int no_overwalk,
		int *out)
{
	const struct graph *g = c->g;
	int initial = start;
	long long n = steps < 0 ? -steps : steps;

	for (long long s = 0; s < n; s++) {
		struct ivec ch = { 0 };
		if (steps > 0) {
			struct ivec up = { 0 };
			if (initial == RV_BASE)
				return xraise(&c->x, X_REV, NULL, "cannot walk up from base");
			if (get_revisions_nodes(c, initial < 0 ? g->bases.v : g->nodes[initial].next.v,
						initial < 0 ? g->bases.n : g->nodes[initial].next.n,
						&up) < 0) {
				iv_free(&up);
				return -1;
			}
			if (truthy(branch)) {
				unsigned char *k = xcalloc((size_t)up.n + 1, 1);
				if (filter_lineage(c, up.v, up.n, branch, 0, k) < 0) {
					free(k);
					iv_free(&up);
					return -1;
				}
				for (int i = 0; i < up.n; i++)
					if (k[i])
						iv_push(&ch, up.v[i]);
				free(k);
				iv_free(&up);
			} else {
				ch = up;
			}
		} else if (initial != RV_BASE) {
			const struct ivec *src = initial < 0 ? &g->heads : &g->nodes[initial].down;
			if (get_revisions_nodes(c, src->v, src->n, &ch) < 0) {
				iv_free(&ch);
				return -1;
			}
			if (!ch.n)
				iv_push(&ch, RV_BASE);
		}
		if (!ch.n) {
			*out = no_overwalk ? RV_NONE : initial;
			return 0;
		}
		if (ch.n > 1) {
			iv_free(&ch);
			return xraise(&c->x, X_REV, NULL, "Ambiguous walk");
		}
		initial = ch.v[0];
		iv_free(&ch);
	}
	*out = initial;
	return 0;
}

/* An argument that is either one string (Alembic's str or None) or a
 * tuple of strings. */
struct rarg {
	const char *const *v;
	int n;
	int is_str;
};

static int get_revisions_arg(struct ctx *c, const struct rarg *a, struct ivec *out)
{
	if (a->is_str)
		return get_revisions_str(c, a->v[0], out);
	for (int i = 0; i < a->n; i++)
		if (get_revisions_str(c, a->v[i], out) < 0)
			return -1;
	return 0;
}

static int require_rev(struct ctx *c, int v)
{
	if (v < 0)
		return xraise(&c->x, X_REV, NULL, "%s is not a revision",
			      v == RV_BASE ? "'base'" : "None");
	return 0;
}

/* _get_all_current + _filter_into_branch_heads, then filtered for a branch:
 * used by a relative downgrade on a branch. */
static int all_current_for_branch(struct ctx *c, const struct rarg *cur, const char *branch,
				  struct ivec *out)
{
	const struct graph *g = c->g;
	struct ivec top = { 0 }, tips = { 0 };
	unsigned char *set = new_set(g), *k;
	int rc = -1;

	if (get_revisions_arg(c, cur, &top) < 0)
		goto out;
	for (int i = 0; i < top.n; i++)
		if (require_rev(c, top.v[i]) < 0)
			goto out;
	reach(c, top.v, top.n, R_NORM, set);
	for (int i = 0; i < g->n; i++) {
		int child = 0;
		if (!set[i])
			continue;
		for (int j = 0; j < g->nodes[i].next.n && !child; j++)
			child = set[g->nodes[i].next.v[j]];
		if (!child)
			iv_push(&tips, i);
	}
	k = xcalloc((size_t)tips.n + 1, 1);
	if (filter_lineage(c, tips.v, tips.n, branch, 0, k) == 0) {
		for (int i = 0; i < tips.n; i++)
			if (k[i])
				iv_push(out, tips.v[i]);
		rc = 0;
	}
	free(k);
out:
	free(set);
	iv_free(&top);
	iv_free(&tips);
	return rc;
}

/* RevisionMap._parse_downgrade_target: *branch_out is a scratch string or
 * NULL, *out a node, RV_NONE (base) or RV_BASE. */
static int parse_downgrade_target(struct ctx *c, const struct rarg *cur, const char *target,
				  int assert_len, const char **branch_out, int *out)
{
	const struct graph *g = c->g;
	struct relmatch m;
	int rc = -1;

	*branch_out = NULL;
	if (!target) {
		*out = RV_NONE;
		return 0;
	}
	if (rel_match(target, &m)) {
		const char *branch = m.branch ? keep(c, xstrdup(m.branch)) : NULL;
		const char *symbol = m.symbol;
		int start, rev;
		if (m.rel >= 0) {
			if (!symbol) {
				xraise(&c->x, X_REV, NULL, "Relative revision %s didn't produce %lld migrations",
				       m.relative, m.rel);
				goto out;
			}
			if (get_revision(c, symbol, &start) < 0 ||
			    walk(c, start, m.rel, branch, assert_len, &rev) < 0)
				goto out;
			if (rev == RV_NONE) {
				xraise(&c->x, X_REV, NULL, "Walked too far");
				goto out;
			}
			*branch_out = branch;
			*out = rev;
			rc = 0;
			goto out;
		}
		if (!symbol) {
			if (truthy(branch)) {
				struct ivec sl = { 0 };
				struct ivec curn = { 0 };
				unsigned char *k;
				/* filter the current ids themselves first */
				for (int i = 0; i < (cur->is_str ? (cur->v[0] ? 1 : 0) : cur->n); i++) {
					int v;
					if (revision_for_ident(c, cur->v[i], NULL, &v) < 0) {
						iv_free(&curn);
						goto out;
					}
					iv_push(&curn, v);
				}
				k = xcalloc((size_t)curn.n + 1, 1);
				if (filter_lineage(c, curn.v, curn.n, branch, 0, k) < 0) {
					free(k);
					iv_free(&curn);
					goto out;
				}
				for (int i = 0; i < curn.n; i++)
					if (k[i])
						iv_push(&sl, curn.v[i]);
				free(k);
				iv_free(&curn);
				if (!sl.n && all_current_for_branch(c, cur, branch, &sl) < 0) {
					iv_free(&sl);
					goto out;
				}
				if (sl.n != 1) {
					iv_free(&sl);
					xraise(&c->x, X_REV, NULL,
					       "no single current revision on branch '%s'", branch);
					goto out;
				}
				symbol = g->nodes[sl.v[0]].rev->id;
				iv_free(&sl);
			} else {
				int n = cur->is_str ? (cur->v[0] ? 1 : 0) : cur->n;
				if (!n) {
					xraise(&c->x, X_REV, NULL,
					       "Relative revision %s didn't produce %lld migrations",
					       m.relative, -m.rel);
					goto out;
				}
				symbol = cur->v[0];
				branch = symbol;
			}
			if (branch) {
				char *s = xasprintf("%s@%s", branch, symbol);
				keep(c, s);
				if (get_revision(c, s, &start) < 0)
					goto out;
			} else if (get_revision(c, symbol, &start) < 0) {
				goto out;
			}
			if (walk(c, start, m.rel, NULL, assert_len, &rev) < 0)
				goto out;
			if (rev == RV_NONE) {
				xraise(&c->x, X_REV, NULL, "Relative revision %s didn't produce %lld migrations",
				       m.relative, -m.rel);
				goto out;
			}
		} else {
			if (branch) {
				char *s = xasprintf("%s@%s", branch, symbol);
				keep(c, s);
				if (get_revision(c, s, &start) < 0)
					goto out;
			} else if (get_revision(c, symbol, &start) < 0) {
				goto out;
			}
			if (walk(c, start, m.rel, NULL, assert_len, &rev) < 0)
				goto out;
			if (rev == RV_NONE) {
				xraise(&c->x, X_REV, NULL, "Walked too far");
				goto out;
			}
		}
		*branch_out = branch;
		*out = rev;
		rc = 0;
	out:
		rel_free(&m);
		return rc;
	}
	{
		const char *at = strrchr(target, '@');
		const char *symbol = at ? at + 1 : target;
		if (at && at > target)
			*branch_out = keep(c, xstrndup(target, (size_t)(at - target)));
		return get_revision(c, symbol, out);
	}
}

/* RevisionMap._parse_upgrade_target. */
static int parse_upgrade_target(struct ctx *c, const struct rarg *cur, const struct rarg *target,
				int assert_len, struct ivec *out)
{
	const struct graph *g = c->g;
	struct relmatch m;
	int rc = -1, rev, start;

	if (!target->is_str || !rel_match(target->v[0], &m))
		return get_revisions_arg(c, target, out);
	if (m.rel > 0) {
		if (!m.symbol) {
			const char *branch = m.branch;
			int ncur = cur->is_str ? (cur->v[0] ? 1 : 0) : cur->n;
			struct ivec sr = { 0 };
			const char *first = NULL;
			int nstart;

			if (truthy(branch)) {
				struct ivec curv = { 0 };
				unsigned char *k;
				if (ncur && get_revisions_arg(c, cur, &curv) < 0) {
					iv_free(&curv);
					goto out;
				}
				/* None entries (no current heads) resolve to nothing */
				{
					int w = 0;
					for (int i = 0; i < curv.n; i++) {
						if (curv.v[i] == RV_NONE)
							continue;
						if (require_rev(c, curv.v[i]) < 0) {
							iv_free(&curv);
							goto out;
						}
						curv.v[w++] = curv.v[i];
					}
					curv.n = w;
				}
				k = xcalloc((size_t)curv.n + 1, 1);
				if (filter_lineage(c, curv.v, curv.n, branch, 0, k) < 0) {
					free(k);
					iv_free(&curv);
					goto out;
				}
				for (int i = 0; i < curv.n; i++)
					if (k[i])
						iv_push(&sr, curv.v[i]);
				free(k);
				if (!sr.n) {
					unsigned char *anc = new_set(g);
					struct ivec act = { 0 };
					unsigned char *k2, *isdown;
					reach(c, curv.v, curv.n, R_NORM, anc);
					for (int i = 0; i < g->n; i++)
						if (anc[i])
							iv_push(&act, i);
					k2 = xcalloc((size_t)act.n + 1, 1);
					if (filter_lineage(c, act.v, act.n, branch, 0, k2) < 0) {
						free(k2);
						free(anc);
						iv_free(&act);
						iv_free(&curv);
						iv_free(&sr);
						goto out;
					}
					isdown = new_set(g);
					for (int i = 0; i < act.n; i++)
						if (k2[i])
							for (int j = 0; j < g->nodes[act.v[i]].norm.n; j++)
								isdown[g->nodes[act.v[i]].norm.v[j]] = 1;
					for (int i = 0; i < act.n; i++)
						if (k2[i] && !isdown[act.v[i]])
							iv_push(&sr, act.v[i]);
					free(isdown);
					free(k2);
					free(anc);
					iv_free(&act);
					if (!sr.n)
						iv_push(&sr, RV_NONE);
				}
				iv_free(&curv);
				nstart = sr.n;
				start = sr.v[0];
			} else {
				nstart = ncur ? ncur : 1;
				first = ncur ? cur->v[0] : NULL;
				start = RV_NONE;
			}
			iv_free(&sr);
			if (nstart > 1) {
				xraise(&c->x, X_REV, NULL, "Ambiguous upgrade from multiple current revisions");
				goto out;
			}
			if (first && get_revision(c, first, &start) < 0)
				goto out;
			if (walk(c, start, m.rel, branch, assert_len, &rev) < 0)
				goto out;
			if (rev == RV_NONE) {
				xraise(&c->x, X_REV, NULL, "Relative revision %s didn't produce %lld migrations",
				       m.relative, m.rel);
				goto out;
			}
		} else {
			if (get_revision(c, m.symbol, &start) < 0 ||
			    walk(c, start, m.rel, m.branch, assert_len, &rev) < 0)
				goto out;
		}
	} else {
		if (!m.symbol) {
			xraise(&c->x, X_REV, NULL, "Relative revision %lld didn't produce %lld migrations",
			       m.rel, -m.rel);
			goto out;
		}
		if (m.branch) {
			char *s = xasprintf("%s@%s", m.branch, m.symbol);
			keep(c, s);
			if (get_revision(c, s, &start) < 0)
				goto out;
		} else if (get_revision(c, m.symbol, &start) < 0) {
			goto out;
		}
		if (walk(c, start, m.rel, NULL, assert_len, &rev) < 0)
			goto out;
	}
	iv_push(out, rev);
	rc = 0;
out:
	rel_free(&m);
	return rc;
}

/* _iterate_related_revisions with check=True: reports a requested
 * revision reachable from another one. */
static int reach_checked(struct ctx *c, const int *t, int n, enum rel r, unsigned char *set)
{
	const struct graph *g = c->g;
	unsigned char *istarget = new_set(g);
	int *hit = xcalloc((size_t)g->n + 1, sizeof(int));
	int rc = 0;

	for (int i = 0; i < n; i++)
		istarget[t[i]] = 1;
	for (int i = 0; i < n && !rc; i++) {
		struct ivec over = { 0 };
		c->nstack = 0;
		push(c, t[i]);
		while (c->nstack) {
			int v = c->stack[--c->nstack];
			const struct ivec *e;
			if (istarget[v] && v != t[i] && hit[v] != i + 1) {
				hit[v] = i + 1;
				iv_push(&over, v);
			}
			if (set[v])
				continue;
			set[v] = 1;
			e = rel_of(g, v, r);
			for (int j = 0; j < e->n; j++)
				push(c, e->v[j]);
		}
		if (over.n) {
			struct sbuf b = { 0 };
			/* in the order the revisions were requested */
			int first = 1;
			for (int k = 0; k < n; k++)
				if (hit[t[k]] == i + 1 && iv_has(&over, t[k]) && t[k] != t[i]) {
					sbuf_addf(&b, "%s%s", first ? "" : ", ", g->nodes[t[k]].rev->id);
					hit[t[k]] = -1;
					first = 0;
				}
			xraise(&c->x, X_REV, NULL,
			       "Requested revision %s overlaps with other requested revisions %s",
			       g->nodes[t[i]].rev->id, b.buf);
			sbuf_free(&b);
			rc = -1;
		}
		iv_free(&over);
	}
	free(istarget);
	free(hit);
	return rc;
}

/* RevisionMap._topological_sort.  Alembic keeps one ancestor set per
 * current head; a candidate is held back while it is an ancestor of
 * another current head.  Here a revision is "live" while it is an ancestor
 * of a revision still to be emitted, and a candidate is held back exactly
 * when one of its children is live; only then is the head holding it
 * searched for, in list order. */
struct hslot {
	int node;
	int prev, next;
};

struct tsort {
	const unsigned char *todo;
	unsigned char *done, *live;
	int *cnt; /* live (normalized) children */
};

static int is_ancestor_live(struct ctx *c, const struct tsort *t, int anc, int from)
{
	const struct graph *g = c->g;
	unsigned gen = new_gen(c);
	int lim = g->nodes[anc].topo;

	c->nstack = 0;
	c->stamp[from] = gen;
	push(c, from);
	while (c->nstack) {
		int i = c->stack[--c->nstack];
		const struct ivec *e = &g->nodes[i].norm;
		if (i == anc)
			return 1;
		for (int j = 0; j < e->n; j++) {
			int d = e->v[j];
			if (c->stamp[d] == gen || g->nodes[d].topo < lim || !t->live[d])
				continue;
			c->stamp[d] = gen;
			push(c, d);
		}
	}
	return 0;
}

static void kill_node(struct ctx *c, struct tsort *t, int x)
{
	const struct graph *g = c->g;

	t->live[x] = 0;
	c->nstack = 0;
	push(c, x);
	while (c->nstack) {
		const struct ivec *e = &g->nodes[c->stack[--c->nstack]].norm;
		for (int j = 0; j < e->n; j++) {
			int d = e->v[j];
			if (--t->cnt[d] == 0 && t->live[d] && !(t->todo[d] && !t->done[d])) {
				t->live[d] = 0;
				push(c, d);
			}
		}
	}
}

static int topo_sort(struct ctx *c, const unsigned char *todo, const int *heads, int nheads,
		     struct ivec *out)
{
	const struct graph *g = c->g;
	struct tsort t;
	unsigned char *seen = new_set(g);
	int *incur = xcalloc((size_t)g->n + 1, sizeof(int));
	struct hslot *s = NULL;
	size_t ns = 0, as = 0;
	int first = -1, last = -1, cur, rc = 0, ntodo = 0;

	t.todo = todo;
	t.done = new_set(g);
	t.live = new_set(g);
	t.cnt = xcalloc((size_t)g->n + 1, sizeof(int));
	for (int k = g->n - 1; k >= 0; k--) {
		int x = g->order[k];
		ntodo += todo[x];
		if (todo[x] || t.cnt[x] > 0) {
			t.live[x] = 1;
			for (int j = 0; j < g->nodes[x].norm.n; j++)
				t.cnt[g->nodes[x].norm.v[j]]++;
		}
	}
	for (int i = 0; i < nheads; i++)
		if (heads[i] >= 0 && todo[heads[i]])
			seen[heads[i]] = 1;
	/* sorted by position in the map, deduplicated */
	for (int i = 0; i < g->n; i++) {
		if (!seen[i])
			continue;
		xgrow((void **)&s, &as, ns + 1, sizeof(*s));
		s[ns].node = i;
		s[ns].prev = last;
		s[ns].next = -1;
		if (last >= 0)
			s[last].next = (int)ns;
		else
			first = (int)ns;
		last = (int)ns++;
		incur[i]++;
	}
	cur = first;
	while (first >= 0) {
		int cand = s[cur].node;
		struct node *cn;
		int hta[64], nh = 0, plain;
		int *hbig = NULL;

		if (t.cnt[cand] > 0) {
			int j;
			for (j = first; j >= 0; j = s[j].next)
				if (j != cur && is_ancestor_live(c, &t, cand, s[j].node))
					break;
			if (j >= 0) {
				cur = j;
				continue;
			}
		}
		if (todo[cand] && !t.done[cand]) {
			iv_push(out, cand);
			t.done[cand] = 1;
			ntodo--;
			if (!t.cnt[cand])
				kill_node(c, &t, cand);
		}
		cn = &g->nodes[cand];
		if (cn->norm.n > 64)
			hbig = xmalloc((size_t)cn->norm.n * sizeof(int));
		for (int j = 0; j < cn->norm.n; j++) {
			int r = cn->norm.v[j];
			if (todo[r] && !t.done[r] && !incur[r])
				(hbig ? hbig : hta)[nh++] = r;
		}
		if (!nh) {
			int p = s[cur].prev, nx = s[cur].next;
			incur[cand]--;
			if (p >= 0)
				s[p].next = nx;
			else
				first = nx;
			if (nx >= 0)
				s[nx].prev = p;
			else
				last = p;
			cur = p >= 0 ? p : first;
		} else {
			const int *h = hbig ? hbig : hta;
			plain = !cn->ndeps.n && cn->down.n == 1;
			incur[cand]--;
			s[cur].node = h[0];
			incur[h[0]]++;
			for (int j = 1; j < nh && !plain; j++) {
				xgrow((void **)&s, &as, ns + 1, sizeof(*s));
				s[ns].node = h[j];
				s[ns].prev = last;
				s[ns].next = -1;
				s[last].next = (int)ns;
				last = (int)ns++;
				incur[h[j]]++;
			}
		}
		free(hbig);
	}
	if (ntodo > 0)
		rc = xraise(&c->x, X_REV, NULL,
			    "revisions to walk are not all reachable from the requested heads");
	free(s);
	free(t.done);
	free(t.live);
	free(t.cnt);
	free(seen);
	free(incur);
	return rc;
}

/* RevisionMap._collect_upgrade_revisions; fills needs and targets. */
static int collect_upgrade(struct ctx *c, const struct rarg *upper, const struct rarg *lower,
			   int inclusive, int implicit_base, int assert_len, unsigned char *needs,
			   struct ivec *targets)
{
	const struct graph *g = c->g;
	struct ivec cur = { 0 };
	unsigned char *req = new_set(g), *curset = NULL;
	struct rarg low = *lower;
	const char *lowbuf[1];
	int rc = -1;

	if (parse_upgrade_target(c, lower, upper, assert_len, targets) < 0)
		goto out;
	for (int i = 0; i < targets->n; i++)
		if (require_rev(c, targets->v[i]) < 0)
			goto out;
	if (lower->is_str && lower->v[0] && strchr(lower->v[0], '@')) {
		const char *at = strchr(lower->v[0], '@');
		const char *branch = keep(c, xstrndup(lower->v[0], (size_t)(at - lower->v[0])));
		int br, lab, w = 0;
		if (get_revision(c, branch, &br) < 0)
			goto out;
		if (br >= 0 && !strcmp(g->nodes[br].rev->id, branch)) {
			if (g->nodes[br].labels.n != 1) {
				xraise(&c->x, X_REV, NULL, "revision %s does not have exactly one branch label",
				       branch);
				goto out;
			}
			branch = g->labs[g->nodes[br].labels.v[0]].name;
		}
		lab = ht_get(&g->labtab, branch);
		for (int i = 0; i < targets->n; i++)
			if (lab >= 0 && iv_has(&g->nodes[targets->v[i]].labels, lab))
				targets->v[w++] = targets->v[i];
		targets->n = w;
	}
	if (reach_checked(c, targets->v, targets->n, R_NORM, req) < 0)
		goto out;
	if (get_revisions_arg(c, lower, &cur) < 0)
		goto out;
	if (!implicit_base)
		for (int i = 0; i < cur.n; i++)
			if (cur.v[i] != RV_NONE && (cur.v[i] < 0 || !req[cur.v[i]])) {
				xraise(&c->x, X_RANGE, NULL, "range");
				goto out;
			}
	if (cur.n && cur.v[0] == RV_NONE) {
		const char *b;
		int rev;
		if (!lower->is_str) {
			xraise(&c->x, X_REV, NULL, "relative lower revision must be a string");
			goto out;
		}
		if (parse_downgrade_target(c, upper, lower->v[0], assert_len, &b, &rev) < 0)
			goto out;
		if (rev == RV_NONE) {
			xraise(&c->x, X_REV, NULL, "relative lower revision not found");
			goto out;
		}
		cur.n = 0;
		if (rev == RV_BASE) {
			lowbuf[0] = NULL;
		} else {
			iv_push(&cur, rev);
			lowbuf[0] = g->nodes[rev].rev->id;
		}
		low.v = lowbuf;
		low.n = 1;
		low.is_str = 1;
	}
	for (int i = 0; i < cur.n; i++)
		if (require_rev(c, cur.v[i]) < 0)
			goto out;
	curset = new_set(g);
	if (reach_checked(c, cur.v, cur.n, R_NORM, curset) < 0) {
		/* for an upgrade, the lower revisions are the version table */
		c->x.script = implicit_base;
		goto out;
	}
	for (int i = 0; i < g->n; i++)
		needs[i] = req[i] && !curset[i];
	if (inclusive) {
		struct ivec l = { 0 };
		if (get_revisions_arg(c, &low, &l) < 0) {
			iv_free(&l);
			goto out;
		}
		for (int i = 0; i < l.n; i++) {
			if (require_rev(c, l.v[i]) < 0) {
				iv_free(&l);
				goto out;
			}
			needs[l.v[i]] = 1;
		}
		iv_free(&l);
	}
	if (cur.n && !implicit_base) {
		unsigned char *desc = new_set(g);
		if (reach_checked(c, cur.v, cur.n, R_NEXT, desc) < 0) {
			free(desc);
			goto out;
		}
		for (int i = 0; i < g->n; i++)
			needs[i] = needs[i] && desc[i];
		free(desc);
	}
	rc = 0;
out:
	free(req);
	free(curset);
	iv_free(&cur);
	return rc;
}

/* RevisionMap._collect_downgrade_revisions. */
static int collect_downgrade(struct ctx *c, const struct rarg *upper, const char *target,
			     int assert_len, unsigned char *drop, struct ivec *heads)
{
	const struct graph *g = c->g;
	const char *branch;
	int trev, rc = -1;
	struct ivec roots = { 0 };
	unsigned char *active = new_set(g);

	if (parse_downgrade_target(c, upper, target, assert_len, &branch, &trev) < 0)
		goto out;
	if (trev == RV_BASE)
		trev = RV_NONE;
	if (trev == RV_NONE) {
		for (int i = 0; i < g->bases.n; i++)
			iv_push(&roots, g->bases.v[i]);
	} else if (get_revisions_nodes(c, g->nodes[trev].next.v, g->nodes[trev].next.n, &roots) < 0) {
		goto out;
	}
	if (truthy(branch) && roots.n > 1) {
		int br, w = 0;
		unsigned char *anc = new_set(g);
		if (resolve_branch(c, branch, &br) < 0) {
			free(anc);
			goto out;
		}
		reach(c, &br, 1, R_DOWN, anc);
		for (int i = 0; i < roots.n; i++)
			if (anc[roots.v[i]])
				roots.v[w++] = roots.v[i];
		roots.n = w;
		free(anc);
		if (!roots.n) {
			xraise(&c->x, X_REV, NULL, "Not a valid downgrade target from current heads");
			goto out;
		}
	}
	if (get_revisions_arg(c, upper, heads) < 0)
		goto out;
	for (int i = 0; i < heads->n; i++)
		if (require_rev(c, heads->v[i]) < 0)
			goto out;
	reach(c, roots.v, roots.n, R_ALLNEXT, drop);
	reach(c, heads->v, heads->n, R_NORM, active);
	for (int i = 0; i < g->n; i++)
		drop[i] = drop[i] && active[i];
	if (trev >= 0 && !iv_has(heads, trev)) {
		int any = 0;
		for (int i = 0; i < g->n && !any; i++)
			any = drop[i];
		if (!any) {
			xraise(&c->x, X_RANGE, NULL, "Nothing to drop");
			goto out;
		}
	}
	rc = 0;
out:
	free(active);
	iv_free(&roots);
	return rc;
}

/* ---- turning exceptions into messages (_catch_revision_errors) --------- */

enum anc_msg { ANC_DEFAULT, ANC_UPGRADE, ANC_DOWNGRADE };

static int wrap(struct ctx *c, struct err *e, enum anc_msg am, const char *mh_custom,
		const char *start, const char *end)
{
	int kind = c->x.script ? ERR_SCRIPT : ERR_USAGE;

	switch (c->x.kind) {
	case X_RANGE:
		if (am == ANC_UPGRADE)
			return err_set(e, kind, "Destination %s is not a valid upgrade target from current head(s)", end);
		if (am == ANC_DOWNGRADE)
			return err_set(e, kind, "Destination %s is not a valid downgrade target from current head(s)", end);
		return err_set(e, kind, "Requested range %s:%s does not refer to ancestor/descendant "
			       "revisions along the same branch", start, end);
	case X_MULTI:
		if (mh_custom)
			return err_set(e, kind, "%s", mh_custom);
		{
			const char *a = end ? end : c->x.arg;
			return err_set(e, kind, "Multiple head revisions are present for given argument "
				       "'%s'; please specify a specific target revision, "
				       "'<branchname>@%s' to narrow to a specific head, or 'heads' "
				       "for all heads", a, a);
		}
	case X_RES:
		/* Alembic's command-level wording hides why ('ab' matches two
		 * revisions, or is too short): keep its words, add the reason. */
		if (c->x.msg[0])
			return err_set(e, kind, "Can't locate revision identified by '%s' (%s)",
				       c->x.arg, c->x.msg);
		return err_set(e, kind, "Can't locate revision identified by '%s'", c->x.arg);
	default:
		return err_set(e, kind, "%s", c->x.msg);
	}
}

/* Python's str() of a tuple of strings. */
static char *py_tuple(const struct strlist *l)
{
	struct sbuf b = { 0 };

	sbuf_addc(&b, '(');
	for (size_t i = 0; i < l->n; i++)
		sbuf_addf(&b, "%s'%s'", i ? ", " : "", l->v[i]);
	if (l->n == 1)
		sbuf_addc(&b, ',');
	sbuf_addc(&b, ')');
	return sbuf_detach(&b);
}

/* Every database head must name a script: a version table at a revision
 * no script knows is inconsistent. */
static int check_current(struct ctx *c, const struct strlist *current, struct err *e)
{
	if (!current)
		return 0;
	for (size_t i = 0; i < current->n; i++) {
		int v;
		if (ht_get(&c->g->ids, current->v[i]) >= 0)
			continue;
		if (revision_for_ident(c, current->v[i], NULL, &v) < 0 || v < 0)
			return err_set(e, ERR_SCRIPT, "Can't locate revision identified by '%s'",
				       current->v[i]);
	}
	return 0;
}

int graph_resolve(const struct graph *g, const char *arg, const struct strlist *current,
		  struct revptrs *out, struct err *e)
{
	struct ctx c;
	struct ivec v = { 0 };
	int rc = 0;

	ctx_init(&c, g);
	if (arg && !strcmp(arg, "current")) {
		struct rarg a = { (const char *const *)(current ? current->v : NULL),
				  current ? (int)current->n : 0, 0 };
		if (check_current(&c, current, e) < 0)
			rc = -1;
		else if (get_revisions_arg(&c, &a, &v) < 0)
			rc = wrap(&c, e, ANC_DEFAULT, NULL, NULL, NULL);
	} else if (get_revisions_str(&c, arg, &v) < 0) {
		rc = wrap(&c, e, ANC_DEFAULT, NULL, NULL, NULL);
	}
	for (int i = 0; !rc && i < v.n; i++)
		if (v.v[i] >= 0)
			revptrs_push(out, g->nodes[v.v[i]].rev);
	iv_free(&v);
	ctx_release(&c);
	return rc;
}

/* ---- plans: RevisionStep / StampStep under HeadMaintainer --------------- */

/* The version table as HeadMaintainer sees it: a set of strings, kept in
 * the order rows were written. */
struct hm {
	struct ctx *c;
	struct plan *p;
	struct strlist rows; /* NULL entries are deleted rows */
	int *pos;            /* per revision: its row + 1, 0 when absent */
	size_t nforeign;     /* rows that are not exact revision ids */
	/* cached ancestors of a set of "other heads" */
	struct ivec key;
	unsigned char *anc;
};

static int hm_find(const struct hm *h, const char *s)
{
	int n = ht_get(&h->c->g->ids, s);

	if (n >= 0)
		return h->pos[n] - 1;
	for (size_t i = 0; h->nforeign && i < h->rows.n; i++)
		if (h->rows.v[i] && !strcmp(h->rows.v[i], s))
			return (int)i;
	return -1;
}

static int hm_has_node(const struct hm *h, int n)
{
	return h->pos[n] > 0;
}

static void hm_set_row(struct hm *h, size_t i, const char *v)
{
	int n;

	if (h->rows.v[i]) {
		n = ht_get(&h->c->g->ids, h->rows.v[i]);
		if (n >= 0)
			h->pos[n] = 0;
		else
			h->nforeign--;
		free(h->rows.v[i]);
		h->rows.v[i] = NULL;
	}
	if (v) {
		h->rows.v[i] = xstrdup(v);
		n = ht_get(&h->c->g->ids, v);
		if (n >= 0)
			h->pos[n] = (int)i + 1;
		else
			h->nforeign++;
	}
}

static void hm_append(struct hm *h, const char *v)
{
	strlist_push_owned(&h->rows, NULL);
	hm_set_row(h, h->rows.n - 1, v);
}

static void add_op(struct plan *p, enum vt_kind k, const char *from, const char *to)
{
	struct vt_op *op;

	xgrow((void **)&p->ops, &p->ops_alloc, p->n_ops + 1, sizeof(*p->ops));
	op = &p->ops[p->n_ops++];
	op->kind = k;
	op->from = from ? xstrdup(from) : NULL;
	op->to = to ? xstrdup(to) : NULL;
}

static int hm_insert(struct hm *h, const char *v)
{
	if (hm_find(h, v) >= 0)
		return xraise(&h->c->x, X_REV, NULL,
			"cannot insert '%s' into the version table: it is already there", v);
	hm_append(h, v);
	add_op(h->p, VT_INSERT, NULL, v);
	return 0;
}

static int hm_delete(struct hm *h, const char *v)
{
	int i = hm_find(h, v);

	if (i < 0)
		return xraise(&h->c->x, X_REV, NULL,
			      "cannot delete '%s' from the version table: it is not there", v);
	add_op(h->p, VT_DELETE, v, NULL);
	hm_set_row(h, (size_t)i, NULL);
	return 0;
}

static int hm_update(struct hm *h, const char *from, const char *to)
{
	int i;

	if (hm_find(h, to) >= 0)
		return xraise(&h->c->x, X_REV, NULL,
			      "cannot update '%s' to '%s' in the version table: '%s' is already there",
			      from, to, to);
	i = hm_find(h, from);
	if (i < 0)
		return xraise(&h->c->x, X_REV, NULL,
			      "cannot update '%s' to '%s' in the version table: '%s' is not there",
			      from, to, from);
	add_op(h->p, VT_UPDATE, from, to);
	hm_set_row(h, (size_t)i, to);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return x < y ? -1 : x > y;
}

/* Ancestors (with dependencies) of the heads other than those in `except`,
 * cached while that set stays the same (a long downgrade keeps it). */
static int hm_other_anc(struct hm *h, const int *except, int nexcept, const unsigned char **anc,
			int *any)
{
	struct ctx *c = h->c;
	struct ivec key = { 0 };

	for (size_t i = 0; i < h->rows.n; i++) {
		int v, skip = 0;
		if (!h->rows.v[i])
			continue;
		v = ht_get(&c->g->ids, h->rows.v[i]);
		if (v < 0 && (revision_for_ident(c, h->rows.v[i], NULL, &v) < 0 || v < 0)) {
			iv_free(&key);
			if (c->x.kind == X_NONE)
				xraise(&c->x, X_RES, h->rows.v[i], "unknown head");
			return -1;
		}
		for (int k = 0; k < nexcept && !skip; k++)
			skip = v == except[k] && !strcmp(h->rows.v[i], c->g->nodes[v].rev->id);
		if (!skip)
			iv_push(&key, v);
	}
	if (key.n)
		qsort(key.v, (size_t)key.n, sizeof(int), cmp_int);
	*any = key.n > 0;
	if (!h->anc || key.n != h->key.n ||
	    (key.n && memcmp(key.v, h->key.v, (size_t)key.n * sizeof(int)))) {
		free(h->anc);
		h->anc = new_set(c->g);
		reach(c, key.v, key.n, R_NORM, h->anc);
		iv_free(&h->key);
		h->key = key;
	} else {
		iv_free(&key);
	}
	*anc = h->anc;
	return 0;
}

/* RevisionStep._unmerge_to_revisions. */
static int unmerge_to(struct hm *h, int r, struct ivec *to)
{
	const unsigned char *anc;
	int any;
	const struct ivec *norm = &h->c->g->nodes[r].norm;

	if (hm_other_anc(h, &r, 1, &anc, &any) < 0)
		return -1;
	for (int i = 0; i < norm->n; i++)
		if (!any || !anc[norm->v[i]])
			iv_push(to, norm->v[i]);
	return 0;
}

static const char *nid(const struct graph *g, int i)
{
	return g->nodes[i].rev->id;
}

static int run_revision_step(struct hm *h, int r, int up)
{
	const struct graph *g = h->c->g;
	const struct ivec *norm = &g->nodes[r].norm;
	int in_heads = hm_has_node(h, r), rc = 0;
	struct ivec to = { 0 };

	if (!up && in_heads) {
		int del = !norm->n;
		if (!del) {
			if (unmerge_to(h, r, &to) < 0)
				return -1;
			del = !to.n;
		}
		if (del) {
			rc = hm_delete(h, nid(g, r));
			iv_free(&to);
			return rc;
		}
	}
	if (up) {
		int present = 0;
		for (int i = 0; i < norm->n; i++)
			present += hm_has_node(h, norm->v[i]);
		if (!norm->n || !present)
			return hm_insert(h, nid(g, r));
		if (norm->n > 1 && present > 1) {
			const unsigned char *anc;
			int any;
			struct ivec from = { 0 };
			if (hm_other_anc(h, norm->v, norm->n, &anc, &any) < 0)
				return -1;
			for (int i = 0; i < norm->n; i++)
				if (!any || !anc[norm->v[i]])
					iv_push(&from, norm->v[i]);
			if (!from.n) {
				iv_free(&from);
				return xraise(&h->c->x, X_REV, NULL, "no revision to merge into %s",
					      nid(g, r));
			}
			for (int i = 0; i < from.n - 1 && !rc; i++)
				rc = hm_delete(h, nid(g, from.v[i]));
			if (!rc)
				rc = hm_update(h, nid(g, from.v[from.n - 1]), nid(g, r));
			iv_free(&from);
			return rc;
		}
	} else if (in_heads && norm->n > 1) {
		for (int i = 0; i < to.n - 1 && !rc; i++)
			rc = hm_insert(h, nid(g, to.v[i]));
		if (!rc)
			rc = hm_update(h, nid(g, r), nid(g, to.v[to.n - 1]));
		iv_free(&to);
		return rc;
	}
	iv_free(&to);
	{
		int down = -1;
		if (norm->n != 1) {
			int cnt = 0;
			for (int i = 0; i < norm->n; i++)
				if (hm_has_node(h, norm->v[i])) {
					down = norm->v[i];
					cnt++;
				}
			if (cnt != 1)
				return xraise(&h->c->x, X_REV, NULL,
					      "Can't do an UPDATE because downrevision is ambiguous");
		} else {
			down = norm->v[0];
		}
		return up ? hm_update(h, nid(g, down), nid(g, r)) : hm_update(h, nid(g, r), nid(g, down));
	}
}

static char *fmt_ids(const struct graph *g, const struct ivec *v)
{
	struct sbuf b = { 0 };

	join_ids(g, v->v, v->n, &b);
	if (!b.buf)
		return xstrdup("");
	return sbuf_detach(&b);
}

static void add_step(struct plan *p, const struct revision *rev, int up, size_t op_first, char *desc)
{
	struct plan_step *s;

	xgrow((void **)&p->steps, &p->alloc, p->n + 1, sizeof(*p->steps));
	s = &p->steps[p->n++];
	s->rev = rev;
	s->upgrade = up;
	s->op_first = op_first;
	s->op_count = p->n_ops - op_first;
	s->desc = desc;
}

static char *step_desc(const struct graph *g, int r, int up)
{
	struct ivec self = { 0 };
	char *a, *b, *d;
	const struct revision *rev = g->nodes[r].rev;

	iv_push(&self, r);
	a = fmt_ids(g, up ? &g->nodes[r].down : &self);
	b = fmt_ids(g, up ? &self : &g->nodes[r].down);
	if (rev->message && *rev->message)
		d = xasprintf("%s -> %s, %s", a, b, rev->message);
	else
		d = xasprintf("%s -> %s", a, b);
	free(a);
	free(b);
	iv_free(&self);
	return d;
}

static void plan_begin(struct plan *p, const struct strlist *current, struct hm *h, struct ctx *c)
{
	memset(p, 0, sizeof(*p));
	memset(h, 0, sizeof(*h));
	h->c = c;
	h->p = p;
	h->pos = xcalloc((size_t)c->g->n + 1, sizeof(int));
	for (size_t i = 0; current && i < current->n; i++) {
		strlist_push(&p->start_heads, current->v[i]);
		if (hm_find(h, current->v[i]) < 0)
			hm_append(h, current->v[i]);
	}
}

static void plan_end(struct plan *p, struct hm *h)
{
	for (size_t i = 0; i < h->rows.n; i++)
		if (h->rows.v[i])
			strlist_push(&p->end_heads, h->rows.v[i]);
	strlist_free(&h->rows);
	iv_free(&h->key);
	free(h->anc);
	free(h->pos);
}

static int run_steps(struct hm *h, const struct ivec *order, int up, int reverse)
{
	const struct graph *g = h->c->g;

	for (int k = 0; k < order->n; k++) {
		int r = order->v[reverse ? order->n - 1 - k : k];
		size_t first = h->p->n_ops;
		if (run_revision_step(h, r, up) < 0)
			return -1;
		add_step(h->p, g->nodes[r].rev, up, first, step_desc(g, r, up));
	}
	return 0;
}

static void rarg_of(struct rarg *a, const struct strlist *current)
{
	a->v = (const char *const *)(current ? current->v : NULL);
	a->n = current ? (int)current->n : 0;
	a->is_str = 0;
}

/* ScriptDirectory._upgrade_revs and _downgrade_revs, then their steps. */
int graph_plan(const struct graph *g, const struct strlist *current, const char *target,
	       enum graph_dir dir, struct plan *p, struct err *e)
{
	int up = dir == GRAPH_UPGRADE;
	enum anc_msg am = up ? ANC_UPGRADE : ANC_DOWNGRADE;
	struct ctx c;
	struct hm h;
	struct rarg cur, dest = { &target, 1, 1 };
	unsigned char *todo;
	struct ivec heads = { 0 }, order = { 0 };
	int rc = -1, r;

	ctx_init(&c, g);
	plan_begin(p, current, &h, &c);
	todo = new_set(g);
	rarg_of(&cur, current);
	if (check_current(&c, current, e) < 0)
		goto out;
	if (up)
		r = collect_upgrade(&c, &dest, &cur, 0, 1, 1, todo, &heads);
	else
		r = collect_downgrade(&c, &cur, target, 1, todo, &heads);
	if (r < 0 || topo_sort(&c, todo, heads.v, heads.n, &order) < 0) {
		wrap(&c, e, am, NULL, NULL, target);
		goto out;
	}
	/* topo_sort lists heads first: an upgrade runs the list backwards */
	if (run_steps(&h, &order, up, up) < 0) {
		c.x.script = 1;
		wrap(&c, e, am, NULL, NULL, target);
		goto out;
	}
	rc = 0;
out:
	plan_end(p, &h);
	if (rc)
		plan_release(p);
	free(todo);
	iv_free(&heads);
	iv_free(&order);
	ctx_release(&c);
	return rc;
}

/* One StampStep: from_ heads (ids) to at most one destination. */
static int run_stamp_step(struct hm *h, const struct strlist *from, const char *to, int up,
			  int branch_move)
{
	struct plan *p = h->p;
	size_t first = p->n_ops;
	char *a = strlist_join(from, ", "), *desc;
	int rc = 0;

	desc = xasprintf("%s -> %s", a, to ? to : "");
	free(a);
	if (!up && branch_move) {
		if (from->n != 1)
			rc = xraise(&h->c->x, X_REV, NULL, "stamp step without a single head to delete");
		else
			rc = hm_delete(h, from->v[0]);
	} else {
		int create = 0;
		if (up && to && hm_find(h, to) < 0) {
			if (branch_move)
				create = 1;
			for (size_t i = 0; i < from->n && !create; i++)
				create = hm_find(h, from->v[i]) < 0;
		}
		if (create) {
			rc = hm_insert(h, to);
		} else if (from->n > 1) {
			for (size_t i = 0; i + 1 < from->n && !rc; i++)
				rc = hm_delete(h, from->v[i]);
			if (!rc)
				rc = hm_update(h, from->v[from->n - 1], to);
		} else if (from->n != 1 || !to) {
			rc = xraise(&h->c->x, X_REV, NULL, "stamp step without a head to update");
		} else {
			rc = hm_update(h, from->v[0], to);
		}
	}
	add_step(p, NULL, up, first, desc);
	return rc;
}

int graph_plan_stamp(const struct graph *g, const struct strlist *current,
		     const struct strlist *targets, int purge, struct plan *p, struct err *e)
{
	static const char mh[] = "Multiple heads are present; please specify a single target revision";
	struct strlist none = { 0 };
	const struct strlist *cur = purge ? &none : current;
	struct ctx c;
	struct hm h;
	struct rarg hr, dr;
	struct ivec heads = { 0 }, filtered = { 0 }, dests = { 0 };
	const char *basearg[1] = { "base" };
	unsigned char *keepf = NULL;
	int rc = -1;

	ctx_init(&c, g);
	plan_begin(p, cur, &h, &c);
	rarg_of(&hr, cur);
	if (check_current(&c, cur, e) < 0)
		goto out;
	if (get_revisions_arg(&c, &hr, &heads) < 0)
		goto fail;
	for (int i = 0; i < heads.n; i++)
		if (require_rev(&c, heads.v[i]) < 0)
			goto fail;
	rarg_of(&dr, targets);
	if (!dr.n) {
		dr.v = basearg;
		dr.n = 1;
	}
	keepf = xcalloc((size_t)heads.n + 1, 1);
	for (int k = 0; k < dr.n; k++) {
		if (!truthy(dr.v[k]))
			continue;
		if (filter_lineage(&c, heads.v, heads.n, dr.v[k], 1, keepf) < 0)
			goto fail;
		for (int i = 0; i < heads.n; i++)
			if (keepf[i])
				iv_push_unique(&filtered, heads.v[i]);
	}
	if (get_revisions_arg(&c, &dr, &dests) < 0)
		goto fail;
	if (!dests.n)
		iv_push(&dests, RV_NONE);
	for (int k = 0; k < dests.n; k++) {
		int d = dests.v[k];
		struct strlist from = { 0 };
		int r;
		if (d == RV_BASE) {
			require_rev(&c, d);
			goto fail;
		}
		if (d == RV_NONE) {
			for (int i = 0; i < filtered.n; i++) {
				strlist_push(&from, nid(g, filtered.v[i]));
				r = run_stamp_step(&h, &from, NULL, 0, 1);
				strlist_free(&from);
				if (r < 0)
					goto fail_script;
			}
			continue;
		}
		if (iv_has(&filtered, d))
			continue;
		{
			unsigned char *desc = new_set(g), *anc = new_set(g);
			int down = 0, upw = 0;
			reach(&c, &d, 1, R_ALLNEXT, desc);
			reach(&c, &d, 1, R_NORM, anc);
			for (int i = 0; i < filtered.n; i++) {
				down |= desc[filtered.v[i]];
				upw |= anc[filtered.v[i]];
			}
			free(desc);
			free(anc);
			for (int i = 0; (down || upw) && i < filtered.n; i++)
				strlist_push(&from, nid(g, filtered.v[i]));
			if (down)
				r = run_stamp_step(&h, &from, nid(g, d), 0, 0);
			else if (upw)
				r = run_stamp_step(&h, &from, nid(g, d), 1, 0);
			else
				r = run_stamp_step(&h, &from, nid(g, d), 1, 1);
			strlist_free(&from);
			if (r < 0)
				goto fail_script;
		}
	}
	rc = 0;
	goto out;
fail_script:
	c.x.script = 1;
fail:
	wrap(&c, e, ANC_DEFAULT, c.x.kind == X_MULTI ? mh : NULL, NULL, NULL);
out:
	plan_end(p, &h);
	if (rc)
		plan_release(p);
	free(keepf);
	iv_free(&heads);
	iv_free(&filtered);
	iv_free(&dests);
	ctx_release(&c);
	return rc;
}

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

/* ---- history ----------------------------------------------------------- */

/* ScriptDirectory.walk_revisions(base, head): newest first. */
static int walk_revisions(struct ctx *c, const struct rarg *base, const struct rarg *head,
			  struct ivec *out)
{
	const struct graph *g = c->g;
	unsigned char *needs = new_set(g);
	struct ivec targets = { 0 };
	int rc = collect_upgrade(c, head, base, 1, 0, 0, needs, &targets);

	if (!rc)
		rc = topo_sort(c, needs, targets.v, targets.n, out);
	free(needs);
	iv_free(&targets);
	return rc;
}

int graph_history(const struct graph *g, const struct strlist *current, const char *range,
		  struct revptrs *out, struct err *e)
{
	struct ctx c;
	struct ivec order = { 0 };
	char *copy = NULL, *sb = NULL, *se = NULL;
	const char *bv[1] = { "base" }, *hv[1] = { "heads" };
	struct rarg base = { bv, 1, 1 }, head = { hv, 1, 1 };
	const char *start = "base", *end = "heads";
	int rc = -1;

	ctx_init(&c, g);
	if (range) {
		char *colon, *b, *h;
		copy = xstrdup(range);
		b = str_trim(copy);
		colon = strchr(b, ':');
		if (!colon) {
			err_set(e, ERR_USAGE, "History range requires [start]:[end], [start]:, or :[end]");
			goto out;
		}
		if (strchr(colon + 1, ':')) {
			err_set(e, ERR_USAGE, "history range '%s' has more than one ':'", range);
			goto out;
		}
		*colon = '\0';
		h = colon + 1;
		if (*b)
			bv[0] = start = b;
		if (*h)
			hv[0] = end = h;
		if (!strcmp(h, "current") || (!strcmp(b, "current") && strcmp(h, "current"))) {
			int is_head = !strcmp(h, "current");
			struct rarg *a = is_head ? &head : &base;
			if (check_current(&c, current, e) < 0)
				goto out;
			if (current && current->n) {
				rarg_of(a, current);
				if (is_head)
					end = se = py_tuple(current);
				else
					start = sb = py_tuple(current);
			} else {
				if (is_head)
					hv[0] = end = "heads";
				else
					bv[0] = start = "base";
			}
		}
	}
	if (walk_revisions(&c, &base, &head, &order) < 0) {
		wrap(&c, e, ANC_DEFAULT, NULL, start, end);
		goto out;
	}
	for (int i = 0; i < order.n; i++)
		revptrs_push(out, g->nodes[order.v[i]].rev);
	rc = 0;
out:
	free(copy);
	free(sb);
	free(se);
	iv_free(&order);
	ctx_release(&c);
	return rc;
}

void graph_branch_points(const struct graph *g, struct revptrs *out)
{
	struct revptrs all = { 0 };

	if (graph_history(g, NULL, NULL, &all, NULL) < 0)
		return;
	for (size_t i = 0; i < all.n; i++)
		if (graph_is_branch_point(g, all.v[i]))
			revptrs_push(out, all.v[i]);
	revptrs_free(&all);
}

/* ---- formatting (Script.cmd_format / log_entry) ------------------------ */

static void add_down(const struct graph *g, int i, struct sbuf *b)
{
	if (!g->nodes[i].down.n)
		sbuf_adds(b, "<base>");
	else
		join_ids(g, g->nodes[i].down.v, g->nodes[i].down.n, b);
}

static void add_labels(const struct graph *g, int i, struct sbuf *b)
{
	const struct ivec *l = &g->nodes[i].labels;

	for (int k = 0; k < l->n; k++)
		sbuf_addf(b, "%s%s", k ? ", " : "", g->labs[l->v[k]].name);
}

static void add_joined(const struct strlist *l, struct sbuf *b)
{
	for (size_t k = 0; k < l->n; k++)
		sbuf_addf(b, "%s%s", k ? ", " : "", l->v[k]);
}

char *graph_format(const struct graph *g, const struct revision *r, const struct graph_fmt *f)
{
	int i = idx_of(g, r);
	const struct node *nd;
	struct sbuf b = { 0 };
	int cur = f->head_indicators && f->current && strlist_contains(f->current, r->id);
	const char *msg = r->message ? r->message : "";

	if (i < 0)
		return xstrdup(r->id);
	nd = &g->nodes[i];
	if (f->verbose) {
		const char *p, *q;
		sbuf_addf(&b, "Rev: %s%s%s%s%s\n", r->id, !nd->next.n ? " (head)" : "",
			  nd->next.n > 1 ? " (branchpoint)" : "",
			  nd->down.n > 1 ? " (mergepoint)" : "", cur ? " (current)" : "");
		sbuf_adds(&b, nd->down.n > 1 ? "Merges: " : "Parent: ");
		add_down(g, i, &b);
		sbuf_addc(&b, '\n');
		if (r->depends.n) {
			sbuf_adds(&b, "Also depends on: ");
			add_joined(&r->depends, &b);
			sbuf_addc(&b, '\n');
		}
		if (nd->next.n > 1) {
			sbuf_adds(&b, "Branches into: ");
			join_ids(g, nd->next.v, nd->next.n, &b);
			sbuf_addc(&b, '\n');
		}
		if (nd->labels.n) {
			sbuf_adds(&b, "Branch names: ");
			add_labels(g, i, &b);
			sbuf_addc(&b, '\n');
		}
		sbuf_addf(&b, "Path: %s\n\n", r->path ? r->path : "");
		/* the message, one indented line per line (str.splitlines) */
		for (p = msg; *p; p = *q ? q + 1 : q) {
			q = p + strcspn(p, "\n");
			if (p != msg)
				sbuf_addc(&b, '\n');
			sbuf_addf(&b, "    %.*s", (int)(q - p), p);
		}
		sbuf_addc(&b, '\n');
		return sbuf_detach(&b);
	}
	if (f->include_parents) {
		add_down(g, i, &b);
		if (r->depends.n) {
			sbuf_adds(&b, " (");
			add_joined(&r->depends, &b);
			sbuf_adds(&b, ")");
		}
		sbuf_adds(&b, " -> ");
	}
	sbuf_adds(&b, r->id);
	if (f->include_branches && nd->labels.n) {
		sbuf_adds(&b, " (");
		add_labels(g, i, &b);
		sbuf_adds(&b, ")");
	}
	sbuf_addf(&b, "%s%s%s", !nd->allnext.n ? " (head)" : "",
		  !nd->next.n && nd->allnext.n ? " (effective head)" : "", cur ? " (current)" : "");
	if (f->tree_indicators)
		sbuf_addf(&b, "%s%s", nd->next.n > 1 ? " (branchpoint)" : "",
			  nd->down.n > 1 ? " (mergepoint)" : "");
	if (f->include_doc)
		sbuf_addf(&b, ", %s", msg);
	return sbuf_detach(&b);
}
