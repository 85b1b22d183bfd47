/* Random access to a Crypt4GH payload: maps a visible (edit-list-applied)
 * range to raw plaintext, reads only the cipher segments that cover it
 * (consecutive ones with one pread), authenticates each, and keeps the last
 * partly used segment decrypted in secure memory for the next read.
 * Several threads may read one reader at once (a FUSE daemon serves
 * readahead requests of one file in parallel): each read has its own
 * cipher buffer, and only the kept segment is shared, under its lock. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "c4gh_priv.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"

/* Most cipher segments fetched by one pread (bounds the buffer: ~1 MiB). */
#define READ_BATCH 16
#define NO_SEGMENT UINT64_MAX

struct c4gh_reader {
    int fd;
    uint64_t payload_off, payload_len;
    struct c4gh_header *h;        /* own copy; keys in secure memory */
    atomic_size_t key_hint;       /* key that opened the last segment */
    uint64_t raw_plain, nsegs, visible;
    struct c4gh_range *ranges;
    size_t nranges;
    pthread_mutex_t cache_lock;   /* cache and cache_seg */
    uint8_t *cache;               /* one decrypted segment, secure memory; NULL until a read needs it */
    uint64_t cache_seg;
    uint8_t *map;                 /* expected nonces, or NULL */
    struct kura_err broken;       /* set once the payload is known bad: every read fails */
};

int c4gh_reader_open(struct c4gh_reader **out, int payload_fd, uint64_t payload_off, uint64_t payload_len,
                     const struct c4gh_header *h, struct kura_err *err)
{
    *out = NULL;
    if (!h || h->nkeys == 0) {
        kura_err_set(err, EINVAL, "cannot read: the header has no data key");
        return -1;
    }
    if (payload_off > (uint64_t)INT64_MAX || payload_len > (uint64_t)INT64_MAX - payload_off) {
        kura_err_set(err, EINVAL, "payload offset %llu + length %llu is beyond any file",
                     (unsigned long long)payload_off, (unsigned long long)payload_len);
        return -1;
    }
    struct c4gh_reader *r = calloc(1, sizeof *r);
    if (!r) {
        kura_err_set(err, ENOMEM, "out of memory opening a Crypt4GH reader");
        return -1;
    }
    pthread_mutex_init(&r->cache_lock, NULL);
    atomic_init(&r->key_hint, 0);
    r->fd = payload_fd;
    r->payload_off = payload_off;
    r->payload_len = payload_len;
    r->cache_seg = NO_SEGMENT;
    if (c4gh_payload_plain_size(payload_len, &r->raw_plain, err) != 0)
        goto fail;
    r->nsegs = (payload_len + C4GH_CIPHER_SEGMENT_SIZE - 1) / C4GH_CIPHER_SEGMENT_SIZE;
    if (!(r->h = c4gh_header_dup(h, err)) || c4gh_edit_ranges(h, r->raw_plain, &r->ranges, &r->nranges, err) != 0)
        goto fail;
    r->visible = r->nranges ? r->ranges[r->nranges - 1].vis + r->ranges[r->nranges - 1].len : 0;
    *out = r;
    return 0;
fail:
    c4gh_reader_close(r);
    return -1;
}

int c4gh_reader_take_segment_map(struct c4gh_reader *r, uint8_t *nonces, uint64_t nsegments, struct kura_err *err)
{
    if (nsegments != r->nsegs) {
        free(nonces);
        if (nsegments > r->nsegs)
            kura_err_set(&r->broken, EIO,
                         "payload truncated: its segment map lists %llu segments, the payload has %llu",
                         (unsigned long long)nsegments, (unsigned long long)r->nsegs);
        else
            kura_err_set(&r->broken, EIO,
                         "payload longer than its segment map: the map lists %llu segments, the payload has %llu",
                         (unsigned long long)nsegments, (unsigned long long)r->nsegs);
        *err = r->broken;
        return -1;
    }
    if (nsegments == 0) {
        free(nonces);
        nonces = NULL;
    }
    free(r->map);
    r->map = nonces;
    pthread_mutex_lock(&r->cache_lock);
    r->cache_seg = NO_SEGMENT; /* re-check what was read before the map */
    pthread_mutex_unlock(&r->cache_lock);
    return 0;
}

