/* lint_instead.c - a finding's safe alternative in the statement's own
 * names (lint.h: lint_render_instead).
 *
 * A rule that can say more than its generic text carries a template
 * (struct lint_rule, in lint.c's table): the rule's advice with
 * {placeholders}, filled here from the finding's fact (analysis.h: table,
 * name, detail, spec).  A piece the statement does not give is written
 * <like-this>; a rule without a template, or a finding without a fact,
 * keeps the rule's generic text (docs/lint.md prints that).  lint.c, which
 * records the findings, stands on it; it calls nothing in lint.c (from
 * lint.h it takes only struct lint_rule, passed in).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/lint.h"

#define IDENT_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

/* ---- the values of the placeholders ---- */

static const char *bare(const char *dotted)
{
	const char *dot = dotted ? strrchr(dotted, '.') : NULL;

	return dot ? dot + 1 : dotted;
}

/* PostgreSQL's way of naming what it creates: table_col1_col2_suffix out
 * of the words of `cols`, cut to 63 bytes, quoted where needed. */
static char *derived(const char *table, const char *cols, const char *suffix)
{
	struct sbuf b = { 0 };
	char *q;

	const char *open = cols ? strchr(cols, '(') : NULL, *stop = NULL;

	/* a column list's words: the first parenthesis' */
	if (open) {
		int depth = 0;

		for (stop = open; *stop; stop++) {
			if (*stop == '(')
				depth++;
			else if (*stop == ')' && --depth == 0)
				break;
		}
		cols = open + 1;
	}
	sbuf_adds(&b, bare(table));
	for (const char *p = cols; p && *p && (!stop || p < stop);) {
		const char *w;

		while (*p && !(isalnum((unsigned char)*p) || *p == '_'))
			p++;
		w = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p > w && !isdigit((unsigned char)*w))
			sbuf_addf(&b, "_%.*s", (int)(p - w), w);
	}
	sbuf_addf(&b, "_%s", suffix);
	if (b.len > IDENT_MAX)
		b.buf[IDENT_MAX] = '\0';
	q = analysis_quote_name(b.buf);
	sbuf_free(&b);
	return q;
}

static char *quoted(const char *s)
{
	return s ? analysis_quote_name(s) : NULL;
}

/* Whether the fact's name is its key column (a column-level constraint
 * records the column where a table-level one has its name). */
static int name_is_column(const struct an_fact *f)
{
	char *q = quoted(f->name);
	const char *cols = f->spec;
	int r;

	if (!q)
		return 0;
	if (cols && *cols == '(')
		cols++;
	r = cols && !strncmp(cols, q, strlen(q)) &&
	    (cols[strlen(q)] == ')' || cols[strlen(q)] == '\0');
	free(q);
	return r;
}

/* A constraint's name: the statement's, else PostgreSQL's default. */
static char *constraint(const struct an_fact *f, const char *suffix)
{
	if (f->name && !name_is_column(f))
		return quoted(f->name);
	return derived(f->table, f->spec ? f->spec : f->name, suffix);
}

