/* An audit record's text: names, the members a caller supplies as JSON,
 * hashes and MACs over lines. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit_priv.h"
#include "kura/clock.h"
#include "kura/json.h"
#include "kura/text.h"
#include "kura/when.h"

static const char *const event_names[] = {
    [KURA_AUDIT_OPEN] = "open",
    [KURA_AUDIT_CLOSE] = "close",
    [KURA_AUDIT_WRITE_DENIED] = "write-denied",
    [KURA_AUDIT_POLICY_CHANGE] = "policy-change",
    [KURA_AUDIT_REVOCATION] = "revocation",
    [KURA_AUDIT_SUSPEND] = "suspend",
    [KURA_AUDIT_RESUME] = "resume",
    [KURA_AUDIT_LOCKDOWN] = "lockdown",
    [KURA_AUDIT_UNLOCK] = "unlock",
    [KURA_AUDIT_WITHDRAW] = "withdraw",
    [KURA_AUDIT_DESTROY] = "destroy",
    [KURA_AUDIT_IMPORT] = "import",
    [KURA_AUDIT_ALERT] = "alert",
    [KURA_AUDIT_START] = "start",
    [KURA_AUDIT_STOP] = "stop",
    [KURA_AUDIT_REFUSALS] = "refusals",
    [KURA_AUDIT_RETENTION] = "retention",
};
#define EVENT_COUNT (sizeof event_names / sizeof event_names[0])

static const char *const decision_names[] = {
    [KURA_AUDIT_NO_DECISION] = "-",
    [KURA_AUDIT_ALLOW] = "allow",
    [KURA_AUDIT_DENY] = "deny",
};
#define DECISION_COUNT (sizeof decision_names / sizeof decision_names[0])

const char *kura_audit_event_name(enum kura_audit_event e)
{
    return (unsigned)e < EVENT_COUNT ? event_names[e] : NULL;
}

int kura_audit_event_parse(const char *s, enum kura_audit_event *out)
{
    for (unsigned i = 0; s && i < EVENT_COUNT; i++)
        if (strcmp(s, event_names[i]) == 0)
            return *out = (enum kura_audit_event)i, 0;
    return -1;
}

const char *kura_audit_decision_name(enum kura_audit_decision d)
{
    return (unsigned)d < DECISION_COUNT ? decision_names[d] : NULL;
}

int kura_audit_decision_parse(const char *s, enum kura_audit_decision *out)
{
    for (unsigned i = 0; s && i < DECISION_COUNT; i++)
        if (strcmp(s, decision_names[i]) == 0)
            return *out = (enum kura_audit_decision)i, 0;
    return -1;
}

void kura_audit_record_init(struct kura_audit_record *r)
{
    memset(r, 0, sizeof *r);
    r->decision = KURA_AUDIT_NO_DECISION;
    r->uid = r->loginuid = r->pid = r->ppid = KURA_AUDIT_ABSENT;
    r->bytes = r->duration_ms = r->count = KURA_AUDIT_ABSENT;
}

bool kura_audit_is_refusal(const struct kura_audit_record *r)
{
    return r->event == KURA_AUDIT_REFUSALS ||
           (r->decision == KURA_AUDIT_DENY && (r->event == KURA_AUDIT_OPEN || r->event == KURA_AUDIT_WRITE_DENIED));
}

bool kura_audit_is_reader(const struct kura_audit_record *r)
{
    return r->event == KURA_AUDIT_OPEN && r->detail &&
           strncmp(r->detail, KURA_AUDIT_READER_DETAIL, strlen(KURA_AUDIT_READER_DETAIL)) == 0;
}

void audit_line_hash(const char *line, size_t len, unsigned char out[KURA_AUDIT_HASH_LEN])
{
    crypto_generichash(out, KURA_AUDIT_HASH_LEN, (const unsigned char *)line, len, NULL, 0);
}

void audit_mac(const unsigned char *key, const char *data, size_t len, unsigned char out[KURA_AUDIT_HASH_LEN])
{
    crypto_generichash(out, KURA_AUDIT_HASH_LEN, (const unsigned char *)data, len, key, KURA_AUDIT_KEY_LEN);
}

void audit_hex(const unsigned char in[KURA_AUDIT_HASH_LEN], char out[AUDIT_HEX_LEN + 1])
{
    sodium_bin2hex(out, AUDIT_HEX_LEN + 1, in, KURA_AUDIT_HASH_LEN);
}

/* Exactly 64 lower-case hex digits: the only form the writer produces. */
bool audit_unhex(const char *hex, unsigned char out[KURA_AUDIT_HASH_LEN])
{
    return kura_hex_lower(hex, AUDIT_HEX_LEN) &&
           sodium_hex2bin(out, KURA_AUDIT_HASH_LEN, hex, AUDIT_HEX_LEN, NULL, NULL, NULL) == 0;
}

bool audit_line_mac_ok(const unsigned char *key, const char *line, size_t len)
{
    if (len < 1 + AUDIT_MAC_TAIL_LEN)
        return false;
    const char *tail = line + len - AUDIT_MAC_TAIL_LEN;
    unsigned char want[KURA_AUDIT_HASH_LEN], got[KURA_AUDIT_HASH_LEN];
    if (memcmp(tail, ",\"mac\":\"", 8) != 0 || memcmp(line + len - 2, "\"}", 2) != 0 ||
        !audit_unhex(tail + 8, want))
        return false;
    audit_mac(key, line, len - AUDIT_MAC_TAIL_LEN, got);
    return sodium_memcmp(want, got, sizeof got) == 0;
}

