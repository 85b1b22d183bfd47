/* fuse_null: the cost of FUSE on this machine, with nothing else.
 *
 *   fuse_null MOUNTPOINT [FILE] [--sync LOG] [--sync-in-place LOG]
 *   (as root; stops at SIGTERM or fusermount3 -u)
 *
 * Serves one directory "d" holding one file "f": 64 KiB of zeros, or the
 * bytes of FILE. The kernel caches what kurafs lets it cache and reads
 * ahead as far (cache_rules.h: no entries, no attributes, no negative
 * lookups; libfuse's high-level API, several threads); nothing is done per
 * request beyond answering it. An open and close of MOUNTPOINT/d/f is the
 * same four requests as kurafs's open of /mnt/ID/file (LOOKUP d, LOOKUP f,
 * OPEN, RELEASE), and a read of it the same GETATTR and READ as a read of
 * a sole reader's file. A READ of FILE reads the whole 64 KiB blocks that
 * hold the range asked for, as kurafs reads whole Crypt4GH segments (whose
 * MAC covers the segment; a segment is 28 bytes longer), and copies the
 * range out, with no decryption. Its rates are the floor any filesystem
 * with kurafs's cache rules and the format's reads pays on this machine
 * before its own work (scripts/bench.sh: opens, sequential and random
 * reads).
 *
 * With --sync LOG, "d" also holds "s", the same file, whose every OPEN
 * appends one record of RECORD_BYTES to LOG and answers once it is
 * durable: the open of a filesystem whose only work is the one durable
 * record kura writes before an open returns. Records of concurrent opens
 * share a write and an fdatasync (a leader writes all that are queued, the
 * others wait for it), as kura's audit log shares them; nothing more (no
 * chain, no MAC, no head file, no close record). With --sync-in-place
 * LOG, "d" holds "p", the same again, but its records overwrite zeros
 * already made durable (AHEAD_BYTES at a time, written and synced by the
 * leader that needs them), so that a batch's fdatasync writes its records
 * and no inode: a log whose size does not change at every record. The
 * faster of the two is the floor under kura's open goals on this machine;
 * kura's audit log appends (bench/README.md, "A log that does not grow"). */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../src/kurafs/cache_rules.h"
#include "kura/fsutil.h"

#define SEGMENT 65536
/* libfuse's largest READ (its 1 MiB buffer), plus a block each side. */
#define SPAN_MAX (1024 * 1024 + 2 * SEGMENT)

static int backing = -1;
static off_t file_bytes = SEGMENT;

/* --sync: about the size of kura's allow record. */
#define RECORD_BYTES 512
#define BATCH_MAX 64
/* --sync-in-place: zeros made durable ahead of the records, this much at a time. */
#define AHEAD_BYTES (8u << 20)

/* One log of durable records, and its group commit. */
struct durable_log {
    int fd;                      /* -1: not served */
    bool in_place;               /* records overwrite durable zeros; the file grows AHEAD_BYTES at a time */
    off_t end, ahead;            /* in place: where records end, where the durable zeros end */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t queued, durable;    /* records asked for, records durable */
    bool writing;
    int error;
};
static struct durable_log append_log = {.fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static struct durable_log in_place_log = {
    .fd = -1, .in_place = true, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
static char record[RECORD_BYTES];

/* In place: AHEAD_BYTES more zeros past the durable ones, made durable, so
 * that the records written over them change no file size (an append's
 * fdatasync also writes the inode: the size changed). */
static int zeros_ahead(struct durable_log *l)
{
    static const char zeros[1 << 16];
    if (lseek(l->fd, l->ahead, SEEK_SET) != l->ahead)
        return errno;
    for (size_t done = 0; done < AHEAD_BYTES; done += sizeof zeros)
        if (kura_write_full(l->fd, zeros, sizeof zeros) != 0)
            return errno ? errno : EIO;
    if (fdatasync(l->fd) != 0)
        return errno;
    l->ahead += AHEAD_BYTES;
    return 0;
}

/* One batch, written by its leader: a writev at the end (append), or a
 * pwritev over the zeros, then one fdatasync. 0 or an errno. */
static int write_batch(struct durable_log *l, int n)
{
    struct iovec iov[BATCH_MAX];
    for (int i = 0; i < n; i++)
        iov[i] = (struct iovec){record, RECORD_BYTES};
    size_t bytes = (size_t)n * RECORD_BYTES;
    int e;
    if (l->in_place && l->end + (off_t)bytes > l->ahead && (e = zeros_ahead(l)) != 0)
        return e;
    ssize_t w = l->in_place ? pwritev(l->fd, iov, n, l->end) : writev(l->fd, iov, n);
    if (w != (ssize_t)bytes)
        return w < 0 ? errno : EIO;
    l->end += (off_t)bytes;
    return fdatasync(l->fd) != 0 ? errno : 0;
}

/* Adds one record to the log and returns once it is durable (0), or
 * -errno once a batch failed (the bench counts errors; it does not retry). */
static int durable_record(struct durable_log *l)
{
    pthread_mutex_lock(&l->mu);
    uint64_t mine = ++l->queued;
    while (l->durable < mine && !l->error) {
        if (l->writing) {
            pthread_cond_wait(&l->cv, &l->mu);
            continue;
        }
        l->writing = true;
        uint64_t upto = l->queued;
        if (upto - l->durable > BATCH_MAX)
            upto = l->durable + BATCH_MAX;
        pthread_mutex_unlock(&l->mu);
        int e = write_batch(l, (int)(upto - l->durable));
        pthread_mutex_lock(&l->mu);
        l->writing = false;
        if (e)
            l->error = e;
        else
            l->durable = upto;
        pthread_cond_broadcast(&l->cv);
    }
    int rc = l->durable >= mine ? 0 : -l->error;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static struct durable_log *log_of(const char *path)
{
    if (append_log.fd >= 0 && strcmp(path, "/d/s") == 0)
        return &append_log;
    if (in_place_log.fd >= 0 && strcmp(path, "/d/p") == 0)
        return &in_place_log;
    return NULL;
}

static bool is_file(const char *path)
{
    return strcmp(path, "/d/f") == 0 || log_of(path);
}

static void *null_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    kurafs_cache_rules(conn, cfg);
    return NULL;
}

static int null_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    (void)fi;
    memset(st, 0, sizeof *st);
    if (strcmp(path, "/") == 0 || strcmp(path, "/d") == 0) {
        st->st_ino = path[1] ? 2 : 1;
        st->st_mode = S_IFDIR | 0555;
        st->st_nlink = 2;
        return 0;
    }
    if (is_file(path)) {
        st->st_ino = path[3] == 'f' ? 3 : path[3] == 's' ? 4 : 5;
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = file_bytes;
        return 0;
    }
    return -ENOENT;
}

static int null_open(const char *path, struct fuse_file_info *fi)
{
    if (!is_file(path))
        return -ENOENT;
    if ((fi->flags & O_ACCMODE) != O_RDONLY)
        return -EROFS;
    struct durable_log *l = log_of(path);
    return l ? durable_record(l) : 0;
}

static int null_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    if (off >= file_bytes)
        return 0;
    if (size > (size_t)(file_bytes - off))
        size = (size_t)(file_bytes - off);
    if (backing < 0) {
        memset(buf, 0, size);
        return (int)size;
    }
    /* One buffer per thread, kept: as kurafs's per-call cipher buffers
     * come from its allocator, not a fresh mapping per READ. */
    static __thread char *blocks;
    if (!blocks && !(blocks = malloc(SPAN_MAX)))
        return -ENOMEM;
    off_t first = off / SEGMENT * SEGMENT;
    off_t last = (off + (off_t)size + SEGMENT - 1) / SEGMENT * SEGMENT;
    if (last > file_bytes)
        last = file_bytes;
    if (last - first > SPAN_MAX)
        return -EINVAL;
    size_t want = (size_t)(last - first);
    ssize_t got = kura_pread_full(backing, blocks, want, (uint64_t)first);
    if (got != (ssize_t)want)
        return got < 0 ? -errno : -EIO;
    memcpy(buf, blocks + (off - first), size);
    return (int)size;
}

