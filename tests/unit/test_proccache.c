/* The process-facts cache (proccache.h) fed events by hand, and the
 * connector's message parser (procevents.h) fed crafted datagrams: each
 * invalidation the exactness of the cache rests on. */
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include "kura/proccache.h"
#include "kura/procevents.h"
#include "unit.h"

/* A process as procinfo would have read it. */
static struct kura_proc proc(pid_t pid, pid_t ppid, uint64_t start, const char *exe)
{
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    p.pid = pid;
    p.ppid = ppid;
    p.start_time = start;
    snprintf(p.exe, sizeof p.exe, "%s", exe);
    snprintf(p.comm, sizeof p.comm, "%s", strrchr(exe, '/') + 1);
    p.have = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_COMM;
    return p;
}

/* Stores the chain 300 (cat) <- 200 (bash) <- 1 (init), read now. */
static bool store_chain(struct kura_proccache *c)
{
    struct kura_proc chain[3] = {proc(300, 200, 30, "/usr/bin/cat"), proc(200, 1, 20, "/usr/bin/bash"),
                                 proc(1, 0, 1, "/sbin/init")};
    uint64_t tickets[3];
    for (int i = 0; i < 3; i++)
        tickets[i] = kura_proccache_reserve(c, chain[i].pid);
    return kura_proccache_fill(c, tickets, chain, 3, 0, 0, true);
}

static size_t lookup(struct kura_proccache *c, pid_t pid, uint64_t start)
{
    static struct kura_proc out[KURA_PROC_CHAIN_MAX];
    return kura_proccache_chain(c, pid, start, out, KURA_PROC_CHAIN_MAX);
}

static void event(struct kura_proccache *c, enum kura_procevent_kind kind, pid_t pid, pid_t tgid)
{
    struct kura_procevent ev = {kind, pid, tgid};
    kura_proccache_event(c, &ev);
}

static void test_hit_gives_the_facts_read(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    struct kura_proc out[KURA_PROC_CHAIN_MAX];
    EXPECT(kura_proccache_chain(c, 300, 30, out, KURA_PROC_CHAIN_MAX) == 3);
    EXPECT(out[0].pid == 300 && strcmp(out[0].exe, "/usr/bin/cat") == 0);
    EXPECT(out[1].pid == 200 && out[2].pid == 1);
    /* A parent's chain is cached too. */
    EXPECT(lookup(c, 200, 20) == 2);
    /* A chain longer than the room given is no hit. */
    EXPECT(kura_proccache_chain(c, 300, 30, out, 2) == 0);
    kura_proccache_free(c);
}

static void test_exec_forgets_the_process(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    event(c, KURA_PROCEVENT_EXEC, 300, 300);
    EXPECT(lookup(c, 300, 30) == 0);
    EXPECT(lookup(c, 200, 20) == 2); /* its parent stays */
    /* A parent's exec voids its children's chains. */
    ASSERT(store_chain(c));
    event(c, KURA_PROCEVENT_EXEC, 200, 200);
    EXPECT(lookup(c, 300, 30) == 0);
    kura_proccache_free(c);
}

static void test_name_and_ids_forget_the_process(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    event(c, KURA_PROCEVENT_COMM, 300, 300);
    EXPECT(lookup(c, 300, 30) == 0);
    ASSERT(store_chain(c));
    event(c, KURA_PROCEVENT_IDS, 300, 300);
    EXPECT(lookup(c, 300, 30) == 0);
    kura_proccache_free(c);
}

/* FUSE names the calling thread; an event of any thread of the process
 * counts for the process and for that thread. */
static void test_thread_event_speaks_for_its_process(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    event(c, KURA_PROCEVENT_COMM, 301, 300); /* thread 301 of 300 renamed */
    EXPECT(lookup(c, 300, 30) == 0);
    kura_proccache_free(c);
}

static void test_parent_exit_forgets_the_children(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    event(c, KURA_PROCEVENT_EXIT, 200, 200); /* 300 is reparented next */
    EXPECT(lookup(c, 300, 30) == 0);
    EXPECT(lookup(c, 200, 20) == 0);
    EXPECT(lookup(c, 1, 1) == 1);
    kura_proccache_free(c);
}

