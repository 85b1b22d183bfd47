/* Fuzz target: the flat-object JSON parser and the escaper (ledger, audit).
 * Invariants: what parses re-serializes to something that parses to the
 * same fields; any bytes escaped into a string make a parsable object, and
 * valid UTF-8 without NUL comes back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/json.h"
#include "kura/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse_round_trip(const char *text, size_t size)
{
    struct kura_json_object o, again;
    if (kura_json_parse_object(text, size, &o, NULL) != 0)
        return;
    size_t cap = 2 * size + 64 + 6 * size;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    struct kura_json_writer w;
    kura_json_begin(&w, buf, cap);
    for (size_t i = 0; i < o.n; i++) {
        if (o.fields[i].type == KURA_JSON_INT)
            kura_json_add_int(&w, o.fields[i].key, o.fields[i].num);
        else
            kura_json_add_stringn(&w, o.fields[i].key, o.fields[i].str, o.fields[i].len);
    }
    size_t len;
    if (kura_json_end(&w, &len, NULL) != 0 || kura_json_parse_object(buf, len, &again, NULL) != 0)
        abort();
    if (again.n != o.n)
        abort();
    for (size_t i = 0; i < o.n; i++) {
        const struct kura_json_field *a = &o.fields[i], *b = &again.fields[i];
        if (strcmp(a->key, b->key) != 0 || a->type != b->type)
            abort();
        if (a->type == KURA_JSON_INT ? a->num != b->num : (a->len != b->len || memcmp(a->str, b->str, a->len) != 0))
            abort();
    }
    kura_json_object_free(&again);
    kura_json_object_free(&o);
    free(buf);
}

static void check_escape(const char *s, size_t size)
{
    size_t need = kura_json_escape(NULL, 0, s, size);
    char *buf = malloc(need + 16);
    if (!buf)
        abort();
    memcpy(buf, "{\"k\":\"", 6);
    if (kura_json_escape(buf + 6, need + 1, s, size) != need)
        abort();
    memcpy(buf + 6 + need, "\"}", 2);
    struct kura_json_object o;
    if (kura_json_parse_object(buf, need + 8, &o, NULL) != 0) {
        /* Only an escaped NUL (\u0000) is refused on the way back. */
        if (!memchr(s, '\0', size))
            abort();
    } else {
        if (kura_utf8_valid(s, size) && (o.fields[0].len != size || memcmp(o.fields[0].str, s, size) != 0))
            abort();
        kura_json_object_free(&o);
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse_round_trip((const char *)data, size);
    check_escape((const char *)data, size);
    return 0;
}
