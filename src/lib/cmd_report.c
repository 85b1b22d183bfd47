/* kuractl report usage ID [--from WHEN] [--to WHEN] [--csv] (R-LOG-4): the
 * yearly usage report a PI submits: users and their periods, opens and
 * bytes read per user, refused attempts, changes to the list and
 * withdrawals, from the audit log and the ledger. Markdown by default; CSV
 * (the per-user table) with --csv. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/dsfile.h"
#include "kura/ledger.h"
#include "kura/when.h"

struct changes {
    FILE *out;
    const struct kura_cmd_ctx *c;
    int64_t from, to;           /* seconds */
    size_t n;
};

static int list_change(const struct kura_ledger_record *r, void *arg)
{
    struct changes *ch = arg;
    int64_t t, end;
    if (kura_when_parse(r->time, ch->c->env->cfg->zone, &t, &end, NULL) != 0 || t < ch->from || t >= ch->to)
        return 0;
    if (strncmp(r->action, "user-", 5) != 0 && strcmp(r->action, "withdraw") != 0 &&
        strncmp(r->action, "dataset-", 8) != 0)
        return 0;
    fprintf(ch->out, "| %s | %s | %s | ", r->time, r->actor, r->action);
    cmd_md_cell(ch->out, r->target);
    fputs(" | ", ch->out);
    cmd_md_cell(ch->out, r->before[0] ? r->before : "-");
    fputs(" -> ", ch->out);
    cmd_md_cell(ch->out, r->after[0] ? r->after : "-");
    fputs(" | ", ch->out);
    cmd_md_cell(ch->out, r->detail);
    fputs(" |\n", ch->out);
    ch->n++;
    return 0;
}

/* One user's row: Markdown or CSV. */
static void user_row(const struct kura_cmd_ctx *c, bool csv, const char *user, const char *role, int64_t from,
                     int64_t until, const struct cmd_user_usage *u)
{
    char a[32], b[32], last[48];
    const struct kura_zone *zone = c->env->cfg->zone;
    if (kura_date_format(from, zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, until, b, sizeof b);
    if (u && u->last_ms)
        cmd_time(c, u->last_ms / 1000, last, sizeof last);
    else
        snprintf(last, sizeof last, "-");
    unsigned long long opens = u ? u->opens : 0, bytes = u ? u->bytes : 0, refused = u ? u->refused : 0;
    if (csv)
        fprintf(c->out, "%s,%s,%s,%s,%llu,%llu,%llu,%s\n", user, role, a, b, opens, bytes, refused, last);
    else
        fprintf(c->out, "| %s | %s | %s..%s | %llu | %llu | %llu | %s |\n", user, role, a, b, opens, bytes, refused, last);
}

int cmd_report_usage(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *from_s = NULL, *to_s = NULL;
    bool csv = false;
    const struct cmd_opt opts[] = {{"from", true, &from_s, NULL}, {"to", true, &to_s, NULL}, {"csv", false, NULL, &csv}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    int64_t from = 0, to = 0, s, end;
    const struct kura_zone *zone = c->env->cfg->zone;
    if (from_s) {
        if (kura_when_parse(from_s, zone, &s, &end, &e) != 0)
            return cmd_usage(c, "--from: %s", e.msg);
        from = s;
    }
    if (to_s) {
        if (kura_when_parse(to_s, zone, &s, &end, &e) != 0)
            return cmd_usage(c, "--to: %s", e.msg);
        to = s == end ? s : end;        /* a date counts whole */
    }
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], KURA_CMD_PI, CMD_TXN_DESTROYED_OK, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    char *ledger = NULL;
    struct cmd_usage use = {0};
    const struct kura_dataset *ds = &t.ds;
    if (!from_s)
        from = ds->from;
    if (!to_s)
        to = cmd_now() + 1;
    if (to <= from) {
        cmd_usage(c, "--to must be after --from");
        goto out;
    }
    if (cmd_usage_scan(c, ds->id, from * 1000, to * 1000, &use, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (csv) {
        fprintf(c->out, "user,role,from,until,opens,bytes_read,refused,last_access\n");
    } else {
        char a[48], b[48], p1[32], p2[32];
        fprintf(c->out, "# Usage report: dataset %s%s%s\n\n", ds->id, ds->title[0] ? " — " : "", ds->title);
        fprintf(c->out, "- Reporting period: %s to %s\n", cmd_time(c, from, a, sizeof a), cmd_time(c, to - 1, b, sizeof b));
        fprintf(c->out, "- Dataset: %s, %s, status %s, approved period %s..%s\n", kura_kind_name(ds->kind),
                kura_level_name(ds->level), kura_ds_status_name(ds->status),
                kura_date_format(ds->from, zone, p1, sizeof p1) == 0 ? p1 : "?", cmd_last_day(c, ds->until, p2, sizeof p2));
        fprintf(c->out, "- PI: %s\n\n## Users\n\n| user | role | period | opens | bytes read | refused | last access |\n"
                        "|---|---|---|---|---|---|---|\n", ds->pi);
    }
    user_row(c, csv, ds->pi, "pi", ds->from, ds->until, cmd_usage_find(&use, ds->pi, ds->pi_uid));
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        user_row(c, csv, g->user, kura_role_name(g->role), g->from, g->until, cmd_usage_find(&use, g->user, g->uid));
    }
    /* Everyone else the log saw at this dataset: former users, refused outsiders. */
    for (size_t i = 0; i < use.n; i++) {
        const struct cmd_user_usage *u = &use.users[i];
        const struct kura_grant *g = kura_dataset_grant(ds, (uid_t)u->uid);
        bool listed = (u->uid == ds->pi_uid && strcmp(u->user, ds->pi) == 0) || (g && strcmp(g->user, u->user) == 0);
        if (!listed)
            user_row(c, csv, u->user[0] ? u->user : "(no account)", "not listed", from, to, u);
    }
    if (!csv) {
        if (!(ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE))) {
            cmd_fail(c, "out of memory");
            goto out;
        }
        fprintf(c->out, "\n## Changes to the dataset and its users\n\n| time | by | action | target | before -> after | "
                        "detail |\n|---|---|---|---|---|---|\n");
        struct changes ch = {.out = c->out, .c = c, .from = from, .to = to};
        if (kura_ledger_read(ledger, list_change, &ch, &e) != 0) {
            cmd_fail(c, "the ledger does not verify: %s", e.msg);
            goto out;
        }
        if (!ch.n)
            fprintf(c->out, "| - | - | none | - | - | - |\n");
        fprintf(c->out, "\n## Consent withdrawals\n\n");
        size_t nw = 0;
        for (size_t i = 0; i < ds->nwithdrawals; i++) {
            const struct kura_withdrawal *w = &ds->withdrawals[i];
            char a[48];
            if (w->at < from || w->at >= to)
                continue;
            fprintf(c->out, "- sample %s, withdrawn %s (", w->sample, cmd_time(c, w->at, a, sizeof a));
            cmd_md_cell(c->out, w->ref);
            fputs(")\n", c->out);
            nw++;
        }
        if (!nw)
            fprintf(c->out, "none\n");
    }
    rc = KURA_EXIT_OK;
out:
    cmd_usage_free(&use);
    free(ledger);
    cmd_txn_end(&t);
    return rc;
}
