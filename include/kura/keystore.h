/* The keystore: every key kura holds, root-only (directories 0700, secret
 * files 0600), apart from the payloads in the store.
 *
 *   KEYS/server.sec, server.pub     the current server Crypt4GH key pair;
 *                                   the archive may encrypt deliveries to it
 *   KEYS/server-keys/<FP>.sec, .pub earlier server keys (kura_keystore_rotate),
 *                                   kept for deliveries still encrypted to
 *                                   them until kura_keystore_retire erases
 *                                   the secret half and leaves
 *   KEYS/server-keys/<FP>.retired   the record of the retirement (when, by
 *                                   whom) and the public half
 *   KEYS/.lock                      serialises rotation, retirement and new
 *                                   dataset keys
 *   KEYS/audit.key                  the audit log's MAC key (audit.h makes it)
 *   KEYS/datasets/<ID>/dataset.key.c4gh
 *                                   the dataset's secret key as a standard
 *                                   Crypt4GH message to the current server
 *                                   key (so only a server key opens it, and
 *                                   the reference tool can too, for recovery)
 *   KEYS/datasets/<ID>/dataset.pub  its public half: the dataset's delivery
 *                                   key, which the archive encrypts to
 *   KEYS/datasets/<ID>/<FILEID>.hdr     the file's Crypt4GH header, encrypted
 *                                       to the dataset key
 *   KEYS/datasets/<ID>/<FILEID>.segmap  nonce of every payload segment and the
 *                                       payload length, under a MAC keyed from
 *                                       the dataset secret key and bound to
 *                                       dataset id, file id and header bytes
 *
 * <FP> is a key's fingerprint: hex BLAKE2b-256 of its public key.
 *
 * Crypto-erasure (R-REV-1, R-REV-3): destroying a file's header makes its
 * payload undecryptable; destroying the dataset directory does that for
 * every file of the dataset, whoever holds the payloads, and for every
 * surviving copy of a delivery encrypted to the dataset's delivery key. A
 * delivery encrypted to a server key stays decryptable until that server
 * key is retired. Keys are never overwritten by creation: an existing key
 * is an error. */
#ifndef KURA_KEYSTORE_H
#define KURA_KEYSTORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "kura/c4gh.h"
#include "kura/error.h"
#include "kura/layout.h"
#include "kura/model.h"

#define KURA_SEGMAP_MAC_SIZE 32
#define KURA_KEY_FINGERPRINT_LEN 64    /* hex BLAKE2b-256 */

/* Hex BLAKE2b-256 of a public key: names a key in reports, ledgers and
 * commands without revealing anything secret. */
void kura_key_fingerprint(const uint8_t pk[C4GH_KEY_SIZE], char out[KURA_KEY_FINGERPRINT_LEN + 1]);
/* A fingerprint as given by a user: 64 lowercase hex characters. */
int kura_key_fingerprint_check(const char *fp, struct kura_err *err);

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
 * could read it) and loads the current and every earlier (not retired)
 * server secret key into secure memory; all take the same passphrase. */
int kura_keystore_open(const char *keys_dir, const char *passphrase, struct kura_keystore **out,
                       struct kura_err *err);
void kura_keystore_close(struct kura_keystore *ks);     /* wipes the key; NULL is fine */
const char *kura_keystore_dir(const struct kura_keystore *ks);
void kura_keystore_server_pk(const struct kura_keystore *ks, uint8_t pk[C4GH_KEY_SIZE]);
/* True when the server keys on disk are no longer the ones ks holds (a
 * rotation or retirement since it was opened): reopen it. */
bool kura_keystore_stale(const struct kura_keystore *ks);
/* Where ks holds the secret of the server key fp: 0 as the current key,
 * above 0 as an earlier one, -1 not at all. */
int kura_keystore_held(const struct kura_keystore *ks, const char *fp);
/* Wipes the secret of the earlier server key fp from ks and drops it (a
 * key a cluster change retired, while this copy of the keystore still
 * holds it). 1: wiped; -1: ks does not hold it; 0: it is ks's current key,
 * which is never dropped alone (close ks instead). */
int kura_keystore_forget(struct kura_keystore *ks, const char *fp);
/* The fingerprint of the i-th server key ks holds (0: the current one);
 * false past the last. */
bool kura_keystore_key_fingerprint(const struct kura_keystore *ks, size_t i,
                                   char out[KURA_KEY_FINGERPRINT_LEN + 1]);

/* ---- server key rotation and retirement ---------------------------------- */

/* Called by kura_keystore_rotate with the new key's fingerprint before the
 * keystore changes on disk (a cluster's write-ahead record of the change);
 * a failure leaves the keystore as it was. */
typedef int (*kura_keystore_rotate_fn)(const char *new_fp, void *ctx, struct kura_err *err);
/* Makes a new current server key (protected by passphrase when it is not
 * empty; give the same one the keystore opened with) and keeps the old one
 * as an earlier key in server-keys/. Crash-safe: the old key is linked
 * there before the new one replaces server.sec; a run interrupted before
 * that replacement leaves the old key current. new_fp gets the new key's
 * fingerprint; before (when not NULL) is told it first. Then reopen the
 * keystore and kura_keystore_rewrap. */
