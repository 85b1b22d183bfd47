/* The form of an import's ledger detail that names the delivery keys
 * (ledger.h): written by kuractl dataset import, read back by key retire
 * and the destruction report. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "kura/ledger.h"
#include "kura/text.h"

#define PREFIX "archive delivery to "
#define KEPT "; source kept"
#define REMOVAL "; source removal follows (--remove-source)"

static bool key_ok(const struct kura_ledger_delivery_key *k)
{
    return (strcmp(k->role, "dataset") == 0 || strcmp(k->role, "server") == 0) &&
           strlen(k->fp) == KURA_HASH_HEX_LEN && kura_hex_lower(k->fp, KURA_HASH_HEX_LEN);
}

int kura_ledger_delivery_format(const struct kura_ledger_delivery_key *keys, size_t n, bool removal_follows,
                                char *buf, size_t cap, struct kura_err *err)
{
    if (n == 0 || n > KURA_LEDGER_DELIVERY_KEYS_MAX) {
        kura_err_set(err, EINVAL, "%zu delivery keys (1 to %d)", n, KURA_LEDGER_DELIVERY_KEYS_MAX);
        return -1;
    }
    size_t used = 0;
    int w = snprintf(buf, cap, "%s", PREFIX);
    for (size_t i = 0; w >= 0 && (used += (size_t)w) < cap && i < n; i++) {
        if (!key_ok(&keys[i])) {
            kura_err_set(err, EINVAL, "delivery key %zu is malformed", i + 1);
            return -1;
        }
        w = snprintf(buf + used, cap - used, "%s%s key %s (%lu file(s))", i ? ", " : "", keys[i].role, keys[i].fp,
                     keys[i].files);
    }
    if (w >= 0 && used < cap)
        w = snprintf(buf + used, cap - used, "%s", removal_follows ? REMOVAL : KEPT);
    if (w < 0 || used + (size_t)w >= cap) {
        kura_err_set(err, ENOBUFS, "the delivery keys do not fit the ledger record");
        return -1;
    }
    return 0;
}

size_t kura_ledger_delivery_parse(const char *detail, struct kura_ledger_delivery_key v[KURA_LEDGER_DELIVERY_KEYS_MAX],
                                  bool *removal_follows)
{
    size_t n = 0;
    *removal_follows = false;
    if (strncmp(detail, PREFIX, strlen(PREFIX)) != 0)
        return 0;
    const char *p = detail + strlen(PREFIX);
    for (;;) {
        if (n == KURA_LEDGER_DELIVERY_KEYS_MAX)
            return 0;
        struct kura_ledger_delivery_key *k = &v[n];
        int used = 0;
        memset(k, 0, sizeof *k);
        if (sscanf(p, "%7[a-z] key %64[0-9a-f] (%lu file(s))%n", k->role, k->fp, &k->files, &used) != 3 || !used ||
            !key_ok(k))
            return 0;
        n++;
        p += used;
        if (strncmp(p, ", ", 2) != 0)
            break;
        p += 2;
    }
    if (strncmp(p, REMOVAL, strlen(REMOVAL)) == 0)
        *removal_follows = true;
    else if (strncmp(p, KEPT, strlen(KEPT)) != 0)
        return 0;
    return n;
}
