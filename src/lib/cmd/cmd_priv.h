/* Shared by the cmd_*.c files: the command context, option parsing,
 * messages, and the change transaction (lock, load, save, ledger, audit). */
#ifndef KURA_CMD_PRIV_H
#define KURA_CMD_PRIV_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/capability.h>

#include "kura/audit.h"
#include "kura/cluster.h"
#include "kura/commands.h"
#include "kura/model.h"
#include "kura/text.h"
#include "kura/report.h"

struct kura_cmd_ctx {
    const struct kura_cmd_env *env;
    const struct kura_actor *actor;
    const struct kura_cmd *cmd;
    FILE *out, *err;
};

/* ---- the commands (one file per group) ----------------------------------- */

int cmd_init(const struct kura_cmd_ctx *c, int argc, char **argv);            /* cmd_init.c */
int cmd_pubkey(const struct kura_cmd_ctx *c, int argc, char **argv);           /* cmd_key.c */
int cmd_key_rotate(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_key_retire(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_key_list(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_delivery_make(const struct kura_cmd_ctx *c, int argc, char **argv);    /* cmd_delivery.c */
int cmd_dataset_add(const struct kura_cmd_ctx *c, int argc, char **argv);     /* cmd_dataset.c */
int cmd_dataset_extend(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_dataset_suspend(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_dataset_resume(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_dataset_files(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_dataset_import(const struct kura_cmd_ctx *c, int argc, char **argv);  /* cmd_import.c */
int cmd_dataset_set_pi(const struct kura_cmd_ctx *c, int argc, char **argv);  /* cmd_pi.c */
/* name may be a dataset's PI: its uid, or -1 with the reason (no such
 * account, or an operator: no one holds both roles). */
int cmd_pi_account(const char *name, uid_t *uid, struct kura_err *e);
int cmd_user_add(const struct kura_cmd_ctx *c, int argc, char **argv);        /* cmd_user.c */
int cmd_user_remove(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_user_approve(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_user_update(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_user_list(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_status(const struct kura_cmd_ctx *c, int argc, char **argv);          /* cmd_status.c */
int cmd_daemon(const struct kura_cmd_ctx *c, int argc, char **argv);
/* status: the caller's grants' history and recent refusals (cmd_history.c);
 * all[i] is ids[i]'s dataset where loaded[i]. json: as the members
 * "history" and "refusals" of status --json's object. -1 if JSON did not fit. */
int cmd_status_history(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded,
                       char **ids, size_t n, bool json);
/* Who was listed in a dataset when, from its ledger (cmd_history.c): each
 * grant from its user-add to its user-remove, each PI to the set-pi that
 * replaced them (the first PI from the dataset's from); and who is listed
 * now (ds), from their grant's from or the set-pi that named them. Ledger
 * order, so each person's listings oldest first. */
struct cmd_listing {
    char user[KURA_USER_MAX + 1];
    int64_t uid;
    int64_t from, until;            /* seconds, the ledger's; until INT64_MAX: not ended */
    bool pi;
    bool current;                   /* ds lists them so now: the PI or a grant */
    /* A grant's records as the ledger last gave them in the listing (its
     * user-add, then each user-update); recorded false where it gives none
     * (a PI's listing: set-pi records the account only) or a text it
     * cannot read. */
    bool recorded;
    char institution[KURA_TEXT_MAX];
    char trained[KURA_DATE_LEN + 1];
};
struct cmd_listings {
    struct cmd_listing *v;
    size_t n, cap;
};
int cmd_listings_read(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, struct cmd_listings *out,
                      struct kura_err *e);
/* The listing (index + 1; 0: none) by which ds lists user now (as PI: pi). */
size_t cmd_listing_now(const struct cmd_listings *l, const char *user, int64_t uid, bool pi);
/* The listing (index + 1; 0: none) a record of user's at time_ms falls in:
 * the latest that began by then, if it had not ended (the ledger's second
 * counts whole) or is current. A refusal outside every listing goes to the
 * latest that began before it (else the first): an attempt after removal
 * is the former user's, not an outsider's. An allowed open outside every
 * listing stays 0, not listed. A person listed once, now, takes all. */
size_t cmd_listing_of(const struct cmd_listings *l, const char *user, int64_t uid, int64_t time_ms, bool allowed);
void cmd_listings_free(struct cmd_listings *l);
/* status: the ethics approvals and the reminders sent and next of the
 * datasets the caller manages (cmd_records.c); json: as the members
 * "ethics" and "reminders" of status --json's object. -1 if JSON did not fit. */
int cmd_status_records(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded, size_t n,
                       bool json);
int cmd_ledger(const struct kura_cmd_ctx *c, int argc, char **argv);          /* cmd_ledger.c */
int cmd_reload(const struct kura_cmd_ctx *c, int argc, char **argv);          /* cmd_main.c */
int cmd_audit(const struct kura_cmd_ctx *c, int argc, char **argv);           /* cmd_audit.c */
int cmd_audit_verify(const struct kura_cmd_ctx *c, int argc, char **argv);
/* The ids of the datasets the actor is the PI of (by uid and name, as
 * cmd_actor_is_pi); free with cmd_strv_free. */
int cmd_led_datasets(const struct kura_cmd_ctx *c, char ***out, size_t *n, struct kura_err *e);
int cmd_operators(const struct kura_cmd_ctx *c, int argc, char **argv);       /* cmd_operators.c */
/* Records any change of group kura-admin's members in the operator
 * register, with an audit record and a notice; a failure is a warning on
 * err. Run after every state change. */
void cmd_operators_observe(const struct kura_cmd_ctx *c);
int cmd_audit_summary(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_withdraw(const struct kura_cmd_ctx *c, int argc, char **argv);        /* cmd_revoke.c */
int cmd_dataset_destroy(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_report_destruction(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_report_withdrawal(const struct kura_cmd_ctx *c, int argc, char **argv);
/* A destroyed dataset's destruction report as written, checked against its
 * ledger record (the report's SHA-256), and the keystore checked to hold
 * nothing for it. Prints the reason and returns -1 otherwise. Free text. */
struct cmd_destruction {
    char *text;
    size_t len;
    char sha[65];
    char time[48];                  /* of the ledger record */
    char actor[KURA_USER_MAX + 24];
    int64_t seq;
};
int cmd_destruction_read(const struct kura_cmd_ctx *c, const struct kura_dataset *ds, struct cmd_destruction *d);
/* Nothing of dataset id left in the keystore (cmd_destruction.c). */
bool cmd_keystore_empty(const struct kura_cmd_ctx *c, const char *id);
/* The largest destruction report read back. */
#define CMD_REPORT_MAX (64u << 20)
int cmd_report_usage(const struct kura_cmd_ctx *c, int argc, char **argv);    /* cmd_report.c */
int cmd_report_checklist(const struct kura_cmd_ctx *c, int argc, char **argv); /* cmd_checklist.c */
int cmd_report_end_of_use(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_report_secondary_data(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_report_incident(const struct kura_cmd_ctx *c, int argc, char **argv); /* cmd_incident.c */
/* The language of ds's reports for people: [report] lang, auto: ja for JGA
 * and AGD, and for a report of the whole server (ds NULL). */
enum kura_report_lang cmd_report_lang(const struct kura_cmd_ctx *c, const struct kura_dataset *ds);
enum cmd_report_format { CMD_REPORT_MD, CMD_REPORT_HTML, CMD_REPORT_CSV, CMD_REPORT_JSON };
/* The options of every report: its format (--md, the default, --csv,
 * --json, --html) and --lang. */
struct cmd_report_form {
    bool md, csv, json, html;
    const char *lang;
};
#define CMD_REPORT_FORM_OPTS(f)                                                                                  \
    {"md", false, NULL, &(f).md}, {"csv", false, NULL, &(f).csv}, {"json", false, NULL, &(f).json},             \
        {"html", false, NULL, &(f).html}, {"lang", true, &(f).lang, NULL}
/* 0, or the usage error printed (two formats, an unknown language). */
int cmd_report_form_check(const struct kura_cmd_ctx *c, const struct cmd_report_form *f);
enum cmd_report_format cmd_report_form_format(const struct cmd_report_form *f);
/* --lang, else cmd_report_lang. */
enum kura_report_lang cmd_report_form_lang(const struct kura_cmd_ctx *c, const struct cmd_report_form *f,
                                           const struct kura_dataset *ds);
/* Prints r as f asks, in f's language or ds's (cmd_report_print). */
int cmd_report_form_print(const struct kura_cmd_ctx *c, const struct kura_report *r, const struct cmd_report_form *f,
                          const struct kura_dataset *ds);
/* What every report of a dataset says of it (title, kind, level, status,
 * period, PI, made at), and blanks for the records kura does not keep. */
void cmd_report_dataset_items(const struct kura_cmd_ctx *c, struct kura_report *r, const struct kura_dataset *ds);
/* Labels more than one report says, one meaning one text (cmd_report.c). */
extern const struct kura_report_label cmd_label_title, cmd_label_kind, cmd_label_level, cmd_label_pi,
    cmd_label_made_at, cmd_label_made_by, cmd_label_user, cmd_label_file, cmd_label_path, cmd_label_file_id,
    cmd_label_opens, cmd_label_read_throughs, cmd_label_bytes_read, cmd_label_refused, cmd_label_none;
/* A role as the reports say it ("co-investigator", 共同研究者). */
const struct kura_report_label *cmd_report_role_word(enum kura_role r);
/* r as text in *text (the caller frees it): Markdown and HTML signed (a
 * last line with the MAC under the audit-log key), CSV (r->csv_table)
 * and JSON as they are. (cmd_report_sign.c) */
int cmd_report_render(const struct kura_cmd_ctx *c, const struct kura_report *r, enum cmd_report_format format,
                      enum kura_report_lang lang, char **text, size_t *len, struct kura_err *e);
/* r rendered on c->out. Prints the error and returns KURA_EXIT_FAIL on failure. */
int cmd_report_print(const struct kura_cmd_ctx *c, const struct kura_report *r, enum cmd_report_format format,
                     enum kura_report_lang lang);
int cmd_report_verify(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_lockdown(const struct kura_cmd_ctx *c, int argc, char **argv);        /* cmd_lockdown.c */
int cmd_unlock(const struct kura_cmd_ctx *c, int argc, char **argv);
int cmd_check(const struct kura_cmd_ctx *c, int argc, char **argv);           /* cmd_check.c */
int cmd_cluster_init(const struct kura_cmd_ctx *c, int argc, char **argv);    /* cmd_cluster.c */
int cmd_cluster_status(const struct kura_cmd_ctx *c, int argc, char **argv);

/* The context of a change called as a function (changes.h): its messages
 * are labelled as the command row's (each such command's row is defined in
 * its own file, beside it, and listed in cmd_main.c's table); it prints
 * nothing to out but what goes astray (to err). Returns c. (cmd_args.c) */
const struct kura_cmd_ctx *cmd_ctx_of(struct kura_cmd_ctx *c, const struct kura_cmd_env *env,
                                      const struct kura_actor *actor, FILE *err, const struct kura_cmd *row);
/* The rows of the commands that are also changes called as functions. */
extern const struct kura_cmd cmd_row_audit_summary, cmd_row_operators, cmd_row_dataset_add, cmd_row_dataset_destroy,
    cmd_row_dataset_extend, cmd_row_dataset_import, cmd_row_dataset_resume,
    cmd_row_dataset_set_pi, cmd_row_dataset_suspend, cmd_row_init,
    cmd_row_key_retire, cmd_row_key_rotate, cmd_row_lockdown,
    cmd_row_unlock, cmd_row_user_add, cmd_row_user_approve,
    cmd_row_user_remove, cmd_row_user_update, cmd_row_withdraw;

/* ---- messages (cmd_args.c) ---------------------------------------------- */

/* "kuractl dataset add: MESSAGE" on err; returns KURA_EXIT_FAIL. */
__attribute__((format(printf, 2, 3)))
int cmd_fail(const struct kura_cmd_ctx *c, const char *fmt, ...);
/* The same with the usage line; returns KURA_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int cmd_usage(const struct kura_cmd_ctx *c, const char *fmt, ...);
/* Prints "kuractl dataset add: what: err->msg"; returns KURA_EXIT_FAIL. */
int cmd_fail_err(const struct kura_cmd_ctx *c, const struct kura_err *err);
/* A request's required free text (a reason, a reference; what names it):
 * given, and one line of text (kura_text_check). Else says why and
 * returns -1. */
int cmd_required_text(const struct kura_cmd_ctx *c, const char *text, const char *what);
/* The same for the option that carries it, as kuractl parses it: a usage
 * error ("OPTION (what) is required"; what may be NULL), or KURA_EXIT_OK. */
int cmd_required_option(const struct kura_cmd_ctx *c, const char *value, const char *option, const char *what);

/* Appends word to the space-separated list in buf (NUL-terminated), or
 * " ..." once the rest would not fit: file lists in messages and ledger
 * records. */
void cmd_append_word(char *buf, size_t len, const char *word);
struct kura_json_writer;
/* Ends w's object and prints it as an item of the one JSON array a --json
 * listing prints between "[" and "]\n" (",\n" before all but the first).
 * -1, said with what, if it did not fit. */
int cmd_json_item(const struct kura_cmd_ctx *c, struct kura_json_writer *w, bool first, const char *what);

/* ---- options (cmd_args.c) ------------------------------------------------ */

/* One --name option. has_arg: its value goes to *value; otherwise *flag
 * is set. Each option may be given once. */
struct cmd_opt {
    const char *name;           /* without the dashes */
    bool has_arg;
    const char **value;
    bool *flag;
};

/* Splits argv into options and positionals (at most maxpos, at least
 * minpos). "--name value", "--name=value" and "--" are understood. On a
 * usage error prints it and returns -1 (the command then exits 2). */
int cmd_parse(const struct kura_cmd_ctx *c, int argc, char **argv, const struct cmd_opt *opts, char **pos,
              int minpos, int maxpos, int *npos);

/* "ID USER" and nothing else, USER a valid account name (user remove,
 * user approve, dataset set-pi): KURA_EXIT_OK, or the usage error's status. */
int cmd_parse_id_user(const struct kura_cmd_ctx *c, int argc, char **argv, char *pos[2]);

/* ---- facts ---------------------------------------------------------------- */

int64_t cmd_now(void);
/* Hex SHA-256 of data: what the ledger records of a state file or a report. */
void cmd_sha256_hex(const void *data, size_t len, char out[65]);
/* Looks a user name up: uid, or -1 with a message naming the user. */
int cmd_user_uid(const char *name, uid_t *uid, struct kura_err *err);
/* Formats t in the configured zone (RFC 3339) into buf. */
const char *cmd_time(const struct kura_cmd_ctx *c, int64_t t, char *buf, size_t len);
/* The end of a half-open period [.., until) in the zone: its last day
 * (YYYY-MM-DD) when it ends at midnight, else the RFC 3339 time it ends. */
const char *cmd_last_day(const struct kura_cmd_ctx *c, int64_t until, char *buf, size_t len);
/* Whole days from now to until: 0 on the last day and after. */
long cmd_days_left(int64_t until, int64_t now);
/* The actor's user name, or "uid-N" for an account without one. */
const char *cmd_actor_name(const struct kura_cmd_ctx *c, char *buf, size_t len);
/* "alice" or "root (login alice)": how the actor appears in messages. */
const char *cmd_actor_label(const struct kura_cmd_ctx *c, char *buf, size_t len);

/* How long kuractl (not the daemon) waits for notify_command to report a failure. */
#define CMD_NOTIFY_WAIT_MS 5000
/* Sends n after a committed change (notify.h); a failure is a warning on
 * c->err, never a failed command: the change stands. */
struct kura_notice;
void cmd_notify(const struct kura_cmd_ctx *c, const struct kura_notice *n);

/* ---- keys and deliveries (cmd_key.c) ---------------------------------------- */

/* The server keystore: the daemon's (env->ks) or opened here with the
 * passphrase kuractl was given; *owned says whether to close it. */
struct kura_keystore;
int cmd_keystore_open(const struct kura_cmd_ctx *c, struct kura_keystore **ks, bool *owned, struct kura_err *e);

/* The public key deliveries are encrypted to, as kuractl pubkey prints it:
 * the current server key (ds_id NULL) or dataset ds_id's delivery key.
 * *text is malloc'd. */
int cmd_pubkey_text(const struct kura_cmd_ctx *c, const char *ds_id, char **text, struct kura_err *e);

/* The destruction report's section on keys: which were erased (the
 * dataset's delivery key, retired server keys) and every delivery of the
 * dataset in its ledger that was encrypted to a key that still exists.
 * Called before the dataset's keys go. */
int cmd_delivery_report(const struct kura_cmd_ctx *c, FILE *f, const char *ds_id, struct kura_err *e);

/* ---- paths (cmd_state.c) --------------------------------------------------- */

/* STATE/datasets, STATE/datasets/<ID>, STATE/datasets/<ID>/NAME, STATE/store/<ID> */
char *cmd_datasets_dir(const struct kura_cmd_ctx *c);
char *cmd_dataset_dir(const struct kura_cmd_ctx *c, const char *id);
char *cmd_dataset_file(const struct kura_cmd_ctx *c, const char *id, const char *name);
char *cmd_store_dir(const struct kura_cmd_ctx *c, const char *id);

/* The dataset ids under STATE/datasets, sorted (dot names are kura's own);
 * none is not an error. Free with cmd_strv_free. */
int cmd_dataset_ids(const struct kura_cmd_ctx *c, char ***ids, size_t *n, struct kura_err *e);
void cmd_strv_free(char **v, size_t n);
/* strcmp of two char * array elements, for qsort and bsearch. */
int cmd_cmp_str(const void *a, const void *b);

/* ---- roles (cmd_state.c) ---------------------------------------------------- */

/* The actor is the PI of ds: their uid and account name are those recorded. */
bool cmd_actor_is_pi(const struct kura_cmd_ctx *c, const struct kura_dataset *ds);

/* Refuses (says why, -1) an actor who is no operator: the role check of a
 * server-wide change (one dataset's changes check in cmd_txn_begin). */
int cmd_require_operator(const struct kura_cmd_ctx *c);

/* ---- use of a dataset, from the audit log (cmd_usage.c) --------------------- */

struct cmd_user_usage {
    char user[KURA_USER_MAX + 1];
    int64_t uid;
    uint64_t opens, refused, bytes;
    uint64_t read_throughs;         /* allowed reads through another process's open (a reader's
                                       record, audit.h): no open of the user's, not in opens */
    int64_t first_ms, last_ms;      /* allowed opens and read-throughs; 0: none */
    int64_t last_refused_ms;        /* 0: none */
    const char *path;               /* cmd_usage_scan_files: the file (one of paths); else NULL */
    size_t listing;                 /* cmd_usage_scan with listings: cmd_listing_of's; else 0 */
};
/* An incident the log recorded for the dataset: a bulk-read alert, a
 * suspension or its end, a server-wide lockdown or unlock. */
struct cmd_usage_event {
    int64_t time_ms;
    int event;                      /* enum kura_audit_event */
    char user[KURA_USER_MAX + 1];
    char reason[64];
    char detail[256];
    int64_t bytes;                  /* KURA_AUDIT_ABSENT: none */
};
/* Where a log a report read starts: the single server's, or one node's in
 * cluster mode (each node numbers its own records). */
struct cmd_log_node {
    char name[KURA_CLUSTER_NODE_MAX]; /* cluster mode: the node; else "" */
    uint64_t first_seq;             /* the first record read; 0: none */
    uint64_t last_seq;              /* the last record taken */
    uint64_t missing_within;        /* records missing between the first and the last: a seq
                                       skipped (a rotated file lost or moved away) */
    int64_t missing_before_ms;      /* the log holds no record before this time: it starts after
                                       seq 1 (retention removed the rest, or it is lost); 0: whole */
};
/* cmd_audit_records.c: where the log a report read starts. */
struct cmd_log_span {
    struct cmd_log_node whole;      /* the single server's log */
    struct cmd_log_node *nodes;     /* cluster mode: each node's, in the order read */
    size_t nnodes, nodes_cap;
    bool nomem;                     /* a node's could not be kept */
};
/* Handles opened and not closed yet, as a scan of the log finds them
 * (cmd_handles.c): each an allowed open that holds a handle, ended by the
 * close of the same user id, process, dataset and file. Oldest first. */
struct cmd_handle {
    char *user, *dataset, *path;
    int64_t uid, pid, time_ms;
    size_t row;                     /* the caller's: its row of the open */
};
struct cmd_handles {
    struct cmd_handle *v;
    size_t n, cap;
};
/* r is an allowed open with a handle of its own (not a reader's record). */
bool cmd_handle_held(const struct kura_audit_record *r);
/* Adds the handle r opened; -1: out of memory. */
int cmd_handles_add(struct cmd_handles *h, const struct kura_audit_record *r, size_t row);
/* The index of the latest handle close record r ends; -1: none. */
ptrdiff_t cmd_handles_closed_by(const struct cmd_handles *h, const struct kura_audit_record *r);
void cmd_handles_remove(struct cmd_handles *h, size_t i);
void cmd_handles_free(struct cmd_handles *h);
struct cmd_usage {
    struct cmd_user_usage *users;
    size_t n, cap;
    struct cmd_usage_event *events;     /* cmd_usage_scan only */
    size_t nevents, events_cap;
    struct cmd_handles unclosed;    /* cmd_usage_scan only: opens of the period whose close the log does
                                       not hold in it (the bytes read through them in no figure yet) */
    uint64_t last_seq;              /* the log's last record when read */
    struct cmd_log_span span;
    char last_mac[2 * 32 + 1];
    char last_node[KURA_CLUSTER_NODE_MAX]; /* cluster mode: the node of that record; else "" */
};
/* Takes every record read (file as cmd_audit_each gives it): notes the
 * first record of the log, of each node's in cluster mode, and counts the
 * records missing between it and the last (audit verify names them). */
void cmd_log_span_take(struct cmd_log_span *sp, bool cluster, const struct kura_audit_entry *e, const char *file);
void cmd_log_span_free(struct cmd_log_span *sp);
/* The report's items of the log it read: to last_seq, from the first
 * record; when the log starts after seq 1 later than from (seconds), the
 * time before which it holds nothing (else "none"); the records missing
 * within (cmd_report.c). In cluster mode each item gives every node's own
 * value, named ("n1: 40, n2: 12"): one node's seq says nothing of another's. */
void cmd_report_log_items(const struct kura_cmd_ctx *c, struct kura_report *r, const struct cmd_log_span *sp,
                          uint64_t last_seq, int64_t from);
/* cmd_audit_records.c: every audit record the commands read, through fn
 * (as kura_audit_read: a non-zero return stops and is returned), from
 * this server's log or, in cluster mode, from the central store (file then
 * names the node, line is the seq). */
int cmd_audit_each(const struct kura_cmd_ctx *c, kura_audit_read_fn fn, void *ctx, struct kura_err *e);
/* [cluster] database is set. */
bool cmd_cluster_mode(const struct kura_cmd_ctx *c);
/* A connection to the cluster's database for a read or the operator
 * register: the daemon's is its node's, named "kura node NAME TASK" in
 * pg_stat_activity; kuractl's is "kuractl". */
int cmd_cluster_connect(const struct kura_cmd_ctx *c, const char *task, struct kura_cluster **out,
                        struct kura_err *e);
/* Opens and closes of dataset in [from_ms, to_ms) (to_ms 0: no end), and
 * its incidents (events); with listings (may be NULL), one row per user
 * and listing their records fall in. */
int cmd_usage_scan(const struct kura_cmd_ctx *c, const char *dataset, const struct cmd_listings *listings,
                   int64_t from_ms, int64_t to_ms, struct cmd_usage *out, struct kura_err *e);
/* The same for some files of dataset only (paths sorted by strcmp, as
 * served below the dataset), over the whole log: one row per user and file. */
int cmd_usage_scan_files(const struct kura_cmd_ctx *c, const char *dataset, const char *const *paths, size_t npaths,
                         struct cmd_usage *out, struct kura_err *e);
const struct cmd_user_usage *cmd_usage_find(const struct cmd_usage *u, const char *user, int64_t uid, size_t listing);
void cmd_usage_free(struct cmd_usage *u);

/* ---- the caller's rights (cmd_caller.c) ------------------------------------- */

/* In socket mode, files named by a non-root caller are opened and removed
 * with the caller's file-system identity, in tight enter/leave scopes. */
struct cmd_caller {
    bool active;                /* false in direct mode: nothing to switch */
    uid_t uid;
    gid_t gid;
    size_t ngroups;
    gid_t *groups;
    size_t nsaved;
    gid_t saved[1024];
    struct __user_cap_data_struct caps[2];   /* the thread's own, restored on leave */
};
int cmd_caller_init(const struct kura_cmd_ctx *c, struct cmd_caller *cl, struct kura_err *e);
/* A file the daemon opens for a caller must be named absolutely: the
 * daemon's working directory is not the caller's (kuractl makes the paths
 * it parses absolute; one after "--" or in --opt=VALUE arrives as typed).
 * Sets e and returns -1 for a relative path in socket mode. */
int cmd_caller_path_check(const struct kura_cmd_ctx *c, const char *what, const char *path, struct kura_err *e);
void cmd_caller_free(struct cmd_caller *cl);
int cmd_caller_enter(struct cmd_caller *cl, struct kura_err *e);
void cmd_caller_leave(struct cmd_caller *cl);   /* aborts if the daemon's rights do not come back */

/* ---- the change transaction (cmd_state.c) ------------------------------------ */

struct cmd_txn {
    char *id;
    char *dir;                  /* STATE/datasets/<ID> */
    int lock_fd;
    bool have_ds;
    struct kura_dataset ds;     /* as loaded; the command edits it */
    struct kura_file *files;    /* loaded on request */
    size_t nfiles;
    struct kura_cluster *cluster;   /* cluster mode, a change: holds the cluster's lock */
    int64_t epoch;                  /* the change's pending epoch (0: none) */
    bool restricted;                /* the nodes were told what it forbids (cmd_cluster_restrict) */
    const struct kura_cmd_ctx *locker;  /* the command holding the cluster lock (cmd_cluster_lock) */
};

/* cmd_txn_begin's what */
#define CMD_TXN_FILES 0x1u          /* load files.tsv too */
#define CMD_TXN_DESTROYED_OK 0x2u   /* a destroyed dataset too (destroy itself, reports, listings) */
#define CMD_TXN_LEDGER 0x4u         /* not a change, but appends to the ledger (report checklist):
                                       the cluster's lock too, as a change takes it */
#define CMD_TXN_VIEW 0x8u           /* a view (a listing, a report): the locks are let go once
                                       what it reads of the dataset is loaded, so that no change
                                       of it (a withdrawal) waits while it reads the audit log */

/* The opening of every change and view of one dataset: checks that the
 * actor holds role in it (KURA_CMD_OPERATOR; KURA_CMD_PI: its PI or an
 * operator; KURA_CMD_PI_ONLY: its PI alone), before the lock and again
 * under it; locks it (waiting a bounded time), finishes an interrupted
 * change if one is pending, loads dataset.ini (and files.tsv with
 * CMD_TXN_FILES), and refuses a destroyed dataset unless
 * CMD_TXN_DESTROYED_OK; with CMD_TXN_VIEW it then lets go of the locks (a
 * view prints the state it loaded). Prints the reason and returns -1 on
 * error. */
int cmd_txn_begin(const struct kura_cmd_ctx *c, const char *id, enum kura_cmd_role role, unsigned what,
                  struct cmd_txn *t);
/* The opening of a manager's view of one dataset (ID [--json]: user list,
 * dataset files, ledger): parsed, begun, the caller the dataset's PI or an
 * operator. KURA_EXIT_OK with t begun (end it), or the exit status. */
int cmd_begin_listing(const struct kura_cmd_ctx *c, int argc, char **argv, bool with_files, bool *json,
                      struct cmd_txn *t);


/* What a change was, for the ledger and the audit log. */
struct cmd_change {
    const char *action;         /* "user-add", "dataset-suspend", ... */
    const char *target;         /* the user, sample, ... or NULL */
    const char *before;         /* short text of the old value, or NULL */
    const char *after;
    const char *detail;         /* reference, reason, approval, ... or NULL */
    int audit_event;            /* enum kura_audit_event */
    /* Cluster mode: what the change is about to forbid, told to the nodes
     * before its durable steps (restriction first); NULL: a change whose
     * subject no restriction states (it takes the usual path only). */
    const struct kura_restriction *restriction;
};

/* Commits t->ds (if save_ds) and t->files (if save_files) with the change
 * recorded in the ledger: journal, atomic writes, ledger append, journal
 * removed; then the audit record and the daemon notification. A crash at
 * any point leaves the change applied and recorded, or neither (the next
 * transaction finishes or drops it). Prints errors; returns 0 or -1. */
int cmd_txn_commit(const struct kura_cmd_ctx *c, struct cmd_txn *t, bool save_ds, bool save_files,
                   const struct cmd_change *ch);

/* Appends the change to the audit log (the daemon's, or opened for this
 * change); a failure is a warning on err: the ledger has the change. */
void cmd_audit_change(const struct kura_cmd_ctx *c, const char *dataset_id, const struct cmd_change *ch);

/* Unlocks and frees. Safe after a failed begin. */
void cmd_txn_end(struct cmd_txn *t);

/* ---- a change across a cluster's nodes (cmd_cluster.c) ----------------------
 * The hooks of the change transaction; each does nothing on a single server.
 * lock: cmd_txn_begin of a change, before the dataset's lock: the
 *   cluster's lock, and pending epochs of killed changes resolved;
 * stamp: before the state file is formatted: a pending epoch in
 *   t->epoch, recorded with the file that will carry it (durable before
 *   the file is written), and stamped into t->ds for dataset.ini; the
 *   caller writes t->epoch into files.tsv or the lockdown file;
 * announce: after the commit (written: the state file was replaced): the
 *   epoch done and announced, then wait until every live node applied it
 *   or its lease ended (aborted if not written); a change without a stamp
 *   is announced unstamped: nodes reload;
 * stamp_key: stamp for key rotate and retire, before the keystore
 *   changes: the row names the key the change makes current or retires;
 * settle: after a change failed part way: its pending epoch decided from
 *   the shared state as a killed kuractl's is, and waited for if made;
 * Server-wide changes (lockdown, unlock, key rotate, key retire) use lock,
 * a stamp, announce and unlock with a cmd_txn of their own.
 * unlock: cmd_txn_end. */
int cmd_cluster_lock(const struct kura_cmd_ctx *c, struct cmd_txn *t);
int cmd_cluster_stamp(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action,
                      enum kura_cluster_stamp stamp);
int cmd_cluster_stamp_key(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action,
                          enum kura_cluster_stamp stamp, const char *fingerprint);
int cmd_cluster_announce(const struct kura_cmd_ctx *c, struct cmd_txn *t, const char *action, bool written);
int cmd_cluster_settle(const struct kura_cmd_ctx *c, struct cmd_txn *t);
/* restrict: under the lock, once the change is validated and before its
 *   stamp: tells the nodes what it is about to forbid (once per change;
 *   a failure only warns: the change still reaches the nodes when made);
 *   unlock then tells them it is over. */
void cmd_cluster_restrict(const struct kura_cmd_ctx *c, struct cmd_txn *t, const struct kura_restriction *r);
/* A restriction of kind in dataset (NULL for ALL): uid and user for USER,
 * sample for SAMPLE. */
struct kura_restriction cmd_restriction(enum kura_restrict_kind kind, const char *dataset, uid_t uid,
                                        const char *user, const char *sample);
/* What the keystore's files hold of server key fp (a keystore that does
 * not list holds none of it): how resolve_pending decides key changes. */
enum kura_cluster_key_held cmd_key_on_disk(const char *keys_dir, const char *fp);
void cmd_cluster_unlock(struct cmd_txn *t);

#endif
