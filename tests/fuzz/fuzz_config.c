/* The ini/config layer: the input becomes the config file given with
 * --config, read by config_load with a clean environment.  Errors must be
 * usage errors with a message; a loaded configuration must hold its
 * defaults or values. */
#include "fuzz.h"

#include <fcntl.h>
#include <unistd.h>

#include "prestart/config.h"

static char dir[] = "/tmp/prestart-fuzz-config.XXXXXX";
static char path[sizeof(dir) + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const vars[] = {
		"DATABASE_URL", "PRESTART_CONFIG", "PRESTART_SCRIPT_LOCATION",
		"PRESTART_VERSION_TABLE", "PRESTART_VERSION_TABLE_SCHEMA", "PRESTART_WAIT_TIMEOUT",
		"PRESTART_WAIT_FOR", "PRESTART_LOCK_TIMEOUT", "PRESTART_HEALTH_ADDR",
		"PRESTART_LOG_FORMAT", "PRESTART_TRANSACTION_PER_MIGRATION",
		"PRESTART_ALEMBIC_COMMAND", NULL,
	};

	(void)argc;
	(void)argv;
	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/prestart.ini", dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_flags f;
	struct config c;
	struct err e = { 0 };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	close(fd);
	config_flags_init(&f);
	f.config_file = path;
	if (config_load(&c, &f, &e) == 0) {
		struct dburl u;

		FUZZ_CHECK(c.script_location && c.version_table && c.alembic_command);
		FUZZ_CHECK(c.version_locations.n >= 1);
		FUZZ_CHECK(c.wait_timeout_ms >= 0 && c.lock_timeout_ms >= 0);
		/* the URL is parsed apart, by the commands that connect */
		if (config_database_url(&c, &u, &e) == 0)
			dburl_release(&u);
		else
			FUZZ_CHECK(e.kind == ERR_USAGE && e.msg[0] != '\0');
		config_release(&c);
	} else {
		FUZZ_CHECK(e.kind == ERR_USAGE || e.kind == ERR_SCRIPT);
		FUZZ_CHECK(e.msg[0] != '\0');
	}
	config_flags_release(&f);
	return 0;
}
