/* notify_command (notify.h): the notice's fields reach the site's program
 * in its environment, one line each. A field may name what a user chose
 * (a guard-burst names the user's own program, its file name any bytes):
 * controls, invisible characters and bytes not UTF-8 arrive escaped, so
 * that a newline cannot forge a mail header or a second syslog line and an
 * escape sequence cannot reach the terminal of whoever reads them. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "kura/config.h"
#include "kura/fsutil.h"
#include "kura/notify.h"
#include "unit.h"

static char dir[64];

static char *run_notice(const struct kura_notice *n)
{
    char script[128], out[128], text[512];
    snprintf(script, sizeof script, "%s/notify.sh", dir);
    snprintf(out, sizeof out, "%s/env.txt", dir);
    unlink(out);
    FILE *f = fopen(script, "w");
    if (!f)
        return NULL;
    fprintf(f, "#!/bin/sh\nprintf '%%s|%%s|%%s' \"$KURA_MESSAGE\" \"$KURA_REASON\" \"$KURA_USERS\" >%s\n", out);
    fclose(f);
    chmod(script, 0700);
    struct kura_config cfg = {.notify_command = script};
    struct kura_err e = {0};
    if (kura_notify(&cfg, n, 5000, &e) != 0)
        return NULL;
    char *data = NULL;
    if (kura_read_file(out, 1 << 16, &data, NULL, &e) != 0)
        return NULL;
    snprintf(text, sizeof text, "%s", data);
    free(data);
    return strdup(text);
}

static void test_fields_arrive_escaped(void)
{
    struct kura_notice n = {.event = "guard-burst", .dataset = "DS1", .users = "alice", .time = 1,
                            .message = "more than 20 guard refusals in an hour, the last of /home/a/x\x1b[2J\n"
                                       "Subject: all is well",
                            .reason = "r\xe2\x80\xae" "gpj\xff"};
    char *got = run_notice(&n);
    ASSERT(got);
    EXPECT(!strchr(got, '\x1b') && !strchr(got, '\n') && !strstr(got, "\xe2\x80\xae") && !strchr(got, '\xff'));
    EXPECT_STR_CONTAINS(got, "the last of /home/a/x\\x1b[2J\\x0aSubject: all is well|");
    EXPECT_STR_CONTAINS(got, "|r\\u202egpj\\xff|alice");
    free(got);
    /* Kura's own text, and checked text, as it is. */
    struct kura_notice plain = {.event = "lockdown", .time = 1, .message = "the server is locked down: 鍵",
                                .reason = "breach-7", .users = "a,b"};
    got = run_notice(&plain);
    ASSERT(got);
    EXPECT(strcmp(got, "the server is locked down: 鍵|breach-7|a,b") == 0);
    free(got);
}

/* The line kura_notify sends to syslog, received on a /dev/log of the
 * test's own: a child in a private mount namespace with a tmpfs over /dev
 * (root only). NULL if none came. */
static char *syslog_line(const struct kura_notice *n)
{
    int p[2];
    if (pipe(p) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0)
        return NULL;
    if (pid == 0) {
        close(p[0]);
        char line[2048];
        ssize_t got = -1;
        int s = -1;
        struct sockaddr_un a = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
        struct timeval tv = {5, 0};
        if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
            mount("tmpfs", "/dev", "tmpfs", 0, "size=64k") == 0 &&
            (s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0 &&
            bind(s, (const struct sockaddr *)&a, sizeof a) == 0 &&
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0) {
            closelog(); /* the next syslog() connects to this /dev/log */
            struct kura_config cfg = {.notify_command = NULL};
            kura_notify(&cfg, n, 0, NULL);
            got = recv(s, line, sizeof line, 0);
        }
        _exit(got > 0 && write(p[1], line, (size_t)got) == got ? 0 : 1);
    }
    close(p[1]);
    char buf[2048 + 1];
    ssize_t len = kura_read_full(p[0], buf, sizeof buf - 1);
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    if (len <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return NULL;
    buf[len] = '\0';
    return strdup(buf);
}

/* The syslog line carries the message escaped too: one line, no escape
 * sequence for whoever reads the log on a terminal. */
static void test_syslog_line_escaped(void)
{
    if (geteuid() != 0) {
        printf("# needs root (a mount namespace): not checked\n");
        return;
    }
    struct kura_notice n = {.event = "guard-burst", .dataset = "DS1", .users = "alice", .time = 1,
                            .message = "the last of /home/a/x\x1b[2J\nSubject: all is well \xe2\x80\xae"};
    char *got = syslog_line(&n);
    ASSERT(got);
    EXPECT(!strchr(got, '\x1b') && !strchr(got, '\n') && !strstr(got, "\xe2\x80\xae"));
    EXPECT_STR_CONTAINS(got, "kura: guard-burst dataset=DS1 pi= users=alice: the last of /home/a/x\\x1b[2J\\x0aSubject: "
                             "all is well \\u202e");
    free(got);
}

int main(void)
{
    strcpy(dir, "/tmp/kura-notify-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_fields_arrive_escaped);
    RUN(test_syslog_line_escaped);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return unit_done();
}
