/* Writes the seed inputs of the Crypt4GH fuzz targets:
 *   c4gh_fuzz_seeds tests/fuzz/corpus/c4gh_header tests/fuzz/corpus/c4gh_keyfile
 * Header seeds are files encrypted to the fixed fuzz key (with edit lists,
 * several recipients, several data keys) and packet lists for the target's
 * "packets" mode; key seeds are key files of each KDF. Encryption is random,
 * so each run writes different (equally valid) seeds. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../fuzz/fuzz_c4gh_common.h"
#include "kura/c4gh.h"
#include "kura/secmem.h"

static uint8_t sk[32], pk[32], sk2[32], pk2[32];

static void die(const char *what, const struct kura_err *err)
{
    fprintf(stderr, "c4gh_fuzz_seeds: %s: %s\n", what, err ? err->msg : strerror(errno));
    exit(1);
}

static void write_seed(const char *dir, const char *name, const void *a, size_t alen, const void *b, size_t blen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/seed-%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0)
        die(path, NULL);
}

/* Mode byte, header and payload of plain_len pattern bytes, as one seed. */
static void file_seed(const char *dir, const char *name, struct c4gh_header *h, const uint8_t *recipients, size_t n,
                      size_t plain_len)
{
    struct kura_err err;
    uint8_t *raw = NULL, *plain = malloc(plain_len + 1);
    size_t raw_len = 0;
    if (!plain)
        die("malloc", NULL);
    for (size_t i = 0; i < plain_len; i++)
        plain[i] = (uint8_t)(i * 7);
    int in = memfd_create("in", 0), out = memfd_create("out", 0);
    if (in < 0 || out < 0 || pwrite(in, plain, plain_len, 0) != (ssize_t)plain_len)
        die("memfd", NULL);
    if (c4gh_header_build(h, sk2, recipients, n, &raw, &raw_len, &err) != 0 ||
        c4gh_encrypt_stream(h, in, out, NULL, NULL, NULL, &err) != 0)
        die(name, &err);
    struct stat st;
    fstat(out, &st);
    uint8_t *file = malloc(1 + raw_len + (size_t)st.st_size);
    if (!file || pread(out, file + 1 + raw_len, (size_t)st.st_size, 0) != st.st_size)
        die("read payload", NULL);
    file[0] = FUZZ_C4GH_MODE_FILE;
    memcpy(file + 1, raw, raw_len);
    write_seed(dir, name, file, 1 + raw_len + (size_t)st.st_size, NULL, 0);
    free(file);
    free(raw);
    free(plain);
    close(in);
    close(out);
}

static void new_file_seed(const char *dir, const char *name, const uint64_t *edits, size_t nedits,
                          const uint8_t *recipients, size_t n, size_t plain_len)
{
    struct kura_err err;
    struct c4gh_header *h = NULL;
    if (c4gh_header_new(&h, edits, nedits, &err) != 0)
        die(name, &err);
    file_seed(dir, name, h, recipients, n, plain_len);
    c4gh_header_free(h);
}

/* A "packets" seed: size byte then u16le length + plaintext per packet. */
struct packets {
    uint8_t buf[4096];
    size_t len;
};

static void packets_start(struct packets *p, unsigned size_units)
{
    p->buf[0] = (uint8_t)(size_units << 1 | FUZZ_C4GH_MODE_PACKETS);
    p->len = 1;
}

static void packets_add(struct packets *p, const uint8_t *plain, size_t len)
{
    p->buf[p->len++] = (uint8_t)len;
    p->buf[p->len++] = (uint8_t)(len >> 8);
    memcpy(p->buf + p->len, plain, len);
    p->len += len;
}

static void put32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static size_t data_packet(uint8_t *b, uint32_t method)
{
    put32(b, 0);
    put32(b + 4, method);
    randombytes_buf(b + 8, 32);
    return 40;
}

static size_t edit_packet(uint8_t *b, const uint64_t *edits, uint32_t n)
{
    put32(b, 1);
    put32(b + 4, n);
    for (uint32_t i = 0; i < n; i++)
        for (int j = 0; j < 8; j++)
            b[8 + 8 * i + (uint32_t)j] = (uint8_t)(edits[i] >> (8 * j));
    return 8 + 8 * (size_t)n;
}

