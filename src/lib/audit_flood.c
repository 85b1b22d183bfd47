/* Refusal floods (issue 14): per uid, the first refusals of each window are
 * recorded one by one and the rest counted per (uid, dataset) for
 * summaries, so one process cannot fill the log, yet every refusal is
 * counted in it. The bound is kept in the uid's entry without a dataset
 * (audit.h says why). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit_priv.h"

#define BUCKETS 256

struct flood_entry {
    struct flood_entry *next;
    uid_t uid;
    int64_t window_start;
    unsigned recorded;          /* in this window */
    uint64_t counted_in_window; /* counted (not recorded) in this window */
    uint64_t pending;           /* counted, not yet in a summary */
    int64_t first_ms, last_ms;  /* of the pending ones */
    bool flooding;              /* an alert was raised for this flood */
    char dataset[];             /* "" for none */
};

struct kura_audit_flood {
    pthread_mutex_t mu;
    unsigned burst;
    int64_t window_ms, summary_ms;
    struct flood_entry *buckets[BUCKETS];
};

struct kura_audit_flood *kura_audit_flood_new(unsigned burst, int64_t window_ms, int64_t summary_ms)
{
    if (window_ms <= 0 || summary_ms <= 0)
        return NULL;
    struct kura_audit_flood *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->burst = burst;
    f->window_ms = window_ms;
    f->summary_ms = summary_ms;
    return f;
}

void kura_audit_flood_free(struct kura_audit_flood *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct flood_entry *e = f->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    pthread_mutex_destroy(&f->mu);
    free(f);
}

/* The key's entry, made if missing (NULL only when out of memory). */
static struct flood_entry *find(struct kura_audit_flood *f, uid_t uid, const char *dataset)
{
    struct flood_entry **head = &f->buckets[audit_uid_dataset_hash(uid, dataset) % BUCKETS], *e = *head;
    while (e && (e->uid != uid || strcmp(e->dataset, dataset) != 0))
        e = e->next;
    if (!e) {
        size_t n = strlen(dataset) + 1;
        if (!(e = calloc(1, sizeof *e + n)))
            return NULL;
        e->next = *head;
        e->uid = uid;
        e->window_start = INT64_MIN;
        memcpy(e->dataset, dataset, n);
        *head = e;
    }
    return e;
}

/* Starts a new window when the last one is over; a flood ends with a window
 * that counted nothing. The clock going back starts one too. */
static void roll(const struct kura_audit_flood *f, struct flood_entry *e, int64_t now)
{
    if (e->window_start != INT64_MIN && now - e->window_start < f->window_ms && now >= e->window_start)
        return;
    if (e->counted_in_window == 0)
        e->flooding = false;
    e->window_start = now;
    e->recorded = 0;
    e->counted_in_window = 0;
}

/* The key's entry, its window moved on to now. */
static struct flood_entry *entry(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t now)
{
    struct flood_entry *e = find(f, uid, dataset);
    if (e)
        roll(f, e, now);
    return e;
}

static bool uid_flooding(const struct kura_audit_flood *f, uid_t uid)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (const struct flood_entry *e = f->buckets[i]; e; e = e->next)
            if (e->uid == uid && e->flooding)
                return true;
    return false;
}

static void count(struct flood_entry *e, int64_t now)
{
    if (e->pending == 0)
        e->first_ms = now;
    e->pending++;
    e->counted_in_window++;
    e->last_ms = now;
}

bool kura_audit_flood_admit(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t now_ms,
                            bool *alert)
{
    *alert = false;
    if (!f)
        return true;
    pthread_mutex_lock(&f->mu);
    struct flood_entry *bound = entry(f, uid, "", now_ms);
    /* Counted under its dataset once the uid's bound is spent. Out of
     * memory: the refusal is recorded on its own, never lost. */
    struct flood_entry *e = bound && bound->recorded >= f->burst ? entry(f, uid, dataset ? dataset : "", now_ms) : NULL;
    bool record = !e;
    if (record && bound)
        bound->recorded++;
    if (e) {
        if (!e->flooding) {
            *alert = !uid_flooding(f, uid);
            e->flooding = true;
        }
        count(e, now_ms);
    }
    pthread_mutex_unlock(&f->mu);
    return record;
}

void kura_audit_flood_alerted(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t at_ms)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    /* As the refusal that raised it left them: the uid's bound spent, its
     * dataset's window with one counted. */
    struct flood_entry *bound = find(f, uid, ""), *e = find(f, uid, dataset ? dataset : "");
    if (bound) {
        bound->window_start = at_ms;
        bound->recorded = f->burst;
    }
    if (e) {
        e->window_start = at_ms;
        e->counted_in_window = 1;
        e->flooding = true;
    }
    pthread_mutex_unlock(&f->mu);
}

void kura_audit_flood_count(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t now_ms)
{
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    struct flood_entry *e = entry(f, uid, dataset ? dataset : "", now_ms);
    if (e)
        count(e, now_ms);
    pthread_mutex_unlock(&f->mu);
}

/* Takes the first due entry's counts (forgetting quiet entries on the way);
 * false when there is none. */
static bool take_due(struct kura_audit_flood *f, int64_t now, bool all, char *dataset, size_t size,
                     struct kura_audit_flood_summary *s)
{
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct flood_entry **link = &f->buckets[i], *e; (e = *link);) {
            roll(f, e, now);
            if (e->pending == 0 && !e->flooding && e->recorded == 0) {
                *link = e->next;
                free(e);
                continue;
            }
            if (e->pending > 0 && (all || now - e->first_ms >= f->summary_ms) && strlen(e->dataset) < size) {
                strcpy(dataset, e->dataset);
                *s = (struct kura_audit_flood_summary){.uid = e->uid, .dataset = *dataset ? dataset : NULL,
                                                       .count = e->pending, .first_ms = e->first_ms,
                                                       .last_ms = e->last_ms};
                e->pending = 0;
                return true;
            }
            link = &e->next;
        }
    return false;
}

size_t kura_audit_flood_drain(struct kura_audit_flood *f, int64_t now_ms, bool all, kura_audit_flood_fn fn,
                              void *ctx)
{
    if (!f)
        return 0;
    size_t written = 0;
    for (;;) {
        struct kura_audit_flood_summary s;
        char dataset[KURA_AUDIT_TEXT_MAX + 1];
        pthread_mutex_lock(&f->mu);
        bool have = take_due(f, now_ms, all, dataset, sizeof dataset, &s);
        pthread_mutex_unlock(&f->mu);
        if (!have)
            return written;
        if (fn(&s, ctx) == 0) {
            written++;
            continue;
        }
        /* Not written: the count goes back, and the log is tried again at
         * the next call rather than summary after summary now. */
        pthread_mutex_lock(&f->mu);
        struct flood_entry *e = find(f, s.uid, dataset);
        if (e) {
            if (e->pending == 0 || s.first_ms < e->first_ms)
                e->first_ms = s.first_ms;
            if (s.last_ms > e->last_ms)
                e->last_ms = s.last_ms;
            e->pending += s.count;
        }
        pthread_mutex_unlock(&f->mu);
        return written;
    }
}
