/* Process facts for the guard (R-CPY-4) and the audit log (R-LOG-1): real
 * processes (this test, a forked /bin/sleep, a zombie, a deleted binary) and
 * a fake /proc tree with hostile contents. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kura/guard.h"
#include "kura/proccache.h"
#include "kura/procinfo.h"
#include "kura/secmem.h"
#include "unit.h"

static int g_argc;
static char **g_argv;

static const unsigned ALL_FACTS = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_STATUS |
                                  KURA_PROC_HAVE_COMM | KURA_PROC_HAVE_EXE |
                                  KURA_PROC_HAVE_EXE_STAT | KURA_PROC_HAVE_CMDLINE;

static struct kura_procinfo *collect(const char *root, pid_t pid, int *rc, struct kura_err *err)
{
    struct kura_procinfo *pi = malloc(sizeof *pi);
    if (pi)
        *rc = kura_procinfo_collect(root, pid, pi, err);
    return pi;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- real processes ----------------------------------------------------- */

static void test_self(void)
{
    struct kura_err err = {0};
    int rc = -1;
    struct kura_procinfo *pi = collect(NULL, getpid(), &rc, &err);
    ASSERT(pi);
    EXPECT(rc == 0);
    EXPECT(pi->n >= 2);
    /* Every ancestor is read, except that the kernel may hide the
     * executable of one we may not inspect (a sandbox's init). */
    unsigned want_flags = 0;
    for (size_t i = 1; i < pi->n; i++) {
        const struct kura_proc *a = &pi->chain[i];
        const unsigned basic = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_STATUS |
                               KURA_PROC_HAVE_COMM | KURA_PROC_HAVE_CMDLINE;
        EXPECT((a->have & basic) == basic);
        if ((a->have & ALL_FACTS) != ALL_FACTS) {
            EXPECT(a->flags & KURA_PROC_EXE_HIDDEN);
            printf("#   pid %d (%s): executable hidden from us\n", (int)a->pid, a->comm);
            want_flags = KURA_PROCINFO_PARTIAL;
        }
    }
    EXPECT(pi->flags == want_flags);
    const struct kura_proc *me = &pi->chain[0];
    EXPECT(me->pid == getpid());
    EXPECT(me->ppid == getppid());
    EXPECT((me->have & ALL_FACTS) == ALL_FACTS);
    EXPECT(me->uid == getuid() && me->euid == geteuid() && me->gid == getgid());
    EXPECT(strcmp(kura_procinfo_basename(me->exe), "test_procinfo") == 0);
    EXPECT(me->exe_path_matches);
    EXPECT(!(me->flags & KURA_PROC_EXE_DELETED));
    EXPECT(strcmp(me->comm, "test_procinfo") == 0);
    char want[KURA_PROC_CMDLINE_MAX] = "";
    for (int i = 0; i < g_argc; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? " " : "", g_argv[i]);
    EXPECT(strcmp(me->cmdline, want) == 0);
    EXPECT(me->argc == (size_t)g_argc);
    /* the chain: parent, ..., a process without parent */
    EXPECT(pi->chain[1].pid == getppid());
    for (size_t i = 1; i < pi->n; i++)
        EXPECT(pi->chain[i - 1].ppid == pi->chain[i].pid);
    EXPECT(pi->chain[pi->n - 1].ppid == 0);
    /* loginuid as the kernel reports it */
    char buf[32] = "";
    FILE *f = fopen("/proc/self/loginuid", "r");
    ASSERT(f);
    EXPECT(fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    unsigned long lu = strtoul(buf, NULL, 10);
    EXPECT(pi->loginuid_set == (lu != 4294967295UL));
    if (pi->loginuid_set)
        EXPECT(pi->loginuid == lu);
    free(pi);
}

/* Waits until pid runs an executable whose basename is want. */
static bool wait_exec(pid_t pid, const char *want)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
    for (int i = 0; i < 500; i++) {
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strstr(kura_procinfo_basename(target), want))
                return true;
        }
        sleep_ms(10);
    }
    return false;
}

static pid_t spawn(const char *path, char *const argv[], char *const envp[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execve(path, argv, envp);
        _exit(127);
    }
    return pid;
}

static void reap(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static void test_child_sleep(void)
{
    char *argv[] = {"sleep", "30", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", "SSH_CONNECTION=192.0.2.7 50022 10.0.0.1 22", NULL};
    pid_t child = spawn("/bin/sleep", argv, envp);
    ASSERT(child > 0);
    if (!wait_exec(child, "sleep")) {
        reap(child);
        ASSERT(!"child never ran /bin/sleep");
    }
    struct kura_err err = {0};
    int rc = -1, rc_self = -1;
    struct kura_procinfo *pi = collect(NULL, child, &rc, &err);
    struct kura_procinfo *self = collect(NULL, getpid(), &rc_self, &err);
    reap(child);
    ASSERT(pi && self);
    EXPECT(rc == 0 && rc_self == 0);
    const struct kura_proc *p = &pi->chain[0];
    char real[PATH_MAX];
    ASSERT(realpath("/bin/sleep", real));
    EXPECT(strcmp(p->exe, real) == 0);
    EXPECT((p->have & ALL_FACTS) == ALL_FACTS);
    EXPECT(strcmp(p->comm, "sleep") == 0);
    EXPECT(strcmp(p->cmdline, "sleep 30") == 0);
    EXPECT(p->argc == 2 && strcmp(p->argv0_base, "sleep") == 0 && strcmp(p->argv1, "30") == 0);
    EXPECT(p->ppid == getpid());
    EXPECT(pi->n == self->n + 1 && pi->chain[1].pid == getpid());
    EXPECT(pi->flags == self->flags);
    /* facts the allow-list mode relies on: a root-owned system binary */
    EXPECT(p->exe_uid == 0);
    EXPECT(!(p->exe_mode & (S_IWGRP | S_IWOTH)));
    EXPECT(p->exe_path_matches);
    EXPECT(p->exe_dirs_safe); /* /usr/bin and / are root's on any sane test host */
    EXPECT(pi->loginuid_set == self->loginuid_set && pi->loginuid == self->loginuid);
    /* The session's address wins when this test itself runs under sshd. */
    if (self->ssh_client_from_session) {
        EXPECT(strcmp(pi->ssh_client, self->ssh_client) == 0);
    } else {
        EXPECT(strcmp(pi->ssh_client, "192.0.2.7") == 0);
        EXPECT(pi->ssh_client_pid == child);
    }

    /* The guard on these real facts (R-CPY-4, R-LVL-1). */
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, "sleep", NULL, NULL) == 0);
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi);
    printf("#   allow-list verdict: %s\n", v.detail);
    EXPECT(v.allowed);
    v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    EXPECT(v.allowed);
    kura_guard_rules_clear(&rules);
    ASSERT(kura_guard_rules_set(&rules, "sleep", "cat", NULL, NULL) == 0);
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi).why == KURA_GUARD_DENIED_TOOL);
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).why == KURA_GUARD_DENIED_TOOL);
    kura_guard_rules_clear(&rules);
    free(pi);
    free(self);
}

