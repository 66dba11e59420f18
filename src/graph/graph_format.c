/* graph_format.c - one revision as the info commands print it (history,
 * heads, branches, current, show): Alembic's Script.cmd_format and
 * log_entry.
 *
 * What the files share: graph_int.h.
 */
#include "graph_int.h"

#include <stdlib.h>
#include <string.h>

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

/* Python's str.splitlines() boundary at s (n bytes left): its length in
 * bytes, 0 when there is none.  CRLF counts as one. */
static size_t line_break_at(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	if (u[0] == '\r')
		return n >= 2 && u[1] == '\n' ? 2 : 1;
	if (u[0] == '\n' || u[0] == '\v' || u[0] == '\f' || (u[0] >= 0x1c && u[0] <= 0x1e))
		return 1;
	if (n >= 2 && u[0] == 0xc2 && u[1] == 0x85)
		return 2;
	if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] == 0xa8 || u[2] == 0xa9))
		return 3;
	return 0;
}

/* log_entry's "\n".join("    %s" % para for para in longdoc.splitlines()) */
static void add_indented_lines(const char *text, struct sbuf *b)
{
	const char *p = text, *end = text + strlen(text);

	while (p < end) {
		const char *q = p;
		size_t k = 0;

		while (q < end && !(k = line_break_at(q, (size_t)(end - q))))
			q++;
		if (p != text)
			sbuf_addc(b, '\n');
		sbuf_addf(b, "    %.*s", (int)(q - p), p);
		p = q + k;
	}
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
		sbuf_addf(&b, "Path: %s\n\n", f->path ? f->path : r->path ? r->path : "");
		if (r->doc) {
			add_indented_lines(r->doc, &b);
			sbuf_addc(&b, '\n');
			return sbuf_detach(&b);
		}
		/* the message, one indented line per line */
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
