/* The audit log (R-LOG-1, R-LOG-2, R-LOG-5, R-LOG-8): records, group
 * commit across threads and processes, tamper detection, rotation,
 * retention, fail closed, hostile strings, the key file and bulk-read
 * accounting. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/clock.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[64];
static unsigned char key[KURA_AUDIT_KEY_LEN];

/* A fresh directory for each test's log. */
static const char *log_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/%s/audit.jsonl", tmpdir, name);
    return path;
}

static struct kura_audit_log *open_log(const char *path, uint64_t max_size)
{
    struct kura_audit_options opt = {.host = "node1", .zone = kura_zone_get("Asia/Tokyo", NULL), .max_size = max_size};
    struct kura_err err = {0};
    struct kura_audit_log *log = kura_audit_open(path, key, &opt, &err);
    if (!log)
        printf("#   open: %s\n", err.msg);
    return log;
}

/* alice's allowed open of JGAD000001. */
static void alice_open(struct kura_audit_record *r)
{
    kura_audit_record_init(r);
    r->event = KURA_AUDIT_OPEN;
    r->decision = KURA_AUDIT_ALLOW;
    r->dataset = "JGAD000001";
    r->user = "alice";
    r->uid = 1001;
}

static int append(struct kura_audit_log *log, const char *detail)
{
    struct kura_audit_record r;
    alice_open(&r);
    r.path = "a/x.bam";
    r.pid = getpid();
    r.detail = detail;
    struct kura_err err = {0};
    int rc = kura_audit_append(log, &r, &err);
    if (rc != 0)
        printf("#   append: %s\n", err.msg);
    return rc;
}

static int append_n(struct kura_audit_log *log, int n)
{
    char d[32];
    for (int i = 0; i < n; i++) {
        snprintf(d, sizeof d, "r%d", i);
        if (append(log, d) != 0)
            return -1;
    }
    return 0;
}

/* The first bad finding of a verify run. */
struct outcome {
    char file[256], what[400];
    uint64_t line, seq;
    int bad;
};

static void on_finding(const struct kura_audit_finding *f, void *ctx)
{
    struct outcome *o = ctx;
    if (!f->bad || o->bad++)
        return;
    const char *slash = strrchr(f->file, '/');
    snprintf(o->file, sizeof o->file, "%s", slash ? slash + 1 : f->file);
    snprintf(o->what, sizeof o->what, "%s", f->what);
    o->line = f->line;
    o->seq = f->seq;
}

static int verify(const char *path, struct outcome *o, struct kura_audit_summary *sum)
{
    memset(o, 0, sizeof *o);
    struct kura_err err = {0};
    int rc = kura_audit_verify(path, key, on_finding, o, sum, &err);
    if (rc != 0)
        printf("#   verify: %s\n", err.msg);
    return rc;
}

/* Whole file as lines (each with its newline), to tamper with. */
struct lines {
    char *v[512];
    size_t n;
};

static void lines_read(const char *path, struct lines *l)
{
    FILE *f = fopen(path, "r");
    l->n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (f && l->n < 512 && getline(&line, &cap, f) > 0)
        l->v[l->n++] = strdup(line);
    free(line);
    if (f)
        fclose(f);
}

/* Rewrites in place (same inode, as an editor with :w or a careful forger). */
static void lines_write(const char *path, const struct lines *l)
{
    FILE *f = fopen(path, "r+");
    if (!f)
        return;
    for (size_t i = 0; i < l->n; i++)
        fputs(l->v[i], f);
    fflush(f);
    if (ftruncate(fileno(f), ftell(f)) != 0)
        printf("#   ftruncate failed\n");
    fclose(f);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A log of n records, closed. */
static const char *make_log(const char *name, int n)
{
    const char *path = log_path(name);
    struct kura_audit_log *log = open_log(path, 0);
    if (!log || append_n(log, n) != 0)
        path = NULL;
    kura_audit_close(log);
    return path;
}

/* ---- records ------------------------------------------------------------ */

/* Reader callback: every line must be a record. */
static int all_records(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                       void *ctx)
{
    (void)ctx;
    if (e)
        return 0;
    printf("#   %s:%llu: %s\n", file, (unsigned long long)line, problem);
    return -1;
}

/* Parses line `which` (1-based) of path into e. */
static int parse_line(const char *path, size_t which, struct kura_audit_entry *e)
{
    struct lines l;
    lines_read(path, &l);
    int rc = -1;
    if (which >= 1 && which <= l.n) {
        struct kura_err err = {0};
        rc = kura_audit_entry_parse(l.v[which - 1], strlen(l.v[which - 1]) - 1, e, &err);
        if (rc != 0)
            printf("#   parse: %s\n", err.msg);
    }
    lines_free(&l);
    return rc;
}

static void test_record_fields_round_trip(void)
{
    const char *path = log_path("fields");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_CLOSE;
    r.decision = KURA_AUDIT_ALLOW;
    r.time_ms = 1775001600123; /* 2026-04-01T09:00:00.123+09:00 */
    r.reason = "ok";
    r.dataset = "JGAD000001";
    r.path = "dir/sample 1.bam";
    r.samples = "S1,S2";
    r.user = "alice";
    r.uid = 1001;
    r.loginuid = 4294967295;
    r.pid = 4242;
    r.ppid = 1;
    r.exe = "/usr/bin/samtools";
    r.cmdline = "samtools view -h x.bam";
    r.ssh_client = "192.0.2.1 50000 22";
    r.bytes = 123456789;
    r.duration_ms = 1500;
    r.detail = "closed";
    struct kura_err err = {0};
    ASSERT(kura_audit_append(log, &r, &err) == 0);
    kura_audit_close(log);

    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 1);
    printf("# %s", l.v[0]);
    const char *start = "{\"seq\":1,\"time\":\"2026-04-01T09:00:00.123+09:00\",\"host\":\"node1\","
                        "\"event\":\"close\",\"decision\":\"allow\",";
    EXPECT(strncmp(l.v[0], start, strlen(start)) == 0);
    EXPECT_STR_CONTAINS(l.v[0], ",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"mac\":\"");
    lines_free(&l);

    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.seq == 1);
    EXPECT(strcmp(e.time, "2026-04-01T09:00:00.123+09:00") == 0);
    EXPECT(e.rec.time_ms == 1775001600123);
    EXPECT(strcmp(e.host, "node1") == 0);
    EXPECT(e.rec.event == KURA_AUDIT_CLOSE && e.rec.decision == KURA_AUDIT_ALLOW);
    EXPECT(strcmp(e.rec.reason, "ok") == 0 && strcmp(e.rec.dataset, "JGAD000001") == 0);
    EXPECT(strcmp(e.rec.path, "dir/sample 1.bam") == 0 && strcmp(e.rec.samples, "S1,S2") == 0);
    EXPECT(strcmp(e.rec.user, "alice") == 0 && e.rec.uid == 1001 && e.rec.loginuid == 4294967295);
    EXPECT(e.rec.pid == 4242 && e.rec.ppid == 1);
    EXPECT(strcmp(e.rec.exe, "/usr/bin/samtools") == 0);
    EXPECT(strcmp(e.rec.cmdline, "samtools view -h x.bam") == 0);
    EXPECT(strcmp(e.rec.ssh_client, "192.0.2.1 50000 22") == 0);
    EXPECT(e.rec.bytes == 123456789 && e.rec.duration_ms == 1500);
    EXPECT(strcmp(e.rec.detail, "closed") == 0);
    EXPECT(!e.rotated_from && !e.cut);
    kura_audit_entry_free(&e);

    struct outcome o;
    EXPECT(verify(path, &o, NULL) == 0);
}

/* Absent fields stay out of the line; a record without a decision says "-". */
static void test_absent_fields_left_out(void)
{
    const char *path = log_path("absent");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_START;
    struct kura_err err = {0};
    ASSERT(kura_audit_append(log, &r, &err) == 0);
    r.event = (enum kura_audit_event)99;
    EXPECT(kura_audit_append(log, &r, &err) == -1);
    kura_audit_close(log);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 1);
    EXPECT_STR_CONTAINS(l.v[0], "\"event\":\"start\",\"decision\":\"-\",\"prev\"");
    EXPECT(!strstr(l.v[0], "uid") && !strstr(l.v[0], "path"));
    lines_free(&l);
    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.rec.uid == KURA_AUDIT_ABSENT && e.rec.bytes == KURA_AUDIT_ABSENT && !e.rec.path);
    kura_audit_entry_free(&e);
}

/* Quotes, newlines, control bytes, DEL, U+2028 and invalid UTF-8 in the
 * command line and the path: one line per record, and the reader gives
 * back exactly the bytes that were logged. */
static void test_hostile_strings_escaped_and_round_trip(void)
{
    const char *path = log_path("hostile");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    const char *cmdline = "cp \"a\" b\n{\"seq\":1}\r\t\\ \x01\x1f\x7f \xe2\x80\xa8 \xff\xfe \xc3\x28 end";
    const char *fpath = "evil\",\"decision\":\"allow\n\x1b[31m\xed\xa0\x80.bam";
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_OPEN;
    r.decision = KURA_AUDIT_DENY;
    r.cmdline = cmdline;
    r.path = fpath;
    r.user = "ユーザー";
    struct kura_err err = {0};
    ASSERT(kura_audit_append(log, &r, &err) == 0);
    ASSERT(append(log, "after") == 0);
    kura_audit_close(log);

    struct lines l;
    lines_read(path, &l);
    EXPECT(l.n == 2);
    for (size_t i = 0; i < l.n; i++)
        for (const unsigned char *p = (const unsigned char *)l.v[i]; *p; p++)
            if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
                EXPECT(!"raw control byte in the log");
    if (l.n)
        EXPECT_STR_CONTAINS(l.v[0], "\"cmdline_hex\":\"");
    lines_free(&l);

    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.rec.decision == KURA_AUDIT_DENY);
    EXPECT(e.rec.cmdline && strcmp(e.rec.cmdline, cmdline) == 0);
    EXPECT(e.rec.path && strcmp(e.rec.path, fpath) == 0);
    EXPECT(e.rec.user && strcmp(e.rec.user, "ユーザー") == 0);
    kura_audit_entry_free(&e);
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == 0);
    EXPECT(kura_audit_read(path, all_records, NULL, &err) == 0);
}

/* Over-long strings are cut to their bound and the record says so. */
static void test_long_fields_cut_and_named(void)
{
    const char *path = log_path("cut");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    char cmd[2000], det[3000];
    memset(cmd, 'c', sizeof cmd - 1);
    cmd[sizeof cmd - 1] = '\0';
    memset(det, 'd', sizeof det - 1);
    det[sizeof det - 1] = '\0';
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_OPEN;
    r.cmdline = cmd;
    r.detail = det;
    struct kura_err err = {0};
    ASSERT(kura_audit_append(log, &r, &err) == 0);
    kura_audit_close(log);
    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.rec.cmdline && strlen(e.rec.cmdline) == KURA_AUDIT_CMDLINE_MAX);
    EXPECT(e.rec.detail && strlen(e.rec.detail) == KURA_AUDIT_TEXT_MAX);
    EXPECT(e.cut && strcmp(e.cut, "cmdline,detail") == 0);
    kura_audit_entry_free(&e);
}

/* ---- group commit ------------------------------------------------------- */

#define THREADS 8
#define PER_THREAD 250

struct worker {
    struct kura_audit_log *log;
    int id, failures;
    atomic_int *done;           /* counts the finished workers, or NULL */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    char d[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(d, sizeof d, "t%d-%d", w->id, i);
        if (append(w->log, d) != 0)
            w->failures++;
    }
    return NULL;
}

struct tally {
    unsigned char seen[THREADS][PER_THREAD];
    int next_in_thread[THREADS];
    uint64_t last_seq, count;
    int disorder, strangers;
};

static int tally_entry(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                       void *ctx)
{
    (void)file;
    (void)line;
    (void)problem;
    struct tally *t = ctx;
    int id, i;
    if (!e || !e->rec.detail || sscanf(e->rec.detail, "t%d-%d", &id, &i) != 2 || id < 0 || id >= THREADS ||
        i < 0 || i >= PER_THREAD) {
        t->strangers++;
        return 0;
    }
    if (e->seq != t->last_seq + 1 || i != t->next_in_thread[id])
        t->disorder++;
    t->next_in_thread[id] = i + 1;
    t->last_seq = e->seq;
    t->seen[id][i]++;
    t->count++;
    return 0;
}

