/*
** tests/unit/test_reload.c — record, store, look up, replay and reload real
** x86-64 code, across processes; bridges, tail guards, misses, corruption,
** concurrency.  The machine code is the toy JIT's (examples/toytrace.h).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "cache.h"
#include "format.h"
#include "testutil.h"
#include "toytrace.h"

static const jc_ns test_ns = {"jcache-test", "1", "test-build", "x86-64"};
static const toy_consts C1 = {1000, 7, 5, 100};
static const toy_consts C2 = {2000, -3, 11, 60};

typedef struct fixture {
  char *dir;
  jc_cache *cache;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->dir = tu_tmpdir();
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &f->cache), JC_OK);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  jc_cache_close(f->cache);
  tu_rmtree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

static jc_key key_of(const char *s) { return jc_key_hash(s, strlen(s)); }

static jc_stats stats(void) {
  jc_stats s;
  jc_stats_get(&s);
  return s;
}

/* -- Across processes --------------------------------------------------------- */

static int helper(const char *mode, const char *dir, const toy_consts *c, long x) {
  char k[32], d[32], t[32], b[32], xs[32];
  snprintf(k, sizeof k, "%llu", (unsigned long long)c->K);
  snprintf(d, sizeof d, "%d", c->D);
  snprintf(t, sizeof t, "%llu", (unsigned long long)c->T);
  snprintf(b, sizeof b, "%d", c->B);
  snprintf(xs, sizeof xs, "%ld", x);
  char *argv[] = {(char *)tu_helper("helper_toy"), (char *)mode, (char *)dir,
                  k, d, t, b, xs, NULL};
  if (strcmp(mode, "record") == 0) argv[7] = NULL;
  return tu_run(argv);
}

/* Recorded in one process, reloaded in others with other constants: the
** reloaded code computes with the new ones (ABS64, ABS32, REL32 call). */
static void test_two_processes(void **state) {
  fixture *f = *state;
  assert_int_equal(helper("record", f->dir, &C1, 0), 0);
  assert_int_equal(helper("reload", f->dir, &C2, 5), 0);   /* loop alone */
  assert_int_equal(helper("reload", f->dir, &C2, 150), 0); /* loop + bridge */
  toy_consts c3 = {77, 1 << 20, 0, 1};
  assert_int_equal(helper("reload", f->dir, &c3, 250), 0);
}

/* -- Bridges and tails ------------------------------------------------------------ */

static void compile_family(fixture *f, jc_key key) {
  jc_trace *loop, *bridge;
  assert_int_equal(toy_compile_loop(f->cache, key, &toy_default_greens, &C1, 0,
                                    &loop), JC_OK);
  assert_int_equal(toy_compile_bridge(f->cache, loop, &toy_default_greens, &C1,
                                      &bridge), JC_OK);
  toy_fn fn = (toy_fn)jc_trace_entry(loop);
  assert_int_equal(fn(5), toy_expect(&C1, 5));
  assert_int_equal(fn(150), toy_expect(&C1, 150));
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  jc_trace_release(bridge);
  jc_trace_release(loop);
}

static void test_bridge_tail_validated(void **state) {
  fixture *f = *state;
  jc_key key = key_of("family");
  compile_family(f, key);
  jc_stats s0 = stats();

  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 2);
  assert_true(jc_trace_reloaded(tr[0]) && jc_trace_reloaded(tr[1]));
  uint32_t exit_no;
  assert_int_equal(jc_trace_parent(tr[1], &exit_no), jc_trace_id(tr[0]));
  assert_int_equal(exit_no, 0);
  assert_ptr_equal(jc_trace_exit_target(tr[0], 0), jc_trace_entry(tr[1]));
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_PENDING);
  /* The line table and name came back with the code. */
  uint32_t off, line;
  const char *file;
  assert_true(jc_trace_line_at(tr[0], 0, &off, &file, &line));
  assert_int_equal(off, 0);
  assert_string_equal(file, "toy.jc");
  assert_int_equal(line, 1);
  assert_true(jc_trace_line_at(tr[0], 1, &off, &file, &line));
  assert_int_equal(line, 2);
  assert_false(jc_trace_line_at(tr[0], 2, &off, &file, &line));
  assert_string_equal(jc_trace_name(tr[0]), "jc_loop_toy_L1");
  assert_string_equal(jc_trace_name(tr[1]), "jc_bridge_toy_L1_x0");
  uint64_t v;
  assert_int_equal(jc_trace_slot(tr[0], 0, &v), JC_OK); /* K */
  assert_int_equal(v, C2.K);
  assert_int_equal(jc_trace_slot(tr[0], 2, &v), JC_STATE); /* T: in the tail */
  assert_non_null(strstr(jc_last_error(), "not bound yet"));
  assert_int_equal(jc_trace_slot(tr[0], 99, &v), JC_NOTFOUND);
  assert_non_null(strstr(jc_last_error(), "no such slot"));
  /* A formatted message replaces the constant one. */
  assert_int_equal(jc_trace_attach(tr[0], 12345, jc_trace_entry(tr[1])), JC_NOTFOUND);
  assert_non_null(strstr(jc_last_error(), "has no exit 12345"));

  toy_fn fn = (toy_fn)jc_trace_entry(tr[0]);
  /* The bridge runs (x -= B) and re-enters the loop, which reaches the tail
  ** guard: -2.  Below 100 the tail guard fires directly. */
  assert_int_equal(fn(150), TOY_TAIL_MARK);
  assert_int_equal(fn(5), TOY_TAIL_MARK);

  assert_int_equal(toy_check_tail(tr[0], &toy_default_greens, &C2), JC_OK);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_VALIDATED);
  assert_int_equal(jc_trace_slot(tr[0], 2, &v), JC_OK);
  assert_int_equal(v, C2.T);
  assert_int_equal(fn(5), toy_expect(&C2, 5));
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  assert_int_equal(fn(1000), toy_expect(&C2, 1000));
  /* A second validation of the same tail is refused. */
  jc_replay *r;
  assert_int_equal(jc_tail_begin(tr[0], 0, &r), JC_NOTFOUND);

  jc_stats s1 = stats();
  assert_int_equal(s1.commits - s0.commits, 1);
  assert_int_equal(s1.traces_reloaded - s0.traces_reloaded, 2);
  assert_int_equal(s1.bridges_attached - s0.bridges_attached, 1);
  assert_int_equal(s1.tail_guards - s0.tail_guards, 1);
  assert_int_equal(s1.tails_validated - s0.tails_validated, 1);
  /* K, D, helper, bridge's B and root jump at commit; T at validation. */
  assert_int_equal(s1.relocs_patched - s0.relocs_patched, 6);
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);
}

static void test_bridge_tail_invalidated(void **state) {
  fixture *f = *state;
  jc_key key = key_of("family");
  compile_family(f, key);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  jc_stats s0 = stats();
  /* The program changed after guard 0: the tail's green decision differs. */
  toy_greens g = toy_default_greens;
  g.fp2 ^= 1;
  assert_int_equal(toy_check_tail(tr[0], &g, &C2), JC_MISS);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_INVALIDATED);
  jc_stats s1 = stats();
  assert_int_equal(s1.tails_invalidated - s0.tails_invalidated, 1);
  assert_int_equal(s1.tails_validated - s0.tails_validated, 0);
  /* The tail guard stays an exit: unchecked code never runs. */
  toy_fn fn = (toy_fn)jc_trace_entry(tr[0]);
  assert_int_equal(fn(5), TOY_TAIL_MARK);
  assert_int_equal(fn(150), TOY_TAIL_MARK);
  jc_replay *r;
  assert_int_equal(jc_tail_begin(tr[0], 0, &r), JC_NOTFOUND);
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);
}

/* Left through an exit that has no saved bridge: the loop is reloaded alone,
** the exit stays the stub, the tail is guarded. */
static void test_exit_without_bridge(void **state) {
  fixture *f = *state;
  jc_key key = key_of("lonely loop");
  jc_trace *loop;
  assert_int_equal(toy_compile_loop(f->cache, key, &toy_default_greens, &C1, 0,
                                    &loop), JC_OK);
  jc_cache_flush(f->cache);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  toy_fn fn = (toy_fn)jc_trace_entry(tr[0]);
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  assert_int_equal(fn(5), TOY_TAIL_MARK);
  assert_int_equal(toy_check_tail(tr[0], &toy_default_greens, &C2), JC_OK);
  assert_int_equal(fn(5), toy_expect(&C2, 5));
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  /* Now a fresh bridge can be attached live to the reloaded loop's exit. */
  jc_trace *bridge;
  toy_consts c = C2;
  assert_int_equal(toy_compile_bridge(f->cache, tr[0], &toy_default_greens, &c,
                                      &bridge), JC_OK);
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  jc_trace_release(bridge);
  jc_trace_release(tr[0]);
  jc_trace_release(loop);
}

/* Reload the saved bridge of exit 0 of the live `loop` lazily, with C2's
** constant: lookup by bridge key, check, commit; it is attached. */
static void reload_lazy_bridge(fixture *f, jc_trace *loop, jc_trace **bridge) {
  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, jc_key_bridge(jc_trace_id(loop), 0), &cs),
                   JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  jc_replay *r;
  assert_int_equal(jc_replay_begin(f->cache, cs, toy_resolve, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_green(r, 3, TOY_KIND_OP, toy_default_greens.fp3),
                   JC_OK);
  assert_int_equal(jc_replay_bind(r, (uint64_t)C2.B), JC_OK);
  size_t n;
  assert_int_equal(jc_replay_commit(r, bridge, 1, &n), JC_OK);
  jc_cands_release(cs);
  assert_int_equal(n, 1);
  assert_ptr_equal(jc_trace_exit_target(loop, 0), jc_trace_entry(*bridge));
}

/* A bridge saved for an exit the first check did not reach is reloaded
** lazily, when that exit gets hot: lookup by bridge key, check, commit. */
static void test_lazy_bridge(void **state) {
  fixture *f = *state;
  jc_key key = key_of("lazy");
  compile_family(f, key);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  /* x = 5: the check never leaves the loop; the loop is reloaded alone. */
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 5, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  jc_trace *loop = tr[0];
  toy_fn fn = (toy_fn)jc_trace_entry(loop);
  assert_int_equal(fn(150), TOY_EXIT_MARK);

  reload_lazy_bridge(f, loop, &tr[0]);
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  jc_trace_release(tr[0]);
  jc_trace_release(loop);
}

/* Slot exits (jc_rec_exit_slot): a compiled loop's bridge attaches through
** the client's slot, a reloaded one's through the library's; the code of a
** live trace is never written to attach, detach or chain a bridge. */
static void test_slot_exits(void **state) {
  fixture *f = *state;
  toy_slot_exits = true;
  jc_key key = key_of("slots");
  jc_trace *loop, *bridge;
  assert_int_equal(toy_compile_loop(f->cache, key, &toy_default_greens, &C1, 0,
                                    &loop), JC_OK);
  size_t size;
  uint8_t *code = jc_trace_code(loop, &size);
  uint8_t *before = malloc(size);
  memcpy(before, code, size);
  uint8_t *stub = jc_trace_exit_target(loop, 0);
  assert_true(stub > code && stub < code + size);
  toy_fn fn = (toy_fn)jc_trace_entry(loop);
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  assert_int_equal(toy_compile_bridge(f->cache, loop, &toy_default_greens, &C1,
                                      &bridge), JC_OK);
  assert_ptr_equal(jc_trace_exit_target(loop, 0), jc_trace_entry(bridge));
  assert_int_equal(fn(150), toy_expect(&C1, 150));
  assert_memory_equal(code, before, size); /* attached without a code write */
  assert_int_equal(jc_trace_attach(loop, 0, NULL), JC_OK); /* detach */
  assert_ptr_equal(jc_trace_exit_target(loop, 0), stub);
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  jc_trace_release(bridge);
  jc_trace_release(loop);
  free(before);

  /* Reloaded with its bridge in one path: chained through the new slot. */
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 2);
  assert_ptr_equal(jc_trace_exit_target(tr[0], 0), jc_trace_entry(tr[1]));
  fn = (toy_fn)jc_trace_entry(tr[0]);
  assert_int_equal(fn(150), TOY_TAIL_MARK); /* through the bridge, into the tail */
  assert_int_equal(toy_check_tail(tr[0], &toy_default_greens, &C2), JC_OK);
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  assert_int_equal(jc_trace_attach(tr[0], 0, NULL), JC_OK);
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);

  /* Reloaded alone, then its bridge lazily: one store into the slot. */
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 5, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  jc_trace *l2 = tr[0];
  code = jc_trace_code(l2, &size);
  before = malloc(size);
  memcpy(before, code, size);
  fn = (toy_fn)jc_trace_entry(l2);
  assert_int_equal(fn(150), TOY_EXIT_MARK);
  reload_lazy_bridge(f, l2, &tr[0]);
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  assert_memory_equal(code, before, size);
  free(before);
  jc_trace_release(tr[0]);
  jc_trace_release(l2);
  toy_slot_exits = false;
}

/* -- Misses ---------------------------------------------------------------------- */

static void test_miss_on_changed_program(void **state) {
  fixture *f = *state;
  jc_key key = key_of("changed");
  compile_family(f, key);
  jc_stats s0 = stats();
  toy_greens g = toy_default_greens;
  g.fp1 = 12345; /* another opcode at the loop's first green site */
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n = 99;
  assert_int_equal(toy_reload(f->cache, key, &g, &C2, 5, tr, JC_MAX_CHAIN, &n),
                   JC_MISS);
  jc_stats s1 = stats();
  assert_int_equal(s1.replay_misses - s0.replay_misses, 1);
  assert_int_equal(s1.commits - s0.commits, 0);

  /* A bridge that disagrees: loop + bridge check misses in the bridge, and
  ** the bridgeless path commits the loop alone (tail guarded). */
  g = toy_default_greens;
  g.fp3 ^= 0xFF;
  assert_int_equal(toy_reload(f->cache, key, &g, &C2, 150, tr, JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(n, 1);
  assert_int_equal(((toy_fn)jc_trace_entry(tr[0]))(150), TOY_EXIT_MARK);
  jc_trace_release(tr[0]);

  /* Calls past the end of the tape, or of the wrong kind, miss. */
  jc_cands *cs;
  jc_replay *r;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, cs, toy_resolve, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_bind(r, 1), JC_MISS);          /* GREEN expected */
  assert_int_equal(jc_replay_green(r, 1, TOY_KIND_OP, g.fp1), JC_MISS); /* stays */
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_MISS);
  jc_cands_release(cs);
  jc_cands *cs2;
  assert_int_equal(jc_lookup(f->cache, key, &cs2), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, cs2, toy_resolve, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_green(r, 1, TOY_KIND_OP, g.fp1), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_MISS); /* short */
  jc_cands_release(cs2);
}

