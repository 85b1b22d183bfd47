/* The cluster's authority against a real PostgreSQL (issue 19):
 *   cluster_db_check CONNINFO DEAD_CONNINFO
 * CONNINFO reaches a private server that tests/integration/cluster_db.sh
 * started; DEAD_CONNINFO names a socket nobody serves. TAP on stdout. */
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../unit/unit.h"
#include "kura/cluster.h"
#include "kura/restrict.h"

static const char *conninfo, *dead;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static struct kura_cluster *connect_as(const char *node)
{
    struct kura_cluster *c = NULL;
    struct kura_err err = {0};
    if (kura_cluster_connect(conninfo, node, &c, &err) != 0)
        printf("#   connect: %s\n", err.msg);
    return c;
}

/* Straight SQL, for what the API does not let a test do; *first (when not
 * NULL) gets the first column of the first row as an integer (-1: none). */
static int raw_query(const char *sql, long long *first)
{
    PGconn *pg = PQconnectdb(conninfo);
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (first)
        *first = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0)
                     ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                     : -1;
    PQclear(r);
    PQfinish(pg);
    return ok ? 0 : -1;
}

static int raw(const char *sql)
{
    return raw_query(sql, NULL);
}

static long long raw_int(const char *sql)
{
    long long v = -1;
    raw_query(sql, &v);
    return v;
}

static void test_node_names(void)
{
    EXPECT(kura_cluster_node_check("node-01.hpc", NULL) == 0);
    EXPECT(kura_cluster_node_check("n", NULL) == 0);
    EXPECT(kura_cluster_node_check("", NULL) != 0);
    EXPECT(kura_cluster_node_check("-n", NULL) != 0);
    EXPECT(kura_cluster_node_check(".n", NULL) != 0);
    EXPECT(kura_cluster_node_check("n'; DROP TABLE kura.nodes; --", NULL) != 0);
    EXPECT(kura_cluster_node_check("n o", NULL) != 0);
    char longest[KURA_CLUSTER_NODE_MAX + 1];
    memset(longest, 'a', sizeof longest);
    longest[KURA_CLUSTER_NODE_MAX - 1] = '\0';
    EXPECT(kura_cluster_node_check(longest, NULL) == 0);
    longest[KURA_CLUSTER_NODE_MAX - 1] = 'a';
    longest[KURA_CLUSTER_NODE_MAX] = '\0';
    EXPECT(kura_cluster_node_check(longest, NULL) != 0);
}

struct init_job {
    char id[KURA_CLUSTER_ID_LEN + 1];
    int rc;
};

static void *init_thread(void *arg)
{
    struct init_job *j = arg;
    struct kura_cluster *c = connect_as(NULL);
    struct kura_err err = {0};
    j->rc = c ? kura_cluster_init(c, j->id, &err) : -1;
    if (j->rc != 0)
        printf("#   init: %s\n", err.msg);
    kura_cluster_close(c);
    return NULL;
}

