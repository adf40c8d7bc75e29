/*
** lib/mem.c — memory for the reload path, populated ahead (jcache/mem.h).
**
** Why: a reload's metadata (libjcache's trace record, the client's own
** trace) is a few fresh blocks, and malloc serves fresh blocks from the top
** of its heap, whose pages nobody has touched yet.  Each first touch is a
** page fault, about 1.9 us in the virtual machines we measure on, and a
** commit met several of them (jcvm, warm deltablue: 2.3 per commit on
** average, in jc_trace_alloc's copy and in the VM's own trace).  Faulting
** them in ahead on the same thread costs the same; on another thread it
** costs the program nothing.
**
** How: size classes (multiples of 64 B to 4 KiB, then powers of two to
** 64 KiB) with LIFO free lists, carved from 64 KiB chunks; each thread
** keeps a few freed blocks per class and a region of a chunk of its own,
** used without the lock (below).  A background thread keeps
** MEM_READY chunks populated (MADV_POPULATE_WRITE, else a store per page:
** about 2.7 us of its CPU per page here); the allocator takes one
** when its current chunk runs out, and the thread replaces it.  With no
** chunk ready (the thread is behind, or could not start) it maps one and
** lets its pages fault on demand, as malloc would.
**
** The thread is never woken by the program's thread: it looks for work
** every millisecond after it last had some, backing off to MEM_POLL_MAX
** when idle.  Waking a sleeping thread (a futex wake, an interrupt to an
** idle CPU) cost the waker 5 to 30 us on our virtual machines, and it fell
** on a reload: a commit that took a chunk paid for it 3 to 160 us.
*/
#include <link.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"
#include "jcache/mem.h"
#include "mem.h"
#include "thread.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define MEM_PLAIN 1 /* let the sanitizer see every block */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_PLAIN 1
#endif
#endif

/* Classes: every multiple of 64 bytes up to 4 KiB (a trace's metadata is
** rarely a power of two), then 8, 16, 32 and 64 KiB. */
#define MEM_FINE 64                 /* 64 B .. 4 KiB in steps of 64 */
#define MEM_CLASSES (MEM_FINE + 4)  /* .. 64 KiB */
#define MEM_MAX (64u << 10)
#define MEM_POLL_MIN_MS 1   /* the thread's look for work, after work */
#define MEM_POLL_MAX_MS 128 /* and when idle: after work, doubled per look */
#define MEM_CHUNK (64u << 10) /* populated in ~40 us: ready early */
#define MEM_READY 8         /* chunks kept populated ahead: 512 KiB (its CPU
                               is spent whether reloads come or not: at most
                               that much for nothing; with two, a warm run's
                               burst of reloads ran through them before the
                               thread looked again, and deltablue met about
                               7 chunks mapped on demand, a page fault per
                               4 KiB of reloads' metadata) */
#define MEM_READY_FIRST 2   /* chunks made ready before other work (jobs):
                               with one, the code arena's populating job,
                               queued as a warm run starts, was still
                               running when the first chunk ran out, and a
                               lazy bridge's reload mapped the next chunk
                               on demand: 15 to 60 us in mmap (behind that
                               job's system calls on the address space),
                               then a page fault per new page (fannkuch-
                               redux, every warm run) */
#define MEM_AHEAD JC_MEM_AHEAD_MAX /* a client's ranges waiting */
#define MEM_LARGE 0xffffffffu
#define MEM_MAGIC 0x6a636d65u

/* Before every block: its class (or MEM_LARGE) and a magic number, so a
** pointer that did not come from here is caught rather than freed. */
typedef struct mem_hdr {
  uint32_t cls;
  uint32_t magic;
  uint64_t pad; /* blocks stay 16-byte aligned */
} mem_hdr;

static struct {
  pthread_mutex_t lock;
  pthread_cond_t wake; /* the thread's timed sleep: never signalled (above) */
  pthread_cond_t ready_cv; /* a chunk became ready (jc_mem_wait_ready) */
  void *free[MEM_CLASSES];
  uint8_t *cur, *end; /* the chunk blocks are carved from */
  bool cur_faulting;  /* it was mapped on demand: leave it for a ready one */
  uint8_t *ready[MEM_READY];
  int nready;
  bool thread_on, atfork_set;
  void (*jobs[4])(void); /* other work for the thread (jc_mem_background) */
  int njobs;
  struct { uint8_t *addr; size_t len; } ahead[MEM_AHEAD]; /* a client's ranges,
                                  oldest first (jc_mem_populate_ahead) */
  int nahead;
  bool job_running;
  pthread_cond_t jobs_done; /* jc_mem_drain */
  uint64_t chunks, populated, faulting; /* for tests and curiosity */
  uint64_t ahead_done;                  /* a client's ranges populated */
  uint64_t ahead_cpu_ns;                /* the thread's CPU time on them */
  uint64_t cpu_ns; /* the thread's CPU time, as of its last chunk or job */
} M = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .wake = PTHREAD_COND_INITIALIZER,
       .ready_cv = PTHREAD_COND_INITIALIZER,
       .jobs_done = PTHREAD_COND_INITIALIZER};

