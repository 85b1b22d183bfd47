/* Tiny JSON for kura's flat records (ledger, audit log): an escaper and an
 * object builder that write into caller buffers, and a strict parser for
 * one flat object whose values are strings or integers. Nothing else
 * (nesting, floats, booleans, null) is accepted: records are flat. */
#ifndef KURA_JSON_H
#define KURA_JSON_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"

#define KURA_JSON_MAX_FIELDS 64

/* Escapes s[0..len) as the inside of a JSON string (no quotes) into out:
 * '"' and '\\' escaped, control characters and DEL as \n, \t, ... or \u00XX,
 * kura_utf8_hidden characters as \uXXXX (a surrogate pair above
 * U+FFFF); other valid UTF-8 is copied as is; each byte of
 * invalid UTF-8 becomes \u00XX (readable, but it decodes to a different
 * character: producers who need exact round trips pass valid UTF-8).
 * Like snprintf: returns the length the full escape needs, writes at most
 * cap - 1 bytes and a NUL when cap > 0. */
size_t kura_json_escape(char *out, size_t cap, const char *s, size_t len);

/* Builds one object into a fixed buffer: begin, add..., end. Adding past
 * the buffer's end sets overflow and end() fails, so a record is never cut. */
struct kura_json_writer {
    char *buf;
    size_t cap, len;
    bool overflow, first;
};
void kura_json_begin(struct kura_json_writer *w, char *buf, size_t cap);
void kura_json_add_string(struct kura_json_writer *w, const char *key, const char *value);
void kura_json_add_stringn(struct kura_json_writer *w, const char *key, const char *value, size_t len);
void kura_json_add_int(struct kura_json_writer *w, const char *key, int64_t value);
/* Closes the object; buf holds it NUL-terminated, *len (if not NULL) its
 * length. -1 (ENOBUFS) if anything did not fit. */
int kura_json_end(struct kura_json_writer *w, size_t *len, struct kura_err *err);

enum kura_json_type { KURA_JSON_STRING, KURA_JSON_INT };

struct kura_json_field {
    const char *key;
    enum kura_json_type type;
    const char *str;   /* KURA_JSON_STRING: decoded, NUL-terminated, no NUL inside */
    size_t len;        /* strlen(str) */
    int64_t num;       /* KURA_JSON_INT */
};

struct kura_json_object {
    size_t n;
    struct kura_json_field fields[KURA_JSON_MAX_FIELDS];
    char *store;       /* decoded keys and strings */
};

/* Parses text[0..len) as exactly one flat object (whitespace around it and
 * between tokens allowed). Refuses: invalid UTF-8, raw control characters
 * in strings, escapes that decode to NUL, lone surrogates, empty or
 * duplicate keys, integers with leading zeros, "-0", fractions, exponents or
 * outside int64, any other value type, more than KURA_JSON_MAX_FIELDS
 * fields, trailing bytes. Errors name the byte offset (1-based column).
 * On success free with kura_json_object_free. */
int kura_json_parse_object(const char *text, size_t len, struct kura_json_object *obj, struct kura_err *err);
void kura_json_object_free(struct kura_json_object *obj);
/* The field named key, or NULL. */
const struct kura_json_field *kura_json_find(const struct kura_json_object *obj, const char *key);

#endif
