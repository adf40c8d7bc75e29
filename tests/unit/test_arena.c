/*
** tests/unit/test_arena.c — the code arena: real x86-64 code written,
** called and patched live; W^X checked in /proc/self/maps; placement near
** the host; the allocator under random load, exhaustion and shrink; bad
** arguments; threads; fork.
**
** Configurations that need a fresh arena (fallback mode, a small arena,
** jc_arena_init with options) run in a re-executed copy of this program:
** `test_arena --child NAME`, with the environment set before its first use.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "jcache/arena.h"
#include "mem.h"
#include "jcache/error.h"
#include "mem.h"
#include "testutil.h"

#define GiB ((uintptr_t)1 << 30)
#define JC_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

typedef int (*int_fn)(void);

/* mov eax, imm32; ret */
static void encode_ret(uint8_t out[6], int32_t v) {
  out[0] = 0xb8;
  memcpy(out + 1, &v, 4);
  out[5] = 0xc3;
}

static int call(void *code) { return ((int_fn)(uintptr_t)code)(); }

/* The mode this process's arena is expected in: fallback if forced, or if
** the parent denied memfd_create with seccomp (JCACHE_TEST_NOMEMFD_SYSCALL). */
static bool fallback_mode(void) {
  const char *s = getenv("JCACHE_ARENA_NOMEMFD");
  return (s && *s && strcmp(s, "0") != 0) ||
         getenv("JCACHE_TEST_NOMEMFD_SYSCALL") != NULL;
}

/* Allocate and write `mov eax, v; ret`. */
static void *emit_ret(int32_t v) {
  void *code;
  uint8_t buf[6];
  encode_ret(buf, v);
  assert_int_equal(jc_arena_alloc(sizeof buf, &code), JC_OK);
  assert_int_equal(jc_arena_write(code, buf, sizeof buf), JC_OK);
  return code;
}

/* -- /proc/self/maps ----------------------------------------------------- */

typedef struct map_ent {
  uintptr_t lo, hi;
  char perms[5];
  char path[256];
} map_ent;

/* Read the current mappings; returns how many (at most `max`). */
static int read_maps(map_ent *out, int max) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char *line = NULL;
  size_t cap = 0;
  int n = 0;
  while (n < max && getline(&line, &cap, f) > 0) {
    map_ent *m = &out[n];
    m->path[0] = '\0';
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %255[^\n]", &lo, &hi, m->perms,
               m->path) >= 3) {
      m->lo = lo;
      m->hi = hi;
      n++;
    }
  }
  free(line);
  fclose(f);
  return n;
}

#define MAXMAPS 4096
static map_ent maps[MAXMAPS];

/* No mapping of the process is both writable and executable. */
static void assert_no_wx(void) {
  int n = read_maps(maps, MAXMAPS);
  for (int i = 0; i < n; i++) {
    if (maps[i].perms[1] == 'w' && maps[i].perms[2] == 'x')
      fail_msg("w+x mapping %lx-%lx %s %s", (unsigned long)maps[i].lo,
               (unsigned long)maps[i].hi, maps[i].perms, maps[i].path);
  }
}

/* Mappings of the arena's memfd that are writable (open windows). */
static int memfd_writable(void) {
  int n = read_maps(maps, MAXMAPS), w = 0;
  for (int i = 0; i < n; i++)
    if (strstr(maps[i].path, "memfd:jcache-code") && maps[i].perms[1] == 'w')
      w++;
  return w;
}

/* Every mapping over the arena is r-x (and, in memfd mode, of the memfd). */
static void assert_arena_rx(void) {
  void *b;
  size_t size;
  jc_arena_bounds(&b, &size);
  assert_non_null(b);
  uintptr_t lo = (uintptr_t)b, hi = lo + size;
  int n = read_maps(maps, MAXMAPS), seen = 0;
  for (int i = 0; i < n; i++) {
    if (maps[i].hi <= lo || maps[i].lo >= hi) continue;
    seen++;
    assert_true(maps[i].lo >= lo && maps[i].hi <= hi);
    if (strncmp(maps[i].perms, "r-x", 3) != 0)
      fail_msg("arena mapping %lx-%lx is %s", (unsigned long)maps[i].lo,
               (unsigned long)maps[i].hi, maps[i].perms);
    if (fallback_mode()) {
      assert_int_equal(maps[i].perms[3], 'p');
      assert_null(strstr(maps[i].path, "memfd:"));
    } else {
      assert_int_equal(maps[i].perms[3], 's');
      assert_non_null(strstr(maps[i].path, "memfd:jcache-code"));
    }
  }
  assert_true(seen >= 1);
}

