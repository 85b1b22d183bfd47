/* kuractl's commands without a socket: usage errors, role checks by uid
 * (R-ACC-4, R-ACC-5), the grant limit (R-ACC-2), and the change journal's
 * recovery from every crash point (R-LOG-3: the ledger and the state agree
 * after any interruption), separation of duties (issue 13). Accounts used:
 * root, daemon (uid 1, the PI here), bin (uid 2, AGD1's PI) and nobody
 * (uid 65534); uid 4242 has no account. These are system accounts, so
 * the login uid range is widened to them, except where its refusal is
 * the test. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/commands.h"
#include "kura/config.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/keystore.h"
#include "kura/layout.h"
#include "kura/ledger.h"
#include "kura/lockdown.h"
#include "kura/policy.h"
#include "kura/secmem.h"
#include "kura/when.h"
#include "../../src/lib/cmd/cmd_priv.h"
#include "unit.h"

static char root[64];
static char conf_path[128];
static struct kura_config cfg;
static struct kura_cmd_env env;
static char *out_buf, *err_buf;
static size_t out_len, err_len;

/* Runs one command line as uid; output in out_buf / err_buf. */
static int run_as(uid_t uid, const char *line)
{
    char *copy = strdup(line), *argv[32];
    int argc = 0;
    for (char *tok = strtok(copy, " "); tok && argc < 31; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    argv[argc] = NULL;
    free(out_buf);
    free(err_buf);
    out_buf = err_buf = NULL;
    FILE *out = open_memstream(&out_buf, &out_len), *err = open_memstream(&err_buf, &err_len);
    struct kura_actor a;
    struct kura_err e = {0};
    int rc = -100;
    if (kura_actor_resolve(uid, 0, getpid(), &a, &e) == 0)
        rc = kura_cmd_execute(&env, &a, argc, argv, out, err);
    fclose(out);
    fclose(err);
    free(copy);
    return rc;
}

static char *read_text(const char *path)
{
    char *data = NULL;
    struct kura_err e = {0};
    if (kura_read_file(path, 1 << 20, &data, NULL, &e) != 0)
        return NULL;
    return data;
}

static char *ds_file(const char *id, const char *name)
{
    static char buf[2][512];
    static int i;
    i ^= 1;
    snprintf(buf[i], sizeof buf[i], "%s/datasets/%s/%s", cfg.state_dir, id, name);
    return buf[i];
}

static void setup(void)
{
    struct kura_err e = {0};
    snprintf(conf_path, sizeof conf_path, "%s/kura.conf", root);
    char keys[256], akey[300];
    if (kura_config_write_default(conf_path, root, &e) != 0 || kura_config_load(conf_path, &cfg, &e) != 0)
        printf("# setup: %s\n", e.msg);
    snprintf(keys, sizeof keys, "%s", cfg.keys_dir);
    snprintf(akey, sizeof akey, "%s/%s", keys, KURA_AUDIT_KEY_FILE);
    char datasets[300], store[300], log_dir[300];
    snprintf(datasets, sizeof datasets, "%s/datasets", cfg.state_dir);
    snprintf(store, sizeof store, "%s/store", cfg.state_dir);
    snprintf(log_dir, sizeof log_dir, "%s/log", root);
    if (kura_keystore_create(keys, NULL, &e) != 0 || kura_audit_key_generate(akey, &e) != 0 ||
        kura_mkdir_p(datasets, 0700, &e) != 0 || kura_mkdir_p(store, 0700, &e) != 0 ||
        kura_mkdir_p(log_dir, 0700, &e) != 0)
        printf("# setup: %s\n", e.msg);
    env = (struct kura_cmd_env){.cfg = &cfg, .config_path = conf_path};
    cfg.login_uid_min = 1;
    cfg.login_uid_max = 65534;
}

static void test_usage_and_help(void)
{
    EXPECT(run_as(0, "--help") == 0);
    EXPECT_STR_CONTAINS(out_buf, "kuractl dataset add ID --pi USER");
    EXPECT(run_as(4242, "--help") == 0);
    EXPECT(!strstr(out_buf, "dataset add"));            /* operators' commands only for operators */
    EXPECT(run_as(0, "--version") == 0);
    EXPECT_STR_CONTAINS(out_buf, "kuractl ");
    EXPECT(run_as(0, "user add --help") == 0);
    EXPECT_STR_CONTAINS(out_buf, "--approval");
    EXPECT(run_as(0, "frobnicate") == 2);
    EXPECT_STR_CONTAINS(err_buf, "unknown command");
    EXPECT(run_as(0, "dataset") == 2);
    EXPECT_STR_CONTAINS(err_buf, "dataset import");
    EXPECT(run_as(0, "dataset add DS1 --pi daemon") == 2);          /* --period missing */
    EXPECT(run_as(0, "dataset add DS1 --pi daemon --pi bin --period 2026-01-01..2026-02-01") == 2);
    EXPECT_STR_CONTAINS(err_buf, "given twice");
    EXPECT(run_as(0, "dataset add DS1 --colour red") == 2);
    EXPECT(run_as(0, "dataset add ../x --pi daemon --period 2026-01-01..2099-02-01") == 2);
    EXPECT(run_as(0, "dataset add DS1 --pi daemon --period 2026-02-01..2026-01-01") == 2);
    EXPECT(run_as(0, "user add ../etc nobody") == 2);
    EXPECT(run_as(0, "status extra") == 2);
    EXPECT(run_as(0, "dataset add DS1 --pi no_such_user_x --period 2026-01-01..2099-12-31") == 1);
    EXPECT_STR_CONTAINS(err_buf, "no user account named");
    /* Errors are one line. */
    EXPECT(run_as(0, "user list NOSUCH") == 1);
    EXPECT(strchr(err_buf, '\n') == err_buf + err_len - 1);
    EXPECT_STR_CONTAINS(err_buf, "kuractl user list: no dataset NOSUCH");
}

static void test_roles(void)
{
    ASSERT(run_as(0, "dataset add DS1 --pi daemon --period 2026-01-01..2099-12-31 --kind JGA") == 0);
    ASSERT(run_as(0, "dataset add AGD1 --pi bin --period 2026-01-01..2099-12-31 --kind AGD") == 0);
    /* No account, no role: only status. */
    EXPECT(run_as(4242, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "not listed in any dataset");
    EXPECT(run_as(4242, "dataset add DS9 --pi daemon --period 2026-01-01..2099-12-31") == 1);
    EXPECT_STR_CONTAINS(err_buf, "only an operator");
    EXPECT(run_as(4242, "user add DS1 nobody") == 1);
    EXPECT(run_as(65534, "user list DS1") == 1);
    EXPECT_STR_CONTAINS(err_buf, "only the PI of dataset DS1");
    /* The PI manages their dataset, nobody else's, and cannot extend. */
    EXPECT(run_as(1, "user add DS1 nobody --role contractor --until 2099-06-30") == 0);
    EXPECT(run_as(1, "user add AGD1 nobody --approval X") == 1);
    EXPECT(run_as(1, "dataset extend DS1 --until 2100-01-31 --ref R") == 1);
    EXPECT(run_as(1, "dataset suspend DS1 --reason x") == 1);
    EXPECT(run_as(1, "ledger DS1") == 0);
    EXPECT(run_as(1, "ledger AGD1") == 1);
    EXPECT(run_as(65534, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "DS1");
    EXPECT_STR_CONTAINS(out_buf, "contractor");
    EXPECT(!strstr(out_buf, "AGD1"));
    /* A grant never outlives its dataset; AGD needs the approval. */
    EXPECT(run_as(2, "user add AGD1 nobody --until 2099-06-30") == 1);
    EXPECT_STR_CONTAINS(err_buf, "--approval");
    EXPECT(run_as(2, "user add AGD1 nobody --approval A-1 --until 2100-01-01") == 1);
    EXPECT_STR_CONTAINS(err_buf, "ends (2099-12-31)");
    EXPECT(run_as(2, "user add AGD1 nobody --approval A-1") == 0);
    EXPECT(run_as(2, "user add AGD1 nobody --approval A-1") == 1);
    EXPECT_STR_CONTAINS(err_buf, "already listed");
    EXPECT(run_as(2, "user add AGD1 bin --approval A-1") == 1);       /* the PI */
    /* Operators extend; a shorter end is not an extension. */
    EXPECT(run_as(0, "dataset extend DS1 --until 2099-01-01 --ref R-0") == 1);
    EXPECT(run_as(0, "dataset extend DS1 --until 2100-01-31 --ref R-1") == 0);
    EXPECT(run_as(0, "dataset suspend DS1 --reason checking") == 0);
    EXPECT(run_as(0, "dataset suspend DS1 --reason again") == 1);
    EXPECT(run_as(0, "dataset resume DS1") == 0);
    EXPECT(run_as(0, "dataset resume DS1") == 1);
}

/* The identity comes from the socket peer, never from the arguments. */
static void test_handle_request_uses_peer(void)
{
    char *argv[] = {"user", "add", "DS1", "daemon", NULL};
    struct kura_ctl_request req = {.argc = 4, .argv = argv};
    struct kura_ctl_peer peer = {.uid = 65534, .gid = 65534, .pid = getpid()};
    char *o = NULL, *er = NULL;
    size_t ol, el;
    FILE *out = open_memstream(&o, &ol), *err = open_memstream(&er, &el);
    int rc = kura_cmd_handle_request(&env, &peer, &req, out, err);
    fclose(out);
    fclose(err);
    EXPECT(rc == 1);
    EXPECT_STR_CONTAINS(er, "only the PI");
    free(o);
    free(er);
    /* init never runs over the socket, even for root. */
    char *iargv[] = {"init", NULL};
    struct kura_ctl_request ireq = {.argc = 1, .argv = iargv};
    peer.uid = 0;
    out = open_memstream(&o, &ol);
    err = open_memstream(&er, &el);
    rc = kura_cmd_handle_request(&env, &peer, &ireq, out, err);
    fclose(out);
    fclose(err);
    EXPECT(rc == 1);
    EXPECT_STR_CONTAINS(er, "does not go through the daemon");
    free(o);
    free(er);
}

/* ---- the journal ---------------------------------------------------------- */

/* Writes DS1's journal for the ledger's last record, as cmd_txn_commit
 * does before it saves the state: {"now","actor","uid","action","target",
 * "detail","before","after","file","sha256"}. sha NULL: the state's own. */
static void write_journal_for_last(const char *ledger_text, const char *sha)
{
    const char *last = ledger_text + strlen(ledger_text) - 1;
    while (last > ledger_text && last[-1] != '\n')
        last--;
    struct kura_json_object obj;
    struct kura_err e = {0};
    if (kura_json_parse_object(last, strlen(last) - 1, &obj, &e) != 0) {
        printf("# journal: %s\n", e.msg);
        return;
    }
    int64_t now, end;
    kura_when_parse(kura_json_find(&obj, "time")->str, cfg.zone, &now, &end, &e);
    char hex[65];
    if (!sha) {
        char *ini = read_text(ds_file("DS1", "dataset.ini"));
        uint8_t h[32];
        crypto_hash_sha256(h, (const uint8_t *)ini, strlen(ini));
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        free(ini);
        sha = hex;
    }
    char buf[8192];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_int(&w, "now", now);
    kura_json_add_string(&w, "actor", kura_json_find(&obj, "actor")->str);
    kura_json_add_int(&w, "uid", kura_json_find(&obj, "uid")->num);
    static const char *const keys[] = {"action", "target", "detail", "before", "after"};
    for (size_t i = 0; i < 5; i++)
        kura_json_add_string(&w, keys[i], kura_json_find(&obj, keys[i])->str);
    kura_json_add_string(&w, "file", "dataset.ini");
    kura_json_add_string(&w, "sha256", sha);
    size_t len;
    kura_json_end(&w, &len, &e);
    buf[len++] = '\n';
    kura_write_file_atomic(ds_file("DS1", ".pending"), buf, len, 0600, &e);
    kura_json_object_free(&obj);
}

static void write_text(const char *path, const char *text, size_t len)
{
    struct kura_err e = {0};
    kura_write_file_atomic(path, text, len, 0640, &e);
}

static void test_journal_recovery(void)
{
    ASSERT(run_as(0, "user remove DS1 nobody") == 0);
    ASSERT(run_as(0, "user add DS1 nobody --until 2099-03-31") == 0);
    char *full = read_text(ds_file("DS1", "ledger.jsonl"));
    char *ini = read_text(ds_file("DS1", "dataset.ini"));
    ASSERT(full && ini);
    size_t flen = strlen(full);
    const char *last = full + flen - 1;
    while (last > full && last[-1] != '\n')
        last--;
    size_t without = (size_t)(last - full);

    /* Killed after the state was saved, before the ledger append: the next
     * transaction appends exactly the record the change would have. */
    write_text(ds_file("DS1", "ledger.jsonl"), full, without);
    write_journal_for_last(full, NULL);
    EXPECT(run_as(0, "user list DS1") == 0);
    char *now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strcmp(now, full) == 0);
    free(now);
    EXPECT(access(ds_file("DS1", ".pending"), F_OK) != 0);

    /* Killed after the append, before the journal was removed: no second record. */
    write_journal_for_last(full, NULL);
    EXPECT(run_as(0, "ledger DS1") == 0);
    now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strcmp(now, full) == 0);
    free(now);
    EXPECT(access(ds_file("DS1", ".pending"), F_OK) != 0);

    /* Killed in the middle of the append: the torn line is cut, the record
     * written whole. */
    write_text(ds_file("DS1", "ledger.jsonl"), full, without + (flen - without) / 2);
    write_journal_for_last(full, NULL);
    EXPECT(run_as(0, "ledger DS1") == 0);
    now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strcmp(now, full) == 0);
    free(now);

    /* Killed before the state was saved: the change never happened, the
     * journal is dropped and the ledger left alone. */
    write_journal_for_last(full, "00000000000000000000000000000000000000000000000000000000000000ff");
    EXPECT(run_as(0, "user list DS1") == 0);
    now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strcmp(now, full) == 0);
    free(now);
    EXPECT(access(ds_file("DS1", ".pending"), F_OK) != 0);
    now = read_text(ds_file("DS1", "dataset.ini"));
    EXPECT(now && strcmp(now, ini) == 0);
    free(now);

    /* A torn line without a journal is damage, not a crash: refused. */
    write_text(ds_file("DS1", "ledger.jsonl"), full, without + 10);
    EXPECT(run_as(0, "ledger DS1") == 1);
    EXPECT_STR_CONTAINS(err_buf, "does not verify");
    EXPECT(run_as(0, "user add DS1 daemon") == 1);
    write_text(ds_file("DS1", "ledger.jsonl"), full, flen);

    /* A garbage journal stops changes instead of guessing. */
    write_text(ds_file("DS1", ".pending"), "{\"now\":1}\n", 10);
    EXPECT(run_as(0, "user remove DS1 nobody") == 1);
    EXPECT_STR_CONTAINS(err_buf, "interrupted change");
    unlink(ds_file("DS1", ".pending"));

    /* Temporaries a killed atomic write left are swept. */
    write_text(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), "x", 1);
    write_text(ds_file("DS1", "..pending.tmp-AbCdEf"), "x", 1);
    EXPECT(run_as(0, "user list DS1") == 0);
    EXPECT(access(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), F_OK) != 0);
    EXPECT(access(ds_file("DS1", "..pending.tmp-AbCdEf"), F_OK) != 0);

    /* Cluster mode: the dataset's lock does not reach the other nodes, so
     * a listing leaves a journal and temporaries (another node's change in
     * progress, or one cut short) to the cluster's lock holder: it takes
     * that lock itself when it finds a journal (here the database cannot
     * be reached: it fails and touches nothing), and without a journal it
     * leaves temporaries alone. */
    char *single = cfg.cluster_database;
    cfg.cluster_database = "host=/nonexistent/kura-unit";
    write_text(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), "x", 1);
    EXPECT(run_as(0, "user list DS1") == 0);
    EXPECT(access(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), F_OK) == 0);
    write_text(ds_file("DS1", "ledger.jsonl"), full, without);
    write_journal_for_last(full, NULL);
    EXPECT(run_as(0, "user list DS1") == 1);
    EXPECT(run_as(0, "ledger DS1") == 1);
    EXPECT(access(ds_file("DS1", ".pending"), F_OK) == 0);
    EXPECT(access(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), F_OK) == 0);
    now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strlen(now) == without);
    free(now);
    cfg.cluster_database = single;
    EXPECT(run_as(0, "user list DS1") == 0);
    now = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(now && strcmp(now, full) == 0);
    free(now);
    EXPECT(access(ds_file("DS1", ".pending"), F_OK) != 0);
    EXPECT(access(ds_file("DS1", ".dataset.ini.tmp-AbCdEf"), F_OK) != 0);
    free(full);
    free(ini);
}

