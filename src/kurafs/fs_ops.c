/* The read side of the mount: lookup, listing, open, read, release, access
 * and the ACL xattr. The state is the request's (kurafs_of_request); every
 * decision is decide.h's and every record audit.h's: this file only takes
 * the request apart, calls down and moves bytes. */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cache_rules.h"
#include "decide.h"
#include "handle.h"
#include "kura/endian.h"

#define ACL_XATTR "system.posix_acl_access"

/* Inode numbers are a keyed hash of the path (SipHash, a key drawn at
 * mount), not catalog positions: positions would show a listed user gaps
 * that count the datasets and files hidden from them, and shift when one is
 * added. Stable while mounted; 1 is the root's. */
static ino_t node_ino(const struct kurafs *fs, const struct kura_node *n)
{
    if (n->type == KURA_NODE_ROOT)
        return 1;
    _Static_assert(crypto_shorthash_BYTES == 8, "a short hash is one uint64_t");
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, (const unsigned char *)n->path, strlen(n->path), fs->ino_key);
    uint64_t v = kura_be64(h);
    v &= INT64_MAX; /* positive for programs that take it as signed */
    return (ino_t)(v < 2 ? v + 2 : v);
}

static void fill_stat(const struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                      struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_uid = 0;
    st->st_gid = 0;
    st->st_ino = node_ino(fs, n);
    /* Owner, group and others get nothing: who may read is the ACL's named
     * users (getfacl), enforced by the daemon, not by mode bits. The group
     * bits show the ACL mask, as on any filesystem with ACLs. */
    if (n->type == KURA_NODE_FILE) {
        const struct kura_file *f = &cat->datasets[n->dataset].files[n->file];
        st->st_mode = S_IFREG | 0040;
        st->st_nlink = 1;
        st->st_size = (off_t)f->size;
        st->st_blocks = (blkcnt_t)((f->size + 511) / 512);
    } else {
        st->st_mode = S_IFDIR | (n->type == KURA_NODE_ROOT ? 0555 : 0050);
        st->st_nlink = 2;
    }
    st->st_blksize = C4GH_SEGMENT_SIZE;
    st->st_mtime = st->st_ctime = st->st_atime =
        n->type == KURA_NODE_ROOT ? fs->mounted_at : (time_t)cat->datasets[n->dataset].ds.from;
}

/* A path that does not exist is refused like one hidden from the caller,
 * record and all, unless it lies in a dataset the caller may see: to an
 * outsider a dataset id that does not exist must cost the same as one that
 * does, or the time of a lookup tells them which ids exist. The reason is
 * the policy's for no dataset (not listed; lockdown while locked down). */
static void missing_lookup(struct kurafs *fs, const struct kura_catalog *cat, const char *path, struct caller *c)
{
    char top[KURA_ID_MAX + 2];
    size_t len = strcspn(path + 1, "/") + 1; /* "/ID" of "/ID/rest" */
    if (len < sizeof top) {
        memcpy(top, path, len);
        top[len] = '\0';
        const struct kura_node *d = kura_catalog_lookup(cat, top);
        if (d && d->type == KURA_NODE_DIR &&
            decide_visible(fs, cat, d, c, kurafs_now()).reason == KURA_ALLOW)
            return; /* a listed user's own dataset: its existence is no secret to them */
    }
    audit_lookup_refused(fs, c, path, NULL, kura_reason_name(kurafs_decide(fs, NULL, NULL, c, true, kurafs_now()).reason));
}

/* Looks path up for the calling user; refusals look like absence. */
static int lookup_visible(struct kurafs *fs, struct snapshot *snap, const char *path, struct caller *c,
                          const struct kura_node **out)
{
    const struct kura_node *n = kura_catalog_lookup(snap->cat, path);
    if (!n) {
        missing_lookup(fs, snap->cat, path, c);
        return -ENOENT;
    }
    struct kura_decision d = decide_visible(fs, snap->cat, n, c, kurafs_now());
    if (d.reason != KURA_ALLOW) {
        const struct kura_catalog_dataset *ds;
        const struct kura_file *f;
        decide_target(snap->cat, n, &ds, &f);
        audit_lookup_refused(fs, c, n->path, ds ? ds->ds.id : NULL, kura_reason_name(d.reason));
        return -ENOENT;
    }
    *out = n;
    return 0;
}

