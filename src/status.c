/* status.c - the run's status, shared by the pipeline and the health
 * endpoint (status.h).
 *
 * Map: the phase and its life cycle, /status and /metrics; then what SPEC
 * §7.4 adds: the revision being applied, the histogram of revision
 * durations for /metrics, the progress of a running CREATE INDEX for
 * /status, and the copies the termination log is written from. */
#include "prestart/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double hold_bounds[STATUS_HOLD_BUCKETS] = STATUS_HOLD_BOUNDS;

static const char *const phase_names[PHASE_COUNT] = {
	[PHASE_STARTING] = "starting",
	[PHASE_WAITING] = "waiting",
	[PHASE_LOCKING] = "locking",
	[PHASE_MIGRATING] = "migrating",
	[PHASE_DONE] = "done",
	[PHASE_FAILED] = "failed",
};

void status_init(struct status *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->phase = PHASE_STARTING;
	s->started_ms = now_ms();
	s->phase_started_ms = s->started_ms;
}

void status_release(struct status *s)
{
	free(s->current);
	free(s->target);
	free(s->running);
	free(s->blockers);
	free(s->last_blockers);
	strlist_free(&s->deferred);
	strlist_free(&s->deferred_why);
	strlist_free(&s->tenants.failed_names);
	free(s->hold_last_rev);
	free(s->hold_max_rev);
	free(s->holder_rev);
	free(s->holder_at);
	free(s->holder_stmt);
	s->current = s->target = s->running = NULL;
	s->blockers = s->last_blockers = NULL;
	pthread_mutex_destroy(&s->mu);
}

const char *status_phase_name(enum phase p)
{
	if ((int)p < 0 || p >= PHASE_COUNT)
		return "unknown";
	return phase_names[p];
}

static long long *phase_total(struct status *s, enum phase p)
{
	switch (p) {
	case PHASE_WAITING: return &s->wait_ms;
	case PHASE_LOCKING: return &s->lock_wait_ms;
	case PHASE_MIGRATING: return &s->migrate_ms;
	default: return NULL;
	}
}

/* Called with the mutex held. */
static void enter_phase(struct status *s, enum phase p, long long now)
{
	long long *total = phase_total(s, s->phase);

	if (total)
		*total += now - s->phase_started_ms;
	s->phase = p;
	s->phase_started_ms = now;
	if (p == PHASE_DONE || p == PHASE_FAILED) {
		if (!s->finished_ms)
			s->finished_ms = now;
	} else {
		s->finished_ms = 0;
	}
}

void status_set_phase(struct status *s, enum phase p)
{
	long long now = now_ms();

	pthread_mutex_lock(&s->mu);
	enter_phase(s, p, now);
	pthread_mutex_unlock(&s->mu);
}

