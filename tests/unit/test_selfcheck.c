/* selfcheck.c: every item of kuractl check, each with fixtures that make
 * it pass, warn and fail, written as real files below a temporary root. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/fsutil.h"
#include "kura/selfcheck.h"
#include "unit.h"

#define KEYS "/var/lib/kura/keys"

static char root[256];

/* A fresh, empty root for one case. */
static void fresh_root(void)
{
    if (root[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
            abort();
    }
    snprintf(root, sizeof root, "/tmp/kura-selfcheck-XXXXXX");
    if (!mkdtemp(root))
        abort();
}

/* ROOT/path with content (parents made 0755). */
static void put(const char *path, const char *content, mode_t mode)
{
    char full[512], dir[512];
    snprintf(full, sizeof full, "%s%s", root, path);
    snprintf(dir, sizeof dir, "%s", full);
    *strrchr(dir, '/') = '\0';
    struct kura_err e = {0};
    if (kura_mkdir_p(dir, 0755, &e) != 0 || kura_write_file_atomic(full, content, strlen(content), mode, &e) != 0) {
        printf("# put %s: %s\n", full, e.msg);
        abort();
    }
}

static void mkdir_under(const char *path, mode_t mode)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", root, path);
    struct kura_err e = {0};
    if (kura_mkdir_p(full, mode, &e) != 0)
        abort();
}

static char *ruleset_file;

static enum kura_check_verdict eval(const char *id, char *seen, size_t len)
{
    const struct kura_check_def *d = kura_check_find(id);
    if (!d)
        abort();
    struct kura_check_input in = {.root = root, .keys_dir = KEYS, .ruleset = ruleset_file};
    struct kura_check_result r;
    kura_check_eval(d, &in, &r);
    snprintf(seen, len, "%s", r.seen);
    return r.verdict;
}

#define VERDICT(id, v, text)                                        \
    do {                                                            \
        char seen_[KURA_CHECK_SEEN_MAX];                            \
        enum kura_check_verdict got_ = eval(id, seen_, sizeof seen_); \
        if (got_ != (v))                                            \
            printf("#   %s: got %s (%s)\n", id, kura_check_verdict_name(got_), seen_); \
        EXPECT(got_ == (v));                                        \
        EXPECT_STR_CONTAINS(seen_, text);                           \
    } while (0)

static void test_table(void)
{
    /* Every item has its id, reference, title and fix in both languages. */
    EXPECT(kura_check_count() >= 12);
    for (size_t i = 0; i < kura_check_count(); i++) {
        const struct kura_check_def *d = kura_check_def_at(i);
        ASSERT(d);
        EXPECT(d->id && d->guideline_ja && d->guideline_en && d->title_ja && d->title_en && d->fix_ja && d->fix_en);
        EXPECT(kura_check_find(d->id) == d);
    }
    EXPECT(kura_check_def_at(kura_check_count()) == NULL);
    EXPECT(kura_check_find("nonsense") == NULL);
    EXPECT(strcmp(kura_check_verdict_name(KURA_CHECK_FAIL), "fail") == 0);
}

#define SWAPS_HEADER "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

static void test_swap(void)
{
    fresh_root();
    put("/proc/swaps", SWAPS_HEADER, 0644);
    VERDICT("swap", KURA_CHECK_PASS, "no swap in use");
    put("/proc/swaps", SWAPS_HEADER "/dev/mapper/cryptswap                   partition\t1000\t0\t-2\n", 0644);
    put("/etc/crypttab", "# <target> <source> <key> <options>\ncryptswap /dev/sda3 /dev/urandom swap,cipher=aes-xts-plain64\n",
        0644);
    VERDICT("swap", KURA_CHECK_PASS, "/dev/mapper/cryptswap");
    put("/etc/crypttab", "# cryptswap /dev/sda3 /dev/urandom swap\nother /dev/sda4 none luks\n", 0644);
    VERDICT("swap", KURA_CHECK_WARN, "not in /etc/crypttab");
    put("/proc/swaps", SWAPS_HEADER "/dev/zram0 partition 1000 0 100\n", 0644);
    VERDICT("swap", KURA_CHECK_PASS, "/dev/zram0");
    put("/proc/swaps", SWAPS_HEADER "/swapfile file 1000 0 -2\n/dev/zram0 partition 1000 0 100\n", 0644);
    VERDICT("swap", KURA_CHECK_FAIL, "unencrypted swap in use: /swapfile");
    fresh_root();
    VERDICT("swap", KURA_CHECK_WARN, "cannot read /proc/swaps");
}

