/* offline.h - SQL text written without a database: the script of an
 * offline (`--sql`) upgrade, downgrade or stamp, and new revision files
 * (`revision`, `merge`).  Pure: no I/O.
 *
 * Offline scripts say exactly what the online run would execute (migrate.h):
 * the same transaction boundaries, the same version-table statements
 * (db_sql_version_op, which is Alembic's --sql text), each statement of a
 * section on its own and terminated by ";", and a "-- Running upgrade a -> b"
 * comment per step as Alembic writes it, so that the output can be fed as
 * is to psql or sqlite3.
 */
#ifndef PRESTART_OFFLINE_H
#define PRESTART_OFFLINE_H

#include "prestart/dburl.h"
#include "prestart/plan.h"
#include "prestart/util.h"

struct offline_opts {
	enum db_kind kind;   /* dialect, from the URL's scheme */
	const char *schema;  /* version table schema, or NULL */
	const char *table;   /* version table name */
	int per_migration;   /* one transaction per revision */
	int annotate;        /* PostgreSQL: a "-- prestart: LOCK on TABLE (effect), class"
			      * comment before each statement of a revision (SPEC §9.1) */
};

/* Append the SQL script of plan p to *out.  Starting from no heads it
 * creates the version table first; ending with none it drops it at the end
 * (Alembic's offline behaviour).  Transactions: BEGIN/COMMIT around the
 * whole run, or around each revision with per_migration; a
 * `Transactional: false` revision commits what came before, runs outside
 * any transaction, and records itself in a transaction of its own.  Both
 * dialects get transactions, because the online run uses them on SQLite
 * too.  Errors (ERR_SCRIPT): a step whose revision has no section for its
 * direction ("path: revision x has no downgrade section"), a section that
 * does not split ("path:line:col: unterminated ...").  On error *out may
 * hold part of the script. */
int offline_render(const struct plan *p, const struct offline_opts *o, struct sbuf *out,
		   struct err *e);

/* Alembic's file-name slug of a revision message: the runs of
 * [A-Za-z0-9_] joined by "_", lower-cased (bytes outside ASCII are dropped),
 * and when longer than `max`, cut to `max` and back to the last "_" with a
 * "_" appended (script/base.py _rev_path).  New string; "" for NULL. */
char *offline_slug(const char *message, size_t max);

/* Fields of a new SQL revision file. */
struct offline_revision {
	const char *id;
	const struct strlist *down;     /* Revises (empty: a new base) */
	const char *create_date;
	const char *message;            /* NULL: "empty message", as Alembic */
	const struct strlist *labels;   /* may be NULL */
	const struct strlist *depends;  /* may be NULL */
	const char *compat;             /* "breaking" adds `-- Compat: breaking`; NULL: none */
	const char *phase;              /* "expand"/"contract" adds `-- Phase: ...`; NULL: none */
};

/* The text of a new SQL revision file (SPEC §3.1): the header, then empty
 * `-- +upgrade` and `-- +downgrade` sections.  Line breaks in the message
 * become blanks so the header stays one line per key.  New string. */
char *offline_revision_text(const struct offline_revision *r);

#endif
