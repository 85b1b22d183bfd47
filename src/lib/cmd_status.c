#include <errno.h>
#include <mntent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/ctlproto.h"
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

/* What files.tsv says of a dataset: how many files, and whether it has
 * files but none names a sample (imported without --samples: no
 * withdrawal can find them). -1 when it cannot be read. */
static int files_facts(const struct kura_cmd_ctx *c, const char *id, size_t *nfiles, bool *no_sample_map)
{
    char *path = cmd_dataset_file(c, id, KURA_FILES_TSV);
    struct kura_file *files = NULL;
    size_t n = 0;
    struct kura_err e = {0};
    int rc = path && kura_files_load(path, &files, &n, &e) == 0 ? 0 : -1;
    *nfiles = n;
    *no_sample_map = rc == 0 && kura_files_no_sample_map(files, n);
    kura_files_free(files, n);
    free(path);
    return rc;
}

static bool lacks_sample_map(const struct kura_cmd_ctx *c, const char *id)
{
    size_t n;
    bool none;
    return files_facts(c, id, &n, &none) == 0 && none;
}

/* Whole days from now to the end: 0 on the last day. */
static long days_left(int64_t until, int64_t now)
{
    return now >= until ? 0 : (long)((until - now) / 86400);
}

/* One dataset in the operator's overview; kept apart from the printer so
 * that other output formats print the same facts. */
struct overview_row {
    const struct kura_dataset *ds;
    size_t nfiles;
    bool files_readable, no_sample_map;
    const char *state;
};

static struct overview_row overview_row(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, int64_t now)
{
    struct overview_row r = {.ds = ds, .state = state_for(ds, ds->from, ds->until, now)};
    r.files_readable = files_facts(c, ds->id, &r.nfiles, &r.no_sample_map) == 0;
    return r;
}

static void overview_row_print(const struct kura_cmd_ctx *c, const struct overview_row *r)
{
    const struct kura_dataset *ds = r->ds;
    char a[32], b[32], files[24];
    if (kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, ds->until, b, sizeof b);
    if (r->files_readable)
        snprintf(files, sizeof files, "%zu", r->nfiles);
    else
        snprintf(files, sizeof files, "?");
    fprintf(c->out, "%-20s %-4s %-6s %-16s %-10s %-10s %5zu %6s  %s%s%s\n", ds->id, kura_kind_name(ds->kind),
            kura_level_name(ds->level), ds->pi, a, b, ds->ngrants, files, r->state,
            r->no_sample_map ? ", no sample map" : "", r->files_readable ? "" : ", files.tsv unreadable");
}

/* The daemon, as the one answering says: in kurafs, where it is mounted and
 * whether the kernel still lists that mount. */
static void daemon_line(const struct kura_cmd_ctx *c, FILE *out)
{
    if (!c->env->mountpoint) {
        fprintf(out, "kuractl serve (pid %ld): control socket only, nothing mounted\n", (long)getpid());
        return;
    }
    bool mounted = false;
    FILE *m = setmntent("/proc/self/mounts", "r");
    for (struct mntent *me; m && (me = getmntent(m));)
        if (strcmp(me->mnt_dir, c->env->mountpoint) == 0 && strcmp(me->mnt_type, "fuse.kurafs") == 0)
            mounted = true;
    if (m)
        endmntent(m);
    fprintf(out, "kurafs (pid %ld) running, %s %s\n", (long)getpid(), mounted ? "mounted at" : "NOT MOUNTED at",
            c->env->mountpoint);
}

int cmd_daemon(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (!c->env->socket_mode)
        return cmd_fail(c, "only the daemon answers this (kuractl status asks it)");
    daemon_line(c, c->out);
    return KURA_EXIT_OK;
}

/* The operator's first line: is the daemon running and mounted? Root runs
 * status directly, so it asks the daemon over the control socket. */
static void print_daemon_state(const struct kura_cmd_ctx *c)
{
    if (c->env->socket_mode) {
        fputs("daemon: ", c->out);
        daemon_line(c, c->out);
        return;
    }
    char *argv[1] = {"daemon"};
    struct kura_ctl_response r;
    struct kura_err e = {0};
    if (kura_ctl_call(c->env->cfg->socket, 0, 1, argv, &r, &e) != 0) {
        if (e.code == ENOENT || e.code == ECONNREFUSED)
            fprintf(c->out, "daemon: WARNING: kurafs is not running (no answer on %s): nothing is served, and "
                            "changes take effect when it is next mounted\n", c->env->cfg->socket);
        else
            fprintf(c->out, "daemon: WARNING: the control socket %s does not answer: %s\n", c->env->cfg->socket,
                    e.msg);
        return;
    }
    if (r.status == 0)
        fprintf(c->out, "daemon: %.*s", (int)r.out_len, r.out);
    else
        fprintf(c->out, "daemon: WARNING: the daemon on %s did not say its state: %.*s", c->env->cfg->socket,
                (int)r.err_len, r.err);
    kura_ctl_response_clear(&r);
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
    const struct kura_zone *zone = c->env->cfg->zone;
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
    if (c->actor->operator)
        print_daemon_state(c);
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
        /* A uid listed under another account's name (issue 13) is not this
         * person's listing: shown as not listed, as the mount treats it. */
        enum kura_reason listing = kura_policy_listing(ds, c->actor->uid, c->actor->name);
        if (listing == KURA_DENY_NOT_LISTED || listing == KURA_DENY_ACCOUNT_CHANGED)
            continue;
        int64_t from, until;
        kura_policy_window(ds, c->actor->uid, &from, &until);
        const struct kura_grant *g = kura_dataset_grant(ds, c->actor->uid);
        const char *role = ds->pi_uid == c->actor->uid ? "pi" : g ? kura_role_name(g->role) : "?";
        char a[32], b[32];
        if (kura_date_format(from, zone, a, sizeof a) != 0)
            snprintf(a, sizeof a, "?");
        cmd_last_day(c, until, b, sizeof b);
        fprintf(c->out, "%-20s %-16s %-10s %-10s %9ld  %s%s\n", ds->id, role, a, b, days_left(until, now),
                listing == KURA_DENY_PENDING ? "pending approval" : state_for(ds, from, until, now),
                ds->pi_uid == c->actor->uid && lacks_sample_map(c, ds->id) ? ", no sample map" : "");
        mine++;
    }
    if (!mine)
        fprintf(c->out, "(you are not listed in any dataset on this server)\n");
    cmd_status_history(c, all, loaded, ids, n);
    if (c->actor->operator && n) {
        fprintf(c->out, "\nall datasets (operator view):\n%-20s %-4s %-6s %-16s %-10s %-10s %5s %6s  %s\n", "DATASET",
                "KIND", "LEVEL", "PI", "FROM", "UNTIL", "USERS", "FILES", "STATUS");
        for (size_t i = 0; i < n; i++) {
            if (!loaded[i]) {
                fprintf(c->out, "%-20s (unreadable: see the error above)\n", ids[i]);
                continue;
            }
            struct overview_row r = overview_row(c, &all[i], now);
            overview_row_print(c, &r);
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
