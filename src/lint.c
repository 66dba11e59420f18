/* lint.c - the rules of `prestart lint` (SPEC §9.2).
 *
 * Divisions, in order: the rules (ids, severity, why, the safe
 * alternative); the state carried between revisions; recording findings;
 * allow comments; one revision.
 */
#include "prestart/lint.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/help.h"
#include "prestart/revision.h"

/* ---- the rules ---- */

const struct lint_rule lint_rules[] = {
	{ "create-index-not-concurrently", LINT_ERROR,
	  "CREATE INDEX holds a SHARE lock on the table for the whole build: every INSERT, "
	  "UPDATE and DELETE waits until the index is built.",
	  "Build it concurrently, in a revision marked `-- Transactional: false` (CONCURRENTLY "
	  "cannot run in a transaction block):\n"
	  "  CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);\n"
	  "A failed concurrent build leaves an INVALID index: DROP INDEX CONCURRENTLY it and "
	  "run again.",
	  "Build it concurrently, in a revision marked `-- Transactional: false` (CONCURRENTLY "
	  "cannot run in a transaction block):\n"
	  "  CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} {spec};\n"
	  "A failed concurrent build leaves an INVALID index: DROP INDEX CONCURRENTLY {index} "
	  "and run again." },
	{ "drop-index-not-concurrently", LINT_WARNING,
	  "DROP INDEX takes ACCESS EXCLUSIVE on the index's table: it waits behind every "
	  "running query on the table and blocks all new ones, reads included, while it waits.",
	  "In a revision marked `-- Transactional: false`:\n"
	  "  DROP INDEX CONCURRENTLY IF EXISTS orders_customer_id_idx;",
	  "In a revision marked `-- Transactional: false`:\n"
	  "  DROP INDEX CONCURRENTLY IF EXISTS {name};" },
	{ "concurrently-in-transaction", LINT_ERROR,
	  "CREATE INDEX CONCURRENTLY, DROP INDEX CONCURRENTLY and REINDEX CONCURRENTLY cannot "
	  "run inside a transaction block: PostgreSQL refuses the statement and the revision "
	  "fails.",
	  "Give the statement a revision of its own marked `-- Transactional: false`; prestart "
	  "runs it outside any transaction, statement by statement:\n"
	  "  -- Transactional: false\n"
	  "  CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);",
	  "Give the statement a revision of its own marked `-- Transactional: false`; prestart "
	  "runs it outside any transaction, statement by statement:\n"
	  "  -- Transactional: false\n"
	  "  {concurrent};" },
	{ "foreign-key-without-not-valid", LINT_ERROR,
	  "Adding a FOREIGN KEY checks every existing row while holding SHARE ROW EXCLUSIVE on "
	  "both tables: writes to both wait for the whole scan.",
	  "Add it NOT VALID (catalog only; new rows are checked at once), then validate it in a "
	  "later statement, which takes SHARE UPDATE EXCLUSIVE and lets reads and writes go on:\n"
	  "  ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey\n"
	  "    FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n"
	  "  ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey;",
	  "Add it NOT VALID (catalog only; new rows are checked at once), then validate it in a "
	  "later statement, which takes SHARE UPDATE EXCLUSIVE and lets reads and writes go on:\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {fkey}\n"
	  "    FOREIGN KEY {spec} NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {fkey};" },
	{ "check-without-not-valid", LINT_ERROR,
	  "Adding a CHECK constraint scans the whole table under ACCESS EXCLUSIVE: no reads or "
	  "writes until every row is checked.",
	  "Add it NOT VALID, then validate it (SHARE UPDATE EXCLUSIVE: reads and writes go on):\n"
	  "  ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID;\n"
	  "  ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;",
	  "Add it NOT VALID, then validate it (SHARE UPDATE EXCLUSIVE: reads and writes go on):\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({spec}) NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {check};" },
	{ "unique-constraint-without-index", LINT_ERROR,
	  "ADD CONSTRAINT ... UNIQUE builds its index under ACCESS EXCLUSIVE: the table can be "
	  "neither read nor written for the whole build.",
	  "Build the index concurrently (a `-- Transactional: false` revision), then attach it, "
	  "which is catalog only:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n"
	  "  ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;",
	  "Build the index concurrently (a `-- Transactional: false` revision), then attach it, "
	  "which is catalog only:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY {key} ON {table} ({spec});\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {key} UNIQUE USING INDEX {key};" },
	{ "add-primary-key", LINT_ERROR,
	  "ADD PRIMARY KEY builds a unique index under ACCESS EXCLUSIVE, and scans for NULLs "
	  "when the columns are nullable: the table is locked for the whole build.",
	  "Make the column NOT NULL the safe way first (set-not-null), build the index "
	  "concurrently, then attach it:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY events_pkey ON events (id);\n"
	  "  ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_pkey;",
	  "Make the column NOT NULL the safe way first (set-not-null), build the index "
	  "concurrently, then attach it:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY {pkey} ON {table} ({spec});\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {pkey} PRIMARY KEY USING INDEX {pkey};" },
	{ "set-not-null", LINT_ERROR,
	  "SET NOT NULL scans the whole table under ACCESS EXCLUSIVE to prove no NULL is left, "
	  "and the previous application version may still write NULLs.",
	  "On PostgreSQL 12+, prove it with a validated CHECK first; SET NOT NULL then skips "
	  "the scan:\n"
	  "  ALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n"
	  "  ALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\n"
	  "  ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
	  "  ALTER TABLE users DROP CONSTRAINT users_email_not_null;\n"
	  "On PostgreSQL 11 and older keep the validated CHECK instead of SET NOT NULL.",
	  "On PostgreSQL 12+, prove it with a validated CHECK first; SET NOT NULL then skips "
	  "the scan:\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {not_null} CHECK ({column} IS NOT NULL) NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {not_null};\n"
	  "  ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;\n"
	  "  ALTER TABLE {table} DROP CONSTRAINT {not_null};\n"
	  "On PostgreSQL 11 and older keep the validated CHECK instead of SET NOT NULL." },
	{ "not-null-column-without-default", LINT_ERROR,
	  "ADD COLUMN ... NOT NULL without a DEFAULT fails on a table that has rows, and the "
	  "previous application version, which does not know the column, can no longer insert.",
	  "Give it a constant default (PostgreSQL 11+ keeps it in the catalog: no rewrite):\n"
	  "  ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\n"
	  "or add it nullable, backfill in batches, then SET NOT NULL the safe way "
	  "(set-not-null).",
	  "Give it a constant default (PostgreSQL 11+ keeps it in the catalog: no rewrite):\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type} NOT NULL DEFAULT <constant>;\n"
	  "or add it nullable, backfill in batches, then SET NOT NULL the safe way "
	  "(set-not-null):\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type};" },
	{ "volatile-default", LINT_ERROR,
	  "A volatile default (gen_random_uuid(), clock_timestamp(), random(), a serial's "
	  "nextval(), an identity or stored generated column) is computed for every existing "
	  "row: the table is rewritten under ACCESS EXCLUSIVE. Constants and stable functions "
	  "such as now() are catalog only on PostgreSQL 11+.",
	  "Add the column without the default, give new rows the default, backfill the old ones "
	  "in batches, each its own transaction:\n"
	  "  ALTER TABLE users ADD COLUMN token uuid;\n"
	  "  ALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();\n"
	  "  UPDATE users SET token = gen_random_uuid()\n"
	  "    WHERE id BETWEEN 1 AND 10000 AND token IS NULL;  -- next batch, and so on",
	  "Add the column without the default, give new rows the default, backfill the old ones "
	  "in batches, each its own transaction:\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type};\n"
	  "  ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default};\n"
	  "  UPDATE {table} SET {column} = {default}\n"
	  "    WHERE <key> BETWEEN 1 AND 10000 AND {column} IS NULL;  -- next batch, and so on" },
	{ "change-column-type", LINT_ERROR,
	  "ALTER COLUMN TYPE rewrites the table and every index on it under ACCESS EXCLUSIVE "
	  "(binary-coercible changes such as varchar(n) to text or to a longer varchar are "
	  "exempt), and the previous application version may not handle the new type.",
	  "Add a column of the new type, write both from the application, backfill in batches, "
	  "switch reads, drop the old column in a later release:\n"
	  "  ALTER TABLE orders ADD COLUMN total_cents bigint;\n"
	  "  UPDATE orders SET total_cents = total * 100 WHERE id BETWEEN 1 AND 10000;  -- per batch\n"
	  "To lift a length limit, change to text or a longer varchar: catalog only.",
	  "Add a column of the new type, write both from the application, backfill in batches, "
	  "switch reads, drop the old column in a later release:\n"
	  "  ALTER TABLE {table} ADD COLUMN {new_column} {detail};\n"
	  "  UPDATE {table} SET {new_column} = {column}::{detail}\n"
	  "    WHERE <key> BETWEEN 1 AND 10000;  -- per batch\n"
	  "To lift a length limit, change to text or a longer varchar: catalog only." },
	{ "drop-column", LINT_ERROR,
	  "DROP COLUMN destroys the column's data, and the previous application version still "
	  "selects and inserts it: its queries fail as soon as the column is gone.",
	  "Stop using the column in one release (SQLAlchemy: take it out of the model), drop it "
	  "in a later revision (the contract phase), accepted with `-- prestart:allow "
	  "drop-column REASON`. On PostgreSQL prestart keeps the values for a downgrade "
	  "(`prestart archives`); a copy of your own:\n"
	  "  CREATE TABLE users_fax_archive AS SELECT id, fax FROM users;\n"
	  "  ALTER TABLE users DROP COLUMN fax;",
	  "Stop using the column in one release (SQLAlchemy: take it out of the model), drop it "
	  "in a later revision (the contract phase), accepted with `-- prestart:allow "
	  "drop-column REASON`. On PostgreSQL prestart keeps the values for a downgrade "
	  "(`prestart archives`); a copy of your own:\n"
	  "  CREATE TABLE {archive} AS SELECT <key>, {column} FROM {table};\n"
	  "  ALTER TABLE {table} DROP COLUMN {column};" },
	{ "drop-table", LINT_ERROR,
	  "DROP TABLE destroys the table's data; the previous application version fails on "
	  "every query that names it.",
	  "Stop using the table in one release; for an undo path rename it away first and drop "
	  "it a release later:\n"
	  "  ALTER TABLE legacy_sessions RENAME TO legacy_sessions_deprecated;\n"
	  "  -- a later revision: DROP TABLE legacy_sessions_deprecated;",
	  "Stop using the table in one release; for an undo path rename it away first and drop "
	  "it a release later:\n"
	  "  ALTER TABLE {table} RENAME TO {deprecated};\n"
	  "  -- a later revision: DROP TABLE {deprecated};" },
	{ "truncate-table", LINT_ERROR,
	  "TRUNCATE deletes every row, and takes ACCESS EXCLUSIVE while it does.",
	  "If the rows must go, delete them in batches (row locks only):\n"
	  "  DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log LIMIT 10000);  -- repeat",
	  "If the rows must go, delete them in batches (row locks only):\n"
	  "  DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT 10000);  -- repeat" },
	{ "delete-without-where", LINT_ERROR,
	  "DELETE without WHERE removes every row of the table.",
	  "Say which rows go, in batches for a large table:\n"
	  "  DELETE FROM sessions WHERE expires_at < now() - interval '30 days';",
	  "Say which rows go, in batches for a large table:\n"
	  "  DELETE FROM {table} WHERE <condition>;" },
	{ "rename-column", LINT_ERROR,
	  "RENAME COLUMN breaks the previous application version, which still uses the old "
	  "name, for the whole rollout.",
	  "Expand and contract: add the new column, write both, backfill, switch reads, drop "
	  "the old one a release later:\n"
	  "  ALTER TABLE users ADD COLUMN full_name text;\n"
	  "  UPDATE users SET full_name = name WHERE id BETWEEN 1 AND 10000;  -- per batch\n"
	  "  -- a later revision: ALTER TABLE users DROP COLUMN name;",
	  "Expand and contract: add the new column, write both, backfill, switch reads, drop "
	  "the old one a release later:\n"
	  "  ALTER TABLE {table} ADD COLUMN {new} <type>;\n"
	  "  UPDATE {table} SET {new} = {column} WHERE <key> BETWEEN 1 AND 10000;  -- per batch\n"
	  "  -- a later revision: ALTER TABLE {table} DROP COLUMN {column};" },
	{ "rename-table", LINT_ERROR,
	  "RENAME TABLE breaks the previous application version, which still uses the old "
	  "name, for the whole rollout.",
	  "Rename, and keep the old name working for one release with a view (a simple view "
	  "is updatable):\n"
	  "  ALTER TABLE customers RENAME TO accounts;\n"
	  "  CREATE VIEW customers AS SELECT * FROM accounts;\n"
	  "  -- a later revision: DROP VIEW customers;",
	  "Rename, and keep the old name working for one release with a view (a simple view "
	  "is updatable):\n"
	  "  ALTER TABLE {table} RENAME TO {new};\n"
	  "  CREATE VIEW {table} AS SELECT * FROM {new};\n"
	  "  -- a later revision: DROP VIEW {table};" },
	{ "drop-add-same-table", LINT_ERROR,
	  "A DROP COLUMN and an ADD COLUMN on one table in one revision is what autogenerate "
	  "writes for a renamed column: the data is dropped and the new column starts empty.",
	  "If it is a rename, write it as one:\n"
	  "  ALTER TABLE users RENAME COLUMN name TO full_name;\n"
	  "(a contract change: see rename-column). If both changes are meant, accept with "
	  "`-- prestart:allow drop-add-same-table REASON`.",
	  "If it is a rename, write it as one:\n"
	  "  ALTER TABLE {table} RENAME COLUMN <old> TO <new>;\n"
	  "(a contract change: see rename-column). If both changes are meant, accept with "
	  "`-- prestart:allow drop-add-same-table REASON`." },
	{ "several-tables-access-exclusive", LINT_WARNING,
	  "One transaction takes ACCESS EXCLUSIVE on several existing tables and holds every "
	  "lock until COMMIT: it waits behind the queries on all of them, blocks them all, and "
	  "may take its locks in another order than the application (deadlocks).",
	  "One table's ACCESS EXCLUSIVE changes per revision (with --transaction-per-migration "
	  "each commits on its own), each short, the wait bounded by --ddl-lock-timeout:\n"
	  "  ALTER TABLE orders ADD COLUMN note text;   -- revision 1\n"
	  "  ALTER TABLE invoices ADD COLUMN note text; -- revision 2",
	  "One table's ACCESS EXCLUSIVE changes per revision (with --transaction-per-migration "
	  "each commits on its own), each short, the wait bounded by --ddl-lock-timeout:\n"
	  "  -- revision 1: the changes to {table}\n"
	  "  -- revision 2: the changes to {name}" },
	{ "backfill-in-ddl-transaction", LINT_WARNING,
	  "A data change runs in the transaction that took ACCESS EXCLUSIVE on the same table: "
	  "the table stays locked, reads included, for as long as the backfill takes.",
	  "Commit the DDL first; backfill in a later revision marked `-- Transactional: false`, "
	  "in batches that each commit:\n"
	  "  UPDATE orders SET status = 'new' WHERE id BETWEEN 1 AND 10000 AND status IS NULL;",
	  "Commit the DDL first; backfill in a later revision marked `-- Transactional: false`, "
	  "in batches that each commit:\n"
	  "  -- revision 1: the DDL on {table}\n"
	  "  -- revision 2 (`-- Transactional: false`): the {detail} on {table},\n"
	  "  --   WHERE <key> BETWEEN 1 AND 10000, then the next batch, each its own statement" },
	{ "vacuum-full", LINT_ERROR,
	  "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE: no reads or writes until it "
	  "ends.",
	  "Plain VACUUM takes no lock against reads or writes; to give space back online use "
	  "the pg_repack extension:\n"
	  "  VACUUM (ANALYZE) orders;",
	  "Plain VACUUM takes no lock against reads or writes; to give space back online use "
	  "the pg_repack extension:\n"
	  "  VACUUM (ANALYZE) {table};" },
	{ "cluster", LINT_ERROR,
	  "CLUSTER rewrites the table under ACCESS EXCLUSIVE: no reads or writes until it ends.",
	  "Reorder online with pg_repack (--order-by), or leave the physical order alone and "
	  "build the index the queries need:\n"
	  "  CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);",
	  "Reorder online with pg_repack (--order-by), or leave the physical order alone and "
	  "build the index the queries need:\n"
	  "  pg_repack --table {table} --order-by <columns>" },
	{ "reindex-not-concurrently", LINT_ERROR,
	  "REINDEX blocks writes to the table (SHARE) and locks the index against the queries "
	  "that use it, for the whole build.",
	  "On PostgreSQL 12+, in a revision marked `-- Transactional: false`:\n"
	  "  REINDEX INDEX CONCURRENTLY orders_customer_id_idx;",
	  "On PostgreSQL 12+, in a revision marked `-- Transactional: false`:\n"
	  "  REINDEX {reindex} CONCURRENTLY {table};" },
	{ "identifier-too-long", LINT_ERROR,
	  "PostgreSQL cuts identifiers to 63 bytes with only a NOTICE: the object gets another "
	  "name than the one written, and a later revision or the application that uses the "
	  "full name fails.",
	  "Name it in at most 63 bytes:\n"
	  "  CREATE INDEX CONCURRENTLY ix_orders_cust_created ON orders (customer_id, created_at);",
	  NULL },
	{ "expand-after-contract", LINT_WARNING,
	  "This expand revision descends from a contract revision: with --phase expand it waits "
	  "until the contract phase runs, after the rollout.",
	  "Base it on the last expand revision instead and merge the branches later:\n"
	  "  prestart revision -m \"add note\" --head <last expand revision> --splice",
	  "Base it on the last expand revision instead of contract revision {detail} and merge "
	  "the branches later:\n"
	  "  prestart revision -m \"...\" --head <last expand revision> --splice" },
	{ "phase-expand-override", LINT_WARNING,
	  "The revision is marked `-- Phase: expand`: `--phase expand` applies it while the "
	  "previous application version still runs, although the analysis says a statement "
	  "breaks that version or destroys data.",
	  "Keep the mark only when the previous version does not use what the statement "
	  "changes; otherwise remove it, and the revision waits for the contract phase:\n"
	  "  -- Phase: contract",
	  NULL },
	{ "unparsed-statement", LINT_WARNING,
	  "PostgreSQL 15's grammar cannot parse this statement (newer syntax, or a typo): only "
	  "its leading keywords were read, so locks and rewrites may be missed.",
	  "Check the statement against the server version you run; where PostgreSQL 15 syntax "
	  "exists, use it.",
	  NULL },
	{ "not-analysed", LINT_WARNING,
	  "prestart could not read what this does (a DO block with procedural code, or a .py "
	  "revision without fresh compiled SQL), so no rule could judge it.",
	  "For .py revisions run `prestart compile` (or `prestart lint --compile`); for DO "
	  "blocks, keep DDL outside the block where you can:\n"
	  "  ALTER TABLE orders ADD COLUMN note text;  -- not inside DO $$ ... $$",
	  NULL },
	{ "unmatched-allow", LINT_WARNING,
	  "An allow comment accepts nothing: the rule did not fire on the statement after it, "
	  "or its id is misspelt.",
	  "Remove the comment, or put it on the line right before the statement it is for:\n"
	  "  -- prestart:allow drop-column the column has been unused since release 41",
	  NULL },
	{ "allow-without-reason", LINT_ERROR,
	  "An allow comment must say why the finding is accepted; without a reason it accepts "
	  "nothing.",
	  "  -- prestart:allow drop-column the column has been unused since release 41",
	  NULL },
	{ NULL, 0, NULL, NULL, NULL }
};

