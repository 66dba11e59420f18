/* inifile.h - an INI file read as Python's ConfigParser reads alembic.ini
 * (inih underneath): keys lower-cased, continuation lines joined with
 * newlines, no inline comments, a duplicate key an error, and
 * BasicInterpolation (%(name)s, %%, and %(here)s for the file's
 * directory) applied when a value is asked for.
 *
 * Errors are ERR_USAGE and name the file and line ("prestart.ini:3:
 * duplicate key ...").  The entries are in file order; struct inifile
 * owns every string in it (inifile_release).
 */
#ifndef PRESTART_INIFILE_H
#define PRESTART_INIFILE_H

#include <stddef.h>

#include "prestart/util.h"

/* The largest file read. */
#ifndef INIFILE_MAX
#define INIFILE_MAX (1024 * 1024)
#endif
/* ConfigParser's MAX_INTERPOLATION_DEPTH. */
#ifndef INIFILE_INTERP_DEPTH_MAX
#define INIFILE_INTERP_DEPTH_MAX 10
#endif

struct inifile_entry {
	char *section;
	char *key; /* lowercased, as ConfigParser's optionxform does */
	char *value; /* as written (trimmed), not interpolated */
	int line;
};

struct inifile {
	char *path;
	char *here; /* the file's directory, absolute: %(here)s */
	struct inifile_entry *v;
	size_t n, alloc;
	/* reading state, private to inifile.c */
	const char *pos;
	const char *line;
	int lineno;
	int err_line;
	char err_msg[256];
};

/* Read path into *f (zeroed first).  0, or -1 with e set (ERR_USAGE) and
 * f left empty. */
int inifile_load(struct inifile *f, const char *path, struct err *e);
/* Free what f holds and zero it; fine on a zeroed struct. */
void inifile_release(struct inifile *f);
/* Does the file have a key in `section`? */
int inifile_has_section(const struct inifile *f, const char *section);
/* A key of `section`, else of [DEFAULT], as ConfigParser resolves it; NULL
 * when neither has it.  key is lower-case. */
const struct inifile_entry *inifile_find(const struct inifile *f, const char *section,
					 const char *key);
/* Append en's value, read in `section`, to out with ConfigParser's
 * BasicInterpolation.  0, or -1 with e set (a bad or unknown reference,
 * one nested too deep). */
int inifile_interpolate(const struct inifile *f, const char *section,
			const struct inifile_entry *en, struct sbuf *out, struct err *e);

#endif
