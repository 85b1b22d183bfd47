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
#define SIGNATURE_LEN (sizeof SIGNATURE_OPEN - 1 + 64 + sizeof SIGNATURE_CLOSE - 1)
/* What the daemon takes; root's kuractl reads at most as much. */
#define SIGNED_MAX KURA_CTL_MAX_INPUT
#define MAC_LEN 32

/* Starts the MAC: keyed, the domain tag in. */
static int mac_begin(const struct kura_cmd_ctx *c, crypto_generichash_state *st, struct kura_err *e)
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
    crypto_generichash_init(st, key, KURA_AUDIT_KEY_LEN, MAC_LEN);
    kura_secure_free(key);
    crypto_generichash_update(st, (const unsigned char *)DOMAIN_TAG, strlen(DOMAIN_TAG));
    return 0;
}

static void mac_end(crypto_generichash_state *st, char hex[65])
{
    unsigned char mac[MAC_LEN];
    crypto_generichash_final(st, mac, sizeof mac);
    sodium_memzero(st, sizeof *st);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
}

/* The MAC of text[0..len) as hex. */
static int report_mac(const struct kura_cmd_ctx *c, const char *text, size_t len, char hex[65], struct kura_err *e)
{
    crypto_generichash_state st;
    if (mac_begin(c, &st, e) != 0)
        return -1;
    crypto_generichash_update(&st, (const unsigned char *)text, len);
    mac_end(&st, hex);
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

/* Checks the signature of the report in `in`: every byte but the last
 * SIGNATURE_LEN goes into the MAC as it arrives, and only those are kept,
 * so a report of any size takes the same little memory. */
static int verify_stream(const struct kura_cmd_ctx *c, FILE *in, const char *name)
{
    struct kura_err e = {0};
    crypto_generichash_state st;
    if (mac_begin(c, &st, &e) != 0)
        return cmd_fail(c, "cannot check the signature: %s", e.msg);
    char tail[SIGNATURE_LEN], chunk[16384];
    size_t ntail = 0;
    char before = '\n';         /* the byte before the tail: the signature is a line of its own */
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, in)) > 0) {
        if (ntail + n <= sizeof tail) {
            memcpy(tail + ntail, chunk, n);
            ntail += n;
            continue;
        }
        size_t out = ntail + n - sizeof tail;   /* bytes leaving the tail for the MAC */
        size_t from_tail = out < ntail ? out : ntail, from_chunk = out - from_tail;
        crypto_generichash_update(&st, (const unsigned char *)tail, from_tail);
        crypto_generichash_update(&st, (const unsigned char *)chunk, from_chunk);
        before = from_chunk ? chunk[from_chunk - 1] : tail[from_tail - 1];
        memmove(tail, tail + from_tail, ntail - from_tail);
        memcpy(tail + ntail - from_tail, chunk + from_chunk, n - from_chunk);
        ntail = sizeof tail;
    }
    char mac[65];
    mac_end(&st, mac);
    if (ferror(in))
        return cmd_fail(c, "%s: its text did not arrive whole (kuractl sends it within %d s)", name,
                        KURA_CTL_TIMEOUT_MS / 1000);
    if (ntail < sizeof tail || before != '\n' || memcmp(tail, SIGNATURE_OPEN, strlen(SIGNATURE_OPEN)) != 0 ||
        memcmp(tail + sizeof tail - strlen(SIGNATURE_CLOSE), SIGNATURE_CLOSE, strlen(SIGNATURE_CLOSE)) != 0)
        return cmd_fail(c, "%s: no kura signature at its end (a report for people, Markdown or HTML, as kuractl "
                           "printed it)", name);
    if (sodium_memcmp(mac, tail + strlen(SIGNATURE_OPEN), 64) != 0)
        return cmd_fail(c, "%s does NOT verify: it was changed after kuractl signed it, or signed on another "
                           "server", name);
    fprintf(c->out, "%s: the signature verifies: the report is as kuractl printed it on this server\n", name);
    return KURA_EXIT_OK;
}

/* kuractl report verify FILE: the daemon checks the text the caller's
 * kuractl read and sent (KURA_CTL_INPUT); root's kuractl reads FILE itself. */
int cmd_report_verify(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (c->env->socket_mode) {
        if (!c->env->input)
            return cmd_fail(c, "%s: the request did not carry the report's text (kuractl reads FILE with your "
                               "rights and sends it; the daemon opens no file you name)", pos[0]);
        return verify_stream(c, c->env->input, pos[0]);
    }
    struct kura_err e = {0};
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(pos[0], SIGNED_MAX, &text, &len, &e) != 0)
        return cmd_fail_err(c, &e);
    FILE *in = fmemopen(text, len, "r");
    int rc = in ? verify_stream(c, in, pos[0]) : cmd_fail(c, "out of memory");
    if (in)
        fclose(in);
    free(text);
    return rc;
}
