/* Consent withdrawal and end of use (issue 6; R-REV-1, R-REV-3, R-LOG-4):
 *   kuractl withdraw ID SAMPLE --ref TEXT
 *   kuractl dataset destroy ID [--dry-run] [--yes] [--payloads]
 *   kuractl report destruction ID
 * The state change commits first (with its ledger record), so the mount
 * stops serving at once; then the keys are destroyed (fsutil's
 * overwrite-fsync-unlink-fsync). A run interrupted between the two is
 * finished by running the same command again. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/changes.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/keystore.h"
#include "kura/ledger.h"
#include "kura/notify.h"
#include "kura/policy.h"
#include "kura/report.h"
#include "kura/text.h"
#include "kura/when.h"

#define NOTIFY_WAIT_MS 5000

static bool file_has_sample(const struct kura_file *f, const char *sample)
{
    for (size_t i = 0; i < f->nsamples; i++)
        if (strcmp(f->samples[i], sample) == 0)
            return true;
    return false;
}

/* f's samples other than sample, comma-separated, or "-". */
static void other_samples(FILE *out, const struct kura_file *f, const char *sample)
{
    size_t k = 0;
    for (size_t i = 0; i < f->nsamples; i++)
        if (strcmp(f->samples[i], sample) != 0)
            fprintf(out, "%s%s", k++ ? "," : "", f->samples[i]);
    if (!k)
        fputc('-', out);
}

/* "alice,bob": the listed users, for notifications. */
static char *users_of(const struct kura_dataset *ds)
{
    const char **names = calloc(ds->ngrants + 1, sizeof *names);
    if (!names)
        return NULL;
    for (size_t i = 0; i < ds->ngrants; i++)
        names[i] = ds->grants[i].user;
    char *s = kura_comma_join(names, ds->ngrants);
    free(names);
    return s;
}

static void notify(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, const char *event, const char *sample,
                   const char *ref, const char *message)
{
    char *users = users_of(ds);
    struct kura_notice n = {.event = event, .dataset = ds->id, .pi = ds->pi, .users = users, .sample = sample,
                            .ref = ref, .time = cmd_now(), .message = message};
    struct kura_err e = {0};
    /* The daemon does not wait; kuractl waits a little to log a failure. */
    if (kura_notify(c->env->cfg, &n, c->env->socket_mode ? 0 : NOTIFY_WAIT_MS, &e) != 0)
        fprintf(c->err, "kuractl: warning: notification not sent: %s\n", e.msg);
    free(users);
}

/* Hex BLAKE2b-256 of a file's bytes: names destroyed key material without
 * revealing it (headers and wrapped keys are ciphertext). */
static int fingerprint(const char *path, char out[65])
{
    char *data = NULL;
    size_t len = 0;
    if (kura_read_file(path, C4GH_MAX_HEADER_SIZE, &data, &len, NULL) != 0)
        return -1;
    uint8_t h[32];
    crypto_generichash(h, sizeof h, (const uint8_t *)data, len, NULL, 0);
    sodium_bin2hex(out, 65, h, sizeof h);
    free(data);
    return 0;
}

/* ---- withdraw -------------------------------------------------------------- */

/* What withdrawing sample would do: for --dry-run, and before it is
 * confirmed (issue 20): which files stop being served, which of them also
 * hold samples whose consent stands, and what to ask the archive for. */
static void preview(FILE *o, const struct cmd_txn *t, const char *sample, size_t nfiles, size_t nshared)
{
    const char *id = t->ds.id;
    if (kura_dataset_sample_withdrawn(&t->ds, sample)) {
        fprintf(o, "sample %s is withdrawn from dataset %s already: nothing changes but the destruction of any key "
                   "left over\n", sample, id);
        return;
    }
    if (!nfiles) {
        fprintf(o, "no file of dataset %s comes from sample %s (check the sample id): the withdrawal would be recorded "
                   "as pending, and files of it imported later would never be served\n", id, sample);
        return;
    }
    fprintf(o, "withdrawing sample %s from dataset %s stops serving these %zu file(s) and destroys their keys for "
               "good:\n", sample, id, nfiles);
    for (size_t i = 0; i < t->nfiles; i++) {
        const struct kura_file *f = &t->files[i];
        if (!file_has_sample(f, sample))
            continue;
        /* The archive's name for it: escaped, as every view shows it. */
        fputs("  ", o);
        kura_text_put_escaped(o, f->path, strlen(f->path));
        if (f->nsamples > 1) {
            fprintf(o, "  (also holds ");
            other_samples(o, f, sample);
            fprintf(o, ", whose consent stands)");
        }
        fputc('\n', o);
    }
    if (nshared)
        fprintf(o, "%zu of these file(s) also hold other samples and are lost to them too: the PI should ask the "
                   "archive for a re-delivery of them without sample %s\n", nshared, sample);
}

/* Checks the sample id and begins the dataset's transaction (cmd_txn_begin's
 * role and what), with its files: 0, or the command's exit status. */
