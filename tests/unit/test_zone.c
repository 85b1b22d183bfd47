/* zone.c: TZif parsing, offsets and local day starts. The offsets are
 * checked against glibc's own reading of the same files for every zone in
 * zone1970.tab (R-LOG-5: time stamps carry the right zone). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "kura/zone.h"
#include "unit.h"

#define DAY 86400
#define HOUR 3600

static int64_t utc(int64_t y, unsigned m, unsigned d, int hh, int mm, int ss)
{
    return kura_days_from_civil(y, m, d) * DAY + hh * HOUR + mm * 60 + ss;
}

static int64_t day_start(const char *tz, int64_t y, unsigned m, unsigned d)
{
    const struct kura_zone *z = kura_zone_get(tz, NULL);
    return z ? kura_zone_local_start(z, kura_days_from_civil(y, m, d) * DAY) : INT64_MIN;
}

static void test_civil_round_trip(void)
{
    EXPECT(kura_days_from_civil(1970, 1, 1) == 0);
    EXPECT(kura_days_from_civil(2000, 3, 1) == 11017);
    EXPECT(kura_days_from_civil(1969, 12, 31) == -1);
    EXPECT(kura_days_from_civil(0, 1, 1) == -719528);
    for (int64_t days = -800000; days <= 3000000; days += 997) {
        int64_t y;
        unsigned m, d;
        kura_civil_from_days(days, &y, &m, &d);
        EXPECT(kura_days_from_civil(y, m, d) == days);
        EXPECT(m >= 1 && m <= 12 && d >= 1 && d <= kura_days_in_month(y, m));
    }
    EXPECT(kura_days_in_month(2026, 2) == 28);
    EXPECT(kura_days_in_month(2028, 2) == 29);
    EXPECT(kura_days_in_month(1900, 2) == 28);
    EXPECT(kura_days_in_month(2000, 2) == 29);
    EXPECT(kura_days_in_month(2026, 13) == 0);
    EXPECT(kura_days_in_month(2026, 0) == 0);
}

/* glibc's offset at t in zone tz (single-threaded use only). */
static long glibc_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    return localtime_r(&tt, &tm) ? tm.tm_gmtoff : -999999;
}

static void test_offsets_match_glibc_for_every_zone(void)
{
    FILE *tab = fopen(KURA_ZONEINFO_DIR "/zone1970.tab", "r");
    ASSERT(tab);
    char line[512], *saved_tz = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    int zones = 0, mismatches = 0;
    const int64_t lo = utc(1900, 1, 1, 0, 0, 0), hi = utc(2100, 1, 1, 0, 0, 0);
    while (fgets(line, sizeof line, tab)) {
        if (line[0] == '#')
            continue;
        char *name = strchr(line, '\t');
        name = name ? strchr(name + 1, '\t') : NULL;
        if (!name)
            continue;
        name++;
        name[strcspn(name, "\t\n")] = '\0';
        struct kura_err err = {0};
        struct kura_zone *z = kura_zone_load(name, &err);
        if (!z) {
            printf("#   %s: %s\n", name, err.msg);
            mismatches++;
            continue;
        }
        zones++;
        setenv("TZ", name, 1);
        tzset();
        /* Every 9 days and 7 hours, plus both sides of each offset change. */
        int32_t prev = kura_zone_offset(z, lo);
        for (int64_t t = lo; t < hi; t += 9 * DAY + 7 * HOUR) {
            int32_t mine = kura_zone_offset(z, t);
            if (mine != glibc_offset(t) && mismatches++ < 10)
                printf("#   %s at %lld: kura %d, glibc %ld\n", name, (long long)t, mine, glibc_offset(t));
            if (mine != prev) { /* find the change by bisection and check its edge */
                int64_t a = t - (9 * DAY + 7 * HOUR), b = t;
                while (b - a > 1) {
                    int64_t mid = a + (b - a) / 2;
                    *(kura_zone_offset(z, mid) == prev ? &a : &b) = mid;
                }
                if ((kura_zone_offset(z, a) != glibc_offset(a) || kura_zone_offset(z, b) != glibc_offset(b)) &&
                    mismatches++ < 10)
                    printf("#   %s: change at %lld differs from glibc\n", name, (long long)b);
            }
            prev = mine;
        }
        kura_zone_free(z);
    }
    fclose(tab);
    if (saved_tz)
        setenv("TZ", saved_tz, 1);
    else
        unsetenv("TZ");
    tzset();
    free(saved_tz);
    printf("# %d zones compared with glibc\n", zones);
    EXPECT(zones > 300);
    EXPECT(mismatches == 0);
}

