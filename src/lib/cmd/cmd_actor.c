/* Who runs a command: the actor's name, whether it is an operator (root,
 * or a member of KURA_ADMIN_GROUP), and for root the login it came from.
 * Resolved once per request, from the peer's credentials (the daemon) or
 * the process's own (kuractl run directly). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/text.h"

/* The gid of KURA_ADMIN_GROUP, if the group exists. Groups with many
 * members need a large buffer: grow it on ERANGE. */
bool kura_admin_gid(gid_t *gid)
{
    for (size_t size = 16384; size <= (4u << 20); size *= 4) {
        char *buf = malloc(size);
        if (!buf)
            return false;
        struct group gr, *res = NULL;
        int e = getgrnam_r(KURA_ADMIN_GROUP, &gr, buf, size, &res);
        if (e == 0 && res)
            *gid = res->gr_gid;
        free(buf);
        if (e != ERANGE)
            return e == 0 && res;
    }
    return false;
}

static bool in_admin_group(const char *name, gid_t primary)
{
    gid_t admin;
    if (!kura_admin_gid(&admin))
        return false;
    int n = 64;
    for (int tries = 0; tries < 6; tries++) {
        gid_t *groups = malloc((size_t)n * sizeof *groups);
        if (!groups)
            return false;
        int want = n;
        if (getgrouplist(name, primary, groups, &want) >= 0) {
            bool found = false;
            for (int i = 0; i < want && !found; i++)
                found = groups[i] == admin;
            free(groups);
            return found;
        }
        free(groups);
        n = want > n ? want : n * 2;
    }
    return false;
}

/* The login uid of pid (survives su and sudo), or (uid_t)-1. */
static uid_t login_uid(pid_t pid)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/%d/loginuid", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return (uid_t)-1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return (uid_t)-1;
    buf[n] = '\0';
    uint64_t v;
    return kura_parse_decimal(buf, strspn(buf, "0123456789"), UINT32_MAX, &v) == 0 ? (uid_t)v : (uid_t)-1;
}

int kura_actor_resolve(uid_t uid, gid_t gid, pid_t pid, struct kura_actor *a, struct kura_err *err)
{
    memset(a, 0, sizeof *a);
    a->uid = uid;
    a->gid = gid;
    a->pid = pid;
    struct passwd pw, *res = NULL;
    char buf[16384];
    int e = getpwuid_r(uid, &pw, buf, sizeof buf, &res);
    if (e != 0) {
        kura_err_set(err, e, "cannot look up uid %u: %s", (unsigned)uid, strerror(e));
        return -1;
    }
    if (res && strlen(res->pw_name) <= KURA_USER_MAX)
        strcpy(a->name, res->pw_name);
    a->operator = uid == 0 || (a->name[0] && in_admin_group(a->name, res->pw_gid));
    /* Root is often someone logged in as themselves first: say who. */
    if (uid == 0 && pid > 0) {
        uid_t lu = login_uid(pid);
        if (lu != (uid_t)-1 && lu != 0) {
            struct passwd lpw, *lres = NULL;
            if (getpwuid_r(lu, &lpw, buf, sizeof buf, &lres) == 0 && lres && strlen(lres->pw_name) <= KURA_USER_MAX)
                snprintf(a->via, sizeof a->via, "login %s", lres->pw_name);
            else
                snprintf(a->via, sizeof a->via, "login uid %u", (unsigned)lu);
        }
    }
    return 0;
}
