/* Who is behind a FUSE request, and which daemon it reached. */
#include <errno.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kura/pwcache.h"
#include "kurafs.h"

struct kurafs *kurafs_of_request(void)
{
    return fuse_get_context()->private_data;
}

void caller_ids(struct caller *c)
{
    const struct fuse_context *ctx = fuse_get_context();
    memset(c, 0, sizeof *c);
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->pid = ctx->pid;
}

void kurafs_uid_name(const struct kurafs *fs, uid_t uid, char *name, size_t len)
{
    kura_pwcache_name(fs->user_names, uid, name, len);
}

void caller_name(const struct kurafs *fs, struct caller *c)
{
    if (!c->user[0])
        kurafs_uid_name(fs, c->uid, c->user, sizeof c->user);
}

void caller_from_context(struct caller *c)
{
    caller_ids(c);
    caller_name(kurafs_of_request(), c);
}

void caller_collect_process(struct kurafs *fs, struct caller *c)
{
    if (c->proc)
        return;
    /* ~170 KiB: too big for a FUSE worker's stack. */
    c->proc = malloc(sizeof *c->proc);
    if (!c->proc)
        return; /* the guard then refuses: no facts, no access */
    struct kura_err err;
    kura_procinfo_collect_cached(NULL, fs->proccache, c->pid, c->proc, &err);
    /* The pid FUSE named may have been reused before /proc was read: facts
     * about a process running as someone else are no facts at all, and
     * the guard refuses a caller it knows nothing about. */
    const struct kura_proc *p = &c->proc->chain[0];
    if (c->proc->n > 0 && (!(p->have & KURA_PROC_HAVE_STATUS) || p->fsuid != c->uid)) {
        c->proc->n = 0;
        c->proc->flags |= KURA_PROCINFO_GONE;
    }
    /* FUSE names the calling thread: records name its process, the id
     * other tools show and one no later thread of another process takes. */
    if (c->proc->n > 0 && p->tgid > 0)
        c->pid = p->tgid;
}

void caller_clear(struct caller *c)
{
    free(c->proc);
    c->proc = NULL;
}
