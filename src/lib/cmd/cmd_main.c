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

static const struct kura_cmd commands[] = {
    {NULL, "init", KURA_CMD_OPERATOR, KURA_CMD_DIRECT_ONLY, cmd_init, "[--root DIR] [--passphrase-file FILE]",
     "Creates the config file (unless it exists), the state directories, the server's Crypt4GH\n"
     "key pair and the audit-log key. With --root every path lives under DIR (tests, demos) and\n"
     "the config is DIR/kura.conf unless -c or KURA_CONFIG names another. With --passphrase-file\n"
     "the server secret key is protected with the passphrase in FILE (scrypt). Existing keys are\n"
     "never overwritten."},
    {NULL, "pubkey", KURA_CMD_OPERATOR, 0, cmd_pubkey, "[ID]",
     "Prints the current server Crypt4GH public key, or with ID the dataset's delivery key: give\n"
     "the archive the dataset's key in its download request, so that destroying the dataset\n"
     "also makes every copy of the delivery undecryptable."},
    {"key", "list", KURA_CMD_OPERATOR, 0, cmd_key_list, "",
     "Lists the server keys by fingerprint: the current one, earlier ones (still open\n"
     "deliveries encrypted to them) and retired ones (erased; when and by whom)."},
    {"key", "rotate", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_key_rotate, "",
     "Makes a new server key; the old one is kept as an earlier key (deliveries encrypted to it\n"
     "still import) until key retire. Dataset keys are rewrapped to the new key. Root on the\n"
     "server only; a passphrase-protected key needs --passphrase-file (the new key gets it)."},
    {"key", "retire", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_CONFIRM, cmd_key_retire, "FP [--yes]",
     "Erases the earlier server key FP (overwrite, fsync, unlink) and records the retirement;\n"
     "lists the deliveries the ledgers record as encrypted to it (their copies become\n"
     "undecryptable; one not yet imported can no longer be). Root on the server only."},
    {"delivery", "make", KURA_CMD_OPERATOR, 0, cmd_delivery_make, "--to ID|server [--out DIR] FILE...",
     "Test deliveries made offline with kura's own Crypt4GH codec: writes FILE.c4gh (next to\n"
     "FILE, or in DIR) encrypted to dataset ID's delivery key, or with --to server to the\n"
     "current server key, as the archive would send it; dataset import takes it. An output\n"
     "appears whole or not at all and never replaces a file. For trying an import and a mount\n"
     "without the network; real deliveries come from the archive."},
    {"dataset", "add", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_add,
     "ID --pi USER --period FROM..TO [--kind JGA|AGD] [--level type1|type2] [--title TEXT]\n"
     "                   [--guard denylist|allowlist]",
     "Registers a dataset: its PI, approved period (inclusive dates or RFC 3339 times), kind,\n"
     "security level and copy-out guard (Type II defaults to the allow-list), bound to this\n"
     "server. Creates the dataset key."},
    {"dataset", "import", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_import,
     "ID [--samples FILE.tsv] [--remove-source] [--encrypt] [--no-verify] PATH...",
     "Imports .c4gh files encrypted to the dataset's delivery key or a server key (each header\n"
     "must open, every segment is\n"
     "verified unless --no-verify), or plaintext files with --encrypt (encrypted straight into\n"
     "the store: no plaintext copy). A directory PATH is imported with its relative paths; a\n"
     ".c4gh suffix is dropped. --samples maps paths to sample ids (path<TAB>sample_id). The\n"
     "import is all or nothing; an interrupted one is simply run again. --remove-source deletes\n"
     "the sources once the whole import is durable. A path already in the dataset is refused."},
    {"dataset", "set-pi", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_set_pi, "ID USER",
     "Makes USER the PI of dataset ID instead of the current one (bound to USER's uid and\n"
     "account name, as dataset add binds it); recorded in the ledger, both PIs notified\n"
     "(notify_command, syslog). An operator may not be the PI, and USER must not hold a grant\n"
     "on the dataset (remove it first). The PI's rights move at once."},
    {"dataset", "extend", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_extend,
     "ID --until WHEN --ref TEXT",
     "Extends the approved period to WHEN (a later end), citing the approval reference."},
    {"dataset", "suspend", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_suspend,
     "ID --reason TEXT", "Suspends all use of the dataset at once (reversible: dataset resume)."},
    {"dataset", "resume", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_dataset_resume, "ID",
     "Ends a suspension."},
    {"dataset", "files", KURA_CMD_PI, 0, cmd_dataset_files, "ID [--json]",
     "Lists dataset ID's files: state (served, withdrawn, suspended, destroyed), plaintext size,\n"
     "samples and path, then the file count and total size. --json: one array of objects\n"
     "(state, size, samples, path)."},
    {"dataset", "destroy", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_CONFIRM | KURA_CMD_PREVIEW,
     cmd_dataset_destroy, "ID [--dry-run] [--yes] [--payloads]",
     "Crypto-erasure at end of use: marks the dataset destroyed (use stops at once),\n"
     "destroys its key and every file header (overwrite, fsync, unlink, fsync the directory), with\n"
     "--payloads removes the ciphertext too, and prints the destruction report (kept next to the\n"
     "state, its SHA-256 in the ledger) and where it is kept. --dry-run lists what would be\n"
     "destroyed: the users with their days left, the files and bytes, and the deliveries whose\n"
     "copies stay decryptable; on a terminal that list comes before the confirmation, without one\n"
     "--yes is needed. An interrupted destroy is finished by running it again."},
    {NULL, "withdraw", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE | KURA_CMD_CONFIRM | KURA_CMD_PREVIEW, cmd_withdraw,
     "ID SAMPLE --ref TEXT [--dry-run] [--yes]",
     "Records that consent for SAMPLE was withdrawn: its files vanish from the mount at\n"
     "once, open handles stop at their next read, and their headers are destroyed so nobody can\n"
     "decrypt them again; with no file of SAMPLE yet, it is recorded as pending. --dry-run lists\n"
     "what would stop being served and which files also hold other samples; on a terminal that\n"
     "list comes before the confirmation, without one --yes is needed. The PI and the users are\n"
     "notified (syslog, notify_command). Running it again finishes an interrupted destruction."},
    {NULL, "lockdown", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_lockdown, "--reason TEXT",
     "Incident lockdown: every dataset on this server is refused at once, open handles\n"
     "included, until kuractl unlock. Kept in the state directory, so it survives a restart."},
    {NULL, "unlock", KURA_CMD_OPERATOR, KURA_CMD_CHANGES_STATE, cmd_unlock, "",
     "Ends a lockdown; each dataset is served again as its own policy says."},
    {"user", "add", KURA_CMD_PI, KURA_CMD_CHANGES_STATE, cmd_user_add,
     "ID USER [--role co-investigator|contractor] [--until WHEN] [--approval TEXT]\n"
     "                   [--institution TEXT] [--email ADDR] [--trained DATE]",
     "Lists USER as a data user of dataset ID from now until WHEN (default: the dataset's end;\n"
     "never later). AGD datasets need --approval, the data provider's approval reference.\n"
     "--institution, --email and --trained (the day USER completed the security training and\n"
     "acknowledged the guidelines, not in the future) are recorded with the grant; with\n"
     "[server] require_training = yes, --trained is required.\n"
     "System accounts are refused; an operator's grant to an operator, to root or to themselves\n"
     "waits for the PI's approval (user approve); the PI is notified of grants others make."},
    {"user", "update", KURA_CMD_PI, KURA_CMD_CHANGES_STATE, cmd_user_update,
     "ID USER [--institution TEXT] [--email ADDR] [--trained DATE]",
     "Completes or corrects the records of USER's grant in dataset ID (recorded in the ledger):\n"
     "\"\" clears an institution or e-mail. A grant without a training date reads nothing while\n"
     "[server] require_training = yes, until this gives one. Nobody changes their own grant's."},
    {"user", "remove", KURA_CMD_PI, KURA_CMD_CHANGES_STATE, cmd_user_remove, "ID USER",
     "Ends USER's access to dataset ID at once."},
    {"user", "approve", KURA_CMD_PI_ONLY, KURA_CMD_CHANGES_STATE, cmd_user_approve, "ID USER",
     "The PI approves USER's pending grant: a grant an operator made to an operator, to root\n"
     "or to themselves reads nothing until then."},
    {"user", "list", KURA_CMD_PI, 0, cmd_user_list, "ID [--json]",
     "Lists the PI and the users of dataset ID; STATE pending or changed needs the PI.\n"
     "--json: one array of objects (user, role, from, until, state, approval, institution,\n"
     "email, trained)."},
    {NULL, "ledger", KURA_CMD_PI, 0, cmd_ledger, "ID [--json]",
     "Prints dataset ID's change history (who, what, when, before -> after) and verifies its\n"
     "hash chain."},
    {"report", "usage", KURA_CMD_PI, 0, cmd_report_usage,
     "ID [--from WHEN] [--to WHEN] [--csv|--json|--html] [--lang en|ja]",
     "The yearly usage report (利用状況の報告): users and their periods, opens, bytes read and\n"
     "refused attempts per user (from the audit log; operators' refusals apart), their\n"
     "institution and training date (the grant records), changes to\n"
     "the list and withdrawals (from the ledger), incidents (bulk-read alerts, suspensions,\n"
     "lockdowns), as Markdown, a printable A4 HTML page, the users table as CSV, or all of it\n"
     "as JSON; Japanese by default for JGA/AGD ([report] lang). Default period: the dataset's\n"
     "start until now."},
    {"report", "incident", KURA_CMD_ANY_PI, 0, cmd_report_incident,
     "--from WHEN --to WHEN [--dataset ID] [--md|--csv|--json|--html] [--lang ja|en]\n"
     "                   [--out FILE]",
     "After a security incident (事故報告): from the whole audit log, every open in the window\n"
     "(allowed or refused: who, which file, which process, bytes read), the alerts, lockdowns,\n"
     "suspensions, withdrawals and destructions, a summary per user, and marked blanks for what\n"
     "happened, its cause, the measures and whom it was reported to. Operators: all datasets;\n"
     "a PI: --dataset, one she leads. --out FILE: written new (mode 0600) with your rights."},
    {"report", "checklist", KURA_CMD_PI, 0, cmd_report_checklist,
     "ID [--group] [--csv|--json|--html] [--lang en|ja]",
     "The data server's part of the NBDC security checklist for dataset ID (--group: the\n"
     "group-sharing checklist, with who in the group may read and the provider's approvals):\n"
     "the items kuractl check sees (on /), the items kura answers from its records, and the\n"
     "site's items as blanks for the PI; Markdown or an A4 HTML page (signed: kuractl report\n"
     "verify), the items as CSV, or JSON. Each is recorded in the ledger with its SHA-256."},
    {"report", "destruction", KURA_CMD_PI, 0, cmd_report_destruction, "ID [--json]",
     "Prints the destruction report of a destroyed dataset again, checked against its ledger\n"
     "record, and checks that the keystore still holds nothing for it. --json: the report,\n"
     "its SHA-256 and the ledger record in one object."},
    {"report", "end-of-use", KURA_CMD_PI, 0, cmd_report_end_of_use,
     "ID [--group] [--csv|--json|--html] [--lang en|ja]",
     "The end-of-use report of a destroyed dataset for the form データ使用（および破棄）報告書\n"
     "(制限公開データ用; --group: グループ共有データ用): what was erased (keys by fingerprint), when,\n"
     "how and by whom, deliveries whose copies could still be decrypted, each user's use, and\n"
     "marked blanks for what kura cannot know (copies outside kura, secondary data)."},
    {"report", "secondary-data", KURA_CMD_PI, 0, cmd_report_secondary_data,
     "ID [--group] [--data TEXT] [--location TEXT] [--until WHEN] [--reason TEXT]\n"
     "                   [--csv|--json|--html] [--lang en|ja]",
     "A draft of the secondary-data storage request (二次データ保管申請書; --group: group-sharing\n"
     "data): the dataset and its use from kura's records; what you declare (the data, where\n"
     "and until when it is kept, why) from the options or as marked blanks to fill in."},
    {"report", "verify", KURA_CMD_ANYONE, 0, cmd_report_verify, "FILE",
     "Checks the signature a report for people (Markdown, HTML) ends with: a copy changed by\n"
     "even one byte, or printed on another server, does not verify (exit 1). FILE is read\n"
     "with your rights."},
    {"report", "withdrawal", KURA_CMD_PI, 0, cmd_report_withdrawal,
     "ID SAMPLE [--csv|--json|--html] [--lang en|ja]",
     "For chasing data derived from a withdrawn sample (同意撤回): the withdrawal, SAMPLE's files\n"
     "(withdrawn ones included) and what became of each (a key still there is said), the files\n"
     "that also hold other samples (for a re-delivery without SAMPLE), and from the audit log\n"
     "who opened them, when, the bytes read and refused attempts; Markdown or an A4 HTML page\n"
     "(signed: kuractl report verify), who opened them as CSV, or JSON; Japanese by default\n"
     "for JGA/AGD ([report] lang)."},
    {"audit", "verify", KURA_CMD_OPERATOR, 0, cmd_audit_verify, "[--local]",
     "Verifies the whole audit log: every record's MAC with the log key, the hash chain across\n"
     "rotated files, and that no record was cut from the end. Prints the first bad record and\n"
     "exits 1 on any problem. In cluster mode: each node's chain in the central audit store\n"
     "(--local: this node's own log)."},
    {"audit", "summary", KURA_CMD_ANY_PI, 0, cmd_audit_summary,
     "--since WHEN [--until WHEN] [--dataset ID] [--json] [--lang ja|en]",
     "Sums up the audit log for its regular review, per dataset: the users who opened files,\n"
     "opens allowed, bytes read, refusals by reason and alerts; and the refusals outside any\n"
     "dataset (operators only). --until a date counts that day. A PI gets their datasets'.\n"
     "kurafs sends it weekly ([audit] summary_weekday) through notify_command."},
    {NULL, "audit", KURA_CMD_ANY_PI, 0, cmd_audit,
     "[--dataset ID] [--user USER] [--since WHEN] [--after SEQ] [--limit N] [--json]",
     "Prints audit records (every open, allowed or denied, every close, refused write and\n"
     "change) as a table, or as JSON objects with --json. Operators see every record; the PI\n"
     "of a dataset sees that dataset's records; others are refused. --after SEQ starts after\n"
     "record SEQ, --limit N shows at most N; a page that stops early says where to go on."},
    {NULL, "check", KURA_CMD_OPERATOR, 0, cmd_check, "[--root DIR] [--ruleset FILE] [--json] [--lang ja|en]",
     "The server's self-inspection against the NBDC security guidelines' technical items: swap,\n"
     "core dumps, sshd (passwords, multi-factor, root), idle logout, file-sharing packages, the\n"
     "host firewall, time synchronisation, the keystore's modes and backup exclusion, kurafs's\n"
     "hardening; pass, warn or fail each, with the guideline item, what was seen and the fix.\n"
     "--root reads the files below DIR instead of /; --ruleset FILE gives the running firewall\n"
     "rules (nft list ruleset or iptables-save output); both root on the server only. Exit 1\n"
     "when an item fails (a warning does not)."},
    {NULL, "operators", KURA_CMD_ANY_PI, 0, cmd_operators, "[--history] [--json]",
     "The operator register (作業者一覧): the members of group kura-admin, each with the time\n"
     "kura first recorded them, or with --history every change (added, removed, when, seen by\n"
     "whom); records any change first, verifies the register's hash chain (exit 1 if it does\n"
     "not verify). Operators, and PIs (for the checklist). --json: one array of objects."},
    {"cluster", "init", KURA_CMD_OPERATOR, 0, cmd_cluster_init, "",
     "Cluster mode ([cluster] database set): creates the cluster's schema in the database (once;\n"
     "again is harmless) and binds the shared state directory to the cluster's id. A state\n"
     "directory bound to another cluster is refused. An operator, on any node."},
    {"cluster", "status", KURA_CMD_OPERATOR, 0, cmd_cluster_status, "[--json]",
     "Lists the cluster's nodes: the epoch each has applied, the latest epoch, how long each\n"
     "node's lease still runs (ended: it serves nothing) and its last contact."},
    {NULL, "status", KURA_CMD_ANYONE, 0, cmd_status, "[--json]",
     "Your datasets: your role, your period and the days left. Operators also get an overview\n"
     "of every dataset. --json: one object of what the text shows you (fields in kuractl(8))."},
    {NULL, "daemon", KURA_CMD_OPERATOR, KURA_CMD_HIDDEN, cmd_daemon, "",
     "Internal: the daemon answering says what it is and whether its mount is in place\n"
     "(status asks it)."},
    {NULL, "reload", KURA_CMD_OPERATOR, KURA_CMD_HIDDEN | KURA_CMD_CHANGES_STATE, cmd_reload, "[ID]",
     "Internal: tells the daemon that state files changed (kuractl sends it after a direct change)."},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

const struct kura_cmd *kura_cmd_find(int argc, char *const *argv, int *words)
{
    if (argc < 1)
        return NULL;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct kura_cmd *k = &commands[i];
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
        if (commands[i].group && strcmp(commands[i].group, w) == 0)
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
            if ((commands[i].role == sections[s].role ||
                 ((commands[i].role == KURA_CMD_PI_ONLY || commands[i].role == KURA_CMD_ANY_PI) &&
                  sections[s].role == KURA_CMD_PI)) &&
                !(commands[i].flags & KURA_CMD_HIDDEN))
                print_usage_line(out, &commands[i]);
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
        if (commands[i].group && strcmp(commands[i].group, group) == 0)
            print_usage_line(out, &commands[i]);
}

/* ---- actors -------------------------------------------------------------- */

/* The gid of KURA_ADMIN_GROUP, if the group exists. Groups with many
 * members need a large buffer: grow it on ERANGE. */
static bool admin_gid(gid_t *gid)
{
    for (size_t size = 16384; size <= (4u << 20); size *= 4) {
        char *buf = malloc(size);
        if (!buf)
            return false;
        struct group gr, *res = NULL;
        int e = getgrnam_r(KURA_ADMIN_GROUP, &gr, buf, size, &res);
        if (e == 0 && res)
            *gid = res->gr_gid;
        free(buf);
        if (e != ERANGE)
            return e == 0 && res;
    }
    return false;
}

static bool in_admin_group(const char *name, gid_t primary)
{
    gid_t admin;
    if (!admin_gid(&admin))
        return false;
    int n = 64;
    for (int tries = 0; tries < 6; tries++) {
        gid_t *groups = malloc((size_t)n * sizeof *groups);
        if (!groups)
            return false;
        int want = n;
        if (getgrouplist(name, primary, groups, &want) >= 0) {
            bool found = false;
            for (int i = 0; i < want && !found; i++)
                found = groups[i] == admin;
            free(groups);
            return found;
        }
        free(groups);
        n = want > n ? want : n * 2;
    }
    return false;
}

/* The login uid of pid (survives su and sudo), or (uid_t)-1. */
static uid_t login_uid(pid_t pid)
{
    char path[64], buf[32];
    snprintf(path, sizeof path, "/proc/%d/loginuid", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return (uid_t)-1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return (uid_t)-1;
    buf[n] = '\0';
    uint64_t v;
    return kura_parse_decimal(buf, strspn(buf, "0123456789"), UINT32_MAX, &v) == 0 ? (uid_t)v : (uid_t)-1;
}

int kura_actor_resolve(uid_t uid, gid_t gid, pid_t pid, struct kura_actor *a, struct kura_err *err)
{
    memset(a, 0, sizeof *a);
    a->uid = uid;
    a->gid = gid;
    a->pid = pid;
    struct passwd pw, *res = NULL;
    char buf[16384];
    int e = getpwuid_r(uid, &pw, buf, sizeof buf, &res);
    if (e != 0) {
        kura_err_set(err, e, "cannot look up uid %u: %s", (unsigned)uid, strerror(e));
        return -1;
    }
    if (res && strlen(res->pw_name) <= KURA_USER_MAX)
        strcpy(a->name, res->pw_name);
    a->operator = uid == 0 || (a->name[0] && in_admin_group(a->name, res->pw_gid));
    /* Root is often someone logged in as themselves first: say who. */
    if (uid == 0 && pid > 0) {
        uid_t lu = login_uid(pid);
        if (lu != (uid_t)-1 && lu != 0) {
            struct passwd lpw, *lres = NULL;
            if (getpwuid_r(lu, &lpw, buf, sizeof buf, &lres) == 0 && lres && strlen(lres->pw_name) <= KURA_USER_MAX)
                snprintf(a->via, sizeof a->via, "login %s", lres->pw_name);
            else
                snprintf(a->via, sizeof a->via, "login uid %u", (unsigned)lu);
        }
    }
    return 0;
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
    struct kura_cmd_ctx c = {.env = env, .actor = actor, .out = out, .err = err};
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
    if (k->flags & KURA_CMD_CHANGES_STATE)
        cmd_operators_observe(&c); /* R-LOG-7: every state change looks at the operators too */
    return rc;
}

const struct kura_cmd_ctx *cmd_ctx_of(struct kura_cmd_ctx *c, const struct kura_cmd_env *env,
                                      const struct kura_actor *actor, FILE *err, const char *group, const char *name)
{
    char *words[] = {(char *)(group ? group : name), (char *)name};
    int n;
    *c = (struct kura_cmd_ctx){.env = env, .actor = actor, .out = err, .err = err};
    c->cmd = kura_cmd_find(group ? 2 : 1, words, &n);
    return c;
}

int kura_cmd_handle_request(void *ctx, const struct kura_ctl_peer *peer, const struct kura_ctl_request *req,
                            FILE *out, FILE *err)
{
    struct kura_cmd_env env = *(const struct kura_cmd_env *)ctx;
    env.socket_mode = true;
    env.output_max = KURA_CTL_MAX_OUTPUT;
    env.flags = req->flags;
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
    const struct kura_cmd_ctx *c = cmd_ctx_of(&cc, env, actor, err, NULL, "reload");
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
