/*
** tests/bpf/bpf_workload.c — a process that makes every kind of jcache event
** a known number of times, then prints its own counters.
**
**   bpf_workload DIR N [wait]
**
** With "wait" it prints "ready PID" and waits for a line on stdin first, so
** that a tracer can be attached to its pid (jcache trace -p).
** Linked with the shared libjcache.so, so that a tracer attached to that
** file sees its probes.  With N rounds it does:
**   record    the toy loop and bridge (record_write x2, bridge_attach x1),
**             and gives up two recordings (record_abort x2)
**   reload    N times loop+bridge for x=150 (tail guard, tail validated)
**             and N times the loop alone for x=5
**   miss      N reloads with another program (replay_miss)
**   tail      N reloads whose tail check misses (tail_invalidated)
**   empty     N lookups of a key with no record
**   reject    corrupts the store (a bit flip and a truncation per record,
**             written with LMDB directly) and reloads once (reject)
** and prints "pid P" and one "stat NAME VALUE" line per counter of
** jc_stats_get(), which tests/bpf/test_bpf.sh compares with the counters
** that the BPF program kept for this pid.  It also prints what the
** trace_live and trace_release probes must report: "live compiled N",
** "live reloaded N" (traces it got back live from jc_rec_finish and
** jc_replay_commit), "live released N" (jc_trace_release calls) and
** "live names LOOP BRIDGE" (the names of the toy traces).
*/
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toytrace.h"

static const jc_ns ns = {"jcache-bpf-test", "1", "bpf-build", "x86-64"};

static int fail(const char *what, jc_err err) {
  fprintf(stderr, "bpf_workload: %s: %s (%s)\n", what, jc_strerror(err),
          jc_last_error());
  return 1;
}

/* What the trace_live and trace_release probes must have reported. */
static unsigned long live_compiled, live_reloaded, released;

static void release_one(jc_trace *t) {
  released++;
  jc_trace_release(t);
}

static void release(jc_trace **tr, size_t n) {
  for (size_t i = 0; i < n; i++) release_one(tr[i]);
}

/* toy_reload, counting the traces it made live. */
static jc_err reload(jc_cache *cache, jc_key key, const toy_greens *g,
                     const toy_consts *c, long x, jc_trace **tr, size_t cap,
                     size_t *n) {
  *n = 0;
  jc_err err = toy_reload(cache, key, g, c, x, tr, cap, n);
  if (!err) live_reloaded += *n;
  return err;
}

/* Store a damaged copy of every record beside it, under other ids: one
** with a bit flipped in the middle (checksum), one cut in half. */
static int corrupt_store(const char *dir) {
  MDB_env *env;
  MDB_txn *txn;
  MDB_dbi dbi;
  MDB_cursor *cur;
  MDB_val k, v;
  if (mdb_env_create(&env)) return 1;
  mdb_env_set_maxdbs(env, 4);
  mdb_env_set_mapsize(env, (size_t)1 << 30);
  if (mdb_env_open(env, dir, MDB_NOTLS, 0600) ||
      mdb_txn_begin(env, NULL, 0, &txn) ||
      mdb_dbi_open(txn, "traces", 0, &dbi) ||
      mdb_cursor_open(txn, dbi, &cur)) {
    fprintf(stderr, "bpf_workload: cannot open the store with LMDB\n");
    return 1;
  }
  /* Collect first: writing while iterating would visit the copies. */
  uint8_t keys[8][40], *vals[8];
  size_t lens[8], n = 0;
  while (n < 8 && mdb_cursor_get(cur, &k, &v, n ? MDB_NEXT : MDB_FIRST) == 0) {
    if (k.mv_size != 40) continue;
    memcpy(keys[n], k.mv_data, 40);
    vals[n] = malloc(v.mv_size);
    memcpy(vals[n], v.mv_data, v.mv_size);
    lens[n++] = v.mv_size;
  }
  mdb_cursor_close(cur);
  for (size_t i = 0; i < n; i++) {
    for (int copy = 0; copy < 2; copy++) {
      uint8_t key[40];
      memcpy(key, keys[i], 40);
      key[39] ^= (uint8_t)(0x10 + copy); /* another id, same key prefix */
      if (copy == 0) vals[i][lens[i] / 2] ^= 0x04;
      MDB_val mk = {40, key}, mv = {copy ? lens[i] / 2 : lens[i], vals[i]};
      if (mdb_put(txn, dbi, &mk, &mv, 0)) return 1;
      if (copy == 0) vals[i][lens[i] / 2] ^= 0x04;
    }
    free(vals[i]);
  }
  int rc = mdb_txn_commit(txn);
  mdb_env_close(env);
  return rc != 0 || n == 0;
}

