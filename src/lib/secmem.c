#include <sodium.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "kura/secmem.h"

int kura_secmem_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int kura_harden_process(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0)
        return -1;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return -1;
    return 0;
}

void *kura_secure_alloc(size_t size)
{
    /* sodium_malloc locks the pages and marks them MADV_DONTDUMP. */
    return sodium_malloc(size);
}

void kura_secure_free(void *p)
{
    sodium_free(p); /* wipes before unmapping; accepts NULL */
}
