/* The cluster's authority (issue 19): PostgreSQL holds what a shared file
 * system cannot give the nodes that serve one state directory: the
 * cluster-wide lock for state changes, the change epochs (announced with
 * LISTEN/NOTIFY), each node's lease and the epoch it has applied, and the
 * central copy of every node's audit records. Never key material: rows,
 * WAL and backups of a database cannot be erased the way keys must be.
 *
 * Times are the database's clock: a lease is "until the database's now()
 * passes lease_until", so nodes' clocks need not agree with each other. */
#ifndef KURA_CLUSTER_H
#define KURA_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kura/error.h"
#include "kura/restrict.h"

#define KURA_CLUSTER_NODE_MAX 64        /* bytes of a node name, with the NUL */
#define KURA_CLUSTER_ID_LEN 32          /* hex digits of the cluster's id */
#define KURA_CLUSTER_SCHEMA_VERSION 3   /* 2: kura.epochs.stamp; 3: kura.epochs.fingerprint */

struct kura_cluster;

/* Connects to the database CONNINFO (a libpq connection string) as node
 * NODE (NULL: a client such as kuractl that is no node). */
int kura_cluster_connect(const char *conninfo, const char *node, struct kura_cluster **out, struct kura_err *err);
/* The same, with a task of its own (for a node's connection: the database
 * sees it as "kura node NODE TASK" in pg_stat_activity's application_name;
 * task may be NULL) and answer_ms, how long one statement may go without
 * an answer before it fails and the connection is given up (0: the
 * default, KURA_CLUSTER_ANSWER_SECONDS; see kura_cluster_set_answer). */
int kura_cluster_connect_for(const char *conninfo, const char *node, const char *task, int answer_ms,
                             struct kura_cluster **out, struct kura_err *err);
void kura_cluster_close(struct kura_cluster *c);
/* How long one statement may go without an answer from the database
 * before it fails and the connection is given up (every later call on it
 * fails at once: close it and connect again): set at the connect, changed
 * here for a while (a kept session's check, within a lease). */
#define KURA_CLUSTER_ANSWER_SECONDS 30
void kura_cluster_set_answer(struct kura_cluster *c, int ms);

/* One connection kept ready between changes (cluster_spare.c): a daemon
 * keeps it so that a change it runs starts on an open session instead of
 * a new one (docs/cluster.md). Thread-safe; NULL stands for "keep none". */
struct kura_cluster_spare;
struct kura_cluster_spare *kura_cluster_spare_new(void);
/* The kept connection, now the caller's; NULL when none is kept (or s is
 * NULL). It may have been dropped by the database since: the caller's
 * first statement is the check. */
struct kura_cluster *kura_cluster_spare_take(struct kura_cluster_spare *s);
/* Keeps c for the next change when none is kept and c resets cleanly (no
 * transaction, lock or LISTEN left: DISCARD ALL); else closes it. s NULL:
 * closes it. */
void kura_cluster_spare_give(struct kura_cluster_spare *s, struct kura_cluster *c);
/* Closes the kept connection. */
void kura_cluster_spare_free(struct kura_cluster_spare *s);

/* Creates the schema if it is not there, or upgrades an older one to this
 * kura's (idempotent; refuses a newer one), and returns the cluster's id,
 * made at the first init. */
int kura_cluster_init(struct kura_cluster *c, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err);
/* Which login roles besides the connection's own (and superusers) may
 * connect to the database, into names ("" none; "every role (PUBLIC)"
 * when CONNECT is PUBLIC's). A session of any of them could hold the
 * change lock, holding every change back, or send restriction notices the
 * nodes refuse on: kura's database is for kura's role only. */
int kura_cluster_others(struct kura_cluster *c, char *names, size_t len, struct kura_err *err);

/* The cluster's id as the database holds it, without creating anything: an
 * error saying to run kuractl cluster init when there is no schema or it is
 * older than this kura's. */
int kura_cluster_id(struct kura_cluster *c, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err);

/* ---- the central audit store (cluster_audit.c) ----
 * kura.audit holds each node's audit records as their local log has them
 * (node, seq, line: the line carries prev and mac, so each node's chain
 * checks centrally); kura.audit_nodes how far each node has written
 * locally and shipped. */

