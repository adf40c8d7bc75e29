/*
** lib/mem.h — what tests see of the reload-path memory (lib/mem.c).
*/
#ifndef JC_LIB_MEM_H
#define JC_LIB_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "jcache/mem.h"

/* Start populating chunks now, before the first block is needed (at cache
** open and arena reservation: the reload path then never maps a chunk on
** demand). */
void jc_mem_start(void);
/* Run fn on that thread when it next looks for work (within a millisecond
** while the program reloads, at most 128 ms when it has long been idle;
** once, however often it is asked for before it runs), without waking it;
** on the caller's thread if there is no such thread.  The caller
** must hold no lock fn takes.  For the code arena's populating ahead. */
void jc_mem_background(void (*fn)(void));
/* Fault the pages of [p, p+len) in for writing now (MADV_POPULATE_WRITE,
** a page per system call; where that fails, a zero is stored in the page):
** for fresh memory whose contents do not matter yet.  Called on a
** background thread, so that the program's first touch meets no fault. */
void jc_mem_populate(void *p, size_t len);
/* Wait until the thread has run every job asked of it so far, and
** populated every client range (tests). */
void jc_mem_drain(void);
/* Wait until the thread has populated its chunks ahead; false if it is not
** running (no allocation yet, or it could not start). */
bool jc_mem_wait_ready(void);

#endif
