/* Open, read and close of one dataset file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "handle.h"
#include "kura/layout.h"
#include "kura/text.h"
#include "kura/zone.h"

/* Every open handle, and how many each user holds: the per-user cap, and
 * the list revocation walks to free a removed user's handles at once. */
struct user_count {
    uid_t uid;
    unsigned open;
};
static struct {
    pthread_mutex_t lock;
    struct handle *head;
    struct user_count *users;   /* users holding at least one handle */
    size_t nusers, cap;
} g_table = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct user_count *user_count(uid_t uid)
{
    for (size_t i = 0; i < g_table.nusers; i++)
        if (g_table.users[i].uid == uid)
            return &g_table.users[i];
    return NULL;
}

/* Counts one more handle for uid unless it holds max already. Returns 0,
 * -EMFILE (at the cap, *held says how many) or -ENOMEM. */
static int reserve_slot(uid_t uid, unsigned max, unsigned *held)
{
    int rc = 0;
    pthread_mutex_lock(&g_table.lock);
    struct user_count *u = user_count(uid);
    if (!u) {
        if (g_table.nusers == g_table.cap) {
            size_t cap = g_table.cap ? g_table.cap * 2 : 16;
            struct user_count *users = realloc(g_table.users, cap * sizeof *users);
            if (!users) {
                rc = -ENOMEM;
                goto out;
            }
            g_table.users = users;
            g_table.cap = cap;
        }
        u = &g_table.users[g_table.nusers++];
        *u = (struct user_count){.uid = uid};
    }
    *held = u->open;
    if (u->open >= max)
        rc = -EMFILE;
    else
        u->open++;
out:
    pthread_mutex_unlock(&g_table.lock);
    return rc;
}

/* Caller holds g_table.lock. */
static void release_slot_locked(uid_t uid)
{
    struct user_count *u = user_count(uid);
    if (u && --u->open == 0)
        *u = g_table.users[--g_table.nusers];
}

static void release_slot(uid_t uid)
{
    pthread_mutex_lock(&g_table.lock);
    release_slot_locked(uid);
    pthread_mutex_unlock(&g_table.lock);
}

static struct kura_guard_verdict guard_verdict(struct kurafs *fs, const struct kura_dataset *ds,
                                               const struct caller *c)
{
    static const struct kura_procinfo nothing = {.flags = KURA_PROCINFO_GONE};
    return kura_guard_decide(fs->guard, ds->guard, c->proc ? c->proc : &nothing);
}

struct kura_decision handle_decide(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                   const struct caller *c, int64_t now)
{
    const struct kura_catalog_dataset *d = &cat->datasets[n->dataset];
    struct kura_guard_verdict v = guard_verdict(fs, &d->ds, c);
    return kurafs_decide(fs, &d->ds, &d->files[n->file], c, v.allowed, now);
}

