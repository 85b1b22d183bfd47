/* The cache of user names (see kura/pwcache.h): the passwd file's names,
 * sorted by uid, kept with the identity of the two files they depend on. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kura/grow.h"
#include "kura/pwcache.h"

#define NSSWITCH_MAX (64 * 1024)
#define PASSWD_LINE_MAX 4096

struct file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
};

struct entry {
    uid_t uid;
    size_t line; /* the file's first entry for a uid is the one glibc returns */
    char *name;
};

struct kura_pwcache {
    pthread_mutex_t lock;
    char *passwd_path, *nsswitch_path;
    int settle_seconds;
    bool kept;        /* the files were read and have these identities: */
    struct file_id passwd_id, nsswitch_id;
    bool files_first; /* false: the names below are not kept, ask NSS */
    struct entry *entries;
    size_t nentries;
};

struct kura_pwcache *kura_pwcache_new(const char *passwd_path, const char *nsswitch_path, int settle_seconds)
{
    struct kura_pwcache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->passwd_path = strdup(passwd_path);
    c->nsswitch_path = strdup(nsswitch_path);
    if (!c->passwd_path || !c->nsswitch_path) {
        free(c->passwd_path);
        free(c->nsswitch_path);
        free(c);
        return NULL;
    }
    c->settle_seconds = settle_seconds;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

static void forget(struct kura_pwcache *c)
{
    for (size_t i = 0; i < c->nentries; i++)
        free(c->entries[i].name);
    free(c->entries);
    c->entries = NULL;
    c->nentries = 0;
    c->kept = false;
    c->files_first = false;
}

void kura_pwcache_free(struct kura_pwcache *c)
{
    if (!c)
        return;
    forget(c);
    pthread_mutex_destroy(&c->lock);
    free(c->passwd_path);
    free(c->nsswitch_path);
    free(c);
}

static struct file_id id_of(const struct stat *st)
{
    return (struct file_id){st->st_dev, st->st_ino, st->st_size, st->st_mtim, st->st_ctim};
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool same_id(const struct file_id *a, const struct file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && same_time(a->mtim, b->mtim) &&
           same_time(a->ctim, b->ctim);
}

static bool same_stat(const struct file_id *a, const struct stat *st)
{
    struct file_id b = id_of(st);
    return same_id(a, &b);
}

/* Changed at least settle seconds before `now`: any later change gets a
 * later ctime (the kernel sets it from the clock; the user cannot). */
static bool settled(const struct file_id *id, struct timespec now, int settle)
{
    return id->ctim.tv_sec < now.tv_sec - settle ||
           (id->ctim.tv_sec == now.tv_sec - settle && id->ctim.tv_nsec <= now.tv_nsec);
}

static void copy_name(const char *found, char *name, size_t len)
{
    size_t n = strlen(found);
    if (n < len)
        memcpy(name, found, n + 1);
}

static enum kura_pwcache_source nss_name(uid_t uid, char *name, size_t len)
{
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
        copy_name(found->pw_name, name, len);
    return KURA_PWCACHE_NSS;
}

/* Whether the passwd line of an nsswitch.conf text names `files` first and
 * no [action]. Exactly one passwd line; glibc's database names ignore case,
 * its service names do not. */
static bool passwd_files_first(char *text)
{
    int lines = 0;
    bool first = false;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        line += strspn(line, " \t");
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        size_t db = strcspn(line, " \t:");
        if (db != 6 || strncasecmp(line, "passwd", 6) != 0 || line + db + strspn(line + db, " \t") != colon)
            continue;
        lines++;
        char *services = colon + 1;
        services += strspn(services, " \t");
        size_t first_len = strcspn(services, " \t\r");
        first = first_len == 5 && strncmp(services, "files", 5) == 0 && !strchr(services, '[');
    }
    return lines == 1 && first;
}

/* Reads path whole (up to max bytes) with its identity, the same before and
 * after the read. */
static char *read_whole(const char *path, size_t max, struct file_id *id)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat before, after;
    char *text = NULL;
    if (fstat(fd, &before) != 0 || before.st_size < 0 || (size_t)before.st_size >= max ||
        !(text = malloc((size_t)before.st_size + 1)))
        goto fail;
    size_t got = 0;
    for (ssize_t r; got <= (size_t)before.st_size; got += (size_t)r) {
        r = read(fd, text + got, (size_t)before.st_size + 1 - got);
        if (r < 0 && errno == EINTR)
            r = 0;
        else if (r <= 0)
            break;
    }
    *id = id_of(&before);
    if (got != (size_t)before.st_size || fstat(fd, &after) != 0 || !same_stat(id, &after))
        goto fail;
    text[got] = '\0';
    close(fd);
    return text;
fail:
    free(text);
    close(fd);
    return NULL;
}

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* The passwd file's entries through glibc's own parser for it (the one its
 * files service uses), each uid's first only, as that service answers;
 * entries named +... or -... are nss_compat's, which the files service
 * skips. */
