/* policy.c: the whole decision matrix, table-driven. Instants are written
 * as people write them and built with when.c in Asia/Tokyo, so the tests
 * also show that "until 2026-06-30" ends at the last second of that day
 * in Tokyo (R-ACC-2). */
#include <stdlib.h>

#include "kura/policy.h"
#include "kura/when.h"
#include "unit.h"
#include "unit_time.h"

#define TZ kura_zone_get("Asia/Tokyo", NULL)
#define HOST_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HOST_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

enum { UID_MIN = 1000, UID_MAX = 60000 };
enum { ROOT = 0, PI = 1001, BOB = 1002, CAROL = 1003, DAVE = 1004, ERIN = 1005, FRANK = 1006, EVE = 2000 };

static int64_t at(const char *when)
{
    return unit_at(when, TZ);
}

/* End of a period FROM..TO: the first second after it. */
static int64_t until_of(const char *period)
{
    int64_t from, until;
    struct kura_err err;
    if (kura_period_parse(period, TZ, &from, &until, &err) != 0) {
        printf("# bad test period %s: %s\n", period, err.msg);
        exit(2);
    }
    return until;
}

static struct kura_grant grant(const char *user, uid_t uid, enum kura_role role, const char *period)
{
    struct kura_grant g = {.uid = uid, .role = role};
    snprintf(g.user, sizeof g.user, "%s", user);
    struct kura_err err;
    if (kura_period_parse(period, TZ, &g.from, &g.until, &err) != 0) {
        printf("# bad test period %s: %s\n", period, err.msg);
        exit(2);
    }
    return g;
}

/* The dataset every row starts from: JGA, Type I, approved 2026-04-01..2027-03-31. */
static struct kura_grant grants[6];
static struct kura_withdrawal withdrawals[1] = {{.sample = "S2", .ref = "consent withdrawn"}};
static char *samples_ok[] = {"S1"}, *samples_mixed[] = {"S1", "S2", "S3"};
static struct kura_file file_ok = {.path = "a/x.bam", .nsamples = 1, .samples = samples_ok};
static struct kura_file file_withdrawn = {.path = "a/y.bam", .nsamples = 3, .samples = samples_mixed};
static struct kura_file file_no_sample = {.path = "README", .nsamples = 0, .samples = NULL};

static struct kura_dataset base_dataset(void)
{
    grants[0] = grant("bob", BOB, KURA_ROLE_CO_INVESTIGATOR, "2026-04-01..2026-09-30");
    grants[1] = grant("carol", CAROL, KURA_ROLE_CONTRACTOR, "2026-06-01..2026-06-30");
    grants[2] = grant("dave", DAVE, KURA_ROLE_CO_INVESTIGATOR, "2026-12-01..2027-03-31");
    /* Malformed on purpose: grants reaching past the dataset never extend it. */
    grants[3] = grant("erin", ERIN, KURA_ROLE_CO_INVESTIGATOR, "2026-04-01..2027-06-30");
    grants[4] = grant("frank", FRANK, KURA_ROLE_CONTRACTOR, "2027-05-01..2027-05-31");
    grants[5] = grant("bob2", BOB, KURA_ROLE_CONTRACTOR, "2026-04-01..2027-03-31"); /* duplicate: first wins */
    struct kura_dataset ds = {
        .id = "JGAD000001",
        .kind = KURA_KIND_JGA,
        .level = KURA_LEVEL_TYPE1,
        .pi = "alice",
        .pi_uid = PI,
        .status = KURA_DS_ACTIVE,
        .host_id = HOST_A,
        .guard = KURA_GUARD_DENYLIST,
        .ngrants = 6,
        .grants = grants,
        .nwithdrawals = 1,
        .withdrawals = withdrawals,
    };
    int64_t from, until;
    kura_period_parse("2026-04-01..2027-03-31", TZ, &from, &until, NULL);
    ds.from = from;
    ds.until = until;
    return ds;
}

