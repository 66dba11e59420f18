/* pyrev.c - Alembic .py revision metadata read without Python.
 *
 * A small tokenizer that knows just enough of Python's lexical structure
 * (strings of every kind, comments, continuations, brackets) to find the
 * module's logical lines; only statements starting in column 0 are looked
 * at, so nothing inside a function, class or `if` is ever taken for module
 * metadata.
 */
#include "prestart/pyrev.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tk { T_EOF, T_NEWLINE, T_NAME, T_STRING, T_NUMBER, T_OP };

struct tok {
	enum tk t;
	size_t off, len; /* whole token text */
	int line;
	int first;       /* first token of a logical line */
	int indented;    /* ... and not in column 0 */
	int col;         /* ... its indentation, tabs to multiples of 8 */
	int depth;       /* bracket depth before the token */
	/* strings */
	int raw, fstr, bytes;
	size_t body, body_len; /* between the quotes */
};

struct lex {
	const char *s;
	size_t len, p, bol_off; /* bol_off: start of the current physical line */
	int line, depth, at_bol;
	const char *path;
	struct err *e;
};

static int is_name_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int is_name_cont(unsigned char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}

static void newline_at(struct lex *lx, size_t i)
{
	lx->line++;
	lx->bol_off = i + 1;
}

/* Which string prefix is s[0..n)?  Sets the flags; 0 when it is none. */
static int string_prefix(const char *s, size_t n, int *raw, int *fstr, int *bytes)
{
	size_t i;

	*raw = *fstr = *bytes = 0;
	if (n > 2)
		return 0;
	for (i = 0; i < n; i++) {
		switch (s[i] | 0x20) {
		case 'r':
			if ((*raw)++)
				return 0;
			break;
		case 'f':
		case 't': /* template strings are as unreadable as f-strings */
			if ((*fstr)++)
				return 0;
			break;
		case 'b':
			if ((*bytes)++)
				return 0;
			break;
		case 'u':
			if (n != 1)
				return 0;
			break;
		default:
			return 0;
		}
	}
	return !(*fstr && *bytes);
}

static size_t scan_string(struct lex *lx, size_t i, int fstr);

/* Skip a replacement field of an f-string from just after its '{' to just
 * past its '}'.  Quotes in the expression open nested strings (Python 3.12
 * allows the outer quote character there). */
static size_t scan_fexpr(struct lex *lx, size_t i, int *ok)
{
	int depth = 0;

	while (i < lx->len) {
		unsigned char c = (unsigned char)lx->s[i];

		if (c == '\'' || c == '"') {
			if ((i = scan_string(lx, i, 0)) == SIZE_MAX)
				return *ok = 0, i;
			continue;
		}
		if (is_name_start(c)) {
			size_t j = i;
			int raw, fstr, bytes;

			while (j < lx->len && is_name_cont((unsigned char)lx->s[j]))
				j++;
			if (j < lx->len && (lx->s[j] == '\'' || lx->s[j] == '"') &&
			    string_prefix(lx->s + i, j - i, &raw, &fstr, &bytes)) {
				if ((i = scan_string(lx, j, fstr)) == SIZE_MAX)
					return *ok = 0, i;
				continue;
			}
			i = j;
			continue;
		}
		if (c == '\n')
			newline_at(lx, i);
		else if (c == '(' || c == '[' || c == '{')
			depth++;
		else if (c == ')' || c == ']')
			depth--;
		else if (c == '}' && depth-- == 0)
			return i + 1;
		i++;
	}
	return i;
}

/* Scan a string whose opening quote is at i; return the offset past its
 * closing quote, or SIZE_MAX (error set) when it is unterminated. */
static size_t scan_string(struct lex *lx, size_t i, int fstr)
{
	char q = lx->s[i];
	int triple = i + 2 < lx->len && lx->s[i + 1] == q && lx->s[i + 2] == q;
	int start_line = lx->line, ok = 1;

	i += triple ? 3 : 1;
	while (i < lx->len) {
		char c = lx->s[i];

		if (c == '\\') {
			if (i + 1 < lx->len && lx->s[i + 1] == '\n')
				newline_at(lx, i + 1);
			i += 2;
			continue;
		}
		if (c == '\n') {
			if (!triple)
				break;
			newline_at(lx, i);
		} else if (c == q) {
			if (!triple)
				return i + 1;
			if (i + 2 < lx->len && lx->s[i + 1] == q && lx->s[i + 2] == q)
				return i + 3;
		} else if (fstr && c == '{') {
			if (i + 1 < lx->len && lx->s[i + 1] == '{') {
				i += 2;
				continue;
			}
			i = scan_fexpr(lx, i + 1, &ok);
			if (!ok)
				return SIZE_MAX;
			continue;
		}
		i++;
	}
	err_set(lx->e, ERR_SCRIPT, "%s:%d: unterminated %sstring", lx->path, start_line,
		triple ? "triple-quoted " : "");
	return SIZE_MAX;
}

