/* kuractl dataset import: archive deliveries (.c4gh to the dataset's
 * delivery key or a server key) or, with --encrypt, plaintext, into the
 * store and the keystore. The ledger record names the key every delivery
 * was encrypted to and whether the sources are removed (crypto-erasure
 * holds only for copies encrypted to keys that are erased later).
 *
 * All or nothing: payloads are written as STORE/<ID>/<FILEID>.part and
 * renamed, headers and segment maps go to the keystore, all under fresh
 * random file ids that nothing refers to yet; one sync makes them durable;
 * then files.tsv, the commit point, names them (with its ledger record, see
 * cmd_state.c). A crash before that leaves unreferenced files only, which the
 * next import removes before it starts; so an interrupted import is simply
 * run again. Sources are removed (--remove-source) only after the commit.
 * No plaintext is written anywhere: --encrypt encrypts each 64 KiB read in
 * locked memory straight into the store. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/audit.h"
#include "kura/changes.h"
#include "kura/clock.h"
#include "kura/c4gh.h"
#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/grow.h"
#include "kura/keystore.h"
#include "kura/ledger.h"
#include "kura/secmem.h"
#include "kura/text.h"

struct src {
    char *path;                 /* as named by the caller (joined with the walk): for messages */
    char *served;               /* path inside the dataset */
    int top;                    /* found inside a directory named: its index in plan.tops (never
                                 * follow a symlink below it); -1 for a file named */
    char *rel;                  /* top >= 0: its path below that directory */
    dev_t dev;                  /* what the walk (or the stat of a path named) found there: */
    ino_t ino;                  /* what is read and removed must be that file */
    uint64_t bytes;             /* source size, for the progress bar */
    bool withdrawn;             /* of a withdrawn sample: payload kept, no key stored, never served */
    char file_id[KURA_FILE_ID_LEN + 1];
};

/* A walked directory, for --remove-source. */
struct pdir {
    char *path;                 /* for messages; a top directory is found by it */
    char *rel;                  /* below its top directory ("" for the top itself) */
    int top;
    dev_t dev;
    ino_t ino;
};

/* Sources below a directory named are found again, for reading and for
 * --remove-source, from that directory as the walk opened it and through
 * no symbolic link: whoever can write below it (a PI's incoming directory
 * imported by root) may swap a subdirectory for a link to one only root
 * may read while the import runs (found by a hostile review). */
struct plan {
    struct src *v;
    size_t n, cap;
    struct pdir *dirs;          /* walked directories, parents first (for --remove-source) */
    size_t ndirs, dcap;
    int *tops;                  /* the directories named, open */
    size_t ntops, tcap;
    uint64_t total;
};

struct progress {
    bool on;
    FILE *err;
    size_t files, done_files;
    uint64_t total, done;
    int64_t last_ms;
};

struct import {
    const struct kura_cmd_ctx *c;
    struct cmd_caller caller;
    bool encrypt, no_verify;
    struct plan plan;
    struct kura_keystore *ks;   /* owned unless it is the daemon's */
    struct kura_dskey *dk;
    char *store;
    struct progress prog;
    struct kura_ledger_delivery_key keys[KURA_LEDGER_DELIVERY_KEYS_MAX]; /* and how many files each opened */
    size_t nkeys;
};

/* ---- sources --------------------------------------------------------------- */

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].served);
        free(p->v[i].rel);
    }
    for (size_t i = 0; i < p->ndirs; i++) {
        free(p->dirs[i].path);
        free(p->dirs[i].rel);
    }
    for (size_t i = 0; i < p->ntops; i++)
        close(p->tops[i]);
    free(p->v);
    free(p->dirs);
    free(p->tops);
    memset(p, 0, sizeof *p);
}

static char *served_name(const char *rel, bool encrypt)
{
    size_t n = strlen(rel);
    /* Archive deliveries are NAME.c4gh; the dataset serves NAME. */
    if (!encrypt && n > 5 && strcmp(rel + n - 5, ".c4gh") == 0)
        n -= 5;
    return strndup(rel, n);
}

static int plan_add(struct plan *p, const char *path, const char *rel, int top, const struct stat *st, bool encrypt)
{
    bool walked = top >= 0;
    uint64_t bytes = (uint64_t)st->st_size;
    if (!kura_grow((void **)&p->v, &p->cap, p->n, sizeof *p->v))
        return -1;
    struct src *s = &p->v[p->n];
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    s->served = served_name(rel, encrypt);
    s->rel = strdup(walked ? rel : "");
    if (!s->path || !s->served || !s->rel) {
        free(s->path);
        free(s->served);
        free(s->rel);
        return -1;
    }
    s->top = top;
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->bytes = bytes;
    kura_file_id_new(s->file_id);
    p->n++;
    p->total += bytes;
    return 0;
}

static int plan_add_dir(struct plan *p, const char *dir, const char *rel, int top, const struct stat *st)
{
    if (!kura_grow((void **)&p->dirs, &p->dcap, p->ndirs, sizeof *p->dirs))
        return -1;
    struct pdir *d = &p->dirs[p->ndirs];
    *d = (struct pdir){.path = strdup(dir), .rel = strdup(rel), .top = top, .dev = st->st_dev, .ino = st->st_ino};
    if (!d->path || !d->rel) {
        free(d->path);
        free(d->rel);
        return -1;
    }
    p->ndirs++;
    return 0;
}

/* Keeps a directory named open (a copy of fd); its index, or -1. */
static int plan_add_top(struct plan *p, int fd)
{
    if (!kura_grow((void **)&p->tops, &p->tcap, p->ntops, sizeof *p->tops))
        return -1;
    int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0)
        return -1;
    p->tops[p->ntops] = copy;
    return (int)p->ntops++;
}

/* Opens the directory holding a source (or a walked directory), *base its
 * last name in it: below a directory named, from that directory as the
 * walk opened it, following no symbolic link; else by the path named.
 * -1 with errno. */
