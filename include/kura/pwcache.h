/* The user names of uids, as getpwuid_r gives them, without reading the
 * account database at every request (issue 17; the argument for its
 * exactness is in docs/design.md, "The cache of user names").
 *
 * The names are read from the passwd file and kept only while
 *  - nsswitch.conf's passwd line names `files` first, with no [action]
 *    anywhere on it: a uid the file holds is then answered by the file
 *    and by nothing after it (glibc stops at the first success);
 *  - neither file has changed: each call compares the identity (st_dev,
 *    st_ino, st_size, st_mtim, st_ctim) of both with the one they had when
 *    read, so a rename over the file (useradd, usermod, userdel, vipw) or a
 *    write into it is seen at the next call;
 *  - both were last changed at least `settle_seconds` before they were read:
 *    a write in the same clock tick as the read could leave every timestamp
 *    as it was.
 * Anything else, and a uid the file does not hold, is asked of getpwuid_r
 * each time, as without the cache. */
#ifndef KURA_PWCACHE_H
#define KURA_PWCACHE_H
#include <stddef.h>
#include <sys/types.h>

#define KURA_PWCACHE_PASSWD "/etc/passwd"
#define KURA_PWCACHE_NSSWITCH "/etc/nsswitch.conf"
#define KURA_PWCACHE_SETTLE_SECONDS 1

/* Where an answer came from. */
enum kura_pwcache_source {
    KURA_PWCACHE_KEPT, /* the names read earlier, both files unchanged since */
    KURA_PWCACHE_READ, /* the passwd file, read for this call */
    KURA_PWCACHE_NSS,  /* getpwuid_r */
};

struct kura_pwcache;

/* The paths are the tests'; the daemon gives the two above, the files glibc
 * reads. NULL when out of memory. */
struct kura_pwcache *kura_pwcache_new(const char *passwd_path, const char *nsswitch_path, int settle_seconds);
void kura_pwcache_free(struct kura_pwcache *c);

/* uid's user name into name: "" when it has none, or when the name needs
 * len bytes or more (a cut name could equal a listed one it starts with).
 * Safe to call from several threads. c NULL (no memory for one): asks
 * getpwuid_r. */
enum kura_pwcache_source kura_pwcache_name(struct kura_pwcache *c, uid_t uid, char *name, size_t len);

#endif
