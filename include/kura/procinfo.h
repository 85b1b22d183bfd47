/* Facts about the process behind a FUSE request, read from /proc: what the
 * copy-out guard decides on (R-CPY-4) and what the audit log records about
 * "from which process" (R-LOG-1).
 *
 * Everything here is read from files the process (or its owner) can shape:
 * comm, argv and environ are claims, not proof. Only the resolved
 * executable and its inode facts (owner, mode, directory), and the files
 * mapped executable (maps: read for the caller, and for any process whose
 * executable is the dynamic loader), come from the kernel and the
 * filesystem; the allow-list guard decides on those alone.
 *
 * Races: each process is read through one directory fd on /proc/PID, so
 * once that directory is open every read describes the same process or
 * fails (the process exited). What remains is the window between the kernel
 * naming a pid and the open of /proc/PID: if the caller is killed and
 * reaped and its pid reused inside that window, the facts describe the new
 * process. The FUSE caller is blocked in its open() meanwhile, so this needs
 * a kill plus a pid wrap-around; the FUSE layer can compare the request's
 * uid with the collected fsuid to catch most of it. Ancestors are checked
 * against pid reuse (start time, and the child's parent re-read after the
 * parent's directory is open).
 *
 * Cost and stalls: a collection reads a handful of small files per process
 * in the chain and stats the executable and its directories. Like ps, it
 * can be stalled by a user who places their executable on, or maps their
 * argv over, a FUSE file system of their own that never answers; the
 * daemon's thread waits with it. The daemon needs CAP_SYS_PTRACE to see
 * other users' executables and environments. */
#ifndef KURA_PROCINFO_H
#define KURA_PROCINFO_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "kura/error.h"

#define KURA_PROC_CHAIN_MAX 32     /* caller + ancestors */
#define KURA_PROC_EXE_MAX 4096     /* PATH_MAX */
#define KURA_PROC_COMM_MAX 64      /* the kernel's comm is 15 bytes; kernel threads up to 63 */
#define KURA_PROC_CMDLINE_MAX 512  /* joined command line kept for the audit log */
#define KURA_PROC_ARG_MAX 256      /* argv[0]'s basename and argv[1], kept for the guard */
#define KURA_PROC_ADDR_MAX 64      /* an IPv6 literal with a zone fits */
#define KURA_PROC_MAPPED_MAX 16    /* executable file mappings kept per process */

/* Read limits: how much of each /proc file is looked at. */
#define KURA_PROC_CMDLINE_READ 8192
#define KURA_PROC_ENVIRON_READ (128 * 1024)
#define KURA_PROC_MAPS_READ (64 * 1024)

/* struct kura_proc.have: which facts were read. */
#define KURA_PROC_HAVE_STAT     0x01u /* ppid, start_time */
#define KURA_PROC_HAVE_STATUS   0x02u /* uid, euid, fsuid, gid, egid */
#define KURA_PROC_HAVE_COMM     0x04u
#define KURA_PROC_HAVE_EXE      0x08u /* exe: complete resolved path */
#define KURA_PROC_HAVE_EXE_STAT 0x10u /* exe_uid .. exe_dirs_safe */
#define KURA_PROC_HAVE_CMDLINE  0x20u /* cmdline, argc, argv0_base, argv1 (may be empty) */
#define KURA_PROC_HAVE_MAPS     0x40u /* mapped, nmapped (read for the caller and for loaders) */

/* struct kura_proc.flags */
#define KURA_PROC_EXE_DELETED      0x01u /* the kernel said " (deleted)"; suffix removed from exe */
#define KURA_PROC_CMDLINE_TRUNCATED 0x02u /* cmdline holds only a prefix of the arguments */
#define KURA_PROC_ARGS_TRUNCATED   0x04u /* argv[0] or argv[1] was too long (or cut by the read
                                          * limit) and is left empty */
#define KURA_PROC_EXE_HIDDEN       0x08u /* the kernel refused to show the executable (EACCES,
                                          * EPERM: a process we may not inspect, such as a
                                          * sandbox's init), as opposed to it having exited */
#define KURA_PROC_EXE_LOADER       0x10u /* the executable is a dynamic loader: built like one
                                          * (a position-independent ELF without an interpreter
                                          * of its own: ld.so itself, or a link or a copy of it
                                          * under any name), or named like one (ld-*.so*, ld.so) */
#define KURA_PROC_MAPS_TRUNCATED   0x20u /* maps held more executable files than
                                          * KURA_PROC_MAPPED_MAX, a path too long, or more than
                                          * the read limit: mapped is incomplete */

