/* The state-directory layout (layout.h): the paths its builders make are
 * the layout documented there, which the daemon, kuractl and existing
 * state directories all rely on. */
#include <stdlib.h>
#include <string.h>

#include "kura/layout.h"
#include "unit.h"

static void expect_path(char *got, const char *want)
{
    EXPECT(got && strcmp(got, want) == 0);
    if (got && strcmp(got, want) != 0)
        printf("#   got %s, want %s\n", got, want);
    free(got);
}

static void test_state_paths(void)
{
    expect_path(kura_layout_datasets_dir("/var/lib/kura"), "/var/lib/kura/datasets");
    expect_path(kura_layout_dataset_dir("/var/lib/kura", "JGAD1"), "/var/lib/kura/datasets/JGAD1");
    expect_path(kura_layout_dataset_file("/var/lib/kura", "JGAD1", KURA_DATASET_INI),
                "/var/lib/kura/datasets/JGAD1/dataset.ini");
    expect_path(kura_layout_dataset_file("/s", "D", KURA_FILES_TSV), "/s/datasets/D/files.tsv");
    expect_path(kura_layout_dataset_file("/s", "D", KURA_LEDGER_FILE), "/s/datasets/D/ledger.jsonl");
    expect_path(kura_layout_dataset_file("/s", "D", KURA_DATASET_LOCK), "/s/datasets/D/.lock");
    expect_path(kura_layout_dataset_file("/s", "D", KURA_JOURNAL_FILE), "/s/datasets/D/.pending");
    expect_path(kura_layout_dataset_file("/s", "D", KURA_IMPORT_LOCK), "/s/datasets/D/.import-lock");
    expect_path(kura_layout_store_dir("/s", "D"), "/s/store/D");
    expect_path(kura_layout_join("/s", KURA_LOCKDOWN_FILE), "/s/lockdown");
    expect_path(kura_layout_join("/s", KURA_WARNED_FILE), "/s/warned.tsv");
}

static void test_payload_into_buffer(void)
{
    char buf[32];
    EXPECT(kura_layout_payload(buf, sizeof buf, "/s", "D", "f0001") == 0);
    EXPECT(strcmp(buf, "/s/store/D/f0001") == 0);
    /* A path that does not fit is refused, never cut. */
    EXPECT(kura_layout_payload(buf, sizeof buf, "/a/long/state/directory", "DATASET", "f0001") == -1);
    EXPECT(kura_layout_payload(buf, 17, "/s", "D", "f0001") == 0);
    EXPECT(kura_layout_payload(buf, 16, "/s", "D", "f0001") == -1);
}

static void test_key_paths(void)
{
    expect_path(kura_layout_join("/k", KURA_SERVER_SEC_FILE), "/k/server.sec");
    expect_path(kura_layout_join("/k", KURA_AUDIT_KEY_FILE), "/k/audit.key");
    expect_path(kura_layout_key_dataset_dir("/k", "D"), "/k/datasets/D");
    expect_path(kura_layout_key_dataset_file("/k", "D", KURA_DATASET_KEY_FILE), "/k/datasets/D/dataset.key.c4gh");
    expect_path(kura_layout_header("/k", "D", "f0001"), "/k/datasets/D/f0001.hdr");
}

int main(void)
{
    RUN(test_state_paths);
    RUN(test_payload_into_buffer);
    RUN(test_key_paths);
    return unit_done();
}
