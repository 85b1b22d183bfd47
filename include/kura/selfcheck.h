/* The server's self-inspection (kuractl check): what software can see of
 * the NBDC human data security guidelines' technical items (NBDC ヒトデータ
 * 取扱いセキュリティガイドライン, data users' edition, Type I "2-1", "2-2
 * <データサーバについて>", "2-3"), each answered pass, warn or fail with
 * what was seen and how to fix it.
 *
 * Evaluation reads only files below a root directory (default "/"): the
 * configuration files and /proc entries named per item in docs/operator.md
 * "kuractl check". A test builds a temporary root with real files and gets
 * the verdict a server with those files gets. Nothing is executed and
 * nothing is written; a file that cannot be read is evidence like any
 * other (usually "cannot tell": warn). */
#ifndef KURA_SELFCHECK_H
#define KURA_SELFCHECK_H
#include <stddef.h>

enum kura_check_verdict { KURA_CHECK_PASS, KURA_CHECK_WARN, KURA_CHECK_FAIL };

/* One item: its id (a stable word for scripts and --json), the guideline
 * item it answers, its title and the fix, in Japanese and English. */
struct kura_check_def {
    const char *id;
    const char *guideline_ja, *guideline_en;
    const char *title_ja, *title_en;
    const char *fix_ja, *fix_en;
};

#define KURA_CHECK_SEEN_MAX 512

struct kura_check_result {
    const struct kura_check_def *def;
    enum kura_check_verdict verdict;
    char seen[KURA_CHECK_SEEN_MAX];  /* what was found, in file names and values (one line) */
};

struct kura_check_input {
    const char *root;        /* every path below is read under it; NULL: "/" */
    const char *keys_dir;    /* the configured keystore (an absolute path, read under root) */
    const char *ruleset;     /* `nft list ruleset` or `iptables-save` output in a file (a
                                path as given, not under root), or NULL: the boot-time rule files */
};

/* The items, in report order. */
size_t kura_check_count(void);
const struct kura_check_def *kura_check_def_at(size_t i);
/* The item whose id is id, or NULL. */
const struct kura_check_def *kura_check_find(const char *id);

/* Evaluates one item. */
void kura_check_eval(const struct kura_check_def *def, const struct kura_check_input *in,
                     struct kura_check_result *r);

/* "pass", "warn", "fail" */
const char *kura_check_verdict_name(enum kura_check_verdict v);

#endif
