/* db_sqlite.c - the SQLite driver. */
/* flock() is a BSD interface: glibc declares it under _DEFAULT_SOURCE. */
#define _DEFAULT_SOURCE
#include "prestart/db.h"
#include "prestart/sqlsplit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct sq_impl {
	sqlite3 *h;
	char *path;  /* the database file, for the lock file beside it */
	int lock_fd; /* "<path>.prestart.lock" while the migration lock is held, else -1 */
};

static sqlite3 *handle_of(struct db *db)
{
	struct sq_impl *p = db->impl;

	return p ? p->h : NULL;
}

static void set_stmt_error(struct db *db, sqlite3 *h, long offset)
{
	snprintf(db->dberr.message, sizeof(db->dberr.message), "%s", sqlite3_errmsg(h));
	db->dberr.offset = offset;
}

/* The directory must exist: SQLite would only say "unable to open
 * database file", and a volume not mounted yet is worth waiting for. */
static int check_dir(struct db *db, const char *path)
{
	char *dir;
	struct stat sb;
	int rc = 0;

	if (!strchr(path, '/'))
		return 0;
	dir = path_dirname(path);
	if (stat(dir, &sb) < 0) {
		db->status = errno == ENOENT ? DBC_RETRY : DBC_FATAL;
		rc = db_set_errstr(db, "cannot open database '%s': directory '%s': %s", path, dir,
				   errno == ENOENT ? "does not exist" : strerror(errno));
	} else if (!S_ISDIR(sb.st_mode)) {
		db->status = DBC_FATAL;
		rc = db_set_errstr(db, "cannot open database '%s': '%s' is not a directory", path,
				   dir);
	}
	free(dir);
	return rc;
}

static int sq_open(struct db *db, const struct dburl *u, const struct db_opts *o)
{
	struct sq_impl *p = xcalloc(1, sizeof(*p));
	/* SQLite opens its files with O_CLOEXEC on Linux (robust_open). */
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc;

	db->impl = p;
	p->lock_fd = -1;
	if (!u->path || !*u->path) {
		db->status = DBC_FATAL;
		return db_set_errstr(db, "no SQLite database path");
	}
	if (check_dir(db, u->path) < 0)
		return -1;
	p->path = xstrdup(u->path);
	if (o->no_create) {
		struct stat sb;

		/* A file that is not there yet reads as the empty database a
		 * first run would create, and none is made. */
		flags &= ~SQLITE_OPEN_CREATE;
		if (stat(u->path, &sb) < 0 && errno == ENOENT)
			flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_MEMORY | SQLITE_OPEN_NOMUTEX;
	}
	rc = sqlite3_open_v2(flags & SQLITE_OPEN_MEMORY ? ":memory:" : u->path, &p->h, flags, NULL);
	if (rc != SQLITE_OK) {
		db->status = DBC_FATAL;
		return db_set_errstr(db, "cannot open database '%s': %s", u->path,
				     p->h ? sqlite3_errmsg(p->h) : sqlite3_errstr(rc));
	}
	sqlite3_extended_result_codes(p->h, 1);
	sqlite3_busy_timeout(p->h, o->busy_timeout_ms > 0 ? o->busy_timeout_ms : 5000);
	/* Opening is lazy: read the header now so that a file that is not a
	 * database fails here, not in the middle of a migration. */
	rc = sqlite3_exec(p->h, "PRAGMA schema_version", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;

		db->status = busy ? DBC_RETRY : DBC_FATAL;
		return db_set_errstr(db, "cannot open database '%s': %s", u->path,
				     sqlite3_errmsg(p->h));
	}
	return 0;
}

static void sq_close(struct db *db)
{
	struct sq_impl *p = db->impl;

	if (!p)
		return;
	if (p->lock_fd >= 0)
		close(p->lock_fd); /* drops the flock */
	if (p->h)
		sqlite3_close_v2(p->h);
	free(p->path);
	free(p);
	db->impl = NULL;
}

static int sq_exec(struct db *db, const char *sql, size_t len)
{
	sqlite3 *h = handle_of(db);
	const char *p = sql, *end = sql + len;

	if (len > INT_MAX)
		return db_set_errstr(db, "the SQL text is too long for SQLite");
	while (p < end) {
		sqlite3_stmt *st = NULL;
		const char *tail = NULL;
		size_t start = db_skip_noise(sql, len, (size_t)(p - sql));
		int rc;

		if (start == len)
			break;
		rc = sqlite3_prepare_v2(h, p, (int)(end - p), &st, &tail);
		if (rc != SQLITE_OK) {
			int eo = sqlite3_error_offset(h);

			set_stmt_error(db, h, eo >= 0 ? (long)(p - sql) + eo : (long)start);
			sqlite3_finalize(st);
			return db_stmt_failed(db);
		}
		if (!st) {
			/* Only a comment was left. */
			if (!tail || tail <= p)
				break;
			p = tail;
			continue;
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (rc != SQLITE_DONE) {
			set_stmt_error(db, h, (long)start);
			sqlite3_finalize(st);
			return db_stmt_failed(db);
		}
		db->changes = sqlite3_changes(h);
		sqlite3_finalize(st);
		p = tail;
	}
	return 0;
}

static int sq_query_col(struct db *db, const char *sql, struct strlist *out)
{
	sqlite3 *h = handle_of(db);
	sqlite3_stmt *st = NULL;
	int rc;

	db_clear_error(db);
	rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		int eo = sqlite3_error_offset(h);

		set_stmt_error(db, h, eo >= 0 ? eo : 0);
		sqlite3_finalize(st);
		return db_stmt_failed(db);
	}
	if (!st)
		return 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(st, 0);

		strlist_push(out, v ? (const char *)v : "");
	}
	if (rc != SQLITE_DONE) {
		set_stmt_error(db, h, 0);
		sqlite3_finalize(st);
		return db_stmt_failed(db);
	}
	sqlite3_finalize(st);
	return 0;
}

