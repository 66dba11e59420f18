/* status.h - the run's progress, shared between the pipeline and the health
 * endpoint thread (SPEC §5).  Every accessor takes the mutex; the pipeline
 * never blocks on a health client because the health thread only holds the
 * mutex to copy or format the state.
 */
#ifndef PRESTART_STATUS_H
#define PRESTART_STATUS_H

#include <pthread.h>

#include "prestart/util.h"

/* The upper bounds (seconds) of the revision duration histogram's buckets. */
#define STATUS_REV_BUCKETS 10
#define STATUS_REV_BOUNDS { 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 1800 }
/* ... and of the lock hold histogram (SPEC §9.3): a hold that the
 * application notices starts around a tenth of a second. */
#define STATUS_HOLD_BUCKETS 12
#define STATUS_HOLD_BOUNDS { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 }

enum phase {
	PHASE_STARTING = 0,
	PHASE_WAITING,
	PHASE_LOCKING,
	PHASE_MIGRATING,
	PHASE_DONE,
	PHASE_FAILED
};
#define PHASE_COUNT (PHASE_FAILED + 1)

struct status {
	pthread_mutex_t mu;
	enum phase phase;
	long long started_ms;      /* now_ms() at status_init */
	long long phase_started_ms; /* now_ms() when the current phase began */
	long long finished_ms;     /* now_ms() on reaching done or failed, else 0 */
	char *current;             /* comma-separated heads, or NULL */
	char *target;              /* comma-separated target heads, or NULL */
	long pending, applied;
	long long wait_attempts;
	long long wait_ms, lock_wait_ms, migrate_ms; /* durations of finished phases */
	char error[512];           /* one line, never with a password */
	/* SPEC §7.4: the revision being applied (NULL between revisions),
	 * the phase a failure ended, the histogram of revision durations,
	 * and the progress line of a running CREATE INDEX ("" when none; set
	 * by the observer, observer.h). */
	char *running;
	enum phase failed_in;
	long long rev_buckets[STATUS_REV_BUCKETS]; /* cumulative counts per le */
	long long rev_count, rev_sum_ms;
	char index_progress[256];
	/* SPEC §7.2: a JSON array of who blocks the migration while it waits
	 * behind their locks (NULL: nobody), and the lock timeouts so far. */
	char *blockers;
	/* the last non-NULL blockers, kept after the wait ended (a unit that
	 * succeeds forgets them): why a lock timeout failed the run */
	char *last_blockers;
	long long lock_timeouts;
	/* SPEC §9.4: the revisions the expand phase held back (ids) and why,
	 * in the same order; empty otherwise. */
	struct strlist deferred, deferred_why;
	/* SPEC §9.5: a run over many tenants (tenants.on): how many are in
	 * each state, and the names of those that failed. */
	struct {
		int on;
		long total, at_head, migrated, failed, running, pending;
		struct strlist failed_names;
	} tenants;
	/* SPEC §9.3: ACCESS EXCLUSIVE held per revision (status_lock_hold):
	 * the histogram of the holds, the last revision measured and the
	 * longest hold; the statement behind the longest hold of the run
	 * (status_note_holder), for the termination log. */
	long long hold_buckets[STATUS_HOLD_BUCKETS];
	long long hold_count, hold_sum_ms;
	int hold_measured;
	char *hold_last_rev, *hold_max_rev;
	long long hold_last_ms, hold_max_ms;
	char *holder_rev, *holder_at, *holder_stmt;
	long long holder_ms;
};

/* Start in PHASE_STARTING with the clock running; status_release() frees. */
void status_init(struct status *s);
void status_release(struct status *s);

const char *status_phase_name(enum phase p);
/* Enter phase p.  Time spent in waiting, locking and migrating is added to
 * wait_ms, lock_wait_ms and migrate_ms when the phase is left; done and
 * failed stop the elapsed clock. */
void status_set_phase(struct status *s, enum phase p);
/* Mark failed with a one-line error message (already free of passwords;
 * control characters become spaces). */