/* start(D) is the first instant whose local time reaches D 00:00, for every
 * day of 1970-2100 in zones with awkward histories. */
static void test_local_day_start_property(void)
{
    static const char *const zones[] = {
        "Asia/Tokyo",        "Europe/Berlin",  "America/New_York",    "America/Sao_Paulo",
        "Asia/Beirut",       "America/Nuuk",   "Europe/Dublin",       "Australia/Lord_Howe",
        "Pacific/Chatham",   "Pacific/Apia",   "Pacific/Kiritimati",  "America/Havana",
        "Africa/Casablanca", "Asia/Tehran",    "Antarctica/Troll",    "UTC",
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        const struct kura_zone *z = kura_zone_get(zones[i], NULL);
        EXPECT(z != NULL);
        if (!z)
            continue;
        for (int64_t days = kura_days_from_civil(1970, 1, 1); days < kura_days_from_civil(2100, 1, 1); days++) {
            int64_t local = days * DAY, t = kura_zone_local_start(z, local);
            bool ok = t + kura_zone_offset(z, t) >= local && t - 1 + kura_zone_offset(z, t - 1) < local;
            if (!ok && bad++ < 10)
                printf("#   %s day %lld starts at %lld\n", zones[i], (long long)days, (long long)t);
        }
    }
    EXPECT(bad == 0);
}

static void test_known_transitions(void)
{
    /* Berlin 2026-03-29: clocks jump 02:00 -> 03:00, a 23-hour day. */
    EXPECT(day_start("Europe/Berlin", 2026, 3, 29) == utc(2026, 3, 28, 23, 0, 0));
    EXPECT(day_start("Europe/Berlin", 2026, 3, 30) == utc(2026, 3, 29, 22, 0, 0));
    /* New York 2026-11-01: 02:00 -> 01:00, a 25-hour day. */
    EXPECT(day_start("America/New_York", 2026, 11, 2) - day_start("America/New_York", 2026, 11, 1) == 25 * HOUR);
    /* Beirut springs forward at midnight: 2026-03-29 begins at 01:00 EEST. */
    EXPECT(day_start("Asia/Beirut", 2026, 3, 29) == utc(2026, 3, 28, 22, 0, 0));
    /* Sao Paulo 2018-11-04 (table era): midnight skipped, day begins 01:00 -02. */
    EXPECT(day_start("America/Sao_Paulo", 2018, 11, 4) == utc(2018, 11, 4, 3, 0, 0));
    /* Samoa skipped 2011-12-30 entirely: it "starts" where 12-31 starts. */
    EXPECT(day_start("Pacific/Apia", 2011, 12, 30) == day_start("Pacific/Apia", 2011, 12, 31));
    EXPECT(day_start("Pacific/Apia", 2011, 12, 31) == utc(2011, 12, 30, 10, 0, 0));
    /* Beyond 2037 the footer rule decides: Berlin 2080-03-31 is 23 hours. */
    EXPECT(day_start("Europe/Berlin", 2080, 4, 1) - day_start("Europe/Berlin", 2080, 3, 31) == 23 * HOUR);
    const struct kura_zone *tokyo = kura_zone_get("Asia/Tokyo", NULL);
    ASSERT(tokyo);
    EXPECT(kura_zone_offset(tokyo, utc(2026, 4, 1, 0, 0, 0)) == 9 * HOUR);
    EXPECT(kura_zone_offset(tokyo, INT64_MAX) == 9 * HOUR);
    EXPECT(kura_zone_offset(tokyo, INT64_MIN) == kura_zone_offset(tokyo, -KURA_ZONE_T_LIMIT));
    EXPECT(kura_zone_local_start(tokyo, INT64_MAX) < KURA_ZONE_T_LIMIT);
    EXPECT(kura_zone_local_start(tokyo, INT64_MIN) > -KURA_ZONE_T_LIMIT);
}

