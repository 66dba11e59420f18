/* ctx_tenants.c - one run over many tenants (SPEC §9.5): each tenant a
 * PostgreSQL schema with its own version table, lock and transactions,
 * above the migration layer (graph_plan, migrate_apply, lock.c).
 *
 *   the source    tenants from a list, @FILE or query:SQL, then the shard
 *   the fast read every tenant's version table in a few queries
 *                 (ctx_tenants_survey.c)
 *   plans         one per distinct current revision, bound once
 *   one tenant    lock, re-read, apply, release: migrate_tenant
 *   the pool      --tenant-parallel connections, canary first, progress
 *   the commands  ctx_tenants_run, ctx_tenants_status
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prestart/archive.h"
#include "prestart/ctx.h"
#include "prestart/ddl.h"
#include "prestart/ledger.h"
#include "prestart/lock.h"
#include "prestart/log.h"
#include "prestart/migrate.h"
#include "prestart/tenants.h"
#include "prestart/worker.h"

#include "ctx_tenants_int.h"

#define PROGRESS_EVERY_MS 5000

/* A plan for one distinct set of current heads. */
struct cached_plan {
	char *key;            /* heads joined by "," ("" at base) */
	struct plan p;
	char *error;          /* planning failed (an unknown revision): why */
};

struct slot {
	struct db db;
	int open;
	pthread_mutex_t mu;   /* db opened, closed or cancelled */
	struct worker w;
	struct trun *r;
	/* kept from one tenant to the next: the revisions' analyses, and
	 * their ledger compat values */
	struct migrate_cache mc;
	struct ledger_compat lc;
};

struct trun {
	struct ctx *c;
	struct tenant *t;
	size_t n;
	/* The queue: indices into t of the tenants with work, in order. */
	size_t *q, nq, next, end;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	long migrated, failed, running, at_head;
	int stop_starting;
	int may_defer;        /* a busy lock sends the tenant to the queue's end
			       * (not in the canary: its order matters) */
	int busy;             /* workers still taking tenants */
	pthread_mutex_t plan_mu;
	struct cached_plan *pc;
	size_t npc, apc;
	/* --phase expand (SPEC §9.4): each plan the expand subset of the
	 * pending revisions; each revision classified once, and the ones held
	 * back (over every plan) logged once and kept for the summary. */
	int expand;
	struct phase_cache classes;
	struct strlist deferred, deferred_why;
	struct ledger ledger; /* on: each tenant's rows, vt_schema its own */
	int no_archives;      /* no archive list when the run began: none to
			       * prune (any made since are the run's own) */
	char *app;            /* application_name */
};

/* ---- the source ---- */

static int read_source(struct ctx *c, struct strlist *names)
{
	const char *payload, *from = c->cfg.tenants_from ? c->cfg.tenants_from : "--tenants";
	enum tenants_kind k = tenants_source_kind(c->cfg.tenants, &payload);
	char *text = NULL, *where;
	size_t len;
	int rc;

	if (k == TENANTS_LIST) {
		where = xstrdup(from);
		rc = tenants_parse(payload, ',', where, names, &c->e);
	} else if (k == TENANTS_FILE) {
		where = xstrdup(payload);
		if (read_file(payload, 64u << 20, &text, &len, &c->e) < 0) {
			char why[ERR_MSG_MAX];

			snprintf(why, sizeof(why), "%s", c->e.msg);
			err_set(&c->e, ERR_USAGE, "cannot read the tenants file of %s: %s", from, why);
			rc = -1;
		} else {
			rc = tenants_parse(text, '\n', where, names, &c->e);
		}
	} else {
		struct strlist rows = { 0 };

		where = xasprintf("the tenants query of %s", from);
		if (db_query_col(&c->db, payload, &rows) < 0) {
			char *msg = db_error_string(&c->db);

			rc = err_set(&c->e, ERR_USAGE, "%s failed: %s", where, msg);
			free(msg);
		} else if ((rc = tenants_check(&rows, where, &c->e)) == 0) {
			/* the same repeat rule as the other sources */
			struct sbuf b = { 0 };

			for (size_t i = 0; i < rows.n; i++)
				sbuf_addf(&b, "%s,", rows.v[i]);
			rc = tenants_parse(b.buf ? b.buf : "", ',', where, names, &c->e);
			sbuf_free(&b);
		}
		strlist_free(&rows);
	}
	free(text);
	free(where);
	if (rc < 0)
		return ctx_fail(c);
	tenants_shard(names, c->cfg.tenant_shard_index, c->cfg.tenant_shard_count);
	return 0;
}

