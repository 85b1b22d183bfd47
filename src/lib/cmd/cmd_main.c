#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd_priv.h"
#include "kura/changes.h"
#include "kura/dsfile.h"

/* ---- the table ------------------------------------------------------------ */

static const struct kura_cmd cmd_row_reload;

/* The commands, in the order help lists them. A command that is also a
 * change called as a function has its row beside it, in its own file
 * (cmd_ctx_of gives the change that row: no command looks the table up). */
#define ROW(...) &(const struct kura_cmd){__VA_ARGS__}
static const struct kura_cmd *const commands[] = {
    &cmd_row_init,
    ROW(NULL, "pubkey", KURA_CMD_OPERATOR, 0, cmd_pubkey, "[ID]",
         "Prints the current server Crypt4GH public key, or with ID the dataset's delivery key: give\n"
         "the archive the dataset's key in its download request, so that destroying the dataset\n"
         "also makes every copy of the delivery undecryptable."),
    ROW("key", "list", KURA_CMD_OPERATOR, 0, cmd_key_list, "",
         "Lists the server keys by fingerprint: the current one, earlier ones (still open\n"
         "deliveries encrypted to them) and retired ones (erased; when and by whom)."),
    &cmd_row_key_rotate,
    &cmd_row_key_retire,
    ROW("delivery", "make", KURA_CMD_OPERATOR, 0, cmd_delivery_make, "--to ID|server [--out DIR] FILE...",
         "Test deliveries made offline with kura's own Crypt4GH codec: writes FILE.c4gh (next to\n"
         "FILE, or in DIR) encrypted to dataset ID's delivery key, or with --to server to the\n"
         "current server key, as the archive would send it; dataset import takes it. An output\n"
         "appears whole or not at all and never replaces a file. For trying an import and a mount\n"
         "without the network; real deliveries come from the archive."),
    &cmd_row_dataset_add,
    &cmd_row_dataset_import,
    &cmd_row_dataset_set_pi,
    &cmd_row_dataset_extend,
    &cmd_row_dataset_suspend,
    &cmd_row_dataset_resume,
    ROW("dataset", "files", KURA_CMD_PI, 0, cmd_dataset_files, "ID [--json]",
         "Lists dataset ID's files: state (served, withdrawn, suspended, destroyed), plaintext size,\n"
         "samples and path, then the file count and total size. --json: one array of objects\n"
         "(state, size, samples, path)."),
    &cmd_row_dataset_destroy,
    &cmd_row_withdraw,
    &cmd_row_lockdown,
    &cmd_row_unlock,
    &cmd_row_user_add,
    &cmd_row_user_update,
    &cmd_row_user_remove,
    &cmd_row_user_approve,
    ROW("user", "list", KURA_CMD_PI, 0, cmd_user_list, "ID [--json]",
         "Lists the PI and the users of dataset ID; STATE pending or changed needs the PI.\n"
         "--json: one array of objects (user, role, from, until, state, approval, institution,\n"
         "email, trained)."),
    ROW(NULL, "ledger", KURA_CMD_PI, 0, cmd_ledger, "ID [--json]",
         "Prints dataset ID's change history (who, what, when, before -> after) and verifies its\n"
         "hash chain."),
    ROW("report", "usage", KURA_CMD_PI, 0, cmd_report_usage,
         "ID [--from WHEN] [--to WHEN] [--csv|--json|--html] [--lang en|ja]",
         "The yearly usage report (利用状況の報告): users and their periods, opens, bytes read and\n"
         "refused attempts per user (from the audit log; operators' refusals apart), their\n"
         "institution and training date (the grant records), changes to\n"
         "the list and withdrawals (from the ledger), incidents (bulk-read alerts, suspensions,\n"
         "lockdowns), as Markdown, a printable A4 HTML page, the users table as CSV, or all of it\n"
         "as JSON; Japanese by default for JGA/AGD ([report] lang). Default period: the dataset's\n"
         "start until now."),
    ROW("report", "incident", KURA_CMD_ANY_PI, 0, cmd_report_incident,
         "--from WHEN --to WHEN [--dataset ID] [--md|--csv|--json|--html] [--lang ja|en]\n"
         "                   [--out FILE]",
         "After a security incident (事故報告): from the whole audit log, every open in the window\n"
         "(allowed or refused: who, which file, which process, bytes read), the alerts, lockdowns,\n"
         "suspensions, withdrawals and destructions, a summary per user, and marked blanks for what\n"
         "happened, its cause, the measures and whom it was reported to. Operators: all datasets;\n"
         "a PI: --dataset, one she leads. --out FILE: written new (mode 0600) with your rights."),
    ROW("report", "checklist", KURA_CMD_PI, 0, cmd_report_checklist,
         "ID [--group] [--csv|--json|--html] [--lang en|ja]",
         "The data server's part of the NBDC security checklist for dataset ID (--group: the\n"
         "group-sharing checklist, with who in the group may read and the provider's approvals):\n"
         "the items kuractl check sees (on /), the items kura answers from its records, and the\n"
         "site's items as blanks for the PI; Markdown or an A4 HTML page (signed: kuractl report\n"
         "verify), the items as CSV, or JSON. Each is recorded in the ledger with its SHA-256."),
    ROW("report", "destruction", KURA_CMD_PI, 0, cmd_report_destruction, "ID [--json]",
         "Prints the destruction report of a destroyed dataset again, checked against its ledger\n"
         "record, and checks that the keystore still holds nothing for it. --json: the report,\n"
         "its SHA-256 and the ledger record in one object."),
    ROW("report", "end-of-use", KURA_CMD_PI, 0, cmd_report_end_of_use,
         "ID [--group] [--csv|--json|--html] [--lang en|ja]",
         "The end-of-use report of a destroyed dataset for the form データ使用（および破棄）報告書\n"
         "(制限公開データ用; --group: グループ共有データ用): what was erased (keys by fingerprint), when,\n"
         "how and by whom, deliveries whose copies could still be decrypted, each user's use, and\n"
         "marked blanks for what kura cannot know (copies outside kura, secondary data)."),
    ROW("report", "secondary-data", KURA_CMD_PI, 0, cmd_report_secondary_data,
         "ID [--group] [--data TEXT] [--location TEXT] [--until WHEN] [--reason TEXT]\n"
         "                   [--csv|--json|--html] [--lang en|ja]",
         "A draft of the secondary-data storage request (二次データ保管申請書; --group: group-sharing\n"
         "data): the dataset and its use from kura's records; what you declare (the data, where\n"
         "and until when it is kept, why) from the options or as marked blanks to fill in."),
    ROW("report", "verify", KURA_CMD_ANYONE, 0, cmd_report_verify, "FILE",
         "Checks the signature a report for people (Markdown, HTML) ends with: a copy changed by\n"
         "even one byte, or printed on another server, does not verify (exit 1). FILE (a regular\n"
         "file, at most 64 MiB) is read with your rights; the daemon gets its text, not its name."),
    ROW("report", "withdrawal", KURA_CMD_PI, 0, cmd_report_withdrawal,
         "ID SAMPLE [--csv|--json|--html] [--lang en|ja]",
         "For chasing data derived from a withdrawn sample (同意撤回): the withdrawal, SAMPLE's files\n"
         "(withdrawn ones included) and what became of each (a key still there is said), the files\n"
         "that also hold other samples (for a re-delivery without SAMPLE), and from the audit log\n"
         "who opened them, when, the bytes read and refused attempts; Markdown or an A4 HTML page\n"
         "(signed: kuractl report verify), who opened them as CSV, or JSON; Japanese by default\n"
         "for JGA/AGD ([report] lang)."),
    ROW("audit", "verify", KURA_CMD_OPERATOR, 0, cmd_audit_verify, "[--local]",
         "Verifies the whole audit log: every record's MAC with the log key, the hash chain across\n"
         "rotated files, and that no record was cut from the end. Prints the first bad record and\n"
         "exits 1 on any problem. In cluster mode: each node's chain in the central audit store\n"
         "(--local: this node's own log)."),
    &cmd_row_audit_summary,
    ROW(NULL, "audit", KURA_CMD_ANY_PI, 0, cmd_audit,
         "[--dataset ID] [--user USER] [--since WHEN] [--after SEQ] [--limit N] [--json]",
         "Prints audit records (every open, allowed or denied, every close, refused write and\n"
         "change) as a table, or as JSON objects with --json. Operators see every record; the PI\n"
         "of a dataset sees that dataset's records; others are refused. --after SEQ starts after\n"
         "record SEQ, --limit N shows at most N; a page that stops early says where to go on."),
    ROW(NULL, "check", KURA_CMD_OPERATOR, 0, cmd_check, "[--root DIR] [--ruleset FILE] [--json] [--lang ja|en]",
         "The server's self-inspection against the NBDC security guidelines' technical items: swap,\n"
         "core dumps, sshd (passwords, multi-factor, root), idle logout, file-sharing packages, the\n"
         "host firewall, time synchronisation, the keystore's modes and backup exclusion, kurafs's\n"
         "hardening; pass, warn or fail each, with the guideline item, what was seen and the fix.\n"
         "--root reads the files below DIR instead of /; --ruleset FILE gives the running firewall\n"
         "rules (nft list ruleset or iptables-save output); both root on the server only. Exit 1\n"
         "when an item fails (a warning does not)."),
    &cmd_row_operators,
    ROW("cluster", "init", KURA_CMD_OPERATOR, 0, cmd_cluster_init, "",
         "Cluster mode ([cluster] database set): creates the cluster's schema in the database (once;\n"
         "again is harmless) and binds the shared state directory to the cluster's id. A state\n"
         "directory bound to another cluster is refused. An operator, on any node."),
    ROW("cluster", "status", KURA_CMD_OPERATOR, 0, cmd_cluster_status, "[--json]",
         "Lists the cluster's nodes: the epoch each has applied, the latest epoch, how long each\n"
         "node's lease still runs (ended: it serves nothing) and its last contact."),
    ROW(NULL, "status", KURA_CMD_ANYONE, 0, cmd_status, "[--json]",
         "Your datasets: your role, your period and the days left. Operators also get an overview\n"
         "of every dataset. --json: one object of what the text shows you (fields in kuractl(8))."),
    ROW(NULL, "daemon", KURA_CMD_OPERATOR, KURA_CMD_HIDDEN, cmd_daemon, "",
         "Internal: the daemon answering says what it is and whether its mount is in place\n"
         "(status asks it)."),
    &cmd_row_reload,
};
#undef ROW