static int is_plain_call(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 3 || strcmp(s + n - 2, "()") || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (size_t i = 0; i + 2 < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* The value of {var} for fact f (caller frees), or NULL: not known. */
static char *value(const char *var, const struct an_fact *f)
{
	if (!strcmp(var, "table"))
		return quoted(f->table);
	if (!strcmp(var, "name") || !strcmp(var, "column"))
		return quoted(f->name);
	if (!strcmp(var, "new"))
		return quoted(f->detail);
	if (!strcmp(var, "detail") || !strcmp(var, "reindex"))
		return f->detail ? xstrdup(f->detail) : NULL;
	if (!strcmp(var, "spec"))
		return f->spec ? xstrdup(f->spec) : NULL;
	if (!strcmp(var, "unique"))
		return xstrdup(f->detail && !strcmp(f->detail, "unique") ? "UNIQUE " : "");
	if (!strcmp(var, "index"))
		return f->name ? quoted(f->name) : f->table ? derived(f->table, f->spec, "idx") : NULL;
	if (!strcmp(var, "key"))
		return f->table ? constraint(f, "key") : NULL;
	if (!strcmp(var, "pkey"))
		return f->table ? (f->name && !name_is_column(f) ? quoted(f->name)
								  : derived(f->table, NULL, "pkey"))
				: NULL;
	if (!strcmp(var, "fkey"))
		return f->table ? constraint(f, "fkey") : NULL;
	if (!strcmp(var, "check"))
		return f->name ? quoted(f->name) : f->table ? derived(f->table, NULL, "check") : NULL;
	if (!strcmp(var, "not_null"))
		return f->table && f->name ? derived(f->table, f->name, "not_null") : NULL;
	if (!strcmp(var, "archive"))
		return f->table && f->name ? derived(f->table, f->name, "archive") : NULL;
	if (!strcmp(var, "deprecated"))
		return f->table ? derived(f->table, NULL, "deprecated") : NULL;
	if (!strcmp(var, "new_column"))
		return f->name ? derived(f->name, NULL, "new") : NULL;
	if (!strcmp(var, "type")) {
		static const char *const serial[][2] = {
			{ "serial", "integer" }, { "serial4", "integer" }, { "bigserial", "bigint" },
			{ "serial8", "bigint" }, { "smallserial", "smallint" }, { "serial2", "smallint" },
		};
		const char *ty = f->spec ? f->spec : f->detail;

		for (size_t i = 0; ty && i < sizeof(serial) / sizeof(*serial); i++)
			if (!strcmp(ty, serial[i][0]))
				ty = serial[i][1];
		return ty ? xstrdup(ty) : NULL;
	}
	if (!strcmp(var, "default"))
		return xstrdup(is_plain_call(f->detail) ? f->detail : "<expression>");
	if (!strcmp(var, "concurrent")) {
		char *t = quoted(f->table), *n = quoted(f->name), *r;

		if (f->kind == AF_DROP_INDEX_CONC)
			r = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", n ? n : "<index>");
		else if (f->kind == AF_REINDEX_CONC)
			r = xasprintf("REINDEX %s CONCURRENTLY %s", f->detail ? f->detail : "TABLE",
				      t ? t : "<table>");
		else
			r = xasprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s %s",
				      f->detail && !strcmp(f->detail, "unique") ? "UNIQUE " : "",
				      n ? n : "<index>", t ? t : "<table>",
				      f->spec ? f->spec : "(<columns>)");
		free(t);
		free(n);
		return r;
	}
	return NULL;
}

/* What stands for a value the statement does not give. */
static const char *unknown(const char *var)
{
	if (!strcmp(var, "spec"))
		return "(<columns>)";
	if (!strcmp(var, "index") || !strcmp(var, "key") || !strcmp(var, "pkey") ||
	    !strcmp(var, "fkey") || !strcmp(var, "check") || !strcmp(var, "not_null"))
		return "<constraint>";
	if (!strcmp(var, "reindex"))
		return "TABLE";
	return NULL;
}

char *lint_render_instead(const struct lint_rule *rule, const struct an_fact *fact)
{
	struct sbuf b = { 0 };

	if (!rule || !rule->template || !fact)
		return xstrdup(rule && rule->instead ? rule->instead : "");
	for (const char *p = rule->template; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		char var[32], *v;
		size_t n;

		if (!close || (n = (size_t)(close - p - 1)) >= sizeof(var)) {
			sbuf_addc(&b, *p++);
			continue;
		}
		memcpy(var, p + 1, n);
		var[n] = '\0';
		v = value(var, fact);
		if (v) {
			sbuf_adds(&b, v);
		} else {
			const char *u = unknown(var);

			if (u)
				sbuf_adds(&b, u);
			else
				sbuf_addf(&b, "<%s>", var);
		}
		free(v);
		p = close + 1;
	}
	return b.buf ? b.buf : xstrdup("");
}
