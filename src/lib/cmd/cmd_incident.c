/* kuractl report incident --from WHEN --to WHEN [--dataset ID] [--md|--csv|
 * --json|--html] [--lang ja|en] [--out FILE] (R-LOG-6): after a security
 * incident (漏えい等の事故), who read what in its window, for the report to
 * the PI and the NBDC. From every file of the audit log, in chain order:
 * each open in the window, allowed or refused, and each handle opened
 * before it and still open at its start (read from in the window, maybe),
 * with the user, dataset, file, process and time, and the bytes read (from
 * its close record, also when the close came after the window); each
 * refused write; the alerts, lockdowns,
 * suspensions, withdrawals and destructions, the accesses ended while a
 * file was open (revocations); a summary per user; and
 * marked blanks for what kura cannot know (what happened, its cause, the
 * measures taken, to whom and when it was reported). Operators report on
 * every dataset, a PI on one she leads (--dataset). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/report.h"
#include "kura/when.h"

#define REPORT_FILE_MODE 0600   /* it names users, files and processes */
/* An open's row takes at least this much of the report: through the
 * daemon, more opens than its answer can carry are not gathered (the
 * daemon's memory is locked, and the report is whole or refused). */
#define OPEN_ROW_MIN 256

typedef struct kura_report_label label;

static const label TITLE = {"incident", "Incident report", "情報セキュリティ事故報告"};
static const label L_FROM = {"window_from", "Window from", "対象期間（開始）"};
static const label L_TO = {"window_to", "Window to", "対象期間（終了）"};
static const label L_DATASETS = {"datasets", "Datasets", "対象データセット"};
/* What kura cannot know: marked blanks for the person reporting. */
static const label B_WHAT = {"what_happened", "What happened", "事故の概要"};
static const label B_FOUND = {"discovered", "Discovered when, by whom", "発見日時・発見者"};
static const label B_CAUSE = {"cause", "Cause", "原因"};
static const label B_AFFECTED = {"data_affected", "Data and people affected", "影響範囲（対象データ・人数）"};
static const label B_MEASURES = {"measures_taken", "Measures taken", "対応（実施した措置）"};
static const label B_PREVENTION = {"prevention", "Measures against recurrence", "再発防止策"};
static const label B_REPORTED = {"reported_to", "Reported to whom, when", "報告先・報告日時"};

static const label T_OPENS = {"opens", "Opens in the window (allowed and refused)", "対象期間のアクセス（許可・拒否）"};
static const label C_TIME = {"time", "time", "日時"};
static const label C_DATASET = {"dataset", "dataset", "データセット"};
static const label C_PROCESS = {"process", "process", "プロセス"};
static const label C_PID = {"pid", "pid", "プロセスID"};
static const label C_DECISION = {"decision", "decision", "判定"};
static const label C_REASON = {"reason", "reason", "理由"};
static const label *const OPEN_COLS[] = {&C_TIME,    &cmd_label_user, &C_DATASET, &cmd_label_file,      &C_PROCESS,
                                         &C_PID,     &C_DECISION,     &C_REASON,  &cmd_label_bytes_read};

static const label T_EVENTS = {"events", "Alerts, lockdowns, suspensions, withdrawals, destructions",
                               "警告・緊急停止・利用停止・同意撤回・破棄"};
static const label C_EVENT = {"event", "event", "種類"};
static const label C_BY = {"by", "by or about", "実施者・対象者"};
static const label C_DETAIL = {"detail", "detail", "詳細"};
static const label *const EVENT_COLS[] = {&C_TIME,   &C_EVENT,  &C_DATASET,          &C_BY,
                                          &C_REASON, &C_DETAIL, &cmd_label_bytes_read};

static const label T_USERS = {"users", "Per user", "利用者ごとの集計"};
static const label C_FILES = {"files_opened", "files opened", "アクセスしたファイル数"};
static const label *const USER_COLS[] = {&cmd_label_user,          &C_FILES,             &cmd_label_opens,
                                         &cmd_label_read_throughs, &cmd_label_bytes_read, &cmd_label_refused};

