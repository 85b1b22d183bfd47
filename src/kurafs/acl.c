/* getfacl on a dataset shows who may read it: the PI and every user whose
 * grant holds now (not a grant awaiting the PI's approval, nor a uid now
 * given to another account), built with libacl and encoded as the kernel's
 * system.posix_acl_access value. */
#include <acl/libacl.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/acl.h>

#include "kurafs.h"

/* linux/posix_acl_xattr.h, little-endian on disk and on the wire */
#define XATTR_ACL_VERSION 0x0002u
struct xattr_acl_entry {
    uint16_t tag;
    uint16_t perm;
    uint32_t id;
};

static int add_entry(acl_t *acl, acl_tag_t tag, const uid_t *id, bool read, bool exec)
{
    acl_entry_t e;
    acl_permset_t ps;
    if (acl_create_entry(acl, &e) != 0 || acl_set_tag_type(e, tag) != 0)
        return -1;
    if (id && acl_set_qualifier(e, id) != 0)
        return -1;
    if (acl_get_permset(e, &ps) != 0 || acl_clear_perms(ps) != 0)
        return -1;
    if ((read && acl_add_perm(ps, ACL_READ) != 0) || (exec && acl_add_perm(ps, ACL_EXECUTE) != 0))
        return -1;
    return acl_set_permset(e, ps);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct xattr_acl_entry *x = a, *y = b;
    if (x->tag != y->tag)
        return x->tag < y->tag ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The kernel wants entries sorted by tag, then id. */
static int encode(acl_t acl, char *buf, size_t size)
{
    struct xattr_acl_entry entries[KURA_ACL_MAX_ENTRIES];
    size_t n = 0;
    acl_entry_t e;
    for (int r = acl_get_entry(acl, ACL_FIRST_ENTRY, &e); r == 1; r = acl_get_entry(acl, ACL_NEXT_ENTRY, &e)) {
        if (n == KURA_ACL_MAX_ENTRIES)
            return -E2BIG;
        acl_tag_t tag;
        acl_permset_t ps;
        if (acl_get_tag_type(e, &tag) != 0 || acl_get_permset(e, &ps) != 0)
            return -EIO;
        uint32_t id = UINT32_MAX; /* ACL_UNDEFINED_ID */
        if (tag == ACL_USER) {
            uid_t *q = acl_get_qualifier(e);
            if (!q)
                return -EIO;
            id = *q;
            acl_free(q);
        }
        entries[n++] = (struct xattr_acl_entry){
            .tag = (uint16_t)tag,
            .perm = (uint16_t)((acl_get_perm(ps, ACL_READ) == 1 ? 4 : 0) |
                               (acl_get_perm(ps, ACL_EXECUTE) == 1 ? 1 : 0)),
            .id = id,
        };
    }
    qsort(entries, n, sizeof entries[0], cmp_entry);
    size_t need = 4 + n * 8;
    if (size == 0)
        return (int)need;
    if (size < need)
        return -ERANGE;
    unsigned char *p = (unsigned char *)buf;
    uint32_t v = XATTR_ACL_VERSION;
    memcpy(p, &v, 4);
    for (size_t i = 0; i < n; i++)
        memcpy(p + 4 + i * 8, &entries[i], 8); /* x86/ARM little-endian hosts */
    return (int)need;
}

/* Served to uid as its account is now: the mount's own tests (issue 13). */
static bool listed_now(const struct kurafs *fs, const struct kura_dataset *ds, uid_t uid)
{
    if (uid != 0 && (uid < fs->login_uid_min || uid > fs->login_uid_max))
        return false;
    char name[KURA_USER_MAX + 1];
    kurafs_uid_name(fs, uid, name, sizeof name);
    return kura_policy_listing(ds, uid, name) == KURA_ALLOW;
}

int kurafs_dataset_acl(const struct kurafs *fs, const struct kura_dataset *ds, int64_t now, char *buf,
                       size_t size)
{
    if (ds->ngrants + 4 > KURA_ACL_MAX_ENTRIES)
        return -E2BIG;
    acl_t acl = acl_init((int)ds->ngrants + 5);
    if (!acl)
        return -ENOMEM;
    int rc = -EIO;
    if (add_entry(&acl, ACL_USER_OBJ, NULL, false, false) != 0 ||
        add_entry(&acl, ACL_GROUP_OBJ, NULL, false, false) != 0 ||
        add_entry(&acl, ACL_OTHER, NULL, false, false) != 0)
        goto out;
    if (now >= ds->from && now < ds->until && listed_now(fs, ds, ds->pi_uid) &&
        add_entry(&acl, ACL_USER, &ds->pi_uid, true, true) != 0)
        goto out;
    for (size_t i = 0; i < ds->ngrants; i++) {
        const struct kura_grant *g = &ds->grants[i];
        if (g->uid == ds->pi_uid || now < g->from || now >= g->until || !listed_now(fs, ds, g->uid))
            continue;
        if (add_entry(&acl, ACL_USER, &g->uid, true, true) != 0)
            goto out;
    }
    if (acl_calc_mask(&acl) != 0 || acl_valid(acl) != 0)
        goto out;
    rc = encode(acl, buf, size);
out:
    acl_free(acl);
    return rc;
}
