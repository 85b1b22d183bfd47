/* Reports as one self-contained printable HTML page: A4 (CSS @page), no
 * script, no outside resource; Japanese set in Noto Sans CJK JP or
 * IPAexGothic (Debian's fonts-noto-cjk, fonts-ipaexfont) where the reader
 * has them. Every text goes through kura_html_text. */
#ifndef KURA_REPORT_HTML_H
#define KURA_REPORT_HTML_H
#include <stdio.h>

#include "kura/error.h"
#include "kura/report.h"

/* s with & < > " ' as character references. */
void kura_html_text(FILE *out, const char *s);
/* The page up to the opening of <body> (lang "ja" or "en", the <title>),
 * and its end. Between them: h1, h2, ul/li, table (thead/tbody), p; a
 * blank to fill in is <span class="blank">. */
void kura_html_page_begin(FILE *out, enum kura_report_lang lang, const char *title);
void kura_html_page_end(FILE *out);

/* The report as such a page: what kura_report_md says, in HTML. */
int kura_report_html(FILE *out, const struct kura_report *r, enum kura_report_lang lang, struct kura_err *err);

#endif
