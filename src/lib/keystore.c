#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/endian.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/keystore.h"
#include "kura/model.h"
#include "kura/secmem.h"
#include "kura/text.h"

/* The names are layout.h's; short here. */
#define SERVER_SEC KURA_SERVER_SEC_FILE
#define SERVER_PUB KURA_SERVER_PUB_FILE
#define DATASETS KURA_KEY_DATASETS_DIR
#define DATASET_KEY KURA_DATASET_KEY_FILE
#define DATASET_PUB KURA_DATASET_PUB_FILE
#define EARLIER KURA_SERVER_KEYS_DIR
#define KEYSTORE_LOCK KURA_KEYSTORE_LOCK
#define KEYSTORE_LOCK_WAIT_MS 30000
#define SEC_SUFFIX KURA_EARLIER_SEC_SUFFIX
#define PUB_SUFFIX KURA_EARLIER_PUB_SUFFIX
#define RETIRED_SUFFIX KURA_RETIRED_SUFFIX
#define REWRAP_OLD_SUFFIX KURA_REWRAP_OLD_SUFFIX
#define DESTROYING KURA_KEYS_DESTROYING_DIR
#define KEY_FILE_MAX (64u * 1024)
#define SEGMAP_MAGIC "KURASEG1"
#define SEGMAP_HEAD (8 + 8 + 8)
/* 2^26 segments of 64 KiB: payloads up to 4 TiB, a 768 MiB map at most. */
#define SEGMAP_MAX_SEGMENTS (UINT64_C(1) << 26)
#define SEGMAP_FILE_MAX (SEGMAP_HEAD + SEGMAP_MAX_SEGMENTS * C4GH_NONCE_SIZE + KURA_SEGMAP_MAC_SIZE)

struct server_key {
    uint8_t *sk;                /* secure memory */
    uint8_t pk[C4GH_KEY_SIZE];
};

/* The public halves of the dataset keys opened before, so an open does not
 * derive one again (an X25519). Keyed by a hash of the server key that
 * unwrapped it, the dataset id and the wrapped key file's bytes: the same
 * bytes open to the same secret under the same key, and a key made anew
 * (a dataset destroyed and added again, a rewrap) is other bytes. Public
 * values only; direct-mapped, a collision just derives again. */
#define PK_MEMO_SLOTS 64
struct pk_memo {
    pthread_mutex_t lock;
    struct {
        bool used;
        uint8_t key[crypto_generichash_BYTES];
        uint8_t pk[C4GH_KEY_SIZE];
    } slots[PK_MEMO_SLOTS];
};

struct kura_keystore {
    char *dir;
    struct server_key *keys;    /* [0] the current key, then the earlier ones */
    size_t nkeys;
    struct pk_memo *pk_memo;    /* mutable behind a const keystore: own lock */
};

static char *join(const char *a, const char *b)
{
    char *s;
    return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static int oom(struct kura_err *err)
{
    kura_err_set(err, ENOMEM, "out of memory");
    return -1;
}

/* opendir, where a missing directory counts as empty: NULL with *rc 0 when
 * it is absent, NULL with *rc -1 (err set) on any other error. */
static DIR *open_dir_if_present(const char *dir, int *rc, struct kura_err *err)
{
    DIR *d = opendir(dir);
    *rc = 0;
    if (!d && errno != ENOENT) {
        kura_err_set(err, errno, "open %s: %s", dir, strerror(errno));
        *rc = -1;
    }
    return d;
}

/* ---- ids --------------------------------------------------------------- */

static int ds_id_check(const char *id, struct kura_err *err)
{
    return kura_id_check(id, "dataset id", err);
}

int kura_file_id_check(const char *file_id, struct kura_err *err)
{
    if (strlen(file_id) != KURA_FILE_ID_LEN || !kura_hex_lower(file_id, KURA_FILE_ID_LEN)) {
        kura_err_set(err, EINVAL, "file id must be %d lowercase hex characters", KURA_FILE_ID_LEN);
        return -1;
    }
    return 0;
}

void kura_key_fingerprint(const uint8_t pk[C4GH_KEY_SIZE], char out[KURA_KEY_FINGERPRINT_LEN + 1])
{
    uint8_t h[KURA_KEY_FINGERPRINT_LEN / 2];
    crypto_generichash(h, sizeof h, pk, C4GH_KEY_SIZE, NULL, 0);
    sodium_bin2hex(out, KURA_KEY_FINGERPRINT_LEN + 1, h, sizeof h);
}

int kura_key_fingerprint_check(const char *fp, struct kura_err *err)
{
    if (strlen(fp) != KURA_KEY_FINGERPRINT_LEN || !kura_hex_lower(fp, KURA_KEY_FINGERPRINT_LEN)) {
        kura_err_set(err, EINVAL, "a key fingerprint is %d lowercase hex characters (kuractl key list shows them)",
                     KURA_KEY_FINGERPRINT_LEN);
        return -1;
    }
    return 0;
}

void kura_file_id_new(char out[KURA_FILE_ID_LEN + 1])
{
    uint8_t raw[KURA_FILE_ID_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, KURA_FILE_ID_LEN + 1, raw, sizeof raw);
}

/* ---- server key -------------------------------------------------------- */

/* The keystore and the secret key file must be the caller's alone. */
static int check_private(const char *path, bool want_dir, struct kura_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        kura_err_set(err, e, "%s: %s%s", path, strerror(e),
                     e == ENOENT ? " (run kuractl init first)" : "");
        return -1;
    }
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        kura_err_set(err, EINVAL, "%s is not a %s", path, want_dir ? "directory" : "regular file");
        return -1;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        kura_err_set(err, EPERM, "%s is open to other users (owner %u, mode %04o); it must be owned by "
                     "uid %u with mode %s", path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
                     (unsigned)geteuid(), want_dir ? "0700" : "0600");
        return -1;
    }
    return 0;
}

/* Writes a public key file (armoured), atomically. */
static int write_pubkey(const char *path, const uint8_t pk[C4GH_KEY_SIZE], mode_t mode, struct kura_err *err)
{
    char *text = c4gh_pubkey_format(pk);
    int rc = text ? kura_write_file_atomic(path, text, strlen(text), mode, err) : oom(err);
    free(text);
    return rc;
}

/* Writes server.pub from a secret key (also when a crashed init or
 * rotation left only the secret half). */
static int write_pub(const char *keys_dir, const uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    char *path = join(keys_dir, SERVER_PUB);
    int rc = path ? write_pubkey(path, pk, 0644, err) : oom(err);
    free(path);
    return rc;
}

/* KEYS/.lock: one rotation, retirement or new dataset key at a time. */
static int keystore_lock(const char *keys_dir, struct kura_err *err)
{
    char *path = join(keys_dir, KEYSTORE_LOCK);
    int fd = path ? kura_lock(path, KEYSTORE_LOCK_WAIT_MS, err) : oom(err);
    free(path);
    return fd;
}

/* "<dir>/<fp><suffix>" */
static char *fp_path(const char *dir, const char *fp, const char *suffix)
{
    char *s;
    return asprintf(&s, "%s/%s%s", dir, fp, suffix) < 0 ? NULL : s;
}

