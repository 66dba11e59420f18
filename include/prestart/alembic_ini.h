/* alembic_ini.h - the database prestart locked, handed to Alembic's env.py.
 *
 * A stock `alembic init` env.py reads sqlalchemy.url from the ini; another
 * common one reads DATABASE_URL.  For Alembic to migrate the database
 * prestart waited for and locked, a child Alembic gets both: DATABASE_URL
 * in its environment (delegate.c) and, through `-c`, a copy of the user's
 * ini whose [alembic] sqlalchemy.url is that URL.  The user's file is never
 * written (it may be read-only in an image): the copy lives in an
 * anonymous memory file, named to the child as /proc/<pid>/fd/<n>, or
 * when that is not possible in a private temporary file.
 */
#ifndef PRESTART_ALEMBIC_INI_H
#define PRESTART_ALEMBIC_INI_H

#include "prestart/util.h"

/* The text of ini (the file's content) with sqlalchemy.url in [section]
 * set to url, replacing the key and its continuation lines or, when
 * absent, added under the section header (the section too when missing),
 * and with a leading [DEFAULT] here = <here> so that %(here)s keeps naming
 * the original file's directory.  '%' in url and here is written as '%%'
 * (ConfigParser's interpolation).  New string.  Pure. */
char *alembic_ini_with_url(const char *ini, const char *section, const char *url,
			   const char *here);

/* The value of sqlalchemy.url in [section] of ini as ConfigParser reads
 * it (continuation lines joined by '\n', "%%" as "%"), or NULL when the
 * key is absent.  A value that interpolates ("%(here)s") is returned as
 * written.  New string.  Pure. */
char *alembic_ini_url(const char *ini, const char *section);

/* The URL as SQLAlchemy 1.4 names it: "postgres://" (which libpq and
 * prestart accept, and SQLAlchemy 1.4 no longer does) becomes
 * "postgresql://"; anything else is returned as it is.  New string. */
char *alembic_url(const char *url);

struct alembic_ini {
	char *path;    /* what to pass as -c; NULL: no copy was made */
	int fd;        /* the memory file, or -1 */
	char *tmpfile; /* the temporary file to remove, or NULL */
};

/* Make the copy of the ini at `path` (NULL: ./alembic.ini) with url.
 * 0 with a->path set; 0 with a->path NULL when no copy is needed: there is
 * no such file, its sqlalchemy.url is already url, or it has none (env.py
 * then takes the URL from elsewhere, DATABASE_URL most often); -1 with e
 * filled when the file cannot be read or no copy can be written anywhere.
 * Release with alembic_ini_release(). */
int alembic_ini_open(const char *path, const char *url, struct alembic_ini *a, struct err *e);
void alembic_ini_release(struct alembic_ini *a);

#endif
