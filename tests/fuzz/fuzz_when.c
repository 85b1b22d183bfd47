/* kura_when_parse and kura_period_parse on arbitrary bytes. The first byte
 * picks the zone, the rest (NUL-terminated copy) is the input. Beyond not
 * crashing, what parses must make sense: a day lasts 0 to 26 hours and
 * formats back to its date, a time stamp formats and parses back to the
 * same instant, a period is never empty. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/when.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const zones[] = {
    "Asia/Tokyo", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia",
    "America/St_Johns", "Nowhere/City",
};

static void check_when(const char *s, const struct kura_zone *z)
{
    int64_t a, b, back;
    char buf[32];
    if (kura_when_parse(s, z, &a, &b, NULL) != 0)
        return;
    if (strlen(s) == 10) { /* a date */
        if (b < a || b - a > 26 * 3600)
            abort();
        if (b > a && (kura_date_format(a, z, buf, sizeof buf) != 0 || strcmp(buf, s) != 0))
            abort();
        return;
    }
    if (a != b)
        abort();
    /* Local years outside 0000-9999 cannot be formatted; all others round-trip. */
    if (kura_time_format(a, z, buf, sizeof buf) == 0 &&
        (kura_when_parse(buf, z, &back, NULL, NULL) != 0 || back != a))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    /* An unknown zone is refused where it is resolved (the config). */
    const struct kura_zone *z = kura_zone_get(zones[data[0] % (sizeof zones / sizeof zones[0])], NULL);
    if (!z)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    check_when(s, z);
    int64_t from, until;
    if (kura_period_parse(s, z, &from, &until, NULL) == 0 && until <= from)
        abort();
    free(s);
    return 0;
}
