/* The prestart.ini that `prestart init` writes: it names every key
 * config_load() knows, it loads, and uncommenting every setting changes
 * nothing from the defaults. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "scratch.h"

#include "prestart/config.h"
#include "prestart/init.h"

/* Is there a line "# key =..." (or "key =..." when set)? */
static int names_key(const char *text, const char *key, int *set)
{
	size_t n = strlen(key);

	for (const char *p = text; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != '\0')) {
		const char *k = p;
		int commented = !strncmp(p, "# ", 2);

		if (commented)
			k += 2;
		if (!strncmp(k, key, n) && !strncmp(k + n, " =", 2)) {
			*set = !commented;
			return 1;
		}
	}
	return 0;
}

/* Every "# key =" line with its "# " removed. */
static char *uncomment(const char *text)
{
	size_t len = strlen(text);
	char *out = malloc(len + 1), *o = out;

	assert_non_null(out);
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");

		if (!strncmp(p, "# ", 2)) {
			size_t key = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz_");

			if (key && !strncmp(p + 2 + key, " =", 2))
				p += 2, n -= 2;
		}
		memcpy(o, p, n);
		o += n;
		p += n;
		if (*p)
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static void load(const char *file, const char *dir, struct config *c)
{
	struct config_flags fl;
	struct err e = { 0 };

	config_flags_init(&fl);
	fl.config_file = file;
	fl.script_location = dir;
	if (config_load(c, &fl, &e) < 0)
		fail_msg("config_load(%s): %s", file ? file : "no file", e.msg);
}

static void same_list(const struct strlist *a, const struct strlist *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

#define same_str(x, y)                                       \
	do {                                                 \
		if ((x) || (y)) {                            \
			assert_non_null(x);                  \
			assert_non_null(y);                  \
			assert_string_equal((x), (y));       \
		}                                            \
	} while (0)

/* Every field config_load fills from [prestart], apart from the name of
 * the file read. */
static void same_config(const struct config *a, const struct config *b)
{
	same_str(a->database_url, b->database_url);
	same_str(a->database_url_source, b->database_url_source);
	same_str(a->alembic_config, b->alembic_config);
	same_str(a->script_location, b->script_location);
	same_list(&a->version_locations, &b->version_locations);
	same_str(a->version_table, b->version_table);
	same_str(a->version_table_schema, b->version_table_schema);
	assert_int_equal(a->wait_timeout_ms, b->wait_timeout_ms);
	same_list(&a->wait_for, &b->wait_for);
	assert_int_equal(a->lock_timeout_ms, b->lock_timeout_ms);
	assert_int_equal(a->ddl_lock_timeout_ms, b->ddl_lock_timeout_ms);
	assert_int_equal(a->ddl_retry_budget_ms, b->ddl_retry_budget_ms);
	same_str(a->health_addr, b->health_addr);
	assert_int_equal(a->log_format, b->log_format);
	assert_int_equal(a->transaction_per_migration, b->transaction_per_migration);
	same_list(&a->after_upgrade, &b->after_upgrade);
	same_str(a->alembic_command, b->alembic_command);
	assert_int_equal(a->ledger, b->ledger);
	same_str(a->ledger_schema, b->ledger_schema);
	assert_int_equal(a->if_ahead_fail, b->if_ahead_fail);
	assert_int_equal(a->checksum, b->checksum);
	assert_int_equal(a->phase, b->phase);
}

/* The file and config_load's list of keys cannot drift apart. */
static void test_every_key(void **state)
{
	static const char *const dirs[] = { NULL, "migrations", "db/migrate", NULL };

	(void)state;
	for (size_t d = 0; d < 3; d++) {
		char *text = init_config_text(dirs[d]);
		char *all = uncomment(text);
		size_t known = 0, lines = 0;
		int set;

		for (const char *const *k = config_keys(); *k; k++, known++) {
			if (!names_key(text, *k, &set))
				fail_msg("key '%s' missing from the generated prestart.ini", *k);
			/* Only a script location other than the default is set. */
			assert_int_equal(set, d == 2 && !strcmp(*k, "script_location"));
		}
		/* ... and it names nothing else: every setting line is a key. */
		for (const char *p = all; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] != '\0'))
			if (*p != '#' && *p != '\n' && *p != '[')
				lines++;
		assert_int_equal(lines, known);
		assert_non_null(strstr(text, "\n[prestart]\n"));
		free(all);
		free(text);
	}
}

/* As written and with every line uncommented, the file changes nothing. */
static void test_changes_nothing(void **state)
{
	static const char *const dirs[] = { "migrations", "db/migrate", "odd%dir", NULL };

	(void)state;
	for (size_t d = 0; dirs[d]; d++) {
		char *text = init_config_text(dirs[d]);
		char *all = uncomment(text);
		struct config none, as_written, uncommented;
		const char *flag = strcmp(dirs[d], "migrations") ? dirs[d] : NULL;

		write_file("as_written.ini", text);
		write_file("uncommented.ini", all);
		load(NULL, flag, &none);
		assert_null(none.config_file);
		load("as_written.ini", NULL, &as_written);
		load("uncommented.ini", NULL, &uncommented);
		assert_string_equal(as_written.config_file, "as_written.ini");
		assert_string_equal(as_written.script_location, dirs[d]);
		same_config(&none, &as_written);
		same_config(&none, &uncommented);
		config_release(&none);
		config_release(&as_written);
		config_release(&uncommented);
		free(all);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key),
		cmocka_unit_test_setup_teardown(test_changes_nothing, scratch_setup, scratch_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
