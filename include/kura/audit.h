/* The audit log (R-LOG-1, R-LOG-2, R-LOG-5). One JSON Lines record per event:
 *
 *   {"seq":7,"time":"2026-04-01T09:00:00.123+09:00","host":"node1","event":"open",
 *    "decision":"allow",...,"prev":"<64 hex>","mac":"<64 hex>"}
 *
 * "prev" is the BLAKE2b-256 of the previous record's line (all of it, without
 * the newline; 64 zeros before the first record), "mac" the BLAKE2b-256 keyed
 * with the 32-byte log key over this line's bytes up to the "mac" member. So
 * an edit, deletion, insertion, reordering or partial record breaks the chain.
 * The chain goes on across rotated files. Whole records cut from the end are
 * caught by the head file (<dir>/.<base>.head): the writers' shared lock, and
 * a keyed note of the last record written, which the log must still hold.
 * Records never carry plaintext or key material.
 *
 * Writers in any number of threads and processes may share one log: an
 * append returns only once its record is on disk (group commit: one write and
 * one fdatasync per batch of concurrent appends), except a close record: it
 * is written (a crash of the writer keeps it) and made durable by the next
 * batch's fdatasync, or when the writer lets go of the file (rotation,
 * reopen, close); nothing is served after a close, so an open costs one
 * fdatasync, not two, and a close that comes while another append is being
 * written is left to that writer, its caller not waiting. It fails closed: on a
 * failed write or fdatasync nothing partial is left behind, the caller gets
 * -1 (and refuses what it was asked to do), the cause goes to syslog, and
 * the next append tries again. */
#ifndef KURA_AUDIT_H
#define KURA_AUDIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"
#include "kura/zone.h"

#define KURA_AUDIT_KEY_LEN 32
#define KURA_AUDIT_HASH_LEN 32          /* prev and mac, as 64 hex digits */
#define KURA_AUDIT_LINE_MAX 65536       /* longest line a reader accepts */
/* Longer strings are cut to these many bytes; the record then names the
 * cut fields in "cut" (e.g. "cmdline,path"). */
#define KURA_AUDIT_CMDLINE_MAX 512
#define KURA_AUDIT_PATH_MAX 4096
#define KURA_AUDIT_TEXT_MAX 1024
#define KURA_AUDIT_ABSENT INT64_C(-1)   /* a number field that is not written */

enum kura_audit_event {
    KURA_AUDIT_OPEN,
    KURA_AUDIT_CLOSE,
    KURA_AUDIT_WRITE_DENIED,
    KURA_AUDIT_POLICY_CHANGE,
    KURA_AUDIT_REVOCATION,
    KURA_AUDIT_SUSPEND,
    KURA_AUDIT_RESUME,
    KURA_AUDIT_LOCKDOWN,
    KURA_AUDIT_UNLOCK,
    KURA_AUDIT_WITHDRAW,
    KURA_AUDIT_DESTROY,
    KURA_AUDIT_IMPORT,
    KURA_AUDIT_ALERT,   /* copied to syslog at warning level */
    KURA_AUDIT_START,
    KURA_AUDIT_STOP,
    KURA_AUDIT_REFUSALS, /* "refusals": a summary counting refusals not recorded one by one */
    KURA_AUDIT_RETENTION, /* "retention": a rotated file removed under [audit] retention_years */
};

enum kura_audit_decision { KURA_AUDIT_NO_DECISION, KURA_AUDIT_ALLOW, KURA_AUDIT_DENY };

/* How the "detail" of a reader's record starts: an "open" record of a
 * process reading through a descriptor another process opened (its first
 * read). It is not a handle of its own: the handle's one close names the
 * pid that opened. */
#define KURA_AUDIT_READER_DETAIL "reads through a file pid "

/* "open", "write-denied", ...; NULL for a value outside the enum. */
const char *kura_audit_event_name(enum kura_audit_event e);
int kura_audit_event_parse(const char *s, enum kura_audit_event *out);
/* "allow", "deny", "-". */
const char *kura_audit_decision_name(enum kura_audit_decision d);
int kura_audit_decision_parse(const char *s, enum kura_audit_decision *out);

/* What a caller logs. NULL strings and KURA_AUDIT_ABSENT numbers are left
 * out of the line: start from kura_audit_record_init. seq, time zone, host,
 * prev and mac are the log's business. */
