/* kurafs internals: the daemon's state shared by the FUSE operations, the
 * control socket and the expiry thread. */
#ifndef KURAFS_H
#define KURAFS_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/audit.h"
#include "kura/catalog.h"
#include "kura/config.h"
#include "kura/guard.h"
#include "kura/keystore.h"
#include "kura/policy.h"
#include "kura/procinfo.h"

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
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
};

struct kurafs {
    struct kura_config *cfg;
    const char *config_path;
    /* NULL while locked down: the server key is wiped from memory then
     * (R-ACC-7). Opens read it under ks_lock; lockdown closes it. */
    pthread_rwlock_t ks_lock;
    struct kura_keystore *ks;
    const char *passphrase_file;   /* read again to reopen the keys after unlock */
    struct kura_audit_log *audit;
    struct kura_audit_bulk *bulk;
    struct kura_audit_flood *flood;
    struct kura_guard_rules *guard;
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
    struct kurafs_metrics metrics;
    atomic_bool stopping;          /* SIGTERM: nothing more is served */
};

struct kurafs *kurafs_get(void);

/* ---- snapshots (state.c) ---- */
struct snapshot *snapshot_acquire(struct kurafs *fs);
void snapshot_release(struct snapshot *s);
/* Loads the state again; on failure the last good catalog keeps serving.
 * Bumps the epoch either way so open handles re-decide. */
int kurafs_reload(struct kurafs *fs, struct kura_err *err);
int64_t kurafs_now(void);
int64_t kurafs_now_ms(void);
/* Opens the server key (if closed) or wipes it (lockdown). */
int kurafs_keys_open(struct kurafs *fs, struct kura_err *err);
void kurafs_keys_wipe(struct kurafs *fs);
/* Reopens the server keys if kuractl key rotate or retire changed them on
 * disk (not during lockdown); for a dataset key that no longer unwraps
 * when a rotation was interrupted before the daemon was told. */
void kurafs_keys_refresh(struct kurafs *fs);
/* The policy decision with this server's facts (lockdown, host, level)
 * and the caller's: uid and account name (c->user, filled by caller_name;
 * left empty it matches no listing). f NULL: the dataset itself;
 * process_allowed: the guard's verdict. */
struct caller;
struct kura_decision kurafs_decide(struct kurafs *fs, const struct kura_dataset *ds, const struct kura_file *f,
                                   const struct caller *c, bool process_allowed, int64_t now);

/* ---- the page cache of served files (pagecache.c) ---- */
struct fuse;
/* Between these two calls, drops reach the kernel; outside them they do nothing. */
void kurafs_pagecache_attach(struct fuse *fuse);
void kurafs_pagecache_detach(void);
/* Remembers a file being opened by uid, and says whether this open may use
 * the page cache (reads cached, shared mappings allowed): only while every
 * handle open on the file is uid's, so pages one user fills are never read
 * through another user's handle after that user's access ended. -ENOMEM if
 * it cannot be remembered (the open must then fail). */
int kurafs_pagecache_open(const char *path, uid_t uid, bool *cached);
/* One of uid's handles closed; after the file's last one its pages are
 * dropped (no plaintext stays cached after the last close). */
void kurafs_pagecache_close(const char *path, uid_t uid);
/* Access may have ended: drop the cached pages of every file opened since
 * mount, so mappings fault and re-decide (R-REV-4). */
void kurafs_pagecache_drop(void);
void kurafs_pagecache_free(void);
/* Kernel readahead on the mount's cached files, in bytes: the limit
 * kfs_init asks for, once kurafs_pagecache_readahead has raised the
 * mount's own (the kernel keeps the smaller of the two). */
#define KURAFS_READAHEAD (1024 * 1024)
/* Raises the readahead of the FUSE mount at mountpoint (mounted, its INIT
 * not yet answered) to KURAFS_READAHEAD, through its backing device's
 * read_ahead_kb in sysfs. Returns 0 or -errno; the mount works either
 * way, with the kernel's default of 128 KiB. */
