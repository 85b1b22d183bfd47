/* Fuzz target: files.tsv from bytes. Invariant: the format is canonical,
 * so an accepted input is exactly what the writer writes for it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/dsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kura_file *files = NULL;
    size_t n = 0;
    if (kura_files_parse("fuzz.tsv", (const char *)data, size, &files, &n, NULL) == 0) {
        size_t len;
        char *text = kura_files_format(files, n, &len, NULL);
        if (!text || len != size || memcmp(text, data, size) != 0)
            abort();
        free(text);
    }
    kura_files_free(files, n);
    return 0;
}
