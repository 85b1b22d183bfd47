/* Crypt4GH key pairs and their armoured text form (the reference tool's
 * crypt4gh-keygen format). The text of a private key is hostile input like
 * any file: every string length is checked, and the decoded key material
 * only ever sits in secure memory. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "c4gh_priv.h"
#include "kura/secmem.h"

#define MAGIC "c4gh-v1"
#define MAGIC_LEN 7
#define SALT_SIZE 16
#define KDF_OPTIONS_SIZE (4 + SALT_SIZE)
#define SEALED_KEY_SIZE (C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE)
#define SCRYPT_N (1ull << 14)
#define SCRYPT_R 8
#define SCRYPT_P 1

static const char pub_label[] = "CRYPT4GH PUBLIC KEY";
static const char sec_label[] = "CRYPT4GH PRIVATE KEY";
/* Older crypt4gh releases armour encrypted keys with this label. */
static const char sec_label_old[] = "ENCRYPTED PRIVATE KEY";

void c4gh_keygen(uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE])
{
    randombytes_buf(sk, C4GH_KEY_SIZE);
    c4gh_public_from_secret(sk, pk);
}

void c4gh_public_from_secret(const uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE])
{
    /* X25519 of a clamped scalar and the base point is never the identity,
     * so this cannot fail; stop rather than hand out an unusable key. */
    if (crypto_scalarmult_base(pk, sk) != 0)
        abort();
}

/* ---- armour ------------------------------------------------------------------ */

