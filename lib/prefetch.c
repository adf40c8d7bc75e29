/*
** lib/prefetch.c — looking keys up ahead of need, on a background thread.
**
** A lookup on the reload path costs more than a microsecond, and two thirds
** of that is validating the candidates (the checksum, then every section and
** entry).  A client that knows its loops' keys early (a VM, once it has
** compiled the program to bytecode) hands them to jc_cache_prefetch; this
** thread then looks each one up, copies every record into private memory,
** validates the copy (jc_store_validate, so rejects are counted exactly as
** jc_lookup counts them), and follows each record's exits into the bridges
** saved for them.  jc_lookup asks jc_prefetch_find first: a key fetched is
** answered from the table, with candidates that stay valid until the cache
** closes and hold no LMDB transaction.
**
** Private copies, not views into the map: the copy is what was validated
** and what the commit reads, so another process cannot change a record
** between the two, and no long-lived read transaction pins old pages.
**
** The thread runs at SCHED_IDLE: it takes a CPU the program leaves free and
** never delays the program.  Because it may then sit preempted for a while,
** jc_lookup only trylocks the table; when the lock is held it does the
** lookup itself.
*/
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "internal.h"

/* One key fetched: its validated candidates (possibly none). */
typedef struct pf_entry {
  jc_key key;
  bool used;
  uint32_t n;
  jc_cand *v;
} pf_entry;

/* Record copies and candidate arrays come from chunks, freed at close. */
typedef struct pf_chunk {
  struct pf_chunk *next;
  size_t used, cap;
  _Alignas(16) uint8_t data[];
} pf_chunk;

#define PF_CHUNK (256u << 10)

struct jc_prefetch {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* keys queued, or stop */
  pthread_cond_t idle; /* the thread ran out of keys */
  pthread_t thread;
  bool started, stop;
  bool busy; /* keys queued or being fetched */

  /* Keys to fetch, first in first out: the loop keys a client gives come
  ** before the bridges found in their records (a loop is checked before
  ** its bridges), and those of a level before the next level's. */
  jc_key *todo;
  size_t head, ntodo, captodo; /* todo[head .. ntodo) */

  pf_entry *tab; /* open addressing on key.lo, a power of two */
  size_t cap, count;

  pf_chunk *chunks; /* the thread's alone */
  jc_prefetch_info info;
};

/* -- The table ------------------------------------------------------------------ */

static pf_entry *slot_of(pf_entry *tab, size_t cap, jc_key key) {
  for (size_t i = (size_t)key.lo & (cap - 1);; i = (i + 1) & (cap - 1))
    if (!tab[i].used || (tab[i].key.lo == key.lo && tab[i].key.hi == key.hi))
      return &tab[i];
}

static bool tab_has(const jc_prefetch *pf, jc_key key) {
  return pf->cap && slot_of(pf->tab, pf->cap, key)->used;
}

/* Insert (pf->lock held); false when out of memory (the key is then left to
** jc_lookup). */
static bool tab_put(jc_prefetch *pf, jc_key key, jc_cand *v, uint32_t n) {
  if ((pf->count + 1) * 2 > pf->cap) {
    size_t cap = pf->cap ? pf->cap * 2 : 256;
    pf_entry *tab = calloc(cap, sizeof *tab);
    if (!tab) return false;
    for (size_t i = 0; i < pf->cap; i++)
      if (pf->tab[i].used) *slot_of(tab, cap, pf->tab[i].key) = pf->tab[i];
    free(pf->tab);
    pf->tab = tab;
    pf->cap = cap;
  }
  pf_entry *e = slot_of(pf->tab, pf->cap, key);
  *e = (pf_entry){key, true, n, v};
  pf->count++;
  return true;
}

/* Queue keys (pf->lock held). */
static bool todo_push(jc_prefetch *pf, const jc_key *keys, size_t n) {
  if (n == 0) return true;
  if (pf->head > 0 && pf->ntodo + n > pf->captodo) {
    memmove(pf->todo, pf->todo + pf->head, (pf->ntodo - pf->head) * sizeof *pf->todo);
    pf->ntodo -= pf->head;
    pf->head = 0;
  }
  if (pf->ntodo + n > pf->captodo) {
    size_t cap = pf->captodo ? pf->captodo : 64;
    while (cap < pf->ntodo + n) cap *= 2;
    jc_key *t = realloc(pf->todo, cap * sizeof *t);
    if (!t) return false;
    pf->todo = t;
    pf->captodo = cap;
  }
  memcpy(pf->todo + pf->ntodo, keys, n * sizeof *keys);
  pf->ntodo += n;
  return true;
}

/* -- Memory ------------------------------------------------------------------------- */

static void *chunk_alloc(jc_prefetch *pf, size_t len) {
  len = (len + 15) & ~(size_t)15;
  pf_chunk *k = pf->chunks;
  if (!k || k->cap - k->used < len) {
    size_t cap = len > PF_CHUNK ? len : PF_CHUNK;
    k = malloc(sizeof *k + cap);
    if (!k) return NULL;
    k->used = 0;
    k->cap = cap;
    k->next = pf->chunks;
    pf->chunks = k;
  }
  void *p = k->data + k->used;
  k->used += len;
  return p;
}

