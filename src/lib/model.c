/* Names of the model's enums (as written in state files, the ledger and
 * kuractl options), lookups and cleanup. Parsing is exact: state files are
 * written by kura, and a misspelt level or status must not pass. */
#include <stdlib.h>
#include <string.h>

#include "kura/grow.h"
#include "kura/model.h"

static const char *const kind_names[] = {[KURA_KIND_JGA] = "JGA", [KURA_KIND_AGD] = "AGD"};
static const char *const level_names[] = {[KURA_LEVEL_TYPE1] = "type1", [KURA_LEVEL_TYPE2] = "type2"};
static const char *const role_names[] = {
    [KURA_ROLE_PI] = "pi",
    [KURA_ROLE_CO_INVESTIGATOR] = "co-investigator",
    [KURA_ROLE_CONTRACTOR] = "contractor",
};
static const char *const status_names[] = {
    [KURA_DS_ACTIVE] = "active",
    [KURA_DS_SUSPENDED] = "suspended",
    [KURA_DS_DESTROYED] = "destroyed",
};
static const char *const guard_names[] = {[KURA_GUARD_DENYLIST] = "denylist", [KURA_GUARD_ALLOWLIST] = "allowlist"};

static const char *name_of(const char *const *names, size_t n, int v)
{
    return v >= 0 && (size_t)v < n && names[v] ? names[v] : "unknown";
}

/* The index whose name is s, or -1. */
static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

const char *kura_kind_name(enum kura_kind k) { return name_of(kind_names, KURA_COUNT(kind_names), (int)k); }
const char *kura_level_name(enum kura_level l) { return name_of(level_names, KURA_COUNT(level_names), (int)l); }
const char *kura_role_name(enum kura_role r) { return name_of(role_names, KURA_COUNT(role_names), (int)r); }
const char *kura_ds_status_name(enum kura_ds_status s)
{
    return name_of(status_names, KURA_COUNT(status_names), (int)s);
}
const char *kura_guard_mode_name(enum kura_guard_mode g)
{
    return name_of(guard_names, KURA_COUNT(guard_names), (int)g);
}

#define DEFINE_PARSE(fn, type, names)                                                                       \
    int fn(const char *s, type *out)                                                                        \
    {                                                                                                       \
        int i = index_of(names, KURA_COUNT(names), s);                                                      \
        if (i < 0)                                                                                          \
            return -1;                                                                                      \
        if (out)                                                                                            \
            *out = (type)i;                                                                                 \
        return 0;                                                                                           \
    }

DEFINE_PARSE(kura_kind_parse, enum kura_kind, kind_names)
DEFINE_PARSE(kura_level_parse, enum kura_level, level_names)
DEFINE_PARSE(kura_role_parse, enum kura_role, role_names)
DEFINE_PARSE(kura_ds_status_parse, enum kura_ds_status, status_names)
DEFINE_PARSE(kura_guard_mode_parse, enum kura_guard_mode, guard_names)

const struct kura_grant *kura_dataset_grant(const struct kura_dataset *ds, uid_t uid)
{
    if (!ds || !ds->grants)
        return NULL;
    /* A grant names one account (R-ACC-6): an unnamed entry, such as a
     * zeroed one, grants nothing, so it can never stand for uid 0. */
    for (size_t i = 0; i < ds->ngrants; i++)
        if (ds->grants[i].uid == uid && ds->grants[i].user[0] != '\0')
            return &ds->grants[i];
    return NULL;
}

bool kura_dataset_sample_withdrawn(const struct kura_dataset *ds, const char *sample)
{
    if (!ds || !sample || !ds->withdrawals)
        return false;
    for (size_t i = 0; i < ds->nwithdrawals; i++)
        if (strcmp(ds->withdrawals[i].sample, sample) == 0)
            return true;
    return false;
}

bool kura_file_withdrawn(const struct kura_dataset *ds, const struct kura_file *f)
{
    if (!f || !f->samples)
        return false;
    for (size_t i = 0; i < f->nsamples; i++)
        if (kura_dataset_sample_withdrawn(ds, f->samples[i]))
            return true;
    return false;
}

bool kura_files_no_sample_map(const struct kura_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (files[i].nsamples)
            return false;
    return n > 0;
}

void kura_dataset_clear(struct kura_dataset *ds)
{
    if (!ds)
        return;
    free(ds->grants);
    free(ds->withdrawals);
    memset(ds, 0, sizeof *ds);
}

void kura_file_clear(struct kura_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; f->samples && i < f->nsamples; i++)
        free(f->samples[i]);
    free(f->samples);
    free(f->path);
    memset(f, 0, sizeof *f);
}