/* ---- plans ---- */

/* The revisions the expand phase holds back from heads: logged the
 * first time any plan holds each back, and handed to the status. */
static void note_deferred(struct trun *r, const struct phase_split *split)
{
	size_t before = r->deferred.n;

	for (size_t i = 0; i < split->ndeferred; i++) {
		const struct phase_deferred *d = &split->deferred[i];

		if (strlist_contains(&r->deferred, d->rev->id))
			continue;
		log_event(LOG_INFO, "deferred",
			  (struct log_field[]){ LFS("revision", d->rev->id), LFS("reason", d->why),
						{ 0 } },
			  "held back for the contract phase: %s: %s", d->rev->id, d->why);
		strlist_push(&r->deferred, d->rev->id);
		strlist_push(&r->deferred_why, d->why);
	}
	if (r->deferred.n > before)
		status_set_deferred(&r->c->st, &r->deferred, &r->deferred_why);
}

/* The plan from heads (c->e saved by the caller): to every head, or in
 * the expand phase to the expand point (the pending revisions that are
 * not contract and descend from none). */
static int make_plan(struct trun *r, const struct strlist *heads, struct plan *p)
{
	struct ctx *c = r->c;
	struct plan full;
	struct phase_split split;
	int rc;

	if (!r->expand)
		return graph_plan(c->g, heads, "heads", DIR_UP, p, &c->e);
	if (ctx_phase_split_cached(c, heads, &full, &split, &r->classes) < 0)
		return -1;
	plan_release(&full);
	note_deferred(r, &split);
	rc = graph_plan_upgrade_only(c->g, heads, &split.apply, p, &c->e);
	phase_split_release(&split);
	return rc;
}

/* The plan from heads (make_plan), made and bound once per distinct
 * heads (under plan_mu).  NULL with *why set when it cannot be made or
 * needs Alembic. */
static const struct plan *plan_for(struct trun *r, const struct strlist *heads, char **why)
{
	struct ctx *c = r->c;
	char *key = strlist_join(heads, ",");
	struct cached_plan *cp = NULL;

	pthread_mutex_lock(&r->plan_mu);
	for (size_t i = 0; i < r->npc; i++)
		if (!strcmp(r->pc[i].key, key)) {
			cp = &r->pc[i];
			break;
		}
	if (!cp) {
		struct err saved = c->e;
		size_t fresh = 0, missing = 0;

		xgrow((void **)&r->pc, &r->apc, r->npc + 1, sizeof(*r->pc));
		cp = &r->pc[r->npc++];
		memset(cp, 0, sizeof(*cp));
		cp->key = key;
		key = NULL;
		if (make_plan(r, heads, &cp->p) < 0) {
			cp->error = xstrdup(c->e.msg);
		} else if (ctx_bind_plan(c, &cp->p, &fresh, &missing) < 0) {
			cp->error = xstrdup(c->e.msg);
		} else if (missing) {
			for (size_t i = 0; i < cp->p.n; i++) {
				const struct plan_step *s = &cp->p.steps[i];

				if (s->runner != RUN_ALEMBIC)
					continue;
				cp->error = xasprintf(
					"tenants need SQL or compiled revisions: revision %s (%s) "
					"would run through Alembic%s%s; compile it (prestart compile) "
					"or write it as SQL",
					s->rev ? s->rev->id : "?", s->rev ? s->rev->path : "?",
					s->why ? ": " : "", s->why ? s->why : "");
				break;
			}
		}
		c->e = saved;
	}
	free(key);
	pthread_mutex_unlock(&r->plan_mu);
	if (cp->error) {
		*why = xstrdup(cp->error);
		return NULL;
	}
	return &cp->p;
}

static int needs_alembic(const char *why)
{
	return why && !strncmp(why, "tenants need SQL", 16);
}

/* ---- one tenant ---- */

struct tpoll {
	struct trun *r;
	struct db *db;
	const char *name;
};

