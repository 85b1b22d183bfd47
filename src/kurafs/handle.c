/* Open, read and close of one dataset file. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "decide.h"
#include "handle.h"
#include "kura/grow.h"
#include "kura/layout.h"
#include "kura/text.h"

/* The per-user counts of fs->handles (struct kurafs_handles). */
struct user_count {
    uid_t uid;
    unsigned open;
};

static struct user_count *user_count(struct kurafs_handles *t, uid_t uid)
{
    for (size_t i = 0; i < t->nusers; i++)
        if (t->users[i].uid == uid)
            return &t->users[i];
    return NULL;
}

/* Counts one more handle for uid unless it holds max already. Returns 0,
 * -EMFILE (at the cap, *held says how many) or -ENOMEM. */
static int reserve_slot(struct kurafs_handles *t, uid_t uid, unsigned max, unsigned *held)
{
    int rc = 0;
    pthread_mutex_lock(&t->lock);
    struct user_count *u = user_count(t, uid);
    if (!u) {
        if (!kura_grow((void **)&t->users, &t->cap, t->nusers, sizeof *t->users)) {
            rc = -ENOMEM;
            goto out;
        }
        u = &t->users[t->nusers++];
        *u = (struct user_count){.uid = uid};
    }
    *held = u->open;
    if (u->open >= max)
        rc = -EMFILE;
    else
        u->open++;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

bool handle_held(struct kurafs *fs, uid_t uid)
{
    struct kurafs_handles *t = &fs->handles;
    pthread_mutex_lock(&t->lock);
    bool held = uid == (uid_t)-1 ? t->nusers > 0 : user_count(t, uid) != NULL;
    pthread_mutex_unlock(&t->lock);
    return held;
}

/* Caller holds t->lock. */
static void release_slot_locked(struct kurafs_handles *t, uid_t uid)
{
    struct user_count *u = user_count(t, uid);
    if (u && --u->open == 0)
        *u = t->users[--t->nusers];
}

static void release_slot(struct kurafs_handles *t, uid_t uid)
{
    pthread_mutex_lock(&t->lock);
    release_slot_locked(t, uid);
    pthread_mutex_unlock(&t->lock);
}

static int unwrap_dataset_key(struct kurafs *fs, const char *ds_id, struct kura_dskey **dk, struct kura_err *err)
{
    pthread_rwlock_rdlock(&fs->ks_lock);
    int rc = fs->ks ? kura_keystore_dataset_key(fs->ks, ds_id, dk, err) : -1;
    if (!fs->ks)
        kura_err_set(err, EACCES, "the server key is not in memory (lockdown)");
    pthread_rwlock_unlock(&fs->ks_lock);
    return rc;
}

/* The file's opened header and segment map as kept from an earlier open of
 * it, if the files they came from are unchanged (stamp) and the server keys
 * are in memory: without them no key is used, kept or not. */
static bool kept_keys(struct kurafs *fs, const char *ds_id, const char *file_id, const struct kura_key_stamp *stamp,
                      struct c4gh_header **header, struct kura_segmap *map)
{
    pthread_rwlock_rdlock(&fs->ks_lock);
    bool hit = fs->ks && kura_keycache_get(&fs->keycache, ds_id, file_id, stamp, header, map);
    pthread_rwlock_unlock(&fs->ks_lock);
    return hit;
}

/* The file's header opened with the dataset key, and its verified segment
 * map, from the keystore. */
static int open_keys(struct kurafs *fs, const char *ds_id, const char *file_id, struct c4gh_header **header,
                     struct kura_segmap *map, struct kura_err *err)
{
    struct kura_dskey *dk = NULL;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    int unwrapped = unwrap_dataset_key(fs, ds_id, &dk, err);
    /* A dataset key wrapped to a server key made since the keys were
     * opened (a rotation the daemon was not told of): reopen them once. */
    if (unwrapped != 0 && err->code != ENOENT && err->code != EACCES) {
        kurafs_keys_refresh(fs);
        unwrapped = unwrap_dataset_key(fs, ds_id, &dk, err);
    }
    int rc = unwrapped != 0 || kura_keystore_file_load(dk, file_id, &hdr, &hdr_len, map, err) != 0 ||
                     c4gh_header_open(hdr, hdr_len, dk->sk, dk->pk, header, err) != 0
                 ? -1
                 : 0;
    free(hdr);
    kura_dskey_free(dk);
    return rc;
}

/* Keys and ciphertext for an allowed open. */
static int load_reader(struct kurafs *fs, const char *ds_id, const char *file_id, uint64_t expected_size,
                       uint64_t generation, struct handle *h, struct kura_err *err)
{
    struct kura_segmap map = {0};
    struct c4gh_header *header = NULL;
    int rc = -1;

    /* The generation was taken before the decision (kfs_open), the stamp
     * is taken before the files are read: an entry kept below may hold
     * newer content than its stamp, never older, and none allowed or read
     * before a wipe is kept after it. A file gone takes the full path,
     * which says why. */
    struct kura_key_stamp stamp;
    bool stamped = kura_keystore_file_stamp(fs->cfg->keys_dir, ds_id, file_id, &stamp, NULL) == 0;
    /* A key file gone with no change to wipe what was kept of it (removed
     * by hand, or erased while a reload failed): that goes now. */
    if (!stamped)
        kura_keycache_forget(&fs->keycache, ds_id, file_id);
    bool kept = stamped && kept_keys(fs, ds_id, file_id, &stamp, &header, &map);
    if (!kept && open_keys(fs, ds_id, file_id, &header, &map, err) != 0)
        goto out;
    char store[4096];
    if (kura_layout_payload(store, sizeof store, fs->cfg->state_dir, ds_id, file_id) != 0) {
        kura_err_set(err, ENAMETOOLONG, "store path too long");
        goto out;
    }
    h->payload_fd = open(store, O_RDONLY | O_CLOEXEC | O_NOATIME);
    if (h->payload_fd < 0) {
        kura_err_set(err, errno == ENOENT ? EIO : errno, "payload %s: %s", store, strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(h->payload_fd, &st) != 0) {
        kura_err_set(err, EIO, "payload %s: %s", store, strerror(errno));
        goto out;
    }
    /* The reader takes the map (no copy): it stays valid below while the
     * handle, not yet published, holds the reader. */
    const struct kura_segmap taken = map;
    map.nonces = NULL;
    if (c4gh_reader_open(&h->reader, h->payload_fd, 0, (uint64_t)st.st_size, header, err) != 0) {
        free(taken.nonces);
        goto out;
    }
    if (c4gh_reader_take_segment_map(h->reader, taken.nonces, taken.nsegments, err) != 0)
        goto out;
    /* Crypt4GH has no MAC over the whole header: a header whose edit-list
     * packet was removed still opens, and would serve more than the
     * archive meant. The size recorded at import catches that. */
    if (c4gh_reader_size(h->reader) != expected_size) {
        kura_err_set(err, EIO, "served size %llu differs from the %llu bytes recorded at import (header tampered?)",
                     (unsigned long long)c4gh_reader_size(h->reader), (unsigned long long)expected_size);
        goto out;
    }
    if (stamped && !kept)
        kura_keycache_put(&fs->keycache, generation, ds_id, file_id, &stamp, header, &taken);
    rc = 0;
out:
    c4gh_header_free(header);
    kura_segmap_clear(&map);
    return rc;
}

/* Keys, decrypted segment, buffers and descriptor: all a handle holds
 * beyond its names. Under h->lock, so no read is using them. */
static void release_reader(struct handle *h)
{
    pthread_rwlock_wrlock(&h->lock);
    c4gh_reader_close(h->reader); /* wipes its keys and decrypted segment */
    h->reader = NULL;
    if (h->payload_fd >= 0)
        close(h->payload_fd);
    h->payload_fd = -1;
    pthread_rwlock_unlock(&h->lock);
}

/* Writer first: a revocation waits only for the reads already in flight,
 * not for a stream of new ones. */
static void handle_lock_init(struct handle *h)
{
    pthread_mutex_init(&h->readers_lock, NULL);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&h->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

static void handle_free(struct handle *h)
{
    if (!h)
        return;
    release_reader(h);
    pthread_rwlock_destroy(&h->lock);
    pthread_mutex_destroy(&h->readers_lock);
    free(h->path);
    free(h->samples);
    free(h);
}

/* Whether the caller's program runs through an explicitly named dynamic
 * loader (ld.so PROGRAM, a renamed copy of ld.so, a static-pie program):
 * its executable is the same whatever program it runs, so it tells nothing
 * of the next exec. */
static bool reader_is_loader(const struct caller *c)
{
    const struct kura_proc *p = c->proc && c->proc->n > 0 ? &c->proc->chain[0] : NULL;
    return p && (p->have & KURA_PROC_HAVE_EXE) &&
           ((p->flags & KURA_PROC_EXE_LOADER) || kura_procinfo_loader_name(kura_procinfo_basename(p->exe)));
}

int handle_open(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                const struct caller *c, uint_fast64_t epoch, uint64_t kept_generation, struct handle **out)
{
    const struct kura_catalog_dataset *d = &cat->datasets[n->dataset];
    const struct kura_file *f = &d->files[n->file];
    const char *rel = n->path + 1 + strlen(d->ds.id) + 1;
    int64_t now = kurafs_now();
    struct kura_guard_verdict v;
    struct kura_decision dec = decide_read(fs, cat, n, c, now, &v);
    char *samples = kura_comma_join((const char *const *)f->samples, f->nsamples);
    struct audit_file file = {.dataset = d->ds.id, .path = rel, .samples = samples};

    if (dec.reason != KURA_ALLOW) {
        audit_open(fs, c, &file, KURA_AUDIT_DENY, kura_reason_name(dec.reason),
                   dec.reason == KURA_DENY_GUARD ? v.detail : NULL);
        free(samples);
        return -EACCES;
    }
    if (atomic_load(&fs->stopping)) {
        audit_open(fs, c, &file, KURA_AUDIT_DENY, "server stopping", NULL);
        free(samples);
        return -EACCES;
    }
    /* After the decision: an outsider is told "not listed", not this. */
    unsigned held = 0;
    int reserved = reserve_slot(&fs->handles, c->uid, fs->cfg->max_open_per_user, &held);
    if (reserved == -EMFILE) {
        char detail[96];
        snprintf(detail, sizeof detail, "%u files open; [server] max_open_per_user is %u", held,
                 fs->cfg->max_open_per_user);
        audit_open(fs, c, &file, KURA_AUDIT_DENY, "too many open files", detail);
    }
    if (reserved != 0) {
        free(samples);
        return reserved;
    }

    struct handle *h = calloc(1, sizeof *h);
    if (!h || !samples || !(h->path = strdup(n->path))) {
        release_slot(&fs->handles, c->uid);
        free(samples);
        if (h) {
            h->payload_fd = -1;
            handle_lock_init(h);
        }
        handle_free(h);
        return -ENOMEM;
    }
    h->payload_fd = -1;
    handle_lock_init(h);
    h->samples = samples;
    snprintf(h->dataset, sizeof h->dataset, "%s", d->ds.id);
    snprintf(h->file_id, sizeof h->file_id, "%s", f->file_id);
    h->dataset_size = d->total_size;
    h->zone = fs->cfg->zone;
    h->who = *c;
    h->who.proc = NULL;
    h->process_allowed = v.allowed;
    const struct kura_proc *opener = c->proc && c->proc->n > 0 ? &c->proc->chain[0] : NULL;
    if (opener && (opener->have & KURA_PROC_HAVE_EXE_STAT))
        h->readers[h->nreaders++] = (struct handle_reader){.dev = opener->exe_dev, .ino = opener->exe_ino,
                                                           .uid = c->uid, .pid = reader_is_loader(c) ? c->pid : 0,
                                                           .allowed = true};
    atomic_init(&h->epoch, epoch);
    atomic_init(&h->valid_until, dec.valid_until);
    atomic_init(&h->revoked, false);
    atomic_init(&h->unrecorded, false);
    atomic_init(&h->bytes, 0);
    h->opened_ms = kurafs_now_ms();

    struct kura_err err = {0};
    if (load_reader(fs, d->ds.id, f->file_id, f->size, kept_generation, h, &err) != 0) {
        /* Keys destroyed, store damaged or tampered with: refuse, say why. */
        kura_notice(LOG_ERR, "kurafs: %s/%s: %s", d->ds.id, rel, err.msg);
        audit_open(fs, c, &file, KURA_AUDIT_DENY, err.code == ENOMEM ? "out of memory" : "unreadable", err.msg);
        release_slot(&fs->handles, c->uid);
        handle_free(h);
        return -(err.code ? err.code : EIO);
    }
    /* Durable before the open returns; no record, no data (R-LOG-1). */
    if (audit_open(fs, c, &file, KURA_AUDIT_ALLOW, NULL, NULL) != 0) {
        release_slot(&fs->handles, c->uid);
        handle_free(h);
        return -EIO;
    }
    kurafs_metrics_handle(&fs->metrics, 1);
    struct kurafs_handles *t = &fs->handles;
    pthread_mutex_lock(&t->lock);
    h->next = t->head;
    if (t->head)
        t->head->prev = h;
    t->head = h;
    pthread_mutex_unlock(&t->lock);
    *out = h;
    return 0;
}

/* The file of h's records. */
static struct audit_file handle_file(const struct handle *h)
{
    return (struct audit_file){.dataset = h->dataset, .path = h->path + 1 + strlen(h->dataset) + 1,
                               .samples = h->samples};
}

/* Slow path of a read: the state or the clock moved since the last decision. */
static int recheck(struct kurafs *fs, struct handle *h, uint_fast64_t epoch, int64_t now)
{
    struct snapshot *snap = snapshot_acquire(fs);
    const struct kura_node *n = kura_catalog_lookup(snap->cat, h->path);
    struct kura_decision dec = {KURA_DENY_WITHDRAWN, 0};
    if (n && n->type == KURA_NODE_FILE) {
        const struct kura_catalog_dataset *d = &snap->cat->datasets[n->dataset];
        const struct kura_file *f = &d->files[n->file];
        /* The same path re-imported is another file: this handle ends. */
        if (strcmp(f->file_id, h->file_id) == 0)
            dec = kurafs_decide(fs, &d->ds, f, &h->who, h->process_allowed, now);
    }
    snapshot_release(snap);
    if (dec.reason != KURA_ALLOW) {
        if (!atomic_exchange(&h->revoked, true)) {
            struct audit_file file = handle_file(h);
            audit_handle_revoked(fs, &h->who, &file, (int64_t)atomic_load(&h->bytes), kura_reason_name(dec.reason));
            release_reader(h);
        }
        return -EACCES;
    }
    atomic_store(&h->valid_until, dec.valid_until);
    atomic_store(&h->epoch, epoch);
    return 0;
}

/* The executable of process pid by identity (/proc/PID/exe followed, as
 * at open); false when it cannot be read. */
static bool reader_exe(pid_t pid, dev_t *dev, ino_t *ino)
{
    char link[32];
    struct stat st;
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    if (pid <= 0 || stat(link, &st) != 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

/* The entry remembered for this program and user, or NULL. */
static struct handle_reader *reader_seen(struct handle *h, dev_t dev, ino_t ino, uid_t uid, pid_t pid)
{
    for (unsigned i = 0; i < h->nreaders; i++) {
        struct handle_reader *r = &h->readers[i];
        if (r->dev == dev && r->ino == ino && r->uid == uid && (!r->pid || r->pid == pid))
            return r;
    }
    return NULL;
}

/* A program other than the opener's reads (a descriptor inherited, kept
 * across an exec, or passed): the guard and the policy judge it as at an
 * open, and its first read is recorded, allowed or refused, naming it. A
 * loader's process (seen: its entry) is judged at every read, as an exec
 * in it changes the program and not the executable; recorded again only
 * when refused. The caller holds h->readers_lock, so one program is judged
 * and recorded once. */
static int reader_judge(struct kurafs *fs, struct handle *h, const struct caller *ids, bool exe_known, dev_t dev,
                        ino_t ino, struct handle_reader *seen, uint_fast64_t epoch)
{
    struct caller rd = *ids;
    rd.proc = NULL;
    caller_name(fs, &rd);
    caller_collect_process(fs, &rd);
    struct kura_guard_verdict v = {0};
    struct kura_decision dec = {KURA_DENY_WITHDRAWN, 0};
    struct snapshot *snap = snapshot_acquire(fs);
    const struct kura_node *n = kura_catalog_lookup(snap->cat, h->path);
    if (n && n->type == KURA_NODE_FILE)
        dec = decide_read(fs, snap->cat, n, &rd, kurafs_now(), &v);
    snapshot_release(snap);
    bool allowed = dec.reason == KURA_ALLOW;
    char detail[KURA_GUARD_DETAIL_MAX + 96];
    snprintf(detail, sizeof detail, KURA_AUDIT_READER_DETAIL "%d opened%s%s", (int)h->who.pid,
             !allowed && dec.reason == KURA_DENY_GUARD ? "; " : "", !allowed && dec.reason == KURA_DENY_GUARD ? v.detail : "");
    struct audit_file file = handle_file(h);
    int written = seen && seen->allowed && allowed
                      ? 0
                      : audit_open(fs, &rd, &file, allowed ? KURA_AUDIT_ALLOW : KURA_AUDIT_DENY,
                                   allowed ? NULL : kura_reason_name(dec.reason), detail);
    bool loader = reader_is_loader(&rd);
    caller_clear(&rd);
    if (allowed && written != 0)
        return -EIO; /* no record, no data */
    /* A refusal holds until the state changes: judged (and recorded) again
     * at every read, it would let a refused program fill the log. */
    int64_t valid_until = allowed ? dec.valid_until : INT64_MAX;
    if (seen) {
        seen->allowed = allowed;
        seen->epoch = epoch;
        seen->valid_until = valid_until;
    } else if (exe_known) {
        unsigned i = h->nreaders < HANDLE_READERS ? h->nreaders++ : 1 + h->next_reader++ % (HANDLE_READERS - 1);
        h->readers[i] = (struct handle_reader){.dev = dev, .ino = ino, .uid = ids->uid,
                                               .pid = loader ? ids->pid : 0, .allowed = allowed,
                                               .epoch = epoch, .valid_until = valid_until};
    }
    return allowed ? 0 : -EACCES;
}

/* A verdict kept for a program of the opener's user holds as long as the
 * handle's own decision (check_at); another user's until the state or the
 * clock moves past it. */
static bool reader_verdict_holds(const struct handle *h, const struct handle_reader *r, uint_fast64_t epoch,
                                 int64_t now)
{
    return !r->pid && (r->uid == h->who.uid || (r->epoch == epoch && now < r->valid_until));
}

/* The fast path is one stat of /proc/PID/exe and a look through the
 * handle's few programs; a loader's process is judged at every read,
 * another user's program again once the state or the clock moved. */
static int reader_check(struct kurafs *fs, struct handle *h, const struct caller *reader, int64_t now)
{
    dev_t dev = 0;
    ino_t ino = 0;
    bool exe_known = reader_exe(reader->pid, &dev, &ino);
    uint_fast64_t epoch = atomic_load(&fs->epoch);
    pthread_mutex_lock(&h->readers_lock);
    struct handle_reader *seen = exe_known ? reader_seen(h, dev, ino, reader->uid, reader->pid) : NULL;
    int rc = seen && reader_verdict_holds(h, seen, epoch, now)
                 ? (seen->allowed ? 0 : -EACCES)
                 : reader_judge(fs, h, reader, exe_known, dev, ino, seen, epoch);
    pthread_mutex_unlock(&h->readers_lock);
    return rc;
}

/* Counts the bytes of a read about to be served. -1: its bulk-read alert
 * could not be written, so the bytes must not be served. */
static int account_bytes(struct kurafs *fs, struct handle *h, uint64_t n, int64_t now)
{
    atomic_fetch_add(&h->bytes, n);
    kurafs_metrics_served(&fs->metrics, n);
    uint64_t total = 0;
    if (!fs->bulk || !kura_audit_bulk_add(fs->bulk, h->who.uid, h->dataset, kurafs_day(h->zone, now), n,
                                          h->dataset_size, &total))
        return 0;
    return audit_bulk_read(fs, &h->who, h->dataset, total);
}

/* handle_check at a given time: a read takes the clock once for this and
 * for its byte accounting. */
static int check_at(struct kurafs *fs, struct handle *h, int64_t now)
{
    if (atomic_load(&h->revoked) || atomic_load(&fs->stopping))
        return -EACCES;
    /* Nothing served that is not recorded: while the log cannot be written
     * (the close record, an alert would be lost), reads stop too. */
    if (atomic_load(&h->unrecorded) || kura_audit_failing(fs->audit))
        return -EIO;
    /* Common case: one atomic load and a coarse clock read, no lock. A
     * cluster node's lease is compared with its deadline here too: the
     * epoch moves only when the watch thread wakes, a moment after it. */
    uint_fast64_t epoch = atomic_load(&fs->epoch);
    if (epoch != atomic_load(&h->epoch) || now >= atomic_load(&h->valid_until) || decide_lease_ended(fs))
        return recheck(fs, h, epoch, now);
    return 0;
}

int handle_check(struct kurafs *fs, struct handle *h)
{
    return check_at(fs, h, kurafs_now());
}

ssize_t handle_read(struct kurafs *fs, struct handle *h, const struct caller *reader, char *buf, size_t size,
                    uint64_t off)
{
    int64_t now = kurafs_now();
    int rc = check_at(fs, h, now);
    if (rc == 0)
        rc = reader_check(fs, h, reader, now);
    if (rc != 0)
        return rc;
    size_t done = 0;
    struct kura_err err = {0};
    pthread_rwlock_rdlock(&h->lock);
    if (!h->reader) { /* revoked since the check above */
        pthread_rwlock_unlock(&h->lock);
        return -EACCES;
    }
    while (done < size) {
        ssize_t n = c4gh_reader_pread(h->reader, buf + done, size - done, off + done, &err);
        if (n <= 0) {
            if (n < 0 && done == 0) {
                pthread_rwlock_unlock(&h->lock);
                kura_notice(LOG_ERR, "kurafs: %s: %s", h->path, err.msg);
                return -(err.code ? err.code : EIO);
            }
            break;
        }
        done += (size_t)n;
    }
    pthread_rwlock_unlock(&h->lock);
    if (account_bytes(fs, h, done, now) != 0) {
        atomic_store(&h->unrecorded, true);
        kura_notice(LOG_ERR, "kurafs: %s: the bulk-read alert could not be written; the handle stops",
               h->path);
        return -EIO;
    }
    return (ssize_t)done;
}

void handle_close(struct kurafs *fs, struct handle *h)
{
    struct audit_file file = handle_file(h);
    audit_close(fs, &h->who, &file, (int64_t)atomic_load(&h->bytes), kurafs_now_ms() - h->opened_ms);
    kurafs_metrics_handle(&fs->metrics, -1);
    struct kurafs_handles *t = &fs->handles;
    pthread_mutex_lock(&t->lock);
    if (h->prev)
        h->prev->next = h->next;
    else
        t->head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    release_slot_locked(t, h->who.uid);
    pthread_mutex_unlock(&t->lock);
    handle_free(h);
}

void handle_end_revoked(struct kurafs *fs)
{
    /* The lock keeps every handle from being closed under us; opens and
     * closes wait for the walk (a record per ended handle at most). */
    struct kurafs_handles *t = &fs->handles;
    pthread_mutex_lock(&t->lock);
    uint_fast64_t epoch = atomic_load(&fs->epoch);
    int64_t now = kurafs_now();
    for (struct handle *h = t->head; h; h = h->next)
        if (!atomic_load(&h->revoked))
            recheck(fs, h, epoch, now);
    pthread_mutex_unlock(&t->lock);
}

void handle_table_free(struct kurafs *fs)
{
    struct kurafs_handles *t = &fs->handles;
    pthread_mutex_lock(&t->lock);
    struct handle *h = t->head;
    t->head = NULL;
    free(t->users);
    t->users = NULL;
    t->nusers = t->cap = 0;
    pthread_mutex_unlock(&t->lock);
    /* Handles a mapping kept open past the loop: no release will come. */
    while (h) {
        struct handle *next = h->next;
        handle_free(h);
        h = next;
    }
}