/* Python's measure of a line's indentation: a tab advances to the next
 * multiple of 8, a form feed starts over. */
static int indent_width(const char *s, size_t n)
{
	int col = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\t')
			col = (col / 8 + 1) * 8;
		else if (s[i] == '\f')
			col = 0;
		else
			col++;
	}
	return col;
}

/* The next token; -1 on a lexical error. */
static int lex_next(struct lex *lx, struct tok *t)
{
	const char *s = lx->s;

	for (;;) {
		size_t p = lx->p;
		unsigned char c;

		if (p >= lx->len) {
			memset(t, 0, sizeof(*t));
			t->off = p;
			t->line = lx->line;
			t->t = lx->at_bol ? T_EOF : T_NEWLINE;
			lx->at_bol = 1;
			return 0;
		}
		c = (unsigned char)s[p];
		if (c == ' ' || c == '\t' || c == '\f' || c == '\r') {
			lx->p++;
			continue;
		}
		if (c == '\\' && p + 1 < lx->len &&
		    (s[p + 1] == '\n' || (s[p + 1] == '\r' && p + 2 < lx->len && s[p + 2] == '\n'))) {
			lx->p = p + (s[p + 1] == '\r' ? 3 : 2);
			newline_at(lx, lx->p - 1);
			continue;
		}
		if (c == '#') {
			const char *nl = memchr(s + p, '\n', lx->len - p);

			lx->p = nl ? (size_t)(nl - s) : lx->len;
			continue;
		}
		if (c == '\n') {
			newline_at(lx, p);
			lx->p++;
			if (lx->depth == 0 && !lx->at_bol) {
				memset(t, 0, sizeof(*t));
				t->t = T_NEWLINE;
				t->off = p;
				t->line = lx->line - 1;
				lx->at_bol = 1;
				return 0;
			}
			continue;
		}
		break;
	}

	memset(t, 0, sizeof(*t));
	t->off = lx->p;
	t->line = lx->line;
	t->depth = lx->depth;
	if (lx->at_bol) {
		t->first = 1;
		t->indented = lx->p > lx->bol_off;
		t->col = indent_width(s + lx->bol_off, lx->p - lx->bol_off);
		lx->at_bol = 0;
	}

	size_t p = lx->p, q = p;
	unsigned char c = (unsigned char)s[p];

	if (is_name_start(c)) {
		while (q < lx->len && is_name_cont((unsigned char)s[q]))
			q++;
		if (q < lx->len && (s[q] == '\'' || s[q] == '"') &&
		    string_prefix(s + p, q - p, &t->raw, &t->fstr, &t->bytes)) {
			p = q;
			c = (unsigned char)s[q];
		} else {
			t->t = T_NAME;
			t->len = q - p;
			lx->p = q;
			return 0;
		}
	}
	if (c == '\'' || c == '"') {
		int triple = p + 2 < lx->len && s[p + 1] == (char)c && s[p + 2] == (char)c;
		size_t end = scan_string(lx, p, t->fstr);

		if (end == SIZE_MAX)
			return -1;
		t->t = T_STRING;
		t->len = end - t->off;
		t->body = p + (triple ? 3 : 1);
		t->body_len = end - (triple ? 3 : 1) - t->body;
		lx->p = end;
		return 0;
	}
	if ((c >= '0' && c <= '9') || (c == '.' && p + 1 < lx->len && s[p + 1] >= '0' &&
					s[p + 1] <= '9')) {
		while (q < lx->len && (is_name_cont((unsigned char)s[q]) || s[q] == '.'))
			q++;
		t->t = T_NUMBER;
		t->len = q - p;
		lx->p = q;
		return 0;
	}
	t->t = T_OP;
	q = p + 1;
	if (c == '(' || c == '[' || c == '{') {
		lx->depth++;
	} else if (c == ')' || c == ']' || c == '}') {
		if (lx->depth > 0)
			lx->depth--;
	} else if (c != ',' && c != ';' && c != '.') {
		/* Multi-character operators, so that `x += 1` and `a == b` are
		 * never mistaken for a plain `=`. */
		if ((c == '*' || c == '/' || c == '<' || c == '>') && q < lx->len && s[q] == (char)c)
			q++;
		else if (c == '-' && q < lx->len && s[q] == '>')
			q++;
		if (q < lx->len && s[q] == '=' && strchr("=!<>+-*/%&|^@:~", c))
			q++;
	}
	t->len = q - p;
	lx->p = q;
	return 0;
}

static int tok_is(const struct lex *lx, const struct tok *t, const char *text)
{
	return t->len == strlen(text) && !memcmp(lx->s + t->off, text, t->len);
}

static int at_end(const struct lex *lx, const struct tok *t)
{
	return t->t == T_NEWLINE || t->t == T_EOF || (t->t == T_OP && t->depth == 0 &&
						       tok_is(lx, t, ";"));
}

static void put_utf8(struct sbuf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		sbuf_addc(b, (char)cp);
		return;
	}
	if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		sbuf_add(b, u, 4);
	}
}

