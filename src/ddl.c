/* Bounded DDL lock waits and their retries (ddl.h).
 *
 * Map: the pure parts (backoff, retryable states, output lines,
 * PGOPTIONS), the bounds on a connection, the retry decision, the
 * delegated Alembic run, the INVALID-index query. */
#include "prestart/ddl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prestart/log.h"

/* ---- pure ---- */

int ddl_retryable(const char *sqlstate)
{
	return sqlstate && (!strcmp(sqlstate, "55P03") || !strcmp(sqlstate, "40P01"));
}

long long ddl_backoff_ms(int attempt, double r)
{
	long long base = DDL_BACKOFF_FIRST_MS;

	for (int i = 1; i < attempt && base < DDL_BACKOFF_MAX_MS; i++)
		base *= 2;
	if (base > DDL_BACKOFF_MAX_MS)
		base = DDL_BACKOFF_MAX_MS;
	if (r < 0)
		r = 0;
	if (r >= 1)
		r = 0.999999;
	return (long long)((double)base * (0.5 + r));
}

char *ddl_pgoptions(const char *existing, long long lock_timeout_ms)
{
	if (existing && *existing)
		return xasprintf("%s -c lock_timeout=%lldms", existing, lock_timeout_ms);
	return xasprintf("-c lock_timeout=%lldms", lock_timeout_ms);
}

/* ---- state ---- */

void ddl_init(struct ddl *d, long long lock_timeout_ms, long long budget_ms,
	      volatile sig_atomic_t *stop, struct status *st)
{
	memset(d, 0, sizeof(*d));
	d->lock_timeout_ms = lock_timeout_ms;
	d->budget_ms = budget_ms;
	d->stop = stop;
	d->st = st;
	d->seed = (unsigned)now_ms() ^ ((unsigned)getpid() << 16);
}

void ddl_release(struct ddl *d)
{
	free(d->last_blockers);
	d->last_blockers = NULL;
}

/* ---- bounds ---- */

char *ddl_bound_tx_sql(const struct ddl *d)
{
	if (!d || d->lock_timeout_ms <= 0)
		return NULL;
	return xasprintf("SET LOCAL lock_timeout = '%lldms'", d->lock_timeout_ms);
}

int ddl_bound_tx(const struct ddl *d, struct db *db)
{
	char *sql = ddl_bound_tx_sql(d);
	int rc = sql ? db_execs(db, sql) : 0;

	free(sql);
	return rc;
}

void ddl_bound_stmt(const struct ddl *d, struct db *db, const char *sql, size_t len)
{
	if (d && d->lock_timeout_ms > 0)
		observer_bound(d->ob, db, sql, len, d->lock_timeout_ms);
}

int ddl_unbound_stmt(const struct ddl *d, struct db *db, int failed)
{
	if (!d || d->lock_timeout_ms <= 0 || !observer_unbound(d->ob))
		return 0;
	/* Cancelled by the bound: what lock_timeout would have said, so
	 * that it is retried and counted as one. */
	if (failed && strcmp(db->dberr.sqlstate, "57014") == 0) {
		memcpy(db->dberr.sqlstate, "55P03", 6);
		snprintf(db->dberr.message, sizeof(db->dberr.message),
			 "canceling statement due to lock timeout (a lock waited for longer than "
			 "--ddl-lock-timeout %lld ms)",
			 d->lock_timeout_ms);
		db->dberr.detail[0] = db->dberr.hint[0] = '\0';
		db_stmt_failed(db);
	}
	return 1;
}

/* ---- retrying ---- */