/* A process that exited: facts missing, flagged, and the guard refuses. */
static void test_zombie_then_gone(void)
{
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    ASSERT(child > 0);
    char path[64], st[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)child);
    bool zombie = false;
    for (int i = 0; i < 500 && !zombie; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            zombie = fgets(st, sizeof st, f) && strstr(st, ") Z ");
            fclose(f);
        }
        if (!zombie)
            sleep_ms(10);
    }
    if (!zombie) {
        reap(child);
        ASSERT(!"child did not become a zombie");
    }
    struct kura_err err = {0};
    int rc = -1;
    struct kura_procinfo *pi = collect(NULL, child, &rc, &err);
    ASSERT(pi);
    EXPECT(rc == 0);
    EXPECT(pi->flags & KURA_PROCINFO_PARTIAL);
    EXPECT(!(pi->chain[0].have & KURA_PROC_HAVE_EXE));
    EXPECT(pi->chain[0].argc == 0);
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, "sleep", NULL, NULL) == 0);
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).why == KURA_GUARD_NO_PROCESS);
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi).why == KURA_GUARD_NO_PROCESS);

    waitpid(child, NULL, 0);
    rc = kura_procinfo_collect(NULL, child, pi, &err);
    EXPECT(rc == -1);
    EXPECT(err.code == ESRCH);
    EXPECT(pi->n == 0 && (pi->flags & KURA_PROCINFO_GONE));
    EXPECT(!kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).allowed);
    kura_guard_rules_clear(&rules);
    free(pi);
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    char buf[65536];
    ssize_t n;
    int rc = in >= 0 && out >= 0 ? 0 : -1;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            rc = -1;
    if (in >= 0)
        close(in);
    if (out >= 0 && close(out) != 0)
        rc = -1;
    return rc;
}

/* A binary deleted after exec: the kernel's " (deleted)" is seen and the
 * running inode can still be examined. */
static void test_deleted_executable(void)
{
    char dir[] = "/tmp/kura-procinfo-XXXXXX";
    ASSERT(mkdtemp(dir));
    char bin[sizeof dir + 16];
    snprintf(bin, sizeof bin, "%s/mysleep", dir);
    ASSERT(copy_file("/bin/sleep", bin, 0755) == 0);
    char *argv[] = {"mysleep", "30", NULL};
    char *envp[] = {NULL};
    pid_t child = spawn(bin, argv, envp);
    ASSERT(child > 0);
    bool ran = wait_exec(child, "mysleep");
    unlink(bin);
    rmdir(dir);
    if (!ran) {
        reap(child);
        ASSERT(!"child never ran the copy");
    }
    struct kura_err err = {0};
    int rc = -1;
    struct kura_procinfo *pi = collect(NULL, child, &rc, &err);
    reap(child);
    ASSERT(pi);
    EXPECT(rc == 0);
    const struct kura_proc *p = &pi->chain[0];
    EXPECT(p->flags & KURA_PROC_EXE_DELETED);
    EXPECT(strcmp(p->exe, bin) == 0);
    EXPECT(p->have & KURA_PROC_HAVE_EXE_STAT);
    EXPECT(!p->exe_path_matches);
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, "mysleep", "/tmp", NULL) == 0);
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi);
    EXPECT(v.why == KURA_GUARD_UNTRUSTED_EXE);
    EXPECT_STR_CONTAINS(v.detail, "deleted");
    kura_guard_rules_clear(&rules);
    free(pi);
}

static void test_bad_arguments(void)
{
    struct kura_procinfo *pi = malloc(sizeof *pi);
    ASSERT(pi);
    struct kura_err err = {0};
    EXPECT(kura_procinfo_collect(NULL, 0, pi, &err) == -1 && err.code == EINVAL);
    EXPECT(pi->n == 0 && (pi->flags & KURA_PROCINFO_GONE));
    EXPECT(kura_procinfo_collect(NULL, -5, pi, &err) == -1 && err.code == EINVAL);
    EXPECT(kura_procinfo_collect("/nonexistent/proc", getpid(), pi, &err) == -1);
    EXPECT(err.code == ENOENT);
    EXPECT(pi->n == 0);
    free(pi);
}

/* ---- a fake /proc ------------------------------------------------------- */

static char fake[64];

static void fake_path(char *out, size_t cap, pid_t pid, const char *name)
{
    snprintf(out, cap, "%s/%d%s%s", fake, (int)pid, name ? "/" : "", name ? name : "");
}

