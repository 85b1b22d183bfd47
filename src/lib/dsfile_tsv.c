/* files.tsv (path, file id, plaintext size, samples) and the samples TSV
 * given to import. Tab-separated, one record per line, no quoting: a tab,
 * a line end or any other control character in a path is refused, so a
 * line always splits the one way it was written. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/text.h"

static const char files_header[] = "path\tfile_id\tsize\tsamples";
static const char epoch_tag[] = "#epoch\t";

/* One line of text: [s, s + n), numbered from 1. */
struct line {
    const char *s;
    size_t n;
    int no;
    bool ended; /* followed by '\n' */
};

/* Steps to the next line; false at the end of the text. */
static bool next_line(const char *text, size_t len, size_t *pos, struct line *l)
{
    if (*pos >= len)
        return false;
    const char *s = text + *pos;
    const char *nl = memchr(s, '\n', len - *pos);
    l->s = s;
    l->n = nl ? (size_t)(nl - s) : len - *pos;
    l->ended = nl != NULL;
    l->no++;
    *pos += l->n + (nl ? 1 : 0);
    return true;
}

/* Bytes no field may hold, checked first so later checks see plain text. */
static int check_line_bytes(const char *name, const struct line *l, struct kura_err *err)
{
    if (memchr(l->s, '\0', l->n)) {
        kura_err_set(err, EINVAL, "%s:%d: NUL byte", name, l->no);
        return -1;
    }
    if (memchr(l->s, '\r', l->n)) {
        kura_err_set(err, EINVAL, "%s:%d: carriage return (save the file with LF line ends)", name, l->no);
        return -1;
    }
    return 0;
}

/* Splits l at tabs into exactly nf fields. */
static int split_fields(const char *name, const struct line *l, size_t nf, const char **f, size_t *fl,
                        struct kura_err *err)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= l->n; i++) {
        if (i < l->n && l->s[i] != '\t')
            continue;
        if (k == nf) {
            k++;
            break;
        }
        f[k] = l->s + start;
        fl[k] = i - start;
        k++;
        start = i + 1;
    }
    if (k != nf) {
        kura_err_set(err, EINVAL, "%s:%d: expected %zu tab-separated columns, found %s", name, l->no, nf,
                     k > nf ? "more" : "fewer");
        return -1;
    }
    return 0;
}

static int check_path_at(const char *name, int line, const char *p, size_t n, struct kura_err *err)
{
    if (kura_path_check(p, n, err) != 0) {
        kura_err_prefix(err, "%s:%d", name, line);
        return -1;
    }
    return 0;
}

static int check_sample_at(const char *name, int line, const char *s, size_t n, struct kura_err *err)
{
    char id[KURA_ID_MAX + 2];
    if (n > KURA_ID_MAX) {
        kura_err_set(err, EINVAL, "%s:%d: sample id longer than %d characters", name, line, KURA_ID_MAX);
        return -1;
    }
    memcpy(id, s, n);
    id[n] = '\0';
    if (kura_id_check(id, "sample id", err) != 0) {
        kura_err_prefix(err, "%s:%d", name, line);
        return -1;
    }
    return 0;
}

static bool file_id_valid(const char *s, size_t n)
{
    return n == KURA_FILE_ID_LEN && kura_hex_lower(s, n);
}

void kura_files_free(struct kura_file *files, size_t n)
{
    for (size_t i = 0; files && i < n; i++)
        kura_file_clear(&files[i]);
    free(files);
}

static int str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Row checks shared by parser and writer; line names the row in messages.
 * A joint VCF may name many thousands of samples: repeats by sorting. */
static int check_samples(const char *name, int line, char *const *samples, size_t n, struct kura_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (check_sample_at(name, line, samples[i], strlen(samples[i]), err) != 0)
            return -1;
    if (n < 2)
        return 0;
    char **sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    memcpy(sorted, samples, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, str_ptr_cmp);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++)
        if (strcmp(sorted[i], sorted[i - 1]) == 0) {
            kura_err_set(err, EINVAL, "%s:%d: sample %s listed twice", name, line, sorted[i]);
            rc = -1;
        }
    free(sorted);
    return rc;
}

