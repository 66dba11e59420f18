/* db_pg.c - the PostgreSQL driver (libpq). */
#include "prestart/db.h"
#include "prestart/sqlsplit.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_pg_int.h"

static PGconn *conn_of(struct db *db)
{
	struct pg_impl *p = db->impl;

	return p ? p->conn : NULL;
}

static int stop_asked(struct db *db)
{
	struct pg_impl *p = db->impl;

	return p && p->stop && *p->stop;
}

static void pg_cancel(struct db *db);

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
	/* A peer gone silent (a partition, a dead host) ends the connection
	 * within 25 s: keepalive probes when it is idle, and tcp_user_timeout
	 * when data sent stays unacknowledged (the keepalives stop then, and
	 * retransmissions alone take about 15 min).  Under the lease's 30 s
	 * expiry, so a cut-off holder gives up before another can take over. */
	static const char *const keepalive[][2] = {
		{ "keepalives", "1" },
		{ "keepalives_idle", "10" },
		{ "keepalives_interval", "5" },
		{ "keepalives_count", "3" },
		{ "tcp_user_timeout", "25000" },
	};

	memset(pp, 0, sizeof(*pp));
	param_add(pp, NULL, NULL);
	pp->n = 0;
	for (size_t i = 0; i < u->n && u->keys && u->keys[i]; i++)
		param_add(pp, u->keys[i], u->vals[i]);
	if (!has_key(u, "application_name"))
		param_add(pp, "application_name",
			  o->application_name ? o->application_name : "prestart");
	/* A replica cut off while holding the lock must notice soon. */
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

enum db_conn_status db_pg_verdict(const struct db_pg_failure *f)
{
	/* 08 connection exception, 53 insufficient resources (53300 too many
	 * connections), 57 operator intervention (57P03 starting up, shutting
	 * down, in recovery): the server may take us later. */
	static const char *const retry_classes[] = { "08", "53", "57" };
	/* Without a SQLSTATE (libpq's own failures, a server that sent none)
	 * the text decides.  A server speaking another language defeats it,
	 * and then the failure is retried until the deadline, which is the
	 * safe direction. */
	static const char *const retry_text[] = {
		"the database system is", "too many", "remaining connection slots",
	};
	static const char *const fatal_text[] = {
		"password authentication failed", "no password supplied",
		"no pg_hba.conf entry", "permission denied for database",
		"invalid connection option", "invalid sslmode value", "invalid port number",
		/* libpq's bad parameters, some of which PQping calls
		 * NO_ATTEMPT only after trying */
		"failed: invalid ", "failed: could not match ",
		"server does not support SSL, but SSL was required",
		"server does not support GSSAPI, but GSSAPI was required",
	};
	const char *st = f->sqlstate, *msg = f->message ? f->message : "";

	if (f->no_attempt)
		return DBC_FATAL;
	if (f->timed_out)
		return DBC_RETRY;
	if (st && *st) {
		for (size_t i = 0; i < sizeof(retry_classes) / sizeof(retry_classes[0]); i++) {
			if (str_has_prefix(st, retry_classes[i]))
				return DBC_RETRY;
		}
		/* 28P01 bad password, 28000 no such role or no pg_hba.conf
		 * entry, 3D000 no such database, 42501 no CONNECT privilege,
		 * and whatever else the server refused on purpose. */
		return DBC_FATAL;
	}
	if (f->needs_password)
		return DBC_FATAL;
	for (size_t i = 0; i < sizeof(retry_text) / sizeof(retry_text[0]); i++) {
		if (strstr(msg, retry_text[i]))
			return DBC_RETRY;
	}
	if (str_has_prefix(msg, "invalid ") || str_has_prefix(msg, "could not match "))
		return DBC_FATAL;
	for (size_t i = 0; i < sizeof(fatal_text) / sizeof(fatal_text[0]); i++) {
		if (strstr(msg, fatal_text[i]))
			return DBC_FATAL;
	}
	if ((strstr(msg, "database \"") || strstr(msg, "role \"")) && strstr(msg, "does not exist"))
		return DBC_FATAL;
	return DBC_RETRY;
}

