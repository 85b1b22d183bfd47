/* Is a root process dumpable? Asked the way the kernel decides it.
 *   dumpable_probe PID      (run as root)
 * Prints "readable" or "refused ERRNO" and exits 0 (2: cannot probe).
 *
 * Every other check a test could make of a root daemon passes for root
 * anyway: root may read anything of a process of its own uid. The kernel's
 * ptrace access check (__ptrace_may_access) has one rule that tells: for a
 * target whose mm is not dumpable (prctl(PR_SET_DUMPABLE, 0)), even a caller
 * with the same uid needs CAP_SYS_PTRACE *in effect*. So this probe reads
 * PID's first readable mapping (found in /proc/PID/maps while it still has
 * every capability), then drops CAP_SYS_PTRACE from its effective set only,
 * keeping it permitted (so the capability-subset rule of commoncap, which
 * looks at the permitted set for these REALCREDS checks, still passes), and
 * calls process_vm_readv (PTRACE_MODE_ATTACH_REALCREDS):
 *   dumpable target      -> bytes come back: "readable"
 *   non-dumpable target  -> EPERM:           "refused EPERM"
 * A plain root `sleep` is the control that shows the probe can say yes. */
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static const char *errname(int e)
{
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ESRCH: return "ESRCH";
    case EFAULT: return "EFAULT";
    default: return "other";
    }
}

int main(int argc, char **argv)
{
    if (argc != 2 || geteuid() != 0) {
        fprintf(stderr, "usage: dumpable_probe PID (as root)\n");
        return 2;
    }
    pid_t pid = (pid_t)atoi(argv[1]);
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *maps = fopen(path, "r");
    uintptr_t addr = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        uintptr_t lo, hi;
        char perms[5];
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &lo, &hi, perms) == 3 && perms[0] == 'r' &&
            !strstr(line, "[vvar]") && !strstr(line, "[vsyscall]")) {
            addr = lo;
            break;
        }
    }
    if (maps)
        fclose(maps);
    if (!addr) {
        fprintf(stderr, "dumpable_probe: no readable mapping in %s\n", path);
        return 2;
    }

    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) != 0) {
        perror("dumpable_probe: capget");
        return 2;
    }
    unsigned idx = CAP_TO_INDEX(CAP_SYS_PTRACE), bit = CAP_TO_MASK(CAP_SYS_PTRACE);
    if (!(data[idx].permitted & bit)) {
        fprintf(stderr, "dumpable_probe: CAP_SYS_PTRACE is not permitted; cannot probe\n");
        return 2;
    }
    data[idx].effective &= ~bit;
    if (syscall(SYS_capset, &hdr, data) != 0) {
        perror("dumpable_probe: capset");
        return 2;
    }

    char buf[16];
    struct iovec local = {buf, sizeof buf}, remote = {(void *)addr, sizeof buf};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n > 0)
        printf("readable\n");
    else
        printf("refused %s\n", errname(errno));
    return 0;
}
