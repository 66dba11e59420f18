/* ledger.c - the ledger of applied revisions (SPEC §7.3).
 *
 * Divisions, in order: SHA-256 and the checksum's normalisation; names and
 * SQL text; creating the table; writing rows; reading rows; judging a
 * database ahead of the scripts; checksums; descriptions.
 */
#include "prestart/ledger.h"
#include "prestart/phase.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prestart/buildinfo.h"
#include "prestart/log.h"
#include "prestart/pgscan.h"
#include "prestart/sha256.h"


void ledger_sha256_hex(const void *data, size_t len, char out[65])
{
	sha256_hex(data, len, out);
}

/* Copy text without comments, keeping quoted strings whole: '...', "..."
 * and $tag$...$tag$ may hold "--" that is data.  The hand-written lexer
 * below is for text PostgreSQL's scanner refuses (and SQLite's). */
static void strip_comments_lexical(const char *s, struct sbuf *b)
{
	size_t i = 0, len = strlen(s);

	while (i < len) {
		char c = s[i];

		if (c == '-' && s[i + 1] == '-') {
			while (i < len && s[i] != '\n')
				i++;
		} else if (c == '/' && s[i + 1] == '*') {
			int depth = 1;

			for (i += 2; i < len && depth; ) {
				if (s[i] == '*' && s[i + 1] == '/')
					depth--, i += 2;
				else if (s[i] == '/' && s[i + 1] == '*')
					depth++, i += 2;
				else
					i++;
			}
			sbuf_addc(b, ' ');
		} else if (c == '\'' || c == '"') {
			size_t j = i + 1;

			while (j < len && s[j] != c)
				j++;
			j = j < len ? j + 1 : len;
			sbuf_add(b, s + i, j - i);
			i = j;
		} else if (c == '$') {
			size_t j = i + 1;
			const char *end;

			while (j < len && (s[j] == '_' || (s[j] >= 'a' && s[j] <= 'z') ||
					   (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')))
				j++;
			if (j < len && s[j] == '$') {
				char *tag = xstrndup(s + i, j - i + 1);

				end = strstr(s + j + 1, tag);
				j = end ? (size_t)(end - s) + strlen(tag) : len;
				free(tag);
			} else {
				j = i + 1;
			}
			sbuf_add(b, s + i, j - i);
			i = j;
		} else {
			sbuf_addc(b, c);
			i++;
		}
	}
}

/* The same with PostgreSQL's scanner, which knows E'\'' escapes and every
 * other quoting rule: a line comment goes (its newline stays), a block
 * comment becomes one blank, as above, so that text both read alike keeps
 * the checksum it always had. */
static void strip_comments(const char *s, struct sbuf *b)
{
	struct pgscan t;
	struct err e;
	size_t at = 0;

	/* Every restart checks every applied revision's checksum (SPEC
	 * §7.3): text that cannot hold a comment, or whose quoting the lexer
	 * above reads as PostgreSQL does, is not handed to the scanner.  The
	 * lexer differs from the scanner only on $ (identifiers, dollar
	 * quotes), backslashes (E'' strings) and a line comment ended by CR;
	 * test_ledger.c holds the two to the same output. */
	if (!strstr(s, "--") && !strstr(s, "/*")) {
		sbuf_adds(b, s);
		return;
	}
	if (!strpbrk(s, "$\\\r")) {
		strip_comments_lexical(s, b);
		return;
	}
	if (pgscan(s, &t, NULL, &e) < 0) {
		pgscan_release(&t);
		strip_comments_lexical(s, b);
		return;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (t.v[i].kind != PGSCAN_COMMENT)
			continue;
		sbuf_add(b, s + at, t.v[i].start - at);
		if (s[t.v[i].start] == '/')
			sbuf_addc(b, ' ');
		at = t.v[i].end;
	}
	sbuf_adds(b, s + at);
	pgscan_release(&t);
}

void ledger_checksum(const char *text, char out[65])
{
	struct sbuf nc = { 0 }, norm = { 0 };
	const char *p;

	out[0] = '\0';
	if (!text)
		return;
	if (!strncmp(text, "\xef\xbb\xbf", 3))
		text += 3;
	strip_comments(text, &nc);
	/* Line by line: no CR, no trailing blanks, no empty lines. */
	for (p = nc.buf ? nc.buf : ""; *p;) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);

		while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n) {
			sbuf_add(&norm, p, n);
			sbuf_addc(&norm, '\n');
		}
		p = eol ? eol + 1 : p + strlen(p);
	}
	ledger_sha256_hex(norm.buf ? norm.buf : "", norm.len, out);
	sbuf_free(&nc);
	sbuf_free(&norm);
}

/* ---- names and SQL text ---- */

