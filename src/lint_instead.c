/* lint_instead.c - a finding's safe alternative in the statement's own
 * names (lint.h: lint_render_instead).
 *
 * Each rule that can say more than its generic text has a template here:
 * the rule's advice with {placeholders} filled from the finding's fact
 * (analysis.h: table, name, detail, spec).  A piece the statement does not
 * give is written <like-this>; a rule without a template, or a finding
 * without a fact, keeps the rule's generic text (docs/lint.md prints that).
 * lint.c, which records the findings, stands on it; it calls nothing in
 * lint.c (from lint.h it takes only struct lint_rule, passed in).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/lint.h"

#define IDENT_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

struct template {
	const char *rule;
	const char *text;
};

static const struct template templates[] = {
	{ "create-index-not-concurrently",
	  "Build it concurrently, in a revision marked `-- Transactional: false` (CONCURRENTLY "
	  "cannot run in a transaction block):\n"
	  "  CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} {spec};\n"
	  "A failed concurrent build leaves an INVALID index: DROP INDEX CONCURRENTLY {index} "
	  "and run again." },
	{ "drop-index-not-concurrently",
	  "In a revision marked `-- Transactional: false`:\n"
	  "  DROP INDEX CONCURRENTLY IF EXISTS {name};" },
	{ "concurrently-in-transaction",
	  "Give the statement a revision of its own marked `-- Transactional: false`; prestart "
	  "runs it outside any transaction, statement by statement:\n"
	  "  -- Transactional: false\n"
	  "  {concurrent};" },
	{ "foreign-key-without-not-valid",
	  "Add it NOT VALID (catalog only; new rows are checked at once), then validate it in a "
	  "later statement, which takes SHARE UPDATE EXCLUSIVE and lets reads and writes go on:\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {fkey}\n"
	  "    FOREIGN KEY {spec} NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {fkey};" },
	{ "check-without-not-valid",
	  "Add it NOT VALID, then validate it (SHARE UPDATE EXCLUSIVE: reads and writes go on):\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({spec}) NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {check};" },
	{ "unique-constraint-without-index",
	  "Build the index concurrently (a `-- Transactional: false` revision), then attach it, "
	  "which is catalog only:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY {key} ON {table} ({spec});\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {key} UNIQUE USING INDEX {key};" },
	{ "add-primary-key",
	  "Make the column NOT NULL the safe way first (set-not-null), build the index "
	  "concurrently, then attach it:\n"
	  "  CREATE UNIQUE INDEX CONCURRENTLY {pkey} ON {table} ({spec});\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {pkey} PRIMARY KEY USING INDEX {pkey};" },
	{ "set-not-null",
	  "On PostgreSQL 12+, prove it with a validated CHECK first; SET NOT NULL then skips "
	  "the scan:\n"
	  "  ALTER TABLE {table} ADD CONSTRAINT {not_null} CHECK ({column} IS NOT NULL) NOT VALID;\n"
	  "  ALTER TABLE {table} VALIDATE CONSTRAINT {not_null};\n"
	  "  ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL;\n"
	  "  ALTER TABLE {table} DROP CONSTRAINT {not_null};\n"
	  "On PostgreSQL 11 and older keep the validated CHECK instead of SET NOT NULL." },
	{ "not-null-column-without-default",
	  "Give it a constant default (PostgreSQL 11+ keeps it in the catalog: no rewrite):\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type} NOT NULL DEFAULT <constant>;\n"
	  "or add it nullable, backfill in batches, then SET NOT NULL the safe way "
	  "(set-not-null):\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type};" },
	{ "volatile-default",
	  "Add the column without the default, give new rows the default, backfill the old ones "
	  "in batches, each its own transaction:\n"
	  "  ALTER TABLE {table} ADD COLUMN {column} {type};\n"
	  "  ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default};\n"
	  "  UPDATE {table} SET {column} = {default}\n"
	  "    WHERE <key> BETWEEN 1 AND 10000 AND {column} IS NULL;  -- next batch, and so on" },
	{ "change-column-type",
	  "Add a column of the new type, write both from the application, backfill in batches, "
	  "switch reads, drop the old column in a later release:\n"
	  "  ALTER TABLE {table} ADD COLUMN {new_column} {detail};\n"
	  "  UPDATE {table} SET {new_column} = {column}::{detail}\n"
	  "    WHERE <key> BETWEEN 1 AND 10000;  -- per batch\n"
	  "To lift a length limit, change to text or a longer varchar: catalog only." },
	{ "drop-column",
	  "Stop using the column in one release (SQLAlchemy: take it out of the model), drop it "
	  "in a later revision (the contract phase), accepted with `-- prestart:allow "
	  "drop-column REASON`. On PostgreSQL prestart keeps the values for a downgrade "
	  "(`prestart archives`); a copy of your own:\n"
	  "  CREATE TABLE {archive} AS SELECT <key>, {column} FROM {table};\n"
	  "  ALTER TABLE {table} DROP COLUMN {column};" },
	{ "drop-table",
	  "Stop using the table in one release; for an undo path rename it away first and drop "
	  "it a release later:\n"
	  "  ALTER TABLE {table} RENAME TO {deprecated};\n"
	  "  -- a later revision: DROP TABLE {deprecated};" },
	{ "truncate-table",
	  "If the rows must go, delete them in batches (row locks only):\n"
	  "  DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT 10000);  -- repeat" },
	{ "delete-without-where",
	  "Say which rows go, in batches for a large table:\n"
	  "  DELETE FROM {table} WHERE <condition>;" },
	{ "rename-column",
	  "Expand and contract: add the new column, write both, backfill, switch reads, drop "
	  "the old one a release later:\n"
	  "  ALTER TABLE {table} ADD COLUMN {new} <type>;\n"
	  "  UPDATE {table} SET {new} = {column} WHERE <key> BETWEEN 1 AND 10000;  -- per batch\n"
	  "  -- a later revision: ALTER TABLE {table} DROP COLUMN {column};" },
	{ "rename-table",
	  "Rename, and keep the old name working for one release with a view (a simple view "
	  "is updatable):\n"
	  "  ALTER TABLE {table} RENAME TO {new};\n"
	  "  CREATE VIEW {table} AS SELECT * FROM {new};\n"
	  "  -- a later revision: DROP VIEW {table};" },
	{ "drop-add-same-table",
	  "If it is a rename, write it as one:\n"
	  "  ALTER TABLE {table} RENAME COLUMN <old> TO <new>;\n"
	  "(a contract change: see rename-column). If both changes are meant, accept with "
	  "`-- prestart:allow drop-add-same-table REASON`." },
	{ "several-tables-access-exclusive",
	  "One table's ACCESS EXCLUSIVE changes per revision (with --transaction-per-migration "
	  "each commits on its own), each short, the wait bounded by --ddl-lock-timeout:\n"
	  "  -- revision 1: the changes to {table}\n"
	  "  -- revision 2: the changes to {name}" },
	{ "backfill-in-ddl-transaction",
	  "Commit the DDL first; backfill in a later revision marked `-- Transactional: false`, "
	  "in batches that each commit:\n"
	  "  -- revision 1: the DDL on {table}\n"
	  "  -- revision 2 (`-- Transactional: false`): the {detail} on {table},\n"
	  "  --   WHERE <key> BETWEEN 1 AND 10000, then the next batch, each its own statement" },
	{ "vacuum-full",
	  "Plain VACUUM takes no lock against reads or writes; to give space back online use "
	  "the pg_repack extension:\n"
	  "  VACUUM (ANALYZE) {table};" },
	{ "cluster",
	  "Reorder online with pg_repack (--order-by), or leave the physical order alone and "
	  "build the index the queries need:\n"
	  "  pg_repack --table {table} --order-by <columns>" },
	{ "reindex-not-concurrently",
	  "On PostgreSQL 12+, in a revision marked `-- Transactional: false`:\n"
	  "  REINDEX {reindex} CONCURRENTLY {table};" },
	{ "expand-after-contract",
	  "Base it on the last expand revision instead of contract revision {detail} and merge "
	  "the branches later:\n"
	  "  prestart revision -m \"...\" --head <last expand revision> --splice" },
	{ NULL, NULL }
};

/* ---- the values of the placeholders ---- */

