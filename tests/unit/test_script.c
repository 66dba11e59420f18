/* test_script.c - SQL revision files and script directories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prestart/script.h"
#include "prestart/scriptdir.h"

static int parse(const char *text, struct revision *rev, struct err *e)
{
	return script_parse_sql("v/x.sql", text, strlen(text), rev, e);
}

static void parse_ok(const char *text, struct revision *rev)
{
	struct err e = { 0 };

	if (parse(text, rev, &e) < 0)
		fail_msg("parse failed: %s", e.msg);
}

static void parse_fails(const char *text, const char *want)
{
	struct revision rev;
	struct err e = { 0 };

	assert_int_equal(parse(text, &rev, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, want);
	assert_null(rev.id);
	assert_null(rev.path);
}

static void test_full(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("-- Revision ID: 3f2a1b9c0d4e\n"
		 "-- Revises: 1a2b3c4d5e6f\n"
		 "-- Create Date: 2026-11-21 10:00:00\n"
		 "-- Message: add users table\n"
		 "-- Branch Labels:\n"
		 "-- Depends On:\n"
		 "-- Transactional: true\n"
		 "\n"
		 "-- +upgrade\n"
		 "CREATE TABLE users (id bigserial PRIMARY KEY);\n"
		 "\n"
		 "-- +downgrade\n"
		 "DROP TABLE users;\n",
		 &rev);
	assert_string_equal(rev.id, "3f2a1b9c0d4e");
	assert_int_equal(rev.down.n, 1);
	assert_string_equal(rev.down.v[0], "1a2b3c4d5e6f");
	assert_string_equal(rev.create_date, "2026-11-21 10:00:00");
	assert_string_equal(rev.message, "add users table");
	assert_int_equal(rev.labels.n, 0);
	assert_int_equal(rev.depends.n, 0);
	assert_int_equal(rev.transactional, 1);
	assert_int_equal(rev.is_py, 0);
	assert_string_equal(rev.path, "v/x.sql");
	assert_string_equal(rev.upgrade_sql, "CREATE TABLE users (id bigserial PRIMARY KEY);\n\n");
	assert_int_equal(rev.upgrade_line, 10);
	assert_string_equal(rev.downgrade_sql, "DROP TABLE users;\n");
	assert_int_equal(rev.downgrade_line, 13);
	revision_release(&rev);
}

static void test_minimal(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("-- Revision ID: a\n-- +upgrade\nSELECT 1", &rev);
	assert_string_equal(rev.id, "a");
	assert_int_equal(rev.down.n, 0);
	assert_string_equal(rev.message, "");
	assert_null(rev.create_date);
	assert_string_equal(rev.upgrade_sql, "SELECT 1");
	assert_int_equal(rev.upgrade_line, 3);
	assert_null(rev.downgrade_sql);
	assert_int_equal(rev.downgrade_line, 0);
	revision_release(&rev);

	/* an empty upgrade section is an empty migration */
	parse_ok("-- Revision ID: a\n-- +upgrade", &rev);
	assert_string_equal(rev.upgrade_sql, "");
	revision_release(&rev);
}

static void test_keys_case_and_lists(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("--REVISION  id:  0001_initial \n"
		 "-- revises: abc, def ,ghi\n"
		 "-- branch labels: shared, feature-x\n"
		 "-- DEPENDS ON: 0003,feature-x\n"
		 "-- Author: someone\n"
		 "-- message:  with: colons  \n"
		 "-- +UPGRADE\n"
		 "SELECT 1;\n",
		 &rev);
	assert_string_equal(rev.id, "0001_initial");
	assert_int_equal(rev.down.n, 3);
	assert_string_equal(rev.down.v[0], "abc");
	assert_string_equal(rev.down.v[1], "def");
	assert_string_equal(rev.down.v[2], "ghi");
	assert_int_equal(rev.labels.n, 2);
	assert_string_equal(rev.labels.v[1], "feature-x");
	assert_int_equal(rev.depends.n, 2);
	assert_string_equal(rev.depends.v[0], "0003");
	assert_string_equal(rev.message, "with: colons");
	revision_release(&rev);
}

