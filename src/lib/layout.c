#include <stdio.h>
#include <stdlib.h>

#include "kura/layout.h"

/* asprintf's string, or NULL. */
#define BUILD(...)                                  \
    do {                                            \
        char *s_;                                   \
        return asprintf(&s_, __VA_ARGS__) < 0 ? NULL : s_; \
    } while (0)

char *kura_layout_join(const char *dir, const char *name)
{
    BUILD("%s/%s", dir, name);
}

char *kura_layout_datasets_dir(const char *state_dir)
{
    BUILD("%s/" KURA_DATASETS_DIR, state_dir);
}

char *kura_layout_dataset_dir(const char *state_dir, const char *id)
{
    BUILD("%s/" KURA_DATASETS_DIR "/%s", state_dir, id);
}

char *kura_layout_dataset_file(const char *state_dir, const char *id, const char *name)
{
    BUILD("%s/" KURA_DATASETS_DIR "/%s/%s", state_dir, id, name);
}

char *kura_layout_store_dir(const char *state_dir, const char *id)
{
    BUILD("%s/" KURA_STORE_DIR "/%s", state_dir, id);
}

int kura_layout_payload(char *buf, size_t len, const char *state_dir, const char *id, const char *file_id)
{
    int n = snprintf(buf, len, "%s/" KURA_STORE_DIR "/%s/%s", state_dir, id, file_id);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *kura_layout_key_dataset_dir(const char *keys_dir, const char *id)
{
    BUILD("%s/" KURA_KEY_DATASETS_DIR "/%s", keys_dir, id);
}

char *kura_layout_key_dataset_file(const char *keys_dir, const char *id, const char *name)
{
    BUILD("%s/" KURA_KEY_DATASETS_DIR "/%s/%s", keys_dir, id, name);
}

char *kura_layout_header(const char *keys_dir, const char *id, const char *file_id)
{
    BUILD("%s/" KURA_KEY_DATASETS_DIR "/%s/%s" KURA_HEADER_SUFFIX, keys_dir, id, file_id);
}
