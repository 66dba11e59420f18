/* The application the chroot test execs after prestart migrated: it prints
 * what prestart handed over (its argv and PRESTART_REVISION), then exits
 * with the status given as its first argument. Static, because the chroot
 * it runs in holds no C library. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *rev = getenv("PRESTART_REVISION");
	int i;

	printf("app: revision=%s\n", rev ? rev : "(unset)");
	for (i = 1; i < argc; i++)
		printf("app: argv[%d]=%s\n", i, argv[i]);
	fflush(stdout);
	return argc > 1 ? atoi(argv[1]) : 0;
}
