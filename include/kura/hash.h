/* FNV-1a, 64-bit: the hash of kura's in-memory tables (catalog paths, the
 * mount's opened files, bulk-read counters). Not for anything an attacker
 * could use to collide on purpose beyond slowing a lookup. */
#ifndef KURA_HASH_H
#define KURA_HASH_H
#include <stddef.h>
#include <stdint.h>

#define KURA_HASH_INIT 14695981039346656037ull

/* Continues hash h over len bytes of p; start with KURA_HASH_INIT. */
static inline uint64_t kura_hash(uint64_t h, const void *p, size_t len)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

#endif
