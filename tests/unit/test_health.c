#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "prestart/health.h"

static void test_addr_valid(void **state)
{
	static const char *const good[] = {
		":8080", "0.0.0.0:8080", "127.0.0.1:1", "localhost:65535", "[::1]:8080",
		"[::]:9000", "my-pod.svc.cluster.local:80", "[fe80::1%eth0]:80", "host_1:80",
	};
	struct err e = { 0 };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (health_addr_valid(good[i], &e) < 0)
			fail_msg("'%s' rejected: %s", good[i], e.msg);
}

static void test_addr_invalid(void **state)
{
	static const struct {
		const char *addr, *why;
	} bad[] = {
		{ "", "expected [HOST]:PORT" },
		{ "8080", "missing ':PORT'" },
		{ "localhost", "missing ':PORT'" },
		{ "localhost:", "missing port" },
		{ ":0", "port must be a number from 1 to 65535" },
		{ ":65536", "port must be a number from 1 to 65535" },
		{ ":99999999999999999999", "port must be a number from 1 to 65535" },
		{ ":80x", "port must be a number from 1 to 65535" },
		{ ":-1", "port must be a number from 1 to 65535" },
		{ ": 80", "port must be a number from 1 to 65535" },
		{ "::1:8080", "an IPv6 host needs brackets, as in [::1]:8080" },
		{ "[::1]8080", "expected ':PORT' after ']'" },
		{ "[::1:8080", "missing ']' after the IPv6 address" },
		{ "[]:8080", "expected an IPv6 address between '[' and ']'" },
		{ "[nothost]:8080", "not an IPv6 address between '[' and ']'" },
		{ "bad host:80", "not a host name or IPv4 address" },
		{ "-x:80", "not a host name or IPv4 address" },
		{ "http://x:80", "missing ':PORT'" },
	};
	struct err e = { 0 };
	char want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (health_addr_valid(bad[i].addr, &e) == 0)
			fail_msg("'%s' accepted", bad[i].addr);
		assert_int_equal(e.kind, ERR_USAGE);
		snprintf(want, sizeof(want), "invalid health address '%s': %s", bad[i].addr, bad[i].why);
		/* "http://x:80" splits at the last colon: any reason will do. */
		if (!strcmp(bad[i].addr, "http://x:80"))
			assert_true(str_has_prefix(e.msg, "invalid health address 'http://x:80': "));
		else
			assert_string_equal(e.msg, want);
	}
	assert_int_equal(health_addr_valid(NULL, &e), -1);
}

/* ---- live server ---- */

struct fixture {
	struct status st;
	struct health *h;
	int port;
	int fds_before;
};

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static int server_setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct err e = { 0 };

	f->fds_before = count_fds();
	status_init(&f->st);
	if (health_start(&f->h, "127.0.0.1:0", &f->st, &e) < 0) {
		fprintf(stderr, "health_start: %s\n", e.msg);
		status_release(&f->st);
		free(f);
		return -1;
	}
	f->port = health_port(f->h);
	*state = f;
	return 0;
}

static int server_teardown(void **state)
{
	struct fixture *f = *state;

	health_stop(f->h);
	status_release(&f->st);
	/* Every socket the endpoint opened is closed again. */
	assert_int_equal(count_fds(), f->fds_before);
	free(f);
	return 0;
}