static void fake_write(pid_t pid, const char *name, const void *data, size_t len)
{
    char path[256];
    fake_path(path, sizeof path, pid, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        printf("#   cannot write %s\n", path);
    if (fd >= 0)
        close(fd);
}

static void fake_text(pid_t pid, const char *name, const char *text)
{
    fake_write(pid, name, text, strlen(text));
}

static void fake_exe(pid_t pid, const char *target)
{
    char path[256];
    fake_path(path, sizeof path, pid, "exe");
    unlink(path);
    if (symlink(target, path) != 0)
        printf("#   cannot link %s\n", path);
}

static void fake_stat(pid_t pid, pid_t ppid, uint64_t start, const char *comm)
{
    char buf[512];
    snprintf(buf, sizeof buf,
             "%d (%s) S %d %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %llu 1000 100\n",
             (int)pid, comm, (int)ppid, (int)pid, (int)pid, (unsigned long long)start);
    fake_text(pid, "stat", buf);
}

/* A complete process: stat, status, comm, exe, cmdline "comm", loginuid. */
static void fake_proc(pid_t pid, pid_t ppid, uint64_t start, const char *comm, const char *exe)
{
    char path[256], buf[512];
    fake_path(path, sizeof path, pid, NULL);
    mkdir(path, 0755);
    fake_stat(pid, ppid, start, comm);
    snprintf(buf, sizeof buf,
             "Name:\t%s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"
             "Uid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\nFDSize:\t64\n",
             comm, (int)pid, (int)pid, (int)ppid);
    fake_text(pid, "status", buf);
    snprintf(buf, sizeof buf, "%s\n", comm);
    fake_text(pid, "comm", buf);
    fake_exe(pid, exe);
    fake_write(pid, "cmdline", comm, strlen(comm) + 1);
    fake_text(pid, "loginuid", "1000");
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void fake_reset(void)
{
    if (fake[0])
        nftw(fake, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    snprintf(fake, sizeof fake, "/tmp/kura-fakeproc-XXXXXX");
    if (!mkdtemp(fake))
        fake[0] = '\0';
}

/* init (1) <- bash (50) <- cat (100), all on real binaries */
static void fake_session(void)
{
    fake_reset();
    fake_proc(1, 0, 1, "systemd", "/usr/bin/sleep");
    fake_proc(50, 1, 500, "bash", "/usr/bin/bash");
    fake_proc(100, 50, 900, "cat", "/usr/bin/cat");
}

static struct kura_procinfo *fake_collect(pid_t pid)
{
    struct kura_err err = {0};
    int rc = -1;
    struct kura_procinfo *pi = collect(fake, pid, &rc, &err);
    if (pi && rc != 0)
        printf("#   collect: %s\n", err.msg);
    return pi;
}

static void test_fake_chain(void)
{
    fake_session();
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 3);
    EXPECT(pi->flags == 0);
    EXPECT(pi->chain[0].pid == 100 && pi->chain[1].pid == 50 && pi->chain[2].pid == 1);
    EXPECT(pi->chain[0].uid == 1000 && pi->chain[0].gid == 100);
    EXPECT(strcmp(pi->chain[0].exe, "/usr/bin/cat") == 0);
    EXPECT(strcmp(pi->chain[1].comm, "bash") == 0);
    EXPECT(pi->loginuid_set && pi->loginuid == 1000);
    EXPECT(pi->ssh_client[0] == '\0' && pi->ssh_client_pid == 0);
    free(pi);
}

/* The cache (proccache.h) through procinfo, events fed by hand: the
 * second collection takes what the kernel would announce a change of from
 * the cache until its event comes; the caller's command line is read
 * afresh, and its executable link or start time reading otherwise is a
 * miss. */
static void test_fake_cached_chain(void)
{
    fake_session();
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    struct kura_procinfo *pi = malloc(sizeof *pi);
    struct kura_err err;
    ASSERT(c && pi);
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0 && pi->n == 3);
    EXPECT(kura_proccache_count(c) == 3);

    fake_text(50, "comm", "cp\n"); /* bash renames itself */
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0 && pi->n == 3);
    EXPECT(strcmp(pi->chain[1].comm, "bash") == 0 && pi->flags == 0);
    struct kura_procevent ev = {KURA_PROCEVENT_COMM, 50, 50};
    kura_proccache_event(c, &ev);
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0 && pi->n == 3);
    EXPECT(strcmp(pi->chain[1].comm, "cp") == 0);

    fake_text(100, "comm", "zz\n");
    fake_write(100, "cmdline", "cat\0x\0", 6);
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0);
    EXPECT(strcmp(pi->chain[0].comm, "cat") == 0);       /* a hit */
    EXPECT(strcmp(pi->chain[0].cmdline, "cat x") == 0);  /* read afresh */
    EXPECT(pi->loginuid_set && pi->loginuid == 1000);

    fake_exe(100, "/usr/bin/sleep");
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0);
    EXPECT(strcmp(pi->chain[0].exe, "/usr/bin/sleep") == 0 && strcmp(pi->chain[0].comm, "zz") == 0);

    fake_text(100, "comm", "yy\n");
    fake_stat(100, 50, 901, "yy"); /* pid 100 reused */
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0);
    EXPECT(strcmp(pi->chain[0].comm, "yy") == 0 && pi->chain[0].start_time == 901);
    kura_proccache_free(c);
    free(pi);
}

/* The collection clears what it reports (issue 17: not the whole 170 KiB):
 * a struct full of stale bytes reads as one collected into zeroes, for a
 * chain, a hit in the cache and a process that is gone. */
static void test_stale_struct_cleared(void)
{
    fake_session();
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    struct kura_procinfo *clean = calloc(1, sizeof *clean), *stale = malloc(sizeof *stale);
    struct kura_err err;
    ASSERT(c && clean && stale);
    for (int pass = 0; pass < 2; pass++) { /* read, then from the cache */
        memset(stale, 0xa5, sizeof *stale);
        ASSERT(kura_procinfo_collect(fake, 100, clean, &err) == 0 && clean->n == 3);
        ASSERT(kura_procinfo_collect_cached(fake, c, 100, stale, &err) == 0 && stale->n == 3);
        EXPECT(memcmp(stale, clean, offsetof(struct kura_procinfo, chain)) == 0);
        EXPECT(memcmp(stale->chain, clean->chain, 3 * sizeof clean->chain[0]) == 0);
        EXPECT(stale->flags == clean->flags && stale->loginuid_set && stale->loginuid == clean->loginuid);
        EXPECT(strcmp(stale->ssh_client, clean->ssh_client) == 0 && stale->ssh_client_pid == clean->ssh_client_pid &&
               stale->ssh_client_from_session == clean->ssh_client_from_session);
    }
    memset(stale, 0xa5, sizeof *stale);
    EXPECT(kura_procinfo_collect_cached(fake, c, 4000000, stale, &err) == -1);
    EXPECT(stale->n == 0 && stale->flags == KURA_PROCINFO_GONE && !stale->loginuid_set);
    EXPECT(stale->chain[0].have == 0 && stale->chain[0].exe[0] == '\0' && stale->chain[0].cmdline[0] == '\0');
    EXPECT(stale->ssh_client[0] == '\0' && stale->ssh_client_pid == 0);
    kura_proccache_free(c);
    free(clean);
    free(stale);
}

/* A chain with a process in exit (PF_EXITING: its exit event may be drained
 * already, its children not yet reparented) is not stored, nor one read
 * incompletely. */
static void test_fake_cache_skips_exiting_and_partial(void)
{
    fake_session();
    fake_text(50, "stat", "50 (bash) S 1 50 50 0 -1 4194564 0 0 0 0 0 0 0 0 20 0 1 0 500 1000 100\n");
    struct kura_proccache *c = kura_proccache_new(16, NULL);
    struct kura_procinfo *pi = malloc(sizeof *pi);
    struct kura_err err;
    ASSERT(c && pi);
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0 && pi->n == 3);
    EXPECT(pi->chain[1].exiting && !pi->chain[0].exiting);
    EXPECT(kura_proccache_count(c) == 0);
    fake_session();
    char path[256];
    fake_path(path, sizeof path, 50, "status");
    unlink(path);
    ASSERT(kura_procinfo_collect_cached(fake, c, 100, pi, &err) == 0 && pi->n == 3);
    EXPECT(pi->flags & KURA_PROCINFO_PARTIAL);
    EXPECT(kura_proccache_count(c) == 0);
    kura_proccache_free(c);
    free(pi);
}

