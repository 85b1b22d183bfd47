/* JSON escaper, builder and flat-object parser (ledger R-LOG-3, audit R-LOG-1/2). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "kura/json.h"
#include "kura/secmem.h"
#include "unit.h"

static const char *esc(const char *s, size_t len)
{
    static char buf[512];
    size_t need = kura_json_escape(buf, sizeof buf, s, len);
    return need < sizeof buf ? buf : "(overflow)";
}

static void test_escape_hostile_strings(void)
{
    EXPECT(strcmp(esc("a\"b\\c", 5), "a\\\"b\\\\c") == 0);
    EXPECT(strcmp(esc("l1\nl2\r\t", 7), "l1\\nl2\\r\\t") == 0);
    EXPECT(strcmp(esc("\x1b[31m", 5), "\\u001b[31m") == 0);          /* terminal escape */
    EXPECT(strcmp(esc("\x7f", 1), "\\u007f") == 0);
    EXPECT(strcmp(esc("a\0b", 3), "a\\u0000b") == 0);               /* embedded NUL */
    EXPECT(strcmp(esc("\xff\xfe", 2), "\\u00ff\\u00fe") == 0);      /* invalid UTF-8 */
    EXPECT(strcmp(esc("\xe7\xa0\x94", 3), "\xe7\xa0\x94") == 0);    /* valid passes */
    EXPECT(strcmp(esc("\xe2\x80\xa8\xe2\x80\xa9", 6), "\\u2028\\u2029") == 0);
    /* bidirectional controls (they reorder what a reader sees) and C1 */
    EXPECT(strcmp(esc("a\xe2\x80\xae" "b", 5), "a\\u202eb") == 0);
    EXPECT(strcmp(esc("\xe2\x80\xaa\xe2\x81\xa9\xe2\x80\x8e\xd8\x9c", 11), "\\u202a\\u2069\\u200e\\u061c") == 0);
    EXPECT(strcmp(esc("\xc2\x9b", 2), "\\u009b") == 0);
    EXPECT(strcmp(esc("\xe2\x80\x94\xe2\x81\xb0", 6), "\xe2\x80\x94\xe2\x81\xb0") == 0); /* U+2014, U+2070 pass */
    /* invisible characters, and one above U+FFFF as its surrogate pair */
    EXPECT(strcmp(esc("c\xe2\x80\x8b" "at\xef\xbb\xbf", 9), "c\\u200bat\\ufeff") == 0);
    EXPECT(strcmp(esc("a\xf3\xa0\x81\x81", 5), "a\\udb40\\udc41") == 0);
    EXPECT(strcmp(esc("\xf3\xa0\xbf\xbf", 4), "\\udb43\\udfff") == 0); /* U+E0FFF: every bit of the low half */
    EXPECT(strcmp(esc("\xf0\x9f\x98\x80", 4), "\xf0\x9f\x98\x80") == 0);   /* an emoji passes */
    EXPECT(strcmp(esc("\xe7\xa0", 2), "\\u00e7\\u00a0") == 0);      /* truncated sequence */
    EXPECT(strcmp(esc("</script>", 9), "</script>") == 0);
}

static void test_escape_reports_needed_length(void)
{
    char small[4];
    size_t need = kura_json_escape(small, sizeof small, "\n\n\n", 3);
    EXPECT(need == 6);
    EXPECT(strlen(small) == 3); /* cut, NUL-terminated */
    EXPECT(kura_json_escape(NULL, 0, "abc", 3) == 3);
}

static void test_writer_builds_object(void)
{
    char buf[256];
    struct kura_json_writer w;
    size_t len = 0;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_int(&w, "seq", 1);
    kura_json_add_string(&w, "user", "al\"ice");
    kura_json_add_int(&w, "neg", INT64_MIN);
    ASSERT(kura_json_end(&w, &len, NULL) == 0);
    EXPECT(strcmp(buf, "{\"seq\":1,\"user\":\"al\\\"ice\",\"neg\":-9223372036854775808}") == 0);
    EXPECT(len == strlen(buf));
}

static void test_writer_overflow_fails_whole_record(void)
{
    char buf[16];
    struct kura_json_writer w;
    struct kura_err err = {0};
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "k", "0123456789abcdef");
    EXPECT(kura_json_end(&w, NULL, &err) == -1);
    EXPECT(err.code == ENOBUFS);
    /* Exactly fitting: {"k":"v"} is 9 bytes + NUL. */
    char exact[10];
    kura_json_begin(&w, exact, sizeof exact);
    kura_json_add_string(&w, "k", "v");
    EXPECT(kura_json_end(&w, NULL, NULL) == 0);
    EXPECT(strcmp(exact, "{\"k\":\"v\"}") == 0);
    char one_short[9];
    kura_json_begin(&w, one_short, sizeof one_short);
    kura_json_add_string(&w, "k", "v");
    EXPECT(kura_json_end(&w, NULL, NULL) == -1);
}

static void test_parse_round_trip_of_hostile_values(void)
{
    const char *values[] = {"", "plain", "q\"uote", "back\\slash", "nl\nand\ttab", "\x1b[2J", "\x7f",
                            "\xe7\xa0\x94\xe7\xa9\xb6", "\xf0\x9f\xa7\xac", "\xe2\x80\xa8", "\xe2\x80\xae", "\xe2\x80\x8b", "\xf3\xa0\x81\x81", "/slash/"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[256];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "v", values[i]);
        kura_json_add_int(&w, "n", (int64_t)i - 5);
        ASSERT(kura_json_end(&w, NULL, NULL) == 0);
        struct kura_json_object o;
        struct kura_err err = {0};
        ASSERT(kura_json_parse_object(buf, strlen(buf), &o, &err) == 0);
        const struct kura_json_field *v = kura_json_find(&o, "v"), *n = kura_json_find(&o, "n");
        EXPECT(v && v->type == KURA_JSON_STRING && strcmp(v->str, values[i]) == 0);
        EXPECT(n && n->type == KURA_JSON_INT && n->num == (int64_t)i - 5);
        EXPECT(kura_json_find(&o, "missing") == NULL);
        kura_json_object_free(&o);
    }
}

