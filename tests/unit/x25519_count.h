/* Counts the X25519 operations the code under test asks of libsodium: the
 * test program's own definitions of the two calls kura makes come before
 * libsodium's at link time, count, and hand over to libsodium's (dlsym
 * RTLD_NEXT). Include it in one test program's main file only. */
#ifndef KURA_X25519_COUNT_H
#define KURA_X25519_COUNT_H
#include <dlfcn.h>
#include <sodium.h>
#include <stdlib.h>

static unsigned long x25519_base_count, x25519_kx_count;

int crypto_scalarmult_base(unsigned char *q, const unsigned char *n)
{
    static int (*real)(unsigned char *, const unsigned char *);
    if (!real && !(*(void **)&real = dlsym(RTLD_NEXT, "crypto_scalarmult_base")))
        abort();
    x25519_base_count++;
    return real(q, n);
}

int crypto_kx_client_session_keys(unsigned char rx[crypto_kx_SESSIONKEYBYTES],
                                  unsigned char tx[crypto_kx_SESSIONKEYBYTES],
                                  const unsigned char client_pk[crypto_kx_PUBLICKEYBYTES],
                                  const unsigned char client_sk[crypto_kx_SECRETKEYBYTES],
                                  const unsigned char server_pk[crypto_kx_PUBLICKEYBYTES])
{
    static int (*real)(unsigned char *, unsigned char *, const unsigned char *, const unsigned char *,
                       const unsigned char *);
    if (!real && !(*(void **)&real = dlsym(RTLD_NEXT, "crypto_kx_client_session_keys")))
        abort();
    x25519_kx_count++;
    return real(rx, tx, client_pk, client_sk, server_pk);
}

/* X25519 operations since the last call. */
static inline unsigned long x25519_ops(void)
{
    unsigned long n = x25519_base_count + x25519_kx_count;
    x25519_base_count = x25519_kx_count = 0;
    return n;
}
#endif
