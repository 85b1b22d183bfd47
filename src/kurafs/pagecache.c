/* The kernel's page cache of served files. A file open only by one user is
 * served through it, so that user's programs may map it shared (numpy,
 * R's vroom, Java's mapped buffers: libfuse 3.14 cannot allow shared
 * mappings of direct-I/O files); a file open by several users is served
 * with direct I/O to the newcomers, whose reads then fill no cache. A
 * private mapping fills it too. The cache is plaintext in kernel memory,
 * so it lives no longer than access does: a file's pages are dropped when
 * its last handle closes, and every opened file's pages whenever access
 * may have ended (the kernel also unmaps them): the next read or touch of
 * a mapping reaches the daemon, which decides again and refuses. Clean
 * file pages are dropped, never swapped, under memory pressure.
 *
 * No FUSE worker ever drops pages or waits for a drop. The kernel carries
 * a drop out at once and waits for every page of the file that is locked,
 * and a page stays locked until its READ is answered, which only a worker
 * can do: a worker dropping (or waiting for the lock of the one dropping)
 * while every other worker, or every background slot of the kernel (12),
 * is taken by closes doing the same, waits for ever, and the mount hangs.
 * A last close hands its file to the dropper thread; the drops of ended
 * access are made by the threads that end it (commands, maintenance,
 * cluster threads), never by a worker. */
#include <errno.h>
#include <fuse.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/hash.h"
#include "kurafs.h"

/* Who holds a file open, and how many times. */
struct opener {
    uid_t uid;
    unsigned handles;
};

struct opened_file {
    char *path;
    struct opener *openers;
    size_t nopeners;
    bool drop_queued;           /* handed to the dropper, not yet taken */
};

/* fs->pagecache holds every file opened since mount, by path: open
 * addressing, grown at half full. Never shrinks: its size is bounded by
 * the distinct files ever opened, and a path the kernel has forgotten
 * costs one lookup in libfuse's table, no system call. */

void kurafs_pagecache_init(struct kurafs_pagecache *pc)
{
    memset(pc, 0, sizeof *pc);
    pthread_mutex_init(&pc->lock, NULL);
    pthread_cond_init(&pc->drop_cv, NULL);
    pthread_mutex_init(&pc->fuse_lock, NULL);
}

/* The slot holding path, or the empty slot where it belongs. */
static struct opened_file *slot_for(struct opened_file *slots, size_t cap, const char *path)
{
    size_t i = (size_t)kura_hash(KURA_HASH_INIT, path, strlen(path)) & (cap - 1);
    while (slots[i].path && strcmp(slots[i].path, path) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int grow(struct kurafs_pagecache *set)
{
    size_t cap = set->cap ? set->cap * 2 : 256;
    struct opened_file *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i].path)
            *slot_for(slots, cap, set->slots[i].path) = set->slots[i];
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}

/* The file's entry, added if new; NULL when out of memory. */
static struct opened_file *remember(struct kurafs_pagecache *set, const char *path)
{
    struct opened_file *f = set->cap ? slot_for(set->slots, set->cap, path) : NULL;
    if (f && f->path)
        return f;
    if ((set->count + 1) * 2 > set->cap && grow(set) != 0)
        return NULL;
    f = slot_for(set->slots, set->cap, path);
    if (!(f->path = strdup(path)))
        return NULL;
    set->count++;
    return f;
}

/* Drops one file's pages; the caller holds pc->fuse_lock. */
static void drop_path(struct kurafs_pagecache *pc, const char *path)
{
    int rc = pc->fuse ? fuse_invalidate_path(pc->fuse, path) : 0;
    if (rc != 0 && rc != -ENOENT) /* ENOENT: the kernel holds no such inode, so no pages */
        kura_notice(LOG_ERR, "kurafs: cannot drop the cached pages of %s: %s", path, strerror(-rc));
}

/* The dropper: the files whose last handle closed, one at a time. */
static void *dropper_main(void *arg)
{
    struct kurafs_pagecache *pc = arg;
    pthread_mutex_lock(&pc->lock);
    while (!pc->dropper_stop) {
        if (pc->ndrops == 0) {
            pthread_cond_wait(&pc->drop_cv, &pc->lock);
            continue;
        }
        char *path = pc->drops[--pc->ndrops];
        struct opened_file *f = slot_for(pc->slots, pc->cap, path);
        f->drop_queued = false; /* a close from now on hands it over again */
        pthread_mutex_unlock(&pc->lock);
        pthread_mutex_lock(&pc->fuse_lock);
        drop_path(pc, path);
        pthread_mutex_unlock(&pc->fuse_lock);
        free(path);
        pthread_mutex_lock(&pc->lock);
    }
    pthread_mutex_unlock(&pc->lock);
    return NULL;
}

void kurafs_pagecache_attach(struct kurafs_pagecache *pc, struct fuse *fuse)
{
    pthread_mutex_lock(&pc->fuse_lock);
    pc->fuse = fuse;
    pthread_mutex_unlock(&pc->fuse_lock);
}

