/*
** tests/unit/test_mem.c — the reload path's memory (jcache/mem.h): blocks of
** every size, reuse, zeroing, pages populated ahead (no fault when a
** populated chunk is used), threads, fork.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jcache/mem.h"
#include "mem.h"

#if defined(__SANITIZE_ADDRESS__)
#define PLAIN 1 /* jc_mem is malloc under ASan */
#else
#define PLAIN 0
#endif

static void fill(uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 31);
}

static bool check(const uint8_t *p, size_t n, uint8_t seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (uint8_t)(seed + i * 31)) return false;
  return true;
}

/* Every size class and the large blocks: aligned, usable to the last byte,
** and no block overlaps another. */
static void test_sizes(void **state) {
  (void)state;
  static const size_t sizes[] = {0,    1,    15,    16,    48,    49,     64,
                                 100,  1000, 4080,  4096,  40000, 65520, 65521,
                                 70000, 300000};
  enum { N = sizeof sizes / sizeof *sizes };
  uint8_t *p[N];
  for (size_t i = 0; i < N; i++) {
    p[i] = jc_mem_alloc(sizes[i]);
    assert_non_null(p[i]);
    assert_int_equal((uintptr_t)p[i] % 16, 0);
    fill(p[i], sizes[i], (uint8_t)i);
  }
  for (size_t i = 0; i < N; i++) assert_true(check(p[i], sizes[i], (uint8_t)i));
  for (size_t i = 0; i < N; i++) jc_mem_free(p[i]);
  jc_mem_free(NULL);
}

/* A freed block is reused for the next block of its class, and
** jc_mem_calloc zeroes what was there. */
static void test_reuse_and_calloc(void **state) {
  (void)state;
  uint8_t *a = jc_mem_alloc(200);
  memset(a, 0xAB, 200);
  jc_mem_free(a);
  uint8_t *b = jc_mem_calloc(180); /* the same class */
  if (!PLAIN) assert_ptr_equal(a, b);
  for (size_t i = 0; i < 180; i++) assert_int_equal(b[i], 0);
  jc_mem_free(b);
}

static long minor_faults(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

/* Once the thread has populated its chunks, blocks carved from them touch
** no new page: 112 KiB written with (almost) no page fault, where memory
** fresh from the system would fault 28 times. */
static void test_populated_ahead(void **state) {
  (void)state;
  if (PLAIN) {
    printf("skipped: under AddressSanitizer jc_mem is plain malloc\n");
    return;
  }
  jc_mem_free(jc_mem_alloc(1)); /* starts the thread */
  assert_true(jc_mem_wait_ready());
  jc_mem_stats s0, s;
  jc_mem_info(&s0);
  assert_int_equal(s0.ready, 8); /* MEM_READY */
  assert_true(s0.cpu_ns > 0);
  /* Use up the current chunk (16 KiB blocks, never freed here). */
  enum { BIG = 16384 - 16, MAX = 64 };
  void *held[MAX];
  size_t n = 0;
  do {
    assert_true(n < MAX);
    held[n++] = jc_mem_alloc(BIG);
    jc_mem_info(&s);
  } while (s.chunks == s0.chunks);
  assert_int_equal(s.populated - s0.populated + s0.ready, s.ready + 1); /* took a ready one */
  /* The rest of the chunk just taken, and the next ready one: 7 x 16 KiB. */
  long f0 = minor_faults();
  uint8_t *blk[7];
  for (int i = 0; i < 7; i++) {
    blk[i] = jc_mem_alloc(BIG);
    memset(blk[i], i + 1, BIG);
  }
  long faults = minor_faults() - f0;
  printf("page faults writing 7 x 16 KiB of populated chunks: %ld\n", faults);
  assert_true(faults < 4);
  for (int i = 0; i < 7; i++) jc_mem_free(blk[i]);
  for (size_t i = 0; i < n; i++) jc_mem_free(held[i]);
}

/* A thread keeps the blocks it frees for itself, and gives them back when
** it ends: a block another thread freed and then ended with is reused. */
static void *alloc_free_exit(void *arg) {
  (void)arg;
  void *p = jc_mem_alloc(3000); /* a class no other test uses */
  memset(p, 0x5A, 3000);
  jc_mem_free(p);
  void *q = jc_mem_alloc(3000); /* its own, back at once */
  jc_mem_free(q);
  return p == q ? p : NULL;
}

static void test_thread_cache(void **state) {
  (void)state;
  pthread_t t;
  void *p = NULL;
  assert_int_equal(pthread_create(&t, NULL, alloc_free_exit, NULL), 0);
  assert_int_equal(pthread_join(t, &p), 0);
  if (PLAIN) return; /* malloc makes no such promise */
  assert_non_null(p);
  /* Taken again once this thread's own region (16 KiB) is used up. */
  enum { MAX = 64 };
  void *q[MAX];
  size_t n = 0;
  bool found = false;
  while (n < MAX && !found) {
    q[n] = jc_mem_alloc(3000);
    found = q[n++] == p;
  }
  assert_true(found);
  for (size_t i = 0; i < n; i++) jc_mem_free(q[i]);
}

static void *worker(void *arg) {
  uintptr_t seed = (uintptr_t)arg;
  enum { LIVE = 64 };
  uint8_t *live[LIVE] = {0};
  size_t len[LIVE] = {0};
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < 20000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    size_t k = x % LIVE;
    if (live[k]) {
      if (!check(live[k], len[k], (uint8_t)k)) return (void *)1;
      jc_mem_free(live[k]);
    }
    len[k] = (x >> 8) % 3000;
    live[k] = jc_mem_alloc(len[k]);
    if (!live[k]) return (void *)1;
    fill(live[k], len[k], (uint8_t)k);
  }
  for (size_t k = 0; k < LIVE; k++) {
    if (live[k] && !check(live[k], len[k], (uint8_t)k)) return (void *)1;
    jc_mem_free(live[k]);
  }
  return NULL;
}