static const label W_ALL = {"all", "all", "すべて"};
static const label W_ALLOW = {"allow", "allowed", "許可"};
static const label W_DENY = {"deny", "refused", "拒否"};
static const label W_STILL_OPEN = {"still-open", "not closed", "未終了"};
/* A reader's record (audit.h): its bytes are in the row of the open it read through. */
static const label W_READER = {"read-through", "read through another process's open (bytes in its row)",
                               "他のプロセスが開いたファイルからの読み出し（読み出し量はその行）"};
static const label W_ALERT = {"alert", "alert", "警告"};
static const label W_LOCKDOWN = {"lockdown", "server lockdown", "サーバ緊急停止"};
static const label W_UNLOCK = {"unlock", "lockdown ended", "緊急停止解除"};
static const label W_SUSPEND = {"suspend", "suspended", "利用停止"};
static const label W_RESUME = {"resume", "resumed", "利用再開"};
static const label W_WITHDRAW = {"withdraw", "consent withdrawn", "同意撤回"};
static const label W_DESTROY = {"destroy", "destroyed", "破棄"};
/* Access ended while a file was open: a handle stopped, a process ended
 * (or NOT ended: the detail says), a grant's end, a node's lease. */
static const label W_REVOCATION = {"revocation", "access ended while open", "利用中のアクセス終了"};

/* The report's event word of a record, NULL for records it does not list. */
static const label *event_word(enum kura_audit_event e)
{
    switch (e) {
    case KURA_AUDIT_ALERT:
        return &W_ALERT;
    case KURA_AUDIT_LOCKDOWN:
        return &W_LOCKDOWN;
    case KURA_AUDIT_UNLOCK:
        return &W_UNLOCK;
    case KURA_AUDIT_SUSPEND:
        return &W_SUSPEND;
    case KURA_AUDIT_RESUME:
        return &W_RESUME;
    case KURA_AUDIT_WITHDRAW:
        return &W_WITHDRAW;
    case KURA_AUDIT_DESTROY:
        return &W_DESTROY;
    case KURA_AUDIT_REVOCATION:
        return &W_REVOCATION;
    default:
        return NULL;
    }
}

/* One open in the window (or a handle open at its start; or a refused
 * write), with what its close said. */
struct open_row {
    char *time, *user, *dataset, *path, *exe, *reason, *host;
    int64_t uid, pid, time_ms;
    uint64_t order;             /* when it was taken: ties of time_ms keep the log's order */
    bool allowed, closed, reader;
    uint64_t bytes;
};

struct event_row {
    char *time, *user, *dataset, *reason, *detail;
    enum kura_audit_event event;
    int64_t bytes;
};

/* Refusals past a user's bound, counted in a summary record. */
struct counted {
    char *user;
    int64_t uid;
    uint64_t count;
};

struct incident_scan {
    const char *dataset;        /* NULL: all */
    int64_t from_ms, to_ms;
    struct open_row *opens;
    size_t nopens, opens_cap;
    struct event_row *events;
    size_t nevents, events_cap;
    struct counted *counted;
    size_t ncounted, counted_cap;
    struct cmd_handles unclosed; /* handles opened in the window without a close yet (row: in opens) */
    struct cmd_handles early;   /* handles opened before it without a close yet ... */
    struct open_row *early_rows; /* ... and their rows, in the same order */
    size_t early_cap;
    uint64_t taken;
    uint64_t last_seq;
    struct cmd_log_span span;
    bool cluster;
    size_t opens_max;           /* 0: no bound */
    bool nomem, too_many;
};

static char *dup_or_empty(struct incident_scan *s, const char *t)
{
    char *d = strdup(t ? t : "");
    if (!d)
        s->nomem = true;
    return d;
}

/* Room for one more element of *v (n used of *cap, each size bytes). */
static bool grow(struct incident_scan *s, void **v, size_t n, size_t *cap, size_t size)
{
    if (kura_grow(v, cap, n, size))
        return true;
    s->nomem = true;
    return false;
}

