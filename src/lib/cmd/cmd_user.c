#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/changes.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/json.h"
#include "kura/ledger.h"
#include "kura/notify.h"
#include "kura/policy.h"
#include "kura/text.h"
#include "kura/when.h"

static struct kura_grant *grant_by_name(struct kura_dataset *ds, const char *name)
{
    for (size_t i = 0; i < ds->ngrants; i++)
        if (strcmp(ds->grants[i].user, name) == 0)
            return &ds->grants[i];
    return NULL;
}

/* Separation of duties (issue 13): a grant an operator makes to an
 * operator, to root or to themselves (root acting for a logged-in person
 * included) needs the PI's approval; the PI's own grant is that approval. */
static bool needs_pi_approval(const struct kura_cmd_ctx *c, const struct kura_dataset *ds,
                              const struct kura_actor *grantee)
{
    if (cmd_actor_is_pi(c, ds))
        return false;
    char login[sizeof c->actor->via];
    snprintf(login, sizeof login, "login %s", grantee->name);
    return grantee->operator || grantee->uid == c->actor->uid || strcmp(c->actor->via, login) == 0;
}

/* How uid is listed in ds as its account is now: the mount's verdict
 * (kura_policy_listing) with the name the uid has today. */
static enum kura_reason listing_now(const struct kura_dataset *ds, uid_t uid)
{
    struct kura_actor now;
    struct kura_err e = {0};
    if (kura_actor_resolve(uid, 0, 0, &now, &e) != 0)
        return KURA_DENY_ACCOUNT_CHANGED; /* cannot tell: show it as needing the PI */
    return kura_policy_listing(ds, uid, now.name);
}

/* Tells the PI of a grant someone else made on their dataset. */
static void notify_pi(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, const struct kura_grant *g,
                      const char *message)
{
    struct kura_notice n = {.event = g->pending ? "grant-pending" : "grant-added", .dataset = ds->id, .pi = ds->pi,
                            .users = g->user, .time = g->added_at, .message = message};
    struct kura_err e = {0};
    if (kura_notify(c->env->cfg, &n, c->env->socket_mode ? 0 : CMD_NOTIFY_WAIT_MS, &e) != 0)
        fprintf(c->err, "kuractl: warning: notification not sent: %s\n", e.msg);
}

/* A person's text in a listing: escaped (text.h), "-" for none. */
static void put_text_or_dash(FILE *out, const char *s)
{
    if (!s[0])
        fputc('-', out);
    else
        kura_text_put_escaped(out, s, strlen(s));
}

/* "institution=... email=... trained=2026-11-20", the records set; "" for none. */
static void records_text(const struct kura_grant *g, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s%s%s%s%s%s", g->institution[0] ? "institution=" : "", g->institution,
             g->institution[0] && (g->email[0] || g->trained[0]) ? " " : "", g->email[0] ? "email=" : "", g->email,
             g->email[0] && g->trained[0] ? " " : "", g->trained[0] ? "trained=" : "", g->trained);
}

/* "role=co-investigator uid=1001 until=2027-03-31 approval=... institution=...":
 * the uid names the account, as a later one may take the same name; it
 * comes before any text a person chose (cmd_history.c reads it there). */
static void grant_text(const struct kura_cmd_ctx *c, const struct kura_grant *g, char *buf, size_t len)
{
    char last[48];
    snprintf(buf, len, "role=%s uid=%u until=%s%s%s", kura_role_name(g->role), (unsigned)g->uid,
             cmd_last_day(c, g->until, last, sizeof last), g->approval[0] ? " approval=" : "", g->approval);
    size_t n = strlen(buf);
    if ((g->institution[0] || g->email[0] || g->trained[0]) && n + 1 < len) {
        buf[n++] = ' ';
        records_text(g, buf + n, len - n);
    }
}

