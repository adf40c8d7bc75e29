/*
** examples/demo.c — jcache in two processes: record, then reload.
**
**   jcache-demo [DIR]
**
** The first child "compiles" the toy loop and its bridge (examples/toytrace.h)
** and records them in the cache at DIR (a fresh temporary directory by
** default).  The second child finds them, checks them against its own
** constants, reloads loop and bridge together with a tail guard, runs them,
** validates the tail, and runs them again.  Each prints what happened.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "toytrace.h"

static const jc_ns demo_ns = {"jcache-demo", "1", "demo-build", "x86-64"};

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void print_stats(void) {
  jc_stats s;
  jc_stats_get(&s);
  const uint64_t *v = (const uint64_t *)&s;
  printf("  counters:");
  for (size_t i = 0, col = 0; i < JC_STATS_COUNT; i++) {
    if (!v[i]) continue;
    printf("%s%s=%llu", col++ % 4 ? "  " : "\n    ", jc_stats_name(i),
           (unsigned long long)v[i]);
  }
  printf("\n");
}

static int fail(const char *what, jc_err err) {
  fprintf(stderr, "demo: %s: %s (%s)\n", what, jc_strerror(err), jc_last_error());
  return 1;
}

/* Process 1: compile and record. */
static int cold(const char *dir) {
  jc_cache *cache;
  jc_cache_opts o = {.dir = dir};
  jc_err err = jc_cache_open(&demo_ns, &o, &cache);
  if (err) return fail("open", err);
  jc_key key = jc_key_hash("toy loop", 8);
  toy_consts c = {.K = 1000, .D = 7, .T = 5, .B = 100};
  /* $JCACHE_DEMO_K changes the recorded constant, so the recorded code (and
  ** its trace id) differs: tests use it to fill a cache with many records. */
  const char *k = getenv("JCACHE_DEMO_K");
  if (k && *k) c.K = strtoull(k, NULL, 0);
  jc_trace *loop, *bridge;
  double t0 = now_us();
  if ((err = toy_compile_loop(cache, key, &toy_default_greens, &c, 0, &loop)))
    return fail("compile loop", err);
  if ((err = toy_compile_bridge(cache, loop, &toy_default_greens, &c, &bridge)))
    return fail("compile bridge", err);
  double t1 = now_us();
  toy_fn f = (toy_fn)jc_trace_entry(loop);
  printf("cold run (pid %d): compiled loop %016llx and bridge %016llx in "
         "%.1f us\n", (int)getpid(), (unsigned long long)jc_trace_id(loop),
         (unsigned long long)jc_trace_id(bridge), t1 - t0);
  printf("  f(5) = %ld, f(150) = %ld  (expected %ld, %ld)\n", f(5), f(150),
         toy_expect(&c, 5), toy_expect(&c, 150));
  jc_cache_flush(cache);
  print_stats();
  jc_cache_close(cache);
  return 0;
}

/* Process 2: reload with this run's constants, run, validate the tail. */
static int warm(const char *dir) {
  jc_cache *cache;
  jc_cache_opts o = {.dir = dir};
  jc_err err = jc_cache_open(&demo_ns, &o, &cache);
  if (err) return fail("open", err);
  jc_key key = jc_key_hash("toy loop", 8);
  /* New process, new constants: the code must follow them. */
  toy_consts c = {.K = 2000, .D = -3, .T = 11, .B = 60};
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  double t0 = now_us();
  err = toy_reload(cache, key, &toy_default_greens, &c, 150, tr, JC_MAX_CHAIN, &n);
  double t1 = now_us();
  if (err) return fail("reload", err);
  toy_fn f = (toy_fn)jc_trace_entry(tr[0]);
  printf("warm run (pid %d): reloaded %zu traces (loop %016llx + bridge) in "
         "%.1f us, no compiling\n", (int)getpid(), n,
         (unsigned long long)jc_trace_id(tr[0]), t1 - t0);
  printf("  tail after guard 0 is %s: f(150) = %ld (the tail guard's exit)\n",
         jc_trace_tail(tr[0], 0) == JC_TAIL_PENDING ? "pending" : "?", f(150));
  if ((err = toy_check_tail(tr[0], &toy_default_greens, &c)))
    return fail("tail check", err);
  printf("  tail checked and validated: f(5) = %ld, f(150) = %ld  (expected "
         "%ld, %ld)\n", f(5), f(150), toy_expect(&c, 5), toy_expect(&c, 150));
  print_stats();
  jc_cache_close(cache);
  return f(150) == toy_expect(&c, 150) ? 0 : 1;
}

static int run_child(const char *self, const char *mode, const char *dir) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    execl(self, self, mode, dir, (char *)NULL);
    _exit(127);
  }
  int st;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "cold") == 0) return cold(argv[2]);
  if (argc == 3 && strcmp(argv[1], "warm") == 0) return warm(argv[2]);
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: %s [CACHE-DIR]\n", argv[0]);
    return 2;
  }
  char tmpl[] = "/tmp/jcache-demo-XXXXXX";
  const char *dir = argc == 2 ? argv[1] : mkdtemp(tmpl);
  if (!dir) {
    perror("mkdtemp");
    return 1;
  }
  printf("jcache demo: cache in %s\n\n", dir);
  int rc = run_child("/proc/self/exe", "cold", dir);
  printf("\n");
  if (!rc) rc = run_child("/proc/self/exe", "warm", dir);
  printf("\n%s\n", rc ? "demo FAILED" : "demo OK: the second process ran "
                                        "reloaded, re-patched code");
  return rc;
}
