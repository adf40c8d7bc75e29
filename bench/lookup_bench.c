/*
** bench/lookup_bench.c — jc-bench-lookup: lookups and opens on a big cache.
**
**   jc-bench-lookup [N]        N records (default 100000)
**
** 1. Fill: N small synthetic loop traces under distinct keys (64 bytes of
**    code, a 4-entry tape, one bound slot and its ABS64 relocation), written
**    the way a JIT writes them: default flags, so jc_rec_finish() only
**    queues and the writer thread commits in batches; jc_cache_flush() at
**    the end waits for the store.
** 2. Lookup latency on a freshly opened handle: random lookups of present
**    keys (jc_lookup + jc_cands_release, each timed alone), a first pass
**    (the store's pages are in the page cache but not yet mapped into this
**    process) and a second, warm pass; then lookups of absent keys.
** 2b. The same on a handle that prefetched every key first: the prefetch
**    thread's cost per key, and the latency of lookups it answers.
** 3. Opening: jc_cache_open + jc_cache_close of the N-record cache, 50 times,
**    and of an empty cache for comparison.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "jcache/jcache.h"

#define KIND_OP 1
#define CODE_LEN 64
#define OPEN_REPS 50

/* -- Keys and records -------------------------------------------------------------- */

static jc_key key_of(uint64_t i, bool present) {
  uint64_t b[2] = {present ? 0x70726573656e74ull : 0x616273656e74ull, i};
  return jc_key_hash(b, sizeof b);
}

/* xorshift64*: a cheap reproducible random index. */
static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1Dull;
}

/* A 64-byte trace: nops, movabs rax, imm64 (the relocation), ret. */
static void record(jc_cache *c, jc_key key, uint64_t i) {
  uint8_t code[CODE_LEN];
  memset(code, 0x90, sizeof code);
  code[6] = 0x48;
  code[7] = 0xB8;
  memset(code + 8, 0, 8);
  code[CODE_LEN - 1] = 0xC3;

  jc_rec *r;
  uint32_t s;
  BENCH_CHECK(jc_rec_begin_loop(c, key, &r));
  BENCH_CHECK(jc_rec_slot_bound(r, &s));
  BENCH_CHECK(jc_rec_green(r, 1, KIND_OP, i));
  BENCH_CHECK(jc_rec_green(r, 2, KIND_OP, i * 3 + 1));
  BENCH_CHECK(jc_rec_bind(r, s));
  BENCH_CHECK(jc_rec_green(r, 3, KIND_OP, i * 7 + 2));
  BENCH_CHECK(jc_rec_reloc(r, 8, JC_RELOC_ABS64, s, 0));
  BENCH_CHECK(jc_rec_finish(r, code, sizeof code, 0, NULL, NULL));
}

/* -- Report --------------------------------------------------------------------------- */

static void latency_line(const char *what, uint64_t *v, size_t n,
                         uint64_t wall) {
  bench_sort(v, n);
  printf("  %-34s median %6.2f us  p90 %6.2f us  p99 %6.2f us  "
         "(mean by wall clock %.2f us)\n",
         what, bench_pct(v, n, 50) / 1e3, bench_pct(v, n, 90) / 1e3,
         bench_pct(v, n, 99) / 1e3, (double)wall / (double)n / 1e3);
}

/* n lookups of random keys among `keys`; expects `want` candidates each. */
static void lookups(jc_cache *c, const jc_key *keys, size_t nkeys, size_t n,
                    size_t want, uint64_t seed, uint64_t *lat,
                    uint64_t *wall) {
  uint64_t s = seed;
  uint64_t w0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) {
    jc_key k = keys[rnd(&s) % nkeys];
    uint64_t t0 = bench_now_ns();
    jc_cands *cs;
    BENCH_CHECK(jc_lookup(c, k, &cs));
    size_t got = jc_cands_count(cs);
    jc_cands_release(cs);
    uint64_t t1 = bench_now_ns();
    lat[i] = t1 - t0;
    if (got != want) {
      fprintf(stderr, "lookup %zu: %zu candidates, expected %zu\n", i, got,
              want);
      exit(1);
    }
  }
  *wall = bench_now_ns() - w0;
}

/* Open + close `reps` times; prints median, p90, min, max in ms. */
static void opens(const char *what, const char *dir) {
  uint64_t t[OPEN_REPS];
  jc_cache_opts o = {.dir = dir};
  for (size_t i = 0; i < OPEN_REPS; i++) {
    uint64_t t0 = bench_now_ns();
    jc_cache *c;
    BENCH_CHECK(jc_cache_open(&bench_ns, &o, &c));
    jc_cache_close(c);
    t[i] = bench_now_ns() - t0;
  }
  bench_sort(t, OPEN_REPS);
  printf("  %-34s median %7.3f ms  p90 %7.3f ms  min %7.3f ms  max %7.3f ms\n",
         what, bench_pct(t, OPEN_REPS, 50) / 1e6, bench_pct(t, OPEN_REPS, 90) / 1e6,
         t[0] / 1e6, t[OPEN_REPS - 1] / 1e6);
}

static double file_mib(const char *dir) {
  char path[4200];
  struct stat st;
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  if (stat(path, &st) != 0) return 0;
  return (double)st.st_size / (1024.0 * 1024.0);
}

