/* The keystore: every key kura holds, root-only (directories 0700, secret
 * files 0600), apart from the payloads in the store.
 *
 *   KEYS/server.sec, server.pub     the server's Crypt4GH key pair; the
 *                                   public half is what the archive encrypts to
 *   KEYS/audit.key                  the audit log's MAC key (audit.h makes it)
 *   KEYS/datasets/<ID>/dataset.key.c4gh
 *                                   the dataset's secret key as a standard
 *                                   Crypt4GH message to the server key (so
 *                                   only the server key opens it, and the
 *                                   reference tool can too, for recovery)
 *   KEYS/datasets/<ID>/<FILEID>.hdr     the file's Crypt4GH header, encrypted
 *                                       to the dataset key
 *   KEYS/datasets/<ID>/<FILEID>.segmap  nonce of every payload segment and the
 *                                       payload length, under a MAC keyed from
 *                                       the dataset secret key and bound to
 *                                       dataset id, file id and header bytes
 *
 * Crypto-erasure (R-REV-1, R-REV-3): destroying a file's header makes its
 * payload undecryptable; destroying the dataset directory does that for
 * every file of the dataset, whoever holds the payloads. Keys are never
 * overwritten by creation: an existing key is an error. */
#ifndef KURA_KEYSTORE_H
#define KURA_KEYSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/c4gh.h"
#include "kura/error.h"
#include "kura/model.h"

#define KURA_SERVER_SEC_FILE "server.sec"
#define KURA_SERVER_PUB_FILE "server.pub"
#define KURA_AUDIT_KEY_FILE "audit.key"
#define KURA_SEGMAP_MAC_SIZE 32
#define KURA_KEY_FINGERPRINT_LEN 64    /* hex BLAKE2b-256 */

/* ---- server key -------------------------------------------------------- */

/* Creates keys_dir (0700) and datasets/ under it, and a new server key
 * pair: server.sec (0600; scrypt-protected when passphrase is non-empty)
 * and server.pub. Refuses (EEXIST) if a server key exists. */
int kura_keystore_create(const char *keys_dir, const char *passphrase, struct kura_err *err);

/* Whether server.sec is passphrase-protected. */
int kura_keystore_needs_passphrase(const char *keys_dir, bool *needed, struct kura_err *err);

/* The public key file's text (armoured), malloc'd; no secret needed. */
int kura_keystore_pubkey_text(const char *keys_dir, char **text, struct kura_err *err);

struct kura_keystore;

/* Checks the keystore's ownership and modes (refused when other users
 * could read it) and loads the server secret key into secure memory. */
int kura_keystore_open(const char *keys_dir, const char *passphrase, struct kura_keystore **out,
                       struct kura_err *err);
void kura_keystore_close(struct kura_keystore *ks);     /* wipes the key; NULL is fine */
const char *kura_keystore_dir(const struct kura_keystore *ks);
void kura_keystore_server_pk(const struct kura_keystore *ks, uint8_t pk[C4GH_KEY_SIZE]);

/* Opens a header delivered by the archive (encrypted to the server key). */
int kura_keystore_open_header(const struct kura_keystore *ks, const uint8_t *raw, size_t raw_len,
                              struct c4gh_header **out, struct kura_err *err);

/* ---- dataset keys ------------------------------------------------------ */

/* An unwrapped dataset key pair; sk in secure memory. */
struct kura_dskey {
    char *dir;                  /* KEYS/datasets/<ID> */
    char *id;
    uint8_t *sk;                /* C4GH_KEY_SIZE bytes, secure memory */
    uint8_t pk[C4GH_KEY_SIZE];
    uint8_t *mac_key;           /* segment-map MAC key derived from sk, secure memory */
};

/* Dataset ids are checked with kura_id_check (dsfile.h) before they become
 * directory names. */

/* New dataset key pair, wrapped to the server public key (server.pub: no
 * passphrase needed). Refuses (EEXIST) if the dataset already has a key. */
int kura_keystore_dataset_create(const char *keys_dir, const char *ds_id, struct kura_err *err);
/* True if a wrapped dataset key exists. */
bool kura_keystore_dataset_exists(const char *keys_dir, const char *ds_id);
/* Unwraps the dataset key (ENOENT when it was destroyed or never made). */
int kura_keystore_dataset_key(const struct kura_keystore *ks, const char *ds_id, struct kura_dskey **out,
                              struct kura_err *err);
void kura_dskey_free(struct kura_dskey *dk);            /* wipes; NULL is fine */
/* Hex BLAKE2b-256 of the dataset public key: names the key in reports
 * without revealing anything secret. */
void kura_dskey_fingerprint(const struct kura_dskey *dk, char out[KURA_KEY_FINGERPRINT_LEN + 1]);

/* Crypto-erasure of a whole dataset: the wrapped dataset key first (from
 * that moment no header opens), then every header and segment map, then
 * the directory (each file overwritten, fsynced, unlinked; the directory
 * fsynced). Idempotent: a run interrupted half-way can be repeated;
 * nothing there is not an error. */
int kura_keystore_dataset_destroy(const char *keys_dir, const char *ds_id, struct kura_err *err);

/* ---- per-file header and segment map ----------------------------------- */

/* A file id: KURA_FILE_ID_LEN lowercase hex characters. */
int kura_file_id_check(const char *file_id, struct kura_err *err);
/* A new random file id. */
void kura_file_id_new(char out[KURA_FILE_ID_LEN + 1]);

struct kura_segmap {
    uint64_t payload_len;       /* bytes of ciphertext in the store file */
    uint64_t nsegments;
    uint8_t *nonces;            /* nsegments * C4GH_NONCE_SIZE (malloc'd) */
};
void kura_segmap_clear(struct kura_segmap *m);

/* Writes <FILEID>.hdr and <FILEID>.segmap (0600). Refuses to replace an
 * existing entry (EEXIST). With durable = false the files are written but
 * not fsynced: a caller writing many entries makes them durable at once
 * with kura_keystore_sync before it commits anything that refers to them. */
int kura_keystore_file_store(const struct kura_dskey *dk, const char *file_id, const uint8_t *hdr,
                             size_t hdr_len, const struct kura_segmap *map, bool durable,
                             struct kura_err *err);
/* Flushes everything written under the dataset's key directory. */
int kura_keystore_sync(const struct kura_dskey *dk, struct kura_err *err);

/* Reads both and verifies the segment map's MAC against this dataset, this
 * file id and this header (EIO "fails authentication" on any mismatch,
 * ENOENT when destroyed). *hdr is malloc'd. */
int kura_keystore_file_load(const struct kura_dskey *dk, const char *file_id, uint8_t **hdr,
                            size_t *hdr_len, struct kura_segmap *map, struct kura_err *err);

/* Destroys <FILEID>.hdr then <FILEID>.segmap; absent files are fine. */
int kura_keystore_file_destroy(const char *keys_dir, const char *ds_id, const char *file_id,
                               struct kura_err *err);

/* The file ids that have a header or segment map in the keystore (sorted,
 * malloc'd array of malloc'd strings); other names are ignored. */
int kura_keystore_file_ids(const char *keys_dir, const char *ds_id, char ***ids, size_t *n,
                           struct kura_err *err);
void kura_keystore_ids_free(char **ids, size_t n);

#endif
