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
** Thread safety: any thread, concurrently.  After fork() the child's blocks
** are its own copies; the child populates its own chunks when it next needs
** one.
*/
#ifndef JCACHE_MEM_H
#define JCACHE_MEM_H

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif
#endif
