/* kuractl report checklist ID [--group] [--csv|--json|--html] [--lang en|ja]
 *
 * The server part of the NBDC security checklist
 * (NBDCヒトデータ取扱いセキュリティガイドラインチェックリスト; with --group
 * the group-sharing one, NBDCヒトデータグループ共有データ取扱いセキュリティ
 * ガイドラインチェックリスト) for dataset ID: the items kuractl check sees,
 * the items kura answers from its own configuration and records, and the
 * site's items left as marked blanks (記入欄) for the PI. A report on the
 * report model (report.h), signed as every report for people is
 * (kuractl report verify FILE); that it was issued, and its SHA-256, is
 * recorded in the dataset's hash-chained ledger (R-CHK-1). */
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/grow.h"
#include "kura/layout.h"
#include "kura/ledger.h"
#include "kura/selfcheck.h"
#include "kura/when.h"

#define CHECKLIST_ACTION "checklist-report"
#define CHECKLIST_DETAIL "report sha256="

typedef struct kura_report_label label;

static const label TITLE = {"checklist", "NBDC human data security guidelines checklist: the data server's part",
                            "NBDCヒトデータ取扱いセキュリティガイドラインチェックリスト（データサーバ部分）"};
static const label TITLE_GROUP = {"checklist_group",
                                  "NBDC human data group-sharing security guidelines checklist: the data server's part",
                                  "NBDCヒトデータグループ共有データ取扱いセキュリティガイドラインチェックリスト"
                                  "（データサーバ部分）"};
static const label L_HOST = {"host_id", "Server (host id)", "データサーバ（ホスト ID）"};
static const label L_ANSWERS = {"answers", "Answers", "回答"};
static const label W_ANSWERS = {"answers",
                                "pass/warn/fail from kuractl check and kura's records; rows \"to be filled in\" are "
                                "the site's, for the PI",
                                "適合・要確認・不適合は kuractl check と kura の記録による。「記入欄」は研究代表者が記入する"};

static const label T_ITEMS = {"checklist", "Checklist items", "チェック項目"};
static const label C_ID = {"id", "id", "ID"};
static const label C_REF = {"ref", "guideline item", "ガイドライン項目"};
static const label C_ITEM = {"item", "checklist item", "チェック項目"};
static const label C_ANSWER = {"answer", "answer", "回答"};
static const label C_NOTE = {"note", "what was seen / note", "確認結果・記入欄"};
static const label *const ITEM_COLS[] = {&C_ID, &C_REF, &C_ITEM, &C_ANSWER, &C_NOTE};

static const label W_PASS = {"pass", "pass", "適合"};
static const label W_WARN = {"warn", "warn", "要確認"};
static const label W_FAIL = {"fail", "fail", "不適合"};
static const label W_SITE = {"site", "to be filled in", "記入欄"};
static const label *const VERDICT_WORDS[] = {[KURA_CHECK_PASS] = &W_PASS, [KURA_CHECK_WARN] = &W_WARN,
                                             [KURA_CHECK_FAIL] = &W_FAIL};

/* The group: who may read the data, as kura lists them. */
static const label T_GROUP = {"group_users", "Data users: who in the group may read the data (kura's list)",
                              "データ利用者：グループ内でデータにアクセスできる者（kura のリスト）"};
static const label C_USER = {"user", "user", "利用者"};
static const label C_ROLE = {"role", "role", "役割"};
static const label C_FROM = {"from", "from", "利用開始日"};
static const label C_UNTIL = {"until", "until", "利用終了日"};
static const label C_APPROVAL = {"provider_approval", "data provider's approval", "データ提供者の利用許可"};
static const label C_STATE = {"state", "state", "状態"};
static const label *const GROUP_COLS[] = {&C_USER, &C_ROLE, &C_FROM, &C_UNTIL, &C_APPROVAL, &C_STATE};
static const label W_SERVED = {"served", "served", "利用可"};
static const label W_PENDING = {"pending", "awaits the PI's approval: serves nothing", "研究代表者の承認待ち（利用不可）"};

/* One text in the report's language. */
struct say {
    const char *ja, *en;
};

static const char *in(struct say s, enum kura_report_lang lang)
{
    return lang == KURA_REPORT_JA ? s.ja : s.en;
}

struct site_item {
    const char *id;
    struct say ref, item;
};

