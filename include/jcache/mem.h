/*
** jcache/mem.h — memory for the reload path, populated ahead.
**
** In a virtual machine a page touched for the first time costs a couple of
** microseconds, as much as the rest of a small trace's commit.  The memory
** a reload needs for its metadata (libjcache's own trace records, and the
** client's: jcvm's reloaded traces) comes from here: blocks carved from
** chunks whose pages a background thread has touched before they are
** needed, and recycled by size class when freed, so a reload meets no page
** fault of its own.
**
** Blocks are 16-byte aligned.  Large blocks (over 64 KiB) come from malloc.
** Memory is kept for reuse, never returned to the system.  Under
** AddressSanitizer every block comes from malloc, so the sanitizer still
** sees every use after free.
**
** Thread safety: any thread, concurrently; a block may be freed by another
** thread than the one that allocated it.  Each thread reuses the blocks it
** freed first, without a lock, and gives them back when it ends.  After
** fork() the child's blocks are its own copies; the child populates its
** own chunks when it next needs one.
*/
#ifndef JCACHE_MEM_H
#define JCACHE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A block of n bytes (uninitialized), or NULL when out of memory.  The first
** call starts the thread that populates chunks ahead. */
void *jc_mem_alloc(size_t n);
/* The same, zeroed. */
void *jc_mem_calloc(size_t n);
/* Give back a block from jc_mem_alloc or jc_mem_calloc; NULL is accepted. */
void jc_mem_free(void *p);

/* Map ahead the pages of the loaded image (the executable or a shared
** library) that contains addr: its writable data written, here and now
** (a few pages: its first stores later would each make the kernel
** interrupt the other CPUs the process ran on), then its code and
** read-only data readable, on the populating thread, so that code the
** reload path runs for the first time (a client's checking and reloading)
** does not fault on it.  Call it before starting threads of your own.
** libjcache does it for itself when a cache is opened; addr NULL does
** only that.  At most 8 images; asking again for one is a no-op; best
** effort (a kernel without MADV_POPULATE_* leaves the faults). */
void jc_mem_prefault_image(const void *addr);

/* Memory of the client's that it will write soon (say, the next chunks of
** a heap that grows): the pages of [addr, addr+len), mapped writable, are
** populated on the populating thread, on another CPU, before this
** thread's first stores fault on them one by one.  Returns at once; false
** if the range was not queued (no thread, under AddressSanitizer, or
** JC_MEM_AHEAD_MAX ranges already waiting).  The thread looks for work
** within a millisecond of its last and up to 128 ms when it has been idle,
** so a client checks before use (mincore) and populates what is not there
** yet itself.  A range unmapped meanwhile is harmless: its populating
** fails, or faults in pages of whatever is mapped there, never writing. */
#define JC_MEM_AHEAD_MAX 8
bool jc_mem_populate_ahead(void *addr, size_t len);

/* What the populating thread has done: for a client's statistics (its CPU
** time is work taken off the program's thread, not work saved). */
typedef struct jc_mem_stats {
  uint64_t chunks;    /* chunks blocks were carved from */
  uint64_t populated; /* chunks the thread populated ahead */
  uint64_t faulting;  /* chunks mapped on demand (none was ready) */
  uint64_t ahead;     /* ranges populated for the client (jc_mem_populate_ahead) */
  uint64_t ahead_cpu_ns; /* the part of cpu_ns spent on them */
  uint64_t cpu_ns;    /* the thread's CPU time (populating, and the code
                         arena's populating ahead) */
  uint32_t ready;     /* populated chunks waiting */
} jc_mem_stats;
void jc_mem_info(jc_mem_stats *out);

#ifdef __cplusplus
}
#endif
#endif
