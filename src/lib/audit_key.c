/* The log key: 32 random bytes that MAC every audit record, kept in a 0600
 * file `kuractl init` creates. As text: "kura-audit-key-v1 <64 hex>\n". */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"

#define MAGIC "kura-audit-key-v1 "
#define FILE_LEN (sizeof MAGIC - 1 + 2 * KURA_AUDIT_KEY_LEN + 1)

int kura_audit_key_generate(const char *path, struct kura_err *err)
{
    unsigned char *key = kura_secure_alloc(KURA_AUDIT_KEY_LEN);
    char *text = kura_secure_alloc(FILE_LEN + 1);
    int rc = -1;
    if (!key || !text) {
        kura_err_set(err, ENOMEM, "cannot allocate locked memory for the log key");
        goto out;
    }
    randombytes_buf(key, KURA_AUDIT_KEY_LEN);
    memcpy(text, MAGIC, sizeof MAGIC - 1);
    sodium_bin2hex(text + sizeof MAGIC - 1, 2 * KURA_AUDIT_KEY_LEN + 1, key, KURA_AUDIT_KEY_LEN);
    text[FILE_LEN - 1] = '\n';
    rc = kura_write_file_new(path, text, FILE_LEN, 0600, err);
    if (rc != 0)
        kura_err_prefix(err, "log key");
out:
    kura_secure_free(key);
    kura_secure_free(text);
    return rc;
}

unsigned char *kura_audit_key_load(const char *path, struct kura_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        kura_err_set(err, errno, "open log key %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    char *text = kura_secure_alloc(FILE_LEN + 1);
    unsigned char *key = kura_secure_alloc(KURA_AUDIT_KEY_LEN);
    ssize_t n = -1;
    size_t bin_len = 0;
    const char *end;
    if (!text || !key) {
        kura_err_set(err, ENOMEM, "cannot allocate locked memory for the log key");
    } else if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kura_err_set(err, EINVAL, "log key %s is not a regular file", path);
    } else if (st.st_mode & 077) {
        kura_err_set(err, EACCES, "log key %s is open to others (mode %04o): chmod 600 %s", path,
                     (unsigned)(st.st_mode & 07777), path);
    } else if (st.st_uid != geteuid() && st.st_uid != 0) {
        kura_err_set(err, EACCES, "log key %s belongs to uid %u, not to root or this user", path,
                     (unsigned)st.st_uid);
    } else if ((n = read(fd, text, FILE_LEN + 1)) != (ssize_t)FILE_LEN || memcmp(text, MAGIC, sizeof MAGIC - 1) != 0 ||
               text[FILE_LEN - 1] != '\n' ||
               sodium_hex2bin(key, KURA_AUDIT_KEY_LEN, text + sizeof MAGIC - 1, 2 * KURA_AUDIT_KEY_LEN, NULL,
                              &bin_len, &end) != 0 ||
               bin_len != KURA_AUDIT_KEY_LEN || end != text + FILE_LEN - 1) {
        kura_err_set(err, EINVAL, "log key %s is not a kura log key (made by `kuractl init`)", path);
    } else {
        close(fd);
        kura_secure_free(text);
        return key;
    }
    close(fd);
    kura_secure_free(text);
    kura_secure_free(key);
    return NULL;
}
