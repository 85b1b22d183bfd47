#include <errno.h>
#include <mntent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/ctlproto.h"
#include "kura/dsfile.h"
#include "kura/json.h"
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

/* The notes a state carries in the text (", no sample map, ..."). */
static void overview_notes(const struct overview_row *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s", r->no_sample_map ? "no sample map" : "",
             r->no_sample_map && !r->files_readable ? ", " : "", r->files_readable ? "" : "files.tsv unreadable");
}

/* status --json: the row as an object (files -1 when files.tsv is unreadable). */
static int overview_row_json(const struct kura_cmd_ctx *c, const struct overview_row *r, bool first)
{
    const struct kura_dataset *ds = r->ds;
    char buf[2048], a[32], b[32], notes[64];
    if (kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    overview_notes(r, notes, sizeof notes);
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "dataset", ds->id);
    kura_json_add_string(&w, "kind", kura_kind_name(ds->kind));
    kura_json_add_string(&w, "level", kura_level_name(ds->level));
    kura_json_add_string(&w, "pi", ds->pi);
    kura_json_add_string(&w, "from", a);
    kura_json_add_string(&w, "until", cmd_last_day(c, ds->until, b, sizeof b));
    kura_json_add_int(&w, "users", (int64_t)ds->ngrants);
    kura_json_add_int(&w, "files", r->files_readable ? (int64_t)r->nfiles : -1);
    kura_json_add_string(&w, "state", r->state);
    kura_json_add_string(&w, "notes", notes);
    return cmd_json_item(c, &w, first, ds->id);
}

static void overview_row_print(const struct kura_cmd_ctx *c, const struct overview_row *r)
{
    const struct kura_dataset *ds = r->ds;
    char a[32], b[32], files[24], notes[64];
    if (kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, ds->until, b, sizeof b);
    overview_notes(r, notes, sizeof notes);
    if (r->files_readable)
        snprintf(files, sizeof files, "%zu", r->nfiles);
    else
        snprintf(files, sizeof files, "?");
    fprintf(c->out, "%-20s %-4s %-6s %-16s %-10s %-10s %5zu %6s  %s%s%s\n", ds->id, kura_kind_name(ds->kind),
            kura_level_name(ds->level), ds->pi, a, b, ds->ngrants, files, r->state, notes[0] ? ", " : "", notes);
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
    fprintf(out, "kurafs (pid %ld) running, %s %s", (long)getpid(), mounted ? "mounted at" : "NOT MOUNTED at",
            c->env->mountpoint);
    fputc('\n', out);
    if (c->env->daemon_notes)
        c->env->daemon_notes(c->env->ctx, out);
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
 * status directly, so it asks the daemon over the control socket. state:
 * "running" (the daemon answered: text says whether it is mounted), "not
 * running" or "no answer"; text is the line after "daemon: ". */
static const char *daemon_state(const struct kura_cmd_ctx *c, char *text, size_t len)
{
    if (c->env->socket_mode) {
        FILE *f = fmemopen(text, len, "w");
        if (f) {
            daemon_line(c, f);
            fclose(f);
        } else
            snprintf(text, len, "kurafs (pid %ld) running\n", (long)getpid());
        return "running";
    }
    char *argv[1] = {"daemon"};
    struct kura_ctl_response r;
    struct kura_err e = {0};
    const char *state = "running";
    if (kura_ctl_call(c->env->cfg->socket, 0, 1, argv, NULL, 0, &r, &e) != 0) {
        if (e.code == ENOENT || e.code == ECONNREFUSED) {
            snprintf(text, len, "WARNING: kurafs is not running (no answer on %s): nothing is served, and changes "
                                "take effect when it is next mounted\n", c->env->cfg->socket);
            return "not running";
        }
        snprintf(text, len, "WARNING: the control socket %s does not answer: %s\n", c->env->cfg->socket, e.msg);
        return "no answer";
    }
    if (r.status == 0)
        snprintf(text, len, "%.*s", (int)r.out_len, r.out);
    else {
        snprintf(text, len, "WARNING: the daemon on %s did not say its state: %.*s", c->env->cfg->socket,
                 (int)r.err_len, r.err);
        state = "no answer";
    }
    kura_ctl_response_clear(&r);
    return state;
}

/* status --json opens each member with this: "{" before the first, ",\n" before the others. */
static void json_member(const struct kura_cmd_ctx *c, bool *first, const char *name)
{
    fprintf(c->out, "%s\"%s\": ", *first ? "{" : ",\n", name);
    *first = false;
}

/* A flat object as a member's value (daemon, lockdown). */
static int json_value(const struct kura_cmd_ctx *c, struct kura_json_writer *w, const char *what)
{
    struct kura_err e = {0};
    if (kura_json_end(w, NULL, &e) != 0) {
        cmd_fail(c, "%s does not fit in JSON output: %s", what, e.msg);
        return -1;
    }
    fputs(w->buf, c->out);
    return 0;
}

static int print_daemon_state(const struct kura_cmd_ctx *c, bool json, bool *first)
{
    char text[1024], buf[2048];
    const char *state = daemon_state(c, text, sizeof text);
    if (!json) {
        fprintf(c->out, "daemon: %s", text);
        return 0;
    }
    static const char store[] = "central audit store: ";
    char *notes = strchr(text, '\n');
    if (notes)
        *notes++ = '\0';
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "state", state);
    kura_json_add_string(&w, "text", text);
    static const char node[] = "cluster node ";
    for (char *line = notes; line && *line;) { /* each line of the daemon's notes */
        char *end = line + strcspn(line, "\n"), *next = *end ? end + 1 : end;
        *end = '\0';
        if (strncmp(line, store, sizeof store - 1) == 0)
            kura_json_add_string(&w, "audit_store", line + sizeof store - 1);
        else if (strncmp(line, node, sizeof node - 1) == 0)
            kura_json_add_string(&w, "cluster_node", line + sizeof node - 1);
        line = next;
    }
    json_member(c, first, "daemon");
    return json_value(c, &w, "the daemon's state");
}

