/*
** lib/arena.c — the code arena: one reserved region per process for
** machine code, W^X, with a first-fit allocator and live patching.
**
** Two modes, both behind the same window functions:
**
**   memfd mode (normal)   The region is a memfd mapped once read+execute,
**                         MAP_SHARED.  A window maps the written pages of the
**                         same memfd read+write at a kernel-chosen address and
**                         unmaps them when closed.  The executable view never
**                         changes protection: mprotect on an executable
**                         mapping makes perf record a new mmap event that
**                         shadows the JIT symbols of that range.
**
**   fallback mode         memfd_create or its executable shared mapping was
**                         refused (seccomp, policy) or $JCACHE_ARENA_NOMEMFD=1.
**                         The region is an anonymous private read+execute
**                         mapping; a window flips the protection of its pages
**                         to read+write and back, never to read+write+execute.
**                         Pages that are being written are not executable, so
**                         in this mode allocations are rounded to whole pages:
**                         writing one trace never takes another trace's page
**                         away from a thread that is running it.  Patching
**                         *live* code still flips the patched page, so a host
**                         that patches code while another thread executes the
**                         same page needs memfd mode.
**
** Bookkeeping (the block table) lives in malloc'd memory, never in code
** memory: code memory is not writable outside windows.
**
** fork: a MAP_SHARED arena would stay shared between parent and child, and
** each would then overwrite code that the other runs (both allocators hand
** out the same free space).  A pthread_atfork child handler gives the child
** its own private copy, at the same address, before fork() returns.
*/
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arena.h"
#include "tracer.h"
#include "internal.h"
#include "mem.h"

#define ARENA_DEFAULT_MB 256
#define ARENA_MAX_MB (64u * 1024)    /* cap for $JCACHE_ARENA_MB: 64 GiB */
/* Allocation alignment (memfd mode): a cache line.  A trace's hot loop then
** sits the same way on cache lines and 32-byte fetch windows whatever was
** allocated before it; with 16, adding code to one trace moved the others
** and swung a benchmark's steady state by 10% (fannkuch-redux). */
#define ARENA_ALIGN 64
#define ARENA_REACH ((uintptr_t)1 << 30)       /* place within +-1 GiB */
#define ARENA_STEP ((uintptr_t)64 << 20)       /* probe in 64 MiB steps */
#define ARENA_MIN_ADDR ((uintptr_t)1 << 20)    /* stay clear of page zero */
/* Data memory after the code (jc_arena_data_alloc): cells that code loads
** RIP-relative.  Sparse; a cache line per allocation at least, so that the
** cells of two traces never share one. */
#define DATA_SIZE ((size_t)16 << 20)
#define DATA_ALIGN 64
#define DATA_AHEAD ((size_t)64 << 10)        /* populated ahead of use */

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17; older kernels: a hint */
#endif

/* One block of the arena: used (an allocation) or free.  The table is sorted
** by offset and tiles [0, size) exactly; two free blocks are never adjacent. */
typedef struct block {
  size_t off, len;
  bool used;
} block;

typedef struct blocks {
  block *blk;
  size_t n, cap;
} blocks;

static struct {
  pthread_mutex_t lock;  /* guards everything below except the fields that
                         ** are immutable once `base` is published */
  uint8_t *base;         /* published with release once reserved */
  size_t size;
  size_t page;
  size_t gran;           /* allocation granularity: 16, or a page */
  int fd;                /* memfd, or -1 in fallback mode */
  bool memfd;
  bool broken;           /* fork child that could not get a private copy */
  jc_err failed;         /* sticky error of a failed lazy reservation */
  blocks code;           /* the code's block table: [0, size) */
  blocks data;           /* the data's: [0, DATA_SIZE) at base + size */
  size_t data_populated; /* [0, data_populated) of the data has pages */
  size_t data_want;      /* asked of the background thread */
  uint32_t *wcount;      /* fallback mode: open windows per page */
  size_t populated;      /* memfd mode: [0, populated) has memory and page
                            table entries (see populate) */
  bool one_thread;       /* JC_ARENA_ONE_THREAD: patches by pwrite */
  size_t ahead;          /* how far ahead to populate ($JCACHE_ARENA_PREFAULT_KB) */
  size_t want_populated; /* asked of the background thread (populate_job) */
} A = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

static bool blocks_init(blocks *t, size_t size);

/* The published base, or NULL before reservation. */
static inline uint8_t *arena_base(void) {
  return __atomic_load_n(&A.base, __ATOMIC_ACQUIRE);
}

static inline size_t round_up(size_t n, size_t a) {
  return (n + a - 1) & ~(a - 1);
}

/* -- Reservation --------------------------------------------------------- */

/* Arena size from $JCACHE_ARENA_MB; 0 if unset or not a sane number. */
static size_t env_size(void) {
  const char *s = getenv("JCACHE_ARENA_MB");
  if (!s || !*s) return 0;
  char *end;
  errno = 0;
  unsigned long mb = strtoul(s, &end, 10);
  if (errno || *end || mb == 0 || mb > ARENA_MAX_MB) return 0;
  return (size_t)mb << 20;
}

