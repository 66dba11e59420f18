/* analysis_token.c - the analysis' lower half: recording what a statement
 * does (tables, facts, class), which analysis.c uses too, and the
 * token-level reading of a statement, for PostgreSQL the parser cannot read
 * (marked unparsed) and for SQLite, which gets this subset only (SPEC §9.1).
 * It calls nothing in analysis.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/util.h"

#include "analysis_int.h"

/* ---- recording ---- */

void an_touch(struct an_stmt *st, const char *table, enum an_lock lock, enum an_effect eff)
{
	if (!table || !*table)
		return;
	for (size_t i = 0; i < st->ntables; i++) {
		struct an_table *t = &st->tables[i];

		if (!strcmp(t->name, table)) {
			if (lock > t->lock)
				t->lock = lock;
			if (eff > t->effect)
				t->effect = eff;
			return;
		}
	}
	st->tables = xrealloc(st->tables, (st->ntables + 1) * sizeof(*st->tables));
	st->tables[st->ntables].name = xstrdup(table);
	st->tables[st->ntables].lock = lock;
	st->tables[st->ntables].effect = eff;
	st->ntables++;
}

struct an_fact *an_fact(struct an_stmt *st, enum an_fact_kind kind, const char *table,
		       const char *name, const char *detail)
{
	struct an_fact *f;

	st->facts = xrealloc(st->facts, (st->nfacts + 1) * sizeof(*st->facts));
	f = &st->facts[st->nfacts++];
	f->kind = kind;
	f->table = table && *table ? xstrdup(table) : NULL;
	f->name = name && *name ? xstrdup(name) : NULL;
	f->detail = detail && *detail ? xstrdup(detail) : NULL;
	f->spec = NULL;
	return f;
}

void an_klass(struct an_stmt *st, enum an_class c)
{
	if (c > st->cls)
		st->cls = c;
}

/* ---- the token-level reading ---- */

/* The words of a statement, lowercased, quotes and comments skipped
 * ("quoted" identifiers and `ticked` or [bracketed] ones as their
 * content).  Enough for the leading keywords of DROP, ALTER, TRUNCATE,
 * DELETE and CREATE INDEX, in PostgreSQL or SQLite. */
static void words_of(const char *s, size_t len, struct strlist *w)
{
	size_t i = 0;

	while (i < len) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '-' && i + 1 < len && s[i + 1] == '-') {
			while (i < len && s[i] != '\n')
				i++;
		} else if (ch == '/' && i + 1 < len && s[i + 1] == '*') {
			for (i += 2; i + 1 < len && !(s[i] == '*' && s[i + 1] == '/'); i++)
				;
			i += 2;
		} else if (ch == '\'') {
			for (i++; i < len && s[i] != '\''; i++)
				;
			i++;
			strlist_push(w, "'");
		} else if (ch == '"' || ch == '`' || ch == '[') {
			char close = ch == '[' ? ']' : (char)ch;
			size_t j = i + 1;

			while (j < len && s[j] != close)
				j++;
			strlist_push_owned(w, xstrndup(s + i + 1, j - i - 1));
			i = j + 1;
		} else if (isalnum(ch) || ch == '_' || ch >= 0x80) {
			size_t j = i;
			char *word;

			while (j < len && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '$' ||
					   s[j] == '.' || (unsigned char)s[j] >= 0x80))
				j++;
			word = xstrndup(s + i, j - i);
			for (char *p = word; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			strlist_push_owned(w, word);
			i = j;
		} else {
			if (!isspace(ch)) {
				char one[2] = { (char)ch, 0 };

				strlist_push(w, one);
			}
			i++;
		}
	}
}

static int wis(const struct strlist *w, size_t i, const char *s)
{
	return i < w->n && !strcmp(w->v[i], s);
}

/* Skip IF EXISTS / ONLY after the object keyword. */
static size_t skip_noise(const struct strlist *w, size_t i)
{
	if (wis(w, i, "if") && wis(w, i + 1, "exists"))
		i += 2;
	if (wis(w, i, "only"))
		i++;
	return i;
}