int db_pg_retry_soon(const struct db_pg_failure *f)
{
	const char *st = f->sqlstate, *msg = f->message ? f->message : "";

	if (f->timed_out || f->no_attempt)
		return 0;
	if (st && *st)
		return strcmp(st, "57P03") == 0;
	/* Without a SQLSTATE, libpq's connect(2) error: every host refused,
	 * or no socket file (a server that answered would have sent one). */
	return strstr(msg, "Connection refused") != NULL ||
	       strstr(msg, "No such file or directory") != NULL ||
	       strstr(msg, "the database system is starting up") != NULL;
}

/* The wait step's one-line reason: libpq's verbose, possibly multi-host
 * text reduced to what the server said (the line of the last SQLSTATE, the
 * one the verdict went by), else to the last line, without the
 * "connection to server ... failed:" and severity prefixes. */
static void short_reason(const char *msg, char *reason, size_t rlen)
{
	const char *line = msg;
	int have_state = 0;

	snprintf(reason, rlen, "connection failed");
	while (line && *line) {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		const char *p = line, *end = line + len, *f;

		line = eol ? eol + 1 : NULL;
		if (len == 0 || *p == '\t' || *p == ' ' || str_has_prefix(p, "LOCATION:") ||
		    str_has_prefix(p, "DETAIL:") || str_has_prefix(p, "HINT:"))
			continue;
		if (str_has_prefix(p, "connection to server") && (f = strstr(p, " failed: ")) &&
		    f < end)
			p = f + 9;
		if (str_has_prefix(p, "FATAL:  ") || str_has_prefix(p, "ERROR:  "))
			p += 8;
		if (end - p >= 7 && is_sqlstate(p)) {
			p += 7;
			have_state = 1;
		} else if (have_state) {
			continue;
		}
		snprintf(reason, rlen, "%.*s", (int)(end - p), p);
	}
	if (reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] >= 'a' && reason[1] <= 'z')
		reason[0] = (char)(reason[0] - 'A' + 'a');
}

/* How a connection attempt ended without a connection. */
enum conn_end {
	END_FAILED,    /* libpq gave up (the server refused, no host answered) */
	END_IMMEDIATE, /* before any network round trip */
	END_TIMEOUT,   /* connect_timeout expired on one host */
	END_DEADLINE   /* the caller's until_ms came */
};

/* Record the failure: db->errstr (and, for the wait step, a short reason
 * in why) and db->status, the verdict of db_pg_verdict(). */
