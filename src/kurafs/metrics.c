/* Metrics for the operator's monitoring ([metrics] textfile): counters kept
 * in memory and written every few seconds in the text format that
 * Prometheus' node exporter collects from its textfile directory. A file,
 * not a listener: kurafs opens no network socket. The exporter serves the
 * file to whoever scrapes it, so no label names a dataset, a user or a
 * path: only reasons, from the daemon's own fixed strings. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/fsutil.h"
#include "kurafs.h"

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bucket_le[KURAFS_METRICS_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                         0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

static void histogram_observe(struct kurafs_histogram *h, int64_t ns)
{
    double s = (double)ns / 1e9;
    for (size_t i = 0; i < KURAFS_METRICS_BUCKETS; i++)
        if (s <= bucket_le[i])
            atomic_fetch_add(&h->bucket[i], 1);
    atomic_fetch_add(&h->count, 1);
    atomic_fetch_add(&h->sum_ns, (uint64_t)(ns > 0 ? ns : 0));
}

int64_t kurafs_metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A reason as a label value: lowercase letters, digits and '_'. */
static void label_of(const char *reason, char out[KURAFS_METRICS_LABEL_MAX + 1])
{
    size_t n = 0;
    for (const char *p = reason; *p && n < KURAFS_METRICS_LABEL_MAX; p++) {
        char ch = *p;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        out[n++] = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ? ch : '_';
    }
    out[n] = '\0';
}

/* Counts a refusal under its reason. The table is small and fixed; a
 * reason past it is counted as "other", so no input grows the file. */
void kurafs_metrics_refusal(struct kurafs_metrics *m, const char *reason)
{
    char label[KURAFS_METRICS_LABEL_MAX + 1];
    label_of(reason && *reason ? reason : "other", label);
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < m->nreasons && strcmp(m->reasons[i].label, label) != 0)
        i++;
    if (i == m->nreasons) {
        if (m->nreasons < KURAFS_METRICS_REASONS - 1 || strcmp(label, "other") == 0) {
            snprintf(m->reasons[i].label, sizeof m->reasons[i].label, "%s", label);
            m->nreasons++;
        } else {
            i = KURAFS_METRICS_REASONS - 1; /* the slot kept for "other" */
            snprintf(m->reasons[i].label, sizeof m->reasons[i].label, "other");
            if (m->nreasons < KURAFS_METRICS_REASONS)
                m->nreasons = KURAFS_METRICS_REASONS;
        }
    }
    m->reasons[i].count++;
    pthread_mutex_unlock(&m->lock);
}

void kurafs_metrics_audit(struct kurafs_metrics *m, const struct kura_audit_record *r, bool written,
                          int64_t write_ns)
{
    histogram_observe(&m->audit_write, write_ns);
    atomic_fetch_add(written ? &m->audit_records : &m->audit_failures, 1);
    if (!written)
        return;
    switch (r->event) {
    case KURA_AUDIT_OPEN:
        if (r->decision == KURA_AUDIT_ALLOW)
            atomic_fetch_add(&m->opens_allowed, 1);
        break;
    case KURA_AUDIT_REVOCATION:
        atomic_fetch_add(&m->handles_revoked, 1);
        break;
    case KURA_AUDIT_ALERT:
        atomic_fetch_add(&m->alerts, 1);
        break;
    default:
        break;
    }
}

void kurafs_metrics_served(struct kurafs_metrics *m, uint64_t bytes)
{
    atomic_fetch_add(&m->bytes_served, bytes);
}

void kurafs_metrics_handle(struct kurafs_metrics *m, int delta)
{
    atomic_fetch_add(&m->open_handles, (int64_t)delta);
}

void kurafs_metrics_reload(struct kurafs_metrics *m, int64_t ns)
{
    histogram_observe(&m->revocation, ns);
}

/* VmRSS and VmLck of this process, in bytes (0 if unreadable). */
static void own_memory(uint64_t *rss, uint64_t *locked)
{
    *rss = *locked = 0;
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return;
    char line[256];
    unsigned long long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            *rss = (uint64_t)kb * 1024;
        else if (sscanf(line, "VmLck: %llu kB", &kb) == 1)
            *locked = (uint64_t)kb * 1024;
    }
    fclose(f);
}

