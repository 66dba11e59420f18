/* archive.c - data kept on drops (SPEC §9.3).
 *
 * Divisions, in order: names and literals; the archive list; taking an
 * archive; before the plan runs; restoring; pruning and listing.  Which
 * statements destroy data, and the no-archive comments, are read by
 * archive_scan.c.
 */
#include "prestart/archive.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prestart/log.h"
#include "prestart/revision.h"

#define SEP "\x1f" /* between the fields of a one-column row */
#define SUB "\x1e" /* between the items of a list field */

/* ---- names and literals ---- */

/* ARRAY['a','b']::text[] */
static void add_text_array(struct sbuf *b, const struct strlist *l)
{
	sbuf_adds(b, "ARRAY[");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sbuf_adds(b, ", ");
		sbuf_add_sql_str(b, l->v[i]);
	}
	sbuf_adds(b, "]::text[]");
}

/* A list of identifiers, quoted, comma-separated, each prefixed. */
static void add_idents(struct sbuf *b, const char *prefix, const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sbuf_adds(b, ", ");
		sbuf_adds(b, prefix);
		sbuf_add_sql_ident(b, l->v[i]);
	}
}

/* One part of a name as the analysis gave it.  A parsed statement's names
 * are PostgreSQL's already (folded, unquoted); a token-level one's are as
 * written: quoted ones keep their case, others fold. */
static void add_name_part(struct sbuf *b, const char *s, size_t n, int as_written)
{
	struct sbuf raw = { 0 };

	if (as_written && n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		for (size_t i = 1; i + 1 < n; i++) {
			sbuf_addc(&raw, s[i]);
			if (s[i] == '"' && s[i + 1] == '"')
				i++;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			sbuf_addc(&raw, as_written ? (char)tolower((unsigned char)s[i]) : s[i]);
	}
	sbuf_add_sql_ident(b, raw.buf ? raw.buf : "");
	sbuf_free(&raw);
}

/* The quoted name of a table as the analysis named it ("s.t" or "t"),
 * for to_regclass. */
static char *quoted_table(const char *name, int as_written)
{
	struct sbuf b = { 0 };
	const char *dot = strchr(name, '.');

	if (as_written && name[0] == '"') {
		/* a quoted schema may hold dots */
		const char *q = name + 1;

		while (*q && !(*q == '"' && q[1] != '"'))
			q += *q == '"' ? 2 : 1;
		dot = *q && q[1] == '.' ? q + 1 : NULL;
	}
	if (dot) {
		add_name_part(&b, name, (size_t)(dot - name), as_written);
		sbuf_addc(&b, '.');
		add_name_part(&b, dot + 1, strlen(dot + 1), as_written);
	} else {
		add_name_part(&b, name, strlen(name), as_written);
	}
	return sbuf_detach(&b);
}

static char *column_name(const char *name, int as_written)
{
	struct sbuf b = { 0 }, out = { 0 };
	char *q;

	add_name_part(&b, name, strlen(name), as_written);
	/* back from "x" to x */
	q = b.buf;
	for (size_t i = 1; q[i + 1]; i++) {
		sbuf_addc(&out, q[i]);
		if (q[i] == '"')
			i++;
	}
	sbuf_free(&b);
	return out.buf ? sbuf_detach(&out) : xstrdup("");
}

static char *list_name(const struct archive *a)
{
	struct sbuf b = { 0 };

	sbuf_add_sql_ident(&b, a->schema);
	sbuf_adds(&b, ".archives");
	return sbuf_detach(&b);
}

/* Where the limit was set, when an environment variable or an ini line
 * set it (the flag names itself in the messages), else NULL. */
static const char *limit_from(const struct archive *a)
{
	return a->limit_from && a->limit_from[0] != '-' ? a->limit_from : NULL;
}

void archive_init(struct archive *a, const char *schema, const char *vt_schema,
		  const char *vt_table, long long limit, long long retention_ms)
{
	memset(a, 0, sizeof(*a));
	a->schema = schema;
	a->version_table = vt_schema ? xasprintf("%s.%s", vt_schema, vt_table) : xstrdup(vt_table);
	a->limit = limit;
	a->retention_ms = retention_ms;
}

void archive_release(struct archive *a)
{
	free(a->version_table);
	memset(a, 0, sizeof(*a));
}

static int fail(struct db *db, struct err *e, const char *fmt, const char *what)
{
	char *msg = db_error_string(db);

	err_set(e, ERR_FAILED, fmt, what, msg);
	free(msg);
	return -1;
}

/* ---- the archive list ---- */

static int list_exists(const struct archive *a, struct db *db, int *exists)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 };
	char *name = list_name(a);
	int rc;

	sbuf_adds(&q, "SELECT (pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, name);
	sbuf_adds(&q, ") IS NOT NULL)::text");
	rc = db_query_col(db, q.buf, &rows);
	*exists = rc == 0 && rows.n == 1 && !strcmp(rows.v[0], "true");
	strlist_free(&rows);
	sbuf_free(&q);
	free(name);
	return rc;
}

