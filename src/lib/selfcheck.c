/* kuractl check's items: each reads a few files below the root and says
 * pass, warn or fail. Guideline references are to the NBDC human data
 * security guidelines, data users' edition (Type I items, which Type II
 * keeps), and to the government unified standards (統一基準) where the
 * guidelines say nothing of a thing software can see. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "kura/fsutil.h"
#include "kura/layout.h"
#include "kura/procinfo.h"
#include "kura/selfcheck.h"
#include "kura/text.h"

#define FILE_MAX (4u << 20)        /* a configuration file; dpkg's status is a few MiB */
#define IDLE_MAX_SECONDS 900       /* the guidelines' "15分程度" */
#define INCLUDE_DEPTH_MAX 8

/* ---- reading below the root ------------------------------------------------ */

static const char *root_of(const struct kura_check_input *in)
{
    return in->root && in->root[0] ? in->root : "/";
}

/* ROOT + path (path absolute); NULL when out of memory. */
static char *under(const struct kura_check_input *in, const char *path)
{
    const char *root = root_of(in);
    size_t rl = strlen(root);
    while (rl > 0 && root[rl - 1] == '/')
        rl--;
    char *p = NULL;
    return asprintf(&p, "%.*s%s%s", (int)rl, root, path[0] == '/' ? "" : "/", path) < 0 ? NULL : p;
}

/* The whole file at a full path, or NULL. */
static char *read_full_path(const char *full)
{
    char *data = NULL;
    struct kura_err e = {0};
    return full && kura_read_file(full, FILE_MAX, &data, NULL, &e) == 0 ? data : NULL;
}

static char *read_under(const struct kura_check_input *in, const char *path)
{
    char *full = under(in, path);
    char *data = read_full_path(full);
    free(full);
    return data;
}

static bool exists_under(const struct kura_check_input *in, const char *path)
{
    char *full = under(in, path);
    struct stat st;
    bool yes = full && lstat(full, &st) == 0;
    free(full);
    return yes;
}

