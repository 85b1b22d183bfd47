/* register.c: the operator register replayed from its ledger, changes
 * recorded once, a tampered register refused (R-LOG-7). Group
 * membership through the real group database: a group that does not
 * exist has no members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kura/layout.h"
#include "kura/register.h"
#include "unit.h"

#define NO_GROUP "kura-test-no-such-group"

static char dir[] = "/tmp/kura-test-register-XXXXXX";

static void append(const char *action, const char *name, int64_t at)
{
    char *path = kura_layout_join(dir, KURA_OPERATORS_FILE);
    struct kura_ledger_change ch = {.actor = "root", .uid = 0, .action = action, .target = name, .detail = "",
                                    .before = "", .after = ""};
    struct kura_err err;
    EXPECT(path && kura_ledger_append(path, &ch, at, NULL, NULL, &err) == 0);
    free(path);
}

static void test_replay_and_observe(void)
{
    ASSERT(mkdtemp(dir));
    struct kura_register reg;
    struct kura_err err;
    char *changes = (char *)"untouched";
    ASSERT(kura_register_load(dir, NULL, NULL, &reg, &err) == 0); /* none written yet: empty */
    EXPECT(reg.n == 0 && reg.nrecords == 0 && strspn(reg.head, "0") == KURA_HASH_HEX_LEN);
    kura_register_free(&reg);
    EXPECT(kura_register_observe(dir, NO_GROUP, "root", 0, "", 1800000000, NULL, &changes, &err) == 0);
    EXPECT(changes == NULL); /* an empty group, an empty register: nothing to record */

    /* bob joins, alice joins, bob leaves, bob joins again: bob's "since" is his return. */
    append(KURA_REGISTER_ADDED, "bob", 1800000000);
    append(KURA_REGISTER_ADDED, "alice", 1800000100);
    append(KURA_REGISTER_REMOVED, "bob", 1800000200);
    append(KURA_REGISTER_ADDED, "bob", 1800000300);
    ASSERT(kura_register_load(dir, NULL, NULL, &reg, &err) == 0);
    EXPECT(reg.n == 2 && reg.nrecords == 4);
    EXPECT(strcmp(reg.ops[0].name, "alice") == 0 && strcmp(reg.ops[0].since, "2027-01-15T17:01:40+09:00") == 0);
    EXPECT(strcmp(reg.ops[1].name, "bob") == 0 && strcmp(reg.ops[1].since, "2027-01-15T17:05:00+09:00") == 0);
    kura_register_free(&reg);

    /* The group is gone: both leave, recorded once with who saw it. */
    EXPECT(kura_register_observe(dir, NO_GROUP, "carol", 1003, "login carol", 1800000400, NULL, &changes, &err) ==
           0);
    EXPECT(changes && strcmp(changes, "removed alice, removed bob") == 0);
    free(changes);
    EXPECT(kura_register_observe(dir, NO_GROUP, "carol", 1003, "", 1800000500, NULL, &changes, &err) == 0);
    EXPECT(changes == NULL);
    ASSERT(kura_register_load(dir, NULL, NULL, &reg, &err) == 0);
    EXPECT(reg.n == 0 && reg.nrecords == 6);
    kura_register_free(&reg);
}

static void test_tampered_register_is_refused(void)
{
    char *path = kura_layout_join(dir, KURA_OPERATORS_FILE);
    ASSERT(path);
    FILE *f = fopen(path, "r+");
    ASSERT(f);
    char line[4096];
    ASSERT(fgets(line, sizeof line, f));
    char *bob = strstr(line, "\"bob\"");
    ASSERT(bob);
    fseek(f, (long)(bob - line) + 1, SEEK_SET);
    fputc('m', f); /* "mob" */
    fclose(f);
    struct kura_register reg;
    struct kura_err err = {0};
    EXPECT(kura_register_load(dir, NULL, NULL, &reg, &err) == -1);
    EXPECT_STR_CONTAINS(err.msg, "operators.jsonl:1");
    char *changes = NULL;
    EXPECT(kura_register_observe(dir, NO_GROUP, "root", 0, "", 1800000600, NULL, &changes, &err) == -1);
    EXPECT(changes == NULL);
    free(path);
}

int main(void)
{
    RUN(test_replay_and_observe);
    RUN(test_tampered_register_is_refused);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return unit_done();
}