/* Use the private (mprotect) mode?  Forced by $JCACHE_ARENA_NOMEMFD, and
** chosen when a debugger is attached at reservation: ptrace cannot write a
** software breakpoint into a shared read-only mapping, so with the memfd view
** gdb's `break` in JIT code would silently never be inserted. */
static bool want_private(void) {
  const char *s = getenv("JCACHE_ARENA_NOMEMFD");
  if (s && *s) return strcmp(s, "0") != 0;
  return jc_tracer_attached(0);
}

/* True if all of [p, p+size) lies within ARENA_REACH of `near`. */
static bool within_reach(uintptr_t p, size_t size, uintptr_t near) {
  uintptr_t lo = near > ARENA_REACH ? near - ARENA_REACH : 0;
  uintptr_t hi = near + ARENA_REACH < near ? UINTPTR_MAX : near + ARENA_REACH;
  return p >= lo && p + size >= p && p + size <= hi;
}

/* Map `size` bytes near `near` with a hint, or anywhere if nothing near is
** free.  Probes alternate below and above `near` in ARENA_STEP steps, below
** first: a PIE executable has free space below it, while above it is the
** brk heap that malloc would like to grow into. */
static void *place(size_t size, uintptr_t near, int prot, int flags, int fd) {
  uintptr_t np = near & ~(uintptr_t)(A.page - 1);
  for (uintptr_t k = 0; k * ARENA_STEP <= ARENA_REACH; k++) {
    for (int above = 0; above <= 1; above++) {
      uintptr_t d = k * ARENA_STEP, hint;
      if (above) {
        if (k == 0) continue;
        hint = np + d;
        if (hint < np) continue;                 /* wrapped */
      } else {
        if (np < d + size + ARENA_MIN_ADDR) continue;
        hint = np - d - size;
      }
      if (!within_reach(hint, size, near)) continue;
      void *p = mmap((void *)hint, size, prot, flags | MAP_FIXED_NOREPLACE,
                     fd, 0);
      if (p == MAP_FAILED) continue;             /* EEXIST: taken */
      /* Kernels before 4.17 treat the flag as a hint and may put the
      ** mapping elsewhere: keep it only if it is still near. */
      if (within_reach((uintptr_t)p, size, near)) return p;
      munmap(p, size);
    }
  }
  /* Nothing near: take any address.  REL32 from this code to host helpers
  ** may then be out of reach; the relocation patcher reports JC_RANGE for
  ** those sites rather than writing a truncated displacement. */
  return mmap(NULL, size, prot, flags, fd, 0);
}

/* -- Populating ahead ----------------------------------------------------- */

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define PREFAULT_DEFAULT_KB 256
#define POPULATE_PIECE ((size_t)16 << 10) /* populate_job's step */

/* Bytes to keep populated ahead of the allocations: $JCACHE_ARENA_PREFAULT_KB
** (0 turns it off), else 256 KiB. */
static size_t env_ahead(void) {
  const char *s = getenv("JCACHE_ARENA_PREFAULT_KB");
  if (!s || !*s) return (size_t)PREFAULT_DEFAULT_KB << 10;
  char *end;
  errno = 0;
  unsigned long kb = strtoul(s, &end, 10);
  if (errno || *end || kb > (1ul << 20)) return (size_t)PREFAULT_DEFAULT_KB << 10;
  return (size_t)kb << 10;
}

/* Give the memfd memory for [populated, upto) and fill the executable
** view's page table for it, in two system calls.  Otherwise every new page
** costs two faults on the reload path: the pwrite that allocates it and the
** first instruction fetched from it, each a trap, a page allocation or a
** table walk, microseconds in a virtual machine, and more than the rest of
** a small commit.  Here, for a reservation made by the first allocation
** (caller holds the lock); otherwise by populate_job on the background
** thread: the first chunk after jc_arena_init, then whenever an allocation
** comes within half a chunk of the end.  Best effort: on failure the pages
** fault in as before. */
static void populate(size_t upto) {
  if (!A.memfd || !A.ahead || upto <= A.populated) return;
  upto = round_up(upto, A.page);
  if (upto > A.size) upto = A.size;
  size_t from = A.populated, n = upto - from;
  if (fallocate(A.fd, 0, (off_t)from, (off_t)n) != 0) {
    A.ahead = 0; /* no memory to spare, or no fallocate: stop trying */
    return;
  }
  (void)madvise(A.base + from, n, MADV_POPULATE_READ);
  A.populated = upto;
}

/* Populating ahead of the allocations after the first chunk runs on
** libjcache's background thread (lib/mem.c): 128 KiB at once cost the reload
** that crossed the mark close to 100 us.  The slow calls run outside the
** lock, so allocations go on meanwhile; a page they write before it is
** populated simply faults in as it would have without any of this. */
static void stage_prepare(void);