enum mod {
    LOCKDOWN = 1 << 0,
    WRONG_HOST = 1 << 1,     /* server is HOST_B */
    SERVER_NO_HOST = 1 << 2, /* server host_id NULL */
    DS_UNBOUND = 1 << 3,     /* dataset host_id empty */
    DS_TYPE2 = 1 << 4,
    SERVER_TYPE2 = 1 << 5,
    DESTROYED = 1 << 6,
    SUSPENDED = 1 << 7,
    GUARD_REFUSES = 1 << 8,  /* process_allowed = false */
    UNKNOWN_STATUS = 1 << 9,
    RENAMED = 1 << 10,       /* the caller's uid now belongs to an account named "mallory" */
    NO_ACCOUNT = 1 << 11,    /* the caller's uid has no account now */
    PENDING = 1 << 12,       /* the caller's grant awaits the PI's approval */
    NARROW_LOGINS = 1 << 13, /* the server's login uids are 1002..1002: the PI and most grants are system accounts */
    TRAINING_REQUIRED = 1 << 14, /* [server] require_training = yes */
    TRAINED = 1 << 15,       /* every grant records a training date (none does otherwise) */
    NO_LEASE = 1 << 16,      /* a cluster node whose lease ended */
    CHANGING = 1 << 17,      /* a change in progress is about to forbid it (a node's restriction) */
};

/* The name each uid's account has (the one it is listed under). */
static const char *account_name(uid_t uid)
{
    switch (uid) {
    case ROOT: return "root";
    case PI: return "alice";
    case BOB: return "bob";
    case CAROL: return "carol";
    case DAVE: return "dave";
    case ERIN: return "erin";
    case FRANK: return "frank";
    default: return "eve";
    }
}

enum file_sel { DIR_ITSELF, FILE_OK, FILE_WITHDRAWN, FILE_NO_SAMPLE };

struct row {
    const char *name;
    uid_t uid;
    enum file_sel file;
    const char *now;
    unsigned mods;
    enum kura_reason want;
    const char *valid_until; /* for an allow: WHEN of the first second it stops holding */
};

