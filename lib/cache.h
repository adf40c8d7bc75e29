/*
** lib/cache.h — the cache handle and the store beneath it (internal).
*/
#ifndef JC_LIB_CACHE_H
#define JC_LIB_CACHE_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "format.h"
#include "jcache/cache.h"

/* An entry waiting for the writer thread: a record (rec), a usage touch
** (rec NULL), or an entry of a side table (side set: a give-up, lib/giveup.c,
** or a program's loop list, lib/program.c; its 32-byte key is lkey's first
** 32 bytes, its value rec). */
#define JC_GIVEUP_VAL_SIZE 64
typedef struct jc_pending {
  struct jc_pending *next;
  uint8_t lkey[40]; /* LMDB key: ns | key | trace id */
  void *rec;        /* the serialized record or the side entry, malloc'd */
  size_t len;
  uint64_t trace_id;
  bool side;
  MDB_dbi side_dbi; /* its table */
} jc_pending;

typedef struct jc_program jc_program;

typedef struct jc_prefetch jc_prefetch;

struct jc_cache {
  char *dir;
  jc_key ns;
  unsigned flags;
  size_t max_size;
  /* jc_cache_opts.prepare: run by the prefetch thread (lib/prefetch.c). */
  size_t (*prepare)(void *, const void *, size_t, size_t, void *, size_t);
  void *prepare_user;
  MDB_env *env;
  MDB_dbi dbi;
  bool has_dbi; /* false for a read-only cache whose store has no table yet */
  MDB_dbi usage_dbi; /* "usage": last used, hits, created per record */
  bool has_usage;
  MDB_dbi giveup_dbi; /* "giveups": keys a JIT gave up on (lib/giveup.c) */
  bool has_giveups;
  MDB_dbi program_dbi; /* "programs": each program's loops (lib/program.c) */
  bool has_programs;
  /* The program named by jc_cache_prefetch_program, and the loops this
  ** run used (lib/program.c); NULL until named. */
  _Atomic(jc_program *) program;

  /* One spare read transaction, reset and renewed to make lookups cheap. */
  MDB_txn *spare_txn;
  pthread_mutex_t spare_lock;

  /* The writer thread and its queue.  `queued` and `done` count records, so
  ** jc_cache_flush() waits until done catches up with queued-at-call. */
  pthread_mutex_t qlock;
  pthread_cond_t qwake, qdone;
  jc_pending *qhead, *qtail;
  uint64_t queued, done;
  /* Usage touches held back until flush or close: a commit's is a (key,
  ** id) pair appended here; they become queued records then. */
  struct jc_touch { jc_key key; uint64_t id; } *touches;
  size_t ntouches, cap_touches;
  bool writer_running, stopping;
  pthread_t writer;

  _Atomic(jc_prefetch *) prefetch; /* lib/prefetch.c; NULL until first used */
};

/* One validated candidate. */
typedef struct jc_cand {
  jc_view view;
  uint64_t id;
} jc_cand;

struct jc_cands {
  jc_cache *cache;
  MDB_txn *txn; /* keeps the map pages valid; NULL when empty or shared */
  jc_key key;
  size_t n, cap;
  jc_cand *v;
  bool shared; /* v belongs to the prefetch (its private copies), not to us */
};

/* lib/store.c */
jc_err jc_store_open(jc_cache *c);
void jc_store_close(jc_cache *c);
/* Queue (or, with JC_CACHE_SYNC_WRITE, write now) a serialized record; takes
** ownership of `rec`. */
jc_err jc_store_put(jc_cache *c, jc_key key, uint64_t trace_id, void *rec,
                    size_t len);
jc_err jc_store_flush(jc_cache *c);
/* Count a reload of a record in the usage table (queued, best effort). */
void jc_store_touch(jc_cache *c, jc_key key, uint64_t trace_id);
/* The LMDB key of a record. */
void jc_store_key(uint8_t out[40], jc_key ns, jc_key key, uint64_t id);
/* Begin a transaction, adopting a map grown by another process. */
int jc_store_txn_begin(jc_cache *c, unsigned flags, MDB_txn **txn);
/* Call fn for every record stored under `key`, unvalidated (rec points into
** the map, valid while txn is); stops at the first error fn returns. */
typedef jc_err (*jc_store_each_fn)(void *ctx, jc_key key, uint64_t id,
                                   const void *rec, size_t len);