static bool same(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void row_free(struct open_row *o)
{
    free(o->time), free(o->user), free(o->dataset), free(o->path), free(o->exe), free(o->reason), free(o->host);
}

/* Takes early handle i off the list (its row freed unless kept elsewhere). */
static void early_remove(struct incident_scan *s, size_t i, bool kept)
{
    if (!kept)
        row_free(&s->early_rows[i]);
    memmove(&s->early_rows[i], &s->early_rows[i + 1], (s->early.n - i - 1) * sizeof *s->early_rows);
    cmd_handles_remove(&s->early, i);
}

/* Moves early handle i into the report's opens: it was open at the
 * window's start. */
static void promote_early(struct incident_scan *s, size_t i)
{
    bool room = !(s->opens_max && s->nopens >= s->opens_max);
    if (!room)
        s->too_many = true;     /* the scan stops, failing (as take_open) */
    else if (grow(s, (void **)&s->opens, s->nopens, &s->opens_cap, sizeof *s->opens))
        s->opens[s->nopens++] = s->early_rows[i];
    else
        room = false;
    early_remove(s, i, room);
}

/* The open a close record ends: the latest allowed one, not yet closed,
 * of the same user, process, dataset and file; in the window first, else
 * a handle opened before it (closed before the window: dropped; after its
 * start: it was open in the window, and joins the report). Only the opens
 * still without a close are looked at, so a long log after the window
 * costs little. */
static void take_close(struct incident_scan *s, const struct kura_audit_record *r)
{
    uint64_t bytes = r->bytes > 0 ? (uint64_t)r->bytes : 0;
    ptrdiff_t i = r->time_ms >= s->from_ms ? cmd_handles_closed_by(&s->unclosed, r) : -1;
    if (i >= 0) {
        struct open_row *o = &s->opens[s->unclosed.v[i].row];
        o->closed = true;
        o->bytes = bytes;
        cmd_handles_remove(&s->unclosed, (size_t)i);
        return;
    }
    if ((i = cmd_handles_closed_by(&s->early, r)) < 0)
        return;
    if (r->time_ms < s->from_ms) {
        early_remove(s, (size_t)i, false);
    } else {
        s->early_rows[i].closed = true;
        s->early_rows[i].bytes = bytes;
        promote_early(s, (size_t)i);
    }
}

/* A daemon's start: the handles its host had open before are gone; those
 * opened before the window were open in it if the start came after its
 * start (their bytes were never recorded), else they are dropped. */
static void take_start(struct incident_scan *s, const struct kura_audit_entry *e)
{
    for (size_t i = s->early.n; i-- > 0;) {
        if (!same(s->early_rows[i].host, e->host))
            continue;
        if (e->rec.time_ms >= s->from_ms)
            promote_early(s, i);
        else
            early_remove(s, i, false);
    }
}

static struct open_row open_row_of(struct incident_scan *s, const struct kura_audit_entry *e)
{
    const struct kura_audit_record *r = &e->rec;
    return (struct open_row){.time = dup_or_empty(s, e->time), .user = dup_or_empty(s, r->user),
                             .dataset = dup_or_empty(s, r->dataset), .path = dup_or_empty(s, r->path),
                             .exe = dup_or_empty(s, r->exe), .reason = dup_or_empty(s, r->reason),
                             .host = dup_or_empty(s, e->host), .uid = r->uid, .pid = r->pid,
                             .time_ms = r->time_ms, .order = s->taken++,
                             .allowed = r->decision == KURA_AUDIT_ALLOW, .reader = kura_audit_is_reader(r)};
}

/* An allowed open before the window that holds a handle: kept until its
 * close says whether it was open in the window. */
static void take_early(struct incident_scan *s, const struct kura_audit_entry *e)
{
    if (!grow(s, (void **)&s->early_rows, s->early.n, &s->early_cap, sizeof *s->early_rows))
        return;
    if (cmd_handles_add(&s->early, &e->rec, 0) != 0) {
        s->nomem = true;
        return;
    }
    s->early_rows[s->early.n - 1] = open_row_of(s, e);
}

static void take_open(struct incident_scan *s, const struct kura_audit_entry *e)
{
    if (s->opens_max && s->nopens >= s->opens_max) {
        s->too_many = true;
        return;
    }
    if (!grow(s, (void **)&s->opens, s->nopens, &s->opens_cap, sizeof *s->opens))
        return;
    struct open_row *o = &s->opens[s->nopens++];
    *o = open_row_of(s, e);
    if (cmd_handle_held(&e->rec) && cmd_handles_add(&s->unclosed, &e->rec, s->nopens - 1) != 0)
        s->nomem = true;
}

static void take_event(struct incident_scan *s, const struct kura_audit_entry *e)
{
    const struct kura_audit_record *r = &e->rec;
    if (!grow(s, (void **)&s->events, s->nevents, &s->events_cap, sizeof *s->events))
        return;
    struct event_row *v = &s->events[s->nevents++];
    *v = (struct event_row){.time = dup_or_empty(s, e->time), .user = dup_or_empty(s, r->user),
                            .dataset = dup_or_empty(s, r->dataset), .reason = dup_or_empty(s, r->reason),
                            .detail = dup_or_empty(s, r->detail), .event = r->event, .bytes = r->bytes};
}

static void take_counted(struct incident_scan *s, const struct kura_audit_record *r)
{
    for (size_t i = 0; i < s->ncounted; i++)
        if (s->counted[i].uid == r->uid && same(s->counted[i].user, r->user)) {
            s->counted[i].count += (uint64_t)r->count;
            return;
        }
    if (!grow(s, (void **)&s->counted, s->ncounted, &s->counted_cap, sizeof *s->counted))
        return;
    s->counted[s->ncounted++] =
        (struct counted){.user = dup_or_empty(s, r->user), .uid = r->uid, .count = (uint64_t)r->count};
}

static int take(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem, void *ctx)
{
    (void)line;
    (void)problem;
    struct incident_scan *s = ctx;
    if (!e)
        return 0;
    cmd_log_span_take(&s->span, s->cluster, e, file);
    s->last_seq = e->seq;
    const struct kura_audit_record *r = &e->rec;
    if (r->event == KURA_AUDIT_START && s->early.n > 0)
        take_start(s, e);
    bool server_wide = r->event == KURA_AUDIT_LOCKDOWN || r->event == KURA_AUDIT_UNLOCK;
    if (s->dataset && !server_wide && !same(r->dataset, s->dataset))
        return 0;
    if (r->event == KURA_AUDIT_CLOSE)
        take_close(s, r); /* after the window too: the bytes of an open in it */
    else if (r->time_ms < s->from_ms && cmd_handle_held(r))
        take_early(s, e); /* a handle that may be read from in the window */
    if (r->time_ms < s->from_ms || r->time_ms >= s->to_ms)
        return s->nomem || s->too_many ? 1 : 0;
    if ((r->event == KURA_AUDIT_OPEN && r->decision != KURA_AUDIT_NO_DECISION) || r->event == KURA_AUDIT_WRITE_DENIED)
        take_open(s, e);
    else if (r->event == KURA_AUDIT_REFUSALS && r->count > 0)
        take_counted(s, r);
    else if (event_word(r->event))
        take_event(s, e);
    return s->nomem || s->too_many ? 1 : 0;
}

static void scan_free(struct incident_scan *s)
{
    for (size_t i = 0; i < s->nopens; i++)
        row_free(&s->opens[i]);
    for (size_t i = 0; i < s->early.n; i++)
        row_free(&s->early_rows[i]);
    for (size_t i = 0; i < s->nevents; i++) {
        struct event_row *v = &s->events[i];
        free(v->time), free(v->user), free(v->dataset), free(v->reason), free(v->detail);
    }
    for (size_t i = 0; i < s->ncounted; i++)
        free(s->counted[i].user);
    free(s->opens);
    free(s->early_rows);
    free(s->events);
    free(s->counted);
    cmd_handles_free(&s->unclosed);
    cmd_handles_free(&s->early);
    cmd_log_span_free(&s->span);
}

/* By time, ties in the order taken. */
static int by_time(const void *a, const void *b)
{
    const struct open_row *x = a, *y = b;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return (x->order > y->order) - (x->order < y->order);
}

static int scan_log(const struct kura_cmd_ctx *c, struct incident_scan *s, struct kura_err *e)
{
    int rc = cmd_audit_each(c, take, s, e);
    /* handles opened before the window and never closed: open in it */
    while (rc == 0 && s->early.n > 0 && !s->nomem && !s->too_many)
        promote_early(s, 0);
    if (s->nopens > 1)
        qsort(s->opens, s->nopens, sizeof *s->opens, by_time); /* early handles join at their close */
    if (s->nomem) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    } else if (s->too_many) {
        kura_err_set(e, E2BIG, "more than %zu opens in the window, more than the daemon's answer can carry: "
                     "narrow it (--from, --to, --dataset), or run it as root on the server", s->opens_max);
        rc = -1;
    }
    return rc;
}