struct kura_audit_record {
    enum kura_audit_event event;
    enum kura_audit_decision decision;
    int64_t time_ms;            /* Unix time in ms; 0: the moment of append */
    const char *reason;         /* deny reason, or why (suspend --reason) */
    const char *dataset;
    const char *path;           /* as served below the dataset */
    const char *samples;        /* sample ids of the file, comma-separated */
    const char *user;
    int64_t uid, loginuid, pid, ppid;
    const char *exe;
    const char *cmdline;        /* arguments joined by spaces */
    const char *ssh_client;     /* $SSH_CLIENT of the process, if any */
    int64_t bytes, duration_ms;
    int64_t count;              /* refusals a "refusals" summary stands for */
    const char *detail;
};
void kura_audit_record_init(struct kura_audit_record *r);

/* ---- the log key ---- */

/* Creates the key file (refuses an existing one: old records would no
 * longer verify): 32 random bytes as text, mode 0600, fsynced. */
int kura_audit_key_generate(const char *path, struct kura_err *err);
/* Loads the key into kura_secure_alloc memory (free with kura_secure_free).
 * Refuses a file others may read or write, or owned by someone else. */
unsigned char *kura_audit_key_load(const char *path, struct kura_err *err);

/* ---- writing ---- */

struct kura_audit_options {
    const char *host;           /* NULL: gethostname() */
    const struct kura_zone *zone; /* zone of the time stamps; NULL: KURA_DEFAULT_TZ */
    bool syslog;                /* copy each record to syslog, facility authpriv */
    uint64_t max_size;          /* > 0: rotate (PATH -> PATH.1 -> PATH.2 ...)
                                   before a batch would grow the file past it */
    uint64_t reserve;           /* bytes of the log's file system kept for the
                                   records that are not refusals, see below */
};

struct kura_audit_stats {
    uint64_t records;           /* appended and durable */
    uint64_t batches;           /* group commits that succeeded */
    uint64_t fdatasyncs;        /* calls, failed ones included */
    uint64_t failures;          /* appends that returned -1 (held back ones aside) */
    uint64_t rotations;
    uint64_t held_back;         /* refusals not written, to keep the reserve */
    uint64_t syslog_undelivered; /* copies to syslog not delivered (kura/syslog_copy.h) */
    uint64_t detached;          /* close records handed over, their caller not waiting */
    uint64_t closes_lost;       /* ... of those, the ones whose batch failed: not in the log, and
                                   their caller, told 0, does not know (a notice says so) */
};

struct kura_audit_log;

/* Opens (creating 0600 if missing) the log at path and its head file; the
 * key is copied into locked memory. Fails if the log holds records but none
 * verifies with this key (the wrong key file). */
struct kura_audit_log *kura_audit_open(const char *path, const unsigned char key[KURA_AUDIT_KEY_LEN],
                                       const struct kura_audit_options *opt, struct kura_err *err);
/* Appends one record and returns once it is durable. A record after which
 * nothing is served, a close or one whose decision is deny (a refusal, an
 * access ended), returns once written: the next batch's fdatasync, the
 * let-go of the file, or the close writer within its sync_later_ms
 * makes it durable, and a power failure before that may lose it. A close
 * returns at once when another append is being written, or the close
 * writer runs: it goes into the next batch, and that batch's writer copies
 * it to syslog; a crash loses at most the closes queued that moment; a
 * failed batch loses those in it, counted in stats.closes_lost.
 * Thread-safe. On -1,
 * err->code is EIO (what an open refused for this reason returns) and the
 * message names the cause (ENOSPC, EIO, EFBIG, ...). With syslog set, the
 * record goes to syslog whether or not the local write succeeded (a record
 * the log could not keep is marked "not in the local log").
 *
 * The reserve (opt->reserve bytes), kept for the records that are not
 * refusals (kura_audit_is_refusal), twice over: a refusal is not written
 * when the log's file system would be left with less than the reserve free
 * (it fails, err->msg saying so, and does not count as a failure of the
 * log, see kura_audit_failing); and as much again is allocated to the file
 * <dir>/.<base>.reserve while there is room, released as the other records
 * need it when the disk is full whatever filled it, and taken back once
 * there is room again. So refusals, however many, and other programs
 * filling the disk do not stop allow, close and alert records at once. */
int kura_audit_append(struct kura_audit_log *log, const struct kura_audit_record *rec, struct kura_err *err);
/* A refused open, lookup or write, or a summary of such: the records the
 * reserve is kept from. */
