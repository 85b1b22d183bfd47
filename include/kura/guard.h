/* The copy-out guard (R-CPY-4, R-LVL-1): decides from the caller's process
 * facts (kura/procinfo.h) whether the process may open dataset files.
 * kura_guard_decide() is pure: no I/O, no clock, no globals.
 *
 * Deny-list mode (Type I default): refused when any process in the chain
 * (the caller and its ancestors) is a denied tool, so sftp-server under
 * sshd, `rsync --server`, `scp -f` and `tar c ... | ssh` are caught. A
 * process is named by the basename of its resolved executable, its comm,
 * its argv[0], and for multi-call binaries (busybox, toybox, coreutils) and
 * the dynamic loader (ld.so PROGRAM) the program they run. What it runs is
 * also judged by identity: its executable and every file it has mapped
 * executable (procinfo's mapped[]), by resolved name and by device+inode
 * against the deny-listed programs installed (kura_guard_rules_locate), so
 * `ld.so ~/x` with ~/x a symlink to cp, or a hard link of cp, is cp. A
 * loader (known by how it is built, so also a renamed copy, or by name)
 * whose mappings could not all be read or were too many to keep is
 * refused; its command line counts too only under a loader's name. The caller is also refused when it is sshd itself: with
 * `Subsystem sftp internal-sftp` sshd reads the files without any
 * sftp-server process.
 *   Honest limit: deny-list mode matches names and installed files. A
 * copy of a tool under another name (cp copied to ~/mycat: a new inode, or
 * run from a memfd), or a script in an
 * interpreter (python3 -c 'shutil.copy(...)'), passes it. Deny-list mode
 * stops the ordinary tools and makes their use visible; it is not a
 * barrier against a determined user. That is what allow-list mode is for.
 *
 * Allow-list mode (Type II default): the caller itself must be a listed
 * program, decided on kernel and filesystem facts only (not comm or argv,
 * except to tell which applet a multi-call binary runs): the basename of
 * the executable that is running, which must lie below a trusted directory
 * (default /usr/bin, /bin, /usr/local/bin, /usr/sbin, /usr/libexec), be
 * owned by root and not writable by group or others, with every directory
 * above it root-owned and not writable by group or others, not deleted, and
 * still be the file at that path. So a user's renamed copy of cp called
 * "cat" fails (not in a trusted directory), and only root can install a
 * program that passes. Interpreters (python3, Rscript, perl, bash) pass
 * only when listed, and then whatever script they run passes with them.
 * Ancestors need not be listed (they are shells, schedulers, sshd), but a
 * denied tool anywhere in the chain still refuses. A program that was
 * upgraded while running shows as deleted and is refused until restarted.
 *
 * Names match exactly or with a version suffix of digits and dots:
 * "python3" matches python3 and python3.11, "python" matches python3.11,
 * "cp" does not match cpio. comm (15 bytes at most) also matches a longer
 * name it is the first 15 bytes of.
 *
 * Missing facts fail closed in both modes: if the caller exited or could
 * not be read, an ancestor could not be read, the chain was cut at its
 * depth limit, or a launcher's program cannot be told, the guard refuses.
 * A process that exited cannot read the file anyway; refusing costs
 * nothing, and an attacker cannot use a race to get an unchecked open.
 * An ancestor whose executable the kernel hides from the daemon (EACCES:
 * a sandbox's init, say; never a user's process while the daemon has
 * CAP_SYS_PTRACE) is named by its comm and argv[0] instead. */
#ifndef KURA_GUARD_H
#define KURA_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "kura/error.h"
#include "kura/model.h"
#include "kura/procinfo.h"

/* Copy and transfer tools and file servers: kura.conf's default [guard] deny. */
#define KURA_GUARD_DEFAULT_DENY                                                                                \
    "cp mv dd install rsync scp sftp-server ssh tar cpio zip 7z rclone curl wget nc ncat netcat socat ftp "    \
    "lftp aws gsutil azcopy rsh rcp dd_rescue pv split sftp pax 7za 7zr ascp bbcp globus-url-copy smbd "      \
    "vsftpd proftpd httpd apache2 nginx"
