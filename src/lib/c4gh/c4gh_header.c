/* Crypt4GH header: structural checks, reading from files, and opening the
 * packets a secret key can decrypt. Everything here parses hostile bytes:
 * every length is checked against what is left before it is used. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "c4gh_priv.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"

#define PREAMBLE_SIZE 16                 /* magic[8] | version | packet count */
#define PACKET_PREFIX 8                  /* length | encryption method */
#define X25519_OVERHEAD (PACKET_PREFIX + C4GH_KEY_SIZE + C4GH_NONCE_SIZE + C4GH_MAC_SIZE)
/* A method-0 packet carries at least the 4-byte packet type once decrypted. */
#define MIN_X25519_PACKET (X25519_OVERHEAD + 4)
#define DATA_ENC_PACKET_SIZE (4 + 4 + C4GH_KEY_SIZE)

static const uint8_t magic[8] = {'c', 'r', 'y', 'p', 't', '4', 'g', 'h'};

static int check_preamble(const uint8_t *p, uint32_t *count, struct kura_err *err)
{
    if (memcmp(p, magic, sizeof magic) != 0) {
        kura_err_set(err, EINVAL, "malformed header: not a Crypt4GH file (no 'crypt4gh' magic)");
        return -1;
    }
    uint32_t version = kura_le32(p + 8);
    if (version != 1) {
        kura_err_set(err, EINVAL, "malformed header: unsupported Crypt4GH version %u (only 1 is supported)",
                     version);
        return -1;
    }
    *count = kura_le32(p + 12);
    if (*count == 0) {
        kura_err_set(err, EINVAL, "malformed header: no header packets");
        return -1;
    }
    if (*count > (C4GH_MAX_HEADER_SIZE - PREAMBLE_SIZE) / PACKET_PREFIX) {
        kura_err_set(err, EINVAL, "malformed header: %u packets cannot fit in %u bytes", *count,
                     C4GH_MAX_HEADER_SIZE);
        return -1;
    }
    return 0;
}

/* Checks one packet's length field given the bytes of the header so far. */
static int check_packet_len(uint32_t index, uint32_t len, uint32_t method, size_t header_so_far,
                            struct kura_err *err)
{
    uint32_t min = method == 0 ? MIN_X25519_PACKET : PACKET_PREFIX;
    if (len < min) {
        kura_err_set(err, EINVAL, "malformed header: packet %u is %u bytes, below the minimum of %u", index,
                     len, min);
        return -1;
    }
    if (len > C4GH_MAX_HEADER_SIZE - header_so_far) {
        kura_err_set(err, EINVAL, "malformed header: packet %u (%u bytes) makes the header larger than %u bytes",
                     index, len, C4GH_MAX_HEADER_SIZE);
        return -1;
    }
    return 0;
}

int c4gh_header_check(const uint8_t *buf, size_t len, size_t *raw_len, struct kura_err *err)
{
    uint32_t count;
    if (len < PREAMBLE_SIZE) {
        kura_err_set(err, EINVAL, "malformed header: %zu bytes, shorter than the %d-byte preamble", len,
                     PREAMBLE_SIZE);
        return -1;
    }
    if (check_preamble(buf, &count, err) != 0)
        return -1;
    size_t pos = PREAMBLE_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        if (len - pos < PACKET_PREFIX) {
            kura_err_set(err, EINVAL, "malformed header: truncated at packet %u of %u", i, count);
            return -1;
        }
        uint32_t plen = kura_le32(buf + pos), method = kura_le32(buf + pos + 4);
        if (check_packet_len(i, plen, method, pos, err) != 0)
            return -1;
        if (plen > len - pos) {
            kura_err_set(err, EINVAL, "malformed header: packet %u is %u bytes but only %zu remain (truncated)",
                         i, plen, len - pos);
            return -1;
        }
        pos += plen;
    }
    *raw_len = pos;
    return 0;
}

/* Reads header bytes through fetch (pread at an offset, or sequential read),
 * growing the buffer geometrically so hostile packet counts cost O(size). */
typedef ssize_t (*fetch_fn)(int fd, void *buf, size_t n, uint64_t off);

static ssize_t fetch_pread(int fd, void *buf, size_t n, uint64_t off)
{
    return kura_pread_full(fd, buf, n, off);
}

