/*
** jcache/arena.h — the code arena: where machine code lives.
**
** One region is reserved per process, near the host executable so that REL32
** calls from JIT code to the host's helpers reach, and so that REL32 jumps
** between traces always reach.  Code memory is never writable and executable
** at once: the region is a memfd mapped read+execute once, and its protection
** never changes (so perf sees one stable mapping).  New code is stored with
** pwrite() into the memfd, so no writable mapping of it exists at all; a live
** patch maps the one page it changes read+write for the duration of a single
** aligned atomic store (or, for a single-threaded client, is a pwrite too:
** JC_ARENA_ONE_THREAD).
** Where that is not possible (no memfd), the arena falls back to flipping the
** protection of the written pages, never to read+write+execute.
** In that fallback, allocations are whole pages, and patching code that
** another thread is executing at that moment is not safe.
**
** After fork() the child gets a private copy of the arena at the same
** address; parent and child never see each other's writes.
**
** The client's JIT uses the arena for its own freshly compiled code too:
** allocate (to learn the final address), assemble for that address, write.
**
** Thread safety: every function may be called from any thread.
*/
#ifndef JCACHE_ARENA_H
#define JCACHE_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jcache/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jc_arena_opts {
  size_t size;      /* bytes to reserve; 0: 256 MiB (or $JCACHE_ARENA_MB) */
  const void *near; /* place within +-1 GiB of this; NULL: the executable */
  uint32_t flags;   /* JC_ARENA_* */
} jc_arena_opts;

/* The client runs arena code on one thread only, and patches it from that
** thread while the code is not running (a single-threaded VM patches from
** its interpreter or exit handler).  Live patches are then written like new
** code, with pwrite() into the memfd, instead of through a one-page write
** window: no mapping is created or torn down, so no TLB shootdown, about a
** tenth of the cost.  Nothing is ever mapped writable in this mode.  Without
** the flag, patches are atomic for code that other threads run. */
#define JC_ARENA_ONE_THREAD 1u

/* Reserve the arena now with these options.  Optional: the first use reserves
** it with the defaults.  JC_STATE if it is already reserved. */
jc_err jc_arena_init(const jc_arena_opts *opts);

/* Allocate `size` bytes of code space, 64-byte aligned; *code is the
** executable address.  The bytes are filled with int3 until written.
** JC_INVAL for size 0, JC_ARENA when no free block is large enough. */
jc_err jc_arena_alloc(size_t size, void **code);
/* Give back the end of an allocation (after assembling into a bound). */
jc_err jc_arena_shrink(void *code, size_t new_size);
/* Free an allocation.  NULL is accepted; a pointer that is not the start of
** an allocation is ignored (the reason is left in jc_last_error()). */
void jc_arena_free(void *code);

/* Copy bytes into code that is not running yet. */
jc_err jc_arena_write(void *dst, const void *src, size_t len);
/* Patch live code: `len` is 1, 2, 4 or 8 and [dst, dst+len) lies inside one
** aligned 8-byte word, which is replaced with one atomic store. */
jc_err jc_arena_patch(void *dst, const void *src, size_t len);

/* Data memory for code to load from: `size` bytes, zeroed, 64-byte
** aligned, read+write and never executable, within rel32 reach of every
** byte of the arena's code (it is mapped right after it).  What code loads
** RIP-relative: the cells of JC_RELOC_CELL32 relocations (jcache/rec.h) in
** a client's own compiled code.  JC_ARENA when the 16 MiB are used up. */
jc_err jc_arena_data_alloc(size_t size, void **out);
/* Free data memory.  NULL is accepted; a pointer that is not the start of
** an allocation is ignored (the reason is left in jc_last_error()). */
void jc_arena_data_free(void *p);

/* True if [p, p+len) lies inside the arena. */
bool jc_arena_contains(const void *p, size_t len);
/* The reserved region (base NULL and size 0 before it is reserved). */
void jc_arena_bounds(void **base, size_t *size);

#ifdef __cplusplus
}
#endif
#endif
