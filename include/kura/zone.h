/* Time zones read from tzdata's TZif files (RFC 8536), parsed here instead
 * of going through setenv("TZ") + tzset + localtime: that would change
 * process-wide state under other threads (getenv/setenv races, syslog's
 * time stamps), and glibc silently treats an unknown TZ as UTC. A parsed
 * zone is immutable, so any number of threads may use it at once. */
#ifndef KURA_ZONE_H
#define KURA_ZONE_H
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"

#define KURA_ZONEINFO_DIR "/usr/share/zoneinfo"
#define KURA_ZONE_NAME_MAX 128
#define KURA_ZONE_FILE_MAX (1u << 20) /* real TZif files are a few KiB */
#define KURA_ZONE_CACHE_MAX 32        /* distinct zones kura_zone_get keeps */

struct kura_zone;

/* The zone NAME (an IANA name such as "Asia/Tokyo"), loaded once and kept
 * for the life of the process. Refuses names that are empty, absolute,
 * contain "..", "." or "" components or characters outside [A-Za-z0-9/_+-],
 * and files that are not TZif (for example "zone.tab"). Thread-safe. */
const struct kura_zone *kura_zone_get(const char *name, struct kura_err *err);

/* The same, uncached: the caller owns the result (kura_zone_free). */
struct kura_zone *kura_zone_load(const char *name, struct kura_err *err);

/* Parses TZif bytes (versions 1 to 4, with the footer's POSIX TZ rule used
 * after the last transition). Strict and bounded: refuses truncated or
 * inconsistent data, leap-second ("right/") zones and offsets beyond ±26 h. */
struct kura_zone *kura_zone_parse(const void *data, size_t len, struct kura_err *err);
void kura_zone_free(struct kura_zone *z);

/* UTC offset in seconds at instant t: local wall-clock time = t + offset.
 * Instants beyond ±KURA_ZONE_T_LIMIT are clamped to it. */
#define KURA_ZONE_T_LIMIT INT64_C(10000000000000) /* about ±317,000 years */
int32_t kura_zone_offset(const struct kura_zone *z, int64_t t);

/* The first instant whose local wall-clock time is at or after `local`
 * (wall-clock seconds counted from 1970-01-01T00:00:00). For a midnight
 * this is the start of that local day, also when a DST jump skips the
 * midnight itself (the day then starts at the jump). */
int64_t kura_zone_local_start(const struct kura_zone *z, int64_t local);

/* Calendar helpers shared with when.c (proleptic Gregorian, any int64 year
 * whose day count fits). */
int64_t kura_days_from_civil(int64_t y, unsigned m, unsigned d);
void kura_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
unsigned kura_days_in_month(int64_t y, unsigned m);

#endif
