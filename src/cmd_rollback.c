/* rollback: revert the revisions this image's scripts do not know with
 * the downgrade SQL the ledger archived (SPEC §7.3), under the lock and in
 * one transaction; --sql prints the script instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/archive.h"
#include "prestart/cmd.h"
#include "prestart/ctx.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"
#include "prestart/offline.h"

/* The revisions to revert, rebuilt from their ledger rows (the scripts
 * of this image do not have them). */
struct archived {
	struct revision *v;
	size_t n;
};

static void archived_release(struct archived *a)
{
	for (size_t i = 0; i < a->n; i++)
		revision_release(&a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

/* Mark in *below everything reachable downwards from the heads in cur
 * (through the scripts, then the ledger's rows for revisions the scripts
 * do not know), each revision once: linear in the graph and the rows,
 * and finite whatever the rows say. */
static void mark_below(const struct ctx *c, const struct ledger_rows *rows,
		       const struct strmap *row_of, const struct strlist *cur, struct strmap *below)
{
	struct strlist todo = { 0 };

	for (size_t i = 0; i < cur->n; i++)
		strlist_push(&todo, cur->v[i]);
	while (todo.n) {
		char *id = todo.v[--todo.n];
		const struct revision *r = graph_find(c->g, id);
		int ri = r ? -1 : strmap_get(row_of, id);
		const struct strlist *down = r ? &r->down : ri >= 0 ? &rows->v[ri].down : NULL;

		for (size_t k = 0; down && k < down->n; k++) {
			/* the keys are the graph's and the rows' strings */
			if (strmap_get(below, down->v[k]) < 0) {
				strmap_put(below, down->v[k], 1);
				strlist_push(&todo, down->v[k]);
			}
		}
		free(id);
	}
	strlist_free(&todo);
}

static void push_op(struct plan *p, enum vt_kind kind, const char *from, const char *to)
{
	if (p->n_ops == p->ops_alloc) {
		p->ops_alloc = p->ops_alloc ? 2 * p->ops_alloc : 8;
		p->ops = xrealloc(p->ops, p->ops_alloc * sizeof(*p->ops));
	}
	p->ops[p->n_ops].kind = kind;
	p->ops[p->n_ops].from = from ? xstrdup(from) : NULL;
	p->ops[p->n_ops].to = to ? xstrdup(to) : NULL;
	p->n_ops++;
}

/* The plan that reverts a->unknown (newest first), each step's version
 * table operations as Alembic's HeadMaintainer would write them. */
static int make_plan(struct ctx *c, const struct strlist *heads, const struct ledger_ahead *a,
		     const struct ledger_rows *rows, struct archived *arch, struct plan *p)
{
	struct strlist cur = { 0 };
	struct strmap row_of = { 0 };
	int rc = 0;

	memset(p, 0, sizeof(*p));
	for (size_t i = rows->n; i-- > 0;)
		strmap_put(&row_of, rows->v[i].revision, (int)i);
	arch->v = xcalloc(a->unknown.n ? a->unknown.n : 1, sizeof(*arch->v));
	p->steps = xcalloc(a->unknown.n ? a->unknown.n : 1, sizeof(*p->steps));
	p->alloc = a->unknown.n;
	for (size_t i = 0; i < heads->n; i++) {
		strlist_push(&cur, heads->v[i]);
		strlist_push(&p->start_heads, heads->v[i]);
	}
	for (size_t i = 0; i < a->unknown.n && !rc; i++) {
		const char *id = a->unknown.v[i];
		const struct ledger_row *lr = &rows->v[strmap_get(&row_of, id)];
		struct revision *r = &arch->v[arch->n++];
		struct plan_step *s = &p->steps[p->n++];
		struct strlist add = { 0 };
		struct strmap below = { 0 };
		size_t at;

		if (c->stop && *c->stop) {
			rc = err_set(&c->e, 128 + *c->stop, "stopped by signal %d while planning",
				     (int)*c->stop);
			break;
		}
		r->id = xstrdup(id);
		/* As the upgrade ran: outside a transaction for a
		 * `Transactional: false` revision. */
		r->transactional = lr->transactional;
		r->path = xasprintf("ledger:%s", id);
		r->message = xstrdup("");
		for (size_t k = 0; k < lr->down.n; k++)
			strlist_push(&r->down, lr->down.v[k]);
		r->downgrade_sql = xstrdup(lr->downgrade_sql);
		r->downgrade_line = 1;
		s->rev = r;
		s->dir = DIR_DOWN;
		s->runner = RUN_SQL;
		s->desc = xasprintf("%s -> %s", id, lr->down.n ? lr->down.v[0] : "<base>");
		for (at = 0; at < cur.n && strcmp(cur.v[at], id); at++)
			;
		if (at == cur.n) {
			rc = err_set(&c->e, ERR_SCRIPT,
				     "revision %s is not a head of the version table: cannot roll "
				     "it back before what depends on it",
				     id);
			break;
		}
		free(cur.v[at]);
		memmove(&cur.v[at], &cur.v[at + 1], (cur.n - at - 1) * sizeof(cur.v[0]));
		cur.n--;
		mark_below(c, rows, &row_of, &cur, &below);
		for (size_t k = 0; k < lr->down.n; k++) {
			const char *d = lr->down.v[k];

			if (!strlist_contains(&cur, d) && strmap_get(&below, d) < 0)
				strlist_push(&add, d);
		}
		strmap_free(&below);
		s->op_first = p->n_ops;
		if (!add.n)
			push_op(p, VT_DELETE, id, NULL);
		for (size_t k = 0; k < add.n; k++) {
			push_op(p, k ? VT_INSERT : VT_UPDATE, k ? NULL : id, add.v[k]);
			strlist_push(&cur, add.v[k]);
		}
		s->op_count = p->n_ops - s->op_first;
		strlist_free(&add);
	}
	strmap_free(&row_of);
	if (rc) {
		strlist_free(&cur);
		return rc;
	}
	p->end_heads = cur;
	return 0;
}

/* Read, judge and plan: 0 with *p empty when nothing is ahead, or an exit
 * status. */
static int plan_rollback(struct ctx *c, struct ledger *l, struct archived *arch, struct plan *p)
{
	struct strlist heads = { 0 };
	struct ledger_rows rows = { 0 };
	struct ledger_ahead a = { 0 };
	int rc = 0;

	if ((rc = ctx_read_heads(c, &heads, NULL, NULL, READ_KEEP_UNKNOWN)))
		return rc;
	if (ledger_read(l, &c->db, &rows) < 0) {
		err_set(&c->e, l->refused ? ERR_USAGE : ERR_FAILED, "cannot read the ledger: %s",
			c->db.errstr);
		rc = ctx_fail(c);
		goto out;
	}
	ledger_judge_ahead(c->g, &heads, &rows, &a);
	if (a.unknown.n && (a.unproven.n || a.no_downgrade.n || a.cycle.n)) {
		err_set(&c->e, ERR_SCRIPT, "nothing rolled back: %s", a.explain);
		rc = ctx_fail(c);
		goto out;
	}
	if (a.unknown.n && make_plan(c, &heads, &a, &rows, arch, p) < 0)
		rc = ctx_fail(c);
out:
	ledger_ahead_release(&a);
	ledger_rows_release(&rows);
	strlist_free(&heads);
	return rc;
}

/* What `rollback` puts back after the downgrade SQL, which the script
 * alone would not: one comment line per archive of a reverted revision. */
static int archived_note(struct ctx *c, const struct plan *p, const struct ledger *l,
			 struct sbuf *b)
{
	struct archive ar;
	const struct archive *a = ctx_archive_init(c, l, &ar);
	struct archive_rows rows = { 0 };
	size_t said = 0;

	if (!a)
		return 0;
	if (archive_list(a, &c->db, &rows, &c->e) < 0) {
		archive_release(&ar);
		return -1;
	}
	for (size_t i = 0; i < rows.n; i++) {
		const struct archive_row *r = &rows.v[i];
		int reverted = 0;

		for (size_t k = 0; k < p->n && !reverted; k++)
			reverted = p->steps[k].rev && !strcmp(p->steps[k].rev->id, r->revision);
		if (!reverted || strcmp(r->direction, "upgrade") != 0)
			continue;
		if (!said++)
			sbuf_adds(b, "-- prestart: `prestart rollback` also puts back, after each "
				     "revision's downgrade SQL, the data its upgrade archived; this "
				     "script alone does not:\n");
		sbuf_addf(b, "--   revision %s: %lld rows of %s (%s) from %s%s\n", r->revision,
			  r->rows, r->table, !strcmp(r->kind, "table") ? "the whole table" : r->columns,
			  r->archive_table, r->keyed ? "" : ": not restorable (no primary key)");
	}
	if (said)
		sbuf_adds(b, "\n");
	archive_rows_release(&rows);
	archive_release(&ar);
	return 0;
}

static int print_sql(struct ctx *c, const struct plan *p, const struct ledger *l)
{
	struct offline_opts o = { c->url.kind, c->cfg.version_table_schema, c->cfg.version_table,
				  0, 1 };
	struct sbuf b = { 0 };
	int rc = 0;

	if (archived_note(c, p, l, &b) < 0 || offline_render(p, &o, &b, &c->e) < 0)
		rc = ctx_fail(c);
	else
		out("%s", b.buf ? b.buf : "");
	sbuf_free(&b);
	return rc;
}

int cmd_rollback(struct ctx *c)
{
	struct ledger l;
	struct archived arch = { 0 };
	struct plan p = { 0 };
	struct lock lk;
	struct migrate_opts mo = { 0 };
	struct archive ar;
	int rc, lr;
	char *to = NULL;

	if ((rc = ctx_connect(c)))
		return rc;
	ctx_ledger_init(c, &l);
	if (c->cli->sql) {
		if (!(rc = plan_rollback(c, &l, &arch, &p)) && p.n)
			rc = print_sql(c, &p, &l);
		goto out;
	}
	status_set_phase(&c->st, PHASE_LOCKING);
	lr = lock_acquire(&lk, &c->db,
			  &(struct lock_opts){ .schema = c->cfg.version_table_schema,
					       .table = c->cfg.version_table,
					       .timeout_ms = c->cfg.lock_timeout_ms,
					       .stop = c->stop },
			  &c->e);
	if (lr < 0) {
		rc = ctx_fail(c);
		goto out;
	}
	if ((rc = plan_rollback(c, &l, &arch, &p)) || !p.n) {
		if (!rc)
			log_event(LOG_INFO, "up_to_date", NULL,
				  "nothing to roll back: the database holds no revision this image "
				  "does not know");
		lock_release(&lk);
		goto out;
	}
	to = strlist_join(&p.end_heads, ",");
	log_event(LOG_INFO, "plan",
		  (struct log_field[]){ LFS("to", to), LFI("steps", p.n), { 0 } },
		  "rollback to %s: %zu step%s, with the downgrade SQL the ledger archived",
		  *to ? to : "<base>", p.n, p.n == 1 ? "" : "s");
	mo.schema = c->cfg.version_table_schema;
	mo.table = c->cfg.version_table;
	mo.stop = c->stop;
	mo.st = &c->st;
	mo.ledger = &l;
	/* SPEC §9.3: the data the reverted revisions dropped comes back */
	mo.archive = ctx_archive_init(c, &l, &ar);
	/* SPEC §9.3: the downgrade SQL faces the guard and the archive
	 * limit as an upgrade does, before its first statement */
	if (ctx_guard_db(c, &c->db, &p, NULL, NULL, &c->e) < 0 ||
	    (mo.archive && c->cfg.guard == GUARD_FAIL &&
	     archive_precheck(mo.archive, &c->db, &p, &c->e) < 0)) {
		rc = ctx_fail(c);
	}
	if (!rc)
		status_set_phase(&c->st, PHASE_MIGRATING);
	if (!rc && migrate_apply(&c->db, &p, &mo, &c->e) < 0)
		rc = ctx_fail(c);
	if (!rc) {
		status_set_phase(&c->st, PHASE_DONE);
		log_event(LOG_INFO, "done", (struct log_field[]){ LFS("revision", to), { 0 } },
			  "at %s (%zu revision%s rolled back)", *to ? to : "<base>", p.n,
			  p.n == 1 ? "" : "s");
	}
	if (mo.archive)
		archive_release(&ar);
	lock_release(&lk);
out:
	free(to);
	plan_release(&p);
	archived_release(&arch);
	ledger_release(&l);
	return rc;
}