/* Give back the last allocation (a record that failed validation). */
static void chunk_unalloc(jc_prefetch *pf, size_t len) {
  len = (len + 15) & ~(size_t)15;
  if (pf->chunks && pf->chunks->used >= len) pf->chunks->used -= len;
}

/* -- One key ------------------------------------------------------------------------- */

typedef struct pf_fetch {
  jc_cache *c;
  jc_prefetch *pf;
  jc_key key;
  jc_cand *v; /* this key's candidates, malloc'd, then copied into a chunk */
  size_t n, cap;
  jc_key *bridges; /* the batch's bridge keys, queued after it */
  size_t nbridges, capbridges;
  uint64_t bytes; /* this key's records */
  uint64_t kept;  /* all records kept so far (for the budget) */
} pf_fetch;

static bool grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return true;
  size_t c = *cap ? *cap * 2 : 8;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * size);
  if (!q) return false;
  *p = q;
  *cap = c;
  return true;
}

static jc_err fetch_one(void *ctx, uint64_t id, const void *rec, size_t len) {
  pf_fetch *f = ctx;
  jc_prefetch *pf = f->pf;
  if (f->kept + f->bytes + len > JC_PREFETCH_MAX_BYTES)
    return JC_NOMEM; /* over budget: the key is left to jc_lookup */
  uint8_t *copy = chunk_alloc(pf, len);
  if (!copy) return JC_NOMEM;
  if (len) memcpy(copy, rec, len);
  jc_view view;
  if (!jc_store_validate(f->c, f->key, id, copy, len, &view)) {
    chunk_unalloc(pf, len);
    return JC_OK;
  }
  if (!grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v) ||
      !grow((void **)&f->bridges, &f->capbridges, f->nbridges + view.nexits,
            sizeof *f->bridges))
    return JC_NOMEM;
  f->v[f->n].view = view;
  f->v[f->n].id = id;
  f->n++;
  f->bytes += len;
  for (uint32_t i = 0; i < view.nexits; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(&view, i, &e);
    f->bridges[f->nbridges++] = jc_key_bridge(id, e.guard);
  }
  return JC_OK;
}

/* One key of a batch, fetched. */
typedef struct pf_done {
  jc_key key;
  jc_cand *v;
  uint32_t n;
  bool ok;
  uint64_t bytes;
} pf_done;

#define PF_BATCH 32

/* Fetch one key (no lock held): its candidates go into a chunk, its
** records' bridge keys onto f->bridges. */
static void fetch_key(pf_fetch *f, MDB_txn *txn, pf_done *d) {
  size_t nbridges = f->nbridges;
  f->key = d->key;
  f->n = 0;
  f->bytes = 0;
  jc_err err = txn ? jc_store_each(f->c, txn, d->key, fetch_one, f) : JC_IO;
  d->v = NULL;
  if (!err && f->n) {
    d->v = chunk_alloc(f->pf, f->n * sizeof *d->v);
    if (d->v) memcpy(d->v, f->v, f->n * sizeof *d->v);
    else err = JC_NOMEM;
  }
  d->ok = !err;
  d->n = (uint32_t)f->n;
  d->bytes = f->bytes;
  if (err) f->nbridges = nbridges; /* the key is left to jc_lookup, whole */
  else f->kept += f->bytes;
}

static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The thread: keys in batches, each batch under one read transaction and
** published in one critical section. */
static void *prefetch_main(void *arg) {
  jc_cache *c = arg;
  jc_prefetch *pf = c->prefetch;
  MDB_txn *txn = NULL;
  pf_fetch f = {.c = c, .pf = pf};
  pf_done batch[PF_BATCH];
  /* Set up before the keys come (the client starts the thread early): the
  ** read transaction.  Not the chunk's pages: a run with nothing cached
  ** would pay for them for nothing. */
  if (jc_store_txn_begin(c, MDB_RDONLY, &txn)) txn = NULL;
  else mdb_txn_reset(txn);
  pthread_mutex_lock(&pf->lock);
  for (;;) {
    if (pf->head == pf->ntodo) {
      pf->head = pf->ntodo = 0;
      pf->busy = false;
      pthread_cond_broadcast(&pf->idle);
      if (pf->stop) break;
      pthread_cond_wait(&pf->wake, &pf->lock);
      continue;
    }
    if (pf->stop) break;
    size_t nb = 0;
    while (nb < PF_BATCH && pf->head < pf->ntodo) {
      jc_key key = pf->todo[pf->head++];
      bool dup = tab_has(pf, key);
      for (size_t i = 0; i < nb && !dup; i++)
        dup = batch[i].key.lo == key.lo && batch[i].key.hi == key.hi;
      if (!dup) batch[nb++].key = key;
    }
    f.nbridges = 0;
    pthread_mutex_unlock(&pf->lock);

    int rc = txn ? mdb_txn_renew(txn) : jc_store_txn_begin(c, MDB_RDONLY, &txn);
    if (rc && txn) { /* e.g. the map grew: begin afresh */
      mdb_txn_abort(txn);
      txn = NULL;
      rc = jc_store_txn_begin(c, MDB_RDONLY, &txn);
    }
    if (rc) txn = NULL;
    for (size_t i = 0; i < nb; i++) fetch_key(&f, txn, &batch[i]);
    if (txn) mdb_txn_reset(txn);

    pthread_mutex_lock(&pf->lock);
    for (size_t i = 0; i < nb; i++) {
      pf->info.keys++;
      /* A key that failed stays out of the table: jc_lookup looks it up. */
      if (batch[i].ok && tab_put(pf, batch[i].key, batch[i].v, batch[i].n)) {
        pf->info.records += batch[i].n;
        pf->info.bytes += batch[i].bytes;
      }
    }
    todo_push(pf, f.bridges, f.nbridges);
    pf->info.cpu_ns = thread_cpu_ns();
  }
  pf->busy = false;
  pthread_cond_broadcast(&pf->idle);
  pthread_mutex_unlock(&pf->lock);
  if (txn) mdb_txn_abort(txn);
  free(f.v);
  free(f.bridges);
  return NULL;
}

