/* status_rev.c - what SPEC §7.4 adds to the run's status: the revision
 * being applied, the histogram of revision durations for /metrics, the
 * progress of a running CREATE INDEX for /status, and the copies the
 * termination log is written from. */
#include "prestart/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double rev_bounds[STATUS_REV_BUCKETS] = STATUS_REV_BOUNDS;

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
	for (int i = 0; i < STATUS_REV_BUCKETS; i++)
		if ((double)ms <= rev_bounds[i] * 1000.0)
			s->rev_buckets[i]++;
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
	sbuf_adds(b, "# HELP prestart_revision_duration_seconds Time each revision took to apply.\n"
		     "# TYPE prestart_revision_duration_seconds histogram\n");
	for (int i = 0; i < STATUS_REV_BUCKETS; i++)
		sbuf_addf(b, "prestart_revision_duration_seconds_bucket{le=\"%g\"} %lld\n",
			  rev_bounds[i], s->rev_buckets[i]);
	sbuf_addf(b, "prestart_revision_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
		  s->rev_count);
	sbuf_addf(b, "prestart_revision_duration_seconds_sum %lld.%03lld\n", s->rev_sum_ms / 1000,
		  s->rev_sum_ms % 1000);
	sbuf_addf(b, "prestart_revision_duration_seconds_count %lld\n", s->rev_count);
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