/* Four inits at once make one schema and one id; a later init keeps it. */
static void test_init_once(void)
{
    struct init_job j[4] = {{{0}}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, init_thread, &j[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++) {
        EXPECT(j[i].rc == 0);
        EXPECT(strlen(j[i].id) == KURA_CLUSTER_ID_LEN && strcmp(j[i].id, j[0].id) == 0);
    }
    struct init_job again = {{0}};
    init_thread(&again);
    EXPECT(again.rc == 0 && strcmp(again.id, j[0].id) == 0);
}

/* CONNECT granted to PUBLIC again (init could not revoke it, or someone
 * granted it since) is named as every role's; init takes it away. */
static void test_others_public(void)
{
    struct kura_cluster *c = connect_as(NULL);
    ASSERT(c);
    char id[KURA_CLUSTER_ID_LEN + 1], names[256];
    struct kura_err err = {0};
    ASSERT(kura_cluster_init(c, id, &err) == 0);
    EXPECT(kura_cluster_others(c, names, sizeof names, &err) == 0 && strcmp(names, "") == 0);
    ASSERT(raw("GRANT CONNECT ON DATABASE postgres TO PUBLIC") == 0);
    EXPECT(kura_cluster_others(c, names, sizeof names, &err) == 0 && strcmp(names, "every role (PUBLIC)") == 0);
    EXPECT(kura_cluster_init(c, id, &err) == 0);
    EXPECT(kura_cluster_others(c, names, sizeof names, &err) == 0 && strcmp(names, "") == 0);
    kura_cluster_close(c);
}

/* The lock is one holder's; the next waits, and gets it when the holder's
 * connection ends without unlocking (a kuractl killed mid-change). */
static void test_lock(void)
{
    struct kura_cluster *a = connect_as(NULL), *b = connect_as(NULL);
    ASSERT(a && b);
    struct kura_err err = {0};
    EXPECT(kura_cluster_lock(a, 1000, &err) == 0);
    int64_t t0 = mono_ms();
    EXPECT(kura_cluster_lock(b, 300, &err) == -1 && err.code == EBUSY);
    EXPECT_STR_CONTAINS(err.msg, "another state change");
    EXPECT(mono_ms() - t0 >= 300);
    kura_cluster_close(a);   /* no unlock: the connection's end releases it */
    EXPECT(kura_cluster_lock(b, 5000, &err) == 0);
    EXPECT(kura_cluster_unlock(b, &err) == 0);
    kura_cluster_close(b);
}

/* Publishing gives rising epochs and announces each to a listener; text
 * with quotes and semicolons is stored as it is. */
static void test_publish_announce(void)
{
    struct kura_cluster *pub = connect_as(NULL), *node = connect_as("n1");
    ASSERT(pub && node);
    struct kura_err err = {0};
    ASSERT(kura_cluster_listen(node, &err) == 0);
    int64_t got = -1;
    int64_t t0 = mono_ms();
    EXPECT(kura_cluster_wait_announce(node, 200, &got, &err) == 0 && got == 0);
    EXPECT(mono_ms() - t0 >= 200);
    int64_t e1 = 0, e2 = 0;
    EXPECT(kura_cluster_publish(pub, "root", "JGAD000001", "user-remove kt_bob", &e1, &err) == 0);
    EXPECT(kura_cluster_publish(pub, "o'brien", NULL, "x'); DROP TABLE kura.epochs; --", &e2, &err) == 0);
    EXPECT(e1 > 0 && e2 == e1 + 1);
    /* Each announcement comes as its transaction commits: wait for the last. */
    int64_t seen = 0, first = 0;
    for (int64_t end = mono_ms() + 2000; seen < e2 && mono_ms() < end;) {
        EXPECT(kura_cluster_wait_announce(node, 200, &got, &err) == 0);
        if (got && !first)
            first = got;
        seen = got > seen ? got : seen;
    }
    EXPECT(first == e1 || first == e2);
    EXPECT(seen == e2);
    EXPECT(raw("SELECT 1 FROM kura.epochs WHERE actor = 'o''brien' AND change LIKE 'x''); DROP%'") == 0);
    kura_cluster_close(pub);
    kura_cluster_close(node);
}

/* A change waits for the live nodes that have not applied it: not for one
 * that has, nor for one whose lease ended or that left. */
static void test_leases(void)
{
    struct kura_cluster *pub = connect_as(NULL), *n1 = connect_as("lease1"), *n2 = connect_as("lease2"),
                        *n3 = connect_as("lease3");
    ASSERT(pub && n1 && n2 && n3);
    struct kura_err err = {0};
    int64_t latest = 0, e = 0;
    ASSERT(kura_cluster_publish(pub, "root", NULL, "test", &e, &err) == 0);
    EXPECT(kura_cluster_renew(n1, 10000, 0, &latest, &err) == 0 && latest == e);
    EXPECT(kura_cluster_renew(n2, 10000, 0, &latest, &err) == 0);
    EXPECT(kura_cluster_renew(n3, 50, 0, &latest, &err) == 0);
    size_t lag = 0;
    char names[256];
    EXPECT(kura_cluster_lagging(pub, e, &lag, names, sizeof names, &err) == 0 && lag == 3);
    EXPECT(strcmp(names, "lease1, lease2, lease3") == 0);
    sleep_ms(120);   /* lease3's lease ends */
    EXPECT(kura_cluster_lagging(pub, e, &lag, names, sizeof names, &err) == 0 && lag == 2);
    EXPECT(kura_cluster_renew(n1, 10000, e, &latest, &err) == 0);
    EXPECT(kura_cluster_lagging(pub, e, &lag, names, sizeof names, &err) == 0 && lag == 1);
    EXPECT(strcmp(names, "lease2") == 0);
    EXPECT(kura_cluster_leave(n2, &err) == 0);
    EXPECT(kura_cluster_lagging(pub, e, &lag, NULL, 0, &err) == 0 && lag == 0);

    struct kura_cluster_node *v = NULL;
    size_t n = 0;
    EXPECT(kura_cluster_nodes(pub, &v, &n, &latest, &err) == 0 && latest == e);
    int seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i].name, "lease1") == 0)
            seen += v[i].applied_epoch == e && v[i].lease_left_ms > 5000 && v[i].since_contact_ms < 5000;
        if (strcmp(v[i].name, "lease3") == 0)
            seen += v[i].lease_left_ms < 0;
    }
    EXPECT(seen == 2);
    free(v);
    EXPECT(kura_cluster_leave(pub, &err) == -1);   /* a client is no node */
    kura_cluster_close(pub);
    kura_cluster_close(n1);
    kura_cluster_close(n2);
    kura_cluster_close(n3);
}

