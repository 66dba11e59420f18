/* test_compiled.c - SHA-256, the compile renderer's report, the text of
 * compiled revision files, and binding them to a plan's .py steps (SPEC
 * §7.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "prestart/compiled.h"
#include "prestart/sha256.h"

static void test_sha256_vectors(void **state)
{
	char hex[SHA256_HEX_LEN + 1];
	char *million = malloc(1000000);
	struct sha256 s;

	(void)state;
	sha256_hex("", 0, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	memset(million, 'a', 1000000);
	/* fed in uneven pieces, across block boundaries */
	sha256_init(&s);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step % 97 + 1)
		sha256_update(&s, million + off, off + step > 1000000 ? 1000000 - off : step);
	sha256_final_hex(&s, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static const char report[] =
	"alembic 5\n1.8.1\n"
	"dialect 10\npostgresql\n"
	"rev 2\na1\n"
	"up 22\nCREATE TABLE t (x int)\n"
	"up 12\nSELECT 'a\nb'\n"
	"down 12\nDROP TABLE t\n"
	"rev 2\nb2\n"
	"up! 36\nCREATE INDEX CONCURRENTLY i ON t (x)\n"
	"down 12\nDROP INDEX i\n"
	"rev 2\nc3\n"
	"online 18\nreads the database\n"
	"dialect 6\nsqlite\n"
	"rev 2\na1\n"
	"end 0\n\n";

static void test_parse_report(void **state)
{
	struct compiled_output o;
	struct err e = { 0 };
	const char *why = NULL;

	(void)state;
	assert_int_equal(compiled_parse_output(report, sizeof(report) - 1, &o, &e), 0);
	assert_string_equal(o.alembic_version, "1.8.1");
	assert_true(o.complete);
	assert_null(o.fatal);
	assert_int_equal(o.n, 4);
	assert_string_equal(o.v[0].rev, "a1");
	assert_string_equal(o.v[0].dialect, "postgresql");
	assert_int_equal(o.v[0].up.n, 2);
	assert_string_equal(o.v[0].up.v[1], "SELECT 'a\nb'");
	assert_int_equal(o.v[0].up_autocommit, 0);
	assert_int_equal(compiled_transactional(&o.v[0], &why), 1);
	assert_int_equal(o.v[1].up_autocommit, 1);
	assert_int_equal(compiled_transactional(&o.v[1], &why), 0);
	assert_string_equal(o.v[2].online, "reads the database");
	assert_string_equal(o.v[3].dialect, "sqlite");
	assert_int_equal(o.v[3].up.n, 0);
	compiled_output_release(&o);

	/* cut short, inside a record or between two: what came before, no end */
	assert_int_equal(compiled_parse_output(report, 40, &o, &e), 0);
	assert_false(o.complete);
	assert_string_equal(o.alembic_version, "1.8.1");
	assert_int_equal(o.n, 0);
	compiled_output_release(&o);
	assert_int_equal(compiled_parse_output(report, 60, &o, &e), 0);
	assert_false(o.complete);
	assert_int_equal(o.n, 1);
	compiled_output_release(&o);
	/* a statement before any revision, a bad length, a record without
	 * its closing newline */
	assert_int_equal(compiled_parse_output("up 1\nx\n", 7, &o, &e), -1);
	assert_non_null(strstr(e.msg, "malformed at byte 0"));
	assert_int_equal(compiled_parse_output("alembic x\n", 10, &o, &e), -1);
	assert_int_equal(compiled_parse_output("alembic 1\nxy\n", 14, &o, &e), -1);
}

static void test_transactional_rules(void **state)
{
	struct compiled_rendering r;
	const char *why = NULL;

	(void)state;
	memset(&r, 0, sizeof(r));
	strlist_push(&r.up, "CREATE INDEX CONCURRENTLY i ON t (x)");
	strlist_push(&r.up, "CREATE INDEX CONCURRENTLY j ON t (y)");
	r.up_autocommit = 2;
	strlist_push(&r.down, "DROP INDEX i");
	assert_int_equal(compiled_transactional(&r, &why), 0);
	/* two statements the other way cannot leave their transaction */
	strlist_push(&r.down, "DROP INDEX j");
	assert_int_equal(compiled_transactional(&r, &why), -1);
	assert_non_null(why);
	/* one direction mixing both */
	r.up_autocommit = 1;
	r.down.n = 1;
	assert_int_equal(compiled_transactional(&r, &why), -1);
	r.down.n = 2;
	strlist_free(&r.up);
	strlist_free(&r.down);
}

static void test_text(void **state)
{
	struct revision py;
	struct compiled_rendering r;
	struct compiled_doc d = { 0 };
	struct revision back;
	struct err e = { 0 };
	char *text;

	(void)state;
	memset(&py, 0, sizeof(py));
	memset(&r, 0, sizeof(r));
	py.id = (char *)"b2";
	strlist_push(&py.down, "a1");
	strlist_push(&py.depends, "x9");
	py.message = (char *)"add\nnames";
	strlist_push(&r.up, "UPDATE t SET x = 1 -- a comment");
	strlist_push(&r.up, "UPDATE t SET y = ';'");
	d.py = &py;
	d.source = "versions/b2_add.py";
	d.sha256 = "00ff";
	d.compiled_by = "alembic 1.8.1";
	d.transactional = 1;
	text = compiled_text(&d, &r);
	assert_string_equal(text,
			    "-- Revision ID: b2\n"
			    "-- Revises: a1\n"
			    "-- Message: add names\n"
			    "-- Branch Labels:\n"
			    "-- Depends On: x9\n"
			    "-- Transactional: true\n"
			    "-- Source: versions/b2_add.py sha256:00ff\n"
			    "-- Compiled By: alembic 1.8.1\n"
			    "\n"
			    "-- +upgrade\n"
			    "UPDATE t SET x = 1 -- a comment\n;\n\n"
			    "UPDATE t SET y = ';';\n\n"
			    "-- +downgrade\n");
	assert_int_equal(script_parse_sql("c.sql", text, strlen(text), &back, &e), 0);
	assert_string_equal(back.id, "b2");
	assert_non_null(back.downgrade_sql);
	assert_int_equal(back.phase, REV_PHASE_UNSET);
	revision_release(&back);
	free(text);
	/* the phase mark (SPEC §9.4) is carried, and reads back */
	py.phase = REV_PHASE_CONTRACT;
	text = compiled_text(&d, &r);
	assert_non_null(strstr(text, "\n-- Transactional: true\n-- Phase: contract\n-- Source:"));
	assert_int_equal(script_parse_sql("c.sql", text, strlen(text), &back, &e), 0);
	assert_int_equal(back.phase, REV_PHASE_CONTRACT);
	revision_release(&back);
	free(text);
	strlist_free(&py.down);
	strlist_free(&py.depends);
	strlist_free(&r.up);
}

static void test_downgrade_left_to_alembic(void **state)
{
	static const char rep[] = "dialect 6\nsqlite\nrev 2\nd2\nup 8\nSELECT 1\n"
				  "up! 8\nVACUUM x\nonline-down 9\nno way up\nend 0\n\n";
	struct compiled_output o;
	struct compiled_doc d = { 0 };
	struct revision py, back;
	struct err e = { 0 };
	const char *why = NULL;
	char *text;

	(void)state;
	assert_int_equal(compiled_parse_output(rep, sizeof(rep) - 1, &o, &e), 0);
	assert_int_equal(o.n, 1);
	assert_string_equal(o.v[0].online_down, "no way up");
	assert_null(o.v[0].online);
	/* one direction mixing both: online-only, whatever the downgrade */
	assert_int_equal(compiled_transactional(&o.v[0], &why), -1);
	o.v[0].up_autocommit = 0;
	assert_int_equal(compiled_transactional(&o.v[0], &why), 1);
	memset(&py, 0, sizeof(py));
	py.id = (char *)"d2";
	d.py = &py;
	d.source = "versions/d2.py";
	d.sha256 = "ab";
	d.compiled_by = "alembic 1.8.1";
	d.transactional = 1;
	text = compiled_text(&d, &o.v[0]);
	assert_non_null(strstr(text, "-- Downgrade: online-only: no way up\n"));
	assert_null(strstr(text, "+downgrade"));
	assert_int_equal(script_parse_sql("c.sql", text, strlen(text), &back, &e), 0);
	assert_null(back.downgrade_sql);
	revision_release(&back);
	free(text);
	compiled_output_release(&o);
}

static void test_names(void **state)
{
	enum db_kind k;
	char *d, *p;

	(void)state;
	assert_int_equal(compiled_dialect_parse("PostgreSQL", &k), 0);
	assert_int_equal(k, DB_PG);
	assert_int_equal(compiled_dialect_parse("sqlite", &k), 0);
	assert_int_equal(k, DB_SQLITE);
	assert_int_equal(compiled_dialect_parse("mysql", &k), -1);
	d = compiled_dir("migrations/");
	assert_string_equal(d, "migrations/compiled");
	p = compiled_path(d, "a1", DB_SQLITE);
	assert_string_equal(p, "migrations/compiled/a1.sqlite.sql");
	free(p);
	p = compiled_online_list_path(d, DB_PG);
	assert_string_equal(p, "migrations/compiled/online-only.postgresql.txt");
	free(p);
	free(d);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void add_step(struct plan *p, const struct revision *rev, enum dir dir)
{
	xgrow((void **)&p->steps, &p->alloc, p->n + 1, sizeof(*p->steps));
	memset(&p->steps[p->n], 0, sizeof(p->steps[p->n]));
	p->steps[p->n].rev = rev;
	p->steps[p->n].dir = dir;
	p->steps[p->n++].runner = RUN_ALEMBIC;
}

/* a1 has a fresh compiled file, b2 none: a1's steps run as SQL (its file's
 * revision), b2's need Alembic and say why; a file found once is kept. */
static void test_bind(void **state)
{
	char dir[] = "/tmp/prestart-bind-XXXXXX";
	struct revision_set set = { 0 };
	struct compiled_binder b;
	struct compiled_rendering r;
	struct compiled_doc d = { 0 };
	struct plan p = { 0 };
	struct err e = { 0 };
	char hex[SHA256_HEX_LEN + 1], *path, *text, *cdir;
	size_t fresh, missing;
	static const char src[] = "revision = 'a1'\n";

	(void)state;
	assert_non_null(mkdtemp(dir));
	cdir = xasprintf("%s/compiled", dir);
	assert_int_equal(mkdir(cdir, 0700), 0);
	set.v = xcalloc(2, sizeof(*set.v));
	set.n = set.alloc = 2;
	set.v[0].id = xstrdup("a1");
	set.v[1].id = xstrdup("b2");
	strlist_push(&set.v[1].down, "a1");
	for (size_t i = 0; i < 2; i++) {
		set.v[i].is_py = 1;
		set.v[i].path = xasprintf("%s/%s.py", dir, set.v[i].id);
		put(set.v[i].path, src);
	}
	memset(&r, 0, sizeof(r));
	strlist_push(&r.up, "CREATE TABLE t (id integer)");
	strlist_push(&r.down, "DROP TABLE t");
	sha256_hex(src, strlen(src), hex);
	d.py = &set.v[0];
	d.source = "versions/a1.py";
	d.sha256 = hex;
	d.compiled_by = "alembic 1.8.1";
	d.transactional = 1;
	text = compiled_text(&d, &r);
	path = compiled_path(cdir, "a1", DB_SQLITE);
	put(path, text);

	compiled_binder_init(&b, dir, DB_SQLITE, &set);
	add_step(&p, &set.v[0], DIR_UP);
	add_step(&p, &set.v[1], DIR_UP);
	assert_int_equal(compiled_bind(&b, &p, &fresh, &missing, &e), 0);
	assert_int_equal(fresh, 1);
	assert_int_equal(missing, 1);
	assert_int_equal(p.steps[0].runner, RUN_SQL);
	assert_false(p.steps[0].rev->is_py);
	assert_string_equal(p.steps[0].rev->path, path);
	assert_non_null(strstr(p.steps[0].rev->upgrade_sql, "CREATE TABLE t"));
	assert_int_equal(p.steps[1].runner, RUN_ALEMBIC);
	assert_ptr_equal(p.steps[1].rev, &set.v[1]);
	assert_non_null(strstr(p.steps[1].why, "b2.sqlite.sql"));
	/* found once: a file removed since changes nothing for this run */
	unlink(path);
	p.steps[0].rev = &set.v[0];
	add_step(&p, &set.v[0], DIR_DOWN);
	assert_int_equal(compiled_bind(&b, &p, &fresh, &missing, &e), 0);
	assert_int_equal(p.steps[0].runner, RUN_SQL);
	/* the downgrade is looked up on its own: the file is gone now */
	assert_int_equal(p.steps[2].runner, RUN_ALEMBIC);
	assert_int_equal(fresh, 1);
	assert_int_equal(missing, 2);
	compiled_binder_release(&b);
	plan_release(&p);

	/* never compiled: one look at the directory, each step says so */
	rmdir(cdir);
	compiled_binder_init(&b, dir, DB_PG, &set);
	add_step(&p, &set.v[0], DIR_UP);
	assert_int_equal(compiled_bind(&b, &p, &fresh, &missing, &e), 0);
	assert_int_equal(missing, 1);
	assert_non_null(strstr(p.steps[0].why, "directory"));
	compiled_binder_release(&b);
	plan_release(&p);

	for (size_t i = 0; i < 2; i++)
		unlink(set.v[i].path);
	rmdir(dir);
	revision_set_release(&set);
	strlist_free(&r.up);
	strlist_free(&r.down);
	free(text);
	free(path);
	free(cdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_parse_report),
		cmocka_unit_test(test_transactional_rules),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_downgrade_left_to_alembic),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_bind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
