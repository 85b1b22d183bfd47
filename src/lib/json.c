#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/json.h"
#include "kura/text.h"

/* Appends n bytes to out if they fit; always counts them. */
static void put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (*pos < cap) {
        size_t room = cap - *pos;
        memcpy(out + *pos, s, n < room ? n : room);
    }
    *pos += n;
}

size_t kura_json_escape(char *out, size_t cap, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t pos = 0, i = 0;
    char esc[16];
    while (i < len) {
        unsigned char c = p[i];
        const char *rep = NULL;
        switch (c) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        default: break;
        }
        if (rep) {
            put(out, cap, &pos, rep, 2);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(out, cap, &pos, esc, 6);
            i++;
            continue;
        }
        size_t n = kura_utf8_seq_len((const char *)p + i, len - i);
        if (n == 0) {
            /* Invalid byte: visible and safe, though not reversible. */
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(out, cap, &pos, esc, 6);
            i++;
            continue;
        }
        /* U+2028/U+2029 end lines in JavaScript, bidirectional controls
         * (U+202E, ...) reorder what a reader sees, invisible ones make two
         * names look alike: keep consumers safe. Above U+FFFF, JSON writes
         * the UTF-16 surrogate pair. */
        long hidden = kura_utf8_hidden((const char *)p + i, len - i);
        if (hidden > 0xFFFF) {
            unsigned v = (unsigned)(hidden - 0x10000);
            snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800u | v >> 10, 0xDC00u | (v & 0x3FFu));
            put(out, cap, &pos, esc, 12);
            i += n;
            continue;
        }
        if (hidden >= 0) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)hidden);
            put(out, cap, &pos, esc, 6);
            i += n;
            continue;
        }
        put(out, cap, &pos, (const char *)p + i, n);
        i += n;
    }
    if (cap > 0)
        out[pos < cap ? pos : cap - 1] = '\0';
    return pos;
}

static void writer_put(struct kura_json_writer *w, const char *s, size_t n)
{
    if (w->overflow || n >= w->cap - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void writer_put_string(struct kura_json_writer *w, const char *s, size_t n)
{
    writer_put(w, "\"", 1);
    if (w->overflow)
        return;
    size_t room = w->cap - w->len;
    size_t need = kura_json_escape(w->buf + w->len, room, s, n);
    if (need >= room) {
        w->overflow = true;
        w->buf[w->len] = '\0';
        return;
    }
    w->len += need;
    writer_put(w, "\"", 1);
}

static void writer_key(struct kura_json_writer *w, const char *key)
{
    if (!w->first)
        writer_put(w, ",", 1);
    w->first = false;
    writer_put_string(w, key, strlen(key));
    writer_put(w, ":", 1);
}

void kura_json_begin(struct kura_json_writer *w, char *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap;
    w->len = 0;
    w->overflow = cap == 0;
    w->first = true;
    if (cap > 0)
        buf[0] = '\0';
    writer_put(w, "{", 1);
}

void kura_json_add_stringn(struct kura_json_writer *w, const char *key, const char *value, size_t len)
{
    writer_key(w, key);
    writer_put_string(w, value, len);
}

void kura_json_add_string(struct kura_json_writer *w, const char *key, const char *value)
{
    kura_json_add_stringn(w, key, value, strlen(value));
}

void kura_json_add_int(struct kura_json_writer *w, const char *key, int64_t value)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, value);
    writer_key(w, key);
    writer_put(w, num, (size_t)n);
}

int kura_json_end(struct kura_json_writer *w, size_t *len, struct kura_err *err)
{
    writer_put(w, "}", 1);
    if (w->overflow) {
        kura_err_set(err, ENOBUFS, "JSON record longer than %zu bytes", w->cap ? w->cap - 1 : 0);
        return -1;
    }
    if (len)
        *len = w->len;
    return 0;
}

/* ---- parser ---- */

struct parser {
    const unsigned char *s;
    size_t len, pos;
    char *store;
    size_t used;
    struct kura_err *err;
};

static int fail(struct parser *p, const char *what)
{
    kura_err_set(p->err, EINVAL, "column %zu: %s", p->pos + 1, what);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
}