static ssize_t fetch_read(int fd, void *buf, size_t n, uint64_t off)
{
    (void)off; /* sequential: callers ask for consecutive ranges */
    return kura_read_full(fd, buf, n);
}

static int fetch_exact(fetch_fn fetch, int fd, uint8_t *buf, size_t n, uint64_t off, const char *what,
                       struct kura_err *err)
{
    ssize_t got = fetch(fd, buf, n, off);
    if (got < 0) {
        kura_err_set(err, errno ? errno : EIO, "cannot read the Crypt4GH header: %s", strerror(errno));
        return -1;
    }
    if ((size_t)got < n) {
        kura_err_set(err, EINVAL, "malformed header: file ends inside the %s (truncated)", what);
        return -1;
    }
    return 0;
}

static int header_fetch(fetch_fn fetch, int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err)
{
    *raw = NULL;
    *raw_len = 0;
    size_t cap = 4096, pos = PREAMBLE_SIZE;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory reading the Crypt4GH header");
        return -1;
    }
    uint32_t count;
    if (fetch_exact(fetch, fd, buf, PREAMBLE_SIZE, 0, "preamble", err) != 0 ||
        check_preamble(buf, &count, err) != 0)
        goto fail;
    for (uint32_t i = 0; i < count; i++) {
        if (fetch_exact(fetch, fd, buf + pos, PACKET_PREFIX, pos, "packet list", err) != 0)
            goto fail;
        uint32_t plen = kura_le32(buf + pos), method = kura_le32(buf + pos + 4);
        if (check_packet_len(i, plen, method, pos, err) != 0)
            goto fail;
        /* Room for this packet and the next packet's prefix; both stay
         * under C4GH_MAX_HEADER_SIZE + PACKET_PREFIX by the check above. */
        size_t need = pos + plen + PACKET_PREFIX;
        if (need > cap) {
            size_t grown = cap;
            while (grown < need)
                grown *= 2;
            uint8_t *bigger = realloc(buf, grown);
            if (!bigger) {
                kura_err_set(err, ENOMEM, "out of memory reading the Crypt4GH header");
                goto fail;
            }
            buf = bigger;
            cap = grown;
        }
        if (fetch_exact(fetch, fd, buf + pos + PACKET_PREFIX, plen - PACKET_PREFIX, pos + PACKET_PREFIX,
                        "header packets", err) != 0)
            goto fail;
        pos += plen;
    }
    *raw = buf;
    *raw_len = pos;
    return 0;
fail:
    free(buf);
    return -1;
}

int c4gh_header_read(int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err)
{
    return header_fetch(fetch_pread, fd, raw, raw_len, err);
}

int c4gh_header_read_stream(int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err)
{
    return header_fetch(fetch_read, fd, raw, raw_len, err);
}

/* ---- opening ---------------------------------------------------------------- */

static struct c4gh_header *header_alloc(size_t key_capacity, struct kura_err *err)
{
    struct c4gh_header *h = calloc(1, sizeof *h);
    if (h && key_capacity > 0)
        h->keys = kura_secure_alloc(key_capacity * C4GH_KEY_SIZE);
    if (!h || (key_capacity > 0 && !h->keys)) {
        free(h);
        kura_err_set(err, ENOMEM, "out of memory (secure memory for header keys)");
        return NULL;
    }
    return h;
}

static int add_data_key(struct c4gh_header *h, const uint8_t *p, size_t len, uint32_t index,
                        struct kura_err *err)
{
    if (len != DATA_ENC_PACKET_SIZE) {
        kura_err_set(err, EINVAL,
                     "malformed header: packet %u holds %zu bytes of data encryption parameters, expected %d",
                     index, len, DATA_ENC_PACKET_SIZE);
        return -1;
    }
    uint32_t method = kura_le32(p + 4);
    if (method != 0) {
        kura_err_set(err, ENOTSUP,
                     "unsupported data encryption method %u in header packet %u (only 0, chacha20_ietf_poly1305)",
                     method, index);
        return -1;
    }
    const uint8_t *key = p + 8;
    for (size_t k = 0; k < h->nkeys; k++)
        if (sodium_memcmp(h->keys + k * C4GH_KEY_SIZE, key, C4GH_KEY_SIZE) == 0)
            return 0; /* the same key sent twice (e.g. to two of our keys) */
    if (h->nkeys == C4GH_MAX_DATA_KEYS) {
        kura_err_set(err, ENOTSUP, "header has more than %d data encryption keys", C4GH_MAX_DATA_KEYS);
        return -1;
    }
    memcpy(h->keys + h->nkeys * C4GH_KEY_SIZE, key, C4GH_KEY_SIZE);
    h->nkeys++;
    return 0;
}

