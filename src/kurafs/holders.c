/* [revocation] end_processes (kura.conf(5)): when access may have ended, a
 * process that still holds open or maps a file of the mount its user opened
 * and may no longer read is killed, each with a record. Refusing reads
 * cannot reach such a process: the kernel asks FUSE nothing when a
 * descriptor is mapped, and a private mapping reads, unrecorded, whatever
 * pages a still listed user's reads bring back into the file's cache
 * (docs/security.md, section 3). Found through /proc: every thread's
 * descriptor table (a thread may have its own, and the leader may have
 * exited) by the path each descriptor links to under the mount point, and
 * the mappings, by the mount's device, read whole line by line. Only the
 * processes of a user with a handle open are looked into, and a descriptor
 * table shared by threads only once (kcmp): a user holding a file open
 * with thousands of threads and descriptors would otherwise make each
 * look, and the revocation waiting for it, take threads x descriptors
 * readlinks. Not seen:
 * processes in another mount namespace, a descriptor in flight in a Unix
 * socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "decide.h"
#include "handle.h"
#include "kura/procinfo.h"
#include "kurafs.h"

/* Looks again until a look finds no one: a holder may fork between the
 * look and the kill. */
#define HOLDER_LOOKS 5
#define HOLDERS_ENDED_MAX 4096     /* pids remembered, so a dying one is recorded once */
#define TABLES_KNOWN 16            /* distinct descriptor tables of a process remembered */

struct look {
    struct kurafs *fs;
    const struct kura_catalog *cat;
    int64_t now;
    struct caller who;             /* the process: its fsuid, as FUSE requests carry */
    const struct kura_node *node;  /* the file it may no longer read */
    enum kura_reason reason;
};

/* 1 if path (len bytes, as the kernel names it) is a file of the mount that
 * the process may no longer read and that its user opened (the handle still
 * held); 0 otherwise: a directory (no pages), a file gone from the catalog
 * (no one can bring its pages back), and a descriptor that reached another
 * user's process (a root shell from `sudo` inherits the user's descriptors:
 * it is not the removed user). */
static int refused(struct look *l, const char *path, size_t len)
{
    const char *mnt = l->fs->mountpoint;
    size_t mlen = strlen(mnt);
    char rel[PATH_MAX];
    if (len <= mlen || memcmp(path, mnt, mlen) != 0 || path[mlen] != '/' || len - mlen >= sizeof rel)
        return 0;
    memcpy(rel, path + mlen, len - mlen);
    rel[len - mlen] = '\0';
    const struct kura_node *n = kura_catalog_lookup(l->cat, rel);
    if (!n || n->type != KURA_NODE_FILE)
        return 0;
    if (!kurafs_pagecache_opened_by(&l->fs->pagecache, n->path, l->who.uid))
        return 0;
    enum kura_reason reason = decide_visible(l->fs, l->cat, n, &l->who, l->now).reason;
    if (reason == KURA_ALLOW)
        return 0;
    l->node = n;
    l->reason = reason;
    return 1;
}

static int mapped_refused(const char *path, size_t len, void *arg)
{
    return refused(arg, path, len);
}

/* Whether one descriptor table (a task's fd directory) holds a refused file. */
static bool table_refused(struct look *l, int taskfd)
{
    int fdd = openat(taskfd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fdd >= 0 ? fdopendir(fdd) : NULL;
    if (!d && fdd >= 0)
        close(fdd);
    bool found = false;
    char link[PATH_MAX];
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        ssize_t n = e->d_name[0] == '.' ? -1 : readlinkat(dirfd(d), e->d_name, link, sizeof link);
        found = n > 0 && (size_t)n < sizeof link && refused(l, link, (size_t)n);
    }
    if (d)
        closedir(d);
    return found;
}

/* Whether a task's mappings (its process's) hold a refused file; read line
 * by line, so no size is too large to look at. *read: lines were read. */
static bool maps_refused(struct look *l, int taskfd, bool *read)
{
    int fd = openat(taskfd, "maps", O_RDONLY | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    bool found = false;
    while (!found && (n = getline(&line, &cap, f)) > 0) {
        *read = true;
        found = kura_procinfo_maps_on_device(line, (size_t)n, l->fs->mount_dev, mapped_refused, l) == 1;
    }
    free(line);
    fclose(f);
    return found;
}

static bool pid_name(const char *s, pid_t *pid)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 1 || v > INT32_MAX)
        return false;
    *pid = (pid_t)v;
    return true;
}

/* Whether the process (its /proc directory, open) holds or maps a refused
 * file: through every thread, the leader's entry being empty once it has
 * exited and a thread's table its own after unshare(CLONE_FILES). */
