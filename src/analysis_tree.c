/* analysis_tree.c - the analysis' reading of the parse tree's small parts:
 * names and types out of the protobuf tree, the text around a node
 * (parenthesised expressions, what follows a relation's name), which
 * column type changes PostgreSQL makes in the catalog only, and whether a
 * default calls a volatile function (SPEC §9.1).  analysis.c, which reads
 * whole statements, stands on it; it calls nothing in analysis.c.
 *
 * Divisions, in order: names and types out of the parse tree; default
 * volatility.
 */
#include "prestart/analysis.h"

#include <ctype.h>
#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/db.h"

#include "analysis_int.h"

/* ---- names and types out of the parse tree ---- */

/* "schema.rel" or "rel" (caller frees). */
char *an_rv_name(const PgQuery__RangeVar *rv)
{
	if (!rv || !rv->relname)
		return xstrdup("");
	if (rv->schemaname && *rv->schemaname)
		return xasprintf("%s.%s", rv->schemaname, rv->relname);
	return xstrdup(rv->relname);
}

/* A dotted name from a list of String nodes (caller frees). */
char *an_list_name(PgQuery__Node **v, size_t n)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		if (v[i]->node_case != PG_QUERY__NODE__NODE_STRING)
			continue;
		if (b.len)
			sbuf_addc(&b, '.');
		sbuf_adds(&b, v[i]->string->sval);
	}
	return b.buf ? b.buf : xstrdup("");
}

/* The object a DROP names: a List of Strings, or a bare String. */
char *an_object_name(const PgQuery__Node *o)
{
	if (o->node_case == PG_QUERY__NODE__NODE_LIST)
		return an_list_name(o->list->items, o->list->n_items);
	if (o->node_case == PG_QUERY__NODE__NODE_STRING)
		return xstrdup(o->string->sval);
	if (o->node_case == PG_QUERY__NODE__NODE_TYPE_NAME)
		return an_list_name(o->type_name->names, o->type_name->n_names);
	return xstrdup("?");
}

/* Names of a list of String nodes, each quoted where PostgreSQL needs it,
 * joined by ", " (caller frees); NULL for an empty list. */
char *an_name_list(PgQuery__Node **v, size_t n)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < n; i++) {
		char *q;

		if (v[i]->node_case != PG_QUERY__NODE__NODE_STRING)
			continue;
		q = db_quote_ident(DB_PG, v[i]->string->sval);
		sbuf_addf(&b, "%s%s", b.len ? ", " : "", q);
		free(q);
	}
	return b.buf;
}

/* The text inside the first parenthesis at or after `from` and its match,
 * blanks collapsed (caller frees); NULL when the statement ends first.
 * Quoted strings and identifiers are skipped whole. */
char *an_paren_text(const char *sql, int from)
{
	const char *p, *open = NULL;
	struct sbuf b = { 0 };
	int depth = 0;

	if (!sql || from < 0 || (size_t)from > strlen(sql))
		return NULL;
	for (p = sql + from; *p; p++) {
		if (*p == '\'' || *p == '"') {
			char q = *p;

			for (p++; *p && !(*p == q && p[1] != q); p++)
				p += *p == q;
			if (!*p)
				break;
		} else if (*p == '(') {
			if (!depth++)
				open = p + 1;
		} else if (*p == ')' && depth) {
			if (!--depth)
				break;
		} else if (*p == ';' && !depth) {
			return NULL;
		}
	}
	if (!open || !*p || *p != ')')
		return NULL;
	for (const char *c = open; c < p; c++) {
		if (isspace((unsigned char)*c)) {
			if (b.len && b.buf[b.len - 1] != ' ')
				sbuf_addc(&b, ' ');
			continue;
		}
		sbuf_addc(&b, *c);
	}
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = '\0';
	return b.buf;
}

/* The text after the name at `from` (a relation, dotted or quoted) to the
 * end of the statement, blanks collapsed (caller frees); NULL when none. */
