#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "kura/error.h"

void kura_err_set(struct kura_err *err, int code, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

void kura_err_prefix(struct kura_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256], joined[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* "prefix: message", cut to fit; truncation is acceptable for a message. */
    size_t plen = strlen(prefix);
    size_t room = sizeof joined - plen - 3;
    size_t mlen = strnlen(err->msg, room);
    memcpy(joined, prefix, plen);
    memcpy(joined + plen, ": ", 2);
    memcpy(joined + plen + 2, err->msg, mlen);
    joined[plen + 2 + mlen] = '\0';
    memcpy(err->msg, joined, sizeof joined);
}

static atomic_bool notice_echo;

void kura_notice_echo(bool on)
{
    atomic_store(&notice_echo, on);
}

void kura_notice(int prio, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    syslog(LOG_AUTHPRIV | prio, "%s", line);
    /* One call per line, so that notices of several threads do not mix. */
    if (atomic_load(&notice_echo))
        fprintf(stderr, "%s\n", line);
}
