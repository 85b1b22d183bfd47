/* Parsers for /proc/PID file contents. Pure functions over (buf, len): the
 * contents are shaped by the process being described (argv, environ, comm),
 * so nothing here trusts a terminator, a length or a number format. */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "kura/procinfo.h"
#include "kura/text.h"

const char *kura_procinfo_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* include/linux/sched.h: the task is in do_exit(); its exit event and the
 * reparenting of its children follow. */
#define PF_EXITING 0x00000004u

int kura_procinfo_parse_stat(const char *buf, size_t len, pid_t *ppid, uint64_t *start_time,
                             bool *exiting)
{
    /* "pid (comm) state ppid ... starttime ...": comm may hold ") (", so the
     * fields start after the last ')'. starttime is field 22, state is 3. */
    const char *close = NULL;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == ')')
            close = buf + i;
    if (!close)
        return -1;
    const char *p = close + 1, *end = buf + len;
    uint64_t fields[20];
    int field = 0; /* 0 = state (field 3) */
    while (field < 20) {
        if (p >= end || *p != ' ')
            return -1;
        p++;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != '\n')
            p++;
        if (field == 0) {
            if (p - tok != 1) /* a one-letter state */
                return -1;
        } else if (kura_parse_decimal(tok, (size_t)(p - tok), UINT64_MAX, &fields[field]) != 0) {
            /* Fields 4..22 are numbers, some may be negative (priority,
             * nice); only ppid (4) and starttime (22) matter. */
            if (field == 1 || field == 19)
                return -1;
            fields[field] = 0;
        }
        field++;
    }
    if (fields[1] > INT_MAX)
        return -1;
    *ppid = (pid_t)fields[1];
    *start_time = fields[19];
    if (exiting)
        *exiting = (fields[6] & PF_EXITING) != 0; /* flags: field 9 */
    return 0;
}

/* "Uid:\t0\t0\t0\t0": four numbers separated by tabs or spaces, to the end of the line. */
static int parse_id_line(const char *p, const char *end, uint64_t ids[4])
{
    for (int i = 0; i < 4; i++) {
        const char *ws = p;
        while (p < end && (*p == '\t' || *p == ' '))
            p++;
        if (p == ws)
            return -1;
        const char *tok = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (kura_parse_decimal(tok, (size_t)(p - tok), UINT32_MAX, &ids[i]) != 0)
            return -1;
    }
    return p == end ? 0 : -1;
}

int kura_procinfo_parse_status(const char *buf, size_t len, struct kura_proc *p)
{
    uint64_t uids[4], gids[4], tgid = 0;
    bool have_uid = false, have_gid = false;
    const char *line = buf, *end = buf + len;
    while (line < end && !(have_uid && have_gid)) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - line);
        if (!have_uid && n > 4 && memcmp(line, "Uid:", 4) == 0) {
            if (parse_id_line(line + 4, eol, uids) != 0)
                return -1;
            have_uid = true;
        } else if (!have_gid && n > 4 && memcmp(line, "Gid:", 4) == 0) {
            if (parse_id_line(line + 4, eol, gids) != 0)
                return -1;
            have_gid = true;
        } else if (n > 5 && memcmp(line, "Tgid:", 5) == 0) {
            const char *v = line + 5;
            while (v < eol && (*v == '\t' || *v == ' '))
                v++;
            if (kura_parse_decimal(v, (size_t)(eol - v), INT32_MAX, &tgid) != 0)
                tgid = 0; /* not known: the caller keeps the id it had */
        }
        line = nl ? nl + 1 : end;
    }
    if (!have_uid || !have_gid)
        return -1;
    p->uid = (uid_t)uids[0];
    p->euid = (uid_t)uids[1];
    p->fsuid = (uid_t)uids[3];
    p->gid = (gid_t)gids[0];
    p->egid = (gid_t)gids[1];
    p->tgid = (pid_t)tgid;
    return 0;
}

