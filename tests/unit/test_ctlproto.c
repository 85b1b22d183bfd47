/* Control socket: framing bounds, hostile messages, deadlines, flooding and
 * the caller's identity from SO_PEERCRED (roles rest on it: R-ACC-1, R-ACC-5). */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/ctlproto.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[64];
static char sock_path[128];

/* ---- codec ------------------------------------------------------------- */

static void test_roundtrip(void)
{
    char big[KURA_CTL_MAX_ARG + 1];
    memset(big, 'x', KURA_CTL_MAX_ARG);
    big[KURA_CTL_MAX_ARG] = '\0';
    char *argv[] = {"user", "add", "", "JGAD000001", big};
    uint8_t *buf;
    size_t len;
    struct kura_err err = {0};
    ASSERT(kura_ctl_request_encode(KURA_CTL_CONFIRMED, 5, argv, &buf, &len, &err) == 0);
    struct kura_ctl_request req;
    ASSERT(kura_ctl_request_decode(buf + 4, len - 4, &req, &err) == 0);
    EXPECT(req.flags == KURA_CTL_CONFIRMED);
    EXPECT(req.argc == 5);
    for (int i = 0; i < 5 && i < req.argc; i++)
        EXPECT(strcmp(req.argv[i], argv[i]) == 0);
    EXPECT(req.argv[req.argc] == NULL);
    kura_ctl_request_clear(&req);
    free(buf);

    ASSERT(kura_ctl_request_encode(0, 0, NULL, &buf, &len, &err) == 0);
    ASSERT(kura_ctl_request_decode(buf + 4, len - 4, &req, &err) == 0);
    EXPECT(req.argc == 0 && req.argv && req.argv[0] == NULL);
    kura_ctl_request_clear(&req);
    free(buf);
}

