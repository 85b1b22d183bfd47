/* Whole-buffer read/pread/write: the kernel may transfer less than asked
 * (pipes, signals), and Crypt4GH parsing needs exact byte counts. */
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "c4gh_priv.h"

ssize_t c4gh_read_full(int fd, void *buf, size_t n)
{
    if (n > SSIZE_MAX) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t got = read(fd, (uint8_t *)buf + done, n - done);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

ssize_t c4gh_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    if (n > SSIZE_MAX || off > (uint64_t)INT64_MAX - n) {
        errno = EINVAL;
        return -1;
    }
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

int c4gh_write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t put = write(fd, (const uint8_t *)buf + done, n - done);
        if (put < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (put == 0) {
            errno = EIO;
            return -1;
        }
        done += (size_t)put;
    }
    return 0;
}
