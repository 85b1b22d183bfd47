/* Keystore: root-only key files, dataset keys wrapped to the server key,
 * headers and segment maps bound to their dataset and file, and
 * crypto-erasure that leaves nothing (R-ENC-3, R-REV-1, R-REV-3). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/fsutil.h"
#include "kura/keystore.h"
#include "kura/secmem.h"
#include "unit.h"
#include "x25519_count.h"

static char top[64];

static char *path_of(const char *a, const char *b)
{
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    int n = snprintf(buf[i], sizeof buf[i], "%s/%s", a, b);
    if (n < 0 || (size_t)n >= sizeof buf[i])
        abort(); /* a test path that does not fit is a bug in the test */
    return buf[i];
}

static mode_t mode_of(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return;
    if (off < 0)
        off += lseek(fd, 0, SEEK_END);
    uint8_t b;
    if (pread(fd, &b, 1, off) == 1) {
        b ^= 0x01;
        (void)!pwrite(fd, &b, 1, off);
    }
    close(fd);
}

static char *keys_a, *keys_b;

static void test_create_modes_and_no_overwrite(void)
{
    struct kura_err err = {0};
    ASSERT(kura_keystore_create(keys_a, NULL, &err) == 0);
    EXPECT(mode_of(keys_a) == 0700);
    EXPECT(mode_of(path_of(keys_a, "datasets")) == 0700);
    EXPECT(mode_of(path_of(keys_a, "server.sec")) == 0600);
    EXPECT(mode_of(path_of(keys_a, "server.pub")) == 0644);
    char *before = NULL, *after = NULL;
    size_t lb = 0, la = 0;
    ASSERT(kura_read_file(path_of(keys_a, "server.sec"), 4096, &before, &lb, &err) == 0);
    EXPECT(kura_keystore_create(keys_a, NULL, &err) == -1);
    EXPECT(err.code == EEXIST);
    EXPECT_STR_CONTAINS(err.msg, "never overwrites");
    ASSERT(kura_read_file(path_of(keys_a, "server.sec"), 4096, &after, &la, &err) == 0);
    EXPECT(lb == la && memcmp(before, after, lb) == 0);
    free(before);
    free(after);

    bool needed = true;
    EXPECT(kura_keystore_needs_passphrase(keys_a, &needed, &err) == 0 && !needed);
    char *text = NULL;
    ASSERT(kura_keystore_pubkey_text(keys_a, &text, &err) == 0);
    EXPECT_STR_CONTAINS(text, "BEGIN CRYPT4GH PUBLIC KEY");
    free(text);
}

