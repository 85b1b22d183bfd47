/* Reading audit records back: one line to an entry (strict shape), the
 * filter `kuractl audit` applies, and the log's files in chain order. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_priv.h"
#include "kura/grow.h"
#include "kura/json.h"
#include "kura/text.h"
#include "kura/when.h"

struct entry_store {
    struct kura_json_object obj;
    char *bytes;                /* strings given as "<field>_hex", decoded */
};

struct member {
    const char *key;
    size_t off;                 /* of the const char * or int64_t in the entry */
};

#define AT(field) offsetof(struct kura_audit_entry, field)
static const struct member texts[] = {
    {"host", AT(host)},           {"reason", AT(rec.reason)},         {"dataset", AT(rec.dataset)},
    {"path", AT(rec.path)},       {"samples", AT(rec.samples)},       {"user", AT(rec.user)},
    {"exe", AT(rec.exe)},         {"cmdline", AT(rec.cmdline)},       {"ssh_client", AT(rec.ssh_client)},
    {"detail", AT(rec.detail)},   {"rotated_from", AT(rotated_from)}, {"cut", AT(cut)},
};
static const struct member numbers[] = {
    {"uid", AT(rec.uid)},   {"loginuid", AT(rec.loginuid)}, {"pid", AT(rec.pid)},
    {"ppid", AT(rec.ppid)}, {"bytes", AT(rec.bytes)},       {"duration_ms", AT(rec.duration_ms)},
    {"count", AT(rec.count)},
};

static const struct member *find(const struct member *m, size_t n, const char *key, size_t keylen)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(m[i].key) == keylen && memcmp(m[i].key, key, keylen) == 0)
            return &m[i];
    return NULL;
}

/* A key for a message: it came from the line, so printable ASCII only. */
static void shown(char out[40], const char *key)
{
    size_t i = 0;
    for (; key[i] && i < 32; i++)
        out[i] = key[i] >= 0x20 && key[i] < 0x7f ? key[i] : '?';
    out[i] = '\0';
}

/* RFC 3339 as the writer makes it: the instant, and milliseconds from the
 * fraction's first three digits. */
static int parse_time(const char *s, int64_t *ms)
{
    int64_t t;
    if (strlen(s) <= 10 || kura_when_parse(s, NULL, &t, NULL, NULL) != 0)
        return -1;
    int64_t frac = 0;
    if (s[19] == '.')
        for (int i = 0, scale = 100; i < 3 && s[20 + i] >= '0' && s[20 + i] <= '9'; i++, scale /= 10)
            frac += (s[20 + i] - '0') * scale;
    *ms = t * 1000 + frac;
    return 0;
}