/* Runs fn (worker_main, open_close_main) in THREADS threads on log: their
 * failures (a thread not started counts as one). */
static int run_workers(struct kura_audit_log *log, void *(*fn)(void *))
{
    pthread_t th[THREADS];
    struct worker w[THREADS];
    int failures = 0;
    bool started[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.log = log, .id = i};
        started[i] = pthread_create(&th[i], NULL, fn, &w[i]) == 0;
        failures += !started[i];
    }
    for (int i = 0; i < THREADS; i++)
        if (started[i]) {
            pthread_join(th[i], NULL);
            failures += w[i].failures;
        }
    return failures;
}

/* The log at path (its rotated files too) holds every record of the
 * THREADS workers exactly once, in seq order, each thread's in the order it
 * made them, and no other. */
static bool every_record_once(const char *path)
{
    static struct tally t;
    memset(&t, 0, sizeof t);
    struct kura_err err = {0};
    char **files;
    size_t n;
    if (kura_audit_files(path, &files, &n, &err) != 0)
        return false;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = kura_audit_read(files[i], tally_entry, &t, &err);
    kura_audit_files_free(files, n);
    if (rc != 0)
        return false;
    int dup_or_missing = 0;
    for (int i = 0; i < THREADS; i++)
        for (int j = 0; j < PER_THREAD; j++)
            dup_or_missing += t.seen[i][j] != 1;
    return t.count == THREADS * PER_THREAD && t.strangers == 0 && t.disorder == 0 && dup_or_missing == 0;
}

/* Eight threads append at once: every record is there exactly once, in seq
 * order (each thread's own records in the order it made them), the chain
 * verifies, and far fewer fdatasyncs than records were needed. */
static void test_threads_group_commit(void)
{
    const char *path = log_path("threads");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    int failures = run_workers(log, worker_main);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    kura_audit_close(log);
    EXPECT(failures == 0);
    EXPECT(st.records == THREADS * PER_THREAD && st.failures == 0);
    printf("# %d appenders, %llu records: %llu batches, %llu fdatasyncs (%.0f per 1000 records)\n", THREADS,
           (unsigned long long)st.records, (unsigned long long)st.batches, (unsigned long long)st.fdatasyncs,
           st.records ? 1000.0 * (double)st.fdatasyncs / (double)st.records : 0.0);
    EXPECT(st.fdatasyncs == st.batches);
    EXPECT(st.fdatasyncs * 3 < st.records);

    EXPECT(every_record_once(path));
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == THREADS * PER_THREAD && sum.first_seq == 1 && sum.last_seq == THREADS * PER_THREAD);
}

/* As kurafs's workers: each opens, then closes. A close that comes while
 * another thread writes is handed to it, the closer not waiting: once the
 * threads returned (before the log is closed), every record is in the log
 * exactly once, each thread's in its order, the chain verifying; closes
 * were handed over. */
static void *open_close_main(void *arg)
{
    struct worker *w = arg;
    char d[32];
    for (int i = 0; i < PER_THREAD; i++) {
        struct kura_audit_record r;
        alice_open(&r);
        r.path = "a/x.bam";
        r.pid = getpid();
        if (i % 2)
            r.event = KURA_AUDIT_CLOSE;
        snprintf(d, sizeof d, "t%d-%d", w->id, i);
        r.detail = d;
        struct kura_err err = {0};
        if (kura_audit_append(w->log, &r, &err) != 0)
            w->failures++;
    }
    return NULL;
}

static void test_closes_handed_to_the_writer(void)
{
    const char *path = log_path("closes");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    int failures = run_workers(log, open_close_main);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(failures == 0);
    EXPECT(st.records == THREADS * PER_THREAD && st.failures == 0);
    printf("# %llu of %d closes handed to the writer\n", (unsigned long long)st.detached, THREADS * PER_THREAD / 2);
    EXPECT(st.detached > 0);
    EXPECT(every_record_once(path)); /* the log still open */
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == THREADS * PER_THREAD);
}

/* The last record anyone appends is a close handed to the writer of an
 * open: the opener, whose own record is done by then, writes it before
 * it returns (nobody else would: nothing is appended after). */
struct handover {
    struct kura_audit_log *log;
    atomic_bool stop;
    int opens, closes, failures;
};

static int append_event(struct kura_audit_log *log, enum kura_audit_event event, const char *detail)
{
    struct kura_audit_record r;
    alice_open(&r);
    r.event = event;
    r.path = "a/x.bam";
    r.pid = getpid();
    r.detail = detail;
    struct kura_err err = {0};
    return kura_audit_append(log, &r, &err);
}

static void *opener_main(void *arg)
{
    struct handover *h = arg;
    while (!atomic_load(&h->stop) && h->opens < 100000) {
        h->failures += append_event(h->log, KURA_AUDIT_OPEN, "opener") != 0;
        h->opens++;
    }
    return NULL;
}

/* Records whose detail is d->detail, counted in d->n. */
struct detail_count {
    const char *detail;
    int n;
};

static int count_detail(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                        void *ctx)
{
    (void)file, (void)line, (void)problem;
    struct detail_count *d = ctx;
    if (e && e->rec.detail && strcmp(e->rec.detail, d->detail) == 0)
        d->n++;
    return 0;
}

static void test_a_close_handed_over_last_is_written(void)
{
    const char *path = log_path("handover");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    alarm(60);
    static struct handover h;
    memset(&h, 0, sizeof h);
    h.log = log;
    pthread_t opener;
    ASSERT(pthread_create(&opener, NULL, opener_main, &h) == 0);
    struct kura_audit_stats st = {0};
    while (st.detached == 0 && h.closes < 100000) {
        h.failures += append_event(log, KURA_AUDIT_CLOSE, "closer") != 0;
        h.closes++;
        kura_audit_get_stats(log, &st);
    }
    atomic_store(&h.stop, true);
    pthread_join(opener, NULL);
    alarm(0);
    EXPECT(st.detached == 1 && h.failures == 0);
    struct detail_count closes_in_log = {"closer", 0};
    struct kura_err err = {0};
    ASSERT(kura_audit_read(path, count_detail, &closes_in_log, &err) == 0); /* the log still open */
    EXPECT(closes_in_log.n == h.closes);
    kura_audit_close(log);
}

/* Closes handed to the writer while the log rotates (a small max_size:
 * a rotation every few batches) and while reopens (SIGHUP) take the file
 * from the writers: none is lost or written twice, the chain verifies
 * across the files, and nobody is left waiting (the alarm). */
static void *open_close_counted(void *arg)
{
    struct worker *w = arg;
    open_close_main(w);
    atomic_fetch_add(w->done, 1);
    return NULL;
}

static void test_closes_handed_over_rotations_and_reopens(void)
{
    const char *path = log_path("closes-rotating");
    struct kura_audit_log *log = open_log(path, 16 * 1024);
    ASSERT(log);
    alarm(60);
    static atomic_int done;
    atomic_store(&done, 0);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.log = log, .id = i, .done = &done};
        ASSERT(pthread_create(&th[i], NULL, open_close_counted, &w[i]) == 0);
    }
    int reopens = 0, reopen_failures = 0;
    struct kura_err err = {0};
    while (atomic_load(&done) < THREADS) {
        reopen_failures += kura_audit_reopen(log, &err) != 0;
        reopens++;
        usleep(1000);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(every_record_once(path)); /* the log still open */
    kura_audit_close(log);
    alarm(0);
    printf("# %llu closes handed over, %llu rotations, %d reopens\n", (unsigned long long)st.detached,
           (unsigned long long)st.rotations, reopens);
    EXPECT(failures == 0 && reopen_failures == 0 && st.failures == 0 && st.closes_lost == 0);
    EXPECT(st.detached > 0 && st.rotations > 3 && reopens > 1);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == THREADS * PER_THREAD && sum.files == st.rotations + 1);
}

/* Records in the log at path (the log may be open). */
static int records_in(const char *path)
{
    struct lines l;
    lines_read(path, &l);
    int n = (int)l.n;
    lines_free(&l);
    return n;
}

/* With the close writer (kurafs starts it), a close nobody else writes
 * beside is handed over all the same: its caller does not wait; the
 * writer writes it after its linger, in a batch of its own without an
 * fdatasync (the next open's makes it durable), and the chain goes on. */
static void test_close_writer_writes_lone_closes(void)
{
    const char *path = log_path("close-writer");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 10, 60000, &err) == 0);
    EXPECT(kura_audit_start_close_writer(log, 10, 60000, &err) == -1 && err.code == EALREADY);
    alarm(60);
    EXPECT(append(log, "opened") == 0);
    EXPECT(append_event(log, KURA_AUDIT_CLOSE, "closer") == 0);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(st.detached == 1);
    int waited_ms = 0;
    while (records_in(path) < 2 && waited_ms < 5000) {
        usleep(1000);
        waited_ms++;
    }
    printf("# the close in the log about %d ms after it returned (linger 10 ms)\n", waited_ms);
    EXPECT(records_in(path) == 2);
    kura_audit_get_stats(log, &st);
    EXPECT(st.records == 2 && st.batches == 2 && st.fdatasyncs == 1);
    EXPECT(append(log, "opened again") == 0);
    kura_audit_get_stats(log, &st);
    EXPECT(st.records == 3 && st.fdatasyncs == 2 && st.closes_lost == 0);
    alarm(0);
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 3);
    struct kura_audit_entry e;
    EXPECT(parse_line(path, 2, &e) == 0 && e.rec.event == KURA_AUDIT_CLOSE && e.seq == 2);
    kura_audit_entry_free(&e);
}

static int append_deny(struct kura_audit_log *log, enum kura_audit_event event, const char *reason)
{
    struct kura_audit_record r;
    alice_open(&r);
    r.event = event;
    r.decision = KURA_AUDIT_DENY;
    r.reason = reason;
    r.path = "a/x.bam";
    struct kura_err err = {0};
    return kura_audit_append(log, &r, &err);
}

static uint64_t fdatasyncs_of(struct kura_audit_log *log)
{
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    return st.fdatasyncs;
}

/* Waits up to 5 s for the log's fdatasyncs to pass n, as the close
 * writer's sync of what no batch synced. */
static void wait_for_sync_past(struct kura_audit_log *log, uint64_t n)
{
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    while (fdatasyncs_of(log) == n && kura_clock_ms(CLOCK_MONOTONIC) - t0 < 5000)
        usleep(1000);
}

/* Closes log and expects its chain to verify with this many records. */
static void close_and_verify(struct kura_audit_log *log, const char *path, uint64_t records)
{
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == records);
}

/* Nothing is served after a refusal or an ended access (decision deny):
 * its record is in the file when the append returns, without an fdatasync
 * of its own; the next open's makes it durable. */
static void test_records_serving_nothing_are_written_not_synced(void)
{
    const char *path = log_path("deny-unsynced");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    EXPECT(append(log, "opened") == 0 && fdatasyncs_of(log) == 1);
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0);
    EXPECT(records_in(path) == 2 && fdatasyncs_of(log) == 1);
    EXPECT(append_deny(log, KURA_AUDIT_REVOCATION, "withdrawn") == 0);
    EXPECT(append_deny(log, KURA_AUDIT_WRITE_DENIED, "read-only") == 0);
    EXPECT(records_in(path) == 4 && fdatasyncs_of(log) == 1);
    EXPECT(append(log, "opened again") == 0 && fdatasyncs_of(log) == 2);
    close_and_verify(log, path, 5);
}

static uint64_t head_seq(struct kura_audit_log *log)
{
    uint64_t seq = UINT64_MAX;
    struct kura_err err = {0};
    if (kura_audit_written_seq(log, &seq, &err) != 0)
        printf("#   head: %s\n", err.msg);
    return seq;
}

/* The first len bytes of from, as to. */
static int copy_prefix(const char *from, const char *to, off_t len)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[4096];
    off_t done = 0;
    while (in >= 0 && out >= 0 && done < len) {
        ssize_t r = read(in, buf, (size_t)(len - done) < sizeof buf ? (size_t)(len - done) : sizeof buf);
        if (r <= 0 || write(out, buf, (size_t)r) != r)
            break;
        done += r;
    }
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return done == len ? 0 : -1;
}

