/* kurafs: mounts every dataset read-only under MOUNTPOINT/<ID>/, serving
 * plaintext only to listed users inside their period (docs/design.md). */
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <fuse_lowlevel.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kura/changes.h"
#include "kura/cluster.h"
#include "kura/commands.h"
#include "kura/ctlproto.h"
#include "kura/fsutil.h"
#include "kura/lockdown.h"
#include "kura/pwcache.h"
#include "kura/secmem.h"
#include "kura/selfcheck.h"
#include "kura/text.h"
#include "audit.h"
#include "cache_rules.h"
#include "handle.h"

struct options {
    char *config;
    char *passphrase_file;
    char *mountpoint;          /* the last non-option argument */
    int show_help, show_version;
};

#define OPT(t, field, value) {t, offsetof(struct options, field), value}
static const struct fuse_opt option_spec[] = {
    OPT("-c %s", config, 0),
    OPT("--config=%s", config, 0),
    OPT("config=%s", config, 0),
    OPT("passphrase_file=%s", passphrase_file, 0),
    OPT("-h", show_help, 1),
    OPT("--help", show_help, 1),
    OPT("-V", show_version, 1),
    OPT("--version", show_version, 1),
    FUSE_OPT_END,
};

/* From /etc/fstab, mount.fuse3 runs "kurafs SOURCE MOUNTPOINT -o ...": the
 * source names nothing, the last non-option is the mount point. */
static int keep_last_nonopt(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    (void)outargs;
    struct options *o = data;
    if (key != FUSE_OPT_KEY_NONOPT)
        return 1;
    free(o->mountpoint);
    o->mountpoint = strdup(arg);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kurafs [-c FILE] [-f] [-o OPTIONS] MOUNTPOINT\n"
               "\n"
               "Mounts every kura dataset read-only under MOUNTPOINT/<DATASET>/, decrypting\n"
               "Crypt4GH files on the fly for the dataset's listed users only.\n"
               "\n"
               "  -c FILE, -o config=FILE   kura.conf (default $KURA_CONFIG or " KURA_CONFIG_DEFAULT_PATH ")\n"
               "  -o passphrase_file=FILE   passphrase of a protected server key\n"
               "  -f                        stay in the foreground\n"
               "  -d                        FUSE debug output (implies -f)\n"
               "  -V, --version             print the version\n"
               "Unmount with: fusermount3 -u MOUNTPOINT\n");
}

/* ---- start-up ---- */

/* The state directory is root's alone: through it others could stat
 * datasets/ and store/, whose link counts are the number of datasets.
 * Installs made before kura closed it had it 0755; the daemon closes it. */
static int close_state_dir(const char *dir, struct kura_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        kura_err_set(err, e, "state directory %s: %s", dir, strerror(e));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        kura_err_set(err, ENOTDIR, "state directory %s: not a directory", dir);
        return -1;
    }
    if ((st.st_mode & 077) == 0)
        return 0;
    if (chmod(dir, 0700) != 0) {
        int e = errno;
        kura_err_set(err, e, "state directory %s: chmod 0700: %s", dir, strerror(e));
        return -1;
    }
    kura_notice(LOG_NOTICE, "kurafs: state directory %s closed to other users (was %04o, now 0700)", dir,
           (unsigned)(st.st_mode & 07777));
    return 0;
}

/* Without the connector no cache: every open reads /proc, as exact and
 * slower. Said once. */
static void open_proccache(struct kurafs *fs)
{
    struct kura_err perr;
    fs->procevents = kura_procevents_open(&perr);
    if (fs->procevents)
        fs->proccache = kura_proccache_new(KURA_PROCCACHE_DEFAULT, fs->procevents);
    if (!fs->proccache) {
        kura_notice(LOG_WARNING, "kurafs: no cache of process facts, every open reads /proc: %s",
                    fs->procevents ? "out of memory" : perr.msg);
        kura_procevents_close(fs->procevents);
        fs->procevents = NULL;
    }
}

