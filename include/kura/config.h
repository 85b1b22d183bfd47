/* kura.conf: where everything lives and the server-wide settings. Every
 * key is documented in config/kura.conf.example (the text
 * kura_config_default_text(NULL) produces; a unit test keeps them equal).
 * Parsing is strict (see inifile.h): unknown sections or keys, repeated
 * keys and bad values are refused with "FILE:LINE: what is wrong". */
#ifndef KURA_CONFIG_H
#define KURA_CONFIG_H
#include <stdbool.h>
#include <stddef.h>

#include "kura/cluster.h"
#include "kura/error.h"
#include "kura/model.h"
#include "kura/zone.h"

#define KURA_CONFIG_DEFAULT_PATH "/etc/kura/kura.conf"
#define KURA_CONFIG_ENV "KURA_CONFIG"
#define KURA_MACHINE_ID_PATH "/etc/machine-id"
#define KURA_LOGIN_DEFS_PATH "/etc/login.defs"
#define KURA_CONFIG_FILE_MAX (1u << 20)
#define KURA_TOOL_NAME_MAX 64       /* one guard list entry */
#define KURA_CONFIG_PATH_MAX 3072   /* leaves room below PATH_MAX for what kura appends */
#define KURA_SOCKET_PATH_MAX 107    /* sun_path holds 108 bytes with the NUL */
#define KURA_MAX_OPEN_PER_USER_DEFAULT 1024u
#define KURA_MAX_OPEN_PER_USER_MAX 100000u
#define KURA_WARN_DAYS_MAX 8          /* reminders before an end */
#define KURA_RETENTION_YEARS_MAX 100  /* [audit] retention_years */

struct kura_config {
    char *file;                 /* the file it came from */
    /* [paths]: absolute, no trailing '/' */
    char *root;                 /* NULL unless set */
    char *state_dir, *keys_dir, *audit_log, *socket;
    /* [server] */
    enum kura_level level;
    char *timezone;
    const struct kura_zone *zone; /* timezone, resolved at load; zone.h keeps it past kura_config_free */
    char host_id[KURA_HOST_ID_LEN + 1]; /* configured, or derived from the machine id */
    bool host_id_configured;
    unsigned login_uid_min, login_uid_max; /* 0: from login.defs (kura_config_login_uids) */
    unsigned max_open_per_user; /* open files one user may hold on the mount */
    bool require_training;      /* a grant without a training date reads nothing */
    /* [guard]: executable base names */
    size_t ndeny, nallow;
    char **deny, **allow;
    unsigned alert_refusals;     /* guard refusals per user and hour before a guard-burst alert; 0: none */
    /* [audit] */
    bool syslog;
    unsigned bulk_read_multiple; /* 0: no bulk-read alert */
    unsigned max_size_mb;        /* 0: no rotation */
    unsigned refusals_per_hour;  /* refusal records per user and dataset; the rest in summaries */
    unsigned reserve_mb;         /* of the log's file system, kept from refusals */
    unsigned retention_years;    /* rotated files kept after their last record; 0: for ever */
    int summary_weekday;         /* the weekly summary's day, 0 Sunday .. 6 Saturday; -1: none */
    /* [revocation] */
    unsigned grace_days;
    bool auto_destroy;
    unsigned warn_days[KURA_WARN_DAYS_MAX]; /* days before an end, largest first */
    size_t nwarn_days;                      /* 0: no reminders before ends */
    char *notify_command;        /* "" when unset */
    bool end_processes;          /* kill what holds a file its user may no longer read */
    /* [metrics] */
    char *metrics_textfile;      /* "" when unset: no metrics */
    char *metrics_group;         /* "" when unset: the file is 0644; else 0640, this group's */
    unsigned metrics_interval;   /* seconds */
    /* [report] */
    char report_lang[5];         /* "auto" (ja for JGA and AGD), "ja" or "en" */
    /* [cluster] */
    char *cluster_database;      /* libpq connection string; "": a single server */
    char *cluster_node;          /* with a database: the host name unless set */
    unsigned cluster_lease_seconds;
    unsigned cluster_answer_seconds; /* a statement's wait for an answer */
    /* With a database: the state directory's cluster (kura_config_load
     * reads it; "" until kuractl cluster init binds it). When set, host_id
     * is the cluster's (kura_cluster_host_id), not the machine's. */
    char cluster_id[KURA_CLUSTER_ID_LEN + 1];
};

/* The config file to use: option (-c FILE) if given, else $KURA_CONFIG if
 * set and non-empty, else /etc/kura/kura.conf. */
const char *kura_config_path(const char *option);

/* [cluster] answer_seconds in ms; for a node's own connections (its lease
 * and restriction threads, the check of its kept session) no longer than
 * a lease, which has ended by then anyway. */
int kura_config_answer_ms(const struct kura_config *cfg);
int kura_config_node_answer_ms(const struct kura_config *cfg);

/* Loads and validates path. A world-writable file is refused (EPERM):
 * whoever can edit it can redirect state and disable the guard. When
 * [server] host_id is absent, it is derived from /etc/machine-id; in
 * cluster mode a state directory bound to a cluster gives it instead. */
int kura_config_load(const char *path, struct kura_config *cfg, struct kura_err *err);
/* The same from memory; name is used in messages, machine_id_path is
 * where an absent host_id is derived from. */
int kura_config_parse(const char *name, const char *text, size_t len, const char *machine_id_path,
                      struct kura_config *cfg, struct kura_err *err);
void kura_config_free(struct kura_config *cfg); /* safe on a zeroed struct */

/* The commented default config, malloc'd. With root (absolute), every path
 * is under it: ROOT/lib, ROOT/lib/keys, ROOT/log/audit.jsonl,
 * ROOT/run/ctl.sock. */
char *kura_config_default_text(const char *root, struct kura_err *err);
/* Writes that text to path: exclusive create (an existing file is never
 * replaced: EEXIST), mode 0644, fsynced. */
int kura_config_write_default(const char *path, const char *root, struct kura_err *err);

/* Hex SHA-256 (lowercase) of the machine id in path (/etc/machine-id): its
 * first line without the line end; an empty id is refused. */
int kura_host_id_from_file(const char *path, char out[KURA_HOST_ID_LEN + 1], struct kura_err *err);

/* The uids of login accounts, the only ones a dataset may list: [server]
 * login_uid_min/max, else UID_MIN/UID_MAX of login_defs
 * (KURA_LOGIN_DEFS_PATH), else 1000 and 60000. */
void kura_config_login_uids(const struct kura_config *cfg, const char *login_defs, uid_t *min, uid_t *max);
/* True if s is 64 lowercase hex digits (a host id). */
bool kura_host_id_valid(const char *s);

#endif
