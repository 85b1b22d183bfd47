/* Every record the daemon writes (audit.h): the builders, the durable
 * append with its metrics, and refusals under a flood (issue 14): one
 * process must not fill the audit log. Each user's refusals are recorded
 * one by one up to [audit] refusals_per_hour per dataset, then counted into
 * a "refusals" summary a minute; the first one counted raises a
 * refusal-flood alert. A refusal whose own record cannot be written (the
 * reserve, a full disk) is counted too, so every refusal is in the log,
 * one way or the other. */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/notify.h"
#include "kura/policy.h"
#include "kura/when.h"
#include "audit.h"

#define WINDOW_MS (3600 * 1000)
#define SUMMARY_MS (60 * 1000)
#define LOOKUP_REPEAT_MS 200
/* How much of the log's end a start reads for today's alerts. */
#define RECALL_TAIL (32u << 20)
#define BULK_READ_REASON "bulk read"
#define GUARD_BURST_REASON "guard burst"

/* Appends, durable, with no flood limit, counted for the metrics. */
static int append(struct kurafs *fs, const struct kura_audit_record *r)
{
    struct kura_err err = {0};
    int64_t start = kurafs_metrics_clock();
    int rc = kura_audit_append(fs->audit, r, &err);
    kurafs_metrics_audit(&fs->metrics, r, rc == 0, kurafs_metrics_clock() - start);
    if (rc == 0)
        kurafs_ship_kick(fs);
    /* Fail closed on -1: the caller refuses; the audit module told syslog why. */
    return rc == 0 ? 0 : -1;
}

/* A record of an end or a refusal: event, decision deny, reason. */
static void deny_record(struct kura_audit_record *r, enum kura_audit_event event, const char *reason)
{
    kura_audit_record_init(r);
    r->event = event;
    r->decision = KURA_AUDIT_DENY;
    r->reason = reason;
}

int kurafs_refusals_start(struct kurafs *fs)
{
    fs->flood = kura_audit_flood_new(fs->cfg->refusals_per_hour, WINDOW_MS, SUMMARY_MS);
    if (fs->cfg->alert_refusals)
        fs->guard_burst = kura_audit_flood_new(fs->cfg->alert_refusals, WINDOW_MS, SUMMARY_MS);
    return fs->flood && (!fs->cfg->alert_refusals || fs->guard_burst) ? 0 : -1;
}