static const char *bare(const char *dotted)
{
	const char *dot = dotted ? strrchr(dotted, '.') : NULL;

	return dot ? dot + 1 : dotted;
}

/* PostgreSQL's way of naming what it creates: table_col1_col2_suffix out
 * of the words of `cols`, cut to 63 bytes, quoted where needed. */
static char *derived(const char *table, const char *cols, const char *suffix)
{
	struct sbuf b = { 0 };
	char *q;

	const char *open = cols ? strchr(cols, '(') : NULL, *stop = NULL;

	/* a column list's words: the first parenthesis' */
	if (open) {
		int depth = 0;

		for (stop = open; *stop; stop++) {
			if (*stop == '(')
				depth++;
			else if (*stop == ')' && --depth == 0)
				break;
		}
		cols = open + 1;
	}
	sbuf_adds(&b, bare(table));
	for (const char *p = cols; p && *p && (!stop || p < stop);) {
		const char *w;

		while (*p && !(isalnum((unsigned char)*p) || *p == '_'))
			p++;
		w = p;
		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (p > w && !isdigit((unsigned char)*w))
			sbuf_addf(&b, "_%.*s", (int)(p - w), w);
	}
	sbuf_addf(&b, "_%s", suffix);
	if (b.len > IDENT_MAX)
		b.buf[IDENT_MAX] = '\0';
	q = analysis_quote_name(b.buf);
	sbuf_free(&b);
	return q;
}