static int check_members(const char *line, size_t len, struct kura_audit_entry *e, struct entry_store *st,
                         struct kura_err *err)
{
    const struct kura_json_object *o = &st->obj;
    char k[40];
    unsigned required = 0;
    size_t hex_bytes = 0;
    for (size_t i = 0; i < o->n; i++) {
        const struct kura_json_field *f = &o->fields[i];
        const char *key = f->key;
        bool str = f->type == KURA_JSON_STRING;
        const struct member *m;
        shown(k, key);
        if (strcmp(key, "seq") == 0) {
            if (str || f->num < 1)
                return kura_err_set(err, EINVAL, "seq must be an integer from 1"), -1;
            e->seq = (uint64_t)f->num;
            required |= 1;
        } else if (strcmp(key, "time") == 0) {
            if (!str || parse_time(f->str, &e->rec.time_ms) != 0)
                return kura_err_set(err, EINVAL, "time is not an RFC 3339 time stamp"), -1;
            e->time = f->str;
            required |= 2;
        } else if (strcmp(key, "event") == 0) {
            if (!str || kura_audit_event_parse(f->str, &e->rec.event) != 0)
                return kura_err_set(err, EINVAL, "unknown event"), -1;
            required |= 4;
        } else if (strcmp(key, "decision") == 0) {
            if (!str || kura_audit_decision_parse(f->str, &e->rec.decision) != 0)
                return kura_err_set(err, EINVAL, "decision is not allow, deny or -"), -1;
            required |= 8;
        } else if (strcmp(key, "prev") == 0 || strcmp(key, "mac") == 0) {
            if (!str || f->len != AUDIT_HEX_LEN || !kura_hex_lower(f->str, f->len))
                return kura_err_set(err, EINVAL, "%s is not 64 lower-case hex digits", k), -1;
            memcpy(key[0] == 'p' ? e->prev : e->mac, f->str, AUDIT_HEX_LEN + 1);
            required |= key[0] == 'p' ? 16 : 32;
        } else if ((m = find(texts, KURA_COUNT(texts), key, strlen(key)))) {
            if (!str)
                return kura_err_set(err, EINVAL, "%s must be a string", k), -1;
            *(const char **)((char *)e + m->off) = f->str;
            if (m->off == AT(host))
                required |= 64;
        } else if ((m = find(numbers, KURA_COUNT(numbers), key, strlen(key)))) {
            if (str || f->num < 0)
                return kura_err_set(err, EINVAL, "%s must be an integer from 0", k), -1;
            *(int64_t *)((char *)e + m->off) = f->num;
        } else if (strlen(key) > 4 && strcmp(key + strlen(key) - 4, "_hex") == 0 &&
                   find(texts, KURA_COUNT(texts), key, strlen(key) - 4)) {
            if (!str || f->len % 2 != 0 || !kura_hex_lower(f->str, f->len))
                return kura_err_set(err, EINVAL, "%s is not lower-case hex", k), -1;
            hex_bytes += f->len / 2 + 1;
        } else {
            return kura_err_set(err, EINVAL, "unknown member \"%s\"", k), -1;
        }
    }
    if (required != 127)
        return kura_err_set(err, EINVAL, "a required member (seq, time, host, event, decision, prev, mac) is missing"),
               -1;
    /* "mac" is the last member and the line ends with it, as written. */
    if (strcmp(o->fields[o->n - 1].key, "mac") != 0 || len < AUDIT_MAC_TAIL_LEN ||
        memcmp(line + len - AUDIT_MAC_TAIL_LEN, ",\"mac\":\"", 8) != 0 ||
        memcmp(line + len - AUDIT_MAC_TAIL_LEN + 8, e->mac, AUDIT_HEX_LEN) != 0 ||
        memcmp(line + len - 2, "\"}", 2) != 0)
        return kura_err_set(err, EINVAL, "the line does not end with its \"mac\""), -1;

    /* Exact bytes of strings that were not UTF-8. */
    if (hex_bytes == 0)
        return 0;
    char *out = st->bytes = malloc(hex_bytes);
    if (!out)
        return kura_err_set(err, ENOMEM, "out of memory"), -1;
    for (size_t i = 0; i < o->n; i++) {
        const struct kura_json_field *f = &o->fields[i];
        size_t klen = strlen(f->key);
        const struct member *m;
        if (klen <= 4 || strcmp(f->key + klen - 4, "_hex") != 0 || !(m = find(texts, KURA_COUNT(texts), f->key, klen - 4)))
            continue;
        const char **slot = (const char **)((char *)e + m->off);
        size_t n;
        if (!*slot)
            return kura_err_set(err, EINVAL, "%.*s_hex without %.*s", (int)(klen - 4), f->key, (int)(klen - 4),
                                f->key), -1;
        if (sodium_hex2bin((unsigned char *)out, f->len / 2, f->str, f->len, NULL, &n, NULL) != 0 ||
            memchr(out, '\0', n))
            return kura_err_set(err, EINVAL, "bad %.*s_hex", (int)(klen - 4), f->key), -1;
        out[n] = '\0';
        *slot = out;
        out += n + 1;
    }
    return 0;
}

int kura_audit_entry_parse(const char *line, size_t len, struct kura_audit_entry *e, struct kura_err *err)
{
    memset(e, 0, sizeof *e);
    kura_audit_record_init(&e->rec);
    struct entry_store *st = calloc(1, sizeof *st);
    if (!st) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    e->priv_ = st;
    if (len > KURA_AUDIT_LINE_MAX) {
        kura_err_set(err, EINVAL, "line longer than %d bytes", KURA_AUDIT_LINE_MAX);
    } else if (kura_json_parse_object(line, len, &st->obj, err) == 0) {
        if (check_members(line, len, e, st, err) == 0)
            return 0;
    } else {
        kura_err_prefix(err, "not a JSON object");
    }
    kura_audit_entry_free(e);
    return -1;
}