/* Issue 13 §4, issue 20 §1: a withdrawal of a sample with no file yet is
 * recorded (pending), never lost; it is previewed by --dry-run and needs
 * --yes (or a terminal's confirmation); the PI's report names it. */
static void test_withdraw_pending(void)
{
    EXPECT(run_as(0, "withdraw DS1 S7 --ref W-1") == 1);
    EXPECT_STR_CONTAINS(err_buf, "no file of dataset DS1 comes from sample S7");
    EXPECT_STR_CONTAINS(err_buf, "confirm on a terminal or give --yes");
    char *ini = read_text(ds_file("DS1", "dataset.ini"));
    EXPECT(ini && !strstr(ini, "[withdrawn S7]"));
    free(ini);
    EXPECT(run_as(0, "withdraw DS1 S7 --ref W-1 --dry-run") == 0);
    EXPECT_STR_CONTAINS(out_buf, "recorded as pending");
    EXPECT_STR_CONTAINS(out_buf, "nothing was changed");
    ini = read_text(ds_file("DS1", "dataset.ini"));
    EXPECT(ini && !strstr(ini, "[withdrawn S7]"));
    free(ini);
    EXPECT(run_as(1, "withdraw DS1 S7 --ref W-1 --yes") == 1);          /* the PI may not */
    EXPECT(run_as(0, "withdraw DS1 S7 --ref W-1 --yes") == 0);
    EXPECT_STR_CONTAINS(out_buf, "the withdrawal is pending");
    ini = read_text(ds_file("DS1", "dataset.ini"));
    EXPECT(ini && strstr(ini, "[withdrawn S7]"));
    free(ini);
    char *ledger = read_text(ds_file("DS1", "ledger.jsonl"));
    EXPECT(ledger && strstr(ledger, "withdrawn (pending"));
    free(ledger);
    /* Finishing an earlier withdrawal decides nothing: no confirmation. */
    EXPECT(run_as(0, "withdraw DS1 S7 --ref W-1") == 0);
    EXPECT_STR_CONTAINS(out_buf, "already");
    EXPECT(run_as(1, "report withdrawal DS1 S7 --lang en") == 0);
    EXPECT_STR_CONTAINS(out_buf, "# Withdrawal report: DS1\n\n- Sample: S7\n");
    EXPECT_STR_CONTAINS(out_buf, "- Consent: withdrawn, pending: no file of the sample imported yet\n");
    EXPECT_STR_CONTAINS(out_buf, "- Reference: W-1\n");
    EXPECT_STR_CONTAINS(out_buf, "None imported. Any file of the sample imported later is kept without a key");
    EXPECT_STR_CONTAINS(out_buf, "Nobody opened or tried to open these files.");
    EXPECT_STR_CONTAINS(out_buf, "<!-- kura-signature: blake2b-256 ");
    /* Japanese by default, as every report of a JGA dataset */
    EXPECT(run_as(1, "report withdrawal DS1 S7") == 0);
    EXPECT_STR_CONTAINS(out_buf, "# 同意撤回の報告：DS1\n\n- 試料ID：S7\n");
    EXPECT_STR_CONTAINS(out_buf, "- 同意の状態：撤回済み（保留中：当該試料のファイルは未取り込み）\n");
    /* CSV: who opened the sample's files (nobody yet: the header) */
    EXPECT(run_as(1, "report withdrawal DS1 S7 --csv") == 0);
    EXPECT(strcmp(out_buf, "user,uid,file,opens,read_throughs,first_open,last_open,bytes_read,refused\n") == 0);
    EXPECT(run_as(1, "report withdrawal DS1 S7 --csv --json") == 2);
    EXPECT_STR_CONTAINS(err_buf, "give one");
    EXPECT(run_as(1, "report withdrawal DS1 S7 --lang fr") == 2);
    EXPECT_STR_CONTAINS(err_buf, "--lang fr: en or ja");
    EXPECT(run_as(65534, "report withdrawal DS1 S7") == 1);
    EXPECT(run_as(1, "report withdrawal DS1 S8") == 1);
    EXPECT_STR_CONTAINS(err_buf, "check the sample id");
    EXPECT(run_as(1, "report withdrawal DS1 ../S8") == 2);
}

/* R-ACC-7: lockdown state survives restarts and fails closed. */
static void test_lockdown(void)
{
    struct kura_lockdown l;
    struct kura_err e = {0};
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && !l.on);
    EXPECT(run_as(1, "lockdown --reason x") == 1);
    EXPECT(run_as(0, "lockdown") == 2);
    EXPECT(run_as(0, "lockdown --reason breach-7") == 0);
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && l.on);
    EXPECT(strcmp(l.reason, "breach-7") == 0 && strcmp(l.by, "root") == 0 && l.at > 0);
    EXPECT(run_as(65534, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "LOCKDOWN since");
    EXPECT(run_as(0, "lockdown --reason again") == 1);
    /* The reason is the operator's text, shown to every user: escaped. */
    EXPECT(run_as(0, "unlock") == 0);
    EXPECT(run_as(0, "lockdown --reason breach\xe2\x80\x8b-8") == 0);
    EXPECT(run_as(65534, "status") == 0);
    EXPECT(out_buf && !strstr(out_buf, "\xe2\x80\x8b"));
    EXPECT_STR_CONTAINS(out_buf, "(breach\\u200b-8)");
    EXPECT(run_as(0, "unlock") == 0);
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && !l.on);
    EXPECT(run_as(0, "unlock") == 1);
    /* Damaged or cut: locked down, with the reason why. */
    char path[512];
    snprintf(path, sizeof path, "%s/%s", cfg.state_dir, KURA_LOCKDOWN_FILE);
    const char *bad[] = {"", "{", "{\"reason\":\"r\",\"at\":1}", "{\"reason\":1,\"at\":1,\"by\":\"x\"}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(path, bad[i], strlen(bad[i]));
        memset(&l, 0, sizeof l);
        EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == -1 && l.on);
    }
    EXPECT(run_as(0, "unlock") == 0);
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && !l.on);
    /* Cluster mode's stamped records: the lockdown with its epoch, and the
     * unlocked record an unlock leaves. Only the exact unlocked record
     * unlocks; a bad epoch is a damaged file (locked down). */
    struct kura_lockdown w = {.on = true, .at = 5, .epoch = 41};
    snprintf(w.reason, sizeof w.reason, "breach-8");
    snprintf(w.by, sizeof w.by, "root");
    EXPECT(kura_lockdown_save(cfg.state_dir, &w, &e) == 0);
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && l.on && l.epoch == 41 && strcmp(l.reason, "breach-8") == 0);
    w.on = false;
    w.epoch = 42;
    EXPECT(kura_lockdown_save(cfg.state_dir, &w, &e) == 0);
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && !l.on && l.epoch == 42 && l.at == 5);
    EXPECT(run_as(0, "unlock") == 1);
    const char *on[] = {"{\"state\":\"Unlocked\",\"reason\":\"r\",\"at\":1,\"by\":\"x\"}",
                        "{\"state\":\"off\",\"reason\":\"r\",\"at\":1,\"by\":\"x\",\"epoch\":3}"};
    for (size_t i = 0; i < sizeof on / sizeof *on; i++) {
        write_text(path, on[i], strlen(on[i]));
        EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && l.on);
    }
    const char *damaged[] = {"{\"state\":\"unlocked\",\"at\":1}", "{\"state\":\"unlocked\",\"at\":1,\"by\":\"x\",\"epoch\":-1}",
                             "{\"state\":\"unlocked\",\"at\":1,\"by\":\"x\",\"epoch\":\"9\"}",
                             "{\"state\":\"off\",\"at\":1,\"by\":\"x\"}"};
    for (size_t i = 0; i < sizeof damaged / sizeof *damaged; i++) {
        write_text(path, damaged[i], strlen(damaged[i]));
        memset(&l, 0, sizeof l);
        EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == -1 && l.on);
    }
    /* A single server's unlock removes the file, as before. */
    EXPECT(run_as(0, "unlock") == 0);
    EXPECT(access(path, F_OK) != 0 && errno == ENOENT);
}

