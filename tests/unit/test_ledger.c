/* test_ledger.c - the ledger's pure parts: SHA-256, the checksum's
 * normalisation, and judging a database ahead of the scripts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/ledger.h"
#include "prestart/pgscan.h"

static void test_sha256_vectors(void **state)
{
	char out[65];
	char *million = malloc(1000000);

	(void)state;
	ledger_sha256_hex("", 0, out);
	assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ledger_sha256_hex("abc", 3, out);
	assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ledger_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, out);
	assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	ledger_sha256_hex(million, 1000000, out);
	assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void same_sum(const char *a, const char *b, int same)
{
	char x[65], y[65];

	ledger_checksum(a, x);
	ledger_checksum(b, y);
	if (same ? strcmp(x, y) != 0 : strcmp(x, y) == 0)
		fail_msg("[%s] vs [%s]: want %s checksums", a, b, same ? "equal" : "different");
}

static void test_checksum_normalisation(void **state)
{
	const char *base = "-- add users\nCREATE TABLE users (id int);\n\nINSERT INTO users VALUES (1);\n";
	char out[65];

	(void)state;
	same_sum(base, "\xef\xbb\xbf-- add users\r\nCREATE TABLE users (id int);  \r\n\r\n"
		       "INSERT INTO users VALUES (1);\t\r\n", 1);
	same_sum(base, "-- add the users table\nCREATE TABLE users (id int); /* why */\n"
		       "INSERT INTO users VALUES (1);\n\n\n", 1);
	same_sum(base, "CREATE TABLE users (id bigint);\nINSERT INTO users VALUES (1);\n", 0);
	/* "--" inside a string is data, not a comment */
	same_sum("SELECT '--a';", "SELECT '--b';", 0);
	same_sum("SELECT $x$ -- a $x$;", "SELECT $x$ -- b $x$;", 0);
	/* an escaped quote in an E'' string does not end it: the statement
	 * after the string is code, and an edit to it counts */
	same_sum("SELECT E'\\'', '--'; UPDATE t SET x = 1;\n",
		 "SELECT E'\\'', '--'; UPDATE t SET x = 2;\n", 0);
	/* a '$' inside an identifier opens no dollar quote */
	same_sum("SELECT a$b$ FROM t; -- x $b$\nUPDATE t SET x = 1;",
		 "SELECT a$b$ FROM t; -- x $b$\nUPDATE t SET x = 2;", 0);
	/* text the scanner refuses keeps the hand-written lexer's reading */
	same_sum("SELECT 'open -- a", "SELECT 'open -- a", 1);
	ledger_checksum(NULL, out);
	assert_string_equal(out, "");
}

/* The checksum as PostgreSQL's scanner reads the text, every time: the
 * reading every checksum had before the lexer took over text it reads
 * alike.  The scanner's comments cut out here (a block comment becomes a
 * blank, a line comment goes but for its newline), the text left holds
 * none, and its checksum is the original's.  -1 when the scanner refuses
 * the text (both then use the lexer). */
static int scanner_sum(const char *s, char out[65])
{
	struct pgscan t;
	struct err e;
	struct sbuf nc = { 0 };
	size_t at = 0;

	if (pgscan(s, &t, NULL, &e) < 0) {
		pgscan_release(&t);
		return -1;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (t.v[i].kind != PGSCAN_COMMENT)
			continue;
		sbuf_add(&nc, s + at, t.v[i].start - at);
		if (s[t.v[i].start] == '/')
			sbuf_addc(&nc, ' ');
		at = t.v[i].end;
	}
	sbuf_adds(&nc, s + at);
	pgscan_release(&t);
	ledger_checksum(nc.buf ? nc.buf : "", out);
	sbuf_free(&nc);
	return 0;
}

/* Text the scanner need not read (no comment, or quoting the lexer reads
 * alike) keeps the checksum the scanner gives it: fixed cases, then
 * strings of SQL's quoting and comment characters, generated. */
