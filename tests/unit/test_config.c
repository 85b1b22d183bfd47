/* kura.conf: defaults, the operator's reference file, paths under --root,
 * and strict refusal (FILE:LINE) of everything malformed. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/config.h"
#include "kura/fsutil.h"
#include "kura/inifile.h"
#include "kura/secmem.h"
#include "unit.h"

static char tmpdir[] = "/tmp/kura-test-config.XXXXXX";
static char machine_id[600];

/* SHA-256("abc"), the machine id the tests use. */
#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
static const char host_id_conf[] = "[server]\nhost_id = " ABC_SHA256 "\n";

static int parse(const char *text, struct kura_config *cfg, struct kura_err *err)
{
    return kura_config_parse("t.conf", text, strlen(text), machine_id, cfg, err);
}

static bool listed(char **list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void test_empty_file_gives_defaults(void)
{
    struct kura_config c;
    struct kura_err err = {0};
    ASSERT(parse("", &c, &err) == 0);
    EXPECT(strcmp(c.state_dir, "/var/lib/kura") == 0);
    EXPECT(strcmp(c.keys_dir, "/var/lib/kura/keys") == 0);
    EXPECT(strcmp(c.audit_log, "/var/log/kura/audit.jsonl") == 0);
    EXPECT(strcmp(c.socket, "/run/kura/ctl.sock") == 0);
    EXPECT(c.root == NULL);
    EXPECT(c.level == KURA_LEVEL_TYPE1);
    EXPECT(strcmp(c.timezone, "Asia/Tokyo") == 0);
    EXPECT(c.zone && c.zone == kura_zone_get("Asia/Tokyo", NULL)); /* resolved once, at load */
    EXPECT(strcmp(c.host_id, ABC_SHA256) == 0);
    EXPECT(!c.host_id_configured);
    EXPECT(c.max_open_per_user == 1024);
    EXPECT(c.ndeny == 42 && listed(c.deny, c.ndeny, "rsync") && listed(c.deny, c.ndeny, "bbcp") && listed(c.deny, c.ndeny, "sftp-server") &&
           listed(c.deny, c.ndeny, "dd") && !listed(c.deny, c.ndeny, "cat"));
    EXPECT(c.nallow == 21 && listed(c.allow, c.nallow, "samtools") && listed(c.allow, c.nallow, "Rscript"));
    EXPECT(c.syslog && c.bulk_read_multiple == 1 && c.max_size_mb == 0);
    EXPECT(c.refusals_per_hour == 100 && c.reserve_mb == 16);
    EXPECT(c.alert_refusals == 20);
    EXPECT(c.grace_days == 30 && c.auto_destroy && strcmp(c.notify_command, "") == 0);
    /* Reminders well before the guideline's "a month before the end". */
    EXPECT(c.nwarn_days == 3 && c.warn_days[0] == 90 && c.warn_days[1] == 60 && c.warn_days[2] == 40);
    EXPECT(strcmp(c.metrics_textfile, "") == 0 && c.metrics_interval == 5 && strcmp(c.metrics_group, "") == 0);
    /* A single server unless a database is named. */
    EXPECT(strcmp(c.cluster_database, "") == 0 && strcmp(c.cluster_node, "") == 0 && c.cluster_lease_seconds == 5);
    EXPECT(c.cluster_answer_seconds == KURA_CLUSTER_ANSWER_SECONDS);
    EXPECT(strcmp(c.file, "t.conf") == 0);
    kura_config_free(&c);
    kura_config_free(&c); /* zeroed: safe */
}

static void test_default_text_loads_as_defaults(void)
{
    char *text = kura_config_default_text(NULL, NULL);
    ASSERT(text);
    struct kura_config a, b;
    struct kura_err err = {0};
    ASSERT(parse(text, &a, &err) == 0);
    ASSERT(parse("", &b, &err) == 0);
    EXPECT(strcmp(a.state_dir, b.state_dir) == 0 && strcmp(a.keys_dir, b.keys_dir) == 0);
    EXPECT(strcmp(a.audit_log, b.audit_log) == 0 && strcmp(a.socket, b.socket) == 0);
    EXPECT(a.ndeny == b.ndeny && a.nallow == b.nallow);
    for (size_t i = 0; i < a.ndeny && i < b.ndeny; i++)
        EXPECT(strcmp(a.deny[i], b.deny[i]) == 0);
    EXPECT(a.level == b.level && a.syslog == b.syslog && a.grace_days == b.grace_days);
    kura_config_free(&a);
    kura_config_free(&b);
    free(text);
}

static void test_example_file_is_the_default_text(void)
{
    /* config/kura.conf.example is the operator's reference: keep it exact. */
    const char *top = getenv("KURA_TOP");
    char path[1024];
    snprintf(path, sizeof path, "%s/config/kura.conf.example", top ? top : ".");
    char *file = NULL, *text = kura_config_default_text(NULL, NULL);
    ASSERT(kura_read_file(path, 1 << 20, &file, NULL, NULL) == 0);
    ASSERT(text);
    EXPECT(strcmp(file, text) == 0);
    free(file);
    free(text);
}

static void test_root_puts_everything_under_it(void)
{
    char *text = kura_config_default_text("/srv/k/", NULL);
    ASSERT(text);
    struct kura_config c;
    struct kura_err err = {0};
    ASSERT(parse(text, &c, &err) == 0);
    EXPECT(c.root && strcmp(c.root, "/srv/k") == 0);
    EXPECT(strcmp(c.state_dir, "/srv/k/lib") == 0);
    EXPECT(strcmp(c.keys_dir, "/srv/k/lib/keys") == 0);
    EXPECT(strcmp(c.audit_log, "/srv/k/log/audit.jsonl") == 0);
    EXPECT(strcmp(c.socket, "/srv/k/run/ctl.sock") == 0);
    kura_config_free(&c);
    free(text);
    /* Only root given: the same defaults; relative values below root. */
    ASSERT(parse("[paths]\nroot = /r\nkeys_dir = secret/keys\n", &c, &err) == 0);
    EXPECT(strcmp(c.state_dir, "/r/lib") == 0);
    EXPECT(strcmp(c.keys_dir, "/r/secret/keys") == 0);
    EXPECT(strcmp(c.socket, "/r/run/ctl.sock") == 0);
    kura_config_free(&c);
    /* keys_dir follows a configured state_dir. */
    ASSERT(parse("[paths]\nstate_dir = /data/kura/\n", &c, &err) == 0);
    EXPECT(strcmp(c.state_dir, "/data/kura") == 0);
    EXPECT(strcmp(c.keys_dir, "/data/kura/keys") == 0);
    kura_config_free(&c);
}

static void test_default_text_refuses_bad_root(void)
{
    struct kura_err err = {0};
    EXPECT(kura_config_default_text("relative/dir", &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "absolute");
    EXPECT(kura_config_default_text("/tmp/a\nstate_dir = /etc", &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "control");
    EXPECT(kura_config_default_text("/tmp/trailing ", &err) == NULL);
    char longroot[200];
    memset(longroot, 'x', sizeof longroot - 1);
    longroot[0] = '/';
    longroot[sizeof longroot - 1] = '\0';
    EXPECT(kura_config_default_text(longroot, &err) == NULL);
    EXPECT_STR_CONTAINS(err.msg, "socket");
}

static void test_write_default_is_exclusive(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/kura.conf", tmpdir);
    ASSERT(kura_config_write_default(path, tmpdir, NULL) == 0);
    struct stat st;
    ASSERT(stat(path, &st) == 0);
    EXPECT((st.st_mode & 07777) == 0644);
    struct kura_err err = {0};
    EXPECT(kura_config_write_default(path, NULL, &err) == -1);
    EXPECT(err.code == EEXIST);
    struct kura_config c;
    ASSERT(kura_config_load(path, &c, &err) == 0);
    char want[700];
    snprintf(want, sizeof want, "%s/lib", tmpdir);
    EXPECT(strcmp(c.state_dir, want) == 0);
    EXPECT(kura_host_id_valid(c.host_id)); /* from this machine's /etc/machine-id */
    kura_config_free(&c);
}

static void test_load_refuses_world_writable_and_missing(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/open.conf", tmpdir);
    ASSERT(kura_write_file_atomic(path, host_id_conf, sizeof host_id_conf - 1, 0666, NULL) == 0);
    struct kura_config c;
    struct kura_err err = {0};
    EXPECT(kura_config_load(path, &c, &err) == -1);
    EXPECT(err.code == EPERM);
    EXPECT_STR_CONTAINS(err.msg, "chmod o-w");
    ASSERT(chmod(path, 0644) == 0);
    ASSERT(kura_config_load(path, &c, &err) == 0);
    EXPECT(c.host_id_configured && strcmp(c.host_id, ABC_SHA256) == 0);
    kura_config_free(&c);
    snprintf(path, sizeof path, "%s/absent.conf", tmpdir);
    EXPECT(kura_config_load(path, &c, &err) == -1);
    EXPECT(err.code == ENOENT);
    EXPECT_STR_CONTAINS(err.msg, "kuractl init");
}

static void test_all_keys_set(void)
{
    const char *text = "[paths]\n"
                       "root = /k\n"
                       "state_dir = /s\n"
                       "keys_dir = /s/k\n"
                       "audit_log = /l/a.jsonl\n"
                       "socket = /r/s.sock\n"
                       "\n"
                       "  # indented comment\n"
                       "; semicolon comment\n"
                       "[server]\n"
                       "level=type2\n"
                       "timezone =\tEurope/Berlin\n"
                       "host_id = " ABC_SHA256 "\n"
                       "max_open_per_user = 100000\n"
                       "[guard]\n"
                       "deny = cp  scp\tx-y.z+1\n"
                       "allow =\n"
                       "alert_refusals = 0\n"
                       "[audit]\n"
                       "syslog = no\n"
                       "bulk_read_multiple = 0\n"
                       "max_size_mb = 1000000\n"
                       "refusals_per_hour = 0\n"
                       "reserve_mb = 2\n"
                       "[revocation]\n"
                       "grace_days = 3650\n"
                       "auto_destroy = no\n"
                       "warn_days = 0\n"
                       "notify_command = /usr/local/bin/notify --to pi; echo #done\n"
                       "[metrics]\n"
                       "textfile = /var/lib/prometheus/node-exporter/kura.prom\n"
                       "group = prometheus\n"
                       "interval_seconds = 3600\n"
                       "[cluster]\n"
                       "database = host=/run/postgresql dbname=kura\n"
                       "node = hpc-01.a_b\n"
                       "lease_seconds = 300\n"
                       "answer_seconds = 3600\n";
    struct kura_config c;
    struct kura_err err = {0};
    ASSERT(parse(text, &c, &err) == 0);
    EXPECT(strcmp(c.root, "/k") == 0 && strcmp(c.state_dir, "/s") == 0 && strcmp(c.keys_dir, "/s/k") == 0);
    EXPECT(strcmp(c.audit_log, "/l/a.jsonl") == 0 && strcmp(c.socket, "/r/s.sock") == 0);
    EXPECT(c.level == KURA_LEVEL_TYPE2 && strcmp(c.timezone, "Europe/Berlin") == 0);
    EXPECT(c.zone && c.zone == kura_zone_get("Europe/Berlin", NULL));
    EXPECT(c.host_id_configured && c.max_open_per_user == 100000);
    EXPECT(c.ndeny == 3 && strcmp(c.deny[2], "x-y.z+1") == 0);
    EXPECT(c.nallow == 0 && c.alert_refusals == 0);
    EXPECT(!c.syslog && c.bulk_read_multiple == 0 && c.max_size_mb == 1000000);
    EXPECT(c.refusals_per_hour == 0 && c.reserve_mb == 2);
    EXPECT(c.grace_days == 3650 && !c.auto_destroy && c.nwarn_days == 0);
    /* ';' and '#' inside a value are data, not comments. */
    EXPECT(strcmp(c.notify_command, "/usr/local/bin/notify --to pi; echo #done") == 0);
    EXPECT(strcmp(c.metrics_textfile, "/var/lib/prometheus/node-exporter/kura.prom") == 0);
    EXPECT(c.metrics_interval == 3600);
    EXPECT(strcmp(c.metrics_group, "prometheus") == 0);
    EXPECT(strcmp(c.cluster_database, "host=/run/postgresql dbname=kura") == 0);
    EXPECT(strcmp(c.cluster_node, "hpc-01.a_b") == 0 && c.cluster_lease_seconds == 300);
    EXPECT(c.cluster_answer_seconds == 3600);
    kura_config_free(&c);
    /* With a database and no node name, the node is the short host name. */
    char host[256] = "";
    ASSERT(gethostname(host, sizeof host - 1) == 0);
    host[strcspn(host, ".")] = '\0';
    ASSERT(parse("[cluster]\ndatabase = dbname=kura\n", &c, &err) == 0);
    EXPECT(strcmp(c.cluster_node, host) == 0);
    kura_config_free(&c);
    /* A group name of 32 characters, useradd's longest. */
    ASSERT(parse("[metrics]\ngroup = abcdefghijklmnopqrstuvwxyz_0-345\n", &c, &err) == 0);
    EXPECT(strcmp(c.metrics_group, "abcdefghijklmnopqrstuvwxyz_0-345") == 0);
    kura_config_free(&c);
}

/* warn_days: a list in any order, kept largest first; one number, as
 * configs before the list have it, is a list of one. */
static void test_warn_days_list(void)
{
    const struct {
        const char *value;
        size_t n;
        unsigned days[3];
    } cases[] = {
        {"30", 1, {30}},
        {"40,90,60", 3, {90, 60, 40}},
        {"7, 1", 2, {7, 1}},
        {"0", 0, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[128];
        snprintf(text, sizeof text, "[revocation]\nwarn_days = %s\n", cases[i].value);
        struct kura_config c;
        struct kura_err err = {0};
        ASSERT(parse(text, &c, &err) == 0);
        EXPECT(c.nwarn_days == cases[i].n);
        for (size_t j = 0; j < cases[i].n && j < c.nwarn_days; j++)
            EXPECT(c.warn_days[j] == cases[i].days[j]);
        kura_config_free(&c);
    }
}

static void test_long_lines_are_whole(void)
{
    /* inih alone would split a line over 200 bytes into two "lines". */
    char text[5000];
    size_t n = (size_t)snprintf(text, sizeof text, "[guard]\ndeny =");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, " t%d", i);
    snprintf(text + n, sizeof text - n, "\n");
    struct kura_config c;
    struct kura_err err = {0};
    ASSERT(parse(text, &c, &err) == 0);
    EXPECT(c.ndeny == 300 && strcmp(c.deny[299], "t299") == 0);
    kura_config_free(&c);
}

static void test_malformed_names_file_and_line(void)
{
    static const struct {
        const char *text;
        const char *want; /* "t.conf:LINE: ..." */
    } bad[] = {
        {"[paths]\n[nope]\n", "t.conf:2: unknown section [nope]"},
        {"[paths]\nstate = /x\n", "t.conf:2: unknown key \"state\" in [paths]"},
        {"[server]\nstate_dir = /x\n", "t.conf:2: unknown key"},
        {"[paths]\nstate_dir = /a\nstate_dir = /b\n", "t.conf:3: state_dir set twice (first on line 2)"},
        {"[paths]\n[server]\n[paths]\n", "t.conf:3: section [paths] appears twice"},
        {"state_dir = /a\n", "t.conf:1: key before the first [section]"},
        {"[server]\nlevel = type3\n", "t.conf:2: level: expected type1 or type2"},
        {"[server]\nlevel = Type1\n", "t.conf:2: level"},
        {"[server]\ntimezone = Mars/Olympus\n", "t.conf:2: timezone"},
        {"[server]\ntimezone = ../../etc/passwd\n", "t.conf:2: timezone"},
        {"[server]\nhost_id = abc\n", "t.conf:2: host_id: expected 64 lowercase hex"},
        {"[server]\nhost_id = " "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD\n",
         "t.conf:2: host_id"},
        {"[guard]\ndeny = cp /bin/dd\n", "t.conf:2: deny: \"/bin/dd\": a program's base name"},
        {"[guard]\nallow = cat cat\n", "t.conf:2: allow: \"cat\": listed twice"},
        {"[guard]\nallow = c$t\n", "t.conf:2: allow"},
        {"[guard]\nallow = ..\n", "t.conf:2: allow"},
        {"[server]\nlogin_uid_min = 0\n", "t.conf:2: login_uid_min: uid 0 is root"},
        {"[cluster]\nnode = -lead\n", "t.conf:2: node"},
        {"[cluster]\nnode = a/b\n", "t.conf:2: node"},
        {"[cluster]\nlease_seconds = 1\n", "t.conf:2: lease_seconds: expected 2 to 300 seconds"},
        {"[cluster]\nanswer_seconds = 0\n", "t.conf:2: answer_seconds: expected 1 to 3600 seconds"},
        {"[cluster]\nlease_seconds = 301\n", "t.conf:2: lease_seconds"},
        {"[server]\nlogin_uid_max = -5\n", "t.conf:2: login_uid_max: expected a whole number"},
        {"[server]\nlogin_uid_min = 2000\nlogin_uid_max = 1999\n", "t.conf:2: login_uid_min is above login_uid_max"},
        {"[audit]\nsyslog = true\n", "t.conf:2: syslog: expected yes or no"},
        {"[audit]\nsyslog =\n", "t.conf:2: syslog"},
        {"[server]\nmax_open_per_user = 0\n", "t.conf:2: max_open_per_user: expected a whole number from 1 to 100000"},
        {"[server]\nmax_open_per_user = 100001\n", "t.conf:2: max_open_per_user"},
        {"[audit]\nbulk_read_multiple = 1001\n", "t.conf:2: bulk_read_multiple: expected a whole number"},
        {"[audit]\nbulk_read_multiple = -1\n", "t.conf:2: bulk_read_multiple"},
        {"[audit]\nbulk_read_multiple = 2.5\n", "t.conf:2: bulk_read_multiple"},
        {"[audit]\nmax_size_mb =\n", "t.conf:2: max_size_mb"},
        {"[audit]\nmax_size_mb = 99999999999999999999\n", "t.conf:2: max_size_mb"},
        {"[revocation]\ngrace_days = 3651\n", "t.conf:2: grace_days"},
        {"[revocation]\nwarn_days = 1e3\n", "t.conf:2: warn_days"},
        {"[revocation]\nwarn_days = 90,,40\n", "t.conf:2: warn_days: expected a whole number"},
        {"[revocation]\nwarn_days = 90,60,\n", "t.conf:2: warn_days: expected a whole number"},
        {"[revocation]\nwarn_days = 90 ,60\n", "t.conf:2: warn_days: expected a whole number"},
        {"[revocation]\nwarn_days = 60,60\n", "t.conf:2: warn_days: 60 days is listed twice"},
        {"[revocation]\nwarn_days = 60,0\n", "t.conf:2: warn_days: 0 days means no reminders"},
        {"[revocation]\nwarn_days = 3651\n", "t.conf:2: warn_days"},
        {"[revocation]\nwarn_days = 1,2,3,4,5,6,7,8,9\n", "t.conf:2: warn_days: expected at most 8"},
        {"[revocation]\nnotify_command = notify-send\n", "t.conf:2: notify_command: the command must start"},
        {"[metrics]\ntextfile = kura.prom\n", "t.conf:2: textfile: the metrics file must be an absolute path"},
        {"[metrics]\ninterval_seconds = 0\n", "t.conf:2: interval_seconds: expected 1 to 3600 seconds"},
        {"[metrics]\ngroup = Prometheus\n", "t.conf:2: group: expected a group name"},
        {"[metrics]\ngroup = -x\n", "t.conf:2: group: expected a group name"},
        {"[metrics]\ngroup = 9x\n", "t.conf:2: group: expected a group name"},
        {"[metrics]\ngroup = prometheus prometheus\n", "t.conf:2: group: expected a group name"},
        {"[metrics]\ngroup = abcdefghijklmnopqrstuvwxyz0123456\n", "t.conf:2: group: expected a group name"},
        {"[metrics]\ninterval_seconds = 3601\n", "t.conf:2: interval_seconds: expected a whole number"},
        {"[metric]\n", "unknown section [metric] (known: paths, server, guard, audit, revocation, metrics, report, cluster)"},
        {"[paths]\nstate_dir = lib\n", "t.conf:2: state_dir: relative path \"lib\" needs [paths] root"},
        {"[paths]\nroot = srv\n", "t.conf:2: root must be an absolute path"},
        {"[paths]\nsocket =\n", "t.conf:2: socket: empty path"},
        {"[paths]\nsocket = /run/" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
         "\n",
         "t.conf:2: socket: path longer than 107"},
        /* grammar */
        {"[paths]\n  state_dir = /x\n", "t.conf:2: line starts with a blank"},
        {"[paths]\nstate_dir = /a\n\tkeys_dir = /b\n", "t.conf:3: line starts with a blank"},
        {"[paths] # c\n", "t.conf:1: section header must be '[NAME]'"},
        {"[paths\n", "t.conf:1: section header"},
        {"[]\n", "t.conf:1: section header"},
        {"[ paths]\n", "t.conf:1: blank at the edge"},
        {"[pa]ths]\n", "t.conf:1: section header"},
        {"[paths]\nstate_dir: /x\n", "t.conf:2: expected 'key = value'"},
        {"[paths]\nstate_dir\n", "t.conf:2: expected 'key = value'"},
        {"[paths]\n= /x\n", "t.conf:2: expected 'key = value'"},
        {"[paths]\nstate dir = /x\n", "t.conf:2: expected 'key = value'"},
        {"[paths]\r\nstate_dir = /x\r\n", "t.conf:1: carriage return"},
        {"\xef\xbb\xbf[paths]\n", "t.conf:1: byte-order mark"},
        {"[paths]\nstate_dir = /\xff\n", "t.conf:2: invalid UTF-8"},
        {"[paths]\nstate_dir = /a\x1b[0m\n", "t.conf:2: control character 0x1b"},
        {"[paths]\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx = 1\n", "t.conf:2: key longer than 40"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_config c;
        struct kura_err err = {0};
        int rc = parse(bad[i].text, &c, &err);
        EXPECT(rc == -1);
        if (rc == 0) {
            printf("#   accepted case %zu\n", i);
            kura_config_free(&c);
            continue;
        }
        if (err.code != EINVAL)
            printf("#   case %zu: code %d: %s\n", i, err.code, err.msg);
        EXPECT(err.code == EINVAL);
        EXPECT_STR_CONTAINS(err.msg, bad[i].want);
        EXPECT(c.state_dir == NULL && c.deny == NULL); /* nothing left to free */
    }
}

static void test_nul_and_overlong_line(void)
{
    struct kura_config c;
    struct kura_err err = {0};
    static const char nul[] = "[paths]\nroot = /a\0b\n";
    EXPECT(kura_config_parse("t.conf", nul, sizeof nul - 1, machine_id, &c, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.conf:2: NUL byte");
    size_t n = 8 + KURA_INI_LINE_MAX + 2;
    char *text = malloc(n + 1);
    ASSERT(text);
    memcpy(text, "[guard]\n", 8);
    memset(text + 8, 'a', n - 8);
    memcpy(text + 8, "deny = ", 7);
    text[n - 1] = '\n';
    text[n] = '\0';
    EXPECT(kura_config_parse("t.conf", text, n, machine_id, &c, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "t.conf:2: line longer than 4096");
    free(text);
}

static void test_host_id_derivation(void)
{
    char out[KURA_HOST_ID_LEN + 1];
    ASSERT(kura_host_id_from_file(machine_id, out, NULL) == 0);
    EXPECT(strcmp(out, ABC_SHA256) == 0);
    EXPECT(kura_host_id_valid(out));
    char path[700];
    snprintf(path, sizeof path, "%s/empty-id", tmpdir);
    ASSERT(kura_write_file_atomic(path, "\n", 1, 0644, NULL) == 0);
    struct kura_err err = {0};
    EXPECT(kura_host_id_from_file(path, out, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "empty machine id");
    snprintf(path, sizeof path, "%s/no-such-id", tmpdir);
    EXPECT(kura_host_id_from_file(path, out, &err) == -1);
    EXPECT(err.code == ENOENT);
    /* No host_id and nothing to derive it from: refused, saying what to do. */
    struct kura_config c;
    EXPECT(kura_config_parse("t.conf", "", 0, path, &c, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "host_id");
    ASSERT(kura_config_parse("t.conf", host_id_conf, sizeof host_id_conf - 1, path, &c, &err) == 0);
    kura_config_free(&c);
    EXPECT(!kura_host_id_valid(""));
    EXPECT(!kura_host_id_valid(ABC_SHA256 "0"));
}

/* Issue 13: the login uid range comes from kura.conf, else login.defs,
 * else 1000..60000; system accounts fall outside it. */
static void test_login_uid_range(void)
{
    struct kura_config c;
    struct kura_err err = {0};
    char defs[700];
    snprintf(defs, sizeof defs, "%s/login.defs", tmpdir);
    const char text[] = "# UID_MIN 5\nUID_MINIMUM 7\nUID_MIN\t\t 2000\nUID_MAX   30000\n";
    ASSERT(kura_write_file_atomic(defs, text, sizeof text - 1, 0644, &err) == 0);
    uid_t lo = 0, hi = 0;
    ASSERT(parse(host_id_conf, &c, &err) == 0);
    kura_config_login_uids(&c, defs, &lo, &hi);
    EXPECT(lo == 2000 && hi == 30000);
    kura_config_login_uids(&c, "/nonexistent/login.defs", &lo, &hi);
    EXPECT(lo == 1000 && hi == 60000);
    kura_config_free(&c);
    ASSERT(parse("[server]\nhost_id = " ABC_SHA256 "\nlogin_uid_min = 500\n", &c, &err) == 0);
    kura_config_login_uids(&c, defs, &lo, &hi);
    EXPECT(lo == 500 && hi == 30000); /* each key on its own */
    kura_config_free(&c);
}

static void test_config_path_resolution(void)
{
    unsetenv("KURA_CONFIG");
    EXPECT(strcmp(kura_config_path(NULL), "/etc/kura/kura.conf") == 0);
    setenv("KURA_CONFIG", "", 1);
    EXPECT(strcmp(kura_config_path(NULL), "/etc/kura/kura.conf") == 0);
    setenv("KURA_CONFIG", "/env/kura.conf", 1);
    EXPECT(strcmp(kura_config_path(NULL), "/env/kura.conf") == 0);
    EXPECT(strcmp(kura_config_path("/opt/c.conf"), "/opt/c.conf") == 0);
    unsetenv("KURA_CONFIG");
}

int main(void)
{
    kura_secmem_init();
    if (!mkdtemp(tmpdir)) {
        printf("not ok 1 - mkdtemp\n");
        return 1;
    }
    snprintf(machine_id, sizeof machine_id, "%s/machine-id", tmpdir);
    if (kura_write_file_atomic(machine_id, "abc\n", 4, 0644, NULL) != 0) {
        printf("not ok 1 - machine id fixture\n");
        return 1;
    }
    RUN(test_empty_file_gives_defaults);
    RUN(test_default_text_loads_as_defaults);
    RUN(test_example_file_is_the_default_text);
    RUN(test_root_puts_everything_under_it);
    RUN(test_default_text_refuses_bad_root);
    RUN(test_write_default_is_exclusive);
    RUN(test_load_refuses_world_writable_and_missing);
    RUN(test_all_keys_set);
    RUN(test_warn_days_list);
    RUN(test_long_lines_are_whole);
    RUN(test_malformed_names_file_and_line);
    RUN(test_nul_and_overlong_line);
    RUN(test_host_id_derivation);
    RUN(test_config_path_resolution);
    RUN(test_login_uid_range);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", tmpdir);
    return unit_done();
}