static void test_unrelated_events_keep_entries(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    event(c, KURA_PROCEVENT_EXEC, 400, 400);
    event(c, KURA_PROCEVENT_EXIT, 401, 401);
    EXPECT(lookup(c, 300, 30) == 3);
    kura_proccache_free(c);
}

/* The pid of an exited process reused: its start time differs. */
static void test_reused_pid_never_matches(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    EXPECT(lookup(c, 300, 31) == 0);
    EXPECT(lookup(c, 300, 30) == 3);
    /* A child's link names its parent by start time too. */
    struct kura_proc p = proc(500, 200, 50, "/usr/bin/cat");
    uint64_t t = kura_proccache_reserve(c, 500);
    EXPECT(!kura_proccache_fill(c, &t, &p, 1, 200, 19, true)); /* not the cached 200 */
    EXPECT(lookup(c, 500, 50) == 0);
    kura_proccache_free(c);
}

/* Facts read while the process exec'd are not stored. */
static void test_event_during_read_voids_the_reservation(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c);
    struct kura_proc p = proc(600, 0, 60, "/usr/bin/cat");
    uint64_t t = kura_proccache_reserve(c, 600);
    event(c, KURA_PROCEVENT_EXEC, 600, 600);
    EXPECT(!kura_proccache_fill(c, &t, &p, 1, 0, 0, true));
    EXPECT(lookup(c, 600, 60) == 0);
    EXPECT(kura_proccache_count(c) == 0);
    /* Nor when the cached parent it links to went meanwhile. */
    ASSERT(store_chain(c));
    p = proc(700, 200, 70, "/usr/bin/cat");
    t = kura_proccache_reserve(c, 700);
    event(c, KURA_PROCEVENT_EXIT, 200, 200);
    EXPECT(!kura_proccache_fill(c, &t, &p, 1, 200, 20, true));
    EXPECT(lookup(c, 700, 70) == 0);
    /* Not asked to store: the reservation is released. */
    t = kura_proccache_reserve(c, 800);
    p = proc(800, 0, 80, "/usr/bin/cat");
    size_t before = kura_proccache_count(c);
    EXPECT(!kura_proccache_fill(c, &t, &p, 1, 0, 0, false));
    EXPECT(kura_proccache_count(c) == before - 1);
    kura_proccache_free(c);
}

static void test_lost_events_forget_everything(void)
{
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    ASSERT(c && store_chain(c));
    kura_proccache_forget_all(c);
    EXPECT(lookup(c, 300, 30) == 0 && kura_proccache_count(c) == 0);
    kura_proccache_free(c);
}

static void test_size_is_bounded(void)
{
    struct kura_proccache *c = kura_proccache_new(4, NULL);
    ASSERT(c);
    for (pid_t pid = 10; pid < 20; pid++) {
        struct kura_proc p = proc(pid, 0, (uint64_t)pid, "/usr/bin/cat");
        uint64_t t = kura_proccache_reserve(c, pid);
        EXPECT(kura_proccache_fill(c, &t, &p, 1, 0, 0, true));
        if (pid == 12)
            lookup(c, 10, 10); /* used: the least recent is 11 now */
    }
    EXPECT(kura_proccache_count(c) == 4);
    EXPECT(lookup(c, 19, 19) == 1 && lookup(c, 11, 11) == 0);
    kura_proccache_free(c);
}

/* ---- the connector's datagrams ---- */

struct datagram {
    struct nlmsghdr nl;
    struct cn_msg cn;
    struct proc_event ev;
} __attribute__((packed));

static struct datagram datagram(unsigned what, unsigned cpu, unsigned seq, pid_t pid, pid_t tgid)
{
    struct datagram d;
    memset(&d, 0, sizeof d);
    d.nl.nlmsg_len = sizeof d;
    d.cn.id.idx = CN_IDX_PROC;
    d.cn.id.val = CN_VAL_PROC;
    d.cn.seq = seq;
    d.cn.len = sizeof d.ev;
    d.ev.what = what;
    d.ev.cpu = cpu;
    d.ev.event_data.exec.process_pid = pid; /* the same place for exec, comm, id, exit */
    d.ev.event_data.exec.process_tgid = tgid;
    return d;
}

