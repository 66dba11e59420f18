/* graph_plan.c - plans: the revisions an upgrade, downgrade or stamp runs
 * and what each step writes to the version table.
 *
 *   the version table   struct hm, Alembic's HeadMaintainer: the rows as
 *                       a set in write order; insert, delete, update
 *   revision steps      RevisionStep's writes, merges and unmerges included
 *   upgrade, downgrade  graph_plan: collect, order, run the steps
 *   stamp               graph_plan_stamp: a StampStep from the current heads
 *                       to each destination
 *
 * What the files share: graph_int.h.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- the version table ------------------------------------------------- */

/* The version table as HeadMaintainer sees it: a set of strings, kept in
 * the order rows were written. */
struct hm {
	struct gwalk *c;
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
	struct gwalk *c = h->c;
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
		gwalk_reach(c, key.v, key.n, R_NORM, h->anc);
		iv_free(&h->key);
		h->key = key;
	} else {
		iv_free(&key);
	}
	*anc = h->anc;
	return 0;
}

/* ---- revision steps ---------------------------------------------------- */

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

static int run_revision_step(struct hm *h, int r, enum dir dir)
{
	int up = dir == DIR_UP;
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

static void add_step(struct plan *p, const struct revision *rev, enum dir dir,
		     size_t op_first, char *desc)
{
	struct plan_step *s;

	xgrow((void **)&p->steps, &p->alloc, p->n + 1, sizeof(*p->steps));
	s = &p->steps[p->n++];
	s->rev = rev;
	s->dir = dir;
	s->runner = rev && rev->is_py ? RUN_ALEMBIC : RUN_SQL;
	s->why = NULL;
	s->op_first = op_first;
	s->op_count = p->n_ops - op_first;
	s->desc = desc;
}

static char *step_desc(const struct graph *g, int r, enum dir dir)
{
	int up = dir == DIR_UP;
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

static void plan_begin(struct plan *p, const struct strlist *current, struct hm *h, struct gwalk *c)
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

/* Run the revisions of order, which topo_sort lists heads first: an
 * upgrade runs them from the last (parents first), a downgrade from the
 * first. */
static int run_steps(struct hm *h, const struct ivec *order, enum dir dir)
{
	const struct graph *g = h->c->g;
	int reverse = dir == DIR_UP;

	for (int k = 0; k < order->n; k++) {
		int r = order->v[reverse ? order->n - 1 - k : k];
		size_t first = h->p->n_ops;
		if (run_revision_step(h, r, dir) < 0)
			return -1;
		add_step(h->p, g->nodes[r].rev, dir, first, step_desc(g, r, dir));
	}
	return 0;
}

/* ---- upgrade, downgrade ------------------------------------------------ */

/* Steps of the plan to `target` kept when they are among `only`, in plan
 * order (a kept step may not need one left out): graph_plan_upgrade_only.
 * Returns 0, or -1 with e set. */
static int keep_only(const struct graph *g, const unsigned char *todo, const struct ivec *order,
		     const struct revptrs *only, struct ivec *sub, struct err *e)
{
	unsigned char *keep = new_set(g);
	int rc = -1;

	for (size_t i = 0; i < only->n; i++) {
		int n = ht_get(&g->ids, only->v[i]->id);

		if (n < 0 || !todo[n]) {
			err_set(e, ERR_USAGE, "revision '%s' is not pending: it cannot be applied",
				only->v[i]->id);
			goto out;
		}
		keep[n] = 1;
	}
	for (int k = 0; k < order->n; k++) {
		int n = order->v[k];
		const struct ivec *down = &g->nodes[n].alldown;

		if (!keep[n])
			continue;
		for (int i = 0; i < down->n; i++) {
			if (todo[down->v[i]] && !keep[down->v[i]]) {
				err_set(e, ERR_USAGE,
					"revision '%s' cannot be applied without '%s', which is "
					"held back",
					nid(g, n), nid(g, down->v[i]));
				goto out;
			}
		}
		iv_push(sub, n);
	}
	rc = 0;
out:
	free(keep);
	return rc;
}

/* ScriptDirectory._upgrade_revs and _downgrade_revs, then their steps
 * (only those among `only` when it is not NULL). */
static int plan_to(const struct graph *g, const struct strlist *current, const char *target,
		   enum dir dir, const struct revptrs *only, struct plan *p, struct err *e)
{
	enum anc_msg am = dir == DIR_UP ? ANC_UPGRADE : ANC_DOWNGRADE;
	struct gwalk c;
	struct hm h;
	struct rarg cur, dest = { &target, 1, 1 };
	unsigned char *todo;
	struct ivec heads = { 0 }, order = { 0 }, sub = { 0 };
	int rc = -1, r;

	gwalk_init(&c, g);
	plan_begin(p, current, &h, &c);
	todo = new_set(g);
	rarg_of(&cur, current);
	if (check_current_heads(&c, current, e) < 0)
		goto out;
	/* As ScriptDirectory calls iterate_revisions: an upgrade starts from
	 * the version table whatever it holds (implicit_base), and a relative
	 * target may not walk off the graph (assert_relative_length). */
	if (dir == DIR_UP)
		r = collect_upgrade(&c, &dest, &cur, WALK_IMPLICIT_BASE | WALK_NO_OVERWALK, todo,
				    &heads);
	else
		r = collect_downgrade(&c, &cur, target, WALK_NO_OVERWALK, todo, &heads);
	if (r < 0 || topo_sort(&c, todo, heads.v, heads.n, &order) < 0) {
		catch_revision_errors(&c, e, am, NULL, NULL, target);
		goto out;
	}
	if (only && keep_only(g, todo, &order, only, &sub, e) < 0)
		goto out;
	if (run_steps(&h, only ? &sub : &order, dir) < 0) {
		c.x.script = 1;
		catch_revision_errors(&c, e, am, NULL, NULL, target);
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
	iv_free(&sub);
	gwalk_release(&c);
	return rc;
}

int graph_plan(const struct graph *g, const struct strlist *current, const char *target,
	       enum dir dir, struct plan *p, struct err *e)
{
	return plan_to(g, current, target, dir, NULL, p, e);
}

/* graph_plan_upgrade_only: the upgrade to heads, its steps kept in the
 * same order when they are among `only`.  The version table ends at the
 * heads of that subset, as Alembic's upgrade to several targets would. */
int graph_plan_upgrade_only(const struct graph *g, const struct strlist *current,
			    const struct revptrs *only, struct plan *p, struct err *e)
{
	return plan_to(g, current, "heads", DIR_UP, only, p, e);
}

/* ---- stamp ------------------------------------------------------------- */

/* StampStep.branch_move: the stamp adds a branch (a destination on no
 * current head's line) or removes one (no destination), rather than moving
 * a head along its branch. */
enum stamp_flag { STAMP_BRANCH_MOVE = 1 << 0 };

/* One StampStep: from_ heads (ids) to at most one destination. */
static int run_stamp_step(struct hm *h, const struct strlist *from, const char *to,
			  enum dir dir, int flags)
{
	int up = dir == DIR_UP, branch_move = flags & STAMP_BRANCH_MOVE;
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
	add_step(p, NULL, dir, first, desc);
	return rc;
}

int graph_plan_stamp(const struct graph *g, const struct strlist *current,
		     const struct strlist *targets, int purge, struct plan *p, struct err *e)
{
	static const char mh[] = "Multiple heads are present; please specify a single target revision";
	struct strlist none = { 0 };
	const struct strlist *cur = purge ? &none : current;
	struct gwalk c;
	struct hm h;
	struct rarg hr, dr;
	struct ivec heads = { 0 }, filtered = { 0 }, dests = { 0 };
	const char *basearg[1] = { "base" };
	unsigned char *keepf = NULL;
	int rc = -1;

	gwalk_init(&c, g);
	plan_begin(p, cur, &h, &c);
	rarg_of(&hr, cur);
	if (check_current_heads(&c, cur, e) < 0)
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
		if (filter_lineage(&c, heads.v, heads.n, dr.v[k], WALK_INCLUDE_DEPS, keepf) < 0)
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
				r = run_stamp_step(&h, &from, NULL, DIR_DOWN, STAMP_BRANCH_MOVE);
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
			gwalk_reach(&c, &d, 1, R_ALLNEXT, desc);
			gwalk_reach(&c, &d, 1, R_NORM, anc);
			for (int i = 0; i < filtered.n; i++) {
				down |= desc[filtered.v[i]];
				upw |= anc[filtered.v[i]];
			}
			free(desc);
			free(anc);
			for (int i = 0; (down || upw) && i < filtered.n; i++)
				strlist_push(&from, nid(g, filtered.v[i]));
			if (down)
				r = run_stamp_step(&h, &from, nid(g, d), DIR_DOWN, 0);
			else if (upw)
				r = run_stamp_step(&h, &from, nid(g, d), DIR_UP, 0);
			else
				r = run_stamp_step(&h, &from, nid(g, d), DIR_UP,
						   STAMP_BRANCH_MOVE);
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
	catch_revision_errors(&c, e, ANC_DEFAULT, c.x.kind == X_MULTI ? mh : NULL, NULL, NULL);
out:
	plan_end(p, &h);
	if (rc)
		plan_release(p);
	free(keepf);
	iv_free(&heads);
	iv_free(&filtered);
	iv_free(&dests);
	gwalk_release(&c);
	return rc;
}
