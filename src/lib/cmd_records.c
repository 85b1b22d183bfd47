/* kuractl status, the records of the datasets the caller manages (the
 * PI's own, every one for an operator): their ethics approvals, and their
 * reminders: those sent, from the daemon's marks (STATE/reminders.tsv),
 * and the next of each series, computed by the same function the daemon
 * sends by (reminders.h). */
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/reminders.h"
#include "kura/when.h"

static void row(const struct kura_cmd_ctx *c, const char *id, const char *user, const char *key, int64_t due,
                const char *state)
{
    char day[32];
    if (kura_date_format(due, c->env->cfg->zone, day, sizeof day) != 0)
        snprintf(day, sizeof day, "?");
    fprintf(c->out, "%-20s %-16s %-24s %-10s  %s\n", id, user[0] ? user : "-", key, day, state);
}

/* The datasets the caller manages and that still exist. */
static bool managed(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    return (c->actor->operator || cmd_actor_is_pi(c, ds)) && ds->status != KURA_DS_DESTROYED;
}

static void ethics_table(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded, size_t n)
{
    bool header = false;
    for (size_t i = 0; i < n; i++) {
        if (!loaded[i] || !managed(c, &all[i]))
            continue;
        if (!header) {
            fprintf(c->out, "\nethics approvals:\n%-20s %-10s  %s\n", "DATASET", "UNTIL", "APPROVAL");
            header = true;
        }
        char day[32];
        if (all[i].ethics[0])
            fprintf(c->out, "%-20s %-10s  %s\n", all[i].id, cmd_last_day(c, all[i].ethics_until, day, sizeof day),
                    all[i].ethics);
        else
            fprintf(c->out, "%-20s %-10s  %s\n", all[i].id, "-", "(none recorded: kuractl dataset extend --ethics)");
    }
}

void cmd_status_records(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded, size_t n)
{
    ethics_table(c, all, loaded, n);
    struct kura_reminder_rules rules;
    kura_reminder_rules_from(c->env->cfg, &rules);
    struct kura_reminder_mark *marks = NULL;
    size_t nmarks = 0;
    struct kura_err e = {0};
    if (kura_reminder_marks_load(c->env->cfg->state_dir, &marks, &nmarks, &e) != 0)
        fprintf(c->err, "kuractl status: the reminders sent cannot be read: %s\n", e.msg);
    int64_t now = cmd_now();
    bool header = false;
    for (size_t i = 0; i < n; i++) {
        if (!loaded[i] || !managed(c, &all[i]))
            continue;
        if (!header) {
            fprintf(c->out, "\nreminders (sent by kurafs through notify_command):\n%-20s %-16s %-24s %-10s  %s\n",
                    "DATASET", "USER", "REMINDER", "DUE", "STATE");
            header = true;
        }
        for (size_t m = 0; m < nmarks; m++)
            if (strcmp(marks[m].dataset, all[i].id) == 0) {
                char sent[48], state[64];
                snprintf(state, sizeof state, "sent %s", cmd_time(c, marks[m].sent, sent, sizeof sent));
                row(c, all[i].id, marks[m].user, marks[m].key, marks[m].sent, state);
            }
        struct kura_reminder *r = NULL;
        size_t nr = 0;
        if (kura_reminders_due(&all[i], &rules, now, marks, nmarks, &r, &nr, &e) == 0)
            for (size_t k = 0; k < nr; k++)
                row(c, all[i].id, r[k].user, r[k].key, r[k].due, "due (kurafs sends it)");
        free(r);
        r = NULL;
        nr = 0;
        if (kura_reminders_next(&all[i], &rules, now, &r, &nr, &e) == 0)
            for (size_t k = 0; k < nr; k++)
                row(c, all[i].id, r[k].user, r[k].key, r[k].due, "next");
        free(r);
    }
    free(marks);
}
