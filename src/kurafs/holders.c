/* [revocation] end_processes (kura.conf(5)): when access may have ended, a
 * process that still holds open or maps a file of the mount its user may
 * no longer read is killed, each with a record. Refusing reads cannot
 * reach such a process: the kernel asks FUSE nothing when a descriptor is
 * mapped, and a private mapping reads, unrecorded, whatever pages a still
 * listed user's reads bring back into the file's cache (docs/security.md,
 * section 3). Found through /proc: descriptors by the path they link to
 * (under the mount point), mappings by the mount's device in maps. Not
 * seen: processes in another mount namespace, and a descriptor in flight
 * in a Unix socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "decide.h"
#include "kura/fsutil.h"
#include "kura/procinfo.h"
#include "kurafs.h"

/* Looks again until a look finds no one: a holder may fork between the
 * look and the kill. */
#define HOLDER_LOOKS 5
#define HOLDERS_ENDED_MAX 4096     /* pids remembered, so a dying one is recorded once */
#define STATUS_MAX (64u << 10)
#define MAPS_MAX (16u << 20)       /* 65,530 mappings (vm.max_map_count) of long names */

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

/* Whether process pid (its /proc entry name) holds or maps a refused file. */
static bool holds_refused(struct look *l, int procfd, const char *pid)
{
    char sub[NAME_MAX + sizeof "/fd"];
    snprintf(sub, sizeof sub, "%s/fd", pid);
    int fdd = openat(procfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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
    if (found)
        return true;
    char path[sizeof "/proc//maps" + NAME_MAX], *maps = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    if (kura_read_file(path, MAPS_MAX, &maps, &len, NULL) != 0)
        return false; /* gone, or a kernel thread */
    found = kura_procinfo_maps_on_device(maps, len, l->fs->mount_dev, mapped_refused, l) == 1;
    free(maps);
    return found;
}

/* The fsuid of process pid (its /proc entry name); false when it is gone. */
static bool process_fsuid(const char *pid, struct kura_proc *p)
{
    char path[sizeof "/proc//status" + NAME_MAX], *status = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    if (kura_read_file(path, STATUS_MAX, &status, &len, NULL) != 0)
        return false;
    bool ok = kura_procinfo_parse_status(status, len, p) == 0;
    free(status);
    return ok;
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

/* One look through /proc: kills each holder not killed before (ended), and
 * records it. Returns how many it killed. */
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
        if (seen || !process_fsuid(e->d_name, p))
            continue;
        l->who = (struct caller){.uid = p->fsuid, .gid = p->gid, .pid = pid};
        l->node = NULL;
        if (!holds_refused(l, dirfd(proc), e->d_name))
            continue;
        if (kill(pid, SIGKILL) != 0)
            continue; /* it ended on its own */
        killed++;
        if (*nended < HOLDERS_ENDED_MAX)
            ended[(*nended)++] = pid;
        const struct kura_catalog_dataset *ds;
        const struct kura_file *f;
        decide_target(l->cat, l->node, &ds, &f);
        audit_holder_ended(l->fs, &l->who, &(struct audit_file){.dataset = ds ? ds->ds.id : NULL, .path = l->node->path},
                           kura_reason_name(l->reason));
    }
    closedir(proc);
    return killed;
}

void kurafs_end_holders(struct kurafs *fs)
{
    if (!fs->cfg->end_processes || !fs->mountpoint || !kurafs_pagecache_any_open(&fs->pagecache))
        return;
    struct kura_proc *p = calloc(1, sizeof *p);
    pid_t *ended = calloc(HOLDERS_ENDED_MAX, sizeof *ended);
    if (!p || !ended) {
        kura_notice(LOG_ERR, "kurafs: out of memory: the processes of ended access were not looked for");
        free(p);
        free(ended);
        return;
    }
    struct snapshot *snap = snapshot_acquire(fs);
    struct look l = {.fs = fs, .cat = snap->cat, .now = kurafs_now()};
    size_t nended = 0;
    int looks = 0;
    while (looks < HOLDER_LOOKS && look_once(&l, p, ended, &nended) > 0)
        looks++;
    if (looks == HOLDER_LOOKS)
        kura_notice(LOG_ERR, "kurafs: processes of ended access were still found after %d looks", HOLDER_LOOKS);
    snapshot_release(snap);
    free(ended);
    free(p);
}
