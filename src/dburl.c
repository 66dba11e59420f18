#include "prestart/dburl.h"
#include "prestart/hostport.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libpq 15's connection keywords (PQconndefaults() without the debug-only
 * "replication"): a URL parameter with one of these names goes to libpq. */
static const char *const pg_keywords[] = {
	"host", "hostaddr", "port", "dbname", "user", "password", "passfile",
	"channel_binding", "connect_timeout", "client_encoding", "options",
	"application_name", "fallback_application_name", "keepalives",
	"keepalives_idle", "keepalives_interval", "keepalives_count",
	"tcp_user_timeout", "sslmode", "sslcompression", "sslcert", "sslkey",
	"sslpassword", "sslrootcert", "sslcrl", "sslcrldir", "sslsni",
	"requirepeer", "ssl_min_protocol_version", "ssl_max_protocol_version",
	"gssencmode", "krbsrvname", "gsslib", "service", "target_session_attrs",
	NULL
};

/* Dialect options SQLAlchemy reads from the URL that do not concern libpq. */
static const char *const pg_ignored[] = {
	"prepared_statement_cache_size", "async_fallback", NULL
};

/* pysqlite connect() arguments SQLAlchemy takes from the URL; none of them
 * changes which file is migrated. */
static const char *const sqlite_ignored[] = {
	"timeout", "check_same_thread", "isolation_level", "detect_types",
	"cached_statements", "mode", "cache", NULL
};

static const char *const asyncpg_ssl[][2] = {
	{ "require", "require" }, { "disable", "disable" }, { "prefer", "prefer" },
	{ "allow", "allow" }, { "verify-ca", "verify-ca" },
	{ "verify-full", "verify-full" }, { "true", "require" },
	{ "false", "disable" }, { NULL, NULL }
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

int dburl_pct_decode(const char *s, size_t n, int plus_space, char **out)
{
	char *d = xmalloc(n + 1), *w = d;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (n - i < 3 || hexval((unsigned char)s[i + 1]) < 0 ||
			    hexval((unsigned char)s[i + 2]) < 0)
				goto bad;
			*w = (char)(hexval((unsigned char)s[i + 1]) * 16 +
				    hexval((unsigned char)s[i + 2]));
			if (!*w)
				goto bad;
			w++;
			i += 2;
		} else if (plus_space && s[i] == '+') {
			*w++ = ' ';
		} else {
			*w++ = s[i];
		}
	}
	*w = '\0';
	*out = d;
	return 0;
bad:
	free(d);
	*out = NULL;
	return -1;
}

/* The scheme is the part before "://" when it looks like one; anything
 * else may be a mistyped secret and is never echoed. */
static size_t scheme_len(const char *url)
{
	const char *sep = strstr(url, "://");

	if (!sep || sep == url)
		return 0;
	for (const char *p = url; p < sep; p++)
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			return 0;
	return (size_t)(sep - url);
}

static void mask_query(struct sbuf *b, const char *s)
{
	static const char *const secret[] = { "password=", "sslpassword=", NULL };

	while (*s) {
		size_t klen = 0;

		sbuf_addc(b, *s);
		if (*s == '?' || *s == '&')
			for (size_t k = 0; secret[k]; k++)
				if (!strncasecmp(s + 1, secret[k], strlen(secret[k])))
					klen = strlen(secret[k]);
		s++;
		if (klen) {
			sbuf_add(b, s, klen);
			sbuf_adds(b, "***");
			s += klen;
			s += strcspn(s, "&");
		}
	}
}

/* Where SQLAlchemy's make_url() would put the password: after the first
 * ':' of the user-info, up to the next '@'.  An unescaped '@' inside the
 * password would leave the rest of it looking like a host, so the range is
 * stretched over any further '@' before the path. */
static int find_password(const char *rest, const char **pw, const char **at)
{
	size_t i = strcspn(rest, ":/");
	const char *a;

	if (rest[i] != ':' || !(a = strchr(rest + i + 1, '@')))
		return 0;
	for (;;) {
		size_t h = strcspn(a + 1, "/?@");

		if (a[1 + h] != '@')
			break;
		a += 1 + h;
	}
	*pw = rest + i + 1;
	*at = a;
	return 1;
}

/* The first control character of s (a byte below 0x20, or DEL), or NULL. */
static const char *find_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return s;
	return NULL;
}

