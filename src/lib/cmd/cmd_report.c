/* kuractl report usage ID [--from WHEN] [--to WHEN] [--csv|--json|--html] [--lang en|ja]
 * (R-LOG-4): the yearly usage report a PI submits (利用状況の報告): users
 * and their periods, opens, read-throughs and bytes read per user, refused attempts
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
#include "kura/grow.h"
#include "kura/ledger.h"
#include "kura/report.h"
#include "kura/when.h"

typedef struct kura_report_label label;

/* Labels more than one report says: one meaning, one text (cmd_priv.h). */
const label cmd_label_title = {"title", "Title", "データセット名"};
const label cmd_label_kind = {"kind", "Kind", "種別"};
const label cmd_label_level = {"level", "Security level", "セキュリティレベル"};
const label cmd_label_pi = {"pi", "PI", "研究代表者"};
const label cmd_label_made_at = {"made_at", "Made at", "作成日時"};
const label cmd_label_made_by = {"made_by", "Made by", "作成者"};
const label cmd_label_user = {"user", "user", "利用者"};
const label cmd_label_file = {"file", "file", "ファイル"};
const label cmd_label_path = {"path", "file", "ファイル"};
const label cmd_label_file_id = {"file_id", "file id", "ファイルID"};
const label cmd_label_opens = {"opens", "opens", "アクセス回数"};
/* Reads through a file another process opened (a reader's record): no open
 * of the reader's, counted apart so that opens stay the files opened. */
const label cmd_label_read_throughs = {"read_throughs", "read-throughs", "他のプロセスが開いたファイルの読み出し回数"};
const label cmd_label_bytes_read = {"bytes_read", "bytes read", "読み出し量"};
const label cmd_label_refused = {"refused", "refused", "拒否された試行"};
const label cmd_label_none = {"none", "none", "なし"};

static const label TITLE = {"usage", "Usage report", "利用状況の報告"};
static const label L_FROM = {"report_from", "Reporting period from", "報告対象期間（開始）"};
static const label L_TO = {"report_to", "Reporting period to", "報告対象期間（終了）"};
static const label L_STATUS = {"status", "Status", "状態"};
static const label L_APPROVED_FROM = {"approved_from", "Approved period from", "利用承認期間（開始）"};
static const label L_APPROVED_UNTIL = {"approved_until", "Approved period until", "利用承認期間（終了）"};
/* A record kura does not keep (yet): a marked blank the PI fills in. */
static const label L_INSTITUTION = {"pi_institution", "PI's institution", "研究代表者の所属機関"};
/* Recorded by dataset add/extend --ethics; a blank when it was not. */
static const label L_ETHICS = {"ethics_approval", "Ethics approval", "倫理審査委員会の承認"};
static const label L_ETHICS_UNTIL = {"ethics_until", "Ethics approval until", "倫理審査委員会の承認の期限"};
static const label L_LOG = {"audit_log_seq", "Audit log read to record", "監査ログの確認範囲（記録番号）"};
static const label L_LOG_FIRST = {"audit_log_first_seq", "Audit log read from record", "監査ログの確認範囲（開始記録番号）"};
static const label L_LOG_MISSING = {"audit_log_missing_before", "Records missing from the audit log before",
                                    "監査ログに記録が残っていない期間（この日時より前）"};
static const label L_LOG_GAPS = {"audit_log_missing_within", "Records missing within the audit log read (kuractl audit verify names them)",
                                 "確認範囲内で欠落している監査ログの記録数（kuractl audit verify で特定）"};

static const label T_USERS = {"users", "Users", "データ利用者"};
static const label C_ROLE = {"role", "role", "役割"};
static const label C_FROM = {"from", "from", "利用開始日"};
static const label C_UNTIL = {"until", "until", "利用終了日"};
static const label C_LAST = {"last_access", "last access", "最終アクセス"};
static const label C_USER_INSTITUTION = {"institution", "institution", "所属機関"};
static const label C_TRAINED = {"trained", "training completed", "教育受講日"};
static const label *const USER_COLS[] = {&cmd_label_user,       &C_ROLE,           &C_FROM,
                                         &C_UNTIL,              &cmd_label_opens,  &cmd_label_read_throughs,
                                         &cmd_label_bytes_read, &cmd_label_refused, &C_LAST,
                                         &C_USER_INSTITUTION,   &C_TRAINED};

static const label T_UNCLOSED = {"unclosed", "Opens without a close in the period (the bytes read through them are in no figure above)",
                                 "期間内に終了していないアクセス（その読み出し量は上の集計に含まれない）"};
static const label C_OPENED = {"opened_at", "opened at", "開始日時"};
static const label *const UNCLOSED_COLS[] = {&cmd_label_user, &cmd_label_file, &C_OPENED};

static const label T_OPERATORS = {"operator_refusals", "Operators' refused attempts (not users of the data)",
                                  "運用管理者の拒否された試行（データ利用者ではない）"};
static const label C_LAST_TRY = {"last_attempt", "last attempt", "最終試行"};
static const label *const OPERATOR_COLS[] = {&cmd_label_user, &cmd_label_refused, &C_LAST_TRY};

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
static const label *const INCIDENT_COLS[] = {&C_TIME,   &C_EVENT,  &cmd_label_user,
                                             &C_REASON, &C_DETAIL, &cmd_label_bytes_read};

