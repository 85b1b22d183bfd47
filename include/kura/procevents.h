/* The kernel's process-event connector (netlink NETLINK_CONNECTOR,
 * CN_IDX_PROC): which processes exec'd, exited, forked, or changed their
 * name or ids since the last look. It tells the process-facts cache
 * (proccache.h) what to forget; it knows nothing of what is cached.
 *
 * Why draining is enough: the kernel queues each event on every listening
 * socket synchronously, inside the exec, exit, prctl(PR_SET_NAME), write to
 * /proc/PID/comm, or set*id, before that call returns. So a non-blocking
 * drain started after a FUSE request arrived has every event of everything
 * that happened before the caller's open. Events are lost only with
 * notice: an overrun of the socket's buffer fails the next read (ENOBUFS),
 * and a message the kernel could not allocate still used its number in that
 * CPU's sequence, so a gap in a CPU's sequence numbers shows it. Either way
 * the drain reports the loss and the cache forgets everything.
 *
 * Needs AF_NETLINK, the initial network namespace (the connector is
 * there only) and, on kernels before 6.6, CAP_NET_ADMIN. */
#ifndef KURA_PROCEVENTS_H
#define KURA_PROCEVENTS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"

enum kura_procevent_kind {
    KURA_PROCEVENT_EXEC,
    KURA_PROCEVENT_IDS,  /* real/effective uid or gid changed */
    KURA_PROCEVENT_COMM, /* prctl(PR_SET_NAME), a write to /proc/PID/comm */
    KURA_PROCEVENT_EXIT, /* a task exits; its children are reparented after the event */
    KURA_PROCEVENT_ACK,  /* the kernel's answer to a subscription (anyone's) */
};

struct kura_procevent {
    enum kura_procevent_kind kind;
    pid_t pid;    /* the task (a thread id for a thread) */
    pid_t tgid;   /* its process */
    uint32_t ack; /* KURA_PROCEVENT_ACK: the subscriber's number plus one */
    uint32_t err; /* KURA_PROCEVENT_ACK: 0, or the errno of a refused subscription */
};

struct kura_procevents;

/* Subscribes to the connector and waits (2 s at most) for the kernel's
 * acknowledgement of this subscription. NULL with err when it cannot (no
 * CAP_NET_ADMIN before 6.6: the kernel refuses the subscription, yet a socket bound
 * to the group would still hear the events of others' subscriptions, or
 * none; no AF_NETLINK under seccomp; a kernel without the connector). */
struct kura_procevents *kura_procevents_open(struct kura_err *err);
void kura_procevents_close(struct kura_procevents *w);

/* Reads every queued event without blocking and calls fn for each that
 * concerns a process's facts (not acknowledgements). Returns 0, or -1 when some events were lost
 * (overrun, a sequence gap, a read error): the caller must then forget
 * everything it learned from /proc. */
int kura_procevents_drain(struct kura_procevents *w,
                          void (*fn)(void *arg, const struct kura_procevent *ev), void *arg);

/* The last sequence number seen per CPU, to find a lost message. */
struct kura_procevents_seq {
    uint32_t *last;
    unsigned char *seen;
    size_t ncpu;
};

/* One netlink datagram from the connector (pure; exposed for tests).
 * Returns 1 with *ev filled for an event that matters or an
 * acknowledgement, 0 for one that does not (fork: a new pid no entry can
 * hold, as the exit of its last holder came first; sid, ptrace, coredump), -1 when
 * malformed or a message before it was lost (a gap in its CPU's sequence,
 * or a CPU beyond seq->ncpu). Acknowledgements take a number in their
 * CPU's sequence too (kernels since 6.6 send them as events); one sent
 * without a CPU (-1, older kernels) takes none. */
int kura_procevents_parse(struct kura_procevents_seq *seq, const void *buf, size_t len,
                          struct kura_procevent *ev);

#endif
