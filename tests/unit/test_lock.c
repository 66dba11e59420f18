/* lock: the advisory lock key.
 *
 * Replicas exclude each other only if they compute the same key for the
 * same version table.  During a rolling deploy the old image and the new
 * one run side by side, so the key is part of the contract between
 * prestart versions: a change here would let an old and a new replica both
 * migrate at once.  The values below must never change.
 *
 * The key is FNV-1a 64 over "<schema>.<table>" ("public" for no schema),
 * masked to 63 bits so that it is a non-negative bigint.  One detail is
 * not standard FNV-1a: the offset basis is 1469598103934665603, the
 * published 14695981039346656037 one digit short.  Released versions use
 * that value, so it stays.  The test computes the hash itself from that
 * definition (checked against the published FNV-1a test vectors with the
 * published basis), and also pins the values of common names as numbers:
 * 1429649319441447680 for public.alembic_version is the key an integration
 * run sees in pg_locks (tests/integration/test_faults.py holds the lock
 * with a Python copy of the same definition).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "prestart/lock.h"

#define FNV64_PRIME 1099511628211ULL
#define FNV64_BASIS 14695981039346656037ULL /* as published */
#define PRESTART_BASIS 1469598103934665603ULL /* what lock_key uses */

static uint64_t fnv1a64(uint64_t basis, const char *s)
{
	uint64_t h = basis;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= FNV64_PRIME;
	}
	return h;
}

static long long expected_key(const char *schema, const char *table)
{
	char *name = xasprintf("%s.%s", schema ? schema : "public", table);
	long long k = (long long)(fnv1a64(PRESTART_BASIS, name) & 0x7fffffffffffffffULL);

	free(name);
	return k;
}

static void test_reference_hash_is_fnv1a(void **state)
{
	(void)state;
	/* the published FNV-1a 64 test vectors */
	assert_true(fnv1a64(FNV64_BASIS, "") == 0xcbf29ce484222325ULL);
	assert_true(fnv1a64(FNV64_BASIS, "a") == 0xaf63dc4c8601ec8cULL);
	assert_true(fnv1a64(FNV64_BASIS, "foobar") == 0x85944171f73967e8ULL);
}

static void test_key_follows_the_definition(void **state)
{
	static const char *const names[][2] = {
		{ NULL, "alembic_version" },
		{ "public", "alembic_version" },
		{ "app", "alembic_version" },
		{ NULL, "my_version" },
		{ "my schema", "we\"ird" },
		{ "public", "\xc3\x9cn\xc3\xaf" },
		{ "s", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		long long k = lock_key_of(names[i][0], names[i][1]);

		assert_true(k >= 0);
		assert_true(k == expected_key(names[i][0], names[i][1]));
	}
}

static void test_key_values_never_change(void **state)
{
	(void)state;
	/* the default: no version_table_schema, alembic_version */
	assert_true(lock_key_of(NULL, "alembic_version") == 1429649319441447680LL);
	assert_true(lock_key_of("public", "alembic_version") == 1429649319441447680LL);
	assert_true(lock_key_of("app", "alembic_version") == 1067382589899291336LL);
	assert_true(lock_key_of(NULL, "my_version") == 8491466496323018961LL);
	assert_true(lock_key_of("my schema", "we\"ird") == 8255507360426894925LL);
	/* bytes as given, no case folding or normalisation */
	assert_true(lock_key_of("public", "\xc3\x9cn\xc3\xaf") == 8372451178852997981LL);
}

static void test_key_separates_names(void **state)
{
	(void)state;
	assert_true(lock_key_of(NULL, "alembic_version") != lock_key_of("app", "alembic_version"));
	assert_true(lock_key_of(NULL, "alembic_version") != lock_key_of(NULL, "Alembic_version"));
	assert_true(lock_key_of(NULL, "a") != lock_key_of(NULL, "b"));
	/* the joined text is hashed, so names holding a '.' can share a key:
	 * such replicas exclude each other needlessly, which is safe */
	assert_true(lock_key_of("a.b", "c") == lock_key_of("a", "b.c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_hash_is_fnv1a),
		cmocka_unit_test(test_key_follows_the_definition),
		cmocka_unit_test(test_key_values_never_change),
		cmocka_unit_test(test_key_separates_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
