/* Times as people write them: WHEN is a date YYYY-MM-DD (a whole day in the
 * configured time zone) or an RFC 3339 time stamp; a period is FROM..TO,
 * inclusive. Zones are IANA names (default Asia/Tokyo) read from tzdata. */
#ifndef KURA_WHEN_H
#define KURA_WHEN_H
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"

#define KURA_DEFAULT_TZ "Asia/Tokyo"

/* A date gives [first second of the day, first second of the next day);
 * a time stamp gives [t, t]. DST-safe. */
int kura_when_parse(const char *s, const char *tz, int64_t *start, int64_t *end, struct kura_err *err);
/* "FROM..TO": from = start(FROM), until = end(TO); refuses TO before FROM. */
int kura_period_parse(const char *s, const char *tz, int64_t *from, int64_t *until, struct kura_err *err);
/* RFC 3339 in the zone, with its offset: 2026-04-01T00:00:00+09:00. */
int kura_time_format(int64_t t, const char *tz, char *buf, size_t len);
/* YYYY-MM-DD of the day containing t in the zone. */
int kura_date_format(int64_t t, const char *tz, char *buf, size_t len);
/* Checks that tz names a zone tzdata knows. */
int kura_tz_check(const char *tz, struct kura_err *err);

#endif
