/* clock.h: milliseconds on the clock asked for, never a second's worth
 * truncated or another clock's reading. */
#include <stdint.h>
#include <time.h>

#include "kura/clock.h"
#include "unit.h"

static int64_t ms_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

/* Bracketed by the clock's own readings: the value is that clock's, in ms. */
static void check_between(clockid_t clock)
{
    struct timespec before, after;
    clock_gettime(clock, &before);
    int64_t ms = kura_clock_ms(clock);
    clock_gettime(clock, &after);
    EXPECT(ms_of(&before) <= ms);
    EXPECT(ms <= ms_of(&after));
}

static void test_realtime(void)
{
    check_between(CLOCK_REALTIME);
    int64_t ms = kura_clock_ms(CLOCK_REALTIME);
    int64_t s = (int64_t)time(NULL);
    EXPECT(ms / 1000 >= s - 1 && ms / 1000 <= s + 1);
}

static void test_monotonic(void)
{
    check_between(CLOCK_MONOTONIC);
    int64_t a = kura_clock_ms(CLOCK_MONOTONIC);
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int64_t b = kura_clock_ms(CLOCK_MONOTONIC);
    /* Milliseconds, not seconds or microseconds: 30 ms apart shows as ~30. */
    EXPECT(b - a >= 30 && b - a < 5000);
}

int main(void)
{
    RUN(test_realtime);
    RUN(test_monotonic);
    return unit_done();
}
