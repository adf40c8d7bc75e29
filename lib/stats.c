/*
** lib/stats.c — the process's counters.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static jc_stats local_stats;
jc_stats *jc_stats_p = &local_stats;

static const char *const names[] = {
#define JC_STATNAME(name, desc) #name,
    JC_STATDEF(JC_STATNAME)
#undef JC_STATNAME
};

static const char *const descs[] = {
#define JC_STATDESC(name, desc) desc,
    JC_STATDEF(JC_STATDESC)
#undef JC_STATDESC
};

JC_API void jc_stats_get(jc_stats *out) {
  const uint64_t *src = (const uint64_t *)jc_stats_p;
  uint64_t *dst = (uint64_t *)out;
  for (size_t i = 0; i < JC_STATS_COUNT; i++)
    dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

JC_API const char *jc_stats_name(size_t i) {
  return i < JC_COUNTOF(names) ? names[i] : NULL;
}

JC_API const char *jc_stats_desc(size_t i) {
  return i < JC_COUNTOF(descs) ? descs[i] : NULL;
}

/* -- $JCACHE_STATS: the counters on stderr at exit ------------------------- */

static void print_at_exit(void) {
  jc_stats s;
  jc_stats_get(&s);
  const uint64_t *v = (const uint64_t *)&s;
  fprintf(stderr, "jcache stats (pid %d):\n", (int)getpid());
  for (size_t i = 0; i < JC_STATS_COUNT; i++)
    if (v[i]) fprintf(stderr, "  %s %llu\n", names[i], (unsigned long long)v[i]);
}

void jc_stats_init(void) {
  static int done;
  if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) return;
  const char *e = getenv("JCACHE_STATS");
  if (e && *e && strcmp(e, "0") != 0) atexit(print_at_exit);
}
