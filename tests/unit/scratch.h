/* scratch.h - a fixture the configuration tests share: each test runs in a
 * fresh temporary directory with none of the environment prestart reads
 * (DATABASE_URL, every PRESTART_* and PG* variable), whatever the machine
 * or the previous test left set, and write_file() to put files in it.
 * Include after <cmocka.h>; needs
 * _XOPEN_SOURCE 700 for nftw. */
#ifndef PRESTART_TESTS_SCRATCH_H
#define PRESTART_TESTS_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static char scratch_old_cwd[4096];
static char scratch_dir[64];

/* Derived from the names, so a setting added later is cleared too. */
static void scratch_clear_env(void)
{
	for (;;) {
		char name[256];
		size_t i, n;

		for (i = 0; environ[i]; i++)
			if (!strncmp(environ[i], "PRESTART_", 9) || !strncmp(environ[i], "PG", 2) ||
			    !strncmp(environ[i], "DATABASE_URL=", 13))
				break;
		if (!environ[i])
			return;
		n = strcspn(environ[i], "=");
		assert_true(n < sizeof(name));
		memcpy(name, environ[i], n);
		name[n] = '\0';
		unsetenv(name);
	}
}

/* PATH (relative: in the scratch directory) holding TEXT. */
static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int scratch_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int scratch_setup(void **state)
{
	(void)state;
	scratch_clear_env();
	assert_non_null(getcwd(scratch_old_cwd, sizeof(scratch_old_cwd)));
	snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/prestart-unit-XXXXXX");
	assert_non_null(mkdtemp(scratch_dir));
	assert_int_equal(chdir(scratch_dir), 0);
	return 0;
}

static int scratch_teardown(void **state)
{
	(void)state;
	assert_int_equal(chdir(scratch_old_cwd), 0);
	nftw(scratch_dir, scratch_rm, 16, FTW_DEPTH | FTW_PHYS);
	scratch_clear_env();
	return 0;
}

#endif