const struct lint_rule *lint_rule_find(const char *id)
{
	for (const struct lint_rule *r = lint_rules; r->id; r++)
		if (!strcmp(r->id, id))
			return r;
	return NULL;
}

/* The rule id closest to a misspelt one, or NULL. */
static const char *lint_rule_suggest(const char *id)
{
	const char *ids[sizeof(lint_rules) / sizeof(*lint_rules)];

	for (size_t i = 0; i < sizeof(lint_rules) / sizeof(*lint_rules); i++)
		ids[i] = lint_rules[i].id; /* the last is NULL */
	return help_suggest(id, ids);
}

/* ---- the state carried between revisions ---- */

static size_t map_hash(const char *k)
{
	size_t h = 5381;

	while (*k)
		h = h * 33 + (unsigned char)*k++;
	return h;
}

static size_t map_slot(const struct lint_map *m, const char *key)
{
	size_t i = map_hash(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static const char *map_get(const struct lint_map *m, const char *key)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = map_slot(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

static void map_set(struct lint_map *m, const char *key, const char *val)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct lint_map big = { 0 };

		big.cap = m->cap ? m->cap * 2 : 64;
		big.keys = xcalloc(big.cap, sizeof(*big.keys));
		big.vals = xcalloc(big.cap, sizeof(*big.vals));
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->keys[j])
				continue;
			i = map_slot(&big, m->keys[j]);
			big.keys[i] = m->keys[j];
			big.vals[i] = m->vals[j];
		}
		big.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = big;
	}
	i = map_slot(m, key);
	if (m->keys[i]) {
		free(m->vals[i]);
	} else {
		m->keys[i] = xstrdup(key);
		m->n++;
	}
	m->vals[i] = xstrdup(val);
}

