/* dburl.h - SQLAlchemy-style DATABASE_URL parsing (SPEC §2). Pure: no I/O. */
#ifndef PRESTART_DBURL_H
#define PRESTART_DBURL_H

#include "prestart/util.h"

enum db_kind { DB_PG = 1, DB_SQLITE = 2 };

struct dburl {
	enum db_kind kind;
	/* PostgreSQL: libpq keyword/value pairs (host, port, user, password,
	 * dbname, then the query parameters), NULL-terminated, ready for
	 * PQconnectdbParams(keys, vals, 0).  Empty when the URL was NULL
	 * (libpq then uses the PG* environment variables). */
	char **keys;
	char **vals;
	size_t n;
	/* SQLite: the file path as given (relative to the working directory
	 * or absolute). */
	char *path;
	/* The URL with the password replaced by "***": safe for any output. */
	char *masked;
};

/* Parse `url` into *u. url == NULL means "no DATABASE_URL": a PostgreSQL
 * URL with no parameters (libpq's PG* variables apply).  Unknown schemes,
 * in-memory SQLite, bad percent-encoding and unknown query parameters are
 * ERR_USAGE errors that name the offending part and never contain the
 * password.  Release with dburl_release(). */
int dburl_parse(const char *url, struct dburl *u, struct err *e);
void dburl_release(struct dburl *u);

/* Value of libpq keyword `key` in u, or NULL. */
const char *dburl_get(const struct dburl *u, const char *key);

/* Write `url` with any password replaced by "***" into a new string
 * (caller frees). Works on any string, parseable or not. */
char *dburl_mask(const char *url);

#endif
