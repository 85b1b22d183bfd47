/* Bulk-read accounting for the copy-out alert (R-CPY-4, docs/requirements.md):
 * bytes per (uid, dataset, day), one alert when a day's total first reaches
 * a multiple of the dataset's size. Memory grows with the (user, dataset)
 * pairs seen, one small entry each; a new day reuses the entry. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit_priv.h"
#include "kura/hash.h"

#define BUCKETS 1024

struct bulk_entry {
    struct bulk_entry *next;
    uid_t uid;
    int64_t day;
    uint64_t total;
    bool alerted;
    char dataset[];
};

struct kura_audit_bulk {
    pthread_mutex_t mu;
    double multiple;
    struct bulk_entry *buckets[BUCKETS];
};

struct kura_audit_bulk *kura_audit_bulk_new(double multiple)
{
    if (!(multiple > 0))
        return NULL;
    struct kura_audit_bulk *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    b->multiple = multiple;
    return b;
}

void kura_audit_bulk_free(struct kura_audit_bulk *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct bulk_entry *e = b->buckets[i], *next; e; e = next) {
            next = e->next;
            free(e);
        }
    pthread_mutex_destroy(&b->mu);
    free(b);
}

uint64_t audit_uid_dataset_hash(uid_t uid, const char *dataset)
{
    return kura_hash(kura_hash(KURA_HASH_INIT, &uid, sizeof uid), dataset, strlen(dataset));
}

/* The key's entry moved on to day, made if missing (NULL only when out of
 * memory). Called with b->mu held. */
static struct bulk_entry *entry(struct kura_audit_bulk *b, uid_t uid, const char *dataset, int64_t day)
{
    struct bulk_entry **head = &b->buckets[audit_uid_dataset_hash(uid, dataset) % BUCKETS], *e = *head;
    while (e && (e->uid != uid || strcmp(e->dataset, dataset) != 0))
        e = e->next;
    if (!e) {
        size_t n = strlen(dataset) + 1;
        e = malloc(sizeof *e + n);
        if (e) {
            *e = (struct bulk_entry){.next = *head, .uid = uid, .day = day};
            memcpy(e->dataset, dataset, n);
            *head = e;
        }
    }
    if (e && e->day != day)
        e->day = day, e->total = 0, e->alerted = false;
    return e;
}

void kura_audit_bulk_alerted(struct kura_audit_bulk *b, uid_t uid, const char *dataset, int64_t day)
{
    if (!b || !dataset)
        return;
    pthread_mutex_lock(&b->mu);
    struct bulk_entry *e = entry(b, uid, dataset, day);
    if (e)
        e->alerted = true;
    pthread_mutex_unlock(&b->mu);
}

bool kura_audit_bulk_add(struct kura_audit_bulk *b, uid_t uid, const char *dataset, int64_t day, uint64_t bytes,
                         uint64_t dataset_size, uint64_t *day_total)
{
    if (!b || !dataset)
        return false;
    bool alert = false;
    uint64_t total = 0;
    pthread_mutex_lock(&b->mu);
    struct bulk_entry *e = entry(b, uid, dataset, day);
    if (e) {
        e->total = e->total > UINT64_MAX - bytes ? UINT64_MAX : e->total + bytes;
        total = e->total;
        if (!e->alerted && dataset_size > 0 && (double)e->total >= b->multiple * (double)dataset_size)
            alert = e->alerted = true;
    }
    pthread_mutex_unlock(&b->mu);
    if (day_total)
        *day_total = total;
    return alert;
}
