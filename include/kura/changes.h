/* The state changes as plain functions: kuractl's handlers (argv parsed
 * into a request, the result printed), the control socket (the same
 * handlers, in the daemon) and the daemon's maintenance thread call them.
 *
 * Each takes where it runs (env), who asks (actor, from
 * kura_actor_resolve: never a claim) and where its errors and warnings go
 * (err: one line each, "kuractl dataset destroy: ..."), and a parsed
 * request; it checks the actor's role and, for a change of one dataset,
 * that it is not destroyed, as the change begins (so no caller can skip
 * them), makes the change atomically with its ledger and audit records,
 * and fills the result. It prints nothing else. Returns KURA_EXIT_OK or
 * KURA_EXIT_FAIL (the reason said on err). Values in a request are
 * checked by the caller's parser as the command line's are (ids, text:
 * model.h), and again where a bad one could do harm. */
#ifndef KURA_CHANGES_H
#define KURA_CHANGES_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kura/commands.h"
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

/* The grant records (R-ACC-9): each given one replaces the recorded one
 * (NULL: kept; "" clears an institution or e-mail); trained is a day
 * that has begun. */
struct kura_user_update_request {
    const char *dataset, *user;
    const char *institution, *email, *trained;
};
int kura_change_user_update(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_user_update_request *rq);

/* ---- the operator register (R-LOG-6): group kura-admin's members ------------ */

/* Records each member added or removed since the register's last record
 * (register.h), with an audit record and a notice (event operator-change). */
int kura_change_operators_observe(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err);

/* ---- lockdown / unlock (R-ACC-7): the whole server -------------------------- */

struct kura_lockdown_request {
    const char *reason;             /* lockdown: required */
};
int kura_change_lockdown(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_lockdown_request *rq);
int kura_change_unlock(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err);

#endif