static void test_checksum_same_as_scanner(void **state)
{
	static const char *const fixed[] = {
		"CREATE TABLE t (id int);\n", "SELECT 1; -- one\nSELECT 2;",
		"SELECT '--', \"a--b\"; /* c */ SELECT 1;", "/* a /* nested */ b */ SELECT 1;",
		"/**/SELECT/***/1;/* **/", "SELECT 'it''s -- not';", "SELECT \"a\"\"--b\";",
		"SELECT 1 *--x\n;", "SELECT 1 </*x*/ 2;", "SELECT U&'d!0061t' UESCAPE '!'; -- x",
		"SELECT E'a''b' -- c\n;", "SELECT B'101', X'1F' -- x",
		"-- only a comment", "SELECT 'a'\n'b' -- continued\n;",
	};
	static const char alphabet[] = "-/*'\"\n aE;$\\\rx";
	unsigned seed = 12345;
	char a[65], b[65], text[32];
	size_t checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		assert_int_equal(scanner_sum(fixed[i], a), 0);
		ledger_checksum(fixed[i], b);
		if (strcmp(a, b))
			fail_msg("[%s]: the scanner's checksum %s, got %s", fixed[i], a, b);
	}
	for (int round = 0; round < 200000; round++) {
		size_t n;

		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % (sizeof(text) - 1);
		for (size_t k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			text[k] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		text[n] = '\0';
		if (scanner_sum(text, a) < 0)
			continue;
		checked++;
		ledger_checksum(text, b);
		if (strcmp(a, b))
			fail_msg("[%s]: the scanner's checksum %s, got %s", text, a, b);
	}
	/* most generated texts scan: the comparison is not vacuous */
	assert_true(checked > 20000);
}

static struct ledger_row row(const char *rev, const char *down, int breaking, const char *sql)
{
	struct ledger_row r = { 0 };

	r.revision = strdup(rev);
	if (down)
		strlist_split(&r.down, down, ",");
	r.breaking = breaking;
	r.downgrade_sql = sql ? strdup(sql) : NULL;
	return r;
}