static int hex4(struct parser *p, unsigned *out)
{
    if (p->len - p->pos < 4)
        return fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int d = kura_hex_digit((char)p->s[p->pos + i]);
        if (d < 0)
            return fail(p, "bad hex digit in \\u escape");
        v = v << 4 | (unsigned)d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static void store_utf8(struct parser *p, unsigned cp)
{
    char *o = p->store + p->used;
    if (cp < 0x80) {
        o[0] = (char)cp;
        p->used += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        p->used += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        p->used += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        p->used += 4;
    }
}

/* Decodes the string at pos (at its opening quote) into the store; the
 * decoded form is never longer than the encoded one, so the store (len + 1
 * bytes) cannot overflow. */
static int parse_string(struct parser *p, const char **out, size_t *outlen)
{
    if (p->pos >= p->len || p->s[p->pos] != '"')
        return fail(p, "expected a string");
    p->pos++;
    size_t start = p->used;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "raw control character in string");
        if (c != '\\') {
            p->store[p->used++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++;
        if (p->pos >= p->len)
            return fail(p, "unterminated escape");
        c = p->s[p->pos++];
        switch (c) {
        case '"': p->store[p->used++] = '"'; break;
        case '\\': p->store[p->used++] = '\\'; break;
        case '/': p->store[p->used++] = '/'; break;
        case 'b': p->store[p->used++] = '\b'; break;
        case 'f': p->store[p->used++] = '\f'; break;
        case 'n': p->store[p->used++] = '\n'; break;
        case 'r': p->store[p->used++] = '\r'; break;
        case 't': p->store[p->used++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(p, &cp) != 0)
                return -1;
            if (cp == 0)
                return fail(p, "\\u0000 is not allowed");
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return fail(p, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "lone high surrogate");
                p->pos += 2;
                if (hex4(p, &lo) != 0)
                    return -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(p, "high surrogate without low surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            store_utf8(p, cp);
            break;
        }
        default:
            p->pos--;
            return fail(p, "unknown escape");
        }
    }
    p->store[p->used++] = '\0';
    *out = p->store + start;
    *outlen = p->used - start - 1;
    return 0;
}

static int parse_int(struct parser *p, int64_t *out)
{
    bool neg = false;
    if (p->pos < p->len && p->s[p->pos] == '-') {
        neg = true;
        p->pos++;
    }
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return fail(p, "expected a string or an integer");
    if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' && p->s[p->pos + 1] <= '9')
        return fail(p, "leading zero in integer");
    /* Accumulate as a negative number so INT64_MIN fits. */
    int64_t v = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        int d = p->s[p->pos] - '0';
        if (v < (INT64_MIN + d) / 10)
            return fail(p, "integer out of range");
        v = v * 10 - d;
        p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return fail(p, "only integers are allowed");
    if (neg && v == 0)
        return fail(p, "-0 is not allowed");
    if (!neg) {
        if (v == INT64_MIN)
            return fail(p, "integer out of range");
        v = -v;
    }
    *out = v;
    return 0;
}

static int parse_members(struct parser *p, struct kura_json_object *obj)
{
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '{')
        return fail(p, "expected '{'");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (obj->n == KURA_JSON_MAX_FIELDS)
            return fail(p, "too many fields");
        struct kura_json_field *f = &obj->fields[obj->n];
        size_t keylen, keypos = p->pos;
        if (parse_string(p, &f->key, &keylen) != 0)
            return -1;
        if (keylen == 0) {
            p->pos = keypos;
            return fail(p, "empty key");
        }
        for (size_t i = 0; i < obj->n; i++)
            if (strcmp(obj->fields[i].key, f->key) == 0) {
                p->pos = keypos;
                return fail(p, "duplicate key");
            }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail(p, "expected ':'");
        p->pos++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == '"') {
            f->type = KURA_JSON_STRING;
            if (parse_string(p, &f->str, &f->len) != 0)
                return -1;
        } else {
            f->type = KURA_JSON_INT;
            f->str = NULL;
            f->len = 0;
            if (parse_int(p, &f->num) != 0)
                return -1;
        }
        obj->n++;
        skip_ws(p);
        if (p->pos >= p->len)
            return fail(p, "unterminated object");
        if (p->s[p->pos] == '}') {
            p->pos++;
            return 0;
        }
        if (p->s[p->pos] != ',')
            return fail(p, "expected ',' or '}'");
        p->pos++;
    }
}

int kura_json_parse_object(const char *text, size_t len, struct kura_json_object *obj, struct kura_err *err)
{
    memset(obj, 0, sizeof *obj);
    struct parser p = {.s = (const unsigned char *)text, .len = len, .err = err};
    if (!kura_utf8_valid(text, len)) {
        const unsigned char *u = p.s;
        while (p.pos < len) {
            size_t n = kura_utf8_seq_len((const char *)u + p.pos, len - p.pos);
            if (n == 0)
                break;
            p.pos += n;
        }
        return fail(&p, "invalid UTF-8");
    }
    p.store = malloc(len + 1);
    if (!p.store) {
        kura_err_set(err, ENOMEM, "out of memory parsing JSON");
        return -1;
    }
    obj->store = p.store;
    if (parse_members(&p, obj) != 0) {
        kura_json_object_free(obj);
        return -1;
    }
    skip_ws(&p);
    if (p.pos != len) {
        kura_json_object_free(obj);
        return fail(&p, "trailing bytes after the object");
    }
    return 0;
}

void kura_json_object_free(struct kura_json_object *obj)
{
    free(obj->store);
    memset(obj, 0, sizeof *obj);
}

const struct kura_json_field *kura_json_find(const struct kura_json_object *obj, const char *key)
{
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->fields[i].key, key) == 0)
            return &obj->fields[i];
    return NULL;
}