/* Append the value of a (non-f, non-bytes) string literal.  Escapes Python
 * knows are decoded; unknown ones stay as written, as Python leaves them. */
static void decode_string(const char *s, size_t n, int raw, struct sbuf *b)
{
	size_t i = 0;

	if (raw) {
		sbuf_add(b, s, n);
		return;
	}
	while (i < n) {
		const char *bs = memchr(s + i, '\\', n - i);
		size_t k;
		char c;

		if (!bs) {
			sbuf_add(b, s + i, n - i);
			return;
		}
		sbuf_add(b, s + i, (size_t)(bs - (s + i)));
		i = (size_t)(bs - s) + 1;
		if (i >= n) {
			sbuf_addc(b, '\\');
			return;
		}
		c = s[i++];
		switch (c) {
		case '\n': break;
		case '\\': sbuf_addc(b, '\\'); break;
		case '\'': sbuf_addc(b, '\''); break;
		case '"': sbuf_addc(b, '"'); break;
		case 'a': sbuf_addc(b, '\a'); break;
		case 'b': sbuf_addc(b, '\b'); break;
		case 'f': sbuf_addc(b, '\f'); break;
		case 'n': sbuf_addc(b, '\n'); break;
		case 'r': sbuf_addc(b, '\r'); break;
		case 't': sbuf_addc(b, '\t'); break;
		case 'v': sbuf_addc(b, '\v'); break;
		case 'x':
		case 'u':
		case 'U': {
			size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			unsigned long cp = 0;

			for (k = 0; k < digits && i + k < n && hexval(s[i + k]) >= 0; k++)
				cp = cp * 16 + (unsigned long)hexval(s[i + k]);
			if (k != digits || cp > 0x10ffff) {
				sbuf_addc(b, '\\');
				sbuf_addc(b, c);
				break;
			}
			put_utf8(b, cp);
			i += digits;
			break;
		}
		default:
			if (c >= '0' && c <= '7') {
				unsigned long cp = (unsigned long)(c - '0');

				for (k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++)
					cp = cp * 8 + (unsigned long)(s[i++] - '0');
				put_utf8(b, cp);
				break;
			}
			sbuf_addc(b, '\\');
			sbuf_addc(b, c);
			break;
		}
	}
}

enum pyname { N_REVISION, N_DOWN, N_LABELS, N_DEPENDS, N_COMPAT, N_PHASE, N_COUNT };

static const char *const pynames[N_COUNT] = {
	"revision", "down_revision", "branch_labels", "depends_on", "prestart_compat",
	"prestart_phase",
};

struct value {
	int is_none, is_str, is_seq;
	struct strlist items;
};

struct parser {
	struct lex lx;
	struct tok t;
	const char *path;
	struct err *e;
	int computed;    /* the error just set is cannot_read()'s: Python could tell */
	char block[16];  /* keyword of the module-level compound statement being read */
};

static int advance(struct parser *ps)
{
	return lex_next(&ps->lx, &ps->t);
}

static int cannot_read(struct parser *ps, const char *name, const struct tok *t)
{
	const char *why;
	char near[48];
	size_t n = t->len < 40 ? t->len : 40;

	ps->computed = 1;
	if (t->t == T_STRING && t->fstr)
		why = "an f-string";
	else if (t->t == T_STRING && t->bytes)
		why = "a bytes literal";
	else if (t->t == T_NEWLINE || t->t == T_EOF)
		why = "no value";
	else
		why = NULL;
	if (why)
		return err_set(ps->e, ERR_SCRIPT,
			       "%s:%d: cannot read '%s' without running Python: %s", ps->path,
			       t->line, name, why);
	memcpy(near, ps->lx.s + t->off, n);
	near[n] = '\0';
	if (memchr(near, '\n', n))
		*(char *)memchr(near, '\n', n) = '\0';
	return err_set(ps->e, ERR_SCRIPT,
		       "%s:%d: cannot read '%s' without running Python: "
		       "only strings, None and tuples or lists of strings are understood, not '%s%s'",
		       ps->path, t->line, name, near, t->len > n ? "..." : "");
}

/* A run of adjacent string literals at the current token, decoded into b. */
static int read_strings(struct parser *ps, const char *name, struct sbuf *b)
{
	while (ps->t.t == T_STRING) {
		if (ps->t.fstr || ps->t.bytes)
			return cannot_read(ps, name, &ps->t);
		decode_string(ps->lx.s + ps->t.body, ps->t.body_len, ps->t.raw, b);
		if (advance(ps) < 0)
			return -1;
	}
	return 0;
}

static int read_item(struct parser *ps, const char *name, struct value *v)
{
	struct sbuf b = { 0 };

	if (read_strings(ps, name, &b) < 0) {
		sbuf_free(&b);
		return -1;
	}
	sbuf_addc(&b, '\0'); /* ensure an allocation for "" */
	strlist_push_owned(&v->items, sbuf_detach(&b));
	return 0;
}

