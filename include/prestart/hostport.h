/* hostport.h - the one reading of "host:port" and "[v6]:port", for the
 * health address (health.c), tcp:// wait targets (wait.c) and a database
 * URL's hosts (dburl.c).  Pure: the parts point into the text given, and
 * each caller words its own errors and judges its own host names.
 */
#ifndef PRESTART_HOSTPORT_H
#define PRESTART_HOSTPORT_H

#include <stddef.h>

struct hostport {
	const char *host;  /* inside the brackets for "[v6]" */
	size_t host_len;
	const char *port;  /* after the ':'; NULL when there is no ':' */
	size_t port_len;
	int bracketed;     /* the host was written "[...]" */
};

enum hostport_verdict {
	HOSTPORT_OK = 0,
	HOSTPORT_NO_CLOSE,    /* "[" with no "]" */
	HOSTPORT_AFTER_CLOSE, /* something other than ":" right after "]" */
	/* More than one ':' outside brackets: an IPv6 address needs them.
	 * *hp is still filled as if the first ':' split host and port. */
	HOSTPORT_UNBRACKETED
};

/* Split s[0..n) into host and port: "[" up to the first "]" then
 * optionally ":port", or else up to a ':' then the port.  Empty parts are
 * allowed (the caller says whether a host or port must be there). */
enum hostport_verdict hostport_split(const char *s, size_t n, struct hostport *hp);
/* hp's port as a number: digits only, at most max_digits of them (0: any
 * number), from 1 (0 with zero_ok) to 65535.  0 with *port set, or -1
 * (no port, empty, or out of those bounds). */
int hostport_port(const struct hostport *hp, int zero_ok, size_t max_digits, long *port);

#endif
