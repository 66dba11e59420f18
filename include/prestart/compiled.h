/* compiled.h - Alembic .py revisions rendered to SQL at build time (SPEC
 * §7.5): the files `prestart compile` writes and the run reads.
 *
 * For each .py revision and dialect, <script_location>/compiled/ holds
 * <revision>.<dialect>.sql: a SQL revision file (§3.1) with the .py
 * revision's metadata, the statements Alembic's offline mode rendered for
 * its upgrade() and downgrade(), and two more header lines
 *
 *   -- Source: versions/3f2a1b9c0d4e_add_users.py sha256:<64 hex digits>
 *   -- Compiled By: alembic 1.8.1
 *
 * The file is fresh while the SHA-256 of the .py file is the one recorded
 * (and its id and down revisions are the .py's); a stale or missing file
 * leaves the revision to Alembic.  Revisions Alembic cannot render offline
 * are listed in online-only.<dialect>.txt, one "<revision> <reason>" line
 * each.  A revision whose downgrade alone cannot be rendered (it reads the
 * database, or raises NotImplementedError) is compiled without a
 * `-- +downgrade` section and with "-- Downgrade: online-only: <reason>":
 * its downgrade is left to Alembic.
 *
 * The renderer (compile_renderer.c, Python run with the project's Python)
 * reports to prestart through a file of records "<tag> <length>\n<payload>\n"
 * (length in bytes): alembic <version>, dialect <name>, rev <id>,
 * up / down <statement>, up! / down! <statement inside autocommit_block()>,
 * online <reason> (the revision cannot be rendered), online-down <reason>
 * (its downgrade cannot), fatal <message>, end.
 */
#ifndef PRESTART_COMPILED_H
#define PRESTART_COMPILED_H

#include "prestart/dburl.h"
#include "prestart/graph.h"
#include "prestart/script.h"
#include "prestart/util.h"

/* "postgresql" or "sqlite": the dialect part of compiled file names. */
const char *compiled_dialect(enum db_kind kind);
/* Parse a dialect name (also "postgres", "pg").  Returns 0 or -1. */
int compiled_dialect_parse(const char *name, enum db_kind *kind);
/* "<script_location>/compiled" (new string). */
char *compiled_dir(const char *script_location);
/* "<dir>/<revision>.<dialect>.sql" and "<dir>/online-only.<dialect>.txt"
 * (new strings). */
char *compiled_path(const char *dir, const char *rev, enum db_kind kind);
char *compiled_online_list_path(const char *dir, enum db_kind kind);

enum compiled_state { COMPILED_FRESH, COMPILED_MISSING, COMPILED_STALE, COMPILED_ONLINE_ONLY };

struct compiled_lookup {
	enum compiled_state state;
	/* FRESH: the compiled file parsed (path: the compiled file, is_py 0,
	 * the SQL sections and Transactional flag to run). */
	struct revision rev;
	/* Not FRESH: why, in a few words ("no compiled/a1.sqlite.sql",
	 * "versions/a1_x.py changed since it was compiled", "online-only:
	 * reads the database ..."). */
	char *why;
};

/* Find the compiled file of .py revision `py` for `kind` in `dir` and judge
 * it for running in the direction `upgrade` (1) or downgrade (0).  Reads the compiled file and the source (to hash it); a missing file
 * looks the revision up in the online-only list.  Returns 0 with *out
 * filled, or -1 (ERR_SCRIPT) when a file exists but cannot be read or the
 * compiled file does not parse (naming it).  Release with
 * compiled_lookup_release(). */
int compiled_find(const char *dir, enum db_kind kind, const struct revision *py, int upgrade,
		  struct compiled_lookup *out, struct err *e);
void compiled_lookup_release(struct compiled_lookup *l);

/* The binding step (SPEC §7.5): .py revisions given the SQL of their
 * fresh compiled files for one dialect, looked up once per revision and
 * direction, on first use, and kept for the run. */
struct compiled_binder {
	char *dir;                       /* <script_location>/compiled */
	enum db_kind kind;
	const struct revision_set *revs; /* the revisions plans point into */
	struct compiled_lookup *found;   /* 2 per revision (DIR_UP, DIR_DOWN) */
	unsigned char *looked;           /* which of found are filled */
	int none;                        /* 1: no compiled directory; -1: not
					  * looked yet */
};

/* Bind for dialect `kind` the revisions of revs (which must outlive b). */
void compiled_binder_init(struct compiled_binder *b, const char *script_location,
			  enum db_kind kind, const struct revision_set *revs);
/* Give every .py step of p with a fresh compiled file for its direction
 * that file's revision (RUN_SQL: its SQL sections, its path, its
 * Transactional flag), and the others RUN_ALEMBIC with why set ("no
 * compiled/a1.sqlite.sql", "online-only: ...").  *fresh and *missing
 * (may be NULL) count both kinds of .py steps.  Returns 0, or -1 (ERR_SCRIPT)
 * when a compiled file exists but cannot be read or does not parse.  The
 * plan then points into b, which must outlive it. */
int compiled_bind(struct compiled_binder *b, struct plan *p, size_t *fresh, size_t *missing,
		  struct err *e);
void compiled_binder_release(struct compiled_binder *b);

/* ---- what the renderer reported (used by `prestart compile`) ---- */

struct compiled_rendering {
	char *dialect;
	char *rev;
	struct strlist up, down;   /* statements, without the terminator */
	size_t up_autocommit;      /* how many of them ran in autocommit_block() */
	size_t down_autocommit;
	char *online;              /* online-only: the reason; NULL otherwise */
	char *online_down;         /* only the downgrade is: the reason, or NULL */
};

struct compiled_output {
	char *alembic_version;     /* NULL when not reported */
	struct compiled_rendering *v;
	size_t n, alloc;
	char *fatal;               /* the renderer gave up: why; NULL otherwise */
	int complete;              /* the final "end" record was seen */
};

/* Parse the renderer's record file (len bytes).  A malformed record is
 * ERR_FAILED naming its offset.  Release with compiled_output_release(). */
int compiled_parse_output(const char *buf, size_t len, struct compiled_output *o,
			  struct err *e);
void compiled_output_release(struct compiled_output *o);

/* Whether rendering r can be one revision file, and with which
 * Transactional value: 1 (every statement in the migration's
 * transaction), 0 (Transactional: false: one direction all inside
 * autocommit_block(), the other at most one statement), or -1 when it
 * cannot be said in one file, with *why set (a static string). */
int compiled_transactional(const struct compiled_rendering *r, const char **why);

/* The renderer's Python source (compiled_renderer.c). */
extern const char compiled_renderer_py[];

/* What a compiled file says besides the statements. */
struct compiled_doc {
	const struct revision *py; /* id, down revisions, labels, depends on,
				    * message, create date */
	const char *source;        /* the .py path as written in "-- Source:" */
	const char *sha256;        /* its hex digest */
	const char *compiled_by;   /* "alembic 1.8.1" */
	int transactional;
};

/* The text of a compiled revision file for rendering r (new string).  Each
 * statement is followed by ";" (on a line of its own after a line comment)
 * and a blank line. */
char *compiled_text(const struct compiled_doc *d, const struct compiled_rendering *r);

#endif
