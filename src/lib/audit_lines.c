/* Reads a log file line by line with pread (the writer's descriptor is
 * O_APPEND; readers must not move a shared offset), in bounded memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
