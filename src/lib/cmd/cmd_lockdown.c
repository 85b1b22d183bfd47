/* kuractl lockdown --reason TEXT / kuractl unlock (R-ACC-7): every dataset
 * refused at once, server-wide, until unlocked. The state is STATE/lockdown
 * (lockdown.h); the daemon reads it on the reload that follows. Recorded in
 * the audit log (it changes no dataset, so no dataset ledger). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/changes.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/lockdown.h"
#include "kura/notify.h"

static int lock_server(const struct kura_cmd_ctx *c)
{
    char *path = kura_layout_join(c->env->cfg->state_dir, KURA_LOCKDOWN_LOCK);
    struct kura_err e = {0};
    if (!path) {
        cmd_fail(c, "out of memory");
        return -1;
    }
    int fd = kura_lock(path, 30000, &e);
    free(path);
    if (fd < 0)
        cmd_fail_err(c, &e);
    return fd;
}

const struct kura_cmd cmd_row_lockdown = {NULL, "lockdown", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_ENDS_ACCESS, cmd_lockdown, "--reason TEXT",
    "Incident lockdown: every dataset on this server is refused at once, open handles\n"
    "included, until kuractl unlock. Kept in the state directory, so it survives a restart."};

int kura_change_lockdown(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_lockdown_request *rq)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_lockdown);
    struct kura_err e = {0};
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    if (cmd_required_text(c, rq->reason, "the reason") != 0)
        return KURA_EXIT_FAIL;
    int fd = lock_server(c);
    if (fd < 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct cmd_txn cluster = {.lock_fd = -1};
    if (cmd_cluster_lock(c, &cluster) != 0)
        goto out;
    struct kura_lockdown l;
    if (kura_lockdown_load(c->env->cfg->state_dir, &l, &e) == 0 && l.on) {
        char when[48];
        cmd_fail(c, "the server is locked down already (since %s: %s)", cmd_time(c, l.at, when, sizeof when), l.reason);
        goto out;
    }
    /* An unreadable lockdown file counts as locked down; replacing it with
     * a good one keeps the server locked down. */
    memset(&l, 0, sizeof l);
    l.on = true;
    snprintf(l.reason, sizeof l.reason, "%s", rq->reason);
    l.at = cmd_now();
    cmd_actor_name(c, l.by, sizeof l.by);
    struct cmd_change ch = {.action = "lockdown", .detail = rq->reason, .audit_event = KURA_AUDIT_LOCKDOWN};
    struct kura_restriction everything = cmd_restriction(KURA_RESTRICT_ALL, NULL, 0, NULL, NULL);
    cmd_cluster_restrict(c, &cluster, &everything);
    if (cmd_cluster_stamp(c, &cluster, ch.action, KURA_STAMP_LOCKDOWN) != 0)
        goto out;
    l.epoch = cluster.epoch;
    if (kura_lockdown_save(c->env->cfg->state_dir, &l, &e) != 0) {
        cmd_fail_err(c, &e);
        cmd_cluster_announce(c, &cluster, ch.action, false); /* dropped */
        goto out;
    }
    cmd_audit_change(c, NULL, &ch);
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, NULL);
    rc = cmd_cluster_announce(c, &cluster, ch.action, true) == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
    cmd_notify(c, &(struct kura_notice){.event = "lockdown", .reason = l.reason, .by = l.by, .time = l.at,
                                        .message = "the server is locked down: every dataset is refused"});
out:
    cmd_cluster_unlock(&cluster);
    kura_unlock(fd);
    return rc;
}

int cmd_lockdown(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_lockdown_request rq = {0};
    const struct cmd_opt opts[] = {{"reason", true, &rq.reason, NULL}, {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    int rc = cmd_required_option(c, rq.reason, "--reason", NULL);
    if (rc != KURA_EXIT_OK)
        return rc;
    rc = kura_change_lockdown(c->env, c->actor, c->err, &rq);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "lockdown: every dataset is refused until kuractl unlock\n");
    return rc;
}

const struct kura_cmd cmd_row_unlock = {NULL, "unlock", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_unlock, "",
    "Ends a lockdown; each dataset is served again as its own policy says."};

int kura_change_unlock(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_unlock);
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    int fd = lock_server(c);
    if (fd < 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_err e = {0};
    struct cmd_txn cluster = {.lock_fd = -1};
    if (cmd_cluster_lock(c, &cluster) != 0)
        goto out;
    struct kura_lockdown l;
    int loaded = kura_lockdown_load(c->env->cfg->state_dir, &l, &e);
    if (loaded == 0 && !l.on) {
        cmd_fail(c, "the server is not locked down");
        goto out;
    }
    char detail[KURA_TEXT_MAX + 64];
    snprintf(detail, sizeof detail, "lockdown was: %s", loaded == 0 ? l.reason : "(unreadable lockdown file)");
    struct cmd_change ch = {.action = "unlock", .detail = detail, .audit_event = KURA_AUDIT_UNLOCK};
    if (cmd_cluster_stamp(c, &cluster, ch.action, KURA_STAMP_LOCKDOWN) != 0)
        goto out;
    /* A single server removes the file. A cluster leaves a stamped unlocked
     * record: a node's stale copy, with the lockdown or with no file at all,
     * carries an older epoch than the unlock, so the node tells it apart. */
    int saved;
    if (cluster.epoch) {
        struct kura_lockdown off = {.on = false, .at = cmd_now(), .epoch = cluster.epoch};
        cmd_actor_name(c, off.by, sizeof off.by);
        saved = kura_lockdown_save(c->env->cfg->state_dir, &off, &e);
    } else
        saved = kura_lockdown_clear(c->env->cfg->state_dir, &e);
    if (saved != 0) {
        cmd_fail_err(c, &e);
        cmd_cluster_announce(c, &cluster, ch.action, false); /* dropped */
        goto out;
    }
    cmd_audit_change(c, NULL, &ch);
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, NULL);
    rc = cmd_cluster_announce(c, &cluster, ch.action, true) == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
    char by[sizeof l.by];
    cmd_notify(c, &(struct kura_notice){.event = "unlock", .reason = detail, .by = cmd_actor_name(c, by, sizeof by),
                                        .time = cmd_now(), .message = "the server is unlocked"});
out:
    cmd_cluster_unlock(&cluster);
    kura_unlock(fd);
    return rc;
}

int cmd_unlock(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    int rc = kura_change_unlock(c->env, c->actor, c->err);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "unlocked: datasets are served again as their policies say\n");
    return rc;
}
