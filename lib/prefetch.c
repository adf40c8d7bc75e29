/*
** lib/prefetch.c — looking keys up ahead of need, on a background thread.
**
** A lookup on the reload path costs more than a microsecond, and two thirds
** of that is validating the candidates (the checksum, then every section and
** entry).  A client that knows its loops' keys early (a VM, once it has
** compiled the program to bytecode) hands them to jc_cache_prefetch; this
** thread then looks each one up, copies every record into private memory,
** validates the copy (jc_store_validate, so rejects are counted exactly as
** jc_lookup counts them), and reads each record's family: the bridges saved
** for its exits, one range of the store (lib/key.c).  jc_lookup asks
** jc_prefetch_find first: a key fetched is answered from the table, with
** candidates that stay valid until the cache closes and hold no LMDB
** transaction.
**
** Private copies, not views into the map: the copy is what was validated
** and what the commit reads, so another process cannot change a record
** between the two, and no long-lived read transaction pins old pages.
**
** jc_lookup only trylocks the table: when the thread holds the lock (it
** publishes a batch at a time), the program's thread does the lookup itself
** rather than wait.
*/
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "cache.h"
#include "internal.h"
#include "mem.h"
#include "thread.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* One key fetched: its validated candidates (possibly none).  Or a family
** entry (guards set, under family_key): every bridge saved for the exits of
** one trace, each with its exit's guard, so that writing bridges ahead
** (lib/ahead.c) visits the exits that have some, not every exit. */
typedef struct pf_entry {
  jc_key key;
  bool used;
  uint32_t n;
  jc_cand *v;
  const uint32_t *guards;
} pf_entry;

/* A family entry's key: the family's half, and a zero that no exit's key
** has (it is a 64-bit hash, lib/key.c). */
static jc_key family_key(uint64_t parent) {
  return (jc_key){jc_key_family(parent), 0};
}

/* Record copies and candidate arrays come from chunks, freed at close. */
typedef struct pf_chunk {
  struct pf_chunk *next;
  size_t used, cap;
  bool reserved; /* carved from the sync reserve: not malloc's */
  _Alignas(16) uint8_t data[];
} pf_chunk;

#define PF_CHUNK (256u << 10)

/* A key to look up, or (parent set) the family of a record kept: every
** bridge saved for any of its exits, read in one pass (all bridge keys of a
** trace share their lo, lib/key.c), and each exit's key entered in the
** table, with its bridges or with none. */
typedef struct pf_job {
  jc_key key;
  const jc_cand *parent; /* in a chunk: stable until close */
} pf_job;

#define PF_KEY_POLLS 250 /* 50 ms of looking for the first keys */

struct jc_prefetch {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* keys queued, or stop */
  pthread_cond_t idle; /* the thread ran out of keys */
  pthread_t thread;
  bool started, stop;
  bool busy; /* keys queued or being fetched */
  /* No keys given yet: the thread also looks for them every 200 us (for
  ** PF_KEY_POLLS looks at most, then it only waits to be signalled).
  ** Measured: woken by the signal that brought the first keys, it ran up
  ** to 4 ms later (queued on the busy CPU of the program's thread, which
  ** it had been woken from), when a short program's loops had long been
  ** looked up without it. */
  bool got_keys;
  unsigned key_polls;
  bool want_program; /* a program's list to read (jc_cache_prefetch_program) */

  /* Work: the keys a client gives, in its order, except that the family
  ** of a record found goes before the keys still waiting: a loop's bridges
  ** are looked up (and written ahead, lib/ahead.c) soon after it, not
  ** after every other loop of the program.  One level of a family before
  ** the next. */
  pf_job *todo;
  size_t head, ntodo, captodo; /* todo[head .. ntodo) */

  pf_entry *tab; /* open addressing, a power of two */
  size_t cap, count;

  pf_chunk *chunks; /* the thread's alone */
  jc_prefetch_info info;

  /* Families a commit fetched itself (jc_prefetch_family_fetch): their
  ** own chunks and budget, under their own lock, so the thread's are never
  ** touched by another thread. */
  pthread_mutex_t sync_lock;
  pf_chunk *sync_chunks;
  /* Where their chunks come from first: memory this thread maps and
  ** populates a step at a time (reserve_step).  reserve and reserve_want
  ** are set before the first step is handed over; reserve_len (the
  ** thread's) and reserve_used (the commits') change under sync_lock. */
  uint8_t *reserve;    /* PF_SYNC_RESERVE_MAX mapped */
  size_t reserve_len;  /* populated and handed over so far */
  size_t reserve_want; /* how far to go: about the store's size */
  size_t reserve_used; /* carved by commits */
  uint64_t sync_kept;
  uint64_t sync_fetched; /* families read so, entered in the table or not
                            (under sync_lock; info.families_fetched) */
};

