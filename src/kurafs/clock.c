/* The wall clock of decisions and records. */
#include <time.h>

#include "kura/clock.h"
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
