/* State files on disk: atomic replacement, directories, locks, bounded
 * reads, secure destruction.
 * State changes only by write-temp, fsync, rename, fsync-directory (a crash
 * leaves the old or the new content, never a torn one), under a lock. */
#ifndef KURA_FSUTIL_H
#define KURA_FSUTIL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "kura/error.h"

/* Atomic replacement in steps, for content written piece by piece:
 * begin creates a temporary file next to path (O_EXCL, O_CLOEXEC, exactly
 * `mode`), write appends to it, commit fsyncs it, renames it over path and
 * fsyncs the directory; abort (or any failed step) removes the temporary.
 * A crash before commit leaves path untouched and a stale ".NAME.tmp-*"
 * file, which nothing reads. */
struct kura_atomic {
    int fd;
    char *path;
    char *tmp;
};
int kura_atomic_begin(struct kura_atomic *a, const char *path, mode_t mode, struct kura_err *err);
int kura_atomic_write(struct kura_atomic *a, const void *data, size_t len, struct kura_err *err);
int kura_atomic_commit(struct kura_atomic *a, struct kura_err *err);
/* The same, but refuses to replace an existing path (EEXIST): for outputs
 * that must never overwrite anything. */
int kura_atomic_commit_new(struct kura_atomic *a, struct kura_err *err);
void kura_atomic_abort(struct kura_atomic *a);

/* Whole-content replacement: begin, write, commit. */
int kura_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct kura_err *err);

/* Creates exclusively (O_EXCL: refuses to overwrite), fsyncs, fsyncs the
 * directory. For files that must not replace an existing one (a config, a
 * report in a user's directory). A failure removes the file from the
 * directory it was made in, held open from the start, whatever the path
 * names by then. */
int kura_write_file_new(const char *path, const void *data, size_t len, mode_t mode, struct kura_err *err);

/* mkdir -p: creates missing directories with exactly `mode` (umask not
 * applied) and fsyncs each parent; existing directories are left as they
 * are; a non-directory in the way is an error (ENOTDIR). */
int kura_mkdir_p(const char *path, mode_t mode, struct kura_err *err);

/* fsync of a directory, so a rename or unlink in it is durable. */
int kura_fsync_dir(const char *dir, struct kura_err *err);
/* fsync of the directory holding path. */
int kura_fsync_parent(const char *path, struct kura_err *err);
/* The directory part of path ("." for a bare name, "/" for one in the
 * root), malloc'd; NULL when out of memory. */
char *kura_dir_of(const char *path);
/* syncfs of the filesystem holding dir (it reports write-back errors since
 * Linux 5.8), then fsync of dir so new names in it are durable: one call
 * instead of an fsync per file written there. */
int kura_syncfs_dir(const char *dir, struct kura_err *err);

/* Exclusive lock: flock on lock_path (created 0600 if missing). timeout_ms
 * < 0 waits as long as it takes, 0 tries once, > 0 waits at most that long
 * (then EAGAIN). Returns the lock's fd (close-on-exec), released by
 * kura_unlock or by the process ending. */
int kura_lock(const char *lock_path, int timeout_ms, struct kura_err *err);
void kura_unlock(int fd);

/* Whole-buffer I/O that retries on EINTR and short transfers (pipes,
 * signals). read/pread return the bytes read: n, or fewer only at end of
 * file; -1 with errno on error. write returns 0, or -1 with errno (EIO if
 * the kernel accepts nothing). */
ssize_t kura_read_full(int fd, void *buf, size_t n);
ssize_t kura_pread_full(int fd, void *buf, size_t n, uint64_t off);
int kura_write_full(int fd, const void *buf, size_t n);

/* Opens path for reading (flags: more open flags, such as O_NOFOLLOW) if it
 * is a regular file, its status in *st (may be NULL). Anything else is
 * refused without being opened (looked at with O_PATH, the regular file
 * opened again through /proc/self/fd): a FIFO would wait for a writer, for
 * ever, and the mere open of a device can act (a watchdog, a tape). */
int kura_open_regular(const char *path, int flags, struct stat *st, struct kura_err *err);
/* The same for name relative to the directory dirfd (or AT_FDCWD); path
 * names the file in errors. */
int kura_open_regular_at(int dirfd, const char *name, const char *path, int flags, struct stat *st,
                         struct kura_err *err);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer
 * with a NUL after the content (which may itself hold NULs: use *len).
 * Larger files fail with EFBIG; len may be NULL. */
int kura_read_file(const char *path, size_t max, char **data, size_t *len, struct kura_err *err);
/* The same for a secret (a key, a passphrase): the buffer is locked memory
 * from kura_secure_alloc, never reallocated, so no copy of the content is
 * left in the ordinary heap; free it with kura_secure_free. */
int kura_read_secret_file(const char *path, size_t max, char **data, size_t *len, struct kura_err *err);

/* Destroys a regular file (docs/design.md "Keys and crypto-erasure"):
 * overwrite with zeros, fsync, overwrite with random bytes, fsync, unlink,
 * fsync the directory. Symlinks are refused (not followed). On flash or
 * copy-on-write storage an overwrite may not reach the old blocks; kura's
 * guarantee rests on what the destroyed file held (keys, headers), not on
 * the medium forgetting. */
int kura_destroy_file(const char *path, struct kura_err *err);

#endif
