/* An open file: its decrypting reader and what each read re-checks. */
#ifndef KURAFS_HANDLE_H
#define KURAFS_HANDLE_H
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "kura/c4gh.h"
#include "kurafs.h"

struct handle {
    pthread_mutex_t lock;        /* the reader serves one read at a time */
    struct c4gh_reader *reader;
    int payload_fd;
    char *path;                  /* mount path: re-looked-up when the state changes */
    char dataset[KURA_ID_MAX + 1];
    char file_id[KURA_FILE_ID_LEN + 1];
    char *samples;               /* for the close record */
    uint64_t dataset_size;       /* for the bulk-read alert */
    const struct kura_zone *zone; /* the server's, for the alert's day; NULL: UTC */
    struct caller who;           /* uid, user, pid at open (no /proc facts kept) */
    bool process_allowed;        /* the guard's verdict at open */
    /* The decision holds while the epoch is unchanged and now < valid_until. */
    atomic_uint_fast64_t epoch;
    atomic_int_fast64_t valid_until;
    atomic_bool revoked;
    atomic_uint_fast64_t bytes;
    int64_t opened_ms;
};

/* The full decision for opening node: policy with the guard's verdict on
 * the caller's process (c->proc must be collected). verdict may be NULL. */
struct kura_decision handle_decide(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                   const struct caller *c, int64_t now);
/* Decides, logs the open (durably: a record that cannot be written refuses
 * the open, EIO) and on allow returns a handle. epoch is fs->epoch as read
 * before cat was acquired: a reload in between makes the handle's first
 * read decide again. Returns 0 or -errno. */
int handle_open(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                const struct caller *c, uint_fast64_t epoch, struct handle **out);
/* Re-checks the decision if the state or the time moved: 0 while access
 * holds, -EACCES once it has ended (logged once per handle). */
int handle_check(struct kurafs *fs, struct handle *h);
/* Re-checks the decision if the state or the time moved, then reads.
 * Returns bytes (0 at end) or -errno: EACCES once access has ended. */
ssize_t handle_read(struct kurafs *fs, struct handle *h, char *buf, size_t size, uint64_t off);
/* Logs the close (bytes read, duration) and wipes the handle. */
void handle_close(struct kurafs *fs, struct handle *h);

#endif
