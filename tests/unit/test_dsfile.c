/* Dataset state files: dataset.ini (grants R-ACC-1/2/5/6, withdrawals
 * R-REV-1, status R-ACC-7, host binding R-ACC-8, level R-LVL-1), files.tsv
 * and the import samples TSV. Round trips are exact; every malformed input
 * is refused naming FILE:LINE. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[] = "/tmp/kura-test-dsfile.XXXXXX";

#define HOST "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define T2026 INT64_C(1775001600) /* 2026-04-01T00:00:00Z */

/* A dataset with every kind of field, including awkward text. */
static void make_dataset(struct kura_dataset *ds)
{
    memset(ds, 0, sizeof *ds);
    strcpy(ds->id, "JGAD000123");
    strcpy(ds->title, "  Whole genomes; cohort #2 \\ \xe7\xa0\x94\xe7\xa9\xb6 = [x]  ");
    ds->kind = KURA_KIND_AGD;
    ds->level = KURA_LEVEL_TYPE2;
    strcpy(ds->pi, "alice");
    ds->pi_uid = 1001;
    ds->from = T2026 - 9 * 3600;
    ds->until = T2026 + 365 * 86400 - 9 * 3600;
    ds->status = KURA_DS_SUSPENDED;
    strcpy(ds->status_reason, "misuse suspected: ticket 42");
    strcpy(ds->host_id, HOST);
    ds->guard = KURA_GUARD_ALLOWLIST;
    ds->ngrants = 2;
    ds->grants = calloc(2, sizeof *ds->grants);
    struct kura_grant *g = &ds->grants[0];
    strcpy(g->user, "bob");
    g->uid = 1002;
    g->role = KURA_ROLE_CO_INVESTIGATOR;
    g->from = ds->from;
    g->until = ds->until - 86400;
    strcpy(g->approval, "AGD-approval 2026/7 ");
    g->added_at = T2026 + 17;
    strcpy(g->added_by, "alice");
    g = &ds->grants[1];
    strcpy(g->user, "c.contractor_1");
    g->uid = 0;
    g->role = KURA_ROLE_CONTRACTOR;
    g->from = ds->from + 1;
    g->until = ds->from + 2;
    g->approval[0] = '\0';
    g->added_at = -1; /* before 1970: still an instant */
    strcpy(g->added_by, "root");
    g->pending = true; /* an operator's grant awaiting the PI (issue 13) */
    strcpy(ds->grants[0].approved_by, "alice");
    strcpy(ds->grants[0].institution, " 京都大学 医学研究科 "); /* the grant records (R-ACC-9); [1] has none */
    strcpy(ds->grants[0].email, "bob.o'neil+kura@med.example.ac.jp");
    strcpy(ds->grants[0].trained, "2026-03-15");
    strcpy(ds->ethics, "IRB 2026-031");
    ds->ethics_until = ds->until + 86400;
    ds->nwithdrawals = 1;
    ds->withdrawals = calloc(1, sizeof *ds->withdrawals);
    strcpy(ds->withdrawals[0].sample, "S-001.a_b");
    strcpy(ds->withdrawals[0].ref, "withdrawal form #7");
    ds->withdrawals[0].at = T2026 + 100;
}

static bool same_dataset(const struct kura_dataset *a, const struct kura_dataset *b)
{
    bool same = strcmp(a->id, b->id) == 0 && strcmp(a->title, b->title) == 0 && a->kind == b->kind &&
                a->level == b->level && strcmp(a->pi, b->pi) == 0 && a->pi_uid == b->pi_uid &&
                a->from == b->from && a->until == b->until && a->status == b->status &&
                strcmp(a->status_reason, b->status_reason) == 0 && strcmp(a->host_id, b->host_id) == 0 &&
                a->guard == b->guard && strcmp(a->ethics, b->ethics) == 0 && a->ethics_until == b->ethics_until &&
                a->epoch == b->epoch &&
                a->ngrants == b->ngrants && a->nwithdrawals == b->nwithdrawals;
    for (size_t i = 0; same && i < a->ngrants; i++) {
        const struct kura_grant *x = &a->grants[i], *y = &b->grants[i];
        same = strcmp(x->user, y->user) == 0 && x->uid == y->uid && x->role == y->role && x->from == y->from &&
               x->until == y->until && strcmp(x->approval, y->approval) == 0 && x->added_at == y->added_at &&
               strcmp(x->added_by, y->added_by) == 0 && x->pending == y->pending &&
               strcmp(x->approved_by, y->approved_by) == 0 && strcmp(x->institution, y->institution) == 0 &&
               strcmp(x->email, y->email) == 0 && strcmp(x->trained, y->trained) == 0;
    }
    for (size_t i = 0; same && i < a->nwithdrawals; i++) {
        const struct kura_withdrawal *x = &a->withdrawals[i], *y = &b->withdrawals[i];
        same = strcmp(x->sample, y->sample) == 0 && strcmp(x->ref, y->ref) == 0 && x->at == y->at;
    }
    return same;
}

