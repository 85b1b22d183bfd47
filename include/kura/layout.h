/* The state directory and the keystore on disk: every file and directory
 * name kura keeps, and the paths built from them, in one place (the seam a
 * second storage layout, such as a cluster's, replaces).
 *
 *   STATE/ (state_dir)
 *     datasets/<ID>/dataset.ini       the dataset (dsfile.h)
 *                   files.tsv         its files (dsfile.h)
 *                   ledger.jsonl      its change history (ledger.h)
 *                   .lock             the dataset lock: every change holds it
 *                   .pending          the change journal (cmd_state.c)
 *                   .import-lock      one import at a time; destroy takes it too
 *                   destruction-report.txt
 *     datasets/.new-<ID>/             a dataset add's stage, renamed into place
 *     datasets/.<ID>.add-lock         one add of <ID> at a time
 *     store/<ID>/<FILE_ID>            the ciphertext payloads the mount serves
 *     store/<ID>/<FILE_ID>.part       one being written by an import
 *     lockdown                        present while locked down (lockdown.h)
 *     .lockdown.lock                  lockdown and unlock take it
 *     reminders.tsv                   reminders sent (the daemon's; reminders.h)
 *     operators.jsonl                 the operator register (register.h)
 *     .operators.lock                 its observers take it
 *     audit-summary.md                the last weekly audit summary sent (0600)
 *     cluster-id                      the cluster this state belongs to (cluster mode; cluster.h)
 *   KEYS/ (keys_dir; default STATE/keys)
 *     server.sec, server.pub          the current server key pair (server.sec.new: a
 *                                     rotation's next key before its switch)
 *     audit.key                       the audit log's MAC key
 *     .lock                           the keystore lock
 *     server-keys/<FP>.sec|.pub|.retired   earlier server keys and retirement records
 *     datasets/<ID>/dataset.key.c4gh, dataset.pub   the dataset's delivery key
 *                   (dataset.key.c4gh.old: the wrapped key a rewrap replaces)
 *                   <FILE_ID>.hdr, <FILE_ID>.segmap  each file's header and map
 *
 * Path builders return malloc'd strings (NULL: out of memory); the
 * caller frees them. Ids are checked by the caller. */
#ifndef KURA_LAYOUT_H
#define KURA_LAYOUT_H
#include <stddef.h>

/* ---- STATE ----------------------------------------------------------------- */

#define KURA_DATASETS_DIR "datasets"
#define KURA_STORE_DIR "store"
#define KURA_DATASET_INI "dataset.ini"
#define KURA_FILES_TSV "files.tsv"
#define KURA_LEDGER_FILE "ledger.jsonl"
#define KURA_DATASET_LOCK ".lock"
#define KURA_JOURNAL_FILE ".pending"
#define KURA_IMPORT_LOCK ".import-lock"
#define KURA_DESTRUCTION_REPORT_FILE "destruction-report.txt"
#define KURA_ADD_STAGE_PREFIX ".new-"       /* datasets/.new-<ID> */
#define KURA_ADD_LOCK_SUFFIX ".add-lock"    /* datasets/.<ID>.add-lock */
#define KURA_LOCKDOWN_FILE "lockdown"
#define KURA_LOCKDOWN_LOCK ".lockdown.lock"
#define KURA_REMINDERS_FILE "reminders.tsv"
#define KURA_OPERATORS_FILE "operators.jsonl"
#define KURA_OPERATORS_LOCK ".operators.lock"
#define KURA_AUDIT_SUMMARY_FILE "audit-summary.md"
#define KURA_CLUSTER_ID_FILE "cluster-id"
#define KURA_PART_SUFFIX ".part"            /* store/<ID>/<FILE_ID>.part */

/* ---- KEYS ------------------------------------------------------------------ */

#define KURA_KEYS_DIR_DEFAULT "keys"        /* under STATE unless keys_dir says otherwise */
#define KURA_SERVER_SEC_FILE "server.sec"
#define KURA_SERVER_PUB_FILE "server.pub"
#define KURA_AUDIT_KEY_FILE "audit.key"
#define KURA_KEYSTORE_LOCK ".lock"
#define KURA_SERVER_SEC_NEW_FILE "server.sec.new"
#define KURA_SERVER_KEYS_DIR "server-keys"
#define KURA_EARLIER_SEC_SUFFIX ".sec"     /* server-keys/<FP>.sec */
#define KURA_EARLIER_PUB_SUFFIX ".pub"
#define KURA_RETIRED_SUFFIX ".retired"
#define KURA_REWRAP_OLD_SUFFIX ".old"
/* Where a key file goes, in one rename, before it is overwritten and
 * removed: a kill mid-overwrite leaves no torn key under its own name, and
 * the next keystore open finishes the erasure. */
#define KURA_KEYS_DESTROYING_DIR ".destroying"
#define KURA_KEY_DATASETS_DIR "datasets"
#define KURA_DATASET_KEY_FILE "dataset.key.c4gh"
#define KURA_DATASET_PUB_FILE "dataset.pub"
#define KURA_HEADER_SUFFIX ".hdr"
#define KURA_SEGMAP_SUFFIX ".segmap"

/* dir/name: a file of a directory the caller already has. */
char *kura_layout_join(const char *dir, const char *name);

/* STATE/datasets, STATE/datasets/<ID>, STATE/datasets/<ID>/NAME */
char *kura_layout_datasets_dir(const char *state_dir);
char *kura_layout_dataset_dir(const char *state_dir, const char *id);
char *kura_layout_dataset_file(const char *state_dir, const char *id, const char *name);
/* STATE/store/<ID>, and one payload into buf (the open path allocates
 * nothing): -1 if it does not fit. */
char *kura_layout_store_dir(const char *state_dir, const char *id);
int kura_layout_payload(char *buf, size_t len, const char *state_dir, const char *id, const char *file_id);

/* KEYS/datasets/<ID>, KEYS/datasets/<ID>/NAME, KEYS/datasets/<ID>/<FILE_ID>.hdr */
char *kura_layout_key_dataset_dir(const char *keys_dir, const char *id);
char *kura_layout_key_dataset_file(const char *keys_dir, const char *id, const char *name);
char *kura_layout_header(const char *keys_dir, const char *id, const char *file_id);

#endif