int archive_list_exists(const struct archive *a, struct db *db, int *exists)
{
	return list_exists(a, db, exists);
}

static int ensure_list(const struct archive *a, struct db *db)
{
	char *name;
	char *sql;
	int exists, rc;

	if (list_exists(a, db, &exists) < 0)
		return -1;
	if (exists)
		return 0;
	/* Runs for other version tables (tenants) may be making it too: one
	 * at a time, the others then find it. */
	sql = xasprintf("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext(%s))",
			"'prestart.archives'");
	rc = db_execs(db, sql);
	free(sql);
	if (rc < 0 || list_exists(a, db, &exists) < 0)
		return -1;
	if (exists)
		return 0;
	if (db_ensure_schema(db, a->schema) < 0)
		return -1;
	name = list_name(a);
	sql = xasprintf("CREATE TABLE IF NOT EXISTS %s (id bigserial PRIMARY KEY, "
			"version_table text NOT NULL, revision text NOT NULL, "
			"direction text NOT NULL, table_name text NOT NULL, kind text NOT NULL, "
			"columns text[] NOT NULL, pk_columns text[] NOT NULL, "
			"archive_table text NOT NULL, rows bigint NOT NULL, bytes bigint NOT NULL, "
			"created_at timestamptz NOT NULL DEFAULT pg_catalog.now())",
			name);
	rc = db_execs(db, sql);
	free(sql);
	free(name);
	return rc;
}

/* ---- taking an archive ---- */

/* The n fields of a one-column row, empty ones kept. */
static void split_fields(const char *s, int n, struct strlist *out)
{
	for (int k = 0; k < n; k++) {
		size_t len = strcspn(s, SEP);

		strlist_push_owned(out, xstrndup(s, len));
		s += len;
		if (*s)
			s++;
	}
}

static void split_sub(struct strlist *l, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, SUB);

		strlist_push_owned(l, xstrndup(s, n));
		s += n;
		if (*s)
			s++;
	}
}

static void human_size(long long b, char *out, size_t n)
{
	if (b >= 10LL << 30)
		snprintf(out, n, "%lld GB", b >> 30);
	else if (b >= 10LL << 20)
		snprintf(out, n, "%lld MB", b >> 20);
	else if (b >= 10LL << 10)
		snprintf(out, n, "%lld kB", b >> 10);
	else
		snprintf(out, n, "%lld bytes", b);
}

/* What is there to copy: the table's qualified name, whether it is a
 * table, its primary key, whether the column exists, the estimated
 * size of the copy.  0 with *found = 0 when the table (or the column)
 * is not there: the statement has IF EXISTS or will fail by itself. */
struct target {
	char *table;         /* "schema"."table" */
	struct strlist pk;   /* attnames, key order */
	struct strlist cols; /* the whole table's, for kind table */
	struct strlist dropped; /* kind column: those of the statement's that exist */
	long long bytes;
	int found;
};

static int look(struct db *db, const char *regname, const struct strlist *columns,
		struct target *t)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 }, arr = { 0 };
	int rc;

	memset(t, 0, sizeof(*t));
	if (columns)
		add_text_array(&arr, columns);
	sbuf_adds(&q, "WITH c AS (SELECT c.oid, c.relkind, c.reltuples, n.nspname, c.relname "
		      "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
		      "c.relnamespace WHERE c.oid = pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, regname);
	sbuf_adds(&q, ") AND c.relkind IN ('r', 'p')), pk AS (SELECT a.attname, k.o FROM c, "
		      "pg_catalog.pg_index i, unnest(i.indkey) WITH ORDINALITY k(n, o), "
		      "pg_catalog.pg_attribute a WHERE i.indrelid = c.oid AND i.indisprimary AND "
		      "a.attrelid = c.oid AND a.attnum = k.n) "
		      "SELECT concat_ws(chr(31), quote_ident(c.nspname) || '.' || "
		      "quote_ident(c.relname), coalesce((SELECT string_agg(attname, chr(30) ORDER BY "
		      "o) FROM pk), ''), coalesce((SELECT string_agg(attname, chr(30) ORDER BY "
		      "attnum) FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 "
		      "AND NOT attisdropped), ''), ");
	if (columns) {
		sbuf_adds(&q, "coalesce((SELECT string_agg(attname, chr(30) ORDER BY attnum) FROM "
			      "pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT "
			      "attisdropped AND attname = ANY(");
		sbuf_adds(&q, arr.buf);
		/* the copy's size from the statistics when there are some: rows
		 * times the key's and the columns' widths; else the table's */
		sbuf_adds(&q, ")), ''), coalesce((SELECT (c.reltuples * (sum(s.avg_width) + 24))"
			      "::bigint FROM pg_catalog.pg_stats s WHERE s.schemaname = c.nspname AND "
			      "s.tablename = c.relname AND (s.attname = ANY(");
		sbuf_adds(&q, arr.buf);
		sbuf_adds(&q, ") OR s.attname IN (SELECT attname FROM pk)) HAVING c.reltuples >= 0 "
			      "AND bool_or(s.attname = ANY(");
		sbuf_adds(&q, arr.buf);
		sbuf_adds(&q, "))), pg_catalog.pg_table_size(c.oid))::text) FROM c");
	} else {
		sbuf_adds(&q, "'', pg_catalog.pg_total_relation_size(c.oid)::text) FROM c");
	}
	rc = db_query_col(db, q.buf, &rows);
	sbuf_free(&q);
	sbuf_free(&arr);
	if (rc == 0 && rows.n == 1) {
		struct strlist f = { 0 };

		split_fields(rows.v[0], 5, &f);
		t->table = xstrdup(f.v[0]);
		split_sub(&t->pk, f.v[1]);
		split_sub(&t->cols, f.v[2]);
		split_sub(&t->dropped, f.v[3]);
		t->found = !columns || t->dropped.n > 0;
		t->bytes = strtoll(f.v[4], NULL, 10);
		strlist_free(&f);
	}
	strlist_free(&rows);
	return rc;
}

