/* model.c: enum names as state files and kuractl spell them, lookups, and
 * cleanup (run under ASan, so a leak or double free fails the test). */
#include <stdlib.h>

#include "kura/model.h"
#include "unit.h"

static void test_names_round_trip(void)
{
    enum kura_kind k;
    enum kura_level l;
    enum kura_role r;
    enum kura_ds_status s;
    enum kura_guard_mode g;
    EXPECT(kura_kind_parse("JGA", &k) == 0 && k == KURA_KIND_JGA);
    EXPECT(kura_kind_parse("AGD", &k) == 0 && k == KURA_KIND_AGD);
    EXPECT(kura_level_parse("type1", &l) == 0 && l == KURA_LEVEL_TYPE1);
    EXPECT(kura_level_parse("type2", &l) == 0 && l == KURA_LEVEL_TYPE2);
    EXPECT(kura_role_parse("pi", &r) == 0 && r == KURA_ROLE_PI);
    EXPECT(kura_role_parse("co-investigator", &r) == 0 && r == KURA_ROLE_CO_INVESTIGATOR);
    EXPECT(kura_role_parse("contractor", &r) == 0 && r == KURA_ROLE_CONTRACTOR);
    EXPECT(kura_ds_status_parse("active", &s) == 0 && s == KURA_DS_ACTIVE);
    EXPECT(kura_ds_status_parse("suspended", &s) == 0 && s == KURA_DS_SUSPENDED);
    EXPECT(kura_ds_status_parse("destroyed", &s) == 0 && s == KURA_DS_DESTROYED);
    EXPECT(kura_guard_mode_parse("denylist", &g) == 0 && g == KURA_GUARD_DENYLIST);
    EXPECT(kura_guard_mode_parse("allowlist", &g) == 0 && g == KURA_GUARD_ALLOWLIST);
    EXPECT(strcmp(kura_kind_name(KURA_KIND_AGD), "AGD") == 0);
    EXPECT(strcmp(kura_level_name(KURA_LEVEL_TYPE2), "type2") == 0);
    EXPECT(strcmp(kura_role_name(KURA_ROLE_CO_INVESTIGATOR), "co-investigator") == 0);
    EXPECT(strcmp(kura_ds_status_name(KURA_DS_SUSPENDED), "suspended") == 0);
    EXPECT(strcmp(kura_guard_mode_name(KURA_GUARD_ALLOWLIST), "allowlist") == 0);
    /* name -> parse -> same value, for every value. */
    for (int v = KURA_KIND_JGA; v <= KURA_KIND_AGD; v++)
        EXPECT(kura_kind_parse(kura_kind_name((enum kura_kind)v), &k) == 0 && (int)k == v);
    for (int v = KURA_LEVEL_TYPE1; v <= KURA_LEVEL_TYPE2; v++)
        EXPECT(kura_level_parse(kura_level_name((enum kura_level)v), &l) == 0 && (int)l == v);
    for (int v = KURA_ROLE_PI; v <= KURA_ROLE_CONTRACTOR; v++)
        EXPECT(kura_role_parse(kura_role_name((enum kura_role)v), &r) == 0 && (int)r == v);
    for (int v = KURA_DS_ACTIVE; v <= KURA_DS_DESTROYED; v++)
        EXPECT(kura_ds_status_parse(kura_ds_status_name((enum kura_ds_status)v), &s) == 0 && (int)s == v);
    for (int v = KURA_GUARD_DENYLIST; v <= KURA_GUARD_ALLOWLIST; v++)
        EXPECT(kura_guard_mode_parse(kura_guard_mode_name((enum kura_guard_mode)v), &g) == 0 && (int)g == v);
}