static void open_rows(struct kura_report *r, const struct incident_scan *s)
{
    struct kura_report_table *t = kura_report_table(r, &T_OPENS, OPEN_COLS, KURA_COUNT(OPEN_COLS), &cmd_label_none);
    for (size_t i = 0; i < s->nopens; i++) {
        const struct open_row *o = &s->opens[i];
        char pid[24] = "";
        if (o->pid != KURA_AUDIT_ABSENT)
            snprintf(pid, sizeof pid, "%lld", (long long)o->pid);
        const struct kura_report_cell row[] = {
            KURA_CELL_TEXT(o->time),    KURA_CELL_TEXT(o->user),
            KURA_CELL_TEXT(o->dataset), KURA_CELL_TEXT(o->path),
            KURA_CELL_TEXT(o->exe),     KURA_CELL_TEXT(pid),
            KURA_CELL_WORD(o->allowed ? &W_ALLOW : &W_DENY), KURA_CELL_TEXT(o->reason),
            o->allowed && o->reader   ? KURA_CELL_WORD(&W_READER)
            : o->allowed && !o->closed ? KURA_CELL_WORD(&W_STILL_OPEN)
                                       : KURA_CELL_BYTES(o->bytes)};
        kura_report_row(r, t, row);
    }
}

static void event_rows(struct kura_report *r, const struct incident_scan *s)
{
    struct kura_report_table *t = kura_report_table(r, &T_EVENTS, EVENT_COLS, KURA_COUNT(EVENT_COLS), &cmd_label_none);
    for (size_t i = 0; i < s->nevents; i++) {
        const struct event_row *v = &s->events[i];
        const struct kura_report_cell row[] = {
            KURA_CELL_TEXT(v->time),   KURA_CELL_WORD(event_word(v->event)), KURA_CELL_TEXT(v->dataset),
            KURA_CELL_TEXT(v->user),   KURA_CELL_TEXT(v->reason),            KURA_CELL_TEXT(v->detail),
            KURA_CELL_BYTES(v->bytes > 0 ? (uint64_t)v->bytes : 0)};
        kura_report_row(r, t, row);
    }
}

