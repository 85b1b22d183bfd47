/* The decision: one pure function (no I/O, no clock, no globals) decides
 * every open. The FUSE layer, kuractl status and the tests all call it. */
#ifndef KURA_POLICY_H
#define KURA_POLICY_H
#include "kura/model.h"

enum kura_reason {
    KURA_ALLOW = 0,
    KURA_DENY_LOCKDOWN,      /* every dataset refused (incident) */
    KURA_DENY_WRONG_HOST,    /* state copied to another machine */
    KURA_DENY_LEVEL,         /* Type II dataset on a server not declared Type II */
    KURA_DENY_DESTROYED,
    KURA_DENY_SUSPENDED,
    KURA_DENY_NOT_LISTED,    /* neither the PI nor a grant holder; root included */
    KURA_DENY_SYSTEM_ACCOUNT, /* listed, but a system account (outside the login uids; not root) */
    KURA_DENY_ACCOUNT_CHANGED, /* the uid is listed, but its account is not the one listed (deleted, renamed, re-created) */
    KURA_DENY_PENDING,       /* the grant awaits the PI's approval (separation of duties) */
    KURA_DENY_UNTRAINED,     /* require_training and the grant records no training date */
    KURA_DENY_NOT_YET_VALID, /* before the dataset's or the grant's start */
    KURA_DENY_EXPIRED,       /* at or after the dataset's or the grant's end */
    KURA_DENY_WITHDRAWN,     /* the file belongs to a withdrawn sample */
    KURA_DENY_GUARD,         /* the calling process is a refused copy-out tool */
    KURA_DENY_NO_LEASE,      /* a cluster node whose lease ended, or not yet caught up */
    KURA_DENY_CHANGING,      /* a change in progress is about to forbid it (cluster mode: restriction first) */
};

struct kura_request {
    uid_t uid;                          /* the caller */
    const char *user;                   /* the name the caller's uid has now (the daemon's
                                           lookup); NULL or "": the uid has no account */
    const struct kura_dataset *ds;
    const struct kura_file *file;       /* NULL: the dataset itself (listing, lookup) */
    bool process_allowed;               /* the guard's verdict on the calling process */
    bool changing;                      /* falls under a restriction of a change in progress
                                           (a cluster node: the daemon matches it) */
    int64_t now;
    const struct kura_server *server;
};

struct kura_decision {
    enum kura_reason reason;
    /* For KURA_ALLOW: the first second at which this decision stops holding
     * (the earlier of the grant's and the dataset's end). A handle re-decides
     * when now >= valid_until, so expiry needs no timer. For a denial: the
     * request's now (holds for no time; decide again). */
    int64_t valid_until;
};

/* Checks in this order, the first failing one is the reason: lockdown,
 * no lease (server->lease_ended), wrong host (ds->host_id set and not server->host_id), level, destroyed,
 * suspended (any status but active), not listed, system account, account
 * changed, pending, untrained (server->require_training and the caller's
 * grant has no training date; the PI has no grant), not yet valid, expired, then for a file only: withdrawn, guard;
 * last changing (req->changing): a request refused for a lasting reason is
 * recorded with that one, not with the change about to make it so. A NULL
 * request or server is refused as lockdown, a NULL dataset as not listed. */
struct kura_decision kura_policy_decide(const struct kura_request *req);

/* Short stable names for logs and errors: "allow", "not listed", "expired", ... */
const char *kura_reason_name(enum kura_reason r);

/* The caller's own access window in ds: the PI's is the dataset period, a
 * grant's its own period cut to the dataset's. Returns false when uid is
 * not listed. The PI is listed only when ds->pi names someone, so a zeroed
 * dataset never lists uid 0 (likewise a grant needs its user name). */
bool kura_policy_window(const struct kura_dataset *ds, uid_t uid, int64_t *from, int64_t *until);

/* How uid, whose account is now named user (NULL or "": none), is listed
 * in ds: KURA_ALLOW (the PI, or a grant holder approved), or the reason it
 * is not: KURA_DENY_NOT_LISTED; KURA_DENY_ACCOUNT_CHANGED when the uid is
 * listed under another name (a listing binds the uid to the account name
 * it had when listed: a uid handed to a new account is not the person
 * listed); KURA_DENY_PENDING when the grant awaits the PI's approval. */
enum kura_reason kura_policy_listing(const struct kura_dataset *ds, uid_t uid, const char *user);

/* The next instant after now at which any decision on ds may change (a grant
 * or the dataset starting or ending), or INT64_MAX. The daemon sleeps until
 * the earliest of these to end access to the second. */
int64_t kura_policy_next_change(const struct kura_dataset *ds, int64_t now);

#endif
