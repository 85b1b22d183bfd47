/* kuractl cluster init and cluster status (docs/cluster.md): the
 * operator's view of the cluster's authority; and the hooks through which
 * every change of the change transaction (cmd_state.c) reaches every node. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/changes.h"
#include "kura/clock.h"
#include "kura/cluster.h"
#include "kura/dsfile.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/layout.h"
#include "kura/lockdown.h"

/* The cluster's database as a client; with bound, it must be the cluster
 * the state directory belongs to. e says why not. The daemon's session is
 * its node's ("kura node NAME changes" in pg_stat_activity), kuractl's
 * "kuractl". */
static int connect_cluster(const struct kura_cmd_env *env, bool bound, struct kura_cluster **db, struct kura_err *e)
{
    const struct kura_config *cfg = env->cfg;
    *db = NULL;
    if (!*cfg->cluster_database) {
        kura_err_set(e, EINVAL, "no [cluster] database in %s: this is a single server", cfg->file);
        return -1;
    }
    char id[KURA_CLUSTER_ID_LEN + 1];
    bool as_node = env->socket_mode && cfg->cluster_node && *cfg->cluster_node;
    if (kura_cluster_connect_for(cfg->cluster_database, as_node ? cfg->cluster_node : NULL, "changes",
                                 kura_config_answer_ms(cfg), db, e) != 0 ||
        (bound && kura_cluster_id(*db, id, e) != 0)) {
        /* said */
    } else if (bound && strcmp(id, cfg->cluster_id) != 0) {
        kura_err_set(e, EINVAL, "the database is cluster %s's, but the state directory %s belongs to %s", id,
                     cfg->state_dir, cfg->cluster_id[0] ? cfg->cluster_id : "no cluster (run kuractl cluster init)");
    } else {
        return 0;
    }
    kura_cluster_close(*db);
    *db = NULL;
    return -1;
}

/* connect_cluster, said on the command's error output. */
static int open_cluster(const struct kura_cmd_ctx *c, bool bound, struct kura_cluster **db)
{
    struct kura_err e = {0};
    if (connect_cluster(c->env, bound, db, &e) == 0)
        return 0;
    cmd_fail_err(c, &e);
    return -1;
}

/* Says on the error output which other roles may connect (names from
 * kura_cluster_others), and how to keep them out; true if any may. */
static bool others_said(const struct kura_cmd_ctx *c, const char *others)
{
    if (!*others)
        return false;
    fprintf(c->err, "kuractl: warning: %s may connect to the cluster's database: a session of theirs can hold "
            "every change back (the change lock) or make the nodes refuse (restriction notices). As the "
            "database's owner: REVOKE ALL ON DATABASE ... FROM PUBLIC, and from each of them; GRANT CONNECT to "
            "kura's role only (docs/cluster.md)\n", others);
    return true;
}

int cmd_cluster_init(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    const struct kura_config *cfg = c->env->cfg;
    struct kura_err e = {0};
    struct kura_cluster *db = NULL;
    char id[KURA_CLUSTER_ID_LEN + 1];
    if (open_cluster(c, false, &db) != 0)
        return KURA_EXIT_FAIL;
    /* The schema first (idempotent: the id is the one of the first init),
     * then the binding: a state directory of another cluster is refused
     * and keeps its own. */
    char others[512];
    int rc = kura_cluster_init(db, id, &e);
    if (rc == 0)
        rc = kura_cluster_others(db, others, sizeof others, &e);
    kura_cluster_close(db);
    if (rc == 0)
        rc = kura_cluster_bind(cfg->state_dir, id, &e);
    if (rc != 0)
        return cmd_fail_err(c, &e);
    fprintf(c->out, "cluster %s: schema ready, state directory %s bound to it\n", id, cfg->state_dir);
    return others_said(c, others) ? KURA_EXIT_FAIL : KURA_EXIT_OK;
}

static int status_json(const struct kura_cmd_ctx *c, const struct kura_cluster_node *v, size_t n, int64_t latest)
{
    fprintf(c->out, "{\"cluster\": \"%s\", \"latest_epoch\": %" PRId64 ", \"nodes\": [", c->env->cfg->cluster_id,
            latest);
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "node", v[i].name);
        kura_json_add_int(&w, "applied_epoch", v[i].applied_epoch);
        kura_json_add_string(&w, "lease", v[i].lease_left_ms > 0 ? "live" : "ended");
        kura_json_add_int(&w, "lease_left_ms", v[i].lease_left_ms > 0 ? v[i].lease_left_ms : 0);
        kura_json_add_int(&w, "since_contact_ms", v[i].since_contact_ms);
        if (cmd_json_item(c, &w, i == 0, "a node") != 0)
            return KURA_EXIT_FAIL;
    }
    fprintf(c->out, "]}\n");
    return KURA_EXIT_OK;
}

