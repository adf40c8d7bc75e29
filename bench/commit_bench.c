/*
** bench/commit_bench.c — jc-bench-commit: what reloading one trace costs.
**
** The reload path of a trace, as a VM runs it when a loop gets hot:
**
**   jc_lookup           find the candidates of the loop's key
**   jc_replay_begin     start the checking iteration
**   200 x green/bind    150 green decisions and 50 constant bindings
**   jc_replay_commit    copy the code into the arena, patch 50 ABS64
**                       relocations, make it executable, register it
**
** timed per iteration and per phase, for 1 KiB and for 16 KiB of code, next
** to the floor that any loader of machine code pays: copying the same bytes
** into writable memory and making them executable.
**
** The synthetic trace is straight-line code: nops, 50 `movabs rax, imm64`
** whose imm64 fields (8-byte aligned) are the relocations, and a final ret.
** A real JIT puts constants in exactly such fields; unlike raw nops it stays
** valid machine code whatever values are patched in, so every committed copy
** is called once (outside the timed region) and its patched fields checked.
**
** Floors, each timed per iteration (the mapping is never prepared once
** outside the loop, which would leave only a memcpy):
**   flip   memcpy into a page-aligned read+write region, mprotect it
**          read+exec, mprotect it back read+write for the next iteration:
**          exactly "copy + protect", the floor the ratio is computed against;
**   fresh  mmap a fresh read+write mapping, memcpy, mprotect read+exec,
**          munmap: the same plus the cost of a new mapping, for reference.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench_util.h"
#include "jcache/jcache.h"

#define NSLOTS 50   /* bound slots, one ABS64 relocation each */
#define NGREENS 150 /* green decisions */
#define GREENS_PER_BIND (NGREENS / NSLOTS)
#define KIND_OP 1

/* -- The synthetic trace ------------------------------------------------------ */

typedef struct trace_shape {
  size_t len;            /* code bytes */
  uint32_t off[NSLOTS];  /* imm64 field of relocation j (8-aligned) */
  uint8_t *code;
  jc_key key;
} trace_shape;

