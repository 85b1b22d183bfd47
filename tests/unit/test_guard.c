/* Copy-out guard (R-CPY-4, R-LVL-1): the decision is pure, so every case is
 * a hand-built process chain run through kura_guard_decide(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/guard.h"
#include "kura/secmem.h"
#include "unit.h"

/* One process as a test describes it; unset fields take the safe default
 * (root-owned 0755 file, in place, safe directories, everything read). */
struct pspec {
    pid_t pid;
    const char *exe;
    const char *comm;
    const char *args[8];   /* argv, NULL-terminated */
    unsigned drop;         /* KURA_PROC_HAVE_* bits not read */
    unsigned flags;        /* KURA_PROC_* flags */
    uid_t exe_uid;
    mode_t exe_mode;       /* 0: 0755 */
    bool path_mismatch, dirs_unsafe;
    const char *maps[4];   /* basenames of files it maps executable (NULL-terminated);
                            * a test identity each: device 8, inode 1000 + index */
    bool no_maps;          /* maps not read (KURA_PROC_HAVE_MAPS unset) */
};

#define CHAIN_LEN 8
struct gcase {
    const char *name;
    enum kura_guard_mode mode;
    const char *deny;      /* NULL: the default deny list */
    const char *allow;
    const char *dirs;      /* NULL: the default trusted directories */
    struct pspec chain[CHAIN_LEN]; /* ends at pid 0 */
    unsigned pflags;       /* KURA_PROCINFO_* */
    bool allowed;
    enum kura_guard_why why;
    const char *detail;    /* substring of the verdict's detail */
};

#define DENY KURA_GUARD_DENYLIST
#define ALLOW KURA_GUARD_ALLOWLIST
#define ALLOWED "samtools,bcftools,python3,cat"

/* A typical SSH session above the caller. */
#define BASH {50, "/usr/bin/bash", "bash", {"-bash"}}
#define SSHS {40, "/usr/lib/openssh/sshd-session", "sshd-session", {"sshd-session: alice@pts/0"}}
#define SSHD {30, "/usr/sbin/sshd", "sshd", {"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}}
#define INIT {1, "/usr/lib/systemd/systemd", "systemd", {"/sbin/init", "splash"}}
#define SESSION BASH, SSHS, SSHD, INIT

#define CAT {100, "/usr/bin/cat", "cat", {"cat", "/mnt/kura/DS1/a.vcf"}}
#define SAMTOOLS(path) {100, path, "samtools", {"samtools", "view", "/mnt/kura/DS1/a.bam"}}

