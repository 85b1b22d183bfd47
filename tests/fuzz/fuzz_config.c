/* Fuzz target: kura.conf from bytes (the strict INI layer, every key's
 * value checks, path resolution). Invariant: a config that loads has
 * absolute paths and a valid host id. */
#include <stdint.h>
#include <stdlib.h>

#include "kura/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kura_config cfg;
    struct kura_err err;
    if (kura_config_parse("fuzz.conf", (const char *)data, size, KURA_MACHINE_ID_PATH, &cfg, &err) != 0)
        return 0;
    if (cfg.state_dir[0] != '/' || cfg.keys_dir[0] != '/' || cfg.audit_log[0] != '/' || cfg.socket[0] != '/' ||
        !kura_host_id_valid(cfg.host_id))
        abort();
    kura_config_free(&cfg);
    return 0;
}