/* The checklist's items no software on the server can see. */
static const struct site_item site_items[] = {
    {"mobile-devices", {"データ利用者向け 1. 4.（データサーバ）前提条件 (1)", "Data users' edition 1. 4. (data server) prerequisite (1)"},
     {"ノート PC 等の移動性が高い機器を利用していない", "no laptops or other easily lost devices are used"}},
    {"training", {"データ利用者向け 2-2 <利用全般> 2", "Data users' edition 2-2 <General> 2"},
     {"データ利用者が情報セキュリティ教育を受講している", "the data users have taken information security training"}},
    {"patches", {"データ利用者向け 2-2 <データサーバについて> 4", "Data users' edition 2-2 <Data server> 4"},
     {"全てのソフトウェアに最新のセキュリティパッチを適用している", "current security patches applied to all software"}},
    {"anti-virus", {"データ利用者向け 2-2 <データサーバについて> 6", "Data users' edition 2-2 <Data server> 6"},
     {"ウイルス対策ソフトを導入し、定義ファイルを最新に保っている", "anti-virus software installed, definitions current"}},
    {"public-machines", {"データ利用者向け 2-3 3", "Data users' edition 2-3 3"},
     {"不特定多数が利用する機器からアクセスしない", "no access from machines used by the public"}},
    {"screen-lock", {"データ利用者向け 2-3 5", "Data users' edition 2-3 5"},
     {"データアクセス端末を 15 分程度の無操作でロックする", "access terminals lock after about 15 minutes idle"}},
    {"printouts", {"データ利用者向け 2-3 10", "Data users' edition 2-3 10"},
     {"印刷物を厳重に管理し、利用終了時にシュレッダ処理する", "printouts kept from others' sight and shredded at the end"}},
    {"server-room", {"データ利用者向け 3 1（Type II）", "Data users' edition 3 1 (Type II)"},
     {"サーバ室：多要素認証による入室制限、入室記録の自動取得、専用のサーバ室または施錠された専用ラック",
      "server room: multi-factor entry, entry records kept automatically, a dedicated room or locked rack"}},
};

/* The group-sharing checklist's own site items (グループ共有ガイドライン). */
static const struct site_item group_site_items[] = {
    {"same-institution", {"グループ共有ガイドライン 5-3 ④", "Group-sharing guidelines 5-3 (4)"},
     {"研究分担者は研究代表者と同一機関に所属し、データ利用申請時に登録されている",
      "co-investigators belong to the PI's institution and were registered in the application"}},
    {"group-only", {"グループ共有データ取扱いセキュリティガイドライン 2-1 1、3", "Group-sharing security guidelines 2-1 1, 3"},
     {"データをデータサーバ外に移動せず、コピーを作成せず、グループ外の者に提供しない",
      "the data stays on the data server: no copies, nothing given to anyone outside the group"}},
    {"off-premise-server", {"グループ共有データ取扱いセキュリティガイドライン 2-2 <データサーバについて>",
                            "Group-sharing security guidelines 2-2 <Data server>"},
     {"「機関外サーバ」を利用する場合、その責任分担を利用規約等で整理している",
      "where an off-premise server is used, the responsibilities are set out in its terms of use"}},
};

struct checklist {
    const struct kura_cmd_ctx *c;
    const struct kura_dataset *ds;
    enum kura_report_lang lang;
    struct kura_report *r;
    struct kura_report_table *t;
};

static void row(struct checklist *k, const char *id, struct say ref, struct say item, const label *answer,
                const char *note)
{
    const struct kura_report_cell cells[] = {KURA_CELL_TEXT(id), KURA_CELL_TEXT(in(ref, k->lang)),
                                             KURA_CELL_TEXT(in(item, k->lang)), KURA_CELL_WORD(answer),
                                             note ? KURA_CELL_TEXT(note) : KURA_CELL_BLANK};
    kura_report_row(k->r, k->t, cells);
}

static void check_rows(struct checklist *k)
{
    const struct kura_check_input input = {.root = "/", .keys_dir = k->c->env->cfg->keys_dir};
    for (size_t i = 0; i < kura_check_count(); i++) {
        struct kura_check_result res;
        kura_check_eval(kura_check_def_at(i), &input, &res);
        const struct kura_check_def *d = res.def;
        char note[KURA_CHECK_SEEN_MAX + 64];
        snprintf(note, sizeof note, "kuractl check %s: %s", d->id, res.seen);
        row(k, d->id, (struct say){d->guideline_ja, d->guideline_en}, (struct say){d->title_ja, d->title_en},
            VERDICT_WORDS[res.verdict], note);
    }
}

