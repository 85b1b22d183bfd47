/* Times as people write them: WHEN is a date YYYY-MM-DD (a whole day in the
 * configured time zone) or an RFC 3339 time stamp; a period is FROM..TO,
 * inclusive. Zones are resolved once (kura_zone_get: the config's `zone`)
 * and passed in; NULL means KURA_DEFAULT_TZ. */
#ifndef KURA_WHEN_H
#define KURA_WHEN_H
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"
#include "kura/zone.h"

#define KURA_DEFAULT_TZ "Asia/Tokyo"

/* A date gives [first second of the day, first second of the next day);
 * a time stamp gives [t, t]. DST-safe. Dates are exactly YYYY-MM-DD (years
 * 0000-9999, real calendar days); time stamps are RFC 3339 date-times
 * (T, t or space between date and time, optional fraction of a second,
 * which is ignored, Z or ±hh:mm; :60 leap seconds refused); nothing else,
 * not even surrounding spaces. Outputs may be NULL. A day the
 * zone skipped entirely (2011-12-30 in Pacific/Apia) gives start == end.
 * Zones come from zone.h (TZif files, no setenv("TZ")): every function
 * here is thread-safe. */
int kura_when_parse(const char *s, const struct kura_zone *zone, int64_t *start, int64_t *end,
                    struct kura_err *err);
/* A day, not an instant: exactly YYYY-MM-DD (a real calendar day); its
 * first second in the zone to *start (may be NULL). */
int kura_date_parse(const char *s, const struct kura_zone *zone, int64_t *start, struct kura_err *err);
/* "FROM..TO": from = start(FROM), until = end(TO); refuses TO before FROM
 * and empty periods (until <= from). */
int kura_period_parse(const char *s, const struct kura_zone *zone, int64_t *from, int64_t *until,
                      struct kura_err *err);
/* RFC 3339 in the zone, with its offset: 2026-04-01T00:00:00+09:00 (UTC
 * is +00:00). Returns -1 for a buffer too small (26 bytes suffice; 11 for a
 * date) or a year outside 0000-9999 there. */
int kura_time_format(int64_t t, const struct kura_zone *zone, char *buf, size_t len);
/* YYYY-MM-DD of the day containing t in the zone. */
int kura_date_format(int64_t t, const struct kura_zone *zone, char *buf, size_t len);

#endif