static void test_empty_revises(void **state)
{
	static const char *const forms[] = { "", "None", "none", "<base>" };
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		struct revision rev;
		char *text = xasprintf("-- Revision ID: b\n-- Revises: %s\n-- Depends On: %s\n"
				       "-- +upgrade\n",
				       forms[i], forms[i]);

		parse_ok(text, &rev);
		assert_int_equal(rev.down.n, 0);
		assert_int_equal(rev.depends.n, 0);
		revision_release(&rev);
		free(text);
	}
}

static void test_transactional(void **state)
{
	static const char *const no[] = { "false", "False", "no", "0", "off" };
	static const char *const yes[] = { "true", "TRUE", "yes", "1", "on" };
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		struct revision rev;
		char *a = xasprintf("-- Revision ID: b\n-- Transactional: %s\n-- +upgrade\n", no[i]);
		char *b = xasprintf("-- Revision ID: b\n-- Transactional: %s\n-- +upgrade\n", yes[i]);

		parse_ok(a, &rev);
		assert_int_equal(rev.transactional, 0);
		revision_release(&rev);
		parse_ok(b, &rev);
		assert_int_equal(rev.transactional, 1);
		revision_release(&rev);
		free(a);
		free(b);
	}
	parse_fails("-- Revision ID: b\n-- Transactional: maybe\n-- +upgrade\n",
		    "v/x.sql:2: invalid 'Transactional' value 'maybe' (want true or false)");
	parse_fails("-- Revision ID: b\n-- Transactional:\n-- +upgrade\n",
		    "v/x.sql:2: invalid 'Transactional' value '' (want true or false)");
}

/* SPEC §9.4: the phase a revision asks for, and where it says so. */
static void test_phase(void **state)
{
	struct revision rev;
	struct err e = { 0 };
	const char *t;

	(void)state;
	t = "-- Revision ID: b\n-- Compat: breaking\n-- Phase: Contract\n-- +upgrade\n";
	assert_int_equal(script_parse_sql("v/x.sql", t, strlen(t), &rev, &e), 0);
	assert_int_equal(rev.phase, REV_PHASE_CONTRACT);
	assert_int_equal(rev.phase_line, 3);
	assert_int_equal(rev.compat_line, 2);
	revision_release(&rev);
	t = "-- Revision ID: b\n-- Phase: expand\n-- +upgrade\n";
	assert_int_equal(script_parse_sql("v/x.sql", t, strlen(t), &rev, &e), 0);
	assert_int_equal(rev.phase, REV_PHASE_EXPAND);
	assert_int_equal(rev.phase_line, 2);
	assert_int_equal(rev.compat_line, 0);
	revision_release(&rev);
	t = "-- Revision ID: b\n-- +upgrade\n";
	assert_int_equal(script_parse_sql("v/x.sql", t, strlen(t), &rev, &e), 0);
	assert_int_equal(rev.phase, REV_PHASE_UNSET);
	revision_release(&rev);
	parse_fails("-- Revision ID: b\n-- Phase: later\n-- +upgrade\n",
		    "v/x.sql:2: invalid 'Phase' value 'later' (want expand or contract)");
	parse_fails("-- Revision ID: b\n-- Phase:\n-- +upgrade\n",
		    "v/x.sql:2: invalid 'Phase' value '' (want expand or contract)");
}

static void test_header_ends(void **state)
{
	struct revision rev;

	(void)state;
	/* a blank line ends the header: a later Revises is just a comment */
	parse_ok("-- Revision ID: b\n\n-- Revises: a\n-- +upgrade\nSELECT 1;\n", &rev);
	assert_int_equal(rev.down.n, 0);
	revision_release(&rev);
	/* so does a plain comment */
	parse_fails("-- add a table\n-- Revision ID: b\n-- +upgrade\n",
		    "v/x.sql: no '-- Revision ID:' header");
}