/* An alert's notice, after its record: the event, who, the dataset. */
static void notify_alert(struct kurafs *fs, const char *event, const struct kura_audit_record *a, int64_t now_ms)
{
    char bytes[24];
    snprintf(bytes, sizeof bytes, "%lld", (long long)a->bytes);
    struct kura_notice n = {.event = event, .dataset = a->dataset, .users = a->user, .time = now_ms / 1000,
                            .message = a->detail, .bytes = a->bytes != KURA_AUDIT_ABSENT ? bytes : NULL};
    struct kura_err err;
    if (kura_notify(fs->cfg, &n, 0, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: notification %s not sent: %s", event, err.msg);
}

/* An alert about a refusal: who, with which process, on which dataset. */
static void raise_alert(struct kurafs *fs, const struct kura_audit_record *refusal, const char *reason,
                        const char *event, const char *detail, int64_t now)
{
    struct kura_audit_record a = *refusal;
    a.event = KURA_AUDIT_ALERT;
    a.decision = KURA_AUDIT_NO_DECISION;
    a.reason = reason;
    a.samples = NULL;
    a.detail = detail;
    if (kurafs_audit(fs, &a) == 0)
        notify_alert(fs, event, &a, now);
}

static void raise_flood_alert(struct kurafs *fs, const struct kura_audit_record *refusal, int64_t now)
{
    char detail[200];
    snprintf(detail, sizeof detail,
             "more than %u refusals in an hour%s%s; the rest are counted in \"refusals\" summary records",
             fs->cfg->refusals_per_hour, refusal->dataset ? " on dataset " : "",
             refusal->dataset ? refusal->dataset : "");
    raise_alert(fs, refusal, "refusal flood", "refusal-flood", detail, now);
}

/* A guard refusal, counted per user over all datasets: the first over
 * [guard] alert_refusals in an hour raises a guard-burst alert. The
 * refusals themselves are recorded (or summarised) through fs->flood; this
 * counter only times the alert. */
static void count_guard_refusal(struct kurafs *fs, const struct kura_audit_record *r)
{
    bool alert;
    if (!fs->guard_burst || r->event != KURA_AUDIT_OPEN || !r->reason ||
        strcmp(r->reason, kura_reason_name(KURA_DENY_GUARD)) != 0)
        return;
    int64_t now = kurafs_now_ms();
    kura_audit_flood_admit(fs->guard_burst, (uid_t)r->uid, NULL, now, &alert);
    if (!alert)
        return;
    char detail[160];
    snprintf(detail, sizeof detail, "more than %u guard refusals in an hour%s%s", fs->cfg->alert_refusals,
             r->exe ? ", the last of " : "", r->exe ? r->exe : "");
    raise_alert(fs, r, GUARD_BURST_REASON, "guard-burst", detail, now);
}

/* A refusal: recorded on its own within the user's bound, else counted for
 * a summary. -1: not recorded on its own (counted). */
static int append_refusal(struct kurafs *fs, const struct kura_audit_record *r)
{
    int64_t now = kurafs_now_ms();
    bool alert;
    uid_t uid = (uid_t)r->uid;
    if (!kura_audit_flood_admit(fs->flood, uid, r->dataset, now, &alert)) {
        if (alert)
            raise_flood_alert(fs, r, now);
        return 0;
    }
    if (append(fs, r) == 0)
        return 0;
    kura_audit_flood_count(fs->flood, uid, r->dataset, now);
    return -1;
}

static int write_summary(const struct kura_audit_flood_summary *s, void *ctx)
{
    struct kurafs *fs = ctx;
    struct caller c = {.uid = s->uid};
    caller_name(fs, &c);
    char first[48] = "?", last[48] = "?", detail[160];
    kura_time_format(s->first_ms / 1000, fs->cfg->zone, first, sizeof first);
    kura_time_format(s->last_ms / 1000, fs->cfg->zone, last, sizeof last);
    snprintf(detail, sizeof detail, "refusals from %s to %s not recorded one by one", first, last);
    struct kura_audit_record r;
    deny_record(&r, KURA_AUDIT_REFUSALS, "flood");
    r.dataset = s->dataset;
    r.uid = s->uid;
    r.user = c.user[0] ? c.user : NULL;
    r.count = (int64_t)s->count;
    r.detail = detail;
    return append(fs, &r);
}

/* The guard-burst counter's counts are not records (see count_guard_refusal). */
static int forget_counts(const struct kura_audit_flood_summary *s, void *ctx)
{
    (void)s;
    (void)ctx;
    return 0;
}

void kurafs_refusals_flush(struct kurafs *fs, bool all)
{
    int64_t now = kurafs_now_ms();
    kura_audit_flood_drain(fs->flood, now, all, write_summary, fs);
    kura_audit_flood_drain(fs->guard_burst, now, all, forget_counts, NULL);
}

/* An alert of today (bulk read) or of the last hour (guard burst) found in
 * the log: the counters are told, so a restart raises it no second time. */
static int recall_alert(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                        void *ctx)
{
    (void)file;
    (void)line;
    (void)problem;
    struct kurafs *fs = ctx;
    const struct kura_audit_record *r = e ? &e->rec : NULL;
    if (!r || r->event != KURA_AUDIT_ALERT || !r->reason || r->uid == KURA_AUDIT_ABSENT)
        return 0;
    int64_t now = kurafs_now_ms();
    if (strcmp(r->reason, BULK_READ_REASON) == 0 && r->dataset &&
        kurafs_day(fs->cfg->zone, r->time_ms / 1000) == kurafs_day(fs->cfg->zone, now / 1000))
        kura_audit_bulk_alerted(fs->bulk, (uid_t)r->uid, r->dataset, kurafs_day(fs->cfg->zone, now / 1000));
    else if (strcmp(r->reason, GUARD_BURST_REASON) == 0 && now - r->time_ms < WINDOW_MS && r->time_ms <= now)
        kura_audit_flood_alerted(fs->guard_burst, (uid_t)r->uid, NULL, r->time_ms);
    return 0;
}

void kurafs_alerts_recall(struct kurafs *fs)
{
    struct kura_err err = {0};
    if (kura_audit_read_tail(fs->cfg->audit_log, RECALL_TAIL, recall_alert, fs, &err) != 0)
        kura_notice(LOG_WARNING, "kurafs: the alerts already raised cannot be read back (%s); one may be raised twice",
                    err.msg);
}

void kurafs_refusals_stop(struct kurafs *fs)
{
    kura_audit_flood_free(fs->flood);
    kura_audit_flood_free(fs->guard_burst);
    fs->flood = fs->guard_burst = NULL;
}

int kurafs_audit(struct kurafs *fs, const struct kura_audit_record *r)
{
    if (!kura_audit_is_refusal(r))
        return append(fs, r);
    /* Every refusal counts, whether recorded alone or in a summary. */
    kurafs_metrics_refusal(&fs->metrics, r->reason);
    int rc = fs->flood ? append_refusal(fs, r) : append(fs, r);
    count_guard_refusal(fs, r);
    return rc;
}

/* ---- the records of the request paths ---- */

/* The caller's fields of a record. */
static void caller_fill_record(const struct caller *c, struct kura_audit_record *r)
{
    r->uid = c->uid;
    r->pid = c->pid;
    if (c->user[0])
        r->user = c->user;
    const struct kura_procinfo *p = c->proc;
    if (!p || p->n == 0)
        return;
    if (p->loginuid_set)
        r->loginuid = p->loginuid;
    if (p->chain[0].have & KURA_PROC_HAVE_EXE)
        r->exe = p->chain[0].exe;
    if (p->chain[0].have & KURA_PROC_HAVE_CMDLINE)
        r->cmdline = p->chain[0].cmdline;
    if (p->chain[0].have & KURA_PROC_HAVE_STAT)
        r->ppid = p->chain[0].ppid;
    if (p->ssh_client[0])
        r->ssh_client = p->ssh_client;
}

/* A record about file, by caller c. */
static void file_record(struct kura_audit_record *r, enum kura_audit_event event, const struct caller *c,
                        const struct audit_file *file)
{
    kura_audit_record_init(r);
    r->event = event;
    r->dataset = file->dataset;
    r->path = file->path;
    r->samples = file->samples;
    caller_fill_record(c, r);
}

int audit_open(struct kurafs *fs, const struct caller *c, const struct audit_file *file,
               enum kura_audit_decision decision, const char *reason, const char *detail)
{
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_OPEN, c, file);
    r.decision = decision;
    r.reason = reason;
    r.detail = detail;
    return kurafs_audit(fs, &r);
}

static bool repeated_lookup(struct kurafs *fs, pid_t pid, const char *path)
{
    int64_t now_ms = kura_clock_ms(CLOCK_MONOTONIC);
    struct kurafs_last_refusal *last = &fs->last_lookup_refusal;
    size_t len = strlen(path);
    pthread_mutex_lock(&last->lock);
    bool repeated = last->pid == pid && strcmp(last->path, path) == 0 && now_ms - last->at_ms < LOOKUP_REPEAT_MS;
    last->pid = pid;
    /* A longer path is never taken for a repeat: it is recorded each time. */
    if (len < sizeof last->path)
        memcpy(last->path, path, len + 1);
    else
        last->path[0] = '\0';
    last->at_ms = now_ms;
    pthread_mutex_unlock(&last->lock);
    return repeated;
}

void audit_lookup_refused(struct kurafs *fs, struct caller *c, const char *path, const char *dataset,
                          const char *reason)
{
    if (repeated_lookup(fs, c->pid, path))
        return;
    caller_name(fs, c);
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_OPEN, c, &(struct audit_file){.dataset = dataset, .path = path});
    r.decision = KURA_AUDIT_DENY;
    r.reason = reason;
    r.detail = "lookup";
    kurafs_audit(fs, &r);
}