/* Four threads allocating and freeing at once never get overlapping blocks. */
/* Is the page of p mapped in this process's page table (/proc/self/pagemap,
** bit 63)?  -1 if that cannot be read. */
static int page_present(const void *p) {
  FILE *f = fopen("/proc/self/pagemap", "rb");
  if (!f) return -1;
  uint64_t e = 0;
  long page = sysconf(_SC_PAGESIZE);
  int ok = fseek(f, (long)((uintptr_t)p / (uintptr_t)page * 8), SEEK_SET) == 0 &&
           fread(&e, 8, 1, f) == 1;
  fclose(f);
  return ok ? (int)(e >> 63) : -1;
}

/* Eight pages of this test's zero-initialized data that nothing touches
** before the test: prefaulting the image maps them (writable data).  No
** test here opens a cache or an arena, so jc_mem_start, which prefaults
** libjcache's own image (this binary: the tests link it statically), has
** not mapped them before. */
static uint8_t untouched[8 * 4096] __attribute__((aligned(4096)));

static void test_prefault_image(void **state) {
  (void)state;
  int before = page_present(untouched + 5 * 4096);
  if (before < 0) skip();
  assert_int_equal(before, 0);
  jc_mem_prefault_image((const void *)&test_prefault_image);
  jc_mem_drain();
  for (int i = 0; i < 8; i++) assert_int_equal(page_present(untouched + i * 4096), 1);
  assert_int_equal(untouched[5 * 4096], 0); /* populated, not written */
  jc_mem_prefault_image(NULL);                /* accepted, no-op */
  jc_mem_prefault_image((const void *)&test_prefault_image); /* again: no-op */
  jc_mem_drain();
}

/* A client's range populated on the thread (jc_mem_populate_ahead): its
** pages are there afterwards, not written; a range unmapped before the
** thread gets to it is harmless; no range, no queue. */
static void test_populate_ahead(void **state) {
  (void)state;
  size_t len = 16 * 4096;
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  if (PLAIN) {
    assert_false(jc_mem_populate_ahead(p, len));
    printf("skipped: under AddressSanitizer there is no populating thread\n");
    munmap(p, len);
    return;
  }
  int before = page_present(p);
  if (before < 0) skip();
  assert_int_equal(before, 0);
  jc_mem_stats s0, s;
  jc_mem_info(&s0);
  assert_true(jc_mem_populate_ahead(p, len));
  jc_mem_drain();
  for (size_t i = 0; i < len; i += 4096) {
    assert_int_equal(page_present(p + i), 1);
    assert_int_equal(p[i], 0);
  }
  jc_mem_info(&s);
  assert_int_equal(s.ahead, s0.ahead + 1);
  assert_true(s.ahead_cpu_ns > s0.ahead_cpu_ns);
  assert_true(s.cpu_ns >= s.ahead_cpu_ns);
  assert_false(jc_mem_populate_ahead(NULL, len));
  assert_false(jc_mem_populate_ahead(p, 0));
  assert_int_equal(munmap(p, len), 0);
  assert_true(jc_mem_populate_ahead(p, len)); /* gone: nothing happens */
  jc_mem_drain();
  jc_mem_info(&s);
  assert_int_equal(s.ahead, s0.ahead + 2);
}

static void test_threads(void **state) {
  (void)state;
  pthread_t t[4];
  for (uintptr_t i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
  for (int i = 0; i < 4; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert_null(r);
  }
}

/* A forked child allocates (beyond what the parent populated) and frees. */
static void test_fork(void **state) {
  (void)state;
  void *p = jc_mem_alloc(1000);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    jc_mem_free(p);
    for (int i = 0; i < 64; i++) {
      uint8_t *b = jc_mem_alloc(65536 - 16);
      if (!b) _exit(1);
      fill(b, 65536 - 16, (uint8_t)i);
      if (!check(b, 65536 - 16, (uint8_t)i)) _exit(1);
    }
    _exit(0);
  }
  int st;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  jc_mem_free(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sizes),    cmocka_unit_test(test_reuse_and_calloc),
      cmocka_unit_test(test_populated_ahead), cmocka_unit_test(test_threads),
      cmocka_unit_test(test_thread_cache),
      cmocka_unit_test(test_fork),        cmocka_unit_test(test_prefault_image),
      cmocka_unit_test(test_populate_ahead),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
