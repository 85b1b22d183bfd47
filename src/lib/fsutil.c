#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"

char *kura_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

ssize_t kura_read_full(int fd, void *buf, size_t n)
{
    if (n > SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(fd, (char *)buf + done, n - done);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

ssize_t kura_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    if (n > SSIZE_MAX || off > (uint64_t)INT64_MAX - n) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

int kura_write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t put = write(fd, (const char *)buf + done, n - done);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (put == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)put;
    }
    return 0;
}

int kura_fsync_dir(const char *dir, struct kura_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        kura_err_set(err, errno, "open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0) {
        kura_err_set(err, e, "fsync directory %s: %s", dir, strerror(e));
        return -1;
    }
    return 0;
}

int kura_syncfs_dir(const char *dir, struct kura_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        kura_err_set(err, errno, "open %s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = syncfs(fd) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (rc != 0)
        kura_err_set(err, errno, "sync %s: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

int kura_fsync_parent(const char *path, struct kura_err *err)
{
    char *dir = kura_dir_of(path);
    if (!dir) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    int rc = kura_fsync_dir(dir, err);
    free(dir);
    return rc;
}

int kura_atomic_begin(struct kura_atomic *a, const char *path, mode_t mode, struct kura_err *err)
{
    a->fd = -1;
    a->tmp = NULL;
    a->path = strdup(path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dirlen;
    if (!*base) {
        free(a->path);
        a->path = NULL;
        kura_err_set(err, EINVAL, "%s: not a file name", path);
        return -1;
    }
    /* DIR/.BASE.tmp-XXXXXX: same directory, so rename stays atomic. */
    size_t tlen = dirlen + 1 + strlen(base) + sizeof ".tmp-XXXXXX";
    a->tmp = malloc(tlen);
    if (!a->path || !a->tmp) {
        kura_atomic_abort(a);
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    snprintf(a->tmp, tlen, "%.*s.%s.tmp-XXXXXX", (int)dirlen, path, base);
    a->fd = mkostemp(a->tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (a->fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL;
        kura_atomic_abort(a);
        kura_err_set(err, e, "create temporary file for %s: %s", path, strerror(e));
        return -1;
    }
    if (fchmod(a->fd, mode) != 0) {
        int e = errno;
        kura_atomic_abort(a);
        kura_err_set(err, e, "chmod temporary file for %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

int kura_atomic_write(struct kura_atomic *a, const void *data, size_t len, struct kura_err *err)
{
    if (kura_write_full(a->fd, data, len) != 0) {
        int e = errno;
        kura_err_set(err, e, "write %s: %s", a->path, strerror(e));
        kura_atomic_abort(a);
        return -1;
    }
    return 0;
}

static int atomic_commit(struct kura_atomic *a, bool replace, struct kura_err *err);

int kura_atomic_commit(struct kura_atomic *a, struct kura_err *err)
{
    return atomic_commit(a, true, err);
}

int kura_atomic_commit_new(struct kura_atomic *a, struct kura_err *err)
{
    return atomic_commit(a, false, err);
}

static int atomic_commit(struct kura_atomic *a, bool replace, struct kura_err *err)
{
    const char *step = "fsync";
    if (fsync(a->fd) != 0)
        goto fail;
    step = "close";
    int fd = a->fd;
    a->fd = -1;
    if (close(fd) != 0)
        goto fail;
    step = "rename";
    if (replace ? rename(a->tmp, a->path) : renameat2(AT_FDCWD, a->tmp, AT_FDCWD, a->path, RENAME_NOREPLACE))
        goto fail;
    free(a->tmp);
    a->tmp = NULL;
    int rc = kura_fsync_parent(a->path, err);
    kura_atomic_abort(a); /* frees what is left */
    return rc;
fail:;
    int e = errno;
    kura_err_set(err, e, "%s %s: %s", step, a->path, strerror(e));
    kura_atomic_abort(a);
    return -1;
}

void kura_atomic_abort(struct kura_atomic *a)
{
    if (a->fd >= 0)
        close(a->fd);
    a->fd = -1;
    if (a->tmp)
        unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->tmp = NULL;
    a->path = NULL;
}

int kura_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct kura_err *err)
{
    struct kura_atomic a;
    if (kura_atomic_begin(&a, path, mode, err) != 0)
        return -1;
    if (kura_atomic_write(&a, data, len, err) != 0)
        return -1;
    return kura_atomic_commit(&a, err);
}

int kura_write_file_new(const char *path, const void *data, size_t len, mode_t mode, struct kura_err *err)
{
    /* Everything after the create is done through the directory it was
     * made in, held open: if the directory is renamed and a link put in its
     * place (it may be a user's), the removal after a failed write still
     * removes the half-written file, never a file behind the link. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char *dir = kura_dir_of(path);
    if (!dir) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    int dfd = *base ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    int e = *base ? errno : EISDIR;
    free(dir);
    int fd = dfd >= 0 ? openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode) : -1;
    if (fd < 0) {
        e = dfd >= 0 ? errno : e;
        if (dfd >= 0)
            close(dfd);
        kura_err_set(err, e, "create %s: %s", path, strerror(e));
        return -1;
    }
    const char *step = "chmod";
    if (fchmod(fd, mode) != 0)
        goto fail;
    step = "write";
    if (kura_write_full(fd, data, len) != 0)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int cfd = fd;
    fd = -1;
    if (close(cfd) != 0)
        goto fail;
    step = "fsync the directory of";
    if (fsync(dfd) != 0)
        goto fail;
    close(dfd);
    return 0;
fail:
    /* Do not leave a half-written file behind: it would block the retry. */
    e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, base, 0);
    close(dfd);
    kura_err_set(err, e, "%s %s: %s", step, path, strerror(e));
    return -1;
}

int kura_mkdir_p(const char *path, mode_t mode, struct kura_err *err)
{
    size_t len = strlen(path);
    if (len == 0 || len >= PATH_MAX) {
        kura_err_set(err, EINVAL, "mkdir: bad directory name (empty or too long)");
        return -1;
    }
    char buf[PATH_MAX];
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    /* Walk each prefix that ends before a '/', then the whole path. */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/')
            continue; /* "a//b" */
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (mkdir(buf, mode) == 0) {
            if (chmod(buf, mode) != 0 || kura_fsync_parent(buf, NULL) != 0) {
                int e = errno;
                kura_err_set(err, e, "mkdir %s: %s", buf, strerror(e));
                return -1;
            }
        } else if (errno != EEXIST) {
            int e = errno;
            kura_err_set(err, e, "mkdir %s: %s", buf, strerror(e));
            return -1;
        } else if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
            kura_err_set(err, ENOTDIR, "mkdir %s: exists and is not a directory", buf);
            return -1;
        }
        buf[i] = saved;
    }
    return 0;
}

int kura_lock(const char *lock_path, int timeout_ms, struct kura_err *err)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        kura_err_set(err, e, "open lock %s: %s", lock_path, strerror(e));
        return -1;
    }
    if (timeout_ms < 0) {
        while (flock(fd, LOCK_EX) != 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                kura_err_set(err, e, "lock %s: %s", lock_path, strerror(e));
                return -1;
            }
        }
        return fd;
    }
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;
            close(fd);
            kura_err_set(err, e, "lock %s: %s", lock_path, strerror(e));
            return -1;
        }
        if (kura_clock_ms(CLOCK_MONOTONIC) >= deadline)
            break;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    close(fd);
    kura_err_set(err, EAGAIN, "%s is held by another kura process (waited %d ms); try again", lock_path,
                 timeout_ms);
    return -1;
}

void kura_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* closing the only descriptor releases the flock */
}