/* Copies s[0..n) into dst[cap] if it fits (with its NUL); else leaves dst empty. */
static bool copy_if_fits(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* Where to cut s (of which s[k] is the first byte dropped) so that no
 * UTF-8 character is split: back off over at most three continuation bytes. */
static size_t utf8_cut(const char *s, size_t k)
{
    for (int i = 0; i < 3 && k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80; i++)
        k--;
    return k;
}

void kura_procinfo_parse_cmdline(const char *buf, size_t len, bool read_truncated,
                                 struct kura_proc *p)
{
    p->argc = 0;
    p->cmdline[0] = p->argv0_base[0] = p->argv1[0] = '\0';
    p->flags &= ~(KURA_PROC_CMDLINE_TRUNCATED | KURA_PROC_ARGS_TRUNCATED);
    if (read_truncated)
        p->flags |= KURA_PROC_CMDLINE_TRUNCATED;

    size_t out = 0;
    bool full = false;
    const size_t room = sizeof p->cmdline - 1;
    const char *arg = buf, *end = buf + len;
    while (arg < end) {
        const char *nul = memchr(arg, '\0', (size_t)(end - arg));
        size_t n = nul ? (size_t)(nul - arg) : (size_t)(end - arg);
        /* An unterminated last argument may be cut by the read limit. */
        bool cut = !nul && read_truncated;

        if (p->argc == 0) {
            const char *base = arg;
            for (size_t i = 0; i < n; i++)
                if (arg[i] == '/')
                    base = arg + i + 1;
            size_t bn = n - (size_t)(base - arg);
            if (cut || !copy_if_fits(p->argv0_base, sizeof p->argv0_base, base, bn)) {
                p->argv0_base[0] = '\0';
                p->flags |= KURA_PROC_ARGS_TRUNCATED;
            }
        } else if (p->argc == 1) {
            if (cut || !copy_if_fits(p->argv1, sizeof p->argv1, arg, n)) {
                p->argv1[0] = '\0';
                p->flags |= KURA_PROC_ARGS_TRUNCATED;
            }
        }

        if (!full && p->argc > 0) {
            if (out < room)
                p->cmdline[out++] = ' ';
            else
                full = true;
        }
        if (!full) {
            size_t take = n;
            if (take > room - out) {
                take = utf8_cut(arg, room - out);
                full = true;
            }
            memcpy(p->cmdline + out, arg, take);
            out += take;
        }
        p->argc++;
        arg = nul ? nul + 1 : end;
    }
    if (full)
        p->flags |= KURA_PROC_CMDLINE_TRUNCATED;
    p->cmdline[out] = '\0';
}

bool kura_procinfo_valid_ip(const char *s)
{
    char addr[INET6_ADDRSTRLEN];
    const char *pct = strchr(s, '%');
    size_t alen = pct ? (size_t)(pct - s) : strlen(s);
    if (alen == 0 || alen >= sizeof addr)
        return false;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    unsigned char bin[sizeof(struct in6_addr)];
    if (!pct)
        return inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1;
    /* A zone ("%eth0", "%2") only follows an IPv6 address: an interface
     * name or index, IFNAMSIZ at most. */
    size_t zlen = strlen(pct + 1);
    if (zlen == 0 || zlen > 15)
        return false;
    for (const char *z = pct + 1; *z; z++)
        if (!((*z >= 'a' && *z <= 'z') || (*z >= 'A' && *z <= 'Z') ||
              (*z >= '0' && *z <= '9') || *z == '_' || *z == '.' || *z == '-'))
            return false;
    return inet_pton(AF_INET6, addr, bin) == 1;
}

/* The value of the first NUL-terminated entry NAME=... in an environ block. */
static const char *env_find(const char *buf, size_t len, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *e = buf, *end = buf + len;
    while (e < end) {
        const char *nul = memchr(e, '\0', (size_t)(end - e));
        if (!nul)
            return NULL; /* unterminated: possibly cut by the read limit */
        size_t n = (size_t)(nul - e);
        if (n > nlen && memcmp(e, name, nlen) == 0 && e[nlen] == '=') {
            *vlen = n - nlen - 1;
            return e + nlen + 1;
        }
        e = nul + 1;
    }
    return NULL;
}

bool kura_procinfo_parse_ssh_client(const char *buf, size_t len, char *addr, size_t addrsz)
{
    static const char *const names[] = {"SSH_CONNECTION", "SSH_CLIENT"};
    if (addrsz > 0)
        addr[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t vlen;
        const char *v = env_find(buf, len, names[i], &vlen);
        if (!v)
            continue;
        /* sshd writes "CLIENT_IP CLIENT_PORT ...": the first field only. */
        const char *sp = memchr(v, ' ', vlen);
        size_t flen = sp ? (size_t)(sp - v) : vlen;
        char field[KURA_PROC_ADDR_MAX];
        if (flen == 0 || flen >= sizeof field || flen >= addrsz)
            continue;
        memcpy(field, v, flen);
        field[flen] = '\0';
        if (!kura_procinfo_valid_ip(field))
            continue;
        memcpy(addr, field, flen + 1);
        return true;
    }
    return false;
}

/* The next space-separated field of [*p, end) (spaces before it skipped). */
static const char *next_field(const char **p, const char *end, size_t *n)
{
    while (*p < end && **p == ' ')
        (*p)++;
    const char *tok = *p;
    while (*p < end && **p != ' ')
        (*p)++;
    *n = (size_t)(*p - tok);
    return tok;
}

static int parse_hex(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 16)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10) : 16u;
        if (d == 16)
            return -1;
        v = v * 16 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* One maps line: "START-END PERMS OFFSET MAJ:MIN INODE   PATH". Returns 1
 * for an executable file mapping (filled in), 0 for any other mapping, -1
 * when malformed. */
/* A file mapped by one line of /proc/PID/maps. */
struct maps_line {
    struct kura_proc_mapped m;   /* dev and ino */
    const char *path;            /* without " (deleted)" */
    size_t path_len;
    bool exec;                   /* mapped executable */
};

/* One line of /proc/PID/maps: 1 and the mapped file, 0 for an anonymous or
 * pseudo mapping ([vdso]), -1 when malformed. */
