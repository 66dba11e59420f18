/* alembic_ini.c - a copy of the user's alembic.ini that names the database
 * prestart locked (see alembic_ini.h).
 *
 * Divisions: the rewrite (pure, as ConfigParser reads a file), then the
 * copy's file (memfd, else a temporary file). */
#define _GNU_SOURCE /* memfd_create */
#include "prestart/alembic_ini.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- the rewrite ---- */

static void add_escaped(struct sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '%')
			sbuf_addc(b, '%');
		sbuf_addc(b, *s);
	}
}

static void add_url_line(struct sbuf *b, const char *url)
{
	sbuf_adds(b, "sqlalchemy.url = ");
	add_escaped(b, url);
	sbuf_addc(b, '\n');
}

/* [name] on a line (ConfigParser strips the line first): the name, or
 * NULL. */
static int section_of(const char *line, size_t n, const char **name, size_t *len)
{
	while (n && isspace((unsigned char)*line))
		line++, n--;
	while (n && isspace((unsigned char)line[n - 1]))
		n--;
	if (n < 2 || line[0] != '[' || line[n - 1] != ']')
		return 0;
	*name = line + 1;
	*len = n - 2;
	return 1;
}

/* Is this unindented line the key `key` ("key = v" or "key: v")? */
static int is_key(const char *line, size_t n, const char *key)
{
	size_t k = 0;

	if (!n || isspace((unsigned char)line[0]) || line[0] == '#' || line[0] == ';')
		return 0;
	while (k < n && line[k] != '=' && line[k] != ':')
		k++;
	if (k == n)
		return 0;
	while (k && isspace((unsigned char)line[k - 1]))
		k--;
	return k == strlen(key) && !strncasecmp(line, key, k);
}

static int blank(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isspace((unsigned char)line[i]))
			return 0;
	return 1;
}

char *alembic_ini_with_url(const char *ini, const char *section, const char *url,
			   const char *here)
{
	struct sbuf b = { 0 };
	const char *p = ini;
	int in_sec = 0, seen_sec = 0, done = 0, skipping = 0;

	sbuf_adds(&b, "[DEFAULT]\nhere = ");
	add_escaped(&b, here);
	sbuf_addc(&b, '\n');
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		size_t n0 = n;
		const char *name;
		size_t len;

		if (n && p[n - 1] == '\r')
			n--;
		/* the old value's continuation lines: indented, or blank
		 * between them (ConfigParser keeps reading them) */
		if (skipping) {
			if (n && isspace((unsigned char)p[0]) && !blank(p, n))
				goto next;
			skipping = 0;
		}
		if (section_of(p, n, &name, &len)) {
			if (in_sec && !done) {
				add_url_line(&b, url);
				done = 1;
			}
			in_sec = len == strlen(section) && !strncmp(name, section, len);
			if (in_sec)
				seen_sec = 1;
			sbuf_add(&b, p, n0);
			sbuf_addc(&b, '\n');
			if (in_sec && !done) {
				/* first in the section: a later duplicate key would be
				 * ConfigParser's error anyway */
				add_url_line(&b, url);
				done = 1;
			}
			goto next;
		}
		if (in_sec && is_key(p, n, "sqlalchemy.url")) {
			skipping = 1;
			goto next;
		}
		sbuf_add(&b, p, n0);
		sbuf_addc(&b, '\n');
next:
		p += n0 + (eol ? 1 : 0);
	}
	if (!seen_sec) {
		sbuf_addf(&b, "\n[%s]\n", section);
		add_url_line(&b, url);
	}
	return sbuf_detach(&b);
}

