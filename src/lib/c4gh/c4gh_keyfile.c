/* Key files on disk: bounded reads (secret key text into secure memory) and
 * exclusive, durable creation with exact permissions, with fsutil's readers
 * and writer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "c4gh_priv.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"

int c4gh_pubkey_load(const char *path, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    size_t len;
    char *text;
    if (kura_read_file(path, C4GH_MAX_KEYFILE_SIZE, &text, &len, err) != 0)
        return -1;
    int rc = c4gh_pubkey_parse(text, len, pk, err);
    free(text);
    if (rc != 0)
        kura_err_prefix(err, "%s", path);
    return rc;
}

int c4gh_seckey_load(const char *path, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE], struct kura_err *err)
{
    size_t len;
    char *text;
    if (kura_read_secret_file(path, C4GH_MAX_KEYFILE_SIZE, &text, &len, err) != 0)
        return -1;
    int rc = c4gh_seckey_parse(text, len, passphrase, sk, err);
    kura_secure_free(text);
    if (rc != 0)
        kura_err_prefix(err, "%s", path);
    return rc;
}

int c4gh_seckey_is_encrypted(const char *path, bool *encrypted, struct kura_err *err)
{
    size_t len, blob_len;
    uint8_t *blob;
    struct c4gh_seckey_fields f;
    char *text;
    if (kura_read_secret_file(path, C4GH_MAX_KEYFILE_SIZE, &text, &len, err) != 0)
        return -1;
    int rc = c4gh_seckey_decode(text, len, &blob, &blob_len, err);
    kura_secure_free(text);
    if (rc == 0) {
        rc = c4gh_seckey_read_fields(blob, blob_len, &f, err);
        kura_secure_free(blob);
    }
    if (rc != 0) {
        kura_err_prefix(err, "%s", path);
        return -1;
    }
    *encrypted = f.kdf != C4GH_KDF_NONE;
    return 0;
}

static int write_key_file(const char *path, const char *text, mode_t mode, struct kura_err *err)
{
    if (kura_write_file_new(path, text, strlen(text), mode, err) == 0)
        return 0;
    if (err && err->code == EEXIST)
        kura_err_set(err, EEXIST, "key file %s already exists; refusing to overwrite it", path);
    return -1;
}

int c4gh_pubkey_save(const char *path, const uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    char *text = c4gh_pubkey_format(pk);
    if (!text) {
        kura_err_set(err, ENOMEM, "out of memory formatting a public key");
        return -1;
    }
    int rc = write_key_file(path, text, 0644, err);
    free(text);
    return rc;
}

int c4gh_seckey_save(const char *path, const uint8_t sk[C4GH_KEY_SIZE], const char *passphrase,
                     const char *comment, struct kura_err *err)
{
    char *text = c4gh_seckey_format(sk, passphrase, comment, err);
    if (!text)
        return -1;
    int rc = write_key_file(path, text, 0600, err);
    c4gh_text_free(text);
    return rc;
}

void c4gh_text_free(char *text)
{
    kura_secure_free(text); /* wipes; NULL is fine */
}
