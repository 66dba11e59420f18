/* util: string lists, byte buffers, the small string helpers and the error
 * buffer that every module builds on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prestart/util.h"

/* l holds exactly the NULL-terminated strings given, and a NULL after them */
static void list_is(const struct strlist *l, ...)
{
	const char *s;
	size_t i = 0;
	va_list ap;

	va_start(ap, l);
	while ((s = va_arg(ap, const char *))) {
		assert_true(i < l->n);
		assert_string_equal(l->v[i], s);
		i++;
	}
	va_end(ap);
	assert_int_equal(l->n, i);
	if (l->v)
		assert_null(l->v[l->n]);
}

static void test_strlist_push_and_contains(void **state)
{
	struct strlist l = { 0 };
	char word[] = "copied";

	(void)state;
	assert_false(strlist_contains(&l, "x"));
	strlist_push(&l, word);
	word[0] = 'C'; /* push copies */
	strlist_push_owned(&l, xstrdup("owned"));
	list_is(&l, "copied", "owned", NULL);
	assert_true(strlist_contains(&l, "owned"));
	assert_false(strlist_contains(&l, "Copied"));
	assert_false(strlist_contains(&l, "own"));
	strlist_free(&l);
	assert_null(l.v);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.alloc, 0);
	strlist_free(&l); /* freeing twice, or an empty list, is harmless */
}

static void test_strlist_grows(void **state)
{
	struct strlist l = { 0 };
	char buf[16];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		strlist_push(&l, buf);
		assert_null(l.v[l.n]); /* NULL-terminated at every step */
	}
	assert_int_equal(l.n, 1000);
	assert_true(l.alloc > l.n);
	assert_string_equal(l.v[0], "s0");
	assert_string_equal(l.v[999], "s999");
	assert_true(strlist_contains(&l, "s500"));
	strlist_free(&l);
}

static void test_strlist_split(void **state)
{
	struct strlist l = { 0 };

	(void)state;
	strlist_split(&l, " a, b ,,c , ", ",");
	list_is(&l, "a", "b", "c", NULL);
	/* appends to what is there; several separators; blanks are trimmed
	 * inside items, not split on unless a separator */
	strlist_split(&l, "d e;\tf\n;", ";\n");
	list_is(&l, "a", "b", "c", "d e", "f", NULL);
	strlist_free(&l);

	strlist_split(&l, "", ",");
	list_is(&l, NULL);
	strlist_split(&l, " , ,\t,", ",");
	list_is(&l, NULL);
	strlist_split(&l, "no-separator-here", ",");
	list_is(&l, "no-separator-here", NULL);
	strlist_free(&l);
}

static void test_strlist_join(void **state)
{
	struct strlist l = { 0 };
	char *s;

	(void)state;
	s = strlist_join(&l, ", ");
	assert_string_equal(s, ""); /* a string, never NULL */
	free(s);
	strlist_push(&l, "a");
	s = strlist_join(&l, ", ");
	assert_string_equal(s, "a");
	free(s);
	strlist_push(&l, "b");
	strlist_push(&l, "");
	strlist_push(&l, "c");
	s = strlist_join(&l, ", ");
	assert_string_equal(s, "a, b, , c");
	free(s);
	s = strlist_join(&l, "");
	assert_string_equal(s, "abc");
	free(s);
	strlist_free(&l);
}

static void test_sbuf_add(void **state)
{
	struct sbuf b = { 0 };
	char big[5000];

	(void)state;
	sbuf_add(&b, "abc", 2);
	sbuf_adds(&b, "cd");
	sbuf_addc(&b, 'e');
	sbuf_addf(&b, "-%d-%s", 42, "x");
	assert_string_equal(b.buf, "abcde-42-x");
	assert_int_equal(b.len, strlen("abcde-42-x"));
	/* bytes, not C strings: an embedded NUL is kept and counted */
	sbuf_add(&b, "y\0z", 3);
	assert_int_equal(b.len, 13);
	assert_memory_equal(b.buf + 10, "y\0z", 4); /* and the buffer stays NUL-terminated */
	sbuf_free(&b);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);

	/* a formatted append far beyond what was allocated */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_adds(&b, "<");
	sbuf_addf(&b, "%s>", big);
	assert_int_equal(b.len, sizeof(big) + 1);
	assert_int_equal(b.buf[0], '<');
	assert_int_equal(b.buf[b.len - 1], '>');
	assert_int_equal(b.buf[b.len], '\0');
	assert_true(b.alloc > b.len);
	sbuf_free(&b);
}

static void test_sbuf_reset_and_detach(void **state)
{
	struct sbuf b = { 0 };
	char *s;

	(void)state;
	sbuf_reset(&b); /* on an empty buffer: nothing to do */
	assert_null(b.buf);
	s = sbuf_detach(&b);
	assert_string_equal(s, ""); /* a string the caller frees, never NULL */
	free(s);

	sbuf_adds(&b, "first");
	sbuf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.buf, "");
	sbuf_adds(&b, "second");
	s = sbuf_detach(&b);
	assert_string_equal(s, "second");
	assert_null(b.buf); /* the buffer is the caller's now */
	assert_int_equal(b.len, 0);
	assert_int_equal(b.alloc, 0);
	free(s);
	sbuf_free(&b);
}

