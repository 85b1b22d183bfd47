/* cmd_caller.c: a daemon worker acting on a caller's files takes the
 * caller's file-system identity and gives up its capabilities, all but
 * CAP_IPC_LOCK, and gets them back after. Needs root (skipped otherwise). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../src/lib/cmd/cmd_priv.h"
#include "unit.h"

static int cmp_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static void caps_now(struct __user_cap_data_struct caps[2])
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    memset(caps, 0, 2 * sizeof *caps);
    syscall(SYS_capget, &h, caps);
}

/* The file-system uid of this thread (asking with an invalid one changes nothing). */
static uid_t fsuid_now(void)
{
    return (uid_t)syscall(SYS_setfsuid, (uid_t)-1);
}

static void test_caller_rights_and_back(void)
{
    struct passwd *nobody = getpwnam("nobody");
    ASSERT(nobody != NULL);
    struct kura_cmd_env env = {.socket_mode = true};
    struct kura_actor actor = {.uid = nobody->pw_uid, .gid = nobody->pw_gid};
    struct kura_cmd_ctx c = {.env = &env, .actor = &actor};
    struct cmd_caller cl;
    struct kura_err e = {0};
    struct __user_cap_data_struct before[2], inside[2], after[2];
    caps_now(before);
    gid_t groups_before[64];
    int nbefore = (int)syscall(SYS_getgroups, 64, groups_before);
    ASSERT(before[0].effective & CAP_TO_MASK(CAP_SYS_PTRACE));
    ASSERT(cmd_caller_init(&c, &cl, &e) == 0);
    ASSERT(cmd_caller_enter(&cl, &e) == 0);
    caps_now(inside);
    uid_t fsuid = fsuid_now();
    /* The caller's supplementary groups, not the daemon's (root's). */
    gid_t groups_inside[64], want[64];
    int ninside = (int)syscall(SYS_getgroups, 64, groups_inside);
    int nwant = 64;
    int listed = getgrouplist(nobody->pw_name, nobody->pw_gid, want, &nwant);
    /* pid 1's working directory, as nobody: closed without CAP_SYS_PTRACE */
    int fd = open("/proc/1/cwd/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int open_errno = errno;
    if (fd >= 0)
        close(fd);
    cmd_caller_leave(&cl);
    caps_now(after);
    cmd_caller_free(&cl);
    EXPECT(fsuid == nobody->pw_uid);
    /* The kernel keeps groups sorted; getgrouplist puts the primary first. */
    EXPECT(listed >= 0 && ninside == nwant);
    if (listed >= 0 && ninside == nwant) {
        qsort(groups_inside, (size_t)ninside, sizeof *groups_inside, cmp_gid);
        qsort(want, (size_t)nwant, sizeof *want, cmp_gid);
        EXPECT(memcmp(groups_inside, want, (size_t)nwant * sizeof *want) == 0);
    }
    gid_t groups_after[64];
    int nafter = (int)syscall(SYS_getgroups, 64, groups_after);
    EXPECT(nafter == nbefore && memcmp(groups_after, groups_before, (size_t)nbefore * sizeof *groups_before) == 0);
    EXPECT(inside[0].effective == (before[0].effective & CAP_TO_MASK(CAP_IPC_LOCK)));
    EXPECT(inside[1].effective == 0);
    EXPECT(inside[0].permitted == before[0].permitted && inside[1].permitted == before[1].permitted);
    EXPECT(fd < 0 && (open_errno == EACCES || open_errno == EPERM));
    EXPECT(memcmp(after, before, sizeof before) == 0);
    EXPECT(fsuid_now() == geteuid());
}

/* In direct mode (root's own kuractl) nothing is switched. */
static void test_direct_mode_switches_nothing(void)
{
    struct kura_cmd_env env = {.socket_mode = false};
    struct kura_actor actor = {.uid = 65534};
    struct kura_cmd_ctx c = {.env = &env, .actor = &actor};
    struct cmd_caller cl;
    struct kura_err e = {0};
    struct __user_cap_data_struct before[2], inside[2];
    caps_now(before);
    ASSERT(cmd_caller_init(&c, &cl, &e) == 0);
    ASSERT(cmd_caller_enter(&cl, &e) == 0);
    caps_now(inside);
    EXPECT(fsuid_now() == geteuid());
    cmd_caller_leave(&cl);
    cmd_caller_free(&cl);
    EXPECT(memcmp(inside, before, sizeof before) == 0);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("1..0 # SKIP needs root\n");
        return 0;
    }
    RUN(test_caller_rights_and_back);
    RUN(test_direct_mode_switches_nothing);
    return unit_done();
}
