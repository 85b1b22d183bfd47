/* Fuzz target: the mount's path index. Paths reach kura_catalog_lookup from
 * any local user through the kernel (names up to 4 KiB, every byte but '/'
 * and NUL), and file paths come from files.tsv, which imports fill from
 * archive deliveries. The input is files.tsv rows (the header is added
 * here) for dataset JGAD000001, then a NUL, then lookup paths separated by
 * NUL. Dataset JGAD000002 always holds "secret.bin".
 *
 * Invariants, for a catalog that builds:
 *  - every file is found at "/JGAD000001/PATH", as that file;
 *  - every node is found at its own path, and a directory's children are
 *    sorted, named after their path's last component, one level deeper;
 *  - a lookup never aliases: whatever path finds a node is exactly that
 *    node's path (no "..", "//", "." or trailing '/' resolves), so no
 *    spelling of a path in one dataset reaches a node of another. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/catalog.h"
#include "kura/dsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static const char header[] = "path\tfile_id\tsize\tsamples\n";

static void check_tree(const struct kura_catalog *c)
{
    for (size_t i = 0; i < c->nnodes; i++) {
        const struct kura_node *n = &c->nodes[i];
        CHECK(kura_catalog_lookup(c, n->path) == n);
        for (uint32_t k = 0; k < n->nchildren; k++) {
            CHECK(n->children[k] < c->nnodes);
            const struct kura_node *ch = &c->nodes[n->children[k]];
            size_t plen = strlen(n->path);
            /* child path = parent path + "/" + name ("/" + name under the root) */
            if (n->type == KURA_NODE_ROOT)
                CHECK(ch->path[0] == '/' && strcmp(ch->path + 1, ch->name) == 0);
            else
                CHECK(strncmp(ch->path, n->path, plen) == 0 && ch->path[plen] == '/' &&
                      strcmp(ch->path + plen + 1, ch->name) == 0);
            if (k > 0)
                CHECK(strcmp(c->nodes[n->children[k - 1]].name, ch->name) < 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t rows_len = nul ? (size_t)(nul - data) : size;
    char *tsv = malloc(sizeof header + rows_len);
    if (!tsv)
        return 0;
    memcpy(tsv, header, sizeof header - 1);
    memcpy(tsv + sizeof header - 1, data, rows_len);
    struct kura_file *files = NULL;
    size_t n = 0;
    int parsed = kura_files_parse("fuzz.tsv", tsv, sizeof header - 1 + rows_len, &files, &n, NULL);
    free(tsv);
    if (parsed != 0) {
        kura_files_free(files, n);
        files = NULL;
        n = 0;
    }
    struct kura_catalog_dataset *ds = calloc(2, sizeof *ds);
    CHECK(ds);
    snprintf(ds[0].ds.id, sizeof ds[0].ds.id, "JGAD000002");
    ds[0].files = calloc(1, sizeof *ds[0].files);
    CHECK(ds[0].files && (ds[0].files[0].path = strdup("secret.bin")));
    snprintf(ds[0].files[0].file_id, sizeof ds[0].files[0].file_id, "%032d", 7);
    ds[0].nfiles = 1;
    snprintf(ds[1].ds.id, sizeof ds[1].ds.id, "JGAD000001");
    ds[1].files = files;
    ds[1].nfiles = n;
    struct kura_catalog *c = NULL;
    if (kura_catalog_build(ds, 2, &c, NULL) != 0)
        return 0; /* it owned the datasets and freed them */

    const struct kura_catalog_dataset *d1 = kura_catalog_dataset(c, "JGAD000001");
    CHECK(d1 && d1->nfiles == n);
    size_t d1_index = (size_t)(d1 - c->datasets);
    for (size_t i = 0; i < d1->nfiles; i++) {
        char path[8192];
        if ((size_t)snprintf(path, sizeof path, "/JGAD000001/%s", d1->files[i].path) >= sizeof path)
            continue;
        const struct kura_node *f = kura_catalog_lookup(c, path);
        CHECK(f && f->type == KURA_NODE_FILE && f->dataset == d1_index && f->file == i && strcmp(f->path, path) == 0);
    }
    check_tree(c);

    /* Hostile lookups: NUL-separated after the rows. */
    if (nul) {
        const char *p = (const char *)nul + 1, *end = (const char *)data + size;
        char *buf = malloc((size_t)(end - p) + 1);
        CHECK(buf);
        while (p <= end) {
            const char *q = memchr(p, '\0', (size_t)(end - p));
            size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
            memcpy(buf, p, len);
            buf[len] = '\0';
            const struct kura_node *hit = kura_catalog_lookup(c, buf);
            if (hit)
                CHECK(strcmp(hit->path, buf) == 0);
            p += len + 1;
        }
        free(buf);
    }
    kura_catalog_free(c);
    return 0;
}
