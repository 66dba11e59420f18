/*
 * readall - the floor for reading a revision directory: what any tool that
 * reads its revision files must at least do.
 *
 *   readall DIR [THREADS]
 *
 * Lists DIR, then opens, reads (one read of up to 64 KiB) and closes every
 * entry not starting with '.', split over THREADS threads (default 1).  No
 * sorting, no parsing, no graph: prestart's `heads` and `history` at 10,000
 * and 100,000 revisions are measured against this.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS_MAX 64

struct share {
	int dfd;
	char **names;
	size_t lo, hi;
	long long bytes;
};

static void *read_share(void *arg)
{
	struct share *s = arg;
	char buf[65536];

	for (size_t i = s->lo; i < s->hi; i++) {
		int fd = openat(s->dfd, s->names[i], O_RDONLY | O_CLOEXEC);
		ssize_t r;

		if (fd < 0) {
			perror(s->names[i]);
			exit(1);
		}
		r = read(fd, buf, sizeof(buf));
		if (r > 0)
			s->bytes += r;
		close(fd);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct share shares[THREADS_MAX];
	pthread_t tids[THREADS_MAX];
	char **names = NULL;
	size_t n = 0, alloc = 0;
	long long bytes = 0;
	long threads = argc > 2 ? strtol(argv[2], NULL, 10) : 1;
	struct dirent *de;
	DIR *d;

	if (argc < 2 || threads < 1 || threads > THREADS_MAX) {
		fprintf(stderr, "usage: readall DIR [THREADS]\n");
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 1024;
			names = realloc(names, alloc * sizeof(*names));
			if (!names)
				return 1;
		}
		names[n] = strdup(de->d_name);
		if (!names[n++])
			return 1;
	}
	for (long t = 0; t < threads; t++) {
		shares[t] = (struct share){ .dfd = dirfd(d), .names = names,
					    .lo = n * (size_t)t / (size_t)threads,
					    .hi = n * (size_t)(t + 1) / (size_t)threads };
		if (t && pthread_create(&tids[t], NULL, read_share, &shares[t]) != 0)
			return 1;
	}
	read_share(&shares[0]);
	for (long t = 0; t < threads; t++) {
		if (t)
			pthread_join(tids[t], NULL);
		bytes += shares[t].bytes;
	}
	printf("%zu files, %lld bytes\n", n, bytes);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return 0;
}