static void test_judge_ahead(void **state)
{
	struct revision_set set = { 0 };
	struct graph *g = NULL;
	struct err e = { 0 };
	struct ledger_rows rows = { 0 };
	struct ledger_ahead a;
	struct strlist heads = { 0 };
	static const char *const v1[] = {
		"-- Revision ID: r1\n-- Revises:\n\n-- +upgrade\nSELECT 1;\n",
		"-- Revision ID: r2\n-- Revises: r1\n\n-- +upgrade\nSELECT 1;\n",
	};

	(void)state;
	set.v = calloc(2, sizeof(*set.v));
	set.n = set.alloc = 2;
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(script_parse_sql("x.sql", v1[i], strlen(v1[i]), &set.v[i], &e), 0);
	assert_int_equal(graph_build(&set, &g, &e), 0);
	rows.v = calloc(3, sizeof(*rows.v));
	rows.alloc = 3;
	rows.v[rows.n++] = row("r3", "r2", 0, "DROP TABLE t3;");
	rows.v[rows.n++] = row("r4", "r3", 0, "DROP TABLE t4;");

	/* at a known head: nothing ahead */
	strlist_push(&heads, "r2");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.unknown.n, 0);
	assert_int_equal(a.proven, 1);
	ledger_ahead_release(&a);

	/* r4 -> r3 -> r2: proven, newest first */
	strlist_free(&heads);
	strlist_push(&heads, "r4");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 1);
	assert_int_equal(a.unknown.n, 2);
	assert_string_equal(a.unknown.v[0], "r4");
	assert_string_equal(a.unknown.v[1], "r3");
	assert_non_null(strstr(a.explain, "prestart rollback` from this image"));
	ledger_ahead_release(&a);

	/* breaking */
	rows.v[1].breaking = 1;
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 0);
	assert_int_equal(a.breaking.n, 1);
	assert_non_null(strstr(a.explain, "breaking (Compat: breaking): r4"));
	ledger_ahead_release(&a);
	rows.v[1].breaking = 0;

	/* recorded as contract when it ran (SPEC §9.4): the previous version
	 * cannot run on it, and the way out is named */
	rows.v[0].contract = 1;
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 0);
	assert_int_equal(a.contract.n, 1);
	assert_string_equal(a.contract.v[0], "r3");
	assert_non_null(strstr(a.explain, "contract revisions (recorded so when they ran: the "
					  "previous application version cannot run on them): r3"));
	assert_null(strstr(a.explain, "SPEC"));
	assert_non_null(strstr(a.explain, "prestart rollback` from this image"));
	ledger_ahead_release(&a);
	rows.v[0].contract = 0;

	/* a gap in the lineage (r5 -> rX, no row for rX) */
	rows.v[rows.n++] = row("r5", "rX", 0, NULL);
	strlist_free(&heads);
	strlist_push(&heads, "r5");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 0);
	assert_int_equal(a.unproven.n, 1);
	assert_string_equal(a.unproven.v[0], "rX");
	assert_non_null(strstr(a.explain, "from the newer image"));
	ledger_ahead_release(&a);

	/* a chain that reaches none of the scripts' revisions: y2 -> y1 ->
	 * <base>, beside the known head r2 */
	rows.alloc = 8;
	rows.v = realloc(rows.v, rows.alloc * sizeof(*rows.v));
	rows.v[rows.n++] = row("y1", NULL, 0, "DROP TABLE y1;");
	rows.v[rows.n++] = row("y2", "y1", 0, "DROP TABLE y2;");
	strlist_free(&heads);
	strlist_push(&heads, "r2");
	strlist_push(&heads, "y2");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 0);
	assert_int_equal(a.unproven.n, 0);
	assert_int_equal(a.unrooted.n, 2);
	assert_non_null(strstr(a.explain, "descending from none of this image's revisions"));
	assert_non_null(strstr(a.explain, "prestart rollback` from this image"));
	ledger_ahead_release(&a);

	/* rows naming each other: the cycle is named, not the chain too */
	rows.v[rows.n++] = row("z1", "z2", 0, "SELECT 1;");
	rows.v[rows.n++] = row("z2", "z1", 0, "SELECT 1;");
	strlist_free(&heads);
	strlist_push(&heads, "z1");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.proven, 0);
	assert_true(a.cycle.n > 0);
	assert_int_equal(a.unrooted.n, 0);
	ledger_ahead_release(&a);

	/* a merge with one parent from the scripts: rooted */
	rows.v[rows.n++] = row("m1", "r4,y2", 0, "SELECT 1;");
	strlist_free(&heads);
	strlist_push(&heads, "m1");
	ledger_judge_ahead(g, &heads, &rows, &a);
	assert_int_equal(a.unrooted.n, 2); /* y2, y1 still are not */
	ledger_ahead_release(&a);

	strlist_free(&heads);
	ledger_rows_release(&rows);
	graph_free(g);
	revision_set_release(&set);
}

/* A row's fields are counted in bytes (PostgreSQL) or in SQLite length()
 * characters: the same text is read back from both, and a malformed row
 * is refused rather than read short. */
