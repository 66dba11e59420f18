/* observer.c - who blocks the migration's backend, and how far its CREATE
 * INDEX is, from one second connection (observer.h).
 *
 * Map: the two questions, then the worker's loop, then start/take/stop. */
#include "prestart/observer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/blockers.h"
#include "prestart/log.h"
#include "prestart/worker.h"

#define BLOCKERS_MAX 8

/* The bound on a statement outside a transaction (observer_bound): under
 * w.mu, but for what only the thread touches. */
struct bound {
	struct db *db;        /* the migration's: cancelled when the bound hits */
	char *match;          /* SQL: the condition naming the statement's backend */
	long long limit_ms;
	unsigned gen;         /* which arming the thread's answer belongs to */
	int armed, fired;
	/* Only the thread: servers before 14 have no pg_locks.waitstart, so
	 * the wait is timed here from the first look that saw it. */
	long long waiting_since;
};

struct observer {
	struct worker w;
	char *last;           /* under w.mu: the last non-empty answer, or NULL */
	struct bound bound;
	int server_version;   /* the thread's: server_version_num, 0 unknown */
	const struct dburl *u;
	struct db_opts o;
	char *progress_sql;   /* NULL: progress is not read */
	long pid;
	long long blockers_ms, progress_ms;
	struct status *st;
	struct db db;
};

/* ---- the two questions ---- */

/* Who blocks: the answer as a log line and as JSON (both "" when nobody
 * blocks). */
static int ask_blockers(struct observer *ob, struct sbuf *line, struct sbuf *json)
{
	struct strlist rows = { 0 };
	char *sql = xasprintf(blockers_sql, ob->pid);
	size_t n = 0;
	int rc = db_query_col(&ob->db, sql, &rows);

	free(sql);
	if (rc < 0) {
		strlist_free(&rows);
		return -1;
	}
	for (size_t i = 0; i < rows.n && n < BLOCKERS_MAX; i++) {
		struct blocker k;

		if (blockers_parse(rows.v[i], &k) < 0)
			continue;
		if (n++) {
			sbuf_adds(line, "; ");
			sbuf_addc(json, ',');
		}
		blockers_format(line, &k);
		blockers_json(json, &k);
	}
	strlist_free(&rows);
	return 0;
}

static int look_for_blockers(struct observer *ob)
{
	struct sbuf line = { 0 }, json = { 0 };
	int rc = ask_blockers(ob, &line, &json);

	if (rc == 0 && line.len) {
		char *j = xasprintf("[%s]", json.buf);

		if (ob->st)
			status_set_blockers(ob->st, j);
		free(j);
		pthread_mutex_lock(&ob->w.mu);
		free(ob->last);
		ob->last = xstrdup(line.buf);
		pthread_mutex_unlock(&ob->w.mu);
	}
	sbuf_free(&line);
	sbuf_free(&json);
	return rc;
}

/* One line ("CREATE INDEX on t: building index: scanning table, blocks
 * 10/40"), "" when no CREATE INDEX runs. */
static int look_at_progress(struct observer *ob)
{
	struct strlist rows = { 0 };
	int rc = db_query_col(&ob->db, ob->progress_sql, &rows);

	if (rc == 0)
		status_set_index_progress(ob->st, rows.n ? rows.v[0] : "");
	strlist_free(&rows);
	return rc;
}

/* Is the bounded statement's backend waiting for a lock for longer than
 * its bound?  Then the migration's statement is cancelled, unless it ended
 * (and the bound was lifted) meanwhile. */