static int parse_maps_line(const char *line, const char *eol, struct maps_line *out)
{
    const char *p = line;
    size_t n;
    next_field(&p, eol, &n); /* address range */
    const char *perms = next_field(&p, eol, &n);
    if (n != 4)
        return -1;
    next_field(&p, eol, &n); /* offset */
    const char *dev = next_field(&p, eol, &n);
    const char *colon = memchr(dev, ':', n);
    uint64_t major, minor, ino;
    if (!colon || parse_hex(dev, (size_t)(colon - dev), UINT32_MAX, &major) != 0 ||
        parse_hex(colon + 1, n - (size_t)(colon - dev) - 1, UINT32_MAX, &minor) != 0)
        return -1;
    const char *inode = next_field(&p, eol, &n);
    if (kura_parse_decimal(inode, n, UINT64_MAX, &ino) != 0)
        return -1;
    while (p < eol && *p == ' ')
        p++;
    if (ino == 0 || p == eol || *p != '/')
        return 0; /* anonymous, or a pseudo file ([vdso]) */
    out->exec = perms[2] == 'x';
    out->m.dev = makedev((unsigned)major, (unsigned)minor);
    out->m.ino = (ino_t)ino;
    out->path = p;
    out->path_len = (size_t)(eol - p);
    static const char deleted[] = " (deleted)";
    const size_t dlen = sizeof deleted - 1;
    if (out->path_len > dlen && memcmp(p + out->path_len - dlen, deleted, dlen) == 0)
        out->path_len -= dlen;
    return 1;
}

void kura_procinfo_parse_maps(const char *buf, size_t len, bool read_truncated,
                              struct kura_proc *p)
{
    p->nmapped = 0;
    if (read_truncated)
        p->flags |= KURA_PROC_MAPS_TRUNCATED;
    const char *line = buf, *end = buf + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) { /* a line cut by the read limit */
            p->flags |= KURA_PROC_MAPS_TRUNCATED;
            return;
        }
        struct maps_line ml;
        int r = parse_maps_line(line, nl, &ml);
        line = nl + 1;
        if (r < 0) {
            p->flags |= KURA_PROC_MAPS_TRUNCATED;
            continue;
        }
        if (r == 0 || !ml.exec || (ml.m.dev == p->exe_dev && ml.m.ino == p->exe_ino))
            continue;
        bool seen = false;
        for (size_t i = 0; i < p->nmapped && !seen; i++)
            seen = p->mapped[i].dev == ml.m.dev && p->mapped[i].ino == ml.m.ino;
        if (seen)
            continue;
        if (p->nmapped == KURA_PROC_MAPPED_MAX) {
            p->flags |= KURA_PROC_MAPS_TRUNCATED;
            return;
        }
        const char *slash = memrchr(ml.path, '/', ml.path_len);
        size_t base_len = ml.path_len - (size_t)(slash + 1 - ml.path);
        if (!copy_if_fits(ml.m.base, sizeof ml.m.base, slash + 1, base_len))
            p->flags |= KURA_PROC_MAPS_TRUNCATED; /* kept by identity, without a name */
        p->mapped[p->nmapped++] = ml.m;
    }
}

int kura_procinfo_maps_on_device(const char *buf, size_t len, dev_t dev,
                                 int (*fn)(const char *path, size_t path_len, void *arg), void *arg)
{
    const char *line = buf, *end = buf + len;
    while (line < end) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl)
            nl = end; /* the caller read it whole: a last line without its end */
        struct maps_line ml;
        int r = parse_maps_line(line, nl, &ml);
        line = nl + 1;
        if (r == 1 && ml.m.dev == dev && (r = fn(ml.path, ml.path_len, arg)) != 0)
            return r;
    }
    return 0;
}

/* Reads an unsigned little- or big-endian field of n bytes. */
static uint64_t elf_field(const unsigned char *p, size_t n, bool big)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
    return v;
}

bool kura_procinfo_elf_is_loader(const unsigned char *buf, size_t len)
{
    if (len < 52 || memcmp(buf, "\177ELF", 4) != 0 || (buf[4] != 1 && buf[4] != 2) ||
        (buf[5] != 1 && buf[5] != 2))
        return false;
    bool is64 = buf[4] == 2, big = buf[5] == 2;
    if (is64 && len < 64)
        return false;
    if (elf_field(buf + 16, 2, big) != 3) /* e_type ET_DYN */
        return false;
    uint64_t phoff = is64 ? elf_field(buf + 32, 8, big) : elf_field(buf + 28, 4, big);
    uint64_t phentsize = elf_field(buf + (is64 ? 54 : 42), 2, big);
    uint64_t phnum = elf_field(buf + (is64 ? 56 : 44), 2, big);
    if (phentsize < 4 || phnum == 0 || phoff > len || phnum > (len - phoff) / phentsize)
        return false; /* program headers not all in buf: cannot tell */
    for (uint64_t i = 0; i < phnum; i++)
        if (elf_field(buf + phoff + i * phentsize, 4, big) == 3) /* p_type PT_INTERP */
            return false;
    return true;
}

bool kura_procinfo_loader_name(const char *base)
{
    return strcmp(base, "ld.so") == 0 || (strncmp(base, "ld-", 3) == 0 && strstr(base, ".so"));
}
