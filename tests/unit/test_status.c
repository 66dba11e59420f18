#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/status.h"

static int setup(void **state)
{
	struct status *s = xmalloc(sizeof(*s));

	status_init(s);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	status_release(*state);
	free(*state);
	return 0;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected '%s' in:\n%s", needle, hay);
}

static void test_phase_names(void **state)
{
	(void)state;
	assert_string_equal(status_phase_name(PHASE_STARTING), "starting");
	assert_string_equal(status_phase_name(PHASE_WAITING), "waiting");
	assert_string_equal(status_phase_name(PHASE_LOCKING), "locking");
	assert_string_equal(status_phase_name(PHASE_MIGRATING), "migrating");
	assert_string_equal(status_phase_name(PHASE_DONE), "done");
	assert_string_equal(status_phase_name(PHASE_FAILED), "failed");
	assert_string_equal(status_phase_name((enum phase)42), "unknown");
}

static void test_json_initial(void **state)
{
	struct status *s = *state;
	char *j;

	s->started_ms = now_ms() - 1500;
	j = status_json(s);
	assert_true(str_has_prefix(j, "{\"phase\":\"starting\",\"current\":null,\"target\":null,"
				      "\"pending\":0,\"applied\":0,\"elapsed_ms\":"));
	assert_true(str_has_suffix(j, ",\"error\":null,\"wait_attempts\":0}"));
	{
		long long ms = atoll(strstr(j, "\"elapsed_ms\":") + 13);
		assert_true(ms >= 1500 && ms < 60000);
	}
	free(j);
	assert_int_equal(status_phase(s), PHASE_STARTING);
}

static void test_json_migrating(void **state)
{
	struct status *s = *state;
	char *j;

	status_set_phase(s, PHASE_MIGRATING);
	status_set_heads(s, "a1,b2", "c3");
	status_set_counts(s, 4, 2);
	status_add_wait_attempt(s);
	status_add_wait_attempt(s);
	j = status_json(s);
	assert_contains(j, "{\"phase\":\"migrating\",\"current\":\"a1,b2\",\"target\":\"c3\","
			   "\"pending\":4,\"applied\":2,\"elapsed_ms\":");
	assert_contains(j, "\"error\":null,\"wait_attempts\":2}");
	free(j);

	/* Replacing heads frees the old ones; "" means none. */
	status_set_heads(s, "", NULL);
	j = status_json(s);
	assert_contains(j, "\"current\":null,\"target\":null,");
	free(j);
}

static void test_fail_one_line_escaped(void **state)
{
	struct status *s = *state;
	char *j;

	status_fail(s, "versions/3f2a.sql:1:5: syntax error at or near \"TABL\"\nDETAIL:\tx\\y");
	assert_int_equal(status_phase(s), PHASE_FAILED);
	assert_null(strchr(s->error, '\n'));
	j = status_json(s);
	assert_contains(j, "{\"phase\":\"failed\",");
	assert_contains(j, "\"error\":\"versions/3f2a.sql:1:5: syntax error at or near "
			   "\\\"TABL\\\" DETAIL: x\\\\y\"");
	free(j);

	status_fail(s, NULL);
	j = status_json(s);
	assert_contains(j, "\"error\":\"failed\"");
	free(j);
}