/* The head file is never ahead of what is durable: records written
 * without an fdatasync (refusals, closes) move it only once they are
 * synced. A power failure that takes them (simulated: the log cut back
 * to its durable part, the head file as it is) leaves a log that
 * verifies, not one that looks cut. */
static void test_head_waits_for_the_sync(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s", log_path("head-durable"));
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 10, 300, &err) == 0);
    alarm(60);
    EXPECT(append(log, "opened") == 0 && head_seq(log) == 1);
    struct stat durable;
    ASSERT(stat(path, &durable) == 0);
    uint64_t syncs = fdatasyncs_of(log);
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0 && append_deny(log, KURA_AUDIT_OPEN, "guard") == 0);
    EXPECT(records_in(path) == 3 && fdatasyncs_of(log) == syncs);
    EXPECT(head_seq(log) == 1);

    char head[300], lost[300], lost_head[300];
    ASSERT(kura_audit_head_path(path, head, sizeof head) == 0);
    snprintf(lost, sizeof lost, "%s", log_path("head-durable-power-lost"));
    ASSERT(kura_audit_head_path(lost, lost_head, sizeof lost_head) == 0);
    struct stat hs;
    ASSERT(stat(head, &hs) == 0);
    ASSERT(copy_prefix(path, lost, durable.st_size) == 0 && copy_prefix(head, lost_head, hs.st_size) == 0);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(lost, &o, &sum) == 0 && o.bad == 0 && sum.records == 1);

    wait_for_sync_past(log, syncs);
    EXPECT(fdatasyncs_of(log) == syncs + 1 && head_seq(log) == 3); /* durable now, and the head says so */
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0 && head_seq(log) == 3);
    EXPECT(append(log, "opened again") == 0 && head_seq(log) == 5); /* its sync covers the refusal too */
    alarm(0);
    close_and_verify(log, path, 5);
}

/* The head still put off for a refusal not yet synced, the log moved
 * aside (logrotate, no SIGHUP yet), and another writer (root's kuractl)
 * appends: it follows the chain into the moved file past the head, and
 * numbers its record after the refusal, not beside it. */
static void test_head_behind_a_moved_file(void)
{
    char path[300], moved[320];
    snprintf(path, sizeof path, "%s", log_path("head-moved"));
    snprintf(moved, sizeof moved, "%s.1", path);
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 10, 60000, &err) == 0);
    EXPECT(append(log, "opened") == 0 && append_deny(log, KURA_AUDIT_OPEN, "guard") == 0);
    EXPECT(head_seq(log) == 1);
    ASSERT(rename(path, moved) == 0);
    struct kura_audit_log *other = open_log(path, 0);
    ASSERT(other);
    EXPECT(append(other, "opened by another writer") == 0);
    kura_audit_close(other);
    kura_audit_close(log);
    struct kura_audit_entry e;
    EXPECT(parse_line(path, 1, &e) == 0 && e.seq == 3);
    kura_audit_entry_free(&e);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && o.bad == 0 && sum.records == 3);
}

/* What no batch of opens synced, the close writer syncs once sync_later_ms
 * passed, not before; what an open's batch synced meanwhile it leaves. */
static void test_close_writer_syncs_what_no_batch_did(void)
{
    const char *path = log_path("close-writer-sync");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 10, 300, &err) == 0);
    alarm(60);
    EXPECT(append(log, "opened") == 0 && fdatasyncs_of(log) == 1);
    int64_t t0 = kura_clock_ms(CLOCK_MONOTONIC);
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0);
    EXPECT(records_in(path) == 2 && fdatasyncs_of(log) == 1);
    wait_for_sync_past(log, 1);
    int64_t waited = kura_clock_ms(CLOCK_MONOTONIC) - t0;
    printf("# the refusal synced by the close writer %lld ms after it was written (sync_later 300 ms)\n",
           (long long)waited);
    EXPECT(fdatasyncs_of(log) == 2 && waited >= 300);
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0 && append(log, "opened again") == 0);
    EXPECT(fdatasyncs_of(log) == 3);
    usleep(700 * 1000);
    EXPECT(fdatasyncs_of(log) == 3); /* the open's batch synced the refusal: nothing left to sync */
    alarm(0);
    close_and_verify(log, path, 4);
}

/* Closes handed over within a long linger wait for an open's batch and go
 * into it, before the open (one fdatasync for all); those left when the
 * log is closed are written by the close at once, not after the linger
 * (the alarm), and nothing is lost. */
static void test_close_writer_lingering_closes(void)
{
    const char *path = log_path("close-writer-linger");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 30000, 60000, &err) == 0);
    alarm(20);
    for (int i = 0; i < 3; i++)
        EXPECT(append_event(log, KURA_AUDIT_CLOSE, "closer") == 0);
    EXPECT(records_in(path) == 0);
    EXPECT(append(log, "opened") == 0);
    EXPECT(records_in(path) == 4); /* the open's batch took the closes */
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(st.detached == 3 && st.batches == 1 && st.fdatasyncs == 1);
    struct kura_audit_entry e;
    EXPECT(parse_line(path, 4, &e) == 0 && e.rec.event == KURA_AUDIT_OPEN);
    kura_audit_entry_free(&e);
    for (int i = 0; i < 2; i++)
        EXPECT(append_event(log, KURA_AUDIT_CLOSE, "closer") == 0);
    EXPECT(records_in(path) == 4);
    kura_audit_close(log);
    alarm(0);
    EXPECT(records_in(path) == 6);
    struct detail_count closes = {"closer", 0};
    EXPECT(kura_audit_read(path, count_detail, &closes, &err) == 0 && closes.n == 5);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 6);
}

/* Eight threads open and close with the close writer running: every close
 * is handed over, and once the log is closed every record is there once,
 * each thread's in its order, the chain verifying. */
static void test_close_writer_threads(void)
{
    const char *path = log_path("close-writer-threads");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    ASSERT(kura_audit_start_close_writer(log, 10, 60000, &err) == 0);
    alarm(60);
    int failures = run_workers(log, open_close_main);
    kura_audit_close(log);
    alarm(0);
    EXPECT(failures == 0);
    EXPECT(every_record_once(path));
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == THREADS * PER_THREAD);
}

/* Appends queued while a reopen holds the file go on when it lets go:
 * eight threads append while reopens run back to back, and every record
 * is written (an appender left asleep would hang here until the alarm). */
static void test_appends_wait_out_reopens(void)
{
    const char *path = log_path("reopens");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    alarm(60);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.log = log, .id = i};
        ASSERT(pthread_create(&th[i], NULL, worker_main, &w[i]) == 0);
    }
    struct kura_err err = {0};
    int reopens = 0, reopen_failures = 0;
    struct kura_audit_stats st;
    do {
        reopen_failures += kura_audit_reopen(log, &err) != 0;
        reopens++;
        kura_audit_get_stats(log, &st);
    } while (st.records + st.failures < THREADS * PER_THREAD);
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    alarm(0);
    kura_audit_close(log);
    printf("# %d reopens while %d records were appended\n", reopens, THREADS * PER_THREAD);
    EXPECT(failures == 0 && reopen_failures == 0 && reopens > 1);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == THREADS * PER_THREAD);
}

/* A close record is written but not made durable on its own: it rides on
 * the next record's fdatasync (an open costs one, not two). */
static void test_close_rides_next_sync(void)
{
    const char *path = log_path("close-sync");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_audit_stats st;
    EXPECT(append(log, "opened") == 0);
    kura_audit_get_stats(log, &st);
    EXPECT(st.fdatasyncs == 1);
    off_t before = file_size(path);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_CLOSE;
    r.dataset = "JGAD000001";
    r.path = "a/x.bam";
    r.uid = 1001;
    r.bytes = 4096;
    struct kura_err err = {0};
    EXPECT(kura_audit_append(log, &r, &err) == 0);
    kura_audit_get_stats(log, &st);
    EXPECT(st.records == 2 && st.batches == 2);
    EXPECT(st.fdatasyncs == 1);
    EXPECT(file_size(path) > before); /* written, for the kernel to keep */
    struct kura_audit_entry e;
    EXPECT(parse_line(path, 2, &e) == 0 && e.rec.event == KURA_AUDIT_CLOSE && e.rec.bytes == 4096);
    kura_audit_entry_free(&e);
    EXPECT(append(log, "opened again") == 0);
    kura_audit_get_stats(log, &st);
    EXPECT(st.records == 3 && st.fdatasyncs == 2);
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 3);
}

/* Reading the tail: the records of the last bytes only, in order, the one
 * cut by the window's start skipped and not taken for a bad line. */
struct tail_seen {
    int records, problems;
    uint64_t first_seq, last_seq;
};

static int tail_entry(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                      void *ctx)
{
    (void)file, (void)line, (void)problem;
    struct tail_seen *s = ctx;
    if (!e) {
        s->problems++;
        return 0;
    }
    if (!s->records++)
        s->first_seq = e->seq;
    s->last_seq = e->seq;
    return 0;
}

static void test_read_tail(void)
{
    const char *path = log_path("tail");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    ASSERT(append_n(log, 100) == 0);
    kura_audit_close(log);
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    uint64_t per_record = (uint64_t)st.st_size / 100;
    struct kura_err err = {0};
    struct tail_seen s = {0};
    /* Ten and a half records' worth: ten whole ones, the cut one skipped. */
    ASSERT(kura_audit_read_tail(path, per_record * 10 + per_record / 2, tail_entry, &s, &err) == 0);
    EXPECT(s.records == 10 && s.problems == 0);
    EXPECT(s.first_seq == 91 && s.last_seq == 100);
    /* A window larger than the file reads every record. */
    memset(&s, 0, sizeof s);
    ASSERT(kura_audit_read_tail(path, (uint64_t)st.st_size * 2, tail_entry, &s, &err) == 0);
    EXPECT(s.records == 100 && s.first_seq == 1 && s.problems == 0);
}

/* Two writers on one log (the daemon and kuractl): each continues the chain
 * the other left, taking turns record by record. */
static void test_two_writers_take_turns(void)
{
    const char *path = log_path("turns");
    struct kura_audit_log *a = open_log(path, 0), *b = open_log(path, 0);
    ASSERT(a && b);
    for (int i = 0; i < 10; i++) {
        EXPECT(append(a, "from a") == 0);
        EXPECT(append(b, "from b") == 0);
    }
    kura_audit_close(a);
    kura_audit_close(b);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == 20 && sum.last_seq == 20);
}

/* Two processes appending at the same time keep one valid chain. */
static void test_two_processes_one_chain(void)
{
    const char *path = log_path("fork");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    kura_audit_close(log);
    pid_t child = fork();
    ASSERT(child >= 0);
    if (child == 0) {
        struct kura_audit_log *mine = open_log(path, 0);
        struct worker w[2] = {{.log = mine, .id = 0}, {.log = mine, .id = 1}};
        pthread_t th[2];
        for (int i = 0; mine && i < 2; i++)
            pthread_create(&th[i], NULL, worker_main, &w[i]);
        for (int i = 0; mine && i < 2; i++)
            pthread_join(th[i], NULL);
        kura_audit_close(mine);
        _exit(!mine || w[0].failures || w[1].failures);
    }
    log = open_log(path, 0);
    struct worker w[2] = {{.log = log, .id = 2}, {.log = log, .id = 3}};
    pthread_t th[2];
    for (int i = 0; log && i < 2; i++)
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    for (int i = 0; log && i < 2; i++)
        pthread_join(th[i], NULL);
    kura_audit_close(log);
    int status;
    waitpid(child, &status, 0);
    EXPECT(log && w[0].failures == 0 && w[1].failures == 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    static struct tally t;
    memset(&t, 0, sizeof t);
    struct kura_err err = {0};
    ASSERT(kura_audit_read(path, tally_entry, &t, &err) == 0);
    EXPECT(t.count == 4 * PER_THREAD && t.strangers == 0 && t.disorder == 0);
    int dup_or_missing = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < PER_THREAD; j++)
            dup_or_missing += t.seen[i][j] != 1;
    EXPECT(dup_or_missing == 0);
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == 0);
}

/* ---- tamper detection (R-LOG-2) ------------------------------------------ */

