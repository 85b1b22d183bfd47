/* kura_zone_parse on arbitrary bytes (TZif files are trusted system files,
 * but the reader must be bounded anyway). A zone that parses must answer
 * every lookup, and a local day start must be the first instant whose local
 * time reaches that day. */
#include <stdint.h>
#include <stdlib.h>

#include "kura/zone.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kura_zone *z = kura_zone_parse(data, size, NULL);
    if (!z)
        return 0;
    static const int64_t instants[] = {
        INT64_MIN, -KURA_ZONE_T_LIMIT, -2208988800, -1, 0, 1, 1774746000, 2147483648, 4102444800, INT64_MAX,
    };
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        int32_t off = kura_zone_offset(z, instants[i]);
        if (off <= -26 * 3600 || off >= 26 * 3600)
            abort();
        (void)kura_zone_local_start(z, instants[i]);
    }
    /* Midnights from 1900 to 2100, 61 days apart, and 2026-03-29. */
    for (int64_t local = -2208988800; local < 4102444800; local += 61 * 86400) {
        int64_t t = kura_zone_local_start(z, local);
        if (t + kura_zone_offset(z, t) < local || t - 1 + kura_zone_offset(z, t - 1) >= local)
            abort();
    }
    int64_t t = kura_zone_local_start(z, 1774742400);
    if (t + kura_zone_offset(z, t) < 1774742400)
        abort();
    kura_zone_free(z);
    return 0;
}
