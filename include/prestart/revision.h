/* revision.h - one revision as the scripts describe it, whatever file kind
 * it came from (SQL, SPEC §3.1, or Alembic .py, SPEC §3.2), and the rules
 * its identifiers follow.  A leaf: the SQL parser (script.h), the .py
 * reader (pyrev.h) and the directory loader (scriptdir.h) build on it, and
 * it includes none of them.
 */
#ifndef PRESTART_REVISION_H
#define PRESTART_REVISION_H

#include "prestart/util.h"

#define REVISION_ID_MAX 32

/* The rollout phase a revision's header asks for (SPEC §9.4). */
enum rev_phase { REV_PHASE_UNSET = 0, REV_PHASE_EXPAND, REV_PHASE_CONTRACT };

struct revision {
	char *id;
	struct strlist down;     /* Revises: empty for a base */
	struct strlist labels;   /* Branch Labels */
	struct strlist depends;  /* Depends On */
	char *message;           /* may be "" */
	char *doc;               /* .py: the whole docstring, stripped (Alembic's
				  * Script.longdoc, which the verbose forms
				  * print); NULL for SQL revisions */
	char *unread;            /* .py loaded by scriptdir_load_deferred():
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
	/* `-- Compat: breaking` / `prestart_compat = "breaking"` (SPEC §7.3):
	 * older application versions cannot run against this revision. */
	int compat_breaking;
	int compat_line;         /* its line in the file, 0 when unmarked */
	/* `-- Phase: expand|contract` / `prestart_phase = "..."` (SPEC §9.4)
	 * and its line in the file (0 when unset). */
	enum rev_phase phase;
	int phase_line;
};

/* Free what rev owns and leave it empty (transactional = 1), ready for
 * another parse. */
void revision_release(struct revision *rev);

/* Is s a valid revision id (1-32 of [A-Za-z0-9_.-])? */
int revision_valid_id(const char *s);
/* Is s usable as a branch label or a Depends On entry (which may name a
 * label)?  Non-empty, without '@' (the target grammar's separator) or ','. */
int revision_valid_label(const char *s);

/* Map a byte offset inside `text` (a section starting at file line
 * first_line, column 1) to a 1-based line and column (columns count bytes). */
void revision_offset_to_linecol(const char *text, size_t off, int first_line,
				int *line, int *col);

/* The revisions of a script directory, in file order.  The set owns them;
 * revision_set_release() frees them all. */
struct revision_set {
	struct revision *v;
	size_t n, alloc;
};
void revision_set_release(struct revision_set *set);

#endif
