/* A cluster node (docs/cluster.md): the lease that lets this daemon
 * serve, and the changes it is told of.
 *
 * Three threads. The lease thread owns the node's database connection: it
 * renews the lease every lease/3, catches up with every announced change
 * (reloads the state, then acknowledges it at once) and waits for
 * announcements in between. The watch thread ends the lease when its
 * deadline passes without a renewal, even while the lease thread is stuck
 * in a call to a database that does not answer. The deadline is on the
 * monotonic clock and counted from before the renewal was sent, so it
 * ends no later than the database's own lease_until. The restriction
 * thread, on a connection of its own that never commits, hears what a
 * change in progress is about to forbid and refuses it at once
 * (restriction first) until that change is over: a renewal's commit
 * stalled on the database's disk must not keep a restriction unread.
 * A statement on either connection that gets no answer within the lease
 * gives the connection up, and the thread connects again.
 *
 * Whether the lease holds is a fact the decision is told (kurafs_decide
 * passes it to the pure policy); ending it bumps the epoch, so every open
 * handle is decided again on its next read and refused (revoke.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kura/clock.h"
#include "kura/cluster.h"
#include "kura/restrict.h"
#include "audit.h"

#define WHY_MAX 512
/* A stale copy of a state file is read again this often, this far apart,
 * before the node gives up for this round (and stops serving). */
#define STALE_TRIES 50
#define STALE_PAUSE_MS 20

struct cluster_node {
    struct kurafs *fs;
    int lease_ms;
    pthread_t lease_thread, watch_thread, restrict_thread;
    bool lease_running, watch_running, restrict_running;
    /* The restrictions held are fs->restrictions: the restriction thread
     * writes them, decisions (decide.c) read them. */
    bool lift_asked;            /* a lift notice came: check at once (the restriction thread's) */
    pthread_mutex_t lock;       /* guards what follows */
    pthread_cond_t wake;        /* CLOCK_MONOTONIC: a new deadline, or stop */
    bool stop;
    bool behind;                /* knows of a change it could not apply: serves nothing */
    int64_t applied, latest;    /* epochs: served, and the newest the database knows */
    int64_t changed_ms;         /* wall clock: when serving last started or stopped */
    char why[WHY_MAX];          /* why this node does not serve ("" while it does) */
    char trouble[WHY_MAX];      /* the lease thread's last failure ("" after a renewal) */
};

static int64_t mono_ms(void)
{
    return kura_clock_ms(CLOCK_MONOTONIC);
}

int kurafs_cluster_check(struct kurafs *fs, struct kura_err *err)
{
    const struct kura_config *cfg = fs->cfg;
    if (!*cfg->cluster_database)
        return 0; /* a single server: no database, no libpq connection */
    if (!cfg->cluster_id[0]) {
        kura_err_set(err, ENOENT, "[cluster] database is set, but the state directory %s belongs to no cluster: "
                     "run kuractl cluster init", cfg->state_dir);
        return -1;
    }
    struct kura_cluster *db = NULL;
    char id[KURA_CLUSTER_ID_LEN + 1];
    if (kura_cluster_connect_for(cfg->cluster_database, cfg->cluster_node, NULL, kura_config_answer_ms(cfg), &db,
                                 err) != 0 ||
        kura_cluster_id(db, id, err) != 0) {
        kura_cluster_close(db);
        return -1;
    }
    kura_cluster_close(db);
    /* State copied to a machine outside the cluster serves nothing. */
    if (strcmp(id, cfg->cluster_id) != 0) {
        kura_err_set(err, EPERM, "the state directory %s belongs to cluster %s, but the database is cluster %s's: "
                     "refusing to serve", cfg->state_dir, cfg->cluster_id, id);
        return -1;
    }
    struct cluster_node *n = calloc(1, sizeof *n);
    if (!n) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    n->fs = fs;
    n->lease_ms = (int)cfg->cluster_lease_seconds * 1000;
    pthread_mutex_init(&n->lock, NULL);
    kura_cond_init_clock(&n->wake, CLOCK_MONOTONIC);
    snprintf(n->why, sizeof n->why, "starting: no lease yet");
    n->changed_ms = kurafs_now_ms();
    /* Nothing is served before the first lease and catch-up. */
    atomic_store(&fs->lease_ended, true);
    atomic_store(&fs->lease_deadline_ms, 0);
    fs->cluster = n;
    return 0;
}

