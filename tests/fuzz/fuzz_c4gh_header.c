/* Fuzzes the Crypt4GH header parser, header opening and the payload reader.
 * Mode "file": the input is a Crypt4GH file; its header is checked, read
 * from a file, opened (lenient and strict) with a fixed key, re-encrypted,
 * split and joined, and its payload read back three ways that must agree.
 * Mode "packets": the input is header packet plaintexts that this target
 * seals to the fixed key, so the fuzzer reaches the decrypted-packet parser
 * (types, methods, edit lists); a payload is then encrypted with the key
 * found and every read is compared with a plain model of the edit list. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_c4gh_common.h"
#include "kura/c4gh.h"
#include "kura/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t sk[32], pk[32], sk2[32], pk2[32];

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static int mem_fd(const void *buf, size_t len)
{
    int fd = memfd_create("fuzz-c4gh", MFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(len == 0 || pwrite(fd, buf, len, 0) == (ssize_t)len);
    return fd;
}

static uint8_t *fd_bytes(int fd, size_t *len)
{
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    CHECK(buf && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size);
    *len = (size_t)st.st_size;
    return buf;
}

static bool same_header(const struct c4gh_header *a, const struct c4gh_header *b)
{
    return a->nkeys == b->nkeys && sodium_memcmp(a->keys, b->keys, a->nkeys * 32) == 0 && a->nedits == b->nedits &&
           (a->nedits == 0 || memcmp(a->edits, b->edits, a->nedits * 8) == 0);
}

/* Reads the whole visible file in chunks; NULL if any read fails. */
static uint8_t *read_all(struct c4gh_reader *r, size_t chunk, size_t *len)
{
    struct kura_err err;
    uint64_t size = c4gh_reader_size(r);
    if (size > 64u << 20)
        return NULL;
    uint8_t *buf = malloc((size_t)size + 1);
    size_t done = 0;
    CHECK(buf);
    while (done < size) {
        ssize_t got = c4gh_reader_pread(r, buf + done, chunk, done, &err);
        if (got < 0) {
            CHECK(err.code == EIO || err.code == ENOMEM);
            free(buf);
            return NULL;
        }
        CHECK(got > 0 && (size_t)got <= chunk);
        done += (size_t)got;
    }
    *len = done;
    return buf;
}

/* The payload of a file read by the reader, by decrypt_stream and by
 * verify_payload: all succeed or all fail, with the same bytes. */
static void check_payload(const struct c4gh_header *h, const uint8_t *payload, size_t plen, const uint8_t *want,
                          size_t want_len)
{
    struct kura_err err;
    struct c4gh_reader *r = NULL;
    int fd = mem_fd(payload, plen);
    uint64_t raw = 0, nsegs = 0, raw_plain = 0;
    uint8_t *nonces = NULL;
    int verified = c4gh_verify_payload(h, fd, 0, &raw, &nonces, &nsegs, &err);
    if (c4gh_reader_open(&r, fd, 0, plen, h, &err) != 0) {
        CHECK(verified != 0 && c4gh_payload_plain_size(plen, &raw_plain, &err) != 0);
        free(nonces);
        close(fd);
        return;
    }
    CHECK(c4gh_payload_plain_size(plen, &raw_plain, &err) == 0);
    CHECK(c4gh_reader_size(r) == c4gh_visible_size(h, raw_plain));
    size_t a_len = 0, b_len = 0, s_len = 0;
    uint8_t *a = read_all(r, 65536, &a_len);
    /* All segments authentic: every read works. (The reader may also work
     * when only segments the edit list skips are bad.) */
    CHECK(verified != 0 || a != NULL);
    CHECK(!want || verified == 0);
    if (verified == 0) {
        CHECK(raw == raw_plain);
        CHECK(c4gh_reader_set_segment_map(r, nonces, nsegs, &err) == 0);
        uint8_t *b = read_all(r, 4099, &b_len);
        CHECK(a && b && a_len == b_len && memcmp(a, b, a_len) == 0);
        free(b);
        b = read_all(r, a_len + 1, &b_len); /* one read: more than one pread batch */
        CHECK(b && a_len == b_len && memcmp(a, b, a_len) == 0);
        free(b);
        if (nsegs >= 2) {
            /* A map in another order (random nonces differ): no segment passes. */
            struct c4gh_reader *moved = NULL;
            uint8_t *rotated = malloc(nsegs * 12);
            CHECK(rotated && c4gh_reader_open(&moved, fd, 0, plen, h, &err) == 0);
            memcpy(rotated, nonces + 12, (nsegs - 1) * 12);
            memcpy(rotated + (nsegs - 1) * 12, nonces, 12);
            bool all_differ = true; /* a fuzzed payload may repeat a segment */
            for (uint64_t i = 0; i < nsegs; i++)
                all_differ = all_differ && memcmp(rotated + i * 12, nonces + i * 12, 12) != 0;
            CHECK(c4gh_reader_set_segment_map(moved, rotated, nsegs, &err) == 0);
            b = read_all(moved, 65536, &b_len);
            CHECK(!all_differ || (a_len == 0 ? b != NULL : b == NULL));
            free(b);
            CHECK(c4gh_reader_set_segment_map(moved, rotated, nsegs - 1, &err) != 0 && err.code == EIO);
            CHECK(a_len == 0 || c4gh_reader_pread(moved, rotated, 1, 0, &err) == -1);
            c4gh_reader_close(moved);
            free(rotated);
        }
        int out = mem_fd(NULL, 0);
        CHECK(c4gh_decrypt_stream(h, fd, out, &err) == 0);
        uint8_t *s = fd_bytes(out, &s_len);
        CHECK(s_len == a_len && memcmp(s, a, a_len) == 0);
        free(s);
        close(out);
        if (want)
            CHECK(a_len == want_len && memcmp(a, want, want_len) == 0);
    }
    free(a);
    free(nonces);
    c4gh_reader_close(r);
    close(fd);
}