static void test_sections(void **state)
{
	struct revision rev;

	(void)state;
	/* downgrade first is fine */
	parse_ok("-- Revision ID: b\n-- +downgrade\nDROP TABLE t;\n  --   +Upgrade  \r\n"
		 "CREATE TABLE t ();\n",
		 &rev);
	assert_string_equal(rev.downgrade_sql, "DROP TABLE t;\n");
	assert_int_equal(rev.downgrade_line, 3);
	assert_string_equal(rev.upgrade_sql, "CREATE TABLE t ();\n");
	assert_int_equal(rev.upgrade_line, 5);
	revision_release(&rev);

	/* not markers */
	parse_ok("-- Revision ID: b\n-- +upgrade\n-- +upgrade now\nSELECT '-- +downgrade';\n", &rev);
	assert_string_equal(rev.upgrade_sql, "-- +upgrade now\nSELECT '-- +downgrade';\n");
	assert_null(rev.downgrade_sql);
	revision_release(&rev);

	/* comments between header and first marker */
	parse_ok("-- Revision ID: b\n\n-- notes\n  \n-- +upgrade\nSELECT 1;\n", &rev);
	assert_int_equal(rev.upgrade_line, 6);
	revision_release(&rev);
}

static void test_crlf_and_bom(void **state)
{
	struct revision rev;

	(void)state;
	parse_ok("\xef\xbb\xbf-- Revision ID: b\r\n-- Revises: a\r\n-- +upgrade\r\nSELECT 1;\r\n",
		 &rev);
	assert_string_equal(rev.id, "b");
	assert_string_equal(rev.down.v[0], "a");
	assert_string_equal(rev.upgrade_sql, "SELECT 1;\r\n");
	assert_int_equal(rev.upgrade_line, 4);
	revision_release(&rev);
}

static void test_errors(void **state)
{
	struct revision rev;
	struct err e = { 0 };
	static const char bin[] = "-- Revision ID: b\n-- +upgrade\nSELECT\0 1;\n";

	(void)state;
	parse_fails("-- +upgrade\nSELECT 1;\n", "v/x.sql: no '-- Revision ID:' header");
	parse_fails("-- Revision ID:\n-- +upgrade\n", "v/x.sql:1: empty 'Revision ID'");
	parse_fails("-- Revision ID: abc def\n-- +upgrade\n",
		    "v/x.sql:1: invalid revision id 'abc def' (1-32 characters of A-Z a-z 0-9 _ . -)");
	parse_fails("-- Revision ID: 123456789012345678901234567890123\n-- +upgrade\n",
		    "v/x.sql:1: invalid revision id '123456789012345678901234567890123' "
		    "(1-32 characters of A-Z a-z 0-9 _ . -)");
	parse_fails("-- Revision ID: b\n-- Revises: a, c/d\n-- +upgrade\n",
		    "v/x.sql:2: invalid revision id 'c/d' in 'Revises' "
		    "(1-32 characters of A-Z a-z 0-9 _ . -)");
	parse_fails("-- Revision ID: b\n-- Depends On: x@head\n-- +upgrade\n",
		    "v/x.sql:2: invalid name 'x@head' in 'Depends On'");
	parse_fails("-- Revision ID: b\n-- Branch Labels: a@b\n-- +upgrade\n",
		    "v/x.sql:2: invalid name 'a@b' in 'Branch Labels'");
	parse_fails("-- Revision ID: b\n-- revision id: c\n-- +upgrade\n",
		    "v/x.sql:2: duplicate 'Revision ID' (first on line 1)");
	parse_fails("-- Revision ID: b\nSELECT 1;\n", "v/x.sql:2: SQL outside a section "
						      "(start it with '-- +upgrade')");
	parse_fails("-- Revision ID: b\n-- +downgrade\nSELECT 1;\n",
		    "v/x.sql: no '-- +upgrade' section");
	parse_fails("-- Revision ID: b\n-- +upgrade\n\n-- +downgrade\n-- +upgrade\n",
		    "v/x.sql:5: duplicate '-- +upgrade' section (first on line 2)");
	parse_fails("-- Revision ID: b\n-- +upgrade\n-- +downgrade\n-- +DOWNGRADE\n",
		    "v/x.sql:4: duplicate '-- +downgrade' section (first on line 3)");
	assert_int_equal(script_parse_sql("v/x.sql", bin, sizeof(bin) - 1, &rev, &e), -1);
	assert_string_equal(e.msg, "v/x.sql:3: NUL byte in a revision file (binary file?)");
}