static int open_parent(const struct plan *p, int top, const char *rel, const char *path, const char **base)
{
    if (top < 0 || !*rel) {
        const char *slash = strrchr(path, '/');
        *base = slash ? slash + 1 : path;
        char *dir = kura_dir_of(path);
        if (!dir) {
            errno = ENOMEM;
            return -1;
        }
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int e = errno;
        free(dir);
        errno = e;
        return fd;
    }
    int cur = openat(p->tops[top], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *s = rel;
    for (const char *slash; cur >= 0 && (slash = strchr(s, '/')); s = slash + 1) {
        char comp[NAME_MAX + 1];
        size_t n = (size_t)(slash - s);
        if (n == 0 || n > NAME_MAX) {
            close(cur);
            errno = EINVAL;
            return -1;
        }
        memcpy(comp, s, n);
        comp[n] = '\0';
        int next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(cur);
        errno = e;
        cur = next;
    }
    *base = s;
    return cur;
}

/* Whether name in dirfd is still the file (or directory) dev/ino. */
static bool still_there(int dirfd, const char *name, dev_t dev, ino_t ino)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Names in a directory, sorted so an import is reproducible. */
static char **list_dir(DIR *d, size_t *n)
{
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (!kura_grow((void **)&v, &cap, *n, sizeof *v))
            goto fail;
        if (!(v[*n] = strdup(de->d_name)))
            goto fail;
        (*n)++;
    }
    if (*n)
        qsort(v, *n, sizeof *v, cmd_cmp_str);
    return v ? v : calloc(1, sizeof *v);
fail:
    for (size_t i = 0; i < *n; i++)
        free(v[i]);
    free(v);
    return NULL;
}

/* Walks dir: at depth 0 a directory named (at is AT_FDCWD, name is dir),
 * below it name in the directory at, never through a symbolic link; top
 * is the index of the directory named, once it is open. */
static int walk(struct import *im, int at, const char *name, const char *dir, const char *rel, int top, int depth,
                struct kura_err *e)
{
    if (depth > KURA_PATH_DEPTH_MAX) {
        kura_err_set(e, ELOOP, "%s: directories nested deeper than %d levels", dir, KURA_PATH_DEPTH_MAX);
        return -1;
    }
    if (cmd_caller_enter(&im->caller, e) != 0)
        return -1;
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (depth > 0 ? O_NOFOLLOW : 0));
    int oe = errno;
    struct stat dst;
    if (fd >= 0 && fstat(fd, &dst) != 0) {
        oe = errno;
        close(fd);
        fd = -1;
    }
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    size_t n = 0;
    char **names = d ? list_dir(d, &n) : NULL;
    cmd_caller_leave(&im->caller);
    if (fd < 0) {
        kura_err_set(e, oe, "%s: %s", dir, strerror(oe));
        return -1;
    }
    if (!names) {
        if (d)
            closedir(d);
        else
            close(fd);
        kura_err_set(e, ENOMEM, "out of memory reading %s", dir);
        return -1;
    }
    if (depth == 0 && (top = plan_add_top(&im->plan, dirfd(d))) < 0) {
        kura_err_set(e, errno, "%s: %s", dir, strerror(errno));
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        closedir(d);
        return -1;
    }
    int rc = plan_add_dir(&im->plan, dir, rel, top, &dst) == 0 ? 0 : (kura_err_set(e, ENOMEM, "out of memory"), -1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = NULL, *sub = NULL;
        if (asprintf(&path, "%s/%s", dir, names[i]) < 0 ||
            asprintf(&sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]) < 0) {
            kura_err_set(e, ENOMEM, "out of memory");
            rc = -1;
            free(path);
            break;
        }
        struct stat st;
        if (cmd_caller_enter(&im->caller, e) != 0) {
            rc = -1;
        } else {
            int sr = fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW);
            int se = errno;
            cmd_caller_leave(&im->caller);
            if (sr != 0) {
                kura_err_set(e, se, "%s: %s", path, strerror(se));
                rc = -1;
            } else if (S_ISDIR(st.st_mode))
                rc = walk(im, dirfd(d), names[i], path, sub, top, depth + 1, e);
            else if (S_ISREG(st.st_mode)) {
                if (plan_add(&im->plan, path, sub, top, &st, im->encrypt) != 0) {
                    kura_err_set(e, ENOMEM, "out of memory");
                    rc = -1;
                }
            } else {
                kura_err_set(e, EINVAL, "%s is %s; kura imports regular files only", path,
                             S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
                rc = -1;
            }
        }
        free(path);
        free(sub);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int collect(struct import *im, size_t npaths, const char *const *paths, struct kura_err *e)
{
    for (size_t i = 0; i < npaths; i++) {
        char *p = strdup(paths[i]);
        if (!p) {
            kura_err_set(e, ENOMEM, "out of memory");
            return -1;
        }
        for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
            p[n - 1] = '\0';
        if (cmd_caller_path_check(im->c, "", p, e) != 0) {
            free(p);
            return -1;
        }
        struct stat st;
        int rc = cmd_caller_enter(&im->caller, e);
        if (rc == 0) {
            rc = stat(p, &st);
            int se = errno;
            cmd_caller_leave(&im->caller);
            if (rc != 0)
                kura_err_set(e, se, "%s: %s", p, strerror(se));
        }
        if (rc == 0) {
            if (S_ISDIR(st.st_mode))
                rc = walk(im, AT_FDCWD, p, p, "", -1, 0, e);
            else if (S_ISREG(st.st_mode)) {
                const char *base = strrchr(p, '/');
                if (plan_add(&im->plan, p, base ? base + 1 : p, -1, &st, im->encrypt) != 0) {
                    kura_err_set(e, ENOMEM, "out of memory");
                    rc = -1;
                }
            } else {
                kura_err_set(e, EINVAL, "%s is not a regular file or directory", p);
                rc = -1;
            }
        }
        free(p);
        if (rc != 0)
            return -1;
    }
    if (im->plan.n == 0) {
        kura_err_set(e, ENOENT, "nothing to import (no files under the paths given)");
        return -1;
    }
    return 0;
}

/* ---- checks before any work ------------------------------------------------- */

static int cmp_served(const void *a, const void *b)
{
    return strcmp(((const struct src *)a)->served, ((const struct src *)b)->served);
}

/* The paths of files.tsv, sorted, to look new paths up in. */
struct path_index {
    const char **v;
    size_t n;
};