static void audit_open(struct kurafs *fs, const struct caller *c, const char *dataset, const char *path,
                       const char *samples, enum kura_audit_decision decision, const char *reason,
                       const char *detail, int *failed)
{
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_OPEN;
    r.decision = decision;
    r.reason = reason;
    r.dataset = dataset;
    r.path = path;
    r.samples = samples;
    r.detail = detail;
    caller_fill_record(c, &r);
    *failed = kurafs_audit(fs, &r) != 0;
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

/* Keys and ciphertext for an allowed open. */
static int load_reader(struct kurafs *fs, const char *ds_id, const char *file_id, uint64_t expected_size,
                       struct handle *h, struct kura_err *err)
{
    struct kura_dskey *dk = NULL;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    struct kura_segmap map = {0};
    struct c4gh_header *header = NULL;
    int rc = -1;

    int unwrapped = unwrap_dataset_key(fs, ds_id, &dk, err);
    /* A dataset key wrapped to a server key made since the keys were
     * opened (a rotation the daemon was not told of): reopen them once. */
    if (unwrapped != 0 && err->code != ENOENT && err->code != EACCES) {
        kurafs_keys_refresh(fs);
        unwrapped = unwrap_dataset_key(fs, ds_id, &dk, err);
    }
    if (unwrapped != 0 ||
        kura_keystore_file_load(dk, file_id, &hdr, &hdr_len, &map, err) != 0 ||
        c4gh_header_open(hdr, hdr_len, dk->sk, &header, err) != 0)
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
    if (c4gh_reader_open(&h->reader, h->payload_fd, 0, (uint64_t)st.st_size, header, err) != 0 ||
        c4gh_reader_set_segment_map(h->reader, map.nonces, map.nsegments, err) != 0)
        goto out;
    /* Crypt4GH has no MAC over the whole header: a header whose edit-list
     * packet was removed still opens, and would serve more than the
     * archive meant. The size recorded at import catches that. */
    if (c4gh_reader_size(h->reader) != expected_size) {
        kura_err_set(err, EIO, "served size %llu differs from the %llu bytes recorded at import (header tampered?)",
                     (unsigned long long)c4gh_reader_size(h->reader), (unsigned long long)expected_size);
        goto out;
    }
    rc = 0;
out:
    c4gh_header_free(header);
    kura_segmap_clear(&map);
    free(hdr);
    kura_dskey_free(dk);
    return rc;
}

/* Keys, decrypted segment, buffers and descriptor: all a handle holds
 * beyond its names. Under h->lock, so no read is using them. */
static void release_reader(struct handle *h)
{
    pthread_mutex_lock(&h->lock);
    c4gh_reader_close(h->reader); /* wipes its keys and decrypted segment */
    h->reader = NULL;
    if (h->payload_fd >= 0)
        close(h->payload_fd);
    h->payload_fd = -1;
    pthread_mutex_unlock(&h->lock);
}

static void handle_free(struct handle *h)
{
    if (!h)
        return;
    release_reader(h);
    pthread_mutex_destroy(&h->lock);
    free(h->path);
    free(h->samples);
    free(h);
}

int handle_open(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                const struct caller *c, uint_fast64_t epoch, struct handle **out)
{
    const struct kura_catalog_dataset *d = &cat->datasets[n->dataset];
    const struct kura_file *f = &d->files[n->file];
    const char *rel = n->path + 1 + strlen(d->ds.id) + 1;
    int64_t now = kurafs_now();
    struct kura_guard_verdict v = guard_verdict(fs, &d->ds, c);
    struct kura_decision dec = kurafs_decide(fs, &d->ds, f, c, v.allowed, now);
    char *samples = kura_comma_join((const char *const *)f->samples, f->nsamples);
    int audit_failed = 0;

    if (dec.reason != KURA_ALLOW) {
        audit_open(fs, c, d->ds.id, rel, samples, KURA_AUDIT_DENY, kura_reason_name(dec.reason),
                   dec.reason == KURA_DENY_GUARD ? v.detail : NULL, &audit_failed);
        free(samples);
        return -EACCES;
    }
    if (atomic_load(&fs->stopping)) {
        audit_open(fs, c, d->ds.id, rel, samples, KURA_AUDIT_DENY, "server stopping", NULL, &audit_failed);
        free(samples);
        return -EACCES;
    }
    /* After the decision: an outsider is told "not listed", not this. */
    unsigned held = 0;
    int reserved = reserve_slot(c->uid, fs->cfg->max_open_per_user, &held);
    if (reserved == -EMFILE) {
        char detail[96];
        snprintf(detail, sizeof detail, "%u files open; [server] max_open_per_user is %u", held,
                 fs->cfg->max_open_per_user);
        audit_open(fs, c, d->ds.id, rel, samples, KURA_AUDIT_DENY, "too many open files", detail, &audit_failed);
    }
    if (reserved != 0) {
        free(samples);
        return reserved;
    }

    struct handle *h = calloc(1, sizeof *h);
    if (!h || !samples || !(h->path = strdup(n->path))) {
        release_slot(c->uid);
        free(samples);
        if (h) {
            h->payload_fd = -1;
            pthread_mutex_init(&h->lock, NULL);
        }
        handle_free(h);
        return -ENOMEM;
    }
    h->payload_fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    h->samples = samples;
    snprintf(h->dataset, sizeof h->dataset, "%s", d->ds.id);
    snprintf(h->file_id, sizeof h->file_id, "%s", f->file_id);
    h->dataset_size = d->total_size;
    h->zone = fs->cfg->zone;
    h->who = *c;
    h->who.proc = NULL;
    h->process_allowed = v.allowed;
    atomic_init(&h->epoch, epoch);
    atomic_init(&h->valid_until, dec.valid_until);
    atomic_init(&h->revoked, false);
    atomic_init(&h->unrecorded, false);
    atomic_init(&h->bytes, 0);
    h->opened_ms = kurafs_now_ms();

    struct kura_err err = {0};
    if (load_reader(fs, d->ds.id, f->file_id, f->size, h, &err) != 0) {
        /* Keys destroyed, store damaged or tampered with: refuse, say why. */
        kura_notice(LOG_ERR, "kurafs: %s/%s: %s", d->ds.id, rel, err.msg);
        audit_open(fs, c, d->ds.id, rel, samples, KURA_AUDIT_DENY,
                   err.code == ENOMEM ? "out of memory" : "unreadable", err.msg, &audit_failed);
        release_slot(c->uid);
        handle_free(h);
        return -(err.code ? err.code : EIO);
    }
    /* Durable before the open returns; no record, no data (R-LOG-1). */
    audit_open(fs, c, d->ds.id, rel, samples, KURA_AUDIT_ALLOW, NULL, NULL, &audit_failed);
    if (audit_failed) {
        release_slot(c->uid);
        handle_free(h);
        return -EIO;
    }
    kurafs_metrics_handle(&fs->metrics, 1);
    pthread_mutex_lock(&g_table.lock);
    h->next = g_table.head;
    if (g_table.head)
        g_table.head->prev = h;
    g_table.head = h;
    pthread_mutex_unlock(&g_table.lock);
    *out = h;
    return 0;
}

static void audit_revoked(struct kurafs *fs, struct handle *h, enum kura_reason reason)
{
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_REVOCATION;
    r.decision = KURA_AUDIT_DENY;
    r.reason = kura_reason_name(reason);
    r.dataset = h->dataset;
    r.path = h->path + 1 + strlen(h->dataset) + 1;
    r.samples = h->samples;
    r.detail = "open handle stopped";
    caller_fill_record(&h->who, &r);
    r.bytes = (int64_t)atomic_load(&h->bytes);
    kurafs_audit(fs, &r);
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
            audit_revoked(fs, h, dec.reason);
            release_reader(h);
        }
        return -EACCES;
    }
    atomic_store(&h->valid_until, dec.valid_until);
    atomic_store(&h->epoch, epoch);
    return 0;
}