bool kura_audit_is_refusal(const struct kura_audit_record *rec);
/* A reader's "open" record (KURA_AUDIT_READER_DETAIL): no handle of its own. */
bool kura_audit_is_reader(const struct kura_audit_record *rec);
/* True while the log cannot be written: the last batch failed (a write or
 * fdatasync error, a full disk); the next batch that succeeds clears it. One
 * atomic load, for the read path. */
bool kura_audit_failing(struct kura_audit_log *log);
/* After logrotate moved the file (SIGHUP; call it from the main loop, not
 * the signal handler): lets go of the old file. The next record starts the
 * new file, continues the chain and carries "rotated_from". Appends also
 * notice a moved file by themselves; this releases the old one sooner.
 * logrotate: "create" or "nocreate" both work; not "copytruncate" (records
 * written between the copy and the truncation would be lost, and verify
 * says so); no compression: verify skips compressed files, and the records
 * they hold count as missing (kura_audit_retain removes old files). */
int kura_audit_reopen(struct kura_audit_log *log, struct kura_err *err);
/* The daemon's: from now on no close waits for its record. Handed-over
 * closes go into the next batch of opens; when none comes within
 * linger_ms, a thread of the log's writes them (no fdatasync of their own).
 * The same thread makes records written without an fdatasync (closes,
 * refusals) durable when no batch did within sync_later_ms.
 * kura_audit_close stops it and writes what is left. */
int kura_audit_start_close_writer(struct kura_audit_log *log, unsigned linger_ms, unsigned sync_later_ms,
                                  struct kura_err *err);
/* log NULL: all zero. */
void kura_audit_get_stats(struct kura_audit_log *log, struct kura_audit_stats *out);
/* No append may be running or follow. NULL is fine. */
void kura_audit_close(struct kura_audit_log *log);

/* Retention ([audit] retention_years). A rotated file is past retention
 * when its last record is more than years x KURA_AUDIT_YEAR_DAYS days old
 * (366: never before the years have passed on the calendar). Removes, oldest
 * first, the longest run of the log's rotated files (kura_audit_files'
 * order) that are all past retention, whose records all verify and that
 * the next file continues; never the live file. Each removal is recorded
 * first, durably, as a "retention" record (path: the file's name; count:
 * its records; detail: "seq=A..B last_ms=T last_hash=H retention_years=N",
 * the range, its last record's time and line hash, the years): verify
 * checks that the first file kept continues exactly there. A crash between
 * the record and the removal leaves the file; the next call records it
 * again. years 0 keeps everything. *removed (may be NULL) gets the files
 * removed. Thread-safe; appends wait while the records are written and
 * the files removed (not while the files are read). */
#define KURA_AUDIT_YEAR_DAYS 366
int kura_audit_retain(struct kura_audit_log *log, unsigned years, int64_t now_ms, size_t *removed,
                      struct kura_err *err);

/* The head file of the log at path: <dir>/.<base>.head. */
int kura_audit_head_path(const char *log_path, char *buf, size_t len);

/* ---- reading ---- */

/* One record parsed back. Strings point into storage the entry owns; absent
 * ones are NULL (numbers KURA_AUDIT_ABSENT). Strings that were not valid
 * UTF-8 come back byte for byte (the line holds them in "<field>_hex"). */
struct kura_audit_entry {
    uint64_t seq;
    const char *time;           /* as written; rec.time_ms is its value */
    const char *host;
    struct kura_audit_record rec;
    const char *rotated_from;   /* first record of a file the chain entered */
    const char *cut;            /* fields cut to their maximum length */
    char prev[2 * KURA_AUDIT_HASH_LEN + 1];
    char mac[2 * KURA_AUDIT_HASH_LEN + 1];
    void *priv_;                /* storage */
};

/* Parses one line (without its newline) and checks its shape: a flat JSON
 * object with the required fields, known event and decision, an RFC 3339
 * time, and "mac" as the last member. It does not check the MAC. */
int kura_audit_entry_parse(const char *line, size_t len, struct kura_audit_entry *e, struct kura_err *err);
void kura_audit_entry_free(struct kura_audit_entry *e);

/* For `kuractl audit`: NULL / 0 members match everything. */
struct kura_audit_filter {
    const char *dataset;
    const char *user;
    int64_t since_ms;           /* records at or after this time */
};
bool kura_audit_filter_match(const struct kura_audit_filter *f, const struct kura_audit_entry *e);

