/* The data model shared by state files, policy, the mount and kuractl.
 * Times are Unix seconds (int64_t). Every period is half-open [from, until):
 * a date range FROM..TO given in the configured zone becomes from = first
 * second of FROM, until = first second of the day after TO. */
#ifndef KURA_MODEL_H
#define KURA_MODEL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KURA_ID_MAX 64      /* dataset and sample ids */
#define KURA_USER_MAX 32    /* Unix user names */
#define KURA_TEXT_MAX 256   /* titles, reasons, references */
#define KURA_FILE_ID_LEN 32 /* opaque store ids: 32 hex characters */
#define KURA_HOST_ID_LEN 64 /* hex SHA-256 of the machine identity */
#define KURA_DATE_LEN 10    /* YYYY-MM-DD */

enum kura_kind { KURA_KIND_JGA, KURA_KIND_AGD };
enum kura_level { KURA_LEVEL_TYPE1 = 1, KURA_LEVEL_TYPE2 = 2 };
/* Stored status; "expired" is not stored, it follows from the period. */
enum kura_ds_status { KURA_DS_ACTIVE, KURA_DS_SUSPENDED, KURA_DS_DESTROYED };
enum kura_role { KURA_ROLE_PI, KURA_ROLE_CO_INVESTIGATOR, KURA_ROLE_CONTRACTOR };
/* Copy-out guard: refuse listed tools (default), or allow only listed tools
 * (the default for Type II). */
enum kura_guard_mode { KURA_GUARD_DENYLIST, KURA_GUARD_ALLOWLIST };

struct kura_grant {
    char user[KURA_USER_MAX + 1];
    uid_t uid;                 /* recorded when added: with user, the account as it was then */
    enum kura_role role;
    int64_t from, until;       /* never outside the dataset's period */
    char approval[KURA_TEXT_MAX]; /* data provider's approval (AGD) */
    int64_t added_at;
    char added_by[KURA_USER_MAX + 1];
    /* Separation of duties: a grant an operator made to an operator, to
     * root or to themselves serves nothing until the PI approves it. */
    bool pending;
    char approved_by[KURA_USER_MAX + 1]; /* the PI who approved it, or "" */
    /* The NBDC paperwork (issue 18), "" when not recorded: the user's
     * institution and e-mail address, and the day (YYYY-MM-DD) they
     * completed training / acknowledged the guidelines. */
    char institution[KURA_TEXT_MAX];
    char email[KURA_TEXT_MAX];
    char trained[KURA_DATE_LEN + 1];
};

struct kura_withdrawal {
    char sample[KURA_ID_MAX + 1];
    char ref[KURA_TEXT_MAX];
    int64_t at;
};

struct kura_dataset {
    char id[KURA_ID_MAX + 1];
    char title[KURA_TEXT_MAX];
    enum kura_kind kind;
    enum kura_level level;
    char pi[KURA_USER_MAX + 1];
    uid_t pi_uid;
    int64_t from, until;
    enum kura_ds_status status;
    char status_reason[KURA_TEXT_MAX];     /* why suspended / destroyed */
    char host_id[KURA_HOST_ID_LEN + 1];    /* the server it was imported on */
    enum kura_guard_mode guard;
    /* Cluster mode: the change epoch that wrote this file (docs/cluster.md),
     * so a node can tell a stale cached copy from the change it was told
     * of; 0 (not written) on a single server. */
    int64_t epoch;
    /* The ethics review board's approval (issue 18): its reference and the
     * first instant after it ends; "" and 0 when none is recorded. */
    char ethics[KURA_TEXT_MAX];
    int64_t ethics_until;
    size_t ngrants;
    struct kura_grant *grants;
    size_t nwithdrawals;
    struct kura_withdrawal *withdrawals;
};

struct kura_file {
    char *path;                 /* as served below MOUNT/<ID>/, no leading '/' */
    char file_id[KURA_FILE_ID_LEN + 1];
    uint64_t size;              /* plaintext size served (edit list applied) */
    size_t nsamples;
    char **samples;
};

/* The server-wide facts the decision needs. */
struct kura_server {
    bool lockdown;
    /* A cluster node that may not serve: its lease ended, or it has not
     * caught up with the latest change since (always false on a single
     * server). The daemon knows; the decision is told. */
    bool lease_ended;
    const char *host_id;        /* this machine's identity */
    enum kura_level level;      /* highest level this server is declared for */
    /* Login accounts: a listed uid outside [min, max] other than root is a
     * system account, no person's, and is served nothing (issue 13). */
    uid_t login_uid_min, login_uid_max;
    /* [server] require_training: a grant without a training date reads nothing. */
    bool require_training;
};

const char *kura_kind_name(enum kura_kind k);        /* "JGA" */
const char *kura_level_name(enum kura_level l);      /* "type1" */
const char *kura_role_name(enum kura_role r);        /* "co-investigator" */
const char *kura_ds_status_name(enum kura_ds_status s); /* "active" */
const char *kura_guard_mode_name(enum kura_guard_mode g); /* "denylist" */
int kura_kind_parse(const char *s, enum kura_kind *out);
int kura_level_parse(const char *s, enum kura_level *out);
int kura_role_parse(const char *s, enum kura_role *out);
int kura_ds_status_parse(const char *s, enum kura_ds_status *out);
int kura_guard_mode_parse(const char *s, enum kura_guard_mode *out);

/* Lookups; NULL when absent. */
const struct kura_grant *kura_dataset_grant(const struct kura_dataset *ds, uid_t uid);
bool kura_dataset_sample_withdrawn(const struct kura_dataset *ds, const char *sample);
bool kura_file_withdrawn(const struct kura_dataset *ds, const struct kura_file *f);
/* A dataset imported without a samples map: it has files and none names a
 * sample, so no withdrawal can find any of them. */
bool kura_files_no_sample_map(const struct kura_file *files, size_t n);

/* Free what a dataset / file owns (not the struct itself); safe on zeroed structs. */
void kura_dataset_clear(struct kura_dataset *ds);
void kura_file_clear(struct kura_file *f);

#endif
