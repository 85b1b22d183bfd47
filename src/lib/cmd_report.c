/* kuractl report usage ID [--from WHEN] [--to WHEN] [--csv|--json|--html] [--lang en|ja]
 * (R-LOG-4): the yearly usage report a PI submits (利用状況の報告): users
 * and their periods, opens and bytes read per user, refused attempts
 * (operators' own apart: they are not users of the data), changes to the
 * list, withdrawals and incidents (bulk-read alerts, suspensions,
 * lockdowns), from the audit log and the ledger. One model (report.h),
 * printed as Markdown, as a printable HTML page, as CSV (the users table)
 * or as JSON. */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/ledger.h"
#include "kura/report.h"
#include "kura/when.h"

typedef struct kura_report_label label;

static const label TITLE = {"usage", "Usage report", "利用状況の報告"};
static const label L_FROM = {"report_from", "Reporting period from", "報告対象期間（開始）"};
static const label L_TO = {"report_to", "Reporting period to", "報告対象期間（終了）"};
static const label L_TITLE = {"title", "Title", "データセット名"};
static const label L_KIND = {"kind", "Kind", "種別"};
static const label L_LEVEL = {"level", "Security level", "セキュリティレベル"};
static const label L_STATUS = {"status", "Status", "状態"};
static const label L_APPROVED_FROM = {"approved_from", "Approved period from", "利用承認期間（開始）"};
static const label L_APPROVED_UNTIL = {"approved_until", "Approved period until", "利用承認期間（終了）"};
static const label L_PI = {"pi", "PI", "研究代表者"};
/* Records kura does not keep (yet): marked blanks the PI fills in. */
static const label L_INSTITUTION = {"pi_institution", "PI's institution", "研究代表者の所属機関"};
static const label L_ETHICS = {"ethics_approval", "Ethics approval", "倫理審査委員会の承認"};
static const label L_MADE = {"made_at", "Made at", "作成日時"};
static const label L_LOG = {"audit_log_seq", "Audit log read to record", "監査ログの確認範囲（記録番号）"};

static const label T_USERS = {"users", "Users", "データ利用者"};
static const label C_USER = {"user", "user", "利用者"};
static const label C_ROLE = {"role", "role", "役割"};
static const label C_FROM = {"from", "from", "利用開始日"};
static const label C_UNTIL = {"until", "until", "利用終了日"};
static const label C_OPENS = {"opens", "opens", "アクセス回数"};
static const label C_BYTES = {"bytes_read", "bytes read", "読み出し量"};
static const label C_REFUSED = {"refused", "refused", "拒否された試行"};
static const label C_LAST = {"last_access", "last access", "最終アクセス"};
static const label *const USER_COLS[] = {&C_USER, &C_ROLE, &C_FROM, &C_UNTIL, &C_OPENS, &C_BYTES, &C_REFUSED, &C_LAST};

static const label T_OPERATORS = {"operator_refusals", "Operators' refused attempts (not users of the data)",
                                  "運用管理者の拒否された試行（データ利用者ではない）"};
static const label C_LAST_TRY = {"last_attempt", "last attempt", "最終試行"};
static const label *const OPERATOR_COLS[] = {&C_USER, &C_REFUSED, &C_LAST_TRY};

static const label T_CHANGES = {"changes", "Changes to the dataset and its users", "データ利用者リストとデータセットの変更"};
static const label C_TIME = {"time", "time", "日時"};
static const label C_BY = {"by", "by", "実施者"};
static const label C_ACTION = {"action", "action", "内容"};
static const label C_TARGET = {"target", "target", "対象"};
static const label C_BEFORE = {"before", "before", "変更前"};
static const label C_AFTER = {"after", "after", "変更後"};
static const label C_DETAIL = {"detail", "detail", "詳細"};
static const label *const CHANGE_COLS[] = {&C_TIME, &C_BY, &C_ACTION, &C_TARGET, &C_BEFORE, &C_AFTER, &C_DETAIL};

static const label T_WITHDRAWALS = {"withdrawals", "Consent withdrawals", "同意撤回"};
static const label C_SAMPLE = {"sample", "sample", "試料ID"};
static const label C_WITHDRAWN = {"withdrawn_at", "withdrawn at", "撤回日時"};
static const label C_REF = {"reference", "reference", "参照番号"};
static const label *const WITHDRAWAL_COLS[] = {&C_SAMPLE, &C_WITHDRAWN, &C_REF};