/* A page per call: a populate holds the process's address-space lock
** until its range is done, and a thread that maps, unmaps or protects
** memory meanwhile (malloc growing its heap, a new thread's stack) waits
** for it.  Where the kernel cannot, a store per page if `store`, else the
** rest is left to fault. */
static void populate_pages(uint8_t *p, size_t len, bool store) {
  uint8_t *at = (uint8_t *)((uintptr_t)p & ~(uintptr_t)4095);
  for (; at < p + len; at += 4096)
    if (madvise(at, 4096, MADV_POPULATE_WRITE) != 0) {
      if (!store) return;
      *(volatile uint8_t *)(at < p ? p : at) = 0;
    }
}

void jc_mem_populate(void *p, size_t len) { populate_pages(p, len, true); }

#ifndef MEM_PLAIN
/* A client's range (jc_mem_populate_ahead): never a store, the client may
** have unmapped it meanwhile. */
static void populate_client(uint8_t *p, size_t len) { populate_pages(p, len, false); }

/* A new chunk; populated (every page touched) or left to fault on demand. */
static uint8_t *chunk_new(bool populate) {
  void *p = mmap(NULL, MEM_CHUNK, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  if (populate) jc_mem_populate(p, MEM_CHUNK);
  return p;
}

static void *populate_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&M.lock);
  unsigned poll_ms = MEM_POLL_MIN_MS;
  for (;;) {
    if (M.nready >= MEM_READY && M.njobs == 0 && M.nahead == 0) {
      struct timespec at;
      clock_gettime(CLOCK_REALTIME, &at);
      at.tv_nsec += (long)poll_ms * 1000000L;
      at.tv_sec += at.tv_nsec / 1000000000L;
      at.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&M.wake, &M.lock, &at);
      if (poll_ms < MEM_POLL_MAX_MS) poll_ms *= 2;
      continue;
    }
    poll_ms = MEM_POLL_MIN_MS;
    if (M.nahead > 0 && M.nready >= MEM_READY_FIRST) {
      /* A client's range (its heap growing): before more chunks of our
      ** own, which are there for reloads that may never come. */
      uint8_t *a = M.ahead[0].addr;
      size_t len = M.ahead[0].len;
      memmove(&M.ahead[0], &M.ahead[1], (size_t)--M.nahead * sizeof M.ahead[0]);
      M.job_running = true;
      pthread_mutex_unlock(&M.lock);
      uint64_t t0 = jc_thread_cpu_ns();
      populate_client(a, len);
      uint64_t t1 = jc_thread_cpu_ns();
      pthread_mutex_lock(&M.lock);
      M.job_running = false;
      M.ahead_done++;
      M.ahead_cpu_ns += t1 - t0;
      M.cpu_ns = t1;
      pthread_cond_broadcast(&M.jobs_done);
      continue;
    }
    if (M.njobs > 0 && M.nready >= MEM_READY_FIRST) {
      void (*fn)(void) = M.jobs[--M.njobs];
      M.job_running = true;
      pthread_mutex_unlock(&M.lock);
      fn();
      pthread_mutex_lock(&M.lock);
      M.job_running = false;
      M.cpu_ns = jc_thread_cpu_ns();
      pthread_cond_broadcast(&M.jobs_done);
      continue;
    }
    pthread_mutex_unlock(&M.lock);
    uint8_t *c = chunk_new(true);
    pthread_mutex_lock(&M.lock);
    if (!c) break; /* out of memory: the allocator maps its own */
    M.ready[M.nready++] = c;
    M.populated++;
    M.cpu_ns = jc_thread_cpu_ns();
    pthread_cond_broadcast(&M.ready_cv);
  }
  M.thread_on = false;
  pthread_cond_broadcast(&M.ready_cv);
  pthread_cond_broadcast(&M.jobs_done);
  pthread_mutex_unlock(&M.lock);
  return NULL;
}