/* Calls fn for every line of the file: with the entry, or with e == NULL and
 * problem saying why the line is not a record. A non-zero return from fn
 * stops the walk and is returned. */
typedef int (*kura_audit_read_fn)(const struct kura_audit_entry *e, const char *file, uint64_t line,
                                  const char *problem, void *ctx);
int kura_audit_read(const char *path, kura_audit_read_fn fn, void *ctx, struct kura_err *err);
/* The same for the records in the last tail bytes of the file only (a
 * bounded look at recent records; line numbers count from there). */
int kura_audit_read_tail(const char *path, uint64_t tail, kura_audit_read_fn fn, void *ctx, struct kura_err *err);

/* The log's files in chain order: rotated ones (PATH.* and PATH-*, except
 * compressed ones) sorted by their first seq, then PATH itself. */
int kura_audit_files(const char *log_path, char ***paths, size_t *n, struct kura_err *err);
void kura_audit_files_free(char **paths, size_t n);

/* ---- shipping (cluster mode, docs/cluster.md) ---- */

/* Where a read of the live file stopped, so the next read starts there:
 * valid while the file is the same one (inode) and the caller asks for the
 * records after seq. Zero it to start from the log's first file. */
struct kura_audit_cursor {
    uint64_t ino, offset, seq;
};
/* One record's line (without its newline). 0: taken; non-zero: stop before
 * this record (it is offered again by the next read). */
typedef int (*kura_audit_line_fn)(uint64_t seq, const char *line, size_t len, void *ctx);
/* Offers fn the records of the log at log_path whose seq is greater than
 * after, in chain order across rotated files, up to where the writers had
 * finished a batch (read under the head file's shared lock: no record of a
 * batch still being written). Lines that are not records are skipped (their
 * seq is then missing wherever the records go, and verify says so). */
int kura_audit_read_after(const char *log_path, uint64_t after, struct kura_audit_cursor *cur,
                          kura_audit_line_fn fn, void *ctx, struct kura_err *err);
/* The same for the log writer writes, but only records durable in it:
 * those writer wrote without an fdatasync yet (a close's or a refusal's,
 * durable within its sync_later_ms) wait for a read after their sync, so
 * that a power failure cannot take back a record a reader passed on (the
 * shipper: the central store would then hold records the node's chain no
 * longer has). Other writers' records are read once their batch is over,
 * which includes its fdatasync. */
int kura_audit_read_durable_after(struct kura_audit_log *writer, uint64_t after, struct kura_audit_cursor *cur,
                                  kura_audit_line_fn fn, void *ctx, struct kura_err *err);
/* The seq of the last durable record any writer has written to the log
 * (its head file, checked with the log's key); 0 for an empty log. Records
 * written without an fdatasync count once they are durable. */
int kura_audit_written_seq(struct kura_audit_log *log, uint64_t *seq, struct kura_err *err);

/* ---- verifying ---- */

struct kura_audit_finding {
    const char *file;
    uint64_t line;              /* 1-based; 0: about the file as a whole */
    uint64_t seq;               /* the record concerned; 0 when unknown */
    bool bad;                   /* false: a note (a file's summary, ...) */
    const char *what;
};
typedef void (*kura_audit_report_fn)(const struct kura_audit_finding *f, void *ctx);

struct kura_audit_summary {
    uint64_t files, records, first_seq, last_seq;
    uint64_t removed_last;      /* seq 1..removed_last were removed under retention (0: none) */
    int64_t removed_ms;         /* when the last of them was removed */
};

/* Checks every record of the files, in the order given, as one chain: shape,
 * seq continuity, prev and MAC. A chain that starts after seq 1 must be
 * accounted for by "retention" records among the files: ranges that join
 * up from seq 1 to the first record kept, the last one's hash its prev;
 * each retention record must state a removal past its retention
 * (kura_audit_retain). Anything else missing at the start is bad. With head_path (may be NULL), also that the
 * last record the head names is there. Stops at the first bad record: reports
 * it (file:line, seq, what is wrong), returns -1 with err saying the same.
 * report and sum may be NULL. */
int kura_audit_verify_files(const char *const *paths, size_t n, const char *head_path,
                            const unsigned char key[KURA_AUDIT_KEY_LEN], kura_audit_report_fn report,
                            void *ctx, struct kura_audit_summary *sum, struct kura_err *err);