static void target_release(struct target *t)
{
	free(t->table);
	strlist_free(&t->pk);
	strlist_free(&t->cols);
	strlist_free(&t->dropped);
}

/* Revoke every privilege on the new table but its owner's: PUBLIC's and
 * any that default privileges gave. */
static int revoke_all(struct db *db, const char *arch)
{
	struct strlist who = { 0 };
	struct sbuf q = { 0 };
	int rc;

	sbuf_adds(&q, "SELECT DISTINCT quote_ident(r.rolname) FROM pg_catalog.pg_class c, "
		      "aclexplode(c.relacl) x JOIN pg_catalog.pg_roles r ON r.oid = x.grantee "
		      "WHERE c.oid = pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, arch);
	sbuf_adds(&q, ") AND x.grantee <> c.relowner");
	rc = db_query_col(db, q.buf, &who);
	sbuf_reset(&q);
	sbuf_addf(&q, "REVOKE ALL ON %s FROM PUBLIC", arch);
	for (size_t i = 0; rc == 0 && i < who.n; i++)
		sbuf_addf(&q, "; REVOKE ALL ON %s FROM %s", arch, who.v[i]);
	if (rc == 0)
		rc = db_execs(db, q.buf);
	sbuf_free(&q);
	strlist_free(&who);
	return rc;
}

/* Archive one table: its columns `cols` (attnames) before a DROP COLUMN,
 * or the whole table (cols NULL). */
static int take_one(const struct archive *a, struct db *db, const char *table,
		    const struct strlist *cols, int as_written, const char *rev, int upgrade,
		    struct err *e)
{
	int is_col = cols != NULL;
	char *reg = quoted_table(table, as_written);
	char *col = NULL;
	struct target t;
	struct strlist keep = { 0 }, ids = { 0 };
	struct sbuf q = { 0 };
	char *list = NULL, *arch = NULL, *id = NULL, size[32];
	char *qschema = db_quote_ident(DB_PG, a->schema);
	long long rows, bytes = 0;
	int rc = -1;

	if (look(db, reg, cols, &t) < 0) {
		fail(db, e, "cannot archive %s: %s", table);
		goto out;
	}
	rc = 0;
	if (!t.table || !t.found)
		goto out; /* not there: nothing to lose */
	if (is_col)
		col = strlist_join(&t.dropped, ", ");
	/* an empty table loses nothing: no archive (a downgrade dropping
	 * what its upgrade made, typically) */
	sbuf_addf(&q, "SELECT EXISTS (SELECT 1 FROM %s)::text", t.table);
	rc = db_query_col(db, q.buf, &ids);
	sbuf_reset(&q);
	if (rc < 0) {
		fail(db, e, "cannot archive %s: %s", t.table);
		goto out;
	}
	if (ids.n != 1 || strcmp(ids.v[0], "true"))
		goto out;
	strlist_free(&ids);
	human_size(t.bytes, size, sizeof(size));
	if (t.bytes > a->limit) {
		char lim[32];

		human_size(a->limit, lim, sizeof(lim));
		log_event(LOG_WARN, "archive_over_limit",
			  (struct log_field[]){ LFS("revision", rev), LFS("table", t.table),
						LFS("column", col), LFI("bytes", t.bytes),
						LFI("limit", a->limit), { 0 } },
			  "revision %s: not archiving %s%s%s%s before it is dropped: about %s, over "
			  "--archive-limit %s%s%s%s; the data will be gone",
			  rev, t.table, col ? " (column " : "", col ? col : "", col ? ")" : "", size,
			  lim, limit_from(a) ? " (set by " : "", limit_from(a) ? limit_from(a) : "",
			  limit_from(a) ? ")" : "");
		goto out;
	}
	rc = -1;
	if (ensure_list(a, db) < 0) {
		fail(db, e, "cannot create the archive list %s: %s", a->schema);
		goto out;
	}
	list = list_name(a);
	sbuf_addf(&q, "SELECT nextval(pg_catalog.pg_get_serial_sequence(");
	sbuf_add_sql_str(&q, list);
	sbuf_adds(&q, ", 'id'))");
	if (db_query_col(db, q.buf, &ids) < 0 || ids.n != 1) {
		fail(db, e, "cannot archive %s: %s", t.table);
		goto out;
	}
	sbuf_reset(&q);
	id = xstrdup(ids.v[0]);
	sbuf_adds(&q, qschema);
	sbuf_addf(&q, ".prestart_archive_%s", id);
	arch = sbuf_detach(&q);
	if (is_col) {
		/* without a key only the whole row can tell the rows apart */
		for (size_t i = 0; i < t.pk.n; i++)
			strlist_push(&keep, t.pk.v[i]);
		for (size_t i = 0; !t.pk.n && i < t.cols.n; i++)
			strlist_push(&keep, t.cols.v[i]);
		for (size_t i = 0; i < t.dropped.n; i++)
			if (!strlist_contains(&keep, t.dropped.v[i]))
				strlist_push(&keep, t.dropped.v[i]);
		sbuf_addf(&q, "CREATE TABLE %s AS SELECT ", arch);
		add_idents(&q, "", &keep);
		sbuf_addf(&q, " FROM %s", t.table);
	} else {
		sbuf_addf(&q, "CREATE TABLE %s AS SELECT * FROM %s", arch, t.table);
	}
	if (db_execs(db, q.buf) < 0) {
		fail(db, e, "cannot archive %s: %s", t.table);
		goto out;
	}
	rows = db->changes;
	if (revoke_all(db, arch) < 0) {
		fail(db, e, "cannot revoke the privileges on %s: %s", arch);
		goto out;
	}
	sbuf_reset(&q);
	sbuf_adds(&q, "SELECT pg_catalog.pg_total_relation_size(");
	sbuf_add_sql_str(&q, arch);
	sbuf_adds(&q, ")::text");
	strlist_free(&ids);
	if (db_query_col(db, q.buf, &ids) < 0 || ids.n != 1) {
		fail(db, e, "cannot archive %s: %s", t.table);
		goto out;
	}
	bytes = strtoll(ids.v[0], NULL, 10);
	sbuf_reset(&q);
	sbuf_addf(&q, "INSERT INTO %s (id, version_table, revision, direction, table_name, kind, "
		      "columns, pk_columns, archive_table, rows, bytes) VALUES (%s, ", list, id);
	sbuf_add_sql_str(&q, a->version_table);
	sbuf_adds(&q, ", ");
	sbuf_add_sql_str(&q, rev);
	sbuf_addf(&q, ", '%s', ", upgrade ? "upgrade" : "downgrade");
	sbuf_add_sql_str(&q, t.table);
	sbuf_addf(&q, ", '%s', ", is_col ? "column" : "table");
	if (is_col) {
		add_text_array(&q, &t.dropped);
	} else {
		add_text_array(&q, &t.cols);
	}
	sbuf_adds(&q, ", ");
	add_text_array(&q, &t.pk);
	sbuf_adds(&q, ", ");
	sbuf_add_sql_str(&q, arch);
	sbuf_addf(&q, ", %lld, %lld)", rows, bytes);
	if (db_execs(db, q.buf) < 0) {
		fail(db, e, "cannot record the archive of %s: %s", t.table);
		goto out;
	}
	human_size(bytes, size, sizeof(size));
	log_event(LOG_INFO, "archived",
		  (struct log_field[]){ LFS("revision", rev), LFS("table", t.table),
					LFS("column", col), LFS("archive", arch), LFI("rows", rows),
					LFI("bytes", bytes), { 0 } },
		  "revision %s: archived %lld row%s of %s%s%s%s in %s (%s)%s", rev, rows,
		  rows == 1 ? "" : "s", t.table, col ? " (column " : "", col ? col : "",
		  col ? ")" : "", arch, size,
		  t.pk.n ? "" : "; the table has no primary key: a downgrade will not put it back");
	rc = 0;
out:
	target_release(&t);
	strlist_free(&keep);
	strlist_free(&ids);
	sbuf_free(&q);
	free(list);
	free(arch);
	free(reg);
	free(col);
	free(id);
	free(qschema);
	return rc;
}

int archive_take(const struct archive *a, struct db *db, const struct archive_plan *p,
		 size_t stmt, const char *rev, int upgrade, struct err *e)
{
	const struct an_stmt *st = &p->an->v[stmt];
	struct strlist done = { 0 };
	int rc = 0;

	for (size_t k = 0; k < st->nfacts && rc == 0; k++) {
		const struct an_fact *f = &st->facts[k];
		struct strlist cols = { 0 };

		if (!f->table || strlist_contains(&done, f->table))
			continue;
		if (f->kind == AF_DROP_TABLE || f->kind == AF_TRUNCATE) {
			rc = take_one(a, db, f->table, NULL, st->unparsed, rev, upgrade, e);
			strlist_push(&done, f->table);
			continue;
		}
		if (f->kind != AF_DROP_COLUMN || !f->name)
			continue;
		/* every column the statement drops from this table: one copy */
		for (size_t j = k; j < st->nfacts; j++)
			if (st->facts[j].kind == AF_DROP_COLUMN && st->facts[j].name &&
			    st->facts[j].table && !strcmp(st->facts[j].table, f->table))
				strlist_push_owned(&cols, column_name(st->facts[j].name, st->unparsed));
		rc = take_one(a, db, f->table, &cols, st->unparsed, rev, upgrade, e);
		strlist_push(&done, f->table);
		strlist_free(&cols);
	}
	strlist_free(&done);
	return rc;
}

/* ---- before the plan runs ---- */

/* The size of what statement st would copy from one table (the first
 * fact's), into *bytes; 0 when there is nothing there. */
static int estimate(struct db *db, const struct an_stmt *st, size_t k, char **table,
		    long long *bytes)
{
	const struct an_fact *f = &st->facts[k];
	struct strlist cols = { 0 };
	struct target t;
	char *reg = quoted_table(f->table, st->unparsed);
	int rc;

	*bytes = 0;
	*table = NULL;
	if (f->kind == AF_DROP_COLUMN)
		for (size_t j = k; j < st->nfacts; j++)
			if (st->facts[j].kind == AF_DROP_COLUMN && st->facts[j].name &&
			    st->facts[j].table && !strcmp(st->facts[j].table, f->table))
				strlist_push_owned(&cols, column_name(st->facts[j].name,
								      st->unparsed));
	rc = look(db, reg, f->kind == AF_DROP_COLUMN ? &cols : NULL, &t);
	if (rc == 0 && t.table && t.found) {
		*bytes = t.bytes;
		*table = xstrdup(t.table);
	}
	target_release(&t);
	strlist_free(&cols);
	free(reg);
	return rc;
}

/* The first drop over the limit, and where the limit and the policy
 * that refuses it were set when not the default (the flag of the limit
 * names itself). */
static void refusal(struct sbuf *b, const struct archive *a, const struct revision *rev,
		    int line, const char *table, const char *size, const char *lim)
{
	sbuf_addf(b, "revision %s (%s:%d) would drop the data of %s (about %s) without a copy: "
		     "over --archive-limit %s. Refused before anything ran",
		  rev->id, rev->path, line, table, size, lim);
	if (a->guard_from)
		sbuf_addf(b, " (by %s)", a->guard_from);
	sbuf_adds(b, "; ");
	if (limit_from(a))
		sbuf_addf(b, "the limit is set by %s; ", limit_from(a));
	sbuf_adds(b, "to drop it anyway put `-- prestart:no-archive REASON` on the line before "
		     "the statement, raise --archive-limit, or set --guard warn");
}

int archive_precheck(const struct archive *a, struct db *db, const struct plan *p,
		     struct err *e)
{
	struct sbuf refused = { 0 };
	size_t over = 0;
	int rc = 0;

	for (size_t i = 0; i < p->n && rc == 0; i++) {
		const struct plan_step *s = &p->steps[i];
		const char *sql = !s->rev || s->runner != RUN_SQL ? NULL
				  : s->dir == DIR_UP ? s->rev->upgrade_sql : s->rev->downgrade_sql;
		int first = s->rev ? (s->dir == DIR_UP ? s->rev->upgrade_line
						       : s->rev->downgrade_line) : 0;
		struct archive_plan ap;

		if (!sql)
			continue;
		if (archive_scan_quiet(sql, NULL, s->rev->path, first, &ap, e) < 0) {
			archive_plan_release(&ap);
			rc = -1;
			break;
		}
		for (size_t c = 0; c < ap.ncut && rc == 0; c++) {
			const struct an_stmt *st = &ap.an->v[ap.cut[c]];
			struct strlist seen = { 0 };

			for (size_t k = 0; k < st->nfacts && rc == 0; k++) {
				const struct an_fact *f = &st->facts[k];
				char *table = NULL, size[32], lim[32];
				long long bytes;
				int line, col;

				if (!f->table || strlist_contains(&seen, f->table) ||
				    !(f->kind == AF_DROP_TABLE || f->kind == AF_TRUNCATE ||
				      (f->kind == AF_DROP_COLUMN && f->name)))
					continue;
				strlist_push(&seen, f->table);
				if (estimate(db, st, k, &table, &bytes) < 0) {
					rc = fail(db, e, "cannot size %s: %s", f->table);
					break;
				}
				if (table && bytes > a->limit) {
					human_size(bytes, size, sizeof(size));
					human_size(a->limit, lim, sizeof(lim));
					revision_offset_to_linecol(sql, st->off, first, &line, &col);
					if (over++ == 0)
						refusal(&refused, a, s->rev, line, table, size,
							lim);
					else
						sbuf_addf(&refused, "%s%s (%s:%d) on %s (%s)",
							  over == 2 ? ". Also over the limit: " : ", ",
							  s->rev->id, s->rev->path, line, table, size);
				}
				free(table);
			}
			strlist_free(&seen);
		}
		archive_plan_release(&ap);
	}
	if (rc == 0 && over)
		rc = err_set(e, ERR_SCRIPT, "%s", refused.buf);
	sbuf_free(&refused);
	return rc;
}

/* ---- restoring ---- */

struct arow {
	char *id, *table, *kind, *arch;
	struct strlist cols, pk;
};

static void arow_release(struct arow *r)
{
	free(r->id);
	free(r->table);
	free(r->kind);
	free(r->arch);
	strlist_free(&r->cols);
	strlist_free(&r->pk);
}

/* The columns of `table` among names (attnames), or all of the table's
 * that the archive has and are not generated (names NULL). */
static int present(struct db *db, const char *table, const char *arch, struct strlist *out)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 };
	int rc;

	sbuf_adds(&q, "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = "
		      "pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, table);
	sbuf_adds(&q, ") AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' AND "
		      "EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = "
		      "pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, arch);
	sbuf_adds(&q, ") AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped) "
		      "ORDER BY a.attnum");
	rc = db_query_col(db, q.buf, &rows);
	for (size_t i = 0; rc == 0 && i < rows.n; i++)
		strlist_push(out, rows.v[i]);
	strlist_free(&rows);
	sbuf_free(&q);
	return rc;
}

static void kept(const struct arow *r, const char *rev, const char *why)
{
	log_event(LOG_WARN, "archive_kept",
		  (struct log_field[]){ LFS("revision", rev), LFS("table", r->table),
					LFS("archive", r->arch), { 0 } },
		  "revision %s: the archived data of %s was not put back (%s): it stays in %s", rev,
		  r->table, why, r->arch);
}

static int has_all(const struct strlist *have, const struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strlist_contains(have, l->v[i]))
			return 0;
	return 1;
}

