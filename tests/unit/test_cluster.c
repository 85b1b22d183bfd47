/* Cluster stamps (cluster_stamp.c): a node's copy of the shared state is
 * stale for a change when the state file the change stamped carries an
 * older epoch, or is missing; the stamp names survive the database. */
#include <string.h>

#include "kura/cluster.h"
#include "unit.h"

/* A copy of the state: what each stamp holds (-1: no such file). */
struct copy {
    int64_t dataset_ini, files_tsv, lockdown;
    char asked[16][65];
    size_t nasked;
};

static int64_t held(enum kura_cluster_stamp stamp, const char *dataset, void *ctx)
{
    struct copy *c = ctx;
    if (c->nasked < 16)
        snprintf(c->asked[c->nasked++], sizeof c->asked[0], "%s", dataset);
    switch (stamp) {
    case KURA_STAMP_DATASET: return c->dataset_ini;
    case KURA_STAMP_FILES: return c->files_tsv;
    case KURA_STAMP_LOCKDOWN: return c->lockdown;
    default: return 1000;       /* never asked: a copy that holds everything */
    }
}

static struct kura_cluster_change change(int64_t epoch, const char *dataset, enum kura_cluster_stamp stamp)
{
    struct kura_cluster_change c = {.epoch = epoch, .stamp = stamp};
    snprintf(c.dataset, sizeof c.dataset, "%s", dataset);
    return c;
}

static void test_names_round_trip(void)
{
    for (int s = KURA_STAMP_NONE; s < KURA_STAMP_UNKNOWN; s++)
        EXPECT((int)kura_cluster_stamp_parse(kura_cluster_stamp_name((enum kura_cluster_stamp)s)) == s);
    EXPECT(strcmp(kura_cluster_stamp_name(KURA_STAMP_DATASET), "dataset.ini") == 0);
    EXPECT(strcmp(kura_cluster_stamp_name(KURA_STAMP_FILES), "files.tsv") == 0);
    EXPECT(strcmp(kura_cluster_stamp_name(KURA_STAMP_LOCKDOWN), "lockdown") == 0);
    EXPECT(kura_cluster_stamp_parse("payloads") == KURA_STAMP_UNKNOWN);
    EXPECT(kura_cluster_stamp_parse("Lockdown") == KURA_STAMP_UNKNOWN);
}

static void test_stale_per_stamp(void)
{
    struct copy c = {.dataset_ini = 5, .files_tsv = 7, .lockdown = 9};
    struct kura_cluster_change v[] = {change(5, "JGAD1", KURA_STAMP_DATASET), change(7, "JGAD1", KURA_STAMP_FILES),
                                      change(9, "", KURA_STAMP_LOCKDOWN)};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == NULL);
    EXPECT(c.nasked == 3 && strcmp(c.asked[0], "JGAD1") == 0 && strcmp(c.asked[2], "") == 0);
    /* Each stamp on its own: one file older than its change is stale. */
    c = (struct copy){.dataset_ini = 4, .files_tsv = 7, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[0]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 6, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[1]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = 8};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[2]);
    /* A lockdown file a stale cache does not show at all (no epoch), and
     * an unlock's record the copy still shows as the older lockdown. */
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = 0};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[2]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = -1};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[2]);
    /* A newer copy than the change (a later change made it) is not stale. */
    c = (struct copy){.dataset_ini = 50, .files_tsv = 70, .lockdown = 90};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == NULL);
    /* A dataset the copy has no files of: stale for its files change. */
    c = (struct copy){.dataset_ini = 5, .files_tsv = -1, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, &c) == &v[1]);
}

static void test_unstamped_and_unknown(void)
{
    struct copy c = {.dataset_ini = 0, .files_tsv = 0, .lockdown = 0};
    struct kura_cluster_change none[] = {change(3, "JGAD1", KURA_STAMP_NONE), change(4, "", KURA_STAMP_NONE)};
    EXPECT(kura_cluster_stale(none, 2, held, &c) == NULL);
    EXPECT(c.nasked == 0);
    EXPECT(kura_cluster_stale(none, 0, held, &c) == NULL);
    /* A stamp a newer kura wrote is never taken for applied. */
    c = (struct copy){.dataset_ini = 100, .files_tsv = 100, .lockdown = 100};
    struct kura_cluster_change unknown[] = {change(3, "JGAD1", KURA_STAMP_NONE), change(4, "JGAD1", KURA_STAMP_UNKNOWN)};
    EXPECT(kura_cluster_stale(unknown, 2, held, &c) == &unknown[1]);
}

int main(void)
{
    RUN(test_names_round_trip);
    RUN(test_stale_per_stamp);
    RUN(test_unstamped_and_unknown);
    return unit_done();
}
