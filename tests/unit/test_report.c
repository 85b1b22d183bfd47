/* The report model and its renderers (report.h; R-LOG-4): bytes for
 * people, CSV quoting, JSON through the library's writer, the languages
 * from one label table, blanks marked. */
#include <stdlib.h>
#include <string.h>

#include "kura/json.h"
#include "kura/report.h"
#include "kura/report_html.h"
#include "kura/text.h"
#include "unit.h"

static const struct kura_report_label TITLE = {"usage", "Usage report", "利用状況の報告"};
static const struct kura_report_label PI = {"pi", "PI", "研究代表者"};
static const struct kura_report_label INST = {"pi_institution", "PI's institution", "研究代表者の所属機関"};
static const struct kura_report_label USERS = {"users", "Users", "データ利用者"};
static const struct kura_report_label USER = {"user", "user", "利用者"};
static const struct kura_report_label BYTES = {"bytes_read", "bytes read", "読み出し量"};
static const struct kura_report_label ROLE = {"role", "role", "役割"};
static const struct kura_report_label CO = {"co-investigator", "co-investigator", "共同研究者"};
static const struct kura_report_label NONE = {"none", "none", "なし"};
static const struct kura_report_label *const COLS[] = {&USER, &ROLE, &BYTES};

static char *render(const struct kura_report *r, int how, enum kura_report_lang lang)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct kura_err e = {0};
    int rc = how == 0 ? kura_report_md(f, r, lang, &e)
             : how == 1 ? kura_report_csv(f, r, &r->tables[0], &e)
             : how == 2 ? kura_report_json(f, r, &e) : kura_report_html(f, r, lang, &e);
    fclose(f);
    if (rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void fill(struct kura_report *r)
{
    kura_report_init(r, &TITLE, "JGAD000001");
    kura_report_item(r, &PI, KURA_CELL_TEXT("alice"));
    kura_report_item(r, &INST, KURA_CELL_BLANK);
    struct kura_report_table *t = kura_report_table(r, &USERS, COLS, 3, &NONE);
    const struct kura_report_cell a[] = {KURA_CELL_TEXT("bob, \"b\"|x"), KURA_CELL_WORD(&CO), KURA_CELL_BYTES(305000)};
    const struct kura_report_cell b[] = {KURA_CELL_TEXT("carol\n"), KURA_CELL_WORD(&NONE), KURA_CELL_BYTES(3u << 30)};
    kura_report_row(r, t, a);
    kura_report_row(r, t, b);
}

static void test_bytes_human(void)
{
    char b[32];
    EXPECT(strcmp(kura_bytes_human(0, b, sizeof b), "0 B") == 0);
    EXPECT(strcmp(kura_bytes_human(1023, b, sizeof b), "1023 B") == 0);
    EXPECT(strcmp(kura_bytes_human(1024, b, sizeof b), "1.0 KiB") == 0);
    EXPECT(strcmp(kura_bytes_human(305000, b, sizeof b), "297.9 KiB") == 0);
    EXPECT(strcmp(kura_bytes_human(1048575, b, sizeof b), "1.0 MiB") == 0); /* not "1024.0 KiB" */
    EXPECT(strcmp(kura_bytes_human(3ull << 30, b, sizeof b), "3.0 GiB") == 0);
    EXPECT(strcmp(kura_bytes_human(5ull << 40, b, sizeof b), "5.0 TiB") == 0);
}

static void test_markdown_in_both_languages(void)
{
    struct kura_report r;
    fill(&r);
    char *en = render(&r, 0, KURA_REPORT_EN), *ja = render(&r, 0, KURA_REPORT_JA);
    ASSERT(en && ja);
    EXPECT_STR_CONTAINS(en, "# Usage report: JGAD000001\n");
    EXPECT_STR_CONTAINS(en, "- PI's institution: (to be filled in)\n");
    EXPECT_STR_CONTAINS(en, "| user | role | bytes read |\n|---|---|---|\n");
    EXPECT_STR_CONTAINS(en, "| bob, \"b\"\\|x | co-investigator | 297.9 KiB |\n");  /* '|' cannot break the row */
    EXPECT_STR_CONTAINS(en, "| carol\\x0a | none | 3.0 GiB |\n");                  /* nor a newline */
    EXPECT_STR_CONTAINS(ja, "# 利用状況の報告：JGAD000001\n");
    EXPECT_STR_CONTAINS(ja, "- 研究代表者の所属機関：（記入欄）\n");
    EXPECT_STR_CONTAINS(ja, "| 利用者 | 役割 | 読み出し量 |\n");
    EXPECT_STR_CONTAINS(ja, "| bob, \"b\"\\|x | 共同研究者 | 297.9 KiB |\n");
    EXPECT(kura_utf8_valid(ja, strlen(ja)));
    free(en);
    free(ja);
    kura_report_free(&r);
}

/* What kura_md_cell writes, kura_md_unescape gives back (its escapes only). */
static void test_md_cell_round_trip(void)
{
    const char *texts[] = {"x <!-- hide | y.bin", "a\\|b `c` [l](u) &amp; <b>", "plain", "", "\\x1b stays"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char *out = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&out, &n);
        ASSERT(f);
        kura_md_cell(f, texts[i]);
        fclose(f);
        ASSERT(out);
        EXPECT(!strchr(out, '<') || strstr(out, "\\<"));   /* no tag starts raw */
        kura_md_unescape(out);
        EXPECT(strcmp(out, texts[i]) == 0);
        free(out);
    }
}

