#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/clock.h"
#include "kura/dsfile.h"
#include "kura/json.h"
#include "kura/notify.h"
#include "kura/text.h"
#include "kura/when.h"

/* "dataset add" / "status" */
static void cmd_label(const struct kura_cmd_ctx *c, char *buf, size_t len)
{
    if (!c->cmd)
        snprintf(buf, len, "kuractl");
    else if (c->cmd->group)
        snprintf(buf, len, "kuractl %s %s", c->cmd->group, c->cmd->name);
    else
        snprintf(buf, len, "kuractl %s", c->cmd->name);
}

__attribute__((format(printf, 2, 0)))
static void vmessage(const struct kura_cmd_ctx *c, const char *fmt, va_list ap)
{
    char label[96], msg[1024];
    cmd_label(c, label, sizeof label);
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* One line: a newline inside (a user's text) would forge a second one. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    /* And no other control: a message may name a file another user named
     * (a PI's incoming directory, imported by root), whose escape
     * sequences would otherwise reach the terminal of whoever reads it. */
    fprintf(c->err, "%s: ", label);
    kura_text_put_escaped(c->err, msg, strlen(msg));
    fputc('\n', c->err);
}

int cmd_fail(const struct kura_cmd_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(c, fmt, ap);
    va_end(ap);
    return KURA_EXIT_FAIL;
}

int cmd_required_text(const struct kura_cmd_ctx *c, const char *text, const char *what)
{
    struct kura_err e = {0};
    if (!text || !text[0])
        cmd_fail(c, "%s is required", what);
    else if (kura_text_check(text, what, &e) != 0)
        cmd_fail_err(c, &e);
    else
        return 0;
    return -1;
}

int cmd_required_option(const struct kura_cmd_ctx *c, const char *value, const char *option, const char *what)
{
    struct kura_err e = {0};
    if (!value || !value[0])
        return what ? cmd_usage(c, "%s (%s) is required", option, what) : cmd_usage(c, "%s is required", option);
    if (kura_text_check(value, option, &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    return KURA_EXIT_OK;
}

int cmd_usage(const struct kura_cmd_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(c, fmt, ap);
    va_end(ap);
    char label[96];
    cmd_label(c, label, sizeof label);
    fprintf(c->err, "usage: %s %s (see %s --help)\n", label, c->cmd ? c->cmd->usage : "COMMAND", label);
    return KURA_EXIT_USAGE;
}

void cmd_append_word(char *buf, size_t len, const char *word)
{
    size_t used = strlen(buf);
    if (used + strlen(word) + 8 < len)
        snprintf(buf + used, len - used, "%s%s", used ? " " : "", word);
    else if (!strstr(buf, " ..."))
        snprintf(buf + used, len - used, " ...");
}

int cmd_json_item(const struct kura_cmd_ctx *c, struct kura_json_writer *w, bool first, const char *what)
{
    struct kura_err e = {0};
    if (kura_json_end(w, NULL, &e) != 0) {
        cmd_fail(c, "%s does not fit in JSON output: %s", what, e.msg);
        return -1;
    }
    fprintf(c->out, "%s%s", first ? "" : ",\n", w->buf);
    return 0;
}

int cmd_parse_id_user(const struct kura_cmd_ctx *c, int argc, char **argv, char *pos[2])
{
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 2, 2, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (kura_user_name_check(pos[1], &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    return KURA_EXIT_OK;
}

int cmd_fail_err(const struct kura_cmd_ctx *c, const struct kura_err *err)
{
    return cmd_fail(c, "%s", err->msg);
}

static const struct cmd_opt *find_opt(const struct cmd_opt *opts, const char *name, size_t len)
{
    for (const struct cmd_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

int cmd_parse(const struct kura_cmd_ctx *c, int argc, char **argv, const struct cmd_opt *opts, char **pos,
              int minpos, int maxpos, int *npos)
{
    int n = 0;
    bool only_pos = false;
    /* Which options were seen, so a repeated one is refused. */
    unsigned char seen[32] = {0};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1] != '\0') {
            if (a[1] != '-') {
                cmd_usage(c, "unknown option %s", a);
                return -1;
            }
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct cmd_opt *o = find_opt(opts, name, len);
            if (!o) {
                cmd_usage(c, "unknown option --%.*s", (int)(len > 60 ? 60 : len), name);
                return -1;
            }
            size_t idx = (size_t)(o - opts);
            if (idx < sizeof seen && seen[idx]++) {
                cmd_usage(c, "--%s given twice", o->name);
                return -1;
            }
            if (o->has_arg) {
                if (eq)
                    *o->value = eq + 1;
                else if (i + 1 < argc)
                    *o->value = argv[++i];
                else {
                    cmd_usage(c, "--%s needs a value", o->name);
                    return -1;
                }
            } else {
                if (eq) {
                    cmd_usage(c, "--%s takes no value", o->name);
                    return -1;
                }
                *o->flag = true;
            }
            continue;
        }
        if (n >= maxpos) {
            cmd_usage(c, "unexpected argument \"%.60s\"", a);
            return -1;
        }
        pos[n++] = argv[i];
    }
    if (n < minpos) {
        cmd_usage(c, "missing arguments");
        return -1;
    }
    *npos = n;
    return 0;
}

/* The audit records' clock: time() reads the last tick's, a second behind
 * for a few milliseconds after each second begins. */
int64_t cmd_now(void)
{
    return kura_clock_ms(CLOCK_REALTIME) / 1000;
}

int cmd_user_uid(const char *name, uid_t *uid, struct kura_err *err)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    int e = getpwnam_r(name, &pw, buf, sizeof buf, &res);
    if (e != 0 || !res) {
        kura_err_set(err, e ? e : ENOENT, "no user account named \"%s\" on this server%s%s", name,
                     e ? ": " : "", e ? strerror(e) : "");
        return -1;
    }
    *uid = res->pw_uid;
    return 0;
}

const char *cmd_time(const struct kura_cmd_ctx *c, int64_t t, char *buf, size_t len)
{
    if (kura_time_format(t, c->env->cfg->zone, buf, len) != 0)
        snprintf(buf, len, "@%lld", (long long)t);
    return buf;
}

const char *cmd_last_day(const struct kura_cmd_ctx *c, int64_t until, char *buf, size_t len)
{
    const struct kura_zone *tz = c->env->cfg->zone;
    char day[16];
    int64_t start;
    /* An end inside a day (--until with a time) is shown as that time: the
     * last day alone would hide when access ends. */
    if (kura_date_format(until, tz, day, sizeof day) == 0 && kura_when_parse(day, tz, &start, NULL, NULL) == 0 &&
        start != until)
        return cmd_time(c, until, buf, len);
    if (kura_date_format(until - 1, tz, buf, len) != 0)
        snprintf(buf, len, "@%lld", (long long)until);
    return buf;
}

long cmd_days_left(int64_t until, int64_t now)
{
    return now >= until ? 0 : (long)((until - now) / 86400);
}

const char *cmd_actor_name(const struct kura_cmd_ctx *c, char *buf, size_t len)
{
    if (c->actor->name[0])
        snprintf(buf, len, "%s", c->actor->name);
    else
        snprintf(buf, len, "uid-%u", (unsigned)c->actor->uid);
    return buf;
}

const char *cmd_actor_label(const struct kura_cmd_ctx *c, char *buf, size_t len)
{
    const struct kura_actor *a = c->actor;
    const char *name = a->name[0] ? a->name : NULL;
    char uidname[32];
    if (!name) {
        snprintf(uidname, sizeof uidname, "uid %u", (unsigned)a->uid);
        name = uidname;
    }
    if (a->via[0])
        snprintf(buf, len, "%s (%s)", name, a->via);
    else
        snprintf(buf, len, "%s", name);
    return buf;
}

void cmd_notify(const struct kura_cmd_ctx *c, const struct kura_notice *n)
{
    struct kura_err e = {0};
    if (kura_notify(c->env->cfg, n, c->env->socket_mode ? 0 : CMD_NOTIFY_WAIT_MS, &e) != 0)
        fprintf(c->err, "kuractl: warning: notification not sent: %s\n", e.msg);
}

const struct kura_cmd_ctx *cmd_ctx_of(struct kura_cmd_ctx *c, const struct kura_cmd_env *env,
                                      const struct kura_actor *actor, FILE *err, const struct kura_cmd *row)
{
    *c = (struct kura_cmd_ctx){.env = env, .actor = actor, .cmd = row, .out = err, .err = err};
    return c;
}
