/* graph.c - the revision graph: its containers and the working state of a
 * query, building and validating it, and what it says about one revision.
 *
 *   containers        the string table behind lookups by id and label;
 *                     a list of ids as text
 *   revptrs           the public list of revisions
 *   working state     struct gwalk: scratch strings, marks, the stack
 *   building          graph_build: ids, labels, edges, cycles, normalized
 *                     dependencies, label propagation
 *   facts             graph_find, heads, bases, branch and merge points
 *
 * The rest of the module, and what the files share: graph_int.h.
 */
#include "graph_int.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- containers -------------------------------------------------------- */

static void ht_init(struct htab *t, size_t n)
{
	t->cap = 16;
	while (t->cap < n * 2 + 1)
		t->cap *= 2;
	t->keys = xcalloc(t->cap, sizeof(*t->keys));
	t->vals = xcalloc(t->cap, sizeof(*t->vals));
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

void join_ids(const struct graph *g, const int *v, int n, struct sbuf *b)
{
	for (int i = 0; i < n; i++) {
		if (i)
			sbuf_adds(b, ", ");
		sbuf_adds(b, g->nodes[v[i]].rev->id);
	}
}

/* ---- revptrs ----------------------------------------------------------- */

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

/* ---- working state ----------------------------------------------------- */

void gwalk_init(struct gwalk *c, const struct graph *g)
{
	memset(c, 0, sizeof(*c));
	c->g = g;
	c->stamp = xcalloc((size_t)g->n + 1, sizeof(*c->stamp));
}

void gwalk_release(struct gwalk *c)
{
	strlist_free(&c->tmp);
	free(c->stamp);
	free(c->stack);
}

const char *gwalk_keep(struct gwalk *c, char *s)
{
	strlist_push_owned(&c->tmp, s);
	return s;
}

void gwalk_reach(struct gwalk *c, const int *starts, int n, enum rel r, unsigned char *set)
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

/* Kahn's algorithm over `down` (versioned), or `alldown` with
 * WALK_INCLUDE_DEPS; on a cycle, report the revisions on or between cycles. */
static int check_cycles(struct graph *g, int flags, struct err *e)
{
	int n = g->n, *indeg = xcalloc((size_t)n + 1, sizeof(int));
	int *queue = xmalloc(((size_t)n + 1) * sizeof(int)), qh = 0, qt = 0;
	int all = flags & WALK_INCLUDE_DEPS;
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
static void propagate_labels(struct graph *g, struct gwalk *c)
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
static void normalize_deps(struct graph *g, struct gwalk *c)
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
	struct gwalk c;
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
	if (check_cycles(g, 0, e) < 0 || check_cycles(g, WALK_INCLUDE_DEPS, e) < 0) {
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
	gwalk_init(&c, g);
	normalize_deps(g, &c);
	propagate_labels(g, &c);
	gwalk_release(&c);
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

/* ---- facts ------------------------------------------------------------- */

size_t graph_count(const struct graph *g)
{
	return (size_t)g->n;
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

void graph_real_heads(const struct graph *g, struct revptrs *out)
{
	push_nodes(g, &g->real_heads, out);
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
