/* The change transaction: every state change goes through here.
 *
 * A change rewrites one state file (dataset.ini, or files.tsv for an
 * import) and appends one ledger record. Those are two files, so a journal
 * makes the pair all-or-nothing:
 *   1. .pending: the ledger record to append and the SHA-256 of the new
 *      file content (written atomically);
 *   2. the state file, replaced atomically;
 *   3. the ledger record appended;
 *   4. .pending removed.
 * The next transaction on the dataset (or a ledger read) finds a leftover
 * .pending and finishes it: if the state file holds the new content, the
 * change happened and its record is appended unless it is already the last
 * one (a record cut short by the crash is cut off first); otherwise the
 * change never happened and the journal is dropped. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/ledger.h"
#include "kura/secmem.h"

#define JOURNAL_MAX (16u * 1024)
#define LOCK_WAIT_MS 30000

/* ---- paths ------------------------------------------------------------- */

char *cmd_datasets_dir(const struct kura_cmd_ctx *c)
{
    return kura_layout_datasets_dir(c->env->cfg->state_dir);
}

char *cmd_dataset_dir(const struct kura_cmd_ctx *c, const char *id)
{
    return kura_layout_dataset_dir(c->env->cfg->state_dir, id);
}

char *cmd_dataset_file(const struct kura_cmd_ctx *c, const char *id, const char *name)
{
    return kura_layout_dataset_file(c->env->cfg->state_dir, id, name);
}

char *cmd_store_dir(const struct kura_cmd_ctx *c, const char *id)
{
    return kura_layout_store_dir(c->env->cfg->state_dir, id);
}

int cmd_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void cmd_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

int cmd_dataset_ids(const struct kura_cmd_ctx *c, char ***out, size_t *n, struct kura_err *e)
{
    *out = NULL;
    *n = 0;
    char *dir = cmd_datasets_dir(c);
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d) {
        int err = dir ? errno : ENOMEM;
        if (err != ENOENT)
            kura_err_set(e, err, "open %s: %s", dir ? dir : "datasets", strerror(err));
        free(dir);
        return err == ENOENT ? 0 : -1;
    }
    free(dir);
    char **ids = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || kura_id_check(de->d_name, "dataset id", NULL) != 0)
            continue;
        if (!kura_grow((void **)&ids, &cap, *n, sizeof *ids))
            goto nomem;
        if (!(ids[*n] = strdup(de->d_name)))
            goto nomem;
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(ids, *n, sizeof *ids, cmd_cmp_str);
    *out = ids;
    return 0;
nomem:
    closedir(d);
    cmd_strv_free(ids, *n);
    *n = 0;
    kura_err_set(e, ENOMEM, "out of memory");
    return -1;
}

/* ---- roles -------------------------------------------------------------- */

bool cmd_actor_is_pi(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    /* By uid and name: a new account given the PI's uid is not the PI. */
    return c->actor->uid == ds->pi_uid && strcmp(c->actor->name, ds->pi) == 0;
}

static bool may_manage(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    return c->actor->operator || cmd_actor_is_pi(c, ds);
}

int cmd_require_operator(const struct kura_cmd_ctx *c)
{
    if (c->actor->operator)
        return 0;
    cmd_fail(c, "only an operator (root or group %s) may do this", KURA_ADMIN_GROUP);
    return -1;
}

/* Under the lock: the actor holds role in ds (an operator's role was
 * checked before the lock: it does not depend on the dataset); else says why. */
static int require_role(const struct kura_cmd_ctx *c, enum kura_cmd_role role, const struct kura_dataset *ds)
{
    if (role == KURA_CMD_PI_ONLY) {
        /* The other role's confirmation: no operator gives it. */
        if (cmd_actor_is_pi(c, ds))
            return 0;
        cmd_fail(c, "only the PI of dataset %s (%s) may do this", ds->id, ds->pi);
        return -1;
    }
    if (role == KURA_CMD_OPERATOR || may_manage(c, ds))
        return 0;
    cmd_fail(c, "only the PI of dataset %s or an operator may do this", ds->id);
    return -1;
}

