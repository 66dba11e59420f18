/* db.c - engine-independent wrappers and the version table's SQL. */
#include "prestart/db.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLAlchemy 1.4's RESERVED_WORDS of each dialect: an identifier is quoted
 * when its lower-case form is in the list, so that the text we generate is
 * the text Alembic generates. */
static const char *const pg_reserved[] = {
	"all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric",
	"authorization", "between", "binary", "both", "case", "cast", "check", "collate",
	"column", "constraint", "create", "cross", "current_catalog", "current_date",
	"current_role", "current_schema", "current_time", "current_timestamp",
	"current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end",
	"except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant",
	"group", "having", "ilike", "in", "initially", "inner", "intersect", "into", "is",
	"isnull", "join", "leading", "left", "like", "limit", "localtime", "localtimestamp",
	"natural", "new", "not", "notnull", "null", "of", "off", "offset", "old", "on",
	"only", "or", "order", "outer", "over", "overlaps", "placing", "primary",
	"references", "returning", "right", "select", "session_user", "similar", "some",
	"symmetric", "table", "then", "to", "trailing", "true", "union", "unique", "user",
	"using", "variadic", "verbose", "when", "where", "window", "with", NULL
};

static const char *const sqlite_reserved[] = {
	"add", "after", "all", "alter", "analyze", "and", "as", "asc", "attach",
	"autoincrement", "before", "begin", "between", "by", "cascade", "case", "cast",
	"check", "collate", "column", "commit", "conflict", "constraint", "create", "cross",
	"current_date", "current_time", "current_timestamp", "database", "default",
	"deferrable", "deferred", "delete", "desc", "detach", "distinct", "drop", "each",
	"else", "end", "escape", "except", "exclusive", "exists", "explain", "fail", "false",
	"for", "foreign", "from", "full", "glob", "group", "having", "if", "ignore",
	"immediate", "in", "index", "indexed", "initially", "inner", "insert", "instead",
	"intersect", "into", "is", "isnull", "join", "key", "left", "like", "limit", "match",
	"natural", "not", "notnull", "null", "of", "offset", "on", "or", "order", "outer",
	"plan", "pragma", "primary", "query", "raise", "references", "reindex", "rename",
	"replace", "restrict", "right", "rollback", "row", "select", "set", "table", "temp",
	"temporary", "then", "to", "transaction", "trigger", "true", "union", "unique",
	"update", "using", "vacuum", "values", "view", "virtual", "when", "where", NULL
};

/* PostgreSQL truncates longer identifiers (NAMEDATALEN - 1 bytes). */
#define PG_MAX_IDENT 63

static int needs_quote(enum db_kind kind, const char *s)
{
	const char *const *words = kind == DB_PG ? pg_reserved : sqlite_reserved;

	if (!*s || (*s >= '0' && *s <= '9') || *s == '$')
		return 1;
	for (const char *p = s; *p; p++) {
		/* Upper case too: unquoted it would fold to another name. */
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' ||
		      *p == '$'))
			return 1;
	}
	for (size_t i = 0; words[i]; i++) {
		if (strcmp(words[i], s) == 0)
			return 1;
	}
	return 0;
}

char *db_quote_ident(enum db_kind kind, const char *s)
{
	struct sbuf b = { 0 };

	if (!needs_quote(kind, s))
		return xstrdup(s);
	sbuf_add_sql_ident(&b, s);
	return sbuf_detach(&b);
}

static char *qualified(enum db_kind kind, const char *schema, const char *table)
{
	char *t = db_quote_ident(kind, table), *s, *r;

	if (!schema)
		return t;
	s = db_quote_ident(kind, schema);
	r = xasprintf("%s.%s", s, t);
	free(s);
	free(t);
	return r;
}

char *db_version_table_name(const struct db *db, const char *schema, const char *table)
{
	return qualified(db->kind, schema, table);
}

