/* text.c: the checks of names, text and paths every state file and
 * command shares (R-ACC ids and user names; free text shown to others;
 * dataset-relative paths that must never leave the dataset), the decimal
 * parser of state files, /proc and options, and the comma joiner of audit
 * records' samples, the guard's rules and notices' users. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/model.h"
#include "kura/text.h"
#include "unit.h"

static void test_utf8_valid(void)
{
    EXPECT(kura_utf8_valid("", 0));
    EXPECT(kura_utf8_valid("plain", 5));
    EXPECT(kura_utf8_valid("\xe7\xa0\x94\xe7\xa9\xb6", 6));         /* 研究 */
    EXPECT(kura_utf8_valid("\xf0\x9f\xa7\xac", 4));                 /* U+1F9EC */
    EXPECT(!kura_utf8_valid("\xc0\xaf", 2));                        /* overlong '/' */
    EXPECT(!kura_utf8_valid("\xe0\x80\xaf", 3));                    /* overlong */
    EXPECT(!kura_utf8_valid("\xed\xa0\x80", 3));                    /* surrogate D800 */
    EXPECT(!kura_utf8_valid("\xf4\x90\x80\x80", 4));                /* above U+10FFFF */
    EXPECT(!kura_utf8_valid("\xe7\xa0", 2));                        /* truncated */
    EXPECT(!kura_utf8_valid("\x80", 1));                            /* lone continuation */
    EXPECT(!kura_utf8_valid("\xff", 1));
}

static void test_utf8_seq_len(void)
{
    EXPECT(kura_utf8_seq_len("a", 1) == 1);
    EXPECT(kura_utf8_seq_len("\x7f", 1) == 1);
    EXPECT(kura_utf8_seq_len("\xc2\x80", 2) == 2);                  /* U+0080, the first of two bytes */
    EXPECT(kura_utf8_seq_len("\xdf\xbf", 2) == 2);                  /* U+07FF */
    EXPECT(kura_utf8_seq_len("\xe0\xa0\x80", 3) == 3);              /* U+0800 */
    EXPECT(kura_utf8_seq_len("\xef\xbf\xbf", 3) == 3);              /* U+FFFF */
    EXPECT(kura_utf8_seq_len("\xf0\x90\x80\x80", 4) == 4);          /* U+10000 */
    EXPECT(kura_utf8_seq_len("\xf4\x8f\xbf\xbf", 4) == 4);          /* U+10FFFF */
    /* Overlong encodings of every length, surrogates, beyond U+10FFFF. */
    EXPECT(kura_utf8_seq_len("\xc1\xbf", 2) == 0);
    EXPECT(kura_utf8_seq_len("\xe0\x9f\xbf", 3) == 0);
    EXPECT(kura_utf8_seq_len("\xf0\x8f\xbf\xbf", 4) == 0);
    EXPECT(kura_utf8_seq_len("\xed\xbf\xbf", 3) == 0);              /* DFFF */
    EXPECT(kura_utf8_seq_len("\xf5\x80\x80\x80", 4) == 0);
    /* Cut short: the length given ends inside the sequence. */
    EXPECT(kura_utf8_seq_len("\xf0\x90\x80\x80", 3) == 0);
    EXPECT(kura_utf8_seq_len("\xc2\x80", 1) == 0);
    /* A continuation byte that is not one. */
    EXPECT(kura_utf8_seq_len("\xe7\x41\x94", 3) == 0);
}

