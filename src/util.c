#include "prestart/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int err_vset(struct err *e, int kind, const char *fmt, va_list ap)
{
	if (!e)
		return -1;
	e->kind = kind;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -1;
}

int err_set(struct err *e, int kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, kind, fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	size_t n;
	va_list ap;

	if (!e)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	if (n + 2 < sizeof(e->msg)) {
		memcpy(e->msg + n, ": ", 3);
		n += 2;
		strncat(e->msg + n, old, sizeof(e->msg) - n - 1);
	}
	return -1;
}

static void oom(void)
{
	static const char msg[] = "prestart: out of memory\n";
	ssize_t r = write(2, msg, sizeof(msg) - 1);
	(void)r;
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void xgrow(void **p, size_t *alloc, size_t need, size_t size)
{
	size_t n;

	if (need <= *alloc)
		return;
	n = *alloc ? *alloc : 8;
	while (n < need)
		n *= 2;
	*p = xrealloc(*p, n * size);
	*alloc = n;
}

void strlist_push_owned(struct strlist *l, char *s)
{
	xgrow((void **)&l->v, &l->alloc, l->n + 2, sizeof(*l->v));
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

void strlist_push(struct strlist *l, const char *s)
{
	strlist_push_owned(l, xstrdup(s));
}

int strlist_contains(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

static size_t strmap_slot(const char **keys, size_t cap, const char *k)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	size_t i;

	for (const unsigned char *p = (const unsigned char *)k; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	for (i = (size_t)h & (cap - 1); keys[i] && strcmp(keys[i], k); i = (i + 1) & (cap - 1))
		;
	return i;
}

int strmap_get(const struct strmap *m, const char *k)
{
	size_t i;

	if (!m->cap)
		return -1;
	i = strmap_slot(m->keys, m->cap, k);
	return m->keys[i] ? m->vals[i] : -1;
}

void strmap_put(struct strmap *m, const char *k, int v)
{
	size_t i;

	if (2 * (m->n + 1) > m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 16;
		const char **keys = xcalloc(cap, sizeof(*keys));
		int *vals = xcalloc(cap, sizeof(*vals));

		for (size_t j = 0; j < m->cap; j++) {
			if (!m->keys[j])
				continue;
			i = strmap_slot(keys, cap, m->keys[j]);
			keys[i] = m->keys[j];
			vals[i] = m->vals[j];
		}
		free(m->keys);
		free(m->vals);
		m->keys = keys;
		m->vals = vals;
		m->cap = cap;
	}
	i = strmap_slot(m->keys, m->cap, k);
	if (!m->keys[i]) {
		m->keys[i] = k;
		m->n++;
	}
	m->vals[i] = v;
}

void strmap_free(struct strmap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

int strlist_same_set(const struct strlist *a, const struct strlist *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (!strlist_contains(b, a->v[i]))
			return 0;
	return 1;
}

void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->alloc = 0;
}

void strlist_split(struct strlist *l, const char *s, const char *seps)
{
	while (*s) {
		size_t n = strcspn(s, seps);
		const char *a = s, *b = s + n;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a)
			strlist_push_owned(l, xstrndup(a, (size_t)(b - a)));
		s += n;
		if (*s)
			s++;
	}
}

char *strlist_join(const struct strlist *l, const char *sep)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sbuf_adds(&b, sep);
		sbuf_adds(&b, l->v[i]);
	}
	sbuf_add(&b, "", 0);
	return sbuf_detach(&b);
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	xgrow((void **)&b->buf, &b->alloc, b->len + n + 1, 1);
	memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_addc(struct sbuf *b, char c)
{
	sbuf_add(b, &c, 1);
}

void sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	xgrow((void **)&b->buf, &b->alloc, b->len + (size_t)n + 1, 1);
	va_start(ap, fmt);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

size_t utf8_seq_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2 || p[0] > 0xf4)
		return 0;
	n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : 2;
	/* no overlong forms, surrogates or code points beyond U+10FFFF */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void utf8_trim_partial(char *s)
{
	size_t n = strlen(s), i = n;

	while (i > 0 && n - i < 3 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i > 0 && (unsigned char)s[i - 1] >= 0xc0) {
		unsigned char c = (unsigned char)s[i - 1];
		size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

		if (n - (i - 1) < need)
			s[i - 1] = '\0';
	}
}

