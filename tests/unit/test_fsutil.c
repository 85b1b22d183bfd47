/* State files on disk: atomic replacement, locks, bounded reads, secure
 * destruction (R-REV-1, R-REV-3) and user path validation. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kura/fsutil.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[] = "/tmp/kura-test-fsutil.XXXXXX";

static const char *at(const char *name)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

static char *slurp(const char *path)
{
    char *data = NULL;
    if (kura_read_file(path, 1 << 20, &data, NULL, NULL) != 0)
        return NULL;
    return data;
}

/* Entries in dir whose name starts with prefix. */
static int count_entries(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_atomic_write_replaces_with_exact_mode(void)
{
    const char *p = at("state.ini");
    mode_t old = umask(077);
    ASSERT(kura_write_file_atomic(p, "one\n", 4, 0640, NULL) == 0);
    umask(old);
    char *s = slurp(p);
    EXPECT(s && strcmp(s, "one\n") == 0);
    free(s);
    struct stat st;
    ASSERT(stat(p, &st) == 0);
    EXPECT((st.st_mode & 07777) == 0640);
    ASSERT(kura_write_file_atomic(p, "two\n", 4, 0600, NULL) == 0);
    s = slurp(p);
    EXPECT(s && strcmp(s, "two\n") == 0);
    free(s);
    EXPECT(count_entries(tmpdir, ".state.ini.tmp-") == 0);
}

static void test_atomic_abort_keeps_old_content(void)
{
    const char *p = at("abort.ini");
    ASSERT(kura_write_file_atomic(p, "old", 3, 0644, NULL) == 0);
    struct kura_atomic a;
    ASSERT(kura_atomic_begin(&a, p, 0644, NULL) == 0);
    ASSERT(kura_atomic_write(&a, "new and longer", 14, NULL) == 0);
    kura_atomic_abort(&a); /* a failure before rename */
    char *s = slurp(p);
    EXPECT(s && strcmp(s, "old") == 0);
    free(s);
    EXPECT(count_entries(tmpdir, ".abort.ini.tmp-") == 0);
}

static void test_atomic_crash_before_rename_keeps_old_content(void)
{
    const char *p = at("crash.ini");
    ASSERT(kura_write_file_atomic(p, "old", 3, 0644, NULL) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        struct kura_atomic a;
        if (kura_atomic_begin(&a, p, 0644, NULL) == 0)
            kura_atomic_write(&a, "half", 4, NULL);
        _exit(0); /* dies between write and rename */
    }
    int status;
    waitpid(pid, &status, 0);
    char *s = slurp(p);
    EXPECT(s && strcmp(s, "old") == 0);
    free(s);
    EXPECT(count_entries(tmpdir, ".crash.ini.tmp-") == 1); /* stale, ignored */
    ASSERT(kura_write_file_atomic(p, "new", 3, 0644, NULL) == 0);
    s = slurp(p);
    EXPECT(s && strcmp(s, "new") == 0);
    free(s);
}

static void test_atomic_into_missing_dir_fails(void)
{
    struct kura_err err = {0};
    EXPECT(kura_write_file_atomic(at("nodir/x"), "x", 1, 0644, &err) == -1);
    EXPECT(err.code == ENOENT);
    EXPECT_STR_CONTAINS(err.msg, "nodir/x");
    EXPECT(kura_write_file_atomic(at("dir/"), "x", 1, 0644, &err) == -1);
    EXPECT(err.code == EINVAL);
}

static void test_write_new_refuses_existing(void)
{
    const char *p = at("new.conf");
    ASSERT(kura_write_file_new(p, "first", 5, 0644, NULL) == 0);
    struct kura_err err = {0};
    EXPECT(kura_write_file_new(p, "second", 6, 0644, &err) == -1);
    EXPECT(err.code == EEXIST);
    char *s = slurp(p);
    EXPECT(s && strcmp(s, "first") == 0);
    free(s);
    ASSERT(symlink(p, at("new.link")) == 0);
    EXPECT(kura_write_file_new(at("new.link"), "x", 1, 0644, &err) == -1);
}

/* The mode asked for whatever the umask: kuractl and kurafs may run under
 * 0077 (the unit's UMask), and a public key or report written 0644 is
 * meant for others to read. */
static void test_write_new_exact_mode(void)
{
    mode_t old = umask(077);
    int rc = kura_write_file_new(at("mode.pub"), "key", 3, 0644, NULL);
    umask(old);
    ASSERT(rc == 0);
    struct stat st;
    ASSERT(stat(at("mode.pub"), &st) == 0);
    EXPECT((st.st_mode & 07777) == 0644);
}

/* A failed write removes the half-written file from the directory it was
 * made in. Here the write fails on the file size limit, and the signal
 * that comes with it renames that directory and puts a link to another
 * one in its place, as a user who owns the directory could while root
 * writes a report into it: the file of the same name behind the link
 * stays. */
static const char *swap_from, *swap_aside, *swap_to;
static void swap_dir_for_link(int sig)
{
    (void)sig;
    if (rename(swap_from, swap_aside) != 0 || symlink(swap_to, swap_from) != 0)
        _exit(3);
}

static void test_write_new_failure_removes_in_its_own_directory(void)
{
    ASSERT(mkdir(at("wd"), 0755) == 0 && mkdir(at("vault"), 0700) == 0);
    ASSERT(kura_write_file_new(at("vault/r.md"), "victim", 6, 0600, NULL) == 0);
    swap_from = at("wd");
    swap_aside = strdup(at("wd.old"));
    swap_to = strdup(at("vault"));
    ASSERT(swap_aside && swap_to);
    struct rlimit old, small = {.rlim_cur = 4, .rlim_max = RLIM_INFINITY};
    ASSERT(getrlimit(RLIMIT_FSIZE, &old) == 0);
    small.rlim_max = old.rlim_max;
    struct sigaction sa = {.sa_handler = swap_dir_for_link}, prev;
    ASSERT(sigaction(SIGXFSZ, &sa, &prev) == 0);
    ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
    struct kura_err err = {0};
    int rc = kura_write_file_new(at("wd/r.md"), "report text", 11, 0644, &err);
    ASSERT(setrlimit(RLIMIT_FSIZE, &old) == 0);
    ASSERT(sigaction(SIGXFSZ, &prev, NULL) == 0);
    EXPECT(rc == -1);
    EXPECT(err.code == EFBIG);
    struct stat st;
    EXPECT(lstat(at("wd"), &st) == 0 && S_ISLNK(st.st_mode)); /* the swap happened */
    char *s = slurp(at("vault/r.md"));
    EXPECT(s && strcmp(s, "victim") == 0);
    free(s);
    EXPECT(lstat(at("wd.old/r.md"), &st) == -1 && errno == ENOENT);
    free((char *)swap_aside);
    free((char *)swap_to);
}

/* commit_new: whole or nothing, and never over a file that appeared while
 * the content was written (a symlink included). */
static void test_atomic_commit_new_never_replaces(void)
{
    const char *p = at("out.c4gh");
    struct kura_atomic a;
    ASSERT(kura_atomic_begin(&a, p, 0644, NULL) == 0);
    ASSERT(kura_atomic_write(&a, "made", 4, NULL) == 0);
    ASSERT(kura_atomic_commit_new(&a, NULL) == 0);
    char *s = slurp(p);
    EXPECT(s && strcmp(s, "made") == 0);
    free(s);
    ASSERT(kura_atomic_begin(&a, p, 0644, NULL) == 0);
    ASSERT(kura_atomic_write(&a, "again", 5, NULL) == 0);
    struct kura_err err = {0};
    EXPECT(kura_atomic_commit_new(&a, &err) == -1);
    EXPECT(err.code == EEXIST);
    s = slurp(p);
    EXPECT(s && strcmp(s, "made") == 0);
    free(s);
    const char *q = at("late.c4gh");
    ASSERT(kura_atomic_begin(&a, q, 0644, NULL) == 0);
    ASSERT(kura_atomic_write(&a, "mine", 4, NULL) == 0);
    ASSERT(symlink(at("elsewhere"), q) == 0);   /* appears meanwhile */
    EXPECT(kura_atomic_commit_new(&a, &err) == -1);
    EXPECT(err.code == EEXIST);
    struct stat st;
    EXPECT(lstat(q, &st) == 0 && S_ISLNK(st.st_mode));
    EXPECT(count_entries(tmpdir, ".out.c4gh.tmp-") == 0);
    EXPECT(count_entries(tmpdir, ".late.c4gh.tmp-") == 0);
}

static void test_mkdir_p(void)
{
    mode_t old = umask(077);
    ASSERT(kura_mkdir_p(at("a/b/c/"), 0750, NULL) == 0);
    umask(old);
    struct stat st;
    ASSERT(stat(at("a/b/c"), &st) == 0);
    EXPECT(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750);
    ASSERT(stat(at("a"), &st) == 0);
    EXPECT((st.st_mode & 07777) == 0750);
    EXPECT(kura_mkdir_p(at("a/b/c"), 0700, NULL) == 0); /* exists: fine, untouched */
    ASSERT(stat(at("a/b/c"), &st) == 0);
    EXPECT((st.st_mode & 07777) == 0750);
    EXPECT(kura_mkdir_p(at("a//b2"), 0700, NULL) == 0);
    ASSERT(kura_write_file_atomic(at("a/file"), "x", 1, 0644, NULL) == 0);
    struct kura_err err = {0};
    EXPECT(kura_mkdir_p(at("a/file/sub"), 0700, &err) == -1);
    EXPECT(err.code == ENOTDIR);
    EXPECT(kura_mkdir_p("", 0700, &err) == -1);
}

static void test_lock_excludes_other_process(void)
{
    const char *lp = at("ds.lock");
    int ready[2], go[2];
    ASSERT(pipe(ready) == 0 && pipe(go) == 0);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int fd = kura_lock(lp, -1, NULL);
        char c = fd >= 0 ? 'L' : 'E';
        if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        kura_unlock(fd);
        _exit(0);
    }
    char c = 0;
    ASSERT(read(ready[0], &c, 1) == 1 && c == 'L');
    struct kura_err err = {0};
    EXPECT(kura_lock(lp, 0, &err) == -1);
    EXPECT(err.code == EAGAIN);
    EXPECT(kura_lock(lp, 50, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "held by another");
    ASSERT(write(go[1], "x", 1) == 1);
    int fd = kura_lock(lp, 5000, &err); /* the child lets go */
    EXPECT(fd >= 0);
    kura_unlock(fd);
    int status;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]), close(ready[1]), close(go[0]), close(go[1]);
}