/* A node's shipper: the highest seq the database holds for this node. */
int kura_cluster_audit_shipped(struct kura_cluster *c, uint64_t *seq, struct kura_err *err);

struct kura_cluster_audit_line {
    uint64_t seq;
    const char *line;           /* without its newline */
    size_t len;
};
/* Stores records of this node (in seq order) and notes written, the last
 * seq of its local log, in one transaction. Idempotent: a record the
 * database holds already is kept as it is. n may be 0 (written only). */
int kura_cluster_audit_ship(struct kura_cluster *c, const struct kura_cluster_audit_line *v, size_t n,
                            uint64_t written, struct kura_err *err);

/* Calls fn for the records of node (NULL: every node), by node and seq.
 * A non-zero return stops the walk and is returned. */
typedef int (*kura_cluster_audit_fn)(const char *node, uint64_t seq, const char *line, size_t len, void *ctx);
int kura_cluster_audit_each(struct kura_cluster *c, const char *node, kura_cluster_audit_fn fn, void *ctx,
                            struct kura_err *err);

struct kura_cluster_audit_node {
    char name[KURA_CLUSTER_NODE_MAX];
    uint64_t records, first_seq, last_seq;  /* held centrally */
    uint64_t shipped_seq;       /* the highest the node has stored */
    uint64_t written_seq;       /* the last in its local log, when it last shipped */
};
/* Every node with records or a shipper, by name. */
int kura_cluster_audit_nodes(struct kura_cluster *c, struct kura_cluster_audit_node **v, size_t *n,
                             struct kura_err *err);

/* The cluster-wide lock for state changes, held by this connection until
 * unlock or until the connection ends (a killed kuractl releases it). */
int kura_cluster_lock(struct kura_cluster *c, int timeout_ms, struct kura_err *err);
int kura_cluster_unlock(struct kura_cluster *c, struct kura_err *err);

/* Restriction first (kura/restrict.h): tells every listening node what
 * the change this connection is about to make forbids, before its
 * durable steps, in a transaction that does not wait for the WAL's flush.
 * r's sender_pid and epoch are filled in here (this connection's backend,
 * the latest done epoch). */
int kura_cluster_restrict(struct kura_cluster *c, const struct kura_restriction *r, struct kura_err *err);
/* Releases the lock (as kura_cluster_unlock) and tells the nodes that
 * this connection's change is over, together, without waiting for the
 * WAL's flush: a node lifts the restriction once the lock is free. */
int kura_cluster_unlock_lift(struct kura_cluster *c, struct kura_err *err);
/* What a node checks before it lifts a restriction: the backend that
 * holds the cluster lock (0: none), how many epochs are pending, and the
 * latest done one. Reads only (no commit). */
int kura_cluster_change_state(struct kura_cluster *c, int64_t *holder_pid, int64_t *pending, int64_t *latest,
                              struct kura_err *err);
/* Restrictions, for a node: listen on their channel, then wait up to
 * timeout_ms for notices; fn gets each payload (any text: the node
 * parses it), in order. */
int kura_cluster_listen_restrictions(struct kura_cluster *c, struct kura_err *err);
typedef void (*kura_cluster_payload_fn)(const char *payload, void *ctx);
int kura_cluster_wait_restrictions(struct kura_cluster *c, int timeout_ms, kura_cluster_payload_fn fn, void *ctx,
                                   struct kura_err *err);

/* Records a change (dataset may be NULL) under a new epoch and announces it
 * to every listening node, in one transaction. */
int kura_cluster_publish(struct kura_cluster *c, const char *actor, const char *dataset, const char *change,
                         int64_t *epoch, struct kura_err *err);

/* The state file a change's epoch is stamped into (kura.epochs.stamp), so
 * that a node can tell that the copy of the shared state it read is older
 * than the change (a client cache of the shared file system). */
