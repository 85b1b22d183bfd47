/* A cache of process facts (procinfo.h), exact through the kernel's process
 * events (procevents.h): an entry is forgotten when its process execs,
 * changes its name or ids, or exits, and when its parent exits (it is then
 * reparented). Entries are keyed by (pid, start time), so a pid reused by a
 * later process never matches; the cache holds at most `capacity` of them
 * and forgets the least recently used first.
 *
 * Facts are read only after their entry is reserved, and stored only if no
 * event touched the reservation meanwhile, nor the cached parent it links
 * to: a process that execs while it is being read is read again next time.
 * Every call drains the event source first, under the cache's lock, so a
 * lookup sees every event queued before it; when events were lost it
 * forgets everything.
 *
 * What a process changes without any event is not tracked: its own memory
 * (argv rewritten in place, environ, code it maps or loads later, which it
 * could load without a mapping just as well). procinfo.c reads the caller's
 * command line, login uid and executable link afresh for each request. */
#ifndef KURA_PROCCACHE_H
#define KURA_PROCCACHE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/procevents.h"
#include "kura/procinfo.h"

#define KURA_PROCCACHE_DEFAULT 256 /* entries of ~10 KiB */

struct kura_proccache;

/* events: drained before each call (NULL: the caller feeds events through
 * kura_proccache_event, as the tests do). The cache does not own it. */
struct kura_proccache *kura_proccache_new(size_t capacity, struct kura_procevents *events);
void kura_proccache_free(struct kura_proccache *c);

/* What an event makes the cache forget. */
void kura_proccache_event(struct kura_proccache *c, const struct kura_procevent *ev);
void kura_proccache_forget_all(struct kura_proccache *c);

/* Copies the chain from the process (pid, start) up to a process without
 * parent into out[0..] and returns its length, when every link of it is
 * cached and fits in max; returns 0 otherwise. */
size_t kura_proccache_chain(struct kura_proccache *c, pid_t pid, uint64_t start,
                            struct kura_proc *out, size_t max);

/* Reserves an entry for pid before its facts are read. Returns a ticket,
 * 0 when the cache is full of reservations. */
uint64_t kura_proccache_reserve(struct kura_proccache *c, pid_t pid);

/* Stores procs[i] under tickets[i] (i < n), procs[i]'s parent being
 * procs[i + 1], the last one's the cached (tail_pid, tail_start) (tail_pid
 * 0: the last has no parent). Stores all of them only if store is true,
 * every reservation is intact and the tail is still cached; else releases
 * the reservations. Returns whether it stored. */
bool kura_proccache_fill(struct kura_proccache *c, const uint64_t *tickets,
                         const struct kura_proc *procs, size_t n, pid_t tail_pid,
                         uint64_t tail_start, bool store);

/* Entries held (reserved or filled), for tests. */
size_t kura_proccache_count(struct kura_proccache *c);

#endif