static int set_edit_list(struct c4gh_header *h, bool *seen, const uint8_t *p, size_t len, uint32_t index,
                         struct kura_err *err)
{
    if (*seen) {
        kura_err_set(err, EINVAL, "malformed header: more than one edit list (packet %u)", index);
        return -1;
    }
    *seen = true;
    if (len < 8) {
        kura_err_set(err, EINVAL, "malformed header: edit list packet %u is %zu bytes, too short", index, len);
        return -1;
    }
    uint32_t count = kura_le32(p + 4);
    if (count == 0) {
        kura_err_set(err, EINVAL, "malformed header: edit list packet %u is empty", index);
        return -1;
    }
    if (count > C4GH_MAX_EDITS) {
        kura_err_set(err, ENOTSUP, "edit list in header packet %u has %u entries, at most %d are supported",
                     index, count, C4GH_MAX_EDITS);
        return -1;
    }
    if (len != 8 + 8 * (size_t)count) {
        kura_err_set(err, EINVAL, "malformed header: edit list packet %u is %zu bytes, %u entries need %zu",
                     index, len, count, 8 + 8 * (size_t)count);
        return -1;
    }
    h->edits = malloc(count * sizeof *h->edits);
    if (!h->edits) {
        kura_err_set(err, ENOMEM, "out of memory for the edit list");
        return -1;
    }
    for (uint32_t i = 0; i < count; i++)
        h->edits[i] = kura_le64(p + 8 + 8 * (size_t)i);
    h->nedits = count;
    return 0;
}

static int parse_packet(struct c4gh_header *h, bool *seen_edits, const uint8_t *p, size_t len,
                        uint32_t index, struct kura_err *err)
{
    if (len < 4) {
        kura_err_set(err, EINVAL, "malformed header: packet %u decrypts to %zu bytes, no packet type", index,
                     len);
        return -1;
    }
    uint32_t type = kura_le32(p);
    switch (type) {
    case 0:
        return add_data_key(h, p, len, index, err);
    case 1:
        return set_edit_list(h, seen_edits, p, len, index, err);
    default:
        kura_err_set(err, ENOTSUP,
                     "unsupported header packet type %u in packet %u (known: 0 data encryption parameters, 1 edit list)",
                     type, index);
        return -1;
    }
}

/* every_packet: refuse a header with any packet sk cannot open, instead of
 * taking it for another recipient's. */
