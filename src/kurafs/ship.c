/* The shipper (cluster mode, docs/cluster.md "The central audit store"):
 * its own thread and its own connection send every record of this node's
 * local audit log to the central store, in batches, once the records are
 * in the local log (which an open still waits for: the database is never
 * on the path of an open). A batch is stored idempotently under (node,
 * seq); after a start or a reconnect the shipper asks the database how far
 * it got and reads on from there, rotated files included. While the
 * database is away the backlog stays in the local log; nothing is dropped.
 * Without a [cluster] database nothing here runs and no connection is made. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/cluster.h"
#include "kurafs.h"

#define BATCH_RECORDS 256
#define BATCH_BYTES (1u << 20)
#define IDLE_MS 200             /* a look at the log without a kick: records other programs wrote */
#define RETRY_MS 1000           /* between connection attempts */
#define CONTACT_MS 1000           /* an idle node's contact: a database gone away shows */

struct shipper {
    struct kurafs *fs;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* on the monotonic clock */
    bool kicked, stopping;
    atomic_bool connected;
    atomic_uint_fast64_t shipped, written;
    uint64_t reported;          /* the written seq the database was last told (the thread's own) */
    int64_t contact_ms;         /* of the last statement that succeeded (the thread's own) */
    char why[sizeof ((struct kura_err *)0)->msg]; /* the last failure, under lock */
};

struct batch {
    struct kura_cluster_audit_line v[BATCH_RECORDS];
    size_t n, bytes;
};

static int take(uint64_t seq, const char *line, size_t len, void *ctx)
{
    struct batch *b = ctx;
    if (b->n == BATCH_RECORDS || (b->n && b->bytes + len > BATCH_BYTES))
        return 1;
    char *copy = strndup(line, len);
    if (!copy)
        return 1;
    b->v[b->n++] = (struct kura_cluster_audit_line){.seq = seq, .line = copy, .len = len};
    b->bytes += len;
    return 0;
}

static void batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free((char *)b->v[i].line);
    b->n = b->bytes = 0;
}

static void set_why(struct shipper *s, const char *why)
{
    pthread_mutex_lock(&s->lock);
    bool news = strcmp(s->why, why) != 0;
    snprintf(s->why, sizeof s->why, "%s", why);
    pthread_mutex_unlock(&s->lock);
    if (news && why[0]) /* once per new cause, not every retry */
        kura_notice(LOG_WARNING, "kurafs: central audit store: %s; the records wait in the local log", why);
}

/* Ships everything the local log holds past what the database has, batch
 * after batch. -1 (err set) when the database failed. */
static int ship_pending(struct shipper *s, struct kura_cluster *c, struct kura_audit_cursor *cur,
                        struct kura_err *err)
{
    for (;;) {
        struct batch b = {.n = 0};
        uint64_t shipped = atomic_load(&s->shipped), written = 0;
        /* Only what a power failure cannot take back from the local log. */
        if (kura_audit_read_durable_after(s->fs->audit, shipped, cur, take, &b, err) != 0 ||
            kura_audit_written_seq(s->fs->audit, &written, err) != 0) {
            batch_clear(&b);
            *cur = (struct kura_audit_cursor){0};
            kura_notice(LOG_ERR, "kurafs: central audit store: reading the local log: %s", err->msg);
            return 0; /* the database is fine; try again at the next look */
        }
        uint64_t last = b.n ? b.v[b.n - 1].seq : shipped;
        if (written < last)
            written = last;
        bool full = b.n == BATCH_RECORDS || b.bytes >= BATCH_BYTES / 2;
        /* With nothing new, a contact a second: a database gone away shows
         * (status, metrics) even on an idle node. */
        int64_t now = kura_clock_ms(CLOCK_MONOTONIC);
        bool due = b.n || written != s->reported || now - s->contact_ms >= CONTACT_MS;
        int rc = due ? kura_cluster_audit_ship(c, b.v, b.n, written, err) : 0;
        if (due && rc == 0)
            s->contact_ms = now;
        batch_clear(&b);
        if (rc != 0)
            return -1;
        atomic_store(&s->shipped, last);
        atomic_store(&s->written, written);
        s->reported = written;
        if (!full)
            return 0;
    }
}

