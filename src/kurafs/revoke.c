/* A change that may end access reaches what is already open: after the
 * state is loaded again (or time passed an end), every open handle is
 * decided again, the processes that hold a file their user may no longer
 * read are ended where the site asks it ([revocation] end_processes), and
 * the cached pages of every opened file are dropped, so neither a read nor
 * a mapping outlives the access (R-REV-4). */
#include "handle.h"

void kurafs_end_access(struct kurafs *fs)
{
    /* The keys kept for later opens go with every end of access: a
     * withdrawal or destruction erases key files after its reload, and a
     * node whose lease ended sees changes go on without it. */
    kura_keycache_wipe(&fs->keycache);
    handle_end_revoked(fs);
    kurafs_pagecache_drop(&fs->pagecache);
    /* Again once holders are ended: what a listed user's reads brought back
     * while the look went on was there for them to map. */
    if (kurafs_end_holders(fs) > 0)
        kurafs_pagecache_drop(&fs->pagecache);
}

int kurafs_reload(struct kurafs *fs, struct kura_err *err)
{
    int64_t start = kurafs_metrics_clock();
    int rc = kurafs_state_load(fs, err);
    /* After the epoch: a page fault from now on re-decides. Outside the
     * reload lock: dropping a page may wait for a fault in flight. */
    kurafs_end_access(fs);
    kurafs_metrics_reload(&fs->metrics, kurafs_metrics_clock() - start);
    return rc;
}