/* fork(): the child has no populating thread; it starts one when it next
** takes a chunk.  The lock is held across fork so the child's copy of the
** state is consistent; the condition variables are made anew, since the
** child's copies still count the parent thread's wait. */
static void atfork_prepare(void) { pthread_mutex_lock(&M.lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&M.lock); }
static void atfork_child(void) {
  M.thread_on = false;
  M.njobs = 0; /* the parent's thread does the parent's */
  M.nahead = 0;
  M.job_running = false;
  pthread_cond_init(&M.wake, NULL);
  pthread_cond_init(&M.ready_cv, NULL);
  pthread_cond_init(&M.jobs_done, NULL);
  pthread_mutex_unlock(&M.lock);
}

/* Start the thread if it is not running (M.lock held). */
static void start_thread(void) {
  if (M.thread_on) return;
  if (!M.atfork_set) {
    M.atfork_set = pthread_atfork(atfork_prepare, atfork_parent,
                                  atfork_child) == 0;
    if (!M.atfork_set) return; /* never a thread a child would inherit wrong */
  }
  pthread_t t;
  M.thread_on = jc_thread_start(&t, true, populate_main, NULL, "jc-mem");
}

void jc_mem_start(void) {
  /* libjcache's own pages, its writable ones before there is a thread to
  ** tell (jc_mem_prefault_image, which starts the thread the first time). */
  jc_mem_prefault_image(NULL);
  pthread_mutex_lock(&M.lock);
  start_thread();
  pthread_mutex_unlock(&M.lock);
}

void jc_mem_background(void (*fn)(void)) {
  pthread_mutex_lock(&M.lock);
  start_thread();
  bool queued = false;
  for (int i = 0; i < M.njobs; i++) queued |= M.jobs[i] == fn;
  bool run_here = !M.thread_on || (!queued && M.njobs == (int)JC_COUNTOF(M.jobs));
  if (!queued && !run_here) M.jobs[M.njobs++] = fn; /* the thread looks */
  pthread_mutex_unlock(&M.lock);
  if (run_here) fn();
}

/* -- Per thread: the blocks it freed, reused without the lock ----------------------------
**
** A reload allocates and frees a handful of blocks (a lookup's candidates,
** the client's trace, gdbjit's list node); with the lock each was two
** atomic operations at allocation and two at free.  Each thread keeps up
** to MEM_TL_MAX freed blocks per class on a list of its own and takes from
** it first, and carves new small blocks from a region of the current
** chunk it took whole; beyond that, and when the thread ends, blocks go
** back to the shared lists.  A block may be freed by another thread than
** the one that allocated it: its class is in its header, and it joins the
** freeing thread's list. */
#define MEM_TL_MAX 16
#define MEM_TL_REGION (16u << 10)
#define MEM_TL_SMALL (4u << 10)

typedef struct mem_cache {
  void *head[MEM_CLASSES];
  uint8_t n[MEM_CLASSES];
  bool keyed; /* its destructor is set up for this thread */
  uint8_t *cur, *end; /* its region */
} mem_cache;

static __thread mem_cache TL_;
/* Its address, in the initial-exec TLS model: TL_ itself, in a shared
** library, is reached through a call to __tls_get_addr at every access
** (14 calls per reload in jcvm); this pointer is one load off %fs.  Eight
** bytes of static TLS, which a dlopen'ed libjcache also finds. */
static __thread mem_cache *TLP __attribute__((tls_model("initial-exec")));