static int begin_sample(const struct kura_cmd_ctx *c, const char *id, const char *sample, enum kura_cmd_role role,
                        unsigned what, struct cmd_txn *t)
{
    struct kura_err e = {0};
    if (kura_id_check(sample, "sample id", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    return cmd_txn_begin(c, id, role, what | CMD_TXN_FILES, t) == 0 ? 0 : KURA_EXIT_FAIL;
}

/* res->preview: what withdrawing rq->sample would do. */
static int preview_text(const struct cmd_txn *t, const char *sample, struct kura_withdraw_result *res)
{
    size_t len;
    FILE *f = open_memstream(&res->preview, &len);
    if (!f)
        return -1;
    preview(f, t, sample, res->nfiles, res->nshared);
    return fclose(f) == 0 ? 0 : -1;
}

const struct kura_cmd cmd_row_withdraw = {NULL, "withdraw", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_ENDS_ACCESS | KURA_CMD_CONFIRM | KURA_CMD_PREVIEW, cmd_withdraw,
    "ID SAMPLE --ref TEXT [--dry-run] [--yes]",
    "Records that consent for SAMPLE was withdrawn: its files vanish from the mount at\n"
    "once, open handles stop at their next read, and their headers are destroyed so nobody can\n"
    "decrypt them again; with no file of SAMPLE yet, it is recorded as pending. --dry-run lists\n"
    "what would stop being served and which files also hold other samples; on a terminal that\n"
    "list comes before the confirmation, without one --yes is needed. The PI and the users are\n"
    "notified (syslog, notify_command). Running it again finishes an interrupted destruction."};

int kura_change_withdraw(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                         const struct kura_withdraw_request *rq, struct kura_withdraw_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_withdraw);
    memset(res, 0, sizeof *res);
    struct kura_err e = {0};
    if (cmd_required_text(c, rq->ref, "the reference") != 0)
        return KURA_EXIT_FAIL;
    const char *sample = rq->sample, *ref = rq->ref;
    struct cmd_txn t;
    if (begin_sample(c, rq->dataset, sample, KURA_CMD_OPERATOR, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_dataset *ds = &t.ds;
    for (size_t i = 0; i < t.nfiles; i++)
        if (file_has_sample(&t.files[i], sample)) {
            res->nfiles++;
            cmd_append_word(res->files, sizeof res->files, t.files[i].path);
            if (t.files[i].nsamples > 1) {
                res->nshared++;
                cmd_append_word(res->shared, sizeof res->shared, t.files[i].path);
            }
        }
    res->no_sample_map = kura_files_no_sample_map(t.files, t.nfiles);
    res->already = kura_dataset_sample_withdrawn(ds, sample);
    /* Finishing an earlier withdrawal decides nothing new: no confirmation. */
    res->refused_unconfirmed = !rq->dry_run && !res->already && !rq->confirmed;
    if (rq->dry_run || res->refused_unconfirmed) {
        /* Refused unconfirmed: the caller says so after the preview. */
        if (preview_text(&t, sample, res) != 0)
            cmd_fail(c, "out of memory");
        else if (rq->dry_run)
            rc = KURA_EXIT_OK;
        goto out;
    }
    if (!res->already) {
        struct kura_withdrawal *g = realloc(ds->withdrawals, (ds->nwithdrawals + 1) * sizeof *g);
        if (!g) {
            cmd_fail(c, "out of memory");
            goto out;
        }
        ds->withdrawals = g;
        struct kura_withdrawal *w = &ds->withdrawals[ds->nwithdrawals++];
        memset(w, 0, sizeof *w);
        snprintf(w->sample, sizeof w->sample, "%s", sample);
        snprintf(w->ref, sizeof w->ref, "%s", ref);
        w->at = cmd_now();
        char after[1000];   /* within KURA_LEDGER_FIELD_MAX */
        if (res->nfiles)
            snprintf(after, sizeof after, "withdrawn; %zu file(s) hidden, headers destroyed: %s%s%s%s%s", res->nfiles,
                     res->files, res->nshared ? "; also holding other samples (ask the archive for a re-delivery without " : "",
                     res->nshared ? sample : "", res->nshared ? "): " : "", res->shared);
        else
            snprintf(after, sizeof after, "withdrawn (pending: no file imported yet; a later import of its files "
                                          "keeps them unserved, without a key)");
        struct kura_restriction r = cmd_restriction(KURA_RESTRICT_SAMPLE, ds->id, 0, NULL, sample);
        struct cmd_change ch = {.action = "withdraw", .target = sample, .before = "consented", .after = after,
                                .detail = ref, .audit_event = KURA_AUDIT_WITHDRAW, .restriction = &r};
        if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
            goto out;
    }
    /* From here on nobody is served these files; now nobody ever can be. */
    for (size_t i = 0; i < t.nfiles; i++) {
        if (!kura_file_withdrawn(ds, &t.files[i]))
            continue;
        char *hdr = kura_layout_header(c->env->cfg->keys_dir, ds->id, t.files[i].file_id);
        if (!hdr) {
            cmd_fail(c, "out of memory");
            goto out;
        }
        bool present = access(hdr, F_OK) == 0;
        free(hdr);
        if (kura_keystore_file_destroy(c->env->cfg->keys_dir, ds->id, t.files[i].file_id, &e) != 0) {
            cmd_fail(c, "the withdrawal is recorded, but destroying the key of %s failed: %s; run the command again",
                     t.files[i].path, e.msg);
            goto out;
        }
        res->keys_destroyed += present;
    }
    if (!res->already) {
        char msg[900];
        if (!res->nfiles)
            snprintf(msg, sizeof msg, "consent for sample %s was withdrawn (%s); dataset %s holds no file of it yet, "
                                      "and none imported later will be served", sample, ref, ds->id);
        else
            snprintf(msg, sizeof msg, "consent for sample %s was withdrawn (%s); its %zu file(s) in dataset %s are no "
                                      "longer available and cannot be decrypted", sample, ref, res->nfiles, ds->id);
        notify(c, ds, "withdraw", sample, ref, msg);
    }
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

void kura_withdraw_result_free(struct kura_withdraw_result *res)
{
    free(res->preview);
    memset(res, 0, sizeof *res);
}

int cmd_withdraw(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_withdraw_request rq = {0};
    bool yes = false;
    const struct cmd_opt opts[] = {{"ref", true, &rq.ref, NULL}, {"yes", false, NULL, &yes},
                                   {"dry-run", false, NULL, &rq.dry_run}, {0}};
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    int rc = cmd_required_option(c, rq.ref, "--ref", "the withdrawal's reference");
    if (rc != KURA_EXIT_OK)
        return rc;
    struct kura_err e = {0};
    if (kura_id_check(pos[1], "sample id", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    rq.dataset = pos[0];
    rq.sample = pos[1];
    rq.confirmed = yes || (c->env->flags & KURA_CTL_CONFIRMED);
    struct kura_withdraw_result res;
    rc = kura_change_withdraw(c->env, c->actor, c->err, &rq, &res);
    const char *id = rq.dataset, *sample = rq.sample, *ref = rq.ref;
    if (res.preview)
        fputs(res.preview, rq.dry_run ? c->out : c->err);
    if (res.refused_unconfirmed && res.preview)
        cmd_fail(c, "withdrawing sample %s cannot be undone; confirm on a terminal or give --yes", sample);
    if (rc != KURA_EXIT_OK || rq.dry_run) {
        if (rc == KURA_EXIT_OK)
            fprintf(c->out, "(--dry-run: nothing was changed)\n");
        kura_withdraw_result_free(&res);
        return rc;
    }
    if (res.already)
        fprintf(c->out, "sample %s was withdrawn from dataset %s already; %zu remaining file key(s) destroyed now\n",
                sample, id, res.keys_destroyed);
    else if (!res.nfiles) {
        /* Recorded all the same: the sample's files may arrive later (R-REV-1). */
        fprintf(c->out, "sample %s withdrawn from dataset %s (%s): no file of the dataset comes from it yet; the "
                        "withdrawal is pending: any file of it imported later is kept but never served\n",
                sample, id, ref);
        fprintf(c->err, "kuractl withdraw: note: no file of dataset %s names sample %s now; check the sample id%s\n",
                id, sample, res.no_sample_map ? " (the dataset has no sample map: its files name no sample at all)" : "");
    } else {
        fprintf(c->out, "sample %s withdrawn from dataset %s (%s): %zu file(s) no longer served, %zu file key(s) "
                        "destroyed: %s\n", sample, id, ref, res.nfiles, res.keys_destroyed, res.files);
        if (res.nshared)
            fprintf(c->out, "%zu of them also hold other samples, whose consent stands: ask the archive for a "
                            "re-delivery without sample %s of: %s\n", res.nshared, sample, res.shared);
    }
    kura_withdraw_result_free(&res);
    return KURA_EXIT_OK;
}

/* ---- destroy ----------------------------------------------------------------- */

static void report_line_time(FILE *f, const struct kura_cmd_ctx *c, const char *label, int64_t t)
{
    char buf[48];
    fprintf(f, "%s%s\n", label, cmd_time(c, t, buf, sizeof buf));
}

/* One row of the destruction report's users table. */
static void user_line(const struct kura_cmd_ctx *c, FILE *f, const char *user, const char *role, int64_t uid,
                      const char *from, const char *until, const struct cmd_user_usage *u)
{
    char last[48];
    fprintf(f, "| %s | %s | %lld | %s | %s | %llu | %llu | %s |\n", user, role, (long long)uid, from, until,
            u ? (unsigned long long)u->opens : 0ULL, u ? (unsigned long long)u->read_throughs : 0ULL,
            u && u->last_ms ? cmd_time(c, u->last_ms / 1000, last, sizeof last) : "never");
}

/* Everyone who had access over the dataset's life and their last access:
 * the PI and the users listed now (their periods as their rows in report
 * usage), those listed once and no more by the ledger (former-pi,
 * former-user, each period from and until the ledger's times, used or
 * not), and anyone else the log saw open a file (not-listed). With
 * unread (the ledger did not verify: why), the former ones are not named
 * as such, and the report says so; those the log saw open a file are,
 * as not-listed. */
static void users_table(const struct kura_cmd_ctx *c, FILE *f, const struct kura_dataset *ds,
                        const struct cmd_listings *l, const struct cmd_usage *use, const char *unread)
{
    const struct kura_zone *zone = c->env->cfg->zone;
    char a[48], b[48];
    fprintf(f, "\n## Users and their last access\n\n| user | role | uid | from | until | opens | read-throughs | last access |\n"
               "|---|---|---|---|---|---|---|---|\n");
    size_t pi = cmd_listing_now(l, ds->pi, ds->pi_uid, true);
    int64_t pi_from = pi ? l->v[pi - 1].from : ds->from;
    user_line(c, f, ds->pi, "pi", ds->pi_uid, kura_date_format(pi_from, zone, a, sizeof a) == 0 ? a : "?",
              cmd_last_day(c, ds->until, b, sizeof b), cmd_usage_find(use, ds->pi, ds->pi_uid, pi));
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        user_line(c, f, g->user, kura_role_name(g->role), g->uid, kura_date_format(g->from, zone, a, sizeof a) == 0 ? a : "?",
                  cmd_last_day(c, g->until, b, sizeof b),
                  cmd_usage_find(use, g->user, g->uid, cmd_listing_now(l, g->user, g->uid, false)));
    }
    for (size_t k = 0; k < l->n; k++) {
        const struct cmd_listing *x = &l->v[k];
        if (!x->current)
            user_line(c, f, x->user, x->pi ? "former-pi" : "former-user", x->uid, cmd_time(c, x->from, a, sizeof a),
                      x->until == INT64_MAX ? "none" : cmd_time(c, x->until, b, sizeof b),
                      cmd_usage_find(use, x->user, x->uid, k + 1));
    }
    for (size_t i = 0; i < use->n; i++) {
        const struct cmd_user_usage *u = &use->users[i];
        const struct kura_grant *g = kura_dataset_grant(ds, (uid_t)u->uid);
        bool listed_now = (u->uid == ds->pi_uid && strcmp(u->user, ds->pi) == 0) || (g && strcmp(g->user, u->user) == 0);
        if (!u->listing && (u->opens || u->read_throughs) && !(unread && listed_now))
            user_line(c, f, u->user[0] ? u->user : "(no account)", "not-listed", u->uid, "none", "none", u);
    }
    if (unread) {
        /* A damaged ledger must not hold back the erasure itself. */
        fprintf(f, "\nThose listed once and no more could not be listed: ");
        kura_md_cell(f, unread);
        fprintf(f, ".\nThose of them the audit log saw open a file are above as not-listed; check the\n"
                   "ledger (kuractl ledger %s) for the others.\n", ds->id);
    }
}

/* The destruction report (R-REV-3, R-LOG-4): what existed, what is being
 * destroyed, when, by whom, how, who used the data last, and where the
 * audit log stood. Written before the keys go, so it can name them. */
static char *build_report(const struct kura_cmd_ctx *c, struct cmd_txn *t, bool payloads, int64_t now, size_t *len,
                          struct kura_err *e)
{
    const struct kura_dataset *ds = &t->ds;
    struct cmd_usage use;
    struct cmd_listings l;
    char unread[sizeof e->msg] = "";
    if (cmd_listings_read(c, ds, &l, e) != 0) {
        if (e->code == ENOMEM)
            return NULL;
        snprintf(unread, sizeof unread, "%s", e->msg); /* l is empty */
        *e = (struct kura_err){0};
    }
    if (cmd_usage_scan(c, ds->id, unread[0] ? NULL : &l, 0, 0, &use, e) != 0) {
        cmd_listings_free(&l);
        return NULL;
    }
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f) {
        cmd_usage_free(&use);
        cmd_listings_free(&l);
        kura_err_set(e, ENOMEM, "out of memory");
        return NULL;
    }
    char a[48], b[48], who[96], fp[65];
    const struct kura_zone *zone = c->env->cfg->zone;
    fprintf(f, "# Destruction report: dataset %s\n\n", ds->id);
    /* The title, paths and references are people's text: escaped as every
     * report's cells are (report.h), so none can hide the rows after it. */
    fprintf(f, "Dataset:          %s (%s, %s)%s", ds->id, kura_kind_name(ds->kind), kura_level_name(ds->level),
            ds->title[0] ? " " : "");
    kura_md_cell(f, ds->title);
    fputc('\n', f);
    fprintf(f, "PI:               %s (uid %u)\n", ds->pi, (unsigned)ds->pi_uid);
    fprintf(f, "Approved period:  %s..%s\n", kura_date_format(ds->from, zone, a, sizeof a) == 0 ? a : "?",
            cmd_last_day(c, ds->until, b, sizeof b));
    fprintf(f, "Server (host id): %s\n", ds->host_id);
    report_line_time(f, c, "Destroyed at:     ", now);
    fprintf(f, "Destroyed by:     %s (uid %u)\n", cmd_actor_label(c, who, sizeof who), (unsigned)c->actor->uid);
    fprintf(f, "Method:           crypto-erasure. The dataset's secret key and every file's Crypt4GH header\n"
               "                  (which holds the file's data key) were overwritten with zeros, then with\n"
               "                  random bytes, each pass fsynced, then unlinked and the directory fsynced;\n"
               "                  the daemon drops its copies in memory on reload. Without these keys the\n"
               "                  ciphertext in the store cannot be decrypted by anyone, the operator\n"
               "                  included; the same holds for every copy of a delivery encrypted to the\n"
               "                  dataset's delivery key or to a retired server key, but not for copies of\n"
               "                  deliveries encrypted to a server key that still exists (listed below).\n");
    fprintf(f, "Payloads:         %s\n", payloads ? "removed from the store as well"
                                                  : "kept in the store as ciphertext nobody can decrypt");
    char *key = kura_layout_key_dataset_file(c->env->cfg->keys_dir, ds->id, KURA_DATASET_KEY_FILE);
    if (key && fingerprint(key, fp) == 0)
        fprintf(f, "Dataset key:      wrapped key file BLAKE2b-256 %s\n", fp);
    else
        fprintf(f, "Dataset key:      (already gone)\n");
    free(key);
    if (cmd_delivery_report(c, f, ds->id, e) != 0) {
        fclose(f);
        free(text);
        cmd_usage_free(&use);
        cmd_listings_free(&l);
        return NULL;
    }
    fprintf(f, "\n## Files (%zu)\n\n| path | file id | size | samples | header BLAKE2b-256 |\n|---|---|---|---|---|\n",
            t->nfiles);
    for (size_t i = 0; i < t->nfiles; i++) {
        const struct kura_file *fl = &t->files[i];
        char *hdr = kura_layout_header(c->env->cfg->keys_dir, ds->id, fl->file_id);
        bool have = hdr && fingerprint(hdr, fp) == 0;
        free(hdr);
        fputs("| ", f);
        kura_md_cell(f, fl->path);
        fprintf(f, " | %s | %llu | ", fl->file_id, (unsigned long long)fl->size);
        for (size_t k = 0; k < fl->nsamples; k++)
            fprintf(f, "%s%s", k ? "," : "", fl->samples[k]);
        fprintf(f, " | %s |\n", have ? fp : kura_file_withdrawn(ds, fl) ? "destroyed earlier (withdrawn)" : "missing");
    }
    users_table(c, f, ds, &l, &use, unread[0] ? unread : NULL);
    if (ds->nwithdrawals) {
        fprintf(f, "\n## Consent withdrawals\n\n| sample | reference | withdrawn at |\n|---|---|---|\n");
        for (size_t i = 0; i < ds->nwithdrawals; i++) {
            fprintf(f, "| %s | ", ds->withdrawals[i].sample);
            kura_md_cell(f, ds->withdrawals[i].ref);
            fprintf(f, " | %s |\n", cmd_time(c, ds->withdrawals[i].at, a, sizeof a));
        }
    }
    fprintf(f, "\n## Audit log at destruction\n\nLast record before the destruction: seq %llu%s%s, mac %s\n"
               "(kuractl audit verify checks the chain up to and past this record.)\n",
            (unsigned long long)use.last_seq, use.last_node[0] ? " of node " : "", use.last_node,
            use.last_seq ? use.last_mac : "-");
    cmd_usage_free(&use);
    cmd_listings_free(&l);
    if (fclose(f) != 0) {
        free(text);
        kura_err_set(e, ENOMEM, "out of memory");
        return NULL;
    }
    return text;
}

static int remove_payloads(const struct kura_cmd_ctx *c, const struct cmd_txn *t, struct kura_err *e)
{
    char *store = cmd_store_dir(c, t->id);
    if (!store) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < t->nfiles && rc == 0; i++) {
        char *p = kura_layout_join(store, t->files[i].file_id);
        if (!p) {
            kura_err_set(e, ENOMEM, "out of memory");
            rc = -1;
        } else if (unlink(p) != 0 && errno != ENOENT) {
            kura_err_set(e, errno, "remove %s: %s", p, strerror(errno));
            rc = -1;
        }
        free(p);
    }
    if (rc == 0 && rmdir(store) != 0 && errno != ENOENT && errno != ENOTEMPTY) {
        kura_err_set(e, errno, "remove %s: %s", store, strerror(errno));
        rc = -1;
    }
    free(store);
    return rc;
}

/* destroy --dry-run, and on a terminal before the question: who loses
 * access (with their days left), the files and bytes whose keys go, and
 * the deliveries whose copies stay decryptable (the report's key section). */
static int destroy_preview(const struct kura_cmd_ctx *c, FILE *f, struct cmd_txn *t, bool payloads)
{
    const struct kura_dataset *ds = &t->ds;
    if (ds->status == KURA_DS_DESTROYED) {
        fprintf(f, "dataset %s is destroyed already; running destroy again finishes what is left\n", t->id);
        return KURA_EXIT_OK;
    }
    int64_t now = cmd_now();
    unsigned long long bytes = 0;
    for (size_t i = 0; i < t->nfiles; i++)
        bytes += t->files[i].size;
    char last[48];
    fprintf(f, "destroying dataset %s (%s, %s%s%s) would destroy:\n", t->id, kura_kind_name(ds->kind),
            kura_ds_status_name(ds->status), ds->title[0] ? ": " : "", ds->title);
    fprintf(f, "  the keys of %zu file(s), %llu bytes%s\n", t->nfiles, bytes,
            payloads ? ", and their ciphertext (--payloads)" : " (the ciphertext stays, undecryptable)");
    fprintf(f, "  the access of these users, ended at once:\n  %-32s %-16s %-10s %9s\n", "USER", "ROLE", "UNTIL",
            "DAYS LEFT");
    int64_t from, until;
    kura_policy_window(ds, ds->pi_uid, &from, &until);
    fprintf(f, "  %-32s %-16s %-10s %9ld\n", ds->pi, "pi", cmd_last_day(c, until, last, sizeof last),
            cmd_days_left(until, now));
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        kura_policy_window(ds, g->uid, &from, &until);
        fprintf(f, "  %-32s %-16s %-10s %9ld\n", g->user, kura_role_name(g->role),
                cmd_last_day(c, until, last, sizeof last), cmd_days_left(until, now));
    }
    struct kura_err e = {0};
    if (cmd_delivery_report(c, f, t->id, &e) != 0)
        return cmd_fail(c, "cannot list the dataset's keys and deliveries: %s", e.msg);
    fprintf(f, "\n(dry run: nothing was changed)\n");
    return KURA_EXIT_OK;
}

const struct kura_cmd cmd_row_dataset_destroy = {"dataset", "destroy", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_CONFIRM | KURA_CMD_PREVIEW,
    cmd_dataset_destroy, "ID [--dry-run] [--yes] [--payloads]",
    "Crypto-erasure at end of use: marks the dataset destroyed (use stops at once),\n"
    "destroys its key and every file header (overwrite, fsync, unlink, fsync the directory), with\n"
    "--payloads removes the ciphertext too, and prints the destruction report (kept next to the\n"
    "state, its SHA-256 in the ledger) and where it is kept. --dry-run lists what would be\n"
    "destroyed: the users with their days left, the files and bytes, and the deliveries whose\n"
    "copies stay decryptable; on a terminal that list comes before the confirmation, without one\n"
    "--yes is needed. An interrupted destroy is finished by running it again."};

int kura_change_destroy(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                        const struct kura_destroy_request *rq, struct kura_destroy_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_destroy);
    memset(res, 0, sizeof *res);
    char *import_lock = cmd_dataset_file(c, rq->dataset, KURA_IMPORT_LOCK);
    struct cmd_txn t;
    int lock_fd = -1, rc = KURA_EXIT_FAIL;
    char *report = NULL, *text = NULL;
    size_t len = 0;
    struct kura_err e = {0};
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, CMD_TXN_FILES | CMD_TXN_DESTROYED_OK, &t) != 0) {
        free(import_lock);
        return KURA_EXIT_FAIL;
    }
    if (rq->dry_run) {
        size_t plen = 0;
        FILE *f = open_memstream(&res->preview, &plen);
        if (!f) {
            cmd_fail(c, "out of memory");
            goto out;
        }
        rc = destroy_preview(c, f, &t, rq->payloads);
        if (fclose(f) != 0 && rc == KURA_EXIT_OK)
            rc = cmd_fail(c, "out of memory");
        goto out;
    }
    /* An import writes keys: none may run while they are destroyed. */
    if (!import_lock || (lock_fd = kura_lock(import_lock, 0, &e)) < 0) {
        cmd_fail(c, "an import into dataset %s is running; wait for it to end", t.id);
        goto out;
    }
    if (!(report = cmd_dataset_file(c, t.id, KURA_DESTRUCTION_REPORT_FILE))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    res->already = t.ds.status == KURA_DS_DESTROYED;
    if (!res->already) {
        /* Before the report's write: that is a durable step too. */
        struct kura_restriction r = cmd_restriction(KURA_RESTRICT_DATASET, t.id, 0, NULL, NULL);
        cmd_cluster_restrict(c, &t, &r);
        int64_t now = cmd_now();
        if (!(text = build_report(c, &t, rq->payloads, now, &len, &e)) ||
            kura_write_file_atomic(report, text, len, KURA_STATE_FILE_MODE, &e) != 0) {
            cmd_fail(c, "cannot write the destruction report: %s", e.msg);
            goto out;
        }
        char sha[65], detail[128], before[32], who[96];
        cmd_sha256_hex(text, len, sha);
        snprintf(detail, sizeof detail, "report sha256=%s", sha);
        snprintf(before, sizeof before, "%s", kura_ds_status_name(t.ds.status));
        t.ds.status = KURA_DS_DESTROYED;
        snprintf(t.ds.status_reason, sizeof t.ds.status_reason, "destroyed by %s", cmd_actor_label(c, who, sizeof who));
        struct cmd_change ch = {.action = "dataset-destroy", .target = t.id, .before = before, .after = "destroyed",
                                .detail = detail, .audit_event = KURA_AUDIT_DESTROY};
        if (cmd_txn_commit(c, &t, true, false, &ch) != 0)
            goto out;
    } else {
        if (kura_read_file(report, CMD_REPORT_MAX, &text, &len, &e) != 0) {
            cmd_fail(c, "dataset %s is destroyed but its report cannot be read: %s", t.id, e.msg);
            goto out;
        }
        fprintf(c->err, "kuractl dataset destroy: dataset %s was destroyed already; finishing what is left\n", t.id);
    }
    if (kura_keystore_dataset_destroy(c->env->cfg->keys_dir, t.id, &e) != 0) {
        cmd_fail(c, "dataset %s is marked destroyed, but destroying its keys failed: %s; run the command again",
                 t.id, e.msg);
        goto out;
    }
    if (rq->payloads && remove_payloads(c, &t, &e) != 0) {
        cmd_fail(c, "the keys are destroyed, but removing the payloads failed: %s", e.msg);
        goto out;
    }
    if (!cmd_keystore_empty(c, t.id)) {
        cmd_fail(c, "the keystore still holds key material of dataset %s; run the command again", t.id);
        goto out;
    }
    if (!res->already) {
        char msg[200];
        snprintf(msg, sizeof msg, "dataset %s was destroyed; its data can no longer be decrypted", t.id);
        notify(c, &t.ds, "destroy", NULL, NULL, msg);
    }
    res->report = text;
    res->report_len = len;
    text = NULL;
    rc = KURA_EXIT_OK;
out:
    kura_unlock(lock_fd);
    cmd_txn_end(&t);
    free(import_lock);
    free(report);
    free(text);
    return rc;
}