/* Indices of opens (arg) by user (name, uid), then dataset and file. */
static int by_user_file(const void *a, const void *b, void *arg)
{
    const struct open_row *opens = arg;
    const struct open_row *x = &opens[*(const size_t *)a], *y = &opens[*(const size_t *)b];
    int d = strcmp(x->user, y->user);
    if (!d)
        d = (x->uid > y->uid) - (x->uid < y->uid);
    if (!d)
        d = strcmp(x->dataset, y->dataset);
    if (!d)
        d = strcmp(x->path, y->path);
    return d;
}

static uint64_t counted_refusals(const struct incident_scan *s, const char *user, int64_t uid, bool *used)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->ncounted; i++)
        if (s->counted[i].uid == uid && strcmp(s->counted[i].user, user) == 0) {
            n += s->counted[i].count;
            used[i] = true;
        }
    return n;
}

/* One user's figures in the per-user table. */
struct user_sum {
    uint64_t files, opens, read_throughs, bytes, refused;
};

static void user_row(struct kura_report *r, struct kura_report_table *t, const char *user, const struct user_sum *n)
{
    const struct kura_report_cell row[] = {KURA_CELL_TEXT(user[0] ? user : "(no account)"), KURA_CELL_INT(n->files),
                                           KURA_CELL_INT(n->opens),        KURA_CELL_INT(n->read_throughs),
                                           KURA_CELL_BYTES(n->bytes),      KURA_CELL_INT(n->refused)};
    kura_report_row(r, t, row);
}