/* The maintenance is one node's: only a node whose lease runs gets it,
 * its holder keeps it by renewing, another gets it only once the holder's
 * claim has ended; a client cannot claim. */
static void test_maintainer_claim(void)
{
    struct kura_cluster *pub = connect_as(NULL), *m1 = connect_as("maint1"), *m2 = connect_as("maint2"),
                        *m3 = connect_as("maint3");
    ASSERT(pub && m1 && m2 && m3);
    struct kura_err err = {0};
    int64_t latest = 0;
    bool held = true;
    EXPECT(kura_cluster_maintainer_claim(m1, 10000, &held, &err) == 0 && !held); /* no lease yet */
    EXPECT(kura_cluster_renew(m1, 10000, 0, &latest, &err) == 0);
    EXPECT(kura_cluster_renew(m2, 10000, 0, &latest, &err) == 0);
    EXPECT(kura_cluster_maintainer_claim(m1, 200, &held, &err) == 0 && held);
    EXPECT(kura_cluster_maintainer_claim(m2, 200, &held, &err) == 0 && !held);   /* m1's claim runs */
    EXPECT(kura_cluster_maintainer_claim(m1, 200, &held, &err) == 0 && held);    /* renewed */
    sleep_ms(300);   /* m1's claim ends */
    EXPECT(kura_cluster_maintainer_claim(m2, 10000, &held, &err) == 0 && held);
    EXPECT(kura_cluster_maintainer_claim(m1, 10000, &held, &err) == 0 && !held);
    /* A node whose lease ended does not get it even when it is free. */
    EXPECT(kura_cluster_renew(m3, 50, 0, &latest, &err) == 0);
    EXPECT(raw("UPDATE kura.maintainer SET until = clock_timestamp()") == 0);
    sleep_ms(120);   /* m3's lease ends */
    EXPECT(kura_cluster_maintainer_claim(m3, 10000, &held, &err) == 0 && !held);
    EXPECT(kura_cluster_maintainer_claim(pub, 10000, &held, &err) == -1 && !held);   /* a client is no node */
    kura_cluster_close(pub);
    kura_cluster_close(m1);
    kura_cluster_close(m2);
    kura_cluster_close(m3);
}

/* A database newer than this kura is refused, with what to do. */
static void test_newer_schema(void)
{
    struct kura_cluster *c = connect_as(NULL);
    ASSERT(c);
    ASSERT(raw("UPDATE kura.meta SET value = '99' WHERE key = 'schema_version'") == 0);
    char id[KURA_CLUSTER_ID_LEN + 1];
    struct kura_err err = {0};
    EXPECT(kura_cluster_init(c, id, &err) == -1 && err.code == EPROTO);
    EXPECT_STR_CONTAINS(err.msg, "upgrade kura");
    ASSERT(raw("UPDATE kura.meta SET value = '2' WHERE key = 'schema_version'") == 0);
    EXPECT(kura_cluster_init(c, id, &err) == 0);
    kura_cluster_close(c);
}

/* A cluster made by the kura of schema version `from` (undo: the SQL that
 * takes this kura's additions away again, row: one of that kura's rows)
 * is refused with what to do, and cluster init upgrades it in place,
 * keeping its id and rows. The changes afterwards, in *v and *n. */
