/* The opened keys of recently opened files: each file's header (its data
 * keys and edit list) and verified segment map, as kura_keystore_file_load
 * and c4gh_header_open gave them, so that the next open of the same file
 * skips the two key exchanges, three file reads and the map's MAC
 * (bench/README.md, "Opened keys kept").
 *
 * An entry is used only while the stamp of the files it came from
 * (kura_keystore_file_stamp) is unchanged, so it never serves what a load
 * now would refuse: a withdrawal or destruction erases the files, a
 * rotation rewraps the dataset key into a new file. The daemon also wipes
 * every entry at each reload of the state and each change of the server
 * keys in memory (docs/design.md): no key of a destroyed dataset outlives
 * the change in memory. Keys are in secure memory (kura_secure_alloc),
 * like every other key the daemon holds.
 *
 * Bounded by KURA_KEYCACHE_FILES entries and KURA_KEYCACHE_MAP_BYTES of
 * segment maps; the least recently used entry goes first. Thread-safe. */
#ifndef KURA_KEYCACHE_H
#define KURA_KEYCACHE_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/c4gh.h"
#include "kura/error.h"
#include "kura/keystore.h"
#include "kura/model.h"

#define KURA_KEYCACHE_FILES 256
#define KURA_KEYCACHE_MAP_BYTES (16u << 20)

struct kura_keycache_entry {
    char ds_id[KURA_ID_MAX + 1];
    char file_id[KURA_FILE_ID_LEN + 1];
    struct kura_key_stamp stamp;
    struct c4gh_header *header;
    struct kura_segmap map;
    uint64_t used;                 /* the cache's clock at the last hit */
};

struct kura_keycache {
    pthread_mutex_t lock;
    struct kura_keycache_entry *entries; /* KURA_KEYCACHE_FILES of them */
    size_t n;
    size_t map_bytes;
    uint64_t clock;
    uint64_t generation;           /* wipes so far */
    uint64_t hits, misses;
};

int kura_keycache_init(struct kura_keycache *kc, struct kura_err *err);
void kura_keycache_free(struct kura_keycache *kc); /* wipes */

/* A copy of the entry for (ds_id, file_id) made from files with this
 * stamp: *header (c4gh_header_free) and *map (kura_segmap_clear). Returns
 * false when there is none (an entry with another stamp is dropped), or
 * no memory for the copy. */
bool kura_keycache_get(struct kura_keycache *kc, const char *ds_id, const char *file_id,
                       const struct kura_key_stamp *stamp, struct c4gh_header **header, struct kura_segmap *map);

/* The number of wipes so far. Taken before the decision an open rests on
 * (before its snapshot of the state) and given to kura_keycache_put: keys
 * allowed or read before a wipe are not kept after it. An open decided on
 * the state before a withdrawal or destruction would otherwise keep the
 * keys that the change's erasure, which follows its reload and wipe,
 * leaves nowhere else. */
uint64_t kura_keycache_generation(struct kura_keycache *kc);

/* Keeps copies of header and map for (ds_id, file_id), made from files
 * with this stamp, unless the cache was wiped since generation. A map
 * larger than the whole budget is not kept. Best effort: without memory
 * nothing is kept. */
void kura_keycache_put(struct kura_keycache *kc, uint64_t generation, const char *ds_id, const char *file_id,
                       const struct kura_key_stamp *stamp, const struct c4gh_header *header,
                       const struct kura_segmap *map);

/* Drops (and wipes) the entry for (ds_id, file_id), if any: its files
 * cannot be stamped (erased, or moved away, with no change to wipe it). */
void kura_keycache_forget(struct kura_keycache *kc, const char *ds_id, const char *file_id);

/* Drops (and wipes) every entry. */
void kura_keycache_wipe(struct kura_keycache *kc);

/* Entries held now, and the hits and misses since init. */
void kura_keycache_counts(struct kura_keycache *kc, size_t *entries, uint64_t *hits, uint64_t *misses);

#endif