static void fuzz_file(const uint8_t *data, size_t size)
{
    struct kura_err err;
    size_t hlen = 0, rlen = 0;
    int checked = c4gh_header_check(data, size, &hlen, &err);
    /* The file reader agrees with the in-memory check. */
    int fd = mem_fd(data, size);
    uint8_t *raw = NULL;
    int read_rc = c4gh_header_read(fd, &raw, &rlen, &err);
    CHECK(read_rc == checked);
    if (checked != 0) {
        close(fd);
        return;
    }
    CHECK(rlen == hlen && memcmp(raw, data, hlen) == 0);
    free(raw);
    /* Split and join give the file back (when the payload length is possible). */
    int hfd = mem_fd(NULL, 0), pfd = mem_fd(NULL, 0), out = mem_fd(NULL, 0);
    if (c4gh_split(fd, hfd, pfd, &err) == 0) {
        CHECK(lseek(hfd, 0, SEEK_SET) == 0 && lseek(pfd, 0, SEEK_SET) == 0);
        CHECK(c4gh_join(hfd, pfd, out, &err) == 0);
        size_t jlen = 0;
        uint8_t *joined = fd_bytes(out, &jlen);
        CHECK(jlen == size && memcmp(joined, data, size) == 0);
        free(joined);
    }
    close(hfd);
    close(pfd);
    close(out);
    close(fd);

    struct c4gh_header *h = NULL, *strict = NULL;
    if (c4gh_header_open(data, hlen, sk, NULL, &h, &err) != 0) {
        CHECK(h == NULL && err.msg[0] != '\0');
        CHECK(c4gh_header_open_strict(data, hlen, sk, NULL, &strict, &err) != 0);
        return;
    }
    if (c4gh_header_open_strict(data, hlen, sk, NULL, &strict, &err) == 0) {
        CHECK(same_header(h, strict));
        c4gh_header_free(strict);
    }
    uint8_t *re = NULL;
    size_t re_len = 0;
    struct c4gh_header *h2 = NULL;
    CHECK(c4gh_header_reencrypt(data, hlen, sk, pk2, 1, &re, &re_len, &err) == 0);
    CHECK(c4gh_header_open_strict(re, re_len, sk2, NULL, &h2, &err) == 0 && same_header(h, h2));
    CHECK(c4gh_header_open(re, re_len, sk, NULL, &strict, &err) != 0);
    c4gh_header_free(h2);
    free(re);
    check_payload(h, data + hlen, size - hlen, NULL, 0);
    c4gh_header_free(h);
}

