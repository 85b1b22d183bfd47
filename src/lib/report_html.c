/* The report model as a printable HTML page (report_html.h). */
#include <errno.h>
#include <string.h>

#include "kura/report_html.h"
#include "kura/text.h"

void kura_html_text(FILE *out, const char *s)
{
    static const char *const entity[] = {['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
                                         ['\''] = "&#39;"};
    while (s && *s) {
        size_t n = strcspn(s, "&<>\"'");
        kura_text_put_escaped(out, s, n);
        s += n;
        if (!*s)
            break;
        fputs(entity[(unsigned char)*s++], out);
    }
}

void kura_html_page_begin(FILE *out, enum kura_report_lang lang, const char *title)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
            lang == KURA_REPORT_JA ? "ja" : "en");
    kura_html_text(out, title);
    fputs("</title>\n<style>\n"
          "@page { size: A4; margin: 18mm 15mm; }\n"
          "body { font-family: \"Noto Sans CJK JP\", \"IPAexGothic\", \"IPAGothic\", sans-serif;"
          " font-size: 10pt; line-height: 1.5; color: #000; }\n"
          "h1 { font-size: 15pt; margin: 0 0 8pt; }\n"
          "h2 { font-size: 12pt; margin: 14pt 0 4pt; page-break-after: avoid; }\n"
          "table { border-collapse: collapse; width: 100%; }\n"
          "th, td { border: 0.5pt solid #444; padding: 2pt 4pt; text-align: left; vertical-align: top;"
          " overflow-wrap: anywhere; }\n"
          "th { background: #eee; }\n"
          "thead { display: table-header-group; }\n"
          "tr { page-break-inside: avoid; }\n"
          ".blank { display: inline-block; min-width: 12em; border-bottom: 0.5pt solid #000; color: #666; }\n"
          "</style>\n</head>\n<body>\n",
          out);
}

void kura_html_page_end(FILE *out)
{
    fputs("</body>\n</html>\n", out);
}

static void html_cell(FILE *out, const struct kura_report_cell *c, enum kura_report_lang lang)
{
    char buf[48];
    const char *text = kura_report_cell_for_people(c, lang, buf, sizeof buf);
    if (c->kind == KURA_REPORT_BLANK)
        fputs("<span class=\"blank\">", out);
    kura_html_text(out, text);
    if (c->kind == KURA_REPORT_BLANK)
        fputs("</span>", out);
}

int kura_report_html(FILE *out, const struct kura_report *r, enum kura_report_lang lang, struct kura_err *err)
{
    if (r->nomem) {
        kura_err_set(err, ENOMEM, "out of memory while making the report");
        return -1;
    }
    const char *title = kura_report_say(r->title, lang), *sep = lang == KURA_REPORT_JA ? "：" : ": ";
    kura_html_page_begin(out, lang, title);
    fputs("<h1>", out);
    kura_html_text(out, title);
    if (r->subject) {
        fputs(sep, out);
        kura_html_text(out, r->subject);
    }
    fputs("</h1>\n<ul>\n", out);
    for (size_t i = 0; i < r->nitems; i++) {
        fputs("<li>", out);
        kura_html_text(out, kura_report_say(r->items[i].label, lang));
        fputs(sep, out);
        html_cell(out, &r->items[i].value, lang);
        fputs("</li>\n", out);
    }
    fputs("</ul>\n", out);
    for (size_t i = 0; i < r->ntables; i++) {
        const struct kura_report_table *t = &r->tables[i];
        fputs("<h2>", out);
        kura_html_text(out, kura_report_say(t->title, lang));
        fputs("</h2>\n", out);
        if (!t->nrows && t->none) {
            fputs("<p>", out);
            kura_html_text(out, kura_report_say(t->none, lang));
            fputs("</p>\n", out);
            continue;
        }
        fputs("<table>\n<thead><tr>", out);
        for (size_t k = 0; k < t->ncols; k++) {
            fputs("<th>", out);
            kura_html_text(out, kura_report_say(t->cols[k], lang));
            fputs("</th>", out);
        }
        fputs("</tr></thead>\n<tbody>\n", out);
        for (size_t row = 0; row < t->nrows; row++) {
            fputs("<tr>", out);
            for (size_t k = 0; k < t->ncols; k++) {
                fputs("<td>", out);
                html_cell(out, &t->cells[row * t->ncols + k], lang);
                fputs("</td>", out);
            }
            fputs("</tr>\n", out);
        }
        fputs("</tbody>\n</table>\n", out);
        if (t->note) {
            fputs("<p>", out);
            kura_html_text(out, kura_report_say(t->note, lang));
            fputs("</p>\n", out);
        }
    }
    kura_html_page_end(out);
    if (fflush(out) != 0 || ferror(out)) {
        kura_err_set(err, EIO, "cannot write the report: %s", strerror(errno));
        return -1;
    }
    return 0;
}
