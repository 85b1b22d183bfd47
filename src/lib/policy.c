/* The decision. Pure: everything it needs is in the request, so the whole
 * matrix is tested without FUSE, and the daemon, kuractl status and the
 * tests can never disagree. Checks run from the most to the least
 * important, and the first that fails names the reason. */
#include <string.h>

#include "kura/policy.h"

static const char *const reason_names[] = {
    [KURA_ALLOW] = "allow",
    [KURA_DENY_LOCKDOWN] = "lockdown",
    [KURA_DENY_WRONG_HOST] = "wrong host",
    [KURA_DENY_LEVEL] = "level",
    [KURA_DENY_DESTROYED] = "destroyed",
    [KURA_DENY_SUSPENDED] = "suspended",
    [KURA_DENY_NOT_LISTED] = "not listed",
    [KURA_DENY_SYSTEM_ACCOUNT] = "system account",
    [KURA_DENY_ACCOUNT_CHANGED] = "account changed",
    [KURA_DENY_PENDING] = "pending approval",
    [KURA_DENY_UNTRAINED] = "no training",
    [KURA_DENY_NOT_YET_VALID] = "not yet valid",
    [KURA_DENY_EXPIRED] = "expired",
    [KURA_DENY_WITHDRAWN] = "withdrawn",
    [KURA_DENY_GUARD] = "guard",
    [KURA_DENY_NO_LEASE] = "no lease",
    [KURA_DENY_CHANGING] = "changing",
};

const char *kura_reason_name(enum kura_reason r)
{
    return (int)r >= 0 && (size_t)r < sizeof reason_names / sizeof reason_names[0] ? reason_names[r] : "unknown";
}

/* The PI's window is the dataset period; a grant's is its own period, cut
 * to the dataset's (R-ACC-2: never later). A dataset without a PI name has
 * no PI, so a zeroed pi_uid never lists root (R-ACC-1, R-ACC-4). */
bool kura_policy_window(const struct kura_dataset *ds, uid_t uid, int64_t *from, int64_t *until)
{
    if (!ds)
        return false;
    int64_t f, u;
    if (ds->pi[0] != '\0' && uid == ds->pi_uid) {
        f = ds->from;
        u = ds->until;
    } else {
        const struct kura_grant *g = kura_dataset_grant(ds, uid);
        if (!g)
            return false;
        f = g->from > ds->from ? g->from : ds->from;
        u = g->until < ds->until ? g->until : ds->until;
    }
    if (from)
        *from = f;
    if (until)
        *until = u;
    return true;
}

enum kura_reason kura_policy_listing(const struct kura_dataset *ds, uid_t uid, const char *user)
{
    if (!kura_policy_window(ds, uid, NULL, NULL))
        return KURA_DENY_NOT_LISTED;
    const bool pi = ds->pi[0] != '\0' && uid == ds->pi_uid;
    const struct kura_grant *g = pi ? NULL : kura_dataset_grant(ds, uid);
    if (!user || strcmp(user, pi ? ds->pi : g->user) != 0)
        return KURA_DENY_ACCOUNT_CHANGED;
    if (g && g->pending)
        return KURA_DENY_PENDING;
    return KURA_ALLOW;
}

static struct kura_decision deny(enum kura_reason r, int64_t now)
{
    return (struct kura_decision){r, now};
}

struct kura_decision kura_policy_decide(const struct kura_request *req)
{
    if (!req || !req->server)
        return deny(KURA_DENY_LOCKDOWN, req ? req->now : 0);
    const struct kura_server *srv = req->server;
    const struct kura_dataset *ds = req->ds;
    const int64_t now = req->now;
    if (srv->lockdown)
        return deny(KURA_DENY_LOCKDOWN, now); /* R-ACC-7 */
    if (srv->lease_ended)
        return deny(KURA_DENY_NO_LEASE, now); /* R-CLU-2 */
    if (!ds)
        return deny(KURA_DENY_NOT_LISTED, now);
    /* R-ACC-1, R-ACC-4, R-ACC-6; separation of duties. Before the dataset's
     * state: someone not listed is refused as for a dataset that does not
     * exist, never told (nor the log's counts) that it is suspended,
     * destroyed, bound to another host or above the server's level. */
    enum kura_reason listing = kura_policy_listing(ds, req->uid, req->user);
    if (listing == KURA_DENY_NOT_LISTED)
        return deny(listing, now);
    if (ds->host_id[0] != '\0' && (!srv->host_id || strcmp(ds->host_id, srv->host_id) != 0))
        return deny(KURA_DENY_WRONG_HOST, now); /* R-ACC-8 */
    if (ds->level > srv->level)
        return deny(KURA_DENY_LEVEL, now); /* R-LVL-1 */
    if (ds->status == KURA_DS_DESTROYED)
        return deny(KURA_DENY_DESTROYED, now);
    if (ds->status != KURA_DS_ACTIVE)
        return deny(KURA_DENY_SUSPENDED, now); /* R-ACC-7; an unknown status is not active */
    /* kuractl refuses to list system accounts; this also stops those
     * listed by hand or before it did. */
    if (req->uid != 0 && (req->uid < srv->login_uid_min || req->uid > srv->login_uid_max))
        return deny(KURA_DENY_SYSTEM_ACCOUNT, now);
    if (listing != KURA_ALLOW)
        return deny(listing, now);
    if (srv->require_training) { /* R-ACC-9 */
        const struct kura_grant *g = req->uid == ds->pi_uid ? NULL : kura_dataset_grant(ds, req->uid);
        if (g && !g->trained[0])
            return deny(KURA_DENY_UNTRAINED, now);
    }
    int64_t from, until;
    kura_policy_window(ds, req->uid, &from, &until);
    if (now < from)
        return deny(KURA_DENY_NOT_YET_VALID, now); /* R-ACC-2 */
    if (now >= until)
        return deny(KURA_DENY_EXPIRED, now); /* R-ACC-2, R-REV-2 */
    if (req->file) {
        if (kura_file_withdrawn(ds, req->file))
            return deny(KURA_DENY_WITHDRAWN, now); /* R-REV-1 */
        if (!req->process_allowed)
            return deny(KURA_DENY_GUARD, now); /* R-CPY-4 */
    }
    if (req->changing)
        return deny(KURA_DENY_CHANGING, now); /* issue 19: restriction first */
    return (struct kura_decision){KURA_ALLOW, until};
}

static void consider(int64_t edge, int64_t now, int64_t *next)
{
    if (edge > now && edge < *next)
        *next = edge;
}

int64_t kura_policy_next_change(const struct kura_dataset *ds, int64_t now)
{
    int64_t next = INT64_MAX;
    if (!ds)
        return next;
    consider(ds->from, now, &next);
    consider(ds->until, now, &next);
    for (size_t i = 0; ds->grants && i < ds->ngrants; i++) {
        consider(ds->grants[i].from, now, &next);
        consider(ds->grants[i].until, now, &next);
    }
    return next;
}
