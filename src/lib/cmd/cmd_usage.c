/* What the audit log says about one dataset's use: per user (or per user
 * and file, for some of its files), opens allowed, reads through another
 * process's open (read-throughs), opens and writes refused, bytes read,
 * first and last access; and where the log stood (the last record). Read
 * by the usage, destruction and withdrawal reports. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/grow.h"

struct scan {
    const char *dataset;
    const char *const *paths;   /* sorted; NULL: every file, rows per user */
    size_t npaths;
    int64_t from_ms, to_ms;
    bool events;                /* collect incidents too */
    bool cluster;               /* records of every node: file names the node */
    const struct cmd_listings *listings; /* NULL: rows per user */
    struct cmd_usage *u;
    bool nomem;
};

static struct cmd_user_usage *user_slot(struct scan *s, const char *user, int64_t uid, const char *path,
                                        size_t listing)
{
    struct cmd_usage *u = s->u;
    for (size_t i = 0; i < u->n; i++)
        if (u->users[i].uid == uid && strcmp(u->users[i].user, user) == 0 && u->users[i].path == path &&
            u->users[i].listing == listing)
            return &u->users[i];
    if (!kura_grow((void **)&u->users, &u->cap, u->n, sizeof *u->users)) {
        s->nomem = true;
        return NULL;
    }
    struct cmd_user_usage *x = &u->users[u->n++];
    memset(x, 0, sizeof *x);
    snprintf(x->user, sizeof x->user, "%s", user);
    x->uid = uid;
    x->path = path;
    x->listing = listing;
    return x;
}

/* Incidents of the dataset: its alerts (bulk reads), suspensions and
 * resumptions, and the lockdowns of the whole server. */
static bool is_incident(const struct kura_audit_record *r, const char *dataset)
{
    if (r->event == KURA_AUDIT_LOCKDOWN || r->event == KURA_AUDIT_UNLOCK)
        return true;
    return (r->event == KURA_AUDIT_ALERT || r->event == KURA_AUDIT_SUSPEND || r->event == KURA_AUDIT_RESUME) &&
           r->dataset && strcmp(r->dataset, dataset) == 0;
}

static int add_event(struct scan *s, const struct kura_audit_record *r)
{
    struct cmd_usage *u = s->u;
    if (!kura_grow((void **)&u->events, &u->events_cap, u->nevents, sizeof *u->events)) {
        s->nomem = true;
        return 1;
    }
    struct cmd_usage_event *x = &u->events[u->nevents++];
    x->time_ms = r->time_ms;
    x->event = (int)r->event;
    snprintf(x->user, sizeof x->user, "%s", r->user ? r->user : "");
    snprintf(x->reason, sizeof x->reason, "%s", r->reason ? r->reason : "");
    snprintf(x->detail, sizeof x->detail, "%s", r->detail ? r->detail : "");
    x->bytes = r->bytes;
    return 0;
}

