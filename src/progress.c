/* progress.c - CREATE INDEX progress on a second connection (progress.h). */
#include "prestart/progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_POLL_MS 500

struct progress_watch {
	pthread_t th;
	atomic_int stop;
	struct dburl url;
	char *app;
	char *sql;
	struct status *st;
};

static void *progress_main(void *arg)
{
	struct progress_watch *w = arg;
	struct db_opts o = { 0 };
	struct db db;
	int opened;

	memset(&db, 0, sizeof(db));
	o.application_name = w->app;
	o.connect_timeout_s = 5;
	opened = db_open(&db, &w->url, &o) == 0;
	while (opened && !atomic_load(&w->stop)) {
		struct strlist rows = { 0 };
		struct timespec ts = { 0, 50 * 1000000L };

		if (db_query_col(&db, w->sql, &rows) == 0)
			status_set_index_progress(w->st, rows.n ? rows.v[0] : "");
		strlist_free(&rows);
		for (int i = 0; i < PROGRESS_POLL_MS / 50 && !atomic_load(&w->stop); i++)
			nanosleep(&ts, NULL);
	}
	db_close(&db);
	return NULL;
}

struct progress_watch *progress_watch_start(struct db *migrating, const struct dburl *u,
					    const char *application_name, struct status *st)
{
	struct progress_watch *w;
	struct strlist pid = { 0 };

	if (!db_supports(migrating, DB_HAS_INDEX_PROGRESS) || db_query_col(migrating, "SELECT pg_backend_pid()", &pid) < 0 ||
	    pid.n != 1) {
		strlist_free(&pid);
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	atomic_init(&w->stop, 0);
	dburl_copy(&w->url, u);
	w->app = xasprintf("%s (progress)", application_name ? application_name : "prestart");
	w->sql = xasprintf(
		"SELECT p.command || ' on ' || p.relid::regclass || ': ' || p.phase || "
		"CASE WHEN p.blocks_total > 0 THEN ', blocks ' || p.blocks_done || '/' || "
		"p.blocks_total ELSE '' END || "
		"CASE WHEN p.tuples_total > 0 THEN ', tuples ' || p.tuples_done || '/' || "
		"p.tuples_total ELSE '' END "
		"FROM pg_stat_progress_create_index p WHERE p.pid = %ld",
		strtol(pid.v[0], NULL, 10));
	strlist_free(&pid);
	w->st = st;
	if (pthread_create(&w->th, NULL, progress_main, w) != 0) {
		dburl_release(&w->url);
		free(w->app);
		free(w->sql);
		free(w);
		return NULL;
	}
	return w;
}

void progress_watch_stop(struct progress_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, 1);
	pthread_join(w->th, NULL);
	status_set_index_progress(w->st, "");
	dburl_release(&w->url);
	free(w->app);
	free(w->sql);
	free(w);
}
