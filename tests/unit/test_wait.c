/* test_wait.c - backoff, and wait_all on file targets (no network, no
 * database; parsing targets: test_wait_target.c).  The PostgreSQL verdict
 * is the driver's: test_db_pg.c. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "prestart/log.h"
#include "prestart/wait.h"

static void parse_ok(const char *spec, struct wait_target *t)
{
	struct err e = { 0 };

	if (wait_target_parse(spec, t, &e) != 0)
		fail_msg("'%s' rejected: %s", spec, e.msg);
}

static void test_backoff(void **state)
{
	static const long long caps[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };

	(void)state;
	for (unsigned a = 1; a <= 8; a++) {
		long long cap = caps[a - 1];

		assert_int_equal(wait_backoff_ms(a, 0), cap / 2);
		assert_int_equal(wait_backoff_ms(a, (unsigned long long)(cap / 2)), cap);
		for (unsigned long long r = 1; r < 100000; r = r * 7 + 3) {
			long long v = wait_backoff_ms(a, r);

			assert_true(v >= cap / 2 && v <= cap);
		}
	}
	assert_int_equal(wait_backoff_ms(0, 0), 50);
	assert_int_equal(wait_backoff_ms(4000000000u, 0), 2500);
	assert_true(wait_backoff_ms(4000000000u, ~0ULL) <= 5000);
}

static int quiet_logs(void **state)
{
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

	*state = (void *)(long)fd;
	log_init(LOGFMT_TEXT, fd);
	return 0;
}

static int restore_logs(void **state)
{
	log_init(LOGFMT_TEXT, 1);
	close((int)(long)*state);
	return 0;
}

static void test_wait_all_files(void **state)
{
	struct wait_target t[2];
	struct status st;
	struct err e = { 0 };
	volatile sig_atomic_t stop = 0;
	long long t0;
	char dir[] = "/tmp/prestart-wait-XXXXXX";
	char *spec, *want;

	(void)state;
	/* a directory of our own, and a path under it that cannot exist */
	assert_non_null(mkdtemp(dir));
	status_init(&st);
	assert_int_equal(wait_all(NULL, 0, 100, 0, &stop, &st, &e), 0);

	spec = xasprintf("file://%s", dir);
	parse_ok(spec, &t[0]);
	free(spec);
	spec = xasprintf("file://%s/missing/prestart-test-target", dir);
	parse_ok(spec, &t[1]);
	assert_int_equal(wait_all(t, 1, 1000, 0, &stop, &st, &e), 0);
	assert_int_equal(st.wait_attempts, 1);

	t0 = now_ms();
	assert_int_equal(wait_all(t, 2, 300, 0, &stop, NULL, &e), -1);
	assert_true(now_ms() - t0 < 1300);
	assert_int_equal(e.kind, ERR_TIMEOUT);
	want = xasprintf("timed out after 300 ms waiting for %s (no such file or directory)", spec);
	assert_string_equal(e.msg, want);
	free(want);
	free(spec);

	/* A signal that already arrived stops the wait before any attempt. */
	stop = SIGTERM;
	t0 = now_ms();
	assert_int_equal(wait_all(t, 2, 0, 0, &stop, NULL, &e), -1);
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(e.kind, 128 + SIGTERM);

	wait_target_release(&t[0]);
	wait_target_release(&t[1]);
	status_release(&st);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test_setup_teardown(test_wait_all_files, quiet_logs, restore_logs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