int cmd_begin_listing(const struct kura_cmd_ctx *c, int argc, char **argv, bool with_files, bool *json,
                      struct cmd_txn *t)
{
    *json = false;
    const struct cmd_opt opts[] = {{"json", false, NULL, json}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    /* Begun under the lock, so an interrupted change is finished first. */
    unsigned what = CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK | (with_files ? CMD_TXN_FILES : 0);
    return cmd_txn_begin(c, pos[0], KURA_CMD_PI, what, t) == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
}

/* ---- journal --------------------------------------------------------------- */

struct journal {
    struct kura_json_object obj;
    int64_t now;
    struct kura_ledger_change ch;
    const char *file, *sha;
};

void cmd_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(out, 65, h, sizeof h);
}

static int journal_write(const char *path, int64_t now, const struct kura_ledger_change *ch, const char *file,
                         const char *sha, struct kura_err *err)
{
    char buf[JOURNAL_MAX];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_int(&w, "now", now);
    kura_json_add_string(&w, "actor", ch->actor);
    kura_json_add_int(&w, "uid", (int64_t)ch->uid);
    kura_json_add_string(&w, "action", ch->action);
    kura_json_add_string(&w, "target", ch->target);
    kura_json_add_string(&w, "detail", ch->detail);
    kura_json_add_string(&w, "before", ch->before);
    kura_json_add_string(&w, "after", ch->after);
    kura_json_add_string(&w, "file", file);
    kura_json_add_string(&w, "sha256", sha);
    size_t len;
    if (kura_json_end(&w, &len, err) != 0)
        return -1;
    buf[len++] = '\n';
    return kura_write_file_atomic(path, buf, len, 0600, err);
}

static int journal_read(const char *path, struct journal *j, struct kura_err *err)
{
    memset(j, 0, sizeof *j);
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(path, JOURNAL_MAX, &text, &len, err) != 0)
        return -1;
    int rc = kura_json_parse_object(text, len, &j->obj, err);
    free(text);
    if (rc != 0) {
        kura_err_prefix(err, "%s", path);
        return -1;
    }
    static const char *const keys[] = {"actor", "action", "target", "detail", "before", "after", "file", "sha256"};
    const char **dst[] = {&j->ch.actor, &j->ch.action, &j->ch.target, &j->ch.detail,
                          &j->ch.before, &j->ch.after, &j->file, &j->sha};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const struct kura_json_field *f = kura_json_find(&j->obj, keys[i]);
        if (!f || f->type != KURA_JSON_STRING)
            goto bad;
        *dst[i] = f->str;
    }
    const struct kura_json_field *now = kura_json_find(&j->obj, "now"), *uid = kura_json_find(&j->obj, "uid");
    if (!now || now->type != KURA_JSON_INT || !uid || uid->type != KURA_JSON_INT || uid->num < 0)
        goto bad;
    j->now = now->num;
    j->ch.uid = (uid_t)uid->num;
    if (strcmp(j->file, KURA_DATASET_INI) != 0 && strcmp(j->file, KURA_FILES_TSV) != 0)
        goto bad;
    return 0;
bad:
    kura_json_object_free(&j->obj);
    kura_err_set(err, EINVAL, "%s: not a kura journal", path);
    return -1;
}

/* Cuts a last line without its line end (a record torn by the crash). */
static int cut_torn_line(const char *ledger, struct kura_err *err)
{
    int fd = open(ledger, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : (kura_err_set(err, errno, "open %s: %s", ledger, strerror(errno)), -1);
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        kura_err_set(err, errno, "stat %s: %s", ledger, strerror(errno));
        goto out;
    }
    off_t end = st.st_size;
    char b;
    while (end > 0) {
        if (pread(fd, &b, 1, end - 1) != 1) {
            kura_err_set(err, EIO, "read %s", ledger);
            goto out;
        }
        if (b == '\n')
            break;
        end--;
    }
    rc = 0;
    if (end != st.st_size && (ftruncate(fd, end) != 0 || fsync(fd) != 0)) {
        kura_err_set(err, errno, "cut the torn last record of %s: %s", ledger, strerror(errno));
        rc = -1;
    }
out:
    close(fd);
    return rc;
}