static int by_path(const void *a, const void *b, void *ctx)
{
    const struct kura_file *files = ctx;
    return strcmp(files[*(const size_t *)a].path, files[*(const size_t *)b].path);
}

static int by_file_id(const void *a, const void *b, void *ctx)
{
    const struct kura_file *files = ctx;
    return strcmp(files[*(const size_t *)a].file_id, files[*(const size_t *)b].file_id);
}

/* strcmp of p[0..plen) (as a string) with q. */
static int prefix_cmp(const char *p, size_t plen, const char *q)
{
    int c = strncmp(p, q, plen);
    if (c != 0)
        return c;
    return q[plen] == '\0' ? 0 : -1;
}

/* Whether p[0..plen) is one of the paths (idx sorts files by path). */
static bool path_listed(const struct kura_file *files, const size_t *idx, size_t n, const char *p, size_t plen,
                        size_t *which)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = prefix_cmp(p, plen, files[idx[mid]].path);
        if (c == 0) {
            *which = idx[mid];
            return true;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

/* Of two rows, the later one's line (rows start on line 2). */
static void dup_lines(size_t a, size_t b, size_t *first, size_t *second)
{
    *first = (a < b ? a : b) + 2;
    *second = (a < b ? b : a) + 2;
}

/* Whole-table checks: paths and file ids unique, and no path is also the
 * directory of another (the mount could not serve both). */
static int check_table(const char *name, const struct kura_file *files, size_t n, struct kura_err *err)
{
    if (n < 2)
        return 0;
    size_t *idx = malloc(n * sizeof *idx);
    if (!idx) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    int rc = -1;
    size_t first, second;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof *idx, by_file_id, (void *)files);
    for (size_t i = 1; i < n; i++)
        if (strcmp(files[idx[i]].file_id, files[idx[i - 1]].file_id) == 0) {
            dup_lines(idx[i], idx[i - 1], &first, &second);
            kura_err_set(err, EINVAL, "%s:%zu: file id also on line %zu", name, second, first);
            goto out;
        }
    qsort_r(idx, n, sizeof *idx, by_path, (void *)files);
    for (size_t i = 1; i < n; i++)
        if (strcmp(files[idx[i]].path, files[idx[i - 1]].path) == 0) {
            dup_lines(idx[i], idx[i - 1], &first, &second);
            kura_err_set(err, EINVAL, "%s:%zu: path also on line %zu", name, second, first);
            goto out;
        }
    for (size_t i = 0; i < n; i++) {
        const char *p = files[i].path;
        size_t which;
        for (const char *slash = strchr(p, '/'); slash; slash = strchr(slash + 1, '/'))
            if (path_listed(files, idx, n, p, (size_t)(slash - p), &which)) {
                kura_err_set(err, EINVAL, "%s:%zu: path uses line %zu's file as a directory", name, i + 2,
                             which + 2);
                goto out;
            }
    }
    rc = 0;
out:
    free(idx);
    return rc;
}

/* Fills f from the four fields of one row. */
static int parse_row(const char *name, int line, const char **fld, const size_t *fl, struct kura_file *f,
                     struct kura_err *err)
{
    if (check_path_at(name, line, fld[0], fl[0], err) != 0)
        return -1;
    if (!file_id_valid(fld[1], fl[1])) {
        kura_err_set(err, EINVAL, "%s:%d: file id must be %d lowercase hex digits", name, line, KURA_FILE_ID_LEN);
        return -1;
    }
    if ((fl[2] > 1 && fld[2][0] == '0') || kura_parse_decimal(fld[2], fl[2], UINT64_MAX, &f->size) != 0) {
        kura_err_set(err, EINVAL, "%s:%d: size must be a whole number of bytes (no sign, no leading zero)", name,
                     line);
        return -1;
    }
    f->path = strndup(fld[0], fl[0]);
    if (!f->path)
        goto oom;
    memcpy(f->file_id, fld[1], KURA_FILE_ID_LEN);
    f->file_id[KURA_FILE_ID_LEN] = '\0';
    if (fl[3] > 0) {
        size_t count = 1;
        for (size_t i = 0; i < fl[3]; i++)
            count += fld[3][i] == ',';
        f->samples = calloc(count, sizeof *f->samples);
        if (!f->samples)
            goto oom;
        size_t start = 0;
        for (size_t i = 0; i <= fl[3]; i++) {
            if (i < fl[3] && fld[3][i] != ',')
                continue;
            if (check_sample_at(name, line, fld[3] + start, i - start, err) != 0)
                return -1;
            f->samples[f->nsamples] = strndup(fld[3] + start, i - start);
            if (!f->samples[f->nsamples])
                goto oom;
            f->nsamples++;
            start = i + 1;
        }
    }
    return check_samples(name, line, f->samples, f->nsamples, err);
oom:
    kura_err_set(err, ENOMEM, "out of memory");
    return -1;
}