/* Protection of the mapping that holds `p` ("" if none). */
static const char *perms_at(const void *p) {
  int n = read_maps(maps, MAXMAPS);
  for (int i = 0; i < n; i++)
    if ((uintptr_t)p >= maps[i].lo && (uintptr_t)p < maps[i].hi)
      return maps[i].perms;
  return "";
}

/* -- Code: write, call, patch -------------------------------------------- */

/* A real function is written, called, and its immediate patched live. */
static void t_call_patch(void **state) {
  (void)state;
  static const uint8_t ret42[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
  void *code;
  assert_int_equal(jc_arena_alloc(sizeof ret42, &code), JC_OK);
  assert_int_equal((uintptr_t)code % 64, 0);
  assert_int_equal(jc_arena_write(code, ret42, sizeof ret42), JC_OK);
  assert_int_equal(call(code), 42);

  /* The imm32 at offset 1 lies in the allocation's first aligned word. */
  int32_t v = 1234567;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &v, 4), JC_OK);
  assert_int_equal(call(code), 1234567);
  uint8_t b = 7;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &b, 1), JC_OK);
  assert_int_equal(call(code), (1234567 & ~0xff) | 7);
  uint16_t h = 0x0102;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 2, &h, 2), JC_OK);
  assert_int_equal(call(code), 0x00010207); /* imm bytes 07 02 01 00 */
  /* A whole word: mov eax, -5; ret; int3; int3. */
  uint8_t word[8];
  encode_ret(word, -5);
  word[6] = word[7] = 0xcc;
  assert_int_equal(jc_arena_patch(code, word, 8), JC_OK);
  assert_int_equal(call(code), -5);
  jc_arena_free(code);
}

/* W^X as the kernel sees it, after writes and during a window. */
static void t_maps(void **state) {
  (void)state;
  void *a = emit_ret(1), *b = emit_ret(2);
  int32_t v = 3;
  assert_int_equal(jc_arena_patch((uint8_t *)b + 1, &v, 4), JC_OK);
  assert_int_equal(call(a) + call(b), 4);
  assert_no_wx();
  assert_arena_rx();
  assert_int_equal(memfd_writable(), 0);

  /* An open window: writable, but not executable, and gone when closed. */
  jc_window w;
  assert_int_equal(jc_arena_window_open(a, 6, &w), JC_OK);
  assert_ptr_equal(w.code, a);
  assert_int_equal(w.len, 6);
  assert_int_equal(jc_window_at(&w, a), w.rw);
  if (fallback_mode()) {
    assert_ptr_equal(w.rw, a);
    assert_string_equal(perms_at(a), "rw-p");
  } else {
    assert_ptr_not_equal(w.rw, a);
    assert_int_equal(memfd_writable(), 1);
    assert_string_equal(perms_at(w.rw), "rw-s");
    assert_string_equal(perms_at(a), "r-xs");
  }
  assert_no_wx();
  uint8_t buf[6];
  encode_ret(buf, 77);
  memcpy(jc_window_at(&w, a), buf, sizeof buf);
  jc_arena_window_close(&w);
  assert_null(w.map);
  jc_arena_window_close(&w); /* closing twice is harmless */
  assert_int_equal(call(a), 77);
  assert_no_wx();
  assert_arena_rx();
  assert_int_equal(memfd_writable(), 0);
  jc_arena_free(a);
  jc_arena_free(b);
}

/* Nested and overlapping windows (the commit path may patch an exit while
** a bridge's window is open): the page stays writable until the last one
** closes. */
static void t_nested_windows(void **state) {
  (void)state;
  void *a = emit_ret(5);
  jc_window w1, w2;
  assert_int_equal(jc_arena_window_open(a, 6, &w1), JC_OK);
  assert_int_equal(jc_arena_window_open((uint8_t *)a + 1, 4, &w2), JC_OK);
  int32_t v = 6;
  memcpy(jc_window_at(&w2, (uint8_t *)a + 1), &v, 4);
  jc_arena_window_close(&w2);
  v = 8; /* w1 must still be writable */
  memcpy(jc_window_at(&w1, (uint8_t *)a + 1), &v, 4);
  jc_arena_window_close(&w1);
  assert_int_equal(call(a), 8);
  assert_no_wx();
  assert_arena_rx();
  jc_arena_free(a);
}

