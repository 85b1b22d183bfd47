/* Acting on the caller's files with the caller's rights.
 *
 * In the daemon (root), `dataset import` and its --remove-source reach files
 * named by the caller, an operator who need not be root (group kura-admin).
 * Opening them as root would let that operator import or delete any file on
 * the server. So the worker thread takes the caller's file-system identity
 * (fsuid, fsgid, supplementary groups) around each such open or unlink and
 * drops it right after. The thread's effective capabilities go too, all
 * but CAP_IPC_LOCK: the file-system identity alone leaves root's
 * CAP_SYS_PTRACE, which would let a path through /proc/PID/cwd, root or fd
 * reach a directory of another user's process that the caller cannot
 * reach. Credentials are per thread in the kernel; the raw system calls
 * are used because glibc's setgroups() would change every thread of the
 * daemon. In direct mode (kuractl run by root) nothing is switched. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cmd_priv.h"

#define SAVED_GROUPS_MAX 1024

/* The calling thread's capabilities (pid 0 names the caller's thread). */
static int thread_caps(struct __user_cap_data_struct caps[2], bool set)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(set ? SYS_capset : SYS_capget, &h, caps);
}

int cmd_caller_path_check(const struct kura_cmd_ctx *c, const char *what, const char *path, struct kura_err *e)
{
    if (!c->env->socket_mode || path[0] == '/')
        return 0;
    kura_err_set(e, EINVAL, "%s%s%s: give an absolute path to the daemon", what, *what ? " " : "", path);
    return -1;
}

int cmd_caller_init(const struct kura_cmd_ctx *c, struct cmd_caller *cl, struct kura_err *e)
{
    memset(cl, 0, sizeof *cl);
    if (!c->env->socket_mode || c->actor->uid == geteuid())
        return 0;
    struct passwd pw, *res = NULL;
    char buf[16384];
    if (getpwuid_r(c->actor->uid, &pw, buf, sizeof buf, &res) != 0 || !res) {
        kura_err_set(e, ENOENT, "uid %u has no account: cannot act with its rights", (unsigned)c->actor->uid);
        return -1;
    }
    int n = 64;
    for (;;) {
        gid_t *g = malloc((size_t)n * sizeof *g);
        if (!g) {
            kura_err_set(e, ENOMEM, "out of memory");
            return -1;
        }
        int want = n;
        if (getgrouplist(res->pw_name, res->pw_gid, g, &want) >= 0) {
            cl->groups = g;
            cl->ngroups = (size_t)want;
            break;
        }
        free(g);
        if (n >= 65536) {
            kura_err_set(e, E2BIG, "too many groups for %s", res->pw_name);
            return -1;
        }
        n = want > n ? want : n * 2;
    }
    cl->active = true;
    cl->uid = c->actor->uid;
    cl->gid = res->pw_gid;
    return 0;
}

void cmd_caller_free(struct cmd_caller *cl)
{
    free(cl->groups);
    memset(cl, 0, sizeof *cl);
}

int cmd_caller_enter(struct cmd_caller *cl, struct kura_err *e)
{
    if (!cl->active)
        return 0;
    long n = syscall(SYS_getgroups, SAVED_GROUPS_MAX, cl->saved);
    if (n < 0) {
        kura_err_set(e, errno, "getgroups: %s", strerror(errno));
        return -1;
    }
    cl->nsaved = (size_t)n;
    if (thread_caps(cl->caps, false) != 0) {
        kura_err_set(e, errno, "capget: %s", strerror(errno));
        return -1;
    }
    if (syscall(SYS_setgroups, cl->ngroups, cl->groups) != 0) {
        kura_err_set(e, errno, "setgroups: %s", strerror(errno));
        return -1;
    }
    syscall(SYS_setfsgid, cl->gid);
    syscall(SYS_setfsuid, cl->uid);
    /* setfsuid reports nothing; asking with an invalid id returns the current one. */
    if ((uid_t)syscall(SYS_setfsuid, (uid_t)-1) != cl->uid || (gid_t)syscall(SYS_setfsgid, (gid_t)-1) != cl->gid) {
        cmd_caller_leave(cl);
        kura_err_set(e, EPERM, "cannot take the caller's file-system identity");
        return -1;
    }
    /* Last, as setgroups needs CAP_SETGID; only the effective set, so the
     * permitted one can bring them back. CAP_IPC_LOCK stays: the daemon's
     * memory is locked (mlockall), and without it a new mapping in this
     * thread would count against RLIMIT_MEMLOCK and fail. */
    struct __user_cap_data_struct lock_only[2];
    for (size_t i = 0; i < 2; i++)
        lock_only[i] = (struct __user_cap_data_struct){
            .effective = i == CAP_TO_INDEX(CAP_IPC_LOCK) ? cl->caps[i].effective & CAP_TO_MASK(CAP_IPC_LOCK) : 0,
            .permitted = cl->caps[i].permitted,
            .inheritable = cl->caps[i].inheritable};
    if (thread_caps(lock_only, true) != 0) {
        int err = errno;
        cmd_caller_leave(cl);
        kura_err_set(e, err, "cannot drop the daemon's capabilities: %s", strerror(err));
        return -1;
    }
    return 0;
}

void cmd_caller_leave(struct cmd_caller *cl)
{
    if (!cl->active)
        return;
    uid_t uid = geteuid();
    gid_t gid = getegid();
    /* First: setgroups needs CAP_SETGID back. */
    if (thread_caps(cl->caps, true) != 0)
        abort();
    syscall(SYS_setfsuid, uid);
    syscall(SYS_setfsgid, gid);
    long rc = syscall(SYS_setgroups, cl->nsaved, cl->saved);
    /* Going on with someone else's rights in a root daemon is not an option. */
    if (rc != 0 || (uid_t)syscall(SYS_setfsuid, (uid_t)-1) != uid || (gid_t)syscall(SYS_setfsgid, (gid_t)-1) != gid)
        abort();
}