int main(int argc, char **argv) {
  size_t n = 100000;
  if (argc > 1) {
    long v = strtol(argv[1], NULL, 10);
    if (v <= 0) {
      fprintf(stderr, "usage: %s [N]   (records, default 100000)\n", argv[0]);
      return 2;
    }
    n = (size_t)v;
  }
  size_t nlook = n; /* lookups per pass */

  jc_key *present = malloc(n * sizeof *present);
  jc_key *absent = malloc(n * sizeof *absent);
  uint64_t *lat = malloc(nlook * sizeof *lat);
  char *dir = bench_tmpdir("jc-bench-lookup");
  char *empty = bench_tmpdir("jc-bench-lookup-empty");
  if (!present || !absent || !lat || !dir || !empty) return 1;
  for (size_t i = 0; i < n; i++) {
    present[i] = key_of(i, true);
    absent[i] = key_of(i, false);
  }

  printf("jc-bench-lookup: %zu records in %s\n", n, dir);

  /* 1. Fill. */
  jc_cache_opts o = {.dir = dir};
  jc_cache *c;
  BENCH_CHECK(jc_cache_open(&bench_ns, &o, &c));
  jc_stats s0, s1;
  jc_stats_get(&s0);
  uint64_t f0 = bench_now_ns();
  for (size_t i = 0; i < n; i++) record(c, present[i], i);
  uint64_t f1 = bench_now_ns();
  BENCH_CHECK(jc_cache_flush(c));
  uint64_t f2 = bench_now_ns();
  jc_stats_get(&s1);
  jc_cache_close(c);
  printf("\n== fill (default flags: writer thread batches) ==\n");
  printf("  recorded (jc_rec_* + finish, queued) %8.3f s  (%.2f us per record)\n",
         (f1 - f0) / 1e9, (double)(f1 - f0) / (double)n / 1e3);
  printf("  in the store (after jc_cache_flush)  %8.3f s  (%.0f records/s)\n",
         (f2 - f0) / 1e9, (double)n / ((f2 - f0) / 1e9));
  printf("  records written %llu, write errors %llu, store file %.1f MiB\n",
         (unsigned long long)(s1.records_written - s0.records_written),
         (unsigned long long)(s1.write_errors - s0.write_errors), file_mib(dir));

  /* 2. Lookup latency, on a fresh handle as a new process would have. */
  BENCH_CHECK(jc_cache_open(&bench_ns, &o, &c));
  uint64_t wall;
  printf("\n== lookup latency (jc_lookup + jc_cands_release, %zu random keys "
         "per pass) ==\n", nlook);
  printf("  target: median under 2 us\n");
  lookups(c, present, n, nlook, 1, 0x9E3779B97F4A7C15ull, lat, &wall);
  latency_line("present, first pass (cold map)", lat, nlook, wall);
  lookups(c, present, n, nlook, 1, 0xD1B54A32D192ED03ull, lat, &wall);
  latency_line("present, second pass (warm)", lat, nlook, wall);
  lookups(c, absent, n, nlook, 0, 0x8CB92BA72F3D8DD7ull, lat, &wall);
  latency_line("absent keys", lat, nlook, wall);
  jc_stats_get(&s1);
  if (s1.records_rejected != s0.records_rejected)
    printf("  note: %llu records rejected on load\n",
           (unsigned long long)(s1.records_rejected - s0.records_rejected));
  jc_cache_close(c);

  /* 2b. The same keys prefetched (jc_cache_prefetch) on a fresh handle:
  ** what the thread costs, and lookups answered from its copies. */
  BENCH_CHECK(jc_cache_open(&bench_ns, &o, &c));
  printf("\n== prefetched (jc_cache_prefetch of all %zu keys, then lookups) ==\n", n);
  uint64_t p0 = bench_now_ns();
  BENCH_CHECK(jc_cache_prefetch(c, present, n));
  jc_cache_prefetch_wait(c);
  uint64_t p1 = bench_now_ns();
  jc_prefetch_info pi;
  jc_cache_prefetch_info(c, &pi);
  printf("  thread: %llu keys, %llu records (%.1f MiB) in %.3f s wall, %.3f s CPU "
         "(%.2f us CPU per key)\n",
         (unsigned long long)pi.keys, (unsigned long long)pi.records,
         (double)pi.bytes / (1024.0 * 1024.0), (p1 - p0) / 1e9, pi.cpu_ns / 1e9,
         pi.keys ? (double)pi.cpu_ns / (double)pi.keys / 1e3 : 0.0);
  lookups(c, present, n, nlook, 1, 0x9E3779B97F4A7C15ull, lat, &wall);
  latency_line("present, prefetched", lat, nlook, wall);
  jc_cache_prefetch_info(c, &pi);
  printf("  lookups answered from the prefetch: %llu of %zu\n",
         (unsigned long long)pi.served, nlook);
  jc_cache_close(c);

  /* 3. Opening. */
  BENCH_CHECK(jc_cache_open(&bench_ns, &(jc_cache_opts){.dir = empty}, &c));
  jc_cache_close(c); /* creates the empty store */
  printf("\n== open (jc_cache_open + jc_cache_close, %d times) ==\n", OPEN_REPS);
  printf("  target: under 1 ms whatever the size\n");
  char what[64];
  snprintf(what, sizeof what, "%zu records (%.1f MiB)", n, file_mib(dir));
  opens(what, dir);
  opens("empty cache", empty);

  bench_rmdir(dir);
  bench_rmdir(empty);
  free(dir);
  free(empty);
  free(present);
  free(absent);
  free(lat);
  return 0;
}