/* The arena is within REL32 reach of the host's code. */
static void t_near(void **state) {
  (void)state;
  void *code = emit_ret(0);
  void *b;
  size_t size;
  jc_arena_bounds(&b, &size);
  assert_non_null(b);
  assert_true(size > 0 && size % (size_t)sysconf(_SC_PAGESIZE) == 0);
  uintptr_t host = (uintptr_t)(void *)&t_near, lo = (uintptr_t)b;
  uintptr_t d1 = lo > host ? lo - host : host - lo;
  uintptr_t d2 = lo + size > host ? lo + size - host : host - (lo + size);
  if (d1 >= 2 * GiB || d2 >= 2 * GiB)
    fail_msg("arena %p+%zu is out of REL32 reach of %p", b, size,
             (void *)host);
  assert_true(jc_arena_contains(b, size));
  assert_true(jc_arena_contains(code, 6));
  assert_true(jc_arena_contains((uint8_t *)b + size, 0));
  assert_false(jc_arena_contains(b, size + 1));
  assert_false(jc_arena_contains((uint8_t *)b - 1, 1));
  assert_false(jc_arena_contains((uint8_t *)b + size - 1, 2));
  assert_false(jc_arena_contains(&size, 1));
  jc_arena_free(code);
}

/* Fresh allocations are int3, also when they reuse freed code. */
static void t_fill(void **state) {
  (void)state;
  for (int round = 0; round < 2; round++) {
    void *code;
    assert_int_equal(jc_arena_alloc(1000, &code), JC_OK);
    uint8_t *p = code;
    for (size_t i = 0; i < 1000; i++)
      if (p[i] != 0xcc) fail_msg("byte %zu is %#x, not int3", i, p[i]);
    uint8_t junk[1000];
    memset(junk, 0x90, sizeof junk);
    assert_int_equal(jc_arena_write(p, junk, sizeof junk), JC_OK);
    assert_int_equal(p[999], 0x90);
    jc_arena_free(p);
  }
}

/* Bad arguments fail with a code and a message, and never crash. */
static void t_invalid(void **state) {
  (void)state;
  uint8_t buf[6] = {0};
  _Alignas(8) uint8_t word[8] = {0};
  void *code = emit_ret(9), *base, *p;
  size_t size;
  jc_arena_bounds(&base, &size);

  assert_int_equal(jc_arena_write(buf, buf, 6), JC_INVAL);
  assert_true(jc_last_error()[0] != '\0');
  assert_int_equal(jc_arena_write(NULL, buf, 6), JC_INVAL);
  assert_int_equal(jc_arena_write((uint8_t *)base + size - 4, buf, 8),
                   JC_INVAL);
  assert_int_equal(jc_arena_write((uint8_t *)base - 2, buf, 6), JC_INVAL);
  assert_int_equal(jc_arena_write(code, NULL, 6), JC_INVAL);
  assert_int_equal(jc_arena_write(code, buf, 0), JC_OK);

  int32_t v = 1;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 6, &v, 4), JC_INVAL);
  assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &v, 3), JC_INVAL);
  assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &v, 0), JC_INVAL);
  assert_int_equal(jc_arena_patch((uint8_t *)code + 4, word, 8), JC_INVAL);
  assert_int_equal(jc_arena_patch(word, &v, 4), JC_INVAL);
  assert_int_equal(jc_arena_patch(code, NULL, 4), JC_INVAL);
  assert_int_equal(call(code), 9);

  jc_window w;
  assert_int_equal(jc_arena_window_open(buf, 6, &w), JC_INVAL);
  assert_null(w.map);
  jc_arena_window_close(&w);
  assert_int_equal(jc_arena_window_open(code, 0, &w), JC_INVAL);

  jc_arena_free(NULL);
  jc_arena_free(buf);
  assert_true(jc_last_error()[0] != '\0');
  jc_arena_free((uint8_t *)code + 16);
  jc_arena_free((uint8_t *)base + size);
  assert_int_equal(call(code), 9); /* still allocated, still intact */

  assert_int_equal(jc_arena_shrink(buf, 1), JC_INVAL);
  assert_int_equal(jc_arena_shrink(code, 0), JC_INVAL);
  assert_int_equal(jc_arena_shrink(code, size), JC_INVAL);
  assert_int_equal(jc_arena_shrink((uint8_t *)code + 16, 1), JC_INVAL);

  assert_int_equal(jc_arena_alloc(0, &p), JC_INVAL);
  assert_int_equal(jc_arena_alloc(16, NULL), JC_INVAL);
  assert_int_equal(jc_arena_alloc(SIZE_MAX, &p), JC_ARENA);
  assert_null(p);
  assert_int_equal(jc_arena_alloc(size + 1, &p), JC_ARENA);
  assert_int_equal(jc_arena_init(NULL), JC_STATE);

  jc_arena_free(code);
  jc_arena_free(code); /* double free: ignored */
  assert_true(jc_last_error()[0] != '\0');
}