/* Calls fn for each file matching the pattern below the root, in name order. */
static void each_glob(const struct kura_check_input *in, const char *pattern, void (*fn)(const char *full, void *arg),
                      void *arg)
{
    char *full = under(in, pattern);
    glob_t g;
    if (full && glob(full, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            fn(g.gl_pathv[i], arg);
        globfree(&g);
    }
    free(full);
}

/* The next line of *cur (cut in place) with blanks at both ends removed, or NULL at the end. */
static char *next_line(char **cur)
{
    if (!*cur)
        return NULL;
    char *line = *cur, *nl = strchr(line, '\n');
    *cur = nl ? nl + 1 : NULL;
    if (nl)
        *nl = '\0';
    while (isspace((unsigned char)*line))
        line++;
    size_t n = strlen(line);
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    return line;
}

__attribute__((format(printf, 3, 4)))
static void verdict(struct kura_check_result *r, enum kura_check_verdict v, const char *fmt, ...)
{
    r->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->seen, sizeof r->seen, fmt, ap);
    va_end(ap);
    for (char *p = r->seen; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
}

/* Appends word to a space-separated list in buf, "..." once full. */
static void add_word(char *buf, size_t len, const char *word)
{
    size_t used = strlen(buf);
    if (used + strlen(word) + 5 < len)
        snprintf(buf + used, len - used, "%s%s", used ? " " : "", word);
    else if (!strstr(buf, "..."))
        snprintf(buf + used, len - used, " ...");
}

/* A systemd configuration key (Key=value) as the files set it: the main
 * file, then its drop-ins (FILE.d/NAME.conf) in name order; the last setting wins. */
struct unit_key {
    const char *key;
    char value[64];
    bool set;
};

static void unit_key_file(const char *full, void *arg)
{
    struct unit_key *k = arg;
    char *data = read_full_path(full), *cur = data, *line;
    size_t kl = strlen(k->key);
    while ((line = next_line(&cur)))
        if (strncmp(line, k->key, kl) == 0 && line[kl] == '=') {
            snprintf(k->value, sizeof k->value, "%s", line + kl + 1);
            k->set = true;
        }
    free(data);
}

static void unit_key_read(const struct kura_check_input *in, const char *conf, struct unit_key *k)
{
    char *full = under(in, conf);
    if (full)
        unit_key_file(full, k);
    free(full);
    char pattern[256];
    snprintf(pattern, sizeof pattern, "%s.d/*.conf", conf);
    each_glob(in, pattern, unit_key_file, k);
}

/* A systemd unit enabled at boot: a link in a .wants directory. */
static bool unit_enabled(const struct kura_check_input *in, const char *unit)
{
    static const char *const targets[] = {"sysinit.target.wants", "multi-user.target.wants", "basic.target.wants"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        char path[256];
        snprintf(path, sizeof path, "/etc/systemd/system/%s/%s", targets[i], unit);
        if (exists_under(in, path))
            return true;
    }
    return false;
}

/* A running process of that program (comm) whose pid file is below the
 * root: a pid file left by a daemon that stopped may name a pid another
 * program took since. */
static bool pidfile_running(const struct kura_check_input *in, const char *pidfile, const char *comm, long *pid)
{
    char *data = read_under(in, pidfile);
    *pid = data ? strtol(data, NULL, 10) : 0;
    free(data);
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/comm", *pid);
    char *name = *pid > 0 ? read_under(in, path) : NULL;
    bool running = name && strcspn(name, "\n") == strlen(comm) && strncmp(name, comm, strlen(comm)) == 0;
    free(name);
    return running;
}

/* ---- swap ------------------------------------------------------------------ */

static bool crypttab_has(const struct kura_check_input *in, const char *name)
{
    char *data = read_under(in, "/etc/crypttab"), *cur = data, *line;
    bool found = false;
    while (!found && (line = next_line(&cur))) {
        size_t n = strcspn(line, " \t");
        found = line[0] != '#' && n == strlen(name) && strncmp(line, name, n) == 0;
    }
    free(data);
    return found;
}

static void check_swap(const struct kura_check_input *in, struct kura_check_result *r)
{
    char *data = read_under(in, "/proc/swaps");
    if (!data) {
        verdict(r, KURA_CHECK_WARN, "cannot read /proc/swaps");
        return;
    }
    char *cur = data, *line, plain[256] = "", unknown[256] = "", safe[256] = "";
    next_line(&cur);   /* the header */
    while ((line = next_line(&cur))) {
        if (!line[0])
            continue;
        line[strcspn(line, " \t")] = '\0';
        if (strncmp(line, "/dev/zram", 9) == 0 ||
            (strncmp(line, "/dev/mapper/", 12) == 0 && crypttab_has(in, line + 12)))
            add_word(safe, sizeof safe, line);
        else if (strncmp(line, "/dev/dm-", 8) == 0 || strncmp(line, "/dev/mapper/", 12) == 0)
            add_word(unknown, sizeof unknown, line);
        else
            add_word(plain, sizeof plain, line);
    }
    free(data);
    if (plain[0])
        verdict(r, KURA_CHECK_FAIL, "unencrypted swap in use: %s", plain);
    else if (unknown[0])
        verdict(r, KURA_CHECK_WARN, "swap on a mapped device not in /etc/crypttab: %s", unknown);
    else if (safe[0])
        verdict(r, KURA_CHECK_PASS, "swap encrypted or in memory only: %s", safe);
    else
        verdict(r, KURA_CHECK_PASS, "no swap in use (/proc/swaps)");
}

/* ---- core dumps -------------------------------------------------------------- */

struct core_limit {
    bool hard_zero, soft_zero;
};

/* limits.conf: "<domain> <type> core <value>"; kura asks for domain '*'. */
static void limits_file(const char *full, void *arg)
{
    struct core_limit *l = arg;
    char *data = read_full_path(full), *cur = data, *line;
    while ((line = next_line(&cur))) {
        char dom[64], type[16], item[16], value[32];
        if (line[0] == '#' || sscanf(line, "%63s %15s %15s %31s", dom, type, item, value) != 4)
            continue;
        if (strcmp(dom, "*") != 0 || strcmp(item, "core") != 0)
            continue;
        bool zero = strcmp(value, "0") == 0;
        if (strcmp(type, "hard") == 0 || strcmp(type, "-") == 0)
            l->hard_zero = zero;
        if (strcmp(type, "soft") == 0 || strcmp(type, "-") == 0)
            l->soft_zero = zero;
    }
    free(data);
}

static void check_coredump(const struct kura_check_input *in, struct kura_check_result *r)
{
    char *pattern = read_under(in, "/proc/sys/kernel/core_pattern");
    if (!pattern) {
        verdict(r, KURA_CHECK_WARN, "cannot read /proc/sys/kernel/core_pattern");
        return;
    }
    pattern[strcspn(pattern, "\n")] = '\0';
    if (pattern[0] == '|') {
        /* The kernel gives a pipe every dump whatever the core limit. */
        if (strstr(pattern, "systemd-coredump")) {
            struct unit_key storage = {.key = "Storage"};
            unit_key_read(in, "/etc/systemd/coredump.conf", &storage);
            if (storage.set && strcmp(storage.value, "none") == 0)
                verdict(r, KURA_CHECK_PASS, "core_pattern pipes to systemd-coredump; coredump.conf Storage=none");
            else
                verdict(r, KURA_CHECK_FAIL, "core_pattern pipes to systemd-coredump, which stores dumps (Storage=%s)",
                        storage.set ? storage.value : "external, the default");
        } else if (strncmp(pattern, "|/bin/false", 11) == 0 || strncmp(pattern, "|/usr/bin/false", 15) == 0)
            verdict(r, KURA_CHECK_PASS, "core_pattern %.100s: dumps are discarded", pattern);
        else
            verdict(r, KURA_CHECK_WARN, "core_pattern pipes dumps to %.100s; kura cannot tell where they end", pattern);
        free(pattern);
        return;
    }
    struct core_limit lim = {0};
    char *full = under(in, "/etc/security/limits.conf");
    if (full)
        limits_file(full, &lim);
    free(full);
    each_glob(in, "/etc/security/limits.d/*.conf", limits_file, &lim);
    if (lim.hard_zero)
        verdict(r, KURA_CHECK_PASS, "core_pattern %.100s; limits.conf: * hard core 0", pattern);
    else if (lim.soft_zero)
        verdict(r, KURA_CHECK_WARN, "core_pattern %.100s; limits.conf sets only a soft core limit of 0 (a user may "
                                    "raise it)", pattern);
    else
        verdict(r, KURA_CHECK_FAIL, "core_pattern %.100s writes dumps to files; no '* hard core 0' in "
                                    "/etc/security/limits.conf or limits.d", pattern);
    free(pattern);
}

/* ---- sshd ------------------------------------------------------------------- */

/* The global settings of sshd_config as sshd reads them: the first value
 * of a keyword wins, Include is read where it stands, a Match block's
 * settings apply to some connections only and are not global. */
struct sshd {
    bool found;
    char password[16], kbd[16], empty[16], root[32], methods[256];
};

static struct {
    const char *keyword;
    size_t offset, size;
} const sshd_keys[] = {
    {"passwordauthentication", offsetof(struct sshd, password), sizeof((struct sshd *)0)->password},
    {"kbdinteractiveauthentication", offsetof(struct sshd, kbd), sizeof((struct sshd *)0)->kbd},
    {"challengeresponseauthentication", offsetof(struct sshd, kbd), sizeof((struct sshd *)0)->kbd},
    {"permitemptypasswords", offsetof(struct sshd, empty), sizeof((struct sshd *)0)->empty},
    {"permitrootlogin", offsetof(struct sshd, root), sizeof((struct sshd *)0)->root},
    {"authenticationmethods", offsetof(struct sshd, methods), sizeof((struct sshd *)0)->methods},
};

struct sshd_read {
    const struct kura_check_input *in;
    struct sshd *s;
    int depth;
};

static void sshd_file(const char *full, void *arg);

static void sshd_include(struct sshd_read *rd, char *words)
{
    if (rd->depth >= INCLUDE_DEPTH_MAX)
        return;
    for (char *w = strtok(words, " \t"); w; w = strtok(NULL, " \t")) {
        char pattern[512];
        /* A relative Include is relative to /etc/ssh. */
        snprintf(pattern, sizeof pattern, "%s%s", w[0] == '/' ? "" : "/etc/ssh/", w);
        struct sshd_read inner = *rd;
        inner.depth++;
        each_glob(rd->in, pattern, sshd_file, &inner);
    }
}

static void sshd_file(const char *full, void *arg)
{
    struct sshd_read *rd = arg;
    char *data = read_full_path(full), *cur = data, *line;
    if (data)
        rd->s->found = true;
    while ((line = next_line(&cur))) {
        if (!line[0] || line[0] == '#')
            continue;
        size_t kl = strcspn(line, " \t=");
        char *value = line + kl;
        value += strspn(value, " \t");
        if (*value == '=')
            value += 1 + strspn(value + 1, " \t");
        line[kl] = '\0';
        if (strcasecmp(line, "match") == 0)
            break;   /* the rest of this file is conditional */
        if (strcasecmp(line, "include") == 0) {
            sshd_include(rd, value);
            continue;
        }
        for (size_t i = 0; i < sizeof sshd_keys / sizeof *sshd_keys; i++) {
            char *slot = (char *)rd->s + sshd_keys[i].offset;
            if (strcasecmp(line, sshd_keys[i].keyword) == 0 && !slot[0])
                snprintf(slot, sshd_keys[i].size, "%s", value);
        }
    }
    free(data);
}


static const char *or_default(const char *v, const char *def)
{
    return v[0] ? v : def;
}

/* AuthenticationMethods: does every list name at least two methods (a
 * second factor), and may a list log in with a password alone? */
static void sshd_methods(const struct sshd *s, bool *all_multi, bool *password_alone)
{
    bool pw = strcasecmp(or_default(s->password, "yes"), "yes") == 0;
    bool kbd = strcasecmp(or_default(s->kbd, "yes"), "yes") == 0;
    char lists[sizeof s->methods];
    snprintf(lists, sizeof lists, "%s", s->methods);
    *all_multi = s->methods[0] && strcasecmp(s->methods, "any") != 0;
    *password_alone = !*all_multi && (pw || kbd);
    if (!*all_multi)
        return;
    char *save = NULL;
    for (char *list = strtok_r(lists, " \t", &save); list; list = strtok_r(NULL, " \t", &save)) {
        if (strchr(list, ','))
            continue;
        *all_multi = false;
        if ((pw && strcmp(list, "password") == 0) || (kbd && strncmp(list, "keyboard-interactive", 20) == 0))
            *password_alone = true;
    }
}

/* Reads the server's sshd configuration; without one there is no SSH
 * server, which passes every sshd item: false, with that verdict set. */
static bool sshd_present(const struct kura_check_input *in, struct sshd *s, struct kura_check_result *r)
{
    memset(s, 0, sizeof *s);
    struct sshd_read rd = {.in = in, .s = s};
    char *full = under(in, "/etc/ssh/sshd_config");
    if (full)
        sshd_file(full, &rd);
    free(full);
    if (!s->found)
        verdict(r, KURA_CHECK_PASS, "no /etc/ssh/sshd_config: no SSH server");
    return s->found;
}

static void sshd_seen(const struct sshd *s, char *buf, size_t len)
{
    snprintf(buf, len, "PasswordAuthentication %s, KbdInteractiveAuthentication %s, AuthenticationMethods %s",
             or_default(s->password, "yes (default)"), or_default(s->kbd, "yes (default)"),
             or_default(s->methods, "any (default)"));
}

static void check_ssh_password(const struct kura_check_input *in, struct kura_check_result *r)
{
    struct sshd s;
    if (!sshd_present(in, &s, r))
        return;
    bool multi, alone;
    sshd_methods(&s, &multi, &alone);
    char seen[400];
    sshd_seen(&s, seen, sizeof seen);
    if (strcasecmp(or_default(s.empty, "no"), "yes") == 0)
        verdict(r, KURA_CHECK_FAIL, "PermitEmptyPasswords yes; %s", seen);
    else if (alone)
        verdict(r, KURA_CHECK_FAIL, "a password alone logs in: %s", seen);
    else
        verdict(r, KURA_CHECK_PASS, "%s", seen);
}

static void check_ssh_mfa(const struct kura_check_input *in, struct kura_check_result *r)
{
    struct sshd s;
    if (!sshd_present(in, &s, r))
        return;
    bool multi, alone;
    sshd_methods(&s, &multi, &alone);
    if (multi)
        verdict(r, KURA_CHECK_PASS, "AuthenticationMethods %s: every login needs two factors", s.methods);
    else
        verdict(r, KURA_CHECK_WARN, "AuthenticationMethods %s: one factor suffices",
                or_default(s.methods, "any (default)"));
}

static void check_ssh_root(const struct kura_check_input *in, struct kura_check_result *r)
{
    struct sshd s;
    if (!sshd_present(in, &s, r))
        return;
    const char *v = or_default(s.root, "prohibit-password (default)");
    verdict(r, strcasecmp(v, "yes") == 0 ? KURA_CHECK_FAIL : KURA_CHECK_PASS, "PermitRootLogin %s", v);
}

/* ---- idle logout ---------------------------------------------------------------- */

struct idle {
    long best;             /* the shortest limit found, seconds; 0: none */
    char where[160];
};

static void idle_found(struct idle *d, long seconds, const char *where)
{
    if (seconds > 0 && (d->best == 0 || seconds < d->best)) {
        d->best = seconds;
        snprintf(d->where, sizeof d->where, "%s", where);
    }
}

/* TMOUT=N in a shell start-up file, plain or after export, readonly,
 * declare -r or typeset -r. */
static void tmout_file(const char *full, void *arg)
{
    struct idle *d = arg;
    char *data = read_full_path(full), *cur = data, *line;
    while ((line = next_line(&cur))) {
        static const char *const prefixes[] = {"export ", "readonly ", "declare -r ", "declare -rx ",
                                               "declare -xr ", "typeset -r "};
        for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
            if (strncmp(line, prefixes[i], strlen(prefixes[i])) == 0)
                line += strlen(prefixes[i]);
        if (strncmp(line, "TMOUT=", 6) == 0) {
            char where[160];
            long v = strtol(line + 6 + (line[6] == '"' || line[6] == '\''), NULL, 10);
            const char *base = strrchr(full, '/');
            snprintf(where, sizeof where, "TMOUT=%ld in %s", v, base ? base + 1 : full);
            idle_found(d, v, where);
        }
    }
    free(data);
}

static void check_idle_logout(const struct kura_check_input *in, struct kura_check_result *r)
{
    struct idle d = {0};
    char *full = under(in, "/etc/profile");
    if (full)
        tmout_file(full, &d);
    free(full);
    full = under(in, "/etc/bash.bashrc");
    if (full)
        tmout_file(full, &d);
    free(full);
    each_glob(in, "/etc/profile.d/*.sh", tmout_file, &d);
    /* systemd-logind ends idle sessions itself (StopIdleSessionSec, systemd 252). */
    struct unit_key stop = {.key = "StopIdleSessionSec"};
    unit_key_read(in, "/etc/systemd/logind.conf", &stop);
    if (stop.set && strcmp(stop.value, "infinity") != 0) {
        char *end;
        long v = strtol(stop.value, &end, 10);
        if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
            v *= 60;
        else if (*end && strcmp(end, "s") != 0)
            v = 0;   /* a form kura does not read: not counted */
        char where[160];
        snprintf(where, sizeof where, "logind.conf StopIdleSessionSec=%.40s", stop.value);
        idle_found(&d, v, where);
    }
    if (d.best == 0)
        verdict(r, KURA_CHECK_FAIL, "no TMOUT in /etc/profile, /etc/profile.d/*.sh or /etc/bash.bashrc, no "
                                    "StopIdleSessionSec in logind.conf: idle sessions stay open");
    else if (d.best > IDLE_MAX_SECONDS)
        verdict(r, KURA_CHECK_WARN, "%s: longer than 15 minutes", d.where);
    else
        verdict(r, KURA_CHECK_PASS, "%s", d.where);
}

/* ---- installed packages (dpkg) ----------------------------------------------------- */

/* File-sharing (P2P) programs in Debian; docs/operator.md lists them. */
static const char *const p2p_packages[] = {
    "transmission", "transmission-*", "qbittorrent", "qbittorrent-nox", "deluge", "deluge-*", "deluged",
    "ktorrent", "amule", "amule-*", "rtorrent", "aria2", "mldonkey-*", "gtk-gnutella", "nicotine", "fragments",
    "bittornado", "bittorrent", "webtorrent", "syncthing", "retroshare*", "kubo", "vuze", "frostwire", "tixati",
};

/* Calls fn for each installed package of dpkg's status file. */
static int each_installed(const struct kura_check_input *in, void (*fn)(const char *pkg, void *arg), void *arg)
{
    char *data = read_under(in, "/var/lib/dpkg/status");
    if (!data)
        return -1;
    char *cur = data, *line, pkg[128] = "";
    bool installed = false;
    for (;;) {
        line = next_line(&cur);
        if (!line || !line[0]) {   /* the end of a stanza */
            if (pkg[0] && installed)
                fn(pkg, arg);
            pkg[0] = '\0';
            installed = false;
            if (!line)
                break;
        } else if (strncmp(line, "Package:", 8) == 0)
            snprintf(pkg, sizeof pkg, "%s", line + 8 + strspn(line + 8, " "));
        else if (strncmp(line, "Status:", 7) == 0) {
            const char *state = strrchr(line, ' ');
            installed = state && strcmp(state, " not-installed") != 0 && strcmp(state, " config-files") != 0;
        }
    }
    free(data);
    return 0;
}

static void p2p_match(const char *pkg, void *arg)
{
    for (size_t i = 0; i < sizeof p2p_packages / sizeof *p2p_packages; i++)
        if (fnmatch(p2p_packages[i], pkg, 0) == 0) {
            add_word(arg, KURA_CHECK_SEEN_MAX - 64, pkg);
            return;
        }
}

static void check_p2p(const struct kura_check_input *in, struct kura_check_result *r)
{
    char found[KURA_CHECK_SEEN_MAX] = "";
    if (each_installed(in, p2p_match, found) != 0)
        verdict(r, KURA_CHECK_WARN, "cannot read /var/lib/dpkg/status: cannot tell what is installed");
    else if (found[0])
        verdict(r, KURA_CHECK_FAIL, "file-sharing packages installed: %s", found);
    else
        verdict(r, KURA_CHECK_PASS, "none of the %zu file-sharing package names kura knows is installed",
                sizeof p2p_packages / sizeof *p2p_packages);
}

/* ---- host firewall -------------------------------------------------------------------- */

/* nft or iptables-save text restricts incoming traffic: an input hook or
 * INPUT chain, and a drop or reject in it or as its policy. */
static bool ruleset_restricts(const char *text)
{
    bool input = strstr(text, "hook input") || strstr(text, ":INPUT") || strstr(text, "-A INPUT");
    bool denies = strstr(text, "policy drop") || strstr(text, ":INPUT DROP") || strstr(text, "-j DROP") ||
                  strstr(text, "-j REJECT") || strstr(text, " drop") || strstr(text, " reject");
    return input && denies;
}

static void ruleset_verdict(struct kura_check_result *r, const char *text, const char *what)
{
    if (ruleset_restricts(text))
        verdict(r, KURA_CHECK_PASS, "%s filters incoming traffic (an input chain that drops or rejects)", what);
    else
        verdict(r, KURA_CHECK_FAIL, "%s has no input chain that drops or rejects: it lets everything in", what);
}

static void check_firewall(const struct kura_check_input *in, struct kura_check_result *r)
{
    if (in->ruleset) {
        char *text = read_full_path(in->ruleset);
        if (!text)
            verdict(r, KURA_CHECK_WARN, "cannot read the ruleset file %.200s", in->ruleset);
        else
            ruleset_verdict(r, text, "the ruleset given");
        free(text);
        return;
    }
    struct unit_key ufw = {.key = "ENABLED"};
    unit_key_read(in, "/etc/ufw/ufw.conf", &ufw);
    if (ufw.set && strcmp(ufw.value, "yes") == 0) {
        verdict(r, KURA_CHECK_PASS, "ufw enabled (/etc/ufw/ufw.conf ENABLED=yes)");
        return;
    }
    if (unit_enabled(in, "firewalld.service")) {
        verdict(r, KURA_CHECK_PASS, "firewalld enabled at boot");
        return;
    }
    static const struct {
        const char *unit, *file;
    } boot[] = {{"nftables.service", "/etc/nftables.conf"},
                {"netfilter-persistent.service", "/etc/iptables/rules.v4"}};
    for (size_t i = 0; i < sizeof boot / sizeof *boot; i++) {
        if (!unit_enabled(in, boot[i].unit))
            continue;
        char *text = read_under(in, boot[i].file);
        char what[128];
        snprintf(what, sizeof what, "%s (loaded at boot by %s)", boot[i].file, boot[i].unit);
        if (text)
            ruleset_verdict(r, text, what);
        else
            verdict(r, KURA_CHECK_FAIL, "%s is enabled but %s cannot be read", boot[i].unit, boot[i].file);
        free(text);
        if (r->verdict == KURA_CHECK_PASS)
            return;
    }
    if (r->seen[0])
        return;
    verdict(r, KURA_CHECK_FAIL, "no firewall enabled at boot (nftables, netfilter-persistent, ufw, firewalld); "
                                "give the running rules with --ruleset FILE");
}

/* ---- time synchronisation ---------------------------------------------------------------- */

static void check_time_sync(const struct kura_check_input *in, struct kura_check_result *r)
{
    long pid;
    if (exists_under(in, "/run/systemd/timesync/synchronized"))
        verdict(r, KURA_CHECK_PASS, "systemd-timesyncd has synchronised the clock (/run/systemd/timesync/synchronized)");
    else if (pidfile_running(in, "/run/chrony/chronyd.pid", "chronyd", &pid))
        verdict(r, KURA_CHECK_PASS, "chronyd running (pid %ld)", pid);
    else if (pidfile_running(in, "/run/ntpd.pid", "ntpd", &pid))
        verdict(r, KURA_CHECK_PASS, "ntpd running (pid %ld)", pid);
    else if (unit_enabled(in, "systemd-timesyncd.service") || unit_enabled(in, "chrony.service"))
        verdict(r, KURA_CHECK_WARN, "a time service is enabled but has not synchronised the clock yet");
    else
        verdict(r, KURA_CHECK_FAIL, "no time synchronisation (systemd-timesyncd, chrony, ntpd) found");
}

/* ---- unprivileged user namespaces ------------------------------------------------------------ */

/* A sysctl's number, or -1 when it cannot be read. */
static long sysctl_number(const struct kura_check_input *in, const char *path)
{
    char *text = read_under(in, path);
    uint64_t v = 0;
    bool ok = text && kura_parse_decimal(text, strcspn(text, "\n"), LONG_MAX, &v) == 0;
    free(text);
    return ok ? (long)v : -1;
}

/* In a user namespace of its own a process may point its executable link
 * at any installed program (prctl PR_SET_MM_MAP), or bind-mount its own
 * program over one, so the guard and every record read that program's
 * name (docs/security.md, section 3). */
static void check_userns(const struct kura_check_input *in, struct kura_check_result *r)
{
    long clone = sysctl_number(in, "/proc/sys/kernel/unprivileged_userns_clone");
    long max = sysctl_number(in, "/proc/sys/user/max_user_namespaces");
    if (clone == 0)
        verdict(r, KURA_CHECK_PASS, "kernel.unprivileged_userns_clone = 0");
    else if (max == 0)
        verdict(r, KURA_CHECK_PASS, "user.max_user_namespaces = 0");
    else if (clone < 0 && max < 0)
        verdict(r, KURA_CHECK_WARN, "cannot read kernel.unprivileged_userns_clone nor user.max_user_namespaces");
    else if (clone > 0)
        verdict(r, KURA_CHECK_FAIL, "unprivileged user namespaces are on (kernel.unprivileged_userns_clone = %ld): a "
                                    "user's program can pass for an installed one in the guard and the records", clone);
    else
        verdict(r, KURA_CHECK_FAIL, "unprivileged user namespaces are on (user.max_user_namespaces = %ld): a user's "
                                    "program can pass for an installed one in the guard and the records", max);
}

/* ---- keystore ------------------------------------------------------------------------------- */

struct walk {
    size_t seen, bad;
    char first[300];
};

/* The backup-exclusion markers (check_backup_exclusion). */
#define CACHEDIR_TAG "CACHEDIR.TAG"
#define NOBACKUP ".nobackup"

static bool is_backup_marker(const char *name)
{
    return strcmp(name, CACHEDIR_TAG) == 0 || strcmp(name, NOBACKUP) == 0;
}

/* Root-only: owner root, nothing for group or others, except that a
 * public key (.pub) and a backup marker may be read by anyone. */
static void keystore_walk(const char *dir, int depth, struct walk *w)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = NULL;
        struct stat st;
        if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
            break;
        if (lstat(p, &st) == 0) {
            size_t nl = strlen(de->d_name);
            bool readable = S_ISREG(st.st_mode) && ((nl > 4 && strcmp(de->d_name + nl - 4, ".pub") == 0) ||
                                                    is_backup_marker(de->d_name));
            mode_t forbidden = readable ? 022 : 077;
            w->seen++;
            if (st.st_uid != 0 || (st.st_mode & forbidden) || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
                if (!w->bad++)
                    snprintf(w->first, sizeof w->first, "%s (mode %04o, uid %u)", de->d_name,
                             (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
            }
            if (S_ISDIR(st.st_mode) && depth < 4)
                keystore_walk(p, depth + 1, w);
        }
        free(p);
    }
    closedir(d);
}

static void check_keystore(const struct kura_check_input *in, struct kura_check_result *r)
{
    if (!in->keys_dir) {
        verdict(r, KURA_CHECK_WARN, "no kura configuration: keystore not known");
        return;
    }
    char *full = under(in, in->keys_dir);
    struct stat st;
    if (!full || lstat(full, &st) != 0) {
        verdict(r, KURA_CHECK_FAIL, "keystore %.200s does not exist (kuractl init)", in->keys_dir);
        free(full);
        return;
    }
    struct walk w = {0};
    if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
        w.bad = 1;
        snprintf(w.first, sizeof w.first, "the directory itself (mode %04o, uid %u)", (unsigned)(st.st_mode & 07777),
                 (unsigned)st.st_uid);
    }
    if (S_ISDIR(st.st_mode))
        keystore_walk(full, 0, &w);
    free(full);
    if (w.bad)
        verdict(r, KURA_CHECK_FAIL, "keystore %.200s: %zu of %zu entries not root-only, first %s", in->keys_dir, w.bad,
                w.seen + 1, w.first);
    else
        verdict(r, KURA_CHECK_PASS, "keystore %.200s: %zu entries, all owned by root, secrets 0600, directories 0700",
                in->keys_dir, w.seen + 1);
}