/* -- The table ------------------------------------------------------------------ */

/* The home slot mixes both halves: all bridge keys of one trace share
** key.lo (jc_key_bridge), and probing from it made every lookup in a
** family walk the family's run. */
static pf_entry *slot_of(pf_entry *tab, size_t cap, jc_key key) {
  uint64_t h = (key.lo ^ key.hi) * 0x9e3779b97f4a7c15ull;
  for (size_t i = (size_t)(h >> 32) & (cap - 1);; i = (i + 1) & (cap - 1))
    if (!tab[i].used || (tab[i].key.lo == key.lo && tab[i].key.hi == key.hi))
      return &tab[i];
}

static bool tab_has(const jc_prefetch *pf, jc_key key) {
  return pf->cap && slot_of(pf->tab, pf->cap, key)->used;
}

/* Room for `more` entries at most half full (pf->lock held). */
static bool tab_reserve(jc_prefetch *pf, size_t more) {
  if ((pf->count + more) * 2 <= pf->cap) return true;
  size_t cap = pf->cap ? pf->cap : 256;
  while ((pf->count + more) * 2 > cap) cap *= 2;
  pf_entry *tab = calloc(cap, sizeof *tab);
  if (!tab) return false;
  for (size_t i = 0; i < pf->cap; i++)
    if (pf->tab[i].used) *slot_of(tab, cap, pf->tab[i].key) = pf->tab[i];
  free(pf->tab);
  pf->tab = tab;
  pf->cap = cap;
  return true;
}

/* Insert (pf->lock held); false when out of memory (the key is then left to
** jc_lookup). */
static bool tab_put(jc_prefetch *pf, jc_key key, jc_cand *v, uint32_t n,
                    const uint32_t *guards) {
  if (!tab_reserve(pf, 1)) return false;
  pf_entry *e = slot_of(pf->tab, pf->cap, key);
  *e = (pf_entry){key, true, n, v, guards};
  pf->count++;
  return true;
}

/* Queue jobs (pf->lock held). */
static bool todo_push(jc_prefetch *pf, const pf_job *jobs, size_t n) {
  if (n == 0) return true;
  if (pf->head > 0 && pf->ntodo + n > pf->captodo) {
    memmove(pf->todo, pf->todo + pf->head, (pf->ntodo - pf->head) * sizeof *pf->todo);
    pf->ntodo -= pf->head;
    pf->head = 0;
  }
  if (pf->ntodo + n > pf->captodo) {
    size_t cap = pf->captodo ? pf->captodo : 64;
    while (cap < pf->ntodo + n) cap *= 2;
    pf_job *t = realloc(pf->todo, cap * sizeof *t);
    if (!t) return false;
    pf->todo = t;
    pf->captodo = cap;
  }
  memcpy(pf->todo + pf->ntodo, jobs, n * sizeof *jobs);
  pf->ntodo += n;
  return true;
}

/* Queue jobs before the `behind` jobs last in the queue (pf->lock held). */
static bool todo_insert(jc_prefetch *pf, const pf_job *jobs, size_t n, size_t behind) {
  if (n == 0) return true; /* jobs may be NULL then */
  if (!todo_push(pf, jobs, n)) return false; /* room (it may compact) */
  size_t at = pf->ntodo - n - behind;
  memmove(pf->todo + at + n, pf->todo + at, behind * sizeof *pf->todo);
  memcpy(pf->todo + at, jobs, n * sizeof *jobs);
  return true;
}

/* Queue jobs in front of the first waiting key job: behind the families
** already waiting (one level before the next), before the keys (pf->lock
** held). */
static bool todo_push_family(jc_prefetch *pf, const pf_job *jobs, size_t n) {
  size_t at = pf->head;
  while (at < pf->ntodo && pf->todo[at].parent) at++;
  return todo_insert(pf, jobs, n, pf->ntodo - at);
}

/* -- Memory ------------------------------------------------------------------------- */

/* Chunks for the families a commit fetches: from the sync reserve below
** while it lasts, then from malloc like the thread's.  They were meant to
** come from jcache/mem.h's populated chunks, and came from malloc all
** along (64 KiB with this header is more than jc_mem's largest block, 64
** KiB less its own header).  Taken from jc_mem indeed,
** each a whole populated chunk, the page faults inside commits went down
** (perf, warm richards: 53 to 20 per run) but the reload work went up
** (bench/warmup/ab.py, 30 runs, twice: 2910 -> 3450 and 2770 -> 3599 us per
** pass): a first commit's burst used up the ready chunks that its traces
** and the VM's then needed. */
#define PF_SYNC_CHUNK ((64u << 10) - sizeof(pf_chunk))

