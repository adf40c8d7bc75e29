/*
** bench/probe_bench.c — the reload cycle, timed, for bench/probe_bench.sh.
**
**   jc-bench-probes [CYCLES]
**
** One cycle is what a VM does to reload a trace family and use it: reload
** the toy loop with its bridge (lookup, replay, commit with a tail guard),
** check and validate the tail, release; then reload the loop alone and
** release.  Linked with the shared libjcache.so so that the script can run
** it against builds with and without probes (LD_LIBRARY_PATH) and with a
** tracer attached.  Prints the time per cycle and the probe firings the
** library's counters imply per cycle.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "toytrace.h"

static const jc_ns ns = {"jcache-probe-bench", "1", "bench", "x86-64"};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cycle(jc_cache *cache, jc_key key, const toy_consts *c) {
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  if (toy_reload(cache, key, &toy_default_greens, c, 150, tr, JC_MAX_CHAIN, &n) ||
      toy_check_tail(tr[0], &toy_default_greens, c))
    return 1;
  for (size_t i = 0; i < n; i++) jc_trace_release(tr[i]);
  if (toy_reload(cache, key, &toy_default_greens, c, 5, tr, JC_MAX_CHAIN, &n))
    return 1;
  for (size_t i = 0; i < n; i++) jc_trace_release(tr[i]);
  return 0;
}

int main(int argc, char **argv) {
  long cycles = argc > 1 ? atol(argv[1]) : 20000;
  /* In /dev/shm: the writer thread's fsyncs (usage updates) are noise here. */
  char dir[] = "/dev/shm/jcache-probe-bench-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  jc_cache *cache;
  jc_cache_opts o = {.dir = dir};
  if (jc_cache_open(&ns, &o, &cache)) return 1;
  jc_key key = jc_key_hash("toy loop", 8);
  toy_consts c1 = {.K = 1000, .D = 7, .T = 5, .B = 100};
  toy_consts c2 = {.K = 2000, .D = -3, .T = 11, .B = 60};
  jc_trace *loop, *bridge;
  if (toy_compile_loop(cache, key, &toy_default_greens, &c1, 0, &loop) ||
      toy_compile_bridge(cache, loop, &toy_default_greens, &c1, &bridge))
    return 1;
  jc_cache_flush(cache);
  jc_trace_release(bridge);
  jc_trace_release(loop);

  for (int i = 0; i < 200; i++)
    if (cycle(cache, key, &c2)) return fprintf(stderr, "cycle failed\n"), 1;
  jc_stats s0, s1;
  jc_stats_get(&s0);
  double t0 = now_ns();
  for (long i = 0; i < cycles; i++)
    if (cycle(cache, key, &c2)) return fprintf(stderr, "cycle failed\n"), 1;
  double t1 = now_ns();
  jc_stats_get(&s1);
#define D(f) (double)(s1.f - s0.f)
  /* One firing per counted event; relocs and binds one each. */
  double fired = D(lookups) + D(replay_hits) + D(binds) + D(relocs_patched) +
                 D(commits) + D(bridges_attached) + D(tail_guards) +
                 D(tails_validated);
  printf("cycles %ld ns_per_cycle %.1f firings_per_cycle %.1f pid %d\n",
         cycles, (t1 - t0) / cycles, fired / cycles, (int)getpid());
  jc_cache_close(cache);
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  return system(cmd) != 0;
}