static void test_coredump(void)
{
    fresh_root();
    put("/proc/sys/kernel/core_pattern", "core\n", 0644);
    VERDICT("coredump", KURA_CHECK_FAIL, "no '* hard core 0'");
    put("/etc/security/limits.conf", "#*               soft    core            0\n*  soft core 0\n", 0644);
    VERDICT("coredump", KURA_CHECK_WARN, "only a soft core limit");
    put("/etc/security/limits.d/90-nocore.conf", "*\thard\tcore\t0\n", 0644);
    VERDICT("coredump", KURA_CHECK_PASS, "hard core 0");
    /* A pipe gets every dump whatever the limit. */
    put("/proc/sys/kernel/core_pattern", "|/lib/systemd/systemd-coredump %P %u %g %s %t 9223372036854775808 %h\n", 0644);
    VERDICT("coredump", KURA_CHECK_FAIL, "Storage=external");
    put("/etc/systemd/coredump.conf", "[Coredump]\n#Storage=external\n", 0644);
    VERDICT("coredump", KURA_CHECK_FAIL, "Storage=external");
    put("/etc/systemd/coredump.conf.d/kura.conf", "[Coredump]\nStorage=none\nProcessSizeMax=0\n", 0644);
    VERDICT("coredump", KURA_CHECK_PASS, "Storage=none");
    put("/proc/sys/kernel/core_pattern", "|/usr/share/apport/apport -p%p -s%s -c%c\n", 0644);
    VERDICT("coredump", KURA_CHECK_WARN, "cannot tell");
}

/* Debian 12's sshd_config opens with this Include. */
#define SSHD_HEAD "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n"

