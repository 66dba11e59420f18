/* script.c - SQL revision files and the directories that hold them. */
#include "prestart/script.h"
#include "prestart/pyrev.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SCRIPT_FILE_MAX (16u * 1024 * 1024)

int script_valid_id(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return n >= 1 && n <= REVISION_ID_MAX;
}

int script_valid_label(const char *s)
{
	return *s && !strchr(s, '@') && !strchr(s, ',');
}

void revision_release(struct revision *rev)
{
	free(rev->id);
	strlist_free(&rev->down);
	strlist_free(&rev->labels);
	strlist_free(&rev->depends);
	free(rev->message);
	free(rev->doc);
	free(rev->unread);
	free(rev->create_date);
	free(rev->path);
	free(rev->upgrade_sql);
	free(rev->downgrade_sql);
	memset(rev, 0, sizeof(*rev));
	rev->transactional = 1;
}

void script_offset_to_linecol(const char *text, size_t off, int first_line, int *line, int *col)
{
	const char *p = text, *end = text + off, *bol = text, *nl;

	*line = first_line;
	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		(*line)++;
		bol = p = nl + 1;
	}
	*col = (int)(end - bol) + 1;
}

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

enum hkey { H_ID, H_REVISES, H_DATE, H_MESSAGE, H_LABELS, H_DEPENDS, H_TRANSACTIONAL, H_NKEYS };

static const char *const hkey_names[H_NKEYS] = {
	"Revision ID", "Revises", "Create Date", "Message", "Branch Labels", "Depends On",
	"Transactional",
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

		if (labels ? !script_valid_label(item) : !script_valid_id(item))
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
		if (!script_valid_id(v))
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
	script_offset_to_linecol(text, (size_t)(nul - text), 1, &line, &col);
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

/* ---- directories ---- */

void revision_set_release(struct revision_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		revision_release(&set->v[i]);
	free(set->v);
	memset(set, 0, sizeof(*set));
}

struct entry {
	char *name;
	size_t dir; /* index into the directory list */
	int is_py;
};

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Is this directory entry a revision file, and of which kind (1 = .py)? */
static int wanted(const char *name, int *is_py)
{
	if (name[0] == '.' || !strcmp(name, "__pycache__"))
		return 0;
	if (str_has_suffix(name, ".sql") && strlen(name) > 4) {
		*is_py = 0;
		return 1;
	}
	if (pyrev_is_candidate(name)) {
		*is_py = 1;
		return 1;
	}
	return 0;
}

static int list_dir(const char *dir, size_t di, struct entry **ents, size_t *n, size_t *alloc,
		    struct err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		if (errno == ENOENT)
			return err_set(e, ERR_SCRIPT, "script directory '%s' does not exist", dir);
		if (errno == ENOTDIR)
			return err_set(e, ERR_SCRIPT, "script directory '%s' is not a directory", dir);
		return err_set(e, ERR_SCRIPT, "cannot open script directory '%s': %s", dir,
			       strerror(errno));
	}
	for (;;) {
		int is_py;

		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!wanted(de->d_name, &is_py))
			continue;
		xgrow((void **)ents, alloc, *n + 1, sizeof(**ents));
		(*ents)[*n].name = xstrdup(de->d_name);
		(*ents)[*n].dir = di;
		(*ents)[*n].is_py = is_py;
		(*n)++;
	}
	if (errno) {
		err_set(e, ERR_SCRIPT, "cannot read script directory '%s': %s", dir, strerror(errno));
		closedir(d);
		return -1;
	}
	closedir(d);
	return 0;
}

/* Read a whole file relative to the open directory dfd.  Loading many small
 * revision files is dominated by system calls, so there is no fstat(): a
 * read into a buffer with room to spare that comes back short has reached
 * the end of a regular file.  Returns 1 when the entry is not a regular
 * file (a directory named x.sql): it is skipped. */