/* How a control character is written in messages: C's escapes. */
static void add_control(struct sbuf *b, unsigned char c)
{
	switch (c) {
	case '\n': sbuf_adds(b, "\\n"); break;
	case '\r': sbuf_adds(b, "\\r"); break;
	case '\t': sbuf_adds(b, "\\t"); break;
	default: sbuf_addf(b, "\\x%02x", c); break;
	}
}

char *dburl_mask(const char *url)
{
	struct sbuf b = { 0 }, out = { 0 };
	const char *rest, *pw, *at;
	size_t sl;

	if (!url)
		return xstrdup("");
	sl = scheme_len(url);
	rest = sl ? url + sl + 3 : url;
	if (find_password(rest, &pw, &at)) {
		sbuf_add(&b, url, (size_t)(pw - url));
		sbuf_adds(&b, "***");
		mask_query(&b, at);
	} else {
		mask_query(&b, url);
	}
	if (!b.len || !find_control(b.buf))
		return sbuf_detach(&b);
	/* A log line is one line: a newline inside a URL is shown, not kept. */
	for (const char *p = b.buf; *p; p++) {
		if (find_control(p) == p)
			add_control(&out, (unsigned char)*p);
		else
			sbuf_addc(&out, *p);
	}
	sbuf_free(&b);
	return sbuf_detach(&out);
}

/* An ordered keyword/value list where a later value replaces an earlier
 * one, as libpq lets URI query parameters override the URI's parts. */
static void kv_set(struct strlist *keys, struct strlist *vals, const char *k, char *v)
{
	for (size_t i = 0; i < keys->n; i++) {
		if (!strcmp(keys->v[i], k)) {
			free(vals->v[i]);
			vals->v[i] = v;
			return;
		}
	}
	strlist_push(keys, k);
	strlist_push_owned(vals, v);
}

/* One "host[:port]" or "[v6]:port" item of a host list.  `decode` is set
 * for the URL's authority, whose parts are still percent-encoded. */
static int parse_host_item(const char *s, size_t n, int decode, struct strlist *hosts,
			   struct strlist *ports, struct err *e)
{
	struct hostport hp;
	enum hostport_verdict v = hostport_split(s, n, &hp);
	char *host;
	long port;

	if (v == HOSTPORT_NO_CLOSE)
		return err_set(e, ERR_USAGE, "invalid IPv6 host in database URL: missing ']'");
	if (v == HOSTPORT_AFTER_CLOSE)
		return err_set(e, ERR_USAGE,
			       "invalid IPv6 host in database URL: unexpected text after ']'");
	if (decode) {
		if (dburl_pct_decode(hp.host, hp.host_len, 0, &host) < 0)
			return err_set(e, ERR_USAGE, "invalid percent-encoding in database URL host");
	} else {
		host = xstrndup(hp.host, hp.host_len);
	}
	strlist_push_owned(hosts, host);
	if (!hp.port) {
		strlist_push(ports, "");
		return 0;
	}
	/* Up to 5 digits, 1-65535; a second ':' (HOSTPORT_UNBRACKETED) lands
	 * here too.  The value is not echoed: a password missing its '@'
	 * lands here. */
	if (hostport_port(&hp, 0, 5, &port) < 0)
		return err_set(e, ERR_USAGE, "invalid port in database URL (expected 1-65535)");
	strlist_push_owned(ports, xstrndup(hp.port, hp.port_len));
	return 0;
}

static int parse_host_list(const char *s, size_t n, int decode, struct strlist *hosts,
			   struct strlist *ports, struct err *e)
{
	const char *end = s + n;

	for (;;) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		const char *item_end = comma ? comma : end;

		if (parse_host_item(s, (size_t)(item_end - s), decode, hosts, ports, e) < 0)
			return -1;
		if (!comma)
			return 0;
		s = comma + 1;
	}
}

static int any_nonempty(const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (*l->v[i])
			return 1;
	return 0;
}

static char *ssl_to_sslmode(const char *v)
{
	for (size_t i = 0; asyncpg_ssl[i][0]; i++)
		if (!strcasecmp(asyncpg_ssl[i][0], v))
			return xstrdup(asyncpg_ssl[i][1]);
	return NULL;
}

struct pgq {
	struct strlist keys, vals; /* libpq parameters from the query */
	struct strlist hosts, ports;
	struct strlist seen;
};

