/* The state changes as plain functions: kuractl's handlers (argv parsed
 * into a request, the result printed), the control socket (the same
 * handlers, in the daemon) and the daemon's maintenance thread call them.
 * Every command that changes state is one of these; argv stops at the
 * handler, which checks only what a command line has (usage, --yes).
 *
 * Each takes where it runs (env), who asks (actor, from
 * kura_actor_resolve: never a claim) and where its errors and warnings go
 * (err: one line each, "kuractl dataset destroy: ..."), and a parsed
 * request; it checks the actor's role and, for a change of one dataset,
 * that it is not destroyed, as the change begins (so no caller can skip
 * them), makes the change atomically with its ledger and audit records,
 * and fills the result with what kuractl prints. It prints nothing else.
 * Returns KURA_EXIT_OK or KURA_EXIT_FAIL (the reason said on err). Values
 * in a request are checked by the caller's parser as the command line's
 * are (ids, text: model.h), and again where a bad one could do harm. */
#ifndef KURA_CHANGES_H
#define KURA_CHANGES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kura/commands.h"
#include "kura/keystore.h"
#include "kura/model.h"

/* ---- dataset destroy (crypto-erasure; R-REV-2, R-REV-3) ---------------------- */

struct kura_destroy_request {
    const char *dataset;
    bool payloads;                  /* remove the ciphertext too */
    bool dry_run;                   /* only the preview: nothing changes */
};
struct kura_destroy_result {
    bool already;                   /* destroyed before: what was left is finished */
    char *report;                   /* the destruction report (free with kura_destroy_result_free) */
    size_t report_len;
    char *preview;                  /* with dry_run: who and what it destroys (free) */
};
/* The caller has the destruction confirmed (kuractl: --yes or the
 * terminal; the daemon: the grace period). */
int kura_change_destroy(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                        const struct kura_destroy_request *rq, struct kura_destroy_result *res);
void kura_destroy_result_free(struct kura_destroy_result *res);

/* ---- withdraw (consent withdrawal; R-REV-1) ----------------------------------- */

struct kura_withdraw_request {
    const char *dataset, *sample, *ref;
    bool dry_run;                   /* only the preview: nothing changes */
    bool confirmed;                 /* else only finishing an earlier withdrawal proceeds */
};
struct kura_withdraw_result {
    bool already;                   /* withdrawn before: remaining keys destroyed now */
    bool refused_unconfirmed;       /* not confirmed: nothing changed and nothing said; the
                                       caller shows the preview and asks for confirmation */
    bool no_sample_map;             /* no file of the dataset names any sample */
    size_t nfiles, nshared, keys_destroyed;
    char files[400], shared[300];   /* the paths, space-separated ("..." when cut) */
    char *preview;                  /* with dry_run or refused_unconfirmed: what it does (free) */
};
int kura_change_withdraw(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_withdraw_request *rq, struct kura_withdraw_result *res);
void kura_withdraw_result_free(struct kura_withdraw_result *res);

/* ---- init: a new server's config, state directories and keys --------------- */

struct kura_init_request {
    const char *root;                    /* NULL, or the directory every path lives under */
    const char *passphrase_file;         /* NULL, or the new server key's passphrase (first line) */
};
/* How far a step of init went. */
enum kura_init_step { KURA_INIT_NOT_REACHED, KURA_INIT_CREATED, KURA_INIT_KEPT };
struct kura_init_result {                /* set as the steps are done, also on failure; free it */
    char *config;                        /* the config file's path (env->config_path, or ROOT's, or the default) */
    enum kura_init_step config_file, server_key, audit_key;
    bool passphrase_protected;           /* the new server key */
    char *server_key_path, *audit_key_path;
    char *state_dir, *audit_log, *socket;
    char *pubkey;                        /* on success: the server's public key file, for the archive */
};
/* Root (the effective uid) alone: it creates root-only key files. Never
 * replaces a key; run again, it changes nothing and says so. */
int kura_change_init(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                     const struct kura_init_request *rq, struct kura_init_result *res);
void kura_init_result_free(struct kura_init_result *res);

/* ---- dataset add (R-LVL-1, R-REV-5) ------------------------------------------ */

struct kura_dataset_add_request {
    const char *dataset, *pi, *title;    /* title: "" for none */
    enum kura_kind kind;
    enum kura_level level;
    enum kura_guard_mode guard;
    int64_t from, until;                 /* the period, half-open */
    const char *ethics;                  /* NULL, or the ethics approval's reference ... */
    int64_t ethics_until;                /* ... and its end */
};
struct kura_dataset_add_result {
    char summary[768];                   /* "pi=... period=... kind=... level=... guard=...", as the ledger's */
};
int kura_change_dataset_add(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_dataset_add_request *rq, struct kura_dataset_add_result *res);

/* ---- dataset extend (R-ACC-5, R-REV-5) ---------------------------------------- */

struct kura_extend_request {
    const char *dataset;
    int64_t until;                       /* the new end */
    bool until_instant;                  /* given as a time stamp: shown as instants, not days */
    const char *ref;                     /* the approval of the extension: required */
    const char *provider_permission;     /* NULL, or the data provider's (required for AGD) */
    const char *ethics;                  /* NULL, or a new ethics approval's reference ... */
    int64_t ethics_until;                /* ... and its end */
};
struct kura_extend_result {
    char before[48], after[48];          /* the old and new end, as said */
};
int kura_change_extend(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_extend_request *rq, struct kura_extend_result *res);

/* ---- dataset import: deliveries or plaintext into the store, all or nothing ---- */

