/*
** lib/hash_avx2.c — XXH3-64 built for AVX2 (this file alone is compiled
** with -mavx2, see lib/CMakeLists.txt; hash.c calls it only on a CPU that
** has AVX2).  xxhash.h's inline build picks its AVX2 loop from __AVX2__;
** elsewhere this is libxxhash's XXH3_64bits.
*/
#include "hash.h"

#if defined(__x86_64__) && defined(__AVX2__)
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

uint64_t jc_hash64_avx2(const void *p, size_t n) { return XXH3_64bits(p, n); }
