/* sqlsplit.c - statement splitting: PostgreSQL's own scanner (pgscan) for
 * PostgreSQL, and a hand-written lexer with the same rules for SQLite and
 * for text the scanner refuses.
 *
 * Divisions, in order: the routine-body heuristic both share; the
 * hand-written lexer; the splitter over PostgreSQL's tokens.
 */
#include "prestart/sqlsplit.h"

#include <pg_query/pg_query.pb-c.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/pgscan.h"

/* Characters that may continue an identifier (PostgreSQL's ident_cont, with
 * every high-bit byte taken as a letter as the server does). */
static int is_ident_cont(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$' || c >= 0x80;
}

static int is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* A dollar-quote tag character: like an identifier but without '$'. */
static int is_tag_cont(unsigned char c)
{
	return is_ident_cont(c) && c != '$';
}

static int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Per-statement state for recognising SQL-standard routine bodies. */
struct routine {
	unsigned nwords;     /* keywords seen at the start of the statement */
	int is_routine;      /* CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	int prev_begin;      /* previous word was BEGIN at paren depth 0 */
	unsigned depth;      /* BEGIN ATOMIC / CASE nesting; ';' splits only at 0 */
	int paren;
};

static int word_is(const char *w, size_t n, const char *kw)
{
	return strlen(kw) == n && !strncasecmp(w, kw, n);
}

/* Feed one word of the statement.  The leading words decide whether this is
 * a routine definition; inside one, BEGIN ATOMIC opens a body and CASE/END
 * nest within it, the same heuristic psql uses. */
static void routine_word(struct routine *r, const char *w, size_t n, int after_dot)
{
	if (r->nwords < 4) {
		unsigned i = r->nwords++;

		if ((i == 1 && word_is(w, n, "or")) || (i == 2 && word_is(w, n, "replace")) ||
		    (i == 0 && word_is(w, n, "create")))
			return;
		if ((i == 1 || i == 3) && (word_is(w, n, "function") || word_is(w, n, "procedure")))
			r->is_routine = 1;
		r->nwords = 4;
		return;
	}
	if (!r->is_routine || after_dot) {
		r->prev_begin = 0;
		return;
	}
	if (r->depth == 0) {
		if (r->prev_begin && word_is(w, n, "atomic"))
			r->depth = 1;
		r->prev_begin = r->paren == 0 && word_is(w, n, "begin");
		return;
	}
	r->prev_begin = 0;
	if (word_is(w, n, "case"))
		r->depth++;
	else if (word_is(w, n, "end"))
		r->depth--;
}

/* ---- the hand-written lexer ---- */

struct scan {
	const char *s;
	size_t len;
	size_t *err_off;
	struct err *e;
};

static int unterminated(struct scan *sc, size_t start, const char *what)
{
	*sc->err_off = start;
	return err_set(sc->e, ERR_SCRIPT, "unterminated %s", what);
}

/* Scan a quoted run starting at the opening quote p; return the offset just
 * past the closing quote, or (size_t)-1 on error.  `backslash` turns on E''
 * escapes. */
static size_t scan_quoted(struct scan *sc, size_t p, size_t start, char q, int backslash,
			  const char *what)
{
	for (p++; p < sc->len; p++) {
		if (backslash && sc->s[p] == '\\') {
			p++;
			continue;
		}
		if (sc->s[p] == q) {
			if (p + 1 < sc->len && sc->s[p + 1] == q) {
				p++;
				continue;
			}
			return p + 1;
		}
	}
	unterminated(sc, start, what);
	return (size_t)-1;
}

/* Length of a dollar-quote delimiter ($$ or $tag$) at p, or 0. */
static size_t dollar_delim(const char *s, size_t len, size_t p)
{
	size_t q = p + 1;

	if (q < len && s[q] == '$')
		return 2;
	if (q >= len || !is_ident_start((unsigned char)s[q]))
		return 0;
	while (q < len && is_tag_cont((unsigned char)s[q]))
		q++;
	if (q < len && s[q] == '$')
		return q - p + 1;
	return 0;
}

static size_t scan_dollar(struct scan *sc, size_t p, size_t dlen)
{
	const char *tag = sc->s + p;
	size_t q = p + dlen;

	while (q + dlen <= sc->len) {
		const char *hit = memchr(sc->s + q, '$', sc->len - q);

		if (!hit || (size_t)(hit - sc->s) + dlen > sc->len)
			break;
		q = (size_t)(hit - sc->s);
		if (!memcmp(sc->s + q, tag, dlen))
			return q + dlen;
		q++;
	}
	unterminated(sc, p, "dollar-quoted string");
	return (size_t)-1;
}

static size_t scan_block_comment(struct scan *sc, size_t p)
{
	size_t start = p;
	unsigned depth = 1;

	for (p += 2; p < sc->len; p++) {
		if (sc->s[p] == '/' && p + 1 < sc->len && sc->s[p + 1] == '*') {
			depth++;
			p++;
		} else if (sc->s[p] == '*' && p + 1 < sc->len && sc->s[p + 1] == '/') {
			p++;
			if (--depth == 0)
				return p + 1;
		}
	}
	unterminated(sc, start, "block comment");
	return (size_t)-1;
}

static void push_stmt(struct sql_stmts *out, size_t off, size_t end)
{
	xgrow((void **)&out->v, &out->alloc, out->n + 1, sizeof(*out->v));
	out->v[out->n].off = off;
	out->v[out->n].len = end - off;
	out->n++;
}