static const struct row rows[] = {
    /* Allowed, and until when (the earlier of the grant's and the dataset's end). */
    {"R-ACC-1 PI reads inside the period", PI, FILE_OK, "2026-05-01T12:00:00+09:00", 0, KURA_ALLOW, "2027-04-01"},
    {"R-ACC-1 PI lists the dataset", PI, DIR_ITSELF, "2026-05-01", 0, KURA_ALLOW, "2027-04-01"},
    {"R-ACC-1 co-investigator inside own window", BOB, FILE_OK, "2026-05-01", 0, KURA_ALLOW, "2026-10-01"},
    {"R-ACC-1 contractor inside own window", CAROL, FILE_OK, "2026-06-15", 0, KURA_ALLOW, "2026-07-01"},
    {"R-ACC-2 PI first second of the period", PI, FILE_OK, "2026-04-01T00:00:00+09:00", 0, KURA_ALLOW,
     "2027-04-01"},
    {"R-ACC-2 PI last second of the period (Tokyo)", PI, FILE_OK, "2027-03-31T23:59:59+09:00", 0, KURA_ALLOW,
     "2027-04-01"},
    {"R-ACC-2 contractor first second of grant", CAROL, FILE_OK, "2026-06-01T00:00:00+09:00", 0, KURA_ALLOW,
     "2026-07-01"},
    {"R-ACC-2 contractor last second of a Tokyo day", CAROL, FILE_OK, "2026-06-30T23:59:59+09:00", 0, KURA_ALLOW,
     "2026-07-01"},
    {"R-ACC-2 grant past the dataset is cut to it", ERIN, FILE_OK, "2027-03-31T23:59:59+09:00", 0, KURA_ALLOW,
     "2027-04-01"},
    {"R-ACC-1 file without samples", BOB, FILE_NO_SAMPLE, "2026-05-01", 0, KURA_ALLOW, "2026-10-01"},
    {"R-ACC-8 unbound dataset on any host", PI, FILE_OK, "2026-05-01", DS_UNBOUND | WRONG_HOST, KURA_ALLOW,
     "2027-04-01"},
    {"R-LVL-1 Type II dataset on a Type II server", PI, FILE_OK, "2026-05-01", DS_TYPE2 | SERVER_TYPE2,
     KURA_ALLOW, "2027-04-01"},
    {"R-LVL-1 Type I dataset on a Type II server", PI, FILE_OK, "2026-05-01", SERVER_TYPE2, KURA_ALLOW,
     "2027-04-01"},
    {"R-REV-1 withdrawn sample does not hide the directory", BOB, DIR_ITSELF, "2026-05-01", 0, KURA_ALLOW,
     "2026-10-01"},
    {"R-CPY-4 guard does not apply to listing", BOB, DIR_ITSELF, "2026-05-01", GUARD_REFUSES, KURA_ALLOW,
     "2026-10-01"},

    /* Each reason on its own. */
    {"R-ACC-7 lockdown", PI, FILE_OK, "2026-05-01", LOCKDOWN, KURA_DENY_LOCKDOWN, NULL},
    {"R-ACC-8 wrong host", PI, FILE_OK, "2026-05-01", WRONG_HOST, KURA_DENY_WRONG_HOST, NULL},
    {"R-CLU-2 a node without a lease serves nothing", PI, FILE_OK, "2026-05-01", NO_LEASE, KURA_DENY_NO_LEASE, NULL},
    {"issue 19 a change about to forbid it refuses a read", BOB, FILE_OK, "2026-05-01", CHANGING,
     KURA_DENY_CHANGING, NULL},
    {"issue 19 ... and the listing", BOB, DIR_ITSELF, "2026-05-01", CHANGING, KURA_DENY_CHANGING, NULL},
    {"issue 19 ... also the PI's", PI, FILE_NO_SAMPLE, "2026-05-01", CHANGING, KURA_DENY_CHANGING, NULL},
    {"R-CLU-2 a node without a lease lists nothing", PI, DIR_ITSELF, "2026-05-01", NO_LEASE, KURA_DENY_NO_LEASE,
     NULL},
    {"R-ACC-8 server without identity", PI, FILE_OK, "2026-05-01", SERVER_NO_HOST, KURA_DENY_WRONG_HOST, NULL},
    {"R-LVL-1 Type II dataset on a Type I server", PI, FILE_OK, "2026-05-01", DS_TYPE2, KURA_DENY_LEVEL, NULL},
    {"R-REV-3 destroyed", PI, FILE_OK, "2026-05-01", DESTROYED, KURA_DENY_DESTROYED, NULL},
    {"R-ACC-7 suspended", PI, FILE_OK, "2026-05-01", SUSPENDED, KURA_DENY_SUSPENDED, NULL},
    {"R-ACC-7 unknown status is not active", PI, FILE_OK, "2026-05-01", UNKNOWN_STATUS, KURA_DENY_SUSPENDED,
     NULL},
    {"R-ACC-1 R-ACC-4 root is not listed", ROOT, FILE_OK, "2026-05-01", 0, KURA_DENY_NOT_LISTED, NULL},
    {"R-ACC-1 R-ACC-4 root listing denied", ROOT, DIR_ITSELF, "2026-05-01", 0, KURA_DENY_NOT_LISTED, NULL},
    {"R-ACC-1 other user not listed", EVE, FILE_OK, "2026-05-01", 0, KURA_DENY_NOT_LISTED, NULL},
    {"R-ACC-2 PI before the period", PI, FILE_OK, "2026-03-31T23:59:59+09:00", 0, KURA_DENY_NOT_YET_VALID, NULL},
    {"R-ACC-2 grant starting in the future", DAVE, FILE_OK, "2026-05-01", 0, KURA_DENY_NOT_YET_VALID, NULL},
    {"R-ACC-2 contractor one second early", CAROL, FILE_OK, "2026-05-31T23:59:59+09:00", 0,
     KURA_DENY_NOT_YET_VALID, NULL},
    {"R-ACC-2 grant ending exactly now", CAROL, FILE_OK, "2026-07-01T00:00:00+09:00", 0, KURA_DENY_EXPIRED, NULL},
    {"R-ACC-2 PI at the end of the period", PI, FILE_OK, "2027-04-01T00:00:00+09:00", 0, KURA_DENY_EXPIRED, NULL},
    {"R-ACC-2 dataset expired while grant still open", ERIN, FILE_OK, "2027-04-01T00:00:00+09:00", 0,
     KURA_DENY_EXPIRED, NULL},
    {"R-ACC-2 R-ACC-3 listing refused after expiry", BOB, DIR_ITSELF, "2026-10-01", 0, KURA_DENY_EXPIRED, NULL},
    {"R-REV-1 one withdrawn sample among several", BOB, FILE_WITHDRAWN, "2026-05-01", 0, KURA_DENY_WITHDRAWN,
     NULL},
    {"R-REV-1 the PI too", PI, FILE_WITHDRAWN, "2026-05-01", 0, KURA_DENY_WITHDRAWN, NULL},
    {"R-CPY-4 guard refuses the process", BOB, FILE_OK, "2026-05-01", GUARD_REFUSES, KURA_DENY_GUARD, NULL},
    {"issue 13 a new account with the PI's uid reads nothing", PI, FILE_OK, "2026-05-01", RENAMED,
     KURA_DENY_ACCOUNT_CHANGED, NULL},
    {"issue 13 a new account with a grant holder's uid reads nothing", BOB, FILE_OK, "2026-05-01", RENAMED,
     KURA_DENY_ACCOUNT_CHANGED, NULL},
    {"issue 13 ... nor lists the dataset", BOB, DIR_ITSELF, "2026-05-01", RENAMED, KURA_DENY_ACCOUNT_CHANGED,
     NULL},
    {"issue 13 a listed uid without an account reads nothing", BOB, FILE_OK, "2026-05-01", NO_ACCOUNT,
     KURA_DENY_ACCOUNT_CHANGED, NULL},
    {"issue 13 a listed system account reads nothing (PI)", PI, FILE_OK, "2026-05-01", NARROW_LOGINS,
     KURA_DENY_SYSTEM_ACCOUNT, NULL},
    {"issue 13 a listed system account reads nothing (grant)", CAROL, FILE_OK, "2026-06-15", NARROW_LOGINS,
     KURA_DENY_SYSTEM_ACCOUNT, NULL},
    {"issue 13 a login account inside the range reads", BOB, FILE_OK, "2026-05-01", NARROW_LOGINS, KURA_ALLOW,
     "2026-10-01"},
    {"issue 13 a pending grant reads nothing", BOB, FILE_OK, "2026-05-01", PENDING, KURA_DENY_PENDING, NULL},
    {"issue 13 a pending grant lists nothing", BOB, DIR_ITSELF, "2026-05-01", PENDING, KURA_DENY_PENDING, NULL},
    {"R-ACC-9 a grant without a training date reads nothing when training is required", BOB, FILE_OK,
     "2026-05-01", TRAINING_REQUIRED, KURA_DENY_UNTRAINED, NULL},
    {"R-ACC-9 ... nor lists the dataset", BOB, DIR_ITSELF, "2026-05-01", TRAINING_REQUIRED, KURA_DENY_UNTRAINED,
     NULL},
    {"R-ACC-9 a grant with a training date reads when training is required", BOB, FILE_OK, "2026-05-01",
     TRAINING_REQUIRED | TRAINED, KURA_ALLOW, "2026-10-01"},
    {"R-ACC-9 a grant without a training date reads when training is not required", BOB, FILE_OK, "2026-05-01",
     0, KURA_ALLOW, "2026-10-01"},
    {"R-ACC-9 the PI holds no grant: reads when training is required", PI, FILE_OK, "2026-05-01",
     TRAINING_REQUIRED, KURA_ALLOW, "2027-04-01"},

    /* Precedence: each check wins over the next one. */
    {"lockdown over wrong host", PI, FILE_OK, "2026-05-01", LOCKDOWN | WRONG_HOST, KURA_DENY_LOCKDOWN, NULL},
    {"lockdown over not listed (root)", ROOT, FILE_OK, "2026-05-01", LOCKDOWN, KURA_DENY_LOCKDOWN, NULL},
    {"lockdown over no lease", PI, FILE_OK, "2026-05-01", LOCKDOWN | NO_LEASE, KURA_DENY_LOCKDOWN, NULL},
    {"no lease over wrong host", PI, FILE_OK, "2026-05-01", NO_LEASE | WRONG_HOST, KURA_DENY_NO_LEASE, NULL},
    {"no lease over not listed (root)", ROOT, FILE_OK, "2026-05-01", NO_LEASE, KURA_DENY_NO_LEASE, NULL},
    {"wrong host over level", PI, FILE_OK, "2026-05-01", WRONG_HOST | DS_TYPE2, KURA_DENY_WRONG_HOST, NULL},
    {"level over destroyed", PI, FILE_OK, "2026-05-01", DS_TYPE2 | DESTROYED, KURA_DENY_LEVEL, NULL},
    /* Not listed before the dataset's state: an outsider learns nothing of it. */
    {"not listed over wrong host", EVE, FILE_OK, "2026-05-01", WRONG_HOST, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over level", EVE, FILE_OK, "2026-05-01", DS_TYPE2, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over destroyed", EVE, FILE_OK, "2026-05-01", DESTROYED, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over suspended", EVE, FILE_OK, "2026-05-01", SUSPENDED, KURA_DENY_NOT_LISTED, NULL},
    {"destroyed over expired", PI, FILE_OK, "2027-05-01", DESTROYED, KURA_DENY_DESTROYED, NULL},
    {"suspended over expired", PI, FILE_OK, "2027-05-01", SUSPENDED, KURA_DENY_SUSPENDED, NULL},
    {"not listed over not yet valid", EVE, FILE_OK, "2026-01-01", 0, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over expired", ROOT, FILE_OK, "2028-01-01", 0, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over account changed", EVE, FILE_OK, "2026-05-01", RENAMED, KURA_DENY_NOT_LISTED, NULL},
    {"not listed over system account", EVE, FILE_OK, "2026-05-01", NARROW_LOGINS, KURA_DENY_NOT_LISTED, NULL},
    {"system account over account changed", PI, FILE_OK, "2026-05-01", NARROW_LOGINS | RENAMED,
     KURA_DENY_SYSTEM_ACCOUNT, NULL},
    {"suspended over account changed", PI, FILE_OK, "2026-05-01", SUSPENDED | RENAMED, KURA_DENY_SUSPENDED, NULL},
    {"account changed over pending", BOB, FILE_OK, "2026-05-01", RENAMED | PENDING, KURA_DENY_ACCOUNT_CHANGED,
     NULL},
    {"account changed over expired", BOB, FILE_OK, "2026-10-01", RENAMED, KURA_DENY_ACCOUNT_CHANGED, NULL},
    {"system account over untrained", CAROL, FILE_OK, "2026-06-15", NARROW_LOGINS | TRAINING_REQUIRED,
     KURA_DENY_SYSTEM_ACCOUNT, NULL},
    {"pending over untrained", BOB, FILE_OK, "2026-05-01", PENDING | TRAINING_REQUIRED, KURA_DENY_PENDING, NULL},
    {"untrained over not yet valid", DAVE, FILE_OK, "2026-05-01", TRAINING_REQUIRED, KURA_DENY_UNTRAINED, NULL},
    {"untrained over expired", BOB, FILE_OK, "2026-10-01", TRAINING_REQUIRED, KURA_DENY_UNTRAINED, NULL},
    {"untrained over withdrawn and guard", BOB, FILE_WITHDRAWN, "2026-05-01", TRAINING_REQUIRED | GUARD_REFUSES,
     KURA_DENY_UNTRAINED, NULL},
    {"pending over not yet valid", DAVE, FILE_OK, "2026-05-01", PENDING, KURA_DENY_PENDING, NULL},
    {"pending over expired", BOB, FILE_OK, "2026-10-01", PENDING, KURA_DENY_PENDING, NULL},
    {"not yet valid (grant) over expired (dataset)", FRANK, FILE_OK, "2027-04-15", 0, KURA_DENY_NOT_YET_VALID,
     NULL},
    {"expired over withdrawn", BOB, FILE_WITHDRAWN, "2026-10-01", 0, KURA_DENY_EXPIRED, NULL},
    {"not yet valid over withdrawn", DAVE, FILE_WITHDRAWN, "2026-05-01", 0, KURA_DENY_NOT_YET_VALID, NULL},
    {"withdrawn over guard", BOB, FILE_WITHDRAWN, "2026-05-01", GUARD_REFUSES, KURA_DENY_WITHDRAWN, NULL},
    {"expired over guard", CAROL, FILE_OK, "2026-07-01", GUARD_REFUSES, KURA_DENY_EXPIRED, NULL},
    /* A lasting reason is recorded before the change about to make one. */
    {"lockdown over changing", BOB, FILE_OK, "2026-05-01", LOCKDOWN | CHANGING, KURA_DENY_LOCKDOWN, NULL},
    {"no lease over changing", BOB, FILE_OK, "2026-05-01", NO_LEASE | CHANGING, KURA_DENY_NO_LEASE, NULL},
    {"suspended over changing", BOB, FILE_OK, "2026-05-01", SUSPENDED | CHANGING, KURA_DENY_SUSPENDED, NULL},
    {"not listed over changing", EVE, FILE_OK, "2026-05-01", CHANGING, KURA_DENY_NOT_LISTED, NULL},
    {"expired over changing", BOB, FILE_OK, "2026-10-01", CHANGING, KURA_DENY_EXPIRED, NULL},
    {"withdrawn over changing", BOB, FILE_WITHDRAWN, "2026-05-01", CHANGING, KURA_DENY_WITHDRAWN, NULL},
    {"guard over changing", BOB, FILE_OK, "2026-05-01", GUARD_REFUSES | CHANGING, KURA_DENY_GUARD, NULL},
};

static const struct row *current;

static void run_row(void)
{
    const struct row *r = current;
    struct kura_dataset ds = base_dataset();
    struct kura_server srv = {.lockdown = false, .host_id = HOST_A, .level = KURA_LEVEL_TYPE1,
                              .login_uid_min = UID_MIN, .login_uid_max = UID_MAX};
    if (r->mods & LOCKDOWN)
        srv.lockdown = true;
    if (r->mods & NO_LEASE)
        srv.lease_ended = true;
    if (r->mods & WRONG_HOST)
        srv.host_id = HOST_B;
    if (r->mods & SERVER_NO_HOST)
        srv.host_id = NULL;
    if (r->mods & SERVER_TYPE2)
        srv.level = KURA_LEVEL_TYPE2;
    if (r->mods & NARROW_LOGINS)
        srv.login_uid_min = srv.login_uid_max = BOB;
    srv.require_training = r->mods & TRAINING_REQUIRED;
    if (r->mods & DS_UNBOUND)
        ds.host_id[0] = '\0';
    if (r->mods & DS_TYPE2)
        ds.level = KURA_LEVEL_TYPE2;
    if (r->mods & DESTROYED)
        ds.status = KURA_DS_DESTROYED;
    if (r->mods & SUSPENDED)
        ds.status = KURA_DS_SUSPENDED;
    if (r->mods & UNKNOWN_STATUS)
        ds.status = (enum kura_ds_status)7;
    for (size_t i = 0; (r->mods & PENDING) && i < ds.ngrants; i++)
        ds.grants[i].pending = ds.grants[i].uid == r->uid;
    for (size_t i = 0; (r->mods & TRAINED) && i < ds.ngrants; i++)
        snprintf(ds.grants[i].trained, sizeof ds.grants[i].trained, "2026-03-01");
    const char *user = r->mods & RENAMED ? "mallory" : r->mods & NO_ACCOUNT ? NULL : account_name(r->uid);
    const struct kura_file *files[] = {NULL, &file_ok, &file_withdrawn, &file_no_sample};
    struct kura_request req = {
        .uid = r->uid,
        .user = user,
        .ds = &ds,
        .file = files[r->file],
        .process_allowed = !(r->mods & GUARD_REFUSES),
        .changing = r->mods & CHANGING,
        .now = at(r->now),
        .server = &srv,
    };
    struct kura_decision d = kura_policy_decide(&req);
    /* A denial holds for no time: valid_until is the request's now. */
    int64_t want_until = r->want == KURA_ALLOW ? at(r->valid_until) : req.now;
    if (d.reason != r->want || d.valid_until != want_until)
        printf("#   got %s until %lld, want %s until %lld\n", kura_reason_name(d.reason), (long long)d.valid_until,
               kura_reason_name(r->want), (long long)want_until);
    EXPECT(d.reason == r->want);
    EXPECT(d.valid_until == want_until);
}

/* One TAP line per row, named by the row (with its requirement ids). */
static void run_matrix(void)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        current = &rows[i];
        unit_run(rows[i].name, run_row);
    }
}