/* Between lock polls: another process brought the tenant to head. */
static int tenant_poll(void *arg, struct err *e)
{
	struct tpoll *tp = arg;
	struct strlist heads = { 0 };
	const struct plan *p;
	char *why = NULL;
	int exists, marked, done;

	if (db_read_versions_pending(tp->db, tp->name, tp->r->c->cfg.version_table, &heads,
				     &exists, &marked) < 0)
		return err_set(e, ERR_FAILED, "%s", tp->db->errstr);
	p = plan_for(tp->r, &heads, &why);
	done = p && p->n == 0 && exists && !marked;
	free(why);
	strlist_free(&heads);
	return done;
}

static int check_lock(void *arg, struct err *e)
{
	return lock_check(arg, e);
}

static void outcome(struct trun *r, struct tenant *t, enum tstate st)
{
	pthread_mutex_lock(&r->mu);
	t->state = st;
	r->running--;
	if (st == T_MIGRATED)
		r->migrated++;
	else if (st == T_AT_HEAD)
		r->at_head++;
	else if (st == T_FAILED && ++r->failed >= r->c->cfg.tenant_max_failures &&
		 r->c->cfg.tenant_max_failures > 0)
		r->stop_starting = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void fail_tenant(struct tenant *t, const struct strlist *heads, const char *why)
{
	char *at = strlist_join(heads, ",");

	free(t->error);
	free(t->at);
	t->error = xstrdup(why);
	t->at = xstrdup(*at ? at : "<base>");
	free(at);
	log_event(LOG_ERROR, "tenant_failed",
		  (struct log_field[]){ LFS("tenant", t->name), LFS("revision", t->at),
					LFS("error", t->error), { 0 } },
		  "tenant %s failed at %s: %s", t->name, t->at, t->error);
}

/* Take the tenant's lock, read its version table again under it, apply
 * the plan in the tenant's schema.  Returns the tenant's new state. */
static enum tstate migrate_tenant(struct trun *r, struct slot *s, struct tenant *t)
{
	struct db *db = &s->db;
	struct ctx *c = r->c;
	struct lock lk;
	struct tpoll tp = { r, db, t->name };
	struct strlist heads = { 0 };
	struct migrate_opts o = { 0 };
	struct ledger l;
	struct archive ar = { 0 };
	struct err e = { 0 };
	struct ddl d;
	const struct plan *p;
	char *why = NULL, *path = NULL, *set = NULL, *from = NULL, *to = NULL;
	long long t0 = now_ms();
	int exists, marked, lr, nontx = 0;
	enum tstate st = T_FAILED;
	/* Another run (a second pod, an overlapping deploy) holding this
	 * tenant's lock is not waited for at first: the tenant goes to the
	 * end of the queue, so that two runs share the work instead of one
	 * following the other tenant by tenant. */
	int first_try = r->may_defer && !t->deferred;

	lr = lock_acquire(&lk, db,
			  &(struct lock_opts){ .schema = t->name, .table = c->cfg.version_table,
					       .timeout_ms = first_try ? 1 : c->cfg.lock_timeout_ms,
					       .stop = c->stop, .poll = tenant_poll, .arg = &tp,
					       .strategy = (enum lock_strategy)c->cfg.lock_strategy },
			  &e);
	if (lr < 0 && first_try && e.kind == ERR_LOCK && !(c->stop && *c->stop))
		return T_DEFERRED;
	if (lr < 0) {
		fail_tenant(t, &t->heads, e.msg);
		return T_FAILED;
	}
	if (lr == LOCK_NOT_NEEDED) {
		lock_release(&lk);
		log_event(LOG_INFO, "tenant_up_to_date",
			  (struct log_field[]){ LFS("tenant", t->name), { 0 } },
			  "tenant %s: another process brought it to head", t->name);
		return T_AT_HEAD;
	}
	if (db_read_versions_pending(db, t->name, c->cfg.version_table, &heads, &exists,
				     &marked) < 0) {
		fail_tenant(t, &t->heads, db->errstr);
		goto out;
	}
	if (marked) {
		fail_tenant(t, &heads,
			    "a non-transactional revision was interrupted here: check what it "
			    "did, then stamp the tenant (--tenants NAME stamp REV)");
		goto out;
	}
	if (!(p = plan_for(r, &heads, &why))) {
		fail_tenant(t, &heads, why);
		goto out;
	}
	if (p->n == 0 && exists) {
		st = T_AT_HEAD;
		goto out;
	}
	for (size_t i = 0; i < p->n; i++)
		nontx |= p->steps[i].rev && !p->steps[i].rev->transactional;
	path = tenants_search_path(c->cfg.tenant_search_path, t->name);
	set = xasprintf("SET LOCAL search_path TO %s", path);
	/* Statements outside a transaction see the session's search_path. */
	if (nontx) {
		char *sess = xasprintf("SET search_path TO %s", path);

		lr = db_execs(db, sess);
		free(sess);
		if (lr < 0) {
			fail_tenant(t, &heads, db->errstr);
			goto out;
		}
	}
	/* SPEC §9.3: each tenant's own tables judge the plan */
	if (ctx_guard_db_cached(c, db, p, t->name, set, &s->mc, &e) < 0) {
		fail_tenant(t, &heads, e.msg);
		goto out;
	}
	l = r->ledger;
	l.vt_schema = t->name;
	l.compat = &s->lc;
	o.per_migration = c->cfg.transaction_per_migration;
	o.schema = t->name;
	o.table = c->cfg.version_table;
	o.stop = c->stop;
	o.ledger = r->ledger.on ? &l : NULL;
	/* SPEC §9.3: each tenant's drops archived with its own version table
	 * (restored by a downgrade of that tenant, which --tenants does not
	 * run: `prestart archives` with its schema lists them) */
	if (r->ledger.on && c->cfg.archive_limit > 0) {
		archive_init(&ar, c->cfg.ledger_schema, t->name, c->cfg.version_table,
			     c->cfg.archive_limit, c->cfg.archive_retention_ms);
		ar.limit_from = c->cfg.archive_limit_from;
		ar.guard_from = c->cfg.guard_from;
		o.archive = &ar;
		if (!r->no_archives && archive_prune(&ar, db, &e) < 0) {
			log_event(LOG_WARN, "archive_prune_failed",
				  (struct log_field[]){ LFS("tenant", t->name),
							LFS("error", e.msg), { 0 } },
				  "tenant %s: old archives not dropped: %s", t->name, e.msg);
			db_clear_error(db);
		}
	}
	o.check = check_lock;
	o.check_arg = &lk;
	o.tx_setup = set;
	o.quiet = 1;
	/* read under the lock just above: not again in the transaction */
	o.vt_known = exists ? MIGRATE_VT_PRESENT : MIGRATE_VT_ABSENT;
	o.cache = &s->mc;
	ddl_init(&d, c->cfg.ddl_lock_timeout_ms, c->cfg.ddl_retry_budget_ms, c->stop, NULL);
	o.ddl = &d;
	if (migrate_apply(db, p, &o, &e) < 0) {
		if (c->stop && *c->stop) {
			/* stopped, rolled back: not the tenant's fault */
			log_event(LOG_WARN, "tenant_stopped",
				  (struct log_field[]){ LFS("tenant", t->name), { 0 } },
				  "tenant %s: stopped, rolled back", t->name);
			st = T_PENDING;
		} else {
			fail_tenant(t, &heads, e.msg);
		}
	} else {
		from = strlist_join(&p->start_heads, ",");
		to = strlist_join(&p->end_heads, ",");
		log_event(LOG_INFO, "tenant_done",
			  (struct log_field[]){ LFS("tenant", t->name), LFS("from", from),
						LFS("to", to), LFI("applied", p->n),
						LFI("duration_ms", now_ms() - t0), { 0 } },
			  "tenant %s: upgraded from %s to %s (%zu step%s in %lld ms)", t->name,
			  *from ? from : "<base>", *to ? to : "<base>", p->n, p->n == 1 ? "" : "s",
			  now_ms() - t0);
		st = T_MIGRATED;
	}
	ddl_release(&d);
	if (o.archive)
		archive_release(&ar);
	if (nontx)
		db_execs(db, "RESET search_path");
out:
	if (st == T_FAILED || st == T_PENDING) {
		/* a broken connection is replaced before the next tenant */
		db_clear_error(db);
	}
	lock_release(&lk);
	strlist_free(&heads);
	free(why);
	free(path);
	free(set);
	free(from);
	free(to);
	return st;
}

/* ---- the pool ---- */

static int open_slot(struct trun *r, struct slot *s, struct err *e)
{
	struct db_opts o = { 0 };
	int rc;

	o.application_name = r->app;
	o.connect_timeout_s = 10;
	o.many_locks = 1;
	o.stop = r->c->stop;
	pthread_mutex_lock(&s->mu);
	rc = db_open(&s->db, &r->c->url, &o);
	if (rc < 0) {
		err_set(e, ERR_FAILED, "cannot connect: %s", s->db.errstr);
		db_close(&s->db);
	} else {
		s->open = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void close_slot(struct slot *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->open)
		db_close(&s->db);
	s->open = 0;
	pthread_mutex_unlock(&s->mu);
}

static void work(struct worker *w, void *arg)
{
	struct slot *s = arg;
	struct trun *r = s->r;

	(void)w;
	for (;;) {
		struct tenant *t;
		enum tstate st;
		struct err e = { 0 };

		pthread_mutex_lock(&r->mu);
		if (r->stop_starting || r->next >= r->end || (r->c->stop && *r->c->stop)) {
			r->busy--;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->mu);
			return;
		}
		t = &r->t[r->q[r->next++]];
		t->state = T_RUNNING;
		r->running++;
		pthread_mutex_unlock(&r->mu);
		if (s->open && db_connection_lost(&s->db))
			close_slot(s);
		if (!s->open && open_slot(r, s, &e) < 0) {
			fail_tenant(t, &t->heads, e.msg);
			st = T_FAILED;
		} else {
			st = migrate_tenant(r, s, t);
		}
		if (st == T_DEFERRED) {
			pthread_mutex_lock(&r->mu);
			t->deferred = 1;
			t->state = T_PENDING;
			r->running--;
			r->q[r->end++] = (size_t)(t - r->t);
			pthread_mutex_unlock(&r->mu);
			continue;
		}
		if (st == T_FAILED)
			status_tenant_failed(&r->c->st, t->name);
		outcome(r, t, st);
	}
}

static void publish(struct trun *r)
{
	long pending = (long)r->n - r->at_head - r->migrated - r->failed - r->running;

	status_set_tenants(&r->c->st, (long)r->n, r->at_head, r->migrated, r->failed, r->running,
			   pending);
}

/* Run the queue's items [next, end) on up to `parallel` connections,
 * logging the counts every PROGRESS_EVERY_MS; returns when all are done
 * or stopped. */
static void run_pool(struct trun *r, struct slot *slots, size_t nslots, long long t0)
{
	size_t k = 0;
	long long next_log = now_ms() + PROGRESS_EVERY_MS;
	long base = r->migrated + r->failed;
	int cancelled = 0;

	r->busy = 0;
	for (; k < nslots && k < r->end - r->next; k++) {
		slots[k].r = r;
		r->busy++;
		if (worker_start(&slots[k].w, work, &slots[k]) != 0) {
			r->busy--;
			break;
		}
	}
	pthread_mutex_lock(&r->mu);
	while (r->busy > 0) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		publish(r);
		if (r->c->stop && *r->c->stop && !cancelled) {
			/* the signal reached the main thread only: cancel each
			 * tenant's running statement, which then rolls back */
			cancelled = 1;
			pthread_mutex_unlock(&r->mu);
			for (size_t i = 0; i < k; i++) {
				pthread_mutex_lock(&slots[i].mu);
				if (slots[i].open)
					db_cancel(&slots[i].db);
				pthread_mutex_unlock(&slots[i].mu);
			}
			pthread_mutex_lock(&r->mu);
		}
		if (now_ms() >= next_log) {
			long done = r->migrated + r->failed - base;
			long pending = (long)(r->end - r->next) + r->running;
			double secs = (double)(now_ms() - t0) / 1000.0;
			double rate = secs > 0 ? (double)done / secs : 0;

			log_event(LOG_INFO, "tenants_progress",
				  (struct log_field[]){ LFI("migrated", r->migrated),
							LFI("failed", r->failed),
							LFI("pending", pending), { 0 } },
				  "tenants: %ld migrated, %ld failed, %ld pending (%.1f/s, ETA %.0f s)",
				  r->migrated, r->failed, pending, rate,
				  rate > 0 ? (double)pending / rate : 0.0);
			next_log = now_ms() + PROGRESS_EVERY_MS;
		}
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < k; i++)
		worker_stop(&slots[i].w);
	publish(r);
}

