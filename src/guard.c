/* guard.c - the deploy-time guard's judgement (SPEC §9.3); guard.h says
 * what it does, ctx_guard.c asks the database.
 *
 * Divisions, in order: what the plan did before a statement (tables
 * created, column types set, NOT NULL proven); collecting the checks;
 * the catalog query; reading its rows; messages.
 */
#include "prestart/guard.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/pgscan.h"
#include "prestart/revision.h"

/* ---- what the plan did before a statement ---- */

/* A small string map (key -> value): a plan's DDL facts are few. */
struct kv {
	struct strlist k, v;
};

static const char *kv_get(const struct kv *m, const char *key)
{
	for (size_t i = m->k.n; i-- > 0;)
		if (!strcmp(m->k.v[i], key))
			return m->v.v[i];
	return NULL;
}

static void kv_set(struct kv *m, const char *key, const char *val)
{
	strlist_push(&m->k, key);
	strlist_push(&m->v, val);
}

static void kv_free(struct kv *m)
{
	strlist_free(&m->k);
	strlist_free(&m->v);
}

struct seen {
	struct strlist created; /* tables created earlier in the plan */
	struct kv types;        /* "table.column" -> type the plan gave it */
	struct kv checks;       /* CHECK (col IS NOT NULL) NOT VALID: name -> "table.column" */
	struct kv notnull;      /* "table.column" proven by a validated CHECK -> "" */
	struct kv validated;    /* table -> "name,name": constraints VALIDATEd */
};

static void seen_free(struct seen *s)
{
	strlist_free(&s->created);
	kv_free(&s->types);
	kv_free(&s->checks);
	kv_free(&s->notnull);
	kv_free(&s->validated);
}

/* ---- collecting the checks ---- */

struct rev_scan {
	const struct guard_rev *rev;
	size_t index;
	const struct an_script *an;
	const struct lint_allow *allows;
	size_t nallows;
	struct seen *seen;
	struct guard_set *out;
};

static int has_word_ci(const char *s, size_t len, const char *w)
{
	size_t n = strlen(w);

	for (size_t i = 0; i + n <= len; i++) {
		if (strncasecmp(s + i, w, n))
			continue;
		if ((i == 0 || !isalnum((unsigned char)s[i - 1])) &&
		    (i + n == len || !isalnum((unsigned char)s[i + n])))
			return 1;
	}
	return 0;
}

static const struct an_table *table_of(const struct an_stmt *st, const char *name)
{
	for (size_t i = 0; i < st->ntables; i++)
		if (!strcmp(st->tables[i].name, name))
			return &st->tables[i];
	return NULL;
}

static char *allowed_by(const struct rev_scan *r, size_t stmt, const char *rule)
{
	for (size_t i = 0; i < r->nallows; i++) {
		const struct lint_allow *a = &r->allows[i];

		if (a->reason && strlist_contains(&a->rules, rule) &&
		    (a->stmt == SIZE_MAX || a->stmt == stmt))
			return xstrdup(a->reason);
	}
	return NULL;
}

/* Keep statement j's hold on `table` when its lock blocks the
 * application's writes (SHARE or stronger) and the table is not the
 * plan's own.  effect: what happens to it (AN_CATALOG for a table only
 * locked while another is scanned). */
static struct guard_check *add(struct rev_scan *r, size_t j, const struct an_fact *f,
			       const char *table, const char *rule, enum guard_ask ask,
			       enum an_effect effect)
{
	const struct an_stmt *st = &r->an->v[j];
	const struct an_table *t;
	struct guard_check *c;
	int line, col;

	if (!table || !*table || strlist_contains(&r->seen->created, table))
		return NULL;
	t = table_of(st, table);
	if (!t || t->lock < AN_SHARE)
		return NULL;
	xgrow((void **)&r->out->v, &r->out->alloc, r->out->n + 1, sizeof(*r->out->v));
	c = &r->out->v[r->out->n++];
	memset(c, 0, sizeof(*c));
	c->rev = r->index;
	revision_offset_to_linecol(r->rev->sql, st->off, r->rev->first_line, &line, &col);
	c->line = line;
	c->statement = lint_short_statement(r->rev->sql + st->off, st->len);
	c->rule = lint_rule_find(rule);
	c->instead = c->rule ? lint_render_instead(c->rule, f) : NULL;
	c->table = xstrdup(table);
	c->ask = ask;
	c->lock = t->lock;
	c->effect = effect;
	c->allowed = allowed_by(r, j, rule);
	return c;
}