static void populate_job(void) {
  stage_prepare();
  pthread_mutex_lock(&A.lock);
  size_t dfrom = A.data_populated;
  size_t dupto = round_up(A.data_want, A.page);
  if (dupto > DATA_SIZE) dupto = DATA_SIZE;
  uint8_t *data = A.base && !A.broken && dupto > dfrom ? A.base + A.size : NULL;
  pthread_mutex_unlock(&A.lock);
  if (data) {
    if (madvise(data + dfrom, dupto - dfrom, MADV_POPULATE_WRITE) != 0)
      for (size_t o = dfrom; o < dupto; o += A.page)
        ((volatile uint8_t *)data)[o] = 0;
    pthread_mutex_lock(&A.lock);
    if (dupto > A.data_populated) A.data_populated = dupto;
    pthread_mutex_unlock(&A.lock);
  }
  pthread_mutex_lock(&A.lock);
  size_t from = A.populated;
  size_t upto = round_up(A.want_populated, A.page);
  if (upto > A.size) upto = A.size;
  bool go = A.memfd && A.ahead && upto > from && !A.broken;
  int fd = A.fd;
  uint8_t *base = A.base;
  pthread_mutex_unlock(&A.lock);
  if (!go) return;
  /* A piece at a time: fallocate holds the memfd's inode lock for its whole
  ** range, and a commit's pwrite takes that lock too.  In one call for the
  ** first 256 KiB, a warm run's first commit waited for it in pwrite (perf,
  ** warm mandelbrot, 40 runs: about 10 us per run spinning on the lock in
  ** the first iteration; 3 us in pieces): a piece holds it for 4 pages. */
  size_t done = from;
  bool ok = true;
  while (ok && done < upto) {
    size_t n = upto - done < POPULATE_PIECE ? upto - done : POPULATE_PIECE;
    ok = fallocate(fd, 0, (off_t)done, (off_t)n) == 0;
    if (ok) {
      (void)madvise(base + done, n, MADV_POPULATE_READ);
      done += n;
    }
  }
  pthread_mutex_lock(&A.lock);
  if (!ok) A.ahead = 0; /* no memory to spare, or no fallocate: stop trying */
  if (done > A.populated && A.fd == fd) A.populated = done;
  pthread_mutex_unlock(&A.lock);
}

/* Map the region in memfd mode; MAP_FAILED (and nothing left behind) if
** the system refuses any step. */
static void *reserve_memfd(size_t size, uintptr_t near) {
  int fd = memfd_create("jcache-code", MFD_CLOEXEC);
  if (fd < 0) return MAP_FAILED;
  /* Sparse: pages get memory only when first written.  The mapping runs
  ** DATA_SIZE past the file's end: reserve() puts the data there. */
  void *p = MAP_FAILED;
  if (ftruncate(fd, (off_t)size) == 0)
    p = place(size + DATA_SIZE, near, PROT_READ | PROT_EXEC, MAP_SHARED, fd);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd);
    errno = e;
    return MAP_FAILED;
  }
  A.fd = fd;
  A.memfd = true;
  A.gran = ARENA_ALIGN;
  return p;
}