void kura_destroy_result_free(struct kura_destroy_result *res)
{
    free(res->report);
    free(res->preview);
    memset(res, 0, sizeof *res);
}

int cmd_dataset_destroy(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_destroy_request rq = {0};
    bool yes = false;
    const struct cmd_opt opts[] = {{"yes", false, NULL, &yes}, {"payloads", false, NULL, &rq.payloads},
                                   {"dry-run", false, NULL, &rq.dry_run}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    rq.dataset = pos[0];
    if (!yes && !rq.dry_run && !(c->env->flags & KURA_CTL_CONFIRMED))
        return cmd_fail(c, "destroying dataset %s cannot be undone; see what it destroys with --dry-run, then "
                           "confirm on a terminal or give --yes", rq.dataset);
    struct kura_destroy_result res;
    int rc = kura_change_destroy(c->env, c->actor, c->err, &rq, &res);
    if (rc == KURA_EXIT_OK && rq.dry_run) {
        fputs(res.preview, c->out);
    } else if (rc == KURA_EXIT_OK) {
        char *path = cmd_dataset_file(c, rq.dataset, KURA_DESTRUCTION_REPORT_FILE);
        fwrite(res.report, 1, res.report_len, c->out);
        fprintf(c->out, "\nVerified after destruction: the keystore holds nothing for dataset %s.\n", rq.dataset);
        if (path)
            fprintf(c->out, "This report is kept in %s (kuractl report destruction %s prints it again).\n", path,
                    rq.dataset);
        free(path);
    }
    kura_destroy_result_free(&res);
    return rc;
}

/* ---- report destruction ----------------------------------------------------------- */

static const struct kura_report_label DESTRUCTION = {"destruction", "Destruction report", "破棄報告"};
static const struct kura_report_label D_SEQ = {"ledger_seq", "Ledger record", "台帳の記録番号"};
static const struct kura_report_label D_TIME = {"ledger_time", "Recorded at", "記録日時"};
static const struct kura_report_label D_SHA = {"sha256", "SHA-256 of the report", "報告書のSHA-256"};
static const struct kura_report_label D_TEXT = {"text", "Report", "報告書"};

/* --json: the check's result and the report as written, in one object. */
static int print_destruction_json(const struct kura_cmd_ctx *c, const char *id, const struct cmd_destruction *fd)
{
    struct kura_report r;
    struct kura_err e = {0};
    kura_report_init(&r, &DESTRUCTION, id);
    kura_report_item(&r, &D_SEQ, KURA_CELL_INT((uint64_t)fd->seq));
    kura_report_item(&r, &D_TIME, KURA_CELL_TEXT(fd->time));
    kura_report_item(&r, &D_SHA, KURA_CELL_TEXT(fd->sha));
    kura_report_item(&r, &D_TEXT, KURA_CELL_TEXT(fd->text));
    int rc = kura_report_json(c->out, &r, &e);
    kura_report_free(&r);
    return rc == 0 ? 0 : cmd_fail_err(c, &e);
}

int cmd_report_destruction(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool json = false;
    const struct cmd_opt opts[] = {{"json", false, NULL, &json}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], KURA_CMD_PI, CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct cmd_destruction d = {0};
    if (cmd_destruction_read(c, &t.ds, &d) != 0)
        goto out;
    if (json) {
        if (strlen(d.text) != d.len) {
            cmd_fail(c, "the report of dataset %s holds a NUL byte; read it without --json", t.id);
            goto out;
        }
        if (print_destruction_json(c, t.id, &d) != 0)
            goto out;
    } else {
        fwrite(d.text, 1, d.len, c->out);
        fprintf(c->out, "\nThis report matches ledger record %lld (%s, sha256 %s).\n", (long long)d.seq, d.time, d.sha);
        fprintf(c->out, "Checked now: the keystore holds nothing for dataset %s.\n", t.id);
    }
    rc = KURA_EXIT_OK;
out:
    free(d.text);
    cmd_txn_end(&t);
    return rc;
}

/* ---- report withdrawal ------------------------------------------------------------ */

/* kuractl report withdrawal ID SAMPLE [--md|--html|--csv|--json] [--lang
 * en|ja]: who opened the sample's files, when, and the bytes they read,
 * from the audit log, so the PI can chase data derived from them; files
 * withdrawn earlier included (files.tsv keeps them after their keys are
 * gone, and the log keeps their opens). One model (report.h) in every
 * format; CSV is the table a PI works from: who opened them. */

typedef struct kura_report_label label;

static const label WR = {"withdrawal", "Withdrawal report", "同意撤回の報告"};
static const label WR_SAMPLE = {"sample", "Sample", "試料ID"};
static const label WR_CONSENT = {"consent", "Consent", "同意の状態"};
static const label W_STANDS = {"stands", "stands: not withdrawn", "撤回なし（同意は有効）"};
static const label W_WITHDRAWN = {"withdrawn", "withdrawn", "撤回済み"};
static const label W_PENDING = {"withdrawn-pending", "withdrawn, pending: no file of the sample imported yet",
                                "撤回済み（保留中：当該試料のファイルは未取り込み）"};
static const label WR_AT = {"withdrawn_at", "Withdrawn at", "撤回日時"};
static const label WR_REF = {"reference", "Reference", "参照番号"};
static const label WR_SEQ = {"audit_seq", "Audit log read to record", "監査ログの確認範囲（記録番号）"};
static const label WR_MAC = {"audit_mac", "MAC of that record", "同記録のMAC"};

static const label T_FILES = {"files", "Files of the sample", "当該試料のファイル"};
static const label C_SIZE = {"size", "size", "サイズ"};
static const label C_OTHERS = {"other_samples", "other samples in it", "同ファイル内の他の試料"};
static const label C_NOW = {"now", "now", "現在の状態"};
static const label *const FILE_COLS[] = {&cmd_label_path, &cmd_label_file_id, &C_SIZE, &C_OTHERS, &C_NOW};
static const label NONE_IMPORTED = {"none-imported",
                                    "None imported. Any file of the sample imported later is kept without a key "
                                    "and never served.",
                                    "取り込まれたファイルはない。当該試料のファイルが今後取り込まれても、鍵なしで"
                                    "保管され、提供されない。"};
/* What became of a file; the keys are the texts --json has always given. */
static const label W_STANDS_FILE = {"consent stands", "consent stands", "同意は有効"};
static const label W_NO_KEY = {"withdrawn: not served, no key left", "withdrawn: not served, no key left",
                               "撤回済み：提供停止、鍵は消去済み"};
static const label W_KEY_LEFT = {"withdrawn: not served; its key is still there (run kuractl withdraw again)",
                                 "withdrawn: not served; its key is still there (run kuractl withdraw again)",
                                 "撤回済み：提供停止。ただし鍵が残っている（kuractl withdraw を再度実行すること）"};
static const label W_DESTROYED = {"dataset destroyed, no key left", "dataset destroyed, no key left",
                                  "データセット破棄済み、鍵は消去済み"};

static const label T_SHARED = {"shared_files", "Files that also hold other samples", "他の試料も含むファイル"};
static const label *const SHARED_COLS[] = {&cmd_label_path, &C_OTHERS};
static const label ASK_ARCHIVE_DONE = {"ask-archive",
                                       "The consent of these other samples stands, but the files were withdrawn "
                                       "whole. Ask the archive for a re-delivery of them without the withdrawn "
                                       "sample.",
                                       "これらのファイルに含まれる他の試料の同意は有効だが、ファイルは丸ごと撤回された。"
                                       "撤回された試料を除いたファイルの再提供をアーカイブに依頼すること。"};
static const label ASK_ARCHIVE_FIRST = {"ask-archive",
                                        "The consent of these other samples stands, but the files would be withdrawn "
                                        "whole. Ask the archive for a re-delivery of them without this sample.",
                                        "これらのファイルに含まれる他の試料の同意は有効だが、撤回すればファイルは丸ごと"
                                        "撤回される。当該試料を除いたファイルの再提供をアーカイブに依頼すること。"};

static const label T_OPENED = {"opened_by", "Who opened them (audit log)", "アクセスした利用者（監査ログ）"};
static const label C_UID = {"uid", "uid", "UID"};
/* Of the opens and read-throughs: the user's accesses. */
static const label C_FIRST = {"first_open", "first access", "初回アクセス"};
static const label C_LAST = {"last_open", "last access", "最終アクセス"};
static const label *const OPENED_COLS[] = {&cmd_label_user,    &C_UID,   &cmd_label_file,
                                           &cmd_label_opens,   &cmd_label_read_throughs,
                                           &C_FIRST,           &C_LAST,  &cmd_label_bytes_read,
                                           &cmd_label_refused};
static const label NOBODY = {"nobody", "Nobody opened or tried to open these files.",
                             "これらのファイルを開いた利用者も、開こうとした利用者もいない。"};
static const label ASK_USERS = {"ask-users",
                                "What these users read, and anything they derived from it, may still be with "
                                "them: ask them to delete it.",
                                "これらの利用者の手元には、読み出したデータとそこから派生したデータが残っている"
                                "可能性がある。削除を依頼すること。"};

/* What became of a file of the sample. */
static const label *file_now(const struct kura_dataset *ds, const struct kura_file *f, char **keys, size_t nkeys)
{
    const char *fid = f->file_id;
    bool key = nkeys && bsearch(&fid, keys, nkeys, sizeof *keys, cmd_cmp_str);
    return ds->status == KURA_DS_DESTROYED ? &W_DESTROYED
           : !kura_file_withdrawn(ds, f)   ? &W_STANDS_FILE
           : key                           ? &W_KEY_LEFT
                                           : &W_NO_KEY;
}

struct withdrawal_facts {
    const struct cmd_txn *t;
    const char *sample;
    const struct kura_withdrawal *w;     /* NULL: consent stands */
    size_t nfiles;                       /* of the sample */
    char **keys;
    size_t nkeys;
    const struct cmd_usage *use;
};

/* f's samples other than sample, as other_samples says them; "" if out of memory (r marked). */
static char *others_of(struct kura_report *r, const struct kura_file *f, const char *sample)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    if (m) {
        other_samples(m, f, sample);
        if (fclose(m) == 0)
            return s;
    }
    free(s);
    r->nomem = true;
    return NULL;
}

