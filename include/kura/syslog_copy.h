/* The audit records' copy to the machine's syslog daemon (R-LOG-5), on a
 * datagram socket of its own instead of glibc's syslog(3). glibc's tries
 * to connect again at every message while no daemon listens (a socket, a
 * connect and a close for every record), waits without bound while the
 * daemon's queue is full, and drops a message without a word. Here:
 *  - a daemon that is not there is tried again at most once every
 *    retry_ms; a connection that fails at a send is made again at once,
 *    once, as glibc does (the daemon restarted);
 *  - a full queue is waited for at most wait_ms;
 *  - every copy not delivered is counted, and the count is said (warning)
 *    just before the next copy that gets through, so the site's collector
 *    sees the gap and how big it was.
 * Messages are in the format glibc sends: "<PRI>Mmm dd hh:mm:ss IDENT[PID]:
 * TEXT". Safe to call from several threads. */
#ifndef KURA_SYSLOG_COPY_H
#define KURA_SYSLOG_COPY_H
#include <stdint.h>

#define KURA_SYSLOG_PATH "/dev/log"
#define KURA_SYSLOG_RETRY_MS 1000
#define KURA_SYSLOG_WAIT_MS 100
#define KURA_SYSLOG_WHY_MAX 160

struct kura_syslog_copy;

/* Nothing is connected yet: the first send tries. ident is copied (cut at
 * 63 bytes). NULL when out of memory. */
struct kura_syslog_copy *kura_syslog_copy_new(const char *path, const char *ident, int retry_ms, int wait_ms);
void kura_syslog_copy_free(struct kura_syslog_copy *s);

/* Sends one message, priority = facility | severity as in syslog(3). The
 * text is cut to fit one datagram of 64 KiB. Returns 0 when the daemon took
 * it; -1 when it is counted as not delivered; 1 when it is, and it is the
 * first of a gap (since s was made, or since the last gap was said): then
 * why (if not NULL) says why, for the caller to tell someone. */
int kura_syslog_copy_send(struct kura_syslog_copy *s, char why[KURA_SYSLOG_WHY_MAX], int priority,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Copies not delivered since s was made. */
uint64_t kura_syslog_copy_undelivered(const struct kura_syslog_copy *s);

#endif