void ledger_init(struct ledger *l, enum db_kind kind, const char *ledger_schema,
		 const char *vt_schema, const char *vt_table)
{
	char host[256];

	memset(l, 0, sizeof(*l));
	l->on = 1;
	l->kind = kind;
	l->drv = db_driver(kind);
	l->schema = ledger_schema && *ledger_schema ? ledger_schema : LEDGER_DEFAULT_SCHEMA;
	l->vt_schema = vt_schema;
	l->vt_table = vt_table;
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "unknown");
	host[sizeof(host) - 1] = '\0';
	l->applied_by = xasprintf("prestart@%.54s", host);
}

void ledger_release(struct ledger *l)
{
	free(l->applied_by);
	l->applied_by = NULL;
}

/* The ledger table's quoted name. */
static char *table_name(const struct ledger *l)
{
	char *t, *s, *r;

	if (l->drv->supports & DB_HAS_LEDGER_SCHEMA) {
		s = db_quote_ident(l->kind, l->schema);
		r = xasprintf("%s.history", s);
		free(s);
		return r;
	}
	t = xasprintf("%s_history", l->vt_table);
	s = db_quote_ident(l->kind, t);
	free(t);
	if (!l->vt_schema)
		return s;
	t = db_quote_ident(l->kind, l->vt_schema);
	r = xasprintf("%s.%s", t, s);
	free(t);
	free(s);
	return r;
}

/* The ledger table's unquoted name, and its schema in *schema. */
static char *raw_name(const struct ledger *l, const char **schema)
{
	if (l->drv->supports & DB_HAS_LEDGER_SCHEMA) {
		*schema = l->schema;
		return xstrdup("history");
	}
	*schema = l->vt_schema;
	return xasprintf("%s_history", l->vt_table);
}

/* The version_table column's value: the version table's own name. */
static char *vt_key(const struct ledger *l)
{
	return l->vt_schema ? xasprintf("%s.%s", l->vt_schema, l->vt_table) : xstrdup(l->vt_table);
}

static void add_value(struct sbuf *b, const struct ledger *l, const char *s)
{
	if (s)
		db_add_literal(b, l->kind, s);
	else
		sbuf_adds(b, "NULL");
}

/* The version_table column's value as SQL.  A PostgreSQL version table
 * named without a schema is the one search_path finds: several schemas
 * (tenants) each have one, and each must have its own rows.  The key is
 * then that schema's name and the table's, except for "public", whose rows
 * keep the bare name earlier versions wrote (so that an older image, in a
 * rollback, still finds them). */
static void add_key(struct sbuf *b, const struct ledger *l)
{
	char *key = vt_key(l), *q, *dot;

	/* Only where one ledger serves every version table (in prestart's
	 * schema) can two of them share a key. */
	if (!(l->drv->supports & DB_HAS_LEDGER_SCHEMA) || l->vt_schema) {
		add_value(b, l, key);
		free(key);
		return;
	}
	q = db_quote_ident(l->kind, l->vt_table);
	sbuf_adds(b, "(SELECT CASE WHEN s.n = 'public' THEN ");
	sbuf_add_sql_str(b, key);
	dot = xasprintf(".%s", key);
	sbuf_adds(b, " ELSE s.n || ");
	sbuf_add_sql_str(b, dot);
	sbuf_adds(b, " END FROM (SELECT COALESCE((SELECT n.nspname::text FROM "
		     "pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
		     "c.relnamespace WHERE c.oid = pg_catalog.to_regclass(");
	sbuf_add_sql_str(b, q);
	sbuf_adds(b, ")), pg_catalog.current_schema()::text) AS n) AS s)");
	free(dot);
	free(q);
	free(key);
}

/* ---- creating the table ---- */

static char *create_sql(const struct ledger *l)
{
	char *name = table_name(l);
	const char *ts = l->drv->sql_timestamp;
	char *sql = xasprintf("CREATE TABLE IF NOT EXISTS %s (\n"
			      "    version_table VARCHAR(200) NOT NULL,\n"
			      "    revision VARCHAR(32) NOT NULL,\n"
			      "    down_revisions TEXT NOT NULL,\n"
			      "    checksum VARCHAR(64),\n"
			      "    downgrade_sql TEXT,\n"
			      "    compat VARCHAR(16),\n"
			      "    applied_at %s NOT NULL,\n"
			      "    duration_ms BIGINT NOT NULL,\n"
			      "    applied_by TEXT NOT NULL,\n"
			      "    prestart_version VARCHAR(32) NOT NULL,\n"
			      "    lock_hold_ms BIGINT,\n"
			      "    PRIMARY KEY (version_table, revision)\n)",
			      name, ts);

	free(name);
	return sql;
}

/* Refuse a ledger table another role made or can run code through. */
static int check_trusted(struct ledger *l, struct db *db)
{
	char why[256], *name;

	if (!(l->drv->supports & DB_HAS_PRIVILEGES))
		return 0;
	name = table_name(l);
	if (db_table_trusted(db, l->schema, "history", why, sizeof(why)) < 0) {
		free(name);
		return -1;
	}
	if (why[0]) {
		l->refused = 1;
		db_set_errstr(db, "the ledger table %s %s: prestart will not write to it (its "
			      "triggers would run with prestart's privileges); drop it, or choose "
			      "another --ledger-schema",
			      name, why);
	}
	free(name);
	return why[0] ? -1 : 0;
}