int cmd_cluster_status(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    bool json = false;
    const struct cmd_opt opts[] = {{"json", false, NULL, &json}, {0}};
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct kura_cluster *db = NULL;
    struct kura_cluster_node *v = NULL;
    size_t n = 0;
    int64_t latest = 0;
    if (open_cluster(c, true, &db) != 0)
        return KURA_EXIT_FAIL;
    char others[512];
    int rc = kura_cluster_nodes(db, &v, &n, &latest, &e);
    if (rc == 0)
        rc = kura_cluster_others(db, others, sizeof others, &e);
    kura_cluster_close(db);
    if (rc != 0) {
        free(v);
        return cmd_fail_err(c, &e);
    }
    others_said(c, others);
    const char *id = c->env->cfg->cluster_id;
    if (json) {
        rc = status_json(c, v, n, latest);
        free(v);
        return rc;
    }
    fprintf(c->out, "cluster %s, latest epoch %" PRId64 "\n", id, latest);
    fprintf(c->out, "%-24s %8s  %-22s %s\n", "NODE", "APPLIED", "LEASE", "LAST CONTACT");
    for (size_t i = 0; i < n; i++) {
        char lease[48];
        if (v[i].lease_left_ms > 0)
            snprintf(lease, sizeof lease, "%" PRId64 ".%01" PRId64 " s left", v[i].lease_left_ms / 1000,
                     v[i].lease_left_ms % 1000 / 100);
        else
            snprintf(lease, sizeof lease, "ended");
        fprintf(c->out, "%-24s %8" PRId64 "  %-22s %" PRId64 ".%01" PRId64 " s ago%s\n", v[i].name,
                v[i].applied_epoch, lease, v[i].since_contact_ms / 1000, v[i].since_contact_ms % 1000 / 100,
                v[i].lease_left_ms > 0 && v[i].applied_epoch < latest ? " (behind)" : "");
    }
    free(v);
    return KURA_EXIT_OK;
}

/* ---- a change across the nodes ---- */

/* What the shared state holds for a stamp (kura_cluster_held_fn), read
 * from the files; whatever does not load holds no epoch. */
static int64_t held_on_disk(enum kura_cluster_stamp stamp, const char *id, void *ctx)
{
    const char *state_dir = ((const struct kura_config *)ctx)->state_dir;
    struct kura_err e = {0};
    int64_t epoch = -1;
    if (stamp == KURA_STAMP_LOCKDOWN) {
        struct kura_lockdown l;
        return kura_lockdown_load(state_dir, &l, &e) == 0 ? l.epoch : -1;
    }
    const char *file = stamp == KURA_STAMP_DATASET ? KURA_DATASET_INI : KURA_FILES_TSV;
    char *path = id[0] ? kura_layout_dataset_file(state_dir, id, file) : NULL;
    if (path && stamp == KURA_STAMP_DATASET) {
        struct kura_dataset ds;
        if (kura_dataset_load(path, &ds, &e) == 0) {
            epoch = ds.epoch;
            kura_dataset_clear(&ds);
        }
    } else if (path && stamp == KURA_STAMP_FILES) {
        struct kura_file *files = NULL;
        size_t n = 0;
        int64_t stamped = 0;
        if (kura_files_load_epoch(path, &files, &n, &stamped, &e) == 0)
            epoch = stamped;
        kura_files_free(files, n);
    }
    free(path);
    return epoch;
}

enum kura_cluster_key_held cmd_key_on_disk(const char *keys_dir, const char *fp)
{
    struct kura_server_key_info *v = NULL;
    size_t n = 0;
    enum kura_cluster_key_held held = KURA_KEY_ABSENT;
    if (kura_keystore_server_keys(keys_dir, &v, &n, NULL) == 0)
        for (size_t i = 0; i < n; i++)
            if (strcmp(v[i].fp, fp) == 0)
                held = v[i].state == KURA_SKEY_CURRENT   ? KURA_KEY_CURRENT
                       : v[i].state == KURA_SKEY_EARLIER ? KURA_KEY_EARLIER
                                                         : KURA_KEY_ABSENT;
    free(v);
    return held;
}

/* kura_cluster_key_fn on the keystore's files. */
static enum kura_cluster_key_held key_on_disk(const char *fp, void *ctx)
{
    return cmd_key_on_disk(((const struct kura_config *)ctx)->keys_dir, fp);
}