/* The items kura answers from its own configuration and records. */
static void kura_rows(struct checklist *k, bool group)
{
    const struct kura_dataset *ds = k->ds;
    const struct kura_config *cfg = k->c->env->cfg;
    bool ja = k->lang == KURA_REPORT_JA;
    char note[1024];
    snprintf(note, sizeof note,
             ja ? "kura はデータセット %s を研究代表者 %s と登録された %zu 名の利用者にのみ提供する（kuractl user list %s）。"
                  "root を含むその他のアカウントは拒否される"
                : "kura serves dataset %s to its PI %s and %zu listed users only (kuractl user list %s); every other "
                  "account, root included, is refused",
             ds->id, ds->pi, ds->ngrants, ds->id);
    row(k, "access", (struct say){"データ利用者向け 2-1 4、2-2 <データサーバについて> 1", "Data users' edition 2-1 4, 2-2 <Data server> 1"},
        group ? (struct say){"グループ共有データへのアクセスをデータ利用者（グループ内の者）に限定",
                             "access to the group-shared data limited to the data users (the group)"}
              : (struct say){"データへのアクセスをデータ利用者に限定", "access limited to the data users"},
        &W_PASS, note);

    char *ledger = cmd_dataset_file(k->c, ds->id, KURA_LEDGER_FILE);
    size_t n = 0;
    char head[KURA_HASH_HEX_LEN + 1];
    struct kura_err e = {0};
    bool ok = ledger && kura_ledger_verify(ledger, &n, head, &e) == 0;
    free(ledger);
    if (ok)
        snprintf(note, sizeof note,
                 ja ? "データセットの台帳：%zu 件の記録、ハッシュチェーン検証済み、最後 %.16s..."
                    : "the dataset's ledger: %zu record(s), hash chain verified, last %.16s...",
                 n, head);
    else
        snprintf(note, sizeof note, ja ? "台帳が検証できない：%.400s" : "the ledger does not verify: %.400s", e.msg);
    row(k, "ledger", (struct say){"データ利用者向け 2-2 <利用全般> 3", "Data users' edition 2-2 <General> 3"},
        (struct say){"データ利用者とデータサーバの台帳管理（変更履歴）", "ledger of data users and storage, with its change history"},
        ok ? &W_PASS : &W_FAIL, note);

    snprintf(note, sizeof note,
             ja ? "許可・拒否を問わず全てのオープンを実行前に %.200s に記録（ハッシュチェーン、MAC；kuractl audit verify）"
                : "every open, allowed or refused, is recorded before it happens in %.200s (hash chain, MAC; kuractl "
                  "audit verify)",
             cfg->audit_log);
    row(k, "audit-log", (struct say){"データ利用者向け 2-2 <データサーバについて> 8", "Data users' edition 2-2 <Data server> 8"},
        (struct say){"各種ログの取得・分析", "access logs taken"}, &W_PASS, note);

    snprintf(note, sizeof note, ja ? "データセット %s、サーバの宣言 %s" : "dataset %s, server declared %s",
             kura_level_name(ds->level), kura_level_name(cfg->level));
    row(k, "level", (struct say){"データ利用者向け 3（Type II）", "Data users' edition 3 (Type II)"},
        (struct say){"セキュリティレベル", "security level"}, ds->level <= cfg->level ? &W_PASS : &W_FAIL, note);
}

/* The group-sharing checklist's items kura answers: the data is group-shared
 * (its kind), who in the group may read it (the grants and their roles),
 * who manages that list (the PI, with the ledger and the PI's approval of
 * operators' grants), and the data provider's approval of each user
 * (recorded for AGD, R-ACC-5). */