void ledger_undo_create(struct ledger *l, struct db *db)
{
	struct strlist n = { 0 };
	char *name, *q;

	if (!l->created || db->in_tx || db_connection_lost(db))
		return;
	name = table_name(l);
	q = xasprintf("SELECT CAST(count(*) AS TEXT) FROM %s", name);
	if (db->ops->query_col(db, q, &n) == 0 && n.n == 1 && !strcmp(n.v[0], "0")) {
		free(q);
		q = xasprintf("DROP TABLE %s", name);
		if (db_execs(db, q) == 0)
			l->created = 0;
	}
	db_clear_error(db);
	strlist_free(&n);
	free(q);
	free(name);
}

/* A table made by an older prestart lacks the columns added since
 * (lock_hold_ms): add them, nullable and without a default, so that the
 * ALTER only changes the catalog and the rows of older versions stay as
 * they are (older images name their columns: they still write and read
 * the table).  A role that may write but not alter the table goes on
 * without the column, said once. */
static void upgrade_table(struct ledger *l, struct db *db)
{
	struct strlist n = { 0 };
	char *name = table_name(l);
	char *q = xasprintf("SELECT CAST(count(lock_hold_ms) AS TEXT) FROM %s WHERE 1 = 0", name);

	l->hold_col = db->ops->query_col(db, q, &n) == 0;
	strlist_free(&n);
	free(q);
	db_clear_error(db);
	if (!l->hold_col && !db_connection_lost(db)) {
		q = xasprintf("ALTER TABLE %s ADD COLUMN lock_hold_ms BIGINT", name);
		l->hold_col = db_execs(db, q) == 0;
		free(q);
		if (!l->hold_col)
			log_event(LOG_WARN, "ledger_column",
				  (struct log_field[]){ LFS("error", db->errstr), { 0 } },
				  "cannot add the column lock_hold_ms to the ledger %s, lock holds "
				  "are not recorded there: %s",
				  name, db->errstr);
		db_clear_error(db);
	}
	free(name);
}

int ledger_prepare(struct ledger *l, struct db *db)
{
	char *raw, *sql;
	const char *schema;
	int exists = 0, rc;

	if (!l->on)
		return 0;
	raw = raw_name(l, &schema);
	rc = db->ops->table_exists(db, schema, raw, &exists);
	free(raw);
	if (rc == 0 && exists && check_trusted(l, db) < 0) {
		if (l->refused)
			return -1;
		rc = -1;
	}
	if (rc == 0 && exists && (l->drv->supports & DB_HAS_PRIVILEGES)) {
		/* A row that cannot be written would abort the migration's
		 * transaction: find out now. */
		struct strlist rows = { 0 };
		struct sbuf q = { 0 };
		char *name = table_name(l);

		sbuf_adds(&q, "SELECT pg_catalog.has_table_privilege(");
		sbuf_add_sql_str(&q, name);
		sbuf_adds(&q, ", 'SELECT, INSERT, DELETE')::text");
		rc = db->ops->query_col(db, q.buf, &rows);
		if (rc == 0 && (rows.n != 1 || strcmp(rows.v[0], "true")))
			rc = db_set_errstr(db, "no SELECT, INSERT and DELETE privilege on %s", name);
		strlist_free(&rows);
		sbuf_free(&q);
		free(name);
	}
	if (rc == 0 && exists) {
		upgrade_table(l, db);
		return db_connection_lost(db) ? -1 : 0;
	}
	if (rc == 0)
		rc = db_ensure_schema(db, l->schema);
	if (rc == 0) {
		sql = create_sql(l);
		rc = db_execs(db, sql);
		free(sql);
		l->created = rc == 0;
		/* IF NOT EXISTS: an older one may have been made meanwhile */
		if (rc == 0)
			upgrade_table(l, db);
	}
	/* IF NOT EXISTS: another role may have made it meanwhile. */
	if (rc == 0 && check_trusted(l, db) < 0 && l->refused)
		return -1;
	if (rc == 0)
		return 0;
	if (db_connection_lost(db))
		return -1;
	l->on = 0;
	log_event(LOG_WARN, "ledger_off", (struct log_field[]){ LFS("error", db->errstr), { 0 } },
		  "cannot create the ledger, going on without it: %s", db->errstr);
	db_clear_error(db);
	return 0;
}

/* ---- writing rows ---- */

static void add_delete(struct sbuf *b, const struct ledger *l, const char *rev)
{
	char *name = table_name(l);

	sbuf_addf(b, "DELETE FROM %s WHERE version_table = ", name);
	add_key(b, l);
	sbuf_adds(b, " AND revision = ");
	add_value(b, l, rev);
	free(name);
}

int ledger_forget(const struct ledger *l, struct db *db, const char *rev)
{
	struct sbuf b = { 0 };
	int rc;

	if (!l->on)
		return 0;
	add_delete(&b, l, rev);
	rc = db_execs(db, b.buf);
	sbuf_free(&b);
	return rc;
}

