/* db.h - a small driver vtable that hides each engine (db_pg.c, db_sqlite.c).
 *
 * A struct db is a connection context in the hiredis manner: db_open()
 * always fills it, and on failure db->errstr says why (never with a
 * password in it).  Every function below that returns -1 leaves a one-line
 * description in db->errstr; statement failures also fill db->dberr with
 * what the server said, and the byte offset of the error in the SQL sent
 * when known, so the caller can map it back to file:line:col.
 *
 * The version table is written exactly as Alembic 1.8 writes it (the DDL
 * and DML text SQLAlchemy 1.4 compiles for each dialect), and identifiers
 * are quoted only where SQLAlchemy would quote them.  On SQLite a version
 * table schema is, as in SQLAlchemy, the name of an attached database
 * ("main" works; anything else fails with SQLite's "unknown database").
 */
#ifndef PRESTART_DB_H
#define PRESTART_DB_H

#include <signal.h>

#include "prestart/dburl.h"
#include "prestart/plan.h"
#include "prestart/util.h"

struct db_error {
	char sqlstate[6]; /* "" when the engine has none (SQLite) */
	char message[1024];
	char detail[1024];
	char hint[1024];
	long offset;      /* byte offset in the SQL text sent of the error, or
			   * else of the failing statement; -1 if unknown */
};

struct db_opts {
	const char *application_name; /* PostgreSQL application_name; NULL: "prestart" */
	int connect_timeout_s;        /* 0: the URL's, else libpq's default (none) */
	int busy_timeout_ms;          /* SQLite busy timeout; 0: 5000 */
	/* SQLite: a missing file is read as an empty database and not
	 * created: for commands that only read (status, history -v). */
	int no_create;
	/* Non-zero (a signal number) ends a PostgreSQL connection attempt
	 * within 50 ms with DBC_RETRY; may be NULL. */
	volatile sig_atomic_t *stop;
	/* Asked as often as *stop, with interrupted_arg: non-zero ends the
	 * attempt the same way (a waiter that another waiter's failure makes
	 * pointless).  May be NULL. */
	int (*interrupted)(void *arg);
	void *interrupted_arg;
	/* PostgreSQL: the connection takes the migration lock again and
	 * again (a run over many tenants): on a backend of its own, the
	 * lock's catalog queries are prepared once, not planned each time. */
	int many_locks;
};

enum db_conn_status {
	DBC_OK = 0,
	DBC_RETRY,  /* not ready yet: refused, no response, starting up, too many
		     * connections, timeout; SQLite: the directory is missing */
	DBC_FATAL,  /* waiting will not help: bad password, missing database, no
		     * CONNECT privilege, bad parameters, not a database file */
	/* Only from probe (SPEC §7.4): not ready, and the attempt cost the
	 * server nothing (a refused TCP connect, no Unix socket file) or it
	 * says it is starting up (57P03): try again within 50 ms rather than
	 * after the backoff.  Anywhere else it counts as DBC_RETRY. */
	DBC_RETRY_SOON
};

/* What a statement failure can mean to the code above the driver. */
enum db_missing {
	DB_MISSING_TABLE,  /* the relation, or its schema, does not exist */
	DB_MISSING_COLUMN  /* the relation exists without that column */
};

/* How the migration lock is held (SPEC §7.1, --lock-strategy).  SQLite has
 * one way (flock) and ignores it. */
enum lock_strategy {
	LOCK_AUTO = 0,  /* SESSION, unless the server or a pooler needs LEASE */
	LOCK_SESSION,   /* a session advisory lock, its ownership checked */
	LOCK_LEASE      /* a row in a lock table, renewed from a second
			 * connection: works through any pooler */
};

/* The migration lock's name (SPEC §4 step 5): every replica derives the
 * same one from the version table.  The strings are borrowed. */
struct lock_key {
	const char *schema; /* of the version table; NULL: the default one */
	const char *table;  /* the version table */
	long long id;       /* a 63-bit number for engines that lock by number
			     * (lock.h's lock_key_of(schema, table)) */
	/* Asked of lock.prepare, which settles LOCK_AUTO; the members below
	 * act on the settled one. */
	enum lock_strategy strategy;
};

