/* child: running a program to completion, its output logged or inherited,
 * the stop signal forwarded, and how it ended judged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prestart/child.h"
#include "prestart/log.h"

/* The log goes to a temporary file the test reads back. */
static FILE *log_file;

static int setup(void **state)
{
	(void)state;
	log_file = tmpfile();
	if (!log_file)
		return -1;
	log_init(LOGFMT_JSON, fileno(log_file));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_init(LOGFMT_TEXT, 1);
	fclose(log_file);
	return 0;
}

static char *read_log(void)
{
	struct sbuf b = { 0 };
	char chunk[4096];
	size_t n;

	fflush(log_file);
	rewind(log_file);
	while ((n = fread(chunk, 1, sizeof(chunk), log_file)) > 0)
		sbuf_add(&b, chunk, n);
	return b.buf ? sbuf_detach(&b) : xstrdup("");
}

static void collect(const char *line, void *arg)
{
	strlist_push(arg, line);
}

static void test_logged_lines_and_status(void **state)
{
	char sh[] = "/bin/sh", c[] = "-c",
	     script[] = "echo out1; echo err1 >&2; printf 'no newline' >&2; exit 3";
	char *const argv[] = { sh, c, script, NULL };
	struct strlist errs = { 0 };
	struct child_opts o = { 0 };
	struct child_exit x;
	struct err e = { 0 };
	char *log;

	(void)state;
	o.what = "'sh'";
	o.label = "kid";
	o.log_output = 1;
	o.on_stderr_line = collect;
	o.arg = &errs;
	assert_int_equal(child_run(argv, &o, &x, &e), 0);
	assert_true(WIFEXITED(x.status));
	assert_int_equal(WEXITSTATUS(x.status), 3);
	assert_int_equal(x.exec_errno, 0);
	assert_int_equal(x.stopped, 0);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.v[0], "err1");
	assert_string_equal(errs.v[1], "no newline");
	log = read_log();
	assert_non_null(
		strstr(log, "\"event\":\"kid\",\"msg\":\"kid: out1\",\"stream\":\"stdout\""));
	assert_non_null(strstr(log, "\"msg\":\"kid: err1\",\"stream\":\"stderr\""));
	assert_int_equal(child_check(&x, "'sh'", errs.v[0], &e), -1);
	assert_int_equal(e.kind, ERR_FAILED);
	assert_string_equal(e.msg, "'sh' exited with status 3: err1");
	free(log);
	strlist_free(&errs);
}

static void test_missing_program(void **state)
{
	char dir[] = "/tmp/prestart-child-XXXXXX";
	char *prog, *argv[2], *expect;
	struct child_opts o = { 0 };
	struct child_exit x;
	struct err e = { 0 };
	char *log;

	(void)state;
	assert_non_null(mkdtemp(dir));
	prog = xasprintf("%s/missing", dir);
	argv[0] = prog;
	argv[1] = NULL;
	o.what = "hook 'prog'";
	assert_int_equal(child_run(argv, &o, &x, &e), 0);
	assert_int_equal(x.exec_errno, ENOENT);
	assert_int_equal(WEXITSTATUS(x.status), 127);
	assert_int_equal(child_check(&x, o.what, NULL, &e), -1);
	assert_string_equal(e.msg, "hook 'prog' exited with status 127 (command not found)");
	/* Not logged: the caller's message says it. */
	log = read_log();
	assert_string_equal(log, "");
	free(log);
	/* Logged output says why in the log too. */
	o.label = "kid";
	o.log_output = 1;
	assert_int_equal(child_run(argv, &o, &x, &e), 0);
	log = read_log();
	expect = xasprintf("cannot execute '%s': command not found", prog);
	assert_non_null(strstr(log, expect));
	free(expect);
	free(log);
	free(prog);
	rmdir(dir);
}

