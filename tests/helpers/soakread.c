/* Timed concurrent reader for the soak test: every open and read is recorded
 * with its start and end time (CLOCK_REALTIME) and outcome, and judged at the
 * end against a timeline of access changes the test wrote meanwhile.
 *
 *   soakread THREADS SECONDS MAXLEN EVENTS MOUNT DSET/PATH PLAIN [DSET/PATH PLAIN ...]
 *
 * Each thread opens a random file (MOUNT/DSET/PATH), reads random ranges for
 * a second or two ($SOAKREAD_HOLD_MS to twice that; default 1000), compares
 * them with PLAIN, closes, and goes on; after an error it closes and backs
 * off 50 ms. After SECONDS it waits (up to 120 s)
 * for a line "end" in EVENTS, whose other lines are
 *
 *   allow|deny USER DSET FILE T_START T_RETURN T_END
 *
 * (USER and FILE may be "*"; times are Unix seconds with decimals or "inf"):
 * the access of USER to DSET/FILE changed by a command that started at
 * T_START and returned at T_RETURN (a grant's end: both are its end time),
 * and held until T_END. An operation counts only if it lies wholly inside a
 * window's (T_RETURN, T_END):
 *   - a success inside a deny window is an access after the moment access
 *     ended (after_end);
 *   - an error inside an allow window that touches no deny window's
 *     [T_START, T_END] is an unexpected error;
 *   - a read whose bytes differ is wrong, always;
 *   - a read of fewer bytes than the file has there, all of them right, was
 *     cut short and is judged as an error (through the page cache a read
 *     copies the pages cached before access ended, then the daemon refuses
 *     the next page): it must touch a deny window.
 * Prints one line "opens=N reads=N ok=N wrong=N after_end=N
 * unexpected_errors=N denied=N unjudged=N first=..." and exits 0 only when
 * wrong, after_end and unexpected_errors are 0 and something was read. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CUT_SHORT ENODATA /* a right but short read: see above */

struct target {
    char dset[80], path[256];
    int plain;
    char *mounted;
    uint64_t size;
};

struct op {
    double s, e;
    uint16_t file;
    uint8_t is_read, wrong;
    int err;
};

struct thread_log {
    struct op *v;
    size_t n, cap;
    unsigned seed;
};

struct window {
    int allow;
    char user[64], dset[80], file[256];
    double start, ret, end;
};

static struct target *targets;
static int ntargets;
static size_t maxlen;
static double deadline;
static int hold_ms = 1000;      /* a handle is held hold_ms to 2 hold_ms */
static char me[64];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(struct thread_log *l, double s, double e, int file, int is_read, int err, int wrong)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) {
            fprintf(stderr, "soakread: out of memory\n");
            exit(2);
        }
    }
    l->v[l->n++] = (struct op){s, e, (uint16_t)file, (uint8_t)is_read, (uint8_t)wrong, err};
}

static void backoff(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void *worker(void *arg)
{
    struct thread_log *l = arg;
    char *a = malloc(maxlen), *b = malloc(maxlen);
    if (!a || !b)
        exit(2);
    while (now() < deadline) {
        int f = (int)(rand_r(&l->seed) % (unsigned)ntargets);
        struct target *t = &targets[f];
        double s = now();
        int fd = open(t->mounted, O_RDONLY);
        int e = fd < 0 ? errno : 0;
        record(l, s, now(), f, 0, e, 0);
        if (fd < 0) {
            backoff();
            continue;
        }
        double hold = now() + (hold_ms + (double)(rand_r(&l->seed) % (unsigned)(hold_ms + 1))) / 1000.0;
        while (now() < hold && now() < deadline) {
            uint64_t off = t->size ? ((uint64_t)rand_r(&l->seed) << 16 ^ (uint64_t)rand_r(&l->seed)) % t->size : 0;
            size_t len = 1 + (size_t)rand_r(&l->seed) % maxlen;
            s = now();
            ssize_t x = pread(fd, a, len, (off_t)off);
            e = x < 0 ? errno : 0;
            double end = now();
            int wrong = 0;
            if (x >= 0) {
                ssize_t y = pread(t->plain, b, len, (off_t)off);
                wrong = x > y || memcmp(a, b, (size_t)x) != 0;
                if (!wrong && x < y)
                    e = CUT_SHORT;
            }
            record(l, s, end, f, 1, e, wrong);
            if (e)
                break;
        }
        close(fd);
        if (e)
            backoff();
    }
    free(a);
    free(b);
    return NULL;
}

static double parse_time(const char *s)
{
    return strcmp(s, "inf") == 0 ? INFINITY : strtod(s, NULL);
}

/* Reads the windows once EVENTS holds "end"; returns their count or -1. */
static int load_windows(const char *path, struct window **out)
{
    double give_up = now() + 120;
    for (;;) {
        FILE *f = fopen(path, "r");
        char line[1024];
        size_t n = 0, cap = 0;
        struct window *w = NULL;
        int ended = 0;
        while (f && fgets(line, sizeof line, f)) {
            if (strncmp(line, "end", 3) == 0) {
                ended = 1;
                break;
            }
            char kind[8], t1[32], t2[32], t3[32];
            struct window x;
            memset(&x, 0, sizeof x);
            if (sscanf(line, "%7s %63s %79s %255s %31s %31s %31s", kind, x.user, x.dset, x.file, t1, t2, t3) != 7)
                continue;
            x.allow = strcmp(kind, "allow") == 0;
            x.start = parse_time(t1);
            x.ret = parse_time(t2);
            x.end = parse_time(t3);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                w = realloc(w, cap * sizeof *w);
                if (!w)
                    exit(2);
            }
            w[n++] = x;
        }
        if (f)
            fclose(f);
        if (ended) {
            *out = w;
            return (int)n;
        }
        free(w);
        if (now() > give_up)
            return -1;
        sleep(1);
    }
}

