/* dataset.ini <-> struct kura_dataset, and the name checks all state files
 * share. Values are written as is, except that a backslash is written "\\"
 * and a space at either end of a value "\x20" (inih strips blanks there):
 * so titles keep their spaces exactly. The loader also accepts "\xHH" for
 * any byte, but what a byte decodes to must pass the field's own check
 * (text: UTF-8 without control characters), so nothing new gets in. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/config.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/inifile.h"
#include "kura/text.h"
#include "kura/when.h"

#define TIME_MAX 40
/* Instants kept in state files: 0001-01-02 to 9999-12-30 UTC, so that every
 * zone (offsets within a day) writes them with a four-digit year. */
#define INSTANT_MIN INT64_C(-62135510400)
#define INSTANT_MAX INT64_C(253402128000)

/* ---- value encoding ------------------------------------------------------ */

/* Decodes a value into out (cap bytes with the NUL). */
static int decode(const char *v, char *out, size_t cap, struct kura_err *err)
{
    size_t o = 0;
    for (size_t i = 0; v[i]; i++) {
        char c = v[i];
        if (c == '\\') {
            if (v[i + 1] == '\\') {
                i++;
            } else if (v[i + 1] == 'x' && kura_hex_digit(v[i + 2]) >= 0 && kura_hex_digit(v[i + 3]) >= 0) {
                c = (char)(kura_hex_digit(v[i + 2]) << 4 | kura_hex_digit(v[i + 3]));
                i += 3;
                if (c == '\0') {
                    kura_err_set(err, EINVAL, "\\x00 is not allowed");
                    return -1;
                }
            } else {
                kura_err_set(err, EINVAL, "unknown escape (a backslash is written \\\\)");
                return -1;
            }
        }
        if (o + 1 >= cap) {
            kura_err_set(err, EINVAL, "value longer than %zu bytes", cap - 1);
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* ---- loading --------------------------------------------------------------- */

enum section_kind { SEC_NONE, SEC_DATASET, SEC_USER, SEC_WITHDRAWN };

/* ethics and ethics_until come last and are optional (written only when
 * an approval is recorded): a file from before them records none. */
enum { D_ID, D_TITLE, D_KIND, D_LEVEL, D_PI, D_PI_UID, D_FROM, D_UNTIL, D_STATUS, D_REASON, D_HOST, D_GUARD,
       D_REQUIRED, D_ETHICS = D_REQUIRED, D_ETHICS_UNTIL, D_EPOCH, D_N };
static const char *const dataset_keys[D_N] = {
    "id", "title", "kind", "level", "pi", "pi_uid", "from", "until", "status", "status_reason", "host_id", "guard",
    "ethics", "ethics_until", "epoch",
};
/* pending, approved_by and the grant records (institution, email,
 * trained) come last and are optional (written only when set): a file
 * from before them lists no grant awaiting approval and records none. */
enum { U_UID, U_ROLE, U_FROM, U_UNTIL, U_APPROVAL, U_ADDED_AT, U_ADDED_BY, U_REQUIRED, U_PENDING = U_REQUIRED,
       U_APPROVED_BY, U_INSTITUTION, U_EMAIL, U_TRAINED, U_N };
static const char *const user_keys[U_N] = {"uid",      "role",     "from",    "until",      "approval",
                                           "added_at", "added_by", "pending", "approved_by", "institution",
                                           "email",    "trained"};
enum { W_REF, W_AT, W_N };
static const char *const withdrawn_keys[W_N] = {"ref", "at"};

/* Which keys a section has had, and where it starts, for the end checks. */
struct section_state {
    unsigned seen;
    int line;
};

struct ds_load {
    struct kura_dataset *ds;
    enum section_kind cur;
    struct section_state dataset;
    struct section_state *users, *withdrawn;   /* parallel to ds->grants / ds->withdrawals */
    size_t grants_cap, users_cap, withdrawals_cap, withdrawn_cap;
};

static int parse_uid(const char *v, uid_t *out, struct kura_err *err)
{
    uint64_t n;
    size_t len = strlen(v);
    if (kura_parse_decimal(v, len, UINT32_MAX - 1, &n) != 0 || (v[0] == '0' && len > 1)) {
        kura_err_set(err, EINVAL, "expected a numeric uid from 0 to %" PRIu32, UINT32_MAX - 1);
        return -1;
    }
    *out = (uid_t)n;
    return 0;
}

/* An exact instant: a time stamp with its offset, not a date. */
static int parse_instant(const char *v, int64_t *out, struct kura_err *err)
{
    int64_t start, end;
    if (kura_when_parse(v, NULL, &start, &end, err) != 0)
        return -1;
    if (start != end) {
        kura_err_set(err, EINVAL, "expected an RFC 3339 time stamp with offset, not a date");
        return -1;
    }
    if (start < INSTANT_MIN || start > INSTANT_MAX) {
        kura_err_set(err, EINVAL, "time out of range (0001-01-02 to 9999-12-30)");
        return -1;
    }
    *out = start;
    return 0;
}

static int copy_checked(char *dst, size_t cap, const char *v, const char *what, struct kura_err *err)
{
    if (strlen(v) >= cap) {
        kura_err_set(err, EINVAL, "%s is longer than %zu bytes", what, cap - 1);
        return -1;
    }
    strcpy(dst, v);
    return 0;
}

static int set_dataset_key(struct kura_dataset *ds, int k, const char *v, struct kura_err *err)
{
    switch (k) {
    case D_ID:
        if (kura_id_check(v, "dataset id", err) != 0)
            return -1;
        return copy_checked(ds->id, sizeof ds->id, v, "dataset id", err);
    case D_TITLE:
        if (kura_text_check(v, "title", err) != 0)
            return -1;
        return copy_checked(ds->title, sizeof ds->title, v, "title", err);
    case D_KIND:
        if (kura_kind_parse(v, &ds->kind) == 0)
            return 0;
        kura_err_set(err, EINVAL, "expected JGA or AGD");
        return -1;
    case D_LEVEL:
        if (kura_level_parse(v, &ds->level) == 0)
            return 0;
        kura_err_set(err, EINVAL, "expected type1 or type2");
        return -1;
    case D_PI:
        if (kura_user_name_check(v, err) != 0)
            return -1;
        return copy_checked(ds->pi, sizeof ds->pi, v, "pi", err);
    case D_PI_UID:
        return parse_uid(v, &ds->pi_uid, err);
    case D_FROM:
        return parse_instant(v, &ds->from, err);
    case D_UNTIL:
        return parse_instant(v, &ds->until, err);
    case D_STATUS:
        if (kura_ds_status_parse(v, &ds->status) == 0)
            return 0;
        kura_err_set(err, EINVAL, "expected active, suspended or destroyed");
        return -1;
    case D_REASON:
        if (kura_text_check(v, "status_reason", err) != 0)
            return -1;
        return copy_checked(ds->status_reason, sizeof ds->status_reason, v, "status_reason", err);
    case D_HOST:
        if (!kura_host_id_valid(v)) {
            kura_err_set(err, EINVAL, "expected 64 lowercase hex digits");
            return -1;
        }
        return copy_checked(ds->host_id, sizeof ds->host_id, v, "host_id", err);
    case D_GUARD:
        if (kura_guard_mode_parse(v, &ds->guard) == 0)
            return 0;
        kura_err_set(err, EINVAL, "expected denylist or allowlist");
        return -1;
    case D_ETHICS:
        if (kura_text_check(v, "ethics", err) != 0)
            return -1;
        return copy_checked(ds->ethics, sizeof ds->ethics, v, "ethics", err);
    case D_ETHICS_UNTIL:
        return parse_instant(v, &ds->ethics_until, err);
    case D_EPOCH: {
        uint64_t n;
        size_t len = strlen(v);
        if (kura_parse_decimal(v, len, INT64_MAX, &n) != 0 || n == 0 || v[0] == '0') {
            kura_err_set(err, EINVAL, "expected a change epoch (a positive number)");
            return -1;
        }
        ds->epoch = (int64_t)n;
        return 0;
    }
    }
    return -1;
}

static int set_user_key(struct kura_grant *g, int k, const char *v, struct kura_err *err)
{
    switch (k) {
    case U_UID:
        return parse_uid(v, &g->uid, err);
    case U_ROLE:
        if (kura_role_parse(v, &g->role) == 0)
            return 0;
        kura_err_set(err, EINVAL, "expected pi, co-investigator or contractor");
        return -1;
    case U_FROM:
        return parse_instant(v, &g->from, err);
    case U_UNTIL:
        return parse_instant(v, &g->until, err);
    case U_APPROVAL:
        if (kura_text_check(v, "approval", err) != 0)
            return -1;
        return copy_checked(g->approval, sizeof g->approval, v, "approval", err);
    case U_ADDED_AT:
        return parse_instant(v, &g->added_at, err);
    case U_ADDED_BY:
        if (kura_user_name_check(v, err) != 0)
            return -1;
        return copy_checked(g->added_by, sizeof g->added_by, v, "added_by", err);
    case U_PENDING:
        if (strcmp(v, "yes") == 0) {
            g->pending = true;
            return 0;
        }
        kura_err_set(err, EINVAL, "expected yes (leave the key out when the grant is not pending)");
        return -1;
    case U_APPROVED_BY:
        if (kura_user_name_check(v, err) != 0)
            return -1;
        return copy_checked(g->approved_by, sizeof g->approved_by, v, "approved_by", err);
    case U_INSTITUTION:
        if (kura_text_check(v, "institution", err) != 0)
            return -1;
        return copy_checked(g->institution, sizeof g->institution, v, "institution", err);
    case U_EMAIL:
        if (kura_email_check(v, err) != 0)
            return -1;
        return copy_checked(g->email, sizeof g->email, v, "email", err);
    case U_TRAINED:
        if (kura_date_parse(v, NULL, NULL, err) != 0)
            return -1;
        return copy_checked(g->trained, sizeof g->trained, v, "trained", err);
    }
    return -1;
}

static int set_withdrawn_key(struct kura_withdrawal *w, int k, const char *v, struct kura_err *err)
{
    if (k == W_REF) {
        if (kura_text_check(v, "ref", err) != 0)
            return -1;
        return copy_checked(w->ref, sizeof w->ref, v, "ref", err);
    }
    return parse_instant(v, &w->at, err);
}

/* Room for item n + 1 of an array of elem-sized items, zeroed. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (!kura_grow(arr, cap, n, elem))
        return -1;
    memset((char *)*arr + n * elem, 0, elem);
    return 0;
}

static int on_section(void *user, const char *section, int line, struct kura_err *err)
{
    struct ds_load *ld = user;
    struct kura_dataset *ds = ld->ds;
    if (strcmp(section, "dataset") == 0) {
        if (ld->dataset.line) {
            kura_err_set(err, EINVAL, "second [dataset] section (first on line %d)", ld->dataset.line);
            return -1;
        }
        ld->cur = SEC_DATASET;
        ld->dataset.line = line;
        return 0;
    }
    if (strncmp(section, "user ", 5) == 0) {
        const char *name = section + 5;
        if (kura_user_name_check(name, err) != 0)
            return -1;
        if (grow((void **)&ds->grants, &ld->grants_cap, ds->ngrants, sizeof *ds->grants) != 0 ||
            grow((void **)&ld->users, &ld->users_cap, ds->ngrants, sizeof *ld->users) != 0) {
            kura_err_set(err, ENOMEM, "out of memory");
            return -1;
        }
        strcpy(ds->grants[ds->ngrants].user, name);
        ld->users[ds->ngrants].line = line;
        ds->ngrants++;
        ld->cur = SEC_USER;
        return 0;
    }
    if (strncmp(section, "withdrawn ", 10) == 0) {
        const char *sample = section + 10;
        if (kura_id_check(sample, "sample id", err) != 0)
            return -1;
        if (grow((void **)&ds->withdrawals, &ld->withdrawals_cap, ds->nwithdrawals, sizeof *ds->withdrawals) != 0 ||
            grow((void **)&ld->withdrawn, &ld->withdrawn_cap, ds->nwithdrawals, sizeof *ld->withdrawn) != 0) {
            kura_err_set(err, ENOMEM, "out of memory");
            return -1;
        }
        strcpy(ds->withdrawals[ds->nwithdrawals].sample, sample);
        ld->withdrawn[ds->nwithdrawals].line = line;
        ds->nwithdrawals++;
        ld->cur = SEC_WITHDRAWN;
        return 0;
    }
    kura_err_set(err, EINVAL, "unknown section [%.60s] (expected [dataset], [user NAME] or [withdrawn SAMPLE])",
                 section);
    return -1;
}

static int key_index(const char *const *keys, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (strcmp(keys[i], key) == 0)
            return i;
    return -1;
}

static int on_key(void *user, const char *section, const char *key, const char *value, int line,
                  struct kura_err *err)
{
    (void)section;
    (void)line;
    struct ds_load *ld = user;
    const char *const *keys;
    int nkeys;
    struct section_state *st;
    switch (ld->cur) {
    case SEC_DATASET:
        keys = dataset_keys, nkeys = D_N, st = &ld->dataset;
        break;
    case SEC_USER:
        keys = user_keys, nkeys = U_N, st = &ld->users[ld->ds->ngrants - 1];
        break;
    case SEC_WITHDRAWN:
        keys = withdrawn_keys, nkeys = W_N, st = &ld->withdrawn[ld->ds->nwithdrawals - 1];
        break;
    default:
        return -1; /* inifile refuses keys before a section */
    }
    int k = key_index(keys, nkeys, key);
    if (k < 0) {
        kura_err_set(err, EINVAL, "unknown key \"%.40s\" in [%.80s]", key, section);
        return -1;
    }
    if (st->seen & (1u << k)) {
        kura_err_set(err, EINVAL, "%s set twice in this section", key);
        return -1;
    }
    st->seen |= 1u << k;
    char v[KURA_INI_LINE_MAX + 1];
    int rc = decode(value, v, sizeof v, err);
    if (rc == 0) {
        if (ld->cur == SEC_DATASET)
            rc = set_dataset_key(ld->ds, k, v, err);
        else if (ld->cur == SEC_USER)
            rc = set_user_key(&ld->ds->grants[ld->ds->ngrants - 1], k, v, err);
        else
            rc = set_withdrawn_key(&ld->ds->withdrawals[ld->ds->nwithdrawals - 1], k, v, err);
    }
    if (rc != 0)
        kura_err_prefix(err, "%s", key);
    return rc;
}

/* Repeats (a user name, a uid, a withdrawn sample) are found by sorting,
 * not by comparing every pair: a file may list many thousands. */
enum dup_kind { DUP_USER, DUP_UID, DUP_SAMPLE };

struct dup_entry {
    const char *name;
    uint64_t num;
    int line;
    size_t idx;
};

static int dup_cmp(const void *a, const void *b, void *by_num)
{
    const struct dup_entry *x = a, *y = b;
    int c = by_num ? (x->num > y->num) - (x->num < y->num) : strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Finds the repeat whose second occurrence comes first in the file (lines
 * from ld; without ld, array order). 1 and the two indexes if there is one,
 * 0 if none, -1 if out of memory. */
static int find_dup(const struct kura_dataset *ds, const struct ds_load *ld, enum dup_kind kind, size_t *first,
                    size_t *second, struct kura_err *err)
{
    size_t n = kind == DUP_SAMPLE ? ds->nwithdrawals : ds->ngrants;
    if (n < 2)
        return 0;
    struct dup_entry *e = malloc(n * sizeof *e);
    if (!e) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        e[i].idx = i;
        e[i].num = kind == DUP_UID ? (uint64_t)ds->grants[i].uid : 0;
        e[i].name = kind == DUP_SAMPLE ? ds->withdrawals[i].sample : ds->grants[i].user;
        e[i].line = !ld ? (int)i : kind == DUP_SAMPLE ? ld->withdrawn[i].line : ld->users[i].line;
    }
    void *by_num = kind == DUP_UID ? e : NULL;
    qsort_r(e, n, sizeof *e, dup_cmp, by_num);
    int found = 0, best = 0;
    for (size_t i = 1; i < n; i++) {
        bool same = kind == DUP_UID ? e[i].num == e[i - 1].num : strcmp(e[i].name, e[i - 1].name) == 0;
        if (same && (!found || e[i].line < best)) {
            found = 1;
            best = e[i].line;
            *first = e[i - 1].idx;
            *second = e[i].idx;
        }
    }
    free(e);
    return found;
}

/* The first key of keys[0..n) not in seen, or NULL. */
/* An ethics approval is recorded with its end, or not at all. */
static bool ethics_whole(const struct kura_dataset *ds)
{
    return (ds->ethics[0] != '\0') == (ds->ethics_until != 0);
}

static const char *missing_key(const char *const *keys, int n, unsigned seen)
{
    for (int i = 0; i < n; i++)
        if (!(seen & (1u << i)))
            return keys[i];
    return NULL;
}

/* Whole-file checks once every line is read: each section complete,
 * periods not empty, one grant per uid. */
static int check_complete(const char *name, struct ds_load *ld, struct kura_err *err)
{
    const struct kura_dataset *ds = ld->ds;
    const char *miss;
    if (!ld->dataset.line) {
        kura_err_set(err, EINVAL, "%s: no [dataset] section", name);
        return -1;
    }
    if ((miss = missing_key(dataset_keys, D_REQUIRED, ld->dataset.seen))) {
        kura_err_set(err, EINVAL, "%s:%d: [dataset] lacks %s", name, ld->dataset.line, miss);
        return -1;
    }
    if (!ethics_whole(ds)) {
        kura_err_set(err, EINVAL, "%s:%d: [dataset] has one of ethics and ethics_until without the other", name,
                     ld->dataset.line);
        return -1;
    }
    if (ds->from >= ds->until) {
        kura_err_set(err, EINVAL, "%s:%d: [dataset] period is empty (until must be after from)", name,
                     ld->dataset.line);
        return -1;
    }
    size_t a, b;
    int dup = find_dup(ds, ld, DUP_USER, &a, &b, err);
    if (dup == 1)
        kura_err_set(err, EINVAL, "%s:%d: [user %s] appears twice (first on line %d)", name, ld->users[b].line,
                     ds->grants[b].user, ld->users[a].line);
    if (dup == 0 && (dup = find_dup(ds, ld, DUP_SAMPLE, &a, &b, err)) == 1)
        kura_err_set(err, EINVAL, "%s:%d: [withdrawn %s] appears twice (first on line %d)", name,
                     ld->withdrawn[b].line, ds->withdrawals[b].sample, ld->withdrawn[a].line);
    if (dup != 0)
        return -1;
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        int line = ld->users[i].line;
        if ((miss = missing_key(user_keys, U_REQUIRED, ld->users[i].seen))) {
            kura_err_set(err, EINVAL, "%s:%d: [user %s] lacks %s", name, line, g->user, miss);
            return -1;
        }
        if (g->from >= g->until) {
            kura_err_set(err, EINVAL, "%s:%d: [user %s] period is empty (until must be after from)", name, line,
                         g->user);
            return -1;
        }
    }
    if ((dup = find_dup(ds, ld, DUP_UID, &a, &b, err)) != 0) {
        if (dup == 1)
            kura_err_set(err, EINVAL, "%s:%d: [user %s] has uid %u, like [user %s]: one grant per account", name,
                         ld->users[b].line, ds->grants[b].user, (unsigned)ds->grants[b].uid, ds->grants[a].user);
        return -1;
    }
    for (size_t i = 0; i < ds->nwithdrawals; i++)
        if ((miss = missing_key(withdrawn_keys, W_N, ld->withdrawn[i].seen))) {
            kura_err_set(err, EINVAL, "%s:%d: [withdrawn %s] lacks %s", name, ld->withdrawn[i].line,
                         ds->withdrawals[i].sample, miss);
            return -1;
        }
    return 0;
}

