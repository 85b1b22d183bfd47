#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/ledger.h"
#include "kura/text.h"
#include "kura/when.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* Members in canonical order; the hash member always comes last. */
enum { F_SEQ, F_TIME, F_ACTOR, F_UID, F_ACTION, F_TARGET, F_DETAIL, F_BEFORE, F_AFTER, F_PREV, F_HASH, F_N };
static const char *const field_names[F_N] = {"seq",    "time",   "actor", "uid",  "action", "target",
                                             "detail", "before", "after", "prev", "hash"};

static bool is_int_field(int i)
{
    return i == F_SEQ || i == F_UID;
}

/* The same rules for what append accepts and what verify accepts. */
static int check_string(const char *what, const char *s, struct kura_err *err)
{
    size_t n = strlen(s);
    if (n > KURA_LEDGER_FIELD_MAX) {
        kura_err_set(err, EINVAL, "%s is longer than %d bytes", what, KURA_LEDGER_FIELD_MAX);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) {
            kura_err_set(err, EINVAL, "%s holds a control character", what);
            return -1;
        }
    if (!kura_utf8_valid(s, n)) {
        kura_err_set(err, EINVAL, "%s is not valid UTF-8", what);
        return -1;
    }
    return 0;
}

static bool hex64(const char *s)
{
    return strlen(s) == KURA_HASH_HEX_LEN && kura_hex_lower(s, KURA_HASH_HEX_LEN);
}

/* Writes the canonical record without the hash member ("{...}") into buf. */
static int canonical(const struct kura_ledger_record *r, char *buf, size_t cap, size_t *len, struct kura_err *err)
{
    struct kura_json_writer w;
    kura_json_begin(&w, buf, cap);
    kura_json_add_int(&w, "seq", r->seq);
    kura_json_add_string(&w, "time", r->time);
    kura_json_add_string(&w, "actor", r->actor);
    kura_json_add_int(&w, "uid", r->uid);
    kura_json_add_string(&w, "action", r->action);
    kura_json_add_string(&w, "target", r->target);
    kura_json_add_string(&w, "detail", r->detail);
    kura_json_add_string(&w, "before", r->before);
    kura_json_add_string(&w, "after", r->after);
    kura_json_add_string(&w, "prev", r->prev);
    return kura_json_end(&w, len, err);
}

static void sha256_hex(const char *data, size_t len, char out[KURA_HASH_HEX_LEN + 1])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, (const unsigned char *)data, len);
    sodium_bin2hex(out, KURA_HASH_HEX_LEN + 1, d, sizeof d);
}

/* Full line (without '\n') from the canonical bytes and the hash. */
static int seal(char *buf, size_t cap, size_t *len, const char *hash)
{
    /* buf holds "{...}" of *len bytes: replace the final '}'. */
    int n = snprintf(buf + *len - 1, cap - (*len - 1), ",\"hash\":\"%s\"}", hash);
    if (n < 0 || (size_t)n >= cap - (*len - 1))
        return -1;
    *len = *len - 1 + (size_t)n;
    return 0;
}

int kura_ledger_format(const struct kura_ledger_record *r, char *buf, size_t cap, size_t *len, struct kura_err *err)
{
    size_t n;
    if (canonical(r, buf, cap, &n, err) != 0)
        return -1;
    if (seal(buf, cap, &n, r->hash) != 0) {
        kura_err_set(err, ENOBUFS, "ledger record does not fit in %zu bytes", cap);
        return -1;
    }
    if (len)
        *len = n;
    return 0;
}

static int check_fields(const struct kura_ledger_record *r, struct kura_err *err)
{
    int64_t start, end;
    if (kura_when_parse(r->time, NULL, &start, &end, err) != 0 || start != end) {
        kura_err_set(err, EINVAL, "time is not an RFC 3339 time stamp with offset");
        return -1;
    }
    if (kura_user_name_check(r->actor, err) != 0) {
        kura_err_prefix(err, "actor");
        return -1;
    }
    if (r->uid < 0 || r->uid >= (int64_t)UINT32_MAX) {
        kura_err_set(err, EINVAL, "uid out of range");
        return -1;
    }
    if (!*r->action) {
        kura_err_set(err, EINVAL, "action is empty");
        return -1;
    }
    if (check_string("action", r->action, err) != 0 || check_string("target", r->target, err) != 0 ||
        check_string("detail", r->detail, err) != 0 || check_string("before", r->before, err) != 0 ||
        check_string("after", r->after, err) != 0)
        return -1;
    return 0;
}