/* ---- the commands ---- */

int ctx_tenants_refuse(struct ctx *c)
{
	if (!c->cfg.tenants)
		return 0;
	if (!db_kind_supports(c->url.kind, DB_HAS_SCHEMAS))
		return usage_error("--tenants needs PostgreSQL: one SQLite file is one database");
	return 0;
}

static void trun_init(struct trun *r, struct ctx *c)
{
	pthread_condattr_t ca;

	memset(r, 0, sizeof(*r));
	r->c = c;
	r->expand = c->cfg.phase == ROLLOUT_EXPAND;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->plan_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &ca);
	pthread_condattr_destroy(&ca);
}

static void trun_release(struct trun *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->t[i].name);
		strlist_free(&r->t[i].heads);
		free(r->t[i].error);
		free(r->t[i].at);
	}
	free(r->t);
	free(r->q);
	for (size_t i = 0; i < r->npc; i++) {
		free(r->pc[i].key);
		plan_release(&r->pc[i].p);
		free(r->pc[i].error);
	}
	free(r->pc);
	phase_cache_release(&r->classes);
	strlist_free(&r->deferred);
	strlist_free(&r->deferred_why);
	if (r->ledger.applied_by)
		ledger_release(&r->ledger);
	free(r->app);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->plan_mu);
	pthread_cond_destroy(&r->cv);
}

