/* sqlsplit.h - split a SQL script into statements with PostgreSQL's lexical
 * rules. Pure: no I/O.
 *
 * sqlsplit() uses PostgreSQL's own scanner (pgscan.h); sqlsplit_sqlite() is
 * a hand-written lexer with the same rules, SQLite's splitter and the
 * scanner's fallback for text it refuses.  Both know single-quoted strings
 * ('' escapes; standard_conforming_strings on, so a backslash is an
 * ordinary character), E'' strings (backslash escapes), U&'' strings,
 * "quoted identifiers" ("" escapes), dollar quotes with optional tags
 * ($$...$$, $fn$...$fn$; `$1` is a parameter and a '$' right after an
 * identifier character belongs to the identifier, as in `a$b`), `--` line
 * comments and nested block comments.  Statements are separated by `;`
 * outside all of those.
 *
 * SQL-standard routine bodies: in a statement that starts with CREATE [OR
 * REPLACE] FUNCTION|PROCEDURE, the words BEGIN ATOMIC (outside parentheses)
 * open a body in which `;` does not split; inside it CASE opens and END
 * closes a level, and the END that closes the body ends it.  Words after a
 * '.' (`t.end`) do not count.  This is psql's heuristic.
 *
 * Statements that are empty or only whitespace/comments are dropped.
 */
#ifndef PRESTART_SQLSPLIT_H
#define PRESTART_SQLSPLIT_H

#include "prestart/util.h"

struct sql_stmt {
	size_t off; /* byte offset of the statement's first significant byte */
	size_t len; /* up to the end of its last significant token: comments
		     * and blanks before the terminating ';' are left out, so
		     * appending ";" always ends the statement */
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
int sqlsplit_sqlite(const char *text, size_t len, struct sql_stmts *out, size_t *err_off,
		    struct err *e);
void sqlsplit_release(struct sql_stmts *s);

#endif