static void test_valid_id(void **state)
{
	(void)state;
	assert_true(revision_valid_id("a"));
	assert_true(revision_valid_id("ae1027a6acf"));
	assert_true(revision_valid_id("0001_initial.v2-x"));
	assert_true(revision_valid_id("12345678901234567890123456789012"));
	assert_false(revision_valid_id(""));
	assert_false(revision_valid_id("123456789012345678901234567890123"));
	assert_false(revision_valid_id("a b"));
	assert_false(revision_valid_id("a@b"));
	assert_false(revision_valid_id("é"));
	assert_true(revision_valid_label("feature x"));
	assert_false(revision_valid_label(""));
	assert_false(revision_valid_label("a@b"));
}

static void test_linecol(void **state)
{
	const char *t = "SELECT 1;\nSELECT\n  2;";
	int line, col;

	(void)state;
	revision_offset_to_linecol(t, 0, 10, &line, &col);
	assert_int_equal(line, 10);
	assert_int_equal(col, 1);
	revision_offset_to_linecol(t, 7, 10, &line, &col);
	assert_int_equal(line, 10);
	assert_int_equal(col, 8);
	revision_offset_to_linecol(t, 10, 10, &line, &col);
	assert_int_equal(line, 11);
	assert_int_equal(col, 1);
	revision_offset_to_linecol(t, 19, 10, &line, &col);
	assert_int_equal(line, 12);
	assert_int_equal(col, 3);
}

/* ---- directories ---- */

static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d) {
		unlink(path);
		return;
	}
	while ((de = readdir(d))) {
		char *p;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", path, de->d_name);
		rm_rf(p);
		free(p);
	}
	closedir(d);
	rmdir(path);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/prestart-script-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "we");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(p);
}

static char *sql_rev(const char *id, const char *down)
{
	return xasprintf("-- Revision ID: %s\n-- Revises: %s\n-- Message: m %s\n-- +upgrade\n"
			 "SELECT 1;\n",
			 id, down, id);
}

static int load(const char *d1, const char *d2, struct revision_set *set, struct err *e)
{
	struct strlist dirs = { 0 };
	int r;

	strlist_push(&dirs, d1);
	if (d2)
		strlist_push(&dirs, d2);
	r = scriptdir_load(&dirs, set, e);
	strlist_free(&dirs);
	return r;
}

static void test_load_dir(void **state)
{
	char *d = tmpdir(), *sub, *t;
	struct revision_set set;
	struct err e = { 0 };

	(void)state;
	t = sql_rev("b", "a");
	write_file(d, "0002_b.sql", t);
	free(t);
	t = sql_rev("a", "");
	write_file(d, "0001_a.sql", t);
	free(t);
	write_file(d, ".0003_hidden.sql", "garbage");
	write_file(d, "README", "garbage");
	write_file(d, "script.py.mako", "garbage");
	write_file(d, "notes.sql~", "garbage");
	write_file(d, ".sql", "garbage");
	sub = xasprintf("%s/__pycache__", d);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);
	sub = xasprintf("%s/dir.sql", d);
	assert_int_equal(mkdir(sub, 0700), 0);
	free(sub);

	if (load(d, NULL, &set, &e) < 0)
		fail_msg("load: %s", e.msg);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.v[0].id, "a");
	assert_string_equal(set.v[1].id, "b");
	t = xasprintf("%s/0002_b.sql", d);
	assert_string_equal(set.v[1].path, t);
	free(t);
	revision_set_release(&set);

	/* a trailing slash does not double */
	t = xasprintf("%s/", d);
	assert_int_equal(load(t, NULL, &set, &e), 0);
	free(t);
	t = xasprintf("%s/0001_a.sql", d);
	assert_string_equal(set.v[0].path, t);
	free(t);
	revision_set_release(&set);
	rm_rf(d);
	free(d);
}

