/* util.h - errors, allocation, string lists and buffers shared by every module.
 *
 * Error convention: a function that can fail takes a `struct err *` owned by
 * the caller, fills it through err_set() and returns -1; 0 on success.  The
 * `kind` is the exit code SPEC §6 assigns to that class of failure; only
 * main.c and cmd_*.c turn it into a process exit status.
 */
#ifndef PRESTART_UTIL_H
#define PRESTART_UTIL_H

/* The version `prestart version` prints and the ledger records; a build
 * may set it with -DPRESTART_VERSION=... */
#ifndef PRESTART_VERSION
#define PRESTART_VERSION "0.1.0"
#endif

#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#ifndef ERR_MSG_MAX
#define ERR_MSG_MAX 2048
#endif

enum err_kind {
	ERR_NONE = 0,
	ERR_FAILED = 1,   /* a migration or hook failed */
	ERR_USAGE = 2,    /* usage, configuration, unknown target */
	ERR_SCRIPT = 3,   /* revision scripts or version table inconsistent */
	ERR_LOCK = 4,     /* lock timeout */
	ERR_TIMEOUT = 124 /* wait timeout */
};

struct err {
	int kind;
	char msg[ERR_MSG_MAX];
};

/* Record an error (printf-style, lowercase, no final period). Returns -1. */
int err_set(struct err *e, int kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int err_vset(struct err *e, int kind, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Prefix an existing message: "<prefix>: <old message>". Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Allocation that aborts with a message on exhaustion. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Grow an array *p of *alloc elements of size `size` to hold at least `need`. */
void xgrow(void **p, size_t *alloc, size_t need, size_t size);

/* A list of owned strings.  strlist_free() frees the strings and the array. */
struct strlist {
	char **v;
	size_t n, alloc;
};
void strlist_push(struct strlist *l, const char *s);      /* copies s */
void strlist_push_owned(struct strlist *l, char *s);      /* takes s */
int strlist_contains(const struct strlist *l, const char *s);
/* 1 when a and b have as many entries and each of a's is in b (the same
 * set for lists without repeats, in any order); else 0. */
int strlist_same_set(const struct strlist *a, const struct strlist *b);
void strlist_free(struct strlist *l);
/* Split on any character of `seps`, trim blanks, drop empty items. */
void strlist_split(struct strlist *l, const char *s, const char *seps);
/* Join with `sep` into a new string (caller frees). */
char *strlist_join(const struct strlist *l, const char *sep);

/* Strings mapped to ints, hashed, for walks that must stay linear.  The
 * keys are borrowed: they must outlive the map.  strmap_free() frees the
 * table only. */
struct strmap {
	const char **keys;
	int *vals;
	size_t n, cap;
};
/* The value of k, or -1 when k is absent. */
int strmap_get(const struct strmap *m, const char *k);
/* Set k to v (v >= 0), adding k when absent. */
void strmap_put(struct strmap *m, const char *k, int v);
void strmap_free(struct strmap *m);

/* A growable byte buffer, always NUL-terminated. sbuf_free() frees it. */
struct sbuf {
	char *buf;
	size_t len, alloc;
};
void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sbuf_addc(struct sbuf *b, char c);
/* Append s as a JSON string literal, quotes included. */
/* s as a JSON string: always valid UTF-8, a byte that starts no valid
 * UTF-8 sequence becomes U+FFFD. */
void sbuf_add_json_str(struct sbuf *b, const char *s);
/* s as a PostgreSQL identifier, always double-quoted (inner quotes
 * doubled): no keyword list needed. */
void sbuf_add_sql_ident(struct sbuf *b, const char *s);
/* The string literals (quotes doubled in each), one function per form:
 * sbuf_add_sql_str: PostgreSQL, reads the same whatever
 *   standard_conforming_strings says: sbuf_add_sql_estr's form when s has
 *   a backslash, else sbuf_add_sql_std_str's;
 * sbuf_add_sql_estr: PostgreSQL, always E'...' with backslashes doubled
 *   (NULL is ""); sbuf_add_sql_estrn: the same for the n bytes at s;
 * sbuf_add_sql_std_str: the standard '...', where a backslash is a plain
 *   character (SQLite; PostgreSQL only under standard_conforming_strings). */
void sbuf_add_sql_str(struct sbuf *b, const char *s);
void sbuf_add_sql_estr(struct sbuf *b, const char *s);
void sbuf_add_sql_estrn(struct sbuf *b, const char *s, size_t n);
void sbuf_add_sql_std_str(struct sbuf *b, const char *s);
/* The length (1-4) of the valid UTF-8 sequence at p, or 0. */
size_t utf8_seq_len(const char *p);
/* Drop an incomplete UTF-8 sequence at the end of s, as a cut made by a
 * fixed-size buffer leaves. */
void utf8_trim_partial(char *s);
void sbuf_reset(struct sbuf *b);
char *sbuf_detach(struct sbuf *b); /* caller frees the result */
void sbuf_free(struct sbuf *b);

/* What kind of file mode m is when prestart must not open it: NULL for a
 * regular file (or a character device when chr_ok), else "a directory",
 * "a FIFO", "a socket", "a block device" or "not a regular file". */
const char *file_kind_refused(mode_t m, int chr_ok);
/* Open path with flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK (a FIFO
 * without a peer must not block) and keep it only when it is a regular
 * file, or a character device when chr_ok; O_NONBLOCK is cleared once
 * open.  The descriptor, or -1 with errno set: EINVAL for another kind
 * of file, named in *kind. */
int open_plain(const char *path, int flags, mode_t mode, int chr_ok, const char **kind);

/* Read a whole regular file into *out (NUL-terminated, caller frees),
 * never blocking on a FIFO: any other kind of file is refused (ERR_USAGE,
 * "'<path>' is a FIFO, not a regular file").  Fails on files larger than
 * `max` bytes. */
int read_file(const char *path, size_t max, char **out, size_t *len, struct err *e);

/* Create path (mode 0644; it must not exist) holding text.  -1 with e
 * filled: ERR_USAGE "cannot write '<path>': ..." when it cannot be created,
 * ERR_FAILED when writing fails (the partial file is removed). */
int write_new_file(const char *path, const char *text, struct err *e);

/* Monotonic milliseconds. */
long long now_ms(void);

/* Sleep up to ms, in slices of at most 50 ms so that a stop recorded in
 * *stop (may be NULL) ends the sleep promptly even when the handler's EINTR
 * lands between two looks. */
void nap_ms(long long ms, volatile sig_atomic_t *stop);

/* Trim trailing blanks in place; returns a pointer past leading blanks. */
char *str_trim(char *s);
int str_has_prefix(const char *s, const char *prefix);
int str_has_suffix(const char *s, const char *suffix);
/* The value of hexadecimal digit c (either case), or -1 when c is not one. */
int hexval(int c);

/* Python's os.path.abspath: `path` joined to the working directory unless
 * absolute, then "." and ".." resolved and slashes collapsed lexically
 * (symbolic links are not followed; exactly two leading slashes are kept,
 * as POSIX allows).  New string, caller frees. */
char *path_abspath(const char *path);

/* The directory part of `path` as written: up to its last slash, "/" when
 * that is the first character, "." when it has none.  New string, caller
 * frees. */
char *path_dirname(const char *path);
/* Is path a directory (following symlinks)? */
int path_is_dir(const char *path);
/* Is there nothing at path at all (a dangling symlink is something)? */
int path_is_absent(const char *path);
/* mkdir(path, 0777); -1 with ERR_USAGE "cannot create directory 'x': ..." */
int path_mkdir(const char *path, struct err *e);
/* s quoted for a shell when it needs to be (for commands printed to the
 * user).  New string. */
char *shell_word(const char *s);

#endif
