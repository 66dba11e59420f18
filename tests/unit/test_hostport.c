/* The one "host:port" reading shared by the health address, tcp:// wait
 * targets and database URL hosts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/hostport.h"

static void test_split(void **state)
{
	static const struct {
		const char *in;
		enum hostport_verdict v;
		const char *host, *port; /* port NULL: no ':' */
		int bracketed;
	} cases[] = {
		{ "db:5432", HOSTPORT_OK, "db", "5432", 0 },
		{ "db", HOSTPORT_OK, "db", NULL, 0 },
		{ ":8080", HOSTPORT_OK, "", "8080", 0 },
		{ "db:", HOSTPORT_OK, "db", "", 0 },
		{ "", HOSTPORT_OK, "", NULL, 0 },
		{ "[::1]:5432", HOSTPORT_OK, "::1", "5432", 1 },
		{ "[::1]", HOSTPORT_OK, "::1", NULL, 1 },
		{ "[fe80::1%eth0]:80", HOSTPORT_OK, "fe80::1%eth0", "80", 1 },
		{ "[]:80", HOSTPORT_OK, "", "80", 1 },
		{ "[::1]:", HOSTPORT_OK, "::1", "", 1 },
		{ "[::1]:80]", HOSTPORT_OK, "::1", "80]", 1 },
		{ "[::1", HOSTPORT_NO_CLOSE, NULL, NULL, 1 },
		{ "[::1]x", HOSTPORT_AFTER_CLOSE, "::1", NULL, 1 },
		/* filled as if the first ':' split them */
		{ "::1:80", HOSTPORT_UNBRACKETED, "", ":1:80", 0 },
		{ "a:b:c", HOSTPORT_UNBRACKETED, "a", "b:c", 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hostport hp;

		assert_int_equal(hostport_split(cases[i].in, strlen(cases[i].in), &hp), cases[i].v);
		assert_int_equal(hp.bracketed, cases[i].bracketed);
		if (cases[i].host) {
			assert_int_equal(hp.host_len, strlen(cases[i].host));
			assert_memory_equal(hp.host, cases[i].host, hp.host_len);
		}
		if (cases[i].port) {
			assert_non_null(hp.port);
			assert_int_equal(hp.port_len, strlen(cases[i].port));
			assert_memory_equal(hp.port, cases[i].port, hp.port_len);
		} else {
			assert_null(hp.port);
		}
	}
}

static void test_port(void **state)
{
	static const struct {
		const char *in;
		int zero_ok;
		size_t max_digits;
		long want; /* -1: refused */
	} cases[] = {
		{ "h:5432", 0, 5, 5432 },
		{ "h:65535", 0, 5, 65535 },
		{ "h:65536", 0, 0, -1 },
		{ "h:0", 0, 0, -1 },
		{ "h:0", 1, 0, 0 },
		{ "h:", 1, 0, -1 },
		{ "h", 1, 0, -1 },
		{ "h:80a", 0, 0, -1 },
		{ "h:+80", 0, 0, -1 },
		{ "h:000080", 0, 5, -1 },
		{ "h:000080", 0, 9, 80 },
		{ "h:0000000000080", 0, 0, 80 },
		{ "h:99999999999999999999", 0, 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hostport hp;
		long port = -7;

		hostport_split(cases[i].in, strlen(cases[i].in), &hp);
		assert_int_equal(hostport_port(&hp, cases[i].zero_ok, cases[i].max_digits, &port),
				 cases[i].want < 0 ? -1 : 0);
		assert_int_equal(port, cases[i].want < 0 ? -7 : cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_port),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