/* What every path operation starts with: who asks, the current catalog,
 * and the node if the caller may see it. End with request_end. */
struct request {
    struct kurafs *fs;
    struct caller caller;
    uint_fast64_t epoch;        /* the policy epoch, read before the snapshot */
    struct snapshot *snap;
    const struct kura_node *node;
};

static int request_begin(struct request *r, const char *path)
{
    r->fs = kurafs_of_request();
    caller_ids(&r->caller);
    /* Epoch first: a reload between the two leaves an open handle with an
     * older epoch than its snapshot, so its first read decides again. */
    r->epoch = atomic_load(&r->fs->epoch);
    r->snap = snapshot_acquire(r->fs);
    r->node = NULL;
    return lookup_visible(r->fs, r->snap, path, &r->caller, &r->node);
}

static void request_end(struct request *r)
{
    snapshot_release(r->snap);
    caller_clear(&r->caller);
}

static int kfs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    /* Through an open file (fstat, and the kernel before reading pages it
     * dropped): the handle's access first, so a revoked handle is refused
     * and logged as at a read, not merely hidden. */
    if (fi && fi->fh) {
        int rc = handle_check(kurafs_of_request(), (struct handle *)(uintptr_t)fi->fh);
        if (rc != 0)
            return rc;
    }
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0)
        fill_stat(r.fs, r.snap->cat, r.node, st);
    request_end(&r);
    return rc;
}

static int kfs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t offset,
                       struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
    (void)offset;
    (void)fi;
    (void)flags;
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0 && r.node->type == KURA_NODE_FILE)
        rc = -ENOTDIR;
    if (rc == 0) {
        const struct kura_catalog *cat = r.snap->cat;
        int64_t now = kurafs_now();
        fill(buf, ".", NULL, 0, 0);
        fill(buf, "..", NULL, 0, 0);
        for (uint32_t i = 0; i < r.node->nchildren; i++) {
            const struct kura_node *child = &cat->nodes[r.node->children[i]];
            /* The root lists only the datasets the caller may open; a
             * dataset lists no withdrawn file. */
            if (decide_visible(r.fs, cat, child, &r.caller, now).reason != KURA_ALLOW)
                continue;
            struct stat st;
            fill_stat(r.fs, cat, child, &st);
            if (fill(buf, child->name, &st, 0, 0))
                break;
        }
    }
    request_end(&r);
    return rc;
}

static int kfs_open(const char *path, struct fuse_file_info *fi)
{
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_APPEND | O_CREAT))) {
        struct caller c;
        caller_from_context(&c);
        return kurafs_refuse_write(kurafs_of_request(), &c, path, "open for writing");
    }
    /* Before the snapshot the decision reads (handle_open): an open decided
     * on the state a reload then replaced keeps no keys after that reload's
     * wipe, which the erasure of a withdrawn file's keys follows. */
    uint64_t kept_generation = kura_keycache_generation(&kurafs_of_request()->keycache);
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0 && r.node->type != KURA_NODE_FILE)
        rc = -EISDIR;
    if (rc == 0) {
        caller_collect_process(r.fs, &r.caller);
        struct handle *h = NULL;
        bool cached = false;
        /* Before the decision, so a file served is always remembered; at
         * most the visible files are. */
        rc = kurafs_pagecache_open(&r.fs->pagecache, path, r.caller.uid, &cached);
        if (rc == 0) {
            rc = handle_open(r.fs, r.snap->cat, r.node, &r.caller, r.epoch, kept_generation, &h);
            if (rc != 0)
                kurafs_pagecache_close(&r.fs->pagecache, path, r.caller.uid);
        }
        if (rc == 0) {
            fi->fh = (uint64_t)(uintptr_t)h;
            /* Direct I/O unless the file is this user's alone (pagecache.c);
             * never pages kept from an earlier open. */
            fi->direct_io = !cached;
            fi->keep_cache = 0;
        }
    }
    request_end(&r);
    return rc;
}

