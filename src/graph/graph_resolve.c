/* graph_resolve.c - revision arguments: what "heads", "ae10@head",
 * "branch@-1" or a prefix names (RevisionMap.get_revisions and friends),
 * and the exceptions Alembic raises on the way, turned into its messages.
 *
 *   Alembic's exceptions  xraise: record one in the query's struct xc
 *   resolution            Python's int(), _relative_destination; lookups by
 *                         id, label and unique prefix; lineage filters;
 *                         "head" and "heads"; get_revisions of a string or
 *                         a tuple; relative steps (RevisionMap._walk)
 *   messages              _catch_revision_errors; the database heads
 *                         checked; graph_resolve
 *
 * What the files share: graph_int.h.
 */
#include "graph_int.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Alembic's exceptions ---------------------------------------------- */

__attribute__((format(printf, 4, 5)))
int xraise(struct xc *x, int kind, const char *arg, const char *fmt, ...)
{
	va_list ap;

	x->kind = kind;
	snprintf(x->arg, sizeof(x->arg), "%s", arg ? arg : "");
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return -1;
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

int rel_match(const char *s, struct relmatch *m)
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

void rel_free(struct relmatch *m)
{
	free(m->branch);
	free(m->symbol);
	free(m->relative);
}

static int resolve_number(struct gwalk *c, const char *id, struct plist *ids, const char **branch);

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
static int shares(struct gwalk *c, int target, const unsigned char *test, int flags)
{
	int deps = flags & WALK_INCLUDE_DEPS;
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
int filter_lineage(struct gwalk *c, const int *targets, int n, const char *check, int flags,
		   unsigned char *keep_out)
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
		keep_out[i] = !test || shares(c, targets[i], test, flags);
	}
	free(test);
	pl_free(&ids);
	return 0;
fail:
	free(test);
	pl_free(&ids);
	return -1;
}