static void test_dataset_round_trip_is_exact(void)
{
    struct kura_dataset ds, back;
    make_dataset(&ds);
    struct kura_err err = {0};
    size_t len = 0, len2 = 0;
    char *text = kura_dataset_format(&ds, kura_zone_get("Asia/Tokyo", NULL), &len, &err);
    ASSERT(text);
    EXPECT(strlen(text) == len);
    EXPECT_STR_CONTAINS(text, "until is exclusive");
    EXPECT_STR_CONTAINS(text, "from = 2026-04-01T00:00:00+09:00\n");
    EXPECT_STR_CONTAINS(text, "title = \\x20 Whole genomes; cohort #2 \\\\ ");
    EXPECT_STR_CONTAINS(text, "[x] \\x20\n");
    EXPECT_STR_CONTAINS(text, "[user c.contractor_1]\n");
    EXPECT_STR_CONTAINS(text, "approval =\n") ;
    EXPECT_STR_CONTAINS(text, "added_by = alice\napproved_by = alice\ninstitution = \\x20京都大学 医学研究科\\x20\n"
                              "email = bob.o'neil+kura@med.example.ac.jp\ntrained = 2026-03-15\n");
    EXPECT_STR_CONTAINS(text, "added_by = root\npending = yes\n");
    EXPECT_STR_CONTAINS(text, "guard = allowlist\nethics = IRB 2026-031\nethics_until = ");
    ASSERT(kura_dataset_parse("t.ini", text, len, &back, &err) == 0);
    EXPECT(same_dataset(&ds, &back));
    char *again = kura_dataset_format(&back, kura_zone_get("Asia/Tokyo", NULL), &len2, &err);
    EXPECT(again && len2 == len && memcmp(text, again, len) == 0);
    free(again);
    /* Written in another zone: the same instants. */
    again = kura_dataset_format(&ds, kura_zone_get("America/New_York", NULL), &len2, &err);
    ASSERT(again);
    kura_dataset_clear(&back);
    ASSERT(kura_dataset_parse("t.ini", again, len2, &back, &err) == 0);
    EXPECT(same_dataset(&ds, &back));
    free(again);
    free(text);
    kura_dataset_clear(&back);
    kura_dataset_clear(&ds);
}

static void test_dataset_minimal_and_empty_lists(void)
{
    struct kura_dataset ds, back;
    make_dataset(&ds);
    free(ds.grants);
    free(ds.withdrawals);
    ds.grants = NULL, ds.ngrants = 0;
    ds.withdrawals = NULL, ds.nwithdrawals = 0;
    ds.title[0] = '\0';
    ds.status_reason[0] = '\0';
    ds.ethics[0] = '\0'; /* no approval recorded: no keys written */
    ds.ethics_until = 0;
    strcpy(ds.title, " ");
    size_t len;
    char *text = kura_dataset_format(&ds, NULL, &len, NULL);
    ASSERT(text);
    EXPECT_STR_CONTAINS(text, "title = \\x20\n");
    ASSERT(kura_dataset_parse("t.ini", text, len, &back, NULL) == 0);
    EXPECT(same_dataset(&ds, &back));
    EXPECT(back.ngrants == 0 && back.grants == NULL);
    free(text);
    kura_dataset_clear(&back);
    kura_dataset_clear(&ds);
}

/* Cluster mode's stamp (docs/cluster.md): written only when set, so a
 * single server's files are as before; read back exactly; never 0 or
 * anything but a number. */
static void test_dataset_epoch_stamp(void)
{
    struct kura_dataset ds, back;
    make_dataset(&ds);
    size_t len;
    char *text = kura_dataset_format(&ds, NULL, &len, NULL);
    ASSERT(text);
    EXPECT(!strstr(text, "epoch"));
    free(text);
    ds.epoch = 9007199254740993; /* above 2^53: no floating point on the way */
    text = kura_dataset_format(&ds, NULL, &len, NULL);
    ASSERT(text);
    EXPECT_STR_CONTAINS(text, "\nepoch = 9007199254740993\n");
    ASSERT(kura_dataset_parse("t.ini", text, len, &back, NULL) == 0);
    EXPECT(back.epoch == ds.epoch && same_dataset(&ds, &back));
    kura_dataset_clear(&back);
    static const char *const bad[] = {"epoch = 0\n", "epoch = 012\n", "epoch = -3\n", "epoch = x\n",
                                      "epoch = 9223372036854775808\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *edited = NULL;
        char *at = strstr(text, "epoch = ");
        ASSERT(at);
        const char *rest = strchr(at, '\n') + 1;
        ASSERT(asprintf(&edited, "%.*s%s%s", (int)(at - text), text, bad[i], rest) > 0);
        struct kura_err err = {0};
        EXPECT(kura_dataset_parse("t.ini", edited, strlen(edited), &back, &err) != 0);
        EXPECT_STR_CONTAINS(err.msg, "expected a change epoch");
        free(edited);
    }
    free(text);
    kura_dataset_clear(&ds);
}

static void test_dataset_save_and_load(void)
{
    struct kura_dataset ds, back;
    make_dataset(&ds);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, KURA_DATASET_INI);
    ASSERT(kura_dataset_save(path, &ds, kura_zone_get("Asia/Tokyo", NULL), NULL) == 0);
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    EXPECT((st.st_mode & 07777) == KURA_STATE_FILE_MODE);
    struct kura_err err = {0};
    ASSERT(kura_dataset_load(path, &back, &err) == 0);
    EXPECT(same_dataset(&ds, &back));
    kura_dataset_clear(&back);
    /* A refused save leaves the old file. */
    ds.grants[1].until = ds.grants[1].from;
    EXPECT(kura_dataset_save(path, &ds, kura_zone_get("Asia/Tokyo", NULL), &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "period is empty");
    ASSERT(kura_dataset_load(path, &back, &err) == 0);
    EXPECT(back.ngrants == 2 && back.grants[1].until == back.grants[1].from + 1);
    kura_dataset_clear(&back);
    kura_dataset_clear(&ds);
    snprintf(path, sizeof path, "%s/absent.ini", tmpdir);
    EXPECT(kura_dataset_load(path, &back, &err) == -1);
    EXPECT(err.code == ENOENT);
}

