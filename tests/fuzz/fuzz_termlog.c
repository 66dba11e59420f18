/* termlog_json on any error, revision and blockers, for any room: it
 * ends, fits, and is valid UTF-8.  The input is split at its first two
 * NUL bytes into error, revision and blockers; its first byte picks the
 * room and whether a lock holder is named. */
#include "fuzz.h"

#include "prestart/termlog.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	struct termlog_info t = { 0 };
	size_t max = size ? 200 + (size_t)data[0] * 16 : TERMLOG_MAX;
	const char *end = s + size, *p = size ? s + 1 : s;
	char *out;

	t.exit_code = 1;
	t.phase = "migrating";
	t.sqlstate = "55P03";
	/* the lock holder comes from status_holder_json: one object, here
	 * or not by the room's lowest bit */
	if (size && (data[0] & 1))
		t.lock_hold = "{\"revision\":\"b2\",\"at\":\"v/b2.sql:4\",\"statement\":"
			      "\"ALTER TABLE t ADD COLUMN x integer\",\"seconds\":0.312}";
	t.error = p;
	p += strlen(p);
	if (p < end) {
		t.revision = ++p;
		p += strlen(p);
	}
	/* blockers arrive as a JSON array from blockers_json: any text
	 * would not be, so only its length varies */
	if (p < end) {
		struct sbuf b = { 0 };
		size_t n = strlen(++p);

		sbuf_addc(&b, '[');
		for (size_t i = 0; i < n; i++)
			sbuf_addf(&b, "%s{\"pid\":%zu}", i ? "," : "", i);
		sbuf_addc(&b, ']');
		t.blockers = b.buf;
		out = termlog_json(&t, max);
		sbuf_free(&b);
	} else {
		out = termlog_json(&t, max);
	}
	FUZZ_CHECK(strlen(out) <= max);
	FUZZ_CHECK(valid_utf8(out));
	free(out);
	free(s);
	return 0;
}
