/* c4gh_tool: a tiny Crypt4GH command line over kura's engine, for interop
 * tests against other implementations (R-ENC-2). Not installed.
 *   c4gh_tool encrypt --recipient PUB [--recipient PUB...] [--sk SEC] [--edits N,N,...]
 *                     [--passphrase-env VAR] <in >out
 *   c4gh_tool decrypt --sk SEC [--passphrase-env VAR] <in >out
 *   c4gh_tool reencrypt --sk SEC --recipient PUB [--recipient PUB...] [--passphrase-env VAR] <in >out
 *   c4gh_tool keygen SEC PUB [--passphrase-env VAR]
 * --sk for encrypt names the writer key (default: an ephemeral one). The
 * passphrase is read from the environment variable VAR, never from argv. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/c4gh.h"
#include "kura/secmem.h"

#define MAX_RECIPIENTS 16

struct opts {
    const char *sk_path, *passphrase_env, *edits;
    const char *recipients[MAX_RECIPIENTS];
    size_t nrecipients;
    const char *pos[2];
    size_t npos;
};

static int usage(void)
{
    fprintf(stderr,
            "usage: c4gh_tool encrypt --recipient PUB [--recipient PUB...] [--sk SEC] [--edits N,N,...] <in >out\n"
            "       c4gh_tool decrypt --sk SEC <in >out\n"
            "       c4gh_tool reencrypt --sk SEC --recipient PUB [--recipient PUB...] <in >out\n"
            "       c4gh_tool keygen SEC PUB\n"
            "  every command takes --passphrase-env VAR (passphrase of SEC, read from $VAR)\n");
    return 2;
}

static int fail(const char *what, const struct kura_err *err)
{
    fprintf(stderr, "c4gh_tool: %s: %s\n", what, err->msg);
    return 1;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--recipient") == 0 && v && o->nrecipients < MAX_RECIPIENTS)
            o->recipients[o->nrecipients++] = argv[++i];
        else if (strcmp(a, "--sk") == 0 && v)
            o->sk_path = argv[++i];
        else if (strcmp(a, "--passphrase-env") == 0 && v)
            o->passphrase_env = argv[++i];
        else if (strcmp(a, "--edits") == 0 && v)
            o->edits = argv[++i];
        else if (a[0] != '-' && o->npos < 2)
            o->pos[o->npos++] = a;
        else
            return -1;
    }
    return 0;
}

static const char *passphrase(const struct opts *o)
{
    return o->passphrase_env ? getenv(o->passphrase_env) : NULL;
}

/* Secret key in secure memory, or NULL (reported). */
static uint8_t *load_sk(const struct opts *o)
{
    struct kura_err err = {0};
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    if (!sk) {
        fprintf(stderr, "c4gh_tool: out of secure memory\n");
        return NULL;
    }
    if (c4gh_seckey_load(o->sk_path, passphrase(o), sk, &err) != 0) {
        fail(o->sk_path, &err);
        kura_secure_free(sk);
        return NULL;
    }
    return sk;
}

static int load_recipients(const struct opts *o, uint8_t *pks)
{
    struct kura_err err = {0};
    for (size_t i = 0; i < o->nrecipients; i++)
        if (c4gh_pubkey_load(o->recipients[i], pks + i * C4GH_KEY_SIZE, &err) != 0)
            return fail(o->recipients[i], &err);
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            perror("c4gh_tool: write");
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* kura's reader uses pread, so a piped stdin is first copied into a memfd
 * (ciphertext only). Returns a seekable fd positioned at 0. */
static int seekable_stdin(void)
{
    if (lseek(0, 0, SEEK_SET) == 0)
        return 0;
    int fd = memfd_create("c4gh_tool-input", MFD_CLOEXEC);
    if (fd < 0) {
        perror("c4gh_tool: memfd_create");
        return -1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0)
        if (write_all(fd, buf, (size_t)n) != 0)
            break;
    if (n != 0 || lseek(fd, 0, SEEK_SET) != 0) {
        perror("c4gh_tool: read stdin");
        close(fd);
        return -1;
    }
    return fd;
}

/* "--edits 10,20,30" -> lengths; *n = 0 when absent. */
static int parse_edits(const char *s, uint64_t *edits, size_t *n)
{
    *n = 0;
    while (s && *s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || (*end && *end != ',') || *n >= C4GH_MAX_EDITS || s[0] == '-')
            return -1;
        edits[(*n)++] = v;
        s = *end ? end + 1 : end;
    }
    return 0;
}

