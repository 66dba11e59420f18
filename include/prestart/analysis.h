/* analysis.h - what each statement of a revision does (SPEC §9.1).  Pure: no
 * I/O; PostgreSQL text goes through PostgreSQL's own parser (libpg_query,
 * PostgreSQL 15 grammar), SQLite text through a token-level reading.
 *
 * For each statement: the tables it touches, the strongest lock it takes
 * on each (PostgreSQL's table-lock levels, per command and ALTER TABLE
 * subcommand: several subcommands take the strongest), whether it
 * rewrites a table, scans one under that lock, or only changes the
 * catalog; its class (expand < contract < data-loss); and the facts the
 * lint rules judge (lint.h), each naming its table and column.
 *
 * What the analysis cannot know without the live catalog it says so:
 * a column's current type is taken from `known` when the caller has it
 * (lint keeps the project's own CREATE TABLE / ADD COLUMN history), and a
 * default calling a function it does not know is taken as volatile, as
 * CREATE FUNCTION's default is.
 */
#ifndef PRESTART_ANALYSIS_H
#define PRESTART_ANALYSIS_H

#include "prestart/util.h"

/* PostgreSQL's table-level lock modes, weakest first. */
enum an_lock {
	AN_LOCK_NONE = 0,
	AN_ACCESS_SHARE,
	AN_ROW_SHARE,
	AN_ROW_EXCLUSIVE,
	AN_SHARE_UPDATE_EXCLUSIVE,
	AN_SHARE,
	AN_SHARE_ROW_EXCLUSIVE,
	AN_EXCLUSIVE,
	AN_ACCESS_EXCLUSIVE
};

/* What happens to the table's data, least first. */
enum an_effect { AN_CATALOG = 0, AN_SCAN, AN_REWRITE };

enum an_class { AN_EXPAND = 0, AN_CONTRACT, AN_DATA_LOSS };

/* Facts the rules judge.  `table` is the table (schema-qualified as
 * written), `name` the column, index or constraint, `detail` the function,
 * type or option that matters. */
enum an_fact_kind {
	AF_CREATE_TABLE,        /* table created (exempts it from lock rules) */
	AF_CREATE_INDEX,        /* CREATE INDEX without CONCURRENTLY */
	AF_CREATE_INDEX_CONC,   /* CREATE INDEX CONCURRENTLY */
	AF_DROP_INDEX,          /* DROP INDEX without CONCURRENTLY; name = index */
	AF_DROP_INDEX_CONC,     /* DROP INDEX CONCURRENTLY */
	AF_REINDEX,             /* REINDEX without CONCURRENTLY; detail = INDEX, TABLE or SCHEMA */
	AF_REINDEX_CONC,
	AF_FK_VALIDATING,       /* FOREIGN KEY added without NOT VALID */
	AF_CHECK_VALIDATING,    /* CHECK added without NOT VALID; detail = expression */
	AF_CHECK_NOT_VALID,     /* CHECK ... NOT VALID; detail = "col IS NOT NULL" when it is */
	AF_VALIDATE,            /* VALIDATE CONSTRAINT name */
	AF_ADD_UNIQUE,          /* UNIQUE constraint built in place */
	AF_ADD_PRIMARY_KEY,     /* PRIMARY KEY built in place */
	AF_ADD_KEY_USING_INDEX, /* UNIQUE / PRIMARY KEY USING INDEX */
	AF_SET_NOT_NULL,
	AF_ADD_COLUMN,
	AF_ADD_COLUMN_NOT_NULL, /* NOT NULL and no default */
	AF_VOLATILE_DEFAULT,    /* ADD COLUMN whose default is volatile: detail = function */
	AF_TYPE_CHANGE,         /* ALTER COLUMN TYPE that rewrites; detail = new type */
	AF_TYPE_CHANGE_SAFE,    /* ... that is binary-coercible: catalog only */
	AF_DROP_COLUMN,
	AF_DROP_TABLE,
	AF_TRUNCATE,
	AF_DELETE_ALL,          /* DELETE without WHERE */
	AF_UPDATE_ALL,          /* UPDATE without WHERE */
	AF_DML,                 /* INSERT, UPDATE, DELETE, MERGE, COPY FROM */
	AF_RENAME_COLUMN,
	AF_RENAME_TABLE,
	AF_VACUUM_FULL,         /* table = the first one named, if any */
	AF_CLUSTER,
	AF_LONG_IDENT,          /* name over 63 bytes: PostgreSQL truncates it */
	AF_TX_CONTROL,          /* BEGIN / COMMIT / ROLLBACK inside the revision */
	AF_NOT_ANALYSED         /* detail = why (DO with procedural code, ...) */
};

