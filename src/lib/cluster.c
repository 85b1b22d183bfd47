/* The cluster's authority in PostgreSQL (include/kura/cluster.h). Every
 * value reaches the database as a parameter, never spliced into SQL. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_priv.h"
#include "kura/clock.h"

/* pg_advisory_lock's key for state changes: "kura" in ASCII. */
#define STATE_LOCK_KEY "1802859105"
#define ANNOUNCE_CHANNEL "kura_epoch"
/* A node's acknowledgement of an epoch: wakes a change waiting for it. */
#define ACK_CHANNEL "kura_applied"

/* The database's own words, without libpq's trailing newline. */
static int db_fail(struct kura_cluster *c, struct kura_err *err, const char *what)
{
    const char *m = c && c->conn ? c->pq->errorMessage(c->conn) : "no connection";
    int len = (int)strcspn(m, "\n");
    kura_err_set(err, EIO, "cluster database: %s: %.*s", what, len, m);
    return -1;
}

/* A connection given up after a statement got no answer in time: its
 * session's state is unknown (the statement may yet run), so nothing
 * more is sent on it. */
static int given_up(const struct kura_cluster *c, const char *what, struct kura_err *err)
{
    if (!c->given_up)
        return 0;
    kura_err_set(err, ETIMEDOUT, "cluster database: %s: the connection was given up (a statement got no answer)",
                 what);
    return -1;
}

static bool failed(const struct kura_cluster *c, const PGresult *r)
{
    ExecStatusType st = c->pq->resultStatus(r);
    return st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK;
}

/* Runs one statement with text parameters; *res (when not NULL) gets its
 * rows. The connection does not block: a database that sends no answer
 * within c->answer_ms fails the statement, and the connection is given
 * up. A frozen database host, or a path that went silent without a reset
 * (a fail-over, a firewall's dropped state), would otherwise hold the
 * caller for as long as TCP retries, many minutes: a node's lease thread
 * out of service, a change that never returns. */
static int run(struct kura_cluster *c, const char *what, const char *sql, int n, const char *const *params,
               PGresult **res, struct kura_err *err)
{
    if (given_up(c, what, err) != 0)
        return -1;
    if (!c->pq->sendQueryParams(c->conn, sql, n, NULL, params, NULL, NULL, 0))
        return db_fail(c, err, what);
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + c->answer_ms;
    PGresult *r = NULL;
    for (;;) {
        int unsent = c->pq->flush(c->conn);
        if (unsent < 0)
            break;
        bool done = false;
        while (!unsent && !done && !c->pq->isBusy(c->conn)) {
            PGresult *next = c->pq->getResult(c->conn);
            done = !next;
            /* The first failure is the statement's; else its last result. */
            if (next && r && failed(c, r)) {
                c->pq->clear(next);
            } else if (next) {
                c->pq->clear(r);
                r = next;
            }
        }
        if (done)
            break;
        int64_t left = deadline - kura_clock_ms(CLOCK_MONOTONIC);
        if (left <= 0) {
            c->pq->clear(r);
            c->given_up = true;
            kura_err_set(err, ETIMEDOUT, "cluster database: %s: no answer in %d ms: the connection is given up", what,
                         c->answer_ms);
            return -1;
        }
        struct pollfd pfd = {.fd = c->pq->socket(c->conn), .events = (short)(POLLIN | (unsent ? POLLOUT : 0))};
        if (pfd.fd < 0 || (poll(&pfd, 1, (int)left) < 0 && errno != EINTR))
            break;
        if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) && c->pq->consumeInput(c->conn) != 1)
            break;
    }
    if (!r || failed(c, r)) {
        const char *m = r ? c->pq->resultErrorMessage(r) : c->pq->errorMessage(c->conn);
        kura_err_set(err, EIO, "cluster database: %s: %.*s", what, (int)strcspn(m, "\n"), m);
        c->pq->clear(r);
        return -1;
    }
    if (res)
        *res = r;
    else
        c->pq->clear(r);
    return 0;
}

/* In a statement's select list: its transaction commits without waiting
 * for the WAL's flush (synchronous_commit off for that transaction alone,
 * as SET LOCAL would; the setting in effect at the commit decides). What
 * it writes is seen by every session at once and lost only in a crash of
 * the database before the flush. One round trip where BEGIN, SET LOCAL,
 * the statement and COMMIT took four. Only for writes whose loss the
 * caller has shown to be harmless. */
#define UNFLUSHED "set_config('synchronous_commit', 'off', true)"