int c4gh_reader_set_segment_map(struct c4gh_reader *r, const uint8_t *nonces, uint64_t nsegments,
                                struct kura_err *err)
{
    uint8_t *copy = NULL;
    /* nsegments <= payload_len / 29 < 2^59 when it is right, so the product fits;
     * a wrong count is refused by the take without a copy. */
    if (nsegments > 0 && nsegments == r->nsegs) {
        if (!(copy = malloc(nsegments * C4GH_NONCE_SIZE))) {
            kura_err_set(err, ENOMEM, "out of memory for the segment map");
            return -1;
        }
        memcpy(copy, nonces, nsegments * C4GH_NONCE_SIZE);
    }
    return c4gh_reader_take_segment_map(r, copy, nsegments, err);
}

uint64_t c4gh_reader_size(const struct c4gh_reader *r)
{
    return r->visible;
}

static size_t seg_cipher_len(const struct c4gh_reader *r, uint64_t seg)
{
    uint64_t start = seg * C4GH_CIPHER_SEGMENT_SIZE, left = r->payload_len - start;
    return left < C4GH_CIPHER_SEGMENT_SIZE ? (size_t)left : C4GH_CIPHER_SEGMENT_SIZE;
}

/* The cipher buffer of one c4gh_reader_pread: its own, so that reads of
 * one reader may run at once. Ciphertext only; freed when the read ends,
 * or every idle reader would hold up to READ_BATCH segments. */
struct cipher_buf {
    uint8_t *data;
    size_t cap;
};

/* Reads cipher segments [first, last] with one pread into buf. */
static int fetch_segments(const struct c4gh_reader *r, struct cipher_buf *buf, uint64_t first, uint64_t last,
                          struct kura_err *err)
{
    uint64_t start = first * C4GH_CIPHER_SEGMENT_SIZE;
    size_t len = (size_t)(last - first) * C4GH_CIPHER_SEGMENT_SIZE + seg_cipher_len(r, last);
    if (len > buf->cap) {
        uint8_t *bigger = realloc(buf->data, len);
        if (!bigger) {
            kura_err_set(err, ENOMEM, "out of memory for cipher segments");
            return -1;
        }
        buf->data = bigger;
        buf->cap = len;
    }
    ssize_t got = kura_pread_full(r->fd, buf->data, len, r->payload_off + start);
    if (got < 0) {
        kura_err_set(err, errno == EINVAL ? EIO : errno, "reading segment %llu: %s", (unsigned long long)first,
                     strerror(errno));
        return -1;
    }
    if ((size_t)got < len) {
        uint64_t seg = first + (uint64_t)got / C4GH_CIPHER_SEGMENT_SIZE;
        kura_err_set(err, EIO, "payload truncated: the file ends inside segment %llu (%llu bytes expected)",
                     (unsigned long long)seg, (unsigned long long)(r->payload_off + r->payload_len));
        return -1;
    }
    return 0;
}

/* Authenticates fetched segment seg (at cipher) into plain. */
static int open_segment(struct c4gh_reader *r, uint64_t seg, const uint8_t *cipher, uint8_t *plain,
                        struct kura_err *err)
{
    if (r->map && memcmp(cipher, r->map + seg * C4GH_NONCE_SIZE, C4GH_NONCE_SIZE) != 0) {
        kura_err_set(err, EIO, "segment %llu is not the expected segment (reordered, dropped or replaced)",
                     (unsigned long long)seg);
        return -1;
    }
    size_t hint = atomic_load_explicit(&r->key_hint, memory_order_relaxed);
    if (c4gh_segment_open(r->h, &hint, cipher, seg_cipher_len(r, seg), plain) != 0) {
        c4gh_err_segment_auth(err, seg);
        return -1;
    }
    atomic_store_explicit(&r->key_hint, hint, memory_order_relaxed);
    return 0;
}

/* Copies up to len bytes from offset in of the kept segment if it is seg;
 * returns the bytes copied (0: seg is not kept). */
static size_t copy_kept(struct c4gh_reader *r, uint64_t seg, size_t in, size_t len, uint8_t *dst)
{
    size_t take = 0;
    pthread_mutex_lock(&r->cache_lock);
    if (seg == r->cache_seg) {
        size_t seg_plain = seg_cipher_len(r, seg) - C4GH_CIPHER_DIFF;
        take = len < seg_plain - in ? len : seg_plain - in;
        memcpy(dst, r->cache + in, take);
    }
    pthread_mutex_unlock(&r->cache_lock);
    return take;
}

/* Authenticates segment seg into the kept segment and copies take bytes
 * from offset in of it. */