int kura_keystore_create(const char *keys_dir, const char *passphrase, struct kura_err *err)
{
    char *datasets = join(keys_dir, DATASETS);
    char *sec = join(keys_dir, SERVER_SEC);
    char *pub = join(keys_dir, SERVER_PUB);
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    char *text = NULL;
    int rc = -1;
    if (!datasets || !sec || !pub || !sk) {
        oom(err);
        goto out;
    }
    if (kura_mkdir_p(keys_dir, 0700, err) != 0 || check_private(keys_dir, true, err) != 0 ||
        kura_mkdir_p(datasets, 0700, err) != 0)
        goto out;
    if (access(sec, F_OK) == 0) {
        kura_err_set(err, EEXIST, "a server key already exists in %s; kura never overwrites keys", keys_dir);
        goto out;
    }
    if (access(pub, F_OK) == 0) {
        kura_err_set(err, EEXIST, "%s exists without its secret key; move it away to create a new "
                     "server key", pub);
        goto out;
    }
    uint8_t pk[C4GH_KEY_SIZE];
    c4gh_keygen(sk, pk);
    text = c4gh_seckey_format(sk, passphrase, "kura server key", err);
    if (!text)
        goto out;
    /* Secret half first: a crash before the public half is repaired by
     * kura_keystore_open (it derives server.pub again). */
    if (kura_write_file_new(sec, text, strlen(text), 0600, err) != 0)
        goto out;
    rc = write_pub(keys_dir, pk, err);
out:
    c4gh_text_free(text);
    kura_secure_free(sk);
    free(datasets);
    free(sec);
    free(pub);
    return rc;
}

int kura_keystore_needs_passphrase(const char *keys_dir, bool *needed, struct kura_err *err)
{
    char *sec = join(keys_dir, SERVER_SEC);
    if (!sec)
        return oom(err);
    int rc = c4gh_seckey_is_encrypted(sec, needed, err);
    free(sec);
    return rc;
}

int kura_keystore_pubkey_text(const char *keys_dir, char **text, struct kura_err *err)
{
    char *pub = join(keys_dir, SERVER_PUB);
    if (!pub)
        return oom(err);
    uint8_t pk[C4GH_KEY_SIZE];
    /* Parse before printing: what an operator registers must be a key. */
    int rc = c4gh_pubkey_load(pub, pk, err);
    free(pub);
    if (rc != 0)
        return -1;
    *text = c4gh_pubkey_format(pk);
    return *text ? 0 : oom(err);
}

/* Loads the secret key file path into a new slot of ks. */
static int add_key(struct kura_keystore *ks, const char *path, const char *passphrase, struct kura_err *err)
{
    struct server_key *v = realloc(ks->keys, (ks->nkeys + 1) * sizeof *v);
    if (!v)
        return oom(err);
    ks->keys = v;
    struct server_key *k = &ks->keys[ks->nkeys];
    memset(k, 0, sizeof *k);
    if (!(k->sk = kura_secure_alloc(C4GH_KEY_SIZE)))
        return oom(err);
    ks->nkeys++;
    if (check_private(path, false, err) != 0 || c4gh_seckey_load(path, passphrase, k->sk, err) != 0)
        return -1;
    c4gh_public_from_secret(k->sk, k->pk);
    return 0;
}

bool kura_keystore_key_fingerprint(const struct kura_keystore *ks, size_t i, char out[KURA_KEY_FINGERPRINT_LEN + 1])
{
    if (i >= ks->nkeys)
        return false;
    kura_key_fingerprint(ks->keys[i].pk, out);
    return true;
}

int kura_keystore_held(const struct kura_keystore *ks, const char *fp)
{
    char have[KURA_KEY_FINGERPRINT_LEN + 1];
    for (size_t i = 0; kura_keystore_key_fingerprint(ks, i, have); i++)
        if (strcmp(have, fp) == 0)
            return (int)i;
    return -1;
}

int kura_keystore_forget(struct kura_keystore *ks, const char *fp)
{
    int at = kura_keystore_held(ks, fp);
    if (at <= 0)
        return at;
    kura_secure_free(ks->keys[at].sk); /* wipes */
    memmove(&ks->keys[at], &ks->keys[at + 1], (ks->nkeys - (size_t)at - 1) * sizeof *ks->keys);
    ks->nkeys--;
    return 1;
}

/* "<fp>.sec" in server-keys/: copies the fingerprint out; false for other names. */
static bool earlier_name(const char *name, const char *suffix, char fp[KURA_KEY_FINGERPRINT_LEN + 1])
{
    size_t n = strlen(name);
    if (n != KURA_KEY_FINGERPRINT_LEN + strlen(suffix) || strcmp(name + KURA_KEY_FINGERPRINT_LEN, suffix) != 0)
        return false;
    memcpy(fp, name, KURA_KEY_FINGERPRINT_LEN);
    fp[KURA_KEY_FINGERPRINT_LEN] = '\0';
    return kura_hex_lower(fp, KURA_KEY_FINGERPRINT_LEN);
}

/* The earlier server keys: each must be the key its name says. A copy of
 * the current key (a rotation interrupted before its switch) is skipped. */
static int load_earlier(struct kura_keystore *ks, const char *passphrase, struct kura_err *err)
{
    char *dir = join(ks->dir, EARLIER);
    if (!dir)
        return oom(err);
    int rc;
    DIR *d = open_dir_if_present(dir, &rc, err);
    if (!d) {
        free(dir);
        return rc;
    }
    rc = check_private(dir, true, err);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        char fp[KURA_KEY_FINGERPRINT_LEN + 1], got[KURA_KEY_FINGERPRINT_LEN + 1];
        if (!earlier_name(de->d_name, SEC_SUFFIX, fp) || kura_keystore_held(ks, fp) >= 0)
            continue;
        char *path = join(dir, de->d_name);
        if (!path || add_key(ks, path, passphrase, err) != 0) {
            if (!path)
                oom(err);
            else
                kura_err_prefix(err, "earlier server key");
            rc = -1;
        } else {
            kura_key_fingerprint(ks->keys[ks->nkeys - 1].pk, got);
            if (strcmp(got, fp) != 0) {
                kura_err_set(err, EINVAL, "%s holds the key %s, not the one its name says", path, got);
                rc = -1;
            }
        }
        free(path);
    }
    closedir(d);
    free(dir);
    return rc;
}

/* Destroys a file if it is there. It first moves, in one rename, to a name
 * of its own in KEYS/.destroying: a kill during the overwrite then leaves
 * no torn key under the old name (a loader would refuse it as a damaged
 * key and stop the server), and the next keystore open finishes the job. */
static int destroy_if_present(const char *keys_dir, const char *path, struct kura_err *err)
{
    char *dir = join(keys_dir, DESTROYING), *moved = NULL;
    int rc = -1, fd = -1;
    struct stat st;
    if (!dir || asprintf(&moved, "%s/XXXXXX", dir) < 0) {
        moved = NULL;
        oom(err);
        goto out;
    }
    if (lstat(path, &st) != 0) {
        rc = errno == ENOENT ? 0 : (kura_err_set(err, errno, "destroy %s: %s", path, strerror(errno)), -1);
        goto out;
    }
    if (kura_mkdir_p(dir, 0700, err) != 0)
        goto out;
    if ((fd = mkstemp(moved)) < 0) {
        kura_err_set(err, errno, "destroy %s: a name in %s: %s", path, dir, strerror(errno));
        goto out;
    }
    close(fd);
    if (rename(path, moved) != 0) {
        int e = errno;
        unlink(moved);
        rc = e == ENOENT ? 0 : (kura_err_set(err, e, "destroy %s: move to %s: %s", path, dir, strerror(e)), -1);
        goto out;
    }
    if (kura_fsync_parent(path, err) != 0 || kura_fsync_dir(dir, err) != 0)
        goto out;
    struct kura_err e = {0};
    if (kura_destroy_file(moved, &e) == 0 || e.code == ENOENT)
        rc = 0;
    else if (err)
        *err = e;
    if (rc != 0)
        kura_err_prefix(err, "destroy %s", path);
out:
    free(dir);
    free(moved);
    return rc;
}

