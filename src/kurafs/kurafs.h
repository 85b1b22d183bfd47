/* kurafs internals: the daemon's state shared by the FUSE operations, the
 * control socket and the expiry thread. One struct kurafs per mount,
 * made by main.c and handed to FUSE as the requests' private_data; every
 * module takes it as an argument and none keeps state of its own. */
#ifndef KURAFS_H
#define KURAFS_H
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "kura/catalog.h"
#include "kura/config.h"
#include "kura/guard.h"
#include "kura/keycache.h"
#include "kura/keystore.h"
#include "kura/policy.h"
#include "kura/proccache.h"
#include "kura/procevents.h"
#include "kura/procinfo.h"
#include "kura/restrict.h"

/* How long a close's record waits for a batch of opens to take it along
 * before the audit log's close writer writes it alone
 * (kura_audit_start_close_writer): the longest a close is missing from the
 * log, but for a crash. */
#define KURAFS_CLOSE_LINGER_MS 10
/* How long a record after which nothing was served (a close, a refusal, an
 * access ended) may stay written but not durable when no batch of opens
 * syncs it: the longest a power failure can take it back. */
#define KURAFS_SYNC_LATER_MS 100

/* A catalog and the readers using it; freed when the last one lets go. */
struct snapshot {
    struct kura_catalog *cat;
    atomic_uint refs;
};

/* ---- metrics (metrics.c) ---- */
#define KURAFS_METRICS_BUCKETS 12
#define KURAFS_METRICS_REASONS 32   /* distinct refusal reasons, "other" included */
#define KURAFS_METRICS_LABEL_MAX 40
struct kurafs_histogram {
    atomic_uint_fast64_t bucket[KURAFS_METRICS_BUCKETS], count, sum_ns;
};
struct kurafs_metrics {
    atomic_uint_fast64_t opens_allowed, bytes_served, handles_revoked, alerts, audit_records, audit_failures;
    atomic_int_fast64_t open_handles;
    struct kurafs_histogram audit_write, revocation;
    pthread_mutex_t lock;          /* guards the reason table */
    size_t nreasons;
    struct {
        char label[KURAFS_METRICS_LABEL_MAX + 1];
        uint64_t count;
    } reasons[KURAFS_METRICS_REASONS];
    pthread_t thread;
    bool running, stopping;
    gid_t group;                   /* [metrics] group's, when one is set */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
};

/* Every open handle, and how many each user holds: the per-user cap, and
 * the list revocation walks to free a removed user's handles at once
 * (handle.c). */
struct handle;
struct user_count;
struct kurafs_handles {
    pthread_mutex_t lock;
    struct handle *head;
    struct user_count *users;   /* users holding at least one handle */
    size_t nusers, cap;
};

/* Every file opened since mount, and the mounted file system whose cached
 * pages are dropped (pagecache.c). */
struct opened_file;
struct fuse;
struct kurafs_pagecache {
    pthread_mutex_t lock;          /* guards the set of opened files and the drops */
    struct opened_file *slots;
    size_t cap, count;
    /* The files whose last handle closed, for the dropper thread: a FUSE
     * worker never drops pages itself (pagecache.c says why). */
    char **drops;
    size_t ndrops, drops_cap;
    pthread_cond_t drop_cv;
    pthread_t dropper;
    bool dropper_running, dropper_stop;
    /* Held by a drop while it talks to the kernel, so unmounting waits. */
    pthread_mutex_t fuse_lock;
    struct fuse *fuse;
};

/* The last refused lookup, to record one attempt once (audit.c). */
struct kurafs_last_refusal {
    pthread_mutex_t lock;
    pid_t pid;
    char path[PATH_MAX];        /* the path itself: a hash of it could be collided with on purpose */
    int64_t at_ms;
};

struct kura_audit_log;
struct kura_audit_bulk;
struct kura_audit_flood;
struct kura_audit_record;
struct maintainer;