/* The edit list rules written out plainly (see c4gh.h). */
static size_t model_edits(const uint8_t *plain, size_t len, const uint64_t *edits, size_t n, uint8_t *out)
{
    size_t pos = 0, o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t take = edits[i] < len - pos ? (size_t)edits[i] : len - pos;
        if (i % 2 == 1) {
            memcpy(out + o, plain + pos, take);
            o += take;
        }
        pos += take;
    }
    if (n % 2 == 1 || n == 0) {
        memcpy(out + o, plain + pos, len - pos);
        o += len - pos;
    }
    return o;
}

static size_t seal(uint8_t *out, const uint8_t *plain, size_t plen)
{
    uint8_t rx[32], tx[32];
    size_t len = 4 + 4 + 32 + 12 + plen + 16;
    CHECK(crypto_kx_server_session_keys(rx, tx, pk2, sk2, pk) == 0);
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(len >> (8 * i));
    memset(out + 4, 0, 4);
    memcpy(out + 8, pk2, 32);
    randombytes_buf(out + 40, 12);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + 52, NULL, plain, plen, NULL, 0, NULL, out + 40, tx);
    return len;
}

static void fuzz_packets(const uint8_t *data, size_t size)
{
    struct kura_err err;
    size_t plain_len = (size_t)(data[0] >> 1) * FUZZ_C4GH_SIZE_UNIT, pos = 1, n = 0, hlen = 16;
    uint8_t *raw = malloc(16 + FUZZ_C4GH_MAX_PACKETS * 68 + size);
    CHECK(raw);
    memcpy(raw, "crypt4gh\x01\x00\x00\x00", 12);
    while (pos + 2 <= size && n < FUZZ_C4GH_MAX_PACKETS) {
        size_t len = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        hlen += seal(raw + hlen, data + pos, len);
        pos += len;
        n++;
    }
    raw[12] = (uint8_t)n, raw[13] = raw[14] = raw[15] = 0;
    struct c4gh_header *h = NULL;
    if (c4gh_header_open(raw, hlen, sk, NULL, &h, &err) != 0) {
        CHECK(h == NULL);
        free(raw);
        return;
    }
    CHECK(h->nkeys >= 1 && h->nkeys <= C4GH_MAX_DATA_KEYS && h->nedits <= C4GH_MAX_EDITS);
    uint8_t *plain = malloc(plain_len + 1), *want = malloc(plain_len + 1), *payload = NULL;
    CHECK(plain && want);
    for (size_t i = 0; i < plain_len; i++)
        plain[i] = (uint8_t)(i * 31 + i / 65536);
    size_t want_len = model_edits(plain, plain_len, h->edits, h->nedits, want);
    CHECK(c4gh_visible_size(h, plain_len) == want_len);
    int in = mem_fd(plain, plain_len), pfd = mem_fd(NULL, 0);
    CHECK(c4gh_encrypt_stream(h, in, pfd, NULL, NULL, NULL, &err) == 0);
    size_t plen = 0;
    payload = fd_bytes(pfd, &plen);
    check_payload(h, payload, plen, want, want_len);
    /* Reads at offsets and lengths taken from the input. */
    struct c4gh_reader *r = NULL;
    CHECK(c4gh_reader_open(&r, pfd, 0, plen, h, &err) == 0);
    uint8_t *buf = malloc(3 * 65536);
    CHECK(buf);
    for (size_t i = 1; i + 4 <= size && i < 64; i += 4) {
        uint64_t off = ((uint64_t)data[i] << 16 | (uint64_t)data[i + 1] << 8 | data[i + 2]) % (want_len + 2);
        size_t len = (size_t)data[i + 3] * 769;
        size_t exp = off >= want_len ? 0 : (len < want_len - off ? len : (size_t)(want_len - off));
        ssize_t got = c4gh_reader_pread(r, buf, len, off, &err);
        CHECK(got == (ssize_t)exp && (exp == 0 || memcmp(buf, want + off, exp) == 0));
    }
    c4gh_reader_close(r);
    free(buf);
    close(in);
    close(pfd);
    free(payload);
    free(plain);
    free(want);
    free(raw);
    c4gh_header_free(h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        CHECK(kura_secmem_init() == 0);
        fuzz_c4gh_secret(0, sk);
        fuzz_c4gh_secret(1, sk2);
        c4gh_public_from_secret(sk, pk);
        c4gh_public_from_secret(sk2, pk2);
        ready = true;
    }
    if (size < 1)
        return 0;
    if ((data[0] & 1) == FUZZ_C4GH_MODE_FILE)
        fuzz_file(data + 1, size - 1);
    else
        fuzz_packets(data, size);
    return 0;
}