/* "f,g,..." : fn first, then every other name the statement calls (a name
 * followed by "("), lower-cased unless quoted: the analysis names only the
 * first function it does not know, and one stable function does not make
 * a default that also calls random() stable.  Type modifiers
 * (varchar(20)) come along harmlessly: such functions are immutable. */
static char *called(const char *sql, size_t len, const char *fn)
{
	char *text = xstrndup(sql, len);
	struct pgscan sc = { 0 };
	struct err e = { 0 };
	struct strlist names = { 0 };
	char *out;

	strlist_push(&names, fn);
	if (pgscan(text, &sc, NULL, &e) == 0) {
		for (size_t i = 0; i + 1 < sc.n; i++) {
			const struct pgscan_tok *t = &sc.v[i], *nx = &sc.v[i + 1];
			char *name;

			if ((t->kind != PGSCAN_IDENT && t->kind != PGSCAN_KEYWORD) ||
			    nx->end != nx->start + 1 || text[nx->start] != '(')
				continue;
			if (text[t->start] == '"') {
				name = xstrndup(text + t->start + 1, t->end - t->start - 2);
			} else {
				name = xstrndup(text + t->start, t->end - t->start);
				for (char *q = name; *q; q++)
					*q = (char)tolower((unsigned char)*q);
			}
			if (!strchr(name, ',') && !strlist_contains(&names, name))
				strlist_push(&names, name);
			free(name);
		}
	}
	pgscan_release(&sc);
	out = strlist_join(&names, ",");
	strlist_free(&names);
	free(text);
	return out;
}

/* The facts judged by their table's size alone: one check on the fact's
 * table, under the rule that names the fact, for what the statement does
 * to it.  Those that ask more (a column, a type, a function) or hold more
 * tables are scan_stmt's switch. */
static const struct {
	const char *rule;
	enum an_effect effect;
} size_rules[] = {
	[AF_CREATE_INDEX] = { "create-index-not-concurrently", AN_SCAN },
	[AF_REINDEX] = { "reindex-not-concurrently", AN_SCAN },
	[AF_FK_VALIDATING] = { "foreign-key-without-not-valid", AN_SCAN },
	[AF_CHECK_VALIDATING] = { "check-without-not-valid", AN_SCAN },
	[AF_ADD_UNIQUE] = { "unique-constraint-without-index", AN_SCAN },
	[AF_ADD_PRIMARY_KEY] = { "add-primary-key", AN_SCAN },
	[AF_CLUSTER] = { "cluster", AN_REWRITE },
};