int kurafs_pagecache_readahead(const char *mountpoint);

/* ---- time-driven duties (maintain.c) ---- */
struct kura_cmd_env;
/* Expiry records and notices, warnings before ends, destruction after the
 * grace period. env runs `dataset destroy` as the daemon. */
int kurafs_maintain_start(struct kurafs *fs, const struct kura_cmd_env *env);
/* The state changed: look again now (new ends, extensions). */
void kurafs_maintain_kick(void);
void kurafs_maintain_stop(void);

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

/* ---- audit glue (caller.c) ---- */
/* Who is asking, for policy and the log. */
struct caller {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    char user[KURA_USER_MAX + 1];
    struct kura_procinfo *proc;    /* NULL until collected */
};
/* The name uid's account has now (the daemon's NSS lookup), or "" when it
 * has none or one longer than len - 1. */
void kurafs_uid_name(uid_t uid, char *name, size_t len);
/* Who asks: uid, gid and pid, all a lookup needs. */
void caller_ids(struct caller *c);
/* Adds the user name the uid has now, once per request (an open keeps it
 * for its reads). It costs a passwd lookup (with nss files an open and a
 * read of /etc/passwd), so it is looked up only when a dataset is decided
 * on or a record written. The decision needs it: a listing binds the uid
 * to the account name it had when listed (issue 13: a uid handed to a new
 * account is not the listed person). The daemon looks it up as root; the
 * caller controls nothing of it. */
void caller_name(struct caller *c);
/* Both of the above. */
void caller_from_context(struct caller *c);
/* Collects /proc facts (for opens); fails closed: no facts, guard refuses. */
void caller_collect_process(struct kurafs *fs, struct caller *c);
void caller_clear(struct caller *c);
/* Fills the caller's fields of a record. */
void caller_fill_record(const struct caller *c, struct kura_audit_record *r);
/* Appends, durable. -1 means the caller must refuse (fail closed).
 * Refusals go through kurafs_audit_refusal. */
int kurafs_audit(struct kurafs *fs, const struct kura_audit_record *r);
/* Appends, durable, with no flood limit, counted for the metrics. */
int kurafs_audit_append(struct kurafs *fs, const struct kura_audit_record *r);

/* ---- refusal floods (refusals.c) ---- */
int kurafs_refusals_start(struct kurafs *fs);
/* A refusal (kura_audit_is_refusal): recorded on its own within the
 * user's bound, else counted for a summary. -1: not recorded on its own
 * (counted). */
int kurafs_audit_refusal(struct kurafs *fs, const struct kura_audit_record *r);
/* Writes the summaries that are due (all of them with all set). */
void kurafs_refusals_flush(struct kurafs *fs, bool all);
void kurafs_refusals_stop(struct kurafs *fs);

/* ---- ACL (acl.c) ---- */
#define KURA_ACL_MAX_ENTRIES 1024
/* The dataset's ACL in the kernel's system.posix_acl_access format: the PI
 * and every user whose approved grant holds now may read, each only while
 * their uid still has the account name it was listed under and is a login
 * account of fs (or root). Returns the size, or a negative errno. With
 * size 0 only the needed size is returned. */
int kurafs_dataset_acl(const struct kurafs *fs, const struct kura_dataset *ds, int64_t now, char *buf,
                       size_t size);

/* ---- FUSE operations (fs_ops.c, fs_refuse.c) ---- */
struct fuse_operations;
extern const struct fuse_operations kurafs_ops;
/* Adds the write-class operations, each refused with EROFS and logged. */
void kurafs_add_refused_ops(struct fuse_operations *ops);
/* Logs a refused write-class operation; returns -EROFS (R-CPY-3). */
int kurafs_refuse_write(struct kurafs *fs, const struct caller *c, const char *path, const char *op);

#endif