/* The sync reserve: a commit's first family reads, on a warm run's first
** loop, copied about 23 pages of records into fresh malloc'd pages, a fault
** each (perf, warm richards).  When the store holds records, the prefetch
** thread maps PF_SYNC_RESERVE_MAX and populates as much of it as the store
** is large (within those bounds), PF_SYNC_STEP at a time, handing each step
** to the commits as it is done (reserve_step): two before its first fetch,
** one after each batch of fetches.  Its own, not jc_mem's: nothing else
** runs short of it. */
#define PF_SYNC_STEP ((size_t)64 << 10)
#define PF_SYNC_RESERVE_MIN (2 * PF_SYNC_STEP)
#define PF_SYNC_RESERVE_MAX ((size_t)512 << 10)

static void *chunk_alloc(jc_prefetch *pf, pf_chunk **list, size_t len, bool sync) {
  len = (len + 15) & ~(size_t)15;
  pf_chunk *k = *list;
  if (!k || k->cap - k->used < len) {
    size_t want = sync ? PF_SYNC_CHUNK : PF_CHUNK;
    size_t cap = len > want ? len : want;
    /* sync_lock held: the reserve and its use are the commit's. */
    bool reserved = sync && pf->reserve_len - pf->reserve_used >= sizeof *k + cap;
    if (reserved) {
      k = (pf_chunk *)(pf->reserve + pf->reserve_used);
      pf->reserve_used += sizeof *k + cap;
    } else {
      k = malloc(sizeof *k + cap);
    }
    if (!k) return NULL;
    k->reserved = reserved;
    k->used = 0;
    k->cap = cap;
    k->next = *list;
    *list = k;
  }
  void *p = k->data + k->used;
  k->used += len;
  return p;
}

/* Give back the last allocation (a record that failed validation). */
static void chunk_unalloc(pf_chunk **list, size_t len) {
  len = (len + 15) & ~(size_t)15;
  if (*list && (*list)->used >= len) (*list)->used -= len;
}

static void chunks_free(pf_chunk *k) {
  for (pf_chunk *next; k; k = next) {
    next = k->next;
    if (!k->reserved) free(k);
  }
}

/* -- One job ------------------------------------------------------------------------- */

/* What one batch found: table entries to publish and jobs to queue. */
typedef struct pf_found {
  jc_key key;
  jc_cand *v; /* in a chunk */
  uint32_t n;
  const uint32_t *guards; /* a family entry's (in a chunk), else NULL */
} pf_found;

#define PF_BATCH 32

