/* The audit log's verifier and reader on arbitrary bytes (R-LOG-2): a log
 * file someone tampered with must never crash them, and what they accept
 * must make sense. The first byte is a mode:
 *   bit 0: give each line that ends like a record a correct "mac" (with the
 *          fixed key below), so the fuzzer gets past the MAC to the chain;
 *   bit 1: also give it a correct "prev" (the previous line's hash);
 *   bit 2: the next 512 bytes are a head file (slots re-MACed likewise).
 * The rest is the log. MACs and hashes are computed here from the format's
 * description (BLAKE2b-256, keyed and not), independently of the writer. */
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEX 64
#define MAC_TAIL (8 + HEX + 2)    /* ,"mac":"<hex>"} */
#define PREV_PART (9 + HEX + 1)   /* ,"prev":"<hex>" */

static const unsigned char key[KURA_AUDIT_KEY_LEN] = {
    'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k',
    'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k', 'k',
};
static char log_path[64], head_path[64];

static void cleanup(void)
{
    unlink(log_path);
    unlink(head_path);
}

static void hex32(const unsigned char *bin, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[bin[i] >> 4];
        out[2 * i + 1] = digits[bin[i] & 15];
    }
}

/* Rewrites prev and mac of one line (no newline) in place where the line
 * has their shape; returns the line's hash for the next one. */
static void fix_line(char *line, size_t len, int mode, unsigned char prev[32])
{
    unsigned char h[32];
    if (len >= MAC_TAIL + PREV_PART && memcmp(line + len - MAC_TAIL, ",\"mac\":\"", 8) == 0 &&
        memcmp(line + len - 2, "\"}", 2) == 0) {
        char *p = line + len - MAC_TAIL - PREV_PART;
        if ((mode & 2) && memcmp(p, ",\"prev\":\"", 9) == 0 && p[9 + HEX] == '"')
            hex32(prev, p + 9);
        crypto_generichash(h, 32, (unsigned char *)line, len - MAC_TAIL, key, sizeof key);
        hex32(h, line + len - MAC_TAIL + 8);
    }
    crypto_generichash(prev, 32, (unsigned char *)line, len, NULL, 0);
}

static void fix_head(char *head)
{
    for (int s = 0; s < 2; s++) {
        char *slot = head + 256 * s;
        char *m = memmem(slot, 256, " mac=", 5);
        if (!m || m + 5 + HEX > slot + 256)
            continue;
        unsigned char h[32];
        crypto_generichash(h, 32, (unsigned char *)slot, (size_t)(m - slot), key, sizeof key);
        hex32(h, m + 5);
    }
}

static int write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

struct counts {
    size_t calls, records;
};

static int on_line(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                   void *ctx)
{
    struct counts *c = ctx;
    c->calls++;
    if (!file || line != c->calls || (!e) == (!problem))
        abort();
    if (e) {
        c->records++;
        if (e->seq < 1 || !e->time || !e->host || strlen(e->prev) != HEX || strlen(e->mac) != HEX ||
            !kura_audit_event_name(e->rec.event) || !kura_audit_decision_name(e->rec.decision))
            abort();
        struct kura_audit_filter f = {.dataset = "JGAD000001", .user = "alice", .since_ms = 1};
        (void)kura_audit_filter_match(&f, e);
    }
    return 0;
}

static void on_finding(const struct kura_audit_finding *f, void *ctx)
{
    int *bad = ctx;
    if (!f->file || !f->what)
        abort();
    *bad += f->bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!log_path[0]) {
        if (sodium_init() < 0)
            abort();
        snprintf(log_path, sizeof log_path, "/tmp/kura-fuzz-audit-%d.jsonl", (int)getpid());
        snprintf(head_path, sizeof head_path, "/tmp/kura-fuzz-audit-%d.head", (int)getpid());
        atexit(cleanup);
    }
    if (size == 0)
        return 0;
    int mode = data[0];
    data++, size--;
    const char *head = NULL;
    char headbuf[512];
    if ((mode & 4) && size >= sizeof headbuf) {
        memcpy(headbuf, data, sizeof headbuf);
        fix_head(headbuf);
        head = headbuf;
        data += sizeof headbuf, size -= sizeof headbuf;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    size_t lines = 0;
    unsigned char prev[32] = {0};
    for (size_t start = 0; start < size;) {
        char *nl = memchr(text + start, '\n', size - start);
        size_t len = nl ? (size_t)(nl - text) - start : size - start;
        if (mode & 1)
            fix_line(text + start, len, mode, prev);
        lines++;
        start += len + 1;
    }
    if (write_file(log_path, text, size) != 0 || (head && write_file(head_path, head, sizeof headbuf) != 0)) {
        free(text);
        return 0;
    }

    struct counts c = {0};
    if (kura_audit_read(log_path, on_line, &c, NULL) != 0 || c.calls != lines)
        abort();

    int bad = 0;
    struct kura_audit_summary sum;
    struct kura_err err;
    const char *paths[] = {log_path};
    int rc = kura_audit_verify_files(paths, 1, head ? head_path : NULL, key, on_finding, &bad, &sum, &err);
    /* Accepted: every line a record, one unbroken run of seqs, nothing reported bad. */
    if (rc == 0 && (bad || c.records != lines || sum.records != lines ||
                    (lines && sum.last_seq - sum.first_seq + 1 != lines)))
        abort();
    if (rc != 0 && (bad != 1 || !err.msg[0]))
        abort();
    free(text);
    return 0;
}