static void test_utf8_hidden(void)
{
    EXPECT(kura_utf8_hidden("\xc2\x80", 2) == 0x80);        /* C1, first */
    EXPECT(kura_utf8_hidden("\xc2\x9f", 2) == 0x9F);        /* C1, last */
    EXPECT(kura_utf8_hidden("\xc2\xa0", 2) == -1);          /* no-break space: shows */
    EXPECT(kura_utf8_hidden("\xe2\x80\xa8", 3) == 0x2028);
    EXPECT(kura_utf8_hidden("\xe2\x80\xae", 3) == 0x202E);
    EXPECT(kura_utf8_hidden("\xe2\x80\xaf", 3) == -1);      /* U+202F narrow space */
    EXPECT(kura_utf8_hidden("\xe2\x81\xa5", 3) == 0x2065);  /* default-ignorable, unassigned */
    EXPECT(kura_utf8_hidden("\xe2\x81\xa9", 3) == 0x2069);
    EXPECT(kura_utf8_hidden("\xe2\x81\xaa", 3) == 0x206A);  /* deprecated format control */
    EXPECT(kura_utf8_hidden("\xe2\x81\xb0", 3) == -1);      /* U+2070 superscript zero: shows */
    /* Invisible: two names that differ by one of these look alike. */
    EXPECT(kura_utf8_hidden("\xe2\x80\x8b", 3) == 0x200B);  /* zero-width space */
    EXPECT(kura_utf8_hidden("\xe2\x80\x8d", 3) == 0x200D);  /* zero-width joiner */
    EXPECT(kura_utf8_hidden("\xe2\x81\xa0", 3) == 0x2060);  /* word joiner */
    EXPECT(kura_utf8_hidden("\xef\xbb\xbf", 3) == 0xFEFF);  /* byte order mark */
    EXPECT(kura_utf8_hidden("\xc2\xad", 2) == 0xAD);         /* soft hyphen */
    EXPECT(kura_utf8_hidden("\xe3\x85\xa4", 3) == 0x3164);  /* Hangul filler */
    EXPECT(kura_utf8_hidden("\xf3\xa0\x81\x81", 4) == 0xE0041); /* tag letter A */
    EXPECT(kura_utf8_hidden("\xf3\xa0\x80\x80", 4) == 0xE0000);
    EXPECT(kura_utf8_hidden("\xf3\xa0\xbf\xbf", 4) == 0xE0FFF);
    /* Variation selectors pick a glyph (a Japanese name's kanji) and stay. */
    EXPECT(kura_utf8_hidden("\xef\xb8\x8f", 3) == -1);      /* U+FE0F */
    EXPECT(kura_utf8_hidden("\xf3\xa0\x84\x80", 4) == -1); /* U+E0100, an ideographic variant */
    EXPECT(kura_utf8_hidden("\xf0\x9f\x98\x80", 4) == -1); /* U+1F600, shows */
    EXPECT(kura_utf8_hidden("\xe3\x80\x80", 3) == -1);      /* U+3000 ideographic space shows */
    /* Only the first character counts; cut or invalid ones are not hidden. */
    EXPECT(kura_utf8_hidden("a\xe2\x80\xae", 4) == -1);
    EXPECT(kura_utf8_hidden("\xe2\x80\xae", 2) == -1);
    EXPECT(kura_utf8_hidden("", 0) == -1);
    EXPECT(kura_utf8_hidden("\n", 1) == -1);                 /* C0: the callers' own check */
}

/* Both ends of every range of hidden characters, and whether kura_text_check
 * refuses it (a control) or lets stored text keep it (invisible, escaped
 * when shown); then characters just outside, which show. */
