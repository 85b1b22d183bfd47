/* Path index over all datasets: one node per directory and file, found by an
 * open-addressing hash of the absolute mount path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/catalog.h"
#include "kura/hash.h"

struct builder {
    struct kura_catalog *c;
    size_t cap_nodes;
    uint32_t *parent;          /* parent node of each node, while building */
};

static uint64_t path_hash(const char *s, size_t len)
{
    return kura_hash(KURA_HASH_INIT, s, len);
}

static uint32_t find_node(const struct kura_catalog *c, const char *path, size_t len)
{
    if (c->nbuckets == 0)
        return 0;
    size_t mask = c->nbuckets - 1;
    for (size_t i = path_hash(path, len) & mask;; i = (i + 1) & mask) {
        uint32_t slot = c->buckets[i];
        if (slot == 0)
            return 0;
        const char *p = c->nodes[slot - 1].path;
        if (strlen(p) == len && memcmp(p, path, len) == 0)
            return slot;
    }
}

static int rehash(struct kura_catalog *c, size_t nbuckets)
{
    uint32_t *b = calloc(nbuckets, sizeof *b);
    if (!b)
        return -1;
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nbuckets;
    for (size_t n = 0; n < c->nnodes; n++) {
        const char *p = c->nodes[n].path;
        size_t i = path_hash(p, strlen(p)) & (nbuckets - 1);
        while (b[i])
            i = (i + 1) & (nbuckets - 1);
        b[i] = (uint32_t)n + 1;
    }
    return 0;
}

/* Adds a node for path (copied) under parent; returns its index or -1. */
static long add_node(struct builder *bld, enum kura_node_type type, const char *path, size_t len,
                     uint32_t parent, uint32_t dataset, uint32_t file)
{
    struct kura_catalog *c = bld->c;
    if (c->nnodes >= UINT32_MAX - 1)
        return -1;
    if (c->nnodes == bld->cap_nodes) {
        size_t cap = bld->cap_nodes ? bld->cap_nodes * 2 : 64;
        struct kura_node *nodes = realloc(c->nodes, cap * sizeof *nodes);
        if (!nodes)
            return -1;
        c->nodes = nodes;
        uint32_t *parents = realloc(bld->parent, cap * sizeof *parents);
        if (!parents)
            return -1;
        bld->parent = parents;
        bld->cap_nodes = cap;
    }
    char *copy = strndup(path, len);
    if (!copy)
        return -1;
    struct kura_node *n = &c->nodes[c->nnodes];
    memset(n, 0, sizeof *n);
    n->type = type;
    n->path = copy;
    const char *slash = strrchr(copy, '/');
    n->name = slash ? slash + 1 : copy;
    n->dataset = dataset;
    n->file = file;
    bld->parent[c->nnodes] = parent;
    c->nnodes++;
    /* Keep the load factor under one half; a rehash inserts the new node too. */
    if (c->nnodes * 2 > c->nbuckets)
        return rehash(c, c->nbuckets ? c->nbuckets * 2 : 1024) == 0 ? (long)(c->nnodes - 1) : -1;
    size_t i = path_hash(copy, len) & (c->nbuckets - 1);
    while (c->buckets[i])
        i = (i + 1) & (c->nbuckets - 1);
    c->buckets[i] = (uint32_t)c->nnodes;
    return (long)(c->nnodes - 1);
}

static int add_file(struct builder *bld, uint32_t ds_index, uint32_t file_index, struct kura_err *err)
{
    struct kura_catalog *c = bld->c;
    const struct kura_catalog_dataset *d = &c->datasets[ds_index];
    const char *rel = d->files[file_index].path;
    size_t idlen = strlen(d->ds.id), rellen = strlen(rel);
    size_t len = 1 + idlen + 1 + rellen;
    char *full = malloc(len + 1);
    if (!full) {
        kura_err_set(err, ENOMEM, "out of memory building the catalog");
        return -1;
    }
    memcpy(full, "/", 1);
    memcpy(full + 1, d->ds.id, idlen);
    full[1 + idlen] = '/';
    memcpy(full + 2 + idlen, rel, rellen + 1);

    uint32_t parent = d->dir_node;
    int rc = -1;
    for (size_t end = 2 + idlen;; end++) {
        if (full[end] != '/' && full[end] != '\0')
            continue;
        bool last = full[end] == '\0';
        uint32_t slot = find_node(c, full, end);
        if (slot) {
            if (last || c->nodes[slot - 1].type != KURA_NODE_DIR) {
                kura_err_set(err, EEXIST, "dataset %s: path %s is listed twice or is both a file and a directory",
                             d->ds.id, rel);
                goto out;
            }
            parent = slot - 1;
        } else {
            long n = add_node(bld, last ? KURA_NODE_FILE : KURA_NODE_DIR, full, end, parent, ds_index,
                              last ? file_index : 0);
            if (n < 0) {
                kura_err_set(err, ENOMEM, "out of memory building the catalog");
                goto out;
            }
            parent = (uint32_t)n;
        }
        if (last)
            break;
    }
    rc = 0;
out:
    free(full);
    return rc;
}