/* prefix"c" = a."c" for each column c, sep between. */
static void add_from_archive(struct sbuf *b, const char *prefix, const struct strlist *l,
			     const char *sep)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			sbuf_adds(b, sep);
		sbuf_adds(b, prefix);
		sbuf_add_sql_ident(b, l->v[i]);
		sbuf_adds(b, " = a.");
		sbuf_add_sql_ident(b, l->v[i]);
	}
}

/* The restoring statement of r, or NULL with *why set: a dropped column's
 * values set back by primary key, a dropped table's rows put back. */
static char *restore_sql(struct db *db, const struct arow *r, const char **why)
{
	struct strlist have = { 0 };
	struct sbuf q = { 0 };
	int is_col = !strcmp(r->kind, "column");

	*why = NULL;
	if (!r->pk.n)
		*why = "the table has no primary key";
	else if (present(db, r->table, r->arch, &have) < 0)
		*why = "cannot read the table's columns";
	else if (!has_all(&have, &r->pk))
		*why = "the table's primary key columns are not there";
	else if (is_col && !has_all(&have, &r->cols))
		*why = "the downgrade did not recreate the column";
	if (*why) {
		strlist_free(&have);
		return NULL;
	}
	if (is_col) {
		sbuf_addf(&q, "UPDATE %s AS t SET ", r->table);
		add_from_archive(&q, "", &r->cols, ", ");
		sbuf_addf(&q, " FROM %s AS a WHERE ", r->arch);
		add_from_archive(&q, "t.", &r->pk, " AND ");
	} else {
		sbuf_addf(&q, "INSERT INTO %s (", r->table);
		add_idents(&q, "", &have);
		sbuf_adds(&q, ") OVERRIDING SYSTEM VALUE SELECT ");
		add_idents(&q, "", &have);
		sbuf_addf(&q, " FROM %s ON CONFLICT DO NOTHING", r->arch);
	}
	strlist_free(&have);
	return sbuf_detach(&q);
}