/* Finishes destructions a kill interrupted (see destroy_if_present). */
static int finish_destroying(const char *keys_dir, struct kura_err *err)
{
    char *dir = join(keys_dir, DESTROYING);
    if (!dir)
        return oom(err);
    int rc;
    DIR *d = open_dir_if_present(dir, &rc, err);
    struct dirent *de;
    while (d && rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = join(dir, de->d_name);
        struct kura_err e = {0};
        if (!p)
            rc = oom(err);
        else if (kura_destroy_file(p, &e) != 0 && e.code != ENOENT) {
            if (err)
                *err = e;
            rc = -1;
        }
        free(p);
    }
    if (d)
        closedir(d);
    free(dir);
    return rc;
}

/* One attempt at opening. server.pub missing (a crash in init or in a
 * rotation's switch) is repaired only under the keystore lock, where no
 * rotation is between its switch of server.sec and its new server.pub:
 * otherwise the old public half could be written beside the new secret. */
static int open_once(const char *keys_dir, const char *passphrase, bool locked, struct kura_keystore **out,
                     struct kura_err *err)
{
    *out = NULL;
    char *sec = join(keys_dir, SERVER_SEC);
    char *pub = join(keys_dir, SERVER_PUB);
    struct kura_keystore *ks = calloc(1, sizeof *ks);
    int rc = -1;
    if (!sec || !pub || !ks || !(ks->dir = strdup(keys_dir)) || !(ks->pk_memo = calloc(1, sizeof *ks->pk_memo))) {
        oom(err);
        goto fail;
    }
    pthread_mutex_init(&ks->pk_memo->lock, NULL);
    if (check_private(keys_dir, true, err) != 0 || finish_destroying(keys_dir, err) != 0)
        goto fail;
    if (add_key(ks, sec, passphrase, err) != 0) {
        kura_err_prefix(err, "server key");
        goto fail;
    }
    const uint8_t *pk = ks->keys[0].pk;
    if (access(pub, F_OK) != 0) {
        if (!locked) {
            rc = 1;
            goto fail;
        }
        if (write_pub(keys_dir, pk, err) != 0)
            goto fail;
    } else {
        /* Dataset keys are wrapped to server.pub: it must be this key's. */
        uint8_t on_file[C4GH_KEY_SIZE];
        if (c4gh_pubkey_load(pub, on_file, err) != 0)
            goto fail;
        if (sodium_memcmp(on_file, pk, C4GH_KEY_SIZE) != 0) {
            kura_err_set(err, EINVAL, "%s is not the public half of %s; restore the right one", pub, sec);
            goto fail;
        }
    }
    if (load_earlier(ks, passphrase, err) != 0)
        goto fail;
    free(sec);
    free(pub);
    *out = ks;
    return 0;
fail:
    free(sec);
    free(pub);
    kura_keystore_close(ks);
    return rc;
}

int kura_keystore_open(const char *keys_dir, const char *passphrase, struct kura_keystore **out,
                       struct kura_err *err)
{
    int rc = open_once(keys_dir, passphrase, false, out, err);
    if (rc <= 0)
        return rc;
    int lock = keystore_lock(keys_dir, err);
    if (lock < 0)
        return -1;
    rc = open_once(keys_dir, passphrase, true, out, err);
    kura_unlock(lock);
    return rc;
}

void kura_keystore_close(struct kura_keystore *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->nkeys; i++)
        kura_secure_free(ks->keys[i].sk);
    free(ks->keys);
    free(ks->dir);
    if (ks->pk_memo)
        pthread_mutex_destroy(&ks->pk_memo->lock);
    free(ks->pk_memo);
    free(ks);
}

const char *kura_keystore_dir(const struct kura_keystore *ks)
{
    return ks->dir;
}

void kura_keystore_server_pk(const struct kura_keystore *ks, uint8_t pk[C4GH_KEY_SIZE])
{
    memcpy(pk, ks->keys[0].pk, C4GH_KEY_SIZE);
}

/* ---- dataset keys ------------------------------------------------------ */

static char *dataset_dir(const char *keys_dir, const char *ds_id)
{
    return kura_layout_key_dataset_dir(keys_dir, ds_id);
}

bool kura_keystore_dataset_exists(const char *keys_dir, const char *ds_id)
{
    if (ds_id_check(ds_id, NULL) != 0)
        return false;
    char *dir = dataset_dir(keys_dir, ds_id);
    char *key = dir ? join(dir, DATASET_KEY) : NULL;
    bool exists = key && access(key, F_OK) == 0;
    free(key);
    free(dir);
    return exists;
}

/* A secret key as a Crypt4GH message to server_pk: header, then one
 * segment holding the 32 bytes. *msg is malloc'd (ciphertext only). */
static int wrap_key(const uint8_t *sk, const uint8_t server_pk[C4GH_KEY_SIZE], uint8_t **msg, size_t *len,
                    struct kura_err *err)
{
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    int rc = -1;
    *msg = NULL;
    if (c4gh_header_new(&h, NULL, 0, err) != 0 || c4gh_header_build(h, NULL, server_pk, 1, &raw, &raw_len, err) != 0)
        goto out;
    size_t seg = C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE;
    if (!(*msg = malloc(raw_len + seg))) {
        oom(err);
        goto out;
    }
    memcpy(*msg, raw, raw_len);
    c4gh_segment_encrypt(h->keys, sk, C4GH_KEY_SIZE, *msg + raw_len);
    *len = raw_len + seg;
    rc = 0;
out:
    c4gh_header_free(h);
    free(raw);
    return rc;
}

/* Unwraps a wrapped key file's bytes into sk (secure memory) with whichever
 * of ks's server keys it is wrapped to; *which gets that key's index. The
 * one segment holds the key alone (checked first), so it is decrypted
 * straight into sk: no segment-sized buffer to take and wipe per open. */
static int unwrap_key(const struct kura_keystore *ks, const char *buf, size_t len, uint8_t *sk, size_t *which,
                      struct kura_err *err)
{
    struct c4gh_header *h = NULL;
    size_t hl, plen = 0;
    int rc = -1;
    if (c4gh_header_check((const uint8_t *)buf, len, &hl, err) != 0)
        goto out;
    if (len - hl != C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE) {
        kura_err_set(err, EIO, "wrapped key has the wrong length");
        goto out;
    }
    /* The current key first: every dataset key is wrapped to it except
     * during a rotation. The first key's error is the one reported. */
    size_t i;
    for (i = 0; i < ks->nkeys; i++)
        if (c4gh_header_open_strict((const uint8_t *)buf, hl, ks->keys[i].sk, ks->keys[i].pk, &h, i ? NULL : err) == 0)
            break;
    if (i == ks->nkeys || c4gh_segment_decrypt(h, 0, (const uint8_t *)buf + hl, len - hl, sk, &plen, err) != 0)
        goto out;
    *which = i;
    rc = 0;
out:
    c4gh_header_free(h);
    return rc;
}