int kura_dataset_parse(const char *name, const char *text, size_t len, struct kura_dataset *ds,
                       struct kura_err *err)
{
    memset(ds, 0, sizeof *ds);
    struct ds_load ld = {.ds = ds};
    int rc = kura_ini_parse(name, text, len, on_section, on_key, &ld, err);
    if (rc == 0)
        rc = check_complete(name, &ld, err);
    free(ld.users);
    free(ld.withdrawn);
    if (rc != 0)
        kura_dataset_clear(ds);
    return rc;
}

int kura_dataset_load(const char *path, struct kura_dataset *ds, struct kura_err *err)
{
    memset(ds, 0, sizeof *ds);
    char *text = NULL;
    size_t len = 0;
    if (kura_read_file(path, KURA_DATASET_INI_MAX, &text, &len, err) != 0)
        return -1;
    int rc = kura_dataset_parse(path, text, len, ds, err);
    free(text);
    return rc;
}

/* ---- writing ------------------------------------------------------------------ */

struct out {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t ncap = o->cap ? o->cap : 4096;
        while (o->len + n + 1 > ncap)
            ncap *= 2;
        char *p = realloc(o->buf, ncap);
        if (!p) {
            o->oom = true;
            return;
        }
        o->buf = p;
        o->cap = ncap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

/* "key = value\n" with the value encoded (see the top of this file). */
static void out_kv(struct out *o, const char *key, const char *value)
{
    size_t n = strlen(value);
    out_str(o, key);
    out_str(o, n ? " = " : " =");
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '\\')
            out_str(o, "\\\\");
        else if (value[i] == ' ' && (i == 0 || i == n - 1))
            out_str(o, "\\x20");
        else
            out_put(o, value + i, 1);
    }
    out_str(o, "\n");
}