static int client_connect(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect: %s", strerror(errno));
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			fail_msg("send: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

/* Read until EOF or reset, waiting at most timeout_ms in all.  Returns the
 * bytes read (caller frees); *eof tells whether the peer closed in time. */
static char *read_until_close(int fd, int timeout_ms, int *eof)
{
	struct sbuf b = { 0 };
	long long deadline = now_ms() + timeout_ms;

	*eof = 0;
	sbuf_add(&b, "", 0);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		char tmp[4096];
		ssize_t r;
		int rc;

		if (left <= 0)
			break;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			break;
		r = recv(fd, tmp, sizeof(tmp), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*eof = 1;
			break;
		}
		sbuf_add(&b, tmp, (size_t)r);
	}
	return sbuf_detach(&b);
}

static char *request(int port, const char *req)
{
	int fd = client_connect(port), eof;
	char *resp;

	send_all(fd, req, strlen(req));
	resp = read_until_close(fd, 5000, &eof);
	close(fd);
	if (!eof)
		fail_msg("no end of response to '%s'; got '%s'", req, resp);
	return resp;
}

static const char *body_of(const char *resp)
{
	const char *p = strstr(resp, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static void assert_response(const char *resp, const char *status_line, const char *ctype,
			    const char *body)
{
	char want[256];

	if (!str_has_prefix(resp, status_line))
		fail_msg("expected '%s', got:\n%s", status_line, resp);
	snprintf(want, sizeof(want), "\r\nContent-Type: %s\r\n", ctype);
	if (!strstr(resp, want))
		fail_msg("expected '%s', got:\n%s", want, resp);
	assert_non_null(strstr(resp, "\r\nConnection: close\r\n"));
	snprintf(want, sizeof(want), "\r\nContent-Length: %zu\r\n", strlen(body_of(resp)));
	if (!strstr(resp, want))
		fail_msg("expected '%s', got:\n%s", want, resp);
	if (body)
		assert_string_equal(body_of(resp), body);
}

static void expect(int port, const char *path, const char *status_line, const char *body)
{
	char req[512], *resp;

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	resp = request(port, req);
	assert_response(resp, status_line, "text/plain; charset=utf-8", body);
	free(resp);
}

static void test_routes(void **state)
{
	struct fixture *f = *state;
	char *resp;

	expect(f->port, "/livez", "HTTP/1.1 200 OK\r\n", "ok\n");
	expect(f->port, "/healthz", "HTTP/1.1 200 OK\r\n", "ok\n");
	expect(f->port, "/readyz", "HTTP/1.1 503 Service Unavailable\r\n", "not ready\n");
	expect(f->port, "/readyz?verbose", "HTTP/1.1 503 Service Unavailable\r\n", "not ready\n");

	resp = request(f->port, "GET /status HTTP/1.1\r\n\r\n");
	assert_response(resp, "HTTP/1.1 200 OK\r\n", "application/json", NULL);
	assert_true(str_has_prefix(body_of(resp), "{\"phase\":\"starting\",\"current\":null,"));
	free(resp);

	status_set_phase(&f->st, PHASE_MIGRATING);
	status_set_heads(&f->st, "a1", "b2,c3");
	status_set_counts(&f->st, 2, 1);
	resp = request(f->port, "GET /status?x=1 HTTP/1.0\n\n");
	assert_response(resp, "HTTP/1.1 200 OK\r\n", "application/json", NULL);
	assert_true(str_has_prefix(body_of(resp), "{\"phase\":\"migrating\",\"current\":\"a1\","
						  "\"target\":\"b2,c3\",\"pending\":2,\"applied\":1,"));
	assert_true(str_has_suffix(resp, "}\n"));
	free(resp);
	expect(f->port, "/livez", "HTTP/1.1 200 OK\r\n", "ok\n");
	expect(f->port, "/readyz", "HTTP/1.1 503 Service Unavailable\r\n", "not ready\n");

	resp = request(f->port, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_response(resp, "HTTP/1.1 200 OK\r\n", "text/plain; version=0.0.4; charset=utf-8", NULL);
	assert_non_null(strstr(resp, "\nprestart_phase{phase=\"migrating\"} 1\n"));
	assert_non_null(strstr(resp, "\nprestart_revisions_pending 2\n"));
	assert_true(str_has_suffix(resp, "\nprestart_up 1\n"));
	free(resp);

	status_set_phase(&f->st, PHASE_DONE);
	expect(f->port, "/readyz", "HTTP/1.1 200 OK\r\n", "ready\n");
	expect(f->port, "/healthz", "HTTP/1.1 200 OK\r\n", "ok\n");

	status_fail(&f->st, "boom");
	expect(f->port, "/livez", "HTTP/1.1 503 Service Unavailable\r\n", "failed\n");
	expect(f->port, "/healthz", "HTTP/1.1 503 Service Unavailable\r\n", "failed\n");
	expect(f->port, "/readyz", "HTTP/1.1 503 Service Unavailable\r\n", "not ready\n");
	resp = request(f->port, "GET /status HTTP/1.1\r\n\r\n");
	assert_non_null(strstr(body_of(resp), "\"phase\":\"failed\""));
	assert_non_null(strstr(body_of(resp), "\"error\":\"boom\""));
	free(resp);
}

static void test_head_post_404_400(void **state)
{
	struct fixture *f = *state;
	char *resp, *get;

	get = request(f->port, "GET /livez HTTP/1.1\r\n\r\n");
	resp = request(f->port, "HEAD /livez HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	assert_string_equal(body_of(resp), "");
	/* The headers of GET, Content-Length included, without the body. */
	assert_true(!strncmp(resp, get, strlen(resp)));
	free(get);
	free(resp);

	resp = request(f->port, "HEAD /metrics HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_string_equal(body_of(resp), "");
	free(resp);

	resp = request(f->port, "HEAD /readyz HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Length: 10\r\n"));
	assert_string_equal(body_of(resp), "");
	free(resp);

	resp = request(f->port, "POST /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
	assert_response(resp, "HTTP/1.1 405 Method Not Allowed\r\n", "text/plain; charset=utf-8",
			"method not allowed\n");
	assert_non_null(strstr(resp, "\r\nAllow: GET, HEAD\r\n"));
	free(resp);

	resp = request(f->port, "GET /nope HTTP/1.1\r\n\r\n");
	assert_response(resp, "HTTP/1.1 404 Not Found\r\n", "text/plain; charset=utf-8", "not found\n");
	free(resp);
	resp = request(f->port, "DELETE /nope HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 404 Not Found\r\n"));
	free(resp);

	resp = request(f->port, "BLAH\r\n\r\n");
	assert_response(resp, "HTTP/1.1 400 Bad Request\r\n", "text/plain; charset=utf-8", "bad request\n");
	free(resp);
	resp = request(f->port, "\x16\x03\x01\x02\x00\x01");
	assert_true(str_has_prefix(resp, "HTTP/1.1 400 Bad Request\r\n"));
	free(resp);
}

static void test_trickle(void **state)
{
	struct fixture *f = *state;
	const char *req = "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = client_connect(f->port), eof;
	char *resp;

	/* One byte per send: the server must assemble partial reads. */
	for (const char *p = req; *p; p++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		send_all(fd, p, 1);
		/* Nothing may come back before the request is complete. */
		if (p[1])
			assert_int_equal(poll(&pfd, 1, 0), 0);
	}
	resp = read_until_close(fd, 5000, &eof);
	assert_true(eof);
	assert_response(resp, "HTTP/1.1 200 OK\r\n", "text/plain; charset=utf-8", "ok\n");
	free(resp);
	close(fd);
}

static void test_idle_client_dropped(void **state)
{
	struct fixture *f = *state;
	long long t0 = now_ms(), t1, t2;
	int idle = client_connect(f->port), eof;
	char *resp;

	/* The idle client does not hold up anyone else. */
	resp = request(f->port, "GET /livez HTTP/1.1\r\n\r\n");
	t1 = now_ms();
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	assert_true(t1 - t0 < 1000);
	free(resp);

	/* It is dropped, without an answer, after HEALTH_REQUEST_TIMEOUT_MS. */
	resp = read_until_close(idle, HEALTH_REQUEST_TIMEOUT_MS + 3000, &eof);
	t2 = now_ms();
	assert_true(eof);
	assert_string_equal(resp, "");
	assert_true(t2 - t0 >= HEALTH_REQUEST_TIMEOUT_MS - 50);
	assert_true(t2 - t0 < HEALTH_REQUEST_TIMEOUT_MS + 1500);
	free(resp);
	close(idle);
}

static void test_slow_partial_request_dropped(void **state)
{
	struct fixture *f = *state;
	const char *part = "GET /livez HTTP/1.1\r\nHost: x\r\n";
	long long t0 = now_ms();
	int fd = client_connect(f->port), eof;
	char *resp;

	send_all(fd, part, strlen(part));
	resp = read_until_close(fd, HEALTH_REQUEST_TIMEOUT_MS + 3000, &eof);
	assert_true(eof);
	assert_string_equal(resp, "");
	assert_true(now_ms() - t0 >= HEALTH_REQUEST_TIMEOUT_MS - 50);
	free(resp);
	close(fd);
}

static void test_large_request_dropped(void **state)
{
	struct fixture *f = *state;
	size_t n = 10 * 1024;
	char *req = xmalloc(n + 1), *resp;
	long long t0 = now_ms();
	int fd = client_connect(f->port), eof;

	/* A well-formed request, only too large: headers padded to 10 KiB. */
	memset(req, 'a', n);
	memcpy(req, "GET /livez HTTP/1.1\r\nX-Pad: ", 28);
	memcpy(req + n - 4, "\r\n\r\n", 4);
	req[n] = '\0';
	send_all(fd, req, n);
	resp = read_until_close(fd, 5000, &eof);
	assert_true(eof);
	assert_null(strstr(resp, "HTTP/"));
	/* Dropped for its size, not by the timeout. */
	assert_true(now_ms() - t0 < HEALTH_REQUEST_TIMEOUT_MS - 500);
	free(resp);
	free(req);
	close(fd);

	/* The server still answers. */
	resp = request(f->port, "GET /livez HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	free(resp);
}

static void test_many_idle_connections(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };
	int fds[N];
	long long t0;
	char *resp;

	for (int i = 0; i < N; i++)
		fds[i] = client_connect(f->port);
	t0 = now_ms();
	resp = request(f->port, "GET /livez HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	assert_true(now_ms() - t0 < 1000);
	free(resp);

	/* And again while they are all still open. */
	resp = request(f->port, "GET /status HTTP/1.1\r\n\r\n");
	assert_true(str_has_prefix(resp, "HTTP/1.1 200 OK\r\n"));
	free(resp);

	/* The server kept at most HEALTH_MAX_CONNS: the oldest idle ones
	 * were closed to make room, and the newest are still open. */
	{
		struct pollfd p[N];
		int closed = 0;

		for (int i = 0; i < N; i++)
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		assert_true(poll(p, N, 0) >= 0);
		for (int i = 0; i < N; i++)
			closed += (p[i].revents & (POLLIN | POLLHUP)) != 0;
		assert_true(closed >= N + 1 - HEALTH_MAX_CONNS);
		assert_true(closed < N);
		assert_int_equal(p[N - 1].revents, 0);
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
}

static void test_concurrent_clients(void **state)
{
	struct fixture *f = *state;
	enum { N = 50 };
	int fds[N], eof;
	const char *req = "GET /healthz HTTP/1.1\r\n\r\n";

	/* Requests all sent before any answer is read. */
	for (int i = 0; i < N; i++) {
		fds[i] = client_connect(f->port);
		send_all(fds[i], req, strlen(req));
	}
	for (int i = 0; i < N; i++) {
		char *resp = read_until_close(fds[i], 5000, &eof);

		assert_true(eof);
		assert_response(resp, "HTTP/1.1 200 OK\r\n", "text/plain; charset=utf-8", "ok\n");
		free(resp);
		close(fds[i]);
	}
}

static int bind_port(int port, int reuse)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc;

	assert_true(fd >= 0);
	if (reuse)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc == 0)
		rc = listen(fd, 16);
	close(fd);
	return rc;
}

static void test_rebind_after_stop(void **state)
{
	struct status st;
	struct health *h = NULL;
	struct err e = { 0 };
	char *resp;
	int port, fds = count_fds();

	(void)state;
	status_init(&st);

	/* Never used: even a plain bind, as any application does, succeeds. */
	assert_int_equal(health_start(&h, "127.0.0.1:0", &st, &e), 0);
	port = health_port(h);
	assert_true(port > 0);
	assert_int_equal(bind_port(port, 1), -1);
	health_stop(h);
	assert_int_equal(bind_port(port, 0), 0);

	/* After serving, connections closed by the server wait in TIME_WAIT;
	 * an application binding with SO_REUSEADDR (all common servers do)
	 * gets the port at once. */
	assert_int_equal(health_start(&h, "127.0.0.1:0", &st, &e), 0);
	port = health_port(h);
	resp = request(port, "GET /livez HTTP/1.1\r\n\r\n");
	free(resp);
	health_stop(h);
	assert_int_equal(bind_port(port, 1), 0);

	/* And prestart itself rebinds. */
	assert_int_equal(health_start(&h, "localhost:0", &st, &e), 0);
	port = health_port(h);
	health_stop(h);
	{
		char addr[32];

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
		assert_int_equal(health_start(&h, addr, &st, &e), 0);
		health_stop(h);
	}
	health_stop(NULL);
	status_release(&st);
	assert_int_equal(count_fds(), fds);
}

static void test_start_errors(void **state)
{
	struct status st;
	struct health *h = NULL, *h2 = (struct health *)&h;
	struct err e = { 0 };
	char addr[64];

	(void)state;
	status_init(&st);
	assert_int_equal(health_start(&h2, "nocolon", &st, &e), -1);
	assert_null(h2);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_string_equal(e.msg, "invalid health address 'nocolon': missing ':PORT'");

	assert_int_equal(health_start(&h, "127.0.0.1:0", &st, &e), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", health_port(h));
	memset(&e, 0, sizeof(e));
	assert_int_equal(health_start(&h2, addr, &st, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_true(str_has_prefix(e.msg, "cannot listen on health address '127.0.0."));
	assert_non_null(strstr(e.msg, "in use"));
	health_stop(h);

	/* 192.0.2.0/24 is reserved for documentation: never a local address. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(health_start(&h2, "192.0.2.1:8080", &st, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_true(str_has_prefix(e.msg, "cannot listen on health address '192.0.2.1:8080': "));
	status_release(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_valid),
		cmocka_unit_test(test_addr_invalid),
		cmocka_unit_test_setup_teardown(test_routes, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_head_post_404_400, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_trickle, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_idle_client_dropped, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_slow_partial_request_dropped, server_setup,
						server_teardown),
		cmocka_unit_test_setup_teardown(test_large_request_dropped, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_many_idle_connections, server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_clients, server_setup, server_teardown),
		cmocka_unit_test(test_rebind_after_stop),
		cmocka_unit_test(test_start_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
