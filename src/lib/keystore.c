#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/model.h"
#include "kura/secmem.h"

#define SERVER_SEC KURA_SERVER_SEC_FILE
#define SERVER_PUB KURA_SERVER_PUB_FILE
#define DATASETS "datasets"
#define DATASET_KEY "dataset.key.c4gh"
#define KEY_FILE_MAX (64u * 1024)
#define SEGMAP_MAGIC "KURASEG1"
#define SEGMAP_HEAD (8 + 8 + 8)
/* 2^26 segments of 64 KiB: payloads up to 4 TiB, a 768 MiB map at most. */
#define SEGMAP_MAX_SEGMENTS (UINT64_C(1) << 26)
#define SEGMAP_FILE_MAX (SEGMAP_HEAD + SEGMAP_MAX_SEGMENTS * C4GH_NONCE_SIZE + KURA_SEGMAP_MAC_SIZE)

struct kura_keystore {
    char *dir;
    uint8_t *sk;                /* secure memory */
    uint8_t pk[C4GH_KEY_SIZE];
};

static char *join(const char *a, const char *b)
{
    char *s;
    return asprintf(&s, "%s/%s", a, b) < 0 ? NULL : s;
}

static char *join3(const char *a, const char *b, const char *c)
{
    char *s;
    return asprintf(&s, "%s/%s/%s", a, b, c) < 0 ? NULL : s;
}

