/* test_termlog.c - the termination message's JSON stays within the
 * kubelet's 4096 bytes, whatever the error.  Pure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/termlog.h"

static void test_fields(void **state)
{
	struct termlog_info t = { 0 };
	char *s;

	(void)state;
	t.exit_code = 1;
	t.phase = "migrating";
	t.error = "x.sql:1:1: relation \"t\" already exists (SQLSTATE 42P07)";
	t.revision = "b2";
	t.sqlstate = "42P07";
	t.elapsed_ms = 12;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_string_equal(s, "{\"exit_code\":1,\"phase\":\"migrating\",\"error\":\"x.sql:1:1: "
			       "relation \\\"t\\\" already exists (SQLSTATE 42P07)\",\"revision\":"
			       "\"b2\",\"sqlstate\":\"42P07\",\"blockers\":[],\"elapsed_ms\":12}\n");
	free(s);
	memset(&t, 0, sizeof(t));
	t.phase = "done";
	s = termlog_json(&t, TERMLOG_MAX);
	assert_string_equal(s, "{\"exit_code\":0,\"phase\":\"done\",\"error\":null,\"revision\":"
			       "null,\"sqlstate\":null,\"blockers\":[],\"elapsed_ms\":0}\n");
	free(s);
	/* SPEC §9.3: the longest lock holder, when there was one */
	t.lock_hold = "{\"revision\":\"b2\",\"seconds\":0.3}";
	s = termlog_json(&t, TERMLOG_MAX);
	assert_string_equal(s, "{\"exit_code\":0,\"phase\":\"done\",\"error\":null,\"revision\":"
			       "null,\"sqlstate\":null,\"blockers\":[],\"elapsed_ms\":0,"
			       "\"lock_hold\":{\"revision\":\"b2\",\"seconds\":0.3}}\n");
	free(s);
}

static void test_long_error_is_shortened(void **state)
{
	struct termlog_info t = { 0 };
	char *err = malloc(20000), *rev = malloc(6000), *s;

	(void)state;
	/* control characters become six bytes each in JSON */
	memset(err, '\x01', 19999);
	err[19999] = '\0';
	memset(rev, 'r', 5999);
	rev[5999] = '\0';
	t.exit_code = 1;
	t.phase = "migrating";
	t.error = err;
	t.revision = rev;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_true(strlen(s) <= TERMLOG_MAX);
	assert_non_null(strstr(s, "\"exit_code\":1"));
	assert_non_null(strstr(s, "..."));
	free(s);
	free(err);
	free(rev);
}

static int valid_utf8(const char *s)
{
	while (*s) {
		size_t n = utf8_seq_len(s);

		if (!n)
			return 0;
		s += n;
	}
	return 1;
}

/* Cut in the middle of two-, three- and four-byte characters, at every
 * size: what is left is whole characters, and an invalid byte in the
 * error becomes U+FFFD. */
static void test_cut_keeps_utf8(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x90\x98" };
	struct termlog_info t = { 0 };
	struct sbuf err = { 0 };
	char *s;

	(void)state;
	for (size_t c = 0; c < 3; c++) {
		sbuf_reset(&err);
		for (int i = 0; i < 3000; i++)
			sbuf_adds(&err, chars[c]);
		t.exit_code = 1;
		t.phase = "migrating";
		t.error = err.buf;
		t.revision = err.buf;
		for (size_t max = 200; max < 4200; max += 97) {
			s = termlog_json(&t, max);
			assert_true(strlen(s) <= max);
			assert_true(valid_utf8(s));
			free(s);
		}
	}
	sbuf_free(&err);
	t.error = "bad \xff byte \xe2\x82";
	t.revision = NULL;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_non_null(strstr(s, "bad \\ufffd byte \\ufffd\\ufffd\""));
	assert_true(valid_utf8(s));
	free(s);
}

/* The blockers a lock timeout named are written; when they do not fit
 * with a one-byte error and revision, the shortening still ends. */
static void test_blockers_and_short_fields(void **state)
{
	struct termlog_info t = { 0 };
	struct sbuf bl = { 0 };
	char *s;

	(void)state;
	t.exit_code = 1;
	t.phase = "migrating";
	t.error = "x";
	t.revision = "y";
	t.blockers = "[{\"pid\":7,\"application_name\":\"report-job\"}]";
	s = termlog_json(&t, TERMLOG_MAX);
	assert_non_null(strstr(s, "\"blockers\":[{\"pid\":7,"));
	free(s);
	sbuf_addc(&bl, '[');
	for (int i = 0; i < 200; i++)
		sbuf_addf(&bl, "%s{\"pid\":%d,\"application_name\":\"report-job\"}", i ? "," : "",
			  i);
	sbuf_addc(&bl, ']');
	t.blockers = bl.buf;
	s = termlog_json(&t, TERMLOG_MAX);
	assert_true(strlen(s) <= TERMLOG_MAX);
	assert_non_null(strstr(s, "\"error\":\"x\""));
	assert_non_null(strstr(s, "\"blockers\":[]"));
	free(s);
	s = termlog_json(&t, 10);
	assert_non_null(strstr(s, "\"error\":null"));
	free(s);
	sbuf_free(&bl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_long_error_is_shortened),
		cmocka_unit_test(test_cut_keeps_utf8),
		cmocka_unit_test(test_blockers_and_short_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