/* The matrix must name every reason at least once. */
static void test_matrix_covers_every_reason(void)
{
    bool seen[KURA_DENY_CHANGING + 1] = {false};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        seen[rows[i].want] = true;
    for (int r = KURA_ALLOW; r <= KURA_DENY_CHANGING; r++) {
        if (!seen[r])
            printf("#   no row for %s\n", kura_reason_name((enum kura_reason)r));
        EXPECT(seen[r]);
    }
}

/* R-ACC-2: the last second of a Tokyo day is in, the next one out, for the
 * PI's dataset period and for a grant, second by second around midnight. */
static void test_tokyo_midnight_edge(void)
{
    struct kura_dataset ds = base_dataset();
    struct kura_server srv = {.host_id = HOST_A, .level = KURA_LEVEL_TYPE1, .login_uid_min = UID_MIN,
                              .login_uid_max = UID_MAX};
    struct kura_request req = {
        .uid = CAROL, .user = "carol", .ds = &ds, .file = &file_ok, .process_allowed = true, .server = &srv};
    const int64_t end = until_of("2026-06-01..2026-06-30");
    EXPECT(end == at("2026-06-30T15:00:00Z"));
    for (int64_t t = end - 3; t <= end + 3; t++) {
        req.now = t;
        EXPECT(kura_policy_decide(&req).reason == (t < end ? KURA_ALLOW : KURA_DENY_EXPIRED));
    }
    req.uid = PI;
    req.user = "alice";
    req.now = at("2027-03-31T23:59:59+09:00");
    EXPECT(kura_policy_decide(&req).reason == KURA_ALLOW);
    req.now++;
    EXPECT(kura_policy_decide(&req).reason == KURA_DENY_EXPIRED);
}

