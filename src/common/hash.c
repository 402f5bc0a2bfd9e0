/* hash.c - see hash.h. */
#include "common/hash.h"

#define FNV1A64_OFFSET 0xcbf29ce484222325u
#define FNV1A64_PRIME 0x100000001b3u

uint64_t hash_fnv1a64(const void *data, size_t n)
{
    uint64_t h = FNV1A64_OFFSET;
    for (const unsigned char *p = data; n > 0; n--, p++)
        h = (h ^ *p) * FNV1A64_PRIME;
    return h;
}

uint64_t hash_fnv1a64_str(const char *s)
{
    uint64_t h = FNV1A64_OFFSET;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * FNV1A64_PRIME;
    return h;
}