int kura_keystore_dataset_create(const char *keys_dir, const char *ds_id, struct kura_err *err)
{
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id);
    char *pub = join(keys_dir, SERVER_PUB);
    char *path = dir ? join(dir, DATASET_KEY) : NULL;
    char *dpub = dir ? join(dir, DATASET_PUB) : NULL;
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    int rc = -1, lock = -1;
    uint8_t server_pk[C4GH_KEY_SIZE];
    if (!path || !dpub || !pub || !sk) {
        oom(err);
        goto out;
    }
    /* Not while a rotation switches server.pub or a retirement rewraps. */
    if ((lock = keystore_lock(keys_dir, err)) < 0)
        goto out;
    if (access(path, F_OK) == 0) {
        kura_err_set(err, EEXIST, "dataset %s already has a key; kura never overwrites keys", ds_id);
        goto out;
    }
    if (c4gh_pubkey_load(pub, server_pk, err) != 0)
        goto out;
    if (kura_mkdir_p(dir, 0700, err) != 0)
        goto out;
    uint8_t pk[C4GH_KEY_SIZE];
    c4gh_keygen(sk, pk);
    /* The public half first: the key file is what makes the key exist. */
    if (write_pubkey(dpub, pk, 0600, err) != 0 || wrap_key(sk, server_pk, &msg, &msg_len, err) != 0)
        goto out;
    rc = kura_write_file_new(path, msg, msg_len, 0600, err);
out:
    if (rc != 0)
        kura_err_prefix(err, "dataset %s key", ds_id);
    kura_unlock(lock);
    free(msg);
    kura_secure_free(sk);
    free(path);
    free(dpub);
    free(pub);
    free(dir);
    return rc;
}

int kura_keystore_dataset_pubkey_text(const char *keys_dir, const char *ds_id, char **text, struct kura_err *err)
{
    *text = NULL;
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id);
    char *dpub = dir ? join(dir, DATASET_PUB) : NULL;
    uint8_t pk[C4GH_KEY_SIZE];
    int rc = dpub ? c4gh_pubkey_load(dpub, pk, err) : oom(err);
    if (rc == 0 && !(*text = c4gh_pubkey_format(pk)))
        rc = oom(err);
    free(dpub);
    free(dir);
    return rc;
}

int kura_dskey_save_pub(const struct kura_dskey *dk, struct kura_err *err)
{
    char *dpub = join(dk->dir, DATASET_PUB);
    int rc = dpub ? write_pubkey(dpub, dk->pk, 0600, err) : oom(err);
    free(dpub);
    return rc;
}

int kura_keystore_dataset_fingerprint(const char *keys_dir, const char *ds_id, char out[KURA_KEY_FINGERPRINT_LEN + 1])
{
    char *dir = ds_id_check(ds_id, NULL) == 0 ? dataset_dir(keys_dir, ds_id) : NULL;
    char *dpub = dir ? join(dir, DATASET_PUB) : NULL;
    uint8_t pk[C4GH_KEY_SIZE];
    int rc = dpub ? c4gh_pubkey_load(dpub, pk, NULL) : -1;
    if (rc == 0)
        kura_key_fingerprint(pk, out);
    free(dpub);
    free(dir);
    return rc;
}

void kura_dskey_free(struct kura_dskey *dk)
{
    if (!dk)
        return;
    kura_secure_free(dk->sk);
    kura_secure_free(dk->mac_key);
    free(dk->dir);
    free(dk->id);
    free(dk);
}

static const char mac_key_label[] = "kura segment map MAC key v1";

/* dk->pk from the memo, else derived from dk->sk and remembered. */
static void dataset_pk(const struct kura_keystore *ks, size_t which, const char *wrapped, size_t len,
                       struct kura_dskey *dk)
{
    struct pk_memo *m = ks->pk_memo;
    uint8_t key[crypto_generichash_BYTES];
    const uint64_t which64 = which;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof key);
    crypto_generichash_update(&st, (const uint8_t *)&which64, sizeof which64);
    crypto_generichash_update(&st, (const uint8_t *)dk->id, strlen(dk->id) + 1);
    crypto_generichash_update(&st, (const uint8_t *)wrapped, len);
    crypto_generichash_final(&st, key, sizeof key);
    size_t slot = key[0] % PK_MEMO_SLOTS;
    pthread_mutex_lock(&m->lock);
    bool known = m->slots[slot].used && memcmp(m->slots[slot].key, key, sizeof key) == 0;
    if (known)
        memcpy(dk->pk, m->slots[slot].pk, C4GH_KEY_SIZE);
    pthread_mutex_unlock(&m->lock);
    if (known)
        return;
    c4gh_public_from_secret(dk->sk, dk->pk);
    pthread_mutex_lock(&m->lock);
    m->slots[slot].used = true;
    memcpy(m->slots[slot].key, key, sizeof key);
    memcpy(m->slots[slot].pk, dk->pk, C4GH_KEY_SIZE);
    pthread_mutex_unlock(&m->lock);
}

int kura_keystore_dataset_key(const struct kura_keystore *ks, const char *ds_id, struct kura_dskey **out,
                              struct kura_err *err)
{
    *out = NULL;
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    struct kura_dskey *dk = calloc(1, sizeof *dk);
    char *path = NULL, *buf = NULL;
    size_t len = 0, which;
    if (!dk || !(dk->id = strdup(ds_id)) || !(dk->dir = dataset_dir(ks->dir, ds_id)) ||
        !(path = join(dk->dir, DATASET_KEY)) || !(dk->sk = kura_secure_alloc(C4GH_KEY_SIZE)) ||
        !(dk->mac_key = kura_secure_alloc(KURA_SEGMAP_MAC_SIZE))) {
        oom(err);
        goto fail;
    }
    if (kura_read_file(path, KEY_FILE_MAX, &buf, &len, err) != 0) {
        if (err && err->code == ENOENT)
            kura_err_set(err, ENOENT, "dataset %s has no key (destroyed, or never created)", ds_id);
        goto fail;
    }
    if (unwrap_key(ks, buf, len, dk->sk, &which, err) != 0) {
        kura_err_prefix(err, "dataset %s key does not open with the server key", ds_id);
        goto fail;
    }
    dataset_pk(ks, which, buf, len, dk);
    crypto_generichash(dk->mac_key, KURA_SEGMAP_MAC_SIZE, (const uint8_t *)mac_key_label,
                       sizeof mac_key_label - 1, dk->sk, C4GH_KEY_SIZE);
    free(buf);
    free(path);
    *out = dk;
    return 0;
fail:
    free(buf);
    free(path);
    kura_dskey_free(dk);
    return -1;
}

void kura_dskey_fingerprint(const struct kura_dskey *dk, char out[KURA_KEY_FINGERPRINT_LEN + 1])
{
    kura_key_fingerprint(dk->pk, out);
}

int kura_keystore_open_delivery(const struct kura_keystore *ks, const struct kura_dskey *dk, const uint8_t *raw,
                                size_t raw_len, struct c4gh_header **out, struct kura_delivery_key *which,
                                struct kura_err *err)
{
    /* Server keys first: a delivery a server key opens stays decryptable
     * while that key exists, even if it is encrypted to the dataset key
     * too, and the ledger must say so. */
    for (size_t i = 0; i < ks->nkeys; i++)
        if (c4gh_header_open(raw, raw_len, ks->keys[i].sk, ks->keys[i].pk, out, NULL) == 0) {
            which->role = "server";
            kura_key_fingerprint(ks->keys[i].pk, which->fp);
            return 0;
        }
    /* The dataset key's error is the one reported when nothing opens it. */
    if (c4gh_header_open(raw, raw_len, dk->sk, dk->pk, out, err) != 0)
        return -1;
    which->role = "dataset";
    kura_key_fingerprint(dk->pk, which->fp);
    return 0;
}

