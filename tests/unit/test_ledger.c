/* The per-dataset ledger (R-LOG-3): appends form a hash chain, and verify
 * finds edited, deleted, inserted, swapped and cut-off records, naming the
 * first bad line. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kura/fsutil.h"
#include "kura/ledger.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[] = "/tmp/kura-test-ledger.XXXXXX";
static int path_counter;

#define T0 INT64_C(1775001600) /* 2026-04-01T00:00:00Z */
#define ZEROS "0000000000000000000000000000000000000000000000000000000000000000"

static const char *new_path(void)
{
    static char buf[600];
    snprintf(buf, sizeof buf, "%s/ledger-%d.jsonl", tmpdir, ++path_counter);
    return buf;
}

static struct kura_ledger_change change(const char *action, const char *target, const char *detail)
{
    return (struct kura_ledger_change){.actor = "alice", .uid = 1001, .action = action, .target = target,
                                       .detail = detail, .before = "", .after = "co-investigator"};
}

/* A ledger of n records; returns its path. */
static const char *make_ledger(int n, char head[KURA_HASH_HEX_LEN + 1])
{
    const char *p = new_path();
    for (int i = 0; i < n; i++) {
        char target[32];
        snprintf(target, sizeof target, "user%d", i + 1);
        struct kura_ledger_change c = change("user add", target, "approval AGD-1");
        if (kura_ledger_append(p, &c, T0 + i, kura_zone_get("Asia/Tokyo", NULL), head, NULL) != 0)
            return NULL;
    }
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    if (kura_read_file(path, 1 << 20, &d, len, NULL) != 0)
        return NULL;
    return d;
}

/* The start of line no (1-based) in text, and its length without '\n'. */
static const char *line_at(const char *text, int no, size_t *n)
{
    const char *p = text;
    for (int i = 1; i < no; i++)
        p = strchr(p, '\n') + 1;
    *n = (size_t)(strchr(p, '\n') - p);
    return p;
}

struct collected {
    int n;
    int64_t seqs[64];
    char targets[64][32];
    char last_detail[256];
    int stop_at;
};