/* Parse the right-hand side at the current token up to the statement's end. */
static int read_value(struct parser *ps, const char *name, struct value *v)
{
	struct tok *t = &ps->t;

	if (t->t == T_NAME && tok_is(&ps->lx, t, "None")) {
		v->is_none = 1;
		if (advance(ps) < 0)
			return -1;
	} else if (t->t == T_STRING) {
		if (read_item(ps, name, v) < 0)
			return -1;
		v->is_str = 1;
		/* `x = 'a', 'b'` is a tuple without parentheses */
		while (t->t == T_OP && t->depth == 0 && tok_is(&ps->lx, t, ",")) {
			v->is_str = 0;
			v->is_seq = 1;
			if (advance(ps) < 0)
				return -1;
			if (at_end(&ps->lx, t))
				break;
			if (t->t != T_STRING)
				return cannot_read(ps, name, t);
			if (read_item(ps, name, v) < 0)
				return -1;
		}
	} else if (t->t == T_OP && (tok_is(&ps->lx, t, "(") || tok_is(&ps->lx, t, "["))) {
		char close = ps->lx.s[t->off] == '(' ? ')' : ']';
		int commas = 0;

		if (advance(ps) < 0)
			return -1;
		for (;;) {
			if (t->t == T_OP && t->len == 1 && ps->lx.s[t->off] == close)
				break;
			if (t->t != T_STRING)
				return cannot_read(ps, name, t);
			if (read_item(ps, name, v) < 0)
				return -1;
			if (t->t == T_OP && tok_is(&ps->lx, t, ",")) {
				commas++;
				if (advance(ps) < 0)
					return -1;
				continue;
			}
			if (!(t->t == T_OP && t->len == 1 && ps->lx.s[t->off] == close))
				return cannot_read(ps, name, t);
		}
		/* ('abc') is a parenthesised string, ('abc',) a tuple */
		if (close == ')' && v->items.n == 1 && !commas)
			v->is_str = 1;
		else
			v->is_seq = 1;
		if (advance(ps) < 0)
			return -1;
	} else {
		return cannot_read(ps, name, t);
	}
	if (!at_end(&ps->lx, t))
		return cannot_read(ps, name, t);
	return 0;
}

static int skip_statement(struct parser *ps)
{
	while (!at_end(&ps->lx, &ps->t))
		if (advance(ps) < 0)
			return -1;
	return 0;
}

static void skip_line_rest(struct parser *ps, int *rc)
{
	while (ps->t.t != T_NEWLINE && ps->t.t != T_EOF)
		if (advance(ps) < 0) {
			*rc = -1;
			return;
		}
}

/* A statement whose block is a new scope: what is assigned there is not
 * module metadata. */
static int is_def_start(const struct lex *lx, const struct tok *t)
{
	if (t->t == T_OP && tok_is(lx, t, "@"))
		return 1;
	return t->t == T_NAME &&
	       (tok_is(lx, t, "def") || tok_is(lx, t, "class") || tok_is(lx, t, "async"));
}

/* `if TYPE_CHECKING:`, `if typing.TYPE_CHECKING:` or `if False:`, at its
 * `if`: a block that never runs, whose assignments are not metadata.
 * Looks ahead on a copy of the lexer. */
static int is_dead_if(const struct lex *lx, const struct tok *t)
{
	struct lex la = *lx;
	struct err e = { 0 };
	struct tok k;
	int ok = 0;

	if (!(t->t == T_NAME && tok_is(lx, t, "if")))
		return 0;
	la.e = &e;
	if (lex_next(&la, &k) < 0 || k.t != T_NAME)
		return 0;
	if (tok_is(&la, &k, "typing")) {
		if (lex_next(&la, &k) < 0 || !(k.t == T_OP && tok_is(&la, &k, ".")) ||
		    lex_next(&la, &k) < 0 || k.t != T_NAME)
			return 0;
		ok = tok_is(&la, &k, "TYPE_CHECKING");
	} else {
		ok = tok_is(&la, &k, "TYPE_CHECKING") || tok_is(&la, &k, "False");
	}
	return ok && lex_next(&la, &k) == 0 && k.t == T_OP && tok_is(&la, &k, ":");
}

/* A compound statement whose block runs in the module's scope. */
static int is_compound_keyword(const struct lex *lx, const struct tok *t)
{
	static const char *const kw[] = {
		"if", "elif", "else", "for", "while", "with", "try", "except", "finally",
		"match", "case",
	};
	size_t i;

	if (t->t != T_NAME)
		return 0;
	for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (tok_is(lx, t, kw[i]))
			return 1;
	return 0;
}

static int check_ids(const char *path, int line, const char *name, const struct strlist *l,
		     int labels, struct err *e)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		int ok = labels ? revision_valid_label(l->v[i]) : revision_valid_id(l->v[i]);

		if (!ok)
			return err_set(e, ERR_SCRIPT, "%s:%d: invalid %s '%s' in '%s'%s", path, line,
				       labels ? "name" : "revision id", l->v[i], name,
				       labels ? "" : " (1-32 characters of A-Z a-z 0-9 _ . -)");
	}
	return 0;
}

