/* Who blocks the migration's backend (blockers.h).
 *
 * Map: the query and its rows (pure), then the watcher thread, then the
 * public start/take/stop. */
#include "prestart/blockers.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCKERS_MAX 8

/* ---- the query and its rows ---- */

/* Control characters (a query's newlines) are blanked in SQL so that a row
 * is one line and 0x1f can only be the separator. */
const char blockers_sql[] =
	"SELECT a.pid::text || chr(31) ||"
	" regexp_replace(left(coalesce(a.application_name, ''), 63), '[[:cntrl:]]', ' ', 'g')"
	" || chr(31) || coalesce(a.state, '') || chr(31) ||"
	" coalesce((extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::bigint, -1)::text"
	" || chr(31) ||"
	" regexp_replace(left(coalesce(a.query, ''), 200), '[[:cntrl:]]', ' ', 'g')"
	" FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids(%ld)) ORDER BY a.pid";

static const char *field(const char *p, char *dst, size_t n)
{
	const char *end = strchr(p, '\x1f');
	size_t len = end ? (size_t)(end - p) : strlen(p);

	if (len >= n)
		len = n - 1;
	memcpy(dst, p, len);
	dst[len] = '\0';
	return end ? end + 1 : NULL;
}

int blockers_parse(const char *row, struct blocker *b)
{
	char num[32];
	char *end;
	const char *p = row;

	memset(b, 0, sizeof(*b));
	if (!(p = field(p, num, sizeof(num))))
		return -1;
	b->pid = strtol(num, &end, 10);
	if (!*num || *end)
		return -1;
	if (!(p = field(p, b->app, sizeof(b->app))) || !(p = field(p, b->state, sizeof(b->state))))
		return -1;
	if (!(p = field(p, num, sizeof(num))))
		return -1;
	b->xact_ms = strtoll(num, &end, 10);
	if (!*num || *end)
		return -1;
	field(p, b->query, sizeof(b->query));
	return 0;
}

void blockers_format(struct sbuf *out, const struct blocker *b)
{
	sbuf_addf(out, "pid %ld (%s, %s", b->pid, *b->app ? b->app : "no application_name",
		  *b->state ? b->state : "state unknown");
	if (b->xact_ms >= 0)
		sbuf_addf(out, ", transaction open %lld.%01lld s", b->xact_ms / 1000,
			  b->xact_ms % 1000 / 100);
	sbuf_addf(out, "): %s", *b->query ? b->query : "<no query>");
}

void blockers_json(struct sbuf *out, const struct blocker *b)
{
	sbuf_addf(out, "{\"pid\":%ld,\"application_name\":", b->pid);
	sbuf_add_json_str(out, b->app);
	sbuf_adds(out, ",\"state\":");
	sbuf_add_json_str(out, b->state);
	if (b->xact_ms >= 0)
		sbuf_addf(out, ",\"xact_age_ms\":%lld", b->xact_ms);
	else
		sbuf_adds(out, ",\"xact_age_ms\":null");
	sbuf_adds(out, ",\"query\":");
	sbuf_add_json_str(out, b->query);
	sbuf_addc(out, '}');
}

/* ---- the watcher ---- */

struct blockers {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;             /* under mu */
	char *last;           /* under mu: the last non-empty answer, or NULL */
	struct dburl u;       /* borrowed pointers of the caller's URL */
	struct db_opts o;
	long pid;
	long long interval_ms;
	struct status *st;
	struct db db;
};

static int quitting(void *arg)
{
	struct blockers *b = arg;
	int q;

	pthread_mutex_lock(&b->mu);
	q = b->quit;
	pthread_mutex_unlock(&b->mu);
	return q;
}

/* One question: the answer as a log line and as JSON (both "" when
 * nobody blocks). */
static int ask(struct blockers *b, struct sbuf *line, struct sbuf *json)
{
	struct strlist rows = { 0 };
	char sql[sizeof(blockers_sql) + 32];
	size_t n = 0;

	snprintf(sql, sizeof(sql), blockers_sql, b->pid);
	if (b->db.ops->query_col(&b->db, sql, &rows) < 0) {
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

static void *watch(void *arg)
{
	struct blockers *b = arg;
	struct sbuf line = { 0 }, json = { 0 };
	int open = 0;

	pthread_mutex_lock(&b->mu);
	while (!b->quit) {
		struct timespec ts;
		long long until = now_ms() + b->interval_ms;

		pthread_mutex_unlock(&b->mu);
		if (!open) {
			open = db_open(&b->db, &b->u, &b->o) == 0;
			if (!open)
				db_close(&b->db);
		}
		if (open) {
			sbuf_reset(&line);
			sbuf_reset(&json);
			if (ask(b, &line, &json) < 0 && db_connection_lost(&b->db)) {
				db_close(&b->db);
				open = 0;
			} else if (line.len) {
				char *j = xasprintf("[%s]", json.buf);

				if (b->st)
					status_set_blockers(b->st, j);
				free(j);
				pthread_mutex_lock(&b->mu);
				free(b->last);
				b->last = xstrdup(line.buf);
				pthread_mutex_unlock(&b->mu);
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		{
			long long left = until - now_ms();

			if (left < 1)
				left = 1;
			ts.tv_sec += left / 1000;
			ts.tv_nsec += (left % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
		}
		pthread_mutex_lock(&b->mu);
		while (!b->quit && pthread_cond_timedwait(&b->cv, &b->mu, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&b->mu);
	if (open)
		db_close(&b->db);
	sbuf_free(&line);
	sbuf_free(&json);
	return NULL;
}

int blockers_start(struct blockers **out, const struct dburl *u, const struct db_opts *o,
		   long pid, long long interval_ms, struct status *st, struct err *e)
{
	struct blockers *b = calloc(1, sizeof(*b));
	int r;

	*out = NULL;
	if (!b)
		return err_set(e, ERR_FAILED, "out of memory");
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->u = *u;
	b->o = *o;
	/* Its own stop test: the migration's signal flag ends the run, and
	 * blockers_stop() this thread. */
	b->o.stop = NULL;
	b->o.interrupted = quitting;
	b->o.interrupted_arg = b;
	b->pid = pid;
	b->interval_ms = interval_ms > 0 ? interval_ms : 100;
	b->st = st;
	if ((r = pthread_create(&b->thread, NULL, watch, b)) != 0) {
		pthread_cond_destroy(&b->cv);
		pthread_mutex_destroy(&b->mu);
		free(b);
		return err_set(e, ERR_FAILED, "cannot start the blockers watcher: %s", strerror(r));
	}
	*out = b;
	return 0;
}

char *blockers_take(struct blockers *b)
{
	char *s;

	if (!b)
		return xstrdup("");
	pthread_mutex_lock(&b->mu);
	s = b->last ? b->last : xstrdup("");
	b->last = NULL;
	pthread_mutex_unlock(&b->mu);
	return s;
}

void blockers_stop(struct blockers *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->quit = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b->last);
	free(b);
}