/* LOCKDOWN as status shows it to everyone: state "off", "on" (since, reason) or "unreadable". */
static int print_lockdown(const struct kura_cmd_ctx *c, bool json, bool *first)
{
    struct kura_lockdown l;
    struct kura_err le = {0};
    char when[48], buf[2048];
    bool unreadable = kura_lockdown_load(c->env->cfg->state_dir, &l, &le) != 0;
    if (!json) {
        if (unreadable)
            fprintf(c->out, "LOCKDOWN: every dataset is refused (the lockdown file is unreadable: ask an operator)\n\n");
        else if (l.on) {
            /* The operator's reason, shown to every user: escaped (text.h). */
            fprintf(c->out, "LOCKDOWN since %s: every dataset is refused (", cmd_time(c, l.at, when, sizeof when));
            kura_text_put_escaped(c->out, l.reason, strlen(l.reason));
            fputs(")\n\n", c->out);
        }
        return 0;
    }
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "state", unreadable ? "unreadable" : l.on ? "on" : "off");
    if (!unreadable && l.on) {
        kura_json_add_string(&w, "since", cmd_time(c, l.at, when, sizeof when));
        kura_json_add_string(&w, "reason", l.reason);
    }
    json_member(c, first, "lockdown");
    return json_value(c, &w, "the lockdown");
}

/* One of the caller's datasets, a row of the first table. */
static int mine_row_json(const struct kura_cmd_ctx *c, bool first, const char *id, const char *role, const char *from,
                         const char *until, long days, const char *state, const char *notes)
{
    char buf[2048];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "dataset", id);
    kura_json_add_string(&w, "role", role);
    kura_json_add_string(&w, "from", from);
    kura_json_add_string(&w, "until", until);
    kura_json_add_int(&w, "days_left", days);
    kura_json_add_string(&w, "state", state);
    kura_json_add_string(&w, "notes", notes);
    return cmd_json_item(c, &w, first, id);
}