static void scan_stmt(struct rev_scan *r, size_t j)
{
	const struct an_stmt *st = &r->an->v[j];
	struct seen *s = r->seen;

	for (size_t k = 0; k < st->nfacts; k++)
		if (st->facts[k].kind == AF_CREATE_TABLE && st->facts[k].table &&
		    !strlist_contains(&s->created, st->facts[k].table))
			strlist_push(&s->created, st->facts[k].table);
	for (size_t k = 0; k < st->nfacts; k++) {
		const struct an_fact *f = &st->facts[k];
		const char *rule = (size_t)f->kind < sizeof(size_rules) / sizeof(size_rules[0]) ?
					   size_rules[f->kind].rule : NULL;
		char *key = xasprintf("%s.%s", f->table ? f->table : "", f->name ? f->name : "");
		struct guard_check *c;

		if (rule)
			add(r, j, f, f->table, rule, GUARD_ASK_SIZE, size_rules[f->kind].effect);
		switch (f->kind) {
		case AF_FK_VALIDATING:
			/* the referenced table waits too, for the scan of the
			 * referencing one */
			if (f->detail && (!f->table || strcmp(f->detail, f->table)))
				add(r, j, f, f->detail, rule, GUARD_ASK_SIZE, AN_CATALOG);
			break;
		case AF_CHECK_NOT_VALID:
			if (f->name && f->detail) {
				char *col = xasprintf("%s.%s", f->table ? f->table : "", f->detail);

				kv_set(&s->checks, f->name, col);
				free(col);
			}
			break;
		case AF_VALIDATE: {
			const char *col = f->name ? kv_get(&s->checks, f->name) : NULL;

			if (col)
				kv_set(&s->notnull, col, "");
			/* a CHECK added NOT VALID by an applied revision, validated
			 * now: the catalog does not know it is valid yet */
			if (f->table && f->name && !strchr(f->name, ',')) {
				const char *was = kv_get(&s->validated, f->table);
				char *now = was ? xasprintf("%s,%s", was, f->name) : xstrdup(f->name);

				kv_set(&s->validated, f->table, now);
				free(now);
			}
			break;
		}
		case AF_SET_NOT_NULL:
			c = add(r, j, f, f->table, "set-not-null", GUARD_ASK_NOT_NULL, AN_SCAN);
			if (c) {
				c->column = f->name ? xstrdup(f->name) : NULL;
				const char *v = kv_get(&s->validated, f->table);

				c->proven = kv_get(&s->notnull, key) != NULL;
				c->detail = v ? xstrdup(v) : NULL;
			}
			break;
		case AF_VOLATILE_DEFAULT: {
			/* "f()": a function the catalog can judge; otherwise a
			 * phrase (a serial, an identity, a generated column) */
			const char *d = f->detail ? f->detail : "";
			size_t n = strlen(d);
			int func = n > 2 && !strcmp(d + n - 2, "()") && !strchr(d, ' ');

			c = add(r, j, f, f->table, "volatile-default",
				func ? GUARD_ASK_DEFAULT : GUARD_ASK_SIZE, AN_REWRITE);
			if (c && func) {
				char *fn = xstrndup(d, n - 2);

				c->detail = called(r->rev->sql + st->off, st->len, fn);
				free(fn);
			}
			if (f->table && f->name)
				kv_set(&s->types, key, "?");
			break;
		}
		case AF_ADD_COLUMN:
			if (f->table && f->name && f->detail)
				kv_set(&s->types, key, f->detail);
			break;
		case AF_TYPE_CHANGE:
		case AF_TYPE_CHANGE_SAFE:
			c = add(r, j, f, f->table, "change-column-type", GUARD_ASK_TYPE, AN_REWRITE);
			if (c) {
				const char *pt = kv_get(&s->types, key);

				c->column = f->name ? xstrdup(f->name) : NULL;
				c->detail = xstrdup(f->detail ? f->detail : "?");
				c->plan_type = pt ? xstrdup(pt) : NULL;
				c->using_expr = has_word_ci(r->rev->sql + st->off, st->len, "using");
			}
			if (f->table && f->name)
				kv_set(&s->types, key, f->detail ? f->detail : "?");
			break;
		case AF_VACUUM_FULL:
			for (size_t t = 0; t < st->ntables; t++)
				if (st->tables[t].effect == AN_REWRITE)
					add(r, j, f, st->tables[t].name, "vacuum-full", GUARD_ASK_SIZE,
					    AN_REWRITE);
			break;
		default:
			break;
		}
		free(key);
	}
}

void guard_collect(const struct guard_rev *revs, size_t n, struct guard_set *out)
{
	struct seen seen = { 0 };

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct an_script an = { 0 };
		struct err e = { 0 };
		size_t off = 0;
		struct rev_scan r = { &revs[i], i, &an, NULL, 0, &seen, out };
		struct lint_allow *allows = NULL;

		if (revs[i].an) {
			r.an = revs[i].an;
		} else if (!revs[i].sql || analysis_pg(revs[i].sql, NULL, &an, &off, &e) < 0) {
			analysis_release(&an);
			continue;
		}
		r.nallows = lint_allows(revs[i].sql, r.an, &allows);
		r.allows = allows;
		for (size_t j = 0; j < r.an->n; j++)
			scan_stmt(&r, j);
		lint_allows_release(allows, r.nallows);
		analysis_release(&an);
	}
	seen_free(&seen);
}

