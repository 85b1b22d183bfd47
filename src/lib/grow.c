#include <stdint.h>
#include <stdlib.h>

#include "kura/grow.h"

bool kura_grow(void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 8;
    if (c < *cap || c > SIZE_MAX / size)
        return false;
    void *g = realloc(*v, c * size);
    if (!g)
        return false;
    *v = g;
    *cap = c;
    return true;
}