static int null_release(const char *path, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    return 0;
}

int main(int argc, char **argv)
{
    /* --sync LOG, --sync-in-place LOG, either or both, last. */
    while (argc >= 4 && (strcmp(argv[argc - 2], "--sync") == 0 || strcmp(argv[argc - 2], "--sync-in-place") == 0)) {
        struct durable_log *l = strcmp(argv[argc - 2], "--sync") == 0 ? &append_log : &in_place_log;
        l->fd = open(argv[argc - 1], O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (l->in_place ? O_TRUNC : O_APPEND),
                     0600);
        int e = l->fd < 0 ? errno : l->in_place ? zeros_ahead(l) : 0;
        if (e) {
            fprintf(stderr, "%s: %s\n", argv[argc - 1], strerror(e));
            return 1;
        }
        argc -= 2;
    }
    memset(record, 'x', sizeof record - 1);
    record[sizeof record - 1] = '\n';
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: fuse_null MOUNTPOINT [FILE] [--sync LOG] [--sync-in-place LOG]\n");
        return 2;
    }
    if (argc == 3) {
        struct stat st;
        backing = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (backing < 0 || fstat(backing, &st) != 0) {
            perror(argv[2]);
            return 1;
        }
        file_bytes = st.st_size;
    }
    static const struct fuse_operations ops = {
        .init = null_init,
        .getattr = null_getattr,
        .open = null_open,
        .read = null_read,
        .release = null_release,
    };
    /* kurafs's own mount options and loop (src/kurafs/main.c). */
    const char *args[] = {argv[0], "-f", "-oallow_other,fsname=fuse_null,subtype=fuse_null,noatime", argv[1]};
    struct fuse_args fa = FUSE_ARGS_INIT(0, NULL);
    for (size_t i = 0; i < sizeof args / sizeof *args; i++)
        if (fuse_opt_add_arg(&fa, args[i]) != 0)
            return 2;
    struct fuse_cmdline_opts copts;
    if (kurafs_default_workers(&fa) != 0 || fuse_parse_cmdline(&fa, &copts) != 0)
        return 2;
    struct fuse *fuse = fuse_new(&fa, &ops, sizeof ops, NULL);
    if (!fuse)
        return 1;
    int status = 1;
    if (fuse_mount(fuse, copts.mountpoint) == 0) {
        dev_t dev;
        if (kurafs_mount_device(copts.mountpoint, &dev) != 0 || kurafs_raise_readahead(dev) != 0)
            fprintf(stderr, "fuse_null: cannot raise the readahead of %s\n", copts.mountpoint);
        if (fuse_set_signal_handlers(fuse_get_session(fuse)) == 0) {
            struct fuse_loop_config *loop = kurafs_loop_config(&copts);
            status = loop && fuse_loop_mt(fuse, loop) == 0 ? 0 : 1;
            if (loop)
                fuse_loop_cfg_destroy(loop);
            fuse_remove_signal_handlers(fuse_get_session(fuse));
        }
        fuse_unmount(fuse);
    }
    fuse_destroy(fuse);
    free(copts.mountpoint);
    fuse_opt_free_args(&fa);
    return status;
}
