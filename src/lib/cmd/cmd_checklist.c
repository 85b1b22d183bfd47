/* kuractl report checklist ID [--lang ja|en] [--html|--csv|--json]
 *                            [--verify FILE]
 *
 * The server part of the NBDC security checklist
 * (NBDCヒトデータ取扱いセキュリティガイドラインチェックリスト) for dataset
 * ID: the items kuractl check sees, the items kura answers from its own
 * configuration and records, and the site's items left as marked blanks
 * (記入欄) for the PI. Each report's SHA-256 is recorded in the dataset's
 * hash-chained ledger, as the destruction report's is; --verify FILE finds
 * a copy's record, so an edited copy is found out (R-CHK-1). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/report_html.h"
#include "kura/layout.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/ledger.h"
#include "kura/selfcheck.h"
#include "kura/when.h"

#define CHECKLIST_ACTION "checklist-report"
#define CHECKLIST_DETAIL "report sha256="
#define CHECKLIST_MAX (1u << 20)

enum row_answer { ROW_PASS, ROW_WARN, ROW_FAIL, ROW_SITE };

struct row {
    const char *ref, *item;
    enum row_answer answer;
    char note[KURA_CHECK_SEEN_MAX + 64];
};

struct site_item {
    const char *ref_ja, *ref_en, *item_ja, *item_en;
};

/* The checklist's items no software on the server can see. */
static const struct site_item site_items[] = {
    {"データ利用者向け 1. 4.（データサーバ）前提条件 (1)", "Data users' edition 1. 4. (data server) prerequisite (1)",
     "ノート PC 等の移動性が高い機器を利用していない", "no laptops or other easily lost devices are used"},
    {"データ利用者向け 2-2 <利用全般> 2", "Data users' edition 2-2 <General> 2",
     "データ利用者が情報セキュリティ教育を受講している", "the data users have taken information security training"},
    {"データ利用者向け 2-2 <データサーバについて> 4", "Data users' edition 2-2 <Data server> 4",
     "全てのソフトウェアに最新のセキュリティパッチを適用している", "current security patches applied to all software"},
    {"データ利用者向け 2-2 <データサーバについて> 6", "Data users' edition 2-2 <Data server> 6",
     "ウイルス対策ソフトを導入し、定義ファイルを最新に保っている", "anti-virus software installed, definitions current"},
    {"データ利用者向け 2-3 3", "Data users' edition 2-3 3",
     "不特定多数が利用する機器からアクセスしない", "no access from machines used by the public"},
    {"データ利用者向け 2-3 5", "Data users' edition 2-3 5",
     "データアクセス端末を 15 分程度の無操作でロックする", "access terminals lock after about 15 minutes idle"},
    {"データ利用者向け 2-3 10", "Data users' edition 2-3 10",
     "印刷物を厳重に管理し、利用終了時にシュレッダ処理する", "printouts kept from others' sight and shredded at the end"},
    {"データ利用者向け 3 1（Type II）", "Data users' edition 3 1 (Type II)",
     "サーバ室：多要素認証による入室制限、入室記録の自動取得、専用のサーバ室または施錠された専用ラック",
     "server room: multi-factor entry, entry records kept automatically, a dedicated room or locked rack"},
};
#define NSITE (sizeof site_items / sizeof *site_items)

struct report {
    bool en;
    const char *title;
    char head[8][600];      /* "label: value" lines */
    size_t nhead;
    struct row *rows;
    size_t nrows;
};

static const char *answer_word(enum row_answer a, bool en)
{
    static const char *const ja[] = {"適合", "要確認", "不適合", "記入欄"};
    static const char *const enw[] = {"pass", "warn", "fail", "to be filled in"};
    return en ? enw[a] : ja[a];
}

static const char *answer_id(enum row_answer a)
{
    static const char *const id[] = {"pass", "warn", "fail", "site"};
    return id[a];
}

/* ---- the writers ------------------------------------------------------------------ */

/* RFC 4180: every field quoted, quotes doubled. */
static void csv_field(FILE *f, const char *s, bool last)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s == '\n' ? ' ' : *s, f);
    }
    fputs(last ? "\"\r\n" : "\",", f);
}

static void write_markdown(FILE *f, const struct report *r)
{
    fprintf(f, "# %s\n\n", r->title);
    for (size_t i = 0; i < r->nhead; i++)
        fprintf(f, "- %s\n", r->head[i]);
    fprintf(f, r->en ? "\n| item | checklist item | answer | what was seen / note |\n|---|---|---|---|\n"
                     : "\n| 項目 | チェック項目 | 回答 | 確認結果・記入欄 |\n|---|---|---|---|\n");
    for (size_t i = 0; i < r->nrows; i++) {
        const struct row *w = &r->rows[i];
        fputs("| ", f);
        kura_md_cell(f, w->ref);
        fputs(" | ", f);
        kura_md_cell(f, w->item);
        fprintf(f, " | %s | ", answer_word(w->answer, r->en));
        kura_md_cell(f, w->answer == ROW_SITE ? "　" : w->note);
        fputs(" |\n", f);
    }
}

