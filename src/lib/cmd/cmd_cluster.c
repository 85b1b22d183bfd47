/* kuractl cluster init and cluster status (docs/cluster.md): the
 * operator's view of the cluster's authority. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/cluster.h"
#include "kura/json.h"

static int need_database(const struct kura_cmd_ctx *c)
{
    if (*c->env->cfg->cluster_database)
        return 0;
    cmd_fail(c, "no [cluster] database in %s: this is a single server", c->env->cfg->file);
    return -1;
}

int cmd_cluster_init(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (need_database(c) != 0)
        return KURA_EXIT_FAIL;
    const struct kura_config *cfg = c->env->cfg;
    struct kura_err e = {0};
    struct kura_cluster *db = NULL;
    char id[KURA_CLUSTER_ID_LEN + 1];
    /* The schema first (idempotent: the id is the one of the first init),
     * then the binding: a state directory of another cluster is refused
     * and keeps its own. */
    int rc = kura_cluster_connect(cfg->cluster_database, NULL, &db, &e);
    if (rc == 0)
        rc = kura_cluster_init(db, id, &e);
    kura_cluster_close(db);
    if (rc == 0)
        rc = kura_cluster_bind(cfg->state_dir, id, &e);
    if (rc != 0)
        return cmd_fail_err(c, &e);
    fprintf(c->out, "cluster %s: schema ready, state directory %s bound to it\n", id, cfg->state_dir);
    return KURA_EXIT_OK;
}

static int status_json(const struct kura_cmd_ctx *c, const struct kura_cluster_node *v, size_t n, int64_t latest)
{
    fprintf(c->out, "{\"cluster\": \"%s\", \"latest_epoch\": %" PRId64 ", \"nodes\": [", c->env->cfg->cluster_id,
            latest);
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "node", v[i].name);
        kura_json_add_int(&w, "applied_epoch", v[i].applied_epoch);
        kura_json_add_string(&w, "lease", v[i].lease_left_ms > 0 ? "live" : "ended");
        kura_json_add_int(&w, "lease_left_ms", v[i].lease_left_ms > 0 ? v[i].lease_left_ms : 0);
        kura_json_add_int(&w, "since_contact_ms", v[i].since_contact_ms);
        if (cmd_json_item(c, &w, i == 0, "a node") != 0)
            return KURA_EXIT_FAIL;
    }
    fprintf(c->out, "]}\n");
    return KURA_EXIT_OK;
}

int cmd_cluster_status(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    int npos;
    bool json = false;
    const struct cmd_opt opts[] = {{"json", false, NULL, &json}, {0}};
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (need_database(c) != 0)
        return KURA_EXIT_FAIL;
    const struct kura_config *cfg = c->env->cfg;
    struct kura_err e = {0};
    struct kura_cluster *db = NULL;
    struct kura_cluster_node *v = NULL;
    size_t n = 0;
    int64_t latest = 0;
    char id[KURA_CLUSTER_ID_LEN + 1];
    int rc = kura_cluster_connect(cfg->cluster_database, NULL, &db, &e);
    if (rc == 0)
        rc = kura_cluster_id(db, id, &e);
    if (rc == 0)
        rc = kura_cluster_nodes(db, &v, &n, &latest, &e);
    kura_cluster_close(db);
    if (rc != 0)
        return cmd_fail_err(c, &e);
    if (strcmp(id, cfg->cluster_id) != 0) {
        free(v);
        return cmd_fail(c, "the database is cluster %s's, but the state directory %s belongs to %s", id,
                        cfg->state_dir, cfg->cluster_id[0] ? cfg->cluster_id : "no cluster (run kuractl cluster init)");
    }
    if (json) {
        rc = status_json(c, v, n, latest);
        free(v);
        return rc;
    }
    fprintf(c->out, "cluster %s, latest epoch %" PRId64 "\n", id, latest);
    fprintf(c->out, "%-24s %8s  %-22s %s\n", "NODE", "APPLIED", "LEASE", "LAST CONTACT");
    for (size_t i = 0; i < n; i++) {
        char lease[48];
        if (v[i].lease_left_ms > 0)
            snprintf(lease, sizeof lease, "%" PRId64 ".%01" PRId64 " s left", v[i].lease_left_ms / 1000,
                     v[i].lease_left_ms % 1000 / 100);
        else
            snprintf(lease, sizeof lease, "ended");
        fprintf(c->out, "%-24s %8" PRId64 "  %-22s %" PRId64 ".%01" PRId64 " s ago%s\n", v[i].name,
                v[i].applied_epoch, lease, v[i].since_contact_ms / 1000, v[i].since_contact_ms % 1000 / 100,
                v[i].lease_left_ms > 0 && v[i].applied_epoch < latest ? " (behind)" : "");
    }
    free(v);
    return KURA_EXIT_OK;
}