/* The compat column: "breaking" for a revision marked so, else its class
 * (SPEC §9.4, phase.h): "contract" or "expand"; NULL when its SQL does not
 * split (the migration itself reports that).  --if-ahead reads it. */
static const char *compat_of(const struct ledger *l, const struct revision *rev)
{
	struct phase_class c;
	struct err e = { 0 };
	const char *v;

	if (rev->compat_breaking)
		return "breaking";
	if (phase_classify_sql(rev, rev->is_py ? NULL : rev->upgrade_sql, rev->path,
			       rev->upgrade_line, l->kind == DB_SQLITE, &c, &e) < 0)
		return NULL;
	v = c.contract ? "contract" : "expand";
	phase_class_release(&c);
	return v;
}

void ledger_compat_release(struct ledger_compat *lc)
{
	free(lc->v);
	memset(lc, 0, sizeof(*lc));
}

/* compat_of, from l->compat when it knows rev (the values are constants). */
static const char *compat_cached(const struct ledger *l, const struct revision *rev)
{
	struct ledger_compat *lc = l->compat;
	const char *v;

	if (!lc)
		return compat_of(l, rev);
	for (size_t i = 0; i < lc->n; i++)
		if (lc->v[i].rev == rev)
			return lc->v[i].v;
	v = compat_of(l, rev);
	if (lc->n == lc->a) {
		lc->a = lc->a ? 2 * lc->a : 8;
		lc->v = xrealloc(lc->v, lc->a * sizeof(*lc->v));
	}
	lc->v[lc->n].rev = rev;
	lc->v[lc->n++].v = v;
	return v;
}

int ledger_record(const struct ledger *l, struct db *db, const struct revision *rev,
		  int upgrade, long long duration_ms, long long lock_hold_ms)
{
	struct sbuf b = { 0 };
	char sum[65], *name, *down, *undo = NULL;
	int rc;

	if (!l->on || !rev)
		return 0;
	if (!upgrade)
		return ledger_forget(l, db, rev->id);
	add_delete(&b, l, rev->id);
	sbuf_adds(&b, "; ");
	name = table_name(l);
	down = strlist_join(&rev->down, ",");
	ledger_checksum(rev->is_py ? NULL : rev->upgrade_sql, sum);
	sbuf_addf(&b, "INSERT INTO %s (version_table, revision, down_revisions, checksum, "
		      "downgrade_sql, compat, applied_at, duration_ms, applied_by, "
		      "prestart_version%s) VALUES (",
		  name, l->hold_col ? ", lock_hold_ms" : "");
	add_key(&b, l);
	sbuf_adds(&b, ", ");
	add_value(&b, l, rev->id);
	sbuf_adds(&b, ", ");
	add_value(&b, l, down);
	sbuf_adds(&b, ", ");
	add_value(&b, l, sum[0] ? sum : NULL);
	sbuf_adds(&b, ", ");
	if (!rev->is_py && rev->downgrade_sql)
		undo = xasprintf("%s%s", rev->transactional ? "" : LEDGER_NONTX_MARK,
				 rev->downgrade_sql);
	add_value(&b, l, undo);
	sbuf_adds(&b, ", ");
	add_value(&b, l, compat_cached(l, rev));
	sbuf_addf(&b, ", %s", l->drv->sql_now);
	sbuf_addf(&b, ", %lld, ", duration_ms);
	add_value(&b, l, l->applied_by);
	sbuf_adds(&b, ", ");
	add_value(&b, l, buildinfo_version());
	if (l->hold_col && lock_hold_ms >= 0)
		sbuf_addf(&b, ", %lld", lock_hold_ms);
	else if (l->hold_col)
		sbuf_adds(&b, ", NULL");
	sbuf_adds(&b, ")");
	rc = db_execs(db, b.buf);
	sbuf_free(&b);
	free(name);
	free(down);
	free(undo);
	return rc;
}

/* ---- reading rows ---- */

/* Each field travels as "<length>:<text>" or "-" for NULL, all in one text
 * column: the driver returns one column per row.  The driver counts the
 * length in what the client receives, whatever the database's encoding
 * holds (a LATIN1 database sends UTF-8 to a UTF-8 client; a UTF-16 SQLite
 * file hands out UTF-8): bytes, or characters under DB_TEXT_LENGTH_IN_CHARS. */
static void add_field(struct sbuf *b, const struct ledger *l, const char *expr)
{
	sbuf_adds(b, "COALESCE(");
	sbuf_addf(b, l->drv->sql_text_length, expr);
	sbuf_addf(b, " || ':' || %s, '-')", expr);
}

/* SQLite's length(): a byte of 0xc0 or more and the continuation bytes
 * after it are one character, any other byte is one. */
static const char *skip_chars(const char *s, unsigned long long n)
{
	const unsigned char *p = (const unsigned char *)s;

	while (n--) {
		if (!*p)
			return NULL;
		if (*p++ >= 0xc0)
			while ((*p & 0xc0) == 0x80)
				p++;
	}
	return (const char *)p;
}