/* -- Allocator ----------------------------------------------------------- */

static uint32_t rng_next(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

#define NLIVE 64

/* Random allocations and frees: aligned, inside, disjoint, contents kept;
** returns the total bytes allocated over the run. */
static size_t random_load(uint32_t seed, size_t maxsz, int ops) {
  struct {
    uint8_t *p;
    size_t n;
    uint8_t tag;
  } live[NLIVE] = {{0}};
  uint8_t *buf = malloc(maxsz);
  assert_non_null(buf);
  size_t total = 0;
  for (int op = 0; op < ops; op++) {
    int s = (int)(rng_next(&seed) % NLIVE);
    if (live[s].p) {
      for (size_t i = 0; i < live[s].n; i++)
        if (live[s].p[i] != live[s].tag)
          fail_msg("allocation %p byte %zu was overwritten", live[s].p, i);
      jc_arena_free(live[s].p);
      live[s].p = NULL;
      continue;
    }
    size_t n = 1 + rng_next(&seed) % maxsz;
    void *p;
    jc_err err = jc_arena_alloc(n, &p);
    if (err == JC_ARENA) continue; /* full: later frees make room */
    assert_int_equal(err, JC_OK);
    assert_int_equal((uintptr_t)p % 64, 0);
    assert_true(jc_arena_contains(p, n));
    for (int j = 0; j < NLIVE; j++) {
      if (!live[j].p) continue;
      if ((uint8_t *)p < live[j].p + live[j].n &&
          live[j].p < (uint8_t *)p + n)
        fail_msg("%p+%zu overlaps %p+%zu", p, n, live[j].p, live[j].n);
    }
    assert_int_equal(((uint8_t *)p)[n - 1], 0xcc);
    uint8_t tag = (uint8_t)(1 + op % 200); /* never 0xcc */
    memset(buf, tag, n);
    assert_int_equal(jc_arena_write(p, buf, n), JC_OK);
    live[s].p = p;
    live[s].n = n;
    live[s].tag = tag;
    total += n;
  }
  for (int j = 0; j < NLIVE; j++) {
    if (!live[j].p) continue;
    for (size_t i = 0; i < live[j].n; i++)
      if (live[j].p[i] != live[j].tag)
        fail_msg("allocation %p byte %zu was overwritten", live[j].p, i);
    jc_arena_free(live[j].p);
  }
  free(buf);
  return total;
}

static void t_random(void **state) {
  (void)state;
  random_load(12345, 8192, 4000);
  random_load(777, 100, 4000);
  assert_no_wx();
}

/* A 1 MiB arena ($JCACHE_ARENA_MB=1): reuse after free under load. */
static void t_small_random(void **state) {
  (void)state;
  size_t size;
  jc_arena_bounds(NULL, &size);
  size_t total = random_load(99, 64 * 1024, 3000);
  assert_true(total > 2 * size); /* only possible if freed space is reused */
}

/* A 1 MiB arena: fill it exactly, fragment it, coalesce, shrink. */
static void t_exhaust(void **state) {
  (void)state;
  void *base, *p, *q;
  size_t size, pg = (size_t)sysconf(_SC_PAGESIZE);
  jc_arena_bounds(&base, &size);
  assert_null(base); /* reserved lazily */
  assert_int_equal(size, 0);
  assert_false(jc_arena_contains(&size, 1));
  assert_int_equal(jc_arena_alloc(1, &p), JC_OK);
  jc_arena_bounds(&base, &size);
  assert_ptr_equal(p, base);
  assert_int_equal(size, 1 << 20);
  jc_arena_free(p);

  size_t n = size / pg;
  void **v = calloc(n, sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(jc_arena_alloc(pg, &v[i]), JC_OK);
    assert_ptr_equal(v[i], (uint8_t *)base + i * pg); /* first fit */
  }
  assert_int_equal(jc_arena_alloc(1, &p), JC_ARENA);
  assert_true(jc_last_error()[0] != '\0');

  for (size_t i = 1; i < n; i += 2) jc_arena_free(v[i]);
  assert_int_equal(jc_arena_alloc(2 * pg, &p), JC_ARENA); /* fragmented */
  assert_int_equal(jc_arena_alloc(pg, &p), JC_OK);
  assert_ptr_equal(p, v[1]);
  jc_arena_free(p);
  for (size_t i = 0; i < n; i += 2) jc_arena_free(v[i]);

  /* Everything coalesced back into one block. */
  assert_int_equal(jc_arena_alloc(size, &p), JC_OK);
  assert_ptr_equal(p, base);
  assert_int_equal(jc_arena_alloc(16, &q), JC_ARENA);
  assert_int_equal(jc_arena_shrink(p, size + 1), JC_INVAL);
  assert_int_equal(jc_arena_shrink(p, pg), JC_OK);
  assert_int_equal(jc_arena_shrink(p, pg), JC_OK); /* no-op */
  assert_int_equal(jc_arena_alloc(size - pg, &q), JC_OK);
  assert_ptr_equal(q, (uint8_t *)base + pg);
  assert_int_equal(jc_arena_alloc(1, &v[1]), JC_ARENA);
  jc_arena_free(q);
  /* Shrinking next to free space merges the tail into it. */
  assert_int_equal(jc_arena_shrink(p, 1), JC_OK);
  assert_int_equal(jc_arena_alloc(size - pg, &q), JC_OK);
  jc_arena_free(q);
  jc_arena_free(p);

  /* Granularity: a cache line (64 bytes) with a memfd, whole pages in the
  ** fallback. */
  size_t gran = fallback_mode() ? pg : 64;
  assert_int_equal(jc_arena_alloc(100, &p), JC_OK);
  assert_int_equal(jc_arena_alloc(1, &q), JC_OK);
  assert_ptr_equal(q, (uint8_t *)p + (100 + gran - 1) / gran * gran);
  jc_arena_free(q);
  assert_int_equal(jc_arena_shrink(p, 20), JC_OK);
  assert_int_equal(jc_arena_alloc(1, &q), JC_OK);
  assert_ptr_equal(q, (uint8_t *)p + (20 + gran - 1) / gran * gran);
  assert_int_equal(((uint8_t *)q)[0], 0xcc);
  jc_arena_free(q);
  jc_arena_free(p);
  assert_int_equal(jc_arena_alloc(size, &p), JC_OK);
  jc_arena_free(p);
  free(v);
}

/* jc_arena_init with options, in a fresh process: size rounded to pages,
** placed near the given address, and only once. */
static void t_init(void **state) {
  (void)state;
  void *base;
  size_t size, pg = (size_t)sysconf(_SC_PAGESIZE);
  jc_arena_bounds(&base, &size);
  assert_null(base);
  /* Near an anonymous page in the mmap area, far from the executable (the
  ** default).  Not page aligned, to check that placement copes.  (A fixed
  ** far address would be tidier, but sanitizers own most of the space.) */
  uint8_t *page = mmap(NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(page != MAP_FAILED);
  void *near = page + 0x123;
  uintptr_t exe = (uintptr_t)(void *)&t_init;
  assert_true((uintptr_t)near - exe > 4 * GiB);
  jc_arena_opts o = {.size = 3 * (1 << 20) + 1, .near = near};
  assert_int_equal(jc_arena_init(&o), JC_OK);
  assert_int_equal(jc_arena_init(&o), JC_STATE);
  assert_int_equal(jc_arena_init(NULL), JC_STATE);
  jc_arena_bounds(&base, &size);
  assert_int_equal(size, (3 * (1 << 20) + 1 + pg - 1) / pg * pg);
  uintptr_t n = (uintptr_t)near, lo = (uintptr_t)base, hi = lo + size;
  assert_true(lo + GiB >= n && lo <= n + GiB);
  assert_true(hi + GiB >= n && hi <= n + GiB);
  void *code = emit_ret(31);
  assert_int_equal(call(code), 31);
  assert_true(lo - exe > 2 * GiB); /* not the default placement */
  jc_arena_free(code);
  munmap(page, pg);
}

/* -- Threads and fork ---------------------------------------------------- */

#define NTHREADS 4

/* One thread: allocate, write, call, patch, call, free, in a loop; returns
** the number of wrong results (cmocka asserts only on the main thread). */
static void *thread_main(void *arg) {
  uint32_t seed = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
  void *live[4] = {0};
  int32_t val[4] = {0};
  uintptr_t bad = 0;
  for (int it = 0; it < 300; it++) {
    int s = (int)(rng_next(&seed) % 4);
    if (live[s]) {
      if (call(live[s]) != val[s]) bad++;
      jc_arena_free(live[s]);
      live[s] = NULL;
    }
    void *code;
    size_t size = 16 + rng_next(&seed) % 300;
    if (jc_arena_alloc(size, &code) != JC_OK) {
      bad++;
      continue;
    }
    /* int3 everywhere, whichever thread staged at the same time. */
    for (size_t k = 0; k < size; k++)
      if (((const uint8_t *)code)[k] != 0xCC) {
        bad++;
        break;
      }
    uint8_t buf[6];
    int32_t v = (int32_t)(rng_next(&seed) & 0x7fffffff);
    encode_ret(buf, v);
    if (jc_arena_write(code, buf, sizeof buf) != JC_OK || call(code) != v)
      bad++;
    v ^= 0x5a5a5a;
    if (jc_arena_patch((uint8_t *)code + 1, &v, 4) != JC_OK || call(code) != v)
      bad++;
    live[s] = code;
    val[s] = v;
  }
  for (int s = 0; s < 4; s++) {
    if (!live[s]) continue;
    if (call(live[s]) != val[s]) bad++;
    jc_arena_free(live[s]);
  }
  return (void *)bad;
}

static void t_threads(void **state) {
  (void)state;
  pthread_t t[NTHREADS];
  for (uintptr_t i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, thread_main, (void *)i), 0);
  uintptr_t bad = 0;
  for (int i = 0; i < NTHREADS; i++) {
    void *r;
    assert_int_equal(pthread_join(t[i], &r), 0);
    bad += (uintptr_t)r;
  }
  assert_int_equal(bad, 0);
  assert_no_wx();
  assert_arena_rx();
  assert_int_equal(memfd_writable(), 0);
}

/* After fork, parent and child each have their own code: what one writes,
** the other does not run. */
static void t_fork(void **state) {
  (void)state;
  void *f = emit_ret(1);
  int up[2], down[2];
  assert_int_equal(pipe(up), 0);
  assert_int_equal(pipe(down), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char c = 0;
    uint8_t buf[6];
    int ok = call(f) == 1;
    ok &= write(up[1], "x", 1) == 1;
    ok &= read(down[0], &c, 1) == 1;
    ok &= call(f) == 1; /* the parent's write is not seen */
    encode_ret(buf, 2);
    ok &= jc_arena_write(f, buf, sizeof buf) == JC_OK;
    ok &= call(f) == 2;
    void *g;
    ok &= jc_arena_alloc(16, &g) == JC_OK && g != f;
    _exit(ok ? 0 : 1);
  }
  char c;
  assert_int_equal(read(up[0], &c, 1), 1);
  uint8_t buf[6];
  encode_ret(buf, 3);
  assert_int_equal(jc_arena_write(f, buf, sizeof buf), JC_OK);
  assert_int_equal(write(down[1], "x", 1), 1);
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(call(f), 3); /* the child's write is not seen */
  close(up[0]);
  close(up[1]);
  close(down[0]);
  close(down[1]);
  jc_arena_free(f);
}

/* -- Child configurations ------------------------------------------------ */

/* Make memfd_create fail with EPERM in this process and what it execs, as
** a sandbox would; false if seccomp is not available. */
static bool deny_memfd_create(void) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_memfd_create, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = JC_COUNTOF(f), .filter = f};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

