/* scriptdir.c - load the revision files of the version directories: list
 * them, refuse a mix of .py and .sql, read them (with a few threads for
 * large directories) and hand each to its parser (script.c or pyrev.c). */
#include "prestart/scriptdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prestart/pyrev.h"
#include "prestart/script.h"

#define SCRIPT_FILE_MAX (16u * 1024 * 1024)

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
	int failed;
	int defer_py; /* scriptdir_load_deferred() */
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
		parts[i].defer_py = defer_py;
		parts[i].ents = ents;
		parts[i].slots = slots;
		parts[i].loaded = loaded;
		parts[i].lo = n * i / nthreads;
		parts[i].hi = n * (i + 1) / nthreads;
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

int scriptdir_load(const struct strlist *dirs, struct revision_set *set, struct err *e)
{
	return load_dirs(dirs, set, 0, e);
}

int scriptdir_load_deferred(const struct strlist *dirs, struct revision_set *set,
			    struct err *e)
{
	return load_dirs(dirs, set, 1, e);
}