void kura_audit_entry_free(struct kura_audit_entry *e)
{
    struct entry_store *st = e->priv_;
    if (st) {
        kura_json_object_free(&st->obj);
        free(st->bytes);
        free(st);
    }
    memset(e, 0, sizeof *e);
}

bool kura_audit_filter_match(const struct kura_audit_filter *f, const struct kura_audit_entry *e)
{
    if (f->dataset && (!e->rec.dataset || strcmp(f->dataset, e->rec.dataset) != 0))
        return false;
    if (f->user && (!e->rec.user || strcmp(f->user, e->rec.user) != 0))
        return false;
    return !f->since_ms || e->rec.time_ms >= f->since_ms;
}

/* tail > 0: only the records in the last tail bytes of the file. */
static int read_records(const char *path, uint64_t tail, kura_audit_read_fn fn, void *ctx, struct kura_err *err)
{
    struct audit_lines r;
    if (audit_lines_open(&r, path, tail, NULL, err) != 0)
        return -1;
    /* Starting inside the file, the first line may be the end of a record:
     * it is skipped, not reported as a bad line. */
    bool skip = r.base > 0;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    uint64_t off;
    int rc, stop = 0;
    while (!stop && (rc = audit_lines_next(&r, &line, &len, &kind, &off)) == 1) {
        struct kura_audit_entry e;
        struct kura_err perr = {0};
        if (skip)
            skip = false;
        else if (kind == AUDIT_LINE_LONG)
            stop = fn(NULL, path, r.number, "line too long", ctx);
        else if (kind == AUDIT_LINE_PARTIAL)
            stop = fn(NULL, path, r.number, "unfinished record at the end of the file", ctx);
        else if (kura_audit_entry_parse(line, len, &e, &perr) != 0)
            stop = fn(NULL, path, r.number, perr.msg, ctx);
        else {
            stop = fn(&e, path, r.number, NULL, ctx);
            kura_audit_entry_free(&e);
        }
    }
    int e = errno;
    audit_lines_close(&r);
    if (!stop && rc < 0) {
        kura_err_set(err, e, "read %s: %s", path, strerror(e));
        return -1;
    }
    return stop;
}

int kura_audit_read(const char *path, kura_audit_read_fn fn, void *ctx, struct kura_err *err)
{
    return read_records(path, 0, fn, ctx, err);
}

int kura_audit_read_tail(const char *path, uint64_t tail, kura_audit_read_fn fn, void *ctx, struct kura_err *err)
{
    return read_records(path, tail, fn, ctx, err);
}

/* ---- the log's files ---- */

struct found {
    char *path;
    uint64_t first_seq;         /* 0: no readable first record */
};

int audit_first_record_fd(int fd, struct kura_audit_entry *e)
{
    struct audit_lines r;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    uint64_t off;
    if (audit_lines_init(&r, fd, 0, UINT64_MAX) != 0)
        return -1;
    int rc = audit_lines_next(&r, &line, &len, &kind, &off) == 1 && kind == AUDIT_LINE_OK &&
                     kura_audit_entry_parse(line, len, e, NULL) == 0
                 ? 0
                 : -1;
    audit_lines_free(&r);
    return rc;
}

int audit_first_record(const char *path, struct kura_audit_entry *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int rc = audit_first_record_fd(fd, e);
    close(fd);
    return rc;
}

static uint64_t first_seq(const char *path)
{
    struct kura_audit_entry e;
    if (audit_first_record(path, &e) != 0)
        return 0;
    uint64_t seq = e.seq;
    kura_audit_entry_free(&e);
    return seq;
}

static int by_first_seq(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    if (x->first_seq != y->first_seq)
        return x->first_seq < y->first_seq ? -1 : 1;
    return strcmp(x->path, y->path);
}

