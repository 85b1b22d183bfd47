#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/notify.h"
#include "kura/changes.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/ledger.h"
#include "kura/when.h"

/* "2026-04-01..2027-03-31" for a half-open period. */
static const char *period_text(const struct kura_cmd_ctx *c, int64_t from, int64_t until, char *buf, size_t len)
{
    char a[48], b[48];
    if (kura_date_format(from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "@%lld", (long long)from);
    cmd_last_day(c, until, b, sizeof b);
    snprintf(buf, len, "%s..%s", a, b);
    return buf;
}

/* --ethics REF --ethics-until WHEN, both or neither, into *ref_out and
 * *until_out (a date ends with its day, as --until). Prints the usage
 * error and returns -1. */
static int ethics_parse(const struct kura_cmd_ctx *c, const char *ref, const char *until, const char **ref_out,
                        int64_t *until_out)
{
    if (!ref && !until)
        return 0;
    struct kura_err e = {0};
    int64_t start, end;
    if (!ref || !ref[0] || !until)
        cmd_usage(c, "--ethics (the approval's reference) and --ethics-until (its last day) go together");
    else if (kura_text_check(ref, "--ethics", &e) != 0)
        cmd_usage(c, "%s", e.msg);
    else if (kura_when_parse(until, c->env->cfg->zone, &start, &end, &e) != 0)
        cmd_usage(c, "--ethics-until: %s", e.msg);
    else {
        *ref_out = ref;
        *until_out = start == end ? start : end;
        return 0;
    }
    return -1;
}

/* A request's ethics approval (ref NULL: none given) into ds, checked again:
 * it goes into the ledger. Says why and returns -1 otherwise. */
static int ethics_apply(const struct kura_cmd_ctx *c, const char *ref, int64_t until, struct kura_dataset *ds)
{
    if (!ref)
        return 0;
    if (cmd_required_text(c, ref, "the ethics approval's reference") != 0)
        return -1;
    if (until <= 0) {
        cmd_fail(c, "the ethics approval needs its last day");
        return -1;
    }
    snprintf(ds->ethics, sizeof ds->ethics, "%s", ref);
    ds->ethics_until = until;
    return 0;
}

/* The period may not outlast the ethics approval (R-REV-5): use past its
 * end needs a new approval first. */
static int refuse_past_ethics(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, int64_t until)
{
    if (!ds->ethics_until || until <= ds->ethics_until)
        return 0;
    char a[32], b[32];
    cmd_fail(c, "the period would end %s, after the ethics approval %s ends (%s): record the new approval with "
             "--ethics REF --ethics-until DATE", cmd_last_day(c, until, a, sizeof a), ds->ethics,
             cmd_last_day(c, ds->ethics_until, b, sizeof b));
    return -1;
}

/* " ethics=REF..DAY" for ledger records, or "" without an approval. */
static const char *ethics_text(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, char *buf, size_t len)
{
    char day[32];
    if (!ds->ethics[0])
        snprintf(buf, len, "%s", "");
    else
        snprintf(buf, len, " ethics=%s..%s", ds->ethics, cmd_last_day(c, ds->ethics_until, day, sizeof day));
    return buf;
}

/* Removes a flat directory left by an interrupted dataset add. */
static int remove_stage(const char *dir, struct kura_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : (kura_err_set(err, errno, "open %s: %s", dir, strerror(errno)), -1);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0) {
            kura_err_set(err, errno, "remove %s/%s: %s", dir, de->d_name, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0) {
        kura_err_set(err, errno, "remove %s: %s", dir, strerror(errno));
        rc = -1;
    }
    return rc;
}

/* Writes the new dataset's files into a hidden staging directory and
 * renames it into place: the dataset appears whole (state, files.tsv,
 * ledger) or not at all. A leftover stage or an orphan key (from a crash
 * before the rename) is removed first. */
static int create_dataset(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, const char *after,
                          struct kura_err *e)
{
    char *datasets = cmd_datasets_dir(c), *stage = NULL, *final = cmd_dataset_dir(c, ds->id);
    char *lock = NULL, *ini = NULL, *tsv = NULL, *ledger = NULL, *store = cmd_store_dir(c, ds->id);
    int lock_fd = -1, rc = -1;
    if (!datasets || !final || !store || asprintf(&stage, "%s/" KURA_ADD_STAGE_PREFIX "%s", datasets, ds->id) < 0 ||
        asprintf(&lock, "%s/.%s" KURA_ADD_LOCK_SUFFIX, datasets, ds->id) < 0 ||
        !(ini = kura_layout_join(stage, KURA_DATASET_INI)) || !(tsv = kura_layout_join(stage, KURA_FILES_TSV)) ||
        !(ledger = kura_layout_join(stage, KURA_LEDGER_FILE))) {
        kura_err_set(e, ENOMEM, "out of memory");
        goto out;
    }
    if ((lock_fd = kura_lock(lock, 30000, e)) < 0)
        goto out;
    if (access(final, F_OK) == 0) {
        kura_err_set(e, EEXIST, "dataset %s already exists", ds->id);
        goto out;
    }
    if (remove_stage(stage, e) != 0)
        goto out;
    /* No dataset, so any key under its id is an orphan of a crashed add. */
    if (kura_keystore_dataset_destroy(c->env->cfg->keys_dir, ds->id, e) != 0 ||
        kura_keystore_dataset_create(c->env->cfg->keys_dir, ds->id, e) != 0)
        goto out;
    if (kura_mkdir_p(store, 0700, e) != 0 || kura_mkdir_p(stage, 0700, e) != 0)
        goto out;
    char actor[KURA_USER_MAX + 16];
    cmd_actor_name(c, actor, sizeof actor);
    struct kura_ledger_change lc = {.actor = actor, .uid = c->actor->uid, .action = "dataset-add",
                                    .target = ds->id, .detail = c->actor->via, .before = "", .after = after};
    if (kura_files_save(tsv, NULL, 0, e) != 0 || kura_dataset_save(ini, ds, c->env->cfg->zone, e) != 0 ||
        kura_ledger_append(ledger, &lc, cmd_now(), c->env->cfg->zone, NULL, e) != 0 ||
        kura_fsync_dir(stage, e) != 0)
        goto out;
    if (renameat2(AT_FDCWD, stage, AT_FDCWD, final, RENAME_NOREPLACE) != 0) {
        kura_err_set(e, errno, "rename %s to %s: %s", stage, final, strerror(errno));
        goto out;
    }
    rc = kura_fsync_dir(datasets, e);
out:
    kura_unlock(lock_fd);
    free(datasets);
    free(stage);
    free(final);
    free(lock);
    free(ini);
    free(tsv);
    free(ledger);
    free(store);
    return rc;
}

const struct kura_cmd cmd_row_dataset_add = {"dataset", "add", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_add,
    "ID --pi USER --period FROM..TO [--kind JGA|AGD] [--level type1|type2] [--title TEXT]\n"
    "                   [--guard denylist|allowlist] [--ethics REF --ethics-until WHEN]",
    "Registers a dataset: its PI, approved period (inclusive dates or RFC 3339 times), kind,\n"
    "security level and copy-out guard (Type II defaults to the allow-list), bound to this\n"
    "server; with --ethics, the ethics approval the period may not outlast. Creates the\n"
    "dataset key."};

int kura_change_dataset_add(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                            const struct kura_dataset_add_request *rq, struct kura_dataset_add_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_add);
    memset(res, 0, sizeof *res);
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_err e = {0};
    const char *title = rq->title ? rq->title : "";
    if (kura_id_check(rq->dataset, "dataset id", &e) != 0 || kura_user_name_check(rq->pi, &e) != 0 ||
        kura_text_check(title, "title", &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (rq->from >= rq->until)
        return cmd_fail(c, "the period ends before it begins");
    struct kura_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds.kind = rq->kind;
    ds.level = rq->level;
    ds.guard = rq->guard;
    ds.from = rq->from;
    ds.until = rq->until;
    if (ethics_apply(c, rq->ethics, rq->ethics_until, &ds) != 0 || refuse_past_ethics(c, &ds, ds.until) != 0)
        return KURA_EXIT_FAIL;
    if (ds.until <= cmd_now()) {
        char last[32];
        return cmd_fail(c, "the period ends in the past (%s); check --period", cmd_last_day(c, ds.until, last, sizeof last));
    }
    /* R-LVL-1: a Type II dataset needs a server declared Type II. */
    if (ds.level > c->env->cfg->level)
        return cmd_fail(c, "dataset %s is %s but this server is declared %s ([server] level in %s)", rq->dataset,
                        kura_level_name(ds.level), kura_level_name(c->env->cfg->level), c->env->config_path);
    if (cmd_pi_account(rq->pi, &ds.pi_uid, &e) != 0)
        return cmd_fail(c, "--pi: %s", e.msg);
    snprintf(ds.id, sizeof ds.id, "%s", rq->dataset);
    snprintf(ds.title, sizeof ds.title, "%s", title);
    snprintf(ds.pi, sizeof ds.pi, "%s", rq->pi);
    snprintf(ds.host_id, sizeof ds.host_id, "%s", c->env->cfg->host_id);
    ds.status = KURA_DS_ACTIVE;

    char ptext[112], etext[KURA_TEXT_MAX + 48];
    snprintf(res->summary, sizeof res->summary, "pi=%s period=%s kind=%s level=%s guard=%s%s", rq->pi,
             period_text(c, ds.from, ds.until, ptext, sizeof ptext), kura_kind_name(ds.kind),
             kura_level_name(ds.level), kura_guard_mode_name(ds.guard), ethics_text(c, &ds, etext, sizeof etext));
    /* Cluster mode: stamped and announced like every change, so that every
     * node serves the new dataset when the command returns. */
    struct cmd_txn cluster = {.lock_fd = -1, .id = ds.id};
    if (cmd_cluster_lock(c, &cluster) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    if (cmd_cluster_stamp(c, &cluster, "dataset-add", KURA_STAMP_DATASET) != 0)
        goto out;
    ds.epoch = cluster.epoch;
    bool made = create_dataset(c, &ds, res->summary, &e) == 0;
    if (made) {
        struct cmd_change ch = {.action = "dataset-add", .target = ds.id, .after = res->summary,
                                .audit_event = KURA_AUDIT_POLICY_CHANGE};
        cmd_audit_change(c, ds.id, &ch);
        if (c->env->on_state_change)
            c->env->on_state_change(c->env->ctx, ds.id);
        rc = KURA_EXIT_OK;
    } else
        cmd_fail_err(c, &e);
    if (cmd_cluster_announce(c, &cluster, "dataset-add", made) != 0)
        rc = KURA_EXIT_FAIL;
out:
    cmd_cluster_unlock(&cluster);
    return rc;
}

int cmd_dataset_add(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *period = NULL, *kind = "JGA", *level = "type1", *guard = NULL;
    const char *ethics = NULL, *ethics_until = NULL;
    struct kura_dataset_add_request rq = {.title = ""};
    const struct cmd_opt opts[] = {{"pi", true, &rq.pi, NULL},     {"period", true, &period, NULL},
                                   {"kind", true, &kind, NULL}, {"level", true, &level, NULL},
                                   {"title", true, &rq.title, NULL}, {"guard", true, &guard, NULL},
                                   {"ethics", true, &ethics, NULL}, {"ethics-until", true, &ethics_until, NULL}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (!rq.pi || !period)
        return cmd_usage(c, "--pi and --period are required");
    struct kura_err e = {0};
    if (kura_id_check(pos[0], "dataset id", &e) != 0 || kura_user_name_check(rq.pi, &e) != 0 ||
        kura_text_check(rq.title, "title", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (kura_kind_parse(kind, &rq.kind) != 0)
        return cmd_usage(c, "--kind must be JGA or AGD");
    if (kura_level_parse(level, &rq.level) != 0)
        return cmd_usage(c, "--level must be type1 or type2");
    rq.guard = rq.level == KURA_LEVEL_TYPE2 ? KURA_GUARD_ALLOWLIST : KURA_GUARD_DENYLIST;
    if (guard && kura_guard_mode_parse(guard, &rq.guard) != 0)
        return cmd_usage(c, "--guard must be denylist or allowlist");
    if (kura_period_parse(period, c->env->cfg->zone, &rq.from, &rq.until, &e) != 0)
        return cmd_usage(c, "--period: %s", e.msg);
    if (ethics_parse(c, ethics, ethics_until, &rq.ethics, &rq.ethics_until) != 0)
        return KURA_EXIT_USAGE;
    rq.dataset = pos[0];
    struct kura_dataset_add_result res;
    int rc = kura_change_dataset_add(c->env, c->actor, c->err, &rq, &res);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "added dataset %s (%s)\n", rq.dataset, res.summary);
    return rc;
}

const struct kura_cmd cmd_row_dataset_extend = {"dataset", "extend", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_extend,
    "ID --until WHEN --ref TEXT [--ethics REF --ethics-until WHEN] [--provider-permission REF]",
    "Extends the approved period to WHEN (a later end), citing the approval reference; past\n"
    "the recorded ethics approval's end only with a new one (--ethics), and an AGD dataset\n"
    "only with the provider's permission (--provider-permission)."};

int kura_change_extend(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_extend_request *rq, struct kura_extend_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_extend);
    memset(res, 0, sizeof *res);
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    const char *permission = rq->provider_permission;
    if (cmd_required_text(c, rq->ref, "the approval of the extension") != 0 ||
        (permission && cmd_required_text(c, permission, "the data provider's permission") != 0))
        goto out;
    cmd_last_day(c, t.ds.until, res->before, sizeof res->before);
    cmd_last_day(c, rq->until, res->after, sizeof res->after);
    if (rq->until <= t.ds.until) {
        cmd_fail(c, "dataset %s already runs until %s; --until must be later", t.ds.id, res->before);
        goto out;
    }
    if (rq->until_instant) {
        /* A time stamp: show instants, not days. */
        cmd_time(c, t.ds.until, res->before, sizeof res->before);
        cmd_time(c, rq->until, res->after, sizeof res->after);
    }
    /* R-ACC-5: an AGD dataset's use is extended with its data provider's permission. */
    if (t.ds.kind == KURA_KIND_AGD && (!permission || !permission[0])) {
        cmd_fail(c, "dataset %s is AGD: an extension needs the data provider's permission (--provider-permission REF)",
                  t.ds.id);
        goto out;
    }
    if (ethics_apply(c, rq->ethics, rq->ethics_until, &t.ds) != 0 || refuse_past_ethics(c, &t.ds, rq->until) != 0)
        goto out;
    t.ds.until = rq->until;
    char etext[KURA_TEXT_MAX + 48], detail[3 * KURA_TEXT_MAX + 80];
    snprintf(detail, sizeof detail, "%s%s%s%s", rq->ref, permission ? " provider-permission=" : "",
             permission ? permission : "", rq->ethics ? ethics_text(c, &t.ds, etext, sizeof etext) : "");
    struct cmd_change ch = {.action = "dataset-extend", .target = t.ds.id, .before = res->before,
                            .after = res->after, .detail = detail, .audit_event = KURA_AUDIT_POLICY_CHANGE};
    if (cmd_txn_commit(c, &t, true, false, &ch) == 0)
        rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_dataset_extend(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *until = NULL, *ethics = NULL, *ethics_until = NULL;
    struct kura_extend_request rq = {0};
    const struct cmd_opt opts[] = {{"until", true, &until, NULL},
                                   {"ref", true, &rq.ref, NULL},
                                   {"ethics", true, &ethics, NULL},
                                   {"ethics-until", true, &ethics_until, NULL},
                                   {"provider-permission", true, &rq.provider_permission, NULL},
                                   {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (!until || !rq.ref || !rq.ref[0])
        return cmd_usage(c, "--until and --ref (the approval of the extension) are required");
    struct kura_err e = {0};
    int64_t start, end;
    if (kura_text_check(rq.ref, "--ref", &e) != 0 ||
        (rq.provider_permission && kura_text_check(rq.provider_permission, "--provider-permission", &e) != 0))
        return cmd_usage(c, "%s", e.msg);
    if (kura_when_parse(until, c->env->cfg->zone, &start, &end, &e) != 0)
        return cmd_usage(c, "--until: %s", e.msg);
    /* A time stamp ends access at that instant; a date at the end of it. */
    rq.until = start == end ? start : end;
    rq.until_instant = start == end;
    if (ethics_parse(c, ethics, ethics_until, &rq.ethics, &rq.ethics_until) != 0)
        return KURA_EXIT_USAGE;
    rq.dataset = pos[0];
    struct kura_extend_result res;
    int rc = kura_change_extend(c->env, c->actor, c->err, &rq, &res);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "dataset %s now runs until %s (was %s)\n", rq.dataset, res.after, res.before);
    return rc;
}

/* A suspension or resumption, told to the PI's and the site's mail. */
static void notify_status(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, const char *event,
                          const char *reason, const char *message)
{
    char by[KURA_USER_MAX + 1];
    cmd_notify(c, &(struct kura_notice){.event = event, .dataset = ds->id, .pi = ds->pi, .reason = reason,
                                        .by = cmd_actor_name(c, by, sizeof by), .time = cmd_now(),
                                        .message = message});
}

const struct kura_cmd cmd_row_dataset_suspend = {"dataset", "suspend", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_ENDS_ACCESS, cmd_dataset_suspend,
    "ID --reason TEXT", "Suspends all use of the dataset at once (reversible: dataset resume)."};

int kura_change_suspend(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                        const struct kura_suspend_request *rq)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_suspend);
    if (cmd_required_text(c, rq->reason, "the reason") != 0)
        return KURA_EXIT_FAIL;
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    if (t.ds.status == KURA_DS_SUSPENDED) {
        cmd_fail(c, "dataset %s is already suspended (%s)", t.ds.id, t.ds.status_reason);
        goto out;
    }
    t.ds.status = KURA_DS_SUSPENDED;
    snprintf(t.ds.status_reason, sizeof t.ds.status_reason, "%s", rq->reason);
    struct kura_restriction r = cmd_restriction(KURA_RESTRICT_DATASET, t.ds.id, 0, NULL, NULL);
    struct cmd_change ch = {.action = "dataset-suspend", .target = t.ds.id, .before = "active",
                            .after = "suspended", .detail = rq->reason, .audit_event = KURA_AUDIT_SUSPEND,
                            .restriction = &r};
    if (cmd_txn_commit(c, &t, true, false, &ch) == 0) {
        rc = KURA_EXIT_OK;
        notify_status(c, &t.ds, "suspension", rq->reason, "the dataset is suspended: every open and read is refused");
    }
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_dataset_suspend(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_suspend_request rq = {0};
    const struct cmd_opt opts[] = {{"reason", true, &rq.reason, NULL}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    int rc = cmd_required_option(c, rq.reason, "--reason", NULL);
    if (rc != KURA_EXIT_OK)
        return rc;
    rq.dataset = pos[0];
    rc = kura_change_suspend(c->env, c->actor, c->err, &rq);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "dataset %s is suspended: every open and read is refused until kuractl dataset resume %s\n",
                rq.dataset, rq.dataset);
    return rc;
}

const struct kura_cmd cmd_row_dataset_resume = {"dataset", "resume", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_resume, "ID",
    "Ends a suspension."};

int kura_change_resume(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_suspend_request *rq)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_resume);
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    if (t.ds.status != KURA_DS_SUSPENDED) {
        cmd_fail(c, "dataset %s is not suspended", t.ds.id);
        goto out;
    }
    char reason[KURA_TEXT_MAX + 32];
    snprintf(reason, sizeof reason, "was suspended for: %s", t.ds.status_reason);
    t.ds.status = KURA_DS_ACTIVE;
    t.ds.status_reason[0] = '\0';
    struct cmd_change ch = {.action = "dataset-resume", .target = t.ds.id, .before = "suspended",
                            .after = "active", .detail = reason, .audit_event = KURA_AUDIT_RESUME};
    if (cmd_txn_commit(c, &t, true, false, &ch) == 0) {
        rc = KURA_EXIT_OK;
        notify_status(c, &t.ds, "resumption", reason, "the dataset is served again");
    }
out:
    cmd_txn_end(&t);
    return rc;
}

int cmd_dataset_resume(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_suspend_request rq = {.dataset = pos[0]};
    int rc = kura_change_resume(c->env, c->actor, c->err, &rq);
    if (rc == KURA_EXIT_OK)
        fprintf(c->out, "dataset %s is active again\n", rq.dataset);
    return rc;
}

/* One row of dataset files: what a file is and whether it is served. */
struct files_row {
    const char *path;
    uint64_t size;
    const struct kura_file *file; /* its samples */
    const char *state;            /* "served", or why not: "withdrawn", "suspended", "destroyed" */
};

/* The row for files[i]; kept apart from the printer so that other output
 * formats print the same facts. */
static struct files_row files_row(const struct kura_dataset *ds, const struct kura_file *f)
{
    const char *state = "served";
    if (ds->status == KURA_DS_DESTROYED)
        state = "destroyed";
    else if (kura_file_withdrawn(ds, f))
        state = "withdrawn";
    else if (ds->status == KURA_DS_SUSPENDED)
        state = "suspended";
    return (struct files_row){.path = f->path, .size = f->size, .file = f, .state = state};
}

static void files_row_print(FILE *out, const struct files_row *r)
{
    fprintf(out, "%-10s %14llu  ", r->state, (unsigned long long)r->size);
    if (!r->file->nsamples)
        fputs("-", out);
    /* Names come from the archive's delivery: shown, never acted on by the terminal. */
    for (size_t s = 0; s < r->file->nsamples; s++) {
        if (s)
            fputc(',', out);
        kura_text_put_escaped(out, r->file->samples[s], strlen(r->file->samples[s]));
    }
    fputs("  ", out);
    kura_text_put_escaped(out, r->path, strlen(r->path));
    fputc('\n', out);
}

/* The row as one flat JSON object; samples comma-joined ("" for none), as
 * the library's writer makes flat records only. */
static int files_row_json(const struct kura_cmd_ctx *c, const struct files_row *r, bool first)
{
    char samples[4096] = "", buf[8192];
    size_t used = 0;
    for (size_t s = 0; s < r->file->nsamples && used < sizeof samples; s++)
        used += (size_t)snprintf(samples + used, sizeof samples - used, "%s%s", s ? "," : "", r->file->samples[s]);
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "state", r->state);
    kura_json_add_int(&w, "size", (int64_t)r->size);
    kura_json_add_string(&w, "samples", samples);
    kura_json_add_string(&w, "path", r->path);
    if (used >= sizeof samples) {
        cmd_fail(c, "the samples of %s do not fit in JSON output", r->path);
        return -1;
    }
    return cmd_json_item(c, &w, first, r->path);
}

int cmd_dataset_files(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool json;
    struct cmd_txn t;
    int rc = cmd_begin_listing(c, argc, argv, true, &json, &t);
    if (rc != KURA_EXIT_OK)
        return rc;
    rc = KURA_EXIT_FAIL;
    uint64_t total = 0;
    if (json) {
        /* One array, a file an object, in the text's order. */
        fputc('[', c->out);
        for (size_t i = 0; i < t.nfiles; i++) {
            struct files_row r = files_row(&t.ds, &t.files[i]);
            if (files_row_json(c, &r, i == 0) != 0)
                goto out;
        }
        fputs("]\n", c->out);
        rc = KURA_EXIT_OK;
        goto out;
    }
    fprintf(c->out, "%-10s %14s  %s  %s\n", "STATE", "SIZE", "SAMPLES", "PATH");
    for (size_t i = 0; i < t.nfiles; i++) {
        struct files_row r = files_row(&t.ds, &t.files[i]);
        files_row_print(c->out, &r);
        total += r.size;
    }
    fprintf(c->out, "%zu file(s), %llu bytes in dataset %s\n", t.nfiles, (unsigned long long)total, t.ds.id);
    rc = KURA_EXIT_OK;
out:
    cmd_txn_end(&t);
    return rc;
}
