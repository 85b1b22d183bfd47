/* Milliseconds on a clock: CLOCK_REALTIME for time stamps (audit records,
 * durations a record reports), CLOCK_MONOTONIC for deadlines and intervals
 * that a change of the system time must not stretch or cut. */
#ifndef KURA_CLOCK_H
#define KURA_CLOCK_H
#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline int64_t kura_clock_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ms (on some clock) as the absolute time pthread_cond_timedwait takes. */
static inline struct timespec kura_clock_timespec(int64_t ms)
{
    return (struct timespec){.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
}

/* A condition variable whose timed waits count on clock. */
static inline void kura_cond_init_clock(pthread_cond_t *cv, clockid_t clock)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, clock);
    pthread_cond_init(cv, &attr);
    pthread_condattr_destroy(&attr);
}

#endif