/* Sleep ms, ending early (-1) when a signal asks us to stop. */
static int backoff_sleep(const struct ddl *d, long long ms)
{
	long long until = now_ms() + ms;

	for (;;) {
		long long left = until - now_ms();
		struct timespec ts;

		if (d->stop && *d->stop)
			return -1;
		if (left <= 0)
			return 0;
		if (left > 20)
			left = 20;
		ts.tv_sec = 0;
		ts.tv_nsec = left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

int ddl_retry(struct ddl *d, const char *sqlstate, const char *unit, struct err *e)
{
	char *who;
	const char *kind;
	long long now = now_ms(), wait, left;
	char msg[ERR_MSG_MAX];

	if (!d || !ddl_retryable(sqlstate))
		return 0;
	kind = !strcmp(sqlstate, "55P03") ? "lock timeout" : "deadlock";
	who = observer_blockers_take(d->ob);
	if (*who) {
		free(d->last_blockers);
		d->last_blockers = xstrdup(who);
	}
	if (!strcmp(sqlstate, "55P03") && d->st)
		status_add_lock_timeout(d->st);
	if (!d->first_failure_ms)
		d->first_failure_ms = now;
	d->attempt++;
	left = d->first_failure_ms + d->budget_ms - now;
	snprintf(msg, sizeof(msg), "%s", e->msg);
	if (d->budget_ms <= 0 || left <= 0) {
		log_event(LOG_WARN, "ddl_lock_timeout",
			  (struct log_field[]){ LFS("unit", unit), LFS("sqlstate", sqlstate),
						LFI("attempt", d->attempt), LFS("blockers", who),
						{ 0 } },
			  "%s: %s (%s)%s%s; retry budget spent", unit, kind, sqlstate,
			  *who ? "; blocked by " : "", who);
		err_set(e, ERR_FAILED,
			"%s; gave up after %d attempt%s in %lld.%01lld s (--ddl-retry-budget "
			"%lld ms)%s%s",
			msg, d->retries + 1, d->retries ? "s" : "",
			(now - d->first_failure_ms) / 1000, (now - d->first_failure_ms) % 1000 / 100,
			d->budget_ms, d->last_blockers ? "; blocked by " : "",
			d->last_blockers ? d->last_blockers : "");
		free(who);
		return -1;
	}
	wait = ddl_backoff_ms(d->attempt, (double)rand_r(&d->seed) / ((double)RAND_MAX + 1.0));
	if (wait > left)
		wait = left;
	d->retries++;
	log_event(LOG_WARN, "ddl_lock_timeout",
		  (struct log_field[]){ LFS("unit", unit), LFS("sqlstate", sqlstate),
					LFI("attempt", d->attempt), LFI("retry_in_ms", wait),
					LFS("blockers", who), LFS("error", msg), { 0 } },
		  "%s: %s (%s)%s%s; rolled back, attempt %d in %lld ms", unit, kind, sqlstate,
		  *who ? "; blocked by " : "", who, d->attempt + 1, wait);
	free(who);
	if (backoff_sleep(d, wait) < 0)
		return err_set(e, 128 + *d->stop, "stopped by signal %d", (int)*d->stop);
	return 1;
}

void ddl_unit_done(struct ddl *d)
{
	if (!d)
		return;
	d->attempt = 0;
	if (d->st)
		status_forget_blockers(d->st);
}

/* ---- Alembic ---- */

int ddl_delegate_run(struct ddl *d, struct delegate_opts *o, enum dir dir,
		     const char *target, struct err *e)
{
	const char *old = getenv("PGOPTIONS");
	char *saved = old ? xstrdup(old) : NULL;
	char *unit = xasprintf("alembic %s %s", delegate_verb(dir), target);
	int rc;

	for (;;) {
		char failure[6] = "";

		/* The child inherits prestart's environment (child.h); nothing
		 * else reads PGOPTIONS while it runs (no watcher connection is
		 * made for delegated runs). */
		if (d && d->lock_timeout_ms > 0) {
			char *opts = ddl_pgoptions(saved, d->lock_timeout_ms);

			setenv("PGOPTIONS", opts, 1);
			free(opts);
		}
		o->lock_failure = failure;
		rc = delegate_run(o, dir, target, e);
		o->lock_failure = NULL;
		if (saved)
			setenv("PGOPTIONS", saved, 1);
		else
			unsetenv("PGOPTIONS");
		if (rc == 0 || e->kind != ERR_FAILED || ddl_retry(d, failure, unit, e) <= 0)
			break;
	}
	if (rc == 0)
		ddl_unit_done(d);
	free(unit);
	free(saved);
	return rc;
}

/* ---- INVALID indexes ---- */

int ddl_invalid_indexes(struct db *db, struct strlist *out)
{
	return db->ops->query_col(db,
				  "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i"
				  " JOIN pg_class c ON c.oid = i.indexrelid"
				  " JOIN pg_namespace n ON n.oid = c.relnamespace"
				  " WHERE NOT i.indisvalid ORDER BY 1",
				  out);
}
