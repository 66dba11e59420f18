/* buildinfo.c - see buildinfo.h */
#include "prestart/buildinfo.h"

#include <stdio.h>

#include <curl/curl.h>
#include <gnu/libc-version.h>
#include <libpq-fe.h>
#include <pg_query.h>
#include <sqlite3.h>

#include "prestart/util.h"

#ifndef PRESTART_COMMIT
#define PRESTART_COMMIT "unknown"
#endif
#ifndef PRESTART_BUILD_DATE
#define PRESTART_BUILD_DATE "unknown"
#endif

#if defined(__x86_64__)
#define PLATFORM_ARCH "amd64"
#elif defined(__aarch64__)
#define PLATFORM_ARCH "arm64"
#elif defined(__i386__)
#define PLATFORM_ARCH "386"
#elif defined(__arm__)
#define PLATFORM_ARCH "arm"
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define PLATFORM_ARCH "ppc64le"
#elif defined(__s390x__)
#define PLATFORM_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define PLATFORM_ARCH "riscv64"
#else
#define PLATFORM_ARCH "unknown"
#endif

const char *buildinfo_version(void)
{
	return PRESTART_VERSION;
}

static void add(char *buf, size_t n, size_t *len, const char *name, const char *val)
{
	int r;

	if (*len >= n)
		return;
	r = name ? snprintf(buf + *len, n - *len, "%s: %s\n", name, val)
		 : snprintf(buf + *len, n - *len, "prestart %s\n", val);
	*len = r < 0 ? n : *len + (size_t)r;
}

void buildinfo_describe(char *buf, size_t n)
{
	const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
	int pq = PQlibVersion();
	char pqv[32];
	size_t len = 0;

	if (n)
		buf[0] = '\0';
	add(buf, n, &len, NULL, PRESTART_VERSION);
	add(buf, n, &len, "commit", PRESTART_COMMIT);
	add(buf, n, &len, "built", PRESTART_BUILD_DATE);
	add(buf, n, &len, "platform", "linux/" PLATFORM_ARCH);
	/* PQlibVersion: major * 10000 + minor from PostgreSQL 10 on */
	snprintf(pqv, sizeof(pqv), "%d.%d", pq / 10000, pq % 10000);
	add(buf, n, &len, "libpq", pqv);
	add(buf, n, &len, "libcurl", cv->version);
	if (cv->ssl_version)
		add(buf, n, &len, "tls", cv->ssl_version);
	if (cv->libz_version)
		add(buf, n, &len, "zlib", cv->libz_version);
	add(buf, n, &len, "sqlite", sqlite3_libversion());
	/* libpg_query has no run-time version: the grammar it was cut from */
	add(buf, n, &len, "libpg_query", "PostgreSQL " PG_VERSION " parser");
	add(buf, n, &len, "glibc", gnu_get_libc_version());
}