struct an_fact {
	enum an_fact_kind kind;
	char *table, *name, *detail; /* each may be NULL */
	/* The SQL a safe alternative is rebuilt from, or NULL: an index's
	 * definition after its table as written, "(customer_id) WHERE ..."
	 * (AF_CREATE_INDEX*); the key columns of
	 * AF_ADD_UNIQUE / AF_ADD_PRIMARY_KEY; a foreign key's
	 * "(cols) REFERENCES table (cols)"; a CHECK's expression as written
	 * (AF_CHECK_VALIDATING); the new column's type (AF_VOLATILE_DEFAULT). */
	char *spec;
};

struct an_table {
	char *name;
	enum an_lock lock;
	enum an_effect effect;
};

struct an_stmt {
	size_t off, len;       /* the statement in the text */
	int unparsed;          /* the PostgreSQL 15 grammar refused it: token level */
	char *unparsed_why;    /* the parser's message when unparsed */
	enum an_class cls;
	struct an_table *tables;
	size_t ntables;
	struct an_fact *facts;
	size_t nfacts;
};

struct an_script {
	struct an_stmt *v;
	size_t n;
	enum an_class cls; /* the strongest of its statements' */
};

/* Column types the caller knows ("table.column" -> "varchar(20)"), for
 * judging ALTER COLUMN TYPE; may be NULL. */
struct an_known {
	const char *(*type_of)(void *arg, const char *table, const char *column);
	void *arg;
};

/* Column types learnt from the scripts analysed so far, in the order they
 * run: what an_known asks for when the caller has no better source.
 * analysis_types_known() gives the an_known reading it (valid while t
 * lives); analysis_types_release() frees it. */
struct an_types {
	struct strlist keys;  /* "table.column" */
	struct strlist types; /* its type, same index */
};
void analysis_types_learn(struct an_types *t, const struct an_script *s);
struct an_known analysis_types_known(struct an_types *t);
void analysis_types_release(struct an_types *t);

/* Analyse a PostgreSQL script statement by statement.  Fails (ERR_SCRIPT,
 * *err_off set) only when the text does not split (an unterminated quote);
 * a statement the grammar refuses is kept, marked unparsed, with the facts
 * its tokens show.  Release with analysis_release(), also after failure. */
int analysis_pg(const char *sql, const struct an_known *known, struct an_script *out,
		size_t *err_off, struct err *e);
/* The same for SQLite: token level (drops, renames, DML). */
int analysis_sqlite(const char *sql, struct an_script *out, size_t *err_off, struct err *e);
void analysis_release(struct an_script *s);

/* Is changing a column from type `from` (NULL: unknown) to `to`, both as
 * the analysis writes them ("varchar(20)", "numeric(10,2)", "int4"),
 * catalog only: binary-coercible and widening?  An unknown source counts
 * as text-like when the target is text or an unbounded varchar. */
int analysis_type_change_free(const char *from, const char *to);

/* The strongest lock a script takes on `table` (AN_LOCK_NONE if none). */
enum an_lock analysis_lock_on(const struct an_script *s, const char *table);

/* One statement on one line, for people: each table it locks with the
 * lock and effect, then its class, "unparsed" when the grammar refused it
 * and "not analysed: why" for a DO block it could not read:
 * "ACCESS EXCLUSIVE on orders (rewrite), contract"; "no table lock,
 * expand" when it locks no table.  Caller frees. */
char *analysis_describe_stmt(const struct an_stmt *st);

/* A name as the analysis records it ("schema.table", "col"), each part
 * quoted where PostgreSQL needs it (caller frees). */
char *analysis_quote_name(const char *dotted);

const char *analysis_lock_name(enum an_lock l);     /* "ACCESS EXCLUSIVE" */
const char *analysis_effect_name(enum an_effect f); /* "rewrite", "scan", "catalog" */
const char *analysis_class_name(enum an_class c);   /* "expand", "contract", "data-loss" */

#endif
