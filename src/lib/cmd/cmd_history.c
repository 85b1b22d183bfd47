/* kuractl status, the caller's own history: their recent refusals (from the
 * audit log) and their grants' history (from the ledgers). Only the
 * caller's own records, by uid and account name; a refusal names its
 * dataset only where the caller is or was listed, so that a refused look at
 * a hidden dataset never tells an outsider that it exists. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/dsfile.h"
#include "kura/grow.h"
#include "kura/json.h"
#include "kura/ledger.h"
#include "kura/policy.h"
#include "kura/when.h"

#define ID_LEN 64                           /* kura_id_check's longest */
#define HISTORY_REFUSALS 10                 /* the newest shown */
#define HISTORY_DAYS 7
#define HISTORY_TAIL_BYTES (8u << 20)       /* of the audit log read: status stays fast */

/* The caller's ledger records in one dataset: grants, removals, approvals. */
struct grant_event {
    char time[48], action[24], after[128];
    const char *by;                         /* "you", "the PI", "an operator": never another's name */
};

struct mine {
    char id[ID_LEN + 1];
    const struct kura_dataset *ds;          /* NULL: unreadable */
    bool listed;                            /* now, under the caller's name */
    struct grant_event *ev;
    size_t nev, ev_cap;
};

struct history {
    const struct kura_cmd_ctx *c;
    struct mine *ds;
    size_t nds;
    struct refusal_row {
        char time[48], dataset[ID_LEN + 1], path[160], reason[200];
        bool named;                         /* the caller may see the dataset */
    } rows[HISTORY_REFUSALS];
    size_t nrows, next;                     /* ring of the newest rows */
    int64_t since_ms;
};

static struct mine *mine_find(struct history *h, const char *id)
{
    for (size_t i = 0; id && i < h->nds; i++)
        if (strcmp(h->ds[i].id, id) == 0)
            return &h->ds[i];
    return NULL;
}

/* Who made a change, by role: a user learns whether the PI or an operator
 * acted, not who else is on the server. */
static const char *changed_by(const struct kura_ledger_record *r, const struct kura_dataset *ds,
                              const struct kura_actor *me)
{
    const char *name = r->actor ? r->actor : "";
    if (r->uid == (int64_t)me->uid && strcmp(name, me->name) == 0)
        return "you";
    if (ds && r->uid == (int64_t)ds->pi_uid && strcmp(name, ds->pi) == 0)
        return "the PI";
    return "an operator";
}

/* The account a text names: the "uid=N" that opens it, after "role=ROLE "
 * in a grant's (cmd_user.c) or "pi=NAME " in a PI change's (cmd_pi.c); -1
 * where it has none. Only there: further on, the text holds what people
 * chose (an institution, an approval). */
static int64_t text_uid(const char *u)
{
    const char *space;
    if (u && (strncmp(u, "role=", 5) == 0 || strncmp(u, "pi=", 3) == 0))
        u = (space = strchr(u, ' ')) ? space + 1 : NULL;
    uint64_t uid;
    if (u && strncmp(u, "uid=", 4) == 0 && kura_parse_decimal(u + 4, strcspn(u + 4, " "), UINT32_MAX, &uid) == 0)
        return (int64_t)uid;
    return -1;
}

/* The account a user-* record is about: after the change or before it. */
static int64_t record_uid(const struct kura_ledger_record *r)
{
    int64_t uid = text_uid(r->after);
    return uid >= 0 ? uid : text_uid(r->before);
}

/* The caller's own records: under the account's name and its uid, so that a
 * new account given an old one's name never sees the old one's grants. */
static int take_ledger(const struct kura_ledger_record *r, void *arg)
{
    struct history *h = ((void **)arg)[0];
    struct mine *m = ((void **)arg)[1];
    if (!r->action || strncmp(r->action, "user-", 5) != 0 || !r->target ||
        strcmp(r->target, h->c->actor->name) != 0 || record_uid(r) != (int64_t)h->c->actor->uid)
        return 0;
    if (!kura_grow((void **)&m->ev, &m->ev_cap, m->nev, sizeof *m->ev))
        return -1;
    struct grant_event *ev = &m->ev[m->nev++];
    snprintf(ev->time, sizeof ev->time, "%s", r->time ? r->time : "?");
    snprintf(ev->action, sizeof ev->action, "%s", r->action + 5);
    ev->by = changed_by(r, m->ds, h->c->actor);
    snprintf(ev->after, sizeof ev->after, "%s", r->after ? r->after : "");
    return 0;
}