static int header_open(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE],
                       const uint8_t *pk_given, bool every_packet, struct c4gh_header **out,
                       struct kura_err *err)
{
    *out = NULL;
    size_t hlen;
    if (c4gh_header_check(raw, raw_len, &hlen, err) != 0)
        return -1;
    if (hlen != raw_len) {
        kura_err_set(err, EINVAL, "malformed header: %zu bytes follow the last header packet", raw_len - hlen);
        return -1;
    }
    uint32_t count = kura_le32(raw + 12);
    size_t max_plain = 0;
    for (size_t pos = PREAMBLE_SIZE, i = 0; i < count; i++) {
        uint32_t plen = kura_le32(raw + pos);
        if (kura_le32(raw + pos + 4) == 0 && plen - X25519_OVERHEAD > max_plain)
            max_plain = plen - X25519_OVERHEAD;
        pos += plen;
    }
    /* Scratch in secure memory: our public key, both session keys, one packet's plaintext. */
    uint8_t *scratch = kura_secure_alloc(3 * C4GH_KEY_SIZE + max_plain + 1);
    /* The session keys depend on the writer's key alone (ours fixed): one
     * X25519 for a run of packets from one writer (all of them, in a header
     * kura or the reference tools wrote), not one per packet. */
    const uint8_t *kx_writer = NULL;
    bool kx_ok = false;
    struct c4gh_header *h = header_alloc(C4GH_MAX_DATA_KEYS, err);
    if (!scratch || !h) {
        kura_secure_free(scratch);
        c4gh_header_free(h);
        kura_err_set(err, ENOMEM, "out of memory (secure memory) opening the Crypt4GH header");
        return -1;
    }
    uint8_t *pk = scratch, *rx = scratch + C4GH_KEY_SIZE, *tx = rx + C4GH_KEY_SIZE;
    uint8_t *plain = tx + C4GH_KEY_SIZE;
    if (pk_given)
        memcpy(pk, pk_given, C4GH_KEY_SIZE);
    else
        c4gh_public_from_secret(sk, pk);
    uint32_t opened = 0, first_closed = UINT32_MAX;
    bool seen_edits = false;
    size_t pos = PREAMBLE_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *p = raw + pos;
        uint32_t plen = kura_le32(p), method = kura_le32(p + 4);
        pos += plen;
        if (method != 0) {
            /* Only method 0 exists; skipping others would let a flipped
             * method field silently drop a packet (an edit list). */
            kura_err_set(err, ENOTSUP,
                         "header packet %u uses unsupported encryption method %u (only 0, X25519_chacha20_ietf_poly1305)",
                         i, method);
            goto fail;
        }
        const uint8_t *writer_pk = p + PACKET_PREFIX, *nonce = writer_pk + C4GH_KEY_SIZE;
        const uint8_t *ct = nonce + C4GH_NONCE_SIZE;
        unsigned long long mlen;
        /* A low-order writer key makes kx fail: such a packet is for no one.
         * A packet that does not authenticate is another recipient's, or damaged. */
        if (!kx_writer || memcmp(kx_writer, writer_pk, C4GH_KEY_SIZE) != 0) {
            kx_ok = crypto_kx_client_session_keys(rx, tx, pk, sk, writer_pk) == 0;
            kx_writer = writer_pk;
        }
        if (!kx_ok ||
            crypto_aead_chacha20poly1305_ietf_decrypt(plain, &mlen, NULL, ct, plen - (X25519_OVERHEAD - C4GH_MAC_SIZE),
                                                      NULL, 0, nonce, rx) != 0) {
            if (first_closed == UINT32_MAX)
                first_closed = i;
            continue;
        }
        opened++;
        if (parse_packet(h, &seen_edits, plain, (size_t)mlen, i, err) != 0)
            goto fail;
    }
    if (opened == 0) {
        kura_err_set(err, EACCES, "no header packet opens with this key");
        goto fail;
    }
    if (every_packet && first_closed != UINT32_MAX) {
        kura_err_set(err, EIO, "header packet %u does not open with this key (tampered or damaged)", first_closed);
        goto fail;
    }
    if (h->nkeys == 0) {
        kura_err_set(err, EINVAL, "malformed header: the packets this key opens hold no data encryption key");
        goto fail;
    }
    kura_secure_free(scratch);
    *out = h;
    return 0;
fail:
    kura_secure_free(scratch);
    c4gh_header_free(h);
    return -1;
}

int c4gh_header_open(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE], const uint8_t *pk,
                     struct c4gh_header **out, struct kura_err *err)
{
    return header_open(raw, raw_len, sk, pk, false, out, err);
}

int c4gh_header_open_strict(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE], const uint8_t *pk,
                            struct c4gh_header **out, struct kura_err *err)
{
    return header_open(raw, raw_len, sk, pk, true, out, err);
}

struct c4gh_header *c4gh_header_dup(const struct c4gh_header *h, struct kura_err *err)
{
    struct c4gh_header *d = header_alloc(h->nkeys, err);
    if (!d)
        return NULL;
    if (h->nkeys)
        memcpy(d->keys, h->keys, h->nkeys * C4GH_KEY_SIZE);
    d->nkeys = h->nkeys;
    if (h->nedits > 0) {
        d->edits = malloc(h->nedits * sizeof *d->edits);
        if (!d->edits) {
            c4gh_header_free(d);
            kura_err_set(err, ENOMEM, "out of memory copying the edit list");
            return NULL;
        }
        memcpy(d->edits, h->edits, h->nedits * sizeof *d->edits);
        d->nedits = h->nedits;
    }
    return d;
}

void c4gh_header_free(struct c4gh_header *h)
{
    if (!h)
        return;
    kura_secure_free(h->keys);
    free(h->edits);
    free(h);
}
