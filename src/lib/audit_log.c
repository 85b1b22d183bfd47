/* The audit log writer: group commit across threads, flock across
 * processes, rotation, fail closed (docs/design.md "The audit log",
 * R-LOG-1/2/5).
 *
 * An append queues its record and waits. The first waiter with no batch in
 * flight becomes the leader: it takes everything queued, and under the head
 * file's flock finds where the chain stands (another process may have
 * written since), numbers and MACs the records, writes them with one writev
 * and one fdatasync, notes the new end in the head file, then wakes the
 * others. So an appender waits for at most the batch in flight and its own.
 * A batch of records after which nothing is served (closes, refusals,
 * ended access: sync_later) is written without an fdatasync of its own: the
 * next batch's, a let-go of the file, or the close writer's within
 * sync_later_ms makes it durable, and only then is the head file moved
 * past it (the head is never ahead of what is durable). A close does not wait at all
 * while a leader writes, or at any time once the daemon started the close
 * writer: its record goes into the next batch, which the close writer leads
 * itself when none came within its linger.
 * Nothing about the chain is trusted from memory while the head file is
 * readable: the file and the head are the truth every batch starts from,
 * but for this writer's own last batch (its head put off for a sync) when
 * the file still ends where that batch left it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include "audit_priv.h"
#include "kura/clock.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/secmem.h"
#include "kura/syslog_copy.h"
#include "kura/text.h"
#include "kura/when.h"

#define HEAD_ROOM 32             /* {"seq":<20 digits> */
#define TAIL_ROOM 2048           /* rotated_from (escaped), prev, mac, "}\n" */
#define BATCH_RECORDS 256
#define BATCH_BYTES (1u << 20)

/* One append waiting for its batch; lives on the appender's stack, or, a
 * detached close, on the heap until the leader that wrote it lets go. */
struct pending {
    char *buf;                   /* body at buf + HEAD_ROOM, see audit_body_build */
    size_t body_len;
    const char *line;            /* the finished line, set by the leader */
    size_t line_len;             /* with its newline */
    bool refusal;                /* kept out of the reserve */
    bool sync_later;             /* nothing is served after it: durable with the next fdatasync */
    bool held_back;              /* a refusal not written: it would have used the reserve */
    bool detached;               /* a close handed over: nobody waits for it */
    bool done;
    int rc;
    struct kura_err err;
    struct pending *next;
};

struct kura_audit_log {
    char *path, *head_path, *dir, *base;
    const struct kura_zone *zone;
    char host[256];
    struct kura_syslog_copy *copy; /* the records' copy to syslog; NULL: none */
    uint64_t max_size, reserve;
    int reserve_fd;              /* <dir>/.<base>.reserve; -1 without a reserve */
    uint64_t reserve_held;       /* bytes allocated to it now */
    atomic_bool failing;         /* the last batch could not be written */
    unsigned char *key;          /* kura_secure_alloc */
    int fd;                      /* the log, O_APPEND; -1: open PATH at the next batch */
    bool unsynced;               /* fd holds records written without an fdatasync yet */
    /* The seq of the first of those, 0 when there are none: set before
     * they are written, cleared after an fdatasync that covers them, so a
     * reader of the file who sees it 0 sees only durable records. Not
     * unsynced again: a failed fdatasync clears that (no retry every
     * sync_later_ms) and leaves this set until one succeeds. */
    atomic_uint_fast64_t unsynced_from;
    int head_fd;
    /* The head after records written without an fdatasync: written only
     * once they are durable, so that a power failure, which may take them,
     * never leaves the head ahead of the log (a false "records were
     * removed"). Owned with fd (busy). */
    struct audit_head head_due;
    bool head_due_set;
    /* The last record this writer wrote: used only if the head is unreadable. */
    struct audit_chain mem;
    bool have_mem;
    char rotated_to[NAME_MAX + 1]; /* the name this writer gave the file it rotated */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool busy;                   /* a leader (or reopen) owns fd and head_fd */
    bool leading;                /* that owner is a leader: a close may detach (see draining) */
    bool draining;               /* ... writing the detached closes left after its own record:
                                    closes wait for this batch instead, so it is the last */
    struct pending *q_head, *q_tail;
    struct kura_audit_stats stats;
    /* The close writer (kura_audit_start_close_writer), under mu. */
    pthread_t closer;
    pthread_cond_t closer_cv;    /* its sleep: a close or an unsynced batch wakes it when idle,
                                    the log's close stops it */
    bool closer_running;         /* every close is handed over */
    bool closer_idle;            /* asleep with no handed-over close queued */
    bool closer_stop;
    unsigned linger_ms;
    unsigned sync_later_ms;      /* the longest an unsynced record waits for a batch's sync */
};

/* Where the chain stands at the start of a batch. */
struct chain_pos {
    struct audit_chain c;
    uint64_t size, ino;          /* the log file now */
    int head_slot;               /* newest valid head slot, -1 if none */
};

/* flock on the head file, which must still be the one at head_path: a
 * writer that locked a replaced file would not exclude the others. */
