/* db_pg.c - the PostgreSQL driver (libpq). */
#include "prestart/db.h"
#include "prestart/sqlsplit.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_impl {
	PGconn *conn;
	/* Made once after connecting: PQcancel() on it is safe from any
	 * thread, PQgetCancel() is not. */
	PGcancel *cancel;
};

static PGconn *conn_of(struct db *db)
{
	struct pg_impl *p = db->impl;

	return p ? p->conn : NULL;
}

static void quiet_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Connection parameters: the URL's, then ours where the URL is silent. */
struct params {
	const char **keys, **vals;
	size_t n, alloc;
	char timeout[16];
};

static int has_key(const struct dburl *u, const char *key)
{
	return dburl_get(u, key) != NULL;
}

static void param_add(struct params *pp, const char *k, const char *v)
{
	if (pp->n + 2 > pp->alloc) {
		pp->alloc = pp->alloc ? pp->alloc * 2 : 16;
		pp->keys = xrealloc(pp->keys, pp->alloc * sizeof(*pp->keys));
		pp->vals = xrealloc(pp->vals, pp->alloc * sizeof(*pp->vals));
	}
	pp->keys[pp->n] = k;
	pp->vals[pp->n] = v;
	pp->n++;
	pp->keys[pp->n] = NULL;
	pp->vals[pp->n] = NULL;
}

static void params_build(struct params *pp, const struct dburl *u, const struct db_opts *o)
{
	static const char *const keepalive[][2] = {
		{ "keepalives", "1" },
		{ "keepalives_idle", "30" },
		{ "keepalives_interval", "10" },
		{ "keepalives_count", "3" },
	};

	memset(pp, 0, sizeof(*pp));
	param_add(pp, NULL, NULL);
	pp->n = 0;
	for (size_t i = 0; i < u->n && u->keys && u->keys[i]; i++)
		param_add(pp, u->keys[i], u->vals[i]);
	if (!has_key(u, "application_name"))
		param_add(pp, "application_name",
			  o->application_name ? o->application_name : "prestart");
	/* A replica that dies holding the lock must lose it soon. */
	for (size_t i = 0; i < sizeof(keepalive) / sizeof(keepalive[0]); i++) {
		if (!has_key(u, keepalive[i][0]))
			param_add(pp, keepalive[i][0], keepalive[i][1]);
	}
	if (o->connect_timeout_s > 0 && !has_key(u, "connect_timeout")) {
		snprintf(pp->timeout, sizeof(pp->timeout), "%d", o->connect_timeout_s);
		param_add(pp, "connect_timeout", pp->timeout);
	}
	/* Revision files are UTF-8; error positions are converted with it. */
	if (!has_key(u, "client_encoding") && !getenv("PGCLIENTENCODING"))
		param_add(pp, "client_encoding", "UTF8");
}

static void params_free(struct params *pp)
{
	free(pp->keys);
	free(pp->vals);
}

/* libpq's per-attempt timeout: its own rule is "at least 2 seconds". */
static int timeout_ms(const struct params *pp)
{
	const char *v = NULL;
	long t;

	for (size_t i = 0; i < pp->n; i++) {
		if (strcmp(pp->keys[i], "connect_timeout") == 0)
			v = pp->vals[i];
	}
	if (!v && !(v = getenv("PGCONNECT_TIMEOUT")))
		return -1;
	t = strtol(v, NULL, 10);
	if (t <= 0)
		return -1;
	if (t < 2)
		t = 2;
	if (t > 86400)
		t = 86400;
	return (int)(t * 1000);
}

static int is_sqlstate(const char *p)
{
	for (int i = 0; i < 5; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z')))
			return 0;
	}
	return p[5] == ':' && p[6] == ' ';
}

/* The connection error came with PQERRORS_VERBOSE so that the server's
 * SQLSTATE is in it ("FATAL:  28P01: password ..." and a LOCATION line):
 * take the last SQLSTATE out, drop the LOCATION lines, and make one line
 * of the rest. */