static int collect(const struct kura_ledger_record *r, void *arg)
{
    struct collected *c = arg;
    c->seqs[c->n] = r->seq;
    snprintf(c->targets[c->n], sizeof c->targets[0], "%s", r->target);
    snprintf(c->last_detail, sizeof c->last_detail, "%s", r->detail);
    c->n++;
    return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void test_append_verify_read(void)
{
    char head[KURA_HASH_HEX_LEN + 1], vhead[KURA_HASH_HEX_LEN + 1];
    const char *p = make_ledger(5, head);
    ASSERT(p);
    size_t n = 0;
    struct kura_err err = {0};
    ASSERT(kura_ledger_verify(p, &n, vhead, &err) == 0);
    EXPECT(n == 5);
    EXPECT(strcmp(head, vhead) == 0);
    struct collected c = {0};
    ASSERT(kura_ledger_read(p, collect, &c, &err) == 0);
    EXPECT(c.n == 5 && c.seqs[0] == 1 && c.seqs[4] == 5 && strcmp(c.targets[2], "user3") == 0);
    struct collected s = {.stop_at = 2};
    EXPECT(kura_ledger_read(p, collect, &s, &err) == 7);
    EXPECT(s.n == 2);
    struct stat st;
    ASSERT(stat(p, &st) == 0);
    EXPECT((st.st_mode & 07777) == 0640);
}

static void test_record_form_and_hash(void)
{
    const char *p = make_ledger(2, NULL);
    ASSERT(p);
    size_t len;
    char *text = slurp(p, &len);
    ASSERT(text);
    size_t n1, n2;
    const char *l1 = line_at(text, 1, &n1), *l2 = line_at(text, 2, &n2);
    const char *want = "{\"seq\":1,\"time\":\"2026-04-01T09:00:00+09:00\",\"actor\":\"alice\",\"uid\":1001,"
                       "\"action\":\"user add\",\"target\":\"user1\",\"detail\":\"approval AGD-1\",\"before\":\"\","
                       "\"after\":\"co-investigator\",\"prev\":\"" ZEROS "\",\"hash\":\"";
    EXPECT(strncmp(l1, want, strlen(want)) == 0);
    /* hash = SHA-256 of the line without its hash member, computed here independently. */
    const char *hm = strstr(l1, ",\"hash\":\"");
    ASSERT(hm && (size_t)(hm - l1) + 75 == n1);
    char canon[2048];
    size_t clen = (size_t)(hm - l1);
    memcpy(canon, l1, clen);
    canon[clen++] = '}';
    unsigned char d[32];
    char hex[65];
    crypto_hash_sha256(d, (unsigned char *)canon, clen);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    EXPECT(strncmp(hm + 9, hex, 64) == 0);
    /* The second record's prev is the first's hash. */
    char prevm[80];
    snprintf(prevm, sizeof prevm, "\"prev\":\"%s\"", hex);
    EXPECT(memmem(l2, n2, prevm, strlen(prevm)) != NULL);
    EXPECT(memmem(l2, n2, "\"seq\":2,", 8) != NULL);
    free(text);
}

static void test_hostile_strings_round_trip(void)
{
    const char *p = new_path();
    const char *detail = "\"quoted\" \\ back\\slash </script> \xe7\xa0\x94\xe7\xa9\xb6 \xe2\x80\xa8 {\"x\":1}";
    struct kura_ledger_change c = change("dataset add", "JGAD1", detail);
    c.before = "2026-04-01..2027-03-31";
    ASSERT(kura_ledger_append(p, &c, T0, NULL, NULL, NULL) == 0);
    struct collected got = {0};
    struct kura_err err = {0};
    ASSERT(kura_ledger_read(p, collect, &got, &err) == 0);
    EXPECT(got.n == 1 && strcmp(got.last_detail, detail) == 0);
    size_t len;
    char *text = slurp(p, &len);
    ASSERT(text);
    EXPECT(strchr(text, '\n') == text + len - 1); /* one line, whatever the content */
    EXPECT(strstr(text, "\\u2028") != NULL);
    free(text);
}

/* kura_ledger_format gives back each verified record as its file line. */
struct formatted {
    int n, same;
    const char *text;
};

static int format_each(const struct kura_ledger_record *r, void *arg)
{
    struct formatted *f = arg;
    char buf[KURA_LEDGER_LINE_MAX + 1];
    size_t len = 0, n;
    const char *line = line_at(f->text, ++f->n, &n);
    if (kura_ledger_format(r, buf, sizeof buf, &len, NULL) == 0 && len == n && memcmp(buf, line, n) == 0 &&
        buf[len] == '\0')
        f->same++;
    char small[64];
    if (kura_ledger_format(r, small, sizeof small, NULL, NULL) == 0) /* too small: refused */
        f->same = -1000;
    return 0;
}

static void test_format_gives_the_file_line(void)
{
    const char *p = new_path();
    struct kura_ledger_change c = change("dataset add", "JGAD1", "\"quoted\" \xe7\xa0\x94 \xe2\x80\xa8");
    ASSERT(kura_ledger_append(p, &c, T0, NULL, NULL, NULL) == 0);
    c = change("user add", "bob", "approval AGD-1");
    ASSERT(kura_ledger_append(p, &c, T0 + 1, kura_zone_get("Asia/Tokyo", NULL), NULL, NULL) == 0);
    size_t len;
    char *text = slurp(p, &len);
    ASSERT(text);
    struct formatted f = {.text = text};
    struct kura_err err = {0};
    EXPECT(kura_ledger_read(p, format_each, &f, &err) == 0);
    EXPECT(f.n == 2 && f.same == 2);
    free(text);
}

static void test_append_refuses_bad_changes(void)
{
    const char *p = make_ledger(1, NULL);
    ASSERT(p);
    static const char *const want[] = {"control character", "control character", "not valid UTF-8",
                                       "actor", "action is empty", "longer than 1024", "missing field"};
    char big[KURA_LEDGER_FIELD_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < (int)(sizeof want / sizeof want[0]); i++) {
        struct kura_ledger_change c = change("user add", "bob", "ok");
        switch (i) {
        case 0: c.detail = "two\nlines"; break;
        case 1: c.target = "\x1b[2J"; break;
        case 2: c.after = "\xff"; break;
        case 3: c.actor = "not a name"; break;
        case 4: c.action = ""; break;
        case 5: c.detail = big; break;
        case 6: c.before = NULL; break;
        }
        struct kura_err err = {0};
        EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == -1);
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, want[i]);
    }
    size_t n = 0;
    ASSERT(kura_ledger_verify(p, &n, NULL, NULL) == 0);
    EXPECT(n == 1);
}

