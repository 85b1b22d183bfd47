/* Signed reports (R-LOG-4): a report for people (Markdown, HTML) ends in
 * one line
 *   <!-- kura-signature: blake2b-256 <64 hex digits> -->
 * the BLAKE2b-256 keyed with the audit-log key (which only root and the
 * daemon can read) over a domain tag and every byte before that line, as
 * the log's records are MAC'd. Markdown and HTML do not show the comment;
 * kuractl report verify FILE finds a copy edited by even one byte, or one
 * signed on another server. CSV and JSON, for programs, are not signed. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/report_html.h"
#include "kura/secmem.h"

#define SIGNATURE_OPEN "<!-- kura-signature: blake2b-256 "
#define SIGNATURE_CLOSE " -->\n"
#define DOMAIN_TAG "kura report signature v1\n"
#define SIGNED_MAX (64u << 20)

/* The MAC of text[0..len) as hex. */
static int report_mac(const struct kura_cmd_ctx *c, const char *text, size_t len, char hex[65], struct kura_err *e)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", c->env->cfg->keys_dir, KURA_AUDIT_KEY_FILE) < 0) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    unsigned char *key = kura_audit_key_load(path, e);
    free(path);
    if (!key)
        return -1;
    unsigned char mac[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, KURA_AUDIT_KEY_LEN, sizeof mac);
    crypto_generichash_update(&st, (const unsigned char *)DOMAIN_TAG, strlen(DOMAIN_TAG));
    crypto_generichash_update(&st, (const unsigned char *)text, len);
    crypto_generichash_final(&st, mac, sizeof mac);
    sodium_memzero(&st, sizeof st);
    kura_secure_free(key);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
    return 0;
}

/* The signature line of text[0..len) in line (its own line, with its end). */
static int signature_line(const struct kura_cmd_ctx *c, const char *text, size_t len, char *line, size_t size,
                          struct kura_err *e)
{
    char mac[65];
    if (report_mac(c, text, len, mac, e) != 0) {
        kura_err_set(e, e->code, "cannot sign the report: %s", e->msg);
        return -1;
    }
    snprintf(line, size, "%s%s%s", SIGNATURE_OPEN, mac, SIGNATURE_CLOSE);
    return 0;
}

int cmd_report_render(const struct kura_cmd_ctx *c, const struct kura_report *r, enum cmd_report_format format,
                      enum kura_report_lang lang, char **text, size_t *len, struct kura_err *e)
{
    *text = NULL;
    *len = 0;
    FILE *f = open_memstream(text, len);
    if (!f) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    const struct kura_report_table *csv = r->csv_table < r->ntables ? &r->tables[r->csv_table] : NULL;
    int rc = format == CMD_REPORT_CSV    ? kura_report_csv(f, r, csv, e)
             : format == CMD_REPORT_JSON ? kura_report_json(f, r, e)
             : format == CMD_REPORT_HTML ? kura_report_html(f, r, lang, e)
                                         : kura_report_md(f, r, lang, e);
    char line[128];
    bool signed_report = format == CMD_REPORT_MD || format == CMD_REPORT_HTML;
    /* the MAC is over the text flushed so far; the signature line follows it */
    if (rc == 0 && signed_report && fflush(f) != 0) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc == 0 && signed_report && (rc = signature_line(c, *text, *len, line, sizeof line, e)) == 0)
        fputs(line, f);
    if (fclose(f) != 0 && rc == 0) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc != 0) {
        free(*text);
        *text = NULL;
        *len = 0;
    }
    return rc;
}

int cmd_report_print(const struct kura_cmd_ctx *c, const struct kura_report *r, enum cmd_report_format format,
                     enum kura_report_lang lang)
{
    struct kura_err e = {0};
    char *text;
    size_t len;
    if (cmd_report_render(c, r, format, lang, &text, &len, &e) != 0)
        return cmd_fail_err(c, &e);
    fwrite(text, 1, len, c->out);
    free(text);
    return 0;
}

/* kuractl report verify FILE */
int cmd_report_verify(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct cmd_caller cl;
    char *text = NULL;
    size_t len = 0;
    int rc = KURA_EXIT_FAIL;
    /* the caller's file, read with the caller's rights */
    if (cmd_caller_init(c, &cl, &e) != 0 || cmd_caller_enter(&cl, &e) != 0) {
        cmd_caller_free(&cl);
        return cmd_fail_err(c, &e);
    }
    int read = kura_read_file(pos[0], SIGNED_MAX, &text, &len, &e);
    cmd_caller_leave(&cl);
    cmd_caller_free(&cl);
    if (read != 0)
        return cmd_fail_err(c, &e);
    /* the last line, whole */
    size_t tail = strlen(SIGNATURE_OPEN) + 64 + strlen(SIGNATURE_CLOSE);
    const char *sig = len >= tail ? text + len - tail : NULL;
    char mac[65];
    if (!sig || (sig > text && sig[-1] != '\n') || strncmp(sig, SIGNATURE_OPEN, strlen(SIGNATURE_OPEN)) != 0 ||
        strcmp(sig + tail - strlen(SIGNATURE_CLOSE), SIGNATURE_CLOSE) != 0) {
        cmd_fail(c, "%s: no kura signature at its end (a report for people, Markdown or HTML, as kuractl "
                    "printed it)", pos[0]);
        goto out;
    }
    if (report_mac(c, text, (size_t)(sig - text), mac, &e) != 0) {
        cmd_fail(c, "cannot check the signature: %s", e.msg);
        goto out;
    }
    if (sodium_memcmp(mac, sig + strlen(SIGNATURE_OPEN), 64) != 0) {
        cmd_fail(c, "%s does NOT verify: it was changed after kuractl signed it, or signed on another server",
                 pos[0]);
        goto out;
    }
    fprintf(c->out, "%s: the signature verifies: the report is as kuractl printed it on this server\n", pos[0]);
    rc = KURA_EXIT_OK;
out:
    free(text);
    return rc;
}