/* The "#epoch<TAB>N" line that stamps files.tsv in cluster mode. */
static int parse_epoch_line(const char *name, const struct line *l, int64_t *epoch, struct kura_err *err)
{
    size_t k = sizeof epoch_tag - 1;
    uint64_t v;
    if (l->n <= k || l->s[k] == '0' || kura_parse_decimal(l->s + k, l->n - k, INT64_MAX, &v) != 0 || v == 0) {
        kura_err_set(err, EINVAL, "%s:%d: expected \"#epoch<TAB>N\", N a change epoch (a positive number)", name,
                     l->no);
        return -1;
    }
    *epoch = (int64_t)v;
    return 0;
}

int kura_files_parse(const char *name, const char *text, size_t len, struct kura_file **files, size_t *n,
                     struct kura_err *err)
{
    int64_t epoch;
    return kura_files_parse_epoch(name, text, len, files, n, &epoch, err);
}

int kura_files_parse_epoch(const char *name, const char *text, size_t len, struct kura_file **files, size_t *n,
                           int64_t *epoch, struct kura_err *err)
{
    *files = NULL;
    *n = 0;
    *epoch = 0;
    size_t pos = 0, cap = 0;
    struct line l = {0};
    bool more = next_line(text, len, &pos, &l);
    if (more && l.n >= sizeof epoch_tag - 1 && memcmp(l.s, epoch_tag, sizeof epoch_tag - 1) == 0) {
        if (!l.ended) {
            kura_err_set(err, EINVAL, "%s:%d: last line has no line end (file cut short?)", name, l.no);
            return -1;
        }
        if (check_line_bytes(name, &l, err) != 0 || parse_epoch_line(name, &l, epoch, err) != 0)
            return -1;
        more = next_line(text, len, &pos, &l);
    }
    if (!more || l.n != sizeof files_header - 1 ||
        memcmp(l.s, files_header, l.n) != 0) {
        kura_err_set(err, EINVAL, "%s:%d: expected the header \"path<TAB>file_id<TAB>size<TAB>samples\"", name,
                     l.no ? l.no : 1);
        return -1;
    }
    do {
        if (!l.ended) {
            kura_err_set(err, EINVAL, "%s:%d: last line has no line end (file cut short?)", name, l.no);
            return -1;
        }
        if (!next_line(text, len, &pos, &l))
            break;
        if (check_line_bytes(name, &l, err) != 0)
            return -1;
        const char *fld[4];
        size_t fl[4];
        if (split_fields(name, &l, 4, fld, fl, err) != 0)
            return -1;
        if (!kura_grow((void **)files, &cap, *n, sizeof **files)) {
            kura_err_set(err, ENOMEM, "out of memory");
            return -1;
        }
        struct kura_file *f = &(*files)[*n];
        memset(f, 0, sizeof *f);
        (*n)++;
        if (parse_row(name, l.no, fld, fl, f, err) != 0)
            return -1;
    } while (true);
    return check_table(name, *files, *n, err);
}

int kura_files_load(const char *path, struct kura_file **files, size_t *n, struct kura_err *err)
{
    int64_t epoch;
    return kura_files_load_epoch(path, files, n, &epoch, err);
}

