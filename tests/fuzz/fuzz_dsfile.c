/* Fuzz target: dataset.ini from bytes. Invariant: what loads can be
 * written (in any zone), and the written file loads to the same dataset
 * and writes the same bytes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/dsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kura_dataset ds, back;
    if (kura_dataset_parse("fuzz.ini", (const char *)data, size, &ds, NULL) != 0)
        return 0;
    static const char *const zones[] = {"UTC", "Asia/Tokyo", "America/St_Johns"};
    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        size_t len, len2;
        char *text = kura_dataset_format(&ds, kura_zone_get(zones[z], NULL), &len, NULL);
        if (!text || kura_dataset_parse("again.ini", text, len, &back, NULL) != 0)
            abort();
        char *again = kura_dataset_format(&back, kura_zone_get(zones[z], NULL), &len2, NULL);
        if (!again || len2 != len || memcmp(text, again, len) != 0)
            abort();
        if (strcmp(back.title, ds.title) != 0 || back.from != ds.from || back.until != ds.until ||
            back.ngrants != ds.ngrants || back.nwithdrawals != ds.nwithdrawals)
            abort();
        free(text);
        free(again);
        kura_dataset_clear(&back);
    }
    kura_dataset_clear(&ds);
    return 0;
}