static void test_parse_escapes_and_whitespace(void)
{
    const char *t = " {\"a\" : \"\\u00e9\\ud83e\\uddec\\/\\b\\f\" ,\n \"b\":0} \n";
    struct kura_json_object o;
    struct kura_err err = {0};
    ASSERT(kura_json_parse_object(t, strlen(t), &o, &err) == 0);
    EXPECT(o.n == 2);
    EXPECT(strcmp(o.fields[0].str, "\xc3\xa9\xf0\x9f\xa7\xac/\b\f") == 0);
    EXPECT(o.fields[1].num == 0);
    kura_json_object_free(&o);
    ASSERT(kura_json_parse_object("{}", 2, &o, &err) == 0);
    EXPECT(o.n == 0);
    kura_json_object_free(&o);
}

static void test_parse_integer_limits(void)
{
    struct kura_json_object o;
    const char *max = "{\"n\":9223372036854775807,\"m\":-9223372036854775808}";
    ASSERT(kura_json_parse_object(max, strlen(max), &o, NULL) == 0);
    EXPECT(o.fields[0].num == INT64_MAX && o.fields[1].num == INT64_MIN);
    kura_json_object_free(&o);
    const char *bad[] = {"{\"n\":9223372036854775808}", "{\"n\":-9223372036854775809}",
                         "{\"n\":99999999999999999999999}", "{\"n\":01}", "{\"n\":-0}", "{\"n\":1.5}",
                         "{\"n\":1e3}", "{\"n\":-}", "{\"n\":+1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_err err = {0};
        EXPECT(kura_json_parse_object(bad[i], strlen(bad[i]), &o, &err) == -1);
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, "column ");
    }
}

static void test_parse_refuses_malformed(void)
{
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"", "expected '{'"},
        {"[]", "expected '{'"},
        {"{", "expected a string"},
        {"{\"a\":1", "unterminated object"},
        {"{\"a\":1,}", "expected a string"},
        {"{\"a\" 1}", "expected ':'"},
        {"{\"a\":1 \"b\":2}", "expected ',' or '}'"},
        {"{\"a\":1}x", "trailing bytes"},
        {"{\"a\":1}{}", "trailing bytes"},
        {"{\"a\":true}", "expected a string or an integer"},
        {"{\"a\":null}", "expected a string or an integer"},
        {"{\"a\":{\"b\":1}}", "expected a string or an integer"},
        {"{\"a\":[1]}", "expected a string or an integer"},
        {"{\"a\":1,\"a\":2}", "duplicate key"},
        {"{\"\":1}", "empty key"},
        {"{\"a\":\"x\ny\"}", "raw control character"},
        {"{\"a\":\"\\u0000\"}", "\\u0000"},
        {"{\"a\":\"\\ud800\"}", "lone high surrogate"},
        {"{\"a\":\"\\ud800\\u0041\"}", "without low surrogate"},
        {"{\"a\":\"\\udc00\"}", "lone low surrogate"},
        {"{\"a\":\"\\u12g4\"}", "bad hex digit"},
        {"{\"a\":\"\\u12\"}", "bad hex digit"},
        {"{\"a\":\"\\u12", "truncated"},
        {"{\"a\":\"\\x41\"}", "unknown escape"},
        {"{\"a\":\"abc", "unterminated string"},
        {"{\"a\":\"abc\\", "unterminated escape"},
        {"{\"a\":\"\xff\"}", "invalid UTF-8"},
        {"{\"a\":\"\xc0\xaf\"}", "invalid UTF-8"},
        {"{'a':1}", "expected a string"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_json_object o;
        struct kura_err err = {0};
        int rc = kura_json_parse_object(bad[i].text, strlen(bad[i].text), &o, &err);
        EXPECT(rc == -1);
        if (rc == 0) {
            printf("#   accepted: %s\n", bad[i].text);
            kura_json_object_free(&o);
            continue;
        }
        EXPECT_STR_CONTAINS(err.msg, bad[i].why);
        EXPECT(o.store == NULL && o.n == 0);
    }
}

static void test_parse_refuses_raw_nul(void)
{
    struct kura_json_object o;
    struct kura_err err = {0};
    EXPECT(kura_json_parse_object("{\"a\":\"x\0y\"}", 11, &o, &err) == -1);
    EXPECT(kura_json_parse_object("{\"a\":1}\0", 8, &o, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "column 8");
}

static void test_parse_field_limit(void)
{
    char buf[4096];
    size_t len = 0;
    buf[len++] = '{';
    for (int i = 0; i <= KURA_JSON_MAX_FIELDS; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf[len++] = '}';
    struct kura_json_object o;
    struct kura_err err = {0};
    EXPECT(kura_json_parse_object(buf, len, &o, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too many fields");
}

int main(void)
{
    kura_secmem_init();
    RUN(test_escape_hostile_strings);
    RUN(test_escape_reports_needed_length);
    RUN(test_writer_builds_object);
    RUN(test_writer_overflow_fails_whole_record);
    RUN(test_parse_round_trip_of_hostile_values);
    RUN(test_parse_escapes_and_whitespace);
    RUN(test_parse_integer_limits);
    RUN(test_parse_refuses_malformed);
    RUN(test_parse_refuses_raw_nul);
    RUN(test_parse_field_limit);
    return unit_done();
}
