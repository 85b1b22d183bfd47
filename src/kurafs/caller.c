/* Who is behind a FUSE request, and the durable audit append. */
#include <errno.h>
#include <fuse.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "kurafs.h"

void caller_ids(struct caller *c)
{
    const struct fuse_context *ctx = fuse_get_context();
    memset(c, 0, sizeof *c);
    c->uid = ctx->uid;
    c->gid = ctx->gid;
    c->pid = ctx->pid;
}

void caller_name(struct caller *c)
{
    if (c->user[0])
        return;
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwuid_r(c->uid, &pw, buf, sizeof buf, &found) == 0 && found)
        snprintf(c->user, sizeof c->user, "%s", found->pw_name);
}

void caller_from_context(struct caller *c)
{
    caller_ids(c);
    caller_name(c);
}

void caller_collect_process(struct kurafs *fs, struct caller *c)
{
    (void)fs;
    if (c->proc)
        return;
    /* ~170 KiB: too big for a FUSE worker's stack. */
    c->proc = malloc(sizeof *c->proc);
    if (!c->proc)
        return; /* the guard then refuses: no facts, no access */
    struct kura_err err;
    kura_procinfo_collect(NULL, c->pid, c->proc, &err);
    /* The pid FUSE named may have been reused before /proc was read: facts
     * about a process running as someone else are no facts at all, and
     * the guard refuses a caller it knows nothing about. */
    const struct kura_proc *p = &c->proc->chain[0];
    if (c->proc->n > 0 && (!(p->have & KURA_PROC_HAVE_STATUS) || p->fsuid != c->uid)) {
        c->proc->n = 0;
        c->proc->flags |= KURA_PROCINFO_GONE;
    }
}

void caller_clear(struct caller *c)
{
    free(c->proc);
    c->proc = NULL;
}

void caller_fill_record(const struct caller *c, struct kura_audit_record *r)
{
    r->uid = c->uid;
    r->pid = c->pid;
    if (c->user[0])
        r->user = c->user;
    const struct kura_procinfo *p = c->proc;
    if (!p || p->n == 0)
        return;
    if (p->loginuid_set)
        r->loginuid = p->loginuid;
    if (p->chain[0].have & KURA_PROC_HAVE_EXE)
        r->exe = p->chain[0].exe;
    if (p->chain[0].have & KURA_PROC_HAVE_CMDLINE)
        r->cmdline = p->chain[0].cmdline;
    if (p->chain[0].have & KURA_PROC_HAVE_STAT)
        r->ppid = p->chain[0].ppid;
    if (p->ssh_client[0])
        r->ssh_client = p->ssh_client;
}

int kurafs_audit(struct kurafs *fs, const struct kura_audit_record *r)
{
    struct kura_err err = {0};
    int64_t start = kurafs_metrics_clock();
    int rc = kura_audit_append(fs->audit, r, &err);
    kurafs_metrics_audit(&fs->metrics, r, rc == 0, kurafs_metrics_clock() - start);
    /* Fail closed on -1: the caller refuses; the audit module told syslog why. */
    return rc == 0 ? 0 : -1;
}
