#include <errno.h>
#include <ini.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/inifile.h"
#include "kura/text.h"

struct ini_run {
    const char *name;
    const char *data;
    size_t len, pos;
    int line;                   /* number of the line last handed to inih */
    char section[KURA_INI_LINE_MAX];
    bool in_section;
    bool failed;
    kura_ini_section_fn on_section;
    kura_ini_key_fn on_key;
    void *user;
    struct kura_err *err;
};

static pthread_once_t ini_options_once = PTHREAD_ONCE_INIT;

static void ini_options_set(void)
{
    ini_allow_multiline = false;
    ini_allow_inline_comments = false;
    ini_allow_bom = false;
    ini_stop_on_first_error = true;
    ini_allow_no_value = false;
    ini_use_stack = true;
    ini_max_line = KURA_INI_LINE_MAX + 3; /* line, CR, LF, NUL */
}

__attribute__((format(printf, 2, 3)))
static int run_fail(struct ini_run *r, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    kura_err_set(r->err, EINVAL, "%s:%d: %s", r->name, r->line, what);
    r->failed = true;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

/* Checks one line (without its LF) against the grammar; at a section
 * header, records it and calls on_section. */
static int check_line(struct ini_run *r, const char *s, size_t n)
{
    if (n > KURA_INI_LINE_MAX)
        return run_fail(r, "line longer than %d bytes", KURA_INI_LINE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            return run_fail(r, "carriage return (save the file with LF line ends)");
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return run_fail(r, "control character 0x%02x", c);
    }
    if (r->line == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        return run_fail(r, "byte-order mark at the start of the file");
    if (!kura_utf8_valid(s, n))
        return run_fail(r, "invalid UTF-8");
    size_t i = 0;
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] == '#' || s[i] == ';')
        return 0; /* blank or comment */
    if (i > 0)
        return run_fail(r, "line starts with a blank (continuation lines are not supported)");
    if (s[0] == '[') {
        size_t end = n;
        while (end > 0 && is_blank(s[end - 1]))
            end--;
        if (end < 3 || s[end - 1] != ']')
            return run_fail(r, "section header must be '[NAME]' alone on its line");
        const char *name = s + 1;
        size_t nlen = end - 2;
        if (memchr(name, ']', nlen) || memchr(name, '[', nlen))
            return run_fail(r, "section header must be '[NAME]' alone on its line");
        if (is_blank(name[0]) || is_blank(name[nlen - 1]))
            return run_fail(r, "blank at the edge of the section name");
        memcpy(r->section, name, nlen);
        r->section[nlen] = '\0';
        r->in_section = true;
        if (r->on_section && r->on_section(r->user, r->section, r->line, r->err) != 0) {
            kura_err_prefix(r->err, "%s:%d", r->name, r->line);
            r->failed = true;
            return -1;
        }
        return 0;
    }
    size_t k = 0;
    while (k < n && is_key_char(s[k]))
        k++;
    size_t e = k;
    while (e < n && is_blank(s[e]))
        e++;
    if (k == 0 || e == n || s[e] != '=')
        return run_fail(r, "expected 'key = value', a [section] or a comment");
    if (k > KURA_INI_KEY_MAX)
        return run_fail(r, "key longer than %d characters", KURA_INI_KEY_MAX);
    if (!r->in_section)
        return run_fail(r, "key before the first [section]");
    return 0;
}

/* inih's line source: hands over one checked line per call. */
static char *line_source(char *str, int num, void *stream)
{
    struct ini_run *r = stream;
    if (r->failed || r->pos >= r->len)
        return NULL;
    const char *s = r->data + r->pos;
    const char *nl = memchr(s, '\n', r->len - r->pos);
    size_t n = nl ? (size_t)(nl - s) : r->len - r->pos;
    r->line++;
    if (memchr(s, '\0', n)) {
        run_fail(r, "NUL byte");
        return NULL;
    }
    if (check_line(r, s, n) != 0)
        return NULL;
    if (n + 2 > (size_t)num) { /* inih would split the line: never let it */
        run_fail(r, "line longer than the INI reader accepts");
        return NULL;
    }
    memcpy(str, s, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    r->pos += n + (nl ? 1 : 0);
    return str;
}

static int key_sink(void *user, const char *section, const char *key, const char *value)
{
    (void)section; /* inih cuts long names; ours is whole */
    struct ini_run *r = user;
    if (r->failed)
        return 0;
    if (r->on_key && r->on_key(r->user, r->section, key, value, r->line, r->err) != 0) {
        kura_err_prefix(r->err, "%s:%d", r->name, r->line);
        r->failed = true;
        return 0;
    }
    return 1;
}

int kura_ini_parse(const char *name, const char *data, size_t len, kura_ini_section_fn on_section,
                   kura_ini_key_fn on_key, void *user, struct kura_err *err)
{
    pthread_once(&ini_options_once, ini_options_set);
    struct kura_err unused;
    struct ini_run *r = calloc(1, sizeof *r); /* the section buffer is large */
    if (!r) {
        kura_err_set(err, ENOMEM, "%s: out of memory", name);
        return -1;
    }
    *r = (struct ini_run){.name = name, .data = data, .len = len, .on_section = on_section, .on_key = on_key,
                          .user = user, .err = err ? err : &unused};
    int rc = ini_parse_stream(line_source, r, key_sink, r);
    int result = 0;
    if (r->failed)
        result = -1;
    else if (rc != 0) {
        kura_err_set(err, EINVAL, "%s:%d: malformed line", name, rc > 0 ? rc : r->line);
        result = -1;
    }
    free(r);
    return result;
}
