/* The daemon's current catalog, swapped whole on reload. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kura/commands.h"
#include "kura/secmem.h"
#include "kura/lockdown.h"
#include "audit.h"

struct snapshot *snapshot_acquire(struct kurafs *fs)
{
    pthread_mutex_lock(&fs->snap_lock);
    struct snapshot *s = fs->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&fs->snap_lock);
    return s;
}

void snapshot_release(struct snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        kura_catalog_free(s->cat);
        free(s);
    }
}

static bool retired_locked(const struct kurafs *fs, const char *fp)
{
    for (size_t i = 0; i < fs->nretired; i++)
        if (strcmp(fs->retired[i], fp) == 0)
            return true;
    return false;
}

/* The keystore as it is on disk, with the passphrase file if it needs one. */
static int keys_load(struct kurafs *fs, struct kura_keystore **ks, struct kura_err *err)
{
    bool needs = false;
    char *pass = NULL;
    int rc = kura_keystore_needs_passphrase(fs->cfg->keys_dir, &needs, err);
    if (rc == 0 && needs) {
        if (!fs->passphrase_file) {
            kura_err_set(err, EINVAL, "the server key is passphrase-protected: mount with -o passphrase_file=FILE");
            rc = -1;
        } else if (!(pass = kura_cmd_read_passphrase(fs->passphrase_file, err))) {
            rc = -1;
        }
    }
    if (rc == 0)
        rc = kura_keystore_open(fs->cfg->keys_dir, pass, ks, err);
    kura_secure_free(pass); /* wipes */
    /* A copy older than a retirement this node was told of still has the
     * retired key: it is not held (and a copy whose current key it is
     * cannot serve at all). */
    pthread_mutex_lock(&fs->retired_lock);
    for (size_t i = 0; rc == 0 && i < fs->nretired; i++) {
        if (kura_keystore_forget(*ks, fs->retired[i]) != 0)
            continue;
        kura_err_set(err, ESTALE, "the current server key in %s is %.16s..., which a change retired: the copy of "
                     "the keystore is older than the change", fs->cfg->keys_dir, fs->retired[i]);
        kura_keystore_close(*ks);
        *ks = NULL;
        rc = -1;
    }
    pthread_mutex_unlock(&fs->retired_lock);
    return rc;
}