static int cmd_encrypt(const struct opts *o)
{
    static uint64_t edits[C4GH_MAX_EDITS];
    uint8_t pks[MAX_RECIPIENTS * C4GH_KEY_SIZE];
    struct kura_err err = {0};
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL, *writer = NULL;
    size_t raw_len = 0, nedits = 0;
    int rc = 1;
    if (o->nrecipients == 0 || o->npos || parse_edits(o->edits, edits, &nedits) != 0)
        return usage();
    if (load_recipients(o, pks) != 0 || (o->sk_path && !(writer = load_sk(o))))
        return 1;
    if (c4gh_header_new(&h, nedits ? edits : NULL, nedits, &err) != 0 ||
        c4gh_header_build(h, writer, pks, o->nrecipients, &raw, &raw_len, &err) != 0) {
        fail("header", &err);
        goto out;
    }
    if (write_all(1, raw, raw_len) != 0)
        goto out;
    if (c4gh_encrypt_stream(h, 0, 1, NULL, NULL, NULL, &err) != 0) {
        fail("encrypt", &err);
        goto out;
    }
    rc = 0;
out:
    free(raw);
    c4gh_header_free(h);
    kura_secure_free(writer);
    return rc;
}

static int cmd_decrypt(const struct opts *o)
{
    struct kura_err err = {0};
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL, *sk;
    size_t raw_len = 0;
    int rc = 1;
    if (!o->sk_path || o->nrecipients || o->npos || o->edits)
        return usage();
    int fd = seekable_stdin();
    if (fd < 0 || !(sk = load_sk(o)))
        return 1;
    if (c4gh_header_read(fd, &raw, &raw_len, &err) != 0 || c4gh_header_open(raw, raw_len, sk, NULL, &h, &err) != 0) {
        fail("header", &err);
        goto out;
    }
    if (lseek(fd, (off_t)raw_len, SEEK_SET) < 0 || c4gh_decrypt_stream(h, fd, 1, &err) != 0) {
        fail("decrypt", &err);
        goto out;
    }
    rc = 0;
out:
    free(raw);
    c4gh_header_free(h);
    kura_secure_free(sk);
    return rc;
}

static int cmd_reencrypt(const struct opts *o)
{
    uint8_t pks[MAX_RECIPIENTS * C4GH_KEY_SIZE];
    struct kura_err err = {0};
    uint8_t *raw = NULL, *out = NULL, *sk = NULL;
    size_t raw_len = 0, out_len = 0;
    int rc = 1;
    if (!o->sk_path || o->nrecipients == 0 || o->npos || o->edits)
        return usage();
    int fd = seekable_stdin();
    if (fd < 0 || load_recipients(o, pks) != 0 || !(sk = load_sk(o)))
        goto out;
    if (c4gh_header_read(fd, &raw, &raw_len, &err) != 0 ||
        c4gh_header_reencrypt(raw, raw_len, sk, pks, o->nrecipients, &out, &out_len, &err) != 0) {
        fail("header", &err);
        goto out;
    }
    if (write_all(1, out, out_len) != 0)
        goto out;
    char buf[65536];
    ssize_t n;
    off_t off = (off_t)raw_len;
    while ((n = pread(fd, buf, sizeof buf, off)) > 0) {
        if (write_all(1, buf, (size_t)n) != 0)
            goto out;
        off += n;
    }
    rc = n == 0 ? 0 : 1;
out:
    free(raw);
    free(out);
    kura_secure_free(sk);
    return rc;
}

static int write_new_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "c4gh_tool: create %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = write_all(fd, text, strlen(text));
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

static int cmd_keygen(const struct opts *o)
{
    struct kura_err err = {0};
    uint8_t pk[C4GH_KEY_SIZE];
    char *sec_text = NULL, *pub_text = NULL;
    int rc = 1;
    if (o->npos != 2 || o->sk_path || o->nrecipients || o->edits)
        return usage();
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    if (!sk)
        return 1;
    c4gh_keygen(sk, pk);
    sec_text = c4gh_seckey_format(sk, passphrase(o), "c4gh_tool", &err);
    pub_text = c4gh_pubkey_format(pk);
    if (!sec_text || !pub_text) {
        fail("format key", &err);
        goto out;
    }
    if (write_new_file(o->pos[0], sec_text, 0600) == 0 && write_new_file(o->pos[1], pub_text, 0644) == 0)
        rc = 0;
out:
    c4gh_text_free(sec_text);
    free(pub_text);
    kura_secure_free(sk);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    if (argc < 2 || parse_opts(argc, argv, &o) != 0)
        return usage();
    if (kura_secmem_init() != 0) {
        fprintf(stderr, "c4gh_tool: libsodium does not start\n");
        return 1;
    }
    if (strcmp(argv[1], "encrypt") == 0)
        return cmd_encrypt(&o);
    if (strcmp(argv[1], "decrypt") == 0)
        return cmd_decrypt(&o);
    if (strcmp(argv[1], "reencrypt") == 0)
        return cmd_reencrypt(&o);
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(&o);
    return usage();
}
