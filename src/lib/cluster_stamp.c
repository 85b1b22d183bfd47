/* Stamps (include/kura/cluster.h): which state file carries a change's
 * epoch, and whether a copy of the shared state is older than a change.
 * Pure: the caller says what its copy holds. */
#include <stdbool.h>
#include <string.h>

#include "kura/cluster.h"

static const char *const stamp_names[] = {
    [KURA_STAMP_NONE] = "",
    [KURA_STAMP_DATASET] = "dataset.ini",
    [KURA_STAMP_FILES] = "files.tsv",
    [KURA_STAMP_LOCKDOWN] = "lockdown",
    [KURA_STAMP_KEY_CURRENT] = "key-current",
    [KURA_STAMP_KEY_RETIRED] = "key-retired",
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

/* Whether the keys a copy holds show a key change: a rotation's key
 * current, a retired key's secret gone. A node that holds no server key
 * (lockdown) has not read the keys the change wrote, and would open them
 * from its copy at unlock: not applied until then, or an unlock read
 * from a stale copy would bring a retired key back into memory. */
static bool key_applied(enum kura_cluster_stamp stamp, enum kura_cluster_key_held held)
{
    return stamp == KURA_STAMP_KEY_CURRENT ? held == KURA_KEY_CURRENT : held == KURA_KEY_ABSENT;
}

/* Whether a rotation after v[i] made another key current: v[i]'s key is
 * no longer current then, rightly (a node catching up over both). */
static bool superseded(const struct kura_cluster_change *v, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n; j++)
        if (v[j].stamp == KURA_STAMP_KEY_CURRENT)
            return true;
    return false;
}

const struct kura_cluster_change *kura_cluster_stale(const struct kura_cluster_change *v, size_t n,
                                                     kura_cluster_held_fn held, kura_cluster_key_fn key_held,
                                                     void *ctx)
{
    for (size_t i = 0; i < n; i++) {
        switch (v[i].stamp) {
        case KURA_STAMP_NONE:
            continue;
        case KURA_STAMP_KEY_CURRENT:
        case KURA_STAMP_KEY_RETIRED:
            if (v[i].stamp == KURA_STAMP_KEY_CURRENT && v[i].fingerprint[0] && superseded(v, n, i))
                continue;
            /* A row without its fingerprint vouches for nothing. */
            if (!v[i].fingerprint[0] || !key_applied(v[i].stamp, key_held(v[i].fingerprint, ctx)))
                return &v[i];
            continue;
        case KURA_STAMP_UNKNOWN:
            return &v[i]; /* a stamp this kura cannot read is never taken for applied */
        default:
            if (held(v[i].stamp, v[i].dataset, ctx) < v[i].epoch)
                return &v[i];
        }
    }
    return NULL;
}
