/* Instants for unit tests, written as people write them (when.h). */
#ifndef KURA_UNIT_TIME_H
#define KURA_UNIT_TIME_H
#include <stdio.h>
#include <stdlib.h>

#include "kura/when.h"

/* Start of WHEN in zone (a date: its first second; a time stamp: itself);
 * a bad test time ends the test program. */
static inline int64_t unit_at(const char *when, const struct kura_zone *zone)
{
    int64_t t;
    struct kura_err err;
    if (kura_when_parse(when, zone, &t, NULL, &err) != 0) {
        printf("# bad test time %s: %s\n", when, err.msg);
        exit(2);
    }
    return t;
}
#endif
