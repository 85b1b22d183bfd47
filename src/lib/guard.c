/* The copy-out guard (see kura/guard.h for what each mode promises). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kura/grow.h"
#include "kura/guard.h"

/* ---- rules ---------------------------------------------------------------- */

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

void kura_guard_rules_clear(struct kura_guard_rules *r)
{
    free(r->deny_files);
    free_list(r->deny, r->ndeny);
    free_list(r->allow, r->nallow);
    free_list(r->trusted_dirs, r->ntrusted_dirs);
    memset(r, 0, sizeof *r);
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > KURA_GUARD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
            return false;
    return true;
}

/* Absolute, printable, no empty, "." or ".." component, not "/". A trailing
 * '/' has been removed already. */
static bool valid_dir(const char *s, size_t n)
{
    if (n < 2 || s[0] != '/' || n >= KURA_PROC_EXE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~')
            return false;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && s[j] != '/')
            j++;
        size_t clen = j - i - 1; /* component s[i+1 .. j) */
        if (clen == 0 || (clen == 1 && s[i + 1] == '.') ||
            (clen == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
            return false;
        i = j;
    }
    return true;
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int parse_list(const char *text, bool dirs, const char *what, char ***out, size_t *count,
                      struct kura_err *err)
{
    *out = NULL;
    *count = 0;
    size_t cap = 0;
    const char *p = text;
    for (;;) {
        while (*p && is_sep(*p))
            p++;
        if (!*p)
            return 0;
        const char *tok = p;
        while (*p && !is_sep(*p))
            p++;
        size_t n = (size_t)(p - tok);
        if (dirs)
            while (n > 1 && tok[n - 1] == '/')
                n--;
        if (!(dirs ? valid_dir(tok, n) : valid_name(tok, n))) {
            kura_err_set(err, EINVAL, "guard %s: invalid entry \"%.*s\" (%s)", what,
                         (int)(n > 64 ? 64 : n), tok,
                         dirs ? "need an absolute directory other than /, without . or .."
                              : "need a program name: printable, no '/'");
            goto fail;
        }
        if (!kura_grow((void **)out, &cap, *count, sizeof **out))
            goto nomem;
        if (!((*out)[*count] = strndup(tok, n)))
            goto nomem;
        (*count)++;
    }
nomem:
    kura_err_set(err, ENOMEM, "guard %s: out of memory", what);
fail:
    free_list(*out, *count);
    *out = NULL;
    *count = 0;
    return -1;
}

int kura_guard_rules_set(struct kura_guard_rules *r, const char *deny, const char *allow,
                         const char *trusted_dirs, struct kura_err *err)
{
    memset(r, 0, sizeof *r);
    if (parse_list(deny ? deny : KURA_GUARD_DEFAULT_DENY, false, "deny list", &r->deny,
                   &r->ndeny, err) != 0 ||
        parse_list(allow ? allow : "", false, "allow list", &r->allow, &r->nallow, err) != 0 ||
        parse_list(trusted_dirs ? trusted_dirs : KURA_GUARD_DEFAULT_TRUSTED_DIRS, true,
                   "trusted directories", &r->trusted_dirs, &r->ntrusted_dirs, err) != 0) {
        kura_guard_rules_clear(r);
        return -1;
    }
    return 0;
}

int kura_guard_rules_locate(struct kura_guard_rules *r, const char *dirs, struct kura_err *err)
{
    free(r->deny_files);
    r->deny_files = NULL;
    r->ndeny_files = 0;
    char **dir;
    size_t ndir;
    if (parse_list(dirs ? dirs : KURA_GUARD_PROGRAM_DIRS, true, "program directories", &dir, &ndir,
                   err) != 0)
        return -1;
    int rc = 0;
    if (ndir && r->ndeny && !(r->deny_files = calloc(ndir * r->ndeny, sizeof *r->deny_files))) {
        kura_err_set(err, ENOMEM, "guard: out of memory");
        rc = -1;
    }
    for (size_t d = 0; rc == 0 && d < ndir; d++) {
        for (size_t i = 0; i < r->ndeny; i++) {
            char path[KURA_PROC_EXE_MAX];
            struct stat st;
            if (snprintf(path, sizeof path, "%s/%s", dir[d], r->deny[i]) >= (int)sizeof path ||
                stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue;
            bool seen = false; /* /bin and /usr/bin are often one directory */
            for (size_t k = 0; k < r->ndeny_files && !seen; k++)
                seen = r->deny_files[k].dev == st.st_dev && r->deny_files[k].ino == st.st_ino;
            if (!seen)
                r->deny_files[r->ndeny_files++] =
                    (struct kura_guard_program){.dev = st.st_dev, .ino = st.st_ino, .name = r->deny[i]};
        }
    }
    free_list(dir, ndir);
    return rc;
}

/* ---- names ---------------------------------------------------------------- */

/* cand is name, or name plus a version suffix of digits and dots with at
 * least one digit ("python3.11" for "python3" or "python"). */
static bool name_is(const char *cand, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(cand, name, n) != 0)
        return false;
    const char *rest = cand + n;
    if (!*rest)
        return true;
    bool digit = false;
    for (; *rest; rest++) {
        if (*rest >= '0' && *rest <= '9')
            digit = true;
        else if (*rest != '.')
            return false;
    }
    return digit;
}

#define COMM_LEN 15 /* the kernel keeps the first 15 bytes of a program's name */

static bool comm_is(const char *comm, const char *name)
{
    return name_is(comm, name) ||
           (strlen(comm) == COMM_LEN && strlen(name) > COMM_LEN && strncmp(comm, name, COMM_LEN) == 0);
}

static const char *listed(char *const *list, size_t n, const char *cand, bool is_comm)
{
    if (!cand || !*cand)
        return NULL;
    /* Either match begins with the listed name's first byte (no name is
     * empty, kura_guard_rules_set): the others are passed over on it
     * (issue 17: at every open, each name of each process in the chain,
     * against some 45 listed ones). */
    for (size_t i = 0; i < n; i++)
        if (list[i][0] == cand[0] && (is_comm ? comm_is(cand, list[i]) : name_is(cand, list[i])))
            return list[i];
    return NULL;
}

/* The deny entry whose installed program is the file (dev, ino), or NULL. */
static const char *denied_file(const struct kura_guard_rules *r, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < r->ndeny_files; i++)
        if (r->deny_files[i].dev == dev && r->deny_files[i].ino == ino)
            return r->deny_files[i].name;
    return NULL;
}

enum launcher { NOT_LAUNCHER, MULTICALL, LOADER };

static bool is_multicall_name(const char *base)
{
    return name_is(base, "busybox") || name_is(base, "toybox") || name_is(base, "coreutils");
}

static const char *exe_base(const struct kura_proc *p)
{
    return (p->have & KURA_PROC_HAVE_EXE) ? kura_procinfo_basename(p->exe) : NULL;
}

/* A loader is known by how it is built (procinfo's KURA_PROC_EXE_LOADER)
 * or by name. */
static enum launcher launcher_kind(const struct kura_proc *p)
{
    const char *base = exe_base(p);
    if (!base)
        return NOT_LAUNCHER;
    if (is_multicall_name(base))
        return MULTICALL;
    if ((p->flags & KURA_PROC_EXE_LOADER) || kura_procinfo_loader_name(base))
        return LOADER;
    return NOT_LAUNCHER;
}

/* Whether the program a launcher runs is also told by its command line:
 * always for a multi-call binary; for a loader only under a loader's name
 * (ld.so [OPTIONS] PROGRAM). A renamed copy of the loader, or a static-pie
 * program (built alike), is judged by what it maps alone. */
static bool argv_names_program(const struct kura_proc *p, enum launcher kind)
{
    return kind == MULTICALL || (kind == LOADER && kura_procinfo_loader_name(exe_base(p)));
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The program a launcher runs, as the launcher itself would pick it, or
 * NULL when it cannot be told from argv[0] and argv[1]. */
static const char *launched_program(const struct kura_proc *p, enum launcher kind)
{
    if (!(p->have & KURA_PROC_HAVE_CMDLINE) || (p->flags & KURA_PROC_ARGS_TRUNCATED))
        return NULL;
    const char *arg1 = p->argc >= 2 ? p->argv1 : "";
    const char *prog;
    if (kind == LOADER) {
        /* ld.so [OPTIONS] PROGRAM: with options, the program is further on. */
        prog = arg1[0] == '-' ? "" : kura_procinfo_basename(arg1);
    } else if (starts_with(arg1, "--coreutils-prog=")) {
        prog = arg1 + strlen("--coreutils-prog=");
    } else if (starts_with(arg1, "--coreutils-prog-shebang=")) {
        prog = arg1 + strlen("--coreutils-prog-shebang=");
    } else {
        prog = p->argv0_base;
        if (prog[0] == '-') /* a login shell's "-sh" */
            prog++;
        if (is_multicall_name(prog)) /* "busybox cp ..." */
            prog = arg1[0] == '-' ? "" : kura_procinfo_basename(arg1);
    }
    return *prog ? prog : NULL;
}

/* The first denied name this process goes by, or NULL. What it runs counts
 * by identity too: its executable, and every file it has mapped executable
 * (the program behind "ld.so ~/x", ~/x a symlink to cp), by resolved name
 * and by device and inode. */
static const char *denied_as(const struct kura_guard_rules *r, const struct kura_proc *p)
{
    const char *hit, *base = exe_base(p);
    if ((hit = listed(r->deny, r->ndeny, base, false)))
        return hit;
    if ((p->have & KURA_PROC_HAVE_EXE_STAT) && (hit = denied_file(r, p->exe_dev, p->exe_ino)))
        return hit;
    for (size_t i = 0; (p->have & KURA_PROC_HAVE_MAPS) && i < p->nmapped; i++) {
        const struct kura_proc_mapped *m = &p->mapped[i];
        if ((hit = denied_file(r, m->dev, m->ino)) || (hit = listed(r->deny, r->ndeny, m->base, false)))
            return hit;
    }
    if ((p->have & KURA_PROC_HAVE_COMM) && (hit = listed(r->deny, r->ndeny, p->comm, true)))
        return hit;
    if ((p->have & KURA_PROC_HAVE_CMDLINE) &&
        (hit = listed(r->deny, r->ndeny, p->argv0_base, false)))
        return hit;
    enum launcher kind = launcher_kind(p);
    if (argv_names_program(p, kind))
        return listed(r->deny, r->ndeny, launched_program(p, kind), false);
    return NULL;
}

/* ---- verdicts ------------------------------------------------------------- */

/* Appends s to buf (of cap, at *len) as printable ASCII, at most max bytes. */
static void put_clean(char *buf, size_t cap, size_t *len, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max && *len + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[(*len)++] = (c >= ' ' && c <= '~') ? (char)c : '?';
    }
    buf[*len] = '\0';
}

static void put_text(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void put_text(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

/* "NAME (pid P)" or "NAME (pid P, parent D of N)", then ": [PATH ]TEXT". */
static struct kura_guard_verdict verdict(enum kura_guard_why why, const struct kura_procinfo *pi,
                                         size_t depth, const char *name, const char *path,
                                         const char *text)
{
    struct kura_guard_verdict v = {.allowed = why == KURA_GUARD_OK, .why = why, .depth = depth};
    size_t len = 0;
    const size_t cap = sizeof v.detail;
    v.detail[0] = '\0';
    if (depth < pi->n) {
        v.pid = pi->chain[depth].pid;
        put_clean(v.detail, cap, &len, name && *name ? name : "?", 64);
        put_text(v.detail, cap, &len, " (pid %d", (int)v.pid);
        if (depth > 0)
            put_text(v.detail, cap, &len, ", parent %zu of %zu", depth, pi->n - 1);
        put_text(v.detail, cap, &len, ")");
    }
    if (text) {
        if (len)
            put_text(v.detail, cap, &len, ": ");
        if (path) {
            put_clean(v.detail, cap, &len, path, 120);
            put_text(v.detail, cap, &len, " ");
        }
        put_text(v.detail, cap, &len, "%s", text);
    }
    return v;
}

/* The name to show for a process: what it runs as, as far as known. */
static const char *shown_name(const struct kura_proc *p)
{
    const char *base = exe_base(p);
    if (base && *base)
        return base;
    return (p->have & KURA_PROC_HAVE_COMM) ? p->comm : "?";
}

static bool in_trusted_dir(const struct kura_guard_rules *r, const char *exe)
{
    for (size_t i = 0; i < r->ntrusted_dirs; i++) {
        size_t n = strlen(r->trusted_dirs[i]);
        if (strncmp(exe, r->trusted_dirs[i], n) == 0 && exe[n] == '/')
            return true;
    }
    return false;
}

/* Allow-list mode: the caller's executable is one only root could have put
 * there, under the name it runs as. NULL when it is, else the problem. */
static const char *untrusted_because(const struct kura_guard_rules *r, const struct kura_proc *p)
{
    if (!(p->have & KURA_PROC_HAVE_EXE_STAT))
        return "cannot be examined";
    if (p->flags & KURA_PROC_EXE_DELETED)
        return "was deleted or replaced since it started (restart the program)";
    if (!p->exe_path_matches)
        return "is not the file now at that path";
    if (!in_trusted_dir(r, p->exe))
        return "lies outside the trusted directories";
    if (p->exe_uid != 0)
        return "is not owned by root";
    if (p->exe_mode & (S_IWGRP | S_IWOTH))
        return "is writable by group or others";
    if (!p->exe_dirs_safe)
        return "is in a directory that others than root may change";
    return NULL;
}

/* Enough names to have been checked against the deny list: the caller's
 * executable is required; an ancestor whose executable the kernel hides
 * from us (not one that exited) is known by its comm and argv[0]. With
 * CAP_SYS_PTRACE nothing a user runs is hidden from the daemon. */
static bool names_known(const struct kura_proc *p, bool caller)
{
    const unsigned names = KURA_PROC_HAVE_COMM | KURA_PROC_HAVE_CMDLINE;
    if ((p->have & names) != names)
        return false;
    return (p->have & KURA_PROC_HAVE_EXE) || (!caller && (p->flags & KURA_PROC_EXE_HIDDEN));
}

struct kura_guard_verdict kura_guard_decide(const struct kura_guard_rules *rules,
                                            enum kura_guard_mode mode,
                                            const struct kura_procinfo *pi)
{
    if (pi->n == 0)
        return verdict(KURA_GUARD_NO_PROCESS, pi, 0, NULL, NULL, "the calling process has exited");

    /* A denied tool anywhere in the chain refuses, in both modes. */
    for (size_t i = 0; i < pi->n; i++) {
        const char *hit = denied_as(rules, &pi->chain[i]);
        if (hit)
            return verdict(KURA_GUARD_DENIED_TOOL, pi, i, hit, NULL, NULL);
    }

    /* Every process must be known well enough to have been checked. */
    for (size_t i = 0; i < pi->n; i++) {
        const struct kura_proc *p = &pi->chain[i];
        if (!names_known(p, i == 0))
            return verdict(i == 0 ? KURA_GUARD_NO_PROCESS : KURA_GUARD_CHAIN_UNKNOWN, pi, i,
                           shown_name(p), NULL, "exited or could not be read");
        enum launcher kind = launcher_kind(p);
        /* A loader's program is told by what it maps; all of it must be seen. */
        bool maps_complete = (p->have & KURA_PROC_HAVE_MAPS) && !(p->flags & KURA_PROC_MAPS_TRUNCATED);
        if ((argv_names_program(p, kind) && !launched_program(p, kind)) || (kind == LOADER && !maps_complete))
            return verdict(KURA_GUARD_UNKNOWN_PROGRAM, pi, i, shown_name(p), NULL,
                           kind == LOADER ? "cannot tell which program the loader runs"
                                          : "cannot tell which program the multi-call binary runs");
    }
    const struct kura_proc *top = &pi->chain[pi->n - 1];
    if (pi->flags & KURA_PROCINFO_CHAIN_TRUNCATED)
        return verdict(KURA_GUARD_CHAIN_UNKNOWN, pi, pi->n - 1, shown_name(top), NULL,
                       "process chain longer than the limit; ancestors above were not checked");
    if (pi->flags & KURA_PROCINFO_CHAIN_BROKEN)
        return verdict(KURA_GUARD_CHAIN_UNKNOWN, pi, pi->n - 1, shown_name(top), NULL,
                       "its parent exited or could not be read during the check");

    const struct kura_proc *caller = &pi->chain[0];
    const char *base = exe_base(caller);
    if (strcmp(base, "sshd") == 0 || strcmp(base, "sshd-session") == 0)
        return verdict(KURA_GUARD_SSH_SERVER, pi, 0, base, NULL,
                       "sshd reading files itself is an SFTP transfer (internal-sftp)");

    if (mode == KURA_GUARD_DENYLIST)
        return verdict(KURA_GUARD_OK, pi, 0, base, NULL, NULL);

    const char *problem = untrusted_because(rules, caller);
    if (problem)
        return verdict(KURA_GUARD_UNTRUSTED_EXE, pi, 0, base, caller->exe, problem);
    const char *name = base;
    if (!listed(rules->allow, rules->nallow, base, false) && launcher_kind(caller) == MULTICALL)
        name = launched_program(caller, MULTICALL); /* busybox/coreutils: the applet decides */
    if (listed(rules->allow, rules->nallow, name, false))
        return verdict(KURA_GUARD_OK, pi, 0, name, NULL, NULL);
    return verdict(KURA_GUARD_NOT_ALLOWED, pi, 0, name, NULL, "not on the allow list");
}

const char *kura_guard_why_name(enum kura_guard_why w)
{
    switch (w) {
    case KURA_GUARD_OK: return "allowed";
    case KURA_GUARD_DENIED_TOOL: return "denied tool";
    case KURA_GUARD_SSH_SERVER: return "ssh server";
    case KURA_GUARD_NOT_ALLOWED: return "not on allow list";
    case KURA_GUARD_UNTRUSTED_EXE: return "untrusted executable";
    case KURA_GUARD_UNKNOWN_PROGRAM: return "unknown program";
    case KURA_GUARD_NO_PROCESS: return "process gone";
    case KURA_GUARD_CHAIN_UNKNOWN: return "process chain unknown";
    }
    return "?";
}