int kura_keystore_rotate(const struct kura_keystore *ks, const char *passphrase, kura_keystore_rotate_fn before,
                         void *ctx, char new_fp[KURA_KEY_FINGERPRINT_LEN + 1], struct kura_err *err);
/* Wraps every dataset key that is not wrapped to the current server key
 * to it: an atomic replacement, after which the old file is erased
 * (kura_destroy_file), so no copy wrapped to an earlier key stays behind;
 * what a killed run left is erased by the next. *n gets how many were. ks must hold the current key (EAGAIN
 * when it is stale). */
int kura_keystore_rewrap(const struct kura_keystore *ks, size_t *n, struct kura_err *err);
/* Retires the earlier server key fp: rewraps what still needs it, erases
 * its secret half (kura_destroy_file) and writes <fp>.retired holding note
 * (one line: when, by whom) and its public half. EBUSY for the current key,
 * EALREADY when it was retired already, ENOENT when no such key. */
int kura_keystore_retire(const struct kura_keystore *ks, const char *fp, const char *note, size_t *nrewrapped,
                         struct kura_err *err);

enum kura_server_key_state { KURA_SKEY_CURRENT, KURA_SKEY_EARLIER, KURA_SKEY_RETIRED };
struct kura_server_key_info {
    char fp[KURA_KEY_FINGERPRINT_LEN + 1];
    enum kura_server_key_state state;
    char note[256];             /* retired: the retirement record's first line */
};
/* Every server key the keystore knows: the current one first, then the
 * earlier and retired ones sorted by fingerprint. *v is malloc'd. */
int kura_keystore_server_keys(const char *keys_dir, struct kura_server_key_info **v, size_t *n,
                              struct kura_err *err);
/* True while a secret key with fingerprint fp is in the keystore: the
 * current or an earlier server key, or a dataset's delivery key. */
bool kura_keystore_secret_exists(const char *keys_dir, const char *fp);

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
 * passphrase needed), and its public half as dataset.pub. Refuses (EEXIST)
 * if the dataset already has a key. */
int kura_keystore_dataset_create(const char *keys_dir, const char *ds_id, struct kura_err *err);
/* The dataset's delivery key (dataset.pub) as armoured text, malloc'd; no
 * secret needed. ENOENT when the file is missing (a dataset made before
 * delivery keys: kura_dskey_save_pub writes it from the unwrapped key). */
int kura_keystore_dataset_pubkey_text(const char *keys_dir, const char *ds_id, char **text, struct kura_err *err);
int kura_dskey_save_pub(const struct kura_dskey *dk, struct kura_err *err);
/* Fingerprint of the dataset's delivery key from dataset.pub; -1 when it
 * has none. */
int kura_keystore_dataset_fingerprint(const char *keys_dir, const char *ds_id, char out[KURA_KEY_FINGERPRINT_LEN + 1]);
/* True if a wrapped dataset key exists. */
bool kura_keystore_dataset_exists(const char *keys_dir, const char *ds_id);
/* Unwraps the dataset key with whichever server key it is wrapped to
 * (ENOENT when it was destroyed or never made). */
int kura_keystore_dataset_key(const struct kura_keystore *ks, const char *ds_id, struct kura_dskey **out,
                              struct kura_err *err);
void kura_dskey_free(struct kura_dskey *dk);            /* wipes; NULL is fine */
void kura_dskey_fingerprint(const struct kura_dskey *dk, char out[KURA_KEY_FINGERPRINT_LEN + 1]);

/* Which key opened a delivery. */
struct kura_delivery_key {
    const char *role;           /* "dataset" or "server" */
    char fp[KURA_KEY_FINGERPRINT_LEN + 1];
};
/* Opens the header of an archive delivery with a server key (the current
 * one, else an earlier one), else the dataset's delivery key; *which says
 * which. A server key wins: a delivery to both stays decryptable while the
 * server key exists. Packets for other recipients are skipped
 * (c4gh_header_open). */
int kura_keystore_open_delivery(const struct kura_keystore *ks, const struct kura_dskey *dk, const uint8_t *raw,
                                size_t raw_len, struct c4gh_header **out, struct kura_delivery_key *which,
                                struct kura_err *err);

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

/* What an open of a file reads from the keystore (the dataset's wrapped
 * key, the file's header and segment map), each file by device, inode,
 * size and change and modification times: equal stamps mean that loading
 * again would read the same bytes (kura replaces these files by rename or
 * erases them, never edits one in place). ENOENT when one is gone. */
struct kura_key_stamp {
    struct kura_file_stamp {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec ctime, mtime;
    } key, header, map;
};
int kura_keystore_file_stamp(const char *keys_dir, const char *ds_id, const char *file_id, struct kura_key_stamp *out,
                             struct kura_err *err);
bool kura_key_stamp_equal(const struct kura_key_stamp *a, const struct kura_key_stamp *b);

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