static void test_fake_loginuid(void)
{
    static const struct {
        const char *text;
        bool set;
        uint32_t value;
    } cases[] = {
        {"1000\n", true, 1000},       {"0", true, 0},
        {"4294967295", false, 0},     {"4294967296", false, 0},
        {"99999999999", false, 0},    {"-1", false, 0},
        {"12ab", false, 0},           {"", false, 0},
        {"\n", false, 0},             {"1000 1000", false, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_session();
        fake_text(100, "loginuid", cases[i].text);
        struct kura_procinfo *pi = fake_collect(100);
        ASSERT(pi);
        EXPECT(pi->loginuid_set == cases[i].set);
        EXPECT(pi->loginuid == cases[i].value);
        if (pi->loginuid_set != cases[i].set)
            printf("#   loginuid \"%s\"\n", cases[i].text);
        free(pi);
    }
}

static void test_fake_huge_cmdline(void)
{
    fake_session();
    size_t len = 1 << 20;
    char *buf = malloc(len);
    ASSERT(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (i % 100 == 99) ? '\0' : 'A';
    fake_write(100, "cmdline", buf, len);
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    const struct kura_proc *p = &pi->chain[0];
    EXPECT(p->have & KURA_PROC_HAVE_CMDLINE);
    EXPECT(p->flags & KURA_PROC_CMDLINE_TRUNCATED);
    EXPECT(strlen(p->cmdline) == KURA_PROC_CMDLINE_MAX - 1);
    EXPECT(strlen(p->argv0_base) == 99 && strlen(p->argv1) == 99);
    EXPECT(p->argc == KURA_PROC_CMDLINE_READ / 100 + 1); /* 81 whole + one cut */
    EXPECT(!(p->flags & KURA_PROC_ARGS_TRUNCATED));

    /* one argument of 1 MiB: argv[0] unknown, not a cut name */
    memset(buf, 'B', len);
    buf[len - 1] = '\0';
    fake_write(100, "cmdline", buf, len);
    free(pi);
    pi = fake_collect(100);
    ASSERT(pi);
    p = &pi->chain[0];
    EXPECT(p->flags & KURA_PROC_ARGS_TRUNCATED);
    EXPECT(p->argv0_base[0] == '\0');
    EXPECT(p->argc == 1);
    EXPECT(strlen(p->cmdline) == KURA_PROC_CMDLINE_MAX - 1);
    free(pi);
    free(buf);
}

/* Issue 14 §4: "ld.so ~/x", ~/x a symlink to sleep. The loader is known by
 * identity and the program it runs by its mapping, whatever it was called. */
static void test_loader_runs_symlink(void)
{
    char dir[] = "/tmp/kura-procinfo-XXXXXX";
    ASSERT(mkdtemp(dir));
    char link_path[64], loader[PATH_MAX];
    snprintf(link_path, sizeof link_path, "%s/x", dir);
    ASSERT(symlink("/bin/sleep", link_path) == 0);
    ASSERT(realpath("/lib64/ld-linux-x86-64.so.2", loader));
    char *argv[] = {"/lib64/ld-linux-x86-64.so.2", link_path, "30", NULL};
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    pid_t child = spawn("/lib64/ld-linux-x86-64.so.2", argv, envp);
    ASSERT(child > 0);
    /* The exec first: a collect that read the exe link before it and the
     * maps after it would see the forked test and the loader's mappings. */
    if (!wait_exec(child, "ld-linux")) {
        reap(child);
        ASSERT(!"child never ran the loader");
    }
    struct stat sleep_st;
    ASSERT(stat("/bin/sleep", &sleep_st) == 0);
    struct kura_err err = {0};
    struct kura_procinfo *pi = NULL;
    bool mapped = false;
    for (int tries = 0; tries < 500 && !mapped; tries++) { /* until the loader has mapped it */
        free(pi);
        int rc = -1;
        pi = collect(NULL, child, &rc, &err);
        ASSERT(pi);
        for (size_t i = 0; rc == 0 && pi->n && i < pi->chain[0].nmapped; i++)
            mapped |= pi->chain[0].mapped[i].dev == sleep_st.st_dev &&
                      pi->chain[0].mapped[i].ino == sleep_st.st_ino;
        if (!mapped)
            sleep_ms(10);
    }
    reap(child);
    const struct kura_proc *p = &pi->chain[0];
    EXPECT(mapped);
    EXPECT(strcmp(p->exe, loader) == 0);
    EXPECT(p->flags & KURA_PROC_EXE_LOADER);
    EXPECT(p->have & KURA_PROC_HAVE_MAPS);
    EXPECT(!(p->flags & KURA_PROC_MAPS_TRUNCATED));
    for (size_t i = 0; i < p->nmapped; i++) /* the loader itself is the executable, not a mapping */
        EXPECT(!(p->mapped[i].dev == p->exe_dev && p->mapped[i].ino == p->exe_ino));

    /* The guard: "sleep" denied catches it by name and by identity alone. */
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, "sleep", NULL, NULL, NULL) == 0);
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    printf("#   loader verdict: %s\n", v.detail);
    EXPECT(!v.allowed && v.why == KURA_GUARD_DENIED_TOOL);
    ASSERT(kura_guard_rules_locate(&rules, "/bin,/usr/bin", NULL) == 0);
    for (size_t i = 0; i < pi->chain[0].nmapped; i++)
        snprintf(pi->chain[0].mapped[i].base, sizeof pi->chain[0].mapped[i].base, "renamed");
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).why == KURA_GUARD_DENIED_TOOL);
    kura_guard_rules_clear(&rules);
    free(pi);

    /* A copy of the loader under another name is still known as a loader. */
    char copy[64], cmd[PATH_MAX + 128];
    snprintf(copy, sizeof copy, "%s/myld", dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", loader, copy);
    ASSERT(system(cmd) == 0);
    char *argv2[] = {copy, link_path, "30", NULL};
    child = spawn(copy, argv2, envp);
    ASSERT(child > 0);
    bool seen = wait_exec(child, "myld");
    int rc = -1;
    pi = collect(NULL, child, &rc, &err);
    reap(child);
    ASSERT(pi);
    EXPECT(seen && rc == 0);
    EXPECT(pi->chain[0].flags & KURA_PROC_EXE_LOADER);
    free(pi);
    unlink(copy);
    unlink(link_path);
    rmdir(dir);
}

static bool file_is_loader(const char *path)
{
    unsigned char head[4096];
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return kura_procinfo_elf_is_loader(head, n);
}