/* Copies untrusted text into a message: printable ASCII only, bounded. */
static void printable(char *out, size_t outsz, const uint8_t *s, size_t len)
{
    size_t n = 0, i;
    for (i = 0; i < len && n + 4 < outsz; i++)
        out[n++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' ? (char)s[i] : '?';
    if (i < len) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Finds "-----BEGIN <label>-----" ... "-----END <label>-----" (only
 * whitespace around) and returns the body between them. */
static int armour_body(const char *text, size_t len, const char **labels, size_t nlabels, const char *what,
                       const char **body, size_t *body_len, struct kura_err *err)
{
    static const char begin[] = "-----BEGIN ", end[] = "-----END ", dashes[] = "-----";
    if (len > C4GH_MAX_KEYFILE_SIZE) {
        kura_err_set(err, EINVAL, "%s: %zu bytes, larger than any key file (%d)", what, len,
                     C4GH_MAX_KEYFILE_SIZE);
        return -1;
    }
    if (memchr(text, '\0', len)) {
        kura_err_set(err, EINVAL, "%s: contains a NUL byte, not a key file", what);
        return -1;
    }
    size_t pos = 0;
    while (pos < len && is_space(text[pos]))
        pos++;
    if (len - pos < sizeof begin - 1 || memcmp(text + pos, begin, sizeof begin - 1) != 0) {
        kura_err_set(err, EINVAL, "%s: no '-----BEGIN' armour line", what);
        return -1;
    }
    pos += sizeof begin - 1;
    const char *label = text + pos, *eol = memchr(label, '\n', len - pos);
    size_t line = eol ? (size_t)(eol - label) : len - pos;
    while (line > 0 && is_space(label[line - 1]))
        line--;
    if (line < sizeof dashes - 1 || memcmp(label + line - (sizeof dashes - 1), dashes, sizeof dashes - 1) != 0 ||
        !eol) {
        kura_err_set(err, EINVAL, "%s: malformed '-----BEGIN' armour line", what);
        return -1;
    }
    size_t label_len = line - (sizeof dashes - 1);
    size_t which = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        if (strlen(labels[i]) == label_len && memcmp(label, labels[i], label_len) == 0)
            which = i;
    if (which == nlabels) {
        char shown[48];
        printable(shown, sizeof shown, (const uint8_t *)label, label_len);
        kura_err_set(err, EINVAL, "%s: armour says '%s', expected '%s'", what, shown, labels[0]);
        return -1;
    }
    pos = (size_t)(eol - text) + 1;
    const char *stop = memmem(text + pos, len - pos, end, sizeof end - 1);
    if (!stop) {
        kura_err_set(err, EINVAL, "%s: no '-----END' armour line (truncated?)", what);
        return -1;
    }
    *body = text + pos;
    *body_len = (size_t)(stop - *body);
    size_t after = (size_t)(stop - text) + sizeof end - 1, want = strlen(labels[which]);
    if (len - after < want + sizeof dashes - 1 || memcmp(text + after, labels[which], want) != 0 ||
        memcmp(text + after + want, dashes, sizeof dashes - 1) != 0) {
        kura_err_set(err, EINVAL, "%s: '-----END' armour line does not match '-----BEGIN %s-----'", what,
                     labels[which]);
        return -1;
    }
    for (after += want + sizeof dashes - 1; after < len; after++)
        if (!is_space(text[after])) {
            kura_err_set(err, EINVAL, "%s: text after the '-----END' armour line", what);
            return -1;
        }
    return 0;
}

/* Room for any base64 decoding of len text bytes. */
static size_t decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

/* Decodes the armoured base64 body into out (decoded_max(len) bytes). */
static int armour_decode(const char *text, size_t len, const char **labels, size_t nlabels, const char *what,
                         uint8_t *out, size_t *out_len, struct kura_err *err)
{
    const char *body;
    size_t body_len;
    if (armour_body(text, len, labels, nlabels, what, &body, &body_len, err) != 0)
        return -1;
    if (sodium_base642bin(out, decoded_max(len), body, body_len, " \t\r\n", out_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0) {
        kura_err_set(err, EINVAL, "%s: invalid base64 between the armour lines", what);
        return -1;
    }
    return 0;
}

/* The text of a secret key goes to secure memory (free it with c4gh_text_free). */
static char *armour_encode(const char *label, const uint8_t *bin, size_t bin_len, bool secret)
{
    size_t b64 = sodium_base64_ENCODED_LEN(bin_len, sodium_base64_VARIANT_ORIGINAL);
    size_t total = 2 * strlen(label) + b64 + 64;
    char *text = secret ? kura_secure_alloc(total) : malloc(total);
    if (!text)
        return NULL;
    size_t n = (size_t)snprintf(text, total, "-----BEGIN %s-----\n", label);
    sodium_bin2base64(text + n, b64, bin, bin_len, sodium_base64_VARIANT_ORIGINAL);
    n += strlen(text + n);
    snprintf(text + n, total - n, "\n-----END %s-----\n", label);
    return text;
}

/* ---- public keys -------------------------------------------------------------- */

int c4gh_pubkey_parse(const char *text, size_t len, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    const char *labels[] = {pub_label};
    size_t got;
    uint8_t *buf = malloc(decoded_max(len));
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory decoding a public key");
        return -1;
    }
    int rc = armour_decode(text, len, labels, 1, "public key", buf, &got, err);
    if (rc == 0 && got != C4GH_KEY_SIZE) {
        kura_err_set(err, EINVAL, "public key: %zu bytes of key data, expected %d", got, C4GH_KEY_SIZE);
        rc = -1;
    }
    if (rc == 0)
        memcpy(pk, buf, C4GH_KEY_SIZE);
    free(buf);
    return rc;
}

char *c4gh_pubkey_format(const uint8_t pk[C4GH_KEY_SIZE])
{
    return armour_encode(pub_label, pk, C4GH_KEY_SIZE, false);
}

/* ---- private keys: structure -------------------------------------------------- */

struct cursor {
    const uint8_t *p;
    size_t left;
};

static int take_string(struct cursor *c, const uint8_t **s, size_t *len, const char *field, struct kura_err *err)
{
    if (c->left < 2) {
        kura_err_set(err, EINVAL, "private key: truncated before the %s", field);
        return -1;
    }
    size_t n = kura_be16(c->p);
    if (n > c->left - 2) {
        kura_err_set(err, EINVAL, "private key: %s is %zu bytes but only %zu remain (truncated)", field, n,
                     c->left - 2);
        return -1;
    }
    *s = c->p + 2;
    *len = n;
    c->p += 2 + n;
    c->left -= 2 + n;
    return 0;
}

static bool str_is(const uint8_t *s, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(s, lit, len) == 0;
}

int c4gh_seckey_read_fields(const uint8_t *blob, size_t len, struct c4gh_seckey_fields *f, struct kura_err *err)
{
    struct cursor c = {blob, len};
    const uint8_t *kdf, *cipher, *comment;
    size_t kdf_len, cipher_len, comment_len;
    char shown[48];
    memset(f, 0, sizeof *f);
    if (len < MAGIC_LEN || memcmp(blob, MAGIC, MAGIC_LEN) != 0) {
        kura_err_set(err, EINVAL, "private key: not a Crypt4GH key (no 'c4gh-v1' magic; OpenSSH keys are not supported)");
        return -1;
    }
    c.p += MAGIC_LEN;
    c.left -= MAGIC_LEN;
    if (take_string(&c, &kdf, &kdf_len, "KDF name", err) != 0)
        return -1;
    if (str_is(kdf, kdf_len, "none"))
        f->kdf = C4GH_KDF_NONE;
    else if (str_is(kdf, kdf_len, "scrypt"))
        f->kdf = C4GH_KDF_SCRYPT;
    else if (str_is(kdf, kdf_len, "pbkdf2_hmac_sha256"))
        f->kdf = C4GH_KDF_PBKDF2;
    else {
        printable(shown, sizeof shown, kdf, kdf_len);
        kura_err_set(err, ENOTSUP, "private key: unsupported KDF '%s' (supported: none, scrypt, pbkdf2_hmac_sha256)",
                     shown);
        return -1;
    }
    if (f->kdf != C4GH_KDF_NONE) {
        const uint8_t *opts;
        size_t opts_len;
        if (take_string(&c, &opts, &opts_len, "KDF options", err) != 0)
            return -1;
        if (opts_len != KDF_OPTIONS_SIZE) {
            kura_err_set(err, EINVAL, "private key: KDF options are %zu bytes, expected %d (rounds and salt)",
                         opts_len, KDF_OPTIONS_SIZE);
            return -1;
        }
        f->rounds = kura_be32(opts);
        f->salt = opts + 4;
        if (f->kdf == C4GH_KDF_PBKDF2 && (f->rounds == 0 || f->rounds > C4GH_PBKDF2_MAX_ROUNDS)) {
            kura_err_set(err, EINVAL, "private key: pbkdf2 rounds %u outside 1..%d", f->rounds,
                         C4GH_PBKDF2_MAX_ROUNDS);
            return -1;
        }
    }
    if (take_string(&c, &cipher, &cipher_len, "cipher name", err) != 0)
        return -1;
    bool plain = str_is(cipher, cipher_len, "none");
    if (!plain && !str_is(cipher, cipher_len, "chacha20_poly1305")) {
        printable(shown, sizeof shown, cipher, cipher_len);
        kura_err_set(err, ENOTSUP, "private key: unsupported cipher '%s' (supported: chacha20_poly1305)", shown);
        return -1;
    }
    if (plain != (f->kdf == C4GH_KDF_NONE)) {
        kura_err_set(err, EINVAL, "private key: KDF and cipher disagree on whether the key is encrypted");
        return -1;
    }
    if (take_string(&c, &f->data, &f->data_len, "key data", err) != 0)
        return -1;
    size_t want = plain ? C4GH_KEY_SIZE : SEALED_KEY_SIZE;
    if (f->data_len != want) {
        kura_err_set(err, EINVAL, "private key: key data is %zu bytes, expected %zu", f->data_len, want);
        return -1;
    }
    if (c.left > 0 && take_string(&c, &comment, &comment_len, "comment", err) != 0)
        return -1;
    if (c.left > 0) {
        kura_err_set(err, EINVAL, "private key: %zu unexpected bytes after the comment", c.left);
        return -1;
    }
    return 0;
}

/* ---- private keys: passphrases ------------------------------------------------- */

/* PBKDF2-HMAC-SHA256 for one 32-byte block (RFC 8018), the HMAC key
 * schedule computed once. All state in secure memory. */
static int pbkdf2_sha256(const char *pass, const uint8_t *salt, uint32_t rounds, uint8_t out[32])
{
    struct state {
        crypto_auth_hmacsha256_state keyed, work;
        uint8_t u[crypto_auth_hmacsha256_BYTES];
    } *s = kura_secure_alloc(sizeof *s);
    static const uint8_t block1[4] = {0, 0, 0, 1};
    if (!s)
        return -1;
    crypto_auth_hmacsha256_init(&s->keyed, (const uint8_t *)pass, strlen(pass));
    s->work = s->keyed;
    crypto_auth_hmacsha256_update(&s->work, salt, SALT_SIZE);
    crypto_auth_hmacsha256_update(&s->work, block1, sizeof block1);
    crypto_auth_hmacsha256_final(&s->work, s->u);
    memcpy(out, s->u, 32);
    for (uint32_t i = 1; i < rounds; i++) {
        s->work = s->keyed;
        crypto_auth_hmacsha256_update(&s->work, s->u, sizeof s->u);
        crypto_auth_hmacsha256_final(&s->work, s->u);
        for (size_t j = 0; j < 32; j++)
            out[j] ^= s->u[j];
    }
    kura_secure_free(s);
    return 0;
}

static int derive_key(const struct c4gh_seckey_fields *f, const char *pass, uint8_t dk[32], struct kura_err *err)
{
    int rc;
    if (f->kdf == C4GH_KDF_SCRYPT)
        rc = crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pass, strlen(pass), f->salt, SALT_SIZE, SCRYPT_N,
                                                   SCRYPT_R, SCRYPT_P, dk, 32);
    else
        rc = pbkdf2_sha256(pass, f->salt, f->rounds, dk);
    if (rc != 0)
        kura_err_set(err, ENOMEM, "private key: key derivation failed (out of memory)");
    return rc;
}

int c4gh_seckey_unlock(const struct c4gh_seckey_fields *f, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE],
                       struct kura_err *err)
{
    if (f->kdf == C4GH_KDF_NONE) {
        memcpy(sk, f->data, C4GH_KEY_SIZE);
        return 0;
    }
    if (!passphrase) {
        kura_err_set(err, EACCES, "private key is passphrase-protected: a passphrase is needed");
        return -1;
    }
    uint8_t *dk = kura_secure_alloc(32);
    if (!dk) {
        kura_err_set(err, ENOMEM, "out of secure memory unlocking the private key");
        return -1;
    }
    int rc = derive_key(f, passphrase, dk, err);
    if (rc == 0 && crypto_aead_chacha20poly1305_ietf_decrypt(sk, NULL, NULL, f->data + C4GH_NONCE_SIZE,
                                                             f->data_len - C4GH_NONCE_SIZE, NULL, 0, f->data,
                                                             dk) != 0) {
        kura_err_set(err, EACCES, "wrong passphrase for the private key (or the key file is corrupted)");
        rc = -1;
    }
    kura_secure_free(dk);
    return rc;
}

