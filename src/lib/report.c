/* The report model and its Markdown, CSV and JSON renderers (report.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kura/grow.h"
#include "kura/json.h"
#include "kura/report.h"
#include "kura/text.h"

/* What a Markdown renderer would act on instead of showing: '|' ends the
 * cell, '<' and '&' start raw HTML (a tag's effect, hiding the rows after
 * it, is shown instead of the text) or an entity, '[' a link, '`' code;
 * '\\' so that no escape can be undone. Markdown's own backslash escape
 * keeps each as it is. */
static const char md_special[] = "\\`<>&[]|";

void kura_md_cell(FILE *out, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, md_special);
        kura_text_put_escaped(out, s, n);
        s += n;
        if (*s) {
            fputc('\\', out);
            fputc(*s++, out);
        }
    }
}

void kura_md_unescape(char *s)
{
    char *to = s;
    for (; *s; s++) {
        if (*s == '\\' && s[1] && strchr(md_special, s[1]))
            s++;
        *to++ = *s;
    }
    *to = '\0';
}

/* Room for one JSON object of n cells: escaping at most sextuples a byte
 * (\u00XX), plus the key, quotes and separators. */
static size_t json_room(const struct kura_report_label *const *keys, const struct kura_report_item *items,
                        const struct kura_report_cell *cells, size_t n)
{
    size_t room = 64;
    for (size_t i = 0; i < n; i++) {
        const struct kura_report_cell *c = items ? &items[i].value : &cells[i];
        const char *key = items ? items[i].label->key : keys[i]->key;
        room += strlen(key) + 32 + 6 * (c->kind == KURA_REPORT_TEXT ? strlen(c->text)
                                        : c->kind == KURA_REPORT_WORD ? strlen(c->word->key) : 0);
    }
    return room;
}

int kura_report_lang_parse(const char *s, enum kura_report_lang *lang)
{
    if (strcmp(s, "en") == 0)
        *lang = KURA_REPORT_EN;
    else if (strcmp(s, "ja") == 0)
        *lang = KURA_REPORT_JA;
    else
        return -1;
    return 0;
}

const char *kura_report_say(const struct kura_report_label *l, enum kura_report_lang lang)
{
    return lang == KURA_REPORT_JA ? l->ja : l->en;
}

static const struct kura_report_label BLANK = {"", "(to be filled in)", "（記入欄）"};

/* Copies value's text; false when out of memory. */
static bool own(struct kura_report_cell *dst, struct kura_report_cell value)
{
    *dst = value;
    if (value.kind != KURA_REPORT_TEXT)
        return true;
    dst->text = strdup(value.text ? value.text : "");
    return dst->text != NULL;
}

void kura_report_init(struct kura_report *r, const struct kura_report_label *title, const char *subject)
{
    memset(r, 0, sizeof *r);
    r->title = title;
    if (subject && !(r->subject = strdup(subject)))
        r->nomem = true;
}

void kura_report_item(struct kura_report *r, const struct kura_report_label *label, struct kura_report_cell value)
{
    if (!kura_grow((void **)&r->items, &r->items_cap, r->nitems, sizeof *r->items)) {
        r->nomem = true;
        return;
    }
    struct kura_report_item *it = &r->items[r->nitems];
    it->label = label;
    if (!own(&it->value, value)) {
        r->nomem = true;
        return;
    }
    r->nitems++;
}

struct kura_report_table *kura_report_table(struct kura_report *r, const struct kura_report_label *title,
                                            const struct kura_report_label *const *cols, size_t ncols,
                                            const struct kura_report_label *none)
{
    if (!kura_grow((void **)&r->tables, &r->tables_cap, r->ntables, sizeof *r->tables)) {
        r->nomem = true;
        return NULL;
    }
    struct kura_report_table *t = &r->tables[r->ntables++];
    memset(t, 0, sizeof *t);
    t->title = title;
    t->cols = cols;
    t->ncols = ncols;
    t->none = none;
    return t;
}

void kura_report_row(struct kura_report *r, struct kura_report_table *t, const struct kura_report_cell *cells)
{
    if (!t)
        return;     /* its table could not be made: r->nomem says so */
    size_t need = (t->nrows + 1) * t->ncols;
    if (t->cap < need) {
        size_t cap = t->cap ? t->cap : 8 * t->ncols;
        while (cap < need)
            cap *= 2;
        struct kura_report_cell *g = realloc(t->cells, cap * sizeof *g);
        if (!g) {
            r->nomem = true;
            return;
        }
        t->cells = g;
        t->cap = cap;
    }
    struct kura_report_cell *row = &t->cells[t->nrows * t->ncols];
    for (size_t i = 0; i < t->ncols; i++)
        if (!own(&row[i], cells[i])) {
            for (size_t k = 0; k < i; k++)
                if (row[k].kind == KURA_REPORT_TEXT)
                    free((char *)row[k].text);
            r->nomem = true;
            return;
        }
    t->nrows++;
}

