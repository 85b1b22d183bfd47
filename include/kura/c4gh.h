/* Crypt4GH v1 (GA4GH) codec on libsodium (segments are opened with OpenSSL's
 * faster ChaCha20-Poly1305 when it has one): headers, segments, random access,
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
#define C4GH_MAX_KEYFILE_SIZE 65536       /* refuse larger key files */
#define C4GH_PBKDF2_MAX_ROUNDS 10000000   /* refuse keys that would take minutes to open */

/* Error codes: EINVAL malformed input ("malformed header: ..."), ENOTSUP a
 * valid but unsupported feature (KDF, packet type, method), EACCES wrong key
 * or passphrase ("no header packet opens with this key"), EIO a payload that
 * fails authentication or is truncated, ENOMEM, or the errno of failed I/O. */

/* ---- keys -------------------------------------------------------------- */

/* New X25519 key pair; sk must be secure memory (C4GH_KEY_SIZE bytes).
 * Same derivation as the reference tool: sk random, pk = X25519(sk, base). */
void c4gh_keygen(uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE]);
void c4gh_public_from_secret(const uint8_t sk[C4GH_KEY_SIZE], uint8_t pk[C4GH_KEY_SIZE]);

/* Armoured key files as the reference tool writes them.
 * Public:  -----BEGIN CRYPT4GH PUBLIC KEY----- base64(pk[32]) -----END ...
 * Private: -----BEGIN CRYPT4GH PRIVATE KEY----- base64("c4gh-v1" | string kdf
 *          | [string rounds_be32+salt] | string cipher | string data
 *          | [string comment]) -----END ..., strings as u16be length + bytes.
 * Supported KDFs: none, scrypt (N=2^14, r=8, p=1), pbkdf2_hmac_sha256;
 * anything else (bcrypt included) is refused naming the KDF (ENOTSUP).
 * Also accepted: the "ENCRYPTED PRIVATE KEY" armour of older reference
 * releases, CRLF line ends, base64 split over lines, surrounding whitespace.
 * A missing passphrase for an encrypted key, or a wrong one: EACCES. */