/* Map the region in fallback mode (anonymous, protection flips). */
static void *reserve_fallback(size_t size, uintptr_t near) {
  uint32_t *wc = calloc(size / A.page, sizeof *wc);
  if (!wc) return MAP_FAILED;
  void *p = place(size + DATA_SIZE, near, PROT_READ | PROT_EXEC,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
  if (p == MAP_FAILED) {
    int e = errno;
    free(wc);
    errno = e;
    return MAP_FAILED;
  }
  A.fd = -1;
  A.memfd = false;
  A.wcount = wc;
  /* Whole pages, so that a window on one allocation never flips a page that
  ** holds another (possibly running) allocation. */
  A.gran = A.page;
  return p;
}

static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Reserve the region (caller holds the lock; the arena is not reserved). */
static jc_err reserve(const jc_arena_opts *opts) {
  A.page = (size_t)sysconf(_SC_PAGESIZE);
  size_t size = opts && opts->size ? opts->size : env_size();
  if (!size) size = (size_t)ARENA_DEFAULT_MB << 20;
  if (size > SIZE_MAX - A.page)
    return jc_fail(JC_INVAL, "code arena size %zu is too large", size);
  size = round_up(size, A.page);

  /* AT_PHDR points into the executable's first pages, next to its text:
  ** the host helpers that JIT code calls with REL32. */
  uintptr_t near = (uintptr_t)(opts ? opts->near : NULL);
  if (!near) near = (uintptr_t)getauxval(AT_PHDR);
  if (!near) near = (uintptr_t)(void *)&reserve;

  blocks code = {0}, data = {0};
  if (!blocks_init(&code, size) || !blocks_init(&data, DATA_SIZE)) {
    free(code.blk);
    return jc_fail(JC_NOMEM, "code arena: no memory for its table");
  }

  void *p = want_private() ? MAP_FAILED : reserve_memfd(size, near);
  if (p == MAP_FAILED) p = reserve_fallback(size, near);
  /* The data: read+write, never executable, in place of the mapping's
  ** last DATA_SIZE bytes (the executable view ends with the code). */
  if (p != MAP_FAILED &&
      mmap((uint8_t *)p + size, DATA_SIZE, PROT_READ | PROT_WRITE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
           0) == MAP_FAILED) {
    int e = errno;
    munmap(p, size + DATA_SIZE);
    if (A.fd >= 0) close(A.fd);
    A.fd = -1;
    free(A.wcount);
    A.wcount = NULL;
    p = MAP_FAILED;
    errno = e;
  }
  if (p == MAP_FAILED) {
    int e = errno;
    free(code.blk);
    free(data.blk);
    return jc_fail(JC_ARENA, "code arena: cannot map %zu bytes: %s", size,
                   strerror(e));
  }
  A.size = size;
  A.code = code;
  A.data = data;
  A.data_populated = 0;
  A.data_want = DATA_AHEAD; /* jc_arena_init asks the thread for it */

  static bool atfork_done;
  if (!atfork_done) {
    atfork_done = pthread_atfork(atfork_prepare, atfork_parent,
                                 atfork_child) == 0;
  }
  /* Publish: readers outside the lock (contains, windows) see a complete
  ** arena once they see a base. */
  __atomic_store_n(&A.base, (uint8_t *)p, __ATOMIC_RELEASE);
  A.populated = 0;
  A.ahead = A.memfd ? env_ahead() : 0;
  A.want_populated = A.ahead; /* the first chunk: see jc_arena_init */
  A.one_thread = opts && (opts->flags & JC_ARENA_ONE_THREAD);
  return JC_OK;
}

/* Reserve with the defaults on first use (caller holds the lock). */
static jc_err ensure_reserved(void) {
  if (JC_LIKELY(A.base != NULL))
    return A.broken ? jc_fail(JC_ARENA, "code arena unusable after fork")
                    : JC_OK;
  /* A failed lazy reservation is not retried on every allocation: the
  ** system said no, and probing ~30 addresses per call would not change it. */
  if (A.failed) return jc_fail(A.failed, "code arena could not be reserved");
  jc_err err = reserve(NULL);
  if (err) A.failed = err;
  else populate(A.ahead); /* here: the lock is held, and an allocation follows */
  return err;
}

/* Reserve the arena now with explicit options. */
JC_API jc_err jc_arena_init(const jc_arena_opts *opts) {
  jc_clear_error();
  jc_mem_start(); /* traces' metadata: its pages populated ahead too */
  pthread_mutex_lock(&A.lock);
  jc_err err;
  if (A.base)
    err = jc_fail(JC_STATE, "code arena already reserved at %p",
                  (void *)A.base);
  else if ((err = reserve(opts)) == JC_OK)
    A.failed = JC_OK;
  pthread_mutex_unlock(&A.lock);
  /* The first chunk of code and data is populated on the background
  ** thread too: at reservation it cost the program's start about 200 us
  ** (jc_arena_init took 350 to 440 us, 130 to 300 without it), before its
  ** first trace was even recorded. */
  if (!err) jc_mem_background(populate_job);
  return err;
}

/* True if [p, p+len) lies inside the arena. */
JC_API bool jc_arena_contains(const void *p, size_t len) {
  uint8_t *b = arena_base();
  if (!b) return false;
  uintptr_t u = (uintptr_t)p, ub = (uintptr_t)b;
  return u >= ub && len <= A.size && u - ub <= A.size - len;
}

/* The reserved region, or NULL/0 before reservation. */
JC_API void jc_arena_bounds(void **base, size_t *size) {
  uint8_t *b = arena_base();
  if (base) *base = b;
  if (size) *size = b ? A.size : 0;
}

/* -- Windows ------------------------------------------------------------- */

/* Fallback mode: drop one window reference from pages [first, first+n),
** making each page executable again when its last window closes.  Runs of
** pages are flipped with one mprotect each.  Caller holds the lock. */
static void pages_release(size_t first, size_t n) {
  size_t i = first, end = first + n;
  while (i < end) {
    if (--A.wcount[i] != 0) {
      i++;
      continue;
    }
    size_t j = i + 1;
    while (j < end && A.wcount[j] == 1) A.wcount[j++] = 0;
    if (mprotect(A.base + i * A.page, (j - i) * A.page,
                 PROT_READ | PROT_EXEC) != 0)
      jc_fail(JC_ARENA, "code arena: mprotect r-x failed: %s",
              strerror(errno));
    i = j;
  }
}

/* Fallback mode: add one window reference to pages [first, first+n), making
** each page read+write (and not executable) when its first window opens. */
static bool pages_acquire(size_t first, size_t n) {
  size_t i = first, end = first + n;
  while (i < end) {
    if (A.wcount[i] != 0) {
      A.wcount[i++]++;
      continue;
    }
    size_t j = i + 1;
    while (j < end && A.wcount[j] == 0) j++;
    if (mprotect(A.base + i * A.page, (j - i) * A.page,
                 PROT_READ | PROT_WRITE) != 0) {
      int e = errno;
      pages_release(first, i - first);
      errno = e;
      return false;
    }
    for (size_t k = i; k < j; k++) A.wcount[k] = 1;
    i = j;
  }
  return true;
}

/* Open a writable view of [code, code+len) inside the arena. */
jc_err jc_arena_window_open(void *code, size_t len, jc_window *w) {
  memset(w, 0, sizeof *w);
  if (len == 0 || !jc_arena_contains(code, len))
    return jc_fail(JC_INVAL, "code arena window %p+%zu is outside the arena",
                   code, len);
  if (A.broken)
    return jc_fail(JC_ARENA, "code arena unusable after fork");
  uint8_t *c = code;
  size_t first = (size_t)(c - A.base) & ~(A.page - 1);
  size_t last = round_up((size_t)(c - A.base) + len, A.page);
  size_t map_len = last - first;

  if (A.memfd) {
    /* A second view of the same pages; the executable view is untouched. */
    /* MAP_POPULATE: every page of a window is written at once, so fault
    ** them in with the mapping instead of one by one. */
    void *rw = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_POPULATE, A.fd, (off_t)first);
    if (rw == MAP_FAILED) {
      int e = errno;
      return jc_fail(e == ENOMEM ? JC_NOMEM : JC_ARENA,
                     "code arena: cannot map a write window of %zu bytes: %s",
                     map_len, strerror(e));
    }
    w->map = rw;
    w->rw = (uint8_t *)rw + ((size_t)(c - A.base) - first);
  } else {
    pthread_mutex_lock(&A.lock);
    bool ok = pages_acquire(first / A.page, map_len / A.page);
    int e = errno;
    pthread_mutex_unlock(&A.lock);
    if (!ok)
      return jc_fail(JC_ARENA, "code arena: mprotect rw- failed: %s",
                     strerror(e));
    w->map = A.base + first;
    w->rw = c;
  }
  w->code = c;
  w->len = len;
  w->map_len = map_len;
  return JC_OK;
}