int cmd_status(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    bool json = false;
    const struct cmd_opt opts[] = {{"json", false, NULL, &json}, {0}};
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
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
    /* --json: one object with the text's parts as members, in its order. */
    bool first = true, bad = false;
    if (c->actor->operator && print_daemon_state(c, json, &first) != 0)
        bad = true;
    if (!bad && print_lockdown(c, json, &first) != 0)
        bad = true;
    if (json) {
        json_member(c, &first, "datasets");
        fputc('[', c->out);
    } else
        fprintf(c->out, "%-20s %-16s %-10s %-10s %9s  %s\n", "DATASET", "ROLE", "FROM", "UNTIL", "DAYS LEFT", "STATE");
    for (size_t i = 0; i < n && !bad; i++) {
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
        /* The mount's reasons first (policy.h): pending, then no training. */
        const bool untrained = g && ds->pi_uid != c->actor->uid && c->env->cfg->require_training && !g->trained[0];
        const char *state = listing == KURA_DENY_PENDING ? "pending approval"
                            : untrained                  ? kura_reason_name(KURA_DENY_UNTRAINED)
                                                         : state_for(ds, from, until, now);
        const char *notes = ds->pi_uid == c->actor->uid && lacks_sample_map(c, ds->id) ? "no sample map" : "";
        char a[32], b[32];
        if (kura_date_format(from, zone, a, sizeof a) != 0)
            snprintf(a, sizeof a, "?");
        cmd_last_day(c, until, b, sizeof b);
        if (json) {
            if (mine_row_json(c, mine == 0, ds->id, role, a, b, cmd_days_left(until, now), state, notes) != 0)
                bad = true;
        } else
            fprintf(c->out, "%-20s %-16s %-10s %-10s %9ld  %s%s%s\n", ds->id, role, a, b, cmd_days_left(until, now), state,
                    notes[0] ? ", " : "", notes);
        mine++;
    }
    if (json)
        fputc(']', c->out);
    else if (!mine)
        fprintf(c->out, "(you are not listed in any dataset on this server)\n");
    if (!bad && cmd_status_history(c, all, loaded, ids, n, json) != 0)
        bad = true;
    if (!bad && cmd_status_records(c, all, loaded, n, json) != 0)
        bad = true;
    if (!bad && c->actor->operator && (n || json)) {
        if (json) {
            json_member(c, &first, "overview");
            fputc('[', c->out);
        } else
            fprintf(c->out, "\nall datasets (operator view):\n%-20s %-4s %-6s %-16s %-10s %-10s %5s %6s  %s\n",
                    "DATASET", "KIND", "LEVEL", "PI", "FROM", "UNTIL", "USERS", "FILES", "STATUS");
        for (size_t i = 0; i < n && !bad; i++) {
            if (!loaded[i] && !json) {
                fprintf(c->out, "%-20s (unreadable: see the error above)\n", ids[i]);
            } else if (!loaded[i]) {
                char buf[256];
                struct kura_json_writer w;
                kura_json_begin(&w, buf, sizeof buf);
                kura_json_add_string(&w, "dataset", ids[i]);
                kura_json_add_string(&w, "state", "unreadable");
                bad = cmd_json_item(c, &w, i == 0, ids[i]) != 0;
            } else if (!json) {
                struct overview_row r = overview_row(c, &all[i], now);
                overview_row_print(c, &r);
            } else {
                struct overview_row r = overview_row(c, &all[i], now);
                bad = overview_row_json(c, &r, i == 0) != 0;
            }
        }
        if (json)
            fputc(']', c->out);
    }
    if (json)
        fputs("}\n", c->out);
    if (unreadable && !c->actor->operator)
        fprintf(c->err, "kuractl status: %zu dataset(s) could not be read; ask an operator\n", unreadable);
    for (size_t i = 0; i < n; i++)
        kura_dataset_clear(&all[i]);
    cmd_strv_free(ids, n);
    free(all);
    free(loaded);
    return unreadable || bad ? KURA_EXIT_FAIL : KURA_EXIT_OK;
}
