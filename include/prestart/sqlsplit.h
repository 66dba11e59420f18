/* sqlsplit.h - split a SQL script into statements with PostgreSQL's lexical
 * rules. Pure: no I/O.
 *
 * Knows single-quoted strings ('' escapes), E'' strings (backslash escapes),
 * standard_conforming_strings on for plain strings, "quoted identifiers",
 * dollar quotes with optional tags ($$...$$, $fn$...$fn$; a `$1` parameter is
 * not a dollar quote), `--` line comments and nested block comments, and
 * BEGIN ... END blocks of SQL-standard function bodies (CREATE FUNCTION ...
 * BEGIN ATOMIC ... END).  Statements are separated by `;` outside all of
 * those.  Statements that are empty or only whitespace/comments are dropped.
 */
#ifndef PRESTART_SQLSPLIT_H
#define PRESTART_SQLSPLIT_H

#include "prestart/util.h"

struct sql_stmt {
	size_t off; /* byte offset of the statement's first significant byte */
	size_t len; /* length up to (not including) the terminating ';' */
};

struct sql_stmts {
	struct sql_stmt *v;
	size_t n, alloc;
};

/* Split text[0..len). On an unterminated quote, identifier, dollar quote or
 * comment, fail (ERR_SCRIPT) with *err_off set to the byte offset where the
 * unterminated construct starts and a message such as
 * "unterminated dollar-quoted string". Release with sqlsplit_release(). */
int sqlsplit(const char *text, size_t len, struct sql_stmts *out, size_t *err_off,
	     struct err *e);
void sqlsplit_release(struct sql_stmts *s);

#endif
