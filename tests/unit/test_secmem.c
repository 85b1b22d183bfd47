/* Secure memory: many small and segment-sized secrets share slabs (a
 * handful of mappings, not four each), a freed one is wiped at once,
 * freeing all gives every slab back but one empty one per size, and taking
 * and freeing a secret again and again (kurafs's open and close) maps
 * nothing new. */
#include <stdint.h>
#include <stdlib.h>

#include "kura/secmem.h"
#include "unit.h"

#define NKEYS 2000
#define NSEGS 200
#define SEG 65536

static long mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

static void test_shared_slabs(void)
{
    static uint8_t *keys[NKEYS], *segs[NSEGS];
    long before = mappings();
    for (size_t i = 0; i < NKEYS; i++) {
        ASSERT((keys[i] = kura_secure_alloc(32)));
        memset(keys[i], (int)(i & 0xff), 32);
    }
    for (size_t i = 0; i < NSEGS; i++) {
        ASSERT((segs[i] = kura_secure_alloc(SEG)));
        memset(segs[i], (int)(i & 0xff), SEG);
    }
    long used = mappings() - before;
    printf("# %d keys and %d segments: %ld mappings (one sodium_malloc each: %d)\n", NKEYS, NSEGS, used,
           4 * (NKEYS + NSEGS));
    EXPECT(used <= 4 * (NKEYS / 1024 + 1 + NSEGS / 16 + 1) + 8);
    /* no two overlap: each still holds what was written */
    for (size_t i = 0; i < NKEYS; i++)
        EXPECT(keys[i][0] == (uint8_t)(i & 0xff) && keys[i][31] == (uint8_t)(i & 0xff));
    for (size_t i = 0; i < NSEGS; i++)
        EXPECT(segs[i][0] == (uint8_t)(i & 0xff) && segs[i][SEG - 1] == (uint8_t)(i & 0xff));
    /* a freed key is wiped at once (its slab stays: others use it) */
    memset(keys[1], 0xA5, 32);
    kura_secure_free(keys[1]);
    int wiped = 1;
    for (size_t j = 0; j < 32; j++)
        wiped &= keys[1][j] == 0;
    EXPECT(wiped);
    for (size_t i = 0; i < NKEYS; i++)
        if (i != 1)
            kura_secure_free(keys[i]);
    for (size_t i = 0; i < NSEGS; i++)
        kura_secure_free(segs[i]);
    long after = mappings();
    printf("# after freeing all: %ld mappings, %ld before\n", after, before);
    /* ASan maps its own allocator regions as it goes; a slab is at most 4
     * mappings (guard, canary, data, guard), one empty kept per size. */
    EXPECT(after <= before + 16 + 2 * 4);
}

static void test_spare_slab_reused(void)
{
    /* warm: a slab of each size exists, then is empty */
    kura_secure_free(kura_secure_alloc(32));
    kura_secure_free(kura_secure_alloc(SEG));
    long before = mappings();
    for (int i = 0; i < 1000; i++) {
        uint8_t *k = kura_secure_alloc(32), *s = kura_secure_alloc(SEG);
        EXPECT(k && s);
        if (!k || !s)
            break;
        memset(k, 0x5A, 32);
        memset(s, 0x5A, SEG);
        kura_secure_free(k);
        kura_secure_free(s);
        /* wiped at once, kept slab or not */
        EXPECT(k[0] == 0 && k[31] == 0 && s[0] == 0 && s[SEG - 1] == 0);
    }
    long after = mappings();
    printf("# 1000 take-and-free cycles: %ld mappings, %ld before\n", after, before);
    EXPECT(after == before);
}

static void test_large_and_edge_sizes(void)
{
    uint8_t *big = kura_secure_alloc(SEG + 1), *none = kura_secure_alloc(0), *odd = kura_secure_alloc(65);
    EXPECT(big && none && odd);
    if (big)
        memset(big, 1, SEG + 1);
    if (odd)
        memset(odd, 2, 65);
    kura_secure_free(big);
    kura_secure_free(none);
    kura_secure_free(odd);
    kura_secure_free(NULL);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    RUN(test_shared_slabs);
    RUN(test_spare_slab_reused);
    RUN(test_large_and_edge_sizes);
    return unit_done();
}