static int kfs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    if (off < 0)
        return -EINVAL;
    struct caller reader;
    caller_ids(&reader);
    return (int)handle_read(kurafs_of_request(), h, &reader, buf, size, (uint64_t)off);
}

static int kfs_release(const char *path, struct fuse_file_info *fi)
{
    struct kurafs *fs = kurafs_of_request();
    struct handle *h = (struct handle *)(uintptr_t)fi->fh;
    kurafs_pagecache_close(&fs->pagecache, path ? path : h->path, h->who.uid);
    handle_close(fs, h);
    return 0;
}

/* access() agrees with open(): the same decision, guard included. */
static int kfs_access(const char *path, int mask)
{
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0 && (mask & W_OK))
        rc = -EROFS;
    else if (rc == 0 && r.node->type == KURA_NODE_FILE && (mask & X_OK))
        rc = -EACCES;
    else if (rc == 0 && r.node->type == KURA_NODE_FILE && (mask & R_OK)) {
        caller_collect_process(r.fs, &r.caller);
        if (decide_read(r.fs, r.snap->cat, r.node, &r.caller, kurafs_now(), NULL).reason != KURA_ALLOW)
            rc = -EACCES;
    }
    request_end(&r);
    return rc;
}

static int kfs_getxattr(const char *path, const char *name, char *value, size_t size)
{
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0) {
        if (strcmp(name, ACL_XATTR) != 0 || r.node->type == KURA_NODE_ROOT)
            rc = -ENODATA;
        else
            rc = kurafs_dataset_acl(r.fs, &r.snap->cat->datasets[r.node->dataset].ds, kurafs_now(), value, size);
    }
    request_end(&r);
    return rc;
}

static int kfs_listxattr(const char *path, char *list, size_t size)
{
    struct request r;
    int rc = request_begin(&r, path);
    if (rc == 0) {
        if (r.node->type == KURA_NODE_ROOT)
            rc = 0;
        else if (size == 0)
            rc = (int)sizeof ACL_XATTR;
        else if (size < sizeof ACL_XATTR)
            rc = -ERANGE;
        else {
            memcpy(list, ACL_XATTR, sizeof ACL_XATTR);
            rc = (int)sizeof ACL_XATTR;
        }
    }
    request_end(&r);
    return rc;
}

static int kfs_statfs(const char *path, struct statvfs *sv)
{
    (void)path;
    memset(sv, 0, sizeof *sv);
    sv->f_bsize = C4GH_SEGMENT_SIZE;
    sv->f_frsize = C4GH_SEGMENT_SIZE;
    sv->f_namemax = 255;
    sv->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
    return 0;
}

/* fuse_new's user data: the daemon, every request's private_data. */
static void *kfs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    struct kurafs *fs = kurafs_of_request();
    fs->mounted_at = time(NULL);
    randombytes_buf(fs->ino_key, sizeof fs->ino_key);
    /* Readahead fills only the page cache of a sole reader's file: what
     * pagecache.c drops at close and revocation. */
    kurafs_cache_rules(conn, cfg);
    return fs;
}

void kurafs_add_read_ops(struct fuse_operations *ops)
{
    ops->init = kfs_init;
    ops->getattr = kfs_getattr;
    ops->readdir = kfs_readdir;
    ops->open = kfs_open;
    ops->read = kfs_read;
    ops->release = kfs_release;
    ops->access = kfs_access;
    ops->getxattr = kfs_getxattr;
    ops->listxattr = kfs_listxattr;
    ops->statfs = kfs_statfs;
}