static void write_html(FILE *f, const struct report *r)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n<title>", r->en ? "en" : "ja");
    kura_html_text(f, r->title);
    /* One A4 page set; Noto CJK is Debian's fonts-noto-cjk. */
    fputs("</title>\n<style>\n"
          "@page { size: A4; margin: 15mm; }\n"
          "body { font-family: \"Noto Sans CJK JP\", \"Noto Sans JP\", \"IPAexGothic\", sans-serif; font-size: 9pt; }\n"
          "h1 { font-size: 13pt; }\n"
          "table { border-collapse: collapse; width: 100%; }\n"
          "th, td { border: 1px solid #444; padding: 2pt 4pt; vertical-align: top; }\n"
          "tr { page-break-inside: avoid; }\n"
          "td.site { height: 18pt; }\n"
          ".fail { font-weight: bold; }\n"
          "</style>\n</head>\n<body>\n<h1>",
          f);
    kura_html_text(f, r->title);
    fputs("</h1>\n<ul>\n", f);
    for (size_t i = 0; i < r->nhead; i++) {
        fputs("<li>", f);
        kura_html_text(f, r->head[i]);
        fputs("</li>\n", f);
    }
    fputs(r->en ? "</ul>\n<table>\n<tr><th>item</th><th>checklist item</th><th>answer</th><th>what was seen / note</th></tr>\n"
                : "</ul>\n<table>\n<tr><th>項目</th><th>チェック項目</th><th>回答</th><th>確認結果・記入欄</th></tr>\n",
          f);
    for (size_t i = 0; i < r->nrows; i++) {
        const struct row *w = &r->rows[i];
        fputs("<tr><td>", f);
        kura_html_text(f, w->ref);
        fputs("</td><td>", f);
        kura_html_text(f, w->item);
        fprintf(f, "</td><td class=\"%s\">%s</td><td%s>", answer_id(w->answer), answer_word(w->answer, r->en),
                w->answer == ROW_SITE ? " class=\"site\"" : "");
        if (w->answer != ROW_SITE)
            kura_html_text(f, w->note);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n</body>\n</html>\n", f);
}

static void write_csv(FILE *f, const struct report *r)
{
    csv_field(f, "ref", false);
    csv_field(f, "item", false);
    csv_field(f, "answer", false);
    csv_field(f, "note", true);
    for (size_t i = 0; i < r->nrows; i++) {
        csv_field(f, r->rows[i].ref, false);
        csv_field(f, r->rows[i].item, false);
        csv_field(f, answer_id(r->rows[i].answer), false);
        csv_field(f, r->rows[i].note, true);
    }
}

static int write_json(FILE *f, const struct report *r, struct kura_err *e)
{
    fputs("[", f);
    for (size_t i = 0; i < r->nrows; i++) {
        char buf[4096];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "ref", r->rows[i].ref);
        kura_json_add_string(&w, "item", r->rows[i].item);
        kura_json_add_string(&w, "answer", answer_id(r->rows[i].answer));
        kura_json_add_string(&w, "note", r->rows[i].note);
        if (kura_json_end(&w, NULL, e) != 0)
            return -1;
        fprintf(f, "%s%s", i ? ",\n" : "", buf);
    }
    fputs("]\n", f);
    return 0;
}

/* ---- the content ------------------------------------------------------------------ */

static struct row *add_row(struct report *r, const char *ref, const char *item, enum row_answer a)
{
    struct row *w = &r->rows[r->nrows++];
    w->ref = ref;
    w->item = item;
    w->answer = a;
    w->note[0] = '\0';
    return w;
}