static bool holds_refused(struct look *l, int piddir)
{
    int tfd = openat(piddir, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *tasks = tfd >= 0 ? fdopendir(tfd) : NULL;
    if (!tasks) {
        if (tfd >= 0)
            close(tfd);
        return false; /* gone */
    }
    bool found = false, maps_read = false;
    pid_t looked[TABLES_KNOWN]; /* a task of each table looked through */
    size_t nlooked = 0;
    for (struct dirent *e; !found && (e = readdir(tasks));) {
        pid_t tid;
        if (e->d_name[0] == '.' || !pid_name(e->d_name, &tid))
            continue;
        bool seen = false;
        for (size_t i = 0; i < nlooked && !seen; i++)
            seen = syscall(SYS_kcmp, looked[i], tid, KCMP_FILES, 0, 0) == 0;
        int task = seen ? -1 : openat(dirfd(tasks), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (task < 0)
            continue;
        found = table_refused(l, task) || (!maps_read && maps_refused(l, task, &maps_read));
        close(task);
        if (nlooked < TABLES_KNOWN)
            looked[nlooked++] = tid;
    }
    closedir(tasks);
    return found;
}

/* Kills the process through a pidfd taken before its /proc was read, so a
 * pid reused since is never hit (by its pid where no pidfd could be had).
 * 0, or the errno. */
static int kill_process(int pidfd, pid_t pid)
{
    long rc = pidfd >= 0 ? syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) : kill(pid, SIGKILL);
    return rc == 0 ? 0 : errno;
}

/* One look through /proc: kills each holder not killed before (ended), and
 * records it, or that it could not be killed. Returns how many it killed. */
static unsigned look_once(struct look *l, struct kura_proc *p, pid_t *ended, size_t *nended)
{
    DIR *proc = opendir("/proc");
    if (!proc) {
        kura_notice(LOG_ERR, "kurafs: cannot list /proc to end the processes of ended access: %s", strerror(errno));
        return 0;
    }
    unsigned killed = 0;
    pid_t self = getpid();
    for (struct dirent *e; (e = readdir(proc));) {
        pid_t pid;
        if (!pid_name(e->d_name, &pid) || pid == self)
            continue;
        bool seen = false;
        for (size_t i = 0; i < *nended && !seen; i++)
            seen = ended[i] == pid;
        if (seen)
            continue;
        int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0 && errno == ESRCH)
            continue;
        int piddir = openat(dirfd(proc), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* Only a user with a handle open can hold one: others cost a status read. */
        bool holder = piddir >= 0 && kura_procinfo_read_ids(piddir, p) && handle_held(l->fs, p->fsuid);
        if (holder) {
            l->who = (struct caller){.uid = p->fsuid, .gid = p->gid, .pid = pid};
            l->node = NULL;
            holder = holds_refused(l, piddir);
        }
        if (piddir >= 0)
            close(piddir);
        if (!holder) {
            if (pidfd >= 0)
                close(pidfd);
            continue;
        }
        caller_collect_process(l->fs, &l->who); /* the record names the program */
        int err = kill_process(pidfd, pid);
        if (pidfd >= 0)
            close(pidfd);
        if (err == ESRCH) {
            caller_clear(&l->who);
            continue; /* it ended on its own */
        }
        if (*nended < HOLDERS_ENDED_MAX)
            ended[(*nended)++] = pid;
        const struct kura_catalog_dataset *ds;
        const struct kura_file *f;
        decide_target(l->cat, l->node, &ds, &f);
        audit_holder_ended(l->fs, &l->who, &(struct audit_file){.dataset = ds ? ds->ds.id : NULL, .path = l->node->path},
                           kura_reason_name(l->reason), err);
        if (err)
            kura_notice(LOG_ERR, "kurafs: cannot end process %d of uid %u, which holds %s after its access ended: %s "
                        "(the daemon needs CAP_KILL)", (int)pid, (unsigned)l->who.uid, l->node->path, strerror(err));
        else
            killed++;
        caller_clear(&l->who);
    }
    closedir(proc);
    return killed;
}

unsigned kurafs_end_holders(struct kurafs *fs)
{
    /* A node that lost its lease, or holds a change's restriction, refuses
     * for now, not for good: the committed change ends what it ends. */
    if (!fs->cfg->end_processes || !fs->mountpoint || !handle_held(fs, (uid_t)-1) ||
        decide_lease_ended(fs) || atomic_load(&fs->restrictions.any))
        return 0;
    struct kura_proc *p = calloc(1, sizeof *p);
    pid_t *ended = calloc(HOLDERS_ENDED_MAX, sizeof *ended);
    if (!p || !ended) {
        kura_notice(LOG_ERR, "kurafs: out of memory: the processes of ended access were not looked for");
        free(p);
        free(ended);
        return 0;
    }
    struct snapshot *snap = snapshot_acquire(fs);
    struct look l = {.fs = fs, .cat = snap->cat, .now = kurafs_now()};
    size_t nended = 0;
    unsigned killed = 0, now;
    int looks = 0;
    while (looks < HOLDER_LOOKS && (now = look_once(&l, p, ended, &nended)) > 0) {
        killed += now;
        looks++;
    }
    if (looks == HOLDER_LOOKS)
        kura_notice(LOG_ERR, "kurafs: processes of ended access were still found after %d looks", HOLDER_LOOKS);
    snapshot_release(snap);
    free(ended);
    free(p);
    return killed;
}