char *alembic_ini_url(const char *ini, const char *section)
{
	struct sbuf b = { 0 };
	const char *p = ini;
	int in_sec = 0, found = 0, reading = 0;

	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		size_t n0 = n;
		const char *name;
		size_t len;

		if (n && p[n - 1] == '\r')
			n--;
		if (reading) {
			if (n && isspace((unsigned char)p[0]) && !blank(p, n)) {
				size_t a = 0;

				while (isspace((unsigned char)p[a]))
					a++;
				while (n > a && isspace((unsigned char)p[n - 1]))
					n--;
				sbuf_addc(&b, '\n');
				sbuf_add(&b, p + a, n - a);
				goto next;
			}
			reading = 0;
		}
		if (section_of(p, n, &name, &len)) {
			in_sec = len == strlen(section) && !strncmp(name, section, len);
		} else if (in_sec && !found && is_key(p, n, "sqlalchemy.url")) {
			size_t k = strcspn(p, "=:");

			k++;
			while (k < n && isspace((unsigned char)p[k]))
				k++;
			while (n > k && isspace((unsigned char)p[n - 1]))
				n--;
			sbuf_add(&b, p + k, n - k);
			found = reading = 1;
		}
next:
		p += n0 + (eol ? 1 : 0);
	}
	if (!found) {
		sbuf_free(&b);
		return NULL;
	}
	if (!strstr(b.buf ? b.buf : "", "%(")) {
		/* "%%" is one "%" */
		char *s = b.buf, *w = b.buf;

		for (; s && *s; s++) {
			*w++ = *s;
			if (s[0] == '%' && s[1] == '%')
				s++;
		}
		if (w)
			*w = '\0';
	}
	return b.buf ? sbuf_detach(&b) : xstrdup("");
}

char *alembic_url(const char *url)
{
	if (!strncmp(url, "postgres://", 11))
		return xasprintf("postgresql://%s", url + 11);
	return xstrdup(url);
}

/* ---- the copy's file ---- */

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* An anonymous memory file the child opens as /proc/<our pid>/fd/<n>:
 * it reads the ini twice (Alembic's Config, then env.py's fileConfig),
 * and opening that path gives it a file of its own at offset 0.  The
 * descriptor stays close-on-exec: the child opens it by name. */
static int try_memfd(const char *text, struct alembic_ini *a)
{
	char path[64];
	int fd = memfd_create("alembic.ini", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)getpid(), fd);
	if (write_all(fd, text, strlen(text)) < 0 || access(path, R_OK) < 0) {
		close(fd);
		return -1;
	}
	a->fd = fd;
	a->path = xstrdup(path);
	return 0;
}

static int try_tmpfile(const char *text, struct alembic_ini *a, struct err *e)
{
	const char *dir = getenv("TMPDIR");
	char *path = xasprintf("%s/prestart-alembic-XXXXXX.ini", dir && *dir ? dir : "/tmp");
	int fd = mkostemps(path, 4, O_CLOEXEC);

	if (fd < 0) {
		err_set(e, ERR_FAILED, "cannot write a copy of the Alembic ini with the database "
			"URL (no memory file, and '%s': %s)", path, strerror(errno));
		free(path);
		return -1;
	}
	if (write_all(fd, text, strlen(text)) < 0 || close(fd) < 0) {
		err_set(e, ERR_FAILED, "cannot write '%s': %s", path, strerror(errno));
		unlink(path);
		free(path);
		return -1;
	}
	a->path = xstrdup(path);
	a->tmpfile = path;
	return 0;
}

int alembic_ini_open(const char *path, const char *url, struct alembic_ini *a, struct err *e)
{
	const char *ini = path ? path : "alembic.ini";
	char *text = NULL, *copy, *dir, *here, *u;
	size_t len = 0;
	int rc;

	memset(a, 0, sizeof(*a));
	a->fd = -1;
	if (access(ini, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (read_file(ini, 16 << 20, &text, &len, e) < 0)
		return -1;
	u = alembic_url(url);
	{
		char *had = alembic_ini_url(text, "alembic");
		int same = !had || !strcmp(had, u);

		free(had);
		if (same) {
			free(u);
			free(text);
			return 0;
		}
	}
	/* Alembic's here: os.path.abspath(os.path.dirname(file)), links
	 * not resolved */
	dir = path_dirname(ini);
	if (dir[0] == '/') {
		here = xstrdup(dir);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			strcpy(cwd, ".");
		here = strcmp(dir, ".") ? xasprintf("%s/%s", cwd, dir) : xstrdup(cwd);
	}
	copy = alembic_ini_with_url(text, "alembic", u, here);
	rc = try_memfd(copy, a) == 0 ? 0 : try_tmpfile(copy, a, e);
	free(u);
	free(here);
	free(dir);
	free(copy);
	free(text);
	return rc;
}

void alembic_ini_release(struct alembic_ini *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmpfile)
		unlink(a->tmpfile);
	free(a->tmpfile);
	free(a->path);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
}
