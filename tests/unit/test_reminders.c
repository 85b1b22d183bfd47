/* reminders.c: which reminders are due at a time given the marks of those
 * sent (R-REV-2: warn_days before an end; R-LOG-4: the yearly report), and
 * the marks file. Times are built in Asia/Tokyo, as people write them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/layout.h"
#include "kura/reminders.h"
#include "kura/when.h"
#include "unit.h"
#include "unit_time.h"

#define TZ kura_zone_get("Asia/Tokyo", NULL)
#define DAY 86400

static const unsigned warn[] = {90, 60, 40};
static struct kura_reminder_rules rules = {.warn_days = warn, .nwarn_days = 3}; /* zone: TZ, set by main */

static int64_t at(const char *when)
{
    return unit_at(when, TZ);
}

static struct kura_grant grants[2];

/* JGAD000001 from `from` to 2029-03-31 (its end: 2029-04-01T00:00+09:00). */
static struct kura_dataset dataset(const char *from)
{
    struct kura_dataset ds = {.id = "JGAD000001", .pi = "tanaka", .from = at(from), .until = at("2029-04-01"),
                              .status = KURA_DS_ACTIVE};
    return ds;
}
/* Less than a year: no yearly report falls in it. */
#define SHORT "2028-06-01"
#define LONG "2026-04-01"

/* How many reminders are due at now; the first goes to *first (if any). */
static size_t ndue(const struct kura_dataset *ds, int64_t now, const struct kura_reminder_mark *m, size_t nm,
                   struct kura_reminder *first)
{
    struct kura_reminder *r = NULL;
    size_t n = 0;
    struct kura_err err;
    if (kura_reminders_due(ds, &rules, now, m, nm, &r, &n, &err) != 0)
        n = (size_t)-1;
    else if (n && first)
        *first = r[0];
    free(r);
    return n;
}

static struct kura_reminder_mark mark_of(const struct kura_reminder *r)
{
    struct kura_reminder_mark m = {.sent = 1};
    snprintf(m.dataset, sizeof m.dataset, "%s", r->dataset);
    snprintf(m.user, sizeof m.user, "%s", r->user);
    snprintf(m.key, sizeof m.key, "%s", r->key);
    return m;
}

/* Each stage once, on its day; between stages nothing. */
static void test_end_stages_fall_due_in_turn(void)
{
    struct kura_dataset ds = dataset(SHORT);
    struct kura_reminder r;
    struct kura_reminder_mark marks[2];
    EXPECT(ndue(&ds, ds.until - 91 * DAY, NULL, 0, NULL) == 0);
    ASSERT(ndue(&ds, ds.until - 90 * DAY, NULL, 0, &r) == 1);
    EXPECT(r.kind == KURA_REMIND_END && r.days == 90 && r.user[0] == '\0');
    EXPECT(strcmp(r.key, "end 2029-03-31 90d") == 0 && r.deadline == ds.until);
    marks[0] = mark_of(&r);
    EXPECT(ndue(&ds, ds.until - 61 * DAY, marks, 1, NULL) == 0); /* sent: not again */
    ASSERT(ndue(&ds, ds.until - 60 * DAY, marks, 1, &r) == 1);
    EXPECT(r.days == 60 && strcmp(r.key, "end 2029-03-31 60d") == 0);
    marks[1] = mark_of(&r);
    EXPECT(ndue(&ds, ds.until - 40 * DAY - 1, marks, 2, NULL) == 0);
    ASSERT(ndue(&ds, ds.until - 40 * DAY, marks, 2, &r) == 1);
    EXPECT(r.days == 40);
    EXPECT(ndue(&ds, ds.until, marks, 2, NULL) == 0); /* ended: the end's own notice says so */
}

/* A dataset first seen 50 days before its end gets the 60-day reminder
 * only: the 90-day one would say less, later. */
static void test_late_start_sends_the_latest_stage_only(void)
{
    struct kura_dataset ds = dataset(SHORT);
    struct kura_reminder r;
    ASSERT(ndue(&ds, ds.until - 50 * DAY, NULL, 0, &r) == 1);
    EXPECT(r.days == 60);
    struct kura_reminder_mark m = mark_of(&r);
    EXPECT(ndue(&ds, ds.until - 45 * DAY, &m, 1, NULL) == 0); /* the 90-day one never follows */
}