/* Close a window; its bytes are then visible through the executable view. */
void jc_arena_window_close(jc_window *w) {
  if (!w->map) return;
  if (A.memfd) {
    munmap(w->map, w->map_len);
  } else {
    pthread_mutex_lock(&A.lock);
    pages_release((size_t)((uint8_t *)w->map - A.base) / A.page,
                  w->map_len / A.page);
    pthread_mutex_unlock(&A.lock);
  }
  /* x86-64 keeps instruction fetch coherent with stores (a no-op there);
  ** other architectures need the icache invalidated for the written range. */
  __builtin___clear_cache((char *)w->code, (char *)w->code + w->len);
  memset(w, 0, sizeof *w);
}

/* -- Staged writes ------------------------------------------------------- */

/* Write bytes into the code pages: pwrite to the memfd (memfd mode), or a
** protection-flip window (fallback).  [code, code+len) is inside the arena. */
static uint64_t stores; /* jc_arena_stores */

uint64_t jc_arena_stores(void) { return __atomic_load_n(&stores, __ATOMIC_RELAXED); }

static jc_err store(uint8_t *code, const void *src, size_t len) {
  if (A.broken) return jc_fail(JC_ARENA, "code arena unusable after fork");
  __atomic_fetch_add(&stores, 1, __ATOMIC_RELAXED);
  if (!A.memfd) {
    jc_window w;
    jc_err err = jc_arena_window_open(code, len, &w);
    if (err) return err;
    memcpy(w.rw, src, len);
    jc_arena_window_close(&w);
    return JC_OK;
  }
  const uint8_t *p = src;
  off_t off = (off_t)(code - A.base);
  while (len) {
    ssize_t n = pwrite(A.fd, p, len, off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return jc_fail(JC_ARENA, "code arena: pwrite of %zu bytes failed: %s",
                     len, n < 0 ? strerror(errno) : "no progress");
    p += n;
    off += n;
    len -= (size_t)n;
  }
  return JC_OK;
}

/* The staging buffer, kept from one stage to the next.  A buffer malloc'd
** per trace is often fresh heap, and on a virtual machine the first touch
** of a page costs about 2 us, as much as the rest of a small commit.  One
** stager at a time takes it (an atomic flag); another, or a larger stage,
** gets a buffer of its own. */
#define STAGE_KEEP_MAX ((size_t)1 << 20)
static struct {
  uint8_t *buf;
  size_t cap;
  int busy;
} S;

/* The buffer's first size: a commit stages at most this much at once for
** the bridges it writes ahead (lib/ahead.c, AHEAD_MAX_BYTES). */
#define STAGE_AHEAD ((size_t)256 << 10)

/* Made and populated ahead on the background thread (populate_job): grown
** by a first commit that wrote many bridges ahead, the buffer was fresh
** memory, and warm deltablue's loop commits met 20 to 50 page faults in
** copying their bridges' code there.  A stager that finds it busy meanwhile
** uses a buffer of its own, as any second stager does. */
static int stage_prepared; /* tried once (atomic) */

static void stage_prepare(void) {
  if (__atomic_load_n(&stage_prepared, __ATOMIC_ACQUIRE) ||
      __atomic_exchange_n(&S.busy, 1, __ATOMIC_ACQUIRE))
    return;
  __atomic_store_n(&stage_prepared, 1, __ATOMIC_RELEASE);
  if (S.cap < STAGE_AHEAD) {
    uint8_t *b = malloc(STAGE_AHEAD);
    if (b) {
      jc_mem_populate(b, STAGE_AHEAD);
      free(S.buf);
      S.buf = b;
      S.cap = STAGE_AHEAD;
    }
  }
  __atomic_store_n(&S.busy, 0, __ATOMIC_RELEASE);
}

static uint8_t *stage_take(size_t len) {
  if (len > STAGE_KEEP_MAX || __atomic_exchange_n(&S.busy, 1, __ATOMIC_ACQUIRE))
    return NULL;
  if (S.cap < len) {
    size_t cap = S.cap ? S.cap : 16384;
    while (cap < len) cap *= 2;
    uint8_t *b = malloc(cap);
    if (!b) {
      __atomic_store_n(&S.busy, 0, __ATOMIC_RELEASE);
      return NULL;
    }
    free(S.buf);
    S.buf = b;
    S.cap = cap;
  }
  return S.buf;
}

jc_err jc_arena_stage_open(void *code, size_t len, jc_window *w) {
  memset(w, 0, sizeof *w);
  if (len == 0 || !jc_arena_contains(code, len))
    return jc_fail(JC_INVAL, "code arena stage %p+%zu is outside the arena",
                   code, len);
  w->rw = stage_take(len);
  w->kept = w->rw != NULL;
  if (!w->rw) w->rw = malloc(len);
  if (!w->rw) return jc_fail(JC_NOMEM, "code arena: out of memory staging "
                                       "%zu bytes", len);
  w->code = code;
  w->len = len;
  return JC_OK;
}

jc_err jc_arena_stage_close(jc_window *w) {
  jc_err err = store(w->code, w->rw, w->len);
  jc_arena_stage_abort(w);
  return err;
}

void jc_arena_stage_abort(jc_window *w) {
  if (w->kept) __atomic_store_n(&S.busy, 0, __ATOMIC_RELEASE);
  else free(w->rw);
  memset(w, 0, sizeof *w);
}

/* Copy bytes into code that is not running yet. */
JC_API jc_err jc_arena_write(void *dst, const void *src, size_t len) {
  jc_clear_error();
  if (len == 0) return JC_OK;
  if (!src) return jc_fail(JC_INVAL, "code arena write: NULL source");
  if (!jc_arena_contains(dst, len))
    return jc_fail(JC_INVAL, "code arena write %p+%zu is outside the arena",
                   dst, len);
  return store(dst, src, len);
}

/* Patch live code with one atomic 8-byte store.
**
** On x86-64, a thread executing the patched code sees either the old or the
** new instruction bytes when they change with a single aligned store that
** does not cross a cache line, which an aligned 8-byte word never does; this
** is what JITs rely on to retarget jumps in running code.  The word is
** merged with a compare-and-swap rather than a plain load and store so that
** two threads patching different bytes of one word cannot lose an update;
** the successful exchange is still the single store the CPU fetches from.
** Release order: code written before the patch (a bridge) is visible before
** the jump to it. */
JC_API jc_err jc_arena_patch(void *dst, const void *src, size_t len) {
  jc_clear_error();
  uintptr_t d = (uintptr_t)dst;
  if (!src || (len != 1 && len != 2 && len != 4 && len != 8) ||
      (d & 7) + len > 8)
    return jc_fail(JC_INVAL,
                   "code arena patch %p+%zu is not inside one aligned "
                   "8-byte word",
                   dst, len);
  uint8_t *word = (uint8_t *)(d & ~(uintptr_t)7);
  if (A.memfd && A.one_thread && !A.broken) {
    /* Nobody runs the code now (JC_ARENA_ONE_THREAD): write the bytes like
    ** new code; the returning system call orders them before the next
    ** instruction fetch on this thread. */
    if (!jc_arena_contains(word, 8))
      return jc_fail(JC_INVAL, "code arena patch %p+%zu is outside the arena",
                     dst, len);
    return store((uint8_t *)dst, src, len);
  }
  jc_window w;
  jc_err err = jc_arena_window_open(word, 8, &w);
  if (err) return err;
  uint64_t *p = (uint64_t *)(void *)jc_window_at(&w, word); /* aligned */
  uint64_t old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;
  do {
    nw = old;
    memcpy((uint8_t *)&nw + (d & 7), src, len);
  } while (!__atomic_compare_exchange_n(p, &old, nw, false, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
  jc_arena_window_close(&w);
  return JC_OK;
}

/* -- Allocator ----------------------------------------------------------- */

/* One first-fit allocator serves both regions: the code (A.code) and the
** data next to it (A.data). */

/* Index of the block starting at offset `off`, or -1 (binary search). */
static ptrdiff_t block_find(const blocks *t, size_t off) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->blk[mid].off < off) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->n && t->blk[lo].off == off ? (ptrdiff_t)lo : -1;
}

/* Insert a block at index i, growing the table; false if out of memory. */
static bool block_insert(blocks *t, size_t i, block b) {
  if (t->n == t->cap) {
    size_t cap = t->cap * 2;
    block *nb = realloc(t->blk, cap * sizeof *nb);
    if (!nb) return false;
    t->blk = nb;
    t->cap = cap;
  }
  memmove(&t->blk[i + 1], &t->blk[i], (t->n - i) * sizeof *t->blk);
  t->blk[i] = b;
  t->n++;
  return true;
}

static void block_remove(blocks *t, size_t i) {
  memmove(&t->blk[i], &t->blk[i + 1], (t->n - i - 1) * sizeof *t->blk);
  t->n--;
}

/* A table of one free block tiling [0, size); false if out of memory. */
static bool blocks_init(blocks *t, size_t size) {
  t->blk = malloc(16 * sizeof *t->blk);
  if (!t->blk) return false;
  t->cap = 16;
  t->n = 1;
  t->blk[0] = (block){.off = 0, .len = size, .used = false};
  return true;
}

/* Take `len` bytes (a multiple of the granularity; `size` was asked for)
** first fit, at *off. */
static jc_err blocks_take(blocks *t, size_t len, size_t size, const char *what,
                          size_t *off) {
  size_t i = 0;
  while (i < t->n && (t->blk[i].used || t->blk[i].len < len)) i++;
  if (i == t->n)
    return jc_fail(JC_ARENA, "%s exhausted: no %zu free bytes", what, size);
  *off = t->blk[i].off;
  if (t->blk[i].len > len) {
    /* Split: the allocation takes the front, the rest stays free. */
    block rest = {.off = *off + len, .len = t->blk[i].len - len, .used = false};
    if (!block_insert(t, i + 1, rest))
      return jc_fail(JC_NOMEM, "%s: no memory for its table", what);
    t->blk[i].len = len;
  }
  t->blk[i].used = true;
  return JC_OK;
}

/* Index of the allocation at offset `off`, or -1 with the reason recorded. */
static ptrdiff_t blocks_find_used(const blocks *t, size_t off, const void *p,
                                  const char *what) {
  ptrdiff_t i = block_find(t, off);
  if (i < 0 || !t->blk[i].used) {
    jc_fail(JC_INVAL, "%s: %p is not an allocation", what, p);
    return -1;
  }
  return i;
}

/* Give allocation i back, coalescing with the free neighbours to keep the
** table's invariant. */
static void blocks_give(blocks *t, size_t i) {
  t->blk[i].used = false;
  if (i + 1 < t->n && !t->blk[i + 1].used) {
    t->blk[i].len += t->blk[i + 1].len;
    block_remove(t, i + 1);
  }
  if (i > 0 && !t->blk[i - 1].used) {
    t->blk[i - 1].len += t->blk[i].len;
    block_remove(t, i);
  }
}

/* Offset of the allocation at executable address `code`, or -1 with the
** reason recorded.  Caller holds the lock. */
static ptrdiff_t alloc_find(const void *code, const char *what) {
  char msg[32];
  snprintf(msg, sizeof msg, "code arena %s", what);
  if (!A.base || !jc_arena_contains(code, 0)) {
    jc_fail(JC_INVAL, "%s: %p is not an allocation", msg, code);
    return -1;
  }
  return blocks_find_used(&A.code, (size_t)((const uint8_t *)code - A.base),
                          code, msg);
}

/* Allocate code space (first fit) without touching it; *len is the length
** actually taken (size rounded to the allocation granularity). */
jc_err jc_arena_alloc_nofill(size_t size, void **code, size_t *len_out) {
  jc_clear_error();
  if (!code) return jc_fail(JC_INVAL, "code arena alloc: NULL result");
  *code = NULL;
  if (size == 0) return jc_fail(JC_INVAL, "code arena alloc: zero size");

  pthread_mutex_lock(&A.lock);
  jc_err err = ensure_reserved();
  if (err) {
    pthread_mutex_unlock(&A.lock);
    return err;
  }
  if (size > A.size) {
    pthread_mutex_unlock(&A.lock);
    return jc_fail(JC_ARENA, "code arena exhausted: no %zu free bytes", size);
  }
  size_t len = round_up(size, A.gran), off = 0;
  err = blocks_take(&A.code, len, size, "code arena", &off);
  if (err) {
    pthread_mutex_unlock(&A.lock);
    return err;
  }
  *code = A.base + off;
  if (len_out) *len_out = len;
  bool ahead = A.ahead && off + len + A.ahead / 2 > A.populated &&
               off + len + A.ahead > A.want_populated;
  if (ahead) A.want_populated = off + len + A.ahead;
  pthread_mutex_unlock(&A.lock);
  if (ahead) jc_mem_background(populate_job);
  return JC_OK;
}

/* Allocate code space and fill it with int3. */
JC_API jc_err jc_arena_alloc(size_t size, void **code) {
  if (!code) return jc_fail(JC_INVAL, "code arena alloc: NULL result");
  void *p;
  size_t len;
  jc_err err = jc_arena_alloc_nofill(size, &p, &len);
  *code = NULL;
  if (err) return err;
  /* int3 everywhere, so a stray jump into unwritten code traps.  Done after
  ** the lock is dropped: the space is ours alone now. */
  jc_window w;
  if ((err = jc_arena_stage_open(p, len, &w)) == JC_OK) {
    memset(w.rw, 0xCC, len);
    err = jc_arena_stage_close(&w);
  }
  if (err) {
    jc_arena_free(p);
    return err;
  }
  *code = p;
  return JC_OK;
}

/* Give the tail of an allocation back to the free space. */
JC_API jc_err jc_arena_shrink(void *code, size_t new_size) {
  jc_clear_error();
  pthread_mutex_lock(&A.lock);
  jc_err err = JC_OK;
  ptrdiff_t i = alloc_find(code, "shrink");
  blocks *t = &A.code;
  size_t len = i < 0 ? 0 : t->blk[i].len, nlen;
  if (i < 0) {
    err = JC_INVAL;
  } else if (new_size == 0 || new_size > len) {
    err = jc_fail(JC_INVAL, "code arena shrink: %zu is not in (0, %zu]",
                  new_size, len);
  } else if ((nlen = round_up(new_size, A.gran)) < len) {
    size_t tail = len - nlen;
    if ((size_t)i + 1 < t->n && !t->blk[i + 1].used) {
      t->blk[i + 1].off -= tail;
      t->blk[i + 1].len += tail;
    } else if (!block_insert(t, (size_t)i + 1,
                             (block){.off = t->blk[i].off + nlen, .len = tail})) {
      err = jc_fail(JC_NOMEM, "code arena: no memory for its table");
      goto out;
    }
    t->blk[i].len = nlen;
  }
out:
  pthread_mutex_unlock(&A.lock);
  return err;
}

/* Free an allocation; NULL is a no-op, anything else that is not an
** allocation start is ignored with the reason left in jc_last_error().
** (No jc_clear_error here: free runs on failure paths, and must not wipe
** the detail of the failure being cleaned up.) */
JC_API void jc_arena_free(void *code) {
  if (!code) return;
  pthread_mutex_lock(&A.lock);
  ptrdiff_t i = alloc_find(code, "free");
  if (i >= 0) blocks_give(&A.code, (size_t)i);
  pthread_mutex_unlock(&A.lock);
}

/* -- Data ---------------------------------------------------------------- */

/* Data memory in the DATA_SIZE bytes mapped right after the code: within
** rel32 reach of every code byte, so code loads from it RIP-relative (the
** cells of JC_RELOC_CELL32).  Its pages are populated ahead like the
** code's: a cell block's first touch is on the reload path. */
JC_API jc_err jc_arena_data_alloc(size_t size, void **out) {
  jc_clear_error();
  if (!out) return jc_fail(JC_INVAL, "arena data alloc: NULL result");
  *out = NULL;
  if (size == 0) return jc_fail(JC_INVAL, "arena data alloc: zero size");
  pthread_mutex_lock(&A.lock);
  jc_err err = ensure_reserved();
  size_t len = round_up(size, DATA_ALIGN), off = 0;
  if (!err && size > DATA_SIZE)
    err = jc_fail(JC_ARENA, "arena data exhausted: no %zu free bytes", size);
  if (!err) err = blocks_take(&A.data, len, size, "arena data", &off);
  bool ahead = false;
  if (!err) {
    *out = A.base + A.size + off;
    ahead = off + len + DATA_AHEAD / 2 > A.data_populated &&
            off + len + DATA_AHEAD > A.data_want;
    if (ahead) A.data_want = off + len + DATA_AHEAD;
  }
  pthread_mutex_unlock(&A.lock);
  if (ahead) jc_mem_background(populate_job);
  if (!err) memset(*out, 0, size);
  return err;
}

/* Free data memory; NULL is a no-op, anything else that is not an
** allocation start is ignored with the reason left in jc_last_error(). */
JC_API void jc_arena_data_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&A.lock);
  uint8_t *d = A.base ? A.base + A.size : NULL;
  ptrdiff_t i = -1;
  if (d && (uint8_t *)p >= d && (uint8_t *)p < d + DATA_SIZE)
    i = blocks_find_used(&A.data, (size_t)((uint8_t *)p - d), p,
                         "arena data free");
  else
    jc_fail(JC_INVAL, "arena data free: %p is not an allocation", p);
  if (i >= 0) blocks_give(&A.data, (size_t)i);
  pthread_mutex_unlock(&A.lock);
}