int kurafs_keys_retire(struct kurafs *fs, const char *fp)
{
    int rc = 0;
    pthread_mutex_lock(&fs->retired_lock);
    if (!retired_locked(fs, fp)) {
        void *grown = realloc(fs->retired, (fs->nretired + 1) * sizeof *fs->retired);
        if (grown) {
            fs->retired = grown;
            snprintf(fs->retired[fs->nretired++], sizeof *fs->retired, "%s", fp);
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&fs->retired_lock);
    pthread_rwlock_wrlock(&fs->ks_lock);
    if (fs->ks && kura_keystore_forget(fs->ks, fp) == 0) {
        kura_keystore_close(fs->ks); /* wipes */
        fs->ks = NULL;
    }
    kura_keycache_wipe(&fs->keycache);
    pthread_rwlock_unlock(&fs->ks_lock);
    return rc;
}

bool kurafs_keys_retired(struct kurafs *fs, const char *fp)
{
    pthread_mutex_lock(&fs->retired_lock);
    bool found = retired_locked(fs, fp);
    pthread_mutex_unlock(&fs->retired_lock);
    return found;
}

int kurafs_keys_open(struct kurafs *fs, struct kura_err *err)
{
    int rc = 0;
    pthread_rwlock_wrlock(&fs->ks_lock);
    if (!fs->ks)
        rc = keys_load(fs, &fs->ks, err);
    pthread_rwlock_unlock(&fs->ks_lock);
    return rc;
}

void kurafs_keys_wipe(struct kurafs *fs)
{
    pthread_rwlock_wrlock(&fs->ks_lock);
    kura_keystore_close(fs->ks); /* wipes the server key */
    fs->ks = NULL;
    kura_keycache_wipe(&fs->keycache);
    pthread_rwlock_unlock(&fs->ks_lock);
}

/* After kuractl key rotate or retire: dataset keys are wrapped to the new
 * key, and a retired key must not outlive its erasure in memory. The
 * caller holds reload_lock (so lockdown cannot change meanwhile). */
static void keys_refresh_locked(struct kurafs *fs)
{
    pthread_rwlock_rdlock(&fs->ks_lock);
    bool stale = fs->ks && kura_keystore_stale(fs->ks);
    pthread_rwlock_unlock(&fs->ks_lock);
    if (!stale)
        return;
    /* The new keys replace the old in one step (opens go on meanwhile);
     * if they cannot be opened, the old ones go all the same: a retired
     * key must not stay in memory. */
    struct kura_err err = {0};
    struct kura_keystore *fresh = NULL;
    if (keys_load(fs, &fresh, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: cannot open the server keys: %s", err.msg);
    pthread_rwlock_wrlock(&fs->ks_lock);
    struct kura_keystore *old = fs->ks;
    fs->ks = fresh;
    kura_keycache_wipe(&fs->keycache);
    pthread_rwlock_unlock(&fs->ks_lock);
    kura_keystore_close(old); /* wipes */
}

void kurafs_keys_refresh(struct kurafs *fs)
{
    pthread_mutex_lock(&fs->reload_lock);
    if (!atomic_load(&fs->lockdown))
        keys_refresh_locked(fs);
    pthread_mutex_unlock(&fs->reload_lock);
}

void kurafs_keys_describe(void *ctx, FILE *out)
{
    struct kurafs *fs = ctx;
    char fp[KURA_KEY_FINGERPRINT_LEN + 1];
    pthread_rwlock_rdlock(&fs->ks_lock);
    fputs("server keys in memory:", out);
    if (!fs->ks)
        fputs(atomic_load(&fs->lockdown) ? " none (lockdown)" : " none", out);
    for (size_t i = 0; fs->ks && kura_keystore_key_fingerprint(fs->ks, i, fp); i++)
        fprintf(out, "%s %s (%s)", i ? "," : "", fp, i ? "earlier" : "current");
    fputc('\n', out);
    pthread_rwlock_unlock(&fs->ks_lock);
    size_t kept;
    uint64_t used, read;
    kura_keycache_counts(&fs->keycache, &kept, &used, &read);
    fprintf(out, "file keys kept in memory: %zu (files opened since the state or the keys last changed; opens that "
                 "used kept keys %llu, that found none kept %llu)\n",
            kept, (unsigned long long)used, (unsigned long long)read);
}

/* Lockdown (R-ACC-7) is a state file: every dataset refused, the server
 * key wiped from memory; after unlock the key is opened again (reading
 * the passphrase file again if the key has one), as it is after the
 * server keys changed on disk. */
static void apply_lockdown(struct kurafs *fs)
{
    struct kura_lockdown l;
    struct kura_err err = {0};
    kura_lockdown_load(fs->cfg->state_dir, &l, &err); /* unreadable: on */
    atomic_store(&fs->lockdown, l.on);
    atomic_store(&fs->lockdown_epoch, l.epoch);
    if (l.on) {
        kurafs_keys_wipe(fs);
        return;
    }
    keys_refresh_locked(fs);
    if (kurafs_keys_open(fs, &err) != 0) {
        kura_notice(LOG_ERR, "kurafs: cannot open the server keys: %s", err.msg);
    }
}

int kurafs_state_load(struct kurafs *fs, struct kura_err *err)
{
    pthread_mutex_lock(&fs->reload_lock);
    struct kura_catalog *cat = NULL;
    int rc = kura_catalog_load(fs->cfg, &cat, err);
    if (rc == 0) {
        struct snapshot *s = calloc(1, sizeof *s);
        if (!s) {
            kura_catalog_free(cat);
            kura_err_set(err, ENOMEM, "out of memory loading the state");
            rc = -1;
        } else {
            s->cat = cat;
            atomic_init(&s->refs, 1);
            pthread_mutex_lock(&fs->snap_lock);
            struct snapshot *old = fs->current;
            fs->current = s;
            pthread_mutex_unlock(&fs->snap_lock);
            snapshot_release(old);
        }
    } else {
        kura_notice(LOG_ERR, "kurafs: reload refused, still serving the last good state: %s",
               err->msg);
        audit_state_refused(fs, err->msg);
    }
    apply_lockdown(fs);
    /* Even a failed reload re-decides open handles: it costs little and a
     * state that cannot load is a reason to look again, never to serve more. */
    atomic_fetch_add(&fs->epoch, 1);
    pthread_mutex_unlock(&fs->reload_lock);
    return rc;
}
