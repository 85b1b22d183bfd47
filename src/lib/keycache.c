#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/keycache.h"

int kura_keycache_init(struct kura_keycache *kc, struct kura_err *err)
{
    memset(kc, 0, sizeof *kc);
    kc->entries = calloc(KURA_KEYCACHE_FILES, sizeof *kc->entries);
    if (!kc->entries) {
        kura_err_set(err, ENOMEM, "out of memory for the key cache");
        return -1;
    }
    pthread_mutex_init(&kc->lock, NULL);
    return 0;
}

/* Under kc->lock: entry i goes (its keys wiped by c4gh_header_free), the
 * last one takes its place. */
static void drop(struct kura_keycache *kc, size_t i)
{
    struct kura_keycache_entry *e = &kc->entries[i];
    c4gh_header_free(e->header);
    kc->map_bytes -= (size_t)e->map.nsegments * C4GH_NONCE_SIZE;
    kura_segmap_clear(&e->map);
    if (i != kc->n - 1)
        *e = kc->entries[kc->n - 1];
    memset(&kc->entries[--kc->n], 0, sizeof *kc->entries);
}

static struct kura_keycache_entry *find(struct kura_keycache *kc, const char *ds_id, const char *file_id)
{
    for (size_t i = 0; i < kc->n; i++)
        if (strcmp(kc->entries[i].file_id, file_id) == 0 && strcmp(kc->entries[i].ds_id, ds_id) == 0)
            return &kc->entries[i];
    return NULL;
}

static bool map_copy(struct kura_segmap *to, const struct kura_segmap *from)
{
    size_t n = (size_t)from->nsegments * C4GH_NONCE_SIZE;
    *to = *from;
    to->nonces = malloc(n ? n : 1);
    if (!to->nonces)
        return false;
    memcpy(to->nonces, from->nonces, n);
    return true;
}

bool kura_keycache_get(struct kura_keycache *kc, const char *ds_id, const char *file_id,
                       const struct kura_key_stamp *stamp, struct c4gh_header **header, struct kura_segmap *map)
{
    *header = NULL;
    memset(map, 0, sizeof *map);
    pthread_mutex_lock(&kc->lock);
    struct kura_keycache_entry *e = find(kc, ds_id, file_id);
    bool hit = e && kura_key_stamp_equal(&e->stamp, stamp);
    if (e && !hit)
        drop(kc, (size_t)(e - kc->entries));
    if (hit) {
        e->used = ++kc->clock;
        *header = c4gh_header_dup(e->header, NULL);
        if (!*header || !map_copy(map, &e->map)) {
            c4gh_header_free(*header);
            *header = NULL;
            memset(map, 0, sizeof *map);
            hit = false;
        }
    }
    if (hit)
        kc->hits++;
    else
        kc->misses++;
    pthread_mutex_unlock(&kc->lock);
    return hit;
}

uint64_t kura_keycache_generation(struct kura_keycache *kc)
{
    pthread_mutex_lock(&kc->lock);
    uint64_t g = kc->generation;
    pthread_mutex_unlock(&kc->lock);
    return g;
}

void kura_keycache_put(struct kura_keycache *kc, uint64_t generation, const char *ds_id, const char *file_id,
                       const struct kura_key_stamp *stamp, const struct c4gh_header *header,
                       const struct kura_segmap *map)
{
    size_t bytes = (size_t)map->nsegments * C4GH_NONCE_SIZE;
    if (bytes > KURA_KEYCACHE_MAP_BYTES || strlen(ds_id) > KURA_ID_MAX || strlen(file_id) > KURA_FILE_ID_LEN)
        return;
    struct kura_keycache_entry fresh = {.stamp = *stamp};
    snprintf(fresh.ds_id, sizeof fresh.ds_id, "%s", ds_id);
    snprintf(fresh.file_id, sizeof fresh.file_id, "%s", file_id);
    if (!(fresh.header = c4gh_header_dup(header, NULL)))
        return;
    if (!map_copy(&fresh.map, map)) {
        c4gh_header_free(fresh.header);
        return;
    }
    pthread_mutex_lock(&kc->lock);
    if (generation != kc->generation) {
        pthread_mutex_unlock(&kc->lock);
        c4gh_header_free(fresh.header);
        kura_segmap_clear(&fresh.map);
        return;
    }
    struct kura_keycache_entry *old = find(kc, ds_id, file_id);
    if (old)
        drop(kc, (size_t)(old - kc->entries));
    while (kc->n > 0 && (kc->n == KURA_KEYCACHE_FILES || kc->map_bytes + bytes > KURA_KEYCACHE_MAP_BYTES)) {
        size_t oldest = 0;
        for (size_t i = 1; i < kc->n; i++)
            if (kc->entries[i].used < kc->entries[oldest].used)
                oldest = i;
        drop(kc, oldest);
    }
    fresh.used = ++kc->clock;
    kc->entries[kc->n++] = fresh;
    kc->map_bytes += bytes;
    pthread_mutex_unlock(&kc->lock);
}

void kura_keycache_forget(struct kura_keycache *kc, const char *ds_id, const char *file_id)
{
    pthread_mutex_lock(&kc->lock);
    struct kura_keycache_entry *e = find(kc, ds_id, file_id);
    if (e)
        drop(kc, (size_t)(e - kc->entries));
    pthread_mutex_unlock(&kc->lock);
}

void kura_keycache_wipe(struct kura_keycache *kc)
{
    pthread_mutex_lock(&kc->lock);
    while (kc->n > 0)
        drop(kc, kc->n - 1);
    kc->generation++;
    pthread_mutex_unlock(&kc->lock);
}

void kura_keycache_counts(struct kura_keycache *kc, size_t *entries, uint64_t *hits, uint64_t *misses)
{
    pthread_mutex_lock(&kc->lock);
    *entries = kc->n;
    *hits = kc->hits;
    *misses = kc->misses;
    pthread_mutex_unlock(&kc->lock);
}

void kura_keycache_free(struct kura_keycache *kc)
{
    if (!kc->entries)
        return;
    kura_keycache_wipe(kc);
    free(kc->entries);
    kc->entries = NULL;
    pthread_mutex_destroy(&kc->lock);
}