static void test_hidden_range_ends(void)
{
    static const struct {
        const char *utf8;
        long cp;
        bool control;
    } ends[] = {
        {"\xc2\x80", 0x80, true},           {"\xc2\x9f", 0x9F, true},
        {"\xc2\xad", 0xAD, false},          {"\xcd\x8f", 0x34F, false},
        {"\xd8\x9c", 0x61C, true},          {"\xe1\x85\x9f", 0x115F, false},
        {"\xe1\x85\xa0", 0x1160, false},    {"\xe1\x9e\xb4", 0x17B4, false},
        {"\xe1\x9e\xb5", 0x17B5, false},    {"\xe1\xa0\x8e", 0x180E, false},
        {"\xe2\x80\x8b", 0x200B, false},    {"\xe2\x80\x8d", 0x200D, false},
        {"\xe2\x80\x8e", 0x200E, true},     {"\xe2\x80\x8f", 0x200F, true},
        {"\xe2\x80\xa8", 0x2028, true},     {"\xe2\x80\xae", 0x202E, true},
        {"\xe2\x81\xa0", 0x2060, false},    {"\xe2\x81\xa5", 0x2065, false},
        {"\xe2\x81\xa6", 0x2066, true},     {"\xe2\x81\xa9", 0x2069, true},
        {"\xe2\x81\xaa", 0x206A, false},    {"\xe2\x81\xaf", 0x206F, false},
        {"\xe3\x85\xa4", 0x3164, false},    {"\xef\xbb\xbf", 0xFEFF, false},
        {"\xef\xbe\xa0", 0xFFA0, false},    {"\xef\xbf\xb0", 0xFFF0, false},
        {"\xef\xbf\xbb", 0xFFFB, false},    {"\xf0\x9b\xb2\xa0", 0x1BCA0, false},
        {"\xf0\x9b\xb2\xa3", 0x1BCA3, false}, {"\xf0\x9d\x85\xb3", 0x1D173, false},
        {"\xf0\x9d\x85\xba", 0x1D17A, false}, {"\xf3\xa0\x80\x80", 0xE0000, false},
        {"\xf3\xa0\x83\xbf", 0xE00FF, false}, {"\xf3\xa0\x87\xb0", 0xE01F0, false},
        {"\xf3\xa0\xbf\xbf", 0xE0FFF, false},
    };
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        char text[16];
        snprintf(text, sizeof text, "x%sy", ends[i].utf8);
        if (kura_utf8_hidden(ends[i].utf8, strlen(ends[i].utf8)) != ends[i].cp ||
            (kura_text_check(text, "title", NULL) == -1) != ends[i].control) {
            printf("#   U+%04lX\n", ends[i].cp);
            EXPECT(0);
        }
    }
    /* Next to a range, shown: not, hair space, hyphenation point, medium
     * mathematical space, a Hangul letter, a halfwidth katakana mark, the
     * object replacement character, a musical flag. */
    static const char *const shown[] = {"\xc2\xac",     "\xe2\x80\x8a", "\xe2\x80\xa7",     "\xe2\x81\x9f",
                                        "\xe3\x85\xa3", "\xef\xbe\x9f", "\xef\xbf\xbc",     "\xf0\x9d\x85\xb2"};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        EXPECT(kura_utf8_hidden(shown[i], strlen(shown[i])) == -1);
}

/* What kura_text_put_escaped writes for s[0..len). */
static char *escaped(const char *s, size_t len, size_t *written)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return NULL;
    *written = kura_text_put_escaped(f, s, len);
    fclose(f);
    return buf;
}

static void test_put_escaped(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"/usr/bin/cat", 12, "/usr/bin/cat"},
        {"\033[2J\rcat", 8, "\\x1b[2J\\x0dcat"},                 /* C0: clear screen, carriage return */
        {"a\x7f\nb", 4, "a\\x7f\\x0ab"},                          /* DEL, newline */
        {"x\xe2\x80\xaey", 5, "x\\u202ey"},                        /* bidirectional override */
        {"c\xe2\x80\x8b" "at", 6, "c\\u200bat"},                      /* zero-width space */
        {"a\xf3\xa0\x81\x81", 5, "a\\U000e0041"},                 /* tag, above U+FFFF */
        {"\xc2\x9b" "1m", 4, "\\u009b1m"},                           /* C1 CSI, as UTF-8 */
        {"\x9b" "1m", 3, "\\x9b1m"},                                 /* a lone byte that is not UTF-8 */
        {"\xe2\x80", 2, "\\xe2\\x80"},                             /* a cut sequence */
        {"データ", 9, "データ"},                                       /* UTF-8 text stays */
        {"a\0b", 3, "a\\x00b"},                                      /* NUL inside the length */
        {"", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t written = 0;
        char *out = escaped(cases[i].in, cases[i].len, &written);
        ASSERT(out != NULL);
        EXPECT(strcmp(out, cases[i].out) == 0);
        EXPECT(written == strlen(cases[i].out));
        free(out);
    }
}