static void upgrade_from(int from, const char *undo, const char *row, struct kura_cluster_change **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    struct kura_cluster *c = connect_as(NULL);
    ASSERT(c);
    char id[KURA_CLUSTER_ID_LEN + 1], before[KURA_CLUSTER_ID_LEN + 1], version[128];
    struct kura_err err = {0};
    ASSERT(kura_cluster_id(c, before, &err) == 0);
    ASSERT(raw(undo) == 0);
    snprintf(version, sizeof version, "UPDATE kura.meta SET value = '%d' WHERE key = 'schema_version'", from);
    ASSERT(raw(version) == 0);
    ASSERT(raw(row) == 0);
    EXPECT(kura_cluster_id(c, id, &err) == -1 && err.code == EPROTO);
    snprintf(version, sizeof version, "schema version %d, older than this kura's %d: run kuractl cluster init", from,
             KURA_CLUSTER_SCHEMA_VERSION);
    EXPECT_STR_CONTAINS(err.msg, version);
    EXPECT(kura_cluster_init(c, id, &err) == 0 && strcmp(id, before) == 0);
    EXPECT(kura_cluster_id(c, id, &err) == 0 && strcmp(id, before) == 0);
    snprintf(version, sizeof version, "SELECT 1 FROM kura.meta WHERE key = 'schema_version' AND value = '%d'",
             KURA_CLUSTER_SCHEMA_VERSION);
    EXPECT(raw(version) == 0);
    EXPECT(kura_cluster_changes(c, 0, INT64_MAX, v, n, &err) == 0);
    kura_cluster_close(c);
}

/* Schema 1, before stamps (no kura.epochs.stamp, nor fingerprint): a row of that kura
 * (stamped, no stamp name) reads as a dataset.ini stamp. */
static void test_upgrade_from_schema_1(void)
{
    struct kura_cluster_change *v;
    size_t n;
    upgrade_from(1, "ALTER TABLE kura.epochs DROP COLUMN stamp, DROP COLUMN fingerprint",
                 "INSERT INTO kura.epochs (actor, dataset, change, state, stamped) "
                 "VALUES ('old', 'JGAD000009', 'user-remove', 'done', true)",
                 &v, &n);
    bool seen = false;
    for (size_t i = 0; i < n; i++)
        seen |= strcmp(v[i].dataset, "JGAD000009") == 0 && v[i].stamp == KURA_STAMP_DATASET;
    EXPECT(seen);
    free(v);
}

/* Schema 2, before key stamps (no kura.epochs.fingerprint): a key change
 * of that kura, unstamped, stays unstamped. */
static void test_upgrade_from_schema_2(void)
{
    struct kura_cluster_change *v;
    size_t n;
    upgrade_from(2, "ALTER TABLE kura.epochs DROP COLUMN fingerprint",
                 "INSERT INTO kura.epochs (actor, change, state, stamp) VALUES ('old', 'key-retire', 'done', '')", &v,
                 &n);
    EXPECT(n > 0);
    if (n > 0)
        EXPECT(v[n - 1].stamp == KURA_STAMP_NONE && v[n - 1].fingerprint[0] == '\0');
    free(v);
}

/* A key change's fingerprint goes with its pending row, before the
 * keystore changes, and comes back with the change, pending or done. */
static void test_key_stamps(void)
{
    struct kura_cluster *c = connect_as(NULL);
    ASSERT(c);
    struct kura_err err = {0};
    const char *fp = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    int64_t rotate = 0, retire = 0;
    EXPECT(kura_cluster_begin_change(c, "root", NULL, "key-rotate", KURA_STAMP_KEY_CURRENT, fp, &rotate, &err) == 0);
    EXPECT(kura_cluster_begin_change(c, "root", NULL, "key-retire", KURA_STAMP_KEY_RETIRED, fp, &retire, &err) == 0);
    struct kura_cluster_change *v = NULL;
    size_t n = 0;
    EXPECT(kura_cluster_pending(c, &v, &n, &err) == 0 && n == 2);
    if (n == 2)
        EXPECT(v[0].epoch == rotate && v[0].stamp == KURA_STAMP_KEY_CURRENT && strcmp(v[0].fingerprint, fp) == 0 &&
               v[1].epoch == retire && v[1].stamp == KURA_STAMP_KEY_RETIRED && strcmp(v[1].fingerprint, fp) == 0 &&
               v[1].dataset[0] == '\0');
    free(v);
    EXPECT(kura_cluster_end_change(c, rotate, true, &err) == 0 && kura_cluster_end_change(c, retire, true, &err) == 0);
    EXPECT(kura_cluster_changes(c, rotate - 1, retire, &v, &n, &err) == 0 && n == 2);
    if (n == 2)
        EXPECT(v[1].stamp == KURA_STAMP_KEY_RETIRED && strcmp(v[1].fingerprint, fp) == 0);
    free(v);
    kura_cluster_close(c);
}

