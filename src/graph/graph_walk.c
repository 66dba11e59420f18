/* graph_walk.c - walking the graph between two points: where an upgrade or
 * a downgrade goes, which revisions lie on the way, and in which order.
 *
 *   upgrade and downgrade targets
 *                       _parse_upgrade_target, _parse_downgrade_target:
 *                       relative ids from the current heads, on a branch
 *   collecting          _collect_upgrade_revisions and
 *                       _collect_downgrade_revisions, with the overlap
 *                       check of _iterate_related_revisions
 *   topological order   _topological_sort, heads first
 *   current             what `alembic current` shows
 *   history             walk_revisions for `alembic history -r A:B`;
 *                       the branch points in that order
 *
 * What the files share: graph_int.h.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- upgrade and downgrade targets ------------------------------------- */

/* _get_all_current + _filter_into_branch_heads, then filtered for a branch:
 * used by a relative downgrade on a branch. */
static int all_current_for_branch(struct gwalk *c, const struct rarg *cur, const char *branch,
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
	gwalk_reach(c, top.v, top.n, R_NORM, set);
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
static int parse_downgrade_target(struct gwalk *c, const struct rarg *cur, const char *target,
				  int flags, const char **branch_out, int *out)
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
		const char *branch = m.branch ? gwalk_keep(c, xstrdup(m.branch)) : NULL;
		const char *symbol = m.symbol;
		int start, rev;
		if (m.rel >= 0) {
			if (!symbol) {
				xraise(&c->x, X_REV, NULL, "Relative revision %s didn't produce %lld migrations",
				       m.relative, m.rel);
				goto out;
			}
			if (get_revision(c, symbol, &start) < 0 ||
			    walk_relative(c, start, m.rel, branch, flags, &rev) < 0)
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
		}
		if (branch) {
			char *s = xasprintf("%s@%s", branch, symbol);
			gwalk_keep(c, s);
			if (get_revision(c, s, &start) < 0)
				goto out;
		} else if (get_revision(c, symbol, &start) < 0) {
			goto out;
		}
		if (walk_relative(c, start, m.rel, NULL, flags, &rev) < 0)
			goto out;
		if (rev == RV_NONE) {
			/* Alembic words it by whether the target named a symbol. */
			if (m.symbol)
				xraise(&c->x, X_REV, NULL, "Walked too far");
			else
				xraise(&c->x, X_REV, NULL,
				       "Relative revision %s didn't produce %lld migrations",
				       m.relative, -m.rel);
			goto out;
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
			*branch_out = gwalk_keep(c, xstrndup(target, (size_t)(at - target)));
		return get_revision(c, symbol, out);
	}
}

/* RevisionMap._parse_upgrade_target. */
static int parse_upgrade_target(struct gwalk *c, const struct rarg *cur, const struct rarg *target,
				int flags, struct ivec *out)
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
					gwalk_reach(c, curv.v, curv.n, R_NORM, anc);
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
			if (walk_relative(c, start, m.rel, branch, flags, &rev) < 0)
				goto out;
			if (rev == RV_NONE) {
				xraise(&c->x, X_REV, NULL, "Relative revision %s didn't produce %lld migrations",
				       m.relative, m.rel);
				goto out;
			}
		} else {
			if (get_revision(c, m.symbol, &start) < 0 ||
			    walk_relative(c, start, m.rel, m.branch, flags, &rev) < 0)
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
			gwalk_keep(c, s);
			if (get_revision(c, s, &start) < 0)
				goto out;
		} else if (get_revision(c, m.symbol, &start) < 0) {
			goto out;
		}
		if (walk_relative(c, start, m.rel, NULL, flags, &rev) < 0)
			goto out;
	}
	iv_push(out, rev);
	rc = 0;
out:
	rel_free(&m);
	return rc;
}

/* ---- collecting -------------------------------------------------------- */

/* _iterate_related_revisions with check=True: reports a requested
 * revision reachable from another one. */
static int reach_checked(struct gwalk *c, const int *t, int n, enum rel r, unsigned char *set)
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

/* RevisionMap._collect_upgrade_revisions; fills needs and targets. */
int collect_upgrade(struct gwalk *c, const struct rarg *upper, const struct rarg *lower,
		    int flags, unsigned char *needs, struct ivec *targets)
{
	int implicit_base = !!(flags & WALK_IMPLICIT_BASE);
	const struct graph *g = c->g;
	struct ivec cur = { 0 };
	unsigned char *req = new_set(g), *curset = NULL;
	struct rarg low = *lower;
	const char *lowbuf[1];
	int rc = -1;

	if (parse_upgrade_target(c, lower, upper, flags, targets) < 0)
		goto out;
	for (int i = 0; i < targets->n; i++)
		if (require_rev(c, targets->v[i]) < 0)
			goto out;
	if (lower->is_str && lower->v[0] && strchr(lower->v[0], '@')) {
		const char *at = strchr(lower->v[0], '@');
		const char *branch = gwalk_keep(c, xstrndup(lower->v[0], (size_t)(at - lower->v[0])));
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
		if (parse_downgrade_target(c, upper, lower->v[0], flags, &b, &rev) < 0)
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
	if (flags & WALK_INCLUSIVE) {
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
int collect_downgrade(struct gwalk *c, const struct rarg *upper, const char *target, int flags,
		      unsigned char *drop, struct ivec *heads)
{
	const struct graph *g = c->g;
	const char *branch;
	int trev, rc = -1;
	struct ivec roots = { 0 };
	unsigned char *active = new_set(g);

	if (parse_downgrade_target(c, upper, target, flags, &branch, &trev) < 0)
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
		gwalk_reach(c, &br, 1, R_DOWN, anc);
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
	gwalk_reach(c, roots.v, roots.n, R_ALLNEXT, drop);
	gwalk_reach(c, heads->v, heads->n, R_NORM, active);
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

/* ---- topological order ------------------------------------------------- */

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

static int is_ancestor_live(struct gwalk *c, const struct tsort *t, int anc, int from)
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

static void kill_node(struct gwalk *c, struct tsort *t, int x)
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

int topo_sort(struct gwalk *c, const unsigned char *todo, const int *heads, int nheads,
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

/* ---- current ----------------------------------------------------------- */

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

/* ---- history ----------------------------------------------------------- */

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

/* ScriptDirectory.walk_revisions(base, head): newest first. */
static int walk_revisions(struct gwalk *c, const struct rarg *base, const struct rarg *head,
			  struct ivec *out)
{
	const struct graph *g = c->g;
	unsigned char *needs = new_set(g);
	struct ivec targets = { 0 };
	int rc = collect_upgrade(c, head, base, WALK_INCLUSIVE, needs, &targets);

	if (!rc)
		rc = topo_sort(c, needs, targets.v, targets.n, out);
	free(needs);
	iv_free(&targets);
	return rc;
}

int graph_history(const struct graph *g, const struct strlist *current, const char *range,
		  struct revptrs *out, struct err *e)
{
	struct gwalk c;
	struct ivec order = { 0 };
	char *copy = NULL, *sb = NULL, *se = NULL;
	const char *bv[1] = { "base" }, *hv[1] = { "heads" };
	struct rarg base = { bv, 1, 1 }, head = { hv, 1, 1 };
	const char *start = "base", *end = "heads";
	int rc = -1;

	gwalk_init(&c, g);
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
			if (check_current_heads(&c, current, e) < 0)
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
		catch_revision_errors(&c, e, ANC_DEFAULT, NULL, start, end);
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
	gwalk_release(&c);
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
