/* The text checks, the decimal parser and the comma joiner (text.h). The
 * limits of ids, user names and free text are the model's. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kura/model.h"
#include "kura/text.h"

/* ---- UTF-8 and hex -------------------------------------------------------- */

size_t kura_utf8_seq_len(const char *s, size_t left)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;          /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F;          /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;          /* nothing above U+10FFFF */
    } else
        return 0;
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

int kura_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool kura_hex_lower(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Characters that show nothing yet change what is shown around them. The
 * controls (C1, bidirectional marks and isolates, line and paragraph
 * separators) are refused in text kura is given; the invisible ones
 * (Unicode's other default-ignorable code points: zero-width spaces and
 * joiners, invisible operators, fillers, the byte order mark, tags) may stand
 * in stored text, so a title that always loaded still loads, and are escaped
 * wherever text is shown, so that two names an auditor sees as one are told
 * apart. Variation selectors stay: they pick a glyph for the character before
 * them (Japanese names use them), though after a Latin letter they show
 * nothing (docs/security.md says so). */
static const struct {
    long first, last;
    bool control;
} hidden_ranges[] = {
    {0x80, 0x9F, true},          {0xAD, 0xAD, false},        {0x34F, 0x34F, false},
    {0x61C, 0x61C, true},        {0x115F, 0x1160, false},    {0x17B4, 0x17B5, false},
    {0x180E, 0x180E, false},     {0x200B, 0x200D, false},    {0x200E, 0x200F, true},
    {0x2028, 0x202E, true},      {0x2060, 0x2065, false},    {0x2066, 0x2069, true},
    {0x206A, 0x206F, false},     {0x3164, 0x3164, false},    {0xFEFF, 0xFEFF, false},
    {0xFFA0, 0xFFA0, false},     {0xFFF0, 0xFFFB, false},    {0x1BCA0, 0x1BCA3, false},
    {0x1D173, 0x1D17A, false},   {0xE0000, 0xE00FF, false},  {0xE01F0, 0xE0FFF, false},
};

/* The index in hidden_ranges of the character s[0..len) starts with, or -1. */
static long hidden_range(const char *s, size_t len, long *cp_out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = len ? kura_utf8_seq_len(s, len) : 0;
    long cp;
    if (n == 2)
        cp = (long)(p[0] & 0x1F) << 6 | (p[1] & 0x3F);
    else if (n == 3)
        cp = (long)(p[0] & 0x0F) << 12 | (long)(p[1] & 0x3F) << 6 | (p[2] & 0x3F);
    else if (n == 4)
        cp = (long)(p[0] & 0x07) << 18 | (long)(p[1] & 0x3F) << 12 | (long)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
    else
        return -1;
    for (size_t i = 0; i < sizeof hidden_ranges / sizeof hidden_ranges[0]; i++)
        if (cp >= hidden_ranges[i].first && cp <= hidden_ranges[i].last) {
            *cp_out = cp;
            return (long)i;
        }
    return -1;
}

long kura_utf8_hidden(const char *s, size_t len)
{
    long cp;
    return hidden_range(s, len, &cp) >= 0 ? cp : -1;
}

/* The code point if s[0..len) starts with a hidden control, else -1. */
static long hidden_control(const char *s, size_t len)
{
    long cp, i = hidden_range(s, len, &cp);
    return i >= 0 && hidden_ranges[i].control ? cp : -1;
}

size_t kura_text_put_escaped(FILE *out, const char *s, size_t len)
{
    size_t written = 0, plain = 0;   /* s[plain..i) is yet to be copied as is */
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = kura_utf8_seq_len(s + i, len - i);
        long hidden = kura_utf8_hidden(s + i, len - i);
        if (hidden < 0 && c >= 0x20 && c != 0x7F && n > 0) {
            i += n;
            continue;
        }
        written += fwrite(s + plain, 1, i - plain, out);
        int w = hidden > 0xFFFF ? fprintf(out, "\\U%08lx", hidden)
                : hidden >= 0   ? fprintf(out, "\\u%04lx", hidden)
                                : fprintf(out, "\\x%02x", c);
        written += w > 0 ? (size_t)w : 0;
        i += n ? n : 1;
        plain = i;
    }
    return written + fwrite(s + plain, 1, len - plain, out);
}

bool kura_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = kura_utf8_seq_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* ---- names and free text -------------------------------------------------- */

static bool alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int kura_id_check(const char *id, const char *what, struct kura_err *err)
{
    size_t n = strlen(id);
    if (n == 0 || n > KURA_ID_MAX) {
        kura_err_set(err, EINVAL, "%s must be 1 to %d characters", what, KURA_ID_MAX);
        return -1;
    }
    if (!alnum(id[0])) {
        kura_err_set(err, EINVAL, "%s must start with a letter or digit", what);
        return -1;
    }
    for (size_t i = 1; i < n; i++)
        if (!alnum(id[i]) && id[i] != '.' && id[i] != '_' && id[i] != '-') {
            kura_err_set(err, EINVAL, "%s may hold only letters, digits, '.', '_' and '-'", what);
            return -1;
        }
    return 0;
}