static const struct kura_cmd cmd_row_reload = {NULL, "reload", KURA_CMD_OPERATOR, KURA_CMD_HIDDEN | KURA_CMD_CHANGES_STATE, cmd_reload, "[ID]",
    "Internal: tells the daemon that state files changed (kuractl sends it after a direct change)."};
#define NCOMMANDS (sizeof commands / sizeof *commands)

const struct kura_cmd *kura_cmd_find(int argc, char *const *argv, int *words)
{
    if (argc < 1)
        return NULL;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct kura_cmd *k = commands[i];
        if (!k->group && strcmp(argv[0], k->name) == 0) {
            *words = 1;
            return k;
        }
        if (k->group && argc >= 2 && strcmp(argv[0], k->group) == 0 && strcmp(argv[1], k->name) == 0) {
            *words = 2;
            return k;
        }
    }
    return NULL;
}

static bool is_group(const char *w)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i]->group && strcmp(commands[i]->group, w) == 0)
            return true;
    return false;
}

/* ---- help ------------------------------------------------------------------ */

static void print_usage_line(FILE *out, const struct kura_cmd *k)
{
    if (k->group)
        fprintf(out, "  kuractl %s %s %s\n", k->group, k->name, k->usage);
    else
        fprintf(out, "  kuractl %s%s%s\n", k->name, k->usage[0] ? " " : "", k->usage);
}