int c4gh_seckey_decode(const char *text, size_t len, uint8_t **blob, size_t *blob_len, struct kura_err *err)
{
    const char *labels[] = {sec_label, sec_label_old};
    *blob = kura_secure_alloc(decoded_max(len));
    if (!*blob) {
        kura_err_set(err, ENOMEM, "out of secure memory decoding the private key");
        return -1;
    }
    if (armour_decode(text, len, labels, 2, "private key", *blob, blob_len, err) != 0) {
        kura_secure_free(*blob);
        *blob = NULL;
        return -1;
    }
    return 0;
}

int c4gh_seckey_parse(const char *text, size_t len, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE],
                      struct kura_err *err)
{
    uint8_t *blob;
    size_t blob_len;
    struct c4gh_seckey_fields f;
    if (c4gh_seckey_decode(text, len, &blob, &blob_len, err) != 0)
        return -1;
    int rc = c4gh_seckey_read_fields(blob, blob_len, &f, err);
    if (rc == 0)
        rc = c4gh_seckey_unlock(&f, passphrase, sk, err);
    kura_secure_free(blob);
    return rc;
}

static void put_string(uint8_t *p, size_t *pos, const void *s, size_t len)
{
    kura_put_be16(p + *pos, (uint16_t)len);
    *pos += 2;
    memcpy(p + *pos, s, len);
    *pos += len;
}