static int read_passwd(struct kura_pwcache *c)
{
    int fd = open(c->passwd_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat before, after;
    FILE *f = NULL;
    char *buf = malloc(PASSWD_LINE_MAX);
    if (!buf || fstat(fd, &before) != 0 || !(f = fdopen(fd, "re"))) {
        free(buf);
        close(fd);
        return -1;
    }
    int rc = -1;
    size_t cap = 0;
    for (size_t line = 0;; line++) {
        struct passwd pw, *res = NULL;
        int e = fgetpwent_r(f, &pw, buf, PASSWD_LINE_MAX, &res);
        if (e == ENOENT)
            break;
        if (e != 0 || !res)
            goto out; /* a line too long for the buffer, or a read error */
        if (pw.pw_name[0] == '+' || pw.pw_name[0] == '-')
            continue;
        if (!kura_grow((void **)&c->entries, &cap, c->nentries, sizeof *c->entries))
            goto out;
        struct entry *en = &c->entries[c->nentries];
        if (!(en->name = strdup(pw.pw_name)))
            goto out;
        en->uid = pw.pw_uid;
        en->line = line;
        c->nentries++;
    }
    c->passwd_id = id_of(&before);
    if (fstat(fileno(f), &after) != 0 || !same_stat(&c->passwd_id, &after))
        goto out;
    qsort(c->entries, c->nentries, sizeof *c->entries, cmp_entry);
    size_t kept = 0;
    for (size_t i = 0; i < c->nentries; i++) {
        if (kept > 0 && c->entries[kept - 1].uid == c->entries[i].uid)
            free(c->entries[i].name);
        else
            c->entries[kept++] = c->entries[i];
    }
    c->nentries = kept;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

static const struct entry *find(const struct kura_pwcache *c, uid_t uid)
{
    size_t lo = 0, hi = c->nentries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->entries[mid].uid == uid)
            return &c->entries[mid];
        if (c->entries[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* From the entries if the file holds uid; KURA_PWCACHE_NSS (nothing
 * written) if not. */
static enum kura_pwcache_source answer(const struct kura_pwcache *c, enum kura_pwcache_source src, uid_t uid,
                                       char *name, size_t len)
{
    const struct entry *e = find(c, uid);
    if (!e)
        return KURA_PWCACHE_NSS;
    copy_name(e->name, name, len);
    return src;
}

/* Under the lock: answers from what is kept, or reads the files again;
 * KURA_PWCACHE_NSS when NSS is to be asked (outside the lock: an NSS
 * source may take its time, and the daemon's threads must not queue
 * behind it). */
static enum kura_pwcache_source name_locked(struct kura_pwcache *c, const struct stat *ps, const struct stat *ns,
                                            uid_t uid, char *name, size_t len)
{
    if (c->kept && same_stat(&c->passwd_id, ps) && same_stat(&c->nsswitch_id, ns))
        return c->files_first ? answer(c, KURA_PWCACHE_KEPT, uid, name, len) : KURA_PWCACHE_NSS;
    forget(c);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char *conf = read_whole(c->nsswitch_path, NSSWITCH_MAX, &c->nsswitch_id);
    if (!conf)
        return KURA_PWCACHE_NSS;
    c->files_first = passwd_files_first(conf);
    free(conf);
    if (!c->files_first) {
        /* Kept too: the next calls go straight to NSS while nothing changes. */
        c->kept = settled(&c->nsswitch_id, now, c->settle_seconds);
        return KURA_PWCACHE_NSS;
    }
    if (read_passwd(c) != 0) {
        forget(c);
        return KURA_PWCACHE_NSS;
    }
    enum kura_pwcache_source src = answer(c, KURA_PWCACHE_READ, uid, name, len);
    if (settled(&c->nsswitch_id, now, c->settle_seconds) && settled(&c->passwd_id, now, c->settle_seconds))
        c->kept = true;
    else
        forget(c);
    return src;
}

enum kura_pwcache_source kura_pwcache_name(struct kura_pwcache *c, uid_t uid, char *name, size_t len)
{
    name[0] = '\0';
    struct stat ps, ns;
    if (!c || stat(c->passwd_path, &ps) != 0 || stat(c->nsswitch_path, &ns) != 0)
        return nss_name(uid, name, len);
    pthread_mutex_lock(&c->lock);
    enum kura_pwcache_source src = name_locked(c, &ps, &ns, uid, name, len);
    pthread_mutex_unlock(&c->lock);
    return src == KURA_PWCACHE_NSS ? nss_name(uid, name, len) : src;
}