/* Stops serving (n->lock held): the decision refuses from now on, and
 * open handles are ended on their next read once the epoch moved. */
static void stop_serving_locked(struct cluster_node *n, const char *why)
{
    snprintf(n->why, sizeof n->why, "%s", why);
    if (atomic_exchange(&n->fs->lease_ended, true))
        return;
    n->changed_ms = kurafs_now_ms();
    atomic_fetch_add(&n->fs->epoch, 1);
    pthread_mutex_unlock(&n->lock);
    kurafs_end_access(n->fs);
    kura_notice(LOG_WARNING, "kurafs: cluster node %s stops serving: %s", n->fs->cfg->cluster_node, why);
    audit_lease(n->fs, true, why);
    pthread_mutex_lock(&n->lock);
}

static void *watch_main(void *arg)
{
    struct cluster_node *n = arg;
    pthread_mutex_lock(&n->lock);
    while (!n->stop) {
        int64_t deadline = atomic_load(&n->fs->lease_deadline_ms);
        if (!atomic_load(&n->fs->lease_ended) && mono_ms() >= deadline) {
            char why[WHY_MAX];
            snprintf(why, sizeof why, "the lease ended without renewal (%.400s)",
                     n->trouble[0] ? n->trouble : "the database did not answer");
            stop_serving_locked(n, why);
            continue;
        }
        if (atomic_load(&n->fs->lease_ended)) {
            pthread_cond_wait(&n->wake, &n->lock);
        } else {
            struct timespec until = kura_clock_timespec(deadline);
            pthread_cond_timedwait(&n->wake, &n->lock, &until);
        }
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

/* Why the lease thread could not do its work, kept for status and the
 * record of the lease's end. */
static void trouble(struct cluster_node *n, const char *what, const struct kura_err *err)
{
    pthread_mutex_lock(&n->lock);
    bool first = strstr(n->trouble, err->msg) == NULL;
    snprintf(n->trouble, sizeof n->trouble, "%.100s: %.400s", what, err->msg);
    pthread_mutex_unlock(&n->lock);
    if (first)
        kura_notice(LOG_ERR, "kurafs: cluster node %s: %s: %s", n->fs->cfg->cluster_node, what, err->msg);
}

/* Sleeps up to ms unless stopped; returns whether to go on. */
static bool pause_ms(struct cluster_node *n, int64_t ms)
{
    struct timespec until = kura_clock_timespec(mono_ms() + ms);
    pthread_mutex_lock(&n->lock);
    if (!n->stop)
        pthread_cond_timedwait(&n->wake, &n->lock, &until);
    bool go = !n->stop;
    pthread_mutex_unlock(&n->lock);
    return go;
}

/* A connection of the node's own: the lease thread's or the restriction
 * thread's; given up after a lease without an answer, it is replaced and
 * the node serves again once the database answers. */
static int node_connect(struct cluster_node *n, struct kura_cluster **db, struct kura_err *err)
{
    const struct kura_config *cfg = n->fs->cfg;
    return kura_cluster_connect_for(cfg->cluster_database, cfg->cluster_node, NULL, kura_config_node_answer_ms(cfg),
                                    db, err);
}

static bool stopping(struct cluster_node *n)
{
    pthread_mutex_lock(&n->lock);
    bool s = n->stop;
    pthread_mutex_unlock(&n->lock);
    return s;
}

/* One renewal: the new deadline counts from before it was sent. Serving
 * (again) once the lease holds and the node has applied the latest epoch. */
static int renew(struct cluster_node *n, struct kura_cluster *db, struct kura_err *err)
{
    int64_t sent = mono_ms(), latest = 0;
    if (kura_cluster_renew(db, n->lease_ms, n->applied, &latest, err) != 0)
        return -1;
    pthread_mutex_lock(&n->lock);
    n->latest = latest;
    n->trouble[0] = '\0';
    atomic_store(&n->fs->lease_deadline_ms, sent + n->lease_ms);
    bool resume = n->applied >= latest && atomic_load(&n->fs->lease_ended) && mono_ms() < sent + n->lease_ms;
    if (resume) {
        atomic_store(&n->fs->lease_ended, false);
        n->why[0] = '\0';
        n->changed_ms = kurafs_now_ms();
    }
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (resume) {
        char detail[96];
        snprintf(detail, sizeof detail, "lease renewed, epoch %" PRId64 " applied", latest);
        kura_notice(LOG_NOTICE, "kurafs: cluster node %s serves: %s", n->fs->cfg->cluster_node, detail);
        audit_lease(n->fs, false, detail);
    }
    return 0;
}

struct held_ctx {
    struct kurafs *fs;
    const struct kura_catalog *cat;
};

/* What this node holds for a stamp (kura_cluster_held_fn): its catalog
 * (dataset.ini, files.tsv) and its lockdown state, as last loaded. */
static int64_t held_loaded(enum kura_cluster_stamp stamp, const char *id, void *ctx)
{
    const struct held_ctx *h = ctx;
    if (stamp == KURA_STAMP_LOCKDOWN)
        return atomic_load(&h->fs->lockdown_epoch);
    const struct kura_catalog_dataset *d = kura_catalog_dataset(h->cat, id);
    if (!d)
        return -1;
    return stamp == KURA_STAMP_DATASET ? d->ds.epoch : d->files_epoch;
}

/* What this node holds in memory of a server key (kura_cluster_key_fn):
 * the keys it opened at its last reload; none while locked down (or while
 * they do not open). */
static enum kura_cluster_key_held key_loaded(const char *fp, void *ctx)
{
    const struct held_ctx *h = ctx;
    pthread_rwlock_rdlock(&h->fs->ks_lock);
    int at = h->fs->ks ? kura_keystore_held(h->fs->ks, fp) : -2;
    pthread_rwlock_unlock(&h->fs->ks_lock);
    /* A key retired here is never in memory: whether the copy is as new
     * as the retirement is what its files say. */
    if (at != -2 && kurafs_keys_retired(h->fs, fp))
        return kura_keystore_secret_exists(h->fs->cfg->keys_dir, fp) ? KURA_KEY_EARLIER : KURA_KEY_ABSENT;
    return at == -2 ? KURA_KEY_NONE_HELD : at < 0 ? KURA_KEY_ABSENT : at == 0 ? KURA_KEY_CURRENT : KURA_KEY_EARLIER;
}

/* The first change of v that the state this node loaded is older than (a
 * client cache of the shared file system), or NULL. */
static const struct kura_cluster_change *stale_change(struct kurafs *fs, const struct kura_cluster_change *v,
                                                      size_t k)
{
    struct snapshot *s = snapshot_acquire(fs);
    struct held_ctx h = {.fs = fs, .cat = s->cat};
    const struct kura_cluster_change *stale = kura_cluster_stale(v, k, held_loaded, key_loaded, &h);
    snapshot_release(s);
    return stale;
}

/* Applies every change up to latest: the state loaded again until every
 * state file a change stamped carries its epoch; state older than that is
 * read again, never acted on (and never acknowledged). */
static int catch_up(struct cluster_node *n, struct kura_cluster *db, int64_t latest)
{
    struct kura_err err = {0};
    struct kura_cluster_change *v = NULL;
    size_t k = 0;
    if (kura_cluster_changes(db, n->applied, latest, &v, &k, &err) != 0) {
        trouble(n, "cannot read the changes", &err);
        return -1;
    }
    /* A retired key leaves memory as soon as the node is told, before the
     * copy of the keystore shows the retirement. */
    for (size_t i = 0; i < k; i++)
        if (v[i].stamp == KURA_STAMP_KEY_RETIRED && kurafs_keys_retire(n->fs, v[i].fingerprint) != 0)
            kura_notice(LOG_ERR, "kurafs: cluster node %s: out of memory noting a retired key: wiped, but an "
                        "older copy of the keystore may load it again (not acknowledged while it is held)",
                        n->fs->cfg->cluster_node);
    const struct kura_cluster_change *stale = NULL;
    int tries = 0;
    for (; tries < STALE_TRIES; tries++) {
        if (kurafs_reload(n->fs, &err) != 0) {
            trouble(n, "the state does not load", &err);
            free(v);
            return -1;
        }
        if (!(stale = stale_change(n->fs, v, k)))
            break;
        pause_ms(n, STALE_PAUSE_MS);
    }
    if (stale) {
        char what[160];
        if (stale->stamp == KURA_STAMP_KEY_CURRENT || stale->stamp == KURA_STAMP_KEY_RETIRED)
            snprintf(what, sizeof what, "the server keys (key %.16s... %s)", stale->fingerprint,
                     stale->stamp == KURA_STAMP_KEY_CURRENT ? "not current yet" : "retired but still there");
        else
            snprintf(what, sizeof what, "%s%s%s", stale->dataset, stale->dataset[0] ? "/" : "",
                     kura_cluster_stamp_name(stale->stamp));
        kura_err_set(&err, ESTALE, "%s read from the shared file system is older than change %" PRId64
                     " (a stale cache)", what, stale->epoch);
        trouble(n, "cannot apply the latest change", &err);
        free(v);
        return -1;
    }
    free(v);
    if (tries > 0) /* a client cache of the shared file system held an older copy */
        kura_notice(LOG_NOTICE, "kurafs: cluster node %s: the state showed epoch %" PRId64 " at read %d",
                    n->fs->cfg->cluster_node, latest, tries + 1);
    kurafs_maintain_kick(n->fs);
    pthread_mutex_lock(&n->lock);
    n->applied = latest;
    pthread_mutex_unlock(&n->lock);
    return 0;
}

/* A step of the lease thread that took longer than the renewal period
 * eats into the lease: said in the log, so that an operator sees why a
 * lease ended with no error. */
static void slow(struct cluster_node *n, const char *what, int64_t since, int64_t period)
{
    int64_t took = mono_ms() - since;
    if (took > period)
        kura_notice(LOG_WARNING, "kurafs: cluster node %s: %s took %" PRId64 " ms (lease %d ms)",
                    n->fs->cfg->cluster_node, what, took, n->lease_ms);
}

/* Applies the latest epoch and acknowledges it at once (the next renewal
 * says it again). A state that does not load stops serving and is tried
 * again at the next round, not at once. */
static void apply_latest(struct cluster_node *n, struct kura_cluster *db, int64_t period)
{
    struct kura_err err = {0};
    int64_t t0 = mono_ms();
    int rc = catch_up(n, db, n->latest);
    slow(n, "applying the latest change", t0, period);
    if (rc == 0) {
        if (kura_cluster_ack(db, n->applied, &err) != 0)
            trouble(n, "cannot acknowledge the change", &err);
        return;
    }
    pthread_mutex_lock(&n->lock);
    char why[WHY_MAX];
    snprintf(why, sizeof why, "behind the latest change (%.400s)", n->trouble);
    stop_serving_locked(n, why);
    pthread_mutex_unlock(&n->lock);
    n->behind = true;
    pause_ms(n, period);
}

static void *lease_main(void *arg)
{
    struct cluster_node *n = arg;
    struct kura_cluster *db = NULL;
    int64_t period = n->lease_ms / 3;
    while (!stopping(n)) {
        struct kura_err err = {0};
        /* Behind: no renewal (changes stop waiting for this node once its
         * lease ends) until the change is applied. */
        if (db && n->behind) {
            if (catch_up(n, db, n->latest) == 0)
                n->behind = false;
            else
                pause_ms(n, period);
            continue;
        }
        if (!db && (node_connect(n, &db, &err) != 0 || kura_cluster_listen(db, &err) != 0)) {
            kura_cluster_close(db);
            db = NULL;
            trouble(n, "cannot reach the cluster database", &err);
            pause_ms(n, period);
            continue;
        }
        int64_t started = mono_ms();
        int rc = renew(n, db, &err);
        slow(n, "a renewal", started, period);
        if (rc != 0) {
            trouble(n, "cannot renew the lease", &err);
            kura_cluster_close(db);
            db = NULL;
            pause_ms(n, period);
            continue;
        }
        if (n->latest > n->applied) {
            apply_latest(n, db, period);
            continue;
        }
        /* Until the next renewal is due, changes announced meanwhile. */
        int64_t announced = 0, left = started + period - mono_ms();
        if (left > 0 && kura_cluster_wait_announce(db, (int)left, &announced, &err) != 0) {
            trouble(n, "lost the cluster database", &err);
            kura_cluster_close(db);
            db = NULL;
        } else if (announced > n->latest) {
            /* Applied before the next renewal: applying a change needs no
             * lease, and the renewal's synchronous commit stays off the
             * change's path (the renewal follows the acknowledgement). */
            pthread_mutex_lock(&n->lock);
            n->latest = announced;
            pthread_mutex_unlock(&n->lock);
            apply_latest(n, db, period);
        }
    }
    if (db) {
        struct kura_err err = {0};
        kura_cluster_leave(db, &err); /* changes stop waiting for this node */
        kura_cluster_close(db);
    }
    return NULL;
}

/* ---- restriction first (kura/restrict.h) ---- */

/* A notice on the restrictions' channel (kura_cluster_payload_fn). A
 * restriction is held and refused from now on: the epoch moves, so every
 * open handle is decided again, and what is open or cached now is ended
 * at once. Anything that does not parse is ignored (and said). */
static void on_restriction(const char *payload, void *ctx)
{
    struct cluster_node *n = ctx;
    const char *node = n->fs->cfg->cluster_node;
    struct kura_restrict_notice rn;
    if (kura_restrict_parse(payload, &rn) != 0) {
        kura_notice(LOG_WARNING, "kurafs: cluster node %s: ignored a restriction that does not parse (%.80s)", node,
                    payload);
        return;
    }
    if (rn.lift) {
        n->lift_asked = true;
        return;
    }
    pthread_mutex_lock(&n->fs->restrictions.lock);
    bool fits = kura_restrict_hold(&n->fs->restrictions.held, &rn.r);
    atomic_store(&n->fs->restrictions.any, true);
    pthread_mutex_unlock(&n->fs->restrictions.lock);
    atomic_fetch_add(&n->fs->epoch, 1);
    kurafs_end_access(n->fs);
    char what[160];
    kura_restrict_describe(&rn.r, what, sizeof what);
    if (fits)
        kura_notice(LOG_NOTICE, "kurafs: cluster node %s: a change in progress (database backend %lld, after epoch "
                    "%lld) restricts %s", node, (long long)rn.r.sender_pid, (long long)rn.r.epoch, what);
    else
        kura_notice(LOG_WARNING, "kurafs: cluster node %s: more than %d changes in progress restrict at once: "
                    "refusing everything until they are over (%s not held on its own)", node,
                    KURA_RESTRICT_HELD_MAX, what);
}

/* Lifts the restrictions whose change is over: its sender no longer holds
 * the cluster lock (it unlocked, or its connection ended: a kuractl
 * killed), nothing is pending, and this node has applied the latest
 * epoch. Reads only; with nothing held, it is the check that the
 * connection still answers: one that went silent (a fail-over, a path
 * cut without a reset) would bring no restriction again, and receiving
 * alone never finds that out. -1 when the database does not answer. */
static int lift_over(struct cluster_node *n, struct kura_cluster *db)
{
    struct kura_err err = {0};
    int64_t holder = 0, pending = 0, latest = 0;
    if (kura_cluster_change_state(db, &holder, &pending, &latest, &err) != 0) {
        trouble(n, "cannot check the changes in progress", &err);
        return -1;
    }
    /* A node behind a change it could not apply has applied less than
     * the latest, so its restrictions stay. */
    pthread_mutex_lock(&n->lock);
    int64_t applied = n->applied;
    pthread_mutex_unlock(&n->lock);
    pthread_mutex_lock(&n->fs->restrictions.lock);
    size_t lifted = kura_restrict_lift(&n->fs->restrictions.held, holder, pending, latest, applied);
    size_t left = n->fs->restrictions.held.n + (n->fs->restrictions.held.overflow ? 1 : 0);
    atomic_store(&n->fs->restrictions.any, left > 0);
    pthread_mutex_unlock(&n->fs->restrictions.lock);
    if (lifted)
        kura_notice(LOG_NOTICE, "kurafs: cluster node %s: %zu restriction(s) lifted (the change is over, epoch %lld "
                    "applied), %zu left", n->fs->cfg->cluster_node, lifted, (long long)latest, left);
    return 0;
}

/* The restriction thread: listens on a connection of its own that never
 * commits, so that no renewal's commit stalled on the database's disk
 * keeps a restriction waiting unread; checks what it holds, and that the
 * connection answers, on every lift notice and every lease/3 (a kuractl
 * killed sends no lift notice). */
static void *restrict_main(void *arg)
{
    struct cluster_node *n = arg;
    struct kura_cluster *db = NULL;
    int64_t period = n->lease_ms / 3, next_check = 0;
    while (!stopping(n)) {
        struct kura_err err = {0};
        if (!db && (node_connect(n, &db, &err) != 0 || kura_cluster_listen_restrictions(db, &err) != 0)) {
            kura_cluster_close(db);
            db = NULL;
            trouble(n, "cannot listen for restrictions", &err);
            pause_ms(n, period);
            continue;
        }
        int64_t wait = next_check - mono_ms();
        if (wait > 0 && kura_cluster_wait_restrictions(db, (int)(wait < period ? wait : period), on_restriction, n,
                                                       &err) != 0) {
            trouble(n, "lost the cluster database (restrictions)", &err);
            kura_cluster_close(db);
            db = NULL;
            continue;
        }
        if (n->lift_asked || mono_ms() >= next_check) {
            n->lift_asked = false;
            next_check = mono_ms() + period;
            if (lift_over(n, db) != 0) {
                kura_cluster_close(db);
                db = NULL;
            }
        }
    }
    kura_cluster_close(db);
    return NULL;
}


int kurafs_cluster_start(struct kurafs *fs)
{
    struct cluster_node *n = fs->cluster;
    if (!n)
        return 0;
    n->watch_running = pthread_create(&n->watch_thread, NULL, watch_main, n) == 0;
    n->lease_running = n->watch_running && pthread_create(&n->lease_thread, NULL, lease_main, n) == 0;
    n->restrict_running = n->lease_running && pthread_create(&n->restrict_thread, NULL, restrict_main, n) == 0;
    return n->restrict_running ? 0 : -1;
}

void kurafs_cluster_stop(struct kurafs *fs)
{
    struct cluster_node *n = fs->cluster;
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    n->stop = true;
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (n->lease_running)
        pthread_join(n->lease_thread, NULL);
    if (n->watch_running)
        pthread_join(n->watch_thread, NULL);
    if (n->restrict_running)
        pthread_join(n->restrict_thread, NULL);
    fs->cluster = NULL;
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

void kurafs_cluster_describe(void *ctx, FILE *out)
{
    struct kurafs *fs = ctx;
    struct cluster_node *n = fs->cluster;
    if (!n)
        return;
    pthread_mutex_lock(&n->lock);
    bool ended = atomic_load(&fs->lease_ended);
    int64_t left = atomic_load(&fs->lease_deadline_ms) - mono_ms();
    if (ended || left <= 0) {
        fprintf(out, "cluster node %s NOT SERVING (every open and read refused): %s", fs->cfg->cluster_node,
                n->why[0] ? n->why : "the lease ended");
        if (n->trouble[0] && !strstr(n->why, n->trouble))
            fprintf(out, "; now: %s", n->trouble);
        fputc('\n', out);
    } else {
        fprintf(out, "cluster node %s serving, lease %" PRId64 " ms left, epoch %" PRId64 " applied\n",
                fs->cfg->cluster_node, left, n->applied);
    }
    pthread_mutex_unlock(&n->lock);
    pthread_mutex_lock(&n->fs->restrictions.lock);
    for (size_t i = 0; i < n->fs->restrictions.held.n; i++) {
        char what[160];
        kura_restrict_describe(&n->fs->restrictions.held.v[i], what, sizeof what);
        fprintf(out, "cluster node %s restricts %s: a change in progress (database backend %" PRId64 ", after epoch "
                "%" PRId64 ")\n", fs->cfg->cluster_node, what, n->fs->restrictions.held.v[i].sender_pid, n->fs->restrictions.held.v[i].epoch);
    }
    if (n->fs->restrictions.held.overflow)
        fprintf(out, "cluster node %s restricts everything: more than %d changes in progress at once\n",
                fs->cfg->cluster_node, KURA_RESTRICT_HELD_MAX);
    pthread_mutex_unlock(&n->fs->restrictions.lock);
}