/* The sequences of the table's serial and identity columns set past the
 * restored values. */
static int bump_sequences(struct db *db, const char *table)
{
	struct strlist cols = { 0 };
	struct sbuf q = { 0 };
	int rc;

	sbuf_adds(&q, "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = "
		      "pg_catalog.to_regclass(");
	sbuf_add_sql_str(&q, table);
	sbuf_adds(&q, ") AND attnum > 0 AND NOT attisdropped AND "
		      "pg_catalog.pg_get_serial_sequence(");
	sbuf_add_sql_str(&q, table);
	sbuf_adds(&q, ", attname) IS NOT NULL");
	rc = db_query_col(db, q.buf, &cols);
	for (size_t i = 0; rc == 0 && i < cols.n; i++) {
		struct strlist res = { 0 };

		sbuf_reset(&q);
		sbuf_adds(&q, "SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(");
		sbuf_add_sql_str(&q, table);
		sbuf_adds(&q, ", ");
		sbuf_add_sql_str(&q, cols.v[i]);
		sbuf_adds(&q, "), m)::text FROM (SELECT max(");
		sbuf_add_sql_ident(&q, cols.v[i]);
		sbuf_addf(&q, ")::bigint AS m FROM %s) x WHERE m IS NOT NULL", table);
		rc = db_query_col(db, q.buf, &res);
		strlist_free(&res);
	}
	strlist_free(&cols);
	sbuf_free(&q);
	return rc;
}