static void test_elf_loader_check(void)
{
    EXPECT(file_is_loader("/lib64/ld-linux-x86-64.so.2"));
    EXPECT(!file_is_loader("/bin/sleep"));   /* names an interpreter */
    EXPECT(!file_is_loader("/bin/sh"));
    EXPECT(!file_is_loader("/etc/passwd"));  /* not ELF */
    unsigned char head[4096];
    FILE *f = fopen("/lib64/ld-linux-x86-64.so.2", "rb");
    ASSERT(f);
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    EXPECT(!kura_procinfo_elf_is_loader(head, 60)); /* the header cut short */
    EXPECT(!kura_procinfo_elf_is_loader(head, 64)); /* program headers not in the buffer */
    EXPECT(kura_procinfo_elf_is_loader(head, n));
}

/* The paths kura_procinfo_maps_on_device gives, joined by '|'. */
static int collect_path(const char *path, size_t len, void *arg)
{
    char *out = arg;
    size_t used = strlen(out);
    snprintf(out + used, 512 - used, "%s%.*s", used ? "|" : "", (int)len, path);
    return strncmp(path, "/stop", 5) == 0 ? 7 : 0;
}

static void test_maps_on_device(void)
{
    static const char maps[] =
        "7f0000000000-7f0000400000 r--p 00000000 00:2f 9183                       /mnt/kura/JGAD000001/a b.bin\n"
        "7f0000400000-7f0000410000 r-xp 00000000 fe:00 5001                       /usr/lib/libc.so.6\n"
        "7f0000410000-7f0000420000 rw-p 00000000 00:00 0 \n"
        "7f0000420000-7f0000430000 r--s 00001000 00:2f 9184                       /mnt/kura/JGAD000001/c.bin (deleted)\n"
        "garbage\n"
        "7f0000440000-7f0000450000 r--p 00000000 00:2f 9183                       /mnt/kura/JGAD000001/a b.bin";
    char out[512] = "";
    /* every permission, repeats kept, " (deleted)" cut, a last line without its end */
    EXPECT(kura_procinfo_maps_on_device(maps, strlen(maps), makedev(0, 0x2f), collect_path, out) == 0);
    EXPECT(strcmp(out, "/mnt/kura/JGAD000001/a b.bin|/mnt/kura/JGAD000001/c.bin|/mnt/kura/JGAD000001/a b.bin") == 0);
    out[0] = '\0';
    EXPECT(kura_procinfo_maps_on_device(maps, strlen(maps), makedev(0, 0x30), collect_path, out) == 0);
    EXPECT(out[0] == '\0'); /* another device: nothing, the anonymous mapping (00:00) never */
    static const char stop[] = "1000-2000 r--p 00000000 00:2f 1 /stop\n3000-4000 r--p 00000000 00:2f 2 /after\n";
    EXPECT(kura_procinfo_maps_on_device(stop, strlen(stop), makedev(0, 0x2f), collect_path, out) == 7);
    EXPECT(strcmp(out, "/stop") == 0);
}

static void test_maps_parser(void)
{
    static const char maps[] =
        "55d0a0000000-55d0a0004000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n"
        "55d0a0004000-55d0a0009000 r-xp 00004000 fe:00 247134                     /usr/bin/cat\n"
        "7f0000000000-7f0000020000 r-xp 00028000 fe:00 5001                       /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f0000020000-7f0000030000 r-xp 00000000 08:01 77                         /home/al ice/x (deleted)\n"
        "7f0000040000-7f0000050000 rw-p 00000000 00:00 0 \n"
        "7f0000050000-7f0000052000 r-xp 00000000 00:00 0                          [vdso]\n"
        "7f0000060000-7f0000070000 r-xp 00001000 fe:00 5001                       /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        "7f0000080000-7f0000090000 r-xp 00001000 103:02 9                         /opt/ld-linux-x86-64.so.2\n";
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    p.exe_dev = makedev(0xfe, 0);
    p.exe_ino = 9; /* a different file: inode 247134 is a mapping, not the exe */
    kura_procinfo_parse_maps(maps, strlen(maps), false, &p);
    EXPECT(p.nmapped == 4);
    EXPECT(!(p.flags & KURA_PROC_MAPS_TRUNCATED));
    EXPECT(strcmp(p.mapped[0].base, "cat") == 0 && p.mapped[0].ino == 247134 &&
           p.mapped[0].dev == makedev(0xfe, 0));
    EXPECT(strcmp(p.mapped[1].base, "libc.so.6") == 0);
    EXPECT(strcmp(p.mapped[2].base, "x") == 0 && p.mapped[2].dev == makedev(8, 1));
    EXPECT(strcmp(p.mapped[3].base, "ld-linux-x86-64.so.2") == 0 && p.mapped[3].dev == makedev(0x103, 2));

    p.exe_ino = 247134; /* the executable itself is left out */
    kura_procinfo_parse_maps(maps, strlen(maps), false, &p);
    EXPECT(p.nmapped == 3 && strcmp(p.mapped[0].base, "libc.so.6") == 0);

    /* a line cut by the read limit, a malformed line, too many files */
    kura_procinfo_parse_maps(maps, strlen(maps) - 5, false, &p);
    EXPECT(p.flags & KURA_PROC_MAPS_TRUNCATED);
    p.flags = 0;
    kura_procinfo_parse_maps("garbage\n", 8, false, &p);
    EXPECT(p.nmapped == 0 && (p.flags & KURA_PROC_MAPS_TRUNCATED));
    p.flags = 0;
    char many[4096] = "";
    for (int i = 0; i <= KURA_PROC_MAPPED_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many),
                 "7f00%08x-7f00%08x r-xp 00000000 fe:00 %d /usr/lib/lib%d.so\n", i, i + 1, 100 + i, i);
    kura_procinfo_parse_maps(many, strlen(many), false, &p);
    EXPECT(p.nmapped == KURA_PROC_MAPPED_MAX && (p.flags & KURA_PROC_MAPS_TRUNCATED));
    p.flags = 0;
    kura_procinfo_parse_maps(maps, strlen(maps), true, &p);
    EXPECT(p.flags & KURA_PROC_MAPS_TRUNCATED);

    EXPECT(kura_procinfo_loader_name("ld-linux-x86-64.so.2") && kura_procinfo_loader_name("ld.so") &&
           kura_procinfo_loader_name("ld-2.31.so") && !kura_procinfo_loader_name("ldd") &&
           !kura_procinfo_loader_name("ld-helper"));
}