/* Per user (by name, then uid): the distinct files opened, opens, reads
 * through another process's open (apart: no file opened), bytes read,
 * refusals (one by one and counted in summaries; a refused read-through
 * too). */
static void user_rows(struct kura_report *r, const struct incident_scan *s)
{
    struct kura_report_table *t = kura_report_table(r, &T_USERS, USER_COLS, KURA_COUNT(USER_COLS), &cmd_label_none);
    size_t *order = malloc((s->nopens ? s->nopens : 1) * sizeof *order);
    bool *used = calloc(s->ncounted ? s->ncounted : 1, sizeof *used);
    if (!order || !used) {
        free(order);
        free(used);
        r->nomem = true;
        return;
    }
    for (size_t i = 0; i < s->nopens; i++)
        order[i] = i;
    qsort_r(order, s->nopens, sizeof *order, by_user_file, s->opens); /* the daemon runs commands in threads */
    for (size_t i = 0; i < s->nopens;) {
        const struct open_row *first = &s->opens[order[i]];
        struct user_sum n = {0};
        const struct open_row *last_file = NULL;
        for (; i < s->nopens; i++) {
            const struct open_row *o = &s->opens[order[i]];
            if (o->uid != first->uid || strcmp(o->user, first->user) != 0)
                break;
            if (!o->allowed) {
                n.refused++;
                continue;
            }
            if (o->reader) {
                n.read_throughs++;
                continue;
            }
            n.opens++;
            n.bytes += o->bytes;
            n.files += !last_file || strcmp(last_file->dataset, o->dataset) != 0 || strcmp(last_file->path, o->path) != 0;
            last_file = o;
        }
        n.refused += counted_refusals(s, first->user, first->uid, used);
        user_row(r, t, first->user, &n);
    }
    for (size_t i = 0; i < s->ncounted; i++) /* users with counted refusals alone */
        if (!used[i])
            user_row(r, t, s->counted[i].user,
                     &(struct user_sum){.refused = counted_refusals(s, s->counted[i].user, s->counted[i].uid, used)});
    free(order);
    free(used);
}

static void build(const struct kura_cmd_ctx *c, struct kura_report *r, const struct incident_scan *s)
{
    char a[48];
    kura_report_init(r, &TITLE, s->dataset);
    kura_report_item(r, &L_FROM, KURA_CELL_TEXT(cmd_time(c, s->from_ms / 1000, a, sizeof a)));
    kura_report_item(r, &L_TO, KURA_CELL_TEXT(cmd_time(c, s->to_ms / 1000 - 1, a, sizeof a)));
    kura_report_item(r, &L_DATASETS, s->dataset ? KURA_CELL_TEXT(s->dataset) : KURA_CELL_WORD(&W_ALL));
    kura_report_item(r, &cmd_label_made_at, KURA_CELL_TEXT(cmd_time(c, cmd_now(), a, sizeof a)));
    kura_report_item(r, &cmd_label_made_by, KURA_CELL_TEXT(cmd_actor_label(c, a, sizeof a)));
    cmd_report_log_items(c, r, &s->span, s->last_seq, s->from_ms / 1000);
    const label *const blanks[] = {&B_WHAT, &B_FOUND, &B_CAUSE, &B_AFFECTED, &B_MEASURES, &B_PREVENTION, &B_REPORTED};
    for (size_t i = 0; i < KURA_COUNT(blanks); i++)
        kura_report_item(r, blanks[i], KURA_CELL_BLANK);
    open_rows(r, s);
    event_rows(r, s);
    user_rows(r, s);
}

