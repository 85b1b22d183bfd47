#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/config.h"
#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/secmem.h"

#define PASSPHRASE_MAX 1024

char *kura_cmd_read_passphrase(const char *path, struct kura_err *err)
{
    char *pass = NULL;
    size_t len = 0;
    if (kura_read_secret_file(path, PASSPHRASE_MAX, &pass, &len, err) != 0) {
        kura_err_prefix(err, "passphrase file");
        return NULL;
    }
    /* The first line; strcspn stops at a NUL, so a NUL inside it is refused. */
    size_t n = strcspn(pass, "\r\n");
    if (n == 0 || (n < len && pass[n] == '\0')) {
        kura_err_set(err, EINVAL, "passphrase file %s: the first line must hold the passphrase", path);
        kura_secure_free(pass);
        return NULL;
    }
    sodium_memzero(pass + n, len - n); /* the rest of the file, and the line end */
    return pass;
}

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *slash = strrchr(d, '/');
    if (slash == d)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

static int make_dir(const struct kura_cmd_ctx *c, const char *path, mode_t mode)
{
    struct kura_err e = {0};
    if (kura_mkdir_p(path, mode, &e) != 0)
        return cmd_fail_err(c, &e);
    return 0;
}

static int make_dir_of(const struct kura_cmd_ctx *c, const char *file, mode_t mode)
{
    char *d = dir_of(file);
    if (!d)
        return cmd_fail(c, "out of memory");
    int rc = make_dir(c, d, mode);
    free(d);
    return rc;
}

/* Creates what is missing, never replaces a key; says in res what it
 * created and what it kept. */
static int init_with_config(const struct kura_cmd_ctx *c, const struct kura_config *cfg, const char *pass_file,
                            struct kura_init_result *res)
{
    struct kura_err e = {0};
    char *datasets = NULL, *store = NULL, *pass = NULL;
    int rc = KURA_EXIT_FAIL;
    if (!(datasets = kura_layout_datasets_dir(cfg->state_dir)) ||
        !(store = kura_layout_join(cfg->state_dir, KURA_STORE_DIR)) ||
        !(res->server_key_path = kura_layout_join(cfg->keys_dir, KURA_SERVER_SEC_FILE)) ||
        !(res->audit_key_path = kura_layout_join(cfg->keys_dir, KURA_AUDIT_KEY_FILE)) ||
        !(res->state_dir = strdup(cfg->state_dir)) || !(res->audit_log = strdup(cfg->audit_log)) ||
        !(res->socket = strdup(cfg->socket))) {
        cmd_fail(c, "out of memory");
        goto out;
    }
    /* State files name users and samples: root only, the state directory
     * included, since the link counts of datasets/ and store/ count the
     * datasets. The socket's directory is open to all (everyone may ask for
     * status). */
    if (make_dir(c, cfg->state_dir, 0700) || make_dir(c, datasets, 0700) || make_dir(c, store, 0700) ||
        make_dir_of(c, cfg->audit_log, 0700) || make_dir_of(c, cfg->socket, 0755))
        goto out;