static int oom(struct kura_err *err)
{
    kura_err_set(err, ENOMEM, "out of memory");
    return -1;
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

/* Writes server.pub from a secret key (also when a crashed init left only
 * the secret half). */
static int write_pub(const char *keys_dir, const uint8_t pk[C4GH_KEY_SIZE], struct kura_err *err)
{
    char *path = join(keys_dir, SERVER_PUB);
    char *text = c4gh_pubkey_format(pk);
    int rc = -1;
    if (!path || !text)
        oom(err);
    else
        rc = kura_write_file_new(path, text, strlen(text), 0644, err);
    free(text);
    free(path);
    return rc;
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

int kura_keystore_open(const char *keys_dir, const char *passphrase, struct kura_keystore **out,
                       struct kura_err *err)
{
    *out = NULL;
    char *sec = join(keys_dir, SERVER_SEC);
    char *pub = join(keys_dir, SERVER_PUB);
    struct kura_keystore *ks = calloc(1, sizeof *ks);
    if (!sec || !pub || !ks || !(ks->dir = strdup(keys_dir)) || !(ks->sk = kura_secure_alloc(C4GH_KEY_SIZE))) {
        oom(err);
        goto fail;
    }
    if (check_private(keys_dir, true, err) != 0 || check_private(sec, false, err) != 0)
        goto fail;
    if (c4gh_seckey_load(sec, passphrase, ks->sk, err) != 0) {
        kura_err_prefix(err, "server key");
        goto fail;
    }
    c4gh_public_from_secret(ks->sk, ks->pk);
    if (access(pub, F_OK) != 0) {
        if (write_pub(keys_dir, ks->pk, err) != 0)
            goto fail;
    } else {
        /* Dataset keys are wrapped to server.pub: it must be this key's. */
        uint8_t on_file[C4GH_KEY_SIZE];
        if (c4gh_pubkey_load(pub, on_file, err) != 0)
            goto fail;
        if (sodium_memcmp(on_file, ks->pk, C4GH_KEY_SIZE) != 0) {
            kura_err_set(err, EINVAL, "%s is not the public half of %s; restore the right one", pub, sec);
            goto fail;
        }
    }
    free(sec);
    free(pub);
    *out = ks;
    return 0;
fail:
    free(sec);
    free(pub);
    kura_keystore_close(ks);
    return -1;
}

void kura_keystore_close(struct kura_keystore *ks)
{
    if (!ks)
        return;
    kura_secure_free(ks->sk);
    free(ks->dir);
    free(ks);
}

const char *kura_keystore_dir(const struct kura_keystore *ks)
{
    return ks->dir;
}

void kura_keystore_server_pk(const struct kura_keystore *ks, uint8_t pk[C4GH_KEY_SIZE])
{
    memcpy(pk, ks->pk, C4GH_KEY_SIZE);
}

int kura_keystore_open_header(const struct kura_keystore *ks, const uint8_t *raw, size_t raw_len,
                              struct c4gh_header **out, struct kura_err *err)
{
    return c4gh_header_open(raw, raw_len, ks->sk, out, err);
}

/* ---- dataset keys ------------------------------------------------------ */

static char *dataset_dir(const char *keys_dir, const char *ds_id)
{
    return join3(keys_dir, DATASETS, ds_id);
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

int kura_keystore_dataset_create(const char *keys_dir, const char *ds_id, struct kura_err *err)
{
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    char *dir = dataset_dir(keys_dir, ds_id);
    char *pub = join(keys_dir, SERVER_PUB);
    char *path = dir ? join(dir, DATASET_KEY) : NULL;
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL, *msg = NULL;
    size_t raw_len = 0;
    int rc = -1;
    uint8_t server_pk[C4GH_KEY_SIZE];
    if (!path || !pub || !sk) {
        oom(err);
        goto out;
    }
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
    /* A Crypt4GH message to the server key: header, then one segment
     * holding the 32-byte secret. */
    if (c4gh_header_new(&h, NULL, 0, err) != 0 ||
        c4gh_header_build(h, NULL, server_pk, 1, &raw, &raw_len, err) != 0)
        goto out;
    size_t seg = C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE;
    msg = malloc(raw_len + seg);
    if (!msg) {
        oom(err);
        goto out;
    }
    memcpy(msg, raw, raw_len);
    c4gh_segment_encrypt(h->keys, sk, C4GH_KEY_SIZE, msg + raw_len);
    rc = kura_write_file_new(path, msg, raw_len + seg, 0600, err);
out:
    if (rc != 0)
        kura_err_prefix(err, "dataset %s key", ds_id);
    c4gh_header_free(h);
    free(raw);
    free(msg);
    kura_secure_free(sk);
    free(path);
    free(pub);
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

int kura_keystore_dataset_key(const struct kura_keystore *ks, const char *ds_id, struct kura_dskey **out,
                              struct kura_err *err)
{
    *out = NULL;
    if (ds_id_check(ds_id, err) != 0)
        return -1;
    struct kura_dskey *dk = calloc(1, sizeof *dk);
    char *path = NULL, *buf = NULL;
    size_t len = 0;
    struct c4gh_header *h = NULL;
    uint8_t *plain = kura_secure_alloc(C4GH_SEGMENT_SIZE);
    if (!dk || !plain || !(dk->id = strdup(ds_id)) || !(dk->dir = dataset_dir(ks->dir, ds_id)) ||
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
    size_t hl, plen = 0;
    if (c4gh_header_check((const uint8_t *)buf, len, &hl, err) != 0 ||
        c4gh_header_open_strict((const uint8_t *)buf, hl, ks->sk, &h, err) != 0 ||
        c4gh_segment_decrypt(h, 0, (const uint8_t *)buf + hl, len - hl, plain, &plen, err) != 0)
        goto bad;
    if (plen != C4GH_KEY_SIZE || len - hl != C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE) {
        kura_err_set(err, EIO, "wrapped key has the wrong length");
        goto bad;
    }
    memcpy(dk->sk, plain, C4GH_KEY_SIZE);
    c4gh_public_from_secret(dk->sk, dk->pk);
    crypto_generichash(dk->mac_key, KURA_SEGMAP_MAC_SIZE, (const uint8_t *)mac_key_label,
                       sizeof mac_key_label - 1, dk->sk, C4GH_KEY_SIZE);
    c4gh_header_free(h);
    kura_secure_free(plain);
    free(buf);
    free(path);
    *out = dk;
    return 0;
bad:
    kura_err_prefix(err, "dataset %s key does not open with the server key", ds_id);
fail:
    c4gh_header_free(h);
    kura_secure_free(plain);
    free(buf);
    free(path);
    kura_dskey_free(dk);
    return -1;
}

void kura_dskey_fingerprint(const struct kura_dskey *dk, char out[KURA_KEY_FINGERPRINT_LEN + 1])
{
    uint8_t h[KURA_KEY_FINGERPRINT_LEN / 2];
    crypto_generichash(h, sizeof h, dk->pk, sizeof dk->pk, NULL, 0);
    sodium_bin2hex(out, KURA_KEY_FINGERPRINT_LEN + 1, h, sizeof h);
}

/* Destroys a file if it is there. */
static int destroy_if_present(const char *path, struct kura_err *err)
{
    struct kura_err e = {0};
    if (kura_destroy_file(path, &e) == 0 || e.code == ENOENT)
        return 0;
    if (err)
        *err = e;
    return -1;
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
    if (destroy_if_present(key, err) != 0)
        goto out;
    d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            rc = 0;
        else
            kura_err_set(err, errno, "open %s: %s", dir, strerror(errno));
        goto out;
    }
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
            r = destroy_if_present(p, err);
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

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
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
    put_u64(idlen, strlen(dk->id));
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
    if (asprintf(hdr, "%s/%s.hdr", dir, file_id) < 0) {
        *hdr = NULL;
        return -1;
    }
    if (asprintf(map, "%s/%s.segmap", dir, file_id) < 0) {
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
    put_u64(buf + 8, map->payload_len);
    put_u64(buf + 16, map->nsegments);
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
    map->payload_len = get_u64(m + 8);
    map->nsegments = get_u64(m + 16);
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
    int rc = destroy_if_present(hpath, err) == 0 && destroy_if_present(mpath, err) == 0 ? 0 : -1;
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
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        if (e != ENOENT)
            kura_err_set(err, e, "open %s: %s", dir, strerror(e));
        free(dir);
        return e == ENOENT ? 0 : -1;
    }
    free(dir);
    char **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *dot = strchr(de->d_name, '.');
        if (!dot || (strcmp(dot, ".hdr") != 0 && strcmp(dot, ".segmap") != 0))
            continue;
        char id[KURA_FILE_ID_LEN + 1];
        size_t idlen = (size_t)(dot - de->d_name);
        if (idlen != KURA_FILE_ID_LEN)
            continue;
        memcpy(id, de->d_name, idlen);
        id[idlen] = '\0';
        if (kura_file_id_check(id, NULL) != 0)
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 64;
            char **nv = realloc(v, cap * sizeof *nv);
            if (!nv)
                goto nomem;
            v = nv;
        }
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