static void clean_conn_error(const char *msg, char *out, size_t outsz, char sqlstate[6])
{
	struct sbuf b = { 0 };
	const char *line = msg;

	sqlstate[0] = '\0';
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		const char *p = line, *end = line + n;

		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (!str_has_prefix(p, "LOCATION:") && p < end) {
			const char *sev = strstr(p, ":  ");

			if (b.len)
				sbuf_addc(&b, ' ');
			if (sev && sev + 10 <= end && is_sqlstate(sev + 3)) {
				memcpy(sqlstate, sev + 3, 5);
				sqlstate[5] = '\0';
				sbuf_add(&b, p, (size_t)(sev - p));
				sbuf_adds(&b, ": ");
				p = sev + 10;
			}
			sbuf_add(&b, p, (size_t)(end - p));
		}
		line = nl ? nl + 1 : end;
	}
	snprintf(out, outsz, "%s", b.buf ? b.buf : "");
	sbuf_free(&b);
}

/* Never let a password through, even if some message echoed it (very
 * short ones would only garble the message: libpq does not echo them). */
static void mask_password(char *s, size_t size, const struct dburl *u)
{
	const char *pw = dburl_get(u, "password");
	struct sbuf b = { 0 };
	size_t n;

	if (!pw || (n = strlen(pw)) < 4 || !strstr(s, pw))
		return;
	for (const char *p = s, *hit; *p; p = hit + n) {
		if (!(hit = strstr(p, pw))) {
			sbuf_adds(&b, p);
			break;
		}
		sbuf_add(&b, p, (size_t)(hit - p));
		sbuf_adds(&b, "***");
	}
	snprintf(s, size, "%s", b.buf ? b.buf : "");
	sbuf_free(&b);
}

static enum db_conn_status classify(const char *sqlstate)
{
	/* 08 connection exception, 53 insufficient resources (too many
	 * connections), 57 operator intervention (starting up, shutting down,
	 * in recovery): the server may take us later. */
	if (str_has_prefix(sqlstate, "08") || str_has_prefix(sqlstate, "53") ||
	    str_has_prefix(sqlstate, "57"))
		return DBC_RETRY;
	/* 28 bad password or role, 3D no such database, anything else the
	 * server refused deliberately. */
	return DBC_FATAL;
}

/* libpq's own messages for bad parameters (it has no SQLSTATE for them,
 * and PQping calls some of them NO_ATTEMPT only).  prestart never calls
 * setlocale(), so libpq speaks English. */
static int bad_parameters(const char *msg)
{
	static const char *const marks[] = {
		"failed: invalid ", "failed: could not match ",
		"server does not support SSL, but SSL was required",
		"server does not support GSSAPI, but GSSAPI was required",
	};

	if (str_has_prefix(msg, "invalid ") || str_has_prefix(msg, "could not match "))
		return 1;
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (strstr(msg, marks[i]))
			return 1;
	}
	return 0;
}

static int conn_failed(struct db *db, PGconn *conn, const struct params *pp,
		       const struct dburl *u, int immediate, int timed_out)
{
	char msg[sizeof(db->errstr)], sqlstate[6];

	clean_conn_error(conn ? PQerrorMessage(conn) : "out of memory", msg, sizeof(msg),
			 sqlstate);
	if (timed_out) {
		const char *h = PQhost(conn), *port = PQport(conn);

		if (h && h[0] == '/')
			snprintf(msg, sizeof(msg),
				 "connection to server on socket \"%s/.s.PGSQL.%s\" failed: "
				 "timeout expired",
				 h, port ? port : "");
		else
			snprintf(msg, sizeof(msg),
				 "connection to server at \"%s\", port %s failed: timeout expired",
				 h ? h : "", port ? port : "");
	}
	mask_password(msg, sizeof(msg), u);
	if (str_has_prefix(msg, "connection to "))
		db_set_errstr(db, "%s", msg);
	else
		db_set_errstr(db, "connection to database failed: %s", msg);
	snprintf(db->dberr.sqlstate, sizeof(db->dberr.sqlstate), "%s", sqlstate);

	if (timed_out)
		db->status = DBC_RETRY;
	else if (sqlstate[0])
		db->status = classify(sqlstate);
	else if ((conn && PQconnectionNeedsPassword(conn)) || bad_parameters(msg))
		db->status = DBC_FATAL;
	else if (immediate)
		/* Failing before any network round trip is either bad
		 * parameters (NO_ATTEMPT) or a name or socket not there yet. */
		db->status = PQpingParams(pp->keys, pp->vals, 0) == PQPING_NO_ATTEMPT
				     ? DBC_FATAL
				     : DBC_RETRY;
	else
		db->status = DBC_RETRY;
	return -1;
}