static void test_hex_digit(void)
{
    EXPECT(kura_hex_digit('0') == 0 && kura_hex_digit('9') == 9);
    EXPECT(kura_hex_digit('a') == 10 && kura_hex_digit('f') == 15);
    EXPECT(kura_hex_digit('A') == 10 && kura_hex_digit('F') == 15);
    EXPECT(kura_hex_digit('g') == -1 && kura_hex_digit('G') == -1);
    EXPECT(kura_hex_digit('/') == -1 && kura_hex_digit(':') == -1 && kura_hex_digit('@') == -1);
    EXPECT(kura_hex_digit('`') == -1 && kura_hex_digit('\0') == -1 && kura_hex_digit((char)0xe0) == -1);
}

static void test_hex_lower(void)
{
    EXPECT(kura_hex_lower("", 0));
    EXPECT(kura_hex_lower("0123456789abcdef", 16));
    EXPECT(!kura_hex_lower("0123456789ABCDEF", 16));
    EXPECT(!kura_hex_lower("abcg", 4));
    EXPECT(!kura_hex_lower("ab cd", 5));
    EXPECT(!kura_hex_lower("ab\0cd", 5));
    /* Only len bytes are read: what follows does not matter. */
    EXPECT(kura_hex_lower("abZ", 2));
}

static void test_name_checks(void)
{
    EXPECT(kura_id_check("JGAD000001", "dataset id", NULL) == 0);
    EXPECT(kura_id_check("a", "id", NULL) == 0);
    EXPECT(kura_id_check("0.a_b-c", "id", NULL) == 0);
    EXPECT(kura_id_check(".hidden", "id", NULL) == -1);
    EXPECT(kura_id_check("-x", "id", NULL) == -1);
    EXPECT(kura_id_check("", "id", NULL) == -1);
    EXPECT(kura_id_check("a/b", "id", NULL) == -1);
    EXPECT(kura_id_check("a b", "id", NULL) == -1);
    EXPECT(kura_id_check("\xe7\xa0\x94", "id", NULL) == -1);
    char id[KURA_ID_MAX + 2];
    memset(id, 'a', KURA_ID_MAX);
    id[KURA_ID_MAX] = '\0';
    EXPECT(kura_id_check(id, "id", NULL) == 0);
    id[KURA_ID_MAX] = 'a', id[KURA_ID_MAX + 1] = '\0';
    EXPECT(kura_id_check(id, "id", NULL) == -1);
    EXPECT(kura_user_name_check("alice", NULL) == 0);
    EXPECT(kura_user_name_check("a.b_c-d", NULL) == 0);
    EXPECT(kura_user_name_check("_svc", NULL) == 0);
    EXPECT(kura_user_name_check("-x", NULL) == -1);
    EXPECT(kura_user_name_check("a:b", NULL) == -1);
    EXPECT(kura_user_name_check("a@b", NULL) == -1);
    EXPECT(kura_user_name_check("123456789012345678901234567890123", NULL) == -1);
    EXPECT(kura_user_name_check("12345678901234567890123456789012", NULL) == 0);
    EXPECT(kura_text_check("", "t", NULL) == 0);
    EXPECT(kura_text_check("\xe7\xa0\x94 ok", "t", NULL) == 0);
    EXPECT(kura_text_check("tab\there", "t", NULL) == -1);
    EXPECT(kura_text_check("\x7f", "t", NULL) == -1);
    EXPECT(kura_text_check("\xc0\xaf", "t", NULL) == -1);
    /* Bidirectional and C1 controls would make a title or approval show
     * other text than it holds. */
    EXPECT(kura_text_check("approved \xe2\x80\xaeJGA\xe2\x80\xac", "approval", NULL) == -1);
    EXPECT(kura_text_check("x\xe2\x81\xa6y", "title", NULL) == -1);      /* U+2066 */
    EXPECT(kura_text_check("x\xe2\x80\x8fy", "title", NULL) == -1);      /* U+200F */
    EXPECT(kura_text_check("x\xd8\x9cy", "title", NULL) == -1);           /* U+061C */
    EXPECT(kura_text_check("x\xc2\x85y", "title", NULL) == -1);           /* U+0085 */
    EXPECT(kura_text_check("x\xe2\x80\x94y \xc2\xa9", "title", NULL) == 0); /* a dash, a sign */
}

