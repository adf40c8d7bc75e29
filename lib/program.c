/*
** lib/program.c — the loops a program used, kept for its next run.
**
** The prefetch thread can only fetch what it is given, and a VM knows its
** loops' keys when it has compiled them: warm richards gave its keys 38 to
** 49 us before its first loop got hot, so the first commit read its loop's
** families itself (33 of them, 77 to 208 us) while the thread started on
** the same work (bench/README.md).  A program's run, though, reloads or saves much the same
** loops as its last one.  A client that names its program at startup
** (jc_cache_prefetch_program, with a hash of its source, say) has the
** thread read the list of loops the last run used and fetch them, with
** their families, while the client is still parsing and compiling.
**
** The list is a hint, never trusted for what code runs: a key in it only
** makes the thread look that key up, as if the client had given it.  The
** run notes the lookup key of every loop it reloads (jc_commit_path) or
** saves (jc_rec_finish), in first-use order, and at close queues the list
** when it differs from the one read (a warm run that used the same loops
** writes nothing).
**
** Store: the LMDB table "programs" (created with the others, lib/store.c).
** Key: namespace hash | program key, 32 bytes.  Value, little-endian,
** untrusted like a record:
**
**   0   u32  magic "JCPL"
**   4   u16  version (1)
**   6   u16  zero
**   8   u32  n, the number of keys (at most JC_PROGRAM_MAX_KEYS)
**   12  u32  zero
**   16  n x (u64 lo, u64 hi)  the loops' lookup keys, in first-use order
**
** A value of another size, magic or version, or nonzero where zeros belong,
** is counted as a rejected record (reject probe, records_rejected and the
** reason's counter; trace id 0) and ignored.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "internal.h"

#define PROGRAM_MAGIC 0x4c50434au /* "JCPL" */
#define PROGRAM_VERSION 1
#define PROGRAM_HDR 16

struct jc_program {
  pthread_mutex_t lock;
  jc_key key;
  /* The loops used, in first-use order, and a set of them (indices + 1,
  ** open addressing): a commit notes its loop in constant time. */
  jc_key *used;
  size_t nused, capused; /* grown by doubling, up to JC_PROGRAM_MAX_KEYS */
  uint32_t *set;
  size_t capset; /* twice capused: a power of two */
  /* What the list said at open (jc_program_read), to write only a change. */
  jc_key *read;
  size_t nread;
  bool was_read;
};

