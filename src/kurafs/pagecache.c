/* The kernel's page cache of served files. read() never fills it (direct
 * I/O), but a private mapping of a direct-I/O file does: its pages stay in
 * kernel memory and stay readable through the mapping after access ends.
 * So every file opened since mount is remembered, and whenever access may
 * have ended the daemon drops their cached pages (the kernel also unmaps
 * them): the next touch faults, reaches the daemon and is refused. */
#include <errno.h>
#include <fuse.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kura/hash.h"
#include "kurafs.h"

/* A set of paths: open addressing, grown at half full. Never shrinks: its
 * size is bounded by the distinct files ever opened, and a path the kernel
 * has forgotten costs one lookup in libfuse's table, no system call. */
struct opened_set {
    pthread_mutex_t lock;
    char **slots;
    size_t cap, count;
};

static struct opened_set g_opened = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The mounted file system; held by a drop while it talks to the kernel, so
 * unmounting waits for it. */
static pthread_mutex_t g_fuse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fuse *g_fuse;

void kurafs_pagecache_attach(struct fuse *fuse)
{
    pthread_mutex_lock(&g_fuse_lock);
    g_fuse = fuse;
    pthread_mutex_unlock(&g_fuse_lock);
}

void kurafs_pagecache_detach(void)
{
    pthread_mutex_lock(&g_fuse_lock);
    g_fuse = NULL;
    pthread_mutex_unlock(&g_fuse_lock);
}

/* The slot holding path, or the empty slot where it belongs. */
static char **slot_for(char **slots, size_t cap, const char *path)
{
    size_t i = (size_t)kura_hash(KURA_HASH_INIT, path, strlen(path)) & (cap - 1);
    while (slots[i] && strcmp(slots[i], path) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct opened_set *set)
{
    size_t cap = set->cap ? set->cap * 2 : 256;
    char **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i])
            *slot_for(slots, cap, set->slots[i]) = set->slots[i];
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}

int kurafs_pagecache_note_open(const char *path)
{
    struct opened_set *set = &g_opened;
    int rc = 0;
    pthread_mutex_lock(&set->lock);
    char **slot = set->cap ? slot_for(set->slots, set->cap, path) : NULL;
    if (!slot || !*slot) { /* new: make room first (a known path needs none) */
        if ((set->count + 1) * 2 > set->cap && grow(set) != 0)
            rc = -ENOMEM;
        else if ((*(slot = slot_for(set->slots, set->cap, path)) = strdup(path)))
            set->count++;
        else
            rc = -ENOMEM;
    }
    pthread_mutex_unlock(&set->lock);
    return rc;
}

void kurafs_pagecache_drop(void)
{
    struct opened_set *set = &g_opened;
    /* A copy, so opens are not held up while the kernel drops pages (it
     * may wait for a page fault in flight, served by another thread). */
    pthread_mutex_lock(&set->lock);
    size_t n = 0;
    char **paths = set->count ? malloc(set->count * sizeof *paths) : NULL;
    for (size_t i = 0; paths && i < set->cap; i++)
        if (set->slots[i] && !(paths[n++] = strdup(set->slots[i])))
            n--;
    bool complete = n == set->count;
    pthread_mutex_unlock(&set->lock);
    if (!complete)
        syslog(LOG_AUTHPRIV | LOG_ERR, "kurafs: out of memory: mapped pages of some files not dropped");
    pthread_mutex_lock(&g_fuse_lock);
    for (size_t i = 0; i < n; i++) {
        int rc = g_fuse ? fuse_invalidate_path(g_fuse, paths[i]) : 0;
        if (rc != 0 && rc != -ENOENT) /* ENOENT: the kernel holds no such inode, so no pages */
            syslog(LOG_AUTHPRIV | LOG_ERR, "kurafs: cannot drop the cached pages of %s: %s", paths[i],
                   strerror(-rc));
        free(paths[i]);
    }
    pthread_mutex_unlock(&g_fuse_lock);
    free(paths);
}

void kurafs_pagecache_free(void)
{
    struct opened_set *set = &g_opened;
    pthread_mutex_lock(&set->lock);
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i]);
    free(set->slots);
    set->slots = NULL;
    set->cap = set->count = 0;
    pthread_mutex_unlock(&set->lock);
}
