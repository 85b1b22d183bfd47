/* File-reading workloads for scripts/bench.sh, the same on kura, gocryptfs
 * and plain ext4 (its name is on no guard list, unlike dd or fio's
 * helpers, so kura serves it like any reader):
 *   bench_io seq FILE [--bs BYTES]
 *       reads FILE start to end with read(2) of BYTES (default 1 MiB)
 *   bench_io rand FILE [--bs BYTES] [--threads N] [--seconds S]
 *       N threads (own open each, as fio jobs) pread the file's BYTES-sized
 *       blocks in one shared random order, each block once (as fio's random
 *       map: a filesystem with a page cache gets no repeat hits), until all
 *       were read or S seconds passed
 *   bench_io opens FILE|DIR [--threads N] [--seconds S]
 *       N threads open and close FILE in a loop; given a directory, its
 *       files in turn (thread I starting at the I/N-th), so that a file
 *       comes round again only after all the others
 *   bench_io readers DIR [--bs BYTES] [--threads N]
 *       N threads each read their own file DIR/reader<I>.bin (I = 0..N-1)
 *       start to end with read(2) of BYTES; the aggregate rate
 *   bench_io syncs FILE [--seconds S]
 *       appends a 200-byte record to FILE and fdatasyncs it, in a loop: the
 *       serial durable-append rate of FILE's disk, an audit record's cost
 *   bench_io syncs-in-place FILE [--seconds S]
 *       the same, but FILE is first filled with 32 MiB of zeros, made
 *       durable (not timed), and the records overwrite them in turn: no
 *       fdatasync has a changed file size to write
 *   bench_io handles FILE [--count N]
 *       opens FILE N times (raising its descriptor limit), prints "ready N",
 *       holds them until stdin closes, then closes them
 *   bench_io hold FILE [--every US]
 *       opens FILE, reads it until the first success, prints "ready", then
 *       reads 4 KiB in a loop (pausing US microseconds after each read; 0,
 *       the default: none) and prints the CLOCK_REALTIME of the first
 *       refused read: "refused NS errno=E" (revocation latency)
 *   bench_io mountwait DIR [--seconds S]
 *       waits until DIR is another filesystem than its parent and answers
 *       stat(2) (a FUSE daemon serving it), prints "ns=NS" (CLOCK_REALTIME)
 *   bench_io wakeups [--every US] [--seconds S]
 *       sleeps to the next tick of every US microseconds (default 1000), in
 *       a loop, until S seconds passed or SIGTERM, and measures how late each
 *       wake-up ran: a sleeping process's wait for a CPU, which every step of
 *       a revocation outside the busy readers pays; prints "late MS at NS"
 *       (CLOCK_REALTIME of the wake-up) for each over 50 ms, then the summary
 *   bench_io stamp CMD [ARG...]
 *       runs CMD (its stdout to /dev/null) and prints "start NS end NS
 *       status S" (CLOCK_REALTIME just before fork and after it was reaped)
 * Results are one line of key=value pairs on stdout. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_io: %s: %s\n", what, why);
    exit(1);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct opts {
    const char *file;
    size_t bs;
    int threads;
    double seconds;
    int count;                  /* handles */
    long every_us;              /* hold: the pause between reads (0: none); wakeups: the tick */
};

static struct opts opt = {NULL, 1u << 20, 1, 5.0, 1000, 0};
static double deadline;
static atomic_ullong ops, bytes, errors;
static atomic_int first_errno;

static void note_error(int e)
{
    atomic_fetch_add(&errors, 1);
    int zero = 0;
    atomic_compare_exchange_strong(&first_errno, &zero, e);
}

/* Page-aligned, as cat's and fio's buffers: an unaligned one makes the
 * kernel split a FUSE direct-I/O read at the max_pages boundary. */
static char *io_buffer(void)
{
    char *b = aligned_alloc(4096, (opt.bs + 4095) / 4096 * 4096);
    if (!b)
        die("aligned_alloc", strerror(ENOMEM));
    return b;
}

static int open_file(void)
{
    int fd = open(opt.file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(opt.file, strerror(errno));
    return fd;
}

/* Reads fd to its end with read(2) of opt.bs; returns the bytes read. */
static unsigned long long read_all(int fd, char *buf)
{
    unsigned long long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, opt.bs);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read", strerror(errno));
        if (n == 0)
            return total;
        total += (unsigned long long)n;
    }
}

