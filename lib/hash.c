/*
** lib/hash.c — XXH3-64 over record bytes, with the widest safe vector unit.
**
** Every lookup checksums each candidate record, so the hash is on the
** reload path: AVX2 hashes a record about three times as fast as the SSE2
** baseline libxxhash is built for.  Not AVX-512, although libxxhash's own
** run-time dispatch (xxh_x86dispatch.h) would pick it: its code leaves the
** upper halves of the vector registers dirty, and every legacy-SSE
** instruction after it then pays a transition penalty, the JIT's float
** code included: mandelbrot ran at half speed in the whole process, cold
** and warm alike.  The AVX2 build ends its functions with vzeroupper.
*/
#include <xxhash.h>

#include "hash.h"

typedef uint64_t (*hash_fn)(const void *, size_t);

static uint64_t hash_base(const void *p, size_t n) { return XXH3_64bits(p, n); }

static hash_fn pick(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return jc_hash64_avx2;
#endif
  return hash_base;
}

uint64_t jc_hash64(const void *p, size_t n) {
  /* Every thread computes the same choice: a relaxed race is harmless. */
  static hash_fn fn;
  hash_fn f = __atomic_load_n(&fn, __ATOMIC_RELAXED);
  if (!f) {
    f = pick();
    __atomic_store_n(&fn, f, __ATOMIC_RELAXED);
  }
  return f(p, n);
}