static int slurp(int dfd, const char *name, const char *path, struct sbuf *b, struct err *e)
{
	/* O_NONBLOCK: a FIFO named x.sql would otherwise block open() until
	 * some writer appeared, and a start-up must never hang on one. */
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	sbuf_reset(b);
	if (fd < 0)
		return err_set(e, ERR_SCRIPT, "cannot open '%s': %s", path, strerror(errno));
	for (;;) {
		size_t room;
		ssize_t r;

		if (b->alloc - b->len < 4096)
			xgrow((void **)&b->buf, &b->alloc, b->alloc ? b->alloc * 2 : 65536, 1);
		room = b->alloc - b->len - 1;
		r = read(fd, b->buf + b->len, room);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EISDIR) {
			close(fd);
			return 1;
		}
		/* Nothing to read at once: an empty file, or a FIFO or device,
		 * which is not a revision file.  Rare, so the fstat() stays off
		 * the common path. */
		if ((r == 0 && b->len == 0) || (r < 0 && errno == EAGAIN)) {
			struct stat st;

			if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
				close(fd);
				return 1;
			}
		}
		if (r < 0) {
			err_set(e, ERR_SCRIPT, "cannot read '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		b->len += (size_t)r;
		if (b->len > SCRIPT_FILE_MAX) {
			struct stat st;
			long long size = fstat(fd, &st) == 0 ? (long long)st.st_size : (long long)b->len;

			close(fd);
			return err_set(e, ERR_SCRIPT, "'%s' is too large (%lld bytes, limit 16 MiB)",
				       path, size);
		}
		if ((size_t)r < room)
			break;
	}
	close(fd);
	b->buf[b->len] = '\0';
	return 0;
}

static char *join_path(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	int slash = dl && dir[dl - 1] != '/';
	char *p = xmalloc(dl + (size_t)slash + nl + 1);

	memcpy(p, dir, dl);
	if (slash)
		p[dl] = '/';
	memcpy(p + dl + (size_t)slash, name, nl + 1);
	return p;
}

/* One loader thread's share: files [lo, hi) of the sorted list, each into
 * its own slot.  A thread stops at its first error; since the ranges are in
 * file order, the first failing thread holds the first error. */
struct load_part {
	const struct strlist *dirs;
	const struct entry *ents;
	struct revision *slots;
	unsigned char *loaded;
	size_t lo, hi;
	int defer_py; /* script_load_dirs_deferred() */
	int failed;
	struct err e;
};

/* pyrev_read(), keeping a revision that only Python can complete. */
static int read_py_deferred(const char *path, const struct sbuf *b, struct revision *rev,
			    struct err *e)
{
	int r = pyrev_read(path, b->buf, b->len, rev, e);

	if (r == 1) {
		rev->unread = xstrdup(e->msg);
		memset(e, 0, sizeof(*e));
		r = 0;
	}
	return r;
}

static void *load_part(void *arg)
{
	struct load_part *lp = arg;
	struct sbuf buf = { 0 };
	size_t open_dir = 0;
	int dfd = -1;

	for (size_t i = lp->lo; i < lp->hi; i++) {
		const struct entry *en = &lp->ents[i];
		char *path;
		int r;

		if (en->dir != open_dir || dfd < 0) {
			if (dfd >= 0)
				close(dfd);
			open_dir = en->dir;
			dfd = open(lp->dirs->v[open_dir], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd < 0) {
				err_set(&lp->e, ERR_SCRIPT, "cannot open script directory '%s': %s",
					lp->dirs->v[open_dir], strerror(errno));
				lp->failed = 1;
				break;
			}
		}
		path = join_path(lp->dirs->v[en->dir], en->name);
		r = slurp(dfd, en->name, path, &buf, &lp->e);
		if (r == 0) {
			if (!en->is_py)
				r = script_parse_sql(path, buf.buf, buf.len, &lp->slots[i], &lp->e);
			else if (lp->defer_py)
				r = read_py_deferred(path, &buf, &lp->slots[i], &lp->e);
			else
				r = pyrev_parse(path, buf.buf, buf.len, &lp->slots[i], &lp->e);
			if (r == 0)
				lp->loaded[i] = 1;
		} else if (r == 1) {
			r = 0;
		}
		free(path);
		if (r < 0) {
			lp->failed = 1;
			break;
		}
	}
	if (dfd >= 0)
		close(dfd);
	sbuf_free(&buf);
	return NULL;
}

