/* tenants.c - the tenants of a run: sources, names, shards (tenants.h). */
#include "prestart/tenants.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tenants_kind tenants_source_kind(const char *src, const char **payload)
{
	if (src[0] == '@') {
		*payload = src + 1;
		return TENANTS_FILE;
	}
	if (!strncmp(src, "query:", 6)) {
		*payload = src + 6;
		return TENANTS_QUERY;
	}
	*payload = src;
	return TENANTS_LIST;
}

int tenants_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 63 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '$'))
			return 0;
	/* isalpha in the C locale: ASCII only, as intended */
	return 1;
}

uint32_t tenants_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

/* A set of names for the repeats: open addressing over indices into the
 * list, so a source of 100,000 names stays linear. */
struct seen {
	size_t *slot; /* index + 1; 0: empty */
	size_t cap;
};

static int seen_add(struct seen *s, const struct strlist *l, const char *name)
{
	size_t mask, i;

	if ((l->n + 1) * 2 > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;

		while ((l->n + 1) * 2 > cap)
			cap *= 2;
		free(s->slot);
		s->slot = calloc(cap, sizeof(*s->slot));
		if (!s->slot)
			abort();
		s->cap = cap;
		for (size_t k = 0; k < l->n; k++) {
			for (i = tenants_hash(l->v[k]) & (cap - 1); s->slot[i]; i = (i + 1) & (cap - 1))
				;
			s->slot[i] = k + 1;
		}
	}
	mask = s->cap - 1;
	for (i = tenants_hash(name) & mask; s->slot[i]; i = (i + 1) & mask)
		if (!strcmp(l->v[s->slot[i] - 1], name))
			return 0;
	s->slot[i] = l->n + 1;
	return 1;
}

int tenants_parse(const char *text, char sep, const char *from, struct strlist *out,
		  struct err *e)
{
	struct seen seen = { 0 };
	const char *p = text;
	int line = 1, rc = 0;

	/* the names already there count as seen */
	{
		struct strlist tmp = { 0 };

		for (size_t i = 0; i < out->n; i++) {
			seen_add(&seen, &tmp, out->v[i]);
			tmp.v = out->v;
			tmp.n = i + 1;
		}
	}
	while (*p) {
		const char *end = strchr(p, sep);
		const char *stop = end ? end : p + strlen(p);
		const char *a = p, *b;
		char *name;

		if (sep == '\n') {
			const char *hash = memchr(p, '#', (size_t)(stop - p));

			b = hash ? hash : stop;
		} else {
			b = stop;
		}
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			name = xasprintf("%.*s", (int)(b - a), a);
			if (!tenants_name_valid(name)) {
				if (sep == '\n')
					err_set(e, ERR_USAGE,
						"invalid tenant name '%s' in %s:%d (a schema name: a "
						"letter or _, then letters, digits, _ or $, at most 63 "
						"bytes)",
						name, from, line);
				else
					err_set(e, ERR_USAGE,
						"invalid tenant name '%s' in %s (a schema name: a letter "
						"or _, then letters, digits, _ or $, at most 63 bytes)",
						name, from);
				free(name);
				rc = -1;
				break;
			}
			if (seen_add(&seen, out, name))
				strlist_push_owned(out, name);
			else
				free(name);
		}
		line++;
		if (!end)
			break;
		p = end + 1;
	}
	free(seen.slot);
	return rc;
}

int tenants_check(const struct strlist *names, const char *from, struct err *e)
{
	for (size_t i = 0; i < names->n; i++)
		if (!tenants_name_valid(names->v[i]))
			return err_set(e, ERR_USAGE,
				       "invalid tenant name '%s' in row %zu of %s (a schema name: "
				       "a letter or _, then letters, digits, _ or $, at most 63 "
				       "bytes)",
				       names->v[i], i + 1, from);
	return 0;
}

static int parse_uint(const char *a, const char *b, long *out)
{
	long v = 0;

	if (a == b || b - a > 6)
		return -1;
	for (; a < b; a++) {
		if (!isdigit((unsigned char)*a))
			return -1;
		v = v * 10 + (*a - '0');
	}
	*out = v;
	return 0;
}

int tenants_parse_shard(const char *s, int *index, int *count)
{
	const char *slash = strchr(s, '/');
	long i, n;

	if (!slash || parse_uint(s, slash, &i) < 0 ||
	    parse_uint(slash + 1, slash + strlen(slash), &n) < 0 || n < 1 || n > 100000 || i >= n)
		return -1;
	*index = (int)i;
	*count = (int)n;
	return 0;
}

void tenants_shard(struct strlist *names, int index, int count)
{
	size_t k = 0;

	if (count <= 1)
		return;
	for (size_t i = 0; i < names->n; i++) {
		if (tenants_hash(names->v[i]) % (uint32_t)count == (uint32_t)index)
			names->v[k++] = names->v[i];
		else
			free(names->v[i]);
	}
	names->n = k;
}

char *tenants_search_path(const char *tmpl, const char *tenant)
{
	struct sbuf b = { 0 };
	const char *p = tmpl, *q;

	while ((q = strstr(p, "{tenant}"))) {
		sbuf_addf(&b, "%.*s\"%s\"", (int)(q - p), p, tenant);
		p = q + 8;
	}
	sbuf_adds(&b, p);
	return sbuf_detach(&b);
}
