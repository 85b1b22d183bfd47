#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/layout.h"
#include "kura/reminders.h"
#include "kura/when.h"

#define MARKS_FILE_MAX (4u << 20)
#define YEARS_MAX 100 /* anniversaries looked at: longer periods are not approved */

void kura_reminder_rules_from(const struct kura_config *cfg, struct kura_reminder_rules *rules)
{
    rules->warn_days = cfg->warn_days;
    rules->nwarn_days = cfg->nwarn_days;
    rules->zone = cfg->zone;
}

const char *kura_reminder_event(enum kura_reminder_kind kind)
{
    return kind == KURA_REMIND_YEARLY          ? "yearly-report"
           : kind == KURA_REMIND_ETHICS        ? "ethics-warning"
           : kind == KURA_REMIND_AUDIT_SUMMARY ? "audit-summary"
                                               : "expiry-warning";
}

/* The stages of one series, in the order they fall due. */
struct series {
    struct kura_reminder stage[KURA_WARN_DAYS_MAX > 2 ? KURA_WARN_DAYS_MAX : 2];
    size_t n;
};

/* The warn_days stages before an end: of ds's period or ethics approval,
 * or of user's grant. */
static void end_series(const struct kura_dataset *ds, enum kura_reminder_kind kind, const char *user, int64_t end,
                       const struct kura_reminder_rules *rules, struct series *s)
{
    char last[24];
    if (kura_date_format(end - 1, rules->zone, last, sizeof last) != 0)
        snprintf(last, sizeof last, "@%" PRId64, end);
    s->n = 0;
    for (size_t i = 0; i < rules->nwarn_days && i < KURA_WARN_DAYS_MAX; i++) {
        struct kura_reminder *r = &s->stage[s->n++];
        *r = (struct kura_reminder){
            .kind = kind,
            .due = end - (int64_t)rules->warn_days[i] * 86400,
            .deadline = end,
            .days = rules->warn_days[i],
        };
        snprintf(r->dataset, sizeof r->dataset, "%s", ds->id);
        snprintf(r->user, sizeof r->user, "%s", user);
        snprintf(r->key, sizeof r->key, "%s %s %ud", kind == KURA_REMIND_ETHICS ? "ethics" : "end", last,
                 rules->warn_days[i]);
    }
}

/* The start of the day `years` years and `days` days after the day of t,
 * in zone; a 29 February falls on the 28th in other years. *wday (may be
 * NULL) gets its day of the week (0 Sunday). -1 if it cannot be said. */
static int day_after(int64_t t, int years, int days, const struct kura_zone *zone, int64_t *at, int *wday)
{
    char day[48]; /* room for any int: the compiler cannot know the date is short */
    int y, m, d;
    if (kura_date_format(t, zone, day, sizeof day) != 0 || sscanf(day, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    /* The calendar's arithmetic, in UTC where every day has 24 hours. */
    struct tm tm = {.tm_year = y + years - 1900, .tm_mon = m - 1, .tm_mday = d + days, .tm_hour = 12};
    time_t noon = timegm(&tm);
    if (years && tm.tm_mday != d + days) { /* 29 February in a common year */
        tm = (struct tm){.tm_year = y + years - 1900, .tm_mon = m - 1, .tm_mday = d - 1 + days, .tm_hour = 12};
        noon = timegm(&tm);
    }
    struct tm out;
    if (noon == (time_t)-1 || !gmtime_r(&noon, &out))
        return -1;
    if (wday)
        *wday = out.tm_wday;
    snprintf(day, sizeof day, "%04d-%02d-%02d", out.tm_year + 1900, out.tm_mon + 1, out.tm_mday);
    struct kura_err e;
    return kura_when_parse(day, zone, at, NULL, &e);
}

/* The yearly-report series, cut to the two stages that matter at now:
 * the last anniversary that has come and the next one before the end. */
static void yearly_series(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                          struct series *s)
{
    int64_t last = 0, next = 0, at;
    for (int k = 1; k <= YEARS_MAX && day_after(ds->from, k, 0, rules->zone, &at, NULL) == 0 && at < ds->until; k++) {
        if (at > now) {
            next = at;
            break;
        }
        last = at;
    }
    s->n = 0;
    for (int i = 0; i < 2; i++) {
        int64_t when = i == 0 ? last : next;
        if (!when)
            continue;
        struct kura_reminder *r = &s->stage[s->n++];
        *r = (struct kura_reminder){.kind = KURA_REMIND_YEARLY, .due = when, .deadline = when};
        snprintf(r->dataset, sizeof r->dataset, "%s", ds->id);
        char day[24];
        if (kura_date_format(when, rules->zone, day, sizeof day) != 0)
            snprintf(day, sizeof day, "@%" PRId64, when);
        snprintf(r->key, sizeof r->key, "yearly %s", day);
    }
}

bool kura_audit_summary_due(int weekday, const struct kura_zone *zone, int64_t now,
                            const struct kura_reminder_mark *marks, size_t nmarks, struct kura_reminder *r)
{
    int64_t today;
    int wday;
    if (weekday < 0 || weekday > 6 || day_after(now, 0, 0, zone, &today, &wday) != 0)
        return false;
    int back = (wday - weekday + 7) % 7;
    *r = (struct kura_reminder){.kind = KURA_REMIND_AUDIT_SUMMARY, .days = 7};
    char day[24];
    if (day_after(now, 0, -back, zone, &r->due, NULL) != 0 || day_after(now, 0, -back - 7, zone, &r->since, NULL) != 0 ||
        kura_date_format(r->due, zone, day, sizeof day) != 0)
        return false;
    r->deadline = r->due;
    snprintf(r->dataset, sizeof r->dataset, "-");
    snprintf(r->key, sizeof r->key, "audit-summary %s", day);
    return r->due <= now && !kura_reminder_marked(marks, nmarks, r);
}

bool kura_reminder_marked(const struct kura_reminder_mark *marks, size_t n, const struct kura_reminder *r)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(marks[i].dataset, r->dataset) == 0 && strcmp(marks[i].user, r->user) == 0 &&
            strcmp(marks[i].key, r->key) == 0)
            return true;
    return false;
}

