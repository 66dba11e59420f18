/* script.c - SQL revision files (SPEC §3.1): the header, the sections and
 * their line numbers.  Pure: the text comes in, a struct revision goes out. */
#include "prestart/script.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* One line of the file: [s, s+len) without the newline (and without a
 * trailing '\r'). */
struct line {
	const char *s;
	size_t len;
	int no;
};

static int next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
	const char *start, *nl;

	if (*pos >= len)
		return 0;
	start = text + *pos;
	nl = memchr(start, '\n', len - *pos);
	l->s = start;
	l->len = nl ? (size_t)(nl - start) : len - *pos;
	*pos += l->len + (nl ? 1 : 0);
	if (l->len && l->s[l->len - 1] == '\r')
		l->len--;
	l->no++;
	return 1;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

static void trim(const char **s, size_t *n)
{
	while (*n && is_blank(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_blank((*s)[*n - 1]))
		(*n)--;
}

/* A section marker: "--", blanks, "+upgrade" or "+downgrade". Returns 1 for
 * upgrade, 2 for downgrade, 0 otherwise. */
static int marker(const struct line *l)
{
	const char *s = l->s;
	size_t n = l->len;

	trim(&s, &n);
	if (n < 2 || s[0] != '-' || s[1] != '-')
		return 0;
	s += 2;
	n -= 2;
	trim(&s, &n);
	if (n == 8 && !strncasecmp(s, "+upgrade", 8))
		return 1;
	if (n == 10 && !strncasecmp(s, "+downgrade", 10))
		return 2;
	return 0;
}

enum hkey {
	H_ID, H_REVISES, H_DATE, H_MESSAGE, H_LABELS, H_DEPENDS, H_TRANSACTIONAL, H_COMPAT,
	H_PHASE, H_NKEYS
};

static const char *const hkey_names[H_NKEYS] = {
	"Revision ID", "Revises", "Create Date", "Message", "Branch Labels", "Depends On",
	"Transactional", "Compat", "Phase",
};

/* Compare a header key case-insensitively, any run of blanks matching one
 * space. */
static int key_is(const char *k, size_t n, const char *name)
{
	size_t i = 0;

	while (*name) {
		if (i >= n)
			return 0;
		if (*name == ' ') {
			if (!is_blank(k[i]))
				return 0;
			while (i < n && is_blank(k[i]))
				i++;
			name++;
			continue;
		}
		if ((k[i] | 0x20) != (*name | 0x20))
			return 0;
		i++;
		name++;
	}
	return i == n;
}

/* Parse "-- Key: value"; on a match set key/value and return 1. */
static int header_line(const struct line *l, const char **key, size_t *klen, const char **val,
		       size_t *vlen)
{
	const char *s = l->s, *colon;
	size_t n = l->len, i;

	if (n < 2 || s[0] != '-' || s[1] != '-')
		return 0;
	s += 2;
	n -= 2;
	trim(&s, &n);
	if (!n || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return 0;
	colon = memchr(s, ':', n);
	if (!colon)
		return 0;
	for (i = 0; s + i < colon; i++) {
		char c = s[i];

		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !is_blank(c) && c != '-' && c != '_')
			return 0;
	}
	*key = s;
	*klen = (size_t)(colon - s);
	trim(key, klen);
	*val = colon + 1;
	*vlen = (size_t)(s + n - *val);
	trim(val, vlen);
	return 1;
}

/* "None" and "<base>" spell an empty Revises/Depends On, as Alembic prints
 * a base revision. */
static int is_empty_value(const char *v)
{
	return !*v || !strcasecmp(v, "none") || !strcmp(v, "<base>");
}

static int parse_list(const char *path, int lineno, const char *key, const char *v,
		      struct strlist *out, int labels, struct err *e)
{
	size_t i;

	if (is_empty_value(v))
		return 0;
	strlist_split(out, v, ",");
	for (i = 0; i < out->n; i++) {
		const char *item = out->v[i];

		if (labels ? !revision_valid_label(item) : !revision_valid_id(item))
			return err_set(e, ERR_SCRIPT, "%s:%d: invalid %s '%s' in '%s'%s", path,
				       lineno, labels ? "name" : "revision id", item, key,
				       labels ? "" : " (1-32 characters of A-Z a-z 0-9 _ . -)");
	}
	return 0;
}

static int parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "true", "yes", "1", "on" };
	static const char *const no[] = { "false", "no", "0", "off" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return *out = 1, 0;
		if (!strcasecmp(v, no[i]))
			return *out = 0, 0;
	}
	return -1;
}