/* ---- what the module binds ----------------------------------------------
 * Statement after statement, as Python runs them: the last binding of a
 * name wins.  A binding whose value only Python can compute (an expression,
 * an assignment inside a module-level if/try/for/with block, an import)
 * leaves the name "unread" with the reason, until a later plain literal
 * assignment replaces it. */

struct meta {
	struct value v[N_COUNT]; /* the last literal value */
	int line[N_COUNT];       /* line of the last binding; 0: never bound */
	char *why[N_COUNT];      /* the last binding needs Python: why */
};

static void value_clear(struct value *v)
{
	strlist_free(&v->items);
	memset(v, 0, sizeof(*v));
}

static void bind_literal(struct meta *m, enum pyname n, int line, struct value *v)
{
	value_clear(&m->v[n]);
	m->v[n] = *v;
	memset(v, 0, sizeof(*v));
	free(m->why[n]);
	m->why[n] = NULL;
	m->line[n] = line;
}

static void bind_computed(struct meta *m, enum pyname n, int line, const char *why)
{
	value_clear(&m->v[n]);
	free(m->why[n]);
	m->why[n] = xstrdup(why);
	m->line[n] = line;
}

static void meta_release(struct meta *m)
{
	for (int n = 0; n < N_COUNT; n++) {
		value_clear(&m->v[n]);
		free(m->why[n]);
	}
}

static int name_index(const struct lex *lx, const struct tok *t)
{
	/* every name of a module passes here: the lengths first */
	static const size_t lens[N_COUNT] = { 8, 13, 13, 10, 15, 14 };

	if (t->t != T_NAME)
		return -1;
	for (int n = 0; n < N_COUNT; n++)
		if (t->len == lens[n] && !memcmp(lx->s + t->off, pynames[n], lens[n]))
			return n;
	return -1;
}

static int is_augmented(const struct lex *lx, const struct tok *t)
{
	return t->t == T_OP && t->len >= 2 && lx->s[t->off + t->len - 1] == '=' &&
	       !tok_is(lx, t, "==") && !tok_is(lx, t, "!=") && !tok_is(lx, t, "<=") &&
	       !tok_is(lx, t, ">=") && !tok_is(lx, t, ":=");
}

/* How the name `cur` is bound, judged by the tokens beside it; NULL when it
 * is only used.  at_start: cur starts a statement; import_names: cur is
 * among the names an import binds. */
static const char *binding(const struct lex *lx, const struct tok *prev, const struct tok *cur,
			   const struct tok *next, int at_start, int import_names)
{
	if (next->t == T_OP) {
		if (tok_is(lx, next, ":="))
			return "':='";
		if (next->depth == 0 && (tok_is(lx, next, "=") || is_augmented(lx, next)))
			return "a chained assignment";
		/* `name: T = v` and `name, other = ...` at a statement's start */
		if (at_start && next->depth == 0 &&
		    (tok_is(lx, next, ":") || tok_is(lx, next, ",")))
			return "an assignment";
	}
	if (prev->t == T_NAME && tok_is(lx, prev, "as"))
		return "'as'";
	if (prev->t == T_NAME && cur->depth == 0) {
		if (tok_is(lx, prev, "for"))
			return "'for'";
		if (tok_is(lx, prev, "del"))
			return "'del'";
		if (tok_is(lx, prev, "global"))
			return "'global'";
	}
	if (import_names && !(prev->t == T_OP && tok_is(lx, prev, ".")) &&
	    !(next->t == T_NAME && tok_is(lx, next, "as")))
		return "an import";
	return NULL;
}

/* Read through the rest of a statement (whole_line: of the logical line, a
 * compound statement's header and the block on the same line) and mark
 * every metadata name it binds as needing Python.  In a module-level block
 * (ps->block) every binding counts: whether it runs is Python's to say. */
static int scan_bindings(struct parser *ps, struct meta *m, int in_block, int whole_line)
{
	const struct lex *lx = &ps->lx;
	struct tok prev, cur;
	int import_stmt = 0, import_names = 0;

	memset(&prev, 0, sizeof(prev));
	prev.t = T_NEWLINE;
	while (whole_line ? !(ps->t.t == T_NEWLINE || ps->t.t == T_EOF) : !at_end(lx, &ps->t)) {
		int n, stmt_start = prev.t == T_NEWLINE ||
				    (prev.t == T_OP && prev.depth == 0 &&
				     (tok_is(lx, &prev, ";") || tok_is(lx, &prev, ":")));

		cur = ps->t;
		if (advance(ps) < 0)
			return -1;
		if (stmt_start)
			import_stmt = cur.t == T_NAME &&
				      (tok_is(lx, &cur, "import") || tok_is(lx, &cur, "from"));
		if (stmt_start || !import_stmt)
			import_names = 0;
		if (import_stmt && cur.t == T_NAME && tok_is(lx, &cur, "import"))
			import_names = 1;
		if ((n = name_index(lx, &cur)) >= 0) {
			const char *how = binding(lx, &prev, &cur, &ps->t, stmt_start, import_names);
			char why[ERR_MSG_MAX];

			if (how) {
				if (in_block)
					snprintf(why, sizeof(why),
						 "%s:%d: cannot read '%s' without running Python: it is "
						 "assigned inside a module-level %s%s%sblock",
						 ps->path, cur.line, pynames[n], *ps->block ? "'" : "",
						 ps->block, *ps->block ? "' " : "");
				else
					snprintf(why, sizeof(why),
						 "%s:%d: cannot read '%s' without running Python: it is "
						 "bound by %s",
						 ps->path, cur.line, pynames[n], how);
				bind_computed(m, (enum pyname)n, cur.line, why);
			}
		}
		prev = cur;
	}
	return 0;
}

