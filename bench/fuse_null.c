/* fuse_null: the cost of a FUSE open on this machine, with nothing else.
 *
 *   fuse_null MOUNTPOINT     (as root; stops at SIGTERM or fusermount3 -u)
 *
 * Serves one directory "d" holding one 64 KiB file "f" of zeros, with the
 * kernel caching what kurafs lets it cache (kurafs_cache_rules: no entries,
 * no attributes, no negative lookups; libfuse's high-level API, several
 * threads), and does
 * nothing per request beyond answering it. An open and close of
 * MOUNTPOINT/d/f is the same four requests as kurafs's open of
 * /mnt/ID/file (LOOKUP d, LOOKUP f, OPEN, RELEASE): its rate is the floor
 * any filesystem with kurafs's cache rules pays on this machine before its
 * own work (scripts/bench.sh, the opens section). */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/kurafs/cache_rules.h"

#define FILE_BYTES 65536

static void *null_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    (void)conn;
    kurafs_cache_rules(cfg);
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
    if (strcmp(path, "/d/f") == 0) {
        st->st_ino = 3;
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = FILE_BYTES;
        return 0;
    }
    return -ENOENT;
}

static int null_open(const char *path, struct fuse_file_info *fi)
{
    if (strcmp(path, "/d/f") != 0)
        return -ENOENT;
    return (fi->flags & O_ACCMODE) == O_RDONLY ? 0 : -EROFS;
}

static int null_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)path;
    (void)fi;
    if (off >= FILE_BYTES)
        return 0;
    if (size > (size_t)(FILE_BYTES - off))
        size = (size_t)(FILE_BYTES - off);
    memset(buf, 0, size);
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
    if (argc != 2) {
        fprintf(stderr, "usage: fuse_null MOUNTPOINT\n");
        return 2;
    }
    static const struct fuse_operations ops = {
        .init = null_init,
        .getattr = null_getattr,
        .open = null_open,
        .read = null_read,
        .release = null_release,
    };
    /* kurafs's own mount options and loop (src/kurafs/main.c). */
    char *args[] = {argv[0], "-f", "-oallow_other,fsname=fuse_null,noatime", argv[1], NULL};
    struct fuse_args fa = FUSE_ARGS_INIT(4, args);
    struct fuse_cmdline_opts copts;
    if (fuse_parse_cmdline(&fa, &copts) != 0)
        return 2;
    struct fuse *fuse = fuse_new(&fa, &ops, sizeof ops, NULL);
    if (!fuse)
        return 1;
    int status = 1;
    if (fuse_mount(fuse, copts.mountpoint) == 0) {
        if (fuse_set_signal_handlers(fuse_get_session(fuse)) == 0) {
            struct fuse_loop_config loop = {.clone_fd = 0, .max_idle_threads = 16};
            status = fuse_loop_mt(fuse, &loop) == 0 ? 0 : 1;
            fuse_remove_signal_handlers(fuse_get_session(fuse));
        }
        fuse_unmount(fuse);
    }
    fuse_destroy(fuse);
    free(copts.mountpoint);
    fuse_opt_free_args(&fa);
    return status;
}
