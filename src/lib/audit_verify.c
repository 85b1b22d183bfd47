/* `kuractl audit verify` (R-LOG-2): every record of every file, in chain
 * order, must be well formed, carry the next seq, the hash of the record
 * before it and a MAC that verifies; the head file's last record must still
 * be there. The first thing wrong is named: file:line, seq, what.
 * Records removed under retention (R-LOG-8) are accounted for by the
 * "retention" records the remaining files hold: the chain may start after
 * seq 1 only where they say, each stating a removal past its retention. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_priv.h"
#include "kura/grow.h"

struct verifier {
    const unsigned char *key;
    kura_audit_report_fn report;
    void *ctx;
    struct kura_audit_summary sum;
    bool started;               /* a record has been seen */
    struct audit_chain c;
    const struct audit_head *head;
    struct kura_err *err;
    bool by_seq;                /* lines not from a file: findings name the seq only */
    /* the files, read again for retention records when the chain starts late */
    const char *const *files;
    const int *fds;
    const uint64_t *sizes;
    size_t nfiles;
};

/* A retention record: the removal it states, and when it was made. */
struct claim {
    struct audit_removal r;
    int64_t at_ms;
    char at[48];
};

__attribute__((format(printf, 6, 7))) static int tell(struct verifier *v, bool bad, const char *file,
                                                      uint64_t line, uint64_t seq, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct kura_audit_finding f = {.file = file, .line = line, .seq = seq, .bad = bad, .what = what};
    if (v->report)
        v->report(&f, v->ctx);
    if (!bad)
        return 0;
    if (v->by_seq && seq)
        kura_err_set(v->err, EBADMSG, "%s: seq %" PRIu64 ": %s", file, seq, what);
    else if (line)
        kura_err_set(v->err, EBADMSG, "%s:%" PRIu64 ": seq %" PRIu64 ": %s", file, line, seq, what);
    else
        kura_err_set(v->err, EBADMSG, "%s: %s", file, what);
    return -1;
}

/* The retention records among the files (those whose MAC verifies: the
 * chain check proper comes when the walk reaches them). */
static int read_claims(struct verifier *v, struct claim **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    for (size_t i = 0; i < v->nfiles; i++) {
        struct audit_lines r;
        if (audit_lines_init(&r, v->fds[i], 0, v->sizes[i]) != 0)
            return -1;
        const char *line;
        size_t len;
        enum audit_line_kind kind;
        uint64_t off;
        while (audit_lines_next(&r, &line, &len, &kind, &off) == 1) {
            struct kura_audit_entry e;
            if (kind != AUDIT_LINE_OK || !memmem(line, len, "\"event\":\"retention\"", 19) ||
                !audit_line_mac_ok(v->key, line, len) || kura_audit_entry_parse(line, len, &e, NULL) != 0)
                continue;
            struct claim c = {.at_ms = e.rec.time_ms};
            snprintf(c.at, sizeof c.at, "%s", e.time);
            bool ok = e.rec.event == KURA_AUDIT_RETENTION && audit_retention_parse(e.rec.detail, &c.r) &&
                      c.r.last < e.seq;
            snprintf(c.r.name, sizeof c.r.name, "%s", e.rec.path ? e.rec.path : "-");
            kura_audit_entry_free(&e);
            if (!ok)
                continue;
            if (!kura_grow((void **)out, &cap, *n, sizeof **out)) {
                audit_lines_free(&r);
                return -1;
            }
            (*out)[(*n)++] = c;
        }
        audit_lines_free(&r);
    }
    return 0;
}

/* The chain starts at seq > 1: retention records must account for seq
 * 1..seq-1, in ranges that join up, the last one's hash the first kept
 * record's prev, each removal past its retention. */
