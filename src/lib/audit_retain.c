/* Which rotated files of the audit log are past retention ([audit]
 * retention_years), and the "retention" record that accounts for each one
 * removed (kura_audit_retain writes it; verify reads it back). A file is
 * removed only when the evidence it held is whole: every record verifies
 * and the next file continues its chain, so the record states a hash that
 * the kept files really continue from. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "audit_priv.h"
#include "kura/grow.h"

void audit_retention_detail(const struct audit_removal *r, char *buf, size_t len)
{
    char hex[AUDIT_HEX_LEN + 1];
    audit_hex(r->last_hash, hex);
    snprintf(buf, len, "seq=%" PRIu64 "..%" PRIu64 " last_ms=%" PRId64 " last_hash=%s retention_years=%u", r->first,
             r->last, r->last_ms, hex, r->years);
}

bool audit_retention_parse(const char *detail, struct audit_removal *r)
{
    char hex[AUDIT_HEX_LEN + 1];
    int end = -1;
    memset(r, 0, sizeof *r);
    if (!detail ||
        sscanf(detail, "seq=%" SCNu64 "..%" SCNu64 " last_ms=%" SCNd64 " last_hash=%64[0-9a-f] retention_years=%u%n",
               &r->first, &r->last, &r->last_ms, hex, &r->years, &end) != 5 ||
        end < 0 || detail[end] != '\0' || strlen(hex) != AUDIT_HEX_LEN || !audit_unhex(hex, r->last_hash))
        return false;
    /* Bounded, so that the arithmetic of audit_retention_due cannot overflow. */
    return r->first >= 1 && r->first <= r->last && r->last_ms >= 0 && r->years <= AUDIT_YEARS_MAX;
}

bool audit_retention_due(const struct audit_removal *r, int64_t at_ms)
{
    return r->years > 0 && at_ms - r->last_ms > (int64_t)r->years * AUDIT_YEAR_MS;
}

/* The last record's time in the last bytes of the file open as fd (size
 * bytes long); -1 if none. */
static int64_t last_time(int fd, uint64_t size)
{
    uint64_t tail = 2 * KURA_AUDIT_LINE_MAX;
    struct audit_lines r;
    if (audit_lines_init(&r, fd, size > tail ? size - tail : 0, size) != 0)
        return -1;
    bool skip = r.base > 0; /* starting inside the file: the first line may be a record's end */
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    uint64_t off;
    int64_t ms = -1;
    while (audit_lines_next(&r, &line, &len, &kind, &off) == 1) {
        struct kura_audit_entry e;
        if (skip)
            skip = false;
        else if (kind == AUDIT_LINE_OK && kura_audit_entry_parse(line, len, &e, NULL) == 0) {
            ms = e.rec.time_ms;
            kura_audit_entry_free(&e);
        }
    }
    audit_lines_free(&r);
    return ms;
}

/* The retention records a file holds: removing it must not take them
 * away, or verify could no longer account for the older removals. */
struct carried {
    struct audit_removal *v;
    size_t n, cap;
};

static int carry(struct carried *c, const struct kura_audit_entry *e)
{
    struct audit_removal r;
    if (e->rec.event != KURA_AUDIT_RETENTION || !audit_retention_parse(e->rec.detail, &r))
        return 0;
    if (!kura_grow((void **)&c->v, &c->cap, c->n, sizeof *c->v))
        return -1;
    snprintf(r.name, sizeof r.name, "%s", e->rec.path ? e->rec.path : "-");
    c->v[c->n++] = r;
    return 0;
}

/* Reads the whole file (path, open as fd, size bytes long): every line a
 * record whose MAC verifies, each the next of the one before. Fills r's
 * identity, range, last time and hash, and adds the retention records it
 * holds to *carried. */
static int examine(const char *path, int fd, uint64_t size, const unsigned char *key, struct audit_removal *r,
                   struct carried *carried, struct kura_err *err)
{
    struct audit_lines lines;
    struct stat st;
    if (fstat(fd, &st) != 0 || audit_lines_init(&lines, fd, 0, size) != 0) {
        kura_err_set(err, errno, "%s cannot be read; kept", path);
        return -1;
    }
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    uint64_t off;
    int rc, bad = 0;
    while (!bad && (rc = audit_lines_next(&lines, &line, &len, &kind, &off)) == 1) {
        struct kura_audit_entry e;
        unsigned char prev[KURA_AUDIT_HASH_LEN];
        if (kind != AUDIT_LINE_OK || !audit_line_mac_ok(key, line, len) ||
            kura_audit_entry_parse(line, len, &e, NULL) != 0) {
            bad = 1;
            break;
        }
        bool next = r->last == 0 || (e.seq == r->last + 1 && audit_unhex(e.prev, prev) &&
                                     sodium_memcmp(prev, r->last_hash, sizeof prev) == 0);
        if (!next)
            bad = 1;
        if (carry(carried, &e) != 0)
            bad = 2;
        if (r->last == 0)
            r->first = e.seq;
        r->last = e.seq;
        r->last_ms = e.rec.time_ms;
        audit_line_hash(line, len, r->last_hash);
        kura_audit_entry_free(&e);
    }
    audit_lines_free(&lines);
    if (bad || rc < 0 || r->last == 0) {
        kura_err_set(err, bad == 2 ? ENOMEM : EBADMSG, "%s %s; kept (kuractl audit verify says more)", path,
                     bad == 2 ? "could not be examined: out of memory" : rc < 0 ? "cannot be read"
                     : r->last ? "does not verify" : "holds no record");
        return -1;
    }
    return 0;
}

