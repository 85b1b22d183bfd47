/* restrict.c: a restriction's payload round-trips, anything malformed is
 * refused whole, a request matches exactly what the change forbids, and
 * the table lifts a restriction only once its change is over. */
#include <string.h>

#include "kura/restrict.h"
#include "unit.h"

static struct kura_restriction restriction(enum kura_restrict_kind kind)
{
    struct kura_restriction r = {.kind = kind, .sender_pid = 4242, .epoch = 17, .uid = 1001};
    snprintf(r.dataset, sizeof r.dataset, "JGAD000001");
    snprintf(r.user, sizeof r.user, "kt_bob");
    snprintf(r.sample, sizeof r.sample, "S2");
    return r;
}

static void round_trip(const struct kura_restrict_notice *n, const char *want)
{
    char buf[KURA_RESTRICT_PAYLOAD_MAX];
    int len = kura_restrict_format(n, buf, sizeof buf);
    ASSERT(len > 0);
    EXPECT((size_t)len == strlen(buf));
    if (strcmp(buf, want) != 0)
        printf("#   got \"%s\", want \"%s\"\n", buf, want);
    EXPECT(strcmp(buf, want) == 0);
    struct kura_restrict_notice back;
    ASSERT(kura_restrict_parse(buf, &back) == 0);
    EXPECT(back.lift == n->lift);
    EXPECT(back.r.sender_pid == n->r.sender_pid);
    if (n->lift)
        return;
    EXPECT(back.r.kind == n->r.kind);
    EXPECT(back.r.epoch == n->r.epoch);
    if (n->r.kind != KURA_RESTRICT_ALL)
        EXPECT(strcmp(back.r.dataset, n->r.dataset) == 0);
    if (n->r.kind == KURA_RESTRICT_USER) {
        EXPECT(back.r.uid == n->r.uid);
        EXPECT(strcmp(back.r.user, n->r.user) == 0);
    }
    if (n->r.kind == KURA_RESTRICT_SAMPLE)
        EXPECT(strcmp(back.r.sample, n->r.sample) == 0);
}

static void test_round_trip(void)
{
    struct kura_restrict_notice n = {.r = restriction(KURA_RESTRICT_USER)};
    round_trip(&n, "v1 restrict 4242 17 user JGAD000001 1001 kt_bob");
    n.r = restriction(KURA_RESTRICT_SAMPLE);
    round_trip(&n, "v1 restrict 4242 17 sample JGAD000001 S2");
    n.r = restriction(KURA_RESTRICT_DATASET);
    round_trip(&n, "v1 restrict 4242 17 dataset JGAD000001");
    n.r = restriction(KURA_RESTRICT_ALL);
    n.r.epoch = 0;
    round_trip(&n, "v1 restrict 4242 0 all");
    n.lift = true;
    round_trip(&n, "v1 lift 4242");
}

static void test_format_refuses_invalid(void)
{
    char buf[KURA_RESTRICT_PAYLOAD_MAX];
    struct kura_restrict_notice n = {.r = restriction(KURA_RESTRICT_USER)};
    n.r.sender_pid = 0;
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_USER);
    snprintf(n.r.user, sizeof n.r.user, "bob smith");
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_SAMPLE);
    n.r.sample[0] = '\0';
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_DATASET);
    snprintf(n.r.dataset, sizeof n.r.dataset, "../etc");
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_USER);
    EXPECT(kura_restrict_format(&n, buf, 20) == -1); /* does not fit */
    n.r.kind = (enum kura_restrict_kind)9;
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    /* What parse would refuse is never sent: a node ignores a notice that
     * does not parse, so the sender must fail instead (nothing restricted). */
    n.r = restriction(KURA_RESTRICT_DATASET);
    n.r.epoch = -1;
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_USER);
    n.r.uid = (uid_t)-1;
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
    n.r = restriction(KURA_RESTRICT_USER);
    n.r.sender_pid = (int64_t)INT32_MAX + 1;
    EXPECT(kura_restrict_format(&n, buf, sizeof buf) == -1);
}

