/* Reports for people and for programs (R-LOG-4). A command fills a report
 * model from kura's records (ledger, audit log, catalog, keys): items (one
 * value each) and tables (typed cells); renderers print the same model as
 * Markdown, as CSV (one table) or as one JSON object. Item and column names
 * come from label tables holding each name's JSON key and its English and
 * Japanese text, so every language has the one layout. Byte counts are
 * exact in CSV and JSON, in KiB/MiB/GiB for people. */
#ifndef KURA_REPORT_H
#define KURA_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kura/error.h"

enum kura_report_lang { KURA_REPORT_EN, KURA_REPORT_JA };

/* "en" or "ja" -> lang; -1 for anything else. */
int kura_report_lang_parse(const char *s, enum kura_report_lang *lang);

struct kura_report_label {
    const char *key;            /* JSON member and CSV column: [a-z0-9_]+ */
    const char *en, *ja;
};

enum kura_report_kind {
    KURA_REPORT_TEXT,           /* text: as given */
    KURA_REPORT_INT,            /* num: a count */
    KURA_REPORT_BYTES,          /* num: bytes (people: KiB/MiB/GiB) */
    KURA_REPORT_WORD,           /* word: a label, said in the report's language (JSON: its key) */
    KURA_REPORT_BLANK,          /* what kura cannot know: a marked blank to fill in (JSON: "") */
};

struct kura_report_cell {
    enum kura_report_kind kind;
    const char *text;
    uint64_t num;
    const struct kura_report_label *word;
};
#define KURA_CELL_TEXT(s) ((struct kura_report_cell){.kind = KURA_REPORT_TEXT, .text = (s)})
#define KURA_CELL_INT(n) ((struct kura_report_cell){.kind = KURA_REPORT_INT, .num = (n)})
#define KURA_CELL_BYTES(n) ((struct kura_report_cell){.kind = KURA_REPORT_BYTES, .num = (n)})
#define KURA_CELL_WORD(l) ((struct kura_report_cell){.kind = KURA_REPORT_WORD, .word = (l)})
#define KURA_CELL_BLANK ((struct kura_report_cell){.kind = KURA_REPORT_BLANK})

struct kura_report_table {
    const struct kura_report_label *title;      /* key: the JSON array's name */
    const struct kura_report_label *const *cols;
    size_t ncols, nrows, cap;
    struct kura_report_cell *cells;             /* nrows x ncols, texts owned */
    const struct kura_report_label *none;       /* said instead of an empty table */
    const struct kura_report_label *note;       /* said after its rows (people only; set it after making t) */
};

struct kura_report_item {
    const struct kura_report_label *label;
    struct kura_report_cell value;              /* text owned */
};

struct kura_report {
    const struct kura_report_label *title;      /* key: the report's kind ("usage") */
    char *subject;                              /* after the title: the dataset id */
    struct kura_report_item *items;
    size_t nitems, items_cap;
    struct kura_report_table *tables;
    size_t ntables, tables_cap;
    size_t csv_table;                           /* the table CSV prints: the first unless set */
    bool nomem;                                 /* an addition failed: renderers refuse */
};

/* Building never fails on the spot: a failed allocation marks the report,
 * and the renderers then return -1 (ENOMEM). Texts are copied. */
void kura_report_init(struct kura_report *r, const struct kura_report_label *title, const char *subject);
void kura_report_item(struct kura_report *r, const struct kura_report_label *label, struct kura_report_cell value);
/* A new table (cols must outlive the report); NULL if out of memory. */
struct kura_report_table *kura_report_table(struct kura_report *r, const struct kura_report_label *title,
                                            const struct kura_report_label *const *cols, size_t ncols,
                                            const struct kura_report_label *none);
/* Appends one row of t->ncols cells. */
void kura_report_row(struct kura_report *r, struct kura_report_table *t, const struct kura_report_cell *cells);
void kura_report_free(struct kura_report *r);

/* Markdown: "# title: subject", the items as a list, each table under
 * "## title" (and its note after its rows). */
int kura_report_md(FILE *out, const struct kura_report *r, enum kura_report_lang lang, struct kura_err *err);
/* Text as one Markdown table cell (or any Markdown text): controls and
 * hidden characters escaped (text.h), and what a renderer would act on
 * instead of showing (a bar, raw HTML, an entity, a link, code, a
 * backslash) behind Markdown's backslash escape. */
void kura_md_cell(FILE *out, const char *s);
/* Gives back, in place, text kura_md_cell wrote (its backslash escapes only;
 * \xHH and \uHHHH stay as they are): for a report that reads another's cells. */
void kura_md_unescape(char *s);
/* CSV (RFC 4180) of table t (r->csv_table's as a rule; NULL: an error): a
 * header of the column keys, one line per row, exact numbers. */
int kura_report_csv(FILE *out, const struct kura_report *r, const struct kura_report_table *t, struct kura_err *err);
/* One JSON object: {"report": {"type": title key, "subject": ..., item keys: values},
 * table keys: [row objects of column keys]}; numbers exact, blanks "". */
int kura_report_json(FILE *out, const struct kura_report *r, struct kura_err *err);

/* l in lang. */
const char *kura_report_say(const struct kura_report_label *l, enum kura_report_lang lang);
/* c as people read it in lang (buf holds numbers): "-" for no text, bytes
 * in KiB/MiB/GiB, a word in lang, a blank as "(to be filled in)" (ja:
 * "（記入欄）"). */
const char *kura_report_cell_for_people(const struct kura_report_cell *c, enum kura_report_lang lang, char *buf,
                                        size_t len);

/* n bytes for people: "512 B", "68.4 KiB", "1.5 MiB", "2.0 GiB" (powers
 * of 1024, one decimal). Returns buf. */
const char *kura_bytes_human(uint64_t n, char *buf, size_t len);

#endif
