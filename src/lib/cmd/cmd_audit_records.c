/* The one place the commands read audit records from: this server's log
 * (its files in chain order) or, in cluster mode, the central store, which
 * holds every node's records (docs/cluster.md). */
#include <errno.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/cluster.h"

bool cmd_cluster_mode(const struct kura_cmd_ctx *c)
{
    return c->env->cfg->cluster_database && c->env->cfg->cluster_database[0];
}

int cmd_cluster_connect(const struct kura_cmd_ctx *c, const char *task, struct kura_cluster **out,
                        struct kura_err *e)
{
    const struct kura_config *cfg = c->env->cfg;
    bool as_node = c->env->socket_mode && cfg->cluster_node && *cfg->cluster_node;
    return kura_cluster_connect_for(cfg->cluster_database, as_node ? cfg->cluster_node : NULL, task,
                                    kura_config_answer_ms(cfg), out, e);
}

struct central {
    kura_audit_read_fn fn;
    void *ctx;
};

/* A stored line as a record of its node: `file` names the node, `line` is
 * the seq. */
static int central_record(const char *node, uint64_t seq, const char *line, size_t len, void *ctx)
{
    struct central *a = ctx;
    struct kura_audit_entry e;
    struct kura_err perr = {0};
    if (kura_audit_entry_parse(line, len, &e, &perr) != 0)
        return a->fn(NULL, node, seq, perr.msg, a->ctx);
    int rc = a->fn(&e, node, seq, NULL, a->ctx);
    kura_audit_entry_free(&e);
    return rc;
}

void cmd_log_span_take(struct cmd_log_span *sp, bool cluster, const struct kura_audit_entry *e, const char *file)
{
    /* after seq 1, the records before its time are not there to count */
    if (cluster ? strcmp(file, sp->node) != 0 : sp->first_seq == 0) {
        if (!sp->first_seq)
            sp->first_seq = e->seq;
        if (e->seq > 1 && e->rec.time_ms > sp->missing_before_ms)
            sp->missing_before_ms = e->rec.time_ms;
    } else if (e->seq > sp->last_seq + 1) {
        sp->missing_within += e->seq - sp->last_seq - 1;
    }
    sp->last_seq = e->seq;
    if (cluster)
        snprintf(sp->node, sizeof sp->node, "%s", file);
}

int cmd_audit_each(const struct kura_cmd_ctx *c, kura_audit_read_fn fn, void *ctx, struct kura_err *e)
{
    if (cmd_cluster_mode(c)) {
        struct kura_cluster *db = NULL;
        if (cmd_cluster_connect(c, "audit", &db, e) != 0)
            return -1;
        struct central a = {.fn = fn, .ctx = ctx};
        int rc = kura_cluster_audit_each(db, NULL, central_record, &a, e);
        kura_cluster_close(db);
        return rc;
    }
    char **files = NULL;
    size_t nfiles = 0;
    if (kura_audit_files(c->env->cfg->audit_log, &files, &nfiles, e) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nfiles && rc == 0; i++)
        rc = kura_audit_read(files[i], fn, ctx, e);
    kura_audit_files_free(files, nfiles);
    return rc;
}