/* Several candidates under one key are checked at once; the one that agrees
** is committed. */
static void test_candidates(void **state) {
  fixture *f = *state;
  jc_key key = key_of("two versions");
  toy_greens ga = toy_default_greens, gb = toy_default_greens;
  gb.fp1 = 0xBEEF;
  jc_trace *a, *b;
  assert_int_equal(toy_compile_loop(f->cache, key, &ga, &C1, 0, &a), JC_OK);
  assert_int_equal(toy_compile_loop(f->cache, key, &gb, &C1, 3, &b), JC_OK);
  jc_cache_flush(f->cache);
  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 2);
  jc_cands_release(cs);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &gb, &C2, 5, tr, JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(jc_trace_id(tr[0]), jc_trace_id(b));
  assert_int_equal(((toy_fn)jc_trace_entry(tr[0]))(5), toy_expect(&C2, 5));
  jc_trace_release(tr[0]);
  assert_int_equal(toy_reload(f->cache, key, &ga, &C2, 5, tr, JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(jc_trace_id(tr[0]), jc_trace_id(a));
  jc_trace_release(tr[0]);
  jc_trace_release(a);
  jc_trace_release(b);
}

static uint64_t far_resolve(void *ctx, const char *name) {
  (void)ctx;
  (void)name;
  return 0x7f0000000000ull ^ 0x123456789000ull; /* far from any arena */
}

static uint64_t no_resolve(void *ctx, const char *name) {
  (void)ctx;
  (void)name;
  return 0;
}

static jc_err reload_with(fixture *f, jc_key key, jc_resolver res) {
  jc_cands *cs;
  jc_replay *r;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, cs, res, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_green(r, 1, TOY_KIND_OP, toy_default_greens.fp1), JC_OK);
  assert_int_equal(jc_replay_bind(r, C2.K), JC_OK);
  assert_int_equal(jc_replay_bind(r, (uint64_t)(int64_t)C2.D), JC_OK);
  assert_int_equal(jc_replay_guard(r, 0, false), JC_OK);
  assert_int_equal(jc_replay_green(r, 2, TOY_KIND_OP, toy_default_greens.fp2), JC_OK);
  assert_int_equal(jc_replay_bind(r, C2.T), JC_OK);
  jc_trace *tr[1];
  size_t n;
  jc_err err = jc_replay_commit(r, tr, 1, &n);
  jc_cands_release(cs);
  if (!err) jc_trace_release(tr[0]);
  return err;
}

/* Out-of-range REL32 and unresolved symbols are misses, never crashes; an
** ABS32 constant that does not sign-extend is one too. */
static void test_relocation_failures(void **state) {
  fixture *f = *state;
  jc_key key = key_of("reloc");
  compile_family(f, key);
  jc_stats s0 = stats();
  assert_int_equal(reload_with(f, key, far_resolve), JC_RANGE);
  assert_int_equal(reload_with(f, key, no_resolve), JC_SYMBOL);
  assert_int_equal(reload_with(f, key, NULL), JC_SYMBOL);
  jc_stats s1 = stats();
  assert_int_equal(s1.replay_misses - s0.replay_misses, 3);
  assert_int_equal(s1.commits - s0.commits, 0);

  toy_consts big = C2;
  big.D = 0; /* fine */
  jc_trace *tr[2];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &big, 5, tr, 2,
                              &n), JC_OK);
  jc_trace_release(tr[0]);
  /* D bound to 2^40: ABS32 cannot hold it. */
  jc_cands *cs;
  jc_replay *r;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, cs, toy_resolve, NULL, &r), JC_OK);
  jc_replay_green(r, 1, TOY_KIND_OP, toy_default_greens.fp1);
  jc_replay_bind(r, C2.K);
  jc_replay_bind(r, 1ull << 40);
  jc_replay_guard(r, 0, false);
  jc_replay_green(r, 2, TOY_KIND_OP, toy_default_greens.fp2);
  jc_replay_bind(r, C2.T);
  assert_int_equal(jc_replay_commit(r, tr, 2, &n), JC_RANGE);
  jc_cands_release(cs);
}

/* -- Namespaces and corruption ------------------------------------------------------ */

static void test_namespace_isolation(void **state) {
  fixture *f = *state;
  jc_key key = key_of("isolated");
  compile_family(f, key);
  const jc_ns others[] = {
      {"jcache-test", "1", "other-build", "x86-64"},
      {"jcache-test", "1", "test-build", "x86-64+avx512"},
      {"jcache-test", "2", "test-build", "x86-64"},
      {"other-vm", "1", "test-build", "x86-64"},
  };
  for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
    jc_cache *c2;
    jc_cache_opts o = {.dir = f->dir};
    assert_int_equal(jc_cache_open(&others[i], &o, &c2), JC_OK);
    jc_cands *cs;
    assert_int_equal(jc_lookup(c2, key, &cs), JC_OK);
    assert_int_equal(jc_cands_count(cs), 0);
    jc_cands_release(cs);
    jc_cache_close(c2);
  }
  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  jc_cands_release(cs);
}

