/* Fuzzes the key file parsers: the input is the text of a public or private
 * key file; private keys are tried with a fixed passphrase. Whatever parses
 * must format back to text that parses to the same key. (Encrypted keys run
 * scrypt or PBKDF2 on every input that reaches them: slow by design.) */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_c4gh_common.h"
#include "kura/c4gh.h"
#include "kura/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        CHECK(kura_secmem_init() == 0);
        ready = true;
    }
    struct kura_err err;
    const char *text = (const char *)data;
    uint8_t pk[32], pk2[32];
    if (c4gh_pubkey_parse(text, size, pk, &err) == 0) {
        char *again = c4gh_pubkey_format(pk);
        CHECK(again && c4gh_pubkey_parse(again, strlen(again), pk2, &err) == 0 && memcmp(pk, pk2, 32) == 0);
        free(again);
    } else {
        CHECK(err.code == EINVAL && err.msg[0] != '\0');
    }
    uint8_t *sk = kura_secure_alloc(32), *sk2 = kura_secure_alloc(32);
    CHECK(sk && sk2);
    if (c4gh_seckey_parse(text, size, FUZZ_C4GH_PASSPHRASE, sk, &err) == 0) {
        char *again = c4gh_seckey_format(sk, NULL, "fuzz", &err);
        CHECK(again && c4gh_seckey_parse(again, strlen(again), NULL, sk2, &err) == 0);
        CHECK(sodium_memcmp(sk, sk2, 32) == 0);
        c4gh_text_free(again);
    } else {
        CHECK(err.code == EINVAL || err.code == ENOTSUP || err.code == EACCES || err.code == ENOMEM);
    }
    kura_secure_free(sk);
    kura_secure_free(sk2);
    return 0;
}