#ifndef SCRIPT_LOAD_THREADS
#define SCRIPT_LOAD_THREADS 4
#endif
#ifndef SCRIPT_FILES_PER_THREAD
#define SCRIPT_FILES_PER_THREAD 1000
#endif

static int load_dirs(const struct strlist *dirs, struct revision_set *set, int defer_py,
		     struct err *e)
{
	struct entry *ents = NULL;
	size_t n = 0, alloc = 0, i, nthreads;
	const struct entry *first_py = NULL, *first_sql = NULL;
	struct load_part parts[SCRIPT_LOAD_THREADS];
	pthread_t tids[SCRIPT_LOAD_THREADS];
	int started[SCRIPT_LOAD_THREADS] = { 0 };
	struct revision *slots = NULL;
	unsigned char *loaded = NULL;
	int rc = -1;

	memset(set, 0, sizeof(*set));
	for (i = 0; i < dirs->n; i++)
		if (list_dir(dirs->v[i], i, &ents, &n, &alloc, e) < 0)
			goto out;
	if (n > 1)
		qsort(ents, n, sizeof(*ents), entry_cmp);
	for (i = 0; i < n; i++) {
		const struct entry **first = ents[i].is_py ? &first_py : &first_sql;

		if (!*first)
			*first = &ents[i];
	}
	if (first_py && first_sql) {
		char *a = join_path(dirs->v[first_py->dir], first_py->name);
		char *b = join_path(dirs->v[first_sql->dir], first_sql->name);

		err_set(e, ERR_SCRIPT,
			"revision scripts mix Alembic .py and SQL revisions ('%s' and '%s'): "
			"use one kind", a, b);
		free(a);
		free(b);
		goto out;
	}
	slots = xcalloc(n ? n : 1, sizeof(*slots));
	loaded = xcalloc(n ? n : 1, 1);
	/* Opening and reading a file costs three system calls, and with tens
	 * of thousands of revisions that is most of the start-up: large
	 * directories are read by a few threads, each a contiguous share. */
	nthreads = n / SCRIPT_FILES_PER_THREAD;
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > SCRIPT_LOAD_THREADS)
		nthreads = SCRIPT_LOAD_THREADS;
	for (i = 0; i < nthreads; i++) {
		memset(&parts[i], 0, sizeof(parts[i]));
		parts[i].dirs = dirs;
		parts[i].ents = ents;
		parts[i].slots = slots;
		parts[i].loaded = loaded;
		parts[i].lo = n * i / nthreads;
		parts[i].hi = n * (i + 1) / nthreads;
		parts[i].defer_py = defer_py;
	}
	for (i = 1; i < nthreads; i++)
		started[i] = pthread_create(&tids[i], NULL, load_part, &parts[i]) == 0;
	load_part(&parts[0]);
	for (i = 1; i < nthreads; i++) {
		if (started[i])
			pthread_join(tids[i], NULL);
		else
			load_part(&parts[i]); /* no thread to be had: do it here */
	}
	for (i = 0; i < nthreads; i++) {
		if (parts[i].failed) {
			*e = parts[i].e;
			goto out;
		}
	}
	set->v = slots;
	set->alloc = n;
	for (i = 0; i < n; i++)
		if (loaded[i])
			set->v[set->n++] = slots[i];
	slots = NULL;
	rc = 0;
out:
	if (slots) {
		for (i = 0; i < n; i++)
			if (loaded[i])
				revision_release(&slots[i]);
		free(slots);
	}
	free(loaded);
	for (i = 0; i < n; i++)
		free(ents[i].name);
	free(ents);
	if (rc < 0)
		revision_set_release(set);
	return rc;
}

int script_load_dirs(const struct strlist *dirs, struct revision_set *set, struct err *e)
{
	return load_dirs(dirs, set, 0, e);
}

int script_load_dirs_deferred(const struct strlist *dirs, struct revision_set *set,
			      struct err *e)
{
	return load_dirs(dirs, set, 1, e);
}