static void test_lock_excludes_second_open_in_same_process(void)
{
    const char *lp = at("same.lock");
    int a = kura_lock(lp, 0, NULL);
    ASSERT(a >= 0);
    EXPECT(kura_lock(lp, 0, NULL) == -1);
    kura_unlock(a);
    int b = kura_lock(lp, 0, NULL);
    EXPECT(b >= 0);
    kura_unlock(b);
    struct stat st;
    ASSERT(stat(lp, &st) == 0);
    EXPECT((st.st_mode & 0777) == 0600);
    struct kura_err err = {0};
    EXPECT(kura_lock(at("nodir/x.lock"), 0, &err) == -1);
    EXPECT(err.code == ENOENT);
}

static void test_lock_fd_not_inherited_by_exec(void)
{
    int fd = kura_lock(at("cloexec.lock"), 0, NULL);
    ASSERT(fd >= 0);
    EXPECT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    kura_unlock(fd);
}

static void test_read_file_bounds(void)
{
    const char *p = at("ten");
    ASSERT(kura_write_file_atomic(p, "0123\0" "56789", 10, 0644, NULL) == 0);
    char *d = NULL;
    size_t len = 0;
    ASSERT(kura_read_file(p, 10, &d, &len, NULL) == 0);
    EXPECT(len == 10 && d[10] == '\0' && memcmp(d, "0123\0" "56789", 10) == 0);
    free(d);
    struct kura_err err = {0};
    EXPECT(kura_read_file(p, 9, &d, &len, &err) == -1);
    EXPECT(err.code == EFBIG && d == NULL);
    EXPECT(kura_read_file(tmpdir, 100, &d, &len, &err) == -1);
    EXPECT(err.code == EINVAL);
    EXPECT(kura_read_file(at("missing"), 100, &d, &len, &err) == -1);
    EXPECT(err.code == ENOENT);
    ASSERT(kura_write_file_atomic(at("empty"), "", 0, 0644, NULL) == 0);
    ASSERT(kura_read_file(at("empty"), 0, &d, &len, NULL) == 0);
    EXPECT(len == 0 && d[0] == '\0');
    free(d);
}