/* Read the source and every tenant's version table; classify each as at
 * head, pending or failed (no schema, an unknown revision).  0 or an exit
 * status (3: a plan needs Alembic). */
static int survey(struct trun *r)
{
	struct ctx *c = r->c;
	struct strlist names = { 0 };
	int rc;

	if ((rc = read_source(c, &names))) {
		strlist_free(&names);
		return rc;
	}
	r->n = names.n;
	r->t = calloc(names.n ? names.n : 1, sizeof(*r->t));
	/* room for each tenant twice: once deferred (T_DEFERRED) */
	r->q = calloc(names.n ? 2 * names.n : 1, sizeof(*r->q));
	if (!r->t || !r->q)
		abort();
	for (size_t i = 0; i < names.n; i++) {
		r->t[i].name = names.v[i];
		names.v[i] = NULL;
	}
	strlist_free(&names);
	if (tenants_survey(c, r->t, r->n) < 0)
		return ctx_fail(c);
	for (size_t i = 0; i < r->n; i++) {
		struct tenant *t = &r->t[i];
		const struct plan *p;
		char *why = NULL;

		if (t->no_schema) {
			t->state = T_FAILED;
			t->error = xasprintf("the schema %s does not exist", t->name);
			t->at = xstrdup("<none>");
			continue;
		}
		p = plan_for(r, &t->heads, &why);
		if (!p && needs_alembic(why)) {
			err_set(&c->e, ERR_SCRIPT, "%s", why);
			free(why);
			return ctx_fail(c);
		}
		if (!p) {
			char *at = strlist_join(&t->heads, ",");

			t->state = T_FAILED;
			t->error = why;
			t->at = xstrdup(*at ? at : "<base>");
			free(at);
			continue;
		}
		if (p->n == 0 && t->exists && !t->marked) {
			t->state = T_AT_HEAD;
			r->at_head++;
		} else {
			t->state = T_PENDING;
			r->q[r->nq++] = i;
		}
	}
	return 0;
}

