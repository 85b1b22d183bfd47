/* kuractl audit [--dataset ID] [--user USER] [--since WHEN] [--after SEQ]
 * [--limit N] [--json],
 * kuractl audit verify [--local] (R-LOG-1, R-LOG-2, R-LOG-8) and
 * kuractl audit summary --since WHEN [--until WHEN] [--dataset ID] [--json]
 * (R-LOG-9, also sent weekly by kurafs). Operators read everything; a PI
 * reads the records of the datasets they lead (who used their data, and
 * how); other users read nothing. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/cluster.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/report.h"
#include "kura/secmem.h"
#include "kura/when.h"

/* Log text is shaped by users (paths, command lines): never let a control
 * character (bidirectional ones included) reach the reader's terminal. */
static void put_safe(FILE *out, const char *s, size_t width)
{
    const char *text = s ? s : "-";
    for (size_t n = kura_text_put_escaped(out, text, strlen(text)); n < width; n++)
        fputc(' ', out);
}

struct audit_view {
    const struct kura_cmd_ctx *c;
    struct kura_audit_filter filter;
    char **led;                 /* datasets the actor leads (non-operators) */
    size_t nled;
    bool json;
    uint64_t after;             /* show records with a greater seq */
    const char *after_node;     /* cluster mode: and from nodes after this one (--after NODE:SEQ) */
    uint64_t limit;             /* records in this page; 0: no limit */
    uint64_t last_seq;          /* of the last record shown */
    char last_node[KURA_CLUSTER_NODE_MAX];
    bool cluster;               /* records of every node, from the central store */
    bool more;                  /* the page ended before the log did */
    size_t shown, problems;
};



static bool led_by_actor(const struct audit_view *v, const char *dataset)
{
    for (size_t i = 0; dataset && i < v->nled; i++)
        if (strcmp(v->led[i], dataset) == 0)
            return true;
    return false;
}