static int take_field(enum db_kind kind, const char **p, char **out)
{
	const char *start, *stop;
	char *end;
	unsigned long long n;

	*out = NULL;
	if (**p == '-') {
		(*p)++;
		return 0;
	}
	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	n = strtoull(*p, &end, 10);
	if (errno || *end != ':')
		return -1;
	start = end + 1;
	if (db_kind_supports(kind, DB_TEXT_LENGTH_IN_CHARS))
		stop = skip_chars(start, n);
	else
		stop = n <= strlen(start) ? start + n : NULL;
	if (!stop)
		return -1;
	*out = xstrndup(start, (size_t)(stop - start));
	*p = stop;
	return 0;
}

void ledger_row_release(struct ledger_row *r)
{
	free(r->revision);
	strlist_free(&r->down);
	free(r->checksum);
	free(r->downgrade_sql);
	free(r->applied_at);
	free(r->applied_by);
	free(r->prestart_version);
	memset(r, 0, sizeof(*r));
}

int ledger_row_parse(enum db_kind kind, const char *text, struct ledger_row *r)
{
	const char *p = text;
	char *down = NULL, *compat = NULL;
	char *end;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (take_field(kind, &p, &r->revision) < 0 || !r->revision ||
	    take_field(kind, &p, &down) < 0 || take_field(kind, &p, &r->checksum) < 0 ||
	    take_field(kind, &p, &r->downgrade_sql) < 0 || take_field(kind, &p, &compat) < 0 ||
	    take_field(kind, &p, &r->applied_at) < 0 || take_field(kind, &p, &r->applied_by) < 0 ||
	    take_field(kind, &p, &r->prestart_version) < 0 || *p != ' ')
		goto out;
	errno = 0;
	r->duration_ms = strtoll(p + 1, &end, 10);
	if (errno || end == p + 1 || (*end && *end != ' '))
		goto out;
	r->lock_hold_ms = -1;
	if (*end == ' ' && strcmp(end + 1, "-")) {
		/* lock_hold_ms, when read; "-" for NULL */
		p = end + 1;
		r->lock_hold_ms = strtoll(p, &end, 10);
		if (errno || end == p || *end || r->lock_hold_ms < 0)
			goto out;
	}
	if (down && *down)
		strlist_split(&r->down, down, ",");
	r->breaking = compat && !strcmp(compat, "breaking");
	r->contract = compat && !strcmp(compat, "contract");
	r->transactional = 1;
	if (r->downgrade_sql &&
	    !strncmp(r->downgrade_sql, LEDGER_NONTX_MARK, strlen(LEDGER_NONTX_MARK))) {
		size_t m = strlen(LEDGER_NONTX_MARK);

		memmove(r->downgrade_sql, r->downgrade_sql + m, strlen(r->downgrade_sql + m) + 1);
		r->transactional = 0;
	}
	rc = 0;
out:
	free(down);
	free(compat);
	if (rc < 0)
		ledger_row_release(r);
	return rc;
}

/* Is there a ledger to read, one prestart may read?  1 yes, 0 none (off,
 * or no table), -1 with db->errstr (and l->refused for a table another
 * role made or can run code through). */
static int may_read(struct ledger *l, struct db *db)
{
	const char *schema;
	char *t;
	int exists = 0, rc;

	if (!l->on)
		return 0;
	t = raw_name(l, &schema);
	rc = db->ops->table_exists(db, schema, t, &exists);
	free(t);
	if (rc < 0 || !exists)
		return rc;
	/* Even a SELECT runs a view's (or a rule's) functions. */
	return check_trusted(l, db) < 0 ? -1 : 1;
}

