/* The opened keys kept between opens (keycache.h): a copy out only for the
 * same file with the same stamp, a changed stamp drops the entry, a wipe
 * drops all, and the bounds hold (entries and segment-map bytes, least
 * recently used first). */
#include <stdlib.h>
#include <string.h>

#include "kura/keycache.h"
#include "kura/secmem.h"
#include "unit.h"

static struct c4gh_header *header_with_edits(uint64_t edit)
{
    struct c4gh_header *h = NULL;
    uint64_t edits[2] = {edit, 100};
    if (c4gh_header_new(&h, edits, 2, NULL) != 0)
        return NULL;
    return h;
}

static struct kura_segmap map_of(uint64_t nsegments, uint8_t fill)
{
    struct kura_segmap m = {.payload_len = nsegments * 65564, .nsegments = nsegments};
    m.nonces = malloc(nsegments * C4GH_NONCE_SIZE + 1);
    memset(m.nonces, fill, nsegments * C4GH_NONCE_SIZE);
    return m;
}

static struct kura_key_stamp stamp_of(ino_t ino)
{
    struct kura_key_stamp s;
    memset(&s, 0, sizeof s);
    s.key.ino = ino;
    s.header.ino = ino + 1;
    s.map.ino = ino + 2;
    s.map.ctime.tv_nsec = 5;
    return s;
}

static bool same_header(const struct c4gh_header *a, const struct c4gh_header *b)
{
    return a && b && a->nkeys == b->nkeys && memcmp(a->keys, b->keys, a->nkeys * C4GH_KEY_SIZE) == 0 &&
           a->nedits == b->nedits && memcmp(a->edits, b->edits, a->nedits * sizeof *a->edits) == 0;
}

static void test_hit_needs_same_file_and_stamp(void)
{
    struct kura_keycache kc;
    ASSERT(kura_keycache_init(&kc, NULL) == 0);
    struct c4gh_header *h = header_with_edits(7), *got = NULL;
    struct kura_segmap m = map_of(3, 0xab), gm;
    struct kura_key_stamp st = stamp_of(10);
    ASSERT(h);
    EXPECT(!kura_keycache_get(&kc, "DS1", "f1", &st, &got, &gm) && !got && !gm.nonces);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS1", "f1", &st, h, &m);
    EXPECT(kura_keycache_get(&kc, "DS1", "f1", &st, &got, &gm));
    /* a copy, equal to what was put, and the caller's to free */
    EXPECT(same_header(got, h) && got != h && got->keys != h->keys);
    EXPECT(gm.nsegments == 3 && gm.payload_len == m.payload_len && gm.nonces != m.nonces &&
           memcmp(gm.nonces, m.nonces, 3 * C4GH_NONCE_SIZE) == 0);
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    /* another file of the dataset, the same file id in another dataset */
    EXPECT(!kura_keycache_get(&kc, "DS1", "f2", &st, &got, &gm));
    EXPECT(!kura_keycache_get(&kc, "DS2", "f1", &st, &got, &gm));
    /* any field of the stamp changed: a miss, and the entry is gone */
    struct kura_key_stamp moved = st;
    moved.map.ctime.tv_nsec++;
    EXPECT(!kura_keycache_get(&kc, "DS1", "f1", &moved, &got, &gm) && !got);
    EXPECT(!kura_keycache_get(&kc, "DS1", "f1", &st, &got, &gm));
    size_t n;
    uint64_t hits, misses;
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 0 && hits == 1 && misses == 5);
    struct kura_key_stamp other = st;
    other.key.dev = 99;
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS1", "f1", &st, h, &m);
    EXPECT(!kura_keycache_get(&kc, "DS1", "f1", &other, &got, &gm));
    c4gh_header_free(h);
    kura_segmap_clear(&m);
    kura_keycache_free(&kc);
}

static void test_put_replaces_and_wipe_drops_all(void)
{
    struct kura_keycache kc;
    ASSERT(kura_keycache_init(&kc, NULL) == 0);
    struct c4gh_header *a = header_with_edits(1), *b = header_with_edits(2), *got = NULL;
    struct kura_segmap m = map_of(1, 1), gm;
    struct kura_key_stamp s1 = stamp_of(1), s2 = stamp_of(50);
    ASSERT(a && b);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f", &s1, a, &m);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f", &s2, b, &m);
    size_t n;
    uint64_t hits, misses;
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 1);
    EXPECT(!kura_keycache_get(&kc, "DS", "f", &s1, &got, &gm));
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f", &s2, b, &m);
    EXPECT(kura_keycache_get(&kc, "DS", "f", &s2, &got, &gm) && same_header(got, b));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "g", &s1, a, &m);
    kura_keycache_wipe(&kc);
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 0 && kc.map_bytes == 0);
    EXPECT(!kura_keycache_get(&kc, "DS", "f", &s2, &got, &gm));
    EXPECT(!kura_keycache_get(&kc, "DS", "g", &s1, &got, &gm));
    c4gh_header_free(a);
    c4gh_header_free(b);
    kura_segmap_clear(&m);
    kura_keycache_free(&kc);
}