static void test_cmdline_parser(void)
{
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    kura_procinfo_parse_cmdline("", 0, false, &p);
    EXPECT(p.argc == 0 && p.cmdline[0] == '\0' && !(p.flags & KURA_PROC_CMDLINE_TRUNCATED));

    static const char args[] = "/usr/bin/cp\0-a\0\0x y\0";
    kura_procinfo_parse_cmdline(args, sizeof args - 1, false, &p);
    EXPECT(p.argc == 4);
    EXPECT(strcmp(p.cmdline, "/usr/bin/cp -a  x y") == 0);
    EXPECT(strcmp(p.argv0_base, "cp") == 0 && strcmp(p.argv1, "-a") == 0);

    /* rewritten by setproctitle: no terminating NUL, spaces inside */
    static const char title[] = "sshd: alice@pts/0";
    kura_procinfo_parse_cmdline(title, sizeof title - 1, false, &p);
    EXPECT(p.argc == 1 && strcmp(p.cmdline, title) == 0);
    EXPECT(strcmp(p.argv0_base, "0") == 0);

    /* the last argument cut by the read limit is not taken as a name */
    static const char cut[] = "busybox\0c";
    kura_procinfo_parse_cmdline(cut, sizeof cut - 1, true, &p);
    EXPECT(p.argc == 2 && strcmp(p.argv0_base, "busybox") == 0 && p.argv1[0] == '\0');
    EXPECT(p.flags & KURA_PROC_ARGS_TRUNCATED);
    EXPECT(p.flags & KURA_PROC_CMDLINE_TRUNCATED);

    /* argv[0] ending in '/' has no basename */
    static const char dir[] = "/usr/bin/\0";
    kura_procinfo_parse_cmdline(dir, sizeof dir - 1, false, &p);
    EXPECT(p.argv0_base[0] == '\0' && !(p.flags & KURA_PROC_ARGS_TRUNCATED));

    /* a cut never splits a UTF-8 character: 600 bytes of "é" */
    char utf8[601];
    for (size_t i = 0; i < 600; i += 2) {
        utf8[i] = (char)0xC3;
        utf8[i + 1] = (char)0xA9;
    }
    for (size_t shift = 0; shift < 2; shift++) { /* the cut mid-character, then on a boundary */
        char buf[700];
        size_t len = 0;
        buf[len++] = 'x';
        if (shift)
            buf[len++] = 'y';
        buf[len++] = '\0';
        memcpy(buf + len, utf8, 600);
        len += 600;
        kura_procinfo_parse_cmdline(buf, len, false, &p);
        size_t n = strlen(p.cmdline);
        EXPECT(n <= KURA_PROC_CMDLINE_MAX - 1);
        EXPECT(p.flags & KURA_PROC_CMDLINE_TRUNCATED);
        /* ends on a whole character: the last lead byte has its continuation */
        EXPECT((unsigned char)p.cmdline[n - 1] == 0xA9);
    }
}

static void test_fake_missing_files(void)
{
    /* only stat: a chain end, everything else missing */
    fake_reset();
    char path[256];
    fake_path(path, sizeof path, 7, NULL);
    mkdir(path, 0755);
    fake_stat(7, 0, 1, "x");
    struct kura_procinfo *pi = fake_collect(7);
    ASSERT(pi);
    EXPECT(pi->n == 1);
    EXPECT(pi->chain[0].have == KURA_PROC_HAVE_STAT);
    EXPECT(pi->flags == KURA_PROCINFO_PARTIAL);
    EXPECT(!pi->loginuid_set);
    free(pi);

    /* no stat: the parent cannot be known */
    fake_session();
    fake_path(path, sizeof path, 100, "stat");
    unlink(path);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 1);
    EXPECT(pi->flags == (KURA_PROCINFO_PARTIAL | KURA_PROCINFO_CHAIN_BROKEN));
    EXPECT(pi->chain[0].have & KURA_PROC_HAVE_EXE);
    free(pi);

    /* no such pid in the tree */
    struct kura_err err = {0};
    int rc = 0;
    pi = collect(fake, 4242, &rc, &err);
    ASSERT(pi);
    EXPECT(rc == -1 && err.code == ESRCH && pi->n == 0 && pi->flags == KURA_PROCINFO_GONE);
    free(pi);
}

/* Files that are not regular files are not read: no hang on a FIFO, no
 * following a symlink out of the tree. */
static void test_fake_not_regular_files(void)
{
    fake_session();
    char path[256];
    fake_path(path, sizeof path, 100, "cmdline");
    unlink(path);
    ASSERT(mkfifo(path, 0644) == 0);
    fake_path(path, sizeof path, 100, "status");
    unlink(path);
    ASSERT(symlink("/proc/self/status", path) == 0);
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(!(pi->chain[0].have & KURA_PROC_HAVE_CMDLINE));
    EXPECT(!(pi->chain[0].have & KURA_PROC_HAVE_STATUS));
    EXPECT(pi->flags & KURA_PROCINFO_PARTIAL);
    free(pi);
}

static void test_fake_weird_exe_names(void)
{
    fake_session();
    fake_exe(100, "/tmp/evil\nname\x1b[0m (deleted)");
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    const struct kura_proc *p = &pi->chain[0];
    EXPECT(p->have & KURA_PROC_HAVE_EXE);
    EXPECT(strcmp(p->exe, "/tmp/evil\nname\x1b[0m") == 0);
    EXPECT(p->flags & KURA_PROC_EXE_DELETED);
    EXPECT(!(p->have & KURA_PROC_HAVE_EXE_STAT)); /* nothing to stat in a fake tree */
    free(pi);

    /* a file really named "x (deleted)" is not deleted */
    char lit[256];
    snprintf(lit, sizeof lit, "%s/x (deleted)", fake);
    ASSERT(copy_file("/bin/sleep", lit, 0755) == 0);
    fake_exe(100, lit);
    pi = fake_collect(100);
    ASSERT(pi);
    p = &pi->chain[0];
    EXPECT(!(p->flags & KURA_PROC_EXE_DELETED));
    EXPECT(strcmp(p->exe, lit) == 0);
    EXPECT(p->have & KURA_PROC_HAVE_EXE_STAT);
    EXPECT(p->exe_path_matches);
    EXPECT(!p->exe_dirs_safe); /* /tmp is writable by others */
    free(pi);

    /* a relative or odd link target is never taken as being in place */
    fake_exe(100, "memfd:cp (deleted)");
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(strcmp(pi->chain[0].exe, "memfd:cp") == 0);
    EXPECT(!pi->chain[0].exe_path_matches);
    free(pi);

    /* comm: a newline inside stays, only the terminator goes; overlong is cut */
    fake_text(100, "comm", "a\nb\n");
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(strcmp(pi->chain[0].comm, "a\nb") == 0);
    free(pi);
    char longcomm[200];
    memset(longcomm, 'c', sizeof longcomm);
    fake_write(100, "comm", longcomm, sizeof longcomm);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(strlen(pi->chain[0].comm) == KURA_PROC_COMM_MAX - 1);
    free(pi);
}

