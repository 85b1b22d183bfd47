/* audit_backdate CONF MAX_BYTES UNIX_MS N: appends N records to the
 * server's audit log dated UNIX_MS, UNIX_MS + 1 s, ..., rotating at
 * MAX_BYTES. Time passing for the log, without a clock to move: the
 * retention test ages the log's files this way. Not installed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/audit.h"
#include "kura/config.h"
#include "kura/layout.h"
#include "kura/secmem.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: audit_backdate CONF MAX_BYTES UNIX_MS N\n");
        return 2;
    }
    struct kura_config cfg = {0};
    struct kura_err err = {0};
    if (kura_secmem_init() != 0 || kura_config_load(argv[1], &cfg, &err) != 0) {
        fprintf(stderr, "audit_backdate: %s\n", err.msg);
        return 1;
    }
    char key_path[4096];
    snprintf(key_path, sizeof key_path, "%s/%s", cfg.keys_dir, KURA_AUDIT_KEY_FILE);
    unsigned char *key = kura_audit_key_load(key_path, &err);
    struct kura_audit_options opt = {.zone = cfg.zone, .max_size = strtoull(argv[2], NULL, 10)};
    struct kura_audit_log *log = key ? kura_audit_open(cfg.audit_log, key, &opt, &err) : NULL;
    int64_t ms = strtoll(argv[3], NULL, 10);
    long n = strtol(argv[4], NULL, 10);
    int rc = log ? 0 : 1;
    for (long i = 0; rc == 0 && i < n; i++) {
        struct kura_audit_record r;
        kura_audit_record_init(&r);
        r.event = KURA_AUDIT_OPEN;
        r.decision = KURA_AUDIT_ALLOW;
        r.dataset = "JGAD000001";
        r.user = "kt_old";
        r.uid = 60000;
        r.time_ms = ms + i * 1000;
        rc = kura_audit_append(log, &r, &err) == 0 ? 0 : 1;
    }
    if (rc != 0)
        fprintf(stderr, "audit_backdate: %s\n", err.msg);
    kura_audit_close(log);
    kura_secure_free(key);
    kura_config_free(&cfg);
    return rc;
}
