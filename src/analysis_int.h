/* analysis_int.h - what analysis_token.c (recording, the token-level
 * reading) gives analysis.c.
 *
 * Code outside the analysis module should not include this file: its
 * contract is include/prestart/analysis.h.
 */
#ifndef PRESTART_ANALYSIS_INT_H
#define PRESTART_ANALYSIS_INT_H

#include <stddef.h>

#include "prestart/analysis.h"

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

#endif
