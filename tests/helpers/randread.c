/* Concurrent random-range reader for integration tests and the soak:
 *   randread THREADS SECONDS MAXLEN MOUNTED_FILE PLAIN_FILE [MOUNTED PLAIN ...]
 * Each thread reads random ranges of random file pairs through the mount
 * and compares them with the plaintext. Prints "reads=N bytes=N wrong=N
 * errors=N first_error=..." and exits 0 only if nothing was wrong. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pair {
    int mounted, plain;
    uint64_t size;
};

static struct pair *pairs;
static int npairs;
static size_t maxlen;
static double deadline;
static atomic_ullong reads, bytes, wrong, errors;
static char first_error[256];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note_error(const char *what)
{
    pthread_mutex_lock(&err_lock);
    if (!first_error[0])
        snprintf(first_error, sizeof first_error, "%s", what);
    pthread_mutex_unlock(&err_lock);
}

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    char *a = malloc(maxlen), *b = malloc(maxlen);
    while (a && b && now() < deadline) {
        struct pair *p = &pairs[rand_r(&seed) % (unsigned)npairs];
        uint64_t off = p->size ? ((uint64_t)rand_r(&seed) << 16 ^ (uint64_t)rand_r(&seed)) % (p->size + 1) : 0;
        size_t len = 1 + (size_t)rand_r(&seed) % maxlen;
        ssize_t x = pread(p->mounted, a, len, (off_t)off);
        ssize_t y = pread(p->plain, b, len, (off_t)off);
        atomic_fetch_add(&reads, 1);
        if (x < 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "pread at %llu: %s", (unsigned long long)off, strerror(errno));
            note_error(msg);
            atomic_fetch_add(&errors, 1);
            continue;
        }
        if (x != y || memcmp(a, b, (size_t)x) != 0) {
            char msg[128];
            snprintf(msg, sizeof msg, "wrong bytes at %llu len %zu (got %zd, want %zd)", (unsigned long long)off,
                     len, x, y);
            note_error(msg);
            atomic_fetch_add(&wrong, 1);
        }
        atomic_fetch_add(&bytes, (unsigned long long)x);
    }
    free(a);
    free(b);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (argc - 4) % 2 != 0) {
        fprintf(stderr, "usage: randread THREADS SECONDS MAXLEN MOUNTED PLAIN [MOUNTED PLAIN ...]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    deadline = now() + atof(argv[2]);
    maxlen = (size_t)strtoull(argv[3], NULL, 10);
    npairs = (argc - 4) / 2;
    pairs = calloc((size_t)npairs, sizeof *pairs);
    if (threads < 1 || threads > 256 || maxlen == 0 || !pairs)
        return 2;
    for (int i = 0; i < npairs; i++) {
        struct stat st;
        pairs[i].mounted = open(argv[4 + 2 * i], O_RDONLY);
        pairs[i].plain = open(argv[5 + 2 * i], O_RDONLY);
        if (pairs[i].mounted < 0 || pairs[i].plain < 0 || fstat(pairs[i].plain, &st) != 0) {
            fprintf(stderr, "randread: cannot open %s or %s: %s\n", argv[4 + 2 * i], argv[5 + 2 * i],
                    strerror(errno));
            return 1;
        }
        pairs[i].size = (uint64_t)st.st_size;
    }
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("reads=%llu bytes=%llu wrong=%llu errors=%llu first_error=%s\n", (unsigned long long)reads,
           (unsigned long long)bytes, (unsigned long long)wrong, (unsigned long long)errors,
           first_error[0] ? first_error : "none");
    free(t);
    return wrong == 0 && errors == 0 && reads > 0 ? 0 : 1;
}