/* RFC 3339 with milliseconds and the zone's offset: kura_time_format's
 * seconds with ".mmm" spliced in before the offset. */
static int format_time(int64_t ms, const struct kura_zone *zone, char out[48])
{
    int64_t sec = ms / 1000, frac = ms % 1000;
    if (frac < 0)
        frac += 1000, sec--;
    char base[40];
    if (kura_time_format(sec, zone, base, sizeof base) != 0 || strlen(base) < 20)
        return -1;
    snprintf(out, 48, "%.19s.%03d%s", base, (int)frac, base + 19);
    return 0;
}

/* A body being built, and the fields cut so far. */
struct body {
    struct kura_json_writer w;
    char cut[128];
    bool oom;
};

static void add_text(struct body *b, const char *key, const char *value, size_t max)
{
    if (!value)
        return;
    size_t len = strlen(value);
    if (len > max) {
        len = max;
        size_t used = strlen(b->cut);
        snprintf(b->cut + used, sizeof b->cut - used, "%s%s", used ? "," : "", key);
    }
    kura_json_add_stringn(&b->w, key, value, len);
    /* Not UTF-8 (a hostile file name, a binary argument): the escaped form
     * above stays readable, the exact bytes go alongside as hex. */
    if (!kura_utf8_valid(value, len)) {
        char hkey[32], *hex = malloc(2 * len + 1);
        if (!hex) {
            b->oom = true; /* fails the record rather than drop the exact bytes */
            return;
        }
        snprintf(hkey, sizeof hkey, "%s_hex", key);
        sodium_bin2hex(hex, 2 * len + 1, (const unsigned char *)value, len);
        kura_json_add_stringn(&b->w, hkey, hex, 2 * len);
        free(hex);
    }
}

static void add_number(struct body *b, const char *key, int64_t v)
{
    if (v >= 0)
        kura_json_add_int(&b->w, key, v);
}

static size_t text_room(const char *s, size_t max)
{
    size_t n = s ? strnlen(s, max) : 0;
    return 8 * n + 64; /* escaped (<= 6 per byte) plus hex (2 per byte), key and quotes */
}

char *audit_body_build(const struct kura_audit_record *rec, const char *host, const struct kura_zone *zone,
                       size_t head_room, size_t tail_room, size_t *body_len, struct kura_err *err)
{
    const char *event = kura_audit_event_name(rec->event);
    const char *decision = kura_audit_decision_name(rec->decision);
    if (!event || !decision) {
        kura_err_set(err, EINVAL, "audit record: unknown event or decision");
        return NULL;
    }
    int64_t ms = rec->time_ms;
    if (ms == 0)
        ms = kura_clock_ms(CLOCK_REALTIME);
    char stamp[48];
    if (format_time(ms, zone, stamp) != 0) {
        kura_err_set(err, EINVAL, "audit record: cannot format time %" PRId64 " ms in the log's zone", ms);
        return NULL;
    }
    const char *texts[] = {rec->reason, rec->dataset, rec->samples, rec->user,
                           rec->exe,    rec->ssh_client, rec->detail};
    size_t room = 512 + text_room(host, KURA_AUDIT_TEXT_MAX) + text_room(rec->path, KURA_AUDIT_PATH_MAX) +
                  text_room(rec->cmdline, KURA_AUDIT_CMDLINE_MAX);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        room += text_room(texts[i], KURA_AUDIT_TEXT_MAX);
    char *buf = malloc(head_room + room + tail_room);
    struct body b = {0};
    if (!buf) {
        kura_err_set(err, ENOMEM, "audit record: out of memory");
        return NULL;
    }
    kura_json_begin(&b.w, buf + head_room, room);
    kura_json_add_string(&b.w, "time", stamp);
    add_text(&b, "host", host, KURA_AUDIT_TEXT_MAX);
    kura_json_add_string(&b.w, "event", event);
    kura_json_add_string(&b.w, "decision", decision);
    add_text(&b, "reason", rec->reason, KURA_AUDIT_TEXT_MAX);
    add_text(&b, "dataset", rec->dataset, KURA_AUDIT_TEXT_MAX);
    add_text(&b, "path", rec->path, KURA_AUDIT_PATH_MAX);
    add_text(&b, "samples", rec->samples, KURA_AUDIT_TEXT_MAX);
    add_text(&b, "user", rec->user, KURA_AUDIT_TEXT_MAX);
    add_number(&b, "uid", rec->uid);
    add_number(&b, "loginuid", rec->loginuid);
    add_number(&b, "pid", rec->pid);
    add_number(&b, "ppid", rec->ppid);
    add_text(&b, "exe", rec->exe, KURA_AUDIT_TEXT_MAX);
    add_text(&b, "cmdline", rec->cmdline, KURA_AUDIT_CMDLINE_MAX);
    add_text(&b, "ssh_client", rec->ssh_client, KURA_AUDIT_TEXT_MAX);
    add_number(&b, "bytes", rec->bytes);
    add_number(&b, "duration_ms", rec->duration_ms);
    add_number(&b, "count", rec->count);
    add_text(&b, "detail", rec->detail, KURA_AUDIT_TEXT_MAX);
    if (b.cut[0])
        kura_json_add_string(&b.w, "cut", b.cut);
    if (b.oom) {
        free(buf);
        kura_err_set(err, ENOMEM, "audit record: out of memory");
        return NULL;
    }
    if (kura_json_end(&b.w, body_len, err) != 0) {
        free(buf);
        kura_err_prefix(err, "audit record");
        return NULL;
    }
    return buf;
}
