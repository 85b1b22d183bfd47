/* The /proc parsers on arbitrary bytes: environ (SSH client address),
 * cmdline, stat, status and maps. Processes write their own argv and environ, so
 * these see hostile input in production. The input is copied to a buffer
 * of exactly its size, so a read past the end is caught by ASan even when
 * replayed from a larger buffer. Beyond not crashing:
 *  - a found address is NUL-terminated inside the caller's buffer and valid;
 *  - the joined command line fits, argv[0]'s basename has no '/', and an
 *    untruncated command line is the input with NULs turned into spaces;
 *  - the ELF check reads no byte past the input;
 *  - maps keeps at most KURA_PROC_MAPPED_MAX distinct files, none of them
 *    the executable, each name NUL-terminated and without '/'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kura/procinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_environ(const char *buf, size_t size)
{
    static const size_t sizes[] = {KURA_PROC_ADDR_MAX, 16, 8, 1};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char addr[KURA_PROC_ADDR_MAX];
        memset(addr, 'X', sizeof addr);
        bool found = kura_procinfo_parse_ssh_client(buf, size, addr, sizes[i]);
        if (memchr(addr, '\0', sizes[i]) == NULL)
            abort();
        if (found && !kura_procinfo_valid_ip(addr))
            abort();
        if (!found && addr[0] != '\0')
            abort();
    }
}

static void check_cmdline(const char *buf, size_t size, bool read_truncated)
{
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    kura_procinfo_parse_cmdline(buf, size, read_truncated, &p);
    size_t n = strnlen(p.cmdline, sizeof p.cmdline);
    if (n >= sizeof p.cmdline || strnlen(p.argv0_base, sizeof p.argv0_base) >= sizeof p.argv0_base ||
        strnlen(p.argv1, sizeof p.argv1) >= sizeof p.argv1)
        abort();
    if (strchr(p.argv0_base, '/'))
        abort();
    if (read_truncated && !(p.flags & KURA_PROC_CMDLINE_TRUNCATED))
        abort();
    if (p.argc > size)
        abort();
    if (!(p.flags & KURA_PROC_CMDLINE_TRUNCATED)) {
        size_t want = size > 0 && buf[size - 1] == '\0' ? size - 1 : size;
        if (n != want)
            abort();
        for (size_t i = 0; i < n; i++)
            if (p.cmdline[i] != (buf[i] == '\0' ? ' ' : buf[i]))
                abort();
    }
}

static void check_maps(const char *buf, size_t size)
{
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    p.exe_dev = 0xfe00;
    p.exe_ino = 1;
    kura_procinfo_parse_maps(buf, size, false, &p);
    if (p.nmapped > KURA_PROC_MAPPED_MAX)
        abort();
    for (size_t i = 0; i < p.nmapped; i++) {
        const struct kura_proc_mapped *m = &p.mapped[i];
        if (strnlen(m->base, sizeof m->base) >= sizeof m->base || strchr(m->base, '/'))
            abort();
        if (m->dev == p.exe_dev && m->ino == p.exe_ino)
            abort();
        for (size_t j = 0; j < i; j++)
            if (p.mapped[j].dev == m->dev && p.mapped[j].ino == m->ino)
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);

    check_environ(buf, size);
    check_cmdline(buf, size, false);
    check_cmdline(buf, size, true);
    check_maps(buf, size);
    kura_procinfo_elf_is_loader((const unsigned char *)buf, size);

    pid_t ppid;
    uint64_t start;
    if (kura_procinfo_parse_stat(buf, size, &ppid, &start, NULL) == 0 && ppid < 0)
        abort();
    struct kura_proc p;
    memset(&p, 0, sizeof p);
    kura_procinfo_parse_status(buf, size, &p);

    /* valid_ip on a NUL-terminated prefix */
    char s[96];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, buf, n);
    s[n] = '\0';
    kura_procinfo_valid_ip(s);

    free(buf);
    return 0;
}
