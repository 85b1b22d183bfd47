/* kuractl: the operator's, the PI's and the user's command line.
 *
 * Root runs commands directly on the state files, under the same locks the
 * daemon uses, and then tells a running daemon to reload. Everyone else
 * sends the command line to the daemon's control socket, which learns the
 * caller's uid from the kernel and checks the role there.
 *
 * `kuractl serve` (hidden, root only) runs the control socket alone, in the
 * foreground, without mounting anything: an aid for tests and for operating
 * kura without the FUSE daemon. kurafs serves the same requests when it
 * runs. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/commands.h"
#include "kura/config.h"
#include "kura/ctlproto.h"
#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/secmem.h"

static const char *socket_path;

/* Direct mode: a change was committed; a running daemon reloads. */
static void notify_daemon(void *ctx, const char *dataset_id)
{
    /* ctx: the config. In cluster mode the nodes learn of the change from
     * the database (and the command waits for them), not from this node's
     * daemon alone. */
    const struct kura_config *cfg = ctx;
    char *argv[2] = {"reload", (char *)dataset_id};
    struct kura_ctl_response r;
    struct kura_err e = {0};
    if (kura_ctl_call(socket_path, 0, dataset_id ? 2 : 1, argv, NULL, 0, &r, &e) != 0) {
        if ((e.code == ENOENT || e.code == ECONNREFUSED) && *cfg->cluster_database)
            return;
        if (e.code == ENOENT || e.code == ECONNREFUSED)
            fprintf(stderr, "kuractl: note: kurafs is not running; the change is saved and takes effect when it "
                            "is next mounted\n");
        else
            fprintf(stderr, "kuractl: warning: could not tell the daemon to reload: %s\n", e.msg);
        return;
    }
    if (r.status != 0)
        fprintf(stderr, "kuractl: warning: the daemon did not reload: %s", r.err);
    kura_ctl_response_clear(&r);
}

static bool wants_help_or_version(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 || (i == 0 && strcmp(argv[i], "help") == 0) ||
            (i == 0 && strcmp(argv[i], "--version") == 0))
            return true;
    }
    return false;
}

/* The daemon does not share the caller's working directory: name files
 * absolutely before sending (dataset import's PATHs and --samples,
 * delivery make's FILEs and --out, report incident's --out; --to names a
 * key). out_only: only the value of --out. */
static int absolutize_paths(int words, int argc, char **argv, char ***owned, int *nowned, bool out_only)
{
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    *owned = calloc((size_t)argc, sizeof **owned);
    if (!*owned)
        return -1;
    /* argv: the command's words, then options, ID and paths */
    for (int i = words; i < argc; i++) {
        bool value = strcmp(argv[i - 1], "--samples") == 0 || strcmp(argv[i - 1], "--out") == 0;
        bool option = argv[i][0] == '-';
        if (strcmp(argv[i], "--") == 0)
            break;
        if ((option && !value) || argv[i][0] == '/' || strcmp(argv[i - 1], "--to") == 0 ||
            (i == words && strcmp(argv[0], "dataset") == 0) || (out_only && strcmp(argv[i - 1], "--out") != 0))
            continue;
        char *abs;
        if (asprintf(&abs, "%s/%s", cwd, argv[i]) < 0)
            return -1;
        (*owned)[(*nowned)++] = abs;
        argv[i] = abs;
    }
    return 0;
}

struct run {
    const struct kura_config *cfg;
    const char *config_path, *passphrase;
    const struct kura_actor *actor;
    const struct kura_cmd *k;
};

static bool via_daemon(const struct kura_config *cfg, const struct kura_cmd *k, uint32_t flags, int argc,
                       char **argv, bool absent_ok, int *rc);

/* Runs the command: root's here, anyone else's through the daemon. In
 * cluster mode root's revocations go through this node's daemon too, when
 * it runs (without a passphrase to use here): the daemon's kept database
 * session spares the change a new one, the largest part of its time
 * (docs/cluster.md). With no daemon, they run here. */
