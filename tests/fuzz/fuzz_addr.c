/* The address grammars: --health-addr (health_addr_valid) and --wait-for
 * targets (wait_target_parse).  The first byte picks the parser. */
#include "fuzz.h"

#include "prestart/health.h"
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
	} else if (health_addr_valid(s, &e) < 0) {
		FUZZ_CHECK(e.kind == ERR_USAGE && e.msg[0]);
	}
	free(s);
	return 0;
}
