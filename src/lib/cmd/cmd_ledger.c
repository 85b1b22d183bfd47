#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/dsfile.h"
#include "kura/ledger.h"

struct print_ctx {
    const struct kura_cmd_ctx *c;
    bool json;
    size_t n;
    char head[KURA_HASH_HEX_LEN + 1];
};

static int print_record(const struct kura_ledger_record *r, void *arg)
{
    struct print_ctx *p = arg;
    FILE *out = p->c->out;
    p->n++;
    snprintf(p->head, sizeof p->head, "%s", r->hash);
    if (p->json) {
        /* Records hold at most 16 KiB; the verified record, as the file holds it. */
        char *buf = malloc(4 * KURA_LEDGER_LINE_MAX);
        if (!buf)
            return -1;
        int rc = kura_ledger_format(r, buf, 4 * KURA_LEDGER_LINE_MAX, NULL, NULL);
        if (rc == 0)
            fprintf(out, "%s\n", buf);
        free(buf);
        return rc;
    }
    /* Every text escaped: a file's name in a record is the archive's choice. */
    fprintf(out, "%4lld  %s  %s (uid %lld)  %s", (long long)r->seq, r->time, r->actor, (long long)r->uid, r->action);
    if (r->target[0]) {
        fputc(' ', out);
        kura_text_put_escaped(out, r->target, strlen(r->target));
    }
    if (r->before[0] || r->after[0]) {
        const char *before = r->before[0] ? r->before : "(none)", *after = r->after[0] ? r->after : "(none)";
        fputs(": ", out);
        kura_text_put_escaped(out, before, strlen(before));
        fputs(" -> ", out);
        kura_text_put_escaped(out, after, strlen(after));
    }
    if (r->detail[0]) {
        fputs("  [", out);
        kura_text_put_escaped(out, r->detail, strlen(r->detail));
        fputc(']', out);
    }
    fputc('\n', out);
    return 0;
}

int cmd_ledger(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool json;
    struct cmd_txn t;
    int rc = cmd_begin_listing(c, argc, argv, false, &json, &t);
    if (rc != KURA_EXIT_OK)
        return rc;
    rc = KURA_EXIT_FAIL;
    char *path = NULL;
    if (!(path = cmd_dataset_file(c, t.id, KURA_LEDGER_FILE))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    struct print_ctx p = {.c = c, .json = json};
    struct kura_err e = {0};
    if (kura_ledger_read(path, print_record, &p, &e) != 0) {
        cmd_fail(c, "the ledger of dataset %s does not verify after %zu good record(s): %s", t.id, p.n, e.msg);
        goto out;
    }
    if (!json)
        fprintf(c->out, "ledger of %s verified: %zu record(s), head %s\n", t.id, p.n, p.n ? p.head : "(empty)");
    rc = KURA_EXIT_OK;
out:
    free(path);
    cmd_txn_end(&t);
    return rc;
}
