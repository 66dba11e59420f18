/* dburl.h - SQLAlchemy-style DATABASE_URL parsing (SPEC §2). Pure: no I/O.
 *
 * PostgreSQL: postgresql://, postgres://, postgresql+psycopg2://,
 * +psycopg://, +asyncpg://, +pg8000:// (the driver is dropped).
 *   user:password@host:port/dbname?params, split the way SQLAlchemy's
 *   make_url() splits it (the password runs to the first '@', so a literal
 *   '@' in it must be written %40).  Every part is percent-decoded; '+' in
 *   the query means a space, as in SQLAlchemy.  Hosts may be [IPv6] and
 *   comma lists ("h1:5432,h2:5433" gives host=h1,h2 port=5432,5433).
 *   Query parameters: every libpq 15 connection keyword is kept (a query
 *   `host` replaces the URL's hosts: ?host=/var/run/postgresql is the
 *   unix-socket form; repeated `host` parameters are joined into a list);
 *   asyncpg's ssl=require|disable|prefer|allow|verify-ca|verify-full|
 *   true|false becomes sslmode; asyncpg's prepared_statement_cache_size and
 *   SQLAlchemy's async_fallback are accepted and ignored; anything else is
 *   "unknown database URL parameter 'x'".  A parameter given twice (ssl
 *   and sslmode count as one) is an error; an empty value is dropped.
 *
 * SQLite: sqlite:///relative.db (relative to the working directory),
 * sqlite:////abs/path.db, also with +pysqlite or +aiosqlite.  In-memory
 * databases (sqlite://, sqlite:///:memory:) are rejected: migrations would
 * vanish with the process.  The query parameters pysqlite understands
 * without uri=true (timeout, check_same_thread, isolation_level,
 * detect_types, cached_statements) and mode/cache are accepted and
 * ignored; uri=true is rejected (give the file path instead).
 */
#ifndef PRESTART_DBURL_H
#define PRESTART_DBURL_H

#include "prestart/util.h"

enum db_kind { DB_PG = 1, DB_SQLITE = 2 };

struct dburl {
	enum db_kind kind;
	/* PostgreSQL: libpq keyword/value pairs (host, port, user, password,
	 * dbname, then the query parameters), NULL-terminated, ready for
	 * PQconnectdbParams(keys, vals, 0).  Empty when the URL was NULL
	 * (libpq then uses the PG* environment variables).  NULL for SQLite. */
	char **keys;
	char **vals;
	size_t n;
	/* SQLite: the file path, percent-decoded (relative to the working
	 * directory or absolute).  NULL for PostgreSQL. */
	char *path;
	/* The URL with the password replaced by "***": safe for any output. */
	char *masked;
};

/* Parse `url` into *u. url == NULL means "no DATABASE_URL": a PostgreSQL
 * URL with no parameters (libpq's PG* variables apply) whose masked form is
 * "postgresql:// (from PG* environment)".  Unknown schemes, in-memory
 * SQLite, bad percent-encoding, unknown query parameters and any control
 * character (a byte below 0x20 or DEL, surrounding whitespace included:
 * trimming it is the caller's, with a warning) are ERR_USAGE errors that
 * name the offending part and never contain the password.
 * On failure *u holds nothing to release.  Release with dburl_release(). */
int dburl_parse(const char *url, struct dburl *u, struct err *e);
void dburl_release(struct dburl *u);

/* A deep copy of *src into *dst, independent of src's lifetime; release it
 * with dburl_release(). */
void dburl_copy(struct dburl *dst, const struct dburl *src);

/* Decode the %XY escapes of s[0..n) (and '+' as a space when plus_space,
 * as in query strings) into a new string *out (caller frees).  A malformed
 * escape or an encoded NUL, which no C string can carry, fails: -1 and
 * *out = NULL. */
int dburl_pct_decode(const char *s, size_t n, int plus_space, char **out);

/* Value of libpq keyword `key` in u, or NULL. */
const char *dburl_get(const struct dburl *u, const char *key);

/* Write `url` with any password replaced by "***" into a new string
 * (caller frees): the user-info password and the values of `password` and
 * `sslpassword` query parameters.  Works on any string, parseable or not
 * (NULL gives "").  When in doubt it hides more, never less.  Control
 * characters are written as \n, \t, \r or \xNN, so that the result fits
 * on one log line. */
char *dburl_mask(const char *url);

#endif