int ledger_read(struct ledger *l, struct db *db, struct ledger_rows *rows)
{
	static const char *const cols[] = { "revision", "down_revisions", "checksum",
					    "downgrade_sql", "compat", NULL, "applied_by",
					    "prestart_version" };
	struct strlist raw = { 0 };
	struct sbuf q = { 0 };
	char *name, *key;
	size_t at_hold, from;
	int rc;

	memset(rows, 0, sizeof(*rows));
	if ((rc = may_read(l, db)) <= 0)
		return rc;
	name = table_name(l);
	sbuf_adds(&q, "SELECT ");
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
		if (i)
			sbuf_adds(&q, " || ");
		if (cols[i]) {
			add_field(&q, l, cols[i]);
		} else {
			char *at = xasprintf(l->drv->sql_utc_seconds, "applied_at");
			char *expr = xasprintf("(%s || 'Z')", at);

			add_field(&q, l, expr);
			free(expr);
			free(at);
		}
	}
	sbuf_adds(&q, " || ' ' || CAST(duration_ms AS TEXT)");
	at_hold = q.len;
	if (l->read_hold)
		sbuf_adds(&q, " || ' ' || COALESCE(CAST(lock_hold_ms AS TEXT), '-')");
	from = q.len;
	sbuf_addf(&q, " FROM %s WHERE version_table = ", name);
	add_key(&q, l);
	sbuf_adds(&q, " ORDER BY applied_at, revision");
	rc = db->ops->query_col(db, q.buf, &raw);
	if (rc < 0 && l->read_hold && db->ops->is_missing(db, DB_MISSING_COLUMN) &&
	    !db_connection_lost(db)) {
		/* a table of an older prestart: no lock_hold_ms */
		db_clear_error(db);
		strlist_free(&raw);
		memmove(q.buf + at_hold, q.buf + from, q.len - from + 1);
		q.len -= from - at_hold;
		rc = db->ops->query_col(db, q.buf, &raw);
	}
	sbuf_free(&q);
	free(name);
	key = vt_key(l);
	for (size_t i = 0; rc == 0 && i < raw.n; i++) {
		const char *p = raw.v[i];
		struct ledger_row r = { 0 };

		if (ledger_row_parse(l->kind, p, &r) < 0) {
			/* A row that does not read is not proof of anything:
			 * the revision counts as not in the ledger. */
			log_event(LOG_WARN, "ledger_row_unreadable",
				  (struct log_field[]){ LFI("row", (long long)i + 1), { 0 } },
				  "ledger row %zu of %s cannot be read, ignored", i + 1, key);
			continue;
		}
		if (rows->n == rows->alloc) {
			rows->alloc = rows->alloc ? rows->alloc * 2 : 8;
			rows->v = xrealloc(rows->v, rows->alloc * sizeof(*rows->v));
		}
		rows->v[rows->n++] = r;
	}
	free(key);
	strlist_free(&raw);
	return rc;
}

/* " FROM <ledger> WHERE <the rows with a checksum of this version
 * table>": the rows a restart at head compares (ledger_read_sums, and
 * ledger_sums_sql's probe). */
static void add_sums_from(struct sbuf *b, const struct ledger *l)
{
	char *name = table_name(l);

	sbuf_addf(b, " FROM %s WHERE checksum IS NOT NULL AND version_table = ", name);
	add_key(b, l);
	free(name);
}

/* A row of only a revision and its checksum (both owned) onto rows. */
static void push_sum(struct ledger_rows *rows, char *revision, char *checksum)
{
	xgrow((void **)&rows->v, &rows->alloc, rows->n + 1, sizeof(*rows->v));
	memset(&rows->v[rows->n], 0, sizeof(*rows->v));
	rows->v[rows->n].revision = revision;
	rows->v[rows->n].checksum = checksum;
	rows->n++;
}

int ledger_read_sums(struct ledger *l, struct db *db, struct ledger_rows *rows)
{
	struct strlist raw = { 0 };
	struct sbuf q = { 0 };
	int rc;

	memset(rows, 0, sizeof(*rows));
	if ((rc = may_read(l, db)) <= 0)
		return rc;
	/* a checksum is 64 hex digits: the row is split at its last blank */
	sbuf_adds(&q, "SELECT revision || ' ' || checksum");
	add_sums_from(&q, l);
	rc = db->ops->query_col(db, q.buf, &raw);
	sbuf_free(&q);
	for (size_t i = 0; rc == 0 && i < raw.n; i++) {
		const char *blank = strrchr(raw.v[i], ' ');

		if (blank && blank != raw.v[i])
			push_sum(rows, xstrndup(raw.v[i], (size_t)(blank - raw.v[i])),
				 xstrdup(blank + 1));
	}
	strlist_free(&raw);
	return rc;
}

void ledger_rows_release(struct ledger_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++)
		ledger_row_release(&rows->v[i]);
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}

const struct ledger_row *ledger_rows_find(const struct ledger_rows *rows, const char *rev)
{
	for (size_t i = 0; i < rows->n; i++)
		if (!strcmp(rows->v[i].revision, rev))
			return &rows->v[i];
	return NULL;
}

void ledger_index_init(struct ledger_index *ix, const struct ledger_rows *rows)
{
	memset(ix, 0, sizeof(*ix));
	ix->rows = rows;
	for (size_t i = 0; i < rows->n; i++)
		if (strmap_get(&ix->row_of, rows->v[i].revision) < 0)
			strmap_put(&ix->row_of, rows->v[i].revision, (int)i);
}

const struct ledger_row *ledger_index_find(const struct ledger_index *ix, const char *rev)
{
	int i = ix->rows ? strmap_get(&ix->row_of, rev) : -1;

	return i < 0 ? NULL : &ix->rows->v[i];
}

void ledger_index_free(struct ledger_index *ix)
{
	strmap_free(&ix->row_of);
	memset(ix, 0, sizeof(*ix));
}

/* ---- a database ahead of the scripts ---- */

/* The walk below: rows by revision, and each unknown revision's state. */
struct ahead_walk {
	const struct graph *g;
	const struct ledger_rows *rows;
	struct strmap row_of; /* revision -> index in rows */
	struct strmap state;  /* revision -> WALK_ON_PATH or WALK_DONE */
	struct ledger_ahead *a;
};