/* A green fingerprint that depends on the site only (splitmix64). */
static uint64_t fp_of(uint32_t site) {
  uint64_t z = (uint64_t)site + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Nops, 50 movabs rax, imm64 spread evenly, ret. */
static void shape_init(trace_shape *s, size_t len) {
  s->len = len;
  s->code = malloc(len);
  if (!s->code) exit(1);
  memset(s->code, 0x90, len);
  s->code[len - 1] = 0xC3;
  /* Each movabs is 10 bytes (48 B8 imm64) with its imm64 8-aligned: a
  ** stride of at least 16 keeps them apart, and the last one ends well
  ** before the ret. */
  uint32_t stride = (uint32_t)((len - 16) / NSLOTS) & ~7u;
  for (uint32_t j = 0; j < NSLOTS; j++) {
    uint32_t off = 8 + j * stride;
    s->off[j] = off;
    s->code[off - 2] = 0x48;
    s->code[off - 1] = 0xB8;
    memset(s->code + off, 0, 8);
  }
  char tag[32];
  snprintf(tag, sizeof tag, "commit-bench-%zu", len);
  s->key = jc_key_hash(tag, strlen(tag));
}

/* The fixed tape order: three greens, then a bind, fifty times. */
static void record(jc_cache *c, const trace_shape *s) {
  jc_rec *r;
  BENCH_CHECK(jc_rec_begin_loop(c, s->key, &r));
  uint32_t slot[NSLOTS];
  for (uint32_t j = 0; j < NSLOTS; j++) BENCH_CHECK(jc_rec_slot_bound(r, &slot[j]));
  for (uint32_t j = 0; j < NSLOTS; j++) {
    for (uint32_t g = 0; g < GREENS_PER_BIND; g++) {
      uint32_t site = j * GREENS_PER_BIND + g;
      BENCH_CHECK(jc_rec_green(r, site, KIND_OP, fp_of(site)));
    }
    BENCH_CHECK(jc_rec_bind(r, slot[j]));
  }
  for (uint32_t j = 0; j < NSLOTS; j++)
    BENCH_CHECK(jc_rec_reloc(r, s->off[j], JC_RELOC_ABS64, slot[j], 0));
  BENCH_CHECK(jc_rec_name(r, "jc_bench_commit_loop"));
  BENCH_CHECK(jc_rec_finish(r, s->code, s->len, 0, NULL, NULL));
}

/* The constant slot j is bound to in iteration `it`: new every time, as
** if each run met new class pointers. */
static uint64_t value_of(uint32_t it, uint32_t j) {
  return 0x00007F0000000000ull + ((uint64_t)it << 16) + (uint64_t)j * 8;
}

/* -- One reload, timed by phase ------------------------------------------------------ */

typedef struct samples {
  uint64_t *lookup, *replay, *commit, *total, *release;
} samples;

static void samples_alloc(samples *sm, size_t n) {
  sm->lookup = calloc(n, sizeof(uint64_t));
  sm->replay = calloc(n, sizeof(uint64_t));
  sm->commit = calloc(n, sizeof(uint64_t));
  sm->total = calloc(n, sizeof(uint64_t));
  sm->release = calloc(n, sizeof(uint64_t));
  if (!sm->lookup || !sm->replay || !sm->commit || !sm->total || !sm->release)
    exit(1);
}

static void samples_free(samples *sm) {
  free(sm->lookup);
  free(sm->replay);
  free(sm->commit);
  free(sm->total);
  free(sm->release);
}

/* Reload the trace once; with `sm`, store the phase times at index i. */
static void reload_once(jc_cache *c, const trace_shape *s, uint32_t it,
                        samples *sm, size_t i) {
  uint64_t t0 = bench_now_ns();
  jc_cands *cs;
  BENCH_CHECK(jc_lookup(c, s->key, &cs));
  uint64_t t1 = bench_now_ns();

  jc_replay *r;
  BENCH_CHECK(jc_replay_begin(c, cs, NULL, NULL, &r));
  for (uint32_t j = 0; j < NSLOTS; j++) {
    for (uint32_t g = 0; g < GREENS_PER_BIND; g++) {
      uint32_t site = j * GREENS_PER_BIND + g;
      BENCH_CHECK(jc_replay_green(r, site, KIND_OP, fp_of(site)));
    }
    BENCH_CHECK(jc_replay_bind(r, value_of(it, j)));
  }
  uint64_t t2 = bench_now_ns();

  jc_trace *t;
  size_t n;
  BENCH_CHECK(jc_replay_commit(r, &t, 1, &n));
  uint64_t t3 = bench_now_ns();

  /* Outside the timed phases: run it, and check what was patched. */
  if (n != 1) {
    fprintf(stderr, "commit returned %zu traces\n", n);
    exit(1);
  }
  void (*fn)(void) = (void (*)(void))jc_trace_entry(t);
  fn();
  const uint8_t *code = jc_trace_code(t, NULL);
  for (uint32_t j = 0; j < NSLOTS; j++) {
    uint64_t v;
    memcpy(&v, code + s->off[j], 8);
    if (v != value_of(it, j)) {
      fprintf(stderr, "relocation %u: found %#llx, expected %#llx\n", j,
              (unsigned long long)v, (unsigned long long)value_of(it, j));
      exit(1);
    }
  }

  uint64_t t4 = bench_now_ns();
  jc_trace_release(t);
  jc_cands_release(cs);
  uint64_t t5 = bench_now_ns();

  if (sm) {
    sm->lookup[i] = t1 - t0;
    sm->replay[i] = t2 - t1;
    sm->commit[i] = t3 - t2;
    sm->total[i] = t3 - t0;
    sm->release[i] = t5 - t4;
  }
}

/* -- Floors ------------------------------------------------------------------------------- */

static size_t page_round(size_t n) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  return (n + pg - 1) & ~(pg - 1);
}

/* flip: copy into the RW region `p`, protect RX, unprotect for the next
** round.  Returns the time taken. */
static uint64_t floor_flip(const trace_shape *s, uint8_t *p) {
  size_t len = page_round(s->len);
  uint64_t t0 = bench_now_ns();
  memcpy(p, s->code, s->len);
  if (mprotect(p, len, PROT_READ | PROT_EXEC) != 0 ||
      mprotect(p, len, PROT_READ | PROT_WRITE) != 0) {
    perror("mprotect");
    exit(1);
  }
  return bench_now_ns() - t0;
}

/* fresh: a new mapping every time. */
static uint64_t floor_fresh(const trace_shape *s) {
  size_t len = page_round(s->len);
  uint64_t t0 = bench_now_ns();
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  memcpy(p, s->code, s->len);
  if (mprotect(p, len, PROT_READ | PROT_EXEC) != 0) {
    perror("mprotect");
    exit(1);
  }
  munmap(p, len);
  return bench_now_ns() - t0;
}

/* -- Report ------------------------------------------------------------------------------ */

static double us(uint64_t ns) { return (double)ns / 1000.0; }

/* One line: median and p90 of a sample set (sorted in place). */
static void line(const char *what, uint64_t *v, size_t n) {
  bench_sort(v, n);
  printf("  %-48s median %8.2f us   p90 %8.2f us\n", what,
         us(bench_pct(v, n, 50)), us(bench_pct(v, n, 90)));
}

/* Which arena mode this process got (the library does not export it). */
static const char *arena_mode(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return "unknown";
  char buf[512];
  bool memfd = false;
  while (fgets(buf, sizeof buf, f))
    if (strstr(buf, "memfd:jcache-code")) memfd = true;
  fclose(f);
  return memfd ? "memfd (executable view + short-lived write window)"
               : "fallback (mprotect flips of the written pages)";
}