/* Run `test_arena --child name` with extra environment; its exit status
** (77 if the child could not be sandboxed as asked). */
static int spawn_child(const char *name, const char *env1, const char *env2) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    unsetenv("JCACHE_ARENA_NOMEMFD");
    unsetenv("JCACHE_ARENA_MB");
    if (env1) putenv((char *)env1);
    if (env2) putenv((char *)env2);
    if (getenv("JCACHE_TEST_NOMEMFD_SYSCALL") && !deny_memfd_create())
      _exit(77);
    execl("/proc/self/exe", "test_arena", "--child", name, (char *)NULL);
    _exit(127);
  }
  int st;
  if (waitpid(pid, &st, 0) != pid) return -1;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void t_child_fallback(void **state) {
  (void)state;
  assert_int_equal(spawn_child("same", "JCACHE_ARENA_NOMEMFD=1", NULL), 0);
}

/* The fallback as it happens in a sandbox: memfd_create is refused. */
static void t_child_seccomp(void **state) {
  (void)state;
  int st = spawn_child("same", "JCACHE_TEST_NOMEMFD_SYSCALL=1", NULL);
  if (st == 77) skip();
  assert_int_equal(st, 0);
}

static void t_child_small(void **state) {
  (void)state;
  assert_int_equal(spawn_child("small", "JCACHE_ARENA_MB=1", NULL), 0);
}