/* An extension moves the end: its reminders are new ones, sent again. */
static void test_extension_starts_a_new_series(void)
{
    struct kura_dataset ds = dataset(SHORT);
    struct kura_reminder r;
    ASSERT(ndue(&ds, ds.until - 60 * DAY, NULL, 0, &r) == 1);
    struct kura_reminder_mark m = mark_of(&r);
    int64_t now = ds.until - 50 * DAY;
    ds.until = at("2029-06-01"); /* extended to 2029-05-31: 111 days left */
    EXPECT(ndue(&ds, now, &m, 1, NULL) == 0);
    ASSERT(ndue(&ds, ds.until - 90 * DAY, &m, 1, &r) == 1);
    EXPECT(strcmp(r.key, "end 2029-05-31 90d") == 0);
}

/* A grant ending before the dataset has its own reminders, to its user;
 * one ending with the dataset is covered by the dataset's. */
static void test_grant_ends(void)
{
    struct kura_dataset ds = dataset(LONG);
    grants[0] = (struct kura_grant){.user = "suzuki", .uid = 1002, .from = ds.from, .until = at("2027-01-01")};
    grants[1] = (struct kura_grant){.user = "sato", .uid = 1003, .from = ds.from, .until = ds.until};
    ds.grants = grants;
    ds.ngrants = 2;
    struct kura_reminder r;
    ASSERT(ndue(&ds, at("2026-11-01"), NULL, 0, &r) == 1); /* 61 days before suzuki's end */
    EXPECT(r.kind == KURA_REMIND_GRANT_END && strcmp(r.user, "suzuki") == 0 && r.days == 90);
    EXPECT(strcmp(r.key, "end 2026-12-31 90d") == 0);
    /* the dataset's end and the yearly report of 2028-04-01; sato's grant adds none */
    ASSERT(ndue(&ds, ds.until - 90 * DAY, NULL, 0, &r) == 2);
    EXPECT(r.kind == KURA_REMIND_END);
}

/* The yearly report falls due on each anniversary of the start, inside the
 * period; the end of use has its own report, not a yearly one. */
static void test_yearly_report_on_each_anniversary(void)
{
    struct kura_dataset ds = dataset(LONG);
    struct kura_reminder r;
    EXPECT(ndue(&ds, at("2027-04-01") - 1, NULL, 0, NULL) == 0);
    ASSERT(ndue(&ds, at("2027-04-01"), NULL, 0, &r) == 1);
    EXPECT(r.kind == KURA_REMIND_YEARLY && strcmp(r.key, "yearly 2027-04-01") == 0);
    char msg[320];
    kura_reminder_message(&r, TZ, at("2027-04-01"), msg, sizeof msg);
    EXPECT_STR_CONTAINS(msg, "yearly report of use of dataset JGAD000001 is due (the year to 2027-03-31)");
    struct kura_reminder_mark m = mark_of(&r);
    EXPECT(ndue(&ds, at("2027-09-01"), &m, 1, NULL) == 0); /* sent; the next is a year later */
    /* not sent on its day (the daemon was down): sent late, once */
    EXPECT(ndue(&ds, at("2027-09-01"), NULL, 0, NULL) == 1);
    struct kura_reminder *next = NULL;
    size_t nn = 0;
    struct kura_err err;
    ASSERT(kura_reminders_next(&ds, &rules, at("2027-09-01"), &next, &nn, &err) == 0);
    bool yearly = false, end = false;
    for (size_t i = 0; i < nn; i++) {
        if (next[i].kind == KURA_REMIND_YEARLY)
            yearly = strcmp(next[i].key, "yearly 2028-04-01") == 0;
        if (next[i].kind == KURA_REMIND_END)
            end = next[i].days == 90 && next[i].due == ds.until - 90 * DAY;
    }
    EXPECT(nn == 2 && yearly && end);
    free(next);
    /* 2029-04-01 is the day after the end: no yearly report then (only the
     * 2028-04-01 one, not sent here). */
    ASSERT(ndue(&ds, at("2029-04-01"), NULL, 0, &r) == 1);
    EXPECT(strcmp(r.key, "yearly 2028-04-01") == 0);
}

/* 29 February: the anniversary is the 28th in a common year. */
static void test_leap_day_anniversary(void)
{
    struct kura_dataset ds = dataset(LONG);
    ds.from = at("2028-02-29");
    ds.until = at("2031-01-01");
    struct kura_reminder r;
    ASSERT(ndue(&ds, at("2029-02-28"), NULL, 0, &r) == 1);
    EXPECT(strcmp(r.key, "yearly 2029-02-28") == 0);
}