static bool compressed(const char *name)
{
    static const char *const ext[] = {".gz", ".xz", ".bz2", ".zst", ".lz4", ".Z", ".zip"};
    size_t n = strlen(name);
    for (size_t i = 0; i < KURA_COUNT(ext); i++) {
        size_t k = strlen(ext[i]);
        if (n > k && strcmp(name + n - k, ext[i]) == 0)
            return true;
    }
    return false;
}

int audit_open_files(const char *const *files, size_t n, int *fds, uint64_t *sizes, struct kura_err *err)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        fds[i] = open(files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fds[i] < 0 || fstat(fds[i], &st) != 0) {
            kura_err_set(err, errno, "open %s: %s", files[i], strerror(errno));
            audit_close_files(fds, i + (fds[i] >= 0));
            return -1;
        }
        sizes[i] = (uint64_t)st.st_size;
    }
    return 0;
}

void audit_close_files(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
}

int audit_files_open(const char *log_path, audit_locked_fn locked, void *ctx, struct audit_files *f,
                     struct kura_err *err)
{
    *f = (struct audit_files){0};
    char head_path[4096];
    if (kura_audit_head_path(log_path, head_path, sizeof head_path) != 0) {
        kura_err_set(err, ENAMETOOLONG, "audit log path too long");
        return -1;
    }
    int hfd = open(head_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (hfd >= 0)
        while (flock(hfd, LOCK_SH) != 0 && errno == EINTR)
            ;
    int rc = locked ? locked(hfd, head_path, f, ctx) : 0;
    if (rc == 0 && f->live_only) {
        if ((f->paths = malloc(sizeof *f->paths)) && (f->paths[0] = strdup(log_path)))
            f->n = 1;
        else
            rc = (kura_err_set(err, ENOMEM, "out of memory"), -1);
    } else if (rc == 0) {
        rc = kura_audit_files(log_path, &f->paths, &f->n, err);
    }
    if (rc == 0) {
        f->fds = calloc(f->n + 1, sizeof *f->fds);
        f->sizes = calloc(f->n + 1, sizeof *f->sizes);
        rc = f->fds && f->sizes ? audit_open_files((const char *const *)f->paths, f->n, f->fds, f->sizes, err)
                                : (kura_err_set(err, ENOMEM, "out of memory"), -1);
    }
    if (hfd >= 0)
        close(hfd); /* releases the lock */
    if (rc != 0) {
        free(f->fds);
        f->fds = NULL; /* none open */
        audit_files_close(f);
    }
    return rc;
}

void audit_files_close(struct audit_files *f)
{
    if (f->fds)
        audit_close_files(f->fds, f->n);
    free(f->fds);
    free(f->sizes);
    kura_audit_files_free(f->paths, f->n);
    *f = (struct audit_files){0};
}

void kura_audit_files_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

int kura_audit_files(const char *log_path, char ***paths, size_t *n, struct kura_err *err)
{
    *paths = NULL;
    *n = 0;
    const char *slash = strrchr(log_path, '/');
    const char *base = slash ? slash + 1 : log_path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - log_path) + (slash == log_path) : 1,
             slash ? log_path : ".");
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) {
        kura_err_set(err, errno, "open directory %s: %s", dir, strerror(errno));
        return -1;
    }
    struct found *f = NULL;
    size_t count = 0, cap = 0;
    bool live = false, oom = false;
    for (struct dirent *de; !oom && (de = readdir(d));) {
        const char *name = de->d_name;
        if (blen == 0 || strncmp(name, base, blen) != 0)
            continue;
        bool is_live = name[blen] == '\0';
        if (!is_live && ((name[blen] != '.' && name[blen] != '-') || name[blen + 1] == '\0' || compressed(name)))
            continue;
        char full[8192];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, name);
        if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (is_live) {
            live = true;
            continue;
        }
        if (!kura_grow((void **)&f, &cap, count, sizeof *f)) {
            oom = true;
            break;
        }
        if (!(f[count].path = strdup(full))) {
            oom = true;
            break;
        }
        f[count++].first_seq = first_seq(full);
    }
    closedir(d);
    char **out = oom ? NULL : malloc((count + 1) * sizeof *out);
    if (!out) {
        for (size_t i = 0; i < count; i++)
            free(f[i].path);
        free(f);
        kura_err_set(err, ENOMEM, "out of memory listing %s", dir);
        return -1;
    }
    if (count > 1)
        qsort(f, count, sizeof *f, by_first_seq);
    for (size_t i = 0; i < count; i++)
        out[i] = f[i].path;
    free(f);
    if (live && !(out[count++] = strdup(log_path))) {
        kura_audit_files_free(out, count - 1);
        kura_err_set(err, ENOMEM, "out of memory listing %s", dir);
        return -1;
    }
    *paths = out;
    *n = count;
    return 0;
}