/* A pending epoch left by a killed kuractl, resolved from the shared
 * state: the file it stamps carries the epoch, or the keystore shows the
 * key change (the change was written: done, announced) or not (never
 * written: aborted). The pending row was durable before the state was
 * written, so no written change is missed. Each is said on log after
 * who ("kuractl"); *announced (when not NULL) gets the highest epoch
 * announced. The caller holds the cluster's lock. */
static int resolve_pending(const struct kura_config *cfg, struct kura_cluster *db, const char *who, FILE *log,
                           int64_t *announced, struct kura_err *e)
{
    struct kura_cluster_change *v = NULL;
    size_t n = 0;
    if (kura_cluster_pending(db, &v, &n, e) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        bool written = v[i].stamp != KURA_STAMP_NONE &&
                       !kura_cluster_stale(&v[i], 1, held_on_disk, key_on_disk, (void *)cfg);
        rc = kura_cluster_end_change(db, v[i].epoch, written, e);
        if (rc == 0 && written && announced)
            *announced = v[i].epoch;
        if (rc == 0)
            fprintf(log, "%s: an interrupted change (epoch %" PRId64 ", %s%s%s) %s\n", who, v[i].epoch,
                    v[i].dataset[0] ? "dataset " : "", v[i].dataset, v[i].dataset[0] ? "" : "server-wide",
                    written ? "was made: announced to the nodes now" : "was not made: dropped");
    }
    free(v);
    return rc;
}

int kura_change_cluster_keep(const struct kura_cmd_env *env, struct kura_err *err)
{
    struct kura_cluster *db = NULL;
    if (!env->cluster_spare)
        return 0;
    if (connect_cluster(env, true, &db, err) != 0)
        return -1;
    kura_cluster_spare_give(env->cluster_spare, db);
    return 0;
}

int kura_change_cluster_resolve(const struct kura_cmd_env *env, struct kura_cluster *db, const char *who, FILE *log,
                                struct kura_err *err)
{
    return resolve_pending(env->cfg, db, who, log, NULL, err);
}

int cmd_cluster_lock(const struct kura_cmd_ctx *c, struct cmd_txn *t)
{
    const struct kura_config *cfg = c->env->cfg;
    if (!*cfg->cluster_database)
        return 0;
    struct kura_err e = {0};
    /* Listening from before the change: no acknowledgement is missed. The
     * LISTEN is also the check that a kept session still answers, within a
     * lease (a session gone silent since: a fail-over, a path cut without
     * a reset); a dropped or silent one is replaced by a new one. */
    t->cluster = kura_cluster_spare_take(c->env->cluster_spare);
    if (t->cluster) {
        kura_cluster_set_answer(t->cluster, kura_config_node_answer_ms(cfg));
        if (kura_cluster_listen_acks(t->cluster, &e) == 0) {
            kura_cluster_set_answer(t->cluster, kura_config_answer_ms(cfg));
        } else {
            kura_cluster_close(t->cluster);
            t->cluster = NULL;
        }
    }
    if (!t->cluster && (connect_cluster(c->env, true, &t->cluster, &e) != 0 || kura_cluster_listen_acks(t->cluster, &e) != 0))
        goto fail;
    if (kura_cluster_lock(t->cluster, (int)cfg->cluster_lease_seconds * 1000 * 6, &e) != 0 ||
        resolve_pending(cfg, t->cluster, "kuractl", c->err, NULL, &e) != 0)
        goto fail;
    t->locker = c;
    return 0;
fail:
    cmd_fail_err(c, &e);
    cmd_cluster_unlock(t);
    return -1;
}

static int begin_change(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action,
                        enum kura_cluster_stamp stamp, const char *fingerprint)
{
    char actor[KURA_USER_MAX + 16];
    struct kura_err e = {0};
    if (kura_cluster_begin_change(t->cluster, cmd_actor_name(c, actor, sizeof actor), t->id, action, stamp,
                                  fingerprint, &t->epoch, &e) != 0) {
        cmd_fail_err(c, &e);
        return -1;
    }
    return 0;
}

int cmd_cluster_stamp(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action,
                      enum kura_cluster_stamp stamp)
{
    if (!t->cluster)
        return 0;
    if (begin_change(c, t, action, stamp, NULL) != 0)
        return -1;
    if (stamp == KURA_STAMP_DATASET)
        t->ds.epoch = t->epoch;
    return 0;
}

int cmd_cluster_stamp_key(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action,
                          enum kura_cluster_stamp stamp, const char *fingerprint)
{
    return t->cluster ? begin_change(c, t, action, stamp, fingerprint) : 0;
}

/* How long a change waits between two reads of the nodes' table when no
 * acknowledgement wakes it: a lease that ends sends no notification. */
#define ACK_RECHECK_MS 50

