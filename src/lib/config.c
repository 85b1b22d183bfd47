#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/cluster.h"
#include "kura/config.h"
#include "kura/fsutil.h"
#include "kura/guard.h"
#include "kura/layout.h"
#include "kura/inifile.h"
#include "kura/text.h"
#include "kura/when.h"

#define DEFAULT_ALLOW                                                                                          \
    "cat less more head tail samtools bcftools tabix bgzip python3 python R Rscript zcat gzip grep awk sed "   \
    "file md5sum sha256sum"
#define NUMBER_MAX 1000000u
#define LOGIN_UID_LIMIT 999999999u /* parse_number reads at most nine digits */

enum key_id {
    K_ROOT, K_STATE_DIR, K_KEYS_DIR, K_AUDIT_LOG, K_SOCKET,
    K_LEVEL, K_TIMEZONE, K_HOST_ID, K_UID_MIN, K_UID_MAX, K_MAX_OPEN, K_REQUIRE_TRAINING,
    K_DENY, K_ALLOW, K_ALERT_REFUSALS,
    K_SYSLOG, K_BULK, K_MAX_SIZE, K_REFUSALS, K_RESERVE, K_RETENTION, K_SUMMARY_DAY,
    K_GRACE, K_AUTO_DESTROY, K_WARN, K_NOTIFY, K_END_PROCESSES,
    K_METRICS_FILE, K_METRICS_GROUP, K_METRICS_INTERVAL,
    K_REPORT_LANG,
    K_CLUSTER_DB, K_CLUSTER_NODE, K_CLUSTER_LEASE, K_CLUSTER_ANSWER,
    K_COUNT
};

static const struct {
    const char *section, *key;
} key_table[K_COUNT] = {
    [K_ROOT] = {"paths", "root"},
    [K_STATE_DIR] = {"paths", "state_dir"},
    [K_KEYS_DIR] = {"paths", "keys_dir"},
    [K_AUDIT_LOG] = {"paths", "audit_log"},
    [K_SOCKET] = {"paths", "socket"},
    [K_LEVEL] = {"server", "level"},
    [K_TIMEZONE] = {"server", "timezone"},
    [K_HOST_ID] = {"server", "host_id"},
    [K_UID_MIN] = {"server", "login_uid_min"},
    [K_UID_MAX] = {"server", "login_uid_max"},
    [K_MAX_OPEN] = {"server", "max_open_per_user"},
    [K_REQUIRE_TRAINING] = {"server", "require_training"},
    [K_DENY] = {"guard", "deny"},
    [K_ALLOW] = {"guard", "allow"},
    [K_ALERT_REFUSALS] = {"guard", "alert_refusals"},
    [K_SYSLOG] = {"audit", "syslog"},
    [K_BULK] = {"audit", "bulk_read_multiple"},
    [K_MAX_SIZE] = {"audit", "max_size_mb"},
    [K_REFUSALS] = {"audit", "refusals_per_hour"},
    [K_RESERVE] = {"audit", "reserve_mb"},
    [K_RETENTION] = {"audit", "retention_years"},
    [K_SUMMARY_DAY] = {"audit", "summary_weekday"},
    [K_GRACE] = {"revocation", "grace_days"},
    [K_AUTO_DESTROY] = {"revocation", "auto_destroy"},
    [K_WARN] = {"revocation", "warn_days"},
    [K_NOTIFY] = {"revocation", "notify_command"},
    [K_END_PROCESSES] = {"revocation", "end_processes"},
    [K_METRICS_FILE] = {"metrics", "textfile"},
    [K_METRICS_GROUP] = {"metrics", "group"},
    [K_METRICS_INTERVAL] = {"metrics", "interval_seconds"},
    [K_REPORT_LANG] = {"report", "lang"},
    [K_CLUSTER_DB] = {"cluster", "database"},
    [K_CLUSTER_NODE] = {"cluster", "node"},
    [K_CLUSTER_LEASE] = {"cluster", "lease_seconds"},
    [K_CLUSTER_ANSWER] = {"cluster", "answer_seconds"},
};

static const char *const sections[] = {"paths", "server", "guard", "audit", "revocation", "metrics", "report", "cluster"};
#define NSECTIONS (sizeof sections / sizeof sections[0])

struct load {
    struct kura_config *cfg;
    bool seen[K_COUNT];
    int line[K_COUNT];
    bool section_seen[NSECTIONS];
    char *path_raw[K_SOCKET + 1]; /* [paths] values, resolved once root is known */
};

int kura_config_answer_ms(const struct kura_config *cfg)
{
    return (int)cfg->cluster_answer_seconds * 1000;
}

int kura_config_node_answer_ms(const struct kura_config *cfg)
{
    unsigned s = cfg->cluster_answer_seconds < cfg->cluster_lease_seconds ? cfg->cluster_answer_seconds
                                                                          : cfg->cluster_lease_seconds;
    return (int)s * 1000;
}

const char *kura_config_path(const char *option)
{
    if (option)
        return option;
    const char *env = getenv(KURA_CONFIG_ENV);
    return env && *env ? env : KURA_CONFIG_DEFAULT_PATH;
}

