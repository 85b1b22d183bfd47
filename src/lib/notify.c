#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "kura/notify.h"
#include "kura/text.h"
#include "kura/when.h"

#define NOTIFY_ARGS_MAX 32
#define NOTIFY_ENV_MAX 16

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* A field as the notice carries it: controls, invisible characters and
 * bytes not UTF-8 escaped (text.h). Most fields are kura's own or checked
 * text, but some name what a user chose (the program a guard-burst names
 * is the user's file, its name any bytes): a newline or an escape sequence
 * in it would reach a site's mail headers, syslog and terminals as is.
 * NULL when out of memory. */
static char *escaped(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    kura_text_put_escaped(f, or_empty(s), strlen(or_empty(s)));
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static void log_failure(const char *cmd, int status)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    syslog(LOG_AUTHPRIV | LOG_WARNING, "kura: notify_command %s failed (%s %d)", cmd,
           WIFEXITED(status) ? "exit status" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

struct reaper {
    pid_t pid;
    char cmd[256];
};

static void *reap(void *arg)
{
    struct reaper *r = arg;
    int status;
    pid_t got;
    while ((got = waitpid(r->pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (got == r->pid) /* else (ECHILD) there is no status to judge */
        log_failure(r->cmd, status);
    free(r);
    return NULL;
}

/* Waits up to ms for pid; true if it ended (status filled). */
static bool wait_for(pid_t pid, int ms, int *status)
{
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        if (waited >= ms)
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int kura_notify(const struct kura_config *cfg, const struct kura_notice *n, int wait_ms, struct kura_err *err)
{
    char when[48];
    if (kura_time_format(n->time, cfg->zone, when, sizeof when) != 0)
        snprintf(when, sizeof when, "@%lld", (long long)n->time);
    char *msg = escaped(n->message);
    syslog(LOG_AUTHPRIV | LOG_NOTICE, "kura: %s dataset=%s pi=%s users=%s%s%s%s%s: %s", or_empty(n->event),
           or_empty(n->dataset), or_empty(n->pi), or_empty(n->users), n->sample ? " sample=" : "", or_empty(n->sample),
           n->ref ? " ref=" : "", or_empty(n->ref), msg ? msg : "(out of memory)");
    free(msg);
    if (!cfg->notify_command || !cfg->notify_command[0])
        return 0;

    /* "Program (absolute path, with arguments)": split on blanks, no shell. */
    char *words = strdup(cfg->notify_command);
    char *argv[NOTIFY_ARGS_MAX + 1];
    int argc = 0;
    if (!words) {
        kura_err_set(err, ENOMEM, "out of memory");
        return -1;
    }
    for (char *save = NULL, *w = strtok_r(words, " \t", &save); w && argc < NOTIFY_ARGS_MAX;
         w = strtok_r(NULL, " \t", &save))
        argv[argc++] = w;
    argv[argc] = NULL;
    if (argc == 0 || argv[0][0] != '/') {
        syslog(LOG_AUTHPRIV | LOG_WARNING, "kura: notify_command must start with an absolute path");
        kura_err_set(err, EINVAL, "notify_command must start with an absolute path");
        free(words);
        return -1;
    }
    /* Built before spawning: nothing but exec runs in the child. */
    char *envp[NOTIFY_ENV_MAX + 1];
    int ne = 0;
    const struct {
        const char *name, *val;
    } vars[] = {{"KURA_EVENT", n->event}, {"KURA_DATASET", n->dataset}, {"KURA_PI", n->pi},
                {"KURA_USERS", n->users}, {"KURA_SAMPLE", n->sample},   {"KURA_REF", n->ref},
                {"KURA_TIME", when},      {"KURA_MESSAGE", n->message}, {"KURA_REASON", n->reason},
                {"KURA_BY", n->by},       {"KURA_BYTES", n->bytes},     {"KURA_FILE", n->file},
                {"PATH", "/usr/bin:/bin"}};
    for (size_t i = 0; i < sizeof vars / sizeof *vars && ne < NOTIFY_ENV_MAX; i++) {
        char *val = escaped(vars[i].val);
        if (val && asprintf(&envp[ne], "%s=%s", vars[i].name, val) >= 0)
            ne++;
        free(val);
    }
    envp[ne] = NULL;

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid;
    int e = posix_spawn(&pid, argv[0], NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    for (int i = 0; i < ne; i++)
        free(envp[i]);
    int rc = 0;
    if (e != 0) {
        syslog(LOG_AUTHPRIV | LOG_WARNING, "kura: notify_command %s cannot start: %s", argv[0], strerror(e));
        kura_err_set(err, e, "notify_command %s cannot start: %s", argv[0], strerror(e));
        rc = -1;
    } else {
        int status;
        if (wait_ms > 0 && wait_for(pid, wait_ms, &status))
            log_failure(argv[0], status);
        else {
            /* Still running (or not waited for): a thread reaps it and logs. */
            struct reaper *r = malloc(sizeof *r);
            pthread_t t;
            if (r) {
                r->pid = pid;
                snprintf(r->cmd, sizeof r->cmd, "%s", argv[0]);
                if (pthread_create(&t, NULL, reap, r) == 0)
                    pthread_detach(t);
                else
                    free(r);
            }
        }
    }
    free(words);
    return rc;
}
