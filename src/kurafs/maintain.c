/* What the daemon does when time passes, with nobody acting (issue 6):
 * - at a grant's or a dataset's end: an audit record and a notice (the
 *   access itself already ended to the second: handles re-decide when
 *   their decision's valid_until passes);
 * - reminders (reminders.h): warn_days before an end, a notice to the PI
 *   (and the user, for a grant), and the yearly report on each
 *   anniversary of the start; each once, marked in STATE/reminders.tsv
 *   only after notify_command has run: a crash in between sends it again
 *   (at least once: a deadline notice twice beats none);
 * - grace_days after a dataset's end: crypto-erasure with a destruction
 *   report, unless auto_destroy is off (R-REV-2, R-REV-3);
 * - each tick: a change of group kura-admin's members recorded in the
 *   operator register (R-LOG-7, register.h); in cluster mode first the
 *   changes a killed kuractl left pending, resolved
 *   (kura_change_cluster_resolve);
 * - rotated audit log files past [audit] retention_years: removed, each
 *   recorded in the log first (R-LOG-8, kura_audit_retain);
 * - on [audit] summary_weekday, the audit log's summary of the week before
 *   (R-LOG-9), through notify_command with the text in STATE/
 *   audit-summary.md, marked in reminders.tsv as a reminder is.
 *
 * In cluster mode (docs/cluster.md) every node shares the state directory,
 * so the cluster-wide duties (notices, reminders, the summary of every
 * node's records, the register, automatic destruction) are done by one
 * node at a time: the one holding the maintainer claim in the database,
 * which it holds only while its own lease runs and stops using before the
 * database can give it to another node. The holder reads reminders.tsv
 * afresh each tick (a predecessor may have written it), and marks the
 * expiry notices there too, so that a node taking over sends what its
 * predecessor did not, and nothing twice. The audit records of an end and
 * the retention of a node's own rotated log files stay on every node. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kura/changes.h"
#include "kura/clock.h"
#include "kura/cluster.h"
#include "kura/fsutil.h"
#include "kura/layout.h"
#include "kura/notify.h"
#include "kura/reminders.h"
#include "kura/when.h"
#include "audit.h"

#define TICK_SECONDS 30       /* also the granularity of reminders and grace */
/* How long a reminder's notify_command may run before it counts as sent. */
#define REMINDER_WAIT_MS 5000

struct maintainer {
    struct kurafs *fs;
    const struct kura_cmd_env *env;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop, kicked;
    int64_t last_tick;
    struct kura_reminder_mark *marks; /* the reminders sent */
    size_t nmarks;
    /* Cluster mode: the maintainer thread's own connection (NULL until
     * connected), the claim's local deadline (monotonic ms, counted from
     * before the claim was sent), whether the last claim got it, and the
     * first tick's time (expiry notices are looked for from then on). */
    struct kura_cluster *db;
    int64_t claim_deadline_ms, first_tick;
    bool holder, db_trouble;
};

static bool cluster_mode(const struct maintainer *m)
{
    return m->fs->cfg->cluster_database[0] != '\0';
}

/* How long a claim lasts: three leases. A node ticks once a lease and
 * renews its claim once half of it is gone, so a live holder keeps it
 * through a slow tick, and a dead holder's passes to another node within
 * four leases. */
static int claim_ms(const struct maintainer *m)
{
    return (int)m->fs->cfg->cluster_lease_seconds * 3000;
}

/* Claims the maintenance, or renews the claim (cluster mode). */
static void claim(struct maintainer *m)
{
    const struct kura_config *cfg = m->fs->cfg;
    struct kura_err err = {0};
    bool held = false;
    int64_t sent = kura_clock_ms(CLOCK_MONOTONIC);
    if ((!m->db && kura_cluster_connect_for(cfg->cluster_database, cfg->cluster_node, "maintenance",
                                            kura_config_answer_ms(cfg), &m->db, &err) != 0) ||
        kura_cluster_maintainer_claim(m->db, claim_ms(m), &held, &err) != 0) {
        if (!m->db_trouble)
            kura_notice(LOG_ERR, "kurafs: cluster node %s cannot claim the maintenance (after an upgrade, run "
                        "kuractl cluster init): %s", cfg->cluster_node, err.msg);
        m->db_trouble = true;
        kura_cluster_close(m->db);
        m->db = NULL;
        held = false;
    } else {
        m->db_trouble = false;
    }
    m->claim_deadline_ms = held ? sent + claim_ms(m) : 0;
    if (held != m->holder)
        kura_notice(LOG_NOTICE, "kurafs: cluster node %s %s the cluster's maintenance", cfg->cluster_node,
                    held ? "does" : "no longer does");
    m->holder = held;
}