/* The passphrase is the first line of the file, in locked memory. */
static void test_read_passphrase(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/pass", root);
    struct kura_err e = {0};
    const char ok[] = "correct horse\r\nsecond line\n";
    write_text(path, ok, sizeof ok - 1);
    char *pass = kura_cmd_read_passphrase(path, &e);
    EXPECT(pass && strcmp(pass, "correct horse") == 0);
    kura_secure_free(pass);
    write_text(path, "no line end", 11);
    pass = kura_cmd_read_passphrase(path, &e);
    EXPECT(pass && strcmp(pass, "no line end") == 0);
    kura_secure_free(pass);
    /* An empty first line, or a NUL in it, is not a passphrase. */
    const char *bad[] = {"\nlater", "abc\0def\n", ""};
    const size_t bad_len[] = {6, 8, 0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_text(path, bad[i], bad_len[i]);
        e.code = 0;
        EXPECT(kura_cmd_read_passphrase(path, &e) == NULL && e.code == EINVAL);
    }
    char big[1100];
    memset(big, 'x', sizeof big);
    write_text(path, big, sizeof big);
    EXPECT(kura_cmd_read_passphrase(path, &e) == NULL && e.code == EFBIG);
    EXPECT_STR_CONTAINS(e.msg, "passphrase file");
}

static void append_import(const char *id, const char *detail, const char *after)
{
    struct kura_err e = {0};
    struct kura_ledger_change c = {.actor = "root", .uid = 0, .action = "dataset-import", .target = id,
                                   .detail = detail, .before = "", .after = after};
    if (strncmp(after, "removed", 7) == 0)
        c.action = KURA_LEDGER_SOURCE_ACTION;
    if (kura_ledger_append(ds_file(id, "ledger.jsonl"), &c, (int64_t)time(NULL), NULL, NULL, &e) != 0)
        printf("# append: %s\n", e.msg);
}

/* The destruction report lists, from the ledger, every delivery encrypted
 * to a key that still exists: one to the current server key (with how many
 * sources were removed), one whose key was never recorded (an import from
 * before delivery keys: it may still exist), not one to a key that is gone. */
static void test_destruction_lists_surviving_deliveries(void)
{
    ASSERT(run_as(0, "dataset add DSOLD --pi daemon --period 2026-01-01..2099-01-31") == 0);
    char pub[300], fp[KURA_KEY_FINGERPRINT_LEN + 1], detail[KURA_LEDGER_FIELD_MAX];
    uint8_t pk[C4GH_KEY_SIZE];
    struct kura_err e = {0};
    snprintf(pub, sizeof pub, "%s/%s", cfg.keys_dir, KURA_SERVER_PUB_FILE);
    ASSERT(c4gh_pubkey_load(pub, pk, &e) == 0);
    kura_key_fingerprint(pk, fp);
    append_import("DSOLD", "archive delivery, samples from /srv/old.tsv", "3 file(s), 300 bytes: a b c");
    struct kura_ledger_delivery_key cur = {.role = "server", .files = 2};
    memcpy(cur.fp, fp, sizeof cur.fp);
    ASSERT(kura_ledger_delivery_format(&cur, 1, true, detail, sizeof detail, &e) == 0);
    append_import("DSOLD", detail, "2 file(s), 200 bytes: d e");
    append_import("DSOLD", "sources of the import before (--remove-source)", "removed 2 of 2");
    struct kura_ledger_delivery_key gone = {.role = "server", .files = 1};
    memset(gone.fp, 'a', KURA_KEY_FINGERPRINT_LEN);
    ASSERT(kura_ledger_delivery_format(&gone, 1, false, detail, sizeof detail, &e) == 0);
    append_import("DSOLD", detail, "1 file(s), 100 bytes: f");

    ASSERT(run_as(0, "dataset destroy DSOLD --yes") == 0);
    char row[200];
    snprintf(row, sizeof row, "| server key %s | 2 | removed 2 of 2 | 2 file(s), 200 bytes: d e |", fp);
    EXPECT_STR_CONTAINS(out_buf, row);
    EXPECT_STR_CONTAINS(out_buf, "| server key (not recorded: imported before kura recorded delivery keys) | 3 | kept |");
    EXPECT(!strstr(out_buf, gone.fp));
    EXPECT_STR_CONTAINS(out_buf, "2 of the dataset's 3 recorded deliveries");
    snprintf(row, sizeof row, "- %s current: still exists", fp);
    EXPECT_STR_CONTAINS(out_buf, row);
    /* Beginning a change refuses a destroyed dataset, whatever the command;
     * its views and its report stay. */
    static const char *const changes[] = {"dataset suspend DSOLD --reason x", "dataset resume DSOLD",
                                          "dataset extend DSOLD --until 2099-06-30 --ref R",
                                          "user add DSOLD nobody", "withdraw DSOLD S1 --ref R --yes"};
    for (size_t i = 0; i < sizeof changes / sizeof *changes; i++) {
        EXPECT(run_as(0, changes[i]) == 1);
        EXPECT_STR_CONTAINS(err_buf, "dataset DSOLD was destroyed; nothing can change it");
    }
    EXPECT(run_as(0, "report destruction DSOLD") == 0);
    EXPECT(run_as(0, "user list DSOLD") == 0);
    EXPECT_STR_CONTAINS(out_buf, "destroyed");
    /* The reports say the keystore holds nothing of it, checked each time:
     * a header, or a dataset key, found there again makes them fail. */
    char kdir[400], id[KURA_FILE_ID_LEN + 1], p[600];
    struct kura_err ke = {0};
    snprintf(kdir, sizeof kdir, "%s/datasets/DSOLD", cfg.keys_dir);
    ASSERT(kura_mkdir_p(kdir, 0700, &ke) == 0);
    kura_file_id_new(id);
    snprintf(p, sizeof p, "%s/%s.hdr", kdir, id);
    ASSERT(kura_write_file_atomic(p, "crypt4gh", 8, 0600, &ke) == 0);
    EXPECT(run_as(0, "report destruction DSOLD") == 1);
    EXPECT_STR_CONTAINS(err_buf, "the keystore still holds key material of dataset DSOLD");
    EXPECT(unlink(p) == 0);
    snprintf(p, sizeof p, "%s/dataset.key.c4gh", kdir);
    ASSERT(kura_write_file_atomic(p, "crypt4gh", 8, 0600, &ke) == 0);
    EXPECT(run_as(0, "report destruction DSOLD") == 1);
    EXPECT_STR_CONTAINS(err_buf, "the keystore still holds key material of dataset DSOLD");
    EXPECT(unlink(p) == 0);
    EXPECT(rmdir(kdir) == 0);
    EXPECT(run_as(0, "report destruction DSOLD") == 0);
}

static bool file_contains(const char *path, const char *needle)
{
    char *text = read_text(path);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

/* Issue 13: system accounts are refused; an operator's grant to root (or
 * an operator, or themselves) is pending until the PI, and only the PI,
 * approves it; the ledger names both actors; the PI's own grant needs no
 * approval. */
static void test_separation_of_duties(void)
{
    cfg.login_uid_min = cfg.login_uid_max = 0; /* the default: login.defs */
    EXPECT(run_as(0, "user add DS1 bin") == 1);
    EXPECT_STR_CONTAINS(err_buf, "bin (uid 2) is a system account");
    EXPECT(run_as(0, "user add DS1 nobody") == 1);
    EXPECT_STR_CONTAINS(err_buf, "system account");
    EXPECT(!file_contains(ds_file("DS1", "dataset.ini"), "[user bin]"));
    cfg.login_uid_min = 1;
    cfg.login_uid_max = 65534;

    ASSERT(run_as(0, "user add DS1 root") == 0);
    EXPECT_STR_CONTAINS(out_buf, "reads nothing until the PI approves");
    EXPECT(file_contains(ds_file("DS1", "dataset.ini"), "pending = yes"));
    EXPECT(file_contains(ds_file("DS1", "ledger.jsonl"), "pending=approval-by-pi-daemon"));
    EXPECT(run_as(0, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "pending approval");
    EXPECT(run_as(1, "user list DS1") == 0);
    EXPECT_STR_CONTAINS(out_buf, "pending");
    EXPECT_STR_CONTAINS(out_buf, "needs the PI");
    /* Only the PI approves: not the operator who added it, not another PI. */
    EXPECT(run_as(0, "user approve DS1 root") == 1);
    EXPECT_STR_CONTAINS(err_buf, "only the PI of dataset DS1");
    EXPECT(run_as(2, "user approve DS1 root") == 1);
    EXPECT(file_contains(ds_file("DS1", "dataset.ini"), "pending = yes"));
    EXPECT(run_as(1, "user approve DS1 nobody") == 1);
    EXPECT_STR_CONTAINS(err_buf, "not awaiting approval");
    EXPECT(run_as(1, "user approve DS1 root") == 0);
    EXPECT(!file_contains(ds_file("DS1", "dataset.ini"), "pending = yes"));
    EXPECT(file_contains(ds_file("DS1", "dataset.ini"), "approved_by = daemon"));
    EXPECT(file_contains(ds_file("DS1", "ledger.jsonl"), "\"action\":\"user-approve\""));
    EXPECT(file_contains(ds_file("DS1", "ledger.jsonl"), "added by root"));
    EXPECT(run_as(1, "user approve DS1 root") == 1);
    /* The PI's own grant to root is the PI's confirmation. */
    EXPECT(run_as(2, "user add AGD1 root --approval A-2") == 0);
    EXPECT(!file_contains(ds_file("AGD1", "dataset.ini"), "pending = yes"));
    EXPECT(file_contains(ds_file("AGD1", "dataset.ini"), "approved_by = bin"));
}

/* user remove takes off the grant it names, wherever it stands in the
 * list, and only that one: the others keep their grants. */
static void test_user_remove_takes_off_the_named_grant(void)
{
    ASSERT(run_as(0, "dataset add DSRM --pi daemon --period 2026-01-01..2099-12-31") == 0);
    ASSERT(run_as(1, "user add DSRM bin") == 0);
    ASSERT(run_as(1, "user add DSRM sys") == 0);
    ASSERT(run_as(1, "user add DSRM nobody") == 0);
    EXPECT(run_as(1, "user remove DSRM sys") == 0);
    EXPECT(file_contains(ds_file("DSRM", "dataset.ini"), "[user bin]"));
    EXPECT(!file_contains(ds_file("DSRM", "dataset.ini"), "[user sys]"));
    EXPECT(file_contains(ds_file("DSRM", "dataset.ini"), "[user nobody]"));
    EXPECT(run_as(1, "user remove DSRM nobody") == 0);
    EXPECT(file_contains(ds_file("DSRM", "dataset.ini"), "[user bin]"));
    EXPECT(!file_contains(ds_file("DSRM", "dataset.ini"), "[user nobody]"));
    EXPECT(run_as(1, "user remove DSRM sys") == 1);
    EXPECT_STR_CONTAINS(err_buf, "sys is not listed in dataset DSRM");
}

/* The test server's audit log, opened to append records of our making. */
static struct kura_audit_log *open_audit_log(void)
{
    char akey[300];
    snprintf(akey, sizeof akey, "%s/%s", cfg.keys_dir, KURA_AUDIT_KEY_FILE);
    struct kura_err e = {0};
    unsigned char *key = kura_audit_key_load(akey, &e);
    if (!key)
        return NULL;
    struct kura_audit_log *log = kura_audit_open(cfg.audit_log, key, NULL, &e);
    kura_secure_free(key);
    return log;
}

/* Through the daemon, a large audit result comes in pages that end on a
 * whole record at a quarter of the daemon's output cap and say where to go
 * on; page after page gives every record once. (A 1 MiB cap here, the
 * daemon's is KURA_CTL_MAX_OUTPUT.) */
static void test_audit_pages_through_the_daemon(void)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    static char path[KURA_AUDIT_PATH_MAX + 1], text[KURA_AUDIT_TEXT_MAX + 1];
    memset(path, 'p', KURA_AUDIT_PATH_MAX);
    memset(text, 't', KURA_AUDIT_TEXT_MAX);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_WRITE_DENIED;
    r.decision = KURA_AUDIT_DENY;
    r.dataset = "PAGES1";
    r.path = path;
    r.exe = r.detail = r.reason = text;
    r.uid = 4242;
    int n = 0;
    while (n < 100 && kura_audit_append(log, &r, &e) == 0) /* about 8 KiB each */
        n++;
    kura_audit_close(log);
    EXPECT(n == 100);
    env.socket_mode = true;
    env.output_max = 1u << 20;
    size_t seen = 0, pages = 0;
    char cmd[128] = "audit --dataset PAGES1 --json";
    for (;;) {
        EXPECT(run_as(0, cmd) == 0);
        EXPECT(out_len <= (256u << 10) + (16u << 10)); /* a page, not the cap */
        EXPECT(out_len > 0 && out_buf[out_len - 1] == '\n');
        for (const char *p = out_buf; (p = strstr(p, "\"seq\":")); p++)
            seen++;
        pages++;
        const char *more = err_buf ? strstr(err_buf, "continue with --after ") : NULL;
        if (!more || pages > 10)
            break;
        snprintf(cmd, sizeof cmd, "audit --dataset PAGES1 --json --after %s", more + strlen("continue with --after "));
        cmd[strcspn(cmd, "\n")] = '\0';
    }
    env.socket_mode = false;
    env.output_max = 0;
    EXPECT(pages >= 3);
    EXPECT(seen == (size_t)n);
    printf("# %d records in %zu pages\n", n, pages);
}

/* r: an allowed open of dataset/path by cat, for a report to count. */
static void allowed_open(struct kura_audit_record *r, const char *dataset, const char *path)
{
    kura_audit_record_init(r);
    r->event = KURA_AUDIT_OPEN;
    r->decision = KURA_AUDIT_ALLOW;
    r->dataset = dataset;
    r->path = path;
    r->exe = "/usr/bin/cat";
}

/* Through the daemon, an incident report gathers no more opens than its
 * answer could carry (rows held in the daemon's locked memory): over
 * that, it is refused with what to do, whole or not at all. Direct, no
 * bound. (A 10- and a 200-row bound here, from small caps: refused writes
 * are rows too, and the window holds test_audit_pages_through_the_daemon's
 * 100.) */
static void test_incident_bounded_through_the_daemon(void)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, "INC1", "incident-row.bin");
    r.uid = 4243;
    int n = 0;
    while (n < 12 && kura_audit_append(log, &r, &e) == 0)
        n++;
    kura_audit_close(log);
    ASSERT(n == 12);
    char cmd[160], from[16], to[16];
    time_t now = time(NULL), f = now - 2 * 86400, t = now + 2 * 86400;
    strftime(from, sizeof from, "%Y-%m-%d", gmtime(&f));
    strftime(to, sizeof to, "%Y-%m-%d", gmtime(&t));
    snprintf(cmd, sizeof cmd, "report incident --from %s --to %s --json", from, to);
    env.socket_mode = true;
    env.output_max = 10 * 256;
    EXPECT(run_as(0, cmd) == 1);
    EXPECT_STR_CONTAINS(err_buf, "more than 10 opens in the window");
    EXPECT(out_len == 0);
    env.output_max = 200 * 256;
    EXPECT(run_as(0, cmd) == 0);
    env.socket_mode = false;
    env.output_max = 0;
    EXPECT(run_as(0, cmd) == 0);
    size_t rows = 0;
    for (const char *p = out_buf; p && (p = strstr(p, "incident-row.bin")); p++)
        rows++;
    EXPECT(rows == 12);
}

