/* Refusals under a flood (issue 14): one process must not fill the audit
 * log. Each user's refusals are recorded one by one up to
 * [audit] refusals_per_hour per dataset, then counted into a "refusals"
 * summary a minute; the first one counted raises a refusal-flood alert.
 * A refusal whose own record cannot be written (the reserve, a full disk)
 * is counted too, so every refusal is in the log, one way or the other. */
#include <stdio.h>
#include <syslog.h>

#include "kura/notify.h"
#include "kura/when.h"
#include "kurafs.h"

#define WINDOW_MS (3600 * 1000)
#define SUMMARY_MS (60 * 1000)

int kurafs_refusals_start(struct kurafs *fs)
{
    fs->flood = kura_audit_flood_new(fs->cfg->refusals_per_hour, WINDOW_MS, SUMMARY_MS);
    return fs->flood ? 0 : -1;
}

static void raise_alert(struct kurafs *fs, const struct kura_audit_record *refusal, int64_t now)
{
    char detail[200];
    snprintf(detail, sizeof detail,
             "more than %u refusals in an hour%s%s; the rest are counted in \"refusals\" summary records",
             fs->cfg->refusals_per_hour, refusal->dataset ? " on dataset " : "",
             refusal->dataset ? refusal->dataset : "");
    struct kura_audit_record a = *refusal; /* who, with which process */
    a.event = KURA_AUDIT_ALERT;
    a.decision = KURA_AUDIT_NO_DECISION;
    a.reason = "refusal flood";
    a.samples = NULL;
    a.detail = detail;
    kurafs_audit(fs, &a);
    struct kura_notice n = {.event = "refusal-flood", .dataset = refusal->dataset, .users = refusal->user,
                            .time = now / 1000, .message = detail};
    struct kura_err err;
    if (kura_notify(fs->cfg, &n, 0, &err) != 0)
        kura_notice(LOG_ERR, "kurafs: notification refusal-flood not sent: %s", err.msg);
}

int kurafs_audit_refusal(struct kurafs *fs, const struct kura_audit_record *r)
{
    int64_t now = kurafs_now_ms();
    bool alert;
    uid_t uid = (uid_t)r->uid;
    if (!kura_audit_flood_admit(fs->flood, uid, r->dataset, now, &alert)) {
        if (alert)
            raise_alert(fs, r, now);
        return 0;
    }
    if (kurafs_audit_append(fs, r) == 0)
        return 0;
    kura_audit_flood_count(fs->flood, uid, r->dataset, now);
    return -1;
}

static int write_summary(const struct kura_audit_flood_summary *s, void *ctx)
{
    struct kurafs *fs = ctx;
    struct caller c = {.uid = s->uid};
    caller_name(&c);
    char first[48] = "?", last[48] = "?", detail[160];
    kura_time_format(s->first_ms / 1000, fs->cfg->zone, first, sizeof first);
    kura_time_format(s->last_ms / 1000, fs->cfg->zone, last, sizeof last);
    snprintf(detail, sizeof detail, "refusals from %s to %s not recorded one by one", first, last);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_REFUSALS;
    r.decision = KURA_AUDIT_DENY;
    r.reason = "flood";
    r.dataset = s->dataset;
    r.uid = s->uid;
    r.user = c.user[0] ? c.user : NULL;
    r.count = (int64_t)s->count;
    r.detail = detail;
    return kurafs_audit_append(fs, &r);
}

void kurafs_refusals_flush(struct kurafs *fs, bool all)
{
    kura_audit_flood_drain(fs->flood, kurafs_now_ms(), all, write_summary, fs);
}

void kurafs_refusals_stop(struct kurafs *fs)
{
    kura_audit_flood_free(fs->flood);
    fs->flood = NULL;
}