static void test_fake_chain_races(void)
{
    /* the parent started after the child: a reused pid, not the parent */
    fake_session();
    fake_stat(50, 1, 950, "bash");
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 1);
    EXPECT(pi->flags & KURA_PROCINFO_CHAIN_BROKEN);
    EXPECT(pi->chain[1].pid == 0); /* the impostor's facts are not kept */
    free(pi);

    /* the parent is gone */
    fake_session();
    char path[256];
    fake_path(path, sizeof path, 1, NULL);
    nftw(path, rm_entry, 4, FTW_DEPTH | FTW_PHYS);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 2);
    EXPECT(pi->flags == KURA_PROCINFO_CHAIN_BROKEN);
    free(pi);

    /* a loop (impossible in a real /proc) ends */
    fake_session();
    fake_stat(50, 100, 900, "bash");
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 2);
    EXPECT(pi->flags & KURA_PROCINFO_CHAIN_BROKEN);
    free(pi);

    /* deeper than the limit: cut and flagged, not walked forever */
    fake_reset();
    for (pid_t pid = 1; pid <= 40; pid++)
        fake_proc(pid, pid - 1, (uint64_t)pid, "sh", "/usr/bin/dash");
    pi = fake_collect(40);
    ASSERT(pi);
    EXPECT(pi->n == KURA_PROC_CHAIN_MAX);
    EXPECT(pi->flags == KURA_PROCINFO_CHAIN_TRUNCATED);
    EXPECT(pi->chain[KURA_PROC_CHAIN_MAX - 1].pid == 40 - KURA_PROC_CHAIN_MAX + 1);
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, NULL, NULL, NULL) == 0);
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).why == KURA_GUARD_CHAIN_UNKNOWN);
    kura_guard_rules_clear(&rules);
    free(pi);
}

/* The guard on collected facts: an sftp-server ancestor refuses (R-CPY-4). */
static void test_fake_guard_sees_ancestor(void)
{
    fake_session();
    fake_proc(60, 50, 600, "sftp-server", "/usr/lib/openssh/sftp-server");
    fake_stat(100, 60, 900, "cat");
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 4);
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, NULL, NULL, NULL) == 0);
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    EXPECT(v.why == KURA_GUARD_DENIED_TOOL);
    EXPECT_STR_CONTAINS(v.detail, "sftp-server (pid 60, parent 1 of 3)");
    kura_guard_rules_clear(&rules);
    free(pi);
}

