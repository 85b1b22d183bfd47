/* Keys and where deliveries stand (issue 13 §1):
 *   kuractl pubkey [ID]      the current server key, or dataset ID's delivery key
 *   kuractl key list         server keys: current, earlier, retired
 *   kuractl key rotate       a new current server key; the old one kept
 *   kuractl key retire FP    an earlier server key erased and recorded
 * and the destruction report's account of keys and surviving deliveries,
 * read from the import records in the ledgers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/ledger.h"

int cmd_keystore_open(const struct kura_cmd_ctx *c, struct kura_keystore **ks, bool *owned, struct kura_err *e)
{
    const struct kura_cmd_env *env = c->env;
    *owned = false;
    if ((*ks = env->ks))
        return 0;
    bool needed = false;
    if (kura_keystore_needs_passphrase(env->cfg->keys_dir, &needed, e) != 0)
        return -1;
    if (needed && !env->passphrase) {
        kura_err_set(e, EACCES, "the server key is passphrase-protected: give kuractl --passphrase-file FILE, "
                     "or run the command through the daemon");
        return -1;
    }
    if (kura_keystore_open(env->cfg->keys_dir, env->passphrase, ks, e) != 0)
        return -1;
    *owned = true;
    return 0;
}

/* ---- pubkey ------------------------------------------------------------------ */

/* A dataset made before delivery keys has no dataset.pub: derive it from
 * the unwrapped key and keep it. */
static int dataset_pub_from_key(const struct kura_cmd_ctx *c, const char *id, char **text, struct kura_err *e)
{
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    bool owned = false;
    int rc = -1;
    if (cmd_keystore_open(c, &ks, &owned, e) == 0 && kura_keystore_dataset_key(ks, id, &dk, e) == 0 &&
        kura_dskey_save_pub(dk, e) == 0)
        rc = kura_keystore_dataset_pubkey_text(c->env->cfg->keys_dir, id, text, e);
    kura_dskey_free(dk);
    if (owned)
        kura_keystore_close(ks);
    return rc;
}

int cmd_pubkey_text(const struct kura_cmd_ctx *c, const char *ds_id, char **text, struct kura_err *e)
{
    const char *keys = c->env->cfg->keys_dir;
    if (!ds_id)
        return kura_keystore_pubkey_text(keys, text, e);
    if (!kura_keystore_dataset_exists(keys, ds_id)) {
        kura_err_set(e, ENOENT, "dataset %s has no key (destroyed, or never added)", ds_id);
        return -1;
    }
    if (kura_keystore_dataset_pubkey_text(keys, ds_id, text, e) != 0 &&
        (e->code != ENOENT || dataset_pub_from_key(c, ds_id, text, e) != 0))
        return -1;
    return 0;
}

