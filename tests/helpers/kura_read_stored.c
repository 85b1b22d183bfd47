/* kura_read_stored CONF ID PATH: writes the plaintext of an imported file to
 * stdout, read straight from the store and the keystore (no mount): the
 * server key unwraps the dataset key, the segment map is verified, the
 * header opened strictly, and the reader refuses any segment that is not
 * the one recorded. Import tests compare its output with the source.
 * Exit 0 on success, 1 on any refusal (message on stderr). Not installed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/c4gh.h"
#include "kura/config.h"
#include "kura/dsfile.h"
#include "kura/keystore.h"
#include "kura/secmem.h"

static int fail(const char *what, const struct kura_err *e)
{
    fprintf(stderr, "kura_read_stored: %s: %s\n", what, e ? e->msg : strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: kura_read_stored CONF ID PATH\n");
        return 2;
    }
    struct kura_err e = {0};
    struct kura_config cfg = {0};
    struct kura_keystore *ks = NULL;
    struct kura_dskey *dk = NULL;
    struct kura_file *files = NULL;
    size_t nfiles = 0;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    struct kura_segmap map = {0};
    struct c4gh_header *h = NULL;
    struct c4gh_reader *r = NULL;
    int fd = -1, rc = 1;
    char tsv[4096], payload[4096];
    if (kura_secmem_init() != 0 || kura_config_load(argv[1], &cfg, &e) != 0) {
        rc = fail("config", &e);
        goto out;
    }
    if (kura_keystore_open(cfg.keys_dir, NULL, &ks, &e) != 0 || kura_keystore_dataset_key(ks, argv[2], &dk, &e) != 0) {
        rc = fail("keys", &e);
        goto out;
    }
    snprintf(tsv, sizeof tsv, "%s/datasets/%s/%s", cfg.state_dir, argv[2], KURA_FILES_TSV);
    if (kura_files_load(tsv, &files, &nfiles, &e) != 0) {
        rc = fail("files.tsv", &e);
        goto out;
    }
    const struct kura_file *f = NULL;
    for (size_t i = 0; i < nfiles && !f; i++)
        if (strcmp(files[i].path, argv[3]) == 0)
            f = &files[i];
    if (!f) {
        fprintf(stderr, "kura_read_stored: %s is not in dataset %s\n", argv[3], argv[2]);
        goto out;
    }
    if (kura_keystore_file_load(dk, f->file_id, &hdr, &hdr_len, &map, &e) != 0) {
        rc = fail("keystore entry", &e);
        goto out;
    }
    if (c4gh_header_open_strict(hdr, hdr_len, dk->sk, dk->pk, &h, &e) != 0) {
        rc = fail("header", &e);
        goto out;
    }
    snprintf(payload, sizeof payload, "%s/store/%s/%s", cfg.state_dir, argv[2], f->file_id);
    struct stat st;
    if ((fd = open(payload, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        rc = fail(payload, NULL);
        goto out;
    }
    if ((uint64_t)st.st_size != map.payload_len) {
        fprintf(stderr, "kura_read_stored: payload is %lld bytes, the segment map says %llu\n",
                (long long)st.st_size, (unsigned long long)map.payload_len);
        goto out;
    }
    if (c4gh_reader_open(&r, fd, 0, map.payload_len, h, &e) != 0 ||
        c4gh_reader_set_segment_map(r, map.nonces, map.nsegments, &e) != 0) {
        rc = fail("reader", &e);
        goto out;
    }
    if (c4gh_reader_size(r) != f->size) {
        fprintf(stderr, "kura_read_stored: reader size %llu, files.tsv says %llu\n",
                (unsigned long long)c4gh_reader_size(r), (unsigned long long)f->size);
        goto out;
    }
    static uint8_t buf[1 << 20];
    for (uint64_t off = 0;;) {
        ssize_t n = c4gh_reader_pread(r, buf, sizeof buf, off, &e);
        if (n < 0) {
            rc = fail("read", &e);
            goto out;
        }
        if (n == 0)
            break;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            rc = fail("stdout", NULL);
            goto out;
        }
        off += (uint64_t)n;
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    c4gh_reader_close(r);
    if (fd >= 0)
        close(fd);
    c4gh_header_free(h);
    kura_segmap_clear(&map);
    free(hdr);
    kura_files_free(files, nfiles);
    kura_dskey_free(dk);
    kura_keystore_close(ks);
    kura_config_free(&cfg);
    return rc;
}