void kura_cmd_print_help(FILE *out, bool operator)
{
    fprintf(out, "usage: kuractl [-c FILE] [--passphrase-file FILE] COMMAND [ARGS...]\n"
                 "kura: controlled-access genome datasets served decrypted only to listed users.\n"
                 "-c FILE (or KURA_CONFIG) names the config file; default %s.\n"
                 "--passphrase-file FILE: the server key's passphrase, when root imports directly.\n"
                 "Root runs commands directly on the state files; everyone else goes through the daemon.\n",
            KURA_CONFIG_DEFAULT_PATH);
    static const struct {
        enum kura_cmd_role role;
        const char *title;
    } sections[] = {
        {KURA_CMD_OPERATOR, "Operator (root or group " KURA_ADMIN_GROUP "):"},
        {KURA_CMD_PI, "PI of dataset ID (or operator); audit: a PI, for their datasets:"},
        {KURA_CMD_ANYONE, "Anyone:"},
    };
    for (size_t s = 0; s < sizeof sections / sizeof *sections; s++) {
        if (sections[s].role == KURA_CMD_OPERATOR && !operator)
            continue;
        fprintf(out, "\n%s\n", sections[s].title);
        for (size_t i = 0; i < NCOMMANDS; i++)
            if ((commands[i]->role == sections[s].role ||
                 ((commands[i]->role == KURA_CMD_PI_ONLY || commands[i]->role == KURA_CMD_ANY_PI) &&
                  sections[s].role == KURA_CMD_PI)) &&
                !(commands[i]->flags & KURA_CMD_HIDDEN))
                print_usage_line(out, commands[i]);
    }
    fprintf(out, "  kuractl --help | kuractl COMMAND --help | kuractl --version\n"
                 "\nWHEN is a date YYYY-MM-DD (a whole day in the configured time zone) or an RFC 3339\n"
                 "time stamp; FROM..TO is inclusive. Exit status: 0 done, 1 refused or failed, 2 bad usage.\n");
}