static void build_withdrawal(const struct kura_cmd_ctx *c, const struct withdrawal_facts *wf, struct kura_report *r)
{
    const struct kura_dataset *ds = &wf->t->ds;
    char a[48], b[48];
    kura_report_init(r, &WR, ds->id);
    kura_report_item(r, &WR_SAMPLE, KURA_CELL_TEXT(wf->sample));
    kura_report_item(r, &cmd_label_title, KURA_CELL_TEXT(ds->title));
    kura_report_item(r, &cmd_label_kind, KURA_CELL_TEXT(kura_kind_name(ds->kind)));
    kura_report_item(r, &cmd_label_level, KURA_CELL_TEXT(kura_level_name(ds->level)));
    kura_report_item(r, &cmd_label_pi, KURA_CELL_TEXT(ds->pi));
    kura_report_item(r, &WR_CONSENT, KURA_CELL_WORD(!wf->w ? &W_STANDS : wf->nfiles ? &W_WITHDRAWN : &W_PENDING));
    kura_report_item(r, &WR_AT, KURA_CELL_TEXT(wf->w ? cmd_time(c, wf->w->at, a, sizeof a) : ""));
    kura_report_item(r, &WR_REF, KURA_CELL_TEXT(wf->w ? wf->w->ref : ""));
    kura_report_item(r, &cmd_label_made_at, KURA_CELL_TEXT(cmd_time(c, cmd_now(), b, sizeof b)));
    kura_report_item(r, &cmd_label_made_by, KURA_CELL_TEXT(cmd_actor_label(c, a, sizeof a)));
    kura_report_item(r, &WR_SEQ, KURA_CELL_INT(wf->use->last_seq));
    kura_report_item(r, &WR_MAC, KURA_CELL_TEXT(wf->use->last_seq ? wf->use->last_mac : ""));

    struct kura_report_table *files = kura_report_table(r, &T_FILES, FILE_COLS, KURA_COUNT(FILE_COLS), &NONE_IMPORTED);
    struct kura_report_table *shared = kura_report_table(r, &T_SHARED, SHARED_COLS, KURA_COUNT(SHARED_COLS), &cmd_label_none);
    if (shared)
        shared->note = wf->w ? &ASK_ARCHIVE_DONE : &ASK_ARCHIVE_FIRST;
    for (size_t i = 0; i < wf->t->nfiles; i++) {
        const struct kura_file *f = &wf->t->files[i];
        if (!file_has_sample(f, wf->sample))
            continue;
        char *others = others_of(r, f, wf->sample);
        if (!others)
            return;
        const struct kura_report_cell row[] = {KURA_CELL_TEXT(f->path), KURA_CELL_TEXT(f->file_id),
                                               KURA_CELL_BYTES(f->size), KURA_CELL_TEXT(others),
                                               KURA_CELL_WORD(file_now(ds, f, wf->keys, wf->nkeys))};
        kura_report_row(r, files, row);
        if (f->nsamples > 1) {
            const struct kura_report_cell srow[] = {KURA_CELL_TEXT(f->path), KURA_CELL_TEXT(others)};
            kura_report_row(r, shared, srow);
        }
        free(others);
    }

    struct kura_report_table *opened = kura_report_table(r, &T_OPENED, OPENED_COLS, KURA_COUNT(OPENED_COLS), &NOBODY);
    if (!opened)
        return;
    opened->note = &ASK_USERS;
    r->csv_table = r->ntables - 1;
    for (size_t i = 0; i < wf->use->n; i++) {
        const struct cmd_user_usage *u = &wf->use->users[i];
        const struct kura_report_cell row[] = {
            KURA_CELL_TEXT(u->user),  KURA_CELL_INT((uint64_t)u->uid),
            KURA_CELL_TEXT(u->path),  KURA_CELL_INT(u->opens), KURA_CELL_INT(u->read_throughs),
            KURA_CELL_TEXT(u->first_ms ? cmd_time(c, u->first_ms / 1000, a, sizeof a) : ""),
            KURA_CELL_TEXT(u->last_ms ? cmd_time(c, u->last_ms / 1000, b, sizeof b) : ""),
            KURA_CELL_BYTES(u->bytes), KURA_CELL_INT(u->refused)};
        kura_report_row(r, opened, row);
    }
}