static int run_seq(void)
{
    int fd = open_file();
    char *buf = io_buffer();
    double t0 = mono();
    unsigned long long total = read_all(fd, buf);
    double dt = mono() - t0;
    close(fd);
    free(buf);
    printf("bytes=%llu seconds=%.4f MBps=%.1f\n", total, dt, (double)total / 1e6 / dt);
    return 0;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t *order;        /* block numbers in random order */
static uint64_t nblocks;
static atomic_ullong next_block;

/* The file's blocks in a random order (Fisher-Yates, fixed seed). */
static void shuffle_blocks(void)
{
    int fd = open_file();
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat", strerror(errno));
    close(fd);
    nblocks = (uint64_t)st.st_size / opt.bs;
    if (nblocks == 0)
        die(opt.file, "smaller than one block");
    if (!(order = malloc(nblocks * sizeof *order)))
        die("malloc", strerror(ENOMEM));
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (uint64_t i = 0; i < nblocks; i++)
        order[i] = i;
    for (uint64_t i = nblocks - 1; i > 0; i--) {
        uint64_t j = xorshift(&seed) % (i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void *rand_worker(void *arg)
{
    (void)arg;
    int fd = open_file();
    char *buf = io_buffer();
    while (mono() < deadline) {
        uint64_t k = atomic_fetch_add(&next_block, 1);
        if (k >= nblocks)
            break;
        off_t off = (off_t)(order[k] * opt.bs);
        ssize_t n = pread(fd, buf, opt.bs, off);
        if (n < 0) {
            note_error(errno);
            continue;
        }
        atomic_fetch_add(&ops, 1);
        atomic_fetch_add(&bytes, (unsigned long long)n);
    }
    free(buf);
    close(fd);
    return NULL;
}

static char **open_paths;      /* opens: the files opened in turn */
static size_t nopen_paths;

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* opt.file, or the regular files of the directory opt.file, sorted. */
static void list_open_paths(void)
{
    struct stat st;
    if (stat(opt.file, &st) != 0)
        die(opt.file, strerror(errno));
    DIR *d = S_ISDIR(st.st_mode) ? opendir(opt.file) : NULL;
    if (S_ISDIR(st.st_mode) && !d)
        die(opt.file, strerror(errno));
    size_t cap = 1;
    open_paths = malloc(sizeof *open_paths);
    if (!open_paths)
        die("malloc", strerror(ENOMEM));
    if (!d) {
        open_paths[nopen_paths++] = strdup(opt.file);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat est;
        if (e->d_type != DT_REG &&
            (e->d_type != DT_UNKNOWN || fstatat(dirfd(d), e->d_name, &est, 0) != 0 || !S_ISREG(est.st_mode)))
            continue;
        if (nopen_paths == cap && !(open_paths = realloc(open_paths, (cap *= 2) * sizeof *open_paths)))
            die("realloc", strerror(ENOMEM));
        if (asprintf(&open_paths[nopen_paths++], "%s/%s", opt.file, e->d_name) < 0)
            die("asprintf", strerror(ENOMEM));
    }
    closedir(d);
    if (nopen_paths == 0)
        die(opt.file, "no files to open");
    qsort(open_paths, nopen_paths, sizeof *open_paths, cmp_path);
}

static void *open_worker(void *arg)
{
    size_t next = (size_t)(uintptr_t)arg * nopen_paths / (size_t)opt.threads;
    while (mono() < deadline) {
        const char *path = open_paths[next++ % nopen_paths];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            note_error(errno);
            continue;
        }
        close(fd);
        atomic_fetch_add(&ops, 1);
    }
    return NULL;
}

static void *reader_worker(void *arg)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/reader%d.bin", opt.file, (int)(uintptr_t)arg);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die(path, strerror(errno));
    char *buf = io_buffer();
    atomic_fetch_add(&bytes, read_all(fd, buf));
    free(buf);
    close(fd);
    return NULL;
}

static double run_threads(void *(*fn)(void *))
{
    pthread_t t[MAX_THREADS];
    double t0 = mono();
    deadline = t0 + opt.seconds;
    for (int i = 0; i < opt.threads; i++)
        if (pthread_create(&t[i], NULL, fn, (void *)(uintptr_t)i) != 0)
            die("pthread_create", strerror(errno));
    for (int i = 0; i < opt.threads; i++)
        pthread_join(t[i], NULL);
    return mono() - t0;
}

static int run_rand(void)
{
    shuffle_blocks();
    double dt = run_threads(rand_worker);
    unsigned long long n = atomic_load(&ops);
    printf("ops=%llu seconds=%.3f iops=%.0f MBps=%.1f errors=%llu errno=%d\n", n, dt, (double)n / dt,
           (double)atomic_load(&bytes) / 1e6 / dt, atomic_load(&errors), atomic_load(&first_errno));
    return atomic_load(&errors) ? 1 : 0;
}

static int run_opens(void)
{
    list_open_paths();
    double dt = run_threads(open_worker);
    unsigned long long n = atomic_load(&ops);
    printf("opens=%llu seconds=%.3f per_second=%.0f errors=%llu errno=%d\n", n, dt, (double)n / dt,
           atomic_load(&errors), atomic_load(&first_errno));
    return atomic_load(&errors) ? 1 : 0;
}

static int run_readers(void)
{
    double dt = run_threads(reader_worker);
    printf("bytes=%llu seconds=%.4f MBps=%.1f\n", atomic_load(&bytes), dt, (double)atomic_load(&bytes) / 1e6 / dt);
    return 0;
}

#define IN_PLACE_BYTES (32u << 20)

static int run_syncs(bool in_place)
{
    int fd = open(opt.file, O_WRONLY | O_CREAT | O_CLOEXEC | (in_place ? O_TRUNC : O_APPEND), 0600);
    if (fd < 0)
        die(opt.file, strerror(errno));
    if (in_place) {
        static const char zeros[1 << 16];
        for (size_t done = 0; done < IN_PLACE_BYTES; done += sizeof zeros)
            if (write(fd, zeros, sizeof zeros) != (ssize_t)sizeof zeros)
                die(opt.file, strerror(errno));
        if (fsync(fd) != 0)
            die(opt.file, strerror(errno));
    }
    char rec[200];
    memset(rec, 'x', sizeof rec);
    rec[sizeof rec - 1] = '\n';
    unsigned long long n = 0;
    off_t at = 0;
    double t0 = mono(), stop = t0 + opt.seconds;
    while (mono() < stop) {
        ssize_t w = in_place ? pwrite(fd, rec, sizeof rec, at) : write(fd, rec, sizeof rec);
        if (w != (ssize_t)sizeof rec || fdatasync(fd) != 0)
            die(opt.file, strerror(errno));
        at = at + (off_t)(2 * sizeof rec) > (off_t)IN_PLACE_BYTES ? 0 : at + (off_t)sizeof rec;
        n++;
    }
    double dt = mono() - t0;
    close(fd);
    printf("syncs=%llu seconds=%.3f per_second=%.0f\n", n, dt, (double)n / dt);
    return 0;
}

static int run_handles(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.count + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    int *fds = malloc((size_t)opt.count * sizeof *fds);
    if (!fds)
        die("malloc", strerror(ENOMEM));
    for (int i = 0; i < opt.count; i++)
        fds[i] = open_file();
    printf("ready %d\n", opt.count);
    fflush(stdout);
    char c;
    while (read(STDIN_FILENO, &c, 1) > 0 || errno == EINTR)
        errno = 0;
    for (int i = 0; i < opt.count; i++)
        close(fds[i]);
    free(fds);
    return 0;
}

static void pause_us(long us)
{
    struct timespec ts = {us / 1000000, us % 1000000 * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Reads until the first refusal; gives up after opt.seconds. */
static int run_hold(void)
{
    double t0 = mono();
    int fd = open_file();
    double t1 = mono();
    char buf[4096];
    if (pread(fd, buf, sizeof buf, 0) < 0)
        die("first read", strerror(errno));
    printf("ready open_ms=%.1f read_ms=%.1f at %lld\n", (t1 - t0) * 1e3, (mono() - t1) * 1e3, realtime_ns());
    fflush(stdout);
    double stop = mono() + opt.seconds;
    unsigned long long reads = 0;
    while (mono() < stop) {
        if (pread(fd, buf, sizeof buf, 0) >= 0) {
            reads++;
            if (opt.every_us > 0)
                pause_us(opt.every_us);
            continue;
        }
        long long t = realtime_ns();
        int e = errno;
        printf("refused %lld errno=%d reads=%llu\n", t, e, reads);
        return 0;
    }
    printf("timeout reads=%llu\n", reads);
    return 1;
}

static volatile sig_atomic_t stop_asked;

static void ask_stop(int sig)
{
    (void)sig;
    stop_asked = 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define WAKEUPS_LATE_MS 50.0

static int run_wakeups(void)
{
    long every = opt.every_us > 0 ? opt.every_us : 1000;
    struct sigaction sa = {.sa_handler = ask_stop}; /* no SA_RESTART: the sleep ends */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    size_t n = 0, cap = 1 << 16;
    double *late = malloc(cap * sizeof *late);
    if (!late)
        die("malloc", strerror(ENOMEM));
    double start = mono(), stop = start + opt.seconds, next = start;
    while (!stop_asked && mono() < stop) {
        next += (double)every / 1e6;
        double now = mono();
        if (next < now) /* ticks missed while late: the next one still ahead */
            next = now + (double)every / 1e6;
        struct timespec at = {(time_t)next, (long)((next - (double)(time_t)next) * 1e9)};
        if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) != 0)
            continue;
        double ms = (mono() - next) * 1e3;
        if (ms >= WAKEUPS_LATE_MS)
            printf("late %.1f at %lld\n", ms, realtime_ns());
        if (n == cap) {
            cap *= 2;
            double *more = realloc(late, cap * sizeof *late);
            if (!more)
                die("realloc", strerror(ENOMEM));
            late = more;
        }
        late[n++] = ms;
    }
    size_t over10 = 0, over50 = 0;
    for (size_t i = 0; i < n; i++) {
        over10 += late[i] >= 10.0;
        over50 += late[i] >= WAKEUPS_LATE_MS;
    }
    qsort(late, n, sizeof *late, cmp_double);
    printf("wakeups=%zu seconds=%.1f late_median_ms=%.3f late_p99_ms=%.3f late_max_ms=%.1f over10ms=%zu over50ms=%zu\n",
           n, mono() - start, n ? late[n / 2] : 0.0, n ? late[n * 99 / 100] : 0.0, n ? late[n - 1] : 0.0, over10,
           over50);
    free(late);
    return 0;
}

static int run_mountwait(void)
{
    char parent[4096];
    struct stat p, m;
    snprintf(parent, sizeof parent, "%s/..", opt.file);
    if (stat(parent, &p) != 0)
        die(parent, strerror(errno));
    double stop = mono() + opt.seconds;
    while (mono() < stop) {
        if (stat(opt.file, &m) == 0 && m.st_dev != p.st_dev) {
            printf("ns=%lld\n", realtime_ns());
            return 0;
        }
        usleep(500);
    }
    printf("timeout\n");
    return 1;
}

static int run_stamp(char **argv)
{
    long long t0 = realtime_ns();
    pid_t pid = fork();
    if (pid < 0)
        die("fork", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
            _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid", strerror(errno));
    long long t1 = realtime_ns();
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("start %lld end %lld status %d\n", t0, t1, rc);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc < 3 && strcmp(argv[1], "wakeups") != 0))
        die("usage", "bench_io seq|rand|opens|readers|syncs|syncs-in-place|handles|hold|mountwait FILE [--bs N] [--threads N] [--seconds S] [--count N] | wakeups [--every US] [--seconds S] | stamp CMD...");
    const char *mode = argv[1];
    if (strcmp(mode, "stamp") == 0)
        return run_stamp(argv + 2);
    bool wakeups = strcmp(mode, "wakeups") == 0; /* the only mode with no FILE */
    if (!wakeups)
        opt.file = argv[2];
    for (int i = wakeups ? 2 : 3; i < argc; i++) {
        if (i + 1 >= argc)
            die("usage", "an option lacks its value");
        if (strcmp(argv[i], "--bs") == 0)
            opt.bs = strtoul(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--threads") == 0)
            opt.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0)
            opt.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--count") == 0)
            opt.count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--every") == 0)
            opt.every_us = atol(argv[++i]);
        else
            die("unknown option", argv[i]);
    }
    if (opt.bs == 0 || opt.bs > (256u << 20) || opt.threads < 1 || opt.threads > MAX_THREADS ||
        !(opt.seconds > 0) || opt.count < 1 || opt.count > 1000000 || opt.every_us < 0 || opt.every_us > 1000000)
        die("usage", "--bs 1..256 MiB, --threads 1..256, --seconds > 0, --count 1..1000000, --every 0..1000000");
    if (strcmp(mode, "seq") == 0)
        return run_seq();
    if (strcmp(mode, "rand") == 0)
        return run_rand();
    if (strcmp(mode, "opens") == 0)
        return run_opens();
    if (strcmp(mode, "readers") == 0)
        return run_readers();
    if (strcmp(mode, "syncs") == 0 || strcmp(mode, "syncs-in-place") == 0)
        return run_syncs(mode[5] != '\0');
    if (strcmp(mode, "handles") == 0)
        return run_handles();
    if (strcmp(mode, "hold") == 0)
        return run_hold();
    if (strcmp(mode, "mountwait") == 0)
        return run_mountwait();
    if (wakeups)
        return run_wakeups();
    die("unknown mode", mode);
    return 2;
}