/* Put r back in a savepoint: a value that does not fit the recreated
 * column keeps the archive (a warning) and lets the downgrade go on; only
 * an error that ends the transaction fails the downgrade. */
static int restore_one(const struct archive *a, struct db *db, const struct arow *r,
		       const char *rev, struct err *e)
{
	const char *why = NULL;
	char *sql = restore_sql(db, r, &why);
	long long n = 0;
	int rc = 0, broken = 0;

	if (!sql) {
		broken = db->dberr.sqlstate[0] && db_connection_lost(db);
		if (!broken)
			kept(r, rev, why);
	} else if (db_execs(db, "SAVEPOINT prestart_restore") < 0) {
		broken = 1;
	} else if (db_execs(db, sql) < 0 || ((n = db->changes), 0) ||
		   (!strcmp(r->kind, "table") && bump_sequences(db, r->table) < 0)) {
		char *msg = db_error_string(db);

		broken = db_connection_lost(db) ||
			 db_execs(db, "ROLLBACK TO SAVEPOINT prestart_restore") < 0;
		if (!broken)
			kept(r, rev, msg);
		free(msg);
	} else {
		char *list = list_name(a);
		char *drop = xasprintf("RELEASE SAVEPOINT prestart_restore; DROP TABLE %s; "
				       "DELETE FROM %s WHERE id = %s",
				       r->arch, list, r->id);

		if (db_execs(db, drop) < 0)
			rc = fail(db, e, "cannot drop the archive %s: %s", r->arch);
		else
			log_event(LOG_INFO, "restored",
				  (struct log_field[]){ LFS("revision", rev), LFS("table", r->table),
							LFS("archive", r->arch), LFI("rows", n), { 0 } },
				  "revision %s: put back %lld archived row%s of %s (from %s)", rev, n,
				  n == 1 ? "" : "s", r->table, r->arch);
		free(drop);
		free(list);
	}
	if (broken)
		rc = fail(db, e, "cannot restore %s: %s", r->table);
	free(sql);
	return rc;
}