static void t_child_small_fallback(void **state) {
  (void)state;
  assert_int_equal(
      spawn_child("small", "JCACHE_ARENA_MB=1", "JCACHE_ARENA_NOMEMFD=1"), 0);
}

static void t_child_init(void **state) {
  (void)state;
  assert_int_equal(spawn_child("init", NULL, NULL), 0);
}

/* JC_ARENA_ONE_THREAD: live patches go through pwrite.  Whatever the
** patch, no mapping of the arena's pages but the executable view ever
** exists (counted from /proc/self/maps around every patch). */
static int count_memfd_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[512];
  int n = 0;
  while (f && fgets(line, sizeof line, f))
    if (strstr(line, "jcache-code")) n++;
  if (f) fclose(f);
  return n;
}

static void t_one_thread(void **state) {
  (void)state;
  jc_arena_opts o = {.flags = JC_ARENA_ONE_THREAD};
  assert_int_equal(jc_arena_init(&o), JC_OK);
  void *code = emit_ret(5);
  int views = count_memfd_maps();
  for (int32_t v = 0; v < 200; v++) {
    assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &v, 4), JC_OK);
    assert_int_equal(call(code), v);
    assert_int_equal(count_memfd_maps(), views);
  }
  uint8_t b = 0x7f;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 1, &b, 1), JC_OK);
  assert_int_equal(call(code), 199 - 199 % 256 + 0x7f);
  int32_t v = 1;
  assert_int_equal(jc_arena_patch((uint8_t *)code + 6, &v, 4), JC_INVAL); /* straddles */
  assert_no_wx();
  assert_int_equal(memfd_writable(), 0);
  jc_arena_free(code);
}