/* Write raw values straight into the store, as a corrupting process would. */
static void raw_put(fixture *f, jc_key key, uint64_t id, const void *rec,
                    size_t len) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, (size_t)1 << 30);
  assert_int_equal(mdb_env_open(env, f->dir, MDB_NOTLS, 0600), 0);
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "traces", 0, &dbi), 0);
  uint8_t k[40];
  jc_store_key(k, jc_cache_ns(f->cache), key, id);
  MDB_val mk = {sizeof k, k}, mv = {len, (void *)rec};
  assert_int_equal(mdb_put(txn, dbi, &mk, &mv, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/* Read the one valid record stored under key. */
static void *raw_get(fixture *f, jc_key key, size_t *len, uint64_t *id) {
  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  *len = cs->v[0].view.len;
  *id = cs->v[0].id;
  void *copy = malloc(*len);
  memcpy(copy, cs->v[0].view.base, *len);
  jc_cands_release(cs);
  return copy;
}

static void test_corrupt_records_rejected(void **state) {
  fixture *f = *state;
  jc_key key = key_of("corrupt me");
  compile_family(f, key);
  size_t len;
  uint64_t id;
  uint8_t *good = raw_get(f, key, &len, &id);
  jc_stats s0 = stats();

  /* Bit flips, truncations and a foreign namespace's record under our key;
  ** each under its own fake id so they all sit beside the good one. */
  uint8_t *bad = malloc(len);
  unsigned nbad = 0;
  srand(1234);
  for (int i = 0; i < 40; i++, nbad++) {
    memcpy(bad, good, len);
    size_t at = (size_t)rand() % len;
    bad[at] ^= (uint8_t)(1u << (rand() % 8));
    raw_put(f, key, 1000 + (uint64_t)i, bad, len);
  }
  for (size_t cut = 0; cut < len; cut += len / 17 + 1, nbad++)
    raw_put(f, key, 2000 + cut, good, cut);
  /* The good record itself, but stored under another trace id. */
  raw_put(f, key, 5, good, len);
  nbad++;

  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  assert_int_equal(jc_cands_id(cs, 0), id);
  jc_cands_release(cs);
  jc_stats s1 = stats();
  assert_int_equal(s1.records_rejected - s0.records_rejected, nbad);
  uint64_t by_reason = (s1.rejected_truncated - s0.rejected_truncated) +
                       (s1.rejected_magic - s0.rejected_magic) +
                       (s1.rejected_namespace - s0.rejected_namespace) +
                       (s1.rejected_checksum - s0.rejected_checksum) +
                       (s1.rejected_bounds - s0.rejected_bounds) +
                       (s1.rejected_entry - s0.rejected_entry);
  assert_int_equal(by_reason, nbad);
  assert_true(s1.rejected_checksum > s0.rejected_checksum);
  assert_true(s1.rejected_truncated > s0.rejected_truncated);

  /* The good candidate still reloads and runs. */
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 5, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(((toy_fn)jc_trace_entry(tr[0]))(5), toy_expect(&C2, 5));
  jc_trace_release(tr[0]);

  /* Only corrupt candidates: a clean miss, no candidates. */
  jc_key k2 = key_of("only garbage");
  memcpy(bad, good, len);
  bad[len / 2] ^= 0x10;
  raw_put(f, k2, 1, bad, len);
  assert_int_equal(jc_lookup(f->cache, k2, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 0);
  jc_cands_release(cs);
  free(bad);
  free(good);
}

/* -- Prefetch ------------------------------------------------------------------- */

static jc_prefetch_info prefetch_info(jc_cache *c) {
  jc_prefetch_info pi;
  jc_cache_prefetch_info(c, &pi);
  return pi;
}

/* A handle that prefetched a family answers its lookups from memory, with
** the candidates a plain lookup returns (the loop and, through the loop's
** exit, its bridge), skips and counts a corrupt record on the way, and
** reloads from them; keys it did not fetch are looked up in the store. */
static void test_prefetch(void **state) {
  fixture *f = *state;
  jc_key key = key_of("prefetched"), absent = key_of("never stored");
  compile_family(f, key);
  size_t len;
  uint64_t id;
  uint8_t *good = raw_get(f, key, &len, &id);
  good[len / 2] ^= 0x40;
  raw_put(f, key, 1000, good, len); /* sits beside the good one */
  free(good);

  jc_cache *c2;
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  jc_prefetch_info pi = prefetch_info(c2);
  assert_int_equal(pi.keys, 0);
  jc_stats s0 = stats();
  jc_key keys[] = {key, absent, key};
  assert_int_equal(jc_cache_prefetch(c2, keys, 3), JC_OK);
  jc_cache_prefetch_wait(c2);
  pi = prefetch_info(c2);
  assert_false(pi.busy);
  assert_int_equal(pi.records, 2); /* the loop, then its bridge */
  assert_true(pi.keys >= 3);       /* two given, the loop's exits' bridge keys */
  assert_true(pi.bytes > len);
  assert_true(pi.cpu_ns > 0);
  assert_int_equal(pi.served, 0);
  assert_int_equal(stats().records_rejected - s0.records_rejected, 1);

  jc_cands *cs;
  assert_int_equal(jc_lookup(c2, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  assert_int_equal(jc_cands_id(cs, 0), id);
  assert_true(cs->shared && cs->txn == NULL);
  jc_cands_release(cs);
  assert_int_equal(jc_lookup(c2, jc_key_bridge(id, 0), &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  jc_cands_release(cs);
  assert_int_equal(jc_lookup(c2, absent, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 0);
  jc_cands_release(cs);
  assert_int_equal(prefetch_info(c2).served, 3);
  /* Served lookups count as lookups, and the corrupt record once only. */
  assert_int_equal(stats().records_rejected - s0.records_rejected, 1);

  /* The family reloads from the prefetched copies (replay looks the bridge
  ** up itself) and computes with the new constants. */
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(c2, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 2);
  assert_int_equal(prefetch_info(c2).served, 5);
  assert_ptr_equal(jc_trace_exit_target(tr[0], 0), jc_trace_entry(tr[1]));
  toy_fn fn = (toy_fn)jc_trace_entry(tr[0]);
  assert_int_equal(fn(150), TOY_TAIL_MARK); /* through the bridge, to the tail guard */
  assert_int_equal(toy_check_tail(tr[0], &toy_default_greens, &C2), JC_OK);
  assert_int_equal(fn(5), toy_expect(&C2, 5));
  assert_int_equal(fn(150), toy_expect(&C2, 150));
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);

  /* A key stored after the prefetch, and not given to it: from the store. */
  jc_key later = key_of("stored later");
  compile_family(f, later);
  assert_int_equal(jc_lookup(c2, later, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  assert_false(cs->shared);
  jc_cands_release(cs);
  jc_cache_close(c2);

  /* Closing while the thread is busy stops it and frees everything. */
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  size_t nk = 20000;
  jc_key *many = malloc(nk * sizeof *many);
  for (size_t i = 0; i < nk; i++) many[i] = jc_key_hash(&i, sizeof i);
  many[nk / 2] = key;
  assert_int_equal(jc_cache_prefetch(c2, many, nk), JC_OK);
  free(many);
  jc_cache_close(c2);

  /* Bad arguments. */
  assert_int_equal(jc_cache_prefetch(NULL, &key, 1), JC_INVAL);
  assert_int_equal(jc_cache_prefetch(f->cache, NULL, 1), JC_INVAL);
  jc_cache_prefetch_info(NULL, &pi);
  assert_int_equal(pi.keys, 0);
  jc_cache_prefetch_wait(NULL);
}

/* -- A program's loops ------------------------------------------------------------ */

/* The program list stored for `prog` (its keys in *out, at most cap), or -1
** when there is none. */
static long program_list_raw(fixture *f, jc_key prog, jc_key *out, size_t cap) {
  uint8_t lk[40];
  jc_store_key(lk, jc_cache_ns(f->cache), prog, 0);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(f->cache->env, NULL, MDB_RDONLY, &txn), 0);
  MDB_val k = {32, lk}, v;
  long n = -1;
  if (mdb_get(txn, f->cache->program_dbi, &k, &v) == 0) {
    assert_true(v.mv_size >= 16);
    n = (long)((v.mv_size - 16) / 16);
    for (long i = 0; i < n && (size_t)i < cap; i++)
      memcpy(&out[i], (const uint8_t *)v.mv_data + 16 + 16 * i, 16);
  }
  mdb_txn_abort(txn);
  return n;
}

static void program_list_put_raw(fixture *f, jc_key prog, const void *val, size_t len) {
  uint8_t lk[40];
  jc_store_key(lk, jc_cache_ns(f->cache), prog, 0);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(f->cache->env, NULL, 0, &txn), 0);
  MDB_val k = {32, lk}, v = {len, (void *)val};
  assert_int_equal(mdb_put(txn, f->cache->program_dbi, &k, &v, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
}

/* One run of a program: open, name it, wait for the prefetch, reload the
** loops `use` (each with its bridge), close.  Returns the keys read from
** the program's list. */
static uint64_t program_run(fixture *f, const jc_ns *ns, unsigned flags, jc_key prog,
                            const jc_key *use, size_t nuse) {
  jc_cache *c;
  jc_cache_opts o = {.dir = f->dir, .flags = flags};
  assert_int_equal(jc_cache_open(ns, &o, &c), JC_OK);
  assert_int_equal(jc_cache_prefetch_program(c, prog), JC_OK);
  jc_cache_prefetch_wait(c); /* no key given: what it fetched, the list named */
  jc_prefetch_info pi = prefetch_info(c);
  for (size_t i = 0; i < nuse; i++) {
    jc_trace *tr[JC_MAX_CHAIN];
    size_t n;
    assert_int_equal(toy_reload(c, use[i], &toy_default_greens, &C2, 150, tr,
                                JC_MAX_CHAIN, &n), JC_OK);
    assert_int_equal(n, 2);
    jc_trace_release(tr[1]);
    jc_trace_release(tr[0]);
  }
  /* Every lookup of a listed loop, and of its bridge, was served. */
  if (pi.program_keys == nuse && nuse) assert_int_equal(prefetch_info(c).served, 2 * nuse);
  jc_cache_close(c);
  return pi.program_keys;
}

/* A run that names its program notes the loops it saves and reloads, in
** first-use order, and closing writes them as the program's list; the next
** run of the program has the prefetch fetch them and their bridges before
** any key is given.  A run that used the listed loops in the listed order
** writes nothing; one that used others replaces the list; another program,
** another namespace see none; a read-only handle reads it and never writes;
** a list that does not parse is counted as a rejected record and ignored. */
static void test_program_list(void **state) {
  fixture *f = *state;
  jc_key prog = key_of("program.jc"), a = key_of("prog loop a"), b = key_of("prog loop b");
  jc_key got[4];

  /* The cold run: saves a, then b (and their bridges). */
  jc_cache *c;
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_OK);
  assert_int_equal(jc_cache_prefetch_program(c, prog), JC_OK);
  jc_cache_prefetch_wait(c);
  assert_int_equal(prefetch_info(c).program_keys, 0); /* no list yet */
  for (int i = 0; i < 2; i++) {
    jc_trace *loop, *bridge;
    assert_int_equal(toy_compile_loop(c, i ? b : a, &toy_default_greens, &C1, 0, &loop), JC_OK);
    assert_int_equal(toy_compile_bridge(c, loop, &toy_default_greens, &C1, &bridge), JC_OK);
    jc_trace_release(bridge);
    jc_trace_release(loop);
  }
  jc_cache_close(c);
  assert_int_equal(program_list_raw(f, prog, got, 4), 2);
  assert_true(got[0].lo == a.lo && got[0].hi == a.hi);
  assert_true(got[1].lo == b.lo && got[1].hi == b.hi);

  /* A warm run: the list is read and fetched, every lookup served. */
  jc_key ab[] = {a, b}, ba[] = {b, a};
  assert_int_equal(program_run(f, &test_ns, 0, prog, ab, 2), 2);

  /* The same loops in the same order write nothing.  The stored list is
  ** swapped while that run is open, after its prefetch read [a, b]: a
  ** write would have put [a, b] back. */
  uint8_t val[16 + 32] = {'J', 'C', 'P', 'L', 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0};
  memcpy(val + 16, &b, 16);
  memcpy(val + 32, &a, 16);
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_OK);
  assert_int_equal(jc_cache_prefetch_program(c, prog), JC_OK);
  jc_cache_prefetch_wait(c);
  assert_int_equal(prefetch_info(c).program_keys, 2);
  program_list_put_raw(f, prog, val, sizeof val);
  for (int i = 0; i < 2; i++) {
    jc_trace *tr[JC_MAX_CHAIN];
    size_t n;
    assert_int_equal(toy_reload(c, ab[i], &toy_default_greens, &C2, 150, tr,
                                JC_MAX_CHAIN, &n), JC_OK);
    jc_trace_release(tr[1]);
    jc_trace_release(tr[0]);
  }
  jc_cache_close(c);
  assert_int_equal(program_list_raw(f, prog, got, 4), 2);
  assert_true(got[0].lo == b.lo && got[1].lo == a.lo);

  /* Other loops, or another order: the list is replaced. */
  assert_int_equal(program_run(f, &test_ns, 0, prog, &a, 1), 2);
  assert_int_equal(program_list_raw(f, prog, got, 4), 1);
  assert_true(got[0].lo == a.lo && got[0].hi == a.hi);
  assert_int_equal(program_run(f, &test_ns, 0, prog, ba, 2), 1);
  assert_int_equal(program_list_raw(f, prog, got, 4), 2);
  assert_true(got[0].lo == b.lo && got[1].lo == a.lo);

  /* Read-only: reads the list, writes none. */
  assert_int_equal(program_run(f, &test_ns, JC_CACHE_READONLY, prog, &a, 1), 2);
  assert_int_equal(program_list_raw(f, prog, got, 4), 2);
  /* A run too short for any loop leaves the list as it was. */
  assert_int_equal(program_run(f, &test_ns, 0, prog, NULL, 0), 2);
  assert_int_equal(program_list_raw(f, prog, got, 4), 2);

  /* Another program, another namespace: no list. */
  assert_int_equal(program_run(f, &test_ns, JC_CACHE_READONLY, key_of("other.jc"), NULL, 0), 0);
  jc_ns other = test_ns;
  other.build_id = "another-build";
  assert_int_equal(program_run(f, &other, JC_CACHE_READONLY, prog, NULL, 0), 0);

  /* Lists that do not parse: too short, a size not a whole number of keys,
  ** bad magic, another version, a count that disagrees with the size,
  ** reserved bytes set.  Each is rejected and counted once, and the run
  ** goes on without it. */
  static const struct { size_t len; int pos; uint8_t byte; } bad[] = {
      {8, -1, 0}, {16 + 32 - 4, -1, 0}, {48, 0, 'X'}, {48, 4, 2},
      {48, 8, 3}, {48, 6, 1}, {48, 12, 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint8_t v[48];
    memcpy(v, val, sizeof v);
    if (bad[i].pos >= 0) v[bad[i].pos] = bad[i].byte;
    program_list_put_raw(f, prog, v, bad[i].len);
    jc_stats s0 = stats();
    assert_int_equal(program_run(f, &test_ns, JC_CACHE_READONLY, prog, &b, 1), 0);
    assert_int_equal(stats().records_rejected - s0.records_rejected, 1);
  }
  /* A list naming keys that have nothing: looked up, nothing found. */
  jc_key ghost[2] = {key_of("never saved 1"), key_of("never saved 2")};
  uint8_t gv[48];
  memcpy(gv, val, 16);
  memcpy(gv + 16, ghost, 32);
  program_list_put_raw(f, prog, gv, sizeof gv);
  assert_int_equal(program_run(f, &test_ns, 0, prog, &b, 1), 2);
  /* and the run's own loops replace it. */
  assert_int_equal(program_list_raw(f, prog, got, 4), 1);
  assert_true(got[0].lo == b.lo && got[0].hi == b.hi);

  /* Many loops: the list grows with them, in first-use order, repeats
  ** noted once, and keeps the first JC_PROGRAM_MAX_KEYS. */
  jc_key big = key_of("big.jc");
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_OK);
  assert_int_equal(jc_cache_prefetch_program(c, big), JC_OK);
  for (uint64_t i = 0; i < JC_PROGRAM_MAX_KEYS + 100; i++) {
    jc_program_note(c, jc_key_hash(&i, sizeof i));
    if (i % 3 == 0) jc_program_note(c, jc_key_hash(&(uint64_t){i / 2}, 8));
  }
  jc_cache_close(c);
  jc_key *all = malloc((JC_PROGRAM_MAX_KEYS + 1) * sizeof *all);
  assert_int_equal(program_list_raw(f, big, all, JC_PROGRAM_MAX_KEYS + 1), JC_PROGRAM_MAX_KEYS);
  for (uint64_t i = 0; i < JC_PROGRAM_MAX_KEYS; i++) {
    jc_key k = jc_key_hash(&i, sizeof i);
    assert_true(all[i].lo == k.lo && all[i].hi == k.hi);
  }
  free(all);

  assert_int_equal(jc_cache_prefetch_program(NULL, prog), JC_INVAL);
}

/* Reloads are counted per record in the "usage" table (for ls and gc). */
static void test_usage_table(void **state) {
  fixture *f = *state;
  jc_key key = key_of("usage");
  compile_family(f, key);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                                JC_MAX_CHAIN, &n), JC_OK);
    jc_trace_release(tr[1]);
    jc_trace_release(tr[0]);
  }
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  jc_cands *cs;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  uint8_t lk[40];
  jc_store_key(lk, jc_cache_ns(f->cache), key, jc_cands_id(cs, 0));
  jc_cands_release(cs);
  MDB_txn *txn;
  assert_int_equal(mdb_txn_begin(f->cache->env, NULL, MDB_RDONLY, &txn), 0);
  MDB_val k = {sizeof lk, lk}, v;
  assert_int_equal(mdb_get(txn, f->cache->usage_dbi, &k, &v), 0);
  assert_int_equal(v.mv_size, 24);
  uint64_t u[3];
  memcpy(u, v.mv_data, sizeof u);
  mdb_txn_abort(txn);
  assert_int_equal(u[1], 3);       /* hits */
  assert_true(u[2] > 0);           /* created */
  assert_true(u[0] >= u[2]);       /* last used */
}

/* -- Give-ups ---------------------------------------------------------------------------- */

/* A key given up on is found by later handles of the same namespace only,
** with its reason (cut to JC_GIVEUP_WHY_MAX - 1 bytes); saving it again
** replaces it; a read-only handle finds but never saves; an entry that does
** not parse is rejected and counted, never returned. */
static void test_giveups(void **state) {
  fixture *f = *state;
  jc_key a = key_of("giveup a"), b = key_of("giveup b");
  char why[64];
  assert_int_equal(jc_giveup_find(f->cache, a, why, sizeof why), JC_NOTFOUND);
  assert_string_equal(why, "");
  assert_int_equal(jc_giveup_save(f->cache, a, "too many snapshots"), JC_OK);
  char longwhy[100];
  memset(longwhy, 'x', sizeof longwhy - 1);
  longwhy[sizeof longwhy - 1] = 0;
  assert_int_equal(jc_giveup_save(f->cache, b, longwhy), JC_OK);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);

  /* Another handle (another run), same namespace. */
  jc_cache *c2;
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  assert_int_equal(jc_giveup_find(c2, a, why, sizeof why), JC_OK);
  assert_string_equal(why, "too many snapshots");
  assert_int_equal(jc_giveup_find(c2, a, NULL, 0), JC_OK);
  char small[5];
  assert_int_equal(jc_giveup_find(c2, a, small, sizeof small), JC_OK);
  assert_string_equal(small, "too ");
  assert_int_equal(jc_giveup_find(c2, b, why, sizeof why), JC_OK);
  assert_int_equal(strlen(why), JC_GIVEUP_WHY_MAX - 1);
  assert_int_equal(jc_giveup_find(c2, key_of("giveup c"), why, sizeof why),
                   JC_NOTFOUND);
  /* Saved again: replaced, one entry per key. */
  assert_int_equal(jc_giveup_save(c2, a, "call depth too deep"), JC_OK);
  assert_int_equal(jc_cache_flush(c2), JC_OK);
  assert_int_equal(jc_giveup_find(c2, a, why, sizeof why), JC_OK);
  assert_string_equal(why, "call depth too deep");
  jc_cache_close(c2);

  /* Another namespace (another build) never sees them. */
  jc_ns other = test_ns;
  other.build_id = "another-build";
  assert_int_equal(jc_cache_open(&other, &o, &c2), JC_OK);
  assert_int_equal(jc_giveup_find(c2, a, why, sizeof why), JC_NOTFOUND);
  jc_cache_close(c2);

  /* Read-only: finds, never saves. */
  jc_cache_opts ro = {.dir = f->dir, .flags = JC_CACHE_READONLY};
  assert_int_equal(jc_cache_open(&test_ns, &ro, &c2), JC_OK);
  assert_int_equal(jc_giveup_find(c2, a, NULL, 0), JC_OK);
  assert_int_equal(jc_giveup_save(c2, key_of("giveup d"), "x"), JC_DISABLED);
  jc_cache_close(c2);

  /* Corrupted entries: too short, bad magic, a reason not followed by
  ** zeros.  Each is rejected and counted, the key reads as not given up. */
  uint8_t lk[40];
  MDB_txn *txn;
  static const struct { const char *key; size_t len; int pos; uint8_t byte; } bad[] = {
      {"giveup short", 10, -1, 0},
      {"giveup magic", 64, 0, 'X'},
      {"giveup tail", 64, 63, 'y'},
      {"giveup length", 64, 6, 200},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    jc_key k = key_of(bad[i].key);
    assert_int_equal(jc_giveup_save(f->cache, k, "ok"), JC_OK);
    assert_int_equal(jc_cache_flush(f->cache), JC_OK);
    assert_int_equal(jc_giveup_find(f->cache, k, NULL, 0), JC_OK);
    jc_store_key(lk, jc_cache_ns(f->cache), k, 0);
    assert_int_equal(mdb_txn_begin(f->cache->env, NULL, 0, &txn), 0);
    MDB_val mk = {32, lk}, mv;
    assert_int_equal(mdb_get(txn, f->cache->giveup_dbi, &mk, &mv), 0);
    uint8_t val[64];
    memcpy(val, mv.mv_data, 64);
    if (bad[i].pos >= 0) val[bad[i].pos] = bad[i].byte;
    MDB_val nv = {bad[i].len, val};
    assert_int_equal(mdb_put(txn, f->cache->giveup_dbi, &mk, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    jc_stats s0 = stats();
    assert_int_equal(jc_giveup_find(f->cache, k, why, sizeof why), JC_CORRUPT);
    assert_string_equal(why, "");
    jc_stats s1 = stats();
    assert_int_equal(s1.records_rejected, s0.records_rejected + 1);
  }
  /* The good ones are untouched. */
  assert_int_equal(jc_giveup_find(f->cache, b, NULL, 0), JC_OK);
  assert_int_equal(jc_giveup_save(NULL, a, "x"), JC_INVAL);
  assert_int_equal(jc_giveup_find(NULL, a, why, sizeof why), JC_INVAL);
}

/* libjcache's threads carry names (perf, top -H, gdb show them): the
** thread of this process named `name`, or 0. */
static pid_t thread_named(const char *name) {
  char path[300], comm[32];
  pid_t found = 0;
  DIR *d = opendir("/proc/self/task");
  if (!d) return 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(comm, sizeof comm, f)) {
      comm[strcspn(comm, "\n")] = 0;
      if (strcmp(comm, name) == 0) found = (pid_t)atoi(e->d_name);
    }
    fclose(f);
  }
  closedir(d);
  return found;
}

/* Thread tid may run on one of the CPUs of `two`, and on no other. */
static bool one_of(pid_t tid, const cpu_set_t *two) {
  cpu_set_t set, both;
  if (sched_getaffinity(tid, sizeof set, &set) != 0) return false;
  CPU_AND(&both, &set, two);
  return CPU_COUNT(&set) == 1 && CPU_COUNT(&both) == 1;
}

static void test_thread_names(void **state) {
  fixture *f = *state;
  /* They run on other CPUs than the one the program's thread started them
  ** from (lib/thread.c).  This thread is held on two CPUs while they
  ** start: each of them may then use exactly one of the two, the one this
  ** thread was not on (whichever of them that was). */
  cpu_set_t all, two;
  assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
  bool placed = CPU_COUNT(&all) > 1;
  if (!placed) printf("thread placement not checked: this process may use one CPU only\n");
  CPU_ZERO(&two);
  for (int c = 0, n = 0; c < CPU_SETSIZE && n < 2; c++)
    if (CPU_ISSET(c, &all)) {
      CPU_SET(c, &two);
      n++;
    }
  if (placed) assert_int_equal(sched_setaffinity(0, sizeof two, &two), 0);
  /* The writer starts with the first record queued, the prefetch thread
  ** with the first prefetch, the memory thread with the first allocation
  ** (a commit's or the prefetch's). */
  compile_family(f, key_of("names"));
  assert_int_equal(jc_cache_prefetch(f->cache, NULL, 0), JC_OK);
  jc_cache_prefetch_wait(f->cache);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key_of("names"), &toy_default_greens, &C2, 150,
                              tr, JC_MAX_CHAIN, &n), JC_OK);
  for (size_t i = n; i-- > 0;) jc_trace_release(tr[i]);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
  pid_t writer = thread_named("jc-writer"), prefetch = thread_named("jc-prefetch");
  assert_true(writer > 0);
  assert_true(prefetch > 0);
  if (placed) {
    assert_true(one_of(writer, &two));
    assert_true(one_of(prefetch, &two));
  }
  /* Under AddressSanitizer jc_mem is plain malloc: no thread (lib/mem.c).
  ** The memory thread is the process's: an earlier test may have started
  ** it, from another CPU; it is kept off one. */
#if defined(__SANITIZE_ADDRESS__)
  assert_false(thread_named("jc-mem"));
#else
  pid_t mem = thread_named("jc-mem");
  assert_true(mem > 0);
  cpu_set_t m;
  assert_int_equal(sched_getaffinity(mem, sizeof m, &m), 0);
  if (placed) assert_true(CPU_COUNT(&m) < CPU_COUNT(&all));
#endif
}

/* -- Safety of the directory ----------------------------------------------------------- */

static void test_unsafe_directory(void **state) {
  (void)state;
  char *dir = tu_tmpdir();
  jc_cache *c;
  jc_cache_opts o = {.dir = dir};
  chmod(dir, 0777);
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_UNSAFE);
  assert_null(c);
  assert_non_null(strstr(jc_last_error(), "writable by group or others"));
  chmod(dir, 0700);
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_OK);
  jc_cache_close(c);
  char path[512];
  snprintf(path, sizeof path, "%s/data.mdb", dir);
  chmod(path, 0666);
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_UNSAFE);
  chmod(path, 0600);
  if (geteuid() == 0) {
    /* Owned by someone else (as root we can make it so). */
    assert_int_equal(chown(dir, 65534, 65534), 0);
    assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_UNSAFE);
    assert_non_null(strstr(jc_last_error(), "owned by uid 65534"));
    assert_int_equal(chown(dir, 0, 0), 0);
  } else {
    printf("skipped: other-owner check needs root to chown\n");
  }
  /* A file where the directory should be. */
  snprintf(path, sizeof path, "%s/file", dir);
  FILE *fp = fopen(path, "w");
  fclose(fp);
  o.dir = path;
  assert_int_equal(jc_cache_open(&test_ns, &o, &c), JC_UNSAFE);
  assert_non_null(strstr(jc_last_error(), "not a directory"));
  tu_rmtree(dir);
  free(dir);
}