static void test_read_file_growing_source_is_capped(void)
{
    /* /proc files report size 0 and grow while read: the cap still holds. */
    char *d = NULL;
    size_t len = 0;
    struct kura_err err = {0};
    EXPECT(kura_read_file("/proc/self/status", 16, &d, &len, &err) == -1);
    EXPECT(err.code == EFBIG);
    ASSERT(kura_read_file("/proc/self/status", 1 << 16, &d, &len, &err) == 0);
    EXPECT(len > 16 && strlen(d) == len);
    free(d);
}

/* Only a regular file is opened, and with O_NOFOLLOW not through a link
 * (an import's walk below a directory a user can write). A FIFO is refused
 * at once: its open would wait for a writer (the alarm ends a hang). */
static void test_open_regular(void)
{
    ASSERT(kura_write_file_atomic(at("reg"), "12345", 5, 0644, NULL) == 0);
    ASSERT(symlink(at("reg"), at("reg.link")) == 0 && mkfifo(at("fifo"), 0600) == 0);
    ASSERT(symlink("/dev/null", at("dev.link")) == 0);
    struct stat st;
    struct kura_err err = {0};
    int fd = kura_open_regular(at("reg"), 0, &st, &err);
    EXPECT(fd >= 0 && st.st_size == 5);
    if (fd >= 0)
        close(fd);
    fd = kura_open_regular(at("reg.link"), 0, NULL, &err); /* a link named: followed */
    EXPECT(fd >= 0);
    if (fd >= 0)
        close(fd);
    EXPECT(kura_open_regular(at("reg.link"), O_NOFOLLOW, NULL, &err) == -1);
    EXPECT(err.code == ELOOP);
    int dir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT(dir >= 0);
    EXPECT(kura_open_regular_at(dir, "reg.link", "shown", O_NOFOLLOW, NULL, &err) == -1);
    EXPECT(err.code == ELOOP);
    EXPECT_STR_CONTAINS(err.msg, "shown");
    fd = kura_open_regular_at(dir, "reg", "shown", O_NOFOLLOW, &st, &err);
    EXPECT(fd >= 0 && st.st_size == 5);
    if (fd >= 0)
        close(fd);
    close(dir);
    alarm(10);
    EXPECT(kura_open_regular(at("fifo"), 0, NULL, &err) == -1);
    alarm(0);
    EXPECT(err.code == EINVAL);
    EXPECT(kura_open_regular(at("dev.link"), 0, NULL, &err) == -1);
    EXPECT(err.code == EINVAL);
    EXPECT(kura_open_regular(tmpdir, 0, NULL, &err) == -1);
    EXPECT(err.code == EINVAL);
}

