#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/policy.h"
#include "kura/when.h"

static struct kura_grant *grant_by_name(struct kura_dataset *ds, const char *name)
{
    for (size_t i = 0; i < ds->ngrants; i++)
        if (strcmp(ds->grants[i].user, name) == 0)
            return &ds->grants[i];
    return NULL;
}

/* "role=co-investigator until=2027-03-31 approval=..." */
static void grant_text(const struct kura_cmd_ctx *c, const struct kura_grant *g, char *buf, size_t len)
{
    char last[48];
    snprintf(buf, len, "role=%s until=%s%s%s", kura_role_name(g->role), cmd_last_day(c, g->until, last, sizeof last),
             g->approval[0] ? " approval=" : "", g->approval);
}

int cmd_user_add(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *role = "co-investigator", *until = NULL, *approval = "";
    const struct cmd_opt opts[] = {{"role", true, &role, NULL}, {"until", true, &until, NULL},
                                   {"approval", true, &approval, NULL}, {0}};
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct kura_grant g;
    memset(&g, 0, sizeof g);
    if (kura_user_name_check(pos[1], &e) != 0 || kura_text_check(approval, "--approval", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (kura_role_parse(role, &g.role) != 0 || g.role == KURA_ROLE_PI)
        return cmd_usage(c, "--role must be co-investigator or contractor");
    int64_t u_start = 0, u_end = 0;
    if (until && kura_when_parse(until, c->env->cfg->timezone, &u_start, &u_end, &e) != 0)
        return cmd_usage(c, "--until: %s", e.msg);

    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], false, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    char last[48], text[512];
    if (cmd_require_manager(c, ds) != 0)
        goto out;
    if (ds->status == KURA_DS_DESTROYED) {
        cmd_fail(c, "dataset %s was destroyed", ds->id);
        goto out;
    }
    /* R-ACC-6: a grant names one account; resolve it now and keep the uid. */
    if (cmd_user_uid(pos[1], &g.uid, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (g.uid == ds->pi_uid) {
        cmd_fail(c, "%s is the PI of dataset %s and has access for its whole period", pos[1], ds->id);
        goto out;
    }
    const struct kura_grant *old = grant_by_name(ds, pos[1]);
    if (!old)
        old = kura_dataset_grant(ds, g.uid);
    if (old) {
        cmd_fail(c, "%s is already listed in dataset %s (until %s); remove them first to change the grant", pos[1],
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
    /* A time stamp ends the grant at that instant; a date at the day's end. */
    g.until = !until ? ds->until : u_start == u_end ? u_start : u_end;
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
    snprintf(g.user, sizeof g.user, "%s", pos[1]);
    snprintf(g.approval, sizeof g.approval, "%s", approval);
    g.added_at = now;
    cmd_actor_name(c, g.added_by, sizeof g.added_by);
    struct kura_grant *grown = realloc(ds->grants, (ds->ngrants + 1) * sizeof *grown);
    if (!grown) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    ds->grants = grown;
    ds->grants[ds->ngrants++] = g;
    grant_text(c, &g, text, sizeof text);
    struct cmd_change ch = {.action = "user-add", .target = g.user, .after = text, .detail = approval,
                            .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
        goto out;
    fprintf(c->out, "%s may use dataset %s as %s until %s\n", g.user, ds->id, kura_role_name(g.role),
            cmd_last_day(c, g.until, last, sizeof last));
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_remove(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (kura_user_name_check(pos[1], &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], false, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    if (cmd_require_manager(c, ds) != 0)
        goto out;
    struct kura_grant *g = grant_by_name(ds, pos[1]);
    if (!g) {
        if (strcmp(ds->pi, pos[1]) == 0)
            cmd_fail(c, "%s is the PI of dataset %s; an operator changes the PI", pos[1], ds->id);
        else
            cmd_fail(c, "%s is not listed in dataset %s (kuractl user list %s)", pos[1], ds->id, ds->id);
        goto out;
    }
    char before[512], user[KURA_USER_MAX + 1];
    grant_text(c, g, before, sizeof before);
    snprintf(user, sizeof user, "%s", g->user);
    size_t i = (size_t)(g - ds->grants);
    memmove(&ds->grants[i], &ds->grants[i + 1], (ds->ngrants - i - 1) * sizeof *g);
    ds->ngrants--;
    struct cmd_change ch = {.action = "user-remove", .target = user, .before = before, .after = "removed",
                            .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
        goto out;
    fprintf(c->out, "%s may no longer use dataset %s\n", user, ds->id);
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_user_list(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], true, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    const struct kura_dataset *ds = &t.ds;
    if (cmd_require_manager(c, ds) != 0)
        goto out;
    char a[48], b[48];
    int64_t now = cmd_now();
    fprintf(c->out, "dataset %s (%s, %s) %s, period %s..%s%s%s\n", ds->id, kura_kind_name(ds->kind),
            kura_level_name(ds->level), kura_ds_status_name(ds->status),
            kura_date_format(ds->from, c->env->cfg->timezone, a, sizeof a) == 0 ? a : "?",
            cmd_last_day(c, ds->until, b, sizeof b), ds->title[0] ? ": " : "", ds->title);
    if (kura_files_no_sample_map(t.files, t.nfiles))
        fprintf(c->out, "no sample map: none of its %zu file(s) names a sample (imported without --samples), so a "
                        "consent withdrawal cannot find any of them\n", t.nfiles);
    fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s %s\n", "USER", "ROLE", "FROM", "UNTIL", "STATE", "APPROVAL");
    fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s %s\n", ds->pi, "pi",
            kura_date_format(ds->from, c->env->cfg->timezone, a, sizeof a) == 0 ? a : "?",
            cmd_last_day(c, ds->until, b, sizeof b), now >= ds->until ? "ended" : now < ds->from ? "not yet" : "valid",
            "-");
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        fprintf(c->out, "%-32s %-16s %-10s %-10s %-8s %s\n", g->user, kura_role_name(g->role),
                kura_date_format(g->from, c->env->cfg->timezone, a, sizeof a) == 0 ? a : "?",
                cmd_last_day(c, g->until, b, sizeof b),
                now >= g->until ? "ended" : now < g->from ? "not yet" : "valid", g->approval[0] ? g->approval : "-");
    }
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}