void audit_write_refused(struct kurafs *fs, const struct caller *c, const char *dataset, const char *path,
                         const char *op)
{
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_WRITE_DENIED, c, &(struct audit_file){.dataset = dataset, .path = path});
    r.decision = KURA_AUDIT_DENY;
    r.reason = "read-only";
    r.detail = op;
    kurafs_audit(fs, &r);
}

/* What access ending stopped: a handle (with its bytes) or a process (-1). */
static void revocation(struct kurafs *fs, const struct caller *c, const struct audit_file *file, int64_t bytes,
                       const char *reason, const char *detail)
{
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_REVOCATION, c, file);
    r.decision = KURA_AUDIT_DENY;
    r.reason = reason;
    r.detail = detail;
    if (bytes >= 0)
        r.bytes = bytes;
    kurafs_audit(fs, &r);
}

void audit_handle_revoked(struct kurafs *fs, const struct caller *c, const struct audit_file *file, int64_t bytes,
                          const char *reason)
{
    revocation(fs, c, file, bytes, reason, "open handle stopped");
}

void audit_holder_ended(struct kurafs *fs, const struct caller *c, const struct audit_file *file,
                        const char *reason, int err)
{
    char detail[160];
    if (err)
        snprintf(detail, sizeof detail, "process NOT ended (%s): it holds the file open or mapped after access ended",
                 strerror(err));
    revocation(fs, c, file, -1, reason,
               err ? detail : "process ended: it held the file open or mapped after access ended");
}