static void json_is(const char *in, const char *want)
{
	struct sbuf b = { 0 };

	sbuf_add_json_str(&b, in);
	assert_string_equal(b.buf, want);
	sbuf_free(&b);
}

static void test_sbuf_add_json_str(void **state)
{
	(void)state;
	json_is("plain", "\"plain\"");
	json_is("", "\"\"");
	json_is(NULL, "\"\"");
	json_is("say \"hi\" \\ now", "\"say \\\"hi\\\" \\\\ now\"");
	json_is("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
	json_is("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	/* UTF-8 passes through as bytes */
	json_is("\xc3\xbc\xe2\x80\x94", "\"\xc3\xbc\xe2\x80\x94\"");
}

static void sql_is(void (*add)(struct sbuf *, const char *), const char *in, const char *want)
{
	struct sbuf b = { 0 };

	add(&b, in);
	assert_string_equal(b.buf, want);
	sbuf_free(&b);
}

static void test_sbuf_add_sql(void **state)
{
	(void)state;
	sql_is(sbuf_add_sql_ident, "users", "\"users\"");
	sql_is(sbuf_add_sql_ident, "Odd \"Name\"", "\"Odd \"\"Name\"\"\"");
	sql_is(sbuf_add_sql_ident, "", "\"\"");
	sql_is(sbuf_add_sql_str, "it's", "'it''s'");
	sql_is(sbuf_add_sql_str, "", "''");
	/* a backslash: the E form, so that it reads the same either way */
	sql_is(sbuf_add_sql_str, "a\\b'c", "E'a\\\\b''c'");
	/* the always-E form: the same text for s with a backslash */
	sql_is(sbuf_add_sql_estr, "a\\b'c", "E'a\\\\b''c'");
	sql_is(sbuf_add_sql_estr, "it's", "E'it''s'");
	sql_is(sbuf_add_sql_estr, "", "E''");
	sql_is(sbuf_add_sql_estr, NULL, "E''");
	/* the standard form: a backslash is a plain character */
	sql_is(sbuf_add_sql_std_str, "a\\b'c", "'a\\b''c'");
	sql_is(sbuf_add_sql_std_str, "''", "''" "''" "''");
	sql_is(sbuf_add_sql_std_str, "", "''");
	{
		struct sbuf b = { 0 };

		/* n bytes, whatever they hold, a NUL included */
		sbuf_add_sql_estrn(&b, "x\\'y\0z tail", 6);
		assert_int_equal(b.len, 11);
		assert_memory_equal(b.buf, "E'x\\\\''y\0z'", 11);
		sbuf_free(&b);
		sbuf_add_sql_estrn(&b, "anything", 0);
		assert_string_equal(b.buf, "E''");
		sbuf_free(&b);
	}
}

static void test_str_helpers(void **state)
{
	char s1[] = "  \t padded \n ";
	char s2[] = " \t\n";
	char s3[] = "bare";

	(void)state;
	assert_string_equal(str_trim(s1), "padded");
	assert_string_equal(str_trim(s2), "");
	assert_string_equal(str_trim(s3), "bare");

	assert_true(str_has_prefix("postgresql://x", "postgresql://"));
	assert_true(str_has_prefix("abc", ""));
	assert_false(str_has_prefix("post", "postgresql"));
	assert_true(str_has_suffix("a1_x.sql", ".sql"));
	assert_true(str_has_suffix("abc", ""));
	assert_false(str_has_suffix("sql", ".sql"));
	assert_false(str_has_suffix("a.sqlx", ".sql"));
}

static void test_err_set_and_prefix(void **state)
{
	struct err e = { 0 };
	char big[ERR_MSG_MAX * 2];

	(void)state;
	assert_int_equal(err_set(&e, ERR_SCRIPT, "cannot open '%s'", "a.sql"), -1);
	assert_int_equal(e.kind, ERR_SCRIPT);
	assert_string_equal(e.msg, "cannot open 'a.sql'");
	assert_int_equal(err_prefix(&e, "%s:%d", "versions/a.sql", 3), -1);
	assert_string_equal(e.msg, "versions/a.sql:3: cannot open 'a.sql'");
	assert_int_equal(e.kind, ERR_SCRIPT); /* the kind stays */
	assert_int_equal(err_set(NULL, ERR_USAGE, "nobody listens"), -1);

	/* a message longer than the buffer is cut, still terminated */
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	err_set(&e, ERR_FAILED, "%s", big);
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	err_prefix(&e, "p");
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_memory_equal(e.msg, "p: mmm", 6);
}

/* What Python's os.path.abspath returns, run from "/". */
static void test_strlist_same_set(void **state)
{
	struct strlist a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(strlist_same_set(&a, &b), 1);
	strlist_push(&a, "x");
	strlist_push(&a, "y");
	strlist_push(&b, "y");
	assert_int_equal(strlist_same_set(&a, &b), 0);
	strlist_push(&b, "x");
	assert_int_equal(strlist_same_set(&a, &b), 1);
	strlist_push(&b, "z");
	assert_int_equal(strlist_same_set(&a, &b), 0);
	strlist_free(&a);
	strlist_free(&b);
}

/* A new file is written whole; an existing one is left alone. */
static void test_write_new_file(void **state)
{
	char dir[] = "/tmp/prestart-util-XXXXXX";
	char *path, *text = NULL;
	size_t len = 0;
	struct err e = { 0 };

	(void)state;
	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/f.txt", dir);
	assert_int_equal(write_new_file(path, "one\ntwo\n", &e), 0);
	assert_int_equal(read_file(path, 1024, &text, &len, &e), 0);
	assert_string_equal(text, "one\ntwo\n");
	free(text);
	assert_int_equal(write_new_file(path, "other", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "cannot write '"));
	assert_int_equal(read_file(path, 1024, &text, &len, &e), 0);
	assert_string_equal(text, "one\ntwo\n");
	free(text);
	unlink(path);
	rmdir(dir);
	free(path);
}

static void check_dirname(const char *path, const char *want)
{
	char *d = path_dirname(path);

	assert_string_equal(d, want);
	free(d);
}

static void test_path_dirname(void **state)
{
	(void)state;
	check_dirname("file", ".");
	check_dirname("/file", "/");
	check_dirname("a/b/file", "a/b");
	check_dirname("/a/file", "/a");
	check_dirname("a/", "a");
}

static void test_path_abspath(void **state)
{
	static const char *const cases[][2] = {
		{ "/a/b/../c", "/a/c" }, { "//a//b/", "//a/b" }, { "///a", "/a" },
		{ "/..", "/" },		 { "/a/./b/.", "/a/b" }, { "/", "/" },
		{ "//", "//" },		 { "//..", "//" },	 { "x/../y", "/y" },
		{ "../..", "/" },	 { "", "/" },		 { "./m/versions/", "/m/versions" },
		{ "/a/../../b/..", "/" },
	};
	char *cwd = getcwd(NULL, 0);

	(void)state;
	assert_non_null(cwd);
	assert_int_equal(chdir("/"), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = path_abspath(cases[i][0]);

		print_message("'%s'\n", cases[i][0]);
		assert_string_equal(got, cases[i][1]);
		free(got);
	}
	assert_int_equal(chdir(cwd), 0);
	free(cwd);
}

static void test_strmap(void **state)
{
	struct strmap m = { 0 };
	char keys[1000][16]; /* room for any int: -O1 checks snprintf against it */

	(void)state;
	assert_int_equal(strmap_get(&m, "x"), -1);
	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		strmap_put(&m, keys[i], i);
	}
	strmap_put(&m, "k7", 70);
	assert_int_equal(m.n, 1000);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(strmap_get(&m, keys[i]), i == 7 ? 70 : i);
	assert_int_equal(strmap_get(&m, "k1000"), -1);
	strmap_free(&m);
	assert_int_equal(strmap_get(&m, "k1"), -1);
}

static void test_utf8_trim_partial(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "abc", "abc" }, { "", "" },
		{ "a\xc3\xa9", "a\xc3\xa9" }, { "a\xc3", "a" },
		{ "a\xe2\x82\xac", "a\xe2\x82\xac" }, { "a\xe2\x82", "a" }, { "a\xe2", "a" },
		{ "a\xf0\x9f\x90\x98", "a\xf0\x9f\x90\x98" }, { "a\xf0\x9f\x90", "a" },
		{ "a\x80\x80\x80\x80", "a\x80\x80\x80\x80" }, /* not a cut: left alone */
	};
	char buf[16];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		utf8_trim_partial(buf);
		assert_string_equal(buf, cases[i].out);
	}
	assert_int_equal(utf8_seq_len("\xc0\x80"), 0);       /* overlong */
	assert_int_equal(utf8_seq_len("\xed\xa0\x80"), 0);   /* surrogate */
	assert_int_equal(utf8_seq_len("\xf4\x90\x80\x80"), 0); /* beyond U+10FFFF */
	assert_int_equal(utf8_seq_len("\xe2\x82"), 0);       /* cut */
	assert_int_equal(utf8_seq_len("\xf0\x9f\x90\x98"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strmap),
		cmocka_unit_test(test_utf8_trim_partial),
		cmocka_unit_test(test_path_abspath),
		cmocka_unit_test(test_path_dirname),
		cmocka_unit_test(test_strlist_same_set),
		cmocka_unit_test(test_write_new_file),
		cmocka_unit_test(test_strlist_push_and_contains),
		cmocka_unit_test(test_strlist_grows),
		cmocka_unit_test(test_strlist_split),
		cmocka_unit_test(test_strlist_join),
		cmocka_unit_test(test_sbuf_add),
		cmocka_unit_test(test_sbuf_reset_and_detach),
		cmocka_unit_test(test_sbuf_add_json_str),
		cmocka_unit_test(test_sbuf_add_sql),
		cmocka_unit_test(test_str_helpers),
		cmocka_unit_test(test_err_set_and_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