int cmd_pubkey(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 0, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    char *text = NULL;
    if (npos == 1 && kura_id_check(pos[0], "dataset id", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (cmd_pubkey_text(c, npos ? pos[0] : NULL, &text, &e) != 0)
        return cmd_fail_err(c, &e);
    fputs(text, c->out);
    free(text);
    return KURA_EXIT_OK;
}

/* ---- deliveries in the ledgers ------------------------------------------------- */

/* How imports made before kura recorded delivery keys begin their detail. */
#define OLD_DELIVERY "archive delivery"

/* An import record and what became of its sources. */
struct delivery {
    int64_t seq;
    char time[48];
    char files[KURA_LEDGER_FIELD_MAX + 1];
    struct kura_ledger_delivery_key keys[KURA_LEDGER_DELIVERY_KEYS_MAX];   /* fp "": not recorded */
    size_t nkeys;
    char sources[96];
};

typedef void (*delivery_fn)(const struct delivery *d, void *arg);

struct delivery_scan {
    struct delivery cur;
    bool pending;               /* cur is read, its removal record may follow */
    delivery_fn fn;
    void *arg;
};

static void scan_flush(struct delivery_scan *s)
{
    if (s->pending)
        s->fn(&s->cur, s->arg);
    s->pending = false;
}

static int scan_record(const struct kura_ledger_record *r, void *arg)
{
    struct delivery_scan *s = arg;
    if (strcmp(r->action, KURA_LEDGER_SOURCE_ACTION) == 0 && s->pending) {
        snprintf(s->cur.sources, sizeof s->cur.sources, "%s", r->after);
        scan_flush(s);
        return 0;
    }
    if (strcmp(r->action, "dataset-import") != 0)
        return 0;
    scan_flush(s);
    struct delivery *d = &s->cur;
    memset(d, 0, sizeof *d);
    bool removal = false;
    if (!(d->nkeys = kura_ledger_delivery_parse(r->detail, d->keys, &removal))) {
        /* Imported before kura recorded delivery keys: to the server key
         * of the time, which one is not known. */
        if (strncmp(r->detail, OLD_DELIVERY, strlen(OLD_DELIVERY)) != 0 ||
            sscanf(r->after, "%lu file(s)", &d->keys[0].files) != 1)
            return 0;
        snprintf(d->keys[0].role, sizeof d->keys[0].role, "server");
        d->nkeys = 1;
    }
    d->seq = r->seq;
    snprintf(d->time, sizeof d->time, "%s", r->time);
    snprintf(d->files, sizeof d->files, "%s", r->after);
    snprintf(d->sources, sizeof d->sources, "%s", removal ? "removal not recorded" : "kept");
    s->pending = true;
    return 0;
}

/* Calls fn for each delivery the dataset's ledger records, in order. */
static int scan_deliveries(const struct kura_cmd_ctx *c, const char *ds_id, delivery_fn fn, void *arg,
                           struct kura_err *e)
{
    char *ledger = cmd_dataset_file(c, ds_id, KURA_LEDGER_FILE);
    if (!ledger) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    struct delivery_scan s = {.fn = fn, .arg = arg};
    int rc = kura_ledger_read(ledger, scan_record, &s, e);
    if (rc == 0)
        scan_flush(&s);
    free(ledger);
    return rc;
}

/* ---- key list, rotate, retire ---------------------------------------------------- */

int cmd_key_list(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct kura_server_key_info *v = NULL;
    size_t n = 0;
    if (kura_keystore_server_keys(c->env->cfg->keys_dir, &v, &n, &e) != 0)
        return cmd_fail_err(c, &e);
    static const char *const state[] = {[KURA_SKEY_CURRENT] = "current", [KURA_SKEY_EARLIER] = "earlier",
                                        [KURA_SKEY_RETIRED] = "retired"};
    for (size_t i = 0; i < n; i++)
        fprintf(c->out, "%-8s %s%s%s\n", state[v[i].state], v[i].fp, v[i].note[0] ? "  " : "", v[i].note);
    free(v);
    return KURA_EXIT_OK;
}

/* Rotation and retirement handle the secret keys themselves: root, with the
 * passphrase, on the server; never through the daemon. */
static int refuse_socket(const struct kura_cmd_ctx *c)
{
    if (c->env->socket_mode) {
        cmd_fail(c, "run it as root on the server itself (it needs the server key's passphrase)");
        return -1;
    }
    return 0;
}

struct rotate_stamp {
    const struct kura_cmd_ctx *c;
    struct cmd_txn *cluster;
};

/* Cluster mode: the new key's fingerprint in the pending epoch, durably,
 * before the keystore changes (kura_keystore_rotate_fn). */
static int stamp_rotation(const char *new_fp, void *ctx, struct kura_err *err)
{
    const struct rotate_stamp *r = ctx;
    if (cmd_cluster_stamp_key(r->c, r->cluster, "key-rotate", KURA_STAMP_KEY_CURRENT, new_fp) == 0)
        return 0;
    kura_err_set(err, EIO, "the change could not be recorded in the cluster database");
    return -1;
}

/* A rotation that failed after its new secret key replaced server.sec but
 * before server.pub was written has switched keys all the same: opening
 * the keystore writes server.pub again from the new key (under the
 * keystore lock). Whether that made new_fp the current key; said when so. */
static bool rotation_in_place(const struct kura_cmd_ctx *c, const char *new_fp, const struct kura_err *failure)
{
    struct kura_keystore *ks = NULL;
    struct kura_err e = {0};
    if (!new_fp[0] || kura_keystore_open(c->env->cfg->keys_dir, c->env->passphrase, &ks, &e) != 0)
        return false;
    uint8_t pk[C4GH_KEY_SIZE];
    char fp[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_keystore_server_pk(ks, pk);
    kura_keystore_close(ks);
    kura_key_fingerprint(pk, fp);
    if (strcmp(fp, new_fp) != 0)
        return false;
    fprintf(c->err, "kuractl: warning: %s; the new key had replaced server.sec, and server.pub is now written "
            "again from it: the rotation goes on\n", failure->msg);
    return true;
}

const struct kura_cmd cmd_row_key_rotate = {"key", "rotate", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_key_rotate, "",
    "Makes a new server key; the old one is kept as an earlier key (deliveries encrypted to it\n"
    "still import) until key retire. Dataset keys are rewrapped to the new key. Root on the\n"
    "server only; a passphrase-protected key needs --passphrase-file (the new key gets it)."};

int kura_change_key_rotate(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                           struct kura_key_rotate_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_key_rotate);
    memset(res, 0, sizeof *res);
    if (cmd_require_operator(c) != 0 || refuse_socket(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_err e = {0};
    struct kura_keystore *ks = NULL;
    bool owned = false;
    uint8_t pk[C4GH_KEY_SIZE];
    int rc = KURA_EXIT_FAIL;
    struct cmd_txn cluster = {.lock_fd = -1};
    if (cmd_cluster_lock(c, &cluster) != 0)
        return KURA_EXIT_FAIL;
    if (cmd_keystore_open(c, &ks, &owned, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    kura_keystore_server_pk(ks, pk);
    kura_key_fingerprint(pk, res->old_fp);
    struct rotate_stamp stamp = {.c = c, .cluster = &cluster};
    if (kura_keystore_rotate(ks, c->env->passphrase, stamp_rotation, &stamp, res->new_fp, &e) != 0 &&
        !rotation_in_place(c, res->new_fp, &e)) {
        cmd_fail_err(c, &e);
        goto out;
    }
    struct cmd_change ch = {.action = "key-rotate", .target = "server key", .before = res->old_fp,
                            .after = res->new_fp, .audit_event = KURA_AUDIT_POLICY_CHANGE};
    cmd_audit_change(c, NULL, &ch);
    /* The new key is current from here; a failure below is repaired by
     * key retire, which rewraps first. */
    kura_keystore_close(ks);
    ks = NULL;
    if (kura_keystore_open(c->env->cfg->keys_dir, c->env->passphrase, &ks, &e) != 0 ||
        kura_keystore_rewrap(ks, &res->rewrapped, &e) != 0) {
        cmd_fail(c, "the new server key %s is current, but rewrapping the dataset keys failed: %s; run "
                 "kuractl key retire %s later (it rewraps first)", res->new_fp, e.msg, res->old_fp);
        goto out;
    }
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, NULL);
    /* Cluster mode: every node holds the new key as current before this
     * returns; a node holding only the old key refuses opens
     * (docs/cluster.md). */
    if (cmd_cluster_announce(c, &cluster, ch.action, true) != 0)
        goto out;
    if (kura_keystore_pubkey_text(c->env->cfg->keys_dir, &res->pubkey, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    rc = KURA_EXIT_OK;
out:
    cmd_cluster_settle(c, &cluster); /* a rotation that failed part way */
    cmd_cluster_unlock(&cluster);
    if (owned)
        kura_keystore_close(ks);
    return rc;
}

void kura_key_rotate_result_free(struct kura_key_rotate_result *res)
{
    free(res->pubkey);
    res->pubkey = NULL;
}

int cmd_key_rotate(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_key_rotate_result res;
    int rc = kura_change_key_rotate(c->env, c->actor, c->err, &res);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "new server key %s (was %s, kept as an earlier key until kuractl key retire %s); %zu "
                        "dataset key(s) rewrapped\nregister the new public key with the archive:\n%s",
                res.new_fp, res.old_fp, res.old_fp, res.rewrapped, res.pubkey);
    kura_key_rotate_result_free(&res);
    return rc;
}

struct retire_scan {
    const struct kura_cmd_ctx *c;
    const char *ds_id, *fp;
    size_t n;
};

static void retire_row(const struct delivery *d, void *arg)
{
    struct retire_scan *r = arg;
    for (size_t i = 0; i < d->nkeys; i++)
        if (strcmp(d->keys[i].fp, r->fp) == 0) {
            fprintf(r->c->out, "  dataset %s, ledger record %lld (%s): %lu file(s), sources %s: ", r->ds_id,
                    (long long)d->seq, d->time, d->keys[i].files, d->sources);
            kura_md_cell(r->c->out, d->files);
            fputc('\n', r->c->out);
            r->n++;
        }
}

/* Takes every dataset's import lock (without waiting): an import holds the
 * server keys it opened, and must not record a delivery to a key erased
 * under it. locks[] gets nids fds (-1 where none was taken). */
static int lock_imports(const struct kura_cmd_ctx *c, char **ids, size_t nids, int *locks)
{
    for (size_t i = 0; i < nids; i++)
        locks[i] = -1;
    for (size_t i = 0; i < nids; i++) {
        struct kura_err e = {0};
        char *path = cmd_dataset_file(c, ids[i], KURA_IMPORT_LOCK);
        locks[i] = path ? kura_lock(path, 0, &e) : -1;
        free(path);
        if (locks[i] < 0) {
            cmd_fail(c, "an import into dataset %s is running; retire the key when it has ended", ids[i]);
            return -1;
        }
    }
    return 0;
}

const struct kura_cmd cmd_row_key_retire = {"key", "retire", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_CONFIRM, cmd_key_retire, "FP [--yes]",
    "Erases the earlier server key FP (overwrite, fsync, unlink) and records the retirement;\n"
    "lists the deliveries the ledgers record as encrypted to it (their copies become\n"
    "undecryptable; one not yet imported can no longer be). Root on the server only."};

int kura_change_key_retire(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                           const struct kura_key_retire_request *rq, struct kura_key_retire_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_key_retire);
    memset(res, 0, sizeof *res);
    struct kura_err e = {0};
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    if (kura_key_fingerprint_check(rq->fp, &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (refuse_socket(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_keystore *ks = NULL;
    bool owned = false;
    char **ids = NULL;
    size_t nids = 0;
    int rc = KURA_EXIT_FAIL, *locks = NULL;
    struct cmd_txn cluster = {.lock_fd = -1};
    if (cmd_cluster_lock(c, &cluster) != 0)
        return KURA_EXIT_FAIL;
    if (cmd_keystore_open(c, &ks, &owned, &e) != 0 || cmd_dataset_ids(c, &ids, &nids, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (!(locks = calloc(nids + 1, sizeof *locks))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    if (lock_imports(c, ids, nids, locks) != 0)
        goto out;
    char who[96], now[48];
    snprintf(res->note, sizeof res->note, "retired %s by %s", cmd_time(c, cmd_now(), now, sizeof now),
             cmd_actor_label(c, who, sizeof who));
    /* Cluster mode: the key to retire in the pending epoch before the
     * keystore changes (also to finish an interrupted retirement); a key
     * the keystore refuses to retire (current, retired, unknown) is no
     * change. */
    if (cmd_key_on_disk(c->env->cfg->keys_dir, rq->fp) == KURA_KEY_EARLIER &&
        cmd_cluster_stamp_key(c, &cluster, "key-retire", KURA_STAMP_KEY_RETIRED, rq->fp) != 0)
        goto out;
    if (kura_keystore_retire(ks, rq->fp, res->note, &res->rewrapped, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    struct cmd_change ch = {.action = "key-retire", .target = "server key", .before = rq->fp, .after = "erased",
                            .audit_event = KURA_AUDIT_DESTROY};
    cmd_audit_change(c, NULL, &ch);
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, NULL);
    /* Cluster mode: the retired key leaves every node's memory before this
     * returns. */
    rc = cmd_cluster_announce(c, &cluster, ch.action, true) == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
out:
    cmd_cluster_settle(c, &cluster); /* a retirement that failed part way */
    cmd_cluster_unlock(&cluster);
    for (size_t i = 0; locks && i < nids; i++)
        kura_unlock(locks[i]);
    free(locks);
    cmd_strv_free(ids, nids);
    if (owned)
        kura_keystore_close(ks);
    return rc;
}

int cmd_key_retire(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool yes = false;
    const struct cmd_opt opts[] = {{"yes", false, NULL, &yes}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct kura_key_retire_request rq = {.fp = pos[0]};
    if (kura_key_fingerprint_check(rq.fp, &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (refuse_socket(c) != 0)
        return KURA_EXIT_FAIL;
    if (!yes && !(c->env->flags & KURA_CTL_CONFIRMED))
        return cmd_fail(c, "retiring server key %s cannot be undone: what was encrypted to it can no longer be "
                        "decrypted; confirm on a terminal or give --yes", rq.fp);
    struct kura_key_retire_result res;
    int rc = kura_change_key_retire(c->env, c->actor, c->err, &rq, &res);
    if (rc != KURA_EXIT_OK)
        return rc;
    fprintf(c->out, "server key %s is erased (%s); %zu dataset key(s) rewrapped first\n"
                    "deliveries the ledgers record as encrypted to it (every copy of them is now undecryptable):\n",
            rq.fp, res.note, res.rewrapped);
    /* The ledgers keep the deliveries: reading them is no part of the change. */
    char **ids = NULL;
    size_t nids = 0;
    if (cmd_dataset_ids(c, &ids, &nids, &e) != 0)
        return cmd_fail_err(c, &e);
    struct retire_scan rs = {.c = c, .fp = rq.fp};
    for (size_t i = 0; i < nids; i++) {
        rs.ds_id = ids[i];
        if (scan_deliveries(c, ids[i], retire_row, &rs, &e) != 0)
            fprintf(c->err, "kuractl key retire: warning: dataset %s: %s\n", ids[i], e.msg);
    }
    if (!rs.n)
        fprintf(c->out, "  none\n");
    cmd_strv_free(ids, nids);
    return KURA_EXIT_OK;
}

/* ---- the destruction report's keys ---------------------------------------------- */

struct report_scan {
    FILE *f;
    const char *keys_dir;
    const char *ds_fp;          /* the dataset's delivery key, erased with it */
    size_t all, surviving;
};

static void report_row(const struct delivery *d, void *arg)
{
    struct report_scan *r = arg;
    for (size_t i = 0; i < d->nkeys; i++) {
        const struct kura_ledger_delivery_key *k = &d->keys[i];
        r->all++;
        bool erased_now = r->ds_fp && strcmp(k->fp, r->ds_fp) == 0;
        /* A key not recorded may still exist: it is listed. */
        if (erased_now || (k->fp[0] && !kura_keystore_secret_exists(r->keys_dir, k->fp)))
            continue;
        fprintf(r->f, "| %lld | %s | %s key %s | %lu | %s | ", (long long)d->seq, d->time, k->role,
                k->fp[0] ? k->fp : "(not recorded: imported before kura recorded delivery keys)", k->files, d->sources);
        kura_md_cell(r->f, d->files);
        fputs(" |\n", r->f);
        r->surviving++;
    }
}

int cmd_delivery_report(const struct kura_cmd_ctx *c, FILE *f, const char *ds_id, struct kura_err *e)
{
    const char *keys = c->env->cfg->keys_dir;
    char ds_fp[KURA_KEY_FINGERPRINT_LEN + 1];
    bool have_ds_fp = kura_keystore_dataset_fingerprint(keys, ds_id, ds_fp) == 0;
    fprintf(f, "\n## Keys\n\nErased by this destruction:\n\n");
    if (have_ds_fp)
        fprintf(f, "- dataset key (the dataset's delivery key) %s\n", ds_fp);
    else
        fprintf(f, "- dataset key (its public half is not on record; already gone, or made before delivery keys)\n");
    fprintf(f, "- every file header listed below (each holds its file's data key)\n\nServer keys:\n\n");
    struct kura_server_key_info *v = NULL;
    size_t n = 0;
    if (kura_keystore_server_keys(keys, &v, &n, e) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "- %s %s%s%s\n", v[i].fp,
                v[i].state == KURA_SKEY_CURRENT   ? "current: still exists"
                : v[i].state == KURA_SKEY_EARLIER ? "earlier: still exists (kuractl key retire erases it)"
                                                  : "retired: erased",
                v[i].note[0] ? ", " : "", v[i].note);
    free(v);
    fprintf(f, "\n## Deliveries encrypted to keys that still exist\n\n"
               "A copy of one of these deliveries kept anywhere (an import without --remove-source, a\n"
               "download cache, a backup) can still be decrypted with that key.\n\n"
               "| ledger record | imported at | encrypted to | files | sources | files of the import |\n"
               "|---|---|---|---|---|---|\n");
    struct report_scan r = {.f = f, .keys_dir = keys, .ds_fp = have_ds_fp ? ds_fp : NULL};
    if (scan_deliveries(c, ds_id, report_row, &r, e) != 0) {
        /* A damaged or oversized ledger must not hold back the erasure
         * itself: the report says what it could not list, and why. */
        fprintf(f, "\nThe deliveries could not be listed: ");
        kura_md_cell(f, e->msg);
        fprintf(f, ".\nA surviving copy of one encrypted to a server key that still exists could still be\n"
                   "decrypted; check the ledger (kuractl ledger %s) and the keys above.\n", ds_id);
        *e = (struct kura_err){0};
        return 0;
    }
    if (!r.surviving)
        fprintf(f, "| - | - | none | - | - | - |\n\n"
                   "None of the dataset's %zu recorded deliveries (per import and key) was encrypted to a key\n"
                   "that still exists: a surviving copy of any of them cannot be decrypted with anything left\n"
                   "on this server.\n", r.all);
    else
        fprintf(f, "\n%zu of the dataset's %zu recorded deliveries (per import and key) were encrypted to a key\n"
                   "that still exists.\n", r.surviving, r.all);
    return 0;
}
