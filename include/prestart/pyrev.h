/* pyrev.h - read an Alembic .py revision's metadata without Python
 * (SPEC §3.2). Pure: no I/O.
 *
 * Reads the module-level assignments `revision`, `down_revision`,
 * `branch_labels` and `depends_on` (plain or annotated: `down_revision:
 * Union[str, None] = 'abc'`), whose values may be a string (single, double
 * or triple quotes, with a u/r prefix), None, or a tuple/list of strings,
 * spread over several lines, with comments beside them; and the message from
 * the module docstring's first line.  Anything else on the right-hand side
 * of those names (a call, a name, an f-string, concatenation) is an
 * ERR_SCRIPT error naming the file and line: never a guess.
 */
#ifndef PRESTART_PYREV_H
#define PRESTART_PYREV_H

#include "prestart/script.h"

/* Is `name` (a file name, no directory) a candidate revision file?
 * False for __init__.py, env.py and anything not ending in .py. */
int pyrev_is_candidate(const char *name);

/* Parse text (len bytes, NUL-terminated) from `path` into *rev (is_py = 1,
 * transactional = 1, no SQL sections).  A file with no `revision =`
 * assignment is not a revision: returns 1 and leaves *rev empty (Alembic
 * skips such files with a warning).  Returns 0 on success, -1 on error. */
int pyrev_parse(const char *path, const char *text, size_t len,
		struct revision *rev, struct err *e);

#endif
