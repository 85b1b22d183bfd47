/* Dates, RFC 3339 time stamps and periods as people type them. Strict:
 * exact field widths, real calendar dates, nothing before or after. Zone
 * arithmetic is in zone.c (TZif files, no setenv("TZ")), so all of this
 * is safe to call from any thread. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "kura/when.h"
#include "kura/zone.h"

#define DAY 86400
#define QUOTE_MAX 48

/* The input, cut and with control or non-ASCII bytes shown as '?', for
 * one-line messages (it may be anything a user typed). */
static void quote(char out[QUOTE_MAX + 4], const char *s, size_t n)
{
    size_t k = 0;
    for (; k < n && k < QUOTE_MAX; k++)
        out[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
    if (n > QUOTE_MAX)
        memcpy(out + k, "...", 3), k += 3;
    out[k] = '\0';
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

enum verdict { OK, SYNTAX, NO_SUCH_DAY, BAD_TIME, LEAP_SECOND, NO_OFFSET };

/* YYYY-MM-DD in s[0..10): the day number since 1970-01-01. */
static enum verdict parse_ymd(const char *s, int64_t *days)
{
    unsigned y, m, d;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &m) || s[7] != '-' || !digits(s + 8, 2, &d))
        return SYNTAX;
    if (m < 1 || m > 12 || d < 1 || d > kura_days_in_month(y, m))
        return NO_SUCH_DAY;
    *days = kura_days_from_civil(y, m, d);
    return OK;
}

/* RFC 3339 date-time: YYYY-MM-DD(T|t| )hh:mm:ss[.frac](Z|z|+hh:mm|-hh:mm). */
static enum verdict parse_stamp(const char *s, size_t n, int64_t *t)
{
    int64_t days;
    unsigned hh, mm, ss, oh = 0, om = 0;
    if (n < 19)
        return SYNTAX;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return SYNTAX;
    if (!digits(s + 11, 2, &hh) || s[13] != ':' || !digits(s + 14, 2, &mm) || s[16] != ':' ||
        !digits(s + 17, 2, &ss))
        return SYNTAX;
    size_t i = 19;
    if (i < n && s[i] == '.') { /* fractional seconds: at least one digit, ignored */
        size_t first = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == first)
            return SYNTAX;
    }
    if (i == n)
        return NO_OFFSET;
    int sign = 0;
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        sign = 1;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-')) {
        sign = s[i] == '-' ? -1 : 1;
        if (!digits(s + i + 1, 2, &oh) || s[i + 3] != ':' || !digits(s + i + 4, 2, &om))
            return SYNTAX;
    } else {
        return SYNTAX;
    }
    enum verdict v = parse_ymd(s, &days);
    if (v != OK)
        return v;
    if (ss == 60)
        return LEAP_SECOND;
    if (hh > 23 || mm > 59 || ss > 59 || oh > 23 || om > 59)
        return BAD_TIME;
    *t = days * DAY + hh * 3600 + mm * 60 + ss - sign * (int64_t)(oh * 3600 + om * 60);
    return OK;
}

static const struct kura_zone *zone_or_default(const struct kura_zone *zone, struct kura_err *err)
{
    return zone ? zone : kura_zone_get(KURA_DEFAULT_TZ, err);
}

/* One WHEN in s[0..n): a date is its whole day in zone z (NULL: the
 * default), a time stamp an instant, whatever the zone. */
static int parse_when(const char *s, size_t n, const struct kura_zone *z, int64_t *start, int64_t *end,
                      struct kura_err *err)
{
    enum verdict v;
    if (n == 10) {
        int64_t days = 0;
        v = parse_ymd(s, &days);
        if (v == OK) {
            if (!(z = zone_or_default(z, err)))
                return -1;
            *start = kura_zone_local_start(z, days * DAY);
            *end = kura_zone_local_start(z, (days + 1) * DAY);
            return 0;
        }
    } else {
        int64_t t = 0;
        v = parse_stamp(s, n, &t);
        if (v == OK) {
            *start = *end = t;
            return 0;
        }
    }
    static const char *const why[] = {
        [SYNTAX] = "expected a date YYYY-MM-DD or an RFC 3339 time stamp such as 2026-04-01T09:00:00+09:00",
        [NO_SUCH_DAY] = "no such day in the calendar",
        [BAD_TIME] = "hour, minute, second or offset out of range",
        [LEAP_SECOND] = "leap second :60 is not supported",
        [NO_OFFSET] = "a time stamp needs its zone offset (Z or +09:00)",
    };
    char q[QUOTE_MAX + 4];
    quote(q, s, n);
    kura_err_set(err, EINVAL, "\"%s\": %s", q, why[v]);
    return -1;
}

