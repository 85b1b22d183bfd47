/* What the daemon does when time passes, with nobody acting (issue 6):
 * - at a grant's or a dataset's end: an audit record and a notice (the
 *   access itself already ended to the second: handles re-decide when
 *   their decision's valid_until passes);
 * - warn_days before an end: a notice to the PI (and the user, for a
 *   grant), at most once per day, remembered across restarts;
 * - grace_days after a dataset's end: crypto-erasure with a destruction
 *   report, unless auto_destroy is off (R-REV-2, R-REV-3). */
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
#include "kura/fsutil.h"
#include "kura/layout.h"
#include "kura/notify.h"
#include "kura/when.h"
#include "audit.h"

#define TICK_SECONDS 30       /* also the granularity of warnings and grace */

/* (dataset, user, date) of the last warning sent; user "" = the dataset. */
struct warned {
    char dataset[KURA_ID_MAX + 1];
    char user[KURA_USER_MAX + 1];
    char date[16];
};

struct maintainer {
    struct kurafs *fs;
    const struct kura_cmd_env *env;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop, kicked;
    int64_t last_tick;
    struct warned *warned;
    size_t nwarned;
};

static void load_warned(struct maintainer *m)
{
    char path[4096], *data = NULL;
    size_t len = 0;
    struct kura_err err;
    snprintf(path, sizeof path, "%s/" KURA_WARNED_FILE, m->fs->cfg->state_dir);
    if (kura_read_file(path, 1u << 20, &data, &len, &err) != 0)
        return;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        struct warned w = {0};
        if (sscanf(line, "%64[^\t]\t%32[^\t]\t%15s", w.dataset, w.user, w.date) != 3)
            continue;
        if (strcmp(w.user, "-") == 0)
            w.user[0] = '\0';
        struct warned *grown = realloc(m->warned, (m->nwarned + 1) * sizeof *grown);
        if (!grown)
            break;
        m->warned = grown;
        m->warned[m->nwarned++] = w;
    }
    free(data);
}

