/* Fuzz target: the import samples TSV from bytes. Invariant: every entry
 * of an accepted map is found by its path, with at least one sample. */
#include <stdint.h>
#include <stdlib.h>

#include "kura/dsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kura_sample_map map;
    if (kura_samples_parse("fuzz.tsv", (const char *)data, size, &map, NULL) != 0)
        return 0;
    for (size_t i = 0; i < map.n; i++)
        if (kura_samples_find(&map, map.entries[i].path) != &map.entries[i] || map.entries[i].nsamples == 0)
            abort();
    kura_samples_free(&map);
    return 0;
}
