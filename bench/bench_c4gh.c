/* Decrypt throughput of the Crypt4GH engine against bare libsodium.
 *   bench_c4gh [--mib N] [--rounds N] [--dir DIR]
 * Encrypts N MiB (default 256) of random data into a payload file on DIR
 * (default /dev/shm, so the disk is not what is measured), then each round
 * reads it back three ways: c4gh_reader_pread in sequential 1 MiB reads;
 * pread of the same 1 MiB cipher ranges + crypto_aead_chacha20poly1305_ietf_
 * decrypt per segment; and the same decryption straight from memory (mmap).
 * Prints the median MB/s (10^6 bytes of plaintext per second) of each, by
 * wall clock and by the thread's CPU time (user + system: steadier on a
 * shared machine, where other processes take turns on the cores), and the
 * engine's ratios to both baselines by CPU time (target: >= 0.90 of
 * libsodium+pread). The engine opens segments with OpenSSL's
 * ChaCha20-Poly1305 when it has one (see c4gh_payload.c), so it may beat
 * the libsodium baselines by a wide margin. Rounds rotate the order of the
 * three runs. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kura/c4gh.h"
#include "kura/secmem.h"

#define READ_SIZE (1u << 20)
#define SEGS_PER_READ (READ_SIZE / C4GH_SEGMENT_SIZE)
#define MAX_ROUNDS 50

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_c4gh: %s: %s\n", what, why);
    exit(1);
}

struct span {
    double wall, cpu;
};

static struct span now(void)
{
    struct timespec w, c;
    clock_gettime(CLOCK_MONOTONIC, &w);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c);
    return (struct span){(double)w.tv_sec + (double)w.tv_nsec / 1e9, (double)c.tv_sec + (double)c.tv_nsec / 1e9};
}

static struct span since(struct span t0)
{
    struct span t = now();
    return (struct span){t.wall - t0.wall, t.cpu - t0.cpu};
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Engine: sequential 1 MiB reads through the random-access reader. */
static struct span run_engine(int fd, uint64_t payload_len, const struct c4gh_header *h, uint8_t *out, uint64_t plain,
                         const uint8_t *check)
{
    struct kura_err err;
    struct c4gh_reader *r;
    struct span t0 = now();
    if (c4gh_reader_open(&r, fd, 0, payload_len, h, &err) != 0)
        die("reader open", err.msg);
    for (uint64_t off = 0; off < plain; off += READ_SIZE) {
        ssize_t got = c4gh_reader_pread(r, out, READ_SIZE, off, &err);
        if (got <= 0)
            die("reader pread", got < 0 ? err.msg : "short read");
        if (check && memcmp(out, check + off, (size_t)got) != 0)
            die("reader pread", "wrong bytes");
    }
    c4gh_reader_close(r);
    return since(t0);
}

/* Decrypts the cipher segments in [c, c+clen) into out. */
static void decrypt_segments(const uint8_t *c, size_t clen, const uint8_t *key, uint8_t *out)
{
    while (clen > 0) {
        size_t n = clen < C4GH_CIPHER_SEGMENT_SIZE ? clen : C4GH_CIPHER_SEGMENT_SIZE;
        unsigned long long mlen;
        if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, c + C4GH_NONCE_SIZE, n - C4GH_NONCE_SIZE,
                                                      NULL, 0, c, key) != 0)
            die("libsodium", "segment fails authentication");
        out += mlen;
        c += n;
        clen -= n;
    }
}

/* Baseline 1: pread of the same cipher range per 1 MiB of plaintext, then libsodium. */
static struct span run_pread(int fd, uint64_t payload_len, const uint8_t *key, uint8_t *cbuf, uint8_t *out)
{
    const uint64_t step = (uint64_t)SEGS_PER_READ * C4GH_CIPHER_SEGMENT_SIZE;
    struct span t0 = now();
    for (uint64_t off = 0; off < payload_len; off += step) {
        size_t n = payload_len - off < step ? (size_t)(payload_len - off) : (size_t)step;
        if (pread(fd, cbuf, n, (off_t)off) != (ssize_t)n)
            die("pread", strerror(errno));
        decrypt_segments(cbuf, n, key, out);
    }
    return since(t0);
}

