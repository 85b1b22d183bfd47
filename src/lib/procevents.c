/* The process-event connector (see kura/procevents.h). */
#include <errno.h>
#include <stdbool.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/procevents.h"

/* Room for a burst of events (each ~100 bytes) between two opens; beyond
 * it the kernel reports an overrun and the cache starts over. */
#define RCVBUF_BYTES (4 * 1024 * 1024)
#define ACK_WAIT_MS 2000

struct kura_procevents {
    int fd;
    struct kura_procevents_seq seq;
};

static int subscribe(int fd, uint32_t nonce)
{
    struct __attribute__((packed)) {
        struct nlmsghdr nl;
        struct cn_msg cn;
        enum proc_cn_mcast_op op;
    } req;
    memset(&req, 0, sizeof req);
    req.nl.nlmsg_len = sizeof req;
    req.nl.nlmsg_type = NLMSG_DONE;
    req.cn.id.idx = CN_IDX_PROC;
    req.cn.id.val = CN_VAL_PROC;
    req.cn.ack = nonce; /* answered with nonce + 1: tells our acknowledgement from others' */
    req.cn.len = sizeof req.op;
    req.op = PROC_CN_MCAST_LISTEN; /* every event: a filter would leave gaps in the sequence */
    return send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req ? 0 : -1;
}

/* Waits for the kernel's answer to our subscription; errno set on failure
 * (the kernel's refusal, ETIMEDOUT). */
static int await_ack(struct kura_procevents *w, uint32_t nonce)
{
    const int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + ACK_WAIT_MS;
    char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        int64_t left = deadline - kura_clock_ms(CLOCK_MONOTONIC);
        struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
            return -1;
        ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOBUFS))
            continue;
        if (n <= 0)
            return -1;
        struct kura_procevent ev;
        if (kura_procevents_parse(&w->seq, buf, (size_t)n, &ev) == 1 &&
            ev.kind == KURA_PROCEVENT_ACK && ev.ack == nonce + 1) {
            errno = (int)ev.err;
            return ev.err == 0 ? 0 : -1;
        }
    }
}

struct kura_procevents *kura_procevents_open(struct kura_err *err)
{
    struct kura_procevents *w = calloc(1, sizeof *w);
    size_t ncpu = (size_t)get_nprocs_conf();
    if (w) {
        w->fd = -1;
        w->seq.ncpu = ncpu;
        w->seq.last = calloc(ncpu, sizeof *w->seq.last);
        w->seq.seen = calloc(ncpu, 1);
    }
    if (!w || !w->seq.last || !w->seq.seen) {
        kura_procevents_close(w);
        kura_err_set(err, ENOMEM, "process events: out of memory");
        return NULL;
    }
    w->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    struct sockaddr_nl addr = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC};
    int size = RCVBUF_BYTES;
    uint32_t nonce = randombytes_random();
    if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        (setsockopt(w->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0 &&
         setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) != 0) ||
        subscribe(w->fd, nonce) != 0 || await_ack(w, nonce) != 0) {
        int e = errno;
        kura_err_set(err, e, "process events: cannot listen to the kernel's connector: %s",
                     strerror(e));
        kura_procevents_close(w);
        return NULL;
    }
    return w;
}

void kura_procevents_close(struct kura_procevents *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->seq.last);
    free(w->seq.seen);
    free(w);
}

int kura_procevents_parse(struct kura_procevents_seq *seq, const void *buf, size_t len,
                          struct kura_procevent *ev)
{
    const size_t head = NLMSG_HDRLEN + sizeof(struct cn_msg);
    if (len < head)
        return -1;
    struct nlmsghdr nl;
    struct cn_msg cn;
    memcpy(&nl, buf, sizeof nl);
    memcpy(&cn, (const char *)buf + NLMSG_HDRLEN, sizeof cn);
    if (nl.nlmsg_len > len || nl.nlmsg_len < head || cn.id.idx != CN_IDX_PROC ||
        cn.id.val != CN_VAL_PROC || cn.len < sizeof(struct proc_event) ||
        cn.len > nl.nlmsg_len - head)
        return -1;
    struct proc_event pe;
    memcpy(&pe, (const char *)buf + head, sizeof pe);
    if (pe.what == PROC_EVENT_NONE) {
        *ev = (struct kura_procevent){.kind = KURA_PROCEVENT_ACK, .ack = cn.ack,
                                      .err = pe.event_data.ack.err};
        if (pe.cpu >= seq->ncpu)
            return 1; /* sent without a CPU, its seq the subscriber's */
    } else if (pe.cpu >= seq->ncpu) {
        return -1;
    }
    bool gap = seq->seen[pe.cpu] && cn.seq != seq->last[pe.cpu] + 1;
    seq->seen[pe.cpu] = 1;
    seq->last[pe.cpu] = cn.seq;
    if (gap)
        return -1;
    if (pe.what == PROC_EVENT_NONE)
        return 1;
    enum kura_procevent_kind kind;
    switch (pe.what) {
    case PROC_EVENT_EXEC: kind = KURA_PROCEVENT_EXEC; break;
    case PROC_EVENT_UID:
    case PROC_EVENT_GID: kind = KURA_PROCEVENT_IDS; break;
    case PROC_EVENT_COMM: kind = KURA_PROCEVENT_COMM; break;
    case PROC_EVENT_EXIT: kind = KURA_PROCEVENT_EXIT; break;
    default: return 0; /* fork, sid, ptrace, coredump: nothing the cache must forget */
    }
    /* exec, id, comm and exit data all begin with the task's pid and tgid. */
    *ev = (struct kura_procevent){kind, pe.event_data.exec.process_pid,
                                  pe.event_data.exec.process_tgid};
    return 1;
}

int kura_procevents_drain(struct kura_procevents *w,
                          void (*fn)(void *arg, const struct kura_procevent *ev), void *arg)
{
    char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
    int rc = 0;
    for (;;) {
        ssize_t n = recv(w->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return rc;
        if (n < 0 && errno == ENOBUFS) {
            rc = -1; /* the kernel dropped events; what is queued after still counts */
            continue;
        }
        if (n <= 0)
            return -1;
        struct kura_procevent ev;
        int got = kura_procevents_parse(&w->seq, buf, (size_t)n, &ev);
        if (got < 0)
            rc = -1;
        else if (got > 0 && ev.kind != KURA_PROCEVENT_ACK)
            fn(arg, &ev);
    }
}