/* The window [from, to) from --from and --to: a date counts whole. */
static int parse_window(const struct kura_cmd_ctx *c, const char *from_s, const char *to_s, int64_t *from,
                        int64_t *to)
{
    struct kura_err e = {0};
    int64_t s, end;
    const struct kura_zone *tz = c->env->cfg->zone;
    if (kura_when_parse(from_s, tz, &s, &end, &e) != 0)
        return cmd_usage(c, "--from: %s", e.msg);
    *from = s;
    if (kura_when_parse(to_s, tz, &s, &end, &e) != 0)
        return cmd_usage(c, "--to: %s", e.msg);
    *to = s == end ? s : end;
    if (*to <= *from)
        return cmd_usage(c, "--to must be after --from");
    return KURA_EXIT_OK;
}

/* Prints the report into a new file, made with the caller's rights. */
static int print_to_file(const struct kura_cmd_ctx *c, const struct kura_report *r, const struct cmd_report_form *f,
                         const struct kura_dataset *ds, const char *path)
{
    struct kura_err e = {0};
    if (cmd_caller_path_check(c, "--out", path, &e) != 0)
        return cmd_fail_err(c, &e);
    char *text = NULL;
    size_t len = 0;
    struct kura_cmd_ctx to_memory = *c;
    if (!(to_memory.out = open_memstream(&text, &len)))
        return cmd_fail(c, "out of memory");
    int rc = cmd_report_form_print(&to_memory, r, f, ds);
    if (fclose(to_memory.out) != 0 && rc == 0)
        rc = cmd_fail(c, "out of memory");
    struct cmd_caller cl;
    if (rc == 0) {
        if (cmd_caller_init(c, &cl, &e) == 0 && cmd_caller_enter(&cl, &e) == 0) {
            if (kura_write_file_new(path, text, len, REPORT_FILE_MODE, &e) != 0)
                rc = -1;
            cmd_caller_leave(&cl);
        } else {
            rc = -1;
        }
        cmd_caller_free(&cl);
        if (rc != 0)
            cmd_fail_err(c, &e);
        else
            fprintf(c->out, "incident report written to %s\n", path);
    }
    free(text);
    return rc == 0 ? KURA_EXIT_OK : KURA_EXIT_FAIL;
}

int cmd_report_incident(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *from_s = NULL, *to_s = NULL, *dataset = NULL, *out = NULL;
    struct cmd_report_form f = {0};
    const struct cmd_opt opts[] = {{"from", true, &from_s, NULL},       {"to", true, &to_s, NULL},
                                   {"dataset", true, &dataset, NULL},   {"out", true, &out, NULL},
                                   CMD_REPORT_FORM_OPTS(f),             {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0 || cmd_report_form_check(c, &f) != 0)
        return KURA_EXIT_USAGE;
    int rc = cmd_required_option(c, from_s, "--from", "the window's start");
    if (rc == KURA_EXIT_OK)
        rc = cmd_required_option(c, to_s, "--to", "the window's end");
    int64_t from = 0, to = 0;
    if (rc == KURA_EXIT_OK)
        rc = parse_window(c, from_s, to_s, &from, &to);
    if (rc != KURA_EXIT_OK)
        return rc;
    /* Every dataset is the operators'; a PI names one she leads. */
    struct cmd_txn t = {0};
    if (dataset ? cmd_txn_begin(c, dataset, KURA_CMD_PI, CMD_TXN_VIEW | CMD_TXN_DESTROYED_OK, &t) != 0
                : cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    struct incident_scan s = {.dataset = dataset ? t.ds.id : NULL, .from_ms = from * 1000, .to_ms = to * 1000,
                              .opens_max = c->env->output_max / OPEN_ROW_MIN, .cluster = cmd_cluster_mode(c)};
    struct kura_report r = {0};
    struct kura_err e = {0};
    rc = KURA_EXIT_FAIL;
    if (scan_log(c, &s, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    build(c, &r, &s);
    const struct kura_dataset *ds = dataset ? &t.ds : NULL;
    rc = out ? print_to_file(c, &r, &f, ds, out) : cmd_report_form_print(c, &r, &f, ds);
out:
    kura_report_free(&r);
    scan_free(&s);
    if (dataset)
        cmd_txn_end(&t);
    return rc;
}