int kura_user_name_check(const char *name, struct kura_err *err)
{
    size_t n = strlen(name);
    if (n == 0 || n > KURA_USER_MAX) {
        kura_err_set(err, EINVAL, "user name must be 1 to %d characters", KURA_USER_MAX);
        return -1;
    }
    if (name[0] == '-') {
        kura_err_set(err, EINVAL, "user name must not start with '-'");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!alnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-') {
            kura_err_set(err, EINVAL, "user name may hold only letters, digits, '.', '_' and '-'");
            return -1;
        }
    return 0;
}

int kura_text_check(const char *text, const char *what, struct kura_err *err)
{
    size_t n = strlen(text);
    if (n >= KURA_TEXT_MAX) {
        kura_err_set(err, EINVAL, "%s is longer than %d bytes", what, KURA_TEXT_MAX - 1);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7F) {
            kura_err_set(err, EINVAL, "%s holds a control character (one line of text only)", what);
            return -1;
        }
    if (!kura_utf8_valid(text, n)) {
        kura_err_set(err, EINVAL, "%s is not valid UTF-8", what);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (hidden_control(text + i, n - i) >= 0) {
            kura_err_set(err, EINVAL, "%s holds a control character (U+%04lX)", what, hidden_control(text + i, n - i));
            return -1;
        }
    return 0;
}

static bool email_local_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c));
}

static bool domain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int kura_email_check(const char *addr, struct kura_err *err)
{
    const char *at = strchr(addr, '@');
    size_t n = strlen(addr);
    const char *why = NULL;
    if (n > 254)
        why = "is longer than 254 bytes";
    else if (!at || strchr(at + 1, '@'))
        why = "is not LOCAL@DOMAIN (one @)";
    else if (at == addr || at - addr > 64)
        why = "needs 1 to 64 bytes before the @";
    else if (addr[0] == '.' || at[-1] == '.' || strstr(addr, ".."))
        why = "has a dot at the start or end of a part, or two in a row";
    for (const char *p = addr; !why && p < at; p++)
        if (!email_local_char(*p))
            why = "holds a character not allowed before the @ (letters, digits, .!#$%&'*+-/=?^_`{|}~)";
    size_t labels = 0;
    for (const char *l = at + 1; !why; labels++) {
        size_t len = 0;
        while (domain_char(l[len]))
            len++;
        if (len == 0 || len > 63 || l[0] == '-' || l[len - 1] == '-')
            why = "needs a domain of labels of 1 to 63 letters, digits and hyphens (not at either end)";
        else if (l[len] == '.')
            l += len + 1;
        else if (l[len] != '\0')
            why = "holds a character not allowed in a domain (letters, digits, hyphens, dots)";
        else if (labels == 0)
            why = "needs a domain with a dot (example.ac.jp)";
        else
            break;
    }
    if (why) {
        kura_err_set(err, EINVAL, "e-mail address %s", why);
        return -1;
    }
    return 0;
}

/* ---- numbers -------------------------------------------------------------- */

int kura_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    if (len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* ---- lists ---------------------------------------------------------------- */

char *kura_comma_join(const char *const *items, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(items[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        size_t l = strlen(items[i]);
        memcpy(p, items[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

/* ---- paths ---------------------------------------------------------------- */

int kura_path_check(const char *path, size_t len, struct kura_err *err)
{
    if (len == 0) {
        kura_err_set(err, EINVAL, "empty path");
        return -1;
    }
    if (len > KURA_PATH_MAX) {
        kura_err_set(err, EINVAL, "path longer than %d bytes", KURA_PATH_MAX);
        return -1;
    }
    if (memchr(path, '\0', len)) {
        kura_err_set(err, EINVAL, "NUL byte in path");
        return -1;
    }
    if (path[0] == '/') {
        kura_err_set(err, EINVAL, "path must be relative (no leading '/')");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7F) {
            kura_err_set(err, EINVAL, "control character in path");
            return -1;
        }
    }
    if (!kura_utf8_valid(path, len)) {
        kura_err_set(err, EINVAL, "path is not valid UTF-8");
        return -1;
    }
    size_t depth = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        size_t clen = i - start;
        const char *c = path + start;
        if (clen == 0) {
            kura_err_set(err, EINVAL, i == len ? "trailing '/' in path" : "empty component ('//') in path");
            return -1;
        }
        if ((clen == 1 && c[0] == '.') || (clen == 2 && c[0] == '.' && c[1] == '.')) {
            kura_err_set(err, EINVAL, "'%.*s' component in path", (int)clen, c);
            return -1;
        }
        if (clen > KURA_NAME_MAX) {
            kura_err_set(err, EINVAL, "path component longer than %d bytes", KURA_NAME_MAX);
            return -1;
        }
        if (++depth > KURA_PATH_DEPTH_MAX) {
            kura_err_set(err, EINVAL, "path deeper than %d components", KURA_PATH_DEPTH_MAX);
            return -1;
        }
        start = i + 1;
    }
    return 0;
}