enum kura_cluster_stamp {
    KURA_STAMP_NONE,            /* none: a change of no state file (a row of an older kura's key change) */
    KURA_STAMP_DATASET,         /* the dataset's dataset.ini ([epoch]) */
    KURA_STAMP_FILES,           /* the dataset's files.tsv (its "#epoch" line) */
    KURA_STAMP_LOCKDOWN,        /* STATE/lockdown ("epoch"; an unlock leaves a stamped "unlocked" record) */
    /* Key rotate and retire change many keystore files, so no one file
     * carries the epoch: the row names the server key's fingerprint (a
     * public key's hash, never key material) and what the change made of
     * it, and a copy is as new as the change when its keys show that. */
    KURA_STAMP_KEY_CURRENT,     /* key rotate: the key is the current server key */
    KURA_STAMP_KEY_RETIRED,     /* key retire: no secret of the key is held */
    KURA_STAMP_UNKNOWN,         /* a name this kura does not know (a newer one wrote it): never checks out */
};
/* "", "dataset.ini", "files.tsv", "lockdown", "key-current", "key-retired";
 * and back (anything else: UNKNOWN). */
const char *kura_cluster_stamp_name(enum kura_cluster_stamp stamp);
enum kura_cluster_stamp kura_cluster_stamp_parse(const char *name);

/* A change in steps, so that a kuractl killed between them leaves nothing
 * half done: begin records a pending epoch and what it stamps, durably
 * before the state is written (not announced; nodes do not wait for it),
 * the state is written with the epoch stamped in it, then end marks it
 * done and announces it (or aborted), in one transaction. Whoever holds
 * the lock next resolves a pending epoch left by a dead session from the
 * shared state: stamp there, done; else aborted. */
int kura_cluster_begin_change(struct kura_cluster *c, const char *actor, const char *dataset, const char *change,
                              enum kura_cluster_stamp stamp, const char *fingerprint, int64_t *epoch,
                              struct kura_err *err);
int kura_cluster_end_change(struct kura_cluster *c, int64_t epoch, bool done, struct kura_err *err);

struct kura_cluster_change {
    int64_t epoch;
    char dataset[65];           /* KURA_ID_MAX + 1; "" when the change named none */
    enum kura_cluster_stamp stamp;  /* the state file that carries the epoch */
    char fingerprint[65];       /* the server key of a KEY_* stamp (hex BLAKE2b-256 of its public half) */
};

/* ---- stamps (cluster_stamp.c: pure, no database, no files) ---- */

/* The epoch a copy of the shared state carries in the state file stamp
 * names (of dataset, for dataset.ini and files.tsv): 0 when the file holds
 * none, -1 when there is no such file. */
typedef int64_t (*kura_cluster_held_fn)(enum kura_cluster_stamp stamp, const char *dataset, void *ctx);

/* What a copy of the keystore (a node's keys in memory, or the files)
 * holds of the server key with a fingerprint. */
enum kura_cluster_key_held {
    KURA_KEY_ABSENT,            /* no secret of it (never had, or retired) */
    KURA_KEY_EARLIER,           /* its secret, as an earlier key */
    KURA_KEY_CURRENT,           /* its secret, as the current key */
    KURA_KEY_NONE_HELD,         /* no server key at all (lockdown): it has not read the change's keys */
};
typedef enum kura_cluster_key_held (*kura_cluster_key_fn)(const char *fingerprint, void *ctx);

/* The first change of v (n of them, oldest first) that the copy held and
 * key_held describe is older than: a stamp it does not carry yet, a
 * rotation whose key is not its current one (unless a later rotation of v
 * replaced it), a retired key it still holds. NULL: the copy is as new as
 * every change (one with no stamp needs nothing). */
const struct kura_cluster_change *kura_cluster_stale(const struct kura_cluster_change *v, size_t n,
                                                     kura_cluster_held_fn held, kura_cluster_key_fn key_held,
                                                     void *ctx);
/* The pending changes (under the lock: a dead session's), oldest first. */
int kura_cluster_pending(struct kura_cluster *c, struct kura_cluster_change **v, size_t *n, struct kura_err *err);
/* The done changes after epoch after up to upto, oldest first. */
int kura_cluster_changes(struct kura_cluster *c, int64_t after, int64_t upto, struct kura_cluster_change **v,
                         size_t *n, struct kura_err *err);

/* A node renews its lease for lease_ms from the database's now, says which
 * epoch it has applied, and learns the latest one. */
