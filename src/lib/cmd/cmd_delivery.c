/* kuractl delivery make --to ID|server [--out DIR] FILE...: a test delivery
 * made offline with kura's own Crypt4GH codec, encrypted to a dataset's
 * delivery key or to the current server key, as the archive would send it
 * (so an import and a mount can be tried without the network or another
 * tool). The codec only encrypts; the files are opened and written here,
 * with the caller's rights when the daemon runs the command. Each output
 * FILE.c4gh appears whole or not at all and never replaces a file. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/c4gh.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"

#define DELIVERY_FILES_MAX 256
#define DELIVERY_MODE 0644      /* ciphertext, as the archive's downloads */

/* DIR/BASE.c4gh, DIR being --out or FILE's own directory. */
static char *output_path(const char *file, const char *outdir)
{
    const char *slash = strrchr(file, '/');
    const char *base = slash ? slash + 1 : file;
    char *out = NULL;
    int n = outdir ? asprintf(&out, "%s/%s.c4gh", outdir, base)
                   : asprintf(&out, "%.*s%s.c4gh", slash ? (int)(slash - file) + 1 : 0, file, base);
    return n < 0 ? NULL : out;
}

/* Encrypts file to pk into out: header, then the payload segment by
 * segment. All of it with the caller's rights, writes and the cleanup of a
 * failed one included: with root's, the file would take blocks kept for
 * root and ignore the caller's quota, and the cleanup would unlink by a
 * path in a directory the caller controls. */
static int make_one(struct cmd_caller *cl, const char *file, const char *out, const uint8_t pk[C4GH_KEY_SIZE],
                    uint64_t *size, struct kura_err *e)
{
    struct kura_atomic a = {.fd = -1};
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int in = -1, rc = -1;
    struct stat st;
    if (cmd_caller_enter(cl, e) != 0)
        return -1;
    if (lstat(out, &st) == 0)
        kura_err_set(e, EEXIST, "%s exists; a delivery never replaces a file", out);
    else if ((in = kura_open_regular(file, 0, NULL, e)) >= 0)
        rc = kura_atomic_begin(&a, out, DELIVERY_MODE, e);
    if (rc != 0)
        goto out;
    rc = -1;
    if (c4gh_header_new(&h, NULL, 0, e) != 0 || c4gh_header_build(h, NULL, pk, 1, &raw, &raw_len, e) != 0 ||
        kura_atomic_write(&a, raw, raw_len, e) != 0 || c4gh_encrypt_stream(h, in, a.fd, size, NULL, NULL, e) != 0) {
        kura_err_prefix(e, "%s", file);
        kura_atomic_abort(&a);
        goto out;
    }
    rc = kura_atomic_commit_new(&a, e);
    if (rc != 0 && e->code == EEXIST)
        kura_err_set(e, EEXIST, "%s appeared meanwhile; a delivery never replaces a file", out);
out:
    cmd_caller_leave(cl);
    if (in >= 0)
        close(in);
    free(raw);
    c4gh_header_free(h);
    return rc;
}

int cmd_delivery_make(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *to = NULL, *outdir = NULL;
    const struct cmd_opt opts[] = {{"to", true, &to, NULL}, {"out", true, &outdir, NULL}, {0}};
    char *pos[DELIVERY_FILES_MAX];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 1, DELIVERY_FILES_MAX, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (!to)
        return cmd_usage(c, "--to is needed: a dataset id (its delivery key) or server (the current server key)");
    const char *ds_id = strcmp(to, "server") == 0 ? NULL : to;
    if (ds_id && kura_id_check(ds_id, "dataset id", &e) != 0)
        return cmd_usage(c, "--to: %s", e.msg);
    char *text = NULL;
    uint8_t pk[C4GH_KEY_SIZE];
    if (cmd_pubkey_text(c, ds_id, &text, &e) != 0 || c4gh_pubkey_parse(text, strlen(text), pk, &e) != 0) {
        free(text);
        return cmd_fail_err(c, &e);
    }
    free(text);
    for (int i = 0; i <= npos; i++) {
        const char *p = i < npos ? pos[i] : outdir;
        if (p && cmd_caller_path_check(c, i < npos ? "" : "--out", p, &e) != 0)
            return cmd_fail_err(c, &e);
    }
    struct cmd_caller cl;
    if (cmd_caller_init(c, &cl, &e) != 0)
        return cmd_fail_err(c, &e);
    int rc = KURA_EXIT_OK;
    for (int i = 0; i < npos && rc == KURA_EXIT_OK; i++) {
        char *out = output_path(pos[i], outdir);
        uint64_t size = 0;
        if (!out)
            rc = cmd_fail(c, "out of memory");
        else if (make_one(&cl, pos[i], out, pk, &size, &e) != 0)
            rc = cmd_fail(c, "%s%s", e.msg,
                          i ? "; the deliveries made before it are whole and stay" : "");
        else
            fprintf(c->out, "%s: %llu bytes encrypted to %s%s\n", out, (unsigned long long)size,
                    ds_id ? "the delivery key of dataset " : "the current server key", ds_id ? ds_id : "");
        free(out);
    }
    cmd_caller_free(&cl);
    return rc;
}