/* A command's "now" is the audit records' clock (CLOCK_REALTIME): a usage
 * report ends its window at now + 1 s, so it must not be a second behind a
 * record just made. time() is: it reads the clock of the last tick, up to
 * a few milliseconds into each new second (this made
 * test_usage_report_names_another_name_of_a_listed_uid fail now and then).
 * Looked at right after three second boundaries. */
static void test_now_is_the_records_clock(void)
{
    int behind = 0;
    for (int look = 0; look < 3; look++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long wait_ns = 1000000000L - ts.tv_nsec - 2000000L;
        struct timespec nap = {0, wait_ns > 0 ? wait_ns : 0};
        nanosleep(&nap, NULL);
        time_t second = ts.tv_sec;
        while (second == ts.tv_sec) /* the boundary, to the microsecond */
            clock_gettime(CLOCK_REALTIME, &ts);
        if (cmd_now() < (int64_t)ts.tv_sec)
            behind++;
    }
    EXPECT(behind == 0);
}

/* The usage report hides no one: an account the log saw at a dataset under
 * a listed user's uid but another name (a renamed account, a reused uid)
 * is no listed user, and gets a row of its own, "not listed". */
static void test_usage_report_names_another_name_of_a_listed_uid(void)
{
    struct kura_err e = {0};
    ASSERT(file_contains(ds_file("DS1", "dataset.ini"), "[user nobody]"));
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, "DS1", "renamed.bin");
    r.user = "kt_renamed";
    r.uid = 65534;      /* nobody's, listed in DS1 */
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    r.user = "kt_renamed_pi";
    r.uid = 1;          /* the PI's (daemon) */
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);
    EXPECT(run_as(0, "report usage DS1 --json") == 0);
    EXPECT_STR_CONTAINS(out_buf, "\"user\":\"kt_renamed\",\"role\":\"not-listed\"");
    EXPECT_STR_CONTAINS(out_buf, "\"user\":\"kt_renamed_pi\",\"role\":\"not-listed\"");
}

/* A dataset's usage report holds its own incidents only: an alert or a
 * suspension of another dataset (its users, its reasons) is not shown to
 * this dataset's PI. */
static void test_usage_report_keeps_to_its_dataset(void)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_ALERT;
    r.dataset = "DSRM";
    r.user = "kt_elsewhere";
    r.uid = 2;
    r.reason = "bulk read";
    r.bytes = 12345;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_SUSPEND;
    r.dataset = "DSRM";
    r.reason = "elsewhere-incident-R-9";
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);
    EXPECT(run_as(0, "report usage DS1 --json") == 0);
    EXPECT(out_buf && !strstr(out_buf, "kt_elsewhere"));
    EXPECT(out_buf && !strstr(out_buf, "elsewhere-incident-R-9"));
    EXPECT(run_as(0, "report usage DSRM --json") == 0);
    EXPECT_STR_CONTAINS(out_buf, "kt_elsewhere");
    EXPECT_STR_CONTAINS(out_buf, "elsewhere-incident-R-9");
}

/* A user's status lists the user's refusals: the path opened and the
 * program refused are the user's choice, shown escaped (an escape sequence
 * in a program's name must not reach the terminal). */
static void test_status_refusals_escaped(void)
{
    struct kura_err e = {0};
    ASSERT(file_contains(ds_file("DS1", "dataset.ini"), "[user nobody]"));
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, "DS1", "p\xe2\x80\xaeq.bin");
    r.decision = KURA_AUDIT_DENY;
    r.reason = kura_reason_name(KURA_DENY_GUARD);
    r.exe = "/home/nobody/ev\x1b[2Jil";
    r.user = "nobody";
    r.uid = 65534;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);
    EXPECT(run_as(65534, "status") == 0);
    EXPECT(out_buf && !strchr(out_buf, '\x1b') && !strstr(out_buf, "\xe2\x80\xae"));
    EXPECT_STR_CONTAINS(out_buf, "p\\u202eq.bin: copy-out tool refused: ev\\x1b[2Jil\n");
}

/* Through the daemon, delivery make refuses a relative FILE (after "--",
 * kuractl leaves it as typed) and a relative --out=DIR: the daemon's
 * working directory is not the caller's. */
static void test_delivery_relative_through_the_daemon(void)
{
    env.socket_mode = true;
    int rc_file = run_as(0, "delivery make --to server -- rel.bin");
    char *err_file = strdup(err_buf ? err_buf : "");
    int rc_out = run_as(0, "delivery make --to server --out=outrel /nonexistent/x.bin");
    env.socket_mode = false;
    EXPECT(rc_file == KURA_EXIT_FAIL && rc_out == KURA_EXIT_FAIL);
    EXPECT_STR_CONTAINS(err_file, "rel.bin: give an absolute path to the daemon");
    EXPECT_STR_CONTAINS(err_buf, "outrel: give an absolute path to the daemon");
    free(err_file);
}

/* kuractl ledger shows every text of a record escaped: a source path or
 * a file name (the archive's or the operator's choice) with U+202E
 * reaches the terminal as \u202e, whichever field holds it. */
static void test_ledger_view_escapes_every_field(void)
{
    struct kura_err e = {0};
    static const char rlo[] = "\xe2\x80\xae";
    const char *const fields[] = {"target", "before", "detail"};
    for (size_t i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof text, "/srv/in/ok%stxt.exe-%s", rlo, fields[i]);
        struct kura_ledger_change ch = {.actor = "root", .uid = 0, .action = "dataset-import-source",
                                        .target = i == 0 ? text : "x", .detail = i == 2 ? text : "",
                                        .before = i == 1 ? text : "", .after = ""};
        ASSERT(kura_ledger_append(ds_file("DS1", "ledger.jsonl"), &ch, time(NULL), NULL, NULL, &e) == 0);
    }
    EXPECT(run_as(0, "ledger DS1") == 0);
    EXPECT(out_buf && !strstr(out_buf, rlo));
    EXPECT_STR_CONTAINS(out_buf, "/srv/in/ok\\u202etxt.exe-target");
    EXPECT_STR_CONTAINS(out_buf, "/srv/in/ok\\u202etxt.exe-before");
    EXPECT_STR_CONTAINS(out_buf, "/srv/in/ok\\u202etxt.exe-detail");
}

/* A file's name is the archive's choice (kura_path_check lets a bidi
 * override or a C1 control stand in it): the withdrawal's preview, which
 * an operator reads before confirming which files stop being served,
 * shows it escaped as every other view does. */
static void test_withdraw_preview_escapes_paths(void)
{
    static const char rlo[] = "\xe2\x80\xae", csi[] = "\xc2\x9b";
    ASSERT(run_as(0, "dataset add DSWP --pi daemon --period 2026-01-01..2099-12-31") == 0);
    char p1[64], p2[64], *s1[] = {"SWP1"}, *s2[] = {"SWP1", "SWP2"};
    snprintf(p1, sizeof p1, "in/ok%stxt.exe", rlo);
    snprintf(p2, sizeof p2, "in/b%s31mred.bam", csi);
    struct kura_file files[2] = {{.path = p1, .size = 1, .nsamples = 1, .samples = s1},
                                 {.path = p2, .size = 1, .nsamples = 2, .samples = s2}};
    kura_file_id_new(files[0].file_id);
    kura_file_id_new(files[1].file_id);
    struct kura_err e = {0};
    ASSERT(kura_files_save(ds_file("DSWP", KURA_FILES_TSV), files, 2, &e) == 0);
    EXPECT(run_as(0, "withdraw DSWP SWP1 --ref W-1 --dry-run") == 0);
    EXPECT(out_buf && !strstr(out_buf, rlo) && !strstr(out_buf, csi));
    EXPECT_STR_CONTAINS(out_buf, "in/ok\\u202etxt.exe");
    EXPECT_STR_CONTAINS(out_buf, "in/b\\u009b31mred.bam");
}

/* And the import's own list of files of a withdrawn sample, which it
 * keeps unserved: names of the delivery's choosing, shown escaped. */
static void test_import_withdrawn_list_escapes_paths(void)
{
    static const char rlo[] = "\xe2\x80\xae";
    ASSERT(run_as(0, "dataset add DSIW --pi daemon --period 2026-01-01..2099-12-31") == 0);
    ASSERT(run_as(0, "withdraw DSIW SIW1 --ref W-1 --yes") == 0);
    char dir[200], name[300], map[200], line[200];
    snprintf(dir, sizeof dir, "%s/inw", root);
    ASSERT(mkdir(dir, 0700) == 0);
    snprintf(name, sizeof name, "%s/ok%stxt.exe", dir, rlo);
    write_text(name, "ACGT\n", 5);
    snprintf(map, sizeof map, "%s/inw.tsv", root);
    int n = snprintf(line, sizeof line, "ok%stxt.exe\tSIW1\n", rlo);
    write_text(map, line, (size_t)n);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "dataset import DSIW --encrypt --samples %s %s", map, dir);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT_STR_CONTAINS(out_buf, "kept unserved without a key");
    EXPECT(out_buf && !strstr(out_buf, rlo));
    EXPECT_STR_CONTAINS(out_buf, "ok\\u202etxt.exe");
}

