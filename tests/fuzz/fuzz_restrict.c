/* kura_restrict_parse on arbitrary bytes (a NOTIFY payload anyone with
 * the database's role could send). Beyond not crashing: what parses
 * formats back to the same bytes (the format is canonical), and a
 * refused payload leaves the notice zeroed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/restrict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    struct kura_restrict_notice n;
    char back[KURA_RESTRICT_PAYLOAD_MAX];
    if (kura_restrict_parse(s, &n) == 0) {
        if (kura_restrict_format(&n, back, sizeof back) < 0 || strcmp(back, s) != 0)
            abort();
        kura_restrict_matches(&n.r, "JGAD000001", 1001, NULL);
    } else if (n.lift || n.r.sender_pid != 0) {
        abort();
    }
    free(s);
    return 0;
}