static void out_uid(struct out *o, const char *key, uid_t uid)
{
    char num[16];
    snprintf(num, sizeof num, "%u", (unsigned)uid);
    out_kv(o, key, num);
}

static int out_time(struct out *o, const char *key, int64_t t, const struct kura_zone *zone, struct kura_err *err)
{
    char buf[TIME_MAX];
    if (t < INSTANT_MIN || t > INSTANT_MAX || kura_time_format(t, zone, buf, sizeof buf) != 0) {
        kura_err_set(err, EINVAL, "%s: time %" PRId64 " cannot be written in the zone", key, t);
        return -1;
    }
    out_kv(o, key, buf);
    return 0;
}

static int check_uid(uid_t uid, const char *what, struct kura_err *err)
{
    if ((uint64_t)uid >= UINT32_MAX) {
        kura_err_set(err, EINVAL, "%s: uid %" PRIu64 " is out of range", what, (uint64_t)uid);
        return -1;
    }
    return 0;
}

/* The same checks the loader makes, so a saved file always loads. */
static int check_dataset(const struct kura_dataset *ds, struct kura_err *err)
{
    if (kura_id_check(ds->id, "dataset id", err) != 0 || kura_text_check(ds->title, "title", err) != 0 ||
        kura_user_name_check(ds->pi, err) != 0 || check_uid(ds->pi_uid, "pi_uid", err) != 0 ||
        kura_text_check(ds->status_reason, "status_reason", err) != 0)
        return -1;
    if (kura_kind_parse(kura_kind_name(ds->kind), NULL) != 0 || kura_level_parse(kura_level_name(ds->level), NULL) != 0 ||
        kura_ds_status_parse(kura_ds_status_name(ds->status), NULL) != 0 ||
        kura_guard_mode_parse(kura_guard_mode_name(ds->guard), NULL) != 0) {
        kura_err_set(err, EINVAL, "dataset %s: kind, level, status or guard out of range", ds->id);
        return -1;
    }
    if (!kura_host_id_valid(ds->host_id)) {
        kura_err_set(err, EINVAL, "dataset %s: host_id is not 64 lowercase hex digits", ds->id);
        return -1;
    }
    if (kura_text_check(ds->ethics, "ethics", err) != 0)
        return -1;
    if (!ethics_whole(ds)) {
        kura_err_set(err, EINVAL, "dataset %s: an ethics approval needs its reference and its end", ds->id);
        return -1;
    }
    if (ds->from >= ds->until) {
        kura_err_set(err, EINVAL, "dataset %s: period is empty (until must be after from)", ds->id);
        return -1;
    }
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        if (kura_user_name_check(g->user, err) != 0 || check_uid(g->uid, g->user, err) != 0 ||
            kura_text_check(g->approval, "approval", err) != 0 || kura_user_name_check(g->added_by, err) != 0 ||
            (g->approved_by[0] && kura_user_name_check(g->approved_by, err) != 0) ||
            kura_text_check(g->institution, "institution", err) != 0 ||
            (g->email[0] && kura_email_check(g->email, err) != 0) ||
            (g->trained[0] && kura_date_parse(g->trained, NULL, NULL, err) != 0))
            return -1;
        if (kura_role_parse(kura_role_name(g->role), NULL) != 0) {
            kura_err_set(err, EINVAL, "user %s: role out of range", g->user);
            return -1;
        }
        if (g->from >= g->until) {
            kura_err_set(err, EINVAL, "user %s: period is empty (until must be after from)", g->user);
            return -1;
        }
    }
    for (size_t i = 0; i < ds->nwithdrawals; i++) {
        const struct kura_withdrawal *w = &ds->withdrawals[i];
        if (kura_id_check(w->sample, "sample id", err) != 0 || kura_text_check(w->ref, "ref", err) != 0)
            return -1;
    }
    size_t a, b;
    int dup;
    for (int kind = DUP_USER; kind <= DUP_SAMPLE; kind++)
        if ((dup = find_dup(ds, NULL, (enum dup_kind)kind, &a, &b, err)) != 0) {
            if (dup == 1 && kind == DUP_SAMPLE)
                kura_err_set(err, EINVAL, "sample %s: withdrawn twice", ds->withdrawals[b].sample);
            else if (dup == 1)
                kura_err_set(err, EINVAL, "user %s: listed twice (by name or uid)", ds->grants[b].user);
            return -1;
        }
    return 0;
}