/* Text a PI gives (a grant's approval, institution; a dataset's title, ethics approval)
 * may hold invisible characters (a zero-width space, Unicode tags: text.h);
 * every view escapes them, so that two texts an auditor sees as one are
 * told apart and no hidden text rides along. user list is such a view. */
static void test_user_list_escapes_invisible_text(void)
{
    static const char zwsp[] = "\xe2\x80\x8b", tag[] = "\xf3\xa0\x81\x81";
    char cmd[300];
    snprintf(cmd, sizeof cmd,
             "dataset add DSZW --pi daemon --period 2026-01-01..2099-12-31 --title Gut%sflora --ethics IRB%s-9 "
             "--ethics-until 2099-12-31",
             zwsp, zwsp);
    ASSERT(run_as(0, cmd) == 0);
    snprintf(cmd, sizeof cmd, "user add DSZW nobody --approval OK%s-1 --institution Kyoto%sUniv", zwsp, tag);
    ASSERT(run_as(1, cmd) == 0);
    EXPECT(run_as(1, "user list DSZW") == 0);
    EXPECT(out_buf && !strstr(out_buf, zwsp) && !strstr(out_buf, tag));
    EXPECT_STR_CONTAINS(out_buf, "OK\\u200b-1");
    EXPECT_STR_CONTAINS(out_buf, "Kyoto\\U000e0041Univ");
    EXPECT_STR_CONTAINS(out_buf, ": Gut\\u200bflora\n");
    /* And the listed user's own status: its grants' history quotes them. */
    EXPECT(run_as(65534, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "your grants' history");
    EXPECT(out_buf && !strstr(out_buf, zwsp) && !strstr(out_buf, tag));
    EXPECT_STR_CONTAINS(out_buf, "approval=OK\\u200b-1");
    /* The PI's status: the dataset's ethics approval. */
    EXPECT(run_as(1, "status") == 0);
    EXPECT_STR_CONTAINS(out_buf, "ethics approvals:");
    EXPECT(out_buf && !strstr(out_buf, zwsp));
    EXPECT_STR_CONTAINS(out_buf, "IRB\\u200b-9\n");
}

/* Separation of duties: root acting for a logged-in person (sudo from
 * their login) who lists that person is granting to themselves: the
 * grant waits for the PI. Root acting for no one lists them at once. */
static void test_root_via_login_grant_waits_for_the_pi(void)
{
    struct kura_err e = {0};
    struct kura_actor root_a;
    ASSERT(kura_actor_resolve(0, 0, 0, &root_a, &e) == 0);
    ASSERT(run_as(0, "dataset add DSVIA --pi daemon --period 2026-01-01..2099-12-31") == 0);
    char *errs = NULL;
    size_t errs_len = 0;
    FILE *err = open_memstream(&errs, &errs_len);
    ASSERT(err);
    struct kura_user_add_request rq = {.dataset = "DSVIA", .user = "sys", .role = KURA_ROLE_CO_INVESTIGATOR,
                                       .approval = ""};
    struct kura_user_add_result res;
    EXPECT(kura_change_user_add(&env, &root_a, err, &rq, &res) == KURA_EXIT_OK);
    EXPECT(!res.grant.pending);
    struct kura_actor via = root_a;
    snprintf(via.via, sizeof via.via, "login bin");
    rq.user = "bin";
    EXPECT(kura_change_user_add(&env, &via, err, &rq, &res) == KURA_EXIT_OK);
    EXPECT(res.grant.pending);
    fclose(err);
    free(errs);
    EXPECT(file_contains(ds_file("DSVIA", "ledger.jsonl"), "pending=approval-by-pi-daemon"));
}

/* A usage report's period is [--from's first instant, the day after --to):
 * an open at its first millisecond counts, one at the next period's first
 * millisecond does not, and neither does one a millisecond before. */
static void test_usage_report_period_edges(void)
{
    struct kura_err e = {0};
    int64_t from, to, s, end;
    ASSERT(kura_when_parse("2026-03-01", cfg.zone, &from, &end, &e) == 0);
    ASSERT(kura_when_parse("2026-03-31", cfg.zone, &s, &to, &e) == 0);
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    static const char *const users[] = {"kt_w_first", "kt_w_last", "kt_w_before", "kt_w_after"};
    const int64_t at[] = {from * 1000, to * 1000 - 1, from * 1000 - 1, to * 1000};
    for (int i = 0; i < 4; i++) {
        struct kura_audit_record r;
        allowed_open(&r, "DSRM", "window.bin");
        r.time_ms = at[i];
        r.user = users[i];
        r.uid = 60001 + i;
        EXPECT(kura_audit_append(log, &r, &e) == 0);
    }
    kura_audit_close(log);
    /* The changes table keeps to the same period (the ledger's seconds). */
    static const char *const targets[] = {"kt_c_first", "kt_c_last", "kt_c_before", "kt_c_after"};
    const int64_t when[] = {from, to - 1, from - 1, to};
    for (int i = 0; i < 4; i++) {
        struct kura_ledger_change ch = {.actor = "root", .uid = 0, .action = "user-update", .target = targets[i],
                                        .detail = "", .before = "", .after = "institution=X"};
        EXPECT(kura_ledger_append(ds_file("DSRM", "ledger.jsonl"), &ch, when[i], cfg.zone, NULL, &e) == 0);
    }
    EXPECT(run_as(0, "report usage DSRM --from 2026-03-01 --to 2026-03-31 --json") == 0);
    EXPECT_STR_CONTAINS(out_buf, "kt_c_first");
    EXPECT_STR_CONTAINS(out_buf, "kt_c_last");
    EXPECT(out_buf && !strstr(out_buf, "kt_c_before"));
    EXPECT(out_buf && !strstr(out_buf, "kt_c_after"));
    EXPECT_STR_CONTAINS(out_buf, "kt_w_first");
    EXPECT_STR_CONTAINS(out_buf, "kt_w_last");
    EXPECT(out_buf && !strstr(out_buf, "kt_w_before"));
    EXPECT(out_buf && !strstr(out_buf, "kt_w_after"));
}

/* The row of the usage report's JSON (in out_buf) naming user, role as
 * given: true when it holds want (a "key":value piece). */
static bool report_row_has(const char *user, const char *role, const char *want)
{
    char head[128];
    snprintf(head, sizeof head, "{\"user\":\"%s\",\"role\":\"%s\"", user, role);
    const char *row = out_buf ? strstr(out_buf, head) : NULL;
    const char *end = row ? strchr(row, '}') : NULL;
    const char *hit = row ? strstr(row, want) : NULL;
    return hit && hit < end;
}

/* The usage report counts per account (name and uid): a second account of
 * a listed user's name (deleted and made again, another uid) is not the
 * listed one, and a refusals summary counts every refusal it holds, one
 * included. */
static void test_usage_report_counts_per_account(void)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, "DSRM", "acct.bin");
    r.user = "bin";
    r.uid = 2;          /* bin, listed in DSRM */
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    r.uid = 60100;      /* another account named bin */
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_record_init(&r);
    r.event = KURA_AUDIT_REFUSALS;
    r.dataset = "DSRM";
    r.user = "kt_r_one";
    r.uid = 60101;
    r.count = 1;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);
    EXPECT(run_as(0, "report usage DSRM --json") == 0);
    EXPECT(report_row_has("bin", "co-investigator", "\"opens\":1,"));
    EXPECT(report_row_has("bin", "not-listed", "\"opens\":1,"));
    EXPECT(report_row_has("kt_r_one", "not-listed", "\"refused\":1,"));
    /* DS1's withdrawal of S7 (today) is in a report of a period holding
     * today, and in none that ends before it or starts after it. */
    char day[4][16], cmd[200];
    time_t now = time(NULL);
    for (int i = 0; i < 4; i++) {
        time_t t = now + (i - 1) * 2 * 86400;
        strftime(day[i], sizeof day[i], "%Y-%m-%d", localtime(&t));
    }
    snprintf(cmd, sizeof cmd, "report usage DS1 --from %s --to %s --json", day[0], day[2]);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT_STR_CONTAINS(out_buf, "\"sample\":\"S7\"");
    snprintf(cmd, sizeof cmd, "report usage DS1 --from 2026-01-01 --to %s --json", day[0]);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT(out_buf && !strstr(out_buf, "\"sample\":\"S7\""));
    snprintf(cmd, sizeof cmd, "report usage DS1 --from %s --to %s --json", day[2], day[3]);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT(out_buf && !strstr(out_buf, "\"sample\":\"S7\""));
}

/* An allowed open of dataset by user (uid), now, in the test log. */
static void append_open(const char *dataset, const char *user, int64_t uid)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, dataset, "former.bin");
    r.user = user;
    r.uid = uid;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);
}

/* A former user's row in the usage report gives the institution and
 * training the ledger last recorded while they were listed (by user add,
 * an approval that holds the records' words read as the approval; by user
 * update); one recorded without an institution says none; a PI's, of
 * which the ledger records nothing,
 * says not recorded, not none (which an auditor reads as "untrained").
 * An institution that would read as another record is refused. */
static void test_former_rows_give_the_ledgers_records(void)
{
    struct kura_actor root_a;
    struct kura_err e = {0};
    ASSERT(kura_actor_resolve(0, 0, getpid(), &root_a, &e) == 0);
    ASSERT(run_as(0, "dataset add DSFMR --pi daemon --period 2026-01-01..2099-12-31") == 0);
    FILE *err = fopen("/dev/null", "w");
    ASSERT(err);
    struct kura_user_add_request add = {.dataset = "DSFMR", .user = "bin", .role = KURA_ROLE_CO_INVESTIGATOR,
                                        .approval = "J-DU1 institution=Not This trained=2020-01-01",
                                        .institution = "Univ of Kura", .trained = "2026-01-10"};
    struct kura_user_add_result added;
    EXPECT(kura_change_user_add(&env, &root_a, err, &add, &added) == KURA_EXIT_OK);
    append_open("DSFMR", "bin", 2);
    EXPECT(run_as(0, "user remove DSFMR bin") == 0);
    EXPECT(run_as(0, "user add DSFMR nobody") == 0);
    EXPECT(run_as(0, "user update DSFMR nobody --trained 2026-01-12") == 0);
    append_open("DSFMR", "nobody", 65534);
    EXPECT(run_as(0, "user remove DSFMR nobody") == 0);
    append_open("DSFMR", "daemon", 1);
    EXPECT(run_as(0, "dataset set-pi DSFMR sys") == 0);
    add.user = "nobody";
    add.approval = "";
    add.institution = "Univ trained=2020-01-01";
    EXPECT(kura_change_user_add(&env, &root_a, err, &add, &added) == KURA_EXIT_FAIL);
    fclose(err);
    EXPECT(run_as(0, "report usage DSFMR --json") == 0);
    EXPECT(report_row_has("bin", "former-user", "\"institution\":\"Univ of Kura\",\"trained\":\"2026-01-10\""));
    EXPECT(report_row_has("nobody", "former-user", "\"institution\":\"none\",\"trained\":\"2026-01-12\""));
    EXPECT(report_row_has("daemon", "former-pi", "\"institution\":\"not-recorded\",\"trained\":\"not-recorded\""));
    EXPECT(report_row_has("sys", "pi", "\"institution\":\"not-recorded\",\"trained\":\"not-recorded\""));
    EXPECT(run_as(0, "report usage DSFMR --lang en") == 0);
    EXPECT_STR_CONTAINS(out_buf, "| not recorded | not recorded |");
}

/* Everyone who had access is named at the end of use, whether they used
 * it or not: the destruction report and the end-of-use report list a
 * user removed before reading anything and the PI replaced by set-pi,
 * each with the ledger's period, beside the PI and users listed now; a
 * usage report lists such a former listing when its period overlaps the
 * report's. */
