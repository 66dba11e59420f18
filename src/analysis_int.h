/* analysis_int.h - what analysis_token.c (recording, the token-level
 * reading) and analysis_tree.c (names, types and default volatility out of
 * the parse tree) give analysis.c.
 *
 * Code outside the analysis module should not include this file: its
 * contract is include/prestart/analysis.h.
 */
#ifndef PRESTART_ANALYSIS_INT_H
#define PRESTART_ANALYSIS_INT_H

#include <pg_query/pg_query.pb-c.h>
#include <stddef.h>

#include "prestart/analysis.h"

/* ---- analysis_token.c ---- */

/* Record that st touches table with lock and effect (the strongest of
 * each is kept); a NULL or empty table is ignored. */
void an_touch(struct an_stmt *st, const char *table, enum an_lock lock, enum an_effect eff);
/* Record a fact for lint about table (a column or other name, and a
 * detail); the caller may set the returned fact's spec (malloc'd). */
struct an_fact *an_fact(struct an_stmt *st, enum an_fact_kind kind, const char *table,
	     const char *name, const char *detail);
/* Raise st's class to c (data-loss > contract > expand). */
void an_klass(struct an_stmt *st, enum an_class c);
/* What the words of one statement s[0..len) say, for SQL the parser
 * cannot read (newer PostgreSQL syntax) and for SQLite: drops, renames,
 * truncation, deletes, index builds, created tables. */
void an_token_level(struct an_stmt *st, const char *s, size_t len);

/* ---- analysis_tree.c ---- */

/* Each of the next seven returns a string the caller frees. */

/* "schema.rel" or "rel" of a RangeVar ("" for none). */
char *an_rv_name(const PgQuery__RangeVar *rv);
/* The dotted name of a list of String nodes. */
char *an_list_name(PgQuery__Node **v, size_t n);
/* The object a DROP names: a List of Strings, a String or a TypeName. */
char *an_object_name(const PgQuery__Node *o);
/* A list of String nodes, each quoted where PostgreSQL needs it, joined
 * by ", "; NULL for an empty list. */
char *an_name_list(PgQuery__Node **v, size_t n);
/* The text inside the first parenthesis at or after byte `from` of sql,
 * blanks collapsed; NULL when the statement ends first. */
char *an_paren_text(const char *sql, int from);
/* The text after the relation name at byte `from` of sql to the end of
 * the statement, blanks collapsed; NULL when none. */
char *an_after_name(const char *sql, int from);
/* "varchar(20)", "numeric(10,2)", "int4[]": a TypeName's last name part
 * with its modifiers; "?" for none. */
char *an_type_string(const PgQuery__TypeName *t);

/* The first call, in a default's expression, of a function not known to
 * be non-volatile, as "name()" (malloc'd; the caller frees it). */
struct an_volatile_hit {
	char *func;
};
/* Walk any message of the tree for such a call; nothing once h->func is
 * set. */
void an_find_volatile(const ProtobufCMessage *m, struct an_volatile_hit *h);

#endif