static int lock_head(struct kura_audit_log *log, struct kura_err *err)
{
    for (int tries = 0; tries < 8; tries++) {
        if (log->head_fd < 0)
            log->head_fd = open(log->head_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (log->head_fd < 0) {
            kura_err_set(err, errno, "open %s: %s", log->head_path, strerror(errno));
            return -1;
        }
        while (flock(log->head_fd, LOCK_EX) != 0)
            if (errno != EINTR) {
                kura_err_set(err, errno, "lock %s: %s", log->head_path, strerror(errno));
                return -1;
            }
        struct stat held, now;
        if (fstat(log->head_fd, &held) == 0 && stat(log->head_path, &now) == 0 && held.st_dev == now.st_dev &&
            held.st_ino == now.st_ino)
            return 0;
        close(log->head_fd);
        log->head_fd = -1;
    }
    kura_err_set(err, EAGAIN, "%s keeps being replaced; cannot lock it", log->head_path);
    return -1;
}

static void unlock_head(struct kura_audit_log *log)
{
    flock(log->head_fd, LOCK_UN);
}

/* Under the head file's lock: h into the slot after the newest (slot < 0:
 * a fresh or spoilt head, both slots, made durable once). */
static void head_write(struct kura_audit_log *log, const struct audit_head *h, int slot)
{
    struct kura_err herr;
    if (audit_head_write(log->head_fd, log->key, h, slot) != 0 ||
        (slot < 0 && (fsync(log->head_fd) != 0 || kura_fsync_parent(log->head_path, &herr) != 0)))
        kura_notice(LOG_WARNING, "kura audit: cannot update %s: %s", log->head_path, strerror(errno));
}

/* Under the head file's lock, once the records it covers are durable: the
 * head put off for them, unless another writer's head went further. */
static void write_due_head(struct kura_audit_log *log)
{
    if (!log->head_due_set)
        return;
    log->head_due_set = false;
    struct audit_head cur;
    int slot;
    int hr = audit_head_read(log->head_fd, log->key, &cur, &slot);
    if (hr < 0 || (hr == 1 && cur.seq >= log->head_due.seq))
        return;
    head_write(log, &log->head_due, hr == 1 ? 1 - slot : -1);
}

/* Before fd is let go of, and by the close writer: the close and refusal
 * records written since the last fdatasync become durable, then the head
 * put off for them is written (taking the head file's lock unless the
 * caller holds it). */
static void sync_written(struct kura_audit_log *log, bool locked)
{
    if (log->fd < 0 || !log->unsynced)
        return;
    bool synced = fdatasync(log->fd) == 0;
    if (!synced)
        kura_notice(LOG_ERR, "kura audit: fdatasync %s: %s; close and refusal records since the last open may be "
            "lost in a power failure", log->path, strerror(errno));
    else
        atomic_store(&log->unsynced_from, 0);
    log->unsynced = false;
    struct kura_err err;
    if (!synced || !log->head_due_set) {
        log->head_due_set = false; /* a later batch's head covers them */
    } else if (locked) {
        write_due_head(log);
    } else if (lock_head(log, &err) == 0) {
        write_due_head(log);
        unlock_head(log);
    } else {
        log->head_due_set = false;
        kura_notice(LOG_WARNING, "kura audit: %s; the head follows at the next batch", err.msg);
    }
}

/* Makes fd the file now at PATH: logrotate or another writer's rotation may
 * have moved the one we had. Creates it if missing. */
static int ensure_log(struct kura_audit_log *log, struct kura_err *err)
{
    struct stat at, held;
    if (lstat(log->path, &at) == 0) {
        if (!S_ISREG(at.st_mode)) {
            kura_err_set(err, EINVAL, "%s is not a regular file", log->path);
            return -1;
        }
        if (log->fd >= 0 && fstat(log->fd, &held) == 0 && held.st_dev == at.st_dev && held.st_ino == at.st_ino)
            return 0;
        sync_written(log, true);
        if (log->fd >= 0)
            close(log->fd);
        log->fd = open(log->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
        if (log->fd >= 0)
            return 0;
        if (errno != ENOENT) {
            kura_err_set(err, errno, "open %s: %s", log->path, strerror(errno));
            return -1;
        }
    } else if (errno != ENOENT) {
        kura_err_set(err, errno, "stat %s: %s", log->path, strerror(errno));
        return -1;
    }
    sync_written(log, true);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log->fd < 0) {
        kura_err_set(err, errno, "create %s: %s", log->path, strerror(errno));
        return -1;
    }
    return kura_fsync_parent(log->path, err);
}

/* Reads the lines in [from, limit) of fd (the file at path) and moves c
 * along them. Following a known chain (*have on entry), a line is taken
 * only if its MAC verifies and it comes next (seq + 1, prev); without one
 * (head and memory lost), the highest-numbered line whose MAC verifies.
 * *keep is where an unfinished last line starts (a crashed writer's), or
 * limit. */
static int scan_file(struct kura_audit_log *log, int fd, const char *path, uint64_t from, uint64_t limit,
                     struct audit_chain *c, bool *have, uint64_t *keep, struct kura_err *err)
{
    struct audit_lines r;
    if (audit_lines_init(&r, fd, from, limit) != 0) {
        kura_err_set(err, ENOMEM, "out of memory reading %s", path);
        return -1;
    }
    bool follow = *have;
    uint64_t foreign = 0, off;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    int rc;
    *keep = limit;
    while ((rc = audit_lines_next(&r, &line, &len, &kind, &off)) == 1) {
        if (kind == AUDIT_LINE_PARTIAL) {
            *keep = off;
            break;
        }
        struct kura_audit_entry e;
        unsigned char prev[KURA_AUDIT_HASH_LEN];
        if (kind != AUDIT_LINE_OK || !audit_line_mac_ok(log->key, line, len) ||
            kura_audit_entry_parse(line, len, &e, NULL) != 0) {
            foreign++;
            continue;
        }
        bool next = audit_unhex(e.prev, prev) && e.seq == c->seq + 1 &&
                    sodium_memcmp(prev, c->hash, sizeof prev) == 0;
        if (follow ? next : (!*have || e.seq > c->seq)) {
            c->seq = e.seq;
            audit_line_hash(line, len, c->hash);
            *have = true;
        } else if (follow) {
            foreign++;
        }
        kura_audit_entry_free(&e);
    }
    int e = errno;
    audit_lines_free(&r);
    if (rc < 0) {
        kura_err_set(err, e, "read %s: %s", path, strerror(e));
        return -1;
    }
    if (foreign)
        kura_notice(LOG_ERR, "kura audit: %s holds %" PRIu64 " line(s) that are not part of the chain; "
                     "`kuractl audit verify` shows where", path, foreign);
    return 0;
}

/* The head names a file no longer at PATH (logrotate or another writer
 * moved it): the records written there after the head (a batch whose
 * head was still put off for its sync, or a writer killed before its head
 * write) are followed in it where it went, so the chain goes on after
 * them and not beside them. The moved file is read, never changed. */
static int follow_moved(struct kura_audit_log *log, const struct audit_head *h, struct audit_chain *c, bool *have,
                        struct kura_err *err)
{
    char **files;
    size_t n;
    if (kura_audit_files(log->path, &files, &n, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(files[i], log->path) == 0)
            continue;
        int fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_ino == h->ino && (uint64_t)st.st_size > h->size) {
            uint64_t keep;
            rc = scan_file(log, fd, files[i], h->size, (uint64_t)st.st_size, c, have, &keep, err);
            close(fd);
            break;
        }
        if (fd >= 0)
            close(fd);
    }
    kura_audit_files_free(files, n);
    return rc;
}

/* Under the lock, with fd current: where the chain stands. Removes the
 * unfinished tail a crashed writer may have left (never acknowledged). */