static const label T_INCIDENTS = {"incidents", "Incidents (alerts, suspensions, lockdowns)",
                                  "インシデント（警告・利用停止・緊急停止）"};
static const label C_EVENT = {"event", "event", "種類"};
static const label C_REASON = {"reason", "reason", "理由"};
static const label *const INCIDENT_COLS[] = {&C_TIME, &C_EVENT, &C_USER, &C_REASON, &C_DETAIL, &C_BYTES};

static const label NONE = {"none", "none", "なし"};

static const label W_PI = {"pi", "PI", "研究代表者"};
static const label W_CO = {"co-investigator", "co-investigator", "共同研究者"};
static const label W_CONTRACTOR = {"contractor", "contractor", "委託先"};
static const label W_UNLISTED = {"not-listed", "not listed", "リスト外"};

static const label *role_word(enum kura_role r)
{
    return r == KURA_ROLE_PI ? &W_PI : r == KURA_ROLE_CONTRACTOR ? &W_CONTRACTOR : &W_CO;
}

static const label W_ALERT = {"alert", "alert", "警告"};
static const label W_SUSPEND = {"suspend", "suspended", "利用停止"};
static const label W_RESUME = {"resume", "resumed", "利用再開"};
static const label W_LOCKDOWN = {"lockdown", "server lockdown", "サーバ緊急停止"};
static const label W_UNLOCK = {"unlock", "lockdown ended", "緊急停止解除"};

static const label *event_word(int event)
{
    switch (event) {
    case KURA_AUDIT_SUSPEND:
        return &W_SUSPEND;
    case KURA_AUDIT_RESUME:
        return &W_RESUME;
    case KURA_AUDIT_LOCKDOWN:
        return &W_LOCKDOWN;
    case KURA_AUDIT_UNLOCK:
        return &W_UNLOCK;
    default:
        return &W_ALERT;
    }
}

#define N(a) (sizeof a / sizeof *a)

enum kura_report_lang cmd_report_lang(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    enum kura_report_lang lang;
    if (kura_report_lang_parse(c->env->cfg->report_lang, &lang) == 0)
        return lang;
    /* auto: the NBDC's forms are Japanese, and every kind kura knows (JGA,
     * AGD) reports to the NBDC */
    return ds->kind == KURA_KIND_JGA || ds->kind == KURA_KIND_AGD ? KURA_REPORT_JA : KURA_REPORT_EN;
}

struct changes {
    struct kura_report *r;
    struct kura_report_table *t;
    const struct kura_cmd_ctx *c;
    int64_t from, to;           /* seconds */
};

static int list_change(const struct kura_ledger_record *lr, void *arg)
{
    struct changes *ch = arg;
    int64_t t, end;
    if (kura_when_parse(lr->time, ch->c->env->cfg->timezone, &t, &end, NULL) != 0 || t < ch->from || t >= ch->to)
        return 0;
    if (strncmp(lr->action, "user-", 5) != 0 && strcmp(lr->action, "withdraw") != 0 &&
        strncmp(lr->action, "dataset-", 8) != 0)
        return 0;
    const struct kura_report_cell row[] = {KURA_CELL_TEXT(lr->time),   KURA_CELL_TEXT(lr->actor),
                                           KURA_CELL_TEXT(lr->action), KURA_CELL_TEXT(lr->target),
                                           KURA_CELL_TEXT(lr->before), KURA_CELL_TEXT(lr->after),
                                           KURA_CELL_TEXT(lr->detail)};
    kura_report_row(ch->r, ch->t, row);
    return 0;
}

/* Root, or a member of the operators' group: refusals of such an account
 * at a dataset it is not listed for are an operator looking, not use. */
static bool is_operator(int64_t uid)
{
    struct kura_actor a;
    return uid >= 0 && kura_actor_resolve((uid_t)uid, (gid_t)-1, 0, &a, NULL) == 0 && a.operator;
}

