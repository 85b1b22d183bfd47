/* An open file: its decrypting reader and what each read re-checks. The
 * request side (fs_ops.c) calls down into this module, which asks decide.h
 * and records through audit.h; nothing here calls back up. */
#ifndef KURAFS_HANDLE_H
#define KURAFS_HANDLE_H
#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "kura/c4gh.h"
#include "kurafs.h"

#define HANDLE_READERS 8         /* programs remembered per handle; more are judged again */

struct handle {
    struct handle *prev, *next;  /* in the table of open handles */
    /* Reads share it (the reader serves readahead requests in parallel);
     * freeing the reader takes it alone, waiting for reads in flight. */
    pthread_rwlock_t lock;
    struct c4gh_reader *reader;  /* NULL once revoked: keys and buffers freed */
    int payload_fd;
    char *path;                  /* mount path: re-looked-up when the state changes */
    char dataset[KURA_ID_MAX + 1];
    char file_id[KURA_FILE_ID_LEN + 1];
    char *samples;               /* for the close record */
    uint64_t dataset_size;       /* for the bulk-read alert */
    const struct kura_zone *zone; /* the server's, for the alert's day; NULL: UTC */
    struct caller who;           /* uid, user, pid at open (no /proc facts kept) */
    bool process_allowed;        /* the guard's verdict at open */
    /* The programs judged for reading through it, by executable and uid:
     * the opener's first; any other is judged, and recorded, at its first
     * read (a shell's `dd < FILE` opens as the shell and reads as dd). */
    pthread_mutex_t readers_lock;
    struct handle_reader {
        dev_t dev;
        ino_t ino;
        uid_t uid;
        pid_t pid;               /* a program run through the dynamic loader: only this process */
        bool allowed;
        /* Another user's verdict holds while the state's epoch is this one
         * and the clock is before valid_until, as the opener's does: a
         * descriptor passed to a user later removed stops with the user. */
        uint_fast64_t epoch;
        int64_t valid_until;
    } readers[HANDLE_READERS];
    unsigned nreaders, next_reader;
    /* The decision holds while the epoch is unchanged and now < valid_until. */
    atomic_uint_fast64_t epoch;
    atomic_int_fast64_t valid_until;
    atomic_bool revoked;
    atomic_bool unrecorded;      /* a record of this handle could not be written: it stops */
    atomic_uint_fast64_t bytes;
    int64_t opened_ms;
};

/* Decides (decide.c), logs the open (durably: a record that cannot be written refuses
 * the open, EIO) and on allow returns a handle. epoch is fs->epoch as read
 * before cat was acquired: a reload in between makes the handle's first
 * read decide again. kept_generation is the key cache's generation
 * (kura_keycache_generation) as read before that too: the file's keys are
 * kept only if no wipe came since. A user already holding [server]
 * max_open_per_user handles is refused with EMFILE, logged as "too many
 * open files". Returns 0 or -errno. */
int handle_open(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                const struct caller *c, uint_fast64_t epoch, uint64_t kept_generation, struct handle **out);
/* Re-checks the decision if the state or the time moved: 0 while access
 * holds, -EACCES once it has ended (logged once per handle). */
int handle_check(struct kurafs *fs, struct handle *h);
/* Re-checks the decision if the state or the time moved, and judges the
 * reader (uid, gid, pid of the request) if its program or user is not the
 * opener's nor one judged before, then reads. Returns bytes (0 at end) or
 * -errno: EACCES once access has ended or for a reader refused, EIO while
 * the audit log cannot be written and for good once this handle's
 * bulk-read alert could not be. */
ssize_t handle_read(struct kurafs *fs, struct handle *h, const struct caller *reader, char *buf, size_t size,
                    uint64_t off);
/* Logs the close (bytes read, duration) and wipes the handle. */
void handle_close(struct kurafs *fs, struct handle *h);
/* Access may have ended: decides every open handle again now; each one
 * refused is logged and frees its keys, buffers and descriptor at once,
 * not at its next read or close. */
void handle_end_revoked(struct kurafs *fs);
/* Whether uid holds an open handle; with uid -1, whether anyone does. */
bool handle_held(struct kurafs *fs, uid_t uid);
/* Once the FUSE loop has ended: frees the table and every handle still
 * open (a mapping can outlive the loop; no release comes for it), keys
 * and buffers wiped. */
void handle_table_free(struct kurafs *fs);

#endif
