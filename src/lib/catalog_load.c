/* Loads the catalog from STATE/datasets/<ID>/{dataset.ini,files.tsv}. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kura/catalog.h"
#include "kura/config.h"
#include "kura/dsfile.h"
#include "kura/grow.h"
#include "kura/text.h"

static int load_one(const char *dir, const char *id, struct kura_catalog_dataset *d, struct kura_err *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s/" KURA_DATASET_INI, dir, id) >= (int)sizeof path) {
        kura_err_set(err, ENAMETOOLONG, "%s/%s: path too long", dir, id);
        return -1;
    }
    if (kura_dataset_load(path, &d->ds, err) != 0)
        return -1;
    if (strcmp(d->ds.id, id) != 0) {
        kura_err_set(err, EINVAL, "%s: id %s does not match its directory %s", path, d->ds.id, id);
        return -1;
    }
    /* Cannot truncate: dataset.ini's path, one byte longer, fitted. */
    (void)!snprintf(path, sizeof path, "%s/%s/" KURA_FILES_TSV, dir, id);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0; /* added, nothing imported yet */
    return kura_files_load_epoch(path, &d->files, &d->nfiles, &d->files_epoch, err);
}

int kura_catalog_load(const struct kura_config *cfg, struct kura_catalog **out, struct kura_err *err)
{
    char dir[3584];
    if (snprintf(dir, sizeof dir, "%s/" KURA_DATASETS_DIR, cfg->state_dir) >= (int)sizeof dir) {
        kura_err_set(err, ENAMETOOLONG, "%s: path too long", cfg->state_dir);
        return -1;
    }
    DIR *dh = opendir(dir);
    if (!dh && errno == ENOENT)
        return kura_catalog_build(NULL, 0, out, err);
    if (!dh) {
        kura_err_set(err, errno, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct kura_catalog_dataset *ds = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(dh))) {
        /* Dot names are kura's own (locks, work in progress). */
        if (e->d_name[0] == '.')
            continue;
        if (kura_id_check(e->d_name, "dataset directory", NULL) != 0)
            continue;
        if (!kura_grow((void **)&ds, &cap, n, sizeof *ds)) {
            kura_err_set(err, ENOMEM, "out of memory loading the state");
            rc = -1;
            break;
        }
        memset(&ds[n], 0, sizeof ds[n]);
        rc = load_one(dir, e->d_name, &ds[n], err);
        n++;
        if (rc != 0)
            break;
    }
    closedir(dh);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            kura_files_free(ds[i].files, ds[i].nfiles);
            kura_dataset_clear(&ds[i].ds);
        }
        free(ds);
        return -1;
    }
    return kura_catalog_build(ds, n, out, err);
}