static void test_read_secret_file(void)
{
    const char *p = at("secret");
    ASSERT(kura_write_file_atomic(p, "s3cr\0t", 6, 0600, NULL) == 0);
    char *d = NULL;
    size_t len = 0;
    struct kura_err err = {0};
    ASSERT(kura_read_secret_file(p, 6, &d, &len, &err) == 0);
    EXPECT(len == 6 && d[6] == '\0' && memcmp(d, "s3cr\0t", 6) == 0);
    kura_secure_free(d);
    EXPECT(kura_read_secret_file(p, 5, &d, &len, &err) == -1);
    EXPECT(err.code == EFBIG && d == NULL);
    EXPECT(kura_read_secret_file(tmpdir, 100, &d, &len, &err) == -1);
    EXPECT(err.code == EINVAL);
    EXPECT(kura_read_secret_file(at("missing"), 100, &d, &len, &err) == -1);
    EXPECT(err.code == ENOENT);
    /* A file that grows while read is still capped (no reallocation). */
    EXPECT(kura_read_secret_file("/proc/self/status", 16, &d, &len, &err) == -1);
    EXPECT(err.code == EFBIG && d == NULL);
    ASSERT(kura_read_secret_file("/proc/self/status", 1 << 16, &d, &len, &err) == 0);
    EXPECT(len > 16 && strlen(d) == len);
    kura_secure_free(d);
}