jc_err jc_store_each(jc_cache *c, MDB_txn *txn, jc_key key,
                     jc_store_each_fn fn, void *ctx);
/* The same for every bridge of one trace: the records whose key's lo is
** jc_key_family(parent), in key order (lib/key.c). */
jc_err jc_store_each_family(jc_cache *c, MDB_txn *txn, uint64_t family,
                            jc_store_each_fn fn, void *ctx);
/* lib/key.c: the `lo` of every bridge key of `parent`. */
uint64_t jc_key_family(uint64_t parent);
/* A read transaction (the cache's spare, renewed, if there is one) and its
** release (kept as the spare, or aborted); 0 or an LMDB error. */
int jc_store_read_txn(jc_cache *c, MDB_txn **txn);
void jc_store_release_txn(jc_cache *c, MDB_txn *txn);
/* Parse a record found under (key, id) and check that it names them; a
** rejected record is counted (and probed) and false returned. */
bool jc_store_validate(jc_cache *c, jc_key key, uint64_t id, const void *rec,
                       size_t len, jc_view *view);
/* Queue an entry of a side table: `val` (malloc'd, len bytes; ownership
** taken) under the 32-byte key ns | key.  JC_DISABLED where the table is
** missing or the cache read-only. */
jc_err jc_store_put_side(jc_cache *c, MDB_dbi dbi, bool has, jc_key key,
                         void *val, size_t len);
/* A pending entry for (key, trace_id), zeroed but for its key; NULL when
** out of memory. */
jc_pending *jc_store_pending(jc_cache *c, jc_key key, uint64_t trace_id);
/* Count a rejected record under its reason and fire the probe. */
void jc_store_count_reject(jc_key key, uint64_t id, jc_reject why,
                           const char *detail);

/* lib/program.c */
/* Name the run's program (jc_cache_prefetch_program): from now on the loops
** it reloads or saves are noted.  False when out of memory. */
bool jc_program_start(jc_cache *c, jc_key program);
/* Note a loop (its lookup key) reloaded or saved; nothing if no program is
** named. */
void jc_program_note(jc_cache *c, jc_key key);
/* The named program's list as the store holds it under txn: its keys
** (*keys, kept for jc_program_save and valid until then; NULL when none)
** and their count.  A list that does not parse is counted as a rejected
** record and reads as none. */
size_t jc_program_read(jc_cache *c, MDB_txn *txn, const jc_key **keys);
/* At close: queue the loops used when they differ from the list read, and
** forget the program. */
void jc_program_save(jc_cache *c);

/* lib/prefetch.c */
/* The key's candidates if the prefetch has looked it up: cs->v is then
** shared (cs->shared) and valid until the cache closes. */
bool jc_prefetch_find(jc_cache *c, jc_key key, jc_cands *cs);
/* The same, not counted as a lookup served (lib/ahead.c looks ahead);
** false too when the thread holds the table's lock at that moment. */
bool jc_prefetch_peek(jc_cache *c, jc_key key, jc_cands *cs);
/* Every bridge the prefetch holds for the exits of trace `parent`: v[i]
** saved for the exit of guard guards[i], grouped by exit in the parent's
** exit order; valid until the cache closes.  False if the family has not
** been fetched (or the thread holds the table's lock at that moment). */
typedef struct jc_family {
  const jc_cand *v;
  const uint32_t *guards;
  uint32_t n;
} jc_family;
bool jc_prefetch_family(jc_cache *c, uint64_t parent, jc_family *out);
/* The same, and if the thread has not fetched it yet, fetch it now on this
** thread (and enter it in the table when its lock is free).  False only
** without a prefetch, or when the store cannot be read. */
bool jc_prefetch_family_fetch(jc_cache *c, const jc_cand *parent,
                              jc_family *out);
/* Stop the prefetch thread and free what it fetched (at close). */
void jc_prefetch_free(jc_cache *c);

#endif
