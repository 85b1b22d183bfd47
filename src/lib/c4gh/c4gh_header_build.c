/* Writing Crypt4GH headers: a fresh data key, encryption of the header
 * packets to each recipient, and re-encryption to new recipients. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "c4gh_priv.h"
#include "kura/secmem.h"

#define PREAMBLE_SIZE 16
#define X25519_OVERHEAD (8 + C4GH_KEY_SIZE + C4GH_NONCE_SIZE + C4GH_MAC_SIZE)
#define DATA_ENC_PACKET_SIZE (4 + 4 + C4GH_KEY_SIZE)

static int check_edits(const uint64_t *edits, size_t nedits, struct kura_err *err)
{
    if (nedits > C4GH_MAX_EDITS) {
        kura_err_set(err, EINVAL, "edit list has %zu entries, at most %d are supported", nedits, C4GH_MAX_EDITS);
        return -1;
    }
    if (nedits > 0 && !edits) {
        kura_err_set(err, EINVAL, "edit list of %zu entries given without entries", nedits);
        return -1;
    }
    return 0;
}

int c4gh_header_new(struct c4gh_header **out, const uint64_t *edits, size_t nedits, struct kura_err *err)
{
    *out = NULL;
    if (check_edits(edits, nedits, err) != 0)
        return -1;
    struct c4gh_header *h = calloc(1, sizeof *h);
    if (!h || !(h->keys = kura_secure_alloc(C4GH_KEY_SIZE))) {
        free(h);
        kura_err_set(err, ENOMEM, "out of memory (secure memory) for a new header");
        return -1;
    }
    randombytes_buf(h->keys, C4GH_KEY_SIZE);
    h->nkeys = 1;
    if (nedits > 0) {
        if (!(h->edits = malloc(nedits * sizeof *h->edits))) {
            c4gh_header_free(h);
            kura_err_set(err, ENOMEM, "out of memory for the edit list");
            return -1;
        }
        memcpy(h->edits, edits, nedits * sizeof *h->edits);
        h->nedits = nedits;
    }
    *out = h;
    return 0;
}

/* Size of the serialised header, or 0 if it would exceed the format's or
 * our limits (then err says which). */
static size_t header_size(const struct c4gh_header *h, size_t nrecipients, struct kura_err *err)
{
    size_t per_recipient = h->nkeys * (X25519_OVERHEAD + DATA_ENC_PACKET_SIZE);
    if (h->nedits > 0)
        per_recipient += X25519_OVERHEAD + 8 + 8 * h->nedits;
    size_t packets = h->nkeys + (h->nedits > 0);
    /* per_recipient <= 64 * 108 + 76 + 8 * 65536, so these products cannot
     * overflow once nrecipients is bounded by the header size limit. */
    if (nrecipients > C4GH_MAX_HEADER_SIZE / per_recipient ||
        PREAMBLE_SIZE + nrecipients * per_recipient > C4GH_MAX_HEADER_SIZE || nrecipients * packets > UINT32_MAX) {
        kura_err_set(err, EINVAL, "header for %zu recipients would exceed %u bytes", nrecipients,
                     C4GH_MAX_HEADER_SIZE);
        return 0;
    }
    return PREAMBLE_SIZE + nrecipients * per_recipient;
}

/* Packet plaintext number i of h: the data keys first, then the edit list. */
static size_t packet_plain(const struct c4gh_header *h, size_t i, uint8_t *plain)
{
    if (i < h->nkeys) {
        kura_put_le32(plain, 0);
        kura_put_le32(plain + 4, 0);
        memcpy(plain + 8, h->keys + i * C4GH_KEY_SIZE, C4GH_KEY_SIZE);
        return DATA_ENC_PACKET_SIZE;
    }
    kura_put_le32(plain, 1);
    kura_put_le32(plain + 4, (uint32_t)h->nedits);
    for (size_t e = 0; e < h->nedits; e++)
        kura_put_le64(plain + 8 + 8 * e, h->edits[e]);
    return 8 + 8 * h->nedits;
}