bool kura_host_id_valid(const char *s)
{
    return strlen(s) == KURA_HOST_ID_LEN && kura_hex_lower(s, KURA_HOST_ID_LEN);
}

int kura_host_id_from_file(const char *path, char out[KURA_HOST_ID_LEN + 1], struct kura_err *err)
{
    char *data = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (kura_read_file(path, 4096, &data, &len, err) != 0)
        return -1;
    size_t n = 0;
    while (n < len && data[n] != '\n' && data[n] != '\r')
        n++;
    if (n == 0) {
        free(data);
        kura_err_set(err, EINVAL, "%s: empty machine id", path);
        return -1;
    }
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, (const unsigned char *)data, n);
    free(data);
    sodium_bin2hex(out, KURA_HOST_ID_LEN + 1, digest, sizeof digest);
    return 0;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void kura_config_free(struct kura_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->file);
    free(cfg->root);
    free(cfg->state_dir);
    free(cfg->keys_dir);
    free(cfg->audit_log);
    free(cfg->socket);
    free(cfg->timezone);
    free_list(cfg->deny, cfg->ndeny);
    free_list(cfg->allow, cfg->nallow);
    free(cfg->notify_command);
    free(cfg->cluster_database);
    free(cfg->cluster_node);
    free(cfg->metrics_textfile);
    free(cfg->metrics_group);
    memset(cfg, 0, sizeof *cfg);
}

static bool tool_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '+' || c == '-';
}

/* Splits a blank-separated list of executable base names. */
static int parse_tools(const char *value, char ***out, size_t *nout, struct kura_err *err)
{
    char **list = NULL;
    size_t n = 0;
    const char *p = value;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t len = 0;
        while (p[len] && p[len] != ' ' && p[len] != '\t')
            len++;
        const char *why = NULL;
        for (size_t i = 0; i < len && !why; i++)
            if (!tool_char(p[i]))
                why = p[i] == '/' ? "a program's base name, not a path" : "a character outside [A-Za-z0-9._+-]";
        if (!why && len > KURA_TOOL_NAME_MAX)
            why = "longer than 64 characters";
        if (!why && ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')))
            why = "not a program name";
        for (size_t i = 0; i < n && !why; i++)
            if (strlen(list[i]) == len && memcmp(list[i], p, len) == 0)
                why = "listed twice";
        if (why) {
            kura_err_set(err, EINVAL, "\"%.*s\": %s", (int)(len > 64 ? 64 : len), p, why);
            free_list(list, n);
            return -1;
        }
        char **grown = realloc(list, (n + 1) * sizeof *list);
        char *name = strndup(p, len);
        if (!grown || !name) {
            free(name);
            free_list(grown ? grown : list, n);
            kura_err_set(err, ENOMEM, "out of memory");
            return -1;
        }
        list = grown;
        list[n++] = name;
        p += len;
    }
    free_list(*out, *nout);
    *out = list;
    *nout = n;
    return 0;
}

static int parse_bool(const char *value, bool *out, struct kura_err *err)
{
    if (strcmp(value, "yes") == 0)
        *out = true;
    else if (strcmp(value, "no") == 0)
        *out = false;
    else {
        kura_err_set(err, EINVAL, "expected yes or no, got \"%.40s\"", value);
        return -1;
    }
    return 0;
}