static void test_default_directory(void **state) {
  (void)state;
  char *dir = tu_tmpdir();
  char sub[512];
  snprintf(sub, sizeof sub, "%s/deep/er", dir);
  setenv("JCACHE_DIR", sub, 1);
  jc_cache *c;
  assert_int_equal(jc_cache_open(&test_ns, NULL, &c), JC_OK);
  assert_string_equal(jc_cache_dir(c), sub);
  struct stat st;
  assert_int_equal(stat(sub, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);
  jc_cache_close(c);
  unsetenv("JCACHE_DIR");
  setenv("XDG_CACHE_HOME", dir, 1);
  assert_int_equal(jc_cache_open(&test_ns, NULL, &c), JC_OK);
  snprintf(sub, sizeof sub, "%s/jcache", dir);
  assert_string_equal(jc_cache_dir(c), sub);
  jc_cache_close(c);
  unsetenv("XDG_CACHE_HOME");
  tu_rmtree(dir);
  free(dir);
}

/* Without a cache, recording still yields live traces with ids, exits and
** lines, so bridges attach and debuggers see them; nothing is stored. */
static void test_no_cache(void **state) {
  (void)state;
  jc_stats s0 = stats();
  jc_trace *loop, *bridge;
  assert_int_equal(toy_compile_loop(NULL, key_of("nocache"), &toy_default_greens,
                                    &C1, 0, &loop), JC_OK);
  assert_int_not_equal(jc_trace_id(loop), 0);
  assert_ptr_equal(jc_trace_find(jc_trace_id(loop)), loop);
  assert_int_equal(toy_compile_bridge(NULL, loop, &toy_default_greens, &C1,
                                      &bridge), JC_OK);
  toy_fn fn = (toy_fn)jc_trace_entry(loop);
  assert_int_equal(fn(150), toy_expect(&C1, 150));
  assert_true(jc_trace_line_at(loop, 1, NULL, NULL, NULL));
  jc_stats s1 = stats();
  assert_int_equal(s1.records_written, s0.records_written);
  assert_int_equal(s1.records_not_persisted, s0.records_not_persisted);
  jc_trace_release(bridge);
  jc_trace_release(loop);
}

static void test_readonly(void **state) {
  fixture *f = *state;
  jc_key key = key_of("ro");
  compile_family(f, key);
  jc_cache *ro;
  jc_cache_opts o = {.dir = f->dir, .flags = JC_CACHE_READONLY};
  assert_int_equal(jc_cache_open(&test_ns, &o, &ro), JC_OK);
  jc_trace *t = NULL;
  assert_int_equal(toy_compile_loop(ro, key_of("new"), &toy_default_greens, &C1,
                                    0, &t), JC_DISABLED);
  assert_non_null(t); /* the compiled code runs on */
  jc_trace_release(t);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(ro, key, &toy_default_greens, &C2, 5, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  jc_trace_release(tr[0]);
  jc_cache_close(ro);
}

/* -- Concurrency --------------------------------------------------------------------- */

static void test_four_processes(void **state) {
  fixture *f = *state;
  const int N = 48;
  pid_t pids[4];
  for (int id = 0; id < 4; id++) {
    char ids[8], ns[8];
    snprintf(ids, sizeof ids, "%d", id);
    snprintf(ns, sizeof ns, "%d", N);
    pids[id] = fork();
    if (pids[id] == 0) {
      const char *h = tu_helper("helper_toy");
      execl(h, h, "stress", f->dir, ids, ns, (char *)NULL);
      _exit(127);
    }
  }
  for (int id = 0; id < 4; id++) {
    int st;
    assert_int_equal(waitpid(pids[id], &st, 0), pids[id]);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
  }
  jc_stats s0 = stats();
  for (int id = 0; id < 4; id++)
    for (int i = 0; i < N; i++) {
      int v[2] = {id, i};
      jc_cands *cs;
      assert_int_equal(jc_lookup(f->cache, jc_key_hash(v, sizeof v), &cs), JC_OK);
      assert_int_equal(jc_cands_count(cs), 1);
      jc_cands_release(cs);
    }
  jc_stats s1 = stats();
  assert_int_equal(s1.records_rejected, s0.records_rejected);
}

/* A writer killed at a random moment leaves a store that opens, and every
** record in it is whole: LMDB commits are atomic and checksums catch the
** rest. */
static void test_killed_writer(void **state) {
  fixture *f = *state;
  const int N = 20000;
  for (int round = 0; round < 3; round++) {
    pid_t pid = fork();
    if (pid == 0) {
      const char *h = tu_helper("helper_toy");
      execl(h, h, "stress", f->dir, "0", "20000", (char *)NULL);
      _exit(127);
    }
    usleep(5000 + 20000 * round);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
  }
  jc_cache *c2;
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  jc_stats s0 = stats();
  int found = 0;
  for (int i = 0; i < N; i++) {
    int v[2] = {0, i};
    jc_cands *cs;
    assert_int_equal(jc_lookup(c2, jc_key_hash(v, sizeof v), &cs), JC_OK);
    found += jc_cands_count(cs) > 0;
    jc_cands_release(cs);
  }
  jc_stats s1 = stats();
  assert_int_equal(s1.records_rejected, s0.records_rejected);
  printf("killed writer: %d of %d records were committed before the kills\n",
         found, N);
  /* And the store still takes writes. */
  jc_trace *t;
  assert_int_equal(toy_compile_loop(c2, key_of("after the kill"),
                                    &toy_default_greens, &C1, 0, &t), JC_OK);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(c2), JC_OK);
  jc_cache_close(c2);
}

typedef struct thread_arg {
  fixture *f;
  jc_key key;
  int bad;
} thread_arg;

static void *reload_thread(void *p) {
  thread_arg *a = p;
  for (int i = 0; i < 40; i++) {
    toy_consts c = {(uint64_t)i, i, (uint64_t)(2 * i), 50};
    /* Record as well: recorders on one cache from several threads. */
    jc_trace *fresh;
    int kv[2] = {(int)(intptr_t)a, i};
    if (toy_compile_loop(a->f->cache, jc_key_hash(kv, sizeof kv),
                         &toy_default_greens, &c, 0, &fresh))
      a->bad++;
    else
      jc_trace_release(fresh);
    jc_trace *tr[JC_MAX_CHAIN];
    size_t n;
    long x = i % 2 ? 150 : 5;
    if (toy_reload(a->f->cache, a->key, &toy_default_greens, &c, x, tr,
                   JC_MAX_CHAIN, &n)) {
      a->bad++;
      continue;
    }
    if (n == 2 && toy_check_tail(tr[0], &toy_default_greens, &c)) a->bad++;
    if (((toy_fn)jc_trace_entry(tr[0]))(x) != toy_expect(&c, x)) a->bad++;
    for (size_t k = n; k-- > 0;) jc_trace_release(tr[k]);
  }
  return NULL;
}

static void test_threads(void **state) {
  fixture *f = *state;
  jc_key key = key_of("threads");
  compile_family(f, key);
  pthread_t th[4];
  thread_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thread_arg){f, key, 0};
    pthread_create(&th[i], NULL, reload_thread, &a[i]);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(a[i].bad, 0);
  }
  /* Every record the threads wrote is in the store. */
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 40; i++) {
      int kv[2] = {(int)(intptr_t)&a[t], i};
      jc_cands *cs;
      assert_int_equal(jc_lookup(f->cache, jc_key_hash(kv, sizeof kv), &cs), JC_OK);
      assert_int_equal(jc_cands_count(cs), 1);
      jc_cands_release(cs);
    }
}

/* -- W^X ---------------------------------------------------------------------------- */