int db_check_version_table_name(enum db_kind kind, const char *schema, const char *table,
				struct err *e)
{
	if (!table || !*table)
		return err_set(e, ERR_USAGE, "the version table name is empty");
	if (schema && !*schema)
		return err_set(e, ERR_USAGE, "the version table schema is empty");
	if (kind != DB_PG)
		return 0;
	if (strlen(table) + 4 > PG_MAX_IDENT)
		return err_set(e, ERR_USAGE,
			       "version table name '%s' is too long: '%s_pkc' exceeds %d bytes",
			       table, table, PG_MAX_IDENT);
	if (schema && strlen(schema) > PG_MAX_IDENT)
		return err_set(e, ERR_USAGE, "version table schema '%s' exceeds %d bytes", schema,
			       PG_MAX_IDENT);
	return 0;
}

void db_add_literal(struct sbuf *b, enum db_kind kind, const char *s)
{
	if (db_kind_supports(kind, DB_HAS_ESCAPE_STRINGS))
		sbuf_add_sql_str(b, s);
	else
		sbuf_add_sql_std_str(b, s);
}

char *db_sql_create_version_table(enum db_kind kind, const char *schema, const char *table)
{
	char *name = qualified(kind, schema, table);
	char *pkc_raw = xasprintf("%s_pkc", table);
	char *pkc = db_quote_ident(kind, pkc_raw);
	/* Alembic's offline text: SQLAlchemy's DDL with its tabs as 4 spaces,
	 * trailing blank after the comma included. */
	char *sql = xasprintf("CREATE TABLE %s (\n    version_num VARCHAR(32) NOT NULL, \n"
			      "    CONSTRAINT %s PRIMARY KEY (version_num)\n)",
			      name, pkc);

	free(name);
	free(pkc_raw);
	free(pkc);
	return sql;
}

char *db_sql_drop_version_table(enum db_kind kind, const char *schema, const char *table)
{
	char *name = qualified(kind, schema, table);
	char *sql = xasprintf("DROP TABLE %s", name);

	free(name);
	return sql;
}

char *db_sql_version_op(enum db_kind kind, const char *schema, const char *table,
			const struct vt_op *op)
{
	char *name = qualified(kind, schema, table);
	struct sbuf b = { 0 };

	switch (op->kind) {
	case VT_INSERT:
		sbuf_addf(&b, "INSERT INTO %s (version_num) VALUES (", name);
		db_add_literal(&b, kind, op->to);
		sbuf_adds(&b, ")");
		/* SQLAlchemy's implicit RETURNING of the primary key. */
		if (kind == DB_PG)
			sbuf_addf(&b, " RETURNING %s.version_num", name);
		break;
	case VT_UPDATE:
		sbuf_addf(&b, "UPDATE %s SET version_num=", name);
		db_add_literal(&b, kind, op->to);
		sbuf_addf(&b, " WHERE %s.version_num = ", name);
		db_add_literal(&b, kind, op->from);
		break;
	case VT_DELETE:
		sbuf_addf(&b, "DELETE FROM %s WHERE %s.version_num = ", name, name);
		db_add_literal(&b, kind, op->from);
		break;
	}
	free(name);
	return sbuf_detach(&b);
}

void db_clear_error(struct db *db)
{
	db->errstr[0] = '\0';
	memset(&db->dberr, 0, sizeof(db->dberr));
	db->dberr.offset = -1;
}

int db_set_errstr(struct db *db, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(db->errstr, sizeof(db->errstr), fmt, ap);
	va_end(ap);
	/* One line, whatever the engine's message looked like. */
	for (char *p = db->errstr; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	}
	return -1;
}

int db_stmt_failed(struct db *db)
{
	char *s;

	db->errstr[0] = '\0';
	s = db_error_string(db);
	db_set_errstr(db, "%s", s);
	free(s);
	return -1;
}