/* R-ACC-1 R-ACC-4: zeroed or unnamed entries never stand for root. */
static void test_zeroed_entries_list_nobody(void)
{
    struct kura_server srv = {.host_id = HOST_A, .level = KURA_LEVEL_TYPE1, .login_uid_min = UID_MIN,
                              .login_uid_max = UID_MAX};
    struct kura_grant zeroed[1] = {{.from = 0, .until = INT64_MAX}};
    struct kura_dataset ds = {.from = 0, .until = INT64_MAX, .level = KURA_LEVEL_TYPE1, .ngrants = 1, .grants = zeroed};
    struct kura_request req = {.uid = ROOT, .user = "root", .ds = &ds, .file = &file_ok, .process_allowed = true,
                               .now = at("2026-05-01"), .server = &srv};
    EXPECT(kura_policy_decide(&req).reason == KURA_DENY_NOT_LISTED);
    EXPECT(!kura_policy_window(&ds, ROOT, NULL, NULL));
    /* Once named, root is listed like anyone else (an operator who is also a data user). */
    snprintf(ds.pi, sizeof ds.pi, "root");
    EXPECT(kura_policy_decide(&req).reason == KURA_ALLOW);
}

static void test_missing_inputs_fail_closed(void)
{
    struct kura_dataset ds = base_dataset();
    struct kura_server srv = {.host_id = HOST_A, .level = KURA_LEVEL_TYPE1, .login_uid_min = UID_MIN,
                              .login_uid_max = UID_MAX};
    struct kura_request req = {.uid = PI, .user = "alice", .ds = &ds, .file = &file_ok, .process_allowed = true,
                               .now = at("2026-05-01"), .server = NULL};
    EXPECT(kura_policy_decide(NULL).reason == KURA_DENY_LOCKDOWN);
    EXPECT(kura_policy_decide(&req).reason == KURA_DENY_LOCKDOWN);
    req.server = &srv;
    req.ds = NULL;
    EXPECT(kura_policy_decide(&req).reason == KURA_DENY_NOT_LISTED);
    req.ds = &ds;
    EXPECT(kura_policy_decide(&req).reason == KURA_ALLOW);
}

