/* Cluster stamps (cluster_stamp.c): a node's copy of the shared state is
 * stale for a change when the state file the change stamped carries an
 * older epoch, or is missing; for a key change, when its keys do not show
 * the key current (rotate) or gone (retire); the stamp names survive the
 * database. */
#include <string.h>

#include "kura/cluster.h"
#include "unit.h"

/* A copy of the state: what each stamp holds (-1: no such file), and of
 * the one server key the key tests ask about. */
struct copy {
    int64_t dataset_ini, files_tsv, lockdown;
    enum kura_cluster_key_held key;
    const char *current;        /* when set: this key current, every other one earlier */
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

static enum kura_cluster_key_held key_held(const char *fingerprint, void *ctx)
{
    struct copy *c = ctx;
    if (c->nasked < 16)
        snprintf(c->asked[c->nasked++], sizeof c->asked[0], "%s", fingerprint);
    if (c->current)
        return strcmp(fingerprint, c->current) == 0 ? KURA_KEY_CURRENT : KURA_KEY_EARLIER;
    return c->key;
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
    EXPECT(strcmp(kura_cluster_stamp_name(KURA_STAMP_KEY_CURRENT), "key-current") == 0);
    EXPECT(strcmp(kura_cluster_stamp_name(KURA_STAMP_KEY_RETIRED), "key-retired") == 0);
    EXPECT(kura_cluster_stamp_parse("payloads") == KURA_STAMP_UNKNOWN);
    EXPECT(kura_cluster_stamp_parse("Lockdown") == KURA_STAMP_UNKNOWN);
}

static void test_stale_per_stamp(void)
{
    struct copy c = {.dataset_ini = 5, .files_tsv = 7, .lockdown = 9};
    struct kura_cluster_change v[] = {change(5, "JGAD1", KURA_STAMP_DATASET), change(7, "JGAD1", KURA_STAMP_FILES),
                                      change(9, "", KURA_STAMP_LOCKDOWN)};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == NULL);
    EXPECT(c.nasked == 3 && strcmp(c.asked[0], "JGAD1") == 0 && strcmp(c.asked[2], "") == 0);
    /* Each stamp on its own: one file older than its change is stale. */
    c = (struct copy){.dataset_ini = 4, .files_tsv = 7, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[0]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 6, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[1]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = 8};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[2]);
    /* A lockdown file a stale cache does not show at all (no epoch), and
     * an unlock's record the copy still shows as the older lockdown. */
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = 0};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[2]);
    c = (struct copy){.dataset_ini = 5, .files_tsv = 7, .lockdown = -1};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[2]);
    /* A newer copy than the change (a later change made it) is not stale. */
    c = (struct copy){.dataset_ini = 50, .files_tsv = 70, .lockdown = 90};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == NULL);
    /* A dataset the copy has no files of: stale for its files change. */
    c = (struct copy){.dataset_ini = 5, .files_tsv = -1, .lockdown = 9};
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[1]);
}

static void test_unstamped_and_unknown(void)
{
    struct copy c = {.dataset_ini = 0, .files_tsv = 0, .lockdown = 0};
    struct kura_cluster_change none[] = {change(3, "JGAD1", KURA_STAMP_NONE), change(4, "", KURA_STAMP_NONE)};
    EXPECT(kura_cluster_stale(none, 2, held, key_held, &c) == NULL);
    EXPECT(c.nasked == 0);
    EXPECT(kura_cluster_stale(none, 0, held, key_held, &c) == NULL);
    /* A stamp a newer kura wrote is never taken for applied. */
    c = (struct copy){.dataset_ini = 100, .files_tsv = 100, .lockdown = 100};
    struct kura_cluster_change unknown[] = {change(3, "JGAD1", KURA_STAMP_NONE), change(4, "JGAD1", KURA_STAMP_UNKNOWN)};
    EXPECT(kura_cluster_stale(unknown, 2, held, key_held, &c) == &unknown[1]);
}

static struct kura_cluster_change key_change(int64_t epoch, enum kura_cluster_stamp stamp, const char *fp)
{
    struct kura_cluster_change c = {.epoch = epoch, .stamp = stamp};
    snprintf(c.fingerprint, sizeof c.fingerprint, "%s", fp);
    return c;
}

/* Key rotate: applied only when the copy holds the new key as its current
 * one; a copy still on the old key (the new one unknown, or a later
 * rotation's view reversed) is stale. */