/* Looked at (O_PATH) before it is opened: only a regular file is opened,
 * through the descriptor of what was looked at. A name another user
 * controls (a PI's directory imported by root) may be swapped for a link
 * to a device, whose mere open can act (a watchdog starts counting, a
 * tape rewinds), or to a FIFO, whose open waits for a writer. */
int kura_open_regular(const char *path, int flags, struct stat *st, struct kura_err *err)
{
    return kura_open_regular_at(AT_FDCWD, path, path, flags, st, err);
}

/* Without /proc (a bare chroot): opened with O_NONBLOCK, so that the open
 * of a FIFO returns at once, and refused unless it is a regular file. */
static int open_regular_no_proc(int dirfd, const char *name, const char *path, int flags, struct stat *st,
                                struct kura_err *err)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
    if (fd < 0) {
        int e = errno;
        kura_err_set(err, e, "open %s: %s", path, strerror(e));
        return -1;
    }
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || fcntl(fd, F_SETFL, O_RDONLY) != 0) {
        close(fd);
        kura_err_set(err, EINVAL, "%s is not a regular file", path);
        return -1;
    }
    return fd;
}

int kura_open_regular_at(int dirfd, const char *name, const char *path, int flags, struct stat *st,
                         struct kura_err *err)
{
    int pfd = openat(dirfd, name, O_PATH | O_CLOEXEC | (flags & O_NOFOLLOW));
    if (pfd < 0) {
        int e = errno;
        kura_err_set(err, e, "open %s: %s", path, strerror(e));
        return -1;
    }
    struct stat own;
    st = st ? st : &own;
    if (fstat(pfd, st) != 0) {
        int e = errno;
        close(pfd);
        kura_err_set(err, e, "stat %s: %s", path, strerror(e));
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(pfd);
        if (S_ISLNK(st->st_mode))
            kura_err_set(err, ELOOP, "open %s: %s", path, strerror(ELOOP));
        else
            kura_err_set(err, EINVAL, "%s is not a regular file", path);
        return -1;
    }
    /* The file looked at, opened again with the rights checked now. */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", pfd);
    int fd = open(self, O_RDONLY | O_CLOEXEC | O_NOCTTY | (flags & ~O_NOFOLLOW));
    int e = errno;
    close(pfd);
    if (fd < 0 && e == ENOENT && access("/proc/self/fd", F_OK) != 0)
        return open_regular_no_proc(dirfd, name, path, flags, st, err);
    if (fd < 0) {
        kura_err_set(err, e, "open %s: %s", path, strerror(e));
        return -1;
    }
    return fd;
}