static void save_warned(struct maintainer *m)
{
    size_t cap = m->nwarned * (KURA_ID_MAX + KURA_USER_MAX + 20) + 1, len = 0;
    char *text = malloc(cap), path[4096];
    if (!text)
        return;
    for (size_t i = 0; i < m->nwarned; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\t%s\t%s\n", m->warned[i].dataset,
                                m->warned[i].user[0] ? m->warned[i].user : "-", m->warned[i].date);
    snprintf(path, sizeof path, "%s/" KURA_WARNED_FILE, m->fs->cfg->state_dir);
    struct kura_err err;
    if (kura_write_file_atomic(path, text, len, 0600, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: cannot record sent warnings: %s", err.msg);
    free(text);
}

/* True (and remembered) if no warning for (dataset, user) went out today. */
static bool first_warning_today(struct maintainer *m, const char *dataset, const char *user, const char *today)
{
    for (size_t i = 0; i < m->nwarned; i++) {
        struct warned *w = &m->warned[i];
        if (strcmp(w->dataset, dataset) == 0 && strcmp(w->user, user) == 0) {
            if (strcmp(w->date, today) == 0)
                return false;
            snprintf(w->date, sizeof w->date, "%s", today);
            return true;
        }
    }
    struct warned *grown = realloc(m->warned, (m->nwarned + 1) * sizeof *grown);
    if (!grown)
        return false;
    m->warned = grown;
    struct warned *w = &m->warned[m->nwarned++];
    snprintf(w->dataset, sizeof w->dataset, "%s", dataset);
    snprintf(w->user, sizeof w->user, "%s", user);
    snprintf(w->date, sizeof w->date, "%s", today);
    return true;
}

static void notice(struct maintainer *m, const char *event, const struct kura_dataset *ds, const char *users,
                   int64_t now, const char *message)
{
    struct kura_notice n = {
        .event = event, .dataset = ds->id, .pi = ds->pi, .users = users, .time = now, .message = message,
    };
    struct kura_err err;
    if (kura_notify(m->fs->cfg, &n, 0, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: notification %s for %s not sent: %s", event, ds->id, err.msg);
}

static void warn(struct maintainer *m, const struct kura_dataset *ds, const char *user, int64_t until, int64_t now,
                 const char *today, bool *changed)
{
    if (!first_warning_today(m, ds->id, user, today))
        return;
    *changed = true;
    char last[16], msg[256];
    kura_date_format(until - 1, m->fs->cfg->zone, last, sizeof last);
    long days = (long)((until - now + 86399) / 86400);
    if (user[0])
        snprintf(msg, sizeof msg, "%s's use of dataset %s ends after %s (%ld days): the PI may ask for an extension",
                 user, ds->id, last, days);
    else
        snprintf(msg, sizeof msg, "the approved period of dataset %s ends after %s (%ld days): request an extension "
                 "now if needed", ds->id, last, days);
    notice(m, "expiry-warning", ds, user[0] ? user : NULL, now, msg);
}

/* A stream into the log: each line the change writes on its err (its
 * refusal, or a warning) becomes one log line about dataset id. */
static ssize_t log_line(void *cookie, const char *buf, size_t len)
{
    size_t n = len && buf[len - 1] == '\n' ? len - 1 : len;
    kura_notice(LOG_ERR, "kurafs: dataset %s: automatic destruction: %.*s", (const char *)cookie, (int)n, buf);
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
    FILE *log = fopencookie(id, "w", (cookie_io_functions_t){.write = log_line});
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

static void tick(struct maintainer *m, int64_t now)
{
    const struct kura_config *cfg = m->fs->cfg;
    char today[16];
    kura_date_format(now, cfg->zone, today, sizeof today);
    int64_t warn_ahead = (int64_t)cfg->warn_days * 86400, grace = (int64_t)cfg->grace_days * 86400;
    int64_t last = m->last_tick ? m->last_tick : now;
    bool changed = false;
    char destroy[64][KURA_ID_MAX + 1];
    size_t ndestroy = 0;

    struct snapshot *snap = snapshot_acquire(m->fs);
    for (size_t i = 0; i < snap->cat->ndatasets; i++) {
        const struct kura_dataset *ds = &snap->cat->datasets[i].ds;
        if (ds->status == KURA_DS_DESTROYED)
            continue;
        if (ds->until > last && ds->until <= now) {
            audit_expiry(m->fs, ds, NULL, 0, "the dataset's approved period ended");
            notice(m, "expired", ds, NULL, now, "the approved period ended: all use has stopped");
        }
        if (now < ds->until && ds->until - now <= warn_ahead)
            warn(m, ds, "", ds->until, now, today, &changed);
        if (cfg->auto_destroy && now >= ds->until + grace && ndestroy < 64)
            snprintf(destroy[ndestroy++], sizeof destroy[0], "%s", ds->id);
        for (size_t g = 0; g < ds->ngrants; g++) {
            const struct kura_grant *gr = &ds->grants[g];
            int64_t end = gr->until < ds->until ? gr->until : ds->until;
            if (gr->until < ds->until && end > last && end <= now) {
                audit_expiry(m->fs, ds, gr->user, gr->uid, "the user's grant ended");
                notice(m, "expired", ds, gr->user, now, "a user's grant ended: their use has stopped");
            }
            /* A grant ending with the dataset is covered by the dataset's warning. */
            if (gr->until < ds->until && now < gr->until && gr->until - now <= warn_ahead)
                warn(m, ds, gr->user, gr->until, now, today, &changed);
        }
    }
    snapshot_release(snap);
    if (changed)
        save_warned(m);
    /* Each destruction reloads the state: destroy only what is still there. */
    for (size_t i = 0; i < ndestroy; i++) {
        snap = snapshot_acquire(m->fs);
        bool present = kura_catalog_dataset(snap->cat, destroy[i]) != NULL;
        snapshot_release(snap);
        if (present)
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
        int64_t wake_at = now + TICK_SECONDS;
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_REALTIME);
    pthread_cond_init(&m->wake, &attr);
    pthread_condattr_destroy(&attr);
    load_warned(m);
    if (pthread_create(&m->thread, NULL, maintain_thread, m) != 0) {
        free(m->warned);
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
    free(m->warned);
    free(m);
}