static void bench_size(jc_cache *c, size_t len, size_t iters, size_t warm) {
  trace_shape s;
  shape_init(&s, len);
  record(c, &s);

  jc_stats before, after;
  samples sm;
  samples_alloc(&sm, iters);
  uint64_t *flip = calloc(iters, sizeof *flip);
  uint64_t *fresh = calloc(iters, sizeof *fresh);
  size_t plen = page_round(len);
  uint8_t *region = mmap(NULL, plen, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!flip || !fresh || region == MAP_FAILED) exit(1);

  /* Reloads and floors alternate, so that a noisy neighbour on this shared
  ** machine slows both alike instead of skewing the ratio. */
  for (size_t i = 0; i < warm; i++) {
    reload_once(c, &s, (uint32_t)i, NULL, 0);
    floor_flip(&s, region);
    floor_fresh(&s);
  }
  jc_stats_get(&before);
  for (size_t i = 0; i < iters; i++) {
    reload_once(c, &s, (uint32_t)(warm + i), &sm, i);
    flip[i] = floor_flip(&s, region);
    fresh[i] = floor_fresh(&s);
  }
  jc_stats_get(&after);
  munmap(region, plen);

  printf("\n== %zu KiB of code (%zu bytes), %zu iterations after %zu warm-up ==\n",
         len / 1024, len, iters, warm);
  line("reload: lookup + replay + commit", sm.total, iters);
  line("  lookup   (jc_lookup)", sm.lookup, iters);
  line("  replay   (jc_replay_begin + 200 calls)", sm.replay, iters);
  line("  commit   (jc_replay_commit)", sm.commit, iters);
  line("  [not counted] jc_trace_release + cands", sm.release, iters);
  line("floor flip:  memcpy, mprotect RX, mprotect RW", flip, iters);
  line("floor fresh: mmap, memcpy, mprotect RX, munmap", fresh, iters);

  uint64_t total = bench_pct(sm.total, iters, 50);
  uint64_t commit = bench_pct(sm.commit, iters, 50);
  uint64_t fl = bench_pct(flip, iters, 50), fr = bench_pct(fresh, iters, 50);
  printf("  target: within 3x of the floor (floor = flip)\n");
  printf("  ratio reload / floor flip:  %6.2fx   (commit alone: %.2fx)\n",
         (double)total / (double)fl, (double)commit / (double)fl);
  printf("  ratio reload / floor fresh: %6.2fx   (commit alone: %.2fx)\n",
         (double)total / (double)fr, (double)commit / (double)fr);
  printf("  per reload: %.1f relocations patched, %.0f code bytes, "
         "%.1f lookups\n",
         (double)(after.relocs_patched - before.relocs_patched) / (double)iters,
         (double)(after.bytes_reloaded - before.bytes_reloaded) / (double)iters,
         (double)(after.lookups - before.lookups) / (double)iters);

  free(flip);
  free(fresh);
  samples_free(&sm);
  free(s.code);
}

int main(int argc, char **argv) {
  size_t iters1 = 2000;
  if (argc > 1) {
    long v = strtol(argv[1], NULL, 10);
    if (v <= 0) {
      fprintf(stderr, "usage: %s [ITERATIONS_1KIB]  (16 KiB runs half)\n",
              argv[0]);
      return 2;
    }
    iters1 = (size_t)v;
  }
  size_t iters16 = iters1 / 2 ? iters1 / 2 : 1;

  char *dir = bench_tmpdir("jc-bench-commit");
  if (!dir) return 1;
  jc_cache_opts o = {.dir = dir, .flags = JC_CACHE_SYNC_WRITE};
  jc_cache *c;
  BENCH_CHECK(jc_cache_open(&bench_ns, &o, &c));
  /* Reserve the arena now, so the first reload does not pay for it. */
  BENCH_CHECK(jc_arena_init(NULL));

  printf("jc-bench-commit: cost of reloading one trace "
         "(%d-entry tape: %d GREEN + %d BIND; %d ABS64 relocations)\n",
         NGREENS + NSLOTS, NGREENS, NSLOTS, NSLOTS);
  printf("cache: %s (JC_CACHE_SYNC_WRITE)\n", dir);
  printf("arena: %s\n", arena_mode());
  printf("times: CLOCK_MONOTONIC around each phase of each iteration; "
         "medians and p90 in microseconds\n");
  printf("floor: 'flip' (memcpy into a page-aligned RW region, mprotect RX, "
         "mprotect back RW),\n       i.e. copy + protect; the ratio is "
         "computed against it.  'fresh' (a new mapping\n       per trace) is "
         "shown for reference.\n");

  bench_size(c, 1024, iters1, iters1 / 10);
  bench_size(c, 16384, iters16, iters16 / 10);

  jc_cache_close(c);
  bench_rmdir(dir);
  free(dir);
  return 0;
}
