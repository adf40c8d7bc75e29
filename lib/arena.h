/*
** lib/arena.h — the code arena's internal interface: write windows.
**
** A window is a short-lived read+write view of code pages.  The commit path
** opens one window over a new trace, copies and patches through it, and
** closes it before the trace can run.  Never hold a window across a call
** into the client.
*/
#ifndef JC_LIB_ARENA_H
#define JC_LIB_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jcache/arena.h"

typedef struct jc_window {
  uint8_t *code;   /* executable address of the first byte asked for */
  uint8_t *rw;     /* writable address of that same byte */
  size_t len;
  void *map;       /* what to unmap / re-protect (page aligned) */
  size_t map_len;
  bool kept;       /* a stage in the kept buffer (arena.c), not malloc'd */
} jc_window;

/* Open a writable view of [code, code+len); any range inside the arena is
** accepted.  Windows may nest and overlap (e.g. jc_arena_patch while a window
** is open); in the fallback mode a page stays writable until its last window
** closes. */
jc_err jc_arena_window_open(void *code, size_t len, jc_window *w);
/* Close the view; the bytes are visible through the executable view. */
void jc_arena_window_close(jc_window *w);

/* Allocate without filling: for a caller that writes all `*len` bytes in
** its own window before the code can run (the commit path). */
jc_err jc_arena_alloc_nofill(size_t size, void **code, size_t *len);

/* Stage a write of fresh bytes to [code, code+len): w->rw is a private
** buffer that the caller fills *completely* (it starts undefined), and
** jc_arena_stage_close() stores it into the code pages.  In memfd mode that
** is a pwrite() to the memfd, so no writable mapping of code ever exists and
** no page-table work is done; in the fallback mode it goes through a window.
** For code that is not reachable yet; live patches use jc_arena_patch. */
jc_err jc_arena_stage_open(void *code, size_t len, jc_window *w);
/* Store the staged bytes and free the buffer (also on failure). */
jc_err jc_arena_stage_close(jc_window *w);
/* Drop a staged buffer without storing it. */
void jc_arena_stage_abort(jc_window *w);

/* How many stores of code bytes this process made (tests: a commit that
** should write no code). */
uint64_t jc_arena_stores(void);

/* The writable address of executable address `p` inside an open window. */
static inline uint8_t *jc_window_at(const jc_window *w, const void *p) {
  return w->rw + ((const uint8_t *)p - w->code);
}

#endif