/* A change's stamp goes with its pending row (before the file is written)
 * and comes back with the change, pending or done; a name this kura does
 * not know reads as unknown. */
static void test_stamps(void)
{
    struct kura_cluster *c = connect_as(NULL);
    ASSERT(c);
    struct kura_err err = {0};
    const enum kura_cluster_stamp stamps[] = {KURA_STAMP_DATASET, KURA_STAMP_FILES, KURA_STAMP_LOCKDOWN};
    const char *const ds[] = {"JGAD000010", "JGAD000010", NULL};
    int64_t e[3] = {0};
    for (int i = 0; i < 3; i++)
        EXPECT(kura_cluster_begin_change(c, "root", ds[i], "stamp test", stamps[i], NULL, &e[i], &err) == 0);
    struct kura_cluster_change *v = NULL;
    size_t n = 0;
    EXPECT(kura_cluster_pending(c, &v, &n, &err) == 0 && n == 3);
    for (size_t i = 0; i < n && i < 3; i++)
        EXPECT(v[i].epoch == e[i] && v[i].stamp == stamps[i] && strcmp(v[i].dataset, ds[i] ? ds[i] : "") == 0);
    free(v);
    /* The old flag stays set for dataset.ini stamps only. */
    EXPECT(raw("SELECT 1 FROM kura.epochs WHERE stamp = 'dataset.ini' AND stamped "
               "AND NOT EXISTS (SELECT 1 FROM kura.epochs WHERE stamp IN ('files.tsv', 'lockdown') AND stamped)") == 0);
    for (int i = 0; i < 3; i++)
        EXPECT(kura_cluster_end_change(c, e[i], i != 1, &err) == 0);
    EXPECT(kura_cluster_changes(c, e[0] - 1, e[2], &v, &n, &err) == 0 && n == 2);
    if (n == 2)
        EXPECT(v[0].stamp == KURA_STAMP_DATASET && v[1].stamp == KURA_STAMP_LOCKDOWN && v[1].dataset[0] == '\0');
    free(v);
    ASSERT(raw("UPDATE kura.epochs SET stamp = 'payloads' WHERE epoch = (SELECT max(epoch) FROM kura.epochs)") == 0);
    EXPECT(kura_cluster_changes(c, e[2] - 1, e[2], &v, &n, &err) == 0 && n == 1 && v[0].stamp == KURA_STAMP_UNKNOWN);
    free(v);
    kura_cluster_close(c);
}

struct notices {
    struct kura_restrict_notice last;
    int count, malformed;
};

static void on_notice(const char *payload, void *ctx)
{
    struct notices *n = ctx;
    n->count++;
    if (kura_restrict_parse(payload, &n->last) != 0)
        n->malformed++;
}

/* Waits up to 2 s for the next restriction notice. */
static bool next_notice(struct kura_cluster *node, struct notices *n)
{
    struct kura_err err = {0};
    int before = n->count;
    for (int64_t end = mono_ms() + 2000; n->count == before && mono_ms() < end;)
        if (kura_cluster_wait_restrictions(node, 200, on_notice, n, &err) != 0)
            return false;
    return n->count > before && n->malformed == 0;
}

/* The writes that need not wait for the WAL's flush (a restriction, its
 * lift, a change's end, a node's acknowledgement) do not, each in one
 * statement; the pending row and a renewal do. For the connections that
 * write them, a flush takes 100 ms more (commit_delay, for that session
 * only): a write that waits for one takes over 100 ms. The fastest of
 * three rounds counts, so that a loaded machine does not fail it. */
