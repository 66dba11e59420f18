/* phase.c - revision classes and the expand phase's subset (SPEC §9.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/phase.h"

/* The statement at [off, off+len) of sql on one line, blanks squeezed,
 * at most about 80 bytes. */
static char *one_line(const char *sql, size_t off, size_t len)
{
	struct sbuf b = { 0 };
	int blank = 0;

	for (size_t i = off; i < off + len && sql[i]; i++) {
		char c = sql[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			blank = b.len > 0;
			continue;
		}
		if (blank)
			sbuf_addc(&b, ' ');
		blank = 0;
		if (b.len >= 80) {
			sbuf_adds(&b, "...");
			break;
		}
		sbuf_addc(&b, c);
	}
	if (!b.buf)
		sbuf_adds(&b, "");
	utf8_trim_partial(b.buf);
	return sbuf_detach(&b);
}

/* The first contract or data-loss statement of an, or NULL. */
static const struct an_stmt *first_contract(const struct an_script *an)
{
	for (size_t i = 0; an && i < an->n; i++)
		if (an->v[i].cls >= AN_CONTRACT)
			return &an->v[i];
	return NULL;
}

void phase_classify(const struct revision *r, const struct an_script *an, const char *sql,
		    const char *path, int first_line, struct phase_class *out)
{
	const struct an_stmt *s = first_contract(an);
	char *text = NULL;
	int line = 0, col = 0;

	memset(out, 0, sizeof(*out));
	if (s && sql) {
		text = one_line(sql, s->off, s->len);
		revision_offset_to_linecol(sql, s->off, first_line, &line, &col);
	}
	if (r->phase == REV_PHASE_CONTRACT) {
		out->contract = 1;
		out->why = xasprintf("%s:%d: %s", r->path, r->phase_line,
				     r->is_py ? "prestart_phase = \"contract\"" : "-- Phase: contract");
	} else if (r->compat_breaking) {
		out->contract = 1;
		out->why = xasprintf("%s:%d: %s", r->path, r->compat_line,
				     r->is_py ? "prestart_compat = \"breaking\"" : "-- Compat: breaking");
	} else if (r->phase == REV_PHASE_EXPAND) {
		out->why = s ? xasprintf("%s:%d: -- Phase: expand (the analysis calls %s:%d "
					 "%s: %s)",
					 r->path, r->phase_line, path, line,
					 analysis_class_name(s->cls), text)
			     : xasprintf("%s:%d: -- Phase: expand", r->path, r->phase_line);
	} else if (s) {
		out->contract = 1;
		out->why = xasprintf("%s:%d: %s statement: %s", path, line,
				     analysis_class_name(s->cls), text);
	} else if (!an) {
		out->why = xasprintf("%s: not analysed and not marked: expand", r->path);
	} else {
		out->why = xasprintf("%s: every statement is expand", r->path);
	}
	free(text);
}

int phase_classify_sql(const struct revision *r, const char *sql, const char *path,
		       int first_line, int sqlite, struct phase_class *out, struct err *e)
{
	struct an_script an = { 0 };
	size_t bad = 0;

	memset(out, 0, sizeof(*out));
	if (!sql) {
		phase_classify(r, NULL, NULL, path, first_line, out);
		return 0;
	}
	if ((sqlite ? analysis_sqlite(sql, &an, &bad, e) : analysis_pg(sql, NULL, &an, &bad, e)) < 0) {
		char why[ERR_MSG_MAX];
		int line, col;

		snprintf(why, sizeof(why), "%s", e->msg);
		revision_offset_to_linecol(sql, bad, first_line, &line, &col);
		analysis_release(&an);
		return err_set(e, ERR_SCRIPT, "%s:%d:%d: %s", path, line, col, why);
	}
	phase_classify(r, &an, sql, path, first_line, out);
	analysis_release(&an);
	return 0;
}

void phase_class_release(struct phase_class *c)
{
	free(c->why);
	memset(c, 0, sizeof(*c));
}

static void defer(struct phase_split *out, const struct revision *r, char *why)
{
	xgrow((void **)&out->deferred, &out->alloc, out->ndeferred + 1, sizeof(*out->deferred));
	out->deferred[out->ndeferred].rev = r;
	out->deferred[out->ndeferred].why = why;
	out->ndeferred++;
}

/* The deferred revision a parent name (an id, or for depends_on a branch
 * label) leads to, or NULL. */
static const struct revision *held(const struct strmap *ids, const struct revptrs *pending,
				   const unsigned char *is_held, const char *name)
{
	int k = strmap_get(ids, name);

	return k >= 0 && is_held[k] ? pending->v[k] : NULL;
}

void phase_expand_split(const struct revptrs *pending, const struct phase_class *cls,
			struct phase_split *out)
{
	struct strmap ids = { 0 }; /* id and branch label -> index in pending */
	unsigned char *is_held = xcalloc(pending->n ? pending->n : 1, 1);

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < pending->n; i++) {
		const struct revision *r = pending->v[i];

		strmap_put(&ids, r->id, (int)i);
		for (size_t k = 0; k < r->labels.n; k++)
			strmap_put(&ids, r->labels.v[k], (int)i);
	}
	for (size_t i = 0; i < pending->n; i++) {
		const struct revision *r = pending->v[i], *p = NULL;

		for (size_t k = 0; !p && k < r->down.n; k++)
			p = held(&ids, pending, is_held, r->down.v[k]);
		for (size_t k = 0; !p && k < r->depends.n; k++)
			p = held(&ids, pending, is_held, r->depends.v[k]);
		if (cls[i].contract) {
			is_held[i] = 1;
			defer(out, r, xasprintf("contract: %s", cls[i].why));
		} else if (p) {
			is_held[i] = 1;
			defer(out, r, xasprintf("descends from deferred revision %s", p->id));
		} else {
			revptrs_push(&out->apply, r);
		}
	}
	strmap_free(&ids);
	free(is_held);
}

void phase_split_release(struct phase_split *s)
{
	for (size_t i = 0; i < s->ndeferred; i++)
		free(s->deferred[i].why);
	free(s->deferred);
	revptrs_free(&s->apply);
	memset(s, 0, sizeof(*s));
}