static int take(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem, void *ctx)
{
    (void)line;
    (void)problem;
    struct scan *s = ctx;
    if (!e)
        return 0;
    cmd_log_span_take(&s->u->span, s->cluster, e, file);
    s->u->last_seq = e->seq;
    snprintf(s->u->last_mac, sizeof s->u->last_mac, "%s", e->mac);
    snprintf(s->u->last_node, sizeof s->u->last_node, "%s", s->cluster ? file : "");
    const struct kura_audit_record *r = &e->rec;
    if (r->time_ms < s->from_ms || (s->to_ms && r->time_ms >= s->to_ms))
        return 0;
    if (s->events && is_incident(r, s->dataset))
        return add_event(s, r);
    if (!r->dataset || strcmp(r->dataset, s->dataset) != 0 || r->uid == KURA_AUDIT_ABSENT)
        return 0;
    if (r->event != KURA_AUDIT_OPEN && r->event != KURA_AUDIT_CLOSE && r->event != KURA_AUDIT_REFUSALS &&
        r->event != KURA_AUDIT_WRITE_DENIED)
        return 0;
    const char *const *path = NULL;
    if (s->paths) {
        /* Opens name the file below the dataset, refused lookups from the mount's root. */
        const char *rel = r->path;
        size_t dl = strlen(s->dataset);
        if (rel && rel[0] == '/' && strncmp(rel + 1, s->dataset, dl) == 0 && rel[1 + dl] == '/')
            rel += dl + 2;
        if (!rel || !(path = bsearch(&rel, s->paths, s->npaths, sizeof *s->paths, cmd_cmp_str)))
            return 0;
    }
    const char *user = r->user ? r->user : "";
    size_t listing = s->listings ? cmd_listing_of(s->listings, user, r->uid, r->time_ms,
                                                  r->event == KURA_AUDIT_OPEN && r->decision == KURA_AUDIT_ALLOW)
                                 : 0;
    struct cmd_user_usage *x = user_slot(s, user, r->uid, path ? *path : NULL, listing);
    if (!x)
        return 1;
    /* Closes after the period do not come here: their handles were open at its end. */
    if (s->events && cmd_handle_held(r) && cmd_handles_add(&s->u->unclosed, r, 0) != 0) {
        s->nomem = true;
        return 1;
    }
    ptrdiff_t closed = s->events && r->event == KURA_AUDIT_CLOSE ? cmd_handles_closed_by(&s->u->unclosed, r) : -1;
    if (closed >= 0)
        cmd_handles_remove(&s->u->unclosed, (size_t)closed);
    if (r->event == KURA_AUDIT_OPEN && r->decision == KURA_AUDIT_ALLOW) {
        /* a reader's record is an access, not a file opened: its bytes are the opener's close's */
        if (kura_audit_is_reader(r))
            x->read_throughs++;
        else
            x->opens++;
        if (!x->first_ms)
            x->first_ms = r->time_ms;
        x->last_ms = r->time_ms;
    } else if (r->event == KURA_AUDIT_OPEN || r->event == KURA_AUDIT_WRITE_DENIED) {
        x->refused++;   /* a refused write (create, unlink, ...) is a refused attempt too */
        x->last_refused_ms = r->time_ms;
    } else if (r->event == KURA_AUDIT_REFUSALS && r->count > 0) {
        x->refused += (uint64_t)r->count; /* refusals past the user's bound, counted */
        x->last_refused_ms = r->time_ms;
    }
    else if (r->bytes != KURA_AUDIT_ABSENT && r->bytes > 0)
        x->bytes += (uint64_t)r->bytes;
    return 0;
}

static int scan_log(const struct kura_cmd_ctx *c, struct scan *s, struct cmd_usage *out, struct kura_err *e)
{
    memset(out, 0, sizeof *out);
    s->u = out;
    s->cluster = cmd_cluster_mode(c);
    int rc = cmd_audit_each(c, take, s, e) != 0 ? -1 : 0;
    if (s->nomem) {
        kura_err_set(e, ENOMEM, "out of memory");
        rc = -1;
    }
    if (rc != 0)
        cmd_usage_free(out);
    return rc;
}

int cmd_usage_scan(const struct kura_cmd_ctx *c, const char *dataset, const struct cmd_listings *listings,
                   int64_t from_ms, int64_t to_ms, struct cmd_usage *out, struct kura_err *e)
{
    struct scan s = {.dataset = dataset, .from_ms = from_ms, .to_ms = to_ms, .events = true, .listings = listings};
    return scan_log(c, &s, out, e);
}

int cmd_usage_scan_files(const struct kura_cmd_ctx *c, const char *dataset, const char *const *paths, size_t npaths,
                         struct cmd_usage *out, struct kura_err *e)
{
    struct scan s = {.dataset = dataset, .paths = paths, .npaths = npaths};
    return scan_log(c, &s, out, e);
}

const struct cmd_user_usage *cmd_usage_find(const struct cmd_usage *u, const char *user, int64_t uid, size_t listing)
{
    for (size_t i = 0; i < u->n; i++)
        if (u->users[i].uid == uid && strcmp(u->users[i].user, user) == 0 && u->users[i].listing == listing)
            return &u->users[i];
    return NULL;
}

void cmd_usage_free(struct cmd_usage *u)
{
    cmd_handles_free(&u->unclosed);
    free(u->users);
    free(u->events);
    cmd_log_span_free(&u->span);
    memset(u, 0, sizeof *u);
}
