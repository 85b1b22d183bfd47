/* The records' copy to syslog (syslog_copy.h) against a datagram socket of
 * the test's own in place of /dev/log: the format, a daemon that is not
 * there or appears later, one that restarts, a full queue, and the gap
 * said once copies get through again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "kura/syslog_copy.h"
#include "unit.h"

static char dir[] = "/tmp/kura-syslog.XXXXXX";
static char path[64];

/* A syslog daemon's socket at path; -1 if it cannot be made. */
static int daemon_at(const char *p)
{
    unlink(p);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", p);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static void daemon_stop(int fd)
{
    close(fd);
    unlink(path);
}

/* The next message the daemon has, NUL-terminated; "" if none is waiting. */
static const char *next_message(int fd)
{
    static char buf[128 * 1024];
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_delivered_as_glibc_writes_it(void)
{
    int d = daemon_at(path);
    ASSERT(d >= 0);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt-ident", 1000, 100);
    ASSERT(s);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "hello %d", 7) == 0);
    const char *m = next_message(d);
    char mon[4] = "", tail[64] = "";
    int day = 0, h = -1, mi = -1, sec = -1;
    EXPECT(strncmp(m, "<86>", 4) == 0);
    EXPECT(sscanf(m + 4, "%3s %2d %2d:%2d:%2d %63[^\n]", mon, &day, &h, &mi, &sec, tail) == 6);
    EXPECT(strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon) && day >= 1 && day <= 31 && h >= 0 && h < 24);
    char want[64];
    snprintf(want, sizeof want, "kt-ident[%ld]: hello 7", (long)getpid());
    EXPECT(strcmp(tail, want) == 0);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_WARNING, "%s", "second") == 0);
    m = next_message(d);
    EXPECT(strncmp(m, "<84>", 4) == 0 && strstr(m, "]: second"));
    EXPECT(kura_syslog_copy_undelivered(s) == 0);
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

/* The header's pid is asked of the kernel once, and again in a forked
 * child: kurafs opens its log (and its copy) before it detaches. */
static void test_forked_child_names_itself(void)
{
    int d = daemon_at(path);
    ASSERT(d >= 0);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 1000, 100);
    ASSERT(s);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "parent") == 0);
    char want[64];
    snprintf(want, sizeof want, "kt[%ld]: parent", (long)getpid());
    EXPECT_STR_CONTAINS(next_message(d), want);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0)
        _exit(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "child") == 0 ? 0 : 1);
    int status = 0;
    EXPECT(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    snprintf(want, sizeof want, "kt[%ld]: child", (long)child);
    EXPECT_STR_CONTAINS(next_message(d), want);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "parent again") == 0);
    snprintf(want, sizeof want, "kt[%ld]: parent again", (long)getpid());
    EXPECT_STR_CONTAINS(next_message(d), want);
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

static void test_no_daemon_counted_and_not_tried_at_every_copy(void)
{
    unlink(path);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 60 * 1000, 100);
    ASSERT(s);
    char why[KURA_SYSLOG_WHY_MAX] = "";
    EXPECT(kura_syslog_copy_send(s, why, LOG_AUTHPRIV | LOG_INFO, "one") == 1);
    EXPECT_STR_CONTAINS(why, "no syslog daemon takes messages at ");
    EXPECT_STR_CONTAINS(why, path);
    EXPECT(kura_syslog_copy_send(s, why, LOG_AUTHPRIV | LOG_INFO, "two") == -1); /* the same gap */
    /* A daemon now: not tried before a minute has passed, so this copy is
     * lost too, and nothing reaches it. */
    int d = daemon_at(path);
    ASSERT(d >= 0);
    EXPECT(kura_syslog_copy_send(s, why, LOG_AUTHPRIV | LOG_INFO, "three") == -1);
    EXPECT(kura_syslog_copy_undelivered(s) == 3);
    EXPECT(strcmp(next_message(d), "") == 0);
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