static void expect_bad(const char *path, const char *file, uint64_t line, uint64_t seq, const char *what)
{
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT(o.bad >= 1);
    EXPECT(strcmp(o.file, file) == 0);
    EXPECT(o.line == line);
    EXPECT(o.seq == seq);
    EXPECT_STR_CONTAINS(o.what, what);
    if (o.bad)
        printf("#   found: %s:%llu seq %llu: %s\n", o.file, (unsigned long long)o.line,
               (unsigned long long)o.seq, o.what);
}

static void test_verify_detects_edit(void)
{
    const char *path = make_log("edit", 10);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 10);
    char *p = strstr(l.v[4], "\"uid\":1001");
    ASSERT(p);
    p[7] = '2'; /* uid 1001 -> 2001 */
    lines_write(path, &l);
    lines_free(&l);
    expect_bad(path, "audit.jsonl", 5, 5, "mac does not match");
}

static void test_verify_detects_deletion(void)
{
    const char *path = make_log("delete", 10);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 10);
    free(l.v[4]);
    memmove(&l.v[4], &l.v[5], 5 * sizeof l.v[0]);
    l.n--;
    lines_write(path, &l);
    lines_free(&l);
    expect_bad(path, "audit.jsonl", 5, 6, "1 record(s) missing");
}

/* A copy of a real record put in again, and a record forged with another
 * key: both are found. */
static void test_verify_detects_insertion(void)
{
    const char *path = make_log("insert", 10);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 10);
    memmove(&l.v[4], &l.v[3], 7 * sizeof l.v[0]);
    l.v[3] = strdup(l.v[2]);
    l.n++;
    lines_write(path, &l);
    lines_free(&l);
    expect_bad(path, "audit.jsonl", 4, 3, "repeated or out of order");

    /* Forged: a well-formed record whose MAC uses a key the forger made up. */
    unsigned char real[KURA_AUDIT_KEY_LEN];
    memcpy(real, key, sizeof key);
    const char *other = log_path("forger");
    randombytes_buf(key, sizeof key);
    struct kura_audit_log *log = open_log(other, 0);
    ASSERT(log);
    append_n(log, 4);
    kura_audit_close(log);
    memcpy(key, real, sizeof key);
    struct lines fake;
    lines_read(other, &fake);
    path = make_log("insert2", 10);
    ASSERT(path && fake.n == 4);
    lines_read(path, &l);
    free(l.v[3]);
    l.v[3] = fake.v[3]; /* seq 4 from the forger replaces the real seq 4 */
    fake.v[3] = NULL;
    fake.n = 3;
    lines_write(path, &l);
    lines_free(&l);
    lines_free(&fake);
    expect_bad(path, "audit.jsonl", 4, 4, "mac does not match");
}

/* A record of another history under the same key (a restored copy that was
 * written on, a forked log) in place of the real one: its MAC is good and
 * its seq fits; only the chain of hashes tells. */
static void test_verify_detects_splice(void)
{
    char path[256], other[256]; /* log_path's buffer is reused */
    const char *made = make_log("splice", 10);
    ASSERT(made);
    snprintf(path, sizeof path, "%s", made);
    snprintf(other, sizeof other, "%s", log_path("splice-fork"));
    struct kura_audit_log *log = open_log(other, 0);
    ASSERT(log);
    for (int i = 0; i < 10; i++)
        append(log, "another history");
    kura_audit_close(log);
    struct lines fork, l;
    lines_read(other, &fork);
    lines_read(path, &l);
    ASSERT(fork.n == 10 && l.n == 10);
    free(l.v[4]);
    l.v[4] = fork.v[4]; /* the fork's seq 5 for the real seq 5 */
    fork.v[4] = NULL;
    lines_write(path, &l);
    lines_free(&l);
    lines_free(&fork);
    expect_bad(path, "audit.jsonl", 5, 5, "prev does not match");
}

static void test_verify_detects_swap(void)
{
    const char *path = make_log("swap", 10);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 10);
    char *t = l.v[3];
    l.v[3] = l.v[4];
    l.v[4] = t;
    lines_write(path, &l);
    lines_free(&l);
    expect_bad(path, "audit.jsonl", 4, 5, "seq 5 follows seq 3");
}

/* Cut in the middle of the last record, and whole records cut from the
 * end (which only the head file can tell). */
static void test_verify_detects_truncation(void)
{
    const char *path = make_log("truncate", 10);
    ASSERT(path);
    off_t size = file_size(path);
    ASSERT(truncate(path, size - 30) == 0);
    expect_bad(path, "audit.jsonl", 10, 10, "unfinished record");

    path = make_log("truncate2", 10);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 10);
    for (size_t i = 8; i < 10; i++)
        free(l.v[i]);
    l.n = 8;
    lines_write(path, &l);
    lines_free(&l);
    expect_bad(path, "audit.jsonl", 0, 10, "records were removed from the end");

    /* A writer that comes after the cut goes on from the head: the gap stays visible. */
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    EXPECT(append(log, "after the cut") == 0);
    kura_audit_close(log);
    expect_bad(path, "audit.jsonl", 9, 11, "2 record(s) missing");
}

/* A verifier with another key, and a head file removed. */
static void test_verify_wrong_key_and_missing_head(void)
{
    const char *path = make_log("wrongkey", 3);
    ASSERT(path);
    unsigned char real[KURA_AUDIT_KEY_LEN];
    memcpy(real, key, sizeof key);
    key[0] ^= 1;
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "does not verify with the log key");
    struct kura_err err = {0};
    EXPECT(kura_audit_open(path, key, NULL, &err) == NULL);
    EXPECT(err.code == EKEYREJECTED);
    memcpy(key, real, sizeof key);

    char head[512];
    ASSERT(kura_audit_head_path(path, head, sizeof head) == 0);
    EXPECT_STR_CONTAINS(head, "/wrongkey/.audit.jsonl.head");
    ASSERT(unlink(head) == 0);
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "missing");
    /* The next writer rebuilds it from the log. */
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    EXPECT(append(log, "x") == 0);
    kura_audit_close(log);
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.last_seq == 4);
}

/* A writer that crashed mid-batch left half a line, and its head update
 * never reached the disk: the next writer drops the half line, catches up
 * with the records the head does not know, and the chain verifies. */
static void test_recovers_after_crash(void)
{
    const char *path = make_log("crash", 3);
    ASSERT(path);
    char head[512], saved[512];
    ASSERT(kura_audit_head_path(path, head, sizeof head) == 0);
    int fd = open(head, O_RDONLY);
    ASSERT(fd >= 0 && read(fd, saved, sizeof saved) == 512);
    close(fd);
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 2) == 0);
    kura_audit_close(log);
    fd = open(head, O_WRONLY);
    ASSERT(fd >= 0 && write(fd, saved, sizeof saved) == 512); /* the head as of seq 3 */
    close(fd);
    fd = open(path, O_WRONLY | O_APPEND);
    ASSERT(fd >= 0 && write(fd, "{\"seq\":6,\"time\":\"20", 19) == 19);
    close(fd);
    log = open_log(path, 0);
    ASSERT(log);
    EXPECT(append(log, "after the crash") == 0);
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == 6 && sum.last_seq == 6);
}

/* kill -9 of a writer whose eight threads open and close (closes handed
 * to the writer of another's open; every other round to the close writer,
 * as in kurafs, lingering 1 ms so that it leads often), now and then
 * mid-rotation: the log verifies, or names as its one fault the record the kill cut at the end;
 * the next writer removes that, the chain goes on from where it stood,
 * every file ends with a whole line, and the head agrees with the log. */
static void *open_close_until_killed(void *arg)
{
    struct worker *w = arg;
    char detail[KURA_AUDIT_TEXT_MAX + 1], cmdline[KURA_AUDIT_CMDLINE_MAX + 1];
    memset(detail, 'd', sizeof detail - 1);
    detail[sizeof detail - 1] = '\0';
    memset(cmdline, 'c', sizeof cmdline - 1);
    cmdline[sizeof cmdline - 1] = '\0';
    for (unsigned i = 0;; i++) {
        struct kura_audit_record r;
        alice_open(&r);
        r.event = i % 2 ? KURA_AUDIT_CLOSE : KURA_AUDIT_OPEN;
        r.path = "a/x.bam";
        r.detail = detail; /* long records: a batch spans pages, which a kill can cut between */
        r.cmdline = cmdline;
        struct kura_err err = {0};
        kura_audit_append(w->log, &r, &err);
    }
    return NULL;
}

static bool ends_whole(const char *path)
{
    char c = '\n';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    off_t end = fd >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    bool whole = fd >= 0 && (end == 0 || (pread(fd, &c, 1, end - 1) == 1 && c == '\n'));
    if (fd >= 0)
        close(fd);
    return whole;
}

static void test_kill_mid_batch(void)
{
    const char *path = log_path("kill");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 1) == 0);
    kura_audit_close(log);
    uint64_t last = 1;
    int rounds = 24, cut = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t max_size = r % 3 == 2 ? 64 * 1024 : 0; /* rotating every few batches */
        fflush(stdout);
        pid_t child = fork();
        ASSERT(child >= 0);
        if (child == 0) {
            struct kura_audit_log *mine = open_log(path, max_size);
            struct kura_err cerr = {0};
            if (mine && r % 2 && kura_audit_start_close_writer(mine, 1, 1, &cerr) != 0)
                _exit(1);
            static struct worker w[THREADS];
            pthread_t th[THREADS];
            for (int i = 0; mine && i < THREADS; i++) {
                w[i] = (struct worker){.log = mine, .id = i};
                pthread_create(&th[i], NULL, open_close_until_killed, &w[i]);
            }
            for (;;)
                pause();
        }
        struct kura_audit_log *watch = open_log(path, 0);
        uint64_t written = 0;
        struct kura_err werr = {0};
        for (int i = 0; watch && i < 1000 && written <= last + 2; i++)
            if (kura_audit_written_seq(watch, &written, &werr) != 0 || written <= last + 2)
                usleep(10000); /* until it wrote */
        kura_audit_close(watch);
        usleep((useconds_t)((r * 7919) % 60000));
        int status = 0;
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        struct outcome o;
        struct kura_audit_summary sum;
        if (verify(path, &o, &sum) != 0) {
            cut++;
            EXPECT(o.bad == 1);
            EXPECT_STR_CONTAINS(o.what, "unfinished record at the end");
        }
        log = open_log(path, max_size);
        ASSERT(log);
        EXPECT(append(log, "after the kill") == 0);
        uint64_t head_seq = 0;
        struct kura_err err = {0};
        EXPECT(kura_audit_written_seq(log, &head_seq, &err) == 0);
        kura_audit_close(log);
        EXPECT(verify(path, &o, &sum) == 0);
        EXPECT(sum.first_seq == 1 && sum.records == sum.last_seq && sum.last_seq == head_seq);
        EXPECT(sum.last_seq > last + 1); /* the killed writer's records, and ours */
        EXPECT(ends_whole(path));
        last = sum.last_seq;
    }
    printf("# %d kills (%d cut a record), %llu records\n", rounds, cut, (unsigned long long)last);
}

/* ---- rotation ------------------------------------------------------------ */

static void test_size_rotation_keeps_chain(void)
{
    const char *path = log_path("rotate");
    struct kura_audit_log *log = open_log(path, 2000);
    ASSERT(log);
    ASSERT(append_n(log, 30) == 0);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    kura_audit_close(log);
    EXPECT(st.rotations >= 3);

    char **files;
    size_t n;
    struct kura_err err = {0};
    ASSERT(kura_audit_files(path, &files, &n, &err) == 0);
    EXPECT(n == st.rotations + 1);
    EXPECT(n > 0 && strcmp(files[n - 1], path) == 0);
    char expect_last_rotated[300];
    snprintf(expect_last_rotated, sizeof expect_last_rotated, "%s.1", path);
    EXPECT(n > 1 && strcmp(files[n - 2], expect_last_rotated) == 0);
    for (size_t i = 0; i < n; i++)
        EXPECT(file_size(files[i]) <= 2000);
    kura_audit_files_free(files, n);

    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.rotated_from && strcmp(e.rotated_from, "audit.jsonl.1") == 0);
    kura_audit_entry_free(&e);

    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == 30 && sum.files == st.rotations + 1 && sum.last_seq == 30);

    /* The rotated file's last record removed: found where the chain enters the next file. */
    struct lines l;
    lines_read(expect_last_rotated, &l);
    ASSERT(l.n > 1);
    free(l.v[--l.n]);
    lines_write(expect_last_rotated, &l);
    lines_free(&l);
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT(strcmp(o.file, "audit.jsonl") == 0 && o.line == 1);
    EXPECT_STR_CONTAINS(o.what, "record(s) missing");
}