static int cmp_child(const void *a, const void *b, void *nodes)
{
    const struct kura_node *n = nodes;
    return strcmp(n[*(const uint32_t *)a].name, n[*(const uint32_t *)b].name);
}

static int link_children(struct builder *bld, struct kura_err *err)
{
    struct kura_catalog *c = bld->c;
    for (size_t n = 1; n < c->nnodes; n++)
        c->nodes[bld->parent[n]].nchildren++;
    for (size_t n = 0; n < c->nnodes; n++) {
        struct kura_node *node = &c->nodes[n];
        if (node->nchildren == 0)
            continue;
        node->children = malloc(node->nchildren * sizeof *node->children);
        if (!node->children) {
            kura_err_set(err, ENOMEM, "out of memory building the catalog");
            return -1;
        }
        node->nchildren = 0;
    }
    for (size_t n = 1; n < c->nnodes; n++) {
        struct kura_node *p = &c->nodes[bld->parent[n]];
        p->children[p->nchildren++] = (uint32_t)n;
    }
    for (size_t n = 0; n < c->nnodes; n++)
        if (c->nodes[n].nchildren > 1)
            qsort_r(c->nodes[n].children, c->nodes[n].nchildren, sizeof(uint32_t), cmp_child, c->nodes);
    return 0;
}

static void free_datasets(struct kura_catalog_dataset *datasets, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < datasets[i].nfiles; f++)
            kura_file_clear(&datasets[i].files[f]);
        free(datasets[i].files);
        kura_dataset_clear(&datasets[i].ds);
    }
    free(datasets);
}

int kura_catalog_build(struct kura_catalog_dataset *datasets, size_t ndatasets,
                       struct kura_catalog **out, struct kura_err *err)
{
    struct kura_catalog *c = calloc(1, sizeof *c);
    struct builder bld = {.c = c};
    if (!c) {
        free_datasets(datasets, ndatasets);
        kura_err_set(err, ENOMEM, "out of memory building the catalog");
        return -1;
    }
    c->datasets = datasets;
    c->ndatasets = ndatasets;
    if (add_node(&bld, KURA_NODE_ROOT, "/", 1, 0, 0, 0) != 0)
        goto oom;
    for (size_t i = 0; i < ndatasets; i++) {
        char dir[KURA_ID_MAX + 2];
        int len = snprintf(dir, sizeof dir, "/%s", datasets[i].ds.id);
        if (find_node(c, dir, (size_t)len)) {
            kura_err_set(err, EEXIST, "dataset %s is defined twice", datasets[i].ds.id);
            goto fail;
        }
        long n = add_node(&bld, KURA_NODE_DIR, dir, (size_t)len, 0, (uint32_t)i, 0);
        if (n < 0)
            goto oom;
        datasets[i].dir_node = (uint32_t)n;
    }
    for (size_t i = 0; i < ndatasets; i++) {
        datasets[i].total_size = 0;
        for (size_t f = 0; f < datasets[i].nfiles; f++) {
            if (add_file(&bld, (uint32_t)i, (uint32_t)f, err) != 0)
                goto fail;
            datasets[i].total_size += datasets[i].files[f].size;
        }
    }
    if (link_children(&bld, err) != 0)
        goto fail;
    free(bld.parent);
    *out = c;
    return 0;
oom:
    kura_err_set(err, ENOMEM, "out of memory building the catalog");
fail:
    free(bld.parent);
    kura_catalog_free(c);
    return -1;
}

const struct kura_node *kura_catalog_lookup(const struct kura_catalog *c, const char *path)
{
    uint32_t slot = find_node(c, path, strlen(path));
    return slot ? &c->nodes[slot - 1] : NULL;
}

const struct kura_catalog_dataset *kura_catalog_dataset(const struct kura_catalog *c, const char *id)
{
    for (size_t i = 0; i < c->ndatasets; i++)
        if (strcmp(c->datasets[i].ds.id, id) == 0)
            return &c->datasets[i];
    return NULL;
}

void kura_catalog_free(struct kura_catalog *c)
{
    if (!c)
        return;
    for (size_t n = 0; n < c->nnodes; n++) {
        free((char *)c->nodes[n].path);
        free(c->nodes[n].children);
    }
    free(c->nodes);
    free(c->buckets);
    free_datasets(c->datasets, c->ndatasets);
    free(c);
}