/* lock.prepare's verdicts besides 0 and -1. */
enum {
	LOCK_PREP_UNUSABLE = 1, /* the strategy asked cannot hold a lock here
				 * (a session lock through a transaction
				 * pooler): errstr says why and what to do */
	LOCK_PREP_NO_TABLE = 2  /* the lease table cannot be created: errstr */
};

struct db;
struct sql_stmts;

/* What an engine can do, as bits of struct db_ops's supports (curl's
 * SSLSUPP_* habit): code above the driver asks db_supports() or
 * db_kind_supports(), never which engine it is. */
#define DB_CAN_ADVISORY_LOCK   (1u << 0) /* session advisory locks (LOCK_SESSION) */
#define DB_HAS_LOCK_TIMEOUT    (1u << 1) /* a statement's lock wait can be bounded
					  * (lock_timeout: SPEC §7.2's DDL retries) */
#define DB_HAS_BLOCKERS        (1u << 2) /* a second connection can name the sessions
					  * blocking a backend (observer.h) */
#define DB_HAS_INDEX_PROGRESS  (1u << 3) /* a second connection can read a running
					  * CREATE INDEX's progress (observer.h) */
#define DB_HAS_LEDGER_SCHEMA   (1u << 4) /* prestart's own tables live in its schema
					  * (DB_PRESTART_SCHEMA), not beside the
					  * version table */
#define DB_HAS_PRIVILEGES      (1u << 5) /* table privileges can be asked for
					  * (has_table_privilege) */
#define DB_HAS_ESCAPE_STRINGS  (1u << 6) /* a literal holding a backslash is written
					  * E'...' with the backslash doubled; else
					  * a backslash is a plain character */
#define DB_TEXT_LENGTH_IN_CHARS (1u << 7) /* sql_text_length counts characters as
					  * SQLite's length() does on UTF-8 (a
					  * byte >= 0xc0 and its continuation bytes
					  * are one); else bytes */
#define DB_HAS_QUERY_TO_XML    (1u << 8) /* a query's rows as one value inside
					  * another query (query_to_xml), run only
					  * when reached: a table that may be
					  * missing can ride on the version query */
#define DB_CONNECT_IS_PROBE    (1u << 9) /* a connection attempt is itself the
					  * readiness check of the wait step (SPEC
					  * §4 step 3): with no other target, run
					  * connects at once and waits only when
					  * that fails; else it waits first */