/* Whether this node does the cluster-wide duties now: always on a single
 * server; in cluster mode while its lease runs and at least half of its
 * claim is left (the holder renews it when less is; a node that does not
 * hold it claims once a tick), on the monotonic clock. Asked
 * before each duty: a duty starts with time to finish before the
 * database could give the claim to another node (notify_command is waited
 * for up to REMINDER_WAIT_MS). */
static bool maintaining(struct maintainer *m)
{
    if (!cluster_mode(m))
        return true;
    if (atomic_load(&m->fs->lease_ended)) {
        if (m->holder)
            kura_notice(LOG_NOTICE, "kurafs: cluster node %s no longer does the cluster's maintenance (no lease)",
                        m->fs->cfg->cluster_node);
        m->holder = false;
        m->claim_deadline_ms = 0;
        return false;
    }
    int half = claim_ms(m) / 2;
    if (m->holder && m->claim_deadline_ms - kura_clock_ms(CLOCK_MONOTONIC) < half)
        claim(m);
    int64_t now = kura_clock_ms(CLOCK_MONOTONIC);
    return m->claim_deadline_ms - now >= half && now < atomic_load(&m->fs->lease_deadline_ms) &&
           !atomic_load(&m->fs->lease_ended);
}

/* The "expired" notice of an end (the dataset's, or a user's grant's) at
 * end. On a single server sent as the tick passes it; in cluster mode by
 * the maintainer, for every end since this node's first tick that is not
 * marked in reminders.tsv, and marked once notify_command has run. */