static void test_no_writable_code(void **state) {
  fixture *f = *state;
  jc_key key = key_of("wx");
  compile_family(f, key);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(toy_reload(f->cache, key, &toy_default_greens, &C2, 150, tr,
                              JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(toy_check_tail(tr[0], &toy_default_greens, &C2), JC_OK);
  FILE *fp = fopen("/proc/self/maps", "r");
  assert_non_null(fp);
  char line[512];
  int code_maps = 0;
  while (fgets(line, sizeof line, fp)) {
    char perms[8];
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    assert_false(perms[1] == 'w' && perms[2] == 'x');
    if ((uintptr_t)jc_trace_entry(tr[0]) >= lo &&
        (uintptr_t)jc_trace_entry(tr[0]) < hi) {
      assert_string_equal(perms, "r-xs");
      code_maps++;
    }
    if (strstr(line, "jcache-code")) assert_true(perms[1] != 'w');
  }
  fclose(fp);
  assert_int_equal(code_maps, 1);
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);
}

/* -- Errors and keys -------------------------------------------------------------------- */

static void test_errors_and_keys(void **state) {
  (void)state;
  for (int e = 0; e < JC_ERR__MAX; e++) {
    assert_non_null(jc_strerror((jc_err)e));
    assert_true(strlen(jc_strerror((jc_err)e)) > 0);
  }
  assert_string_equal(jc_strerror((jc_err)999), "unknown error");
  jc_cache *c;
  assert_int_equal(jc_cache_open(NULL, NULL, &c), JC_INVAL);
  assert_int_equal(jc_cache_open(&test_ns, NULL, NULL), JC_INVAL);
  jc_cands *cs;
  assert_int_equal(jc_lookup(NULL, key_of("x"), &cs), JC_INVAL);
  jc_rec *r;
  assert_int_equal(jc_rec_begin_loop(NULL, key_of("x"), NULL), JC_INVAL);
  assert_int_equal(jc_rec_begin_bridge(NULL, 0, 0, &r), JC_INVAL);
  jc_replay *rp;
  assert_int_equal(jc_replay_begin(NULL, NULL, NULL, NULL, &rp), JC_INVAL);
  assert_int_equal(jc_replay_green(NULL, 0, 0, 0), JC_INVAL);
  assert_int_equal(jc_replay_commit(NULL, NULL, 0, NULL), JC_INVAL);
  jc_replay_abort(NULL);
  jc_cands_release(NULL);
  jc_trace_release(NULL);
  jc_cache_close(NULL);
  assert_int_equal(jc_tail_begin(NULL, 0, &rp), JC_INVAL);
  assert_int_equal(jc_trace_attach(NULL, 0, NULL), JC_INVAL);
  assert_null(jc_trace_find(0x1234567));

  jc_key a = jc_key_bridge(1, 0), b = jc_key_bridge(1, 1), c2 = jc_key_bridge(2, 0);
  assert_false(a.lo == b.lo && a.hi == b.hi);
  assert_false(a.lo == c2.lo && a.hi == c2.hi);
  /* One parent's bridge keys share lo (one range of the store). */
  assert_int_equal(a.lo, b.lo);
  assert_true(a.hi != b.hi);
  assert_true(a.lo != c2.lo);
  jc_key k = key_of("code"), k1 = jc_key_combine(k, "\x01", 1),
         k2 = jc_key_combine(k, "\x02", 1);
  assert_false(k1.lo == k2.lo && k1.hi == k2.hi);
  for (size_t i = 0; i < JC_STATS_COUNT; i++) {
    assert_non_null(jc_stats_name(i));
    assert_non_null(jc_stats_desc(i));
  }
  assert_null(jc_stats_name(JC_STATS_COUNT));
}

/* Recorder input the format cannot describe is refused, counted, and the
** compiled code keeps running. */
/* -- Guard outcomes, tails of the whole iteration, JC_GUARD_ANY ------------------ */

/* A synthetic trace for the replay protocol alone (its code is never run):
** GREEN(site 1) BIND GUARD(0, gfp) GREEN(site `after`) BIND, 64 bytes of
** int3 with an exit field at 4, ABS64 fields on the bound slots at 16 and
** `s1_off`, one JC_GUARD_ANY patch point at 8 covering the rest (stub at
** 56) and, if spec_off, one after guard 0 there (stub at 48). */
/* The synthetic tape: GREEN(site 1) BIND(s0) GUARD(0, gfp) GREEN(site
** `after`) BIND(s1). */
static void rec_synthetic_tape(jc_rec *r, uint64_t gfp, uint32_t after,
                               uint32_t *s0, uint32_t *s1) {
  assert_int_equal(jc_rec_slot_bound(r, s0), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, s1), JC_OK);
  assert_int_equal(jc_rec_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_rec_bind(r, *s0), JC_OK);
  assert_int_equal(jc_rec_guard_fp(r, 0, gfp), JC_OK);
  assert_int_equal(jc_rec_green(r, after, 1, 22), JC_OK);
  assert_int_equal(jc_rec_bind(r, *s1), JC_OK);
}

/* The synthetic tape's trace under key (a bridge of exit 0 of parent, if
** not 0), with aux[0, aux_len) as its aux. */
static uint64_t rec_synthetic_aux(fixture *f, jc_key key, uint64_t parent,
                                  uint64_t gfp, uint32_t after, uint32_t s1_off,
                                  uint32_t spec_off, const void *aux,
                                  size_t aux_len) {
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  jc_rec *r;
  if (parent)
    assert_int_equal(jc_rec_begin_bridge(f->cache, parent, 0, &r), JC_OK);
  else
    assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  uint32_t s0, s1;
  rec_synthetic_tape(r, gfp, after, &s0, &s1);
  assert_int_equal(jc_rec_reloc(r, 16, JC_RELOC_ABS64, s0, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, s1_off, JC_RELOC_ABS64, s1, 0), JC_OK);
  assert_int_equal(jc_rec_exit(r, 0, 4), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, JC_GUARD_ANY, 8, 64, 56), JC_OK);
  if (spec_off)
    assert_int_equal(jc_rec_patch_point(r, 0, spec_off, 64, 48), JC_OK);
  if (aux) assert_int_equal(jc_rec_aux(r, aux, aux_len), JC_OK);
  jc_trace *t;
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  uint64_t id = jc_trace_id(t);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  return id;
}

static uint64_t rec_synthetic_at(fixture *f, jc_key key, uint64_t parent,
                                 uint64_t gfp, uint32_t after, uint32_t s1_off,
                                 uint32_t spec_off) {
  return rec_synthetic_aux(f, key, parent, gfp, after, s1_off, spec_off, NULL, 0);
}

/* A candidate's aux bytes come back as recorded, for the client to read
** before it checks (jcvm binds a lazy bridge from them); none, or out of
** range, is NULL with length 0. */
static void test_cands_aux(void **state) {
  fixture *f = *state;
  static const uint32_t aux[] = {0x4a435633u, 7, 0, 0xdeadbeefu};
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  jc_key key = key_of("aux"), bare = key_of("no aux");
  for (int with = 0; with < 2; with++) {
    jc_rec *r;
    assert_int_equal(jc_rec_begin_loop(f->cache, with ? key : bare, &r), JC_OK);
    uint32_t s0, s1;
    rec_synthetic_tape(r, 5, 2, &s0, &s1);
    if (with) assert_int_equal(jc_rec_aux(r, aux, sizeof aux), JC_OK);
    jc_trace *t;
    assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
    jc_trace_release(t);
  }
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
  jc_cands *cs;
  size_t len = 99;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  const void *a = jc_cands_aux(cs, 0, &len);
  assert_non_null(a);
  assert_int_equal(len, sizeof aux);
  assert_memory_equal(a, aux, sizeof aux);
  len = 99;
  assert_null(jc_cands_aux(cs, 1, &len));
  assert_int_equal(len, 0);
  jc_cands_release(cs);
  assert_int_equal(jc_lookup(f->cache, bare, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  len = 99;
  assert_null(jc_cands_aux(cs, 0, &len));
  assert_int_equal(len, 0);
  jc_cands_release(cs);
  assert_null(jc_cands_aux(NULL, 0, NULL));
}

static uint64_t rec_synthetic(fixture *f, jc_key key, uint64_t parent,
                              uint64_t gfp, uint32_t after) {
  return rec_synthetic_at(f, key, parent, gfp, after, 32, 0);
}

/* A check of the synthetic tape under `key` in cache c, up to guard 0:
** GREEN(site 1), BIND(v0). */
static jc_replay *begin_on(jc_cache *c, jc_key key, uint64_t v0,
                           jc_cands **cs) {
  assert_int_equal(jc_lookup(c, key, cs), JC_OK);
  jc_replay *r;
  assert_int_equal(jc_replay_begin(c, *cs, NULL, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(r, v0), JC_OK);
  return r;
}

static jc_replay *begin_synthetic(fixture *f, jc_key key, jc_cands **cs) {
  return begin_on(f->cache, key, 0x1000, cs);
}

/* A cursor over key's candidates that passes every guard (static binding). */
static jc_replay *begin_passing(fixture *f, jc_key key, jc_cands **cs) {
  jc_replay *r;
  assert_int_equal(jc_lookup(f->cache, key, cs), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, *cs, NULL, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_pass_guards(r), JC_OK);
  return r;
}

/* Trace t is record `id` with its two slots bound to v0 and v1. */
static void assert_bound(jc_trace *t, uint64_t id, uint64_t v0, uint64_t v1) {
  uint64_t v;
  assert_int_equal(jc_trace_id(t), id);
  assert_int_equal(jc_trace_slot(t, 0, &v), JC_OK);
  assert_int_equal(v, v0);
  assert_int_equal(jc_trace_slot(t, 1, &v), JC_OK);
  assert_int_equal(v, v1);
}

/* jc_replay_pass_guards: only greens and binds are reported; the guards in
** between (and at the end) are passed, greens still compared. */
static void test_pass_guards(void **state) {
  fixture *f = *state;
  jc_key key = key_of("pass guards");
  uint64_t a = rec_synthetic(f, key, 0, 1, 2);
  jc_cands *cs;
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  jc_replay *r = begin_passing(f, key, &cs);
  assert_int_equal(jc_replay_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x1000), JC_OK);
  assert_int_equal(jc_replay_green(r, 2, 1, 22), JC_OK); /* guard 0 passed */
  assert_int_equal(jc_replay_bind(r, 0x2000), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  assert_bound(tr[0], a, 0x1000, 0x2000);
  assert_int_equal(jc_trace_tail(tr[0], JC_GUARD_ANY), JC_TAIL_NONE);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);

  /* A green fingerprint after a passed guard is still compared. */
  r = begin_passing(f, key, &cs);
  assert_int_equal(jc_replay_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x1000), JC_OK);
  assert_int_equal(jc_replay_green(r, 2, 1, 23), JC_MISS);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_MISS);
  jc_cands_release(cs);
  assert_int_equal(jc_replay_pass_guards(NULL), JC_INVAL);
}

/* jc_replay_feed answers as the calls it stands for: a whole tape at once
** with one candidate (the fast path), with two (each answer then goes
** through every path: b dies at its other site), a fingerprint that
** differs (a miss, and the answers after it are not taken), bad input. */
static void test_feed(void **state) {
  fixture *f = *state;
  jc_key key = key_of("feed");
  uint64_t a = rec_synthetic(f, key, 0, 1, 2);
  jc_cands *cs;
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  jc_replay *r;
  const jc_replay_ans tape[] = {{JC_ANS_GREEN, 1, 1, 11},
                                {JC_ANS_BIND, 0, 0, 0x1000},
                                {JC_ANS_GREEN, 1, 2, 22},
                                {JC_ANS_BIND, 0, 0, 0x2000}};
  jc_stats s0 = stats();
  r = begin_passing(f, key, &cs);
  assert_int_equal(jc_replay_feed(r, tape, 4), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  assert_bound(tr[0], a, 0x1000, 0x2000);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);
  assert_int_equal(stats().replay_hits - s0.replay_hits, 2);
  assert_int_equal(stats().binds - s0.binds, 2);

  /* Two candidates: b's decision after its guard is at site 3. */
  rec_synthetic(f, key, 0, 2, 3);
  r = begin_passing(f, key, &cs);
  assert_int_equal(jc_cands_count(cs), 2);
  assert_int_equal(jc_replay_feed(r, tape, 4), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(jc_trace_id(tr[0]), a);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);

  /* Another fingerprint: a miss, and the bind after it is not taken. */
  jc_replay_ans edited[4];
  memcpy(edited, tape, sizeof edited);
  edited[2].value = 23;
  r = begin_passing(f, key, &cs);
  s0 = stats();
  assert_int_equal(jc_replay_feed(r, edited, 4), JC_MISS);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_MISS);
  jc_cands_release(cs);
  assert_int_equal(stats().binds - s0.binds, 1);

  /* Bad input. */
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_replay_begin(f->cache, cs, NULL, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_feed(r, NULL, 0), JC_OK);
  assert_int_equal(jc_replay_feed(r, NULL, 1), JC_INVAL);
  const jc_replay_ans bad = {7, 0, 0, 0};
  assert_int_equal(jc_replay_feed(r, &bad, 1), JC_INVAL);
  jc_replay_abort(r);
  jc_cands_release(cs);
  assert_int_equal(jc_replay_feed(NULL, tape, 1), JC_INVAL);
}

/* jc_replay_static: a candidate answered whole, without a cursor; the same
** results and counters as begin + pass_guards + feed + commit. */
/* What the prepare hook below saw (read after jc_cache_prefetch_wait). */
typedef struct prep_seen {
  pthread_t program;
  int calls, off_program, short_of_room;
  size_t code_len;
} prep_seen;

/* Keeps a mark and the aux, or nothing when the aux's word 1 is 0. */
static size_t prep_hook(void *user, const void *aux, size_t aux_len,
                        size_t code_len, void *out, size_t cap) {
  prep_seen *s = user;
  s->calls++;
  s->off_program += !pthread_equal(pthread_self(), s->program);
  s->code_len = code_len;
  uint32_t w[2];
  if (aux_len < sizeof w) return 0;
  memcpy(w, aux, sizeof w);
  if (w[1] == 0) return 0;
  size_t need = 16 + aux_len;
  if (cap < need) {
    s->short_of_room++;
    return need;
  }
  if ((uintptr_t)out % 16) return 0; /* asserted below: nothing kept */
  memcpy(out, "prepared aux:  ", 16);
  memcpy((uint8_t *)out + 16, aux, aux_len);
  return need;
}

