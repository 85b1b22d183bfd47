/* Notifications (issue 6): consent withdrawals, destructions, expiry
 * warnings reach people through syslog (facility authpriv) and, when
 * [revocation] notify_command is set, through that program, run with the
 * event's fields in environment variables (KURA_EVENT, KURA_DATASET,
 * KURA_PI, KURA_USERS, KURA_SAMPLE, KURA_REF, KURA_TIME, KURA_MESSAGE,
 * KURA_REASON, KURA_BY, KURA_BYTES; an absent field is an empty variable;
 * KURA_FILE when the notice comes with a text longer than a line) so a
 * site can send mail. A notification never blocks or undoes what it reports:
 * callers send it after the change is committed, a failing program is
 * logged to syslog, and a program still running after the wait is left to
 * finish on its own. */
#ifndef KURA_NOTIFY_H
#define KURA_NOTIFY_H
#include <stdint.h>

#include "kura/config.h"
#include "kura/error.h"

struct kura_notice {
    const char *event;          /* "withdraw", "destroy", "expiry-warning", ... */
    const char *dataset;
    const char *pi;
    const char *users;          /* listed users, comma-separated */
    const char *sample;         /* may be NULL */
    const char *ref;            /* may be NULL */
    int64_t time;               /* Unix seconds */
    const char *message;        /* one line for people */
    const char *reason;         /* why (lockdown, suspension); may be NULL */
    const char *by;             /* who acted (an operator); may be NULL */
    const char *bytes;          /* bytes read (bulk-read), decimal; may be NULL */
    const char *file;           /* may be NULL: a file (root's, 0600) with the full text */
};

/* Logs n to syslog and runs notify_command (if set) in a new session,
 * waiting at most wait_ms for it (0: do not wait; a thread reaps it and
 * logs a failure). Returns -1 only if the program could not be started
 * (err says why; the syslog line was still written). */
int kura_notify(const struct kura_config *cfg, const struct kura_notice *n, int wait_ms, struct kura_err *err);

#endif