static inline mem_cache *tl(void) {
  mem_cache *c = TLP;
  if (__builtin_expect(c == NULL, 0)) c = TLP = &TL_;
  return c;
}
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static bool tl_key_ok;

/* The thread ends: its blocks go back to the shared lists (the rest of its
** region is not reused: at most a region per thread). */
static void tl_release(void *arg) {
  mem_cache *c = arg;
  pthread_mutex_lock(&M.lock);
  for (uint32_t k = 0; k < MEM_CLASSES; k++) {
    while (c->head[k]) {
      mem_hdr *h = c->head[k];
      void *next;
      memcpy(&next, h + 1, sizeof next);
      c->head[k] = next;
      memcpy(h + 1, &M.free[k], sizeof M.free[k]);
      M.free[k] = h;
    }
    c->n[k] = 0;
  }
  c->cur = c->end = NULL;
  pthread_mutex_unlock(&M.lock);
}

static void tl_key_make(void) { tl_key_ok = pthread_key_create(&tl_key, tl_release) == 0; }

/* May this thread keep a freed block of class k?  (Only once its blocks are
** sure to go back when it ends.) */
static bool tl_room(mem_cache *tc, uint32_t k) {
  if (tc->n[k] >= MEM_TL_MAX) return false;
  if (!tc->keyed) {
    pthread_once(&tl_once, tl_key_make);
    if (!tl_key_ok || pthread_setspecific(tl_key, tc) != 0) return false;
    tc->keyed = true;
  }
  return true;
}

/* The current chunk ran out (M.lock held): a ready one, else a fresh one. */
static bool refill(void) {
  uint8_t *c;
  M.cur_faulting = M.nready == 0;
  if (M.nready > 0) {
    c = M.ready[--M.nready];
  } else {
    c = chunk_new(false);
    if (!c) return false;
    M.faulting++;
  }
  M.chunks++;
  M.cur = c;
  M.end = c + MEM_CHUNK;
  start_thread(); /* which replaces the chunk when it next looks */
  return true;
}

static uint32_t class_of(size_t total) {
  if (total <= MEM_FINE * 64) return (uint32_t)((total + 63) / 64 - 1);
  uint32_t k = MEM_FINE;
  while (((size_t)8192 << (k - MEM_FINE)) < total) k++;
  return k;
}

static size_t class_size(uint32_t k) {
  return k < MEM_FINE ? (size_t)(k + 1) * 64 : (size_t)8192 << (k - MEM_FINE);
}
JC_API bool jc_mem_populate_ahead(void *addr, size_t len) {
  if (!addr || !len) return false;
  pthread_mutex_lock(&M.lock);
  start_thread();
  bool queued = M.thread_on && M.nahead < MEM_AHEAD;
  if (queued) {
    M.ahead[M.nahead].addr = addr;
    M.ahead[M.nahead].len = len;
    M.nahead++;
  }
  pthread_mutex_unlock(&M.lock);
  return queued; /* the thread looks within a millisecond of its last work */
}
#else
void jc_mem_start(void) {}
void jc_mem_background(void (*fn)(void)) { fn(); }
JC_API bool jc_mem_populate_ahead(void *addr, size_t len) {
  (void)addr;
  (void)len;
  return false;
}
#endif