static int resolve(struct kura_audit_log *log, struct chain_pos *pos, struct kura_err *err)
{
    struct audit_head h;
    int hr = audit_head_read(log->head_fd, log->key, &h, &pos->head_slot);
    struct stat st;
    if (hr < 0 || fstat(log->fd, &st) != 0) {
        kura_err_set(err, errno, "read %s: %s", hr < 0 ? log->head_path : log->path, strerror(errno));
        return -1;
    }
    if (hr == 0)
        pos->head_slot = -1;
    pos->size = (uint64_t)st.st_size;
    pos->ino = (uint64_t)st.st_ino;
    memset(&pos->c, 0, sizeof pos->c);
    bool have = false;
    uint64_t from = 0;
    if (hr == 1) {
        pos->c.seq = h.seq;
        memcpy(pos->c.hash, h.hash, sizeof h.hash);
        have = true;
        /* The file ends where this writer's last batch, its head put off
         * for a sync, left it: nobody wrote since, so that batch's end is
         * where the chain stands, without reading back what the head lags
         * by (a flood of refusals would be read again at every batch). */
        if (log->head_due_set && log->head_due.ino == pos->ino && log->head_due.size == pos->size &&
            log->head_due.seq >= h.seq) {
            pos->c.seq = log->head_due.seq;
            memcpy(pos->c.hash, log->head_due.hash, sizeof pos->c.hash);
            from = pos->size;
        } else if (h.ino == pos->ino && pos->size >= h.size)
            from = h.size;
        else if (h.ino == pos->ino && pos->size > 0)
            kura_notice(LOG_ERR, "kura audit: %s shrank from %" PRIu64 " to %" PRIu64 " bytes: records were removed; "
                         "the chain goes on from seq %" PRIu64 ", so verify shows the gap",
                log->path, h.size, pos->size, h.seq);
        else if (h.ino != pos->ino && follow_moved(log, &h, &pos->c, &have, err) != 0)
            return -1;
    } else if (log->have_mem) {
        pos->c = log->mem;
        have = true;
        kura_notice(LOG_WARNING, "kura audit: %s is missing or damaged; going on from this writer's last record (seq %" PRIu64 ")",
            log->head_path, log->mem.seq);
    }
    if (from < pos->size) {
        uint64_t keep;
        if (scan_file(log, log->fd, log->path, from, pos->size, &pos->c, &have, &keep, err) != 0)
            return -1;
        if (keep < pos->size) {
            if (ftruncate(log->fd, (off_t)keep) != 0) {
                kura_err_set(err, errno, "truncate the unfinished record at the end of %s: %s", log->path,
                             strerror(errno));
                return -1;
            }
            kura_notice(LOG_WARNING, "kura audit: removed an unfinished record (%" PRIu64 " bytes) from the end of %s",
                pos->size - keep, log->path);
            pos->size = keep;
        }
    }
    if (!have && pos->size > 0) {
        kura_err_set(err, EKEYREJECTED, "no record in %s verifies with the log key: wrong key file, "
                                        "or not a kura audit log", log->path);
        return -1;
    }
    return 0;
}

/* Size rotation: PATH.N -> PATH.N+1 from the highest N down, PATH -> PATH.1,
 * a new PATH; renameat2(RENAME_NOREPLACE) so no log is ever overwritten. On
 * failure the records keep going to the file we hold. */
static int rotate(struct kura_audit_log *log, struct chain_pos *pos)
{
    size_t blen = strlen(log->base);
    unsigned long max = 0;
    DIR *d = opendir(log->dir);
    if (!d) {
        kura_notice(LOG_ERR, "kura audit: cannot rotate %s: %s", log->path, strerror(errno));
        return -1;
    }
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name, *num = n + blen + 1;
        uint64_t k;
        if (strncmp(n, log->base, blen) != 0 || n[blen] != '.' || num[0] == '0' ||
            kura_parse_decimal(num, strlen(num), 999999999, &k) != 0) /* no leading zero, at most 9 digits */
            continue;
        if (k > max)
            max = k;
    }
    closedir(d);
    char from[PATH_MAX], to[PATH_MAX];
    for (unsigned long k = max + 1; k >= 1; k--) {
        if (k > 1)
            snprintf(from, sizeof from, "%s.%lu", log->path, k - 1);
        else
            snprintf(from, sizeof from, "%s", log->path);
        snprintf(to, sizeof to, "%s.%lu", log->path, k);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) != 0 && (errno != ENOENT || k == 1)) {
            kura_notice(LOG_ERR, "kura audit: cannot rotate %s: rename %s: %s", log->path, from, strerror(errno));
            return -1;
        }
    }
    struct stat old;
    int fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fstat(log->fd, &old) != 0 || fchmod(fd, old.st_mode & 0777) != 0) {
        kura_notice(LOG_ERR, "kura audit: cannot start a new %s after rotating: %s", log->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct kura_err err;
    if (kura_fsync_dir(log->dir, &err) != 0)
        kura_notice(LOG_ERR, "kura audit: %s", err.msg);
    struct stat st;
    fstat(fd, &st);
    sync_written(log, true);
    close(log->fd);
    log->fd = fd;
    snprintf(log->rotated_to, sizeof log->rotated_to, "%s.1", log->base);
    pos->size = 0;
    pos->ino = (uint64_t)st.st_ino;
    return 0;
}

/* Turns a queued body into the final line, in place: {"seq":N + members +
 * [rotated_from] + prev + mac. Moves the chain on. */
static void finish_line(struct kura_audit_log *log, struct pending *p, struct audit_chain *c,
                        const char *rotated_from)
{
    char *body = p->buf + HEAD_ROOM, hex[AUDIT_HEX_LEN + 1];
    char seq[HEAD_ROOM];
    int sl = snprintf(seq, sizeof seq, "{\"seq\":%" PRIu64, c->seq + 1);
    char *line = body - sl;
    memcpy(line, seq, (size_t)sl);
    body[0] = ',';
    size_t len = (size_t)sl + p->body_len - 1; /* without the body's closing brace */
    if (rotated_from) {
        len += (size_t)sprintf(line + len, ",\"rotated_from\":\"");
        len += kura_json_escape(line + len, TAIL_ROOM - 200, rotated_from, strnlen(rotated_from, NAME_MAX));
        line[len++] = '"';
    }
    audit_hex(c->hash, hex);
    len += (size_t)sprintf(line + len, ",\"prev\":\"%s\"", hex);
    unsigned char mac[KURA_AUDIT_HASH_LEN];
    audit_mac(log->key, line, len, mac);
    audit_hex(mac, hex);
    len += (size_t)sprintf(line + len, ",\"mac\":\"%s\"}", hex);
    audit_line_hash(line, len, c->hash);
    c->seq++;
    line[len++] = '\n';
    p->line = line;
    p->line_len = len;
}

/* Writes the batch's lines in order, BATCH_RECORDS at a time at most: a
 * retention batch has one record per file removed, however many. */
static int write_lines(int fd, struct pending **batch, size_t n)
{
    struct iovec iov[BATCH_RECORDS];
    size_t i = 0, partial = 0; /* batch[i] is written up to partial */
    while (i < n) {
        int k = 0;
        for (size_t j = i; j < n && k < BATCH_RECORDS; j++, k++) {
            size_t skip = j == i ? partial : 0;
            iov[k].iov_base = (char *)batch[j]->line + skip;
            iov[k].iov_len = batch[j]->line_len - skip;
        }
        ssize_t w = writev(fd, iov, k);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        for (size_t left = (size_t)w; left > 0;) {
            size_t rest = batch[i]->line_len - partial;
            if (left >= rest) {
                left -= rest;
                i++;
                partial = 0;
            } else {
                partial += left;
                left = 0;
            }
        }
    }
    return 0;
}

struct batch_counts {
    uint64_t fdatasyncs, rotations;
};

/* The reserve is also held in a file, allocated while there is room: a full
 * disk, whatever filled it, then still has room for allow, close and alert
 * records, released from the file as they need it. */
static void reserve_release(struct kura_audit_log *log, uint64_t need)
{
    uint64_t step = need < (1u << 20) ? 1u << 20 : need; /* not a syscall per batch */
    uint64_t keep = log->reserve_held > step ? log->reserve_held - step : 0;
    if (ftruncate(log->reserve_fd, (off_t)keep) != 0)
        return;
    log->reserve_held = keep;
    kura_notice(LOG_WARNING, "kura audit: %s is full; %" PRIu64 " bytes of its reserve released for allow, close and "
        "alert records (%" PRIu64 " left)", log->path, step, keep);
}

/* Takes the reserve back once the disk has room again beyond it. */
static void reserve_refill(struct kura_audit_log *log)
{
    struct statvfs vfs;
    if (log->reserve_fd < 0 || log->reserve_held >= log->reserve || fstatvfs(log->reserve_fd, &vfs) != 0 ||
        (uint64_t)vfs.f_bavail * vfs.f_frsize < 2 * log->reserve)
        return;
    if (fallocate(log->reserve_fd, 0, 0, (off_t)log->reserve) == 0)
        log->reserve_held = log->reserve;
}

static size_t line_estimate(const struct pending *p)
{
    return p->body_len + HEAD_ROOM + 2 * AUDIT_MAC_TAIL_LEN; /* seq, prev, mac */
}

/* Marks the refusals of the batch that would leave less than the reserve
 * free (held_back) and moves them out: the others come first, whatever
 * their order. Returns how many records are left to write. */
static size_t hold_back_refusals(struct kura_audit_log *log, struct pending **batch, size_t n)
{
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = batch[i]->refusal;
    struct statvfs vfs;
    if (!any || !log->reserve || fstatvfs(log->fd, &vfs) != 0)
        return n;
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize, used = 0;
    for (size_t i = 0; i < n; i++)
        if (!batch[i]->refusal)
            used += line_estimate(batch[i]);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = batch[i];
        if (p->refusal && used + line_estimate(p) + log->reserve > avail) {
            p->held_back = true;
            continue;
        }
        if (p->refusal)
            used += line_estimate(p);
        batch[kept++] = p;
    }
    return kept;
}

