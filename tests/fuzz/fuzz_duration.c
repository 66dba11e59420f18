/* config_parse_duration and config_parse_bool on any string. */
#include "fuzz.h"

#include <ctype.h>

#include "prestart/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	long long ms = -1;
	int b = -1;

	if (config_parse_duration(s, &ms) == 0) {
		FUZZ_CHECK(ms >= 0);
		/* no sign, no blanks, starts with a digit or a '.' */
		FUZZ_CHECK(*s && (isdigit((unsigned char)*s) || *s == '.'));
	}
	if (config_parse_bool(s, &b) == 0)
		FUZZ_CHECK(b == 0 || b == 1);
	free(s);
	return 0;
}