int c4gh_header_build(const struct c4gh_header *h, const uint8_t *writer_sk, const uint8_t *recipients,
                      size_t nrecipients, uint8_t **raw, size_t *raw_len, struct kura_err *err)
{
    *raw = NULL;
    *raw_len = 0;
    if (!h || h->nkeys == 0 || h->nkeys > C4GH_MAX_DATA_KEYS || !h->keys) {
        kura_err_set(err, EINVAL, "header to write has %zu data keys, needs 1 to %d", h ? h->nkeys : 0,
                     C4GH_MAX_DATA_KEYS);
        return -1;
    }
    if (check_edits(h->edits, h->nedits, err) != 0)
        return -1;
    if (nrecipients == 0 || !recipients) {
        kura_err_set(err, EINVAL, "header needs at least one recipient");
        return -1;
    }
    size_t total = header_size(h, nrecipients, err);
    if (total == 0)
        return -1;
    size_t max_plain = h->nedits > 0 ? 8 + 8 * h->nedits : DATA_ENC_PACKET_SIZE;
    if (max_plain < DATA_ENC_PACKET_SIZE)
        max_plain = DATA_ENC_PACKET_SIZE;
    /* Secure scratch: writer secret and public key, both session keys, packet plaintext. */
    uint8_t *scratch = kura_secure_alloc(4 * C4GH_KEY_SIZE + max_plain);
    uint8_t *buf = malloc(total);
    if (!scratch || !buf) {
        kura_secure_free(scratch);
        free(buf);
        kura_err_set(err, ENOMEM, "out of memory building a Crypt4GH header");
        return -1;
    }
    uint8_t *wsk = scratch, *wpk = wsk + C4GH_KEY_SIZE, *rx = wpk + C4GH_KEY_SIZE, *tx = rx + C4GH_KEY_SIZE;
    uint8_t *plain = tx + C4GH_KEY_SIZE;
    if (writer_sk)
        memcpy(wsk, writer_sk, C4GH_KEY_SIZE);
    else
        randombytes_buf(wsk, C4GH_KEY_SIZE); /* ephemeral: the writer need not be known */
    c4gh_public_from_secret(wsk, wpk);

    size_t packets = h->nkeys + (h->nedits > 0);
    memcpy(buf, "crypt4gh", 8);
    kura_put_le32(buf + 8, 1);
    kura_put_le32(buf + 12, (uint32_t)(nrecipients * packets));
    size_t pos = PREAMBLE_SIZE;
    for (size_t r = 0; r < nrecipients; r++) {
        /* Writer is the kx "server": its transmit key is the reader's receive key. */
        if (crypto_kx_server_session_keys(rx, tx, wpk, wsk, recipients + r * C4GH_KEY_SIZE) != 0) {
            kura_err_set(err, EINVAL, "recipient %zu: public key is not a usable X25519 key", r);
            goto fail;
        }
        for (size_t i = 0; i < packets; i++) {
            size_t plen = packet_plain(h, i, plain);
            uint8_t *p = buf + pos;
            size_t len = X25519_OVERHEAD + plen;
            kura_put_le32(p, (uint32_t)len);
            kura_put_le32(p + 4, 0);
            memcpy(p + 8, wpk, C4GH_KEY_SIZE);
            uint8_t *nonce = p + 8 + C4GH_KEY_SIZE;
            randombytes_buf(nonce, C4GH_NONCE_SIZE);
            unsigned long long clen;
            if (crypto_aead_chacha20poly1305_ietf_encrypt(nonce + C4GH_NONCE_SIZE, &clen, plain, plen, NULL, 0,
                                                          NULL, nonce, tx) != 0) {
                kura_err_set(err, EIO, "encrypting header packet %zu failed", i);
                goto fail;
            }
            pos += len;
        }
    }
    kura_secure_free(scratch);
    *raw = buf;
    *raw_len = pos;
    return 0;
fail:
    kura_secure_free(scratch);
    free(buf);
    return -1;
}

int c4gh_header_reencrypt(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE],
                          const uint8_t *recipients, size_t nrecipients, uint8_t **out, size_t *out_len,
                          struct kura_err *err)
{
    struct c4gh_header *h;
    *out = NULL;
    *out_len = 0;
    if (c4gh_header_open(raw, raw_len, sk, NULL, &h, err) != 0)
        return -1;
    int rc = c4gh_header_build(h, NULL, recipients, nrecipients, out, out_len, err);
    c4gh_header_free(h);
    return rc;
}