static int pg_query_param(struct pgq *q, char *key, char *val, struct err *e)
{
	const char *canon = key;

	if (!strcmp(key, "ssl"))
		canon = "sslmode";
	if (in_list(pg_ignored, key))
		return 0;
	if (!in_list(pg_keywords, canon))
		return err_set(e, ERR_USAGE, "unknown database URL parameter '%s'", key);
	if (strcmp(canon, "host")) {
		if (strlist_contains(&q->seen, canon))
			return err_set(e, ERR_USAGE, "database URL parameter '%s' given more than once",
				       key);
		strlist_push(&q->seen, canon);
	}
	if (!*val)
		return 0;
	if (!strcmp(key, "ssl")) {
		char *mode = ssl_to_sslmode(val);

		if (!mode)
			return err_set(e, ERR_USAGE,
				       "invalid value '%s' for database URL parameter 'ssl' (expected "
				       "require, disable, prefer, allow, verify-ca, verify-full, "
				       "true or false)", val);
		kv_set(&q->keys, &q->vals, canon, mode);
		return 0;
	}
	if (!strcmp(canon, "host")) {
		/* Socket directories are taken whole: a path may hold ':'. */
		const char *s = val;

		for (;;) {
			size_t n = strcspn(s, ",");

			if (*s == '/' || *s == '@') {
				strlist_push_owned(&q->hosts, xstrndup(s, n));
				strlist_push(&q->ports, "");
			} else if (parse_host_item(s, n, 0, &q->hosts, &q->ports, e) < 0) {
				return -1;
			}
			if (!s[n])
				break;
			s += n + 1;
		}
		return 0;
	}
	kv_set(&q->keys, &q->vals, canon, xstrdup(val));
	return 0;
}

static int parse_pg_query(const char *s, struct pgq *q, struct err *e)
{
	while (*s) {
		size_t n = strcspn(s, "&");
		const char *eq = memchr(s, '=', n);
		size_t kn = eq ? (size_t)(eq - s) : n;
		char *key = NULL, *val = NULL;
		int r;

		if (n == 0) {
			s++;
			continue;
		}
		if (dburl_pct_decode(s, kn, 1, &key) < 0)
			return err_set(e, ERR_USAGE,
				       "invalid percent-encoding in a database URL parameter name");
		if (!*key) {
			free(key);
			return err_set(e, ERR_USAGE, "empty database URL parameter name");
		}
		if (dburl_pct_decode(eq ? eq + 1 : s + n, eq ? n - kn - 1 : 0, 1, &val) < 0) {
			err_set(e, ERR_USAGE,
				"invalid percent-encoding in database URL parameter '%s'", key);
			free(key);
			return -1;
		}
		r = pg_query_param(q, key, val, e);
		free(key);
		free(val);
		if (r < 0)
			return -1;
		s += n;
		if (*s)
			s++;
	}
	return 0;
}

static void pgq_free(struct pgq *q)
{
	strlist_free(&q->keys);
	strlist_free(&q->vals);
	strlist_free(&q->hosts);
	strlist_free(&q->ports);
	strlist_free(&q->seen);
}

static int parse_pg(const char *rest, struct strlist *keys, struct strlist *vals,
		    struct err *e)
{
	struct strlist hosts = { 0 }, ports = { 0 };
	struct pgq q = { 0 };
	const char *pw, *at, *hp = rest, *path = NULL, *query = NULL;
	size_t hn;
	char *s;
	int ret = -1;

	if (find_password(rest, &pw, &at)) {
		if (dburl_pct_decode(rest, (size_t)(pw - 1 - rest), 0, &s) < 0) {
			err_set(e, ERR_USAGE, "invalid percent-encoding in database URL user name");
			goto out;
		}
		kv_set(keys, vals, "user", s);
		if (memchr(pw, '@', (size_t)(at - pw))) {
			/* SQLAlchemy would cut the password at the first '@' and
			 * connect elsewhere: refuse rather than guess. */
			err_set(e, ERR_USAGE, "invalid password in database URL: write '@' in a "
				"user name or password as %%40");
			goto out;
		}
		if (dburl_pct_decode(pw, (size_t)(at - pw), 0, &s) < 0) {
			err_set(e, ERR_USAGE, "invalid percent-encoding in database URL password");
			goto out;
		}
		kv_set(keys, vals, "password", s);
		hp = at + 1;
	} else {
		size_t i = strcspn(rest, ":/");
		const char *a = NULL;

		for (const char *p = rest; p < rest + i; p++)
			if (*p == '@')
				a = p;
		if (a) {
			if (dburl_pct_decode(rest, (size_t)(a - rest), 0, &s) < 0) {
				err_set(e, ERR_USAGE,
					"invalid percent-encoding in database URL user name");
				goto out;
			}
			kv_set(keys, vals, "user", s);
			hp = a + 1;
		}
	}