static void print_cmd_help(FILE *out, const struct kura_cmd *k)
{
    fprintf(out, "usage:\n");
    print_usage_line(out, k);
    static const char *const who[] = {[KURA_CMD_ANYONE] = "anyone",
                                      [KURA_CMD_OPERATOR] = "an operator (root or group " KURA_ADMIN_GROUP ")",
                                      [KURA_CMD_PI] = "the dataset's PI, or an operator",
                                      [KURA_CMD_PI_ONLY] = "the dataset's PI alone (not an operator)",
                                      [KURA_CMD_ANY_PI] = "an operator, or a PI for their own datasets' records"};
    fprintf(out, "\n%s\n\nWho may run it: %s.\n", k->help, who[k->role]);
}

static void print_group_usage(FILE *out, const char *group)
{
    fprintf(out, "kuractl %s: name a subcommand:\n", group);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i]->group && strcmp(commands[i]->group, group) == 0)
            print_usage_line(out, commands[i]);
}

/* ---- running ------------------------------------------------------------- */

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

int kura_cmd_execute(const struct kura_cmd_env *env, const struct kura_actor *actor, int argc, char **argv,
                     FILE *out, FILE *err)
{
    bool operators_observed = false;
    struct kura_cmd_env run_env = *env;
    run_env.at_unlock = kura_change_operators_observe;
    run_env.at_unlock_done = &operators_observed;
    struct kura_cmd_ctx c = {.env = &run_env, .actor = actor, .out = out, .err = err};
    if (argc < 1) {
        kura_cmd_print_help(err, actor->operator);
        return KURA_EXIT_USAGE;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
        kura_cmd_print_help(out, actor->operator);
        return KURA_EXIT_OK;
    }
    if (strcmp(argv[0], "--version") == 0) {
        fprintf(out, "kuractl %s\n", KURA_VERSION);
        return KURA_EXIT_OK;
    }
    int words = 0;
    const struct kura_cmd *k = kura_cmd_find(argc, argv, &words);
    if (!k) {
        if (is_group(argv[0])) {
            print_group_usage(err, argv[0]);
            return KURA_EXIT_USAGE;
        }
        return cmd_usage(&c, "unknown command \"%.60s\"", argv[0]);
    }
    c.cmd = k;
    argc -= words;
    argv += words;
    if (wants_help(argc, argv)) {
        print_cmd_help(out, k);
        return KURA_EXIT_OK;
    }
    if (env->socket_mode && (k->flags & KURA_CMD_DIRECT_ONLY))
        return cmd_fail(&c, "run it as root on the server itself (it does not go through the daemon)");
    if (k->role == KURA_CMD_OPERATOR && cmd_require_operator(&c) != 0)
        return KURA_EXIT_FAIL;
    if (k->role == KURA_CMD_PI || k->role == KURA_CMD_PI_ONLY) {
        /* The dataset comes first; the handler checks the actor against it
         * under the lock (cmd_txn_begin). Refuse bad ids early. */
        struct kura_err e = {0};
        if (argc < 1 || argv[0][0] == '-')
            return cmd_usage(&c, "name the dataset first");
        if (kura_id_check(argv[0], "dataset id", &e) != 0)
            return cmd_usage(&c, "%s", e.msg);
    }
    int rc = k->run(&c, argc, argv);
    /* R-LOG-7: every state change looks at the operators too (in cluster
     * mode a change did already, under its lock) */
    if ((k->flags & KURA_CMD_CHANGES_STATE) && !operators_observed)
        cmd_operators_observe(&c);
    return rc;
}