static char *quoted(const char *s)
{
	return s ? analysis_quote_name(s) : NULL;
}

/* Whether the fact's name is its key column (a column-level constraint
 * records the column where a table-level one has its name). */
static int name_is_column(const struct an_fact *f)
{
	char *q = quoted(f->name);
	const char *cols = f->spec;
	int r;

	if (!q)
		return 0;
	if (cols && *cols == '(')
		cols++;
	r = cols && !strncmp(cols, q, strlen(q)) &&
	    (cols[strlen(q)] == ')' || cols[strlen(q)] == '\0');
	free(q);
	return r;
}

/* A constraint's name: the statement's, else PostgreSQL's default. */
static char *constraint(const struct an_fact *f, const char *suffix)
{
	if (f->name && !name_is_column(f))
		return quoted(f->name);
	return derived(f->table, f->spec ? f->spec : f->name, suffix);
}

static int is_plain_call(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 3 || strcmp(s + n - 2, "()") || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (size_t i = 0; i + 2 < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
			return 0;
	return 1;
}

/* The value of {var} for fact f (caller frees), or NULL: not known. */
static char *value(const char *var, const struct an_fact *f)
{
	if (!strcmp(var, "table"))
		return quoted(f->table);
	if (!strcmp(var, "name") || !strcmp(var, "column"))
		return quoted(f->name);
	if (!strcmp(var, "new"))
		return quoted(f->detail);
	if (!strcmp(var, "detail") || !strcmp(var, "reindex"))
		return f->detail ? xstrdup(f->detail) : NULL;
	if (!strcmp(var, "spec"))
		return f->spec ? xstrdup(f->spec) : NULL;
	if (!strcmp(var, "unique"))
		return xstrdup(f->detail && !strcmp(f->detail, "unique") ? "UNIQUE " : "");
	if (!strcmp(var, "index"))
		return f->name ? quoted(f->name) : f->table ? derived(f->table, f->spec, "idx") : NULL;
	if (!strcmp(var, "key"))
		return f->table ? constraint(f, "key") : NULL;
	if (!strcmp(var, "pkey"))
		return f->table ? (f->name && !name_is_column(f) ? quoted(f->name)
								  : derived(f->table, NULL, "pkey"))
				: NULL;
	if (!strcmp(var, "fkey"))
		return f->table ? constraint(f, "fkey") : NULL;
	if (!strcmp(var, "check"))
		return f->name ? quoted(f->name) : f->table ? derived(f->table, NULL, "check") : NULL;
	if (!strcmp(var, "not_null"))
		return f->table && f->name ? derived(f->table, f->name, "not_null") : NULL;
	if (!strcmp(var, "archive"))
		return f->table && f->name ? derived(f->table, f->name, "archive") : NULL;
	if (!strcmp(var, "deprecated"))
		return f->table ? derived(f->table, NULL, "deprecated") : NULL;
	if (!strcmp(var, "new_column"))
		return f->name ? derived(f->name, NULL, "new") : NULL;
	if (!strcmp(var, "type")) {
		static const char *const serial[][2] = {
			{ "serial", "integer" }, { "serial4", "integer" }, { "bigserial", "bigint" },
			{ "serial8", "bigint" }, { "smallserial", "smallint" }, { "serial2", "smallint" },
		};
		const char *ty = f->spec ? f->spec : f->detail;

		for (size_t i = 0; ty && i < sizeof(serial) / sizeof(*serial); i++)
			if (!strcmp(ty, serial[i][0]))
				ty = serial[i][1];
		return ty ? xstrdup(ty) : NULL;
	}
	if (!strcmp(var, "default"))
		return xstrdup(is_plain_call(f->detail) ? f->detail : "<expression>");
	if (!strcmp(var, "concurrent")) {
		char *t = quoted(f->table), *n = quoted(f->name), *r;

		if (f->kind == AF_DROP_INDEX_CONC)
			r = xasprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", n ? n : "<index>");
		else if (f->kind == AF_REINDEX_CONC)
			r = xasprintf("REINDEX %s CONCURRENTLY %s", f->detail ? f->detail : "TABLE",
				      t ? t : "<table>");
		else
			r = xasprintf("CREATE %sINDEX CONCURRENTLY IF NOT EXISTS %s ON %s %s",
				      f->detail && !strcmp(f->detail, "unique") ? "UNIQUE " : "",
				      n ? n : "<index>", t ? t : "<table>",
				      f->spec ? f->spec : "(<columns>)");
		free(t);
		free(n);
		return r;
	}
	return NULL;
}

/* What stands for a value the statement does not give. */
static const char *unknown(const char *var)
{
	if (!strcmp(var, "spec"))
		return "(<columns>)";
	if (!strcmp(var, "index") || !strcmp(var, "key") || !strcmp(var, "pkey") ||
	    !strcmp(var, "fkey") || !strcmp(var, "check") || !strcmp(var, "not_null"))
		return "<constraint>";
	if (!strcmp(var, "reindex"))
		return "TABLE";
	return NULL;
}

char *lint_render_instead(const struct lint_rule *rule, const struct an_fact *fact)
{
	const struct template *t = NULL;
	struct sbuf b = { 0 };

	for (size_t i = 0; rule && templates[i].rule; i++)
		if (!strcmp(templates[i].rule, rule->id))
			t = &templates[i];
	if (!t || !fact)
		return xstrdup(rule && rule->instead ? rule->instead : "");
	for (const char *p = t->text; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		char var[32], *v;
		size_t n;

		if (!close || (n = (size_t)(close - p - 1)) >= sizeof(var)) {
			sbuf_addc(&b, *p++);
			continue;
		}
		memcpy(var, p + 1, n);
		var[n] = '\0';
		v = value(var, fact);
		if (v) {
			sbuf_adds(&b, v);
		} else {
			const char *u = unknown(var);

			if (u)
				sbuf_adds(&b, u);
			else
				sbuf_addf(&b, "<%s>", var);
		}
		free(v);
		p = close + 1;
	}
	return b.buf ? b.buf : xstrdup("");
}