typedef struct pf_fetch {
  jc_cache *c;
  jc_prefetch *pf;
  pf_chunk **chunks; /* where copies go: the thread's, or sync_chunks */
  bool sync;         /* a commit's (chunk_alloc) */
  jc_cand *v; /* one lookup's or family's candidates, malloc'd */
  jc_key *vkey; /* the key each was stored under */
  size_t n, cap, capkey;
  pf_found *found;
  size_t nfound, capfound;
  pf_job *next; /* the families of the records kept */
  size_t nnext, capnext;
  uint64_t bytes; /* this job's records */
  uint64_t kept;  /* all records kept so far (for the budget) */
  uint8_t *scratch; /* where the client's prepare hook writes first */
  size_t capscratch;
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

/* The client's prepare hook on a record kept (jc_cache_opts.prepare): what
** it writes goes to a scratch buffer, then into a chunk next to the
** record, and the view points at it.  Not on a commit's fetch (f->sync):
** the program's thread would do the work the hook is there to take off
** it.  Best effort: without memory, the record is kept unprepared. */
static void prepare(pf_fetch *f, jc_view *view) {
  jc_cache *c = f->c;
  if (f->sync || !c->prepare || !view->aux_len) return;
  size_t n = 0;
  for (int tries = 0; tries < 2; tries++) {
    n = c->prepare(c->prepare_user, view->aux, view->aux_len, view->code_len,
                   f->scratch, f->capscratch);
    if (n <= f->capscratch || n > JC_PREPARE_MAX) break;
    uint8_t *s = malloc(n);
    if (!s) return;
    free(f->scratch);
    f->scratch = s;
    f->capscratch = n;
  }
  if (n == 0 || n > f->capscratch) return;
  if (f->kept + f->bytes + n > JC_PREFETCH_MAX_BYTES) return;
  void *keep = chunk_alloc(f->pf, f->chunks, n, false);
  if (!keep) return;
  memcpy(keep, f->scratch, n);
  view->prep = keep;
  view->prep_len = (uint32_t)n;
  f->bytes += n;
}

/* A record met by a lookup or a family pass: copied, validated (and
** prepared by the client's hook). */
static jc_err fetch_one(void *ctx, jc_key key, uint64_t id, const void *rec,
                        size_t len) {
  pf_fetch *f = ctx;
  if (f->kept + f->bytes + len > JC_PREFETCH_MAX_BYTES)
    return JC_NOMEM; /* over budget: the key is left to jc_lookup */
  uint8_t *copy = chunk_alloc(f->pf, f->chunks, len, f->sync);
  if (!copy) return JC_NOMEM;
  if (len) memcpy(copy, rec, len);
  jc_view view;
  if (!jc_store_validate(f->c, key, id, copy, len, &view)) {
    chunk_unalloc(f->chunks, len);
    return JC_OK;
  }
  prepare(f, &view);
  if (!grow((void **)&f->v, &f->cap, f->n + 1, sizeof *f->v) ||
      !grow((void **)&f->vkey, &f->capkey, f->n + 1, sizeof *f->vkey))
    return JC_NOMEM;
  f->v[f->n].view = view;
  f->v[f->n].id = id;
  f->vkey[f->n] = key;
  f->n++;
  f->bytes += len;
  return JC_OK;
}

static bool same_key(jc_key a, jc_key b) { return a.lo == b.lo && a.hi == b.hi; }

/* Record an entry: key's candidates are those of f->v[] stored under it,
** moved into a chunk; each gets a family job.  False when out of memory. */
static bool add_found(pf_fetch *f, jc_key key) {
  size_t n = 0;
  for (size_t i = 0; i < f->n; i++) n += same_key(f->vkey[i], key);
  jc_cand *v = NULL;
  if (n) {
    v = chunk_alloc(f->pf, f->chunks, n * sizeof *v, f->sync);
    if (!v) return false;
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++)
      if (same_key(f->vkey[i], key)) v[k++] = f->v[i];
  }
  if (!grow((void **)&f->found, &f->capfound, f->nfound + 1, sizeof *f->found) ||
      !grow((void **)&f->next, &f->capnext, f->nnext + n, sizeof *f->next))
    return false;
  f->found[f->nfound++] = (pf_found){key, v, (uint32_t)n, NULL};
  for (size_t i = 0; i < n; i++)
    f->next[f->nnext++] = (pf_job){{0, 0}, &v[i]};
  return true;
}

/* The family of `parent` from the records its pass found (f->v): an entry
** for each exit that has bridges, under that exit's key, in the parent's
** exit order, then the family entry listing them all with their exits'
** guards.  An exit without bridges gets no entry: the family entry answers
** for it (find).  A record whose key is not the one of the exit its header
** names is rejected and counted, as jc_lookup would never be asked for it
** under that exit.  False when out of memory. */
static bool add_family(pf_fetch *f, const jc_cand *parent) {
  const jc_view *pv = &parent->view;
  size_t total = 0;
  for (size_t j = 0; j < f->n; j++) total += f->v[j].view.parent_id == parent->id;
  jc_cand *v = NULL;
  uint32_t *guards = NULL;
  if (total) {
    v = chunk_alloc(f->pf, f->chunks, total * sizeof *v, f->sync);
    guards = v ? chunk_alloc(f->pf, f->chunks, total * sizeof *guards, f->sync) : NULL;
    if (!guards) return false;
  }
  size_t k = 0;
  for (uint32_t i = 0; i < pv->nexits && k < total; i++) {
    struct jc_fmt_exit e;
    jc_view_exit(pv, i, &e);
    size_t first = k;
    jc_key key = {0, 0};
    for (size_t j = 0; j < f->n && k < total; j++) {
      const jc_cand *c = &f->v[j];
      if (c->view.parent_id != parent->id || c->view.parent_exit != e.guard)
        continue;
      if (k == first) key = jc_key_bridge(parent->id, e.guard);
      if (!same_key(f->vkey[j], key)) {
        jc_store_count_reject(f->vkey[j], c->id, JC_REJECT_NAMESPACE,
                              "bridge stored under another key than its exit's");
        continue;
      }
      v[k] = *c;
      guards[k++] = e.guard;
    }
    if (k == first) continue;
    if (!grow((void **)&f->found, &f->capfound, f->nfound + 1, sizeof *f->found) ||
        !grow((void **)&f->next, &f->capnext, f->nnext + (k - first), sizeof *f->next))
      return false;
    f->found[f->nfound++] = (pf_found){key, v + first, (uint32_t)(k - first), NULL};
    for (size_t j = first; j < k; j++) f->next[f->nnext++] = (pf_job){{0, 0}, &v[j]};
  }
  if (!grow((void **)&f->found, &f->capfound, f->nfound + 1, sizeof *f->found))
    return false;
  static const uint32_t no_bridge[1]; /* a family without any: not NULL */
  f->found[f->nfound++] =
      (pf_found){family_key(parent->id), v, (uint32_t)k, k ? guards : no_bridge};
  return true;
}