JC_API void *jc_mem_alloc(size_t n) {
#ifdef MEM_PLAIN
  return malloc(n ? n : 1);
#else
  if (n > MEM_MAX - sizeof(mem_hdr)) {
    if (n > SIZE_MAX - sizeof(mem_hdr)) return NULL;
    mem_hdr *h = malloc(sizeof *h + n);
    if (!h) return NULL;
    h->cls = MEM_LARGE;
    h->magic = MEM_MAGIC;
    return h + 1;
  }
  uint32_t k = class_of(sizeof(mem_hdr) + n);
  size_t size = class_size(k);
  bool small = size <= MEM_TL_SMALL;
  mem_cache *tc = tl();
  mem_hdr *h = tc->head[k];
  if (h) {
    void *next;
    memcpy(&next, h + 1, sizeof next);
    tc->head[k] = next;
    tc->n[k]--;
    goto done;
  }
  if (small && (size_t)(tc->end - tc->cur) >= size) { /* a region: tc->keyed */
    h = (mem_hdr *)tc->cur;
    tc->cur += size;
    goto done;
  }
  pthread_mutex_lock(&M.lock);
  h = M.free[k];
  if (h) {
    void *next;
    memcpy(&next, h + 1, sizeof next);
    M.free[k] = next;
  } else {
    /* The rest of a chunk too small for this block is left unused, and so
    ** is the rest of one mapped on demand once a populated one is ready
    ** (pages never touched cost nothing). */
    if (((size_t)(M.end - M.cur) < size || (M.cur_faulting && M.nready > 0)) &&
        !refill()) {
      pthread_mutex_unlock(&M.lock);
      return NULL;
    }
    h = (mem_hdr *)M.cur;
    size_t take = size;
    if (small && tc->keyed && !M.cur_faulting) {
      /* A region of the chunk for this thread, this block first in it
      ** (never of one mapped on demand: a populated one replaces it soon). */
      take = (size_t)(M.end - M.cur);
      if (take > MEM_TL_REGION) take = MEM_TL_REGION;
      tc->cur = M.cur + size;
      tc->end = M.cur + take;
    }
    M.cur += take;
  }
  pthread_mutex_unlock(&M.lock);
done:
  h->cls = k;
  h->magic = MEM_MAGIC;
  return h + 1;
#endif
}

JC_API void *jc_mem_calloc(size_t n) {
  void *p = jc_mem_alloc(n);
  if (p) memset(p, 0, n);
  return p;
}

JC_API void jc_mem_free(void *p) {
#ifdef MEM_PLAIN
  free(p);
#else
  if (!p) return;
  mem_hdr *h = (mem_hdr *)p - 1;
  if (h->magic != MEM_MAGIC) abort(); /* not ours, or freed twice */
  h->magic = 0;
  if (h->cls == MEM_LARGE) {
    free(h);
    return;
  }
  if (h->cls >= MEM_CLASSES) abort(); /* a header overwritten */
  mem_cache *tc = tl();
  if (tl_room(tc, h->cls)) {
    memcpy(h + 1, &tc->head[h->cls], sizeof tc->head[h->cls]);
    tc->head[h->cls] = h;
    tc->n[h->cls]++;
    return;
  }
  pthread_mutex_lock(&M.lock);
  void *next = M.free[h->cls];
  memcpy(h + 1, &next, sizeof next);
  M.free[h->cls] = h;
  pthread_mutex_unlock(&M.lock);
#endif
}

JC_API void jc_mem_info(jc_mem_stats *out) {
  if (!out) return;
  pthread_mutex_lock(&M.lock);
  out->cpu_ns = M.cpu_ns;
  out->chunks = M.chunks;
  out->populated = M.populated;
  out->faulting = M.faulting;
  out->ahead = M.ahead_done;
  out->ahead_cpu_ns = M.ahead_cpu_ns;
  out->ready = (uint32_t)M.nready;
  pthread_mutex_unlock(&M.lock);
}

/* -- Code and data pages of the program's images -------------------------------------- */

/* A warm run's first check and first commit run code that nothing ran
** before (the check hook, the commit, the debugger registration), and
** write data nothing wrote: each new page a fault, a few microseconds in a
** virtual machine, tens of them on the first reload (measured: the first
** registration of a trace with gdbjit took 14 us, of which the code it ran
** needed almost nothing).  The thread maps those pages ahead: code and
** read-only data readable (MADV_POPULATE_READ), writable data written
** (MADV_POPULATE_WRITE: the copy-on-write done there, not at the first
** store).  Best effort: a kernel without these leaves the faults. */
#define MEM_IMAGES 8
static struct {
  uintptr_t addr[MEM_IMAGES]; /* an address in each image to populate */
  int n, done;
} I; /* under M.lock */

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)4095; }
static uintptr_t page_up(uintptr_t a) { return (a + 4095) & ~(uintptr_t)4095; }