static int set_header(const char *path, int lineno, enum hkey k, const char *v,
		      struct revision *rev, struct err *e)
{
	switch (k) {
	case H_ID:
		if (!*v)
			return err_set(e, ERR_SCRIPT, "%s:%d: empty 'Revision ID'", path, lineno);
		if (!revision_valid_id(v))
			return err_set(e, ERR_SCRIPT,
				       "%s:%d: invalid revision id '%s' "
				       "(1-32 characters of A-Z a-z 0-9 _ . -)",
				       path, lineno, v);
		rev->id = xstrdup(v);
		return 0;
	case H_REVISES:
		return parse_list(path, lineno, "Revises", v, &rev->down, 0, e);
	case H_DEPENDS:
		return parse_list(path, lineno, "Depends On", v, &rev->depends, 1, e);
	case H_LABELS:
		return parse_list(path, lineno, "Branch Labels", v, &rev->labels, 1, e);
	case H_DATE:
		if (*v)
			rev->create_date = xstrdup(v);
		return 0;
	case H_MESSAGE:
		free(rev->message);
		rev->message = xstrdup(v);
		return 0;
	case H_TRANSACTIONAL:
		if (parse_bool(v, &rev->transactional) < 0)
			return err_set(e, ERR_SCRIPT,
				       "%s:%d: invalid 'Transactional' value '%s' (want true or false)",
				       path, lineno, v);
		return 0;
	case H_COMPAT:
		/* SPEC §7.3: older application versions cannot run on it. */
		if (!strcasecmp(v, "breaking")) {
			rev->compat_breaking = 1;
			rev->compat_line = lineno;
		} else if (*v && strcasecmp(v, "compatible"))
			return err_set(e, ERR_SCRIPT,
				       "%s:%d: invalid 'Compat' value '%s' (want breaking or compatible)",
				       path, lineno, v);
		return 0;
	case H_PHASE:
		/* SPEC §9.4: contract waits for --phase contract; expand
		 * overrides what the analysis says. */
		if (!strcasecmp(v, "expand"))
			rev->phase = REV_PHASE_EXPAND;
		else if (!strcasecmp(v, "contract"))
			rev->phase = REV_PHASE_CONTRACT;
		else
			return err_set(e, ERR_SCRIPT,
				       "%s:%d: invalid 'Phase' value '%s' (want expand or contract)",
				       path, lineno, v);
		rev->phase_line = lineno;
		return 0;
	case H_NKEYS:
		break;
	}
	return 0;
}

static int check_binary(const char *path, const char *text, size_t len, struct err *e)
{
	const char *nul = memchr(text, '\0', len);
	int line;
	int col;

	if (!nul)
		return 0;
	revision_offset_to_linecol(text, (size_t)(nul - text), 1, &line, &col);
	return err_set(e, ERR_SCRIPT, "%s:%d: NUL byte in a revision file (binary file?)", path,
		       line);
}

int script_parse_sql(const char *path, const char *text, size_t len, struct revision *rev,
		     struct err *e)
{
	struct line l = { 0 };
	size_t pos = 0, sec_start[3] = { 0 };
	int seen[H_NKEYS] = { 0 }, sec_marker[3] = { 0 }, cur = 0, in_header = 1;

	memset(rev, 0, sizeof(*rev));
	rev->transactional = 1;
	rev->path = xstrdup(path);
	if (check_binary(path, text, len, e) < 0)
		goto error;
	/* A UTF-8 byte order mark is not part of the first line. */
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (next_line(text, len, &pos, &l)) {
		const char *key, *val;
		size_t klen, vlen;
		int m = marker(&l);

		if (in_header && !m && header_line(&l, &key, &klen, &val, &vlen)) {
			char *v;
			int k, r;

			for (k = 0; k < H_NKEYS; k++)
				if (key_is(key, klen, hkey_names[k]))
					break;
			if (k == H_NKEYS)
				continue; /* unknown keys are the author's notes */
			if (seen[k]) {
				err_set(e, ERR_SCRIPT, "%s:%d: duplicate '%s' (first on line %d)", path,
					l.no, hkey_names[k], seen[k]);
				goto error;
			}
			seen[k] = l.no;
			v = xstrndup(val, vlen);
			r = set_header(path, l.no, (enum hkey)k, v, rev, e);
			free(v);
			if (r < 0)
				goto error;
			continue;
		}
		in_header = 0;
		if (m) {
			if (sec_marker[m]) {
				err_set(e, ERR_SCRIPT, "%s:%d: duplicate '-- +%s' section (first on line %d)",
					path, l.no, m == 1 ? "upgrade" : "downgrade", sec_marker[m]);
				goto error;
			}
			sec_marker[m] = l.no;
			sec_start[m] = pos;
			if (cur)
				*(cur == 1 ? &rev->upgrade_sql : &rev->downgrade_sql) =
					xstrndup(text + sec_start[cur], (size_t)(l.s - text) - sec_start[cur]);
			cur = m;
			continue;
		}
		if (!cur) {
			const char *s = l.s;
			size_t n = l.len;

			trim(&s, &n);
			if (n && !(n >= 2 && s[0] == '-' && s[1] == '-')) {
				err_set(e, ERR_SCRIPT,
					"%s:%d: SQL outside a section (start it with '-- +upgrade')",
					path, l.no);
				goto error;
			}
		}
	}
	if (cur)
		*(cur == 1 ? &rev->upgrade_sql : &rev->downgrade_sql) =
			xstrndup(text + sec_start[cur], len - sec_start[cur]);
	if (!rev->id) {
		err_set(e, ERR_SCRIPT, "%s: no '-- Revision ID:' header", path);
		goto error;
	}
	if (!sec_marker[1]) {
		err_set(e, ERR_SCRIPT, "%s: no '-- +upgrade' section", path);
		goto error;
	}
	rev->upgrade_line = sec_marker[1] + 1;
	rev->downgrade_line = sec_marker[2] ? sec_marker[2] + 1 : 0;
	if (!rev->message)
		rev->message = xstrdup("");
	return 0;
error:
	revision_release(rev);
	return -1;
}