/* One group commit, under the head file's lock. On failure the file is cut
 * back to where the batch started, so the chain on disk stays whole and the
 * next batch retries. Refusals held back for the reserve are left out (*n
 * is what was written). */
static int commit_locked(struct kura_audit_log *log, struct pending **batch, size_t *n_io,
                         struct batch_counts *cnt, struct kura_err *err)
{
    int rc = -1;
    struct chain_pos pos;
    if (ensure_log(log, err) != 0 || resolve(log, &pos, err) != 0)
        return -1;
    size_t n = *n_io = hold_back_refusals(log, batch, *n_io);
    if (n == 0)
        return 0;
    size_t estimate = 0;
    for (size_t i = 0; i < n; i++)
        estimate += line_estimate(batch[i]);
    if (log->max_size && pos.size > 0 && pos.size + estimate > log->max_size && rotate(log, &pos) == 0)
        cnt->rotations++;
    /* The first record of a file that continues a chain says so. */
    const char *rotated_from = NULL;
    if (pos.size == 0 && pos.c.seq > 0)
        rotated_from = log->rotated_to[0] ? log->rotated_to : log->base;
    uint64_t bytes = 0, first_seq = pos.c.seq + 1;
    for (size_t i = 0; i < n; i++) {
        finish_line(log, batch[i], &pos.c, i == 0 ? rotated_from : NULL);
        bytes += batch[i]->line_len;
    }
    const char *step = "write";
    bool has_record = false, must_sync = false; /* one the reserve is for; one not a close */
    for (size_t i = 0; i < n; i++) {
        has_record |= !batch[i]->refusal;
        must_sync |= !batch[i]->sync_later;
    }
    uint_fast64_t none = 0;
    if (!must_sync)
        atomic_compare_exchange_strong(&log->unsynced_from, &none, first_seq);
    int wrc = write_lines(log->fd, batch, n);
    if (wrc != 0 && (errno == ENOSPC || errno == EDQUOT) && has_record && log->reserve_held > 0 &&
        ftruncate(log->fd, (off_t)pos.size) == 0) {
        reserve_release(log, bytes);
        wrc = write_lines(log->fd, batch, n);
    }
    if (wrc == 0 && !must_sync) {
        log->unsynced = true;
        rc = 0;
    } else if (wrc == 0) {
        step = "fdatasync";
        cnt->fdatasyncs++;
        if (fdatasync(log->fd) == 0) {
            log->unsynced = false;
            atomic_store(&log->unsynced_from, 0);
            rc = 0;
        }
    }
    if (rc != 0) {
        int e = errno;
        cnt->fdatasyncs++;
        if (ftruncate(log->fd, (off_t)pos.size) != 0 || fdatasync(log->fd) != 0)
            kura_notice(LOG_ERR, "kura audit: cannot remove a failed batch from %s: %s", log->path, strerror(errno));
        kura_notice(LOG_ERR, "kura audit: %s %s: %s; refusing the events until the log can be written", step, log->path,
            strerror(e));
        kura_err_set(err, e, "audit log %s: %s: %s; refused until the log can be written", log->path, step,
                     strerror(e));
        return -1;
    }
    struct audit_head h = {.seq = pos.c.seq, .ino = pos.ino, .size = pos.size + bytes};
    memcpy(h.hash, pos.c.hash, sizeof h.hash);
    if (must_sync) {
        head_write(log, &h, pos.head_slot < 0 ? -1 : 1 - pos.head_slot);
        log->head_due_set = false;
    } else {
        log->head_due = h; /* written once these records are durable (sync_written) */
        log->head_due_set = true;
    }
    log->mem = pos.c;
    log->have_mem = true;
    reserve_refill(log);
    log->rotated_to[0] = '\0';
    return 0;
}