static const label W_CO = {"co-investigator", "co-investigator", "共同研究者"};
static const label W_CONTRACTOR = {"contractor", "contractor", "委託先"};
static const label W_UNLISTED = {"not-listed", "not listed", "リスト外"};
/* Listed once, in a period the ledger gives (the row's from..until), no more. */
static const label W_FORMER_PI = {"former-pi", "former PI", "元研究代表者"};
static const label W_FORMER_USER = {"former-user", "former user", "元データ利用者"};
/* An institution or training the ledger does not give (a PI's: kura keeps
 * none), which "none" would say the person had not. */
static const label W_NOT_RECORDED = {"not-recorded", "not recorded", "記録されていない"};

const label *cmd_report_role_word(enum kura_role r)
{
    return r == KURA_ROLE_PI ? &cmd_label_pi : r == KURA_ROLE_CONTRACTOR ? &W_CONTRACTOR : &W_CO;
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

enum kura_report_lang cmd_report_lang(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    enum kura_report_lang lang;
    if (kura_report_lang_parse(c->env->cfg->report_lang, &lang) == 0)
        return lang;
    /* auto: the NBDC's forms are Japanese, and every kind kura knows (JGA,
     * AGD) reports to the NBDC; so does a report of the whole server (NULL) */
    return !ds || ds->kind == KURA_KIND_JGA || ds->kind == KURA_KIND_AGD ? KURA_REPORT_JA : KURA_REPORT_EN;
}

int cmd_report_form_check(const struct kura_cmd_ctx *c, const struct cmd_report_form *f)
{
    enum kura_report_lang lang;
    if (f->md + f->csv + f->json + f->html > 1)
        return cmd_usage(c, "--md, --csv, --json, --html: give one");
    if (f->lang && kura_report_lang_parse(f->lang, &lang) != 0)
        return cmd_usage(c, "--lang %s: en or ja", f->lang);
    return 0;
}

enum cmd_report_format cmd_report_form_format(const struct cmd_report_form *f)
{
    return f->csv ? CMD_REPORT_CSV : f->json ? CMD_REPORT_JSON : f->html ? CMD_REPORT_HTML : CMD_REPORT_MD;
}

enum kura_report_lang cmd_report_form_lang(const struct kura_cmd_ctx *c, const struct cmd_report_form *f,
                                           const struct kura_dataset *ds)
{
    enum kura_report_lang lang = cmd_report_lang(c, ds);
    if (f->lang)
        kura_report_lang_parse(f->lang, &lang); /* checked by cmd_report_form_check */
    return lang;
}

int cmd_report_form_print(const struct kura_cmd_ctx *c, const struct kura_report *r, const struct cmd_report_form *f,
                          const struct kura_dataset *ds)
{
    return cmd_report_print(c, r, cmd_report_form_format(f), cmd_report_form_lang(c, f, ds));
}

/* The use of ds in [from_ms, to_ms) (to_ms 0: no end), its users' records
 * by the listing (l, from the ledger) they fell in. */
static int listed_use(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, int64_t from_ms, int64_t to_ms,
                      struct cmd_usage *use, struct cmd_listings *l, struct kura_err *e)
{
    if (cmd_listings_read(c, ds, l, e) != 0)
        return -1;
    return cmd_usage_scan(c, ds->id, l, from_ms, to_ms, use, e);
}

/* The opening of the reports of the whole use of a dataset (end-of-use,
 * secondary-data): id locked and loaded (with its files if asked), the
 * caller its PI or an operator, its use over the whole audit log read.
 * Prints the reason and returns -1 otherwise; end t and free use and l
 * either way. */
static int whole_use_begin(const struct kura_cmd_ctx *c, const char *id, bool with_files, struct cmd_txn *t,
                           struct cmd_usage *use, struct cmd_listings *l)
{
    struct kura_err e = {0};
    memset(use, 0, sizeof *use);
    memset(l, 0, sizeof *l);
    unsigned what = CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK | (with_files ? CMD_TXN_FILES : 0);
    if (cmd_txn_begin(c, id, KURA_CMD_PI, what, t) != 0)
        return -1;
    if (listed_use(c, &t->ds, 0, 0, use, l, &e) != 0) {
        cmd_fail_err(c, &e);
        return -1;
    }
    return 0;
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
    if (kura_when_parse(lr->time, ch->c->env->cfg->zone, &t, &end, NULL) != 0 || t < ch->from || t >= ch->to)
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

/* One listed user's row: the period and the records are their grant's
 * (g NULL: the PI's, who holds none). */
static void listed_row(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *t,
                       const char *user, const label *role, int64_t from, int64_t until, const struct kura_grant *g,
                       const struct cmd_user_usage *u)
{
    char a[32], b[32], last[48] = "";
    if (kura_date_format(from, c->env->cfg->zone, a, sizeof a) != 0)
        snprintf(a, sizeof a, "?");
    cmd_last_day(c, until, b, sizeof b);
    if (u && u->last_ms)
        cmd_time(c, u->last_ms / 1000, last, sizeof last);
    const struct kura_report_cell row[] = {
        KURA_CELL_TEXT(user), KURA_CELL_WORD(role), KURA_CELL_TEXT(a), KURA_CELL_TEXT(b),
        KURA_CELL_INT(u ? u->opens : 0), KURA_CELL_INT(u ? u->read_throughs : 0), KURA_CELL_BYTES(u ? u->bytes : 0),
        KURA_CELL_INT(u ? u->refused : 0),
        last[0] ? KURA_CELL_TEXT(last) : KURA_CELL_WORD(&cmd_label_none),
        !g ? KURA_CELL_WORD(&W_NOT_RECORDED) : g->institution[0] ? KURA_CELL_TEXT(g->institution) : KURA_CELL_WORD(&cmd_label_none),
        !g ? KURA_CELL_WORD(&W_NOT_RECORDED) : g->trained[0] ? KURA_CELL_TEXT(g->trained) : KURA_CELL_WORD(&cmd_label_none)};
    kura_report_row(r, t, row);
}

/* A users row of someone the dataset does not list now: their use (u NULL:
 * none), and the institution and training of the listing x (NULL: none,
 * they were not listed) as the ledger gave them. */
static void unlisted_row(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *t,
                         const char *name, const label *role, struct kura_report_cell from, struct kura_report_cell until,
                         const struct cmd_user_usage *u, const struct cmd_listing *x)
{
    static const struct cmd_user_usage unused;
    u = u ? u : &unused;
    const struct kura_report_cell none = KURA_CELL_WORD(&cmd_label_none), unknown = KURA_CELL_WORD(&W_NOT_RECORDED);
    char last[48] = "";
    if (u->last_ms)
        cmd_time(c, u->last_ms / 1000, last, sizeof last);
    const struct kura_report_cell row[] = {KURA_CELL_TEXT(name),
                                           KURA_CELL_WORD(role),
                                           from,
                                           until,
                                           KURA_CELL_INT(u->opens),
                                           KURA_CELL_INT(u->read_throughs),
                                           KURA_CELL_BYTES(u->bytes),
                                           KURA_CELL_INT(u->refused),
                                           last[0] ? KURA_CELL_TEXT(last) : KURA_CELL_WORD(&cmd_label_none),
                                           !x ? none : !x->recorded ? unknown : x->institution[0] ? KURA_CELL_TEXT(x->institution) : none,
                                           !x ? none : !x->recorded ? unknown : x->trained[0] ? KURA_CELL_TEXT(x->trained) : none};
    kura_report_row(r, t, row);
}

/* Who was listed and is no more, one row per listing that overlaps
 * [from, to) (seconds) or that the log saw use in: the period the ledger
 * gives it (its times: a removal ends it within a day), so that a former
 * PI's or user's reads never pass for an outsider's, nor a re-added
 * user's old reads for their grant's now, and everyone who had access in
 * the period is named, whether they used it or not. */
static void former_rows(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *t,
                        const struct cmd_listings *l, const struct cmd_usage *use, int64_t from, int64_t to)
{
    for (size_t k = 0; k < l->n; k++) {
        const struct cmd_listing *x = &l->v[k];
        if (x->current)
            continue;
        const struct cmd_user_usage *u = cmd_usage_find(use, x->user, x->uid, k + 1);
        if (!u && (x->from >= to || x->until < from))
            continue;
        char a[48], b[48];
        unlisted_row(c, r, t, x->user, x->pi ? &W_FORMER_PI : &W_FORMER_USER, KURA_CELL_TEXT(cmd_time(c, x->from, a, sizeof a)),
                     x->until == INT64_MAX ? KURA_CELL_WORD(&cmd_label_none)
                                           : KURA_CELL_TEXT(cmd_time(c, x->until, b, sizeof b)),
                     u, x);
    }
}

/* Everyone else the log saw at this dataset: outsiders, and those listed
 * at other times who opened outside every listing (no period: "none",
 * said the same way in every format), and operators who were refused
 * (apart). */
static void unlisted_rows(const struct kura_cmd_ctx *c, struct kura_report *r, struct kura_report_table *users,
                          struct kura_report_table *ops, const struct cmd_usage *use)
{
    for (size_t i = 0; i < use->n; i++) {
        const struct cmd_user_usage *u = &use->users[i];
        if (u->listing)
            continue;
        const char *name = u->user[0] ? u->user : "(no account)";
        if (!u->opens && !u->read_throughs && !u->bytes && is_operator(u->uid)) {
            char last[48];
            const struct kura_report_cell row[] = {KURA_CELL_TEXT(name), KURA_CELL_INT(u->refused),
                                                   KURA_CELL_TEXT(u->last_refused_ms ? cmd_time(c, u->last_refused_ms / 1000, last, sizeof last) : "")};
            kura_report_row(r, ops, row);
            continue;
        }
        unlisted_row(c, r, users, name, &W_UNLISTED, KURA_CELL_WORD(&cmd_label_none), KURA_CELL_WORD(&cmd_label_none), u,
                     NULL);
    }
}

static void incident_rows(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_usage *use)
{
    struct kura_report_table *t = kura_report_table(r, &T_INCIDENTS, INCIDENT_COLS, KURA_COUNT(INCIDENT_COLS), &cmd_label_none);
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

/* What every report of a dataset says of it, and the blanks for the
 * records kura does not keep. */
void cmd_report_dataset_items(const struct kura_cmd_ctx *c, struct kura_report *r, const struct kura_dataset *ds)
{
    const struct kura_zone *tz = c->env->cfg->zone;
    char b[48];
    kura_report_item(r, &cmd_label_title, KURA_CELL_TEXT(ds->title));
    kura_report_item(r, &cmd_label_kind, KURA_CELL_TEXT(kura_kind_name(ds->kind)));
    kura_report_item(r, &cmd_label_level, KURA_CELL_TEXT(kura_level_name(ds->level)));
    kura_report_item(r, &L_STATUS, KURA_CELL_TEXT(kura_ds_status_name(ds->status)));
    kura_report_item(r, &L_APPROVED_FROM, KURA_CELL_TEXT(kura_date_format(ds->from, tz, b, sizeof b) == 0 ? b : "?"));
    kura_report_item(r, &L_APPROVED_UNTIL, KURA_CELL_TEXT(cmd_last_day(c, ds->until, b, sizeof b)));
    kura_report_item(r, &cmd_label_pi, KURA_CELL_TEXT(ds->pi));
    kura_report_item(r, &L_INSTITUTION, KURA_CELL_BLANK);
    kura_report_item(r, &L_ETHICS, ds->ethics[0] ? KURA_CELL_TEXT(ds->ethics) : KURA_CELL_BLANK);
    kura_report_item(r, &L_ETHICS_UNTIL,
                     ds->ethics_until ? KURA_CELL_TEXT(cmd_last_day(c, ds->ethics_until, b, sizeof b)) : KURA_CELL_BLANK);
    kura_report_item(r, &cmd_label_made_at, KURA_CELL_TEXT(cmd_time(c, cmd_now(), b, sizeof b)));
}

/* The log records a handle's bytes at its close: the handles still open
 * at the period's end (or left without a close by a daemon that stopped)
 * are named, so that no figure passes for whole that is not. */
static void unclosed_rows(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_usage *use)
{
    struct kura_report_table *t = kura_report_table(r, &T_UNCLOSED, UNCLOSED_COLS, KURA_COUNT(UNCLOSED_COLS), &cmd_label_none);
    for (size_t i = 0; i < use->unclosed.n; i++) {
        const struct cmd_handle *o = &use->unclosed.v[i];
        char at[48];
        const struct kura_report_cell row[] = {KURA_CELL_TEXT(o->user[0] ? o->user : "(no account)"),
                                               KURA_CELL_TEXT(o->path),
                                               KURA_CELL_TEXT(cmd_time(c, o->time_ms / 1000, at, sizeof at))};
        kura_report_row(r, t, row);
    }
}

/* The log items of a cluster's log: each node's value, named ("n1: 40,
 * n2: 12"); the time before which records are missing, of the nodes it
 * holds for only ("none" if of none). */
static void node_log_items(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_log_span *sp,
                           int64_t from)
{
    static const label *const items[] = {&L_LOG, &L_LOG_FIRST, &L_LOG_MISSING, &L_LOG_GAPS};
    for (size_t k = 0; k < KURA_COUNT(items); k++) {
        char *text = NULL, at[48];
        size_t len, shown = 0;
        FILE *f = sp->nomem ? NULL : open_memstream(&text, &len);
        for (size_t i = 0; f && i < sp->nnodes; i++) {
            const struct cmd_log_node *n = &sp->nodes[i];
            if (k == 2 && n->missing_before_ms / 1000 <= from)
                continue;
            fprintf(f, "%s%s: ", shown++ ? ", " : "", n->name);
            if (k == 2)
                fputs(cmd_time(c, n->missing_before_ms / 1000, at, sizeof at), f);
            else
                fprintf(f, "%llu", (unsigned long long)(k == 0 ? n->last_seq : k == 1 ? n->first_seq : n->missing_within));
        }
        if (!f || fclose(f) != 0) {
            r->nomem = true;
            return;
        }
        kura_report_item(r, items[k], shown ? KURA_CELL_TEXT(text) : KURA_CELL_WORD(&cmd_label_none));
        free(text);
    }
}

/* Which records the figures stand on: the log read to its last record,
 * from its first; and, when the log starts after seq 1 later than the
 * period does (retention removed the oldest files, or they are lost), the
 * time before which nothing was there to count. */
void cmd_report_log_items(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_log_span *sp,
                          uint64_t last_seq, int64_t from)
{
    char at[48];
    if (sp->nodes || sp->nomem) {
        node_log_items(c, r, sp, from);
        return;
    }
    kura_report_item(r, &L_LOG, KURA_CELL_INT(last_seq));
    const struct cmd_log_node *w = &sp->whole;
    kura_report_item(r, &L_LOG_FIRST, KURA_CELL_INT(w->first_seq));
    kura_report_item(r, &L_LOG_MISSING, w->missing_before_ms / 1000 > from
                                            ? KURA_CELL_TEXT(cmd_time(c, w->missing_before_ms / 1000, at, sizeof at))
                                            : KURA_CELL_WORD(&cmd_label_none));
    kura_report_item(r, &L_LOG_GAPS, KURA_CELL_INT(w->missing_within));
}

/* The users table (listed users, those listed in [from, to) (seconds) and
 * no more, then everyone else the log saw), the opens without a close, and
 * the operators' refusals apart. */
static void user_tables(const struct kura_cmd_ctx *c, struct kura_report *r, const struct kura_dataset *ds,
                        const struct cmd_usage *use, const struct cmd_listings *l, int64_t from, int64_t to)
{
    struct kura_report_table *users = kura_report_table(r, &T_USERS, USER_COLS, KURA_COUNT(USER_COLS), &cmd_label_none);
    /* The PI's period from the set-pi that named them, if one did. */
    size_t pi = cmd_listing_now(l, ds->pi, ds->pi_uid, true);
    listed_row(c, r, users, ds->pi, &cmd_label_pi, pi ? l->v[pi - 1].from : ds->from, ds->until, NULL,
               cmd_usage_find(use, ds->pi, ds->pi_uid, pi));
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        listed_row(c, r, users, g->user, cmd_report_role_word(g->role), g->from, g->until, g,
                   cmd_usage_find(use, g->user, g->uid, cmd_listing_now(l, g->user, g->uid, false)));
    }
    former_rows(c, r, users, l, use, from, to);
    struct kura_report_table *ops =
        kura_report_table(r, &T_OPERATORS, OPERATOR_COLS, KURA_COUNT(OPERATOR_COLS), &cmd_label_none);
    unlisted_rows(c, r, users, ops, use);
    unclosed_rows(c, r, use);
}

static void withdrawal_rows(const struct kura_cmd_ctx *c, struct kura_report *r, const struct kura_dataset *ds,
                            int64_t from, int64_t to)
{
    char a[48];
    struct kura_report_table *w =
        kura_report_table(r, &T_WITHDRAWALS, WITHDRAWAL_COLS, KURA_COUNT(WITHDRAWAL_COLS), &cmd_label_none);
    for (size_t i = 0; i < ds->nwithdrawals; i++) {
        const struct kura_withdrawal *wd = &ds->withdrawals[i];
        if (wd->at < from || wd->at >= to)
            continue;
        const struct kura_report_cell row[] = {KURA_CELL_TEXT(wd->sample), KURA_CELL_TEXT(cmd_time(c, wd->at, a, sizeof a)),
                                               KURA_CELL_TEXT(wd->ref)};
        kura_report_row(r, w, row);
    }
}

/* Fills r from the dataset's records for [from, to). */
static int build_usage(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, int64_t from, int64_t to,
                       struct kura_report *r, struct kura_err *e)
{
    struct cmd_usage use = {0};
    struct cmd_listings l = {0};
    if (listed_use(c, ds, from * 1000, to * 1000, &use, &l, e) != 0) {
        cmd_listings_free(&l);
        return -1;
    }
    char a[48];
    kura_report_init(r, &TITLE, ds->id);
    kura_report_item(r, &L_FROM, KURA_CELL_TEXT(cmd_time(c, from, a, sizeof a)));
    kura_report_item(r, &L_TO, KURA_CELL_TEXT(cmd_time(c, to - 1, a, sizeof a)));
    cmd_report_dataset_items(c, r, ds);
    cmd_report_log_items(c, r, &use.span, use.last_seq, from);
    user_tables(c, r, ds, &use, &l, from, to);
    cmd_listings_free(&l);

    int rc = 0;
    char *ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE);
    struct changes ch = {.r = r, .c = c, .from = from, .to = to,
                         .t = kura_report_table(r, &T_CHANGES, CHANGE_COLS, KURA_COUNT(CHANGE_COLS), &cmd_label_none)};
    if (!ledger) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    } else if (kura_ledger_read(ledger, list_change, &ch, e) != 0) {
        kura_err_set(e, e->code, "the ledger does not verify: %s", e->msg);
        rc = -1;
    }
    free(ledger);

    withdrawal_rows(c, r, ds, from, to);
    incident_rows(c, r, &use);
    cmd_usage_free(&use);
    return rc;
}

