/* Crypt4GH v1 (GA4GH) codec on libsodium: headers, segments, random access,
 * writing, and key files. No I/O policy here: callers pass file descriptors
 * or buffers. Secrets (session keys, secret keys, decrypted segments) live in
 * kura_secure_alloc() memory and are wiped when freed.
 *
 * Layout of a Crypt4GH file:
 *   header  = "crypt4gh" | u32le version=1 | u32le packet count | packets
 *   packet  = u32le length (incl. itself) | u32le method=0 (X25519+ChaCha20-Poly1305)
 *             | writer pubkey[32] | nonce[12] | ciphertext | mac[16]
 *   payload = segments of nonce[12] | ciphertext (<= 64 KiB) | mac[16]
 * Decrypted packet: u32le type 0 (data encryption parameters: u32le method 0,
 * key[32]) or type 1 (data edit list: u32le count, count * u64le lengths). */
#ifndef KURA_C4GH_H
#define KURA_C4GH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"

#define C4GH_KEY_SIZE 32
#define C4GH_NONCE_SIZE 12
#define C4GH_MAC_SIZE 16
#define C4GH_SEGMENT_SIZE 65536
#define C4GH_CIPHER_SEGMENT_SIZE (C4GH_NONCE_SIZE + C4GH_SEGMENT_SIZE + C4GH_MAC_SIZE)
#define C4GH_MAX_HEADER_SIZE (1u << 20)   /* refuse larger headers */
#define C4GH_MAX_DATA_KEYS 64
#define C4GH_MAX_EDITS 65536

/* ---- keys -------------------------------------------------------------- */

/* New X25519 key pair; sk must be secure memory (C4GH_KEY_SIZE bytes). */
void c4gh_keygen(uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE]);
void c4gh_public_from_secret(const uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE]);

/* Armoured key files as the reference tool writes them.
 * Public:  -----BEGIN CRYPT4GH PUBLIC KEY----- base64(pk[32]) -----END ...
 * Private: -----BEGIN CRYPT4GH PRIVATE KEY----- base64("c4gh-v1" | string kdf
 *          | [string rounds_be32+salt] | string cipher | string data
 *          | [string comment]) -----END ..., strings as u16be length + bytes.
 * Supported KDFs: none, scrypt (N=2^14, r=8, p=1), pbkdf2_hmac_sha256;
 * anything else (bcrypt included) is refused naming the KDF. */
int c4gh_pubkey_parse(const char *text, size_t len, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_seckey_parse(const char *text, size_t len, const char *passphrase,
                      uint8_t sk[C4GH_KEY_SIZE], struct kura_err *err);
/* Formats into a malloc'd NUL-terminated string. passphrase NULL or "" writes
 * an unencrypted key; otherwise scrypt + chacha20_poly1305. comment may be NULL. */
char *c4gh_pubkey_format(const uint8_t pk[C4GH_KEY_SIZE]);
char *c4gh_seckey_format(const uint8_t sk[C4GH_KEY_SIZE], const char *passphrase,
                         const char *comment, struct kura_err *err);
/* Read from / write to a file (write: mode 0600 for secret, 0644 for public,
 * created exclusively: refuses to overwrite). */
int c4gh_pubkey_load(const char *path, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_seckey_load(const char *path, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE], struct kura_err *err);
/* True if the private key file is passphrase-protected (so callers know to ask). */
int c4gh_seckey_is_encrypted(const char *path, bool *encrypted, struct kura_err *err);

/* ---- header ------------------------------------------------------------ */

/* What a header says once opened: the data keys and the edit list. */
struct c4gh_header {
    size_t nkeys;
    uint8_t *keys;        /* nkeys * C4GH_KEY_SIZE, secure memory */
    size_t nedits;        /* 0 and edits == NULL when there is no edit list */
    uint64_t *edits;      /* skip, keep, skip, keep, ... */
};

/* Reads the raw (still encrypted) header from fd at offset 0 with pread,
 * checking its structure: magic, version, packet count and lengths, total
 * size <= C4GH_MAX_HEADER_SIZE. *raw is malloc'd; *raw_len is also the
 * offset where the payload starts. */
int c4gh_header_read(int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err);
/* Same structural check on bytes in memory; *raw_len receives the header
 * length (len may be longer: the payload follows). */
int c4gh_header_check(const uint8_t *buf, size_t len, size_t *raw_len, struct kura_err *err);

/* Decrypts every packet sk opens; packets for other recipients are skipped.
 * Errors: "no header packet opens with this key", malformed packet contents,
 * unknown packet type or method, more than one edit list. */
int c4gh_header_open(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE],
                     struct c4gh_header **out, struct kura_err *err);

/* New header with one fresh data key (and optional edit list). */
int c4gh_header_new(struct c4gh_header **out, const uint64_t *edits, size_t nedits, struct kura_err *err);