int kura_keystore_dataset_destroy(const char *keys_dir, const char *ds_id, struct kura_err *err)
{
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    char *datasets = join(keys_dir, DATASETS);
    char *dir = dataset_dir(keys_dir, ds_id);
    char *key = dir ? join(dir, DATASET_KEY) : NULL;
    int rc = -1;
    DIR *d = NULL;
    if (!datasets || !key) {
        oom(err);
        goto out;
    }
    /* The dataset key first: once it is gone no header opens. */
    if (finish_destroying(keys_dir, err) != 0 || destroy_if_present(keys_dir, key, err) != 0)
        goto out;
    if (!(d = open_dir_if_present(dir, &rc, err)))
        goto out;
    rc = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = join(dir, de->d_name);
        if (!p) {
            oom(err);
            goto out;
        }
        struct stat st;
        int r = 0;
        if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
            r = destroy_if_present(keys_dir, p, err);
        else if (unlink(p) != 0 && errno != ENOENT) {
            kura_err_set(err, errno, "remove %s: %s", p, strerror(errno));
            r = -1;
        }
        free(p);
        if (r != 0)
            goto out;
    }
    if (rmdir(dir) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "remove %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = kura_fsync_dir(datasets, err);
out:
    if (rc != 0)
        kura_err_prefix(err, "destroy keys of dataset %s", ds_id);
    if (d)
        closedir(d);
    free(key);
    free(dir);
    free(datasets);
    return rc;
}

/* ---- per-file header and segment map ----------------------------------- */

void kura_segmap_clear(struct kura_segmap *m)
{
    free(m->nonces);
    memset(m, 0, sizeof *m);
}

static uint64_t segments_for(uint64_t payload_len)
{
    return payload_len / C4GH_CIPHER_SEGMENT_SIZE + (payload_len % C4GH_CIPHER_SEGMENT_SIZE != 0);
}

/* MAC over everything the map vouches for: the dataset, the file, the
 * exact header bytes, the payload length and every nonce in order. */
static void segmap_mac(const struct kura_dskey *dk, const char *file_id, const uint8_t *hdr,
                       size_t hdr_len, const uint8_t *head, const uint8_t *nonces, uint64_t n,
                       uint8_t mac[KURA_SEGMAP_MAC_SIZE])
{
    static const char domain[] = "kura-segmap-v1";
    uint8_t hdr_hash[32], idlen[8];
    crypto_generichash(hdr_hash, sizeof hdr_hash, hdr, hdr_len, NULL, 0);
    kura_put_le64(idlen, strlen(dk->id));
    crypto_generichash_state st;
    crypto_generichash_init(&st, dk->mac_key, KURA_SEGMAP_MAC_SIZE, KURA_SEGMAP_MAC_SIZE);
    crypto_generichash_update(&st, (const uint8_t *)domain, sizeof domain);
    crypto_generichash_update(&st, idlen, sizeof idlen);
    crypto_generichash_update(&st, (const uint8_t *)dk->id, strlen(dk->id));
    crypto_generichash_update(&st, (const uint8_t *)file_id, KURA_FILE_ID_LEN);
    crypto_generichash_update(&st, hdr_hash, sizeof hdr_hash);
    crypto_generichash_update(&st, head, SEGMAP_HEAD);
    crypto_generichash_update(&st, nonces, n * C4GH_NONCE_SIZE);
    crypto_generichash_final(&st, mac, KURA_SEGMAP_MAC_SIZE);
    sodium_memzero(&st, sizeof st);
}

static int map_check(const struct kura_segmap *map, struct kura_err *err)
{
    if (map->nsegments > SEGMAP_MAX_SEGMENTS || map->nsegments != segments_for(map->payload_len)) {
        kura_err_set(err, EINVAL, "segment map: %llu segments do not fit a payload of %llu bytes",
                     (unsigned long long)map->nsegments, (unsigned long long)map->payload_len);
        return -1;
    }
    return 0;
}

/* Writes a new file: durable (fsync + directory fsync) or not. */
static int write_new(const char *path, const uint8_t *data, size_t len, bool durable, struct kura_err *err)
{
    if (durable)
        return kura_write_file_new(path, data, len, 0600, err);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        kura_err_set(err, errno, "create %s: %s", path, strerror(errno));
        return -1;
    }
    if (kura_write_full(fd, data, len) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        kura_err_set(err, e, "write %s: %s", path, strerror(e));
        return -1;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        kura_err_set(err, e, "write %s: %s", path, strerror(e));
        return -1;
    }
    return 0;
}

static int entry_paths(const char *dir, const char *file_id, char **hdr, char **map)
{
    *hdr = NULL;
    *map = NULL;
    if (asprintf(hdr, "%s/%s" KURA_HEADER_SUFFIX, dir, file_id) < 0) {
        *hdr = NULL;
        return -1;
    }
    if (asprintf(map, "%s/%s" KURA_SEGMAP_SUFFIX, dir, file_id) < 0) {
        *map = NULL;
        free(*hdr);
        *hdr = NULL;
        return -1;
    }
    return 0;
}

int kura_keystore_file_store(const struct kura_dskey *dk, const char *file_id, const uint8_t *hdr,
                             size_t hdr_len, const struct kura_segmap *map, bool durable,
                             struct kura_err *err)
{
    if (kura_file_id_check(file_id, err) != 0 || map_check(map, err) != 0)
        return -1;
    if (hdr_len == 0 || hdr_len > C4GH_MAX_HEADER_SIZE) {
        kura_err_set(err, EINVAL, "header of %zu bytes is out of range", hdr_len);
        return -1;
    }
    size_t nbytes = (size_t)map->nsegments * C4GH_NONCE_SIZE;
    size_t total = SEGMAP_HEAD + nbytes + KURA_SEGMAP_MAC_SIZE;
    uint8_t *buf = malloc(total);
    char *hpath, *mpath;
    if (!buf || entry_paths(dk->dir, file_id, &hpath, &mpath) != 0) {
        free(buf);
        return oom(err);
    }
    memcpy(buf, SEGMAP_MAGIC, 8);
    kura_put_le64(buf + 8, map->payload_len);
    kura_put_le64(buf + 16, map->nsegments);
    if (nbytes)
        memcpy(buf + SEGMAP_HEAD, map->nonces, nbytes);
    segmap_mac(dk, file_id, hdr, hdr_len, buf, buf + SEGMAP_HEAD, map->nsegments, buf + SEGMAP_HEAD + nbytes);
    int rc = -1;
    if (write_new(mpath, buf, total, durable, err) == 0) {
        if (write_new(hpath, hdr, hdr_len, durable, err) == 0)
            rc = 0;
        else
            unlink(mpath);
    }
    free(buf);
    free(hpath);
    free(mpath);
    return rc;
}

int kura_keystore_sync(const struct kura_dskey *dk, struct kura_err *err)
{
    return kura_syncfs_dir(dk->dir, err);
}