/* R-LVL-1: a misspelt level or status in a state file must not pass. */
static void test_parse_is_exact(void)
{
    enum kura_level l = KURA_LEVEL_TYPE2;
    enum kura_ds_status s = KURA_DS_DESTROYED;
    enum kura_kind k = KURA_KIND_AGD;
    enum kura_role r = KURA_ROLE_CONTRACTOR;
    enum kura_guard_mode g = KURA_GUARD_ALLOWLIST;
    static const char *const bad[] = {"", "Type1", "type1 ", " type1", "type", "type3", "TYPE2", "1", "type1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        EXPECT(kura_level_parse(bad[i], &l) == -1);
    EXPECT(l == KURA_LEVEL_TYPE2); /* untouched */
    EXPECT(kura_level_parse(NULL, &l) == -1);
    EXPECT(kura_level_parse("unknown", &l) == -1);
    EXPECT(kura_ds_status_parse("Active", &s) == -1 && s == KURA_DS_DESTROYED);
    EXPECT(kura_ds_status_parse("expired", &s) == -1); /* not stored: follows from the period */
    EXPECT(kura_kind_parse("jga", &k) == -1 && k == KURA_KIND_AGD);
    EXPECT(kura_role_parse("co_investigator", &r) == -1 && r == KURA_ROLE_CONTRACTOR);
    EXPECT(kura_role_parse("PI", &r) == -1);
    EXPECT(kura_guard_mode_parse("deny", &g) == -1 && g == KURA_GUARD_ALLOWLIST);
    EXPECT(kura_level_parse("type1", NULL) == 0);
    /* Out-of-range values get a name that parses to nothing. */
    EXPECT(strcmp(kura_level_name((enum kura_level)0), "unknown") == 0);
    EXPECT(strcmp(kura_level_name((enum kura_level)3), "unknown") == 0);
    EXPECT(strcmp(kura_kind_name((enum kura_kind)-1), "unknown") == 0);
    EXPECT(strcmp(kura_ds_status_name((enum kura_ds_status)9), "unknown") == 0);
    EXPECT(strcmp(kura_role_name((enum kura_role)3), "unknown") == 0);
    EXPECT(strcmp(kura_guard_mode_name((enum kura_guard_mode)2), "unknown") == 0);
}

static void test_lookups(void)
{
    struct kura_grant grants[3] = {
        {.user = "bob", .uid = 1002, .role = KURA_ROLE_CO_INVESTIGATOR},
        {.user = "", .uid = 0}, /* unnamed: grants nothing, never stands for root */
        {.user = "carol", .uid = 1003, .role = KURA_ROLE_CONTRACTOR},
    };
    struct kura_withdrawal w[2] = {{.sample = "S2"}, {.sample = "S9"}};
    struct kura_dataset ds = {.ngrants = 3, .grants = grants, .nwithdrawals = 2, .withdrawals = w};
    EXPECT(kura_dataset_grant(&ds, 1002) == &grants[0]);
    EXPECT(kura_dataset_grant(&ds, 1003) == &grants[2]);
    EXPECT(kura_dataset_grant(&ds, 0) == NULL);
    EXPECT(kura_dataset_grant(&ds, 4242) == NULL);
    EXPECT(kura_dataset_grant(NULL, 1002) == NULL);
    ds.ngrants = 1;
    EXPECT(kura_dataset_grant(&ds, 1003) == NULL); /* only the first ngrants count */

    EXPECT(kura_dataset_sample_withdrawn(&ds, "S2"));
    EXPECT(kura_dataset_sample_withdrawn(&ds, "S9"));
    EXPECT(!kura_dataset_sample_withdrawn(&ds, "S1"));
    EXPECT(!kura_dataset_sample_withdrawn(&ds, "S"));
    EXPECT(!kura_dataset_sample_withdrawn(&ds, "S22"));
    EXPECT(!kura_dataset_sample_withdrawn(&ds, NULL));
    EXPECT(!kura_dataset_sample_withdrawn(NULL, "S2"));

    /* R-REV-1: one withdrawn sample among several withdraws the file. */
    char *mixed[] = {"S1", "S3", "S9"}, *clean[] = {"S1", "S3"};
    struct kura_file f = {.nsamples = 3, .samples = mixed};
    EXPECT(kura_file_withdrawn(&ds, &f));
    f.samples = clean;
    f.nsamples = 2;
    EXPECT(!kura_file_withdrawn(&ds, &f));
    f.nsamples = 0;
    f.samples = NULL;
    EXPECT(!kura_file_withdrawn(&ds, &f));
    EXPECT(!kura_file_withdrawn(&ds, NULL));

    /* A pending withdrawal (no file names the sample yet) still withdraws a
     * file that arrives later naming it. */
    char *late[] = {"S9"};
    struct kura_file arrived = {.nsamples = 1, .samples = late};
    EXPECT(kura_file_withdrawn(&ds, &arrived));
}

/* "No sample map": files, and not one names a sample. */
static void test_no_sample_map(void)
{
    char *s1[] = {"S1"};
    struct kura_file files[3] = {{.path = "README"}, {.path = "a.bam", .nsamples = 1, .samples = s1}, {.path = "b.bam"}};
    EXPECT(!kura_files_no_sample_map(files, 3));
    EXPECT(!kura_files_no_sample_map(files + 1, 1));
    EXPECT(kura_files_no_sample_map(files, 1));
    EXPECT(kura_files_no_sample_map(files + 2, 1));
    EXPECT(!kura_files_no_sample_map(files, 0));   /* nothing imported: nothing to map */
}

static void test_clear(void)
{
    struct kura_dataset zero = {0};
    kura_dataset_clear(&zero);
    kura_dataset_clear(&zero);
    kura_dataset_clear(NULL);
    struct kura_file fzero = {0};
    kura_file_clear(&fzero);
    kura_file_clear(NULL);

    struct kura_dataset ds = {.id = "JGAD1", .ngrants = 2, .nwithdrawals = 1};
    ds.grants = calloc(2, sizeof *ds.grants);
    ds.withdrawals = calloc(1, sizeof *ds.withdrawals);
    ASSERT(ds.grants && ds.withdrawals);
    kura_dataset_clear(&ds);
    EXPECT(ds.grants == NULL && ds.ngrants == 0 && ds.withdrawals == NULL && ds.nwithdrawals == 0);
    EXPECT(ds.id[0] == '\0');
    kura_dataset_clear(&ds); /* twice is harmless */

    struct kura_file f = {.path = strdup("a/x.bam"), .nsamples = 2};
    f.samples = calloc(2, sizeof *f.samples);
    ASSERT(f.path && f.samples);
    f.samples[0] = strdup("S1");
    f.samples[1] = strdup("S2");
    kura_file_clear(&f);
    EXPECT(f.path == NULL && f.samples == NULL && f.nsamples == 0);
    kura_file_clear(&f);
}

int main(void)
{
    RUN(test_names_round_trip);
    RUN(test_parse_is_exact);
    RUN(test_lookups);
    RUN(test_no_sample_map);
    RUN(test_clear);
    return unit_done();
}