static void test_csv_quotes_and_exact_bytes(void)
{
    struct kura_report r;
    fill(&r);
    char *csv = render(&r, 1, KURA_REPORT_JA);
    ASSERT(csv != NULL);
    /* The newline is escaped, not quoted: a user's text cannot start a row. */
    EXPECT(strcmp(csv, "user,role,bytes_read\n\"bob, \"\"b\"\"|x\",co-investigator,305000\ncarol\\x0a,none,3221225472\n") == 0);
    free(csv);
    kura_report_free(&r);
}

/* A cell a spreadsheet would run as a formula stays text; others are as they were. */
static void test_csv_formula_cells_stay_text(void)
{
    struct kura_report r;
    kura_report_init(&r, &TITLE, "JGAD000001");
    struct kura_report_table *t = kura_report_table(&r, &USERS, COLS, 3, &NONE);
    const char *names[] = {"=HYPERLINK(\"http://x\",\"y\")", "+1", "-2+3", "@SUM(A1)", "a=b", "/usr/bin/cat", "",
                           "a;=cmd"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const struct kura_report_cell row[] = {KURA_CELL_TEXT(names[i]), KURA_CELL_WORD(&NONE), KURA_CELL_BYTES(1)};
        kura_report_row(&r, t, row);
    }
    char *csv = render(&r, 1, KURA_REPORT_EN);
    ASSERT(csv != NULL);
    EXPECT(strcmp(csv, "user,role,bytes_read\n"
                       "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",none,1\n"
                       "'+1,none,1\n'-2+3,none,1\n'@SUM(A1),none,1\na=b,none,1\n/usr/bin/cat,none,1\n,none,1\n"
                       "\"a;=cmd\",none,1\n") == 0); /* one cell where ';' separates too */
    free(csv);
    kura_report_free(&r);
}

static void test_json_exact_and_parseable(void)
{
    struct kura_report r;
    fill(&r);
    char *js = render(&r, 2, KURA_REPORT_JA);
    ASSERT(js != NULL);
    EXPECT_STR_CONTAINS(js, "{\"report\":{\"type\":\"usage\",\"subject\":\"JGAD000001\",\"pi\":\"alice\",\"pi_institution\":\"\"}");
    /* each row is a flat object the library's strict parser reads back */
    const char *row = strstr(js, "\"users\":[\n") + strlen("\"users\":[\n");
    const char *end = strstr(row, "}") + 1;
    struct kura_json_object o;
    struct kura_err e = {0};
    ASSERT(kura_json_parse_object(row, (size_t)(end - row), &o, &e) == 0);
    const struct kura_json_field *user = kura_json_find(&o, "user"), *role = kura_json_find(&o, "role"),
                                 *bytes = kura_json_find(&o, "bytes_read");
    EXPECT(user && strcmp(user->str, "bob, \"b\"|x") == 0);
    EXPECT(role && strcmp(role->str, "co-investigator") == 0);
    EXPECT(bytes && bytes->type == KURA_JSON_INT && bytes->num == 305000);
    kura_json_object_free(&o);
    EXPECT_STR_CONTAINS(js, "\"bytes_read\":3221225472}]}\n");
    free(js);
    kura_report_free(&r);
}