/* The ethics approval's end has its own series, apart from the period's. */
static void test_ethics_end(void)
{
    struct kura_dataset ds = dataset(SHORT);
    snprintf(ds.ethics, sizeof ds.ethics, "IRB-2028-17");
    ds.ethics_until = at("2029-06-01");
    struct kura_reminder r;
    ASSERT(ndue(&ds, ds.ethics_until - 60 * DAY, NULL, 0, &r) == 1); /* the period ended before */
    EXPECT(r.kind == KURA_REMIND_ETHICS && strcmp(r.key, "ethics 2029-05-31 60d") == 0);
    EXPECT(strcmp(kura_reminder_event(r.kind), "ethics-warning") == 0);
    char msg[320];
    kura_reminder_message(&r, TZ, ds.ethics_until - 60 * DAY, msg, sizeof msg);
    EXPECT_STR_CONTAINS(msg, "the ethics approval of dataset JGAD000001 ends after 2029-05-31 (60 days)");
    EXPECT(ndue(&ds, ds.until - 90 * DAY, NULL, 0, NULL) == 1); /* the period's 90-day one only */
    EXPECT(ndue(&ds, ds.ethics_until - 90 * DAY, NULL, 0, NULL) == 2); /* both fall on one day */
}

static void test_destroyed_dataset_has_none(void)
{
    struct kura_dataset ds = dataset(LONG);
    ds.status = KURA_DS_DESTROYED;
    EXPECT(ndue(&ds, ds.until - 50 * DAY, NULL, 0, NULL) == 0);
    struct kura_reminder *next = NULL;
    size_t nn = 0;
    struct kura_err err;
    EXPECT(kura_reminders_next(&ds, &rules, ds.from, &next, &nn, &err) == 0 && nn == 0);
    free(next);
}

/* Removes a test's state directory and the marks file in it. */
static void remove_marks_dir(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, KURA_REMINDERS_FILE);
    unlink(path);
    rmdir(dir);
}

/* Marks survive in the state directory: added one at a time, read back. */
static void test_marks_file_round_trip(void)
{
    char dir[] = "/tmp/kura-test-reminders-XXXXXX";
    ASSERT(mkdtemp(dir));
    struct kura_reminder_mark *marks = NULL;
    size_t n = 0;
    struct kura_err err;
    ASSERT(kura_reminder_marks_load(dir, &marks, &n, &err) == 0 && n == 0); /* no file: none sent */
    struct kura_dataset ds = dataset(SHORT);
    struct kura_reminder r;
    ASSERT(ndue(&ds, ds.until - 60 * DAY, NULL, 0, &r) == 1);
    struct kura_reminder g = r;
    snprintf(g.user, sizeof g.user, "suzuki");
    EXPECT(kura_reminder_mark_add(dir, &marks, &n, &r, 1700000000, &err) == 0);
    EXPECT(kura_reminder_mark_add(dir, &marks, &n, &g, 1700000001, &err) == 0);
    free(marks);
    marks = NULL;
    ASSERT(kura_reminder_marks_load(dir, &marks, &n, &err) == 0);
    EXPECT(n == 2 && kura_reminder_marked(marks, n, &r) && kura_reminder_marked(marks, n, &g));
    EXPECT(n == 2 && marks[0].user[0] == '\0' && marks[0].sent == 1700000000 && marks[1].sent == 1700000001);
    EXPECT(ndue(&ds, ds.until - 55 * DAY, marks, n, NULL) == 0);
    free(marks);
    remove_marks_dir(dir);
}

/* More marks than the first room holds (8, then doubled): each read back
 * in order, and one more added to what was read. */
