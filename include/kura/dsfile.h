/* A dataset's state files, STATE/datasets/<ID>/:
 *
 *   dataset.ini  INI (strict, see inifile.h) <-> struct kura_dataset:
 *                [dataset] id title kind level pi pi_uid from until status
 *                          status_reason host_id guard [ethics ethics_until]
 *                          [epoch]
 *                [user NAME]       uid role from until approval added_at added_by
 *                                  [pending] [approved_by] [institution]
 *                                  [email] [trained]
 *                [withdrawn SAMPLE] ref at
 *                Every key is required but those in brackets, written only
 *                when set (values may be empty where noted in dsfile.c). Times are RFC 3339 instants with their offset;
 *                periods are half-open, "until" exclusive.
 *   files.tsv    ["#epoch\tN" line: cluster mode, the change epoch that
 *                wrote it], "path\tfile_id\tsize\tsamples" header, then one
 *                line per file; samples comma-separated, possibly empty.
 *
 * and the samples TSV an operator gives to import (path<TAB>sample_id).
 *
 * Loaders are strict and name "FILE:LINE: what is wrong" (EINVAL); what a
 * writer writes, the loader reads back exactly. Writers refuse a struct
 * that would not load, and replace files atomically (fsutil.h); the caller
 * holds the dataset lock (kura_lock on KURA_DATASET_LOCK). */
#ifndef KURA_DSFILE_H
#define KURA_DSFILE_H
#include <stddef.h>

#include "kura/error.h"
#include "kura/layout.h"
#include "kura/model.h"
#include "kura/zone.h"

#define KURA_STATE_FILE_MODE 0640          /* names users and samples: not world-readable */
#define KURA_DATASET_INI_MAX (8u << 20)
#define KURA_FILES_TSV_MAX (64u << 20)
#define KURA_SAMPLES_TSV_MAX (64u << 20)

/* ---- dataset.ini ------------------------------------------------------- */

/* Fills *ds (zeroed first; free with kura_dataset_clear, also on error). */
int kura_dataset_parse(const char *name, const char *text, size_t len, struct kura_dataset *ds,
                       struct kura_err *err);
int kura_dataset_load(const char *path, struct kura_dataset *ds, struct kura_err *err);
/* The file's text (malloc'd, NUL-terminated), times written in zone
 * (NULL: KURA_DEFAULT_TZ). */
char *kura_dataset_format(const struct kura_dataset *ds, const struct kura_zone *zone, size_t *len,
                          struct kura_err *err);
int kura_dataset_save(const char *path, const struct kura_dataset *ds, const struct kura_zone *zone,
                      struct kura_err *err);

/* ---- files.tsv ---------------------------------------------------------- */

/* Refuses malformed lines, bad paths (kura_path_check), bad file ids (32
 * lowercase hex) and sizes, bad or repeated sample ids within a line,
 * repeated paths or file ids, and a path that is also another path's
 * directory. *files is malloc'd; free with kura_files_free (also on error). */
int kura_files_parse(const char *name, const char *text, size_t len, struct kura_file **files, size_t *n,
                     struct kura_err *err);
int kura_files_load(const char *path, struct kura_file **files, size_t *n, struct kura_err *err);
char *kura_files_format(const struct kura_file *files, size_t n, size_t *len, struct kura_err *err);
/* The same with the change epoch the file is stamped with (cluster mode;
 * 0: none, and none written). */
int kura_files_parse_epoch(const char *name, const char *text, size_t len, struct kura_file **files, size_t *n,
                           int64_t *epoch, struct kura_err *err);
int kura_files_load_epoch(const char *path, struct kura_file **files, size_t *n, int64_t *epoch,
                          struct kura_err *err);
char *kura_files_format_epoch(const struct kura_file *files, size_t n, int64_t epoch, size_t *len,
                              struct kura_err *err);
int kura_files_save(const char *path, const struct kura_file *files, size_t n, struct kura_err *err);
void kura_files_free(struct kura_file *files, size_t n);

/* ---- samples TSV (import) ---------------------------------------------- */

/* One path of the dataset (as served: relative, .c4gh suffix dropped) and
 * the samples its data comes from. */
struct kura_sample_entry {
    char *path;
    size_t nsamples;
    char **samples;
};
struct kura_sample_map {
    size_t n;
    struct kura_sample_entry *entries;   /* sorted by path (strcmp) */
};

/* Lines "path<TAB>sample_id"; a path may appear on several lines (several
 * samples). Blank lines and lines starting with '#' are skipped. Refuses
 * other column counts, bad paths or ids, a pair given twice, CR. */
int kura_samples_parse(const char *name, const char *text, size_t len, struct kura_sample_map *map,
                       struct kura_err *err);
int kura_samples_load(const char *path, struct kura_sample_map *map, struct kura_err *err);
const struct kura_sample_entry *kura_samples_find(const struct kura_sample_map *map, const char *path);
void kura_samples_free(struct kura_sample_map *map);

#endif
