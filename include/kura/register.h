/* The operator register (作業者一覧, R-LOG-7): who is in group kura-admin,
 * with the history of every change (Security-Centres 2-1 <運用全般> 2, 5).
 *
 *   STATE/operators.jsonl   a ledger (ledger.h, hash-chained): one record
 *                           per change seen, action "operator-added" or
 *                           "operator-removed", target the member's name,
 *                           actor who observed it (the daemon, or the
 *                           kuractl user whose change noticed it)
 *   STATE/.operators.lock   observers take it
 *
 * The members last recorded are the register replayed: no second file to
 * keep in step, and a record appended is the whole change (one write,
 * fdatasync). Members are the group's listed members (gr_mem); a user
 * whose primary group is kura-admin is not listed there and is not seen.
 * Root is an operator by being root, not by the group: not recorded. */
#ifndef KURA_REGISTER_H
#define KURA_REGISTER_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"
#include "kura/ledger.h"
#include "kura/model.h"
#include "kura/zone.h"

#define KURA_REGISTER_ADDED "operator-added"
#define KURA_REGISTER_REMOVED "operator-removed"

struct kura_operator {
    char name[KURA_USER_MAX + 1];
    char since[48];                 /* the record that first listed them (RFC 3339) */
};

/* The register read and verified: the members it records now (sorted by
 * name), its record count and head. each (may be NULL) sees every record. */
struct kura_register {
    struct kura_operator *ops;
    size_t n, nrecords;
    char head[KURA_HASH_HEX_LEN + 1];
};
/* A register not yet written is empty. Fails (naming FILE:LINE) on a
 * record that does not verify. */
int kura_register_load(const char *state_dir, kura_ledger_fn each, void *arg, struct kura_register *reg,
                       struct kura_err *err);
void kura_register_free(struct kura_register *reg);

/* Compares group's members now with the register and appends a record
 * for each member added or removed since, as actor (uid) and how they
 * came to look (the record's detail: "kurafs maintenance", "login alice"
 * or ""), under the lock.
 * *changes gets "added NAME, removed NAME" (malloc'd), or NULL when
 * nothing changed. -1 on error (nothing recorded, or the records before
 * the failing one). */
int kura_register_observe(const char *state_dir, const char *group, const char *actor, uid_t uid, const char *how,
                          int64_t now, const struct kura_zone *zone, char **changes, struct kura_err *err);

#endif