static void test_many_marks_round_trip(void)
{
    char dir[] = "/tmp/kura-test-reminders-XXXXXX";
    ASSERT(mkdtemp(dir));
    struct kura_reminder_mark *marks = NULL;
    size_t n = 0;
    struct kura_err err;
    struct kura_dataset ds = dataset(SHORT);
    struct kura_reminder r;
    ASSERT(ndue(&ds, ds.until - 60 * DAY, NULL, 0, &r) == 1);
    for (int i = 0; i < 20; i++) {
        snprintf(r.user, sizeof r.user, "user%02d", i);
        EXPECT(kura_reminder_mark_add(dir, &marks, &n, &r, 1700000000 + i, &err) == 0);
    }
    free(marks);
    ASSERT(kura_reminder_marks_load(dir, &marks, &n, &err) == 0);
    EXPECT(n == 20);
    for (size_t i = 0; i < n; i++)
        EXPECT(marks[i].sent == 1700000000 + (int64_t)i && strncmp(marks[i].user, "user", 4) == 0 &&
               atoi(marks[i].user + 4) == (int)i);
    snprintf(r.user, sizeof r.user, "user20");
    EXPECT(kura_reminder_mark_add(dir, &marks, &n, &r, 1700000020, &err) == 0);
    EXPECT(n == 21 && kura_reminder_marked(marks, n, &r));
    free(marks);
    ASSERT(kura_reminder_marks_load(dir, &marks, &n, &err) == 0);
    EXPECT(n == 21 && marks[20].sent == 1700000020);
    free(marks);
    remove_marks_dir(dir);
}

/* R-LOG-9: the weekly audit summary, on the configured day from its start
 * in the zone, for the 7 days before; once (its mark), the latest only. */
static void test_weekly_audit_summary(void)
{
    struct kura_reminder r;
    const int mon = 1;
    /* 2026-12-07 is a Monday (Asia/Tokyo). */
    EXPECT(!kura_audit_summary_due(-1, TZ, unit_at("2026-12-07T10:00:00+09:00", TZ), NULL, 0, &r));
    ASSERT(kura_audit_summary_due(mon, TZ, unit_at("2026-12-07T00:00:00+09:00", TZ), NULL, 0, &r));
    EXPECT(r.due == unit_at("2026-12-07", TZ) && r.since == unit_at("2026-11-30", TZ));
    EXPECT(strcmp(r.key, "audit-summary 2026-12-07") == 0 && strcmp(r.dataset, "-") == 0);
    EXPECT(strcmp(kura_reminder_event(r.kind), "audit-summary") == 0);
    char msg[320];
    kura_reminder_message(&r, TZ, r.due, msg, sizeof msg);
    EXPECT_STR_CONTAINS(msg, "--since 2026-11-30 --until 2026-12-06");
    /* A second before Monday's start (Sunday 23:59:59 in Tokyo, Sunday 14:59 UTC): the week before's. */
    ASSERT(kura_audit_summary_due(mon, TZ, unit_at("2026-12-06T23:59:59+09:00", TZ), NULL, 0, &r));
    EXPECT(strcmp(r.key, "audit-summary 2026-11-30") == 0);
    /* Marked: not again that week, on any day of it. */
    struct kura_reminder_mark mark = {.sent = 1};
    snprintf(mark.dataset, sizeof mark.dataset, "-");
    snprintf(mark.key, sizeof mark.key, "audit-summary 2026-12-07");
    EXPECT(!kura_audit_summary_due(mon, TZ, unit_at("2026-12-07T09:00:00+09:00", TZ), &mark, 1, &r));
    EXPECT(!kura_audit_summary_due(mon, TZ, unit_at("2026-12-13T23:00:00+09:00", TZ), &mark, 1, &r));
    ASSERT(kura_audit_summary_due(mon, TZ, unit_at("2026-12-14T00:00:01+09:00", TZ), &mark, 1, &r));
    EXPECT(strcmp(r.key, "audit-summary 2026-12-14") == 0);
    /* Three weeks down: only the latest week's. */
    ASSERT(kura_audit_summary_due(mon, TZ, unit_at("2027-01-03T12:00:00+09:00", TZ), &mark, 1, &r));
    EXPECT(strcmp(r.key, "audit-summary 2026-12-28") == 0 && r.since == unit_at("2026-12-21", TZ));
    /* Sunday, across the turn of the year. */
    ASSERT(kura_audit_summary_due(0, TZ, unit_at("2027-01-01T12:00:00+09:00", TZ), NULL, 0, &r));
    EXPECT(strcmp(r.key, "audit-summary 2026-12-27") == 0);
}

int main(void)
{
    rules.zone = TZ;
    RUN(test_end_stages_fall_due_in_turn);
    RUN(test_late_start_sends_the_latest_stage_only);
    RUN(test_extension_starts_a_new_series);
    RUN(test_grant_ends);
    RUN(test_yearly_report_on_each_anniversary);
    RUN(test_leap_day_anniversary);
    RUN(test_ethics_end);
    RUN(test_destroyed_dataset_has_none);
    RUN(test_marks_file_round_trip);
    RUN(test_many_marks_round_trip);
    RUN(test_weekly_audit_summary);
    return unit_done();
}
