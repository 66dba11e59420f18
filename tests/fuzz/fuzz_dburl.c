/* DATABASE_URL: dburl_parse and dburl_mask on any bytes.  Besides memory
 * errors, checks the promise that matters most: a password never survives
 * masking.  The first byte picks the mode: as is, or spliced after a
 * user-info password the fuzzer cannot see. */
#include "fuzz.h"

#include "prestart/dburl.h"

#define SECRET "s3cr3tPW"

static void check_masked(const char *s)
{
	FUZZ_CHECK(s != NULL);
	FUZZ_CHECK(strstr(s, SECRET) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dburl u;
	struct err e = { 0 };
	char *in, *url, *m;
	int spliced;

	if (!size)
		return 0;
	spliced = data[0] & 1;
	in = fuzz_cstr(data + 1, size - 1);
	url = spliced ? xasprintf("postgresql://u:" SECRET "@%s", in) : xstrdup(in);

	m = dburl_mask(url);
	FUZZ_CHECK(m != NULL);
	if (spliced && !strstr(in, "s3cr3t"))
		check_masked(m);
	free(m);

	if (dburl_parse(url, &u, &e) == 0) {
		FUZZ_CHECK(u.masked != NULL);
		FUZZ_CHECK(u.kind == DB_PG || u.kind == DB_SQLITE);
		if (u.kind == DB_PG) {
			FUZZ_CHECK(u.keys && u.vals && !u.keys[u.n] && !u.vals[u.n]);
			(void)dburl_get(&u, "password");
		} else {
			FUZZ_CHECK(u.path != NULL);
		}
		if (spliced && !strstr(in, "s3cr3t"))
			check_masked(u.masked);
		dburl_release(&u);
	} else {
		FUZZ_CHECK(e.kind == ERR_USAGE);
		if (spliced && !strstr(in, "s3cr3t"))
			check_masked(e.msg);
	}
	free(url);
	free(in);
	return 0;
}