int cmd_report_withdrawal(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct cmd_report_form form = {0};
    const struct cmd_opt opts[] = {CMD_REPORT_FORM_OPTS(form), {0}};
    char *pos[2];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 2, 2, &npos) != 0 || cmd_report_form_check(c, &form) != 0)
        return KURA_EXIT_USAGE;
    struct cmd_txn t;
    int began = begin_sample(c, pos[0], pos[1], KURA_CMD_PI, CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK, &t);
    if (began != 0)
        return began;
    int rc = KURA_EXIT_FAIL;
    const char *sample = pos[1];
    struct kura_err e = {0};
    const struct kura_dataset *ds = &t.ds;
    const char **paths = NULL;
    size_t n = 0, nkeys = 0;
    char **keys = NULL;
    struct cmd_usage use = {0};
    struct kura_report r = {0};
    if (kura_keystore_file_ids(c->env->cfg->keys_dir, ds->id, &keys, &nkeys, &e) != 0) {
        cmd_fail(c, "cannot list the keystore: %s", e.msg);
        goto out;
    }
    if (!(paths = malloc((t.nfiles ? t.nfiles : 1) * sizeof *paths))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < t.nfiles; i++)
        if (file_has_sample(&t.files[i], sample))
            paths[n++] = t.files[i].path;
    const struct kura_withdrawal *w = NULL;
    for (size_t i = 0; i < ds->nwithdrawals && !w; i++)
        if (strcmp(ds->withdrawals[i].sample, sample) == 0)
            w = &ds->withdrawals[i];
    if (!n && !w) {
        cmd_fail(c, "no file of dataset %s comes from sample %s, and it is not withdrawn; check the sample id", ds->id,
                 sample);
        goto out;
    }
    if (n)
        qsort(paths, n, sizeof *paths, cmd_cmp_str);
    if (cmd_usage_scan_files(c, ds->id, paths, n, &use, &e) != 0) {
        cmd_fail(c, "cannot read the audit log: %s", e.msg);
        goto out;
    }
    const struct withdrawal_facts wf = {
        .t = &t, .sample = sample, .w = w, .nfiles = n, .keys = keys, .nkeys = nkeys, .use = &use};
    build_withdrawal(c, &wf, &r);
    rc = cmd_report_form_print(c, &r, &form, ds) == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
out:
    kura_report_free(&r);
    cmd_usage_free(&use);
    kura_keystore_ids_free(keys, nkeys);
    free(paths);
    cmd_txn_end(&t);
    return rc;
}