static void test_parse_refuses_malformed(void)
{
    static const char *const bad[] = {
        "",
        "v1",
        "v1 restrict",
        "v2 restrict 4242 17 all",
        "V1 restrict 4242 17 all",
        "v1 restrict 4242 17 everything",
        "v1 restrict 4242 17 all extra",
        "v1 restrict 4242 17 dataset",
        "v1 restrict 4242 17 dataset JGAD000001 more",
        "v1 restrict 4242 17 user JGAD000001 1001",
        "v1 restrict 4242 17 user JGAD000001 1001 kt_bob x",
        "v1 restrict 4242 17 user JGAD000001 4294967295 kt_bob", /* (uid_t)-1 */
        "v1 restrict 4242 17 user JGAD000001 99999999999 kt_bob",
        "v1 restrict 4242 17 user JGAD000001 -1 kt_bob",
        "v1 restrict 4242 17 user JGAD000001 01001 kt_bob",
        "v1 restrict 4242 17 user JGAD000001 1001 -bob",
        "v1 restrict 4242 17 user JGAD000001 1001 kt_bob_has_a_name_longer_than_32b",
        "v1 restrict 4242 17 sample JGAD000001 ../S2",
        "v1 restrict 4242 17 dataset .JGAD",
        "v1 restrict 4242 17 dataset JGAD/1",
        "v1 restrict 0 17 all",
        "v1 restrict -4242 17 all",
        "v1 restrict 4242 -17 all",
        "v1 restrict 2147483648 17 all",
        "v1 restrict 4242 1234567890123456789 all",
        "v1 restrict 4242 17x all",
        "v1 restrict 4242  17 all",
        " v1 restrict 4242 17 all",
        "v1 restrict 4242 17 all ",
        "v1 restrict\t4242 17 all",
        "v1 lift",
        "v1 lift 0",
        "v1 lift 4242 17",
        "v1 lift abc",
        "17",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_restrict_notice n;
        memset(&n, 0x5a, sizeof n);
        int rc = kura_restrict_parse(bad[i], &n);
        if (rc != -1)
            printf("#   accepted \"%s\"\n", bad[i]);
        EXPECT(rc == -1);
        EXPECT(n.r.sender_pid == 0 && !n.lift); /* zeroed */
    }
    struct kura_restrict_notice n;
    EXPECT(kura_restrict_parse(NULL, &n) == -1);
    /* Longer than any payload this kura sends. */
    char longer[KURA_RESTRICT_PAYLOAD_MAX + 8];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    memcpy(longer, "v1 restrict 4242 17 dataset ", 28);
    EXPECT(kura_restrict_parse(longer, &n) == -1);
    /* The longest valid one fits. */
    struct kura_restrict_notice big = {.r = restriction(KURA_RESTRICT_USER)};
    memset(big.r.dataset, 'D', KURA_ID_MAX);
    big.r.dataset[KURA_ID_MAX] = '\0';
    memset(big.r.user, 'u', KURA_USER_MAX);
    big.r.user[KURA_USER_MAX] = '\0';
    big.r.sender_pid = INT32_MAX;
    big.r.epoch = 999999999999999999;
    big.r.uid = 4294967294u;
    char buf[KURA_RESTRICT_PAYLOAD_MAX];
    EXPECT(kura_restrict_format(&big, buf, sizeof buf) > 0);
    EXPECT(kura_restrict_parse(buf, &n) == 0);
}

static void test_matches_precisely(void)
{
    char *s12[] = {"S1", "S2"}, *s1[] = {"S1"};
    struct kura_file with_s2 = {.path = "a.bam", .nsamples = 2, .samples = s12};
    struct kura_file without = {.path = "b.bam", .nsamples = 1, .samples = s1};
    struct kura_file no_sample = {.path = "README"};
    struct kura_restriction u = restriction(KURA_RESTRICT_USER), s = restriction(KURA_RESTRICT_SAMPLE),
                            d = restriction(KURA_RESTRICT_DATASET), a = restriction(KURA_RESTRICT_ALL);
    EXPECT(kura_restrict_matches(&u, "JGAD000001", 1001, &without));
    EXPECT(kura_restrict_matches(&u, "JGAD000001", 1001, NULL));
    EXPECT(!kura_restrict_matches(&u, "JGAD000001", 1002, &with_s2)); /* another user */
    EXPECT(!kura_restrict_matches(&u, "JGAD000002", 1001, &with_s2)); /* another dataset */
    EXPECT(kura_restrict_matches(&s, "JGAD000001", 1002, &with_s2));
    EXPECT(!kura_restrict_matches(&s, "JGAD000001", 1002, &without));
    EXPECT(!kura_restrict_matches(&s, "JGAD000001", 1002, &no_sample));
    EXPECT(!kura_restrict_matches(&s, "JGAD000001", 1002, NULL));      /* the dataset itself */
    EXPECT(!kura_restrict_matches(&s, "JGAD000002", 1002, &with_s2));
    EXPECT(kura_restrict_matches(&d, "JGAD000001", 0, NULL));
    EXPECT(kura_restrict_matches(&d, "JGAD000001", 1002, &no_sample));
    EXPECT(!kura_restrict_matches(&d, "JGAD000002", 1002, &no_sample));
    EXPECT(!kura_restrict_matches(&d, NULL, 1002, NULL));
    EXPECT(kura_restrict_matches(&a, "JGAD000002", 1002, NULL));
    EXPECT(kura_restrict_matches(&a, NULL, 1002, NULL));
}