/* Why a refusal happened, in the caller's words. */
static void refusal_reason(const struct kura_audit_entry *e, const struct mine *m, char *buf, size_t len)
{
    const struct kura_audit_record *r = &e->rec;
    const char *reason = r->reason ? r->reason : "refused";
    if (r->count != KURA_AUDIT_ABSENT) {
        snprintf(buf, len, "%lld refusals (counted together)", (long long)r->count);
    } else if (strcmp(reason, kura_reason_name(KURA_DENY_GUARD)) == 0) {
        const char *exe = r->exe ? r->exe : "?", *slash = strrchr(exe, '/');
        snprintf(buf, len, "copy-out tool refused: %s", slash ? slash + 1 : exe);
    } else if (strcmp(reason, kura_reason_name(KURA_DENY_NOT_LISTED)) == 0 && m && m->nev &&
               strcmp(m->ev[m->nev - 1].action, "remove") == 0) {
        const struct grant_event *ev = &m->ev[m->nev - 1];
        snprintf(buf, len, "access ended %s (removed by %s)", ev->time, ev->by);
    } else if (strcmp(reason, kura_reason_name(KURA_DENY_EXPIRED)) == 0) {
        snprintf(buf, len, "expired: your period is over");
    } else
        snprintf(buf, len, "%s", reason);
}

static int take_audit(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                      void *ctx)
{
    (void)file, (void)line, (void)problem;
    struct history *h = ctx;
    const struct kura_audit_record *r = e ? &e->rec : NULL;
    /* The caller's own: the uid and the account name both. */
    if (!r || r->decision != KURA_AUDIT_DENY || r->uid != (int64_t)h->c->actor->uid || !r->user ||
        strcmp(r->user, h->c->actor->name) != 0 || r->time_ms < h->since_ms)
        return 0;
    struct refusal_row *row = &h->rows[h->next];
    h->next = (h->next + 1) % HISTORY_REFUSALS;
    if (h->nrows < HISTORY_REFUSALS)
        h->nrows++;
    memset(row, 0, sizeof *row);
    snprintf(row->time, sizeof row->time, "%s", e->time);
    struct mine *m = mine_find(h, r->dataset);
    row->named = m && (m->listed || m->nev);
    if (!row->named) {
        snprintf(row->reason, sizeof row->reason, "refused (not a dataset of yours)");
        return 0;
    }
    snprintf(row->dataset, sizeof row->dataset, "%s", r->dataset);
    snprintf(row->path, sizeof row->path, "%s", r->path ? r->path : "-");
    refusal_reason(e, m, row->reason, sizeof row->reason);
    return 0;
}

/* One grant event of status --json's "history". */
static int history_json(const struct kura_cmd_ctx *c, bool first, const char *id, const struct grant_event *ev)
{
    char buf[1024];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "dataset", id);
    kura_json_add_string(&w, "time", ev->time);
    kura_json_add_string(&w, "action", ev->action);
    kura_json_add_string(&w, "by", ev->by);
    kura_json_add_string(&w, "after", ev->after);
    return cmd_json_item(c, &w, first, id);
}

/* One refusal of status --json's "refusals"; dataset and path "" where the
 * text names no dataset. */
static int refusal_json(const struct kura_cmd_ctx *c, bool first, const struct refusal_row *row)
{
    char buf[1024];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "time", row->time);
    kura_json_add_string(&w, "dataset", row->dataset);
    kura_json_add_string(&w, "path", row->path);
    kura_json_add_string(&w, "reason", row->reason);
    return cmd_json_item(c, &w, first, "a refusal");
}