int kura_keystore_file_load(const struct kura_dskey *dk, const char *file_id, uint8_t **hdr,
                            size_t *hdr_len, struct kura_segmap *map, struct kura_err *err)
{
    *hdr = NULL;
    memset(map, 0, sizeof *map);
    if (kura_file_id_check(file_id, err) != 0)
        return -1;
    char *hpath, *mpath, *hbuf = NULL, *mbuf = NULL;
    size_t hlen = 0, mlen = 0;
    if (entry_paths(dk->dir, file_id, &hpath, &mpath) != 0)
        return oom(err);
    int rc = -1;
    if (kura_read_file(hpath, C4GH_MAX_HEADER_SIZE, &hbuf, &hlen, err) != 0 ||
        kura_read_file(mpath, SEGMAP_FILE_MAX, &mbuf, &mlen, err) != 0)
        goto out;
    const uint8_t *m = (const uint8_t *)mbuf;
    if (mlen < SEGMAP_HEAD + KURA_SEGMAP_MAC_SIZE || memcmp(m, SEGMAP_MAGIC, 8) != 0) {
        kura_err_set(err, EIO, "segment map of file %s is malformed", file_id);
        goto out;
    }
    map->payload_len = kura_le64(m + 8);
    map->nsegments = kura_le64(m + 16);
    if (map_check(map, err) != 0 ||
        mlen != SEGMAP_HEAD + map->nsegments * C4GH_NONCE_SIZE + KURA_SEGMAP_MAC_SIZE) {
        kura_err_set(err, EIO, "segment map of file %s is malformed", file_id);
        goto out;
    }
    size_t nbytes = (size_t)map->nsegments * C4GH_NONCE_SIZE;
    uint8_t mac[KURA_SEGMAP_MAC_SIZE];
    segmap_mac(dk, file_id, (const uint8_t *)hbuf, hlen, m, m + SEGMAP_HEAD, map->nsegments, mac);
    if (sodium_memcmp(mac, m + SEGMAP_HEAD + nbytes, KURA_SEGMAP_MAC_SIZE) != 0) {
        kura_err_set(err, EIO, "segment map of file %s fails authentication (tampered, or not this "
                     "dataset's, file's or header's)", file_id);
        goto out;
    }
    map->nonces = malloc(nbytes ? nbytes : 1);
    if (!map->nonces) {
        oom(err);
        goto out;
    }
    memcpy(map->nonces, m + SEGMAP_HEAD, nbytes);
    *hdr = (uint8_t *)hbuf;
    *hdr_len = hlen;
    hbuf = NULL;
    rc = 0;
out:
    if (rc != 0)
        kura_segmap_clear(map);
    free(hbuf);
    free(mbuf);
    free(hpath);
    free(mpath);
    return rc;
}

static int stamp_of(const char *path, struct kura_file_stamp *s, struct kura_err *err)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        int e = path ? errno : ENOMEM;
        kura_err_set(err, e, "%s: %s", path ? path : "key stamp", strerror(e));
        return -1;
    }
    *s = (struct kura_file_stamp){.dev = st.st_dev, .ino = st.st_ino, .size = st.st_size, .ctime = st.st_ctim,
                                  .mtime = st.st_mtim};
    return 0;
}

int kura_keystore_file_stamp(const char *keys_dir, const char *ds_id, const char *file_id, struct kura_key_stamp *out,
                             struct kura_err *err)
{
    memset(out, 0, sizeof *out);
    if (ds_id_check(ds_id, err) != 0 || kura_file_id_check(file_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id), *key = dir ? join(dir, DATASET_KEY) : NULL, *hpath = NULL,
         *mpath = NULL;
    int rc = -1;
    if (dir && entry_paths(dir, file_id, &hpath, &mpath) == 0 && stamp_of(key, &out->key, err) == 0 &&
        stamp_of(hpath, &out->header, err) == 0 && stamp_of(mpath, &out->map, err) == 0)
        rc = 0;
    else if (!dir || !hpath)
        oom(err);
    free(dir);
    free(key);
    free(hpath);
    free(mpath);
    return rc;
}

static bool file_stamp_equal(const struct kura_file_stamp *a, const struct kura_file_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

bool kura_key_stamp_equal(const struct kura_key_stamp *a, const struct kura_key_stamp *b)
{
    return file_stamp_equal(&a->key, &b->key) && file_stamp_equal(&a->header, &b->header) &&
           file_stamp_equal(&a->map, &b->map);
}

int kura_keystore_file_destroy(const char *keys_dir, const char *ds_id, const char *file_id,
                               struct kura_err *err)
{
    if (ds_id_check(ds_id, err) != 0 || kura_file_id_check(file_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id), *hpath = NULL, *mpath = NULL;
    if (!dir || entry_paths(dir, file_id, &hpath, &mpath) != 0) {
        free(dir);
        return oom(err);
    }
    /* The header holds the file's key: it goes first. */
    int rc = finish_destroying(keys_dir, err) == 0 && destroy_if_present(keys_dir, hpath, err) == 0 &&
             destroy_if_present(keys_dir, mpath, err) == 0 ? 0 : -1;
    free(hpath);
    free(mpath);
    free(dir);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void kura_keystore_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int kura_keystore_file_ids(const char *keys_dir, const char *ds_id, char ***ids, size_t *n,
                           struct kura_err *err)
{
    *ids = NULL;
    *n = 0;
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id);
    if (!dir)
        return oom(err);
    int rc;
    DIR *d = open_dir_if_present(dir, &rc, err);
    free(dir);
    if (!d)
        return rc;
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *dot = strchr(de->d_name, '.');
        if (!dot || (strcmp(dot, KURA_HEADER_SUFFIX) != 0 && strcmp(dot, KURA_SEGMAP_SUFFIX) != 0))
            continue;
        char id[KURA_FILE_ID_LEN + 1];
        size_t idlen = (size_t)(dot - de->d_name);
        if (idlen != KURA_FILE_ID_LEN)
            continue;
        memcpy(id, de->d_name, idlen);
        id[idlen] = '\0';
        if (kura_file_id_check(id, NULL) != 0)
            continue;
        if (!kura_grow((void **)&v, &cap, cnt, sizeof *v))
            goto nomem;
        if (!(v[cnt] = strdup(id)))
            goto nomem;
        cnt++;
    }
    closedir(d);
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_str);
    /* A header and its map name the same id once. */
    size_t w = 0;
    for (size_t i = 0; i < cnt; i++) {
        if (w > 0 && strcmp(v[w - 1], v[i]) == 0)
            free(v[i]);
        else
            v[w++] = v[i];
    }
    *ids = v;
    *n = w;
    return 0;
nomem:
    closedir(d);
    kura_keystore_ids_free(v, cnt);
    return oom(err);
}

/* ---- server key rotation and retirement ---------------------------------- */

/* ks holds the key server.pub names as current (nobody rotated since). */
static int check_current(const struct kura_keystore *ks, struct kura_err *err)
{
    char *pub = join(ks->dir, SERVER_PUB);
    uint8_t on_file[C4GH_KEY_SIZE];
    int rc = pub ? c4gh_pubkey_load(pub, on_file, err) : oom(err);
    if (rc == 0 && sodium_memcmp(on_file, ks->keys[0].pk, C4GH_KEY_SIZE) != 0) {
        kura_err_set(err, EAGAIN, "the server key changed since the keystore was opened; run the command again");
        rc = -1;
    }
    free(pub);
    return rc;
}

int kura_keystore_rotate(const struct kura_keystore *ks, const char *passphrase, kura_keystore_rotate_fn before,
                         void *ctx, char new_fp[KURA_KEY_FINGERPRINT_LEN + 1], struct kura_err *err)
{
    char *earlier = join(ks->dir, EARLIER), *sec = join(ks->dir, SERVER_SEC), *pub = join(ks->dir, SERVER_PUB);
    char *fresh = join(ks->dir, KURA_SERVER_SEC_NEW_FILE), *old_sec = NULL, *old_pub = NULL, *text = NULL;
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    int rc = -1, lock = -1;
    char old_fp[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_key_fingerprint(ks->keys[0].pk, old_fp);
    if (!earlier || !sec || !pub || !fresh || !sk || !(old_sec = fp_path(earlier, old_fp, SEC_SUFFIX)) ||
        !(old_pub = fp_path(earlier, old_fp, PUB_SUFFIX))) {
        oom(err);
        goto out;
    }
    if ((lock = keystore_lock(ks->dir, err)) < 0 || check_current(ks, err) != 0)
        goto out;
    /* 0. The new key exists in memory only; the caller records its
     * fingerprint before anything on disk changes. */
    uint8_t pk[C4GH_KEY_SIZE];
    c4gh_keygen(sk, pk);
    kura_key_fingerprint(pk, new_fp);
    if (before && before(new_fp, ctx, err) != 0)
        goto out;
    if (kura_mkdir_p(earlier, 0700, err) != 0 || check_private(earlier, true, err) != 0)
        goto out;
    /* 1. The old key stays, as an earlier one: a second name for the same
     * file (erasing it later overwrites the one copy). */
    if (link(sec, old_sec) != 0 && errno != EEXIST) {
        kura_err_set(err, errno, "link %s to %s: %s", sec, old_sec, strerror(errno));
        goto out;
    }
    if (write_pubkey(old_pub, ks->keys[0].pk, 0600, err) != 0 || kura_fsync_dir(earlier, err) != 0)
        goto out;
    /* 2. The new key replaces server.sec in one rename, between removing
     * server.pub and writing the new one (kura_keystore_open derives it
     * again, under the lock, if a crash comes between). A
     * new key left by an interrupted run never became current: erase it. */
    if (!(text = c4gh_seckey_format(sk, passphrase, "kura server key", err)) || destroy_if_present(ks->dir, fresh, err) != 0 ||
        kura_write_file_new(fresh, text, strlen(text), 0600, err) != 0)
        goto out;
    /* server.pub goes first, durably: a kill between the two steps must
     * never leave the old public half beside the new secret one. */
    if (unlink(pub) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "remove %s: %s", pub, strerror(errno));
        goto out;
    }
    if (kura_fsync_dir(ks->dir, err) != 0)
        goto out;
    if (rename(fresh, sec) != 0) {
        kura_err_set(err, errno, "rename %s to %s: %s", fresh, sec, strerror(errno));
        goto out;
    }
    if (kura_fsync_dir(ks->dir, err) != 0 || write_pub(ks->dir, pk, err) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        kura_err_prefix(err, "rotate the server key");
    kura_unlock(lock);
    c4gh_text_free(text);
    kura_secure_free(sk);
    free(earlier);
    free(sec);
    free(pub);
    free(fresh);
    free(old_sec);
    free(old_pub);
    return rc;
}

/* Removes the old file's second name left by a rewrap: erased when it is
 * the last name of the old key, only unlinked while it is still a name of
 * the current one (a rewrap killed before its replacement). */
static int erase_old_name(const char *keys_dir, const char *old, struct kura_err *err)
{
    struct stat st;
    if (lstat(old, &st) != 0)
        return errno == ENOENT ? 0 : (kura_err_set(err, errno, "%s: %s", old, strerror(errno)), -1);
    if (S_ISREG(st.st_mode) && st.st_nlink == 1)
        return destroy_if_present(keys_dir, old, err);
    if (unlink(old) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "remove %s: %s", old, strerror(errno));
        return -1;
    }
    return 0;
}

/* Rewraps one dataset key to the current server key unless it is already. */
static int rewrap_one(const struct kura_keystore *ks, const char *path, size_t *n, struct kura_err *err)
{
    char *buf = NULL, *old = NULL;
    size_t len = 0, which = 0;
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE), *msg = NULL;
    size_t msg_len = 0;
    int rc = -1;
    if (!sk)
        return oom(err);
    if (kura_read_file(path, KEY_FILE_MAX, &buf, &len, err) != 0 || unwrap_key(ks, buf, len, sk, &which, err) != 0)
        goto out;
    if (which == 0) {
        rc = 0;
        goto out;
    }
    /* The old file keeps a second name while the new one replaces it, and
     * is then erased like any key (a backup of the earlier server key must
     * not find it on the disk). */
    if (asprintf(&old, "%s%s", path, REWRAP_OLD_SUFFIX) < 0) {
        old = NULL;
        oom(err);
        goto out;
    }
    if (erase_old_name(ks->dir, old, err) != 0)
        goto out;
    if (link(path, old) != 0) {
        kura_err_set(err, errno, "link %s to %s: %s", path, old, strerror(errno));
        goto out;
    }
    if (wrap_key(sk, ks->keys[0].pk, &msg, &msg_len, err) != 0 || kura_write_file_atomic(path, msg, msg_len, 0600, err) != 0 ||
        erase_old_name(ks->dir, old, err) != 0)
        goto out;
    (*n)++;
    rc = 0;
out:
    if (rc != 0)
        kura_err_prefix(err, "%s", path);
    kura_secure_free(sk);
    free(buf);
    free(old);
    free(msg);
    return rc;
}