/* One job (no lock held).  A failed one adds nothing: its keys are left to
** jc_lookup. */
static void fetch_job(pf_fetch *f, MDB_txn *txn, const pf_job *job) {
  size_t nfound = f->nfound, nnext = f->nnext;
  f->n = 0;
  f->bytes = 0;
  jc_err err = JC_IO;
  if (txn && !job->parent)
    err = jc_store_each(f->c, txn, job->key, fetch_one, f);
  else if (txn)
    err = jc_store_each_family(f->c, txn, jc_key_family(job->parent->id),
                               fetch_one, f);
  if (!err && !job->parent && !add_found(f, job->key)) err = JC_NOMEM;
  if (!err && job->parent && !add_family(f, job->parent)) err = JC_NOMEM;
  if (err) {
    f->nfound = nfound;
    f->nnext = nnext;
  } else {
    f->kept += f->bytes;
  }
}

/* Enter what a fetch found in the table, but keys already there (pf->lock
** held). */
static void publish(jc_prefetch *pf, const pf_fetch *f) {
  for (size_t i = 0; i < f->nfound; i++) {
    const pf_found *e = &f->found[i];
    if (tab_has(pf, e->key) || !tab_put(pf, e->key, e->v, e->n, e->guards) ||
        e->guards)
      continue;
    pf->info.keys++;
    pf->info.records += e->n;
    for (uint32_t k = 0; k < e->n; k++) pf->info.bytes += e->v[k].view.len;
  }
}

static void fetch_free(pf_fetch *f) {
  free(f->scratch);
  free(f->v);
  free(f->vkey);
  free(f->found);
  free(f->next);
}

/* Map the store's pages, up to PF_POPULATE_MAX, before the keys come.
** Reading a page of the map for the first time is a fault, one or two
** microseconds in a virtual machine, met by this thread and by the
** program's own lookups and family reads (warm deltablue: a commit's read
** of a family of one record took 6 to 14 us, and 3 to 6 with this and the
** sync chunks above).  Best effort. */
#define PF_POPULATE_MAX ((size_t)16 << 20)

static size_t store_used(jc_cache *c, void **map) {
  MDB_envinfo info;
  MDB_stat st;
  if (mdb_env_info(c->env, &info) || mdb_env_stat(c->env, &st) || !info.me_mapaddr)
    return 0;
  size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
  *map = info.me_mapaddr;
  return used > info.me_mapsize ? info.me_mapsize : used;
}

static void populate_store(void *map, size_t used) {
  if (used > PF_POPULATE_MAX) used = PF_POPULATE_MAX;
  if (used) (void)madvise(map, used, MADV_POPULATE_READ);
}

/* Populate the sync reserve's next step, then hand it to the commits (it
** is populated before any commit may use it: where MADV_POPULATE_WRITE is
** missing, jc_mem_populate stores into each page). */
static void reserve_step(jc_prefetch *pf) {
  if (!pf->reserve || pf->reserve_len >= pf->reserve_want) return;
  jc_mem_populate(pf->reserve + pf->reserve_len, PF_SYNC_STEP);
  pthread_mutex_lock(&pf->sync_lock);
  pf->reserve_len += PF_SYNC_STEP;
  pthread_mutex_unlock(&pf->sync_lock);
}

/* The thread's read transaction, renewed (begun afresh if the map grew);
** NULL if none can be had (the jobs then fetch nothing). */
static MDB_txn *txn_renew(jc_cache *c, MDB_txn *txn) {
  int rc = txn ? mdb_txn_renew(txn) : jc_store_txn_begin(c, MDB_RDONLY, &txn);
  if (rc && txn) { /* e.g. the map grew: begin afresh */
    mdb_txn_abort(txn);
    txn = NULL;
    rc = jc_store_txn_begin(c, MDB_RDONLY, &txn);
  }
  return rc ? NULL : txn;
}