static void test_unflushed(void)
{
    char slow[1024];
    snprintf(slow, sizeof slow, "%s options='-c commit_delay=100000 -c commit_siblings=0'", conninfo);
    struct kura_cluster *c = NULL, *ackn = NULL, *node = connect_as("flush1"), *other = connect_as(NULL);
    struct kura_err err = {0};
    ASSERT(kura_cluster_connect(slow, NULL, &c, &err) == 0 && kura_cluster_connect(slow, "flush2", &ackn, &err) == 0);
    ASSERT(node && other && kura_cluster_listen_restrictions(node, &err) == 0 && kura_cluster_listen(node, &err) == 0);
    ASSERT(kura_cluster_listen_acks(other, &err) == 0);
    struct kura_restriction r = {.kind = KURA_RESTRICT_USER, .uid = 1234};
    snprintf(r.dataset, sizeof r.dataset, "JGAD000077");
    snprintf(r.user, sizeof r.user, "kt_flush");
    struct notices got = {0};
    int64_t fastest_restrict = INT64_MAX, fastest_end = INT64_MAX, fastest_lift = INT64_MAX,
            fastest_ack = INT64_MAX, slowest_pending = 0, slowest_renewal = 0, latest = 0;
    for (int round = 0; round < 3; round++) {
        long long done_before = raw_int("SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs");
        ASSERT(kura_cluster_lock(c, 5000, &err) == 0);
        int64_t t0 = mono_ms(), epoch = 0;
        EXPECT(kura_cluster_begin_change(c, "root", r.dataset, "flush test", KURA_STAMP_DATASET, NULL, &epoch, &err) == 0);
        int64_t t1 = mono_ms();
        EXPECT(kura_cluster_restrict(c, &r, &err) == 0);
        int64_t t2 = mono_ms();
        /* The notice names the backend that holds the lock (what a node
         * checks before it lifts) and the latest done epoch. */
        EXPECT(next_notice(node, &got) && !got.last.lift);
        EXPECT(got.last.r.sender_pid == raw_int("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"));
        EXPECT(got.last.r.epoch == done_before && got.last.r.uid == 1234 && strcmp(got.last.r.user, "kt_flush") == 0);
        int64_t t3 = mono_ms();
        EXPECT(kura_cluster_end_change(c, epoch, true, &err) == 0);
        int64_t t4 = mono_ms(), announced = 0;
        for (int64_t end = mono_ms() + 2000; announced < epoch && mono_ms() < end;)
            EXPECT(kura_cluster_wait_announce(node, 200, &announced, &err) == 0);
        EXPECT(announced == epoch);
        /* A restriction after the end names it. */
        EXPECT(kura_cluster_restrict(c, &r, &err) == 0 && next_notice(node, &got) && got.last.r.epoch == epoch);
        int64_t t5 = mono_ms();
        EXPECT(kura_cluster_unlock_lift(c, &err) == 0);
        int64_t t6 = mono_ms();
        EXPECT(next_notice(node, &got) && got.last.lift);
        EXPECT(kura_cluster_lock(other, 0, &err) == 0 && kura_cluster_unlock(other, &err) == 0);
        int64_t t7 = mono_ms();
        EXPECT(kura_cluster_renew(ackn, 10000, 0, &latest, &err) == 0);
        int64_t t8 = mono_ms();
        EXPECT(kura_cluster_ack(ackn, epoch, &err) == 0);
        int64_t t9 = mono_ms();
        EXPECT(raw_int("SELECT applied_epoch FROM kura.nodes WHERE name = 'flush2'") == epoch);
        int64_t w0 = mono_ms();   /* the acknowledgement wakes a change waiting for it */
        EXPECT(kura_cluster_wait_ack(other, 2000, &err) == 0 && mono_ms() - w0 < 1000);
        slowest_pending = t1 - t0 > slowest_pending ? t1 - t0 : slowest_pending;
        slowest_renewal = t8 - t7 > slowest_renewal ? t8 - t7 : slowest_renewal;
        fastest_restrict = t2 - t1 < fastest_restrict ? t2 - t1 : fastest_restrict;
        fastest_end = t4 - t3 < fastest_end ? t4 - t3 : fastest_end;
        fastest_lift = t6 - t5 < fastest_lift ? t6 - t5 : fastest_lift;
        fastest_ack = t9 - t8 < fastest_ack ? t9 - t8 : fastest_ack;
    }
    printf("# pending row %lld ms, renewal %lld ms (each waits for the flush); restriction %lld, end %lld, lift %lld, "
           "acknowledgement %lld ms\n", (long long)slowest_pending, (long long)slowest_renewal,
           (long long)fastest_restrict, (long long)fastest_end, (long long)fastest_lift, (long long)fastest_ack);
    EXPECT(slowest_pending >= 100 && slowest_renewal >= 100);
    EXPECT(fastest_restrict < 100);
    EXPECT(fastest_end < 100);
    EXPECT(fastest_lift < 100);
    EXPECT(fastest_ack < 100);
    EXPECT(kura_cluster_leave(ackn, &err) == 0);
    kura_cluster_close(c);
    kura_cluster_close(ackn);
    kura_cluster_close(node);
    kura_cluster_close(other);
}

