/* tenants.h - the tenants of a run (SPEC §9.5): their source and their
 * shard.  Pure: no I/O beyond the text it is given (the caller reads
 * @FILE and runs query:SQL).
 *
 * A tenant is a PostgreSQL schema name as stored: a letter or '_', then
 * letters, digits, '_' or '$', at most 63 bytes.  Anything else is refused
 * by name, so a name never needs more than SQLAlchemy's quoting.
 */
#ifndef PRESTART_TENANTS_H
#define PRESTART_TENANTS_H

#include <stdint.h>

#include "prestart/util.h"

/* What kind of source a --tenants value is. */
enum tenants_kind {
	TENANTS_LIST,  /* "a,b,c" */
	TENANTS_FILE,  /* "@path": one name per line */
	TENANTS_QUERY  /* "query:SQL": the first column of every row */
};

/* The kind of src, and where its payload starts (the path, the SQL, or
 * src itself). */
enum tenants_kind tenants_source_kind(const char *src, const char **payload);

/* Is name a valid tenant name (above)?  1 or 0. */
int tenants_name_valid(const char *name);

/* Append the names of text to *out, in order, each once (a repeat is
 * dropped).  sep ',': a comma list (blanks around names trimmed, empty
 * items skipped); '\n': one name per line, '#' starting a comment, blank
 * lines skipped.  A bad name: -1, ERR_USAGE "invalid tenant name 'x' in
 * <from>" (from names the source: "--tenants", "tenants.txt:3").  An
 * empty result is not an error here. */
int tenants_parse(const char *text, char sep, const char *from, struct strlist *out,
		  struct err *e);
/* The same check for names a query returned (row numbers in the error). */
int tenants_check(const struct strlist *names, const char *from, struct err *e);

/* "I/N" with 0 <= I < N <= 100000: 0, or -1. */
int tenants_parse_shard(const char *s, int *index, int *count);
/* FNV-1a (32 bits) of the name: the stable hash shards are cut by. */
uint32_t tenants_hash(const char *name);
/* Keep in *names only the tenants of shard index of count (hash mod
 * count), in order. */
void tenants_shard(struct strlist *names, int index, int count);

/* The search_path setting for a tenant: each "{tenant}" of tmpl replaced
 * by the quoted name (new string). */
char *tenants_search_path(const char *tmpl, const char *tenant);

#endif
