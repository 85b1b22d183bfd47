/* The audit records' copy to syslog (see kura/syslog_copy.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/syslog_copy.h"

#define DATAGRAM_MAX (64 * 1024)

struct kura_syslog_copy {
    pthread_mutex_t lock;
    struct sockaddr_un addr;
    char ident[64];
    int retry_ms, wait_ms;
    int fd;              /* connected to the daemon, or -1 */
    int64_t next_try_ms; /* CLOCK_MONOTONIC: no connection is tried before */
    _Atomic uint64_t undelivered;
    uint64_t said;       /* of undelivered, those a gap notice has told of */
    bool in_gap;         /* copies are being lost and the caller was told */
    char why[KURA_SYSLOG_WHY_MAX];
    char buf[DATAGRAM_MAX];
};

/* The process's id for the headers, asked of the kernel once (a system
 * call per record otherwise, issue 17) and forgotten in a forked child
 * (kurafs detaches from the terminal after opening its audit log). */
static _Atomic long own_pid;
static pthread_once_t own_pid_once = PTHREAD_ONCE_INIT;

static void forget_own_pid(void)
{
    atomic_store(&own_pid, 0);
}

static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, forget_own_pid);
}

static long header_pid(void)
{
    long pid = atomic_load(&own_pid);
    if (pid == 0) {
        pid = (long)getpid();
        atomic_store(&own_pid, pid);
    }
    return pid;
}

struct kura_syslog_copy *kura_syslog_copy_new(const char *path, const char *ident, int retry_ms, int wait_ms)
{
    pthread_once(&own_pid_once, watch_forks);
    struct kura_syslog_copy *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->addr.sun_family = AF_UNIX;
    snprintf(s->addr.sun_path, sizeof s->addr.sun_path, "%s", path);
    snprintf(s->ident, sizeof s->ident, "%s", ident);
    s->retry_ms = retry_ms;
    s->wait_ms = wait_ms;
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

void kura_syslog_copy_free(struct kura_syslog_copy *s)
{
    if (!s)
        return;
    if (s->fd >= 0)
        close(s->fd);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

uint64_t kura_syslog_copy_undelivered(const struct kura_syslog_copy *s)
{
    return s ? atomic_load(&((struct kura_syslog_copy *)s)->undelivered) : 0;
}

static void disconnect(struct kura_syslog_copy *s, int64_t retry_at)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->next_try_ms = retry_at;
}

/* Under the lock. */
static int connect_daemon(struct kura_syslog_copy *s)
{
    int64_t now = kura_clock_ms(CLOCK_MONOTONIC);
    if (now < s->next_try_ms)
        return -1; /* why: the last attempt's */
    s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s->fd >= 0 && connect(s->fd, (const struct sockaddr *)&s->addr, sizeof s->addr) == 0)
        return 0;
    snprintf(s->why, sizeof s->why, "no syslog daemon takes messages at %s (%s)", s->addr.sun_path,
             strerror(errno));
    disconnect(s, now + s->retry_ms);
    return -1;
}

/* Under the lock: s->buf[0, len) to the daemon. */
static int deliver(struct kura_syslog_copy *s, size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->fd < 0 && connect_daemon(s) != 0)
            return -1;
        if (send(s->fd, s->buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
            return 0;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p = {.fd = s->fd, .events = POLLOUT};
            if (poll(&p, 1, s->wait_ms) > 0 && send(s->fd, s->buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
                return 0;
            snprintf(s->why, sizeof s->why, "the syslog daemon's queue stayed full for %d ms", s->wait_ms);
            return -1;
        }
        snprintf(s->why, sizeof s->why, "sending to the syslog daemon at %s failed (%s)", s->addr.sun_path,
                 strerror(errno));
        if (errno == EMSGSIZE || errno == ENOBUFS || errno == ENOMEM)
            return -1;
        /* The daemon went away or restarted: a new connection at once. */
        disconnect(s, 0);
    }
    return -1;
}

/* Under the lock: "<PRI>Mmm dd hh:mm:ss IDENT[PID]: " into s->buf, as
 * glibc's syslog() writes it (the time is local, as there). */
static size_t header(struct kura_syslog_copy *s, int priority)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm))
        memset(&tm, 0, sizeof tm);
    int n = snprintf(s->buf, sizeof s->buf, "<%d>%s %2d %02d:%02d:%02d %s[%ld]: ", priority,
                     months[tm.tm_mon >= 0 && tm.tm_mon < 12 ? tm.tm_mon : 0], tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, s->ident, header_pid());
    return n > 0 ? (size_t)n : 0;
}

/* Under the lock: the whole message into s->buf, cut to fit; its length. */
static size_t vcompose(struct kura_syslog_copy *s, int priority, const char *fmt, va_list ap)
{
    size_t at = header(s, priority);
    int n = vsnprintf(s->buf + at, sizeof s->buf - at, fmt, ap);
    if (n < 0)
        return at;
    return at + ((size_t)n < sizeof s->buf - at ? (size_t)n : sizeof s->buf - at - 1);
}

static size_t compose(struct kura_syslog_copy *s, int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len = vcompose(s, priority, fmt, ap);
    va_end(ap);
    return len;
}

int kura_syslog_copy_send(struct kura_syslog_copy *s, char why[KURA_SYSLOG_WHY_MAX], int priority,
                          const char *fmt, ...)
{
    if (!s)
        return -1;
    pthread_mutex_lock(&s->lock);
    /* A gap is said before the first copy after it, in the same stream:
     * the collector sees where the copies are missing, and how many. */
    uint64_t lost = atomic_load(&s->undelivered);
    if (lost > s->said &&
        deliver(s, compose(s, (priority & LOG_FACMASK) | LOG_WARNING,
                           "kura: %llu audit record copies were not delivered to syslog (%s); the local audit log "
                           "has every record it kept",
                           (unsigned long long)(lost - s->said), s->why)) == 0) {
        s->said = lost;
        s->in_gap = false;
    }
    va_list ap;
    va_start(ap, fmt);
    size_t len = vcompose(s, priority, fmt, ap);
    va_end(ap);
    int rc = 0;
    if (deliver(s, len) != 0) {
        atomic_fetch_add(&s->undelivered, 1);
        rc = -1;
        if (!s->in_gap) {
            s->in_gap = true;
            rc = 1;
            if (why)
                snprintf(why, KURA_SYSLOG_WHY_MAX, "%s", s->why);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}