int kurafs_pagecache_start_dropper(struct kurafs_pagecache *pc)
{
    pc->dropper_stop = false;
    int e = pthread_create(&pc->dropper, NULL, dropper_main, pc);
    pc->dropper_running = e == 0;
    return -e;
}

void kurafs_pagecache_detach(struct kurafs_pagecache *pc)
{
    pthread_mutex_lock(&pc->lock);
    pc->dropper_stop = true;
    pthread_cond_signal(&pc->drop_cv);
    pthread_mutex_unlock(&pc->lock);
    if (pc->dropper_running)
        pthread_join(pc->dropper, NULL);
    pc->dropper_running = false;
    pthread_mutex_lock(&pc->lock);
    for (size_t i = 0; i < pc->ndrops; i++) {
        struct opened_file *f = slot_for(pc->slots, pc->cap, pc->drops[i]);
        f->drop_queued = false;
        free(pc->drops[i]); /* unmounted first: the kernel holds no pages of the mount */
    }
    free(pc->drops);
    pc->drops = NULL;
    pc->ndrops = pc->drops_cap = 0;
    pthread_mutex_unlock(&pc->lock);
    pthread_mutex_lock(&pc->fuse_lock);
    pc->fuse = NULL;
    pthread_mutex_unlock(&pc->fuse_lock);
}

int kurafs_pagecache_open(struct kurafs_pagecache *set, const char *path, uid_t uid, bool *cached)
{
    int rc = -ENOMEM;
    pthread_mutex_lock(&set->lock);
    struct opened_file *f = remember(set, path);
    if (f) {
        size_t i = 0;
        while (i < f->nopeners && f->openers[i].uid != uid)
            i++;
        if (i == f->nopeners) {
            struct opener *o = realloc(f->openers, (f->nopeners + 1) * sizeof *o);
            if (o) {
                f->openers = o;
                o[f->nopeners++] = (struct opener){.uid = uid, .handles = 0};
            }
        }
        if (i < f->nopeners) {
            f->openers[i].handles++;
            *cached = f->nopeners == 1;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&set->lock);
    return rc;
}

void kurafs_pagecache_close(struct kurafs_pagecache *set, const char *path, uid_t uid)
{
    bool last = false, handed = false;
    pthread_mutex_lock(&set->lock);
    struct opened_file *f = set->cap ? slot_for(set->slots, set->cap, path) : NULL;
    for (size_t i = 0; f && f->path && i < f->nopeners; i++) {
        if (f->openers[i].uid != uid)
            continue;
        if (--f->openers[i].handles == 0)
            f->openers[i] = f->openers[--f->nopeners];
        last = f->nopeners == 0;
        break;
    }
    /* To the dropper, once per file however many closes come meanwhile. */
    if (last && f->drop_queued) {
        handed = true;
    } else if (last && kura_grow((void **)&set->drops, &set->drops_cap, set->ndrops, sizeof *set->drops) &&
               (set->drops[set->ndrops] = strdup(path))) {
        set->ndrops++;
        f->drop_queued = handed = true;
        pthread_cond_signal(&set->drop_cv);
    }
    pthread_mutex_unlock(&set->lock);
    if (last && !handed)
        kura_notice(LOG_ERR, "kurafs: out of memory: the cached pages of %s are dropped at the next end of "
                             "access, not now", path);
}

void kurafs_pagecache_drop(struct kurafs_pagecache *set)
{
    /* A copy, so opens are not held up while the kernel drops pages (it
     * may wait for a page fault in flight, served by another thread). */
    pthread_mutex_lock(&set->lock);
    size_t n = 0;
    char **paths = set->count ? malloc(set->count * sizeof *paths) : NULL;
    for (size_t i = 0; paths && i < set->cap; i++)
        if (set->slots[i].path && !(paths[n++] = strdup(set->slots[i].path)))
            n--;
    bool complete = n == set->count;
    pthread_mutex_unlock(&set->lock);
    if (!complete)
        kura_notice(LOG_ERR, "kurafs: out of memory: mapped pages of some files not dropped");
    pthread_mutex_lock(&set->fuse_lock);
    for (size_t i = 0; i < n; i++) {
        drop_path(set, paths[i]);
        free(paths[i]);
    }
    pthread_mutex_unlock(&set->fuse_lock);
    free(paths);
}

bool kurafs_pagecache_opened_by(struct kurafs_pagecache *set, const char *path, uid_t uid)
{
    bool found = false;
    pthread_mutex_lock(&set->lock);
    const struct opened_file *f = set->cap ? slot_for(set->slots, set->cap, path) : NULL;
    for (size_t i = 0; f && f->path && i < f->nopeners && !found; i++)
        found = f->openers[i].uid == uid;
    pthread_mutex_unlock(&set->lock);
    return found;
}

void kurafs_pagecache_free(struct kurafs_pagecache *set)
{
    pthread_mutex_lock(&set->lock);
    for (size_t i = 0; i < set->cap; i++) {
        free(set->slots[i].path);
        free(set->slots[i].openers);
    }
    free(set->slots);
    set->slots = NULL;
    set->cap = set->count = 0;
    pthread_mutex_unlock(&set->lock);
}