/* Encrypts h for each recipient (nrecipients public keys, 32 bytes each).
 * writer_sk may be NULL: an ephemeral writer key is used. *raw is malloc'd. */
int c4gh_header_build(const struct c4gh_header *h, const uint8_t *writer_sk,
                      const uint8_t *recipients, size_t nrecipients,
                      uint8_t **raw, size_t *raw_len, struct kura_err *err);

/* Opens raw with sk and builds a new header for the recipients; the payload
 * is untouched. */
int c4gh_header_reencrypt(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE],
                          const uint8_t *recipients, size_t nrecipients,
                          uint8_t **out, size_t *out_len, struct kura_err *err);

void c4gh_header_free(struct c4gh_header *h);

/* ---- sizes ------------------------------------------------------------- */

/* Plaintext size of a payload of payload_len ciphertext bytes, before the
 * edit list. Refuses impossible lengths (a last segment of <= 28 bytes). */
int c4gh_payload_plain_size(uint64_t payload_len, uint64_t *plain, struct kura_err *err);
/* Size the reader serves: the edit list applied to raw_plain bytes. */
uint64_t c4gh_visible_size(const struct c4gh_header *h, uint64_t raw_plain);

/* ---- segments ---------------------------------------------------------- */

/* Decrypts one cipher segment (nonce | ct | mac, clen bytes) with any of
 * h's data keys into plain (>= C4GH_SEGMENT_SIZE bytes). Never writes
 * unauthenticated bytes. Error: EIO "segment N fails authentication". */
int c4gh_segment_decrypt(const struct c4gh_header *h, uint64_t segno, const uint8_t *cipher,
                         size_t clen, uint8_t *plain, size_t *plen, struct kura_err *err);
/* Encrypts plen (<= C4GH_SEGMENT_SIZE) bytes with key and a random nonce;
 * cipher gets plen + 28 bytes. */
void c4gh_segment_encrypt(const uint8_t key[C4GH_KEY_SIZE], const uint8_t *plain, size_t plen,
                          uint8_t *cipher);

/* ---- random access reader ---------------------------------------------- */

/* One reader per open file handle. It holds at most one decrypted segment,
 * in secure memory, wiped on close. Reads decrypt only the segments that
 * cover the requested range. Not thread-safe: one caller at a time. */
struct c4gh_reader;

/* payload_fd holds the payload at payload_off .. payload_off+payload_len.
 * The header is copied; the caller may free its own. */
int c4gh_reader_open(struct c4gh_reader **out, int payload_fd, uint64_t payload_off,
                     uint64_t payload_len, const struct c4gh_header *h, struct kura_err *err);

/* Optional: the expected nonce of every segment (nsegments * 12 bytes). With
 * it the reader refuses payloads whose segments were dropped, reordered,
 * swapped in from another file or cut at a segment boundary. */
int c4gh_reader_set_segment_map(struct c4gh_reader *r, const uint8_t *nonces, uint64_t nsegments,
                                struct kura_err *err);

/* Visible (edit-list-applied) plaintext size. */
uint64_t c4gh_reader_size(const struct c4gh_reader *r);

/* Reads up to n bytes at visible offset off; returns bytes read (0 at end of
 * file) or -1 with err (EIO for tampering or truncation). */
ssize_t c4gh_reader_pread(struct c4gh_reader *r, void *buf, size_t n, uint64_t off, struct kura_err *err);

void c4gh_reader_close(struct c4gh_reader *r);

/* ---- streams ----------------------------------------------------------- */

/* Encrypts everything readable from in_fd into segments written to
 * payload_fd with h's first data key. Optional outputs: plaintext size, and
 * the nonce of every segment (malloc'd, *nsegments * 12 bytes). */
int c4gh_encrypt_stream(const struct c4gh_header *h, int in_fd, int payload_fd, uint64_t *plain_size,
                        uint8_t **nonces, uint64_t *nsegments, struct kura_err *err);

/* Decrypts a whole payload (payload_fd from its current position to EOF)
 * to out_fd, edit list applied. Verifies every segment; nothing is written
 * for a segment that fails. */
int c4gh_decrypt_stream(const struct c4gh_header *h, int payload_fd, int out_fd, struct kura_err *err);

/* Verifies every segment's MAC without output; optionally returns the nonce
 * map. Used by import. */
int c4gh_verify_payload(const struct c4gh_header *h, int payload_fd, uint64_t payload_off,
                        uint64_t *plain_size, uint8_t **nonces, uint64_t *nsegments, struct kura_err *err);

/* Splits a Crypt4GH file into header and payload files, and joins them. */
int c4gh_split(int in_fd, int header_fd, int payload_fd, struct kura_err *err);
int c4gh_join(int header_fd, int payload_fd, int out_fd, struct kura_err *err);

#endif