static void test_end_of_use_names_everyone_listed(void)
{
    ASSERT(run_as(0, "dataset add DSEND --pi daemon --period 2026-01-01..2099-12-31") == 0);
    EXPECT(run_as(0, "user add DSEND bin") == 0);
    EXPECT(run_as(0, "user remove DSEND bin") == 0);
    EXPECT(run_as(0, "user add DSEND nobody") == 0);
    EXPECT(run_as(0, "dataset set-pi DSEND sys") == 0);
    EXPECT(run_as(0, "report usage DSEND --json") == 0);
    EXPECT(report_row_has("bin", "former-user", "\"opens\":0,"));
    EXPECT(report_row_has("daemon", "former-pi", "\"opens\":0,"));
    EXPECT(run_as(0, "report usage DSEND --from 2026-01-01 --to 2026-01-31 --json") == 0);
    EXPECT(report_row_has("daemon", "former-pi", "\"from\":\"2026-01-01T00:00:00"));
    EXPECT(out_buf && !strstr(out_buf, "\"user\":\"bin\""));   /* listed after that period */

    EXPECT(run_as(0, "dataset destroy DSEND --yes") == 0);
    EXPECT_STR_CONTAINS(out_buf, "| user | role | uid | from | until | opens | read-throughs | last access |");
    EXPECT_STR_CONTAINS(out_buf, "\n| sys | pi | 3 | ");
    EXPECT_STR_CONTAINS(out_buf, "\n| nobody | co-investigator | 65534 | ");
    EXPECT_STR_CONTAINS(out_buf, "\n| bin | former-user | 2 | ");
    EXPECT_STR_CONTAINS(out_buf, "\n| daemon | former-pi | 1 | 2026-01-01T00:00:00");
    EXPECT(run_as(0, "report end-of-use DSEND --json") == 0);
    EXPECT(report_row_has("sys", "pi", "\"opens\":0,"));
    EXPECT(report_row_has("nobody", "co-investigator", "\"opens\":0,"));
    EXPECT(report_row_has("bin", "former-user", "\"opens\":0,"));
    EXPECT(report_row_has("daemon", "former-pi", "\"from\":\"2026-01-01T00:00:00"));
}

/* In cluster mode each node numbers its own records: a report's log items
 * give each node's value, named, never one node's seq as the whole log's
 * (read by node, then seq: n1 from 1 to 3; n2 from 4, its 6 missing). */
static void test_cluster_log_items_per_node(void)
{
    static const struct { const char *node; uint64_t seq; } read[] = {
        {"n1", 1}, {"n1", 2}, {"n1", 3}, {"n2", 4}, {"n2", 5}, {"n2", 7}};
    struct cmd_log_span sp = {0};
    for (size_t i = 0; i < sizeof read / sizeof *read; i++) {
        struct kura_audit_entry e = {.seq = read[i].seq};
        e.rec.time_ms = INT64_C(1800000000000) + (int64_t)i * 1000;
        cmd_log_span_take(&sp, true, &e, read[i].node);
    }
    static const struct kura_report_label title = {"t", "t", "t"};
    struct kura_cmd_ctx cc = {.env = &env};
    struct kura_report r;
    kura_report_init(&r, &title, "X");
    cmd_report_log_items(&cc, &r, &sp, 7, 0);
    char *json = NULL, at[48];
    size_t len;
    FILE *f = open_memstream(&json, &len);
    ASSERT(f);
    struct kura_err e = {0};
    EXPECT(kura_report_json(f, &r, &e) == 0);
    fclose(f);
    EXPECT_STR_CONTAINS(json, "\"audit_log_seq\":\"n1: 3, n2: 7\"");
    EXPECT_STR_CONTAINS(json, "\"audit_log_first_seq\":\"n1: 1, n2: 4\"");
    EXPECT_STR_CONTAINS(json, "\"audit_log_missing_within\":\"n1: 0, n2: 1\"");
    char want[96];
    snprintf(want, sizeof want, "\"audit_log_missing_before\":\"n2: %s\"", cmd_time(&cc, 1800000003, at, sizeof at));
    EXPECT_STR_CONTAINS(json, want);
    free(json);
    kura_report_free(&r);
    cmd_log_span_free(&sp);
}

/* Which listing a record falls in (found by an auditor's review): a
 * former grant's reads are its own, a re-added user's grant now takes only
 * what came under it, an allowed open between grants is no one's, a
 * refusal after a removal is the former user's, and a person listed only
 * now takes everything (as before the ledger was read). */
static void test_listing_of_a_record(void)
{
    struct cmd_listing v[] = {
        {.user = "kt_a", .uid = 7, .from = 1000, .until = 2000, .pi = true},
        {.user = "kt_c", .uid = 9, .from = 1100, .until = 1500},
        {.user = "kt_c", .uid = 9, .from = 1800, .until = INT64_MAX, .current = true},
        {.user = "kt_d", .uid = 8, .from = 2000, .until = INT64_MAX, .pi = true, .current = true},
    };
    struct cmd_listings l = {.v = v, .n = 4};
    EXPECT(cmd_listing_of(&l, "kt_a", 7, 1500 * 1000, true) == 1);
    EXPECT(cmd_listing_of(&l, "kt_a", 7, 2000 * 1000 + 999, true) == 1);   /* the set-pi's second counts whole */
    EXPECT(cmd_listing_of(&l, "kt_a", 7, 2001 * 1000, true) == 0);         /* an open after it: not listed */
    EXPECT(cmd_listing_of(&l, "kt_a", 7, 2001 * 1000, false) == 1);        /* a refusal after it: the former PI's */
    EXPECT(cmd_listing_of(&l, "kt_a", 8, 1500 * 1000, true) == 0);         /* another account of the name */
    EXPECT(cmd_listing_of(&l, "kt_c", 9, 1200 * 1000, true) == 2);
    EXPECT(cmd_listing_of(&l, "kt_c", 9, 1600 * 1000, true) == 0);         /* between the grants */
    EXPECT(cmd_listing_of(&l, "kt_c", 9, 1600 * 1000, false) == 2);
    EXPECT(cmd_listing_of(&l, "kt_c", 9, 1000 * 1000, false) == 2);        /* before any: the first */
    EXPECT(cmd_listing_of(&l, "kt_c", 9, 1900 * 1000, true) == 3);
    EXPECT(cmd_listing_of(&l, "kt_d", 8, 10, true) == 4);                  /* listed once, now: all of it */
    EXPECT(cmd_listing_of(&l, "kt_e", 5, 1500 * 1000, false) == 0);
}

/* A reader's record (a program reading through a descriptor another
 * process opened: the shell's of `cmd < FILE`, one passed on) is no file
 * opened: every report that counts opens counts it apart as a read-through
 * (usage, incident, audit summary; withdrawal and destruction through the
 * same scan), a refused one as a refused attempt. An operator who only
 * read through is a user of the data, not among the operators' refusals. */
static void test_reports_count_read_throughs_apart(void)
{
    struct kura_err e = {0};
    struct kura_audit_log *log = open_audit_log();
    ASSERT(log);
    struct kura_audit_record r;
    allowed_open(&r, "DSRM", "rt.bin");
    r.user = "kt_reader";
    r.uid = 60200;
    r.pid = 500;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    r.pid = 501;
    r.detail = KURA_AUDIT_READER_DETAIL "500 opened";
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    r.pid = 502;
    r.decision = KURA_AUDIT_DENY;
    r.reason = "guard";
    r.detail = KURA_AUDIT_READER_DETAIL "500 opened; dd";
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    allowed_open(&r, "DSRM", "rt.bin");
    r.event = KURA_AUDIT_CLOSE;
    r.decision = KURA_AUDIT_NO_DECISION;
    r.user = "kt_reader";
    r.uid = 60200;
    r.pid = 500;
    r.bytes = 1000;
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    allowed_open(&r, "DSRM", "rt.bin");
    r.user = "root";
    r.uid = 0;
    r.pid = 503;
    r.detail = KURA_AUDIT_READER_DETAIL "500 opened";
    EXPECT(kura_audit_append(log, &r, &e) == 0);
    kura_audit_close(log);

    EXPECT(run_as(0, "report usage DSRM --json") == 0);
    EXPECT(report_row_has("kt_reader", "not-listed", "\"opens\":1,\"read_throughs\":1,\"bytes_read\":1000,\"refused\":1,"));
    EXPECT(report_row_has("root", "not-listed", "\"opens\":0,\"read_throughs\":1,"));
    EXPECT(run_as(0, "report usage DSRM --csv") == 0);
    EXPECT(out_buf && strncmp(out_buf, "user,role,from,until,opens,read_throughs,bytes_read,refused,", 60) == 0);
    EXPECT(run_as(0, "report usage DSRM --lang en") == 0);
    EXPECT_STR_CONTAINS(out_buf, "| user | role | from | until | opens | read-throughs | bytes read | refused |");

    char cmd[200], from[16], to[16];
    time_t now = time(NULL), f = now - 2 * 86400, t = now + 2 * 86400;
    strftime(from, sizeof from, "%Y-%m-%d", gmtime(&f));
    strftime(to, sizeof to, "%Y-%m-%d", gmtime(&t));
    snprintf(cmd, sizeof cmd, "report incident --from %s --to %s --dataset DSRM --json", from, to);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT_STR_CONTAINS(out_buf, "{\"user\":\"kt_reader\",\"files_opened\":1,\"opens\":1,\"read_throughs\":1,"
                                 "\"bytes_read\":1000,\"refused\":1}");
    EXPECT_STR_CONTAINS(out_buf, "{\"user\":\"root\",\"files_opened\":0,\"opens\":0,\"read_throughs\":1,");

    snprintf(cmd, sizeof cmd, "audit summary --since %s --dataset DSRM --json", from);
    EXPECT(run_as(0, cmd) == 0);
    EXPECT_STR_CONTAINS(out_buf, "{\"dataset\":\"DSRM\",\"user\":\"kt_reader\",\"opens\":1,\"read_throughs\":1,"
                                 "\"bytes_read\":1000}");
    EXPECT_STR_CONTAINS(out_buf, "{\"dataset\":\"DSRM\",\"user\":\"root\",\"opens\":0,\"read_throughs\":1,");
}

/* The handles a scan finds open (cmd_handles.c, the usage and incident
 * reports' one table): a close ends the latest open of its user id,
 * process, dataset and file, no other; a reader's record holds none. */
static void test_handles_closed_by(void)
{
    struct cmd_handles h = {0};
    struct kura_audit_record r;
    allowed_open(&r, "DSH", "a.bin");
    r.uid = 7;
    r.pid = 70;
    EXPECT(cmd_handle_held(&r));
    EXPECT(cmd_handles_add(&h, &r, 10) == 0);
    r.dataset = "DSH2";
    EXPECT(cmd_handles_add(&h, &r, 11) == 0);
    r.dataset = "DSH";
    r.pid = 71;
    EXPECT(cmd_handles_add(&h, &r, 12) == 0);
    r.pid = 70;
    EXPECT(cmd_handles_add(&h, &r, 13) == 0);
    r.detail = KURA_AUDIT_READER_DETAIL "70 opened";
    EXPECT(!cmd_handle_held(&r));
    r.detail = NULL;
    r.event = KURA_AUDIT_CLOSE;
    ptrdiff_t i = cmd_handles_closed_by(&h, &r);
    EXPECT(i == 3 && h.v[i].row == 13);
    cmd_handles_remove(&h, (size_t)i);
    i = cmd_handles_closed_by(&h, &r);
    EXPECT(i == 0 && h.v[i].row == 10);
    cmd_handles_remove(&h, (size_t)i);
    EXPECT(cmd_handles_closed_by(&h, &r) == -1);
    EXPECT(h.n == 2 && h.v[0].row == 11 && h.v[1].row == 12);
    r.path = "b.bin";
    r.pid = 71;
    EXPECT(cmd_handles_closed_by(&h, &r) == -1);
    cmd_handles_free(&h);
    EXPECT(h.n == 0 && !h.v);
}

/* Issue 15 §1: the changes as plain functions, called without argv and
 * without the command table (as the daemon's maintenance thread calls
 * destroy): each checks the caller's role and a destroyed dataset itself,
 * and hands back what the CLI prints. */