static int keep_segment(struct c4gh_reader *r, uint64_t seg, const uint8_t *cipher, size_t in, size_t take,
                        uint8_t *dst, struct kura_err *err)
{
    int rc = -1;
    pthread_mutex_lock(&r->cache_lock);
    r->cache_seg = NO_SEGMENT;
    /* Only a reader that reads part of a segment holds one: a server
     * keeps thousands of readers open. */
    if (!r->cache && !(r->cache = kura_secure_alloc(C4GH_SEGMENT_SIZE)))
        kura_err_set(err, ENOMEM, "out of secure memory for the segment cache");
    else if (open_segment(r, seg, cipher, r->cache, err) == 0) {
        r->cache_seg = seg;
        memcpy(dst, r->cache + in, take);
        rc = 0;
    }
    pthread_mutex_unlock(&r->cache_lock);
    return rc;
}

/* Copies raw plaintext [raw, raw+len) into dst. Whole segments decrypt
 * straight into dst; a partly wanted one goes through the kept segment. */
static int read_raw(struct c4gh_reader *r, struct cipher_buf *buf, uint64_t raw, size_t len, uint8_t *dst,
                    struct kura_err *err)
{
    while (len > 0) {
        uint64_t seg = raw / C4GH_SEGMENT_SIZE;
        size_t in = (size_t)(raw % C4GH_SEGMENT_SIZE);
        size_t kept = copy_kept(r, seg, in, len, dst);
        if (kept > 0) {
            dst += kept;
            raw += kept;
            len -= kept;
            continue;
        }
        /* Consecutive segments up to the end of the request, the batch
         * limit, or the kept segment, whichever comes first (another
         * read may change it meanwhile: it is looked at again above). */
        uint64_t last = (raw + len - 1) / C4GH_SEGMENT_SIZE;
        if (last - seg >= READ_BATCH)
            last = seg + READ_BATCH - 1;
        pthread_mutex_lock(&r->cache_lock);
        if (r->cache_seg > seg && r->cache_seg <= last)
            last = r->cache_seg - 1;
        pthread_mutex_unlock(&r->cache_lock);
        if (fetch_segments(r, buf, seg, last, err) != 0)
            return -1;
        for (uint64_t s = seg; s <= last; s++) {
            const uint8_t *cipher = buf->data + (size_t)(s - seg) * C4GH_CIPHER_SEGMENT_SIZE;
            size_t seg_plain = seg_cipher_len(r, s) - C4GH_CIPHER_DIFF;
            size_t take = len < seg_plain - in ? len : seg_plain - in;
            if (in == 0 && take == seg_plain) {
                if (open_segment(r, s, cipher, dst, err) != 0)
                    return -1;
            } else if (keep_segment(r, s, cipher, in, take, dst, err) != 0)
                return -1;
            dst += take;
            raw += take;
            len -= take;
            in = 0;
        }
    }
    return 0;
}

/* Index of the range holding visible offset off (off < r->visible). */
static size_t find_range(const struct c4gh_reader *r, uint64_t off)
{
    size_t lo = 0, hi = r->nranges - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (r->ranges[mid].vis <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

ssize_t c4gh_reader_pread(struct c4gh_reader *r, void *buf, size_t n, uint64_t off, struct kura_err *err)
{
    if (r->broken.code) {
        *err = r->broken;
        return -1;
    }
    if (off >= r->visible || n == 0)
        return 0;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (n > r->visible - off)
        n = (size_t)(r->visible - off);
    uint8_t *dst = buf;
    struct cipher_buf cipher = {0};
    size_t done = 0;
    ssize_t rc = 0;
    for (size_t i = find_range(r, off); done < n; i++) {
        const struct c4gh_range *rg = &r->ranges[i];
        uint64_t into = off + done - rg->vis;
        size_t take = n - done < rg->len - into ? n - done : (size_t)(rg->len - into);
        if (read_raw(r, &cipher, rg->raw + into, take, dst + done, err) != 0) {
            rc = -1;
            break;
        }
        done += take;
    }
    free(cipher.data);
    return rc < 0 ? rc : (ssize_t)done;
}

void c4gh_reader_close(struct c4gh_reader *r)
{
    if (!r)
        return;
    c4gh_header_free(r->h);
    kura_secure_free(r->cache);
    pthread_mutex_destroy(&r->cache_lock);
    free(r->ranges);
    free(r->map);
    free(r);
}
