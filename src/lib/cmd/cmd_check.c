/* kuractl check [--root DIR] [--ruleset FILE] [--json] [--lang ja|en]:
 * the server's self-inspection (selfcheck.h) printed item by item, with
 * the guideline item each answers. Exit 1 when any item fails (a warning
 * does not). --root and --ruleset name files the command reads as root:
 * only root on the server gives them, never a caller through the daemon. */
#include <stdlib.h>
#include <string.h>

#include "cmd_priv.h"
#include "kura/json.h"
#include "kura/selfcheck.h"

struct check_words {
    const char *guideline, *seen, *fix;
};

static const struct check_words words_ja = {"ガイドライン", "確認結果", "対処"};
static const struct check_words words_en = {"guideline", "seen", "fix"};

static int print_json(const struct kura_cmd_ctx *c, const struct kura_check_result *r, size_t n, bool en)
{
    fprintf(c->out, "[");
    for (size_t i = 0; i < n; i++) {
        const struct kura_check_def *d = r[i].def;
        char buf[4096];
        struct kura_json_writer w;
        kura_json_begin(&w, buf, sizeof buf);
        kura_json_add_string(&w, "id", d->id);
        kura_json_add_string(&w, "verdict", kura_check_verdict_name(r[i].verdict));
        kura_json_add_string(&w, "guideline", en ? d->guideline_en : d->guideline_ja);
        kura_json_add_string(&w, "title", en ? d->title_en : d->title_ja);
        kura_json_add_string(&w, "seen", r[i].seen);
        kura_json_add_string(&w, "fix", r[i].verdict == KURA_CHECK_PASS ? "" : en ? d->fix_en : d->fix_ja);
        if (cmd_json_item(c, &w, i == 0, "a check item") != 0)
            return -1;
    }
    fprintf(c->out, "]\n");
    return 0;
}

int cmd_check(const struct kura_cmd_ctx *c, int argc, char **argv)
{
    const char *root = NULL, *ruleset = NULL, *lang = "ja";
    bool json = false;
    const struct cmd_opt opts[] = {{"root", true, &root, NULL},
                                   {"ruleset", true, &ruleset, NULL},
                                   {"json", false, NULL, &json},
                                   {"lang", true, &lang, NULL},
                                   {0}};
    char *pos[1];
    int npos;
    if (cmd_parse(c, argc, argv, opts, pos, 0, 0, &npos) != 0)
        return KURA_EXIT_USAGE;
    enum kura_report_lang language;
    if (kura_report_lang_parse(lang, &language) != 0)
        return cmd_usage(c, "--lang is ja or en");
    if (c->env->socket_mode && (root || ruleset))
        return cmd_fail(c, "--root and --ruleset are for root on the server (kuractl run as root)");
    if (root && root[0] != '/')
        return cmd_usage(c, "--root needs an absolute directory");
    bool en = language == KURA_REPORT_EN;
    const struct kura_check_input in = {.root = root, .keys_dir = c->env->cfg->keys_dir, .ruleset = ruleset};
    size_t n = kura_check_count(), count[3] = {0};
    struct kura_check_result *r = calloc(n, sizeof *r);
    if (!r)
        return cmd_fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        kura_check_eval(kura_check_def_at(i), &in, &r[i]);
        count[r[i].verdict]++;
    }
    if (json) {
        if (print_json(c, r, n, en) != 0) {
            free(r);
            return KURA_EXIT_FAIL;
        }
    } else {
        const struct check_words *w = en ? &words_en : &words_ja;
        fprintf(c->out, en ? "kura self-check of %s\n\n" : "kura 自己点検: %s\n\n", root ? root : "/");
        for (size_t i = 0; i < n; i++) {
            const struct kura_check_def *d = r[i].def;
            fprintf(c->out, "%-4s  %-16s %s\n      %s: %s\n      %s: %s\n", kura_check_verdict_name(r[i].verdict),
                    d->id, en ? d->title_en : d->title_ja, w->guideline, en ? d->guideline_en : d->guideline_ja,
                    w->seen, r[i].seen);
            if (r[i].verdict != KURA_CHECK_PASS)
                fprintf(c->out, "      %s: %s\n", w->fix, en ? d->fix_en : d->fix_ja);
        }
        fputc('\n', c->out);
        if (en)
            fprintf(c->out, "%zu pass, %zu warn, %zu fail\n", count[KURA_CHECK_PASS], count[KURA_CHECK_WARN],
                    count[KURA_CHECK_FAIL]);
        else
            fprintf(c->out, "合格 %zu、警告 %zu、不合格 %zu\n", count[KURA_CHECK_PASS], count[KURA_CHECK_WARN],
                    count[KURA_CHECK_FAIL]);
    }
    free(r);
    return count[KURA_CHECK_FAIL] ? KURA_EXIT_FAIL : KURA_EXIT_OK;
}