static void test_change_functions(void)
{
    struct kura_actor root_a, pi_a, other_a;
    struct kura_err e = {0};
    ASSERT(kura_actor_resolve(0, 0, getpid(), &root_a, &e) == 0 && kura_actor_resolve(1, 1, 0, &pi_a, &e) == 0 &&
           kura_actor_resolve(2, 2, 0, &other_a, &e) == 0);
    ASSERT(run_as(0, "dataset add DSAPI --pi daemon --period 2026-01-01..2099-12-31") == 0);
    char *errs = NULL;
    size_t errs_len = 0;
    FILE *err = open_memstream(&errs, &errs_len);
    ASSERT(err);

    /* Roles: an operator's change refused to the PI, a PI's change to
     * another PI, the server-wide lockdown to anyone but an operator. */
    struct kura_suspend_request sus = {.dataset = "DSAPI", .reason = "audit"};
    EXPECT(kura_change_suspend(&env, &pi_a, err, &sus) == KURA_EXIT_FAIL);
    struct kura_user_add_request add = {.dataset = "DSAPI", .user = "nobody", .role = KURA_ROLE_CONTRACTOR,
                                        .approval = ""};
    struct kura_user_add_result added;
    EXPECT(kura_change_user_add(&env, &other_a, err, &add, &added) == KURA_EXIT_FAIL);
    struct kura_lockdown_request lock = {.reason = "x"};
    EXPECT(kura_change_lockdown(&env, &pi_a, err, &lock) == KURA_EXIT_FAIL);
    struct kura_destroy_request des = {.dataset = "DSAPI"};
    struct kura_destroy_result destroyed;
    EXPECT(kura_change_destroy(&env, &pi_a, err, &des, &destroyed) == KURA_EXIT_FAIL);
    kura_destroy_result_free(&destroyed);
    fflush(err);
    EXPECT_STR_CONTAINS(errs, "kuractl dataset suspend: only an operator");
    EXPECT_STR_CONTAINS(errs, "kuractl user add: only the PI of dataset DSAPI or an operator");
    EXPECT_STR_CONTAINS(errs, "kuractl lockdown: only an operator");
    EXPECT_STR_CONTAINS(errs, "kuractl dataset destroy: only an operator");
    EXPECT(!file_contains(ds_file("DSAPI", "dataset.ini"), "suspended"));

    /* A request's required text is checked by the function too. */
    struct kura_suspend_request no_reason = {.dataset = "DSAPI"};
    EXPECT(kura_change_suspend(&env, &root_a, err, &no_reason) == KURA_EXIT_FAIL);
    struct kura_lockdown_request bad_reason = {.reason = "two\nlines"};
    EXPECT(kura_change_lockdown(&env, &root_a, err, &bad_reason) == KURA_EXIT_FAIL);
    fflush(err);
    EXPECT_STR_CONTAINS(errs, "kuractl dataset suspend: the reason is required");
    EXPECT(!file_contains(ds_file("DSAPI", "dataset.ini"), "suspended"));
    struct kura_lockdown l;
    EXPECT(kura_lockdown_load(cfg.state_dir, &l, &e) == 0 && !l.on);

    /* Allowed: the change is made and its result handed back. */
    EXPECT(kura_change_user_add(&env, &pi_a, err, &add, &added) == KURA_EXIT_OK);
    EXPECT(strcmp(added.grant.user, "nobody") == 0 && added.grant.role == KURA_ROLE_CONTRACTOR && !added.grant.pending);
    EXPECT(file_contains(ds_file("DSAPI", "dataset.ini"), "[user nobody]"));
    EXPECT(kura_change_suspend(&env, &root_a, err, &sus) == KURA_EXIT_OK);
    EXPECT(file_contains(ds_file("DSAPI", "dataset.ini"), "status = suspended"));
    EXPECT(kura_change_resume(&env, &root_a, err, &sus) == KURA_EXIT_OK);
    struct kura_user_remove_request rm = {.dataset = "DSAPI", .user = "nobody"};
    EXPECT(kura_change_user_remove(&env, &pi_a, err, &rm) == KURA_EXIT_OK);
    EXPECT(!file_contains(ds_file("DSAPI", "dataset.ini"), "[user nobody]"));
    struct kura_withdraw_request wd = {.dataset = "DSAPI", .sample = "S9", .ref = "W-9"};
    struct kura_withdraw_result withdrawn;
    EXPECT(kura_change_withdraw(&env, &root_a, err, &wd, &withdrawn) == KURA_EXIT_FAIL);
    EXPECT(withdrawn.refused_unconfirmed && withdrawn.preview);
    kura_withdraw_result_free(&withdrawn);
    EXPECT(!file_contains(ds_file("DSAPI", "dataset.ini"), "[withdrawn S9]"));
    wd.confirmed = true;
    EXPECT(kura_change_withdraw(&env, &root_a, err, &wd, &withdrawn) == KURA_EXIT_OK);
    EXPECT(!withdrawn.already && withdrawn.nfiles == 0 && !withdrawn.preview);
    kura_withdraw_result_free(&withdrawn);
    EXPECT(file_contains(ds_file("DSAPI", "dataset.ini"), "[withdrawn S9]"));

    EXPECT(kura_change_destroy(&env, &root_a, err, &des, &destroyed) == KURA_EXIT_OK);
    EXPECT(!destroyed.already);
    EXPECT_STR_CONTAINS(destroyed.report, "# Destruction report: dataset DSAPI");
    kura_destroy_result_free(&destroyed);
    EXPECT(file_contains(ds_file("DSAPI", "dataset.ini"), "status = destroyed"));
    EXPECT(kura_change_destroy(&env, &root_a, err, &des, &destroyed) == KURA_EXIT_OK);
    EXPECT(destroyed.already);
    kura_destroy_result_free(&destroyed);
    /* Destroyed: every change of it is refused as it begins. */
    fflush(err);
    size_t before = errs_len;
    EXPECT(kura_change_suspend(&env, &root_a, err, &sus) == KURA_EXIT_FAIL);
    EXPECT(kura_change_user_add(&env, &root_a, err, &add, &added) == KURA_EXIT_FAIL);
    fflush(err);
    EXPECT(errs_len > before);
    EXPECT_STR_CONTAINS(errs + before, "kuractl dataset suspend: dataset DSAPI was destroyed");
    EXPECT_STR_CONTAINS(errs + before, "kuractl user add: dataset DSAPI was destroyed");
    fclose(err);
    free(errs);
}

/* Counts the daemon's reloads, and which dataset the last one named. */
static int reloads;
static char reloaded[64];
static void count_reload(void *ctx, const char *id)
{
    (void)ctx;
    reloads++;
    snprintf(reloaded, sizeof reloaded, "%s", id ? id : "(all)");
}

/* A dataset as its file says now (kura_dataset_clear it). */
static bool load_ds(const char *id, struct kura_dataset *ds)
{
    struct kura_err e = {0};
    return kura_dataset_load(ds_file(id, "dataset.ini"), ds, &e) == 0;
}

/* The other changes as functions (issue 15 §1): dataset add, extend,
 * import, set-pi, user approve, key rotate and retire, and reload refuse
 * the wrong role (and a destroyed dataset) before changing anything, and a
 * change's result carries what kuractl prints. */