static int account_removed(struct verifier *v, const char *file, uint64_t ln, uint64_t seq,
                           const unsigned char prev[KURA_AUDIT_HASH_LEN])
{
    struct claim *claims;
    size_t n;
    if (read_claims(v, &claims, &n) != 0) {
        free(claims);
        kura_err_set(v->err, ENOMEM, "out of memory reading the retention records");
        return -1;
    }
    uint64_t end = seq - 1;
    const unsigned char *hash = prev;
    int rc = 0;
    int64_t latest = INT64_MIN;
    while (rc == 0 && end > 0) {
        const struct claim *found = NULL;
        for (size_t i = 0; i < n && !found; i++)
            if (claims[i].r.last == end && (!hash || sodium_memcmp(claims[i].r.last_hash, hash, KURA_AUDIT_HASH_LEN) == 0))
                found = &claims[i];
        if (!found) {
            rc = tell(v, true, file, ln, seq, "the chain starts at seq %" PRIu64 ", not 1: seq %s%" PRIu64 " are missing "
                      "and no retention record accounts for them%s", seq, end > 1 ? "1.." : "", end,
                      hash ? "" : " (the ones after them were removed under retention)");
            break;
        }
        if (!audit_retention_due(&found->r, found->at_ms)) {
            rc = tell(v, true, file, ln, seq, "seq %" PRIu64 "..%" PRIu64 " were removed on %s, before their retention "
                      "(%u years) ended: a removal that hides records", found->r.first, found->r.last, found->at,
                      found->r.years);
            break;
        }
        tell(v, false, file, 0, found->r.first, "seq %" PRIu64 "..%" PRIu64 " (%s) removed under retention on %s",
             found->r.first, found->r.last, found->r.name, found->at);
        if (found->at_ms > latest)
            latest = found->at_ms;
        end = found->r.first - 1;
        hash = NULL; /* the removed file before had its hash; only the range can join */
    }
    if (rc == 0) {
        v->sum.removed_last = seq - 1;
        v->sum.removed_ms = latest;
    }
    free(claims);
    return rc;
}

/* One record, already parsed; moves the chain on. */
static int check_record(struct verifier *v, const char *file, uint64_t ln, const char *line, size_t len,
                        const struct kura_audit_entry *e)
{
    uint64_t seq = e->seq;
    unsigned char prev[KURA_AUDIT_HASH_LEN], zero[KURA_AUDIT_HASH_LEN] = {0};
    audit_unhex(e->prev, prev);
    if (!audit_line_mac_ok(v->key, line, len))
        return tell(v, true, file, ln, seq, "mac does not match: the record was altered (or written with another key)");
    if (!v->started) {
        if (seq == 1 && sodium_memcmp(prev, zero, sizeof zero) != 0)
            return tell(v, true, file, ln, seq, "the first record's prev is not zero");
        if (seq > 1 && account_removed(v, file, ln, seq, prev) != 0)
            return -1;
    } else if (seq <= v->c.seq) {
        return tell(v, true, file, ln, seq, "seq %" PRIu64 " follows seq %" PRIu64 ": a record repeated or out of order",
                    seq, v->c.seq);
    } else if (seq > v->c.seq + 1) {
        return tell(v, true, file, ln, seq, "seq %" PRIu64 " follows seq %" PRIu64 ": %" PRIu64 " record(s) missing",
                    seq, v->c.seq, seq - v->c.seq - 1);
    } else if (sodium_memcmp(prev, v->c.hash, sizeof prev) != 0) {
        return tell(v, true, file, ln, seq, "prev does not match the record before it: a record was removed, "
                                            "inserted or replaced");
    }
    struct audit_removal r;
    if (e->rec.event == KURA_AUDIT_RETENTION && !audit_retention_parse(e->rec.detail, &r))
        return tell(v, true, file, ln, seq, "a retention record whose detail is not seq=A..B last_ms=T "
                                            "last_hash=H retention_years=N");
    if (e->rec.event == KURA_AUDIT_RETENTION && (r.last >= seq || !audit_retention_due(&r, e->rec.time_ms)))
        return tell(v, true, file, ln, seq, "a retention record for seq %" PRIu64 "..%" PRIu64 " that were not past "
                    "their retention (%u years) when it was written: a removal that hides records",
                    r.first, r.last, r.years);
    v->started = true;
    v->c.seq = seq;
    audit_line_hash(line, len, v->c.hash);
    if (v->head && seq == v->head->seq && sodium_memcmp(v->c.hash, v->head->hash, sizeof v->c.hash) != 0)
        return tell(v, true, file, ln, seq, "not the record the head file says was written with this seq");
    return 0;
}