/* Baseline 2: libsodium over the mapped payload, no I/O calls at all. */
static struct span run_memory(const uint8_t *map, uint64_t payload_len, const uint8_t *key, uint8_t *out)
{
    const uint64_t step = (uint64_t)SEGS_PER_READ * C4GH_CIPHER_SEGMENT_SIZE;
    struct span t0 = now();
    for (uint64_t off = 0; off < payload_len; off += step) {
        size_t n = payload_len - off < step ? (size_t)(payload_len - off) : (size_t)step;
        decrypt_segments(map + off, n, key, out);
    }
    return since(t0);
}

int main(int argc, char **argv)
{
    unsigned long mib = 256, rounds = 5;
    const char *dir = "/dev/shm";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else
            die("usage", "bench_c4gh [--mib N] [--rounds N] [--dir DIR]");
    }
    if (mib == 0 || mib > 65536 || rounds == 0 || rounds > MAX_ROUNDS)
        die("usage", "--mib 1..65536, --rounds 1..50");
    if (kura_secmem_init() != 0)
        die("libsodium", "cannot initialise");
    struct kura_err err;
    uint64_t plain = (uint64_t)mib << 20, plain_out = 0;
    uint8_t *data = malloc(plain), *out = malloc(READ_SIZE);
    uint8_t *cbuf = malloc((size_t)SEGS_PER_READ * C4GH_CIPHER_SEGMENT_SIZE);
    if (!data || !out || !cbuf)
        die("malloc", strerror(ENOMEM));
    randombytes_buf(data, plain);

    /* Plaintext in a memfd, payload in an unlinked file under dir. */
    char path[4096];
    snprintf(path, sizeof path, "%s/kura-bench-c4gh.XXXXXX", dir);
    int in = memfd_create("bench-plain", MFD_CLOEXEC), fd = mkstemp(path);
    if (in < 0 || fd < 0)
        die(path, strerror(errno));
    unlink(path);
    for (uint64_t off = 0; off < plain;) {
        ssize_t n = pwrite(in, data + off, plain - off, (off_t)off);
        if (n <= 0)
            die("memfd", strerror(errno));
        off += (uint64_t)n;
    }
    struct c4gh_header *h;
    if (c4gh_header_new(&h, NULL, 0, &err) != 0 || c4gh_encrypt_stream(h, in, fd, &plain_out, NULL, NULL, &err) != 0)
        die("encrypt", err.msg);
    close(in);
    uint64_t payload_len = (uint64_t)lseek(fd, 0, SEEK_END);
    uint8_t *map = mmap(NULL, payload_len, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        die("mmap", strerror(errno));

    /* One checked pass (also warms the page tables), then the timed rounds. */
    run_engine(fd, payload_len, h, out, plain, data);
    double wall[3][MAX_ROUNDS], cpu[3][MAX_ROUNDS];
    for (unsigned long r = 0; r < rounds; r++) {
        for (int k = 0; k < 3; k++) {
            int which = (int)((r + (unsigned long)k) % 3);
            struct span t = which == 0   ? run_engine(fd, payload_len, h, out, plain, NULL)
                            : which == 1 ? run_pread(fd, payload_len, h->keys, cbuf, out)
                                         : run_memory(map, payload_len, h->keys, out);
            wall[which][r] = t.wall;
            cpu[which][r] = t.cpu;
        }
    }
    static const char *names[3] = {"engine (c4gh_reader_pread)", "libsodium + pread of the same segments",
                                   "libsodium from memory (mmap)"};
    double mb = (double)plain / 1e6, by_cpu[3];
    printf("c4gh decrypt: %lu MiB payload in %s, sequential 1 MiB reads, median of %lu rounds\n", mib, dir, rounds);
    printf("  %-44s %12s %12s\n", "", "wall MB/s", "CPU MB/s");
    for (int k = 0; k < 3; k++) {
        by_cpu[k] = mb / median(cpu[k], (int)rounds);
        printf("  %-44s %12.1f %12.1f\n", names[k], mb / median(wall[k], (int)rounds), by_cpu[k]);
    }
    double ratio = by_cpu[0] / by_cpu[1];
    printf("  %-44s %12.3f %s\n", "ratio engine / libsodium+pread (CPU)", ratio,
           ratio >= 0.9 ? "(target >= 0.90: met)" : "(target >= 0.90: NOT MET)");
    printf("  %-44s %12.3f\n", "ratio engine / libsodium from memory (CPU)", by_cpu[0] / by_cpu[2]);
    munmap(map, payload_len);
    close(fd);
    c4gh_header_free(h);
    free(data);
    free(out);
    free(cbuf);
    return 0;
}
