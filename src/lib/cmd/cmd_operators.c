/* The operator register (register.h, R-LOG-7): recorded after every state
 * change and by the daemon's maintenance, listed by kuractl operators. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/cluster.h"
#include "kura/json.h"
#include "kura/notify.h"
#include "kura/register.h"

const struct kura_cmd cmd_row_operators = {NULL, "operators", KURA_CMD_ANY_PI, 0, cmd_operators, "[--history] [--json]",
    "The operator register (作業者一覧): the members of group kura-admin, each with the time\n"
    "kura first recorded them, or with --history every change (added, removed, when, seen by\n"
    "whom); records any change first, verifies the register's hash chain (exit 1 if it does\n"
    "not verify). Operators, and PIs (for the checklist). --json: one array of objects."};

int kura_change_operators_observe(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_operators);
    char name[KURA_USER_MAX + 16], *changes = NULL;
    struct kura_err e = {0};
    int64_t now = cmd_now();
    int rc = kura_register_observe(env->cfg->state_dir, KURA_ADMIN_GROUP, cmd_actor_name(c, name, sizeof name),
                                   actor->uid, actor->via, now, env->cfg->zone, &changes, &e);
    if (rc != 0)
        fprintf(err, "kuractl: warning: the operator register (group %s) was not updated: %s\n", KURA_ADMIN_GROUP,
                e.msg);
    if (!changes)
        return rc == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
    struct cmd_change ch = {.action = "operators", .target = KURA_ADMIN_GROUP, .after = changes,
                            .audit_event = KURA_AUDIT_POLICY_CHANGE};
    cmd_audit_change(c, NULL, &ch);
    char message[KURA_TEXT_MAX + 64];
    snprintf(message, sizeof message, "the operators (group %s) changed: %.200s", KURA_ADMIN_GROUP, changes);
    struct kura_notice n = {.event = "operator-change", .time = now, .message = message};
    if (kura_notify(env->cfg, &n, env->socket_mode ? 0 : CMD_NOTIFY_WAIT_MS, &e) != 0)
        fprintf(err, "kuractl: warning: notification not sent: %s\n", e.msg);
    free(changes);
    return rc == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
}

void cmd_operators_observe(const struct kura_cmd_ctx *c)
{
    /* In cluster mode under the cluster's lock: the register's file lock
     * does not hold across nodes, and a node's maintainer appends too. The
     * daemon does not wait for it: a reload is asked for by a kuractl that
     * holds it; whoever holds it observes after their change, and the
     * maintainer every tick. */
    struct kura_cluster *db = NULL;
    struct kura_err e = {0};
    int wait_ms = c->env->socket_mode ? 0 : (int)c->env->cfg->cluster_lease_seconds * 1000 * 6;
    if (cmd_cluster_mode(c) &&
        (cmd_cluster_connect(c, "operators", &db, &e) != 0 || kura_cluster_lock(db, wait_ms, &e) != 0)) {
        if (!c->env->socket_mode || e.code != EBUSY)
            fprintf(c->err, "kuractl: warning: the operator register (group %s) was not updated: %s\n",
                    KURA_ADMIN_GROUP, e.msg);
        kura_cluster_close(db);
        return;
    }
    kura_change_operators_observe(c->env, c->actor, c->err);
    kura_cluster_close(db); /* the lock ends with the connection */
}

struct history {
    const struct kura_cmd_ctx *c;
    bool json, first;
};

/* One change of the register, as --history prints it. */
static int print_record(const struct kura_ledger_record *r, void *arg)
{
    struct history *h = arg;
    bool added = strcmp(r->action, KURA_REGISTER_ADDED) == 0;
    if (!h->json) {
        fprintf(h->c->out, "%-25s %-8s %-32s seen by %s%s%s%s\n", r->time, added ? "added" : "removed", r->target,
                r->actor, r->detail[0] ? " (" : "", r->detail, r->detail[0] ? ")" : "");
        return 0;
    }
    char buf[1024];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "time", r->time);
    kura_json_add_string(&w, "change", added ? "added" : "removed");
    kura_json_add_string(&w, "user", r->target);
    kura_json_add_string(&w, "seen_by", r->actor);
    kura_json_add_string(&w, "how", r->detail);
    int rc = cmd_json_item(h->c, &w, h->first, r->target);
    h->first = false;
    return rc;
}

int cmd_operators(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool history = false, json = false;
    const struct cmd_opt opts[] = {{"history", false, NULL, &history}, {"json", false, NULL, &json}, {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    /* PIs need it for the checklist (作業者一覧); others are refused. */
    if (!c->actor->operator) {
        char **led = NULL;
        size_t nled = 0;
        struct kura_err e = {0};
        if (cmd_led_datasets(c, &led, &nled, &e) != 0)
            return cmd_fail_err(c, &e);
        cmd_strv_free(led, nled);
        if (!nled)
            return cmd_fail(c, "only operators and the PI of a dataset may read the operator register");
    }
    cmd_operators_observe(c); /* the list is as of now */
    struct history h = {.c = c, .json = json, .first = true};
    if (json)
        fputs("[", c->out);
    else if (history)
        fprintf(c->out, "%-25s %-8s %-32s %s\n", "TIME", "CHANGE", "USER", "SEEN BY");
    struct kura_register reg;
    struct kura_err e = {0};
    if (kura_register_load(c->env->cfg->state_dir, history ? print_record : NULL, &h, &reg, &e) != 0) {
        if (json)
            fputs("]\n", c->out);
        return cmd_fail(c, "the operator register does not verify: %s", e.msg);
    }
    int rc = KURA_EXIT_OK;
    if (!history && !json) {
        fprintf(c->out, "%-32s %s\n", "OPERATOR", "SINCE");
        for (size_t i = 0; i < reg.n; i++)
            fprintf(c->out, "%-32s %s\n", reg.ops[i].name, reg.ops[i].since);
    }
    for (size_t i = 0; !history && json && i < reg.n && rc == KURA_EXIT_OK; i++) {
        char buf[256];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "user", reg.ops[i].name);
        kura_json_add_string(&w, "since", reg.ops[i].since);
        if (cmd_json_item(c, &w, i == 0, reg.ops[i].name) != 0)
            rc = KURA_EXIT_FAIL;
    }
    if (json)
        fputs("]\n", c->out);
    else
        fprintf(c->out, "register of group %s verified: %zu record(s), head %s\n", KURA_ADMIN_GROUP, reg.nrecords,
                reg.head);
    kura_register_free(&reg);
    return rc;
}