/* Read the program's list and queue its keys first (pf->lock held, and
** dropped while reading). */
static void read_program(jc_prefetch *pf, jc_cache *c, MDB_txn **txn) {
  pf->want_program = false;
  pthread_mutex_unlock(&pf->lock);
  const jc_key *keys = NULL;
  size_t n = 0;
  if ((*txn = txn_renew(c, *txn)) != NULL) {
    n = jc_program_read(c, *txn, &keys);
    mdb_txn_reset(*txn);
  }
  pf_job *jobs = n ? malloc(n * sizeof *jobs) : NULL;
  for (size_t i = 0; jobs && i < n; i++) jobs[i] = (pf_job){keys[i], NULL};
  pthread_mutex_lock(&pf->lock);
  /* In front of every waiting job: the keys given since mostly repeat it. */
  if (jobs && todo_insert(pf, jobs, n, pf->ntodo - pf->head)) pf->info.program_keys += n;
  free(jobs);
}

/* The thread: jobs in batches, each batch under one read transaction and
** published in one critical section. */
static void *prefetch_main(void *arg) {
  jc_cache *c = arg;
  jc_prefetch *pf = c->prefetch;
  MDB_txn *txn = NULL;
  pf_fetch f = {.c = c, .pf = pf, .chunks = &pf->chunks};
  pf_job batch[PF_BATCH];
  /* The first batches are small: what they find is published sooner, for
  ** the loops that get hot as the program starts (and for the commits that
  ** write their bridges ahead); then up to PF_BATCH, to share the cost of
  ** a transaction and a critical section. */
  size_t batch_cap = 2;
  /* Set up before the keys come (the client starts the thread early): the
  ** read transaction, and when the store holds records the sync reserve
  ** (chunk_alloc).  Not this thread's chunks' pages: they are its own, and
  ** a run with nothing cached would pay for them for nothing. */
  MDB_stat st;
  bool cached = false; /* a cold run's commits read no family */
  if (jc_store_txn_begin(c, MDB_RDONLY, &txn)) {
    txn = NULL;
  } else {
    cached = c->has_dbi && mdb_stat(txn, c->dbi, &st) == 0 && st.ms_entries > 0;
    mdb_txn_reset(txn);
  }
  /* A program's list first: its keys are what the first loops need. */
  pthread_mutex_lock(&pf->lock);
  if (pf->want_program) read_program(pf, c, &txn);
  pthread_mutex_unlock(&pf->lock);
  void *map = NULL;
  size_t used = store_used(c, &map);
  if (cached) {
    void *r = mmap(NULL, PF_SYNC_RESERVE_MAX, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (r != MAP_FAILED) {
      size_t want = (used + PF_SYNC_STEP - 1) & ~(PF_SYNC_STEP - 1);
      pf->reserve_want = want < PF_SYNC_RESERVE_MIN   ? PF_SYNC_RESERVE_MIN
                         : want > PF_SYNC_RESERVE_MAX ? PF_SYNC_RESERVE_MAX
                                                      : want;
      pf->reserve = r; /* reserve_len 0: no commit carves from it yet */
      reserve_step(pf);
      reserve_step(pf);
    }
  }
  /* The store's pages are mapped ahead when there is nothing to fetch
  ** (before the keys come, usually): the keys waiting come first. */
  bool populated = false;
  pthread_mutex_lock(&pf->lock);
  for (;;) {
    if (pf->want_program && !pf->stop) {
      read_program(pf, c, &txn);
      continue;
    }
    if (pf->head == pf->ntodo) {
      pf->head = pf->ntodo = 0;
      pf->busy = false;
      pthread_cond_broadcast(&pf->idle);
      if (pf->stop) break;
      if (!populated) {
        populated = true;
        pthread_mutex_unlock(&pf->lock);
        populate_store(map, used);
        pthread_mutex_lock(&pf->lock);
        continue;
      }
      if (!pf->got_keys && pf->key_polls++ < PF_KEY_POLLS) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_nsec += 200000L;
        at.tv_sec += at.tv_nsec / 1000000000L;
        at.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&pf->wake, &pf->lock, &at);
      } else
        pthread_cond_wait(&pf->wake, &pf->lock);
      continue;
    }
    if (pf->stop) break;
    size_t nb = 0;
    while (nb < batch_cap && pf->head < pf->ntodo) {
      pf_job job = pf->todo[pf->head++];
      bool dup = tab_has(pf, job.parent ? family_key(job.parent->id) : job.key);
      for (size_t i = 0; i < nb && !dup && !job.parent; i++)
        dup = !batch[i].parent && same_key(batch[i].key, job.key);
      if (!dup) batch[nb++] = job;
    }
    /* The table sized for the keys queued at once (and as many for their
    ** families), not grown and rehashed step by step while publishing. */
    (void)tab_reserve(pf, 2 * (pf->ntodo - pf->head + nb));
    f.nfound = f.nnext = 0;
    if (batch_cap < PF_BATCH) batch_cap *= 2;
    pthread_mutex_unlock(&pf->lock);

    txn = txn_renew(c, txn);
    for (size_t i = 0; i < nb; i++) fetch_job(&f, txn, &batch[i]);
    if (txn) mdb_txn_reset(txn);

    reserve_step(pf);

    pthread_mutex_lock(&pf->lock);
    publish(pf, &f);
    todo_push_family(pf, f.next, f.nnext);
    pf->info.cpu_ns = jc_thread_cpu_ns();
  }
  pf->busy = false;
  pthread_cond_broadcast(&pf->idle);
  pthread_mutex_unlock(&pf->lock);
  if (txn) mdb_txn_abort(txn);
  fetch_free(&f);
  return NULL;
}

