/* The wall clock of decisions and records. */
#include <time.h>

#include "kura/clock.h"
#include "kura/zone.h"
#include "kurafs.h"

int64_t kurafs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

int64_t kurafs_now_ms(void)
{
    return kura_clock_ms(CLOCK_REALTIME);
}

int64_t kurafs_day(const struct kura_zone *z, int64_t t)
{
    int64_t local = t + (z ? kura_zone_offset(z, t) : 0);
    return local >= 0 ? local / 86400 : (local - 86399) / 86400;
}
