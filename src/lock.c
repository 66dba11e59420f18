/* flock() is a BSD interface: glibc declares it under _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE
#include "prestart/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "prestart/log.h"

long long lock_key(const char *schema, const char *table)
{
	/* FNV-1a over "schema.table": stable across versions and hosts, so
	 * every replica (and every prestart version) computes the same key. */
	unsigned long long h = 1469598103934665603ULL;
	char *name = xasprintf("%s.%s", schema ? schema : "public", table);

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	free(name);
	return (long long)(h & 0x7fffffffffffffffULL);
}

static void nap_ms(long long ms, volatile sig_atomic_t *stop)
{
	/* Short slices so that a signal ends the wait promptly even when the
	 * handler's EINTR lands between two checks. */
	while (ms > 0 && !(stop && *stop)) {
		long long slice = ms < 50 ? ms : 50;
		struct timespec ts = { slice / 1000, (slice % 1000) * 1000000L };

		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* Who holds the advisory lock, as one line (new string), or NULL. */
static char *pg_holder(struct db *db, long long key)
{
	struct strlist rows = { 0 };
	char *sql, *who = NULL;
	unsigned long long k = (unsigned long long)key;

	/* Another role's sessions show NULL for most pg_stat_activity columns
	 * (only application_name and pid are public): coalesce each part so
	 * the holder is still named. */
	sql = xasprintf("SELECT coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) || "
			"' (pid ' || l.pid || coalesce(', from ' || host(a.client_addr), '') || "
			"coalesce(', connected since ' || "
			"to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '') || ')' "
			"FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
			"WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %llu "
			"AND l.objid = %llu AND l.objsubid = 1 AND l.database = "
			"(SELECT oid FROM pg_database WHERE datname = current_database())",
			k >> 32, k & 0xffffffffULL);
	if (db->ops->query_col(db, sql, &rows) == 0 && rows.n > 0)
		who = xstrdup(rows.v[0]);
	free(sql);
	strlist_free(&rows);
	return who;
}

static int try_once(struct lock *l, struct db *db, int *got, struct err *e)
{
	if (db->kind == DB_PG) {
		if (db_pg_try_advisory_lock(db, l->key, got) < 0)
			return err_set(e, ERR_FAILED, "cannot take the migration lock: %s",
				       db->errstr);
		return 0;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB) == 0) {
		*got = 1;
		return 0;
	}
	if (errno == EWOULDBLOCK || errno == EINTR) {
		*got = 0;
		return 0;
	}
	return err_set(e, ERR_FAILED, "cannot lock: %s", strerror(errno));
}

/* Did the last failure on db lose the connection itself?  Then only a new
 * connection helps, and waiting for one is what the lock wait is for. */
static int connection_lost(struct db *db)
{
	return db->kind == DB_PG && db_connection_lost(db);
}

static void note_lost(char *lost, size_t n, const struct err *e)
{
	snprintf(lost, n, "%s", e->msg);
	log_event(LOG_WARN, "connection_lost", (struct log_field[]){ LFS("error", lost), { 0 } },
		  "connection lost while waiting for the migration lock, reconnecting: %s", lost);
}

int lock_acquire(struct lock *l, struct db *db, const char *sqlite_path, const char *schema,
		 const char *table, long long timeout_ms, volatile sig_atomic_t *stop,
		 lock_poll_fn poll, lock_reconnect_fn reconnect, void *arg, struct err *e)
{
	long long t0 = now_ms(), next_log = 0, delay = 100;
	char *holder = NULL;
	char lost[ERR_MSG_MAX] = "";
	int got = 0, rc = -1;

	memset(l, 0, sizeof(*l));
	l->db = db;
	l->fd = -1;
	l->key = lock_key(schema, table);
	if (db->kind == DB_SQLITE) {
		char *lp = xasprintf("%s.prestart.lock", sqlite_path);

		l->fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (l->fd < 0) {
			err_set(e, ERR_FAILED, "cannot open lock file '%s': %s", lp, strerror(errno));
			free(lp);
			return -1;
		}
		free(lp);
	}
	for (int attempt = 1;; attempt++) {
		long long waited;

		if (stop && *stop) {
			err_set(e, 128 + *stop, "stopped by signal %d while waiting for the lock",
				(int)*stop);
			goto out;
		}
		if (lost[0]) {
			int r = reconnect(arg, e);

			if (r < 0)
				goto out;
			if (r == 0) {
				log_event(LOG_INFO, "reconnected", NULL,
					  "reconnected to the database; waiting for the migration lock");
				lost[0] = '\0';
				delay = 100;
			} else {
				snprintf(lost, sizeof(lost), "%s", e->msg);
				goto pause;
			}
		}
		if (try_once(l, db, &got, e) < 0) {
			if (!reconnect || !connection_lost(db))
				goto out;
			note_lost(lost, sizeof(lost), e);
			goto pause;
		}
		if (got) {
			l->held = 1;
			if (attempt > 1)
				log_event(LOG_INFO, "lock_acquired",
					  (struct log_field[]){ LFI("waited_ms", now_ms() - t0), { 0 } },
					  "migration lock acquired after %lld ms", now_ms() - t0);
			rc = LOCK_ACQUIRED;
			goto out;
		}
		if (poll) {
			int r = poll(arg, e);

			if (r < 0 && reconnect && connection_lost(db)) {
				note_lost(lost, sizeof(lost), e);
				goto pause;
			}
			if (r < 0)
				goto out;
			if (r > 0) {
				rc = LOCK_NOT_NEEDED;
				goto out;
			}
		}
		if (db->kind == DB_PG) {
			free(holder);
			holder = pg_holder(db, l->key);
		}
pause:
		waited = now_ms() - t0;
		if (timeout_ms > 0 && waited >= timeout_ms) {
			if (lost[0])
				err_set(e, ERR_LOCK, "migration lock not acquired within %lld ms; "
					"the database connection was lost: %s", timeout_ms, lost);
			else
				err_set(e, ERR_LOCK,
					"migration lock not acquired within %lld ms; held by %s",
					timeout_ms, holder ? holder : "another process");
			goto out;
		}
		if (!lost[0] && waited >= next_log) {
			log_event(LOG_INFO, "lock_wait",
				  (struct log_field[]){ LFS("holder", holder), LFI("attempt", attempt),
							LFI("elapsed_ms", waited), { 0 } },
				  "waiting for the migration lock held by %s (%lld ms)",
				  holder ? holder : "another process", waited);
			next_log = waited + 5000;
		}
		if (timeout_ms > 0 && waited + delay > timeout_ms)
			delay = timeout_ms - waited;
		nap_ms(delay, stop);
		if (delay < 1000)
			delay *= 2;
	}
out:
	free(holder);
	if (rc < 0 && l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	return rc;
}

void lock_release(struct lock *l)
{
	if (l->held && l->db && l->db->kind == DB_PG)
		db_pg_advisory_unlock(l->db, l->key);
	if (l->fd >= 0) {
		/* Closing the descriptor drops the flock. */
		close(l->fd);
		l->fd = -1;
	}
	l->held = 0;
}
