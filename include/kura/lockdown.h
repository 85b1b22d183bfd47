/* Lockdown (R-ACC-7): in an incident every dataset is refused at once, on
 * the whole server, until an operator unlocks. The state is one file,
 * STATE/lockdown, present while locked down, so it survives a restart of
 * the daemon. Its content is one flat JSON object:
 *   {"reason":"...","at":<unix seconds>,"by":"<user>"}
 * Readers fail closed: a lockdown file that cannot be read or parsed means
 * locked down.
 *
 * In cluster mode the file also carries the change epoch that wrote it
 * ("epoch"), and an unlock replaces it with a stamped unlocked record,
 *   {"state":"unlocked","at":<unix seconds>,"by":"<user>","epoch":<n>}
 * instead of removing it: a node must tell a stale copy (a client cache of
 * the shared file system) from the state the unlock left, and an absent
 * file carries no epoch. */
#ifndef KURA_LOCKDOWN_H
#define KURA_LOCKDOWN_H
#include <stdbool.h>
#include <stdint.h>

#include "kura/error.h"
#include "kura/layout.h"
#include "kura/model.h"

struct kura_lockdown {
    bool on;
    char reason[KURA_TEXT_MAX];
    int64_t at;
    char by[KURA_USER_MAX + 16];
    int64_t epoch;              /* cluster mode: the change that wrote the file (0: none, or no file) */
};

/* Fills *l from STATE/lockdown (no file: on = false). On -1 (unreadable or
 * malformed file) l->on is true and err says why: treat it as locked down. */
int kura_lockdown_load(const char *state_dir, struct kura_lockdown *l, struct kura_err *err);
/* Writes the file atomically (mode 0640): l->on, a lockdown; else the
 * unlocked record (cluster mode). Save and clear are called under the
 * lockdown lock; both remove a temporary a killed writer left. */
int kura_lockdown_save(const char *state_dir, const struct kura_lockdown *l, struct kura_err *err);
/* Removes the file and fsyncs the directory; no file is fine. */
int kura_lockdown_clear(const char *state_dir, struct kura_err *err);

#endif
