/* wait_target.c - what --wait-for names, and the database as a target
 * (wait_target.h).  Pure but for copying a URL: wait.c does the waiting. */
#include "prestart/wait_target.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/hostport.h"

static void target_init(struct wait_target *t)
{
	memset(t, 0, sizeof(*t));
}

static int parse_uint(const char *s, size_t len, long max, long *out)
{
	long v = 0;

	if (len == 0 || len > 9)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

static int has_blank_or_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 1;
	return 0;
}

static int bad(struct err *e, const char *masked, const char *why)
{
	return err_set(e, ERR_USAGE, "invalid wait target '%s': %s", masked, why);
}

static int parse_tcp(const char *rest, const char *masked, struct wait_target *t,
		     struct err *e)
{
	size_t len = strlen(rest);
	struct hostport hp;
	enum hostport_verdict v;
	const char *host;
	size_t hlen;
	long port;

	if (len && rest[len - 1] == '/')
		len--;
	if (len == 0)
		return bad(e, masked, "expected tcp://host:port");
	for (size_t i = 0; i < len; i++)
		if (strchr("/?#@", rest[i]))
			return bad(e, masked, "expected tcp://host:port with no path or user");
	v = hostport_split(rest, len, &hp);
	if (hp.bracketed) {
		if (v != HOSTPORT_OK || !hp.port)
			return bad(e, masked, "expected tcp://[ipv6]:port");
	} else {
		if (!hp.port)
			return bad(e, masked, "missing port (expected tcp://host:port)");
		if (v == HOSTPORT_UNBRACKETED)
			return bad(e, masked, "an IPv6 address needs brackets: tcp://[::1]:port");
	}
	host = hp.host;
	hlen = hp.host_len;
	if (hlen == 0)
		return bad(e, masked, "missing host (expected tcp://host:port)");
	for (size_t i = 0; i < hlen; i++)
		if (host[i] == '[' || host[i] == ']')
			return bad(e, masked, "expected tcp://host:port");
	if (hostport_port(&hp, 0, 9, &port) < 0)
		return bad(e, masked, "the port must be a number from 1 to 65535");
	t->kind = WT_TCP;
	t->host = xstrndup(host, hlen);
	t->port = xasprintf("%ld", port);
	return 0;
}

static int parse_status_range(const char *frag, const char *masked, struct wait_target *t,
			      struct err *e)
{
	const char *v, *dash;
	long lo, hi;

	if (strncmp(frag, "status=", 7) != 0)
		return bad(e, masked, "unknown fragment (expected #status=200-399 or #status=200)");
	v = frag + 7;
	dash = strchr(v, '-');
	if (dash) {
		if (parse_uint(v, (size_t)(dash - v), 599, &lo) < 0 ||
		    parse_uint(dash + 1, strlen(dash + 1), 599, &hi) < 0)
			lo = hi = -1;
	} else if (parse_uint(v, strlen(v), 599, &lo) == 0) {
		hi = lo;
	} else {
		lo = hi = -1;
	}
	if (lo < 100 || hi < 100 || lo > hi)
		return bad(e, masked, "#status wants a code or a range of codes from 100 to 599");
	t->status_lo = (int)lo;
	t->status_hi = (int)hi;
	return 0;
}

static int parse_http(const char *spec, const char *rest, const char *masked,
		      struct wait_target *t, struct err *e)
{
	const char *hash = strchr(spec, '#');
	size_t alen = strcspn(rest, "/?#");
	const char *at;

	if (has_blank_or_ctl(spec))
		return bad(e, masked, "the URL contains blanks or control characters");
	/* The host is what follows any user:password@ in the authority. */
	at = memchr(rest, '@', alen);
	if (at)
		alen -= (size_t)(at + 1 - rest);
	if (alen == 0)
		return bad(e, masked, "missing host");
	t->status_lo = 200;
	t->status_hi = 299;
	if (hash && hash[1] && parse_status_range(hash + 1, masked, t, e) < 0)
		return -1;
	t->kind = WT_HTTP;
	t->url = hash ? xstrndup(spec, (size_t)(hash - spec)) : xstrdup(spec);
	return 0;
}

