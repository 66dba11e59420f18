/* db_pg_lock.c - the PostgreSQL driver's lock strategies (SPEC §7.1).
 *
 * Map:
 *   1. helpers       one-row queries, the second connection
 *   2. strategy      db_pg_distributed, the pooler probe, lock.prepare
 *   3. session       pg_try_advisory_lock with its ownership check
 *   4. lease         a row in prestart.migration_lock, renewed by a thread
 *   5. members       lock.try_hold, lock.drop, lock.holder, lock.check
 *
 * A session advisory lock belongs to a server session.  Through a
 * transaction pooler each transaction may run on another server session,
 * and another client's transactions on ours: the lock is then nobody's.
 * The lease is a row instead, which means the same through any pooler,
 * with an expiry the server's clock alone judges.
 *
 * The two exclude each other, so that a fleet where some replicas come
 * through a pooler (lease) and some connect directly (session) still
 * migrates once.  The lease is taken only together with the transaction
 * advisory lock on the session lock's key (pg_try_advisory_xact_lock in
 * the taking statement): it fails while a session holder holds that key,
 * and leaves nothing behind on a pooled server session.  A session holder,
 * once it has the advisory lock, reads the lease row in a statement of its
 * own and gives the lock back while a live lease names the version table.
 * Whichever comes second sees the first: a lease committed before the
 * advisory lock was free is visible to the read that follows it, and an
 * advisory lock held before the lease statement makes that statement fail.
 * Distributed servers (no session holders there) skip the advisory part.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "db_pg_int.h"
#include "prestart/worker.h"

/* goose's figures: a holder renews every 5 s, a lease not renewed for 30 s
 * is free for the taking. */
#define LEASE_RENEW_MS 5000
#define LEASE_TTL_S 30
#define LEASE_TABLE DB_PRESTART_SCHEMA ".migration_lock"
#define STR_(x) #x
#define STR(x) STR_(x)
/* How long a second connection may take to connect when the URL does not
 * say. */
#define SIDE_CONNECT_TIMEOUT "5"

/* ----------------------------------------------------------------------
 * 1. helpers
 */

static struct pg_impl *impl_of(struct db *db)
{
	return db->impl;
}

/* Run sql with up to 3 text parameters; *val (may be NULL) gets the first
 * column of the first row (new string, NULL when no row), *rows the row
 * count or the rows changed.  0, or -1 with db->errstr. */
static int result1(struct db *db, PGresult *res, const char *sql, char **val, long *rows);

static int query1(struct db *db, const char *sql, int n, const char *const *params, char **val,
		  long *rows)
{
	return result1(db, PQexecParams(impl_of(db)->conn, sql, n, NULL, params, NULL, NULL, 0),
		       sql, val, rows);
}

/* Statements prepared on a direct connection (pg_impl.prepared). */
enum { PREP_CHECK = 1u, PREP_LEASE_EXISTS = 2u, PREP_EXISTS_CHECK = 4u };

/* query1, through the statement prepared as name on a backend of our own
 * with many_locks (planned once per connection instead of per tenant's
 * lock); elsewhere (a pooler may run it on another server session), or
 * while a transaction is open and it is not prepared yet, query1 itself. */
static int query1_prepared(struct db *db, unsigned bit, const char *name, const char *sql, int n,
			   const char *const *params, char **val, long *rows)
{
	struct pg_impl *p = impl_of(db);

	if (!p->direct || !p->many_locks)
		return query1(db, sql, n, params, val, rows);
	if (!(p->prepared & bit)) {
		PGresult *res;

		if (PQtransactionStatus(p->conn) != PQTRANS_IDLE)
			return query1(db, sql, n, params, val, rows);
		res = PQprepare(p->conn, name, sql, n, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			PQclear(res);
			return query1(db, sql, n, params, val, rows);
		}
		PQclear(res);
		p->prepared |= bit;
	}
	return result1(db, PQexecPrepared(p->conn, name, n, params, NULL, NULL, 0), sql, val,
		       rows);
}

