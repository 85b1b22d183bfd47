/* Splitting a Crypt4GH file into its header and payload, and joining them
 * back. No keys needed: the header is checked for structure, the payload
 * for a possible length; authentication is for whoever holds the key. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "c4gh_priv.h"
#include "kura/fsutil.h"

#define COPY_CHUNK (256 * 1024)

/* Copies in_fd to EOF into out_fd; checks the copied length is a payload's. */
static int copy_payload(int in_fd, int out_fd, struct kura_err *err)
{
    uint8_t *buf = malloc(COPY_CHUNK);
    uint64_t total = 0, plain;
    if (!buf) {
        kura_err_set(err, ENOMEM, "out of memory copying a payload");
        return -1;
    }
    for (;;) {
        ssize_t got = kura_read_full(in_fd, buf, COPY_CHUNK);
        if (got < 0) {
            kura_err_set(err, errno, "reading the payload: %s", strerror(errno));
            goto fail;
        }
        if (got == 0)
            break;
        if (kura_write_full(out_fd, buf, (size_t)got) != 0) {
            kura_err_set(err, errno, "writing the payload: %s", strerror(errno));
            goto fail;
        }
        total += (uint64_t)got;
    }
    free(buf);
    return c4gh_payload_plain_size(total, &plain, err);
fail:
    free(buf);
    return -1;
}

int c4gh_split(int in_fd, int header_fd, int payload_fd, struct kura_err *err)
{
    uint8_t *raw;
    size_t raw_len;
    if (c4gh_header_read_stream(in_fd, &raw, &raw_len, err) != 0)
        return -1;
    int rc = kura_write_full(header_fd, raw, raw_len);
    free(raw);
    if (rc != 0) {
        kura_err_set(err, errno, "writing the header: %s", strerror(errno));
        return -1;
    }
    return copy_payload(in_fd, payload_fd, err);
}

int c4gh_join(int header_fd, int payload_fd, int out_fd, struct kura_err *err)
{
    uint8_t *raw, extra;
    size_t raw_len;
    if (c4gh_header_read_stream(header_fd, &raw, &raw_len, err) != 0)
        return -1;
    ssize_t more = kura_read_full(header_fd, &extra, 1);
    if (more != 0) {
        if (more < 0)
            kura_err_set(err, errno, "reading the header: %s", strerror(errno));
        else
            kura_err_set(err, EINVAL, "malformed header: the header file has bytes after the last packet");
        free(raw);
        return -1;
    }
    int rc = kura_write_full(out_fd, raw, raw_len);
    free(raw);
    if (rc != 0) {
        kura_err_set(err, errno, "writing the header: %s", strerror(errno));
        return -1;
    }
    return copy_payload(payload_fd, out_fd, err);
}
