/* archive.h - data kept on drops (SPEC §9.3), PostgreSQL only.
 *
 * Before a `data-loss` statement (analysis.h: DROP COLUMN, DROP TABLE,
 * TRUNCATE) runs, in its transaction, what it destroys is copied into the
 * ledger schema:
 *
 *   <schema>.prestart_archive_<id>   DROP COLUMN: the primary key columns
 *                                    and the dropped column; DROP TABLE and
 *                                    TRUNCATE: the whole table.  Owned by
 *                                    the migrating role, no privilege for
 *                                    anyone else (it holds the
 *                                    application's data, personal data
 *                                    included).
 *   <schema>.archives                one row per archive: id, version
 *                                    table, revision, direction, table,
 *                                    kind (column or table), columns,
 *                                    primary key columns, archive table,
 *                                    rows, bytes, created_at.
 *
 * Both are written in the statement's transaction: a run that dies
 * leaves neither (a `Transactional: false` revision archives in a
 * transaction of its own, committed before the statement runs).  A
 * downgrade of the revision puts the values back after its SQL recreated
 * the column or table, by primary key, and drops the archive; a table
 * without a primary key is archived, never restored automatically.
 * `-- prestart:no-archive REASON` on the line before a statement (before
 * the first one: the whole section) skips it.
 */
#ifndef PRESTART_ARCHIVE_H
#define PRESTART_ARCHIVE_H

#include "prestart/analysis.h"
#include "prestart/archive_scan.h"
#include "prestart/db.h"
#include "prestart/plan.h"
#include "prestart/util.h"

struct archive {
	const char *schema;  /* the ledger schema (borrowed) */
	char *version_table; /* "schema.table" or "table" (owned) */
	long long limit;     /* bytes: a larger copy is not made (a warning) */
	long long retention_ms; /* 0: kept until restored */
	/* Where the limit and the guard policy were set, as the over-limit
	 * messages name them (config.h's archive_limit_from, guard_from;
	 * borrowed), or NULL (the default; archive_init's). */
	const char *limit_from, *guard_from;
};

void archive_init(struct archive *a, const char *schema, const char *vt_schema,
		  const char *vt_table, long long limit, long long retention_ms);
void archive_release(struct archive *a);

/* Archive what statement `stmt` of p is about to destroy, in the caller's
 * transaction (the archive list created when missing).  Over the limit:
 * a warning naming the table and its size, nothing copied.  0, or -1
 * with e (ERR_FAILED) and db->dberr. */
int archive_take(const struct archive *a, struct db *db, const struct archive_plan *p,
		 size_t stmt, const char *rev, int upgrade, struct err *e);

/* Before anything of plan p runs (the deploy-time guard's moment, SPEC
 * §9.3): each data-loss statement whose copy would be over the limit (a
 * table that exists now, its size estimated as archive_take does) makes
 * an ERR_SCRIPT refusal naming the revision, file:line, table and size,
 * and the ways to accept it (a no-archive comment, a larger limit, --guard
 * warn).  A no-archive comment without a reason is refused here too.
 * 0, or -1 with e. */
int archive_precheck(const struct archive *a, struct db *db, const struct plan *p,
		     struct err *e);

/* After the downgrade SQL of rev ran, in its transaction: put back the
 * values of rev's upgrade archives, newest first, and drop them.  What
 * cannot be put back (no primary key, the column not recreated, a type
 * that does not convert) is said in the log with the archive's name and
 * kept.  0, or -1 with e when the transaction cannot go on. */
int archive_restore(const struct archive *a, struct db *db, const char *rev, struct err *e);

/* Drop this version table's archives older than the retention, in a
 * transaction of their own (the caller holds the migration lock).
 * 0, or -1 with e. */
int archive_prune(const struct archive *a, struct db *db, struct err *e);
/* Does the archive list exist (*exists)?  A run over many tenants asks
 * once: without a list there is nothing old to prune.  0, or -1 with
 * db's error. */
int archive_list_exists(const struct archive *a, struct db *db, int *exists);

struct archive_row {
	long long id, rows, bytes, age_s;
	char *revision, *direction, *table, *kind, *columns, *archive_table, *created_at;
	int keyed; /* has primary key columns: restorable */
};

struct archive_rows {
	struct archive_row *v;
	size_t n;
};

/* Every archive of this version table, oldest first (none when the list
 * does not exist).  0, or -1 with e. */
int archive_list(const struct archive *a, struct db *db, struct archive_rows *out,
		 struct err *e);
void archive_rows_release(struct archive_rows *r);

#endif