static void test_gap_said_when_the_daemon_comes(void)
{
    unlink(path);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 0, 100);
    ASSERT(s);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "lost 1") == 1);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "lost 2") == -1);
    int d = daemon_at(path);
    ASSERT(d >= 0);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "after") == 0);
    const char *m = next_message(d);
    EXPECT(strncmp(m, "<84>", 4) == 0); /* a warning, in the records' facility */
    EXPECT_STR_CONTAINS(m, "kura: 2 audit record copies were not delivered to syslog (no syslog daemon takes "
                           "messages at ");
    EXPECT_STR_CONTAINS(next_message(d), "]: after");
    EXPECT(strcmp(next_message(d), "") == 0);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "later") == 0);
    EXPECT_STR_CONTAINS(next_message(d), "]: later"); /* said once only */
    /* The daemon goes: a new gap, said to the caller again. */
    daemon_stop(d);
    char why[KURA_SYSLOG_WHY_MAX] = "";
    EXPECT(kura_syslog_copy_send(s, why, LOG_AUTHPRIV | LOG_INFO, "gone") == 1);
    EXPECT_STR_CONTAINS(why, "no syslog daemon");
    EXPECT(kura_syslog_copy_undelivered(s) == 3);
    kura_syslog_copy_free(s);
}

static void test_restarted_daemon_reached_at_once(void)
{
    int d = daemon_at(path);
    ASSERT(d >= 0);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 60 * 1000, 100);
    ASSERT(s);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "before") == 0);
    daemon_stop(d);
    d = daemon_at(path);
    ASSERT(d >= 0);
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "after restart") == 0);
    EXPECT_STR_CONTAINS(next_message(d), "]: after restart");
    EXPECT(kura_syslog_copy_undelivered(s) == 0);
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

static void test_full_queue_waited_for_briefly(void)
{
    int d = daemon_at(path);
    ASSERT(d >= 0);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 1000, 20);
    ASSERT(s);
    static char big[60000];
    memset(big, 'x', sizeof big - 1);
    char why[KURA_SYSLOG_WHY_MAX] = "";
    int rc = 0, sent = 0;
    while (rc == 0 && sent < 10000)
        if ((rc = kura_syslog_copy_send(s, why, LOG_AUTHPRIV | LOG_INFO, "%s", big)) == 0)
            sent++;
    ASSERT(rc == 1);
    EXPECT(sent >= 1);
    EXPECT_STR_CONTAINS(why, "the syslog daemon's queue stayed full for 20 ms");
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "%s", big) == -1);
    EXPECT(kura_syslog_copy_undelivered(s) == 2);
    for (int i = 0; i < sent; i++)
        EXPECT_STR_CONTAINS(next_message(d), "xxxx");
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "drained") == 0);
    EXPECT_STR_CONTAINS(next_message(d), "kura: 2 audit record copies were not delivered to syslog (the syslog "
                                         "daemon's queue stayed full for 20 ms)");
    EXPECT_STR_CONTAINS(next_message(d), "]: drained");
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

static void test_long_message_cut_to_one_datagram(void)
{
    int d = daemon_at(path);
    ASSERT(d >= 0);
    int big = 256 * 1024;
    ASSERT(setsockopt(d, SOL_SOCKET, SO_RCVBUF, &big, sizeof big) == 0);
    struct kura_syslog_copy *s = kura_syslog_copy_new(path, "kt", 1000, 100);
    char *text = malloc(100 * 1024);
    ASSERT(s && text);
    memset(text, 'y', 100 * 1024 - 1);
    text[100 * 1024 - 1] = '\0';
    EXPECT(kura_syslog_copy_send(s, NULL, LOG_AUTHPRIV | LOG_INFO, "%s", text) == 0);
    const char *m = next_message(d);
    EXPECT(strlen(m) == 64 * 1024 - 1 && m[strlen(m) - 1] == 'y');
    free(text);
    kura_syslog_copy_free(s);
    daemon_stop(d);
}

static void test_none(void)
{
    EXPECT(kura_syslog_copy_send(NULL, NULL, LOG_AUTHPRIV | LOG_INFO, "x") == -1);
    EXPECT(kura_syslog_copy_undelivered(NULL) == 0);
    kura_syslog_copy_free(NULL);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/log", dir);
    RUN(test_delivered_as_glibc_writes_it);
    RUN(test_forked_child_names_itself);
    RUN(test_no_daemon_counted_and_not_tried_at_every_copy);
    RUN(test_gap_said_when_the_daemon_comes);
    RUN(test_restarted_daemon_reached_at_once);
    RUN(test_full_queue_waited_for_briefly);
    RUN(test_long_message_cut_to_one_datagram);
    RUN(test_none);
    unlink(path);
    rmdir(dir);
    return unit_done();
}
