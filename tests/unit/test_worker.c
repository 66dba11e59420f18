#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/util.h"
#include "prestart/worker.h"

struct job {
	int rounds;
	int blocked;  /* SIGTERM was blocked on the worker's thread */
	long long every_ms;
};

static void tick(struct worker *w, void *arg)
{
	struct job *j = arg;
	sigset_t mask;
	long long next = now_ms();

	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	j->blocked = sigismember(&mask, SIGTERM) == 1;
	while (!worker_sleep_until(w, next)) {
		pthread_mutex_lock(&w->mu);
		j->rounds++;
		next += j->every_ms;
		pthread_mutex_unlock(&w->mu);
	}
}

/* Rounds at the job's cadence, signals left to the main thread, and a stop
 * that does not wait for the next round. */
static void test_rounds_and_prompt_stop(void **state)
{
	struct job j = { 0, 0, 20 };
	struct worker w;
	long long t0;
	int rounds;

	(void)state;
	assert_int_equal(worker_start(&w, tick, &j), 0);
	while (!worker_stopping(&w)) {
		pthread_mutex_lock(&w.mu);
		rounds = j.rounds;
		pthread_mutex_unlock(&w.mu);
		if (rounds >= 3)
			break;
		nap_ms(5, NULL);
	}
	pthread_mutex_lock(&w.mu);
	j.every_ms = 60 * 1000; /* the next round is a minute away */
	pthread_mutex_unlock(&w.mu);
	nap_ms(30, NULL);
	t0 = now_ms();
	worker_stop(&w);
	assert_true(now_ms() - t0 < 1000);
	assert_true(j.rounds >= 3);
	assert_true(j.blocked);
}

static void once(struct worker *w, void *arg)
{
	(void)w;
	*(int *)arg = 1;
}

/* A job that returns on its own is still stopped (joined) by its owner. */
static void test_job_that_ends(void **state)
{
	struct worker w;
	int ran = 0;

	(void)state;
	assert_int_equal(worker_start(&w, once, &ran), 0);
	worker_stop(&w);
	assert_int_equal(ran, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounds_and_prompt_stop),
		cmocka_unit_test(test_job_that_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
