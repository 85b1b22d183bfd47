/* R-ENC-2: kura's Crypt4GH engine against files and keys written by the GA4GH
 * reference implementation (and kura-written files the reference tool
 * checked). Fixtures and how they were made: tests/fixtures/c4gh/README.md.
 * Each MANIFEST.tsv row is one test: load the key, open the header, decrypt
 * the whole file, compare SHA-256 and size with the manifest, then read it
 * again through the random-access reader in odd-sized chunks and at
 * positions around segment and edit boundaries. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/c4gh.h"
#include "kura/secmem.h"
#include "unit.h"

#define MAX_ROWS 64

struct row {
    char file[128], seckey[128], passphrase[128], sha256[65], made_by[32];
    uint64_t size;
};

static char fixtures[PATH_MAX];
static struct row rows[MAX_ROWS];
static size_t nrows;
static const struct row *cur;   /* the row test_manifest_row() checks */

static const char *fixture(const char *rel)
{
    static char path[2][PATH_MAX];
    static int which;
    which ^= 1;
    int n = snprintf(path[which], sizeof path[which], "%s/%s", fixtures, rel);
    return n > 0 && (size_t)n < sizeof path[which] ? path[which] : "(fixture path too long)";
}

static void find_fixtures(void)
{
    const char *top = getenv("KURA_TOP");
    if (top && *top)
        snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/c4gh", top);
    else
        snprintf(fixtures, sizeof fixtures, "tests/fixtures/c4gh");
}

/* MANIFEST.tsv: file, seckey, passphrase ("-" = none), sha256, size, made_by, note. */
static int load_manifest(void)
{
    FILE *f = fopen(fixture("MANIFEST.tsv"), "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof line, f) && nrows < MAX_ROWS) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        struct row *r = &rows[nrows];
        unsigned long long size;
        if (sscanf(line, "%127[^\t]\t%127[^\t]\t%127[^\t]\t%64[0-9a-f]\t%llu\t%31[^\t\n]", r->file,
                   r->seckey, r->passphrase, r->sha256, &size, r->made_by) != 6) {
            printf("# bad manifest line: %s", line);
            fclose(f);
            return -1;
        }
        r->size = size;
        nrows++;
    }
    fclose(f);
    return nrows > 0 ? 0 : -1;
}

static void sha256_hex(const uint8_t *data, size_t len, char hex[65])
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

static const char *row_passphrase(const struct row *r)
{
    return strcmp(r->passphrase, "-") == 0 ? NULL : r->passphrase;
}

/* Secret key of a row in secure memory, or NULL (reported). */
static uint8_t *load_seckey(const char *rel, const char *passphrase)
{
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    struct kura_err err = {0};
    if (!sk)
        return NULL;
    if (c4gh_seckey_load(fixture(rel), passphrase, sk, &err) != 0) {
        printf("# %s: %s\n", rel, err.msg);
        kura_secure_free(sk);
        return NULL;
    }
    return sk;
}

/* Opens file rel with sk: fd, header length, opened header. */
static int open_c4gh(const char *rel, const uint8_t *sk, int *fd, size_t *raw_len, struct c4gh_header **h)
{
    struct kura_err err = {0};
    uint8_t *raw = NULL;
    *fd = open(fixture(rel), O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        printf("# open %s: %s\n", rel, strerror(errno));
        return -1;
    }
    if (c4gh_header_read(*fd, &raw, raw_len, &err) != 0 ||
        c4gh_header_open(raw, *raw_len, sk, NULL, h, &err) != 0) {
        printf("# %s: %s\n", rel, err.msg);
        free(raw);
        close(*fd);
        return -1;
    }
    free(raw);
    return 0;
}

/* Whole-file decryption with c4gh_decrypt_stream into a memfd; returns the
 * plaintext (malloc'd; fixtures are public test data) or NULL. */
