/* The process-facts cache (see kura/proccache.h): a small array searched
 * linearly (a few hundred entries at most), under one mutex. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kura/proccache.h"

enum slot_state { SLOT_FREE, SLOT_RESERVED, SLOT_FILLED };

struct slot {
    enum slot_state state;
    pid_t pid;
    uint64_t start;        /* filled only */
    uint64_t parent_start; /* the parent's start time when read; filled only */
    uint64_t ticket;       /* reserved only */
    uint64_t used;         /* for least-recently-used eviction */
    struct kura_proc proc;
};

struct kura_proccache {
    pthread_mutex_t lock;
    struct kura_procevents *events;
    size_t capacity;
    uint64_t clock;
    uint64_t next_ticket;
    struct slot *slots;
};

struct kura_proccache *kura_proccache_new(size_t capacity, struct kura_procevents *events)
{
    struct kura_proccache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->slots = calloc(capacity, sizeof *c->slots);
    if (!c->slots || capacity == 0) {
        free(c->slots);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->events = events;
    c->capacity = capacity;
    return c;
}

void kura_proccache_free(struct kura_proccache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c->slots);
    free(c);
}

static void forget_all_locked(struct kura_proccache *c)
{
    for (size_t i = 0; i < c->capacity; i++)
        c->slots[i].state = SLOT_FREE;
}

/* A thread's event also speaks for its process (tgid): the cache may hold
 * either, as FUSE names the calling thread. */
static void event_locked(struct kura_proccache *c, const struct kura_procevent *ev)
{
    if (ev->kind == KURA_PROCEVENT_ACK)
        return;
    for (size_t i = 0; i < c->capacity; i++) {
        struct slot *s = &c->slots[i];
        if (s->state == SLOT_FREE)
            continue;
        if (s->pid == ev->pid || s->pid == ev->tgid ||
            (ev->kind == KURA_PROCEVENT_EXIT && s->state == SLOT_FILLED &&
             (s->proc.ppid == ev->tgid || s->proc.ppid == ev->pid)))
            s->state = SLOT_FREE;
    }
}

static void on_event(void *arg, const struct kura_procevent *ev)
{
    event_locked(arg, ev);
}

static void lock_and_drain(struct kura_proccache *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->events && kura_procevents_drain(c->events, on_event, c) != 0)
        forget_all_locked(c);
}

void kura_proccache_event(struct kura_proccache *c, const struct kura_procevent *ev)
{
    lock_and_drain(c);
    event_locked(c, ev);
    pthread_mutex_unlock(&c->lock);
}

void kura_proccache_forget_all(struct kura_proccache *c)
{
    pthread_mutex_lock(&c->lock);
    forget_all_locked(c);
    pthread_mutex_unlock(&c->lock);
}

static struct slot *find_filled(struct kura_proccache *c, pid_t pid, uint64_t start)
{
    for (size_t i = 0; i < c->capacity; i++) {
        struct slot *s = &c->slots[i];
        if (s->state == SLOT_FILLED && s->pid == pid && s->start == start)
            return s;
    }
    return NULL;
}

static struct slot *find_ticket(struct kura_proccache *c, uint64_t ticket)
{
    for (size_t i = 0; i < c->capacity; i++)
        if (c->slots[i].state == SLOT_RESERVED && c->slots[i].ticket == ticket)
            return &c->slots[i];
    return NULL;
}

size_t kura_proccache_chain(struct kura_proccache *c, pid_t pid, uint64_t start,
                            struct kura_proc *out, size_t max)
{
    struct slot *found[KURA_PROC_CHAIN_MAX];
    if (max > KURA_PROC_CHAIN_MAX)
        max = KURA_PROC_CHAIN_MAX;
    size_t n = 0;
    lock_and_drain(c);
    for (;;) {
        struct slot *s = n < max ? find_filled(c, pid, start) : NULL;
        if (!s) {
            n = 0;
            break;
        }
        found[n++] = s;
        if (s->proc.ppid == 0)
            break;
        pid = s->proc.ppid;
        start = s->parent_start;
    }
    c->clock++;
    for (size_t i = 0; i < n; i++) {
        found[i]->used = c->clock;
        out[i] = found[i]->proc;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

uint64_t kura_proccache_reserve(struct kura_proccache *c, pid_t pid)
{
    lock_and_drain(c);
    struct slot *victim = NULL;
    for (size_t i = 0; i < c->capacity; i++) {
        struct slot *s = &c->slots[i];
        if (s->state == SLOT_FREE) {
            victim = s;
            break;
        }
        if (s->state == SLOT_FILLED && (!victim || s->used < victim->used))
            victim = s;
    }
    uint64_t ticket = 0;
    if (victim) {
        ticket = ++c->next_ticket;
        victim->state = SLOT_RESERVED;
        victim->pid = pid;
        victim->ticket = ticket;
        victim->used = ++c->clock;
    }
    pthread_mutex_unlock(&c->lock);
    return ticket;
}

bool kura_proccache_fill(struct kura_proccache *c, const uint64_t *tickets,
                         const struct kura_proc *procs, size_t n, pid_t tail_pid,
                         uint64_t tail_start, bool store)
{
    struct slot *slots[KURA_PROC_CHAIN_MAX];
    lock_and_drain(c);
    if (n > KURA_PROC_CHAIN_MAX)
        store = false;
    for (size_t i = 0; store && i < n; i++) {
        slots[i] = find_ticket(c, tickets[i]);
        store = slots[i] && slots[i]->pid == procs[i].pid;
    }
    if (store && tail_pid != 0)
        store = find_filled(c, tail_pid, tail_start) != NULL;
    if (store) {
        for (size_t i = 0; i < n; i++) {
            struct slot *s = slots[i];
            s->proc = procs[i];
            s->start = procs[i].start_time;
            s->parent_start = i + 1 < n ? procs[i + 1].start_time : tail_start;
            s->state = SLOT_FILLED;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            struct slot *s = find_ticket(c, tickets[i]);
            if (s)
                s->state = SLOT_FREE;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return store;
}

size_t kura_proccache_count(struct kura_proccache *c)
{
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->capacity; i++)
        n += c->slots[i].state != SLOT_FREE;
    pthread_mutex_unlock(&c->lock);
    return n;
}