static void test_open_refuses_open_permissions(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL;
    ASSERT(chmod(keys_a, 0755) == 0);
    EXPECT(kura_keystore_open(keys_a, NULL, &ks, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "open to other users");
    ASSERT(chmod(keys_a, 0700) == 0);
    ASSERT(chmod(path_of(keys_a, "server.sec"), 0640) == 0);
    EXPECT(kura_keystore_open(keys_a, NULL, &ks, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "server.sec is open to other users");
    ASSERT(chmod(path_of(keys_a, "server.sec"), 0600) == 0);
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    kura_keystore_close(ks);

    /* A missing public half (crash during init) is derived again. */
    ASSERT(unlink(path_of(keys_a, "server.pub")) == 0);
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    EXPECT(access(path_of(keys_a, "server.pub"), F_OK) == 0);
    uint8_t pk[C4GH_KEY_SIZE], pk2[C4GH_KEY_SIZE];
    kura_keystore_server_pk(ks, pk);
    ASSERT(c4gh_pubkey_load(path_of(keys_a, "server.pub"), pk2, &err) == 0);
    EXPECT(memcmp(pk, pk2, sizeof pk) == 0);
    kura_keystore_close(ks);

    /* A server.pub that is not the secret key's half is refused: dataset
     * keys are wrapped to it. */
    char *saved = NULL;
    size_t slen = 0;
    ASSERT(kura_read_file(path_of(keys_a, "server.pub"), 4096, &saved, &slen, &err) == 0);
    uint8_t *other_sk = kura_secure_alloc(C4GH_KEY_SIZE), other_pk[C4GH_KEY_SIZE];
    ASSERT(other_sk);
    c4gh_keygen(other_sk, other_pk);
    kura_secure_free(other_sk);
    char *other_text = c4gh_pubkey_format(other_pk);
    ASSERT(other_text);
    ASSERT(unlink(path_of(keys_a, "server.pub")) == 0);
    ASSERT(kura_write_file_new(path_of(keys_a, "server.pub"), other_text, strlen(other_text), 0644, &err) == 0);
    free(other_text);
    EXPECT(kura_keystore_open(keys_a, NULL, &ks, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "not the public half");
    ASSERT(unlink(path_of(keys_a, "server.pub")) == 0);
    ASSERT(kura_write_file_new(path_of(keys_a, "server.pub"), saved, slen, 0644, &err) == 0);
    free(saved);

    EXPECT(kura_keystore_open(path_of(top, "nowhere"), NULL, &ks, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "kuractl init");
}

static void test_passphrase(void)
{
    struct kura_err err = {0};
    char *dir = path_of(top, "keys-pass");
    ASSERT(kura_keystore_create(dir, "correct horse", &err) == 0);
    bool needed = false;
    EXPECT(kura_keystore_needs_passphrase(dir, &needed, &err) == 0 && needed);
    struct kura_keystore *ks = NULL;
    EXPECT(kura_keystore_open(dir, NULL, &ks, &err) == -1);
    EXPECT(kura_keystore_open(dir, "wrong horse", &ks, &err) == -1);
    ASSERT(kura_keystore_open(dir, "correct horse", &ks, &err) == 0);
    kura_keystore_close(ks);
}

static void test_ids(void)
{
    /* Dataset ids become directory names: the keystore refuses bad ones. */
    struct kura_err err = {0};
    const char *bad[] = {"", ".hidden", "-x", "a/b", "..", "a b", "\xc3\xa4"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        EXPECT(kura_keystore_dataset_create(keys_a, bad[i], &err) == -1);
        EXPECT(!kura_keystore_dataset_exists(keys_a, bad[i]));
        EXPECT(kura_keystore_dataset_destroy(keys_a, bad[i], &err) == -1);
    }

    char id[KURA_FILE_ID_LEN + 1], id2[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(id);
    kura_file_id_new(id2);
    EXPECT(kura_file_id_check(id, NULL) == 0);
    EXPECT(strcmp(id, id2) != 0);
    EXPECT(kura_file_id_check("../../../../etc/passwd0000000000", NULL) == -1);
    EXPECT(kura_file_id_check("0123456789ABCDEF0123456789abcdef", NULL) == -1);
    EXPECT(kura_file_id_check("0123456789abcdef", NULL) == -1);
}

static void test_dataset_key_wrap_unwrap(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL, *other = NULL;
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    EXPECT(!kura_keystore_dataset_exists(keys_a, "DS1"));
    ASSERT(kura_keystore_dataset_create(keys_a, "DS1", &err) == 0);
    EXPECT(kura_keystore_dataset_exists(keys_a, "DS1"));
    char dsdir[512];
    snprintf(dsdir, sizeof dsdir, "%s/datasets/DS1", keys_a);
    EXPECT(mode_of(dsdir) == 0700);
    EXPECT(mode_of(path_of(dsdir, "dataset.key.c4gh")) == 0600);
    EXPECT(kura_keystore_dataset_create(keys_a, "DS1", &err) == -1 && err.code == EEXIST);
    EXPECT(kura_keystore_dataset_create(keys_a, "../evil", &err) == -1);

    struct kura_dskey *dk = NULL, *dk2 = NULL;
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &dk, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &dk2, &err) == 0);
    uint8_t pk[C4GH_KEY_SIZE];
    c4gh_public_from_secret(dk->sk, pk);
    EXPECT(memcmp(pk, dk->pk, sizeof pk) == 0);
    EXPECT(memcmp(dk->sk, dk2->sk, C4GH_KEY_SIZE) == 0);
    char fp[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_dskey_fingerprint(dk, fp);
    EXPECT(strlen(fp) == KURA_KEY_FINGERPRINT_LEN);

    /* The wrapped key is a standard Crypt4GH message to the server key. */
    uint8_t *ssk = kura_secure_alloc(C4GH_KEY_SIZE), *plain = kura_secure_alloc(C4GH_SEGMENT_SIZE);
    ASSERT(ssk && plain);
    ASSERT(c4gh_seckey_load(path_of(keys_a, "server.sec"), NULL, ssk, &err) == 0);
    int fd = open(path_of(dsdir, "dataset.key.c4gh"), O_RDONLY);
    ASSERT(fd >= 0);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    struct c4gh_header *h = NULL;
    ASSERT(c4gh_header_read(fd, &raw, &raw_len, &err) == 0);
    ASSERT(c4gh_header_open(raw, raw_len, ssk, NULL, &h, &err) == 0);
    uint8_t seg[C4GH_NONCE_SIZE + C4GH_KEY_SIZE + C4GH_MAC_SIZE + 1];
    ssize_t n = pread(fd, seg, sizeof seg, (off_t)raw_len);
    EXPECT(n == (ssize_t)sizeof seg - 1);
    size_t plen = 0;
    EXPECT(c4gh_segment_decrypt(h, 0, seg, (size_t)n, plain, &plen, &err) == 0);
    EXPECT(plen == C4GH_KEY_SIZE && memcmp(plain, dk->sk, C4GH_KEY_SIZE) == 0);
    close(fd);
    free(raw);
    c4gh_header_free(h);
    kura_secure_free(ssk);
    kura_secure_free(plain);

    /* Another server's key does not open it. */
    ASSERT(kura_keystore_create(keys_b, NULL, &err) == 0);
    ASSERT(kura_keystore_open(keys_b, NULL, &other, &err) == 0);
    ASSERT(mkdir(path_of(keys_b, "datasets/DS1"), 0700) == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s/dataset.key.c4gh %s/datasets/DS1/", dsdir, keys_b);
    ASSERT(system(cmd) == 0);
    struct kura_dskey *stolen = NULL;
    EXPECT(kura_keystore_dataset_key(other, "DS1", &stolen, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "does not open with the server key");
    EXPECT(stolen == NULL);

    /* A flipped bit in the wrapped secret is refused, never used. */
    char *copy = path_of(keys_a, "datasets/DS1/dataset.key.c4gh");
    char *saved = NULL;
    size_t slen = 0;
    ASSERT(kura_read_file(copy, 65536, &saved, &slen, &err) == 0);
    flip_byte(copy, -5);
    EXPECT(kura_keystore_dataset_key(ks, "DS1", &stolen, &err) == -1);
    ASSERT(unlink(copy) == 0);
    ASSERT(kura_write_file_new(copy, saved, slen, 0600, &err) == 0);
    free(saved);
    EXPECT(kura_keystore_dataset_key(ks, "DS-none", &stolen, &err) == -1 && err.code == ENOENT);

    kura_dskey_free(dk);
    kura_dskey_free(dk2);
    kura_keystore_close(other);
    kura_keystore_close(ks);
}

/* A header for dk with a fresh data key, and a segment map of n segments. */
static void make_entry(const struct kura_dskey *dk, uint64_t payload_len, uint8_t **hdr, size_t *hdr_len,
                       struct kura_segmap *map)
{
    struct kura_err err = {0};
    struct c4gh_header *h = NULL;
    uint64_t edits[2] = {10, 100};
    *hdr = NULL;
    if (c4gh_header_new(&h, edits, 2, &err) != 0 ||
        c4gh_header_build(h, NULL, dk->pk, 1, hdr, hdr_len, &err) != 0)
        printf("# make_entry: %s\n", err.msg);
    c4gh_header_free(h);
    map->payload_len = payload_len;
    map->nsegments = payload_len / C4GH_CIPHER_SEGMENT_SIZE + (payload_len % C4GH_CIPHER_SEGMENT_SIZE != 0);
    map->nonces = malloc(map->nsegments * C4GH_NONCE_SIZE + 1);
    randombytes_buf(map->nonces, map->nsegments * C4GH_NONCE_SIZE);
}

static void test_header_store_load(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &dk, &err) == 0);
    char id[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(id);
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    struct kura_segmap map = {0};
    make_entry(dk, 3 * (uint64_t)C4GH_CIPHER_SEGMENT_SIZE + 100, &hdr, &hdr_len, &map);
    ASSERT(hdr);
    ASSERT(kura_keystore_file_store(dk, id, hdr, hdr_len, &map, true, &err) == 0);
    char hname[64], mname[64];
    snprintf(hname, sizeof hname, "%s.hdr", id);
    snprintf(mname, sizeof mname, "%s.segmap", id);
    EXPECT(mode_of(path_of(dk->dir, hname)) == 0600);
    EXPECT(mode_of(path_of(dk->dir, mname)) == 0600);
    EXPECT(kura_keystore_file_store(dk, id, hdr, hdr_len, &map, true, &err) == -1 && err.code == EEXIST);

    uint8_t *got = NULL;
    size_t got_len = 0;
    struct kura_segmap gm = {0};
    ASSERT(kura_keystore_file_load(dk, id, &got, &got_len, &gm, &err) == 0);
    EXPECT(got_len == hdr_len && memcmp(got, hdr, hdr_len) == 0);
    EXPECT(gm.payload_len == map.payload_len && gm.nsegments == 4);
    EXPECT(memcmp(gm.nonces, map.nonces, 4 * C4GH_NONCE_SIZE) == 0);
    free(got);
    kura_segmap_clear(&gm);

    /* The header opens with the dataset key. */
    struct c4gh_header *h = NULL;
    EXPECT(c4gh_header_open(hdr, hdr_len, dk->sk, NULL, &h, &err) == 0);
    c4gh_header_free(h);

    /* Maps that do not fit their payload length are refused on store. */
    struct kura_segmap wrong = map;
    wrong.nsegments = 3;
    char id2[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(id2);
    EXPECT(kura_keystore_file_store(dk, id2, hdr, hdr_len, &wrong, true, &err) == -1);
    EXPECT(kura_keystore_file_store(dk, "../../x", hdr, hdr_len, &map, true, &err) == -1);

    /* Non-durable writes, then one sync. */
    ASSERT(kura_keystore_file_store(dk, id2, hdr, hdr_len, &map, false, &err) == 0);
    EXPECT(kura_keystore_sync(dk, &err) == 0);
    ASSERT(kura_keystore_file_load(dk, id2, &got, &got_len, &gm, &err) == 0);
    free(got);
    kura_segmap_clear(&gm);

    /* Zero-length payload: no segments. */
    char id3[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(id3);
    struct kura_segmap empty = {0};
    ASSERT(kura_keystore_file_store(dk, id3, hdr, hdr_len, &empty, true, &err) == 0);
    ASSERT(kura_keystore_file_load(dk, id3, &got, &got_len, &gm, &err) == 0);
    EXPECT(gm.nsegments == 0 && gm.payload_len == 0);
    free(got);
    kura_segmap_clear(&gm);

    free(hdr);
    kura_segmap_clear(&map);
    kura_dskey_free(dk);
    kura_keystore_close(ks);
}

/* Every way of tampering with the segment map or its binding is caught. */
static void test_segmap_tamper(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL, *dk2 = NULL;
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_create(keys_a, "DS2", &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &dk, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS2", &dk2, &err) == 0);

    char a[KURA_FILE_ID_LEN + 1], b[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(a);
    kura_file_id_new(b);
    uint8_t *ha, *hb;
    size_t la, lb;
    struct kura_segmap ma = {0}, mb = {0};
    make_entry(dk, 2 * (uint64_t)C4GH_CIPHER_SEGMENT_SIZE, &ha, &la, &ma);
    make_entry(dk, 2 * (uint64_t)C4GH_CIPHER_SEGMENT_SIZE, &hb, &lb, &mb);
    ASSERT(kura_keystore_file_store(dk, a, ha, la, &ma, true, &err) == 0);
    ASSERT(kura_keystore_file_store(dk, b, hb, lb, &mb, true, &err) == 0);

    char amap[600], bmap[600], ahdr[600], bhdr[600], cmd[2600];
    snprintf(amap, sizeof amap, "%s/%s.segmap", dk->dir, a);
    snprintf(bmap, sizeof bmap, "%s/%s.segmap", dk->dir, b);
    snprintf(ahdr, sizeof ahdr, "%s/%s.hdr", dk->dir, a);
    snprintf(bhdr, sizeof bhdr, "%s/%s.hdr", dk->dir, b);
    snprintf(cmd, sizeof cmd, "cp -p %s %s.orig && cp -p %s %s.orig", amap, amap, ahdr, ahdr);
    ASSERT(system(cmd) == 0);
    uint8_t *got = NULL;
    size_t glen;
    struct kura_segmap gm;
#define RESTORE()                                                                               \
    do {                                                                                        \
        snprintf(cmd, sizeof cmd, "cp -p %s.orig %s && cp -p %s.orig %s", amap, amap, ahdr, ahdr); \
        ASSERT(system(cmd) == 0);                                                               \
    } while (0)
#define EXPECT_REFUSED(what)                                                                    \
    do {                                                                                        \
        int rc_ = kura_keystore_file_load(dk, a, &got, &glen, &gm, &err);                       \
        if (rc_ == 0)                                                                           \
            printf("#   not refused: %s\n", what);                                              \
        EXPECT(rc_ == -1 && err.code == EIO);                                                   \
        EXPECT(got == NULL);                                                                    \
    } while (0)

    ASSERT(kura_keystore_file_load(dk, a, &got, &glen, &gm, &err) == 0);
    free(got);
    kura_segmap_clear(&gm);

    flip_byte(amap, 24 + 12 + 3);                  /* second nonce */
    EXPECT_REFUSED("nonce changed");
    RESTORE();
    flip_byte(amap, 8);                            /* payload length */
    EXPECT_REFUSED("length changed");
    RESTORE();
    flip_byte(amap, -1);                           /* the MAC */
    EXPECT_REFUSED("mac changed");
    RESTORE();
    flip_byte(amap, 0);                            /* magic */
    EXPECT_REFUSED("magic changed");
    RESTORE();
    ASSERT(truncate(amap, 24 + 12 + 32) == 0);     /* a segment dropped */
    EXPECT_REFUSED("truncated");
    RESTORE();
    snprintf(cmd, sizeof cmd, "printf x >> %s", amap);
    ASSERT(system(cmd) == 0);
    EXPECT_REFUSED("byte appended");
    RESTORE();
    /* Reordered segments: swap the two nonces. */
    {
        int fd = open(amap, O_RDWR);
        uint8_t n1[12], n2[12];
        ASSERT(pread(fd, n1, 12, 24) == 12 && pread(fd, n2, 12, 36) == 12);
        ASSERT(pwrite(fd, n2, 12, 24) == 12 && pwrite(fd, n1, 12, 36) == 12);
        close(fd);
    }
    EXPECT_REFUSED("segments reordered");
    RESTORE();
    /* Another file's map under this file's id. */
    snprintf(cmd, sizeof cmd, "cp -p %s %s", bmap, amap);
    ASSERT(system(cmd) == 0);
    EXPECT_REFUSED("map of another file");
    RESTORE();
    /* Another file's header with this file's map. */
    snprintf(cmd, sizeof cmd, "cp -p %s %s", bhdr, ahdr);
    ASSERT(system(cmd) == 0);
    EXPECT_REFUSED("header of another file");
    RESTORE();
    /* Both moved to another dataset under the same file id. */
    snprintf(cmd, sizeof cmd, "cp -p %s %s/ && cp -p %s %s/", amap, dk2->dir, ahdr, dk2->dir);
    ASSERT(system(cmd) == 0);
    int rc = kura_keystore_file_load(dk2, a, &got, &glen, &gm, &err);
    EXPECT(rc == -1 && err.code == EIO);
#undef RESTORE
#undef EXPECT_REFUSED

    ASSERT(kura_keystore_file_load(dk, a, &got, &glen, &gm, &err) == 0);
    free(got);
    kura_segmap_clear(&gm);
    snprintf(cmd, sizeof cmd, "rm -f %s.orig %s.orig", amap, ahdr);
    ASSERT(system(cmd) == 0);
    free(ha);
    free(hb);
    kura_segmap_clear(&ma);
    kura_segmap_clear(&mb);
    kura_dskey_free(dk);
    kura_dskey_free(dk2);
    kura_keystore_close(ks);
}

static void test_destroy_leaves_nothing(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &dk, &err) == 0);

    char **ids = NULL;
    size_t n = 0;
    ASSERT(kura_keystore_file_ids(keys_a, "DS1", &ids, &n, &err) == 0);
    EXPECT(n == 5);     /* 3 from test_header_store_load, 2 from test_segmap_tamper */
    for (size_t i = 1; i < n; i++)
        EXPECT(strcmp(ids[i - 1], ids[i]) < 0);
    ASSERT(n >= 1);

    /* One file: header and map gone, load says so; again is fine. */
    char victim[KURA_FILE_ID_LEN + 1];
    strcpy(victim, ids[0]);
    kura_keystore_ids_free(ids, n);
    /* The stamp of what an open reads: the same while nothing changes; a
     * file replaced (here the dataset key, by rename, as a rewrap does)
     * changes it, whatever its content; a destroyed entry has none. */
    struct kura_key_stamp st1, st2;
    ASSERT(kura_keystore_file_stamp(keys_a, "DS1", victim, &st1, &err) == 0);
    ASSERT(kura_keystore_file_stamp(keys_a, "DS1", victim, &st2, &err) == 0);
    EXPECT(kura_key_stamp_equal(&st1, &st2));
    char key_copy[600];
    snprintf(key_copy, sizeof key_copy, "%s.copy", path_of(dk->dir, KURA_DATASET_KEY_FILE));
    char *key_text = NULL;
    size_t key_len = 0;
    ASSERT(kura_read_file(path_of(dk->dir, KURA_DATASET_KEY_FILE), 1 << 16, &key_text, &key_len, &err) == 0);
    ASSERT(kura_write_file_new(key_copy, key_text, key_len, 0600, &err) == 0);
    free(key_text);
    ASSERT(rename(key_copy, path_of(dk->dir, KURA_DATASET_KEY_FILE)) == 0);
    ASSERT(kura_keystore_file_stamp(keys_a, "DS1", victim, &st2, &err) == 0);
    EXPECT(!kura_key_stamp_equal(&st1, &st2));
    EXPECT(st1.header.ino == st2.header.ino && st1.key.ino != st2.key.ino);
    ASSERT(kura_keystore_file_destroy(keys_a, "DS1", victim, &err) == 0);
    EXPECT(kura_keystore_file_stamp(keys_a, "DS1", victim, &st2, &err) == -1 && err.code == ENOENT);
    uint8_t *got = NULL;
    size_t glen;
    struct kura_segmap gm;
    EXPECT(kura_keystore_file_load(dk, victim, &got, &glen, &gm, &err) == -1 && err.code == ENOENT);
    EXPECT(kura_keystore_file_destroy(keys_a, "DS1", victim, &err) == 0);
    ASSERT(kura_keystore_file_ids(keys_a, "DS1", &ids, &n, &err) == 0);
    EXPECT(n == 4);
    kura_keystore_ids_free(ids, n);

    /* The dataset: nothing of it remains, stray temporaries included. */
    FILE *f = fopen(path_of(dk->dir, ".dataset.key.c4gh.tmp-123"), "w");
    ASSERT(f);
    fputs("stale", f);
    fclose(f);
    ASSERT(kura_keystore_dataset_destroy(keys_a, "DS1", &err) == 0);
    EXPECT(access(dk->dir, F_OK) != 0);
    EXPECT(!kura_keystore_dataset_exists(keys_a, "DS1"));
    struct kura_dskey *again = NULL;
    EXPECT(kura_keystore_dataset_key(ks, "DS1", &again, &err) == -1 && err.code == ENOENT);
    EXPECT(count_entries(path_of(keys_a, "datasets")) == 1);      /* DS2 only */
    EXPECT(kura_keystore_dataset_destroy(keys_a, "DS1", &err) == 0);
    ASSERT(kura_keystore_file_ids(keys_a, "DS1", &ids, &n, &err) == 0);
    EXPECT(n == 0);
    kura_keystore_ids_free(ids, n);
    /* A new dataset of the same id gets a new key, never the old one. */
    ASSERT(kura_keystore_dataset_create(keys_a, "DS1", &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DS1", &again, &err) == 0);
    EXPECT(memcmp(again->pk, dk->pk, C4GH_KEY_SIZE) != 0);
    kura_dskey_free(again);
    kura_dskey_free(dk);
    kura_keystore_close(ks);
}

/* A Crypt4GH header with a fresh data key to one recipient, as the archive
 * would send it. */
static uint8_t *header_to(const uint8_t pk[C4GH_KEY_SIZE], size_t *len)
{
    struct kura_err err = {0};
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL;
    if (c4gh_header_new(&h, NULL, 0, &err) != 0 || c4gh_header_build(h, NULL, pk, 1, &raw, len, &err) != 0)
        raw = NULL;
    c4gh_header_free(h);
    return raw;
}

static char *file_text(const char *path)
{
    char *t = NULL;
    struct kura_err err = {0};
    return kura_read_file(path, 65536, &t, NULL, &err) == 0 ? t : NULL;
}

/* Issue 13 §1: the dataset's delivery key is a key pair of its own; its
 * public half is on file; a delivery to it opens, and names it; erasing the
 * dataset erases it. */
static void test_delivery_key(void)
{
    struct kura_err err = {0};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path_of(top, "keys-deliv"));
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    ASSERT(kura_keystore_create(dir, NULL, &err) == 0);
    ASSERT(kura_keystore_dataset_create(dir, "DSD", &err) == 0);
    ASSERT(kura_keystore_open(dir, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DSD", &dk, &err) == 0);
    char dsdir[512];
    snprintf(dsdir, sizeof dsdir, "%s/datasets/DSD", dir);
    EXPECT(mode_of(path_of(dsdir, "dataset.pub")) == 0600);
    char *text = NULL, *want = c4gh_pubkey_format(dk->pk);
    ASSERT(kura_keystore_dataset_pubkey_text(dir, "DSD", &text, &err) == 0 && want);
    EXPECT(strcmp(text, want) == 0);
    free(text);
    free(want);
    char fp[KURA_KEY_FINGERPRINT_LEN + 1], fp2[KURA_KEY_FINGERPRINT_LEN + 1], sfp[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_dskey_fingerprint(dk, fp);
    ASSERT(kura_keystore_dataset_fingerprint(dir, "DSD", fp2) == 0);
    EXPECT(strcmp(fp, fp2) == 0);
    uint8_t spk[C4GH_KEY_SIZE];
    kura_keystore_server_pk(ks, spk);
    kura_key_fingerprint(spk, sfp);
    EXPECT(strcmp(fp, sfp) != 0);

    /* Deliveries: to the dataset key, to the server key, to neither. */
    size_t len = 0;
    struct c4gh_header *h = NULL;
    struct kura_delivery_key which;
    uint8_t *raw = header_to(dk->pk, &len);
    ASSERT(raw);
    EXPECT(kura_keystore_open_delivery(ks, dk, raw, len, &h, &which, &err) == 0);
    EXPECT(strcmp(which.role, "dataset") == 0 && strcmp(which.fp, fp) == 0);
    c4gh_header_free(h);
    free(raw);
    raw = header_to(spk, &len);
    ASSERT(raw);
    EXPECT(kura_keystore_open_delivery(ks, dk, raw, len, &h, &which, &err) == 0);
    EXPECT(strcmp(which.role, "server") == 0 && strcmp(which.fp, sfp) == 0);
    c4gh_header_free(h);
    free(raw);
    /* To both: the server key is named, since it outlives the dataset. */
    uint8_t both_pk[2 * C4GH_KEY_SIZE];
    memcpy(both_pk, dk->pk, C4GH_KEY_SIZE);
    memcpy(both_pk + C4GH_KEY_SIZE, spk, C4GH_KEY_SIZE);
    struct c4gh_header *hb = NULL;
    ASSERT(c4gh_header_new(&hb, NULL, 0, &err) == 0 && c4gh_header_build(hb, NULL, both_pk, 2, &raw, &len, &err) == 0);
    c4gh_header_free(hb);
    EXPECT(kura_keystore_open_delivery(ks, dk, raw, len, &h, &which, &err) == 0);
    EXPECT(strcmp(which.role, "server") == 0 && strcmp(which.fp, sfp) == 0);
    c4gh_header_free(h);
    free(raw);
    uint8_t *osk = kura_secure_alloc(C4GH_KEY_SIZE), opk[C4GH_KEY_SIZE];
    ASSERT(osk);
    c4gh_keygen(osk, opk);
    kura_secure_free(osk);
    raw = header_to(opk, &len);
    ASSERT(raw);
    h = NULL;
    EXPECT(kura_keystore_open_delivery(ks, dk, raw, len, &h, &which, &err) == -1 && !h);
    free(raw);

    /* A dataset made before delivery keys gets its public half back. */
    ASSERT(unlink(path_of(dsdir, "dataset.pub")) == 0);
    EXPECT(kura_keystore_dataset_pubkey_text(dir, "DSD", &text, &err) == -1 && err.code == ENOENT);
    ASSERT(kura_dskey_save_pub(dk, &err) == 0);
    ASSERT(kura_keystore_dataset_fingerprint(dir, "DSD", fp2) == 0);
    EXPECT(strcmp(fp, fp2) == 0);

    EXPECT(kura_keystore_secret_exists(dir, fp));
    EXPECT(kura_keystore_secret_exists(dir, sfp));
    ASSERT(kura_keystore_dataset_destroy(dir, "DSD", &err) == 0);
    EXPECT(!kura_keystore_secret_exists(dir, fp));
    EXPECT(kura_keystore_dataset_fingerprint(dir, "DSD", fp2) == -1);
    kura_dskey_free(dk);
    kura_keystore_close(ks);
}

/* Rotation keeps the old key for deliveries in flight and rewraps every
 * dataset key; retirement erases it (and only an earlier key), records it,
 * and leaves every dataset readable with the keys that remain. */
/* A node told of a retirement before its copy of the keystore shows it
 * drops the key from memory (kurafs's kurafs_keys_retire). */
static void test_forget(void)
{
    struct kura_err err = {0};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path_of(top, "keys-forget"));
    struct kura_keystore *ks = NULL;
    char cur[KURA_KEY_FINGERPRINT_LEN + 1], old[KURA_KEY_FINGERPRINT_LEN + 1], fp[KURA_KEY_FINGERPRINT_LEN + 1];
    ASSERT(kura_keystore_create(dir, NULL, &err) == 0);
    ASSERT(kura_keystore_open(dir, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_key_fingerprint(ks, 0, old));
    ASSERT(kura_keystore_rotate(ks, NULL, NULL, NULL, cur, &err) == 0);
    kura_keystore_close(ks);
    ASSERT(kura_keystore_open(dir, NULL, &ks, &err) == 0);
    EXPECT(kura_keystore_held(ks, old) == 1 && kura_keystore_held(ks, cur) == 0);
    EXPECT(kura_keystore_forget(ks, cur) == 0);         /* the current key: never alone */
    EXPECT(kura_keystore_held(ks, cur) == 0);
    EXPECT(kura_keystore_forget(ks, old) == 1);
    EXPECT(kura_keystore_held(ks, old) == -1);
    EXPECT(kura_keystore_key_fingerprint(ks, 0, fp) && strcmp(fp, cur) == 0);
    EXPECT(!kura_keystore_key_fingerprint(ks, 1, fp));
    EXPECT(kura_keystore_forget(ks, old) == -1);        /* not held any more */
    EXPECT(kura_keystore_stale(ks));                    /* the files still have it */
    kura_keystore_close(ks);
}

static void test_rotate_retire(void)
{
    struct kura_err err = {0};
    char dir[256], earlier[300];
    snprintf(dir, sizeof dir, "%s", path_of(top, "keys-rot"));
    const char *pass = "rotation pass";
    struct kura_keystore *ks = NULL, *ks2 = NULL, *ks3 = NULL;
    struct kura_dskey *dk = NULL;
    ASSERT(kura_keystore_create(dir, pass, &err) == 0);
    ASSERT(kura_keystore_dataset_create(dir, "DSX", &err) == 0);
    ASSERT(kura_keystore_open(dir, pass, &ks, &err) == 0);
    uint8_t old_pk[C4GH_KEY_SIZE];
    kura_keystore_server_pk(ks, old_pk);
    char old_fp[KURA_KEY_FINGERPRINT_LEN + 1], new_fp[KURA_KEY_FINGERPRINT_LEN + 1];
    kura_key_fingerprint(old_pk, old_fp);
    size_t in_flight_len = 0, n = 0;
    uint8_t *in_flight = header_to(old_pk, &in_flight_len);
    ASSERT(in_flight);
    EXPECT(!kura_keystore_stale(ks));

    /* An interrupted rotation left a second name of the current key: harmless. */
    snprintf(earlier, sizeof earlier, "%s", path_of(dir, "server-keys"));
    ASSERT(mkdir(earlier, 0700) == 0);
    char dup[600];
    snprintf(dup, sizeof dup, "%s/%s.sec", earlier, old_fp);
    ASSERT(link(path_of(dir, "server.sec"), dup) == 0);
    ASSERT(kura_keystore_open(dir, pass, &ks2, &err) == 0);
    kura_keystore_close(ks2);
    ks2 = NULL;

    ASSERT(kura_keystore_rotate(ks, pass, NULL, NULL, new_fp, &err) == 0);
    EXPECT(strcmp(new_fp, old_fp) != 0);
    EXPECT(kura_keystore_stale(ks));
    EXPECT(mode_of(dup) == 0600);
    struct kura_server_key_info *v = NULL;
    ASSERT(kura_keystore_server_keys(dir, &v, &n, &err) == 0);
    EXPECT(n == 2);
    if (n == 2) {
        EXPECT(v[0].state == KURA_SKEY_CURRENT && strcmp(v[0].fp, new_fp) == 0);
        EXPECT(v[1].state == KURA_SKEY_EARLIER && strcmp(v[1].fp, old_fp) == 0);
    }
    free(v);
    /* The new key takes the same passphrase; a stale keystore may not rewrap. */
    EXPECT(kura_keystore_open(dir, NULL, &ks2, &err) == -1);
    EXPECT(kura_keystore_rewrap(ks, &n, &err) == -1 && err.code == EAGAIN);
    ASSERT(kura_keystore_open(dir, pass, &ks2, &err) == 0);
    EXPECT(!kura_keystore_stale(ks2));
    /* Before the rewrap the dataset key still opens (with the earlier key),
     * and a delivery to the old key still imports. */
    ASSERT(kura_keystore_dataset_key(ks2, "DSX", &dk, &err) == 0);
    struct c4gh_header *h = NULL;
    struct kura_delivery_key which;
    EXPECT(kura_keystore_open_delivery(ks2, dk, in_flight, in_flight_len, &h, &which, &err) == 0);
    EXPECT(strcmp(which.role, "server") == 0 && strcmp(which.fp, old_fp) == 0);
    c4gh_header_free(h);
    h = NULL;
    /* A rewrap killed after it gave the key file its second name: the next
     * one must not erase the key through that name. */
    char dsdir[512], oldname[600];
    snprintf(dsdir, sizeof dsdir, "%s/datasets/DSX/dataset.key.c4gh", dir);
    snprintf(oldname, sizeof oldname, "%s.old", dsdir);
    ASSERT(link(dsdir, oldname) == 0);
    ASSERT(kura_keystore_rewrap(ks2, &n, &err) == 0);
    EXPECT(n == 1);
    EXPECT(access(oldname, F_OK) != 0);
    struct kura_dskey *again = NULL;
    EXPECT(kura_keystore_dataset_key(ks2, "DSX", &again, &err) == 0 && again &&
           memcmp(again->sk, dk->sk, C4GH_KEY_SIZE) == 0);
    kura_dskey_free(again);
    ASSERT(kura_keystore_rewrap(ks2, &n, &err) == 0);
    EXPECT(n == 0);
    /* The wrapped dataset key now opens with the new server key alone. */
    uint8_t *nsk = kura_secure_alloc(C4GH_KEY_SIZE);
    ASSERT(nsk && c4gh_seckey_load(path_of(dir, "server.sec"), pass, nsk, &err) == 0);
    int fd = open(dsdir, O_RDONLY);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ASSERT(fd >= 0 && c4gh_header_read(fd, &raw, &raw_len, &err) == 0);
    close(fd);
    EXPECT(c4gh_header_open_strict(raw, raw_len, nsk, NULL, &h, &err) == 0);
    c4gh_header_free(h);
    h = NULL;
    free(raw);
    kura_secure_free(nsk);

    /* Retirement: never the current key, never a made-up one. */
    size_t rewrapped = 99;
    EXPECT(kura_keystore_retire(ks2, new_fp, "retired now by test", &rewrapped, &err) == -1 && err.code == EBUSY);
    EXPECT(kura_keystore_retire(ks2, "NOTHEX", "x", &rewrapped, &err) == -1 && err.code == EINVAL);
    char nosuch[KURA_KEY_FINGERPRINT_LEN + 1];
    memset(nosuch, 'a', KURA_KEY_FINGERPRINT_LEN);
    nosuch[KURA_KEY_FINGERPRINT_LEN] = '\0';
    EXPECT(kura_keystore_retire(ks2, nosuch, "x", &rewrapped, &err) == -1 && err.code == ENOENT);
    EXPECT(kura_keystore_secret_exists(dir, old_fp));
    ASSERT(kura_keystore_retire(ks2, old_fp, "retired now by test", &rewrapped, &err) == 0);
    EXPECT(rewrapped == 0);
    EXPECT(access(dup, F_OK) != 0);
    char rec[600];
    snprintf(rec, sizeof rec, "%s/%s.retired", earlier, old_fp);
    char *t = file_text(rec);
    ASSERT(t);
    EXPECT(strncmp(t, "retired now by test\n", 20) == 0);
    EXPECT_STR_CONTAINS(t, "BEGIN CRYPT4GH PUBLIC KEY");
    free(t);
    EXPECT(!kura_keystore_secret_exists(dir, old_fp));
    EXPECT(kura_keystore_secret_exists(dir, new_fp));
    EXPECT(kura_keystore_retire(ks2, old_fp, "again", &rewrapped, &err) == -1 && err.code == EALREADY);
    ASSERT(kura_keystore_server_keys(dir, &v, &n, &err) == 0);
    EXPECT(n == 2 && v[1].state == KURA_SKEY_RETIRED && strcmp(v[1].note, "retired now by test") == 0);
    free(v);
    EXPECT(kura_keystore_stale(ks2));
    /* What remains opens every dataset key but no delivery to the old key. */
    ASSERT(kura_keystore_open(dir, pass, &ks3, &err) == 0);
    struct kura_dskey *dk3 = NULL;
    EXPECT(kura_keystore_dataset_key(ks3, "DSX", &dk3, &err) == 0);
    EXPECT(kura_keystore_open_delivery(ks3, dk, in_flight, in_flight_len, &h, &which, &err) == -1);
    /* An earlier key filed under another key's name is refused. */
    char liar[600];
    snprintf(liar, sizeof liar, "%s/%s.sec", earlier, nosuch);
    ASSERT(link(path_of(dir, "server.sec"), liar) == 0);
    struct kura_keystore *ks4 = NULL;
    EXPECT(kura_keystore_open(dir, pass, &ks4, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "not the one its name says");
    ASSERT(unlink(liar) == 0);
    kura_dskey_free(dk3);
    kura_dskey_free(dk);
    free(in_flight);
    kura_keystore_close(ks3);
    kura_keystore_close(ks2);
    kura_keystore_close(ks);
}

/* Issue 17: a dataset key's public half is derived once per keystore, not
 * at each open, and a key made anew under the same id is never given the
 * old one's. */
static void test_dataset_pk_remembered(void)
{
    struct kura_err err = {0};
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    uint8_t on_file[C4GH_KEY_SIZE];
    const char *pub = path_of(keys_a, "datasets/DSPK/dataset.pub");
    ASSERT(kura_keystore_open(keys_a, NULL, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_create(keys_a, "DSPK", &err) == 0);
    ASSERT(c4gh_pubkey_load(pub, on_file, &err) == 0);
    x25519_ops();
    ASSERT(kura_keystore_dataset_key(ks, "DSPK", &dk, &err) == 0);
    EXPECT(x25519_ops() == 2); /* the unwrap, and the public half */
    EXPECT(memcmp(dk->pk, on_file, C4GH_KEY_SIZE) == 0);
    kura_dskey_free(dk);
    for (int i = 0; i < 3; i++) {
        ASSERT(kura_keystore_dataset_key(ks, "DSPK", &dk, &err) == 0);
        EXPECT(x25519_ops() == 1); /* the unwrap only */
        EXPECT(memcmp(dk->pk, on_file, C4GH_KEY_SIZE) == 0);
        kura_dskey_free(dk);
    }
    /* Destroyed and made again under the same id: a new key, a new half. */
    ASSERT(kura_keystore_dataset_destroy(keys_a, "DSPK", &err) == 0);
    ASSERT(kura_keystore_dataset_create(keys_a, "DSPK", &err) == 0);
    uint8_t renewed[C4GH_KEY_SIZE];
    ASSERT(c4gh_pubkey_load(pub, renewed, &err) == 0);
    EXPECT(memcmp(renewed, on_file, C4GH_KEY_SIZE) != 0);
    ASSERT(kura_keystore_dataset_key(ks, "DSPK", &dk, &err) == 0);
    EXPECT(memcmp(dk->pk, renewed, C4GH_KEY_SIZE) == 0);
    uint8_t derived[C4GH_KEY_SIZE];
    c4gh_public_from_secret(dk->sk, derived);
    EXPECT(memcmp(dk->pk, derived, C4GH_KEY_SIZE) == 0);
    kura_dskey_free(dk);
    ASSERT(kura_keystore_dataset_destroy(keys_a, "DSPK", &err) == 0);
    kura_keystore_close(ks);
}

/* An open descriptor keeps a file's blocks without adding a name (a
 * hard link would make a destruction only unlink): through it, what a
 * destruction left in the file's blocks can be read. */
struct kept {
    int fd;
    size_t len;
    uint8_t was[4096];
};

static bool keep(struct kept *k, const char *path)
{
    k->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (k->fd < 0)
        return false;
    ssize_t n = pread(k->fd, k->was, sizeof k->was, 0);
    k->len = n > 0 ? (size_t)n : 0;
    return k->len > 0;
}

/* The blocks hold none of the old bytes' runs: overwritten, not unlinked. */
static bool overwritten(struct kept *k)
{
    uint8_t now[sizeof k->was];
    ssize_t n = pread(k->fd, now, k->len, 0);
    close(k->fd);
    k->fd = -1;
    if (n != (ssize_t)k->len)
        return false;
    for (size_t i = 0; i + 8 <= k->len; i += 8)
        if (memcmp(now + i, k->was + i, 8) == 0)
            return false;
    return true;
}

/* Crypto-erasure erases: every key file a destruction, a retirement or a
 * rewrap removes is overwritten first, and an erasure a kill interrupted
 * is finished (overwritten) at the next open (R-REV-3). */
static void test_erasure_overwrites_key_files(void)
{
    struct kura_err err = {0};
    char dir[256];
    snprintf(dir, sizeof dir, "%s", path_of(top, "keys-erase"));
    const char *pass = "erase pass";
    struct kura_keystore *ks = NULL, *ks2 = NULL;
    struct kura_dskey *dk = NULL;
    ASSERT(kura_keystore_create(dir, pass, &err) == 0);
    ASSERT(kura_keystore_dataset_create(dir, "DSE", &err) == 0);
    ASSERT(kura_keystore_open(dir, pass, &ks, &err) == 0);
    ASSERT(kura_keystore_dataset_key(ks, "DSE", &dk, &err) == 0);
    char id[KURA_FILE_ID_LEN + 1], name[64];
    kura_file_id_new(id);
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    struct kura_segmap map = {0};
    make_entry(dk, 100, &hdr, &hdr_len, &map);
    ASSERT(hdr);
    ASSERT(kura_keystore_file_store(dk, id, hdr, hdr_len, &map, true, &err) == 0);
    free(hdr);
    kura_segmap_clear(&map);
    char id2[KURA_FILE_ID_LEN + 1];
    kura_file_id_new(id2);
    make_entry(dk, 100, &hdr, &hdr_len, &map);
    ASSERT(hdr);
    ASSERT(kura_keystore_file_store(dk, id2, hdr, hdr_len, &map, true, &err) == 0);
    free(hdr);
    kura_segmap_clear(&map);

    /* One file's header (its data key). */
    struct kept h;
    snprintf(name, sizeof name, "%s.hdr", id);
    ASSERT(keep(&h, path_of(dk->dir, name)));
    ASSERT(kura_keystore_file_destroy(dir, "DSE", id, &err) == 0);
    EXPECT(overwritten(&h));

    /* A rewrap's old key file (wrapped to the earlier server key). */
    char fp[KURA_KEY_FINGERPRINT_LEN + 1], old_fp[KURA_KEY_FINGERPRINT_LEN + 1];
    uint8_t old_pk[C4GH_KEY_SIZE];
    kura_keystore_server_pk(ks, old_pk);
    kura_key_fingerprint(old_pk, old_fp);
    struct kept wrapped;
    ASSERT(keep(&wrapped, path_of(dk->dir, KURA_DATASET_KEY_FILE)));
    ASSERT(kura_keystore_rotate(ks, pass, NULL, NULL, fp, &err) == 0);
    ASSERT(kura_keystore_open(dir, pass, &ks2, &err) == 0);
    size_t n = 0;
    ASSERT(kura_keystore_rewrap(ks2, &n, &err) == 0);
    EXPECT(n == 1);
    EXPECT(overwritten(&wrapped));
    /* What a rewrap killed half-way leaves (the replacement's temporary
     * file, the old file's second name): the next rewrap erases both, even
     * with every key already current. */
    char tmpname[300], oldname[300];
    snprintf(tmpname, sizeof tmpname, "%s", path_of(dk->dir, ".dataset.key.c4gh.tmp-killed"));
    snprintf(oldname, sizeof oldname, "%s", path_of(dk->dir, "dataset.key.c4gh.old"));
    char wrapped_copy[256];
    for (size_t i = 0; i < sizeof wrapped_copy; i++)
        wrapped_copy[i] = (char)('A' + i % 23);
    ASSERT(kura_write_file_atomic(tmpname, wrapped_copy, sizeof wrapped_copy, 0600, &err) == 0);
    ASSERT(kura_write_file_atomic(oldname, wrapped_copy, sizeof wrapped_copy, 0600, &err) == 0);
    struct kept lt, lo;
    ASSERT(keep(&lt, tmpname) && keep(&lo, oldname));
    ASSERT(kura_keystore_rewrap(ks2, &n, &err) == 0);
    EXPECT(n == 0);
    EXPECT(access(tmpname, F_OK) != 0 && access(oldname, F_OK) != 0);
    EXPECT(overwritten(&lt));
    EXPECT(overwritten(&lo));

    /* A retired server key's secret half. */
    char sec[400];
    snprintf(sec, sizeof sec, "%s/server-keys/%s.sec", dir, old_fp);
    struct kept s;
    ASSERT(keep(&s, sec));
    ASSERT(kura_keystore_retire(ks2, old_fp, "erasure test", &n, &err) == 0);
    EXPECT(access(sec, F_OK) != 0);
    EXPECT(overwritten(&s));

    /* The dataset key, and the headers still in its directory. */
    struct kept key, h2;
    ASSERT(keep(&key, path_of(dk->dir, KURA_DATASET_KEY_FILE)));
    snprintf(name, sizeof name, "%s.hdr", id2);
    ASSERT(keep(&h2, path_of(dk->dir, name)));
    ASSERT(kura_keystore_dataset_destroy(dir, "DSE", &err) == 0);
    EXPECT(overwritten(&key));
    EXPECT(overwritten(&h2));

    /* An erasure a kill left in .destroying: the next open finishes it. */
    char left[400];
    snprintf(left, sizeof left, "%s/.destroying", dir);
    if (access(left, F_OK) != 0)
        ASSERT(mkdir(left, 0700) == 0);
    snprintf(left, sizeof left, "%s/.destroying/killed", dir);
    char secret[512];
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (char)('a' + i % 26);
    ASSERT(kura_write_file_atomic(left, secret, sizeof secret, 0600, &err) == 0);
    struct kept k;
    ASSERT(keep(&k, left));
    struct kura_keystore *ks3 = NULL;
    ASSERT(kura_keystore_open(dir, pass, &ks3, &err) == 0);
    EXPECT(access(left, F_OK) != 0);
    EXPECT(overwritten(&k));
    kura_keystore_close(ks3);
    kura_dskey_free(dk);
    kura_keystore_close(ks2);
    kura_keystore_close(ks);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    strcpy(top, "/tmp/kura-ks-XXXXXX");
    if (!mkdtemp(top))
        return 1;
    keys_a = strdup(path_of(top, "keys-a"));
    keys_b = strdup(path_of(top, "keys-b"));
    RUN(test_create_modes_and_no_overwrite);
    RUN(test_open_refuses_open_permissions);
    RUN(test_passphrase);
    RUN(test_ids);
    RUN(test_dataset_key_wrap_unwrap);
    RUN(test_dataset_pk_remembered);
    RUN(test_header_store_load);
    RUN(test_segmap_tamper);
    RUN(test_destroy_leaves_nothing);
    RUN(test_delivery_key);
    RUN(test_forget);
    RUN(test_rotate_retire);
    RUN(test_erasure_overwrites_key_files);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", top);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", top);
    free(keys_a);
    free(keys_b);
    return unit_done();
}