/* On other CPUs than the caller's (thread.c).  Measured before that: a new
** thread queued behind the program's own (on a CPU that the program keeps
** busy) first ran 4 to 6 ms after its creation, after the first loops had
** got hot and been looked up without it. */
static bool start_thread(jc_prefetch *pf, jc_cache *c) {
  return jc_thread_start(&pf->thread, false, prefetch_main, c, "jc-prefetch");
}

/* -- API ---------------------------------------------------------------------------- */

static jc_prefetch *get_prefetch(jc_cache *c) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (pf) return pf;
  pf = calloc(1, sizeof *pf);
  if (!pf) return NULL;
  pthread_mutex_init(&pf->lock, NULL);
  pthread_mutex_init(&pf->sync_lock, NULL);
  pthread_cond_init(&pf->idle, NULL);
  pthread_cond_init(&pf->wake, NULL);
  jc_prefetch *none = NULL;
  if (!atomic_compare_exchange_strong_explicit(&c->prefetch, &none, pf,
                                               memory_order_acq_rel,
                                               memory_order_acquire)) {
    pthread_mutex_destroy(&pf->lock);
    pthread_mutex_destroy(&pf->sync_lock);
    pthread_cond_destroy(&pf->idle);
    pthread_cond_destroy(&pf->wake);
    free(pf);
    return none; /* another thread's */
  }
  return pf;
}

/* Queue keys, or (program) the program's list, and start the thread. */
static jc_err queue(jc_cache *c, const jc_key *keys, size_t n, bool program) {
  if (!c->has_dbi) return JC_OK; /* an empty store: nothing to fetch */
  jc_prefetch *pf = get_prefetch(c);
  if (!pf) return jc_fail(JC_NOMEM, "jcache: out of memory in prefetch");
  jc_err err = JC_OK;
  pthread_mutex_lock(&pf->lock);
  if (pf->stop) goto out;
  for (size_t i = 0; i < n && !err; i++)
    if (!todo_push(pf, &(pf_job){keys[i], NULL}, 1))
      err = jc_fail(JC_NOMEM, "jcache: out of memory in prefetch");
  if (err) goto out;
  if (n || program) {
    pf->busy = true;
    pf->want_program |= program;
    pthread_cond_signal(&pf->wake);
    pf->got_keys |= n > 0;
  }
  if (!pf->started) {
    pf->started = start_thread(pf, c);
    if (!pf->started) {
      pf->head = pf->ntodo = 0;
      pf->busy = pf->want_program = false;
      err = jc_fail(JC_IO, "jcache: cannot start the prefetch thread");
    }
  }
out:
  pthread_mutex_unlock(&pf->lock);
  return err;
}

JC_API jc_err jc_cache_prefetch(jc_cache *c, const jc_key *keys, size_t n) {
  if (!c || (n && !keys))
    return jc_fail(JC_INVAL, "jcache: jc_cache_prefetch: %s is NULL",
                   c ? "keys" : "cache");
  return queue(c, keys, n, false);
}

JC_API jc_err jc_cache_prefetch_program(jc_cache *c, jc_key program) {
  if (!c) return jc_fail(JC_INVAL, "jcache: jc_cache_prefetch_program: cache is NULL");
  if (!jc_program_start(c, program))
    return jc_fail(JC_NOMEM, "jcache: out of memory naming the program");
  return queue(c, NULL, 0, true);
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
  pthread_mutex_lock(&pf->sync_lock);
  out->families_fetched = pf->sync_fetched;
  pthread_mutex_unlock(&pf->sync_lock);
}

