/* What the kernel may keep of a kurafs mount: no entries, no attributes,
 * no negative lookups (R-ACC-3); pages only while a file is open
 * (pagecache.c). bench/fuse_null.c mounts under the same rules, so that
 * the floor it measures is the floor under kura's. */
#ifndef KURAFS_CACHE_RULES_H
#define KURAFS_CACHE_RULES_H

#include <fuse.h>

static inline void kurafs_cache_rules(struct fuse_config *cfg)
{
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    cfg->kernel_cache = 0;
    cfg->auto_cache = 0;
    cfg->use_ino = 1;
    cfg->hard_remove = 1;
}

#endif