static int get_current_head(struct gwalk *c, const char *branch, int *out)
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
static int resolve_number(struct gwalk *c, const char *id, struct plist *ids, const char **branch)
{
	const struct graph *g = c->g;
	const char *at;

	*branch = NULL;
	ids->n = 0;
	if (id && (at = strchr(id, '@'))) {
		*branch = gwalk_keep(c, xstrndup(id, (size_t)(at - id)));
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

int resolve_branch(struct gwalk *c, const char *label, int *out)
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
int revision_for_ident(struct gwalk *c, const char *ident, const char *check_branch, int *out)
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

int get_revisions_str(struct gwalk *c, const char *id, struct ivec *out)
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
			rc = walk_relative(c, h, rint, NULL, WALK_NO_OVERWALK, &v);
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

int get_revisions_nodes(struct gwalk *c, const int *v, int n, struct ivec *out)
{
	for (int i = 0; i < n; i++)
		if (get_revisions_str(c, c->g->nodes[v[i]].rev->id, out) < 0)
			return -1;
	return 0;
}

int get_revision(struct gwalk *c, const char *id, int *out)
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
int walk_relative(struct gwalk *c, int start, long long steps, const char *branch, int flags,
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
			*out = flags & WALK_NO_OVERWALK ? RV_NONE : initial;
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

int get_revisions_arg(struct gwalk *c, const struct rarg *a, struct ivec *out)
{
	if (a->is_str)
		return get_revisions_str(c, a->v[0], out);
	for (int i = 0; i < a->n; i++)
		if (get_revisions_str(c, a->v[i], out) < 0)
			return -1;
	return 0;
}

int require_rev(struct gwalk *c, int v)
{
	if (v < 0)
		return xraise(&c->x, X_REV, NULL, "%s is not a revision",
			      v == RV_BASE ? "'base'" : "None");
	return 0;
}

/* ---- messages: _catch_revision_errors ---------------------------------- */

int catch_revision_errors(struct gwalk *c, struct err *e, enum anc_msg am, const char *mh_custom,
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

/* Every database head must name a script: a version table at a revision
 * no script knows is inconsistent. */
int check_current_heads(struct gwalk *c, const struct strlist *current, struct err *e)
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
	struct gwalk c;
	struct ivec v = { 0 };
	int rc = 0;

	gwalk_init(&c, g);
	if (arg && !strcmp(arg, "current")) {
		struct rarg a = { (const char *const *)(current ? current->v : NULL),
				  current ? (int)current->n : 0, 0 };
		if (check_current_heads(&c, current, e) < 0)
			rc = -1;
		else if (get_revisions_arg(&c, &a, &v) < 0)
			rc = catch_revision_errors(&c, e, ANC_DEFAULT, NULL, NULL, NULL);
	} else if (get_revisions_str(&c, arg, &v) < 0) {
		rc = catch_revision_errors(&c, e, ANC_DEFAULT, NULL, NULL, NULL);
	}
	for (int i = 0; !rc && i < v.n; i++)
		if (v.v[i] >= 0)
			revptrs_push(out, g->nodes[v.v[i]].rev);
	iv_free(&v);
	gwalk_release(&c);
	return rc;
}


/* ---- a reason for "Ambiguous walk" -------------------------------------- */

/* "from FROM, which branches to a, b" */
static void add_branches(struct sbuf *why, const char *from, const struct revptrs *to)
{
	sbuf_addf(why, "from %s, which branches to ", from);
	for (size_t i = 0; i < to->n; i++)
		sbuf_addf(why, "%s%s", i ? ", " : "", to->v[i]->id);
}

/* Alembic's "Ambiguous walk" names neither the target nor where the walk
 * forks; the commands keep its words (the graph's answers stay Alembic's)
 * and add in parentheses what the user can act on. */
static void walk_fork(const struct graph *g, const char *target, const struct strlist *current,
		      struct sbuf *why)
{
	const char *sign = NULL;
	const struct revision *r = NULL;
	char *end;
	long n;

	if (strchr(target, ':') || strchr(target, '@'))
		return;
	for (const char *p = target; *p; p++)
		if (*p == '+' || *p == '-')
			sign = p;
	if (!sign)
		return;
	n = strtol(sign + 1, &end, 10);
	if (*end || n <= 0 || end == sign + 1)
		return;
	if (sign == target && *sign == '+' && (!current || !current->n)) {
		struct revptrs b = { 0 };

		graph_bases(g, &b);
		if (b.n > 1) {
			add_branches(why, "<base>", &b);
			revptrs_free(&b);
			return;
		}
		r = b.n ? b.v[0] : NULL;
		revptrs_free(&b);
		n--;
	} else if (sign == target) {
		if (!current || current->n != 1) {
			if (current && current->n > 1) {
				sbuf_addf(why, "from the database's %zu heads, ", current->n);
				for (size_t i = 0; i < current->n; i++)
					sbuf_addf(why, "%s%s", i ? ", " : "", current->v[i]);
			}
			return;
		}
		r = graph_find(g, current->v[0]);
	} else {
		struct revptrs start = { 0 };
		struct err e = { 0 };
		char *rev = xstrndup(target, (size_t)(sign - target));

		if (graph_resolve(g, rev, current, &start, &e) == 0 && start.n == 1)
			r = start.v[0];
		revptrs_free(&start);
		free(rev);
	}
	for (long s = 0; r && s < n; s++) {
		if (*sign == '-') {
			if (r->down.n > 1) {
				sbuf_addf(why, "from %s, which merges ", r->id);
				for (size_t i = 0; i < r->down.n; i++)
					sbuf_addf(why, "%s%s", i ? ", " : "", r->down.v[i]);
				return;
			}
			r = r->down.n ? graph_find(g, r->down.v[0]) : NULL;
		} else {
			struct revptrs up = { 0 };

			graph_nextrevs(g, r, &up);
			if (up.n > 1) {
				add_branches(why, r->id, &up);
				revptrs_free(&up);
				return;
			}
			r = up.n ? up.v[0] : NULL;
			revptrs_free(&up);
		}
	}
}

void graph_explain_walk(const struct graph *g, const char *target, const struct strlist *current,
			struct err *e)
{
	struct sbuf why = { 0 };

	if (!target || strcmp(e->msg, "Ambiguous walk") != 0)
		return;
	walk_fork(g, target, current, &why);
	err_set(e, e->kind,
		"Ambiguous walk (the relative target '%s' has more than one way to go %s; name "
		"the revision to go to, or narrow it to a branch: LABEL@%s1)",
		target, why.buf ? why.buf : "at a merge point or a branch point",
		strchr(target, '+') ? "+" : "-");
	sbuf_free(&why);
}
