/*
** tests/tui/tui_driver.c — a steady libjcache workload for jcache-top tests.
**
**   tui_driver [-t SECONDS] [-r PER_SECOND] [-l LINGER] [-o STATS] [-c DIR]
**
** For SECONDS it runs PER_SECOND iterations a second of what a warming JIT
** does with the toy JIT (examples/toytrace.h): lookups and reloads of a loop
** with its bridge (a tail guard each time), tail checks (three in four
** validated, one invalidated), replays that miss, reloads of the loop alone,
** and now and then a freshly compiled loop and bridge (records written).
** Then it writes its own counters (jc_stats_get, "name value" lines) to
** STATS and lingers LINGER seconds doing nothing, so a test can compare
** what jcache-top shows with the exact final counters.  The latest reloaded
** chain stays live, so its code can be read.  SIGTERM/SIGINT end it early.
**
** It links the shared libjcache, whose USDT probes the bpf source attaches
** to.  Prints "tui_driver: pid N ready" when the work starts.
*/
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toytrace.h"

static const jc_ns ns = {"jcache-tui-driver", "1", "test", "x86-64"};
static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
  double d = t - now();
  if (d <= 0) return;
  struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
  nanosleep(&ts, NULL);
}

static void release(jc_trace **tr, size_t n) {
  while (n) jc_trace_release(tr[--n]);
}

static int check(const char *what, jc_err err, jc_err want) {
  if (err == want) return 0;
  fprintf(stderr, "tui_driver: %s: %s, expected %s (%s)\n", what, jc_strerror(err),
          jc_strerror(want), jc_last_error());
  return 1;
}

int main(int argc, char **argv) {
  double seconds = 10, linger = 0;
  int rate = 100;
  const char *stats_out = NULL, *dir = NULL;
  int c;
  while ((c = getopt(argc, argv, "t:r:l:o:c:")) != -1) {
    switch (c) {
    case 't': seconds = atof(optarg); break;
    case 'r': rate = atoi(optarg); break;
    case 'l': linger = atof(optarg); break;
    case 'o': stats_out = optarg; break;
    case 'c': dir = optarg; break;
    default:
      fprintf(stderr, "usage: %s [-t SECONDS] [-r PER_SECOND] [-l LINGER] "
                      "[-o STATS] [-c DIR]\n", argv[0]);
      return 2;
    }
  }
  if (rate < 1) rate = 1;
  char tmpl[] = "/tmp/jcache-tui-XXXXXX";
  if (!dir && !(dir = mkdtemp(tmpl))) {
    perror("mkdtemp");
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  jc_cache *cache;
  jc_cache_opts o = {.dir = dir};
  jc_err err = jc_cache_open(&ns, &o, &cache);
  if (err) return check("open", err, JC_OK);

  /* The cold part: compile and persist the loop and its bridge. */
  jc_key key = jc_key_hash("toy loop", 8);
  toy_consts c0 = {.K = 1000, .D = 7, .T = 5, .B = 100};
  jc_trace *loop, *bridge;
  if ((err = toy_compile_loop(cache, key, &toy_default_greens, &c0, 0, &loop)) ||
      (err = toy_compile_bridge(cache, loop, &toy_default_greens, &c0, &bridge)))
    return check("compile", err, JC_OK);
  jc_cache_flush(cache);
  jc_trace_release(bridge);
  jc_trace_release(loop);

  toy_greens bad_loop = toy_default_greens, bad_tail = toy_default_greens;
  bad_loop.fp1 ^= 1;  /* a changed program: the replay misses at site 1 */
  bad_tail.fp2 ^= 1;  /* the tail after guard 0 changed: invalidated */

  printf("tui_driver: pid %d ready (cache %s)\n", (int)getpid(), dir);
  fflush(stdout);

  jc_trace *live[JC_MAX_CHAIN];
  size_t nlive = 0;
  int fails = 0;
  double t0 = now(), period = 1.0 / rate;
  for (long i = 0; !stop && now() - t0 < seconds; i++) {
    toy_consts cc = {.K = 2000 + (uint64_t)i, .D = -3, .T = 11, .B = 60};
    jc_trace *tr[JC_MAX_CHAIN];
    size_t n = 0;

    /* The loop alone, its tail checked in the replay (released at once: it
    ** comes first, so the latest commit is always the chain kept live). */
    if (i % 10 == 0) {
      err = toy_reload(cache, key, &toy_default_greens, &cc, 5, tr, JC_MAX_CHAIN, &n);
      if (!check("loop reload", err, JC_OK)) release(tr, n); else fails++;
    }
    /* Reload loop + bridge (left through exit 0): a tail guard goes in. */
    err = toy_reload(cache, key, &toy_default_greens, &cc, 150, tr, JC_MAX_CHAIN, &n);
    if (check("reload", err, JC_OK)) {
      fails++;
    } else {
      toy_fn f = (toy_fn)jc_trace_entry(tr[0]);
      if (f(150) != TOY_TAIL_MARK) fails++, fprintf(stderr, "tui_driver: no tail guard\n");
      bool bad = i % 4 == 3;
      err = toy_check_tail(tr[0], bad ? &bad_tail : &toy_default_greens, &cc);
      fails += check("tail check", err, bad ? JC_MISS : JC_OK);
      if (!bad && f(150) != toy_expect(&cc, 150))
        fails++, fprintf(stderr, "tui_driver: wrong result after validation\n");
      release(live, nlive);
      memcpy(live, tr, n * sizeof *tr);
      nlive = n;
    }
    /* A changed program: the replay misses. */
    if (i % 5 == 4) {
      err = toy_reload(cache, key, &bad_loop, &cc, 150, tr, JC_MAX_CHAIN, &n);
      fails += check("missing reload", err, JC_MISS);
    }
    /* Now and then a new loop is compiled and persisted. */
    if (i % 25 == 0) {
      char name[32];
      int len = snprintf(name, sizeof name, "toy loop %ld", i);
      jc_key k = jc_key_hash(name, (size_t)len);
      if ((err = toy_compile_loop(cache, k, &toy_default_greens, &cc, 0, &loop)) ||
          (err = toy_compile_bridge(cache, loop, &toy_default_greens, &cc, &bridge))) {
        fails += check("compile", err, JC_OK);
      } else {
        jc_trace_release(bridge);
        jc_trace_release(loop);
      }
    }
    sleep_until(t0 + (double)(i + 1) * period);
  }
  jc_cache_flush(cache);

  jc_stats st;
  jc_stats_get(&st);
  if (stats_out) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", stats_out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
      perror(tmp);
      return 1;
    }
    const uint64_t *v = (const uint64_t *)&st;
    for (size_t k = 0; k < JC_STATS_COUNT; k++)
      fprintf(f, "%s %llu\n", jc_stats_name(k), (unsigned long long)v[k]);
    fclose(f);
    rename(tmp, stats_out); /* appears complete */
  }
  printf("tui_driver: done: %llu lookups, %llu reloaded, %llu validated, "
         "%llu invalidated, %d failures\n", (unsigned long long)st.lookups,
         (unsigned long long)st.traces_reloaded, (unsigned long long)st.tails_validated,
         (unsigned long long)st.tails_invalidated, fails);
  fflush(stdout);
  for (double end = now() + linger; !stop && now() < end;) sleep_until(now() + 0.1);
  release(live, nlive);
  jc_cache_close(cache);
  return fails ? 1 : 0;
}