int main(int argc, char **argv) {
  if (argc != 3 && !(argc == 4 && strcmp(argv[3], "wait") == 0)) {
    fprintf(stderr, "usage: bpf_workload DIR N [wait]\n");
    return 2;
  }
  if (argc == 4) {
    char line[16];
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) return 1;
  }
  const char *dir = argv[1];
  int rounds = atoi(argv[2]);
  jc_key key = jc_key_hash("toy loop", 8);
  toy_consts c1 = {.K = 1000, .D = 7, .T = 5, .B = 100};
  toy_consts c2 = {.K = 2000, .D = -3, .T = 11, .B = 60};
  toy_greens other = toy_default_greens, other_tail = toy_default_greens;
  other.fp1 ^= 1;      /* another program: the first decision misses */
  other_tail.fp2 ^= 1; /* the tail after guard 0 differs */
  jc_trace *tr[JC_MAX_CHAIN];
  size_t n;
  jc_err err;

  jc_cache *cache;
  jc_cache_opts o = {.dir = dir};
  if ((err = jc_cache_open(&ns, &o, &cache))) return fail("open", err);

  /* record */
  jc_trace *loop, *bridge;
  if ((err = toy_compile_loop(cache, key, &toy_default_greens, &c1, 0, &loop)))
    return fail("compile loop", err);
  if ((err = toy_compile_bridge(cache, loop, &toy_default_greens, &c1, &bridge)))
    return fail("compile bridge", err);
  live_compiled += 2;
  char names[160];
  snprintf(names, sizeof names, "%s %s", jc_trace_name(loop),
           jc_trace_name(bridge));
  for (int i = 0; i < 2; i++) {
    jc_rec *r;
    if ((err = jc_rec_begin_loop(cache, jc_key_hash("given up", 8), &r)))
      return fail("rec begin", err);
    jc_rec_abort(r, "bpf_workload gives up");
  }
  jc_cache_flush(cache);
  release_one(bridge);
  release_one(loop);

  for (int i = 0; i < rounds; i++) {
    /* reload: loop + bridge with a tail to validate, then the loop alone */
    if ((err = reload(cache, key, &toy_default_greens, &c2, 150, tr,
                          JC_MAX_CHAIN, &n)))
      return fail("reload 150", err);
    if ((err = toy_check_tail(tr[0], &toy_default_greens, &c2)))
      return fail("tail check", err);
    release(tr, n);
    if ((err = reload(cache, key, &toy_default_greens, &c2, 5, tr,
                          JC_MAX_CHAIN, &n)))
      return fail("reload 5", err);
    release(tr, n);
    /* miss */
    if ((err = reload(cache, key, &other, &c2, 5, tr, JC_MAX_CHAIN, &n)) !=
        JC_MISS)
      return fail("expected a miss", err);
    /* tail invalidated */
    if ((err = reload(cache, key, &toy_default_greens, &c2, 150, tr,
                          JC_MAX_CHAIN, &n)))
      return fail("reload 150 (2)", err);
    if ((err = toy_check_tail(tr[0], &other_tail, &c2)) != JC_MISS)
      return fail("expected a tail miss", err);
    release(tr, n);
    /* empty lookup */
    jc_cands *cs;
    if ((err = jc_lookup(cache, jc_key_hash("nothing here", 12), &cs)))
      return fail("lookup", err);
    jc_cands_release(cs);
  }
  jc_cache_close(cache);

  /* reject: damaged copies beside the good records, then one reload */
  if (corrupt_store(dir)) {
    fprintf(stderr, "bpf_workload: could not corrupt the store\n");
    return 1;
  }
  if ((err = jc_cache_open(&ns, &o, &cache))) return fail("reopen", err);
  if ((err = reload(cache, key, &toy_default_greens, &c2, 150, tr,
                        JC_MAX_CHAIN, &n)))
    return fail("reload after corruption", err);
  if ((err = toy_check_tail(tr[0], &toy_default_greens, &c2)))
    return fail("tail check after corruption", err);
  release(tr, n);
  jc_cache_close(cache);

  jc_stats s;
  jc_stats_get(&s);
  const uint64_t *v = (const uint64_t *)&s;
  printf("pid %d\n", (int)getpid());
  for (size_t i = 0; i < JC_STATS_COUNT; i++)
    printf("stat %s %llu\n", jc_stats_name(i), (unsigned long long)v[i]);
  printf("live compiled %lu\nlive reloaded %lu\nlive released %lu\n"
         "live names %s\n", live_compiled, live_reloaded, released, names);
  return 0;
}
