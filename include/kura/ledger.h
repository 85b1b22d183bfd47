/* ledger.jsonl: the change history of one dataset (R-LOG-3, 台帳): who
 * changed what, when, from what to what. JSON Lines, one record per change,
 * in this exact (canonical) form:
 *
 *   {"seq":1,"time":"2026-04-01T09:00:00+09:00","actor":"root","uid":0,
 *    "action":"dataset add","target":"JGAD1","detail":"...","before":"",
 *    "after":"...","prev":"000...000","hash":"<64 hex>"}
 *
 * seq counts from 1 without gaps. hash is the hex SHA-256 of the record's
 * bytes without the hash member (the same line with `,"hash":"..."`
 * removed); prev is the previous record's hash (64 zeros for the first), so
 * each record seals the whole history before it. Verification re-derives
 * every line from its parsed values, so a line not in canonical form fails
 * too.
 *
 * The chain finds any edited, deleted, inserted or reordered record and a
 * cut-off last line. What it cannot find on its own is the removal of
 * whole records at the end, or a rewrite of the whole chain by someone who
 * can write the file: compare the head (the last hash, returned by append
 * and verify) with a copy kept elsewhere, such as the audit log's record
 * of the change. */
#ifndef KURA_LEDGER_H
#define KURA_LEDGER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"
#include "kura/zone.h"

#define KURA_LEDGER_FIELD_MAX 1024        /* bytes in one string value */
#define KURA_LEDGER_LINE_MAX 16384        /* bytes in one record line */
#define KURA_LEDGER_FILE_MAX (64u << 20)  /* verify/read refuse larger files */
#define KURA_HASH_HEX_LEN 64

/* One change, as the caller describes it. Strings are one line of valid
 * UTF-8 without control characters, at most KURA_LEDGER_FIELD_MAX bytes;
 * "" where nothing applies (action must not be empty; actor is a user
 * name). */
struct kura_ledger_change {
    const char *actor;     /* who: user name ... */
    uid_t uid;             /* ... and uid */
    const char *action;    /* "dataset add", "user add", "withdraw", ... */
    const char *target;    /* what: dataset id, user name, sample id */
    const char *detail;    /* context: reference, reason */
    const char *before;    /* old value, short */
    const char *after;     /* new value, short */
};

/* One verified record; the strings live until the callback returns. */
struct kura_ledger_record {
    int line;
    int64_t seq;
    const char *time;
    const char *actor;
    int64_t uid;
    const char *action, *target, *detail, *before, *after;
    const char *prev, *hash;
};

/* Appends one record: opens (creating, mode 0640) and flocks the file,
 * reads and checks the last record for seq and hash, writes the new line
 * in one write(), fdatasyncs (and fsyncs the directory when created). The
 * caller holds the dataset lock for the change the record describes. A
 * ledger whose last line is malformed is not appended to. time is now,
 * written in zone (NULL: KURA_DEFAULT_TZ). head (may be NULL) gets the
 * new record's hash. */
int kura_ledger_append(const char *path, const struct kura_ledger_change *c, int64_t now,
                       const struct kura_zone *zone, char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err);

/* Called for each record in order; return non-zero to stop (the read then
 * returns that value). */
typedef int (*kura_ledger_fn)(const struct kura_ledger_record *r, void *arg);

/* Reads and verifies the ledger as it goes: fn sees only records that
 * verified, and the first bad line fails the read, naming FILE:LINE. A
 * last line without its end is read again for up to 100 ms (an append in
 * progress, seen by a view that holds no lock) before it fails; so it is
 * by kura_ledger_verify. */
int kura_ledger_read(const char *path, kura_ledger_fn fn, void *arg, struct kura_err *err);

/* Writes r as its line in the file holds it (canonical form, hash member
 * last, no '\n'), NUL-terminated, into buf; *len (if not NULL) gets its
 * length. -1 (ENOBUFS) if it does not fit. */
int kura_ledger_format(const struct kura_ledger_record *r, char *buf, size_t cap, size_t *len, struct kura_err *err);

/* Verifies the whole chain. nrecords and head (both may be NULL) get the
 * count and the last hash (64 zeros for an empty ledger). */
int kura_ledger_verify(const char *path, size_t *nrecords, char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err);

/* The same over bytes in memory; name is used in messages. */
int kura_ledger_scan(const char *name, const char *text, size_t len, kura_ledger_fn fn, void *arg, size_t *nrecords,
                     char head[KURA_HASH_HEX_LEN + 1], struct kura_err *err);

/* ---- an import's record: which key each delivery was encrypted to ------ */

/* The detail of a "dataset-import" record of archive deliveries begins
 *
 *   archive delivery to dataset key FP (2 file(s)), server key FP (1 file(s));
 *   source kept
 *
 * (one line; FP is a key fingerprint, 64 lowercase hex), or "; source
 * removal follows (--remove-source)"; a record with action
 * KURA_LEDGER_SOURCE_ACTION then says how many sources went. More context
 * may follow after ", ". Imports made before kura recorded keys say just
 * "archive delivery, ...". */
#define KURA_LEDGER_DELIVERY_KEYS_MAX 8 /* each takes ~100 of the detail's bytes */
#define KURA_LEDGER_SOURCE_ACTION "dataset-import-source"

struct kura_ledger_delivery_key {
    char role[8];                   /* "dataset" or "server" */
    char fp[KURA_HASH_HEX_LEN + 1];
    unsigned long files;
};

/* Writes the beginning of the detail for n keys (1..KURA_LEDGER_DELIVERY_KEYS_MAX)
 * into buf; -1 (ENOBUFS, EINVAL) if it does not fit or a key is malformed. */
int kura_ledger_delivery_format(const struct kura_ledger_delivery_key *keys, size_t n, bool removal_follows,
                                char *buf, size_t cap, struct kura_err *err);
/* Reads the keys back: how many (0 when detail is not in this form). */
size_t kura_ledger_delivery_parse(const char *detail, struct kura_ledger_delivery_key v[KURA_LEDGER_DELIVERY_KEYS_MAX],
                                  bool *removal_follows);

#endif