/* ---- backups ---------------------------------------------------------------------------------- */

/* The dataset keys (KEYS/datasets) must stay out of ordinary backups: a
 * copy would survive their destruction (docs/operator.md, section 2). A
 * marker there or in a directory above says so to the backup tool:
 * CACHEDIR.TAG (the cache directory tagging specification, honoured by
 * tar --exclude-caches, borg and restic --exclude-caches) or .nobackup
 * (restic --exclude-if-present, and other tools' conventions). */
#define CACHEDIR_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

static void check_backup_exclusion(const struct kura_check_input *in, struct kura_check_result *r)
{
    if (!in->keys_dir) {
        verdict(r, KURA_CHECK_WARN, "no kura configuration: keystore not known");
        return;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/" KURA_DATASETS_DIR, in->keys_dir);
    for (;;) {
        char path[600];
        snprintf(path, sizeof path, "%s/" CACHEDIR_TAG, dir);
        char *tag = read_under(in, path);
        bool tagged = tag && strncmp(tag, CACHEDIR_SIGNATURE, strlen(CACHEDIR_SIGNATURE)) == 0;
        free(tag);
        if (!tagged) {
            snprintf(path, sizeof path, "%s/" NOBACKUP, dir);
            tagged = exists_under(in, path);
        }
        if (tagged) {
            verdict(r, KURA_CHECK_PASS, "%.300s excludes the dataset keys from backups", path);
            return;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
    }
    verdict(r, KURA_CHECK_WARN, "no CACHEDIR.TAG or .nobackup in %.200s/datasets or above: make sure no backup "
                                "copies the dataset keys", in->keys_dir);
}

/* ---- the daemon ---------------------------------------------------------------------------------- */

/* Whether /proc/PID/status says the process runs as root (real, effective
 * and file-system uid 0): a process's name is its own to choose, so a
 * user's program named kurafs is not the daemon. */
static bool runs_as_root(const struct kura_check_input *in, const char *pid)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    char *status = read_under(in, path);
    struct kura_proc *p = calloc(1, sizeof *p); /* mostly the facts a decision needs: too big for the stack */
    bool root = status && p && kura_procinfo_parse_status(status, strlen(status), p) == 0 && p->uid == 0 &&
                p->euid == 0 && p->fsuid == 0;
    free(p);
    free(status);
    return root;
}

static long find_kurafs(const struct kura_check_input *in)
{
    char *proc = under(in, "/proc");
    DIR *d = proc ? opendir(proc) : NULL;
    long found = 0;
    struct dirent *de;
    while (d && !found && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
        char *comm = read_under(in, path);
        if (comm && strcmp(comm, "kurafs\n") == 0 && runs_as_root(in, de->d_name))
            found = strtol(de->d_name, NULL, 10);
        free(comm);
    }
    if (d)
        closedir(d);
    free(proc);
    return found;
}

static void check_daemon(const struct kura_check_input *in, struct kura_check_result *r)
{
    long pid = find_kurafs(in);
    if (!pid) {
        verdict(r, KURA_CHECK_WARN, "no kurafs running: its hardening cannot be seen");
        return;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/limits", pid);
    char *limits = read_under(in, path), *cur = limits, *line;
    bool core_zero = false;
    while ((line = next_line(&cur)))
        if (strncmp(line, "Max core file size", 18) == 0) {
            char soft[32], hard[32];
            core_zero = sscanf(line + 18, "%31s %31s", soft, hard) == 2 && strcmp(soft, "0") == 0 &&
                        strcmp(hard, "0") == 0;
        }
    free(limits);
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    char *status = read_under(in, path);
    long locked_kb = -1;
    cur = status;
    while ((line = next_line(&cur)))
        if (strncmp(line, "VmLck:", 6) == 0)
            locked_kb = strtol(line + 6, NULL, 10);
    free(status);
    if (!core_zero)
        verdict(r, KURA_CHECK_FAIL, "kurafs (pid %ld): core dumps not disabled (core limit not 0)", pid);
    else if (locked_kb <= 0)
        verdict(r, KURA_CHECK_WARN, "kurafs (pid %ld): core limit 0, but no memory locked (VmLck %ld kB): its pages "
                                    "may be swapped", pid, locked_kb);
    else
        verdict(r, KURA_CHECK_PASS, "kurafs (pid %ld): core limit 0 (not dumpable), %ld kB locked in memory", pid,
                locked_kb);
}

/* ---- the table ------------------------------------------------------------------------------------ */

#define G_JA "データ利用者向け "
#define G_EN "Data users' edition "

static const struct {
    struct kura_check_def def;
    void (*eval)(const struct kura_check_input *in, struct kura_check_result *r);
} items[] = {
    {{"swap", G_JA "2-1 3（ソフトウェアによって一時的に作成されるコピー）",
      G_EN "2-1 3 (copies made temporarily by software)", "スワップの無効化または暗号化",
      "Swap off or encrypted",
      "スワップを無効にする（swapoff -a と /etc/fstab）か、/etc/crypttab の暗号化デバイス（または zram）に置く",
      "turn swap off (swapoff -a and /etc/fstab) or put it on an encrypted device in /etc/crypttab (or zram)"},
     check_swap},
    {{"coredump", G_JA "2-1 3（ソフトウェアによって一時的に作成されるコピー）",
      G_EN "2-1 3 (copies made temporarily by software)", "コアダンプの無効化", "Core dumps off",
      "/etc/security/limits.conf に「* hard core 0」、systemd-coredump では coredump.conf に Storage=none",
      "add '* hard core 0' to /etc/security/limits.conf; with systemd-coredump set Storage=none in coredump.conf"},
     check_coredump},
    {{"ssh-password", G_JA "2-2 <データサーバについて> 3（他人が類推できない十分な強度のパスワード）",
      G_EN "2-2 <Data server> 3 (passwords others cannot guess)", "SSH のパスワードのみによるログインの禁止",
      "SSH login with a password alone refused",
      "sshd_config に PasswordAuthentication no と KbdInteractiveAuthentication no（または AuthenticationMethods "
      "publickey,keyboard-interactive）、PermitEmptyPasswords no",
      "set PasswordAuthentication no and KbdInteractiveAuthentication no in sshd_config (or AuthenticationMethods "
      "publickey,keyboard-interactive), and PermitEmptyPasswords no"},
     check_ssh_password},
    {{"ssh-mfa", "政府機関等の統一基準 8.1.3 (2)(b)（リモートアクセスに対する多要素主体認証）",
      "Government unified standards 8.1.3 (2)(b) (multi-factor authentication for remote access)",
      "SSH の多要素認証（AuthenticationMethods）", "SSH multi-factor authentication (AuthenticationMethods)",
      "sshd_config に AuthenticationMethods publickey,keyboard-interactive（鍵とワンタイムパスワード等）",
      "set AuthenticationMethods publickey,keyboard-interactive in sshd_config (a key and a one-time password)"},
     check_ssh_mfa},
    {{"ssh-root", G_JA "2-2 <データサーバについて> 3（ユーザ ID を共有しない）",
      G_EN "2-2 <Data server> 3 (no shared user IDs)", "SSH での root ログインの禁止", "No SSH login as root",
      "sshd_config に PermitRootLogin no（各自のアカウントでログインし sudo を使う）",
      "set PermitRootLogin no in sshd_config (log in as yourself, then use sudo)"},
     check_ssh_root},
    {{"idle-logout", G_JA "2-3 5（一定時間（15分程度を目安）以上無操作の場合のロック）",
      G_EN "2-3 5 (lock after about 15 minutes without input)", "無操作時の自動ログアウト",
      "Idle sessions logged out",
      "/etc/profile.d/tmout.sh に「readonly TMOUT=900; export TMOUT」、または logind.conf に StopIdleSessionSec=900",
      "add 'readonly TMOUT=900; export TMOUT' to /etc/profile.d/tmout.sh, or StopIdleSessionSec=900 to logind.conf"},
     check_idle_logout},
    {{"p2p", G_JA "2-2 <データサーバについて> 5（ファイル共有（ファイル交換、P2P）ソフトをインストールしない）",
      G_EN "2-2 <Data server> 5 (no file-sharing (P2P) software)", "ファイル共有（P2P）ソフトがないこと",
      "No file-sharing (P2P) software", "表示されたパッケージを apt purge で削除する",
      "remove the packages shown with apt purge"},
     check_p2p},
    {{"firewall", G_JA "2-2 <データサーバについて> 2（OS 付属のファイアウォール機能を有効に）",
      G_EN "2-2 <Data server> 2 (the OS's own firewall enabled)", "ホストのファイアウォール",
      "Host firewall active",
      "nftables を有効にし（systemctl enable --now nftables）、/etc/nftables.conf の input チェーンを policy drop に",
      "enable nftables (systemctl enable --now nftables) with an input chain of policy drop in /etc/nftables.conf"},
     check_firewall},
    {{"time-sync", G_JA "2-2 <データサーバについて> 8（各種ログの取得・分析）",
      G_EN "2-2 <Data server> 8 (collecting and analysing logs)", "時刻同期（ログの時刻）",
      "Clock synchronised (log times)", "systemd-timesyncd か chrony を有効にする（timedatectl set-ntp true）",
      "enable systemd-timesyncd or chrony (timedatectl set-ntp true)"},
     check_time_sync},
    {{"userns", G_JA "2-2 <データサーバについて> 8（各種ログの取得・分析）",
      G_EN "2-2 <Data server> 8 (collecting and analysing logs)", "非特権ユーザ名前空間の無効化（記録されるプログラム名）",
      "Unprivileged user namespaces off (the programs recorded)",
      "/etc/sysctl.d/ に kernel.unprivileged_userns_clone=0（Debian）または user.max_user_namespaces=0 を置き、sysctl "
      "--system（rootless コンテナは使えなくなる）",
      "put kernel.unprivileged_userns_clone=0 (Debian) or user.max_user_namespaces=0 in /etc/sysctl.d/ and run sysctl "
      "--system (rootless containers stop working)"},
     check_userns},
    {{"keystore", G_JA "2-2 <データサーバについて> 1（アクセス権限をデータ利用者に限定）",
      G_EN "2-2 <Data server> 1 (access restricted to the data users)", "鍵ストアの所有者と権限",
      "Keystore owner and modes",
      "鍵ストアを root 所有、ディレクトリ 0700、秘密鍵ファイル 0600 にする（chown -R root:root; chmod）",
      "make the keystore owned by root, directories 0700, secret files 0600 (chown -R root:root; chmod)"},
     check_keystore},
    {{"backup-exclusion", G_JA "2-3 11（バックアップも含めて復元不可能な方法で消去）",
      G_EN "2-3 11 (erase beyond recovery, backups included)", "データセット鍵のバックアップ除外",
      "Dataset keys excluded from backups",
      "鍵ストアの datasets/ に CACHEDIR.TAG か .nobackup を置き、バックアップソフトが従うことを確認する（破棄した鍵が"
      "バックアップに残ると暗号消去が無効になる）",
      "put CACHEDIR.TAG or .nobackup in the keystore's datasets/ and check the backup tool honours it (a destroyed "
      "key left in a backup undoes crypto-erasure)"},
     check_backup_exclusion},
    {{"daemon", G_JA "2-1 3（ソフトウェアによって一時的に作成されるコピー）",
      G_EN "2-1 3 (copies made temporarily by software)", "kurafs の保護（ダンプ不可・メモリロック）",
      "kurafs hardening (not dumpable, memory locked)",
      "kurafs のリリースビルドを systemd/kurafs@.service で起動する（root、CAP_IPC_LOCK）",
      "run the release build of kurafs through systemd/kurafs@.service (root, CAP_IPC_LOCK)"},
     check_daemon},
};
#define NITEMS (sizeof items / sizeof *items)

size_t kura_check_count(void)
{
    return NITEMS;
}

const struct kura_check_def *kura_check_def_at(size_t i)
{
    return i < NITEMS ? &items[i].def : NULL;
}

const struct kura_check_def *kura_check_find(const char *id)
{
    for (size_t i = 0; i < NITEMS; i++)
        if (strcmp(items[i].def.id, id) == 0)
            return &items[i].def;
    return NULL;
}

void kura_check_eval(const struct kura_check_def *def, const struct kura_check_input *in, struct kura_check_result *r)
{
    memset(r, 0, sizeof *r);
    r->def = def;
    for (size_t i = 0; i < NITEMS; i++)
        if (&items[i].def == def)
            items[i].eval(in, r);
}

const char *kura_check_verdict_name(enum kura_check_verdict v)
{
    return v == KURA_CHECK_PASS ? "pass" : v == KURA_CHECK_WARN ? "warn" : "fail";
}
