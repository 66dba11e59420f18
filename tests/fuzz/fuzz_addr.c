/* The address grammars: --health-addr (health_addr_valid), --wait-for
 * targets (wait_target_parse) and the "host:port" reading both share with
 * database URLs (hostport_split).  The first byte picks the parser. */
#include "fuzz.h"

#include "prestart/health.h"
#include "prestart/hostport.h"
#include "prestart/wait.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = { 0 };
	char *s;

	if (!size)
		return 0;
	s = fuzz_cstr(data + 1, size - 1);
	if (data[0] & 1) {
		struct wait_target t;

		memset(&t, 0, sizeof(t));
		if (wait_target_parse(s, &t, &e) == 0)
			wait_target_release(&t);
		else
			FUZZ_CHECK(e.kind == ERR_USAGE && e.msg[0]);
	} else if (data[0] & 2) {
		struct hostport hp;
		size_t n = strlen(s);
		enum hostport_verdict v = hostport_split(s, n, &hp);
		long port;

		/* The parts lie inside the text, and the port is a number only
		 * when it is one. */
		FUZZ_CHECK(!hp.host || (hp.host >= s && hp.host + hp.host_len <= s + n));
		FUZZ_CHECK(!hp.port || (hp.port >= s && hp.port + hp.port_len <= s + n));
		FUZZ_CHECK(v != HOSTPORT_UNBRACKETED || memchr(hp.port, ':', hp.port_len));
		if (hostport_port(&hp, 1, 0, &port) == 0)
			FUZZ_CHECK(port >= 0 && port <= 65535 && hp.port_len > 0);
	} else if (health_addr_valid(s, &e) < 0) {
		FUZZ_CHECK(e.kind == ERR_USAGE && e.msg[0]);
	}
	free(s);
	return 0;
}