static void test_window(void)
{
    struct kura_dataset ds = base_dataset();
    int64_t from = 0, until = 0;
    ASSERT(kura_policy_window(&ds, PI, &from, &until));
    EXPECT(from == ds.from && until == ds.until);
    ASSERT(kura_policy_window(&ds, BOB, &from, &until));
    EXPECT(from == at("2026-04-01") && until == at("2026-10-01"));
    ASSERT(kura_policy_window(&ds, CAROL, &from, &until));
    EXPECT(from == at("2026-06-01") && until == at("2026-07-01"));
    ASSERT(kura_policy_window(&ds, ERIN, &from, &until));
    EXPECT(from == ds.from && until == ds.until); /* cut to the dataset */
    from = until = 77;
    EXPECT(!kura_policy_window(&ds, ROOT, &from, &until));
    EXPECT(!kura_policy_window(&ds, EVE, &from, &until));
    EXPECT(from == 77 && until == 77);
    EXPECT(kura_policy_window(&ds, DAVE, NULL, NULL));
    EXPECT(!kura_policy_window(NULL, PI, NULL, NULL));
}

static void test_next_change(void)
{
    struct kura_dataset ds = base_dataset();
    /* Past boundaries are ignored; the next one after now wins. */
    EXPECT(kura_policy_next_change(&ds, at("2026-03-01")) == at("2026-04-01"));
    EXPECT(kura_policy_next_change(&ds, at("2026-05-01")) == at("2026-06-01"));
    EXPECT(kura_policy_next_change(&ds, at("2026-06-01")) == at("2026-07-01")); /* strictly after now */
    EXPECT(kura_policy_next_change(&ds, at("2026-06-15")) == at("2026-07-01"));
    EXPECT(kura_policy_next_change(&ds, at("2026-07-01")) == at("2026-10-01"));
    EXPECT(kura_policy_next_change(&ds, at("2026-10-01")) == at("2026-12-01"));
    EXPECT(kura_policy_next_change(&ds, at("2026-12-01")) == at("2027-04-01"));
    EXPECT(kura_policy_next_change(&ds, at("2027-04-01")) == at("2027-05-01"));
    EXPECT(kura_policy_next_change(&ds, at("2027-05-01")) == at("2027-06-01"));
    EXPECT(kura_policy_next_change(&ds, at("2027-06-01")) == at("2027-07-01"));
    /* Nothing ahead. */
    EXPECT(kura_policy_next_change(&ds, at("2027-07-01")) == INT64_MAX);
    EXPECT(kura_policy_next_change(&ds, at("2030-01-01")) == INT64_MAX);
    ds.ngrants = 0;
    EXPECT(kura_policy_next_change(&ds, at("2026-05-01")) == at("2027-04-01"));
    EXPECT(kura_policy_next_change(NULL, 0) == INT64_MAX);
    /* The next change is where the decision actually flips. */
    struct kura_dataset full = base_dataset();
    struct kura_server srv = {.host_id = HOST_A, .level = KURA_LEVEL_TYPE1, .login_uid_min = UID_MIN,
                              .login_uid_max = UID_MAX};
    struct kura_request req = {.uid = CAROL, .user = "carol", .ds = &full, .file = &file_ok,
                               .process_allowed = true, .now = at("2026-05-15"), .server = &srv};
    EXPECT(kura_policy_decide(&req).reason == KURA_DENY_NOT_YET_VALID);
    req.now = kura_policy_next_change(&full, req.now);
    EXPECT(kura_policy_decide(&req).reason == KURA_ALLOW);
}