int cmd_status_history(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded,
                       char **ids, size_t n, bool json)
{
    struct history h = {.c = c, .since_ms = (cmd_now() - HISTORY_DAYS * 86400) * 1000};
    h.ds = calloc(n ? n : 1, sizeof *h.ds);
    if (!h.ds)
        return -1;
    for (size_t i = 0; i < n && c->actor->name[0]; i++) {
        struct mine *m = &h.ds[h.nds++];
        snprintf(m->id, sizeof m->id, "%s", ids[i]);
        if (loaded[i]) {
            m->ds = &all[i];
            enum kura_reason l = kura_policy_listing(&all[i], c->actor->uid, c->actor->name);
            m->listed = l != KURA_DENY_NOT_LISTED && l != KURA_DENY_ACCOUNT_CHANGED;
        }
        char *ledger = cmd_dataset_file(c, ids[i], KURA_LEDGER_FILE);
        struct kura_err e = {0};
        void *arg[2] = {&h, m};
        if (ledger)
            kura_ledger_read(ledger, take_ledger, arg, &e);
        free(ledger);
    }
    int rc = 0;
    size_t shown = 0;
    if (json)
        fputs(",\n\"history\": [", c->out);
    for (size_t i = 0; i < h.nds && rc == 0; i++) {
        const struct mine *m = &h.ds[i];
        for (size_t j = 0; j < m->nev && rc == 0; j++) {
            if (json) {
                rc = history_json(c, shown++ == 0, m->id, &m->ev[j]);
                continue;
            }
            if (!shown++)
                fprintf(c->out, "\nyour grants' history:\n");
            fprintf(c->out, "%-20s %-26s %-8s by %-12s ", m->id, m->ev[j].time, m->ev[j].action, m->ev[j].by);
            /* The grant's text: a PI's approval and records, escaped (text.h). */
            kura_text_put_escaped(c->out, m->ev[j].after, strlen(m->ev[j].after));
            fputc('\n', c->out);
        }
    }
    struct kura_err e = {0};
    /* An account without a name has no records of its own to show. */
    if (c->actor->name[0])
        kura_audit_read_tail(c->env->cfg->audit_log, HISTORY_TAIL_BYTES, take_audit, &h, &e);
    if (json)
        fputs("],\n\"refusals\": [", c->out);
    else if (h.nrows)
        fprintf(c->out, "\nyour refusals (last %d days, newest last):\n", HISTORY_DAYS);
    for (size_t k = 0; k < h.nrows && rc == 0; k++) {
        const struct refusal_row *row = &h.rows[(h.next + HISTORY_REFUSALS - h.nrows + k) % HISTORY_REFUSALS];
        if (json)
            rc = refusal_json(c, k == 0, row);
        else {
            /* The reason may hold a program's name, chosen by whoever ran it. */
            fprintf(c->out, "%-26s ", row->time);
            if (row->named) {
                fprintf(c->out, "%-20s ", row->dataset);
                kura_text_put_escaped(c->out, row->path, strlen(row->path));
                fputs(": ", c->out);
            }
            kura_text_put_escaped(c->out, row->reason, strlen(row->reason));
            fputc('\n', c->out);
        }
    }
    if (json)
        fputc(']', c->out);
    for (size_t i = 0; i < h.nds; i++)
        free(h.ds[i].ev);
    free(h.ds);
    return rc;
}

/* ---- who was listed when, for the reports (cmd_priv.h) ---- */

struct listings_read {
    const struct kura_cmd_ctx *c;
    const struct kura_dataset *ds;
    struct cmd_listings *l;
    bool nomem;
};

static struct cmd_listing *listing_open(struct cmd_listings *l, const char *user, int64_t uid, bool pi)
{
    for (size_t i = l->n; i-- > 0;)
        if (l->v[i].until == INT64_MAX && l->v[i].pi == pi && l->v[i].uid == uid && strcmp(l->v[i].user, user) == 0)
            return &l->v[i];
    return NULL;
}