int kura_cluster_renew(struct kura_cluster *c, int lease_ms, int64_t applied, int64_t *latest,
                       struct kura_err *err);

/* A node says it has applied epoch applied (without a renewal: the lease
 * is untouched) and wakes the changes waiting for it. */
int kura_cluster_ack(struct kura_cluster *c, int64_t applied, struct kura_err *err);

/* The cluster-wide maintenance (reminders, notices, the weekly summary,
 * the operator register, automatic destruction: kurafs's maintain.c) is
 * one node's at a time. A node claims it, or renews its claim, for
 * claim_ms from the database's now; *held says whether it holds it. Only
 * a node whose lease runs gets it, and another node only once the
 * holder's claim has ended. The caller counts its own deadline from
 * before the call, on its monotonic clock, so that it stops before the
 * database gives the claim to another node. */
int kura_cluster_maintainer_claim(struct kura_cluster *c, int claim_ms, bool *held, struct kura_err *err);

/* A node that stops cleanly ends its claim now, so that another node takes
 * the maintenance at its next tick instead of after the claim's end. The
 * caller has stopped its maintenance first. */
int kura_cluster_maintainer_release(struct kura_cluster *c, struct kura_err *err);

/* A node leaves: its lease ends now (a change stops waiting for it). */
int kura_cluster_leave(struct kura_cluster *c, struct kura_err *err);

/* How far the live nodes are: *lagging gets the number of nodes whose lease
 * runs and that have not applied epoch, and names (when not NULL) their
 * names, comma-separated. */
int kura_cluster_lagging(struct kura_cluster *c, int64_t epoch, size_t *lagging, char *names, size_t names_len,
                         struct kura_err *err);

struct kura_cluster_node {
    char name[KURA_CLUSTER_NODE_MAX];
    int64_t applied_epoch;
    int64_t lease_left_ms;      /* < 0: the lease has ended */
    int64_t since_contact_ms;
};

/* Every node the cluster has seen, by name, and the latest epoch. */
int kura_cluster_nodes(struct kura_cluster *c, struct kura_cluster_node **v, size_t *n, int64_t *latest,
                       struct kura_err *err);

/* Announcements: listen once, then wait up to timeout_ms for one; *epoch
 * gets the latest done epoch, read from the table once one came (0: none
 * came in time). The number a notification carries is not believed. */
int kura_cluster_listen(struct kura_cluster *c, struct kura_err *err);
int kura_cluster_wait_announce(struct kura_cluster *c, int timeout_ms, int64_t *epoch, struct kura_err *err);

/* Acknowledgements (kura_cluster_ack), for a change waiting for them:
 * listen once, then wait up to timeout_ms for one. A wake-up only: the
 * waiter reads kura_cluster_lagging after each. */
int kura_cluster_listen_acks(struct kura_cluster *c, struct kura_err *err);
int kura_cluster_wait_ack(struct kura_cluster *c, int timeout_ms, struct kura_err *err);

/* A node name: 1-63 bytes of [A-Za-z0-9._-], starting with a letter or digit. */
int kura_cluster_node_check(const char *name, struct kura_err *err);

/* ---- binding (cluster_bind.c: files only, no database) ----
 * The shared state directory records the id of the cluster it belongs to
 * (KURA_CLUSTER_ID_FILE). In cluster mode that id, not the machine, is
 * the identity datasets are bound to (R-ACC-8 becomes cluster binding):
 * every node of the cluster serves them, and a copy of the state outside
 * the cluster serves nothing. */

/* Reads the state directory's cluster id. 1: read; 0: there is none (the
 * file is absent or the caller may not read the state directory); -1: the
 * file is there but not a cluster id. */
int kura_cluster_id_load(const char *state_dir, char id[KURA_CLUSTER_ID_LEN + 1], struct kura_err *err);

/* Records id in the state directory (atomically); refuses a state
 * directory already bound to another cluster. */
int kura_cluster_bind(const char *state_dir, const char *id, struct kura_err *err);

/* The host identity of a cluster's datasets (what [server] host_id is on
 * a single server): SHA-256 of "kura cluster " and the id, in hex. */
void kura_cluster_host_id(const char *id, char host_id[65]);

#endif
