/* The decision for one request, in one place: the server's facts and the
 * caller's, the guard's verdict on the caller's process, then
 * kura_policy_decide. It writes no record (audit.h does) and knows nothing
 * of FUSE: callers pass the catalog node and the caller they hold. */
#ifndef KURAFS_DECIDE_H
#define KURAFS_DECIDE_H
#include "kurafs.h"

/* The dataset and file of a node, or NULLs for the root. */
void decide_target(const struct kura_catalog *cat, const struct kura_node *n, const struct kura_catalog_dataset **d,
                   const struct kura_file **f);
/* Whether this cluster node's lease has ended: ended by the watch thread,
 * or its deadline on the monotonic clock passed (the thread wakes a moment
 * later). Always false on a single server. */
bool decide_lease_ended(struct kurafs *fs);
/* The policy decision with this server's facts (lockdown, host, level)
 * and the caller's: uid and account name (c->user, filled by caller_name;
 * left empty it matches no listing). ds NULL: no dataset (the reason an
 * unknown name is refused with); f NULL: the dataset itself;
 * process_allowed: the guard's verdict. */
struct kura_decision kurafs_decide(struct kurafs *fs, const struct kura_dataset *ds, const struct kura_file *f,
                                   const struct caller *c, bool process_allowed, int64_t now);
/* May the caller see node n at all? No process check: seeing is not
 * reading. The root is seen by everyone. Looks the caller's name up. */
struct kura_decision decide_visible(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                    struct caller *c, int64_t now);
/* May the caller read file node n now: the guard's verdict on the caller's
 * process (c->proc must be collected; none is refused), then the policy.
 * verdict, if not NULL, gets the guard's (its detail explains a guard
 * refusal). */
struct kura_decision decide_read(struct kurafs *fs, const struct kura_catalog *cat, const struct kura_node *n,
                                 const struct caller *c, int64_t now, struct kura_guard_verdict *verdict);

#endif
