/* Errors: every fallible kura call fills a kura_err with an errno-style code
 * (what the FUSE layer returns) and one line naming what failed. */
#ifndef KURA_ERROR_H
#define KURA_ERROR_H
#include <stdbool.h>

struct kura_err {
    int code;        /* errno value: EIO, EACCES, EINVAL, ENOENT, ... */
    char msg[512];   /* one line, no trailing newline; never holds secrets */
};

__attribute__((format(printf, 3, 4)))
void kura_err_set(struct kura_err *err, int code, const char *fmt, ...);

/* Prefixes err->msg with context ("import x.bam: ..."); keeps the code. */
__attribute__((format(printf, 2, 3)))
void kura_err_prefix(struct kura_err *err, const char *fmt, ...);

/* Notices for the operator: sent to syslog (LOG_AUTHPRIV at prio) and, once
 * kura_notice_echo(true) is called (kurafs -f: syslog is absent on many
 * machines), also written to stderr, one line each. */
__attribute__((format(printf, 2, 3)))
void kura_notice(int prio, const char *fmt, ...);
void kura_notice_echo(bool on);

#endif