int cmd_report_usage(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *from_s = NULL, *to_s = NULL;
    struct cmd_report_form f = {0};
    const struct cmd_opt opts[] = {{"from", true, &from_s, NULL}, {"to", true, &to_s, NULL}, CMD_REPORT_FORM_OPTS(f), {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (cmd_report_form_check(c, &f) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    int64_t from = 0, to = 0, s, end;
    const struct kura_zone *tz = c->env->cfg->zone;
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
    if (cmd_txn_begin(c, pos[0], KURA_CMD_PI, CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK, &t) != 0)
        return KURA_EXIT_FAIL;
    int rc = KURA_EXIT_FAIL;
    struct kura_report r = {0};
    const struct kura_dataset *ds = &t.ds;
    if (!from_s)
        from = ds->from;
    if (!to_s)
        to = cmd_now() + 1;
    if (to <= from) {
        cmd_usage(c, "--to must be after --from");
        goto out;
    }
    if (build_usage(c, ds, from, to, &r, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    rc = cmd_report_form_print(c, &r, &f, ds);
out:
    kura_report_free(&r);
    cmd_txn_end(&t);
    return rc;
}

/* ---- report end-of-use ---------------------------------------------------------- */

/* kuractl report end-of-use ID [--group] [--csv|--json|--html] [--lang en|ja]:
 * the end-of-use report of a destroyed dataset, for the NBDC's form
 * データ使用（および破棄）報告書 (制限公開データ用, or with --group
 * グループ共有データ用): what was erased (the keys, by fingerprint), when,
 * how and by whom, the deliveries whose copies could still be decrypted,
 * the use over the whole period, and blanks for what kura cannot know
 * (copies outside kura, secondary data kept). From the destruction report
 * (checked against the ledger), the ledger, the catalog and the audit log. */

static const label END_RESTRICTED = {"end_of_use", "Data use (and destruction) report (controlled-access data)",
                                     "データ使用（および破棄）報告書（制限公開データ用）"};
static const label END_GROUP = {"end_of_use_group", "Data use (and destruction) report (group-sharing data)",
                                "データ使用（および破棄）報告書（グループ共有データ用）"};
static const label E_USE_FROM = {"use_from", "Use from", "利用開始日"};
static const label E_DESTROYED_AT = {"destroyed_at", "Destroyed at", "破棄日時"};
static const label E_DESTROYED_BY = {"destroyed_by", "Destroyed by", "破棄実施者"};
static const label E_METHOD = {"method", "Method", "破棄方法"};
static const label W_CRYPTO_ERASURE = {"crypto-erasure",
                                       "crypto-erasure: the dataset key and every file's header (its data key) "
                                       "overwritten, fsynced and unlinked; the ciphertext left cannot be decrypted",
                                       "暗号学的消去：データセット鍵と各ファイルのヘッダ（データ鍵）を上書き・同期後に削除。"
                                       "残る暗号文は復号できない"};
static const label E_PAYLOADS = {"payloads", "Ciphertext", "暗号化データ本体"};
static const label E_DATASET_KEY = {"dataset_key", "Dataset key (wrapped key file)", "データセット鍵（鍵ファイル）"};
static const label E_DELIVERY_KEY = {"delivery_key", "Dataset delivery key", "データセット配布鍵"};
static const label E_SHA = {"destruction_report_sha256", "SHA-256 of the destruction report",
                            "破棄記録（destruction report）のSHA-256"};
static const label E_SEQ = {"ledger_seq", "Ledger record of the destruction", "破棄の台帳記録番号"};
static const label E_KEYSTORE = {"keystore", "Keystore", "鍵ストア"};
static const label W_KEYSTORE_EMPTY = {"empty", "holds nothing for the dataset (checked now)",
                                       "当該データセットの鍵は残っていない（作成時に確認）"};
/* What kura cannot know: marked blanks the PI fills in. */
static const label E_COPIES = {"copies_outside_kura", "Copies made outside kura and their erasure",
                               "kura外に作成された複製とその消去"};
static const label E_CONTRACTOR = {"contractor_copies", "Storage and use at contractors' facilities",
                                   "受託者の施設での保管および利用"};
static const label E_SECONDARY = {"secondary_data", "Secondary data still held (storage request)",
                                  "保管する二次データ（二次データ保管申請）"};

static const label T_ERASED = {"erased_keys", "Erased keys: each file's header (its data key)",
                               "消去した鍵：各ファイルのヘッダ（データ鍵）"};
static const label C_FP = {"header_blake2b", "header BLAKE2b-256", "ヘッダのBLAKE2b-256"};
static const label *const ERASED_COLS[] = {&cmd_label_path, &cmd_label_file_id, &C_FP};

static const label T_RESIDUAL = {"residual_copies", "Deliveries whose copies can still be decrypted (residual copies)",
                                 "残存複製：今も存在する鍵で暗号化された配布データ"};
static const label C_RECORD = {"ledger_record", "ledger record", "台帳記録"};
static const label C_IMPORTED = {"imported_at", "imported at", "取り込み日時"};
static const label C_KEY = {"encrypted_to", "encrypted to", "暗号化に用いた鍵"};
static const label C_FILES = {"files", "files", "ファイル数"};
static const label C_SOURCES = {"sources", "sources", "取り込み元"};
static const label C_IMPORT_FILES = {"import_files", "files of the import", "取り込んだファイル"};
static const label *const RESIDUAL_COLS[] = {&C_RECORD, &C_IMPORTED, &C_KEY, &C_FILES, &C_SOURCES, &C_IMPORT_FILES};

/* The rest of the line of text that starts with prefix, trimmed, in buf
 * ("" if none). */
static const char *stored_line(const char *text, const char *prefix, char *buf, size_t len)
{
    buf[0] = '\0';
    size_t pl = strlen(prefix);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, prefix, pl) != 0)
            continue;
        const char *v = l + pl, *end = strchr(v, '\n');
        while (*v == ' ')
            v++;
        snprintf(buf, len, "%.*s", (int)(end ? end - v : (ptrdiff_t)strlen(v)), v);
        break;
    }
    return buf;
}

/* Calls fn with the cells of each row of the table under heading in the
 * destruction report (its own layout: "| a | b | ... |", cells as
 * kura_md_cell wrote them, given back); a row whose cell 2 is "none" is
 * the empty table's. */
typedef void row_fn(struct kura_report *r, struct kura_report_table *t, char **cells, size_t n, const void *ctx);
static void stored_rows(struct kura_report *r, struct kura_report_table *t, const char *text, const char *heading,
                        row_fn *fn, const void *ctx)
{
    const char *sec = strstr(text, heading);
    if (!sec || !t)
        return;
    const char *stop = strstr(sec + strlen(heading), "\n## ");
    size_t row = 0;
    for (const char *l = strchr(sec + 1, '\n'); l && (!stop || l < stop); l = strchr(l + 1, '\n')) {
        if (strncmp(l, "\n| ", 3) != 0 || row++ == 0)
            continue;           /* not a row, or the header (the separator starts "|-") */
        const char *end = strchr(l + 1, '\n');
        char *line = strndup(l + 3, end ? (size_t)(end - l - 3) : strlen(l + 3));
        if (!line) {
            r->nomem = true;
            return;
        }
        size_t len = strlen(line), n = 0;
        if (len >= 2 && strcmp(line + len - 2, " |") == 0)
            line[len - 2] = '\0';
        char *cells[16];
        for (char *p = line; n < 16;) {
            cells[n++] = p;
            char *bar = strstr(p, " | ");
            if (!bar)
                break;
            *bar = '\0';
            p = bar + 3;
        }
        for (size_t k = 0; k < n; k++)
            kura_md_unescape(cells[k]);   /* an escaped bar has no space before it: never split at */
        if (n > 2 && strcmp(cells[2], "none") != 0)
            fn(r, t, cells, n, ctx);
        free(line);
    }
}

/* A row of the destruction report's files table: path | file id | size |
 * samples | header BLAKE2b-256; read from the right (a path may hold " | "),
 * the path from the catalog. */
static void erased_row(struct kura_report *r, struct kura_report_table *t, char **cells, size_t n, const void *ctx)
{
    const struct cmd_txn *tx = ctx;
    if (n < 5)
        return;
    const char *id = cells[n - 4], *path = "?";
    for (size_t i = 0; i < tx->nfiles; i++)
        if (strcmp(tx->files[i].file_id, id) == 0)
            path = tx->files[i].path;
    const struct kura_report_cell row[] = {KURA_CELL_TEXT(path), KURA_CELL_TEXT(id), KURA_CELL_TEXT(cells[n - 1])};
    kura_report_row(r, t, row);
}

/* A row of its deliveries table: six cells, as written. */
static void residual_row(struct kura_report *r, struct kura_report_table *t, char **cells, size_t n, const void *ctx)
{
    (void)ctx;
    if (n != 6)
        return;
    const struct kura_report_cell row[] = {KURA_CELL_TEXT(cells[0]), KURA_CELL_TEXT(cells[1]), KURA_CELL_TEXT(cells[2]),
                                           KURA_CELL_TEXT(cells[3]), KURA_CELL_TEXT(cells[4]), KURA_CELL_TEXT(cells[5])};
    kura_report_row(r, t, row);
}

int cmd_report_end_of_use(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct cmd_report_form f = {0};
    bool group = false;
    const struct cmd_opt opts[] = {{"group", false, NULL, &group}, CMD_REPORT_FORM_OPTS(f), {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0 || cmd_report_form_check(c, &f) != 0)
        return KURA_EXIT_USAGE;
    struct cmd_txn t;
    int rc = KURA_EXIT_FAIL;
    struct kura_report r = {0};
    struct cmd_destruction d = {0};
    struct cmd_usage use;
    struct cmd_listings l;
    const struct kura_dataset *ds = &t.ds;
    if (whole_use_begin(c, pos[0], true, &t, &use, &l) != 0 || cmd_destruction_read(c, ds, &d) != 0)
        goto out;
    char a[48], line[512];
    kura_report_init(&r, group ? &END_GROUP : &END_RESTRICTED, ds->id);
    cmd_report_dataset_items(c, &r, ds);
    kura_report_item(&r, &E_USE_FROM, KURA_CELL_TEXT(kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?"));
    kura_report_item(&r, &E_DESTROYED_AT, KURA_CELL_TEXT(d.time));
    kura_report_item(&r, &E_DESTROYED_BY, KURA_CELL_TEXT(d.actor));
    kura_report_item(&r, &E_METHOD, KURA_CELL_WORD(&W_CRYPTO_ERASURE));
    kura_report_item(&r, &E_PAYLOADS, KURA_CELL_TEXT(stored_line(d.text, "Payloads:", line, sizeof line)));
    kura_report_item(&r, &E_DATASET_KEY, KURA_CELL_TEXT(stored_line(d.text, "Dataset key:", line, sizeof line)));
    kura_report_item(&r, &E_DELIVERY_KEY,
                     KURA_CELL_TEXT(stored_line(d.text, "- dataset key (the dataset's delivery key)", line, sizeof line)));
    kura_report_item(&r, &E_SHA, KURA_CELL_TEXT(d.sha));
    kura_report_item(&r, &E_SEQ, KURA_CELL_INT((uint64_t)d.seq));
    kura_report_item(&r, &E_KEYSTORE, KURA_CELL_WORD(&W_KEYSTORE_EMPTY));
    kura_report_item(&r, &E_COPIES, KURA_CELL_BLANK);
    kura_report_item(&r, &E_CONTRACTOR, KURA_CELL_BLANK);
    kura_report_item(&r, &E_SECONDARY, KURA_CELL_BLANK);
    cmd_report_log_items(c, &r, &use.span, use.last_seq, ds->from);
    user_tables(c, &r, ds, &use, &l, INT64_MIN, INT64_MAX);
    stored_rows(&r, kura_report_table(&r, &T_ERASED, ERASED_COLS, KURA_COUNT(ERASED_COLS), &cmd_label_none), d.text,
                "\n## Files (", erased_row, &t);
    stored_rows(&r, kura_report_table(&r, &T_RESIDUAL, RESIDUAL_COLS, KURA_COUNT(RESIDUAL_COLS), &cmd_label_none), d.text,
                "\n## Deliveries encrypted to keys that still exist", residual_row, NULL);
    withdrawal_rows(c, &r, ds, INT64_MIN, INT64_MAX);
    rc = cmd_report_form_print(c, &r, &f, ds);
out:
    kura_report_free(&r);
    cmd_usage_free(&use);
    cmd_listings_free(&l);
    free(d.text);
    cmd_txn_end(&t);
    return rc;
}

/* ---- report secondary-data ------------------------------------------------------ */

/* kuractl report secondary-data ID [--group] [--data TEXT] [--location TEXT]
 * [--until WHEN] [--reason TEXT] [--csv|--json|--html] [--lang en|ja]: a
 * draft of the NBDC's 二次データ保管申請書 (secondary-data storage request):
 * the dataset and its use from kura's records, and what the PI declares
 * (the data, where and until when it is kept, why) from the options or as
 * marked blanks, with the items only the PI can answer always blank. */

static const label SEC_RESTRICTED = {"secondary_data_request", "Secondary data storage request (draft)",
                                     "二次データ保管申請書（制限公開データ用）（案）"};
static const label SEC_GROUP = {"secondary_data_request_group", "Secondary data storage request, group-sharing data (draft)",
                                "二次データ保管申請書（グループ共有データ用）（案）"};
static const label S_USE_END = {"use_ended", "Use ended (data destroyed)", "利用終了（データ破棄）"};
static const label W_NOT_DESTROYED = {"not-destroyed", "not yet: the dataset is not destroyed",
                                      "未了：データセットは未破棄"};
static const label S_DATA = {"secondary_data", "Secondary data to keep (what, how it was derived)",
                             "保管する二次データ（内容・作成方法）"};
static const label S_LOCATION = {"storage_location", "Where it is kept", "保管場所"};
static const label S_UNTIL = {"storage_until", "Kept until", "保管期間（終了日）"};
static const label S_REASON = {"reason", "Why it is kept", "保管の理由"};
static const label S_IDENT = {"personal_identifiers", "Holds personal identification codes (個人識別符号)",
                              "個人識別符号の有無"};
static const label S_SECURITY = {"security_measures", "Security measures where it is kept", "保管場所の安全管理措置"};

static struct kura_report_cell declared(const char *value)
{
    return value ? KURA_CELL_TEXT(value) : KURA_CELL_BLANK;
}

int cmd_report_secondary_data(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *data = NULL, *location = NULL, *until_s = NULL, *reason = NULL;
    struct cmd_report_form f = {0};
    bool group = false;
    const struct cmd_opt opts[] = {{"group", false, NULL, &group},       {"data", true, &data, NULL},
                                   {"location", true, &location, NULL}, {"until", true, &until_s, NULL},
                                   {"reason", true, &reason, NULL},     CMD_REPORT_FORM_OPTS(f), {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, 1, &npos) != 0 || cmd_report_form_check(c, &f) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if ((data && kura_text_check(data, "--data", &e) != 0) || (location && kura_text_check(location, "--location", &e) != 0) ||
        (reason && kura_text_check(reason, "--reason", &e) != 0))
        return cmd_usage(c, "%s", e.msg);
    char until[32] = "";
    int64_t s, end;
    if (until_s) {
        if (kura_when_parse(until_s, c->env->cfg->zone, &s, &end, &e) != 0)
            return cmd_usage(c, "--until: %s", e.msg);
        if (kura_date_format(s, c->env->cfg->zone, until, sizeof until) != 0)
            return cmd_usage(c, "--until %s: not a date kura can print", until_s);
    }
    struct cmd_txn t;
    int rc = KURA_EXIT_FAIL;
    struct kura_report r = {0};
    struct cmd_usage use;
    struct cmd_listings l;
    const struct kura_dataset *ds = &t.ds;
    if (whole_use_begin(c, pos[0], false, &t, &use, &l) != 0)
        goto out;
    char a[48];
    kura_report_init(&r, group ? &SEC_GROUP : &SEC_RESTRICTED, ds->id);
    cmd_report_dataset_items(c, &r, ds);
    kura_report_item(&r, &E_USE_FROM, KURA_CELL_TEXT(kura_date_format(ds->from, c->env->cfg->zone, a, sizeof a) == 0 ? a : "?"));
    kura_report_item(&r, &S_USE_END, ds->status == KURA_DS_DESTROYED ? KURA_CELL_TEXT(ds->status_reason)
                                                                     : KURA_CELL_WORD(&W_NOT_DESTROYED));
    kura_report_item(&r, &S_DATA, declared(data));
    kura_report_item(&r, &S_LOCATION, declared(location));
    kura_report_item(&r, &S_UNTIL, declared(until_s ? until : NULL));
    kura_report_item(&r, &S_REASON, declared(reason));
    kura_report_item(&r, &S_IDENT, KURA_CELL_BLANK);
    kura_report_item(&r, &S_SECURITY, KURA_CELL_BLANK);
    cmd_report_log_items(c, &r, &use.span, use.last_seq, ds->from);
    user_tables(c, &r, ds, &use, &l, INT64_MIN, INT64_MAX);
    rc = cmd_report_form_print(c, &r, &f, ds);
out:
    kura_report_free(&r);
    cmd_usage_free(&use);
    cmd_listings_free(&l);
    cmd_txn_end(&t);
    return rc;
}