static void test_fail_truncates(void **state)
{
	struct status *s = *state;
	char big[2000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	status_fail(s, big);
	assert_int_equal(strlen(s->error), sizeof(s->error) - 1);
}

static void test_elapsed_frozen_when_done(void **state)
{
	struct status *s = *state;
	char *a, *b;

	s->started_ms -= 3000;
	status_set_phase(s, PHASE_DONE);
	assert_true(s->finished_ms > 0);
	/* Pretend time moved on: a frozen clock ignores it. */
	s->finished_ms = s->started_ms + 3210;
	a = status_json(s);
	assert_contains(a, "\"elapsed_ms\":3210,");
	b = status_metrics(s);
	assert_contains(b, "\nprestart_elapsed_seconds 3.210\n");
	free(a);
	free(b);

	/* Leaving done (not expected in a run, but defined) restarts the clock. */
	status_set_phase(s, PHASE_MIGRATING);
	assert_int_equal(s->finished_ms, 0);
}

static void test_phase_durations(void **state)
{
	struct status *s = *state;
	char *m;

	status_set_phase(s, PHASE_WAITING);
	s->phase_started_ms -= 1250;
	status_set_phase(s, PHASE_LOCKING);
	assert_true(s->wait_ms >= 1250 && s->wait_ms < 1250 + 10000);
	s->wait_ms = 1250;
	s->phase_started_ms -= 40;
	status_set_phase(s, PHASE_MIGRATING);
	s->lock_wait_ms = 40;
	/* A migration in progress is counted in its metric already. */
	s->phase_started_ms -= 7000;
	m = status_metrics(s);
	assert_contains(m, "\nprestart_wait_seconds 1.250\n");
	assert_contains(m, "\nprestart_lock_wait_seconds 0.040\n");
	assert_contains(m, "\nprestart_migrate_seconds 7.");
	free(m);
	status_set_phase(s, PHASE_DONE);
	assert_true(s->migrate_ms >= 7000);
	/* Re-entering a phase adds to its total. */
	status_set_phase(s, PHASE_WAITING);
	s->phase_started_ms -= 10;
	status_set_phase(s, PHASE_FAILED);
	assert_true(s->wait_ms >= 1260);
}

static void test_metrics(void **state)
{
	struct status *s = *state;
	char *m;

	status_set_phase(s, PHASE_LOCKING);
	status_set_counts(s, 7, 3);
	for (int i = 0; i < 5; i++)
		status_add_wait_attempt(s);
	m = status_metrics(s);
	assert_contains(m, "# HELP prestart_phase ");
	assert_contains(m, "# TYPE prestart_phase gauge\n");
	assert_contains(m, "prestart_phase{phase=\"starting\"} 0\n");
	assert_contains(m, "prestart_phase{phase=\"waiting\"} 0\n");
	assert_contains(m, "prestart_phase{phase=\"locking\"} 1\n");
	assert_contains(m, "prestart_phase{phase=\"migrating\"} 0\n");
	assert_contains(m, "prestart_phase{phase=\"done\"} 0\n");
	assert_contains(m, "prestart_phase{phase=\"failed\"} 0\n");
	assert_contains(m, "# TYPE prestart_revisions_applied gauge\nprestart_revisions_applied 3\n");
	assert_contains(m, "# TYPE prestart_revisions_pending gauge\nprestart_revisions_pending 7\n");
	assert_contains(m, "# TYPE prestart_wait_attempts_total counter\n"
			   "prestart_wait_attempts_total 5\n");
	assert_contains(m, "# TYPE prestart_elapsed_seconds gauge\nprestart_elapsed_seconds ");
	assert_contains(m, "# TYPE prestart_wait_seconds gauge\nprestart_wait_seconds ");
	assert_contains(m, "# TYPE prestart_lock_wait_seconds gauge\nprestart_lock_wait_seconds ");
	assert_contains(m, "# TYPE prestart_migrate_seconds gauge\nprestart_migrate_seconds ");
	assert_contains(m, "# TYPE prestart_up gauge\nprestart_up 1\n");
	assert_true(str_has_suffix(m, "\n"));

	/* Every line is a comment or "name[{labels}] value". */
	for (char *line = m; *line;) {
		char *nl = strchr(line, '\n');

		assert_non_null(nl);
		if (line[0] != '#') {
			char *sp = memchr(line, ' ', (size_t)(nl - line));

			assert_non_null(sp);
			assert_true(str_has_prefix(line, "prestart_"));
			assert_true(sp[1] >= '0' && sp[1] <= '9');
		}
		line = nl + 1;
	}
	free(m);
}

/* SPEC §9.4: what the expand phase held back, in /status and /metrics. */
static void test_deferred(void **state)
{
	struct status *s = *state;
	struct strlist ids = { 0 }, whys = { 0 };
	char *j, *m;

	m = status_metrics(s);
	assert_contains(m, "# TYPE prestart_deferred_revisions gauge\nprestart_deferred_revisions 0\n");
	free(m);
	j = status_json(s);
	assert_null(strstr(j, "deferred"));
	free(j);
	strlist_push(&ids, "b2");
	strlist_push(&whys, "contract: v/b2.sql:4: data-loss statement: DROP TABLE \"x\"");
	strlist_push(&ids, "c3");
	strlist_push(&whys, "descends from deferred revision b2");
	status_set_deferred(s, &ids, &whys);
	j = status_json(s);
	assert_contains(j, ",\"deferred\":[{\"revision\":\"b2\",\"reason\":\"contract: v/b2.sql:4: "
			   "data-loss statement: DROP TABLE \\\"x\\\"\"},{\"revision\":\"c3\","
			   "\"reason\":\"descends from deferred revision b2\"}]");
	free(j);
	m = status_metrics(s);
	assert_contains(m, "prestart_deferred_revisions 2\n");
	free(m);
	strlist_free(&ids);
	strlist_free(&whys);
}

/* The histogram of /metrics: cumulative buckets, +Inf equal to _count,
 * _sum in seconds with milliseconds. */
static void test_histogram_format(void **state)
{
	static const double bounds[] = { 0.01, 0.5, 2 };
	long long counts[3] = { 0 };
	struct sbuf b = { 0 };

	(void)state;
	status_histogram_observe(bounds, 3, counts, 10);   /* on a bound: in it */
	status_histogram_observe(bounds, 3, counts, 300);
	status_histogram_observe(bounds, 3, counts, 2500); /* only +Inf */
	assert_int_equal(counts[0], 1);
	assert_int_equal(counts[1], 2);
	assert_int_equal(counts[2], 2);
	status_histogram(&b, "x_seconds", "Help text.", bounds, 3, counts, 3, 2810);
	assert_string_equal(b.buf, "# HELP x_seconds Help text.\n"
				   "# TYPE x_seconds histogram\n"
				   "x_seconds_bucket{le=\"0.01\"} 1\n"
				   "x_seconds_bucket{le=\"0.5\"} 2\n"
				   "x_seconds_bucket{le=\"2\"} 2\n"
				   "x_seconds_bucket{le=\"+Inf\"} 3\n"
				   "x_seconds_sum 2.810\n"
				   "x_seconds_count 3\n");
	sbuf_free(&b);
}

/* SPEC §9.3: holds in /metrics and /status; the longest holder. */
static void test_lock_hold(void **state)
{
	struct status *s = *state;
	char *m, *j;

	assert_null(status_holder_json(s));
	j = status_json(s);
	assert_null(strstr(j, "lock_hold"));
	free(j);
	status_lock_hold(s, "a1", 0); /* measured, none held: not observed */
	status_lock_hold(s, "b2", 320);
	status_lock_hold(s, "c3", 4);
	m = status_metrics(s);
	assert_contains(m, "# TYPE prestart_lock_hold_seconds histogram\n");
	assert_contains(m, "prestart_lock_hold_seconds_bucket{le=\"0.005\"} 1\n");
	assert_contains(m, "prestart_lock_hold_seconds_bucket{le=\"0.25\"} 1\n");
	assert_contains(m, "prestart_lock_hold_seconds_bucket{le=\"0.5\"} 2\n");
	assert_contains(m, "prestart_lock_hold_seconds_bucket{le=\"+Inf\"} 2\n");
	assert_contains(m, "prestart_lock_hold_seconds_sum 0.324\n");
	assert_contains(m, "prestart_lock_hold_seconds_count 2\n");
	free(m);
	j = status_json(s);
	assert_contains(j, ",\"lock_hold\":{\"last_revision\":\"c3\",\"last_ms\":4,"
			   "\"max_revision\":\"b2\",\"max_ms\":320}}");
	free(j);
	status_note_holder(s, "b2", "v/b2.sql:11", "ALTER TABLE \"t\" ADD x int", 320);
	status_note_holder(s, "c3", "v/c3.sql:9", "ALTER TABLE u ADD y int", 4);
	j = status_holder_json(s);
	assert_string_equal(j, "{\"revision\":\"b2\",\"at\":\"v/b2.sql:11\",\"statement\":"
			       "\"ALTER TABLE \\\"t\\\" ADD x int\",\"seconds\":0.320}");
	free(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test_setup_teardown(test_json_initial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_migrating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_one_line_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fail_truncates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elapsed_frozen_when_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_durations, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred, setup, teardown),
		cmocka_unit_test(test_histogram_format),
		cmocka_unit_test_setup_teardown(test_lock_hold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
