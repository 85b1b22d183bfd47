/* The one place the commands read audit records from: this server's log
 * (its files in chain order) or, in cluster mode, the central store, which
 * holds every node's records (docs/cluster.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/cluster.h"
#include "kura/grow.h"

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

/* The node's part of sp, begun with e if it has none yet; NULL: no memory. */
static struct cmd_log_node *span_node(struct cmd_log_span *sp, const char *name)
{
    for (size_t i = sp->nnodes; i-- > 0;)     /* read by node: the last one, mostly */
        if (strcmp(sp->nodes[i].name, name) == 0)
            return &sp->nodes[i];
    if (!kura_grow((void **)&sp->nodes, &sp->nodes_cap, sp->nnodes, sizeof *sp->nodes))
        return NULL;
    struct cmd_log_node *n = &sp->nodes[sp->nnodes++];
    *n = (struct cmd_log_node){0};
    snprintf(n->name, sizeof n->name, "%s", name);
    return n;
}

void cmd_log_span_take(struct cmd_log_span *sp, bool cluster, const struct kura_audit_entry *e, const char *file)
{
    struct cmd_log_node *n = cluster ? span_node(sp, file) : &sp->whole;
    if (!n) {
        sp->nomem = true;
        return;
    }
    if (!n->first_seq) {
        n->first_seq = e->seq;
        /* after seq 1, the records before its time are not there to count */
        n->missing_before_ms = e->seq > 1 ? e->rec.time_ms : 0;
    } else if (e->seq > n->last_seq + 1) {
        n->missing_within += e->seq - n->last_seq - 1;
    }
    n->last_seq = e->seq;
}

void cmd_log_span_free(struct cmd_log_span *sp)
{
    free(sp->nodes);
    sp->nodes = NULL;
    sp->nnodes = sp->nodes_cap = 0;
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
