/* worker.h - the one skeleton of prestart's background threads, in the
 * manner of redis's bio.c: one small API, a worker per kind of job, so
 * that one kind never waits behind another (the lease's renewal never
 * queues behind the observer's slow query).
 *
 * A worker runs its job on a thread of its own with every signal blocked
 * (signals are the main thread's business), sleeps between rounds on the
 * monotonic clock (now_ms()), and ends when its owner stops it.  The job
 * may use w->mu for what it shares with its owner.
 */
#ifndef PRESTART_WORKER_H
#define PRESTART_WORKER_H

#include <pthread.h>

struct worker {
	pthread_t thread;
	pthread_mutex_t mu; /* stop, and whatever the job shares with its owner */
	pthread_cond_t cv;  /* waits on CLOCK_MONOTONIC */
	int stop;           /* under mu: worker_stop was called */
	void (*run)(struct worker *w, void *arg);
	void *arg;
};

/* Start run(w, arg) on a new thread.  0, or an errno value (nothing to
 * stop then). */
int worker_start(struct worker *w, void (*run)(struct worker *w, void *arg), void *arg);
/* In the job: sleep until now_ms() reaches until_ms or the worker is
 * stopped.  1 when it is to stop, else 0. */
int worker_sleep_until(struct worker *w, long long until_ms);
/* Has the worker been asked to stop?  From any thread. */
int worker_stopping(struct worker *w);
/* Ask the job to end, wake it, wait for it, free what worker_start made.
 * The job sees the request at its next worker_sleep_until or
 * worker_stopping. */
void worker_stop(struct worker *w);

#endif
