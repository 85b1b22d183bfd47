/* Write-class operations: all refused with EROFS, and each attempt logged
 * (R-CPY-3). The mount is not mounted "ro" on purpose: the kernel would
 * refuse these itself and nothing would reach the audit log. */
#include <errno.h>
#include <fuse.h>
#include <string.h>

#include "audit.h"

int kurafs_refuse_write(struct kurafs *fs, const struct caller *c, const char *path, const char *op)
{
    /* "/ID/rest": the dataset and the path below it, as open records have,
     * when ID is a dataset. Any other name stays in the path: names made up
     * by the caller must not reach a dataset's view, nor get a bound of
     * their own in the refusal counts. */
    char dataset[KURA_ID_MAX + 1] = "";
    const char *rel = path + (path[0] == '/');
    const char *slash = strchr(rel, '/');
    size_t idlen = slash ? (size_t)(slash - rel) : strlen(rel);
    bool in_dataset = false;
    if (idlen > 0 && idlen <= KURA_ID_MAX) {
        memcpy(dataset, rel, idlen);
        dataset[idlen] = '\0';
        struct snapshot *snap = snapshot_acquire(fs);
        in_dataset = kura_catalog_dataset(snap->cat, dataset) != NULL;
        snapshot_release(snap);
    }
    if (in_dataset)
        audit_write_refused(fs, c, dataset, slash ? slash + 1 : NULL, op);
    else
        audit_write_refused(fs, c, NULL, path, op);
    return -EROFS;
}

static int refuse(const char *path, const char *op)
{
    struct caller c;
    caller_from_context(&c);
    return kurafs_refuse_write(kurafs_of_request(), &c, path, op);
}

static int r_mknod(const char *p, mode_t m, dev_t d) { (void)m; (void)d; return refuse(p, "mknod"); }
static int r_mkdir(const char *p, mode_t m) { (void)m; return refuse(p, "mkdir"); }
static int r_unlink(const char *p) { return refuse(p, "unlink"); }
static int r_rmdir(const char *p) { return refuse(p, "rmdir"); }
static int r_symlink(const char *target, const char *p) { (void)target; return refuse(p, "symlink"); }
static int r_rename(const char *p, const char *to, unsigned int flags) { (void)to; (void)flags; return refuse(p, "rename"); }
static int r_link(const char *from, const char *p) { (void)from; return refuse(p, "link"); }
static int r_chmod(const char *p, mode_t m, struct fuse_file_info *fi) { (void)m; (void)fi; return refuse(p, "chmod"); }
static int r_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi)
{
    (void)u; (void)g; (void)fi;
    return refuse(p, "chown");
}
static int r_truncate(const char *p, off_t s, struct fuse_file_info *fi) { (void)s; (void)fi; return refuse(p, "truncate"); }
static int r_write(const char *p, const char *b, size_t n, off_t o, struct fuse_file_info *fi)
{
    (void)b; (void)n; (void)o; (void)fi;
    return refuse(p, "write");
}
static int r_create(const char *p, mode_t m, struct fuse_file_info *fi) { (void)m; (void)fi; return refuse(p, "create"); }
static int r_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi)
{
    (void)tv; (void)fi;
    return refuse(p, "utimens");
}
static int r_setxattr(const char *p, const char *n, const char *v, size_t s, int f)
{
    (void)n; (void)v; (void)s; (void)f;
    return refuse(p, "setxattr");
}
static int r_removexattr(const char *p, const char *n) { (void)n; return refuse(p, "removexattr"); }
static int r_fallocate(const char *p, int mode, off_t o, off_t l, struct fuse_file_info *fi)
{
    (void)mode; (void)o; (void)l; (void)fi;
    return refuse(p, "fallocate");
}
static ssize_t r_copy_file_range(const char *pin, struct fuse_file_info *fin, off_t oin, const char *pout,
                                 struct fuse_file_info *fout, off_t oout, size_t len, int flags)
{
    (void)pin; (void)fin; (void)oin; (void)fout; (void)oout; (void)len; (void)flags;
    return refuse(pout, "copy_file_range");
}

void kurafs_add_refused_ops(struct fuse_operations *ops)
{
    ops->mknod = r_mknod;
    ops->mkdir = r_mkdir;
    ops->unlink = r_unlink;
    ops->rmdir = r_rmdir;
    ops->symlink = r_symlink;
    ops->rename = r_rename;
    ops->link = r_link;
    ops->chmod = r_chmod;
    ops->chown = r_chown;
    ops->truncate = r_truncate;
    ops->write = r_write;
    ops->create = r_create;
    ops->utimens = r_utimens;
    ops->setxattr = r_setxattr;
    ops->removexattr = r_removexattr;
    ops->fallocate = r_fallocate;
    ops->copy_file_range = r_copy_file_range;
}