/* After the first chunk, the arena populates ahead on libjcache's background
** thread: whatever has been allocated, once that thread is done the next
** 64 KiB past the last allocation have memory (mincore: resident), where
** a memfd written only by the allocations would have none. */
static bool resident(const void *p, size_t len) {
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
  size_t n = ((uintptr_t)p + len - a + pg - 1) / pg;
  unsigned char v[64];
  if (n > sizeof v || mincore((void *)a, n * pg, v) != 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!(v[i] & 1)) return false;
  return true;
}

static void t_populate_ahead(void **state) {
  (void)state;
  enum { BLK = 16 << 10, N = 48 }; /* 768 KiB, three times the 256 KiB ahead */
  void *blk[N];
  for (int i = 0; i < N; i++) {
    assert_int_equal(jc_arena_alloc(BLK, &blk[i]), JC_OK);
    jc_mem_drain();
    assert_true(resident((uint8_t *)blk[i] + BLK, 64 << 10));
  }
  assert_false(resident((uint8_t *)blk[N - 1] + (1 << 20), 4096)); /* not all */
  for (int i = 0; i < N; i++) jc_arena_free(blk[i]);
}

static void t_child_one_thread(void **state) {
  (void)state;
  assert_int_equal(spawn_child("one", NULL, NULL), 0);
}