char *db_error_string(const struct db *db)
{
	const struct db_error *d = &db->dberr;
	struct sbuf b = { 0 };

	if (!d->message[0])
		return xstrdup(db->errstr[0] ? db->errstr : "unknown database error");
	sbuf_adds(&b, d->message);
	if (d->sqlstate[0])
		sbuf_addf(&b, " (SQLSTATE %s)", d->sqlstate);
	if (d->detail[0])
		sbuf_addf(&b, "; detail: %s", d->detail);
	if (d->hint[0])
		sbuf_addf(&b, "; hint: %s", d->hint);
	for (char *p = b.buf; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	}
	return sbuf_detach(&b);
}

/* The drivers, by the engine a URL names. */
static const struct db_ops *const drivers[] = {
	[DB_PG] = &db_pg_ops,
	[DB_SQLITE] = &db_sqlite_ops,
};

const struct db_ops *db_driver(enum db_kind kind)
{
	if ((size_t)kind < sizeof(drivers) / sizeof(drivers[0]))
		return drivers[kind];
	return NULL;
}

int db_kind_supports(enum db_kind kind, unsigned what)
{
	const struct db_ops *ops = db_driver(kind);

	return ops && (ops->supports & what) == what;
}

int db_supports(const struct db *db, unsigned what)
{
	return db->ops ? (db->ops->supports & what) == what : db_kind_supports(db->kind, what);
}

int db_kind_split(enum db_kind kind, const char *text, size_t len, struct sql_stmts *out,
		  size_t *err_off, struct err *e)
{
	const struct db_ops *ops = db_driver(kind);

	if (!ops)
		return err_set(e, ERR_USAGE, "unsupported database kind %d", (int)kind);
	return ops->split(text, len, out, err_off, e);
}

int db_open(struct db *db, const struct dburl *u, const struct db_opts *o)
{
	static const struct db_opts defaults = { 0 };

	memset(db, 0, sizeof(*db));
	db_clear_error(db);
	db->kind = u->kind;
	db->ops = db_driver(u->kind);
	if (!db->ops) {
		db->status = DBC_FATAL;
		return db_set_errstr(db, "unsupported database kind %d", (int)u->kind);
	}
	if (db->ops->open(db, u, o ? o : &defaults) < 0) {
		if (db->status == DBC_OK)
			db->status = DBC_FATAL;
		return -1;
	}
	db->status = DBC_OK;
	return 0;
}

enum db_conn_status db_probe(const struct dburl *u, const struct db_opts *o, long long until_ms,
			     char *why, size_t n)
{
	static const struct db_opts defaults = { 0 };
	const struct db_ops *ops = db_driver(u->kind);
	enum db_conn_status st;
	struct db db;

	if (ops && ops->probe)
		return ops->probe(u, o ? o : &defaults, until_ms, why, n);
	st = db_open(&db, u, o) == 0 ? DBC_OK : db.status;
	snprintf(why, n, "%s", st == DBC_OK ? "" : db.errstr);
	db_close(&db);
	return st;
}

void db_close(struct db *db)
{
	if (db->ops && db->impl)
		db->ops->close(db);
	db->impl = NULL;
	db->in_tx = 0;
}

static int not_open(struct db *db)
{
	if (db->ops && db->impl)
		return 0;
	return db_set_errstr(db, "not connected to the database");
}

/* Skip blanks, comments and empty statements: what is left is the start of
 * the next statement (or end).  Block comments nest, as in PostgreSQL. */
static size_t skip_noise(const char *s, size_t len, size_t i)
{
	while (i < len) {
		char c = s[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
		    c == ';') {
			i++;
		} else if (c == '-' && i + 1 < len && s[i + 1] == '-') {
			while (i < len && s[i] != '\n')
				i++;
		} else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
			int depth = 1;

			i += 2;
			while (i < len && depth > 0) {
				if (s[i] == '*' && i + 1 < len && s[i + 1] == '/') {
					depth--;
					i += 2;
				} else if (s[i] == '/' && i + 1 < len && s[i + 1] == '*') {
					depth++;
					i += 2;
				} else {
					i++;
				}
			}
		} else {
			break;
		}
	}
	return i;
}

size_t db_skip_noise(const char *s, size_t len, size_t i)
{
	return skip_noise(s, len, i);
}