static int parse_number(const char *value, unsigned max, unsigned *out, struct kura_err *err)
{
    uint64_t v;
    if (kura_parse_decimal(value, strlen(value), max, &v) != 0) {
        kura_err_set(err, EINVAL, "expected a whole number from 0 to %u, got \"%.40s\"", max, value);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* A number of seconds from min to max. */
static int parse_seconds(const char *value, unsigned min, unsigned max, unsigned *out, struct kura_err *err)
{
    if (parse_number(value, max, out, err) != 0)
        return -1;
    if (*out < min) {
        kura_err_set(err, EINVAL, "expected %u to %u seconds", min, max);
        return -1;
    }
    return 0;
}

static const char *const weekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* A day of the week (0 Sunday .. 6 Saturday, as struct tm), or off (-1). */
static int parse_weekday(const char *value, int *out, struct kura_err *err)
{
    if (strcmp(value, "off") == 0) {
        *out = -1;
        return 0;
    }
    for (int d = 0; d < 7; d++)
        if (strcmp(value, weekdays[d]) == 0) {
            *out = d;
            return 0;
        }
    kura_err_set(err, EINVAL, "expected sun, mon, tue, wed, thu, fri, sat or off, got \"%s\"", value);
    return -1;
}

/* "90,60,40" (spaces after the commas allowed), or one number as before
 * lists: each from 1 to 3650, all different; "0" alone: no reminders. */
static int parse_warn_days(const char *value, struct kura_config *cfg, struct kura_err *err)
{
    unsigned days[KURA_WARN_DAYS_MAX];
    size_t n = 0;
    char one[16];
    for (const char *p = value;; ) {
        size_t len = strcspn(p, ",");
        if (n == KURA_WARN_DAYS_MAX || len >= sizeof one) {
            kura_err_set(err, EINVAL, "expected at most %d numbers of days separated by commas, got \"%.40s\"",
                         KURA_WARN_DAYS_MAX, value);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (parse_number(one, 3650, &days[n], err) != 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (days[i] == days[n]) {
                kura_err_set(err, EINVAL, "%u days is listed twice", days[n]);
                return -1;
            }
        n++;
        if (!p[len])
            break;
        p += len + 1;
        p += strspn(p, " ");
    }
    if (n == 1 && days[0] == 0) {
        cfg->nwarn_days = 0;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (days[i] == 0) {
            kura_err_set(err, EINVAL, "0 days means no reminders and stands alone, got \"%.40s\"", value);
            return -1;
        }
    /* Largest first: the order reminders fall due in. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && days[j - 1] < days[j]; j--) {
            unsigned t = days[j];
            days[j] = days[j - 1];
            days[j - 1] = t;
        }
    memcpy(cfg->warn_days, days, n * sizeof *days);
    cfg->nwarn_days = n;
    return 0;
}

static int set_string(char **field, const char *value, struct kura_err *err)
{
    char *copy = strdup(value);
    if (!copy) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}

static int on_section(void *user, const char *section, int line, struct kura_err *err)
{
    (void)line;
    struct load *ld = user;
    for (size_t i = 0; i < NSECTIONS; i++)
        if (strcmp(section, sections[i]) == 0) {
            if (ld->section_seen[i]) {
                kura_err_set(err, EINVAL, "section [%s] appears twice", section);
                return -1;
            }
            ld->section_seen[i] = true;
            return 0;
        }
    char known[128];
    size_t at = 0;
    for (size_t i = 0; i < NSECTIONS && at < sizeof known; i++)
        at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "", sections[i]);
    kura_err_set(err, EINVAL, "unknown section [%.60s] (known: %s)", section, known);
    return -1;
}

static int set_key(struct load *ld, enum key_id k, const char *value, struct kura_err *err)
{
    struct kura_config *cfg = ld->cfg;
    switch (k) {
    case K_ROOT: case K_STATE_DIR: case K_KEYS_DIR: case K_AUDIT_LOG: case K_SOCKET:
        if (!*value) {
            kura_err_set(err, EINVAL, "empty path (leave the key out for the default)");
            return -1;
        }
        return set_string(&ld->path_raw[k], value, err);
    case K_LEVEL:
        if (kura_level_parse(value, &cfg->level) != 0) {
            kura_err_set(err, EINVAL, "expected type1 or type2, got \"%.40s\"", value);
            return -1;
        }
        return 0;
    case K_TIMEZONE:
        if (!(cfg->zone = kura_zone_get(value, err))) {
            if (err)
                err->code = EINVAL; /* a bad value, whatever the lookup said */
            return -1;
        }
        return set_string(&cfg->timezone, value, err);
    case K_HOST_ID:
        if (!kura_host_id_valid(value)) {
            kura_err_set(err, EINVAL, "expected 64 lowercase hex digits (leave it out to derive it from %s)",
                         KURA_MACHINE_ID_PATH);
            return -1;
        }
        memcpy(cfg->host_id, value, KURA_HOST_ID_LEN + 1);
        cfg->host_id_configured = true;
        return 0;
    case K_UID_MIN:
    case K_UID_MAX: {
        unsigned *out = k == K_UID_MIN ? &cfg->login_uid_min : &cfg->login_uid_max;
        if (parse_number(value, LOGIN_UID_LIMIT, out, err) != 0)
            return -1;
        if (*out == 0) {
            kura_err_set(err, EINVAL, "uid 0 is root, never a login account (leave the key out for %s)",
                         KURA_LOGIN_DEFS_PATH);
            return -1;
        }
        return 0;
    }
    case K_MAX_OPEN:
        if (parse_number(value, KURA_MAX_OPEN_PER_USER_MAX, &cfg->max_open_per_user, err) != 0)
            return -1;
        if (cfg->max_open_per_user == 0) {
            kura_err_set(err, EINVAL, "expected a whole number from 1 to %u, got 0", KURA_MAX_OPEN_PER_USER_MAX);
            return -1;
        }
        return 0;
    case K_REQUIRE_TRAINING:
        return parse_bool(value, &cfg->require_training, err);
    case K_DENY:
        return parse_tools(value, &cfg->deny, &cfg->ndeny, err);
    case K_ALLOW:
        return parse_tools(value, &cfg->allow, &cfg->nallow, err);
    case K_ALERT_REFUSALS:
        return parse_number(value, NUMBER_MAX, &cfg->alert_refusals, err);
    case K_SYSLOG:
        return parse_bool(value, &cfg->syslog, err);
    case K_BULK:
        return parse_number(value, 1000, &cfg->bulk_read_multiple, err);
    case K_MAX_SIZE:
        return parse_number(value, NUMBER_MAX, &cfg->max_size_mb, err);
    case K_REFUSALS:
        return parse_number(value, NUMBER_MAX, &cfg->refusals_per_hour, err);
    case K_RESERVE:
        return parse_number(value, NUMBER_MAX, &cfg->reserve_mb, err);
    case K_RETENTION:
        return parse_number(value, KURA_RETENTION_YEARS_MAX, &cfg->retention_years, err);
    case K_SUMMARY_DAY:
        return parse_weekday(value, &cfg->summary_weekday, err);
    case K_GRACE:
        return parse_number(value, 3650, &cfg->grace_days, err);
    case K_AUTO_DESTROY:
        return parse_bool(value, &cfg->auto_destroy, err);
    case K_END_PROCESSES:
        return parse_bool(value, &cfg->end_processes, err);
    case K_WARN:
        return parse_warn_days(value, cfg, err);
    case K_NOTIFY:
        if (*value && value[0] != '/') {
            kura_err_set(err, EINVAL, "the command must start with an absolute path");
            return -1;
        }
        return set_string(&cfg->notify_command, value, err);
    case K_METRICS_FILE:
        if (*value && value[0] != '/') {
            kura_err_set(err, EINVAL, "the metrics file must be an absolute path (empty: no metrics)");
            return -1;
        }
        if (strlen(value) > KURA_CONFIG_PATH_MAX) {
            kura_err_set(err, EINVAL, "the metrics file's path is longer than %d bytes", KURA_CONFIG_PATH_MAX);
            return -1;
        }
        return set_string(&cfg->metrics_textfile, value, err);
    case K_METRICS_GROUP:
        /* A group name as useradd and groupadd make them (the group is
         * looked up when kurafs writes the file: it may come later). */
        if (*value && (strlen(value) > 32 || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(value) ||
                       value[0] == '-' || (value[0] >= '0' && value[0] <= '9'))) {
            kura_err_set(err, EINVAL, "expected a group name (lower-case letters, digits, '_' and '-', not first; "
                                      "empty: none)");
            return -1;
        }
        return set_string(&cfg->metrics_group, value, err);
    case K_REPORT_LANG:
        if (strcmp(value, "auto") != 0 && strcmp(value, "ja") != 0 && strcmp(value, "en") != 0) {
            kura_err_set(err, EINVAL, "expected auto, ja or en");
            return -1;
        }
        snprintf(cfg->report_lang, sizeof cfg->report_lang, "%s", value);
        return 0;
    case K_METRICS_INTERVAL:
        return parse_seconds(value, 1, 3600, &cfg->metrics_interval, err);
    case K_CLUSTER_DB:
        return set_string(&cfg->cluster_database, value, err);
    case K_CLUSTER_NODE:
        if (*value && kura_cluster_node_check(value, err) != 0)
            return -1;
        return set_string(&cfg->cluster_node, value, err);
    case K_CLUSTER_LEASE:
        return parse_seconds(value, 2, 300, &cfg->cluster_lease_seconds, err);
    case K_CLUSTER_ANSWER:
        return parse_seconds(value, 1, 3600, &cfg->cluster_answer_seconds, err);
    case K_COUNT:
        break;
    }
    return -1;
}

static int on_key(void *user, const char *section, const char *key, const char *value, int line,
                  struct kura_err *err)
{
    struct load *ld = user;
    for (int k = 0; k < K_COUNT; k++) {
        if (strcmp(section, key_table[k].section) != 0 || strcmp(key, key_table[k].key) != 0)
            continue;
        if (ld->seen[k]) {
            kura_err_set(err, EINVAL, "%s set twice (first on line %d)", key, ld->line[k]);
            return -1;
        }
        ld->seen[k] = true;
        ld->line[k] = line;
        if (set_key(ld, (enum key_id)k, value, err) != 0) {
            kura_err_prefix(err, "%s", key);
            return -1;
        }
        return 0;
    }
    kura_err_set(err, EINVAL, "unknown key \"%.40s\" in [%.40s]", key, section);
    return -1;
}

/* dir + "/" + rel, malloc'd. */
static char *join(const char *dir, const char *rel)
{
    size_t n = strlen(dir) + 1 + strlen(rel) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", rel);
    return s;
}

/* Resolves one [paths] entry: configured (absolute, or under root) or default. */
static int resolve_path(struct load *ld, const char *name, enum key_id k, const char *dflt, char **out,
                        struct kura_err *err)
{
    const char *raw = ld->path_raw[k];
    const char *root = ld->cfg->root;
    char *p;
    if (!raw)
        p = strdup(dflt);
    else if (raw[0] == '/')
        p = strdup(raw);
    else if (root)
        p = join(root, raw);
    else {
        kura_err_set(err, EINVAL, "%s:%d: %s: relative path \"%.60s\" needs [paths] root", name, ld->line[k],
                     key_table[k].key, raw);
        return -1;
    }
    if (!p) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    size_t max = k == K_SOCKET ? KURA_SOCKET_PATH_MAX : KURA_CONFIG_PATH_MAX;
    if (len > max) {
        if (raw)
            kura_err_set(err, EINVAL, "%s:%d: %s: path longer than %zu bytes", name, ld->line[k],
                         key_table[k].key, max);
        else
            kura_err_set(err, EINVAL, "%s: default %s \"%.60s...\" is longer than %zu bytes; set it", name,
                         key_table[k].key, p, max);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

static int resolve_paths(struct load *ld, const char *name, struct kura_err *err)
{
    struct kura_config *cfg = ld->cfg;
    if (ld->path_raw[K_ROOT]) {
        if (ld->path_raw[K_ROOT][0] != '/') {
            kura_err_set(err, EINVAL, "%s:%d: root must be an absolute path", name, ld->line[K_ROOT]);
            return -1;
        }
        if (resolve_path(ld, name, K_ROOT, NULL, &cfg->root, err) != 0)
            return -1;
    }
    const char *root = cfg->root;
    char *d_state = root ? join(root, "lib") : strdup("/var/lib/kura");
    char *d_audit = root ? join(root, "log/audit.jsonl") : strdup("/var/log/kura/audit.jsonl");
    char *d_socket = root ? join(root, "run/ctl.sock") : strdup("/run/kura/ctl.sock");
    char *d_keys = NULL;
    int rc = -1;
    if (!d_state || !d_audit || !d_socket) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if (resolve_path(ld, name, K_STATE_DIR, d_state, &cfg->state_dir, err) != 0)
        goto out;
    d_keys = join(cfg->state_dir, KURA_KEYS_DIR_DEFAULT);
    if (!d_keys) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if (resolve_path(ld, name, K_KEYS_DIR, d_keys, &cfg->keys_dir, err) != 0 ||
        resolve_path(ld, name, K_AUDIT_LOG, d_audit, &cfg->audit_log, err) != 0 ||
        resolve_path(ld, name, K_SOCKET, d_socket, &cfg->socket, err) != 0)
        goto out;
    rc = 0;
out:
    free(d_state);
    free(d_audit);
    free(d_socket);
    free(d_keys);
    return rc;
}

/* A node is named by its host name unless [cluster] node says otherwise:
 * the short name, as sites name their compute nodes. */
static int cluster_node_from_host(struct kura_config *cfg, struct kura_err *err)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0) {
        kura_err_set(err, errno, "gethostname: %s", strerror(errno));
        return -1;
    }
    host[strcspn(host, ".")] = '\0';
    if (kura_cluster_node_check(host, err) != 0)
        return -1;
    return set_string(&cfg->cluster_node, host, err);
}

static int set_defaults(struct kura_config *cfg, struct kura_err *err)
{
    cfg->level = KURA_LEVEL_TYPE1;
    cfg->max_open_per_user = KURA_MAX_OPEN_PER_USER_DEFAULT;
    cfg->syslog = true;
    cfg->bulk_read_multiple = 1;
    cfg->max_size_mb = 0;
    cfg->refusals_per_hour = 100;
    cfg->alert_refusals = 20;
    cfg->reserve_mb = 16;
    cfg->retention_years = 5;
    cfg->summary_weekday = 1;
    cfg->grace_days = 30;
    cfg->auto_destroy = true;
    cfg->nwarn_days = 3;
    memcpy(cfg->warn_days, (unsigned[]){90, 60, 40}, sizeof(unsigned[3]));
    cfg->metrics_interval = 5;
    snprintf(cfg->report_lang, sizeof cfg->report_lang, "auto");
    cfg->cluster_lease_seconds = 5;
    cfg->cluster_answer_seconds = KURA_CLUSTER_ANSWER_SECONDS;
    if (set_string(&cfg->cluster_database, "", err) != 0 || set_string(&cfg->cluster_node, "", err) != 0 || set_string(&cfg->timezone, KURA_DEFAULT_TZ, err) != 0 || set_string(&cfg->notify_command, "", err) != 0 ||
        set_string(&cfg->metrics_textfile, "", err) != 0 || set_string(&cfg->metrics_group, "", err) != 0 ||
        parse_tools(KURA_GUARD_DEFAULT_DENY, &cfg->deny, &cfg->ndeny, err) != 0 ||
        parse_tools(DEFAULT_ALLOW, &cfg->allow, &cfg->nallow, err) != 0)
        return -1;
    return 0;
}

int kura_config_parse(const char *name, const char *text, size_t len, const char *machine_id_path,
                      struct kura_config *cfg, struct kura_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    struct load ld = {.cfg = cfg};
    int rc = -1;
    if (set_defaults(cfg, err) != 0 || set_string(&cfg->file, name, err) != 0)
        goto out;
    if (kura_ini_parse(name, text, len, on_section, on_key, &ld, err) != 0)
        goto out;
    if (resolve_paths(&ld, name, err) != 0)
        goto out;
    if (!cfg->zone && !(cfg->zone = kura_zone_get(cfg->timezone, err))) {
        kura_err_prefix(err, "%s: the default timezone", name);
        goto out;
    }
    if (cfg->login_uid_min && cfg->login_uid_max && cfg->login_uid_min > cfg->login_uid_max) {
        kura_err_set(err, EINVAL, "%s:%d: login_uid_min is above login_uid_max", name, ld.line[K_UID_MIN]);
        goto out;
    }
    if (!cfg->host_id_configured && kura_host_id_from_file(machine_id_path, cfg->host_id, err) != 0) {
        kura_err_prefix(err, "%s: no [server] host_id, and it cannot be derived", name);
        goto out;
    }
    if (*cfg->cluster_database && !*cfg->cluster_node && cluster_node_from_host(cfg, err) != 0) {
        kura_err_prefix(err, "%s: no [cluster] node, and the host name cannot be one", name);
        goto out;
    }
    rc = 0;
out:
    for (int k = 0; k <= K_SOCKET; k++)
        free(ld.path_raw[k]);
    if (rc != 0)
        kura_config_free(cfg);
    return rc;
}

int kura_config_load(const char *path, struct kura_config *cfg, struct kura_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & S_IWOTH)) {
        kura_err_set(err, EPERM, "%s is writable by every user; run: chmod o-w %s", path, path);
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(path, KURA_CONFIG_FILE_MAX, &text, &len, err) != 0) {
        if (err && err->code == ENOENT)
            kura_err_set(err, ENOENT, "%s does not exist; create it with: kuractl init (or give -c FILE)", path);
        return -1;
    }
    int rc = kura_config_parse(path, text, len, KURA_MACHINE_ID_PATH, cfg, err);
    free(text);
    /* Cluster binding replaces host binding (R-ACC-8): every node binds
     * and serves datasets under the cluster's identity. */
    int bound = rc == 0 && *cfg->cluster_database ? kura_cluster_id_load(cfg->state_dir, cfg->cluster_id, err) : 0;
    if (bound == 1)
        kura_cluster_host_id(cfg->cluster_id, cfg->host_id);
    if (bound < 0) {
        kura_config_free(cfg);
        return -1;
    }
    return rc;
}

/* A value written into the file must read back the same: one line, no
 * blanks at the ends (inih strips them), nothing the grammar refuses. */
static int root_writable(const char *root, struct kura_err *err)
{
    size_t len = strlen(root);
    if (root[0] != '/') {
        kura_err_set(err, EINVAL, "--root must be an absolute path");
        return -1;
    }
    if (len + strlen("/run/ctl.sock") > KURA_SOCKET_PATH_MAX) {
        kura_err_set(err, EINVAL, "--root is too long: ROOT/run/ctl.sock must fit in %d bytes (a socket name)",
                     KURA_SOCKET_PATH_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)root[i] < 0x20 || root[i] == 0x7F) {
            kura_err_set(err, EINVAL, "--root contains a control character");
            return -1;
        }
    if (root[len - 1] == ' ' || root[len - 1] == '\t' || !kura_utf8_valid(root, len)) {
        kura_err_set(err, EINVAL, "--root must be valid UTF-8 and not end with a blank");
        return -1;
    }
    return 0;
}

static const char default_head[] =
    "# kura.conf: settings of kura (kurafs and kuractl).\n"
    "#\n"
    "# Programs find this file by -c FILE, else $KURA_CONFIG, else /etc/kura/kura.conf.\n"
    "# Format: INI. \"key = value\" lines under [section] headers, both starting in\n"
    "# column 1. Comments are whole lines starting with '#' or ';' ('#' and ';'\n"
    "# inside a value belong to the value). An unknown section or key, a key set\n"
    "# twice or a bad value is refused with FILE:LINE, so a typo never falls back\n"
    "# to a default silently. A key left out (or commented out) takes the default\n"
    "# shown. The file must not be writable by every user.\n"
    "\n"
    "[paths]\n"
    "# Base directory for everything kura keeps (kuractl init --root DIR: tests,\n"
    "# demos). When set, the defaults below become ROOT/lib, ROOT/lib/keys,\n"
    "# ROOT/log/audit.jsonl and ROOT/run/ctl.sock, and relative paths are taken\n"
    "# from ROOT. Without root every path must be absolute.\n";

static const char default_tail[] =
    "\n"
    "[server]\n"
    "# Highest security level this server is declared for: type1 (standard) or\n"
    "# type2 (high). Datasets of type2 are refused on a type1 server (R-LVL-1).\n"
    "level = type1\n"
    "# Time zone (IANA name from tzdata) of dates typed as YYYY-MM-DD and of the\n"
    "# time stamps kura writes.\n"
    "timezone = " KURA_DEFAULT_TZ "\n"
    "# Identity datasets are bound to (R-ACC-8): 64 lowercase hex digits.\n"
    "# Default: the SHA-256 of /etc/machine-id. Set it only to move datasets to a\n"
    "# replacement server on purpose.\n"
    "#host_id =\n"
    "# Login accounts: only uids from login_uid_min to login_uid_max may be\n"
    "# listed in a dataset; system accounts (daemon, nobody, ...) are refused.\n"
    "# root may be listed only with the PI's approval. Default: UID_MIN and\n"
    "# UID_MAX of " KURA_LOGIN_DEFS_PATH " (1000 and 60000 when it sets none).\n"
    "#login_uid_min = 1000\n"
    "#login_uid_max = 60000\n"
    "# Files one user may hold open on the mount at once; an open beyond it is\n"
    "# refused (EMFILE) and logged, so one user cannot exhaust the daemon for\n"
    "# the others. Each open file costs the daemon locked memory (kura.conf(5)).\n"
    "# From 1 to 100000.\n"
    "max_open_per_user = 1024\n"
    "# yes: a grant needs the day its user completed the institution's security\n"
    "# training / acknowledged the guidelines (kuractl user add --trained DATE,\n"
    "# user update); a grant without it reads nothing (R-ACC-9). no: recorded\n"
    "# when given, not required.\n"
    "require_training = no\n"
    "\n"
    "[guard]\n"
    "# Copy-out guard (R-CPY-4), lists of program base names separated by blanks.\n"
    "# deny: refused on datasets in denylist mode (the default for type1); empty\n"
    "# refuses nothing.\n"
    "deny = " KURA_GUARD_DEFAULT_DENY "\n"
    "# allow: the only programs allowed on datasets in allowlist mode (the default\n"
    "# for type2); empty allows nothing.\n"
    "allow = " DEFAULT_ALLOW "\n"
    "# A user whose programs the guard refuses more than this many times in an\n"
    "# hour (all datasets together) raises one guard-burst alert and notice\n"
    "# (notify_command): someone is trying copy tools. 0 turns it off.\n"
    "alert_refusals = 20\n"
    "\n"
    "[audit]\n"
    "# Send every audit record to syslog (facility authpriv) as well, for the\n"
    "# site's collector (R-LOG-5): yes or no.\n"
    "syslog = yes\n"
    "# A user who reads, in one day (server time zone), this many times the size\n"
    "# of a whole dataset (all its files, over all opens) raises a bulk-read alert\n"
    "# (R-CPY-4): 1 catches one full copy. 0 turns the alert off. At most 1000.\n"
    "bulk_read_multiple = 1\n"
    "# Start a new audit log file when it grows past this many MiB; 0 never does.\n"
    "max_size_mb = 0\n"
    "# Refused opens, lookups and writes: each user gets this many records per\n"
    "# dataset (and as many outside any dataset) in an hour; the rest are counted\n"
    "# in a refusals summary record a minute, and the first one over raises a\n"
    "# refusal-flood alert. 0: every refusal is counted in summaries only.\n"
    "refusals_per_hour = 100\n"
    "# MiB of the audit log's file system that refusals may not use: kept for\n"
    "# allow, close and alert records, so a flood of refusals cannot stop serving.\n"
    "reserve_mb = 16\n"
    "# Years a rotated audit log file is kept after its last record (R-LOG-8):\n"
    "# kurafs then removes it, recording the removal in the log, and kuractl\n"
    "# audit verify checks the files kept against that record. The guidelines ask\n"
    "# for a retention period to be set (Unified Standard 7.1.4 (1)(b), ログの\n"
    "# 保存期間) but give no figure: 5 outlasts a dataset's use and the reports\n"
    "# after it; follow your institution's rule if it has one. A year counts 366\n"
    "# days. 0 keeps every file. At most 100.\n"
    "retention_years = 5\n"
    "# The day kurafs sends the audit log's summary of the week before it (per\n"
    "# dataset: users, opens, bytes read, refusals by reason, alerts) through\n"
    "# notify_command, for the guidelines' regular review of the access logs\n"
    "# (R-LOG-9): sun, mon, tue, wed, thu, fri or sat; off sends none.\n"
    "summary_weekday = mon\n"
    "\n"
    "[revocation]\n"
    "# Days after a dataset's usage period ends before its keys are destroyed\n"
    "# (R-REV-3). At most 3650.\n"
    "grace_days = 30\n"
    "# yes: destroy the keys when grace_days have passed; no: only by\n"
    "# kuractl dataset destroy.\n"
    "auto_destroy = yes\n"
    "# Remind the PI (and the user, for a grant) this many days before a usage\n"
    "# period, a grant or an ethics approval ends, once each (R-REV-2): the\n"
    "# guidelines want an extension asked for at least a month before the end.\n"
    "# Up to 8 numbers from 1 to 3650, separated by commas; 0: none.\n"
    "warn_days = 90,60,40\n"
    "# Program (absolute path, with arguments) run to deliver each notification:\n"
    "# reminders (expiry, ethics approval, yearly report) and ends of use,\n"
    "# consent withdrawals, destructions, new and pending grants, a change of\n"
    "# PI, refusal floods (KURA_EVENT, see kura.conf(5)); empty: they go to the\n"
    "# audit log and syslog only.\n"
    "notify_command =\n"
    "# yes: when access ends (a removal, a grant's or dataset's end, a\n"
    "# withdrawal, a suspension, a lockdown), kill every process that still\n"
    "# holds open or maps a file of the mount its user may no longer read,\n"
    "# each with a record: a private mapping reads, unrecorded, the pages a\n"
    "# listed user's reads bring back into the cache (docs/security.md).\n"
    "end_processes = no\n"
    "\n"
    "[metrics]\n"
    "# File kurafs writes its metrics to, in the Prometheus text format, replaced\n"
    "# whole every interval_seconds (no network listener). Debian's\n"
    "# prometheus-node-exporter collects the *.prom files of\n"
    "# /var/lib/prometheus/node-exporter: set\n"
    "#   textfile = /var/lib/prometheus/node-exporter/kura.prom\n"
    "# The file names no dataset, user or path, but its totals move with every\n"
    "# read (docs/security.md). Empty: no metrics.\n"
    "textfile =\n"
    "# Group that may read the file (Debian's exporter: prometheus): mode 0640,\n"
    "# out of other users' sight; the exporter must then serve it only with\n"
    "# authentication. Empty: mode 0644, readable by every user.\n"
    "group =\n"
    "# Seconds between two writes, 1 to 3600.\n"
    "interval_seconds = 5\n"
    "\n"
    "[report]\n"
    "# Language of the reports for people (kuractl report ... --lang overrides):\n"
    "# ja, en, or auto: Japanese for JGA and AGD datasets (the NBDC forms).\n"
    "lang = auto\n"
    "\n"
    "[cluster]\n"
    "# Cluster mode (docs/cluster.md): many nodes serve one state directory on a\n"
    "# shared file system, with PostgreSQL as the authority for changes, leases\n"
    "# and the central copy of the audit records. database is a libpq connection\n"
    "# string (no password in it: use ~/.pgpass or peer authentication); empty:\n"
    "# a single server, no database.\n"
    "database =\n"
    "# This node's name, unique in the cluster: letters, digits, '.', '-', '_'.\n"
    "# Default: the host name, up to its first dot.\n"
    "#node =\n"
    "# A node that cannot renew its lease for this many seconds refuses every\n"
    "# open and read until it has caught up. From 2 to 300.\n"
    "lease_seconds = 5\n"
    "# A statement the database does not answer within this many seconds fails\n"
    "# and its connection is given up (a frozen host, a path gone silent); a\n"
    "# node's own connections wait no longer than lease_seconds. From 1 to 3600.\n"
    "answer_seconds = 30\n";

char *kura_config_default_text(const char *root, struct kura_err *err)
{
    if (root && root_writable(root, err) != 0)
        return NULL;
    char *trimmed = root ? strdup(root) : NULL;
    if (root && !trimmed) {
        kura_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t n = trimmed ? strlen(trimmed) : 0; n > 1 && trimmed[n - 1] == '/';)
        trimmed[--n] = '\0';
    const char *r = trimmed, *sep = trimmed && strcmp(trimmed, "/") != 0 ? "/" : "";
    char *paths = NULL;
    int n;
    if (r)
        n = asprintf(&paths,
                     "root = %s\n"
                     "# State: datasets/<ID>/ (dataset.ini, files.tsv, ledger.jsonl) and store/<ID>/\n"
                     "# (encrypted payloads).\n"
                     "state_dir = %s%slib\n"
                     "# Keystore: server key, dataset keys, file headers. Root only (0700).\n"
                     "keys_dir = %s%slib/keys\n"
                     "# Access log: JSON Lines, hash-chained (kuractl audit verify).\n"
                     "audit_log = %s%slog/audit.jsonl\n"
                     "# Control socket of the running kurafs; at most %d bytes.\n"
                     "socket = %s%srun/ctl.sock\n",
                     r, r, sep, r, sep, r, sep, KURA_SOCKET_PATH_MAX, r, sep);
    else
        n = asprintf(&paths,
                     "#root = /srv/kura\n"
                     "# State: datasets/<ID>/ (dataset.ini, files.tsv, ledger.jsonl) and store/<ID>/\n"
                     "# (encrypted payloads).\n"
                     "state_dir = /var/lib/kura\n"
                     "# Keystore: server key, dataset keys, file headers. Root only (0700).\n"
                     "# Default: STATE_DIR/keys.\n"
                     "#keys_dir = /var/lib/kura/keys\n"
                     "# Access log: JSON Lines, hash-chained (kuractl audit verify).\n"
                     "audit_log = /var/log/kura/audit.jsonl\n"
                     "# Control socket of the running kurafs; at most %d bytes.\n"
                     "socket = /run/kura/ctl.sock\n",
                     KURA_SOCKET_PATH_MAX);
    free(trimmed);
    char *text = NULL;
    if (n < 0 || asprintf(&text, "%s%s%s", default_head, paths, default_tail) < 0) {
        free(paths);
        kura_err_set(err, ENOMEM, "out of memory");
        return NULL;
    }
    free(paths);
    return text;
}

int kura_config_write_default(const char *path, const char *root, struct kura_err *err)
{
    char *text = kura_config_default_text(root, err);
    if (!text)
        return -1;
    int rc = kura_write_file_new(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

/* UID_MIN or UID_MAX of login.defs: "NAME<blanks>VALUE" at the start of a line. */
static unsigned login_defs_value(const char *text, const char *name, unsigned fallback)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, name, n) != 0 || (line[n] != ' ' && line[n] != '\t'))
            continue;
        const char *digits = line + n + strspn(line + n, " \t");
        uint64_t v;
        if (kura_parse_decimal(digits, strspn(digits, "0123456789"), LOGIN_UID_LIMIT, &v) == 0 && v > 0)
            return (unsigned)v;
    }
    return fallback;
}

void kura_config_login_uids(const struct kura_config *cfg, const char *login_defs, uid_t *min, uid_t *max)
{
    char *text = NULL;
    struct kura_err e = {0};
    if ((!cfg->login_uid_min || !cfg->login_uid_max) &&
        kura_read_file(login_defs, KURA_CONFIG_FILE_MAX, &text, NULL, &e) != 0)
        text = NULL;
    *min = cfg->login_uid_min ? cfg->login_uid_min : login_defs_value(text ? text : "", "UID_MIN", 1000);
    *max = cfg->login_uid_max ? cfg->login_uid_max : login_defs_value(text ? text : "", "UID_MAX", 60000);
    free(text);
}