void sbuf_add_sql_ident(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			sbuf_addc(b, '"');
		sbuf_addc(b, *s);
	}
	sbuf_addc(b, '"');
}

void sbuf_add_sql_std_str(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			sbuf_addc(b, *s);
		sbuf_addc(b, *s);
	}
	sbuf_addc(b, '\'');
}

void sbuf_add_sql_estrn(struct sbuf *b, const char *s, size_t n)
{
	sbuf_adds(b, "E'");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\'' || s[i] == '\\')
			sbuf_addc(b, s[i]);
		sbuf_addc(b, s[i]);
	}
	sbuf_addc(b, '\'');
}

void sbuf_add_sql_estr(struct sbuf *b, const char *s)
{
	sbuf_add_sql_estrn(b, s ? s : "", s ? strlen(s) : 0);
}

void sbuf_add_sql_str(struct sbuf *b, const char *s)
{
	if (strchr(s, '\\'))
		sbuf_add_sql_estr(b, s);
	else
		sbuf_add_sql_std_str(b, s);
}

void sbuf_add_json_str(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '"');
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
		switch (*p) {
		case '"': sbuf_adds(b, "\\\""); break;
		case '\\': sbuf_adds(b, "\\\\"); break;
		case '\n': sbuf_adds(b, "\\n"); break;
		case '\r': sbuf_adds(b, "\\r"); break;
		case '\t': sbuf_adds(b, "\\t"); break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				sbuf_addf(b, "\\u%04x", *p);
			} else if (*p < 0x80) {
				sbuf_addc(b, (char)*p);
			} else {
				size_t n = utf8_seq_len((const char *)p);

				if (n) {
					sbuf_add(b, (const char *)p, n);
					p += n - 1;
				} else {
					sbuf_adds(b, "\\ufffd");
				}
			}
		}
	}
	sbuf_addc(b, '"');
}

