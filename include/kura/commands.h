/* kuractl's commands, in the library so that the same code runs in kuractl
 * (direct mode: root, no daemon needed) and in the daemon (socket mode: the
 * request came over the control socket, the caller's uid from SO_PEERCRED).
 *
 * Roles (R-ACC-4, R-ACC-5): operator = root or a member of group
 * kura-admin (checked in the group database, never taken from the
 * caller); PI = the dataset's recorded pi uid and name, for that dataset
 * only (user approve: the PI alone, never an operator);
 * anyone = status for themselves. Every change is made under the dataset's
 * lock, written atomically, and recorded in the dataset's ledger (who,
 * what, when, before -> after) and the audit log.
 *
 * Commands write what kuractl prints to out and err; errors are one line
 * naming what is wrong and what to do. Exit status: 0 ok, 1 refused or
 * failed, 2 bad usage. */
#ifndef KURA_COMMANDS_H
#define KURA_COMMANDS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "kura/config.h"
#include "kura/ctlproto.h"
#include "kura/error.h"
#include "kura/model.h"

struct kura_cluster_spare;

#define KURA_ADMIN_GROUP "kura-admin"

#define KURA_EXIT_OK 0
#define KURA_EXIT_FAIL 1
#define KURA_EXIT_USAGE 2

struct kura_keystore;
struct kura_audit_log;

/* Who asks. Built from a uid by kura_actor_resolve, never from a claim. */
struct kura_actor {
    uid_t uid;
    gid_t gid;
    pid_t pid;                      /* the asking process */
    char name[KURA_USER_MAX + 1];   /* "" when the uid has no account name */
    bool operator;                  /* root or member of KURA_ADMIN_GROUP */
    char via[KURA_USER_MAX + 24];   /* root acting for a logged-in user: "login alice" */
};

/* Resolves uid in the user and group databases (getpwuid_r,
 * getgrouplist: supplementary groups count). A uid without an account is
 * still an actor (no name, never an operator unless uid 0). */
int kura_actor_resolve(uid_t uid, gid_t gid, pid_t pid, struct kura_actor *a, struct kura_err *err);
/* The gid of KURA_ADMIN_GROUP; false if the group does not exist. */
bool kura_admin_gid(gid_t *gid);

/* Where the commands run. */
struct kura_cmd_env {
    const struct kura_config *cfg;
    const char *config_path;        /* the file cfg came from; for init (cfg NULL): the file
                                       -c or KURA_CONFIG named, or NULL */
    bool socket_mode;               /* true in the daemon */
    const char *mountpoint;         /* where the daemon serving the request is mounted
                                       (kurafs); NULL in kuractl serve and direct mode */
    size_t output_max;              /* where the answer stops (the daemon's cap); 0: streams */
    uint32_t flags;                 /* KURA_CTL_CONFIRMED: confirmed on the caller's terminal */
    /* Socket mode: the file the caller sent with the request (KURA_CTL_INPUT;
     * report verify's report), or NULL. The daemon opens no path a caller names. */
    FILE *input;
    /* The opened server key (the daemon's); NULL: commands that need it
     * open the keystore themselves with passphrase (NULL: none). */
    struct kura_keystore *ks;
    const char *passphrase;
    /* The daemon's open audit log; NULL: commands open it per change. */
    struct kura_audit_log *audit;
    /* Cluster mode, the daemon: the database session kept between changes
     * (include/kura/cluster.h); NULL: each change opens its own. */
    struct kura_cluster_spare *cluster_spare;
    /* Called after a change is committed (dataset_id NULL: server-wide).
     * The daemon reloads its catalog and bumps the policy epoch; kuractl
     * in direct mode tells a running daemon to reload. May be NULL. */
    void (*on_state_change)(void *ctx, const char *dataset_id);
    /* The daemon's lines for `kuractl status` after its first (a cluster
     * node's lease, the central audit store's shipper); may be NULL. */
    void (*daemon_notes)(void *ctx, FILE *out);
    void *ctx;
    /* Set by kura_cmd_execute for its command (callers leave them NULL):
     * what a change does at its end while it still holds the cluster lock
     * (R-LOG-7's look at the operators), and whether one did, so the look
     * after the command needs no connection of its own. */
    int (*at_unlock)(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err);
    bool *at_unlock_done;
};

enum kura_cmd_role {
    KURA_CMD_ANYONE,
    KURA_CMD_OPERATOR,
    KURA_CMD_PI,                /* the PI of the dataset named in argv, or an operator */
    KURA_CMD_PI_ONLY,           /* that PI alone: the other role's confirmation of an operator's act */
    KURA_CMD_ANY_PI,            /* the PI of some dataset (for their datasets), or an operator; the
                                   command checks which datasets */
};

/* kura_cmd.flags */
#define KURA_CMD_CHANGES_STATE 0x1u /* a running daemon must reload afterwards */
#define KURA_CMD_DIRECT_ONLY 0x2u   /* not over the socket (init: there is no daemon yet) */
#define KURA_CMD_CONFIRM 0x4u       /* destructive: kuractl asks on the terminal unless --yes */
#define KURA_CMD_HIDDEN 0x8u        /* internal: not in --help */
#define KURA_CMD_PREVIEW 0x10u      /* with CONFIRM: its --dry-run output is shown before the question */
#define KURA_CMD_ENDS_ACCESS 0x20u  /* ends someone's access: in cluster mode, root's goes through this
                                       node's daemon when it runs (its kept database session) */

struct kura_cmd_ctx;

struct kura_cmd {
    const char *group;              /* "dataset", "user", or NULL */
    const char *name;
    enum kura_cmd_role role;
    unsigned flags;
    int (*run)(const struct kura_cmd_ctx *c, int argc, char **argv);
    const char *usage;              /* arguments after the command name */
    const char *help;               /* what it does, a few lines */
};

/* The command argv names (argv[0] is the group or the command), or NULL;
 * *words gets how many argv entries named it (1 or 2). */
const struct kura_cmd *kura_cmd_find(int argc, char *const *argv, int *words);

/* Runs one command line (argv without the program name). Handles
 * --help/-h (general or per command) and --version. */
int kura_cmd_execute(const struct kura_cmd_env *env, const struct kura_actor *actor, int argc, char **argv,
                     FILE *out, FILE *err);

/* A ctlproto handler: ctx is a const struct kura_cmd_env *. Resolves the
 * peer's uid into an actor and runs the request in socket mode. */
int kura_cmd_handle_request(void *ctx, const struct kura_ctl_peer *peer, const struct kura_ctl_request *req,
                            FILE *out, FILE *err);

/* Reads the first line of a passphrase file into secure memory (free with
 * kura_secure_free); an empty first line is refused. */
char *kura_cmd_read_passphrase(const char *path, struct kura_err *err);

/* The audit log's summary of [since, until) (Unix seconds) as `kuractl
 * audit summary` prints it for an operator, signed Markdown, written to
 * path (0600, atomically): what kurafs sends weekly (R-LOG-9). */
int kura_cmd_audit_summary_file(const struct kura_cmd_env *env, int64_t since, int64_t until, const char *path,
                                struct kura_err *err);

/* kuractl --help text. */
void kura_cmd_print_help(FILE *out, bool operator);

#endif