static void header_seeds(const char *dir)
{
    struct kura_err err;
    uint8_t both[64];
    memcpy(both, pk2, 32);
    memcpy(both + 32, pk, 32);
    const uint64_t even[] = {3, 100, 70000, 8}, odd[] = {10, 65536, 5}, small[] = {1, 2};
    new_file_seed(dir, "file-empty", NULL, 0, pk, 1, 0);
    new_file_seed(dir, "file-100", NULL, 0, pk, 1, 100);
    new_file_seed(dir, "file-edits-even", even, 4, pk, 1, 65536 + 5);
    new_file_seed(dir, "file-edits-odd", odd, 3, pk, 1, 2 * 65536 + 7);
    new_file_seed(dir, "file-two-recipients", small, 2, both, 2, 300);
    new_file_seed(dir, "file-other-recipient", NULL, 0, pk2, 1, 50);

    /* Two data keys, one segment under each. */
    struct c4gh_header *h = calloc(1, sizeof *h);
    if (!h || !(h->keys = kura_secure_alloc(64)))
        die("alloc", NULL);
    randombytes_buf(h->keys, 64);
    h->nkeys = 2;
    uint8_t *raw = NULL, *plain = calloc(1, 65536), *file = malloc(1 + 1024 + 2 * 65564);
    size_t raw_len = 0;
    if (!plain || !file || c4gh_header_build(h, sk2, pk, 1, &raw, &raw_len, &err) != 0)
        die("two keys", &err);
    file[0] = FUZZ_C4GH_MODE_FILE;
    memcpy(file + 1, raw, raw_len);
    c4gh_segment_encrypt(h->keys, plain, 65536, file + 1 + raw_len);
    c4gh_segment_encrypt(h->keys + 32, plain, 100, file + 1 + raw_len + 65564);
    write_seed(dir, "file-two-keys", file, 1 + raw_len + 65564 + 128, NULL, 0);
    free(raw);
    free(plain);
    free(file);
    c4gh_header_free(h);

    struct packets p;
    uint8_t b[1024];
    const uint64_t e1[] = {5, 1000, 70000}, e2[] = {0, 65536, 10, 5};
    packets_start(&p, 40);
    packets_add(&p, b, data_packet(b, 0));
    packets_add(&p, b, edit_packet(b, e1, 3));
    write_seed(dir, "packets-edits-odd", p.buf, p.len, NULL, 0);
    packets_start(&p, 30);
    packets_add(&p, b, data_packet(b, 0));
    packets_add(&p, b, edit_packet(b, e2, 4));
    write_seed(dir, "packets-edits-even", p.buf, p.len, NULL, 0);
    packets_start(&p, 3);
    packets_add(&p, b, data_packet(b, 0));
    packets_add(&p, b, data_packet(b, 0));
    write_seed(dir, "packets-two-keys", p.buf, p.len, NULL, 0);
    packets_start(&p, 1);
    packets_add(&p, b, data_packet(b, 1));
    write_seed(dir, "packets-method-1", p.buf, p.len, NULL, 0);
    packets_start(&p, 1);
    packets_add(&p, b, edit_packet(b, e1, 3));
    write_seed(dir, "packets-edits-only", p.buf, p.len, NULL, 0);
    packets_start(&p, 2);
    packets_add(&p, b, data_packet(b, 0));
    packets_add(&p, b, edit_packet(b, e1, 2));
    packets_add(&p, b, edit_packet(b, e2, 2));
    write_seed(dir, "packets-two-edit-lists", p.buf, p.len, NULL, 0);
}

/* PBKDF2-HMAC-SHA256, one block, written independently of the library's. */
static void pbkdf2(const char *pass, const uint8_t salt[16], uint32_t rounds, uint8_t out[32])
{
    uint8_t msg[20], u[32];
    memcpy(msg, salt, 16);
    memcpy(msg + 16, "\0\0\0\1", 4);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)pass, strlen(pass));
    crypto_auth_hmacsha256_update(&st, msg, sizeof msg);
    crypto_auth_hmacsha256_final(&st, u);
    memcpy(out, u, 32);
    for (uint32_t i = 1; i < rounds; i++) {
        crypto_auth_hmacsha256_init(&st, (const uint8_t *)pass, strlen(pass));
        crypto_auth_hmacsha256_update(&st, u, 32);
        crypto_auth_hmacsha256_final(&st, u);
        for (int j = 0; j < 32; j++)
            out[j] ^= u[j];
    }
}

