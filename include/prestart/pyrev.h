/* pyrev.h - read an Alembic .py revision's metadata without Python
 * (SPEC §3.2). Pure: no I/O.
 *
 * Reads the module-level assignments `revision`, `down_revision`,
 * `branch_labels` and `depends_on` (plain or annotated: `down_revision:
 * Union[str, None] = 'abc'`), whose values may be a string (single, double
 * or triple quotes, u/r prefixes, adjacent literals concatenated), None, or
 * a tuple/list of strings (bracketed or bare, trailing comma allowed),
 * spread over several lines, with comments beside them.  As in Python, the
 * last assignment of a name wins; a down_revision or depends_on of "" is
 * none, as Alembic reads it.  Statements inside a def or class body are
 * another scope and are ignored.
 *
 * Metadata only Python can compute is never guessed: a name whose last
 * binding is anything else on the right-hand side (a call, a name, an
 * f-string, bytes, concatenation with +), an augmented, chained or
 * unpacking assignment, an assignment inside a module-level if, try, for,
 * while or with block, an import, `as`, `for`, `del` or `:=`.  The reason
 * names the file and line ("path:line: cannot read 'down_revision' without
 * running Python: ...").
 *
 * The docstring is kept whole and stripped, as Alembic's Script.longdoc;
 * the message is its first paragraph (Script.doc), "" without one, and
 * create_date comes from a "Create Date:" line in it.
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

/* As pyrev_parse(), except for metadata only Python can compute: then it
 * returns 1, with e holding the reason (ERR_SCRIPT, "path:line: ...") and
 * *rev what could be read without Python (path, doc, message, create_date,
 * literal values; the id may be NULL), for the caller to complete and
 * release. */
int pyrev_read(const char *path, const char *text, size_t len,
	       struct revision *rev, struct err *e);

/* Set rev->doc to the docstring `doc` stripped as Python's str.strip(), and
 * rev->message and rev->create_date from it. */
void pyrev_set_doc(struct revision *rev, const char *doc);

#endif