static int pg_open(struct db *db, const struct dburl *u, const struct db_opts *o)
{
	struct pg_impl *p = xcalloc(1, sizeof(*p));
	struct params pp;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long started;
	int tmo, last_fd = -1, rc = -1;
	char last_host[256] = "";

	db->impl = p;
	params_build(&pp, u, o);
	tmo = timeout_ms(&pp);
	/* Our own poll loop instead of PQconnectdbParams: it is the only way
	 * to set the error verbosity before the server's first message, and so
	 * to learn the SQLSTATE of a refused connection. */
	p->conn = PQconnectStartParams(pp.keys, pp.vals, 0);
	if (!p->conn) {
		db->status = DBC_FATAL;
		db_set_errstr(db, "connection to database failed: out of memory");
		goto out;
	}
	PQsetErrorVerbosity(p->conn, PQERRORS_VERBOSE);
	if (PQstatus(p->conn) == CONNECTION_BAD) {
		conn_failed(db, p->conn, &pp, u, 1, 0);
		goto out;
	}
	started = now_ms();
	while (st != PGRES_POLLING_OK) {
		int fd = PQsocket(p->conn), r, wait = -1;
		const char *h = PQhost(p->conn);
		struct pollfd pfd;

		if (st == PGRES_POLLING_FAILED || fd < 0) {
			conn_failed(db, p->conn, &pp, u, 0, 0);
			goto out;
		}
		/* A new socket or host is a new attempt with its own timeout. */
		if (fd != last_fd || strncmp(h ? h : "", last_host, sizeof(last_host) - 1) != 0) {
			last_fd = fd;
			snprintf(last_host, sizeof(last_host), "%s", h ? h : "");
			started = now_ms();
		}
		if (tmo > 0) {
			long long left = started + tmo - now_ms();

			if (left <= 0) {
				conn_failed(db, p->conn, &pp, u, 0, 1);
				goto out;
			}
			wait = (int)left;
		}
		pfd.fd = fd;
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		pfd.revents = 0;
		/* Slices, so that a signal ends a connect to a server that
		 * accepted and never answers. */
		r = poll(&pfd, 1, wait < 0 || wait > 100 ? 100 : wait);
		if (o && o->stop && *o->stop) {
			db->status = DBC_RETRY;
			db_set_errstr(db, "connection to database interrupted by signal %d",
				      (int)*o->stop);
			goto out;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			db->status = DBC_RETRY;
			db_set_errstr(db, "connection to database failed: poll: %s",
				      strerror(errno));
			goto out;
		}
		if (r == 0)
			continue;
		st = PQconnectPoll(p->conn);
	}
	PQsetErrorVerbosity(p->conn, PQERRORS_DEFAULT);
	/* Migrations are chatty (NOTICE: relation exists, skipping): the
	 * log is for prestart's own events. */
	PQsetNoticeProcessor(p->conn, quiet_notices, NULL);
	p->cancel = PQgetCancel(p->conn);
	rc = 0;
out:
	params_free(&pp);
	return rc;
}

