/* Every decision of the daemon: which nodes a caller sees, which files they
 * may read, whether an open handle still may. It gathers the facts (the
 * server's, the caller's account name when first needed) and hands them to
 * the pure kura_policy_decide and kura_guard_decide; logging is the
 * caller's. */
#include <stdint.h>

#include "decide.h"
#include "kura/clock.h"

void decide_target(const struct kura_catalog *cat, const struct kura_node *n, const struct kura_catalog_dataset **d,
                   const struct kura_file **f)
{
    *d = NULL;
    *f = NULL;
    if (n->type == KURA_NODE_ROOT)
        return;
    *d = &cat->datasets[n->dataset];
    if (n->type == KURA_NODE_FILE)
        *f = &(*d)->files[n->file];
}

bool decide_lease_ended(struct kurafs *fs)
{
    return fs->cluster && (atomic_load(&fs->lease_ended) ||
                           kura_clock_ms(CLOCK_MONOTONIC) >= atomic_load(&fs->lease_deadline_ms));
}

/* Whether the request (dataset id, NULL for none; f NULL for the dataset
 * itself) falls under a restriction of a change in progress that this
 * cluster node holds (restriction first, docs/cluster.md). One atomic
 * load while none is held, as always on a single server. */
static bool restricted(struct kurafs *fs, const char *dataset, uid_t uid, const struct kura_file *f)
{
    if (!atomic_load(&fs->restrictions.any))
        return false;
    pthread_mutex_lock(&fs->restrictions.lock);
    bool hit = kura_restrict_any(&fs->restrictions.held, dataset, uid, f);
    pthread_mutex_unlock(&fs->restrictions.lock);
    return hit;
}

struct kura_decision kurafs_decide(struct kurafs *fs, const struct kura_dataset *ds, const struct kura_file *f,
                                   const struct caller *c, bool process_allowed, int64_t now)
{
    struct kura_server srv = {
        .lockdown = atomic_load(&fs->lockdown),
        .lease_ended = decide_lease_ended(fs),
        .host_id = fs->host_id,
        .level = fs->cfg->level,
        .login_uid_min = fs->login_uid_min,
        .login_uid_max = fs->login_uid_max,
        .require_training = fs->cfg->require_training,
    };
    struct kura_request req = {
        .uid = c->uid, .user = c->user, .ds = ds, .file = f, .process_allowed = process_allowed, .now = now, .server = &srv,
        .changing = restricted(fs, ds ? ds->id : NULL, c->uid, f),
    };
    return kura_policy_decide(&req);
}

struct kura_decision decide_visible(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                    struct caller *c, int64_t now)
{
    const struct kura_catalog_dataset *d;
    const struct kura_file *f;
    decide_target(cat, n, &d, &f);
    if (!d)
        return (struct kura_decision){KURA_ALLOW, INT64_MAX};
    caller_name(fs, c);
    return kurafs_decide(fs, &d->ds, f, c, true, now);
}

struct kura_decision decide_read(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                 const struct caller *c, int64_t now, struct kura_guard_verdict *verdict)
{
    static const struct kura_procinfo nothing = {.flags = KURA_PROCINFO_GONE};
    const struct kura_catalog_dataset *d = &cat->datasets[n->dataset];
    struct kura_guard_verdict v = kura_guard_decide(fs->guard, d->ds.guard, c->proc ? c->proc : &nothing);
    if (verdict)
        *verdict = v;
    return kurafs_decide(fs, &d->ds, &d->files[n->file], c, v.allowed, now);
}
