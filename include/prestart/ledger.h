/* ledger.h - what ran, when, by whom, and how to undo it (SPEC §7.3).
 *
 * Beside the version table (which stays exactly Alembic's) prestart keeps
 * one row per applied revision and version table:
 *
 *   PostgreSQL  <ledger_schema>.history   (default schema "prestart")
 *   SQLite      <version_table>_history   (beside the version table)
 *
 *   version_table     the version table the row belongs to: "schema.table"
 *                     (on PostgreSQL without a configured schema, the one
 *                     search_path finds; bare "table" for public)
 *   revision          the revision id
 *   down_revisions    its Revises, comma-separated ("" for a base)
 *   checksum          ledger_checksum() of the upgrade text, or NULL
 *   downgrade_sql     the downgrade section, or NULL (delegated .py); a
 *                     `Transactional: false` revision's begins with the
 *                     line LEDGER_NONTX_MARK, so that rollback runs it
 *                     outside a transaction as the upgrade ran
 *   compat            "breaking" (marked), else the revision's class
 *                     when it ran (SPEC §9.4): "contract" or "expand";
 *                     NULL in rows written before classes were kept
 *   applied_at        text timestamp, UTC
 *   duration_ms       how long the upgrade took
 *   lock_hold_ms      how long it held ACCESS EXCLUSIVE (SPEC §9.3): from
 *                     its first statement that takes it to the row's
 *                     write, just before its commit; 0 for none; NULL
 *                     when not measured (SQLite, .py run by Alembic, and
 *                     rows older than the column)
 *   applied_by        "<application_name> <host>"
 *   prestart_version
 *
 * Rows are written and removed by migrate.c in the transaction that writes
 * the version table, so both survive or vanish together.  Alembic never
 * reads the ledger; revisions it applies on its own have no row.  Those
 * prestart hands to Alembic (delegated .py revisions) get theirs in a
 * transaction of their own, one commit after Alembic's
 * (ctx_ledger_delegated): a crash in between leaves them "not proven".
 */
#ifndef PRESTART_LEDGER_H
#define PRESTART_LEDGER_H

#include "prestart/db.h"
#include "prestart/graph.h"
#include "prestart/script.h"

#define LEDGER_DEFAULT_SCHEMA "prestart"
#define LEDGER_NONTX_MARK "-- Transactional: false\n"

/* Where the ledger lives, and whether it is in use (on = 0 after a failed
 * ledger_prepare: one warning, then the run goes on without it). */
/* The compat column's value per revision, kept from one row to the next
 * (a run over many tenants records the same revisions again and again):
 * one per thread, zeroed to start, ledger_compat_release at the end. */
struct ledger_compat {
	struct ledger_compat_of {
		const struct revision *rev;
		const char *v;
	} *v;
	size_t n, a;
};

void ledger_compat_release(struct ledger_compat *lc);

struct ledger {
	int on;
	enum db_kind kind;
	const struct db_ops *drv; /* kind's driver: its bits and SQL dialect */
	const char *schema;    /* PostgreSQL ledger schema (borrowed) */
	const char *vt_schema; /* version table schema, or NULL (borrowed) */
	const char *vt_table;  /* version table (borrowed) */
	char *applied_by;      /* owned: ledger_release() */
	/* Set by ledger_prepare or ledger_read when the ledger table is not
	 * one prestart may use (db_table_trusted): the run must stop (exit
	 * 2), not go on without it. */
	int refused;
	/* Set by ledger_prepare when it created the table (ledger_undo_create). */
	int created;
	/* Set by ledger_prepare when the table has lock_hold_ms: a table
	 * made before the column gets it then (ALTER TABLE ... ADD COLUMN,
	 * nullable: catalog only); one the role cannot alter is written
	 * without it. */
	int hold_col;
	/* Set by the caller before ledger_read: read lock_hold_ms too, when
	 * the table has it (a table of an older prestart does not: its rows
	 * read without it). */
	int read_hold;
	/* NULL, or where ledger_record keeps each revision's compat value
	 * (set by the caller, on its own copy of the struct). */
	struct ledger_compat *compat;
};

/* One ledger row; strings owned (ledger_rows_release). */
struct ledger_row {
	char *revision;
	struct strlist down;
	char *checksum;      /* NULL: none recorded */
	char *downgrade_sql; /* NULL: none archived (LEDGER_NONTX_MARK taken off) */
	int breaking;
	int contract;        /* compat "contract": its class when it ran */
	int transactional;   /* 0: the revision ran outside a transaction */
	char *applied_at;
	long long duration_ms;
	char *applied_by;
	char *prestart_version;
	long long lock_hold_ms; /* -1: not recorded (older row or table, not measured) */
};

struct ledger_rows {
	struct ledger_row *v;
	size_t n, alloc;
};

/* After a run that failed: drop the table ledger_prepare created in it
 * when it holds no row, so that a failed first migration leaves nothing
 * behind.  Best effort: errors are cleared. */
void ledger_undo_create(struct ledger *l, struct db *db);

/* Fill l (on = 1) for a version table; applied_by is computed here. */
void ledger_init(struct ledger *l, enum db_kind kind, const char *ledger_schema,
		 const char *vt_schema, const char *vt_table);
void ledger_release(struct ledger *l);

/* SHA-256 of data as 64 lower-case hex digits and a NUL. Pure. */
void ledger_sha256_hex(const void *data, size_t len, char out[65]);
/* The checksum of an upgrade text: SHA-256 of the text with a UTF-8 BOM,
 * CR before LF, blanks at line ends, `--` and C-style comments (outside
 * quotes) and blank lines taken out, so only a changed statement changes
 * it.  NULL text: "" (out[0] = 0). Pure. */
