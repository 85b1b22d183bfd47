/* Minimal TAP unit-test harness: one binary per module, one line per test. */
#ifndef KURA_UNIT_H
#define KURA_UNIT_H
#include <stdio.h>
#include <string.h>

static int unit_count, unit_failures, unit_current_failed;

#define EXPECT(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("#   %s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
            unit_current_failed = 1;                                            \
        }                                                                       \
    } while (0)

/* Stops the current test: later steps depend on this one. */
#define ASSERT(cond)                                                            \
    do {                                                                        \
        if (!(cond)) {                                                          \
            printf("#   %s:%d: required %s\n", __FILE__, __LINE__, #cond);      \
            unit_current_failed = 1;                                            \
            return;                                                             \
        }                                                                       \
    } while (0)

#define EXPECT_STR_CONTAINS(hay, needle)                                        \
    do {                                                                        \
        const char *h_ = (hay), *n_ = (needle);                                 \
        if (!h_ || !strstr(h_, n_)) {                                           \
            printf("#   %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,     \
                   __LINE__, h_ ? h_ : "(null)", n_);                           \
            unit_current_failed = 1;                                            \
        }                                                                       \
    } while (0)

static inline void unit_run(const char *name, void (*fn)(void))
{
    unit_current_failed = 0;
    fn();
    unit_count++;
    if (unit_current_failed)
        unit_failures++;
    printf("%s %d - %s\n", unit_current_failed ? "not ok" : "ok", unit_count, name);
    fflush(stdout);
}

#define RUN(fn) unit_run(#fn, fn)

static inline int unit_done(void)
{
    printf("1..%d\n", unit_count);
    return unit_failures ? 1 : 0;
}
#endif