static void test_html_page_escaped(void)
{
    struct kura_report r;
    fill(&r);
    const struct kura_report_cell evil[] = {KURA_CELL_TEXT("<script>alert('x')</script>&"), KURA_CELL_WORD(&CO),
                                            KURA_CELL_BYTES(1)};
    kura_report_row(&r, &r.tables[0], evil);
    char *html = render(&r, 3, KURA_REPORT_JA);
    ASSERT(html != NULL);
    EXPECT_STR_CONTAINS(html, "<html lang=\"ja\">");
    EXPECT_STR_CONTAINS(html, "@page { size: A4;");
    EXPECT_STR_CONTAINS(html, "\"Noto Sans CJK JP\", \"IPAexGothic\"");
    EXPECT_STR_CONTAINS(html, "<h1>利用状況の報告：JGAD000001</h1>");
    EXPECT_STR_CONTAINS(html, "<li>研究代表者の所属機関：<span class=\"blank\">（記入欄）</span></li>");
    EXPECT_STR_CONTAINS(html, "<td>bob, &quot;b&quot;|x</td><td>共同研究者</td><td>297.9 KiB</td>");
    EXPECT_STR_CONTAINS(html, "<td>carol\\x0a</td>");
    EXPECT_STR_CONTAINS(html, "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</td>");
    EXPECT(!strstr(html, "<script"));
    EXPECT_STR_CONTAINS(html, "</body>\n</html>\n");
    free(html);
    kura_report_free(&r);
}

static void test_empty_table_says_none(void)
{
    struct kura_report r;
    kura_report_init(&r, &TITLE, NULL);
    kura_report_table(&r, &USERS, COLS, 3, &NONE);
    char *ja = render(&r, 0, KURA_REPORT_JA), *js = render(&r, 2, KURA_REPORT_EN);
    ASSERT(ja && js);
    EXPECT_STR_CONTAINS(ja, "## データ利用者\n\nなし\n");
    EXPECT_STR_CONTAINS(js, "\"users\":[]}");
    free(ja);
    free(js);
    kura_report_free(&r);
}

/* A table's note is said after its rows, for people only, and not under an
 * empty table; CSV prints the table the report names (the withdrawal
 * report's second). */
static void test_note_and_csv_table(void)
{
    static const struct kura_report_label ASK = {"ask", "Ask them to delete it.", "削除を依頼すること。"};
    static const struct kura_report_label EMPTY = {"empty", "Empty", "空"};
    struct kura_report r;
    fill(&r);
    r.tables[0].note = &ASK;
    struct kura_report_table *e = kura_report_table(&r, &EMPTY, COLS, 3, &NONE);
    ASSERT(e);
    e->note = &ASK;
    r.csv_table = 1;
    char *en = render(&r, 0, KURA_REPORT_EN), *html = render(&r, 3, KURA_REPORT_JA),
         *js = render(&r, 2, KURA_REPORT_EN);
    ASSERT(en && html && js);
    EXPECT_STR_CONTAINS(en, "| carol\\x0a | none | 3.0 GiB |\n\nAsk them to delete it.\n\n## Empty\n\nnone\n");
    EXPECT(!strstr(strstr(en, "Ask them") + 1, "Ask them"));   /* once: not under the empty table */
    EXPECT_STR_CONTAINS(html, "</table>\n<p>削除を依頼すること。</p>\n<h2>空</h2>\n<p>なし</p>\n");
    EXPECT(!strstr(js, "delete"));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct kura_err err = {0};
    ASSERT(f);
    EXPECT(kura_report_csv(f, &r, &r.tables[r.csv_table], &err) == 0);
    EXPECT(kura_report_csv(f, &r, NULL, &err) == -1);
    fclose(f);
    EXPECT(text && strcmp(text, "user,role,bytes_read\n") == 0);
    free(text);
    free(en);
    free(html);
    free(js);
    kura_report_free(&r);
}

/* The checklist's shape: answers are words (the key for programs, the
 * language's word for people) and the site's notes are marked blanks, empty
 * for programs. */