/* A valid file, one key per line, to break line by line. */
static const char valid_ini[] = "[dataset]\n"                                  /* 1 */
                                "id = JGAD1\n"                                  /* 2 */
                                "title = t\n"                                   /* 3 */
                                "kind = JGA\n"                                  /* 4 */
                                "level = type1\n"                               /* 5 */
                                "pi = alice\n"                                  /* 6 */
                                "pi_uid = 1001\n"                               /* 7 */
                                "from = 2026-04-01T00:00:00+09:00\n"            /* 8 */
                                "until = 2027-04-01T00:00:00Z\n"                /* 9 */
                                "status = active\n"                             /* 10 */
                                "status_reason =\n"                             /* 11 */
                                "host_id = " HOST "\n"                          /* 12 */
                                "guard = denylist\n"                            /* 13 */
                                "\n"                                            /* 14 */
                                "[user bob]\n"                                  /* 15 */
                                "uid = 1002\n"                                  /* 16 */
                                "role = co-investigator\n"                      /* 17 */
                                "from = 2026-04-01T00:00:00+09:00\n"            /* 18 */
                                "until = 2026-10-01T00:00:00+09:00\n"           /* 19 */
                                "approval =\n"                                  /* 20 */
                                "added_at = 2026-04-02T10:00:00+09:00\n"        /* 21 */
                                "added_by = alice\n"                            /* 22 */
                                "[withdrawn S1]\n"                              /* 23 */
                                "ref = form 1\n"                                /* 24 */
                                "at = 2026-05-01T00:00:00+09:00\n";             /* 25 */

/* valid_ini with line `line` replaced by `repl` (NULL: removed). */
static char *edit_line(int line, const char *repl)
{
    static char buf[4096];
    size_t o = 0;
    const char *p = valid_ini;
    for (int no = 1; *p; no++) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p) + 1;
        if (no == line) {
            if (repl)
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", repl);
        } else {
            memcpy(buf + o, p, n);
            o += n;
        }
        p += n;
    }
    buf[o] = '\0';
    return buf;
}

static void test_dataset_valid_fixture_loads(void)
{
    struct kura_dataset ds;
    struct kura_err err = {0};
    ASSERT(kura_dataset_parse("t.ini", valid_ini, strlen(valid_ini), &ds, &err) == 0);
    EXPECT(strcmp(ds.id, "JGAD1") == 0 && ds.ngrants == 1 && ds.nwithdrawals == 1);
    EXPECT(ds.from == T2026 - 9 * 3600);
    EXPECT(ds.grants[0].uid == 1002 && ds.grants[0].role == KURA_ROLE_CO_INVESTIGATOR);
    EXPECT(strcmp(ds.withdrawals[0].ref, "form 1") == 0);
    EXPECT(kura_dataset_sample_withdrawn(&ds, "S1"));
    kura_dataset_clear(&ds);
}