/* Opens a regular file of at most max bytes for reading; its size in *size. */
static int open_bounded(const char *path, size_t max, size_t *size, struct kura_err *err)
{
    struct stat st;
    int fd = kura_open_regular(path, 0, &st, err);
    if (fd < 0)
        return -1;
    if ((uintmax_t)st.st_size > max) {
        close(fd);
        kura_err_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
        return -1;
    }
    *size = (size_t)st.st_size;
    return fd;
}

int kura_read_file(const char *path, size_t max, char **data, size_t *len, struct kura_err *err)
{
    *data = NULL;
    size_t size;
    int fd = open_bounded(path, max, &size, err);
    if (fd < 0)
        return -1;
    /* The size may change while reading: read up to max + 1 to notice. */
    size_t cap = size + 1, got = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf) {
            close(fd);
            kura_err_set(err, ENOMEM, "out of memory reading %s", path);
            return -1;
        }
        if (got == cap) {
            if (cap > max) {
                free(buf);
                close(fd);
                kura_err_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
                return -1;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc(buf, ncap + 1);
            if (!grown)
                free(buf);
            buf = grown;
            cap = ncap;
            continue;
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            kura_err_set(err, e, "read %s: %s", path, strerror(e));
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    if (len)
        *len = got;
    return 0;
}

int kura_read_secret_file(const char *path, size_t max, char **data, size_t *len, struct kura_err *err)
{
    *data = NULL;
    size_t size;
    int fd = open_bounded(path, max, &size, err);
    if (fd < 0)
        return -1;
    /* One buffer, never moved: max + 1 bytes to notice a file that grew, then the NUL. */
    char *buf = kura_secure_alloc(max + 2);
    if (!buf) {
        close(fd);
        kura_err_set(err, ENOMEM, "out of locked memory reading %s", path);
        return -1;
    }
    ssize_t n = kura_read_full(fd, buf, max + 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        kura_secure_free(buf); /* wipes what was read */
        kura_err_set(err, e, "read %s: %s", path, strerror(e));
        return -1;
    }
    size_t got = (size_t)n;
    if (got > max) {
        kura_secure_free(buf);
        kura_err_set(err, EFBIG, "%s: larger than %zu bytes", path, max);
        return -1;
    }
    buf[got] = '\0';
    *data = buf;
    if (len)
        *len = got;
    return 0;
}

/* One overwrite pass over the first size bytes: zeros, or random bytes. */
static int overwrite_pass(int fd, off_t size, bool random)
{
    static const size_t chunk = 64 * 1024;
    unsigned char *buf = calloc(1, chunk);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    int rc = 0;
    for (off_t off = 0; off < size;) {
        size_t n = (uintmax_t)(size - off) < chunk ? (size_t)(size - off) : chunk;
        if (random)
            randombytes_buf(buf, n);
        ssize_t w = pwrite(fd, buf, n, off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            rc = -1;
            break;
        }
        off += w;
    }
    free(buf);
    return rc == 0 ? fsync(fd) : -1;
}

int kura_destroy_file(const char *path, struct kura_err *err)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        kura_err_set(err, e, "destroy %s: %s", path, e == ELOOP ? "is a symbolic link" : strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        kura_err_set(err, EINVAL, "destroy %s: not a regular file", path);
        return -1;
    }
    if (overwrite_pass(fd, st.st_size, false) != 0 || overwrite_pass(fd, st.st_size, true) != 0) {
        int e = errno;
        close(fd);
        kura_err_set(err, e, "destroy %s: overwrite: %s", path, strerror(e));
        return -1;
    }
    close(fd);
    if (unlink(path) != 0) {
        int e = errno;
        kura_err_set(err, e, "destroy %s: unlink: %s", path, strerror(e));
        return -1;
    }
    return kura_fsync_parent(path, err);
}