static void test_answers_and_blanks_in_every_format(void)
{
    static const struct kura_report_label CHECKLIST = {"checklist", "Checklist", "チェックリスト"};
    static const struct kura_report_label ITEMS = {"checklist", "Items", "チェック項目"};
    static const struct kura_report_label ID = {"id", "id", "ID"}, ANSWER = {"answer", "answer", "回答"},
                                          NOTE = {"note", "note", "記入欄"};
    static const struct kura_report_label PASS = {"pass", "pass", "適合"}, SITE = {"site", "to be filled in", "記入欄"};
    static const struct kura_report_label *const cols[] = {&ID, &ANSWER, &NOTE};
    struct kura_report r;
    kura_report_init(&r, &CHECKLIST, "AGDD000001");
    struct kura_report_table *t = kura_report_table(&r, &ITEMS, cols, 3, NULL);
    const struct kura_report_cell seen[] = {KURA_CELL_TEXT("swap"), KURA_CELL_WORD(&PASS), KURA_CELL_TEXT("no swap")};
    const struct kura_report_cell site[] = {KURA_CELL_TEXT("printouts"), KURA_CELL_WORD(&SITE), KURA_CELL_BLANK};
    kura_report_row(&r, t, seen);
    kura_report_row(&r, t, site);
    char *ja = render(&r, 0, KURA_REPORT_JA), *en = render(&r, 0, KURA_REPORT_EN), *csv = render(&r, 1, KURA_REPORT_JA),
         *js = render(&r, 2, KURA_REPORT_JA), *html = render(&r, 3, KURA_REPORT_EN);
    ASSERT(ja && en && csv && js && html);
    EXPECT_STR_CONTAINS(ja, "# チェックリスト：AGDD000001\n");
    EXPECT_STR_CONTAINS(ja, "| swap | 適合 | no swap |\n| printouts | 記入欄 | （記入欄） |\n");
    EXPECT_STR_CONTAINS(en, "| swap | pass | no swap |\n| printouts | to be filled in | (to be filled in) |\n");
    EXPECT(strcmp(csv, "id,answer,note\nswap,pass,no swap\nprintouts,site,\n") == 0);
    EXPECT_STR_CONTAINS(js, "{\"report\":{\"type\":\"checklist\",\"subject\":\"AGDD000001\"}");
    EXPECT_STR_CONTAINS(js, "{\"id\":\"printouts\",\"answer\":\"site\",\"note\":\"\"}");
    EXPECT_STR_CONTAINS(html, "<td>printouts</td><td>to be filled in</td><td><span class=\"blank\">(to be filled in)</span></td>");
    free(ja);
    free(en);
    free(csv);
    free(js);
    free(html);
    kura_report_free(&r);
}

/* A report that cannot be written (disk full) is an error, in every
 * format: an operator must not file a cut-off report as done. */
static void test_write_error_is_an_error(void)
{
    struct kura_report r;
    fill(&r);
    for (int how = 0; how < 4; how++) {
        FILE *f = fopen("/dev/full", "w");
        ASSERT(f);
        struct kura_err e = {0};
        int rc = how == 0 ? kura_report_md(f, &r, KURA_REPORT_EN, &e)
                 : how == 1 ? kura_report_csv(f, &r, &r.tables[0], &e)
                 : how == 2 ? kura_report_json(f, &r, &e) : kura_report_html(f, &r, KURA_REPORT_JA, &e);
        fclose(f);
        if (rc != -1)
            printf("#   format %d: a write error was not reported\n", how);
        EXPECT(rc == -1);
        EXPECT(e.code != 0);
    }
    kura_report_free(&r);
}

int main(void)
{
    RUN(test_bytes_human);
    RUN(test_markdown_in_both_languages);
    RUN(test_md_cell_round_trip);
    RUN(test_csv_quotes_and_exact_bytes);
    RUN(test_csv_formula_cells_stay_text);
    RUN(test_json_exact_and_parseable);
    RUN(test_html_page_escaped);
    RUN(test_empty_table_says_none);
    RUN(test_answers_and_blanks_in_every_format);
    RUN(test_note_and_csv_table);
    RUN(test_write_error_is_an_error);
    return unit_done();
}
