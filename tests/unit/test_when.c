/* when.c: dates, RFC 3339 time stamps and periods as operators type them
 * (R-ACC-2: periods are the approved usage period, inclusive dates in the
 * configured zone; R-LOG-5: time stamps carry the zone). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "kura/when.h"
#include "kura/zone.h"
#include "unit.h"
#include "unit_time.h"

#define DAY 86400
#define HOUR 3600
#define TOKYO "Asia/Tokyo"

static int64_t utc(int64_t y, unsigned m, unsigned d, int hh, int mm, int ss)
{
    return kura_days_from_civil(y, m, d) * DAY + hh * HOUR + mm * 60 + ss;
}

/* The zone named, resolved as the config resolves its timezone. */
static const struct kura_zone *zone(const char *name)
{
    return kura_zone_get(name, NULL);
}

/* start of WHEN, or INT64_MIN when refused */
static int64_t start_of(const char *s, const char *tz)
{
    int64_t a = INT64_MIN, b = INT64_MIN;
    return kura_when_parse(s, zone(tz), &a, &b, NULL) == 0 ? a : INT64_MIN;
}

static void test_dates_valid(void)
{
    int64_t a = 0, b = 0;
    ASSERT(kura_when_parse("2026-04-01", zone(TOKYO), &a, &b, NULL) == 0);
    EXPECT(a == utc(2026, 3, 31, 15, 0, 0));
    EXPECT(b == a + DAY);
    EXPECT(start_of("2028-02-29", TOKYO) == utc(2028, 2, 28, 15, 0, 0)); /* leap year */
    EXPECT(start_of("2000-02-29", "UTC") == utc(2000, 2, 29, 0, 0, 0));
    EXPECT(start_of("2026-12-31", "UTC") == utc(2026, 12, 31, 0, 0, 0));
    EXPECT(start_of("0000-01-01", "UTC") == utc(0, 1, 1, 0, 0, 0));
    EXPECT(start_of("9999-12-31", "UTC") == utc(9999, 12, 31, 0, 0, 0));
    /* NULL zone is the default, Asia/Tokyo. */
    EXPECT(start_of("2026-04-01", NULL) == utc(2026, 3, 31, 15, 0, 0));
    /* Outputs are optional. */
    EXPECT(kura_when_parse("2026-04-01", zone(TOKYO), NULL, NULL, NULL) == 0);
}