static void test_load_two_dirs_and_empty(void **state)
{
	char *a = tmpdir(), *b = tmpdir(), *t;
	struct revision_set set;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(load(a, NULL, &set, &e), 0);
	assert_int_equal(set.n, 0);
	revision_set_release(&set);

	t = sql_rev("z1", "");
	write_file(a, "z1.sql", t);
	free(t);
	t = sql_rev("a1", "z1");
	write_file(b, "a1.sql", t);
	free(t);
	assert_int_equal(load(a, b, &set, &e), 0);
	assert_int_equal(set.n, 2);
	assert_string_equal(set.v[0].id, "z1");
	assert_string_equal(set.v[1].id, "a1");
	revision_set_release(&set);
	rm_rf(a);
	rm_rf(b);
	free(a);
	free(b);
}

static void test_load_py(void **state)
{
	char *d = tmpdir();
	struct revision_set set;
	struct err e = { 0 };

	(void)state;
	write_file(d, "__init__.py", "");
	write_file(d, "env.py", "import alembic\n");
	write_file(d, "1975ea83b712_create_account_table.py",
		   "\"\"\"create account table\n\nRevision ID: 1975ea83b712\nRevises:\n"
		   "Create Date: 2011-11-08 11:40:27.089406\n\n\"\"\"\n"
		   "revision = '1975ea83b712'\ndown_revision = None\n"
		   "branch_labels = None\ndepends_on = None\n");
	assert_int_equal(load(d, NULL, &set, &e), 0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.v[0].id, "1975ea83b712");
	assert_int_equal(set.v[0].is_py, 1);
	assert_string_equal(set.v[0].message, "create account table");
	revision_set_release(&set);

	/* mixing kinds names one file of each */
	write_file(d, "0001_x.sql", "-- Revision ID: x\n-- +upgrade\n");
	assert_int_equal(load(d, NULL, &set, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_non_null(strstr(e.msg, "mix Alembic .py and SQL revisions"));
	assert_non_null(strstr(e.msg, "/1975ea83b712_create_account_table.py'"));
	assert_non_null(strstr(e.msg, "/0001_x.sql'"));
	assert_int_equal(set.n, 0);
	rm_rf(d);
	free(d);
}

static void test_load_errors(void **state)
{
	char *d = tmpdir(), *p, *want;
	struct revision_set set;
	struct err e = { 0 };
	int fd;

	(void)state;
	/* a directory that cannot exist: under one this test just made */
	p = xasprintf("%s/missing/migrations/versions", d);
	assert_int_equal(load(p, NULL, &set, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	want = xasprintf("script directory '%s' does not exist", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);

	/* a parse error names the file and stops the load */
	write_file(d, "a.sql", "-- Revision ID: a\n-- +upgrade\n");
	write_file(d, "b.sql", "-- Revises: a\n-- +upgrade\n");
	assert_int_equal(load(d, NULL, &set, &e), -1);
	want = xasprintf("%s/b.sql: no '-- Revision ID:' header", d);
	assert_string_equal(e.msg, want);
	free(want);
	assert_int_equal(set.n, 0);
	assert_null(set.v);

	/* too large, without writing 16 MiB */
	p = xasprintf("%s/b.sql", d);
	fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(load(d, NULL, &set, &e), -1);
	want = xasprintf("'%s' is too large (16777217 bytes, limit 16 MiB)", p);
	assert_string_equal(e.msg, want);
	free(want);

	/* a file, not a directory */
	assert_int_equal(load(p, NULL, &set, &e), -1);
	want = xasprintf("script directory '%s' is not a directory", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);
	rm_rf(d);
	free(d);
}

/* A FIFO among the revision files used to block open() for good: it is
 * not a regular file, so it is skipped (the alarm fails a hang). */
static void test_load_skips_fifo(void **state)
{
	char *d = tmpdir(), *p, *t;
	struct revision_set set;
	struct err e = { 0 };

	(void)state;
	t = sql_rev("a", "");
	write_file(d, "0001_a.sql", t);
	free(t);
	p = xasprintf("%s/0002_fifo.sql", d);
	assert_int_equal(mkfifo(p, 0600), 0);
	free(p);
	alarm(10);
	if (load(d, NULL, &set, &e) < 0)
		fail_msg("load: %s", e.msg);
	alarm(0);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.v[0].id, "a");
	revision_set_release(&set);

	/* an empty regular file is still read, and fails to parse */
	write_file(d, "0003_empty.sql", "");
	assert_int_equal(load(d, NULL, &set, &e), -1);
	assert_non_null(strstr(e.msg, "0003_empty.sql"));
	rm_rf(d);
	free(d);
}

static void test_load_many(void **state)
{
	char *d = tmpdir();
	struct revision_set set;
	struct err e = { 0 };
	size_t i, n = 3000;

	(void)state;
	for (i = 0; i < n; i++) {
		char name[32], id[16], down[16];
		char *t;

		snprintf(id, sizeof(id), "r%05zu", i);
		snprintf(down, sizeof(down), "r%05zu", i ? i - 1 : 0);
		snprintf(name, sizeof(name), "%s_step.sql", id);
		t = sql_rev(id, i ? down : "");
		write_file(d, name, t);
		free(t);
	}
	assert_int_equal(load(d, NULL, &set, &e), 0);
	assert_int_equal(set.n, n);
	for (i = 1; i < n; i++)
		assert_true(strcmp(set.v[i - 1].id, set.v[i].id) < 0);
	revision_set_release(&set);
	rm_rf(d);
	free(d);
}

/* Large directories are read by several threads: the error reported must
 * still be the first bad file in name order, whichever thread met it. */
static void test_load_many_first_error(void **state)
{
	char *d = tmpdir();
	struct revision_set set;
	struct err e = { 0 };
	size_t i, n = 4500;

	(void)state;
	for (i = 0; i < n; i++) {
		char name[32], id[16];
		char *t;

		snprintf(id, sizeof(id), "r%05zu", i);
		snprintf(name, sizeof(name), "%s_step.sql", id);
		t = i == 1200 || i == 3500 ? xstrdup("-- Message: no id\n-- +upgrade\nSELECT 1;\n")
					   : sql_rev(id, "");
		write_file(d, name, t);
		free(t);
	}
	assert_int_equal(load(d, NULL, &set, &e), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_non_null(strstr(e.msg, "r01200_step.sql"));
	assert_int_equal(set.n, 0);
	rm_rf(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_phase),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_keys_case_and_lists),
		cmocka_unit_test(test_empty_revises),
		cmocka_unit_test(test_transactional),
		cmocka_unit_test(test_header_ends),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_crlf_and_bom),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_valid_id),
		cmocka_unit_test(test_linecol),
		cmocka_unit_test(test_load_dir),
		cmocka_unit_test(test_load_two_dirs_and_empty),
		cmocka_unit_test(test_load_py),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_load_skips_fifo),
		cmocka_unit_test(test_load_many),
		cmocka_unit_test(test_load_many_first_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