/* The edges of what append accepts: every C0 control and DEL is refused
 * (a ledger is read on terminals), a field of exactly the maximum is kept,
 * uid (uid_t)-1 ("no uid") is refused, and a new ledger is 0640 whatever
 * the umask (the group reads it). */
static void test_append_field_edges(void)
{
    const char *p = make_ledger(1, NULL);
    ASSERT(p);
    static const char *const ctl[] = {"unit\x1fsep", "del\x7f", "nul-less\x01"};
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        struct kura_ledger_change c = change("user add", "bob", ctl[i]);
        struct kura_err err = {0};
        EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == -1);
        EXPECT_STR_CONTAINS(err.msg, "control character");
    }
    char max[KURA_LEDGER_FIELD_MAX + 1];
    memset(max, 'x', sizeof max - 1);
    max[sizeof max - 1] = '\0';
    struct kura_ledger_change c = change("user add", "bob", max);
    struct kura_err err = {0};
    EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == 0);
    c = change("user add", "bob", "ok");
    c.uid = (uid_t)-1;
    EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "uid out of range");
    c.uid = (uid_t)-2;
    EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == 0);
    size_t n = 0;
    ASSERT(kura_ledger_verify(p, &n, NULL, NULL) == 0);
    EXPECT(n == 3);
    mode_t old = umask(077);
    const char *q = new_path();
    c = change("user add", "bob", "ok");
    EXPECT(kura_ledger_append(q, &c, T0, NULL, NULL, NULL) == 0);
    umask(old);
    struct stat st;
    ASSERT(stat(q, &st) == 0);
    EXPECT((st.st_mode & 07777) == 0640);
}

static void test_empty_and_missing(void)
{
    const char *p = new_path();
    ASSERT(kura_write_file_atomic(p, "", 0, 0640, NULL) == 0);
    size_t n = 9;
    char head[KURA_HASH_HEX_LEN + 1];
    ASSERT(kura_ledger_verify(p, &n, head, NULL) == 0);
    EXPECT(n == 0 && strcmp(head, ZEROS) == 0);
    struct kura_err err = {0};
    EXPECT(kura_ledger_verify(new_path(), &n, head, &err) == -1);
    EXPECT(err.code == ENOENT);
}

/* Verifies text built from the lines of a 5-record ledger. */
static int verify_text(const char *text, struct kura_err *err)
{
    return kura_ledger_scan("t.jsonl", text, strlen(text), NULL, NULL, NULL, NULL, err);
}

static char ledger5[8192];
static const char *lines5[6];
static size_t lens5[6];

static void load_ledger5(void)
{
    const char *p = make_ledger(5, NULL);
    size_t len;
    char *text = p ? slurp(p, &len) : NULL;
    if (!text || len >= sizeof ledger5)
        abort();
    memcpy(ledger5, text, len + 1);
    free(text);
    for (int i = 1; i <= 5; i++)
        lines5[i] = line_at(ledger5, i, &lens5[i]);
}

/* Joins the given lines of ledger5 (0 ends the list), each with '\n'. */
static const char *join(const int *order)
{
    static char buf[8192];
    size_t o = 0;
    for (int i = 0; order[i]; i++) {
        memcpy(buf + o, lines5[order[i]], lens5[order[i]]);
        o += lens5[order[i]];
        buf[o++] = '\n';
    }
    buf[o] = '\0';
    return buf;
}