static void test_rotation(void)
{
    const char *fp = "1111111111111111111111111111111111111111111111111111111111111111";
    struct kura_cluster_change v[] = {key_change(8, KURA_STAMP_KEY_CURRENT, fp)};
    struct copy c = {.key = KURA_KEY_CURRENT};
    EXPECT(kura_cluster_stale(v, 1, held, key_held, &c) == NULL);
    EXPECT(c.nasked == 1 && strcmp(c.asked[0], fp) == 0);
    c = (struct copy){.key = KURA_KEY_ABSENT};
    EXPECT(kura_cluster_stale(v, 1, held, key_held, &c) == &v[0]);
    c = (struct copy){.key = KURA_KEY_EARLIER};
    EXPECT(kura_cluster_stale(v, 1, held, key_held, &c) == &v[0]);
    /* Lockdown holds no key: it has not read the new one yet. */
    c = (struct copy){.key = KURA_KEY_NONE_HELD};
    EXPECT(kura_cluster_stale(v, 1, held, key_held, &c) == &v[0]);
}

/* Rotations in a row, caught up over at once: only the last one's key
 * is current, and the earlier ones are not stale for that; the last one
 * still is when its key is not current. */
static void test_rotations_in_a_row(void)
{
    const char *a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
               *b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    struct kura_cluster_change v[] = {key_change(5, KURA_STAMP_KEY_CURRENT, a),
                                      key_change(6, KURA_STAMP_KEY_CURRENT, b),
                                      key_change(7, KURA_STAMP_KEY_RETIRED, a)};
    struct copy c = {.key = KURA_KEY_ABSENT, .current = b};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == NULL);
    EXPECT(c.nasked == 1 && strcmp(c.asked[0], b) == 0);
    /* a, retired after, is held as earlier by this copy: stale for that. */
    EXPECT(kura_cluster_stale(v, 3, held, key_held, &c) == &v[2]);
    /* A copy still on a: the last rotation is stale. */
    c = (struct copy){.current = a};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == &v[1]);
}

/* Key retire: applied only when the copy holds no secret of the key; the
 * stale cache's case (still an earlier key) and a copy on which it is
 * somehow current are stale. */
static void test_retirement(void)
{
    const char *fp = "2222222222222222222222222222222222222222222222222222222222222222";
    struct kura_cluster_change v[] = {change(3, "JGAD1", KURA_STAMP_DATASET),
                                      key_change(9, KURA_STAMP_KEY_RETIRED, fp)};
    struct copy c = {.dataset_ini = 3, .key = KURA_KEY_ABSENT};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == NULL);
    c = (struct copy){.dataset_ini = 3, .key = KURA_KEY_EARLIER};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == &v[1]);
    c = (struct copy){.dataset_ini = 3, .key = KURA_KEY_CURRENT};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == &v[1]);
    /* Lockdown holds no key, but would open it again at unlock from a
     * copy that still has it: not applied until the keys are read. */
    c = (struct copy){.dataset_ini = 3, .key = KURA_KEY_NONE_HELD};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == &v[1]);
    /* The key change does not hide an older stale file before it. */
    c = (struct copy){.dataset_ini = 2, .key = KURA_KEY_ABSENT};
    EXPECT(kura_cluster_stale(v, 2, held, key_held, &c) == &v[0]);
}

/* A key row without its fingerprint (damaged, or written by hand) vouches
 * for nothing, whatever the copy holds. */
static void test_key_without_fingerprint(void)
{
    struct kura_cluster_change v[] = {key_change(4, KURA_STAMP_KEY_RETIRED, ""),
                                      key_change(5, KURA_STAMP_KEY_CURRENT, "")};
    struct copy c = {.key = KURA_KEY_ABSENT};
    EXPECT(kura_cluster_stale(v, 1, held, key_held, &c) == &v[0]);
    EXPECT(c.nasked == 0);
    c = (struct copy){.key = KURA_KEY_CURRENT};
    EXPECT(kura_cluster_stale(&v[1], 1, held, key_held, &c) == &v[1]);
}

int main(void)
{
    RUN(test_names_round_trip);
    RUN(test_stale_per_stamp);
    RUN(test_unstamped_and_unknown);
    RUN(test_rotation);
    RUN(test_rotations_in_a_row);
    RUN(test_retirement);
    RUN(test_key_without_fingerprint);
    return unit_done();
}