static void report_failed(struct trun *r)
{
	struct sbuf b = { 0 };
	size_t shown = 0;

	for (size_t i = 0; i < r->n; i++) {
		struct tenant *t = &r->t[i];

		if (t->state != T_FAILED)
			continue;
		/* the ones the survey failed were not logged yet */
		if (t->error && !t->at)
			t->at = xstrdup("<base>");
		if (shown < 20)
			sbuf_addf(&b, "%s%s (at %s: %s)", shown ? "; " : "", t->name, t->at,
				  t->error);
		shown++;
	}
	if (shown > 20)
		sbuf_addf(&b, "; and %zu more", shown - 20);
	err_set(&r->c->e, ERR_FAILED, "%zu tenant%s failed: %s", shown, shown == 1 ? "" : "s",
		b.buf ? b.buf : "");
	sbuf_free(&b);
}

int ctx_tenants_run(struct ctx *c)
{
	struct trun r;
	struct slot *slots = NULL;
	size_t nslots;
	long long t0 = now_ms();
	long survey_failed = 0;
	int rc;

	trun_init(&r, c);
	r.app = xstrdup("prestart-tenant");
	status_set_phase(&c->st, PHASE_MIGRATING);
	if ((rc = survey(&r)))
		goto out;
	for (size_t i = 0; i < r.n; i++)
		if (r.t[i].state == T_FAILED) {
			survey_failed++;
			status_tenant_failed(&c->st, r.t[i].name);
			log_event(LOG_ERROR, "tenant_failed",
				  (struct log_field[]){ LFS("tenant", r.t[i].name),
							LFS("revision", r.t[i].at),
							LFS("error", r.t[i].error), { 0 } },
				  "tenant %s failed at %s: %s", r.t[i].name, r.t[i].at, r.t[i].error);
		}
	r.failed = survey_failed;
	/* a missing schema is a failure like any other */
	if (c->cfg.tenant_max_failures > 0 && survey_failed >= c->cfg.tenant_max_failures)
		r.stop_starting = 1;
	publish(&r);
	if (r.n == 0) {
		/* an empty query result, file or shard: not "all 0 at head" */
		log_event(LOG_INFO, "tenants_up_to_date",
			  (struct log_field[]){ LFI("tenants", 0), { 0 } },
			  "no tenant to migrate: %s names none%s, nothing to do",
			  c->cfg.tenants_from ? c->cfg.tenants_from : "--tenants",
			  c->cfg.tenant_shard_count > 1 ? " in this shard" : "");
		goto out;
	}
	if (r.nq == 0 && !survey_failed) {
		char *held = strlist_join(&r.deferred, ", ");

		log_event(LOG_INFO, "tenants_up_to_date",
			  (struct log_field[]){ LFI("tenants", r.n), LFS("deferred", held),
						LFI("duration_ms", now_ms() - t0), { 0 } },
			  "all %zu tenants already at %s, nothing to do (%lld ms, no lock)%s%s",
			  r.n, r.expand ? "the expand point" : "head", now_ms() - t0,
			  r.deferred.n ? "; held back for the contract phase: " : "", held);
		free(held);
		goto out;
	}
	log_event(LOG_INFO, "tenants_plan",
		  (struct log_field[]){ LFI("tenants", r.n), LFI("at_head", r.at_head),
					LFI("to_migrate", r.nq), LFI("failed", survey_failed),
					LFI("parallel", c->cfg.tenant_parallel), { 0 } },
		  "%zu tenants: %ld at head, %zu to migrate, %ld failed; %d at once", r.n,
		  r.at_head, r.nq, survey_failed, c->cfg.tenant_parallel);
	if (r.nq) {
		/* Each tenant's rows in the one ledger, created once here. */
		if (ctx_ledger_wanted(c)) {
			ledger_init(&r.ledger, c->url.kind, c->cfg.ledger_schema, NULL,
				    c->cfg.version_table);
			if (ledger_prepare(&r.ledger, &c->db) < 0) {
				err_set(&c->e, r.ledger.refused ? ERR_USAGE : ERR_FAILED, "%s",
					c->db.errstr);
				rc = ctx_fail(c);
				goto out;
			}
			if (c->cfg.archive_limit > 0 && c->cfg.archive_retention_ms > 0) {
				struct archive ar;
				int exists = 0;

				/* asked once, not per tenant */
				archive_init(&ar, c->cfg.ledger_schema, NULL, c->cfg.version_table,
					     c->cfg.archive_limit, c->cfg.archive_retention_ms);
				if (archive_list_exists(&ar, &c->db, &exists) < 0) {
					db_clear_error(&c->db);
					exists = 1; /* unknown: pruned per tenant */
				}
				r.no_archives = !exists;
				archive_release(&ar);
			}
		}
		nslots = (size_t)c->cfg.tenant_parallel;
		slots = calloc(nslots, sizeof(*slots));
		if (!slots)
			abort();
		for (size_t i = 0; i < nslots; i++)
			pthread_mutex_init(&slots[i].mu, NULL);
		r.next = 0;
		r.end = (size_t)c->cfg.tenant_canary < r.nq ? (size_t)c->cfg.tenant_canary : r.nq;
		if (r.end) {
			log_event(LOG_INFO, "tenants_canary",
				  (struct log_field[]){ LFI("tenants", r.end), { 0 } },
				  "canary: the first %zu tenant%s first", r.end, r.end == 1 ? "" : "s");
			run_pool(&r, slots, nslots, t0);
			if (r.failed > survey_failed && !(c->stop && *c->stop)) {
				log_event(LOG_ERROR, "tenants_canary_failed", NULL,
					  "a canary tenant failed: the other %zu tenants are left as "
					  "they are",
					  r.nq - r.next);
				r.stop_starting = 1;
			}
		}
		if (!r.stop_starting && !(c->stop && *c->stop)) {
			r.end = r.nq;
			r.may_defer = 1;
			run_pool(&r, slots, nslots, t0);
		}
		for (size_t i = 0; i < nslots; i++) {
			close_slot(&slots[i]);
			migrate_cache_release(&slots[i].mc);
			ledger_compat_release(&slots[i].lc);
			pthread_mutex_destroy(&slots[i].mu);
		}
		free(slots);
	}
	publish(&r);
	{
		long left = (long)r.n - r.at_head - r.migrated - r.failed;
		char *held = strlist_join(&r.deferred, ", ");

		log_event(LOG_INFO, "tenants_done",
			  (struct log_field[]){ LFI("tenants", r.n), LFI("at_head", r.at_head),
						LFI("migrated", r.migrated), LFI("failed", r.failed),
						LFI("not_started", left), LFS("deferred", held),
						LFI("duration_ms", now_ms() - t0), { 0 } },
			  "tenants: %ld migrated, %ld already at %s, %ld failed, %ld not started "
			  "(%zu in all, %lld ms)%s%s",
			  r.migrated, r.at_head, r.expand ? "the expand point" : "head", r.failed,
			  left, r.n, now_ms() - t0,
			  r.deferred.n ? "; held back for the contract phase: " : "", held);
		free(held);
		if (c->stop && *c->stop) {
			err_set(&c->e, 128 + *c->stop,
				"stopped by signal %d: %ld tenants migrated, %ld not; each is at its "
				"old or its new revision, and a run again goes on",
				(int)*c->stop, r.migrated, left + r.failed);
			rc = ctx_fail(c);
		} else if (r.failed) {
			report_failed(&r);
			rc = ctx_fail(c);
		} else if (left) {
			err_set(&c->e, ERR_FAILED, "%ld tenants not started", left);
			rc = ctx_fail(c);
		}
	}
out:
	trun_release(&r);
	return rc;
}