/* Checks one line on its own (form, fields, own hash) and fills r, whose
 * strings point into obj. The chain (seq, prev) is the caller's. */
static int check_line(const char *line, size_t len, struct kura_json_object *obj, struct kura_ledger_record *r,
                      struct kura_err *err)
{
    if (len == 0) {
        kura_err_set(err, EINVAL, "empty line");
        return -1;
    }
    if (len > KURA_LEDGER_LINE_MAX) {
        kura_err_set(err, EINVAL, "line longer than %d bytes", KURA_LEDGER_LINE_MAX);
        return -1;
    }
    if (kura_json_parse_object(line, len, obj, err) != 0) {
        kura_err_prefix(err, "not a JSON object");
        return -1;
    }
    if (obj->n != F_N) {
        kura_err_set(err, EINVAL, "%zu members where a record has %d", obj->n, F_N);
        return -1;
    }
    for (int i = 0; i < F_N; i++) {
        const struct kura_json_field *f = &obj->fields[i];
        if (strcmp(f->key, field_names[i]) != 0) {
            kura_err_set(err, EINVAL, "member %d is \"%.20s\" where \"%s\" belongs", i + 1, f->key, field_names[i]);
            return -1;
        }
        if ((f->type == KURA_JSON_INT) != is_int_field(i)) {
            kura_err_set(err, EINVAL, "%s must be %s", field_names[i], is_int_field(i) ? "an integer" : "a string");
            return -1;
        }
    }
    const struct kura_json_field *f = obj->fields;
    *r = (struct kura_ledger_record){
        .seq = f[F_SEQ].num, .time = f[F_TIME].str, .actor = f[F_ACTOR].str, .uid = f[F_UID].num,
        .action = f[F_ACTION].str, .target = f[F_TARGET].str, .detail = f[F_DETAIL].str,
        .before = f[F_BEFORE].str, .after = f[F_AFTER].str, .prev = f[F_PREV].str, .hash = f[F_HASH].str,
    };
    if (!hex64(r->prev) || !hex64(r->hash)) {
        kura_err_set(err, EINVAL, "prev and hash must be 64 lowercase hex digits");
        return -1;
    }
    if (check_fields(r, err) != 0)
        return -1;
    char buf[KURA_LEDGER_LINE_MAX + 1];
    size_t clen;
    if (canonical(r, buf, sizeof buf, &clen, err) != 0)
        return -1;
    char want[KURA_HASH_HEX_LEN + 1];
    sha256_hex(buf, clen, want);
    if (seal(buf, sizeof buf, &clen, r->hash) != 0 || clen != len || memcmp(buf, line, len) != 0) {
        kura_err_set(err, EINVAL, "record is not in canonical form (changed by hand?)");
        return -1;
    }
    if (strcmp(want, r->hash) != 0) {
        kura_err_set(err, EINVAL, "hash does not match the record (record changed)");
        return -1;
    }
    return 0;
}

