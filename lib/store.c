/*
** lib/store.c — the LMDB store: writer thread, lookups, rejects.
**
** Layout: one LMDB table "traces"; the key of a record is
**   namespace hash (16 bytes) | lookup key (16) | trace id (8)
** so the candidates of a key are a contiguous range found with one cursor
** seek, and another namespace's records are never even visited.  Beside
** it, "usage" (per record: last use, hits) and "giveups" (lib/giveup.c:
** keys a JIT gave up tracing, keyed without the trace id); the writer
** thread writes all three.
**
** Persisting never stalls the JIT: jc_rec_finish() queues the serialized
** record and a writer thread commits queued records in batches (LMDB's commit
** does the fsync, off the JIT's path).  A crash loses at most the queue and,
** a system crash, the last transaction (MDB_NOMETASYNC, jc_store_open); a
** half-written transaction is never visible, and the checksum catches what the
** disk itself garbles.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "internal.h"
#include "jcache/mem.h"
#include "probes.h"
#include "thread.h"

/* -- Keys ----------------------------------------------------------------------- */

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

void jc_store_key(uint8_t out[40], jc_key ns, jc_key key, uint64_t id) {
  put64(out, ns.lo);
  put64(out + 8, ns.hi);
  put64(out + 16, key.lo);
  put64(out + 24, key.hi);
  put64(out + 32, id);
}

/* -- Open and close --------------------------------------------------------------- */

static jc_err mdb_fail(int rc, const char *what, const char *dir) {
  jc_err err = (rc == MDB_MAP_FULL) ? JC_FULL : JC_IO;
  return jc_fail(err, "jcache: %s in %s: %s", what, dir, mdb_strerror(rc));
}

int jc_store_txn_begin(jc_cache *c, unsigned flags, MDB_txn **txn) {
  int rc = mdb_txn_begin(c->env, NULL, flags, txn);
  if (rc == MDB_MAP_RESIZED) {
    mdb_env_set_mapsize(c->env, 0);
    rc = mdb_txn_begin(c->env, NULL, flags, txn);
  }
  return rc;
}

jc_err jc_store_open(jc_cache *c) {
  int rc = mdb_env_create(&c->env);
  if (rc) return mdb_fail(rc, "cannot create the store", c->dir);
  mdb_env_set_mapsize(c->env, c->max_size);
  mdb_env_set_maxdbs(c->env, 8);
  mdb_env_set_maxreaders(c->env, 254);
  /* NOTLS: read transactions are not tied to threads, so a jc_cands may be
  ** released by another thread and spare transactions can be reused.
  ** NOMETASYNC: a commit flushes its data pages but not the meta page
  ** (the next commit's flush carries it), so a system crash may undo the
  ** last transaction and never leaves the store inconsistent.  For a cache
  ** that is the right trade: a record lost is compiled again, while the
  ** second flush was a synchronous write that every run waited for at
  ** close (fannkuch-redux N = 7, one iteration, whole process, 30
  ** alternating runs: cold 10.83 -> 10.07 ms, warm 8.18 -> 7.87 ms). */
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
  if (c->flags & JC_CACHE_READONLY) flags |= MDB_RDONLY;
  rc = mdb_env_open(c->env, c->dir, flags, 0600);
  if (rc) {
    jc_err err = mdb_fail(rc, "cannot open the store", c->dir);
    mdb_env_close(c->env);
    c->env = NULL;
    return err;
  }
  int dead = 0;
  mdb_reader_check(c->env, &dead); /* slots of killed readers */

  MDB_txn *txn;
  bool ro = c->flags & JC_CACHE_READONLY;
  rc = jc_store_txn_begin(c, ro ? MDB_RDONLY : 0, &txn);
  if (rc) return mdb_fail(rc, "cannot begin a transaction", c->dir);
  rc = mdb_dbi_open(txn, "traces", ro ? 0 : MDB_CREATE, &c->dbi);
  if (rc == 0) {
    c->has_usage =
        mdb_dbi_open(txn, "usage", ro ? 0 : MDB_CREATE, &c->usage_dbi) == 0;
    c->has_giveups =
        mdb_dbi_open(txn, "giveups", ro ? 0 : MDB_CREATE, &c->giveup_dbi) == 0;
    c->has_programs =
        mdb_dbi_open(txn, "programs", ro ? 0 : MDB_CREATE, &c->program_dbi) == 0;
  }
  if (rc == MDB_NOTFOUND && ro) {
    mdb_txn_abort(txn);
    return JC_OK; /* an empty store: lookups find nothing */
  }
  if (rc) {
    mdb_txn_abort(txn);
    return mdb_fail(rc, "cannot open the trace table", c->dir);
  }
  rc = mdb_txn_commit(txn);
  if (rc) return mdb_fail(rc, "cannot commit", c->dir);
  c->has_dbi = true;
  return JC_OK;
}