/* Store the last literal value of name n into the revision, checked. */
static int store(struct parser *ps, struct meta *m, enum pyname n, struct revision *rev)
{
	struct value *v = &m->v[n];
	int line = m->line[n];
	struct strlist *dst;

	if (n == N_REVISION) {
		if (!v->is_str)
			return err_set(ps->e, ERR_SCRIPT, "%s:%d: 'revision' must be a string", ps->path,
				       line);
		if (!revision_valid_id(v->items.v[0]))
			return err_set(ps->e, ERR_SCRIPT,
				       "%s:%d: invalid revision id '%s' "
				       "(1-32 characters of A-Z a-z 0-9 _ . -)",
				       ps->path, line, v->items.v[0]);
		free(rev->id);
		rev->id = xstrdup(v->items.v[0]);
		return 0;
	}
	if (n == N_COMPAT) {
		/* SPEC §7.3's mark, for prestart only (Alembic ignores it). */
		if (v->is_none)
			return 0;
		if (!v->is_str || (strcmp(v->items.v[0], "breaking") &&
				   strcmp(v->items.v[0], "compatible")))
			return err_set(ps->e, ERR_SCRIPT,
				       "%s:%d: 'prestart_compat' must be \"breaking\" or \"compatible\"",
				       ps->path, line);
		rev->compat_breaking = !strcmp(v->items.v[0], "breaking");
		rev->compat_line = rev->compat_breaking ? line : 0;
		return 0;
	}
	if (n == N_PHASE) {
		/* SPEC §9.4's phase mark, for prestart only. */
		rev->phase = REV_PHASE_UNSET;
		rev->phase_line = 0;
		if (v->is_none)
			return 0;
		if (!v->is_str || (strcmp(v->items.v[0], "expand") &&
				   strcmp(v->items.v[0], "contract")))
			return err_set(ps->e, ERR_SCRIPT,
				       "%s:%d: 'prestart_phase' must be \"expand\" or \"contract\"",
				       ps->path, line);
		rev->phase = !strcmp(v->items.v[0], "expand") ? REV_PHASE_EXPAND
							      : REV_PHASE_CONTRACT;
		rev->phase_line = line;
		return 0;
	}
	dst = n == N_DOWN ? &rev->down : n == N_LABELS ? &rev->labels : &rev->depends;
	strlist_free(dst);
	if (v->is_none)
		return 0;
	/* Alembic reads a down_revision or depends_on of "" as none at all
	 * (tuple_rev_as_scalar); a ("",) is kept, and breaks its graph. */
	if (n != N_LABELS && v->is_str && !*v->items.v[0])
		return 0;
	*dst = v->items;
	memset(&v->items, 0, sizeof(v->items));
	return check_ids(ps->path, line, pynames[n], dst, n != N_DOWN, ps->e);
}

/* Is c (at s, n bytes left) a character Python's str.strip() removes?
 * Returns its length in bytes, 0 when it is not one. */
static size_t py_space_at(const unsigned char *s, size_t n)
{
	if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)))
		return 1;
	if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (n >= 3 && ((s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) ||
		       (s[0] == 0xe2 && s[1] == 0x80 &&
			((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf)) ||
		       (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) ||
		       (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)))
		return 3;
	return 0;
}

void pyrev_set_doc(struct revision *rev, const char *doc)
{
	const char *s = doc, *end = doc + strlen(doc), *para, *cd;
	size_t k;

	/* str.strip(), as Alembic's Script.longdoc */
	while (s < end && (k = py_space_at((const unsigned char *)s, (size_t)(end - s))))
		s += k;
	for (;;) {
		for (k = 1; k <= 3 && k <= (size_t)(end - s); k++)
			if (py_space_at((const unsigned char *)end - k, k) == k)
				break;
		if (k > 3 || k > (size_t)(end - s))
			break;
		end -= k;
	}
	free(rev->doc);
	rev->doc = xstrndup(s, (size_t)(end - s));

	/* The message is the first paragraph (Script.doc:
	 * re.split("\n\n", longdoc)[0]). */
	para = strstr(rev->doc, "\n\n");
	free(rev->message);
	rev->message = para ? xstrndup(rev->doc, (size_t)(para - rev->doc)) : xstrdup(rev->doc);

	/* The template writes the Create Date on a line of its own. */
	free(rev->create_date);
	rev->create_date = NULL;
	for (cd = rev->doc; (cd = strstr(cd, "Create Date:")); cd++) {
		if (cd == rev->doc || cd[-1] == '\n') {
			const char *v = cd + strlen("Create Date:"), *eol = strchr(v, '\n');
			char *val = xstrndup(v, eol ? (size_t)(eol - v) : strlen(v));
			char *tv = str_trim(val);

			if (*tv)
				rev->create_date = xstrdup(tv);
			free(val);
			break;
		}
	}
}

