/* endian.h: byte order fixed by the format, not by the host; any alignment. */
#include <stdint.h>
#include <string.h>

#include "kura/endian.h"
#include "unit.h"

static const uint8_t bytes[9] = {0xff, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x88};

static void test_little_endian(void)
{
    /* From bytes + 1: an odd address as well. */
    EXPECT(kura_le32(bytes + 1) == 0x04030201u);
    EXPECT(kura_le64(bytes + 1) == 0x8807060504030201ull);
    uint8_t out[9] = {0};
    kura_put_le32(out + 1, 0x04030201u);
    EXPECT(memcmp(out + 1, bytes + 1, 4) == 0);
    EXPECT(out[0] == 0 && out[5] == 0);
    kura_put_le64(out + 1, 0x8807060504030201ull);
    EXPECT(memcmp(out + 1, bytes + 1, 8) == 0);
    EXPECT(out[0] == 0);
    /* Highest bits survive (no sign extension). */
    kura_put_le32(out, 0xfffffffeu);
    EXPECT(kura_le32(out) == 0xfffffffeu);
    kura_put_le64(out, UINT64_MAX - 1);
    EXPECT(kura_le64(out) == UINT64_MAX - 1);
}

static void test_big_endian(void)
{
    EXPECT(kura_be16(bytes + 1) == 0x0102u);
    EXPECT(kura_be32(bytes + 1) == 0x01020304u);
    EXPECT(kura_be64(bytes + 1) == 0x0102030405060788ull);
    EXPECT(kura_be32(bytes) == 0xff010203u);
    EXPECT(kura_be16(bytes + 7) == 0x0788u);
    uint8_t out[3] = {0};
    kura_put_be16(out + 1, 0xa1b2u);
    EXPECT(out[0] == 0 && out[1] == 0xa1 && out[2] == 0xb2);
    EXPECT(kura_be16(out + 1) == 0xa1b2u);
}

int main(void)
{
    RUN(test_little_endian);
    RUN(test_big_endian);
    return unit_done();
}