	hn = strcspn(hp, "/?");
	if (memchr(hp, '@', hn)) {
		err_set(e, ERR_USAGE, "invalid host in database URL: write '@' in a user name "
			"or password as %%40");
		goto out;
	}
	if (hp[hn] == '/')
		path = hp + hn + 1;
	query = strchr(path ? path : hp + hn, '?');
	if (parse_host_list(hp, hn, 1, &hosts, &ports, e) < 0)
		goto out;
	if (path) {
		size_t pn = query ? (size_t)(query - path) : strlen(path);

		if (dburl_pct_decode(path, pn, 0, &s) < 0) {
			err_set(e, ERR_USAGE, "invalid percent-encoding in database URL database name");
			goto out;
		}
		if (*s)
			kv_set(keys, vals, "dbname", s);
		else
			free(s);
	}
	if (query && parse_pg_query(query + 1, &q, e) < 0)
		goto out;

	if (q.hosts.n) {
		kv_set(keys, vals, "host", strlist_join(&q.hosts, ","));
		if (any_nonempty(&q.ports))
			kv_set(keys, vals, "port", strlist_join(&q.ports, ","));
		else if (any_nonempty(&ports))
			kv_set(keys, vals, "port", strlist_join(&ports, ","));
	} else {
		if (hosts.n > 1 || any_nonempty(&hosts))
			kv_set(keys, vals, "host", strlist_join(&hosts, ","));
		if (any_nonempty(&ports))
			kv_set(keys, vals, "port", strlist_join(&ports, ","));
	}
	for (size_t i = 0; i < q.keys.n; i++)
		kv_set(keys, vals, q.keys.v[i], xstrdup(q.vals.v[i]));
	ret = 0;
out:
	strlist_free(&hosts);
	strlist_free(&ports);
	pgq_free(&q);
	return ret;
}

/* host, port, user, password, dbname first, as the header promises, so
 * that dumps read naturally; libpq itself ignores the order. */
static void pg_order(struct strlist *keys, struct strlist *vals)
{
	static const char *const first[] = { "host", "port", "user", "password", "dbname" };
	size_t at = 0;

	for (size_t f = 0; f < sizeof(first) / sizeof(*first); f++) {
		for (size_t i = at; i < keys->n; i++) {
			if (!strcmp(keys->v[i], first[f])) {
				for (size_t j = i; j > at; j--) {
					char *tk = keys->v[j], *tv = vals->v[j];

					keys->v[j] = keys->v[j - 1];
					vals->v[j] = vals->v[j - 1];
					keys->v[j - 1] = tk;
					vals->v[j - 1] = tv;
				}
				at++;
				break;
			}
		}
	}
}

static int parse_sqlite(const char *rest, struct dburl *u, struct err *e)
{
	const char *q = strchr(rest, '?');
	size_t n = q ? (size_t)(q - rest) : strlen(rest);

	if (n == 0 || (n == 1 && rest[0] == '/') || (n == 9 && !memcmp(rest, "/:memory:", 9)))
		return err_set(e, ERR_USAGE, "in-memory SQLite database URL is not supported: "
			       "use sqlite:///relative/path.db or sqlite:////absolute/path.db");
	if (rest[0] != '/')
		return err_set(e, ERR_USAGE, "SQLite database URL with a host is not supported: "
			       "use sqlite:///relative/path.db or sqlite:////absolute/path.db");
	for (const char *s = q ? q + 1 : ""; *s;) {
		size_t sn = strcspn(s, "&");
		size_t kn = strcspn(s, "=&");
		char *key;

		if (sn && dburl_pct_decode(s, kn, 1, &key) == 0) {
			int ok = in_list(sqlite_ignored, key);
			int uri = !strcmp(key, "uri");

			if (uri) {
				char *val = NULL;
				int off = 0;

				if (s[kn] == '=' && dburl_pct_decode(s + kn + 1, sn - kn - 1, 1, &val) == 0)
					off = !strcasecmp(val, "false") || !strcmp(val, "0") || !*val;
				free(val);
				if (!off) {
					free(key);
					return err_set(e, ERR_USAGE,
						       "SQLite database URL parameter 'uri=true' is not "
						       "supported: give the file path as sqlite:///path.db");
				}
				ok = 1;
			}
			if (!ok) {
				err_set(e, ERR_USAGE, "unknown database URL parameter '%s'", key);
				free(key);
				return -1;
			}
			free(key);
		} else if (sn) {
			return err_set(e, ERR_USAGE,
				       "invalid percent-encoding in a database URL parameter name");
		}
		s += sn;
		if (*s)
			s++;
	}
	if (dburl_pct_decode(rest + 1, n - 1, 0, &u->path) < 0)
		return err_set(e, ERR_USAGE, "invalid percent-encoding in SQLite database URL path");
	return 0;
}