char *c4gh_seckey_format(const uint8_t sk[C4GH_KEY_SIZE], const char *passphrase, const char *comment,
                         struct kura_err *err)
{
    size_t comment_len = comment ? strlen(comment) : 0;
    if (comment_len > 0xffff) {
        kura_err_set(err, EINVAL, "private key comment is %zu bytes, at most 65535 fit", comment_len);
        return NULL;
    }
    bool encrypt = passphrase && passphrase[0];
    /* Secure scratch: derived key, sealed key, and the blob itself. */
    size_t blob_max = MAGIC_LEN + 6 * 2 + 32 + KDF_OPTIONS_SIZE + 32 + SEALED_KEY_SIZE + comment_len;
    uint8_t *scratch = kura_secure_alloc(32 + SEALED_KEY_SIZE + blob_max);
    if (!scratch) {
        kura_err_set(err, ENOMEM, "out of secure memory formatting the private key");
        return NULL;
    }
    uint8_t *dk = scratch, *sealed = dk + 32, *blob = sealed + SEALED_KEY_SIZE;
    size_t pos = MAGIC_LEN;
    memcpy(blob, MAGIC, MAGIC_LEN);
    if (encrypt) {
        struct c4gh_seckey_fields f = {.kdf = C4GH_KDF_SCRYPT};
        uint8_t opts[KDF_OPTIONS_SIZE] = {0}; /* rounds 0: scrypt has fixed parameters */
        randombytes_buf(opts + 4, SALT_SIZE);
        f.salt = opts + 4;
        if (derive_key(&f, passphrase, dk, err) != 0) {
            kura_secure_free(scratch);
            return NULL;
        }
        randombytes_buf(sealed, C4GH_NONCE_SIZE);
        if (crypto_aead_chacha20poly1305_ietf_encrypt(sealed + C4GH_NONCE_SIZE, NULL, sk, C4GH_KEY_SIZE, NULL, 0,
                                                      NULL, sealed, dk) != 0) {
            kura_err_set(err, EIO, "private key: sealing the key failed");
            kura_secure_free(scratch);
            return NULL;
        }
        put_string(blob, &pos, "scrypt", 6);
        put_string(blob, &pos, opts, sizeof opts);
        put_string(blob, &pos, "chacha20_poly1305", 17);
        put_string(blob, &pos, sealed, SEALED_KEY_SIZE);
    } else {
        put_string(blob, &pos, "none", 4);
        put_string(blob, &pos, "none", 4);
        put_string(blob, &pos, sk, C4GH_KEY_SIZE);
    }
    if (comment)
        put_string(blob, &pos, comment, comment_len);
    char *text = armour_encode(sec_label, blob, pos, true);
    kura_secure_free(scratch);
    if (!text)
        kura_err_set(err, ENOMEM, "out of memory formatting the private key");
    return text;
}