static int result1(struct db *db, PGresult *res, const char *sql, char **val, long *rows)
{
	ExecStatusType st = PQresultStatus(res);
	int rc = 0;

	if (val)
		*val = NULL;
	if (st == PGRES_TUPLES_OK) {
		if (val && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			*val = xstrdup(PQgetvalue(res, 0, 0));
		if (rows)
			*rows = PQntuples(res);
	} else if (st == PGRES_COMMAND_OK) {
		if (rows)
			*rows = strtol(PQcmdTuples(res), NULL, 10);
	} else {
		rc = db_pg_result_failed(db, res, sql, strlen(sql));
	}
	PQclear(res);
	return rc;
}

static const char *param_of(const struct pg_impl *p, const char *key)
{
	for (size_t i = 0; p->keys && p->keys[i]; i++) {
		if (strcmp(p->keys[i], key) == 0)
			return p->vals[i];
	}
	return NULL;
}

/* A second connection with the first one's parameters (blocking, bounded
 * by connect_timeout).  NULL with why filled when it failed. */
static PGconn *side_connect(const struct pg_impl *p, char *why, size_t n)
{
	size_t k = 0;
	const char **keys, **vals;
	PGconn *c;

	while (p->keys && p->keys[k])
		k++;
	keys = xcalloc(k + 2, sizeof(*keys));
	vals = xcalloc(k + 2, sizeof(*vals));
	for (size_t i = 0; i < k; i++) {
		keys[i] = p->keys[i];
		vals[i] = p->vals[i];
	}
	if (!param_of(p, "connect_timeout") && !getenv("PGCONNECT_TIMEOUT")) {
		keys[k] = "connect_timeout";
		vals[k] = SIDE_CONNECT_TIMEOUT;
	}
	c = PQconnectdbParams(keys, vals, 0);
	free(keys);
	free(vals);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	snprintf(why, n, "%s", c ? PQerrorMessage(c) : "out of memory");
	str_trim(why);
	PQfinish(c);
	return NULL;
}

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run sql on a side connection, giving up at until (monotonic ms): a
 * partitioned network, or a pool with no server session to spare, would
 * keep a blocking call waiting far longer.  The last result, or NULL with
 * why filled (the connection is then unusable: PQfinish it). */
static PGresult *side_exec(PGconn *c, const char *sql, int n, const char *const *params,
			   long long until, char *why, size_t whyn)
{
	PGresult *res, *last = NULL;

	/* Without parameters, the simple protocol: several statements may go
	 * in one round trip. */
	if (!(n ? PQsendQueryParams(c, sql, n, NULL, params, NULL, NULL, 0)
		: PQsendQuery(c, sql))) {
		snprintf(why, whyn, "%s", PQerrorMessage(c));
		return NULL;
	}
	while (PQisBusy(c)) {
		struct pollfd pfd = { PQsocket(c), POLLIN, 0 };
		long long left = until - mono_ms();

		if (left <= 0) {
			snprintf(why, whyn, "no answer from the server");
			return NULL;
		}
		if (poll(&pfd, 1, left > 100 ? 100 : (int)left) < 0 && errno != EINTR) {
			snprintf(why, whyn, "poll: %s", strerror(errno));
			return NULL;
		}
		if (!PQconsumeInput(c)) {
			snprintf(why, whyn, "%s", PQerrorMessage(c));
			return NULL;
		}
	}
	while ((res = PQgetResult(c)) != NULL) {
		PQclear(last);
		last = res;
	}
	if (!last)
		snprintf(why, whyn, "%s", PQerrorMessage(c));
	return last;
}

/* One value of a parameterless query on a side connection within 2 s (new
 * string), or NULL. */
static char *side_value(PGconn *c, const char *sql)
{
	char why[256];
	PGresult *res = side_exec(c, sql, 0, NULL, mono_ms() + 2000, why, sizeof(why));
	char *v = NULL;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		v = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

/* ----------------------------------------------------------------------
 * 2. strategy
 */

const char *db_pg_distributed(const char *version)
{
	if (!version)
		return NULL;
	/* "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, ...)";
	 * "PostgreSQL 11.2-YB-2.20.1.0-b0 on x86_64-pc-linux-gnu, ...". */
	if (strncasecmp(version, "CockroachDB", 11) == 0)
		return "CockroachDB";
	for (const char *s = version; *s; s++) {
		if (strncmp(s, "-YB-", 4) == 0 || strncasecmp(s, "YugabyteDB", 10) == 0)
			return "YugabyteDB";
	}
	return NULL;
}

/* Does a transaction pooler stand between us and the server?  Through one,
 * a client's statements run on whichever server session is free: a
 * second client that opens a transaction right after our statement gets
 * the session we just used (PgBouncer hands out the most recently freed
 * one), and our next statement then runs elsewhere.  A direct connection
 * or a session pooler shows neither.  Other clients of the pool can hide
 * it once, so it is asked a few times.  1 pooled, 0 not seen, -1 on errors
 * of the main connection. */
#define PROBE_ROUNDS 3

static int pooler_probe(struct db *db)
{
	struct pg_impl *p = impl_of(db);
	char why[256];
	PGconn *side;
	PGresult *res;
	int pooled = 0;

	/* Not being able to open a second connection (max_connections, a
	 * pool at its limit) proves nothing: the check after taking the lock
	 * stays. */
	side = side_connect(p, why, sizeof(why));
	for (int round = 0; round < PROBE_ROUNDS && !pooled; round++) {
		char *a1 = NULL, *a2 = NULL, *b = NULL;

		if (query1(db, "SELECT pg_catalog.pg_backend_pid()", 0, NULL, &a1, NULL) < 0) {
			pooled = -1;
			break;
		}
		if (side) {
			/* No answer in time (a session pool with no server
			 * session to spare): inconclusive, and the side
			 * connection is given up. */
			b = side_value(side, "BEGIN; SELECT pg_catalog.pg_backend_pid()");
			if (!b) {
				PQfinish(side);
				side = NULL;
			}
		}
		if (query1(db, "SELECT pg_catalog.pg_backend_pid()", 0, NULL, &a2, NULL) < 0)
			pooled = -1;
		else if (a1 && a2)
			pooled = strcmp(a1, a2) != 0 || (b && strcmp(a1, b) == 0);
		if (side) {
			res = side_exec(side, "ROLLBACK", 0, NULL, mono_ms() + 2000, why,
					sizeof(why));
			PQclear(res);
		}
		free(a1);
		free(a2);
		free(b);
	}
	PQfinish(side);
	return pooled;
}

/* Refuse a lock table another role made or can run code through (its
 * triggers would run with our privileges): -1 with errstr, else 0 (also
 * when there is none). */
static int lease_table_trusted(struct db *db)
{
	char why[256];

	if (db_table_trusted(db, DB_PRESTART_SCHEMA, "migration_lock", why, sizeof(why)) < 0)
		return -1;
	if (why[0])
		return db_set_errstr(db, "the lock table " LEASE_TABLE " %s: prestart will not use "
				     "it (its triggers would run with prestart's privileges); drop it",
				     why);
	return 0;
}

static int ensure_lease_table(struct db *db)
{
	char *v = NULL;
	int rc;

	if (db_ensure_schema(db, DB_PRESTART_SCHEMA) < 0)
		return -1;
	if (query1(db, "SELECT pg_catalog.to_regclass('" LEASE_TABLE "')::text", 0, NULL, &v,
		   NULL) < 0)
		return -1;
	rc = v ? 0 : 1;
	free(v);
	if (rc == 0)
		return lease_table_trusted(db);
	rc = query1(db,
		    "CREATE TABLE IF NOT EXISTS " LEASE_TABLE " ("
		    "name text PRIMARY KEY, owner text NOT NULL, holder text NOT NULL, "
		    "acquired_at timestamptz NOT NULL, renewed_at timestamptz NOT NULL, "
		    "expires_at timestamptz NOT NULL)",
		    0, NULL, NULL, NULL);
	/* Created by another replica at the same moment, which IF NOT EXISTS
	 * does not cover (23505 on the catalog, 42P07, 42710 on its row
	 * type): there it is. */
	if (rc < 0 && (!strcmp(db->dberr.sqlstate, "23505") ||
		       !strcmp(db->dberr.sqlstate, "42P07") ||
		       !strcmp(db->dberr.sqlstate, "42710")))
		rc = 0;
	if (rc < 0)
		db_set_errstr(db, "cannot create the lock table " LEASE_TABLE ": %s",
			      db->dberr.message);
	/* IF NOT EXISTS: another role may have made it meanwhile. */
	return rc < 0 ? rc : lease_table_trusted(db);
}

/* The server's version() and whether our connection's backend key names
 * the backend we talk to.  A pooler or proxy answers the startup with a
 * key of its own (PgBouncer's is random): behind one, which server session
 * runs our next statement is the pooler's choice.  -1 on errors. */
static int server_facts(struct db *db, char **version, int *proxied)
{
	PGresult *res = PQexec(impl_of(db)->conn,
			       "SELECT pg_catalog.version(), pg_catalog.pg_backend_pid()");
	int rc = 0;

	*version = NULL;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = db_pg_result_failed(db, res, NULL, 0);
	} else {
		*version = xstrdup(PQgetvalue(res, 0, 0));
		*proxied = atoi(PQgetvalue(res, 0, 1)) != PQbackendPID(impl_of(db)->conn);
	}
	PQclear(res);
	return rc;
}

int db_pg_lock_prepare(struct db *db, struct lock_key *k)
{
	char *version = NULL, reason[256] = "";
	const char *dist;
	int proxied = 0, pooled;

	/* The server, its proxy and the lease table's owner do not change
	 * under one connection: settled once for it. */
	if (impl_of(db)->session_ok && k->strategy != LOCK_LEASE) {
		k->strategy = LOCK_SESSION;
		return 0;
	}
	/* Asked for every strategy: the lease leaves the advisory part out
	 * on a distributed server. */
	if (server_facts(db, &version, &proxied) < 0)
		return -1;
	dist = db_pg_distributed(version);
	free(version);
	impl_of(db)->no_advisory = dist != NULL;
	if (k->strategy != LOCK_LEASE) {
		if (dist && k->strategy == LOCK_SESSION) {
			db_set_errstr(db, "the server is %s, whose advisory locks do not exclude "
				      "other sessions: use --lock-strategy lease (or auto)", dist);
			return LOCK_PREP_UNUSABLE;
		}
		if (dist) {
			snprintf(reason, sizeof(reason), "the server is %s", dist);
		} else if (proxied && k->strategy == LOCK_AUTO) {
			/* Session or transaction pooling cannot be told apart
			 * for certain from here; the lease holds through both. */
			snprintf(reason, sizeof(reason),
				 "a connection pooler stands between prestart and the server "
				 "(its backend key is not the server's)");
		} else if (!proxied) {
			/* A real backend of our own: the session lock is ours. */
			k->strategy = LOCK_SESSION;
			impl_of(db)->direct = 1;
		} else {
			/* Asked for the session lock through a proxy: fine in
			 * session pooling, hopeless in transaction pooling. */
			if ((pooled = pooler_probe(db)) < 0)
				return -1;
			if (pooled) {
				db_set_errstr(db,
					      "a session lock cannot be held through a transaction "
					      "pooler (each transaction may run on another server "
					      "session): use --lock-strategy lease (or auto), or "
					      "connect directly or through a session-mode pool");
				return LOCK_PREP_UNUSABLE;
			}
			k->strategy = LOCK_SESSION;
		}
		if (k->strategy == LOCK_SESSION) {
			/* The session holder reads the lease table (a mixed
			 * fleet): it must be one we may read. */
			if (lease_table_trusted(db) < 0)
				return db->dberr.sqlstate[0] ? -1 : LOCK_PREP_NO_TABLE;
			impl_of(db)->session_ok = 1;
			return 0;
		}
		k->strategy = LOCK_LEASE;
	}
	if (ensure_lease_table(db) < 0)
		return LOCK_PREP_NO_TABLE;
	/* lock.c logs why auto chose the lease. */
	db_clear_error(db);
	if (reason[0])
		db_set_errstr(db, "%s", reason);
	return 0;
}

/* ----------------------------------------------------------------------
 * 3. session
 */

/* pg_locks' view of a bigint key: classid (high half), objid (low half),
 * objsubid 1, in our database. */
#define ADVISORY_MATCH                                                              \
	"l.locktype = 'advisory' AND l.granted AND l.classid = %llu AND l.objid = %llu " \
	"AND l.objsubid = 1 AND l.database = "                                          \
	"(SELECT oid FROM pg_database WHERE datname = current_database())"

static int live_lease(struct db *db, const struct lock_key *k, int *live);
static int session_release(struct db *db, const struct lock_key *k);

static int session_try(struct db *db, const struct lock_key *k, int *got)
{
	char id[24];
	const char *params[1] = { id };
	PGresult *res;
	int rc = 0;

	/* Polled, never the blocking pg_advisory_lock, never inside a
	 * transaction: both deadlock with CREATE INDEX CONCURRENTLY in
	 * another replica.  The backend's pid comes back with it for the
	 * ownership check. */
	snprintf(id, sizeof(id), "%lld", k->id);
	impl_of(db)->prechecked = 0;
	res = PQexecParams(impl_of(db)->conn,
			   "SELECT pg_catalog.pg_try_advisory_lock($1::bigint), "
			   "pg_catalog.pg_backend_pid()",
			   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = db_pg_result_failed(db, res, NULL, 0);
	} else {
		*got = PQgetvalue(res, 0, 0)[0] == 't';
		if (*got)
			impl_of(db)->lock_pid = atoi(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	if (rc == 0 && *got) {
		int live = 0;

		/* A lease holder (a replica behind a pooler) may be
		 * migrating: then the lock is not ours to keep. */
		if ((rc = live_lease(db, k, &live)) < 0 || live) {
			char why[sizeof(db->errstr)];

			snprintf(why, sizeof(why), "%s", db->errstr);
			session_release(db, k);
			*got = 0;
			db_clear_error(db);
			if (rc < 0)
				db_set_errstr(db, "cannot read the lease table: %s", why);
		}
	}
	return rc;
}

/* The ownership check with the key as parameters ($1 the pid, $2 and $3
 * the key's halves): one prepared statement for every key. */
#define CHECK_OWNED                                                                 \
	"pg_catalog.pg_backend_pid() = $1::int AND EXISTS ("                            \
	"SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = "                            \
	"pg_catalog.pg_backend_pid() AND l.locktype = 'advisory' AND "                   \
	"l.granted AND l.classid = $2::oid AND l.objid = $3::oid AND "                   \
	"l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "                  \
	"WHERE datname = current_database()))"
#define CHECK_PREPARED "SELECT " CHECK_OWNED

static int session_check(struct db *db, const struct lock_key *k, int *held)
{
	unsigned long long id = (unsigned long long)k->id;
	char pid[16], *sql, *v = NULL;
	const char *params[1] = { pid };
	int rc;

	snprintf(pid, sizeof(pid), "%d", impl_of(db)->lock_pid);
	if (impl_of(db)->prechecked && impl_of(db)->precheck_id == k->id) {
		/* answered by the statement right after the lock was taken */
		impl_of(db)->prechecked = 0;
		v = xstrdup(impl_of(db)->precheck_held ? "t" : "f");
		rc = 0;
	} else if (impl_of(db)->direct && impl_of(db)->many_locks) {
		/* the key as parameters: one statement for every key */
		char hi[16], lo[16];
		const char *three[3] = { pid, hi, lo };

		snprintf(hi, sizeof(hi), "%llu", id >> 32);
		snprintf(lo, sizeof(lo), "%llu", id & 0xffffffffULL);
		rc = query1_prepared(db, PREP_CHECK, "prestart_lock_check",
				     CHECK_PREPARED,
				     3, three, &v, NULL);
	} else {
		sql = xasprintf("SELECT pg_catalog.pg_backend_pid() = $1::int AND EXISTS ("
				"SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = "
				"pg_catalog.pg_backend_pid() AND " ADVISORY_MATCH ")",
				id >> 32, id & 0xffffffffULL);
		rc = query1(db, sql, 1, params, &v, NULL);
		free(sql);
	}
	if (rc < 0)
		return -1;
	*held = v && v[0] == 't';
	free(v);
	if (!*held)
		impl_of(db)->session_ok = impl_of(db)->direct = 0;
	if (!*held)
		db_set_errstr(db, "the advisory lock is no longer held by this session "
			      "(a transaction pooler between prestart and the server?)");
	return 0;
}

static int session_release(struct db *db, const struct lock_key *k)
{
	char id[24], *v = NULL;
	const char *params[1] = { id };

	snprintf(id, sizeof(id), "%lld", k->id);
	impl_of(db)->lock_pid = 0;
	impl_of(db)->prechecked = 0;
	if (query1(db, "SELECT pg_catalog.pg_advisory_unlock($1::bigint)", 1, params, &v, NULL) <
	    0)
		return -1;
	if (!(v && v[0] == 't')) {
		free(v);
		return db_set_errstr(db, "advisory lock %lld was not held by this session", k->id);
	}
	free(v);
	return 0;
}

static int session_holder(struct db *db, const struct lock_key *k, char *buf, size_t n)
{
	unsigned long long id = (unsigned long long)k->id;
	char *sql, *v = NULL;
	int rc;

	/* Another role's sessions show NULL for most pg_stat_activity columns
	 * (only application_name and pid are public): coalesce each part so
	 * the holder is still named. */
	sql = xasprintf("SELECT coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) || "
			"' (pid ' || l.pid || coalesce(', from ' || host(a.client_addr), '') || "
			"coalesce(', connected since ' || "
			"to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '') || ')' "
			"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
			"WHERE " ADVISORY_MATCH,
			id >> 32, id & 0xffffffffULL);
	rc = query1(db, sql, 0, NULL, &v, NULL);
	if (rc == 0 && v)
		snprintf(buf, n, "%s", v);
	free(v);
	free(sql);
	return rc;
}

/* ----------------------------------------------------------------------
 * 4. lease
 */

struct pg_lease {
	struct worker w;       /* the renewal thread */
	atomic_int lost;       /* set by the thread; read by lock.check */
	char why[256];         /* under w.mu: how it was lost */
	char name[512];        /* the lock's name (the version table's) */
	char owner[40];        /* this holder's random token */
	struct pg_impl *p;     /* its keys/vals and cancel; outlives the thread */
	PGconn *conn;          /* the renewal connection, the thread's own */
};

static void lease_name(const struct lock_key *k, char *buf, size_t n)
{
	snprintf(buf, n, "%s.%s", k->schema ? k->schema : "public", k->table);
}

static void random_token(char *buf, size_t n)
{
	unsigned char raw[16];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, raw, sizeof(raw)) : -1;

	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof(raw)) {
		/* Unique enough among replicas: the token only tells holders
		 * apart, it guards nothing. */
		unsigned long long x = (unsigned long long)mono_ms() * 6364136223846793005ULL ^
				       (unsigned long long)getpid() << 20;

		for (size_t i = 0; i < sizeof(raw); i++, x = x * 6364136223846793005ULL + 1)
			raw[i] = (unsigned char)(x >> 56);
	}
	for (size_t i = 0; i < sizeof(raw) && 2 * i + 2 < n; i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
}

/* Renew once on the thread's connection, giving up at until (monotonic
 * ms).  1 renewed, 0 the row is no longer ours, -1 no answer or an error
 * (why filled; the connection is dropped, to be made again). */
static int lease_renew(struct pg_lease *l, long long until, char *why, size_t n)
{
	const char *params[2] = { l->name, l->owner };
	PGresult *res;
	int rc;

	if (!l->conn && !(l->conn = side_connect(l->p, why, n)))
		return -1;
	res = side_exec(l->conn,
			"UPDATE " LEASE_TABLE " SET renewed_at = clock_timestamp(), "
			"expires_at = clock_timestamp() + interval '" STR(LEASE_TTL_S)
			" seconds' WHERE name = $1 AND owner = $2 "
			"AND expires_at > clock_timestamp()",
			2, params, until, why, n);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		rc = strtol(PQcmdTuples(res), NULL, 10) == 1;
		PQclear(res);
		return rc;
	}
	if (res)
		snprintf(why, n, "%s", PQresultErrorMessage(res));
	PQclear(res);
	str_trim(why);
	PQfinish(l->conn);
	l->conn = NULL;
	return -1;
}

static void lease_main(struct worker *w, void *arg)
{
	struct pg_lease *l = arg;
	long long renewed = mono_ms(), next = renewed + LEASE_RENEW_MS;

	while (!worker_sleep_until(w, next)) {
		/* Measured from before sending: the server's expiry is at
		 * least that late. */
		long long now = mono_ms();
		char why[256] = "";
		int r = lease_renew(l, renewed + LEASE_TTL_S * 1000LL, why, sizeof(why));

		if (r == 1) {
			renewed = now;
			next = now + LEASE_RENEW_MS;
			continue;
		}
		pthread_mutex_lock(&w->mu);
		if (r == 0)
			snprintf(l->why, sizeof(l->why),
				 "the lease expired and another process took it");
		else if (mono_ms() >= renewed + LEASE_TTL_S * 1000LL)
			snprintf(l->why, sizeof(l->why), "the lease was not renewed within %d s: %.200s",
				 LEASE_TTL_S, why);
		else {
			pthread_mutex_unlock(&w->mu);
			next = mono_ms() + 1000; /* try again soon */
			continue;
		}
		pthread_mutex_unlock(&w->mu);
		atomic_store(&l->lost, 1);
		/* The holder stops before its next statement; one running now
		 * is cancelled, so that it does not go on unguarded. */
		if (l->p->cancel) {
			char errbuf[256];

			PQcancel(l->p->cancel, errbuf, (int)sizeof(errbuf));
		}
		break;
	}
}

static int lease_try(struct db *db, const struct lock_key *k, int *got)
{
	struct pg_impl *p = impl_of(db);
	struct pg_lease *l = xcalloc(1, sizeof(*l));
	const char *app = param_of(p, "application_name");
	char holder[512], id[24], *v = NULL;
	const char *params[4];
	int rc;

	lease_name(k, l->name, sizeof(l->name));
	random_token(l->owner, sizeof(l->owner));
	snprintf(holder, sizeof(holder), "%s (pid %ld)", app ? app : "prestart", (long)getpid());
	snprintf(id, sizeof(id), "%lld", k->id);
	params[0] = l->name;
	params[1] = l->owner;
	params[2] = holder;
	params[3] = p->no_advisory ? NULL : id;
	/* One statement, the server's clock only: a free name or an expired
	 * lease becomes ours; a live one is left alone and no row returns.
	 * Nor does one while a session holder has the advisory key (the
	 * transaction lock fails then, and ends with this statement). */
	rc = query1(db,
		    "INSERT INTO " LEASE_TABLE " AS l (name, owner, holder, acquired_at, "
		    "renewed_at, expires_at) SELECT $1, $2, $3, clock_timestamp(), "
		    "clock_timestamp(), clock_timestamp() + interval '" STR(LEASE_TTL_S)
		    " seconds' WHERE $4::bigint IS NULL OR "
		    "pg_catalog.pg_try_advisory_xact_lock($4::bigint) "
		    "ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, "
		    "holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at, "
		    "renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at "
		    "WHERE l.expires_at <= clock_timestamp() RETURNING l.owner",
		    4, params, &v, NULL);
	if (rc < 0 || !v) {
		free(v);
		free(l);
		return rc;
	}
	free(v);
	l->p = p;
	if ((rc = worker_start(&l->w, lease_main, l)) != 0) {
		query1(db, "DELETE FROM " LEASE_TABLE " WHERE name = $1 AND owner = $2", 2, params,
		       NULL, NULL);
		free(l);
		return db_set_errstr(db, "cannot start the lease renewal: %s", strerror(rc));
	}
	p->lease = l;
	*got = 1;
	return 0;
}

/* Stop the renewal thread and free the lease (the row stays). */
static void lease_stop(struct pg_impl *p)
{
	struct pg_lease *l = p->lease;

	if (!l)
		return;
	worker_stop(&l->w);
}

static void lease_free(struct pg_impl *p)
{
	if (p->lease && p->lease->conn)
		PQfinish(p->lease->conn);
	free(p->lease);
	p->lease = NULL;
}

static int lease_release(struct db *db, const struct lock_key *k)
{
	struct pg_impl *p = impl_of(db);
	struct pg_lease *l = p->lease;
	const char *params[2];
	long rows = 0;
	int lost, rc;

	(void)k;
	if (!l)
		return db_set_errstr(db, "the lease was not held");
	lease_stop(p);
	lost = atomic_load(&l->lost);
	params[0] = l->name;
	params[1] = l->owner;
	rc = query1(db, "DELETE FROM " LEASE_TABLE " WHERE name = $1 AND owner = $2", 2, params,
		    NULL, &rows);
	if (rc == 0 && rows != 1)
		rc = db_set_errstr(db, "the lease was no longer ours%s%s", lost ? ": " : "",
				   lost ? l->why : "");
	lease_free(p);
	return rc;
}

void db_pg_lock_drop(struct pg_impl *p)
{
	struct pg_lease *l = p->lease;

	if (!l)
		return;
	lease_stop(p);
	/* Closing without a release (an error path): give the lease back if
	 * the renewal connection still works, else it expires. */
	if (l->conn && !atomic_load(&l->lost)) {
		const char *params[2] = { l->name, l->owner };
		PGresult *res = PQexecParams(l->conn,
					     "DELETE FROM " LEASE_TABLE
					     " WHERE name = $1 AND owner = $2",
					     2, NULL, params, NULL, NULL, 0);

		PQclear(res);
	}
	lease_free(p);
}

static int lease_check(struct db *db, const struct lock_key *k, int *held)
{
	struct pg_lease *l = impl_of(db)->lease;
	const char *params[2];
	long rows = 0;

	(void)k;
	*held = 0;
	if (!l)
		return db_set_errstr(db, "the lease is not held");
	if (atomic_load(&l->lost)) {
		pthread_mutex_lock(&l->w.mu);
		db_set_errstr(db, "%s", l->why);
		pthread_mutex_unlock(&l->w.mu);
		return 0;
	}
	params[0] = l->name;
	params[1] = l->owner;
	if (query1(db,
		   "SELECT 1 FROM " LEASE_TABLE " WHERE name = $1 AND owner = $2 "
		   "AND expires_at > clock_timestamp()",
		   2, params, NULL, &rows) < 0)
		return -1;
	*held = rows == 1;
	if (!*held)
		db_set_errstr(db, "the lease expired");
	return 0;
}

/* Does the lease table exist (*yes)?  A session holder's database may
 * never have had a lease. */
static int lease_table_exists(struct db *db, int *yes)
{
	char *v = NULL;

	/* By name in the catalog: to_regclass would fail without USAGE on
	 * the schema. */
	if (query1_prepared(db, PREP_LEASE_EXISTS, "prestart_lease_exists",
			    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN "
			    "pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '"
			    DB_PRESTART_SCHEMA "' AND c.relname = 'migration_lock')",
			    0, NULL, &v, NULL) < 0)
		return -1;
	*yes = v && v[0] == 't';
	free(v);
	return 0;
}

/* Is a lease on k's name live (held by a lease holder)?  Read in a
 * statement after the advisory lock was taken, so that it sees every lease
 * taken before. */
/* lease_table_exists on a many_locks direct connection, right after the
 * session lock was taken: the ownership check of k rides in the same
 * statement (both read after the lock), its answer kept for lock.c's
 * check that follows (pg_impl.prechecked).  One round trip instead of
 * two per tenant. */
static int exists_and_check(struct db *db, const struct lock_key *k, int *exists)
{
	static const char sql[] =
		"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN "
		"pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = '"
		DB_PRESTART_SCHEMA "' AND c.relname = 'migration_lock'), " CHECK_OWNED;
	struct pg_impl *p = impl_of(db);
	unsigned long long id = (unsigned long long)k->id;
	char pid[16], hi[16], lo[16];
	const char *params[3] = { pid, hi, lo };
	PGresult *res;
	int rc = 0;

	/* the checks that follow, inside the transaction, prepared now */
	if (!(p->prepared & PREP_CHECK)) {
		res = PQprepare(p->conn, "prestart_lock_check", CHECK_PREPARED, 3, NULL);
		if (PQresultStatus(res) == PGRES_COMMAND_OK)
			p->prepared |= PREP_CHECK;
		PQclear(res);
	}
	if (!(p->prepared & PREP_EXISTS_CHECK)) {
		res = PQprepare(p->conn, "prestart_lease_check", sql, 3, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			PQclear(res);
			return lease_table_exists(db, exists);
		}
		PQclear(res);
		p->prepared |= PREP_EXISTS_CHECK;
	}
	snprintf(pid, sizeof(pid), "%d", p->lock_pid);
	snprintf(hi, sizeof(hi), "%llu", id >> 32);
	snprintf(lo, sizeof(lo), "%llu", id & 0xffffffffULL);
	res = PQexecPrepared(p->conn, "prestart_lease_check", 3, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 2) {
		rc = db_pg_result_failed(db, res, sql, strlen(sql));
	} else {
		*exists = PQgetvalue(res, 0, 0)[0] == 't';
		p->precheck_held = PQgetvalue(res, 0, 1)[0] == 't';
		p->precheck_id = k->id;
		p->prechecked = 1;
	}
	PQclear(res);
	return rc;
}

static int live_lease(struct db *db, const struct lock_key *k, int *live)
{
	char name[512];
	const char *params[1] = { name };
	long rows = 0;
	int exists = 0;

	*live = 0;
	if (impl_of(db)->direct && impl_of(db)->many_locks &&
	    PQtransactionStatus(impl_of(db)->conn) == PQTRANS_IDLE) {
		if (exists_and_check(db, k, &exists) < 0)
			return -1;
	} else if (lease_table_exists(db, &exists) < 0) {
		return -1;
	}
	if (!exists)
		return 0;
	if (lease_table_trusted(db) < 0)
		return -1;
	lease_name(k, name, sizeof(name));
	if (query1(db,
		   "SELECT 1 FROM " LEASE_TABLE " WHERE name = $1 "
		   "AND expires_at > clock_timestamp()",
		   1, params, NULL, &rows) < 0)
		return -1;
	*live = rows > 0;
	return 0;
}

static int lease_holder(struct db *db, const struct lock_key *k, char *buf, size_t n)
{
	char name[512], *v = NULL;
	const char *params[1] = { name };
	int rc, exists = 0;

	if (lease_table_exists(db, &exists) < 0)
		return -1;
	if (!exists)
		return 0;
	lease_name(k, name, sizeof(name));
	rc = query1(db,
		    "SELECT holder || ', lease since ' || "
		    "to_char(acquired_at, 'YYYY-MM-DD HH24:MI:SS TZ') || ', expires in ' || "
		    "ceil(extract(epoch FROM expires_at - clock_timestamp())) || ' s' "
		    "FROM " LEASE_TABLE " WHERE name = $1 AND expires_at > clock_timestamp()",
		    1, params, &v, NULL);
	if (rc == 0 && v)
		snprintf(buf, n, "%s", v);
	free(v);
	return rc;
}

/* ----------------------------------------------------------------------
 * 5. members
 */

int db_pg_lock_try(struct db *db, const struct lock_key *k, int *got)
{
	if (k->strategy == LOCK_LEASE)
		return lease_try(db, k, got);
	return session_try(db, k, got);
}

int db_pg_lock_release(struct db *db, const struct lock_key *k)
{
	if (k->strategy == LOCK_LEASE)
		return lease_release(db, k);
	return session_release(db, k);
}

int db_pg_lock_holder(struct db *db, const struct lock_key *k, char *buf, size_t n)
{
	/* The holder may hold either kind (a mixed fleet): ours first. */
	int rc = k->strategy == LOCK_LEASE ? lease_holder(db, k, buf, n)
					   : session_holder(db, k, buf, n);

	if (rc == 0 && !buf[0])
		rc = k->strategy == LOCK_LEASE ? session_holder(db, k, buf, n)
					       : lease_holder(db, k, buf, n);
	return rc;
}

int db_pg_lock_check(struct db *db, const struct lock_key *k, int *held)
{
	if (k->strategy == LOCK_LEASE)
		return lease_check(db, k, held);
	return session_check(db, k, held);
}
