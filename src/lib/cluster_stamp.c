/* Stamps (include/kura/cluster.h): which state file carries a change's
 * epoch, and whether a copy of the shared state is older than a change.
 * Pure: the caller says what its copy holds. */
#include <string.h>

#include "kura/cluster.h"

static const char *const stamp_names[] = {
    [KURA_STAMP_NONE] = "",
    [KURA_STAMP_DATASET] = "dataset.ini",
    [KURA_STAMP_FILES] = "files.tsv",
    [KURA_STAMP_LOCKDOWN] = "lockdown",
};

const char *kura_cluster_stamp_name(enum kura_cluster_stamp stamp)
{
    return stamp < KURA_STAMP_UNKNOWN ? stamp_names[stamp] : "?";
}

enum kura_cluster_stamp kura_cluster_stamp_parse(const char *name)
{
    for (size_t i = 0; i < sizeof stamp_names / sizeof *stamp_names; i++)
        if (strcmp(name, stamp_names[i]) == 0)
            return (enum kura_cluster_stamp)i;
    return KURA_STAMP_UNKNOWN;
}

const struct kura_cluster_change *kura_cluster_stale(const struct kura_cluster_change *v, size_t n,
                                                     kura_cluster_held_fn held, void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].stamp == KURA_STAMP_NONE)
            continue;
        /* A stamp this kura cannot read is never taken for applied. */
        if (v[i].stamp == KURA_STAMP_UNKNOWN || held(v[i].stamp, v[i].dataset, ctx) < v[i].epoch)
            return &v[i];
    }
    return NULL;
}
