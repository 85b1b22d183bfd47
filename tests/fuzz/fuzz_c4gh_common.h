/* Fixed test keys and passphrase shared by the Crypt4GH fuzz targets and
 * their seed generator (tests/helpers/c4gh_fuzz_seeds.c), so committed seeds
 * open in the targets. Test keys only: never used for data. */
#ifndef KURA_FUZZ_C4GH_COMMON_H
#define KURA_FUZZ_C4GH_COMMON_H
#include <stdint.h>

#define FUZZ_C4GH_PASSPHRASE "fuzz"

/* which 0: the recipient the header target opens with; 1: a second key. */
static inline void fuzz_c4gh_secret(int which, uint8_t sk[32])
{
    for (int i = 0; i < 32; i++)
        sk[i] = (uint8_t)(0x11 * (which + 1) + 7 * i);
}

/* Header target input: byte 0 picks the mode (even: a Crypt4GH file
 * follows; odd: header packet plaintexts follow, as u16le length + bytes,
 * sealed by the target, and byte 0 >> 1 sets the payload size). */
#define FUZZ_C4GH_MODE_FILE 0
#define FUZZ_C4GH_MODE_PACKETS 1
#define FUZZ_C4GH_MAX_PACKETS 8
#define FUZZ_C4GH_SIZE_UNIT 9001 /* up to 1.1 MB: more than one 16-segment read batch */

#endif