    bool have_server = access(res->server_key_path, F_OK) == 0, have_audit = access(res->audit_key_path, F_OK) == 0;
    if (have_server && pass_file) {
        cmd_fail(c, "the server key %s exists; --passphrase-file applies only to a new key", res->server_key_path);
        goto out;
    }
    if (!have_server) {
        if (pass_file && !(pass = kura_cmd_read_passphrase(pass_file, &e))) {
            cmd_fail_err(c, &e);
            goto out;
        }
        if (kura_keystore_create(cfg->keys_dir, pass, &e) != 0) {
            cmd_fail_err(c, &e);
            goto out;
        }
        res->server_key = KURA_INIT_CREATED;
        res->passphrase_protected = pass != NULL;
    } else
        res->server_key = KURA_INIT_KEPT;
    if (!have_audit) {
        if (kura_audit_key_generate(res->audit_key_path, &e) != 0) {
            cmd_fail_err(c, &e);
            goto out;
        }
        res->audit_key = KURA_INIT_CREATED;
    } else
        res->audit_key = KURA_INIT_KEPT;
    if (kura_keystore_pubkey_text(cfg->keys_dir, &res->pubkey, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    rc = KURA_EXIT_OK;
out:
    if (pass)
        kura_secure_free(pass);
    free(datasets);
    free(store);
    return rc;
}

const struct kura_cmd cmd_row_init = {NULL, "init", KURA_CMD_OPERATOR, KURA_CMD_DIRECT_ONLY, cmd_init, "[--root DIR] [--passphrase-file FILE]",
    "Creates the config file (unless it exists), the state directories, the server's Crypt4GH\n"
    "key pair and the audit-log key. With --root every path lives under DIR (tests, demos) and\n"
    "the config is DIR/kura.conf unless -c or KURA_CONFIG names another. With --passphrase-file\n"
    "the server secret key is protected with the passphrase in FILE (scrypt). Existing keys are\n"
    "never overwritten."};

int kura_change_init(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                     const struct kura_init_request *rq, struct kura_init_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_init);
    memset(res, 0, sizeof *res);
    if (geteuid() != 0)
        return cmd_fail(c, "run it as root: it creates root-only key files");
    struct kura_err e = {0};
    char *root = NULL;
    if (rq->root) {
        if (kura_mkdir_p(rq->root, 0755, &e) != 0)
            return cmd_fail_err(c, &e);
        if (!(root = realpath(rq->root, NULL)))
            return cmd_fail(c, "--root %s: %s", rq->root, strerror(errno));
    }
    int rc = KURA_EXIT_FAIL;
    /* With --root, the config lives there unless -c or KURA_CONFIG said
     * otherwise (env->config_path is NULL then). */
    if (c->env->config_path)
        res->config = strdup(c->env->config_path);
    else if (root) {
        if (asprintf(&res->config, "%s/kura.conf", root) < 0)
            res->config = NULL;
    } else
        res->config = strdup(KURA_CONFIG_DEFAULT_PATH);
    if (!res->config) {
        free(root);
        return cmd_fail(c, "out of memory");
    }
    if (access(res->config, F_OK) != 0) {
        if (make_dir_of(c, res->config, 0755) != 0)
            goto out;
        if (kura_config_write_default(res->config, root, &e) != 0) {
            cmd_fail_err(c, &e);
            goto out;
        }
        res->config_file = KURA_INIT_CREATED;
    } else
        res->config_file = KURA_INIT_KEPT;
    struct kura_config cfg = {0};
    if (kura_config_load(res->config, &cfg, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (root && (!cfg.root || strcmp(cfg.root, root) != 0))
        fprintf(c->err, "kuractl init: note: %s does not set root = %s; its own paths apply\n", res->config, root);
    rc = init_with_config(c, &cfg, rq->passphrase_file, res);
    kura_config_free(&cfg);
out:
    free(root);
    return rc;
}

void kura_init_result_free(struct kura_init_result *res)
{
    free(res->config);
    free(res->server_key_path);
    free(res->audit_key_path);
    free(res->state_dir);
    free(res->audit_log);
    free(res->socket);
    free(res->pubkey);
    memset(res, 0, sizeof *res);
}

int cmd_init(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_init_request rq = {0};
    const struct cmd_opt opts[] = {{"root", true, &rq.root, NULL}, {"passphrase-file", true, &rq.passphrase_file, NULL},
                                   {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_init_result res;
    int rc = kura_change_init(c->env, c->actor, c->err, &rq, &res);
    /* What was done is said also when a later step failed. */
    if (res.config_file)
        fprintf(c->out, res.config_file == KURA_INIT_CREATED ? "created config %s\n" : "using the existing config %s\n",
                res.config);
    if (res.server_key == KURA_INIT_CREATED)
        fprintf(c->out, "created server key %s%s\n", res.server_key_path,
                res.passphrase_protected ? " (passphrase-protected)" : "");
    else if (res.server_key == KURA_INIT_KEPT)
        fprintf(c->out, "kept the existing server key %s\n", res.server_key_path);
    if (res.audit_key)
        fprintf(c->out, res.audit_key == KURA_INIT_CREATED ? "created audit log key %s\n"
                                                            : "kept the existing audit log key %s\n",
                res.audit_key_path);
    if (rc == KURA_EXIT_OK) {
        /* Running init again is how an operator checks it: success, not an error. */
        if (res.server_key == KURA_INIT_KEPT && res.audit_key == KURA_INIT_KEPT)
            fprintf(c->out, "kura is already initialised; nothing changed: kura never overwrites keys\n");
        fprintf(c->out, "state %s, audit log %s, socket %s\n"
                        "register this public key with the archive (kuractl pubkey prints it again):\n%s",
                res.state_dir, res.audit_log, res.socket, res.pubkey);
    }
    kura_init_result_free(&res);
    return rc;
}