static void group_rows(struct checklist *k)
{
    const struct kura_dataset *ds = k->ds;
    bool ja = k->lang == KURA_REPORT_JA, agd = ds->kind == KURA_KIND_AGD;
    char note[1024];
    snprintf(note, sizeof note,
             agd ? (ja ? "データセット %s は AGD（グループ共有データベース）のもの" : "dataset %s is from AGD, the group-sharing database")
                 : (ja ? "データセット %s は JGA の制限公開データ：グループ共有用ではないチェックリスト（--group なし）を使う"
                       : "dataset %s is JGA controlled-access data: its checklist is the one without --group"),
             ds->id);
    row(k, "group-data", (struct say){"グループ共有ガイドライン 2、3", "Group-sharing guidelines 2, 3"},
        (struct say){"グループ共有データである", "the data is group-shared data"}, agd ? &W_PASS : &W_WARN, note);

    size_t co = 0, contractors = 0, pending = 0, unapproved = 0;
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        co += g->role == KURA_ROLE_CO_INVESTIGATOR;
        contractors += g->role == KURA_ROLE_CONTRACTOR;
        pending += g->pending;
        unapproved += !g->approval[0];
    }
    snprintf(note, sizeof note,
             ja ? "読めるのは研究代表者 %s、共同研究者 %zu 名、委託先 %zu 名のみ（研究代表者の承認待ち %zu 名は利用不可）；下の表"
                : "only the PI %s, %zu co-investigator(s) and %zu contractor(s) can read it (%zu awaiting the PI's "
                  "approval, who cannot); the table below",
             ds->pi, co, contractors, pending);
    row(k, "group-users", (struct say){"グループ共有ガイドライン 2 ⑤⑦、5-3 ④", "Group-sharing guidelines 2 (5), (7), 5-3 (4)"},
        (struct say){"データ利用者の限定（研究代表者、研究分担者、受託者）",
                     "data users limited to the PI, the co-investigators and the contractors"},
        &W_PASS, note);

    snprintf(note, sizeof note,
             ja ? "研究代表者 %s：リストの変更（研究代表者または運用管理者による）は全て台帳に記録され、運用管理者が"
                  "運用管理者・root・自身に与えた利用は研究代表者の承認まで無効"
                : "the PI %s: every change to the list (by the PI or an operator) is in the ledger, and a grant an "
                  "operator made to an operator, to root or to themselves serves nothing until the PI approves it",
             ds->pi);
    row(k, "data-manager", (struct say){"データ利用者向け 2-2 <利用全般> 1、3", "Data users' edition 2-2 <General> 1, 3"},
        (struct say){"グループのデータ管理責任者（研究代表者）がデータ利用者を管理している",
                     "the group's data manager (the PI) manages who the data users are"},
        &W_PASS, note);

    snprintf(note, sizeof note,
             unapproved ? (ja ? "%zu 名の利用者にデータ提供者の利用許可の記録がない（下の表）"
                              : "%zu user(s) with no data provider's approval recorded (the table below)")
                        : (ja ? "全ての利用者（%zu 名）にデータ提供者の利用許可が記録されている（下の表）"
                              : "every user (%zu) has the data provider's approval recorded (the table below)"),
             unapproved ? unapproved : ds->ngrants);
    row(k, "provider-approval", (struct say){"グループ共有ガイドライン 別表 5-3 ④、5-4 ⑩", "Group-sharing guidelines, annex 5-3 (4), 5-4 (10)"},
        (struct say){"受託者を含む全てのデータ利用者がデータ提供者から利用許可を受けている",
                     "every data user, contractors included, has the data provider's approval"},
        unapproved ? &W_WARN : &W_PASS, note);
}