int kura_files_load_epoch(const char *path, struct kura_file **files, size_t *n, int64_t *epoch,
                          struct kura_err *err)
{
    *files = NULL;
    *n = 0;
    *epoch = 0;
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(path, KURA_FILES_TSV_MAX, &text, &len, err) != 0)
        return -1;
    int rc = kura_files_parse_epoch(path, text, len, files, n, epoch, err);
    free(text);
    return rc;
}

char *kura_files_format(const struct kura_file *files, size_t n, size_t *len, struct kura_err *err)
{
    return kura_files_format_epoch(files, n, 0, len, err);
}

char *kura_files_format_epoch(const struct kura_file *files, size_t n, int64_t epoch, size_t *len,
                              struct kura_err *err)
{
    const char *name = KURA_FILES_TSV;
    size_t total = sizeof files_header + 1 + sizeof epoch_tag + 24;
    for (size_t i = 0; i < n; i++) {
        const struct kura_file *f = &files[i];
        int line = (int)(i + 2);
        if (!f->path || check_path_at(name, line, f->path, strlen(f->path), err) != 0)
            return NULL;
        if (!file_id_valid(f->file_id, strnlen(f->file_id, sizeof f->file_id))) {
            kura_err_set(err, EINVAL, "%s:%d: file id must be %d lowercase hex digits", name, line,
                         KURA_FILE_ID_LEN);
            return NULL;
        }
        if (check_samples(name, line, f->samples, f->nsamples, err) != 0)
            return NULL;
        total += strlen(f->path) + KURA_FILE_ID_LEN + 24 + 4;
        for (size_t j = 0; j < f->nsamples; j++)
            total += strlen(f->samples[j]) + 1;
    }
    if (check_table(name, files, n, err) != 0)
        return NULL;
    char *buf = malloc(total);
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    size_t o = 0;
    if (epoch > 0)
        o += (size_t)snprintf(buf, total, "%s%" PRId64 "\n", epoch_tag, epoch);
    o += (size_t)snprintf(buf + o, total - o, "%s\n", files_header);
    for (size_t i = 0; i < n; i++) {
        const struct kura_file *f = &files[i];
        o += (size_t)snprintf(buf + o, total - o, "%s\t%s\t%" PRIu64 "\t", f->path, f->file_id, f->size);
        for (size_t j = 0; j < f->nsamples; j++)
            o += (size_t)snprintf(buf + o, total - o, "%s%s", j ? "," : "", f->samples[j]);
        buf[o++] = '\n';
    }
    buf[o] = '\0';
    if (len)
        *len = o;
    return buf;
}

int kura_files_save(const char *path, const struct kura_file *files, size_t n, struct kura_err *err)
{
    size_t len = 0;
    char *text = kura_files_format(files, n, &len, err);
    if (!text)
        return -1;
    int rc = kura_write_file_atomic(path, text, len, KURA_STATE_FILE_MODE, err);
    free(text);
    return rc;
}

/* ---- samples TSV ---------------------------------------------------------- */

struct pair {
    const char *path, *sample;
    size_t plen, slen;
    int line;
};

/* Byte strings with lengths, ordered as strcmp orders C strings. */
static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* By path, then line: the map's order. */
static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = bytes_cmp(x->path, x->plen, y->path, y->plen);
    return c ? c : x->line - y->line;
}

/* By path, sample, line: repeats side by side. */
static int pair_sample_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = bytes_cmp(x->path, x->plen, y->path, y->plen);
    if (!c)
        c = bytes_cmp(x->sample, x->slen, y->sample, y->slen);
    return c ? c : x->line - y->line;
}

/* The repeated pair whose second line comes first, if any. */
static int check_repeats(const char *name, struct pair *pairs, size_t np, struct kura_err *err)
{
    qsort(pairs, np, sizeof *pairs, pair_sample_cmp);
    int first = 0, second = 0;
    for (size_t i = 1; i < np; i++)
        if (bytes_cmp(pairs[i].path, pairs[i].plen, pairs[i - 1].path, pairs[i - 1].plen) == 0 &&
            bytes_cmp(pairs[i].sample, pairs[i].slen, pairs[i - 1].sample, pairs[i - 1].slen) == 0 &&
            (!second || pairs[i].line < second)) {
            first = pairs[i - 1].line;
            second = pairs[i].line;
        }
    if (second) {
        kura_err_set(err, EINVAL, "%s:%d: this path and sample are already on line %d", name, second, first);
        return -1;
    }
    return 0;
}