/* ---- reading on from a seq (the cluster's shipper) ---- */

struct taken {
    uint64_t seq[64];
    char *line[64];
    size_t n, cap;             /* cap: stop after this many */
};

static int take_lines(uint64_t seq, const char *line, size_t len, void *ctx)
{
    struct taken *t = ctx;
    if (t->n == t->cap || t->n == 64)
        return 1;
    t->seq[t->n] = seq;
    t->line[t->n++] = strndup(line, len);
    return 0;
}

static void taken_free(struct taken *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->line[i]);
    t->n = 0;
}

/* Every record once, in order, across rotated files, in batches that stop
 * where the caller stops; the cursor only speeds things up. */
static void test_read_after_in_batches(void)
{
    const char *path = log_path("after");
    struct kura_audit_log *log = open_log(path, 2000);
    ASSERT(log);
    ASSERT(append_n(log, 30) == 0);
    uint64_t written = 0;
    struct kura_err err = {0};
    EXPECT(kura_audit_written_seq(log, &written, &err) == 0 && written == 30);
    struct kura_audit_cursor cur = {0};
    uint64_t after = 0, next = 1;
    for (int round = 0; round < 20 && after < 30; round++) {
        struct taken t = {.cap = 7};
        ASSERT(kura_audit_read_after(path, after, &cur, take_lines, &t, &err) == 0);
        for (size_t i = 0; i < t.n; i++)
            EXPECT(t.seq[i] == next++);
        if (t.n)
            after = t.seq[t.n - 1];
        taken_free(&t);
    }
    EXPECT(after == 30 && next == 31);
    /* Records added later come next, from the cursor. */
    ASSERT(append_n(log, 3) == 0);
    struct taken t = {.cap = 64};
    ASSERT(kura_audit_read_after(path, 30, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 3 && t.seq[0] == 31 && t.seq[2] == 33);
    taken_free(&t);
    /* A cursor for another seq is not trusted: the files are read again. */
    cur.seq = 5;
    ASSERT(kura_audit_read_after(path, 10, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 23 && t.seq[0] == 11 && t.seq[22] == 33);
    /* The lines are the log's own: each carries the chain (prev, mac). */
    EXPECT_STR_CONTAINS(t.line[0], "\"seq\":11,");
    EXPECT_STR_CONTAINS(t.line[0], "\"mac\":\"");
    taken_free(&t);
    kura_audit_close(log);
}

/* A reader passing records on (the shipper) gets only what a power failure
 * cannot take back: a refusal written without an fdatasync waits for the
 * next sync, which any plain reader of the file does not; read with the
 * same cursor, it comes next once synced, by an open's batch or by the
 * close writer. */
static void test_durable_read_waits_for_the_sync(void)
{
    const char *path = log_path("durable-read");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log);
    struct kura_err err = {0};
    struct kura_audit_cursor cur = {0}, plain = {0};
    EXPECT(append(log, "opened") == 0);
    EXPECT(append_deny(log, KURA_AUDIT_OPEN, "guard") == 0 && append_deny(log, KURA_AUDIT_OPEN, "guard") == 0);
    struct taken t = {.cap = 64};
    ASSERT(kura_audit_read_durable_after(log, 0, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 1 && t.seq[0] == 1);
    taken_free(&t);
    ASSERT(kura_audit_read_after(path, 0, &plain, take_lines, &t, &err) == 0);
    EXPECT(t.n == 3);
    taken_free(&t);
    EXPECT(append(log, "opened again") == 0); /* its fdatasync covers the refusals */
    ASSERT(kura_audit_read_durable_after(log, 1, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 3 && t.seq[0] == 2 && t.seq[2] == 4);
    taken_free(&t);
    ASSERT(kura_audit_start_close_writer(log, 10, 100, &err) == 0);
    alarm(60);
    EXPECT(append_deny(log, KURA_AUDIT_REVOCATION, "withdrawn") == 0);
    ASSERT(kura_audit_read_durable_after(log, 4, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 0);
    taken_free(&t);
    wait_for_sync_past(log, 2);
    ASSERT(kura_audit_read_durable_after(log, 4, &cur, take_lines, &t, &err) == 0);
    EXPECT(t.n == 1 && t.seq[0] == 5);
    taken_free(&t);
    alarm(0);
    close_and_verify(log, path, 5);
}

/* The verifier's chain check over lines from elsewhere (the central copy). */
static void test_chain_check_over_lines(void)
{
    const char *path = make_log("chain", 6);
    ASSERT(path);
    struct taken t = {.cap = 64};
    struct kura_audit_cursor cur = {0};
    struct kura_err err = {0};
    ASSERT(kura_audit_read_after(path, 0, &cur, take_lines, &t, &err) == 0);
    ASSERT(t.n == 6);
    const struct {
        size_t skip;            /* line index left out; 6: none */
        bool alter;             /* line 2 altered */
        int rc;
        uint64_t seq;
        const char *what;
    } cases[] = {
        {6, false, 0, 0, NULL},
        {3, false, -1, 5, "1 record(s) missing"},
        {6, true, -1, 3, "mac does not match"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct outcome o = {0};
        struct kura_audit_chain_check *ck = kura_audit_chain_new(key, on_finding, &o);
        ASSERT(ck);
        int rc = 0;
        for (size_t i = 0; i < t.n && rc == 0; i++) {
            if (i == cases[k].skip)
                continue;
            char *line = strdup(t.line[i]);
            char *user = strstr(line, "alice");
            if (cases[k].alter && i == 2 && user)
                user[4] = 'a'; /* "alica": a record of someone else */
            memset(&err, 0, sizeof err);
            rc = kura_audit_chain_line(ck, "node n2", line, strlen(line), &err);
            free(line);
        }
        struct kura_audit_summary sum;
        kura_audit_chain_end(ck, &sum);
        EXPECT(rc == cases[k].rc);
        if (cases[k].rc == 0) {
            EXPECT(sum.records == 6 && sum.first_seq == 1 && sum.last_seq == 6);
            continue;
        }
        EXPECT(o.bad == 1 && o.seq == cases[k].seq && strcmp(o.file, "node n2") == 0);
        EXPECT_STR_CONTAINS(o.what, cases[k].what);
        char want[64];
        snprintf(want, sizeof want, "node n2: seq %llu: ", (unsigned long long)cases[k].seq);
        EXPECT_STR_CONTAINS(err.msg, want);
    }
    taken_free(&t);
}

/* logrotate moves the file and sends SIGHUP: the new file continues the chain. */
static void test_reopen_after_logrotate(void)
{
    const char *path = make_log("reopen", 5);
    ASSERT(path);
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append(log, "before") == 0);
    char moved[300];
    snprintf(moved, sizeof moved, "%s-20260401", path);
    ASSERT(rename(path, moved) == 0);
    struct kura_err err = {0};
    EXPECT(kura_audit_reopen(log, &err) == 0);
    EXPECT(file_size(path) == 0);
    EXPECT(append_n(log, 3) == 0);
    kura_audit_close(log);
    struct kura_audit_entry e;
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.seq == 7 && e.rotated_from);
    kura_audit_entry_free(&e);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.files == 2 && sum.records == 9);

    /* Without a reopen, the next append notices the move by itself. */
    snprintf(moved, sizeof moved, "%s-20260402", path);
    log = open_log(path, 0);
    ASSERT(log);
    ASSERT(rename(path, moved) == 0);
    EXPECT(append(log, "noticed") == 0);
    kura_audit_close(log);
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.files == 3 && sum.records == 10);
}

/* ---- fail closed --------------------------------------------------------- */

/* A full disk, simulated with RLIMIT_FSIZE: the append fails with EIO,
 * leaves nothing partial, and once there is room the chain goes on. */
static void test_fail_closed_on_full_disk(void)
{
    const char *path = log_path("full");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 3) == 0);
    off_t before = file_size(path);
    struct rlimit old, small;
    ASSERT(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    small = old;
    small.rlim_cur = (rlim_t)before + 100; /* room for part of a record */
    fflush(stdout);
    ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_OPEN;
    r.detail = "does not fit";
    struct kura_err err = {0};
    int rc1 = kura_audit_append(log, &r, &err);
    struct kura_err err2 = {0};
    int rc2 = kura_audit_append(log, &r, &err2);
    off_t during = file_size(path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    EXPECT(rc1 == -1 && rc2 == -1);
    EXPECT(err.code == EIO);
    EXPECT_STR_CONTAINS(err.msg, "File too large");
    EXPECT(during == before);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(st.failures == 2 && st.records == 3);
    EXPECT(kura_audit_failing(log)); /* what stops reads through open handles */
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.last_seq == 3);

    EXPECT(append(log, "room again") == 0);
    EXPECT(!kura_audit_failing(log));
    kura_audit_close(log);
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.records == 4 && sum.last_seq == 4);
}

/* Until a writer waits for the head file's flock that fd holds (as
 * /proc/locks shows it: "-> FLOCK ... dev:ino"), at most 10 s. */
static bool head_lock_waited_on(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    char ino[32], line[256];
    snprintf(ino, sizeof ino, ":%llu ", (unsigned long long)st.st_ino);
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen("/proc/locks", "r");
        bool waiting = false;
        while (f && !waiting && fgets(line, sizeof line, f))
            waiting = strstr(line, "-> FLOCK") && strstr(line, ino);
        if (f)
            fclose(f);
        if (waiting)
            return true;
        usleep(10000);
    }
    return false;
}

struct opener {
    struct kura_audit_log *log;
    int rc;
};

static void *one_open_main(void *arg)
{
    struct opener *o = arg;
    struct kura_audit_record r;
    alice_open(&r);
    r.path = "a/x.bam";
    r.detail = "open";
    struct kura_err err = {0};
    o->rc = kura_audit_append(o->log, &r, &err);
    return NULL;
}

/* The disk fills while closes are handed to the writer of an open (the
 * test holds the head file's lock, so the open's batch waits for it) and
 * more opens queue behind it: every open fails, the file is as it was
 * (the short write cut back), the head agrees with it, and the closes,
 * whose callers were told nothing, are counted as lost (and freed: ASan);
 * once there is room the chain goes on. */
static void test_full_disk_with_handed_closes(void)
{
    const char *path = log_path("full-handed");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 3) == 0);
    off_t before = file_size(path);
    char head[512];
    ASSERT(kura_audit_head_path(path, head, sizeof head) == 0);
    int hfd = open(head, O_RDWR | O_CLOEXEC);
    ASSERT(hfd >= 0 && flock(hfd, LOCK_EX) == 0);
    alarm(60);
    struct opener first = {.log = log}, later[2] = {{.log = log}, {.log = log}};
    pthread_t t_first, t_later[2];
    ASSERT(pthread_create(&t_first, NULL, one_open_main, &first) == 0);
    bool waiting = head_lock_waited_on(hfd);
    EXPECT(waiting);
    int closes_ok = 0;
    for (int i = 0; waiting && i < 4; i++)
        closes_ok += append_event(log, KURA_AUDIT_CLOSE, "handed") == 0;
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(closes_ok == 4 && st.detached == 4);
    for (int i = 0; i < 2; i++)
        ASSERT(pthread_create(&t_later[i], NULL, one_open_main, &later[i]) == 0);
    usleep(200000); /* they queue behind the batch waiting for the lock */
    struct rlimit old, small;
    ASSERT(getrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, SIG_IGN);
    small = old;
    small.rlim_cur = (rlim_t)before + 100; /* room for part of a record */
    fflush(stdout);
    ASSERT(setrlimit(RLIMIT_FSIZE, &small) == 0);
    flock(hfd, LOCK_UN);
    pthread_join(t_first, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(t_later[i], NULL);
    off_t during = file_size(path);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    alarm(0);
    close(hfd);
    EXPECT(first.rc == -1 && later[0].rc == -1 && later[1].rc == -1);
    EXPECT(during == before);
    kura_audit_get_stats(log, &st);
    printf("# failures %llu, closes lost %llu, records %llu\n", (unsigned long long)st.failures,
           (unsigned long long)st.closes_lost, (unsigned long long)st.records);
    EXPECT(st.failures == 3 && st.closes_lost == 4 && st.records == 3);
    EXPECT(kura_audit_failing(log));
    struct outcome o;
    struct kura_audit_summary sum;
    uint64_t head_seq = 0;
    struct kura_err err = {0};
    EXPECT(verify(path, &o, &sum) == 0 && sum.last_seq == 3);
    EXPECT(kura_audit_written_seq(log, &head_seq, &err) == 0 && head_seq == 3);
    struct detail_count handed = {"handed", 0};
    EXPECT(kura_audit_read(path, count_detail, &handed, &err) == 0 && handed.n == 0);

    EXPECT(append(log, "room again") == 0);
    EXPECT(!kura_audit_failing(log));
    EXPECT(kura_audit_written_seq(log, &head_seq, &err) == 0 && head_seq == 4);
    kura_audit_close(log);
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 4 && sum.last_seq == 4);
}