int kura_when_parse(const char *s, const struct kura_zone *zone, int64_t *start, int64_t *end,
                    struct kura_err *err)
{
    if (!s)
        return kura_err_set(err, EINVAL, "missing date or time"), -1;
    int64_t a, b;
    if (parse_when(s, strlen(s), zone, &a, &b, err) != 0)
        return -1;
    if (start)
        *start = a;
    if (end)
        *end = b;
    return 0;
}

int kura_date_parse(const char *s, const struct kura_zone *zone, int64_t *start, struct kura_err *err)
{
    if (!s || strlen(s) != 10)
        return kura_err_set(err, EINVAL, "expected a date YYYY-MM-DD (a day, not a time)"), -1;
    return kura_when_parse(s, zone, start, NULL, err);
}

int kura_period_parse(const char *s, const struct kura_zone *zone, int64_t *from, int64_t *until,
                      struct kura_err *err)
{
    if (!s)
        return kura_err_set(err, EINVAL, "missing period FROM..TO"), -1;
    size_t n = strlen(s);
    char q[QUOTE_MAX + 4];
    quote(q, s, n);
    const char *dots = strstr(s, "..");
    if (!dots)
        return kura_err_set(err, EINVAL, "period \"%s\" is not FROM..TO (such as 2026-04-01..2027-03-31)", q), -1;
    size_t flen = (size_t)(dots - s);
    int64_t fs, fe, ts, te; /* start and end of FROM and of TO */
    if (parse_when(s, flen, zone, &fs, &fe, err) != 0) {
        kura_err_prefix(err, "period \"%s\" FROM", q);
        return -1;
    }
    if (parse_when(dots + 2, n - flen - 2, zone, &ts, &te, err) != 0) {
        kura_err_prefix(err, "period \"%s\" TO", q);
        return -1;
    }
    if (te <= fs && ts < fs)
        return kura_err_set(err, EINVAL, "period \"%s\": TO is before FROM", q), -1;
    if (te <= fs)
        return kura_err_set(err, EINVAL, "period \"%s\" is empty: TO must be after FROM", q), -1;
    if (from)
        *from = fs;
    if (until)
        *until = te;
    return 0;
}

/* Splits local wall-clock seconds into a civil date and time; years 0..9999 only. */
static bool split_local(int64_t local, int64_t *y, unsigned *mo, unsigned *d, unsigned *secs)
{
    int64_t days = local / DAY, rem = local % DAY;
    if (rem < 0)
        rem += DAY, days--;
    kura_civil_from_days(days, y, mo, d);
    *secs = (unsigned)rem;
    return *y >= 0 && *y <= 9999;
}

int kura_time_format(int64_t t, const struct kura_zone *zone, char *buf, size_t len)
{
    if (!buf || len == 0)
        return -1;
    buf[0] = '\0';
    const struct kura_zone *z = zone_or_default(zone, NULL);
    if (!z || t < -KURA_ZONE_T_LIMIT || t > KURA_ZONE_T_LIMIT)
        return -1;
    /* RFC 3339 offsets have no seconds: old local mean times (+09:18:59)
     * are shown to the minute, with the clock time adjusted to match. */
    int32_t off = kura_zone_offset(z, t) / 60 * 60;
    int64_t y;
    unsigned mo, d, secs;
    if (!split_local(t + off, &y, &mo, &d, &secs))
        return -1;
    unsigned aoff = (unsigned)(off < 0 ? -off : off);
    int w = snprintf(buf, len, "%04d-%02u-%02uT%02u:%02u:%02u%c%02u:%02u", (int)y, mo, d, secs / 3600,
                     secs / 60 % 60, secs % 60, off < 0 ? '-' : '+', aoff / 3600, aoff / 60 % 60);
    if (w < 0 || (size_t)w >= len) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

int kura_date_format(int64_t t, const struct kura_zone *zone, char *buf, size_t len)
{
    if (!buf || len == 0)
        return -1;
    buf[0] = '\0';
    const struct kura_zone *z = zone_or_default(zone, NULL);
    if (!z || t < -KURA_ZONE_T_LIMIT || t > KURA_ZONE_T_LIMIT)
        return -1;
    int64_t y;
    unsigned mo, d, secs;
    if (!split_local(t + kura_zone_offset(z, t), &y, &mo, &d, &secs))
        return -1;
    int w = snprintf(buf, len, "%04d-%02u-%02u", (int)y, mo, d);
    if (w < 0 || (size_t)w >= len) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}