static int open_state(struct kurafs *fs, const struct options *o, struct kura_err *err)
{
    fs->config_path = kura_config_path(o->config);
    fs->cfg = calloc(1, sizeof *fs->cfg);
    if (!fs->cfg || kura_config_load(fs->config_path, fs->cfg, err) != 0)
        return -1;
    snprintf(fs->host_id, sizeof fs->host_id, "%s", fs->cfg->host_id);
    kura_config_login_uids(fs->cfg, KURA_LOGIN_DEFS_PATH, &fs->login_uid_min, &fs->login_uid_max);
    if (close_state_dir(fs->cfg->state_dir, err) != 0)
        return -1;

    fs->passphrase_file = o->passphrase_file;
    struct kura_lockdown l;
    kura_lockdown_load(fs->cfg->state_dir, &l, err); /* unreadable: on */
    atomic_store(&fs->lockdown, l.on);
    if (!l.on && kurafs_keys_open(fs, err) != 0)
        return -1;

    char keypath[4096];
    snprintf(keypath, sizeof keypath, "%s/" KURA_AUDIT_KEY_FILE, fs->cfg->keys_dir);
    unsigned char *key = kura_audit_key_load(keypath, err);
    if (!key)
        return -1;
    struct kura_audit_options ao = {.zone = fs->cfg->zone, .syslog = fs->cfg->syslog,
                                    .max_size = (uint64_t)fs->cfg->max_size_mb << 20,
                                    .reserve = (uint64_t)fs->cfg->reserve_mb << 20};
    fs->audit = kura_audit_open(fs->cfg->audit_log, key, &ao, err);
    kura_secure_free(key);
    if (!fs->audit)
        return -1;
    if (fs->cfg->bulk_read_multiple)
        fs->bulk = kura_audit_bulk_new((double)fs->cfg->bulk_read_multiple);
    if (kurafs_refusals_start(fs) != 0) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    kurafs_alerts_recall(fs);

    fs->guard = calloc(1, sizeof *fs->guard);
    char *deny = kura_comma_join((const char *const *)fs->cfg->deny, fs->cfg->ndeny);
    char *allow = kura_comma_join((const char *const *)fs->cfg->allow, fs->cfg->nallow);
    int rc = fs->guard && deny && allow ? kura_guard_rules_set(fs->guard, deny, allow, NULL, err) : -1;
    if (rc == 0)
        rc = kura_guard_rules_locate(fs->guard, NULL, err);
    free(deny);
    free(allow);
    if (rc != 0)
        return -1;

    struct kura_catalog *cat = NULL;
    if (kura_catalog_load(fs->cfg, &cat, err) != 0)
        return -1;
    fs->current = calloc(1, sizeof *fs->current);
    if (!fs->current) {
        kura_catalog_free(cat);
        return -1;
    }
    fs->current->cat = cat;
    atomic_init(&fs->current->refs, 1);
    return 0;
}

static void close_state(struct kurafs *fs)
{
    if (fs->current)
        snapshot_release(fs->current);
    fs->current = NULL;
    kura_audit_bulk_free(fs->bulk);
    kurafs_refusals_stop(fs);
    if (fs->guard)
        kura_guard_rules_clear(fs->guard);
    free(fs->guard);
    kura_proccache_free(fs->proccache);
    kura_pwcache_free(fs->user_names);
    fs->user_names = NULL;
    kura_procevents_close(fs->procevents);
    kura_audit_close(fs->audit);
    kurafs_keys_wipe(fs);
    kura_keycache_free(&fs->keycache);
    free(fs->retired);
    fs->retired = NULL;
    if (fs->cfg)
        kura_config_free(fs->cfg);
    free(fs->cfg);
}

/* ---- control socket and signals ---- */

static void on_state_change(void *ctx, const char *dataset_id)
{
    (void)dataset_id;
    struct kura_err err = {0};
    kurafs_reload(ctx, &err);
    kurafs_maintain_kick(ctx);
}

