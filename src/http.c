/* http.c - the health endpoint's HTTP request parser (http.h).  Pure. */
#include "prestart/http.h"

#include <string.h>
#include <strings.h>

/* Longest request line accepted: generous for a query string, and short
 * enough that garbage is answered with 400 well before the size limit. */
#define REQUEST_LINE_MAX 4096

static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *find_nl(const char *p, const char *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* Could [p, end), a request line without its newline yet, still become a
 * valid one?  Only the method is checked: enough to turn away binary junk
 * (a TLS handshake, say) without waiting for the timeout. */
static int line_prefix_ok(const char *p, const char *end)
{
	const char *q = p;

	if ((size_t)(end - p) > REQUEST_LINE_MAX)
		return 0;
	while (q < end && is_tchar((unsigned char)*q))
		q++;
	if ((size_t)(q - p) >= sizeof(((struct http_request *)0)->method))
		return 0;
	return q == end || (*q == ' ' && q > p);
}

/* Strip "http://authority" from an absolute-form target: proxies send
 * them and RFC 9112 requires servers to accept them. */
static const char *origin_path(const char *t, const char *tend)
{
	const char *s = t;

	if ((size_t)(tend - t) >= 7 && !strncasecmp(t, "http://", 7))
		s = t + 7;
	else if ((size_t)(tend - t) >= 8 && !strncasecmp(t, "https://", 8))
		s = t + 8;
	else
		return t;
	while (s < tend && *s != '/' && *s != '?' && *s != '#')
		s++;
	return s;
}

static int parse_request_line(const char *p, const char *le, struct http_request *req)
{
	const char *q = p, *t, *tend, *path, *pend;
	size_t n;

	while (q < le && is_tchar((unsigned char)*q))
		q++;
	n = (size_t)(q - p);
	if (!n || n >= sizeof(req->method) || q == le || *q != ' ')
		return -1;
	memcpy(req->method, p, n);
	req->method[n] = '\0';

	t = ++q;
	while (q < le && *q != ' ') {
		unsigned char c = (unsigned char)*q;

		if (c < 0x21 || c > 0x7e)
			return -1;
		q++;
	}
	tend = q;
	if (t == tend || q == le)
		return -1;
	q++;
	if ((size_t)(le - q) != 8 || (memcmp(q, "HTTP/1.1", 8) && memcmp(q, "HTTP/1.0", 8)))
		return -1;

	path = origin_path(t, tend);
	if (path == t && *t != '/')
		return -1;
	pend = path;
	while (pend < tend && *pend != '?' && *pend != '#')
		pend++;
	n = (size_t)(pend - path);
	if (n >= sizeof(req->path))
		return -1;
	if (!n) {
		strcpy(req->path, "/");
	} else {
		memcpy(req->path, path, n);
		req->path[n] = '\0';
	}
	return 0;
}

static int header_line_ok(const char *p, const char *le)
{
	const char *q = p;

	while (q < le && is_tchar((unsigned char)*q))
		q++;
	/* An empty name also rejects obsolete line folding (leading blank). */
	if (q == p || q == le || *q != ':')
		return 0;
	for (q++; q < le; q++) {
		unsigned char c = (unsigned char)*q;

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

enum http_parse_result http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	const char *p = buf, *end = buf + len, *eol, *le;

	if (!len)
		return HTTP_INCOMPLETE;
	if (memchr(buf, '\0', len))
		return HTTP_BAD;
	/* RFC 9112 §2.2: ignore empty lines before the request line. */
	while (p < end && (*p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'))))
		p++;
	eol = find_nl(p, end);
	if (!eol)
		return line_prefix_ok(p, end) ? HTTP_INCOMPLETE : HTTP_BAD;
	if ((size_t)(eol - p) > REQUEST_LINE_MAX)
		return HTTP_BAD;
	le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
	if (parse_request_line(p, le, req) < 0)
		return HTTP_BAD;

	for (p = eol + 1; (eol = find_nl(p, end)); p = eol + 1) {
		le = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (le == p)
			return HTTP_COMPLETE;
		if (!header_line_ok(p, le))
			return HTTP_BAD;
	}
	return HTTP_INCOMPLETE;
}