static int path_index_build(struct path_index *x, const struct kura_file *files, size_t n)
{
    x->n = n;
    x->v = malloc((n ? n : 1) * sizeof *x->v);
    if (!x->v)
        return -1;
    for (size_t i = 0; i < n; i++)
        x->v[i] = files[i].path;
    if (n)
        qsort(x->v, n, sizeof *x->v, cmd_cmp_str);
    return 0;
}

static bool path_index_has(const struct path_index *x, const char *path)
{
    return x->n && bsearch(&path, x->v, x->n, sizeof *x->v, cmd_cmp_str);
}

/* The first of paths (n of them) that files already holds, or NULL. */
static const char *first_present(const struct kura_file *files, size_t nfiles, const struct kura_file *fresh, size_t n,
                                 bool *nomem)
{
    struct path_index x;
    *nomem = path_index_build(&x, files, nfiles) != 0;
    const char *found = NULL;
    for (size_t i = 0; !*nomem && i < n && !found; i++)
        if (path_index_has(&x, fresh[i].path))
            found = fresh[i].path;
    free(x.v);
    return found;
}

/* The new entries of files.tsv (paths, ids, samples; sizes filled later). */
static int new_entries(struct import *im, const struct kura_sample_map *samples, struct kura_file **out,
                       struct kura_err *e)
{
    struct plan *p = &im->plan;
    struct kura_file *f = calloc(p->n, sizeof *f);
    if (!f)
        goto nomem;
    for (size_t i = 0; i < p->n; i++) {
        if (!(f[i].path = strdup(p->v[i].served)))
            goto nomem;
        memcpy(f[i].file_id, p->v[i].file_id, sizeof f[i].file_id);
        const struct kura_sample_entry *se = samples ? kura_samples_find(samples, p->v[i].served) : NULL;
        if (se && se->nsamples) {
            if (!(f[i].samples = calloc(se->nsamples, sizeof *f[i].samples)))
                goto nomem;
            for (size_t k = 0; k < se->nsamples; k++) {
                if (!(f[i].samples[k] = strdup(se->samples[k])))
                    goto nomem;
                f[i].nsamples++;
            }
        }
    }
    *out = f;
    return 0;
nomem:
    if (f)
        kura_files_free(f, p->n);
    kura_err_set(e, ENOMEM, "out of memory");
    return -1;
}

/* Refuses repeated and already imported paths, samples for paths outside
 * this import, and anything files.tsv would not hold (a path that is also
 * a directory, ...): checked by formatting the would-be files.tsv. */
static int check_plan(struct import *im, const struct kura_dataset *ds, const struct kura_file *old, size_t nold,
                      const struct kura_sample_map *sm, const struct kura_file *fresh, struct kura_err *e)
{
    const char *id = ds->id;
    struct plan *p = &im->plan;
    for (size_t i = 0; i < p->n; i++) {
        if (kura_path_check(p->v[i].served, strlen(p->v[i].served), e) != 0) {
            kura_err_prefix(e, "%s", p->v[i].path);
            return -1;
        }
    }
    bool nomem;
    const char *dup = first_present(old, nold, fresh, p->n, &nomem);
    if (nomem || dup) {
        if (nomem)
            kura_err_set(e, ENOMEM, "out of memory");
        else
            kura_err_set(e, EEXIST, "%s is already in dataset %s; leave it out (a completed import has nothing "
                         "to redo)", dup, id);
        return -1;
    }
    struct src *sorted = malloc(p->n * sizeof *sorted);
    if (!sorted) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    memcpy(sorted, p->v, p->n * sizeof *sorted);
    qsort(sorted, p->n, sizeof *sorted, cmp_served);
    for (size_t i = 1; i < p->n; i++)
        if (strcmp(sorted[i - 1].served, sorted[i].served) == 0) {
            kura_err_set(e, EEXIST, "%s and %s would both be served as %s", sorted[i - 1].path, sorted[i].path,
                         sorted[i].served);
            free(sorted);
            return -1;
        }
    for (size_t i = 0; sm && i < sm->n; i++) {
        struct src key = {.served = sm->entries[i].path};
        if (!bsearch(&key, sorted, p->n, sizeof *sorted, cmp_served)) {
            kura_err_set(e, EINVAL, "the samples file names %s, which this import does not include",
                         sm->entries[i].path);
            free(sorted);
            return -1;
        }
    }
    free(sorted);
    struct kura_file *all = malloc((nold + p->n) * sizeof *all);
    if (!all) {
        kura_err_set(e, ENOMEM, "out of memory");
        return -1;
    }
    if (nold)
        memcpy(all, old, nold * sizeof *all);
    memcpy(all + nold, fresh, p->n * sizeof *all);
    size_t len;
    char *text = kura_files_format(all, nold + p->n, &len, e);
    free(all);
    free(text);
    return text ? 0 : -1;
}

/* ---- orphans --------------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
    return strcmp((const char *)a, ((const struct kura_file *)b)->file_id);
}

static int cmp_file_id(const void *a, const void *b)
{
    return strcmp(((const struct kura_file *)a)->file_id, ((const struct kura_file *)b)->file_id);
}

/* Removes store and keystore entries files.tsv does not name: what an
 * interrupted import left. Runs under the import lock, so no other import
 * is writing. */