static void test_success_and_signal_death(void **state)
{
	char tru[] = "true", sh[] = "/bin/sh", c[] = "-c", script[] = "kill -9 $$";
	char *const ok[] = { tru, NULL };
	char *const killed[] = { sh, c, script, NULL };
	struct child_opts o = { 0 };
	struct child_exit x;
	struct err e = { 0 };

	(void)state;
	o.what = "'x'";
	assert_int_equal(child_run(ok, &o, &x, &e), 0);
	assert_int_equal(child_check(&x, o.what, NULL, &e), 0);
	assert_int_equal(child_run(killed, &o, &x, &e), 0);
	assert_int_equal(child_check(&x, o.what, NULL, &e), -1);
	assert_string_equal(e.msg, "'x' was killed by signal 9");
}

static volatile sig_atomic_t stop;

/* The child says it is ready (its trap set): stop, as a signal would. */
static void stop_when_ready(const char *line, void *arg)
{
	(void)arg;
	if (!strcmp(line, "ready"))
		stop = SIGTERM;
}

/* A stop is forwarded to the child; one that ignores it is killed after
 * kill_after_ms, and the verdict is the stop's. */
static void test_stop_forwarded_then_killed(void **state)
{
	char sh[] = "/bin/sh", c[] = "-c", script[] = "trap '' TERM; echo ready >&2; exec sleep 30";
	char *const argv[] = { sh, c, script, NULL };
	struct child_opts o = { 0 };
	struct child_exit x;
	struct err e = { 0 };
	long long t0 = now_ms();
	char *log;

	(void)state;
	o.what = "'sleeper'";
	o.label = "kid";
	o.log_output = 1;
	o.on_stderr_line = stop_when_ready;
	o.stop = &stop;
	o.kill_after_ms = 200;
	stop = 0;
	assert_int_equal(child_run(argv, &o, &x, &e), 0);
	assert_true(now_ms() - t0 < 10000);
	assert_true(WIFSIGNALED(x.status));
	assert_int_equal(WTERMSIG(x.status), SIGKILL);
	assert_int_equal(x.stopped, SIGTERM);
	assert_int_equal(child_check(&x, o.what, NULL, &e), -1);
	assert_int_equal(e.kind, 128 + SIGTERM);
	assert_string_equal(e.msg, "stopped by signal 15 while running 'sleeper'");
	log = read_log();
	assert_non_null(strstr(log, "\"event\":\"kid_kill\""));
	free(log);
}

/* Captured output lands whole in the caller's buffers, not in the log;
 * stdin can be /dev/null, and a missing program says why in the capture. */
static void test_captured_output(void **state)
{
	char sh[] = "/bin/sh", c[] = "-c",
	     script[] = "cat; printf 'out1\\nout2'; echo err1 >&2; exit 4";
	char *const argv[] = { sh, c, script, NULL };
	char missing[] = "/nonexistent/prestart-missing";
	char *const argv2[] = { missing, NULL };
	struct sbuf out = { 0 }, err = { 0 };
	struct child_opts o = { 0 };
	struct child_exit x;
	struct err e = { 0 };
	char *log;

	(void)state;
	o.what = "'sh'";
	o.capture_out = &out;
	o.capture_err = &err;
	o.stdin_null = 1;
	assert_int_equal(child_run(argv, &o, &x, &e), 0);
	assert_true(WIFEXITED(x.status));
	assert_int_equal(WEXITSTATUS(x.status), 4);
	assert_string_equal(out.buf, "out1\nout2");
	assert_string_equal(err.buf, "err1\n");
	log = read_log();
	assert_null(strstr(log, "out1"));
	free(log);
	sbuf_reset(&out);
	sbuf_reset(&err);
	assert_int_equal(child_run(argv2, &o, &x, &e), 0);
	assert_int_equal(WEXITSTATUS(x.status), 127);
	assert_int_equal(out.len, 0);
	assert_string_equal(err.buf,
			    "cannot execute '/nonexistent/prestart-missing': command not found\n");
	sbuf_free(&out);
	sbuf_free(&err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_logged_lines_and_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_success_and_signal_death, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_forwarded_then_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_captured_output, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
