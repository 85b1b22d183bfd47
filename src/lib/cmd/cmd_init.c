#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/audit.h"
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

/* Creates what is missing, never replaces a key. */
static int init_with_config(const struct kura_cmd_ctx *c, const struct kura_config *cfg, const char *pass_file)
{
    struct kura_err e = {0};
    char *datasets = NULL, *store = NULL, *sec = NULL, *audit_key = NULL, *pass = NULL, *pub = NULL;
    int rc = KURA_EXIT_FAIL;
    if (!(datasets = kura_layout_datasets_dir(cfg->state_dir)) ||
        !(store = kura_layout_join(cfg->state_dir, KURA_STORE_DIR)) ||
        !(sec = kura_layout_join(cfg->keys_dir, KURA_SERVER_SEC_FILE)) ||
        !(audit_key = kura_layout_join(cfg->keys_dir, KURA_AUDIT_KEY_FILE))) {
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

    bool have_server = access(sec, F_OK) == 0, have_audit = access(audit_key, F_OK) == 0;
    if (have_server && pass_file) {
        cmd_fail(c, "the server key %s exists; --passphrase-file applies only to a new key", sec);
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
        fprintf(c->out, "created server key %s%s\n", sec, pass ? " (passphrase-protected)" : "");
    } else
        fprintf(c->out, "kept the existing server key %s\n", sec);
    if (!have_audit) {
        if (kura_audit_key_generate(audit_key, &e) != 0) {
            cmd_fail_err(c, &e);
            goto out;
        }
        fprintf(c->out, "created audit log key %s\n", audit_key);
    } else
        fprintf(c->out, "kept the existing audit log key %s\n", audit_key);
    if (kura_keystore_pubkey_text(cfg->keys_dir, &pub, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    /* Running init again is how an operator checks it: success, not an error. */
    if (have_server && have_audit)
        fprintf(c->out, "kura is already initialised; nothing changed: kura never overwrites keys\n");
    fprintf(c->out, "state %s, audit log %s, socket %s\n"
                    "register this public key with the archive (kuractl pubkey prints it again):\n%s",
            cfg->state_dir, cfg->audit_log, cfg->socket, pub);
    rc = KURA_EXIT_OK;
out:
    if (pass)
        kura_secure_free(pass);
    free(pub);
    free(datasets);
    free(store);
    free(sec);
    free(audit_key);
    return rc;
}

int cmd_init(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *root_opt = NULL, *pass_file = NULL;
    const struct cmd_opt opts[] = {{"root", true, &root_opt, NULL}, {"passphrase-file", true, &pass_file, NULL}, {0}};
    int npos;
    if (cmd_parse(c, argc, argv, opts, NULL, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    if (geteuid() != 0)
        return cmd_fail(c, "run it as root: it creates root-only key files");
    struct kura_err e = {0};
    char *root = NULL, *conf = NULL;
    int rc = KURA_EXIT_FAIL;
    if (root_opt) {
        if (kura_mkdir_p(root_opt, 0755, &e) != 0)
            return cmd_fail_err(c, &e);
        if (!(root = realpath(root_opt, NULL)))
            return cmd_fail(c, "--root %s: %s", root_opt, strerror(errno));
    }
    /* With --root, the config lives there unless -c or KURA_CONFIG said
     * otherwise (env->config_path is NULL then). */
    if (c->env->config_path)
        conf = strdup(c->env->config_path);
    else if (root) {
        if (asprintf(&conf, "%s/kura.conf", root) < 0)
            conf = NULL;
    } else
        conf = strdup(KURA_CONFIG_DEFAULT_PATH);
    if (!conf) {
        free(root);
        return cmd_fail(c, "out of memory");
    }
    if (access(conf, F_OK) != 0) {
        if (make_dir_of(c, conf, 0755) != 0)
            goto out;
        if (kura_config_write_default(conf, root, &e) != 0) {
            cmd_fail_err(c, &e);
            goto out;
        }
        fprintf(c->out, "created config %s\n", conf);
    } else
        fprintf(c->out, "using the existing config %s\n", conf);
    struct kura_config cfg = {0};
    if (kura_config_load(conf, &cfg, &e) != 0) {
        cmd_fail_err(c, &e);
        goto out;
    }
    if (root && (!cfg.root || strcmp(cfg.root, root) != 0))
        fprintf(c->err, "kuractl init: note: %s does not set root = %s; its own paths apply\n", conf, root);
    rc = init_with_config(c, &cfg, pass_file);
    kura_config_free(&cfg);
out:
    free(conf);
    free(root);
    return rc;
}