int db_exec(struct db *db, const char *sql, size_t len)
{
	db_clear_error(db);
	db->changes = 0;
	if (not_open(db))
		return -1;
	if (memchr(sql, '\0', len))
		return db_set_errstr(db, "the SQL text contains a NUL byte");
	if (skip_noise(sql, len, 0) == len)
		return 0;
	return db->ops->exec(db, sql, len);
}

int db_execs(struct db *db, const char *sql)
{
	return db_exec(db, sql, strlen(sql));
}

int db_begin(struct db *db)
{
	db_clear_error(db);
	if (not_open(db))
		return -1;
	if (db->in_tx)
		return db_set_errstr(db, "a transaction is already open");
	if (db_execs(db, db->ops->begin) < 0)
		return -1;
	db->in_tx = 1;
	return 0;
}

int db_begin_with(struct db *db, const char *also)
{
	char *sql;
	int rc, st;

	if (!also || !*also)
		return db_begin(db);
	db_clear_error(db);
	if (not_open(db))
		return -1;
	if (db->in_tx)
		return db_set_errstr(db, "a transaction is already open");
	sql = xasprintf("%s; %s", db->ops->begin, also);
	rc = db_execs(db, sql);
	free(sql);
	/* A failure after the begin leaves the transaction open (aborted):
	 * the connection's own state says whether to roll it back. */
	st = rc < 0 ? db->ops->tx_status(db) : 1;
	db->in_tx = st > 0;
	return rc;
}

int db_commit(struct db *db)
{
	int st;

	db_clear_error(db);
	if (not_open(db))
		return -1;
	st = db->ops->tx_status(db);
	if (st == 0) {
		db->in_tx = 0;
		return db_set_errstr(db, "no transaction is open");
	}
	if (st == 2) {
		/* PostgreSQL would answer COMMIT with ROLLBACK and no error. */
		db_execs(db, "ROLLBACK");
		db->in_tx = 0;
		db_clear_error(db);
		return db_set_errstr(db, "the transaction was aborted by an earlier error "
					 "and has been rolled back");
	}
	if (db_execs(db, "COMMIT") < 0) {
		/* SQLite keeps the transaction open when COMMIT is busy. */
		db->in_tx = db->ops->tx_status(db) > 0;
		return -1;
	}
	db->in_tx = 0;
	return 0;
}

int db_rollback(struct db *db)
{
	int st;

	db_clear_error(db);
	if (not_open(db))
		return -1;
	st = db->ops->tx_status(db);
	if (st < 0) {
		db->in_tx = 0;
		return db_set_errstr(db, "cannot roll back: the connection to the database was lost");
	}
	if (st == 0) {
		/* Engines end a transaction themselves on some errors. */
		db->in_tx = 0;
		return 0;
	}
	if (db_execs(db, "ROLLBACK") < 0)
		return -1;
	db->in_tx = 0;
	return 0;
}

void db_cancel(struct db *db)
{
	if (db->ops && db->impl)
		db->ops->cancel(db);
}

int db_connection_lost(struct db *db)
{
	return !db->ops || !db->impl || db->ops->tx_status(db) < 0;
}

int db_query_col(struct db *db, const char *sql, struct strlist *out)
{
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->query_col(db, sql, out);
}

int db_read_only(struct db *db, int *ro, char *why, size_t n)
{
	*ro = 0;
	if (n)
		why[0] = '\0';
	db_clear_error(db);
	if (not_open(db))
		return -1;
	if (!db->ops->read_only)
		return 0;
	if (db->ops->read_only(db, why, n) < 0)
		return -1;
	*ro = n && why[0] != '\0';
	return 0;
}

int db_sqlstate_of(const char *msg, char out[6])
{
	const char *p, *found = NULL;

	out[0] = '\0';
	for (p = msg; p && (p = strstr(p, "(SQLSTATE ")); p++) {
		const char *v = p + 10;
		int ok = 1;

		for (int i = 0; i < 5; i++)
			if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'A' && v[i] <= 'Z')))
				ok = 0;
		if (ok && v[5] == ')')
			found = v;
	}
	if (!found)
		return 0;
	memcpy(out, found, 5);
	out[5] = '\0';
	return 1;
}