enum { WALK_ON_PATH, WALK_DONE };

/* Depth-first from an unknown revision down its ledger lineage until
 * revisions the scripts know; postorder, so that reversing the list puts
 * the newest first.  Each revision is visited once; one met again while
 * still on the path closes a cycle (tampered rows), which proves nothing. */
static void walk_unknown(struct ahead_walk *w, const char *id)
{
	int st = strmap_get(&w->state, id);
	int ri;

	if (st == WALK_ON_PATH && !strlist_contains(&w->a->cycle, id))
		strlist_push(&w->a->cycle, id);
	if (st >= 0 || graph_find(w->g, id))
		return;
	strmap_put(&w->state, id, WALK_ON_PATH);
	ri = strmap_get(&w->row_of, id);
	if (ri < 0) {
		strlist_push(&w->a->unproven, id);
	} else {
		const struct ledger_row *r = &w->rows->v[ri];

		for (size_t i = 0; i < r->down.n; i++)
			walk_unknown(w, r->down.v[i]);
		if (r->breaking)
			strlist_push(&w->a->breaking, id);
		else if (r->contract)
			strlist_push(&w->a->contract, id);
		if (!r->downgrade_sql)
			strlist_push(&w->a->no_downgrade, id);
	}
	strmap_put(&w->state, id, WALK_DONE);
	strlist_push(&w->a->unknown, id);
}

/* Every unknown revision (all with ledger rows) whose rows' chain does
 * not reach a revision the scripts know: a base of its own, or a chain
 * that ends at one.  "Descends from this image's revisions" holds only
 * for the others.  One pass over w->a->unknown in the walk's postorder
 * (a revision after the unknown ones below it): a revision is rooted when
 * one of its down revisions is known or rooted.  A revision on a cycle
 * sees the one that closes it not yet rooted: the cycle is named anyway. */
static void find_unrooted(struct ahead_walk *w)
{
	struct strmap rooted = { 0 };
	struct ledger_ahead *a = w->a;

	for (size_t i = 0; i < a->unknown.n; i++) {
		const char *id = a->unknown.v[i];
		int ri = strmap_get(&w->row_of, id);
		const struct ledger_row *r = ri < 0 ? NULL : &w->rows->v[ri];
		int ok = 0;

		for (size_t k = 0; r && !ok && k < r->down.n; k++)
			ok = graph_find(w->g, r->down.v[k]) || strmap_get(&rooted, r->down.v[k]) > 0;
		if (ok)
			strmap_put(&rooted, id, 1);
		else
			strlist_push(&a->unrooted, id);
	}
	strmap_free(&rooted);
}

void ledger_judge_ahead(const struct graph *g, const struct strlist *heads,
			const struct ledger_rows *rows, struct ledger_ahead *a)
{
	struct ahead_walk w = { g, rows, { 0 }, { 0 }, a };
	struct strlist newest = { 0 };
	struct sbuf b = { 0 };
	char *names, *list;

	memset(a, 0, sizeof(*a));
	for (size_t i = rows->n; i-- > 0;)
		if (strmap_get(&w.row_of, rows->v[i].revision) < 0)
			strmap_put(&w.row_of, rows->v[i].revision, (int)i);
	for (size_t i = 0; i < heads->n; i++)
		walk_unknown(&w, heads->v[i]);
	/* Rows missing, or a cycle, already say it: not proven. */
	if (!a->unproven.n && !a->cycle.n)
		find_unrooted(&w);
	strmap_free(&w.row_of);
	strmap_free(&w.state);
	for (size_t i = a->unknown.n; i-- > 0;)
		strlist_push(&newest, a->unknown.v[i]);
	strlist_free(&a->unknown);
	a->unknown = newest;
	a->proven = !a->unproven.n && !a->breaking.n && !a->contract.n && !a->cycle.n &&
		    !a->unrooted.n;
	if (!a->unknown.n)
		return;
	names = strlist_join(&a->unknown, ", ");
	sbuf_addf(&b, "the database is ahead of this image's revision scripts: %s", names);
	if (a->breaking.n) {
		list = strlist_join(&a->breaking, ", ");
		sbuf_addf(&b, "; marked breaking (Compat: breaking): %s", list);
		free(list);
	}
	if (a->contract.n) {
		list = strlist_join(&a->contract, ", ");
		sbuf_addf(&b, "; contract revisions (recorded so when they ran: the previous "
			      "application version cannot run on them): %s",
			  list);
		free(list);
	}
	if (a->unrooted.n) {
		list = strlist_join(&a->unrooted, ", ");
		sbuf_addf(&b, "; descending from none of this image's revisions (their ledger "
			      "chain ends without reaching a revision these scripts know): %s",
			  list);
		free(list);
	}
	if (a->cycle.n) {
		list = strlist_join(&a->cycle, ", ");
		sbuf_addf(&b, "; their ledger rows form a cycle: %s (rows edited by hand?), so "
			      "nothing proves this image can run on them",
			  list);
		free(list);
	}
	if (a->unproven.n) {
		list = strlist_join(&a->unproven, ", ");
		sbuf_addf(&b, "; not in the ledger (applied by Alembic, an offline script, or "
			      "without the ledger), so nothing proves this image can run on them: %s",
			  list);
		free(list);
	}
	if (!a->unproven.n && !a->no_downgrade.n && !a->cycle.n) {
		sbuf_adds(&b, "; to undo them: `prestart rollback` from this image (it runs the "
			      "downgrade SQL the ledger archived)");
	} else {
		sbuf_adds(&b, "; to undo them: `prestart rollback`, or `prestart downgrade` to this "
			      "image's head, from the newer image that has their scripts");
		if (a->no_downgrade.n) {
			list = strlist_join(&a->no_downgrade, ", ");
			sbuf_addf(&b, " (no downgrade SQL archived for %s)", list);
			free(list);
		}
	}
	a->explain = sbuf_detach(&b);
	free(names);
}