/* No server: a clear error, soon. */
static struct kura_cluster *connect_named(const char *node)
{
    struct kura_cluster *c = NULL;
    struct kura_err err = {0};
    if (kura_cluster_connect_for(conninfo, node, "changes", 0, &c, &err) != 0)
        printf("#   connect: %s\n", err.msg);
    return c;
}

/* Of the sessions named "kura node NODE changes": how many (what = NULL),
 * or the first one's pid, or how many are idle after DISCARD ALL, or how
 * many advisory locks they hold. */
static long long sessions(const char *node, const char *what)
{
    char sql[512];
    char where[160];
    snprintf(where, sizeof where, "FROM pg_stat_activity a WHERE a.application_name = 'kura node %s changes'", node);
    if (!what)
        snprintf(sql, sizeof sql, "SELECT count(*) %s", where);
    else if (strcmp(what, "pid") == 0)
        snprintf(sql, sizeof sql, "SELECT min(pid) %s", where);
    else if (strcmp(what, "clean") == 0)
        snprintf(sql, sizeof sql, "SELECT count(*) %s AND state = 'idle' AND query = 'DISCARD ALL'", where);
    else
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                 "WHERE a.application_name = 'kura node %s changes' AND l.locktype = 'advisory'", node);
    return raw_int(sql);
}

/* The session kept between changes (include/kura/cluster.h): given back
 * holding the cluster's lock and listening, it is kept clean (idle after
 * DISCARD ALL, no lock: another session takes the lock at once) and taken
 * again as the same session; a second one given is closed, so is one the
 * database dropped, and one given to no spare. */
