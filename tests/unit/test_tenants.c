/* test_tenants.c - tenant sources, names and shards (SPEC §9.5), without a
 * database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "prestart/tenants.h"

static void test_kind(void **state)
{
	const char *p;

	(void)state;
	assert_int_equal(tenants_source_kind("a,b", &p), TENANTS_LIST);
	assert_string_equal(p, "a,b");
	assert_int_equal(tenants_source_kind("@/etc/t.txt", &p), TENANTS_FILE);
	assert_string_equal(p, "/etc/t.txt");
	assert_int_equal(tenants_source_kind("query:SELECT 1", &p), TENANTS_QUERY);
	assert_string_equal(p, "SELECT 1");
}

static void test_names(void **state)
{
	char long_name[80];

	(void)state;
	assert_true(tenants_name_valid("acme"));
	assert_true(tenants_name_valid("_t1$x"));
	assert_true(tenants_name_valid("Tenant_A"));
	assert_false(tenants_name_valid(""));
	assert_false(tenants_name_valid("1abc"));
	assert_false(tenants_name_valid("a-b"));
	assert_false(tenants_name_valid("a\"b"));
	assert_false(tenants_name_valid("a b"));
	assert_false(tenants_name_valid("caf\xc3\xa9"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	assert_true(tenants_name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	assert_false(tenants_name_valid(long_name));
}

static void test_list(void **state)
{
	struct strlist l = { 0 };
	struct err e = { 0 };

	(void)state;
	assert_int_equal(tenants_parse(" a, b,,c ,a", ',', "--tenants", &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "a");
	assert_string_equal(l.v[1], "b");
	assert_string_equal(l.v[2], "c");
	strlist_free(&l);
	assert_int_equal(tenants_parse("a,b-c", ',', "--tenants", &l, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "'b-c'"));
	assert_non_null(strstr(e.msg, "--tenants"));
	strlist_free(&l);
}

static void test_file(void **state)
{
	struct strlist l = { 0 };
	struct err e = { 0 };

	(void)state;
	assert_int_equal(tenants_parse("# tenants\nacme\n\n  beta  # old\n#gamma\ndelta",
				       '\n', "t.txt", &l, &e),
			 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "acme");
	assert_string_equal(l.v[1], "beta");
	assert_string_equal(l.v[2], "delta");
	strlist_free(&l);
	assert_int_equal(tenants_parse("acme\nbad name\n", '\n', "t.txt", &l, &e), -1);
	assert_non_null(strstr(e.msg, "'bad name' in t.txt:2"));
	strlist_free(&l);
}

static void test_many_repeats(void **state)
{
	struct sbuf b = { 0 };
	struct strlist l = { 0 };
	struct err e = { 0 };

	(void)state;
	for (int r = 0; r < 2; r++)
		for (int i = 0; i < 5000; i++)
			sbuf_addf(&b, "t%d,", i);
	assert_int_equal(tenants_parse(b.buf, ',', "--tenants", &l, &e), 0);
	assert_int_equal(l.n, 5000);
	assert_string_equal(l.v[4999], "t4999");
	strlist_free(&l);
	sbuf_free(&b);
}

static void test_check(void **state)
{
	struct strlist l = { 0 };
	struct err e = { 0 };

	(void)state;
	strlist_push(&l, "ok");
	assert_int_equal(tenants_check(&l, "the query", &e), 0);
	strlist_push(&l, "no;pe");
	assert_int_equal(tenants_check(&l, "the query", &e), -1);
	assert_non_null(strstr(e.msg, "'no;pe' in row 2 of the query"));
	strlist_free(&l);
}

static void test_shard(void **state)
{
	int i, n;
	struct strlist all = { 0 };
	size_t total = 0;

	(void)state;
	assert_int_equal(tenants_parse_shard("0/1", &i, &n), 0);
	assert_int_equal(tenants_parse_shard("3/4", &i, &n), 0);
	assert_int_equal(i, 3);
	assert_int_equal(n, 4);
	assert_int_equal(tenants_parse_shard("4/4", &i, &n), -1);
	assert_int_equal(tenants_parse_shard("0/0", &i, &n), -1);
	assert_int_equal(tenants_parse_shard("-1/4", &i, &n), -1);
	assert_int_equal(tenants_parse_shard("1", &i, &n), -1);
	assert_int_equal(tenants_parse_shard("1/x", &i, &n), -1);
	assert_int_equal(tenants_parse_shard("/4", &i, &n), -1);
	/* FNV-1a 32: the published test vectors */
	assert_int_equal(tenants_hash(""), 0x811c9dc5u);
	assert_int_equal(tenants_hash("a"), 0xe40c292cu);
	assert_int_equal(tenants_hash("foobar"), 0xbf9cf968u);
	for (int k = 0; k < 1000; k++)
		strlist_push_owned(&all, xasprintf("tenant_%d", k));
	/* three shards: every tenant in exactly one, each a fair share */
	for (int s = 0; s < 3; s++) {
		struct strlist part = { 0 };

		for (size_t k = 0; k < all.n; k++)
			strlist_push(&part, all.v[k]);
		tenants_shard(&part, s, 3);
		assert_true(part.n > 250 && part.n < 420);
		for (size_t k = 0; k < part.n; k++)
			assert_int_equal(tenants_hash(part.v[k]) % 3, (uint32_t)s);
		total += part.n;
		strlist_free(&part);
	}
	assert_int_equal(total, 1000);
	strlist_free(&all);
}

static void test_search_path(void **state)
{
	char *s;

	(void)state;
	s = tenants_search_path("{tenant},public", "acme");
	assert_string_equal(s, "\"acme\",public");
	free(s);
	s = tenants_search_path("{tenant}, shared, {tenant}_ext", "Ab");
	assert_string_equal(s, "\"Ab\", shared, \"Ab\"_ext");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind),         cmocka_unit_test(test_names),
		cmocka_unit_test(test_list),         cmocka_unit_test(test_file),
		cmocka_unit_test(test_many_repeats), cmocka_unit_test(test_check),
		cmocka_unit_test(test_shard),        cmocka_unit_test(test_search_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