/* -- Fork ---------------------------------------------------------------- */

/* Hold the lock across fork so the child inherits a consistent table. */
static void atfork_prepare(void) { pthread_mutex_lock(&A.lock); }

static void atfork_parent(void) { pthread_mutex_unlock(&A.lock); }

/* Give the child a private memfd with the same contents at the same address.
** Only live allocations are copied (free space is refilled on allocation),
** so a sparse arena stays sparse.  The child is single-threaded here, and
** the calls below are plain system calls.  If the copy fails the child's
** arena is marked unusable: it can run the code it has but not add more. */
static void atfork_child(void) {
  if (A.base && A.memfd && !A.broken) {
    int fd = memfd_create("jcache-code", MFD_CLOEXEC);
    void *rw = MAP_FAILED;
    bool ok = fd >= 0 && ftruncate(fd, (off_t)A.size) == 0;
    if (ok) {
      rw = mmap(NULL, A.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ok = rw != MAP_FAILED;
    }
    if (ok) {
      for (size_t i = 0; i < A.code.n; i++)
        if (A.code.blk[i].used)
          memcpy((uint8_t *)rw + A.code.blk[i].off, A.base + A.code.blk[i].off,
                 A.code.blk[i].len);
      munmap(rw, A.size);
      /* Replace the executable view in place: same address, new pages. */
      ok = mmap(A.base, A.size, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED,
                fd, 0) != MAP_FAILED;
    }
    if (ok) {
      close(A.fd);
      A.fd = fd;
      A.populated = A.want_populated = 0; /* the new memfd has only the used
                                             blocks' pages */
    } else {
      if (fd >= 0) close(fd);
      A.broken = true;
    }
  }
  pthread_mutex_unlock(&A.lock);
}
