/* tenants_parse (a list, a file), tenants_parse_shard and
 * tenants_search_path on any string. */
#include "fuzz.h"

#include "prestart/tenants.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct strlist l = { 0 };
	struct err e = { 0 };
	int i = -1, n = -1;

	for (int k = 0; k < 2; k++) {
		int rc = tenants_parse(s, k ? '\n' : ',', "fuzz", &l, &e);

		/* every name kept is valid, each once */
		for (size_t a = 0; a < l.n; a++) {
			FUZZ_CHECK(tenants_name_valid(l.v[a]));
			for (size_t b = a + 1; b < l.n && b < a + 64; b++)
				FUZZ_CHECK(strcmp(l.v[a], l.v[b]) != 0);
		}
		FUZZ_CHECK(rc == 0 || e.kind == ERR_USAGE);
		if (rc == 0) {
			size_t before = l.n;

			tenants_shard(&l, 0, 3);
			FUZZ_CHECK(l.n <= before);
		}
		strlist_free(&l);
	}
	if (tenants_parse_shard(s, &i, &n) == 0)
		FUZZ_CHECK(n >= 1 && i >= 0 && i < n);
	if (size < 4096) {
		char *p = tenants_search_path(s, "t1");

		FUZZ_CHECK(!strstr(p, "{tenant}") || strstr(s, "{tenant}"));
		free(p);
	}
	free(s);
	return 0;
}