static void put_histogram(FILE *f, const char *name, const char *help, struct kurafs_histogram *h)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < KURAFS_METRICS_BUCKETS; i++)
        fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, bucket_le[i], (uint64_t)atomic_load(&h->bucket[i]));
    uint64_t count = atomic_load(&h->count);
    fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, count);
    fprintf(f, "%s_sum %.9f\n%s_count %" PRIu64 "\n", name, (double)atomic_load(&h->sum_ns) / 1e9, name, count);
}

static void put_value(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

/* The whole file, into memory first: the file on disk is replaced whole. */
static char *format(struct kurafs *fs, bool up, size_t *len)
{
    struct kurafs_metrics *m = &fs->metrics;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    put_value(f, "kura_up", "gauge", "1 while kurafs serves; 0 in the file it leaves when it stops.", up);
    fprintf(f, "# HELP kura_build_info The running kurafs.\n# TYPE kura_build_info gauge\n"
               "kura_build_info{version=\"%s\"} 1\n", KURA_VERSION);
    put_value(f, "kura_lockdown", "gauge", "1 while the server is locked down.", atomic_load(&fs->lockdown));
    put_value(f, "kura_opens_allowed_total", "counter", "Opens allowed (each has its allow record).",
              atomic_load(&m->opens_allowed));
    fprintf(f, "# HELP kura_refusals_total Opens, lookups and write-class operations refused, by reason.\n"
               "# TYPE kura_refusals_total counter\n");
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nreasons; i++)
        if (m->reasons[i].label[0])
            fprintf(f, "kura_refusals_total{reason=\"%s\"} %" PRIu64 "\n", m->reasons[i].label, m->reasons[i].count);
    pthread_mutex_unlock(&m->lock);
    put_value(f, "kura_bytes_served_total", "counter", "Plaintext bytes returned by reads.",
              atomic_load(&m->bytes_served));
    int64_t handles = atomic_load(&m->open_handles);
    put_value(f, "kura_open_handles", "gauge", "Files open on the mount.", handles > 0 ? (uint64_t)handles : 0);
    put_value(f, "kura_handles_revoked_total", "counter", "Open handles stopped because access ended.",
              atomic_load(&m->handles_revoked));
    put_value(f, "kura_alerts_total", "counter", "Alert records (bulk reads and others).", atomic_load(&m->alerts));
    size_t kept;
    uint64_t used, none_kept;
    kura_keycache_counts(&fs->keycache, &kept, &used, &none_kept);
    put_value(f, "kura_file_keys_kept", "gauge", "Files whose opened keys are kept for their next open.", kept);
    put_value(f, "kura_file_keys_used_total", "counter", "Opens that used kept keys.", used);
    put_value(f, "kura_file_keys_not_kept_total", "counter", "Opens that found no keys kept and read the keystore.",
              none_kept);
    put_histogram(f, "kura_revocation_seconds",
                  "From a state change reaching the daemon to open handles and cached pages re-deciding.",
                  &m->revocation);
    put_value(f, "kura_audit_records_total", "counter", "Audit records written by kurafs, durable.",
              atomic_load(&m->audit_records));
    put_value(f, "kura_audit_failures_total", "counter", "Audit appends that failed (the operation was refused).",
              atomic_load(&m->audit_failures));
    put_histogram(f, "kura_audit_write_seconds", "Time an audit append took: until the record was durable, or for a close until it was handed to the close writer.", &m->audit_write);
    struct kura_audit_stats st;
    kura_audit_get_stats(fs->audit, &st);
    put_value(f, "kura_audit_syslog_undelivered_total", "counter",
              "Copies of audit records that syslog did not take (no daemon, or its queue full).",
              st.syslog_undelivered);
    put_value(f, "kura_audit_closes_lost_total", "counter",
              "Close records handed to the writer (counted written then) whose batch then failed: not in the log.",
              st.closes_lost);
    struct kurafs_ship_state ship;
    if (kurafs_ship_state(fs, &ship)) {
        put_value(f, "kura_audit_store_connected", "gauge", "1 while the central audit store is reachable.",
                  ship.connected);
        put_value(f, "kura_audit_store_shipped_seq", "gauge", "The last record of this node stored centrally.",
                  ship.shipped);
        put_value(f, "kura_audit_store_backlog", "gauge", "Records of the local log not stored centrally yet.",
                  ship.written - ship.shipped);
    }
    struct statvfs sv;
    char dir[KURA_CONFIG_PATH_MAX + 1];
    snprintf(dir, sizeof dir, "%s", fs->cfg->audit_log);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (statvfs(dir, &sv) == 0)
        put_value(f, "kura_audit_log_free_bytes", "gauge", "Free bytes on the audit log's file system.",
                  (uint64_t)sv.f_bavail * sv.f_frsize);
    uint64_t rss, locked;
    own_memory(&rss, &locked);
    put_value(f, "kura_daemon_resident_bytes", "gauge", "kurafs' resident memory.", rss);
    put_value(f, "kura_daemon_locked_bytes", "gauge", "kurafs' locked memory (kept out of swap).", locked);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Written beside the file and renamed over it: the exporter never reads a
 * half-written file. */
static int write_file(struct kurafs *fs, bool up)
{
    const char *path = fs->cfg->metrics_textfile;
    size_t len = 0;
    char *text = format(fs, up, &len);
    if (!text)
        return -ENOMEM;
    char tmp[KURA_CONFIG_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int rc = 0;
    /* Exclusive: the directory may belong to the exporter's user, and a
     * link planted at tmp must not make root truncate or write its target. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        rc = -errno;
    else {
        /* Whatever the umask (the unit sets 0077): the exporter reads it,
         * as one of [metrics] group, else as anyone. Mode and group before
         * the first byte. */
        bool grouped = fs->cfg->metrics_group[0];
        if ((grouped && fchown(fd, (uid_t)-1, fs->metrics.group) != 0) || fchmod(fd, grouped ? 0640 : 0644) != 0 ||
            kura_write_full(fd, text, len) != 0)
            rc = -errno;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    free(text);
    return rc;
}

static void *writer(void *arg)
{
    struct kurafs *fs = arg;
    struct kurafs_metrics *m = &fs->metrics;
    int last_error = 0;
    pthread_mutex_lock(&m->stop_lock);
    while (!m->stopping) {
        pthread_mutex_unlock(&m->stop_lock);
        int rc = write_file(fs, true);
        if (rc != last_error && rc != 0) /* once per new cause, not every interval */
            kura_notice(LOG_WARNING, "kurafs: metrics: cannot write %s: %s", fs->cfg->metrics_textfile,
                   strerror(-rc));
        last_error = rc;
        struct timespec until = kura_clock_timespec(kura_clock_ms(CLOCK_MONOTONIC) + (int64_t)fs->cfg->metrics_interval * 1000);
        pthread_mutex_lock(&m->stop_lock);
        while (!m->stopping && pthread_cond_timedwait(&m->stop_cond, &m->stop_lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&m->stop_lock);
    return NULL;
}

void kurafs_metrics_init(struct kurafs_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->stop_lock, NULL);
    kura_cond_init_clock(&m->stop_cond, CLOCK_MONOTONIC);
}

int kurafs_metrics_start(struct kurafs *fs)
{
    if (!fs->cfg->metrics_textfile[0])
        return 0;
    if (fs->cfg->metrics_group[0]) {
        /* A group that does not exist writes nothing: a 0644 file would
         * show every user what the operator meant to keep to the group. */
        char buf[4096];
        struct group gr, *found = NULL;
        int e = getgrnam_r(fs->cfg->metrics_group, &gr, buf, sizeof buf, &found);
        if (!found) {
            kura_notice(LOG_WARNING, "kurafs: metrics: group %s ([metrics] group): %s; %s is not written",
                        fs->cfg->metrics_group, e ? strerror(e) : "no such group", fs->cfg->metrics_textfile);
            return 0;
        }
        fs->metrics.group = gr.gr_gid;
    }
    if (pthread_create(&fs->metrics.thread, NULL, writer, fs) != 0)
        return -1;
    fs->metrics.running = true;
    return 0;
}

void kurafs_metrics_stop(struct kurafs *fs)
{
    struct kurafs_metrics *m = &fs->metrics;
    if (!m->running)
        return;
    pthread_mutex_lock(&m->stop_lock);
    m->stopping = true;
    pthread_cond_signal(&m->stop_cond);
    pthread_mutex_unlock(&m->stop_lock);
    pthread_join(m->thread, NULL);
    m->running = false;
    write_file(fs, false); /* the last counts, and kura_up 0 */
}
