/* The central audit store (include/kura/cluster.h, docs/cluster.md): each
 * node's records as its local log has them, keyed by (node, seq), so a
 * batch stored twice (a lost answer, a restart) is stored once. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_priv.h"

#define PAGE_ROWS "1000"        /* rows read per query: bounded memory */

static uint64_t as_u64(const char *s)
{
    return strtoull(s, NULL, 10);
}

int kura_cluster_audit_shipped(struct kura_cluster *c, uint64_t *seq, struct kura_err *err)
{
    const char *const p[] = {cluster_node(c)};
    PGresult *r = NULL;
    if (cluster_run(c, "the records stored", "SELECT coalesce(max(seq), 0) FROM kura.audit WHERE node = $1", 1, p,
                    &r, err) != 0)
        return -1;
    *seq = c->pq->ntuples(r) > 0 ? as_u64(c->pq->getvalue(r, 0, 0)) : 0;
    c->pq->clear(r);
    return 0;
}

int kura_cluster_audit_ship(struct kura_cluster *c, const struct kura_cluster_audit_line *v, size_t n,
                            uint64_t written, struct kura_err *err)
{
    if (!cluster_node(c)[0]) {
        kura_err_set(err, EINVAL, "this connection is no node's");
        return -1;
    }
    size_t nparams = 3 + 2 * n;
    const char **p = calloc(nparams, sizeof *p);
    char (*seqs)[24] = calloc(n + 3, sizeof *seqs);
    char *sql = NULL;
    size_t sql_len = 0;
    FILE *f = p && seqs ? open_memstream(&sql, &sql_len) : NULL;
    if (!f) {
        free(p);
        free(seqs);
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    uint64_t shipped = n ? v[n - 1].seq : 0;
    snprintf(seqs[n], sizeof seqs[n], "%" PRIu64, written > shipped ? written : shipped);
    snprintf(seqs[n + 1], sizeof seqs[n + 1], "%" PRIu64, shipped);
    p[0] = cluster_node(c);
    p[1] = seqs[n];
    p[2] = seqs[n + 1];
    /* One statement: the records and the node's progress commit together. */
    if (n) {
        fputs("WITH stored AS (INSERT INTO kura.audit (node, seq, line) VALUES ", f);
        for (size_t i = 0; i < n; i++) {
            snprintf(seqs[i], sizeof seqs[i], "%" PRIu64, v[i].seq);
            p[3 + 2 * i] = seqs[i];
            p[4 + 2 * i] = v[i].line; /* text parameters end at the line's end: no newline, no NUL */
            fprintf(f, "%s($1, $%zu, $%zu)", i ? ", " : "", 4 + 2 * i, 5 + 2 * i);
        }
        fputs(" ON CONFLICT (node, seq) DO NOTHING) ", f);
    }
    fputs("INSERT INTO kura.audit_nodes AS a (node, written_seq, shipped_seq, updated) VALUES ($1, $2, $3, now()) "
          "ON CONFLICT (node) DO UPDATE SET written_seq = excluded.written_seq, "
          "shipped_seq = greatest(a.shipped_seq, excluded.shipped_seq), updated = now()",
          f);
    int rc = fclose(f) == 0 ? cluster_run(c, "store audit records", sql, (int)nparams, p, NULL, err)
                            : (kura_err_set(err, ENOMEM, "out of memory"), -1);
    free(sql);
    free(p);
    free(seqs);
    return rc;
}

int kura_cluster_audit_each(struct kura_cluster *c, const char *node, kura_cluster_audit_fn fn, void *ctx,
                            struct kura_err *err)
{
    char after_node[KURA_CLUSTER_NODE_MAX] = "", after_seq[24] = "0";
    for (;;) {
        const char *const p[] = {node, after_node, after_seq};
        PGresult *r = NULL;
        if (cluster_run(c, "read audit records",
                        "SELECT node, seq, line FROM kura.audit WHERE ($1::text IS NULL OR node = $1) "
                        "AND (node, seq) > ($2, $3::bigint) ORDER BY node, seq LIMIT " PAGE_ROWS,
                        3, p, &r, err) != 0)
            return -1;
        int rows = c->pq->ntuples(r), stop = 0;
        for (int i = 0; i < rows && !stop; i++)
            stop = fn(c->pq->getvalue(r, i, 0), as_u64(c->pq->getvalue(r, i, 1)), c->pq->getvalue(r, i, 2),
                      (size_t)c->pq->getlength(r, i, 2), ctx);
        if (rows > 0) {
            snprintf(after_node, sizeof after_node, "%s", c->pq->getvalue(r, rows - 1, 0));
            snprintf(after_seq, sizeof after_seq, "%s", c->pq->getvalue(r, rows - 1, 1));
        }
        c->pq->clear(r);
        if (stop)
            return stop;
        if (rows < atoi(PAGE_ROWS))
            return 0;
    }
}

int kura_cluster_audit_nodes(struct kura_cluster *c, struct kura_cluster_audit_node **v, size_t *n,
                             struct kura_err *err)
{
    *v = NULL;
    *n = 0;
    PGresult *r = NULL;
    if (cluster_run(c, "nodes' audit records",
                    "SELECT node, coalesce(s.records, 0), coalesce(s.first, 0), coalesce(s.last, 0), "
                    "coalesce(a.shipped_seq, 0), coalesce(a.written_seq, 0) "
                    "FROM (SELECT node FROM kura.audit_nodes UNION SELECT DISTINCT node FROM kura.audit) k "
                    "LEFT JOIN (SELECT node, count(*) AS records, min(seq) AS first, max(seq) AS last "
                    "FROM kura.audit GROUP BY node) s USING (node) "
                    "LEFT JOIN kura.audit_nodes a USING (node) ORDER BY node",
                    0, NULL, &r, err) != 0)
        return -1;
    void *rows_mem;
    int rows = cluster_rows(c, r, sizeof(struct kura_cluster_audit_node), &rows_mem, err);
    if (rows < 0)
        return -1;
    struct kura_cluster_audit_node *list = rows_mem;
    for (int i = 0; i < rows; i++) {
        snprintf(list[i].name, sizeof list[i].name, "%s", c->pq->getvalue(r, i, 0));
        list[i].records = as_u64(c->pq->getvalue(r, i, 1));
        list[i].first_seq = as_u64(c->pq->getvalue(r, i, 2));
        list[i].last_seq = as_u64(c->pq->getvalue(r, i, 3));
        list[i].shipped_seq = as_u64(c->pq->getvalue(r, i, 4));
        list[i].written_seq = as_u64(c->pq->getvalue(r, i, 5));
    }
    c->pq->clear(r);
    *v = list;
    *n = (size_t)rows;
    return 0;
}