static int parse_file(const char *rest, const char *masked, struct wait_target *t,
		      struct err *e)
{
	if (strncasecmp(rest, "localhost/", 10) == 0)
		rest += 9;
	if (rest[0] != '/')
		return bad(e, masked, "expected file:///absolute/path");
	if (strpbrk(rest, "?#"))
		return bad(e, masked, "a file target takes no query or fragment");
	if (dburl_pct_decode(rest, strlen(rest), 0, &t->path) < 0)
		return bad(e, masked, "bad percent-encoding in the path");
	t->kind = WT_FILE;
	return 0;
}

static int scheme_is(const char *spec, size_t slen, const char *name)
{
	return strlen(name) == slen && strncasecmp(spec, name, slen) == 0;
}

/* A driver suffix ("postgresql+psycopg") belongs to the database URL forms. */
static int scheme_is_db(const char *spec, size_t slen)
{
	static const char *const bases[] = { "postgresql", "postgres", "sqlite" };

	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		size_t b = strlen(bases[i]);

		if (slen >= b && strncasecmp(spec, bases[i], b) == 0 &&
		    (slen == b || spec[b] == '+'))
			return 1;
	}
	return 0;
}

int wait_target_parse(const char *spec, struct wait_target *t, struct err *e)
{
	const char *sep;
	char *masked;
	size_t slen;
	int rc;

	target_init(t);
	if (!spec || !*spec)
		return err_set(e, ERR_USAGE, "empty wait target");
	masked = dburl_mask(spec);
	sep = strstr(spec, "://");
	if (!sep) {
		rc = bad(e, masked, "expected tcp://host:port, http(s)://..., file:///path "
			 "or postgresql://...");
		goto out;
	}
	slen = (size_t)(sep - spec);
	if (scheme_is(spec, slen, "tcp")) {
		rc = parse_tcp(sep + 3, masked, t, e);
	} else if (scheme_is(spec, slen, "http") || scheme_is(spec, slen, "https")) {
		rc = parse_http(spec, sep + 3, masked, t, e);
	} else if (scheme_is(spec, slen, "file")) {
		rc = parse_file(sep + 3, masked, t, e);
	} else if (scheme_is_db(spec, slen)) {
		struct dburl u;

		memset(&u, 0, sizeof(u));
		rc = dburl_parse(spec, &u, e);
		if (rc == 0) {
			wait_target_from_db(&u, t);
			dburl_release(&u);
		} else {
			err_prefix(e, "invalid wait target '%s'", masked);
		}
		goto out;
	} else {
		rc = err_set(e, ERR_USAGE, "invalid wait target '%s': unsupported scheme '%.*s' "
			     "(expected tcp, http, https, file or postgresql)",
			     masked, (int)(slen > 32 ? 32 : slen), spec);
	}
	if (rc == 0) {
		t->display = masked;
		masked = NULL;
	}
out:
	if (rc < 0)
		wait_target_release(t);
	free(masked);
	return rc;
}

void wait_target_from_db(const struct dburl *u, struct wait_target *t)
{
	target_init(t);
	if (u->kind == DB_SQLITE) {
		t->kind = WT_SQLITE;
		t->path = xstrdup(u->path ? u->path : "");
		t->display = u->masked && *u->masked ? xstrdup(u->masked)
						      : xasprintf("sqlite:///%s", t->path);
		return;
	}
	t->kind = WT_PG;
	/* A private copy: a target outlives the caller's struct dburl. */
	dburl_copy(&t->db, u);
	t->display = u->masked && *u->masked ? xstrdup(u->masked)
					      : xstrdup("postgresql (libpq PG* environment)");
}

void wait_target_release(struct wait_target *t)
{
	if (!t)
		return;
	free(t->display);
	free(t->host);
	free(t->port);
	free(t->url);
	free(t->path);
	if (t->kind == WT_PG)
		dburl_release(&t->db);
	target_init(t);
}