static void test_reason_names(void)
{
    EXPECT(strcmp(kura_reason_name(KURA_ALLOW), "allow") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_NOT_LISTED), "not listed") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_EXPIRED), "expired") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_ACCOUNT_CHANGED), "account changed") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_PENDING), "pending approval") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_UNTRAINED), "no training") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_NOT_YET_VALID), "not yet valid") == 0);
    EXPECT(strcmp(kura_reason_name(KURA_DENY_WRONG_HOST), "wrong host") == 0);
    for (int a = KURA_ALLOW; a <= KURA_DENY_CHANGING; a++) {
        EXPECT(strcmp(kura_reason_name((enum kura_reason)a), "unknown") != 0);
        for (int b = a + 1; b <= KURA_DENY_CHANGING; b++)
            EXPECT(strcmp(kura_reason_name((enum kura_reason)a), kura_reason_name((enum kura_reason)b)) != 0);
    }
    EXPECT(strcmp(kura_reason_name((enum kura_reason)99), "unknown") == 0);
    EXPECT(strcmp(kura_reason_name((enum kura_reason)-1), "unknown") == 0);
}

int main(void)
{
    run_matrix();
    RUN(test_matrix_covers_every_reason);
    RUN(test_tokyo_midnight_edge);
    RUN(test_zeroed_entries_list_nobody);
    RUN(test_missing_inputs_fail_closed);
    RUN(test_window);
    RUN(test_next_change);
    RUN(test_reason_names);
    return unit_done();
}
