/*
** tests/unit/helper_gdbjit.c — a JIT host for the gdb and perf tests
** (tests/integration/gdb.sh, perf.sh).
**
**   helper_gdbjit compile DIR [N]  compile the toy loop and bridge into the
**                                  cache at DIR, then run f(5) N times
**   helper_gdbjit reload DIR [N]   reload loop + bridge for f(150) (the tail
**                                  is pending), stop at jc_test_stage, check
**                                  the tail (validated), run f(5) N times
**   helper_gdbjit hot SECONDS      compile a loop padded with nops (no cache)
**                                  and run it for SECONDS: a hot benchmark
**
** The loop calls toy_helper, so `break toy_helper` stops inside a call made
** by JIT code: `bt` must go through the trace's frame down to main.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "toytrace.h"

static const jc_ns test_ns = {"jcache-gdbjit-test", "1", "test-build", "x86-64"};
static const toy_consts consts = {.K = 1000, .D = 7, .T = 5, .B = 100};

/* A place for gdb to stop between steps. */
void __attribute__((noinline)) jc_test_stage(const char *what) {
  __asm__ volatile("" : : "r"(what) : "memory");
}

static long __attribute__((noinline)) run(toy_fn f, long n) {
  long sum = 0;
  for (long i = 0; i < n; i++) sum += f(5);
  __asm__ volatile("" : : "r"(sum) : "memory"); /* no tail call into f */
  return sum;
}

static int fail(const char *what, jc_err err) {
  fprintf(stderr, "helper_gdbjit: %s: %s (%s)\n", what, jc_strerror(err),
          jc_last_error());
  return 1;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: helper_gdbjit compile|reload DIR [N] | hot SECONDS\n");
    return 2;
  }
  jc_key key = jc_key_hash("toy loop", 8);
  jc_err err;
  if (strcmp(argv[1], "hot") == 0) {
    double secs = atof(argv[2]), t0 = now();
    jc_trace *loop;
    if ((err = toy_compile_loop(NULL, key, &toy_default_greens, &consts, 4000,
                                &loop)))
      return fail("compile", err);
    toy_fn f = (toy_fn)jc_trace_entry(loop);
    long calls = 0;
    while (now() - t0 < secs) {
      run(f, 10000);
      calls += 10000;
    }
    printf("hot: %ld calls of %s\n", calls, jc_trace_name(loop));
    return 0;
  }
  long n = argc > 3 ? atol(argv[3]) : 3;
  jc_cache *cache;
  jc_cache_opts o = {.dir = argv[2]};
  if ((err = jc_cache_open(&test_ns, &o, &cache))) return fail("open", err);
  toy_fn f;
  long expect = toy_expect(&consts, 5);
  if (strcmp(argv[1], "compile") == 0) {
    jc_trace *loop, *bridge;
    if ((err = toy_compile_loop(cache, key, &toy_default_greens, &consts, 0,
                                &loop)))
      return fail("compile loop", err);
    if ((err = toy_compile_bridge(cache, loop, &toy_default_greens, &consts,
                                  &bridge)))
      return fail("compile bridge", err);
    /* In the store before gdb can stop (and kill) this process: the reload
    ** run finds loop and bridge whatever the writer thread's timing. */
    jc_cache_flush(cache);
    f = (toy_fn)jc_trace_entry(loop);
    jc_test_stage("compiled");
  } else {
    jc_trace *tr[JC_MAX_CHAIN];
    size_t nt;
    if ((err = toy_reload(cache, key, &toy_default_greens, &consts, 150, tr,
                          JC_MAX_CHAIN, &nt)))
      return fail("reload", err);
    f = (toy_fn)jc_trace_entry(tr[0]);
    jc_test_stage("reloaded, tail pending");
    if (f(5) != TOY_TAIL_MARK) {
      fprintf(stderr, "helper_gdbjit: the tail guard did not fire\n");
      return 1;
    }
    if ((err = toy_check_tail(tr[0], &toy_default_greens, &consts)))
      return fail("check tail", err);
    jc_test_stage("tail validated");
  }
  long sum = run(f, n);
  jc_cache_flush(cache);
  jc_cache_close(cache);
  if (sum != n * expect) {
    fprintf(stderr, "helper_gdbjit: f(5) summed to %ld, expected %ld\n", sum,
            n * expect);
    return 1;
  }
  printf("%s: ok, f(5) = %ld\n", argv[1], expect);
  return 0;
}