static void test_row_parse(void **state)
{
	/* "DELETE ... -- Müller\nid = 100" is 22 characters, 23 bytes */
	static const char pg[] = "2:r3" "2:r2" "-" "23:-- M\xc3\xbcller\nid = 100;  x"
				 "8:breaking" "20:2026-01-01 00:00:00Z" "3:a b" "5:0.9.0" " 12";
	static const char lite[] = "2:r3" "2:r2" "-" "22:-- M\xc3\xbcller\nid = 100;  x"
				   "8:breaking" "20:2026-01-01 00:00:00Z" "3:a b" "5:0.9.0" " 12";
	static const char *const bad[] = {
		"", "-", "2:r3", "9:r3", "2:r3 12", "x:r3", "-2:r3",
		"2:r32:r2--8:breaking-3:a b 12", /* a field short */
		"2:r32:r2---20:2026-01-01 00:00:00Z3:a b5:0.9.0 1x",
		"99999999999999999999999:r3",
		"2:r32:r2--6:expand-3:a b5:0.9.0 12 ", /* a lock hold short */
		"2:r32:r2--6:expand-3:a b5:0.9.0 12 -1",
		"2:r32:r2--6:expand-3:a b5:0.9.0 12 7 8",
	};
	struct ledger_row r;

	(void)state;
	assert_int_equal(ledger_row_parse(DB_PG, pg, &r), 0);
	assert_string_equal(r.downgrade_sql, "-- M\xc3\xbcller\nid = 100;  x");
	assert_int_equal(r.breaking, 1);
	assert_int_equal(r.duration_ms, 12);
	assert_int_equal(r.down.n, 1);
	assert_null(r.checksum);
	assert_int_equal(r.lock_hold_ms, -1);
	ledger_row_release(&r);
	/* lock_hold_ms, when read: a number, or "-" for NULL */
	assert_int_equal(ledger_row_parse(DB_PG, "2:r32:r2--6:expand-3:a b5:0.9.0 12 7", &r), 0);
	assert_int_equal(r.duration_ms, 12);
	assert_int_equal(r.lock_hold_ms, 7);
	ledger_row_release(&r);
	assert_int_equal(ledger_row_parse(DB_PG, "2:r32:r2--6:expand-3:a b5:0.9.0 12 -", &r), 0);
	assert_int_equal(r.lock_hold_ms, -1);
	ledger_row_release(&r);
	assert_int_equal(ledger_row_parse(DB_SQLITE, lite, &r), 0);
	assert_string_equal(r.downgrade_sql, "-- M\xc3\xbcller\nid = 100;  x");
	assert_int_equal(r.breaking, 1);
	assert_int_equal(r.contract, 0);
	ledger_row_release(&r);
	/* the class a revision had when it ran (SPEC §9.4) */
	assert_int_equal(ledger_row_parse(DB_PG, "2:r32:r2--8:contract-3:a b5:0.9.0 12", &r), 0);
	assert_int_equal(r.contract, 1);
	assert_int_equal(r.breaking, 0);
	ledger_row_release(&r);
	assert_int_equal(ledger_row_parse(DB_PG, "2:r32:r2--6:expand-3:a b5:0.9.0 12", &r), 0);
	assert_int_equal(r.contract, 0);
	assert_int_equal(r.breaking, 0);
	ledger_row_release(&r);
	/* read as the other engine counts, the row does not parse */
	assert_int_equal(ledger_row_parse(DB_SQLITE, pg, &r), -1);
	assert_int_equal(ledger_row_parse(DB_PG, lite, &r), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ledger_row_parse(DB_PG, bad[i], &r), -1);
		assert_null(r.revision);
		assert_int_equal(ledger_row_parse(DB_SQLITE, bad[i], &r), -1);
	}
}

/* The index answers as the linear find does: the first row of a
 * revision, nothing for an unknown one or from a zeroed index. */
static void test_index(void **state)
{
	struct ledger_rows rows = { 0 };
	struct ledger_index ix, none = { 0 };

	(void)state;
	rows.v = calloc(3, sizeof(*rows.v));
	rows.alloc = 3;
	rows.v[rows.n++] = row("r1", "", 0, NULL);
	rows.v[rows.n++] = row("r2", "r1", 0, "DROP TABLE t2;");
	rows.v[rows.n++] = row("r2", "r1", 1, NULL);
	ledger_index_init(&ix, &rows);
	assert_ptr_equal(ledger_index_find(&ix, "r1"), &rows.v[0]);
	assert_ptr_equal(ledger_index_find(&ix, "r2"), &rows.v[1]);
	assert_ptr_equal(ledger_index_find(&ix, "r2"), ledger_rows_find(&rows, "r2"));
	assert_null(ledger_index_find(&ix, "r3"));
	assert_null(ledger_index_find(&none, "r1"));
	ledger_index_free(&ix);
	ledger_rows_release(&rows);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_checksum_normalisation),
		cmocka_unit_test(test_checksum_same_as_scanner),
		cmocka_unit_test(test_judge_ahead),
		cmocka_unit_test(test_row_parse),
		cmocka_unit_test(test_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