static int conn_failed(struct db *db, PGconn *conn, const struct params *pp,
		       const struct dburl *u, enum conn_end how, long long budget_ms, char *why,
		       size_t whyn)
{
	const char *raw = conn ? PQerrorMessage(conn) : "out of memory";
	char msg[sizeof(db->errstr)], sqlstate[6];
	struct db_pg_failure f = { 0 };

	clean_conn_error(raw, msg, sizeof(msg), sqlstate);
	if (how == END_TIMEOUT || how == END_DEADLINE) {
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

	f.sqlstate = sqlstate;
	f.message = raw;
	f.timed_out = how == END_TIMEOUT || how == END_DEADLINE;
	f.needs_password = conn && PQconnectionNeedsPassword(conn);
	/* Failing before any network round trip is either bad parameters
	 * (NO_ATTEMPT) or a name or socket not there yet; only PQpingParams
	 * tells them apart, and with bad parameters it returns at once. */
	if (how == END_IMMEDIATE)
		f.no_attempt = PQpingParams(pp->keys, pp->vals, 0) == PQPING_NO_ATTEMPT;
	db->status = db_pg_verdict(&f);
	if (why) {
		if (how == END_DEADLINE)
			snprintf(why, whyn, "no answer within %lld ms", budget_ms);
		else if (how == END_TIMEOUT)
			snprintf(why, whyn, "timeout expired");
		else
			short_reason(raw, why, whyn);
		mask_password(why, whyn, u);
	}
	return -1;
}

static int interrupted(const struct db_opts *o)
{
	return (o->stop && *o->stop) || (o->interrupted && o->interrupted(o->interrupted_arg));
}

/* Connect, ending by now_ms() == until_ms when until_ms > 0; on failure
 * also a short reason in why[0..whyn) when why is not NULL. */
static int pg_connect(struct db *db, const struct dburl *u, const struct db_opts *o,
		      long long until_ms, char *why, size_t whyn)
{
	struct pg_impl *p = xcalloc(1, sizeof(*p));
	struct params pp;
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	long long started, t0 = now_ms();
	int tmo, last_fd = -1, rc = -1;
	char last_host[256] = "";

	db->impl = p;
	p->many_locks = o && o->many_locks;
	p->stop = o ? o->stop : NULL;
	params_build(&pp, u, o);
	tmo = timeout_ms(&pp);
	/* Our own poll loop instead of PQconnectdbParams: it is the only way
	 * to set the error verbosity before the server's first message, and so
	 * to learn the SQLSTATE of a refused connection. */
	p->conn = PQconnectStartParams(pp.keys, pp.vals, 0);
	if (!p->conn) {
		db->status = DBC_FATAL;
		db_set_errstr(db, "connection to database failed: out of memory");
		if (why)
			snprintf(why, whyn, "out of memory");
		goto out;
	}
	PQsetErrorVerbosity(p->conn, PQERRORS_VERBOSE);
	if (PQstatus(p->conn) == CONNECTION_BAD) {
		conn_failed(db, p->conn, &pp, u, END_IMMEDIATE, 0, why, whyn);
		goto out;
	}
	started = t0;
	while (st != PGRES_POLLING_OK) {
		int fd = PQsocket(p->conn), r, wait = -1;
		const char *h = PQhost(p->conn);
		struct pollfd pfd;

		if (st == PGRES_POLLING_FAILED || fd < 0) {
			conn_failed(db, p->conn, &pp, u, END_FAILED, 0, why, whyn);
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
				conn_failed(db, p->conn, &pp, u, END_TIMEOUT, 0, why, whyn);
				goto out;
			}
			wait = (int)left;
		}
		if (until_ms > 0) {
			long long left = until_ms - now_ms();

			if (left <= 0) {
				conn_failed(db, p->conn, &pp, u, END_DEADLINE, until_ms - t0, why,
					    whyn);
				goto out;
			}
			if (wait < 0 || left < wait)
				wait = (int)left;
		}
		pfd.fd = fd;
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		pfd.revents = 0;
		/* Slices, so that a signal ends a connect to a server that
		 * accepted and never answers. */
		r = poll(&pfd, 1, wait < 0 || wait > 50 ? 50 : wait);
		if (interrupted(o)) {
			db->status = DBC_RETRY;
			if (o->stop && *o->stop)
				db_set_errstr(db, "connection to database interrupted by signal %d",
					      (int)*o->stop);
			else
				db_set_errstr(db, "connection to database interrupted");
			if (why)
				snprintf(why, whyn, "interrupted");
			goto out;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			db->status = DBC_RETRY;
			db_set_errstr(db, "connection to database failed: poll: %s",
				      strerror(errno));
			if (why)
				snprintf(why, whyn, "poll: %s", strerror(errno));
			goto out;
		}
		if (r == 0)
			continue;
		st = PQconnectPoll(p->conn);
	}
	p->keys = xcalloc(pp.n + 1, sizeof(*p->keys));
	p->vals = xcalloc(pp.n + 1, sizeof(*p->vals));
	for (size_t i = 0; i < pp.n; i++) {
		p->keys[i] = xstrdup(pp.keys[i]);
		p->vals[i] = xstrdup(pp.vals[i] ? pp.vals[i] : "");
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

static int pg_open(struct db *db, const struct dburl *u, const struct db_opts *o)
{
	return pg_connect(db, u, o, 0, NULL, 0);
}

/* SPEC §4 step 3 asks PQping's verdicts (REJECT and NO_RESPONSE retry,
 * NO_ATTEMPT fails at once).  One real connection, open's own, gives them
 * and also what a ping cannot see: a wrong password, a missing database,
 * no CONNECT privilege.  Being open's attempt, it gets open's verdict. */
static enum db_conn_status pg_probe(const struct dburl *u, const struct db_opts *o,
				    long long until_ms, char *why, size_t n)
{
	struct db db;
	enum db_conn_status st;

	memset(&db, 0, sizeof(db));
	db_clear_error(&db);
	db.ops = &db_pg_ops;
	db.kind = DB_PG;
	st = pg_connect(&db, u, o, until_ms, why, n) == 0 ? DBC_OK : db.status;
	if (st == DBC_OK && n)
		why[0] = '\0';
	if (st == DBC_RETRY && conn_of(&db) && !(o->stop && *o->stop)) {
		struct db_pg_failure f = { 0 };

		f.sqlstate = db.dberr.sqlstate;
		f.message = PQerrorMessage(conn_of(&db));
		f.timed_out = strstr(db.errstr, "timeout expired") != NULL;
		if (db_pg_retry_soon(&f))
			st = DBC_RETRY_SOON;
	}
	db_close(&db);
	return st;
}

static void pg_close(struct db *db)
{
	struct pg_impl *p = db->impl;

	if (!p)
		return;
	db_pg_lock_drop(p);
	for (size_t i = 0; p->keys && p->keys[i]; i++) {
		free(p->keys[i]);
		free(p->vals[i]);
	}
	free(p->keys);
	free(p->vals);
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
int db_pg_result_failed(struct db *db, const PGresult *res, const char *sql, size_t len)
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
		rc = db_pg_result_failed(db, NULL, buf, len);
		free(buf);
		return rc;
	}
	/* A signal between the caller's last look at the stop flag and the
	 * send: its handler's cancel reached an idle backend; this one does
	 * not (a revision's pg_sleep(60) would otherwise run its course). */
	if (stop_asked(db))
		pg_cancel(db);
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
		rc = db_pg_result_failed(db, fail, buf, len);
		if (db->dberr.offset < 0)
			db->dberr.offset = failed_stmt_offset(buf, len, done);
	} else if (last) {
		db->changes = strtoll(PQcmdTuples(last), NULL, 10);
	} else {
		rc = db_pg_result_failed(db, NULL, buf, len);
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
		rc = db_pg_result_failed(db, res, sql, strlen(sql));
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
		rc = db_pg_result_failed(db, res, NULL, 0);
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

static int pg_read_only(struct db *db, char *why, size_t n)
{
	struct strlist v = { 0 };
	int rc;

	/* One round trip; a standby answers both (recovery first: it also
	 * reports transaction_read_only on). */
	rc = pg_query_col(db, "SELECT CASE WHEN pg_is_in_recovery() THEN 'r' "
			      "WHEN current_setting('transaction_read_only') = 'on' THEN 'o' "
			      "ELSE '' END", &v);
	if (rc == 0)
		snprintf(why, n, "%s", v.n == 0 || !v.v[0][0] ? ""
				       : v.v[0][0] == 'r' ? "the server is a standby (in recovery)"
							 : "transaction_read_only is on");
	strlist_free(&v);
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

static int pg_is_missing(const struct db *db, enum db_missing what)
{
	const char *st = db->dberr.sqlstate;

	if (what == DB_MISSING_COLUMN)
		return strcmp(st, "42703") == 0; /* undefined_column */
	/* undefined_table, invalid_schema_name */
	return strcmp(st, "42P01") == 0 || strcmp(st, "3F000") == 0;
}

const struct db_ops db_pg_ops = {
	.name = "postgresql",
	.supports = DB_CAN_ADVISORY_LOCK | DB_HAS_LOCK_TIMEOUT | DB_HAS_BLOCKERS |
		    DB_HAS_INDEX_PROGRESS | DB_HAS_LEDGER_SCHEMA | DB_HAS_PRIVILEGES |
		    DB_HAS_ESCAPE_STRINGS | DB_HAS_QUERY_TO_XML | DB_CONNECT_IS_PROBE |
		    DB_HAS_SCHEMAS | DB_HAS_CATALOG_SIZES | DB_HAS_TABLE_LOCKS,
	.sql_timestamp = "TIMESTAMP WITH TIME ZONE",
	.sql_now = "pg_catalog.clock_timestamp()",
	/* in the client encoding: a LATIN1 database sends more bytes to a
	 * UTF-8 client than octet_length counts */
	.sql_text_length = "pg_catalog.octet_length(pg_catalog.convert_to(%s, "
			   "pg_catalog.pg_client_encoding()))::text",
	.sql_utc_seconds = "pg_catalog.to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
	.split = sqlsplit, /* PostgreSQL's own scanner */
	.open = pg_open,
	.close = pg_close,
	.probe = pg_probe,
	.read_only = pg_read_only,
	.exec = pg_exec,
	.query_col = pg_query_col,
	.table_exists = pg_table_exists,
	.is_missing = pg_is_missing,
	.cancel = pg_cancel,
	.quote_ident = pg_quote_ident,
	.begin = "BEGIN",
	.tx_status = pg_tx_status,
	.error_aborts_tx = 1,
	.lock = { .try_hold = db_pg_lock_try, .drop = db_pg_lock_release,
		  .holder = db_pg_lock_holder, .prepare = db_pg_lock_prepare,
		  .check = db_pg_lock_check },
};

/* One line of COPY's text format, its first column unescaped; 0 for a
 * NULL (\N). */
static int copy_line(const char *s, int len, struct sbuf *b)
{
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len == 2 && s[0] == '\\' && s[1] == 'N')
		return 0;
	for (int i = 0; i < len && s[i] != '\t'; i++) {
		char c = s[i];

		if (c == '\\' && i + 1 < len) {
			static const char from[] = "btnvfr", to[] = "\b\t\n\v\f\r";
			const char *k = strchr(from, s[++i]);

			c = k && *k ? to[k - from] : s[i];
		}
		sbuf_addc(b, c);
	}
	return 1;
}

int db_pg_copy_out(struct db *db, const char *sql, struct strlist *out, size_t n)
{
	PGconn *conn = conn_of(db);
	PGresult *res;
	size_t k = 0;
	int rc = 0;

	db_clear_error(db);
	if (!PQsendQuery(conn, sql))
		return db_pg_result_failed(db, NULL, NULL, 0);
	while ((res = PQgetResult(conn))) {
		ExecStatusType st = PQresultStatus(res);

		if (st == PGRES_COPY_OUT) {
			char *buf;
			int len;

			while ((len = PQgetCopyData(conn, &buf, 0)) >= 0) {
				struct sbuf b = { 0 };

				if (!rc && k < n && copy_line(buf, len, &b)) {
					char *v = sbuf_detach(&b);

					strlist_push_owned(&out[k], v ? v : xstrdup(""));
				}
				sbuf_free(&b);
				PQfreemem(buf);
			}
			k++;
		} else if (st != PGRES_COMMAND_OK && !rc) {
			rc = db_pg_result_failed(db, res, NULL, 0);
		}
		PQclear(res);
	}
	if (!rc && k != n) {
		snprintf(db->dberr.message, sizeof(db->dberr.message),
			 "%zu COPY results for %zu statements", k, n);
		rc = db_stmt_failed(db);
	}
	return rc;
}