/* "uid=1001 institution=... email=...": a user update's text, the account first. */
static void update_text(const struct kura_grant *g, char *buf, size_t len)
{
    int n = snprintf(buf, len, "uid=%u", (unsigned)g->uid);
    if (n > 0 && (size_t)n + 1 < len && (g->institution[0] || g->email[0] || g->trained[0])) {
        buf[n++] = ' ';
        records_text(g, buf + n, len - (size_t)n);
    }
}

/* Sets the grant records given (NULL: kept), each checked first, so that
 * a bad one changes nothing (R-ACC-9). */
static int set_records(const struct kura_cmd_ctx *c, struct kura_grant *g, const char *institution, const char *email,
                       const char *trained)
{
    struct kura_err e = {0};
    int64_t day;
    if (institution && kura_text_check(institution, "--institution", &e) != 0)
        return cmd_fail(c, "%s", e.msg), -1;
    /* The ledger's text of a grant ends with its records, the institution
     * first, and the reports read them back from the end (cmd_history.c). */
    static const char *const keys[] = {" email=", " trained=", " pending="};
    for (size_t i = 0; institution && i < sizeof keys / sizeof *keys; i++)
        if (strstr(institution, keys[i]))
            return cmd_fail(c, "--institution holds \"%s\", which the ledger's record of the grant would read as "
                               "another record", keys[i] + 1), -1;
    if (email && email[0] && kura_email_check(email, &e) != 0)
        return cmd_fail(c, "--email: %s", e.msg), -1;
    if (trained && kura_date_parse(trained, c->env->cfg->zone, &day, &e) != 0)
        return cmd_fail(c, "--trained: %s", e.msg), -1;
    if (trained && day > cmd_now())
        return cmd_fail(c, "--trained %s is in the future: give the day the training was completed", trained), -1;
    if (institution)
        snprintf(g->institution, sizeof g->institution, "%s", institution);
    if (email)
        snprintf(g->email, sizeof g->email, "%s", email);
    if (trained)
        snprintf(g->trained, sizeof g->trained, "%s", trained);
    return 0;
}

const struct kura_cmd cmd_row_user_add = {"user", "add", KURA_CMD_PI, KURA_CMD_CHANGES_STATE, cmd_user_add,
    "ID USER [--role co-investigator|contractor] [--until WHEN] [--approval TEXT]\n"
    "                   [--institution TEXT] [--email ADDR] [--trained DATE]",
    "Lists USER as a data user of dataset ID from now until WHEN (default: the dataset's end;\n"
    "never later). AGD datasets need --approval, the data provider's approval reference.\n"
    "--institution, --email and --trained (the day USER completed the security training and\n"
    "acknowledged the guidelines, not in the future) are recorded with the grant; with\n"
    "[server] require_training = yes, --trained is required.\n"
    "System accounts are refused; an operator's grant to an operator, to root or to themselves\n"
    "waits for the PI's approval (user approve); the PI is notified of grants others make."};

