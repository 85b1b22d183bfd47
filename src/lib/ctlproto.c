#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kura/clock.h"
#include "kura/ctlproto.h"
#include "kura/endian.h"

/* ---- codec ------------------------------------------------------------- */

int kura_ctl_request_encode(uint32_t flags, int argc, char *const *argv, uint8_t **buf, size_t *len,
                            struct kura_err *err)
{
    if (argc < 0 || (unsigned)argc > KURA_CTL_MAX_ARGS) {
        kura_err_set(err, E2BIG, "too many arguments (at most %u)", KURA_CTL_MAX_ARGS);
        return -1;
    }
    size_t body = 8;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        if (n > KURA_CTL_MAX_ARG) {
            kura_err_set(err, E2BIG, "argument %d is too long (at most %u bytes)", i + 1,
                         KURA_CTL_MAX_ARG);
            return -1;
        }
        body += 4 + n;
    }
    if (body > KURA_CTL_MAX_MSG) {
        kura_err_set(err, E2BIG, "request is too long (at most %u bytes)", KURA_CTL_MAX_MSG);
        return -1;
    }
    uint8_t *b = malloc(4 + body);
    if (!b) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    kura_put_le32(b, (uint32_t)body);
    kura_put_le32(b + 4, flags);
    kura_put_le32(b + 8, (uint32_t)argc);
    size_t off = 12;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        kura_put_le32(b + off, (uint32_t)n);
        memcpy(b + off + 4, argv[i], n);
        off += 4 + n;
    }
    *buf = b;
    *len = off;
    return 0;
}

int kura_ctl_request_decode(const uint8_t *body, size_t len, struct kura_ctl_request *req,
                            struct kura_err *err)
{
    memset(req, 0, sizeof *req);
    if (len > KURA_CTL_MAX_MSG) {
        kura_err_set(err, E2BIG, "request is too long (at most %u bytes)", KURA_CTL_MAX_MSG);
        return -1;
    }
    if (len < 8) {
        kura_err_set(err, EPROTO, "request is truncated");
        return -1;
    }
    uint32_t flags = kura_le32(body), argc = kura_le32(body + 4);
    if (flags & ~KURA_CTL_KNOWN_FLAGS) {
        kura_err_set(err, EPROTO, "request has unknown flags 0x%x", flags);
        return -1;
    }
    if (argc > KURA_CTL_MAX_ARGS) {
        kura_err_set(err, E2BIG, "too many arguments (at most %u)", KURA_CTL_MAX_ARGS);
        return -1;
    }
    /* First pass: check every length, so the allocation below is exact. */
    size_t off = 8, strbytes = 0;
    for (uint32_t i = 0; i < argc; i++) {
        if (len - off < 4) {
            kura_err_set(err, EPROTO, "request is truncated in argument %u", i + 1);
            return -1;
        }
        uint32_t n = kura_le32(body + off);
        off += 4;
        if (n > KURA_CTL_MAX_ARG) {
            kura_err_set(err, E2BIG, "argument %u is too long (at most %u bytes)", i + 1,
                         KURA_CTL_MAX_ARG);
            return -1;
        }
        if (len - off < n) {
            kura_err_set(err, EPROTO, "request is truncated in argument %u", i + 1);
            return -1;
        }
        if (memchr(body + off, '\0', n)) {
            kura_err_set(err, EPROTO, "argument %u contains a NUL byte", i + 1);
            return -1;
        }
        off += n;
        strbytes += n + 1;
    }
    if (off != len) {
        kura_err_set(err, EPROTO, "request has %zu trailing bytes", len - off);
        return -1;
    }
    /* One block: the pointer array, then the strings. */
    size_t ptrs = (argc + 1) * sizeof(char *);
    char **argv = malloc(ptrs + strbytes);
    if (!argv) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    char *s = (char *)argv + ptrs;
    off = 8;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t n = kura_le32(body + off);
        memcpy(s, body + off + 4, n);
        s[n] = '\0';
        argv[i] = s;
        s += n + 1;
        off += 4 + n;
    }
    argv[argc] = NULL;
    req->flags = flags;
    req->argc = (int)argc;
    req->argv = argv;
    return 0;
}