static int append(struct kura_reminder **out, size_t *n, const struct kura_reminder *r, struct kura_err *err)
{
    struct kura_reminder *grown = realloc(*out, (*n + 1) * sizeof *grown);
    if (!grown) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    *out = grown;
    grown[(*n)++] = *r;
    return 0;
}

/* Calls pick on each series of ds. */
static int each_series(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                       int (*pick)(const struct series *s, int64_t now, const void *arg, struct kura_reminder **out,
                                   size_t *n, struct kura_err *err),
                       const void *arg, struct kura_reminder **out, size_t *n, struct kura_err *err)
{
    if (ds->status == KURA_DS_DESTROYED)
        return 0;
    struct series s;
    end_series(ds, KURA_REMIND_END, "", ds->until, rules, &s);
    if (pick(&s, now, arg, out, n, err) != 0)
        return -1;
    if (ds->ethics_until) {
        end_series(ds, KURA_REMIND_ETHICS, "", ds->ethics_until, rules, &s);
        if (pick(&s, now, arg, out, n, err) != 0)
            return -1;
    }
    for (size_t g = 0; g < ds->ngrants; g++) {
        /* A grant ending with the dataset is covered by the dataset's reminders. */
        if (ds->grants[g].until >= ds->until)
            continue;
        end_series(ds, KURA_REMIND_GRANT_END, ds->grants[g].user, ds->grants[g].until, rules, &s);
        if (pick(&s, now, arg, out, n, err) != 0)
            return -1;
    }
    yearly_series(ds, rules, now, &s);
    return pick(&s, now, arg, out, n, err);
}

struct marks {
    const struct kura_reminder_mark *v;
    size_t n;
};

/* The latest stage that has come, unless marked or (before an end) the end has passed. */
static int pick_due(const struct series *s, int64_t now, const void *arg, struct kura_reminder **out, size_t *n,
                    struct kura_err *err)
{
    const struct marks *m = arg;
    const struct kura_reminder *latest = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->stage[i].due <= now && (!latest || s->stage[i].due >= latest->due))
            latest = &s->stage[i];
    if (!latest || (latest->kind != KURA_REMIND_YEARLY && now >= latest->deadline) ||
        kura_reminder_marked(m->v, m->n, latest))
        return 0;
    return append(out, n, latest, err);
}

/* The first stage still to come. */
static int pick_next(const struct series *s, int64_t now, const void *arg, struct kura_reminder **out, size_t *n,
                     struct kura_err *err)
{
    (void)arg;
    const struct kura_reminder *first = NULL;
    for (size_t i = 0; i < s->n; i++)
        if (s->stage[i].due > now && (!first || s->stage[i].due < first->due))
            first = &s->stage[i];
    return first ? append(out, n, first, err) : 0;
}

int kura_reminders_due(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                       const struct kura_reminder_mark *marks, size_t nmarks, struct kura_reminder **out,
                       size_t *n, struct kura_err *err)
{
    struct marks m = {marks, nmarks};
    return each_series(ds, rules, now, pick_due, &m, out, n, err);
}

int kura_reminders_next(const struct kura_dataset *ds, const struct kura_reminder_rules *rules, int64_t now,
                        struct kura_reminder **out, size_t *n, struct kura_err *err)
{
    return each_series(ds, rules, now, pick_next, NULL, out, n, err);
}