static void null_terminated(struct strlist *l)
{
	if (!l->v)
		xgrow((void **)&l->v, &l->alloc, 1, sizeof(*l->v));
	l->v[l->n] = NULL;
}

int dburl_parse(const char *url, struct dburl *u, struct err *e)
{
	struct strlist keys = { 0 }, vals = { 0 };
	char scheme[64];
	const char *ctl;
	char *plus;
	size_t sl;

	memset(u, 0, sizeof(*u));
	if (!url) {
		u->kind = DB_PG;
		null_terminated(&keys);
		null_terminated(&vals);
		u->keys = keys.v;
		u->vals = vals.v;
		u->masked = xstrdup("postgresql:// (from PG* environment)");
		return 0;
	}
	if (!*url)
		return err_set(e, ERR_USAGE, "empty database URL");
	if ((ctl = find_control(url))) {
		/* libpq would take a newline for part of a host or database name
		 * and wait for it in vain.  Only the character is named: it may
		 * sit inside the password. */
		struct sbuf b = { 0 };

		add_control(&b, (unsigned char)*ctl);
		err_set(e, ERR_USAGE, "invalid database URL: it contains a control character (%s)",
			b.buf);
		sbuf_free(&b);
		return -1;
	}
	sl = scheme_len(url);
	if (!sl)
		return err_set(e, ERR_USAGE, "invalid database URL: expected postgresql://... "
			       "or sqlite:///...");
	if (sl >= sizeof(scheme))
		return err_set(e, ERR_USAGE, "unsupported database URL scheme '%.*s...'", 40, url);
	for (size_t i = 0; i < sl; i++)
		scheme[i] = (char)tolower((unsigned char)url[i]);
	scheme[sl] = '\0';
	plus = strchr(scheme, '+');

	if (!strcmp(scheme, "sqlite") || !strcmp(scheme, "sqlite+pysqlite") ||
	    !strcmp(scheme, "sqlite+aiosqlite")) {
		u->kind = DB_SQLITE;
		if (parse_sqlite(url + sl + 3, u, e) < 0) {
			dburl_release(u);
			return -1;
		}
		u->masked = dburl_mask(url);
		return 0;
	}
	if (plus)
		*plus = '\0';
	if ((strcmp(scheme, "postgresql") && strcmp(scheme, "postgres")) ||
	    (plus && strcmp(plus + 1, "psycopg2") && strcmp(plus + 1, "psycopg") &&
	     strcmp(plus + 1, "asyncpg") && strcmp(plus + 1, "pg8000"))) {
		if (plus)
			*plus = '+';
		return err_set(e, ERR_USAGE, "unsupported database URL scheme '%s' (expected "
			       "postgresql:// or sqlite:///)", scheme);
	}
	if (parse_pg(url + sl + 3, &keys, &vals, e) < 0) {
		strlist_free(&keys);
		strlist_free(&vals);
		return -1;
	}
	pg_order(&keys, &vals);
	null_terminated(&keys);
	null_terminated(&vals);
	u->kind = DB_PG;
	u->keys = keys.v;
	u->vals = vals.v;
	u->n = keys.n;
	u->masked = dburl_mask(url);
	return 0;
}

void dburl_release(struct dburl *u)
{
	for (size_t i = 0; i < u->n; i++) {
		free(u->keys[i]);
		free(u->vals[i]);
	}
	free(u->keys);
	free(u->vals);
	free(u->path);
	free(u->masked);
	memset(u, 0, sizeof(*u));
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void dburl_copy(struct dburl *dst, const struct dburl *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->kind = src->kind;
	dst->n = src->n;
	/* NULL-terminated, as dburl_parse leaves them for libpq. */
	dst->keys = xcalloc(src->n + 1, sizeof(char *));
	dst->vals = xcalloc(src->n + 1, sizeof(char *));
	for (size_t i = 0; i < src->n; i++) {
		dst->keys[i] = strdup_or_null(src->keys[i]);
		dst->vals[i] = strdup_or_null(src->vals[i]);
	}
	dst->path = strdup_or_null(src->path);
	dst->masked = strdup_or_null(src->masked);
}

const char *dburl_get(const struct dburl *u, const char *key)
{
	for (size_t i = 0; i < u->n; i++)
		if (!strcmp(u->keys[i], key))
			return u->vals[i];
	return NULL;
}
