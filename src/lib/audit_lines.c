/* Reads a log file line by line with pread (the writer's descriptor is
 * O_APPEND; readers must not move a shared offset), in bounded memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_priv.h"

#define CHUNK 65536
#define CAP (KURA_AUDIT_LINE_MAX + 1 + CHUNK)

int audit_lines_init(struct audit_lines *r, int fd, uint64_t from, uint64_t limit)
{
    *r = (struct audit_lines){.fd = fd, .base = from, .limit = limit};
    r->buf = malloc(CAP);
    return r->buf ? 0 : -1;
}

void audit_lines_free(struct audit_lines *r)
{
    free(r->buf);
    r->buf = NULL;
}

int audit_lines_open(struct audit_lines *r, const char *path, uint64_t tail, struct stat *st, struct kura_err *err)
{
    struct stat own;
    if (!st)
        st = &own;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, st) != 0) {
        kura_err_set(err, errno, "open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint64_t from = tail && (uint64_t)st->st_size > tail ? (uint64_t)st->st_size - tail : 0;
    if (audit_lines_init(r, fd, from, UINT64_MAX) != 0) {
        close(fd);
        kura_err_set(err, ENOMEM, "out of memory reading %s", path);
        return -1;
    }
    return 0;
}

void audit_lines_close(struct audit_lines *r)
{
    audit_lines_free(r);
    close(r->fd);
}

/* Moves the unread bytes to the front and reads more: bytes read, 0 at the
 * limit or the end of the file, -1 on error. */
static ssize_t fill(struct audit_lines *r)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->base += r->start;
        r->end -= r->start;
        r->start = 0;
    }
    uint64_t pos = r->base + r->end;
    if (pos >= r->limit)
        return 0;
    size_t want = CAP - r->end;
    if (want > r->limit - pos)
        want = (size_t)(r->limit - pos);
    ssize_t n;
    do
        n = pread(r->fd, r->buf + r->end, want, (off_t)pos);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        r->end += (size_t)n;
    return n;
}

int audit_lines_next(struct audit_lines *r, const char **line, size_t *len, enum audit_line_kind *kind,
                     uint64_t *off)
{
    bool skipping = false;  /* inside a line too long to keep */
    uint64_t skip_off = 0;
    for (;;) {
        char *from = r->buf + r->start;
        char *nl = memchr(from, '\n', r->end - r->start);
        if (nl) {
            size_t n = (size_t)(nl - from);
            *off = skipping ? skip_off : r->base + r->start;
            r->start += n + 1;
            r->number++;
            if (skipping || n > KURA_AUDIT_LINE_MAX) {
                *kind = AUDIT_LINE_LONG;
                *line = NULL;
                *len = 0;
            } else {
                *kind = AUDIT_LINE_OK;
                *line = from;
                *len = n;
            }
            return 1;
        }
        if (!skipping && r->end - r->start > KURA_AUDIT_LINE_MAX) {
            skipping = true;
            skip_off = r->base + r->start;
        }
        if (skipping)
            r->start = r->end;
        ssize_t got = fill(r);
        if (got < 0)
            return -1;
        if (got > 0)
            continue;
        if (!skipping && r->start == r->end)
            return 0;
        *kind = AUDIT_LINE_PARTIAL;
        *off = skipping ? skip_off : r->base + r->start;
        *line = skipping ? NULL : r->buf + r->start;
        *len = skipping ? 0 : r->end - r->start;
        r->start = r->end;
        r->number++;
        return 1;
    }
}