struct kura_import_request {
    const char *dataset;
    const char *const *paths;            /* files and directories (absolute through the daemon) */
    size_t npaths;
    const char *samples_path;            /* NULL, or the samples map (file -> samples) */
    bool remove_source;                  /* remove the sources once committed */
    bool encrypt;                        /* the sources are plaintext: encrypt them */
    bool no_verify;                      /* .c4gh: skip the segment check */
};
struct kura_import_result {
    bool committed;                      /* files.tsv names the new files (a later step may still fail) */
    size_t nfiles;
    uint64_t bytes;                      /* of the sources */
    char withdrawn[420];                 /* " (N of them of withdrawn samples, ...: paths)", or "" */
};
/* Warnings (withdrawn samples, no samples map, sources left) go to err;
 * the progress bar too when err is a terminal. */
int kura_change_import(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_import_request *rq, struct kura_import_result *res);

/* ---- dataset set-pi ------------------------------------------------------------- */

struct kura_set_pi_request {
    const char *dataset, *user;          /* user: the new PI, no operator */
};
struct kura_set_pi_result {
    char message[512];                   /* what changed and who changed it, as both PIs are told */
};
int kura_change_set_pi(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_set_pi_request *rq, struct kura_set_pi_result *res);

/* ---- dataset suspend / resume ----------------------------------------------- */

struct kura_suspend_request {
    const char *dataset;
    const char *reason;             /* suspend: required */
};
int kura_change_suspend(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                        const struct kura_suspend_request *rq);
int kura_change_resume(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_suspend_request *rq);

/* ---- user add / remove (R-ACC-2, R-ACC-5, R-ACC-6) ------------------------- */

struct kura_user_add_request {
    const char *dataset, *user;
    enum kura_role role;            /* co-investigator or contractor */
    int64_t until;                  /* the grant's end; 0: the dataset's */
    const char *approval;           /* "" or the data provider's approval */
    const char *institution, *email; /* NULL or "": not recorded */
    const char *trained;            /* NULL or YYYY-MM-DD; required with [server] require_training */
};
struct kura_user_add_result {
    struct kura_grant grant;        /* as listed; pending: awaits the PI's approval */
};
int kura_change_user_add(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_user_add_request *rq, struct kura_user_add_result *res);

struct kura_user_remove_request {
    const char *dataset, *user;
};
int kura_change_user_remove(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_user_remove_request *rq);

/* The PI alone approves a grant an operator made (issue 13). */
struct kura_user_approve_request {
    const char *dataset, *user;
};
struct kura_user_approve_result {
    char pi[KURA_USER_MAX + 1];          /* who approved */
};
int kura_change_user_approve(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                             const struct kura_user_approve_request *rq, struct kura_user_approve_result *res);

/* ---- key rotate / retire (issue 13 §1): the server key, not through the daemon ---- */

struct kura_key_rotate_result {
    char old_fp[KURA_KEY_FINGERPRINT_LEN + 1], new_fp[KURA_KEY_FINGERPRINT_LEN + 1];
    size_t rewrapped;                    /* dataset keys rewrapped to the new key */
    char *pubkey;                        /* the new public key file's text, for the archive (free) */
};
/* Uses env->passphrase for the new key. */
int kura_change_key_rotate(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                           struct kura_key_rotate_result *res);
void kura_key_rotate_result_free(struct kura_key_rotate_result *res);

struct kura_key_retire_request {
    const char *fp;                      /* an earlier server key's fingerprint */
};
struct kura_key_retire_result {
    char note[200];                      /* "retired TIME by WHO", as the keystore keeps it */
    size_t rewrapped;                    /* dataset keys rewrapped first */
};
/* The caller has the erasure confirmed (kuractl: --yes or the terminal). */
int kura_change_key_retire(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                           const struct kura_key_retire_request *rq, struct kura_key_retire_result *res);

/* The grant records (R-ACC-9): each given one replaces the recorded one
 * (NULL: kept; "" clears an institution or e-mail); trained is a day
 * that has begun. */
struct kura_user_update_request {
    const char *dataset, *user;
    const char *institution, *email, *trained;
};
int kura_change_user_update(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_user_update_request *rq);

/* ---- the operator register (R-LOG-7): group kura-admin's members ------------ */

/* Records each member added or removed since the register's last record
 * (register.h), with an audit record and a notice (event operator-change).
 * In cluster mode the caller holds the cluster's lock (kura_cluster_lock):
 * the register's file lock does not hold across nodes. */
int kura_change_operators_observe(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err);

/* ---- a cluster's interrupted changes (docs/cluster.md) ----------------------- */

/* Resolves the pending epochs that kuractls killed in the middle of a
 * change left: each is made done and announced when the shared state
 * shows the change written, dropped when not, so the nodes apply it and
 * lift its restriction. Every change does this first; a node's maintainer
 * does it each tick, so a killed change does not wait for the next one.
 * The caller holds the cluster's lock on db (kura_cluster_lock: no change
 * runs); each resolution is said on log, after who ("kurafs"). */
struct kura_cluster;
int kura_change_cluster_resolve(const struct kura_cmd_env *env, struct kura_cluster *db, const char *who, FILE *log,
                                struct kura_err *err);
/* The daemon, at its start: opens the database session its changes run
 * on and keeps it in env->cluster_spare (nothing without one), so the
 * first change too starts on an open session. */
int kura_change_cluster_keep(const struct kura_cmd_env *env, struct kura_err *err);

/* ---- lockdown / unlock (R-ACC-7): the whole server -------------------------- */

struct kura_lockdown_request {
    const char *reason;             /* lockdown: required */
};
int kura_change_lockdown(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_lockdown_request *rq);
int kura_change_unlock(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err);

/* ---- reload: the daemon re-reads state changed behind its back ----------------- */

/* Tells the daemon (env->on_state_change) that dataset's state files, or
 * with NULL any, changed: kuractl sends it after a change made directly. */
int kura_change_reload(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const char *dataset);

#endif
