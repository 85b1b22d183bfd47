/* The cache of user names (pwcache.h) on files of the test's own: what it
 * keeps, and each change that must make it read again or ask NSS. */
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/pwcache.h"
#include "unit.h"

static char dir[] = "/tmp/kura-pwcache.XXXXXX";
static char passwd[64], nsswitch[64];

static void write_file(const char *path, const char *text)
{
    char tmp[80];
    snprintf(tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen(tmp, "w");
    ASSERT(f && fputs(text, f) >= 0 && fclose(f) == 0);
    ASSERT(rename(tmp, path) == 0); /* a new inode, as useradd and vipw make */
}

static void append_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "a");
    ASSERT(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

static const char base_passwd[] = "kt_root:x:0:0::/root:/bin/sh\n"
                                  "kt_ann:x:2001:2001::/home/ann:/bin/sh\n"
                                  "kt_bea:x:2002:2002::/home/bea:/bin/sh\n";

/* NULL (out of memory) fails the calls that follow. */
static struct kura_pwcache *setup(const char *nss, int settle)
{
    write_file(nsswitch, nss);
    write_file(passwd, base_passwd);
    return kura_pwcache_new(passwd, nsswitch, settle);
}

/* The name and where it came from, as "name/source". */
static const char *lookup(struct kura_pwcache *c, uid_t uid, size_t len)
{
    static char out[300];
    char name[256];
    enum kura_pwcache_source s = kura_pwcache_name(c, uid, name, len);
    snprintf(out, sizeof out, "%s/%s", name,
             s == KURA_PWCACHE_KEPT ? "kept" : s == KURA_PWCACHE_READ ? "read" : "nss");
    return out;
}
#define NAME(c, uid, want) EXPECT(strcmp(lookup(c, uid, 256), want) == 0)

static void test_files_only_kept(void)
{
    struct kura_pwcache *c = setup("passwd: files\ngroup: files\n", 0);
    NAME(c, 2001, "kt_ann/read");
    NAME(c, 2001, "kt_ann/kept");
    NAME(c, 2002, "kt_bea/kept");
    kura_pwcache_free(c);
}

static void test_files_first_kept(void)
{
    /* Debian's default: a uid in the file is the file's answer. */
    struct kura_pwcache *c = setup("# comment\npasswd:         files systemd\ngroup: files systemd\n", 0);
    NAME(c, 2002, "kt_bea/read");
    NAME(c, 2002, "kt_bea/kept");
    kura_pwcache_free(c);
}

static void test_rename_over_passwd(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    NAME(c, 2001, "kt_ann/read");
    NAME(c, 2001, "kt_ann/kept");
    /* usermod -l: the same length, a new file renamed over the old one */
    write_file(passwd, "kt_root:x:0:0::/root:/bin/sh\nkt_amy:x:2001:2001::/home/ann:/bin/sh\n"
                       "kt_bea:x:2002:2002::/home/bea:/bin/sh\n");
    NAME(c, 2001, "kt_amy/read");
    NAME(c, 2001, "kt_amy/kept");
    /* userdel: the uid is in the file no more, so NSS answers */
    write_file(passwd, "kt_root:x:0:0::/root:/bin/sh\nkt_bea:x:2002:2002::/home/bea:/bin/sh\n");
    char name[64];
    EXPECT(kura_pwcache_name(c, 2001, name, sizeof name) == KURA_PWCACHE_NSS && strcmp(name, "kt_amy") != 0);
    NAME(c, 2002, "kt_bea/kept");
    kura_pwcache_free(c);
}

static void test_write_in_place(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    NAME(c, 2002, "kt_bea/read");
    NAME(c, 2002, "kt_bea/kept");
    append_file(passwd, "kt_cid:x:2003:2003::/home/cid:/bin/sh\n");
    NAME(c, 2003, "kt_cid/read");
    NAME(c, 2003, "kt_cid/kept");
    kura_pwcache_free(c);
}

/* Rewritten in place at the same size with its old mtime put back (cp -p
 * over it, touch -r): only the ctime tells, and it must. */
static void test_same_size_old_mtime(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    NAME(c, 2002, "kt_bea/read");
    NAME(c, 2002, "kt_bea/kept");
    struct stat before;
    ASSERT(stat(passwd, &before) == 0);
    usleep(20000); /* past the kernel's coarse clock tick, so the ctime moves */
    char text[sizeof base_passwd];
    memcpy(text, base_passwd, sizeof text);
    memcpy(strstr(text, "kt_bea"), "kt_bey", 6);
    FILE *f = fopen(passwd, "r+");
    ASSERT(f && fputs(text, f) >= 0 && fclose(f) == 0);
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT(utimensat(AT_FDCWD, passwd, times, 0) == 0);
    struct stat after;
    ASSERT(stat(passwd, &after) == 0);
    ASSERT(after.st_ino == before.st_ino && after.st_size == before.st_size &&
           after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    NAME(c, 2002, "kt_bey/read");
    kura_pwcache_free(c);
}

static void test_first_entry_wins(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    write_file(passwd, "+kt_plus:x:2009:2009::/:/bin/sh\nkt_one:x:2009:2009::/:/bin/sh\n"
                       "kt_two:x:2009:2009::/:/bin/sh\nbroken line\nkt_three:x:2010:2010::/:/bin/sh\n");
    NAME(c, 2009, "kt_one/read");
    NAME(c, 2010, "kt_three/kept");
    kura_pwcache_free(c);
}

static void test_uid_not_in_file_asks_nss(void)
{
    /* The file has no uid 1 (daemon on this system): NSS answers, as a
     * later source could know it. */
    struct kura_pwcache *c = setup("passwd: files systemd\n", 0);
    char name[64];
    EXPECT(kura_pwcache_name(c, 1, name, sizeof name) == KURA_PWCACHE_NSS);
    kura_pwcache_free(c);
}

static void test_other_sources_ask_nss(void)
{
    /* The test file calls uid 0 kt_root; NSS (the system's) does not. */
    const char *confs[] = {
        "passwd: ldap files\n",
        "passwd: files [NOTFOUND=return] ldap\n",
        "passwd: files\npasswd: ldap\n",
        "passwd: compat\n",
        "passwd_compat: files\n",
        "group: files\n",
        "passwd: filesx\n",
    };
    for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++) {
        struct kura_pwcache *c = setup(confs[i], 0);
        char name[64];
        EXPECT(kura_pwcache_name(c, 0, name, sizeof name) == KURA_PWCACHE_NSS);
        EXPECT(strcmp(name, "kt_root") != 0);
        EXPECT(kura_pwcache_name(c, 2001, name, sizeof name) == KURA_PWCACHE_NSS);
        kura_pwcache_free(c);
    }
}

static void test_nsswitch_change_seen(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    NAME(c, 0, "kt_root/read");
    NAME(c, 0, "kt_root/kept");
    write_file(nsswitch, "passwd: sss files\n");
    char name[64];
    EXPECT(kura_pwcache_name(c, 0, name, sizeof name) == KURA_PWCACHE_NSS && strcmp(name, "kt_root") != 0);
    EXPECT(kura_pwcache_name(c, 0, name, sizeof name) == KURA_PWCACHE_NSS);
    write_file(nsswitch, "PASSWD:files\n");
    NAME(c, 0, "kt_root/read");
    kura_pwcache_free(c);
}

static void test_fresh_files_not_kept(void)
{
    /* Changed less than settle seconds ago: read at every call. */
    struct kura_pwcache *c = setup("passwd: files\n", 3600);
    NAME(c, 2001, "kt_ann/read");
    NAME(c, 2001, "kt_ann/read");
    kura_pwcache_free(c);
}

static void test_long_name_left_out(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    EXPECT(strcmp(lookup(c, 2001, 6), "/read") == 0); /* "kt_ann" needs 7 bytes */
    EXPECT(strcmp(lookup(c, 2001, 7), "kt_ann/kept") == 0);
    kura_pwcache_free(c);
}

static void test_missing_files_ask_nss(void)
{
    struct kura_pwcache *c = setup("passwd: files\n", 0);
    NAME(c, 2001, "kt_ann/read");
    ASSERT(unlink(passwd) == 0);
    char name[64];
    EXPECT(kura_pwcache_name(c, 2001, name, sizeof name) == KURA_PWCACHE_NSS);
    EXPECT(kura_pwcache_name(NULL, 0, name, sizeof name) == KURA_PWCACHE_NSS && strcmp(name, "root") == 0);
    kura_pwcache_free(c);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(passwd, sizeof passwd, "%s/passwd", dir);
    snprintf(nsswitch, sizeof nsswitch, "%s/nsswitch.conf", dir);
    RUN(test_files_only_kept);
    RUN(test_files_first_kept);
    RUN(test_rename_over_passwd);
    RUN(test_write_in_place);
    RUN(test_same_size_old_mtime);
    RUN(test_first_entry_wins);
    RUN(test_uid_not_in_file_asks_nss);
    RUN(test_other_sources_ask_nss);
    RUN(test_nsswitch_change_seen);
    RUN(test_fresh_files_not_kept);
    RUN(test_long_name_left_out);
    RUN(test_missing_files_ask_nss);
    unlink(passwd);
    unlink(nsswitch);
    rmdir(dir);
    return unit_done();
}