static const struct gcase cases[] = {
    /* ---- deny-list mode ---- */
    {"R-CPY-4 deny: the caller is cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/cp", "cp", {"cp", "/mnt/kura/DS1/a.bam", "/tmp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: the parent is sftp-server", DENY, NULL, NULL, NULL,
     {CAT, {90, "/usr/lib/openssh/sftp-server", "sftp-server", {"/usr/lib/openssh/sftp-server"}},
      SSHS, SSHD},
     0, false, KURA_GUARD_DENIED_TOOL, "sftp-server (pid 90, parent 1 of 3)"},
    {"R-CPY-4 deny: the grandparent is rsync", DENY, NULL, NULL, NULL,
     {CAT, {90, "/usr/bin/dash", "sh", {"sh", "-c", "cat x"}},
      {80, "/usr/bin/rsync", "rsync", {"rsync", "-a", "x", "host:"}}, BASH, INIT},
     0, false, KURA_GUARD_DENIED_TOOL, "rsync (pid 80, parent 2 of 4)"},
    {"R-CPY-4 deny: cat in an ssh session is allowed", DENY, NULL, NULL, NULL,
     {CAT, SESSION}, 0, true, KURA_GUARD_OK, "cat (pid 100)"},
    {"R-CPY-4 deny: rsync --server --sender", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/rsync", "rsync", {"rsync", "--server", "--sender", "-vlogDtpre.iLsfxCIvu", ".", "/mnt/kura/DS1"}},
      {90, "/usr/bin/dash", "sh", {"sh", "-c", "rsync --server --sender ..."}}, SSHS, SSHD, INIT},
     0, false, KURA_GUARD_DENIED_TOOL, "rsync (pid 100)"},
    {"R-CPY-4 deny: scp -f (source mode)", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/scp", "scp", {"scp", "-f", "/mnt/kura/DS1/a.bam"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "scp"},
    {"R-CPY-4 deny: tar piping to ssh", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/tar", "tar", {"tar", "cf", "-", "/mnt/kura/DS1"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "tar (pid 100)"},
    {"R-CPY-4 deny: sshd itself reading (internal-sftp)", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/openssh/sshd-session", "sshd-session", {"sshd-session: alice@internal-sftp"}},
      SSHD, INIT},
     0, false, KURA_GUARD_SSH_SERVER, "internal-sftp"},
    {"R-CPY-4 deny: sshd as an ancestor is fine", DENY, NULL, NULL, NULL,
     {CAT, SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny limit: a renamed copy of cp passes (documented)", DENY, NULL, NULL, NULL,
     {{100, "/home/alice/mycat", "mycat", {"./mycat", "/mnt/kura/DS1/a.bam", "/tmp/x"}}, SESSION},
     0, true, KURA_GUARD_OK, "mycat (pid 100)"},
    {"R-CPY-4 deny limit: an interpreter copying passes (documented)", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/python3.11", "python3", {"python3", "-c", "import shutil; shutil.copy(...)"}}, SESSION},
     0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny: a symlink named cat to cp is still cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/cp", "cat", {"cat", "/mnt/kura/DS1/a", "/tmp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: exec -a cat cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/cp", "cp", {"cat", "/mnt/kura/DS1/a", "/tmp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp"},
    {"R-CPY-4 deny: a program calling itself cp (comm)", DENY, NULL, NULL, NULL,
     {{100, "/home/alice/x", "cp", {"x"}}, SESSION}, 0, false, KURA_GUARD_DENIED_TOOL, "cp"},
    {"R-CPY-4 deny: busybox run as cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/busybox", "cp", {"cp", "a", "b"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: busybox cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/busybox", "busybox", {"busybox", "cp", "a", "b"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: busybox /bin/tar", DENY, NULL, NULL, NULL,
     {{100, "/bin/busybox", "busybox", {"/bin/busybox", "/bin/tar", "cf", "-"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "tar"},
    {"R-CPY-4 deny: coreutils --coreutils-prog=cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/coreutils", "coreutils", {"coreutils", "--coreutils-prog=cp", "a", "b"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: busybox cat is allowed", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/busybox", "cat", {"cat", "a"}}, SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny: busybox without an applet refuses", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/busybox", "busybox", {"busybox"}}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, "busybox (pid 100)"},
    {"R-CPY-4 deny: busybox with a cut argv refuses", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/busybox", "busybox", {"busybox", "x"}, .flags = KURA_PROC_ARGS_TRUNCATED}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, NULL},
    {"R-CPY-4 deny: ld.so /usr/bin/cp", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/usr/bin/cp", "a", "b"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: ld.so with options refuses (program unknown)", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"ld.so", "--library-path", "/x", "/usr/bin/cp"}}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, "loader"},
    {"R-CPY-4 deny: ld.so running cat is allowed", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-2.31.so", "ld-2.31.so", {"/lib64/ld.so", "/usr/bin/cat"},
       .maps = {"cat", "libc.so.6"}}, SESSION},
     0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny: comm cut at 15 bytes still matches a long name", DENY, "averyveryverylongtool", NULL, NULL,
     {{100, "/home/alice/renamed", "averyveryverylo", {"renamed"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "averyveryverylongtool (pid 100)"},
    {"R-CPY-4 deny: a shorter comm does not match a long name", DENY, "averyveryverylongtool", NULL, NULL,
     {{100, "/home/alice/renamed", "averyvery", {"renamed"}}, SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny: a version suffix matches (python denies python3.11)", DENY, "python", NULL, NULL,
     {{100, "/usr/bin/python3.11", "python3.11", {"/usr/bin/python3.11"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "python (pid 100)"},
    {"R-CPY-4 deny: cp does not match cpio or scp-like names", DENY, "cp", NULL, NULL,
     {{100, "/usr/bin/cpio", "cpio", {"cpio", "-o"}}, SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-CPY-4 deny: an empty deny list allows cp", DENY, "", NULL, NULL,
     {{100, "/usr/bin/cp", "cp", {"cp", "a", "b"}}, SESSION}, 0, true, KURA_GUARD_OK, NULL},

    /* ---- fail closed (both modes) ---- */
    {"R-CPY-4 fail closed: no process (deny)", DENY, NULL, NULL, NULL, {{0}},
     KURA_PROCINFO_GONE, false, KURA_GUARD_NO_PROCESS, "exited"},
    {"R-CPY-4 fail closed: no process (allow)", ALLOW, NULL, ALLOWED, NULL, {{0}},
     KURA_PROCINFO_GONE, false, KURA_GUARD_NO_PROCESS, NULL},
    {"R-CPY-4 fail closed: caller exited mid-read (deny)", DENY, NULL, NULL, NULL,
     {{100, NULL, "cat", {NULL}, .drop = KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT}, SESSION},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_NO_PROCESS, "cat (pid 100)"},
    {"R-CPY-4 fail closed: caller exited mid-read (allow)", ALLOW, NULL, ALLOWED, NULL,
     {{100, NULL, "cat", {NULL}, .drop = KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT}, SESSION},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_NO_PROCESS, NULL},
    {"R-CPY-4 fail closed: an ancestor could not be read", DENY, NULL, NULL, NULL,
     {CAT, {50, "/usr/bin/bash", "bash", {"-bash"}, .drop = KURA_PROC_HAVE_CMDLINE}, SSHS, SSHD, INIT},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_CHAIN_UNKNOWN, "bash (pid 50, parent 1 of 4)"},
    {"R-CPY-4 fail closed: an ancestor's executable vanished (exited)", DENY, NULL, NULL, NULL,
     {CAT, BASH, {40, NULL, "sshd-session", {"sshd-session: alice"}}, SSHD, INIT},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_CHAIN_UNKNOWN, "sshd-session (pid 40, parent 2 of 4)"},
    {"R-CPY-4 an ancestor the kernel hides is known by comm and argv0", DENY, NULL, NULL, NULL,
     {CAT, BASH, {1, NULL, "process_api", {"/process_api", "--init"}, .flags = KURA_PROC_EXE_HIDDEN}},
     KURA_PROCINFO_PARTIAL, true, KURA_GUARD_OK, "cat (pid 100)"},
    {"R-CPY-4 a hidden ancestor named like a denied tool refuses", DENY, NULL, NULL, NULL,
     {CAT, {60, NULL, "sftp-server", {"/usr/lib/openssh/sftp-server"}, .flags = KURA_PROC_EXE_HIDDEN}, INIT},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_DENIED_TOOL, "sftp-server (pid 60, parent 1 of 2)"},
    {"R-CPY-4 fail closed: a caller the kernel hides", ALLOW, NULL, ALLOWED, NULL,
     {{100, NULL, "cat", {"cat"}, .flags = KURA_PROC_EXE_HIDDEN}, SESSION},
     KURA_PROCINFO_PARTIAL, false, KURA_GUARD_NO_PROCESS, NULL},
    {"R-CPY-4 fail closed: chain cut at the depth limit", DENY, NULL, NULL, NULL,
     {CAT, BASH, SSHS}, KURA_PROCINFO_CHAIN_TRUNCATED, false, KURA_GUARD_CHAIN_UNKNOWN, "limit"},
    {"R-CPY-4 fail closed: chain broken (parent exited)", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/usr/bin/samtools"), BASH}, KURA_PROCINFO_CHAIN_BROKEN, false,
     KURA_GUARD_CHAIN_UNKNOWN, "parent exited"},
    {"R-CPY-4 a denied tool is named even when the chain is broken", DENY, NULL, NULL, NULL,
     {{100, "/usr/bin/cp", "cp", {"cp", "a", "b"}}, BASH}, KURA_PROCINFO_CHAIN_BROKEN, false,
     KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},

    /* ---- allow-list mode ---- */
    {"R-LVL-1 allow: samtools in /usr/bin", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/usr/bin/samtools"), SESSION}, 0, true, KURA_GUARD_OK, "samtools (pid 100)"},
    {"R-LVL-1 allow: samtools in /usr/local/bin", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/usr/local/bin/samtools"), SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-LVL-1 allow: samtools in a home directory is refused", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/home/alice/bin/samtools"), SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE,
     "samtools (pid 100): /home/alice/bin/samtools lies outside the trusted directories"},
    {"R-LVL-1 allow: a configured trusted directory", ALLOW, NULL, ALLOWED, "/opt/conda/bin,/usr/bin",
     {SAMTOOLS("/opt/conda/bin/samtools"), SESSION}, 0, true, KURA_GUARD_OK, NULL},
    {"R-LVL-1 allow: /opt/conda/bin is not trusted by default", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/opt/conda/bin/samtools"), SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LVL-1 allow: /usr/bin2 is not below /usr/bin", ALLOW, NULL, ALLOWED, NULL,
     {SAMTOOLS("/usr/bin2/samtools"), SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LVL-1 allow: /usr/binsamtools is not below /usr/bin", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/binsamtools", "samtools", {"samtools"}}, SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LVL-1 allow: an executable not owned by root", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/local/bin/samtools", "samtools", {"samtools"}, .exe_uid = 1000}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "not owned by root"},
    {"R-LVL-1 allow: an executable writable by its group", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/local/bin/samtools", "samtools", {"samtools"}, .exe_mode = 0775}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "writable by group or others"},
    {"R-LVL-1 allow: an executable writable by others", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/local/bin/samtools", "samtools", {"samtools"}, .exe_mode = 0757}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "writable by group or others"},
    {"R-LVL-1 allow: a directory above that others may change", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/local/bin/samtools", "samtools", {"samtools"}, .dirs_unsafe = true}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "directory"},
    {"R-LVL-1 allow: a deleted executable (upgraded while running)", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/samtools", "samtools", {"samtools"}, .flags = KURA_PROC_EXE_DELETED}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "deleted"},
    {"R-LVL-1 allow: a path that is not the running file (mount namespace)", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/samtools", "samtools", {"samtools"}, .path_mismatch = true}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "not the file now at that path"},
    {"R-LVL-1 allow: an executable that could not be examined", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/samtools", "samtools", {"samtools"}, .drop = KURA_PROC_HAVE_EXE_STAT}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "cannot be examined"},
    {"R-LVL-1 allow: a program run from a memfd", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/memfd:samtools", "3", {"samtools"}, .flags = KURA_PROC_EXE_DELETED, .path_mismatch = true},
      SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LVL-1 allow: cp renamed to cat in a home directory", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/home/alice/cat", "cat", {"cat", "/mnt/kura/DS1/a", "/tmp"}, .exe_uid = 1000}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "lies outside the trusted directories"},
    {"R-LVL-1 allow: a symlink named samtools to cp is cp", ALLOW, "", ALLOWED, NULL,
     {{100, "/usr/bin/cp", "samtools", {"samtools", "a", "b"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, "cp (pid 100): not on the allow list"},
    {"R-LVL-1 allow: a listed name in comm and argv0 does not help", ALLOW, "", ALLOWED, NULL,
     {{100, "/usr/bin/dd", "cat", {"cat"}}, SESSION}, 0, false, KURA_GUARD_NOT_ALLOWED, "dd"},
    {"R-LVL-1 allow: cp is refused by the deny list first", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/cp", "cp", {"cp", "a", "b"}}, SESSION}, 0, false, KURA_GUARD_DENIED_TOOL, "cp"},
    {"R-LVL-1 allow: python3.11 when python3 is listed", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/python3.11", "python3", {"python3", "analysis.py"}}, SESSION},
     0, true, KURA_GUARD_OK, "python3.11 (pid 100)"},
    {"R-LVL-1 allow: an interpreter that is not listed", ALLOW, NULL, "samtools", NULL,
     {{100, "/usr/bin/python3.11", "python3", {"python3", "copy.py"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, "python3.11 (pid 100): not on the allow list"},
    {"R-LVL-1 allow: a shell reading is refused unless listed", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/bash", "bash", {"bash", "-c", "read x < /mnt/kura/DS1/a"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, "bash"},
    {"R-LVL-1 allow: python3-evil is not python3", ALLOW, NULL,
     "python3,samtools", NULL,
     {{100, "/usr/bin/python3-evil", "python3-evil", {"python3-evil"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, NULL},
    {"R-LVL-1 allow: python3x is not python3", ALLOW, NULL, "python3", NULL,
     {{100, "/usr/bin/python3x", "python3x", {"python3x"}}, SESSION}, 0, false, KURA_GUARD_NOT_ALLOWED, NULL},
    {"R-LVL-1 allow: samtools.bak is not samtools", ALLOW, NULL, "samtools", NULL,
     {{100, "/usr/bin/samtools.bak", "samtools.bak", {"samtools.bak"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, NULL},
    {"R-LVL-1 allow: busybox as cat when cat is listed", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/busybox", "cat", {"cat", "a"}}, SESSION}, 0, true, KURA_GUARD_OK, "cat (pid 100)"},
    {"R-LVL-1 allow: busybox as dd is not cat", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/busybox", "busybox", {"busybox", "dd", "if=a"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "dd"},
    {"R-LVL-1 allow: busybox as head, not listed", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/busybox", "head", {"head", "a"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, "head (pid 100)"},
    {"R-LVL-1 allow: busybox from a home directory", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/home/alice/busybox", "cat", {"cat", "a"}, .exe_uid = 1000}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LVL-1 allow: ld.so running samtools is not samtools", ALLOW, NULL, ALLOWED, "/usr/bin,/usr/lib",
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/usr/bin/samtools"}}, SESSION},
     0, false, KURA_GUARD_NOT_ALLOWED, "ld-linux-x86-64.so.2"},
    /* Issue 14 §4: the loader is judged by the program it has mapped, not by
     * the name it was asked to run. */
    {"R-CPY-4 deny: ld.so ~/x, x a symlink to cp (cp is mapped)", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/home/alice/x", "a", "b"}, .maps = {"libc.so.6", "cp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: sftp-server through ld.so under another name", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/home/alice/s"}, .maps = {"sftp-server", "libcrypto.so.3"}},
      SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "sftp-server"},
    {"R-CPY-4 deny: a renamed copy of the loader (known by how it is built) running cp", DENY, NULL, NULL, NULL,
     {{100, "/home/alice/myld", "myld", {"/home/alice/myld", "/home/alice/x"},
       .flags = KURA_PROC_EXE_LOADER, .maps = {"cp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: a renamed copy of the loader whose maps are cut short refuses", DENY, NULL, NULL, NULL,
     {{100, "/home/alice/myld", "myld", {"/home/alice/myld", "/home/alice/x"},
       .flags = KURA_PROC_EXE_LOADER | KURA_PROC_MAPS_TRUNCATED, .maps = {"libc.so.6"}}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, "loader"},
    {"R-CPY-4 deny: a static-pie program (built like a loader) is judged by its maps, not argv", DENY, NULL, NULL, NULL,
     {{100, "/usr/local/bin/sttool", "sttool", {"sttool", "--in", "cp"}, .flags = KURA_PROC_EXE_LOADER}, SESSION},
     0, true, KURA_GUARD_OK, "sttool (pid 100)"},
    {"R-CPY-4 deny: any caller that maps cp is cp", DENY, NULL, NULL, NULL,
     {{100, "/home/alice/runner", "runner", {"runner"}, .maps = {"cp"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "cp (pid 100)"},
    {"R-CPY-4 deny: a loader whose maps could not be read refuses", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/usr/bin/cat"}, .no_maps = true}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, "loader"},
    {"R-CPY-4 deny: a loader with too many mappings to see refuses", DENY, NULL, NULL, NULL,
     {{100, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
       {"/lib64/ld-linux-x86-64.so.2", "/usr/bin/cat"}, .flags = KURA_PROC_MAPS_TRUNCATED,
       .maps = {"cat"}}, SESSION},
     0, false, KURA_GUARD_UNKNOWN_PROGRAM, "loader"},
    {"R-CPY-4 deny: an ancestor loader running rsync", DENY, NULL, NULL, NULL,
     {CAT, {90, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "ld-linux-x86-64",
            {"/lib64/ld-linux-x86-64.so.2", "/home/alice/r", "--server"}, .maps = {"rsync"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "rsync (pid 90, parent 1 of 5)"},
    {"R-LVL-1 allow: an allowed caller under a denied tool", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/usr/bin/cat", "cat", {"cat", "a"}}, {90, "/usr/bin/rsync", "rsync", {"rsync", "--server"}}, SESSION},
     0, false, KURA_GUARD_DENIED_TOOL, "rsync (pid 90, parent 1 of 5)"},
    {"R-LVL-1 allow: sshd reading (internal-sftp)", ALLOW, NULL, "sshd-session", NULL,
     {{100, "/usr/lib/openssh/sshd-session", "sshd-session", {"sshd-session: alice"}}, SSHD, INIT},
     0, false, KURA_GUARD_SSH_SERVER, NULL},
    {"R-LVL-1 allow: an empty allow list refuses everything", ALLOW, NULL, "", NULL,
     {SAMTOOLS("/usr/bin/samtools"), SESSION}, 0, false, KURA_GUARD_NOT_ALLOWED, NULL},
    {"R-LVL-1 allow: no trusted directories refuses everything", ALLOW, NULL, ALLOWED, "",
     {SAMTOOLS("/usr/bin/samtools"), SESSION}, 0, false, KURA_GUARD_UNTRUSTED_EXE, NULL},
    {"R-LOG-1 detail: control bytes in a path are not passed on", ALLOW, NULL, ALLOWED, NULL,
     {{100, "/home/a/x\n{\"forged\":1}\x1b[2J", "x", {"x"}}, SESSION},
     0, false, KURA_GUARD_UNTRUSTED_EXE, "x?{\"forged\":1}?[2J (pid 100)"},
};

static struct kura_procinfo *build(const struct gcase *c)
{
    struct kura_procinfo *pi = calloc(1, sizeof *pi);
    if (!pi)
        return NULL;
    pi->flags = c->pflags;
    for (size_t i = 0; i < CHAIN_LEN && c->chain[i].pid; i++) {
        const struct pspec *s = &c->chain[i];
        struct kura_proc *p = &pi->chain[pi->n++];
        p->pid = s->pid;
        p->ppid = i + 1 < CHAIN_LEN ? c->chain[i + 1].pid : 0;
        p->uid = p->euid = p->fsuid = 1000;
        p->have = KURA_PROC_HAVE_STAT | KURA_PROC_HAVE_STATUS | KURA_PROC_HAVE_COMM |
                  KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT | KURA_PROC_HAVE_CMDLINE;
        if (s->exe)
            snprintf(p->exe, sizeof p->exe, "%s", s->exe);
        else
            p->have &= ~(KURA_PROC_HAVE_EXE | KURA_PROC_HAVE_EXE_STAT);
        snprintf(p->comm, sizeof p->comm, "%s", s->comm);
        /* argv through the real parser, as /proc would present it */
        char argbuf[1024];
        size_t len = 0;
        for (size_t a = 0; a < 8 && s->args[a]; a++) {
            size_t n = strlen(s->args[a]) + 1;
            memcpy(argbuf + len, s->args[a], n);
            len += n;
        }
        kura_procinfo_parse_cmdline(argbuf, len, false, p);
        p->flags |= s->flags;
        p->exe_uid = s->exe_uid;
        p->exe_gid = 0;
        p->exe_mode = 0100000 | (s->exe_mode ? s->exe_mode : 0755);
        p->exe_path_matches = !s->path_mismatch;
        p->exe_dirs_safe = !s->dirs_unsafe;
        p->exe_dev = 8;
        p->exe_ino = 100 + (ino_t)i;
        for (size_t m = 0; m < 4 && s->maps[m]; m++) {
            p->mapped[m] = (struct kura_proc_mapped){.dev = 8, .ino = 1000 + (ino_t)m};
            snprintf(p->mapped[m].base, sizeof p->mapped[m].base, "%s", s->maps[m]);
            p->nmapped++;
        }
        if (!s->no_maps)
            p->have |= KURA_PROC_HAVE_MAPS;
        p->have &= ~s->drop;
    }
    return pi;
}

static size_t current_case;

/* One TAP line per table row. */
static void run_case(void)
{
    const struct gcase *c = &cases[current_case];
    struct kura_guard_rules rules;
    struct kura_err err = {0};
    ASSERT(kura_guard_rules_set(&rules, c->deny, c->allow, c->dirs, &err) == 0);
    struct kura_procinfo *pi = build(c);
    ASSERT(pi);
    struct kura_guard_verdict v = kura_guard_decide(&rules, c->mode, pi);
    printf("#   -> %s: %s\n", kura_guard_why_name(v.why), v.detail);
    EXPECT(v.allowed == c->allowed);
    EXPECT(v.why == c->why);
    if (c->detail)
        EXPECT_STR_CONTAINS(v.detail, c->detail);
    for (const char *d = v.detail; *d; d++)
        EXPECT((unsigned char)*d >= ' ' && (unsigned char)*d <= '~');
    free(pi);
    kura_guard_rules_clear(&rules);
}

/* The verdict names the process it is about. */
static void test_verdict_names_pid_and_depth(void)
{
    const struct gcase *c = &cases[1]; /* sftp-server parent */
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, NULL, NULL, NULL) == 0);
    struct kura_procinfo *pi = build(c);
    ASSERT(pi);
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    EXPECT(!v.allowed);
    EXPECT(v.pid == 90);
    EXPECT(v.depth == 1);
    free(pi);
    kura_guard_rules_clear(&rules);
}

/* Same input, same verdict, whatever came before (the function is pure). */
static void test_decide_is_repeatable(void)
{
    struct kura_guard_rules rules;
    ASSERT(kura_guard_rules_set(&rules, NULL, ALLOWED, NULL, NULL) == 0);
    struct kura_procinfo *pi = build(&cases[0]);
    ASSERT(pi);
    struct kura_guard_verdict a = kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi);
    struct kura_guard_verdict b = kura_guard_decide(&rules, KURA_GUARD_ALLOWLIST, pi);
    EXPECT(a.allowed == b.allowed && a.why == b.why && strcmp(a.detail, b.detail) == 0);
    free(pi);
    kura_guard_rules_clear(&rules);
}

static bool rules_has(char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static void test_rules_defaults(void)
{
    struct kura_guard_rules r;
    ASSERT(kura_guard_rules_set(&r, NULL, NULL, NULL, NULL) == 0);
    EXPECT(rules_has(r.deny, r.ndeny, "cp"));
    EXPECT(rules_has(r.deny, r.ndeny, "sftp-server"));
    EXPECT(rules_has(r.deny, r.ndeny, "rsync"));
    EXPECT(rules_has(r.deny, r.ndeny, "scp"));
    EXPECT(rules_has(r.deny, r.ndeny, "tar"));
    EXPECT(r.nallow == 0);
    EXPECT(r.ntrusted_dirs == 5);
    EXPECT(rules_has(r.trusted_dirs, r.ntrusted_dirs, "/usr/libexec"));
    kura_guard_rules_clear(&r);
    kura_guard_rules_clear(&r); /* clearing twice is safe */
}

static void test_rules_separators_and_trailing_slash(void)
{
    struct kura_guard_rules r;
    ASSERT(kura_guard_rules_set(&r, " cp,rsync\tscp\n,, ", "samtools , python3",
                                "/opt/tools/bin/, /usr/bin//", NULL) == 0);
    EXPECT(r.ndeny == 3 && rules_has(r.deny, r.ndeny, "scp"));
    EXPECT(r.nallow == 2 && rules_has(r.allow, r.nallow, "python3"));
    EXPECT(r.ntrusted_dirs == 2 && rules_has(r.trusted_dirs, r.ntrusted_dirs, "/opt/tools/bin") &&
           rules_has(r.trusted_dirs, r.ntrusted_dirs, "/usr/bin"));
    kura_guard_rules_clear(&r);
}

static void test_rules_reject_bad_entries(void)
{
    static const struct {
        const char *deny, *allow, *dirs;
    } bad[] = {
        {"cp,a/b", NULL, NULL},
        {NULL, "sam\x01tools", NULL},
        {NULL, "\xc4\x87p", NULL},       /* non-ASCII */
        {NULL, NULL, "/"},
        {NULL, NULL, "///"},
        {NULL, NULL, "usr/bin"},
        {NULL, NULL, "/usr/../tmp"},
        {NULL, NULL, "/usr/./bin"},
        {NULL, NULL, "/usr//bin"},
        {NULL, NULL, "/usr/bin/.."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct kura_guard_rules r;
        struct kura_err err = {0};
        int rc = kura_guard_rules_set(&r, bad[i].deny, bad[i].allow, bad[i].dirs, &err);
        EXPECT(rc == -1);
        EXPECT(err.code == EINVAL);
        EXPECT(r.ndeny == 0 && r.nallow == 0 && r.ntrusted_dirs == 0 && !r.deny);
        if (rc == 0)
            printf("#   accepted bad entry %zu\n", i);
        kura_guard_rules_clear(&r);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct kura_guard_rules r;
    struct kura_err err = {0};
    EXPECT(kura_guard_rules_set(&r, longname, NULL, NULL, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "deny list");
}

/* Issue 14 §4: a deny-listed program is recognised by identity under any
 * name: as the executable (a hard link named mycat) and as a mapping (a
 * loader running it from a symlink whose name says nothing). */
static void test_denied_by_identity(void)
{
    char dir[] = "/tmp/kura-guard-XXXXXX";
    ASSERT(mkdtemp(dir));
    char prog[64];
    snprintf(prog, sizeof prog, "%s/cp", dir);
    FILE *f = fopen(prog, "w");
    ASSERT(f);
    fclose(f);
    struct stat st;
    ASSERT(stat(prog, &st) == 0);

    struct kura_guard_rules rules;
    struct kura_err err = {0};
    ASSERT(kura_guard_rules_set(&rules, NULL, NULL, NULL, &err) == 0);
    EXPECT(kura_guard_rules_locate(&rules, dir, &err) == 0);
    EXPECT(rules.ndeny_files == 1);

    struct kura_procinfo *pi = build(&cases[3]); /* cat in an ssh session: allowed */
    ASSERT(pi);
    struct kura_proc *p = &pi->chain[0];
    EXPECT(kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi).allowed);

    snprintf(p->exe, sizeof p->exe, "/home/alice/mycat"); /* a hard link of cp */
    p->exe_dev = st.st_dev;
    p->exe_ino = st.st_ino;
    struct kura_guard_verdict v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    printf("#   hard link: %s\n", v.detail);
    EXPECT(!v.allowed && v.why == KURA_GUARD_DENIED_TOOL);

    p->exe_ino = 1; /* a loader mapping it under the name "x" */
    p->flags |= KURA_PROC_EXE_LOADER;
    p->mapped[0] = (struct kura_proc_mapped){.dev = st.st_dev, .ino = st.st_ino};
    snprintf(p->mapped[0].base, sizeof p->mapped[0].base, "x");
    p->nmapped = 1;
    v = kura_guard_decide(&rules, KURA_GUARD_DENYLIST, pi);
    printf("#   mapped: %s\n", v.detail);
    EXPECT(!v.allowed && v.why == KURA_GUARD_DENIED_TOOL);

    EXPECT(kura_guard_rules_locate(&rules, "relative/dir", &err) == -1);
    EXPECT(err.code == EINVAL && rules.ndeny_files == 0);
    free(pi);
    kura_guard_rules_clear(&rules);
    unlink(prog);
    rmdir(dir);
}

static void test_why_names(void)
{
    for (int w = KURA_GUARD_OK; w <= KURA_GUARD_CHAIN_UNKNOWN; w++)
        EXPECT(strcmp(kura_guard_why_name((enum kura_guard_why)w), "?") != 0);
    EXPECT(strcmp(kura_guard_why_name(KURA_GUARD_DENIED_TOOL), "denied tool") == 0);
}

int main(void)
{
    if (kura_secmem_init() != 0)
        return 1;
    for (current_case = 0; current_case < sizeof cases / sizeof cases[0]; current_case++)
        unit_run(cases[current_case].name, run_case);
    RUN(test_verdict_names_pid_and_depth);
    RUN(test_decide_is_repeatable);
    RUN(test_rules_defaults);
    RUN(test_rules_separators_and_trailing_slash);
    RUN(test_rules_reject_bad_entries);
    RUN(test_denied_by_identity);
    RUN(test_why_names);
    return unit_done();
}