static void test_parse_events(void)
{
    uint32_t last[2];
    unsigned char seen[2] = {0, 0};
    struct kura_procevents_seq seq = {last, seen, 2};
    struct kura_procevent ev;
    struct datagram d = datagram(PROC_EVENT_EXEC, 0, 7, 42, 41);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1);
    EXPECT(ev.kind == KURA_PROCEVENT_EXEC && ev.pid == 42 && ev.tgid == 41);
    d = datagram(PROC_EVENT_COMM, 0, 8, 42, 42);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1 && ev.kind == KURA_PROCEVENT_COMM);
    d = datagram(PROC_EVENT_UID, 1, 100, 43, 43); /* another CPU, its own sequence */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1 && ev.kind == KURA_PROCEVENT_IDS);
    d = datagram(PROC_EVENT_EXIT, 0, 9, 42, 42);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1 && ev.kind == KURA_PROCEVENT_EXIT);
    d = datagram(PROC_EVENT_SID, 0, 10, 42, 42); /* no fact kept, a number taken */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 0);
    /* An acknowledgement (since 6.6, numbered in its CPU's sequence). */
    d = datagram(PROC_EVENT_NONE, 0, 11, 0, 0);
    d.cn.ack = 78;
    d.ev.event_data.ack.err = 1;
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1);
    EXPECT(ev.kind == KURA_PROCEVENT_ACK && ev.ack == 78 && ev.err == 1);
    d = datagram(PROC_EVENT_EXEC, 0, 12, 42, 42);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1);
    /* Before 6.6 one without a CPU, taking no number. */
    d = datagram(PROC_EVENT_NONE, (unsigned)-1, 5, 0, 0);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1 && ev.kind == KURA_PROCEVENT_ACK);
    d = datagram(PROC_EVENT_EXEC, 0, 13, 42, 42);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1);
    /* A lost acknowledgement is a gap too. */
    d = datagram(PROC_EVENT_EXEC, 0, 15, 42, 42);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == -1);
}

/* A message the kernel could not send still took its number. */
static void test_parse_finds_a_lost_event(void)
{
    uint32_t last[2];
    unsigned char seen[2] = {0, 0};
    struct kura_procevents_seq seq = {last, seen, 2};
    struct kura_procevent ev;
    struct datagram d = datagram(PROC_EVENT_FORK, 1, 5, 50, 50); /* no matter, a number */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 0);
    d = datagram(PROC_EVENT_EXEC, 1, 7, 50, 50); /* 6 lost */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == -1);
    d = datagram(PROC_EVENT_EXEC, 1, 8, 50, 50); /* counting goes on from there */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == 1);
    d = datagram(PROC_EVENT_EXEC, 2, 1, 50, 50); /* a CPU beyond those known */
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == -1);
    d = datagram(PROC_EVENT_EXEC, 0, 1, 50, 50);
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d - 1, &ev) == -1); /* short */
    d.cn.id.idx = CN_IDX_PROC + 1;
    EXPECT(kura_procevents_parse(&seq, &d, sizeof d, &ev) == -1);
}

int main(void)
{
    RUN(test_hit_gives_the_facts_read);
    RUN(test_exec_forgets_the_process);
    RUN(test_name_and_ids_forget_the_process);
    RUN(test_thread_event_speaks_for_its_process);
    RUN(test_parent_exit_forgets_the_children);
    RUN(test_unrelated_events_keep_entries);
    RUN(test_reused_pid_never_matches);
    RUN(test_event_during_read_voids_the_reservation);
    RUN(test_lost_events_forget_everything);
    RUN(test_size_is_bounded);
    RUN(test_parse_events);
    RUN(test_parse_finds_a_lost_event);
    return unit_done();
}