static int listing_add(struct listings_read *lr, const char *user, size_t ulen, int64_t uid, int64_t from, bool pi)
{
    if (!kura_grow((void **)&lr->l->v, &lr->l->cap, lr->l->n, sizeof *lr->l->v)) {
        lr->nomem = true;
        return -1;
    }
    struct cmd_listing *v = &lr->l->v[lr->l->n++];
    *v = (struct cmd_listing){.uid = uid, .from = from, .until = INT64_MAX, .pi = pi};
    snprintf(v->user, sizeof v->user, "%.*s", (int)ulen, user);
    return 0;
}

/* "pi=NAME uid=N": a set-pi's before or after. */
static bool pi_text(const char *text, const char **name, size_t *len, int64_t *uid)
{
    if (!text || strncmp(text, "pi=", 3) != 0 || (*uid = text_uid(text)) < 0)
        return false;
    *name = text + 3;
    *len = strcspn(*name, " ");
    return *len > 0 && *len <= KURA_USER_MAX;
}

/* The word before *len in s (after its last space) if it begins with key:
 * its value, and *len cut to that space; NULL if not. */
static const char *last_word(const char *s, size_t *len, const char *key)
{
    const char *sp = memrchr(s, ' ', *len);
    size_t kl = strlen(key);
    if (!sp || (size_t)(s + *len - sp - 1) < kl || strncmp(sp + 1, key, kl) != 0)
        return NULL;
    *len = (size_t)(sp - s);
    return sp + 1 + kl;
}

/* x's records from the end of a grant's text in the ledger, s[0..len):
 * cmd_user.c's records_text, " institution=I email=E trained=T", each
 * there if set. The day and the e-mail hold no space and are read from
 * the end, the institution is the rest (user add and update refuse one
 * that would read as them). Not recorded if it is not so. */
static void take_records(struct cmd_listing *x, const char *s, size_t len)
{
    x->recorded = false;
    size_t end = len;
    const char *trained = last_word(s, &len, "trained=");
    if (trained && (s + end == trained || (size_t)(s + end - trained) > KURA_DATE_LEN))
        return;
    last_word(s, &len, "email=");
    static const char inst[] = " institution=";
    size_t il = sizeof inst - 1;
    if (len && (len <= il || strncmp(s, inst, il) != 0 || len - il >= sizeof x->institution))
        return;
    snprintf(x->institution, sizeof x->institution, "%.*s", len ? (int)(len - il) : 0, s + il);
    snprintf(x->trained, sizeof x->trained, "%.*s", trained ? (int)(s + end - trained) : 0, trained ? trained : "");
    x->recorded = true;
}

/* A user-add's text, "role=R uid=N until=D[ approval=A][ RECORDS][
 * pending=approval-by-pi-P]" (A the record's detail): its RECORDS. */
static void take_grant_records(struct cmd_listing *x, const char *text, const char *approval)
{
    const char *s = text;
    for (int word = 0; word < 3 && s; word++)   /* role, uid, until: no spaces */
        s = strchr(s + 1, ' ');
    s = s ? s : text + strlen(text);
    if (approval && approval[0]) {
        size_t al = strlen(approval);
        if (strncmp(s, " approval=", 10) != 0 || strncmp(s + 10, approval, al) != 0) {
            x->recorded = false;
            return;
        }
        s += 10 + al;
    }
    size_t len = strlen(s);
    last_word(s, &len, "pending=approval-by-pi-");
    take_records(x, s, len);
}