static int sq_table_exists(struct db *db, const char *schema, const char *table, int *exists)
{
	sqlite3 *h = handle_of(db);
	char *qs = db_quote_ident(DB_SQLITE, schema ? schema : "main");
	/* Table names compare as SQLite resolves identifiers: ASCII
	 * case-insensitively. */
	char *sql = xasprintf("SELECT 1 FROM %s.sqlite_master WHERE type IN ('table', 'view') "
			      "AND name = ?1 COLLATE NOCASE",
			      qs);
	sqlite3_stmt *st = NULL;
	int rc;

	*exists = 0;
	db_clear_error(db);
	rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*exists = 1;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		set_stmt_error(db, h, -1);
		db_stmt_failed(db);
		/* SQLite only says "no such table: x.sqlite_master". */
		if (schema && str_has_prefix(db->dberr.message, "no such table"))
			db_set_errstr(db, "unknown SQLite database '%s': on SQLite the version "
					  "table schema names an attached database such as 'main'",
				      schema);
	}
	sqlite3_finalize(st);
	free(sql);
	free(qs);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static void sq_cancel(struct db *db)
{
	sqlite3 *h = handle_of(db);

	if (h)
		sqlite3_interrupt(h);
}

static char *sq_quote_ident(const char *s)
{
	return db_quote_ident(DB_SQLITE, s);
}

static int sq_tx_status(struct db *db)
{
	sqlite3 *h = handle_of(db);

	if (!h)
		return -1;
	return sqlite3_get_autocommit(h) ? 0 : 1;
}

static int sq_is_missing(const struct db *db, enum db_missing what)
{
	/* SQLite has no codes for these: its messages are all there is. */
	return str_has_prefix(db->dberr.message,
			      what == DB_MISSING_COLUMN ? "no such column" : "no such table");
}

/* The migration lock: an exclusive flock on "<db>.prestart.lock", apart
 * from the database so that holding it never blocks a reader (the
 * migration itself then runs under BEGIN IMMEDIATE with a busy timeout).
 * The file is opened for each try and kept only while the lock is held:
 * a flock belongs to its open file, so closing a descriptor that did not
 * get it disturbs nobody. */
static int sq_lock_try(struct db *db, const struct lock_key *k, int *got)
{
	struct sq_impl *p = db->impl;
	char *lp;
	int fd, err;

	(void)k;
	/* Held already: a second descriptor would wait on our own lock. */
	if (p->lock_fd >= 0) {
		*got = 1;
		return 0;
	}
	lp = xasprintf("%s.prestart.lock", p->path);
	fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		db_set_errstr(db, "cannot open lock file '%s': %s", lp, strerror(errno));
		free(lp);
		return -1;
	}
	free(lp);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		p->lock_fd = fd;
		*got = 1;
		return 0;
	}
	err = errno;
	close(fd);
	if (err == EWOULDBLOCK || err == EINTR) {
		*got = 0;
		return 0;
	}
	return db_set_errstr(db, "cannot lock: %s", strerror(err));
}

static int sq_lock_release(struct db *db, const struct lock_key *k)
{
	struct sq_impl *p = db->impl;

	(void)k;
	if (p->lock_fd < 0)
		return db_set_errstr(db, "the migration lock was not held");
	close(p->lock_fd); /* drops the flock */
	p->lock_fd = -1;
	return 0;
}

const struct db_ops db_sqlite_ops = {
	.name = "sqlite",
	.supports = DB_TEXT_LENGTH_IN_CHARS,
	.sql_timestamp = "TEXT",
	.sql_now = "strftime('%Y-%m-%d %H:%M:%fZ', 'now')",
	/* length() counts on the UTF-8 form, which is what a UTF-16 file
	 * hands out: its bytes would count the UTF-16 form. */
	.sql_text_length = "length(CAST(%s AS TEXT))",
	.sql_utc_seconds = "substr(%s, 1, 19)",
	.split = sqlsplit_sqlite,
	.open = sq_open,
	.close = sq_close,
	.exec = sq_exec,
	.query_col = sq_query_col,
	.table_exists = sq_table_exists,
	.is_missing = sq_is_missing,
	.cancel = sq_cancel,
	.quote_ident = sq_quote_ident,
	/* Takes the write lock at once: a busy database is waited for (busy
	 * timeout) at BEGIN, not in the middle of a migration. */
	.begin = "BEGIN IMMEDIATE",
	.tx_status = sq_tx_status,
	.lock = { .try_hold = sq_lock_try, .drop = sq_lock_release },
};