void status_fail(struct status *s, const char *msg)
{
	long long now = now_ms();

	pthread_mutex_lock(&s->mu);
	snprintf(s->error, sizeof(s->error), "%s", msg ? msg : "failed");
	utf8_trim_partial(s->error);
	/* JSON would escape them, but the error is promised as one line:
	 * probes and log shippers show it as such. */
	for (char *c = s->error; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	if (s->phase != PHASE_FAILED)
		s->failed_in = s->phase;
	enter_phase(s, PHASE_FAILED, now);
	pthread_mutex_unlock(&s->mu);
}

static char *dup_heads(const char *v)
{
	return v && *v ? xstrdup(v) : NULL;
}

void status_set_heads(struct status *s, const char *current, const char *target)
{
	char *c = dup_heads(current), *t = dup_heads(target), *oc, *ot;

	pthread_mutex_lock(&s->mu);
	oc = s->current;
	ot = s->target;
	s->current = c;
	s->target = t;
	pthread_mutex_unlock(&s->mu);
	free(oc);
	free(ot);
}

void status_set_counts(struct status *s, long pending, long applied)
{
	pthread_mutex_lock(&s->mu);
	s->pending = pending;
	s->applied = applied;
	pthread_mutex_unlock(&s->mu);
}

void status_add_wait_attempt(struct status *s)
{
	pthread_mutex_lock(&s->mu);
	s->wait_attempts++;
	pthread_mutex_unlock(&s->mu);
}

void status_set_blockers(struct status *s, const char *json)
{
	char *n = json ? xstrdup(json) : NULL, *keep = json ? xstrdup(json) : NULL;
	char *o, *ok = NULL;

	pthread_mutex_lock(&s->mu);
	o = s->blockers;
	s->blockers = n;
	if (keep) {
		ok = s->last_blockers;
		s->last_blockers = keep;
	}
	pthread_mutex_unlock(&s->mu);
	free(o);
	free(ok);
}

void status_forget_blockers(struct status *s)
{
	char *o, *ok;

	pthread_mutex_lock(&s->mu);
	o = s->blockers;
	ok = s->last_blockers;
	s->blockers = s->last_blockers = NULL;
	pthread_mutex_unlock(&s->mu);
	free(o);
	free(ok);
}

void status_add_lock_timeout(struct status *s)
{
	pthread_mutex_lock(&s->mu);
	s->lock_timeouts++;
	pthread_mutex_unlock(&s->mu);
}

enum phase status_phase(struct status *s)
{
	enum phase p;

	pthread_mutex_lock(&s->mu);
	p = s->phase;
	pthread_mutex_unlock(&s->mu);
	return p;
}

/* Called with the mutex held. */
static long long elapsed_ms(const struct status *s, long long now)
{
	return (s->finished_ms ? s->finished_ms : now) - s->started_ms;
}

/* Time in phase p so far, counting the phase in progress, so that a scrape
 * during a long migration shows it growing.  Called with the mutex held. */
static long long phase_ms(struct status *s, enum phase p, long long now)
{
	long long total = *phase_total(s, p);

	if (s->phase == p)
		total += now - s->phase_started_ms;
	return total;
}

static void json_opt_str(struct sbuf *b, const char *v)
{
	if (v)
		sbuf_add_json_str(b, v);
	else
		sbuf_adds(b, "null");
}

char *status_json(struct status *s)
{
	struct sbuf b = { 0 };
	long long now = now_ms();

	pthread_mutex_lock(&s->mu);
	sbuf_adds(&b, "{\"phase\":");
	sbuf_add_json_str(&b, status_phase_name(s->phase));
	sbuf_adds(&b, ",\"current\":");
	json_opt_str(&b, s->current);
	sbuf_adds(&b, ",\"target\":");
	json_opt_str(&b, s->target);
	sbuf_addf(&b, ",\"pending\":%ld,\"applied\":%ld,\"elapsed_ms\":%lld,\"blockers\":%s"
		  ",\"error\":",
		  s->pending, s->applied, elapsed_ms(s, now), s->blockers ? s->blockers : "[]");
	json_opt_str(&b, s->error[0] ? s->error : NULL);
	sbuf_addf(&b, ",\"wait_attempts\":%lld", s->wait_attempts);
	/* SPEC §9.4: only when the expand phase held something back */
	if (s->deferred.n)
		sbuf_adds(&b, ",\"deferred\":[");
	for (size_t i = 0; i < s->deferred.n; i++) {
		sbuf_adds(&b, i ? ",{\"revision\":" : "{\"revision\":");
		sbuf_add_json_str(&b, s->deferred.v[i]);
		sbuf_adds(&b, ",\"reason\":");
		sbuf_add_json_str(&b, s->deferred_why.v[i]);
		sbuf_addc(&b, '}');
	}
	if (s->deferred.n)
		sbuf_addc(&b, ']');
	if (s->index_progress[0]) {
		sbuf_adds(&b, ",\"index_progress\":");
		sbuf_add_json_str(&b, s->index_progress);
	}
	if (s->tenants.on) {
		sbuf_addf(&b,
			  ",\"tenants\":{\"total\":%ld,\"at_head\":%ld,\"migrated\":%ld,"
			  "\"failed\":%ld,\"running\":%ld,\"pending\":%ld,\"failed_names\":[",
			  s->tenants.total, s->tenants.at_head, s->tenants.migrated,
			  s->tenants.failed, s->tenants.running, s->tenants.pending);
		for (size_t i = 0; i < s->tenants.failed_names.n; i++) {
			if (i)
				sbuf_addc(&b, ',');
			sbuf_add_json_str(&b, s->tenants.failed_names.v[i]);
		}
		sbuf_adds(&b, "]}");
	}
	if (s->hold_measured) {
		sbuf_adds(&b, ",\"lock_hold\":{\"last_revision\":");
		json_opt_str(&b, s->hold_last_rev);
		sbuf_addf(&b, ",\"last_ms\":%lld,\"max_revision\":", s->hold_last_ms);
		json_opt_str(&b, s->hold_max_rev);
		sbuf_addf(&b, ",\"max_ms\":%lld}", s->hold_max_ms);
	}
	sbuf_adds(&b, "}");
	pthread_mutex_unlock(&s->mu);
	return sbuf_detach(&b);
}

void status_set_tenants(struct status *s, long total, long at_head, long migrated, long failed,
			long running, long pending)
{
	pthread_mutex_lock(&s->mu);
	s->tenants.on = 1;
	s->tenants.total = total;
	s->tenants.at_head = at_head;
	s->tenants.migrated = migrated;
	s->tenants.failed = failed;
	s->tenants.running = running;
	s->tenants.pending = pending;
	pthread_mutex_unlock(&s->mu);
}

void status_tenant_failed(struct status *s, const char *name)
{
	pthread_mutex_lock(&s->mu);
	strlist_push(&s->tenants.failed_names, name);
	pthread_mutex_unlock(&s->mu);
}

static void metric_head(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One metric with a single integer sample. */
static void metric_int(struct sbuf *b, const char *name, const char *type, const char *help,
		       long long v)
{
	metric_head(b, name, type, help);
	sbuf_addf(b, "%s %lld\n", name, v);
}

static void metric_seconds(struct sbuf *b, const char *name, const char *help, long long ms)
{
	metric_head(b, name, "gauge", help);
	sbuf_addf(b, "%s %lld.%03lld\n", name, ms / 1000, ms % 1000);
}

char *status_metrics(struct status *s)
{
	struct sbuf b = { 0 };
	long long now = now_ms();

	pthread_mutex_lock(&s->mu);
	metric_head(&b, "prestart_phase", "gauge",
		    "Current phase of the run (1 for the active phase, 0 for the others).");
	for (int p = 0; p < PHASE_COUNT; p++)
		sbuf_addf(&b, "prestart_phase{phase=\"%s\"} %d\n", phase_names[p],
			  (int)s->phase == p);
	metric_int(&b, "prestart_revisions_applied", "gauge", "Revisions applied by this run.",
		   s->applied);
	metric_int(&b, "prestart_revisions_pending", "gauge",
		   "Revisions still to apply to reach the target.", s->pending);
	metric_int(&b, "prestart_deferred_revisions", "gauge",
		   "Pending revisions the expand phase held back for the contract phase.",
		   (long long)s->deferred.n);
	metric_int(&b, "prestart_wait_attempts_total", "counter",
		   "Readiness probes made while waiting for dependencies.", s->wait_attempts);
	metric_int(&b, "prestart_ddl_lock_timeouts_total", "counter",
		   "Migration statements cancelled by the DDL lock timeout.", s->lock_timeouts);
	metric_seconds(&b, "prestart_elapsed_seconds", "Time since prestart started.",
		       elapsed_ms(s, now));
	metric_seconds(&b, "prestart_wait_seconds", "Time spent waiting for dependencies.",
		       phase_ms(s, PHASE_WAITING, now));
	metric_seconds(&b, "prestart_lock_wait_seconds", "Time spent waiting for the migration lock.",
		       phase_ms(s, PHASE_LOCKING, now));
	metric_seconds(&b, "prestart_migrate_seconds", "Time spent applying revisions.",
		       phase_ms(s, PHASE_MIGRATING, now));
	status_metrics_revisions(s, &b);
	if (s->tenants.on) {
		metric_head(&b, "prestart_tenants_total", "gauge",
			    "Tenants of this run in each state.");
		sbuf_addf(&b,
			  "prestart_tenants_total{state=\"at_head\"} %ld\n"
			  "prestart_tenants_total{state=\"migrated\"} %ld\n"
			  "prestart_tenants_total{state=\"failed\"} %ld\n"
			  "prestart_tenants_total{state=\"running\"} %ld\n"
			  "prestart_tenants_total{state=\"pending\"} %ld\n",
			  s->tenants.at_head, s->tenants.migrated, s->tenants.failed,
			  s->tenants.running, s->tenants.pending);
	}
	status_histogram(&b, "prestart_lock_hold_seconds",
			 "Time each revision held an ACCESS EXCLUSIVE lock, from its first "
			 "statement that takes one to its commit.",
			 hold_bounds, STATUS_HOLD_BUCKETS, s->hold_buckets, s->hold_count,
			 s->hold_sum_ms);
	metric_int(&b, "prestart_up", "gauge", "Always 1 while prestart serves metrics.", 1);
	pthread_mutex_unlock(&s->mu);
	return sbuf_detach(&b);
}

void status_set_deferred(struct status *s, const struct strlist *ids,
			 const struct strlist *whys)
{
	pthread_mutex_lock(&s->mu);
	strlist_free(&s->deferred);
	strlist_free(&s->deferred_why);
	for (size_t i = 0; i < ids->n; i++) {
		strlist_push(&s->deferred, ids->v[i]);
		strlist_push(&s->deferred_why, i < whys->n ? whys->v[i] : "");
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---- revisions (SPEC §7.4) ---- */

static const double rev_bounds[STATUS_REV_BUCKETS] = STATUS_REV_BOUNDS;

void status_histogram_observe(const double *bounds, int n, long long *counts, long long ms)
{
	for (int i = 0; i < n; i++)
		if ((double)ms <= bounds[i] * 1000.0)
			counts[i]++;
}

void status_histogram(struct sbuf *b, const char *name, const char *help,
		      const double *bounds, int n, const long long *counts, long long count,
		      long long sum_ms)
{
	sbuf_addf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < n; i++)
		sbuf_addf(b, "%s_bucket{le=\"%g\"} %lld\n", name, bounds[i], counts[i]);
	sbuf_addf(b, "%s_bucket{le=\"+Inf\"} %lld\n", name, count);
	sbuf_addf(b, "%s_sum %lld.%03lld\n", name, sum_ms / 1000, sum_ms % 1000);
	sbuf_addf(b, "%s_count %lld\n", name, count);
}

void status_set_running(struct status *s, const char *rev)
{
	char *v = rev && *rev ? xstrdup(rev) : NULL;

	pthread_mutex_lock(&s->mu);
	free(s->running);
	s->running = v;
	pthread_mutex_unlock(&s->mu);
}

void status_observe_revision(struct status *s, long long ms)
{
	pthread_mutex_lock(&s->mu);
	status_histogram_observe(rev_bounds, STATUS_REV_BUCKETS, s->rev_buckets, ms);
	s->rev_count++;
	s->rev_sum_ms += ms;
	pthread_mutex_unlock(&s->mu);
}

void status_set_index_progress(struct status *s, const char *line)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->index_progress, sizeof(s->index_progress), "%s", line ? line : "");
	pthread_mutex_unlock(&s->mu);
}

void status_metrics_revisions(struct status *s, struct sbuf *b)
{
	status_histogram(b, "prestart_revision_duration_seconds",
			 "Time each revision took to apply.", rev_bounds, STATUS_REV_BUCKETS,
			 s->rev_buckets, s->rev_count, s->rev_sum_ms);
}

/* ---- lock holds (SPEC §9.3) ---- */

static void replace_str(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? xstrdup(v) : NULL;
}

void status_lock_hold(struct status *s, const char *rev, long long ms)
{
	if (ms < 0)
		ms = 0;
	pthread_mutex_lock(&s->mu);
	s->hold_measured = 1;
	replace_str(&s->hold_last_rev, rev);
	s->hold_last_ms = ms;
	if (ms > 0) {
		status_histogram_observe(hold_bounds, STATUS_HOLD_BUCKETS, s->hold_buckets, ms);
		s->hold_count++;
		s->hold_sum_ms += ms;
	}
	if (ms > s->hold_max_ms || !s->hold_max_rev) {
		replace_str(&s->hold_max_rev, rev);
		s->hold_max_ms = ms;
	}
	pthread_mutex_unlock(&s->mu);
}

void status_note_holder(struct status *s, const char *rev, const char *at, const char *stmt,
			long long ms)
{
	if (ms < 0)
		ms = 0;
	pthread_mutex_lock(&s->mu);
	if (!s->holder_at || ms > s->holder_ms) {
		replace_str(&s->holder_rev, rev);
		replace_str(&s->holder_at, at);
		replace_str(&s->holder_stmt, stmt);
		s->holder_ms = ms;
	}
	pthread_mutex_unlock(&s->mu);
}

char *status_holder_json(struct status *s)
{
	struct sbuf b = { 0 };

	pthread_mutex_lock(&s->mu);
	if (s->holder_at) {
		sbuf_adds(&b, "{\"revision\":");
		json_opt_str(&b, s->holder_rev);
		sbuf_adds(&b, ",\"at\":");
		json_opt_str(&b, s->holder_at);
		sbuf_adds(&b, ",\"statement\":");
		json_opt_str(&b, s->holder_stmt);
		sbuf_addf(&b, ",\"seconds\":%lld.%03lld}", s->holder_ms / 1000,
			  s->holder_ms % 1000);
	}
	pthread_mutex_unlock(&s->mu);
	return b.buf ? sbuf_detach(&b) : NULL;
}

enum phase status_failed_phase(struct status *s)
{
	enum phase p;

	pthread_mutex_lock(&s->mu);
	p = s->phase == PHASE_FAILED ? s->failed_in : s->phase;
	pthread_mutex_unlock(&s->mu);
	return p;
}

char *status_revision(struct status *s)
{
	char *v;

	pthread_mutex_lock(&s->mu);
	/* What a run that ended well reached, else where a failure left it. */
	if (s->running)
		v = xstrdup(s->running);
	else if (s->phase != PHASE_FAILED && s->target)
		v = xstrdup(s->target);
	else
		v = s->current ? xstrdup(s->current) : NULL;
	pthread_mutex_unlock(&s->mu);
	return v;
}

void status_error(struct status *s, char *buf, size_t n)
{
	pthread_mutex_lock(&s->mu);
	snprintf(buf, n, "%s", s->error);
	pthread_mutex_unlock(&s->mu);
	utf8_trim_partial(buf);
}

char *status_blockers_json(struct status *s)
{
	char *r;

	pthread_mutex_lock(&s->mu);
	r = xstrdup(s->last_blockers ? s->last_blockers : "[]");
	pthread_mutex_unlock(&s->mu);
	return r;
}