int ctx_tenants_status(struct ctx *c)
{
	struct trun r;
	struct revptrs heads = { 0 };
	int rc, all = 1;

	trun_init(&r, c);
	/* pending: every revision to head, in any phase (as status of one
	 * schema lists them) */
	r.expand = 0;
	if ((rc = survey(&r)))
		goto out;
	graph_heads(c->g, &heads);
	out("{\"reachable\":true,\"database\":");
	{
		struct sbuf b = { 0 };

		sbuf_add_json_str(&b, c->url.masked);
		out("%s,\"heads\":[", b.buf);
		sbuf_free(&b);
	}
	for (size_t i = 0; i < heads.n; i++)
		out("%s\"%s\"", i ? "," : "", heads.v[i]->id);
	out("],\"tenants\":[");
	for (size_t i = 0; i < r.n; i++) {
		struct tenant *t = &r.t[i];
		struct sbuf b = { 0 };

		sbuf_addf(&b, "%s{\"name\":\"%s\",\"current\":", i ? "," : "", t->name);
		if (t->no_schema || !t->exists) {
			sbuf_adds(&b, "null");
		} else {
			sbuf_addc(&b, '[');
			for (size_t k = 0; k < t->heads.n; k++) {
				if (k)
					sbuf_addc(&b, ',');
				sbuf_add_json_str(&b, t->heads.v[k]);
			}
			sbuf_addc(&b, ']');
		}
		if (t->state == T_FAILED) {
			sbuf_adds(&b, ",\"pending\":null,\"at_head\":false,\"error\":");
			sbuf_add_json_str(&b, t->error);
			all = 0;
		} else {
			char *why = NULL;
			const struct plan *p = plan_for(&r, &t->heads, &why);

			sbuf_adds(&b, ",\"pending\":[");
			for (size_t k = 0; p && k < p->n; k++) {
				if (k)
					sbuf_addc(&b, ',');
				sbuf_add_json_str(&b, p->steps[k].rev ? p->steps[k].rev->id : "");
			}
			sbuf_addf(&b, "],\"at_head\":%s,\"error\":null",
				  t->state == T_AT_HEAD ? "true" : "false");
			if (t->state != T_AT_HEAD)
				all = 0;
			free(why);
		}
		sbuf_addc(&b, '}');
		out("%s", b.buf);
		sbuf_free(&b);
	}
	out("],\"at_head\":%s}\n", all ? "true" : "false");
	revptrs_free(&heads);
out:
	trun_release(&r);
	return rc;
}
