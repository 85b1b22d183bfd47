/* The mount's path index: lookups, listings, collisions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/catalog.h"
#include "unit.h"

static void add_file(struct kura_catalog_dataset *d, const char *path, uint64_t size)
{
    d->files = realloc(d->files, (d->nfiles + 1) * sizeof *d->files);
    struct kura_file *f = &d->files[d->nfiles++];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    snprintf(f->file_id, sizeof f->file_id, "%032zx", d->nfiles);
    f->size = size;
}

static struct kura_catalog_dataset *two_datasets(void)
{
    struct kura_catalog_dataset *ds = calloc(2, sizeof *ds);
    snprintf(ds[0].ds.id, sizeof ds[0].ds.id, "JGAD000002");
    snprintf(ds[1].ds.id, sizeof ds[1].ds.id, "JGAD000001");
    add_file(&ds[0], "b/x.bam", 10);
    add_file(&ds[0], "a.vcf.gz", 20);
    add_file(&ds[0], "b/x.bam.bai", 5);
    add_file(&ds[1], "deep/er/still/file.cram", 7);
    return ds;
}

static void test_lookup_files_and_directories(void)
{
    struct kura_catalog *c = NULL;
    struct kura_err err = {0};
    ASSERT(kura_catalog_build(two_datasets(), 2, &c, &err) == 0);
    const struct kura_node *n = kura_catalog_lookup(c, "/");
    ASSERT(n && n->type == KURA_NODE_ROOT);
    EXPECT(n->nchildren == 2);
    /* children sorted by name */
    EXPECT(strcmp(c->nodes[n->children[0]].name, "JGAD000001") == 0);
    n = kura_catalog_lookup(c, "/JGAD000002/b/x.bam");
    ASSERT(n && n->type == KURA_NODE_FILE);
    EXPECT(strcmp(c->datasets[n->dataset].ds.id, "JGAD000002") == 0);
    EXPECT(c->datasets[n->dataset].files[n->file].size == 10);
    EXPECT(c->datasets[n->dataset].total_size == 35); /* 10 + 20 + 5 */
    n = kura_catalog_lookup(c, "/JGAD000002/b");
    ASSERT(n && n->type == KURA_NODE_DIR);
    EXPECT(n->nchildren == 2);
    EXPECT(strcmp(c->nodes[n->children[0]].name, "x.bam") == 0);
    EXPECT(strcmp(c->nodes[n->children[1]].name, "x.bam.bai") == 0);
    EXPECT(kura_catalog_lookup(c, "/JGAD000001/deep/er/still") != NULL);
    EXPECT(kura_catalog_lookup(c, "/JGAD000001/deep/er/still/file.cram")->type == KURA_NODE_FILE);
    EXPECT(kura_catalog_dataset(c, "JGAD000001") == &c->datasets[1]);
    kura_catalog_free(c);
}

static void test_absent_and_tricky_paths(void)
{
    struct kura_catalog *c = NULL;
    struct kura_err err = {0};
    ASSERT(kura_catalog_build(two_datasets(), 2, &c, &err) == 0);
    const char *absent[] = {"", "/JGAD000003", "/JGAD000002/", "/JGAD000002/b/../a.vcf.gz",
                            "//JGAD000002", "/JGAD000002/b/x.ba", "/JGAD000002/b/x.bam/", "/jgad000002",
                            "/JGAD000002/./a.vcf.gz"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        EXPECT(kura_catalog_lookup(c, absent[i]) == NULL);
    EXPECT(kura_catalog_dataset(c, "JGAD000003") == NULL);
    kura_catalog_free(c);
}

static void test_collisions_refused(void)
{
    struct kura_err err = {0};
    struct kura_catalog *c = NULL;
    struct kura_catalog_dataset *ds = calloc(1, sizeof *ds);
    snprintf(ds[0].ds.id, sizeof ds[0].ds.id, "D1");
    add_file(&ds[0], "a/b", 1);
    add_file(&ds[0], "a", 1); /* a file where a directory is */
    EXPECT(kura_catalog_build(ds, 1, &c, &err) != 0);
    EXPECT_STR_CONTAINS(err.msg, "both a file and a directory");

    ds = calloc(1, sizeof *ds);
    snprintf(ds[0].ds.id, sizeof ds[0].ds.id, "D1");
    add_file(&ds[0], "x", 1);
    add_file(&ds[0], "x", 2);
    EXPECT(kura_catalog_build(ds, 1, &c, &err) != 0);

    ds = calloc(2, sizeof *ds);
    snprintf(ds[0].ds.id, sizeof ds[0].ds.id, "D1");
    snprintf(ds[1].ds.id, sizeof ds[1].ds.id, "D1");
    EXPECT(kura_catalog_build(ds, 2, &c, &err) != 0);
    EXPECT_STR_CONTAINS(err.msg, "defined twice");
}

/* 100 datasets x 1000 files: every file found, listing sizes right. */
static void test_many_files(void)
{
    struct kura_catalog_dataset *ds = calloc(100, sizeof *ds);
    char path[64];
    for (int d = 0; d < 100; d++) {
        snprintf(ds[d].ds.id, sizeof ds[d].ds.id, "DS%03d", d);
        ds[d].files = calloc(1000, sizeof *ds[d].files);
        for (int f = 0; f < 1000; f++) {
            snprintf(path, sizeof path, "dir%02d/file%04d.bam", f % 10, f);
            ds[d].files[f].path = strdup(path);
            ds[d].files[f].size = (uint64_t)f;
        }
        ds[d].nfiles = 1000;
    }
    struct kura_catalog *c = NULL;
    struct kura_err err = {0};
    ASSERT(kura_catalog_build(ds, 100, &c, &err) == 0);
    EXPECT(c->nnodes == 1 + 100 + 100 * 10 + 100000);
    int found = 0;
    for (int d = 0; d < 100; d += 7)
        for (int f = 0; f < 1000; f += 13) {
            snprintf(path, sizeof path, "/DS%03d/dir%02d/file%04d.bam", d, f % 10, f);
            const struct kura_node *n = kura_catalog_lookup(c, path);
            found += n && n->type == KURA_NODE_FILE && c->datasets[n->dataset].files[n->file].size == (uint64_t)f;
        }
    EXPECT(found == 15 * 77);
    EXPECT(kura_catalog_lookup(c, "/DS050/dir03")->nchildren == 100);
    kura_catalog_free(c);
}

int main(void)
{
    RUN(test_lookup_files_and_directories);
    RUN(test_absent_and_tricky_paths);
    RUN(test_collisions_refused);
    RUN(test_many_files);
    return unit_done();
}