/* Erases what a rewrap killed half-way left in a dataset's directory: the
 * temporary file of the atomic replacement and the old file's second name
 * (wrapped copies of the key). */
static int erase_rewrap_leftovers(const char *keys_dir, const char *dir, struct kura_err *err)
{
    static const char prefix[] = "." DATASET_KEY ".tmp-", old[] = DATASET_KEY REWRAP_OLD_SUFFIX;
    int rc;
    DIR *d = open_dir_if_present(dir, &rc, err);
    struct dirent *de;
    while (d && rc == 0 && (de = readdir(d))) {
        bool is_old = strcmp(de->d_name, old) == 0;
        if (strncmp(de->d_name, prefix, sizeof prefix - 1) != 0 && !is_old)
            continue;
        char *p = join(dir, de->d_name);
        rc = !p ? oom(err) : is_old ? erase_old_name(keys_dir, p, err) : destroy_if_present(keys_dir, p, err);
        free(p);
    }
    if (d)
        closedir(d);
    return rc;
}

static int rewrap_locked(const struct kura_keystore *ks, size_t *n, struct kura_err *err)
{
    *n = 0;
    if (check_current(ks, err) != 0)
        return -1;
    char *datasets = join(ks->dir, DATASETS);
    DIR *d = datasets ? opendir(datasets) : NULL;
    if (!d) {
        int e = datasets ? errno : ENOMEM;
        kura_err_set(err, e, "open %s: %s", datasets ? datasets : "datasets", strerror(e));
        free(datasets);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (ds_id_check(de->d_name, NULL) != 0)
            continue;
        char *dir = join(datasets, de->d_name), *path = dir ? join(dir, DATASET_KEY) : NULL;
        if (!path)
            rc = oom(err);
        else if ((rc = erase_rewrap_leftovers(ks->dir, dir, err)) == 0 && access(path, F_OK) == 0)
            rc = rewrap_one(ks, path, n, err);
        free(path);
        free(dir);
    }
    closedir(d);
    free(datasets);
    return rc;
}

int kura_keystore_rewrap(const struct kura_keystore *ks, size_t *n, struct kura_err *err)
{
    int lock = keystore_lock(ks->dir, err);
    if (lock < 0)
        return -1;
    int rc = rewrap_locked(ks, n, err);
    kura_unlock(lock);
    return rc;
}