/* Signals are handled by a thread, woken through a pipe: "h" for SIGHUP,
 * "t" for SIGTERM and SIGINT, "q" when the daemon ends. A signal handler
 * is given no context, so what it needs is the one file-scope state of
 * the daemon (tests/integration/layers.sh allows no other). */
static struct {
    int pipe[2];
    struct fuse_session *se;
    pthread_t main_thread;
    volatile sig_atomic_t pages_dropped;
} signals = {.pipe = {-1, -1}};

/* kuractl status's lines after the daemon's (commands.h daemon_notes). */
static void kurafs_daemon_notes(void *ctx, FILE *out)
{
    kurafs_keys_describe(ctx, out);
    kurafs_cluster_describe(ctx, out);
    kurafs_ship_describe(ctx, out);
}

static void wake_signal_thread(char what)
{
    int saved = errno;
    if (write(signals.pipe[1], &what, 1) < 0) {
        /* a full pipe already holds a pending wake-up */
    }
    errno = saved;
}

static void on_sighup(int sig)
{
    (void)sig;
    wake_signal_thread('h');
}

/* The first SIGTERM asks the signal thread to drop every mapped page
 * first; the thread then sends one to the main thread, which ends the loop
 * (fuse_session_exit sets a flag, as libfuse's own handler does). */
static void on_stop_signal(int sig)
{
    (void)sig;
    if (signals.pages_dropped)
        fuse_session_exit(signals.se);
    else
        wake_signal_thread('t');
}

/* Stopping: no read is served from now on (reads and page faults are
 * refused), then the cached pages of every opened file are dropped, while
 * the loop still answers the faults that dropping may wait for. After
 * that, the old mappings have nothing cached: once the connection is gone
 * their next touch gets SIGBUS, whatever the next daemon decides. */
static void stop_serving(struct kurafs *fs)
{
    atomic_store(&fs->stopping, true);
    atomic_fetch_add(&fs->epoch, 1);
    kurafs_pagecache_drop(&fs->pagecache);
    signals.pages_dropped = 1;
    pthread_kill(signals.main_thread, SIGTERM);
}

/* SIGHUP: reopen the audit log (after logrotate) and reload the state.
 * SIGTERM, SIGINT: stop. */
static void *signal_thread(void *arg)
{
    struct kurafs *fs = arg;
    struct pollfd p = {.fd = signals.pipe[0], .events = POLLIN};
    for (;;) {
        if (poll(&p, 1, -1) < 0)
            continue;
        char buf[64];
        ssize_t n = read(signals.pipe[0], buf, sizeof buf);
        if (n == 0 || (n > 0 && memchr(buf, 'q', (size_t)n)))
            return NULL;
        if (n > 0 && memchr(buf, 't', (size_t)n)) {
            stop_serving(fs);
            return NULL;
        }
        struct kura_err err = {0};
        if (kura_audit_reopen(fs->audit, &err) != 0)
            kura_notice(LOG_ERR, "kurafs: audit reopen: %s", err.msg);
        kurafs_reload(fs, &err);
        kurafs_maintain_kick(fs);
    }
}

/* Ends the signal thread once the loop is over (a full pipe is being read). */
static void stop_signal_thread(pthread_t thread)
{
    const char quit = 'q';
    while (write(signals.pipe[1], &quit, 1) < 0 && errno == EAGAIN)
        poll(NULL, 0, 10);
    pthread_join(thread, NULL);
}

/* One descriptor per open file: a soft limit of 1024 (systemd's default)
 * would let one user's opens take the descriptors every other open needs
 * (the guard reads /proc). The hard limit is the unit's LimitNOFILE. */
static void raise_nofile_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
        return;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        kura_notice(LOG_WARNING, "kurafs: cannot raise the open file limit: %s", strerror(errno));
}

/* [revocation] end_processes kills other users' processes: without
 * CAP_KILL (a unit's bounding set) every kill fails; said at start. */