void guard_release(struct guard_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct guard_check *c = &s->v[i];

		free(c->statement);
		free(c->table);
		free(c->column);
		free(c->detail);
		free(c->plan_type);
		free(c->allowed);
		free(c->live);
		free(c->instead);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* ---- the catalog query ---- */

/* "app.orders" -> "app"."orders": the names are as the parser read
 * them (folded, unquoted), so each part is quoted back. */
static char *regclass_text(const char *table)
{
	struct sbuf b = { 0 };

	sbuf_addc(&b, '"');
	for (const char *p = table; *p; p++) {
		if (*p == '.') {
			sbuf_adds(&b, "\".\"");
			continue;
		}
		if (*p == '"')
			sbuf_addc(&b, '"');
		sbuf_addc(&b, *p);
	}
	sbuf_addc(&b, '"');
	return sbuf_detach(&b);
}

static void add_array(struct sbuf *b, const struct guard_set *s, int which)
{
	sbuf_adds(b, "ARRAY[");
	for (size_t i = 0; i < s->n; i++) {
		const struct guard_check *c = &s->v[i];
		static const char kinds[] = { 's', 't', 'd', 'n' };
		char k[2] = { kinds[c->ask], 0 };

		if (i)
			sbuf_addc(b, ',');
		switch (which) {
		case 0: {
			char *r = regclass_text(c->table);

			sbuf_add_sql_estr(b, r);
			free(r);
			break;
		}
		case 1:
			sbuf_add_sql_estr(b, k);
			break;
		case 2:
			sbuf_add_sql_estr(b, c->column);
			break;
		default:
			sbuf_add_sql_estr(b, c->detail);
			break;
		}
	}
	sbuf_adds(b, "]::text[]");
}

char *guard_query_sql(const struct guard_set *s)
{
	struct sbuf b = { 0 };

	if (!s->n)
		return NULL;
	sbuf_adds(&b,
		  "SELECT coalesce(pg_catalog.pg_total_relation_size(c.oid)::text, '') || '|' || "
		  "coalesce(CASE q.kind "
		  "WHEN 't' THEN ty.typname || coalesce(substring(pg_catalog.format_type(a.atttypid, "
		  "a.atttypmod) from '[(][0-9,]*[)]$'), '') "
		  "WHEN 'd' THEN CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_proc p "
		  "WHERE p.proname = pg_catalog.split_part(q.arg, ',', 1)) AND NOT EXISTS "
		  "(SELECT 1 FROM pg_catalog.pg_proc p WHERE p.proname = "
		  "ANY (pg_catalog.string_to_array(q.arg, ',')) AND p.provolatile = 'v') "
		  "THEN 'stable' ELSE 'volatile' END "
		  "WHEN 'n' THEN CASE WHEN a.attnotnull THEN 'notnull' "
		  "WHEN pg_catalog.current_setting('server_version_num')::int >= 120000 AND EXISTS "
		  "(SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND "
		  "k.contype = 'c' AND (k.convalidated OR k.conname = "
		  "ANY (pg_catalog.string_to_array(q.arg, ','))) AND k.conkey = ARRAY[a.attnum] AND "
		  "pg_catalog.pg_get_expr(k.conbin, k.conrelid) = '(' || "
		  "pg_catalog.quote_ident(a.attname) || ' IS NOT NULL)') THEN 'check' ELSE '' END "
		  "END, '') FROM unnest(");
	for (int w = 0; w < 4; w++) {
		if (w)
			sbuf_adds(&b, ", ");
		add_array(&b, s, w);
	}
	sbuf_adds(&b,
		  ") WITH ORDINALITY AS q(rel, kind, col, arg, i) "
		  "LEFT JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(q.rel) "
		  "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = q.col "
		  "AND a.attnum > 0 AND NOT a.attisdropped "
		  "LEFT JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid ORDER BY q.i");
	return sbuf_detach(&b);
}

/* ---- reading its rows ---- */

static int cheap(const struct guard_check *c)
{
	const char *live = c->live ? c->live : "";

	switch (c->ask) {
	case GUARD_ASK_TYPE: {
		const char *from = c->plan_type ? c->plan_type : *live ? live : NULL;

		if (from && !strcmp(from, "?"))
			return 0;
		return !c->using_expr && analysis_type_change_free(from, c->detail);
	}
	case GUARD_ASK_DEFAULT:
		return !strcmp(live, "stable");
	case GUARD_ASK_NOT_NULL:
		return c->proven || *live;
	default:
		return 0;
	}
}

int guard_answer(struct guard_set *s, const struct strlist *rows, long long limit,
		 struct err *e)
{
	if (rows->n != s->n)
		return err_set(e, ERR_FAILED, "guard: the catalog answered %zu rows for %zu checks",
			       rows->n, s->n);
	for (size_t i = 0; i < s->n; i++) {
		struct guard_check *c = &s->v[i];
		const char *row = rows->v[i], *bar = strchr(row, '|');
		char *end;

		if (!bar)
			return err_set(e, ERR_FAILED, "guard: unexpected catalog row '%s'", row);
		free(c->live);
		c->live = xstrdup(bar + 1);
		c->exists = bar > row;
		c->size = c->exists ? strtoll(row, &end, 10) : 0;
		if (!c->exists)
			c->verdict = GUARD_UNKNOWN;
		else if (cheap(c))
			c->verdict = GUARD_CHEAP;
		else if (c->size <= limit)
			c->verdict = GUARD_UNDER;
		else
			c->verdict = c->allowed ? GUARD_ALLOWED : GUARD_OVER;
	}
	return 0;
}

/* ---- messages ---- */

void guard_size_str(long long bytes, char *buf, size_t n)
{
	static const char *const units[] = { "kB", "MB", "GB", "TB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(buf, n, "%lld bytes", bytes);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (v < 10 && v != (double)(long long)v)
		snprintf(buf, n, "%.1f %s", v, units[u]);
	else
		snprintf(buf, n, "%.0f %s", v, units[u]);
}

const char *guard_blocks(enum an_lock l)
{
	return l == AN_ACCESS_EXCLUSIVE ? "blocks reads and writes" : "blocks writes";
}

/* text on one line: runs of blanks and newlines become one space */
static void add_flat(struct sbuf *b, const char *s)
{
	int blank = 0, quoted = 0, comment = 0;

	for (; s && *s; s++) {
		/* a `-- comment` would swallow what follows it on one line:
		 * it becomes a closed comment */
		if (comment && *s == '\n') {
			sbuf_adds(b, " */");
			comment = 0;
		}
		if (isspace((unsigned char)*s)) {
			blank = 1;
			continue;
		}
		if (blank)
			sbuf_addc(b, ' ');
		blank = 0;
		/* SQL strings, or prose quoting a header; nothing inside a
		 * comment, and an apostrophe (table's) opens nothing */
		if (!comment && quoted == *s)
			quoted = 0;
		else if (!comment && !quoted && (*s == '`' || (*s == '\'' && (b->len == 0 ||
						!isalnum((unsigned char)b->buf[b->len - 1])))))
			quoted = *s;
		/* `-- ` at a word's start; --an-option in prose is not one */
		if (!quoted && !comment && s[0] == '-' && s[1] == '-' && s[2] == ' ') {
			sbuf_adds(b, "/*");
			comment = 1;
			s++;
			continue;
		}
		sbuf_addc(b, *s);
	}
	if (comment)
		sbuf_adds(b, " */");
}

char *guard_message(const struct guard_check *c, const struct guard_rev *rev, long long limit,
		    const char *limit_from)
{
	struct sbuf b = { 0 };
	char size[32], lim[32];
	const char *verb = c->effect == AN_REWRITE ? "rewrites" : c->effect == AN_SCAN
								   ? "scans" : "locks";

	guard_size_str(c->size, size, sizeof(size));
	guard_size_str(limit, lim, sizeof(lim));
	/* the flag names itself; an environment variable or an ini line is
	 * said, so that the limit can be found where it was set */
	if (limit_from && limit_from[0] == '-')
		limit_from = NULL;
	sbuf_addf(&b, "revision %s (%s:%d) %s table %s (%s, over --guard-size %s%s%s) under %s, "
		      "which %s until it ends: `%s`",
		  rev->revision, rev->path, c->line, verb, c->table, size, lim,
		  limit_from ? ", set by " : "", limit_from ? limit_from : "",
		  analysis_lock_name(c->lock), guard_blocks(c->lock), c->statement);
	if (c->rule) {
		sbuf_addf(&b, ". Instead (%s): ", c->rule->id);
		add_flat(&b, c->instead ? c->instead : c->rule->instead);
		if (b.len && b.buf[b.len - 1] != '.' && b.buf[b.len - 1] != ';')
			sbuf_addc(&b, '.');
	}
	return sbuf_detach(&b);
}
