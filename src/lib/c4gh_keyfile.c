/* Key files on disk: bounded reads (secret key text into secure memory) and
 * exclusive, durable creation with exact permissions. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "c4gh_priv.h"
#include "kura/secmem.h"

/* Reads at most C4GH_MAX_KEYFILE_SIZE bytes; secret text goes to secure memory. */
static char *read_key_file(const char *path, bool secret, size_t *len, struct kura_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        kura_err_set(err, errno, "cannot open key file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kura_err_set(err, EINVAL, "key file %s is not a regular file", path);
        close(fd);
        return NULL;
    }
    size_t cap = C4GH_MAX_KEYFILE_SIZE + 1;
    char *text = secret ? kura_secure_alloc(cap) : malloc(cap);
    if (!text) {
        kura_err_set(err, ENOMEM, "out of memory reading key file %s", path);
        close(fd);
        return NULL;
    }
    ssize_t got = c4gh_read_full(fd, text, cap);
    int saved = errno;
    close(fd);
    if (got < 0 || (size_t)got == cap) {
        if (got < 0)
            kura_err_set(err, saved, "cannot read key file %s: %s", path, strerror(saved));
        else
            kura_err_set(err, EINVAL, "key file %s is larger than %d bytes, not a key file", path,
                         C4GH_MAX_KEYFILE_SIZE);
        if (secret)
            kura_secure_free(text);
        else
            free(text);
        return NULL;
    }
    *len = (size_t)got;
    return text;
}

int c4gh_pubkey_load(const char *path, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    size_t len;
    char *text = read_key_file(path, false, &len, err);
    if (!text)
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
    char *text = read_key_file(path, true, &len, err);
    if (!text)
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
    char *text = read_key_file(path, true, &len, err);
    if (!text)
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

/* fsync of the directory holding path, so a new entry survives a crash. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int write_key_file(const char *path, const char *text, mode_t mode, struct kura_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            kura_err_set(err, EEXIST, "key file %s already exists; refusing to overwrite it", path);
        else
            kura_err_set(err, errno, "cannot create key file %s: %s", path, strerror(errno));
        return -1;
    }
    /* The umask must not loosen (or tighten) what the caller asked for. */
    if (fchmod(fd, mode) != 0 || c4gh_write_full(fd, text, strlen(text)) != 0 || fsync(fd) != 0) {
        kura_err_set(err, errno, "cannot write key file %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (close(fd) != 0 || sync_parent(path) != 0) {
        kura_err_set(err, errno, "cannot write key file %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
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
