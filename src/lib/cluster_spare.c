/* A connection kept between changes (include/kura/cluster.h). A change's
 * session start costs more than the change's own statements (a new
 * backend, its authentication, the cluster id's check: bench/README.md);
 * a daemon that runs changes keeps one session open for the next. */
#include <pthread.h>
#include <stdlib.h>

#include "cluster_priv.h"

struct kura_cluster_spare {
    pthread_mutex_t mu;
    struct kura_cluster *kept;  /* NULL: none ready */
};

struct kura_cluster_spare *kura_cluster_spare_new(void)
{
    struct kura_cluster_spare *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

struct kura_cluster *kura_cluster_spare_take(struct kura_cluster_spare *s)
{
    if (!s)
        return NULL;
    pthread_mutex_lock(&s->mu);
    struct kura_cluster *c = s->kept;
    s->kept = NULL;
    pthread_mutex_unlock(&s->mu);
    return c;
}

void kura_cluster_spare_give(struct kura_cluster_spare *s, struct kura_cluster *c)
{
    if (!c)
        return;
    /* DISCARD ALL ends what a change may have left on the session: its
     * LISTEN (an idle session's unread notifications would fill its socket
     * and stall the database's notification queue for every session), an
     * advisory lock still held, settings. Only an idle session can run it. */
    struct kura_err e = {0};
    bool clean = s && c->pq->transactionStatus(c->conn) == PQTRANS_IDLE &&
                 cluster_run(c, "reset", "DISCARD ALL", 0, NULL, NULL, &e) == 0;
    if (clean) {
        c->restricted_pid = 0;
        c->latest_done = 0;
        pthread_mutex_lock(&s->mu);
        if (!s->kept) {
            s->kept = c;
            c = NULL;
        }
        pthread_mutex_unlock(&s->mu);
    }
    kura_cluster_close(c);
}

void kura_cluster_spare_free(struct kura_cluster_spare *s)
{
    if (!s)
        return;
    kura_cluster_close(s->kept);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
