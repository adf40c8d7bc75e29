/*
** lib/internal.h — what every library file shares: error reporting, counters,
** visibility and small helpers.  Not installed.
*/
#ifndef JC_LIB_INTERNAL_H
#define JC_LIB_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "jcache/error.h"
#include "jcache/stats.h"

/* The library is built with -fvisibility=hidden; the public API is marked. */
#define JC_API __attribute__((visibility("default")))

#define JC_LIKELY(x) __builtin_expect(!!(x), 1)
#define JC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define JC_COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/* -- Errors (lib/error.c) ------------------------------------------------ */

/* Record `err` with a printf-style detail as this thread's last error and
** return `err`, so failure paths read: return jc_fail(JC_IO, "...", ...). */
jc_err jc_fail(jc_err err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Clear this thread's last error (called on entry to public functions that
** report details). */
void jc_clear_error(void);
/* jc_fail with a message that needs no formatting (a string literal, kept
** by pointer): for answers a caller meets in the normal course of things,
** where formatting the message would cost more than the call. */
jc_err jc_fail_const(jc_err err, const char *msg);

/* -- Background threads ---------------------------------------------------- */

/* The calling thread's CPU time, for reporting what libjcache's own threads
** (prefetch.c, mem.c) cost. */
static inline uint64_t jc_thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wall-clock nanoseconds (CLOCK_MONOTONIC), for what a client may want to
** account per trace (jc_trace_ahead_ns). */
static inline uint64_t jc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* -- Counters (lib/stats.c) ------------------------------------------------ */

/* The live counters: a static struct until the process's shared-memory
** segment exists (lib/shm.c), then the copy inside it. */
extern jc_stats *jc_stats_p;

/* Counters are bumped with relaxed atomics: they are statistics, not
** synchronization. */
#define jc_stat_add(field, n)                                                  \
  __atomic_fetch_add(&jc_stats_p->field, (uint64_t)(n), __ATOMIC_RELAXED)

/* On first use: with $JCACHE_STATS set, print the counters at exit. */
void jc_stats_init(void);

/* Publish this process's counters in /dev/shm (lib/shm.c); idempotent and
** cheap after the first call; failures only disable the segment. */
void jc_shm_publish(const char *cache_dir);

#endif