/* One line of the chain, from a file or not: its shape, then the chain. */
static int verify_line(struct verifier *v, const char *file, uint64_t ln, enum audit_line_kind kind,
                       const char *line, size_t len, uint64_t *seq)
{
    uint64_t expected = v->started ? v->c.seq + 1 : 0;
    struct kura_audit_entry e;
    struct kura_err perr = {0};
    if (kind == AUDIT_LINE_PARTIAL)
        return tell(v, true, file, ln, expected, "unfinished record at the end of the file (cut short)");
    if (kind == AUDIT_LINE_LONG)
        return tell(v, true, file, ln, expected, "line longer than %d bytes", KURA_AUDIT_LINE_MAX);
    if (kura_audit_entry_parse(line, len, &e, &perr) != 0)
        return tell(v, true, file, ln, expected, "not a valid record: %s", perr.msg);
    int bad = check_record(v, file, ln, line, len, &e);
    *seq = e.seq;
    kura_audit_entry_free(&e);
    return bad;
}

static int verify_file(struct verifier *v, const char *file, int fd, uint64_t limit)
{
    struct audit_lines r;
    if (audit_lines_init(&r, fd, 0, limit) != 0) {
        kura_err_set(v->err, ENOMEM, "out of memory reading %s", file);
        return -1;
    }
    uint64_t records = 0, first = 0, off, seq = 0;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    int rc, bad = 0;
    while (!bad && (rc = audit_lines_next(&r, &line, &len, &kind, &off)) == 1) {
        bad = verify_line(v, file, r.number, kind, line, len, &seq);
        if (!bad && records++ == 0)
            first = seq;
    }
    int e = errno;
    audit_lines_free(&r);
    if (bad)
        return -1;
    if (rc < 0) {
        kura_err_set(v->err, e, "read %s: %s", file, strerror(e));
        return -1;
    }
    v->sum.files++;
    v->sum.records += records;
    if (records && !v->sum.first_seq)
        v->sum.first_seq = first;
    if (records) {
        v->sum.last_seq = v->c.seq;
        tell(v, false, file, 0, 0, "%" PRIu64 " records, seq %" PRIu64 "..%" PRIu64, records, first, v->c.seq);
    } else {
        tell(v, false, file, 0, 0, "no records");
    }
    return 0;
}

/* Reads the head; a missing or unverifiable head is itself a finding. */
static int load_head(struct verifier *v, int fd, const char *head_path, struct audit_head *h)
{
    int slot;
    int hr = fd < 0 ? 0 : audit_head_read(fd, v->key, h, &slot);
    if (fd < 0)
        return tell(v, true, head_path, 0, 0, "missing: cannot tell whether records were removed from the end");
    if (hr < 0) {
        kura_err_set(v->err, errno, "read %s: %s", head_path, strerror(errno));
        return -1;
    }
    if (hr == 0)
        return tell(v, true, head_path, 0, 0, "does not verify with the log key (altered, damaged, or another key)");
    v->head = h;
    return 0;
}

static int verify_fds(struct verifier *v, const char *const *files, const int *fds, const uint64_t *sizes, size_t n,
                      struct kura_audit_summary *sum)
{
    int rc = 0;
    v->files = files;
    v->fds = fds;
    v->sizes = sizes;
    v->nfiles = n;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = verify_file(v, files[i], fds[i], sizes[i]);
    if (rc == 0 && v->head && v->head->seq > v->c.seq)
        rc = tell(v, true, n ? files[n - 1] : "audit log", 0, v->head->seq,
                  "the log ends at seq %" PRIu64 ", but the head file says seq %" PRIu64
                  " was written: records were removed from the end",
                  v->c.seq, v->head->seq);
    if (sum)
        *sum = v->sum;
    return rc;
}