int archive_restore(const struct archive *a, struct db *db, const char *rev, struct err *e)
{
	struct strlist rows = { 0 }, done = { 0 };
	struct sbuf q = { 0 };
	char *list;
	int exists, rc = 0;

	if (list_exists(a, db, &exists) < 0)
		return fail(db, e, "cannot read the archive list in %s: %s", a->schema);
	if (!exists)
		return 0;
	list = list_name(a);
	sbuf_adds(&q, "SELECT concat_ws(chr(31), id::text, kind, table_name, archive_table, "
		      "array_to_string(columns, chr(30)), array_to_string(pk_columns, chr(30))) FROM ");
	sbuf_adds(&q, list);
	sbuf_adds(&q, " WHERE direction = 'upgrade' AND version_table = ");
	sbuf_add_sql_str(&q, a->version_table);
	sbuf_adds(&q, " AND revision = ");
	sbuf_add_sql_str(&q, rev);
	sbuf_adds(&q, " ORDER BY id DESC");
	if (db_query_col(db, q.buf, &rows) < 0)
		rc = fail(db, e, "cannot read the archive list in %s: %s", a->schema);
	for (size_t i = 0; rc == 0 && i < rows.n; i++) {
		struct strlist f = { 0 };
		struct arow r = { 0 };
		const char *s = rows.v[i];
		char *key;

		split_fields(s, 6, &f);
		r.id = xstrdup(f.v[0]);
		r.kind = xstrdup(f.v[1]);
		r.table = xstrdup(f.v[2]);
		r.arch = xstrdup(f.v[3]);
		split_sub(&r.cols, f.v[4]);
		split_sub(&r.pk, f.v[5]);
		strlist_free(&f);
		/* an older archive of the same data (the revision ran twice,
		 * reverted in between by something else) stays */
		key = xasprintf("%s %s/%s", r.kind, r.table,
				!strcmp(r.kind, "column") && r.cols.n ? r.cols.v[0] : "");
		if (strlist_contains(&done, key))
			kept(&r, rev, "a newer archive of the same data was put back");
		else
			rc = restore_one(a, db, &r, rev, e);
		strlist_push_owned(&done, key);
		arow_release(&r);
	}
	strlist_free(&rows);
	strlist_free(&done);
	sbuf_free(&q);
	free(list);
	return rc;
}

/* ---- pruning and listing ---- */

