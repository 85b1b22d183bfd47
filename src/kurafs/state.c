/* The daemon's current catalog, swapped whole on reload. */
#include <errno.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

#include "kurafs.h"

struct snapshot *snapshot_acquire(struct kurafs *fs)
{
    pthread_mutex_lock(&fs->snap_lock);
    struct snapshot *s = fs->current;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&fs->snap_lock);
    return s;
}

void snapshot_release(struct snapshot *s)
{
    if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
        kura_catalog_free(s->cat);
        free(s);
    }
}

int kurafs_reload(struct kurafs *fs, struct kura_err *err)
{
    pthread_mutex_lock(&fs->reload_lock);
    struct kura_catalog *cat = NULL;
    int rc = kura_catalog_load(fs->cfg, &cat, err);
    if (rc == 0) {
        struct snapshot *s = calloc(1, sizeof *s);
        if (!s) {
            kura_catalog_free(cat);
            kura_err_set(err, ENOMEM, "out of memory loading the state");
            rc = -1;
        } else {
            s->cat = cat;
            atomic_init(&s->refs, 1);
            pthread_mutex_lock(&fs->snap_lock);
            struct snapshot *old = fs->current;
            fs->current = s;
            pthread_mutex_unlock(&fs->snap_lock);
            snapshot_release(old);
        }
    } else {
        syslog(LOG_AUTHPRIV | LOG_ERR, "kurafs: reload refused, still serving the last good state: %s",
               err->msg);
    }
    /* Even a failed reload re-decides open handles: it costs little and a
     * state that cannot load is a reason to look again, never to serve more. */
    atomic_fetch_add(&fs->epoch, 1);
    pthread_mutex_unlock(&fs->reload_lock);
    return rc;
}

int64_t kurafs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

struct kura_server kurafs_server(struct kurafs *fs)
{
    struct kura_server srv = {
        .lockdown = atomic_load(&fs->lockdown),
        .host_id = fs->host_id,
        .level = fs->cfg->level,
    };
    return srv;
}