static void populate_range(uintptr_t lo, uintptr_t hi, int advice) {
  if (hi > lo) (void)madvise((void *)lo, hi - lo, advice);
}

/* What populate_image does to the image holding `addr`. */
typedef struct image_req {
  uintptr_t addr;
  bool writable; /* its writable data (now), else its code and read-only data */
} image_req;

static int populate_image(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const image_req *rq = arg;
  uintptr_t a = rq->addr, relro_lo = 0, relro_hi = 0;
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD && a >= lo && a - lo < ph->p_memsz) mine = true;
    if (ph->p_type == PT_GNU_RELRO) {
      relro_lo = page_down(lo);
      relro_hi = page_down(lo + ph->p_memsz); /* the loader protects whole pages */
    }
  }
  if (!mine) return 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = page_down(info->dlpi_addr + ph->p_vaddr);
    uintptr_t hi = page_up(info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
    if (!(ph->p_flags & PF_W)) {
      if (!rq->writable) populate_range(lo, hi, MADV_POPULATE_READ);
      continue;
    }
    /* Writable, but for its relocated read-only part (protected now). */
    uintptr_t w = lo;
    if (relro_hi > lo && relro_lo < hi) {
      if (!rq->writable) populate_range(lo, relro_hi < hi ? relro_hi : hi, MADV_POPULATE_READ);
      w = relro_hi;
    }
    if (rq->writable) populate_range(w, hi, MADV_POPULATE_WRITE);
  }
  return 1;
}

static void images_job(void) {
  pthread_mutex_lock(&M.lock);
  while (I.done < I.n) {
    image_req rq = {I.addr[I.done++], false};
    pthread_mutex_unlock(&M.lock);
    dl_iterate_phdr(populate_image, &rq);
    pthread_mutex_lock(&M.lock);
  }
  pthread_mutex_unlock(&M.lock);
}

/* The image's writable data is populated here, by the caller, and its code
** on the thread.  A page the program has only read so far (its .bss
** untouched: the shared zero page) is replaced at its first store, and
** the kernel must then flush the stale entry from every CPU the process
** ran on: an interrupt to each, which waits for the other CPU when it is
** idle (in a virtual machine, until the host runs it again).  Done on the
** thread, late as it starts (it often first runs a millisecond after it
** was created, the first loops already reloaded), the first stores of the
** first reload met it: perf, warm mandelbrot, 40 runs, 53 of the 10,677
** samples of the first iteration in copy-on-write faults sending that
** interrupt, under pthread_once in libjcache's first commit.  Before the
** thread starts (jc_mem_start) there is no other CPU to tell; a few pages
** either way. */
static bool images_add(const void *addr) {
  pthread_mutex_lock(&M.lock);
  bool known = false;
  for (int i = 0; i < I.n; i++) known |= I.addr[i] == (uintptr_t)addr;
  bool add = !known && I.n < MEM_IMAGES;
  if (add) I.addr[I.n++] = (uintptr_t)addr;
  pthread_mutex_unlock(&M.lock);
  if (add) dl_iterate_phdr(populate_image, &(image_req){(uintptr_t)addr, true});
  return add;
}

/* libjcache's own first (it may be the first call, the thread not started
** yet), then the caller's. */
JC_API void jc_mem_prefault_image(const void *addr) {
  bool self = images_add((const void *)&jc_mem_prefault_image);
  if ((addr && images_add(addr)) || self) jc_mem_background(images_job);
}

void jc_mem_drain(void) {
  pthread_mutex_lock(&M.lock);
  while (M.thread_on && (M.njobs > 0 || M.nahead > 0 || M.job_running))
    pthread_cond_wait(&M.jobs_done, &M.lock);
  pthread_mutex_unlock(&M.lock);
}

bool jc_mem_wait_ready(void) {
  pthread_mutex_lock(&M.lock);
  while (M.thread_on && M.nready < MEM_READY)
    pthread_cond_wait(&M.ready_cv, &M.lock);
  bool ok = M.nready == MEM_READY;
  pthread_mutex_unlock(&M.lock);
  return ok;
}