int sqlsplit_sqlite(const char *text, size_t len, struct sql_stmts *out, size_t *err_off,
		    struct err *e)
{
	struct scan sc = { text, len, err_off, e };
	struct routine r = { 0 };
	size_t p = 0, start = 0, end = 0;
	int have = 0; /* a significant token was seen in this statement */

	memset(out, 0, sizeof(*out));
	*err_off = 0;
	while (p < len) {
		unsigned char c = (unsigned char)text[p];
		size_t tok = p, next;

		if (is_space(c)) {
			p++;
			continue;
		}
		if (c == '-' && p + 1 < len && text[p + 1] == '-') {
			const char *nl = memchr(text + p, '\n', len - p);

			p = nl ? (size_t)(nl - text) + 1 : len;
			continue;
		}
		if (c == '/' && p + 1 < len && text[p + 1] == '*') {
			if ((next = scan_block_comment(&sc, p)) == (size_t)-1)
				goto error;
			p = next;
			continue;
		}
		if (c == ';' && r.depth == 0) {
			if (have)
				push_stmt(out, start, end);
			have = 0;
			memset(&r, 0, sizeof(r));
			p++;
			continue;
		}
		if (c == '\'') {
			next = scan_quoted(&sc, p, p, '\'', 0, "quoted string");
		} else if (c == '"') {
			next = scan_quoted(&sc, p, p, '"', 0, "quoted identifier");
		} else if (c == '$') {
			size_t dlen = dollar_delim(text, len, p);

			/* $1 parameters and stray '$' are plain characters. */
			next = dlen ? scan_dollar(&sc, p, dlen) : p + 1;
		} else if (is_ident_cont(c)) {
			size_t n;
			int after_dot = p > 0 && text[p - 1] == '.';

			next = p;
			while (next < len && is_ident_cont((unsigned char)text[next]))
				next++;
			n = next - p;
			if (next < len && text[next] == '\'' && n == 1 && (c == 'e' || c == 'E')) {
				next = scan_quoted(&sc, next, p, '\'', 1, "quoted string");
			} else if (n == 1 && (c == 'u' || c == 'U') && next + 1 < len &&
				   text[next] == '&' && (text[next + 1] == '\'' || text[next + 1] == '"')) {
				char q = text[next + 1];

				next = scan_quoted(&sc, next + 1, p, q,
						   0, q == '"' ? "quoted identifier" : "quoted string");
			} else if (is_ident_start(c)) {
				routine_word(&r, text + p, n, after_dot);
			}
		} else {
			if (c == '(')
				r.paren++;
			else if (c == ')' && r.paren > 0)
				r.paren--;
			next = p + 1;
		}
		if (next == (size_t)-1)
			goto error;
		if (!have) {
			have = 1;
			start = tok;
		}
		end = next;
		p = next;
	}
	if (have)
		push_stmt(out, start, end);
	return 0;
error:
	sqlsplit_release(out);
	return -1;
}

/* ---- the splitter over PostgreSQL's tokens ---- */

static int split_tokens(const char *text, const struct pgscan *t, struct sql_stmts *out)
{
	struct routine r = { 0 };
	size_t start = 0, end = 0;
	int have = 0;

	for (size_t i = 0; i < t->n; i++) {
		const struct pgscan_tok *k = &t->v[i];

		if (k->kind == PGSCAN_COMMENT)
			continue;
		if (k->kind == PGSCAN_SEMI && r.depth == 0) {
			if (have)
				push_stmt(out, start, end);
			have = 0;
			memset(&r, 0, sizeof(r));
			continue;
		}
		if (k->kind == PGSCAN_KEYWORD || k->kind == PGSCAN_IDENT) {
			int after_dot = i > 0 && t->v[i - 1].token == PG_QUERY__TOKEN__ASCII_46;

			if (is_ident_start((unsigned char)text[k->start]))
				routine_word(&r, text + k->start, k->end - k->start, after_dot);
		} else if (k->token == PG_QUERY__TOKEN__ASCII_40) {
			r.paren++;
		} else if (k->token == PG_QUERY__TOKEN__ASCII_41 && r.paren > 0) {
			r.paren--;
		}
		if (!have) {
			have = 1;
			start = k->start;
		}
		end = k->end;
	}
	if (have)
		push_stmt(out, start, end);
	return 0;
}

int sqlsplit(const char *text, size_t len, struct sql_stmts *out, size_t *err_off,
	     struct err *e)
{
	struct pgscan t;
	struct err se;
	char *copy = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	*err_off = 0;
	/* The scanner reads a C string: a NUL inside is the hand lexer's. */
	if (memchr(text, '\0', len))
		return sqlsplit_sqlite(text, len, out, err_off, e);
	if (text[len] != '\0')
		text = copy = xstrndup(text, len);
	/* What the scanner refuses (an unterminated quote, a zero-length
	 * "" identifier the server would refuse too) the hand lexer splits or
	 * locates with the messages it always gave. */
	if (pgscan(text, &t, NULL, &se) < 0)
		rc = sqlsplit_sqlite(text, len, out, err_off, e);
	else
		rc = split_tokens(text, &t, out);
	pgscan_release(&t);
	free(copy);
	return rc;
}

void sqlsplit_release(struct sql_stmts *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}
