/* Pieces the audit log's writer, verifier and reader share (not public). */
#ifndef KURA_AUDIT_PRIV_H
#define KURA_AUDIT_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/audit.h"

#define AUDIT_HEX_LEN (2 * KURA_AUDIT_HASH_LEN)
/* Every line ends with ,"mac":"<64 hex>"}: the MAC covers what comes before. */
#define AUDIT_MAC_TAIL_LEN (8 + AUDIT_HEX_LEN + 2)

/* Where the chain stands: the last record's seq and the hash of its line
 * (seq 0 and zeros before the first record). */
struct audit_chain {
    uint64_t seq;
    unsigned char hash[KURA_AUDIT_HASH_LEN];
};

/* FNV-1a of (uid, dataset): the bucket of the bulk-read and flood counters. */
uint64_t audit_uid_dataset_hash(uid_t uid, const char *dataset);

/* BLAKE2b-256 of a line without its newline: the next record's "prev". */
void audit_line_hash(const char *line, size_t len, unsigned char out[KURA_AUDIT_HASH_LEN]);
/* Keyed BLAKE2b-256. */
void audit_mac(const unsigned char *key, const char *data, size_t len, unsigned char out[KURA_AUDIT_HASH_LEN]);
/* True if the line ends with a well-formed "mac" member that matches. */
bool audit_line_mac_ok(const unsigned char *key, const char *line, size_t len);
/* Lower-case hex of 32 bytes into out[AUDIT_HEX_LEN + 1]; and back. */
void audit_hex(const unsigned char in[KURA_AUDIT_HASH_LEN], char out[AUDIT_HEX_LEN + 1]);
bool audit_unhex(const char *hex, unsigned char out[KURA_AUDIT_HASH_LEN]);

/* Lines of a file read with pread from an offset up to a limit, each at most
 * KURA_AUDIT_LINE_MAX bytes. */
enum audit_line_kind {
    AUDIT_LINE_OK,      /* ended by a newline */
    AUDIT_LINE_LONG,    /* ended by a newline, but too long: not returned */
    AUDIT_LINE_PARTIAL, /* the bytes after the last newline */
};
struct audit_lines {
    int fd;
    uint64_t base;      /* file offset of buf[0] */
    uint64_t limit;
    char *buf;
    size_t start, end;
    uint64_t number;    /* 1-based number of the line last returned */
};
int audit_lines_init(struct audit_lines *r, int fd, uint64_t from, uint64_t limit);
/* 1: a line (*off its file offset), 0: no more, -1: read error (errno). */
int audit_lines_next(struct audit_lines *r, const char **line, size_t *len, enum audit_line_kind *kind,
                     uint64_t *off);
void audit_lines_free(struct audit_lines *r);
/* The lines of the file at path (not a symlink), from tail bytes before
 * its end (0: all of it); *st (may be NULL) gets its fstat. Close with
 * audit_lines_close. */
struct stat;
int audit_lines_open(struct audit_lines *r, const char *path, uint64_t tail, struct stat *st, struct kura_err *err);
void audit_lines_close(struct audit_lines *r);
/* The first line of the file, parsed (free with kura_audit_entry_free);
 * -1 if there is none or it is not a record. */
int audit_first_record(const char *path, struct kura_audit_entry *e);
/* The same of the file open as fd, read with pread (its offset unchanged). */
int audit_first_record_fd(int fd, struct kura_audit_entry *e);

/* Opens files[0..n) for reading: descriptors, and the sizes to read up to
 * (what was there when they were opened). On failure none stays open. */
int audit_open_files(const char *const *files, size_t n, int *fds, uint64_t *sizes, struct kura_err *err);
void audit_close_files(int *fds, size_t n);

/* The log's files as the writers left them: listed and opened under the
 * head file's shared lock (no writer is mid-batch or mid-rotation), each
 * with the size to read up to. */
struct audit_files {
    bool live_only;             /* the live file alone */
    char **paths;
    size_t n;
    int *fds;
    uint64_t *sizes;
};
/* locked (may be NULL) runs first under the lock, with the head file's
 * descriptor (-1: there is none) and path; it may set f->live_only, and
 * a non-zero return stops and is returned. On success close f with
 * audit_files_close; on failure nothing stays open. */
typedef int (*audit_locked_fn)(int head_fd, const char *head_path, struct audit_files *f, void *ctx);
int audit_files_open(const char *log_path, audit_locked_fn locked, void *ctx, struct audit_files *f,
                     struct kura_err *err);
void audit_files_close(struct audit_files *f);

/* The head file: two fixed-size slots written in turn, each a keyed note
 * of the last record written (seq, hash) and where it ended (the log file's
 * inode and size). A torn write can spoil one slot only. */
struct audit_head {
    uint64_t seq, ino, size;
    unsigned char hash[KURA_AUDIT_HASH_LEN];
};
/* 1: *h is the newest valid slot and *slot its index; 0: no valid slot;
 * -1: read error (errno). */
int audit_head_read(int fd, const unsigned char *key, struct audit_head *h, int *slot);
/* Writes slot 0 or 1, or both when slot < 0. -1 on error (errno). */
int audit_head_write(int fd, const unsigned char *key, const struct audit_head *h, int slot);

/* The record's members after "seq", as a JSON object text "{...}" at
 * buf + head_room, with tail_room bytes free after it: the writer adds seq,
 * prev and mac there in place. Returns the malloc'd buffer. */
char *audit_body_build(const struct kura_audit_record *rec, const char *host, const struct kura_zone *zone,
                       size_t head_room, size_t tail_room, size_t *body_len, struct kura_err *err);

/* A rotated file past retention, as its "retention" record states it
 * (kura_audit_retain). */
struct audit_removal {
    char name[256];             /* the file's name when it was planned */
    dev_t dev;                  /* which file, whatever a rotation renames it to */
    ino_t ino;
    uint64_t first, last;       /* the seqs it holds */
    int64_t last_ms;            /* its last record's time */
    unsigned years;             /* the retention it is removed under */
    unsigned char last_hash[KURA_AUDIT_HASH_LEN]; /* of its last record's line */
};
#define AUDIT_YEAR_MS ((int64_t)KURA_AUDIT_YEAR_DAYS * 86400 * 1000)
#define AUDIT_YEARS_MAX 10000       /* a retention record stating more is not one */
/* What kura_audit_retain does at now_ms: the files it removes, oldest
 * first, and the retention records they hold, written again before they
 * go (verify accounts for every removal since seq 1 from the records in
 * the files kept). */
struct audit_retention_plan {
    struct audit_removal *files, *carried;
    size_t nfiles, ncarried;
};
/* Made with appends going on: the files are listed and opened at one
 * moment, then read whole through their descriptors (a rotation only
 * renames them). 0 with nothing planned when nothing is due. */
int audit_retention_plan(const char *log_path, const unsigned char *key, unsigned years, int64_t now_ms,
                         struct audit_retention_plan *p, struct kura_err *err);
/* Under the head file's lock, before anything is written: the planned
 * files are still the log's oldest, in order, one chain, and the next file
 * continues it. A rotation while planning shifts the names the plan read
 * them by. */
bool audit_retention_still_oldest(const char *log_path, const struct audit_retention_plan *p);
void audit_retention_plan_free(struct audit_retention_plan *p);
/* A retention record's detail, and back (false: not one). */
void audit_retention_detail(const struct audit_removal *r, char *buf, size_t len);
bool audit_retention_parse(const char *detail, struct audit_removal *r);
/* Whether a removal at at_ms was past its retention. */
bool audit_retention_due(const struct audit_removal *r, int64_t at_ms);

#endif