static void map_free(struct lint_map *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->keys[i]);
		free(m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

void lint_state_release(struct lint_state *s)
{
	map_free(&s->cols);
	map_free(&s->notnull);
	map_free(&s->checks);
	map_free(&s->contract);
}

static const char *known_type(void *arg, const char *table, const char *column)
{
	char *key = xasprintf("%s.%s", table, column ? column : "");
	const char *t = map_get(arg, key);

	free(key);
	return t;
}

/* ---- recording findings ---- */

struct rev_ctx {
	const struct lint_input *in;
	const struct an_script *an;
	struct lint_findings *out;
	size_t first;    /* this revision's first finding in out */
	size_t *stmt_of; /* per finding of this revision: its statement (or SIZE_MAX) */
	size_t nstmt_of;
};

static int line_of(const struct lint_input *in, size_t off)
{
	int line, col;

	revision_offset_to_linecol(in->sql, off, in->first_line, &line, &col);
	return line;
}

char *lint_short_statement(const char *s, size_t len)
{
	struct sbuf b = { 0 };
	int blank = 0;

	for (size_t i = 0; i < len && b.len < 160; i++) {
		if (isspace((unsigned char)s[i])) {
			blank = 1;
			continue;
		}
		if (blank && b.len)
			sbuf_addc(&b, ' ');
		blank = 0;
		sbuf_addc(&b, s[i]);
	}
	if (b.len >= 160) {
		/* never half a character: the text goes into JSON */
		utf8_trim_partial(b.buf);
		b.len = strlen(b.buf);
		sbuf_adds(&b, " ...");
	}
	return b.buf ? b.buf : xstrdup("");
}

static void add(struct rev_ctx *r, const char *id, size_t stmt, int line, char *message,
		const struct an_fact *fact)
{
	struct lint_finding *f;

	xgrow((void **)&r->out->v, &r->out->alloc, r->out->n + 1, sizeof(*r->out->v));
	f = &r->out->v[r->out->n++];
	memset(f, 0, sizeof(*f));
	f->rule = lint_rule_find(id);
	f->path = r->in->path;
	f->revision = r->in->revision;
	f->message = message;
	f->instead = lint_render_instead(f->rule, fact);
	if (stmt != SIZE_MAX) {
		const struct an_stmt *st = &r->an->v[stmt];

		f->line = line_of(r->in, st->off);
		f->statement = lint_short_statement(r->in->sql + st->off, st->len);
	} else {
		f->line = line;
	}
	r->stmt_of = xrealloc(r->stmt_of, (r->nstmt_of + 1) * sizeof(*r->stmt_of));
	r->stmt_of[r->nstmt_of++] = stmt;
}

static const char *nz(const char *s)
{
	return s ? s : "?";
}

/* ---- allow comments ---- */

size_t lint_allows(const char *sql, const struct an_script *an, struct lint_allow **out)
{
	static const char mark[] = "-- prestart:allow";
	const char *p = sql;
	size_t n = 0;
	int line = 0;

	*out = NULL;
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *q = p;

		while (q < p + len && (*q == ' ' || *q == '\t'))
			q++;
		if ((size_t)(p + len - q) >= sizeof(mark) - 1 && !strncmp(q, mark, sizeof(mark) - 1) &&
		    (q[sizeof(mark) - 1] == ' ' || q[sizeof(mark) - 1] == '\t')) {
			char *rest = xstrndup(q + sizeof(mark) - 1, (size_t)(p + len - q) - (sizeof(mark) - 1));
			char *s = rest, *ids, *end;
			struct lint_allow *a;
			size_t off = (size_t)(p - sql);

			*out = xrealloc(*out, (n + 1) * sizeof(**out));
			a = &(*out)[n++];
			memset(a, 0, sizeof(*a));
			a->line = line;
			while (*s == ' ' || *s == '\t')
				s++;
			ids = s;
			while (*s && *s != ' ' && *s != '\t')
				s++;
			if (*s)
				*s++ = '\0';
			strlist_split(&a->rules, ids, ",");
			while (*s == ' ' || *s == '\t')
				s++;
			end = s + strlen(s);
			while (end > s && isspace((unsigned char)end[-1]))
				*--end = '\0';
			a->reason = *s ? xstrdup(s) : NULL;
			free(rest);
			a->stmt = SIZE_MAX;
			for (size_t i = 0; i < an->n; i++) {
				if (an->v[i].off > off) {
					a->stmt = i == 0 ? SIZE_MAX : i;
					break;
				}
			}
		}
		line++;
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

static void apply_allows(struct rev_ctx *r)
{
	struct lint_allow *allows;
	size_t na = lint_allows(r->in->sql, r->an, &allows);
	size_t nfound = r->out->n;

	for (size_t i = 0; i < na; i++) {
		struct lint_allow *a = &allows[i];

		if (!a->reason) {
			add(r, "allow-without-reason", SIZE_MAX, r->in->first_line + a->line,
			    xasprintf("allow comment without a reason: it accepts nothing"), NULL);
			a->used = 1;
			continue;
		}
		for (size_t k = r->first; k < nfound; k++) {
			struct lint_finding *f = &r->out->v[k];
			size_t stmt = r->stmt_of[k - r->first];

			if (f->allowed || !strlist_contains(&a->rules, f->rule->id))
				continue;
			if (a->stmt != SIZE_MAX && a->stmt != stmt)
				continue;
			f->allowed = xstrdup(a->reason);
			a->used = 1;
		}
	}
	for (size_t i = 0; i < na; i++) {
		/* a misspelt rule id is named, even beside one that matched */
		for (size_t k = 0; allows[i].reason && k < allows[i].rules.n; k++) {
			const char *id = allows[i].rules.v[k];

			const char *near;

			if (lint_rule_find(id))
				continue;
			near = lint_rule_suggest(id);
			add(r, "unmatched-allow", SIZE_MAX, r->in->first_line + allows[i].line,
			    xasprintf("allow names '%s', which is no rule%s%s%s", id,
				      near ? " (did you mean " : "", near ? near : "",
				      near ? "?)" : ""),
			    NULL);
			allows[i].used = 1; /* said once, not again as matching nothing */
		}
	}
	for (size_t i = 0; i < na; i++) {
		if (!allows[i].used) {
			char *ids = strlist_join(&allows[i].rules, ",");

			add(r, "unmatched-allow", SIZE_MAX, r->in->first_line + allows[i].line,
			    xasprintf("allow %s matches no finding %s", ids,
				      allows[i].stmt == SIZE_MAX ? "in this revision"
								 : "on the next statement"), NULL);
			free(ids);
		}
	}
	lint_allows_release(allows, na);
}

void lint_allows_release(struct lint_allow *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		strlist_free(&v[i].rules);
		free(v[i].reason);
	}
	free(v);
}

/* ---- one revision ---- */

/* This revision's findings in line order (stable: a statement's keep the
 * order its facts gave them). */
static void sort_by_line(struct lint_findings *f, size_t first)
{
	for (size_t i = first + 1; i < f->n; i++) {
		struct lint_finding x = f->v[i];
		size_t j = i;

		while (j > first && f->v[j - 1].line > x.line) {
			f->v[j] = f->v[j - 1];
			j--;
		}
		f->v[j] = x;
	}
}

static int created(const struct strlist *new_tables, const char *t)
{
	return t && strlist_contains(new_tables, t);
}

/* The findings of statement i's facts. */
static void judge_stmt(struct rev_ctx *r, size_t i, struct lint_state *state,
		       struct strlist *new_tables, struct strlist *new_indexes,
		       struct strlist *dropped, struct strlist *added, struct strlist *renames,
		       struct strlist *ae_tables, size_t *ae_existing)
{
	const struct an_stmt *st = &r->an->v[i];
	int tx = r->in->transactional && !r->in->sqlite;

	if (st->unparsed)
		add(r, "unparsed-statement", i, 0,
		    xasprintf("not parsed by the PostgreSQL 15 grammar (%s)", nz(st->unparsed_why)), NULL);
	/* creations count for the statement that makes them */
	for (size_t j = 0; j < st->nfacts; j++) {
		const struct an_fact *f = &st->facts[j];

		if (f->kind == AF_CREATE_TABLE && f->table && !created(new_tables, f->table))
			strlist_push(new_tables, f->table);
	}
	for (size_t j = 0; j < st->nfacts; j++) {
		const struct an_fact *f = &st->facts[j];
		int is_new = created(new_tables, f->table);
		char *key = xasprintf("%s.%s", nz(f->table), nz(f->name));

		switch (f->kind) {
		case AF_CREATE_INDEX:
			if (f->name)
				strlist_push(new_indexes, f->name);
			/* SQLite has no CONCURRENTLY: its index builds are its own */
			if (!is_new && !r->in->sqlite)
				add(r, "create-index-not-concurrently", i, 0,
				    xasprintf("CREATE INDEX on %s without CONCURRENTLY blocks its "
					      "writes for the whole build", nz(f->table)), f);
			break;
		case AF_CREATE_INDEX_CONC:
		case AF_DROP_INDEX_CONC:
		case AF_REINDEX_CONC:
			if (f->kind == AF_CREATE_INDEX_CONC && f->name)
				strlist_push(new_indexes, f->name);
			if (tx)
				add(r, "concurrently-in-transaction", i, 0,
				    xasprintf("CONCURRENTLY in a revision that runs in a transaction "
					      "(add `-- Transactional: false`)"), f);
			break;
		case AF_DROP_INDEX:
			if (!f->name || !strlist_contains(new_indexes, f->name))
				add(r, "drop-index-not-concurrently", i, 0,
				    xasprintf("DROP INDEX %s without CONCURRENTLY", nz(f->name)), f);
			break;
		case AF_REINDEX:
			if (!is_new)
				add(r, "reindex-not-concurrently", i, 0,
				    xasprintf("REINDEX %s without CONCURRENTLY", nz(f->table)), f);
			break;
		case AF_FK_VALIDATING:
			if (!is_new)
				add(r, "foreign-key-without-not-valid", i, 0,
				    xasprintf("foreign key %s on %s (to %s) validated at once",
					      nz(f->name), nz(f->table), nz(f->detail)), f);
			break;
		case AF_CHECK_VALIDATING:
			if (!is_new)
				add(r, "check-without-not-valid", i, 0,
				    xasprintf("CHECK %s on %s validated at once", nz(f->name),
					      nz(f->table)), f);
			break;
		case AF_CHECK_NOT_VALID:
			if (f->name && f->detail) {
				char *col = xasprintf("%s.%s", nz(f->table), f->detail);

				map_set(&state->checks, f->name, col);
				free(col);
			}
			break;
		case AF_VALIDATE: {
			const char *col = f->name ? map_get(&state->checks, f->name) : NULL;

			if (col)
				map_set(&state->notnull, col, "");
			break;
		}
		case AF_ADD_UNIQUE:
			if (!is_new)
				add(r, "unique-constraint-without-index", i, 0,
				    xasprintf("UNIQUE constraint on %s built under ACCESS EXCLUSIVE",
					      nz(f->table)), f);
			break;
		case AF_ADD_PRIMARY_KEY:
			if (!is_new)
				add(r, "add-primary-key", i, 0,
				    xasprintf("PRIMARY KEY added to %s, built under ACCESS EXCLUSIVE",
					      nz(f->table)), f);
			break;
		case AF_SET_NOT_NULL:
			if (!is_new && !map_get(&state->notnull, key))
				add(r, "set-not-null", i, 0,
				    xasprintf("SET NOT NULL on %s.%s without a validated CHECK "
					      "(col IS NOT NULL)", nz(f->table), nz(f->name)), f);
			break;
		case AF_ADD_COLUMN:
			if (f->detail)
				map_set(&state->cols, key, f->detail);
			if (!is_new && f->table && !strlist_contains(added, f->table))
				strlist_push(added, f->table);
			if (!is_new && f->table && strlist_contains(dropped, f->table) &&
			    !strlist_contains(renames, f->table) && (strlist_push(renames, f->table), 1))
				add(r, "drop-add-same-table", i, 0,
				    xasprintf("%s drops a column and adds %s in one revision: a rename "
					      "that loses the data?", nz(f->table), nz(f->name)), f);
			break;
		case AF_ADD_COLUMN_NOT_NULL:
			if (!is_new)
				add(r, "not-null-column-without-default", i, 0,
				    xasprintf("%s.%s added NOT NULL without a default", nz(f->table),
					      nz(f->name)), f);
			break;
		case AF_VOLATILE_DEFAULT:
			if (!is_new)
				add(r, "volatile-default", i, 0,
				    xasprintf("%s.%s: %s rewrites the table", nz(f->table),
					      nz(f->name), nz(f->detail)), f);
			break;
		case AF_TYPE_CHANGE:
		case AF_TYPE_CHANGE_SAFE:
			if (f->kind == AF_TYPE_CHANGE && !is_new)
				add(r, "change-column-type", i, 0,
				    xasprintf("%s.%s changes type to %s: a rewrite", nz(f->table),
					      nz(f->name), nz(f->detail)), f);
			if (f->detail)
				map_set(&state->cols, key, f->detail);
			break;
		case AF_DROP_COLUMN:
			if (is_new)
				break;
			add(r, "drop-column", i, 0,
			    xasprintf("%s.%s dropped with its data", nz(f->table), nz(f->name)), f);
			if (f->table && !strlist_contains(dropped, f->table)) {
				strlist_push(dropped, f->table);
				if (strlist_contains(added, f->table) &&
				    !strlist_contains(renames, f->table) &&
				    (strlist_push(renames, f->table), 1))
					add(r, "drop-add-same-table", i, 0,
					    xasprintf("%s adds a column and drops %s in one revision: "
						      "a rename that loses the data?", nz(f->table),
						      nz(f->name)), f);
			}
			break;
		case AF_DROP_TABLE:
			if (!is_new)
				add(r, "drop-table", i, 0,
				    xasprintf("table %s dropped with its data", nz(f->table)), f);
			break;
		case AF_TRUNCATE:
			if (!is_new)
				add(r, "truncate-table", i, 0,
				    xasprintf("every row of %s deleted", nz(f->table)), f);
			break;
		case AF_DELETE_ALL:
			if (!is_new)
				add(r, "delete-without-where", i, 0,
				    xasprintf("every row of %s deleted", nz(f->table)), f);
			break;
		case AF_RENAME_COLUMN:
			if (!is_new)
				add(r, "rename-column", i, 0,
				    xasprintf("%s.%s renamed to %s", nz(f->table), nz(f->name),
					      nz(f->detail)), f);
			break;
		case AF_RENAME_TABLE:
			if (!is_new)
				add(r, "rename-table", i, 0,
				    xasprintf("table %s renamed to %s", nz(f->table), nz(f->detail)), f);
			break;
		case AF_VACUUM_FULL:
			add(r, "vacuum-full", i, 0, xasprintf("VACUUM FULL rewrites under ACCESS "
							      "EXCLUSIVE"), f);
			break;
		case AF_CLUSTER:
			if (!is_new)
				add(r, "cluster", i, 0,
				    xasprintf("CLUSTER %s rewrites it under ACCESS EXCLUSIVE",
					      nz(f->table)), f);
			break;
		case AF_LONG_IDENT:
			add(r, "identifier-too-long", i, 0,
			    xasprintf("\"%.20s...\" is %zu bytes; PostgreSQL keeps 63", nz(f->name),
				      f->name ? strlen(f->name) : 0), f);
			break;
		case AF_NOT_ANALYSED:
			add(r, "not-analysed", i, 0, xstrdup(nz(f->detail)), f);
			break;
		case AF_DML:
			if (tx && f->table && strlist_contains(ae_tables, f->table) &&
			    !created(new_tables, f->table))
				add(r, "backfill-in-ddl-transaction", i, 0,
				    xasprintf("%s on %s in the transaction that holds ACCESS EXCLUSIVE "
					      "on it", nz(f->detail), f->table), f);
			break;
		default:
			break;
		}
		free(key);
	}
	/* ACCESS EXCLUSIVE on existing tables, held to the end of the transaction */
	for (size_t j = 0; j < st->ntables; j++) {
		const struct an_table *t = &st->tables[j];

		if (t->lock != AN_ACCESS_EXCLUSIVE || created(new_tables, t->name) ||
		    strlist_contains(ae_tables, t->name))
			continue;
		strlist_push(ae_tables, t->name);
		if (tx && ++*ae_existing == 2) {
			struct an_fact two = { AF_DML, ae_tables->v[0], t->name, NULL, NULL };

			add(r, "several-tables-access-exclusive", i, 0,
			    xasprintf("ACCESS EXCLUSIVE on %s and %s in one transaction",
				      ae_tables->v[0], t->name), &two);
		}
	}
}

int lint_revision(const struct lint_input *in, struct lint_state *state, struct lint_findings *out,
		  enum an_class *cls, struct err *e)
{
	struct an_script an = { 0 };
	struct an_known known = { known_type, &state->cols };
	struct lint_findings scratch = { 0 };
	struct rev_ctx r = { in, &an, in->report ? out : &scratch, 0, NULL, 0 };
	struct strlist new_tables = { 0 }, new_indexes = { 0 }, dropped = { 0 }, added = { 0 },
		       renames = { 0 }, ae = { 0 };
	size_t ae_existing = 0, bad = 0;
	enum an_class c = AN_EXPAND;
	int rc = 0;

	r.first = r.out->n;
	if (in->not_analysed) {
		add(&r, "not-analysed", SIZE_MAX, 1, xstrdup(in->not_analysed), NULL);
		goto classes;
	}
	if (!in->sql)
		goto classes;
	if ((in->sqlite ? analysis_sqlite(in->sql, &an, &bad, e)
			: analysis_pg(in->sql, &known, &an, &bad, e)) < 0) {
		char why[ERR_MSG_MAX];
		int line, col;

		snprintf(why, sizeof(why), "%s", e->msg);
		revision_offset_to_linecol(in->sql, bad, in->first_line, &line, &col);
		rc = err_set(e, ERR_SCRIPT, "%s:%d:%d: %s", in->path, line, col, why);
		goto out;
	}
	for (size_t i = 0; i < an.n; i++)
		judge_stmt(&r, i, state, &new_tables, &new_indexes, &dropped, &added, &renames, &ae,
			   &ae_existing);
	c = an.cls;
	if (renames.n)
		c = AN_DATA_LOSS;
classes:
	if (in->phase_expand) {
		/* said, so that the override is a visible decision */
		if (c >= AN_CONTRACT)
			add(&r, "phase-expand-override", SIZE_MAX,
			    in->phase_line ? in->phase_line : 1,
			    xasprintf("marked expand by -- Phase: expand: applies in the expand "
				      "phase, though the analysis calls it %s",
				      analysis_class_name(c)), NULL);
		c = AN_EXPAND;
	} else if (in->phase_contract && c < AN_CONTRACT) {
		c = AN_CONTRACT;
	}
	if (c == AN_EXPAND && in->down && an.n) {
		for (size_t i = 0; i < in->down->n; i++) {
			if (map_get(&state->contract, in->down->v[i])) {
				struct an_fact parent = { AF_DML, NULL, NULL, in->down->v[i], NULL };

				add(&r, "expand-after-contract", SIZE_MAX, line_of(in, an.v[0].off),
				    xasprintf("expand revision on top of contract revision %s",
					      in->down->v[i]), &parent);
				break;
			}
		}
	}
	if (c >= AN_CONTRACT && in->revision)
		map_set(&state->contract, in->revision, "");
	if (in->sql)
		apply_allows(&r);
	sort_by_line(r.out, r.first);
	for (size_t k = r.first; k < r.out->n; k++) {
		if (r.out->v[k].allowed)
			continue;
		if (r.out->v[k].rule->severity == LINT_ERROR)
			r.out->errors++;
		else
			r.out->warnings++;
	}
	if (cls)
		*cls = c;
out:
	lint_findings_release(&scratch);
	free(r.stmt_of);
	strlist_free(&new_tables);
	strlist_free(&new_indexes);
	strlist_free(&dropped);
	strlist_free(&added);
	strlist_free(&renames);
	strlist_free(&ae);
	analysis_release(&an);
	return rc;
}

void lint_findings_release(struct lint_findings *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->v[i].statement);
		free(f->v[i].message);
		free(f->v[i].instead);
		free(f->v[i].allowed);
	}
	free(f->v);
	memset(f, 0, sizeof(*f));
}