static void pg_close(struct db *db)
{
	struct pg_impl *p = db->impl;

	if (!p)
		return;
	if (p->cancel)
		PQfreeCancel(p->cancel);
	if (p->conn)
		PQfinish(p->conn);
	free(p);
	db->impl = NULL;
}

/* PG_DIAG_STATEMENT_POSITION counts characters from 1: walk them in the
 * client encoding to get a byte offset. */
static long char_to_byte(PGconn *conn, const char *sql, size_t len, long pos)
{
	int enc = PQclientEncoding(conn);
	size_t off = 0;

	for (long c = 1; c < pos && off < len; c++) {
		int n = PQmblen(sql + off, enc);

		off += n > 0 ? (size_t)n : 1;
	}
	return off < len ? (long)off : (long)len;
}

static void copy_field(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* Record a failed result (or, without one, the connection's message). */
static int result_failed(struct db *db, const PGresult *res, const char *sql, size_t len)
{
	PGconn *conn = conn_of(db);
	struct db_error *d = &db->dberr;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (primary) {
		const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);

		copy_field(d->sqlstate, sizeof(d->sqlstate),
			   PQresultErrorField(res, PG_DIAG_SQLSTATE));
		copy_field(d->message, sizeof(d->message), primary);
		copy_field(d->detail, sizeof(d->detail),
			   PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL));
		copy_field(d->hint, sizeof(d->hint), PQresultErrorField(res, PG_DIAG_MESSAGE_HINT));
		d->offset = pos && sql ? char_to_byte(conn, sql, len, strtol(pos, NULL, 10)) : -1;
	} else {
		char *m = xstrdup(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

		if (!*m) {
			free(m);
			m = xstrdup(PQerrorMessage(conn));
		}
		copy_field(d->message, sizeof(d->message), str_trim(m));
		if (!d->message[0])
			copy_field(d->message, sizeof(d->message), "unknown error");
		free(m);
	}
	return db_stmt_failed(db);
}

/* Where the statement that failed starts, for errors the server gives no
 * position for (constraint violations, RAISE): the simple query protocol
 * answers each statement in turn, so the count of statements that
 * completed says which one failed. */
static long failed_stmt_offset(const char *sql, size_t len, size_t done)
{
	struct sql_stmts st = { 0 };
	struct err e;
	size_t bad;
	long off = -1;

	if (sqlsplit(sql, len, &st, &bad, &e) == 0 && done < st.n)
		off = (long)st.v[done].off;
	sqlsplit_release(&st);
	return off;
}

static int pg_exec(struct db *db, const char *sql, size_t len)
{
	PGconn *conn = conn_of(db);
	char *buf = xstrndup(sql, len);
	PGresult *res, *last = NULL, *fail = NULL;
	size_t done = 0;
	int rc = 0;

	/* PQexec's protocol, with the results seen one by one. */
	if (!PQsendQuery(conn, buf)) {
		rc = result_failed(db, NULL, buf, len);
		free(buf);
		return rc;
	}
	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
			/* A revision file has no data to give COPY: end it with an
			 * error so that the connection stays usable. */
			PQputCopyEnd(conn, "COPY FROM STDIN is not supported in revision files");
			PQclear(res);
			continue;
		}
		if (st == PGRES_COPY_OUT) {
			char *data;

			while (PQgetCopyData(conn, &data, 0) > 0)
				PQfreemem(data);
			PQclear(res);
			continue;
		}
		if (fail) {
			PQclear(res);
		} else if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ||
			   st == PGRES_EMPTY_QUERY) {
			done++;
			PQclear(last);
			last = res;
		} else {
			fail = res;
		}
	}
	if (fail) {
		rc = result_failed(db, fail, buf, len);
		if (db->dberr.offset < 0)
			db->dberr.offset = failed_stmt_offset(buf, len, done);
	} else if (last) {
		db->changes = strtoll(PQcmdTuples(last), NULL, 10);
	} else {
		rc = result_failed(db, NULL, buf, len);
	}
	PQclear(fail);
	PQclear(last);
	free(buf);
	return rc;
}