static void test_table_lifts_when_over(void)
{
    struct kura_restrict_table t = {0};
    struct kura_restriction u = restriction(KURA_RESTRICT_USER);
    EXPECT(!kura_restrict_any(&t, "JGAD000001", 1001, NULL));
    EXPECT(kura_restrict_hold(&t, &u));
    EXPECT(kura_restrict_any(&t, "JGAD000001", 1001, NULL));
    EXPECT(!kura_restrict_any(&t, "JGAD000001", 1002, NULL));
    /* The sender still holds the lock; something pending; behind: kept. */
    EXPECT(kura_restrict_lift(&t, 4242, 0, 18, 18) == 0);
    EXPECT(kura_restrict_lift(&t, 0, 1, 18, 18) == 0);
    EXPECT(kura_restrict_lift(&t, 0, 0, 18, 17) == 0);
    EXPECT(t.n == 1);
    /* Another change holds the lock now: this one's is over. */
    EXPECT(kura_restrict_lift(&t, 5151, 0, 18, 18) == 1);
    EXPECT(t.n == 0);
    EXPECT(!kura_restrict_any(&t, "JGAD000001", 1001, NULL));
}

static void test_table_overflow_refuses_everything(void)
{
    struct kura_restrict_table t = {0};
    struct kura_restriction u = restriction(KURA_RESTRICT_USER);
    for (int i = 0; i < KURA_RESTRICT_HELD_MAX; i++) {
        u.sender_pid = 100 + i;
        EXPECT(kura_restrict_hold(&t, &u));
    }
    EXPECT(!kura_restrict_any(&t, "JGAD000002", 1002, NULL));
    u.sender_pid = 999;
    EXPECT(!kura_restrict_hold(&t, &u));
    EXPECT(t.overflow);
    EXPECT(kura_restrict_any(&t, "JGAD000002", 1002, NULL));
    /* Someone holds the lock: the overflow stays, the others go. */
    EXPECT(kura_restrict_lift(&t, 999, 0, 5, 5) == KURA_RESTRICT_HELD_MAX);
    EXPECT(t.overflow && t.n == 0);
    EXPECT(kura_restrict_any(&t, "JGAD000002", 1002, NULL));
    EXPECT(kura_restrict_lift(&t, 0, 0, 5, 5) == 1);
    EXPECT(!t.overflow);
    EXPECT(!kura_restrict_any(&t, "JGAD000002", 1002, NULL));
}

static void test_describe(void)
{
    char buf[128];
    struct kura_restriction r = restriction(KURA_RESTRICT_USER);
    kura_restrict_describe(&r, buf, sizeof buf);
    EXPECT(strcmp(buf, "user kt_bob (uid 1001) in JGAD000001") == 0);
    r = restriction(KURA_RESTRICT_SAMPLE);
    kura_restrict_describe(&r, buf, sizeof buf);
    EXPECT(strcmp(buf, "sample S2 in JGAD000001") == 0);
    r = restriction(KURA_RESTRICT_ALL);
    kura_restrict_describe(&r, buf, sizeof buf);
    EXPECT(strcmp(buf, "everything") == 0);
}

int main(void)
{
    RUN(test_round_trip);
    RUN(test_format_refuses_invalid);
    RUN(test_parse_refuses_malformed);
    RUN(test_matches_precisely);
    RUN(test_table_lifts_when_over);
    RUN(test_table_overflow_refuses_everything);
    RUN(test_describe);
    return unit_done();
}
