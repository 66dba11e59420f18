/* worker.c - start, sleep and stop for the background threads (worker.h). */
#include "prestart/worker.h"

#include <signal.h>
#include <string.h>
#include <time.h>

#include "prestart/util.h"

static void *trampoline(void *arg)
{
	struct worker *w = arg;

	w->run(w, w->arg);
	return NULL;
}

int worker_start(struct worker *w, void (*run)(struct worker *w, void *arg), void *arg)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int rc;

	memset(w, 0, sizeof(*w));
	w->run = run;
	w->arg = arg;
	pthread_mutex_init(&w->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* The thread inherits the mask: it never takes a signal meant for
	 * the main thread's handlers. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, trampoline, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
	}
	return rc;
}

int worker_sleep_until(struct worker *w, long long until_ms)
{
	int stop;

	pthread_mutex_lock(&w->mu);
	while (!w->stop && now_ms() < until_ms) {
		struct timespec ts;

		/* now_ms() is CLOCK_MONOTONIC, the clock cv waits on. */
		ts.tv_sec = (time_t)(until_ms / 1000);
		ts.tv_nsec = (long)(until_ms % 1000) * 1000000L;
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

int worker_stopping(struct worker *w)
{
	int stop;

	pthread_mutex_lock(&w->mu);
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

void worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}
