/* hostport.c - "host:port" and "[v6]:port" (hostport.h). */
#include "prestart/hostport.h"

#include <string.h>

enum hostport_verdict hostport_split(const char *s, size_t n, struct hostport *hp)
{
	const char *end = s + n, *colon;

	memset(hp, 0, sizeof(*hp));
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		hp->bracketed = 1;
		if (!close)
			return HOSTPORT_NO_CLOSE;
		hp->host = s + 1;
		hp->host_len = (size_t)(close - hp->host);
		if (close + 1 == end)
			return HOSTPORT_OK;
		if (close[1] != ':')
			return HOSTPORT_AFTER_CLOSE;
		hp->port = close + 2;
		hp->port_len = (size_t)(end - hp->port);
		return HOSTPORT_OK;
	}
	hp->host = s;
	colon = memchr(s, ':', n);
	if (!colon) {
		hp->host_len = n;
		return HOSTPORT_OK;
	}
	hp->host_len = (size_t)(colon - s);
	hp->port = colon + 1;
	hp->port_len = (size_t)(end - hp->port);
	return memchr(hp->port, ':', hp->port_len) ? HOSTPORT_UNBRACKETED : HOSTPORT_OK;
}

int hostport_port(const struct hostport *hp, int zero_ok, size_t max_digits, long *port)
{
	long v = 0;

	if (!hp->port || !hp->port_len || (max_digits && hp->port_len > max_digits))
		return -1;
	for (size_t i = 0; i < hp->port_len; i++) {
		if (hp->port[i] < '0' || hp->port[i] > '9')
			return -1;
		v = v * 10 + (hp->port[i] - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0 && !zero_ok)
		return -1;
	*port = v;
	return 0;
}
