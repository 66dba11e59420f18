/* script.h - revision scripts: SQL revision files (SPEC §3.1) and the
 * directories that hold them.
 *
 * A SQL revision file:
 *
 *   -- Revision ID: 3f2a1b9c0d4e
 *   -- Revises: 1a2b3c4d5e6f
 *   -- Create Date: 2026-11-21 10:00:00
 *   -- Message: add users table
 *   -- Branch Labels:
 *   -- Depends On:
 *   -- Transactional: true
 *
 *   -- +upgrade
 *   CREATE TABLE users (...);
 *
 *   -- +downgrade
 *   DROP TABLE users;
 *
 * The header is the leading run of `-- Key: value` lines (blank lines may
 * not interrupt it; the first non-header line ends it).  Keys are
 * case-insensitive (runs of blanks in a key match one space); unknown keys
 * are ignored; a known key given twice is an error.  `Revises` and `Depends
 * On` of "", "None" or "<base>" are empty.  `Transactional` takes
 * true/false, yes/no, on/off, 1/0.
 *
 * A marker is a line that is, after trimming, `--`, optional blanks and
 * `+upgrade` or `+downgrade` (case-insensitive).  Markers are found line by
 * line, without regard to SQL quoting.  The sections may come in either
 * order; each at most once; `-- +upgrade` is required.  Between the header
 * and the first marker only blank lines and `--` comments may appear.
 */
#ifndef PRESTART_SCRIPT_H
#define PRESTART_SCRIPT_H

#include "prestart/util.h"

#define REVISION_ID_MAX 32

struct revision {
	char *id;
	struct strlist down;     /* Revises: empty for a base */
	struct strlist labels;   /* Branch Labels */
	struct strlist depends;  /* Depends On */
	char *message;           /* may be "" */
	char *doc;               /* .py: the whole docstring, stripped (Alembic's
				  * Script.longdoc, which the verbose forms
				  * print); NULL for SQL revisions */
	char *unread;            /* .py loaded by script_load_dirs_deferred():
				  * why its metadata needs Python ("path:line:
				  * ..."), until pymeta_resolve() reads it;
				  * NULL otherwise */
	char *create_date;       /* may be NULL */
	int transactional;       /* default 1 */
	int is_py;               /* an Alembic .py revision (no SQL sections) */
	char *path;              /* file path as found */
	/* SQL sections: text without the marker line; NULL when absent.
	 * *_line is the 1-based file line of the section's first byte, so an
	 * offset in the section maps back to path:line:col. */
	char *upgrade_sql;
	int upgrade_line;
	char *downgrade_sql;
	int downgrade_line;
};

/* Parse a SQL revision from text (len bytes, NUL-terminated).  `path` is
 * used in messages ("path:line: ...") and copied into rev->path.  Errors
 * (ERR_SCRIPT): missing Revision ID, bad id characters or length (1-32 of
 * [A-Za-z0-9_.-]), bad ids in Revises/Depends On, bad Transactional value,
 * missing `-- +upgrade`, duplicate sections, NUL bytes (binary files).
 * Release with revision_release(). */
int script_parse_sql(const char *path, const char *text, size_t len,
		     struct revision *rev, struct err *e);
void revision_release(struct revision *rev);

/* Is s a valid revision id (1-32 of [A-Za-z0-9_.-])? */
int script_valid_id(const char *s);
/* Is s usable as a branch label or a Depends On entry (which may name a
 * label)?  Non-empty, without '@' (the target grammar's separator) or ','. */
int script_valid_label(const char *s);

struct revision_set {
	struct revision *v;
	size_t n, alloc;
};

/* Load every revision file of the directories `dirs` (non-recursive;
 * `*.sql` as SQL revisions; `*.py` through pyrev, skipping __init__.py and
 * env.py; dotfiles, __pycache__, entries that are not regular files and
 * other names ignored).  Directories are read in the order given, the files
 * of each in name (strcmp) order, for a stable result.  An empty directory
 * gives no revisions.  A missing directory ("script directory '...' does not
 * exist"), an unreadable file, a file over 16 MiB, a file that does not
 * parse, or a set mixing .py and .sql revisions (naming one of each) is an
 * ERR_SCRIPT error naming it; the kinds are checked before any file is
 * read.  On error *set is left empty.  Release with revision_set_release(). */
int script_load_dirs(const struct strlist *dirs, struct revision_set *set, struct err *e);
/* As script_load_dirs(), except that a .py revision whose metadata only
 * Python can compute (pyrev_read() returns 1) is kept with rev->unread set
 * and whatever could be read without Python (its id may be NULL): the
 * caller completes it with pymeta_resolve() before building a graph. */
int script_load_dirs_deferred(const struct strlist *dirs, struct revision_set *set,
			      struct err *e);
void revision_set_release(struct revision_set *set);

/* Map a byte offset inside `text` (a section starting at file line
 * first_line, column 1) to a 1-based line and column (columns count bytes). */
void script_offset_to_linecol(const char *text, size_t off, int first_line,
			      int *line, int *col);

#endif