#define KURA_GUARD_DEFAULT_TRUSTED_DIRS "/usr/bin,/bin,/usr/local/bin,/usr/sbin,/usr/libexec"
/* Where kura_guard_rules_locate() looks for the deny-listed programs. */
#define KURA_GUARD_PROGRAM_DIRS                                                                                \
    "/usr/bin,/bin,/usr/sbin,/sbin,/usr/local/bin,/usr/local/sbin,/usr/libexec,/usr/lib/openssh,"              \
    "/usr/lib/ssh,/usr/lib/sftp-server"

#define KURA_GUARD_NAME_MAX 255
#define KURA_GUARD_DETAIL_MAX 256

/* A deny-listed program installed on this system, by identity. */
struct kura_guard_program {
    dev_t dev;
    ino_t ino;
    const char *name;      /* the deny entry it was found under (owned by deny) */
};

struct kura_guard_rules {
    char **deny;           /* program names */
    size_t ndeny;
    struct kura_guard_program *deny_files; /* see kura_guard_rules_locate() */
    size_t ndeny_files;
    char **allow;          /* program names */
    size_t nallow;
    char **trusted_dirs;   /* absolute, no trailing '/', never "/" */
    size_t ntrusted_dirs;
};

/* Fills r from comma- or space-separated lists (as in kura.conf). NULL
 * deny or trusted_dirs takes the default above; NULL allow is empty (an
 * empty allow list refuses everything in allow-list mode). A name is 1..255
 * printable ASCII bytes without '/'; a directory is absolute, without "."
 * or ".." components, and not "/". Returns -1 with EINVAL naming the bad
 * entry; r is then empty. Free with kura_guard_rules_clear(). */
int kura_guard_rules_set(struct kura_guard_rules *r, const char *deny, const char *allow,
                         const char *trusted_dirs, struct kura_err *err);
/* Finds each deny-listed name in the directories of dirs (comma- or
 * space-separated; NULL: KURA_GUARD_PROGRAM_DIRS), following symlinks, and
 * keeps the identity (device, inode) of each file found, so that the
 * program is recognised under any name it runs by: a hard link, or a
 * symlink run through the loader. Names not installed are skipped. Returns
 * -1 with EINVAL (a bad directory) or ENOMEM; r's deny_files are then
 * empty. Reads the file system: call it once, when the rules are set. */
int kura_guard_rules_locate(struct kura_guard_rules *r, const char *dirs, struct kura_err *err);
/* Frees what r owns; safe on a zeroed struct. */
void kura_guard_rules_clear(struct kura_guard_rules *r);

enum kura_guard_why {
    KURA_GUARD_OK = 0,
    KURA_GUARD_DENIED_TOOL,     /* a process in the chain is a denied tool */
    KURA_GUARD_SSH_SERVER,      /* the caller is sshd itself (internal-sftp) */
    KURA_GUARD_NOT_ALLOWED,     /* allow-list: the caller's program is not listed */
    KURA_GUARD_UNTRUSTED_EXE,   /* allow-list: the caller's executable is not root's, in place */
    KURA_GUARD_UNKNOWN_PROGRAM, /* a multi-call binary or ld.so whose program cannot be told */
    KURA_GUARD_NO_PROCESS,      /* the caller exited or could not be read */
    KURA_GUARD_CHAIN_UNKNOWN,   /* an ancestor could not be read, or the chain was cut */
};

struct kura_guard_verdict {
    bool allowed;
    enum kura_guard_why why;
    pid_t pid;     /* the process the verdict names; 0 when none */
    size_t depth;  /* its place in the chain: 0 the caller, 1 its parent, ... */
    /* For logs and errors, printable ASCII only: "cp (pid 1234)",
     * "sftp-server (pid 77, parent 1 of 3)", "mycat (pid 9): /home/u/mycat is
     * not in a trusted directory". */
    char detail[KURA_GUARD_DETAIL_MAX];
};

struct kura_guard_verdict kura_guard_decide(const struct kura_guard_rules *rules,
                                            enum kura_guard_mode mode,
                                            const struct kura_procinfo *pi);

/* Short stable names for logs: "allowed", "denied tool", "ssh server", ... */
const char *kura_guard_why_name(enum kura_guard_why w);

#endif