static int pg_query_col(struct db *db, const char *sql, struct strlist *out)
{
	PGconn *conn = conn_of(db);
	PGresult *res;
	int rc = 0;

	db_clear_error(db);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		for (int i = 0; i < PQntuples(res); i++)
			strlist_push(out, PQnfields(res) > 0 ? PQgetvalue(res, i, 0) : "");
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = result_failed(db, res, sql, strlen(sql));
	}
	PQclear(res);
	return rc;
}

/* Run a one-parameter query returning one value (new string via *val). */
static int query_param(struct db *db, const char *sql, const char *param, char **val)
{
	PGconn *conn = conn_of(db);
	const char *params[1] = { param };
	PGresult *res;
	int rc = 0;

	*val = NULL;
	res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = result_failed(db, res, NULL, 0);
	else if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		*val = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

static int pg_table_exists(struct db *db, const char *schema, const char *table, int *exists)
{
	char *name = db_version_table_name(db, schema, table), *kind = NULL;
	int rc;

	*exists = 0;
	db_clear_error(db);
	/* to_regclass resolves the name as the version-table statements
	 * will (search_path when unqualified, as SQLAlchemy's has_table), and
	 * gives NULL instead of an error when it or its schema is missing. */
	rc = query_param(db,
			 "SELECT c.relkind FROM pg_catalog.pg_class c "
			 "WHERE c.oid = pg_catalog.to_regclass($1)",
			 name, &kind);
	if (rc == 0 && kind && strchr("rpvmf", kind[0]))
		*exists = 1;
	free(kind);
	free(name);
	return rc;
}

static void pg_cancel(struct db *db)
{
	struct pg_impl *p = db->impl;
	char errbuf[256];

	if (p && p->cancel)
		PQcancel(p->cancel, errbuf, (int)sizeof(errbuf));
}

static char *pg_quote_ident(const char *s)
{
	return db_quote_ident(DB_PG, s);
}

static int pg_tx_status(struct db *db)
{
	switch (PQtransactionStatus(conn_of(db))) {
	case PQTRANS_IDLE:
		return 0;
	case PQTRANS_INTRANS:
	case PQTRANS_ACTIVE:
		return 1;
	case PQTRANS_INERROR:
		return 2;
	default:
		return -1;
	}
}

const struct db_ops db_pg_ops = {
	.name = "postgresql",
	.open = pg_open,
	.close = pg_close,
	.exec = pg_exec,
	.query_col = pg_query_col,
	.table_exists = pg_table_exists,
	.cancel = pg_cancel,
	.quote_ident = pg_quote_ident,
	.tx_status = pg_tx_status,
};

static int pg_only(struct db *db)
{
	db_clear_error(db);
	if (db->kind == DB_PG && conn_of(db))
		return 0;
	return db_set_errstr(db, "advisory locks need a PostgreSQL connection");
}

int db_pg_try_advisory_lock(struct db *db, long long key, int *got)
{
	char k[24], *v = NULL;

	*got = 0;
	if (pg_only(db) < 0)
		return -1;
	snprintf(k, sizeof(k), "%lld", key);
	if (query_param(db, "SELECT pg_catalog.pg_try_advisory_lock($1::bigint)", k, &v) < 0)
		return -1;
	*got = v && v[0] == 't';
	free(v);
	return 0;
}

int db_pg_advisory_unlock(struct db *db, long long key)
{
	char k[24], *v = NULL;
	int held;

	if (pg_only(db) < 0)
		return -1;
	snprintf(k, sizeof(k), "%lld", key);
	if (query_param(db, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", k, &v) < 0)
		return -1;
	held = v && v[0] == 't';
	free(v);
	if (!held)
		return db_set_errstr(db, "advisory lock %lld was not held by this session", key);
	return 0;
}

void *db_pg_conn(struct db *db)
{
	return db->kind == DB_PG ? conn_of(db) : NULL;
}