/* The client's prepare hook (jc_cache_opts.prepare) runs on the prefetch
** thread, once per record it fetches with an aux, and again with more
** room when it asks for it; what it kept comes back from jc_trace_prepared
** on the trace committed from that record.  A record it kept nothing of,
** one without aux, and one looked up on the program's thread have none. */
static void test_prepare(void **state) {
  fixture *f = *state;
  static const uint32_t keep[] = {0x4a435633u, 7, 0xdeadbeefu},
                        nothing[] = {0x4a435633u, 0, 1};
  jc_key kk = key_of("prepared"), kn = key_of("kept nothing"), kb = key_of("bare");
  uint64_t ik = rec_synthetic_aux(f, kk, 0, 1, 2, 32, 0, keep, sizeof keep);
  rec_synthetic_aux(f, kn, 0, 1, 2, 32, 0, nothing, sizeof nothing);
  rec_synthetic(f, kb, 0, 1, 2);
  prep_seen seen = {.program = pthread_self()};
  jc_cache_opts o = {.dir = f->dir, .prepare = prep_hook, .prepare_user = &seen};
  jc_cache *c2;
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  jc_key keys[] = {kk, kn, kb};
  assert_int_equal(jc_cache_prefetch(c2, keys, 3), JC_OK);
  jc_cache_prefetch_wait(c2);
  assert_int_equal(seen.calls, 3); /* kk twice (no room at first), kn */
  assert_int_equal(seen.short_of_room, 1);
  assert_int_equal(seen.off_program, seen.calls);
  assert_int_equal(seen.code_len, 64);

  const jc_replay_ans tape[] = {{JC_ANS_GREEN, 1, 1, 11},
                                {JC_ANS_BIND, 0, 0, 0x1000},
                                {JC_ANS_GREEN, 1, 2, 22},
                                {JC_ANS_BIND, 0, 0, 0x2000}};
  for (int k = 0; k < 4; k++) {
    jc_cache *c = k < 3 ? c2 : f->cache; /* the last: the program's lookup */
    jc_cands *cs;
    jc_trace *tr[JC_MAX_CHAIN];
    size_t n = 0, len = 99;
    assert_int_equal(jc_lookup(c, k == 1 ? kn : k == 2 ? kb : kk, &cs), JC_OK);
    assert_int_equal(jc_replay_static(c, cs, 0, NULL, NULL, tape, 4, tr, JC_MAX_CHAIN, &n),
                     JC_OK);
    assert_int_equal(n, 1);
    const uint8_t *p = jc_trace_prepared(tr[0], &len);
    if (k == 0) {
      assert_int_equal(jc_trace_id(tr[0]), ik);
      assert_non_null(p);
      assert_int_equal(len, 16 + sizeof keep);
      assert_memory_equal(p, "prepared aux:  ", 16);
      assert_memory_equal(p + 16, keep, sizeof keep);
    } else {
      assert_null(p);
      assert_int_equal(len, 0);
    }
    jc_trace_release(tr[0]);
    jc_cands_release(cs);
  }
  assert_int_equal(seen.calls, 3); /* nothing prepared on this thread */
  assert_null(jc_trace_prepared(NULL, NULL));
  jc_cache_close(c2);
}

static void test_static(void **state) {
  fixture *f = *state;
  jc_key key = key_of("static");
  uint64_t a = rec_synthetic(f, key, 0, 1, 2);
  uint64_t b = rec_synthetic(f, key, 0, 2, 3); /* its second GREEN at site 3 */
  jc_cands *cs;
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n = 9;
  const jc_replay_ans tape[] = {{JC_ANS_GREEN, 1, 1, 11},
                                {JC_ANS_BIND, 0, 0, 0x1000},
                                {JC_ANS_GREEN, 1, 2, 22},
                                {JC_ANS_BIND, 0, 0, 0x2000}};
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 2);
  size_t ia = jc_cands_id(cs, 0) == a ? 0 : 1;
  assert_int_equal(jc_cands_id(cs, 1 - ia), b);

  /* B answered with A's tape: a miss, counted, nothing committed, and the
  ** candidates are still the caller's to check. */
  jc_stats s0 = stats();
  assert_int_equal(jc_replay_static(f->cache, cs, 1 - ia, NULL, NULL, tape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_MISS);
  assert_int_equal(n, 0);
  assert_int_equal(stats().replay_misses - s0.replay_misses, 1);
  assert_int_equal(stats().commits - s0.commits, 0);
  /* A tape not answered to its end: a miss. */
  assert_int_equal(jc_replay_static(f->cache, cs, ia, NULL, NULL, tape, 3, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_MISS);
  assert_int_equal(stats().commits - s0.commits, 0);

  /* A answered whole: committed, its slots bound, decisions counted. */
  s0 = stats();
  assert_int_equal(jc_replay_static(f->cache, cs, ia, NULL, NULL, tape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(n, 1);
  assert_bound(tr[0], a, 0x1000, 0x2000);
  assert_int_equal(jc_trace_tail(tr[0], JC_GUARD_ANY), JC_TAIL_NONE);
  assert_int_equal(stats().replay_hits - s0.replay_hits, 2);
  assert_int_equal(stats().binds - s0.binds, 2);
  assert_int_equal(stats().commits - s0.commits, 1);
  jc_trace *loop = tr[0];

  /* The candidates after a miss: a check on them still commits. */
  jc_replay *r;
  assert_int_equal(jc_replay_begin(f->cache, cs, NULL, NULL, &r), JC_OK);
  assert_int_equal(jc_replay_pass_guards(r), JC_OK);
  assert_int_equal(jc_replay_feed(r, tape, 4), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(jc_trace_id(tr[0]), a);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);

  /* A lazy bridge of the live loop: attached to its exit. */
  jc_key bkey = jc_key_bridge(a, 0);
  uint64_t br = rec_synthetic(f, bkey, a, 5, 4);
  const jc_replay_ans btape[] = {{JC_ANS_GREEN, 1, 1, 11},
                                 {JC_ANS_BIND, 0, 0, 0x3000},
                                 {JC_ANS_GREEN, 1, 4, 22},
                                 {JC_ANS_BIND, 0, 0, 0x4000}};
  assert_int_equal(jc_lookup(f->cache, bkey, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  assert_int_equal(jc_replay_static(f->cache, cs, 0, NULL, NULL, btape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jc_trace_id(tr[0]), br);
  assert_ptr_equal(jc_trace_exit_target(loop, 0), jc_trace_entry(tr[0]));
  jc_trace_release(tr[0]);
  jc_trace_release(loop);
  /* Its parent gone: nothing to attach to, a miss. */
  s0 = stats();
  assert_int_equal(jc_replay_static(f->cache, cs, 0, NULL, NULL, btape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_MISS);
  assert_int_equal(stats().replay_misses - s0.replay_misses, 1);

  /* Bad input. */
  assert_int_equal(jc_replay_static(NULL, cs, 0, NULL, NULL, btape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_INVAL);
  assert_int_equal(jc_replay_static(f->cache, NULL, 0, NULL, NULL, btape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_INVAL);
  assert_int_equal(jc_replay_static(f->cache, cs, 1, NULL, NULL, btape, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_INVAL);
  assert_int_equal(jc_replay_static(f->cache, cs, 0, NULL, NULL, NULL, 4, tr,
                                    JC_MAX_CHAIN, &n),
                   JC_INVAL);
  jc_cands_release(cs);
}

/* jc_replay_static steps over the GUARDs after each decision by the count
** the record keeps (at most 255, then one by one): a tape that starts
** with guards, 300 between two decisions, some at its end; a fingerprint
** after them still compared. */
static void test_static_many_guards(void **state) {
  fixture *f = *state;
  jc_key key = key_of("static, many guards");
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  jc_rec *r;
  assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  uint32_t g = 0, s0, s1;
  for (int k = 0; k < 3; k++) assert_int_equal(jc_rec_guard(r, g++), JC_OK);
  assert_int_equal(jc_rec_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s0), JC_OK);
  assert_int_equal(jc_rec_bind(r, s0), JC_OK);
  for (int k = 0; k < 300; k++) assert_int_equal(jc_rec_guard(r, g++), JC_OK);
  assert_int_equal(jc_rec_green(r, 2, 1, 22), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s1), JC_OK);
  assert_int_equal(jc_rec_bind(r, s1), JC_OK);
  for (int k = 0; k < 2; k++) assert_int_equal(jc_rec_guard(r, g++), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 16, JC_RELOC_ABS64, s0, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 32, JC_RELOC_ABS64, s1, 0), JC_OK);
  jc_trace *t;
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  uint64_t id = jc_trace_id(t);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);

  jc_replay_ans ans[] = {{JC_ANS_GREEN, 1, 1, 11},
                         {JC_ANS_BIND, 0, 0, 0x1000},
                         {JC_ANS_GREEN, 1, 2, 22},
                         {JC_ANS_BIND, 0, 0, 0x2000}};
  jc_cands *cs;
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n = 0;
  assert_int_equal(jc_lookup(f->cache, key, &cs), JC_OK);
  assert_int_equal(jc_cands_count(cs), 1);
  ans[2].value = 23; /* another program: a miss */
  assert_int_equal(jc_replay_static(f->cache, cs, 0, NULL, NULL, ans, 4, tr, JC_MAX_CHAIN, &n),
                   JC_MISS);
  ans[2].value = 22;
  assert_int_equal(jc_replay_static(f->cache, cs, 0, NULL, NULL, ans, 4, tr, JC_MAX_CHAIN, &n),
                   JC_OK);
  assert_int_equal(n, 1);
  assert_bound(tr[0], id, 0x1000, 0x2000);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);
}

/* Two candidates that expect other outcomes at guard 0; A has a saved
** bridge on exit 0.  The check follows the trace that continues (A's
** bridge is dropped when B passes); JC_BRIDGE when only a bridge goes on. */
static void test_guard_outcomes(void **state) {
  fixture *f = *state;
  jc_key key = key_of("outcomes");
  uint64_t a = rec_synthetic(f, key, 0, 1, 2);
  uint64_t b = rec_synthetic(f, key, 0, 2, 3);
  rec_synthetic(f, key, a, 5, 4); /* A's bridge on exit 0 */
  jc_cands *cs;
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;

  /* Outcome 2: B passes, A leaves into its bridge, which is dropped. */
  jc_replay *r = begin_synthetic(f, key, &cs);
  assert_int_equal(jc_replay_guard_fp(r, 0, 2), JC_OK);
  assert_int_equal(jc_replay_green(r, 3, 1, 22), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x2000), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jc_trace_id(tr[0]), b);
  assert_int_equal(jc_trace_tail(tr[0], JC_GUARD_ANY), JC_TAIL_NONE);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);

  /* Outcome 1: A passes; B leaves without a bridge (a fallback). */
  r = begin_synthetic(f, key, &cs);
  assert_int_equal(jc_replay_guard_fp(r, 0, 1), JC_OK);
  assert_int_equal(jc_replay_green(r, 2, 1, 22), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x2000), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  assert_int_equal(jc_trace_id(tr[0]), a);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);

  /* Outcome 9: nobody passes; A's bridge goes on (JC_BRIDGE), and its tape
  ** is what the client reports next.  The loop's tail after guard 0 gets a
  ** tail guard at the JC_GUARD_ANY patch point. */
  r = begin_synthetic(f, key, &cs);
  assert_int_equal(jc_replay_guard_fp(r, 0, 9), JC_BRIDGE);
  assert_int_equal(jc_replay_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x3000), JC_OK);
  assert_int_equal(jc_replay_guard_fp(r, 0, 5), JC_OK);
  assert_int_equal(jc_replay_green(r, 4, 1, 22), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x4000), JC_OK);
  assert_int_equal(jc_replay_commit(r, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 2);
  assert_int_equal(jc_trace_id(tr[0]), a);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_PENDING);
  assert_int_equal(jc_trace_tail(tr[0], JC_GUARD_ANY), JC_TAIL_PENDING);
  assert_int_equal(jc_trace_tail(tr[1], JC_GUARD_ANY), JC_TAIL_NONE);
  /* The tail guard jumps from the patch point (8) to its stub (56). */
  uint8_t *code = jc_trace_code(tr[0], NULL);
  int32_t rel;
  assert_int_equal(code[8], 0xE9);
  memcpy(&rel, code + 9, 4);
  assert_int_equal(rel, 56 - 13);
  uint64_t v;
  assert_int_equal(jc_trace_slot(tr[0], 1, &v), JC_STATE); /* bound in the tail */

  /* Tail checks report the whole iteration.  One that goes the bridge's
  ** way at guard 0 again says nothing about the tail: JC_EXIT, pending. */
  jc_replay *t;
  assert_int_equal(jc_tail_begin(tr[0], JC_GUARD_ANY, &t), JC_OK);
  assert_int_equal(jc_replay_pass_guards(t), JC_STATE); /* a tail check reports them */
  assert_int_equal(jc_replay_green(t, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(t, 0x1000), JC_OK);
  assert_int_equal(jc_replay_guard_fp(t, 0, 9), JC_EXIT);
  assert_int_equal(jc_replay_commit(t, NULL, 0, NULL), JC_STATE);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_PENDING);
  /* A prefix bound to another constant: another path, still pending. */
  assert_int_equal(jc_tail_begin(tr[0], 0, &t), JC_OK);
  assert_int_equal(jc_replay_green(t, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(t, 0x1001), JC_EXIT);
  jc_replay_abort(t);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_PENDING);
  /* The loop's way: the tail is checked and validated; its slot is bound
  ** and patched, the patch point restored. */
  assert_int_equal(jc_tail_begin(tr[0], JC_GUARD_ANY, &t), JC_OK);
  assert_int_equal(jc_replay_green(t, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(t, 0x1000), JC_OK);
  assert_int_equal(jc_replay_guard_fp(t, 0, 1), JC_OK);
  assert_int_equal(jc_replay_green(t, 2, 1, 22), JC_OK);
  assert_int_equal(jc_replay_bind(t, 0x5000), JC_OK);
  assert_int_equal(jc_replay_commit(t, NULL, 0, NULL), JC_OK);
  assert_int_equal(jc_trace_tail(tr[0], 0), JC_TAIL_VALIDATED);
  assert_int_equal(jc_trace_tail(tr[0], JC_GUARD_ANY), JC_TAIL_VALIDATED);
  assert_int_equal(code[8], 0xCC);
  assert_int_equal(jc_trace_slot(tr[0], 1, &v), JC_OK);
  assert_int_equal(v, 0x5000);
  memcpy(&v, code + 32, 8);
  assert_int_equal(v, 0x5000);
  assert_int_equal(jc_tail_begin(tr[0], JC_GUARD_ANY, &t), JC_NOTFOUND);
  jc_trace_release(tr[1]);
  jc_trace_release(tr[0]);
  jc_cands_release(cs);
}

/* -- Which patch point gets the tail guard -------------------------------- */

/* Reload the synthetic loop under `key` with a check that leaves at guard
** 0 (JC_EXIT): the loop and its unchecked tail. */
static jc_trace *commit_left(fixture *f, jc_key key) {
  jc_cands *cs;
  jc_replay *rp = begin_synthetic(f, key, &cs);
  assert_int_equal(jc_replay_guard_fp(rp, 0, 9), JC_EXIT);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(jc_replay_commit(rp, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  jc_cands_release(cs);
  return tr[0];
}

/* The synthetic loop with s1's field at `s1_off` and a patch point after
** guard 0 at `spec_off` (stub at 48) next to the entry's (8, stub at 56),
** reloaded by a check that leaves at guard 0. */
static jc_trace *reload_left(fixture *f, const char *name, uint32_t spec_off,
                             uint32_t s1_off) {
  jc_key key = key_of(name);
  rec_synthetic_at(f, key, 0, 1, 2, s1_off, spec_off);
  return commit_left(f, key);
}

/* A tail check that goes the loop's way through guard 0 and meets the
** green decision after it (site 2), as the synthetic loops record. */
static jc_replay *tail_past_guard0(jc_trace *t) {
  jc_replay *r;
  assert_int_equal(jc_tail_begin(t, JC_GUARD_ANY, &r), JC_OK);
  assert_int_equal(jc_replay_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_replay_bind(r, 0x1000), JC_OK);
  assert_int_equal(jc_replay_guard_fp(r, 0, 1), JC_OK);
  assert_int_equal(jc_replay_green(r, 2, 1, 22), JC_OK);
  return r;
}

/* A tail check of the synthetic loop that goes the loop's way, binding s1
** to v1: the tail is validated. */
static void validate_tail(jc_trace *t, uint64_t v1) {
  jc_replay *r = tail_past_guard0(t);
  assert_int_equal(jc_replay_bind(r, v1), JC_OK);
  assert_int_equal(jc_replay_commit(r, NULL, 0, NULL), JC_OK);
  assert_int_equal(jc_trace_tail(t, JC_GUARD_ANY), JC_TAIL_VALIDATED);
}

static int32_t rel_at(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Reload with the patch point after guard 0 at spec_off and s1 at s1_off:
** the tail guard must be the jmp at `at` to `target` (the other patch point
** untouched); validating with s1 = v1 restores `at` and patches s1. */
static void expect_tail_at(fixture *f, const char *name, uint32_t spec_off,
                           uint32_t s1_off, uint32_t at, uint32_t target,
                           uint64_t v1) {
  jc_trace *t = reload_left(f, name, spec_off, s1_off);
  uint8_t *code = jc_trace_code(t, NULL);
  uint32_t other = at == 8 ? spec_off : 8;
  assert_int_equal(code[at], 0xE9);
  assert_int_equal(rel_at(code + at + 1), (int32_t)(target - (at + 5)));
  assert_int_equal(code[other], 0xCC);
  if (s1_off >= at + 8) assert_int_equal(code[s1_off], 0xCC); /* deferred */

  validate_tail(t, v1);
  uint64_t v;
  memcpy(&v, code + s1_off, 8);
  assert_int_equal(v, v1);
  if (s1_off > at || s1_off + 8 <= at) assert_int_equal(code[at], 0xCC);
  jc_trace_release(t);
}

/* The tail guard goes after the guard the check left through when every
** relocation on a slot the tail binds lies behind that patch point, else at
** the JC_GUARD_ANY one; a deferred field inside (or across) the patch
** point's 8 bytes is right after validation. */
static void test_tail_patch_point_choice(void **state) {
  fixture *f = *state;
  /* s1 at 40, behind the patch point at 24: that one. */
  expect_tail_at(f, "pick-specific", 24, 40, 24, 48, 0x5000);
  /* s1 at 24..32 is before the patch point at 40: the trace waits at 8. */
  expect_tail_at(f, "pick-any", 40, 24, 8, 56, 0x6000);
  /* s1 is the patch point's own 8 bytes (a client's guard that compares
  ** with it): the field comes back whole when the word is restored. */
  expect_tail_at(f, "pick-inside", 32, 32, 32, 48, 0x1122334455667788ull);
  /* s1 straddles the patch point's end (36..44). */
  expect_tail_at(f, "pick-across", 32, 36, 32, 48, 0x0102030405060708ull);
}

/* A loop that waits for one tail at two patch points after guard 0 (one
** skips hoisted code that needs the tail, one stops the body): neither
** covers both of s1's fields, together they do, so both get tail guards
** (not the entry's); validating the tail restores both. */
static void test_tail_two_patch_points(void **state) {
  fixture *f = *state;
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  jc_key key = key_of("two-patch-points");
  jc_rec *r;
  assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  uint32_t s0, s1;
  rec_synthetic_tape(r, 1, 2, &s0, &s1);
  assert_int_equal(jc_rec_reloc(r, 56, JC_RELOC_ABS64, s0, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 28, JC_RELOC_ABS64, s1, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 48, JC_RELOC_ABS64, s1, 0), JC_OK);
  assert_int_equal(jc_rec_exit(r, 0, 4), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, JC_GUARD_ANY, 8, 64, 8), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, 0, 24, 40, 40), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, 0, 40, 64, 16), JC_OK);
  jc_trace *t;
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);

  t = commit_left(f, key);
  uint8_t *c = jc_trace_code(t, NULL);
  assert_int_equal(c[8], 0xCC);
  assert_int_equal(c[24], 0xE9);
  assert_int_equal(rel_at(c + 25), 40 - 29);
  assert_int_equal(c[40], 0xE9);
  assert_int_equal(rel_at(c + 41), 16 - 45);
  uint64_t v;
  memcpy(&v, c + 56, 8);
  assert_int_equal(v, 0x1000);

  validate_tail(t, 0x7000);
  assert_int_equal(c[24], 0xCC);
  assert_int_equal(c[40], 0xCC);
  memcpy(&v, c + 28, 8); /* across the first patch point's end */
  assert_int_equal(v, 0x7000);
  memcpy(&v, c + 48, 8);
  assert_int_equal(v, 0x7000);
  jc_trace_release(t);
}

