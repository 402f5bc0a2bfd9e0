/* hash.h - 64-bit FNV-1a (Fowler, Noll, Vo): a fast, stable, non-cryptographic hash, used
 * where the value must not change between runs or machines (shards, fixture checksums). */
#ifndef CAPTION_COMMON_HASH_H
#define CAPTION_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a of n bytes. */
uint64_t hash_fnv1a64(const void *data, size_t n);

/* FNV-1a of a NUL-terminated string's bytes (the NUL excluded). */
uint64_t hash_fnv1a64_str(const char *s);

#endif