static int run_command(const struct run *r, uint32_t flags, int argc, char **argv)
{
    int rc = KURA_EXIT_FAIL;
    if (getuid() != 0) {
        via_daemon(r->cfg, r->k, flags, argc, argv, false, &rc);
        return rc;
    }
    if (*r->cfg->cluster_database && (r->k->flags & KURA_CMD_ENDS_ACCESS) && !r->passphrase &&
        via_daemon(r->cfg, r->k, flags, argc, argv, true, &rc))
        return rc;
    socket_path = r->cfg->socket;
    struct kura_cmd_env env = {.cfg = r->cfg, .config_path = r->config_path, .passphrase = r->passphrase,
                               .flags = flags,
                               .on_state_change = (r->k->flags & KURA_CMD_CHANGES_STATE) ? notify_daemon : NULL,
                               .ctx = (void *)r->cfg};
    return kura_cmd_execute(&env, r->actor, argc, argv, stdout, stderr);
}

/* Destructive commands are confirmed here, on the caller's terminal (the
 * daemon has none): the dataset id (or key) must be typed again. --yes skips it;
 * --dry-run needs none. A command with a preview shows it (its --dry-run)
 * before the question; when the preview fails, *rc is its status. */
static uint32_t confirm(const struct run *r, int words, int argc, char **argv, int *rc)
{
    const struct kura_cmd *k = r->k;
    *rc = KURA_EXIT_OK;
    if (!(k->flags & KURA_CMD_CONFIRM))
        return 0;
    for (int i = words; i < argc; i++)
        if (strcmp(argv[i], "--yes") == 0 || strcmp(argv[i], "--dry-run") == 0)
            return 0;
    if (argc <= words || !isatty(STDIN_FILENO) || !isatty(STDERR_FILENO))
        return 0;   /* the command refuses without --yes */
    if (k->flags & KURA_CMD_PREVIEW) {
        char **dry = calloc((size_t)argc + 2, sizeof *dry);
        if (!dry) {
            *rc = KURA_EXIT_FAIL;
            return 0;
        }
        memcpy(dry, argv, (size_t)words * sizeof *dry);
        dry[words] = "--dry-run";
        memcpy(dry + words + 1, argv + words, (size_t)(argc - words) * sizeof *dry);
        *rc = run_command(r, 0, argc + 1, dry);
        free(dry);
        fflush(stdout);
        if (*rc != KURA_EXIT_OK)
            return 0;
    }
    const char *id = argv[words];
    fprintf(stderr, "kuractl %s%s%s: this cannot be undone. Type %s again to confirm: ",
            k->group ? k->group : "", k->group ? " " : "", k->name, id);
    char line[256];
    if (!fgets(line, sizeof line, stdin))
        return 0;
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, id) == 0)
        return KURA_CTL_CONFIRMED;
    /* What was typed is not echoed: it may hold terminal controls. */
    fprintf(stderr, "kuractl: what you typed is not %s: nothing was changed\n", id);
    *rc = KURA_EXIT_FAIL;
    return 0;
}

/* Sends the command to the daemon; *rc gets its status. False when the
 * daemon does not run and absent_ok (nothing said: the caller runs it),
 * true otherwise. */
