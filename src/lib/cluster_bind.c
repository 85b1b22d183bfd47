/* A state directory's cluster binding (include/kura/cluster.h): the id
 * kuractl cluster init records in it, and the host identity its datasets
 * are bound to in cluster mode. Files only: no database here. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/cluster.h"
#include "kura/fsutil.h"
#include "kura/layout.h"

static bool id_valid(const char *s, size_t len)
{
    if (len != KURA_CLUSTER_ID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int kura_cluster_id_load(const char *state_dir, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err)
{
    id[0] = '\0';
    char *path = kura_layout_join(state_dir, KURA_CLUSTER_ID_FILE);
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    struct kura_err rerr = {0};
    int rc = kura_read_file(path, 256, &text, &len, &rerr);
    if (rc != 0) {
        /* Not bound, or not ours to read (a user's kuractl: it asks the
         * daemon, which reads it as root). */
        rc = rerr.code == ENOENT || rerr.code == EACCES ? 0 : -1;
        if (rc != 0)
            kura_err_set(err, rerr.code, "%s", rerr.msg);
    } else if (len > 0 && text[len - 1] == '\n' && id_valid(text, len - 1)) {
        memcpy(id, text, KURA_CLUSTER_ID_LEN);
        id[KURA_CLUSTER_ID_LEN] = '\0';
        rc = 1;
    } else {
        kura_err_set(err, EINVAL, "%s: not a cluster id (%d lowercase hex digits and a line end)", path,
                     KURA_CLUSTER_ID_LEN);
        rc = -1;
    }
    free(text);
    free(path);
    return rc;
}

int kura_cluster_bind(const char *state_dir, const char *id, struct kura_err *err)
{
    if (!id_valid(id, strlen(id))) {
        kura_err_set(err, EINVAL, "\"%s\" is not a cluster id", id);
        return -1;
    }
    char have[KURA_CLUSTER_ID_LEN + 1];
    int bound = kura_cluster_id_load(state_dir, have, err);
    if (bound < 0)
        return -1;
    if (bound == 1) {
        if (strcmp(have, id) == 0)
            return 0;
        kura_err_set(err, EEXIST, "the state directory %s belongs to cluster %s, not to this database's cluster %s",
                     state_dir, have, id);
        return -1;
    }
    char *path = kura_layout_join(state_dir, KURA_CLUSTER_ID_FILE);
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    char line[KURA_CLUSTER_ID_LEN + 2];
    snprintf(line, sizeof line, "%s\n", id);
    /* Checked, then written by rename (all a shared file system is
     * relied on for): a binding is made once, by the operator's init. */
    int rc = kura_write_file_atomic(path, line, KURA_CLUSTER_ID_LEN + 1, 0644, err);
    free(path);
    return rc;
}

void kura_cluster_host_id(const char *id, char host_id[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"kura cluster ", 13);
    crypto_hash_sha256_update(&st, (const unsigned char *)id, strlen(id));
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(host_id, 65, h, sizeof h);
}