/* Data memory next to the code: zeroed, writable, never executable, and
** within rel32 reach of the code, which loads it RIP-relative. */
static void t_data(void **state) {
  (void)state;
  void *d = NULL, *e = NULL;
  assert_int_equal(jc_arena_data_alloc(100, &d), JC_OK);
  assert_non_null(d);
  assert_int_equal((uintptr_t)d % 64, 0);
  for (int i = 0; i < 100; i++) assert_int_equal(((uint8_t *)d)[i], 0);
  assert_false(jc_arena_contains(d, 1));
  uint64_t v = 0x1122334455667788ull;
  memcpy(d, &v, 8);

  /* mov rax, [rip + disp32]; ret */
  void *code;
  assert_int_equal(jc_arena_alloc(8, &code), JC_OK);
  uint8_t buf[8] = {0x48, 0x8B, 0x05, 0, 0, 0, 0, 0xC3};
  int64_t rel = (int64_t)((uintptr_t)d - ((uintptr_t)code + 7));
  assert_true(rel == (int32_t)rel);
  int32_t r32 = (int32_t)rel;
  memcpy(buf + 3, &r32, 4);
  assert_int_equal(jc_arena_write(code, buf, sizeof buf), JC_OK);
  uint64_t (*fn)(void) = (uint64_t (*)(void))code;
  assert_true(fn() == v);
  v = 42; /* a plain store: the code reads it next time */
  memcpy(d, &v, 8);
  assert_true(fn() == 42);
  jc_arena_free(code);

  /* Every mapping that holds d is read+write and not executable. */
  map_ent m[512];
  int n = read_maps(m, 512);
  bool found = false;
  for (int i = 0; i < n; i++)
    if ((uintptr_t)d >= m[i].lo && (uintptr_t)d < m[i].hi) {
      found = true;
      assert_true(m[i].perms[1] == 'w' && m[i].perms[2] != 'x');
    }
  assert_true(found);

  /* Freed and taken again: zeroed again. */
  memset(d, 0xAB, 100);
  jc_arena_data_free(d);
  assert_int_equal(jc_arena_data_alloc(64, &e), JC_OK);
  for (int i = 0; i < 64; i++) assert_int_equal(((uint8_t *)e)[i], 0);
  jc_arena_data_free(e);

  /* Bad input: refused or ignored with the reason, never a crash. */
  assert_int_equal(jc_arena_data_alloc(0, &e), JC_INVAL);
  assert_int_equal(jc_arena_data_alloc(100, NULL), JC_INVAL);
  assert_int_equal(jc_arena_data_alloc((size_t)17 << 20, &e), JC_ARENA);
  assert_null(e);
  jc_arena_data_free(NULL);
  jc_arena_data_free(&v);
  assert_non_null(strstr(jc_last_error(), "not an allocation"));
  assert_int_equal(jc_arena_data_alloc(64, &e), JC_OK);
  jc_arena_data_free((uint8_t *)e + 8);
  assert_non_null(strstr(jc_last_error(), "not an allocation"));
  jc_arena_data_free(e);
}

/* The checks every configuration passes. */
#define SAME_TESTS                                                             \
  cmocka_unit_test(t_call_patch), cmocka_unit_test(t_maps),                    \
      cmocka_unit_test(t_nested_windows), cmocka_unit_test(t_near),            \
      cmocka_unit_test(t_fill), cmocka_unit_test(t_invalid),                   \
      cmocka_unit_test(t_random), cmocka_unit_test(t_threads),                 \
      cmocka_unit_test(t_fork), cmocka_unit_test(t_data)

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--child") == 0) {
    if (strcmp(argv[2], "same") == 0) {
      const struct CMUnitTest tests[] = {SAME_TESTS};
      return cmocka_run_group_tests_name("arena (fallback)", tests, NULL,
                                         NULL);
    }
    if (strcmp(argv[2], "small") == 0) {
      const struct CMUnitTest tests[] = {cmocka_unit_test(t_exhaust),
                                         cmocka_unit_test(t_small_random)};
      return cmocka_run_group_tests_name(
          fallback_mode() ? "arena (small, fallback)" : "arena (small)",
          tests, NULL, NULL);
    }
    if (strcmp(argv[2], "one") == 0) {
      const struct CMUnitTest tests[] = {cmocka_unit_test(t_one_thread),
                                         cmocka_unit_test(t_populate_ahead)};
      return cmocka_run_group_tests_name("arena (one thread)", tests, NULL, NULL);
    }
    if (strcmp(argv[2], "init") == 0) {
      const struct CMUnitTest tests[] = {cmocka_unit_test(t_init)};
      return cmocka_run_group_tests_name("arena (init)", tests, NULL, NULL);
    }
    return 2;
  }
  unsetenv("JCACHE_ARENA_NOMEMFD");
  unsetenv("JCACHE_ARENA_MB");
  const struct CMUnitTest tests[] = {
      SAME_TESTS,
      cmocka_unit_test(t_child_fallback),
      cmocka_unit_test(t_child_seccomp),
      cmocka_unit_test(t_child_small),
      cmocka_unit_test(t_child_small_fallback),
      cmocka_unit_test(t_child_init),
      cmocka_unit_test(t_child_one_thread),
  };
  return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
