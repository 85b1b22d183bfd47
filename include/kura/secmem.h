/* Memory for secrets: locked (never swapped), excluded from core dumps,
 * guarded, and wiped with sodium_memzero when freed (libsodium's
 * sodium_malloc/sodium_free). Up to 64 KiB, allocations of one size share
 * a guarded slab (no guard page between two of them); larger ones get a
 * sodium_malloc each. Thread-safe. Call kura_secmem_init() once at start. */
#ifndef KURA_SECMEM_H
#define KURA_SECMEM_H
#include <stddef.h>

/* sodium_init(); returns -1 if libsodium cannot start. */
int kura_secmem_init(void);

/* Process hardening for programs that hold keys: not dumpable (no core
 * file, no ptrace by other users), RLIMIT_CORE 0. Returns -1 on failure. */
int kura_harden_process(void);

void *kura_secure_alloc(size_t size);   /* NULL on failure */
void kura_secure_free(void *p);         /* wipes; NULL is fine */

#endif