static size_t put_str(uint8_t *b, const void *s, size_t len)
{
    b[0] = (uint8_t)(len >> 8);
    b[1] = (uint8_t)len;
    memcpy(b + 2, s, len);
    return 2 + len;
}

static void armoured_seed(const char *dir, const char *name, const char *label, const uint8_t *blob, size_t len)
{
    char b64[1024], text[2048];
    sodium_bin2base64(b64, sizeof b64, blob, len, sodium_base64_VARIANT_ORIGINAL);
    int n = snprintf(text, sizeof text, "-----BEGIN %s-----\n%s\n-----END %s-----\n", label, b64, label);
    write_seed(dir, name, text, (size_t)n, NULL, 0);
}

/* A sealed private key blob with the given KDF (key derived by derive, or
 * a dummy key for KDFs the library refuses). */
static size_t sealed_blob(uint8_t *blob, const char *kdf, uint32_t rounds, const uint8_t dk[32])
{
    uint8_t opts[20], sealed[60];
    opts[0] = (uint8_t)(rounds >> 24), opts[1] = (uint8_t)(rounds >> 16), opts[2] = (uint8_t)(rounds >> 8);
    opts[3] = (uint8_t)rounds;
    randombytes_buf(opts + 4, 16);
    randombytes_buf(sealed, 12);
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed + 12, NULL, sk, 32, NULL, 0, NULL, sealed, dk);
    size_t n = 7;
    memcpy(blob, "c4gh-v1", 7);
    n += put_str(blob + n, kdf, strlen(kdf));
    n += put_str(blob + n, opts, 20);
    n += put_str(blob + n, "chacha20_poly1305", 17);
    n += put_str(blob + n, sealed, 60);
    return n;
}

static void keyfile_seeds(const char *dir)
{
    struct kura_err err;
    char *pub = c4gh_pubkey_format(pk);
    char *none = c4gh_seckey_format(sk, NULL, "a comment", &err);
    char *scrypt = c4gh_seckey_format(sk, FUZZ_C4GH_PASSPHRASE, NULL, &err);
    if (!pub || !none || !scrypt)
        die("format", &err);
    write_seed(dir, "pubkey", pub, strlen(pub), NULL, 0);
    write_seed(dir, "seckey-none", none, strlen(none), NULL, 0);
    write_seed(dir, "seckey-scrypt", scrypt, strlen(scrypt), NULL, 0);
    /* CRLF line ends and a base64 body split over lines. */
    char crlf[1024];
    size_t n = 0;
    for (const char *c = none; *c && n + 3 < sizeof crlf; c++) {
        if (*c == '\n')
            crlf[n++] = '\r';
        crlf[n++] = *c;
        if (c - none == 60)
            crlf[n++] = '\r', crlf[n++] = '\n';
    }
    write_seed(dir, "seckey-none-crlf", crlf, n, NULL, 0);
    /* PBKDF2 (few rounds, so the fuzzer stays fast) under the older label. */
    uint8_t blob[256], dk[32];
    const uint32_t rounds = 1000;
    n = sealed_blob(blob, "pbkdf2_hmac_sha256", rounds, dk); /* for the salt */
    pbkdf2(FUZZ_C4GH_PASSPHRASE, blob + 7 + 2 + 18 + 2 + 4, rounds, dk);
    uint8_t *sealed = blob + n - 60;
    randombytes_buf(sealed, 12);
    crypto_aead_chacha20poly1305_ietf_encrypt(sealed + 12, NULL, sk, 32, NULL, 0, NULL, sealed, dk);
    armoured_seed(dir, "seckey-pbkdf2", "ENCRYPTED PRIVATE KEY", blob, n);
    memset(dk, 0, sizeof dk);
    n = sealed_blob(blob, "bcrypt", 100, dk);
    armoured_seed(dir, "seckey-bcrypt", "CRYPT4GH PRIVATE KEY", blob, n);
    free(pub);
    c4gh_text_free(none);
    c4gh_text_free(scrypt);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s HEADER_CORPUS_DIR KEYFILE_CORPUS_DIR\n", argv[0]);
        return 2;
    }
    if (kura_secmem_init() != 0)
        die("libsodium", NULL);
    fuzz_c4gh_secret(0, sk);
    fuzz_c4gh_secret(1, sk2);
    c4gh_public_from_secret(sk, pk);
    c4gh_public_from_secret(sk2, pk2);
    header_seeds(argv[1]);
    keyfile_seeds(argv[2]);
    return 0;
}
