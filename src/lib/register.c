/* The operator register: group membership compared with the replayed
 * ledger, each difference one ledger record. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kura/fsutil.h"
#include "kura/layout.h"
#include "kura/register.h"

#define LOCK_WAIT_MS 5000

static int cmp_op(const void *a, const void *b)
{
    return strcmp(((const struct kura_operator *)a)->name, ((const struct kura_operator *)b)->name);
}

static struct kura_operator *find(struct kura_register *reg, const char *name)
{
    struct kura_operator key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return reg->n ? bsearch(&key, reg->ops, reg->n, sizeof *reg->ops, cmp_op) : NULL;
}

struct replay {
    struct kura_register *reg;
    kura_ledger_fn each;
    void *arg;
    bool oom;
};

static int replay_record(const struct kura_ledger_record *r, void *arg)
{
    struct replay *p = arg;
    struct kura_register *reg = p->reg;
    struct kura_operator *o = find(reg, r->target);
    if (strcmp(r->action, KURA_REGISTER_ADDED) == 0 && !o) {
        struct kura_operator *grown = realloc(reg->ops, (reg->n + 1) * sizeof *grown);
        if (!grown) {
            p->oom = true;
            return 1;
        }
        reg->ops = grown;
        o = &reg->ops[reg->n++];
        snprintf(o->name, sizeof o->name, "%s", r->target);
        snprintf(o->since, sizeof o->since, "%s", r->time);
        qsort(reg->ops, reg->n, sizeof *reg->ops, cmp_op);
    } else if (strcmp(r->action, KURA_REGISTER_REMOVED) == 0 && o) {
        size_t i = (size_t)(o - reg->ops);
        memmove(o, o + 1, (reg->n - i - 1) * sizeof *o);
        reg->n--;
    }
    reg->nrecords++;
    snprintf(reg->head, sizeof reg->head, "%s", r->hash);
    return p->each ? p->each(r, p->arg) : 0;
}

int kura_register_load(const char *state_dir, kura_ledger_fn each, void *arg, struct kura_register *reg,
                       struct kura_err *err)
{
    memset(reg, 0, sizeof *reg);
    memset(reg->head, '0', KURA_HASH_HEX_LEN);
    char *path = kura_layout_join(state_dir, KURA_OPERATORS_FILE);
    if (!path)
        return kura_err_set(err, ENOMEM, "out of memory"), -1;
    struct replay p = {.reg = reg, .each = each, .arg = arg};
    struct kura_err e = {0};
    int rc = kura_ledger_read(path, replay_record, &p, &e);
    free(path);
    if (rc != 0 && e.code == ENOENT && reg->nrecords == 0)
        return 0; /* none written yet */
    if (p.oom)
        kura_err_set(&e, ENOMEM, "out of memory");
    if (rc != 0) {
        *err = e;
        kura_register_free(reg);
        return -1;
    }
    return 0;
}

void kura_register_free(struct kura_register *reg)
{
    free(reg->ops);
    reg->ops = NULL;
    reg->n = 0;
}

/* The group's listed members now, sorted; none when the group is absent. */
static int members(const char *group, char ***names, size_t *n, struct kura_err *err)
{
    *names = NULL;
    *n = 0;
    for (size_t size = 16384; size <= (4u << 20); size *= 4) {
        char *buf = malloc(size);
        if (!buf)
            return kura_err_set(err, ENOMEM, "out of memory"), -1;
        struct group gr, *res = NULL;
        int e = getgrnam_r(group, &gr, buf, size, &res);
        if (e == ERANGE) {
            free(buf);
            continue;
        }
        int rc = 0;
        size_t count = 0;
        while (e == 0 && res && gr.gr_mem[count])
            count++;
        if (e != 0) {
            kura_err_set(err, e, "group %s: %s", group, strerror(e));
            rc = -1;
        } else if (count && !(*names = calloc(count, sizeof **names))) {
            rc = -1;
        }
        for (size_t i = 0; rc == 0 && i < count; i++)
            if (!((*names)[(*n)++] = strdup(gr.gr_mem[i])))
                rc = -1;
        if (rc != 0 && e == 0)
            kura_err_set(err, ENOMEM, "out of memory");
        free(buf);
        return rc;
    }
    return kura_err_set(err, ERANGE, "group %s is too large to read", group), -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void append_change(char **changes, const char *verb, const char *name)
{
    size_t old = *changes ? strlen(*changes) : 0;
    char *grown = realloc(*changes, old + strlen(verb) + strlen(name) + 4);
    if (!grown)
        return; /* the record is written; only its summary is short */
    sprintf(grown + old, "%s%s %s", old ? ", " : "", verb, name);
    *changes = grown;
}

/* Who observed a change, as the record names them. */
struct observer {
    const char *actor, *how;
    uid_t uid;
};

static int record(const char *path, const char *action, const char *name, const struct observer *o, int64_t now,
                  const struct kura_zone *zone, char **changes, struct kura_err *err)
{
    bool added = strcmp(action, KURA_REGISTER_ADDED) == 0;
    const struct kura_ledger_change ch = {.actor = o->actor, .uid = o->uid, .action = action, .target = name,
                                          .detail = o->how, .before = added ? "" : "member",
                                          .after = added ? "member" : ""};
    if (kura_ledger_append(path, &ch, now, zone, NULL, err) != 0)
        return -1;
    append_change(changes, added ? "added" : "removed", name);
    return 0;
}

int kura_register_observe(const char *state_dir, const char *group, const char *actor, uid_t uid, const char *how,
                          int64_t now, const struct kura_zone *zone, char **changes, struct kura_err *err)
{
    const struct observer o = {.actor = actor, .how = how ? how : "", .uid = uid};
    *changes = NULL;
    char *path = kura_layout_join(state_dir, KURA_OPERATORS_FILE);
    char *lock_path = kura_layout_join(state_dir, KURA_OPERATORS_LOCK);
    char **now_names = NULL;
    size_t nnow = 0;
    struct kura_register reg = {0};
    int rc = -1, lock = -1;
    if (!path || !lock_path) {
        kura_err_set(err, ENOMEM, "out of memory");
        goto out;
    }
    if ((lock = kura_lock(lock_path, LOCK_WAIT_MS, err)) < 0 || members(group, &now_names, &nnow, err) != 0 ||
        kura_register_load(state_dir, NULL, NULL, &reg, err) != 0)
        goto out;
    if (nnow)
        qsort(now_names, nnow, sizeof *now_names, cmp_str);
    rc = 0;
    for (size_t i = 0; rc == 0 && i < nnow; i++)
        if ((i == 0 || strcmp(now_names[i], now_names[i - 1]) != 0) && !find(&reg, now_names[i]))
            rc = record(path, KURA_REGISTER_ADDED, now_names[i], &o, now, zone, changes, err);
    for (size_t i = 0; rc == 0 && i < reg.n; i++)
        if (!nnow || !bsearch(&(char *){reg.ops[i].name}, now_names, nnow, sizeof *now_names, cmp_str))
            rc = record(path, KURA_REGISTER_REMOVED, reg.ops[i].name, &o, now, zone, changes, err);
out:
    if (lock >= 0)
        kura_unlock(lock);
    for (size_t i = 0; i < nnow; i++)
        free(now_names[i]);
    free(now_names);
    kura_register_free(&reg);
    free(path);
    free(lock_path);
    return rc;
}
