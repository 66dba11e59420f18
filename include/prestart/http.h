/* http.h - the HTTP/1.x request parser of the health endpoint (health.h):
 * the request line and the headers' end, nothing more (the endpoint reads
 * no body and answers every request with Connection: close).  Pure: no
 * I/O, unit-tested and fuzzed on its own.
 */
#ifndef PRESTART_HTTP_H
#define PRESTART_HTTP_H

#include <stddef.h>

/* A parsed request line. Pure parser: no I/O. */
struct http_request {
	char method[16];
	char path[256]; /* without the query string */
};

enum http_parse_result {
	HTTP_INCOMPLETE = 0, /* need more bytes */
	HTTP_COMPLETE = 1,   /* headers ended (\r\n\r\n or \n\n) */
	HTTP_BAD = -1        /* malformed: answer 400 and close */
};

/* Parse buf[0..len) (not NUL-terminated; a NUL byte is HTTP_BAD): the
 * request line "METHOD TARGET HTTP/1.x", header lines up to the empty line
 * that ends them, lines ending in \r\n or \n.  `req` is filled on
 * HTTP_COMPLETE; the path loses its query string.  Incomplete input that
 * can no longer become a valid request is HTTP_BAD at once. */
enum http_parse_result http_parse_request(const char *buf, size_t len, struct http_request *req);

#endif