static int clean_orphans(struct import *im, struct kura_file *files, size_t n, struct kura_err *e)
{
    const struct kura_cmd_ctx *c = im->c;
    const char *id = im->dk->id;
    if (n)
        qsort(files, n, sizeof *files, cmp_file_id);
    char **ids = NULL;
    size_t nids = 0;
    if (kura_keystore_file_ids(c->env->cfg->keys_dir, id, &ids, &nids, e) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nids && rc == 0; i++)
        if (!n || !bsearch(ids[i], files, n, sizeof *files, cmp_id))
            rc = kura_keystore_file_destroy(c->env->cfg->keys_dir, id, ids[i], e);
    kura_keystore_ids_free(ids, nids);
    if (rc != 0)
        return -1;
    DIR *d = opendir(im->store);
    if (!d) {
        kura_err_set(e, errno, "open %s: %s", im->store, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) && rc == 0) {
        char fid[KURA_FILE_ID_LEN + 1];
        size_t len = strlen(de->d_name);
        if (len != KURA_FILE_ID_LEN && !(len == KURA_FILE_ID_LEN + strlen(KURA_PART_SUFFIX) &&
                                         strcmp(de->d_name + KURA_FILE_ID_LEN, KURA_PART_SUFFIX) == 0))
            continue;
        memcpy(fid, de->d_name, KURA_FILE_ID_LEN);
        fid[KURA_FILE_ID_LEN] = '\0';
        if (kura_file_id_check(fid, NULL) != 0)
            continue;
        if (len == KURA_FILE_ID_LEN && n && bsearch(fid, files, n, sizeof *files, cmp_id))
            continue;
        /* Ciphertext whose header is gone: unlinking is enough. */
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
            kura_err_set(e, errno, "remove %s/%s: %s", im->store, de->d_name, strerror(errno));
            rc = -1;
        }
    }
    closedir(d);
    return rc == 0 ? kura_fsync_dir(im->store, e) : -1;
}

/* Best effort after a failed import: the next one removes what is left. */
static void discard(struct import *im, size_t upto)
{
    struct kura_err e = {0};
    for (size_t i = 0; i < upto; i++) {
        const char *fid = im->plan.v[i].file_id;
        char *p = NULL;
        if (asprintf(&p, "%s/%s", im->store, fid) >= 0) {
            unlink(p);
            free(p);
        }
        if (asprintf(&p, "%s/%s%s", im->store, fid, KURA_PART_SUFFIX) >= 0) {
            unlink(p);
            free(p);
        }
        kura_keystore_file_destroy(im->c->env->cfg->keys_dir, im->dk->id, fid, &e);
    }
}

/* ---- progress ----------------------------------------------------------------- */

static void progress_show(struct progress *p, bool final)
{
    if (!p->on)
        return;
    int64_t now = kura_clock_ms(CLOCK_MONOTONIC);
    if (!final && now - p->last_ms < 200)
        return;
    p->last_ms = now;
    unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
    if (final)
        pct = 100;
    char bar[31];
    memset(bar, '#', pct * 30 / 100);
    memset(bar + pct * 30 / 100, '-', 30 - pct * 30 / 100);
    bar[30] = '\0';
    fprintf(p->err, "\rimport [%s] %3u%%  %zu/%zu files  %.1f/%.1f MiB%s", bar, pct, p->done_files, p->files,
            (double)p->done / 1048576.0, (double)p->total / 1048576.0, final ? "\n" : "");
    fflush(p->err);
}

/* ---- one file -------------------------------------------------------------------- */

static int push_nonce(uint8_t **nonces, uint64_t *n, uint64_t *cap, const uint8_t *nonce)
{
    if (*n == *cap) {
        uint64_t nc = *cap ? *cap * 2 : 64;
        uint8_t *g = realloc(*nonces, nc * C4GH_NONCE_SIZE);
        if (!g)
            return -1;
        *nonces = g;
        *cap = nc;
    }
    memcpy(*nonces + *n * C4GH_NONCE_SIZE, nonce, C4GH_NONCE_SIZE);
    (*n)++;
    return 0;
}

/* Copies (and unless --no-verify, authenticates) the payload of an archive
 * delivery segment by segment. */