/* Until every node whose lease runs has applied epoch. A node that does
 * not answer is waited for until its lease ends, which the database's
 * clock ends within lease_seconds of its last renewal; the bound beyond
 * that only stops a wait on a database whose clock stands still. The
 * table is the truth, read again after every acknowledgement's
 * notification and every ACK_RECHECK_MS; the notifications only wake. */
static int wait_applied(const struct kura_cmd_ctx *c, struct kura_cluster *db, int64_t epoch, struct kura_err *e)
{
    int64_t bound = kura_clock_ms(CLOCK_MONOTONIC) + (int64_t)c->env->cfg->cluster_lease_seconds * 2000 + 5000;
    char names[512];
    for (;;) {
        size_t lagging = 0;
        if (kura_cluster_lagging(db, epoch, &lagging, names, sizeof names, e) != 0)
            return -1;
        if (lagging == 0)
            return 0;
        if (kura_clock_ms(CLOCK_MONOTONIC) > bound) {
            kura_err_set(e, ETIMEDOUT, "nodes %s have not applied the change (epoch %" PRId64 ") and their leases "
                         "still run: check the database's clock", names, epoch);
            return -1;
        }
        if (kura_cluster_wait_ack(db, ACK_RECHECK_MS, e) != 0)
            return -1;
    }
}

int cmd_cluster_announce(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action, bool written)
{
    if (!t->cluster)
        return 0;
    struct kura_err e = {0};
    int rc = 0;
    if (t->epoch)
        rc = kura_cluster_end_change(t->cluster, t->epoch, written, &e);
    else if (written) {
        char actor[KURA_USER_MAX + 16];
        rc = kura_cluster_publish(t->cluster, cmd_actor_name(c, actor, sizeof actor), t->id, action, &t->epoch, &e);
    }
    if (rc == 0 && written)
        rc = wait_applied(c, t->cluster, t->epoch, &e);
    t->epoch = 0;
    if (rc != 0) {
        fprintf(c->err, "kuractl: warning: the change is made, but not every node is known to apply it: %s\n", e.msg);
        return -1;
    }
    return 0;
}

int cmd_cluster_settle(const struct kura_cmd_ctx *c, struct cmd_txn *t)
{
    if (!t->cluster || !t->epoch)
        return 0;
    struct kura_err e = {0};
    int64_t announced = 0, epoch = t->epoch;
    t->epoch = 0;
    if (resolve_pending(c->env->cfg, t->cluster, "kuractl", c->err, &announced, &e) != 0 ||
        (announced == epoch && wait_applied(c, t->cluster, epoch, &e) != 0)) {
        fprintf(c->err, "kuractl: warning: not every node is known to apply the part made: %s\n", e.msg);
        return -1;
    }
    return 0;
}

struct kura_restriction cmd_restriction(enum kura_restrict_kind kind, const char *dataset, uid_t uid,
                                        const char *user, const char *sample)
{
    struct kura_restriction r = {.kind = kind, .uid = uid};
    snprintf(r.dataset, sizeof r.dataset, "%s", dataset ? dataset : "");
    snprintf(r.user, sizeof r.user, "%s", user ? user : "");
    snprintf(r.sample, sizeof r.sample, "%s", sample ? sample : "");
    return r;
}

void cmd_cluster_restrict(const struct kura_cmd_ctx *c, struct cmd_txn *t, const struct kura_restriction *r)
{
    if (!t->cluster || !r || t->restricted)
        return;
    t->restricted = true;
    struct kura_err e = {0};
    if (kura_cluster_restrict(t->cluster, r, &e) != 0)
        fprintf(c->err, "kuractl: warning: the nodes were not told ahead what this change forbids (%s); they "
                        "apply it once it is made\n", e.msg);
}

void cmd_cluster_unlock(struct cmd_txn *t)
{
    if (!t->cluster)
        return;
    /* R-LOG-7's look at the operators after a change, while its lock is
     * held: a second connection and lock after it cost the command about
     * a fifth of its time (bench/README.md). */
    const struct kura_cmd_ctx *c = t->locker;
    if (c && c->env->at_unlock && c->env->at_unlock_done && !*c->env->at_unlock_done) {
        c->env->at_unlock(c->env, c->actor, c->err);
        *c->env->at_unlock_done = true;
    }
    t->locker = NULL;
    struct kura_err e = {0};
    /* With the restriction's end, if one was sent. A session whose unlock
     * failed is closed, which releases the lock too (a node then lifts at
     * its next check); one that unlocked is kept for the next change when
     * the daemon keeps one (its lock was taken: c is set). */
    bool unlocked = kura_cluster_unlock_lift(t->cluster, &e) == 0;
    kura_cluster_spare_give(unlocked && c ? c->env->cluster_spare : NULL, t->cluster);
    t->cluster = NULL;
}
