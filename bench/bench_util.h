/*
** bench/bench_util.h — what the benchmark programs share: a clock, order
** statistics, a throw-away cache directory and a fatal-error check.
**
** Benchmarks print figures; they never judge them.  Every figure is a median
** or a percentile over individually timed operations, so one slow outlier
** (the shared machine, a page fault) moves the p90/p99 and not the median.
*/
#ifndef JC_BENCH_UTIL_H
#define JC_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jcache/jcache.h"

/* Nanoseconds on the monotonic clock (a vDSO call, ~20 ns). */
static inline uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Sort `v` in place; then bench_pct() reads percentiles from it. */
static inline void bench_sort(uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, bench_cmp_u64);
}

/* Nearest-rank percentile p (0 < p <= 100) of a sorted array. */
static inline uint64_t bench_pct(const uint64_t *sorted, size_t n, double p) {
  if (n == 0) return 0;
  size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

/* Median of an unsorted array (sorts a copy). */
static inline uint64_t bench_median(const uint64_t *v, size_t n) {
  uint64_t *c = malloc(n * sizeof *c + 1);
  if (!c) return 0;
  memcpy(c, v, n * sizeof *c);
  bench_sort(c, n);
  uint64_t m = bench_pct(c, n, 50);
  free(c);
  return m;
}

/* Abort the benchmark on a library failure: a figure measured on a failing
** path would be meaningless. */
#define BENCH_CHECK(call)                                                      \
  do {                                                                         \
    jc_err bench_err_ = (call);                                                \
    if (bench_err_ != JC_OK) {                                                 \
      fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__,       \
              #call, jc_strerror(bench_err_), jc_last_error());                \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

/* A fresh private directory for a throw-away cache: $TMPDIR or /tmp. */
static inline char *bench_tmpdir(const char *tag) {
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = "/tmp";
  size_t n = strlen(base) + strlen(tag) + 16;
  char *p = malloc(n);
  if (!p) return NULL;
  snprintf(p, n, "%s/%s-XXXXXX", base, tag);
  if (!mkdtemp(p)) {
    perror("mkdtemp");
    free(p);
    return NULL;
  }
  return p;
}

/* Remove a cache directory made by bench_tmpdir (LMDB's two files), unless
** $JC_BENCH_KEEP is set (to inspect it afterwards, e.g. with mdb_stat). */
static inline void bench_rmdir(const char *dir) {
  const char *keep = getenv("JC_BENCH_KEEP");
  if (keep && *keep && strcmp(keep, "0") != 0) {
    printf("kept %s (JC_BENCH_KEEP)\n", dir);
    return;
  }
  static const char *const files[] = {"data.mdb", "lock.mdb"};
  char path[4200];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* The namespace every benchmark cache is opened under. */
static const jc_ns bench_ns = {"jcache-bench", "1", "bench", "x86-64"};

#endif
