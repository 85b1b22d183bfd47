/* Reminders before deadlines (issue 18, R-REV-2, R-LOG-4): warn_days
 * before a dataset's, its ethics approval's or a grant's end, and the
 * yearly report on each anniversary of the dataset's start. Each is sent once: the daemon
 * records a mark in STATE/reminders.tsv after sending it.
 *
 * A dataset's reminders form series (its end, each grant's end, its
 * yearly reports); a series' stages fall due one after another. What is
 * due at a time is, per series, the latest stage whose time has come, if
 * not marked: a dataset added 50 days before its end gets the 60-day
 * reminder only, never the 90-day one after it. A stage's key names its
 * deadline ("end 2027-03-31 60d", "ethics 2027-03-31 90d"), so an
 * extension or a new approval starts a new series.
 * Computing what is due is pure: the same dataset, rules, time and marks
 * give the same answer (unit-tested without a daemon). */
#ifndef KURA_REMINDERS_H
#define KURA_REMINDERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/config.h"
#include "kura/error.h"
#include "kura/model.h"
#include "kura/zone.h"

#define KURA_REMINDER_KEY_MAX 48

enum kura_reminder_kind {
    KURA_REMIND_END,        /* the dataset's approved period ends */
    KURA_REMIND_GRANT_END,  /* a user's grant ends before the dataset's */
    KURA_REMIND_YEARLY,     /* the yearly report is due */
    KURA_REMIND_ETHICS,     /* the dataset's ethics approval ends */
    KURA_REMIND_AUDIT_SUMMARY, /* the weekly audit log summary (dataset "-") */
};

struct kura_reminder {
    enum kura_reminder_kind kind;
    char dataset[KURA_ID_MAX + 1];
    char user[KURA_USER_MAX + 1];       /* the grant's user; "" otherwise */
    char key[KURA_REMINDER_KEY_MAX];    /* unique within (dataset, user) */
    int64_t due;                        /* when it is sent */
    int64_t deadline;                   /* what it reminds of: an end, an anniversary */
    unsigned days;                      /* before the end; 0 for a yearly report */
    int64_t since;                      /* a summary: the start of the week summed up (to due) */
};

/* A reminder sent: (dataset, user, key) and when. */
struct kura_reminder_mark {
    char dataset[KURA_ID_MAX + 1];
    char user[KURA_USER_MAX + 1];
    char key[KURA_REMINDER_KEY_MAX];
    int64_t sent;
};

/* What the rules are: days before ends (largest first, as in kura_config)
 * and the zone dates are in. */
struct kura_reminder_rules {
    const unsigned *warn_days;
    size_t nwarn_days;
    const struct kura_zone *zone;
};

void kura_reminder_rules_from(const struct kura_config *cfg, struct kura_reminder_rules *rules);

/* The reminders of ds due at now and not in marks, appended to *out
 * (realloc'd; *n counts). A destroyed dataset has none. -1 only when out
 * of memory. */
int kura_reminders_due(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                       const struct kura_reminder_mark *marks, size_t nmarks, struct kura_reminder **out,
                       size_t *n, struct kura_err *err);
/* The next stage of each of ds's series that is still to come (due > now),
 * appended to *out the same way: what `kuractl status` lists as next. */
int kura_reminders_next(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                        struct kura_reminder **out, size_t *n, struct kura_err *err);

/* The marks in STATE/reminders.tsv ("dataset TAB user-or-'-' TAB key TAB
 * unix-seconds" lines); a missing file is no marks. Free with free(). */
int kura_reminder_marks_load(const char *state_dir, struct kura_reminder_mark **marks, size_t *n,
                             struct kura_err *err);
/* Adds r's mark (sent at `sent`) to *marks and replaces the file with
 * them all atomically (kura_write_file_atomic, fsynced): after a crash the
 * file holds the marks before or after, whole. */
int kura_reminder_mark_add(const char *state_dir, struct kura_reminder_mark **marks, size_t *n,
                           const struct kura_reminder *r, int64_t sent, struct kura_err *err);
bool kura_reminder_marked(const struct kura_reminder_mark *marks, size_t n, const struct kura_reminder *r);

/* The weekly audit summary (R-LOG-9) due at now and not in marks: on each
 * `weekday` (0 Sunday .. 6 Saturday; -1: never) from the start of the day
 * in zone, for the 7 days before it; only the latest such day (a daemon
 * stopped for weeks sends one). true: *r is it (dataset "-", key
 * "audit-summary YYYY-MM-DD", due the day's start, since 7 days before). */
bool kura_audit_summary_due(int weekday, const struct kura_zone *zone, int64_t now,
                            const struct kura_reminder_mark *marks, size_t nmarks, struct kura_reminder *r);

/* "expiry-warning", "yearly-report", "ethics-warning" or "audit-summary":
 * the notify_command event. */
const char *kura_reminder_event(enum kura_reminder_kind kind);
/* One line for people: what is due and by when, dates in zone. */
void kura_reminder_message(const struct kura_reminder *r, const struct kura_zone *zone, int64_t now, char *buf,
                           size_t len);

#endif