/* A close that comes while a reopen (SIGHUP) holds the file, not a
 * leader: it is not handed over (nobody would write it: a reopen writes
 * nothing), it waits and is written once the reopen lets go, before it
 * returns. The test holds the head file's lock, so the reopen waits. */
struct reopener {
    struct kura_audit_log *log;
    int rc;
};

static void *reopen_main(void *arg)
{
    struct reopener *r = arg;
    struct kura_err err = {0};
    r->rc = kura_audit_reopen(r->log, &err);
    return NULL;
}

static void *one_close_main(void *arg)
{
    struct opener *o = arg;
    o->rc = append_event(o->log, KURA_AUDIT_CLOSE, "handed");
    return NULL;
}

static void test_close_while_a_reopen_holds_the_file(void)
{
    const char *path = log_path("close-reopen");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 1) == 0);
    char head[512];
    ASSERT(kura_audit_head_path(path, head, sizeof head) == 0);
    int hfd = open(head, O_RDWR | O_CLOEXEC);
    ASSERT(hfd >= 0 && flock(hfd, LOCK_EX) == 0);
    alarm(60);
    struct reopener ro = {.log = log, .rc = -1};
    struct opener closer = {.log = log, .rc = -1};
    pthread_t t_reopen, t_close;
    ASSERT(pthread_create(&t_reopen, NULL, reopen_main, &ro) == 0);
    EXPECT(head_lock_waited_on(hfd));
    ASSERT(pthread_create(&t_close, NULL, one_close_main, &closer) == 0);
    usleep(100000); /* the close comes while the reopen holds the file */
    flock(hfd, LOCK_UN);
    pthread_join(t_reopen, NULL);
    pthread_join(t_close, NULL);
    alarm(0);
    close(hfd);
    EXPECT(ro.rc == 0 && closer.rc == 0);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(st.detached == 0);
    struct detail_count handed = {"handed", 0};
    struct kura_err err = {0};
    EXPECT(kura_audit_read(path, count_detail, &handed, &err) == 0 && handed.n == 1); /* the log still open */
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 2);
}

/* A "refusals" summary: a record of the chain like any other, its count
 * read back. */
static void test_refusals_summary_round_trip(void)
{
    const char *path = log_path("summary");
    struct kura_audit_log *log = open_log(path, 0);
    ASSERT(log && append_n(log, 1) == 0);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_REFUSALS;
    r.decision = KURA_AUDIT_DENY;
    r.reason = "flood";
    r.uid = 1002;
    r.count = 123456;
    EXPECT(kura_audit_is_refusal(&r));
    struct kura_err err = {0};
    ASSERT(kura_audit_append(log, &r, &err) == 0);
    ASSERT(append_n(log, 1) == 0);
    kura_audit_close(log);
    struct kura_audit_entry e;
    ASSERT(parse_line(path, 2, &e) == 0);
    EXPECT(e.rec.event == KURA_AUDIT_REFUSALS && e.rec.count == 123456 && e.rec.uid == 1002);
    EXPECT(strcmp(kura_audit_event_name(e.rec.event), "refusals") == 0);
    kura_audit_entry_free(&e);
    ASSERT(parse_line(path, 1, &e) == 0);
    EXPECT(e.rec.count == KURA_AUDIT_ABSENT);
    kura_audit_entry_free(&e);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 3);
}

/* The reserve: refusals are held back when they would eat into it; allow,
 * close and alert records are not, and the log does not count as failing. */
static void test_reserve_kept_from_refusals(void)
{
    struct kura_audit_record deny, close_r, summary;
    kura_audit_record_init(&deny);
    deny.event = KURA_AUDIT_WRITE_DENIED;
    deny.decision = KURA_AUDIT_DENY;
    deny.uid = 1002;
    kura_audit_record_init(&close_r);
    close_r.event = KURA_AUDIT_CLOSE;
    close_r.bytes = 10;
    kura_audit_record_init(&summary);
    summary.event = KURA_AUDIT_REFUSALS;
    summary.decision = KURA_AUDIT_DENY;
    summary.count = 5;
    struct kura_audit_record revoked = deny;
    revoked.event = KURA_AUDIT_REVOCATION; /* a deny, but not a refusal */
    EXPECT(kura_audit_is_refusal(&deny) && !kura_audit_is_refusal(&close_r) && !kura_audit_is_refusal(&revoked));

    /* No file system has this much free: every refusal is held back. */
    const char *path = log_path("reserve");
    struct kura_audit_options opt = {.host = "node1", .zone = kura_zone_get("Asia/Tokyo", NULL), .reserve = UINT64_MAX / 4};
    struct kura_err err = {0};
    struct kura_audit_log *log = kura_audit_open(path, key, &opt, &err);
    ASSERT(log);
    EXPECT(kura_audit_append(log, &deny, &err) == -1 && err.code == EIO);
    EXPECT_STR_CONTAINS(err.msg, "kept free");
    EXPECT(kura_audit_append(log, &summary, &err) == -1);
    EXPECT(!kura_audit_failing(log));
    EXPECT(kura_audit_append(log, &close_r, &err) == 0);
    EXPECT(append(log, "an allowed open") == 0);
    EXPECT(kura_audit_append(log, &revoked, &err) == 0);
    struct kura_audit_stats st;
    kura_audit_get_stats(log, &st);
    EXPECT(st.held_back == 2 && st.records == 3 && st.failures == 0);
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 3);

    /* With a reserve the disk can give, refusals are written. */
    path = log_path("reserve-room");
    opt.reserve = 1;
    log = kura_audit_open(path, key, &opt, &err);
    ASSERT(log);
    EXPECT(kura_audit_append(log, &deny, &err) == 0 && kura_audit_append(log, &summary, &err) == 0);
    kura_audit_close(log);
    struct stat rst;
    char held[300];
    snprintf(held, sizeof held, "%s/reserve-room/.audit.jsonl.reserve", tmpdir);
    EXPECT(stat(held, &rst) == 0 && rst.st_size == 1 && (rst.st_mode & 0777) == 0600); /* set aside in a file */
    EXPECT(verify(path, &o, &sum) == 0 && sum.records == 2);
}

/* ---- reader -------------------------------------------------------------- */

static void test_parse_refuses_malformed(void)
{
    const char *path = make_log("malformed", 1);
    ASSERT(path);
    struct lines l;
    lines_read(path, &l);
    ASSERT(l.n == 1);
    char good[4096];
    snprintf(good, sizeof good, "%.*s", (int)strlen(l.v[0]) - 1, l.v[0]);
    lines_free(&l);
    struct kura_audit_entry e;
    struct kura_err err = {0};
    ASSERT(kura_audit_entry_parse(good, strlen(good), &e, &err) == 0);
    kura_audit_entry_free(&e);

    struct {
        const char *from, *to, *why;
    } cases[] = {
        {"\"seq\":1", "\"seq\":0", "seq must be"},
        {"\"seq\":1", "\"seq\":\"1\"", "seq must be"},
        {"\"event\":\"open\"", "\"event\":\"opened\"", "unknown event"},
        {"\"decision\":\"allow\"", "\"decision\":\"maybe\"", "decision"},
        {"\"uid\":1001", "\"uid\":-5", "uid must be"},
        {"\"uid\":1001", "\"uidx\":1001", "unknown member"},
        {"\"uid\":1001", "\"path_hex\":\"zz\"", "not lower-case hex"},
        {"\"uid\":1001", "\"user_hex\":\"616\"", "not lower-case hex"},
        {"\"uid\":1001", "\"exe_hex\":\"61\"", "exe_hex without exe"},
        {"\"uid\":1001", "\"path_hex\":\"6100\"", "bad path_hex"},
        {"\"time\":\"", "\"time\":\"x", "time is not"},
        {"\"host\":\"node1\",", "", "required member"},
        {",\"prev\":\"0", ",\"prev\":\"A", "prev is not"},
        {",\"mac\":\"", ",\"mac\":\"x\",\"mac2\":\"", "mac is not"},
        {"{\"seq\"", "[{\"seq\"", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char bad[4200];
        const char *at = strstr(good, cases[i].from);
        if (!at) {
            printf("#   case %zu: pattern missing\n", i);
            EXPECT(at);
            continue;
        }
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - good), good, cases[i].to, at + strlen(cases[i].from));
        memset(&err, 0, sizeof err);
        int rc = kura_audit_entry_parse(bad, strlen(bad), &e, &err);
        EXPECT(rc == -1);
        if (rc == 0)
            kura_audit_entry_free(&e);
        else if (!strstr(err.msg, cases[i].why)) {
            printf("#   case %zu: \"%s\" lacks \"%s\"\n", i, err.msg, cases[i].why);
            EXPECT(!"the message names the problem");
        }
    }
    /* "mac" must end the line, as written. */
    char moved[4200];
    const char *mac = strstr(good, ",\"mac\":");
    ASSERT(mac);
    snprintf(moved, sizeof moved, "%.*s,\"x\":1}", (int)(strlen(good) - 1), good);
    EXPECT(kura_audit_entry_parse(moved, strlen(moved), &e, &err) == -1);
    EXPECT(kura_audit_entry_parse(good, strlen(good) - 1, &e, &err) == -1);
    EXPECT(kura_audit_entry_parse("", 0, &e, &err) == -1);
}

static void test_filter(void)
{
    struct kura_audit_entry e;
    memset(&e, 0, sizeof e);
    kura_audit_record_init(&e.rec);
    e.rec.dataset = "JGAD1";
    e.rec.user = "alice";
    e.rec.time_ms = 5000;
    struct kura_audit_filter all = {0}, ds = {.dataset = "JGAD1"}, other = {.dataset = "JGAD2"},
                             bob = {.user = "bob"}, since = {.since_ms = 5000}, later = {.since_ms = 5001};
    EXPECT(kura_audit_filter_match(&all, &e));
    EXPECT(kura_audit_filter_match(&ds, &e));
    EXPECT(!kura_audit_filter_match(&other, &e));
    EXPECT(!kura_audit_filter_match(&bob, &e));
    EXPECT(kura_audit_filter_match(&since, &e));
    EXPECT(!kura_audit_filter_match(&later, &e));
    e.rec.dataset = NULL;
    EXPECT(!kura_audit_filter_match(&ds, &e));
}

/* ---- the key file ---------------------------------------------------------- */

static void test_key_file(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/audit.key", tmpdir);
    struct kura_err err = {0};
    ASSERT(kura_audit_key_generate(path, &err) == 0);
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    EXPECT((st.st_mode & 07777) == 0600);
    EXPECT(kura_audit_key_generate(path, &err) == -1 && err.code == EEXIST);
    unsigned char *k1 = kura_audit_key_load(path, &err);
    ASSERT(k1);
    unsigned char zero[KURA_AUDIT_KEY_LEN] = {0};
    EXPECT(memcmp(k1, zero, sizeof zero) != 0);
    kura_secure_free(k1);

    ASSERT(chmod(path, 0640) == 0);
    EXPECT(kura_audit_key_load(path, &err) == NULL && err.code == EACCES);
    ASSERT(chmod(path, 0600) == 0);
    int fd = open(path, O_WRONLY);
    ASSERT(fd >= 0);
    EXPECT(pwrite(fd, "Z", 1, 30) == 1); /* not hex */
    close(fd);
    EXPECT(kura_audit_key_load(path, &err) == NULL && err.code == EINVAL);
    ASSERT(truncate(path, 40) == 0);
    EXPECT(kura_audit_key_load(path, &err) == NULL && err.code == EINVAL);
    EXPECT(kura_audit_key_load("/nonexistent/key", &err) == NULL && err.code == ENOENT);
}

