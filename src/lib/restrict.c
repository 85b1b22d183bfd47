/* Restrictions (include/kura/restrict.h): their payload, and the table a
 * node holds them in. Pure.
 *
 * A payload is one line of space-separated words, each field at a fixed
 * place (ids and user names hold no spaces):
 *   v1 restrict PID EPOCH user DATASET UID NAME
 *   v1 restrict PID EPOCH sample DATASET SAMPLE
 *   v1 restrict PID EPOCH dataset DATASET
 *   v1 restrict PID EPOCH all
 *   v1 lift PID
 * Numbers are decimal without sign or leading zeros. Anything else is
 * refused whole. */
#include <stdio.h>
#include <string.h>

#include "kura/restrict.h"
#include "kura/text.h"

#define WORDS_MAX 8

static const char *const kind_names[] = {
    [KURA_RESTRICT_USER] = "user",
    [KURA_RESTRICT_SAMPLE] = "sample",
    [KURA_RESTRICT_DATASET] = "dataset",
    [KURA_RESTRICT_ALL] = "all",
};

/* The fields a kind carries after "v1 restrict PID EPOCH KIND". */
static size_t kind_fields(enum kura_restrict_kind k)
{
    return k == KURA_RESTRICT_USER ? 3 : k == KURA_RESTRICT_SAMPLE ? 2 : k == KURA_RESTRICT_DATASET ? 1 : 0;
}

static bool valid(const struct kura_restriction *r)
{
    if ((unsigned)r->kind > KURA_RESTRICT_ALL || r->sender_pid <= 0 || r->sender_pid > INT32_MAX || r->epoch < 0)
        return false;
    if (r->kind != KURA_RESTRICT_ALL && kura_id_check(r->dataset, "dataset id", NULL) != 0)
        return false;
    if (r->kind == KURA_RESTRICT_USER &&
        (kura_user_name_check(r->user, NULL) != 0 || r->uid == (uid_t)-1))
        return false;
    return r->kind != KURA_RESTRICT_SAMPLE || kura_id_check(r->sample, "sample id", NULL) == 0;
}

int kura_restrict_format(const struct kura_restrict_notice *n, char *buf, size_t len)
{
    int w;
    const struct kura_restriction *r = &n->r;
    if (n->lift) {
        if (r->sender_pid <= 0 || r->sender_pid > INT32_MAX)
            return -1;
        w = snprintf(buf, len, "v1 lift %lld", (long long)r->sender_pid);
    } else {
        if (!valid(r))
            return -1;
        w = snprintf(buf, len, "v1 restrict %lld %lld %s", (long long)r->sender_pid, (long long)r->epoch,
                     kind_names[r->kind]);
        if (w > 0 && (size_t)w < len && r->kind != KURA_RESTRICT_ALL)
            w += snprintf(buf + w, len - (size_t)w, " %s", r->dataset);
        if (w > 0 && (size_t)w < len && r->kind == KURA_RESTRICT_USER)
            w += snprintf(buf + w, len - (size_t)w, " %lu %s", (unsigned long)r->uid, r->user);
        if (w > 0 && (size_t)w < len && r->kind == KURA_RESTRICT_SAMPLE)
            w += snprintf(buf + w, len - (size_t)w, " %s", r->sample);
    }
    return w > 0 && (size_t)w < len && (size_t)w < KURA_RESTRICT_PAYLOAD_MAX ? w : -1;
}