static void print_json(FILE *out, const struct kura_audit_entry *e, const char *node)
{
    char *buf = malloc(4 * KURA_AUDIT_LINE_MAX);
    if (!buf)
        return;
    const struct kura_audit_record *r = &e->rec;
    struct kura_json_writer w;
    kura_json_begin(&w, buf, 4 * KURA_AUDIT_LINE_MAX);
    if (node)
        kura_json_add_string(&w, "node", node);
    kura_json_add_int(&w, "seq", (int64_t)e->seq);
    kura_json_add_string(&w, "time", e->time);
    kura_json_add_string(&w, "host", e->host);
    kura_json_add_string(&w, "event", kura_audit_event_name(r->event));
    kura_json_add_string(&w, "decision", kura_audit_decision_name(r->decision));
    const struct {
        const char *key, *val;
    } strs[] = {{"reason", r->reason}, {"dataset", r->dataset}, {"path", r->path}, {"samples", r->samples},
                {"user", r->user}, {"exe", r->exe}, {"cmdline", r->cmdline}, {"ssh_client", r->ssh_client},
                {"detail", r->detail}, {"rotated_from", e->rotated_from}, {"cut", e->cut}};
    const struct {
        const char *key;
        int64_t val;
    } nums[] = {{"uid", r->uid}, {"loginuid", r->loginuid}, {"pid", r->pid}, {"ppid", r->ppid},
                {"bytes", r->bytes}, {"duration_ms", r->duration_ms}, {"count", r->count}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (strs[i].val)
            kura_json_add_string(&w, strs[i].key, strs[i].val);
    for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
        if (nums[i].val != KURA_AUDIT_ABSENT)
            kura_json_add_int(&w, nums[i].key, nums[i].val);
    kura_json_add_string(&w, "prev", e->prev);
    kura_json_add_string(&w, "mac", e->mac);
    size_t len;
    if (kura_json_end(&w, &len, NULL) == 0)
        fprintf(out, "%s\n", buf);
    free(buf);
}

static void print_row(FILE *out, const struct kura_audit_entry *e, const char *node)
{
    const struct kura_audit_record *r = &e->rec;
    char who[64];
    if (r->uid != KURA_AUDIT_ABSENT)
        snprintf(who, sizeof who, "%s(%lld)", r->user ? r->user : "?", (long long)r->uid);
    else
        snprintf(who, sizeof who, "%s", r->user ? r->user : "-");
    if (node) {
        put_safe(out, node, 12);
        fputc(' ', out);
    }
    put_safe(out, e->time, 30);
    fputc(' ', out);
    put_safe(out, kura_audit_event_name(r->event), 13);
    fputc(' ', out);
    put_safe(out, kura_audit_decision_name(r->decision), 6);
    fputc(' ', out);
    put_safe(out, who, 20);
    fputc(' ', out);
    put_safe(out, r->dataset, 12);
    fputc(' ', out);
    put_safe(out, r->path ? r->path : r->detail, 0);
    if (r->reason) {
        fputs("  reason: ", out);
        put_safe(out, r->reason, 0);
    }
    if (r->exe) {
        fputs("  exe: ", out);
        put_safe(out, r->exe, 0);
    }
    if (r->bytes != KURA_AUDIT_ABSENT)
        fprintf(out, "  bytes: %lld", (long long)r->bytes);
    if (r->count != KURA_AUDIT_ABSENT)
        fprintf(out, "  count: %lld", (long long)r->count);
    fputc('\n', out);
}

static int show(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem, void *ctx)
{
    struct audit_view *v = ctx;
    if (!e) {
        /* A line being written right now is not damage; verify judges the rest. */
        if (!strstr(problem, "unfinished")) {
            v->problems++;
            fprintf(v->c->err, "kuractl audit: %s:%llu: %s (kuractl audit verify checks the log)\n", file,
                    (unsigned long long)line, problem);
        }
        return 0;
    }
    if (!kura_audit_filter_match(&v->filter, e))
        return 0;
    if (!v->c->actor->operator && !led_by_actor(v, e->rec.dataset))
        return 0;
    /* Central records come by node, then seq. */
    int node_order = v->after_node ? strcmp(file, v->after_node) : 0;
    if (node_order < 0 || (node_order == 0 && e->seq <= v->after))
        return 0;
    /* Through the daemon the answer is held in memory and stops at a cap: a
     * page ends at a quarter of it, the rest follows with --after, never cut.
     * Direct, it streams. */
    size_t cap = v->c->env->output_max;
    if ((v->limit && v->shown >= v->limit) || (cap && ftell(v->c->out) > (long)(cap / 4))) {
        v->more = true;
        return 1;
    }
    v->shown++;
    v->last_seq = e->seq;
    const char *node = v->cluster ? file : NULL;
    if (node)
        snprintf(v->last_node, sizeof v->last_node, "%s", node);
    if (v->json)
        print_json(v->c->out, e, node);
    else
        print_row(v->c->out, e, node);
    return 0;
}

int cmd_led_datasets(const struct kura_cmd_ctx *c, char ***out, size_t *n, struct kura_err *e)
{
    *out = NULL;
    *n = 0;
    char **ids = NULL;
    size_t nids = 0;
    if (cmd_dataset_ids(c, &ids, &nids, e) != 0)
        return -1;
    char **led = calloc(nids ? nids : 1, sizeof *led);
    if (!led) {
        cmd_strv_free(ids, nids);
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < nids; i++) {
        struct kura_dataset ds;
        char *ini = cmd_dataset_file(c, ids[i], KURA_DATASET_INI);
        if (ini && kura_dataset_load(ini, &ds, NULL) == 0 && cmd_actor_is_pi(c, &ds)) {
            led[*n] = ids[i];
            ids[i] = NULL;
            (*n)++;
        }
        kura_dataset_clear(&ds);
        free(ini);
    }
    cmd_strv_free(ids, nids);
    *out = led;
    return 0;
}

/* A PI's datasets into v->led (an operator's: none, they read all); fails,
 * saying so, for anyone else, or for a --dataset the PI does not lead. */
static int actor_datasets(const struct kura_cmd_ctx *c, const char *dataset, struct audit_view *v)
{
    struct kura_err e = {0};
    if (c->actor->operator)
        return 0;
    if (cmd_led_datasets(c, &v->led, &v->nled, &e) != 0)
        return cmd_fail_err(c, &e), -1;
    if (!v->nled)
        return cmd_fail(c, "only operators and the PI of a dataset may read the audit log"), -1;
    if (dataset && !led_by_actor(v, dataset))
        return cmd_fail(c, "only the PI of dataset %s or an operator may read its records", dataset), -1;
    return 0;
}

int cmd_audit(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *dataset = NULL, *user = NULL, *since = NULL, *after = NULL, *limit = NULL;
    bool json = false;
    const struct cmd_opt opts[] = {{"dataset", true, &dataset, NULL}, {"user", true, &user, NULL},
                                   {"since", true, &since, NULL},     {"after", true, &after, NULL},
                                   {"limit", true, &limit, NULL},     {"json", false, NULL, &json}, {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    struct audit_view v = {.c = c, .json = json, .filter = {.dataset = dataset, .user = user},
                           .cluster = cmd_cluster_mode(c)};
    /* In cluster mode a place in the records is a node and its seq. */
    char after_node[KURA_CLUSTER_NODE_MAX];
    const char *colon = after && v.cluster ? strrchr(after, ':') : NULL;
    if (after && v.cluster) {
        if (!colon || (size_t)(colon - after) >= sizeof after_node)
            return cmd_usage(c, "--after: expected NODE:SEQ in cluster mode (as the last page ended)");
        snprintf(after_node, sizeof after_node, "%.*s", (int)(colon - after), after);
        if (kura_cluster_node_check(after_node, &e) != 0)
            return cmd_usage(c, "--after: %s", e.msg);
        v.after_node = after_node;
        after = colon + 1;
    }
    if (dataset && kura_id_check(dataset, "--dataset", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (user && kura_user_name_check(user, &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    if (since) {
        int64_t start, end;
        if (kura_when_parse(since, c->env->cfg->zone, &start, &end, &e) != 0)
            return cmd_usage(c, "--since: %s", e.msg);
        v.filter.since_ms = start * 1000;
    }
    const struct {
        const char *text, *name;
        uint64_t *out;
    } numbers[] = {{after, "--after", &v.after}, {limit, "--limit", &v.limit}};
    for (size_t i = 0; i < 2; i++) {
        const char *text = numbers[i].text;
        if (text && kura_parse_decimal(text, strlen(text), UINT64_MAX, numbers[i].out) != 0)
            return cmd_usage(c, "%s: expected a record number (0, 1, 2, ...)", numbers[i].name);
    }
    int rc = KURA_EXIT_FAIL;
    if (actor_datasets(c, dataset, &v) != 0)
        goto out;
    if (!json && v.cluster)
        fprintf(c->out, "%-12s ", "NODE");
    if (!json)
        fprintf(c->out, "%-30s %-13s %-6s %-20s %-12s %s\n", "TIME", "EVENT", "RESULT", "USER(UID)", "DATASET",
                "PATH / DETAIL");
    if (cmd_audit_each(c, show, &v, &e) != 0 && !v.more) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (!json)
        fprintf(c->out, "(%zu record(s))\n", v.shown);
    if (v.more)
        fprintf(c->err, "kuractl audit: more records follow; continue with --after %s%s%" PRIu64 "\n",
                v.cluster ? v.last_node : "", v.cluster ? ":" : "", v.last_seq);
    rc = v.problems ? KURA_EXIT_FAIL : KURA_EXIT_OK;
out:
    cmd_strv_free(v.led, v.nled);
    return rc;
}

struct verify_view {
    const struct kura_cmd_ctx *c;
};

static void report(const struct kura_audit_finding *f, void *ctx)
{
    struct verify_view *v = ctx;
    if (!f->bad)
        return;
    if (f->line)
        fprintf(v->c->out, "BAD %s:%llu (seq %llu): ", f->file, (unsigned long long)f->line,
                (unsigned long long)f->seq);
    else
        fprintf(v->c->out, "BAD %s (seq %llu): ", f->file, (unsigned long long)f->seq);
    put_safe(v->c->out, f->what, 0);
    fputc('\n', v->c->out);
}

/* One node's records from the central store, through the verifier's chain check. */
struct node_chain {
    struct kura_audit_chain_check *ck;
    char source[KURA_CLUSTER_NODE_MAX + 8];
    bool bad;
};

static int central_line(const char *node, uint64_t seq, const char *line, size_t len, void *ctx)
{
    (void)node;
    (void)seq;
    struct node_chain *n = ctx;
    if (kura_audit_chain_line(n->ck, n->source, line, len, NULL) != 0) {
        n->bad = true;
        return 1;
    }
    return 0;
}

/* Cluster mode: each node's chain as the central store holds it, and what
 * is missing at its end: records the node stored there (gone: bad) or has
 * not shipped yet (its backlog: a note). */
static int verify_central(const struct kura_cmd_ctx *c, const unsigned char *key)
{
    struct kura_err e = {0};
    struct kura_cluster *db = NULL;
    struct kura_cluster_audit_node *nodes = NULL;
    size_t n = 0, bad = 0;
    if (cmd_cluster_connect(c, "audit", &db, &e) != 0 || kura_cluster_audit_nodes(db, &nodes, &n, &e) != 0) {
        kura_cluster_close(db);
        return cmd_fail(c, "the central audit store cannot be read: %s", e.msg);
    }
    struct verify_view v = {.c = c};
    int rc = KURA_EXIT_OK;
    for (size_t i = 0; i < n && rc == KURA_EXIT_OK; i++) {
        const struct kura_cluster_audit_node *node = &nodes[i];
        struct node_chain nc = {.ck = kura_audit_chain_new(key, report, &v)};
        snprintf(nc.source, sizeof nc.source, "node %s", node->name);
        struct kura_audit_summary sum = {0};
        if (!nc.ck || kura_cluster_audit_each(db, node->name, central_line, &nc, &e) < 0)
            rc = nc.ck ? cmd_fail(c, "the central audit store cannot be read: %s", e.msg)
                       : cmd_fail(c, "out of memory");
        kura_audit_chain_end(nc.ck, &sum);
        if (rc != KURA_EXIT_OK)
            break;
        fprintf(c->out, "node %s: %llu record(s), seq %llu..%llu: ", node->name, (unsigned long long)sum.records,
                (unsigned long long)sum.first_seq, (unsigned long long)sum.last_seq);
        if (nc.bad)
            fprintf(c->out, "BAD (above)\n");
        else if (sum.last_seq < node->shipped_seq)
            fprintf(c->out, "BAD: seq %llu..%llu missing (the node stored them; they were removed)\n",
                    (unsigned long long)sum.last_seq + 1, (unsigned long long)node->shipped_seq);
        else if (sum.last_seq < node->written_seq)
            fprintf(c->out, "chain verified; seq %llu..%llu not shipped yet (in the node's local log)\n",
                    (unsigned long long)sum.last_seq + 1, (unsigned long long)node->written_seq);
        else
            fprintf(c->out, "chain verified\n");
        bad += nc.bad || sum.last_seq < node->shipped_seq;
    }
    free(nodes);
    kura_cluster_close(db);
    if (rc != KURA_EXIT_OK)
        return rc;
    if (bad)
        return cmd_fail(c, "the central audit store does not verify: %zu of %zu node(s) bad", bad, n);
    fprintf(c->out, "central audit store verified: %zu node(s)\n", n);
    return KURA_EXIT_OK;
}

int cmd_audit_verify(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    bool local = false;
    const struct cmd_opt opts[] = {{"local", false, NULL, &local}, {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (!c->actor->operator)
        return cmd_fail(c, "only an operator (root or group %s) may verify the audit log", KURA_ADMIN_GROUP);
    struct kura_err e = {0};
    char *key_path = NULL;
    if (asprintf(&key_path, "%s/%s", c->env->cfg->keys_dir, KURA_AUDIT_KEY_FILE) < 0)
        return cmd_fail(c, "out of memory");
    unsigned char *key = kura_audit_key_load(key_path, &e);
    free(key_path);
    if (!key)
        return cmd_fail_err(c, &e);
    if (cmd_cluster_mode(c) && !local) {
        int rc = verify_central(c, key);
        kura_secure_free(key);
        return rc;
    }
    struct verify_view v = {.c = c};
    struct kura_audit_summary sum = {0};
    int r = kura_audit_verify(c->env->cfg->audit_log, key, report, &v, &sum, &e);
    kura_secure_free(key);
    if (r != 0)
        return cmd_fail(c, "the audit log does not verify: %s", e.msg);
    fprintf(c->out, "audit log verified: %llu record(s) in %llu file(s), seq %llu..%llu\n",
            (unsigned long long)sum.records, (unsigned long long)sum.files, (unsigned long long)sum.first_seq,
            (unsigned long long)sum.last_seq);
    char when[32];
    if (sum.removed_last && kura_time_format(sum.removed_ms / 1000, c->env->cfg->zone, when, sizeof when) == 0)
        fprintf(c->out, "seq 1..%llu removed under retention, as the log records (the last removal %s)\n",
                (unsigned long long)sum.removed_last, when);
    return KURA_EXIT_OK;
}

/* ---- kuractl audit summary (R-LOG-9) ---- */

typedef struct kura_report_label label;

static const label SUMMARY = {"audit_summary", "Audit log summary", "監査ログの集計"};
static const label L_SINCE = {"since", "From", "集計期間（開始）"};
static const label L_UNTIL = {"until", "Until (not included)", "集計期間（終了、含まない）"};
static const label L_RECORDS = {"records", "Records in the period", "期間内の記録数"};
static const label T_DATASETS = {"datasets", "Per dataset", "データセット別"};
static const label T_USERS = {"users", "Users who opened files or read through another's open",
                              "ファイルを開いた利用者・他のプロセスが開いたファイルを読み出した利用者"};
static const label T_REFUSALS = {"refusals", "Refusals by reason", "理由別の拒否"};
static const label T_ALERTS = {"alerts", "Alerts", "警告"};
static const label C_DATASET = {"dataset", "dataset", "データセット"};
static const label C_USERS = {"users", "users", "利用者数"};
static const label C_USER = {"user", "user", "利用者"};
static const label C_OPENS = {"opens", "opens allowed", "許可されたアクセス"};
static const label C_BYTES = {"bytes_read", "bytes read", "読み出し量"};
static const label C_REFUSED = {"refusals", "refusals", "拒否"};
static const label C_ALERTS = {"alerts", "alerts", "警告"};
static const label C_REASON = {"reason", "reason", "理由"};
static const label C_COUNT = {"count", "count", "件数"};
static const label W_OUTSIDE = {"outside", "(outside any dataset)", "（データセット外）"};
static const label NONE = {"none", "none", "なし"};
static const label *const DATASET_COLS[] = {&C_DATASET, &C_USERS,   &C_OPENS, &cmd_label_read_throughs,
                                            &C_BYTES,   &C_REFUSED, &C_ALERTS};
static const label *const USER_COLS[] = {&C_DATASET, &C_USER, &C_OPENS, &cmd_label_read_throughs,
                                         &C_BYTES};
static const label *const COUNT_COLS[] = {&C_DATASET, &C_REASON, &C_COUNT};

/* One counter: a user's opens, read-throughs and bytes, or a reason's
 * refusals or alerts, in a dataset (NULL: outside any). */
enum tally_kind { TALLY_USER, TALLY_REFUSAL, TALLY_ALERT };
struct tally {
    char *dataset, *key;
    enum tally_kind kind;
    uint64_t opens, read_throughs, bytes, count;
};

struct summary_scan {
    int64_t since_ms, until_ms;
    const char *dataset;        /* --dataset */
    const struct audit_view *who; /* the actor's datasets, if not an operator */
    struct tally *t;
    size_t n, cap;
    uint64_t records;
    bool nomem;
};

static bool same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static struct tally *tally_slot(struct summary_scan *s, const char *dataset, enum tally_kind kind, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->t[i].kind == kind && same(s->t[i].dataset, dataset) && strcmp(s->t[i].key, key) == 0)
            return &s->t[i];
    if (!kura_grow((void **)&s->t, &s->cap, s->n, sizeof *s->t))
        return NULL;
    struct tally *x = &s->t[s->n];
    *x = (struct tally){.kind = kind, .dataset = dataset ? strdup(dataset) : NULL, .key = strdup(key)};
    if ((dataset && !x->dataset) || !x->key) {
        free(x->dataset);
        free(x->key);
        return NULL;
    }
    s->n++;
    return x;
}

static int summary_take(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                        void *ctx)
{
    (void)file, (void)line, (void)problem;
    struct summary_scan *s = ctx;
    if (!e)
        return 0;
    const struct kura_audit_record *r = &e->rec;
    if (r->time_ms < s->since_ms || r->time_ms >= s->until_ms || (s->dataset && !same(r->dataset, s->dataset)) ||
        (s->who && !led_by_actor(s->who, r->dataset)))
        return 0;
    s->records++;
    struct tally *x = NULL;
    bool allowed = r->event == KURA_AUDIT_OPEN && r->decision == KURA_AUDIT_ALLOW;
    bool reader = allowed && kura_audit_is_reader(r);   /* no open of its own: counted apart */
    bool read = r->event == KURA_AUDIT_CLOSE && r->bytes > 0;
    if ((allowed || read) && r->dataset) {
        if (!(x = tally_slot(s, r->dataset, TALLY_USER, r->user ? r->user : "-")))
            goto nomem;
        x->opens += allowed && !reader;
        x->read_throughs += reader;
        x->bytes += read ? (uint64_t)r->bytes : 0;
    } else if (kura_audit_is_refusal(r)) {
        if (!(x = tally_slot(s, r->dataset, TALLY_REFUSAL, r->reason ? r->reason : "-")))
            goto nomem;
        x->count += r->event == KURA_AUDIT_REFUSALS && r->count > 0 ? (uint64_t)r->count : 1;
    } else if (r->event == KURA_AUDIT_ALERT) {
        if (!(x = tally_slot(s, r->dataset, TALLY_ALERT, r->reason ? r->reason : "-")))
            goto nomem;
        x->count++;
    }
    return 0;
nomem:
    s->nomem = true;
    return 1;
}

/* By dataset (outside any last), kind, key. */
static int tally_cmp(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    if (!same(x->dataset, y->dataset))
        return !x->dataset ? 1 : !y->dataset ? -1 : strcmp(x->dataset, y->dataset);
    if (x->kind != y->kind)
        return (int)x->kind - (int)y->kind;
    return strcmp(x->key, y->key);
}

static struct kura_report_cell dataset_cell(const char *dataset)
{
    return dataset ? KURA_CELL_TEXT(dataset) : KURA_CELL_WORD(&W_OUTSIDE);
}

/* The model: items for the period, a row per dataset, then the users, the
 * refusals and the alerts, each row naming its dataset. */
static void summary_model(struct kura_report *rep, const struct summary_scan *s, const struct kura_zone *zone)
{
    char since[32], until[32], period[80];
    kura_time_format(s->since_ms / 1000, zone, since, sizeof since);
    kura_time_format(s->until_ms / 1000, zone, until, sizeof until);
    snprintf(period, sizeof period, "%s..%s", since, until);
    kura_report_init(rep, &SUMMARY, period);
    kura_report_item(rep, &L_SINCE, KURA_CELL_TEXT(since));
    kura_report_item(rep, &L_UNTIL, KURA_CELL_TEXT(until));
    kura_report_item(rep, &L_RECORDS, KURA_CELL_INT(s->records));
    struct kura_report_table *per = kura_report_table(rep, &T_DATASETS, DATASET_COLS, KURA_COUNT(DATASET_COLS), &NONE);
    struct kura_report_table *users = kura_report_table(rep, &T_USERS, USER_COLS, KURA_COUNT(USER_COLS), &NONE);
    struct kura_report_table *refusals = kura_report_table(rep, &T_REFUSALS, COUNT_COLS, KURA_COUNT(COUNT_COLS), &NONE);
    struct kura_report_table *alerts = kura_report_table(rep, &T_ALERTS, COUNT_COLS, KURA_COUNT(COUNT_COLS), &NONE);
    if (!per || !users || !refusals || !alerts)
        return;
    for (size_t i = 0; i < s->n;) {
        const char *ds = s->t[i].dataset;
        uint64_t nusers = 0, opens = 0, read_throughs = 0, bytes = 0, refused = 0, alerted = 0;
        for (; i < s->n && same(s->t[i].dataset, ds); i++) {
            const struct tally *x = &s->t[i];
            if (x->kind == TALLY_USER) {
                nusers += x->opens > 0 || x->read_throughs > 0;
                opens += x->opens;
                read_throughs += x->read_throughs;
                bytes += x->bytes;
                kura_report_row(rep, users, (struct kura_report_cell[]){dataset_cell(ds), KURA_CELL_TEXT(x->key),
                                                                        KURA_CELL_INT(x->opens),
                                                                        KURA_CELL_INT(x->read_throughs),
                                                                        KURA_CELL_BYTES(x->bytes)});
                continue;
            }
            *(x->kind == TALLY_REFUSAL ? &refused : &alerted) += x->count;
            kura_report_row(rep, x->kind == TALLY_REFUSAL ? refusals : alerts,
                            (struct kura_report_cell[]){dataset_cell(ds), KURA_CELL_TEXT(x->key), KURA_CELL_INT(x->count)});
        }
        kura_report_row(rep, per, (struct kura_report_cell[]){dataset_cell(ds), KURA_CELL_INT(nusers), KURA_CELL_INT(opens),
                                                              KURA_CELL_INT(read_throughs), KURA_CELL_BYTES(bytes),
                                                              KURA_CELL_INT(refused), KURA_CELL_INT(alerted)});
    }
}

static void summary_free(struct summary_scan *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->t[i].dataset);
        free(s->t[i].key);
    }
    free(s->t);
}

/* Reads every record into s (the server's log; in cluster mode every
 * node's, from the central store), and makes the model. */
static int summary_read(const struct kura_cmd_ctx *c, struct summary_scan *s, struct kura_report *rep,
                        struct kura_err *e)
{
    int rc = cmd_audit_each(c, summary_take, s, e) == 0 ? 0 : -1;
    if (rc == 0 && s->nomem) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        return -1;
    if (s->n > 1)
        qsort(s->t, s->n, sizeof *s->t, tally_cmp);
    summary_model(rep, s, c->env->cfg->zone);
    return 0;
}

int cmd_audit_summary(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *dataset = NULL, *since = NULL, *until = NULL, *lang = "en";
    bool json = false;
    const struct cmd_opt opts[] = {{"since", true, &since, NULL},     {"until", true, &until, NULL},
                                   {"dataset", true, &dataset, NULL}, {"lang", true, &lang, NULL},
                                   {"json", false, NULL, &json},      {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    int required = cmd_required_option(c, since, "--since", "the first day summed up");
    if (required != KURA_EXIT_OK)
        return required;
    struct summary_scan s = {.dataset = dataset, .until_ms = kura_clock_ms(CLOCK_REALTIME)};
    int64_t start, end;
    if (kura_when_parse(since, c->env->cfg->zone, &start, NULL, &e) != 0)
        return cmd_usage(c, "--since: %s", e.msg);
    s.since_ms = start * 1000;
    /* --until a date: up to the end of that day. */
    if (until && kura_when_parse(until, c->env->cfg->zone, &start, &end, &e) != 0)
        return cmd_usage(c, "--until: %s", e.msg);
    if (until)
        s.until_ms = (end > start ? end : start + 1) * 1000;
    if (s.until_ms <= s.since_ms)
        return cmd_usage(c, "--until is before --since");
    enum kura_report_lang language;
    if (kura_report_lang_parse(lang, &language) != 0)
        return cmd_usage(c, "--lang is ja or en");
    if (dataset && kura_id_check(dataset, "--dataset", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    struct audit_view v = {.c = c};
    int rc = KURA_EXIT_FAIL;
    if (actor_datasets(c, dataset, &v) != 0)
        goto out;
    if (!c->actor->operator)
        s.who = &v;
    struct kura_report rep = {0};
    if (summary_read(c, &s, &rep, &e) != 0)
        cmd_fail_err(c, &e);
    else
        rc = cmd_report_print(c, &rep, json ? CMD_REPORT_JSON : CMD_REPORT_MD, language);
    kura_report_free(&rep);
    summary_free(&s);
out:
    cmd_strv_free(v.led, v.nled);
    return rc;
}

const struct kura_cmd cmd_row_audit_summary = {"audit", "summary", KURA_CMD_ANY_PI, 0, cmd_audit_summary,
    "--since WHEN [--until WHEN] [--dataset ID] [--json] [--lang ja|en]",
    "Sums up the audit log for its regular review, per dataset: the users who opened files,\n"
    "opens allowed, bytes read, refusals by reason and alerts; and the refusals outside any\n"
    "dataset (operators only). --until a date counts that day. A PI gets their datasets'.\n"
    "kurafs sends it weekly ([audit] summary_weekday) through notify_command."};

int kura_cmd_audit_summary_file(const struct kura_cmd_env *env, int64_t since, int64_t until, const char *path,
                                struct kura_err *err)
{
    struct summary_scan s = {.since_ms = since * 1000, .until_ms = until * 1000};
    struct kura_report rep = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    struct kura_actor root;
    struct kura_cmd_ctx c;
    int rc = out && kura_actor_resolve(0, 0, getpid(), &root, err) == 0 ? 0 : -1;
    if (!out)
        kura_err_set(err, ENOMEM, "out of memory");
    if (rc == 0) {
        cmd_ctx_of(&c, env, &root, out, &cmd_row_audit_summary);
        rc = summary_read(&c, &s, &rep, err);
    }
    if (rc == 0) {
        rc = cmd_report_print(&c, &rep, CMD_REPORT_MD, KURA_REPORT_EN) == KURA_EXIT_OK ? 0 : -1;
        if (rc != 0)
            kura_err_set(err, EIO, "the summary could not be printed");
    }
    if (out && fclose(out) != 0 && rc == 0) {
        kura_err_set(err, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = kura_write_file_atomic(path, text, len, 0600, err);
    free(text);
    kura_report_free(&rep);
    summary_free(&s);
    return rc;
}
