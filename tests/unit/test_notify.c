/* notify_command (notify.h): the notice's fields reach the site's program
 * in its environment, one line each. A field may name what a user chose
 * (a guard-burst names the user's own program, its file name any bytes):
 * controls, invisible characters and bytes not UTF-8 arrive escaped, so
 * that a newline cannot forge a mail header or a second syslog line and an
 * escape sequence cannot reach the terminal of whoever reads them. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

int main(void)
{
    strcpy(dir, "/tmp/kura-notify-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_fields_arrive_escaped);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return unit_done();
}