/* The items kura answers from its own configuration and records. */
static void kura_rows(const struct kura_cmd_ctx *c, const struct cmd_txn *t, struct report *r)
{
    bool en = r->en;
    const struct kura_dataset *ds = &t->ds;
    struct row *w = add_row(r, en ? "Data users' edition 2-1 4, 2-2 <Data server> 1" : "データ利用者向け 2-1 4、2-2 <データサーバについて> 1",
                            en ? "access limited to the data users" : "データへのアクセスをデータ利用者に限定", ROW_PASS);
    snprintf(w->note, sizeof w->note,
             "kura serves dataset %s to its PI %s and %zu listed users only (kuractl user list %s); every other "
             "account, root included, is refused",
             ds->id, ds->pi, ds->ngrants, ds->id);
    char *ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE);
    size_t n = 0;
    char head[KURA_HASH_HEX_LEN + 1];
    struct kura_err e = {0};
    bool ok = ledger && kura_ledger_verify(ledger, &n, head, &e) == 0;
    free(ledger);
    w = add_row(r, en ? "Data users' edition 2-2 <General> 3" : "データ利用者向け 2-2 <利用全般> 3",
                en ? "ledger of data users and storage, with its change history" : "データ利用者とデータサーバの台帳管理（変更履歴）",
                ok ? ROW_PASS : ROW_FAIL);
    if (ok)
        snprintf(w->note, sizeof w->note, "the dataset's ledger: %zu record(s), hash chain verified, last %.16s...", n,
                 head);
    else
        snprintf(w->note, sizeof w->note, "the ledger does not verify: %.400s", e.msg);
    w = add_row(r, en ? "Data users' edition 2-2 <Data server> 8" : "データ利用者向け 2-2 <データサーバについて> 8",
                en ? "access logs taken" : "各種ログの取得・分析", ROW_PASS);
    snprintf(w->note, sizeof w->note,
             "every open, allowed or refused, is recorded before it happens in %.200s (hash chain, MAC; kuractl "
             "audit verify)",
             c->env->cfg->audit_log);
    bool level_ok = ds->level <= c->env->cfg->level;
    w = add_row(r, en ? "Data users' edition 3 (Type II)" : "データ利用者向け 3（Type II）",
                en ? "security level" : "セキュリティレベル", level_ok ? ROW_PASS : ROW_FAIL);
    snprintf(w->note, sizeof w->note, "dataset %s, server declared %s", kura_level_name(ds->level),
             kura_level_name(c->env->cfg->level));
}

static int build(const struct kura_cmd_ctx *c, const struct cmd_txn *t, bool en, struct report *r)
{
    const struct kura_dataset *ds = &t->ds;
    size_t nchecks = kura_check_count();
    r->en = en;
    r->rows = calloc(nchecks + NSITE + 4, sizeof *r->rows);
    if (!r->rows)
        return -1;
    r->title = en ? "NBDC human data security guidelines checklist: the data server's part"
                  : "NBDCヒトデータ取扱いセキュリティガイドラインチェックリスト（データサーバ部分）";
    char a[48], b[48], now[48], who[96];
    if (kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, ds->until, b, sizeof b);
    cmd_time(c, cmd_now(), now, sizeof now);
    cmd_actor_label(c, who, sizeof who);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s: %s (%s, %s) %s", en ? "Dataset" : "データセット", ds->id,
             kura_kind_name(ds->kind), kura_level_name(ds->level), ds->title);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s: %s", en ? "PI" : "研究代表者", ds->pi);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s: %s..%s", en ? "Approved period" : "利用期間", a, b);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s: %s", en ? "Server (host id)" : "データサーバ（ホスト ID）",
             ds->host_id);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s: %s, %s", en ? "Made" : "作成", now, who);
    snprintf(r->head[r->nhead++], sizeof r->head[0], "%s",
             en ? "Answers: pass/warn/fail from kuractl check and kura's records; rows marked \"to be filled in\" are "
                  "the site's, for the PI"
                : "回答：適合・要確認・不適合は kuractl check と kura の記録による。「記入欄」は研究代表者が記入する");
    const struct kura_check_input in = {.root = "/", .keys_dir = c->env->cfg->keys_dir};
    for (size_t i = 0; i < nchecks; i++) {
        struct kura_check_result res;
        kura_check_eval(kura_check_def_at(i), &in, &res);
        const struct kura_check_def *d = res.def;
        struct row *w = add_row(r, en ? d->guideline_en : d->guideline_ja, en ? d->title_en : d->title_ja,
                                (enum row_answer)res.verdict);
        snprintf(w->note, sizeof w->note, "kuractl check %s: %s", d->id, res.seen);
    }
    kura_rows(c, t, r);
    for (size_t i = 0; i < NSITE; i++)
        add_row(r, en ? site_items[i].ref_en : site_items[i].ref_ja, en ? site_items[i].item_en : site_items[i].item_ja,
                ROW_SITE);
    return 0;
}

/* ---- verification ----------------------------------------------------------------- */

struct find_report {
    const char *sha;
    int64_t seq;
    char time[48], actor[KURA_USER_MAX + 16];
};

static int find_report_record(const struct kura_ledger_record *r, void *arg)
{
    struct find_report *f = arg;
    if (strcmp(r->action, CHECKLIST_ACTION) == 0 && strncmp(r->detail, CHECKLIST_DETAIL, strlen(CHECKLIST_DETAIL)) == 0 &&
        strncmp(r->detail + strlen(CHECKLIST_DETAIL), f->sha, 64) == 0) {
        f->seq = r->seq;
        snprintf(f->time, sizeof f->time, "%s", r->time);
        snprintf(f->actor, sizeof f->actor, "%s", r->actor);
    }
    return 0;
}