/* -- Cells ------------------------------------------------------------------------ */

/* A loop whose code loads its two bound values from cells (CELL32) and
** returns their sum; the synthetic tape (GREEN BIND GUARD(0) GREEN BIND).
**   0: mov rax, [rip+cell s0]   7: add rax, [rip+cell s1]   14: ret
**  56: mov eax, 7; ret (where a tail guard at 0 jumps)
** One JC_GUARD_ANY patch point over [0, 15). */
static void rec_cells(fixture *f, jc_key key) {
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  static const uint8_t body[] = {0x48, 0x8B, 0x05, 0, 0, 0, 0, 0x48, 0x03,
                                 0x05, 0,    0,    0, 0, 0xC3};
  static const uint8_t stub[] = {0xB8, 7, 0, 0, 0, 0xC3};
  memcpy(code, body, sizeof body);
  memcpy(code + 56, stub, sizeof stub);
  jc_rec *r;
  assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  uint32_t s0, s1;
  rec_synthetic_tape(r, 1, 2, &s0, &s1);
  assert_int_equal(jc_rec_reloc(r, 3, JC_RELOC_CELL32, s0, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 10, JC_RELOC_CELL32, s1, 0), JC_OK);
  assert_int_equal(jc_rec_exit(r, 0, 44), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, JC_GUARD_ANY, 0, 15, 56), JC_OK);
  jc_trace *t;
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
}

/* Where the rel32 field at `off` of code c points. */
static const uint64_t *cell_at(const uint8_t *c, uint32_t off) {
  return (const uint64_t *)(const void *)(c + off + 4 + rel_at(c + off));
}

/* The values live in data memory next to the code; the code bytes hold
** only the cells' displacements.  Checked to its end, the loop computes
** with the bound values; left at guard 0, it waits behind a tail guard
** with s1's cell unset, and validation fills the cell without writing the
** code where the relocation lies. */
static void test_cells(void **state) {
  fixture *f = *state;
  jc_key key = key_of("cells");
  rec_cells(f, key);

  jc_cands *cs;
  jc_replay *rp = begin_on(f->cache, key, 0x1111, &cs);
  assert_int_equal(jc_replay_guard_fp(rp, 0, 1), JC_OK);
  assert_int_equal(jc_replay_green(rp, 2, 1, 22), JC_OK);
  assert_int_equal(jc_replay_bind(rp, 0x2222), JC_OK);
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  assert_int_equal(jc_replay_commit(rp, tr, JC_MAX_CHAIN, &n), JC_OK);
  assert_int_equal(n, 1);
  jc_cands_release(cs);
  uint8_t *c = jc_trace_code(tr[0], NULL);
  const uint64_t *c0 = cell_at(c, 3), *c1 = cell_at(c, 10);
  assert_false(jc_arena_contains(c0, 8));
  assert_int_equal(*c0, 0x1111);
  assert_int_equal(*c1, 0x2222);
  uint64_t (*fn)(void) = (uint64_t (*)(void))(void *)c;
  assert_int_equal(fn(), 0x3333);
  jc_trace_release(tr[0]);

  /* Left at guard 0: s1 unbound, its cell 0, the tail guard at 0. */
  jc_trace *t = commit_left(f, key);
  c = jc_trace_code(t, NULL);
  assert_int_equal(c[0], 0xE9);
  fn = (uint64_t (*)(void))(void *)c;
  assert_int_equal(fn(), 7);
  uint8_t before[15];
  memcpy(before + 8, c + 8, 7);
  validate_tail(t, 0x7000);
  assert_int_equal(c[0], 0x48); /* the original bytes are back */
  assert_memory_equal(c + 8, before + 8, 7); /* s1's field: written once */
  assert_int_equal(*cell_at(c, 10), 0x7000);
  assert_int_equal(*cell_at(c, 3), 0x1000);
  assert_int_equal(fn(), 0x8000);
  jc_trace_release(t);
}

/* -- Bridges written ahead ---------------------------------------------------------- */

/* A loop L whose exit 0 jumps through its slot (0: movabs rax, slot;
** 10: jmp [rax]; 16: mov eax, 7; ret, the stub), tape GREEN(1) BIND
** GUARD(0), and a bridge of that exit that returns its bound value from
** its cell (0: mov rax, [rip+cell]; 7: ret), tape GREEN(5) BIND.  The
** bridge's code does not depend on the value: the loop's commit writes it
** ahead, and the bridge's own commit writes no code. */
static void test_written_ahead(void **state) {
  fixture *f = *state;
  jc_key key = key_of("ahead");
  uint8_t code[64];
  memset(code, 0xCC, sizeof code);
  static const uint8_t loop[] = {0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x20};
  static const uint8_t stub[] = {0xB8, 7, 0, 0, 0, 0xC3};
  memcpy(code, loop, sizeof loop);
  memcpy(code + 16, stub, sizeof stub);
  jc_rec *r;
  uint32_t s;
  jc_trace *t;
  assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s), JC_OK);
  assert_int_equal(jc_rec_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_rec_bind(r, s), JC_OK);
  assert_int_equal(jc_rec_guard_fp(r, 0, 1), JC_OK);
  assert_int_equal(jc_rec_exit_slot(r, 0, 2, 16), JC_OK);
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  uint64_t loop_id = jc_trace_id(t);
  jc_trace_release(t);

  memset(code, 0xCC, sizeof code);
  static const uint8_t bridge[] = {0x48, 0x8B, 0x05, 0, 0, 0, 0, 0xC3};
  memcpy(code, bridge, sizeof bridge);
  assert_int_equal(jc_rec_begin_bridge(f->cache, loop_id, 0, &r), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s), JC_OK);
  assert_int_equal(jc_rec_green(r, 5, 1, 55), JC_OK);
  assert_int_equal(jc_rec_bind(r, s), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 3, JC_RELOC_CELL32, s, 0), JC_OK);
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);

  /* A new process's handle: the family prefetched, the loop checked. */
  jc_cache *c2;
  jc_cache_opts o = {.dir = f->dir};
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  assert_int_equal(jc_cache_prefetch(c2, &key, 1), JC_OK);
  jc_cache_prefetch_wait(c2);
  jc_cands *cs;
  jc_replay *rp;
  jc_trace *tl, *tb;
  size_t n;
  rp = begin_on(c2, key, 0x1000, &cs);
  assert_int_equal(jc_replay_guard_fp(rp, 0, 1), JC_OK);
  assert_int_equal(jc_replay_commit(rp, &tl, 1, &n), JC_OK);
  jc_cands_release(cs);
  uint64_t (*fn)(void) = (uint64_t (*)(void))jc_trace_entry(tl);
  assert_int_equal(fn(), 7); /* written ahead is not attached */
  /* Its commit spent time writing the bridge ahead (clients count it). */
  assert_true(jc_trace_wrote_ahead_ns(tl) > 0);
  assert_int_equal(jc_trace_ahead_ns(tl), 0);

  uint64_t stores = jc_arena_stores();
  assert_int_equal(jc_lookup(c2, jc_key_bridge(jc_trace_id(tl), 0), &cs), JC_OK);
  assert_int_equal(jc_replay_begin(c2, cs, NULL, NULL, &rp), JC_OK);
  assert_int_equal(jc_replay_green(rp, 5, 1, 55), JC_OK);
  assert_int_equal(jc_replay_bind(rp, 0x5555), JC_OK);
  assert_int_equal(jc_replay_commit(rp, &tb, 1, &n), JC_OK);
  jc_cands_release(cs);
  assert_int_equal(jc_arena_stores(), stores); /* no code written */
  assert_ptr_equal(jc_trace_exit_target(tl, 0), jc_trace_entry(tb));
  assert_int_equal(fn(), 0x5555);
  /* The bridge's share of that writing ahead: all of it (the only one). */
  assert_true(jc_trace_ahead_ns(tb) > 0);
  assert_true(jc_trace_ahead_ns(tb) <= jc_trace_wrote_ahead_ns(tl));
  assert_int_equal(jc_trace_wrote_ahead_ns(tb), 0);
  jc_trace_release(tb);

  /* Released with its parent, unused: a loop reloaded again writes its
  ** bridge ahead again, and releasing the loop frees it (ASan: no leak). */
  jc_trace_release(tl);
  rp = begin_on(c2, key, 0x1000, &cs);
  assert_int_equal(jc_replay_guard_fp(rp, 0, 1), JC_OK);
  assert_int_equal(jc_replay_commit(rp, &tl, 1, &n), JC_OK);
  jc_cands_release(cs);
  jc_trace_release(tl);
  jc_cache_close(c2);

  /* The loop looked up before the prefetch thread got to it (here: not
  ** given its key): its commit fetches the family itself, enters it in
  ** the table and writes the bridge ahead all the same.  The bridge's
  ** lookup is served from the table, and so is the one of an exit that
  ** has no bridge (none, without reading the store).  A corrupt copy of
  ** the bridge's record beside it is skipped and counted, once. */
  size_t blen;
  uint64_t bid;
  uint8_t *bad = raw_get(f, jc_key_bridge(loop_id, 0), &blen, &bid);
  bad[blen / 2] ^= 0x40;
  raw_put(f, jc_key_bridge(loop_id, 0), 1000, bad, blen);
  free(bad);
  jc_stats s0 = stats();
  assert_int_equal(jc_cache_open(&test_ns, &o, &c2), JC_OK);
  /* Only a key with nothing saved, and the thread idle after it: a
  ** commit enters a family only when the table's lock is free, never
  ** waits for it (a thread still polling for keys takes it now and then). */
  jc_key nothing = key_of("nothing saved");
  assert_int_equal(jc_cache_prefetch(c2, &nothing, 1), JC_OK);
  jc_cache_prefetch_wait(c2);
  rp = begin_on(c2, key, 0x1000, &cs);
  assert_false(cs->shared);
  assert_int_equal(jc_replay_guard_fp(rp, 0, 1), JC_OK);
  assert_int_equal(jc_replay_commit(rp, &tl, 1, &n), JC_OK);
  jc_cands_release(cs);
  assert_int_equal(prefetch_info(c2).families_fetched, 1);
  assert_int_equal(stats().records_rejected - s0.records_rejected, 1);
  stores = jc_arena_stores();
  assert_int_equal(jc_lookup(c2, jc_key_bridge(jc_trace_id(tl), 0), &cs), JC_OK);
  assert_true(cs->shared);
  assert_int_equal(jc_cands_count(cs), 1);
  assert_int_equal(jc_replay_begin(c2, cs, NULL, NULL, &rp), JC_OK);
  assert_int_equal(jc_replay_green(rp, 5, 1, 55), JC_OK);
  assert_int_equal(jc_replay_bind(rp, 0x6666), JC_OK);
  assert_int_equal(jc_replay_commit(rp, &tb, 1, &n), JC_OK);
  jc_cands_release(cs);
  assert_int_equal(jc_arena_stores(), stores); /* written ahead */
  fn = (uint64_t (*)(void))jc_trace_entry(tl);
  assert_int_equal(fn(), 0x6666);
  uint64_t served = prefetch_info(c2).served;
  assert_int_equal(jc_lookup(c2, jc_key_bridge(jc_trace_id(tl), 9), &cs), JC_OK);
  assert_true(cs->shared);
  assert_int_equal(jc_cands_count(cs), 0);
  jc_cands_release(cs);
  assert_int_equal(prefetch_info(c2).served, served + 1);
  assert_int_equal(stats().records_rejected - s0.records_rejected, 1);
  jc_trace_release(tb);
  jc_trace_release(tl);
  jc_cache_close(c2);
}