/* -- API ---------------------------------------------------------------------------- */

static jc_prefetch *get_prefetch(jc_cache *c) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (pf) return pf;
  pf = calloc(1, sizeof *pf);
  if (!pf) return NULL;
  pthread_mutex_init(&pf->lock, NULL);
  pthread_cond_init(&pf->idle, NULL);
  pthread_cond_init(&pf->wake, NULL);
  jc_prefetch *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&c->prefetch, &none, pf,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    pthread_mutex_destroy(&pf->lock);
    pthread_cond_destroy(&pf->idle);
    pthread_cond_destroy(&pf->wake);
    free(pf);
    return none; /* another thread's */
  }
  return pf;
}

JC_API jc_err jc_cache_prefetch(jc_cache *c, const jc_key *keys, size_t n) {
  if (!c || (n && !keys))
    return jc_fail(JC_INVAL, "jcache: jc_cache_prefetch: %s is NULL",
                   c ? "keys" : "cache");
  if (!c->has_dbi) return JC_OK; /* an empty store: nothing to fetch */
  jc_prefetch *pf = get_prefetch(c);
  if (!pf) return jc_fail(JC_NOMEM, "jcache: out of memory in prefetch");
  jc_err err = JC_OK;
  pthread_mutex_lock(&pf->lock);
  if (pf->stop) goto out;
  if (!todo_push(pf, keys, n)) {
    err = jc_fail(JC_NOMEM, "jcache: out of memory in prefetch");
    goto out;
  }
  if (n) {
    pf->busy = true;
    pthread_cond_signal(&pf->wake);
  }
  if (!pf->started) {
    pf->started = pthread_create(&pf->thread, NULL, prefetch_main, c) == 0;
    if (!pf->started) {
      pf->head = pf->ntodo = 0;
      pf->busy = false;
      err = jc_fail(JC_IO, "jcache: cannot start the prefetch thread");
    }
  }
out:
  pthread_mutex_unlock(&pf->lock);
  return err;
}

JC_API void jc_cache_prefetch_wait(jc_cache *c) {
  jc_prefetch *pf = c ? atomic_load_explicit(&c->prefetch, memory_order_acquire)
                      : NULL;
  if (!pf) return;
  pthread_mutex_lock(&pf->lock);
  while (pf->busy) pthread_cond_wait(&pf->idle, &pf->lock);
  pthread_mutex_unlock(&pf->lock);
}

JC_API void jc_cache_prefetch_info(jc_cache *c, jc_prefetch_info *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  jc_prefetch *pf = c ? atomic_load_explicit(&c->prefetch, memory_order_acquire)
                      : NULL;
  if (!pf) return;
  pthread_mutex_lock(&pf->lock);
  *out = pf->info;
  out->busy = pf->busy;
  pthread_mutex_unlock(&pf->lock);
}

bool jc_prefetch_find(jc_cache *c, jc_key key, jc_cands *cs) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (!pf || pthread_mutex_trylock(&pf->lock)) return false;
  bool found = tab_has(pf, key);
  if (found) {
    const pf_entry *e = slot_of(pf->tab, pf->cap, key);
    cs->v = e->v;
    cs->n = cs->cap = e->n;
    cs->shared = true;
    pf->info.served++;
  }
  pthread_mutex_unlock(&pf->lock);
  return found;
}

void jc_prefetch_free(jc_cache *c) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (!pf) return;
  pthread_mutex_lock(&pf->lock);
  pf->stop = true;
  pthread_cond_signal(&pf->wake);
  pthread_mutex_unlock(&pf->lock);
  if (pf->started) pthread_join(pf->thread, NULL);
  for (pf_chunk *k = pf->chunks, *next; k; k = next) {
    next = k->next;
    free(k);
  }
  free(pf->tab);
  free(pf->todo);
  pthread_mutex_destroy(&pf->lock);
  pthread_cond_destroy(&pf->idle);
  pthread_cond_destroy(&pf->wake);
  free(pf);
  c->prefetch = NULL;
}