static void release_touches(jc_cache *c);

void jc_store_close(jc_cache *c) {
  if (!c->env) return;
  release_touches(c);
  pthread_mutex_lock(&c->qlock);
  c->stopping = true;
  pthread_cond_broadcast(&c->qwake);
  bool running = c->writer_running;
  pthread_mutex_unlock(&c->qlock);
  if (running) pthread_join(c->writer, NULL);
  if (c->spare_txn) mdb_txn_abort(c->spare_txn);
  c->spare_txn = NULL;
  mdb_env_close(c->env);
  c->env = NULL;
}

/* -- Writing ------------------------------------------------------------------------- */

/* A trace record (not a usage touch, not a side entry). */
static bool is_record(const jc_pending *p) { return p->rec && !p->side; }

static void free_pending(jc_pending *p) {
  while (p) {
    jc_pending *next = p->next;
    free(p->rec);
    jc_mem_free(p);
    p = next;
  }
}

/* The usage entry of a record: when it was last reloaded, how often, and
** when it was written (for `jcache ls` and `jcache gc`).  24 bytes, LE. */
typedef struct usage {
  uint64_t last_used, hits, created;
} usage;

/* Update the usage table for the touches in a batch (records written get
** their created time; committed ones a hit).  Best effort: a failure here
** only loses statistics, never a record. */
static void write_usage(jc_cache *c, jc_pending *batch) {
  MDB_txn *txn;
  if (!c->has_usage || jc_store_txn_begin(c, 0, &txn)) return;
  uint64_t now = (uint64_t)time(NULL);
  int rc = 0;
  for (jc_pending *p = batch; p && !rc; p = p->next) {
    if (p->side) continue;
    MDB_val k = {sizeof p->lkey, p->lkey}, v;
    usage u = {0, 0, 0};
    if (mdb_get(txn, c->usage_dbi, &k, &v) == 0 && v.mv_size == sizeof u)
      memcpy(&u, v.mv_data, sizeof u);
    if (p->rec) {
      if (u.created) continue; /* rewritten: same id, same content */
      u.created = u.last_used = now;
    } else {
      u.hits++;
      u.last_used = now;
    }
    v.mv_size = sizeof u;
    v.mv_data = &u;
    rc = mdb_put(txn, c->usage_dbi, &k, &v, 0);
  }
  if (rc) mdb_txn_abort(txn);
  else mdb_txn_commit(txn);
}

/* Write a batch's records and side entries in one transaction, then its
** usage updates.  Returns the number of records and side entries written
** (1 for a batch of touches alone), 0 on failure. */
static size_t write_batch(jc_cache *c, jc_pending *batch) {
  size_t n = 0, ng = 0, written = 0;
  for (jc_pending *p = batch; p; p = p->next) {
    n += is_record(p);
    ng += p->side; /* queued only where the table is (jc_store_put_side) */
  }
  MDB_txn *txn;
  int rc = n + ng ? jc_store_txn_begin(c, 0, &txn) : 0;
  if (n + ng && !rc) {
    for (jc_pending *p = batch; p && !rc; p = p->next) {
      if (p->side) {
        /* Keyed by namespace and key (no trace id): a later one replaces. */
        MDB_val k = {32, p->lkey}, v = {p->len, p->rec};
        rc = mdb_put(txn, p->side_dbi, &k, &v, 0);
        continue;
      }
      if (!p->rec) continue; /* a touch */
      MDB_val k = {sizeof p->lkey, p->lkey}, v = {p->len, p->rec};
      rc = mdb_put(txn, c->dbi, &k, &v, MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) rc = 0; /* same id: same content */
    }
    if (rc) mdb_txn_abort(txn);
    else rc = mdb_txn_commit(txn);
  }
  if (rc) {
    /* A full store or an I/O error: the records are lost, the JIT runs on. */
    jc_stat_add(write_errors, n);
    for (jc_pending *p = batch; p; p = p->next)
      if (is_record(p)) JC_PROBE(write_error, p->trace_id, rc, mdb_strerror(rc));
    return 0;
  }
  for (jc_pending *p = batch; p; p = p->next) {
    if (!is_record(p)) continue;
    written++;
    JC_PROBE(record_write, p->trace_id, jc_ld64(p->lkey + 16),
             jc_ld64(p->lkey + 24), p->len);
  }
  jc_stat_add(records_written, written);
  write_usage(c, batch);
  return n + ng ? written + ng : 1;
}