struct kurafs {
    struct kura_config *cfg;
    const char *config_path;
    /* NULL while locked down: the server key is wiped from memory then
     * (R-ACC-7). Opens read it under ks_lock; lockdown closes it. */
    pthread_rwlock_t ks_lock;
    struct kura_keystore *ks;
    /* Opened headers and segment maps of recent opens (keycache.h): wiped
     * with every reload of the state and change of ks. */
    struct kura_keycache keycache;
    const char *passphrase_file;   /* read again to reopen the keys after unlock */
    /* Cluster mode: the server keys retired by changes this node was told
     * of. Never held again by this daemon, whatever an older copy of the
     * shared keystore (a client cache) still has. */
    pthread_mutex_t retired_lock;
    char (*retired)[KURA_KEY_FINGERPRINT_LEN + 1];
    size_t nretired;
    struct kura_audit_log *audit;
    struct kura_audit_bulk *bulk;
    struct kura_audit_flood *flood;
    struct kura_audit_flood *guard_burst; /* guard refusals per user, for the alert; NULL: off */
    struct kura_guard_rules *guard;
    /* The callers' process facts, kept until a process event voids them
     * (caller.c); both NULL when the kernel's connector is unavailable. */
    struct kura_procevents *procevents;
    struct kura_proccache *proccache;
    /* The account database's user names (pwcache.h); NULL (no memory):
     * each lookup asks NSS. */
    struct kura_pwcache *user_names;
    /* Cluster mode, restriction first: what the changes in progress are
     * about to forbid, held by the node's restriction thread
     * (cluster_node.c) and asked by every decision (decide.c). any: the
     * table is not empty, so a decision needs the lock. */
    struct {
        pthread_mutex_t lock;
        struct kura_restrict_table held;
        atomic_bool any;
    } restrictions;
    char host_id[KURA_HOST_ID_LEN + 1];
    uid_t login_uid_min, login_uid_max; /* kura_config_login_uids, at start */
    char hostname[256];

    pthread_mutex_t snap_lock;     /* guards `current` (the pointer, not the catalog) */
    struct snapshot *current;
    pthread_mutex_t reload_lock;   /* one reload at a time */

    /* Bumped on every change that may end access; each read compares it
     * with its handle's, so the common case costs one atomic load. */
    atomic_uint_fast64_t epoch;
    atomic_bool lockdown;
    atomic_int_fast64_t lockdown_epoch;    /* the lockdown file's stamp as last loaded (cluster mode) */
    /* Cluster mode (cluster_node.c; NULL, false and unused on a single
     * server): the node's lease, ended or not yet caught up, and the
     * monotonic ms at which it ends unless renewed. */
    struct cluster_node *cluster;
    atomic_bool lease_ended;
    atomic_int_fast64_t lease_deadline_ms;
    struct kurafs_metrics metrics;
    atomic_bool stopping;          /* SIGTERM: nothing more is served */

    struct kurafs_handles handles;
    struct kurafs_pagecache pagecache;
    struct kurafs_last_refusal last_lookup_refusal;
    struct maintainer *maintainer; /* NULL until started */
    struct shipper *shipper;       /* NULL: no [cluster] database (ship.c) */
    time_t mounted_at;             /* the root's times */
    /* The mount as the kernel names it in /proc: its path (libfuse's
     * realpath of the argument) and device; NULL until mounted (holders.c). */
    const char *mountpoint;
    dev_t mount_dev;
    /* Inode numbers are a keyed hash of the path (fs_ops.c); drawn at mount. */
    unsigned char ino_key[crypto_shorthash_KEYBYTES];
};

/* ---- snapshots (state.c) ---- */
struct snapshot *snapshot_acquire(struct kurafs *fs);
void snapshot_release(struct snapshot *s);
/* Loads the state again (catalog, lockdown); on failure the last good
 * catalog keeps serving. Bumps the epoch either way so open handles
 * re-decide; ending what they hold is kurafs_reload's (revoke.c). */
int kurafs_state_load(struct kurafs *fs, struct kura_err *err);
/* Opens the server key (if closed) or wipes it (lockdown). */
int kurafs_keys_open(struct kurafs *fs, struct kura_err *err);
void kurafs_keys_wipe(struct kurafs *fs);
/* Reopens the server keys if kuractl key rotate or retire changed them on
 * disk (not during lockdown); for a dataset key that no longer unwraps
 * when a rotation was interrupted before the daemon was told. */
void kurafs_keys_refresh(struct kurafs *fs);
/* A cluster change retired the server key fp: its secret leaves memory now
 * (all keys, if a stale copy made it the current one) and is never loaded
 * again. -1: out of memory (the key is wiped all the same). */
int kurafs_keys_retire(struct kurafs *fs, const char *fp);
/* Whether a change this node was told of retired fp. */
bool kurafs_keys_retired(struct kurafs *fs, const char *fp);
/* kuractl status's line of the server keys this daemon holds in memory
 * (fingerprints: which keys, never what they are). */
