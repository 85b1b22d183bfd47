/* What the kernel may keep of a kurafs mount: no entries, no attributes,
 * no negative lookups (R-ACC-3); pages only while a file is open
 * (pagecache.c), read ahead KURAFS_READAHEAD into a sole reader's file;
 * and how many of its requests the daemon serves at once.
 * bench/fuse_null.c mounts under the same rules, so that the floor it
 * measures is the floor under kura's. */
#ifndef KURAFS_CACHE_RULES_H
#define KURAFS_CACHE_RULES_H

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <sys/types.h>

/* Kernel readahead on the mount's cached files, in bytes: the limit INIT
 * asks for, once kurafs_raise_readahead has raised the mount's own (the
 * kernel keeps the smaller of the two). */
#define KURAFS_READAHEAD (2 * 1024 * 1024)

/* FUSE worker threads at most (libfuse's default is 10), unless the
 * command line says otherwise (-o max_threads). An open waits for its
 * audit record's fdatasync and a close for the batch in flight: with 10,
 * eight processes opening and closing files kept every worker waiting
 * while a core stood idle. */
#define KURAFS_MAX_WORKERS 32
/* Idle workers kept, unless -o max_idle_threads says otherwise. */
#define KURAFS_IDLE_WORKERS 16

/* For the high-level API's init. */
static inline void kurafs_cache_rules(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    conn->max_readahead = KURAFS_READAHEAD;
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    cfg->use_ino = 1;
    cfg->hard_remove = 1;
}

/* Puts KURAFS_MAX_WORKERS into args before the command line's own
 * options, which fuse_parse_cmdline then reads after it (the last one
 * counts). Returns 0 or -1 (out of memory). */
int kurafs_default_workers(struct fuse_args *args);

/* The loop's configuration from the parsed command line, for
 * fuse_loop_mt; NULL when out of memory. fuse_loop_cfg_destroy frees it. */
struct fuse_loop_config *kurafs_loop_config(const struct fuse_cmdline_opts *opts);

/* The device number of the FUSE mount at mountpoint (mounted, its INIT not
 * yet answered), from the daemon's mountinfo. Returns 0 or -errno. */
int kurafs_mount_device(const char *mountpoint, dev_t *dev);

/* Raises the readahead of the FUSE mount on device dev (mounted, its INIT
 * not yet answered: INIT can only lower it) to KURAFS_READAHEAD, through
 * its read_ahead_kb in sysfs. Returns 0 or -errno; the mount works either
 * way, with the kernel's default of 128 KiB. */
int kurafs_raise_readahead(dev_t dev);

#endif