void sbuf_reset(struct sbuf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

char *sbuf_detach(struct sbuf *b)
{
	char *p = b->buf ? b->buf : xstrdup("");

	b->buf = NULL;
	b->len = b->alloc = 0;
	return p;
}

void sbuf_free(struct sbuf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->alloc = 0;
}

int write_new_file(const char *path, const char *text, struct err *e)
{
	size_t len = strlen(text), done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return err_set(e, ERR_USAGE, "cannot write '%s': %s", path, strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		done += (size_t)n;
	}
	if (close(fd) < 0 || done < len) {
		err_set(e, ERR_FAILED, "cannot write '%s': %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

const char *file_kind_refused(mode_t m, int chr_ok)
{
	if (S_ISREG(m) || (chr_ok && S_ISCHR(m)))
		return NULL;
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISBLK(m))
		return "a block device";
	return chr_ok ? "not a regular file" : "a character device";
}

int open_plain(const char *path, int flags, mode_t mode, int chr_ok, const char **kind)
{
	struct stat st;
	int fd, fl;

	*kind = NULL;
	/* Name the kind first: a FIFO opened for writing without a reader
	 * fails with ENXIO, which says nothing to the operator. */
	if (stat(path, &st) == 0 && (*kind = file_kind_refused(st.st_mode, chr_ok))) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || (*kind = file_kind_refused(st.st_mode, chr_ok)) ||
	    (fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int saved = *kind ? EINVAL : errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int read_file(const char *path, size_t max, char **out, size_t *len, struct err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap;
	const char *kind;
	int fd = open_plain(path, O_RDONLY, 0, 0, &kind);

	if (fd < 0 && kind)
		return err_set(e, ERR_USAGE, "'%s' is %s, not a regular file", path, kind);
	if (fd < 0)
		return err_set(e, ERR_SCRIPT, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		err_set(e, ERR_SCRIPT, "cannot stat '%s': %s", path, strerror(errno));
		goto error;
	}
	if (st.st_size > 0 && (size_t)st.st_size > max) {
		err_set(e, ERR_SCRIPT, "'%s' is too large (%lld bytes, limit %zu)", path,
			(long long)st.st_size, max);
		goto error;
	}
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	buf = xmalloc(cap);
	for (;;) {
		ssize_t r;

		if (n + 1 >= cap) {
			if (cap > max + 1) {
				err_set(e, ERR_SCRIPT, "'%s' is too large (limit %zu bytes)", path, max);
				goto error;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, ERR_SCRIPT, "cannot read '%s': %s", path, strerror(errno));
			goto error;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		err_set(e, ERR_SCRIPT, "'%s' is too large (limit %zu bytes)", path, max);
		goto error;
	}
	buf[n] = '\0';
	close(fd);
	*out = buf;
	if (len)
		*len = n;
	return 0;
error:
	free(buf);
	close(fd);
	return -1;
}

long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void nap_ms(long long ms, volatile sig_atomic_t *stop)
{
	long long until = now_ms() + ms;

	while (!(stop && *stop)) {
		long long left = until - now_ms();
		struct timespec ts;

		if (left <= 0)
			return;
		if (left > 50)
			left = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
}

char *str_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

int str_has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

int str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !memcmp(s + a - b, suffix, b);
}

int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int is_dotdot(const char *c)
{
	return c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0');
}

char *path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int path_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int path_is_absent(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 && errno == ENOENT;
}

int path_mkdir(const char *path, struct err *e)
{
	if (mkdir(path, 0777) < 0)
		return err_set(e, ERR_USAGE, "cannot create directory '%s': %s", path,
			       strerror(errno));
	return 0;
}

char *shell_word(const char *s)
{
	struct sbuf b = { 0 };

	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			    "0123456789_./-+=:,@") == strlen(s))
		return xstrdup(s);
	sbuf_addc(&b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			sbuf_adds(&b, "'\\''");
		else
			sbuf_addc(&b, *p);
	}
	sbuf_addc(&b, '\'');
	return sbuf_detach(&b);
}

char *path_abspath(const char *path)
{
	struct sbuf b = { 0 };
	char *joined = NULL, *cwd = NULL;
	const char **comp;
	size_t ncomp = 0, lead;
	const char *p;

	if (path[0] != '/' && (cwd = getcwd(NULL, 0)))
		path = joined = xasprintf("%s%s%s", cwd, str_has_suffix(cwd, "/") ? "" : "/", path);
	free(cwd);
	/* posixpath.normpath, component by component */
	lead = path[0] != '/' ? 0 : path[1] == '/' && path[2] != '/' ? 2 : 1;
	comp = xcalloc(strlen(path) / 2 + 2, sizeof(*comp));
	for (p = path; *p;) {
		size_t n = strcspn(p, "/");

		if (!n || (n == 1 && p[0] == '.')) {
			/* empty or ".": nothing */
		} else if (!is_dotdot(p) || (!lead && !ncomp) ||
			   (ncomp && is_dotdot(comp[ncomp - 1]))) {
			comp[ncomp++] = p;
		} else if (ncomp) {
			ncomp--;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	sbuf_add(&b, "//", lead);
	for (size_t i = 0; i < ncomp; i++) {
		if (i)
			sbuf_addc(&b, '/');
		sbuf_add(&b, comp[i], strcspn(comp[i], "/"));
	}
	if (!b.len)
		sbuf_addc(&b, '.');
	free(comp);
	free(joined);
	return sbuf_detach(&b);
}