/* ---- bulk reads ------------------------------------------------------------ */

/* ---- refusal floods ------------------------------------------------------- */

struct drained {
    uint64_t total;
    size_t calls;
    int fail;                   /* fail this many calls first */
    uid_t uid;
    char dataset[32];
};

static int drain_fn(const struct kura_audit_flood_summary *s, void *ctx)
{
    struct drained *d = ctx;
    d->calls++;
    if (d->fail > 0) {
        d->fail--;
        return -1;
    }
    d->total += s->count;
    d->uid = s->uid;
    snprintf(d->dataset, sizeof d->dataset, "%s", s->dataset ? s->dataset : "-");
    EXPECT(s->first_ms <= s->last_ms);
    return 0;
}

static void test_flood_burst_then_counted(void)
{
    EXPECT(kura_audit_flood_new(3, 0, 1000) == NULL);
    struct kura_audit_flood *f = kura_audit_flood_new(3, 60000, 1000);
    ASSERT(f);
    bool alert;
    int alerts = 0;
    int recorded = 0;
    for (int i = 0; i < 10; i++) {
        recorded += kura_audit_flood_admit(f, 1002, "DS1", 5000 + i, &alert);
        alerts += alert;
    }
    EXPECT(recorded == 3);
    EXPECT(alerts == 1); /* once per flood */
    /* No dataset, or another one, of the same uid: the uid's bound is spent,
     * so counted at once, as a missing id is (an existing hidden one must
     * not cost a write a made-up one does not); no second alert. */
    recorded = 0;
    for (int i = 0; i < 5; i++) {
        recorded += kura_audit_flood_admit(f, 1002, i % 2 ? NULL : "DS2", 5100, &alert);
        EXPECT(!alert);
    }
    EXPECT(recorded == 0);
    /* Another uid: its own bound and its own alert. */
    for (int i = 0; i < 4; i++)
        kura_audit_flood_admit(f, 1003, "DS1", 5200, &alert);
    EXPECT(alert);

    /* Not due yet: nothing summarised. */
    struct drained d = {0};
    EXPECT(kura_audit_flood_drain(f, 5500, false, drain_fn, &d) == 0 && d.calls == 0);
    /* Due (a second after the first counted one): every counted refusal. */
    EXPECT(kura_audit_flood_drain(f, 7000, false, drain_fn, &d) == 4);   /* DS1, DS2, none: 1002's; 1003's */
    EXPECT(d.total == 7 + 3 + 2 + 1);
    /* A failed write keeps the count for the next call, which stops at once. */
    kura_audit_flood_count(f, 1002, "DS1", 8000); /* a record that could not be written */
    kura_audit_flood_admit(f, 1002, "DS1", 8000, &alert);
    d = (struct drained){.fail = 1};
    EXPECT(kura_audit_flood_drain(f, 20000, true, drain_fn, &d) == 0 && d.calls == 1);
    EXPECT(kura_audit_flood_drain(f, 20000, true, drain_fn, &d) == 1);
    EXPECT(d.total == 2 && d.uid == 1002 && strcmp(d.dataset, "DS1") == 0);

    /* A new window: the burst again; the flood ends after a window with
     * nothing counted, and the next one alerts again. */
    EXPECT(kura_audit_flood_admit(f, 1002, "DS1", 70000, &alert) && !alert);
    for (int i = 0; i < 3; i++)
        kura_audit_flood_admit(f, 1002, "DS1", 70001, &alert);
    EXPECT(!alert); /* the flood of the last window goes on */
    kura_audit_flood_drain(f, 200000, true, drain_fn, &d); /* windows pass with nothing counted */
    kura_audit_flood_drain(f, 300000, true, drain_fn, &d);
    for (int i = 0; i < 4; i++)
        kura_audit_flood_admit(f, 1002, "DS1", 400000, &alert);
    EXPECT(alert);
    kura_audit_flood_free(f);

    /* burst 0: everything counted. */
    f = kura_audit_flood_new(0, 60000, 1000);
    EXPECT(!kura_audit_flood_admit(f, 1, NULL, 1, &alert) && alert);
    kura_audit_flood_free(f);
}

struct flood_worker {
    struct kura_audit_flood *f;
    int recorded;
};

static void *flood_main(void *arg)
{
    struct flood_worker *w = arg;
    bool alert;
    for (int i = 0; i < 10000; i++)
        w->recorded += kura_audit_flood_admit(w->f, 1002, "DS1", 1000, &alert);
    return NULL;
}

/* Four threads, 40000 refusals: recorded plus summarised is every one. */
static void test_flood_threads_count_every_refusal(void)
{
    struct kura_audit_flood *f = kura_audit_flood_new(100, 60000, 1000);
    ASSERT(f);
    pthread_t th[4];
    struct flood_worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct flood_worker){.f = f};
        pthread_create(&th[i], NULL, flood_main, &w[i]);
    }
    int recorded = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        recorded += w[i].recorded;
    }
    struct drained d = {0};
    kura_audit_flood_drain(f, 1000, true, drain_fn, &d);
    EXPECT(recorded == 100);
    EXPECT(d.total + (uint64_t)recorded == 40000);
    kura_audit_flood_free(f);
}

static void test_bulk_alert_once_per_day(void)
{
    EXPECT(kura_audit_bulk_new(0) == NULL);
    struct kura_audit_bulk *b = kura_audit_bulk_new(2.0);
    ASSERT(b);
    uint64_t total;
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS1", 100, 150, 100, &total) && total == 150);
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS1", 100, 49, 100, &total) && total == 199); /* short of 2x */
    EXPECT(kura_audit_bulk_add(b, 1001, "DS1", 100, 1, 100, &total) && total == 200);  /* reaches 2x */
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS1", 100, 1000, 100, &total)); /* once per day */
    EXPECT(!kura_audit_bulk_add(b, 1002, "DS1", 100, 100, 100, &total) && total == 100);
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS2", 100, 100, 100, &total) && total == 100);
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS1", 101, 100, 100, &total) && total == 100); /* a new day */
    EXPECT(kura_audit_bulk_add(b, 1001, "DS1", 101, 101, 100, &total));
    EXPECT(!kura_audit_bulk_add(b, 1001, "EMPTY", 101, 1000, 0, &total)); /* nothing to compare with */
    EXPECT(!kura_audit_bulk_add(b, 1001, "BIG", 101, UINT64_MAX, UINT64_MAX, &total) && total == UINT64_MAX);
    EXPECT(!kura_audit_bulk_add(b, 1001, "BIG", 101, UINT64_MAX, UINT64_MAX, &total) && total == UINT64_MAX);
    kura_audit_bulk_free(b);
}

/* An alert read back from the log at a restart is not raised again that
 * day, but the next day's is. */
static void test_bulk_alerted_recalled(void)
{
    struct kura_audit_bulk *b = kura_audit_bulk_new(1.0);
    ASSERT(b);
    kura_audit_bulk_alerted(b, 1001, "DS1", 100);
    EXPECT(!kura_audit_bulk_add(b, 1001, "DS1", 100, 500, 100, NULL));
    EXPECT(kura_audit_bulk_add(b, 1002, "DS1", 100, 500, 100, NULL)); /* another user's is their own */
    EXPECT(kura_audit_bulk_add(b, 1001, "DS1", 101, 500, 100, NULL));
    kura_audit_bulk_free(b);
}

/* A flood alert read back from the log goes on as that flood: no second
 * alert in its window nor while it goes on; one after a quiet window. */
static void test_flood_alerted_recalled(void)
{
    struct kura_audit_flood *f = kura_audit_flood_new(2, 60000, 1000);
    ASSERT(f);
    bool alert;
    kura_audit_flood_alerted(f, 1002, NULL, 10000);
    EXPECT(!kura_audit_flood_admit(f, 1002, NULL, 20000, &alert) && !alert);
    EXPECT(kura_audit_flood_admit(f, 1003, NULL, 20000, &alert) && !alert); /* others count from zero */
    kura_audit_flood_drain(f, 100000, true, drain_fn, &(struct drained){0});
    kura_audit_flood_drain(f, 200000, true, drain_fn, &(struct drained){0}); /* a window with nothing */
    for (int i = 0; i < 3; i++)
        kura_audit_flood_admit(f, 1002, NULL, 200001, &alert);
    EXPECT(alert);
    kura_audit_flood_free(f);
}

struct bulk_worker {
    struct kura_audit_bulk *b;
    int alerts;
};

static void *bulk_main(void *arg)
{
    struct bulk_worker *w = arg;
    for (int i = 0; i < 10000; i++)
        w->alerts += kura_audit_bulk_add(w->b, 1001, "DS1", 7, 10, 1000, NULL);
    return NULL;
}

/* Many threads reading at once: exactly one alert. */
static void test_bulk_threads_one_alert(void)
{
    struct kura_audit_bulk *b = kura_audit_bulk_new(1.0);
    ASSERT(b);
    struct bulk_worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct bulk_worker){.b = b};
        pthread_create(&th[i], NULL, bulk_main, &w[i]);
    }
    int alerts = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        alerts += w[i].alerts;
    }
    uint64_t total;
    kura_audit_bulk_add(b, 1001, "DS1", 7, 0, 1000, &total);
    EXPECT(alerts == 1);
    EXPECT(total == 4 * 10000 * 10);
    kura_audit_bulk_free(b);
}

/* ---- retention (R-LOG-8) ---- */

#define DAY_MS (86400 * INT64_C(1000))
#define NOW_MS INT64_C(1796256000000)           /* 2026-12-03T00:00:00Z */
#define OLD_MS (NOW_MS - 7 * 366 * DAY_MS)      /* past a 5-year retention */
#define RECENT_MS (NOW_MS - 400 * DAY_MS)

static int append_at(struct kura_audit_log *log, int64_t ms, int n)
{
    struct kura_audit_record r;
    alice_open(&r);
    struct kura_err err = {0};
    for (int i = 0; i < n; i++) {
        r.time_ms = ms + i * 1000;
        if (kura_audit_append(log, &r, &err) != 0) {
            printf("#   append: %s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

/* A log rotated at 2000 bytes: 30 records of OLD_MS, then 10 of RECENT_MS. */
static const char *make_aged_log(const char *name)
{
    const char *path = log_path(name);
    struct kura_audit_log *log = open_log(path, 2000);
    if (!log || append_at(log, OLD_MS, 30) != 0 || append_at(log, RECENT_MS, 10) != 0)
        path = NULL;
    kura_audit_close(log);
    return path;
}

static size_t count_files(const char *path)
{
    char **files;
    size_t n;
    struct kura_err err = {0};
    if (kura_audit_files(path, &files, &n, &err) != 0)
        return 0;
    kura_audit_files_free(files, n);
    return n;
}

/* Deletes the log's oldest file, by hand. */
static int remove_oldest(const char *path)
{
    char **files;
    size_t n;
    struct kura_err err = {0};
    if (kura_audit_files(path, &files, &n, &err) != 0)
        return -1;
    int rc = n >= 2 ? unlink(files[0]) : -1;
    kura_audit_files_free(files, n);
    return rc;
}

/* A retention record with this detail, written with the key. */
static int append_retention(struct kura_audit_log *log, const char *detail)
{
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_RETENTION;
    r.time_ms = NOW_MS;
    r.path = "audit.jsonl.9";
    r.count = 1;
    r.detail = detail;
    struct kura_err err = {0};
    return kura_audit_append(log, &r, &err);
}

struct retention_seen {
    size_t records;
    uint64_t last_removed;      /* the highest seq a retention record names */
};

static int retention_entry(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                           void *ctx)
{
    (void)file, (void)line, (void)problem;
    struct retention_seen *s = ctx;
    unsigned long long a, b;
    if (e && e->rec.event == KURA_AUDIT_RETENTION && e->rec.path && strncmp(e->rec.path, "audit.jsonl.", 12) == 0 &&
        e->rec.detail && sscanf(e->rec.detail, "seq=%llu..%llu", &a, &b) == 2 && e->rec.count == (int64_t)(b - a + 1)) {
        s->records++;
        s->last_removed = b > s->last_removed ? b : s->last_removed;
    }
    return 0;
}

static void test_retention_removes_old_files_verify_accounts(void)
{
    const char *path = make_aged_log("retain");
    ASSERT(path);
    size_t before = count_files(path);
    ASSERT(before >= 5);
    struct kura_audit_log *log = open_log(path, 2000);
    ASSERT(log);
    size_t removed = 99;
    struct kura_err err = {0};
    EXPECT(kura_audit_retain(log, 0, NOW_MS, &removed, &err) == 0 && removed == 0);
    EXPECT(kura_audit_retain(log, 10, NOW_MS, &removed, &err) == 0 && removed == 0);
    ASSERT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0);
    EXPECT(removed >= 2);
    EXPECT(count_files(path) < before); /* (the records written may have rotated the live file) */
    /* The file where old records meet recent ones is kept: its last record is recent. */
    EXPECT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0 && removed == 0);
    kura_audit_close(log);

    struct retention_seen seen = {0};
    EXPECT(kura_audit_read(path, retention_entry, &seen, &err) == 0);
    struct outcome o;
    struct kura_audit_summary sum;
    ASSERT(verify(path, &o, &sum) == 0);
    EXPECT(o.bad == 0);
    EXPECT(sum.first_seq > 1 && sum.removed_last == sum.first_seq - 1);
    EXPECT(sum.removed_ms == NOW_MS);
    EXPECT(seen.last_removed == sum.removed_last);
    EXPECT(sum.last_seq == 40 + seen.records);
    printf("#   removed %zu file(s), seq 1..%llu; %llu records left\n", seen.records,
           (unsigned long long)sum.removed_last, (unsigned long long)sum.records);

    /* The oldest file kept, deleted by hand: nothing accounts for it. */
    EXPECT(remove_oldest(path) == 0);
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "no retention record accounts for them");
}

/* A file deleted by hand from a log that never removed any: refused (it
 * was a note before retention records existed). */
static void test_retention_missing_oldest_file_refused(void)
{
    const char *path = make_aged_log("retain-none");
    ASSERT(path);
    EXPECT(remove_oldest(path) == 0);
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "no retention record accounts for them");
}

