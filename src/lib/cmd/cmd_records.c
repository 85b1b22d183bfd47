/* kuractl status, the records of the datasets the caller manages (the
 * PI's own, every one for an operator): their ethics approvals, and their
 * reminders: those sent, from the daemon's marks (STATE/reminders.tsv),
 * and the next of each series, computed by the same function the daemon
 * sends by (reminders.h). */
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/json.h"
#include "kura/reminders.h"
#include "kura/when.h"

/* One line of a table, or with json one object of its array (*first: none
 * printed yet). -1 if the object did not fit. */
static int row(const struct kura_cmd_ctx *c, bool json, bool *first, const char *id, const char *user,
               const char *key, int64_t due, const char *state)
{
    char day[32];
    if (kura_date_format(due, c->env->cfg->zone, day, sizeof day) != 0)
        snprintf(day, sizeof day, "?");
    if (!json) {
        fprintf(c->out, "%-20s %-16s %-24s %-10s  %s\n", id, user[0] ? user : "-", key, day, state);
        return 0;
    }
    char buf[1024];
    struct kura_json_writer w;
    kura_json_begin(&w, buf, sizeof buf);
    kura_json_add_string(&w, "dataset", id);
    kura_json_add_string(&w, "user", user);
    kura_json_add_string(&w, "reminder", key);
    kura_json_add_string(&w, "due", day);
    kura_json_add_string(&w, "state", state);
    int rc = cmd_json_item(c, &w, *first, id);
    *first = false;
    return rc;
}

/* The datasets the caller manages and that still exist. */
static bool managed(const struct kura_cmd_ctx *c, const struct kura_dataset *ds)
{
    return (c->actor->operator || cmd_actor_is_pi(c, ds)) && ds->status != KURA_DS_DESTROYED;
}

static int ethics_table(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded, size_t n,
                        bool json)
{
    bool header = false;
    int rc = 0;
    if (json)
        fputs(",\n\"ethics\": [", c->out);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!loaded[i] || !managed(c, &all[i]))
            continue;
        char day[32];
        const char *until = all[i].ethics[0] ? cmd_last_day(c, all[i].ethics_until, day, sizeof day) : "";
        if (json) {
            char buf[1024];
            struct kura_json_writer w;
            kura_json_begin(&w, buf, sizeof buf);
            kura_json_add_string(&w, "dataset", all[i].id);
            kura_json_add_string(&w, "until", until);
            kura_json_add_string(&w, "approval", all[i].ethics);
            rc = cmd_json_item(c, &w, !header, all[i].id);
            header = true;
            continue;
        }
        if (!header) {
            fprintf(c->out, "\nethics approvals:\n%-20s %-10s  %s\n", "DATASET", "UNTIL", "APPROVAL");
            header = true;
        }
        if (all[i].ethics[0]) {
            fprintf(c->out, "%-20s %-10s  ", all[i].id, until);
            kura_text_put_escaped(c->out, all[i].ethics, strlen(all[i].ethics));
            fputc('\n', c->out);
        } else
            fprintf(c->out, "%-20s %-10s  %s\n", all[i].id, "-", "(none recorded: kuractl dataset extend --ethics)");
    }
    if (json)
        fputc(']', c->out);
    return rc;
}

int cmd_status_records(const struct kura_cmd_ctx *c, const struct kura_dataset *all, const bool *loaded, size_t n,
                       bool json)
{
    if (ethics_table(c, all, loaded, n, json) != 0)
        return -1;
    struct kura_reminder_rules rules;
    kura_reminder_rules_from(c->env->cfg, &rules);
    struct kura_reminder_mark *marks = NULL;
    size_t nmarks = 0;
    struct kura_err e = {0};
    if (kura_reminder_marks_load(c->env->cfg->state_dir, &marks, &nmarks, &e) != 0)
        fprintf(c->err, "kuractl status: the reminders sent cannot be read: %s\n", e.msg);
    int64_t now = cmd_now();
    bool header = false, first = true;
    int rc = 0;
    if (json)
        fputs(",\n\"reminders\": [", c->out);
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!loaded[i] || !managed(c, &all[i]))
            continue;
        if (!header && !json)
            fprintf(c->out, "\nreminders (sent by kurafs through notify_command):\n%-20s %-16s %-24s %-10s  %s\n",
                    "DATASET", "USER", "REMINDER", "DUE", "STATE");
        header = true;
        for (size_t m = 0; m < nmarks && rc == 0; m++)
            if (strcmp(marks[m].dataset, all[i].id) == 0) {
                char sent[48], state[64];
                snprintf(state, sizeof state, "sent %s", cmd_time(c, marks[m].sent, sent, sizeof sent));
                rc = row(c, json, &first, all[i].id, marks[m].user, marks[m].key, marks[m].sent, state);
            }
        struct kura_reminder *r = NULL;
        size_t nr = 0;
        if (kura_reminders_due(&all[i], &rules, now, marks, nmarks, &r, &nr, &e) == 0)
            for (size_t k = 0; k < nr && rc == 0; k++)
                rc = row(c, json, &first, all[i].id, r[k].user, r[k].key, r[k].due, "due (kurafs sends it)");
        free(r);
        r = NULL;
        nr = 0;
        if (kura_reminders_next(&all[i], &rules, now, &r, &nr, &e) == 0)
            for (size_t k = 0; k < nr && rc == 0; k++)
                rc = row(c, json, &first, all[i].id, r[k].user, r[k].key, r[k].due, "next");
        free(r);
    }
    if (json)
        fputc(']', c->out);
    free(marks);
    return rc;
}