/* One listed user's row: the period is their grant's. */
static void listed_row(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *t,
                       const char *user, const label *role, int64_t from, int64_t until, const struct cmd_user_usage *u)
{
    char a[32], b[32], last[48] = "";
    if (kura_date_format(from, c->env->cfg->timezone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, until, b, sizeof b);
    if (u && u->last_ms)
        cmd_time(c, u->last_ms / 1000, last, sizeof last);
    const struct kura_report_cell row[] = {
        KURA_CELL_TEXT(user), KURA_CELL_WORD(role), KURA_CELL_TEXT(a), KURA_CELL_TEXT(b),
        KURA_CELL_INT(u ? u->opens : 0), KURA_CELL_BYTES(u ? u->bytes : 0), KURA_CELL_INT(u ? u->refused : 0),
        last[0] ? KURA_CELL_TEXT(last) : KURA_CELL_WORD(&NONE)};
    kura_report_row(r, t, row);
}

/* Everyone else the log saw at this dataset: former users and outsiders
 * (no period: "none", said the same way in every format), and operators
 * who were refused (apart). */
static void unlisted_rows(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *users,
                          struct kura_report_table *ops, const struct kura_dataset *ds, const struct cmd_usage *use)
{
    for (size_t i = 0; i < use->n; i++) {
        const struct cmd_user_usage *u = &use->users[i];
        const struct kura_grant *g = kura_dataset_grant(ds, (uid_t)u->uid);
        if ((u->uid == ds->pi_uid && strcmp(u->user, ds->pi) == 0) || (g && strcmp(g->user, u->user) == 0))
            continue;
        char last[48] = "";
        if (u->last_ms)
            cmd_time(c, u->last_ms / 1000, last, sizeof last);
        const char *name = u->user[0] ? u->user : "(no account)";
        if (!u->opens && !u->bytes && is_operator(u->uid)) {
            const struct kura_report_cell row[] = {KURA_CELL_TEXT(name), KURA_CELL_INT(u->refused),
                                                   KURA_CELL_TEXT(u->last_refused_ms ? cmd_time(c, u->last_refused_ms / 1000, last, sizeof last) : "")};
            kura_report_row(r, ops, row);
            continue;
        }
        const struct kura_report_cell row[] = {
            KURA_CELL_TEXT(name),           KURA_CELL_WORD(&W_UNLISTED),   KURA_CELL_WORD(&NONE),
            KURA_CELL_WORD(&NONE),          KURA_CELL_INT(u->opens),       KURA_CELL_BYTES(u->bytes),
            KURA_CELL_INT(u->refused),      last[0] ? KURA_CELL_TEXT(last) : KURA_CELL_WORD(&NONE)};
        kura_report_row(r, users, row);
    }
}

static void incident_rows(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_usage *use)
{
    struct kura_report_table *t = kura_report_table(r, &T_INCIDENTS, INCIDENT_COLS, N(INCIDENT_COLS), &NONE);
    for (size_t i = 0; i < use->nevents; i++) {
        const struct cmd_usage_event *ev = &use->events[i];
        char at[48];
        const struct kura_report_cell row[] = {
            KURA_CELL_TEXT(cmd_time(c, ev->time_ms / 1000, at, sizeof at)), KURA_CELL_WORD(event_word(ev->event)),
            KURA_CELL_TEXT(ev->user), KURA_CELL_TEXT(ev->reason), KURA_CELL_TEXT(ev->detail),
            KURA_CELL_BYTES(ev->bytes > 0 ? (uint64_t)ev->bytes : 0)};
        kura_report_row(r, t, row);
    }
}

/* Fills r from the dataset's records for [from, to). */
static int build_usage(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, int64_t from, int64_t to,
                       struct kura_report *r, struct kura_err *e)
{
    const char *tz = c->env->cfg->timezone;
    struct cmd_usage use = {0};
    if (cmd_usage_scan(c, ds->id, from * 1000, to * 1000, &use, e) != 0)
        return -1;
    char a[48], b[48];
    kura_report_init(r, &TITLE, ds->id);
    kura_report_item(r, &L_FROM, KURA_CELL_TEXT(cmd_time(c, from, a, sizeof a)));
    kura_report_item(r, &L_TO, KURA_CELL_TEXT(cmd_time(c, to - 1, a, sizeof a)));
    kura_report_item(r, &L_TITLE, KURA_CELL_TEXT(ds->title));
    kura_report_item(r, &L_KIND, KURA_CELL_TEXT(kura_kind_name(ds->kind)));
    kura_report_item(r, &L_LEVEL, KURA_CELL_TEXT(kura_level_name(ds->level)));
    kura_report_item(r, &L_STATUS, KURA_CELL_TEXT(kura_ds_status_name(ds->status)));
    kura_report_item(r, &L_APPROVED_FROM, KURA_CELL_TEXT(kura_date_format(ds->from, tz, b, sizeof b) == 0 ? b : "?"));
    kura_report_item(r, &L_APPROVED_UNTIL, KURA_CELL_TEXT(cmd_last_day(c, ds->until, b, sizeof b)));
    kura_report_item(r, &L_PI, KURA_CELL_TEXT(ds->pi));
    kura_report_item(r, &L_INSTITUTION, KURA_CELL_BLANK);
    kura_report_item(r, &L_ETHICS, KURA_CELL_BLANK);
    kura_report_item(r, &L_MADE, KURA_CELL_TEXT(cmd_time(c, cmd_now(), a, sizeof a)));
    kura_report_item(r, &L_LOG, KURA_CELL_INT(use.last_seq));

    struct kura_report_table *users = kura_report_table(r, &T_USERS, USER_COLS, N(USER_COLS), &NONE);
    listed_row(c, r, users, ds->pi, &W_PI, ds->from, ds->until, cmd_usage_find(&use, ds->pi, ds->pi_uid));
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        listed_row(c, r, users, g->user, role_word(g->role), g->from, g->until, cmd_usage_find(&use, g->user, g->uid));
    }
    struct kura_report_table *ops = kura_report_table(r, &T_OPERATORS, OPERATOR_COLS, N(OPERATOR_COLS), &NONE);
    unlisted_rows(c, r, users, ops, ds, &use);

    int rc = 0;
    char *ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE);
    struct changes ch = {.r = r, .c = c, .from = from, .to = to,
                         .t = kura_report_table(r, &T_CHANGES, CHANGE_COLS, N(CHANGE_COLS), &NONE)};
    if (!ledger) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    } else if (kura_ledger_read(ledger, list_change, &ch, e) != 0) {
        kura_err_set(e, e->code, "the ledger does not verify: %s", e->msg);
        rc = -1;
    }
    free(ledger);

    struct kura_report_table *w = kura_report_table(r, &T_WITHDRAWALS, WITHDRAWAL_COLS, N(WITHDRAWAL_COLS), &NONE);
    for (size_t i = 0; i < ds->nwithdrawals; i++) {
        const struct kura_withdrawal *wd = &ds->withdrawals[i];
        if (wd->at < from || wd->at >= to)
            continue;
        const struct kura_report_cell row[] = {KURA_CELL_TEXT(wd->sample), KURA_CELL_TEXT(cmd_time(c, wd->at, a, sizeof a)),
                                               KURA_CELL_TEXT(wd->ref)};
        kura_report_row(r, w, row);
    }
    incident_rows(c, r, &use);
    cmd_usage_free(&use);
    return rc;
}

