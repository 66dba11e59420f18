/* buildinfo.h - what this binary is: version, commit, build date, platform
 * and the libraries linked into it (`prestart version`, the ledger).
 *
 * The build passes PRESTART_VERSION, PRESTART_COMMIT and PRESTART_BUILD_DATE
 * (the commit's date, so two builds of one commit print the same); a build
 * without them prints the defaults of util.h and "unknown".
 */
#ifndef PRESTART_BUILDINFO_H
#define PRESTART_BUILDINFO_H

#include <stddef.h>

/* the release version, e.g. "0.1.0"; static storage */
const char *buildinfo_version(void);

/* Write the `prestart version` report into BUF (N bytes, NUL-terminated,
 * cut short if it does not fit): the first line is "prestart VERSION", then
 * one "name: value" line each for the commit, the build date, the platform
 * (linux/amd64, linux/arm64) and every library linked in, with the version
 * it reports at run time. */
void buildinfo_describe(char *buf, size_t n);

#endif