static void test_zone_names(void)
{
    static const char *const refused[] = {
        "",           "../etc/passwd", "Asia/../../etc/passwd", "/etc/localtime", "Asia//Tokyo",
        "Asia/Tokyo/", "Asia/Tokyo\n",  "zone.tab",              "Asia/Tokyo ",    ".",
        "Asia/./Tokyo",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        struct kura_err err = {0};
        EXPECT(kura_zone_get(refused[i], &err) == NULL);
        EXPECT(err.code == EINVAL);
    }
    struct kura_err err = {0};
    EXPECT(kura_zone_get(NULL, &err) == NULL);
    char longname[KURA_ZONE_NAME_MAX + 2];
    memset(longname, 'A', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    EXPECT(kura_zone_get(longname, &err) == NULL && err.code == EINVAL);
    /* Unknown or not a zone file: named in the message, never UTC. */
    EXPECT(kura_zone_get("Nowhere/City", &err) == NULL && err.code == ENOENT);
    EXPECT_STR_CONTAINS(err.msg, "unknown time zone Nowhere/City");
    EXPECT(kura_zone_get("Asia", &err) == NULL && err.code == ENOENT);
    EXPECT(kura_zone_get("right/Asia/Tokyo", &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "leap seconds");
    /* The cache hands out one zone per name. */
    const struct kura_zone *a = kura_zone_get("Asia/Tokyo", NULL), *b = kura_zone_get("Asia/Tokyo", NULL);
    EXPECT(a && a == b);
    EXPECT(kura_zone_get("Etc/GMT-9", NULL) != NULL);
}

/* ---- synthetic TZif ---- */

static size_t put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
    return 4;
}

/* A version-2 file with no transitions, one type (offset utoff) and footer. */
static size_t tzif(uint8_t *buf, int32_t utoff, const char *footer)
{
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        memcpy(buf + n, "TZif2", 5);
        memset(buf + n + 5, 0, 15);
        n += 20;
        n += put32(buf + n, 0);  /* isutcnt */
        n += put32(buf + n, 0);  /* isstdcnt */
        n += put32(buf + n, 0);  /* leapcnt */
        n += put32(buf + n, 0);  /* timecnt */
        n += put32(buf + n, 1);  /* typecnt */
        n += put32(buf + n, 4);  /* charcnt */
        n += put32(buf + n, (uint32_t)utoff);
        buf[n++] = 0;            /* isdst */
        buf[n++] = 0;            /* desigidx */
        memcpy(buf + n, "ZZZ", 4);
        n += 4;
    }
    buf[n++] = '\n';
    memcpy(buf + n, footer, strlen(footer));
    n += strlen(footer);
    buf[n++] = '\n';
    return n;
}

static void test_footer_rules(void)
{
    static const char *const good[] = {
        "JST-9", "EST5EDT,M3.2.0,M11.1.0", "<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "IST-1GMT0,M10.5.0,M3.5.0/1",
        "<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", "EST5EDT,0,365", "EST5EDT,J1,J365/25",
        "<+0330>-3:30", "XXX+24", "",
    };
    static const char *const bad[] = {
        "EST5EDT",       "EST5EDT,M13.1.0,M11.1.0", "AB5",      "EST25",   "EST5EDT,M3.2.0,M11.1.0x",
        "EST5EDT,J0,J365", "EST5EDT,M3.0.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0", "<AB>5", "EST5:60",
        "EST5EDT,M3.2.0/168,M11.1.0", "EST", "EST5EDT,366,1", "<EST5", "E\tST5", "EST 5",
    };
    uint8_t buf[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct kura_err err = {0};
        struct kura_zone *z = kura_zone_parse(buf, tzif(buf, 0, good[i]), &err);
        if (!z)
            printf("#   refused good footer %s: %s\n", good[i], err.msg);
        EXPECT(z != NULL);
        kura_zone_free(z);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_zone *z = kura_zone_parse(buf, tzif(buf, 0, bad[i]), NULL);
        if (z)
            printf("#   accepted bad footer %s\n", bad[i]);
        EXPECT(z == NULL);
        kura_zone_free(z);
    }
    /* Rule arithmetic: US rules from the footer alone. */
    struct kura_zone *ny = kura_zone_parse(buf, tzif(buf, -5 * HOUR, "EST5EDT,M3.2.0,M11.1.0"), NULL);
    ASSERT(ny);
    EXPECT(kura_zone_offset(ny, utc(2026, 3, 8, 6, 59, 59)) == -5 * HOUR);
    EXPECT(kura_zone_offset(ny, utc(2026, 3, 8, 7, 0, 0)) == -4 * HOUR);
    EXPECT(kura_zone_offset(ny, utc(2026, 11, 1, 5, 59, 59)) == -4 * HOUR);
    EXPECT(kura_zone_offset(ny, utc(2026, 11, 1, 6, 0, 0)) == -5 * HOUR);
    kura_zone_free(ny);
    /* Southern hemisphere: daylight time spans the new year. */
    struct kura_zone *syd = kura_zone_parse(buf, tzif(buf, 10 * HOUR, "AEST-10AEDT,M10.1.0,M4.1.0/3"), NULL);
    ASSERT(syd);
    EXPECT(kura_zone_offset(syd, utc(2026, 1, 1, 0, 0, 0)) == 11 * HOUR);
    EXPECT(kura_zone_offset(syd, utc(2026, 4, 4, 15, 59, 59)) == 11 * HOUR);
    EXPECT(kura_zone_offset(syd, utc(2026, 4, 4, 16, 0, 0)) == 10 * HOUR);
    EXPECT(kura_zone_offset(syd, utc(2026, 10, 3, 15, 59, 59)) == 10 * HOUR);
    EXPECT(kura_zone_offset(syd, utc(2026, 10, 3, 16, 0, 0)) == 11 * HOUR);
    kura_zone_free(syd);
    /* Permanent daylight time written as a rule that never ends. */
    struct kura_zone *perm = kura_zone_parse(buf, tzif(buf, -5 * HOUR, "EST5EDT,0/0,J365/25"), NULL);
    ASSERT(perm);
    for (int64_t t = utc(2025, 12, 31, 0, 0, 0); t < utc(2026, 1, 2, 0, 0, 0); t += 600)
        EXPECT(kura_zone_offset(perm, t) == -4 * HOUR);
    kura_zone_free(perm);
}