void kura_samples_free(struct kura_sample_map *map)
{
    for (size_t i = 0; map->entries && i < map->n; i++) {
        struct kura_sample_entry *e = &map->entries[i];
        for (size_t j = 0; e->samples && j < e->nsamples; j++)
            free(e->samples[j]);
        free(e->samples);
        free(e->path);
    }
    free(map->entries);
    map->entries = NULL;
    map->n = 0;
}

static bool blank_line(const struct line *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->s[i] != ' ' && l->s[i] != '\t')
            return false;
    return true;
}

/* Groups the sorted pairs by path into map entries. */
static int build_map(const struct pair *pairs, size_t np, struct kura_sample_map *map,
                     struct kura_err *err)
{
    for (size_t i = 0; i < np;) {
        size_t j = i;
        while (j < np && pairs[j].plen == pairs[i].plen && memcmp(pairs[j].path, pairs[i].path, pairs[i].plen) == 0)
            j++;
        struct kura_sample_entry *e = &map->entries[map->n];
        memset(e, 0, sizeof *e);
        map->n++;
        e->path = strndup(pairs[i].path, pairs[i].plen);
        e->samples = calloc(j - i, sizeof *e->samples);
        if (!e->path || !e->samples)
            goto oom;
        for (size_t k = i; k < j; k++) {
            e->samples[e->nsamples] = strndup(pairs[k].sample, pairs[k].slen);
            if (!e->samples[e->nsamples])
                goto oom;
            e->nsamples++;
        }
        i = j;
    }
    return 0;
oom:
    kura_err_set(err, ENOMEM, "out of memory");
    return -1;
}

int kura_samples_parse(const char *name, const char *text, size_t len, struct kura_sample_map *map,
                       struct kura_err *err)
{
    map->n = 0;
    map->entries = NULL;
    struct pair *pairs = NULL;
    size_t np = 0, cap = 0, pos = 0;
    struct line l = {0};
    int rc = -1;
    while (next_line(text, len, &pos, &l)) {
        if (check_line_bytes(name, &l, err) != 0)
            goto out;
        if (blank_line(&l) || l.s[0] == '#')
            continue;
        const char *fld[2];
        size_t fl[2];
        if (split_fields(name, &l, 2, fld, fl, err) != 0 || check_path_at(name, l.no, fld[0], fl[0], err) != 0 ||
            check_sample_at(name, l.no, fld[1], fl[1], err) != 0)
            goto out;
        if (!kura_grow((void **)&pairs, &cap, np, sizeof *pairs)) {
            kura_err_set(err, ENOMEM, "out of memory");
            goto out;
        }
        pairs[np++] = (struct pair){fld[0], fld[1], fl[0], fl[1], l.no};
    }
    if (np > 0) {
        if (check_repeats(name, pairs, np, err) != 0)
            goto out;
        qsort(pairs, np, sizeof *pairs, pair_cmp);
        map->entries = calloc(np, sizeof *map->entries);
        if (!map->entries) {
            kura_err_set(err, ENOMEM, "out of memory");
            goto out;
        }
        if (build_map(pairs, np, map, err) != 0)
            goto out;
    }
    rc = 0;
out:
    free(pairs);
    if (rc != 0)
        kura_samples_free(map);
    return rc;
}

int kura_samples_load(const char *path, struct kura_sample_map *map, struct kura_err *err)
{
    map->n = 0;
    map->entries = NULL;
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(path, KURA_SAMPLES_TSV_MAX, &text, &len, err) != 0)
        return -1;
    int rc = kura_samples_parse(path, text, len, map, err);
    free(text);
    return rc;
}

static int entry_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct kura_sample_entry *)elem)->path);
}

const struct kura_sample_entry *kura_samples_find(const struct kura_sample_map *map, const char *path)
{
    if (!map->entries)
        return NULL;
    return bsearch(path, map->entries, map->n, sizeof *map->entries, entry_cmp);
}