static bool via_daemon(const struct kura_config *cfg, const struct kura_cmd *k, uint32_t flags, int argc,
                       char **argv, bool absent_ok, int *rc)
{
    char **owned = NULL;
    int nowned = 0;
    *rc = KURA_EXIT_FAIL;
    bool names_files = k && k->group && ((strcmp(k->group, "dataset") == 0 && strcmp(k->name, "import") == 0) ||
                                         (strcmp(k->group, "delivery") == 0 && strcmp(k->name, "make") == 0));
    /* report incident names one file, --out's: only that is made absolute. */
    bool names_out = k && k->group && strcmp(k->group, "report") == 0 && strcmp(k->name, "incident") == 0;
    if ((names_files && absolutize_paths(2, argc, argv, &owned, &nowned, false) != 0) ||
        (names_out && absolutize_paths(2, argc, argv, &owned, &nowned, true) != 0)) {
        fprintf(stderr, "kuractl: cannot name the command's files: %s\n", strerror(errno));
        return true;
    }
    /* report verify FILE: read here, with the caller's rights, and sent;
     * the daemon opens no file a caller names (include/kura/ctlproto.h). */
    bool verify = k && k->group && strcmp(k->group, "report") == 0 && strcmp(k->name, "verify") == 0;
    int file = !verify                                        ? -1
               : argc == 3 && argv[2][0] != '-'               ? 2
               : argc == 4 && strcmp(argv[2], "--") == 0      ? 3
                                                              : -1;
    char *input = NULL;
    size_t input_len = 0;
    struct kura_err e = {0};
    if (file > 0 && kura_read_file(argv[file], KURA_CTL_MAX_INPUT, &input, &input_len, &e) != 0) {
        fprintf(stderr, "kuractl: %s\n", e.msg);
        return true;
    }
    struct kura_ctl_response r;
    int called = kura_ctl_call(cfg->socket, flags, argc, argv, input, input_len, &r, &e);
    free(input);
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    if (called != 0) {
        bool absent = e.code == ENOENT || e.code == ECONNREFUSED;
        if (absent && absent_ok)
            return false;
        if (absent)
            fprintf(stderr, "kuractl: kura daemon is not running; ask an operator\n");
        else
            fprintf(stderr, "kuractl: %s\n", e.msg);
        return true;
    }
    fwrite(r.out, 1, r.out_len, stdout);
    fwrite(r.err, 1, r.err_len, stderr);
    *rc = r.status;
    kura_ctl_response_clear(&r);
    return true;
}

/* The hidden `serve`: the control socket in the foreground until SIGTERM or SIGINT. */
static void serve_state_change(void *ctx, const char *dataset_id)
{
    (void)ctx;
    fprintf(stderr, "kuractl serve: state changed%s%s\n", dataset_id ? ": dataset " : "", dataset_id ? dataset_id : "");
}

