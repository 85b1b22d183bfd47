/* The catalog: an immutable snapshot of every dataset and file the mount
 * serves, indexed by path. The daemon builds a new one on each reload and
 * swaps it in; lookups never see a half-loaded state. */
#ifndef KURA_CATALOG_H
#define KURA_CATALOG_H
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"
#include "kura/model.h"

struct kura_config;

struct kura_catalog_dataset {
    struct kura_dataset ds;
    size_t nfiles;
    struct kura_file *files;
    uint32_t dir_node;          /* the node of MOUNT/<ID> */
    uint64_t total_size;        /* of all its files: the bulk-read alert's yardstick */
    int64_t files_epoch;        /* the change epoch files.tsv is stamped with (cluster mode; 0: none) */
};

enum kura_node_type { KURA_NODE_ROOT, KURA_NODE_DIR, KURA_NODE_FILE };

struct kura_node {
    enum kura_node_type type;
    const char *name;           /* last path component ("" for the root) */
    const char *path;           /* "/ID/a/b.bam" ("/" for the root) */
    uint32_t dataset;           /* index into datasets (not for the root) */
    uint32_t file;              /* index into the dataset's files (files only) */
    uint32_t nchildren;         /* directories: children, sorted by name */
    uint32_t *children;
};

struct kura_catalog {
    size_t ndatasets;
    struct kura_catalog_dataset *datasets;
    size_t nnodes;
    struct kura_node *nodes;    /* nodes[0] is the root */
    size_t nbuckets;
    uint32_t *buckets;          /* path hash -> node index + 1 (0 = empty) */
};

/* Takes ownership of the datasets array (and everything in it) and builds
 * the index. Refuses duplicate dataset ids and file paths that collide with
 * each other or with a directory. */
int kura_catalog_build(struct kura_catalog_dataset *datasets, size_t ndatasets,
                       struct kura_catalog **out, struct kura_err *err);

/* Loads every <state_dir>/datasets/<ID>/ (dataset.ini, files.tsv). Any bad
 * file fails the whole load, naming file and line, so a daemon keeps its
 * last good catalog. */
int kura_catalog_load(const struct kura_config *cfg, struct kura_catalog **out, struct kura_err *err);

/* Absolute path inside the mount ("/", "/ID", "/ID/a/x.bam"); NULL if none. */
const struct kura_node *kura_catalog_lookup(const struct kura_catalog *c, const char *path);

const struct kura_catalog_dataset *kura_catalog_dataset(const struct kura_catalog *c, const char *id);

void kura_catalog_free(struct kura_catalog *c);

#endif
