/* pyrev.h - read an Alembic .py revision's metadata without Python
 * (SPEC §3.2). Pure: no I/O.
 *
 * Reads the module-level assignments `revision`, `down_revision`,
 * `branch_labels` and `depends_on` (plain or annotated: `down_revision:
 * Union[str, None] = 'abc'`), whose values may be a string (single, double
 * or triple quotes, u/r prefixes, adjacent literals concatenated), None, or
 * a tuple/list of strings (bracketed or bare, trailing comma allowed),
 * spread over several lines, with comments beside them.  Only statements
 * starting in column 0 count: assignments inside a def, class, if or other
 * block are not module metadata and are ignored.  Anything else on the
 * right-hand side of those names (a call, a name, an f-string, bytes,
 * concatenation with +), unpacking or augmented assignment of them, or a
 * second module-level assignment of the same name is an ERR_SCRIPT error
 * naming the file and line ("path:line: cannot read 'down_revision' without
 * running Python: ..."): never a guess.
 *
 * The message is Alembic's Script.doc: the first paragraph (up to a blank
 * line) of the stripped module docstring, "" without one.  create_date is
 * taken from a "Create Date:" line of the docstring when there is one.
 */
#ifndef PRESTART_PYREV_H
#define PRESTART_PYREV_H

#include "prestart/revision.h"

/* Is `name` (a file name, no directory) a candidate revision file?
 * False for __init__.py, env.py and anything not ending in .py. */
int pyrev_is_candidate(const char *name);

/* Parse text (len bytes, NUL-terminated) from `path` into *rev (is_py = 1,
 * transactional = 1, no SQL sections).  As Alembic does, a file without a
 * module-level `revision` takes its id from a legacy `<hex>.py` file name
 * and is an error otherwise; a file without `down_revision` is an error
 * too.  Revision ids are checked with revision_valid_id(), branch labels and
 * depends_on entries with revision_valid_label().  NUL bytes are an error.
 * Returns 0, or -1 with *rev empty. */
int pyrev_parse(const char *path, const char *text, size_t len,
		struct revision *rev, struct err *e);

#endif
