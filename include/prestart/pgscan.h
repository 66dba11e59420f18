/* pgscan.h - PostgreSQL's own lexer (libpg_query's scanner, PostgreSQL 15
 * grammar) as a list of tokens.  Pure: no I/O.
 *
 * The tokens are PostgreSQL's: comments are tokens of their own (kind
 * PGSCAN_COMMENT), whitespace is not a token, quoted strings, quoted
 * identifiers and dollar quotes are one token each with E'' escapes and
 * standard_conforming_strings as a default server has them.  Offsets are
 * byte offsets into the text.
 */
#ifndef PRESTART_PGSCAN_H
#define PRESTART_PGSCAN_H

#include "prestart/util.h"

enum pgscan_kind {
	PGSCAN_OTHER = 0, /* operators, numbers, parameters, punctuation but ';' */
	PGSCAN_SEMI,      /* ';' */
	PGSCAN_COMMENT,   /* -- line (without its newline) or nested block comment */
	PGSCAN_STRING,    /* '', E'', U&'', B'', X'' and $tag$ quotes */
	PGSCAN_IDENT,     /* a plain or "quoted" identifier that is no keyword */
	PGSCAN_KEYWORD    /* a keyword, reserved or not */
};

struct pgscan_tok {
	unsigned start, end; /* [start, end) */
	unsigned char kind;  /* enum pgscan_kind */
	int token;           /* libpg_query's token number (pg_query.pb-c.h) */
};

struct pgscan {
	struct pgscan_tok *v;
	size_t n, alloc;
};

/* Scan text (NUL-terminated; the scan stops at the first NUL).  On a lexical
 * error (an unterminated quote or comment, "zero-length delimited
 * identifier", ...) fail with ERR_SCRIPT, PostgreSQL's message and *err_off
 * (when not NULL) at the byte where PostgreSQL reports it.  Release with
 * pgscan_release(), also after a failure. */
int pgscan(const char *text, struct pgscan *out, size_t *err_off, struct err *e);
void pgscan_release(struct pgscan *s);

#endif