static int commit(struct kura_audit_log *log, struct pending **batch, size_t *n_io, struct batch_counts *cnt,
                  struct kura_err *err)
{
    if (lock_head(log, err) != 0)
        return -1;
    int rc = commit_locked(log, batch, n_io, cnt, err);
    unlock_head(log);
    return rc;
}

/* A record's copy to syslog; with why_lost (not NULL), marked as not in
 * the local log, and why. The first copy of a gap in the copies is also
 * said among the daemon's notices, where an operator looks. */
static void copy_out(struct kura_audit_log *log, int priority, const char *why_lost, int len, const char *text)
{
    char why[KURA_SYSLOG_WHY_MAX];
    int rc = why_lost ? kura_syslog_copy_send(log->copy, why, priority, "not in the local log (%s): %.*s", why_lost,
                                              len, text)
                      : kura_syslog_copy_send(log->copy, why, priority, "%.*s", len, text);
    if (rc == 1)
        kura_notice(LOG_WARNING, "audit: copies of the records to syslog are not delivered: %s (counted: "
                    "kura_audit_syslog_undelivered_total; syslog is told how many once it takes messages again)",
                    why);
}

/* Leader: takes what is queued (bounded), commits it, hands out results.
 * The detached records it wrote are put on *finished, for the leader's
 * thread to copy to syslog and free once it let go of the lock. */
static void lead(struct kura_audit_log *log, struct pending **finished, bool draining)
{
    struct pending *batch[BATCH_RECORDS];
    size_t n = 0, bytes = 0;
    while (log->q_head && n < BATCH_RECORDS && (n == 0 || bytes + log->q_head->body_len <= BATCH_BYTES)) {
        batch[n] = log->q_head;
        bytes += batch[n]->body_len;
        log->q_head = batch[n++]->next;
    }
    if (!log->q_head)
        log->q_tail = NULL;
    log->busy = true;
    log->leading = true;
    log->draining = draining;
    pthread_mutex_unlock(&log->mu);

    struct kura_err err = {0};
    struct batch_counts cnt = {0};
    struct pending *all[BATCH_RECORDS];
    memcpy(all, batch, n * sizeof *batch);
    size_t written = n;
    int rc = commit(log, batch, &written, &cnt, &err);
    if (written > 0 || rc != 0)
        atomic_store(&log->failing, rc != 0);

    pthread_mutex_lock(&log->mu);
    size_t lost = 0; /* detached closes not written: their callers were told 0 */
    for (size_t i = 0; i < n; i++) {
        struct pending *p = all[i];
        p->rc = p->held_back ? -1 : rc;
        if (p->held_back)
            kura_err_set(&p->err, ENOSPC, "audit log %s: a refusal may not use the last %" PRIu64
                         " bytes kept free for allow, close and alert records", log->path, log->reserve);
        else if (rc != 0)
            p->err = err;
        p->done = true;
        if (p->detached) {
            lost += rc != 0;
            p->next = *finished;
            *finished = p;
        }
    }
    log->stats.fdatasyncs += cnt.fdatasyncs;
    log->stats.rotations += cnt.rotations;
    log->stats.held_back += n - written;
    if (rc == 0) {
        log->stats.batches += written > 0;
        log->stats.records += written;
    } else {
        log->stats.failures += written - lost;
        log->stats.closes_lost += lost;
    }
    log->busy = false;
    log->leading = false;
    log->draining = false;
    pthread_cond_broadcast(&log->cv);
    if (log->unsynced && log->closer_idle) { /* it syncs them within sync_later_ms */
        log->closer_idle = false;
        pthread_cond_signal(&log->closer_cv);
    }
}

/* A record's copy to syslog, after its write: marked as not in the local
 * log when the write failed. */
static void copy_record(struct kura_audit_log *log, const struct pending *p, bool alert)
{
    if (log->copy && p->rc == 0)
        copy_out(log, LOG_AUTHPRIV | (alert ? LOG_WARNING : LOG_INFO), NULL, (int)p->line_len - 1, p->line);
    else if (log->copy && p->line)
        copy_out(log, LOG_AUTHPRIV | LOG_WARNING, p->err.msg, (int)p->line_len - 1, p->line);
    else if (log->copy && p->buf)
        copy_out(log, LOG_AUTHPRIV | LOG_WARNING, p->err.msg, (int)p->body_len, p->buf + HEAD_ROOM);
}

/* The detached closes a leader wrote: copied and freed, without the lock.
 * Those whose batch failed are said among the notices: their callers were
 * told 0 and cannot. */
static void finish_detached(struct kura_audit_log *log, struct pending *finished)
{
    uint64_t lost = 0;
    char why[sizeof finished->err.msg] = "";
    while (finished) {
        struct pending *next = finished->next;
        if (finished->rc != 0 && !lost++)
            snprintf(why, sizeof why, "%s", finished->err.msg);
        copy_record(log, finished, false);
        free(finished->buf);
        free(finished);
        finished = next;
    }
    if (lost)
        kura_notice(LOG_ERR, "kura audit: %" PRIu64 " close record(s) handed to the writer were not written (%s): "
                    "their handles show as not closed in the reports (counted: kura_audit_closes_lost_total)",
                    lost, why);
}

static bool queue_has_detached(const struct kura_audit_log *log)
{
    for (const struct pending *q = log->q_head; q; q = q->next)
        if (q->detached)
            return true;
    return false;
}

/* Under log->mu: waits for p to be written, leading when no one does.
 * Then, if closes detached during its batches are queued and no close
 * writer runs, they have no owner to lead for them: more batches write
 * them (with whatever is queued beside); closes that come meanwhile wait
 * for those, so none is left behind and the drain ends. p NULL (the log's
 * close): until the queue is empty. */
static void wait_and_drain(struct kura_audit_log *log, const struct pending *p, struct pending **finished)
{
    while (p ? !p->done : log->q_head != NULL) {
        if (!log->busy)
            lead(log, finished, !p);
        else
            pthread_cond_wait(&log->cv, &log->mu);
    }
    while (!log->closer_running && !log->busy && queue_has_detached(log))
        lead(log, finished, true); /* more than a batch holds: again, none new detached */
}

