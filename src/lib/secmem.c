#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
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

/* One sodium_malloc costs four mappings and three pages beyond the data
 * (guard pages, canary page). kurafs holds a key copy and a segment per
 * open file, so a sodium_malloc each would cost ~8 mappings and ~90 KiB per
 * file and run into the kernel's mapping limit near 8,000 open files.
 * Allocations up to SLOT_MAX share slabs instead: one sodium_malloc of 16
 * or more slots of one power-of-two size, so the slab as a whole is locked,
 * excluded from core dumps and guarded; a freed slot is wiped at once and
 * an empty slab is given back, but one per size: kurafs takes and frees its
 * keys on every open and close, and would otherwise map, lock (populate),
 * guard and unmap a slab each time. */
#define SLOT_MIN_SHIFT 6   /* 64 bytes */
#define SLOT_MAX_SHIFT 16  /* 64 KiB: one Crypt4GH segment */
#define SLAB_MIN_BYTES 65536
#define SLAB_MIN_SLOTS 16
#define SLAB_MAX_SLOTS (SLAB_MIN_BYTES >> SLOT_MIN_SHIFT)

struct slab {
    struct slab *next;
    uint8_t *base;
    size_t slot_size, nslots, used;
    uint64_t busy[SLAB_MAX_SLOTS / 64]; /* a bit per slot in use */
};

static pthread_mutex_t slabs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slab *slabs[SLOT_MAX_SHIFT - SLOT_MIN_SHIFT + 1];

static unsigned size_class(size_t size)
{
    unsigned shift = SLOT_MIN_SHIFT;
    while (((size_t)1 << shift) < size)
        shift++;
    return shift - SLOT_MIN_SHIFT;
}

static struct slab *slab_new(unsigned cls)
{
    struct slab *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->slot_size = (size_t)1 << (cls + SLOT_MIN_SHIFT);
    s->nslots = SLAB_MIN_BYTES / s->slot_size;
    if (s->nslots < SLAB_MIN_SLOTS)
        s->nslots = SLAB_MIN_SLOTS;
    /* sodium_malloc locks the pages and marks them MADV_DONTDUMP. */
    if (!(s->base = sodium_malloc(s->slot_size * s->nslots))) {
        free(s);
        return NULL;
    }
    return s;
}

static void *slab_take(struct slab *s)
{
    for (size_t i = 0; i < s->nslots; i++)
        if (!(s->busy[i / 64] & (UINT64_C(1) << (i % 64)))) {
            s->busy[i / 64] |= UINT64_C(1) << (i % 64);
            s->used++;
            return s->base + i * s->slot_size;
        }
    return NULL;
}

void *kura_secure_alloc(size_t size)
{
    if (size > ((size_t)1 << SLOT_MAX_SHIFT))
        return sodium_malloc(size);
    unsigned cls = size_class(size ? size : 1);
    void *p = NULL;
    pthread_mutex_lock(&slabs_lock);
    struct slab *s = slabs[cls];
    while (s && s->used == s->nslots)
        s = s->next;
    if (!s && (s = slab_new(cls))) {
        s->next = slabs[cls];
        slabs[cls] = s;
    }
    if (s)
        p = slab_take(s);
    pthread_mutex_unlock(&slabs_lock);
    return p;
}

/* Another slab than s in the list is empty: s need not be kept. */
static bool other_empty(const struct slab *list, const struct slab *s)
{
    for (; list; list = list->next)
        if (list != s && list->used == 0)
            return true;
    return false;
}

void kura_secure_free(void *p)
{
    if (!p)
        return;
    uint8_t *u = p;
    pthread_mutex_lock(&slabs_lock);
    for (size_t cls = 0; cls < sizeof slabs / sizeof slabs[0]; cls++)
        for (struct slab **link = &slabs[cls], *s; (s = *link); link = &s->next) {
            if (u < s->base || u >= s->base + s->slot_size * s->nslots)
                continue;
            size_t i = (size_t)(u - s->base) / s->slot_size;
            sodium_memzero(s->base + i * s->slot_size, s->slot_size);
            s->busy[i / 64] &= ~(UINT64_C(1) << (i % 64));
            if (--s->used == 0 && other_empty(slabs[cls], s)) {
                *link = s->next;
                sodium_free(s->base);
                free(s);
            }
            pthread_mutex_unlock(&slabs_lock);
            return;
        }
    pthread_mutex_unlock(&slabs_lock);
    sodium_free(p); /* a large one: wipes before unmapping */
}