static void test_dataset_malformed_names_file_and_line(void)
{
    static const struct {
        int line;
        const char *repl;
        const char *want;
    } bad[] = {
        {2, "id = ../etc\n", "t.ini:2: id: dataset id must start"},
        {2, "id = JG AD\n", "t.ini:2: id: dataset id may hold only"},
        {2, "id = " "A1234567890123456789012345678901234567890123456789012345678901234\n", "t.ini:2: id: dataset id must be 1 to 64"},
        {2, "id =\n", "t.ini:2: id"},
        {2, "id = JGAD1\nid = JGAD2\n", "t.ini:3: id set twice"},
        {2, NULL, "t.ini:1: [dataset] lacks id"},
        {11, NULL, "t.ini:1: [dataset] lacks status_reason"},
        {3, "title = a\\nb\n", "t.ini:3: title: unknown escape"},
        {3, "title = a\\x0ab\n", "t.ini:3: title: title holds a control character"},
        {3, "title = a\\x00b\n", "t.ini:3: title: \\x00"},
        {3, "title = \\xff\n", "t.ini:3: title: title is not valid UTF-8"},
        {3, "title = a\\\n", "t.ini:3: title: unknown escape"},
        {3, "titel = t\n", "t.ini:3: unknown key \"titel\" in [dataset]"},
        {4, "kind = jga\n", "t.ini:4: kind: expected JGA or AGD"},
        {5, "level = 2\n", "t.ini:5: level: expected type1 or type2"},
        {6, "pi = -alice\n", "t.ini:6: pi: user name must not start"},
        {6, "pi = al ice\n", "t.ini:6: pi: user name may hold only"},
        {7, "pi_uid = -1\n", "t.ini:7: pi_uid: expected a numeric uid"},
        {7, "pi_uid = 4294967295\n", "t.ini:7: pi_uid"},
        {7, "pi_uid = 01001\n", "t.ini:7: pi_uid"},
        {7, "pi_uid = 1001x\n", "t.ini:7: pi_uid"},
        {8, "from = 2026-04-01\n", "t.ini:8: from: expected an RFC 3339 time stamp with offset, not a date"},
        {8, "from = 2026-04-01T00:00:00\n", "t.ini:8: from"},
        {8, "from = 2026-02-30T00:00:00Z\n", "t.ini:8: from"},
        {9, "until = 2026-04-01T00:00:00+09:00\n", "t.ini:1: [dataset] period is empty"},
        {8, "from = 0001-01-01T00:00:00Z\n", "t.ini:8: from: time out of range"},
        {9, "until = 9999-12-31T00:00:00Z\n", "t.ini:9: until: time out of range"},
        {10, "status = expired\n", "t.ini:10: status: expected active, suspended or destroyed"},
        {12, "host_id = " "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n", "t.ini:12: host_id"},
        {12, "host_id =\n", "t.ini:12: host_id"},
        {13, "guard = none\n", "t.ini:13: guard: expected denylist or allowlist"},
        {13, "guard = denylist\nethics = IRB-1\n", "t.ini:1: [dataset] has one of ethics and ethics_until without"},
        {13, "guard = denylist\nethics_until = 2027-04-01T00:00:00+09:00\n", "t.ini:1: [dataset] has one of ethics"},
        {13, "guard = denylist\nethics_until = 2027-04-01\n", "t.ini:14: ethics_until: expected an RFC 3339"},
        {1, "[dataset]\n[dataset]\n", "t.ini:2: second [dataset] section (first on line 1)"},
        {1, "[datasets]\n", "t.ini:1: unknown section [datasets]"},
        {1, "# no section\n", "t.ini:2: key before the first [section]"},
        {15, "[user]\n", "t.ini:15: unknown section [user]"},
        {15, "[user  bob]\n", "t.ini:15: user name may hold only"},
        {15, "[user bob/x]\n", "t.ini:15: user name may hold only"},
        {15, "[user bob]\nuid = 1\n[user bob]\n", "t.ini:17: [user bob] appears twice (first on line 15)"},
        {16, NULL, "t.ini:15: [user bob] lacks uid"},
        {16, "uid = 1001\nuid = 1\n", "t.ini:17: uid set twice"},
        {17, "role = owner\n", "t.ini:17: role: expected pi, co-investigator or contractor"},
        {19, "until = 2026-03-01T00:00:00+09:00\n", "t.ini:15: [user bob] period is empty"},
        {20, NULL, "t.ini:15: [user bob] lacks approval"},
        {22, "added_by = \n", "t.ini:22: added_by: user name must be 1"},
        {22, "added_by = alice\nextra = 1\n", "t.ini:23: unknown key \"extra\" in [user bob]"},
        {22, "added_by = alice\npending = no\n", "t.ini:23: pending: expected yes"},
        {22, "added_by = alice\npending = yes\npending = yes\n", "t.ini:24: pending set twice"},
        {22, "added_by = alice\napproved_by = a b\n", "t.ini:23: approved_by: user name may hold only"},
        {22, "added_by = alice\nemail = bob@localhost\n", "t.ini:23: email: e-mail address needs a domain with a dot"},
        {22, "added_by = alice\ntrained = 2026-02-30\n", "t.ini:23: trained: \"2026-02-30\": no such day"},
        {22, "added_by = alice\ntrained = 2026-02-03T00:00:00Z\n", "t.ini:23: trained: expected a date YYYY-MM-DD"},
        {22, "added_by = alice\ninstitution = a\\x01b\n", "t.ini:23: institution: institution holds a control"},
        {23, "[withdrawn ../S1]\n", "t.ini:23: sample id must start"},
        {23, "[withdrawn S1]\n[withdrawn S1]\n", "t.ini:24: [withdrawn S1] appears twice (first on line 23)"},
        {25, NULL, "t.ini:23: [withdrawn S1] lacks at"},
        {25, "at = yesterday\n", "t.ini:25: at"},
        /* grammar, through the strict INI layer */
        {3, "title: t\n", "t.ini:3: expected 'key = value'"},
        {3, " title = t\n", "t.ini:3: line starts with a blank"},
        {15, "[user bob] ; comment\n", "t.ini:15: section header"},
        {3, "title = t\r\n", "t.ini:3: carriage return"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *text = edit_line(bad[i].line, bad[i].repl);
        struct kura_dataset ds;
        struct kura_err err = {0};
        int rc = kura_dataset_parse("t.ini", text, strlen(text), &ds, &err);
        EXPECT(rc == -1);
        if (rc == 0) {
            printf("#   accepted case %zu\n", i);
            kura_dataset_clear(&ds);
            continue;
        }
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, bad[i].want);
        EXPECT(ds.grants == NULL && ds.withdrawals == NULL && ds.id[0] == '\0');
    }
}

