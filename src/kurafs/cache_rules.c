/* kurafs_raise_readahead: how far the kernel reads ahead on the mount;
 * the FUSE loop's workers (cache_rules.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cache_rules.h"
#include "kura/fsutil.h"

/* mountinfo's escapes (\040 for a space, \011, \012, \134) undone in place. */
static void unescape_octal(char *s)
{
    char *out = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

/* The device number of the FUSE mount at mountpoint, from our mountinfo:
 * a stat() of the mount point would wait for the INIT not yet answered. */
static int mount_device(const char *mountpoint, unsigned *major, unsigned *minor)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    int rc = -ENOENT;
    /* The last match: a mount stacked on the same point hides earlier ones. */
    while (getline(&line, &cap, f) > 0) {
        unsigned maj, min;
        int at = 0;
        if (sscanf(line, "%*u %*u %u:%u %*s %n", &maj, &min, &at) != 2 || at == 0)
            continue;
        char *point = line + at, *end = strchr(point, ' ');
        /* A FUSE mount: type "fuse", or "fuse.SUBTYPE" (kurafs, fuse_null). */
        const char *type = strstr(line, " - fuse");
        if (type && type[7] != ' ' && type[7] != '.')
            type = NULL;
        if (!end || !type)
            continue;
        *end = '\0';
        unescape_octal(point);
        if (strcmp(point, mountpoint) == 0) {
            *major = maj;
            *minor = min;
            rc = 0;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

int kurafs_mount_device(const char *mountpoint, dev_t *dev)
{
    unsigned major = 0, minor = 0;
    int rc = mount_device(mountpoint, &major, &minor);
    if (rc == 0)
        *dev = makedev(major, minor);
    return rc;
}

int kurafs_raise_readahead(dev_t dev)
{
    char path[64], value[16];
    snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(dev), minor(dev));
    int len = snprintf(value, sizeof value, "%d\n", KURAFS_READAHEAD / 1024);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = kura_write_full(fd, value, (size_t)len) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int kurafs_default_workers(struct fuse_args *args)
{
    char opt[32];
    snprintf(opt, sizeof opt, "-omax_threads=%d", KURAFS_MAX_WORKERS);
    return fuse_opt_insert_arg(args, 1, opt);
}

struct fuse_loop_config *kurafs_loop_config(const struct fuse_cmdline_opts *opts)
{
    struct fuse_loop_config *loop = fuse_loop_cfg_create();
    if (!loop)
        return NULL;
    fuse_loop_cfg_set_clone_fd(loop, (unsigned)opts->clone_fd);
    fuse_loop_cfg_set_max_threads(loop, opts->max_threads);
    /* UINT_MAX: not given on the command line. */
    fuse_loop_cfg_set_idle_threads(loop, opts->max_idle_threads == UINT_MAX ? KURAFS_IDLE_WORKERS
                                                                            : opts->max_idle_threads);
    return loop;
}
