/* inifile.c - an INI file read as ConfigParser reads it (inifile.h).
 *
 * Map: feeding inih line by line (long lines shortened for its buffer),
 * the entries, loading, then lookup and interpolation. */
#include "prestart/inifile.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

static void fail(struct inifile *f, int line, const char *msg)
{
	if (f->err_line && f->err_line <= line)
		return;
	f->err_line = line;
	snprintf(f->err_msg, sizeof(f->err_msg), "%s", msg);
}

/* A line longer than inih's buffer, cut to `cap` bytes (newline included)
 * in a way that keeps what inih reads from it: whether it is indented (a
 * continuation), a comment, a [section] or a key and its '=' or ':'.  The
 * value itself is taken from the raw line, as every value is (raw_value).
 * Only a section name or a key too long to fit is refused. */
static void shorten_line(struct inifile *f, const char *line, size_t len, char *str, size_t cap)
{
	const char *p = line, *end = line + len;
	size_t w = 0, n;

	if (p < end && (*p == ' ' || *p == '\t')) {
		/* inih only asks whether a line is indented, not how much. */
		str[w++] = ' ';
		while (p < end && isspace((unsigned char)*p) && *p != '\n')
			p++;
	}
	n = (size_t)(end - p);
	if (n + w + 1 > cap)
		n = cap > w + 1 ? cap - w - 1 : 0;
	memcpy(str + w, p, n);
	w += n;
	str[w++] = '\n';
	str[w] = '\0';
	if (*p == ';' || *p == '#' || str[0] == ' ')
		return;
	if (*p == '[' ? !memchr(p, ']', n) : !memchr(p, '=', n) && !memchr(p, ':', n)) {
		char msg[96];

		snprintf(msg, sizeof(msg), "line too long: a %s must fit in %zu characters",
			 *p == '[' ? "section name" : "key and its '='", cap > 2 ? cap - 2 : 0);
		fail(f, f->lineno, msg);
	}
}

/* Feeding inih one line at a time tells the handler which line it is on
 * (the packaged inih is built without INI_HANDLER_LINENO) and whether the
 * line was indented, i.e. a continuation.  Debian's inih also has a fixed
 * line buffer (INI_MAX_LINE 200, no INI_ALLOW_REALLOC), and real
 * version_locations lines are longer: those are shortened for it. */
static char *read_line(char *str, int num, void *stream)
{
	struct inifile *f = stream;
	const char *nl;
	size_t len, cap = num > 2 ? (size_t)num - 1 : 1;

	if (!*f->pos)
		return NULL;
	nl = strchr(f->pos, '\n');
	len = nl ? (size_t)(nl - f->pos) + 1 : strlen(f->pos);
	f->line = f->pos;
	f->lineno++;
	if (len > cap) {
		shorten_line(f, f->pos, nl ? len - 1 : len, str, cap);
	} else {
		memcpy(str, f->pos, len);
		str[len] = '\0';
	}
	f->pos += len;
	return str;
}

static char *lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static struct inifile_entry *lookup(const struct inifile *f, const char *section,
				    const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].section, section) && !strcmp(f->v[i].key, key))
			return &f->v[i];
	return NULL;
}

/* The value as ConfigParser sees it, taken from the raw line: inih would
 * cut it at an inline " ;" comment, which Python 3 does not have (and
 * "version_path_separator = ;" needs). */
static char *raw_value(const struct inifile *f, int continuation)
{
	size_t n = strcspn(f->line, "\n");
	char *line = xstrndup(f->line, n), *v, *res;

	v = line;
	if (!continuation) {
		v += strcspn(v, "=:");
		if (*v)
			v++;
	}
	res = xstrdup(str_trim(v));
	free(line);
	return res;
}

static int on_value(void *user, const char *section, const char *name, const char *value)
{
	struct inifile *f = user;
	char *key = lower_dup(name);
	struct inifile_entry *last = f->n ? &f->v[f->n - 1] : NULL, *dup;

	(void)value;
	/* inih hands each continuation line over as another value for the
	 * same key; ConfigParser joins them with newlines. */
	if ((f->line[0] == ' ' || f->line[0] == '\t') && last &&
	    !strcmp(last->section, section) && !strcmp(last->key, key)) {
		char *cont = raw_value(f, 1);
		char *v = xasprintf("%s\n%s", last->value, cont);

		free(cont);

		free(last->value);
		last->value = v;
		free(key);
		return 1;
	}
	dup = lookup(f, section, key);
	if (dup) {
		char msg[256];

		snprintf(msg, sizeof(msg), "duplicate key '%.64s' in [%.64s] (first on line %d)",
			 key, section, dup->line);
		fail(f, f->lineno, msg);
	}
	xgrow((void **)&f->v, &f->alloc, f->n + 1, sizeof(*f->v));
	f->v[f->n].section = xstrdup(section);
	f->v[f->n].key = key;
	f->v[f->n].value = raw_value(f, 0);
	f->v[f->n].line = f->lineno;
	f->n++;
	return 1;
}