/* ---- reading on from a seq (the cluster's shipper) ---- */

/* Offers the records after *last in [from, limit) of one file; *pos gets
 * the offset after the last line dealt with, *last the seq of the last
 * record taken. 1: fn said stop. */
static int offer_lines(int fd, uint64_t from, uint64_t limit, kura_audit_line_fn fn, void *ctx, uint64_t *pos,
                       uint64_t *last)
{
    struct audit_lines r;
    if (audit_lines_init(&r, fd, from, limit) != 0)
        return -1;
    const char *line;
    size_t len;
    enum audit_line_kind kind;
    uint64_t off;
    int rc, stop = 0;
    *pos = from;
    while ((rc = audit_lines_next(&r, &line, &len, &kind, &off)) == 1 && kind != AUDIT_LINE_PARTIAL) {
        struct kura_audit_entry e;
        if (kind == AUDIT_LINE_OK && kura_audit_entry_parse(line, len, &e, NULL) == 0) {
            uint64_t seq = e.seq;
            kura_audit_entry_free(&e);
            if (seq > *last && (stop = fn(seq, line, len, ctx)) != 0)
                break;
            if (seq > *last)
                *last = seq;
        }
        *pos = r.base + r.start;
    }
    audit_lines_free(&r);
    return stop ? 1 : rc < 0 ? -1 : 0;
}

/* Under the lock: whether the cursor's place in the live file still holds. */
struct resume {
    const char *log_path;
    uint64_t after;
    const struct kura_audit_cursor *cur;
    ino_t live;
};

static int resume_check(int hfd, const char *head_path, struct audit_files *f, void *ctx)
{
    (void)hfd;
    (void)head_path;
    struct resume *r = ctx;
    struct stat st;
    r->live = stat(r->log_path, &st) == 0 ? st.st_ino : 0;
    f->live_only = r->live && r->after > 0 && r->cur->seq == r->after && r->cur->ino == r->live &&
                   r->cur->offset <= (uint64_t)st.st_size;
    return 0;
}

int kura_audit_read_after(const char *log_path, uint64_t after, struct kura_audit_cursor *cur,
                          kura_audit_line_fn fn, void *ctx, struct kura_err *err)
{
    struct resume res = {.log_path = log_path, .after = after, .cur = cur};
    struct audit_files f;
    int rc = audit_files_open(log_path, resume_check, &res, &f, err);
    uint64_t last = after, pos = 0, ino = 0;
    for (size_t i = 0; rc == 0 && i < f.n; i++) {
        struct stat st;
        bool is_live = fstat(f.fds[i], &st) == 0 && st.st_ino == res.live && strcmp(f.paths[i], log_path) == 0;
        int r = offer_lines(f.fds[i], f.live_only ? cur->offset : 0, f.sizes[i], fn, ctx, &pos, &last);
        if (r < 0)
            rc = (kura_err_set(err, errno ? errno : ENOMEM, "read %s: %s", f.paths[i],
                               strerror(errno ? errno : ENOMEM)), -1);
        ino = is_live ? st.st_ino : 0;
        if (r != 0)
            break;
    }
    /* Only a place in the live file is worth keeping: a rotation moves it. */
    *cur = rc == 0 && ino ? (struct kura_audit_cursor){.ino = ino, .offset = pos, .seq = last}
                          : (struct kura_audit_cursor){0};
    audit_files_close(&f);
    return rc;
}
