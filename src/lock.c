/* lock.c - the migration lock over the driver's lock members. */
#include "prestart/lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/log.h"

long long lock_key_of(const char *schema, const char *table)
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

static const char *strategy_name(enum lock_strategy s)
{
	return s == LOCK_LEASE ? "lease" : s == LOCK_SESSION ? "session" : "auto";
}

/* Settle the strategy (the driver's lock_prepare) and say what auto chose
 * when it was not the session lock. */
static int prepare(struct lock *l, struct err *e)
{
	int r = db_lock_prepare(l->db, &l->key);

	if (r == LOCK_PREP_UNUSABLE)
		return err_set(e, ERR_LOCK, "migration lock: %s", l->db->errstr);
	if (r == LOCK_PREP_NO_TABLE)
		return err_set(e, ERR_USAGE, "lock strategy %s: %s", strategy_name(l->key.strategy),
			       l->db->errstr);
	if (r < 0)
		return err_set(e, ERR_FAILED, "cannot prepare the migration lock: %s",
			       l->db->errstr);
	if (l->asked == LOCK_AUTO && l->key.strategy == LOCK_LEASE)
		log_event(LOG_INFO, "lock_strategy",
			  (struct log_field[]){ LFS("strategy", "lease"),
						LFS("reason", l->db->errstr), { 0 } },
			  "lock strategy lease: %s", l->db->errstr);
	return 0;
}

int lock_check(struct lock *l, struct err *e)
{
	int held = 1;

	if (!l->held)
		return err_set(e, ERR_LOCK, "migration lock lost: not held");
	if (db_lock_check(l->db, &l->key, &held) < 0)
		return err_set(e, ERR_FAILED, "cannot check the migration lock: %s",
			       l->db->errstr);
	if (!held)
		return err_set(e, ERR_LOCK, "migration lock lost: %s", l->db->errstr);
	return 0;
}

/* Right after taking it: is the lock really ours?  A session lock taken
 * through a transaction pooler is not.  0 yes, 1 not (auto has switched
 * to the lease: try again), -1 (e filled). */
static int verify(struct lock *l, struct err *e)
{
	char why[ERR_MSG_MAX];

	if (l->key.strategy != LOCK_SESSION || lock_check(l, e) == 0)
		return 0;
	if (e->kind != ERR_LOCK)
		return -1;
	snprintf(why, sizeof(why), "%s", l->db->errstr);
	/* Whichever session holds it now gives it back, if ours does. */
	db_lock_release(l->db, &l->key);
	l->held = 0;
	if (l->asked == LOCK_SESSION)
		return err_set(e, ERR_LOCK, "migration lock lost right after it was taken: %s; "
			       "a session lock cannot be held through a transaction pooler: "
			       "use --lock-strategy lease (or auto), or connect directly",
			       why);
	log_event(LOG_WARN, "lock_strategy",
		  (struct log_field[]){ LFS("strategy", "lease"), LFS("reason", why), { 0 } },
		  "lock strategy lease: the session lock did not stay ours (%s)", why);
	l->key.strategy = LOCK_LEASE;
	l->asked = LOCK_LEASE;
	return prepare(l, e) < 0 ? -1 : 1;
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
	l->key.id = lock_key_of(o->schema, o->table);
	l->key.strategy = l->asked = o->strategy;
	if (prepare(l, e) < 0)
		goto out;
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
			int v;

			l->held = 1;
			if ((v = verify(l, e)) < 0)
				goto out;
			if (v > 0) {
				attempt--;
				continue;
			}
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
	/* A lost connection took a session lock with it, and a lease
	 * expires: only a release the server refused is news. */
	if (l->held && l->db && db_lock_release(l->db, &l->key) < 0 &&
	    !db_connection_lost(l->db))
		log_event(LOG_WARN, "lock_release",
			  (struct log_field[]){ LFS("strategy", strategy_name(l->key.strategy)),
						LFS("error", l->db->errstr), { 0 } },
			  "migration lock release failed: %s", l->db->errstr);
	l->held = 0;
}
