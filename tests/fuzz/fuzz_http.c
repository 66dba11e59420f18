/* http_parse_request on any bytes.  Besides memory safety: a complete
 * request's fields are terminated strings, and since the parser promises to
 * call a request bad as soon as it can no longer become valid, no prefix of
 * a complete request may be bad. */
#include "fuzz.h"

#include "prestart/health.h"
#include "prestart/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req;
	enum http_parse_result r;
	char *buf;

	if (size > 2 * HEALTH_MAX_REQUEST)
		return 0;
	/* an exact-size heap copy, so a read past the end is caught */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	memset(&req, 0xAA, sizeof(req));
	r = http_parse_request(buf, size, &req);
	FUZZ_CHECK(r == HTTP_INCOMPLETE || r == HTTP_COMPLETE || r == HTTP_BAD);
	if (r == HTTP_COMPLETE) {
		FUZZ_CHECK(memchr(req.method, '\0', sizeof(req.method)) != NULL);
		FUZZ_CHECK(memchr(req.path, '\0', sizeof(req.path)) != NULL);
		FUZZ_CHECK(req.method[0] != '\0');
		FUZZ_CHECK(!strchr(req.path, '?'));
		for (size_t n = 0; n < size && n < 1024; n++) {
			struct http_request r2;

			FUZZ_CHECK(http_parse_request(buf, n, &r2) != HTTP_BAD);
		}
	}
	free(buf);
	return 0;
}
