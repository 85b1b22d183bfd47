/* Every record the daemon writes, built here and nowhere else: the
 * request-side modules say what happened, this module says how it is
 * recorded. Appends are durable; a record that cannot be written makes
 * the caller refuse (fail closed, R-LOG-1). Refusals pass the flood limit
 * (issue 14) and are counted for the metrics. */
#ifndef KURAFS_AUDIT_H
#define KURAFS_AUDIT_H
#include "kura/audit.h"
#include "kurafs.h"

/* The file a record is about: dataset, path below it, its samples. */
struct audit_file {
    const char *dataset, *path, *samples;
};

/* Appends r. 0, or -1: not written, the caller must refuse. A refusal
 * (kura_audit_is_refusal) is recorded on its own within the user's bound,
 * else counted for a summary (-1 then too: not recorded on its own). */
int kurafs_audit(struct kurafs *fs, const struct kura_audit_record *r);

/* ---- the records of the request paths ---- */
/* An open decided: allowed (reason NULL) or refused for reason; detail may
 * be NULL. */
int audit_open(struct kurafs *fs, const struct caller *c, const struct audit_file *file,
               enum kura_audit_decision decision, const char *reason, const char *detail);
/* A refused lookup is an access attempt, logged like a refused open;
 * dataset NULL for a path that names no dataset. The kernel asks twice
 * for one refused path walk: the same pid and path again within 200 ms
 * is the same attempt and gets no second record. */
void audit_lookup_refused(struct kurafs *fs, struct caller *c, const char *path, const char *dataset,
                          const char *reason);
/* A write-class operation refused (R-CPY-3); dataset NULL when path names
 * none (path is then the whole path). */
void audit_write_refused(struct kurafs *fs, const struct caller *c, const char *dataset, const char *path,
                         const char *op);
/* An open handle stopped because access ended, after bytes were read. */
void audit_handle_revoked(struct kurafs *fs, const struct caller *c, const struct audit_file *file, int64_t bytes,
                          const char *reason);
/* A process killed because it held open or mapped a file its user may no
 * longer read ([revocation] end_processes); reason: the policy's; err: the
 * errno the kill failed with (the record says so), or 0. */
void audit_holder_ended(struct kurafs *fs, const struct caller *c, const struct audit_file *file,
                        const char *reason, int err);
/* A handle closed: bytes read and how long it was open. */
void audit_close(struct kurafs *fs, const struct caller *c, const struct audit_file *file, int64_t bytes,
                 int64_t duration_ms);
/* A user read total bytes of dataset today, the bulk-read multiple of its
 * size or more. -1: not written, the bytes must not be served. */
int audit_bulk_read(struct kurafs *fs, const struct caller *c, const char *dataset, uint64_t total);

/* ---- the records of the daemon itself ---- */
/* Start and stop of the daemon (detail: the mount point). */
void audit_daemon(struct kurafs *fs, enum kura_audit_event event, const char *detail);
/* A state that could not be loaded; the last good one keeps serving. */
void audit_state_refused(struct kurafs *fs, const char *why);
/* A cluster node stops serving (ended: its lease ended, detail says why)
 * or serves again (lease renewed and caught up). */
void audit_lease(struct kurafs *fs, bool ended, const char *detail);
/* A dataset's period (user NULL) or a user's grant ended. */
void audit_expiry(struct kurafs *fs, const struct kura_dataset *ds, const char *user, uid_t uid, const char *detail);

/* ---- refusal floods ---- */
int kurafs_refusals_start(struct kurafs *fs);
/* Writes the summaries that are due (all of them with all set). */
void kurafs_refusals_flush(struct kurafs *fs, bool all);
void kurafs_refusals_stop(struct kurafs *fs);
/* At start, after kurafs_refusals_start: the bulk-read alerts of today and
 * the guard-burst alerts of the last hour already in the log (its last
 * 32 MiB) are not raised again. */
void kurafs_alerts_recall(struct kurafs *fs);

#endif