int kura_ledger_scan(const char *name, const char *text, size_t len, kura_ledger_fn fn, void *arg, size_t *nrecords,
                     char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err)
{
    char prev[KURA_HASH_HEX_LEN + 1] = ZERO_HASH;
    size_t pos = 0, count = 0;
    int line = 0;
    if (nrecords)
        *nrecords = 0;
    while (pos < len) {
        line++;
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        if (!nl) {
            kura_err_set(err, EINVAL, "%s:%d: last line has no line end (cut short?)", name, line);
            return -1;
        }
        size_t n = (size_t)(nl - s);
        pos += n + 1;
        struct kura_json_object obj;
        struct kura_ledger_record r;
        memset(&obj, 0, sizeof obj);
        if (check_line(s, n, &obj, &r, err) != 0) {
            kura_json_object_free(&obj);
            kura_err_prefix(err, "%s:%d", name, line);
            return -1;
        }
        if (r.seq != (int64_t)count + 1) {
            kura_err_set(err, EINVAL, "%s:%d: seq %lld where %zu was expected (a record deleted, inserted or moved)",
                         name, line, (long long)r.seq, count + 1);
            kura_json_object_free(&obj);
            return -1;
        }
        if (strcmp(r.prev, prev) != 0) {
            if (line == 1)
                kura_err_set(err, EINVAL, "%s:1: prev of the first record must be 64 zeros", name);
            else
                kura_err_set(err, EINVAL, "%s:%d: prev does not match line %d's hash (a record changed, deleted, "
                             "inserted or moved)", name, line, line - 1);
            kura_json_object_free(&obj);
            return -1;
        }
        memcpy(prev, r.hash, sizeof prev);
        count++;
        r.line = line;
        int stop = fn ? fn(&r, arg) : 0;
        kura_json_object_free(&obj);
        if (stop)
            return stop;
    }
    if (nrecords)
        *nrecords = count;
    if (head)
        memcpy(head, prev, sizeof prev);
    return 0;
}

/* How long a reader waits for a last line to get its end: a view reads
 * without the dataset's lock, and may meet an append between the pages it
 * writes; a line a crash or an editor cut short stays cut, and fails. */
#define TORN_TAIL_TRIES 10
#define TORN_TAIL_WAIT_US 10000

/* The whole ledger, once its last line has its end (or the wait is over). */
static int read_ledger(const char *path, char **text, size_t *len, struct kura_err *err)
{
    for (int tries = 1;; tries++) {
        if (kura_read_file(path, KURA_LEDGER_FILE_MAX, text, len, err) != 0)
            return -1;
        if (*len == 0 || (*text)[*len - 1] == '\n' || tries == TORN_TAIL_TRIES)
            return 0;
        free(*text);
        usleep(TORN_TAIL_WAIT_US);
    }
}

int kura_ledger_read(const char *path, kura_ledger_fn fn, void *arg, struct kura_err *err)
{
    char *text = NULL;
    size_t len = 0;
    if (read_ledger(path, &text, &len, err) != 0)
        return -1;
    int rc = kura_ledger_scan(path, text, len, fn, arg, NULL, NULL, err);
    free(text);
    return rc;
}

int kura_ledger_verify(const char *path, size_t *nrecords, char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err)
{
    char *text = NULL;
    size_t len = 0;
    if (nrecords)
        *nrecords = 0;
    if (read_ledger(path, &text, &len, err) != 0)
        return -1;
    int rc = kura_ledger_scan(path, text, len, NULL, NULL, nrecords, head, err);
    free(text);
    return rc;
}

/* The last record's seq and hash, from the end of the open file. */
static int read_last(int fd, const char *path, int64_t *seq, char hash[KURA_HASH_HEX_LEN + 1], struct kura_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kura_err_set(err, EINVAL, "%s: not a regular file", path);
        return -1;
    }
    if (st.st_size == 0) {
        *seq = 0;
        memcpy(hash, ZERO_HASH, KURA_HASH_HEX_LEN + 1);
        return 0;
    }
    size_t want = (uintmax_t)st.st_size < KURA_LEDGER_LINE_MAX + 2 ? (size_t)st.st_size : KURA_LEDGER_LINE_MAX + 2;
    off_t off = st.st_size - (off_t)want;
    char *buf = malloc(want);
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    ssize_t got = kura_pread_full(fd, buf, want, (uint64_t)off);
    if (got != (ssize_t)want) {
        int e = got < 0 ? errno : EIO;
        free(buf);
        kura_err_set(err, e, "read %s: %s", path, strerror(e));
        return -1;
    }
    int rc = -1;
    if (buf[want - 1] != '\n') {
        kura_err_set(err, EINVAL, "%s: last line has no line end (cut short?); run kuractl ledger to see", path);
        goto out;
    }
    size_t start = want - 1;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    if (start == 0 && off > 0) {
        kura_err_set(err, EINVAL, "%s: last line longer than %d bytes", path, KURA_LEDGER_LINE_MAX);
        goto out;
    }
    struct kura_json_object obj;
    struct kura_ledger_record r;
    memset(&obj, 0, sizeof obj);
    if (check_line(buf + start, want - 1 - start, &obj, &r, err) != 0) {
        kura_err_prefix(err, "%s: last record", path);
    } else {
        *seq = r.seq;
        memcpy(hash, r.hash, KURA_HASH_HEX_LEN + 1);
        rc = 0;
    }
    kura_json_object_free(&obj);
