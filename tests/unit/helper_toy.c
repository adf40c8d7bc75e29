/*
** tests/unit/helper_toy.c — a second (third, fifth) process for the tests.
**
**   helper_toy record DIR K D T B         compile and persist loop + bridge
**   helper_toy reload DIR K D T B X       reload for f(X), validate the tail,
**                                         check f(5) and f(X) against C
**   helper_toy stress DIR ID N            record N loops under keys (ID, i)
**                                         and reload the other processes'
**
** Exit status 0 means every check passed; messages go to stderr.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toytrace.h"

static const jc_ns test_ns = {"jcache-test", "1", "test-build", "x86-64"};

static jc_key stress_key(int id, int i) {
  int v[2] = {id, i};
  return jc_key_hash(v, sizeof v);
}

static int fail(const char *what, jc_err err) {
  fprintf(stderr, "helper_toy: %s: %s (%s)\n", what, jc_strerror(err),
          jc_last_error());
  return 1;
}

static toy_consts consts(char **argv) {
  toy_consts c = {strtoull(argv[0], NULL, 0), (int32_t)strtol(argv[1], NULL, 0),
                  strtoull(argv[2], NULL, 0), (int32_t)strtol(argv[3], NULL, 0)};
  return c;
}

static int record(jc_cache *cache, toy_consts c) {
  jc_trace *loop, *bridge;
  jc_key key = jc_key_hash("toy loop", 8);
  jc_err err = toy_compile_loop(cache, key, &toy_default_greens, &c, 0, &loop);
  if (err) return fail("compile loop", err);
  if ((err = toy_compile_bridge(cache, loop, &toy_default_greens, &c, &bridge)))
    return fail("compile bridge", err);
  toy_fn f = (toy_fn)jc_trace_entry(loop);
  if (f(5) != toy_expect(&c, 5) || f(150) != toy_expect(&c, 150)) {
    fprintf(stderr, "helper_toy: compiled code computes %ld, %ld\n", f(5), f(150));
    return 1;
  }
  return 0;
}

static int reload(jc_cache *cache, toy_consts c, long x) {
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  jc_key key = jc_key_hash("toy loop", 8);
  jc_err err = toy_reload(cache, key, &toy_default_greens, &c, x, tr,
                          JC_MAX_CHAIN, &n);
  if (err) return fail("reload", err);
  toy_fn f = (toy_fn)jc_trace_entry(tr[0]);
  if (x > 100) {
    /* Loop and bridge were reloaded together; the tail is unchecked. */
    if (n != 2 || jc_trace_tail(tr[0], 0) != JC_TAIL_PENDING) {
      fprintf(stderr, "helper_toy: expected loop+bridge with a pending tail\n");
      return 1;
    }
    if (f(5) != TOY_TAIL_MARK) {
      fprintf(stderr, "helper_toy: tail guard did not fire (%ld)\n", f(5));
      return 1;
    }
    if ((err = toy_check_tail(tr[0], &toy_default_greens, &c)))
      return fail("tail check", err);
  } else if (n != 1 || jc_trace_tail(tr[0], 0) != JC_TAIL_NONE) {
    fprintf(stderr, "helper_toy: expected the loop alone, fully checked\n");
    return 1;
  }
  long a = f(5), b = x > 100 ? f(x) : f(50);
  long ea = toy_expect(&c, 5), eb = toy_expect(&c, x > 100 ? x : 50);
  printf("f(5) = %ld, f(%ld) = %ld\n", a, x > 100 ? x : 50, b);
  if (a != ea || b != eb) {
    fprintf(stderr, "helper_toy: reloaded code computes %ld, %ld; expected "
                    "%ld, %ld\n", a, b, ea, eb);
    return 1;
  }
  return 0;
}

static int stress(jc_cache *cache, int id, int n) {
  toy_consts c = {(uint64_t)(100 * id), id, 3, 10};
  int bad = 0, reloaded = 0;
  /* Phase 1: record, flushing now and then so others see records early. */
  for (int i = 0; i < n; i++) {
    jc_trace *t;
    jc_err err = toy_compile_loop(cache, stress_key(id, i), &toy_default_greens,
                                  &c, (uint32_t)(i % 7), &t);
    if (err) return fail("compile", err);
    jc_trace_release(t);
    if (i % 8 == 7) jc_cache_flush(cache);
  }
  jc_cache_flush(cache);
  /* Phase 2: reload what the next process wrote, waiting for it (bounded). */
  toy_consts o = {7, 1, 2, 10};
  for (int i = 0; i < n; i++) {
    jc_trace *tr[JC_MAX_CHAIN];
    size_t k;
    jc_err err = JC_MISS;
    for (int tries = 0; tries < 500 && err == JC_MISS; tries++) {
      err = toy_reload(cache, stress_key((id + 1) % 4, i), &toy_default_greens,
                       &o, 5, tr, JC_MAX_CHAIN, &k);
      if (err == JC_MISS) usleep(10000);
    }
    if (err) return fail("reload", err);
    reloaded++;
    if (((toy_fn)jc_trace_entry(tr[0]))(5) != toy_expect(&o, 5)) bad++;
    jc_trace_release(tr[0]);
  }
  jc_stats s;
  jc_stats_get(&s);
  fprintf(stderr, "helper_toy stress %d: %d reloaded, %d bad, %llu rejected\n",
          id, reloaded, bad, (unsigned long long)s.records_rejected);
  return bad || reloaded != n || s.records_rejected ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: helper_toy record|reload|stress DIR ...\n");
    return 2;
  }
  jc_cache *cache;
  jc_cache_opts o = {.dir = argv[2]};
  jc_err err = jc_cache_open(&test_ns, &o, &cache);
  if (err) return fail("open", err);
  int rc = 2;
  if (strcmp(argv[1], "record") == 0 && argc == 7)
    rc = record(cache, consts(argv + 3));
  else if (strcmp(argv[1], "reload") == 0 && argc == 8)
    rc = reload(cache, consts(argv + 3), strtol(argv[7], NULL, 0));
  else if (strcmp(argv[1], "stress") == 0 && argc == 5)
    rc = stress(cache, atoi(argv[3]), atoi(argv[4]));
  else
    fprintf(stderr, "helper_toy: bad arguments\n");
  jc_cache_close(cache);
  return rc;
}