static void test_dataset_refuses_shared_uid_and_missing_section(void)
{
    /* R-ACC-6: one grant per account. */
    const char *text = edit_line(22, "added_by = alice\n[user carol]\nuid = 1002\nrole = contractor\n"
                                     "from = 2026-04-01T00:00:00+09:00\nuntil = 2026-10-01T00:00:00+09:00\n"
                                     "approval = x\nadded_at = 2026-04-02T10:00:00+09:00\nadded_by = alice\n");
    struct kura_dataset ds;
    struct kura_err err = {0};
    EXPECT(kura_dataset_parse("t.ini", text, strlen(text), &ds, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.ini:23: [user carol] has uid 1002, like [user bob]");
    EXPECT(kura_dataset_parse("t.ini", "", 0, &ds, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.ini: no [dataset] section");
    EXPECT(kura_dataset_parse("t.ini", "# only a comment\n", 17, &ds, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "no [dataset] section");
}

static void test_dataset_writer_refuses_what_would_not_load(void)
{
    static const char *const want[] = {
        "title holds a control character", "dataset id must start", "user name may hold only",
        "host_id is not 64", "listed twice", "period is empty", "sample id may hold only",
        "kind, level, status or guard out of range", "withdrawn twice", "uid 4294967295 is out of range",
        "ref holds a control character", "until: time",
    };
    for (int c = 0; c < (int)(sizeof want / sizeof want[0]); c++) {
        struct kura_dataset ds;
        make_dataset(&ds);
        switch (c) {
        case 0: strcpy(ds.title, "line1\nline2"); break;
        case 1: strcpy(ds.id, "../x"); break;
        case 2: strcpy(ds.grants[0].user, "b b"); break;
        case 3: ds.host_id[5] = 'X'; break;
        case 4: ds.grants[1].uid = ds.grants[0].uid; break;
        case 5: ds.until = ds.from; break;
        case 6: strcpy(ds.withdrawals[0].sample, "S 1"); break;
        case 7: ds.level = (enum kura_level)7; break;
        case 8: {
            struct kura_withdrawal *w = realloc(ds.withdrawals, 2 * sizeof *w);
            ASSERT(w);
            w[1] = w[0];
            ds.withdrawals = w;
            ds.nwithdrawals = 2;
            break;
        }
        case 9: ds.pi_uid = (uid_t)-1; break;
        case 10: strcpy(ds.withdrawals[0].ref, "\x1b[31m"); break;
        case 11: ds.until = INT64_C(253402214400); break; /* 9999-12-31: not in every zone's years */
        }
        struct kura_err err = {0};
        size_t len;
        char *text = kura_dataset_format(&ds, kura_zone_get("Asia/Tokyo", NULL), &len, &err);
        EXPECT(text == NULL);
        free(text);
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, want[c]);
        kura_dataset_clear(&ds);
    }
}

static void test_dataset_long_title_fits_line(void)
{
    /* 255 bytes of 3-byte characters and backslashes: one line, read back whole. */
    struct kura_dataset ds, back;
    make_dataset(&ds);
    size_t o = 0;
    while (o + 3 < KURA_TEXT_MAX - 1) {
        memcpy(ds.title + o, "\xe7\xa0\x94", 3);
        o += 3;
    }
    while (o < KURA_TEXT_MAX - 1)
        ds.title[o++] = '\\';
    ds.title[o] = '\0';
    size_t len;
    char *text = kura_dataset_format(&ds, NULL, &len, NULL);
    ASSERT(text);
    ASSERT(kura_dataset_parse("t.ini", text, len, &back, NULL) == 0);
    EXPECT(strcmp(back.title, ds.title) == 0);
    free(text);
    kura_dataset_clear(&back);
    kura_dataset_clear(&ds);
}

static void test_dataset_many_sections(void)
{
    /* Thousands of grants and withdrawals: repeats are found by sorting, so
     * this stays fast (a daemon reloads it), and a late repeat is still found. */
    enum { N = 20000 };
    struct kura_dataset ds, back;
    make_dataset(&ds);
    struct kura_grant *g = realloc(ds.grants, N * sizeof *g);
    struct kura_withdrawal *w = realloc(ds.withdrawals, N * sizeof *w);
    ASSERT(g && w);
    ds.grants = g, ds.withdrawals = w;
    for (size_t i = 0; i < N; i++) {
        g[i] = g[0];
        snprintf(g[i].user, sizeof g[i].user, "u%zu", i);
        g[i].uid = (uid_t)(10000 + i);
        w[i] = w[0];
        snprintf(w[i].sample, sizeof w[i].sample, "S%zu", N - i);
    }
    ds.ngrants = ds.nwithdrawals = N;
    size_t len;
    struct kura_err err = {0};
    char *text = kura_dataset_format(&ds, NULL, &len, &err);
    ASSERT(text);
    ASSERT(kura_dataset_parse("t.ini", text, len, &back, &err) == 0);
    EXPECT(same_dataset(&ds, &back));
    kura_dataset_clear(&back);
    free(text);
    g[N - 1].uid = g[17].uid;
    EXPECT(kura_dataset_format(&ds, NULL, &len, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "user u19999: listed twice");
    kura_dataset_clear(&ds);
}

/* ---- files.tsv ---- */

static void set_file(struct kura_file *f, const char *path, const char *id, uint64_t size, const char *samples)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    strcpy(f->file_id, id);
    f->size = size;
    if (samples && *samples) {
        char *copy = strdup(samples), *save = NULL;
        f->samples = calloc(16, sizeof *f->samples);
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
            f->samples[f->nsamples++] = strdup(t);
        free(copy);
    }
}

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"
#define ID3 "00000000000000000000000000000003"

static void test_files_round_trip(void)
{
    struct kura_file in[3];
    set_file(&in[0], "a/x.bam", ID1, 123456789, "S1,S2");
    set_file(&in[1], "a/x.bam.bai", ID2, 0, "");
    set_file(&in[2], "\xe7\xa0\x94 dir/y.vcf.gz", ID3, UINT64_MAX, "S3");
    size_t len;
    struct kura_err err = {0};
    char *text = kura_files_format(in, 3, &len, &err);
    ASSERT(text);
    EXPECT(strncmp(text, "path\tfile_id\tsize\tsamples\na/x.bam\t" ID1 "\t123456789\tS1,S2\n", 60) == 0);
    EXPECT_STR_CONTAINS(text, "a/x.bam.bai\t" ID2 "\t0\t\n");
    EXPECT_STR_CONTAINS(text, "\t18446744073709551615\tS3\n");
    struct kura_file *out = NULL;
    size_t n = 0;
    ASSERT(kura_files_parse("f.tsv", text, len, &out, &n, &err) == 0);
    ASSERT(n == 3);
    for (size_t i = 0; i < 3; i++) {
        EXPECT(strcmp(out[i].path, in[i].path) == 0 && strcmp(out[i].file_id, in[i].file_id) == 0);
        EXPECT(out[i].size == in[i].size && out[i].nsamples == in[i].nsamples);
        for (size_t j = 0; j < in[i].nsamples && j < out[i].nsamples; j++)
            EXPECT(strcmp(out[i].samples[j], in[i].samples[j]) == 0);
    }
    EXPECT(out[1].samples == NULL);
    size_t len2;
    char *again = kura_files_format(out, n, &len2, NULL);
    EXPECT(again && len2 == len && memcmp(again, text, len) == 0);
    free(again);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, KURA_FILES_TSV);
    ASSERT(kura_files_save(path, in, 3, &err) == 0);
    kura_files_free(out, n);
    ASSERT(kura_files_load(path, &out, &n, &err) == 0);
    EXPECT(n == 3 && strcmp(out[2].path, in[2].path) == 0);
    kura_files_free(out, n);
    free(text);
    for (int i = 0; i < 3; i++)
        kura_file_clear(&in[i]);
}

static void test_files_empty_table(void)
{
    struct kura_file *out = NULL;
    size_t n = 7, len;
    char *text = kura_files_format(NULL, 0, &len, NULL);
    ASSERT(text);
    EXPECT(strcmp(text, "path\tfile_id\tsize\tsamples\n") == 0);
    ASSERT(kura_files_parse("f.tsv", text, len, &out, &n, NULL) == 0);
    EXPECT(n == 0);
    kura_files_free(out, n);
    free(text);
}

/* Cluster mode: the change epoch that wrote files.tsv, so that a node can
 * tell a stale copy; a table without the line holds epoch 0. */
static void test_files_epoch_stamp(void)
{
    struct kura_file in[1];
    set_file(&in[0], "a/x.bam", ID1, 10, "S1");
    size_t len, n = 0;
    int64_t epoch = -1;
    struct kura_err err = {0};
    struct kura_file *out = NULL;
    char *text = kura_files_format_epoch(in, 1, 42, &len, &err);
    ASSERT(text);
    EXPECT(strncmp(text, "#epoch\t42\npath\tfile_id\tsize\tsamples\na/x.bam\t", 43) == 0);
    ASSERT(kura_files_parse_epoch("f.tsv", text, len, &out, &n, &epoch, &err) == 0);
    EXPECT(epoch == 42 && n == 1 && strcmp(out[0].path, "a/x.bam") == 0);
    kura_files_free(out, n);
    /* Readers that do not ask for it still read the table. */
    ASSERT(kura_files_parse("f.tsv", text, len, &out, &n, &err) == 0);
    EXPECT(n == 1);
    kura_files_free(out, n);
    char path[600];
    snprintf(path, sizeof path, "%s/%s", tmpdir, KURA_FILES_TSV);
    ASSERT(kura_write_file_atomic(path, text, len, 0644, &err) == 0);
    ASSERT(kura_files_load_epoch(path, &out, &n, &epoch, &err) == 0);
    EXPECT(epoch == 42 && n == 1);
    kura_files_free(out, n);
    free(text);
    text = kura_files_format_epoch(in, 1, 0, &len, &err);
    ASSERT(text);
    EXPECT(strncmp(text, "path\t", 5) == 0);
    ASSERT(kura_files_parse_epoch("f.tsv", text, len, &out, &n, &epoch, &err) == 0);
    EXPECT(epoch == 0 && n == 1);
    kura_files_free(out, n);
    free(text);
    const char *bad[] = {"#epoch\t0\n", "#epoch\t\n", "#epoch\t01\n", "#epoch\t7x\n", "#epoch\t-3\n",
                         "#epoch 7\n", "#epoch\t99999999999999999999\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char t[200];
        snprintf(t, sizeof t, "%spath\tfile_id\tsize\tsamples\n", bad[i]);
        err = (struct kura_err){0};
        EXPECT(kura_files_parse_epoch("f.tsv", t, strlen(t), &out, &n, &epoch, &err) == -1);
        EXPECT_STR_CONTAINS(err.msg, "f.tsv:1:");
        kura_files_free(out, n);
    }
    /* The header still comes next, named by its line. */
    const char *no_header = "#epoch\t5\na/x.bam\t" ID1 "\t10\tS1\n";
    EXPECT(kura_files_parse_epoch("f.tsv", no_header, strlen(no_header), &out, &n, &epoch, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "f.tsv:2: expected the header");
    kura_files_free(out, n);
    kura_file_clear(&in[0]);
}

static void test_files_malformed_names_file_and_line(void)
{
#define H "path\tfile_id\tsize\tsamples\n"
#define R1 "a/x.bam\t" ID1 "\t10\tS1\n"
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"", "f.tsv:1: expected the header"},
        {"path\tfile_id\tsize\n", "f.tsv:1: expected the header"},
        {H "", NULL}, /* placeholder: the header alone is valid (skipped below) */
        {"path\tfile_id\tsize\tsamples", "f.tsv:1: last line has no line end"},
        {H "a/x.bam\t" ID1 "\t10\tS1", "f.tsv:2: last line has no line end"},
        {H "\n", "f.tsv:2: expected 4 tab-separated columns, found fewer"},
        {H "a\t" ID1 "\t10\n", "f.tsv:2: expected 4 tab-separated columns, found fewer"},
        {H "a\t" ID1 "\t10\tS1\textra\n", "f.tsv:2: expected 4 tab-separated columns, found more"},
        {H "/abs\t" ID1 "\t10\t\n", "f.tsv:2: path must be relative"},
        {H "a/../b\t" ID1 "\t10\t\n", "f.tsv:2: '..' component"},
        {H "a//b\t" ID1 "\t10\t\n", "f.tsv:2: empty component"},
        {H "\t" ID1 "\t10\t\n", "f.tsv:2: empty path"},
        {H "a\x1b\t" ID1 "\t10\t\n", "f.tsv:2: control character"},
        {H "a\r\t" ID1 "\t10\t\n", "f.tsv:2: carriage return"},
        {H "a\t0123456789ABCDEF0123456789abcdef\t10\t\n", "f.tsv:2: file id must be 32 lowercase hex"},
        {H "a\t0123\t10\t\n", "f.tsv:2: file id"},
        {H "a\t" ID1 "\t010\t\n", "f.tsv:2: size must be"},
        {H "a\t" ID1 "\t-1\t\n", "f.tsv:2: size"},
        {H "a\t" ID1 "\t\t\n", "f.tsv:2: size"},
        {H "a\t" ID1 "\t18446744073709551616\t\n", "f.tsv:2: size"},
        {H "a\t" ID1 "\t1 \t\n", "f.tsv:2: size"},
        {H "a\t" ID1 "\t1\tS1,,S2\n", "f.tsv:2: sample id must be 1 to 64"},
        {H "a\t" ID1 "\t1\tS1,\n", "f.tsv:2: sample id must be"},
        {H "a\t" ID1 "\t1\t,S1\n", "f.tsv:2: sample id must be"},
        {H "a\t" ID1 "\t1\tS 1\n", "f.tsv:2: sample id may hold only"},
        {H "a\t" ID1 "\t1\tS1,S2,S1\n", "f.tsv:2: sample S1 listed twice"},
        {H R1 "b\t" ID1 "\t1\t\n", "f.tsv:3: file id also on line 2"},
        {H R1 "c\t" ID2 "\t1\t\n" "a/x.bam\t" ID3 "\t1\t\n", "f.tsv:4: path also on line 2"},
        {H R1 "a/x.bam/y\t" ID2 "\t1\t\n", "f.tsv:3: path uses line 2's file as a directory"},
        {H "a\t" ID2 "\t1\t\n" R1, "f.tsv:3: path uses line 2's file as a directory"},
        {H R1 "\n" "b\t" ID2 "\t1\t\n", "f.tsv:3: expected 4 tab-separated columns"},
        {H "# comment\t" ID2 "\t1\t\n" "#\n", "f.tsv:3: expected 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!bad[i].want)
            continue;
        struct kura_file *out = NULL;
        size_t n = 0;
        struct kura_err err = {0};
        int rc = kura_files_parse("f.tsv", bad[i].text, strlen(bad[i].text), &out, &n, &err);
        EXPECT(rc == -1);
        if (rc == 0)
            printf("#   accepted case %zu\n", i);
        else {
            EXPECT(err.code == EINVAL);
            EXPECT_STR_CONTAINS(err.msg, bad[i].want);
        }
        kura_files_free(out, n);
    }
    /* A NUL inside a line. */
    static const char nul[] = H "a\0b\t" ID1 "\t1\t\n";
    struct kura_file *out = NULL;
    size_t n = 0;
    struct kura_err err = {0};
    EXPECT(kura_files_parse("f.tsv", nul, sizeof nul - 1, &out, &n, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "f.tsv:2: NUL byte");
    kura_files_free(out, n);
#undef H
#undef R1
}

static void test_files_prefix_that_is_not_a_directory_is_fine(void)
{
    /* "a" and "a.b/c", "a-b/c": sharing a prefix is not a collision. */
    const char *text = "path\tfile_id\tsize\tsamples\n"
                       "a\t" ID1 "\t1\t\n"
                       "a.b/c\t" ID2 "\t1\t\n"
                       "a-b/c\t" ID3 "\t1\t\n";
    struct kura_file *out = NULL;
    size_t n = 0;
    struct kura_err err = {0};
    EXPECT(kura_files_parse("f.tsv", text, strlen(text), &out, &n, &err) == 0);
    kura_files_free(out, n);
}

static void test_files_writer_refuses_what_would_not_load(void)
{
    struct kura_file f[2];
    struct kura_err err = {0};
    set_file(&f[0], "a\tb", ID1, 1, "");
    EXPECT(kura_files_format(f, 1, NULL, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "control character");
    kura_file_clear(&f[0]);
    set_file(&f[0], "a\nb", ID1, 1, "");
    EXPECT(kura_files_format(f, 1, NULL, &err) == NULL);
    kura_file_clear(&f[0]);
    set_file(&f[0], "a", "XYZ", 1, "");
    EXPECT(kura_files_format(f, 1, NULL, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "file id");
    kura_file_clear(&f[0]);
    set_file(&f[0], "a", ID1, 1, "S1,S 2");
    EXPECT(kura_files_format(f, 1, NULL, &err) == NULL);
    kura_file_clear(&f[0]);
    set_file(&f[0], "a", ID1, 1, "");
    set_file(&f[1], "a", ID2, 1, "");
    EXPECT(kura_files_format(f, 2, NULL, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "files.tsv:3: path also on line 2");
    char path[600];
    snprintf(path, sizeof path, "%s/refused.tsv", tmpdir);
    EXPECT(kura_files_save(path, f, 2, &err) == -1);
    struct stat st;
    EXPECT(stat(path, &st) == -1);
    kura_file_clear(&f[0]);
    kura_file_clear(&f[1]);
}

static void test_files_large_table(void)
{
    /* Many files in nested directories, one joint VCF naming many samples:
     * the whole-table checks sort instead of comparing every pair. */
    enum { N = 30000, S = 20000 };
    struct kura_file *f = calloc(N, sizeof *f);
    ASSERT(f);
    for (size_t i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof path, "d%zu/e%zu/f%zu.bam", i / 1000, i / 10, i);
        f[i].path = strdup(path);
        snprintf(f[i].file_id, sizeof f[i].file_id, "%032zx", i);
        f[i].size = i;
    }
    f[0].samples = calloc(S, sizeof *f[0].samples);
    for (size_t j = 0; j < S; j++) {
        char id[16];
        snprintf(id, sizeof id, "S%zu", S - j);
        f[0].samples[j] = strdup(id);
    }
    f[0].nsamples = S;
    size_t len, n = 0;
    struct kura_err err = {0};
    char *text = kura_files_format(f, N, &len, &err);
    ASSERT(text);
    struct kura_file *back = NULL;
    EXPECT(kura_files_parse("f.tsv", text, len, &back, &n, &err) == 0);
    EXPECT(n == N && back && back[0].nsamples == S);
    kura_files_free(back, n);
    free(text);
    free(f[0].samples[S - 1]);
    f[0].samples[S - 1] = strdup("S17");
    EXPECT(kura_files_format(f, N, &len, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "files.tsv:2: sample S17 listed twice");
    kura_files_free(f, N);
}

/* ---- samples TSV ---- */

static void test_samples_parse_groups_by_path(void)
{
    const char *text = "# path\tsample\n"
                       "\n"
                       "b/y.vcf.gz\tS2\n"
                       "a/x.bam\tS1\n"
                       "   \n"
                       "b/y.vcf.gz\tS1\n"
                       "b/y.vcf.gz\tS3"; /* no final line end: fine here */
    struct kura_sample_map m;
    struct kura_err err = {0};
    ASSERT(kura_samples_parse("s.tsv", text, strlen(text), &m, &err) == 0);
    ASSERT(m.n == 2);
    EXPECT(strcmp(m.entries[0].path, "a/x.bam") == 0 && m.entries[0].nsamples == 1);
    const struct kura_sample_entry *e = kura_samples_find(&m, "b/y.vcf.gz");
    ASSERT(e);
    EXPECT(e->nsamples == 3 && strcmp(e->samples[0], "S2") == 0 && strcmp(e->samples[1], "S1") == 0 &&
           strcmp(e->samples[2], "S3") == 0);
    EXPECT(kura_samples_find(&m, "b/y.vcf") == NULL);
    EXPECT(kura_samples_find(&m, "c") == NULL);
    kura_samples_free(&m);
    ASSERT(kura_samples_parse("s.tsv", "", 0, &m, &err) == 0);
    EXPECT(m.n == 0 && kura_samples_find(&m, "a") == NULL);
    kura_samples_free(&m);
}

static void test_samples_malformed_names_file_and_line(void)
{
    static const struct {
        const char *text;
        const char *want;
    } bad[] = {
        {"a/x.bam\n", "s.tsv:1: expected 2 tab-separated columns, found fewer"},
        {"# c\na/x.bam\tS1\tS2\n", "s.tsv:2: expected 2 tab-separated columns, found more"},
        {"a/x.bam S1\n", "s.tsv:1: expected 2"},
        {"/data/a.bam\tS1\n", "s.tsv:1: path must be relative"},
        {"../a.bam\tS1\n", "s.tsv:1: '..' component"},
        {"a.bam\t\n", "s.tsv:1: sample id must be 1 to 64"},
        {"a.bam\tS1 \n", "s.tsv:1: sample id may hold only"},
        {"a.bam\t" "S12345678901234567890123456789012345678901234567890123456789012345\n", "s.tsv:1: sample id longer than 64"},
        {"a.bam\tS1\r\n", "s.tsv:1: carriage return"},
        {"a.bam\tS1\nb\tS2\na.bam\tS1\n", "s.tsv:3: this path and sample are already on line 1"},
        {" # indented comment\n", "s.tsv:1: expected 2"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_sample_map m;
        struct kura_err err = {0};
        int rc = kura_samples_parse("s.tsv", bad[i].text, strlen(bad[i].text), &m, &err);
        EXPECT(rc == -1);
        if (rc == 0) {
            printf("#   accepted case %zu\n", i);
            kura_samples_free(&m);
            continue;
        }
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, bad[i].want);
        EXPECT(m.entries == NULL && m.n == 0);
    }
}

static void test_samples_load_from_file(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/samples.tsv", tmpdir);
    ASSERT(kura_write_file_atomic(path, "x\tS9\n", 5, 0644, NULL) == 0);
    struct kura_sample_map m;
    ASSERT(kura_samples_load(path, &m, NULL) == 0);
    EXPECT(m.n == 1 && strcmp(m.entries[0].samples[0], "S9") == 0);
    kura_samples_free(&m);
    struct kura_err err = {0};
    snprintf(path, sizeof path, "%s/absent.tsv", tmpdir);
    EXPECT(kura_samples_load(path, &m, &err) == -1);
    EXPECT(err.code == ENOENT);
}

int main(void)
{
    kura_secmem_init();
    if (!mkdtemp(tmpdir)) {
        printf("not ok 1 - mkdtemp\n");
        return 1;
    }
    RUN(test_dataset_round_trip_is_exact);
    RUN(test_dataset_minimal_and_empty_lists);
    RUN(test_dataset_epoch_stamp);
    RUN(test_dataset_save_and_load);
    RUN(test_dataset_valid_fixture_loads);
    RUN(test_dataset_malformed_names_file_and_line);
    RUN(test_dataset_refuses_shared_uid_and_missing_section);
    RUN(test_dataset_writer_refuses_what_would_not_load);
    RUN(test_dataset_long_title_fits_line);
    RUN(test_dataset_many_sections);
    RUN(test_files_round_trip);
    RUN(test_files_empty_table);
    RUN(test_files_epoch_stamp);
    RUN(test_files_malformed_names_file_and_line);
    RUN(test_files_prefix_that_is_not_a_directory_is_fine);
    RUN(test_files_writer_refuses_what_would_not_load);
    RUN(test_files_large_table);
    RUN(test_samples_parse_groups_by_path);
    RUN(test_samples_malformed_names_file_and_line);
    RUN(test_samples_load_from_file);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return unit_done();
}