static void expired(struct maintainer *m, const struct kura_dataset *ds, const char *user, int64_t end,
                    int64_t now, const char *message)
{
    bool marked = cluster_mode(m);
    struct kura_reminder r = {.kind = KURA_REMIND_END, .due = end, .deadline = end};
    snprintf(r.dataset, sizeof r.dataset, "%s", ds->id);
    snprintf(r.user, sizeof r.user, "%s", user ? user : "");
    snprintf(r.key, sizeof r.key, "expired %" PRId64, end);
    if (marked && (!maintaining(m) || kura_reminder_marked(m->marks, m->nmarks, &r)))
        return;
    struct kura_notice n = {
        .event = "expired", .dataset = ds->id, .pi = ds->pi, .users = user, .time = now, .message = message,
    };
    struct kura_err err;
    if (kura_notify(m->fs->cfg, &n, marked ? REMINDER_WAIT_MS : 0, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: notification expired for %s not sent%s: %s", ds->id,
                    marked ? " (tried again)" : "", err.msg);
    else if (marked && kura_reminder_mark_add(m->fs->cfg->state_dir, &m->marks, &m->nmarks, &r, now, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: notification expired for %s sent but not recorded: %s", ds->id, err.msg);
}

/* Sends the reminders of ds due at now, each marked once notify_command
 * has run (or could not be waited for): one that cannot start stays
 * unmarked and is tried again next tick. */
static void remind(struct maintainer *m, const struct kura_dataset *ds, int64_t now)
{
    const struct kura_config *cfg = m->fs->cfg;
    struct kura_reminder_rules rules;
    kura_reminder_rules_from(cfg, &rules);
    struct kura_reminder *due = NULL;
    size_t ndue = 0;
    struct kura_err err;
    if (kura_reminders_due(ds, &rules, now, m->marks, m->nmarks, &due, &ndue, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: reminders of %s: %s", ds->id, err.msg);
    for (size_t i = 0; i < ndue && maintaining(m); i++) {
        char msg[320];
        kura_reminder_message(&due[i], cfg->zone, now, msg, sizeof msg);
        struct kura_notice n = {
            .event = kura_reminder_event(due[i].kind), .dataset = ds->id, .pi = ds->pi,
            .users = due[i].user[0] ? due[i].user : NULL, .time = now, .message = msg,
        };
        if (kura_notify(cfg, &n, REMINDER_WAIT_MS, &err) != 0) {
            kura_notice(LOG_ERR, "kurafs: reminder %s for %s not sent (tried again): %s", due[i].key, ds->id, err.msg);
            continue;
        }
        if (kura_reminder_mark_add(cfg->state_dir, &m->marks, &m->nmarks, &due[i], now, &err) != 0)
            kura_notice(LOG_ERR, "kurafs: reminder %s for %s sent but not recorded: %s", due[i].key, ds->id, err.msg);
    }
    free(due);
}

/* The weekly audit summary, once per week across restarts (at least once,
 * as a reminder: marked after notify_command has run). */
static void send_summary(struct maintainer *m, int64_t now)
{
    const struct kura_config *cfg = m->fs->cfg;
    struct kura_reminder r;
    if (!kura_audit_summary_due(cfg->summary_weekday, cfg->zone, now, m->marks, m->nmarks, &r) || !maintaining(m))
        return;
    char *path = kura_layout_join(cfg->state_dir, KURA_AUDIT_SUMMARY_FILE), msg[320];
    struct kura_err err;
    if (!path || kura_cmd_audit_summary_file(m->env, r.since, r.due, path, &err) != 0) {
        kura_notice(LOG_ERR, "kurafs: the weekly audit summary not made (tried again): %s",
                    path ? err.msg : "out of memory");
        free(path);
        return;
    }
    kura_reminder_message(&r, cfg->zone, now, msg, sizeof msg);
    struct kura_notice n = {.event = kura_reminder_event(r.kind), .time = now, .message = msg, .file = path};
    if (kura_notify(cfg, &n, REMINDER_WAIT_MS, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: the weekly audit summary not sent (tried again): %s", err.msg);
    else if (kura_reminder_mark_add(cfg->state_dir, &m->marks, &m->nmarks, &r, now, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: the weekly audit summary sent but not recorded: %s", err.msg);
    free(path);
}

/* A stream into the log: each line the change writes on its err (its
 * refusal, or a warning) becomes one log line after the cookie's words
 * ("dataset ID: automatic destruction"). */
static ssize_t log_line(void *cookie, const char *buf, size_t len)
{
    size_t n = len && buf[len - 1] == '\n' ? len - 1 : len;
    kura_notice(LOG_ERR, "kurafs: %s: %.*s", (const char *)cookie, (int)n, buf);
    return (ssize_t)len;
}

/* Destroys dataset id as the daemon itself (root), the grace period its
 * confirmation. */
static void auto_destroy(struct maintainer *m, char *id)
{
    struct kura_actor actor;
    struct kura_err err;
    if (kura_actor_resolve(0, 0, getpid(), &actor, &err) != 0)
        return;
    snprintf(actor.via, sizeof actor.via, "grace period over");
    char what[KURA_ID_MAX + 48];
    snprintf(what, sizeof what, "dataset %.*s: automatic destruction", KURA_ID_MAX, id);
    FILE *log = fopencookie(what, "w", (cookie_io_functions_t){.write = log_line});
    if (!log || setvbuf(log, NULL, _IOLBF, 4096) != 0) {
        kura_notice(LOG_ERR, "kurafs: dataset %s: grace period over, automatic destruction not started: out of memory",
                    id);
        if (log)
            fclose(log);
        return;
    }
    struct kura_destroy_request rq = {.dataset = id};
    struct kura_destroy_result res;
    int status = kura_change_destroy(m->env, &actor, log, &rq, &res);
    kura_destroy_result_free(&res);
    fclose(log);
    kura_notice(status == KURA_EXIT_OK ? LOG_NOTICE : LOG_ERR,
                "kurafs: dataset %s: grace period over, automatic destruction %s", id,
                status == KURA_EXIT_OK ? "done" : "failed (the reason is logged above)");
}

/* Under the cluster's lock: the changes killed kuractls left pending, each
 * resolution logged as "kurafs: cluster node N: maintenance: ...". */
static void resolve_interrupted(struct maintainer *m)
{
    char node[KURA_CLUSTER_NODE_MAX + 16];
    snprintf(node, sizeof node, "cluster node %s", m->fs->cfg->cluster_node);
    FILE *log = fopencookie(node, "w", (cookie_io_functions_t){.write = log_line});
    struct kura_err err = {0};
    if (!log || setvbuf(log, NULL, _IOLBF, 4096) != 0)
        kura_notice(LOG_ERR, "kurafs: %s: the interrupted changes were not resolved: out of memory", node);
    else if (kura_change_cluster_resolve(m->env, m->db, "maintenance", log, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: %s: the interrupted changes were not resolved: %s", node, err.msg);
    if (log)
        fclose(log);
}

/* R-LOG-7: a change of group kura-admin is recorded even when nobody runs
 * kuractl, observed by the daemon itself. In cluster mode under the
 * cluster's lock (the register's file lock does not hold across nodes),
 * tried once: a kuractl holding it observes the register itself after its
 * change. Holding the lock, the maintainer first resolves the changes
 * killed kuractls left pending: otherwise their restrictions (refusing
 * more than the change would) and the changes made but not announced
 * would wait for the next change, however late it comes. */
static void locked_duties(struct maintainer *m)
{
    struct kura_actor actor;
    struct kura_err err;
    if (!maintaining(m) || kura_actor_resolve(0, 0, getpid(), &actor, &err) != 0)
        return;
    snprintf(actor.via, sizeof actor.via, "kurafs maintenance");
    FILE *log = fopencookie("the operator register", "w", (cookie_io_functions_t){.write = log_line});
    if (!log || setvbuf(log, NULL, _IOLBF, 4096) != 0) {
        kura_notice(LOG_ERR, "kurafs: the operator register was not checked: out of memory");
        if (log)
            fclose(log);
        return;
    }
    bool locked = cluster_mode(m) && kura_cluster_lock(m->db, 0, &err) == 0;
    if (cluster_mode(m) && !locked && err.code != EBUSY)
        kura_notice(LOG_ERR, "kurafs: the operator register was not checked: %s", err.msg);
    if (locked)
        resolve_interrupted(m);
    if (!cluster_mode(m) || locked)
        kura_change_operators_observe(m->env, &actor, log);
    fclose(log);
    if (locked && kura_cluster_unlock(m->db, &err) != 0) {
        kura_notice(LOG_ERR, "kurafs: %s", err.msg);
        kura_cluster_close(m->db); /* the lock ends with the connection */
        m->db = NULL;
    }
}

/* The marks as STATE/reminders.tsv has them now. */
static void load_marks(struct maintainer *m)
{
    struct kura_reminder_mark *marks = NULL;
    size_t n = 0;
    struct kura_err err;
    if (kura_reminder_marks_load(m->fs->cfg->state_dir, &marks, &n, &err) != 0) {
        kura_notice(LOG_ERR, "kurafs: the reminders sent cannot be read (they may be sent again): %s", err.msg);
        return;
    }
    free(m->marks);
    m->marks = marks;
    m->nmarks = n;
}

static void tick(struct maintainer *m, int64_t now)
{
    const struct kura_config *cfg = m->fs->cfg;
    int64_t grace = (int64_t)cfg->grace_days * 86400;
    int64_t last = m->last_tick ? m->last_tick : now;
    char destroy[64][KURA_ID_MAX + 1];
    size_t ndestroy = 0;
    if (!m->first_tick)
        m->first_tick = now;
    if (cluster_mode(m) && !m->holder && !atomic_load(&m->fs->lease_ended))
        claim(m);
    /* Another node may have held the maintenance since this one last read them. */
    if (cluster_mode(m) && maintaining(m))
        load_marks(m);
    int64_t notices_since = cluster_mode(m) ? m->first_tick : last;

    send_summary(m, now);
    struct snapshot *snap = snapshot_acquire(m->fs);
    for (size_t i = 0; i < snap->cat->ndatasets; i++) {
        const struct kura_dataset *ds = &snap->cat->datasets[i].ds;
        if (ds->status == KURA_DS_DESTROYED)
            continue;
        if (ds->until > last && ds->until <= now)
            audit_expiry(m->fs, ds, NULL, 0, "the dataset's approved period ended");
        if (ds->until > notices_since && ds->until <= now)
            expired(m, ds, NULL, ds->until, now, "the approved period ended: all use has stopped");
        remind(m, ds, now);
        if (cfg->auto_destroy && now >= ds->until + grace && ndestroy < 64)
            snprintf(destroy[ndestroy++], sizeof destroy[0], "%s", ds->id);
        for (size_t g = 0; g < ds->ngrants; g++) {
            const struct kura_grant *gr = &ds->grants[g];
            int64_t end = gr->until < ds->until ? gr->until : ds->until;
            if (gr->until < ds->until && end > last && end <= now)
                audit_expiry(m->fs, ds, gr->user, gr->uid, "the user's grant ended");
            if (gr->until < ds->until && end > notices_since && end <= now)
                expired(m, ds, gr->user, end, now, "a user's grant ended: their use has stopped");
        }
    }
    snapshot_release(snap);
    locked_duties(m);
    struct kura_err err;
    if (kura_audit_retain(m->fs->audit, cfg->retention_years, now * 1000, NULL, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: %s; tried again next tick", err.msg);
    /* Each destruction reloads the state: destroy only what is still there. */
    for (size_t i = 0; i < ndestroy; i++) {
        snap = snapshot_acquire(m->fs);
        bool present = kura_catalog_dataset(snap->cat, destroy[i]) != NULL;
        snapshot_release(snap);
        if (present && maintaining(m))
            auto_destroy(m, destroy[i]);
    }
    m->last_tick = now;
}

/* The next instant any decision may change, to wake up on time. */
static int64_t next_change(struct kurafs *fs, int64_t now)
{
    int64_t next = INT64_MAX;
    struct snapshot *snap = snapshot_acquire(fs);
    for (size_t i = 0; i < snap->cat->ndatasets; i++) {
        int64_t t = kura_policy_next_change(&snap->cat->datasets[i].ds, now);
        if (t < next)
            next = t;
    }
    snapshot_release(snap);
    return next;
}

static void *maintain_thread(void *arg)
{
    struct maintainer *m = arg;
    pthread_mutex_lock(&m->lock);
    int64_t change = INT64_MAX;
    while (!m->stop) {
        pthread_mutex_unlock(&m->lock);
        int64_t now = kurafs_now();
        /* A decision changed with nobody acting (a grant's or a dataset's
         * end): ended handles free what they hold, mapped pages are dropped. */
        if (now >= change)
            kurafs_end_access(m->fs);
        tick(m, now);
        kurafs_refusals_flush(m->fs, false);
        /* In cluster mode a tick each lease: the claim renewed in time, and
         * a dead holder's duties taken over within a few leases. */
        int64_t wake_at = now + (cluster_mode(m) ? (int64_t)m->fs->cfg->cluster_lease_seconds : TICK_SECONDS);
        change = next_change(m->fs, now);
        if (change < wake_at)
            wake_at = change;
        pthread_mutex_lock(&m->lock);
        struct timespec until = {.tv_sec = (time_t)wake_at, .tv_nsec = 0};
        while (!m->stop && !m->kicked && kurafs_now() < wake_at)
            pthread_cond_timedwait(&m->wake, &m->lock, &until);
        m->kicked = false;
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int kurafs_maintain_start(struct kurafs *fs, const struct kura_cmd_env *env)
{
    struct maintainer *m = calloc(1, sizeof *m);
    if (!m)
        return -1;
    m->fs = fs;
    m->env = env;
    pthread_mutex_init(&m->lock, NULL);
    kura_cond_init_clock(&m->wake, CLOCK_REALTIME);
    load_marks(m);
    if (pthread_create(&m->thread, NULL, maintain_thread, m) != 0) {
        free(m->marks);
        free(m);
        return -1;
    }
    fs->maintainer = m;
    return 0;
}

void kurafs_maintain_kick(struct kurafs *fs)
{
    struct maintainer *m = fs->maintainer;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->kicked = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
}

void kurafs_maintain_stop(struct kurafs *fs)
{
    struct maintainer *m = fs->maintainer;
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_signal(&m->wake);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    fs->maintainer = NULL;
    struct kura_err err = {0};
    if (m->db && kura_cluster_maintainer_release(m->db, &err) != 0)
        kura_notice(LOG_WARNING, "kurafs: cluster node %s could not hand the maintenance over (another node "
                    "takes it when the claim ends): %s", fs->cfg->cluster_node, err.msg);
    kura_cluster_close(m->db);
    free(m->marks);
    free(m);
}