void kurafs_keys_describe(void *ctx, FILE *out);

/* ---- the clock of decisions and records (clock.c) ---- */
int64_t kurafs_now(void);
int64_t kurafs_now_ms(void);
/* The number of the day holding t in the zone z: the bulk-read alert's day. */
struct kura_zone;
int64_t kurafs_day(const struct kura_zone *z, int64_t t);

/* ---- a change that may end access (revoke.c) ---- */
/* Loads the state again, then ends what access no longer allows: every
 * open handle re-decided, the cached pages of opened files dropped. */
int kurafs_reload(struct kurafs *fs, struct kura_err *err);
/* Access may have ended with nobody acting (time passed): the same end. */
void kurafs_end_access(struct kurafs *fs);
/* [revocation] end_processes: kills each process that holds open or maps
 * a file of the mount its user opened and may no longer read, each with a
 * record (holders.c); nothing when it is off, no file is open, or a cluster
 * node refuses for now (lease ended, a change's restriction held). Returns
 * how many it killed. */
unsigned kurafs_end_holders(struct kurafs *fs);

/* ---- the page cache of served files (pagecache.c) ---- */
void kurafs_pagecache_init(struct kurafs_pagecache *pc);
/* Between these two calls, drops reach the kernel; outside them they do
 * nothing. detach, after the unmount, also stops the dropper thread. */
void kurafs_pagecache_attach(struct kurafs_pagecache *pc, struct fuse *fuse);
void kurafs_pagecache_detach(struct kurafs_pagecache *pc);
/* Starts the dropper thread, after daemonizing (a fork keeps no thread but
 * the caller): 0, or -errno (the mount must then stop). */
int kurafs_pagecache_start_dropper(struct kurafs_pagecache *pc);
/* Remembers a file being opened by uid, and says whether this open may use
 * the page cache (reads cached, shared mappings allowed): only while every
 * handle open on the file is uid's, so pages one user fills are never read
 * through another user's handle after that user's access ended. -ENOMEM if
 * it cannot be remembered (the open must then fail). */
int kurafs_pagecache_open(struct kurafs_pagecache *pc, const char *path, uid_t uid, bool *cached);
/* One of uid's handles closed; after the file's last one its pages are
 * dropped by the dropper thread, moments later (no plaintext stays cached
 * after the last close). Called by FUSE workers: never waits on the kernel. */
void kurafs_pagecache_close(struct kurafs_pagecache *pc, const char *path, uid_t uid);
/* Access may have ended: drop the cached pages of every file opened since
 * mount, so mappings fault and re-decide (R-REV-4); returns once they are
 * dropped. Never from a FUSE worker: it may wait for READs only workers
 * answer. */
void kurafs_pagecache_drop(struct kurafs_pagecache *pc);
/* Whether uid holds a handle of the file at path (the mount's path). */
bool kurafs_pagecache_opened_by(struct kurafs_pagecache *pc, const char *path, uid_t uid);
void kurafs_pagecache_free(struct kurafs_pagecache *pc);

/* ---- time-driven duties (maintain.c) ---- */
struct kura_cmd_env;
/* Expiry records and notices, warnings before ends, destruction after the
 * grace period. env runs `dataset destroy` as the daemon. */
int kurafs_maintain_start(struct kurafs *fs, const struct kura_cmd_env *env);
/* The state changed: look again now (new ends, extensions). */
void kurafs_maintain_kick(struct kurafs *fs);
void kurafs_maintain_stop(struct kurafs *fs);

/* ---- cluster mode (cluster_node.c) ---- */
/* With [cluster] database set: checks that the database is the cluster the
 * state directory belongs to (else refuses: state copied outside the
 * cluster serves nothing) and prepares the node, not serving until its
 * first lease. Without one: nothing, no connection. */
int kurafs_cluster_check(struct kurafs *fs, struct kura_err *err);
/* The lease, watch and restriction threads (after daemonizing); stop
 * leaves the cluster. */
int kurafs_cluster_start(struct kurafs *fs);
void kurafs_cluster_stop(struct kurafs *fs);
/* The node's lines of kuractl status (ctx: the struct kurafs). */
void kurafs_cluster_describe(void *ctx, FILE *out);

/* ---- the central audit store, in cluster mode (ship.c) ---- */
/* Starts the shipper's thread if [cluster] database is set (else does
 * nothing); -1 if it cannot start. */