static uint8_t *decrypt_all(int fd, size_t raw_len, const struct c4gh_header *h, size_t *len)
{
    struct kura_err err = {0};
    uint8_t *buf = NULL;
    int out = memfd_create("c4gh-interop", MFD_CLOEXEC);
    if (out < 0 || lseek(fd, (off_t)raw_len, SEEK_SET) < 0)
        goto done;
    if (c4gh_decrypt_stream(h, fd, out, &err) != 0) {
        printf("# decrypt_stream: %s\n", err.msg);
        goto done;
    }
    struct stat st;
    if (fstat(out, &st) != 0)
        goto done;
    *len = (size_t)st.st_size;
    buf = malloc(*len + 1);
    if (buf && pread(out, buf, *len, 0) != (ssize_t)*len) {
        free(buf);
        buf = NULL;
    }
done:
    if (out >= 0)
        close(out);
    return buf;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* One read through the reader at off, n bytes, checked against want. */
static int check_pread(struct c4gh_reader *r, const uint8_t *want, uint64_t size, uint64_t off, size_t n)
{
    static uint8_t got[4 * C4GH_SEGMENT_SIZE];   /* > every fixture */
    struct kura_err err = {0};
    if (n > sizeof got)
        n = sizeof got;
    ssize_t k = c4gh_reader_pread(r, got, n, off, &err);
    size_t expect = off >= size ? 0 : (size - off < n ? (size_t)(size - off) : n);
    if (k < 0) {
        printf("# pread(off=%llu, n=%zu): %s\n", (unsigned long long)off, n, err.msg);
        return -1;
    }
    if ((size_t)k != expect || (k > 0 && memcmp(got, want + off, (size_t)k) != 0)) {
        printf("# pread(off=%llu, n=%zu) gave %zd bytes, expected %zu%s\n", (unsigned long long)off, n, k,
               expect, (size_t)k == expect ? " (content differs)" : "");
        return -1;
    }
    return 0;
}

/* The reader over the payload serves exactly want[0..size). */
static void check_reader(int fd, size_t raw_len, const struct c4gh_header *h, const uint8_t *want, uint64_t size)
{
    struct kura_err err = {0};
    struct stat st;
    struct c4gh_reader *r = NULL;
    uint8_t *nonces = NULL;
    uint64_t nseg = 0, raw_plain = 0, plain_check = 0;
    ASSERT(fstat(fd, &st) == 0);
    uint64_t payload_len = (uint64_t)st.st_size - raw_len;

    ASSERT(c4gh_payload_plain_size(payload_len, &raw_plain, &err) == 0);
    EXPECT(c4gh_visible_size(h, raw_plain) == size);
    /* Import's check: every segment authenticates; the nonce map it returns
     * must be accepted by the reader. */
    if (c4gh_verify_payload(h, fd, raw_len, &plain_check, &nonces, &nseg, &err) != 0) {
        printf("# verify_payload: %s\n", err.msg);
        unit_current_failed = 1;
    }
    EXPECT(plain_check == raw_plain);
    EXPECT(nseg == (raw_plain + C4GH_SEGMENT_SIZE - 1) / C4GH_SEGMENT_SIZE);

    if (c4gh_reader_open(&r, fd, raw_len, payload_len, h, &err) != 0) {
        printf("# reader_open: %s\n", err.msg);
        free(nonces);
        ASSERT(0);
    }
    if (nonces && c4gh_reader_set_segment_map(r, nonces, nseg, &err) != 0) {
        printf("# set_segment_map: %s\n", err.msg);
        unit_current_failed = 1;
    }
    free(nonces);
    EXPECT(c4gh_reader_size(r) == size);

    /* Sequential, in odd-sized chunks that straddle every segment boundary. */
    int bad = 0;
    for (uint64_t off = 0; off < size && !bad; off += 10007)
        bad = check_pread(r, want, size, off, 10007);
    /* Around segment boundaries (of the raw and of the visible plaintext). */
    const uint64_t seg = C4GH_SEGMENT_SIZE;
    for (uint64_t b = 0; b <= size + seg && !bad; b += seg) {
        for (int d = -2; d <= 2 && !bad; d++) {
            if ((int64_t)b + d < 0)
                continue;
            uint64_t off = b + (uint64_t)(int64_t)d;
            bad = check_pread(r, want, size, off, 1) || check_pread(r, want, size, off, 5) ||
                  check_pread(r, want, size, off, C4GH_SEGMENT_SIZE + 3);
        }
    }
    /* Deterministic random offsets and lengths, some spanning 2-3 segments. */
    uint64_t s = 0x9e3779b97f4a7c15ull ^ size;
    for (int i = 0; i < 200 && !bad && size > 0; i++) {
        uint64_t off = xorshift(&s) % (size + 10);
        size_t n = (size_t)(xorshift(&s) % (i % 10 == 0 ? 3 * seg : 4096)) + 1;
        bad = check_pread(r, want, size, off, n);
    }
    /* Whole file in one read, and reads at and past the end. */
    if (!bad)
        bad = check_pread(r, want, size, 0, (size_t)size + 100) || check_pread(r, want, size, size, 10) ||
              check_pread(r, want, size, size + 1000000, 10);
    EXPECT(!bad);
    c4gh_reader_close(r);
}

static void test_manifest_row(void)
{
    const struct row *row = cur;
    int fd = -1;
    size_t raw_len = 0, len = 0;
    struct c4gh_header *h = NULL;
    uint8_t *sk = load_seckey(row->seckey, row_passphrase(row));
    ASSERT(sk);
    int opened = open_c4gh(row->file, sk, &fd, &raw_len, &h);
    kura_secure_free(sk);
    ASSERT(opened == 0);

    uint8_t *plain = decrypt_all(fd, raw_len, h, &len);
    if (plain) {
        char hex[65];
        sha256_hex(plain, len, hex);
        EXPECT(len == row->size);
        EXPECT(strcmp(hex, row->sha256) == 0);
        if (strcmp(hex, row->sha256) != 0)
            printf("#   got sha256 %s, manifest %s\n", hex, row->sha256);
        if (len == row->size && strcmp(hex, row->sha256) == 0)
            check_reader(fd, raw_len, h, plain, len);
    } else {
        unit_current_failed = 1;
    }
    free(plain);
    c4gh_header_free(h);
    close(fd);
}

/* ---- keys ---------------------------------------------------------------- */

static int pub_matches(const char *sec_rel, const char *passphrase, const char *pub_rel)
{
    uint8_t pk[C4GH_KEY_SIZE], derived[C4GH_KEY_SIZE];
    struct kura_err err = {0};
    uint8_t *sk = load_seckey(sec_rel, passphrase);
    if (!sk)
        return 0;
    c4gh_public_from_secret(sk, derived);
    kura_secure_free(sk);
    if (c4gh_pubkey_load(fixture(pub_rel), pk, &err) != 0) {
        printf("# %s: %s\n", pub_rel, err.msg);
        return 0;
    }
    return memcmp(pk, derived, sizeof pk) == 0;
}

static void test_fixture_keys_match_their_public_halves(void)
{
    EXPECT(pub_matches("keys/alice.sec", "alice-fixture-passphrase", "keys/alice.pub"));
    EXPECT(pub_matches("keys/bob.sec", NULL, "keys/bob.pub"));
    EXPECT(pub_matches("keys/dave-pbkdf2.sec", "dave-fixture-passphrase", "keys/dave-pbkdf2.pub"));
    /* kura-written, also read by the reference tool (README) */
    EXPECT(pub_matches("kura/erin.sec", "erin-fixture-passphrase", "kura/erin.pub"));
}

static void test_reference_key_encryption_is_detected(void)
{
    struct kura_err err = {0};
    bool enc = false;
    EXPECT(c4gh_seckey_is_encrypted(fixture("keys/alice.sec"), &enc, &err) == 0 && enc);
    EXPECT(c4gh_seckey_is_encrypted(fixture("keys/dave-pbkdf2.sec"), &enc, &err) == 0 && enc);
    EXPECT(c4gh_seckey_is_encrypted(fixture("keys/bob.sec"), &enc, &err) == 0 && !enc);
}

static void test_bcrypt_key_is_refused_naming_the_kdf(void)
{
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    struct kura_err err = {0};
    ASSERT(sk);
    EXPECT(c4gh_seckey_load(fixture("keys/carol-bcrypt.sec"), "carol-fixture-passphrase", sk, &err) == -1);
    EXPECT(err.code != 0);
    EXPECT_STR_CONTAINS(err.msg, "bcrypt");
    EXPECT(strstr(err.msg, "carol-fixture-passphrase") == NULL);
    kura_secure_free(sk);
}

static void test_wrong_or_missing_passphrase_is_refused(void)
{
    uint8_t *sk = kura_secure_alloc(C4GH_KEY_SIZE);
    struct kura_err err = {0};
    ASSERT(sk);
    EXPECT(c4gh_seckey_load(fixture("keys/alice.sec"), "not-alices-passphrase", sk, &err) == -1);
    EXPECT(err.code != 0);
    EXPECT(strstr(err.msg, "not-alices-passphrase") == NULL);
    memset(&err, 0, sizeof err);
    EXPECT(c4gh_seckey_load(fixture("keys/alice.sec"), NULL, sk, &err) == -1);
    EXPECT(err.code != 0);
    memset(&err, 0, sizeof err);
    EXPECT(c4gh_seckey_load(fixture("keys/dave-pbkdf2.sec"), "alice-fixture-passphrase", sk, &err) == -1);
    EXPECT(err.code != 0);
    kura_secure_free(sk);
}

/* ---- headers --------------------------------------------------------------- */

static void test_other_recipients_file_does_not_open(void)
{
    /* reencrypted.c4gh was alice's; the reference tool moved it to bob only. */
    uint8_t *sk = load_seckey("keys/alice.sec", "alice-fixture-passphrase");
    struct kura_err err = {0};
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    struct c4gh_header *h = NULL;
    ASSERT(sk);
    int fd = open(fixture("ref/reencrypted.c4gh"), O_RDONLY | O_CLOEXEC);
    EXPECT(fd >= 0);
    if (fd >= 0 && c4gh_header_read(fd, &raw, &raw_len, &err) == 0) {
        EXPECT(c4gh_header_open(raw, raw_len, sk, NULL, &h, &err) == -1);
        EXPECT(h == NULL);
        EXPECT(err.code != 0);
    } else {
        printf("# %s\n", err.msg);
        unit_current_failed = 1;
    }
    free(raw);
    if (fd >= 0)
        close(fd);
    kura_secure_free(sk);
}

static void test_header_check_agrees_with_header_read(void)
{
    for (size_t i = 0; i < nrows; i++) {
        uint8_t buf[4096];
        struct kura_err err = {0};
        uint8_t *raw = NULL;
        size_t raw_len = 0, checked = 0;
        int fd = open(fixture(rows[i].file), O_RDONLY | O_CLOEXEC);
        ASSERT(fd >= 0);
        ssize_t n = pread(fd, buf, sizeof buf, 0);
        EXPECT(c4gh_header_read(fd, &raw, &raw_len, &err) == 0);
        EXPECT(n > 0 && c4gh_header_check(buf, (size_t)n, &checked, &err) == 0);
        EXPECT(checked == raw_len && raw_len > 16);
        free(raw);
        close(fd);
    }
}

/* kura re-encrypts a reference header (bob -> alice + bob); the payload is
 * reused as is and still decrypts, for both. */
static void test_kura_reencrypts_a_reference_header(void)
{
    struct kura_err err = {0};
    uint8_t pks[2 * C4GH_KEY_SIZE];
    uint8_t *raw = NULL, *out = NULL;
    size_t raw_len = 0, out_len = 0;
    uint8_t *bob = load_seckey("keys/bob.sec", NULL);
    uint8_t *alice = load_seckey("keys/alice.sec", "alice-fixture-passphrase");
    int fd = open(fixture("ref/multi-segment.c4gh"), O_RDONLY | O_CLOEXEC);
    ASSERT(bob && alice && fd >= 0);
    ASSERT(c4gh_pubkey_load(fixture("keys/alice.pub"), pks, &err) == 0);
    ASSERT(c4gh_pubkey_load(fixture("keys/bob.pub"), pks + C4GH_KEY_SIZE, &err) == 0);
    ASSERT(c4gh_header_read(fd, &raw, &raw_len, &err) == 0);
    if (c4gh_header_reencrypt(raw, raw_len, bob, pks, 2, &out, &out_len, &err) != 0) {
        printf("# header_reencrypt: %s\n", err.msg);
        unit_current_failed = 1;
    } else {
        const uint8_t *who[2] = {alice, bob};
        for (int i = 0; i < 2; i++) {
            struct c4gh_header *h = NULL;
            size_t len = 0;
            if (c4gh_header_open(out, out_len, who[i], NULL, &h, &err) != 0) {
                printf("# open re-encrypted header: %s\n", err.msg);
                unit_current_failed = 1;
                continue;
            }
            uint8_t *plain = decrypt_all(fd, raw_len, h, &len);
            char hex[65] = "";
            if (plain)
                sha256_hex(plain, len, hex);
            /* same plaintext as the manifest's multi-segment row */
            EXPECT(strcmp(hex, "08e07a372ea086cc356e0b38ea50e1f7ccf40fded083fcd364f16350721e51fe") == 0);
            free(plain);
            c4gh_header_free(h);
        }
    }
    free(raw);
    free(out);
    close(fd);
    kura_secure_free(alice);
    kura_secure_free(bob);
}

/* R-ENC-1 on a reference file: one flipped payload byte is EIO, not data. */
static void test_tampered_reference_payload_is_eio(void)
{
    uint8_t *sk = load_seckey("keys/bob.sec", NULL);
    struct kura_err err = {0};
    int fd = -1, copy = -1;
    size_t raw_len = 0;
    struct c4gh_header *h = NULL;
    struct c4gh_reader *r = NULL;
    ASSERT(sk);
    int opened = open_c4gh("ref/multi-segment.c4gh", sk, &fd, &raw_len, &h);
    kura_secure_free(sk);
    ASSERT(opened == 0);
    static uint8_t buf[300 * 1024];
    ssize_t n = pread(fd, buf, sizeof buf, 0);
    close(fd);
    ASSERT(n > (ssize_t)(raw_len + 2 * C4GH_CIPHER_SEGMENT_SIZE));
    buf[raw_len + C4GH_CIPHER_SEGMENT_SIZE + 100] ^= 0x01;   /* inside segment 1 */
    copy = memfd_create("c4gh-tampered", MFD_CLOEXEC);
    ASSERT(copy >= 0 && write(copy, buf, (size_t)n) == n);
    if (c4gh_reader_open(&r, copy, raw_len, (uint64_t)n - raw_len, h, &err) == 0) {
        uint8_t out[64];
        EXPECT(c4gh_reader_pread(r, out, sizeof out, 0, &err) == (ssize_t)sizeof out);
        memset(&err, 0, sizeof err);
        EXPECT(c4gh_reader_pread(r, out, sizeof out, C4GH_SEGMENT_SIZE + 10, &err) == -1);
        EXPECT(err.code == EIO);
        c4gh_reader_close(r);
    } else {
        printf("# reader_open: %s\n", err.msg);
        unit_current_failed = 1;
    }
    c4gh_header_free(h);
    close(copy);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    find_fixtures();
    if (load_manifest() != 0) {
        printf("not ok 1 - read %s (set KURA_TOP or run from the repository top)\n", fixture("MANIFEST.tsv"));
        return 1;
    }
    RUN(test_fixture_keys_match_their_public_halves);
    RUN(test_reference_key_encryption_is_detected);
    RUN(test_bcrypt_key_is_refused_naming_the_kdf);
    RUN(test_wrong_or_missing_passphrase_is_refused);
    RUN(test_other_recipients_file_does_not_open);
    RUN(test_header_check_agrees_with_header_read);
    for (size_t i = 0; i < nrows; i++) {
        char name[512];
        cur = &rows[i];
        int n = snprintf(name, sizeof name,
                         "R-ENC-2 %s (made by %s) opens with %s, decrypts to the manifest sha256, random reads agree",
                         cur->file, cur->made_by, cur->seckey);
        unit_run(n > 0 && (size_t)n < sizeof name ? name : cur->file, test_manifest_row);
    }
    RUN(test_kura_reencrypts_a_reference_header);
    RUN(test_tampered_reference_payload_is_eio);
    return unit_done();
}