static void test_spare(void)
{
    struct kura_cluster_spare *s = kura_cluster_spare_new();
    ASSERT(s);
    EXPECT(kura_cluster_spare_take(s) == NULL);
    EXPECT(kura_cluster_spare_take(NULL) == NULL);
    struct kura_cluster *a = connect_named("spare-a"), *b = connect_named("spare-a"), *other = connect_as(NULL);
    ASSERT(a && b && other);
    struct kura_err err = {0};
    EXPECT(kura_cluster_listen_acks(a, &err) == 0);
    EXPECT(kura_cluster_lock(a, 1000, &err) == 0);
    EXPECT(sessions("spare-a", "locks") == 1);
    long long pids = sessions("spare-a", NULL);
    EXPECT(pids == 2);
    kura_cluster_spare_give(s, a);
    EXPECT(sessions("spare-a", "clean") == 1);
    EXPECT(sessions("spare-a", "locks") == 0);
    EXPECT(kura_cluster_lock(other, 300, &err) == 0);
    EXPECT(kura_cluster_unlock(other, &err) == 0);
    kura_cluster_spare_give(s, b);   /* one is kept already: closed */
    int64_t t0 = mono_ms();
    while (sessions("spare-a", NULL) != 1 && mono_ms() - t0 < 5000)
        sleep_ms(20);
    EXPECT(sessions("spare-a", NULL) == 1);
    long long kept_pid = sessions("spare-a", "pid");
    struct kura_cluster *again = kura_cluster_spare_take(s);
    EXPECT(again != NULL);
    EXPECT(kura_cluster_spare_take(s) == NULL);
    EXPECT(again && kura_cluster_lock(again, 1000, &err) == 0);
    EXPECT(sessions("spare-a", "pid") == kept_pid);
    EXPECT(sessions("spare-a", "locks") == 1);
    /* Dropped by the database while taken: given back, it is closed. */
    EXPECT(raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE application_name = 'kura node spare-a changes'") == 0);
    kura_cluster_spare_give(s, again);
    EXPECT(kura_cluster_spare_take(s) == NULL);
    struct kura_cluster *c = connect_named("spare-c");
    ASSERT(c);
    kura_cluster_spare_give(NULL, c);
    t0 = mono_ms();
    while (sessions("spare-c", NULL) != 0 && mono_ms() - t0 < 5000)
        sleep_ms(20);
    EXPECT(sessions("spare-c", NULL) == 0);
    kura_cluster_close(other);
    kura_cluster_spare_free(s);
}

static void *resume_later(void *arg)
{
    sleep_ms(300);
    kill((pid_t)(intptr_t)arg, SIGCONT);
    return NULL;
}

/* A statement the database does not answer in time (its backend stopped:
 * a frozen host, or a path gone silent, looks the same to the client)
 * fails after the connection's answer deadline, not never; the
 * connection is given up (later calls fail at once, the spare closes it);
 * a slow answer inside the deadline is still an answer. */
static void test_answer_deadline(void)
{
    struct kura_cluster *c = connect_named("answer");
    ASSERT(c);
    long long pid = sessions("answer", "pid");
    ASSERT(pid > 0);
    struct kura_err err = {0};
    char id[KURA_CLUSTER_ID_LEN + 1];
    kura_cluster_set_answer(c, 2000);
    ASSERT(kill((pid_t)pid, SIGSTOP) == 0);
    pthread_t t;
    ASSERT(pthread_create(&t, NULL, resume_later, (void *)(intptr_t)pid) == 0);
    int64_t t0 = mono_ms();
    EXPECT(kura_cluster_id(c, id, &err) == 0);
    int64_t slow = mono_ms() - t0;
    pthread_join(t, NULL);
    printf("#   answered after %lld ms (stopped for 300)\n", (long long)slow);
    EXPECT(slow >= 250 && slow < 2000);

    kura_cluster_set_answer(c, 800);
    ASSERT(kill((pid_t)pid, SIGSTOP) == 0);
    t0 = mono_ms();
    int rc = kura_cluster_id(c, id, &err);
    int64_t waited = mono_ms() - t0;
    printf("#   gave up after %lld ms: %s\n", (long long)waited, err.msg);
    EXPECT(rc == -1 && err.code == ETIMEDOUT);
    EXPECT_STR_CONTAINS(err.msg, "no answer in 800 ms");
    EXPECT(waited >= 750 && waited < 3000);
    t0 = mono_ms();
    err = (struct kura_err){0};
    EXPECT(kura_cluster_listen_acks(c, &err) == -1 && err.code == ETIMEDOUT);
    EXPECT_STR_CONTAINS(err.msg, "given up");
    int64_t ignored = 0;
    EXPECT(kura_cluster_wait_announce(c, 100, &ignored, &err) == -1);
    EXPECT(mono_ms() - t0 < 500);
    struct kura_cluster_spare *s = kura_cluster_spare_new();
    ASSERT(s);
    kura_cluster_spare_give(s, c);      /* given up: closed, not kept */
    EXPECT(kura_cluster_spare_take(s) == NULL);
    kura_cluster_spare_free(s);
    EXPECT(kill((pid_t)pid, SIGCONT) == 0);
    t0 = mono_ms();
    while (sessions("answer", NULL) != 0 && mono_ms() - t0 < 5000)
        sleep_ms(20);
    EXPECT(sessions("answer", NULL) == 0);  /* the backend saw the connection closed */
}

static void test_no_server(void)
{
    struct kura_cluster *c = NULL;
    struct kura_err err = {0};
    int64_t t0 = mono_ms();
    EXPECT(kura_cluster_connect(dead, "n1", &c, &err) == -1 && c == NULL);
    EXPECT_STR_CONTAINS(err.msg, "cluster database: connect");
    EXPECT(mono_ms() - t0 < 6000);
    EXPECT(kura_cluster_connect(conninfo, "bad name", &c, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "node name");
}

int main(int argc, char **argv)
{
    if (argc != 3 || sodium_init() < 0) {
        fprintf(stderr, "usage: cluster_db_check CONNINFO DEAD_CONNINFO\n");
        return 2;
    }
    conninfo = argv[1];
    dead = argv[2];
    RUN(test_node_names);
    RUN(test_init_once);
    RUN(test_others_public);
    RUN(test_lock);
    RUN(test_publish_announce);
    RUN(test_leases);
    RUN(test_maintainer_claim);
    RUN(test_newer_schema);
    RUN(test_upgrade_from_schema_1);
    RUN(test_stamps);
    RUN(test_upgrade_from_schema_2);
    RUN(test_key_stamps);
    RUN(test_unflushed);
    RUN(test_spare);
    RUN(test_answer_deadline);
    RUN(test_no_server);
    return unit_done();
}