static void test_text_check_limits(void)
{
    char text[KURA_TEXT_MAX + 1];
    memset(text, 'x', KURA_TEXT_MAX - 1);
    text[KURA_TEXT_MAX - 1] = '\0';
    EXPECT(kura_text_check(text, "title", NULL) == 0);
    text[KURA_TEXT_MAX - 1] = 'x', text[KURA_TEXT_MAX] = '\0';
    struct kura_err err = {0};
    EXPECT(kura_text_check(text, "title", &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "title is longer than 255 bytes");
    EXPECT(kura_text_check("a\x01", "reason", &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "reason holds a control character");
    EXPECT(kura_text_check("\xe7\xa0", "reason", &err) == -1);     /* cut after two bytes */
    EXPECT_STR_CONTAINS(err.msg, "not valid UTF-8");
    EXPECT(kura_text_check("\xc2\x9b[2J", "reason", &err) == -1);  /* CSI, the C1 form */
    EXPECT_STR_CONTAINS(err.msg, "U+009B");
    EXPECT(kura_text_check("\xe2\x80\xae" "1-AGJ", "reference", &err) == -1); /* right-to-left override */
    EXPECT_STR_CONTAINS(err.msg, "reference holds a control character (U+202E)");
    /* An invisible character stands (stored text that loaded before still
     * loads); every printer escapes it. */
    EXPECT(kura_text_check("JGA\xe2\x80\x8b-1", "reference", NULL) == 0);
    EXPECT(kura_text_check("\xe8\x91\x9b\xf3\xa0\x84\x80", "title", NULL) == 0); /* a kanji and its variant */
    EXPECT(kura_id_check("", "sample id", &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "sample id must be 1 to 64 characters");
    EXPECT(kura_user_name_check("", &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "user name must be 1 to 32 characters");
    EXPECT(kura_user_name_check("a/b", NULL) == -1);
    EXPECT(kura_user_name_check("..", NULL) == 0); /* as POSIX allows; never a path */
}

static int path_ok(const char *p)
{
    return kura_path_check(p, strlen(p), NULL) == 0;
}

static void test_path_check_accepts(void)
{
    EXPECT(path_ok("a"));
    EXPECT(path_ok("a/b/c.bam"));
    EXPECT(path_ok(".hidden/x"));
    EXPECT(path_ok("a/..b/c.."));
    EXPECT(path_ok("sample 1/reads.cram"));
    EXPECT(path_ok("\xe7\xa0\x94\xe7\xa9\xb6/x.vcf.gz"));
    char deep[KURA_PATH_DEPTH_MAX * 2];
    for (int i = 0; i < KURA_PATH_DEPTH_MAX; i++)
        deep[2 * i] = 'd', deep[2 * i + 1] = '/';
    deep[KURA_PATH_DEPTH_MAX * 2 - 1] = '\0';
    EXPECT(path_ok(deep));
    char longname[KURA_NAME_MAX + 1];
    memset(longname, 'n', KURA_NAME_MAX);
    longname[KURA_NAME_MAX] = '\0';
    EXPECT(path_ok(longname));
}

static void test_path_check_refuses(void)
{
    static const struct {
        const char *p;
        const char *why;
    } bad[] = {
        {"", "empty path"},
        {"/etc/passwd", "relative"},
        {"..", "'..'"},
        {"../x", "'..'"},
        {"a/../../x", "'..'"},
        {"a/..", "'..'"},
        {"./a", "'.'"},
        {"a/./b", "'.'"},
        {"a//b", "empty component"},
        {"a/", "trailing"},
        {"a\nb", "control"},
        {"a\tb", "control"},
        {"a\x1b[2Jb", "control"},
        {"a\x7f", "control"},
        {"bad\xff", "UTF-8"},
        {"bad\xc0\xaf", "UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_err err = {0};
        EXPECT(kura_path_check(bad[i].p, strlen(bad[i].p), &err) == -1);
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, bad[i].why);
    }
    struct kura_err err = {0};
    EXPECT(kura_path_check("a\0b", 3, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "NUL");
    char deep[KURA_PATH_DEPTH_MAX * 2 + 2];
    for (int i = 0; i <= KURA_PATH_DEPTH_MAX; i++)
        deep[2 * i] = 'd', deep[2 * i + 1] = '/';
    deep[KURA_PATH_DEPTH_MAX * 2 + 1] = '\0';
    EXPECT(kura_path_check(deep, strlen(deep), &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "deeper");
    char longname[KURA_NAME_MAX + 2];
    memset(longname, 'n', KURA_NAME_MAX + 1);
    longname[KURA_NAME_MAX + 1] = '\0';
    EXPECT(kura_path_check(longname, strlen(longname), &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "component longer");
    char huge[KURA_PATH_MAX + 2];
    for (size_t i = 0; i < sizeof huge - 1; i++)
        huge[i] = i % 100 == 99 ? '/' : 'x';
    huge[sizeof huge - 1] = '\0';
    EXPECT(kura_path_check(huge, strlen(huge), &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "longer than");
}

static void test_path_check_limits(void)
{
    /* Exactly KURA_PATH_MAX bytes pass; the length is len, not strlen. */
    char max[KURA_PATH_MAX + 1];
    for (size_t i = 0; i < KURA_PATH_MAX; i++)
        max[i] = i % 100 == 99 ? '/' : 'x';
    max[KURA_PATH_MAX] = '\0';
    EXPECT(kura_path_check(max, KURA_PATH_MAX, NULL) == 0);
    EXPECT(kura_path_check("ab/..", 2, NULL) == 0);
    EXPECT(kura_path_check("ab/..", 5, NULL) == -1);
    EXPECT(kura_path_check("//", 2, NULL) == -1);
    EXPECT(kura_path_check("/", 1, NULL) == -1);
    EXPECT(kura_path_check("...", 3, NULL) == 0);
}

/* The value, or -1 when refused (then *out must be untouched). */
static long long decimal(const char *s, uint64_t max)
{
    uint64_t v = 12345;
    if (kura_parse_decimal(s, strlen(s), max, &v) != 0)
        return v == 12345 ? -1 : -2;
    return (long long)v;
}

static void test_parse_decimal(void)
{
    EXPECT(decimal("0", 10) == 0);
    EXPECT(decimal("10", 10) == 10);
    EXPECT(decimal("11", 10) == -1);
    EXPECT(decimal("007", 10) == 7);
    EXPECT(decimal("", 10) == -1);
    EXPECT(decimal("-1", 10) == -1);
    EXPECT(decimal("+1", 10) == -1);
    EXPECT(decimal(" 1", 10) == -1);
    EXPECT(decimal("1 ", 10) == -1);
    EXPECT(decimal("1x", 10) == -1);
    EXPECT(decimal("4294967295", UINT32_MAX) == 4294967295LL);
    EXPECT(decimal("4294967296", UINT32_MAX) == -1);
    uint64_t v = 0;
    EXPECT(kura_parse_decimal("18446744073709551615", 20, UINT64_MAX, &v) == 0 && v == UINT64_MAX);
    EXPECT(kura_parse_decimal("18446744073709551616", 20, UINT64_MAX, &v) == -1 && v == UINT64_MAX);
    EXPECT(kura_parse_decimal("99999999999999999999", 20, UINT64_MAX, &v) == -1);
    /* Only len bytes are read. */
    EXPECT(kura_parse_decimal("42abc", 2, 100, &v) == 0 && v == 42);
    EXPECT(kura_parse_decimal("42", 0, 100, &v) == -1);
}

static void expect_join(const char *const *items, size_t n, const char *want)
{
    char *s = kura_comma_join(items, n);
    EXPECT(s && strcmp(s, want) == 0);
    if (s && strcmp(s, want) != 0)
        printf("#   joined \"%s\", expected \"%s\"\n", s, want);
    free(s);
}

static void test_comma_join(void)
{
    static const char *const samples[] = {"NA12878", "NA12891", "", "HG002"};
    expect_join(samples, 0, "");
    expect_join(samples, 1, "NA12878");
    expect_join(samples, 2, "NA12878,NA12891");
    expect_join(samples, 4, "NA12878,NA12891,,HG002");
    static const char *const one_empty[] = {""};
    expect_join(one_empty, 1, "");
}

/* R-ACC-9: a grant's contact address is plausible; nothing else is stored. */
static void test_email_check(void)
{
    static const char *const good[] = {"a@b.jp", "suzuki.taro@med.kyoto-u.ac.jp", "x+tag@EXAMPLE.org",
                                       "o'neil!#$%&*/=?^_`{|}~-@a-b.c1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct kura_err e = {0};
        EXPECT(kura_email_check(good[i], &e) == 0);
    }
    static const struct {
        const char *addr, *why;
    } bad[] = {
        {"", "one @"},
        {"suzuki", "one @"},
        {"a@b@c.jp", "one @"},
        {"@b.jp", "1 to 64 bytes before"},
        {"a@", "needs a domain of labels"},
        {"a@localhost", "needs a domain with a dot"},
        {"a@b..jp", "two in a row"},
        {".a@b.jp", "dot at the start"},
        {"a.@b.jp", "dot at the start"},
        {"a@b.jp.", "needs a domain of labels"},
        {"a@-b.jp", "needs a domain of labels"},
        {"a@b-.jp", "needs a domain of labels"},
        {"a b@c.jp", "not allowed before the @"},
        {"a@c.jp ", "not allowed in a domain"},
        {"a@c_d.jp", "not allowed in a domain"},
        {"鈴木@c.jp", "not allowed before the @"},
        {"a\n@c.jp", "not allowed before the @"},
        {"a@xn--c.jp\n", "not allowed in a domain"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct kura_err e = {0};
        EXPECT(kura_email_check(bad[i].addr, &e) == -1);
        EXPECT_STR_CONTAINS(e.msg, bad[i].why);
    }
    char longlocal[80], longaddr[300];
    memset(longlocal, 'a', 65);
    snprintf(longlocal + 65, sizeof longlocal - 65, "@b.jp");
    struct kura_err e = {0};
    EXPECT(kura_email_check(longlocal, &e) == -1);
    memset(longaddr, 'a', 60);
    longaddr[60] = '@';
    for (size_t at = 61; at < 270; at += 4)
        memcpy(longaddr + at, "bbb.", 4);
    snprintf(longaddr + 269, sizeof longaddr - 269, "jp");
    EXPECT(kura_email_check(longaddr, &e) == -1);
    EXPECT_STR_CONTAINS(e.msg, "longer than 254");
}

int main(void)
{
    RUN(test_utf8_valid);
    RUN(test_utf8_seq_len);
    RUN(test_utf8_hidden);
    RUN(test_hidden_range_ends);
    RUN(test_put_escaped);
    RUN(test_hex_digit);
    RUN(test_hex_lower);
    RUN(test_name_checks);
    RUN(test_text_check_limits);
    RUN(test_path_check_accepts);
    RUN(test_path_check_refuses);
    RUN(test_path_check_limits);
    RUN(test_parse_decimal);
    RUN(test_comma_join);
    RUN(test_email_check);
    return unit_done();
}
