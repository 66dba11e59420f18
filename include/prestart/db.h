/* db.h - a small driver vtable that hides each engine (db_pg.c, db_sqlite.c).
 *
 * A struct db is a connection context in the hiredis manner: db_open()
 * always fills it, and on failure db->errstr says why (never with a
 * password in it).  Statement failures fill db->dberr with what the server
 * said, and the byte offset of the error in the SQL sent when known, so the
 * caller can map it back to file:line:col.
 */
#ifndef PRESTART_DB_H
#define PRESTART_DB_H

#include "prestart/dburl.h"
#include "prestart/graph.h"
#include "prestart/util.h"

struct db_error {
	char sqlstate[6]; /* "" when the engine has none */
	char message[1024];
	char detail[1024];
	char hint[1024];
	long offset;      /* byte offset in the SQL text sent, or -1 */
};

struct db_opts {
	const char *application_name; /* PostgreSQL application_name; NULL: "prestart" */
	int connect_timeout_s;        /* 0: engine default */
	int busy_timeout_ms;          /* SQLite busy timeout */
};

enum db_conn_status {
	DBC_OK = 0,
	DBC_RETRY,  /* not ready yet: refused, no response, starting up, too many connections */
	DBC_FATAL   /* waiting will not help: bad password, missing database, bad parameters */
};

struct db;

struct db_ops {
	const char *name;
	int (*open)(struct db *db, const struct dburl *u, const struct db_opts *o);
	void (*close)(struct db *db);
	/* Run one or more statements; in the current transaction if any. */
	int (*exec)(struct db *db, const char *sql, size_t len);
	/* Run a query and return the first column of every row. */
	int (*query_col)(struct db *db, const char *sql, struct strlist *out);
	int (*table_exists)(struct db *db, const char *schema, const char *table, int *exists);
	/* Ask the server to cancel the running statement (signal-safe enough to
	 * call from another thread). */
	void (*cancel)(struct db *db);
	/* Quote an identifier (new string). */
	char *(*quote_ident)(const char *s);
};

struct db {
	const struct db_ops *ops;
	void *impl;
	enum db_kind kind;
	enum db_conn_status status; /* after a failed open */
	int in_tx;
	char errstr[1024];      /* last failure, one line */
	struct db_error dberr;  /* last statement failure */
};

/* Connect. Returns 0, or -1 with db->errstr and db->status set; call
 * db_close() in either case. */
int db_open(struct db *db, const struct dburl *u, const struct db_opts *o);
void db_close(struct db *db);

int db_exec(struct db *db, const char *sql, size_t len);
int db_execs(struct db *db, const char *sql);
int db_begin(struct db *db);    /* BEGIN (SQLite: BEGIN IMMEDIATE) */
int db_commit(struct db *db);
int db_rollback(struct db *db); /* no-op outside a transaction */

/* The schema-qualified, quoted version table name (new string). */
char *db_version_table_name(const struct db *db, const char *schema, const char *table);

/* SQL text for the version table (new strings), the same online and
 * offline: Alembic's CREATE TABLE, and the INSERT/UPDATE/DELETE of one
 * HeadMaintainer operation. */
char *db_sql_create_version_table(enum db_kind kind, const char *schema, const char *table);
char *db_sql_version_op(enum db_kind kind, const char *schema, const char *table,
			const struct vt_op *op);

/* Read the version table into *heads (sorted as stored). *exists is set to
 * 0 when the table does not exist (heads then empty). A table of the wrong
 * shape is an error. */
int db_read_versions(struct db *db, const char *schema, const char *table,
		     struct strlist *heads, int *exists);
/* CREATE TABLE IF the version table does not exist. */
int db_ensure_version_table(struct db *db, const char *schema, const char *table);
/* Apply one version-table operation; fails when an UPDATE/DELETE matches
 * no row (as Alembic's "Online migration expected to match one row"). */
int db_apply_version_op(struct db *db, const char *schema, const char *table,
			const struct vt_op *op);

void db_cancel(struct db *db);

/* Format the last statement failure as Alembic-like multi-part one line:
 * "<message> (SQLSTATE xxxxx) detail: ... hint: ..." (new string). */
char *db_error_string(const struct db *db);

extern const struct db_ops db_pg_ops;
extern const struct db_ops db_sqlite_ops;

/* PostgreSQL-only and SQLite-only helpers, implemented in db_pg.c and
 * db_sqlite.c (declared here so the lock module can reach them). */
int db_pg_try_advisory_lock(struct db *db, long long key, int *got);
int db_pg_advisory_unlock(struct db *db, long long key);
/* Underlying PGconn* (for cancel handles, socket); NULL for SQLite. */
void *db_pg_conn(struct db *db);
void *db_sqlite_handle(struct db *db);

#endif