static int serve(const struct kura_config *cfg, const char *config_path, const char *passphrase)
{
    struct kura_err e = {0};
    struct kura_keystore *ks = NULL;
    struct kura_audit_log *audit = NULL;
    unsigned char *key = NULL;
    char *key_path = NULL;
    struct kura_ctl_server *srv = NULL;
    int rc = KURA_EXIT_FAIL;
    if (kura_keystore_open(cfg->keys_dir, passphrase, &ks, &e) != 0)
        goto fail;
    if (asprintf(&key_path, "%s/%s", cfg->keys_dir, KURA_AUDIT_KEY_FILE) < 0) {
        key_path = NULL;
        kura_err_set(&e, ENOMEM, "out of memory");
        goto fail;
    }
    if (!(key = kura_audit_key_load(key_path, &e)))
        goto fail;
    struct kura_audit_options opt = {.zone = cfg->zone, .syslog = cfg->syslog,
                                     .max_size = (uint64_t)cfg->max_size_mb << 20};
    if (!(audit = kura_audit_open(cfg->audit_log, key, &opt, &e)))
        goto fail;
    struct kura_cmd_env env = {.cfg = cfg, .config_path = config_path, .socket_mode = true, .ks = ks,
                               .audit = audit, .on_state_change = serve_state_change};
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (kura_ctl_server_start(cfg->socket, kura_cmd_handle_request, &env, NULL, &srv, &e) != 0)
        goto fail;
    printf("kuractl serve: control socket %s (no mount); stop with SIGTERM\n", cfg->socket);
    fflush(stdout);
    int sig;
    sigwait(&sigs, &sig);
    kura_ctl_server_stop(srv);
    rc = KURA_EXIT_OK;
    goto out;
fail:
    fprintf(stderr, "kuractl serve: %s\n", e.msg);
out:
    kura_audit_close(audit);
    kura_secure_free(key);
    free(key_path);
    kura_keystore_close(ks);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: kuractl [-c FILE] [--passphrase-file FILE] COMMAND [ARGS...]; see kuractl --help\n");
    return KURA_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *config_opt = NULL, *pass_file = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            config_opt = argv[++i];
        else if (strncmp(argv[i], "-c", 2) == 0 && argv[i][2])
            config_opt = argv[i] + 2;
        else if (strcmp(argv[i], "--passphrase-file") == 0 && i + 1 < argc)
            pass_file = argv[++i];
        else if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--passphrase-file") == 0)
            return usage();
        else
            break;
    }
    argc -= i;
    argv += i;
    if (kura_secmem_init() != 0) {
        fprintf(stderr, "kuractl: libsodium does not start\n");
        return KURA_EXIT_FAIL;
    }
    uid_t uid = getuid();
    struct kura_actor actor;
    struct kura_err e = {0};
    if (kura_actor_resolve(uid, getgid(), getpid(), &actor, &e) != 0) {
        fprintf(stderr, "kuractl: %s\n", e.msg);
        return KURA_EXIT_FAIL;
    }
    struct kura_cmd_env env = {0};
    if (argc < 1 || wants_help_or_version(argc, argv))
        return kura_cmd_execute(&env, &actor, argc, argv, stdout, stderr);

    int words = 0;
    const struct kura_cmd *k = kura_cmd_find(argc, argv, &words);
    bool is_serve = strcmp(argv[0], "serve") == 0;
    if (!k && !is_serve)
        return kura_cmd_execute(&env, &actor, argc, argv, stdout, stderr);   /* names the mistake */
    /* Root holds keys here: no core dumps, no ptrace. */
    if (uid == 0 && kura_harden_process() != 0)
        fprintf(stderr, "kuractl: warning: cannot disable core dumps\n");

    const char *env_conf = getenv(KURA_CONFIG_ENV);
    bool explicit_conf = config_opt || (env_conf && env_conf[0]);
    if (k && (k->flags & KURA_CMD_DIRECT_ONLY)) {
        if (uid != 0) {
            fprintf(stderr, "kuractl %s: run it as root on the server\n", k->name);
            return KURA_EXIT_FAIL;
        }
        env.config_path = explicit_conf ? kura_config_path(config_opt) : NULL;
        return kura_cmd_execute(&env, &actor, argc, argv, stdout, stderr);
    }

    const char *config_path = kura_config_path(config_opt);
    struct kura_config cfg = {0};
    if (kura_config_load(config_path, &cfg, &e) != 0) {
        /* Only root can run init: others are told what they can do. */
        if (uid != 0 && e.code == ENOENT)
            fprintf(stderr, "kuractl: %s does not exist: kura is not set up here, or your operator uses another "
                            "config (give -c FILE or set %s)\n", config_path, KURA_CONFIG_ENV);
        else
            fprintf(stderr, "kuractl: %s\n", e.msg);
        kura_config_free(&cfg);
        return KURA_EXIT_FAIL;
    }
    char *passphrase = NULL;
    int rc = KURA_EXIT_FAIL;
    if (pass_file && !(passphrase = kura_cmd_read_passphrase(pass_file, &e))) {
        fprintf(stderr, "kuractl: %s\n", e.msg);
        goto out;
    }
    if (is_serve) {
        if (uid != 0 || argc != 1) {
            fprintf(stderr, "kuractl serve: root only, no arguments\n");
            rc = uid != 0 ? KURA_EXIT_FAIL : KURA_EXIT_USAGE;
        } else
            rc = serve(&cfg, config_path, passphrase);
        goto out;
    }
    const struct run r = {.cfg = &cfg, .config_path = config_path, .passphrase = passphrase, .actor = &actor, .k = k};
    uint32_t flags = confirm(&r, words, argc, argv, &rc);
    if (rc == KURA_EXIT_OK)
        rc = run_command(&r, flags, argc, argv);
out:
    kura_secure_free(passphrase);
    kura_config_free(&cfg);
    return rc;
}
