#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/dsfile.h"
#include "kura/lockdown.h"
#include "kura/policy.h"
#include "kura/when.h"

/* "active", "suspended", "expired", "not yet", "destroyed" for the caller's window. */
static const char *state_for(const struct kura_dataset *ds, int64_t from, int64_t until, int64_t now)
{
    if (ds->status == KURA_DS_DESTROYED)
        return "destroyed";
    if (ds->status == KURA_DS_SUSPENDED)
        return "suspended";
    if (now >= until)
        return "expired";
    if (now < from)
        return "not yet";
    return "active";
}

/* The dataset has files and none names a sample (imported without
 * --samples): no withdrawal can find its files. Unreadable counts as no. */
static bool no_sample_map(const struct kura_cmd_ctx *c, const char *id)
{
    char *path = cmd_dataset_file(c, id, KURA_FILES_TSV);
    struct kura_file *files = NULL;
    size_t n = 0;
    struct kura_err e = {0};
    bool none = path && kura_files_load(path, &files, &n, &e) == 0 && kura_files_no_sample_map(files, n);
    kura_files_free(files, n);
    free(path);
    return none;
}

/* Whole days from now to the end: 0 on the last day. */
static long days_left(int64_t until, int64_t now)
{
    return now >= until ? 0 : (long)((until - now) / 86400);
}

int cmd_status(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    size_t n = 0;
    char **ids = NULL;
    if (cmd_dataset_ids(c, &ids, &n, &e) != 0)
        return cmd_fail_err(c, &e);
    int64_t now = cmd_now();
    const char *tz = c->env->cfg->timezone;
    size_t mine = 0, unreadable = 0;
    struct kura_dataset *all = calloc(n ? n : 1, sizeof *all);
    bool *loaded = calloc(n ? n : 1, sizeof *loaded);
    if (!all || !loaded) {
        free(all);
        free(loaded);
        cmd_strv_free(ids, n);
        return cmd_fail(c, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char *ini = cmd_dataset_file(c, ids[i], KURA_DATASET_INI);
        /* Read without the lock: state files are replaced by rename, so a
         * read sees the old or the new file whole. */
        if (ini && kura_dataset_load(ini, &all[i], &e) == 0)
            loaded[i] = true;
        else if (ini && e.code != ENOENT) {
            unreadable++;
            if (c->actor->operator)
                fprintf(c->err, "kuractl status: %s\n", e.msg);
        }
        free(ini);
    }
    struct kura_lockdown l;
    struct kura_err le = {0};
    if (kura_lockdown_load(c->env->cfg->state_dir, &l, &le) != 0)
        fprintf(c->out, "LOCKDOWN: every dataset is refused (the lockdown file is unreadable: ask an operator)\n\n");
    else if (l.on) {
        char when[48];
        fprintf(c->out, "LOCKDOWN since %s: every dataset is refused (%s)\n\n", cmd_time(c, l.at, when, sizeof when),
                l.reason);
    }
    fprintf(c->out, "%-20s %-16s %-10s %-10s %9s  %s\n", "DATASET", "ROLE", "FROM", "UNTIL", "DAYS LEFT", "STATE");
    for (size_t i = 0; i < n; i++) {
        if (!loaded[i])
            continue;
        const struct kura_dataset *ds = &all[i];
        int64_t from, until;
        if (!kura_policy_window(ds, c->actor->uid, &from, &until))
            continue;
        const struct kura_grant *g = kura_dataset_grant(ds, c->actor->uid);
        const char *role = ds->pi_uid == c->actor->uid ? "pi" : g ? kura_role_name(g->role) : "?";
        char a[32], b[32];
        if (kura_date_format(from, tz, a, sizeof a) != 0)
            snprintf(a, sizeof a, "?");
        cmd_last_day(c, until, b, sizeof b);
        fprintf(c->out, "%-20s %-16s %-10s %-10s %9ld  %s%s\n", ds->id, role, a, b, days_left(until, now),
                state_for(ds, from, until, now),
                ds->pi_uid == c->actor->uid && no_sample_map(c, ds->id) ? ", no sample map" : "");
        mine++;
    }
    if (!mine)
        fprintf(c->out, "(you are not listed in any dataset on this server)\n");
    if (c->actor->operator && n) {
        fprintf(c->out, "\nall datasets (operator view):\n%-20s %-4s %-6s %-16s %-10s %-10s %5s  %s\n", "DATASET",
                "KIND", "LEVEL", "PI", "FROM", "UNTIL", "USERS", "STATUS");
        for (size_t i = 0; i < n; i++) {
            if (!loaded[i]) {
                fprintf(c->out, "%-20s (unreadable: see the error above)\n", ids[i]);
                continue;
            }
            const struct kura_dataset *ds = &all[i];
            char a[32], b[32];
            if (kura_date_format(ds->from, tz, a, sizeof a) != 0)
                snprintf(a, sizeof a, "?");
            cmd_last_day(c, ds->until, b, sizeof b);
            fprintf(c->out, "%-20s %-4s %-6s %-16s %-10s %-10s %5zu  %s%s\n", ds->id, kura_kind_name(ds->kind),
                    kura_level_name(ds->level), ds->pi, a, b, ds->ngrants,
                    state_for(ds, ds->from, ds->until, now), no_sample_map(c, ds->id) ? ", no sample map" : "");
        }
    }
    if (unreadable && !c->actor->operator)
        fprintf(c->err, "kuractl status: %zu dataset(s) could not be read; ask an operator\n", unreadable);
    for (size_t i = 0; i < n; i++)
        kura_dataset_clear(&all[i]);
    cmd_strv_free(ids, n);
    free(all);
    free(loaded);
    return unreadable ? KURA_EXIT_FAIL : KURA_EXIT_OK;
}