/* A file whose key files cannot be stamped (gone with no change to wipe
 * them): its entry alone goes. */
static void test_forget_drops_that_file_only(void)
{
    struct kura_keycache kc;
    ASSERT(kura_keycache_init(&kc, NULL) == 0);
    struct c4gh_header *h = header_with_edits(5), *got = NULL;
    struct kura_segmap m = map_of(2, 6), gm;
    struct kura_key_stamp st = stamp_of(20);
    ASSERT(h);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f", &st, h, &m);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "g", &st, h, &m);
    kura_keycache_forget(&kc, "DS", "f");
    kura_keycache_forget(&kc, "DS", "none");
    size_t n;
    uint64_t hits, misses;
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 1 && kc.map_bytes == 2 * C4GH_NONCE_SIZE);
    EXPECT(!kura_keycache_get(&kc, "DS", "f", &st, &got, &gm));
    EXPECT(kura_keycache_get(&kc, "DS", "g", &st, &got, &gm) && same_header(got, h));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    c4gh_header_free(h);
    kura_segmap_clear(&m);
    kura_keycache_free(&kc);
}

/* Keys read before a wipe (an open in flight while a change wipes the
 * rest) are not kept after it; read after it, they are. */
static void test_put_after_a_wipe_keeps_nothing_read_before_it(void)
{
    struct kura_keycache kc;
    ASSERT(kura_keycache_init(&kc, NULL) == 0);
    struct c4gh_header *h = header_with_edits(4), *got = NULL;
    struct kura_segmap m = map_of(2, 9), gm;
    struct kura_key_stamp st = stamp_of(3);
    ASSERT(h);
    uint64_t before = kura_keycache_generation(&kc);
    kura_keycache_wipe(&kc);
    kura_keycache_put(&kc, before, "DS", "f", &st, h, &m);
    size_t n;
    uint64_t hits, misses;
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 0);
    EXPECT(!kura_keycache_get(&kc, "DS", "f", &st, &got, &gm));
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f", &st, h, &m);
    EXPECT(kura_keycache_get(&kc, "DS", "f", &st, &got, &gm) && same_header(got, h));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    c4gh_header_free(h);
    kura_segmap_clear(&m);
    kura_keycache_free(&kc);
}

static void test_bounds_drop_least_recently_used(void)
{
    struct kura_keycache kc;
    ASSERT(kura_keycache_init(&kc, NULL) == 0);
    struct c4gh_header *h = header_with_edits(3), *got = NULL;
    struct kura_segmap small = map_of(1, 2), gm;
    struct kura_key_stamp st = stamp_of(7);
    ASSERT(h);
    char id[16];
    for (int i = 0; i < KURA_KEYCACHE_FILES; i++) {
        snprintf(id, sizeof id, "f%d", i);
        kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", id, &st, h, &small);
    }
    /* f0 used now: f1 is the least recently used when f-new comes */
    EXPECT(kura_keycache_get(&kc, "DS", "f0", &st, &got, &gm));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "f-new", &st, h, &small);
    size_t n;
    uint64_t hits, misses;
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == KURA_KEYCACHE_FILES);
    EXPECT(!kura_keycache_get(&kc, "DS", "f1", &st, &got, &gm));
    EXPECT(kura_keycache_get(&kc, "DS", "f0", &st, &got, &gm));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    EXPECT(kura_keycache_get(&kc, "DS", "f-new", &st, &got, &gm));
    c4gh_header_free(got);
    kura_segmap_clear(&gm);

    /* segment-map bytes: a map over the whole budget is not kept; one that
     * fills it pushes the others out */
    uint64_t budget_segments = KURA_KEYCACHE_MAP_BYTES / C4GH_NONCE_SIZE;
    struct kura_segmap huge = map_of(budget_segments + 1, 3), full = map_of(budget_segments, 4);
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "huge", &st, h, &huge);
    EXPECT(!kura_keycache_get(&kc, "DS", "huge", &st, &got, &gm));
    kura_keycache_put(&kc, kura_keycache_generation(&kc), "DS", "full", &st, h, &full);
    kura_keycache_counts(&kc, &n, &hits, &misses);
    EXPECT(n == 1 && kc.map_bytes == budget_segments * C4GH_NONCE_SIZE);
    EXPECT(kura_keycache_get(&kc, "DS", "full", &st, &got, &gm) && gm.nsegments == budget_segments);
    c4gh_header_free(got);
    kura_segmap_clear(&gm);
    kura_segmap_clear(&huge);
    kura_segmap_clear(&full);
    kura_segmap_clear(&small);
    c4gh_header_free(h);
    kura_keycache_free(&kc);
}

int main(void)
{
    kura_secmem_init();
    RUN(test_hit_needs_same_file_and_stamp);
    RUN(test_put_replaces_and_wipe_drops_all);
    RUN(test_forget_drops_that_file_only);
    RUN(test_put_after_a_wipe_keeps_nothing_read_before_it);
    RUN(test_bounds_drop_least_recently_used);
    return unit_done();
}