static void test_dates_invalid(void)
{
    static const char *const bad[] = {
        "2026-02-29", "2100-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-04-00", "2026-1-1",
        "2026-01-1",  "2026-04-01 ", " 2026-04-01", "2026-04-01x", "", "20260401", "2026/04/01",
        "2026-04-01\n", "+2026-04-01", "-2026-04-01", "12026-04-01", "2026-O4-01", "2026-04-0\xef\xbc\x91",
        "2026-04-01T", "２０２６-04-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t a = 42, b = 43;
        struct kura_err err = {0};
        int rc = kura_when_parse(bad[i], zone(TOKYO), &a, &b, &err);
        if (rc == 0)
            printf("#   accepted \"%s\"\n", bad[i]);
        EXPECT(rc == -1);
        EXPECT(err.code == EINVAL);
        EXPECT(a == 42 && b == 43); /* untouched on failure */
    }
    struct kura_err err = {0};
    EXPECT(kura_when_parse("2026-02-29", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "\"2026-02-29\"");
    EXPECT_STR_CONTAINS(err.msg, "no such day");
    EXPECT(kura_when_parse("2026-1-1", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "YYYY-MM-DD");
    EXPECT(kura_when_parse(NULL, zone(TOKYO), NULL, NULL, &err) == -1 && err.code == EINVAL);
    /* Hostile input is shown cut and without control characters. */
    char hostile[400];
    memset(hostile, 'A', sizeof hostile - 1);
    hostile[sizeof hostile - 1] = '\0';
    hostile[3] = '\033';
    hostile[5] = '\n';
    EXPECT(kura_when_parse(hostile, zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT(strchr(err.msg, '\033') == NULL && strchr(err.msg, '\n') == NULL);
    EXPECT(strlen(err.msg) < 200);
}

static void test_stamps_valid(void)
{
    const int64_t t = utc(2026, 4, 1, 0, 0, 0);
    int64_t a = 0, b = 0;
    ASSERT(kura_when_parse("2026-04-01T09:00:00+09:00", zone("UTC"), &a, &b, NULL) == 0);
    EXPECT(a == t && b == t); /* an instant: [t, t] */
    EXPECT(start_of("2026-04-01T00:00:00Z", TOKYO) == t);
    EXPECT(start_of("2026-04-01t00:00:00z", TOKYO) == t);
    EXPECT(start_of("2026-04-01 00:00:00Z", TOKYO) == t);
    EXPECT(start_of("2026-04-01T00:00:00.999999999Z", TOKYO) == t); /* fraction ignored */
    EXPECT(start_of("2026-04-01T00:00:00.5+00:00", TOKYO) == t);
    EXPECT(start_of("2026-04-01T00:00:00-00:00", TOKYO) == t);
    EXPECT(start_of("2026-03-31T19:00:00-05:00", TOKYO) == t);
    EXPECT(start_of("2026-04-01T05:30:00+05:30", TOKYO) == t);
    EXPECT(start_of("2026-03-31T20:30:00-03:30", TOKYO) == t);
    EXPECT(start_of("2026-04-01T23:59:59+23:59", TOKYO) == t + 59);
    EXPECT(start_of("1970-01-01T00:00:00Z", TOKYO) == 0);
    EXPECT(start_of("1969-12-31T23:59:59Z", TOKYO) == -1);
    EXPECT(start_of("9999-12-31T23:59:59-23:59", TOKYO) == utc(10000, 1, 1, 23, 58, 59));
}

static void test_stamps_invalid(void)
{
    static const char *const bad[] = {
        "2026-04-01T24:00:00Z",      "2026-04-01T23:60:00Z",     "2026-04-01T23:59:60Z",
        "2026-04-01T09:00:00",       "2026-04-01T09:00Z",        "2026-04-01T09:00:00+0900",
        "2026-04-01T09:00:00+09",    "2026-04-01T09:00:00+24:00", "2026-04-01T09:00:00+09:60",
        "2026-04-01T09:00:00.Z",     "2026-04-01T09:00:00Z ",    "2026-04-01X09:00:00Z",
        "2026-02-29T00:00:00Z",      "2026-04-01T9:00:00Z",      "2026-04-01T09:00:00+09:00x",
        "2026-04-01T09:00:00ZZ",     "2026-04-01T09:00:00.1.2Z", "2026-04-01T09:00:00 +09:00",
        "2026-04-01T09:00:00UTC",    "2026-04-01T09:00:00+9:00", "2026-04-01T09:00:00,5Z",
        "2026-04-01T09:00:00.",      "2026-04-01T09-00-00Z",     "2026-04-01T-9:00:00Z",
        "2026-04-01T09:00:00.5",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_err err = {0};
        int rc = kura_when_parse(bad[i], zone(TOKYO), NULL, NULL, &err);
        if (rc == 0)
            printf("#   accepted \"%s\"\n", bad[i]);
        EXPECT(rc == -1 && err.code == EINVAL);
    }
    struct kura_err err = {0};
    EXPECT(kura_when_parse("2026-04-01T09:00:00", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "offset");
    EXPECT(kura_when_parse("2026-04-01T23:59:60Z", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "leap second");
    EXPECT(kura_when_parse("2026-04-01T25:00:00Z", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "out of range");
}

static void test_periods(void)
{
    int64_t from = 0, until = 0;
    /* Inclusive end: one date is exactly one day. */
    ASSERT(kura_period_parse("2026-04-01..2026-04-01", zone(TOKYO), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 3, 31, 15, 0, 0));
    EXPECT(until - from == DAY);
    ASSERT(kura_period_parse("2026-04-01..2027-03-31", zone(TOKYO), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 3, 31, 15, 0, 0));
    EXPECT(until == utc(2027, 3, 31, 15, 0, 0));
    /* Mixed and time stamps: a time stamp TO ends at that instant. */
    ASSERT(kura_period_parse("2026-04-01T12:00:00+09:00..2026-04-01", zone(TOKYO), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 4, 1, 3, 0, 0) && until == utc(2026, 4, 1, 15, 0, 0));
    ASSERT(kura_period_parse("2026-04-01..2026-04-30T18:00:00+09:00", zone(TOKYO), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 3, 31, 15, 0, 0) && until == utc(2026, 4, 30, 9, 0, 0));
    ASSERT(kura_period_parse("2026-04-01T00:00:00Z..2026-04-01T00:00:01Z", zone(TOKYO), &from, &until, NULL) == 0);
    EXPECT(until - from == 1);
    EXPECT(kura_period_parse("2026-04-01..2026-04-01", zone(TOKYO), NULL, NULL, NULL) == 0);

    struct kura_err err = {0};
    from = until = 7;
    EXPECT(kura_period_parse("2026-04-02..2026-04-01", zone(TOKYO), &from, &until, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "TO is before FROM");
    EXPECT(from == 7 && until == 7);
    EXPECT(kura_period_parse("2027-04-01..2026-04-01", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT(kura_period_parse("2026-04-01T00:00:00Z..2026-04-01T00:00:00Z", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "empty");
    EXPECT(kura_period_parse("2026-04-01T12:00:00+09:00..2026-03-31", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT(kura_period_parse("2026-04-01T00:00:00+09:00..2026-03-31", zone(TOKYO), NULL, NULL, &err) == -1);

    static const char *const bad[] = {
        "2026-04-01", "..2026-04-01", "2026-04-01..", "..", "", "2026-04-01...2026-04-02",
        "2026-04-01..2026-04-02..2026-04-03", "2026-04-01 .. 2026-04-02", "2026-04-01..2026-02-30",
        "2026-04-01.2026-04-02", "2026-04-01—2026-04-02", "2026-04-01T00:00:00..2026-04-02",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = kura_period_parse(bad[i], zone(TOKYO), NULL, NULL, &err);
        if (rc == 0)
            printf("#   accepted \"%s\"\n", bad[i]);
        EXPECT(rc == -1 && err.code == EINVAL);
    }
    EXPECT(kura_period_parse("2026-04-01..2026-02-30", zone(TOKYO), NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "TO");
    EXPECT_STR_CONTAINS(err.msg, "no such day");
    EXPECT(kura_period_parse(NULL, zone(TOKYO), NULL, NULL, &err) == -1);
}

static void test_dst_days(void)
{
    int64_t from, until;
    /* Berlin 2026-03-29 has 23 hours, 2026-10-25 has 25. */
    ASSERT(kura_period_parse("2026-03-29..2026-03-29", zone("Europe/Berlin"), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 3, 28, 23, 0, 0));
    EXPECT(until - from == 23 * HOUR);
    ASSERT(kura_period_parse("2026-10-25..2026-10-25", zone("Europe/Berlin"), &from, &until, NULL) == 0);
    EXPECT(until - from == 25 * HOUR);
    /* New York: 2026-03-08 is 23 hours, 2026-11-01 is 25. */
    ASSERT(kura_period_parse("2026-03-08..2026-03-08", zone("America/New_York"), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 3, 8, 5, 0, 0) && until - from == 23 * HOUR);
    ASSERT(kura_period_parse("2026-11-01..2026-11-01", zone("America/New_York"), &from, &until, NULL) == 0);
    EXPECT(from == utc(2026, 11, 1, 4, 0, 0) && until - from == 25 * HOUR);
    /* A whole year in Berlin is 365 days of seconds despite two DST changes. */
    ASSERT(kura_period_parse("2026-01-01..2026-12-31", zone("Europe/Berlin"), &from, &until, NULL) == 0);
    EXPECT(until - from == 365 * DAY);
    /* Tokyo has no DST: every day of 2026 is 24 hours. */
    int odd = 0;
    for (int64_t d = kura_days_from_civil(2026, 1, 1); d < kura_days_from_civil(2027, 1, 1); d++) {
        int64_t a, b;
        char date[11];
        if (kura_date_format(d * DAY, zone("UTC"), date, sizeof date) != 0 ||
            kura_when_parse(date, zone(TOKYO), &a, &b, NULL) != 0 || b - a != DAY || a != d * DAY - 9 * HOUR)
            odd++;
    }
    EXPECT(odd == 0);
}

static void expect_format(int64_t t, const char *tz, const char *want)
{
    char buf[32];
    int rc = kura_time_format(t, zone(tz), buf, sizeof buf);
    if (rc != 0 || strcmp(buf, want) != 0)
        printf("#   %lld in %s: got \"%s\", want \"%s\"\n", (long long)t, tz, buf, want);
    EXPECT(rc == 0 && strcmp(buf, want) == 0);
}

static void test_format(void)
{
    const int64_t t = utc(2026, 3, 31, 15, 0, 0);
    expect_format(t, TOKYO, "2026-04-01T00:00:00+09:00");
    expect_format(t, "UTC", "2026-03-31T15:00:00+00:00");
    expect_format(t, "Europe/Berlin", "2026-03-31T17:00:00+02:00");
    expect_format(t, "America/New_York", "2026-03-31T11:00:00-04:00");
    expect_format(t, "Asia/Kolkata", "2026-03-31T20:30:00+05:30");
    expect_format(t, "America/St_Johns", "2026-03-31T12:30:00-02:30");
    expect_format(utc(2026, 1, 15, 0, 0, 0), "America/St_Johns", "2026-01-14T20:30:00-03:30");
    expect_format(utc(2026, 3, 29, 0, 59, 59), "Europe/Berlin", "2026-03-29T01:59:59+01:00");
    expect_format(utc(2026, 3, 29, 1, 0, 0), "Europe/Berlin", "2026-03-29T03:00:00+02:00");
    expect_format(-1, "UTC", "1969-12-31T23:59:59+00:00");
    expect_format(t, NULL, "2026-04-01T00:00:00+09:00");
    /* Tokyo's local mean time (+09:18:59) is shown to the minute, clock adjusted. */
    expect_format(utc(1880, 1, 1, 0, 0, 0), TOKYO, "1880-01-01T09:18:00+09:18");

    char buf[32], date[11];
    EXPECT(kura_date_format(t, zone(TOKYO), date, sizeof date) == 0 && strcmp(date, "2026-04-01") == 0);
    EXPECT(kura_date_format(t - 1, zone(TOKYO), date, sizeof date) == 0 && strcmp(date, "2026-03-31") == 0);
    EXPECT(kura_date_format(t, zone("UTC"), date, sizeof date) == 0 && strcmp(date, "2026-03-31") == 0);
    /* Too small, unknown zone, years outside 0000-9999. */
    EXPECT(kura_time_format(t, zone(TOKYO), buf, 25) == -1 && buf[0] == '\0');
    EXPECT(kura_time_format(t, zone(TOKYO), buf, 26) == 0);
    EXPECT(kura_date_format(t, zone(TOKYO), date, 10) == -1 && date[0] == '\0');
    EXPECT(kura_time_format(t, zone(TOKYO), NULL, 10) == -1);
    EXPECT(kura_time_format(t, zone(TOKYO), buf, 0) == -1);
    EXPECT(kura_time_format(utc(10000, 1, 1, 0, 0, 0), zone("UTC"), buf, sizeof buf) == -1);
    EXPECT(kura_time_format(utc(-1, 12, 31, 0, 0, 0), zone("UTC"), buf, sizeof buf) == -1);
    EXPECT(kura_time_format(INT64_MAX, zone("UTC"), buf, sizeof buf) == -1);
    EXPECT(kura_time_format(INT64_MIN, zone("UTC"), buf, sizeof buf) == -1);
    EXPECT(kura_date_format(INT64_MAX, zone(TOKYO), date, sizeof date) == -1);
}

/* format then parse gives the instant back; a day's date gives its day back. */
static void test_round_trips(void)
{
    static const char *const zones[] = {TOKYO, "UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata"};
    int bad = 0;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        for (int64_t t = utc(1900, 1, 1, 0, 0, 0); t < utc(2100, 1, 1, 0, 0, 0); t += 3 * DAY + 7 * HOUR + 13) {
            char buf[32], date[11];
            int64_t back = 0, a = 0, b = 0;
            if (kura_time_format(t, zone(zones[i]), buf, sizeof buf) != 0 ||
                kura_when_parse(buf, zone(zones[i]), &back, NULL, NULL) != 0 || back != t)
                bad++;
            if (kura_date_format(t, zone(zones[i]), date, sizeof date) != 0 ||
                kura_when_parse(date, zone(zones[i]), &a, &b, NULL) != 0 || t < a || t >= b)
                bad++;
        }
    }
    EXPECT(bad == 0);
}

static void test_unknown_zone_refused(void)
{
    /* Callers resolve a zone once (the config at load, which refuses an
     * unknown one); a typo must surface there, not fall back to UTC. */
    struct kura_err err = {0};
    EXPECT(kura_zone_get("Nowhere/City", &err) == NULL);
    EXPECT(err.code == ENOENT);
    EXPECT_STR_CONTAINS(err.msg, "Nowhere/City");
    EXPECT(kura_zone_get("Asia/Tokio", &err) == NULL);
    EXPECT(kura_zone_get("Asia/Tokyo", &err) != NULL);
    EXPECT(kura_zone_get("UTC", &err) != NULL);
    EXPECT(kura_zone_get("Mars/Olympus_Mons", &err) == NULL && err.code == ENOENT);
    EXPECT(kura_zone_get("../../../etc/passwd", &err) == NULL && err.code == EINVAL);
    EXPECT(kura_zone_get("Asia/..", &err) == NULL);
    EXPECT(kura_zone_get("", &err) == NULL);
    EXPECT(kura_zone_get(NULL, &err) == NULL);
    EXPECT(kura_zone_get("zone1970.tab", &err) == NULL);
    /* NULL is the default zone, Asia/Tokyo. */
    char a[32], b[32];
    EXPECT(kura_time_format(0, NULL, a, sizeof a) == 0 && kura_time_format(0, zone(TOKYO), b, sizeof b) == 0);
    EXPECT(strcmp(a, b) == 0 && strcmp(a, "1970-01-01T09:00:00+09:00") == 0);
}

struct job {
    const char *tz, *date, *stamp;
    int64_t want_start, want_end;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    for (int i = 0; i < 3000; i++) {
        int64_t a, b;
        char buf[32];
        if (kura_when_parse(j->date, zone(j->tz), &a, &b, NULL) != 0 || a != j->want_start || b != j->want_end)
            j->failures++;
        if (kura_time_format(j->want_start, zone(j->tz), buf, sizeof buf) != 0 || strcmp(buf, j->stamp) != 0)
            j->failures++;
    }
    return NULL;
}

/* Several threads in different zones at once (the daemon's FUSE threads). */
static void test_threads(void)
{
    struct job jobs[] = {
        {TOKYO, "2026-04-01", "2026-04-01T00:00:00+09:00", utc(2026, 3, 31, 15, 0, 0), utc(2026, 4, 1, 15, 0, 0), 0},
        {"Europe/Berlin", "2026-03-29", "2026-03-29T00:00:00+01:00", utc(2026, 3, 28, 23, 0, 0),
         utc(2026, 3, 29, 22, 0, 0), 0},
        {"America/New_York", "2026-11-01", "2026-11-01T00:00:00-04:00", utc(2026, 11, 1, 4, 0, 0),
         utc(2026, 11, 2, 5, 0, 0), 0},
        {"UTC", "2026-04-01", "2026-04-01T00:00:00+00:00", utc(2026, 4, 1, 0, 0, 0), utc(2026, 4, 2, 0, 0, 0), 0},
        {"Australia/Sydney", "2026-04-05", "2026-04-05T00:00:00+11:00", utc(2026, 4, 4, 13, 0, 0),
         utc(2026, 4, 5, 14, 0, 0), 0},
    };
    enum { N = sizeof jobs / sizeof jobs[0] };
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        ASSERT(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        if (jobs[i].failures)
            printf("#   %s: %d failures\n", jobs[i].tz, jobs[i].failures);
        EXPECT(jobs[i].failures == 0);
    }
}

/* A day and nothing else (a grant's training date, R-ACC-9). */
static void test_date_parse(void)
{
    const struct kura_zone *tokyo = kura_zone_get("Asia/Tokyo", NULL);
    int64_t start = 0;
    struct kura_err e = {0};
    EXPECT(kura_date_parse("2026-11-20", tokyo, &start, &e) == 0);
    EXPECT(start == unit_at("2026-11-20T00:00:00+09:00", tokyo));
    EXPECT(kura_date_parse("2024-02-29", NULL, NULL, &e) == 0);
    static const char *const bad[] = {"2026-11-20T00:00:00Z", "2026-11-2", "20261120", "", "2026-02-29",
                                      " 2026-11-20", "2026-13-01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        EXPECT(kura_date_parse(bad[i], tokyo, &start, &e) == -1);
    EXPECT(kura_date_parse(NULL, tokyo, &start, &e) == -1);
}

int main(void)
{
    RUN(test_threads); /* first, so the threads also race to fill the zone cache */
    RUN(test_dates_valid);
    RUN(test_date_parse);
    RUN(test_dates_invalid);
    RUN(test_stamps_valid);
    RUN(test_stamps_invalid);
    RUN(test_periods);
    RUN(test_dst_days);
    RUN(test_format);
    RUN(test_round_trips);
    RUN(test_unknown_zone_refused);
    return unit_done();
}