char *an_after_name(const char *sql, int from)
{
	const char *p, *end;
	struct sbuf b = { 0 };

	if (!sql || from < 0 || (size_t)from > strlen(sql))
		return NULL;
	p = sql + from;
	for (int only = 1; only >= 0; only--) {
		const char *w = p;

		while (*p == '"' || *p == '.' || *p == '_' || *p == '$' ||
		       isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80) {
			if (*p == '"') {
				for (p++; *p && !(*p == '"' && p[1] != '"'); p++)
					p += *p == '"';
				if (*p)
					p++;
			} else {
				p++;
			}
		}
		if (!only || p - w != 4 || strncasecmp(w, "only", 4))
			break;
		while (isspace((unsigned char)*p))
			p++;
	}
	/* to the statement's end: a ';' outside quotes and parentheses */
	end = p;
	for (int depth = 0; *end && !(*end == ';' && !depth); end++) {
		if (*end == '\'' || *end == '"') {
			char q = *end;

			for (end++; *end && !(*end == q && end[1] != q); end++)
				end += *end == q;
			if (!*end)
				break;
		} else if (*end == '(') {
			depth++;
		} else if (*end == ')' && depth) {
			depth--;
		}
	}
	for (const char *c = p; c < end; c++) {
		if (isspace((unsigned char)*c)) {
			if (b.len && b.buf[b.len - 1] != ' ')
				sbuf_addc(&b, ' ');
			continue;
		}
		if (c[0] == '-' && c + 1 < end && c[1] == '-')
			break;
		sbuf_addc(&b, *c);
	}
	while (b.len && b.buf[b.len - 1] == ' ')
		b.buf[--b.len] = '\0';
	return b.buf;
}

static int int_const(const PgQuery__Node *n, long *out)
{
	if (n->node_case == PG_QUERY__NODE__NODE_A_CONST &&
	    n->a_const->val_case == PG_QUERY__A__CONST__VAL_IVAL) {
		*out = n->a_const->ival ? n->a_const->ival->ival : 0;
		return 1;
	}
	return 0;
}

/* "varchar(20)", "numeric(10,2)", "text", "int4[]": the last name part
 * (pg_catalog dropped) with its modifiers. Caller frees. */
char *an_type_string(const PgQuery__TypeName *t)
{
	struct sbuf b = { 0 };
	const char *base = "?";

	if (!t)
		return xstrdup("?");
	for (size_t i = 0; i < t->n_names; i++)
		if (t->names[i]->node_case == PG_QUERY__NODE__NODE_STRING)
			base = t->names[i]->string->sval;
	sbuf_adds(&b, base);
	if (t->n_typmods) {
		sbuf_addc(&b, '(');
		for (size_t i = 0; i < t->n_typmods; i++) {
			long v;

			if (i)
				sbuf_addc(&b, ',');
			if (int_const(t->typmods[i], &v))
				sbuf_addf(&b, "%ld", v);
			else
				sbuf_addc(&b, '?');
		}
		sbuf_addc(&b, ')');
	}
	if (t->n_array_bounds)
		sbuf_adds(&b, "[]");
	return b.buf;
}

/* Split "name(a,b)" into the name's length and its modifiers. */
static size_t type_base(const char *t, long mods[2], int *nmods)
{
	const char *p = strchr(t, '(');
	size_t n = p ? (size_t)(p - t) : strlen(t);

	*nmods = 0;
	while (p && *p && *p != ')' && *nmods < 2) {
		mods[(*nmods)++] = strtol(p + 1, (char **)&p, 10);
		while (*p && *p != ',' && *p != ')')
			p++;
	}
	return n;
}

static int base_is(const char *t, size_t n, const char *name)
{
	return strlen(name) == n && !strncmp(t, name, n);
}

/* Is changing a column from `from` (NULL: unknown) to `to` free of a
 * rewrite or scan?  The binary-coercible, widening changes PostgreSQL
 * makes in the catalog only: varchar/text to text or unbounded varchar,
 * varchar(n) to varchar(m >= n), numeric(p,s) to numeric(q >= p,s) or
 * numeric, varbit likewise, cidr to inet.  An unknown source counts as
 * the text-like one when the target is text or unbounded varchar, the
 * change teams make to lift a length limit. */
