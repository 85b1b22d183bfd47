/* Who may be a dataset's PI, and kuractl dataset set-pi ID USER: an
 * operator hands a dataset to another PI (the PI left, or the approval
 * names a new one). The PI is bound to uid and account name as dataset add
 * binds it; the change is one state transaction, recorded in the ledger
 * with both names and the actor; both PIs are notified; the daemon reloads
 * at once, so the PI's rights (PI-only commands, reading) move with it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/dsfile.h"
#include "kura/notify.h"

int cmd_pi_account(const char *name, uid_t *uid, struct kura_err *e)
{
    if (cmd_user_uid(name, uid, e) != 0)
        return -1;
    /* Separation of duties (issue 13): no one holds both roles, and nobody
     * else could confirm an operator's reading of their own dataset. */
    struct kura_actor named;
    if (kura_actor_resolve(*uid, 0, 0, &named, e) != 0)
        return -1;
    if (named.operator) {
        kura_err_set(e, EPERM, "%s is an operator (root or group %s); a PI may not also be an operator: name the "
                     "researcher's own account", name, KURA_ADMIN_GROUP);
        return -1;
    }
    return 0;
}

/* One notice per PI, each naming that PI, so a site's mail goes to both. */
static void notify_pis(const struct kura_cmd_ctx *c, const char *id, const char *old_pi, const char *new_pi,
                       const char *message)
{
    const char *pis[2] = {old_pi, new_pi};
    for (int i = 0; i < 2; i++) {
        struct kura_notice n = {.event = "pi-change", .dataset = id, .pi = pis[i], .users = "", .time = cmd_now(),
                                .message = message};
        struct kura_err e = {0};
        if (kura_notify(c->env->cfg, &n, c->env->socket_mode ? 0 : CMD_NOTIFY_WAIT_MS, &e) != 0)
            fprintf(c->err, "kuractl: warning: notification to %s not sent: %s\n", pis[i], e.msg);
    }
}

const struct kura_cmd cmd_row_dataset_set_pi = {"dataset", "set-pi", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_set_pi, "ID USER",
    "Makes USER the PI of dataset ID instead of the current one (bound to USER's uid and\n"
    "account name, as dataset add binds it); recorded in the ledger, both PIs notified\n"
    "(notify_command, syslog). An operator may not be the PI, and USER must not hold a grant\n"
    "on the dataset (remove it first). The PI's rights move at once."};

int kura_change_set_pi(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_set_pi_request *rq, struct kura_set_pi_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_set_pi);
    memset(res, 0, sizeof *res);
    /* Who asks before who is named: the account check would tell anyone
     * which accounts are operators. */
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_err e = {0};
    uid_t uid;
    if (kura_user_name_check(rq->user, &e) != 0 || cmd_pi_account(rq->user, &uid, &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    const struct kura_grant *held = kura_dataset_grant(ds, uid);
    for (size_t i = 0; !held && i < ds->ngrants; i++)
        if (strcmp(ds->grants[i].user, rq->user) == 0)
            held = &ds->grants[i];
    if (ds->pi_uid == uid && strcmp(ds->pi, rq->user) == 0) {
        cmd_fail(c, "%s is the PI of dataset %s already", rq->user, ds->id);
    } else if (held) {
        /* Refused rather than dropped silently: the grant may carry an
         * approval the PI's role would not replace. */
        cmd_fail(c, "%s holds a grant on dataset %s (%s); a PI is not also a listed user: remove it first (kuractl "
                 "user remove %s %s)", rq->user, ds->id, held->user, ds->id, held->user);
    } else {
        char old[KURA_USER_MAX + 1], before[KURA_USER_MAX + 32], after[KURA_USER_MAX + 32], who[96];
        snprintf(old, sizeof old, "%s", ds->pi);
        /* The old PI's uid loses the dataset (unless the same uid stays PI
         * under another name: then nothing is forbidden to restrict). */
        struct kura_restriction r = cmd_restriction(KURA_RESTRICT_USER, ds->id, ds->pi_uid, ds->pi, NULL);
        bool restricts = ds->pi[0] && ds->pi_uid != uid;
        snprintf(before, sizeof before, "pi=%s uid=%u", ds->pi, (unsigned)ds->pi_uid);
        snprintf(after, sizeof after, "pi=%s uid=%u", rq->user, (unsigned)uid);
        snprintf(ds->pi, sizeof ds->pi, "%s", rq->user);
        ds->pi_uid = uid;
        struct cmd_change ch = {.action = "dataset-set-pi", .target = ds->id, .before = before, .after = after,
                                .audit_event = KURA_AUDIT_POLICY_CHANGE, .restriction = restricts ? &r : NULL};
        if (cmd_txn_commit(c, &t, true, false, &ch) == 0) {
            snprintf(res->message, sizeof res->message, "the PI of dataset %s is now %s, no longer %s (changed by %s)",
                     ds->id, rq->user, old, cmd_actor_label(c, who, sizeof who));
            notify_pis(c, ds->id, old, rq->user, res->message);
            rc = KURA_EXIT_OK;
        }
    }
    cmd_txn_end(&t);
    return rc;
}

int cmd_dataset_set_pi(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[2];
    int rc = cmd_parse_id_user(c, argc, argv, pos);
    if (rc != KURA_EXIT_OK)
        return rc;
    struct kura_set_pi_request rq = {.dataset = pos[0], .user = pos[1]};
    struct kura_set_pi_result res;
    rc = kura_change_set_pi(c->env, c->actor, c->err, &rq, &res);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "%s\n", res.message);
    return rc;
}