static void *writer_main(void *arg) {
  jc_cache *c = arg;
  pthread_mutex_lock(&c->qlock);
  for (;;) {
    while (!c->qhead && !c->stopping) pthread_cond_wait(&c->qwake, &c->qlock);
    if (!c->qhead) break; /* stopping with nothing left */
    jc_pending *batch = c->qhead;
    size_t n = 0;
    for (jc_pending *p = batch; p; p = p->next) n++;
    c->qhead = c->qtail = NULL;
    pthread_mutex_unlock(&c->qlock);
    write_batch(c, batch);
    free_pending(batch);
    pthread_mutex_lock(&c->qlock);
    c->done += n;
    pthread_cond_broadcast(&c->qdone);
  }
  pthread_mutex_unlock(&c->qlock);
  return NULL;
}

/* Hand a pending entry to the writer thread (started on first use), or
** write it now with JC_CACHE_SYNC_WRITE. */
static jc_err enqueue(jc_cache *c, jc_pending *p) {
  if (c->flags & JC_CACHE_SYNC_WRITE) {
    size_t ok = write_batch(c, p);
    free_pending(p);
    return ok ? JC_OK
              : jc_fail(JC_IO, "jcache: could not write a record to %s",
                        c->dir);
  }
  pthread_mutex_lock(&c->qlock);
  if (!c->writer_running) {
    if (!jc_thread_start(&c->writer, false, writer_main, c, "jc-writer")) {
      pthread_mutex_unlock(&c->qlock);
      if (is_record(p)) {
        jc_stat_add(write_errors, 1);
        JC_PROBE(write_error, p->trace_id, 0, "cannot start the writer thread");
      }
      free_pending(p);
      return jc_fail(JC_IO, "jcache: cannot start the writer thread");
    }
    c->writer_running = true;
  }
  if (c->qtail) c->qtail->next = p;
  else c->qhead = p;
  c->qtail = p;
  c->queued++;
  pthread_cond_signal(&c->qwake);
  pthread_mutex_unlock(&c->qlock);
  return JC_OK;
}

jc_pending *jc_store_pending(jc_cache *c, jc_key key, uint64_t trace_id) {
  /* From jc_mem: a commit's usage touch allocates one, on the reload path. */
  jc_pending *p = jc_mem_calloc(sizeof *p);
  if (p) {
    jc_store_key(p->lkey, c->ns, key, trace_id);
    p->trace_id = trace_id;
  }
  return p;
}

jc_err jc_store_put(jc_cache *c, jc_key key, uint64_t trace_id, void *rec,
                    size_t len) {
  if ((c->flags & JC_CACHE_READONLY) || !c->has_dbi) {
    free(rec);
    return jc_fail(JC_DISABLED, "jcache: the cache at %s is read-only", c->dir);
  }
  jc_pending *p = jc_store_pending(c, key, trace_id);
  if (!p) {
    free(rec);
    return jc_fail(JC_NOMEM, "jcache: out of memory queueing a record");
  }
  p->rec = rec;
  p->len = len;
  return enqueue(c, p);
}

jc_err jc_store_put_side(jc_cache *c, MDB_dbi dbi, bool has, jc_key key,
                         void *val, size_t len) {
  if ((c->flags & JC_CACHE_READONLY) || !has) {
    free(val);
    return jc_fail(JC_DISABLED, "jcache: the cache at %s is read-only", c->dir);
  }
  jc_pending *p = jc_store_pending(c, key, 0);
  if (!p) {
    free(val);
    return jc_fail(JC_NOMEM, "jcache: out of memory queueing an entry");
  }
  p->side = true;
  p->side_dbi = dbi;
  p->rec = val;
  p->len = len;
  return enqueue(c, p);
}

/* Hand the held usage touches to the writer. */
static void release_touches(jc_cache *c) {
  pthread_mutex_lock(&c->qlock);
  struct jc_touch *t = c->touches;
  size_t n = c->ntouches;
  c->touches = NULL;
  c->ntouches = c->cap_touches = 0;
  pthread_mutex_unlock(&c->qlock);
  for (size_t i = 0; i < n; i++) {
    jc_pending *p = jc_store_pending(c, t[i].key, t[i].id);
    if (p) enqueue(c, p);
  }
  jc_mem_free(t);
}

/* Touches are held back, not queued: writing them while the program warms
** up would put the writer thread's transactions and fsyncs on the CPU just
** when the JIT needs it.  They go out at flush and close, or in bulk.  A
** touch is on every commit's path: a pair appended to one block (from
** jc_mem), not a queued record made now. */
#define TOUCH_BULK 1024