int analysis_type_change_free(const char *from, const char *to)
{
	long fm[2], tm[2];
	int nf = 0, nt;
	size_t tn = type_base(to, tm, &nt), fn = from ? type_base(from, fm, &nf) : 0;
	int textlike = base_is(to, tn, "text") || ((base_is(to, tn, "varchar") ||
						    base_is(to, tn, "varbit")) && nt == 0);

	if (strchr(to, '[') || (from && strchr(from, '[')))
		return from && !strcmp(from, to);
	if (!from)
		return textlike && !base_is(to, tn, "varbit");
	if (!strcmp(from, to))
		return 1;
	if (base_is(from, fn, "varchar") || base_is(from, fn, "text")) {
		if (base_is(to, tn, "text") || (base_is(to, tn, "varchar") && nt == 0))
			return 1;
		return base_is(from, fn, "varchar") && base_is(to, tn, "varchar") && nf == 1 &&
		       nt == 1 && tm[0] >= fm[0];
	}
	if (base_is(from, fn, "varbit") && base_is(to, tn, "varbit"))
		return nt == 0 || (nf == 1 && tm[0] >= fm[0]);
	if (base_is(from, fn, "numeric") && base_is(to, tn, "numeric")) {
		if (nt == 0)
			return 1;
		if (nf == 0)
			return 0;
		return tm[0] >= fm[0] && (nt > 1 ? tm[1] : 0) == (nf > 1 ? fm[1] : 0);
	}
	return base_is(from, fn, "cidr") && base_is(to, tn, "inet");
}

/* ---- default volatility ---- */

/* Functions known not to be volatile (PostgreSQL 11+ evaluates such a
 * default once, at ALTER time: no rewrite).  Anything else a default calls
 * is taken as volatile, CREATE FUNCTION's default. */
static const char *const non_volatile[] = {
	"now", "transaction_timestamp", "statement_timestamp", "current_setting",
	"current_database", "current_schema", "lower", "upper", "btrim", "trim", "concat",
	"coalesce", "nullif", "greatest", "least", "to_jsonb", "to_json", "jsonb_build_object",
	"json_build_object", "jsonb_build_array", "json_build_array", "array_fill", "make_date",
	"make_interval", "make_timestamp", "make_timestamptz", "date_trunc", "to_timestamp",
	"to_char", "length", "md5", "abs", "round", "floor", "ceil", "interval", "timezone",
	"format", "replace", "substr", "substring", "left", "right", "lpad", "rpad", NULL
};

static void find_volatile_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
				struct an_volatile_hit *h)
{
	const char *base = (const char *)m;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE)
		return;
	/* a oneof's members share one pointer: only the member its case
	 * names is there (a Node is a oneof of every node type) */
	if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
		return;
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)(base + f->quantifier_offset);
		ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *)(base + f->offset);

		for (size_t i = 0; i < n && !h->func; i++)
			if (v[i])
				an_find_volatile(v[i], h);
	} else {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)(base + f->offset);

		if (sub)
			an_find_volatile(sub, h);
	}
}

/* Walk any message (through its descriptor) for a call of a function not
 * known to be non-volatile. */
void an_find_volatile(const ProtobufCMessage *m, struct an_volatile_hit *h)
{
	if (h->func)
		return;
	if (m->descriptor == &pg_query__func_call__descriptor) {
		const PgQuery__FuncCall *fc = (const PgQuery__FuncCall *)m;
		char *name = an_list_name(fc->funcname, fc->n_funcname);
		const char *last = strrchr(name, '.') ? strrchr(name, '.') + 1 : name;
		int known = 0;

		for (size_t i = 0; non_volatile[i]; i++)
			known |= !strcasecmp(last, non_volatile[i]);
		if (!known) {
			h->func = xasprintf("%s()", last);
			free(name);
			return;
		}
		free(name);
	}
	for (unsigned i = 0; i < m->descriptor->n_fields && !h->func; i++)
		find_volatile_field(m, &m->descriptor->fields[i], h);
}