static void warn_end_processes(const struct kurafs *fs)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct caps[2] = {{0}};
    if (fs->cfg->end_processes &&
        (syscall(SYS_capget, &h, caps) != 0 || !(caps[0].effective & CAP_TO_MASK(CAP_KILL))))
        kura_notice(LOG_ERR, "kurafs: [revocation] end_processes is on, but the daemon lacks CAP_KILL: it cannot end "
                    "the processes of ended access (each attempt is recorded as not ended)");
}

/* The guard and every record name the caller's executable, which a program
 * can forge in a user namespace of its own: said at start, as kuractl
 * check says it (docs/security.md, section 3). */
static void warn_userns(void)
{
    struct kura_check_result r;
    kura_check_eval(kura_check_find("userns"), &(struct kura_check_input){.root = NULL}, &r);
    if (r.verdict == KURA_CHECK_FAIL)
        kura_notice(LOG_WARNING, "kurafs: %s (kuractl check, item userns)", r.seen);
}

int main(int argc, char **argv)
{
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct options o = {0};
    struct kura_err err = {0};
    struct kurafs state = {0}, *fs = &state; /* handed to FUSE as every request's private_data */
    struct fuse_cmdline_opts copts = {0};
    struct fuse *fuse = NULL;
    struct fuse_session *se = NULL;
    struct kura_cluster_spare *spare = NULL; /* cluster mode: the session changes run on */
    int status = 1;

    /* A daemon that holds keys keeps no descriptor its parent left open
     * (a lock, a pipe, a file of the caller's): only what it opens itself. */
    close_range(3, ~0U, 0);
    pthread_mutex_init(&fs->snap_lock, NULL);
    pthread_mutex_init(&fs->reload_lock, NULL);
    pthread_rwlock_init(&fs->ks_lock, NULL);
    pthread_mutex_init(&fs->retired_lock, NULL);
    pthread_mutex_init(&fs->restrictions.lock, NULL);
    pthread_mutex_init(&fs->handles.lock, NULL);
    pthread_mutex_init(&fs->last_lookup_refusal.lock, NULL);
    kurafs_pagecache_init(&fs->pagecache);
    atomic_init(&fs->epoch, 1);
    atomic_init(&fs->lockdown, false);
    atomic_init(&fs->lockdown_epoch, 0);
    kurafs_metrics_init(&fs->metrics);
    atomic_init(&fs->stopping, false);
    if (fuse_opt_parse(&args, &o, option_spec, keep_last_nonopt) != 0) {
        status = 2;
        goto out;
    }
    if (o.show_help || o.show_version || !o.mountpoint) {
        if (o.show_version)
            printf("kurafs %s\n", KURA_VERSION);
        else
            usage(o.show_help ? stdout : stderr);
        status = o.show_help || o.show_version ? 0 : 2;
        goto out;
    }
    openlog("kurafs", LOG_PID, LOG_AUTHPRIV);
    raise_nofile_limit();
    if (kura_secmem_init() != 0 || kura_harden_process() != 0) {
        fprintf(stderr, "kurafs: cannot initialise libsodium or harden the process\n");
        goto out;
    }
    if (kura_keycache_init(&fs->keycache, &err) != 0) {
        fprintf(stderr, "kurafs: %s\n", err.msg);
        goto out;
    }
    if (open_state(fs, &o, &err) != 0 || kurafs_cluster_check(fs, &err) != 0) {
        fprintf(stderr, "kurafs: %s\n", err.msg[0] ? err.msg : "cannot start");
        goto out;
    }

    /* Every user reaches the mount; the daemon decides, not mode bits. */
    fuse_opt_add_arg(&args, "-oallow_other,fsname=kura,subtype=kurafs,noatime");
    fuse_opt_add_arg(&args, o.mountpoint);
    if (kurafs_default_workers(&args) != 0 || fuse_parse_cmdline(&args, &copts) != 0) {
        status = 2;
        goto out;
    }
    kura_notice_echo(copts.foreground);
    open_proccache(fs); /* after the echo: its notice reaches kurafs -f's stderr too */
    /* One for the daemon's life: the account database is the system's. */
    fs->user_names = kura_pwcache_new(KURA_PWCACHE_PASSWD, KURA_PWCACHE_NSSWITCH, KURA_PWCACHE_SETTLE_SECONDS);
    struct fuse_operations ops = {0};
    kurafs_add_read_ops(&ops);
    kurafs_add_refused_ops(&ops);
    fuse = fuse_new(&args, &ops, sizeof ops, fs);
    if (!fuse)
        goto out;
    if (fuse_mount(fuse, copts.mountpoint) != 0)
        goto out_destroy;
    kurafs_pagecache_attach(&fs->pagecache, fuse);
    fs->mountpoint = copts.mountpoint;
    int dev = kurafs_mount_device(copts.mountpoint, &fs->mount_dev);
    if (dev != 0 && fs->cfg->end_processes)
        kura_notice(LOG_WARNING, "kurafs: cannot find the device of %s (%s): mappings of ended access are not "
                    "looked for, only open files", copts.mountpoint, strerror(-dev));
    warn_userns();
    warn_end_processes(fs);
    /* Before the loop answers INIT, which can only lower the mount's
     * readahead: a sole reader's cat (128 KiB reads) then finds the next
     * MiB decrypted by the time it asks (bench/README.md). */
    int ra = dev == 0 ? kurafs_raise_readahead(fs->mount_dev) : dev;
    if (ra != 0)
        kura_notice(LOG_WARNING, "kurafs: cannot raise the readahead of %s (%s): sequential reads are slower",
                    copts.mountpoint, strerror(-ra));
    if (fuse_daemonize(copts.foreground) != 0)
        goto out_unmount;
    /* Every read passes plaintext through buffers libfuse allocates: lock
     * all of the daemon's memory so none of it reaches swap (R-CPY-2).
     * After daemonizing (a fork drops locks); ONFAULT locks pages as they
     * are touched instead of populating every mapping up front. */
    if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
        kura_notice(LOG_ERR, "kurafs: cannot lock memory (%s): plaintext could reach swap", strerror(errno));
        fprintf(stderr, "kurafs: cannot lock memory (%s): plaintext could reach swap; the daemon needs CAP_IPC_LOCK\n",
                strerror(errno));
        goto out_unmount;
    }
    se = fuse_get_session(fuse);
    if (fuse_set_signal_handlers(se) != 0)
        goto out_unmount;

    /* Threads start after daemonizing: a fork keeps only the caller. So
     * does the kept database session: a forked process must not share one. */
    int dropper = kurafs_pagecache_start_dropper(&fs->pagecache);
    if (dropper != 0) {
        kura_notice(LOG_ERR, "kurafs: cannot start the thread that drops cached pages: %s", strerror(-dropper));
        fprintf(stderr, "kurafs: cannot start the thread that drops cached pages: %s\n", strerror(-dropper));
        goto out_signals;
    }
    if (*fs->cfg->cluster_database && !(spare = kura_cluster_spare_new())) {
        fprintf(stderr, "kurafs: out of memory\n");
        goto out_signals;
    }
    struct kura_cmd_env env = {
        .cfg = fs->cfg, .config_path = fs->config_path, .socket_mode = true,
        .mountpoint = copts.mountpoint, .ks = NULL, .audit = fs->audit, .cluster_spare = spare,
        .on_state_change = on_state_change, .ctx = fs, .daemon_notes = kurafs_daemon_notes,
    };
    /* Not fatal: a change opens its own session when none is kept. */
    if (kura_change_cluster_keep(&env, &err) != 0)
        kura_notice(LOG_WARNING, "kurafs: no database session kept for changes (each opens its own): %s", err.msg);
    /* Not fatal: without it a close waits for its batch, as kuractl's do. */
    if (kura_audit_start_close_writer(fs->audit, KURAFS_CLOSE_LINGER_MS, KURAFS_SYNC_LATER_MS, &err) != 0)
        kura_notice(LOG_WARNING, "kurafs: %s (each close then waits for its record)", err.msg);
    /* Before the control socket: status asks it. */
    if (kurafs_ship_start(fs) != 0) {
        fprintf(stderr, "kurafs: cannot start the audit shipper\n");
        goto out_signals;
    }
    /* The operators' requests have slots of their own, as root's: users
     * who fill theirs keep no operator out. The group as it is now. */
    struct kura_ctl_limits limits = {0};
    limits.has_staff_gid = kura_admin_gid(&limits.staff_gid);
    struct kura_ctl_server *ctl = NULL;
    if (kura_ctl_server_start(fs->cfg->socket, kura_cmd_handle_request, &env, &limits, &ctl, &err) != 0) {
        kura_notice(LOG_ERR, "kurafs: control socket: %s", err.msg);
        fprintf(stderr, "kurafs: control socket: %s\n", err.msg);
        kurafs_ship_stop(fs);
        goto out_signals;
    }
    if (kurafs_maintain_start(fs, &env) != 0) {
        fprintf(stderr, "kurafs: cannot start the maintenance thread\n");
        kura_ctl_server_stop(ctl);
        kurafs_ship_stop(fs);
        goto out_signals;
    }
    if (kurafs_metrics_start(fs) != 0 || kurafs_cluster_start(fs) != 0) {
        fprintf(stderr, "kurafs: cannot start the metrics or the cluster threads\n");
        kura_ctl_server_stop(ctl);
        kurafs_cluster_stop(fs);
        kurafs_maintain_stop(fs);
        kurafs_metrics_stop(fs);
        kurafs_ship_stop(fs);
        goto out_signals;
    }
    pthread_t signal_handler;
    bool handling_signals = false;
    signals.se = se;
    signals.main_thread = pthread_self();
    if (pipe2(signals.pipe, O_CLOEXEC | O_NONBLOCK) == 0 &&
        pthread_create(&signal_handler, NULL, signal_thread, fs) == 0) {
        handling_signals = true;
        struct sigaction sa = {.sa_handler = on_sighup};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = on_stop_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }
    audit_daemon(fs, KURA_AUDIT_START, copts.mountpoint);
    kura_notice(LOG_INFO, "kurafs %s serving %s", KURA_VERSION, copts.mountpoint);

    if (copts.singlethread) {
        status = fuse_loop(fuse) == 0 ? 0 : 1;
    } else {
        struct fuse_loop_config *loop = kurafs_loop_config(&copts);
        status = loop && fuse_loop_mt(fuse, loop) == 0 ? 0 : 1;
        if (loop)
            fuse_loop_cfg_destroy(loop);
    }

    /* Unmount before stopping the threads: a page drop in flight may wait
     * for a page fault that only the stopped loop could serve; unmounting
     * fails the fault, and drops after it fail at once. */
    fuse_unmount(fuse);
    if (handling_signals)
        stop_signal_thread(signal_handler);
    kura_ctl_server_stop(ctl); /* before the maintainer: a request kicks it */
    kurafs_cluster_stop(fs);   /* likewise a change it applies */
    kurafs_maintain_stop(fs);
    kurafs_refusals_flush(fs, true); /* every refusal counted is in the log before it stops */
    audit_daemon(fs, KURA_AUDIT_STOP, copts.mountpoint);
    kurafs_ship_stop(fs); /* after the stop record, which it ships too */
    kurafs_metrics_stop(fs);
out_signals:
    fuse_remove_signal_handlers(se);
out_unmount:
    kurafs_pagecache_detach(&fs->pagecache);
    fuse_unmount(fuse); /* nothing left to do if already unmounted */
out_destroy:
    fuse_destroy(fuse);
out:
    fs->mountpoint = NULL;
    free(copts.mountpoint);
    fuse_opt_free_args(&args);
    kurafs_cluster_stop(fs);
    kura_cluster_spare_free(spare); /* after the control socket and the maintainer, which run changes */
    close_state(fs);
    kurafs_pagecache_free(&fs->pagecache);
    handle_table_free(fs);
    free(o.mountpoint);
    free(o.config);
    free(o.passphrase_file);
    return status;
}