static char *marks_path(const char *state_dir)
{
    char *path = NULL;
    return asprintf(&path, "%s/" KURA_REMINDERS_FILE, state_dir) < 0 ? NULL : path;
}

int kura_reminder_marks_load(const char *state_dir, struct kura_reminder_mark **marks, size_t *n,
                             struct kura_err *err)
{
    *marks = NULL;
    *n = 0;
    char *path = marks_path(state_dir), *data = NULL;
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    int rc = kura_read_file(path, MARKS_FILE_MAX, &data, NULL, err);
    free(path);
    if (rc != 0)
        return err->code == ENOENT ? 0 : -1;
    char *save = NULL;
    size_t cap = 0;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct kura_reminder_mark mk = {0};
        if (sscanf(line, "%64[^\t]\t%32[^\t]\t%47[^\t]\t%" SCNd64, mk.dataset, mk.user, mk.key, &mk.sent) != 4)
            continue; /* not kura's line: a mark lost sends a reminder again, never fewer */
        if (strcmp(mk.user, "-") == 0)
            mk.user[0] = '\0';
        if (!kura_grow((void **)marks, &cap, *n, sizeof **marks)) {
            free(data);
            free(*marks);
            *marks = NULL;
            *n = 0;
            kura_err_set(err, ENOMEM, "out of memory");
            return -1;
        }
        (*marks)[(*n)++] = mk;
    }
    free(data);
    return 0;
}

int kura_reminder_mark_add(const char *state_dir, struct kura_reminder_mark **marks, size_t *n,
                           const struct kura_reminder *r, int64_t sent, struct kura_err *err)
{
    struct kura_reminder_mark *grown = realloc(*marks, (*n + 1) * sizeof *grown);
    if (!grown) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    *marks = grown;
    struct kura_reminder_mark *mk = &grown[(*n)++];
    *mk = (struct kura_reminder_mark){.sent = sent};
    snprintf(mk->dataset, sizeof mk->dataset, "%s", r->dataset);
    snprintf(mk->user, sizeof mk->user, "%s", r->user);
    snprintf(mk->key, sizeof mk->key, "%s", r->key);

    size_t cap = *n * (sizeof *mk + 24) + 1, len = 0;
    char *text = malloc(cap), *path = marks_path(state_dir);
    int rc = -1;
    if (!text || !path)
        kura_err_set(err, ENOMEM, "out of memory");
    else {
        for (size_t i = 0; i < *n; i++)
            len += (size_t)snprintf(text + len, cap - len, "%s\t%s\t%s\t%" PRId64 "\n", grown[i].dataset,
                                    grown[i].user[0] ? grown[i].user : "-", grown[i].key, grown[i].sent);
        rc = kura_write_file_atomic(path, text, len, 0600, err);
    }
    free(text);
    free(path);
    return rc;
}

void kura_reminder_message(const struct kura_reminder *r, const struct kura_zone *zone, int64_t now, char *buf,
                           size_t len)
{
    char day[24];
    if (r->kind == KURA_REMIND_YEARLY) {
        if (kura_date_format(r->deadline - 1, zone, day, sizeof day) != 0)
            snprintf(day, sizeof day, "?");
        snprintf(buf, len, "the yearly report of use of dataset %s is due (the year to %s): kuractl report usage %s",
                 r->dataset, day, r->dataset);
        return;
    }
    if (r->kind == KURA_REMIND_AUDIT_SUMMARY) {
        char from[24];
        if (kura_date_format(r->since, zone, from, sizeof from) != 0 ||
            kura_date_format(r->due - 1, zone, day, sizeof day) != 0)
            snprintf(from, sizeof from, "?"), snprintf(day, sizeof day, "?");
        snprintf(buf, len, "review the audit log's summary of %s to %s (the file named in KURA_FILE; kuractl audit "
                 "summary --since %s --until %s)", from, day, from, day);
        return;
    }
    if (kura_date_format(r->deadline - 1, zone, day, sizeof day) != 0)
        snprintf(day, sizeof day, "?");
    long days = (long)((r->deadline - now + 86399) / 86400);
    if (r->kind == KURA_REMIND_ETHICS)
        snprintf(buf, len, "the ethics approval of dataset %s ends after %s (%ld days): renew it before the use "
                 "is extended past it", r->dataset, day, days);
    else if (r->kind == KURA_REMIND_GRANT_END)
        snprintf(buf, len, "%s's use of dataset %s ends after %s (%ld days): the PI may ask for an extension",
                 r->user, r->dataset, day, days);
    else
        snprintf(buf, len, "the approved period of dataset %s ends after %s (%ld days): request an extension "
                 "at least a month before the end", r->dataset, day, days);
}