static int64_t zone_day(const struct kura_zone *z, int64_t now)
{
    int64_t local = now + (z ? kura_zone_offset(z, now) : 0);
    return local >= 0 ? local / 86400 : (local - 86399) / 86400;
}

/* Counts the bytes of a read about to be served. -1: its bulk-read alert
 * could not be written, so the bytes must not be served. */
static int account_bytes(struct kurafs *fs, struct handle *h, uint64_t n, int64_t now)
{
    atomic_fetch_add(&h->bytes, n);
    kurafs_metrics_served(&fs->metrics, n);
    uint64_t total = 0;
    if (!fs->bulk || !kura_audit_bulk_add(fs->bulk, h->who.uid, h->dataset, zone_day(h->zone, now), n,
                                          h->dataset_size, &total))
        return 0;
    char detail[128];
    snprintf(detail, sizeof detail, "%llu bytes read today, %u x the dataset size or more",
             (unsigned long long)total, fs->cfg->bulk_read_multiple);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_ALERT;
    r.reason = "bulk read";
    r.dataset = h->dataset;
    r.detail = detail;
    r.bytes = (int64_t)total;
    caller_fill_record(&h->who, &r);
    return kurafs_audit(fs, &r);
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
    /* Common case: one atomic load and a coarse clock read, no lock. */
    uint_fast64_t epoch = atomic_load(&fs->epoch);
    if (epoch != atomic_load(&h->epoch) || now >= atomic_load(&h->valid_until))
        return recheck(fs, h, epoch, now);
    return 0;
}

int handle_check(struct kurafs *fs, struct handle *h)
{
    return check_at(fs, h, kurafs_now());
}

ssize_t handle_read(struct kurafs *fs, struct handle *h, char *buf, size_t size, uint64_t off)
{
    int64_t now = kurafs_now();
    int rc = check_at(fs, h, now);
    if (rc != 0)
        return rc;
    size_t done = 0;
    struct kura_err err = {0};
    pthread_mutex_lock(&h->lock);
    if (!h->reader) { /* revoked since the check above */
        pthread_mutex_unlock(&h->lock);
        return -EACCES;
    }
    while (done < size) {
        ssize_t n = c4gh_reader_pread(h->reader, buf + done, size - done, off + done, &err);
        if (n <= 0) {
            if (n < 0 && done == 0) {
                pthread_mutex_unlock(&h->lock);
                kura_notice(LOG_ERR, "kurafs: %s: %s", h->path, err.msg);
                return -(err.code ? err.code : EIO);
            }
            break;
        }
        done += (size_t)n;
    }
    pthread_mutex_unlock(&h->lock);
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
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_CLOSE;
    r.dataset = h->dataset;
    r.path = h->path + 1 + strlen(h->dataset) + 1;
    r.samples = h->samples;
    r.bytes = (int64_t)atomic_load(&h->bytes);
    r.duration_ms = kurafs_now_ms() - h->opened_ms;
    caller_fill_record(&h->who, &r);
    kurafs_audit(fs, &r);
    kurafs_metrics_handle(&fs->metrics, -1);
    pthread_mutex_lock(&g_table.lock);
    if (h->prev)
        h->prev->next = h->next;
    else
        g_table.head = h->next;
    if (h->next)
        h->next->prev = h->prev;
    release_slot_locked(h->who.uid);
    pthread_mutex_unlock(&g_table.lock);
    handle_free(h);
}

void handle_end_revoked(struct kurafs *fs)
{
    /* The lock keeps every handle from being closed under us; opens and
     * closes wait for the walk (a record per ended handle at most). */
    pthread_mutex_lock(&g_table.lock);
    uint_fast64_t epoch = atomic_load(&fs->epoch);
    int64_t now = kurafs_now();
    for (struct handle *h = g_table.head; h; h = h->next)
        if (!atomic_load(&h->revoked))
            recheck(fs, h, epoch, now);
    pthread_mutex_unlock(&g_table.lock);
}