static int check_bound(struct observer *ob)
{
	struct strlist rows = { 0 };
	unsigned gen;
	char *sql;
	long long limit;
	int waiting;

	pthread_mutex_lock(&ob->w.mu);
	if (!ob->bound.armed || ob->bound.fired) {
		pthread_mutex_unlock(&ob->w.mu);
		return 0;
	}
	gen = ob->bound.gen;
	limit = ob->bound.limit_ms;
	if (ob->server_version >= 140000)
		sql = xasprintf("SELECT a.pid FROM pg_catalog.pg_stat_activity a WHERE %s AND EXISTS ("
				"SELECT 1 FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND NOT "
				"l.granted AND l.waitstart <= pg_catalog.clock_timestamp() - "
				"interval '%lld milliseconds')",
				ob->bound.match, limit);
	else
		sql = xasprintf("SELECT a.pid FROM pg_catalog.pg_stat_activity a WHERE %s "
				"AND a.wait_event_type = 'Lock'",
				ob->bound.match);
	pthread_mutex_unlock(&ob->w.mu);
	if (db_query_col(&ob->db, sql, &rows) < 0) {
		free(sql);
		strlist_free(&rows);
		return -1;
	}
	free(sql);
	waiting = rows.n > 0;
	strlist_free(&rows);
	pthread_mutex_lock(&ob->w.mu);
	if (ob->bound.armed && ob->bound.gen == gen && !ob->bound.fired) {
		if (ob->server_version < 140000) {
			if (!waiting)
				ob->bound.waiting_since = 0;
			else if (!ob->bound.waiting_since)
				ob->bound.waiting_since = now_ms();
			waiting = waiting && now_ms() - ob->bound.waiting_since >= limit;
		}
		if (waiting) {
			/* Under mu: once observer_unbound() returns, no cancel
			 * can reach a later statement. */
			db_cancel(ob->bound.db);
			ob->bound.fired = 1;
		}
	}
	pthread_mutex_unlock(&ob->w.mu);
	return 0;
}

static void read_server_version(struct observer *ob)
{
	struct strlist v = { 0 };

	if (db_query_col(&ob->db, "SELECT pg_catalog.current_setting('server_version_num')",
			 &v) == 0 && v.n == 1)
		ob->server_version = atoi(v.v[0]);
	strlist_free(&v);
}

/* ---- the worker ---- */

static int quitting(void *arg)
{
	return worker_stopping(arg);
}

static void observe(struct worker *w, void *arg)
{
	struct observer *ob = arg;
	long long now = now_ms();
	long long next_b = ob->blockers_ms ? now : -1, next_p = ob->progress_sql ? now : -1;
	int open = 0;

	for (;;) {
		long long next = next_b < 0 ? next_p : next_p < 0 || next_b < next_p ? next_b : next_p;
		int rc = 0;

		if (worker_sleep_until(w, next))
			break;
		if (!open) {
			open = db_open(&ob->db, ob->u, &ob->o) == 0;
			if (!open)
				db_close(&ob->db);
			else
				read_server_version(ob);
		}
		now = now_ms();
		if (open && next_b >= 0 && now >= next_b)
			rc = check_bound(ob);
		if (open && rc == 0 && next_b >= 0 && now >= next_b)
			rc = look_for_blockers(ob);
		if (open && rc == 0 && next_p >= 0 && now >= next_p)
			rc = look_at_progress(ob);
		if (rc < 0 && db_connection_lost(&ob->db)) {
			db_close(&ob->db);
			open = 0;
		}
		/* Each cadence from its own last look: a slow answer to one
		 * question does not make the other ask twice. */
		if (next_b >= 0 && now >= next_b)
			next_b = now + ob->blockers_ms;
		if (next_p >= 0 && now >= next_p)
			next_p = now + ob->progress_ms;
	}
	if (open)
		db_close(&ob->db);
}

/* ---- start, take, stop ---- */

static void observer_free(struct observer *ob)
{
	free(ob->bound.match);
	free(ob->progress_sql);
	free(ob->last);
	free(ob);
}