struct last_record {
    char time[48], actor[KURA_LEDGER_FIELD_MAX + 1], action[KURA_LEDGER_FIELD_MAX + 1];
    char target[KURA_LEDGER_FIELD_MAX + 1], detail[KURA_LEDGER_FIELD_MAX + 1];
    char before[KURA_LEDGER_FIELD_MAX + 1], after[KURA_LEDGER_FIELD_MAX + 1];
    int64_t uid;
    bool any;
};

static int keep_last(const struct kura_ledger_record *r, void *arg)
{
    struct last_record *l = arg;
    snprintf(l->time, sizeof l->time, "%s", r->time);
    snprintf(l->actor, sizeof l->actor, "%s", r->actor);
    snprintf(l->action, sizeof l->action, "%s", r->action);
    snprintf(l->target, sizeof l->target, "%s", r->target);
    snprintf(l->detail, sizeof l->detail, "%s", r->detail);
    snprintf(l->before, sizeof l->before, "%s", r->before);
    snprintf(l->after, sizeof l->after, "%s", r->after);
    l->uid = r->uid;
    l->any = true;
    return 0;
}

/* Removes the temporaries a killed atomic write leaves (".NAME.tmp-*",
 * fsutil.h) of the files only lock holders write. */
static void remove_stale_temporaries(const char *dir)
{
    static const char *const names[] = {"." KURA_DATASET_INI ".tmp-", "." KURA_FILES_TSV ".tmp-", "." KURA_JOURNAL_FILE ".tmp-"};
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (strncmp(de->d_name, names[i], strlen(names[i])) == 0)
                unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

/* Whether dataset id has a journal: a change in progress, or one cut short. */
static bool journal_pending(const struct kura_cmd_ctx *c, const char *id)
{
    char *jpath = cmd_dataset_file(c, id, KURA_JOURNAL_FILE);
    bool there = jpath && access(jpath, F_OK) == 0;
    free(jpath);
    return there;
}

/* Finishes or drops an interrupted change of the dataset in dir. */
static int recover(const struct kura_cmd_ctx *c, const char *dir, struct kura_err *err)
{
    char *jpath = kura_layout_join(dir, KURA_JOURNAL_FILE);
    char *ledger = kura_layout_join(dir, KURA_LEDGER_FILE);
    struct journal j;
    bool have_j = false;
    char *state = NULL, *text = NULL;
    struct last_record *last = calloc(1, sizeof *last);
    int rc = -1;
    if (!jpath || !ledger || !last) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    remove_stale_temporaries(dir);
    if (access(jpath, F_OK) != 0) {
        rc = 0;
        goto out;
    }
    if (journal_read(jpath, &j, err) != 0)
        goto out;
    have_j = true;
    if (!(state = kura_layout_join(dir, j.file))) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    size_t len = 0;
    bool applied = false;
    if (kura_read_file(state, KURA_FILES_TSV_MAX, &text, &len, err) == 0) {
        char sha[65];
        cmd_sha256_hex(text, len, sha);
        applied = strcmp(sha, j.sha) == 0;
    } else if (err->code != ENOENT)
        goto out;
    if (applied) {
        if (cut_torn_line(ledger, err) != 0 || kura_ledger_read(ledger, keep_last, last, err) != 0) {
            if (err->code != ENOENT)
                goto out;
        }
        char when[48];
        cmd_time(c, j.now, when, sizeof when);
        bool recorded = last->any && strcmp(last->time, when) == 0 && strcmp(last->actor, j.ch.actor) == 0 &&
                        last->uid == (int64_t)j.ch.uid && strcmp(last->action, j.ch.action) == 0 &&
                        strcmp(last->target, j.ch.target) == 0 && strcmp(last->detail, j.ch.detail) == 0 &&
                        strcmp(last->before, j.ch.before) == 0 && strcmp(last->after, j.ch.after) == 0;
        if (!recorded && kura_ledger_append(ledger, &j.ch, j.now, c->env->cfg->zone, NULL, err) != 0)
            goto out;
    }
    if (unlink(jpath) != 0 || kura_fsync_dir(dir, err) != 0) {
        kura_err_set(err, errno, "remove %s: %s", jpath, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (have_j)
        kura_json_object_free(&j.obj);
    free(text);
    free(state);
    free(last);
    free(jpath);
    free(ledger);
    return rc;
}

/* ---- the transaction --------------------------------------------------------- */

/* The actor may manage the dataset whose dataset.ini is at ini. */
static bool may_manage_ini(const struct kura_cmd_ctx *c, const char *ini)
{
    struct kura_dataset ds;
    struct kura_err e = {0};
    if (kura_dataset_load(ini, &ds, &e) != 0)
        return false;
    bool ok = may_manage(c, &ds);
    kura_dataset_clear(&ds);
    return ok;
}

int cmd_txn_begin(const struct kura_cmd_ctx *c, const char *id, enum kura_cmd_role role, unsigned what,
                  struct cmd_txn *t)
{
    memset(t, 0, sizeof *t);
    t->lock_fd = -1;
    struct kura_err e = {0};
    char *lock = NULL, *ini = NULL, *tsv = NULL;
    if (kura_id_check(id, "dataset id", &e) != 0) {
        cmd_usage(c, "%s", e.msg);
        return -1;
    }
    if (!(t->id = strdup(id)) || !(t->dir = cmd_dataset_dir(c, id)) ||
        !(lock = cmd_dataset_file(c, id, KURA_DATASET_LOCK)) || !(ini = cmd_dataset_file(c, id, KURA_DATASET_INI)) ||
        !(tsv = cmd_dataset_file(c, id, KURA_FILES_TSV))) {
        cmd_fail(c, "out of memory");
        goto fail;
    }
    if (role == KURA_CMD_OPERATOR && cmd_require_operator(c) != 0)
        goto fail;
    if (c->actor->operator && access(ini, F_OK) != 0) {
        cmd_fail(c, "no dataset %s on this server (kuractl status lists yours)", id);
        goto fail;
    }
    /* Only operators learn which datasets exist: to anyone else a missing
     * dataset looks like one they may not manage, as the mount hides it. The
     * role is checked before the lock, so that nobody but the PI ever waits
     * on a change of the dataset, and an existing dataset costs an outsider
     * the same one read of dataset.ini as a missing one. (dataset.ini is
     * replaced by rename, so the unlocked read is whole; the PI never
     * changes. require_role checks again under the lock.) */
    if (!c->actor->operator && !may_manage_ini(c, ini)) {
        cmd_fail(c, "only the PI of dataset %s or an operator may do this", id);
        goto fail;
    }
    /* The dataset's lock first, then (a change, in cluster mode) the
     * cluster's: the shared file system's locks are not relied on across
     * nodes, and a change waiting here for another change of this dataset
     * holds up no change of another dataset. Lockdown takes its own lock
     * before the cluster's too; under the cluster's lock, dataset locks are
     * only tried. */
    t->lock_fd = kura_lock(lock, LOCK_WAIT_MS, &e);
    if (t->lock_fd < 0) {
        if (e.code == EAGAIN)
            cmd_fail(c, "dataset %s is busy (another change of it is running); try again", id);
        else
            cmd_fail_err(c, &e);
        goto fail;
    }
    /* In cluster mode the dataset's lock does not reach the other nodes:
     * only the cluster's lock holder may finish or drop an interrupted
     * change (a listing would otherwise take a change running on another
     * node for one that was cut short). A listing that finds a journal
     * takes the lock too, so what a killed change left is finished before
     * anything is read (a destroyed dataset sees no change after). */
    bool journal = *c->env->cfg->cluster_database && journal_pending(c, id);
    if (((c->cmd && (c->cmd->flags & KURA_CMD_CHANGES_STATE)) || (what & CMD_TXN_LEDGER) || journal) &&
        cmd_cluster_lock(c, t) != 0)
        goto fail;
    if ((!*c->env->cfg->cluster_database || t->cluster) && recover(c, t->dir, &e) != 0) {
        cmd_fail(c, "cannot finish an interrupted change of dataset %s: %s", id, e.msg);
        goto fail;
    }
    if (kura_dataset_load(ini, &t->ds, &e) != 0) {
        cmd_fail_err(c, &e);
        goto fail;
    }
    t->have_ds = true;
    if (require_role(c, role, &t->ds) != 0)
        goto fail;
    if (!(what & CMD_TXN_DESTROYED_OK) && t->ds.status == KURA_DS_DESTROYED) {
        cmd_fail(c, "dataset %s was destroyed; nothing can change it", id);
        goto fail;
    }
    if (what & CMD_TXN_FILES) {
        if (kura_files_load(tsv, &t->files, &t->nfiles, &e) != 0) {
            cmd_fail_err(c, &e);
            goto fail;
        }
    }
    /* A view needed the lock only to find the dataset whole (an interrupted
     * change finished): a report reading the whole audit log would hold up
     * a withdrawal, or a user's removal, for as long as it reads. */
    if (what & CMD_TXN_VIEW) {
        kura_unlock(t->lock_fd);
        t->lock_fd = -1;
        cmd_cluster_unlock(t);
    }
    free(lock);
    free(ini);
    free(tsv);
    return 0;
fail:
    free(lock);
    free(ini);
    free(tsv);
    cmd_txn_end(t);
    return -1;
}

void cmd_txn_end(struct cmd_txn *t)
{
    kura_unlock(t->lock_fd);
    t->lock_fd = -1;
    cmd_cluster_unlock(t);
    if (t->have_ds)
        kura_dataset_clear(&t->ds);
    if (t->files)
        kura_files_free(t->files, t->nfiles);
    free(t->id);
    free(t->dir);
    memset(t, 0, sizeof *t);
    t->lock_fd = -1;
}

/* Records the change in the audit log; a failure is reported, the change
 * stands (the ledger holds it). */
void cmd_audit_change(const struct kura_cmd_ctx *c, const char *id, const struct cmd_change *ch)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = c->env->audit;
    unsigned char *key = NULL;
    char *key_path = NULL;
    if (!log) {
        if (!(key_path = kura_layout_join(c->env->cfg->keys_dir, KURA_AUDIT_KEY_FILE))) {
            kura_err_set(&e, ENOMEM, "out of memory");
            goto out;
        }
        if (!(key = kura_audit_key_load(key_path, &e)))
            goto out;
        struct kura_audit_options opt = {.zone = c->env->cfg->zone, .syslog = c->env->cfg->syslog,
                                         .max_size = (uint64_t)c->env->cfg->max_size_mb << 20};
        if (!(log = kura_audit_open(c->env->cfg->audit_log, key, &opt, &e)))
            goto out;
    }
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = (enum kura_audit_event)ch->audit_event;
    r.decision = KURA_AUDIT_NO_DECISION;
    r.dataset = id;
    r.user = c->actor->name[0] ? c->actor->name : NULL;
    r.uid = c->actor->uid;
    r.pid = c->actor->pid;
    char detail[KURA_AUDIT_TEXT_MAX];
    snprintf(detail, sizeof detail, "%s%s%s%s%s%s%s%s%s", ch->action, ch->target ? " " : "",
             ch->target ? ch->target : "", ch->before || ch->after ? ": " : "", ch->before ? ch->before : "",
             ch->before && ch->after ? " -> " : "", ch->after ? ch->after : "", c->actor->via[0] ? "; " : "",
             c->actor->via);
    r.detail = detail;
    r.reason = ch->detail && ch->detail[0] ? ch->detail : NULL;
    kura_audit_append(log, &r, &e);
out:
    if (e.msg[0])
        fprintf(c->err, "kuractl: warning: the change is made and in the ledger, but the audit log did not "
                        "record it: %s\n", e.msg);
    if (log && log != c->env->audit)
        kura_audit_close(log);
    kura_secure_free(key);
    free(key_path);
}

int cmd_txn_commit(const struct kura_cmd_ctx *c, struct cmd_txn *t, bool save_ds, bool save_files,
                   const struct cmd_change *ch)
{
    struct kura_err e = {0};
    /* One state file per change: the journal vouches for exactly one. */
    const char *file = save_ds ? KURA_DATASET_INI : KURA_FILES_TSV;
    if (save_ds == save_files) {
        cmd_fail(c, "internal error: a change saves exactly one state file");
        return -1;
    }
    char *text = NULL, *path = cmd_dataset_file(c, t->id, file), *jpath = cmd_dataset_file(c, t->id, KURA_JOURNAL_FILE);
    char *ledger = cmd_dataset_file(c, t->id, KURA_LEDGER_FILE);
    size_t len = 0;
    int rc = -1;
    bool written = false;
    if (!path || !jpath || !ledger) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    cmd_cluster_restrict(c, t, ch->restriction);
    if (cmd_cluster_stamp(c, t, ch->action, save_ds ? KURA_STAMP_DATASET : KURA_STAMP_FILES) != 0)
        goto out;
    text = save_ds ? kura_dataset_format(&t->ds, c->env->cfg->zone, &len, &e)
                   : kura_files_format_epoch(t->files, t->nfiles, t->epoch, &len, &e);
    if (!text) {
        cmd_fail_err(c, &e);
        goto out;
    }
    char sha[65], actor[KURA_USER_MAX + 16], detail[KURA_LEDGER_FIELD_MAX + 1];
    cmd_actor_name(c, actor, sizeof actor);
    snprintf(detail, sizeof detail, "%s%s%s", ch->detail ? ch->detail : "",
             ch->detail && ch->detail[0] && c->actor->via[0] ? "; " : "", c->actor->via);
    struct kura_ledger_change lc = {.actor = actor, .uid = c->actor->uid, .action = ch->action,
                                    .target = ch->target ? ch->target : "", .detail = detail,
                                    .before = ch->before ? ch->before : "", .after = ch->after ? ch->after : ""};
    int64_t now = cmd_now();
    cmd_sha256_hex(text, len, sha);
    if (journal_write(jpath, now, &lc, file, sha, &e) != 0) {
        cmd_fail(c, "cannot record the change: %s", e.msg);
        goto out;
    }
    if (kura_write_file_atomic(path, text, len, KURA_STATE_FILE_MODE, &e) != 0) {
        cmd_fail(c, "cannot save %s: %s", path, e.msg);
        /* Not applied: the next transaction drops the journal. */
        goto out;
    }
    written = true;
    if (kura_ledger_append(ledger, &lc, now, c->env->cfg->zone, NULL, &e) != 0) {
        /* Applied: the next transaction appends the record from the journal. */
        cmd_fail(c, "the change is saved, but the ledger could not record it yet (%s); the next change "
                    "of dataset %s records it", e.msg, t->id);
        goto out;
    }
    if (unlink(jpath) != 0 || kura_fsync_dir(t->dir, &e) != 0)
        fprintf(c->err, "kuractl: warning: %s stays behind; the next change removes it\n", jpath);
    rc = 0;
    cmd_audit_change(c, t->id, ch);
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, t->id);
out:
    /* Applied (also when the ledger lags: the journal finishes it) or not:
     * announced to every node and waited for, or dropped. */
    if (cmd_cluster_announce(c, t, ch->action, written) != 0)
        rc = -1;
    free(text);
    free(path);
    free(jpath);
    free(ledger);
    return rc;
}