/* Who in the group may read the data: the PI and each grant. */
static void group_table(struct checklist *k)
{
    const struct kura_dataset *ds = k->ds;
    struct kura_report_table *t = kura_report_table(k->r, &T_GROUP, GROUP_COLS, KURA_COUNT(GROUP_COLS), &cmd_label_none);
    char a[32], b[32];
    if (kura_date_format(ds->from, k->c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    const struct kura_report_cell pi[] = {KURA_CELL_TEXT(ds->pi), KURA_CELL_WORD(cmd_report_role_word(KURA_ROLE_PI)),
                                          KURA_CELL_TEXT(a), KURA_CELL_TEXT(cmd_last_day(k->c, ds->until, b, sizeof b)),
                                          KURA_CELL_TEXT(""), KURA_CELL_WORD(&W_SERVED)};
    kura_report_row(k->r, t, pi);
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        if (kura_date_format(g->from, k->c->env->cfg->zone, a, sizeof a) != 0)
            snprintf(a, sizeof a, "?");
        const struct kura_report_cell cells[] = {
            KURA_CELL_TEXT(g->user), KURA_CELL_WORD(cmd_report_role_word(g->role)), KURA_CELL_TEXT(a),
            KURA_CELL_TEXT(cmd_last_day(k->c, g->until, b, sizeof b)),
            g->approval[0] ? KURA_CELL_TEXT(g->approval) : KURA_CELL_BLANK,
            KURA_CELL_WORD(g->pending ? &W_PENDING : &W_SERVED)};
        kura_report_row(k->r, t, cells);
    }
}

static void build(struct checklist *k, bool group)
{
    char who[96];
    kura_report_init(k->r, group ? &TITLE_GROUP : &TITLE, k->ds->id);
    cmd_report_dataset_items(k->c, k->r, k->ds);
    kura_report_item(k->r, &L_HOST, KURA_CELL_TEXT(k->ds->host_id));
    kura_report_item(k->r, &cmd_label_made_by, KURA_CELL_TEXT(cmd_actor_label(k->c, who, sizeof who)));
    kura_report_item(k->r, &L_ANSWERS, KURA_CELL_WORD(&W_ANSWERS));
    k->t = kura_report_table(k->r, &T_ITEMS, ITEM_COLS, KURA_COUNT(ITEM_COLS), NULL);
    if (!k->t)
        return;
    check_rows(k);
    kura_rows(k, group);
    if (group)
        group_rows(k);
    for (size_t i = 0; i < KURA_COUNT(site_items); i++)
        row(k, site_items[i].id, site_items[i].ref, site_items[i].item, &W_SITE, NULL);
    for (size_t i = 0; group && i < KURA_COUNT(group_site_items); i++)
        row(k, group_site_items[i].id, group_site_items[i].ref, group_site_items[i].item, &W_SITE, NULL);
    if (group)
        group_table(k);
}

int cmd_report_checklist(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct cmd_report_form f = {0};
    bool group = false;
    const char *old_verify = NULL;
    const struct cmd_opt opts[] = {{"group", false, NULL, &group}, {"verify", true, &old_verify, NULL},
                                   CMD_REPORT_FORM_OPTS(f), {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0 || cmd_report_form_check(c, &f) != 0)
        return KURA_EXIT_USAGE;
    /* One verification path for every report: the signature. */
    if (old_verify)
        return cmd_usage(c, "--verify is gone: check a copy with kuractl report verify %s (its signature, as every "
                            "report's)", old_verify);
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], KURA_CMD_PI, CMD_TXN_LEDGER, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_report r = {0};
    struct checklist k = {.c = c, .ds = &t.ds, .r = &r, .lang = cmd_report_form_lang(c, &f, &t.ds)};
    enum cmd_report_format format = cmd_report_form_format(&f);
    char *text = NULL, *ledger = NULL;
    size_t len = 0;
    struct kura_err e = {0};
    build(&k, group);
    if (cmd_report_render(c, &r, format, k.lang, &text, &len, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    /* Recorded before it is shown: a report kura printed is one the ledger knows. */
    static const char *const format_names[] = {[CMD_REPORT_MD] = "markdown", [CMD_REPORT_HTML] = "html",
                                               [CMD_REPORT_CSV] = "csv", [CMD_REPORT_JSON] = "json"};
    char sha[65], detail[96], after[32], actor[KURA_USER_MAX + 16];
    cmd_sha256_hex(text, len, sha);
    snprintf(detail, sizeof detail, CHECKLIST_DETAIL "%s", sha);
    snprintf(after, sizeof after, "%s%s", format_names[format], group ? " group" : "");
    struct kura_ledger_change lc = {.actor = cmd_actor_name(c, actor, sizeof actor), .uid = c->actor->uid,
                                    .action = CHECKLIST_ACTION, .target = t.id, .detail = detail, .before = "",
                                    .after = after};
    if (!(ledger = cmd_dataset_file(c, t.id, KURA_LEDGER_FILE)) ||
        kura_ledger_append(ledger, &lc, cmd_now(), c->env->cfg->zone, NULL, &e) != 0) {
        cmd_fail(c, "cannot record the report in the ledger%s%s", e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    fwrite(text, 1, len, c->out);
    fprintf(c->err, "kuractl report checklist: recorded in the ledger of dataset %s (sha256 %s)%s\n", t.id, sha,
            format == CMD_REPORT_MD || format == CMD_REPORT_HTML ? "; check a copy with kuractl report verify FILE"
                                                                 : "");
    /* AGD is one of the NBDC's group-sharing databases: its form is the other one */
    if (!group && t.ds.kind == KURA_KIND_AGD)
        fprintf(c->err, "kuractl report checklist: dataset %s is AGD (group-shared data): its form is the "
                        "group-sharing checklist, --group\n", t.id);
    rc = KURA_EXIT_OK;
out:
    kura_report_free(&r);
    free(text);
    free(ledger);
    cmd_txn_end(&t);
    return rc;
}
