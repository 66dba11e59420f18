/* lock.c - the migration lock over the driver's lock members. */
#include "prestart/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static int try_once(struct lock *l, int *got, struct err *e)
{
	if (db_lock_try(l->db, &l->key, got) < 0)
		return err_set(e, ERR_FAILED, "cannot take the migration lock: %s", l->db->errstr);
	return 0;
}

static void note_lost(char *lost, size_t n, const struct err *e)
{
	snprintf(lost, n, "%s", e->msg);
	log_event(LOG_WARN, "connection_lost", (struct log_field[]){ LFS("error", lost), { 0 } },
		  "connection lost while waiting for the migration lock, reconnecting: %s", lost);
}

int lock_acquire(struct lock *l, struct db *db, const struct lock_opts *o, struct err *e)
{
	long long t0 = now_ms(), next_log = 0, delay = 100, timeout_ms = o->timeout_ms;
	volatile sig_atomic_t *stop = o->stop;
	char holder[512] = "";
	char lost[ERR_MSG_MAX] = "";
	int got = 0, rc = -1;

	memset(l, 0, sizeof(*l));
	l->db = db;
	l->key.schema = o->schema;
	l->key.table = o->table;
	l->key.id = lock_key(o->schema, o->table);
	for (int attempt = 1;; attempt++) {
		long long waited;

		if (stop && *stop) {
			err_set(e, 128 + *stop, "stopped by signal %d while waiting for the lock",
				(int)*stop);
			goto out;
		}
		if (lost[0]) {
			int r = o->reconnect(o->arg, e);

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
		if (try_once(l, &got, e) < 0) {
			if (!o->reconnect || !db_connection_lost(db))
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
		if (o->poll) {
			int r = o->poll(o->arg, e);

			if (r < 0 && o->reconnect && db_connection_lost(db)) {
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
		/* Unknown or unreadable, the holder is "another process". */
		if (db_lock_holder(db, &l->key, holder, sizeof(holder)) < 0)
			holder[0] = '\0';
pause:
		waited = now_ms() - t0;
		if (timeout_ms > 0 && waited >= timeout_ms) {
			if (lost[0])
				err_set(e, ERR_LOCK, "migration lock not acquired within %lld ms; "
					"the database connection was lost: %s", timeout_ms, lost);
			else
				err_set(e, ERR_LOCK,
					"migration lock not acquired within %lld ms; held by %s",
					timeout_ms, *holder ? holder : "another process");
			goto out;
		}
		if (!lost[0] && waited >= next_log) {
			const char *who = *holder ? holder : NULL;

			log_event(LOG_INFO, "lock_wait",
				  (struct log_field[]){ LFS("holder", who), LFI("attempt", attempt),
							LFI("elapsed_ms", waited), { 0 } },
				  "waiting for the migration lock held by %s (%lld ms)",
				  who ? who : "another process", waited);
			next_log = waited + 5000;
		}
		if (timeout_ms > 0 && waited + delay > timeout_ms)
			delay = timeout_ms - waited;
		nap_ms(delay, stop);
		if (delay < 1000)
			delay *= 2;
	}
out:
	return rc;
}

void lock_release(struct lock *l)
{
	if (l->held && l->db)
		db_lock_release(l->db, &l->key);
	l->held = 0;
}