int kura_audit_append(struct kura_audit_log *log, const struct kura_audit_record *rec, struct kura_err *err)
{
    if (!log || !rec) {
        kura_err_set(err, EINVAL, "audit append: no log or no record");
        return -1;
    }
    /* Nothing is served after a close or a refusal, or after access ended
     * (decision deny): its record need not be durable before it returns
     * (issue 17), only written. */
    struct pending p = {.refusal = kura_audit_is_refusal(rec),
                        .sync_later = rec->event == KURA_AUDIT_CLOSE || rec->decision == KURA_AUDIT_DENY};
    p.buf = audit_body_build(rec, log->host, log->zone, HEAD_ROOM, TAIL_ROOM, &p.body_len, &p.err);
    struct pending *finished = NULL;
    pthread_mutex_lock(&log->mu);
    /* A close while a leader writes, or any close once the close writer
     * runs: it goes into the next batch and the caller does not wait
     * (nothing is served after a close; the wait and the wake-up cost a
     * third of the opens a second with 8 openers, bench/README.md).
     * Without memory to detach it, it waits. */
    struct pending *d = p.buf && rec->event == KURA_AUDIT_CLOSE && (log->leading || log->closer_running) &&
                                !log->draining
                            ? malloc(sizeof *d)
                            : NULL;
    if (!p.buf) {
        log->stats.failures++;
        p.rc = -1;
    } else if (d) {
        *d = p;
        d->detached = true;
        log->stats.detached++;
        if (log->q_tail)
            log->q_tail->next = d;
        else
            log->q_head = d;
        log->q_tail = d;
        if (log->closer_idle) {
            log->closer_idle = false;
            pthread_cond_signal(&log->closer_cv);
        }
        pthread_mutex_unlock(&log->mu);
        return 0;
    } else {
        if (log->q_tail)
            log->q_tail->next = &p;
        else
            log->q_head = &p;
        log->q_tail = &p;
        wait_and_drain(log, &p, &finished);
    }
    pthread_mutex_unlock(&log->mu);
    finish_detached(log, finished);
    /* The copy goes whatever became of the local write: the site's collector
     * then has the event even when this log could not keep it. */
    copy_record(log, &p, rec->event == KURA_AUDIT_ALERT);
    if (p.rc != 0 && err) {
        *err = p.err;
        err->code = EIO;
    }
    free(p.buf);
    return p.rc;
}

/* Under mu, with no batch in flight: records written without an fdatasync
 * wait up to sync_later_ms for a batch to sync them; then the close writer
 * does, owning the file as a leader would. */
static void sync_unsynced(struct kura_audit_log *log)
{
    struct timespec until = kura_clock_timespec(kura_clock_ms(CLOCK_MONOTONIC) + log->sync_later_ms);
    log->closer_idle = true; /* a handed-over close wakes it: closes come first */
    while (!log->closer_stop && !queue_has_detached(log) &&
           pthread_cond_timedwait(&log->closer_cv, &log->mu, &until) != ETIMEDOUT)
        ;
    log->closer_idle = false;
    if (log->closer_stop || log->busy || !log->unsynced || queue_has_detached(log))
        return; /* looked at again by the loop */
    log->busy = true;
    pthread_mutex_unlock(&log->mu);
    sync_written(log, false);
    pthread_mutex_lock(&log->mu);
    log->stats.fdatasyncs++;
    log->busy = false;
    pthread_cond_broadcast(&log->cv);
}

/* The close writer: handed-over closes wait up to linger_ms for a batch
 * of opens to take them along (one fdatasync, no batch of their own); then
 * it leads one batch for them. Records written without an fdatasync are
 * made durable within sync_later_ms. Asleep while neither is there. */
