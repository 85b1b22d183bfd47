/* Collects the caller's process facts from /proc (see kura/procinfo.h).
 * Every process is read through its own /proc/PID directory fd, every read
 * is bounded, and a failed read leaves a fact out (with a flag) rather than
 * failing the whole collection: the guard decides what missing facts mean. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kura/error.h"
#include "kura/fsutil.h"
#include "kura/proccache.h"
#include "kura/procinfo.h"

#define STAT_READ 4096    /* one line; comm inside is at most 64 bytes */
#define STATUS_READ 16384 /* ~1.5 KiB in practice */
#define LOGINUID_READ 32
#define SCRATCH_SIZE STATUS_READ /* holds any of the reads above and cmdline */
_Static_assert(KURA_PROC_CMDLINE_READ <= SCRATCH_SIZE && STAT_READ <= SCRATCH_SIZE &&
               KURA_PROC_COMM_MAX <= SCRATCH_SIZE, "scratch buffer too small");

/* A process's /proc/PID directory, and whether it is on the kernel's
 * procfs, whose files there are all regular: a fake tree's (the tests')
 * are checked before they are read. */
struct proc_dir {
    int fd;
    bool procfs;
};

/* Reads at most cap bytes of dir/name into buf. *more is set when the file
 * holds more than cap bytes. Only regular files are read (a hostile fake
 * tree cannot hand over a FIFO or a device). Returns the length or -1. */