int kura_change_user_add(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_user_add_request *rq, struct kura_user_add_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_user_add);
    struct kura_err e = {0};
    struct kura_grant g;
    memset(&g, 0, sizeof g);
    memset(res, 0, sizeof *res);
    const char *approval = rq->approval ? rq->approval : "";
    if (kura_user_name_check(rq->user, &e) != 0 || kura_text_check(approval, "the approval", &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (rq->role != KURA_ROLE_CO_INVESTIGATOR && rq->role != KURA_ROLE_CONTRACTOR)
        return cmd_fail(c, "a user's role is co-investigator or contractor");
    g.role = rq->role;
    if (set_records(c, &g, rq->institution, rq->email, rq->trained && rq->trained[0] ? rq->trained : NULL) != 0)
        return KURA_EXIT_FAIL;
    if (c->env->cfg->require_training && !g.trained[0])
        return cmd_fail(c, "[server] require_training = yes: give the day %s completed the security training and "
                        "acknowledged the guidelines with --trained YYYY-MM-DD", rq->user);
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_PI, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    char last[48], text[KURA_LEDGER_FIELD_MAX];
    /* R-ACC-6: a grant names one account; resolve it now and keep the uid. */
    if (cmd_user_uid(rq->user, &g.uid, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (g.uid == ds->pi_uid) {
        cmd_fail(c, "%s is the PI of dataset %s and has access for its whole period", rq->user, ds->id);
        goto out;
    }
    /* System accounts (daemon, nobody, ...) are no person: never listed.
     * root is the exception, and needs the PI's approval like an operator. */
    uid_t uid_min, uid_max;
    kura_config_login_uids(c->env->cfg, KURA_LOGIN_DEFS_PATH, &uid_min, &uid_max);
    if (g.uid != 0 && (g.uid < uid_min || g.uid > uid_max)) {
        cmd_fail(c, "%s (uid %u) is a system account, not a person's login: only uids %u to %u may be listed "
                 "([server] login_uid_min/login_uid_max)", rq->user, (unsigned)g.uid, (unsigned)uid_min,
                 (unsigned)uid_max);
        goto out;
    }
    struct kura_actor grantee;
    if (kura_actor_resolve(g.uid, 0, 0, &grantee, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    g.pending = needs_pi_approval(c, ds, &grantee);
    const struct kura_grant *old = grant_by_name(ds, rq->user);
    if (!old)
        old = kura_dataset_grant(ds, g.uid);
    if (old) {
        cmd_fail(c, "%s is already listed in dataset %s (until %s); remove them first to change the grant", rq->user,
                 ds->id, cmd_last_day(c, old->until, last, sizeof last));
        goto out;
    }
    /* R-ACC-5: AGD records the data provider's approval for each user. */
    if (ds->kind == KURA_KIND_AGD && !approval[0]) {
        cmd_fail(c, "dataset %s is an AGD dataset: give the data provider's approval with --approval TEXT", ds->id);
        goto out;
    }
    int64_t now = cmd_now();
    g.from = now > ds->from ? now : ds->from;
    g.until = rq->until ? rq->until : ds->until;
    /* R-ACC-2: a grant never outlives its dataset. */
    if (g.until > ds->until) {
        cmd_fail(c, "the grant would end after dataset %s ends (%s); give --until %s or earlier", ds->id,
                 cmd_last_day(c, ds->until, last, sizeof last), last);
        goto out;
    }
    if (g.until <= g.from) {
        cmd_fail(c, "the grant would end before it starts (%s); check --until and the dataset's period",
                 cmd_time(c, g.until, last, sizeof last));
        goto out;
    }
    snprintf(g.user, sizeof g.user, "%s", rq->user);
    snprintf(g.approval, sizeof g.approval, "%s", approval);
    g.added_at = now;
    cmd_actor_name(c, g.added_by, sizeof g.added_by);
    if (!g.pending && cmd_actor_is_pi(c, ds) && grantee.operator)
        snprintf(g.approved_by, sizeof g.approved_by, "%s", ds->pi); /* the PI's own act confirms it */
    struct kura_grant *grown = realloc(ds->grants, (ds->ngrants + 1) * sizeof *grown);
    if (!grown) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    ds->grants = grown;
    ds->grants[ds->ngrants++] = g;
    grant_text(c, &g, text, sizeof text);
    /* The ledger names both actors: the adder (the record's actor) and the
     * PI whose approval the grant awaits. */
    if (g.pending)
        snprintf(text + strlen(text), sizeof text - strlen(text), " pending=approval-by-pi-%s", ds->pi);
    struct cmd_change ch = {.action = "user-add", .target = g.user, .after = text, .detail = approval,
                            .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
        goto out;
    res->grant = g;
    if (!cmd_actor_is_pi(c, ds)) {
        char msg[KURA_TEXT_MAX + 128];
        if (g.pending)
            snprintf(msg, sizeof msg, "%s listed %s in dataset %s; it reads nothing until the PI approves: kuractl "
                     "user approve %s %s", g.added_by, g.user, ds->id, ds->id, g.user);
        else
            snprintf(msg, sizeof msg, "%s listed %s in dataset %s as %s until %s", g.added_by, g.user, ds->id,
                     kura_role_name(g.role), cmd_last_day(c, g.until, last, sizeof last));
        notify_pi(c, ds, &g, msg);
    }
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_add(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *role = "co-investigator", *until = NULL;
    struct kura_user_add_request rq = {.approval = ""};
    const struct cmd_opt opts[] = {{"role", true, &role, NULL},         {"until", true, &until, NULL},
                                   {"approval", true, &rq.approval, NULL}, {"institution", true, &rq.institution, NULL},
                                   {"email", true, &rq.email, NULL},       {"trained", true, &rq.trained, NULL},
                                   {0}};
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (kura_user_name_check(pos[1], &e) != 0 || kura_text_check(rq.approval, "--approval", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (kura_role_parse(role, &rq.role) != 0 || rq.role == KURA_ROLE_PI)
        return cmd_usage(c, "--role must be co-investigator or contractor");
    int64_t u_start = 0, u_end = 0;
    if (until && kura_when_parse(until, c->env->cfg->zone, &u_start, &u_end, &e) != 0)
        return cmd_usage(c, "--until: %s", e.msg);
    /* A time stamp ends the grant at that instant; a date at the day's end. */
    if (until)
        rq.until = u_start == u_end ? u_start : u_end;
    rq.dataset = pos[0];
    rq.user = pos[1];
    struct kura_user_add_result res;
    int rc = kura_change_user_add(c->env, c->actor, c->err, &rq, &res);
    if (rc != KURA_EXIT_OK)
        return rc;
    const struct kura_grant *g = &res.grant;
    char last[48];
    if (g->pending)
        fprintf(c->out, "%s listed %s in dataset %s; it reads nothing until the PI approves: kuractl user approve %s "
                "%s\n", g->added_by, g->user, rq.dataset, rq.dataset, g->user);
    else
        fprintf(c->out, "%s may use dataset %s as %s until %s\n", g->user, rq.dataset, kura_role_name(g->role),
                cmd_last_day(c, g->until, last, sizeof last));
    return KURA_EXIT_OK;
}

/* Begins a change of user's grant in dataset id (role and what as
 * cmd_txn_begin's) and finds it. KURA_EXIT_OK with *g set (end t after),
 * or KURA_EXIT_FAIL with t already ended. */
static int begin_grant(const struct kura_cmd_ctx *c, const char *id, const char *user, enum kura_cmd_role role,
                       unsigned what, struct cmd_txn *t, struct kura_grant **g)
{
    struct kura_err e = {0};
    if (kura_user_name_check(user, &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (cmd_txn_begin(c, id, role, what, t) != 0)
        return KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t->ds;
    *g = grant_by_name(ds, user);
    if (!*g && strcmp(ds->pi, user) == 0)
        cmd_fail(c, "%s is the PI of dataset %s; an operator changes the PI (kuractl dataset set-pi %s USER)", user,
                 ds->id, ds->id);
    else if (!*g)
        cmd_fail(c, "%s is not listed in dataset %s (kuractl user list %s)", user, ds->id, ds->id);
    if (*g)
        return KURA_EXIT_OK;
    cmd_txn_end(t);
    return KURA_EXIT_FAIL;
}

const struct kura_cmd cmd_row_user_remove = {"user", "remove", KURA_CMD_PI, KURA_CMD_CHANGES_STATE | KURA_CMD_ENDS_ACCESS, cmd_user_remove, "ID USER",
    "Ends USER's access to dataset ID at once."};

int kura_change_user_remove(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_user_remove_request *rq)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_user_remove);
    struct cmd_txn t;
    struct kura_grant *g;
    /* Taking a grant off a destroyed dataset is harmless tidying: allowed. */
    if (begin_grant(c, rq->dataset, rq->user, KURA_CMD_PI, CMD_TXN_DESTROYED_OK, &t, &g) != KURA_EXIT_OK)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    char before[KURA_LEDGER_FIELD_MAX], user[KURA_USER_MAX + 1];
    grant_text(c, g, before, sizeof before);
    snprintf(user, sizeof user, "%s", g->user);
    struct kura_restriction r = cmd_restriction(KURA_RESTRICT_USER, ds->id, g->uid, g->user, NULL);
    size_t i = (size_t)(g - ds->grants);
    memmove(&ds->grants[i], &ds->grants[i + 1], (ds->ngrants - i - 1) * sizeof *g);
    ds->ngrants--;
    struct cmd_change ch = {.action = "user-remove", .target = user, .before = before, .after = "removed",
                            .audit_event = KURA_AUDIT_POLICY_CHANGE, .restriction = &r};
    if (cmd_txn_commit(c, &t, true, false, &ch) == 0)
        rc = KURA_EXIT_OK;
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_remove(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[2];
    int rc = cmd_parse_id_user(c, argc, argv, pos);
    if (rc != KURA_EXIT_OK)
        return rc;
    struct kura_user_remove_request rq = {.dataset = pos[0], .user = pos[1]};
    rc = kura_change_user_remove(c->env, c->actor, c->err, &rq);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "%s may no longer use dataset %s\n", rq.user, rq.dataset);
    return rc;
}

const struct kura_cmd cmd_row_user_update = {"user", "update", KURA_CMD_PI, KURA_CMD_CHANGES_STATE, cmd_user_update,
    "ID USER [--institution TEXT] [--email ADDR] [--trained DATE]",
    "Completes or corrects the records of USER's grant in dataset ID (recorded in the ledger):\n"
    "\"\" clears an institution or e-mail. A grant without a training date reads nothing while\n"
    "[server] require_training = yes, until this gives one. Nobody changes their own grant's."};

int kura_change_user_update(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_user_update_request *rq)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_user_update);
    struct cmd_txn t;
    struct kura_grant *g;
    if (begin_grant(c, rq->dataset, rq->user, KURA_CMD_PI, 0, &t, &g) != KURA_EXIT_OK)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    char before[KURA_LEDGER_FIELD_MAX], after[KURA_LEDGER_FIELD_MAX];
    /* Separation of duties: an operator does not vouch for their own training. */
    if (g->uid == c->actor->uid && !cmd_actor_is_pi(c, &t.ds)) {
        cmd_fail(c, "the records of your own grant are the PI's to change (%s)", t.ds.pi);
        goto out;
    }
    update_text(g, before, sizeof before);
    if (set_records(c, g, rq->institution, rq->email, rq->trained) != 0)
        goto out;
    update_text(g, after, sizeof after);
    if (strcmp(before, after) == 0) {
        rc = KURA_EXIT_OK; /* recorded as given already: nothing to change */
        goto out;
    }
    struct cmd_change ch = {.action = "user-update", .target = g->user, .before = before, .after = after,
                            .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) == 0)
        rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_update(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_user_update_request rq = {0};
    const struct cmd_opt opts[] = {{"institution", true, &rq.institution, NULL}, {"email", true, &rq.email, NULL},
                                   {"trained", true, &rq.trained, NULL}, {0}};
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (!rq.institution && !rq.email && !rq.trained)
        return cmd_usage(c, "give at least one of --institution, --email, --trained");
    rq.dataset = pos[0];
    rq.user = pos[1];
    int rc = kura_change_user_update(c->env, c->actor, c->err, &rq);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "%s's grant records in dataset %s are up to date\n", rq.user, rq.dataset);
    return rc;
}

const struct kura_cmd cmd_row_user_approve = {"user", "approve", KURA_CMD_PI_ONLY, KURA_CMD_CHANGES_STATE, cmd_user_approve, "ID USER",
    "The PI approves USER's pending grant: a grant an operator made to an operator, to root\n"
    "or to themselves reads nothing until then."};

int kura_change_user_approve(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                             const struct kura_user_approve_request *rq, struct kura_user_approve_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_user_approve);
    memset(res, 0, sizeof *res);
    /* Approval is the other role's confirmation: no operator gives it, not
     * even for another operator's grant. */
    struct cmd_txn t;
    struct kura_grant *g;
    if (begin_grant(c, rq->dataset, rq->user, KURA_CMD_PI_ONLY, 0, &t, &g) != KURA_EXIT_OK)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    if (!g->pending) {
        cmd_fail(c, "%s's grant in dataset %s is not awaiting approval", g->user, ds->id);
        goto out;
    }
    g->pending = false;
    snprintf(g->approved_by, sizeof g->approved_by, "%s", ds->pi);
    char before[KURA_LEDGER_FIELD_MAX], detail[KURA_USER_MAX + 16];
    grant_text(c, g, before, sizeof before);
    snprintf(before + strlen(before), sizeof before - strlen(before), " pending=approval-by-pi-%s", ds->pi);
    /* Both actors: the approver is the record's actor, the adder named here. */
    snprintf(detail, sizeof detail, "added by %s", g->added_by);
    struct cmd_change ch = {.action = "user-approve", .target = g->user, .before = before, .after = "approved",
                            .detail = detail, .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
        goto out;
    snprintf(res->pi, sizeof res->pi, "%s", ds->pi);
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_approve(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[2];
    int rc = cmd_parse_id_user(c, argc, argv, pos);
    if (rc != KURA_EXIT_OK)
        return rc;
    struct kura_user_approve_request rq = {.dataset = pos[0], .user = pos[1]};
    struct kura_user_approve_result res;
    rc = kura_change_user_approve(c->env, c->actor, c->err, &rq, &res);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "%s may use dataset %s (approved by the PI %s)\n", rq.user, rq.dataset, res.pi);
    return rc;
}

/* A row's STATE: what needs the PI first, then the period. logins: the
 * login uid range (a system account listed before kuractl refused it is
 * served nothing either). */
static const char *list_state(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, uid_t uid,
                              const uid_t logins[2], int64_t from, int64_t until, int64_t now, unsigned *needs_pi)
{
    if (uid != 0 && (uid < logins[0] || uid > logins[1])) {
        ++*needs_pi;
        return "system";
    }
    switch (listing_now(ds, uid)) {
    case KURA_DENY_ACCOUNT_CHANGED:
        ++*needs_pi;
        return "changed";
    case KURA_DENY_PENDING:
        ++*needs_pi;
        return "pending";
    default:
        if (c->env->cfg->require_training && uid != ds->pi_uid && !kura_dataset_grant(ds, uid)->trained[0]) {
            ++*needs_pi;
            return "untrained";
        }
        /* The words of status and of the audit log's reasons. */
        if (ds->status == KURA_DS_DESTROYED)
            return "destroyed";
        return now >= until ? "expired" : now < from ? "not yet" : "valid";
    }
}

/* One row of user list --json: a flat object, the text row's columns. */
static int print_json_row(const struct kura_cmd_ctx *c, bool first, const char *user, const char *role,
                          const char *from, const char *until, const char *state, const struct kura_grant *g)
{
    char buf[4096];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "user", user);
    kura_json_add_string(&w, "role", role);
    kura_json_add_string(&w, "from", from);
    kura_json_add_string(&w, "until", until);
    kura_json_add_string(&w, "state", state);
    kura_json_add_string(&w, "approval", g ? g->approval : "");
    kura_json_add_string(&w, "institution", g ? g->institution : "");
    kura_json_add_string(&w, "email", g ? g->email : "");
    kura_json_add_string(&w, "trained", g ? g->trained : "");
    return cmd_json_item(c, &w, first, user);
}

int cmd_user_list(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool json;
    struct cmd_txn t;
    int rc = cmd_begin_listing(c, argc, argv, true, &json, &t);
    if (rc != KURA_EXIT_OK)
        return rc;
    rc = KURA_EXIT_FAIL;
    const struct kura_dataset *ds = &t.ds;
    char a[48], b[48];
    int64_t now = cmd_now();
    unsigned needs_pi = 0;
    uid_t logins[2];
    kura_config_login_uids(c->env->cfg, KURA_LOGIN_DEFS_PATH, &logins[0], &logins[1]);
    if (json) {
        /* One array: the PI first, then each grant, as the text rows. */
        fputc('[', c->out);
        if (print_json_row(c, true, ds->pi, "pi", kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?",
                           cmd_last_day(c, ds->until, b, sizeof b),
                           list_state(c, ds, ds->pi_uid, logins, ds->from, ds->until, now, &needs_pi), NULL) != 0)
            goto out;
        for (size_t i = 0; i < ds->ngrants; i++) {
            const struct kura_grant *g = &ds->grants[i];
            if (print_json_row(c, false, g->user, kura_role_name(g->role),
                               kura_date_format(g->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?",
                               cmd_last_day(c, g->until, b, sizeof b),
                               list_state(c, ds, g->uid, logins, g->from, g->until, now, &needs_pi), g) != 0)
                goto out;
        }
        fputs("]\n", c->out);
        rc = KURA_EXIT_OK;
        goto out;
    }
    /* The title, approvals and records are people's text: escaped (text.h),
     * so that an invisible character in one is seen. */
    fprintf(c->out, "dataset %s (%s, %s) %s, period %s..%s%s", ds->id, kura_kind_name(ds->kind),
            kura_level_name(ds->level), kura_ds_status_name(ds->status),
            kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?",
            cmd_last_day(c, ds->until, b, sizeof b), ds->title[0] ? ": " : "");
    kura_text_put_escaped(c->out, ds->title, strlen(ds->title));
    fputc('\n', c->out);
    if (kura_files_no_sample_map(t.files, t.nfiles))
        fprintf(c->out, "no sample map: none of its %zu file(s) names a sample (imported without --samples), so a "
                        "consent withdrawal cannot find any of them\n", t.nfiles);
    fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s %s\n", "USER", "ROLE", "FROM", "UNTIL", "STATE", "APPROVAL");
    fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s %s\n", ds->pi, "pi",
            kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?",
            cmd_last_day(c, ds->until, b, sizeof b), list_state(c, ds, ds->pi_uid, logins, ds->from, ds->until, now, &needs_pi),
            "-");
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s ", g->user, kura_role_name(g->role),
                kura_date_format(g->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?",
                cmd_last_day(c, g->until, b, sizeof b), list_state(c, ds, g->uid, logins, g->from, g->until, now, &needs_pi));
        put_text_or_dash(c->out, g->approval);
        fputc('\n', c->out);
    }
    /* R-ACC-9: who the users are and when they were trained, for the PI's ledger of users. */
    if (ds->ngrants)
        fprintf(c->out, "\n%-32s %-10s %-32s %s\n", "USER", "TRAINED", "E-MAIL", "INSTITUTION");
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        fprintf(c->out, "%-32s %-10s %-32s ", g->user, g->trained[0] ? g->trained : "-", g->email[0] ? g->email : "-");
        put_text_or_dash(c->out, g->institution);
        fputc('\n', c->out);
    }
    if (needs_pi)
        fprintf(c->out, "\nneeds the PI: pending = listed by an operator, reads nothing until the PI runs kuractl "
                        "user approve %s USER;\nchanged = the account is not the one listed (deleted, renamed or its "
                        "uid given to someone else), reads nothing: remove the grant;\nsystem = a system account, "
                        "no person's login, reads nothing: remove the grant;\nuntrained = no training date while "
                        "[server] require_training = yes, reads nothing until kuractl user update %s USER --trained "
                        "DATE\n", ds->id, ds->id);
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}