static void free_cell(struct kura_report_cell *c)
{
    if (c->kind == KURA_REPORT_TEXT)
        free((char *)c->text);
}

void kura_report_free(struct kura_report *r)
{
    for (size_t i = 0; i < r->nitems; i++)
        free_cell(&r->items[i].value);
    for (size_t i = 0; i < r->ntables; i++) {
        struct kura_report_table *t = &r->tables[i];
        for (size_t k = 0; k < t->nrows * t->ncols; k++)
            free_cell(&t->cells[k]);
        free(t->cells);
    }
    free(r->items);
    free(r->tables);
    free(r->subject);
    memset(r, 0, sizeof *r);
}

const char *kura_bytes_human(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    if (n < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)n);
        return buf;
    }
    double v = (double)n / 1024;
    size_t u = 0;
    /* 1023.95 KiB would print as "1024.0 KiB": the next unit up says it */
    while (v >= 1023.95 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

/* ---- renderers ------------------------------------------------------------------ */

static int check_built(const struct kura_report *r, struct kura_err *err)
{
    if (!r->nomem)
        return 0;
    kura_err_set(err, ENOMEM, "out of memory while making the report");
    return -1;
}

static int flushed(FILE *out, struct kura_err *err)
{
    if (fflush(out) == 0 && !ferror(out))
        return 0;
    kura_err_set(err, EIO, "cannot write the report: %s", strerror(errno));
    return -1;
}

const char *kura_report_cell_for_people(const struct kura_report_cell *c, enum kura_report_lang lang, char *buf,
                                        size_t len)
{
    switch (c->kind) {
    case KURA_REPORT_TEXT:
        return c->text[0] ? c->text : "-";
    case KURA_REPORT_INT:
        snprintf(buf, len, "%llu", (unsigned long long)c->num);
        return buf;
    case KURA_REPORT_BYTES:
        return kura_bytes_human(c->num, buf, len);
    case KURA_REPORT_WORD:
        return kura_report_say(c->word, lang);
    case KURA_REPORT_BLANK:
        break;
    }
    return kura_report_say(&BLANK, lang);
}

static void md_cell(FILE *out, const struct kura_report_cell *c, enum kura_report_lang lang)
{
    char b[48];
    kura_md_cell(out, kura_report_cell_for_people(c, lang, b, sizeof b));
}

int kura_report_md(FILE *out, const struct kura_report *r, enum kura_report_lang lang, struct kura_err *err)
{
    if (check_built(r, err) != 0)
        return -1;
    const char *sep = lang == KURA_REPORT_JA ? "：" : ": ";
    fprintf(out, "# %s%s", kura_report_say(r->title, lang), r->subject ? sep : "");
    kura_md_cell(out, r->subject);
    fputs("\n\n", out);
    for (size_t i = 0; i < r->nitems; i++) {
        fprintf(out, "- %s%s", kura_report_say(r->items[i].label, lang), sep);
        md_cell(out, &r->items[i].value, lang);
        fputc('\n', out);
    }
    for (size_t i = 0; i < r->ntables; i++) {
        const struct kura_report_table *t = &r->tables[i];
        fprintf(out, "\n## %s\n\n", kura_report_say(t->title, lang));
        if (!t->nrows && t->none) {
            fprintf(out, "%s\n", kura_report_say(t->none, lang));
            continue;
        }
        fputc('|', out);
        for (size_t k = 0; k < t->ncols; k++)
            fprintf(out, " %s |", kura_report_say(t->cols[k], lang));
        fputc('\n', out);
        fputc('|', out);
        for (size_t k = 0; k < t->ncols; k++)
            fputs("---|", out);
        fputc('\n', out);
        for (size_t row = 0; row < t->nrows; row++) {
            fputc('|', out);
            for (size_t k = 0; k < t->ncols; k++) {
                fputc(' ', out);
                md_cell(out, &t->cells[row * t->ncols + k], lang);
                fputs(" |", out);
            }
            fputc('\n', out);
        }
        if (t->note)
            fprintf(out, "\n%s\n", kura_report_say(t->note, lang));
    }
    return flushed(out, err);
}

/* Controls are escaped, never quoted in (text.h): no CR or LF is left to
 * quote, only ',', '"' and ';' (the separator where the decimal mark is a
 * comma, so "a;=cmd" would start a cell there). A cell that a spreadsheet
 * would take for a formula (=, +, - or @ first: a file or program named
 * "=HYPERLINK(...)" or "=cmd|...") starts with a ' that keeps it text, as
 * OWASP advises. */
static void csv_text(FILE *out, const char *s)
{
    bool quoted = strpbrk(s, ",\";") != NULL;
    if (quoted)
        fputc('"', out);
    if (s[0] && strchr("=+-@", s[0]))
        fputc('\'', out);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        kura_text_put_escaped(out, s, (size_t)(q - s));
        fputs("\"\"", out);
    }
    kura_text_put_escaped(out, s, strlen(s));
    if (quoted)
        fputc('"', out);
}