static void test_change_functions_dataset_and_keys(void)
{
    struct kura_actor root_a, pi_a, other_a;
    struct kura_err e = {0};
    ASSERT(kura_actor_resolve(0, 0, getpid(), &root_a, &e) == 0 && kura_actor_resolve(1, 1, 0, &pi_a, &e) == 0 &&
           kura_actor_resolve(2, 2, 0, &other_a, &e) == 0);
    char *errs = NULL;
    size_t errs_len = 0;
    FILE *err = open_memstream(&errs, &errs_len);
    ASSERT(err);
    struct kura_dataset ds;

    /* dataset add: an operator's, with its ethics approval. */
    struct kura_dataset_add_request add = {.dataset = "DSFN", .pi = "daemon", .title = "",
                                           .kind = KURA_KIND_JGA, .level = KURA_LEVEL_TYPE1,
                                           .guard = KURA_GUARD_DENYLIST, .ethics = "IRB-7"};
    ASSERT(kura_period_parse("2026-01-01..2099-12-31", cfg.zone, &add.from, &add.until, &e) == 0);
    add.ethics_until = add.until;
    struct kura_dataset_add_result added;
    EXPECT(kura_change_dataset_add(&env, &pi_a, err, &add, &added) == KURA_EXIT_FAIL);
    EXPECT(access(ds_file("DSFN", "dataset.ini"), F_OK) != 0);
    add.ethics_until = add.until - 86400;
    EXPECT(kura_change_dataset_add(&env, &root_a, err, &add, &added) == KURA_EXIT_FAIL);
    EXPECT(access(ds_file("DSFN", "dataset.ini"), F_OK) != 0);
    add.ethics_until = add.until;
    EXPECT(kura_change_dataset_add(&env, &root_a, err, &add, &added) == KURA_EXIT_OK);
    EXPECT_STR_CONTAINS(added.summary, "pi=daemon period=2026-01-01..2099-12-31 kind=JGA level=type1 guard=denylist "
                                       "ethics=IRB-7..2099-12-31");
    EXPECT(load_ds("DSFN", &ds) && ds.pi_uid == 1 && strcmp(ds.ethics, "IRB-7") == 0);
    kura_dataset_clear(&ds);
    fflush(err);
    EXPECT_STR_CONTAINS(errs, "kuractl dataset add: only an operator");
    EXPECT_STR_CONTAINS(errs, "after the ethics approval IRB-7 ends");

    /* dataset extend: the operator's; the result says both ends. */
    int64_t start, end;
    ASSERT(kura_when_parse("2099-12-31", cfg.zone, &start, &end, &e) == 0);
    struct kura_extend_request ext = {.dataset = "DSFN", .until = end + 86400 * 10, .ref = "EXT-1"};
    struct kura_extend_result extended;
    EXPECT(kura_change_extend(&env, &pi_a, err, &ext, &extended) == KURA_EXIT_FAIL);
    /* Past the ethics approval: refused until a new one comes with it. */
    EXPECT(kura_change_extend(&env, &root_a, err, &ext, &extended) == KURA_EXIT_FAIL);
    EXPECT(load_ds("DSFN", &ds) && ds.until == add.until);
    kura_dataset_clear(&ds);
    /* Past it by one second is past it. */
    struct kura_extend_request ext1 = {.dataset = "DSFN", .until = add.until + 1, .until_instant = true,
                                       .ref = "EXT-0"};
    EXPECT(kura_change_extend(&env, &root_a, err, &ext1, &extended) == KURA_EXIT_FAIL);
    EXPECT(load_ds("DSFN", &ds) && ds.until == add.until);
    kura_dataset_clear(&ds);
    ext.ethics = "IRB-8";
    ext.ethics_until = ext.until;
    EXPECT(kura_change_extend(&env, &root_a, err, &ext, &extended) == KURA_EXIT_OK);
    EXPECT(strcmp(extended.before, "2099-12-31") == 0 && strcmp(extended.after, "2100-01-10") == 0);
    EXPECT(load_ds("DSFN", &ds) && ds.until == ext.until && strcmp(ds.ethics, "IRB-8") == 0);
    kura_dataset_clear(&ds);

    /* user approve: the PI's alone, never an operator's. */
    struct kura_user_add_request grant = {.dataset = "DSFN", .user = "root", .role = KURA_ROLE_CONTRACTOR,
                                          .approval = ""};
    struct kura_user_add_result granted;
    EXPECT(kura_change_user_add(&env, &root_a, err, &grant, &granted) == KURA_EXIT_OK && granted.grant.pending);
    struct kura_user_approve_request appr = {.dataset = "DSFN", .user = "root"};
    struct kura_user_approve_result approved;
    fflush(err);
    size_t mark = errs_len;
    EXPECT(kura_change_user_approve(&env, &root_a, err, &appr, &approved) == KURA_EXIT_FAIL);
    EXPECT(kura_change_user_approve(&env, &other_a, err, &appr, &approved) == KURA_EXIT_FAIL);
    fflush(err);
    EXPECT_STR_CONTAINS(errs + mark, "kuractl user approve: only the PI of dataset DSFN (daemon)");
    EXPECT(load_ds("DSFN", &ds) && ds.ngrants == 1 && ds.grants[0].pending);
    kura_dataset_clear(&ds);
    EXPECT(kura_change_user_approve(&env, &pi_a, err, &appr, &approved) == KURA_EXIT_OK);
    EXPECT(strcmp(approved.pi, "daemon") == 0);
    EXPECT(load_ds("DSFN", &ds) && ds.ngrants == 1 && !ds.grants[0].pending);
    kura_dataset_clear(&ds);

    /* dataset set-pi: the operator's; the result is what both PIs are told. */
    struct kura_set_pi_request setpi = {.dataset = "DSFN", .user = "bin"};
    struct kura_set_pi_result moved;
    EXPECT(kura_change_set_pi(&env, &pi_a, err, &setpi, &moved) == KURA_EXIT_FAIL);
    EXPECT(load_ds("DSFN", &ds) && ds.pi_uid == 1);
    kura_dataset_clear(&ds);
    EXPECT(kura_change_set_pi(&env, &root_a, err, &setpi, &moved) == KURA_EXIT_OK);
    EXPECT_STR_CONTAINS(moved.message, "the PI of dataset DSFN is now bin, no longer daemon (changed by root");
    EXPECT(load_ds("DSFN", &ds) && ds.pi_uid == 2 && strcmp(ds.pi, "bin") == 0);
    kura_dataset_clear(&ds);

    /* key rotate and retire: an operator's, never through the daemon. */
    struct kura_key_rotate_result rotated;
    EXPECT(kura_change_key_rotate(&env, &pi_a, err, &rotated) == KURA_EXIT_FAIL && !rotated.pubkey);
    struct kura_cmd_env daemon_env = env;
    daemon_env.socket_mode = true;
    EXPECT(kura_change_key_rotate(&daemon_env, &root_a, err, &rotated) == KURA_EXIT_FAIL);
    struct kura_server_key_info *keys = NULL;
    size_t nkeys = 0;
    EXPECT(kura_keystore_server_keys(cfg.keys_dir, &keys, &nkeys, &e) == 0 && nkeys >= 1);
    char current[KURA_KEY_FINGERPRINT_LEN + 1] = "";
    if (nkeys)
        snprintf(current, sizeof current, "%s", keys[0].fp);
    free(keys);
    EXPECT(kura_change_key_rotate(&env, &root_a, err, &rotated) == KURA_EXIT_OK);
    EXPECT(strcmp(rotated.old_fp, current) == 0 && strcmp(rotated.new_fp, current) != 0);
    EXPECT(rotated.rewrapped >= 1 && rotated.pubkey && strstr(rotated.pubkey, "CRYPT4GH PUBLIC KEY"));
    kura_key_rotate_result_free(&rotated);
    struct kura_key_retire_request retire = {.fp = current};
    struct kura_key_retire_result retired;
    EXPECT(kura_change_key_retire(&env, &pi_a, err, &retire, &retired) == KURA_EXIT_FAIL);
    EXPECT(kura_change_key_retire(&daemon_env, &root_a, err, &retire, &retired) == KURA_EXIT_FAIL);
    EXPECT(kura_keystore_secret_exists(cfg.keys_dir, current));
    EXPECT(kura_change_key_retire(&env, &root_a, err, &retire, &retired) == KURA_EXIT_OK);
    /* The rotation rewrapped every dataset key: none was left on the old key. */
    EXPECT(strncmp(retired.note, "retired ", 8) == 0 && retired.rewrapped == 0);
    EXPECT(!kura_keystore_secret_exists(cfg.keys_dir, current));
    fflush(err);
    EXPECT_STR_CONTAINS(errs, "kuractl key rotate: only an operator");
    EXPECT_STR_CONTAINS(errs, "kuractl key retire: run it as root on the server itself");

    /* dataset import: the operator's; the result is what kuractl prints. */
    char plain[300], plain_rel[300];
    snprintf(plain, sizeof plain, "%s/reads.txt", root);
    write_text(plain, "ACGT\n", 5);
    const char *paths[] = {plain};
    struct kura_import_request imp = {.dataset = "DSFN", .paths = paths, .npaths = 1, .encrypt = true};
    struct kura_import_result imported;
    EXPECT(kura_change_import(&env, &pi_a, err, &imp, &imported) == KURA_EXIT_FAIL && !imported.committed);
    EXPECT(!file_contains(ds_file("DSFN", "files.tsv"), "reads.txt"));
    /* A relative path through the daemon is refused before any work. */
    snprintf(plain_rel, sizeof plain_rel, "%s", plain + 1);
    const char *rel_paths[] = {plain_rel};
    struct kura_import_request rel = imp;
    rel.paths = rel_paths;
    EXPECT(kura_change_import(&daemon_env, &root_a, err, &rel, &imported) == KURA_EXIT_FAIL && !imported.committed);
    struct kura_import_request rel_samples = imp;
    rel_samples.samples_path = "samples.tsv";
    EXPECT(kura_change_import(&daemon_env, &root_a, err, &rel_samples, &imported) == KURA_EXIT_FAIL &&
           !imported.committed);
    EXPECT(kura_change_import(&env, &root_a, err, &imp, &imported) == KURA_EXIT_OK);
    EXPECT(imported.committed && imported.nfiles == 1 && imported.bytes == 5 && !imported.withdrawn[0]);
    EXPECT(file_contains(ds_file("DSFN", "files.tsv"), "reads.txt"));
    fflush(err);
    EXPECT_STR_CONTAINS(errs, "kuractl dataset import: only an operator");
    EXPECT_STR_CONTAINS(errs, "reads.txt: give an absolute path to the daemon");
    EXPECT_STR_CONTAINS(errs, "--samples samples.tsv: give an absolute path to the daemon");
    EXPECT_STR_CONTAINS(errs, "kuractl dataset import: warning: no --samples map");

    /* reload: an operator's; it only tells the daemon. */
    struct kura_cmd_env reload_env = env;
    reload_env.on_state_change = count_reload;
    EXPECT(kura_change_reload(&reload_env, &pi_a, err, "DSFN") == KURA_EXIT_FAIL && reloads == 0);
    EXPECT(kura_change_reload(&reload_env, &root_a, err, "../x") == KURA_EXIT_FAIL && reloads == 0);
    EXPECT(kura_change_reload(&reload_env, &root_a, err, "DSFN") == KURA_EXIT_OK && reloads == 1);
    EXPECT(strcmp(reloaded, "DSFN") == 0);
    EXPECT(kura_change_reload(&reload_env, &root_a, err, NULL) == KURA_EXIT_OK && reloads == 2);
    EXPECT(strcmp(reloaded, "(all)") == 0);

    /* Destroyed: each change of it is refused as it begins; adding its id again too. */
    struct kura_destroy_request des = {.dataset = "DSFN"};
    struct kura_destroy_result destroyed;
    EXPECT(kura_change_destroy(&env, &root_a, err, &des, &destroyed) == KURA_EXIT_OK);
    kura_destroy_result_free(&destroyed);
    fflush(err);
    mark = errs_len;
    ext.until += 86400;
    EXPECT(kura_change_extend(&env, &root_a, err, &ext, &extended) == KURA_EXIT_FAIL);
    setpi.user = "daemon";
    EXPECT(kura_change_set_pi(&env, &root_a, err, &setpi, &moved) == KURA_EXIT_FAIL);
    EXPECT(kura_change_user_approve(&env, &other_a, err, &appr, &approved) == KURA_EXIT_FAIL);
    EXPECT(kura_change_dataset_add(&env, &root_a, err, &add, &added) == KURA_EXIT_FAIL);
    fflush(err);
    EXPECT_STR_CONTAINS(errs + mark, "kuractl dataset extend: dataset DSFN was destroyed");
    EXPECT_STR_CONTAINS(errs + mark, "kuractl dataset set-pi: dataset DSFN was destroyed");
    EXPECT_STR_CONTAINS(errs + mark, "kuractl user approve: dataset DSFN was destroyed");
    EXPECT(kura_change_import(&env, &root_a, err, &imp, &imported) == KURA_EXIT_FAIL && !imported.committed);
    fflush(err);
    EXPECT_STR_CONTAINS(errs + mark, "kuractl dataset add: dataset DSFN already exists");
    EXPECT_STR_CONTAINS(errs + mark, "kuractl dataset import: dataset DSFN was destroyed");
    fclose(err);
    free(errs);
}

/* init as a function: root's alone (the effective uid), nothing made for
 * anyone else; the result says what it created, and on a second run that
 * it kept everything. */
static void test_change_init(void)
{
    struct kura_actor root_a;
    struct kura_err e = {0};
    ASSERT(kura_actor_resolve(0, 0, getpid(), &root_a, &e) == 0);
    char *errs = NULL;
    size_t errs_len = 0;
    FILE *err = open_memstream(&errs, &errs_len);
    ASSERT(err);
    char dir[128], conf[160];
    snprintf(dir, sizeof dir, "%s/init-root", root);
    snprintf(conf, sizeof conf, "%s/kura.conf", dir);
    struct kura_cmd_env init_env = {0};
    struct kura_init_request rq = {.root = dir};
    struct kura_init_result res;
    ASSERT(seteuid(65534) == 0);
    int refused = kura_change_init(&init_env, &root_a, err, &rq, &res);
    ASSERT(seteuid(0) == 0);
    EXPECT(refused == KURA_EXIT_FAIL && res.config_file == KURA_INIT_NOT_REACHED);
    kura_init_result_free(&res);
    EXPECT(access(dir, F_OK) != 0);
    EXPECT(kura_change_init(&init_env, &root_a, err, &rq, &res) == KURA_EXIT_OK);
    EXPECT(res.config && strcmp(res.config, conf) == 0 && res.config_file == KURA_INIT_CREATED);
    EXPECT(res.server_key == KURA_INIT_CREATED && res.audit_key == KURA_INIT_CREATED && !res.passphrase_protected);
    EXPECT(res.pubkey && strstr(res.pubkey, "CRYPT4GH PUBLIC KEY"));
    EXPECT(res.server_key_path && access(res.server_key_path, F_OK) == 0);
    EXPECT(res.state_dir && strncmp(res.state_dir, dir, strlen(dir)) == 0);
    char *first = res.pubkey ? strdup(res.pubkey) : NULL;
    kura_init_result_free(&res);
    EXPECT(kura_change_init(&init_env, &root_a, err, &rq, &res) == KURA_EXIT_OK);
    EXPECT(res.config_file == KURA_INIT_KEPT && res.server_key == KURA_INIT_KEPT && res.audit_key == KURA_INIT_KEPT);
    EXPECT(first && res.pubkey && strcmp(first, res.pubkey) == 0);
    free(first);
    kura_init_result_free(&res);
    fclose(err);
    EXPECT_STR_CONTAINS(errs, "kuractl init: run it as root");
    free(errs);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    strcpy(root, "/tmp/kura-cmd-XXXXXX");
    if (!mkdtemp(root))
        return 1;
    setup();
    RUN(test_usage_and_help);
    RUN(test_roles);
    RUN(test_handle_request_uses_peer);
    RUN(test_journal_recovery);
    RUN(test_lockdown);
    RUN(test_withdraw_pending);
    RUN(test_withdraw_preview_escapes_paths);
    RUN(test_import_withdrawn_list_escapes_paths);
    RUN(test_user_list_escapes_invisible_text);
    RUN(test_separation_of_duties);
    RUN(test_user_remove_takes_off_the_named_grant);
    RUN(test_read_passphrase);
    RUN(test_destruction_lists_surviving_deliveries);
    RUN(test_audit_pages_through_the_daemon);
    RUN(test_incident_bounded_through_the_daemon);
    RUN(test_now_is_the_records_clock);
    RUN(test_usage_report_names_another_name_of_a_listed_uid);
    RUN(test_usage_report_keeps_to_its_dataset);
    RUN(test_status_refusals_escaped);
    RUN(test_delivery_relative_through_the_daemon);
    RUN(test_ledger_view_escapes_every_field);
    RUN(test_root_via_login_grant_waits_for_the_pi);
    RUN(test_usage_report_period_edges);
    RUN(test_usage_report_counts_per_account);
    RUN(test_listing_of_a_record);
    RUN(test_handles_closed_by);
    RUN(test_former_rows_give_the_ledgers_records);
    RUN(test_end_of_use_names_everyone_listed);
    RUN(test_reports_count_read_throughs_apart);
    RUN(test_cluster_log_items_per_node);
    RUN(test_change_functions);
    RUN(test_change_functions_dataset_and_keys);
    RUN(test_change_init);
    free(out_buf);
    free(err_buf);
    kura_config_free(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", root);
    return unit_done();
}
