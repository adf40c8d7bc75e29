/*
** lib/hash.h — XXH3-64 over record bytes (checksums and trace ids).
*/
#ifndef JC_LIB_HASH_H
#define JC_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* XXH3-64 (no seed) of [p, p+n): the same value as libxxhash's
** XXH3_64bits, with AVX2 where the CPU has it (hash_avx2.c). */
uint64_t jc_hash64(const void *p, size_t n);

/* The AVX2 build of XXH3-64 (hash_avx2.c); only called on a CPU with AVX2. */
uint64_t jc_hash64_avx2(const void *p, size_t n);

#endif