int c4gh_pubkey_parse(const char *text, size_t len, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_seckey_parse(const char *text, size_t len, const char *passphrase,
                      uint8_t sk[C4GH_KEY_SIZE], struct kura_err *err);
/* Formats into a NUL-terminated string: public key text is malloc'd (free),
 * private key text is secure memory (free it with c4gh_text_free, which
 * wipes it). passphrase NULL or "" writes an unencrypted key; otherwise
 * scrypt + chacha20_poly1305. comment may be NULL. */
char *c4gh_pubkey_format(const uint8_t pk[C4GH_KEY_SIZE]);
char *c4gh_seckey_format(const uint8_t sk[C4GH_KEY_SIZE], const char *passphrase,
                         const char *comment, struct kura_err *err);
void c4gh_text_free(char *text);
/* Read from / write to a file (write: mode 0600 for secret, 0644 for public,
 * created exclusively: refuses to overwrite; fsync'd with its directory). */
int c4gh_pubkey_load(const char *path, uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_seckey_load(const char *path, const char *passphrase, uint8_t sk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_pubkey_save(const char *path, const uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err);
int c4gh_seckey_save(const char *path, const uint8_t sk[C4GH_KEY_SIZE], const char *passphrase,
                     const char *comment, struct kura_err *err);
/* True if the private key file is passphrase-protected (so callers know to ask). */
int c4gh_seckey_is_encrypted(const char *path, bool *encrypted, struct kura_err *err);

/* ---- header ------------------------------------------------------------ */

/* What a header says once opened: the data keys and the edit list.
 * c4gh_header_free releases keys with kura_secure_free and edits with free,
 * so a hand-built header must allocate them that way. */
struct c4gh_header {
    size_t nkeys;
    uint8_t *keys;        /* nkeys * C4GH_KEY_SIZE, secure memory */
    size_t nedits;        /* 0 and edits == NULL when there is no edit list */
    uint64_t *edits;      /* skip, keep, skip, keep, ... (malloc) */
};
/* Edit list semantics (as the reference's body_decrypt_parts): lengths
 * alternate skip, keep, ... over the whole plaintext, each clamped to what is
 * left; an odd count keeps everything after the last skip, an even count
 * ends the file after the last keep. An empty edit list packet is refused. */

/* Reads the raw (still encrypted) header from fd at offset 0 with pread,
 * checking its structure: magic, version, packet count and lengths, total
 * size <= C4GH_MAX_HEADER_SIZE. *raw is malloc'd; *raw_len is also the
 * offset where the payload starts. */
int c4gh_header_read(int fd, uint8_t **raw, size_t *raw_len, struct kura_err *err);
/* Same structural check on bytes in memory; *raw_len receives the header
 * length (len may be longer: the payload follows). */
int c4gh_header_check(const uint8_t *buf, size_t len, size_t *raw_len, struct kura_err *err);

/* Decrypts every packet sk opens; packets that do not authenticate with sk
 * are taken to be other recipients' and skipped (the reference's rule).
 * raw_len must be exactly the header. Errors: "no header packet opens with
 * this key" (EACCES), malformed packet contents, unknown packet encryption
 * method, packet type or data encryption method (ENOTSUP), more than one edit
 * list, no data key among the packets sk opens.
 * Format limit: Crypt4GH has no MAC over the whole header, so a packet for
 * sk can be damaged or removed and look like another recipient's; dropping
 * the edit list packet that way widens what the file shows. Use the strict
 * form for headers written to sk alone, and compare c4gh_reader_size with
 * the recorded plaintext size.
 * pk: sk's public half if the caller has it (saves an X25519), else NULL;
 * a pk that is not sk's opens nothing. */
int c4gh_header_open(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE], const uint8_t *pk,
                     struct c4gh_header **out, struct kura_err *err);
/* Same, but every packet must open with sk (headers kura wrote to one
 * recipient): any other packet is an error, EIO "header packet N does not
 * open with this key (tampered or damaged)". */
int c4gh_header_open_strict(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE], const uint8_t *pk,
                            struct c4gh_header **out, struct kura_err *err);

/* New header with one fresh data key (and optional edit list). */
int c4gh_header_new(struct c4gh_header **out, const uint64_t *edits, size_t nedits, struct kura_err *err);

/* Encrypts h for each recipient (nrecipients public keys, 32 bytes each):
 * one packet per data key, then the edit list, for each recipient in turn.
 * writer_sk may be NULL: an ephemeral writer key is used. *raw is malloc'd. */
int c4gh_header_build(const struct c4gh_header *h, const uint8_t *writer_sk,
                      const uint8_t *recipients, size_t nrecipients,
                      uint8_t **raw, size_t *raw_len, struct kura_err *err);

/* Opens raw with sk and builds a new header for the recipients only (packets
 * for other recipients are dropped); the payload is untouched. */
int c4gh_header_reencrypt(const uint8_t *raw, size_t raw_len, const uint8_t sk[C4GH_KEY_SIZE],
                          const uint8_t *recipients, size_t nrecipients,
                          uint8_t **out, size_t *out_len, struct kura_err *err);

/* Deep copy (keys in secure memory). NULL with err on failure. */
struct c4gh_header *c4gh_header_dup(const struct c4gh_header *h, struct kura_err *err);
void c4gh_header_free(struct c4gh_header *h);

/* ---- sizes ------------------------------------------------------------- */

/* Plaintext size of a payload of payload_len ciphertext bytes, before the
 * edit list. Refuses impossible lengths (a last segment of <= 28 bytes). */
int c4gh_payload_plain_size(uint64_t payload_len, uint64_t *plain, struct kura_err *err);
/* Size the reader serves: the edit list applied to raw_plain bytes. */
uint64_t c4gh_visible_size(const struct c4gh_header *h, uint64_t raw_plain);

/* ---- segments ---------------------------------------------------------- */

/* Decrypts one cipher segment (nonce | ct | mac, clen bytes) with any of
 * h's data keys into plain (>= clen - 28 bytes, the plaintext's length: at
 * most C4GH_SEGMENT_SIZE). On failure plain
 * holds zeros: unauthenticated bytes never reach the caller. Error: EIO
 * "segment N fails authentication". */
int c4gh_segment_decrypt(const struct c4gh_header *h, uint64_t segno, const uint8_t *cipher,
                         size_t clen, uint8_t *plain, size_t *plen, struct kura_err *err);
/* Encrypts plen (<= C4GH_SEGMENT_SIZE, else abort()) bytes with key and a
 * random nonce; cipher gets plen + 28 bytes. */
void c4gh_segment_encrypt(const uint8_t key[C4GH_KEY_SIZE], const uint8_t *plain, size_t plen,
                          uint8_t *cipher);

/* ---- random access reader ---------------------------------------------- */

/* One reader per open file handle. It holds at most one decrypted segment,
 * in secure memory, wiped on close. Reads decrypt only the segments that
 * cover the requested range. c4gh_reader_pread may be called from several
 * threads at once (readahead requests served in parallel); open, the
 * segment map and close may not run with any read. */
struct c4gh_reader;

/* payload_fd holds the payload at payload_off .. payload_off+payload_len.
 * The header is copied; the caller may free its own. An impossible
 * payload_len (last segment of <= 28 bytes) fails here: EIO "payload truncated". */
int c4gh_reader_open(struct c4gh_reader **out, int payload_fd, uint64_t payload_off,
                     uint64_t payload_len, const struct c4gh_header *h, struct kura_err *err);

/* Optional, before reading: the expected nonce of every segment (nsegments * 12 bytes). With
 * it the reader refuses payloads whose segments were dropped, reordered,
 * swapped in from another file or cut at a segment boundary: EIO "segment N
 * is not the expected segment (...)". A segment count that differs from the
 * payload's fails here and makes every later read fail too. */
int c4gh_reader_set_segment_map(struct c4gh_reader *r, const uint8_t *nonces, uint64_t nsegments,
                                struct kura_err *err);
/* The same, taking nonces (malloc'd) instead of copying them: the reader
 * frees them, also when it fails. A map of a large file is about 200 KiB
 * per GiB, so an open that already holds one does not copy it again. */
int c4gh_reader_take_segment_map(struct c4gh_reader *r, uint8_t *nonces, uint64_t nsegments, struct kura_err *err);

/* Visible (edit-list-applied) plaintext size. */
uint64_t c4gh_reader_size(const struct c4gh_reader *r);

/* Reads up to n bytes at visible offset off; returns bytes read (0 at end of
 * file) or -1 with err (EIO for tampering or truncation). Short only at the
 * end of the file. On error buf may hold earlier authenticated bytes or
 * zeros, never unauthenticated bytes. Segment numbers in messages count from 0. */
ssize_t c4gh_reader_pread(struct c4gh_reader *r, void *buf, size_t n, uint64_t off, struct kura_err *err);

void c4gh_reader_close(struct c4gh_reader *r);

/* ---- streams ----------------------------------------------------------- */

/* Encrypts everything readable from in_fd into segments written to
 * payload_fd with h's first data key. Optional outputs (NULL to skip):
 * plaintext size, and the nonce of every segment (malloc'd, *nsegments * 12
 * bytes). Plaintext of a multiple of 64 KiB gets no empty last segment;
 * empty plaintext gets no segment at all. */
int c4gh_encrypt_stream(const struct c4gh_header *h, int in_fd, int payload_fd, uint64_t *plain_size,
                        uint8_t **nonces, uint64_t *nsegments, struct kura_err *err);

/* Decrypts a whole payload (payload_fd from its current position to EOF)
 * to out_fd, edit list applied. Verifies every segment; nothing is written
 * for a segment that fails. */
int c4gh_decrypt_stream(const struct c4gh_header *h, int payload_fd, int out_fd, struct kura_err *err);

/* Verifies every segment's MAC (from payload_off to EOF, with pread) without
 * output; optionally returns the plaintext size before the edit list (see
 * c4gh_visible_size) and the nonce map. Used by import. */
int c4gh_verify_payload(const struct c4gh_header *h, int payload_fd, uint64_t payload_off,
                        uint64_t *plain_size, uint8_t **nonces, uint64_t *nsegments, struct kura_err *err);

/* Splits a Crypt4GH file into header and payload files, and joins them.
 * All fds are read/written sequentially from their current positions (pipes
 * work). The header's structure and the payload's length are checked; no
 * key is needed, so nothing is authenticated. */
int c4gh_split(int in_fd, int header_fd, int payload_fd, struct kura_err *err);
int c4gh_join(int header_fd, int payload_fd, int out_fd, struct kura_err *err);

#endif