static size_t home(jc_key k, size_t cap) {
  return (size_t)(((k.lo ^ k.hi) * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

static bool same(jc_key a, jc_key b) { return a.lo == b.lo && a.hi == b.hi; }

#define PROGRAM_FIRST_CAP 64 /* loops a program notes before the first growth */

/* Room for capused keys and their set (pg->lock held, or not yet shared);
** false when out of memory (nothing changed then). */
static bool reserve(jc_program *pg, size_t capused) {
  jc_key *used = realloc(pg->used, capused * sizeof *used);
  if (!used) return false;
  pg->used = used;
  uint32_t *set = calloc(2 * capused, sizeof *set);
  if (!set) return false;
  free(pg->set);
  pg->set = set;
  pg->capused = capused;
  pg->capset = 2 * capused;
  for (size_t k = 0; k < pg->nused; k++) {
    size_t i = home(pg->used[k], pg->capset);
    while (pg->set[i]) i = (i + 1) & (pg->capset - 1);
    pg->set[i] = (uint32_t)k + 1;
  }
  return true;
}

static void program_free(jc_program *pg) {
  if (!pg) return;
  pthread_mutex_destroy(&pg->lock);
  free(pg->used);
  free(pg->set);
  free(pg->read);
  free(pg);
}

bool jc_program_start(jc_cache *c, jc_key program) {
  jc_program *pg = atomic_load_explicit(&c->program, memory_order_acquire);
  if (pg) {
    /* Named again: the same program keeps what it noted; another starts
    ** afresh (the first list read stays the first program's). */
    pthread_mutex_lock(&pg->lock);
    if (!same(pg->key, program)) {
      pg->key = program;
      pg->nused = 0;
      memset(pg->set, 0, pg->capset * sizeof *pg->set);
      pg->was_read = false;
    }
    pthread_mutex_unlock(&pg->lock);
    return true;
  }
  pg = calloc(1, sizeof *pg);
  if (!pg) return false;
  pg->key = program;
  if (!reserve(pg, PROGRAM_FIRST_CAP)) {
    free(pg->used);
    free(pg);
    return false;
  }
  pthread_mutex_init(&pg->lock, NULL);
  jc_program *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&c->program, &none, pg,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    program_free(pg); /* another thread named it at the same time */
    return jc_program_start(c, program);
  }
  return true;
}

void jc_program_note(jc_cache *c, jc_key key) {
  jc_program *pg = atomic_load_explicit(&c->program, memory_order_acquire);
  if (!pg) return;
  pthread_mutex_lock(&pg->lock);
  size_t i = home(key, pg->capset);
  while (pg->set[i] && !same(pg->used[pg->set[i] - 1], key))
    i = (i + 1) & (pg->capset - 1);
  if (!pg->set[i] && pg->nused == pg->capused && pg->capused < JC_PROGRAM_MAX_KEYS &&
      reserve(pg, 2 * pg->capused)) {
    i = home(key, pg->capset);
    while (pg->set[i]) i = (i + 1) & (pg->capset - 1);
  }
  /* Past JC_PROGRAM_MAX_KEYS, or out of memory: the list is a hint. */
  if (!pg->set[i] && pg->nused < pg->capused) {
    pg->used[pg->nused++] = key;
    pg->set[i] = (uint32_t)pg->nused;
  }
  pthread_mutex_unlock(&pg->lock);
}

/* The keys of a list value, or -1 (counted) if it is not one this version
** wrote. */
static long decode(jc_key program, const uint8_t *v, size_t size) {
  if (size < PROGRAM_HDR || (size - PROGRAM_HDR) % 16) {
    jc_store_count_reject(program, 0, JC_REJECT_TRUNCATED,
                          "program list of a bad size");
    return -1;
  }
  uint16_t version, zero16;
  memcpy(&version, v + 4, 2);
  memcpy(&zero16, v + 6, 2);
  uint32_t n = jc_ld32(v + 8);
  if (jc_ld32(v) != PROGRAM_MAGIC || version != PROGRAM_VERSION) {
    jc_store_count_reject(program, 0, JC_REJECT_MAGIC,
                          "program list: bad magic or version");
    return -1;
  }
  if (zero16 || jc_ld32(v + 12) || n > JC_PROGRAM_MAX_KEYS ||
      (size - PROGRAM_HDR) / 16 != n) {
    jc_store_count_reject(program, 0, JC_REJECT_ENTRY,
                          "program list: bad count or header");
    return -1;
  }
  return (long)n;
}

size_t jc_program_read(jc_cache *c, MDB_txn *txn, const jc_key **out) {
  *out = NULL;
  jc_program *pg = atomic_load_explicit(&c->program, memory_order_acquire);
  if (!pg || !c->has_programs || !txn) return 0;
  pthread_mutex_lock(&pg->lock);
  jc_key program = pg->key;
  pthread_mutex_unlock(&pg->lock);
  uint8_t k[40];
  jc_store_key(k, c->ns, program, 0);
  MDB_val mk = {32, k}, mv;
  long n = 0;
  jc_key *keys = NULL;
  if (mdb_get(txn, c->program_dbi, &mk, &mv) == 0) {
    n = decode(program, mv.mv_data, mv.mv_size);
    if (n > 0 && (keys = malloc((size_t)n * sizeof *keys)) != NULL) {
      const uint8_t *p = (const uint8_t *)mv.mv_data + PROGRAM_HDR;
      for (long i = 0; i < n; i++)
        keys[i] = (jc_key){jc_ld64(p + 16 * i), jc_ld64(p + 16 * i + 8)};
    }
    if (!keys) n = 0;
  }
  /* Kept for the save at close (an empty or unreadable list is one), unless
  ** another program was named meanwhile.  Only this thread (the prefetch's)
  ** replaces it, and jc_program_save runs after that thread has stopped. */
  pthread_mutex_lock(&pg->lock);
  if (same(pg->key, program)) {
    free(pg->read);
    pg->read = keys;
    pg->nread = (size_t)n;
    pg->was_read = true;
    *out = keys;
  } else {
    free(keys);
    n = 0;
  }
  pthread_mutex_unlock(&pg->lock);
  return (size_t)n;
}

void jc_program_save(jc_cache *c) {
  jc_program *pg = atomic_exchange_explicit(&c->program, NULL, memory_order_acq_rel);
  if (!pg) return;
  /* Nothing used (a run too short for any loop): the last list stays. */
  bool changed = pg->nused && !(pg->was_read && pg->nread == pg->nused &&
                                !memcmp(pg->read, pg->used, pg->nused * sizeof *pg->used));
  /* Checked here, not left to jc_store_put_side: closing a read-only cache
  ** must not leave an error behind (jc_last_error). */
  if (changed && c->has_programs && !(c->flags & JC_CACHE_READONLY)) {
    size_t len = PROGRAM_HDR + 16 * pg->nused;
    uint8_t *v = calloc(1, len);
    if (v) {
      uint32_t magic = PROGRAM_MAGIC, n = (uint32_t)pg->nused;
      uint16_t version = PROGRAM_VERSION;
      memcpy(v, &magic, 4);
      memcpy(v + 4, &version, 2);
      memcpy(v + 8, &n, 4);
      for (size_t i = 0; i < pg->nused; i++) {
        memcpy(v + PROGRAM_HDR + 16 * i, &pg->used[i].lo, 8);
        memcpy(v + PROGRAM_HDR + 16 * i + 8, &pg->used[i].hi, 8);
      }
      /* Best effort, like the records: a list lost is a slower start. */
      (void)jc_store_put_side(c, c->program_dbi, true, pg->key, v, len);
    }
  }
  program_free(pg);
}