static void *close_writer(void *arg)
{
    struct kura_audit_log *log = arg;
    pthread_mutex_lock(&log->mu);
    while (!log->closer_stop) {
        if (!queue_has_detached(log)) {
            if (log->unsynced && !log->busy && log->fd >= 0) {
                sync_unsynced(log);
                continue;
            }
            log->closer_idle = true;
            pthread_cond_wait(&log->closer_cv, &log->mu);
            log->closer_idle = false;
            continue;
        }
        struct timespec until = kura_clock_timespec(kura_clock_ms(CLOCK_MONOTONIC) + log->linger_ms);
        while (!log->closer_stop && pthread_cond_timedwait(&log->closer_cv, &log->mu, &until) != ETIMEDOUT)
            ;
        if (log->closer_stop || !queue_has_detached(log))
            continue;
        if (log->busy) {
            pthread_cond_wait(&log->cv, &log->mu); /* that batch may take them: look again */
            continue;
        }
        struct pending *finished = NULL;
        lead(log, &finished, false);
        pthread_mutex_unlock(&log->mu);
        finish_detached(log, finished);
        pthread_mutex_lock(&log->mu);
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

int kura_audit_start_close_writer(struct kura_audit_log *log, unsigned linger_ms, unsigned sync_later_ms,
                                  struct kura_err *err)
{
    pthread_mutex_lock(&log->mu);
    log->linger_ms = linger_ms;
    log->sync_later_ms = sync_later_ms;
    log->closer_stop = false;
    int e = log->closer_running ? EALREADY : pthread_create(&log->closer, NULL, close_writer, log);
    if (e == 0)
        log->closer_running = true;
    pthread_mutex_unlock(&log->mu);
    if (e != 0)
        kura_err_set(err, e, "audit log %s: cannot start the close writer: %s", log->path, strerror(e));
    return e == 0 ? 0 : -1;
}

/* Stops the close writer; closes wait for their batch again (the log's
 * close then writes whatever is queued). */
static void stop_close_writer(struct kura_audit_log *log)
{
    pthread_mutex_lock(&log->mu);
    bool running = log->closer_running;
    log->closer_stop = true;
    pthread_cond_signal(&log->closer_cv);
    pthread_mutex_unlock(&log->mu);
    if (!running)
        return;
    pthread_join(log->closer, NULL);
    pthread_mutex_lock(&log->mu);
    log->closer_running = false;
    pthread_mutex_unlock(&log->mu);
}

/* Unlinks the planned files, found by identity: a rotation while the
 * records were written may have renamed them. */
static void remove_planned(struct kura_audit_log *log, const struct audit_removal *plan, size_t n, size_t *removed)
{
    char **files;
    size_t nfiles;
    struct kura_err err;
    if (kura_audit_files(log->path, &files, &nfiles, &err) != 0) {
        kura_notice(LOG_ERR, "kura audit: retention: %s; files recorded as removed are kept until the next try", err.msg);
        return;
    }
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        for (size_t k = 0; k < n && lstat(files[i], &st) == 0; k++) {
            if (st.st_dev != plan[k].dev || st.st_ino != plan[k].ino)
                continue;
            if (unlink(files[i]) == 0) {
                (*removed)++;
                kura_notice(LOG_NOTICE, "kura audit: removed %s (seq %" PRIu64 "..%" PRIu64 ") under retention_years = %u",
                            files[i], plan[k].first, plan[k].last, plan[k].years);
            } else {
                kura_notice(LOG_ERR, "kura audit: retention: remove %s: %s", files[i], strerror(errno));
            }
            break;
        }
    }
    kura_audit_files_free(files, nfiles);
    if (*removed && kura_fsync_dir(log->dir, &err) != 0)
        kura_notice(LOG_ERR, "kura audit: %s", err.msg);
}

/* One retention record: r's range removed, named as r->name. */
static char *retention_body(const struct kura_audit_log *log, const struct audit_removal *r, int64_t now_ms,
                            size_t *len, struct kura_err *err)
{
    char detail[256];
    audit_retention_detail(r, detail, sizeof detail);
    struct kura_audit_record rec;
    kura_audit_record_init(&rec);
    rec.event = KURA_AUDIT_RETENTION;
    rec.time_ms = now_ms;
    rec.path = r->name;
    rec.count = (int64_t)(r->last - r->first + 1);
    rec.detail = detail;
    return audit_body_build(&rec, log->host, log->zone, HEAD_ROOM, TAIL_ROOM, len, err);
}

int kura_audit_retain(struct kura_audit_log *log, unsigned years, int64_t now_ms, size_t *removed,
                      struct kura_err *err)
{
    size_t count = 0, written = 0;
    if (removed)
        *removed = 0;
    /* Planned with appends going on: rotated files do not change, only
     * their names; checked again under the lock, and removed by inode. */
    struct audit_retention_plan plan;
    if (audit_retention_plan(log->path, log->key, years, now_ms, &plan, err) != 0)
        return -1;
    if (plan.nfiles == 0)
        return 0;
    /* The records the removed files carry first, then one per file. */
    size_t n = plan.ncarried + plan.nfiles;
    struct pending *p = calloc(n, sizeof *p), **batch = calloc(n, sizeof *batch);
    int rc = p && batch ? 0 : -1;
    if (rc != 0)
        kura_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct audit_removal *r = i < plan.ncarried ? &plan.carried[i] : &plan.files[i - plan.ncarried];
        p[i].buf = retention_body(log, r, now_ms, &p[i].body_len, err);
        rc = p[i].buf ? 0 : -1;
        batch[i] = &p[i];
    }
    struct batch_counts cnt = {0};
    if (rc == 0) {
        /* The records and the removal hold off this process's batches and,
         * by the head file's lock, every other writer's. */
        pthread_mutex_lock(&log->mu);
        while (log->busy)
            pthread_cond_wait(&log->cv, &log->mu);
        log->busy = true;
        pthread_mutex_unlock(&log->mu);
        rc = lock_head(log, err);
        if (rc == 0) {
            if (!audit_retention_still_oldest(log->path, &plan)) {
                kura_notice(LOG_NOTICE, "kura audit: retention: the log rotated while the removal was planned; "
                                        "planned again at the next try");
            } else {
                written = n;
                /* The records first, durable: a file is never gone unaccounted for. */
                rc = commit_locked(log, batch, &written, &cnt, err);
                if (rc == 0)
                    remove_planned(log, plan.files, plan.nfiles, &count);
            }
            unlock_head(log);
        }
        pthread_mutex_lock(&log->mu);
        log->stats.fdatasyncs += cnt.fdatasyncs;
        log->stats.rotations += cnt.rotations;
        if (rc == 0 && written > 0) {
            log->stats.batches++;
            log->stats.records += written;
        }
        log->busy = false;
        pthread_cond_broadcast(&log->cv);
        pthread_mutex_unlock(&log->mu);
    }
    for (size_t i = 0; log->copy && rc == 0 && i < written; i++)
        copy_out(log, LOG_AUTHPRIV | LOG_INFO, NULL, (int)p[i].line_len - 1, p[i].line);
    for (size_t i = 0; p && i < n; i++)
        free(p[i].buf);
    free(p);
    free(batch);
    audit_retention_plan_free(&plan);
    if (removed)
        *removed = count;
    if (rc != 0)
        kura_err_prefix(err, "audit log retention");
    return rc;
}

void kura_audit_close(struct kura_audit_log *log)
{
    if (!log)
        return;
    /* Detached closes are drained by their leader before it returns, or
     * by the close writer; a queue left (its thread gone) is written now. */
    stop_close_writer(log);
    struct pending *finished = NULL;
    pthread_mutex_lock(&log->mu);
    wait_and_drain(log, NULL, &finished);
    pthread_mutex_unlock(&log->mu);
    finish_detached(log, finished);
    sync_written(log, false);
    if (log->fd >= 0)
        close(log->fd);
    if (log->head_fd >= 0)
        close(log->head_fd);
    if (log->reserve_fd >= 0)
        close(log->reserve_fd);
    kura_secure_free(log->key);
    kura_syslog_copy_free(log->copy);
    pthread_mutex_destroy(&log->mu);
    pthread_cond_destroy(&log->cv);
    pthread_cond_destroy(&log->closer_cv);
    free(log->path);
    free(log->head_path);
    free(log->dir);
    free(log->base);
    free(log);
}