static int copy_payload(struct import *im, const struct c4gh_header *h, int in, int out, const char *name,
                        struct kura_segmap *map, uint64_t *raw_plain, struct kura_err *e)
{
    uint8_t *cipher = malloc(C4GH_CIPHER_SEGMENT_SIZE);
    uint8_t *plain = im->no_verify ? NULL : kura_secure_alloc(C4GH_SEGMENT_SIZE);
    uint64_t cap = 0;
    int rc = -1;
    if (!cipher || (!im->no_verify && !plain)) {
        kura_err_set(e, ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = kura_read_full(in, cipher, C4GH_CIPHER_SEGMENT_SIZE);
        if (n < 0) {
            kura_err_set(e, errno, "read %s: %s", name, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        if ((size_t)n <= C4GH_NONCE_SIZE + C4GH_MAC_SIZE) {
            kura_err_set(e, EIO, "%s: payload ends in a cut segment (%zd bytes)", name, n);
            goto out;
        }
        size_t plen;
        if (plain && c4gh_segment_decrypt(h, map->nsegments, cipher, (size_t)n, plain, &plen, e) != 0) {
            kura_err_prefix(e, "%s", name);
            goto out;
        }
        if (push_nonce(&map->nonces, &map->nsegments, &cap, cipher) != 0) {
            kura_err_set(e, ENOMEM, "out of memory");
            goto out;
        }
        if (kura_write_full(out, cipher, (size_t)n) != 0) {
            kura_err_set(e, errno, "write to the store: %s", strerror(errno));
            goto out;
        }
        map->payload_len += (uint64_t)n;
        im->prog.done += (uint64_t)n;
        progress_show(&im->prog, false);
        if ((size_t)n < C4GH_CIPHER_SEGMENT_SIZE)
            break;
    }
    rc = c4gh_payload_plain_size(map->payload_len, raw_plain, e);
    if (rc != 0)
        kura_err_prefix(e, "%s", name);
out:
    free(cipher);
    kura_secure_free(plain);
    return rc;
}

/* Encrypts plaintext segment by segment; the plaintext only ever sits in
 * locked memory. */
static int encrypt_payload(struct import *im, const struct c4gh_header *h, int in, int out, const char *name,
                           struct kura_segmap *map, uint64_t *raw_plain, struct kura_err *e)
{
    uint8_t *plain = kura_secure_alloc(C4GH_SEGMENT_SIZE);
    uint8_t *cipher = malloc(C4GH_CIPHER_SEGMENT_SIZE);
    uint64_t cap = 0;
    int rc = -1;
    *raw_plain = 0;
    if (!plain || !cipher) {
        kura_err_set(e, ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = kura_read_full(in, plain, C4GH_SEGMENT_SIZE);
        if (n < 0) {
            kura_err_set(e, errno, "read %s: %s", name, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        c4gh_segment_encrypt(h->keys, plain, (size_t)n, cipher);
        size_t clen = (size_t)n + C4GH_NONCE_SIZE + C4GH_MAC_SIZE;
        if (push_nonce(&map->nonces, &map->nsegments, &cap, cipher) != 0) {
            kura_err_set(e, ENOMEM, "out of memory");
            goto out;
        }
        if (kura_write_full(out, cipher, clen) != 0) {
            kura_err_set(e, errno, "write to the store: %s", strerror(errno));
            goto out;
        }
        map->payload_len += clen;
        *raw_plain += (uint64_t)n;
        im->prog.done += (uint64_t)n;
        progress_show(&im->prog, false);
        if ((size_t)n < C4GH_SEGMENT_SIZE)
            break;
    }
    rc = 0;
out:
    kura_secure_free(plain);
    free(cipher);
    return rc;
}

static int tally_key(struct import *im, const struct kura_delivery_key *k, struct kura_err *e)
{
    for (size_t i = 0; i < im->nkeys; i++)
        if (strcmp(im->keys[i].fp, k->fp) == 0) {
            im->keys[i].files++;
            return 0;
        }
    if (im->nkeys == KURA_LEDGER_DELIVERY_KEYS_MAX) {
        kura_err_set(e, E2BIG, "deliveries to more than %d keys in one import", KURA_LEDGER_DELIVERY_KEYS_MAX);
        return -1;
    }
    struct kura_ledger_delivery_key *t = &im->keys[im->nkeys++];
    snprintf(t->role, sizeof t->role, "%s", k->role);
    memcpy(t->fp, k->fp, sizeof t->fp);
    t->files = 1;
    return 0;
}

static int import_one(struct import *im, const struct src *s, struct kura_file *f, struct kura_err *e)
{
    char *part = NULL, *final = NULL;
    int in = -1, out = -1, rc = -1;
    struct c4gh_header *h = NULL;
    uint8_t *raw = NULL, *hdr = NULL;
    size_t raw_len = 0, hdr_len = 0;
    struct kura_segmap map = {0};
    uint64_t raw_plain = 0;
    if (asprintf(&part, "%s/%s%s", im->store, s->file_id, KURA_PART_SUFFIX) < 0 ||
        asprintf(&final, "%s/%s", im->store, s->file_id) < 0) {
        part = final = NULL;
        kura_err_set(e, ENOMEM, "out of memory");
        goto out;
    }
    if (cmd_caller_enter(&im->caller, e) != 0)
        goto out;
    struct stat st;
    const char *base = NULL;
    int parent = open_parent(&im->plan, s->top, s->rel, s->path, &base);
    if (parent < 0)
        kura_err_set(e, errno, "%s: %s", s->path, strerror(errno));
    else {
        in = kura_open_regular_at(parent, base, s->path, s->top >= 0 ? O_NOFOLLOW : 0, &st, e);
        close(parent);
    }
    cmd_caller_leave(&im->caller);
    if (in < 0)
        goto out;
    if (st.st_dev != s->dev || st.st_ino != s->ino) {
        kura_err_set(e, EBUSY, "%s was replaced during the import (it is not the file found when it began); run the "
                               "import again", s->path);
        goto out;
    }
    out = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        kura_err_set(e, errno, "create %s: %s", part, strerror(errno));
        goto out;
    }
    if (im->encrypt) {
        if (c4gh_header_new(&h, NULL, 0, e) != 0 || encrypt_payload(im, h, in, out, s->path, &map, &raw_plain, e) != 0)
            goto out;
    } else {
        if (c4gh_header_read(in, &raw, &raw_len, e) != 0) {
            kura_err_prefix(e, "%s is not a Crypt4GH file (plaintext needs --encrypt)", s->path);
            goto out;
        }
        struct kura_delivery_key key;
        if (kura_keystore_open_delivery(im->ks, im->dk, raw, raw_len, &h, &key, e) != 0) {
            kura_err_prefix(e, "%s: its header does not open with this server's keys (neither dataset %s's delivery "
                            "key nor a server key; was it encrypted to the key kuractl pubkey %s prints?)", s->path,
                            im->dk->id, im->dk->id);
            goto out;
        }
        if (tally_key(im, &key, e) != 0)
            goto out;
        if (lseek(in, (off_t)raw_len, SEEK_SET) < 0) {
            kura_err_set(e, errno, "%s: %s", s->path, strerror(errno));
            goto out;
        }
        if (copy_payload(im, h, in, out, s->path, &map, &raw_plain, e) != 0)
            goto out;
    }
    if (close(out) != 0) {
        out = -1;
        kura_err_set(e, errno, "write %s: %s", part, strerror(errno));
        goto out;
    }
    out = -1;
    /* Only the dataset key opens the stored header. A withdrawn sample's
     * file gets none at all (R-REV-1): as if imported and then withdrawn,
     * with no moment in which it could be read. */
    if (!s->withdrawn && (c4gh_header_build(h, NULL, im->dk->pk, 1, &hdr, &hdr_len, e) != 0 ||
                          kura_keystore_file_store(im->dk, s->file_id, hdr, hdr_len, &map, false, e) != 0))
        goto out;
    if (rename(part, final) != 0) {
        kura_err_set(e, errno, "rename %s: %s", part, strerror(errno));
        goto out;
    }
    f->size = c4gh_visible_size(h, raw_plain);
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    c4gh_header_free(h);
    free(raw);
    free(hdr);
    kura_segmap_clear(&map);
    free(part);
    free(final);
    return rc;
}

/* Flushes everything the import wrote: one syncfs per filesystem instead of
 * three fsyncs per file. */
static int make_durable(struct import *im, struct kura_err *e)
{
    return kura_syncfs_dir(im->store, e) == 0 ? kura_keystore_sync(im->dk, e) : -1;
}

/* ---- the command ------------------------------------------------------------------ */

static int open_keys(struct import *im, const char *id, struct kura_err *e)
{
    bool owned;
    if (cmd_keystore_open(im->c, &im->ks, &owned, e) != 0)
        return -1;
    return kura_keystore_dataset_key(im->ks, id, &im->dk, e);
}

static void summary(const struct plan *p, char *buf, size_t len)
{
    int w = snprintf(buf, len, "%zu file(s), %llu bytes:", p->n, (unsigned long long)p->total);
    size_t used = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < p->n && used + 1 < len; i++) {
        size_t need = strlen(p->v[i].served) + 2;
        if (used + need + 8 >= len) {
            snprintf(buf + used, len - used, " ...");
            break;
        }
        used += (size_t)snprintf(buf + used, len - used, " %s", p->v[i].served);
    }
}

/* " (K of them of withdrawn samples, kept unserved without a key: PATH
 * ...)", or "" when no file is of a withdrawn sample. */
static void withdrawn_summary(const struct kura_dataset *ds, const struct kura_file *files, size_t n, char *buf,
                              size_t len)
{
    char list[320] = "";
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (kura_file_withdrawn(ds, &files[i])) {
            k++;
            cmd_append_word(list, sizeof list, files[i].path);
        }
    if (k)
        snprintf(buf, len, " (%zu of them of withdrawn samples, kept unserved without a key: %s)", k, list);
    else
        buf[0] = '\0';
}

/* Cuts s to what a ledger field holds, at a character boundary, marking
 * the cut: a long key list, samples path and file list must not make the
 * import's record fail. */
static void fit_ledger_field(char *s)
{
    size_t len = strlen(s);
    if (len <= KURA_LEDGER_FIELD_MAX)
        return;
    len = KURA_LEDGER_FIELD_MAX - 3;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--;
    memcpy(s + len, "...", 4);
}

/* Records in the ledger how many sources were removed: the import's own
 * record said only that removal follows. */
static void record_removal(struct import *im, size_t removed)
{
    const struct kura_cmd_ctx *c = im->c;
    struct cmd_txn t = {.lock_fd = -1};
    struct kura_err e = {0};
    char *ledger = cmd_dataset_file(c, im->dk->id, KURA_LEDGER_FILE);
    char actor[KURA_USER_MAX + 16], after[64];
    snprintf(after, sizeof after, "removed %zu of %zu", removed, im->plan.n);
    struct kura_ledger_change lc = {.actor = cmd_actor_name(c, actor, sizeof actor), .uid = c->actor->uid,
                                    .action = KURA_LEDGER_SOURCE_ACTION, .target = im->dk->id,
                                    .detail = "sources of the import before (--remove-source)", .before = "", .after = after};
    if (!ledger || cmd_txn_begin(c, im->dk->id, KURA_CMD_OPERATOR, CMD_TXN_DESTROYED_OK, &t) != 0 ||
        kura_ledger_append(ledger, &lc, cmd_now(), c->env->cfg->zone, NULL, &e) != 0)
        fprintf(c->err, "kuractl dataset import: warning: the ledger does not record the removal of the sources%s%s\n",
                e.msg[0] ? ": " : "", e.msg);
    cmd_txn_end(&t);
    free(ledger);
}

static void remove_sources(struct import *im)
{
    const struct kura_cmd_ctx *c = im->c;
    struct kura_err e = {0};
    size_t failed = 0;
    for (size_t i = 0; i < im->plan.n; i++) {
        if (cmd_caller_enter(&im->caller, &e) != 0) {
            failed++;
            continue;
        }
        const struct src *s = &im->plan.v[i];
        const char *base = NULL;
        int parent = open_parent(&im->plan, s->top, s->rel, s->path, &base);
        int r = -1;
        if (parent >= 0) {
            /* Only the file imported: not another one swapped in, nor one
             * reached through a link planted in its place. */
            if (still_there(parent, base, s->dev, s->ino))
                r = unlinkat(parent, base, 0);
            else
                errno = faccessat(parent, base, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? EBUSY : ENOENT;
        }
        int ue = errno;
        if (parent >= 0)
            close(parent);
        cmd_caller_leave(&im->caller);
        if (r != 0 && ue != ENOENT) {
            fputs(ue == EBUSY ? "kuractl dataset import: did not remove source "
                              : "kuractl dataset import: could not remove source ", c->err);
            kura_text_put_escaped(c->err, s->path, strlen(s->path));
            fprintf(c->err, ": %s\n", ue == EBUSY ? "it is not the file imported" : strerror(ue));
            failed++;
        }
    }
    /* Emptied directories, deepest first; ones still holding anything stay. */
    for (size_t i = im->plan.ndirs; i-- > 0;) {
        if (cmd_caller_enter(&im->caller, &e) != 0)
            break;
        const struct pdir *d = &im->plan.dirs[i];
        const char *base = NULL;
        int parent = open_parent(&im->plan, d->top, d->rel, d->path, &base);
        if (parent >= 0) {
            if (still_there(parent, base, d->dev, d->ino))
                unlinkat(parent, base, AT_REMOVEDIR);
            close(parent);
        }
        cmd_caller_leave(&im->caller);
    }
    if (failed)
        fprintf(c->err, "kuractl dataset import: the import is complete, but %zu source file(s) remain\n", failed);
    record_removal(im, im->plan.n - failed);
}

/* One run of the change: the request, the import's working state, and
 * what each step leaves to the next and to the one cleanup. */
struct import_run {
    const struct kura_import_request *rq;
    struct import im;
    struct kura_sample_map sm;
    bool have_sm;
    struct kura_file *fresh;    /* files.tsv's new rows, one per plan entry */
    char *lock;                 /* STATE/datasets/<ID>/.import-lock */
    int lock_fd;
    bool committed;             /* files.tsv names the new files */
    struct kura_import_result *res;
};

/* 0. Who asks, before any source is read, and the request as the command
 * line's is checked: KURA_EXIT_OK, or KURA_EXIT_FAIL (said). The dataset's
 * role and state are checked as the plan's change begins. */
static int import_check(const struct kura_cmd_ctx *c, const struct kura_import_request *rq)
{
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_err e = {0};
    if (kura_id_check(rq->dataset, "dataset id", &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (rq->encrypt && rq->no_verify)
        return cmd_fail(c, "--no-verify applies to .c4gh files, not to --encrypt");
    if (!rq->npaths)
        return cmd_fail(c, "nothing to import (no paths given)");
    if (rq->samples_path && cmd_caller_path_check(c, "--samples", rq->samples_path, &e) != 0)
        return cmd_fail_err(c, &e);
    return KURA_EXIT_OK;
}

/* 1.-3. The plan: what to import, checked before anything is written; the
 * import lock (one import per dataset; other changes go on meanwhile); and,
 * under it, what files.tsv names now, minus leftovers of an interrupted
 * import. KURA_EXIT_OK, or KURA_EXIT_FAIL (said). */
static int import_plan(const struct kura_cmd_ctx *c, struct import_run *r)
{
    const struct kura_import_request *rq = r->rq;
    struct import *im = &r->im;
    struct kura_err e = {0};
    struct cmd_txn t;
    if (cmd_caller_init(c, &im->caller, &e) != 0 || collect(im, rq->npaths, rq->paths, &e) != 0)
        goto fail;
    if (rq->samples_path) {
        if (cmd_caller_enter(&im->caller, &e) != 0)
            goto fail;
        int sr = kura_samples_load(rq->samples_path, &r->sm, &e);
        cmd_caller_leave(&im->caller);
        if (sr != 0)
            goto fail;
        r->have_sm = true;
    }
    if (new_entries(im, r->have_sm ? &r->sm : NULL, &r->fresh, &e) != 0)
        goto fail;
    if (!(r->lock = cmd_dataset_file(c, rq->dataset, KURA_IMPORT_LOCK)) || !(im->store = cmd_store_dir(c, rq->dataset))) {
        kura_err_set(&e, ENOMEM, "out of memory");
        goto fail;
    }
    /* The role and a destroyed dataset, before taking the import lock. */
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, CMD_TXN_FILES, &t) != 0)
        return KURA_EXIT_FAIL;
    cmd_txn_end(&t);
    if ((r->lock_fd = kura_lock(r->lock, 0, &e)) < 0) {
        if (e.code == EAGAIN)
            kura_err_set(&e, EAGAIN, "another import into dataset %s is running; wait for it", rq->dataset);
        goto fail;
    }
    if (open_keys(im, rq->dataset, &e) != 0 || kura_mkdir_p(im->store, 0700, &e) != 0)
        goto fail;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, CMD_TXN_FILES, &t) != 0)
        return KURA_EXIT_FAIL;
    int checked = check_plan(im, &t.ds, t.files, t.nfiles, r->have_sm ? &r->sm : NULL, r->fresh, &e);
    for (size_t i = 0; i < im->plan.n; i++)
        im->plan.v[i].withdrawn = kura_file_withdrawn(&t.ds, &r->fresh[i]);
    if (checked == 0)
        checked = clean_orphans(im, t.files, t.nfiles, &e);
    cmd_txn_end(&t);
    if (checked == 0)
        return KURA_EXIT_OK;
fail:
    return cmd_fail_err(c, &e);
}

/* 4. The work, with nothing visible yet: payloads, headers and maps under
 * fresh file ids, made durable. KURA_EXIT_OK, or KURA_EXIT_FAIL (said,
 * what was written discarded). */
static int import_apply(const struct kura_cmd_ctx *c, struct import_run *r)
{
    struct import *im = &r->im;
    struct kura_err e = {0};
    im->prog = (struct progress){.on = isatty(fileno(c->err)) == 1, .err = c->err, .files = im->plan.n,
                                 .total = im->plan.total};
    size_t done;
    for (done = 0; done < im->plan.n; done++) {
        if (import_one(im, &im->plan.v[done], &r->fresh[done], &e) != 0) {
            done++;
            goto discard_written;
        }
        im->prog.done_files = done + 1;
        progress_show(&im->prog, false);
    }
    if (make_durable(im, &e) != 0)
        goto discard_written;
    progress_show(&im->prog, true);
    return KURA_EXIT_OK;
discard_written:
    progress_show(&im->prog, true);
    cmd_fail_err(c, &e);
    discard(im, done);
    return KURA_EXIT_FAIL;
}

/* 5. The commit: files.tsv names the new files, with the ledger record
 * (r->committed); then the keys of files withdrawn while the import ran go.
 * KURA_EXIT_OK, or KURA_EXIT_FAIL (said; before the commit what was
 * written is discarded, after it the journal decides). */
static int import_record(const struct kura_cmd_ctx *c, struct import_run *r)
{
    const struct kura_import_request *rq = r->rq;
    struct import *im = &r->im;
    struct kura_err e = {0};
    struct cmd_txn t;
    if (cmd_txn_begin(c, rq->dataset, KURA_CMD_OPERATOR, CMD_TXN_FILES, &t) != 0)
        goto discard_written;
    bool nomem;
    const char *dup = first_present(t.files, t.nfiles, r->fresh, im->plan.n, &nomem);
    if (nomem || dup) {
        if (nomem)
            cmd_fail(c, "out of memory");
        else
            cmd_fail(c, "%s was added to dataset %s during the import", dup, rq->dataset);
        goto discard_written;
    }
    /* dataset.ini as of now: a withdrawal recorded during the import counts. */
    withdrawn_summary(&t.ds, r->fresh, im->plan.n, r->res->withdrawn, sizeof r->res->withdrawn);
    size_t nold = t.nfiles;
    struct kura_file *all = realloc(t.files, (t.nfiles + im->plan.n) * sizeof *all);
    if (!all) {
        cmd_fail(c, "out of memory");
        goto discard_written;
    }
    t.files = all;
    memcpy(t.files + t.nfiles, r->fresh, im->plan.n * sizeof *r->fresh);
    t.nfiles += im->plan.n;
    free(r->fresh);    /* its contents now belong to t.files */
    r->fresh = NULL;
    char after[900], detail[2 * KURA_LEDGER_FIELD_MAX], keys[KURA_LEDGER_FIELD_MAX - 100];
    summary(&im->plan, after, sizeof after);
    if (!rq->encrypt &&
        kura_ledger_delivery_format(im->keys, im->nkeys, rq->remove_source, keys, sizeof keys, &e) != 0) {
        cmd_fail_err(c, &e);
        goto discard_written;
    }
    snprintf(detail, sizeof detail, "%s%s%s%s%s", rq->encrypt ? "encrypted from plaintext" : keys,
             rq->no_verify ? ", segments not verified" : "", r->have_sm ? ", samples from " : ", no samples map",
             r->have_sm ? rq->samples_path : "", r->res->withdrawn);
    fit_ledger_field(detail);
    struct cmd_change ch = {.action = "dataset-import", .target = rq->dataset, .after = after, .detail = detail,
                            .audit_event = KURA_AUDIT_IMPORT};
    if (cmd_txn_commit(c, &t, false, true, &ch) != 0) {
        /* The journal decides: the next transaction keeps or drops it. */
        cmd_txn_end(&t);
        return KURA_EXIT_FAIL;
    }
    r->committed = true;
    int rc = KURA_EXIT_OK;
    /* Withdrawn while this import ran: its key was stored, now it goes. */
    for (size_t i = 0; i < im->plan.n; i++)
        if (!im->plan.v[i].withdrawn && kura_file_withdrawn(&t.ds, &t.files[nold + i]) &&
            kura_keystore_file_destroy(c->env->cfg->keys_dir, rq->dataset, im->plan.v[i].file_id, &e) != 0) {
            cmd_fail(c, "%s is of a sample withdrawn during the import and is not served, but destroying its key "
                     "failed: %s; run kuractl withdraw %s SAMPLE again", t.files[nold + i].path, e.msg, rq->dataset);
            rc = KURA_EXIT_FAIL;
        }
    cmd_txn_end(&t);
    return rc;
discard_written:
    cmd_txn_end(&t);
    discard(im, im->plan.n);
    return KURA_EXIT_FAIL;
}

/* 6. After the commit: what was imported, its warnings, and the sources
 * removed if asked. */
static void import_finish(const struct kura_cmd_ctx *c, struct import_run *r)
{
    const struct kura_import_request *rq = r->rq;
    r->res->nfiles = r->im.plan.n;
    r->res->bytes = r->im.plan.total;
    if (r->res->withdrawn[0])
        fprintf(c->err, "kuractl dataset import: warning: files of withdrawn samples were imported but will not be "
                        "served:%s\n", r->res->withdrawn);
    if (!r->have_sm)
        fprintf(c->err, "kuractl dataset import: warning: no --samples map: these files name no sample, so a consent "
                        "withdrawal cannot find them (kuractl user list and status show \"no sample map\" while "
                        "no file of dataset %s names a sample)\n", rq->dataset);
    if (rq->remove_source)
        remove_sources(&r->im);
}

/* The one cleanup, whatever step the run reached. */
static void import_run_free(const struct kura_cmd_ctx *c, struct import_run *r)
{
    struct import *im = &r->im;
    kura_unlock(r->lock_fd);
    if (r->fresh)
        kura_files_free(r->fresh, im->plan.n);
    if (r->have_sm)
        kura_samples_free(&r->sm);
    kura_dskey_free(im->dk);
    if (im->ks && im->ks != c->env->ks)
        kura_keystore_close(im->ks);
    cmd_caller_free(&im->caller);
    plan_free(&im->plan);
    free(im->store);
    free(r->lock);
}

const struct kura_cmd cmd_row_dataset_import = {"dataset", "import", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_import,
    "ID [--samples FILE.tsv] [--remove-source] [--encrypt] [--no-verify] PATH...",
    "Imports .c4gh files encrypted to the dataset's delivery key or a server key (each header\n"
    "must open, every segment is\n"
    "verified unless --no-verify), or plaintext files with --encrypt (encrypted straight into\n"
    "the store: no plaintext copy). A directory PATH is imported with its relative paths; a\n"
    ".c4gh suffix is dropped. --samples maps paths to sample ids (path<TAB>sample_id). The\n"
    "import is all or nothing; an interrupted one is simply run again. --remove-source deletes\n"
    "the sources once the whole import is durable. A path already in the dataset is refused."};

/* check -> plan -> apply -> record -> finish, one cleanup. */
int kura_change_import(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const struct kura_import_request *rq, struct kura_import_result *res)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_dataset_import);
    memset(res, 0, sizeof *res);
    struct import_run r = {.rq = rq, .lock_fd = -1, .res = res,
                           .im = {.c = c, .encrypt = rq->encrypt, .no_verify = rq->no_verify}};
    int rc = import_check(c, rq);
    if (rc == KURA_EXIT_OK)
        rc = import_plan(c, &r);
    if (rc == KURA_EXIT_OK)
        rc = import_apply(c, &r);
    if (rc == KURA_EXIT_OK)
        rc = import_record(c, &r);
    if (r.committed)
        import_finish(c, &r);
    res->committed = r.committed;
    import_run_free(c, &r);
    return rc;
}

int cmd_dataset_import(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    struct kura_import_request rq = {0};
    const struct cmd_opt opts[] = {{"samples", true, &rq.samples_path, NULL},
                                   {"remove-source", false, NULL, &rq.remove_source},
                                   {"encrypt", false, NULL, &rq.encrypt},
                                   {"no-verify", false, NULL, &rq.no_verify},
                                   {0}};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos)
        return cmd_fail(c, "out of memory");
    int npos = 0, rc = KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (cmd_parse(c, argc, argv, opts, pos, 2, argc, &npos) != 0)
        goto out;
    if (rq.encrypt && rq.no_verify) {
        cmd_usage(c, "--no-verify applies to .c4gh files, not to --encrypt");
        goto out;
    }
    if (kura_id_check(pos[0], "dataset id", &e) != 0) {
        cmd_usage(c, "%s", e.msg);
        goto out;
    }
    rq.dataset = pos[0];
    rq.paths = (const char *const *)(pos + 1);
    rq.npaths = (size_t)npos - 1;
    struct kura_import_result res;
    rc = kura_change_import(c->env, c->actor, c->err, &rq, &res);
    /* Said once the files are committed, even if a later step failed. */
    if (res.committed) {
        fprintf(c->out, "imported %zu file(s) (%.1f MiB) into dataset %s", res.nfiles,
                (double)res.bytes / 1048576.0, rq.dataset);
        /* It names files, as the delivery named them: escaped. */
        kura_text_put_escaped(c->out, res.withdrawn, strlen(res.withdrawn));
        fputc('\n', c->out);
    }
out:
    free(pos);
    return rc;
}
