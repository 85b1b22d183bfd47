/* The head file: where the chain stood after the last batch, so records cut
 * from the end of the log show (R-LOG-2). Two 256-byte text slots, written
 * in turn and never synced: the log's fdatasync is what makes a record
 * durable, so after a crash the head may lag behind the log, never run
 * ahead of it, and a torn write spoils only the slot being written.
 *
 *   kura-audit-head seq=12 ino=393231 size=5120 hash=<64 hex> mac=<64 hex>
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit_priv.h"
#include "kura/text.h"

#define SLOT 256
#define MAGIC "kura-audit-head"

int kura_audit_head_path(const char *log_path, char *buf, size_t len)
{
    const char *slash = strrchr(log_path, '/');
    int n = slash ? snprintf(buf, len, "%.*s/.%s.head", (int)(slash - log_path), log_path, slash + 1)
                  : snprintf(buf, len, ".%s.head", log_path);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool parse_u64(const char **p, const char *name, uint64_t *out)
{
    size_t n = strlen(name);
    if (strncmp(*p, name, n) != 0)
        return false;
    const char *s = *p + n;
    size_t digits = strspn(s, "0123456789");
    if ((digits > 1 && s[0] == '0') || kura_parse_decimal(s, digits, UINT64_MAX, out) != 0)
        return false;
    *p = s + digits;
    return true;
}

/* One slot: text, MAC over the text before " mac=", spaces, newline. */
static bool slot_parse(const char *slot, const unsigned char *key, struct audit_head *h)
{
    char text[SLOT + 1];
    memcpy(text, slot, SLOT);
    text[SLOT] = '\0';
    if (text[SLOT - 1] != '\n' || strlen(text) != SLOT)
        return false;
    const char *p = text;
    if (strncmp(p, MAGIC " ", sizeof MAGIC) != 0)
        return false;
    p += sizeof MAGIC;
    if (!parse_u64(&p, "seq=", &h->seq) || !parse_u64(&p, " ino=", &h->ino) || !parse_u64(&p, " size=", &h->size))
        return false;
    if (strncmp(p, " hash=", 6) != 0 || !audit_unhex(p + 6, h->hash))
        return false;
    p += 6 + AUDIT_HEX_LEN;
    size_t macced = (size_t)(p - text);
    unsigned char want[KURA_AUDIT_HASH_LEN], got[KURA_AUDIT_HASH_LEN];
    if (strncmp(p, " mac=", 5) != 0 || !audit_unhex(p + 5, want))
        return false;
    for (p += 5 + AUDIT_HEX_LEN; *p == ' '; p++)
        ;
    if (p != text + SLOT - 1)
        return false;
    audit_mac(key, text, macced, got);
    return sodium_memcmp(want, got, sizeof got) == 0;
}

int audit_head_read(int fd, const unsigned char *key, struct audit_head *h, int *slot)
{
    char buf[2 * SLOT];
    ssize_t n;
    do
        n = pread(fd, buf, sizeof buf, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    int found = 0;
    for (int i = 0; i < 2; i++) {
        struct audit_head cand;
        if ((size_t)n < (size_t)(i + 1) * SLOT || !slot_parse(buf + i * SLOT, key, &cand))
            continue;
        if (!found || cand.seq > h->seq) {
            *h = cand;
            *slot = i;
            found = 1;
        }
    }
    return found;
}

int audit_head_write(int fd, const unsigned char *key, const struct audit_head *h, int slot)
{
    char text[SLOT + 1], hex[AUDIT_HEX_LEN + 1];
    unsigned char mac[KURA_AUDIT_HASH_LEN];
    audit_hex(h->hash, hex);
    int n = snprintf(text, sizeof text, MAGIC " seq=%" PRIu64 " ino=%" PRIu64 " size=%" PRIu64 " hash=%s", h->seq,
                     h->ino, h->size, hex);
    audit_mac(key, text, (size_t)n, mac);
    audit_hex(mac, hex);
    n += snprintf(text + n, sizeof text - (size_t)n, " mac=%s", hex);
    memset(text + n, ' ', SLOT - 1 - (size_t)n);
    text[SLOT - 1] = '\n';
    for (int i = 0; i < 2; i++) {
        if (slot >= 0 && slot != i)
            continue;
        ssize_t w;
        do
            w = pwrite(fd, text, SLOT, (off_t)i * SLOT);
        while (w < 0 && errno == EINTR);
        if (w != SLOT) {
            if (w >= 0)
                errno = EIO;
            return -1;
        }
    }
    return 0;
}