static int open_reserve(struct kura_audit_log *log, struct kura_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/.%s.reserve", log->dir, log->base);
    log->reserve_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log->reserve_fd < 0 || fstat(log->reserve_fd, &st) != 0) {
        kura_err_set(err, errno, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if ((uint64_t)st.st_size > log->reserve && ftruncate(log->reserve_fd, (off_t)log->reserve) != 0) {
        kura_err_set(err, errno, "truncate %s: %s", path, strerror(errno));
        return -1;
    }
    /* Allocated, not just sized: a sparse file would hold nothing. */
    if (fallocate(log->reserve_fd, 0, 0, (off_t)log->reserve) == 0) {
        log->reserve_held = log->reserve;
    } else {
        int e = errno;
        log->reserve_held = fstat(log->reserve_fd, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
        if (log->reserve_held > log->reserve)
            log->reserve_held = log->reserve;
        kura_notice(LOG_WARNING, "kura audit: cannot set %" PRIu64 " bytes aside in %s: %s; holding %" PRIu64, log->reserve,
            path, strerror(e), log->reserve_held);
    }
    return 0;
}

struct kura_audit_log *kura_audit_open(const char *path, const unsigned char key[KURA_AUDIT_KEY_LEN],
                                       const struct kura_audit_options *opt, struct kura_err *err)
{
    static const struct kura_audit_options defaults = {0};
    if (!opt)
        opt = &defaults;
    if (!path || !*path || !key) {
        kura_err_set(err, EINVAL, "audit log: no path or no key");
        return NULL;
    }
    struct kura_audit_log *log = calloc(1, sizeof *log);
    if (!log) {
        kura_err_set(err, ENOMEM, "out of memory opening %s", path);
        return NULL;
    }
    log->fd = log->head_fd = log->reserve_fd = -1;
    pthread_mutex_init(&log->mu, NULL);
    pthread_cond_init(&log->cv, NULL);
    kura_cond_init_clock(&log->closer_cv, CLOCK_MONOTONIC);
    const char *slash = strrchr(path, '/');
    size_t hlen = strlen(path) + 16;
    log->path = strdup(path);
    log->dir = kura_dir_of(path);
    log->base = strdup(slash ? slash + 1 : path);
    log->head_path = malloc(hlen);
    log->zone = opt->zone;
    log->key = kura_secure_alloc(KURA_AUDIT_KEY_LEN);
    if (!log->path || !log->dir || !log->base || !log->head_path || !log->key) {
        kura_err_set(err, ENOMEM, "out of memory opening %s", path);
        goto fail;
    }
    if (!*log->base) {
        kura_err_set(err, EINVAL, "audit log path %s names a directory", path);
        goto fail;
    }
    kura_audit_head_path(path, log->head_path, hlen);
    memcpy(log->key, key, KURA_AUDIT_KEY_LEN);
    if (opt->syslog && !(log->copy = kura_syslog_copy_new(KURA_SYSLOG_PATH, program_invocation_short_name,
                                                          KURA_SYSLOG_RETRY_MS, KURA_SYSLOG_WAIT_MS))) {
        kura_err_set(err, ENOMEM, "out of memory opening %s", path);
        goto fail;
    }
    log->max_size = opt->max_size;
    log->reserve = opt->reserve;
    if (log->reserve && open_reserve(log, err) != 0)
        goto fail;
    if (opt->host)
        snprintf(log->host, sizeof log->host, "%s", opt->host);
    else if (gethostname(log->host, sizeof log->host - 1) != 0)
        snprintf(log->host, sizeof log->host, "unknown");

    /* Find where the chain stands now: creates the files, and refuses a log
     * this key cannot continue rather than start a chain nobody can verify. */
    if (lock_head(log, err) != 0)
        goto fail;
    struct chain_pos pos;
    struct stat hs;
    int rc = ensure_log(log, err) == 0 && resolve(log, &pos, err) == 0 ? 0 : -1;
    if (rc == 0 && pos.head_slot < 0 && fstat(log->head_fd, &hs) == 0 && hs.st_size >= 512) {
        kura_err_set(err, EKEYREJECTED, "%s does not verify with the log key: wrong key file? (if it is damaged, "
                                        "move it aside: the chain is then recovered from the log)",
                     log->head_path);
        rc = -1;
    }
    if (rc == 0 && pos.head_slot < 0) {
        struct audit_head h = {.seq = pos.c.seq, .ino = pos.ino, .size = pos.size};
        memcpy(h.hash, pos.c.hash, sizeof h.hash);
        if (audit_head_write(log->head_fd, log->key, &h, -1) != 0 || fsync(log->head_fd) != 0) {
            kura_err_set(err, errno, "write %s: %s", log->head_path, strerror(errno));
            rc = -1;
        } else {
            rc = kura_fsync_parent(log->head_path, err);
        }
    }
    unlock_head(log);
    if (rc == 0)
        return log;
    kura_err_prefix(err, "audit log");
fail:
    kura_audit_close(log);
    return NULL;
}

int kura_audit_reopen(struct kura_audit_log *log, struct kura_err *err)
{
    pthread_mutex_lock(&log->mu);
    while (log->busy)
        pthread_cond_wait(&log->cv, &log->mu);
    log->busy = true;
    pthread_mutex_unlock(&log->mu);
    /* Let go of the old file now (logrotate may compress or remove it) and
     * open the one at PATH, so a problem shows at SIGHUP, not at an open. */
    sync_written(log, false);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    int rc = lock_head(log, err);
    if (rc == 0) {
        rc = ensure_log(log, err);
        unlock_head(log);
    }
    if (rc != 0)
        kura_err_prefix(err, "reopen audit log");
    pthread_mutex_lock(&log->mu);
    log->busy = false;
    pthread_cond_broadcast(&log->cv);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

bool kura_audit_failing(struct kura_audit_log *log)
{
    return atomic_load_explicit(&log->failing, memory_order_relaxed);
}

void kura_audit_get_stats(struct kura_audit_log *log, struct kura_audit_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!log)
        return;
    pthread_mutex_lock(&log->mu);
    *out = log->stats;
    pthread_mutex_unlock(&log->mu);
    out->syslog_undelivered = kura_syslog_copy_undelivered(log->copy);
}

struct durable_ctx {
    struct kura_audit_log *writer;
    kura_audit_line_fn fn;
    void *ctx;
};

/* Called under the head file's shared lock: every batch in the file was
 * written whole, with unsynced_from set before it if it was not synced. */
static int offer_durable(uint64_t seq, const char *line, size_t len, void *ctx)
{
    const struct durable_ctx *d = ctx;
    uint64_t from = atomic_load(&d->writer->unsynced_from);
    if (from && seq >= from)
        return 1; /* offered again by a read after the sync */
    return d->fn(seq, line, len, d->ctx);
}

int kura_audit_read_durable_after(struct kura_audit_log *writer, uint64_t after, struct kura_audit_cursor *cur,
                                  kura_audit_line_fn fn, void *ctx, struct kura_err *err)
{
    struct durable_ctx d = {writer, fn, ctx};
    return kura_audit_read_after(writer->path, after, cur, offer_durable, &d, err);
}

int kura_audit_written_seq(struct kura_audit_log *log, uint64_t *seq, struct kura_err *err)
{
    /* A descriptor of its own: the writers' may be replaced mid-batch. */
    int fd = open(log->head_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct audit_head h;
    int slot, found = fd < 0 ? (errno == ENOENT ? 0 : -1) : audit_head_read(fd, log->key, &h, &slot);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (found < 0) {
        kura_err_set(err, e, "read %s: %s", log->head_path, strerror(e));
        return -1;
    }
    *seq = found ? h.seq : 0;
    return 0;
}