/* -- A tail check that leaves inside the tail ----------------------------- */

/* A loop with two decisions: GREEN(1) BIND(s0) GUARD(0) GREEN(2) BIND(s1)
** GUARD(1) GREEN(3) BIND(s2), outcome 1 at both guards.  96 bytes of int3:
** exit fields at 4 (guard 0) and 68 (guard 1); ABS64 fields s0 at 16, s1
** at 32, s2 at `s2_off`; patch points: the entry's at 8 (stub 88), after
** guard 0 at 24 (stub 80), after guard 1 at `pp1_off` (stub 72) and, if
** `shared`, at 24 too (stub 64: a preamble skip point serving both). */
static void rec_two_guards(fixture *f, jc_key key, uint32_t s2_off,
                           uint32_t pp1_off, bool shared) {
  uint8_t code[96];
  memset(code, 0xCC, sizeof code);
  jc_rec *r;
  assert_int_equal(jc_rec_begin_loop(f->cache, key, &r), JC_OK);
  uint32_t s0, s1, s2;
  assert_int_equal(jc_rec_slot_bound(r, &s0), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s1), JC_OK);
  assert_int_equal(jc_rec_slot_bound(r, &s2), JC_OK);
  assert_int_equal(jc_rec_green(r, 1, 1, 11), JC_OK);
  assert_int_equal(jc_rec_bind(r, s0), JC_OK);
  assert_int_equal(jc_rec_guard_fp(r, 0, 1), JC_OK);
  assert_int_equal(jc_rec_green(r, 2, 1, 22), JC_OK);
  assert_int_equal(jc_rec_bind(r, s1), JC_OK);
  assert_int_equal(jc_rec_guard_fp(r, 1, 1), JC_OK);
  assert_int_equal(jc_rec_green(r, 3, 1, 33), JC_OK);
  assert_int_equal(jc_rec_bind(r, s2), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 16, JC_RELOC_ABS64, s0, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 32, JC_RELOC_ABS64, s1, 0), JC_OK);
  assert_int_equal(jc_rec_reloc(r, s2_off, JC_RELOC_ABS64, s2, 0), JC_OK);
  assert_int_equal(jc_rec_exit(r, 0, 4), JC_OK);
  assert_int_equal(jc_rec_exit(r, 1, 68), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, JC_GUARD_ANY, 8, 96, 88), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, 0, 24, 96, 80), JC_OK);
  assert_int_equal(jc_rec_patch_point(r, 1, pp1_off, 96, 72), JC_OK);
  if (shared) assert_int_equal(jc_rec_patch_point(r, 1, 24, 96, 64), JC_OK);
  jc_trace *t;
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  jc_trace_release(t);
  assert_int_equal(jc_cache_flush(f->cache), JC_OK);
}

/* A tail check of the two-guard loop: up to guard 1, where it leaves with
** outcome `g1` (1: the loop's way, then on to the end binding s2 = v2). */
static jc_err tail_check_two(jc_trace *t, uint64_t g1, uint64_t v2) {
  jc_replay *r = tail_past_guard0(t);
  assert_int_equal(jc_replay_bind(r, 0x2000), JC_OK);
  if (g1 != 1) {
    assert_int_equal(jc_replay_guard_fp(r, 1, g1), JC_EXIT);
  } else {
    assert_int_equal(jc_replay_guard_fp(r, 1, 1), JC_OK);
    assert_int_equal(jc_replay_green(r, 3, 1, 33), JC_OK);
    assert_int_equal(jc_replay_bind(r, v2), JC_OK);
  }
  return jc_replay_commit(r, NULL, 0, NULL);
}

/* The two-guard loop reloaded by a check that leaves at guard 0. */
static jc_trace *reload_two(fixture *f, const char *name, uint32_t s2_off,
                            uint32_t pp1_off, bool shared) {
  jc_key key = key_of(name);
  rec_two_guards(f, key, s2_off, pp1_off, shared);
  return commit_left(f, key);
}

/* A tail guard: jmp rel32 at `at` to `target`. */
static void expect_jmp(const uint8_t *c, uint32_t at, uint32_t target) {
  assert_int_equal(c[at], 0xE9);
  assert_int_equal(rel_at(c + at + 1), (int32_t)(target - (at + 5)));
}

/* The first check leaves at guard 0: the tail guard waits at 24.  A tail
** check that passes guard 0 but leaves at guard 1 has checked the tail up
** to guard 1: the tail guard moves to the patch point after guard 1 (40),
** s1 is patched, 24 is restored, s2 stays deferred.  The next tail check
** that goes the loop's way to the end validates the rest.  Where the patch
** point after guard 1 does not cover s2, the tail stays where it was. */
static void test_tail_moves_past_checked_part(void **state) {
  fixture *f = *state;
  jc_trace *t = reload_two(f, "tail-moves", 56, 40, false);
  uint8_t *c = jc_trace_code(t, NULL);
  expect_jmp(c, 24, 80);
  assert_int_equal(c[40], 0xCC);
  jc_stats s0 = stats();

  assert_int_equal(tail_check_two(t, 9, 0), JC_EXIT);
  assert_int_equal(jc_trace_tail(t, JC_GUARD_ANY), JC_TAIL_PENDING);
  assert_int_equal(c[24], 0xCC); /* lifted */
  expect_jmp(c, 40, 72);
  uint64_t v;
  memcpy(&v, c + 32, 8);
  assert_int_equal(v, 0x2000); /* checked: patched */
  assert_int_equal(jc_trace_slot(t, 1, &v), JC_OK);
  assert_int_equal(v, 0x2000);
  assert_int_equal(c[56], 0xCC); /* s2: still deferred */
  assert_int_equal(jc_trace_slot(t, 2, &v), JC_STATE);
  jc_stats s1 = stats();
  assert_int_equal(s1.tail_guards - s0.tail_guards, 1);
  assert_int_equal(s1.tails_validated - s0.tails_validated, 0);

  /* Leaving at guard 1 again says nothing new: pending, unchanged. */
  assert_int_equal(tail_check_two(t, 9, 0), JC_STATE);
  assert_int_equal(c[40], 0xE9);

  assert_int_equal(tail_check_two(t, 1, 0x3000), JC_OK);
  assert_int_equal(jc_trace_tail(t, JC_GUARD_ANY), JC_TAIL_VALIDATED);
  assert_int_equal(c[40], 0xCC);
  memcpy(&v, c + 56, 8);
  assert_int_equal(v, 0x3000);
  jc_trace_release(t);

  /* s2 at 48, before the patch point after guard 1 (64): not covered. */
  t = reload_two(f, "tail-stays", 48, 64, false);
  c = jc_trace_code(t, NULL);
  assert_int_equal(tail_check_two(t, 9, 0), JC_STATE);
  assert_int_equal(c[24], 0xE9);
  assert_int_equal(c[64], 0xCC);
  assert_int_equal(c[32], 0xCC); /* nothing patched */
  assert_int_equal(tail_check_two(t, 1, 0x4000), JC_OK);
  memcpy(&v, c + 48, 8);
  assert_int_equal(v, 0x4000);
  jc_trace_release(t);

  /* A patch point in both tails (24): its tail guard stays, pointed at the
  ** new tail's stub; the other one (40) is added.  Validation restores both. */
  t = reload_two(f, "tail-shares", 56, 40, true);
  c = jc_trace_code(t, NULL);
  expect_jmp(c, 24, 80);
  assert_int_equal(tail_check_two(t, 9, 0), JC_EXIT);
  expect_jmp(c, 24, 64);
  expect_jmp(c, 40, 72);
  memcpy(&v, c + 32, 8);
  assert_int_equal(v, 0x2000);
  assert_int_equal(tail_check_two(t, 1, 0x5000), JC_OK);
  assert_int_equal(c[24], 0xCC);
  assert_int_equal(c[40], 0xCC);
  memcpy(&v, c + 56, 8);
  assert_int_equal(v, 0x5000);
  jc_trace_release(t);
}

static void test_recorder_refuses(void **state) {
  fixture *f = *state;
  jc_stats s0 = stats();
  jc_rec *r;
  uint8_t code[16] = {0xC3};
  assert_int_equal(jc_rec_begin_loop(f->cache, key_of("bad"), &r), JC_OK);
  uint32_t s;
  assert_int_equal(jc_rec_slot_bound(r, &s), JC_OK);
  assert_int_equal(jc_rec_reloc(r, 12, JC_RELOC_ABS64, s, 0), JC_OK); /* 12+8 > 16 */
  jc_trace *t;
  assert_int_not_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, &t), JC_OK);
  assert_non_null(t);
  assert_int_equal(jc_trace_id(t), 0);
  jc_trace_release(t);
  assert_int_equal(jc_rec_begin_loop(f->cache, key_of("bad2"), &r), JC_OK);
  assert_int_equal(jc_rec_bind(r, 7), JC_INVAL); /* undeclared slot */
  assert_int_equal(jc_rec_green(r, 1, 1, 1), JC_INVAL); /* sticky */
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, NULL), JC_INVAL);
  assert_int_equal(jc_rec_begin_loop(f->cache, key_of("bad3"), &r), JC_OK);
  assert_int_equal(jc_rec_exit(r, 0, 5), JC_INVAL); /* straddles */
  jc_rec_abort(r, "test");
  assert_int_equal(jc_rec_begin_loop(f->cache, key_of("bad4"), &r), JC_OK);
  assert_int_equal(jc_rec_guard(r, 1), JC_OK);
  /* A patch point after a guard that is not on the tape. */
  assert_int_equal(jc_rec_patch_point(r, 2, 8, 16, 0), JC_OK);
  assert_int_equal(jc_rec_finish(r, code, sizeof code, 0, NULL, NULL), JC_INVAL);
  jc_stats s1 = stats();
  assert_int_equal(s1.records_not_persisted - s0.records_not_persisted, 4);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_processes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tail_moves_past_checked_part, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bridge_tail_validated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bridge_tail_invalidated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_exit_without_bridge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lazy_bridge, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slot_exits, setup, teardown),
      cmocka_unit_test_setup_teardown(test_miss_on_changed_program, setup, teardown),
      cmocka_unit_test_setup_teardown(test_candidates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_relocation_failures, setup, teardown),
      cmocka_unit_test_setup_teardown(test_namespace_isolation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_corrupt_records_rejected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_usage_table, setup, teardown),
      cmocka_unit_test_setup_teardown(test_giveups, setup, teardown),
      cmocka_unit_test_setup_teardown(test_thread_names, setup, teardown),
      cmocka_unit_test(test_unsafe_directory),
      cmocka_unit_test(test_default_directory),
      cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
      cmocka_unit_test(test_no_cache),
      cmocka_unit_test_setup_teardown(test_four_processes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_writable_code, setup, teardown),
      cmocka_unit_test(test_errors_and_keys),
      cmocka_unit_test_setup_teardown(test_recorder_refuses, setup, teardown),
      cmocka_unit_test_setup_teardown(test_guard_outcomes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prefetch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_program_list, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tail_patch_point_choice, setup, teardown),
      cmocka_unit_test_setup_teardown(test_tail_two_patch_points, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cells, setup, teardown),
      cmocka_unit_test_setup_teardown(test_written_ahead, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cands_aux, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pass_guards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_static_many_guards, setup, teardown),
      cmocka_unit_test_setup_teardown(test_feed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_static, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prepare, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