void an_token_level(struct an_stmt *st, const char *s, size_t len)
{
	struct strlist w = { 0 };
	size_t i;

	words_of(s, len, &w);
	if (wis(&w, 0, "drop") && wis(&w, 1, "table")) {
		for (i = skip_noise(&w, 2); i < w.n && strcmp(w.v[i], ";"); i++) {
			if (!strcmp(w.v[i], ",") || !strcmp(w.v[i], "cascade") ||
			    !strcmp(w.v[i], "restrict"))
				continue;
			an_touch(st, w.v[i], AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_DROP_TABLE, w.v[i], NULL, NULL);
		}
		an_klass(st, AN_DATA_LOSS);
	} else if (wis(&w, 0, "truncate")) {
		i = wis(&w, 1, "table") ? 2 : 1;
		i = skip_noise(&w, i);
		if (i < w.n) {
			an_touch(st, w.v[i], AN_ACCESS_EXCLUSIVE, AN_CATALOG);
			an_fact(st, AF_TRUNCATE, w.v[i], NULL, NULL);
		}
		an_klass(st, AN_DATA_LOSS);
	} else if (wis(&w, 0, "delete") && wis(&w, 1, "from") && w.n > 2) {
		int where = 0;

		for (i = 3; i < w.n; i++)
			where |= !strcmp(w.v[i], "where");
		an_touch(st, w.v[2], AN_ROW_EXCLUSIVE, AN_CATALOG);
		an_fact(st, AF_DML, w.v[2], NULL, "DELETE");
		if (!where) {
			an_fact(st, AF_DELETE_ALL, w.v[2], NULL, NULL);
			an_klass(st, AN_DATA_LOSS);
		}
	} else if (wis(&w, 0, "alter") && wis(&w, 1, "table")) {
		const char *t;

		i = skip_noise(&w, 2);
		if (i >= w.n)
			goto out;
		t = w.v[i++];
		an_touch(st, t, AN_ACCESS_EXCLUSIVE, AN_CATALOG);
		if (wis(&w, i, "drop") && !wis(&w, i + 1, "constraint") &&
		    !wis(&w, i + 1, "default")) {
			i += wis(&w, i + 1, "column") ? 2 : 1;
			i = skip_noise(&w, i);
			an_fact(st, AF_DROP_COLUMN, t, i < w.n ? w.v[i] : NULL, NULL);
			an_klass(st, AN_DATA_LOSS);
		} else if (wis(&w, i, "rename") && wis(&w, i + 1, "to")) {
			an_fact(st, AF_RENAME_TABLE, t, NULL, i + 2 < w.n ? w.v[i + 2] : NULL);
			an_klass(st, AN_CONTRACT);
		} else if (wis(&w, i, "rename")) {
			i += wis(&w, i + 1, "column") ? 2 : 1;
			an_fact(st, AF_RENAME_COLUMN, t, i < w.n ? w.v[i] : NULL,
			     i + 2 < w.n ? w.v[i + 2] : NULL);
			an_klass(st, AN_CONTRACT);
		} else if (wis(&w, i, "add")) {
			i += wis(&w, i + 1, "column") ? 2 : 1;
			if (!wis(&w, i, "constraint"))
				an_fact(st, AF_ADD_COLUMN, t, i < w.n ? w.v[i] : NULL, NULL);
		}
	} else if (wis(&w, 0, "create") && (wis(&w, 1, "index") ||
					     (wis(&w, 1, "unique") && wis(&w, 2, "index")))) {
		int conc = 0;

		for (i = 1; i < w.n; i++) {
			conc |= !strcmp(w.v[i], "concurrently");
			if (!strcmp(w.v[i], "on") && i + 1 < w.n) {
				const char *t = w.v[i + 1 + wis(&w, i + 1, "only")];

				an_touch(st, t, conc ? AN_SHARE_UPDATE_EXCLUSIVE : AN_SHARE, AN_SCAN);
				an_fact(st, conc ? AF_CREATE_INDEX_CONC : AF_CREATE_INDEX, t, NULL, NULL);
				break;
			}
		}
	} else if (wis(&w, 0, "create") && (wis(&w, 1, "table") ||
					     (wis(&w, 2, "table") && (wis(&w, 1, "temp") ||
								      wis(&w, 1, "temporary") ||
								      wis(&w, 1, "unlogged"))))) {
		i = wis(&w, 1, "table") ? 2 : 3;
		if (wis(&w, i, "if") && wis(&w, i + 1, "not") && wis(&w, i + 2, "exists"))
			i += 3;
		if (i < w.n)
			an_fact(st, AF_CREATE_TABLE, w.v[i], NULL, NULL);
	}
out:
	strlist_free(&w);
}

