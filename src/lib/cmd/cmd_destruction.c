/* A destroyed dataset's record of its destruction, as both reports of it
 * read it (kuractl report destruction and report end-of-use): the report
 * kept at the destruction, checked against the ledger's record of it, and
 * the keystore checked to hold nothing of the dataset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/ledger.h"

/* Nothing of the dataset left in the keystore. */
bool cmd_keystore_empty(const struct kura_cmd_ctx *c, const char *id)
{
    char **ids = NULL;
    size_t n = 0;
    struct kura_err e = {0};
    bool empty = !kura_keystore_dataset_exists(c->env->cfg->keys_dir, id) &&
                 kura_keystore_file_ids(c->env->cfg->keys_dir, id, &ids, &n, &e) == 0 && n == 0;
    kura_keystore_ids_free(ids, n);
    return empty;
}

static int find_destroy_record(const struct kura_ledger_record *r, void *arg)
{
    struct cmd_destruction *f = arg;
    if (strcmp(r->action, "dataset-destroy") == 0 && strncmp(r->detail, "report sha256=", 14) == 0) {
        snprintf(f->sha, sizeof f->sha, "%.64s", r->detail + 14);
        snprintf(f->time, sizeof f->time, "%s", r->time);
        snprintf(f->actor, sizeof f->actor, "%s", r->actor);
        f->seq = r->seq;
    }
    return 0;
}

int cmd_destruction_read(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, struct cmd_destruction *d)
{
    memset(d, 0, sizeof *d);
    struct kura_err e = {0};
    char *report = NULL, *ledger = NULL;
    int rc = -1;
    if (ds->status != KURA_DS_DESTROYED) {
        cmd_fail(c, "dataset %s is not destroyed (kuractl dataset destroy %s)", ds->id, ds->id);
        return -1;
    }
    if (!(report = cmd_dataset_file(c, ds->id, KURA_DESTRUCTION_REPORT_FILE)) || !(ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    if (kura_read_file(report, CMD_REPORT_MAX, &d->text, &d->len, &e) != 0 ||
        kura_ledger_read(ledger, find_destroy_record, d, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    char sha[65];
    cmd_sha256_hex(d->text, d->len, sha);
    if (!d->seq || strcmp(sha, d->sha) != 0) {
        cmd_fail(c, "the report of dataset %s does not match its ledger record (sha256 %s, ledger %s)", ds->id, sha,
                 d->seq ? d->sha : "none");
        goto out;
    }
    if (!cmd_keystore_empty(c, ds->id)) {
        cmd_fail(c, "the keystore still holds key material of dataset %s; run kuractl dataset destroy %s again", ds->id,
                 ds->id);
        goto out;
    }
    rc = 0;
out:
    free(report);
    free(ledger);
    if (rc != 0) {
        free(d->text);
        d->text = NULL;
    }
    return rc;
}
