/* Time zones from TZif files (RFC 8536): parse, cache, convert. Every
 * count is checked against the bytes actually present before use; every
 * instant is clamped so that no arithmetic can overflow. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/endian.h"
#include "kura/fsutil.h"
#include "kura/zone.h"

#define DAY 86400
#define OFFSET_LIMIT (26 * 3600)     /* |UTC offset| stays below this */
#define WINDOW (3 * DAY)             /* > any offset: where a local day can start */
#define RULE_HOURS_MAX 167           /* TZif v3 extension of POSIX rule times */

enum rule_kind { RULE_JULIAN1, RULE_JULIAN0, RULE_MONTH };

/* One end of daylight time in a POSIX TZ rule: Jn, n or Mm.w.d, then /time. */
struct rule_date {
    enum rule_kind kind;
    int day;                 /* Jn: 1..365, n: 0..365 */
    int month, week, wday;   /* Mm.w.d: 1..12, 1..5, 0..6 */
    int32_t time;            /* seconds after local midnight, may be negative */
};

/* The footer: the zone's rule after the last transition. */
struct posix_tz {
    int32_t std_utoff, dst_utoff;
    bool has_dst;
    struct rule_date start, end;
};

struct kura_zone {
    size_t ntrans;
    int64_t *trans;          /* strictly ascending */
    uint8_t *idx;            /* type in effect from trans[i] on */
    size_t ntypes;
    int32_t utoff[256];
    bool has_rule;           /* footer present and non-empty */
    struct posix_tz rule;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t clamp_t(int64_t t)
{
    return t < -KURA_ZONE_T_LIMIT ? -KURA_ZONE_T_LIMIT : t > KURA_ZONE_T_LIMIT ? KURA_ZONE_T_LIMIT : t;
}

/* Howard Hinnant's civil-date algorithms. */
int64_t kura_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void kura_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const unsigned doe = (unsigned)(days - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned kura_days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static int64_t year_of(int64_t t)
{
    int64_t y;
    unsigned m, d;
    kura_civil_from_days(floor_div(t, DAY), &y, &m, &d);
    return y;
}

/* ---- POSIX TZ rule (the TZif footer) ---- */

struct cursor {
    const char *p, *end;
};

static bool at_digit(const struct cursor *c)
{
    return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* 1 to max_digits decimal digits, value <= max. */
static bool take_number(struct cursor *c, int max_digits, int max, int *out)
{
    int v = 0, n = 0;
    while (at_digit(c) && n < max_digits) {
        v = v * 10 + (*c->p++ - '0');
        n++;
    }
    if (n == 0 || at_digit(c) || v > max)
        return false;
    *out = v;
    return true;
}

/* A zone abbreviation: <[A-Za-z0-9+-]{3,}> or [A-Za-z]{3,}. */
static bool take_name(struct cursor *c)
{
    size_t n = 0;
    if (c->p < c->end && *c->p == '<') {
        c->p++;
        while (c->p < c->end && *c->p != '>') {
            char ch = *c->p++;
            bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                      ch == '+' || ch == '-';
            if (!ok)
                return false;
            n++;
        }
        if (c->p == c->end)
            return false;
        c->p++;
        return n >= 3;
    }
    while (c->p < c->end && ((*c->p >= 'A' && *c->p <= 'Z') || (*c->p >= 'a' && *c->p <= 'z'))) {
        c->p++;
        n++;
    }
    return n >= 3;
}

/* [+-]h[h[h]][:mm[:ss]] as seconds. */
static bool take_hms(struct cursor *c, int max_hours, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;
    if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
        sign = *c->p++ == '-' ? -1 : 1;
    if (!take_number(c, 3, max_hours, &h))
        return false;
    if (c->p < c->end && *c->p == ':') {
        c->p++;
        if (!take_number(c, 2, 59, &m))
            return false;
        if (c->p < c->end && *c->p == ':') {
            c->p++;
            if (!take_number(c, 2, 59, &s))
                return false;
        }
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool take_rule_date(struct cursor *c, struct rule_date *r)
{
    if (c->p < c->end && *c->p == 'J') {
        c->p++;
        r->kind = RULE_JULIAN1;
        if (!take_number(c, 3, 365, &r->day) || r->day < 1)
            return false;
    } else if (c->p < c->end && *c->p == 'M') {
        c->p++;
        r->kind = RULE_MONTH;
        if (!take_number(c, 2, 12, &r->month) || r->month < 1 || c->p == c->end || *c->p++ != '.' ||
            !take_number(c, 1, 5, &r->week) || r->week < 1 || c->p == c->end || *c->p++ != '.' ||
            !take_number(c, 1, 6, &r->wday))
            return false;
    } else {
        r->kind = RULE_JULIAN0;
        if (!take_number(c, 3, 365, &r->day))
            return false;
    }
    r->time = 2 * 3600;
    if (c->p < c->end && *c->p == '/') {
        c->p++;
        if (!take_hms(c, RULE_HOURS_MAX, &r->time))
            return false;
    }
    return true;
}

static bool parse_posix_tz(const char *s, size_t n, struct posix_tz *tz)
{
    struct cursor c = {s, s + n};
    int32_t v;
    memset(tz, 0, sizeof *tz);
    if (!take_name(&c) || !take_hms(&c, 24, &v))
        return false;
    tz->std_utoff = -v;
    if (c.p == c.end)
        return tz->std_utoff > -OFFSET_LIMIT && tz->std_utoff < OFFSET_LIMIT;
    if (!take_name(&c))
        return false;
    tz->has_dst = true;
    tz->dst_utoff = tz->std_utoff + 3600;
    if (c.p < c.end && *c.p != ',') {
        if (!take_hms(&c, 24, &v))
            return false;
        tz->dst_utoff = -v;
    }
    /* zic always writes the rule when there is daylight time. */
    if (c.p == c.end || *c.p++ != ',' || !take_rule_date(&c, &tz->start) || c.p == c.end || *c.p++ != ',' ||
        !take_rule_date(&c, &tz->end) || c.p != c.end)
        return false;
    return tz->std_utoff > -OFFSET_LIMIT && tz->std_utoff < OFFSET_LIMIT && tz->dst_utoff > -OFFSET_LIMIT &&
           tz->dst_utoff < OFFSET_LIMIT;
}

/* Day number (since 1970-01-01) of the rule's date in year y. */
static int64_t rule_day(const struct rule_date *r, int64_t y)
{
    int64_t jan1 = kura_days_from_civil(y, 1, 1);
    switch (r->kind) {
    case RULE_JULIAN1: /* February 29 is never counted */
        return jan1 + r->day - 1 + (is_leap(y) && r->day >= 60);
    case RULE_JULIAN0:
        return jan1 + r->day;
    case RULE_MONTH:
    default: {
        int64_t first = kura_days_from_civil(y, (unsigned)r->month, 1);
        int wday_first = (int)((first % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
        int64_t day = (r->wday - wday_first + 7) % 7 + (r->week - 1) * 7;
        int64_t mdays = kura_days_in_month(y, (unsigned)r->month);
        while (day >= mdays)
            day -= 7;
        return first + day;
    }
    }
}

struct rule_event {
    int64_t at;
    int32_t utoff; /* in effect from `at` on */
    bool dst;
};

/* The daylight-time starts and ends of years y0..y1 (at most 5 years),
 * sorted by instant. Ties keep year order, so a rule that ends daylight
 * time at the very instant the next year's begins stays in daylight time. */
static size_t rule_events(const struct posix_tz *tz, int64_t y0, int64_t y1, struct rule_event ev[10])
{
    size_t n = 0;
    for (int64_t y = y0; y <= y1 && n + 2 <= 10; y++) {
        ev[n++] = (struct rule_event){rule_day(&tz->start, y) * DAY + tz->start.time - tz->std_utoff,
                                      tz->dst_utoff, true};
        ev[n++] = (struct rule_event){rule_day(&tz->end, y) * DAY + tz->end.time - tz->dst_utoff,
                                      tz->std_utoff, false};
    }
    for (size_t i = 1; i < n; i++) {
        struct rule_event e = ev[i];
        size_t j = i;
        for (; j > 0 && ev[j - 1].at > e.at; j--)
            ev[j] = ev[j - 1];
        ev[j] = e;
    }
    return n;
}

static int32_t rule_offset(const struct posix_tz *tz, int64_t t)
{
    if (!tz->has_dst)
        return tz->std_utoff;
    struct rule_event ev[10];
    int64_t y = year_of(t);
    /* Events of year y-2 all lie before year y, even with times of ±167 h. */
    size_t n = rule_events(tz, y - 2, y + 1, ev);
    int32_t utoff = tz->std_utoff;
    for (size_t i = 0; i < n && ev[i].at <= t; i++)
        utoff = ev[i].utoff;
    return utoff;
}

/* ---- lookups ---- */

int32_t kura_zone_offset(const struct kura_zone *z, int64_t t)
{
    t = clamp_t(t);
    if (z->ntrans == 0)
        return z->has_rule ? rule_offset(&z->rule, t) : z->utoff[0];
    if (t < z->trans[0])
        return z->utoff[0];
    /* As glibc: the footer rules from the last transition on, so the offset
     * only ever changes at a transition or at a rule event. */
    if (z->has_rule && t >= z->trans[z->ntrans - 1])
        return rule_offset(&z->rule, t);
    size_t lo = 0, hi = z->ntrans; /* the last i with trans[i] <= t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}

/* In [a, b) the offset is constant; the first instant there whose local
 * time reaches `local`, if any. */
static bool segment_hit(const struct kura_zone *z, int64_t a, int64_t b, int64_t local, int64_t *t)
{
    if (b <= a)
        return false;
    int64_t c = local - kura_zone_offset(z, a);
    if (c < a)
        c = a;
    if (c >= b)
        return false;
    *t = c;
    return true;
}

int64_t kura_zone_local_start(const struct kura_zone *z, int64_t local)
{
    local = clamp_t(local);
    if (local < -KURA_ZONE_T_LIMIT + 2 * WINDOW)
        local = -KURA_ZONE_T_LIMIT + 2 * WINDOW;
    if (local > KURA_ZONE_T_LIMIT - 2 * WINDOW)
        local = KURA_ZONE_T_LIMIT - 2 * WINDOW;
    /* The answer lies within a day and two hours of `local`; walk the
     * constant-offset segments of a wider window in order, first hit wins. */
    const int64_t lo = local - WINDOW, hi = local + WINDOW;
    int64_t a = lo, t;
    size_t i = 0, n = z->ntrans;
    size_t top = n; /* first transition after lo */
    while (i < top) {
        size_t mid = i + (top - i) / 2;
        if (z->trans[mid] <= lo)
            i = mid + 1;
        else
            top = mid;
    }
    for (; i < n && z->trans[i] <= hi; i++) {
        if (segment_hit(z, a, z->trans[i], local, &t))
            return t;
        a = z->trans[i];
    }
    if (z->has_rule && z->rule.has_dst) {
        struct rule_event ev[10];
        size_t ne = rule_events(&z->rule, year_of(lo) - 2, year_of(hi) + 1, ev);
        for (size_t k = 0; k < ne; k++) {
            if (ev[k].at <= a || ev[k].at > hi || (n > 0 && ev[k].at <= z->trans[n - 1]))
                continue;
            if (segment_hit(z, a, ev[k].at, local, &t))
                return t;
            a = ev[k].at;
        }
    }
    if (segment_hit(z, a, hi + 1, local, &t))
        return t;
    return local - kura_zone_offset(z, local); /* unreachable with offsets below 26 h */
}

/* ---- TZif ---- */

struct reader {
    const uint8_t *p;
    size_t left;
};

static const uint8_t *take(struct reader *r, uint64_t n)
{
    if (n > r->left)
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    r->left -= (size_t)n;
    return p;
}


struct tzif_header {
    uint8_t version;
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_header(struct reader *r, struct tzif_header *h, struct kura_err *err)
{
    const uint8_t *p = take(r, 44);
    if (!p)
        return kura_err_set(err, EINVAL, "TZif data truncated in its header"), -1;
    if (memcmp(p, "TZif", 4) != 0)
        return kura_err_set(err, EINVAL, "not a TZif time zone file"), -1;
    h->version = p[4];
    if (h->version != 0 && (h->version < '2' || h->version > '4'))
        return kura_err_set(err, EINVAL, "TZif version %u is not supported", h->version), -1;
    h->isutcnt = kura_be32(p + 20);
    h->isstdcnt = kura_be32(p + 24);
    h->leapcnt = kura_be32(p + 28);
    h->timecnt = kura_be32(p + 32);
    h->typecnt = kura_be32(p + 36);
    h->charcnt = kura_be32(p + 40);
    if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
        (h->isutcnt != 0 && h->isutcnt != h->typecnt) || (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
        return kura_err_set(err, EINVAL, "TZif header has inconsistent counts"), -1;
    if (h->leapcnt != 0)
        return kura_err_set(err, EINVAL, "TZif zones with leap seconds (right/...) are not supported"), -1;
    return 0;
}

static uint64_t block_size(const struct tzif_header *h, unsigned tsize)
{
    return (uint64_t)h->timecnt * (tsize + 1) + (uint64_t)h->typecnt * 6 + h->charcnt +
           (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

static int read_block(struct reader *r, const struct tzif_header *h, unsigned tsize, struct kura_zone *z,
                      struct kura_err *err)
{
    const uint8_t *p = take(r, block_size(h, tsize));
    if (!p)
        return kura_err_set(err, EINVAL, "TZif data truncated"), -1;
    z->ntrans = h->timecnt;
    z->ntypes = h->typecnt;
    if (z->ntrans > 0) {
        z->trans = malloc(z->ntrans * sizeof *z->trans);
        z->idx = malloc(z->ntrans);
        if (!z->trans || !z->idx)
            return kura_err_set(err, ENOMEM, "out of memory reading a time zone"), -1;
    }
    for (size_t i = 0; i < z->ntrans; i++, p += tsize) {
        z->trans[i] = tsize == 4 ? (int64_t)(int32_t)kura_be32(p) : (int64_t)kura_be64(p);
        if (i > 0 && z->trans[i] <= z->trans[i - 1])
            return kura_err_set(err, EINVAL, "TZif transitions are not in ascending order"), -1;
    }
    for (size_t i = 0; i < z->ntrans; i++, p++) {
        if (*p >= z->ntypes)
            return kura_err_set(err, EINVAL, "TZif transition names a missing type"), -1;
        z->idx[i] = *p;
    }
    const uint8_t *isstd = p + z->ntypes * 6 + h->charcnt + (size_t)h->leapcnt * (tsize + 4);
    const uint8_t *isut = isstd + h->isstdcnt;
    for (size_t i = 0; i < z->ntypes; i++, p += 6) {
        int32_t utoff = (int32_t)kura_be32(p);
        if (utoff <= -OFFSET_LIMIT || utoff >= OFFSET_LIMIT || p[4] > 1 || p[5] >= h->charcnt)
            return kura_err_set(err, EINVAL, "TZif time type is malformed"), -1;
        z->utoff[i] = utoff;
        uint8_t std = h->isstdcnt ? isstd[i] : 0, ut = h->isutcnt ? isut[i] : 0;
        if (std > 1 || ut > 1 || (ut && !std))
            return kura_err_set(err, EINVAL, "TZif standard/UT indicators are malformed"), -1;
    }
    return 0;
}

struct kura_zone *kura_zone_parse(const void *data, size_t len, struct kura_err *err)
{
    if (!data || len > KURA_ZONE_FILE_MAX)
        return kura_err_set(err, EINVAL, "TZif data missing or larger than %u bytes", KURA_ZONE_FILE_MAX), NULL;
    struct kura_zone *z = calloc(1, sizeof *z);
    if (!z)
        return kura_err_set(err, ENOMEM, "out of memory reading a time zone"), NULL;
    struct reader r = {data, len};
    struct tzif_header h;
    if (read_header(&r, &h, err) != 0)
        goto fail;
    if (h.version == 0) {
        if (read_block(&r, &h, 4, z, err) != 0)
            goto fail;
        if (r.left != 0) {
            kura_err_set(err, EINVAL, "TZif data has trailing bytes");
            goto fail;
        }
        return z;
    }
    /* Version 2+: skip the 32-bit block, use the 64-bit one and the footer. */
    if (!take(&r, block_size(&h, 4))) {
        kura_err_set(err, EINVAL, "TZif data truncated");
        goto fail;
    }
    if (read_header(&r, &h, err) != 0 || read_block(&r, &h, 8, z, err) != 0)
        goto fail;
    if (r.left < 2 || r.p[0] != '\n' || r.p[r.left - 1] != '\n') {
        kura_err_set(err, EINVAL, "TZif footer is missing");
        goto fail;
    }
    const char *footer = (const char *)r.p + 1;
    size_t flen = r.left - 2;
    for (size_t i = 0; i < flen; i++) {
        if (footer[i] < 0x20 || footer[i] > 0x7e) {
            kura_err_set(err, EINVAL, "TZif footer is malformed");
            goto fail;
        }
    }
    if (flen > 0) {
        if (!parse_posix_tz(footer, flen, &z->rule)) {
            kura_err_set(err, EINVAL, "TZif footer rule is malformed");
            goto fail;
        }
        z->has_rule = true;
    }
    return z;
fail:
    kura_zone_free(z);
    return NULL;
}

void kura_zone_free(struct kura_zone *z)
{
    if (!z)
        return;
    free(z->trans);
    free(z->idx);
    free(z);
}

/* ---- loading ---- */

/* Area/City components of [A-Za-z0-9_+-]: no '.', so never "..", never absolute. */
static bool zone_name_ok(const char *name)
{
    size_t n = name ? strnlen(name, KURA_ZONE_NAME_MAX + 1) : 0;
    if (n == 0 || n > KURA_ZONE_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '+' || c == '-' || (c == '/' && name[i + 1] != '/');
        if (!ok)
            return false;
    }
    return true;
}

struct kura_zone *kura_zone_load(const char *name, struct kura_err *err)
{
    if (!zone_name_ok(name))
        return kura_err_set(err, EINVAL,
                            "time zone name is not an IANA name such as Asia/Tokyo "
                            "(letters, digits, '/', '_', '+', '-')"),
               NULL;
    char path[sizeof KURA_ZONEINFO_DIR + 1 + KURA_ZONE_NAME_MAX];
    memcpy(path, KURA_ZONEINFO_DIR "/", sizeof KURA_ZONEINFO_DIR);
    memcpy(path + sizeof KURA_ZONEINFO_DIR, name, strlen(name) + 1);
    /* O_NONBLOCK: a FIFO planted in the directory must not hang us. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            kura_err_set(err, ENOENT, "unknown time zone %s (no %s; is tzdata installed?)", name, path);
        else
            kura_err_set(err, e, "time zone %s: cannot open %s: %s", name, path, strerror(e));
        return NULL;
    }
    struct stat st;
    uint8_t *buf = NULL;
    struct kura_zone *z = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kura_err_set(err, ENOENT, "unknown time zone %s (%s is not a zone file)", name, path);
        goto out;
    }
    buf = malloc(KURA_ZONE_FILE_MAX + 1);
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory reading time zone %s", name);
        goto out;
    }
    ssize_t got = kura_read_full(fd, buf, KURA_ZONE_FILE_MAX + 1);
    if (got < 0) {
        kura_err_set(err, errno, "time zone %s: cannot read %s: %s", name, path, strerror(errno));
        goto out;
    }
    size_t len = (size_t)got;
    z = kura_zone_parse(buf, len, err);
    if (!z)
        kura_err_prefix(err, "time zone %s (%s)", name, path);
out:
    free(buf);
    close(fd);
    return z;
}

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[KURA_ZONE_NAME_MAX + 1];
    struct kura_zone *zone; /* immutable once published, never freed */
} cache[KURA_ZONE_CACHE_MAX];
static size_t cache_len;

const struct kura_zone *kura_zone_get(const char *name, struct kura_err *err)
{
    if (!zone_name_ok(name))
        return kura_zone_load(name, err); /* for its error message */
    const struct kura_zone *found = NULL;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_len && !found; i++)
        if (strcmp(cache[i].name, name) == 0)
            found = cache[i].zone;
    if (!found) {
        if (cache_len == KURA_ZONE_CACHE_MAX) {
            kura_err_set(err, EMFILE, "time zone %s: more than %d distinct zones in use", name,
                         KURA_ZONE_CACHE_MAX);
        } else {
            struct kura_zone *z = kura_zone_load(name, err);
            if (z) {
                memcpy(cache[cache_len].name, name, strlen(name) + 1);
                cache[cache_len++].zone = z;
                found = z;
            }
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}