void ledger_ahead_release(struct ledger_ahead *a)
{
	strlist_free(&a->unknown);
	strlist_free(&a->breaking);
	strlist_free(&a->contract);
	strlist_free(&a->unproven);
	strlist_free(&a->no_downgrade);
	strlist_free(&a->cycle);
	strlist_free(&a->unrooted);
	free(a->explain);
	memset(a, 0, sizeof(*a));
}

/* ---- checksums ---- */

char *ledger_sums_sql(const struct ledger *l)
{
	struct sbuf inner = { 0 }, b = { 0 };
	char *name;

	if (!l->on || !(l->drv->supports & DB_HAS_QUERY_TO_XML))
		return NULL;
	name = table_name(l);
	sbuf_adds(&inner, "SELECT revision, checksum");
	add_sums_from(&inner, l);
	/* query_to_xml runs its query only when called, so a missing ledger
	 * is no error (and no line in the server's log) on the fast path; nor
	 * is it read when it is not one prestart may use (db_table_trusted:
	 * the run refuses it once there is work) */
	sbuf_adds(&b, "SELECT '" LEDGER_SUMS_PREFIX "' || x::text FROM (SELECT CASE WHEN "
		  "EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = "
		  "pg_catalog.to_regclass(");
	add_value(&b, l, name);
	sbuf_adds(&b, ") AND " DB_PG_TRUSTED_TABLE ") THEN pg_catalog.query_to_xml(");
	add_value(&b, l, inner.buf);
	sbuf_adds(&b, ", false, true, '') END AS x) AS ledger_sums WHERE x IS NOT NULL");
	free(name);
	sbuf_free(&inner);
	return sbuf_detach(&b);
}

/* The text of <tag>...</tag> after *p, advancing *p past it; NULL when
 * there is none before `end`.  Ids and checksums hold no markup. */
static char *xml_take(const char **p, const char *end, const char *tag)
{
	char *open = xasprintf("<%s>", tag), *close = xasprintf("</%s>", tag), *r = NULL;
	const char *a = strstr(*p, open), *z;

	if (a && a < end && (z = strstr(a, close)) && z < end) {
		a += strlen(open);
		r = xstrndup(a, (size_t)(z - a));
		*p = z + strlen(close);
	}
	free(open);
	free(close);
	return r;
}

void ledger_sums_parse(const struct strlist *raw, struct ledger_rows *rows)
{
	memset(rows, 0, sizeof(*rows));
	for (size_t i = 0; i < raw->n; i++) {
		const char *p = raw->v[i], *row;

		while ((row = strstr(p, "<row"))) {
			const char *end = strstr(row, "</row>");
			struct ledger_row r = { 0 };

			if (!end)
				break;
			p = row;
			r.revision = xml_take(&p, end, "revision");
			r.checksum = xml_take(&p, end, "checksum");
			if (r.revision && r.checksum) {
				push_sum(rows, r.revision, r.checksum);
			} else {
				free(r.revision);
				free(r.checksum);
			}
			p = end + 6;
		}
	}
}

void ledger_check_checksums(const struct graph *g, const struct ledger_rows *rows,
			    struct strlist *changed)
{
	for (size_t i = 0; i < rows->n; i++) {
		const struct ledger_row *r = &rows->v[i];
		const struct revision *rev = graph_find(g, r->revision);
		char sum[65];

		if (!rev || rev->is_py || !r->checksum || !*r->checksum)
			continue;
		ledger_checksum(rev->upgrade_sql, sum);
		if (strcmp(sum, r->checksum))
			strlist_push(changed, rev->path);
	}
}

/* ---- descriptions ---- */

char *ledger_row_describe(const struct ledger_row *r)
{
	char held[64] = "";

	if (r->lock_hold_ms > 0)
		snprintf(held, sizeof(held), ", ACCESS EXCLUSIVE held %lld ms", r->lock_hold_ms);
	return xasprintf("%s in %lld ms%s by %s", r->applied_at ? r->applied_at : "?",
			 r->duration_ms, held, r->applied_by ? r->applied_by : "?");
}