/* Reads FILE with the caller's rights (the daemon's would reach files the caller cannot). */
static int read_copy(const struct kura_cmd_ctx *c, const char *path, char **text, size_t *len, struct kura_err *e)
{
    struct cmd_caller cl;
    if (cmd_caller_init(c, &cl, e) != 0)
        return -1;
    int rc = cmd_caller_enter(&cl, e);
    if (rc == 0) {
        rc = kura_read_file(path, CHECKLIST_MAX, text, len, e);
        cmd_caller_leave(&cl);
    }
    cmd_caller_free(&cl);
    return rc;
}

static int verify(const struct kura_cmd_ctx *c, const struct cmd_txn *t, const char *path)
{
    if (c->env->socket_mode && path[0] != '/')
        return cmd_usage(c, "--verify needs an absolute path (the daemon does not share your directory)");
    char *text = NULL, *ledger = cmd_dataset_file(c, t->id, KURA_LEDGER_FILE);
    size_t len = 0;
    struct kura_err e = {0};
    int rc = KURA_EXIT_FAIL;
    char sha[65];
    struct find_report f = {.sha = sha};
    if (!ledger)
        cmd_fail(c, "out of memory");
    else if (read_copy(c, path, &text, &len, &e) != 0 || (cmd_sha256_hex(text, len, sha),
                                                           kura_ledger_read(ledger, find_report_record, &f, &e) != 0))
        cmd_fail_err(c, &e);
    else if (!f.seq)
        cmd_fail(c, "%s (sha256 %s) matches no checklist report in the ledger of dataset %s: edited, or not made by "
                    "kura for this dataset", path, sha, t->id);
    else {
        fprintf(c->out, "%s matches ledger record %lld of dataset %s: a checklist report made %s by %s (sha256 %s)\n",
                path, (long long)f.seq, t->id, f.time, f.actor, sha);
        rc = KURA_EXIT_OK;
    }
    free(text);
    free(ledger);
    return rc;
}

/* ---- the command ------------------------------------------------------------------ */

int cmd_report_checklist(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *lang = "ja", *verify_path = NULL;
    bool html = false, csv = false, json = false;
    const struct cmd_opt opts[] = {{"lang", true, &lang, NULL}, {"html", false, NULL, &html},
                                   {"csv", false, NULL, &csv},  {"json", false, NULL, &json},
                                   {"verify", true, &verify_path, NULL}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    enum kura_report_lang language;
    if (kura_report_lang_parse(lang, &language) != 0)
        return cmd_usage(c, "--lang is ja or en");
    if (html + csv + json > 1)
        return cmd_usage(c, "give at most one of --html, --csv, --json");
    /* A copy of a destroyed dataset's checklist can still be verified; no new one is made. */
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], KURA_CMD_PI, verify_path ? CMD_TXN_DESTROYED_OK : 0, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct report r = {0};
    char *text = NULL, *ledger = NULL;
    size_t len = 0;
    struct kura_err e = {0};
    if (verify_path) {
        rc = verify(c, &t, verify_path);
        goto out;
    }
    FILE *f = NULL;
    if (build(c, &t, language == KURA_REPORT_EN, &r) != 0 || !(f = open_memstream(&text, &len))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    int wrc = 0;
    if (html)
        write_html(f, &r);
    else if (csv)
        write_csv(f, &r);
    else if (json)
        wrc = write_json(f, &r, &e);
    else
        write_markdown(f, &r);
    if (fclose(f) != 0 || wrc != 0) {
        cmd_fail(c, "cannot write the report%s%s", e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    /* Recorded before it is shown: a report kura printed is one the ledger knows. */
    char sha[65], detail[96], actor[KURA_USER_MAX + 16];
    cmd_sha256_hex(text, len, sha);
    snprintf(detail, sizeof detail, CHECKLIST_DETAIL "%s", sha);
    const char *format = html ? "html" : csv ? "csv" : json ? "json" : "markdown";
    struct kura_ledger_change lc = {.actor = cmd_actor_name(c, actor, sizeof actor), .uid = c->actor->uid,
                                    .action = CHECKLIST_ACTION, .target = t.id, .detail = detail, .before = "",
                                    .after = format};
    if (!(ledger = cmd_dataset_file(c, t.id, KURA_LEDGER_FILE)) ||
        kura_ledger_append(ledger, &lc, cmd_now(), c->env->cfg->zone, NULL, &e) != 0) {
        cmd_fail(c, "cannot record the report in the ledger%s%s", e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    fwrite(text, 1, len, c->out);
    fprintf(c->err, "kuractl report checklist: recorded in the ledger of dataset %s (sha256 %s); check a copy with "
                    "kuractl report checklist %s --verify FILE\n", t.id, sha, t.id);
    rc = KURA_EXIT_OK;
out:
    free(r.rows);
    free(text);
    free(ledger);
    cmd_txn_end(&t);
    return rc;
}