/* A decimal number without sign or leading zero, at most max. */
static bool number(const char *s, int64_t max, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 18 || (s[0] == '0' && n > 1))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static bool copy_word(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

static int parse(char *text, struct kura_restrict_notice *n)
{
    char *word[WORDS_MAX];
    size_t k = 0;
    /* Exactly one space between words: none leading, trailing or doubled. */
    for (char *p = text;;) {
        if (k == WORDS_MAX || *p == '\0' || *p == ' ')
            return -1;
        word[k++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            break;
        *sp = '\0';
        p = sp + 1;
    }
    if (k < 3 || strcmp(word[0], "v1") != 0)
        return -1;
    struct kura_restriction *r = &n->r;
    if (strcmp(word[1], "lift") == 0) {
        n->lift = true;
        return k == 3 && number(word[2], INT32_MAX, &r->sender_pid) && r->sender_pid > 0 ? 0 : -1;
    }
    if (k < 5 || strcmp(word[1], "restrict") != 0 || !number(word[2], INT32_MAX, &r->sender_pid) ||
        !number(word[3], INT64_MAX, &r->epoch))
        return -1;
    size_t kind = 0;
    while (kind <= KURA_RESTRICT_ALL && strcmp(word[4], kind_names[kind]) != 0)
        kind++;
    if (kind > KURA_RESTRICT_ALL || k != 5 + kind_fields((enum kura_restrict_kind)kind))
        return -1;
    r->kind = (enum kura_restrict_kind)kind;
    int64_t uid = 0;
    if (r->kind != KURA_RESTRICT_ALL && !copy_word(r->dataset, sizeof r->dataset, word[5]))
        return -1;
    if (r->kind == KURA_RESTRICT_USER && (!number(word[6], (int64_t)(uid_t)-1 - 1, &uid) ||
                                          !copy_word(r->user, sizeof r->user, word[7])))
        return -1;
    r->uid = (uid_t)uid;
    if (r->kind == KURA_RESTRICT_SAMPLE && !copy_word(r->sample, sizeof r->sample, word[6]))
        return -1;
    return valid(r) ? 0 : -1;
}

int kura_restrict_parse(const char *payload, struct kura_restrict_notice *n)
{
    char text[KURA_RESTRICT_PAYLOAD_MAX];
    memset(n, 0, sizeof *n);
    if (!payload || !copy_word(text, sizeof text, payload) || parse(text, n) != 0) {
        memset(n, 0, sizeof *n);
        return -1;
    }
    return 0;
}

bool kura_restrict_matches(const struct kura_restriction *r, const char *dataset, uid_t uid,
                           const struct kura_file *f)
{
    if (r->kind == KURA_RESTRICT_ALL)
        return true;
    if (!dataset || strcmp(r->dataset, dataset) != 0)
        return false;
    switch (r->kind) {
    case KURA_RESTRICT_DATASET:
        return true;
    case KURA_RESTRICT_USER:
        return uid == r->uid;
    case KURA_RESTRICT_SAMPLE:
        for (size_t i = 0; f && f->samples && i < f->nsamples; i++)
            if (f->samples[i] && strcmp(f->samples[i], r->sample) == 0)
                return true;
        return false;
    default:
        return true;    /* a kind this code does not know: refuse */
    }
}

bool kura_restrict_hold(struct kura_restrict_table *t, const struct kura_restriction *r)
{
    if (t->n == KURA_RESTRICT_HELD_MAX) {
        t->overflow = true;
        return false;
    }
    t->v[t->n++] = *r;
    return true;
}

bool kura_restrict_any(const struct kura_restrict_table *t, const char *dataset, uid_t uid,
                       const struct kura_file *f)
{
    if (t->overflow)
        return true;
    for (size_t i = 0; i < t->n; i++)
        if (kura_restrict_matches(&t->v[i], dataset, uid, f))
            return true;
    return false;
}

size_t kura_restrict_lift(struct kura_restrict_table *t, int64_t holder_pid, int64_t pending, int64_t latest,
                          int64_t applied)
{
    if (pending > 0 || applied < latest)
        return 0;
    size_t kept = 0, lifted = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].sender_pid == holder_pid)
            t->v[kept++] = t->v[i];
        else
            lifted++;
    }
    t->n = kept;
    if (t->overflow && holder_pid == 0) {
        t->overflow = false;
        lifted++;
    }
    return lifted;
}

void kura_restrict_describe(const struct kura_restriction *r, char *buf, size_t len)
{
    switch (r->kind) {
    case KURA_RESTRICT_USER:
        snprintf(buf, len, "user %s (uid %lu) in %s", r->user, (unsigned long)r->uid, r->dataset);
        break;
    case KURA_RESTRICT_SAMPLE:
        snprintf(buf, len, "sample %s in %s", r->sample, r->dataset);
        break;
    case KURA_RESTRICT_DATASET:
        snprintf(buf, len, "dataset %s", r->dataset);
        break;
    default:
        snprintf(buf, len, "everything");
        break;
    }
}