int kura_cmd_handle_request(void *ctx, const struct kura_ctl_peer *peer, const struct kura_ctl_request *req,
                            FILE *out, FILE *err)
{
    struct kura_cmd_env env = *(const struct kura_cmd_env *)ctx;
    env.socket_mode = true;
    env.output_max = KURA_CTL_MAX_OUTPUT;
    env.flags = req->flags;
    env.input = req->input;
    struct kura_actor actor;
    struct kura_err e = {0};
    if (kura_actor_resolve(peer->uid, peer->gid, peer->pid, &actor, &e) != 0) {
        fprintf(err, "kuractl: %s\n", e.msg);
        return KURA_EXIT_FAIL;
    }
    return kura_cmd_execute(&env, &actor, req->argc, req->argv, out, err);
}

int kura_change_reload(const struct kura_cmd_env *env, const struct kura_actor *actor, FILE *err,
                       const char *dataset)
{
    struct kura_cmd_ctx cc;
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, &cmd_row_reload);
    if (cmd_require_operator(c) != 0)
        return KURA_EXIT_FAIL;
    struct kura_err e = {0};
    if (dataset && kura_id_check(dataset, "dataset id", &e) != 0)
        return cmd_fail(c, "%s", e.msg);
    if (c->env->on_state_change)
        c->env->on_state_change(c->env->ctx, dataset);
    return KURA_EXIT_OK;
}

int cmd_reload(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, NULL, pos, 0, 1, &npos) != 0)
        return KURA_EXIT_USAGE;
    struct kura_err e = {0};
    if (npos == 1 && kura_id_check(pos[0], "dataset id", &e) != 0)
        return cmd_usage(c, "%s", e.msg);
    return kura_change_reload(c->env, c->actor, c->err, npos ? pos[0] : NULL);
}