/* Append a string literal of the docstring: Python reads the source with
 * universal newlines, so a CR or CRLF written in the file is a LF in the
 * string (an escaped \r stays a CR). */
static void decode_source_string(const char *s, size_t n, int raw, struct sbuf *b)
{
	struct sbuf src = { 0 };
	const char *cr;
	size_t i = 0;

	if (!memchr(s, '\r', n)) {
		decode_string(s, n, raw, b);
		return;
	}
	while ((cr = memchr(s + i, '\r', n - i))) {
		sbuf_add(&src, s + i, (size_t)(cr - (s + i)));
		sbuf_addc(&src, '\n');
		i = (size_t)(cr - s) + 1;
		if (i < n && s[i] == '\n')
			i++;
	}
	sbuf_add(&src, s + i, n - i);
	decode_string(src.buf, src.len, raw, b);
	sbuf_free(&src);
}

int pyrev_is_candidate(const char *name)
{
	return str_has_suffix(name, ".py") && strlen(name) > 3 && strcmp(name, "__init__.py") &&
	       strcmp(name, "env.py") && name[0] != '.';
}

/* Alembic before 0.2 took the id from a file named `<hex>.py`. */
static char *legacy_id(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n, i;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n <= 3 || strcmp(base + n - 3, ".py"))
		return NULL;
	for (i = 0; i < n - 3; i++)
		if (!((base[i] >= '0' && base[i] <= '9') || (base[i] >= 'a' && base[i] <= 'f')))
			return NULL;
	if (n - 3 > REVISION_ID_MAX)
		return NULL;
	return xstrndup(base, n - 3);
}

/* A statement that starts with a metadata name, at the name: a plain
 * assignment of a literal binds it; any other assignment needs Python. */
static int read_assignment(struct parser *ps, struct meta *m, enum pyname n)
{
	struct tok *t = &ps->t;
	const struct lex *lx = &ps->lx;
	int line = t->line, r = 0;

	if (advance(ps) < 0)
		return -1;
	if (t->t == T_OP && tok_is(lx, t, ":")) {
		/* an annotation: skip to its '=' if it has one */
		while (!at_end(lx, t) && !(t->t == T_OP && t->depth == 0 && tok_is(lx, t, "=")))
			if (advance(ps) < 0)
				return -1;
	}
	if (t->t == T_OP && tok_is(lx, t, "=")) {
		struct value v = { 0 };

		r = advance(ps);
		if (r == 0)
			r = read_value(ps, pynames[n], &v);
		if (r == 0)
			bind_literal(m, n, line, &v);
		value_clear(&v);
	} else if (is_augmented(lx, t)) {
		r = cannot_read(ps, pynames[n], t);
	} else if (t->t == T_OP && t->depth == 0 && tok_is(lx, t, ",")) {
		ps->computed = 1;
		r = err_set(ps->e, ERR_SCRIPT,
			    "%s:%d: cannot read '%s' without running Python: "
			    "it is assigned by unpacking",
			    ps->path, line, pynames[n]);
	}
	if (r < 0 && ps->computed) {
		bind_computed(m, n, line, ps->e->msg);
		ps->computed = 0;
		memset(ps->e, 0, sizeof(*ps->e));
		r = 0;
	}
	return r;
}

/* The module docstring: the first statement, when it is string literals
 * alone (not an f-string, not bytes). */
static int read_docstring(struct parser *ps, struct revision *rev)
{
	struct tok *t = &ps->t;
	struct sbuf doc = { 0 };
	int bad = 0;

	while (t->t == T_STRING) {
		bad |= t->fstr || t->bytes;
		decode_source_string(ps->lx.s + t->body, t->body_len, t->raw, &doc);
		if (advance(ps) < 0) {
			sbuf_free(&doc);
			return -1;
		}
	}
	if (!bad && at_end(&ps->lx, t))
		pyrev_set_doc(rev, doc.buf ? doc.buf : "");
	sbuf_free(&doc);
	return 0;
}

int pyrev_read(const char *path, const char *text, size_t len, struct revision *rev,
	       struct err *e)
{
	struct parser ps = { .path = path, .e = e };
	struct meta m;
	int first_stmt = 1, def_indent = -1, rc = -1, n;
	const char *nul;