static uint8_t *read_zone_file(const char *name, size_t *len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", KURA_ZONEINFO_DIR, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = malloc(KURA_ZONE_FILE_MAX);
    *len = buf ? fread(buf, 1, KURA_ZONE_FILE_MAX, f) : 0;
    fclose(f);
    return buf;
}

static void test_hostile_tzif(void)
{
    size_t len = 0;
    uint8_t *real = read_zone_file("America/New_York", &len);
    ASSERT(real && len > 1000);
    /* Every truncation is refused cleanly. */
    int accepted = 0;
    for (size_t n = 0; n < len; n++) {
        struct kura_zone *z = kura_zone_parse(real, n, NULL);
        accepted += z != NULL;
        kura_zone_free(z);
    }
    EXPECT(accepted == 0);
    struct kura_zone *whole = kura_zone_parse(real, len, NULL);
    EXPECT(whole != NULL);
    kura_zone_free(whole);

    uint8_t buf[256];
    size_t n = tzif(buf, 0, "UTC0");
    struct kura_err err = {0};
    EXPECT(kura_zone_parse(NULL, 10, &err) == NULL);
    EXPECT(kura_zone_parse(buf, KURA_ZONE_FILE_MAX + 1, &err) == NULL);
    uint8_t copy[256];
    /* Leap seconds, a bad version, a zero type count, an offset too big. */
    memcpy(copy, buf, n);
    copy[28 + 3] = 1;
    EXPECT(kura_zone_parse(copy, n, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "leap seconds");
    memcpy(copy, buf, n);
    copy[4] = '5';
    EXPECT(kura_zone_parse(copy, n, &err) == NULL);
    memcpy(copy, buf, n);
    copy[36 + 3] = 0;
    EXPECT(kura_zone_parse(copy, n, &err) == NULL);
    n = tzif(buf, 26 * HOUR, "UTC0");
    EXPECT(kura_zone_parse(buf, n, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "time type");
    /* Footer without its closing newline, and bytes after it. */
    n = tzif(buf, 0, "UTC0");
    EXPECT(kura_zone_parse(buf, n - 1, NULL) == NULL);
    buf[n] = 'x';
    EXPECT(kura_zone_parse(buf, n + 1, NULL) == NULL);
    /* Counts larger than the data. */
    memcpy(copy, buf, n);
    put32(copy + 32, 0xffffffffu);
    EXPECT(kura_zone_parse(copy, n, NULL) == NULL);
    free(real);
}

int main(void)
{
    RUN(test_civil_round_trip);
    RUN(test_offsets_match_glibc_for_every_zone);
    RUN(test_local_day_start_property);
    RUN(test_known_transitions);
    RUN(test_zone_names);
    RUN(test_footer_rules);
    RUN(test_hostile_tzif);
    return unit_done();
}