/* The same check over lines from anywhere (the central copy of a node's
 * records): feed them in seq order; findings name source and seq. The
 * first bad line is reported and returns -1 (err says what); later lines
 * are not looked at. */
struct kura_audit_chain_check;
struct kura_audit_chain_check *kura_audit_chain_new(const unsigned char key[KURA_AUDIT_KEY_LEN],
                                                    kura_audit_report_fn report, void *ctx);
int kura_audit_chain_line(struct kura_audit_chain_check *ck, const char *source, const char *line, size_t len,
                          struct kura_err *err);
/* Frees ck; *sum (may be NULL) gets the records checked and their seq range. */
void kura_audit_chain_end(struct kura_audit_chain_check *ck, struct kura_audit_summary *sum);
/* The same for the log at log_path: its rotated files (kura_audit_files)
 * and its head, read consistently with running writers. */
int kura_audit_verify(const char *log_path, const unsigned char key[KURA_AUDIT_KEY_LEN],
                      kura_audit_report_fn report, void *ctx, struct kura_audit_summary *sum,
                      struct kura_err *err);

/* ---- bulk reads ---- */

/* Bytes read per (uid, dataset, day). Pure (no clock, no I/O) and
 * thread-safe; day is any number naming the day (the caller's zone). */
struct kura_audit_bulk;
/* An alert is due when a day's total first reaches multiple x dataset size
 * (with 1, one full read of the dataset). */
struct kura_audit_bulk *kura_audit_bulk_new(double multiple);
void kura_audit_bulk_free(struct kura_audit_bulk *b);
/* Adds bytes; returns true exactly once per (uid, dataset, day): when the
 * total crosses the threshold. *day_total (may be NULL) gets the total. */
bool kura_audit_bulk_add(struct kura_audit_bulk *b, uid_t uid, const char *dataset, int64_t day,
                         uint64_t bytes, uint64_t dataset_size, uint64_t *day_total);
/* An alert of that day raised before (read back from the log when the
 * daemon starts): kura_audit_bulk_add raises no second one that day. */
void kura_audit_bulk_alerted(struct kura_audit_bulk *b, uid_t uid, const char *dataset, int64_t day);

/* ---- refusal floods ---- */

/* Refusals per uid: the first `burst` in each window are to be recorded one
 * by one, whichever dataset they name; the rest are counted per (uid,
 * dataset), and handed out as summaries (at most one per key per
 * summary_ms) so that every refusal is counted in the log, none dropped.
 * One bound per uid, not per dataset: with a bound of its own, a refused
 * look at an existing hidden dataset would still be written and synced
 * once the user's made-up names had spent theirs, and take longer than one
 * at a name that does not exist, telling an outsider which ids exist.
 * Pure (the caller passes the time) and thread-safe. Memory grows with the
 * keys seen recently; quiet ones are forgotten. */
struct kura_audit_flood;
struct kura_audit_flood *kura_audit_flood_new(unsigned burst, int64_t window_ms, int64_t summary_ms);
void kura_audit_flood_free(struct kura_audit_flood *f);
/* A refusal at now_ms (dataset may be NULL). true: record it on its own;
 * false: it is counted for a summary. *alert is set true once per flood of
 * a uid: the first refusal it has counted after a window with none. */
bool kura_audit_flood_admit(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t now_ms,
                            bool *alert);
/* An alert raised at at_ms (read back from the log when the daemon
 * starts): the flood it began goes on, so no second alert for it. */
void kura_audit_flood_alerted(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t at_ms);
/* Counts a refusal whose own record could not be written. */
void kura_audit_flood_count(struct kura_audit_flood *f, uid_t uid, const char *dataset, int64_t now_ms);
struct kura_audit_flood_summary {
    uid_t uid;
    const char *dataset;        /* NULL: refusals outside any dataset */
    uint64_t count;
    int64_t first_ms, last_ms;  /* the first and last refusal counted */
};
/* Calls fn for each key with counted refusals whose first is summary_ms old
 * (all of them with all set). fn returns 0 once the summary is durable;
 * otherwise its count is kept for the next call. Returns the summaries
 * written. Call it from one thread at a time. */
typedef int (*kura_audit_flood_fn)(const struct kura_audit_flood_summary *s, void *ctx);
size_t kura_audit_flood_drain(struct kura_audit_flood *f, int64_t now_ms, bool all, kura_audit_flood_fn fn,
                              void *ctx);

#endif