int db_lock_try(struct db *db, const struct lock_key *k, int *got)
{
	*got = 0;
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->lock.try_hold(db, k, got);
}

int db_lock_release(struct db *db, const struct lock_key *k)
{
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->lock.drop(db, k);
}

int db_lock_holder(struct db *db, const struct lock_key *k, char *buf, size_t n)
{
	buf[0] = '\0';
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->lock.holder ? db->ops->lock.holder(db, k, buf, n) : 0;
}

int db_lock_prepare(struct db *db, struct lock_key *k)
{
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->lock.prepare ? db->ops->lock.prepare(db, k) : 0;
}

int db_lock_check(struct db *db, const struct lock_key *k, int *held)
{
	*held = 1;
	db_clear_error(db);
	if (not_open(db))
		return -1;
	return db->ops->lock.check ? db->ops->lock.check(db, k, held) : 0;
}

int db_table_trusted(struct db *db, const char *schema, const char *table, char *why,
		     size_t n)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 };
	int rc;

	why[0] = '\0';
	if (!db_supports(db, DB_HAS_PRIVILEGES))
		return 0;
	/* By name in the catalogs: no privilege on the schema is needed to
	 * ask, so the answer does not fail where to_regclass would. */
	sbuf_adds(&q,
		  "SELECT CASE WHEN c.relkind <> 'r' THEN 'is not an ordinary table' "
		  "WHEN NOT pg_catalog.pg_has_role(c.relowner, 'MEMBER') THEN 'is owned by the "
		  "role ' || pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(c.relowner)) || "
		  "', not by ' || pg_catalog.quote_ident(current_user::text) || ' or a role it "
		  "is a member of' "
		  "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid "
		  "AND NOT t.tgisinternal) THEN 'has triggers' "
		  "WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid) "
		  "THEN 'has rules' ELSE '' END "
		  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = "
		  "c.relnamespace WHERE s.nspname = ");
	sbuf_add_sql_estr(&q, schema);
	sbuf_adds(&q, " AND c.relname = ");
	sbuf_add_sql_estr(&q, table);
	rc = db->ops->query_col(db, q.buf, &rows);
	sbuf_free(&q);
	if (rc == 0 && rows.n == 1)
		snprintf(why, n, "%s", rows.v[0]);
	strlist_free(&rows);
	return rc;
}

