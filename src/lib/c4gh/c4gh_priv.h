/* Internals shared by the Crypt4GH source files (src/lib/c4gh_*.c); not part
 * of the public API in include/kura/c4gh.h. */
#ifndef KURA_C4GH_PRIV_H
#define KURA_C4GH_PRIV_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/c4gh.h"
#include "kura/endian.h"

#define C4GH_CIPHER_DIFF (C4GH_NONCE_SIZE + C4GH_MAC_SIZE)

/* ---- header internals (c4gh_header.c) -------------------------------------- */

/* Reads a header from fd's current position with read(), leaving fd just
 * after it (used by split/join on pipes as well as files). */
int c4gh_header_read_stream(int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err);

/* ---- edit list as ranges (c4gh_payload.c) ----------------------------------- */

/* A run of plaintext the edit list keeps: visible bytes [vis, vis+len) are
 * raw plaintext bytes [raw, raw+len). */
struct c4gh_range {
    uint64_t vis, raw, len;
};

/* Ranges of h's edit list over raw_plain bytes of plaintext (UINT64_MAX when
 * the size is not known yet: the ranges are then clamped by the caller).
 * Ranges are in order, non-empty, and *nranges may be 0. *ranges is malloc'd. */
int c4gh_edit_ranges(const struct c4gh_header *h, uint64_t raw_plain, struct c4gh_range **ranges,
                     size_t *nranges, struct kura_err *err);

/* ---- segments (c4gh_payload.c) ---------------------------------------------- */

/* Tries each data key on one cipher segment, starting with key *hint (and
 * leaving there the index of the key that worked). plain gets clen - 28
 * bytes, or zeros if no key authenticates it. 0 or -1; no message. */
int c4gh_segment_open(const struct c4gh_header *h, size_t *hint, const uint8_t *cipher, size_t clen,
                      uint8_t *plain);

/* Fills err with the standard message for a segment that fails. */
void c4gh_err_segment_auth(struct kura_err *err, uint64_t segno);

/* ---- private key files (c4gh_keys.c) ----------------------------------------- */

enum c4gh_kdf { C4GH_KDF_NONE, C4GH_KDF_SCRYPT, C4GH_KDF_PBKDF2 };

/* The fields of a decoded private key; pointers into the decoded blob. */
struct c4gh_seckey_fields {
    enum c4gh_kdf kdf;
    uint32_t rounds;          /* pbkdf2 only */
    const uint8_t *salt;      /* 16 bytes, when kdf != NONE */
    const uint8_t *data;      /* 32-byte key, or nonce | sealed key | mac */
    size_t data_len;
};

/* Armour + base64 decoding of a private key file's text; *blob is secure memory. */
int c4gh_seckey_decode(const char *text, size_t len, uint8_t **blob, size_t *blob_len, struct kura_err *err);
/* Structural check of a decoded key: magic, KDF, options, cipher, lengths. */
int c4gh_seckey_read_fields(const uint8_t *blob, size_t len, struct c4gh_seckey_fields *f, struct kura_err *err);
/* Derives the key from the passphrase (if encrypted) and opens the key. */
int c4gh_seckey_unlock(const struct c4gh_seckey_fields *f, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE],
                       struct kura_err *err);

#endif