static void test_ssh_password(void)
{
    fresh_root();
    VERDICT("ssh-password", KURA_CHECK_PASS, "no SSH server");
    put("/etc/ssh/sshd_config", SSHD_HEAD "#PasswordAuthentication yes\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_FAIL, "PasswordAuthentication yes (default)");
    put("/etc/ssh/sshd_config.d/50-kura.conf", "PasswordAuthentication no\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_PASS, "PasswordAuthentication no");
    /* The first value wins: a later line in sshd_config does not override the Include. */
    put("/etc/ssh/sshd_config", SSHD_HEAD "PasswordAuthentication yes\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_PASS, "PasswordAuthentication no");
    /* A Match block is not global. */
    put("/etc/ssh/sshd_config.d/50-kura.conf", "Match User alice\n  PasswordAuthentication no\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_FAIL, "PasswordAuthentication yes");
    put("/etc/ssh/sshd_config.d/50-kura.conf", "AuthenticationMethods publickey,keyboard-interactive\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_PASS, "publickey,keyboard-interactive");
    put("/etc/ssh/sshd_config.d/50-kura.conf", "AuthenticationMethods publickey,password password\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_FAIL, "a password alone");
    put("/etc/ssh/sshd_config.d/50-kura.conf", "passwordauthentication=no\npermitemptypasswords yes\n", 0644);
    VERDICT("ssh-password", KURA_CHECK_FAIL, "PermitEmptyPasswords yes");
}

static void test_ssh_mfa(void)
{
    fresh_root();
    VERDICT("ssh-mfa", KURA_CHECK_PASS, "no SSH server");
    put("/etc/ssh/sshd_config", SSHD_HEAD "PasswordAuthentication no\n", 0644);
    VERDICT("ssh-mfa", KURA_CHECK_WARN, "any (default)");
    put("/etc/ssh/sshd_config.d/mfa.conf", "AuthenticationMethods publickey,keyboard-interactive publickey\n", 0644);
    VERDICT("ssh-mfa", KURA_CHECK_WARN, "one factor suffices");
    put("/etc/ssh/sshd_config.d/mfa.conf",
        "AuthenticationMethods publickey,keyboard-interactive:pam publickey,password\n", 0644);
    VERDICT("ssh-mfa", KURA_CHECK_PASS, "two factors");
}

static void test_ssh_root(void)
{
    fresh_root();
    put("/etc/ssh/sshd_config", SSHD_HEAD, 0644);
    VERDICT("ssh-root", KURA_CHECK_PASS, "prohibit-password (default)");
    put("/etc/ssh/sshd_config", SSHD_HEAD "PermitRootLogin yes\n", 0644);
    VERDICT("ssh-root", KURA_CHECK_FAIL, "PermitRootLogin yes");
    put("/etc/ssh/sshd_config.d/root.conf", "PermitRootLogin no\n", 0644);
    VERDICT("ssh-root", KURA_CHECK_PASS, "PermitRootLogin no");
}

static void test_idle_logout(void)
{
    fresh_root();
    put("/etc/profile", "if [ \"$PS1\" ]; then\n  PS1='$ '\nfi\n", 0644);
    VERDICT("idle-logout", KURA_CHECK_FAIL, "idle sessions stay open");
    put("/etc/profile.d/tmout.sh", "TMOUT=3600\nexport TMOUT\n", 0644);
    VERDICT("idle-logout", KURA_CHECK_WARN, "longer than 15 minutes");
    put("/etc/profile.d/tmout.sh", "readonly TMOUT=900; export TMOUT\n", 0644);
    VERDICT("idle-logout", KURA_CHECK_PASS, "TMOUT=900 in tmout.sh");
    fresh_root();
    put("/etc/systemd/logind.conf", "[Login]\n#StopIdleSessionSec=infinity\n", 0644);
    VERDICT("idle-logout", KURA_CHECK_FAIL, "idle sessions stay open");
    put("/etc/systemd/logind.conf.d/idle.conf", "[Login]\nStopIdleSessionSec=15min\n", 0644);
    VERDICT("idle-logout", KURA_CHECK_PASS, "StopIdleSessionSec=15min");
}

#define DPKG_STANZA(pkg, status) "Package: " pkg "\nStatus: " status "\nPriority: optional\nVersion: 1.0\n\n"

static void test_p2p(void)
{
    fresh_root();
    VERDICT("p2p", KURA_CHECK_WARN, "cannot tell");
    put("/var/lib/dpkg/status",
        DPKG_STANZA("bash", "install ok installed") DPKG_STANZA("transmission-common", "deinstall ok config-files")
            DPKG_STANZA("deluge", "purge ok not-installed"),
        0644);
    VERDICT("p2p", KURA_CHECK_PASS, "none of the");
    put("/var/lib/dpkg/status",
        DPKG_STANZA("bash", "install ok installed") DPKG_STANZA("transmission-daemon", "install ok installed")
            "Package: qbittorrent-nox\nStatus: install ok installed\nVersion: 4.5.2-3",
        0644);
    VERDICT("p2p", KURA_CHECK_FAIL, "transmission-daemon qbittorrent-nox");
}

#define NFT_OPEN "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n"
#define NFT_CLOSED                                                                                                     \
    "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n"                 \
    "\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n"

static void test_firewall(void)
{
    fresh_root();
    VERDICT("firewall", KURA_CHECK_FAIL, "no firewall enabled");
    /* The rules file alone is not enough: nftables must load it at boot. */
    put("/etc/nftables.conf", NFT_CLOSED, 0755);
    VERDICT("firewall", KURA_CHECK_FAIL, "no firewall enabled");
    put("/etc/systemd/system/sysinit.target.wants/nftables.service", "[Unit]\n", 0644);
    VERDICT("firewall", KURA_CHECK_PASS, "filters incoming traffic");
    put("/etc/nftables.conf", "#!/usr/sbin/nft -f\nflush ruleset\n" NFT_OPEN, 0755);
    VERDICT("firewall", KURA_CHECK_FAIL, "lets everything in");
    put("/etc/ufw/ufw.conf", "# /etc/ufw/ufw.conf\nENABLED=yes\nLOGLEVEL=low\n", 0644);
    VERDICT("firewall", KURA_CHECK_PASS, "ufw enabled");
    fresh_root();
    put("/etc/systemd/system/multi-user.target.wants/netfilter-persistent.service", "[Unit]\n", 0644);
    put("/etc/iptables/rules.v4", "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n"
                                  "-A INPUT -j REJECT --reject-with icmp-port-unreachable\nCOMMIT\n", 0644);
    VERDICT("firewall", KURA_CHECK_PASS, "rules.v4");
    /* The running rules, given as a file, are what counts. */
    char path[300];
    snprintf(path, sizeof path, "%s/ruleset.txt", root);
    ruleset_file = path;
    put("/ruleset.txt", NFT_OPEN, 0600);
    VERDICT("firewall", KURA_CHECK_FAIL, "the ruleset given");
    put("/ruleset.txt", NFT_CLOSED, 0600);
    VERDICT("firewall", KURA_CHECK_PASS, "the ruleset given");
    unlink(path);
    VERDICT("firewall", KURA_CHECK_WARN, "cannot read the ruleset file");
    ruleset_file = NULL;
}

static void test_time_sync(void)
{
    fresh_root();
    VERDICT("time-sync", KURA_CHECK_FAIL, "no time synchronisation");
    put("/etc/systemd/system/sysinit.target.wants/systemd-timesyncd.service", "[Unit]\n", 0644);
    VERDICT("time-sync", KURA_CHECK_WARN, "not synchronised the clock yet");
    put("/run/systemd/timesync/synchronized", "", 0644);
    VERDICT("time-sync", KURA_CHECK_PASS, "systemd-timesyncd");
    fresh_root();
    put("/run/chrony/chronyd.pid", "4242\n", 0644);
    VERDICT("time-sync", KURA_CHECK_FAIL, "no time synchronisation");   /* a stale pid file */
    mkdir_under("/proc/4242", 0555);
    /* the pid reused by another program: the pid file is stale still */
    put("/proc/4242/comm", "python3\n", 0444);
    VERDICT("time-sync", KURA_CHECK_FAIL, "no time synchronisation");
    put("/proc/4242/comm", "chronyd\n", 0444);
    VERDICT("time-sync", KURA_CHECK_PASS, "chronyd running (pid 4242)");
    fresh_root();
    put("/run/ntpd.pid", "77\n", 0644);
    put("/proc/77/comm", "ntpd\n", 0444);
    VERDICT("time-sync", KURA_CHECK_PASS, "ntpd running (pid 77)");
}

static void test_userns(void)
{
    fresh_root();
    VERDICT("userns", KURA_CHECK_WARN, "cannot read");
    put("/proc/sys/user/max_user_namespaces", "96367\n", 0644);
    VERDICT("userns", KURA_CHECK_FAIL, "user.max_user_namespaces = 96367");
    put("/proc/sys/kernel/unprivileged_userns_clone", "1\n", 0644);
    VERDICT("userns", KURA_CHECK_FAIL, "kernel.unprivileged_userns_clone = 1");
    put("/proc/sys/kernel/unprivileged_userns_clone", "0\n", 0644);
    VERDICT("userns", KURA_CHECK_PASS, "kernel.unprivileged_userns_clone = 0");
    put("/proc/sys/kernel/unprivileged_userns_clone", "1\n", 0644);
    put("/proc/sys/user/max_user_namespaces", "0\n", 0644);
    VERDICT("userns", KURA_CHECK_PASS, "user.max_user_namespaces = 0");
    put("/proc/sys/user/max_user_namespaces", "x\n", 0644);
    VERDICT("userns", KURA_CHECK_FAIL, "kernel.unprivileged_userns_clone = 1"); /* unreadable number: not 0 */
}

static void test_keystore(void)
{
    fresh_root();
    VERDICT("keystore", KURA_CHECK_FAIL, "does not exist");
    mkdir_under(KEYS "/datasets/JGAD1", 0700);
    put(KEYS "/server.sec", "secret", 0600);
    put(KEYS "/server.pub", "public", 0644);
    put(KEYS "/datasets/JGAD1/dataset.key.c4gh", "wrapped", 0600);
    char dir[512];
    snprintf(dir, sizeof dir, "%s%s", root, KEYS);
    ASSERT(chmod(dir, 0700) == 0);
    snprintf(dir, sizeof dir, "%s%s/datasets", root, KEYS);
    ASSERT(chmod(dir, 0700) == 0);
    VERDICT("keystore", KURA_CHECK_PASS, "6 entries");
    put(KEYS "/datasets/JGAD1/dataset.key.c4gh", "wrapped", 0640);
    VERDICT("keystore", KURA_CHECK_FAIL, "dataset.key.c4gh (mode 0640");
    put(KEYS "/datasets/JGAD1/dataset.key.c4gh", "wrapped", 0600);
    put(KEYS "/server.pub", "public", 0666);
    VERDICT("keystore", KURA_CHECK_FAIL, "server.pub (mode 0666");
    put(KEYS "/server.pub", "public", 0644);
    /* A backup marker may be read by anyone, not written. */
    put(KEYS "/.nobackup", "", 0644);
    VERDICT("keystore", KURA_CHECK_PASS, "7 entries");
    put(KEYS "/.nobackup", "", 0666);
    VERDICT("keystore", KURA_CHECK_FAIL, ".nobackup (mode 0666");
    put(KEYS "/.nobackup", "", 0644);
    snprintf(dir, sizeof dir, "%s%s", root, KEYS);
    ASSERT(chmod(dir, 0755) == 0);
    VERDICT("keystore", KURA_CHECK_FAIL, "the directory itself (mode 0755");
    ASSERT(chmod(dir, 0700) == 0);
    /* Owned by someone else (runs as root: chown works). */
    char sec[512];
    snprintf(sec, sizeof sec, "%s%s/server.sec", root, KEYS);
    ASSERT(chown(sec, 1, 1) == 0);
    VERDICT("keystore", KURA_CHECK_FAIL, "server.sec (mode 0600, uid 1)");
}

static void test_backup_exclusion(void)
{
    fresh_root();
    mkdir_under(KEYS, 0700);
    VERDICT("backup-exclusion", KURA_CHECK_WARN, "no CACHEDIR.TAG or .nobackup");
    /* A CACHEDIR.TAG without the signature is not one. */
    put(KEYS "/CACHEDIR.TAG", "kura keys\n", 0644);
    VERDICT("backup-exclusion", KURA_CHECK_WARN, "no CACHEDIR.TAG or .nobackup");
    put("/var/lib/kura/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n# kura\n", 0644);
    VERDICT("backup-exclusion", KURA_CHECK_PASS, "/var/lib/kura/CACHEDIR.TAG");
    fresh_root();
    put(KEYS "/.nobackup", "", 0600);
    VERDICT("backup-exclusion", KURA_CHECK_PASS, KEYS "/.nobackup");
    fresh_root();
    put(KEYS "/datasets/CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n", 0644);
    VERDICT("backup-exclusion", KURA_CHECK_PASS, KEYS "/datasets/CACHEDIR.TAG excludes the dataset keys");
    /* A marker beside the keystore, not above it, excludes nothing of it. */
    fresh_root();
    put("/var/lib/kura/store/.nobackup", "", 0644);
    VERDICT("backup-exclusion", KURA_CHECK_WARN, "no CACHEDIR.TAG");
}

#define LIMITS(core) "Limit                     Soft Limit           Hard Limit           Units     \n" \
                     "Max cpu time              unlimited            unlimited            seconds   \n" \
                     "Max core file size        " core "                    bytes     \n"

static void test_daemon(void)
{
    fresh_root();
    put("/proc/1/comm", "systemd\n", 0444);
    VERDICT("daemon", KURA_CHECK_WARN, "no kurafs running");
    /* A user's program named kurafs (comm is the user's to choose: a copy
     * of any program, prctl(PR_SET_NAME)), hardened to look the part, is
     * not the daemon: it neither passes the item for the real one nor
     * fails it (found by a hostile review). */
    put("/proc/412/comm", "kurafs\n", 0444);
    put("/proc/412/limits", LIMITS("0                    0"), 0444);
    put("/proc/412/status", "Name:\tkurafs\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nVmLck:\t     100 kB\n", 0444);
    VERDICT("daemon", KURA_CHECK_WARN, "no kurafs running");
    /* Root by every uid, not by one (a set-user-ID program a user runs
     * keeps the user's real uid): the real one, then the file-system one. */
    put("/proc/412/status", "Name:\tkurafs\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmLck:\t     100 kB\n", 0444);
    VERDICT("daemon", KURA_CHECK_WARN, "no kurafs running");
    put("/proc/412/status", "Name:\tkurafs\nUid:\t0\t0\t0\t1000\nGid:\t0\t0\t0\t0\nVmLck:\t     100 kB\n", 0444);
    VERDICT("daemon", KURA_CHECK_WARN, "no kurafs running");
    put("/proc/412/status", "Name:\tkurafs\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nVmLck:\t     100 kB\n", 0444);
    put("/proc/731/comm", "kurafs\n", 0444);
    put("/proc/731/limits", LIMITS("unlimited            unlimited"), 0444);
    put("/proc/731/status", "Name:\tkurafs\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmLck:\t  81234 kB\n", 0444);
    VERDICT("daemon", KURA_CHECK_FAIL, "kurafs (pid 731): core dumps not disabled");
    put("/proc/731/limits", LIMITS("0                    0"), 0444);
    VERDICT("daemon", KURA_CHECK_PASS, "81234 kB locked");
    put("/proc/731/status", "Name:\tkurafs\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nVmLck:\t       0 kB\n", 0444);
    VERDICT("daemon", KURA_CHECK_WARN, "no memory locked");
}

/* The real machine: every item answers without crashing, with something seen. */
static void test_real_root(void)
{
    struct kura_check_input in = {.root = "/", .keys_dir = "/nonexistent/kura/keys"};
    for (size_t i = 0; i < kura_check_count(); i++) {
        struct kura_check_result r;
        kura_check_eval(kura_check_def_at(i), &in, &r);
        EXPECT(r.def == kura_check_def_at(i));
        EXPECT(r.seen[0] != '\0');
    }
}

int main(void)
{
    RUN(test_table);
    RUN(test_swap);
    RUN(test_coredump);
    RUN(test_ssh_password);
    RUN(test_ssh_mfa);
    RUN(test_ssh_root);
    RUN(test_idle_logout);
    RUN(test_p2p);
    RUN(test_firewall);
    RUN(test_time_sync);
    RUN(test_userns);
    RUN(test_keystore);
    RUN(test_backup_exclusion);
    RUN(test_daemon);
    RUN(test_real_root);
    fresh_root();
    rmdir(root);
    return unit_done();
}
