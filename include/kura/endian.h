/* Fixed-width integers in byte order, whatever the host's: little-endian
 * for Crypt4GH fields, the control socket's frames and the keystore's
 * segment maps; big-endian for TZif and OpenSSH-style key fields. Byte by
 * byte, so p need not be aligned. Header-only, with no dependencies, so the
 * codec can use it without pulling in anything else. */
#ifndef KURA_ENDIAN_H
#define KURA_ENDIAN_H
#include <stdint.h>

static inline uint32_t kura_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t kura_le64(const uint8_t *p)
{
    return (uint64_t)kura_le32(p) | (uint64_t)kura_le32(p + 4) << 32;
}

static inline void kura_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void kura_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t kura_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t kura_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t kura_be64(const uint8_t *p)
{
    return (uint64_t)kura_be32(p) << 32 | kura_be32(p + 4);
}

static inline void kura_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

#endif