/* Room for one more touch (c->qlock held): the block doubles from 64
** pairs (1.5 KiB) to TOUCH_BULK (24 KiB), never a whole chunk of jc_mem's
** populated memory at once (one of 48 KiB did, at the first touch, and
** later reloads met chunks mapped on demand). */
static bool touch_room(jc_cache *c) {
  if (c->ntouches < c->cap_touches) return true;
  size_t cap = c->cap_touches ? 2 * c->cap_touches : 64;
  struct jc_touch *t = jc_mem_alloc(cap * sizeof *t);
  if (!t) return false;
  if (c->ntouches) memcpy(t, c->touches, c->ntouches * sizeof *t);
  jc_mem_free(c->touches);
  c->touches = t;
  c->cap_touches = cap;
  return true;
}

void jc_store_touch(jc_cache *c, jc_key key, uint64_t trace_id) {
  if ((c->flags & JC_CACHE_READONLY) || !c->has_usage) return;
  pthread_mutex_lock(&c->qlock);
  bool bulk = false;
  if (touch_room(c)) {
    c->touches[c->ntouches++] = (struct jc_touch){key, trace_id};
    bulk = c->ntouches == TOUCH_BULK;
  }
  pthread_mutex_unlock(&c->qlock);
  if (bulk) release_touches(c);
}

jc_err jc_store_flush(jc_cache *c) {
  release_touches(c);
  pthread_mutex_lock(&c->qlock);
  uint64_t target = c->queued;
  while (c->writer_running && c->done < target)
    pthread_cond_wait(&c->qdone, &c->qlock);
  pthread_mutex_unlock(&c->qlock);
  return JC_OK;
}

/* -- Rejects ------------------------------------------------------------------------- */

void jc_store_count_reject(jc_key key, uint64_t id, jc_reject why,
                           const char *detail) {
  jc_stat_add(records_rejected, 1);
  switch (why) {
  case JC_REJECT_TRUNCATED: jc_stat_add(rejected_truncated, 1); break;
  case JC_REJECT_MAGIC: jc_stat_add(rejected_magic, 1); break;
  case JC_REJECT_NAMESPACE: jc_stat_add(rejected_namespace, 1); break;
  case JC_REJECT_CHECKSUM: jc_stat_add(rejected_checksum, 1); break;
  case JC_REJECT_BOUNDS: jc_stat_add(rejected_bounds, 1); break;
  case JC_REJECT_ENTRY:
  case JC_REJECT_NONE: jc_stat_add(rejected_entry, 1); break;
  }
  JC_PROBE(reject, key.lo, key.hi, id, (int)why, jc_fmt_reject_name(why),
           detail ? detail : "");
}

/* -- Lookup ------------------------------------------------------------------------------- */

/* A read transaction: the spare one renewed, or a new one. */
int jc_store_read_txn(jc_cache *c, MDB_txn **txn) {
  pthread_mutex_lock(&c->spare_lock);
  MDB_txn *t = c->spare_txn;
  c->spare_txn = NULL;
  pthread_mutex_unlock(&c->spare_lock);
  if (t) {
    int rc = mdb_txn_renew(t);
    if (!rc) {
      *txn = t;
      return 0;
    }
    mdb_txn_abort(t);
  }
  return jc_store_txn_begin(c, MDB_RDONLY, txn);
}

/* Keep t as the spare, or abort it. */
void jc_store_release_txn(jc_cache *c, MDB_txn *t) {
  mdb_txn_reset(t);
  pthread_mutex_lock(&c->spare_lock);
  if (!c->spare_txn) {
    c->spare_txn = t;
    t = NULL;
  }
  pthread_mutex_unlock(&c->spare_lock);
  if (t) mdb_txn_abort(t);
}

/* Records whose store key starts with prefix[0, plen). */
static jc_err each_prefix(jc_cache *c, MDB_txn *txn, const uint8_t prefix[40],
                          size_t plen, jc_store_each_fn fn, void *ctx) {
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, c->dbi, &cur);
  if (rc) return mdb_fail(rc, "cannot open a cursor", c->dir);
  MDB_val k = {40, (void *)prefix}, v;
  jc_err err = JC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !err;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size != 40 || memcmp(k.mv_data, prefix, plen) != 0) break;
    const uint8_t *kb = k.mv_data;
    jc_key key = {jc_ld64(kb + 16), jc_ld64(kb + 24)};
    err = fn(ctx, key, jc_ld64(kb + 32), v.mv_data, v.mv_size);
  }
  mdb_cursor_close(cur);
  return err;
}

