/* Restriction first (issue 19, docs/cluster.md "Restriction first"): a
 * change in cluster mode tells the nodes what it is about to forbid before
 * its durable steps, so that their refusal does not wait for the
 * database's disk. A restriction only ever refuses more; it is lifted once
 * the change is over (its sender no longer holds the cluster lock, nothing
 * is pending, and the node has applied the latest epoch).
 *
 * Pure: no database, no files. The payload travels as a NOTIFY payload on
 * KURA_RESTRICT_CHANNEL; a node ignores anything it cannot parse. */
#ifndef KURA_RESTRICT_H
#define KURA_RESTRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/model.h"

#define KURA_RESTRICT_CHANNEL "kura_restrict"
/* Bytes of a payload with its NUL; NOTIFY payloads must stay below 8000. */
#define KURA_RESTRICT_PAYLOAD_MAX 256
/* Restrictions a node holds at once; one more makes it refuse everything
 * until the changes are over (never one silently dropped). */
#define KURA_RESTRICT_HELD_MAX 16

enum kura_restrict_kind {
    KURA_RESTRICT_USER,         /* a user in a dataset (user remove) */
    KURA_RESTRICT_SAMPLE,       /* a sample's files in a dataset (withdraw) */
    KURA_RESTRICT_DATASET,      /* a whole dataset (suspend, destroy) */
    KURA_RESTRICT_ALL,          /* everything (lockdown) */
};

struct kura_restriction {
    enum kura_restrict_kind kind;
    int64_t sender_pid;         /* the sending kuractl's backend, as PostgreSQL reports it */
    int64_t epoch;              /* the latest done epoch when it was sent */
    char dataset[KURA_ID_MAX + 1];  /* USER, SAMPLE, DATASET */
    uid_t uid;                  /* USER: the uid its grant lists */
    char user[KURA_USER_MAX + 1];   /* USER: the name its grant lists (for logs) */
    char sample[KURA_ID_MAX + 1];   /* SAMPLE */
};

/* What a payload says: a restriction, or that its sender's change is over
 * (lift: only sender_pid is meaningful). */
struct kura_restrict_notice {
    bool lift;
    struct kura_restriction r;
};

/* The payload of n in buf (len bytes); its length, or -1 when a field is
 * not valid (an id, a user name) or it does not fit. */
int kura_restrict_format(const struct kura_restrict_notice *n, char *buf, size_t len);
/* Parses a payload strictly: 0, or -1 for anything malformed or unknown
 * (n is then zeroed). */
int kura_restrict_parse(const char *payload, struct kura_restrict_notice *n);

/* Whether a request (dataset id, the caller's uid, f NULL for the dataset
 * itself) falls under r. */
bool kura_restrict_matches(const struct kura_restriction *r, const char *dataset, uid_t uid,
                           const struct kura_file *f);

/* The restrictions a node holds. overflow: one did not fit; everything is
 * refused until no change holds the lock. */
struct kura_restrict_table {
    struct kura_restriction v[KURA_RESTRICT_HELD_MAX];
    size_t n;
    bool overflow;
};

/* Holds r: true, or false when the table is full (overflow set). */
bool kura_restrict_hold(struct kura_restrict_table *t, const struct kura_restriction *r);
bool kura_restrict_any(const struct kura_restrict_table *t, const char *dataset, uid_t uid,
                       const struct kura_file *f);
/* Lifts every restriction whose change is over: its sender does not hold
 * the cluster lock (holder_pid: the backend that does, 0 for none),
 * nothing is pending and applied (the node's) is at least latest (the
 * latest done epoch). The overflow goes once no one holds the lock under
 * the same conditions. Returns how many were lifted (the overflow counts
 * one). */
size_t kura_restrict_lift(struct kura_restrict_table *t, int64_t holder_pid, int64_t pending, int64_t latest,
                          int64_t applied);

/* "user kt_bob (uid 1001) in JGAD000001", "sample S2 in JGAD000001", ... */
void kura_restrict_describe(const struct kura_restriction *r, char *buf, size_t len);

#endif