int archive_prune(const struct archive *a, struct db *db, struct err *e)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 };
	char *list;
	int exists, rc = 0;

	if (a->retention_ms <= 0)
		return 0;
	if (list_exists(a, db, &exists) < 0)
		return fail(db, e, "cannot read the archive list in %s: %s", a->schema);
	if (!exists)
		return 0;
	list = list_name(a);
	sbuf_adds(&q, "SELECT concat_ws(chr(31), id::text, archive_table, table_name, revision) FROM ");
	sbuf_adds(&q, list);
	sbuf_adds(&q, " WHERE version_table = ");
	sbuf_add_sql_str(&q, a->version_table);
	sbuf_addf(&q, " AND created_at < pg_catalog.now() - interval '%lld milliseconds' "
		      "ORDER BY id", a->retention_ms);
	if (db_query_col(db, q.buf, &rows) < 0) {
		rc = fail(db, e, "cannot read the archive list in %s: %s", a->schema);
		goto out;
	}
	if (!rows.n)
		goto out;
	if (db_begin(db) < 0) {
		rc = fail(db, e, "cannot drop old archives: %s", "");
		goto out;
	}
	for (size_t i = 0; rc == 0 && i < rows.n; i++) {
		struct strlist f = { 0 };

		split_fields(rows.v[i], 4, &f);
		{
			char *sql = xasprintf("DROP TABLE IF EXISTS %s; DELETE FROM %s WHERE id = %s",
					      f.v[1], list, f.v[0]);

			if (db_execs(db, sql) < 0)
				rc = fail(db, e, "cannot drop the archive %s: %s", f.v[1]);
			else
				log_event(LOG_INFO, "archive_dropped",
					  (struct log_field[]){ LFS("archive", f.v[1]),
								LFS("table", f.v[2]),
								LFS("revision", f.v[3]), { 0 } },
					  "dropped the archive %s (of %s, revision %s): older than "
					  "--archive-retention",
					  f.v[1], f.v[2], f.v[3]);
			free(sql);
		}
		strlist_free(&f);
	}
	if (rc == 0 && db_commit(db) < 0)
		rc = fail(db, e, "cannot drop old archives: %s", "");
	if (db->in_tx)
		db_rollback(db);
out:
	strlist_free(&rows);
	sbuf_free(&q);
	free(list);
	return rc;
}

int archive_list(const struct archive *a, struct db *db, struct archive_rows *out,
		 struct err *e)
{
	struct strlist rows = { 0 };
	struct sbuf q = { 0 };
	char *list;
	int exists, rc = 0;

	memset(out, 0, sizeof(*out));
	if (list_exists(a, db, &exists) < 0)
		return fail(db, e, "cannot read the archive list in %s: %s", a->schema);
	if (!exists)
		return 0;
	list = list_name(a);
	sbuf_adds(&q, "SELECT concat_ws(chr(31), id::text, rows::text, bytes::text, "
		      "extract(epoch FROM pg_catalog.now() - created_at)::bigint::text, "
		      "(cardinality(pk_columns) > 0)::text, revision, direction, table_name, kind, "
		      "archive_table, to_char(created_at AT TIME ZONE 'UTC', "
		      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), array_to_string(columns, ', ')) FROM ");
	sbuf_adds(&q, list);
	sbuf_adds(&q, " WHERE version_table = ");
	sbuf_add_sql_str(&q, a->version_table);
	sbuf_adds(&q, " ORDER BY id");
	if (db_query_col(db, q.buf, &rows) < 0)
		rc = fail(db, e, "cannot read the archive list in %s: %s", a->schema);
	out->v = xcalloc(rows.n ? rows.n : 1, sizeof(*out->v));
	for (size_t i = 0; rc == 0 && i < rows.n; i++) {
		struct strlist f = { 0 };
		const char *s = rows.v[i];
		struct archive_row *r = &out->v[out->n++];

		split_fields(s, 12, &f);
		r->id = strtoll(f.v[0], NULL, 10);
		r->rows = strtoll(f.v[1], NULL, 10);
		r->bytes = strtoll(f.v[2], NULL, 10);
		r->age_s = strtoll(f.v[3], NULL, 10);
		r->keyed = !strcmp(f.v[4], "true");
		r->revision = xstrdup(f.v[5]);
		r->direction = xstrdup(f.v[6]);
		r->table = xstrdup(f.v[7]);
		r->kind = xstrdup(f.v[8]);
		r->archive_table = xstrdup(f.v[9]);
		r->created_at = xstrdup(f.v[10]);
		r->columns = xstrdup(f.v[11]);
		strlist_free(&f);
	}
	strlist_free(&rows);
	sbuf_free(&q);
	free(list);
	return rc;
}

void archive_rows_release(struct archive_rows *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct archive_row *x = &r->v[i];

		free(x->revision);
		free(x->direction);
		free(x->table);
		free(x->kind);
		free(x->columns);
		free(x->archive_table);
		free(x->created_at);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}
