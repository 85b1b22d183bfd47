/* Arrays: how many elements a fixed one holds, and room for one more
 * element at the end of a growing one. */
#ifndef KURA_GROW_H
#define KURA_GROW_H
#include <stdbool.h>
#include <stddef.h>

#define KURA_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* *v holds n elements of size bytes in room for *cap: when full, the room
 * doubles (8 at first). false, with *v and *cap as they were, when there
 * is no memory. */
bool kura_grow(void **v, size_t *cap, size_t n, size_t size);

#endif