struct observer *observer_start(struct db *migrating, const struct dburl *u,
				const struct observer_opts *o, struct status *st)
{
	struct observer *ob;
	struct strlist pid = { 0 };
	int blockers = o->blockers_ms > 0 && db_supports(migrating, DB_HAS_BLOCKERS);
	int progress = o->progress_ms > 0 && st && db_supports(migrating, DB_HAS_INDEX_PROGRESS);
	int rc;

	if (!blockers && !progress)
		return NULL;
	if (db_query_col(migrating, "SELECT pg_backend_pid()", &pid) < 0 || pid.n != 1) {
		strlist_free(&pid);
		return NULL;
	}
	ob = xcalloc(1, sizeof(*ob));
	ob->pid = strtol(pid.v[0], NULL, 10);
	strlist_free(&pid);
	ob->u = u;
	ob->o.application_name = OBSERVER_APPLICATION_NAME;
	ob->o.connect_timeout_s = o->connect_timeout_s;
	/* Its own stop test: the migration's signal flag ends the run, and
	 * observer_stop() this thread. */
	ob->o.interrupted = quitting;
	ob->o.interrupted_arg = &ob->w;
	ob->blockers_ms = blockers ? o->blockers_ms : 0;
	ob->progress_ms = o->progress_ms;
	if (progress)
		ob->progress_sql = xasprintf(
			"SELECT p.command || ' on ' || p.relid::regclass || ': ' || p.phase || "
			"CASE WHEN p.blocks_total > 0 THEN ', blocks ' || p.blocks_done || '/' || "
			"p.blocks_total ELSE '' END || "
			"CASE WHEN p.tuples_total > 0 THEN ', tuples ' || p.tuples_done || '/' || "
			"p.tuples_total ELSE '' END "
			"FROM pg_stat_progress_create_index p WHERE p.pid = %ld",
			ob->pid);
	ob->st = st;
	if ((rc = worker_start(&ob->w, observe, ob)) != 0) {
		log_event(LOG_WARN, "blockers", NULL, "cannot start the blockers watcher: %s",
			  strerror(rc));
		observer_free(ob);
		return NULL;
	}
	return ob;
}

char *observer_blockers_take(struct observer *ob)
{
	char *s;

	if (!ob)
		return xstrdup("");
	pthread_mutex_lock(&ob->w.mu);
	s = ob->last ? ob->last : xstrdup("");
	ob->last = NULL;
	pthread_mutex_unlock(&ob->w.mu);
	return s;
}

void observer_stop(struct observer *ob)
{
	if (!ob)
		return;
	worker_stop(&ob->w);
	if (ob->progress_sql)
		status_set_index_progress(ob->st, "");
	observer_free(ob);
}

/* The WHERE condition that finds the backend running sql: an active
 * session of our database other than the observer's whose query text and
 * sql begin alike (pg_stat_activity keeps only the first
 * track_activity_query_size bytes).  An E'' literal means the same
 * whatever standard_conforming_strings says. */
static char *match_of(const char *sql, size_t len)
{
	struct sbuf m = { 0 };
	size_t n = len < 1000 ? len : 1000;
	char *out;

	/* Not cut inside a UTF-8 character. */
	while (n < len && n > 0 && ((unsigned char)sql[n] & 0xc0) == 0x80)
		n--;
	sbuf_add_sql_estrn(&m, sql, n);
	out = xasprintf("a.datname = pg_catalog.current_database() AND a.pid <> "
			"pg_catalog.pg_backend_pid() AND a.state = 'active' AND a.query <> '' AND "
			"(pg_catalog.starts_with(a.query, %s) OR pg_catalog.starts_with(%s, a.query))",
			m.buf, m.buf);
	sbuf_free(&m);
	return out;
}

void observer_bound(struct observer *ob, struct db *db, const char *sql, size_t len,
		    long long limit_ms)
{
	char *match;

	if (!ob || limit_ms <= 0)
		return;
	match = match_of(sql, len);
	pthread_mutex_lock(&ob->w.mu);
	free(ob->bound.match);
	ob->bound.match = match;
	ob->bound.db = db;
	ob->bound.limit_ms = limit_ms;
	ob->bound.gen++;
	ob->bound.armed = 1;
	ob->bound.fired = 0;
	ob->bound.waiting_since = 0;
	pthread_mutex_unlock(&ob->w.mu);
}

int observer_unbound(struct observer *ob)
{
	int fired;

	if (!ob)
		return 0;
	pthread_mutex_lock(&ob->w.mu);
	fired = ob->bound.armed && ob->bound.fired;
	ob->bound.armed = 0;
	ob->bound.fired = 0;
	ob->bound.db = NULL;
	pthread_mutex_unlock(&ob->w.mu);
	return fired;
}
