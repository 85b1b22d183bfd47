/* Which rotated files of the audit log are past retention ([audit]
 * retention_years), and the "retention" record that accounts for each one
 * removed (kura_audit_retain writes it; verify reads it back). A file is
 * removed only when the evidence it held is whole: every record verifies
 * and the next file continues its chain, so the record states a hash that
 * the kept files really continue from. */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>

#include "audit_priv.h"

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

/* The last record's time in the file's last bytes; -1 if none. */
struct last_time {
    int64_t ms;
};

static int note_last(const struct kura_audit_entry *e, const char *file, uint64_t line, const char *problem,
                     void *ctx)
{
    (void)file, (void)line, (void)problem;
    if (e)
        ((struct last_time *)ctx)->ms = e->rec.time_ms;
    return 0;
}

/* Reads the whole file: every line a record whose MAC verifies, each the
 * next of the one before. Fills r's range, last time and hash. */
static int examine(const char *path, const unsigned char *key, struct audit_removal *r, struct kura_err *err)
{
    struct audit_lines lines;
    struct stat st;
    if (audit_lines_open(&lines, path, 0, &st, err) != 0)
        return -1;
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
        if (r->last == 0)
            r->first = e.seq;
        r->last = e.seq;
        r->last_ms = e.rec.time_ms;
        audit_line_hash(line, len, r->last_hash);
        kura_audit_entry_free(&e);
    }
    audit_lines_close(&lines);
    if (bad || rc < 0 || r->last == 0) {
        kura_err_set(err, EBADMSG, "%s %s; kept (kuractl audit verify says more)", path,
                     rc < 0 ? "cannot be read" : r->last ? "does not verify" : "holds no record");
        return -1;
    }
    return 0;
}

/* The first record of path continues r: seq last + 1, prev its hash. */
static bool continues(const char *path, const struct audit_removal *r)
{
    struct kura_audit_entry e;
    unsigned char prev[KURA_AUDIT_HASH_LEN];
    if (audit_first_record(path, &e) != 0)
        return false;
    bool ok = e.seq == r->last + 1 && audit_unhex(e.prev, prev) && sodium_memcmp(prev, r->last_hash, sizeof prev) == 0;
    kura_audit_entry_free(&e);
    return ok;
}

int audit_retention_plan(const char *log_path, const unsigned char *key, unsigned years, int64_t now_ms,
                         struct audit_removal **out, size_t *n, struct kura_err *err)
{
    *out = NULL;
    *n = 0;
    char **files;
    size_t nfiles;
    if (years == 0 || years > AUDIT_YEARS_MAX)
        return 0;
    if (kura_audit_files(log_path, &files, &nfiles, err) != 0)
        return -1;
    struct audit_removal *plan = calloc(nfiles ? nfiles : 1, sizeof *plan);
    if (!plan) {
        kura_audit_files_free(files, nfiles);
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    /* Candidates: every file but the last (the live one, or the newest
     * rotated file the chain goes on from), oldest first. */
    for (size_t i = 0; i + 1 < nfiles && strcmp(files[i], log_path) != 0; i++) {
        /* The cheap look first: most calls stop at the oldest file's tail. */
        struct last_time lt = {.ms = -1};
        if (kura_audit_read_tail(files[i], 2 * KURA_AUDIT_LINE_MAX, note_last, &lt, NULL) != 0 || lt.ms < 0)
            break;
        struct audit_removal *r = &plan[*n];
        r->years = years;
        r->last_ms = lt.ms;
        if (!audit_retention_due(r, now_ms))
            break;
        memset(r, 0, sizeof *r);
        r->years = years;
        const char *slash = strrchr(files[i], '/');
        snprintf(r->name, sizeof r->name, "%s", slash ? slash + 1 : files[i]);
        struct kura_err why;
        if (examine(files[i], key, r, &why) != 0) {
            kura_notice(LOG_ERR, "kura audit: retention: %s", why.msg);
            break;
        }
        if (!audit_retention_due(r, now_ms))
            break;
        if (!continues(files[i + 1], r)) {
            kura_notice(LOG_ERR, "kura audit: retention: %s does not continue %s's chain; both kept "
                                 "(kuractl audit verify says more)", files[i + 1], files[i]);
            break;
        }
        (*n)++;
    }
    kura_audit_files_free(files, nfiles);
    if (*n == 0) {
        free(plan);
        plan = NULL;
    }
    *out = plan;
    return 0;
}