jc_err jc_store_each(jc_cache *c, MDB_txn *txn, jc_key key,
                     jc_store_each_fn fn, void *ctx) {
  uint8_t prefix[40];
  jc_store_key(prefix, c->ns, key, 0);
  return each_prefix(c, txn, prefix, 32, fn, ctx);
}

jc_err jc_store_each_family(jc_cache *c, MDB_txn *txn, uint64_t family,
                            jc_store_each_fn fn, void *ctx) {
  uint8_t prefix[40];
  jc_store_key(prefix, c->ns, (jc_key){family, 0}, 0);
  return each_prefix(c, txn, prefix, 24, fn, ctx);
}

bool jc_store_validate(jc_cache *c, jc_key key, uint64_t id, const void *rec,
                       size_t len, jc_view *view) {
  char detail[160];
  jc_reject why = jc_fmt_parse(rec, len, c->ns, view, detail, sizeof detail);
  if (why == JC_REJECT_NONE &&
      (view->hdr.key_lo != key.lo || view->hdr.key_hi != key.hi ||
       view->hdr.trace_id != id)) {
    why = JC_REJECT_NAMESPACE;
    snprintf(detail, sizeof detail, "record's key or id differs from its "
                                    "store key");
  }
  if (why == JC_REJECT_NONE) return true;
  jc_store_count_reject(key, id, why, detail);
  return false;
}

static jc_err cands_push(jc_cands *cs, const jc_view *v, uint64_t id) {
  if (cs->n == cs->cap) {
    size_t cap = cs->cap ? cs->cap * 2 : 4;
    jc_cand *nv = realloc(cs->v, cap * sizeof *nv);
    if (!nv) return jc_fail(JC_NOMEM, "jcache: out of memory in lookup");
    cs->v = nv;
    cs->cap = cap;
  }
  cs->v[cs->n].view = *v;
  cs->v[cs->n].id = id;
  cs->n++;
  return JC_OK;
}

/* A record met by jc_lookup: validated in place, in the map. */
static jc_err lookup_one(void *ctx, jc_key key, uint64_t id, const void *rec,
                         size_t len) {
  jc_cands *cs = ctx;
  jc_view view;
  if (!jc_store_validate(cs->cache, key, id, rec, len, &view))
    return JC_OK;
  return cands_push(cs, &view, id);
}

JC_API jc_err jc_lookup(jc_cache *c, jc_key key, jc_cands **out) {
  if (!out) return jc_fail(JC_INVAL, "jcache: jc_lookup: out is NULL");
  *out = NULL;
  if (!c) return jc_fail(JC_INVAL, "jcache: jc_lookup: cache is NULL");
  jc_cands *cs = jc_mem_calloc(sizeof *cs); /* one per lookup: no malloc */
  if (!cs) return jc_fail(JC_NOMEM, "jcache: out of memory in lookup");
  cs->cache = c;
  cs->key = key;
  jc_stat_add(lookups, 1);
  /* Looked up ahead by the prefetch thread: its candidates, shared. */
  if (!c->has_dbi || jc_prefetch_find(c, key, cs)) goto done;

  MDB_txn *txn;
  int rc = jc_store_read_txn(c, &txn);
  if (rc) {
    jc_mem_free(cs);
    return mdb_fail(rc, "cannot begin a lookup", c->dir);
  }
  jc_err err = jc_store_each(c, txn, key, lookup_one, cs);
  if (err || cs->n == 0) jc_store_release_txn(c, txn);
  else cs->txn = txn;
  if (err) {
    free(cs->v);
    jc_mem_free(cs);
    return err;
  }

done:
  jc_stat_add(candidates, cs->n);
  JC_PROBE(lookup, key.lo, key.hi, cs->n);
  *out = cs;
  return JC_OK;
}

JC_API size_t jc_cands_count(const jc_cands *cs) { return cs ? cs->n : 0; }

JC_API uint64_t jc_cands_id(const jc_cands *cs, size_t i) {
  return (cs && i < cs->n) ? cs->v[i].id : 0;
}

JC_API const void *jc_cands_aux(const jc_cands *cs, size_t i, size_t *len) {
  if (len) *len = 0;
  if (!cs || i >= cs->n || !cs->v[i].view.aux_len) return NULL;
  if (len) *len = cs->v[i].view.aux_len;
  return cs->v[i].view.aux;
}

JC_API void jc_cands_release(jc_cands *cs) {
  if (!cs) return;
  if (cs->txn) jc_store_release_txn(cs->cache, cs->txn);
  if (!cs->shared) free(cs->v);
  jc_mem_free(cs);
}
