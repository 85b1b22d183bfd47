/* What cluster.c lends the other parts of the cluster module (not public). */
#ifndef KURA_CLUSTER_PRIV_H
#define KURA_CLUSTER_PRIV_H
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "kura/cluster.h"
#include "pq.h"

struct kura_cluster {
    const struct kura_pq *pq;   /* libpq, opened by the connect */
    PGconn *conn;
    char node[KURA_CLUSTER_NODE_MAX];   /* "": a client, no node */
    int64_t restricted_pid;     /* this connection's backend, once it sent a restriction (0: none) */
    int64_t latest_done;        /* the latest done epoch: read when the lock was taken, or ended since */
    int answer_ms;              /* how long a statement may go without an answer */
    bool given_up;              /* a statement got none: nothing more is sent */
};

/* One statement with text parameters; *res (when not NULL) gets its rows. */
int cluster_run(struct kura_cluster *c, const char *what, const char *sql, int n, const char *const *params,
                PGresult **res, struct kura_err *err);
/* The node this connection speaks for; "" for a client. */
const char *cluster_node(const struct kura_cluster *c);
/* *out: a zeroed element of size per row of r (NULL for none); the rows,
 * or -1 (r cleared, err set) when out of memory. */
int cluster_rows(const struct kura_cluster *c, PGresult *r, size_t size, void **out, struct kura_err *err);

#endif