static void test_stat_parser(void)
{
    pid_t ppid = -1;
    uint64_t start = 0;
    static const char ok[] =
        "100 (a) b) (c) S 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 -20 -5 1 0 12345 1000 100\n";
    EXPECT(kura_procinfo_parse_stat(ok, sizeof ok - 1, &ppid, &start, NULL) == 0);
    EXPECT(ppid == 50 && start == 12345);
    static const char *const bad[] = {
        "",
        "100 no parens S 50",
        "100 (x) S 50 1 1",                                                       /* short */
        "100 (x) S x50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7 1 1",     /* ppid */
        "100 (x) S 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 -7 1 1",     /* start */
        "100 (x) S 99999999999 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7 1", /* ppid range */
        "100 (x) S 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999 1",
        "100 (x) SS 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7 1 1",     /* state */
        "100 (x)  S 50 100 100 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 7 1 1",     /* spacing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool rejected = kura_procinfo_parse_stat(bad[i], strlen(bad[i]), &ppid, &start, NULL) == -1;
        EXPECT(rejected);
        if (!rejected)
            printf("#   accepted bad stat %zu\n", i);
    }
}

static void test_status_parser(void)
{
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    static const char ok[] = "Name:\tx\nTgid:\t4242\nPid:\t4245\nUid:\t1000\t1001\t1002\t1003\nGid:\t10\t11\t12\t13\n";
    EXPECT(kura_procinfo_parse_status(ok, sizeof ok - 1, &p) == 0);
    EXPECT(p.uid == 1000 && p.euid == 1001 && p.fsuid == 1003 && p.gid == 10 && p.egid == 11);
    EXPECT(p.tgid == 4242); /* a thread's process */
    static const char badtgid[] = "Tgid:\tx\nUid:\t1 2 3 4\nGid:\t1 2 3 4\n";
    EXPECT(kura_procinfo_parse_status(badtgid, sizeof badtgid - 1, &p) == 0 && p.tgid == 0);
    /* the last line need not end in a newline */
    static const char noeol[] = "Gid:\t1 2 3 4\nUid:\t5 6 7 8";
    EXPECT(kura_procinfo_parse_status(noeol, sizeof noeol - 1, &p) == 0 && p.uid == 5 && p.gid == 1);
    static const char *const bad[] = {
        "",
        "Uid:\t1\t2\t3\t4\n",                        /* no Gid */
        "Uid:\tabc\t2\t3\t4\nGid:\t1\t2\t3\t4\n",
        "Uid:\t1\t2\t3\nGid:\t1\t2\t3\t4\n",         /* three */
        "Uid:\t1\t2\t3\t4\t5\nGid:\t1\t2\t3\t4\n",   /* five */
        "Uid:\t4294967296\t2\t3\t4\nGid:\t1\t2\t3\t4\n",
        "Uid:\t-1\t2\t3\t4\nGid:\t1\t2\t3\t4\n",
        "Uid:1\t2\t3\t4\nGid:\t1\t2\t3\t4\n",        /* no separator */
        "Uid:\t1\t2\t3\t4 \nGid:\t1\t2\t3\t4\n",     /* trailing junk */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bool rejected = kura_procinfo_parse_status(bad[i], strlen(bad[i]), &p) == -1;
        EXPECT(rejected);
        if (!rejected)
            printf("#   accepted bad status %zu\n", i);
    }
}

/* environ blocks are written by whoever started the process: hostile. */
static void test_ssh_client_parser(void)
{
#define ENV(s) s, sizeof s - 1
    static const struct {
        const char *env;
        size_t len;
        const char *want; /* NULL: none */
    } cases[] = {
        {ENV("HOME=/x\0SSH_CONNECTION=192.0.2.7 50022 10.0.0.1 22\0"), "192.0.2.7"},
        {ENV("SSH_CONNECTION=2001:db8::1 50022 2001:db8::2 22\0"), "2001:db8::1"},
        {ENV("SSH_CLIENT=fe80::1%eth0 50022 22\0"), "fe80::1%eth0"},
        {ENV("SSH_CLIENT=198.51.100.1 50022 22\0"), "198.51.100.1"},
        {ENV("SSH_CLIENT=198.51.100.1 1 22\0SSH_CONNECTION=192.0.2.7 1 10.0.0.1 22\0"), "192.0.2.7"},
        {ENV("SSH_CONNECTION=192.0.2.7\0"), "192.0.2.7"},
        /* invalid values */
        {ENV("SSH_CONNECTION=999.1.1.1 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=1.2.3.4;rm 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=\0"), NULL},
        {ENV("SSH_CONNECTION= 1.2.3.4 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=1.2.3.4\n 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=localhost 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=1.2.3 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=01.2.3.4 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=fe80::1% 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=fe80::1%eth0;x 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=fe80::1%averyveryverylongzone 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=1.2.3.4%eth0 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=\xff\xfe 1 2 3\0"), NULL},
        {ENV("SSH_CONNECTION=1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb 1\0"), NULL},
        /* an invalid SSH_CONNECTION falls back to SSH_CLIENT */
        {ENV("SSH_CONNECTION=junk\0SSH_CLIENT=192.0.2.9 1 22\0"), "192.0.2.9"},
        /* the first occurrence counts, as for getenv */
        {ENV("SSH_CONNECTION=junk\0SSH_CONNECTION=192.0.2.7 1 2 3\0"), NULL},
        /* names must match exactly */
        {ENV("XSSH_CONNECTION=192.0.2.7 1 2 3\0SSH_CONNECTIONX=192.0.2.7 1\0"), NULL},
        {ENV("SSH_CONNECTION\0=192.0.2.7 1 2 3\0"), NULL},
        /* unterminated: possibly cut by the read limit ("10.0.0.12" -> "10.0.0.1") */
        {ENV("SSH_CONNECTION=10.0.0.1"), NULL},
        {ENV(""), NULL},
        {ENV("\0\0\0"), NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char addr[KURA_PROC_ADDR_MAX] = "stale";
        bool found = kura_procinfo_parse_ssh_client(cases[i].env, cases[i].len, addr, sizeof addr);
        bool good = cases[i].want ? found && strcmp(addr, cases[i].want) == 0 : !found && !addr[0];
        EXPECT(good);
        if (!good)
            printf("#   case %zu: found=%d addr=\"%s\"\n", i, found, addr);
    }
    /* an address that does not fit the caller's buffer is not cut */
    char small[8];
    EXPECT(!kura_procinfo_parse_ssh_client(ENV("SSH_CLIENT=192.0.2.77 1 22\0"), small, sizeof small));
#undef ENV
}

static void test_valid_ip(void)
{
    EXPECT(kura_procinfo_valid_ip("127.0.0.1"));
    EXPECT(kura_procinfo_valid_ip("::1"));
    EXPECT(kura_procinfo_valid_ip("::ffff:192.0.2.1"));
    EXPECT(kura_procinfo_valid_ip("fe80::1%2"));
    EXPECT(!kura_procinfo_valid_ip(""));
    EXPECT(!kura_procinfo_valid_ip("%eth0"));
    EXPECT(!kura_procinfo_valid_ip("1.2.3.4.5"));
    EXPECT(!kura_procinfo_valid_ip("256.0.0.1"));
    EXPECT(!kura_procinfo_valid_ip("::1%eth0%eth1"));
    EXPECT(!kura_procinfo_valid_ip("0x7f.0.0.1"));
}

static void fake_env(pid_t pid, const char *block, size_t len)
{
    fake_write(pid, "environ", block, len);
}

/* The session process sshd started is believed over what a later process
 * claims; without sshd in the chain the nearest claim is recorded. */
static void test_fake_ssh_client_source(void)
{
    static const char forged[] = "SSH_CONNECTION=203.0.113.66 1 10.0.0.1 22\0";
    static const char session[] = "LANG=C\0SSH_CONNECTION=198.51.100.9 50022 10.0.0.1 22\0";
    fake_reset();
    fake_proc(1, 0, 1, "systemd", "/usr/bin/sleep");
    fake_proc(30, 1, 100, "sshd", "/usr/sbin/sshd");
    fake_proc(40, 30, 300, "sshd-session", "/usr/lib/openssh/sshd-session");
    fake_proc(50, 40, 500, "bash", "/usr/bin/bash");
    fake_proc(100, 50, 900, "cat", "/usr/bin/cat");
    fake_env(50, session, sizeof session - 1);
    fake_env(100, forged, sizeof forged - 1);
    struct kura_procinfo *pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->n == 5);
    EXPECT(strcmp(pi->ssh_client, "198.51.100.9") == 0);
    EXPECT(pi->ssh_client_pid == 50 && pi->ssh_client_from_session);
    free(pi);

    /* the session's own value is junk: the nearest valid one, not from sshd */
    fake_env(50, "SSH_CONNECTION=junk\0", 20);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(strcmp(pi->ssh_client, "203.0.113.66") == 0);
    EXPECT(pi->ssh_client_pid == 100 && !pi->ssh_client_from_session);
    free(pi);

    /* no sshd in the chain (tmux, cron, console): the nearest claim */
    fake_session();
    fake_env(50, session, sizeof session - 1);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(strcmp(pi->ssh_client, "198.51.100.9") == 0);
    EXPECT(pi->ssh_client_pid == 50 && !pi->ssh_client_from_session);
    free(pi);

    /* a huge environ: an entry cut by the read limit is not trusted */
    size_t len = KURA_PROC_ENVIRON_READ + 4096;
    char *big = malloc(len);
    ASSERT(big);
    memset(big, 'Z', len);
    memcpy(big, "PAD=", 4);
    big[KURA_PROC_ENVIRON_READ - 40] = '\0';
    memcpy(big + KURA_PROC_ENVIRON_READ - 39, session + 7, sizeof session - 8);
    fake_session();
    fake_env(100, big, len);
    pi = fake_collect(100);
    ASSERT(pi);
    EXPECT(pi->ssh_client[0] == '\0');
    free(pi);
    free(big);
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    if (kura_secmem_init() != 0)
        return 1;
    RUN(test_self);
    RUN(test_child_sleep);
    RUN(test_zombie_then_gone);
    RUN(test_deleted_executable);
    RUN(test_bad_arguments);
    RUN(test_fake_chain);
    RUN(test_fake_loginuid);
    RUN(test_fake_huge_cmdline);
    RUN(test_cmdline_parser);
    RUN(test_maps_parser);
    RUN(test_maps_on_device);
    RUN(test_loader_runs_symlink);
    RUN(test_elf_loader_check);
    RUN(test_fake_missing_files);
    RUN(test_fake_not_regular_files);
    RUN(test_fake_weird_exe_names);
    RUN(test_fake_chain_races);
    RUN(test_fake_guard_sees_ancestor);
    RUN(test_stat_parser);
    RUN(test_status_parser);
    RUN(test_ssh_client_parser);
    RUN(test_valid_ip);
    RUN(test_fake_ssh_client_source);
    RUN(test_fake_cached_chain);
    RUN(test_stale_struct_cleared);
    RUN(test_fake_cache_skips_exiting_and_partial);
    if (fake[0])
        nftw(fake, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return unit_done();
}