void status_fail(struct status *s, const char *msg);
/* Copy the heads; NULL or "" means none (null in the JSON). */
void status_set_heads(struct status *s, const char *current, const char *target);
void status_set_counts(struct status *s, long pending, long applied);
void status_add_wait_attempt(struct status *s);
/* Copy the JSON array of blockers (blockers.h) shown by /status; NULL
 * clears it (the copy kept for status_blockers_json stays). */
void status_set_blockers(struct status *s, const char *json);
/* A unit of work succeeded: its blockers are no one's concern any more. */
void status_forget_blockers(struct status *s);
void status_add_lock_timeout(struct status *s);
/* The revisions the expand phase held back and why (copied; empty lists:
 * none).  /status lists them as "deferred", /metrics counts them
 * (prestart_deferred_revisions). */
void status_set_deferred(struct status *s, const struct strlist *ids,
			 const struct strlist *whys);
enum phase status_phase(struct status *s);

/* SPEC §9.5: the tenants' counts (turns the "tenants" member of /status
 * and prestart_tenants_total on), and one more tenant failed. */
void status_set_tenants(struct status *s, long total, long at_head, long migrated, long failed,
			long running, long pending);
void status_tenant_failed(struct status *s, const char *name);

/* The /status JSON document: {"phase":..., "current":..., "target":...,
 * "pending":N, "applied":N, "elapsed_ms":N, "blockers":[...], "error":...,
 * "wait_attempts":N} (blockers: [] unless a migration statement waits for
 * someone's lock)
 * (new string, caller frees). */
char *status_json(struct status *s);
/* The /metrics document, Prometheus text format 0.0.4 (new string, caller
 * frees). */
char *status_metrics(struct status *s);

/* SPEC §7.4. */
/* The revision being applied (copied), NULL when between revisions. */
void status_set_running(struct status *s, const char *rev);
/* One revision applied in ms milliseconds: adds to the histogram. */
void status_observe_revision(struct status *s, long long ms);
/* The progress of a running CREATE INDEX, one line ("" or NULL: none). */
void status_set_index_progress(struct status *s, const char *line);
/* Append the histogram (prestart_revision_duration_seconds) to a /metrics
 * document; called with s->mu held. */
void status_metrics_revisions(struct status *s, struct sbuf *b);
/* The histogram of a /metrics document: HELP, TYPE, the cumulative
 * buckets (counts[i] for bounds[i], in seconds), +Inf, _sum, _count.
 * Pure. */
void status_histogram(struct sbuf *b, const char *name, const char *help,
		      const double *bounds, int n, const long long *counts, long long count,
		      long long sum_ms);
/* Add one observation of ms milliseconds to cumulative buckets.  Pure. */
void status_histogram_observe(const double *bounds, int n, long long *counts, long long ms);

/* SPEC §9.3: revision rev (copied) held ACCESS EXCLUSIVE for ms
 * milliseconds, 0 when none of its statements takes it: the last and the
 * longest in /status; a hold (ms > 0) goes to the histogram
 * prestart_lock_hold_seconds. */
void status_lock_hold(struct status *s, const char *rev, long long ms);
/* A statement held ACCESS EXCLUSIVE for ms: kept when the longest so far
 * (revision, "path:line", the statement shortened; copied). */
void status_note_holder(struct status *s, const char *rev, const char *at, const char *stmt,
			long long ms);
/* The longest holder as a JSON object {"revision","at","statement",
 * "seconds"} (new string), NULL when no statement held it. */
char *status_holder_json(struct status *s);

/* Copies for the termination log: the phase a failure ended (the current
 * one when not failed), the revision being applied, else the target
 * reached (not failed) or the current heads (new string or NULL), the
 * error ("" when none). */
enum phase status_failed_phase(struct status *s);
char *status_revision(struct status *s);
void status_error(struct status *s, char *buf, size_t n);
/* The sessions that last blocked a statement of a unit that has not
 * succeeded since, as a JSON array (new string; "[]" when none). */
char *status_blockers_json(struct status *s);

#endif