out:
    free(buf);
    return rc;
}

static int check_change(const struct kura_ledger_change *c, struct kura_ledger_record *r, struct kura_err *err)
{
    if (!c->actor || !c->action || !c->target || !c->detail || !c->before || !c->after) {
        kura_err_set(err, EINVAL, "ledger change with a missing field");
        return -1;
    }
    r->actor = c->actor;
    r->uid = (int64_t)c->uid;
    r->action = c->action;
    r->target = c->target;
    r->detail = c->detail;
    r->before = c->before;
    r->after = c->after;
    return check_fields(r, err);
}

int kura_ledger_append(const char *path, const struct kura_ledger_change *c, int64_t now,
                       const struct kura_zone *zone, char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err)
{
    char time[48];
    struct kura_ledger_record r = {.time = time};
    if (kura_time_format(now, zone, time, sizeof time) != 0) {
        kura_err_set(err, EINVAL, "ledger: cannot write the time %" PRId64 " in the zone", now);
        return -1;
    }
    if (check_change(c, &r, err) != 0) {
        kura_err_prefix(err, "ledger change");
        return -1;
    }
    bool created = true;
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, KURA_STATE_FILE_MODE);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        int e = errno;
        kura_err_set(err, e, "open %s: %s", path, strerror(e));
        return -1;
    }
    if (created && fchmod(fd, KURA_STATE_FILE_MODE) != 0) {
        int e = errno;
        close(fd);
        kura_err_set(err, e, "chmod %s: %s", path, strerror(e));
        return -1;
    }
    /* Appenders exclude each other even if one forgot the dataset lock. */
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            kura_err_set(err, e, "lock %s: %s", path, strerror(e));
            return -1;
        }
    char prev[KURA_HASH_HEX_LEN + 1], hash[KURA_HASH_HEX_LEN + 1];
    char buf[KURA_LEDGER_LINE_MAX + 2];
    size_t len;
    int64_t last;
    off_t size;
    if (read_last(fd, path, &last, prev, err) != 0)
        goto fail;
    r.seq = last + 1;
    r.prev = prev;
    if (canonical(&r, buf, sizeof buf - 1, &len, err) != 0) {
        kura_err_prefix(err, "ledger record");
        goto fail;
    }
    sha256_hex(buf, len, hash);
    if (seal(buf, sizeof buf - 1, &len, hash) != 0 || len > KURA_LEDGER_LINE_MAX) {
        kura_err_set(err, EINVAL, "ledger record longer than %d bytes", KURA_LEDGER_LINE_MAX);
        goto fail;
    }
    buf[len++] = '\n';
    size = lseek(fd, 0, SEEK_END);
    ssize_t n = write(fd, buf, len);
    if (n != (ssize_t)len) {
        int e = n < 0 ? errno : ENOSPC;
        /* Never leave a torn line: it would stop every later append. */
        if (n > 0 && size >= 0 && ftruncate(fd, size) != 0)
            kura_err_set(err, e, "append %s: %s; the last line is torn: remove it", path, strerror(e));
        else
            kura_err_set(err, e, "append %s: %s", path, strerror(e));
        goto fail;
    }
    if (fdatasync(fd) != 0) {
        int e = errno;
        kura_err_set(err, e, "fdatasync %s: %s", path, strerror(e));
        goto fail;
    }
    close(fd);
    if (created && kura_fsync_parent(path, err) != 0)
        return -1;
    if (head)
        memcpy(head, hash, sizeof hash);
    return 0;
fail:
    close(fd); /* a ledger created empty stays: others may already wait on its lock */
    return -1;
}