/* The first column of the first row as an integer (0 when NULL). */
static int64_t first_int(const struct kura_cluster *c, const PGresult *r)
{
    return c->pq->ntuples(r) > 0 && !c->pq->getisnull(r, 0, 0) ? strtoll(c->pq->getvalue(r, 0, 0), NULL, 10) : 0;
}

int cluster_run(struct kura_cluster *c, const char *what, const char *sql, int n, const char *const *params,
                PGresult **res, struct kura_err *err)
{
    return run(c, what, sql, n, params, res, err);
}

const char *cluster_node(const struct kura_cluster *c)
{
    return c->node;
}

int cluster_rows(const struct kura_cluster *c, PGresult *r, size_t size, void **out, struct kura_err *err)
{
    int rows = c->pq->ntuples(r);
    *out = rows ? calloc((size_t)rows, size) : NULL;
    if (rows && !*out) {
        c->pq->clear(r);
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    return rows;
}

int kura_cluster_node_check(const char *name, struct kura_err *err)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n > 0 && n < KURA_CLUSTER_NODE_MAX && name[0] != '.' && name[0] != '-';
    for (size_t i = 0; ok && i < n; i++) {
        char ch = name[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
             ch == '_' || ch == '-';
    }
    if (!ok)
        kura_err_set(err, EINVAL, "node name \"%s\": 1 to %d letters, digits, '.', '_' or '-', not starting "
                     "with '.' or '-'", name ? name : "", KURA_CLUSTER_NODE_MAX - 1);
    return ok ? 0 : -1;
}

int kura_cluster_connect(const char *conninfo, const char *node, struct kura_cluster **out, struct kura_err *err)
{
    return kura_cluster_connect_for(conninfo, node, NULL, 0, out, err);
}

int kura_cluster_connect_for(const char *conninfo, const char *node, const char *task, int answer_ms,
                             struct kura_cluster **out, struct kura_err *err)
{
    *out = NULL;
    if (node && kura_cluster_node_check(node, err) != 0)
        return -1;
    struct kura_cluster *c = calloc(1, sizeof *c);
    if (!c) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    if (!(c->pq = kura_pq_open(err))) {
        free(c);
        return -1;
    }
    if (node)
        snprintf(c->node, sizeof c->node, "%s", node);
    char app[KURA_CLUSTER_NODE_MAX + 48];
    if (node)
        snprintf(app, sizeof app, "kura node %s%s%.30s", node, task ? " " : "", task ? task : "");
    else
        snprintf(app, sizeof app, "kuractl");
    /* A database that does not answer must not hang a node: a connect
     * timeout unless the connection string sets its own (it comes later,
     * so it wins). */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {"5", app, conninfo, NULL};
    c->conn = c->pq->connectdbParams(keys, vals, 1);
    kura_cluster_set_answer(c, answer_ms ? answer_ms : KURA_CLUSTER_ANSWER_SECONDS * 1000);
    if (!c->conn || c->pq->status(c->conn) != CONNECTION_OK || c->pq->setnonblocking(c->conn, 1) != 0) {
        db_fail(c, err, "connect");
        kura_cluster_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void kura_cluster_set_answer(struct kura_cluster *c, int ms)
{
    c->answer_ms = ms > 0 ? ms : 1;
}

void kura_cluster_close(struct kura_cluster *c)
{
    if (!c)
        return;
    c->pq->finish(c->conn);
    free(c);
}

static const char *const schema_sql[] = {
    "CREATE SCHEMA IF NOT EXISTS kura",
    "CREATE TABLE IF NOT EXISTS kura.meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kura.nodes (name text PRIMARY KEY, applied_epoch bigint NOT NULL DEFAULT 0, "
    "lease_until timestamptz NOT NULL DEFAULT to_timestamp(0), last_contact timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS kura.epochs (epoch bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), "
    "actor text NOT NULL, dataset text, change text NOT NULL)",
    /* A change's epoch is pending while its kuractl writes the state,
     * then done (announced) or aborted; stamped: the state file it wrote
     * carries the epoch (dataset.ini's epoch). */
    "ALTER TABLE kura.epochs ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'done'",
    "ALTER TABLE kura.epochs ADD COLUMN IF NOT EXISTS stamped boolean NOT NULL DEFAULT false",
    /* stamp: the state file that carries the epoch (kura_cluster_stamp_name;
     * "" with stamped: dataset.ini, a row of a kura before this column).
     * Added here, so kuractl cluster init also upgrades an existing cluster. */
    "ALTER TABLE kura.epochs ADD COLUMN IF NOT EXISTS stamp text NOT NULL DEFAULT ''",
    /* fingerprint: the server key a key-current or key-retired stamp names
     * (a public key's hash: no key material). Version 3. */
    "ALTER TABLE kura.epochs ADD COLUMN IF NOT EXISTS fingerprint text NOT NULL DEFAULT ''",
    "CREATE TABLE IF NOT EXISTS kura.audit (node text NOT NULL, seq bigint NOT NULL, line text NOT NULL, "
    "received timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (node, seq))",
    "CREATE TABLE IF NOT EXISTS kura.audit_nodes (node text PRIMARY KEY, written_seq bigint NOT NULL DEFAULT 0, "
    "shipped_seq bigint NOT NULL DEFAULT 0, updated timestamptz NOT NULL DEFAULT now())",
    /* The one node doing the cluster-wide maintenance (one row). */
    "CREATE TABLE IF NOT EXISTS kura.maintainer (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
    "holder text NOT NULL, until timestamptz NOT NULL)",
};

int kura_cluster_init(struct kura_cluster *c, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err)
{
    unsigned char raw[KURA_CLUSTER_ID_LEN / 2];
    char fresh[KURA_CLUSTER_ID_LEN + 1], version[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(fresh, sizeof fresh, raw, sizeof raw);
    snprintf(version, sizeof version, "%d", KURA_CLUSTER_SCHEMA_VERSION);
    PGresult *r = NULL;
    /* One transaction, serialised by a lock of its own: two inits at once
     * make one schema and one id. */
    if (run(c, "begin", "BEGIN", 0, NULL, NULL, err) != 0)
        return -1;
    int rc = run(c, "lock", "SELECT pg_advisory_xact_lock(" STATE_LOCK_KEY ", 0)", 0, NULL, NULL, err);
    for (size_t i = 0; rc == 0 && i < sizeof schema_sql / sizeof *schema_sql; i++)
        rc = run(c, "create the schema", schema_sql[i], 0, NULL, NULL, err);
    const char *const pv[] = {version}, *const pid[] = {fresh};
    if (rc == 0)
        rc = run(c, "schema version",
                 "INSERT INTO kura.meta VALUES ('schema_version', $1) ON CONFLICT (key) DO UPDATE "
                 "SET value = excluded.value WHERE kura.meta.value::int < excluded.value::int",
                 1, pv, NULL, err);
    if (rc == 0)
        rc = run(c, "cluster id", "INSERT INTO kura.meta VALUES ('cluster_id', $1) ON CONFLICT DO NOTHING", 1, pid,
                 NULL, err);
    if (rc == 0 && (rc = run(c, "schema version", "SELECT value::int FROM kura.meta WHERE key = 'schema_version'",
                             0, NULL, &r, err)) == 0) {
        int64_t have = first_int(c, r);
        c->pq->clear(r);
        if (have > KURA_CLUSTER_SCHEMA_VERSION) {
            kura_err_set(err, EPROTO, "the cluster database has schema version %" PRId64 ", newer than this kura's "
                         "%d: upgrade kura on this node", have, KURA_CLUSTER_SCHEMA_VERSION);
            rc = -1;
        }
    }
    if (rc == 0 && (rc = run(c, "cluster id", "SELECT value FROM kura.meta WHERE key = 'cluster_id'", 0, NULL, &r,
                             err)) == 0) {
        snprintf(id, KURA_CLUSTER_ID_LEN + 1, "%s", c->pq->ntuples(r) > 0 ? c->pq->getvalue(r, 0, 0) : "");
        c->pq->clear(r);
    }
    /* Only kura's role may connect (and the database's superusers): a
     * session of any other could hold the change lock, or send notices
     * the nodes act on. Revoking needs the database's owner: without it
     * this only warns, and the check after it says so. */
    if (rc == 0)
        rc = run(c, "keep other roles out",
                 "DO $$ BEGIN EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()); "
                 "EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), current_user); END $$",
                 0, NULL, NULL, err);
    if (rc == 0)
        return run(c, "commit", "COMMIT", 0, NULL, NULL, err);
    struct kura_err ignored = {0};
    run(c, "rollback", "ROLLBACK", 0, NULL, NULL, &ignored);
    return -1;
}

int kura_cluster_others(struct kura_cluster *c, char *names, size_t len, struct kura_err *err)
{
    names[0] = '\0';
    PGresult *r = NULL;
    if (run(c, "who else may connect",
            "SELECT CASE WHEN has_database_privilege('public', current_database(), 'CONNECT') THEN 'PUBLIC' END, "
            "(SELECT string_agg(rolname, ', ' ORDER BY rolname) FROM pg_roles WHERE rolcanlogin AND NOT rolsuper "
            "AND rolname <> current_user AND has_database_privilege(oid, current_database(), 'CONNECT'))",
            0, NULL, &r, err) != 0)
        return -1;
    bool everyone = c->pq->ntuples(r) > 0 && !c->pq->getisnull(r, 0, 0);
    const char *some = c->pq->ntuples(r) > 0 && !c->pq->getisnull(r, 0, 1) ? c->pq->getvalue(r, 0, 1) : "";
    snprintf(names, len, "%s", everyone ? "every role (PUBLIC)" : some);
    c->pq->clear(r);
    return 0;
}

int kura_cluster_id(struct kura_cluster *c, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err)
{
    id[0] = '\0';
    PGresult *r = NULL;
    /* Whether the table is there first: a statement naming a missing
     * table fails as a whole. */
    if (run(c, "cluster id", "SELECT to_regclass('kura.meta') IS NOT NULL", 0, NULL, &r, err) != 0)
        return -1;
    bool schema = c->pq->ntuples(r) > 0 && strcmp(c->pq->getvalue(r, 0, 0), "t") == 0;
    c->pq->clear(r);
    int64_t version = 0;
    if (schema) {
        if (run(c, "cluster id",
                "SELECT (SELECT value FROM kura.meta WHERE key = 'cluster_id'), "
                "(SELECT value::int FROM kura.meta WHERE key = 'schema_version')",
                0, NULL, &r, err) != 0)
            return -1;
        if (c->pq->ntuples(r) > 0 && !c->pq->getisnull(r, 0, 0))
            snprintf(id, KURA_CLUSTER_ID_LEN + 1, "%s", c->pq->getvalue(r, 0, 0));
        if (c->pq->ntuples(r) > 0 && !c->pq->getisnull(r, 0, 1))
            version = strtoll(c->pq->getvalue(r, 0, 1), NULL, 10);
        c->pq->clear(r);
    }
    /* An older schema lacks what this kura reads and writes: upgraded by
     * init, which keeps the id and the rows. */
    if (id[0] && version < KURA_CLUSTER_SCHEMA_VERSION) {
        kura_err_set(err, EPROTO, "the cluster database has schema version %" PRId64 ", older than this kura's %d: "
                     "run kuractl cluster init (it upgrades the schema)", version, KURA_CLUSTER_SCHEMA_VERSION);
        id[0] = '\0';
        return -1;
    }
    if (id[0])
        return 0;
    kura_err_set(err, ENOENT, "the cluster database has no kura cluster: run kuractl cluster init");
    return -1;
}

int kura_cluster_lock(struct kura_cluster *c, int timeout_ms, struct kura_err *err)
{
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    for (;;) {
        PGresult *r = NULL;
        /* With the latest done epoch, which a restriction names (for the
         * nodes' log only): no other change ends one while the lock is
         * held. Read in the statement's snapshot, from just before the
         * lock: an end the previous holder committed in that instant can
         * be missed. */
        if (run(c, "lock",
                "SELECT pg_try_advisory_lock(" STATE_LOCK_KEY "), "
                "(SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs)",
                0, NULL, &r, err) != 0)
            return -1;
        bool got = c->pq->ntuples(r) > 0 && strcmp(c->pq->getvalue(r, 0, 0), "t") == 0;
        if (got)
            c->latest_done = strtoll(c->pq->getvalue(r, 0, 1), NULL, 10);
        c->pq->clear(r);
        if (got)
            return 0;
        if (kura_clock_ms(CLOCK_MONOTONIC) >= deadline) {
            kura_err_set(err, EBUSY, "another state change holds the cluster's lock; try again when it is done");
            return -1;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int kura_cluster_unlock(struct kura_cluster *c, struct kura_err *err)
{
    return run(c, "unlock", "SELECT pg_advisory_unlock(" STATE_LOCK_KEY ")", 0, NULL, NULL, err);
}

int kura_cluster_restrict(struct kura_cluster *c, const struct kura_restriction *r, struct kura_err *err)
{
    /* The sender as the nodes check it (pg_locks), and the latest done
     * epoch this connection knows of: read with the lock, or ended by it
     * since. No round trip before the notice. */
    struct kura_restrict_notice n = {.r = *r};
    n.r.sender_pid = c->pq->backendPID(c->conn);
    n.r.epoch = c->latest_done;
    char payload[KURA_RESTRICT_PAYLOAD_MAX];
    if (kura_restrict_format(&n, payload, sizeof payload) < 0) {
        kura_err_set(err, EINVAL, "cluster database: restrict: the restriction cannot be stated");
        return -1;
    }
    /* From here on a lift is owed, whatever the commit's answer. */
    c->restricted_pid = n.r.sender_pid;
    const char *const p[] = {payload};
    /* Not waiting for the WAL's flush: the nodes are to hear of it before
     * the disk does (PostgreSQL 15 does not wait for a transaction that
     * only notifies, having given it no transaction id; kura does not
     * rely on that). Lost in a database crash, it only refused nothing. */
    return run(c, "restrict", "SELECT " UNFLUSHED ", pg_notify('" KURA_RESTRICT_CHANNEL "', $1)", 1, p, NULL, err);
}

int kura_cluster_unlock_lift(struct kura_cluster *c, struct kura_err *err)
{
    if (!c->restricted_pid)
        return kura_cluster_unlock(c, err);
    struct kura_restrict_notice n = {.lift = true, .r.sender_pid = c->restricted_pid};
    char payload[KURA_RESTRICT_PAYLOAD_MAX];
    if (kura_restrict_format(&n, payload, sizeof payload) < 0)
        return kura_cluster_unlock(c, err);
    c->restricted_pid = 0;
    const char *const p[] = {payload};
    /* The session lock goes at once; the notice at the commit, after it. */
    return run(c, "unlock",
               "SELECT " UNFLUSHED ", pg_advisory_unlock(" STATE_LOCK_KEY "), pg_notify('" KURA_RESTRICT_CHANNEL
               "', $1)",
               1, p, NULL, err);
}

int kura_cluster_change_state(struct kura_cluster *c, int64_t *holder_pid, int64_t *pending, int64_t *latest,
                              struct kura_err *err)
{
    PGresult *r = NULL;
    /* pg_advisory_lock(bigint) shows as classid (high half), objid (low
     * half), objsubid 1. */
    if (run(c, "the change in progress",
            "SELECT coalesce((SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
            "AND objid = " STATE_LOCK_KEY " AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) LIMIT 1), 0), "
            "(SELECT count(*) FROM kura.epochs WHERE state = 'pending'), "
            "(SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs)",
            0, NULL, &r, err) != 0)
        return -1;
    bool row = c->pq->ntuples(r) > 0;
    *holder_pid = row ? strtoll(c->pq->getvalue(r, 0, 0), NULL, 10) : 0;
    *pending = row ? strtoll(c->pq->getvalue(r, 0, 1), NULL, 10) : 1;
    *latest = row ? strtoll(c->pq->getvalue(r, 0, 2), NULL, 10) : INT64_MAX;
    c->pq->clear(r);
    return 0;
}

int kura_cluster_publish(struct kura_cluster *c, const char *actor, const char *dataset, const char *change,
                         int64_t *epoch, struct kura_err *err)
{
    const char *const p[] = {actor, dataset, change};
    PGresult *r = NULL;
    /* One statement: the row and the announcement commit together. */
    if (run(c, "publish the change",
            "WITH e AS (INSERT INTO kura.epochs (actor, dataset, change) VALUES ($1, $2, $3) RETURNING epoch) "
            "SELECT epoch, pg_notify('" ANNOUNCE_CHANNEL "', epoch::text) FROM e",
            3, p, &r, err) != 0)
        return -1;
    *epoch = first_int(c, r);
    c->pq->clear(r);
    return 0;
}

int kura_cluster_begin_change(struct kura_cluster *c, const char *actor, const char *dataset, const char *change,
                              enum kura_cluster_stamp stamp, const char *fingerprint, int64_t *epoch,
                              struct kura_err *err)
{
    const char *const p[] = {actor, dataset, change, kura_cluster_stamp_name(stamp),
                             fingerprint ? fingerprint : ""};
    PGresult *r = NULL;
    /* stamped as well, for a node of a kura before the stamp column. */
    if (run(c, "begin the change",
            "INSERT INTO kura.epochs (actor, dataset, change, state, stamp, stamped, fingerprint) "
            "VALUES ($1, $2, $3, 'pending', $4::text, $4::text = 'dataset.ini', $5) RETURNING epoch",
            5, p, &r, err) != 0)
        return -1;
    *epoch = first_int(c, r);
    c->pq->clear(r);
    return 0;
}

int kura_cluster_end_change(struct kura_cluster *c, int64_t epoch, bool done, struct kura_err *err)
{
    char e[24];
    snprintf(e, sizeof e, "%" PRId64, epoch);
    const char *const p[] = {e, done ? "done" : "aborted"};
    /* One statement: marked done and announced together. Not waiting for
     * the WAL's flush (one disk flush less between the state's write and
     * the nodes' refusal) is safe, unlike for the pending row: an end lost
     * in a database crash leaves the epoch pending, which is what a
     * kuractl killed before its end leaves, and the next lock holder
     * resolves it from the stamp the state carries (done and announced
     * again, or aborted). The pending row itself stays durable: lost, its
     * epoch number could be handed out again for another change. */
    if (run(c, "end the change",
            "WITH u AS (UPDATE kura.epochs SET state = $2 WHERE epoch = $1 RETURNING epoch, state) "
            "SELECT " UNFLUSHED ", (SELECT count(pg_notify('" ANNOUNCE_CHANNEL "', epoch::text)) FROM u "
            "WHERE state = 'done')",
            2, p, NULL, err) != 0)
        return -1;
    if (done && epoch > c->latest_done)
        c->latest_done = epoch;
    return 0;
}

/* A change's stamp as a query of changes_of selects it. */
#define STAMP_OF "CASE WHEN stamp <> '' THEN stamp WHEN stamped THEN 'dataset.ini' ELSE '' END"

/* The rows of a query of (epoch, dataset, STAMP_OF, fingerprint) as changes. */
static int changes_of(struct kura_cluster *c, const char *what, const char *sql, int n, const char *const *p,
                      struct kura_cluster_change **v, size_t *count, struct kura_err *err)
{
    *v = NULL;
    *count = 0;
    PGresult *r = NULL;
    if (run(c, what, sql, n, p, &r, err) != 0)
        return -1;
    void *rows_mem;
    int rows = cluster_rows(c, r, sizeof(struct kura_cluster_change), &rows_mem, err);
    if (rows < 0)
        return -1;
    struct kura_cluster_change *list = rows_mem;
    for (int i = 0; i < rows; i++) {
        list[i].epoch = strtoll(c->pq->getvalue(r, i, 0), NULL, 10);
        snprintf(list[i].dataset, sizeof list[i].dataset, "%s", c->pq->getvalue(r, i, 1));
        list[i].stamp = kura_cluster_stamp_parse(c->pq->getvalue(r, i, 2));
        snprintf(list[i].fingerprint, sizeof list[i].fingerprint, "%s", c->pq->getvalue(r, i, 3));
    }
    c->pq->clear(r);
    *v = list;
    *count = (size_t)rows;
    return 0;
}

int kura_cluster_pending(struct kura_cluster *c, struct kura_cluster_change **v, size_t *n, struct kura_err *err)
{
    return changes_of(c, "pending changes",
                      "SELECT epoch, coalesce(dataset, ''), " STAMP_OF ", fingerprint FROM kura.epochs "
                      "WHERE state = 'pending' "
                      "ORDER BY epoch",
                      0, NULL, v, n, err);
}

int kura_cluster_changes(struct kura_cluster *c, int64_t after, int64_t upto, struct kura_cluster_change **v,
                         size_t *n, struct kura_err *err)
{
    char a[24], u[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(u, sizeof u, "%" PRId64, upto);
    const char *const p[] = {a, u};
    return changes_of(c, "changes",
                      "SELECT epoch, coalesce(dataset, ''), " STAMP_OF ", fingerprint FROM kura.epochs "
                      "WHERE state = 'done' AND epoch > $1 AND epoch <= $2 ORDER BY epoch",
                      2, p, v, n, err);
}

static int need_node(const struct kura_cluster *c, struct kura_err *err)
{
    if (c->node[0])
        return 0;
    kura_err_set(err, EINVAL, "this connection is no node's");
    return -1;
}

int kura_cluster_renew(struct kura_cluster *c, int lease_ms, int64_t applied, int64_t *latest,
                       struct kura_err *err)
{
    if (need_node(c, err) != 0)
        return -1;
    char a[24], l[16];
    snprintf(a, sizeof a, "%" PRId64, applied);
    snprintf(l, sizeof l, "%d", lease_ms);
    const char *const p[] = {c->node, a, l};
    PGresult *r = NULL;
    if (run(c, "renew the lease",
            "WITH up AS (INSERT INTO kura.nodes (name, applied_epoch, lease_until, last_contact) "
            "VALUES ($1, $2, clock_timestamp() + $3 * interval '1 millisecond', clock_timestamp()) "
            "ON CONFLICT (name) DO UPDATE SET applied_epoch = excluded.applied_epoch, "
            "lease_until = excluded.lease_until, last_contact = excluded.last_contact RETURNING 1) "
            "SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs, up",
            3, p, &r, err) != 0)
        return -1;
    *latest = first_int(c, r);
    c->pq->clear(r);
    return 0;
}

int kura_cluster_ack(struct kura_cluster *c, int64_t applied, struct kura_err *err)
{
    if (need_node(c, err) != 0)
        return -1;
    char a[24];
    snprintf(a, sizeof a, "%" PRId64, applied);
    const char *const p[] = {c->node, a};
    /* Not waiting for the WAL's flush is safe here, unlike a renewal: an
     * acknowledgement lost in a database crash only makes a change wait
     * for the node's next renewal, which says the same (the node did apply
     * the epoch). greatest(): a late one never moves it back. */
    return run(c, "acknowledge",
               "WITH up AS (UPDATE kura.nodes SET applied_epoch = greatest(applied_epoch, $2) "
               "WHERE name = $1 RETURNING applied_epoch) "
               "SELECT " UNFLUSHED ", (SELECT count(pg_notify('" ACK_CHANNEL "', applied_epoch::text)) FROM up)",
               2, p, NULL, err);
}

int kura_cluster_maintainer_claim(struct kura_cluster *c, int claim_ms, bool *held, struct kura_err *err)
{
    *held = false;
    if (need_node(c, err) != 0)
        return -1;
    char l[16];
    snprintf(l, sizeof l, "%d", claim_ms);
    const char *const p[] = {c->node, l};
    PGresult *r = NULL;
    /* One statement: taken (or kept) only by a node whose own lease runs,
     * from a holder that is this node or whose claim has ended. */
    if (run(c, "claim the maintenance",
            "INSERT INTO kura.maintainer AS m (holder, until) "
            "SELECT $1, clock_timestamp() + $2 * interval '1 millisecond' FROM kura.nodes "
            "WHERE name = $1 AND lease_until > clock_timestamp() "
            "ON CONFLICT (one) DO UPDATE SET holder = excluded.holder, until = excluded.until "
            "WHERE m.holder = excluded.holder OR m.until < clock_timestamp() RETURNING holder",
            2, p, &r, err) != 0)
        return -1;
    *held = c->pq->ntuples(r) > 0;
    c->pq->clear(r);
    return 0;
}

int kura_cluster_maintainer_release(struct kura_cluster *c, struct kura_err *err)
{
    if (need_node(c, err) != 0)
        return -1;
    const char *const p[] = {c->node};
    return run(c, "release the maintenance",
               "UPDATE kura.maintainer SET until = clock_timestamp() WHERE holder = $1 AND until > clock_timestamp()",
               1, p, NULL, err);
}

int kura_cluster_leave(struct kura_cluster *c, struct kura_err *err)
{
    if (need_node(c, err) != 0)
        return -1;
    const char *const p[] = {c->node};
    return run(c, "leave", "UPDATE kura.nodes SET lease_until = clock_timestamp() WHERE name = $1", 1, p, NULL,
               err);
}

int kura_cluster_lagging(struct kura_cluster *c, int64_t epoch, size_t *lagging, char *names, size_t names_len,
                         struct kura_err *err)
{
    char e[24];
    snprintf(e, sizeof e, "%" PRId64, epoch);
    const char *const p[] = {e};
    PGresult *r = NULL;
    if (run(c, "nodes behind",
            "SELECT name FROM kura.nodes WHERE lease_until > clock_timestamp() AND applied_epoch < $1 ORDER BY name",
            1, p, &r, err) != 0)
        return -1;
    *lagging = (size_t)c->pq->ntuples(r);
    if (names && names_len) {
        names[0] = '\0';
        size_t used = 0;
        for (int i = 0; i < c->pq->ntuples(r) && used < names_len; i++)
            used += (size_t)snprintf(names + used, names_len - used, "%s%s", i ? ", " : "", c->pq->getvalue(r, i, 0));
    }
    c->pq->clear(r);
    return 0;
}

int kura_cluster_nodes(struct kura_cluster *c, struct kura_cluster_node **v, size_t *n, int64_t *latest,
                       struct kura_err *err)
{
    *v = NULL;
    *n = 0;
    PGresult *r = NULL;
    if (run(c, "nodes",
            "SELECT name, applied_epoch, (extract(epoch FROM lease_until - clock_timestamp()) * 1000)::bigint, "
            "(extract(epoch FROM clock_timestamp() - last_contact) * 1000)::bigint FROM kura.nodes ORDER BY name",
            0, NULL, &r, err) != 0)
        return -1;
    void *rows_mem;
    int rows = cluster_rows(c, r, sizeof(struct kura_cluster_node), &rows_mem, err);
    if (rows < 0)
        return -1;
    struct kura_cluster_node *list = rows_mem;
    for (int i = 0; i < rows; i++) {
        snprintf(list[i].name, sizeof list[i].name, "%s", c->pq->getvalue(r, i, 0));
        list[i].applied_epoch = strtoll(c->pq->getvalue(r, i, 1), NULL, 10);
        list[i].lease_left_ms = strtoll(c->pq->getvalue(r, i, 2), NULL, 10);
        list[i].since_contact_ms = strtoll(c->pq->getvalue(r, i, 3), NULL, 10);
    }
    c->pq->clear(r);
    if (latest) {
        if (run(c, "latest epoch", "SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs",
                0, NULL, &r, err) != 0) {
            free(list);
            return -1;
        }
        *latest = first_int(c, r);
        c->pq->clear(r);
    }
    *v = list;
    *n = (size_t)rows;
    return 0;
}

int kura_cluster_listen(struct kura_cluster *c, struct kura_err *err)
{
    return run(c, "listen", "LISTEN " ANNOUNCE_CHANNEL, 0, NULL, NULL, err);
}

/* Waits up to timeout_ms for a notification on the channels this
 * connection listens on; *value gets the highest number one carried. */
static int wait_notify(struct kura_cluster *c, int timeout_ms, int64_t *value, const char *what,
                       struct kura_err *err)
{
    *value = 0;
    if (given_up(c, what, err) != 0)
        return -1;
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    for (;;) {
        if (c->pq->consumeInput(c->conn) != 1)
            return db_fail(c, err, what);
        PGnotify *nt;
        while ((nt = c->pq->notifies(c->conn))) {
            int64_t e = strtoll(nt->extra, NULL, 10);
            if (e > *value)
                *value = e;
            c->pq->freemem(nt);
        }
        int64_t left = deadline - kura_clock_ms(CLOCK_MONOTONIC);
        if (*value || left <= 0)
            return 0;
        struct pollfd pfd = {.fd = c->pq->socket(c->conn), .events = POLLIN};
        if (pfd.fd < 0)
            return db_fail(c, err, what);
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            kura_err_set(err, errno, "cluster database: %s: %s", what, strerror(errno));
            return -1;
        }
    }
}

int kura_cluster_wait_announce(struct kura_cluster *c, int timeout_ms, int64_t *epoch, struct kura_err *err)
{
    /* A notification only wakes: any session that may connect to the
     * database can send one on the channel, with any number, so the latest
     * done change is read from the table. A node that believed a number
     * would acknowledge changes never made, and the next real one would
     * not wait for it. */
    int64_t heard = 0;
    *epoch = 0;
    if (wait_notify(c, timeout_ms, &heard, "wait for changes", err) != 0)
        return -1;
    if (!heard)
        return 0;
    PGresult *r = NULL;
    if (run(c, "the latest change", "SELECT coalesce(max(epoch) FILTER (WHERE state = 'done'), 0) FROM kura.epochs",
            0, NULL, &r, err) != 0)
        return -1;
    *epoch = first_int(c, r);
    c->pq->clear(r);
    return 0;
}

int kura_cluster_listen_acks(struct kura_cluster *c, struct kura_err *err)
{
    return run(c, "listen", "LISTEN " ACK_CHANNEL, 0, NULL, NULL, err);
}

int kura_cluster_wait_ack(struct kura_cluster *c, int timeout_ms, struct kura_err *err)
{
    int64_t epoch;
    return wait_notify(c, timeout_ms, &epoch, "wait for acknowledgements", err);
}

int kura_cluster_listen_restrictions(struct kura_cluster *c, struct kura_err *err)
{
    return run(c, "listen", "LISTEN " KURA_RESTRICT_CHANNEL, 0, NULL, NULL, err);
}

int kura_cluster_wait_restrictions(struct kura_cluster *c, int timeout_ms, kura_cluster_payload_fn fn, void *ctx,
                                   struct kura_err *err)
{
    if (given_up(c, "wait for restrictions", err) != 0)
        return -1;
    int64_t deadline = kura_clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    for (;;) {
        if (c->pq->consumeInput(c->conn) != 1)
            return db_fail(c, err, "wait for restrictions");
        PGnotify *nt;
        bool got = false;
        while ((nt = c->pq->notifies(c->conn))) {
            if (strcmp(nt->relname, KURA_RESTRICT_CHANNEL) == 0) {
                fn(nt->extra, ctx);
                got = true;
            }
            c->pq->freemem(nt);
        }
        int64_t left = deadline - kura_clock_ms(CLOCK_MONOTONIC);
        if (got || left <= 0)
            return 0;
        struct pollfd pfd = {.fd = c->pq->socket(c->conn), .events = POLLIN};
        if (pfd.fd < 0)
            return db_fail(c, err, "wait for restrictions");
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
            kura_err_set(err, errno, "cluster database: wait for restrictions: %s", strerror(errno));
            return -1;
        }
    }
}
