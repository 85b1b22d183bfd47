/* kura_grow: room for one more element, doubling; nothing changed when
 * the room cannot be had. */
#include <stdint.h>
#include <stdlib.h>

#include "kura/grow.h"
#include "unit.h"

static void test_doubles_from_eight(void)
{
    int *v = NULL;
    size_t cap = 0;
    for (size_t n = 0; n < 20; n++) {
        ASSERT(kura_grow((void **)&v, &cap, n, sizeof *v));
        EXPECT(cap > n);
        v[n] = (int)n;
    }
    EXPECT(cap == 32);
    for (size_t n = 0; n < 20; n++)
        EXPECT(v[n] == (int)n);
    /* room left: nothing moves */
    int *before = v;
    EXPECT(kura_grow((void **)&v, &cap, 20, sizeof *v) && v == before && cap == 32);
    free(v);
}

static void test_too_big_changes_nothing(void)
{
    char *v = NULL;
    size_t cap = SIZE_MAX / 2 + 1;
    EXPECT(!kura_grow((void **)&v, &cap, cap, 1));
    EXPECT(v == NULL && cap == SIZE_MAX / 2 + 1);
    size_t small = 8;
    EXPECT(!kura_grow((void **)&v, &small, 8, SIZE_MAX / 8));
    EXPECT(v == NULL && small == 8);
}

int main(void)
{
    RUN(test_doubles_from_eight);
    RUN(test_too_big_changes_nothing);
    return unit_done();
}
