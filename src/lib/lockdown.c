#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/dsfile.h"
#include "kura/fsutil.h"
#include "kura/json.h"
#include "kura/lockdown.h"

#define LOCKDOWN_MAX 4096
/* The "state" of the record an unlock leaves in cluster mode. */
#define UNLOCKED "unlocked"

static char *lockdown_path(const char *state_dir)
{
    return kura_layout_join(state_dir, KURA_LOCKDOWN_FILE);
}

int kura_lockdown_load(const char *state_dir, struct kura_lockdown *l, struct kura_err *err)
{
    memset(l, 0, sizeof *l);
    char *path = lockdown_path(state_dir), *text = NULL;
    size_t len = 0;
    struct kura_json_object obj;
    memset(&obj, 0, sizeof obj);
    int rc = -1;
    l->on = true;   /* until the file says otherwise: fail closed */
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    if (kura_read_file(path, LOCKDOWN_MAX, &text, &len, err) != 0) {
        if (err && err->code == ENOENT) {
            l->on = false;
            rc = 0;
        }
        goto out;
    }
    if (kura_json_parse_object(text, len, &obj, err) != 0) {
        kura_err_prefix(err, "%s", path);
        goto out;
    }
    const struct kura_json_field *reason = kura_json_find(&obj, "reason"), *at = kura_json_find(&obj, "at"),
                                 *by = kura_json_find(&obj, "by"), *epoch = kura_json_find(&obj, "epoch"),
                                 *state = kura_json_find(&obj, "state");
    /* Only the exact unlocked record unlocks; any other state is a lockdown. */
    bool unlocked = state && state->type == KURA_JSON_STRING && strcmp(state->str, UNLOCKED) == 0;
    if ((!unlocked && (!reason || reason->type != KURA_JSON_STRING)) || !at || at->type != KURA_JSON_INT || !by ||
        by->type != KURA_JSON_STRING || (epoch && (epoch->type != KURA_JSON_INT || epoch->num < 0))) {
        kura_err_set(err, EINVAL, "%s: needs \"reason\" (or \"state\":\"" UNLOCKED "\"), \"at\" and \"by\", "
                     "and \"epoch\" a number if present", path);
        goto out;
    }
    l->on = !unlocked;
    l->epoch = epoch ? epoch->num : 0;
    if (reason && reason->type == KURA_JSON_STRING)
        snprintf(l->reason, sizeof l->reason, "%s", reason->str);
    snprintf(l->by, sizeof l->by, "%s", by->str);
    l->at = at->num;
    rc = 0;
out:
    kura_json_object_free(&obj);
    free(text);
    free(path);
    return rc;
}

/* Removes the ".lockdown.tmp-*" a writer killed before its rename left
 * behind (fsutil.h); the callers hold the lockdown lock, so no live writer
 * owns one. */
static void remove_stale_temporaries(const char *state_dir)
{
    static const char prefix[] = "." KURA_LOCKDOWN_FILE ".tmp-";
    DIR *d = opendir(state_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, sizeof prefix - 1) == 0)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

int kura_lockdown_save(const char *state_dir, const struct kura_lockdown *l, struct kura_err *err)
{
    remove_stale_temporaries(state_dir);
    char buf[1024];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    if (l->on)
        kura_json_add_string(&w, "reason", l->reason);
    else
        kura_json_add_string(&w, "state", UNLOCKED);
    kura_json_add_int(&w, "at", l->at);
    kura_json_add_string(&w, "by", l->by);
    if (l->epoch > 0)
        kura_json_add_int(&w, "epoch", l->epoch);
    size_t len;
    if (kura_json_end(&w, &len, err) != 0)
        return -1;
    buf[len++] = '\n';
    char *path = lockdown_path(state_dir);
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    int rc = kura_write_file_atomic(path, buf, len, KURA_STATE_FILE_MODE, err);
    free(path);
    return rc;
}

int kura_lockdown_clear(const char *state_dir, struct kura_err *err)
{
    char *path = lockdown_path(state_dir);
    if (!path) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    remove_stale_temporaries(state_dir);
    int rc = 0;
    if (unlink(path) != 0 && errno != ENOENT) {
        kura_err_set(err, errno, "remove %s: %s", path, strerror(errno));
        rc = -1;
    } else
        rc = kura_fsync_dir(state_dir, err);
    free(path);
    return rc;
}