int cmd_report_usage(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *from_s = NULL, *to_s = NULL, *lang_s = NULL;
    bool csv = false, json = false, html = false;
    const struct cmd_opt opts[] = {{"from", true, &from_s, NULL}, {"to", true, &to_s, NULL},
                                   {"csv", false, NULL, &csv},    {"json", false, NULL, &json},
                                   {"html", false, NULL, &html},  {"lang", true, &lang_s, NULL}, {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (csv + json + html > 1)
        return cmd_usage(c, "--csv, --json, --html: give one");
    enum kura_report_lang lang;
    if (lang_s && kura_report_lang_parse(lang_s, &lang) != 0)
        return cmd_usage(c, "--lang %s: en or ja", lang_s);
    struct kura_err e = {0};
    int64_t from = 0, to = 0, s, end;
    const char *tz = c->env->cfg->timezone;
    if (from_s) {
        if (kura_when_parse(from_s, tz, &s, &end, &e) != 0)
            return cmd_usage(c, "--from: %s", e.msg);
        from = s;
    }
    if (to_s) {
        if (kura_when_parse(to_s, tz, &s, &end, &e) != 0)
            return cmd_usage(c, "--to: %s", e.msg);
        to = s == end ? s : end;        /* a date counts whole */
    }
    struct cmd_txn t;
    if (cmd_txn_begin(c, pos[0], false, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_report r = {0};
    const struct kura_dataset *ds = &t.ds;
    if (cmd_require_manager(c, ds) != 0)
        goto out;
    if (!from_s)
        from = ds->from;
    if (!to_s)
        to = cmd_now() + 1;
    if (to <= from) {
        cmd_usage(c, "--to must be after --from");
        goto out;
    }
    if (!lang_s)
        lang = cmd_report_lang(c, ds);
    if (build_usage(c, ds, from, to, &r, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    rc = cmd_report_print(c, &r,
                          csv ? CMD_REPORT_CSV : json ? CMD_REPORT_JSON : html ? CMD_REPORT_HTML : CMD_REPORT_MD, lang);
out:
    kura_report_free(&r);
    cmd_txn_end(&t);
    return rc;
}