int kurafs_ship_start(struct kurafs *fs);
/* A record was appended: ship it now rather than at the next look. */
void kurafs_ship_kick(struct kurafs *fs);
/* Ships what the log holds (the stop record too) if it can, then ends. */
void kurafs_ship_stop(struct kurafs *fs);
struct kurafs_ship_state {
    bool connected;
    uint64_t shipped, written;     /* seq stored centrally; last in the local log */
    char why[sizeof ((struct kura_err *)0)->msg]; /* why not connected */
};
/* false without a shipper. */
bool kurafs_ship_state(struct kurafs *fs, struct kurafs_ship_state *out);
/* The line `kuractl status` shows (kura_cmd_env's daemon_notes; ctx is fs). */
void kurafs_ship_describe(void *ctx, FILE *out);
/* Counts kept for the metrics file; each costs an atomic add. */
void kurafs_metrics_init(struct kurafs_metrics *m);
/* Every audit append: what it recorded (if written) and how long it took. */
void kurafs_metrics_audit(struct kurafs_metrics *m, const struct kura_audit_record *r, bool written,
                          int64_t write_ns);
/* A refusal, whether recorded alone or only counted in a summary. */
void kurafs_metrics_refusal(struct kurafs_metrics *m, const char *reason);
void kurafs_metrics_served(struct kurafs_metrics *m, uint64_t bytes);
void kurafs_metrics_handle(struct kurafs_metrics *m, int delta);
/* A state change applied: from its arrival to pages dropped. */
void kurafs_metrics_reload(struct kurafs_metrics *m, int64_t ns);
int64_t kurafs_metrics_clock(void);        /* monotonic ns */
/* The writer thread, if [metrics] textfile is set; stop writes a last file
 * with kura_up 0. */
int kurafs_metrics_start(struct kurafs *fs);
void kurafs_metrics_stop(struct kurafs *fs);

/* ---- who asks (caller.c) ---- */
/* The daemon a request reached: FUSE's private_data, set at fuse_new. */
struct kurafs *kurafs_of_request(void);
/* Who is asking, for policy and the log. */
struct caller {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char user[KURA_USER_MAX + 1];
    struct kura_procinfo *proc;    /* NULL until collected */
};
/* The name uid's account has now (the daemon's NSS lookup, through the
 * cache of pwcache.h), or "" when it has none or one longer than len - 1. */
void kurafs_uid_name(const struct kurafs *fs, uid_t uid, char *name, size_t len);
/* Who asks: uid, gid and pid, all a lookup needs. */
void caller_ids(struct caller *c);
/* Adds the user name the uid has now, once per request (an open keeps it
 * for its reads). It costs a passwd lookup (with nss files an open and a
 * read of /etc/passwd), so it is looked up only when a dataset is decided
 * on or a record written. The decision needs it: a listing binds the uid
 * to the account name it had when listed (issue 13: a uid handed to a new
 * account is not the listed person). The daemon looks it up as root; the
 * caller controls nothing of it. */
void caller_name(const struct kurafs *fs, struct caller *c);
/* Both of the above. */
void caller_from_context(struct caller *c);
/* Collects /proc facts (for opens); fails closed: no facts, guard refuses.
 * c->pid becomes the calling thread's process id once its facts are read. */
void caller_collect_process(struct kurafs *fs, struct caller *c);
void caller_clear(struct caller *c);

/* ---- ACL (acl.c) ---- */
#define KURA_ACL_MAX_ENTRIES 1024
/* The dataset's ACL in the kernel's system.posix_acl_access format: the PI
 * and every user whose approved grant holds now may read, each only while
 * their uid still has the account name it was listed under and is a login
 * account of fs (or root). Returns the size, or a negative errno. With
 * size 0 only the needed size is returned. */
int kurafs_dataset_acl(const struct kurafs *fs, const struct kura_dataset *ds, int64_t now, char *buf,
                       size_t size);

/* ---- FUSE operations (fs_ops.c, fs_refuse.c): main.c's table holds them ---- */
struct fuse_operations;
/* Sets the read side: lookup, listing, open, read, release, access, xattrs. */
void kurafs_add_read_ops(struct fuse_operations *ops);
/* Sets the write-class operations, each refused with EROFS and logged. */
void kurafs_add_refused_ops(struct fuse_operations *ops);
/* Logs a refused write-class operation; returns -EROFS (R-CPY-3). */
int kurafs_refuse_write(struct kurafs *fs, const struct caller *c, const char *path, const char *op);

#endif
