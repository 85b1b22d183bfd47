/* Milliseconds on a clock: CLOCK_REALTIME for time stamps (audit records,
 * durations a record reports), CLOCK_MONOTONIC for deadlines and intervals
 * that a change of the system time must not stretch or cut. */
#ifndef KURA_CLOCK_H
#define KURA_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline int64_t kura_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