int db_ensure_schema(struct db *db, const char *schema)
{
	struct strlist rows = { 0 };
	struct sbuf ask = { 0 };
	char *q, *sql;
	int rc;

	if (db->kind != DB_PG)
		return 0;
	/* Asked first: CREATE SCHEMA IF NOT EXISTS checks the CREATE
	 * privilege before it looks, so a role without it would fail on a
	 * schema that is already there. */
	sbuf_adds(&ask, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = ");
	sbuf_add_sql_str(&ask, schema);
	rc = db->ops->query_col(db, ask.buf, &rows);
	sbuf_free(&ask);
	if (rc < 0 || rows.n) {
		strlist_free(&rows);
		return rc;
	}
	strlist_free(&rows);
	q = db_quote_ident(DB_PG, schema);
	sql = xasprintf("CREATE SCHEMA IF NOT EXISTS %s", q);
	rc = db_execs(db, sql);
	/* Two replicas creating it at once: one of them loses on the catalog's
	 * unique index rather than on IF NOT EXISTS.  It exists either way. */
	if (rc < 0 && (!strcmp(db->dberr.sqlstate, "23505") ||
		       !strcmp(db->dberr.sqlstate, "42P06") ||
		       !strcmp(db->dberr.sqlstate, "42710")))
		rc = 0;
	if (rc < 0)
		db_set_errstr(db, "cannot create the schema %s: %s", q, db->dberr.message);
	free(sql);
	free(q);
	return rc;
}

/* The marker table of a version table, quoted as the version table is. */
static char *pending_name(enum db_kind kind, const char *schema, const char *table)
{
	char *raw = xasprintf("%s_pending", table), *name = qualified(kind, schema, raw);

	free(raw);
	return name;
}

/* A value no revision id can take (ids are [A-Za-z0-9_.-]): the row the
 * version query adds when the marker table exists. */
#define PENDING_SENTINEL " pending"

/* The tail of the version query that adds the sentinel row when the marker
 * table exists, without failing when it does not. */
static void add_pending_probe(struct sbuf *b, enum db_kind kind, const char *schema,
			      const char *table)
{
	char *raw = xasprintf("%s_pending", table);

	sbuf_adds(b, " UNION ALL SELECT '" PENDING_SENTINEL "'");
	if (kind == DB_PG) {
		char *name = pending_name(kind, schema, table);

		sbuf_adds(b, " WHERE pg_catalog.to_regclass(");
		db_add_literal(b, kind, name);
		sbuf_adds(b, ") IS NOT NULL");
		free(name);
	} else {
		char *master = qualified(kind, schema, "sqlite_master");

		sbuf_addf(b, " FROM %s WHERE type = 'table' AND name = ", master);
		db_add_literal(b, kind, raw);
		free(master);
	}
	free(raw);
}

int db_read_versions(struct db *db, const char *schema, const char *table,
		     struct strlist *heads, int *exists)
{
	return db_read_versions_pending(db, schema, table, heads, exists, NULL);
}

int db_read_versions_pending(struct db *db, const char *schema, const char *table,
			     struct strlist *heads, int *exists, int *pending)
{
	return db_read_versions_probe(db, schema, table, heads, exists, pending, NULL);
}

int db_read_versions_probe(struct db *db, const char *schema, const char *table,
			   struct strlist *heads, int *exists, int *pending,
			   const struct db_probe *probe)
{
	struct sbuf q = { 0 };
	char *name, *sql;
	int rc;

	*exists = 0;
	if (pending)
		*pending = 0;
	db_clear_error(db);
	if (not_open(db))
		return -1;
	/* Where a failed SELECT would abort the open transaction, ask the
	 * catalog first.  Otherwise one query tells both things. */
	if (db->ops->error_aborts_tx && db->ops->tx_status(db) != 0) {
		if (db->ops->table_exists(db, schema, table, exists) < 0)
			return -1;
		if (!*exists)
			return 0;
	}
	name = qualified(db->kind, schema, table);
	sbuf_addf(&q, "SELECT %s.version_num FROM %s", name, name);
	if (pending)
		add_pending_probe(&q, db->kind, schema, table);
	if (probe && probe->sql)
		sbuf_addf(&q, " UNION ALL %s", probe->sql);
	sql = sbuf_detach(&q);
	rc = db->ops->query_col(db, sql, heads);
	free(sql);
	if (rc < 0) {
		strlist_free(heads);
		if (db->ops->is_missing(db, DB_MISSING_TABLE)) {
			*exists = 0;
			db_clear_error(db);
			free(name);
			return 0;
		}
		if (db->ops->is_missing(db, DB_MISSING_COLUMN)) {
			db_clear_error(db);
			db_set_errstr(db, "version table %s has no version_num column: "
					  "it is not an Alembic version table", name);
		}
		free(name);
		return -1;
	}
	*exists = 1;
	if (probe && probe->sql) {
		size_t n = strlen(probe->prefix), w = 0;

		for (size_t i = 0; i < heads->n; i++) {
			if (!strncmp(heads->v[i], probe->prefix, n))
				strlist_push_owned(probe->out, heads->v[i]);
			else
				heads->v[w++] = heads->v[i];
		}
		heads->n = w;
		if (heads->v)
			heads->v[w] = NULL;
	}
	for (size_t i = 0; pending && i < heads->n; i++) {
		if (strcmp(heads->v[i], PENDING_SENTINEL) == 0) {
			*pending = 1;
			free(heads->v[i]);
			memmove(&heads->v[i], &heads->v[i + 1],
				(heads->n - i - 1) * sizeof(heads->v[0]));
			heads->n--;
			break;
		}
	}
	for (size_t i = 0; i < heads->n; i++) {
		if (!heads->v[i][0]) {
			db_set_errstr(db, "version table %s holds an empty or NULL version_num",
				      name);
			strlist_free(heads);
			free(name);
			return -1;
		}
	}
	free(name);
	return 0;
}

int db_ensure_version_table(struct db *db, const char *schema, const char *table)
{
	int exists = 0, rc;
	char *sql;

	db_clear_error(db);
	if (not_open(db))
		return -1;
	if (db->ops->table_exists(db, schema, table, &exists) < 0)
		return -1;
	if (exists)
		return 0;
	sql = db_sql_create_version_table(db->kind, schema, table);
	rc = db_execs(db, sql);
	free(sql);
	return rc;
}

int db_apply_version_op(struct db *db, const char *schema, const char *table,
			const struct vt_op *op)
{
	char *sql = db_sql_version_op(db->kind, schema, table, op);
	int rc = db_execs(db, sql);

	free(sql);
	if (rc < 0)
		return -1;
	if (op->kind == VT_INSERT || db->changes == 1)
		return 0;
	if (op->kind == VT_UPDATE)
		return db_set_errstr(db, "Online migration expected to match one row when "
					 "updating '%s' to '%s' in '%s'; %lld found",
				     op->from, op->to, table, db->changes);
	return db_set_errstr(db, "Online migration expected to match one row when deleting "
				 "'%s' in '%s'; %lld found",
			     op->from, table, db->changes);
}

int db_mark_pending(struct db *db, const char *schema, const char *table, const char *rev,
		    int upgrade)
{
	char *name = pending_name(db->kind, schema, table);
	struct sbuf b = { 0 };
	int rc;

	/* One text: on PostgreSQL the server runs it as one implicit
	 * transaction, so the marker exists only with its row. */
	sbuf_addf(&b, "CREATE TABLE IF NOT EXISTS %s (version_num VARCHAR(32) NOT NULL, "
		      "direction VARCHAR(9) NOT NULL); INSERT INTO %s (version_num, direction) "
		      "VALUES (",
		  name, name);
	db_add_literal(&b, db->kind, rev);
	sbuf_addf(&b, ", '%s')", upgrade ? "upgrade" : "downgrade");
	rc = db_execs(db, b.buf);
	sbuf_free(&b);
	free(name);
	return rc;
}

int db_read_pending(struct db *db, const char *schema, const char *table, struct strlist *revs,
		    struct strlist *directions)
{
	char *raw = xasprintf("%s_pending", table), *name, *sql;
	struct strlist rows = { 0 };
	int exists = 0, rc;

	db_clear_error(db);
	if (not_open(db)) {
		free(raw);
		return -1;
	}
	rc = db->ops->table_exists(db, schema, raw, &exists);
	free(raw);
	if (rc < 0 || !exists)
		return rc;
	name = pending_name(db->kind, schema, table);
	sql = xasprintf("SELECT version_num || ' ' || direction FROM %s", name);
	rc = db->ops->query_col(db, sql, &rows);
	for (size_t i = 0; rc == 0 && i < rows.n; i++) {
		char *sp = strrchr(rows.v[i], ' ');

		if (!sp)
			continue;
		*sp = '\0';
		strlist_push(revs, rows.v[i]);
		strlist_push(directions, sp + 1);
	}
	strlist_free(&rows);
	free(sql);
	free(name);
	return rc;
}

int db_clear_pending(struct db *db, const char *schema, const char *table)
{
	char *name = pending_name(db->kind, schema, table);
	char *sql = xasprintf("DROP TABLE IF EXISTS %s", name);
	int rc = db_execs(db, sql);

	free(sql);
	free(name);
	return rc;
}
