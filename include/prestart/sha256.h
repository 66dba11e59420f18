/* sha256.h - SHA-256 (FIPS 180-4).  Pure: no I/O.
 *
 * Used to tell whether a compiled revision file (SPEC §7.5) still matches
 * the .py file it was rendered from.
 */
#ifndef PRESTART_SHA256_H
#define PRESTART_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;        /* message length so far */
	unsigned char buf[64]; /* a partial block */
	size_t fill;
};

#define SHA256_HEX_LEN 64

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Finish and write the digest as 64 lower-case hex digits and a NUL into
 * hex (SHA256_HEX_LEN + 1 bytes).  *s must be initialised again before
 * another use. */
void sha256_final_hex(struct sha256 *s, char *hex);
/* One-shot digest of len bytes as hex (SHA256_HEX_LEN + 1 bytes). */
void sha256_hex(const void *data, size_t len, char *hex);

#endif