int kura_keystore_retire(const struct kura_keystore *ks, const char *fp, const char *note, size_t *nrewrapped,
                         struct kura_err *err)
{
    *nrewrapped = 0;
    if (kura_key_fingerprint_check(fp, err) != 0)
        return -1;
    char cur[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_key_fingerprint(ks->keys[0].pk, cur);
    if (strcmp(cur, fp) == 0) {
        kura_err_set(err, EBUSY, "%s is the current server key; run kuractl key rotate first", fp);
        return -1;
    }
    char *earlier = join(ks->dir, EARLIER), *sec = NULL, *pub = NULL, *retired = NULL, *record = NULL;
    int rc = -1, lock = -1;
    if (!earlier || !(sec = fp_path(earlier, fp, SEC_SUFFIX)) || !(pub = fp_path(earlier, fp, PUB_SUFFIX)) ||
        !(retired = fp_path(earlier, fp, RETIRED_SUFFIX))) {
        oom(err);
        goto out;
    }
    if ((lock = keystore_lock(ks->dir, err)) < 0)
        goto out;
    if (access(retired, F_OK) == 0) {
        kura_err_set(err, EALREADY, "server key %s was retired already", fp);
        goto out;
    }
    bool have_sec = access(sec, F_OK) == 0;
    uint8_t pk[C4GH_KEY_SIZE];
    if (!have_sec && access(pub, F_OK) != 0) {
        kura_err_set(err, ENOENT, "no earlier server key has fingerprint %s (kuractl key list)", fp);
        goto out;
    }
    if (have_sec && kura_keystore_held(ks, fp) < 0) {
        kura_err_set(err, EAGAIN, "the server keys changed since the keystore was opened; run the command again");
        goto out;
    }
    if (c4gh_pubkey_load(pub, pk, err) != 0)
        goto out;
    /* Nothing may depend on the key any more when it goes. */
    if (rewrap_locked(ks, nrewrapped, err) != 0 || destroy_if_present(ks->dir, sec, err) != 0)
        goto out;
    char *pub_text = c4gh_pubkey_format(pk);
    if (!pub_text || asprintf(&record, "%s\n%s", note, pub_text) < 0) {
        free(pub_text);
        record = NULL;
        oom(err);
        goto out;
    }
    free(pub_text);
    /* A run interrupted before the record finds the secret gone and the
     * public half still there, and finishes here. */
    if (kura_write_file_atomic(retired, record, strlen(record), 0600, err) != 0)
        goto out;
    if (unlink(pub) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "remove %s: %s", pub, strerror(errno));
        goto out;
    }
    rc = kura_fsync_dir(earlier, err);
out:
    if (rc != 0)
        kura_err_prefix(err, "retire server key %s", fp);
    kura_unlock(lock);
    free(earlier);
    free(sec);
    free(pub);
    free(retired);
    free(record);
    return rc;
}

static int cmp_key_info(const void *a, const void *b)
{
    const struct kura_server_key_info *x = a, *y = b;
    return strcmp(x->fp, y->fp);
}

int kura_keystore_server_keys(const char *keys_dir, struct kura_server_key_info **v, size_t *n, struct kura_err *err)
{
    *v = NULL;
    *n = 0;
    char *pub = join(keys_dir, SERVER_PUB), *earlier = join(keys_dir, EARLIER);
    struct kura_server_key_info *list = calloc(1, sizeof *list);
    size_t cnt = 0, cap = 1;
    uint8_t pk[C4GH_KEY_SIZE];
    int rc = -1;
    DIR *d = NULL;
    if (!pub || !earlier || !list) {
        oom(err);
        goto out;
    }
    if (c4gh_pubkey_load(pub, pk, err) != 0)
        goto out;
    kura_key_fingerprint(pk, list[0].fp);
    list[0].state = KURA_SKEY_CURRENT;
    cnt = 1;
    int drc;
    if (!(d = open_dir_if_present(earlier, &drc, err))) {
        if (drc != 0)
            goto out;
    } else {
        struct dirent *de;
        while ((de = readdir(d))) {
            char fp[KURA_KEY_FINGERPRINT_LEN + 1];
            bool retired = earlier_name(de->d_name, RETIRED_SUFFIX, fp), interrupted = false;
            /* A public half alone: a retirement killed between erasing the
             * secret and recording it (kuractl key retire finishes it). */
            if (!retired && earlier_name(de->d_name, PUB_SUFFIX, fp) && strcmp(fp, list[0].fp) != 0) {
                char *sec = fp_path(earlier, fp, SEC_SUFFIX), *rec = fp_path(earlier, fp, RETIRED_SUFFIX);
                interrupted = sec && rec && access(sec, F_OK) != 0 && access(rec, F_OK) != 0;
                free(sec);
                free(rec);
                if (!interrupted)
                    continue;
            } else if (!retired && (!earlier_name(de->d_name, SEC_SUFFIX, fp) || strcmp(fp, list[0].fp) == 0)) {
                continue;
            }
            if (!kura_grow((void **)&list, &cap, cnt, sizeof *list)) {
                oom(err);
                goto out;
            }
            struct kura_server_key_info *k = &list[cnt++];
            memset(k, 0, sizeof *k);
            memcpy(k->fp, fp, sizeof fp);
            k->state = retired ? KURA_SKEY_RETIRED : KURA_SKEY_EARLIER;
            char *path = retired ? join(earlier, de->d_name) : NULL, *text = NULL;
            if (path && kura_read_file(path, KEY_FILE_MAX, &text, NULL, NULL) == 0)
                snprintf(k->note, sizeof k->note, "%.*s", (int)strcspn(text, "\n"), text);
            if (interrupted)
                snprintf(k->note, sizeof k->note, "retirement interrupted: run kuractl key retire %s again", fp);
            free(text);
            free(path);
        }
    }
    if (cnt > 2)
        qsort(list + 1, cnt - 1, sizeof *list, cmp_key_info);
    *v = list;
    *n = cnt;
    list = NULL;
    rc = 0;
out:
    if (d)
        closedir(d);
    free(list);
    free(pub);
    free(earlier);
    return rc;
}

bool kura_keystore_secret_exists(const char *keys_dir, const char *fp)
{
    if (kura_key_fingerprint_check(fp, NULL) != 0)
        return false;
    struct kura_server_key_info *v = NULL;
    size_t n = 0;
    bool found = false;
    if (kura_keystore_server_keys(keys_dir, &v, &n, NULL) == 0)
        for (size_t i = 0; i < n && !found; i++)
            found = v[i].state != KURA_SKEY_RETIRED && strcmp(v[i].fp, fp) == 0;
    free(v);
    char *datasets = join(keys_dir, DATASETS);
    DIR *d = !found && datasets ? opendir(datasets) : NULL;
    struct dirent *de;
    while (d && !found && (de = readdir(d))) {
        char have[KURA_KEY_FINGERPRINT_LEN + 1];
        found = ds_id_check(de->d_name, NULL) == 0 && kura_keystore_dataset_exists(keys_dir, de->d_name) &&
                kura_keystore_dataset_fingerprint(keys_dir, de->d_name, have) == 0 && strcmp(have, fp) == 0;
    }
    if (d)
        closedir(d);
    free(datasets);
    return found;
}

bool kura_keystore_stale(const struct kura_keystore *ks)
{
    struct kura_server_key_info *v = NULL;
    size_t n = 0, live = 0;
    if (kura_keystore_server_keys(ks->dir, &v, &n, NULL) != 0)
        return true;
    bool stale = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i].state == KURA_SKEY_RETIRED)
            continue;
        live++;
        stale = stale || kura_keystore_held(ks, v[i].fp) < 0;
    }
    char cur[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_key_fingerprint(ks->keys[0].pk, cur);
    stale = stale || live != ks->nkeys || strcmp(v[0].fp, cur) != 0;
    free(v);
    return stale;
}