static bool find(jc_cache *c, jc_key key, jc_cands *cs, bool served) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  /* Never wait: the thread may be descheduled inside its critical section
  ** (measured: a commit that waited to look ahead took 100 us).  A lookup
  ** then does its own; looking ahead tries again at a later commit. */
  if (!pf || pthread_mutex_trylock(&pf->lock)) return false;
  const pf_entry *e = pf->cap ? slot_of(pf->tab, pf->cap, key) : NULL;
  bool found = e && e->used && !e->guards;
  if (e && !e->used && key.hi) {
    /* An exit without an entry of its own, of a family fetched: none. */
    const pf_entry *fe = slot_of(pf->tab, pf->cap, (jc_key){key.lo, 0});
    if (fe->used && fe->guards) e = NULL, found = true;
  }
  if (found) {
    cs->v = e ? e->v : NULL;
    cs->n = cs->cap = e ? e->n : 0;
    cs->shared = true;
    pf->info.served += served;
  }
  pthread_mutex_unlock(&pf->lock);
  return found;
}

bool jc_prefetch_find(jc_cache *c, jc_key key, jc_cands *cs) {
  return find(c, key, cs, true);
}

bool jc_prefetch_peek(jc_cache *c, jc_key key, jc_cands *cs) {
  return find(c, key, cs, false);
}

bool jc_prefetch_family(jc_cache *c, uint64_t parent, jc_family *out) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (!pf || pthread_mutex_trylock(&pf->lock)) return false;
  const pf_entry *e = pf->cap ? slot_of(pf->tab, pf->cap, family_key(parent)) : NULL;
  bool found = e && e->used && e->guards;
  if (found) {
    out->v = e->v;
    out->guards = e->guards;
    out->n = e->n;
  }
  pthread_mutex_unlock(&pf->lock);
  return found;
}

/* A family the thread has not fetched yet, fetched here, on the committing
** thread: the loops that get hot first are committed before the thread has
** got to them (it starts with the program and shares two CPUs with it and
** the memory thread), and without their families their bridges are looked
** up one by one in the store and written one by one at their commits.
** Published for the thread and for jc_lookup too, if the table's lock is
** free right now; used here either way. */
bool jc_prefetch_family_fetch(jc_cache *c, const jc_cand *parent,
                              jc_family *out) {
  if (jc_prefetch_family(c, parent->id, out)) return true;
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (!pf || !c->has_dbi) return false;
  pthread_mutex_lock(&pf->sync_lock);
  pf_fetch f = {.c = c, .pf = pf, .chunks = &pf->sync_chunks, .sync = true, .kept = pf->sync_kept};
  MDB_txn *txn = NULL;
  if (jc_store_read_txn(c, &txn)) txn = NULL;
  fetch_job(&f, txn, &(pf_job){{0, 0}, parent});
  if (txn) jc_store_release_txn(c, txn);
  /* The family entry comes last, after its exits' (add_family). */
  const pf_found *fam = f.nfound ? &f.found[f.nfound - 1] : NULL;
  bool ok = fam && fam->guards;
  if (ok) {
    out->v = fam->v;
    out->guards = fam->guards;
    out->n = fam->n;
    pf->sync_fetched++;
    if (pthread_mutex_trylock(&pf->lock) == 0) {
      (void)tab_reserve(pf, f.nfound);
      publish(pf, &f);
      pthread_mutex_unlock(&pf->lock);
    }
  }
  pf->sync_kept = f.kept;
  fetch_free(&f);
  pthread_mutex_unlock(&pf->sync_lock);
  return ok;
}

void jc_prefetch_free(jc_cache *c) {
  jc_prefetch *pf = atomic_load_explicit(&c->prefetch, memory_order_acquire);
  if (!pf) return;
  pthread_mutex_lock(&pf->lock);
  pf->stop = true;
  pthread_cond_signal(&pf->wake);
  pthread_mutex_unlock(&pf->lock);
  if (pf->started) pthread_join(pf->thread, NULL);
  chunks_free(pf->chunks);
  chunks_free(pf->sync_chunks);
  if (pf->reserve) munmap(pf->reserve, PF_SYNC_RESERVE_MAX);
  free(pf->tab);
  free(pf->todo);
  pthread_mutex_destroy(&pf->lock);
  pthread_mutex_destroy(&pf->sync_lock);
  pthread_cond_destroy(&pf->idle);
  pthread_cond_destroy(&pf->wake);
  free(pf);
  c->prefetch = NULL;
}