static int matches(const struct window *w, const struct target *t)
{
    return (strcmp(w->user, "*") == 0 || strcmp(w->user, me) == 0) && strcmp(w->dset, t->dset) == 0 &&
           (strcmp(w->file, "*") == 0 || strcmp(w->file, t->path) == 0);
}

int main(int argc, char **argv)
{
    if (argc < 8 || (argc - 6) % 2 != 0) {
        fprintf(stderr, "usage: soakread THREADS SECONDS MAXLEN EVENTS MOUNT DSET/PATH PLAIN [DSET/PATH PLAIN ...]\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    const char *hold = getenv("SOAKREAD_HOLD_MS");
    if (hold && atoi(hold) >= 0)
        hold_ms = atoi(hold);
    deadline = now() + atof(argv[2]);
    maxlen = (size_t)strtoull(argv[3], NULL, 10);
    const char *events = argv[4], *mount = argv[5];
    ntargets = (argc - 6) / 2;
    targets = calloc((size_t)ntargets, sizeof *targets);
    struct passwd *pw = getpwuid(getuid());
    if (threads < 1 || threads > 256 || maxlen == 0 || !targets || !pw)
        return 2;
    snprintf(me, sizeof me, "%s", pw->pw_name);
    for (int i = 0; i < ntargets; i++) {
        struct target *t = &targets[i];
        const char *rel = argv[6 + 2 * i], *slash = strchr(rel, '/');
        struct stat st;
        if (!slash || (size_t)(slash - rel) >= sizeof t->dset || strlen(slash + 1) >= sizeof t->path)
            return 2;
        memcpy(t->dset, rel, (size_t)(slash - rel));
        snprintf(t->path, sizeof t->path, "%s", slash + 1);
        if (asprintf(&t->mounted, "%s/%s", mount, rel) < 0)
            return 2;
        t->plain = open(argv[7 + 2 * i], O_RDONLY);
        if (t->plain < 0 || fstat(t->plain, &st) != 0) {
            fprintf(stderr, "soakread: cannot open %s: %s\n", argv[7 + 2 * i], strerror(errno));
            return 1;
        }
        t->size = (uint64_t)st.st_size;
    }
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    struct thread_log *logs = calloc((size_t)threads, sizeof *logs);
    if (!tid || !logs)
        return 2;
    for (int i = 0; i < threads; i++) {
        logs[i].seed = (unsigned)(i + 1) * 2654435761u ^ (unsigned)getpid();
        pthread_create(&tid[i], NULL, worker, &logs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(tid[i], NULL);

    struct window *w = NULL;
    int nw = load_windows(events, &w);
    if (nw < 0) {
        fprintf(stderr, "soakread: %s never said \"end\"\n", events);
        return 1;
    }
    unsigned long long opens = 0, reads = 0, ok = 0, wrong = 0, after_end = 0, unexpected = 0, denied = 0,
                       unjudged = 0;
    char first[512] = "";
    for (int i = 0; i < threads; i++) {
        for (size_t k = 0; k < logs[i].n; k++) {
            const struct op *o = &logs[i].v[k];
            const struct target *t = &targets[o->file];
            *(o->is_read ? &reads : &opens) += 1;
            if (!o->err)
                ok++;
            if (o->wrong) {
                wrong++;
                if (!first[0])
                    snprintf(first, sizeof first, "wrong bytes in %s/%s at %.6f", t->dset, t->path, o->s);
                continue;
            }
            int in_deny = 0, in_allow = 0, touches_deny = 0;
            for (int j = 0; j < nw; j++) {
                if (!matches(&w[j], t))
                    continue;
                int inside = o->s > w[j].ret && o->e < w[j].end;
                if (w[j].allow)
                    in_allow |= inside;
                else {
                    in_deny |= inside;
                    touches_deny |= !(o->e < w[j].start || o->s > w[j].end);
                }
            }
            if (in_deny && !o->err) {
                after_end++;
                if (!first[0])
                    snprintf(first, sizeof first, "%s of %s/%s by %s allowed at %.6f-%.6f, after access ended",
                             o->is_read ? "read" : "open", t->dset, t->path, me, o->s, o->e);
            } else if (in_deny) {
                denied++;
            } else if (o->err && in_allow && !touches_deny) {
                unexpected++;
                if (!first[0])
                    snprintf(first, sizeof first, "%s of %s/%s by %s failed at %.6f: %s", o->is_read ? "read" : "open",
                             t->dset, t->path, me, o->s, strerror(o->err));
            } else if (!in_allow || touches_deny) {
                unjudged++;
            }
        }
        free(logs[i].v);
    }
    printf("user=%s opens=%llu reads=%llu ok=%llu wrong=%llu after_end=%llu unexpected_errors=%llu denied=%llu "
           "unjudged=%llu first=%s\n",
           me, opens, reads, ok, wrong, after_end, unexpected, denied, unjudged, first[0] ? first : "none");
    free(w);
    free(tid);
    free(logs);
    return wrong == 0 && after_end == 0 && unexpected == 0 && reads > 0 ? 0 : 1;
}
