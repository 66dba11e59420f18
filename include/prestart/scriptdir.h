/* scriptdir.h - load the revision files of the version directories: SQL
 * revisions through script.h, Alembic .py revisions through pyrev.h.
 */
#ifndef PRESTART_SCRIPTDIR_H
#define PRESTART_SCRIPTDIR_H

#include "prestart/revision.h"

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
int scriptdir_load(const struct strlist *dirs, struct revision_set *set, struct err *e);
/* As scriptdir_load(), except that a .py revision whose metadata only
 * Python can compute (pyrev_read() returns 1) is kept with rev->unread set
 * and whatever could be read without Python (its id may be NULL): the
 * caller completes it with pymeta_resolve() before building a graph. */
int scriptdir_load_deferred(const struct strlist *dirs, struct revision_set *set,
			    struct err *e);

#endif