int kura_report_csv(FILE *out, const struct kura_report *r, const struct kura_report_table *t, struct kura_err *err)
{
    if (check_built(r, err) != 0)
        return -1;
    if (!t) {
        kura_err_set(err, EINVAL, "the report has no table to print as CSV");
        return -1;
    }
    for (size_t k = 0; k < t->ncols; k++)
        fprintf(out, "%s%s", k ? "," : "", t->cols[k]->key);
    fputc('\n', out);
    for (size_t row = 0; row < t->nrows; row++) {
        for (size_t k = 0; k < t->ncols; k++) {
            const struct kura_report_cell *c = &t->cells[row * t->ncols + k];
            if (k)
                fputc(',', out);
            if (c->kind == KURA_REPORT_INT || c->kind == KURA_REPORT_BYTES)
                fprintf(out, "%llu", (unsigned long long)c->num);
            else if (c->kind == KURA_REPORT_TEXT)
                csv_text(out, c->text);
            else if (c->kind == KURA_REPORT_WORD)
                fputs(c->word->key, out);
        }
        fputc('\n', out);
    }
    return flushed(out, err);
}

static void json_cell(struct kura_json_writer *w, const char *key, const struct kura_report_cell *c)
{
    switch (c->kind) {
    case KURA_REPORT_TEXT:
        kura_json_add_string(w, key, c->text);
        break;
    case KURA_REPORT_INT:
    case KURA_REPORT_BYTES:
        kura_json_add_int(w, key, c->num > INT64_MAX ? INT64_MAX : (int64_t)c->num);
        break;
    case KURA_REPORT_WORD:
        kura_json_add_string(w, key, c->word->key);
        break;
    case KURA_REPORT_BLANK:
        kura_json_add_string(w, key, "");
        break;
    }
}

/* Prints one object of n cells (items, or a row of cells under keys). */
static int json_object(FILE *out, const struct kura_report_label *const *keys, const struct kura_report_item *items,
                       const struct kura_report_cell *cells, size_t n, const char *type, const char *subject,
                       struct kura_err *err)
{
    size_t room = json_room(keys, items, cells, n) + (type ? 6 * (strlen(type) + strlen(subject)) + 64 : 0);
    char *buf = malloc(room);
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    struct kura_json_writer w;
    kura_json_begin(&w, buf, room);
    if (type) {
        kura_json_add_string(&w, "type", type);
        kura_json_add_string(&w, "subject", subject);
    }
    for (size_t i = 0; i < n; i++)
        json_cell(&w, items ? items[i].label->key : keys[i]->key, items ? &items[i].value : &cells[i]);
    int rc = kura_json_end(&w, NULL, err);
    if (rc == 0)
        fputs(buf, out);
    free(buf);
    return rc;
}

int kura_report_json(FILE *out, const struct kura_report *r, struct kura_err *err)
{
    if (check_built(r, err) != 0)
        return -1;
    fputs("{\"report\":", out);
    if (json_object(out, NULL, r->items, NULL, r->nitems, r->title->key, r->subject ? r->subject : "", err) != 0)
        return -1;
    for (size_t i = 0; i < r->ntables; i++) {
        const struct kura_report_table *t = &r->tables[i];
        fprintf(out, ",\n\"%s\":[", t->title->key);
        for (size_t row = 0; row < t->nrows; row++) {
            fputs(row ? ",\n" : "\n", out);
            if (json_object(out, t->cols, NULL, &t->cells[row * t->ncols], t->ncols, NULL, NULL, err) != 0)
                return -1;
        }
        fputc(']', out);
    }
    fputs("}\n", out);
    return flushed(out, err);
}