/* A retention record for records still young, written with the key (a
 * misused key, or a clock set forward): refused, whether or not the file
 * is gone; a tampered old file is not removed. */
static void test_retention_young_removal_refused(void)
{
    const char *path = log_path("retain-young");
    struct kura_audit_log *log = open_log(path, 2000);
    ASSERT(log);
    ASSERT(append_at(log, RECENT_MS, 30) == 0);
    char **files;
    size_t n;
    struct kura_err err = {0};
    ASSERT(kura_audit_files(path, &files, &n, &err) == 0);
    ASSERT(n >= 3);
    struct kura_audit_entry first_kept;
    char *second = strdup(files[1]);
    kura_audit_files_free(files, n);
    ASSERT(second && parse_line(second, 1, &first_kept) == 0);
    char detail[256];
    snprintf(detail, sizeof detail, "seq=1..%llu last_ms=%lld last_hash=%s retention_years=5",
             (unsigned long long)first_kept.seq - 1, (long long)RECENT_MS, first_kept.prev);
    kura_audit_entry_free(&first_kept);
    ASSERT(append_retention(log, detail) == 0);
    kura_audit_close(log);
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "not past their retention");
    EXPECT(remove_oldest(path) == 0);
    EXPECT(verify(path, &o, NULL) == -1);
    EXPECT_STR_CONTAINS(o.what, "before their retention");
    free(second);

    /* An old file with an edited record stays. */
    path = make_aged_log("retain-tampered");
    ASSERT(path);
    ASSERT(kura_audit_files(path, &files, &n, &err) == 0);
    struct lines l;
    lines_read(files[0], &l);
    ASSERT(l.n > 1);
    char *p = strstr(l.v[1], "\"uid\":1001");
    ASSERT(p);
    p[7] = '2';
    lines_write(files[0], &l);
    lines_free(&l);
    size_t before = n, removed = 99;
    kura_audit_files_free(files, n);
    log = open_log(path, 2000);
    ASSERT(log);
    EXPECT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0 && removed == 0);
    kura_audit_close(log);
    EXPECT(count_files(path) == before);
}

/* kill -9 between a retention record and the removal: the file is still
 * there, verify passes; the next call records it again and removes it. */
static void test_retention_crash_before_removal(void)
{
    const char *path = make_aged_log("retain-crash");
    ASSERT(path);
    char **files;
    size_t n;
    struct kura_err err = {0};
    ASSERT(kura_audit_files(path, &files, &n, &err) == 0);
    ASSERT(n >= 3);
    struct lines l;
    lines_read(files[0], &l);
    struct kura_audit_entry last, next;
    ASSERT(l.n > 0 && kura_audit_entry_parse(l.v[l.n - 1], strlen(l.v[l.n - 1]) - 1, &last, &err) == 0);
    ASSERT(parse_line(files[1], 1, &next) == 0);
    char detail[256];
    snprintf(detail, sizeof detail, "seq=1..%llu last_ms=%lld last_hash=%s retention_years=5",
             (unsigned long long)last.seq, (long long)last.rec.time_ms, next.prev);
    kura_audit_entry_free(&last);
    kura_audit_entry_free(&next);
    lines_free(&l);
    kura_audit_files_free(files, n);
    struct kura_audit_log *log = open_log(path, 2000);
    ASSERT(log);
    ASSERT(append_retention(log, detail) == 0);
    struct outcome o;
    EXPECT(verify(path, &o, NULL) == 0);
    size_t removed = 0;
    EXPECT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0 && removed >= 2);
    kura_audit_close(log);
    struct kura_audit_summary sum;
    EXPECT(verify(path, &o, &sum) == 0);
    EXPECT(sum.removed_last >= 2 && sum.first_seq == sum.removed_last + 1);
}

/* More files due than a batch holds records (256): one retention record
 * each, written in one durable batch, every file removed. */
static void test_retention_more_files_than_a_batch(void)
{
    const char *path = log_path("retain-many");
    struct kura_audit_log *log = open_log(path, 1); /* a file per batch */
    ASSERT(log);
    ASSERT(append_at(log, OLD_MS, 300) == 0 && append_at(log, RECENT_MS, 2) == 0);
    size_t removed = 0;
    struct kura_err err = {0};
    ASSERT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0);
    EXPECT(removed == 300);
    kura_audit_close(log);
    struct outcome o;
    struct kura_audit_summary sum;
    ASSERT(verify(path, &o, &sum) == 0);
    EXPECT(o.bad == 0);
    EXPECT(sum.first_seq == 301 && sum.removed_last == 300);
}

/* A file holding retention records is itself removed years later: the
 * records it held are written again first, so verify still accounts for
 * every removal since seq 1. */
static void test_retention_of_the_retention_records(void)
{
    const char *path = log_path("retain-twice");
    struct kura_audit_log *log = open_log(path, 1);
    ASSERT(log);
    ASSERT(append_at(log, OLD_MS, 5) == 0 && append_at(log, RECENT_MS, 2) == 0);
    size_t removed = 0;
    struct kura_err err = {0};
    ASSERT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0 && removed == 5);
    int64_t later = NOW_MS + 6 * 366 * DAY_MS; /* the first removal's records are past retention too */
    ASSERT(append_at(log, later - 10 * DAY_MS, 2) == 0);
    ASSERT(kura_audit_retain(log, 5, later, &removed, &err) == 0);
    EXPECT(removed >= 3); /* the two recent files and the one with the first retention records */
    kura_audit_close(log);
    struct retention_seen seen = {0};
    EXPECT(kura_audit_read(path, retention_entry, &seen, &err) == 0);
    EXPECT(seen.records >= 5 + 3); /* the first removal's five, written again, and the second's */
    struct outcome o;
    struct kura_audit_summary sum;
    ASSERT(verify(path, &o, &sum) == 0);
    EXPECT(o.bad == 0);
    EXPECT(sum.first_seq > 1 && sum.removed_last == sum.first_seq - 1);
}

/* Retention while another thread appends and each append rotates the log
 * (every name moves up by one): what is removed is always the oldest files
 * of one chain, whatever names they had while the plan read them; every
 * old file goes, and verify passes. */
struct rotating_writer {
    struct kura_audit_log *log;
    atomic_bool stop;
    int appended;
};

static void *rotating_main(void *arg)
{
    struct rotating_writer *w = arg;
    while (!atomic_load(&w->stop) && append_at(w->log, RECENT_MS, 1) == 0)
        w->appended++;
    return NULL;
}

static void test_retention_while_the_log_rotates(void)
{
    const char *path = log_path("retain-rotating");
    struct kura_audit_log *log = open_log(path, 1);
    ASSERT(log);
    ASSERT(append_at(log, OLD_MS, 300) == 0);
    struct rotating_writer w = {.log = log};
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, rotating_main, &w) == 0);
    while (w.appended < 5)
        usleep(1000);
    size_t total = 0, removed = 0;
    struct kura_err err = {0};
    int tries = 0;
    for (; tries < 400 && total < 300; tries++) {
        EXPECT(kura_audit_retain(log, 5, NOW_MS, &removed, &err) == 0);
        total += removed;
    }
    int during = w.appended;
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    kura_audit_close(log);
    printf("#   removed %zu of 300 old files in %d call(s) while %d appends rotated the log\n", total, tries, during);
    EXPECT(total == 300);
    struct outcome o;
    struct kura_audit_summary sum;
    ASSERT(verify(path, &o, &sum) == 0);
    EXPECT(o.bad == 0);
    EXPECT(sum.removed_last == sum.first_seq - 1);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kura-audit-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    randombytes_buf(key, sizeof key);
    RUN(test_record_fields_round_trip);
    RUN(test_absent_fields_left_out);
    RUN(test_hostile_strings_escaped_and_round_trip);
    RUN(test_long_fields_cut_and_named);
    RUN(test_threads_group_commit);
    RUN(test_closes_handed_to_the_writer);
    RUN(test_a_close_handed_over_last_is_written);
    RUN(test_closes_handed_over_rotations_and_reopens);
    RUN(test_close_writer_writes_lone_closes);
    RUN(test_records_serving_nothing_are_written_not_synced);
    RUN(test_close_writer_syncs_what_no_batch_did);
    RUN(test_head_waits_for_the_sync);
    RUN(test_head_behind_a_moved_file);
    RUN(test_close_writer_lingering_closes);
    RUN(test_close_writer_threads);
    RUN(test_appends_wait_out_reopens);
    RUN(test_close_rides_next_sync);
    RUN(test_read_tail);
    RUN(test_two_writers_take_turns);
    RUN(test_two_processes_one_chain);
    RUN(test_verify_detects_edit);
    RUN(test_verify_detects_deletion);
    RUN(test_verify_detects_insertion);
    RUN(test_verify_detects_swap);
    RUN(test_verify_detects_splice);
    RUN(test_verify_detects_truncation);
    RUN(test_verify_wrong_key_and_missing_head);
    RUN(test_recovers_after_crash);
    RUN(test_kill_mid_batch);
    RUN(test_size_rotation_keeps_chain);
    RUN(test_read_after_in_batches);
    RUN(test_durable_read_waits_for_the_sync);
    RUN(test_chain_check_over_lines);
    RUN(test_reopen_after_logrotate);
    RUN(test_fail_closed_on_full_disk);
    RUN(test_full_disk_with_handed_closes);
    RUN(test_close_while_a_reopen_holds_the_file);
    RUN(test_refusals_summary_round_trip);
    RUN(test_reserve_kept_from_refusals);
    RUN(test_parse_refuses_malformed);
    RUN(test_filter);
    RUN(test_key_file);
    RUN(test_flood_burst_then_counted);
    RUN(test_flood_threads_count_every_refusal);
    RUN(test_bulk_alert_once_per_day);
    RUN(test_bulk_alerted_recalled);
    RUN(test_flood_alerted_recalled);
    RUN(test_bulk_threads_one_alert);
    RUN(test_retention_removes_old_files_verify_accounts);
    RUN(test_retention_missing_oldest_file_refused);
    RUN(test_retention_young_removal_refused);
    RUN(test_retention_crash_before_removal);
    RUN(test_retention_more_files_than_a_batch);
    RUN(test_retention_of_the_retention_records);
    RUN(test_retention_while_the_log_rotates);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return unit_done();
}