/* Waits for a kick, the stop, or ms; true when stopping. */
static bool wait_for(struct shipper *s, int ms)
{
    struct timespec until = kura_clock_timespec(kura_clock_ms(CLOCK_MONOTONIC) + ms);
    pthread_mutex_lock(&s->lock);
    while (!s->kicked && !s->stopping && pthread_cond_timedwait(&s->wake, &s->lock, &until) != ETIMEDOUT) {
    }
    s->kicked = false;
    bool stopping = s->stopping;
    pthread_mutex_unlock(&s->lock);
    return stopping;
}

static void *run(void *arg)
{
    struct shipper *s = arg;
    const struct kura_config *cfg = s->fs->cfg;
    struct kura_cluster *c = NULL;
    struct kura_audit_cursor cur = {0};
    bool stopping = false;
    for (;;) {
        if (stopping && !c)
            break; /* no connection to wait for at the stop: the records stay in the local log */
        struct kura_err err = {0};
        /* A connection that failed may only have outlived a restart of
         * the database: one more try on a new one before waiting. */
        for (bool fresh = false; !fresh;) {
            if (!c) {
                uint64_t shipped = 0;
                fresh = true;
                if (kura_cluster_connect_for(cfg->cluster_database, cfg->cluster_node, NULL,
                                             kura_config_answer_ms(cfg), &c, &err) != 0 ||
                    kura_cluster_audit_shipped(c, &shipped, &err) != 0) {
                    kura_cluster_close(c);
                    c = NULL;
                    break;
                }
                atomic_store(&s->shipped, shipped); /* where the database says it got */
                s->reported = UINT64_MAX;
                cur = (struct kura_audit_cursor){0};
            }
            if (ship_pending(s, c, &cur, &err) == 0)
                break;
            kura_cluster_close(c);
            c = NULL;
        }
        uint64_t written;
        struct kura_err ignored = {0};
        if (!c && kura_audit_written_seq(s->fs->audit, &written, &ignored) == 0)
            atomic_store(&s->written, written); /* the backlog grows while away */
        atomic_store(&s->connected, c != NULL);
        set_why(s, c ? "" : err.msg);
        if (stopping)
            break;
        stopping = wait_for(s, c ? IDLE_MS : RETRY_MS); /* one more pass after the stop: the stop record */
    }
    kura_cluster_close(c);
    return NULL;
}

int kurafs_ship_start(struct kurafs *fs)
{
    if (!fs->cfg->cluster_database || !fs->cfg->cluster_database[0])
        return 0;
    struct shipper *s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->fs = fs;
    snprintf(s->why, sizeof s->why, "not connected yet");
    pthread_mutex_init(&s->lock, NULL);
    kura_cond_init_clock(&s->wake, CLOCK_MONOTONIC);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        pthread_cond_destroy(&s->wake);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return -1;
    }
    fs->shipper = s;
    return 0;
}

void kurafs_ship_kick(struct kurafs *fs)
{
    struct shipper *s = fs->shipper;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->kicked = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void kurafs_ship_stop(struct kurafs *fs)
{
    struct shipper *s = fs->shipper;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->lock);
    fs->shipper = NULL;
    free(s);
}

bool kurafs_ship_state(struct kurafs *fs, struct kurafs_ship_state *out)
{
    struct shipper *s = fs->shipper;
    if (!s)
        return false;
    out->connected = atomic_load(&s->connected);
    out->shipped = atomic_load(&s->shipped);
    out->written = atomic_load(&s->written);
    if (out->written < out->shipped)
        out->written = out->shipped;
    pthread_mutex_lock(&s->lock);
    snprintf(out->why, sizeof out->why, "%s", s->why);
    pthread_mutex_unlock(&s->lock);
    return true;
}

void kurafs_ship_describe(void *ctx, FILE *out)
{
    struct kurafs_ship_state st;
    if (!kurafs_ship_state(ctx, &st))
        return;
    uint64_t backlog = st.written - st.shipped;
    if (st.connected)
        fprintf(out, "central audit store: connected, shipped up to seq %" PRIu64 ", %" PRIu64 " record(s) waiting\n",
                st.shipped, backlog);
    else
        fprintf(out, "central audit store: NOT CONNECTED (%s); shipped up to seq %" PRIu64 ", %" PRIu64
                     " record(s) waiting in the local log\n", st.why, st.shipped, backlog);
}