static int take_listing(const struct kura_ledger_record *r, void *arg)
{
    struct listings_read *lr = arg;
    int64_t t, end, uid;
    if (!r->action || !r->target || kura_when_parse(r->time, lr->c->env->cfg->zone, &t, &end, NULL) != 0)
        return 0;
    const char *name;
    size_t len;
    if (strcmp(r->action, "user-add") == 0 && (uid = record_uid(r)) >= 0) {
        if (listing_add(lr, r->target, strlen(r->target), uid, t, false) != 0)
            return -1;
        take_grant_records(&lr->l->v[lr->l->n - 1], r->after, r->detail);
    } else if (strcmp(r->action, "user-update") == 0 && (uid = record_uid(r)) >= 0) {
        /* "uid=N[ RECORDS]" */
        struct cmd_listing *g = listing_open(lr->l, r->target, uid, false);
        const char *rest = g ? r->after + strcspn(r->after, " ") : NULL;
        if (rest)
            take_records(g, rest, strlen(rest));
    } else if (strcmp(r->action, "user-remove") == 0 && (uid = record_uid(r)) >= 0) {
        struct cmd_listing *g = listing_open(lr->l, r->target, uid, false);
        if (g)
            g->until = t;
    } else if (strcmp(r->action, "dataset-set-pi") == 0) {
        if (pi_text(r->before, &name, &len, &uid)) {
            char user[KURA_USER_MAX + 1];
            snprintf(user, sizeof user, "%.*s", (int)len, name);
            struct cmd_listing *p = listing_open(lr->l, user, uid, true);
            /* The first PI, named by dataset add (without a uid): from the dataset's start, as their row says. */
            if (!p && listing_add(lr, name, len, uid, lr->ds->from, true) != 0)
                return -1;
            (p ? p : &lr->l->v[lr->l->n - 1])->until = t;
        }
        if (pi_text(r->after, &name, &len, &uid))
            return listing_add(lr, name, len, uid, t, true);
    }
    return 0;
}

/* Marks (or, where the ledger has no record of it, adds) who ds lists now. */
static int listing_current(struct listings_read *lr, const char *user, int64_t uid, int64_t from, bool pi)
{
    struct cmd_listing *x = listing_open(lr->l, user, uid, pi);
    if (!x) {
        if (listing_add(lr, user, strlen(user), uid, from, pi) != 0)
            return -1;
        x = &lr->l->v[lr->l->n - 1];
    }
    x->current = true;
    return 0;
}

int cmd_listings_read(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, struct cmd_listings *out,
                      struct kura_err *e)
{
    memset(out, 0, sizeof *out);
    struct listings_read lr = {.c = c, .ds = ds, .l = out};
    char *ledger = cmd_dataset_file(c, ds->id, KURA_LEDGER_FILE);
    int rc = -1;
    if (!ledger) {
        lr.nomem = true;
    } else if (kura_ledger_read(ledger, take_listing, &lr, e) != 0) {
        if (!lr.nomem)
            kura_err_set(e, e->code, "the ledger does not verify: %s", e->msg);
    } else {
        rc = ds->pi[0] ? listing_current(&lr, ds->pi, ds->pi_uid, ds->from, true) : 0;
        for (size_t i = 0; i < ds->ngrants && rc == 0; i++)
            rc = listing_current(&lr, ds->grants[i].user, ds->grants[i].uid, ds->grants[i].from, false);
    }
    free(ledger);
    if (lr.nomem) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        cmd_listings_free(out);
    return rc;
}

size_t cmd_listing_now(const struct cmd_listings *l, const char *user, int64_t uid, bool pi)
{
    for (size_t k = 0; k < l->n; k++)
        if (l->v[k].current && l->v[k].pi == pi && l->v[k].uid == uid && strcmp(l->v[k].user, user) == 0)
            return k + 1;
    return 0;
}

size_t cmd_listing_of(const struct cmd_listings *l, const char *user, int64_t uid, int64_t time_ms, bool allowed)
{
    size_t first = 0, began = 0, n = 0, cur = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct cmd_listing *x = &l->v[i];
        if (x->uid != uid || strcmp(x->user, user) != 0)
            continue;
        n++;
        first = first ? first : i + 1;
        cur = x->current ? i + 1 : cur;
        if (x->from * 1000 <= time_ms && (!began || x->from >= l->v[began - 1].from))
            began = i + 1;
    }
    if (n == 1 && cur)
        return cur;
    const struct cmd_listing *b = began ? &l->v[began - 1] : NULL;
    if (b && (b->current || b->until == INT64_MAX || time_ms < (b->until + 1) * 1000))
        return began;
    return allowed ? 0 : began ? began : first;
}

void cmd_listings_free(struct cmd_listings *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}