/* A file mapped executable into a process, as the kernel names it in
 * /proc/PID/maps: its identity (device, inode) and the basename of its
 * resolved path. Run through the dynamic loader ("ld.so ~/x", ~/x a
 * symlink to /usr/bin/cp), the program is such a mapping of /usr/bin/cp. */
struct kura_proc_mapped {
    dev_t dev;
    ino_t ino;
    char base[KURA_PROC_ARG_MAX];
};

/* One process. Strings are NUL-terminated and may hold any other byte
 * (newlines, escape sequences, invalid UTF-8): escape them before display. */
struct kura_proc {
    pid_t pid;
    pid_t ppid;                  /* 0 for pid 1 and kernel threads */
    uint64_t start_time;         /* clock ticks after boot (stat field 22) */
    pid_t tgid;                  /* the process of thread pid (status Tgid); 0: not read */
    uid_t uid, euid, fsuid;
    gid_t gid, egid;
    char comm[KURA_PROC_COMM_MAX];
    char exe[KURA_PROC_EXE_MAX]; /* readlink /proc/PID/exe, " (deleted)" removed */
    /* The running executable's inode (stat through /proc/PID/exe, so the
     * file that was exec'd, wherever it is now): */
    dev_t exe_dev;
    ino_t exe_ino;
    uid_t exe_uid;
    gid_t exe_gid;
    mode_t exe_mode;
    bool exe_path_matches;       /* stat(exe) today is that same inode */
    bool exe_dirs_safe;          /* every directory from exe's parent up to / is a real
                                  * directory (not a symlink) owned by root and not
                                  * writable by group or others */
    char cmdline[KURA_PROC_CMDLINE_MAX]; /* arguments joined by single spaces */
    size_t argc;                 /* arguments seen within the read limit */
    char argv0_base[KURA_PROC_ARG_MAX];  /* basename of argv[0] */
    char argv1[KURA_PROC_ARG_MAX];
    /* Distinct executable file mappings other than exe itself (the program
     * a loader runs, and shared libraries), in address order. */
    struct kura_proc_mapped mapped[KURA_PROC_MAPPED_MAX];
    size_t nmapped;
    /* SSH client address in this process's environ (as ssh_client of
     * struct kura_procinfo below), "" when none. */
    char env_ssh_client[KURA_PROC_ADDR_MAX];
    bool exiting;                /* the kernel's PF_EXITING (stat field 9): in exit already */
    unsigned have;               /* KURA_PROC_HAVE_* */
    unsigned flags;              /* KURA_PROC_* flags above */
};

/* struct kura_procinfo.flags */
#define KURA_PROCINFO_GONE            0x01u /* the caller's /proc/PID could not be opened: n == 0 */
#define KURA_PROCINFO_PARTIAL         0x02u /* a stat, status, comm, exe or cmdline read failed
                                             * for some process in the chain (it exited?) */
#define KURA_PROCINFO_CHAIN_TRUNCATED 0x04u /* KURA_PROC_CHAIN_MAX reached before a process
                                             * without parent */
#define KURA_PROCINFO_CHAIN_BROKEN    0x08u /* an ancestor exited, or its pid was reused, or
                                             * the chain looped, while walking */

struct kura_procinfo {
    size_t n;                    /* processes in chain */
    struct kura_proc chain[KURA_PROC_CHAIN_MAX]; /* [0] caller, [1] its parent, ... */
    unsigned flags;              /* KURA_PROCINFO_* */
    bool loginuid_set;           /* false: /proc/PID/loginuid unreadable or 4294967295 */
    uint32_t loginuid;           /* the caller's audit login uid */
    /* SSH client address (first field of SSH_CONNECTION, else SSH_CLIENT),
     * validated as an IP literal; "" when none. Taken from the process that
     * sshd started for the caller's session (the nearest process whose parent
     * is sshd or sshd-session), else from the nearest process in the chain
     * that carries one. Environment variables are set by whoever started a
     * process, so this is a record, not an authentication. */
    char ssh_client[KURA_PROC_ADDR_MAX];
    pid_t ssh_client_pid;        /* whose environ it came from; 0 when none */
    bool ssh_client_from_session; /* true: from sshd's direct child */
};

struct kura_proccache;

/* Collects facts about pid and its ancestors up to a process without parent
 * (pid 1), at most KURA_PROC_CHAIN_MAX processes. proc_root is the /proc
 * mount to read (NULL: "/proc", opened at the first call and kept open;
 * tests pass a fake tree, whose files are checked to be regular before
 * they are read). out is large
 * (~170 KiB): allocate it, don't put it on a thread's stack.
 * Returns 0 when the caller's /proc entry was opened; out->flags and each
 * entry's `have` say what could not be read. Returns -1 with err (ESRCH: no
 * such process; EINVAL, ENOENT for proc_root, ENOMEM) otherwise; out is then
 * still valid (n == 0, KURA_PROCINFO_GONE) and the guard refuses it. */