static void test_destroy_overwrites_then_unlinks(void)
{
    const char *p = at("key.hdr"), *peek = at("key.peek");
    char secret[100000];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (char)('A' + i % 26);
    ASSERT(kura_write_file_atomic(p, secret, sizeof secret, 0600, NULL) == 0);
    ASSERT(link(p, peek) == 0); /* a second name shows what happened to the blocks */
    ASSERT(kura_destroy_file(p, NULL) == 0);
    EXPECT(access(p, F_OK) == -1 && errno == ENOENT);
    char *d = NULL;
    size_t len = 0;
    ASSERT(kura_read_file(peek, sizeof secret, &d, &len, NULL) == 0);
    EXPECT(len == sizeof secret);
    EXPECT(memcmp(d, secret, sizeof secret) != 0);
    /* Random, not left as zeros: count zero bytes. */
    size_t zeros = 0;
    for (size_t i = 0; i < len; i++)
        zeros += d[i] == 0;
    EXPECT(zeros < len / 16);
    /* No run of the old pattern survives. */
    EXPECT(memmem(d, len, "ABCDEFGH", 8) == NULL);
    free(d);
}

static void test_destroy_refuses_symlink_and_dir(void)
{
    const char *target = at("target"), *lnk = at("link");
    ASSERT(kura_write_file_atomic(target, "keep", 4, 0600, NULL) == 0);
    ASSERT(symlink(target, lnk) == 0);
    struct kura_err err = {0};
    EXPECT(kura_destroy_file(lnk, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "symbolic link");
    char *s = slurp(target);
    EXPECT(s && strcmp(s, "keep") == 0);
    free(s);
    EXPECT(kura_destroy_file(tmpdir, &err) == -1);
    EXPECT(kura_destroy_file(at("absent"), &err) == -1);
    EXPECT(err.code == ENOENT);
}

static void test_destroy_empty_file(void)
{
    ASSERT(kura_write_file_atomic(at("zero"), "", 0, 0600, NULL) == 0);
    EXPECT(kura_destroy_file(at("zero"), NULL) == 0);
    EXPECT(access(at("zero"), F_OK) == -1);
}

static void test_fsync_dir(void)
{
    EXPECT(kura_fsync_dir(tmpdir, NULL) == 0);
    EXPECT(kura_fsync_parent(at("anything"), NULL) == 0);
    struct kura_err err = {0};
    EXPECT(kura_fsync_dir(at("missing"), &err) == -1);
    EXPECT(err.code == ENOENT);
}

int main(void)
{
    kura_secmem_init();
    if (!mkdtemp(tmpdir)) {
        printf("not ok 1 - mkdtemp\n");
        return 1;
    }
    RUN(test_atomic_write_replaces_with_exact_mode);
    RUN(test_atomic_abort_keeps_old_content);
    RUN(test_atomic_crash_before_rename_keeps_old_content);
    RUN(test_atomic_into_missing_dir_fails);
    RUN(test_write_new_refuses_existing);
    RUN(test_write_new_exact_mode);
    RUN(test_write_new_failure_removes_in_its_own_directory);
    RUN(test_atomic_commit_new_never_replaces);
    RUN(test_mkdir_p);
    RUN(test_lock_excludes_other_process);
    RUN(test_lock_excludes_second_open_in_same_process);
    RUN(test_lock_fd_not_inherited_by_exec);
    RUN(test_read_file_bounds);
    RUN(test_read_file_growing_source_is_capped);
    RUN(test_open_regular);
    RUN(test_read_secret_file);
    RUN(test_destroy_overwrites_then_unlinks);
    RUN(test_destroy_refuses_symlink_and_dir);
    RUN(test_destroy_empty_file);
    RUN(test_fsync_dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return unit_done();
}