void ledger_checksum(const char *text, char out[65]);
/* Make the ledger table when missing, outside any transaction (its
 * failure must not abort a migration's).  On failure log one warning and
 * set l->on = 0; the return is always 0 except for a lost connection
 * (-1) and a table prestart may not use (db_table_trusted: -1,
 * l->refused set, db->errstr saying why and what to do). */
int ledger_prepare(struct ledger *l, struct db *db);

/* Inside the caller's transaction: record rev as applied (replacing any
 * row for it), or remove its row after a downgrade.  rev NULL (a stamp):
 * nothing.  No-op when !l->on.  lock_hold_ms < 0: not measured (NULL).
 * 0 or -1 with db->errstr. */
int ledger_record(const struct ledger *l, struct db *db, const struct revision *rev,
		  int upgrade, long long duration_ms, long long lock_hold_ms);
/* Remove the row of one revision id (rollback). */
int ledger_forget(const struct ledger *l, struct db *db, const char *rev);

/* Read every row of this version table (none when the table does not
 * exist or l->on is 0).  Outside a transaction (PostgreSQL) or inside one
 * that may survive a missing table (SQLite): the existence test comes
 * first, and on PostgreSQL the table must be one prestart may use (else
 * -1 with l->refused set).  0 or -1 with db->errstr. */
int ledger_read(struct ledger *l, struct db *db, struct ledger_rows *rows);
void ledger_rows_release(struct ledger_rows *rows);
/* Only the revision and checksum of the rows with a checksum: what a
 * restart at head compares (ledger_check_checksums), as ledger_read reads
 * it, without the rest of each row.  0 or -1 with db->errstr. */
int ledger_read_sums(struct ledger *l, struct db *db, struct ledger_rows *rows);
/* One row as ledger_read's query returns it: each field "<n>:<text>" or
 * "-" (NULL), then " <duration_ms>".  n counts what the client received:
 * bytes, or characters for an engine with DB_TEXT_LENGTH_IN_CHARS, so the
 * text is the same bytes whatever the database's encoding.  0 and *r filled (free
 * with ledger_row_release), or -1 and *r empty for a malformed row. Pure. */
int ledger_row_parse(enum db_kind kind, const char *text, struct ledger_row *r);
void ledger_row_release(struct ledger_row *r);
const struct ledger_row *ledger_rows_find(const struct ledger_rows *rows, const char *rev);
/* The rows by revision, for walks that look many up (ledger_rows_find
 * is linear): ledger_index_find answers as ledger_rows_find does (the
 * first row of rev), in constant time; a zeroed index finds nothing.  The
 * index borrows rows, which must outlive it; ledger_index_free frees the
 * index only. */
struct ledger_index {
	const struct ledger_rows *rows;
	struct strmap row_of; /* revision -> index of its first row */
};
void ledger_index_init(struct ledger_index *ix, const struct ledger_rows *rows);
const struct ledger_row *ledger_index_find(const struct ledger_index *ix, const char *rev);
void ledger_index_free(struct ledger_index *ix);

/* The verdict on a version table that holds revisions the scripts do not
 * know (a rollback of the image, SPEC §7.3). */
struct ledger_ahead {
	struct strlist unknown; /* every unknown revision found, newest first */
	struct strlist breaking;    /* those marked breaking */
	struct strlist contract;    /* those recorded as contract (not marked
				     * breaking): SPEC §9.4 */
	struct strlist unproven;    /* unknown revisions with no ledger row */
	struct strlist no_downgrade; /* rows without archived downgrade SQL */
	struct strlist cycle;       /* where their rows' down revisions loop */
	struct strlist unrooted;    /* unknown revisions whose ledger chain
				     * reaches no revision the scripts know
				     * (filled when unproven and cycle
				     * are empty) */
	int proven;             /* every unknown one descends from known ones
				 * through ledger rows, none is breaking or
				 * contract and
				 * the rows form no cycle */
	char *explain;          /* one line: names, why, what undoes them */
};

/* Judge the heads of a version table against graph g with the ledger
 * rows: fills *a (ledger_ahead_release).  No unknown heads: a->unknown
 * empty, proven 1.  Linear in the rows and the graph, whatever they hold.  Pure: the rows were read by the caller.  Called by
 * run (--if-ahead), wait --head, check/upgrade/downgrade (to explain
 * their refusal) and rollback. */
void ledger_judge_ahead(const struct graph *g, const struct strlist *heads,
			const struct ledger_rows *rows, struct ledger_ahead *a);
void ledger_ahead_release(struct ledger_ahead *a);

/* Compare the checksums of applied, known SQL revisions with their files:
 * the paths of the changed ones go to *changed (rows without a checksum
 * are adopted silently). Pure. */
void ledger_check_checksums(const struct graph *g, const struct ledger_rows *rows,
			    struct strlist *changed);

/* The checksums of the applied revisions, read in the version read's own
 * statement (db_probe) where the engine allows it without failing when
 * the ledger does not exist: on PostgreSQL, a SELECT of one text column,
 * rows prefixed LEDGER_SUMS_PREFIX (new string); NULL elsewhere (SQLite:
 * ledger_read_sums costs no round trip) or when the ledger is off. */
#define LEDGER_SUMS_PREFIX " sums "
char *ledger_sums_sql(const struct ledger *l);
/* The rows of ledger_sums_sql's probe, into *rows (revision and checksum
 * set; ledger_rows_release).  Pure. */
void ledger_sums_parse(const struct strlist *raw, struct ledger_rows *rows);

/* "2026-01-02 10:00:00Z in 12 ms by prestart@host" for a row (new
 * string). */
char *ledger_row_describe(const struct ledger_row *r);

#endif