int kura_procinfo_collect(const char *proc_root, pid_t pid, struct kura_procinfo *out,
                          struct kura_err *err);

/* The same, with the facts of processes that neither exec'd, renamed
 * themselves, changed ids nor exited since they were read taken from cache
 * (proccache.h; NULL: none), and those read now stored in it. The
 * caller's /proc/PID/stat is read to find its (pid, start time); what a
 * process may change without an event is read afresh for the caller: its
 * command line, its login uid, and its executable link (an executable
 * replaced on disk reads " (deleted)", and a change there means a miss). A
 * chain is stored only when read completely, with no process in it exiting. */
int kura_procinfo_collect_cached(const char *proc_root, struct kura_proccache *cache, pid_t pid,
                                 struct kura_procinfo *out, struct kura_err *err);

/* Parsers of /proc file contents (pure; exposed for tests and fuzzing).
 * buf need not be NUL-terminated. */

/* /proc/PID/stat: ppid, start time and (exiting not NULL) whether the
 * kernel's PF_EXITING flag is set; the comm field may contain spaces and
 * parentheses. Returns 0, or -1 when malformed. */
int kura_procinfo_parse_stat(const char *buf, size_t len, pid_t *ppid, uint64_t *start_time,
                             bool *exiting);

/* /proc/PID/status: the Uid: and Gid: lines into p's uid, euid, fsuid, gid,
 * egid, and the Tgid: line into tgid (0 when missing or malformed). Returns
 * 0, or -1 when the Uid: or Gid: line is missing or malformed. */
int kura_procinfo_parse_status(const char *buf, size_t len, struct kura_proc *p);

/* The ids of a process from its status file (dirfd: its /proc directory,
 * open), as kura_procinfo_parse_status; false when it is gone or malformed. */
bool kura_procinfo_read_ids(int dirfd, struct kura_proc *p);

/* /proc/PID/cmdline (NUL-separated arguments) into p's cmdline, argc,
 * argv0_base, argv1 and the truncation flags. read_truncated: buf is only a
 * prefix of the file (so its last argument may be cut). */
void kura_procinfo_parse_cmdline(const char *buf, size_t len, bool read_truncated,
                                 struct kura_proc *p);

/* /proc/PID/environ (NUL-separated NAME=VALUE): the SSH client address.
 * SSH_CONNECTION is tried first, then SSH_CLIENT; for each the first
 * occurrence counts (as getenv sees it), and its first space-separated field
 * must be an IPv4 or IPv6 literal (an IPv6 zone "%eth0" is allowed). An
 * entry not terminated by NUL may be cut by the read limit and is ignored.
 * Returns true and fills addr (always NUL-terminated) when found. */
bool kura_procinfo_parse_ssh_client(const char *buf, size_t len, char *addr, size_t addrsz);

/* /proc/PID/maps into p's mapped and nmapped: every distinct file mapped
 * with execute permission, except p's own executable (exe_dev, exe_ino,
 * which must be set first). Sets KURA_PROC_MAPS_TRUNCATED when more than
 * KURA_PROC_MAPPED_MAX were found, a line could not be parsed, a name was
 * too long, or read_truncated (buf is only a prefix of the file). */
void kura_procinfo_parse_maps(const char *buf, size_t len, bool read_truncated,
                              struct kura_proc *p);

/* /proc/PID/maps, read whole: calls fn with the path of each line that maps
 * a file of device dev (every permission, repeats included, " (deleted)"
 * cut), in order; stops at the first fn that returns non-zero and returns
 * that, else 0. Malformed lines are skipped. */
int kura_procinfo_maps_on_device(const char *buf, size_t len, dev_t dev,
                                 int (*fn)(const char *path, size_t path_len, void *arg), void *arg);

/* True when buf, the first len bytes of an executable, is an ELF file (32-
 * or 64-bit) of type ET_DYN whose program headers (which must lie within
 * buf) name no interpreter: how a dynamic loader (or a static-pie program)
 * is built. */
bool kura_procinfo_elf_is_loader(const unsigned char *buf, size_t len);

/* True when base is named like a dynamic loader: ld.so, ld-linux-x86-64.so.2,
 * ld-musl-x86_64.so.1, ld-2.31.so. */
bool kura_procinfo_loader_name(const char *base);

/* True when s is an IPv4 or IPv6 literal (IPv6 with an optional zone). */
bool kura_procinfo_valid_ip(const char *s);

/* The name a path ends with ("/usr/bin/cp" -> "cp"; "cp" -> "cp"). */
const char *kura_procinfo_basename(const char *path);

#endif
