/* The control socket between kuractl and the daemon.
 *
 * Every user may connect (status is for everyone), so the server trusts
 * nothing in a message about who sent it: the caller's uid, gid and pid come
 * from the kernel (SO_PEERCRED) and are handed to the handler. The server
 * bounds what a caller can make it hold: message size, argument count and
 * length, a deadline for the whole request, and how many requests are
 * served at once (in total and per uid); excess connections are refused at
 * once with a one-line error.
 *
 * Wire format, all integers little-endian:
 *   request  = u32 body_len | body [| u32 input_len | input bytes]
 *   body     = u32 flags | u32 argc | argc * (u32 len | len bytes)
 *   response = i32 status | u32 out_len | u32 err_len | out bytes | err bytes
 * argv is kuractl's argv without the program name. Arguments are bytes
 * without NUL; they reach the handler NUL-terminated. The input follows
 * when flags has KURA_CTL_INPUT: a file the caller read with its own
 * rights, so that the daemon never opens a path a caller names (a FIFO or
 * a file on the caller's own FUSE mount could hold a worker for ever). */
#ifndef KURA_CTLPROTO_H
#define KURA_CTLPROTO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kura/error.h"

#define KURA_CTL_MAX_MSG (64u * 1024)         /* request body */
#define KURA_CTL_MAX_ARGS 64u
#define KURA_CTL_MAX_ARG (4u * 1024)
#define KURA_CTL_MAX_OUTPUT (64u * 1024 * 1024) /* each of stdout, stderr */
#define KURA_CTL_MAX_CONN 16                  /* requests served at once */
#define KURA_CTL_MAX_CONN_PER_UID 4           /* so one user cannot take them all; root has
                                                 as many of its own besides, and so have the
                                                 staff group's members together (kura-admin),
                                                 so that users' requests never keep root or
                                                 the operators out */
#define KURA_CTL_MAX_INPUT (64u * 1024 * 1024)  /* the input after a request */
#define KURA_CTL_TIMEOUT_MS 5000              /* to receive a whole request, then its input,
                                                 then to take the whole answer */

/* The caller confirmed a destructive command on its terminal (kuractl asks
 * before sending; the daemon has no terminal to ask on). */
#define KURA_CTL_CONFIRMED 0x1u
/* The request is followed by its input (the wire format above). */
#define KURA_CTL_INPUT 0x2u
#define KURA_CTL_KNOWN_FLAGS (KURA_CTL_CONFIRMED | KURA_CTL_INPUT)

/* Who is calling, as the kernel says. */
struct kura_ctl_peer {
    uid_t uid;
    gid_t gid;
    pid_t pid;
};

struct kura_ctl_request {
    uint32_t flags;
    int argc;
    char **argv;                /* argc strings + NULL; one allocation */
    /* The server's: the input as it arrives, read before the request's
     * deadline (a read error once it passes); NULL without KURA_CTL_INPUT. */
    FILE *input;
};

struct kura_ctl_response {
    int status;
    char *out;                  /* NUL-terminated (out_len bytes before it) */
    size_t out_len;
    char *err;
    size_t err_len;
};

/* Runs one request; writes what kuractl prints to out and err and returns
 * its exit status. Called from worker threads, several at once. */
typedef int (*kura_ctl_handler)(void *ctx, const struct kura_ctl_peer *peer,
                                const struct kura_ctl_request *req, FILE *out, FILE *err);

/* ---- codec (pure; what the server and the fuzzer use) ------------------ */

/* Encodes a whole request frame (length prefix included) into *buf (malloc). */
int kura_ctl_request_encode(uint32_t flags, int argc, char *const *argv, uint8_t **buf, size_t *len,
                            struct kura_err *err);
/* Decodes a request body (without the length prefix). Refuses unknown
 * flags, too many or too long arguments, NUL bytes inside an argument,
 * trailing bytes and truncation. Free with kura_ctl_request_clear. */
int kura_ctl_request_decode(const uint8_t *body, size_t len, struct kura_ctl_request *req,
                            struct kura_err *err);
void kura_ctl_request_clear(struct kura_ctl_request *req);

/* ---- server ------------------------------------------------------------ */

struct kura_ctl_server;

/* Limits; zero fields take the defaults above (tests shorten the timeout). */
struct kura_ctl_limits {
    int timeout_ms;
    int max_conn;
    int max_conn_per_uid;
    /* Callers in this group (the peer's primary or supplementary groups,
     * from the kernel at connect: SO_PEERCRED, SO_PEERGROUPS) have
     * max_conn_per_uid slots of their own together, taken before the
     * users' (admission only: roles are decided by the handler). */
    bool has_staff_gid;
    gid_t staff_gid;
};

/* Creates the socket's directory (0755, whatever the umask) if missing, binds socket_path
 * (mode 0666), and serves it from a new thread. A stale socket file is
 * replaced; a socket some live server answers on is refused (EADDRINUSE).
 * limits may be NULL. */
int kura_ctl_server_start(const char *socket_path, kura_ctl_handler handler, void *ctx,
                          const struct kura_ctl_limits *limits, struct kura_ctl_server **out,
                          struct kura_err *err);
/* Stops accepting, waits for running requests (each is bounded by the
 * deadlines above, but for the time its command takes), removes the socket file. */
void kura_ctl_server_stop(struct kura_ctl_server *s);

/* ---- client ------------------------------------------------------------ */

/* Sends argv, and input when it is not NULL (at most KURA_CTL_MAX_INPUT
 * bytes; KURA_CTL_INPUT is set for it), and waits for the response (no
 * deadline: a command such as an import may take long). ENOENT or
 * ECONNREFUSED in err->code mean no daemon is listening. */
int kura_ctl_call(const char *socket_path, uint32_t flags, int argc, char *const *argv, const void *input,
                  size_t input_len, struct kura_ctl_response *resp, struct kura_err *err);
void kura_ctl_response_clear(struct kura_ctl_response *resp);

#endif