static const char header[] =
    "# kura dataset state, written by kuractl: change it with kuractl, which\n"
    "# records every change in ledger.jsonl next to this file.\n"
    "# Times are RFC 3339 instants with their UTC offset. Periods are half-open:\n"
    "# \"from\" is the first instant included, \"until\" the first instant NOT\n"
    "# included (until is exclusive).\n"
    "# In values, \\\\ is a backslash and \\x20 a space at either end of a value.\n";

char *kura_dataset_format(const struct kura_dataset *ds, const struct kura_zone *zone, size_t *len,
                          struct kura_err *err)
{
    if (check_dataset(ds, err) != 0)
        return NULL;
    struct out o = {0};
    out_str(&o, header);
    out_str(&o, "\n[dataset]\n");
    out_kv(&o, "id", ds->id);
    out_kv(&o, "title", ds->title);
    out_kv(&o, "kind", kura_kind_name(ds->kind));
    out_kv(&o, "level", kura_level_name(ds->level));
    out_kv(&o, "pi", ds->pi);
    out_uid(&o, "pi_uid", ds->pi_uid);
    if (out_time(&o, "from", ds->from, zone, err) != 0 || out_time(&o, "until", ds->until, zone, err) != 0)
        goto fail;
    out_kv(&o, "status", kura_ds_status_name(ds->status));
    out_kv(&o, "status_reason", ds->status_reason);
    out_kv(&o, "host_id", ds->host_id);
    out_kv(&o, "guard", kura_guard_mode_name(ds->guard));
    if (ds->ethics[0]) {
        out_kv(&o, "ethics", ds->ethics);
        if (out_time(&o, "ethics_until", ds->ethics_until, zone, err) != 0)
            goto fail;
    }
    if (ds->epoch > 0) {
        char num[24];
        snprintf(num, sizeof num, "%" PRId64, ds->epoch);
        out_kv(&o, "epoch", num);
    }
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        out_str(&o, "\n[user ");
        out_str(&o, g->user);
        out_str(&o, "]\n");
        out_uid(&o, "uid", g->uid);
        out_kv(&o, "role", kura_role_name(g->role));
        if (out_time(&o, "from", g->from, zone, err) != 0 || out_time(&o, "until", g->until, zone, err) != 0)
            goto fail;
        out_kv(&o, "approval", g->approval);
        if (out_time(&o, "added_at", g->added_at, zone, err) != 0)
            goto fail;
        out_kv(&o, "added_by", g->added_by);
        if (g->pending)
            out_kv(&o, "pending", "yes");
        if (g->approved_by[0])
            out_kv(&o, "approved_by", g->approved_by);
        if (g->institution[0])
            out_kv(&o, "institution", g->institution);
        if (g->email[0])
            out_kv(&o, "email", g->email);
        if (g->trained[0])
            out_kv(&o, "trained", g->trained);
    }
    for (size_t i = 0; i < ds->nwithdrawals; i++) {
        const struct kura_withdrawal *w = &ds->withdrawals[i];
        out_str(&o, "\n[withdrawn ");
        out_str(&o, w->sample);
        out_str(&o, "]\n");
        out_kv(&o, "ref", w->ref);
        if (out_time(&o, "at", w->at, zone, err) != 0)
            goto fail;
    }
    if (o.oom) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    if (len)
        *len = o.len;
    return o.buf;
fail:
    free(o.buf);
    return NULL;
}

int kura_dataset_save(const char *path, const struct kura_dataset *ds, const struct kura_zone *zone,
                      struct kura_err *err)
{
    size_t len = 0;
    char *text = kura_dataset_format(ds, zone, &len, err);
    if (!text) {
        kura_err_prefix(err, "%s", path);
        return -1;
    }
    int rc = kura_write_file_atomic(path, text, len, KURA_STATE_FILE_MODE, err);
    free(text);
    return rc;
}