/* The first record of the file open as fd continues r: seq last + 1,
 * prev its hash. */
static bool continues(int fd, const struct audit_removal *r)
{
    struct kura_audit_entry e;
    unsigned char prev[KURA_AUDIT_HASH_LEN];
    if (audit_first_record_fd(fd, &e) != 0)
        return false;
    bool ok = e.seq == r->last + 1 && audit_unhex(e.prev, prev) && sodium_memcmp(prev, r->last_hash, sizeof prev) == 0;
    kura_audit_entry_free(&e);
    return ok;
}

/* The cheap look, by name, that nearly every tick stops at: whether the
 * oldest file, if it is not the live one, ends past retention. */
static int oldest_due(const char *log_path, unsigned years, int64_t now_ms, bool *due, struct kura_err *err)
{
    char **files;
    size_t n;
    *due = false;
    if (kura_audit_files(log_path, &files, &n, err) != 0)
        return -1;
    if (n >= 2 && strcmp(files[0], log_path) != 0) {
        int fd = open(files[0], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            struct audit_removal r = {.years = years, .last_ms = last_time(fd, (uint64_t)st.st_size)};
            *due = r.last_ms >= 0 && audit_retention_due(&r, now_ms);
        }
        if (fd >= 0)
            close(fd);
    }
    kura_audit_files_free(files, n);
    return 0;
}

int audit_retention_plan(const char *log_path, const unsigned char *key, unsigned years, int64_t now_ms,
                         struct audit_retention_plan *p, struct kura_err *err)
{
    memset(p, 0, sizeof *p);
    bool due;
    if (years == 0 || years > AUDIT_YEARS_MAX)
        return 0;
    if (oldest_due(log_path, years, now_ms, &due, err) != 0)
        return -1;
    if (!due)
        return 0;
    /* Listed and opened at one moment (under the head file's shared lock),
     * then read through the descriptors: a rotation meanwhile renames the
     * files, and a plan that read them by name could pair one file's end
     * with another's start. */
    struct audit_files f;
    if (audit_files_open(log_path, NULL, NULL, &f, err) != 0)
        return -1;
    struct audit_removal *plan = calloc(f.n ? f.n : 1, sizeof *plan);
    struct carried carried = {0};
    if (!plan) {
        audit_files_close(&f);
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    size_t n = 0;
    /* Candidates: every file but the last (the live one, or the newest
     * rotated file the chain goes on from), oldest first. */
    for (size_t i = 0; i + 1 < f.n && strcmp(f.paths[i], log_path) != 0; i++) {
        /* The cheap look first: most calls stop at the oldest file's tail. */
        struct audit_removal *r = &plan[n];
        r->years = years;
        r->last_ms = last_time(f.fds[i], f.sizes[i]);
        if (r->last_ms < 0 || !audit_retention_due(r, now_ms))
            break;
        memset(r, 0, sizeof *r);
        r->years = years;
        const char *slash = strrchr(f.paths[i], '/');
        snprintf(r->name, sizeof r->name, "%s", slash ? slash + 1 : f.paths[i]);
        struct kura_err why;
        size_t carried_before = carried.n;
        bool take = examine(f.paths[i], f.fds[i], f.sizes[i], key, r, &carried, &why) == 0;
        if (!take)
            kura_notice(LOG_ERR, "kura audit: retention: %s", why.msg);
        take = take && audit_retention_due(r, now_ms);
        if (take && !continues(f.fds[i + 1], r)) {
            kura_notice(LOG_ERR, "kura audit: retention: %s does not continue %s's chain; both kept "
                                 "(kuractl audit verify says more)", f.paths[i + 1], f.paths[i]);
            take = false;
        }
        if (!take) {
            carried.n = carried_before;
            break;
        }
        n++;
    }
    audit_files_close(&f);
    if (n == 0) {
        free(plan);
        free(carried.v);
        return 0;
    }
    *p = (struct audit_retention_plan){.files = plan, .nfiles = n, .carried = carried.v, .ncarried = carried.n};
    return 0;
}

bool audit_retention_still_oldest(const char *log_path, const struct audit_retention_plan *p)
{
    char **files;
    size_t nfiles;
    struct kura_err err;
    if (p->nfiles == 0 || kura_audit_files(log_path, &files, &nfiles, &err) != 0)
        return false;
    bool ok = nfiles > p->nfiles;
    for (size_t k = 0; ok && k < p->nfiles; k++) {
        struct stat st;
        ok = lstat(files[k], &st) == 0 && st.st_dev == p->files[k].dev && st.st_ino == p->files[k].ino &&
             (k == 0 || p->files[k].first == p->files[k - 1].last + 1);
    }
    int next = ok ? open(files[p->nfiles], O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    ok = ok && next >= 0 && continues(next, &p->files[p->nfiles - 1]);
    if (next >= 0)
        close(next);
    kura_audit_files_free(files, nfiles);
    return ok;
}

void audit_retention_plan_free(struct audit_retention_plan *p)
{
    free(p->files);
    free(p->carried);
    memset(p, 0, sizeof *p);
}