void inifile_release(struct inifile *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].section);
		free(f->v[i].key);
		free(f->v[i].value);
	}
	free(f->v);
	free(f->path);
	free(f->here);
	memset(f, 0, sizeof(*f));
}

int inifile_load(struct inifile *f, const char *path, struct err *e)
{
	char *buf, *nul;
	size_t len;
	int r;

	memset(f, 0, sizeof(*f));
	if (read_file(path, INIFILE_MAX, &buf, &len, e) < 0) {
		e->kind = ERR_USAGE;
		return -1;
	}
	/* The reader stops at a NUL: every line after it would be dropped
	 * without a word. */
	if ((nul = memchr(buf, '\0', len))) {
		int line = 1;

		for (const char *p = buf; p < nul; p++)
			line += *p == '\n';
		free(buf);
		return err_set(e, ERR_USAGE, "%s:%d: NUL byte (not a text file?)", path, line);
	}
	f->path = xstrdup(path);
	{
		char *d = path_dirname(path);

		f->here = path_abspath(d);
		free(d);
	}
	f->pos = buf;
	r = ini_parse_stream(read_line, f, on_value, f);
	free(buf);
	f->pos = f->line = NULL;
	if (r > 0 && (!f->err_line || r < f->err_line))
		err_set(e, ERR_USAGE, "%s:%d: syntax error", path, r);
	else if (f->err_line)
		err_set(e, ERR_USAGE, "%s:%d: %s", path, f->err_line, f->err_msg);
	else if (r < 0)
		err_set(e, ERR_USAGE, "cannot parse '%s'", path);
	else
		return 0;
	inifile_release(f);
	return -1;
}

int inifile_has_section(const struct inifile *f, const char *section)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->v[i].section, section))
			return 1;
	return 0;
}

const struct inifile_entry *inifile_find(const struct inifile *f, const char *section,
					 const char *key)
{
	const struct inifile_entry *en = lookup(f, section, key);

	return en ? en : lookup(f, "DEFAULT", key);
}

/* ConfigParser's BasicInterpolation: %(name)s and %%. */
static int interpolate(const struct inifile *f, const char *section,
		       const struct inifile_entry *top, const char *text, int depth,
		       struct sbuf *out, struct err *e)
{
	if (depth > INIFILE_INTERP_DEPTH_MAX)
		return err_set(e, ERR_USAGE, "%s:%d: interpolation of '%s' is too deep "
			       "(a reference loop?)", f->path, top->line, top->key);
	for (const char *p = text; *p; p++) {
		const char *close;
		const struct inifile_entry *ref;
		char *name;
		int r;

		if (*p != '%') {
			sbuf_addc(out, *p);
			continue;
		}
		if (p[1] == '%') {
			sbuf_addc(out, '%');
			p++;
			continue;
		}
		if (p[1] != '(')
			return err_set(e, ERR_USAGE, "%s:%d: bad interpolation in '%s': '%%' must "
				       "be followed by '%%' or '(' (write a literal '%%' as '%%%%')",
				       f->path, top->line, top->key);
		close = strchr(p + 2, ')');
		if (!close || close[1] != 's')
			return err_set(e, ERR_USAGE, "%s:%d: bad interpolation in '%s': expected "
				       "'%%(name)s'", f->path, top->line, top->key);
		name = xstrndup(p + 2, (size_t)(close - p - 2));
		for (char *q = name; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		ref = inifile_find(f, section, name);
		if (ref) {
			r = interpolate(f, section, top, ref->value, depth + 1, out, e);
		} else if (!strcmp(name, "here")) {
			sbuf_adds(out, f->here);
			r = 0;
		} else {
			r = err_set(e, ERR_USAGE, "%s:%d: bad interpolation in '%s': no key '%s' "
				    "in [%s] or [DEFAULT]", f->path, top->line, top->key, name,
				    section);
		}
		free(name);
		if (r < 0)
			return -1;
		p = close + 1;
	}
	return 0;
}

int inifile_interpolate(const struct inifile *f, const char *section,
			const struct inifile_entry *en, struct sbuf *out, struct err *e)
{
	return interpolate(f, section, en, en->value, 0, out, e);
}