static void test_encode_bounds(void)
{
    struct kura_err err = {0};
    uint8_t *buf = NULL;
    size_t len;
    char *many[KURA_CTL_MAX_ARGS + 1];
    for (unsigned i = 0; i <= KURA_CTL_MAX_ARGS; i++)
        many[i] = "a";
    EXPECT(kura_ctl_request_encode(0, KURA_CTL_MAX_ARGS + 1, many, &buf, &len, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too many arguments");
    EXPECT(kura_ctl_request_encode(0, KURA_CTL_MAX_ARGS, many, &buf, &len, &err) == 0);
    free(buf);

    char *toolong = malloc(KURA_CTL_MAX_ARG + 2);
    ASSERT(toolong);
    memset(toolong, 'y', KURA_CTL_MAX_ARG + 1);
    toolong[KURA_CTL_MAX_ARG + 1] = '\0';
    char *one[] = {toolong};
    EXPECT(kura_ctl_request_encode(0, 1, one, &buf, &len, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too long");

    /* 20 arguments of 4 KiB: each fine, together over 64 KiB. */
    toolong[KURA_CTL_MAX_ARG] = '\0';
    char *sum[20];
    for (int i = 0; i < 20; i++)
        sum[i] = toolong;
    EXPECT(kura_ctl_request_encode(0, 20, sum, &buf, &len, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "request is too long");
    free(toolong);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_decode_hostile(void)
{
    struct kura_err err = {0};
    struct kura_ctl_request req;
    char *argv[] = {"dataset", "add", "X"};
    uint8_t *buf;
    size_t len;
    ASSERT(kura_ctl_request_encode(0, 3, argv, &buf, &len, &err) == 0);
    /* Every truncation is refused, never read past. */
    for (size_t cut = 0; cut < len - 4; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf + 4, cut);
        EXPECT(kura_ctl_request_decode(copy, cut, &req, &err) == -1);
        free(copy);
    }
    /* Trailing byte. */
    uint8_t *longer = malloc(len - 4 + 1);
    memcpy(longer, buf + 4, len - 4);
    longer[len - 4] = 0;
    EXPECT(kura_ctl_request_decode(longer, len - 4 + 1, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "trailing");
    free(longer);
    /* Unknown flag. */
    put32(buf + 4, 0x80);
    EXPECT(kura_ctl_request_decode(buf + 4, len - 4, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "unknown flags");
    put32(buf + 4, 0);
    /* NUL inside an argument ("dataset" -> "data\0et"). */
    buf[4 + 8 + 4 + 4] = '\0';
    EXPECT(kura_ctl_request_decode(buf + 4, len - 4, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "NUL");
    free(buf);

    uint8_t small[16] = {0};
    put32(small + 4, KURA_CTL_MAX_ARGS + 1);      /* argc too big */
    EXPECT(kura_ctl_request_decode(small, 8, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too many");
    put32(small + 4, 1);
    put32(small + 8, 0xffffffffu);                /* argument length huge */
    EXPECT(kura_ctl_request_decode(small, 12, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too long");
    put32(small + 8, 100);                        /* longer than what follows */
    EXPECT(kura_ctl_request_decode(small, 16, &req, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "truncated");
}

/* ---- server ------------------------------------------------------------ */

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hcv = PTHREAD_COND_INITIALIZER;
static int blocked, release_blocked;

static int handler(void *ctx, const struct kura_ctl_peer *peer, const struct kura_ctl_request *req,
                   FILE *out, FILE *err)
{
    (void)ctx;
    if (req->argc >= 1 && strcmp(req->argv[0], "block") == 0) {
        pthread_mutex_lock(&hmu);
        blocked++;
        pthread_cond_broadcast(&hcv);
        while (!release_blocked)
            pthread_cond_wait(&hcv, &hmu);
        blocked--;
        pthread_mutex_unlock(&hmu);
        return 0;
    }
    if (req->argc >= 1 && strcmp(req->argv[0], "input") == 0) {
        if (!req->input) {
            fprintf(out, "no input\n");
            return 0;
        }
        unsigned long n = 0, sum = 0;
        int ch;
        while ((ch = getc(req->input)) != EOF) {
            n++;
            sum += (unsigned char)ch;
        }
        fprintf(out, "input n=%lu sum=%lu error=%d\n", n, sum, ferror(req->input) != 0);
        return 0;
    }
    if (req->argc >= 1 && strcmp(req->argv[0], "big") == 0) {
        for (int i = 0; i < 8 << 20; i++)
            putc('b', out);
        return 0;
    }
    if (req->argc >= 1 && strcmp(req->argv[0], "fail") == 0) {
        fprintf(err, "refused: %s\n", req->argc > 1 ? req->argv[1] : "");
        return 1;
    }
    fprintf(out, "uid=%u gid=%u pid=%d flags=%u argc=%d", (unsigned)peer->uid, (unsigned)peer->gid,
            (int)peer->pid, req->flags, req->argc);
    for (int i = 0; i < req->argc; i++)
        fprintf(out, " [%s]", req->argv[i]);
    fprintf(out, "\n");
    return 0;
}

static struct kura_ctl_server *start(const struct kura_ctl_limits *lim)
{
    struct kura_err err = {0};
    struct kura_ctl_server *s = NULL;
    if (kura_ctl_server_start(sock_path, handler, NULL, lim, &s, &err) != 0)
        printf("# start: %s\n", err.msg);
    return s;
}

static void test_server_call(void)
{
    struct kura_ctl_server *s = start(NULL);
    ASSERT(s);
    struct stat st;
    EXPECT(stat(sock_path, &st) == 0 && (st.st_mode & 0777) == 0666);
    struct kura_ctl_response r;
    struct kura_err err = {0};
    char *argv[] = {"status", "with space"};
    ASSERT(kura_ctl_call(sock_path, KURA_CTL_CONFIRMED, 2, argv, NULL, 0, &r, &err) == 0);
    char want[128];
    snprintf(want, sizeof want, "uid=%u gid=%u pid=%d flags=1 argc=2 [status] [with space]\n",
             (unsigned)getuid(), (unsigned)getgid(), (int)getpid());
    EXPECT(r.status == 0);
    EXPECT(strcmp(r.out, want) == 0);
    EXPECT(r.err_len == 0);
    kura_ctl_response_clear(&r);

    char *fargv[] = {"fail", "why"};
    ASSERT(kura_ctl_call(sock_path, 0, 2, fargv, NULL, 0, &r, &err) == 0);
    EXPECT(r.status == 1);
    EXPECT(r.out_len == 0);
    EXPECT(strcmp(r.err, "refused: why\n") == 0);
    kura_ctl_response_clear(&r);

    /* A second server on the same live socket is refused. */
    struct kura_ctl_server *s2 = NULL;
    EXPECT(kura_ctl_server_start(sock_path, handler, NULL, NULL, &s2, &err) == -1);
    EXPECT(err.code == EADDRINUSE);

    kura_ctl_server_stop(s);
    EXPECT(access(sock_path, F_OK) != 0);
    EXPECT(kura_ctl_call(sock_path, 0, 2, argv, NULL, 0, &r, &err) == -1);
    EXPECT(err.code == ENOENT);
}

/* The uid the handler sees is the kernel's, whatever the message says. */
static void test_peer_uid(void)
{
    struct kura_ctl_server *s = start(NULL);
    ASSERT(s);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
            _exit(3);
        char *argv[] = {"uid=0", "--as", "root"};
        struct kura_ctl_response r;
        struct kura_err err = {0};
        if (kura_ctl_call(sock_path, 0, 3, argv, NULL, 0, &r, &err) != 0)
            _exit(4);
        int ok = strncmp(r.out, "uid=65534 gid=65534 ", 20) == 0;
        kura_ctl_response_clear(&r);
        _exit(ok ? 0 : 5);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    kura_ctl_server_stop(s);
}

/* Raw connection: sends bytes, returns the status and error text. */
static int raw_exchange(const void *data, size_t len, bool half_close, char *errtext, size_t errcap)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -100;
    }
    if (len)
        (void)send(fd, data, len, MSG_NOSIGNAL);
    if (half_close)
        shutdown(fd, SHUT_WR);
    uint8_t head[12];
    size_t got = 0;
    while (got < sizeof head) {
        ssize_t n = recv(fd, head + got, sizeof head - got, 0);
        if (n <= 0) {
            close(fd);
            return -101;
        }
        got += (size_t)n;
    }
    uint32_t elen = (uint32_t)head[8] | (uint32_t)head[9] << 8;
    size_t want = elen < errcap - 1 ? elen : errcap - 1;
    got = 0;
    while (got < want) {
        ssize_t n = recv(fd, errtext + got, want - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    errtext[got] = '\0';
    close(fd);
    return (int32_t)((uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
                     (uint32_t)head[3] << 24);
}

static void test_garbage_refused(void)
{
    struct kura_ctl_limits lim = {.timeout_ms = 300};
    struct kura_ctl_server *s = start(&lim);
    ASSERT(s);
    char text[256];
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    EXPECT(raw_exchange(huge, 4, false, text, sizeof text) == 2);
    EXPECT_STR_CONTAINS(text, "too long");

    uint8_t junk[12] = {8, 0, 0, 0, 'g', 'a', 'r', 'b', 'a', 'g', 'e', '!'};
    EXPECT(raw_exchange(junk, sizeof junk, false, text, sizeof text) == 2);
    EXPECT_STR_CONTAINS(text, "bad request");

    /* Declares more than it sends, then closes: no answer needed, and the
     * server goes on serving. */
    uint8_t shortmsg[6] = {100, 0, 0, 0, 1, 2};
    EXPECT(raw_exchange(shortmsg, sizeof shortmsg, true, text, sizeof text) == -101);
    struct kura_ctl_response r;
    struct kura_err err = {0};
    char *argv[] = {"still", "here"};
    EXPECT(kura_ctl_call(sock_path, 0, 2, argv, NULL, 0, &r, &err) == 0 && r.status == 0);
    kura_ctl_response_clear(&r);
    kura_ctl_server_stop(s);
}

/* A caller that sends part of a request and stalls is cut off at the
 * deadline, trickling or not. */
static void test_timeout(void)
{
    struct kura_ctl_limits lim = {.timeout_ms = 300};
    struct kura_ctl_server *s = start(&lim);
    ASSERT(s);
    char text[256];
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    uint8_t part[2] = {20, 0};
    EXPECT(raw_exchange(part, sizeof part, false, text, sizeof text) == 2);
    int64_t took = kura_clock_ms(CLOCK_MONOTONIC) - t0;
    EXPECT(took >= 250 && took < 3000);
    EXPECT_STR_CONTAINS(text, "in time");

    /* Trickle: one byte every 100 ms still ends at the whole-request deadline. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    t0 = kura_clock_ms(CLOCK_MONOTONIC);
    uint8_t frame[4] = {200, 0, 0, 0};
    for (int i = 0; i < 10; i++) {
        uint8_t b = i < 4 ? frame[i] : 0;
        if (send(fd, &b, 1, MSG_NOSIGNAL) != 1)
            break;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    uint8_t head[12];
    ssize_t n = recv(fd, head, sizeof head, MSG_DONTWAIT);
    EXPECT(n == 12 && head[0] == 2);
    EXPECT(kura_clock_ms(CLOCK_MONOTONIC) - t0 < 1500);
    close(fd);
    kura_ctl_server_stop(s);
}

/* The input after a request reaches the handler whole; one it leaves
 * unread does not cost the caller its answer; a bound and a deadline hold. */
static void test_input(void)
{
    struct kura_ctl_limits lim = {.timeout_ms = 300};
    struct kura_ctl_server *s = start(&lim);
    ASSERT(s);
    size_t len = 3u << 20;
    unsigned char *data = malloc(len);
    ASSERT(data);
    unsigned long sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += data[i] = (unsigned char)(i * 7 + 3);
    struct kura_ctl_response r;
    struct kura_err err = {0};
    char *argv[] = {"input"};
    ASSERT(kura_ctl_call(sock_path, 0, 1, argv, data, len, &r, &err) == 0);
    char want[128];
    snprintf(want, sizeof want, "input n=%zu sum=%lu error=0\n", len, sum);
    EXPECT(r.status == 0 && strcmp(r.out, want) == 0);
    kura_ctl_response_clear(&r);
    ASSERT(kura_ctl_call(sock_path, 0, 1, argv, "", 0, &r, &err) == 0);
    EXPECT(strcmp(r.out, "input n=0 sum=0 error=0\n") == 0);
    kura_ctl_response_clear(&r);
    ASSERT(kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) == 0);
    EXPECT(strcmp(r.out, "no input\n") == 0);
    kura_ctl_response_clear(&r);
    char *hello[] = {"hello"};
    ASSERT(kura_ctl_call(sock_path, 0, 1, hello, data, len, &r, &err) == 0);
    EXPECT(r.status == 0 && strncmp(r.out, "uid=", 4) == 0 && strstr(r.out, "flags=2 argc=1 [hello]"));
    kura_ctl_response_clear(&r);
    free(data);
    EXPECT(kura_ctl_call(sock_path, 0, 1, argv, "x", KURA_CTL_MAX_INPUT + 1u, &r, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "too long");

    /* Announced and not sent: the handler's read fails at the deadline. */
    uint8_t frame[4 + 8 + 4 + 5 + 4 + 3] = {0};
    frame[0] = 8 + 4 + 5;
    frame[4] = KURA_CTL_INPUT;
    frame[8] = 1;
    frame[12] = 5;
    memcpy(frame + 16, "input", 5);
    frame[21] = 100;                              /* 100 bytes announced, 3 sent */
    memcpy(frame + 25, "abc", 3);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    EXPECT(send(fd, frame, sizeof frame, MSG_NOSIGNAL) == (ssize_t)sizeof frame);
    char answer[128] = {0};
    size_t got = 0;
    ssize_t n;
    while (got < sizeof answer - 1 && (n = recv(fd, answer + got, sizeof answer - 1 - got, 0)) > 0)
        got += (size_t)n;
    int64_t took = kura_clock_ms(CLOCK_MONOTONIC) - t0;
    EXPECT(got > 12 && strstr(answer + 12, "input n=3 sum=294 error=1"));
    EXPECT(took >= 250 && took < 3000);
    close(fd);

    /* More than the bound announced: refused before any is read. */
    uint8_t over[4 + 8 + 4 + 5 + 4];
    memcpy(over, frame, 21);
    over[21] = 0, over[22] = 0, over[23] = 0, over[24] = 0x10;   /* 256 MiB */
    char text[256];
    EXPECT(raw_exchange(over, sizeof over, false, text, sizeof text) == 2);
    EXPECT_STR_CONTAINS(text, "input is too long");
    kura_ctl_server_stop(s);
}

/* A caller that takes its answer a trickle at a time loses it at the
 * deadline: it cannot hold a worker (and the server's stop) longer. */
static void test_slow_reader(void)
{
    struct kura_ctl_limits lim = {.timeout_ms = 300};
    struct kura_ctl_server *s = start(&lim);
    ASSERT(s);
    uint8_t *msg;
    size_t len;
    struct kura_err err = {0};
    char *argv[] = {"big"};
    ASSERT(kura_ctl_request_encode(0, 1, argv, &msg, &len, &err) == 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    ASSERT(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    EXPECT(send(fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len);
    free(msg);
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    size_t total = 0;
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0 || kura_clock_ms(CLOCK_MONOTONIC) - t0 > 20000)
            break;
        total += (size_t)n;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    int64_t took = kura_clock_ms(CLOCK_MONOTONIC) - t0;
    EXPECT(total < (8u << 20));
    EXPECT(took < 5000);
    close(fd);
    kura_ctl_server_stop(s);
}

struct caller {
    pthread_t t;
    char *arg;
    int status;
};

/* A call made once the server has let go of earlier ones: a caller gets
 * its answer before the server's thread releases the slot, so a call right
 * after another may still find the slot taken ("busy"), for a moment. */
static int call_when_free(char **argv, struct kura_ctl_response *r)
{
    struct kura_err err = {0};
    for (int i = 0; i < 500; i++) {
        if (kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, r, &err) != 0)
            return -1;
        if (r->status != 1 || !r->err || !strstr(r->err, "busy"))
            return 0;
        kura_ctl_response_clear(r);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void *call_thread(void *arg)
{
    struct caller *c = arg;
    char *argv[] = {c->arg};
    struct kura_ctl_response r;
    c->status = call_when_free(argv, &r) == 0 ? r.status : -1;
    if (c->status >= 0)
        kura_ctl_response_clear(&r);
    return NULL;
}

static void wait_blocked(int n)
{
    pthread_mutex_lock(&hmu);
    while (blocked < n)
        pthread_cond_wait(&hcv, &hmu);
    pthread_mutex_unlock(&hmu);
}

/* More callers than the server serves at once: the excess is refused at
 * once with a clear message, and serving resumes when slots free up. */
/* A caller with uid and gid uid, and group group besides (0: none), calls
 * "hello": 0 if it was served as itself, 1 if told the daemon is busy. */
static int call_as(uid_t uid, gid_t group)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        gid_t groups[1] = {group};
        if (setgroups(group ? 1 : 0, groups) != 0 || setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
            _exit(3);
        struct kura_ctl_response r;
        struct kura_err err = {0};
        char *argv[] = {"hello"};
        char want[32];
        snprintf(want, sizeof want, "uid=%u ", (unsigned)uid);
        if (kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) != 0)
            _exit(4);
        _exit(r.status == 0 && strncmp(r.out, want, strlen(want)) == 0 ? 0
              : r.status == 1 && strstr(r.err, "busy")                ? 1
                                                                       : 5);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_flood_refused(void)
{
    struct kura_ctl_limits lim = {.max_conn = 3, .max_conn_per_uid = 2, .has_staff_gid = true, .staff_gid = 4242};
    struct kura_ctl_server *s = start(&lim);
    ASSERT(s);
    release_blocked = 0;
    struct caller c[2] = {{.arg = "block"}, {.arg = "block"}};
    for (int i = 0; i < 2; i++)
        pthread_create(&c[i].t, NULL, call_thread, &c[i]);
    wait_blocked(2);

    /* Same uid, over its share. */
    struct kura_ctl_response r;
    struct kura_err err = {0};
    char *argv[] = {"hello"};
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    ASSERT(kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) == 0);
    EXPECT(r.status == 1);
    EXPECT_STR_CONTAINS(r.err, "busy");
    EXPECT(kura_clock_ms(CLOCK_MONOTONIC) - t0 < 1000);
    kura_ctl_response_clear(&r);

    /* Another uid still gets its turn. */
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0)
            _exit(3);
        if (kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) != 0)
            _exit(4);
        _exit(r.status == 0 && strncmp(r.out, "uid=65534", 9) == 0 ? 0 : 5);
    }
    int st;
    waitpid(pid, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    pthread_mutex_lock(&hmu);
    release_blocked = 1;
    pthread_cond_broadcast(&hcv);
    pthread_mutex_unlock(&hmu);
    for (int i = 0; i < 2; i++) {
        pthread_join(c[i].t, NULL);
        EXPECT(c[i].status == 0);
    }
    ASSERT(call_when_free(argv, &r) == 0);
    EXPECT(r.status == 0);
    kura_ctl_response_clear(&r);

    /* The total bound: 3 blocked callers of 3 uids fill the server for
     * a fourth; root, with slots of its own, is still served. */
    release_blocked = 0;
    pid_t holders[3];
    for (int i = 0; i < 3; i++) {
        holders[i] = fork();
        ASSERT(holders[i] >= 0);
        if (holders[i] == 0) {
            if (setresuid(65534 - i, 65534 - i, 65534 - i) != 0)
                _exit(3);
            char *bargv[] = {"block"};
            _exit(kura_ctl_call(sock_path, 0, 1, bargv, NULL, 0, &r, &err) == 0 && r.status == 0 ? 0 : 6);
        }
        wait_blocked(i + 1);
    }
    pid_t pid2 = fork();
    ASSERT(pid2 >= 0);
    if (pid2 == 0) {
        if (setresuid(65531, 65531, 65531) != 0)
            _exit(3);
        if (kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) != 0)
            _exit(4);
        _exit(r.status == 1 && strstr(r.err, "busy") ? 0 : 5);
    }
    waitpid(pid2, &st, 0);
    EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    ASSERT(getuid() == 0);
    EXPECT(kura_ctl_call(sock_path, 0, 1, argv, NULL, 0, &r, &err) == 0 && r.status == 0 &&
           strncmp(r.out, "uid=0 ", 6) == 0);
    kura_ctl_response_clear(&r);
    /* The staff group's members (as a supplementary group, or the
     * primary) have slots of their own too; others are still turned away. */
    EXPECT(call_as(65530, 4242) == 0);
    EXPECT(call_as(4242, 0) == 0);
    EXPECT(call_as(65529, 4243) == 1);
    pthread_mutex_lock(&hmu);
    release_blocked = 1;
    pthread_cond_broadcast(&hcv);
    pthread_mutex_unlock(&hmu);
    for (int i = 0; i < 3; i++) {
        waitpid(holders[i], &st, 0);
        EXPECT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    kura_ctl_server_stop(s);
}

static void test_stale_and_foreign_files(void)
{
    /* A stale socket (nobody listening) is replaced. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    close(fd);
    struct kura_ctl_server *s = start(NULL);
    EXPECT(s != NULL);
    kura_ctl_server_stop(s);

    /* A regular file is never removed. */
    FILE *f = fopen(sock_path, "w");
    ASSERT(f);
    fclose(f);
    struct kura_err err = {0};
    EXPECT(kura_ctl_server_start(sock_path, handler, NULL, NULL, &s, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "not a socket");
    EXPECT(access(sock_path, F_OK) == 0);
    unlink(sock_path);

    /* Path too long for sun_path. */
    char longp[200];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    EXPECT(kura_ctl_server_start(longp, handler, NULL, NULL, &s, &err) == -1);
    EXPECT(err.code == ENAMETOOLONG);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    strcpy(tmpdir, "/tmp/kura-ctl-XXXXXX");
    if (!mkdtemp(tmpdir) || chmod(tmpdir, 0755) != 0)
        return 1;
    snprintf(sock_path, sizeof sock_path, "%s/run/ctl.sock", tmpdir);
    RUN(test_roundtrip);
    RUN(test_encode_bounds);
    RUN(test_decode_hostile);
    RUN(test_server_call);
    RUN(test_peer_uid);
    RUN(test_garbage_refused);
    RUN(test_timeout);
    RUN(test_input);
    RUN(test_slow_reader);
    RUN(test_flood_refused);
    RUN(test_stale_and_foreign_files);
    char rundir[160];
    snprintf(rundir, sizeof rundir, "%s/run", tmpdir);
    rmdir(rundir);
    rmdir(tmpdir);
    return unit_done();
}