#define DB_HAS_SCHEMAS         (1u << 10) /* one database holds many schemas, each
					  * with its own version table (SPEC
					  * §9.5's tenants) */
#define DB_HAS_CATALOG_SIZES   (1u << 11) /* tables' sizes, column types and function
					  * volatility can be read from the catalog
					  * (the deploy-time guard, guard.h) */
#define DB_HAS_TABLE_LOCKS     (1u << 12) /* statements take PostgreSQL's table-lock
					  * modes, as analysis_pg reads them: the
					  * ACCESS EXCLUSIVE holds of SPEC §9.3 are
					  * measured */

/* One engine's driver, in the manner of SQLite's VFS and curl's struct
 * Curl_protocol: db.c and lock.c reach an engine only through this table.
 * A MUST member is called without a NULL test; a MAY member may be NULL
 * (or 0), and its comment says what happens then.  Apart from open, the
 * members taking a struct db are only called on an open connection (db.c
 * checks), and on failure return -1 with db->errstr set (and db->dberr for
 * a statement). */
struct db_ops {
	/* MUST: the engine's name ("postgresql", "sqlite"). */
	const char *name;
	/* MAY (0: none): what the engine can do, DB_CAN_* and DB_HAS_* bits. */
	unsigned supports;
	/* MUST: SQL text of the engine's dialect for the tables prestart
	 * keeps beside Alembic's (the ledger): a column type holding a UTC
	 * time, the current time for such a column, and printf formats
	 * taking one expression: its length as text, counted in what the
	 * client receives whatever the database's encoding (bytes, or
	 * characters under DB_TEXT_LENGTH_IN_CHARS), and such a column as
	 * 'YYYY-MM-DD HH:MM:SS' text. */
	const char *sql_timestamp;
	const char *sql_now;
	const char *sql_text_length;
	const char *sql_utc_seconds;
	/* MUST: split a script of the engine's dialect into statements, as
	 * sqlsplit.h's functions do (and with their contract).  Needs no
	 * connection: offline rendering splits too (db_kind_split). */
	int (*split)(const char *text, size_t len, struct sql_stmts *out, size_t *err_off,
		     struct err *e);

	/* MUST: connect.  Sets db->impl (also on failure: close frees it),
	 * and on failure db->status (DBC_RETRY or DBC_FATAL; left DBC_OK it
	 * counts as DBC_FATAL) and db->errstr. */
	int (*open)(struct db *db, const struct dburl *u, const struct db_opts *o);
	/* MUST: free db->impl and everything it holds, a lock included. */
	void (*close)(struct db *db);
	/* MAY (NULL: open then close, the reason being db->errstr): one
	 * readiness attempt of the wait step (SPEC §4 step 3), ended by
	 * now_ms() reaching until_ms (0: no deadline) or by o's stop or
	 * interrupted.  Returns
	 * DBC_OK when a connection succeeded, else the verdict of open
	 * (DBC_RETRY_SOON for a DBC_RETRY that cost the server nothing), with
	 * a short one-line reason in why[0..n) (never with a password). */
	enum db_conn_status (*probe)(const struct dburl *u, const struct db_opts *o,
				     long long until_ms, char *why, size_t n);

	/* MUST: run one or more statements; in the current transaction if
	 * any.  sql need not be NUL-terminated.  Sets db->changes. */
	int (*exec)(struct db *db, const char *sql, size_t len);
	/* MUST: run a query and return the first column of every row (NULL
	 * as ""). */
	int (*query_col)(struct db *db, const char *sql, struct strlist *out);
	/* MUST: does the table (or view) exist, resolved as the version-table
	 * statements will resolve it? */
	int (*table_exists)(struct db *db, const char *schema, const char *table, int *exists);
	/* MUST: was the last statement failure (db->dberr) a missing table or
	 * column?  Lets db.c read a version table that is not there yet in one
	 * query instead of asking the catalog first. */
	int (*is_missing)(const struct db *db, enum db_missing what);
	/* MAY (NULL: always writable): can this connection write?  *why
	 * "" when it can, else a short reason ("the server is a standby (in
	 * recovery)", "transaction_read_only is on"); one query. */
	int (*read_only)(struct db *db, char *why, size_t n);
	/* MUST: ask the server to cancel the running statement (safe to call
	 * from another thread, though not concurrently with close). */
	void (*cancel)(struct db *db);
	/* MUST: quote an identifier where SQLAlchemy would (new string). */
	char *(*quote_ident)(const char *s);

	/* MUST: the statement that opens a transaction. */
	const char *begin;
	/* MUST: the connection's real transaction state: 0 none, 1 open, 2
	 * open but failed (only ROLLBACK will do), -1 unknown (connection
	 * lost). */
	int (*tx_status)(struct db *db);
	/* MAY (0: it survives): 1 when a failed statement aborts the open
	 * transaction, so that db.c must not try a query that may fail. */
	int error_aborts_tx;

	/* The migration lock.  A lock strategy is these members, named apart
	 * from lock.c's functions (SQLite's xLock/xUnlock): lock.c polls
	 * lock.try_hold under its timeout, logs lock.holder between polls, and
	 * calls lock.drop once it is done.  The lock belongs to the
	 * connection: close (and a lost connection) drops it. */
	struct {
		/* MUST: try once without blocking; *got = 1 when the lock is
		 * now held through db, 0 when someone else holds it.  -1 on
		 * errors, which include a lost connection (lock.c then asks
		 * db_connection_lost). */
		int (*try_hold)(struct db *db, const struct lock_key *k, int *got);
		/* MUST: release a lock try_hold took; -1 when it was not held. */
		int (*drop)(struct db *db, const struct lock_key *k);
		/* MAY (NULL: the holder is "another process"): who holds the
		 * lock, as one line in buf[0..n) ("" when unknown); -1 only on
		 * errors. */
		int (*holder)(struct db *db, const struct lock_key *k, char *buf, size_t n);
		/* MAY (NULL: k->strategy is left as asked and means nothing):
		 * before the first try_hold, settle k->strategy (LOCK_AUTO
		 * becomes SESSION or LEASE by what the server is and what
		 * stands in front of it) and make what it needs (the lease
		 * table).  0, -1 on errors, or LOCK_PREP_UNUSABLE /
		 * LOCK_PREP_NO_TABLE with errstr. */
		int (*prepare)(struct db *db, struct lock_key *k);
		/* MAY (NULL: a held lock is never lost but with the
		 * connection): is the lock try_hold took still ours?  *held = 0
		 * when not, errstr saying how it was lost.  Cheap enough to ask
		 * before every revision; safe inside a transaction. */
		int (*check)(struct db *db, const struct lock_key *k, int *held);
	} lock;
};

struct db {
	const struct db_ops *ops;
	void *impl;
	enum db_kind kind;
	enum db_conn_status status; /* after a failed open */
	int in_tx;
	long long changes;      /* rows changed by the last statement of the last exec */
	char errstr[1024];      /* last failure, one line */
	struct db_error dberr;  /* last statement failure */
};

/* The driver for an engine (NULL for an unknown kind), and whether it can
 * do everything in the DB_* bits what (0 for an unknown kind). */
const struct db_ops *db_driver(enum db_kind kind);
int db_kind_supports(enum db_kind kind, unsigned what);
/* db_kind_supports for an open (or opened and failed) connection's engine. */
int db_supports(const struct db *db, unsigned what);
/* Split text[0..len) into statements with the splitter of kind's driver
 * (struct db_ops's split; sqlsplit.h's contract, sqlsplit_release the
 * result).  An unknown kind fails (ERR_USAGE). */
int db_kind_split(enum db_kind kind, const char *text, size_t len, struct sql_stmts *out,
		  size_t *err_off, struct err *e);

/* Connect. Returns 0, or -1 with db->errstr and db->status set; call
 * db_close() in either case (it is also safe on a zeroed struct db).
 * PostgreSQL: adds application_name, TCP keepalives, connect_timeout and
 * client_encoding=UTF8 unless the URL sets them; NOTICEs are dropped.
 * connect_timeout applies to each address tried; when it expires the
 * attempt ends (DBC_RETRY) rather than moving to a further host. */
int db_open(struct db *db, const struct dburl *u, const struct db_opts *o);
void db_close(struct db *db);
/* One readiness attempt of the wait step for u (see struct db_ops's probe):
 * DBC_OK, or the verdict with a one-line reason in why[0..n). */
enum db_conn_status db_probe(const struct dburl *u, const struct db_opts *o, long long until_ms,
			     char *why, size_t n);

/* Run statements (PostgreSQL: one round trip for the whole text, which the
 * server runs as one implicit transaction outside BEGIN).  Text holding
 * only blanks, comments and semicolons is not sent.  db->changes is set. */
int db_exec(struct db *db, const char *sql, size_t len);
/* Run a query and return the first column of every row (NULL as "") in
 * *out (strlist_free it). */
int db_query_col(struct db *db, const char *sql, struct strlist *out);
int db_execs(struct db *db, const char *sql);
int db_begin(struct db *db);    /* the driver's begin statement */
/* The begin statement and also (SQL statements, ";"-separated) in one
 * round trip; NULL or "": db_begin.  On failure the transaction may be
 * open (aborted): db->in_tx says so, for db_rollback. */
int db_begin_with(struct db *db, const char *also);
/* COMMIT; a transaction already failed is rolled back and reported. */
int db_commit(struct db *db);
int db_rollback(struct db *db); /* no-op outside a transaction */

/* Quote an identifier as SQLAlchemy 1.4's dialect for `kind` does: only
 * when upper-case, reserved, or not [a-z0-9_$] (new string). */
char *db_quote_ident(enum db_kind kind, const char *s);
/* Append s as a string literal for `kind`, quotes doubled: where the
 * driver has DB_HAS_ESCAPE_STRINGS, E'' when s holds a backslash, so that
 * the text means the same whatever standard_conforming_strings says
 * (sbuf_add_sql_str); else a backslash is a plain character.  Revision
 * ids cannot hold either, but configuration and databases are not to be
 * trusted. */
void db_add_literal(struct sbuf *b, enum db_kind kind, const char *s);
/* The schema-qualified, quoted version table name (new string). */
char *db_version_table_name(const struct db *db, const char *schema, const char *table);
/* Reject version table names the engine cannot hold as given (empty
 * names; PostgreSQL: "<table>_pkc" or the schema over 63 bytes, which the
 * server would silently truncate).  ERR_USAGE. */
int db_check_version_table_name(enum db_kind kind, const char *schema, const char *table,
				struct err *e);

/* SQL text for the version table (new strings, no final ';'), the same
 * online and offline (Alembic's --sql text): CREATE TABLE, DROP TABLE (an
 * offline downgrade to base), and the INSERT/UPDATE/DELETE of one
 * HeadMaintainer operation. */
char *db_sql_create_version_table(enum db_kind kind, const char *schema, const char *table);
char *db_sql_drop_version_table(enum db_kind kind, const char *schema, const char *table);
char *db_sql_version_op(enum db_kind kind, const char *schema, const char *table,
			const struct vt_op *op);

/* Read the version table into *heads (sorted as stored). *exists is set to
 * 0 when the table does not exist (heads then empty). A table of the wrong
 * shape is an error.  Outside a transaction this is one query. */
int db_read_versions(struct db *db, const char *schema, const char *table,
		     struct strlist *heads, int *exists);
/* db_read_versions, and *pending set to 1 when the marker table of an
 * interrupted non-transactional revision (below) exists.  Still one query:
 * the existence test rides on the version query (UNION ALL with
 * to_regclass / sqlite_master), so the fast path costs nothing more. */
int db_read_versions_pending(struct db *db, const char *schema, const char *table,
			     struct strlist *heads, int *exists, int *pending);
/* A query that rides on the version read, in the same statement (the same
 * round trip): sql, a SELECT of one text column, is appended with UNION
 * ALL; its rows must start with prefix (a space: no revision id does) and
 * are moved to *out.  It must not fail when what it reads is missing. */
struct db_probe {
	const char *sql;
	const char *prefix;
	struct strlist *out;
};
/* db_read_versions_pending with a probe (NULL: none). */
int db_read_versions_probe(struct db *db, const char *schema, const char *table,
			   struct strlist *heads, int *exists, int *pending,
			   const struct db_probe *probe);

/* The marker of a `Transactional: false` revision in progress:
 * "<table>_pending" beside the version table (same schema, quoted the same
 * way), made only when such a revision runs, so databases that never run
 * one look exactly as Alembic leaves them.  db_mark_pending creates it and
 * records (rev, "upgrade"|"downgrade") outside any transaction, committed
 * before the revision's first statement; db_clear_pending drops it inside
 * the caller's transaction, the one that records the revision, so the
 * marker survives exactly when the revision was interrupted.
 * db_read_pending appends the rows to revs/directions (none when the
 * table does not exist). */
int db_mark_pending(struct db *db, const char *schema, const char *table, const char *rev,
		    int upgrade);
int db_read_pending(struct db *db, const char *schema, const char *table, struct strlist *revs,
		    struct strlist *directions);
int db_clear_pending(struct db *db, const char *schema, const char *table);

/* CREATE TABLE if the version table does not exist. */
int db_ensure_version_table(struct db *db, const char *schema, const char *table);
/* Apply one version-table operation; fails when an UPDATE/DELETE matches
 * other than one row (Alembic's "Online migration expected to match one
 * row ..."). */
int db_apply_version_op(struct db *db, const char *schema, const char *table,
			const struct vt_op *op);

void db_cancel(struct db *db);
/* Is the server read-only for this connection (SPEC §7.4: a hot standby,
 * or default_transaction_read_only)?  *ro 1 with a short reason in
 * why[0..n), 0 when it can write.  One query; 0, or -1 with db->errstr. */
int db_read_only(struct db *db, int *ro, char *why, size_t n);
/* The SQLSTATE db_error_string() wrote into a message (the last one when
 * there are several) into out[6]: 1 when there is one, else 0 (out "").
 * Lets code that only has the message (an err, after the rollback) tell a
 * read-only server (25006) from a broken migration, and report it. */
int db_sqlstate_of(const char *msg, char out[6]);
/* After a failure: is the connection itself gone (server restarted or
 * unreachable), so that only a new one can help? */
int db_connection_lost(struct db *db);

/* The migration lock through the driver (struct db_ops's lock members):
 * try once (*got 1 when taken), release, and who holds it (buf "" when
 * the driver cannot tell).  0, or -1 with db->errstr. */
int db_lock_try(struct db *db, const struct lock_key *k, int *got);
int db_lock_release(struct db *db, const struct lock_key *k);
int db_lock_holder(struct db *db, const struct lock_key *k, char *buf, size_t n);
/* Settle k->strategy and prepare it (struct db_ops's lock.prepare): 0, -1,
 * LOCK_PREP_UNUSABLE or LOCK_PREP_NO_TABLE, with db->errstr. */
int db_lock_prepare(struct db *db, struct lock_key *k);
/* Is the lock still ours (*held)?  0, or -1 with db->errstr. */
int db_lock_check(struct db *db, const struct lock_key *k, int *held);

/* prestart's own schema on PostgreSQL ("prestart": the lease table of
 * §7.1 and the ledger of §7.3 live there), created when missing.  Outside
 * a transaction; concurrent callers are fine.  0, or -1 with db->errstr
 * (no privilege to create it). */
#define DB_PRESTART_SCHEMA "prestart"
int db_ensure_schema(struct db *db, const char *schema);

/* May prestart read and write the table schema.table (names as stored,
 * unquoted) without running another role's code?  On PostgreSQL it must be an
 * ordinary table owned by the current role or a role it is a member of,
 * with no trigger and no rule: a table another role made beforehand could
 * run that role's functions with prestart's privileges.  *why is "" when
 * it may (or when there is no such table), else the reason ("is owned by
 * the role mallory, ...").  Other engines: always "".  One query; 0, or
 * -1 with db->errstr. */
int db_table_trusted(struct db *db, const char *schema, const char *table, char *why,
		     size_t n);
/* The same judgement as an SQL condition on the pg_class row `c`, for a
 * query that must skip such a table rather than fail (the fast path). */
#define DB_PG_TRUSTED_TABLE                                                                 \
	"(c.relkind = 'r' AND pg_catalog.pg_has_role(c.relowner, 'MEMBER') AND NOT EXISTS ("  \
	"SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid AND NOT "            \
	"t.tgisinternal) AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE "      \
	"r.ev_class = c.oid))"

/* Does version() name a distributed PostgreSQL whose advisory locks
 * cannot be trusted (CockroachDB's are stubs; YugabyteDB's are not
 * cluster-wide in the versions out there)?  Returns the product's name,
 * or NULL.  Pure: exposed for the tests. */
const char *db_pg_distributed(const char *version);

/* The last failure as one line (new string): for a statement,
 * "<message> (SQLSTATE xxxxx); detail: ...; hint: ..." with the parts the
 * server gave; otherwise db->errstr. */
char *db_error_string(const struct db *db);

/* PostgreSQL: run n statements `COPY <table> (<one column>) TO STDOUT`
 * given as one text, in one round trip (one implicit transaction); out[i]
 * (n lists, appended to) receives statement i's values (NULLs skipped).
 * COPY reads a table without planning a query: no index is opened, which
 * in a fresh session is most of what a SELECT costs.  -1 on a failure
 * (the first one is kept; the lists are then incomplete). */
int db_pg_copy_out(struct db *db, const char *sql, struct strlist *out, size_t n);

extern const struct db_ops db_pg_ops;
extern const struct db_ops db_sqlite_ops;

/* The one verdict on a failed PostgreSQL connection, for db_open and the
 * wait step alike (SPEC §4 step 3): what the attempt learnt, and whether
 * waiting can help.  Pure: exposed for the tests. */
struct db_pg_failure {
	const char *sqlstate; /* the server's, NULL or "" when it sent none */
	const char *message;  /* libpq's text (English: prestart never calls
			       * setlocale); may be NULL */
	int no_attempt;       /* PQping would say PQPING_NO_ATTEMPT: bad parameters */
	int needs_password;   /* the server asked for a password none was given for */
	int timed_out;        /* no answer within the attempt's time */
};
enum db_conn_status db_pg_verdict(const struct db_pg_failure *f);
/* For a failure db_pg_verdict() retries: did it cost the server nothing
 * (refused TCP connect, no Unix socket file: no server to ask) or is the
 * server starting up (57P03)?  Then probing again within 50 ms is cheap
 * and gets the application going as soon as the server answers (SPEC
 * §7.4).  Pure: exposed for the tests. */
int db_pg_retry_soon(const struct db_pg_failure *f);

/* Internal to db*.c: reset db->errstr/dberr before a call, and record a
 * statement failure (sets errstr from dberr). */
void db_clear_error(struct db *db);
int db_set_errstr(struct db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int db_stmt_failed(struct db *db);
/* Index of the next statement's first token at or after i in s[0..len)
 * (blanks, comments and lone semicolons skipped); len when none. */
size_t db_skip_noise(const char *s, size_t len, size_t i);

#endif