void kura_ctl_request_clear(struct kura_ctl_request *req)
{
    free(req->argv);
    memset(req, 0, sizeof *req);
}

void kura_ctl_response_clear(struct kura_ctl_response *resp)
{
    free(resp->out);
    free(resp->err);
    memset(resp, 0, sizeof *resp);
}

/* ---- socket I/O --------------------------------------------------------- */

/* Waits until fd is ready for events or deadline (monotonic ms; -1 =
 * none) passes: 0, 1 to try again (EINTR), or -1 with errno (ETIMEDOUT). */
static int wait_ready(int fd, short events, int64_t deadline)
{
    if (deadline < 0)
        return 0;
    int64_t left = deadline - kura_clock_ms(CLOCK_MONOTONIC);
    if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = poll(&pfd, 1, (int)left);
    if (r < 0 && errno == EINTR)
        return 1;
    if (r == 0)
        errno = ETIMEDOUT;
    return r > 0 ? 0 : -1;
}

/* Reads exactly n bytes before deadline (monotonic ms; -1 = none).
 * Returns 0, or -1 with errno (ETIMEDOUT, ECONNRESET for early EOF, ...). */
static int read_full(int fd, void *buf, size_t n, int64_t deadline)
{
    uint8_t *p = buf;
    while (n > 0) {
        int w = wait_ready(fd, POLLIN, deadline);
        if (w < 0)
            return -1;
        if (w > 0)
            continue;
        ssize_t got = recv(fd, p, n, deadline >= 0 ? MSG_DONTWAIT : 0);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0)
            return -1;
        if (got == 0) {
            errno = ECONNRESET;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* Writes all n bytes before deadline (as read_full). */
static int write_full(int fd, const void *buf, size_t n, int64_t deadline)
{
    const uint8_t *p = buf;
    while (n > 0) {
        int w = wait_ready(fd, POLLOUT, deadline);
        if (w < 0)
            return -1;
        if (w > 0)
            continue;
        ssize_t put = send(fd, p, n, MSG_NOSIGNAL | (deadline >= 0 ? MSG_DONTWAIT : 0));
        if (put < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (put < 0)
            return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

/* The whole answer before deadline: a caller that stops reading cannot
 * hold a worker (or the accepting thread) longer. */
static int send_response(int fd, int status, const char *out, size_t out_len, const char *errtext,
                         size_t err_len, int64_t deadline)
{
    uint8_t head[12];
    kura_put_le32(head, (uint32_t)status);
    kura_put_le32(head + 4, (uint32_t)out_len);
    kura_put_le32(head + 8, (uint32_t)err_len);
    if (write_full(fd, head, sizeof head, deadline) != 0)
        return -1;
    if (out_len && write_full(fd, out, out_len, deadline) != 0)
        return -1;
    if (err_len && write_full(fd, errtext, err_len, deadline) != 0)
        return -1;
    return 0;
}

static int fill_sockaddr(const char *path, struct sockaddr_un *sa, struct kura_err *err)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path) {
        kura_err_set(err, ENAMETOOLONG, "socket path %s is too long (at most %zu bytes)", path,
                     sizeof sa->sun_path - 1);
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

/* ---- client ------------------------------------------------------------ */

int kura_ctl_call(const char *socket_path, uint32_t flags, int argc, char *const *argv, const void *input,
                  size_t input_len, struct kura_ctl_response *resp, struct kura_err *err)
{
    memset(resp, 0, sizeof *resp);
    struct sockaddr_un sa;
    if (fill_sockaddr(socket_path, &sa, err) != 0)
        return -1;
    if (input && input_len > KURA_CTL_MAX_INPUT) {
        kura_err_set(err, E2BIG, "the input is too long (at most %u bytes)", KURA_CTL_MAX_INPUT);
        return -1;
    }
    uint8_t *msg;
    size_t msg_len;
    if (kura_ctl_request_encode(flags | (input ? KURA_CTL_INPUT : 0), argc, argv, &msg, &msg_len, err) != 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        kura_err_set(err, errno, "socket: %s", strerror(errno));
        free(msg);
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        kura_err_set(err, errno, "connect %s: %s", socket_path, strerror(errno));
        free(msg);
        close(fd);
        return -1;
    }
    /* A refused request may be answered before it is read whole: a failed
     * send is not final, the response says why. */
    uint8_t input_head[4];
    kura_put_le32(input_head, (uint32_t)input_len);
    if (write_full(fd, msg, msg_len, -1) == 0 && input && write_full(fd, input_head, sizeof input_head, -1) == 0)
        (void)write_full(fd, input, input_len, -1);
    free(msg);
    uint8_t head[12];
    if (read_full(fd, head, sizeof head, -1) != 0) {
        kura_err_set(err, errno == ECONNRESET ? EPROTO : errno,
                     "kura daemon closed the connection without an answer");
        close(fd);
        return -1;
    }
    uint32_t out_len = kura_le32(head + 4), err_len = kura_le32(head + 8);
    if (out_len > KURA_CTL_MAX_OUTPUT || err_len > KURA_CTL_MAX_OUTPUT) {
        kura_err_set(err, EPROTO, "kura daemon sent an oversized answer");
        close(fd);
        return -1;
    }
    resp->status = (int32_t)kura_le32(head);
    resp->out = malloc((size_t)out_len + 1);
    resp->err = malloc((size_t)err_len + 1);
    if (!resp->out || !resp->err) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if (read_full(fd, resp->out, out_len, -1) != 0 || read_full(fd, resp->err, err_len, -1) != 0) {
        kura_err_set(err, EPROTO, "kura daemon's answer is truncated");
        goto fail;
    }
    resp->out[out_len] = '\0';
    resp->err[err_len] = '\0';
    resp->out_len = out_len;
    resp->err_len = err_len;
    close(fd);
    return 0;
fail:
    kura_ctl_response_clear(resp);
    close(fd);
    return -1;
}

/* ---- server ------------------------------------------------------------ */

struct uid_slot {
    uid_t uid;
    int n;
};

struct kura_ctl_server {
    int listen_fd;
    int wake[2];                /* stop: a byte on wake[1] ends the accept loop */
    pthread_t thread;
    kura_ctl_handler handler;
    void *ctx;
    struct kura_ctl_limits lim;
    char *path;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    int active;                 /* requests being served, all pools */
    int root_active;            /* root's, outside lim.max_conn (its own max_conn_per_uid) */
    int staff_active;           /* the staff group's, the same */
    struct uid_slot *slots;     /* lim.max_conn entries; n == 0 is free */
};

/* Where a request's slot came from. */
enum pool { POOL_ROOT, POOL_STAFF, POOL_USERS };

struct conn {
    struct kura_ctl_server *s;
    int fd;
    struct kura_ctl_peer peer;
    enum pool pool;
};

/* Takes a slot for uid (staff: in the staff group), saying from which
 * pool, or returns false when the server is full. Root has slots of its
 * own, and so have the staff together: however many requests users keep
 * open, root's (a reload, a revocation through the daemon) and an
 * operator's are served. */
static bool admit(struct kura_ctl_server *s, uid_t uid, bool staff, enum pool *pool)
{
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    if (uid == 0) {
        ok = s->root_active < s->lim.max_conn_per_uid;
        s->root_active += ok;
        s->active += ok;
        *pool = POOL_ROOT;
    } else if (staff && s->staff_active < s->lim.max_conn_per_uid) {
        s->staff_active++;
        s->active++;
        ok = true;
        *pool = POOL_STAFF;
    } else if (s->active - s->root_active - s->staff_active < s->lim.max_conn) {
        *pool = POOL_USERS;
        struct uid_slot *mine = NULL, *free_slot = NULL;
        for (int i = 0; i < s->lim.max_conn; i++) {
            if (s->slots[i].n > 0 && s->slots[i].uid == uid)
                mine = &s->slots[i];
            else if (s->slots[i].n == 0 && !free_slot)
                free_slot = &s->slots[i];
        }
        if (!mine && free_slot) {
            mine = free_slot;
            mine->uid = uid;
        }
        if (mine && mine->n < s->lim.max_conn_per_uid) {
            mine->n++;
            s->active++;
            ok = true;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* Whether the peer on fd (primary group gid) is in the staff group, by the
 * groups the kernel recorded at its connect. */
static bool in_staff(const struct kura_ctl_server *s, int fd, gid_t gid)
{
    if (!s->lim.has_staff_gid)
        return false;
    if (gid == s->lim.staff_gid)
        return true;
    gid_t few[64], *groups = few;
    socklen_t len = sizeof few;
    int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    if (rc != 0 && errno == ERANGE && (groups = malloc(len)))   /* len: what they need */
        rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len);
    bool found = false;
    for (size_t i = 0; rc == 0 && i < len / sizeof *groups; i++)
        found |= groups[i] == s->lim.staff_gid;
    if (groups != few)
        free(groups);
    return found;
}

static void release(struct kura_ctl_server *s, uid_t uid, enum pool pool)
{
    pthread_mutex_lock(&s->mu);
    s->root_active -= pool == POOL_ROOT;
    s->staff_active -= pool == POOL_STAFF;
    for (int i = 0; pool == POOL_USERS && i < s->lim.max_conn; i++) {
        if (s->slots[i].n > 0 && s->slots[i].uid == uid) {
            s->slots[i].n--;
            break;
        }
    }
    s->active--;
    pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->mu);
}

/* Answers without reading the request: drop what already arrived (so the
 * close does not reset the connection under the answer; at most a
 * request's worth, so that a caller that keeps sending cannot keep the
 * accepting thread here), reply within 200 ms, close. */
static void refuse_now(int fd, int status, const char *msg)
{
    uint8_t sink[4096];
    for (size_t dropped = 0; dropped <= KURA_CTL_MAX_MSG && recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0;
         dropped += sizeof sink)
        ;
    (void)send_response(fd, status, NULL, 0, msg, strlen(msg), kura_clock_ms(CLOCK_MONOTONIC) + 200);
    close(fd);
}

/* The input after a request, as the handler reads it: from the socket,
 * at most its announced length, before its deadline. */
struct input_stream {
    int fd;
    uint32_t left;
    int64_t deadline;
};

static ssize_t input_read(void *cookie, char *buf, size_t size)
{
    struct input_stream *in = cookie;
    size_t want = size < in->left ? size : in->left;
    while (want > 0) {
        int w = wait_ready(in->fd, POLLIN, in->deadline);
        if (w < 0)
            return -1;
        if (w > 0)
            continue;
        ssize_t got = recv(in->fd, buf, want, MSG_DONTWAIT);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0) {
            errno = got == 0 ? ECONNRESET : errno;
            return -1;
        }
        in->left -= (uint32_t)got;
        return got;
    }
    return 0;
}


static void serve_request(struct conn *c)
{
    struct kura_ctl_server *s = c->s;
    struct kura_err err = {0};
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + s->lim.timeout_ms;
    uint8_t head[4];
    if (read_full(c->fd, head, sizeof head, deadline) != 0) {
        if (errno == ETIMEDOUT)
            refuse_now(c->fd, 2, "kura: request not received in time\n");
        else
            close(c->fd);
        return;
    }
    uint32_t body_len = kura_le32(head);
    if (body_len > KURA_CTL_MAX_MSG) {
        refuse_now(c->fd, 2, "kura: request is too long\n");
        return;
    }
    uint8_t *body = malloc(body_len ? body_len : 1);
    if (!body) {
        refuse_now(c->fd, 1, "kura: daemon out of memory\n");
        return;
    }
    if (read_full(c->fd, body, body_len, deadline) != 0) {
        free(body);
        if (errno == ETIMEDOUT)
            refuse_now(c->fd, 2, "kura: request not received in time\n");
        else
            close(c->fd);
        return;
    }
    struct kura_ctl_request req;
    int rc = kura_ctl_request_decode(body, body_len, &req, &err);
    free(body);
    if (rc != 0) {
        char line[600];
        snprintf(line, sizeof line, "kura: bad request: %s\n", err.msg);
        refuse_now(c->fd, 2, line);
        return;
    }
    /* The input has a deadline of its own, from the request's end. */
    struct input_stream input = {.fd = c->fd, .deadline = kura_clock_ms(CLOCK_MONOTONIC) + s->lim.timeout_ms};
    if (req.flags & KURA_CTL_INPUT) {
        uint8_t len[4];
        if (read_full(c->fd, len, sizeof len, input.deadline) != 0) {
            kura_ctl_request_clear(&req);
            refuse_now(c->fd, 2, "kura: request not received in time\n");
            return;
        }
        input.left = kura_le32(len);
        if (input.left > KURA_CTL_MAX_INPUT) {
            kura_ctl_request_clear(&req);
            refuse_now(c->fd, 2, "kura: the request's input is too long\n");
            return;
        }
        req.input = fopencookie(&input, "r", (cookie_io_functions_t){.read = input_read});
    }

    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen);
    FILE *errf = open_memstream(&ebuf, &elen);
    int status;
    if (!out || !errf || ((req.flags & KURA_CTL_INPUT) && !req.input)) {
        if (out)
            fclose(out);
        if (errf)
            fclose(errf);
        if (req.input)
            fclose(req.input);
        free(obuf);
        free(ebuf);
        kura_ctl_request_clear(&req);
        refuse_now(c->fd, 1, "kura: daemon out of memory\n");
        return;
    }
    status = s->handler(s->ctx, &c->peer, &req, out, errf);
    /* Input left unread is dropped with the connection; the answer
     * already queued to the caller still reaches it (a Unix socket). */
    if (req.input)
        fclose(req.input);
    kura_ctl_request_clear(&req);
    fclose(out);
    fclose(errf);
    static const char cut_msg[] = "kura: output cut at the size limit; narrow the request\n";
    if (olen > KURA_CTL_MAX_OUTPUT || elen > KURA_CTL_MAX_OUTPUT) {
        olen = olen > KURA_CTL_MAX_OUTPUT ? KURA_CTL_MAX_OUTPUT : olen;
        free(ebuf);
        ebuf = strdup(cut_msg);
        elen = ebuf ? strlen(ebuf) : 0;
        status = status ? status : 1;
    }
    (void)send_response(c->fd, status, obuf, olen, ebuf, elen, kura_clock_ms(CLOCK_MONOTONIC) + s->lim.timeout_ms);
    free(obuf);
    free(ebuf);
    close(c->fd);
}

static void *worker(void *arg)
{
    struct conn *c = arg;
    struct kura_ctl_server *s = c->s;
    uid_t uid = c->peer.uid;
    enum pool pool = c->pool;
    serve_request(c);
    free(c);
    release(s, uid, pool);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct kura_ctl_server *s = arg;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = s->listen_fd, .events = POLLIN},
                                {.fd = s->wake[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[1].revents)
            break;
        if (!(pfd[0].revents & POLLIN))
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;   /* EMFILE, ECONNABORTED, ...: the next connection may work */
        struct ucred cred;
        socklen_t clen = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof cred) {
            close(fd);
            continue;
        }
        enum pool pool;
        if (!admit(s, cred.uid, cred.uid != 0 && in_staff(s, fd, cred.gid), &pool)) {
            refuse_now(fd, 1, "kura daemon is busy (too many requests at once); try again in a moment\n");
            continue;
        }
        struct conn *c = malloc(sizeof *c);
        pthread_t t;
        pthread_attr_t attr;
        int started = 0;
        if (c) {
            *c = (struct conn){.s = s, .fd = fd, .pool = pool,
                               .peer = {.uid = cred.uid, .gid = cred.gid, .pid = cred.pid}};
            pthread_attr_init(&attr);
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            started = pthread_create(&t, &attr, worker, c) == 0;
            pthread_attr_destroy(&attr);
        }
        if (!started) {
            free(c);
            release(s, cred.uid, pool);
            refuse_now(fd, 1, "kura daemon is busy (cannot start a worker); try again in a moment\n");
        }
    }
    return NULL;
}

/* Refuses to take over a socket a live server answers on; removes a stale one. */
static int clear_stale_socket(const char *path, const struct sockaddr_un *sa, struct kura_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISSOCK(st.st_mode)) {
        kura_err_set(err, EEXIST, "%s exists and is not a socket; remove it or set another socket path",
                     path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        kura_err_set(err, errno, "socket: %s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa);
    int e = errno;
    close(fd);
    if (rc == 0) {
        kura_err_set(err, EADDRINUSE, "another kura daemon is serving %s; stop it first", path);
        return -1;
    }
    if (e != ECONNREFUSED) {
        kura_err_set(err, e, "cannot check socket %s: %s", path, strerror(e));
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int make_socket_dir(const char *path, struct kura_err *err)
{
    char *dir = strdup(path);
    if (!dir) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        /* Exactly 0755, whatever the umask: the unit runs kurafs under
         * UMask=0077, and /run/kura is made again after every reboot; a
         * 0700 directory would shut every user out of the socket. */
        if (mkdir(dir, 0755) == 0) {
            if (chmod(dir, 0755) != 0) {
                kura_err_set(err, errno, "cannot open socket directory %s to users: %s", dir, strerror(errno));
                rc = -1;
            }
        } else if (errno != EEXIST) {
            kura_err_set(err, errno, "cannot create socket directory %s: %s", dir, strerror(errno));
            rc = -1;
        }
    }
    free(dir);
    return rc;
}

int kura_ctl_server_start(const char *socket_path, kura_ctl_handler handler, void *ctx,
                          const struct kura_ctl_limits *limits, struct kura_ctl_server **out,
                          struct kura_err *err)
{
    struct sockaddr_un sa;
    if (fill_sockaddr(socket_path, &sa, err) != 0)
        return -1;
    if (make_socket_dir(socket_path, err) != 0 || clear_stale_socket(socket_path, &sa, err) != 0)
        return -1;
    struct kura_ctl_server *s = calloc(1, sizeof *s);
    if (!s) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    s->listen_fd = s->wake[0] = s->wake[1] = -1;
    s->handler = handler;
    s->ctx = ctx;
    s->lim.timeout_ms = limits && limits->timeout_ms > 0 ? limits->timeout_ms : KURA_CTL_TIMEOUT_MS;
    s->lim.max_conn = limits && limits->max_conn > 0 ? limits->max_conn : KURA_CTL_MAX_CONN;
    s->lim.max_conn_per_uid = limits && limits->max_conn_per_uid > 0 ? limits->max_conn_per_uid
                                                                     : KURA_CTL_MAX_CONN_PER_UID;
    s->lim.has_staff_gid = limits && limits->has_staff_gid;
    s->lim.staff_gid = limits ? limits->staff_gid : 0;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->idle, NULL);
    s->path = strdup(socket_path);
    s->slots = calloc((size_t)s->lim.max_conn, sizeof *s->slots);
    if (!s->path || !s->slots) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if (pipe2(s->wake, O_CLOEXEC) != 0) {
        kura_err_set(err, errno, "pipe: %s", strerror(errno));
        goto fail;
    }
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        kura_err_set(err, errno, "socket: %s", strerror(errno));
        goto fail;
    }
    if (bind(s->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        kura_err_set(err, errno, "cannot bind %s: %s", s->path, strerror(errno));
        goto fail;
    }
    /* Everyone may ask (status); identity comes from SO_PEERCRED. */
    if (chmod(socket_path, 0666) != 0 || listen(s->listen_fd, 64) != 0) {
        kura_err_set(err, errno, "cannot open socket %s: %s", s->path, strerror(errno));
        unlink(socket_path);
        goto fail;
    }
    int e = pthread_create(&s->thread, NULL, accept_loop, s);
    if (e != 0) {
        kura_err_set(err, e, "cannot start the control thread: %s", strerror(e));
        unlink(socket_path);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake[0] >= 0) {
        close(s->wake[0]);
        close(s->wake[1]);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s->slots);
    free(s->path);
    free(s);
    return -1;
}

void kura_ctl_server_stop(struct kura_ctl_server *s)
{
    if (!s)
        return;
    char b = 1;
    while (write(s->wake[1], &b, 1) < 0 && errno == EINTR)
        ;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    unlink(s->path);
    pthread_mutex_lock(&s->mu);
    while (s->active > 0)
        pthread_cond_wait(&s->idle, &s->mu);
    pthread_mutex_unlock(&s->mu);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->idle);
    free(s->slots);
    free(s->path);
    free(s);
}
