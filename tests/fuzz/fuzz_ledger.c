/* Fuzz target: ledger verification from bytes. Invariant: a ledger that
 * verifies has one line per record, and its head is the last line's hash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_records(const struct kura_ledger_record *r, void *arg)
{
    size_t *n = arg;
    if (r->seq != (int64_t)++*n)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0, seen = 0;
    char head[KURA_HASH_HEX_LEN + 1];
    if (kura_ledger_scan("fuzz.jsonl", (const char *)data, size, count_records, &seen, &n, head, NULL) != 0)
        return 0;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';
    if (n != seen || n != lines || strlen(head) != KURA_HASH_HEX_LEN)
        abort();
    if (n > 0) {
        const char *last = (const char *)data + size - 1 - 66; /* ...","hash":"<64>"}\n */
        if (size < 67 || memcmp(last, head, KURA_HASH_HEX_LEN) != 0)
            abort();
    }
    return 0;
}
