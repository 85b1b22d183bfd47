/* The handles a scan of the audit log has seen opened and not yet closed
 * (cmd_priv.h): the usage and incident reports find each close's open
 * here, the one way. */
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/grow.h"

bool cmd_handle_held(const struct kura_audit_record *r)
{
    /* a reader's record has no close of its own (audit.h) */
    return r->event == KURA_AUDIT_OPEN && r->decision == KURA_AUDIT_ALLOW && !kura_audit_is_reader(r);
}

int cmd_handles_add(struct cmd_handles *h, const struct kura_audit_record *r, size_t row)
{
    if (!kura_grow((void **)&h->v, &h->cap, h->n, sizeof *h->v))
        return -1;
    struct cmd_handle *x = &h->v[h->n];
    *x = (struct cmd_handle){.user = strdup(r->user ? r->user : ""), .dataset = strdup(r->dataset ? r->dataset : ""),
                             .path = strdup(r->path ? r->path : ""), .uid = r->uid, .pid = r->pid,
                             .time_ms = r->time_ms, .row = row};
    if (!x->user || !x->dataset || !x->path) {
        free(x->user), free(x->dataset), free(x->path);
        return -1;
    }
    h->n++;
    return 0;
}

static bool same(const char *kept, const char *t)
{
    return strcmp(kept, t ? t : "") == 0;
}

ptrdiff_t cmd_handles_closed_by(const struct cmd_handles *h, const struct kura_audit_record *r)
{
    for (size_t i = h->n; i-- > 0;) {
        const struct cmd_handle *x = &h->v[i];
        if (x->uid == r->uid && x->pid == r->pid && same(x->dataset, r->dataset) && same(x->path, r->path))
            return (ptrdiff_t)i;
    }
    return -1;
}

void cmd_handles_remove(struct cmd_handles *h, size_t i)
{
    struct cmd_handle *x = &h->v[i];
    free(x->user), free(x->dataset), free(x->path);
    memmove(x, x + 1, (h->n - i - 1) * sizeof *x);
    h->n--;
}

void cmd_handles_free(struct cmd_handles *h)
{
    while (h->n > 0)
        cmd_handles_remove(h, h->n - 1);
    free(h->v);
    memset(h, 0, sizeof *h);
}