static ssize_t read_bounded(struct proc_dir dir, const char *name, char *buf, size_t cap, bool *more)
{
    int fd = openat(dir.fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    if (!dir.procfs && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(fd);
        return -1;
    }
    ssize_t got = kura_read_full(fd, buf, cap);
    if (got < 0) {
        sodium_memzero(buf, cap); /* the caller never sees (or wipes) a failed read */
        close(fd);
        return -1;
    }
    size_t len = (size_t)got;
    if (more) {
        *more = false;
        char extra;
        ssize_t r;
        while (len == cap && (r = read(fd, &extra, 1)) != 0) {
            if (r > 0) {
                *more = true;
                break;
            }
            if (errno != EINTR)
                break;
        }
    }
    close(fd);
    return (ssize_t)len;
}

static int open_pid_dir(int rootfd, pid_t pid)
{
    char name[24];
    snprintf(name, sizeof name, "%d", (int)pid);
    return openat(rootfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

static bool same_inode(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Every directory above path (absolute) up to / is a real directory owned
 * by root and not writable by group or others: nobody but root can rename,
 * replace or add files along the way. */
static bool dirs_safe(const char *path)
{
    char dir[KURA_PROC_EXE_MAX];
    size_t n = strlen(path);
    if (path[0] != '/' || n >= sizeof dir)
        return false;
    memcpy(dir, path, n + 1);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            return false;
        if (slash == dir)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        struct stat st;
        if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
            (st.st_mode & (S_IWGRP | S_IWOTH)))
            return false;
        if (slash == dir)
            return true;
    }
}

/* The executable is built like a dynamic loader (kura_procinfo_elf_is_loader),
 * read through the kernel's link, so it is the file that was exec'd. */
static bool exe_built_as_loader(int dirfd)
{
    int fd = openat(dirfd, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return false;
    unsigned char head[4096];
    ssize_t n = kura_pread_full(fd, head, sizeof head, 0);
    close(fd);
    return n > 0 && kura_procinfo_elf_is_loader(head, (size_t)n);
}

static void read_exe(int dirfd, struct kura_proc *p)
{
    char buf[KURA_PROC_EXE_MAX];
    ssize_t n = readlinkat(dirfd, "exe", buf, sizeof buf);
    if (n < 0 && (errno == EACCES || errno == EPERM))
        p->flags |= KURA_PROC_EXE_HIDDEN;
    if (n <= 0 || (size_t)n >= sizeof buf) /* gone, kernel thread, or too long to trust */
        return;
    buf[n] = '\0';

    /* Following the link reaches the inode that was exec'd, even if its
     * path is deleted or means something else in our mount namespace. */
    struct stat exe_st, path_st;
    bool have_stat = fstatat(dirfd, "exe", &exe_st, 0) == 0;

    static const char deleted[] = " (deleted)";
    const size_t dlen = sizeof deleted - 1;
    if ((size_t)n > dlen && memcmp(buf + n - dlen, deleted, dlen) == 0 &&
        !(have_stat && stat(buf, &path_st) == 0 && same_inode(&exe_st, &path_st))) {
        /* (A file literally named "x (deleted)" is still there as that inode.) */
        buf[n - dlen] = '\0';
        p->flags |= KURA_PROC_EXE_DELETED;
    }
    memcpy(p->exe, buf, strlen(buf) + 1);
    p->have |= KURA_PROC_HAVE_EXE;
    if (kura_procinfo_loader_name(kura_procinfo_basename(p->exe)) ||
        (have_stat && S_ISREG(exe_st.st_mode) && exe_built_as_loader(dirfd)))
        p->flags |= KURA_PROC_EXE_LOADER;

    if (!have_stat)
        return;
    p->exe_dev = exe_st.st_dev;
    p->exe_ino = exe_st.st_ino;
    p->exe_uid = exe_st.st_uid;
    p->exe_gid = exe_st.st_gid;
    p->exe_mode = exe_st.st_mode;
    p->exe_path_matches = p->exe[0] == '/' && stat(p->exe, &path_st) == 0 &&
                          same_inode(&exe_st, &path_st);
    p->exe_dirs_safe = dirs_safe(p->exe);
    p->have |= KURA_PROC_HAVE_EXE_STAT;
}

/* The files a process has mapped executable: the program a loader runs
 * (whatever name it was started by) and the caller's libraries. */
static void read_maps(struct proc_dir dir, struct kura_proc *p)
{
    char *buf = malloc(KURA_PROC_MAPS_READ);
    if (!buf)
        return;
    bool more;
    ssize_t n = read_bounded(dir, "maps", buf, KURA_PROC_MAPS_READ, &more);
    if (n >= 0) {
        kura_procinfo_parse_maps(buf, (size_t)n, more, p);
        p->have |= KURA_PROC_HAVE_MAPS;
    }
    free(buf);
}

static void read_cmdline(struct proc_dir dir, struct kura_proc *p, char *scratch)
{
    bool more;
    ssize_t n = read_bounded(dir, "cmdline", scratch, KURA_PROC_CMDLINE_READ, &more);
    if (n >= 0) { /* empty for zombies and kernel threads */
        kura_procinfo_parse_cmdline(scratch, (size_t)n, more, p);
        p->have |= KURA_PROC_HAVE_CMDLINE;
    }
}

/* A user's environment may hold their secrets (tokens, passwords): only
 * the address is kept, and the bytes read are wiped at once, so no freed
 * heap page (swap, a later allocation) carries them on. */
static void read_ssh_client(struct proc_dir dir, struct kura_proc *p)
{
    char *buf = malloc(KURA_PROC_ENVIRON_READ);
    if (!buf)
        return;
    bool more;
    ssize_t n = read_bounded(dir, "environ", buf, KURA_PROC_ENVIRON_READ, &more);
    if (n > 0 && !kura_procinfo_parse_ssh_client(buf, (size_t)n, p->env_ssh_client,
                                                 sizeof p->env_ssh_client))
        p->env_ssh_client[0] = '\0';
    if (n > 0)
        sodium_memzero(buf, (size_t)n);
    free(buf);
}

bool kura_procinfo_read_ids(int dirfd, struct kura_proc *p)
{
    char scratch[STATUS_READ];
    ssize_t n = read_bounded((struct proc_dir){dirfd, false}, "status", scratch, sizeof scratch, NULL);
    return n > 0 && kura_procinfo_parse_status(scratch, (size_t)n, p) == 0;
}

/* Reads one process through its /proc/PID directory; unread facts stay
 * unset in p->have. Returns false when a guard-relevant fact is missing. */
static bool read_proc(struct proc_dir dir, pid_t pid, bool caller, struct kura_proc *p, char *scratch)
{
    memset(p, 0, sizeof *p);
    p->pid = pid;
    ssize_t n;

    n = read_bounded(dir, "stat", scratch, STAT_READ, NULL);
    if (n > 0 && kura_procinfo_parse_stat(scratch, (size_t)n, &p->ppid, &p->start_time,
                                          &p->exiting) == 0)
        p->have |= KURA_PROC_HAVE_STAT;

    n = read_bounded(dir, "status", scratch, STATUS_READ, NULL);
    if (n > 0 && kura_procinfo_parse_status(scratch, (size_t)n, p) == 0)
        p->have |= KURA_PROC_HAVE_STATUS;

    n = read_bounded(dir, "comm", scratch, sizeof p->comm, NULL);
    if (n > 0) {
        size_t len = strnlen(scratch, (size_t)n);
        if (len > 0 && scratch[len - 1] == '\n')
            len--; /* the kernel's terminator; a newline inside the name stays */
        if (len >= sizeof p->comm)
            len = sizeof p->comm - 1;
        memcpy(p->comm, scratch, len);
        p->comm[len] = '\0';
        p->have |= KURA_PROC_HAVE_COMM;
    }

    read_exe(dir.fd, p);
    /* The caller's maps always (a copy of the loader under another name
     * still maps the program it runs); an ancestor's when it is a loader. */
    if (caller || (p->flags & KURA_PROC_EXE_LOADER))
        read_maps(dir, p);

    read_cmdline(dir, p, scratch);
    read_ssh_client(dir, p);

    const unsigned needed = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_STATUS | KURA_PROC_HAVE_COMM |
                            KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT | KURA_PROC_HAVE_CMDLINE;
    return (p->have & needed) == needed;
}

static void read_loginuid(struct proc_dir dir, struct kura_procinfo *out)
{
    char buf[LOGINUID_READ];
    ssize_t n = read_bounded(dir, "loginuid", buf, sizeof buf - 1, NULL);
    if (n <= 0)
        return;
    size_t len = (size_t)n;
    if (buf[len - 1] == '\n')
        len--;
    uint64_t v = 0;
    if (len == 0 || len > 10)
        return;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return;
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    if (v >= UINT32_MAX) /* 4294967295: no login session (daemons, boot) */
        return;
    out->loginuid = (uint32_t)v;
    out->loginuid_set = true;
}

static bool is_ssh_server(const struct kura_proc *p)
{
    if (!(p->have & KURA_PROC_HAVE_EXE))
        return false;
    const char *base = kura_procinfo_basename(p->exe);
    return strcmp(base, "sshd") == 0 || strcmp(base, "sshd-session") == 0;
}

/* The session process sshd started holds sshd's own record of the
 * connection; later processes inherit whatever their parents chose. */
static void pick_ssh_client(struct kura_procinfo *out)
{
    const struct kura_proc *from = NULL;
    for (size_t i = 0; i + 1 < out->n; i++) {
        if (is_ssh_server(&out->chain[i + 1])) {
            if (out->chain[i].env_ssh_client[0]) {
                from = &out->chain[i];
                out->ssh_client_from_session = true;
            }
            break;
        }
    }
    for (size_t i = 0; i < out->n && !from; i++)
        if (out->chain[i].env_ssh_client[0])
            from = &out->chain[i];
    if (!from)
        return;
    memcpy(out->ssh_client, from->env_ssh_client, sizeof out->ssh_client);
    out->ssh_client_pid = from->pid;
}

static bool in_chain(const struct kura_procinfo *out, pid_t pid)
{
    for (size_t i = 0; i < out->n; i++)
        if (out->chain[i].pid == pid)
            return true;
    return false;
}

/* The parent opened as pfd is still cur's parent and is not a later process
 * that reused the pid: cur's ppid, re-read now that pfd pins the parent,
 * still names it, and the parent started no later than cur. */
static bool parent_confirmed(struct proc_dir cur_dir, const struct kura_proc *cur, const struct kura_proc *parent,
                             char *scratch)
{
    pid_t ppid;
    uint64_t start;
    ssize_t n = read_bounded(cur_dir, "stat", scratch, STAT_READ, NULL);
    if (n <= 0 || kura_procinfo_parse_stat(scratch, (size_t)n, &ppid, &start, NULL) != 0)
        return false;
    return ppid == cur->ppid && (parent->have & KURA_PROC_HAVE_STAT) &&
           parent->start_time <= cur->start_time;
}

/* Facts worth keeping: every one read, or the executable hidden by the
 * kernel (a sandbox's init), which stays so; a read that failed otherwise
 * may succeed next time. */
static bool all_stable(const struct kura_proc *chain, size_t n)
{
    const unsigned names = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_STATUS | KURA_PROC_HAVE_COMM |
                           KURA_PROC_HAVE_CMDLINE;
    const unsigned exe = KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT;
    for (size_t i = 0; i < n; i++)
        if ((chain[i].have & names) != names ||
            ((chain[i].have & exe) != exe && !(chain[i].flags & KURA_PROC_EXE_HIDDEN)))
            return false;
    return true;
}

/* The (pid, start time) a cache entry is keyed by, from dir's stat. */
static bool read_key(struct proc_dir dir, uint64_t *start, char *scratch)
{
    pid_t ppid;
    ssize_t n = read_bounded(dir, "stat", scratch, STAT_READ, NULL);
    return n > 0 && kura_procinfo_parse_stat(scratch, (size_t)n, &ppid, start, NULL) == 0;
}

/* The executable link still reads as when p was read: not replaced on disk
 * (" (deleted)") nor swapped by prctl(PR_SET_MM_EXE_FILE), which sends no
 * event. */
static bool exe_link_unchanged(int dirfd, const struct kura_proc *p)
{
    char now[KURA_PROC_EXE_MAX], then[KURA_PROC_EXE_MAX];
    ssize_t n = readlinkat(dirfd, "exe", now, sizeof now);
    int len = snprintf(then, sizeof then, "%s%s", p->exe,
                       (p->flags & KURA_PROC_EXE_DELETED) ? " (deleted)" : "");
    return n > 0 && len > 0 && (size_t)n == (size_t)len && memcmp(now, then, (size_t)n) == 0;
}

/* Takes the rest of the chain, from the process open as fd (at out->n),
 * from the cache. The caller's command line is its own memory, read afresh. */
static bool chain_from_cache(struct kura_proccache *cache, struct proc_dir dir, pid_t pid,
                             struct kura_procinfo *out, uint64_t *start, char *scratch)
{
    size_t i = out->n;
    if (!read_key(dir, start, scratch))
        return false;
    size_t got = kura_proccache_chain(cache, pid, *start, out->chain + i, KURA_PROC_CHAIN_MAX - i);
    if (got == 0)
        return false;
    if (i == 0) {
        if (!exe_link_unchanged(dir.fd, &out->chain[0]))
            return false;
        read_cmdline(dir, &out->chain[0], scratch);
    }
    out->n += got;
    return true;
}

int kura_procinfo_collect(const char *proc_root, pid_t pid, struct kura_procinfo *out,
                          struct kura_err *err)
{
    return kura_procinfo_collect_cached(proc_root, NULL, pid, out, err);
}

/* Clears out but for chain[1..]: 170 KiB, most of it never read (issue 17).
 * Entries past n are not looked at, and each one filled is filled whole
 * (read_proc clears it first, the cache copies whole entries); chain[0] is
 * cleared, as the audit record reads it when n is 0. */
static void clear_procinfo(struct kura_procinfo *out)
{
    memset(out, 0, offsetof(struct kura_procinfo, chain) + sizeof out->chain[0]);
    const size_t tail = offsetof(struct kura_procinfo, chain) + sizeof out->chain;
    memset((char *)out + tail, 0, sizeof *out - tail);
}

/* The kernel's /proc, opened once and kept: the daemon reads it at every
 * open of a file (issue 17); -1 when it could not be opened. */
static int kernel_proc = -1;
static bool kernel_proc_is_procfs;
static pthread_once_t kernel_proc_once = PTHREAD_ONCE_INIT;

static void open_kernel_proc(void)
{
    kernel_proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct statfs fs;
    kernel_proc_is_procfs = kernel_proc >= 0 && fstatfs(kernel_proc, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

/* proc_root opened (a fake tree, or /proc when the kept one could not be
 * opened), or the kept /proc (*owned false). Returns -1 with errno. */
static int open_root(const char *proc_root, bool *owned, bool *procfs)
{
    *owned = false;
    *procfs = false;
    if (!proc_root) {
        pthread_once(&kernel_proc_once, open_kernel_proc);
        if (kernel_proc >= 0) {
            *procfs = kernel_proc_is_procfs;
            return kernel_proc;
        }
        proc_root = "/proc";
    }
    int fd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *owned = fd >= 0;
    return fd;
}

int kura_procinfo_collect_cached(const char *proc_root, struct kura_proccache *cache, pid_t pid,
                                 struct kura_procinfo *out, struct kura_err *err)
{
    clear_procinfo(out);
    out->flags = KURA_PROCINFO_GONE;
    if (pid <= 0) {
        kura_err_set(err, EINVAL, "process facts: invalid pid %d", (int)pid);
        return -1;
    }
    bool owned, procfs;
    int rootfd = open_root(proc_root, &owned, &procfs);
    if (rootfd < 0) {
        int e = errno;
        kura_err_set(err, e, "process facts: cannot open %s: %s", proc_root ? proc_root : "/proc", strerror(e));
        return -1;
    }
    char *scratch = malloc(SCRATCH_SIZE);
    if (!scratch) {
        if (owned)
            close(rootfd);
        kura_err_set(err, ENOMEM, "process facts: out of memory");
        return -1;
    }
    int fds[KURA_PROC_CHAIN_MAX];
    int fd = open_pid_dir(rootfd, pid);
    if (fd < 0) {
        free(scratch);
        if (owned)
            close(rootfd);
        kura_err_set(err, ESRCH, "process facts: process %d has exited", (int)pid);
        return -1;
    }
    out->flags = 0;
    uint64_t tickets[KURA_PROC_CHAIN_MAX];
    size_t nread = 0;          /* chain[0 .. nread) read now, through fds */
    size_t nfds = 0;
    pid_t tail_pid = 0;        /* the first process taken from the cache */
    uint64_t tail_start = 0;
    bool exiting = false;

    for (pid_t next = pid;;) {
        size_t i = out->n;
        uint64_t start;
        if (cache && chain_from_cache(cache, (struct proc_dir){fd, procfs}, next, out, &start, scratch)) {
            if (i > 0 && !parent_confirmed((struct proc_dir){fds[i - 1], procfs}, &out->chain[i - 1], &out->chain[i],
                                           scratch)) {
                memset(&out->chain[i], 0, (out->n - i) * sizeof out->chain[i]);
                out->n = i;
                out->flags |= KURA_PROCINFO_CHAIN_BROKEN;
                close(fd);
                break;
            }
            tail_pid = next;
            tail_start = start;
            if (i == 0)
                fds[nfds++] = fd; /* for the login uid */
            else
                close(fd);
            break;
        }
        /* Reserved before reading: an event from here on voids what is read. */
        tickets[i] = cache ? kura_proccache_reserve(cache, next) : 0;
        struct kura_proc *p = &out->chain[i];
        bool complete = read_proc((struct proc_dir){fd, procfs}, next, i == 0, p, scratch);
        if (i > 0 && !parent_confirmed((struct proc_dir){fds[i - 1], procfs}, &out->chain[i - 1], p, scratch)) {
            memset(p, 0, sizeof *p);
            close(fd);
            out->flags |= KURA_PROCINFO_CHAIN_BROKEN;
            break;
        }
        if (!complete)
            out->flags |= KURA_PROCINFO_PARTIAL;
        exiting |= p->exiting;
        fds[nfds++] = fd;
        nread = ++out->n;

        if (!(p->have & KURA_PROC_HAVE_STAT)) {
            out->flags |= KURA_PROCINFO_CHAIN_BROKEN; /* cannot know its parent */
            break;
        }
        if (p->ppid == 0)
            break; /* pid 1 (or a kernel thread): the chain is complete */
        if (out->n == KURA_PROC_CHAIN_MAX) {
            out->flags |= KURA_PROCINFO_CHAIN_TRUNCATED;
            break;
        }
        if (in_chain(out, p->ppid)) {
            out->flags |= KURA_PROCINFO_CHAIN_BROKEN; /* only a fake tree can loop */
            break;
        }
        next = p->ppid;
        fd = open_pid_dir(rootfd, next);
        if (fd < 0) {
            out->flags |= KURA_PROCINFO_CHAIN_BROKEN;
            break;
        }
    }

    if (cache && nread > 0)
        kura_proccache_fill(cache, tickets, out->chain, nread, tail_pid, tail_start,
                            !(out->flags & ~KURA_PROCINFO_PARTIAL) && !exiting &&
                                all_stable(out->chain, nread));
    if (nfds > 0)
        read_loginuid((struct proc_dir){fds[0], procfs}, out);
    pick_ssh_client(out);
    for (size_t i = 0; i < nfds; i++)
        close(fds[i]);
    free(scratch);
    if (owned)
        close(rootfd);
    return 0;
}