int kura_audit_verify_files(const char *const *paths, size_t n, const char *head_path,
                            const unsigned char key[KURA_AUDIT_KEY_LEN], kura_audit_report_fn report, void *ctx,
                            struct kura_audit_summary *sum, struct kura_err *err)
{
    struct verifier v = {.key = key, .report = report, .ctx = ctx, .err = err};
    struct audit_head h;
    int *fds = calloc(n + 1, sizeof *fds);
    uint64_t *sizes = calloc(n + 1, sizeof *sizes);
    int rc = -1;
    if (!fds || !sizes) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    /* The head first: the log can only be ahead of it. */
    if (head_path) {
        int hfd = open(head_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        rc = load_head(&v, hfd, head_path, &h);
        if (hfd >= 0)
            close(hfd);
        if (rc != 0)
            goto out;
    }
    rc = audit_open_files(paths, n, fds, sizes, err);
    if (rc == 0) {
        rc = verify_fds(&v, paths, fds, sizes, n, sum);
        audit_close_files(fds, n);
    }
out:
    free(fds);
    free(sizes);
    return rc;
}

/* Under the lock: the head, read with the files it describes. */
struct verify_start {
    struct verifier *v;
    struct audit_head *h;
    const char *log_path;
};

static int start_verify(int hfd, const char *head_path, struct audit_files *f, void *ctx)
{
    (void)f;
    struct verify_start *s = ctx;
    if (hfd < 0 && access(s->log_path, F_OK) != 0) {
        kura_err_set(s->v->err, ENOENT, "no audit log at %s", s->log_path);
        return -1;
    }
    return load_head(s->v, hfd, head_path, s->h);
}

int kura_audit_verify(const char *log_path, const unsigned char key[KURA_AUDIT_KEY_LEN], kura_audit_report_fn report,
                      void *ctx, struct kura_audit_summary *sum, struct kura_err *err)
{
    struct verifier v = {.key = key, .report = report, .ctx = ctx, .err = err};
    struct audit_head h;
    struct verify_start start = {.v = &v, .h = &h, .log_path = log_path};
    struct audit_files f;
    /* The head and the sizes agree: read under the writers' lock. */
    if (audit_files_open(log_path, start_verify, &start, &f, err) != 0)
        return -1;
    int rc = verify_fds(&v, (const char *const *)f.paths, f.fds, f.sizes, f.n, sum);
    audit_files_close(&f);
    return rc;
}

struct kura_audit_chain_check {
    struct verifier v;
    struct kura_err err;
};

struct kura_audit_chain_check *kura_audit_chain_new(const unsigned char key[KURA_AUDIT_KEY_LEN],
                                                    kura_audit_report_fn report, void *ctx)
{
    struct kura_audit_chain_check *ck = calloc(1, sizeof *ck);
    if (ck)
        ck->v = (struct verifier){.key = key, .report = report, .ctx = ctx, .err = &ck->err, .by_seq = true};
    return ck;
}

int kura_audit_chain_line(struct kura_audit_chain_check *ck, const char *source, const char *line, size_t len,
                          struct kura_err *err)
{
    uint64_t seq = 0;
    if (verify_line(&ck->v, source, 0, AUDIT_LINE_OK, line, len, &seq) != 0) {
        if (err)
            *err = ck->err;
        return -1;
    }
    if (ck->v.sum.records++ == 0)
        ck->v.sum.first_seq = seq;
    ck->v.sum.last_seq = seq;
    return 0;
}

void kura_audit_chain_end(struct kura_audit_chain_check *ck, struct kura_audit_summary *sum)
{
    if (ck && sum)
        *sum = ck->v.sum;
    free(ck);
}
