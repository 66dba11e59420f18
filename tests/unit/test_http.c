/* The health endpoint's HTTP request parser (http.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/http.h"
#include "prestart/util.h"

static enum http_parse_result parse(const char *s, struct http_request *req)
{
	return http_parse_request(s, strlen(s), req);
}

static void test_parse_complete(void **state)
{
	struct http_request r;

	(void)state;
	assert_int_equal(parse("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/livez");

	assert_int_equal(parse("HEAD /status HTTP/1.0\n\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "HEAD");
	assert_string_equal(r.path, "/status");

	/* Mixed line endings, query string, fragment. */
	assert_int_equal(parse("GET /readyz?full=1&x=%20 HTTP/1.1\nHost: a\r\nUser-Agent: kube-probe/1.29\n\r\n", &r),
			 HTTP_COMPLETE);
	assert_string_equal(r.path, "/readyz");
	assert_int_equal(parse("GET /metrics#frag HTTP/1.1\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/metrics");

	/* Empty lines before the request line are ignored. */
	assert_int_equal(parse("\r\n\nGET / HTTP/1.1\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/");

	/* Absolute form. */
	assert_int_equal(parse("GET http://pod:8080/healthz?x HTTP/1.1\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/healthz");
	assert_int_equal(parse("GET https://pod:8080 HTTP/1.1\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/");

	/* Any token is a method here; routing answers 405. */
	assert_int_equal(parse("DELETE /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "DELETE");

	/* Bytes after the headers (a body, a pipelined request) are left. */
	assert_int_equal(parse("POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", &r), HTTP_COMPLETE);
	assert_string_equal(r.method, "POST");

	/* Header values may hold tabs and non-ASCII bytes. */
	assert_int_equal(parse("GET / HTTP/1.1\r\nX-A:\tv\xc3\xa9 \r\nX-B:\r\n\r\n", &r), HTTP_COMPLETE);
}

static void test_parse_incomplete(void **state)
{
	static const char *const reqs[] = {
		"GET /livez HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n",
		"HEAD /status?x=1 HTTP/1.0\nHost: a\n\n",
	};
	struct http_request r;

	(void)state;
	assert_int_equal(http_parse_request("", 0, &r), HTTP_INCOMPLETE);
	/* Every proper prefix of a valid request is incomplete, never bad. */
	for (size_t k = 0; k < sizeof(reqs) / sizeof(reqs[0]); k++) {
		size_t n = strlen(reqs[k]);

		for (size_t i = 0; i < n; i++)
			if (http_parse_request(reqs[k], i, &r) != HTTP_INCOMPLETE)
				fail_msg("prefix %zu of request %zu is not incomplete", i, k);
		assert_int_equal(http_parse_request(reqs[k], n, &r), HTTP_COMPLETE);
	}
	assert_int_equal(parse("\r\n\r\n", &r), HTTP_INCOMPLETE);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: x\r\n\r", &r), HTTP_INCOMPLETE);
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"GET\r\n\r\n",
		"GET /\r\n\r\n",                     /* HTTP/0.9 */
		"GET / HTTP/2.0\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.1 \r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET livez HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
		"GET /a\tb HTTP/1.1\r\n\r\n",
		"GET /\xc3\xa9 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
		"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
		"GET / HTTP/1.1\r\nA: x\ry\r\n\r\n",
		"GET / HTTP/1.1\r\nA: \x01\r\n\r\n",
		/* Hopeless before the line ends: no need to wait for more. */
		"\x16\x03\x01\x02\x00",
		"ABCDEFGHIJKLMNOPQ",
		"GE(",
	};
	struct http_request r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &r) != HTTP_BAD)
			fail_msg("not rejected: '%s'", bad[i]);

	/* NUL bytes, even in an incomplete request. */
	assert_int_equal(http_parse_request("GET /\0x HTTP/1.1\r\n\r\n", 20, &r), HTTP_BAD);
	assert_int_equal(http_parse_request("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24, &r), HTTP_BAD);
	assert_int_equal(http_parse_request("GE\0", 3, &r), HTTP_BAD);
}

static void test_parse_long(void **state)
{
	struct http_request r;
	char *buf = xmalloc(20000);
	int n;

	(void)state;
	/* A path that fills the buffer exactly fits; one more byte does not. */
	n = snprintf(buf, 20000, "GET /%0*d HTTP/1.1\r\n\r\n", (int)sizeof(r.path) - 2, 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_COMPLETE);
	assert_int_equal(strlen(r.path), sizeof(r.path) - 1);
	n = snprintf(buf, 20000, "GET /%0*d HTTP/1.1\r\n\r\n", (int)sizeof(r.path) - 1, 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_BAD);

	/* A long query string is fine, the path is what matters. */
	n = snprintf(buf, 20000, "GET /status?q=%03000d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_COMPLETE);
	assert_string_equal(r.path, "/status");

	/* An absurd request line, with or without its end yet. */
	n = snprintf(buf, 20000, "GET /status?q=%010000d HTTP/1.1\r\n\r\n", 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_BAD);
	assert_int_equal(http_parse_request(buf, 9000, &r), HTTP_BAD);

	/* Method length limit. */
	n = snprintf(buf, 20000, "%0*d / HTTP/1.1\r\n\r\n", (int)sizeof(r.method), 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_BAD);
	n = snprintf(buf, 20000, "%0*d / HTTP/1.1\r\n\r\n", (int)sizeof(r.method) - 1, 0);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_COMPLETE);

	/* Many headers: the parser has no limit of its own, the server does. */
	n = snprintf(buf, 20000, "GET / HTTP/1.1\r\n");
	while (n < 15000)
		n += snprintf(buf + n, (size_t)(20000 - n), "X-H: %d\r\n", n);
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_INCOMPLETE);
	n += snprintf(buf + n, (size_t)(20000 - n), "\r\n");
	assert_int_equal(http_parse_request(buf, (size_t)n, &r), HTTP_COMPLETE);
	free(buf);
}

/* ---- addresses ---- */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_complete),
		cmocka_unit_test(test_parse_incomplete),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