void audit_close(struct kurafs *fs, const struct caller *c, const struct audit_file *file, int64_t bytes,
                 int64_t duration_ms)
{
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_CLOSE, c, file);
    r.bytes = bytes;
    r.duration_ms = duration_ms;
    kurafs_audit(fs, &r);
}

int audit_bulk_read(struct kurafs *fs, const struct caller *c, const char *dataset, uint64_t total)
{
    char detail[128];
    snprintf(detail, sizeof detail, "%llu bytes read today, %u x the dataset size or more",
             (unsigned long long)total, fs->cfg->bulk_read_multiple);
    struct kura_audit_record r;
    file_record(&r, KURA_AUDIT_ALERT, c, &(struct audit_file){.dataset = dataset});
    r.reason = BULK_READ_REASON;
    r.detail = detail;
    r.bytes = (int64_t)total;
    if (kurafs_audit(fs, &r) != 0)
        return -1;
    notify_alert(fs, "bulk-read", &r, kurafs_now_ms());
    return 0;
}

/* ---- the records of the daemon itself ---- */

void audit_daemon(struct kurafs *fs, enum kura_audit_event event, const char *detail)
{
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = event;
    r.detail = detail;
    r.user = "root";
    r.uid = (int64_t)getuid();
    r.pid = (int64_t)getpid();
    kurafs_audit(fs, &r);
}

void audit_state_refused(struct kurafs *fs, const char *why)
{
    struct kura_audit_record r;
    deny_record(&r, KURA_AUDIT_POLICY_CHANGE, "state refused");
    r.detail = why;
    r.user = "root";
    r.uid = 0;
    kurafs_audit(fs, &r);
}

void audit_lease(struct kurafs *fs, bool ended, const char *detail)
{
    struct kura_audit_record r;
    if (ended) {
        deny_record(&r, KURA_AUDIT_REVOCATION, kura_reason_name(KURA_DENY_NO_LEASE));
    } else {
        kura_audit_record_init(&r);
        r.event = KURA_AUDIT_POLICY_CHANGE;
        r.decision = KURA_AUDIT_ALLOW;
        r.reason = "lease renewed";
    }
    r.detail = detail;
    r.user = "root";
    r.uid = 0;
    kurafs_audit(fs, &r);
}

void audit_expiry(struct kurafs *fs, const struct kura_dataset *ds, const char *user, uid_t uid, const char *detail)
{
    struct kura_audit_record r;
    deny_record(&r, KURA_AUDIT_REVOCATION, "expired");
    r.dataset = ds->id;
    r.user = user;
    r.uid = user ? (int64_t)uid : KURA_AUDIT_ABSENT;
    r.detail = detail;
    kurafs_audit(fs, &r);
}