static void test_verify_detects_tampering(void)
{
    struct kura_err err = {0};
    ASSERT(verify_text(ledger5, &err) == 0);
    static const struct {
        int order[8];
        const char *want;
    } cases[] = {
        {{1, 2, 4, 5, 0}, "t.jsonl:3: seq 4 where 3 was expected"},         /* deleted */
        {{1, 2, 3, 4, 0}, NULL},                                            /* cut at a record end: valid */
        {{1, 2, 2, 3, 4, 5, 0}, "t.jsonl:3: seq 2 where 3 was expected"},   /* inserted (replayed) */
        {{1, 3, 2, 4, 5, 0}, "t.jsonl:2: seq 3 where 2 was expected"},      /* swapped */
        {{2, 3, 4, 5, 0}, "t.jsonl:1: seq 2 where 1 was expected"},         /* first removed */
        {{5, 0}, "t.jsonl:1: seq 5 where 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = verify_text(join(cases[i].order), &err);
        if (!cases[i].want) {
            EXPECT(rc == 0);
            continue;
        }
        EXPECT(rc == -1);
        EXPECT_STR_CONTAINS(err.msg, cases[i].want);
    }
}

static void test_verify_detects_edits(void)
{
    struct kura_err err = {0};
    char text[8192];
    /* Edit one byte of a value in line 3. */
    strcpy(text, ledger5);
    char *l3 = (char *)line_at(text, 3, &(size_t){0});
    char *t = strstr(l3, "user3");
    ASSERT(t);
    t[4] = '9';
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:3: hash does not match the record");
    /* The same edit with the record's hash recomputed: the next line's prev breaks. */
    char canon[4096];
    size_t n3;
    line_at(text, 3, &n3);
    char *hm = memmem(l3, n3, ",\"hash\":\"", 9);
    ASSERT(hm);
    size_t clen = (size_t)(hm - l3);
    memcpy(canon, l3, clen);
    canon[clen++] = '}';
    unsigned char d[32];
    char hex[65];
    crypto_hash_sha256(d, (unsigned char *)canon, clen);
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    memcpy(hm + 9, hex, 64);
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:4: prev does not match line 3's hash");
    /* Edit seq to hide a deletion: the hash breaks. */
    strcpy(text, join((int[]){1, 2, 4, 5, 0}));
    char *s4 = strstr(text, "\"seq\":4");
    ASSERT(s4);
    s4[6] = '3';
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:3: hash does not match");
}

static void test_verify_detects_truncation_and_malformed_lines(void)
{
    struct kura_err err = {0};
    char text[8192];
    size_t len = strlen(ledger5);
    /* Cut inside the last line, and cut just its line end. */
    memcpy(text, ledger5, len - 20);
    text[len - 20] = '\0';
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:5: last line has no line end");
    memcpy(text, ledger5, len - 1);
    text[len - 1] = '\0';
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:5: last line has no line end");
    /* Cut inside a middle line. */
    size_t n2;
    const char *l2 = line_at(ledger5, 2, &n2);
    size_t keep = (size_t)(l2 - ledger5) + n2 / 2;
    memcpy(text, ledger5, keep);
    strcpy(text + keep, "\n");
    strcat(text, line_at(ledger5, 3, &(size_t){0}));
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:2: not a JSON object");
    static const struct {
        const char *from, *to;
        const char *want;
    } edits[] = {
        {"\"seq\":1,", "\"seq\": 1,", "t.jsonl:1: record is not in canonical form"},
        {"\"seq\":1,\"time\"", "\"time\"", "t.jsonl:1: 10 members where a record has 11"},
        {"{\"seq\":1,", "{\"seq\":1,\"x\":1,", "t.jsonl:1: 12 members"},
        {"\"actor\":\"alice\",\"uid\":1001", "\"uid\":1001,\"actor\":\"alice\"", "t.jsonl:1: member 3 is \"uid\""},
        {"\"uid\":1001", "\"uid\":\"1001\"", "t.jsonl:1: uid must be an integer"},
        {"\"seq\":1,", "\"seq\":\"1\",", "t.jsonl:1: seq must be an integer"},
        {"\"actor\":\"alice\"", "\"actor\":\"al\\u0069ce\"", "t.jsonl:1: record is not in canonical form"},
        {"\"detail\":\"approval AGD-1\"", "\"detail\":\"approval AGD\\/1\"", "t.jsonl:1: record is not in canonical"},
        {"\"time\":\"2026-04-01T09:00:00+09:00\"", "\"time\":\"2026-04-01\"", "t.jsonl:1: time is not an RFC 3339"},
        {"\"actor\":\"alice\"", "\"actor\":\"-x\"", "t.jsonl:1: actor"},
        {"\"uid\":1001", "\"uid\":-1", "t.jsonl:1: uid out of range"},
        {"\"prev\":\"0000", "\"prev\":\"000G", "t.jsonl:1: prev and hash must be 64 lowercase hex"},
        {"\"prev\":\"0000", "\"prev\":\"1000", "t.jsonl:1: hash does not match"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        size_t n1;
        const char *l1 = line_at(ledger5, 1, &n1);
        char line[4096];
        memcpy(line, l1, n1);
        line[n1] = '\0';
        char *at = strstr(line, edits[i].from);
        ASSERT(at);
        char out[4200];
        snprintf(out, sizeof out, "%.*s%s%s\n", (int)(at - line), line, edits[i].to, at + strlen(edits[i].from));
        EXPECT(verify_text(out, &err) == -1);
        EXPECT_STR_CONTAINS(err.msg, edits[i].want);
    }
    /* An empty line, a CRLF line end, and a first record whose prev is not zeros. */
    snprintf(text, sizeof text, "%.*s\n\n", (int)lens5[1], lines5[1]);
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:2: empty line");
    snprintf(text, sizeof text, "%.*s\r\n", (int)lens5[1], lines5[1]);
    EXPECT(verify_text(text, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.jsonl:1: record is not in canonical form");
}

/* A 2-record ledger whose last line lost its last 10 bytes; *text and
 * *len: the whole ledger (free *text). NULL on failure. */
static const char *torn_ledger(char **text, size_t *len)
{
    const char *p = make_ledger(2, NULL);
    if (!p || !(*text = slurp(p, len)))
        return NULL;
    if (truncate(p, (off_t)(*len - 10)) != 0) {
        free(*text);
        return NULL;
    }
    return p;
}

static int count_record(const struct kura_ledger_record *r, void *arg)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

struct tail {
    const char *path, *bytes;
    size_t len;
};

static void *finish_tail(void *arg)
{
    const struct tail *t = arg;
    usleep(30000);
    int fd = open(t->path, O_WRONLY | O_APPEND);
    if (fd >= 0) {
        if (write(fd, t->bytes, t->len) != (ssize_t)t->len)
            perror("finish_tail");
        close(fd);
    }
    return NULL;
}

/* A reader holding no lock (a view) that meets a record still being
 * appended reads it whole once it is; one cut short for good fails. */
static void test_read_waits_out_an_append(void)
{
    char *text;
    size_t len;
    const char *p = torn_ledger(&text, &len);
    ASSERT(p);
    struct tail t = {.path = p, .bytes = text + len - 10, .len = 10};
    pthread_t th;
    ASSERT(pthread_create(&th, NULL, finish_tail, &t) == 0);
    int n = 0;
    struct kura_err err = {0};
    EXPECT(kura_ledger_read(p, count_record, &n, &err) == 0);
    EXPECT(n == 2);
    pthread_join(th, NULL);
    ASSERT(truncate(p, (off_t)(len - 10)) == 0);
    n = 0;
    EXPECT(kura_ledger_read(p, count_record, &n, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "last line has no line end");
    free(text);
}

static void test_append_refuses_torn_last_line(void)
{
    char *text;
    size_t len;
    const char *p = torn_ledger(&text, &len);
    ASSERT(p);
    struct kura_ledger_change c = change("user remove", "bob", "");
    struct kura_err err = {0};
    EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "last line has no line end");
    struct stat st;
    ASSERT(stat(p, &st) == 0);
    EXPECT((size_t)st.st_size == len - 10); /* untouched */
    /* A last line edited by hand is not extended either. */
    text[len - 20] = text[len - 20] == 'a' ? 'b' : 'a';
    ASSERT(kura_write_file_atomic(p, text, len, 0640, NULL) == 0);
    EXPECT(kura_ledger_append(p, &c, T0, NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "last record");
    free(text);
}

static void test_concurrent_appenders_keep_the_chain(void)
{
    const char *p = new_path();
    char path[600];
    snprintf(path, sizeof path, "%s", p);
    enum { PROCS = 4, EACH = 10 };
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = fork();
        ASSERT(pids[i] >= 0);
        if (pids[i] == 0) {
            for (int j = 0; j < EACH; j++) {
                char target[32];
                snprintf(target, sizeof target, "p%d-%d", i, j);
                struct kura_ledger_change c = change("user add", target, "");
                if (kura_ledger_append(path, &c, T0 + j, NULL, NULL, NULL) != 0)
                    _exit(1);
            }
            _exit(0);
        }
    }
    int failed = 0;
    for (int i = 0; i < PROCS; i++) {
        int status;
        waitpid(pids[i], &status, 0);
        failed += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    EXPECT(failed == 0);
    size_t n = 0;
    struct kura_err err = {0};
    EXPECT(kura_ledger_verify(path, &n, NULL, &err) == 0);
    EXPECT(n == PROCS * EACH);
}

/* An import's record names every delivery key by fingerprint, and what is
 * written reads back exactly; anything else reads as no keys. */
static void test_delivery_keys_round_trip(void)
{
    struct kura_err err = {0};
    struct kura_ledger_delivery_key keys[KURA_LEDGER_DELIVERY_KEYS_MAX + 1], got[KURA_LEDGER_DELIVERY_KEYS_MAX];
    for (size_t i = 0; i <= KURA_LEDGER_DELIVERY_KEYS_MAX; i++) {
        snprintf(keys[i].role, sizeof keys[i].role, "%s", i % 2 ? "server" : "dataset");
        memset(keys[i].fp, "0123456789abcdef"[i % 16], KURA_HASH_HEX_LEN);
        keys[i].fp[KURA_HASH_HEX_LEN] = '\0';
        keys[i].files = 1000 * i + 1;
    }
    char buf[KURA_LEDGER_FIELD_MAX];
    bool removal = true;
    ASSERT(kura_ledger_delivery_format(keys, 2, false, buf, sizeof buf, &err) == 0);
    EXPECT(strncmp(buf, "archive delivery to dataset key 0000", 36) == 0);
    EXPECT_STR_CONTAINS(buf, "(1 file(s)), server key 1111");
    EXPECT_STR_CONTAINS(buf, "(1001 file(s)); source kept");
    EXPECT(kura_ledger_delivery_parse(buf, got, &removal) == 2 && !removal);
    for (size_t i = 0; i < 2; i++)
        EXPECT(strcmp(got[i].role, keys[i].role) == 0 && strcmp(got[i].fp, keys[i].fp) == 0 &&
               got[i].files == keys[i].files);
    /* The most keys fit a ledger field, with more context after them. */
    ASSERT(kura_ledger_delivery_format(keys, KURA_LEDGER_DELIVERY_KEYS_MAX, true, buf, sizeof buf - 100, &err) == 0);
    size_t len = strlen(buf);
    snprintf(buf + len, sizeof buf - len, ", segments not verified, samples from /x; via sudo");
    EXPECT(kura_ledger_delivery_parse(buf, got, &removal) == KURA_LEDGER_DELIVERY_KEYS_MAX && removal);
    for (size_t i = 0; i < KURA_LEDGER_DELIVERY_KEYS_MAX; i++)
        EXPECT(strcmp(got[i].role, keys[i].role) == 0 && strcmp(got[i].fp, keys[i].fp) == 0 &&
               got[i].files == keys[i].files);
    /* Refused: no keys, too many, a malformed key, a buffer too small. */
    EXPECT(kura_ledger_delivery_format(keys, 0, false, buf, sizeof buf, &err) == -1 && err.code == EINVAL);
    EXPECT(kura_ledger_delivery_format(keys, KURA_LEDGER_DELIVERY_KEYS_MAX + 1, false, buf, sizeof buf, &err) == -1);
    struct kura_ledger_delivery_key bad = keys[0];
    bad.fp[3] = 'G';
    EXPECT(kura_ledger_delivery_format(&bad, 1, false, buf, sizeof buf, &err) == -1 && err.code == EINVAL);
    snprintf(bad.role, sizeof bad.role, "audit");
    memcpy(bad.fp, keys[0].fp, sizeof bad.fp);
    EXPECT(kura_ledger_delivery_format(&bad, 1, false, buf, sizeof buf, &err) == -1 && err.code == EINVAL);
    EXPECT(kura_ledger_delivery_format(keys, 1, false, buf, 60, &err) == -1 && err.code == ENOBUFS);
    /* A buffer one byte short (no room for the NUL) is refused, never cut:
     * a detail cut short would no longer parse, and the keys be lost. */
    ASSERT(kura_ledger_delivery_format(keys, 2, false, buf, sizeof buf, &err) == 0);
    size_t exact = strlen(buf);
    char small[KURA_LEDGER_FIELD_MAX];
    EXPECT(kura_ledger_delivery_format(keys, 2, false, small, exact, &err) == -1 && err.code == ENOBUFS);
    EXPECT(kura_ledger_delivery_format(keys, 2, false, small, exact + 1, &err) == 0 && strcmp(small, buf) == 0);
    /* Not in the form: earlier imports, plaintext, damaged lines. */
    static const char *const not_keys[] = {
        "archive delivery, samples from /x",
        "encrypted from plaintext; source kept",
        "archive delivery to server key 1234 (1 file(s)); source kept",
        "archive delivery to server key "
        "1111111111111111111111111111111111111111111111111111111111111111 (1 file(s))",
        "archive delivery to server key "
        "1111111111111111111111111111111111111111111111111111111111111111 (1 file(s)); source lost",
        "archive delivery to vault key "
        "1111111111111111111111111111111111111111111111111111111111111111 (1 file(s)); source kept",
    };
    for (size_t i = 0; i < sizeof not_keys / sizeof *not_keys; i++)
        EXPECT(kura_ledger_delivery_parse(not_keys[i], got, &removal) == 0);
    /* A detail naming one key more than the most (hand-made: format
     * refuses it) is not in the form, and parse stays inside got. */
    char many[2048];
    size_t o = (size_t)snprintf(many, sizeof many, "archive delivery to ");
    for (size_t i = 0; i <= KURA_LEDGER_DELIVERY_KEYS_MAX; i++)
        o += (size_t)snprintf(many + o, sizeof many - o, "%s%s key %s (%lu file(s))", i ? ", " : "", keys[i].role,
                              keys[i].fp, keys[i].files);
    snprintf(many + o, sizeof many - o, "; source kept");
    EXPECT(kura_ledger_delivery_parse(many, got, &removal) == 0);
}

int main(void)
{
    kura_secmem_init();
    if (!mkdtemp(tmpdir)) {
        printf("not ok 1 - mkdtemp\n");
        return 1;
    }
    load_ledger5();
    RUN(test_append_verify_read);
    RUN(test_record_form_and_hash);
    RUN(test_hostile_strings_round_trip);
    RUN(test_format_gives_the_file_line);
    RUN(test_append_refuses_bad_changes);
    RUN(test_append_field_edges);
    RUN(test_empty_and_missing);
    RUN(test_verify_detects_tampering);
    RUN(test_verify_detects_edits);
    RUN(test_verify_detects_truncation_and_malformed_lines);
    RUN(test_read_waits_out_an_append);
    RUN(test_append_refuses_torn_last_line);
    RUN(test_concurrent_appenders_keep_the_chain);
    RUN(test_delivery_keys_round_trip);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return unit_done();
}