	memset(&m, 0, sizeof(m));
	memset(rev, 0, sizeof(*rev));
	rev->transactional = 1;
	rev->is_py = 1;
	rev->path = xstrdup(path);
	if ((nul = memchr(text, '\0', len))) {
		int line, col;

		revision_offset_to_linecol(text, (size_t)(nul - text), 1, &line, &col);
		err_set(e, ERR_SCRIPT, "%s:%d: NUL byte in a revision file (binary file?)", path,
			line);
		goto out;
	}
	ps.lx.s = text;
	ps.lx.len = len;
	ps.lx.line = 1;
	ps.lx.at_bol = 1;
	ps.lx.path = path;
	ps.lx.e = e;
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		ps.lx.p = ps.lx.bol_off = 3;

	if (advance(&ps) < 0)
		goto out;
	while (ps.t.t != T_EOF) {
		struct tok *t = &ps.t;
		int stmt_first = first_stmt;

		if (t->t == T_NEWLINE) {
			if (advance(&ps) < 0)
				goto out;
			continue;
		}
		first_stmt = 0;
		if (t->first) {
			int r = 0;

			/* the body of a def or class (its own scope), or of an
			 * if that never runs */
			if (def_indent >= 0 && t->col > def_indent) {
				skip_line_rest(&ps, &r);
				if (r < 0)
					goto out;
				continue;
			}
			def_indent = -1;
			if (is_def_start(&ps.lx, t) || is_dead_if(&ps.lx, t)) {
				def_indent = t->col;
				skip_line_rest(&ps, &r);
				if (r < 0)
					goto out;
				continue;
			}
			if (t->col == 0 && is_compound_keyword(&ps.lx, t))
				snprintf(ps.block, sizeof(ps.block), "%.*s", (int)t->len,
					 text + t->off);
			else if (t->col == 0)
				ps.block[0] = '\0';
			/* module-level if/try/for/with: its header and block */
			if (t->col > 0 || is_compound_keyword(&ps.lx, t)) {
				if (scan_bindings(&ps, &m, 1, 1) < 0)
					goto out;
				continue;
			}
		}
		if (stmt_first && t->t == T_STRING && !t->fstr && !t->bytes) {
			if (read_docstring(&ps, rev) < 0)
				goto out;
		} else if ((n = name_index(&ps.lx, t)) >= 0) {
			if (read_assignment(&ps, &m, (enum pyname)n) < 0)
				goto out;
		} else if (scan_bindings(&ps, &m, 0, 0) < 0) {
			goto out;
		}
		if (skip_statement(&ps) < 0)
			goto out;
		if (ps.t.t != T_EOF && advance(&ps) < 0)
			goto out;
	}

	/* literal values first: a bad one is wrong whatever Python says */
	for (n = 0; n < N_COUNT; n++)
		if (m.line[n] && !m.why[n] && store(&ps, &m, (enum pyname)n, rev) < 0)
			goto out;
	if (!rev->doc)
		pyrev_set_doc(rev, "");
	/* prestart's own marks: Python (pymeta.h) reads only Alembic's names,
	 * so a computed one would be dropped without a word */
	for (n = N_COMPAT; n <= N_PHASE; n++) {
		if (m.why[n]) {
			err_set(e, ERR_SCRIPT, "%s (prestart reads '%s' only as a literal string)",
				m.why[n], pynames[n]);
			goto out;
		}
	}
	{
		int first = -1;

		for (n = 0; n < N_COUNT; n++)
			if (m.why[n] && (first < 0 || m.line[n] < m.line[first]))
				first = n;
		if (first >= 0) {
			err_set(e, ERR_SCRIPT, "%s", m.why[first]);
			rc = 1;
			goto out;
		}
	}
	if (!rev->id && !m.line[N_REVISION] && !(rev->id = legacy_id(path))) {
		err_set(e, ERR_SCRIPT,
			"%s: could not determine the revision id: no module-level 'revision = ...'",
			path);
		goto out;
	}
	if (!m.line[N_DOWN]) {
		err_set(e, ERR_SCRIPT, "%s: no module-level 'down_revision = ...'", path);
		goto out;
	}
	/* Alembic then takes "" for a dependency: the revision is no real base,
	 * and it reports a dependency cycle. */
	if (!rev->down.n && m.line[N_DEPENDS] && m.v[N_DEPENDS].is_str && !rev->depends.n) {
		err_set(e, ERR_SCRIPT,
			"%s:%d: depends_on = '' on a revision without a down_revision: Alembic "
			"reports a dependency cycle; write depends_on = None",
			path, m.line[N_DEPENDS]);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		revision_release(rev);
	meta_release(&m);
	return rc;
}

int pyrev_parse(const char *path, const char *text, size_t len, struct revision *rev,
		struct err *e)
{
	int r = pyrev_read(path, text, len, rev, e);

	if (r == 1) {
		revision_release(rev);
		return -1;
	}
	return r;
}
