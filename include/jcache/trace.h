/*
** jcache/trace.h — live traces: code that runs in this process.
**
** A jc_trace is returned by jc_rec_finish() (freshly compiled code) or by
** jc_replay_commit() (reloaded code).  Live traces are kept in a process-wide
** registry by id, so a bridge can find its parent and attach to its exit.
**
** Thread safety: the getters may be called from any thread while the trace is
** live.  jc_trace_attach() and tail validation change live code with aligned
** atomic stores (a slot exit's attach stores into data memory), safe while
** other threads run it.  jc_trace_release() must not race with any other use
** of the same trace.
*/
#ifndef JCACHE_TRACE_H
#define JCACHE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jcache/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct jc_trace jc_trace;

typedef enum jc_tail_state {
  JC_TAIL_NONE = 0,     /* no tail guard was ever written there */
  JC_TAIL_PENDING,      /* tail guard in place, tail not checked yet */
  JC_TAIL_VALIDATED,    /* checked: patch point restored */
  JC_TAIL_INVALIDATED   /* checked and wrong: stays an exit */
} jc_tail_state;

uint64_t jc_trace_id(const jc_trace *t);
/* The parent's id and exit for a bridge; 0 for a loop. */
uint64_t jc_trace_parent(const jc_trace *t, uint32_t *exit);
/* True if the code was reloaded from the cache, false if compiled here. */
bool jc_trace_reloaded(const jc_trace *t);
/* The code's address (NULL if it does not run here) and size. */
void *jc_trace_code(const jc_trace *t, size_t *size);
void *jc_trace_entry(const jc_trace *t);
const char *jc_trace_name(const jc_trace *t); /* "" if none */
/* The value a slot was bound or resolved to at commit. */
jc_err jc_trace_slot(const jc_trace *t, uint32_t slot, uint64_t *value);
/* The client's aux bytes recorded with the trace (a copy owned by t). */
const void *jc_trace_aux(const jc_trace *t, size_t *len);
/* What the cache's prepare hook (jc_cache_opts) wrote for the record this
** trace was reloaded from, and its size; NULL and 0 if it did not run for
** that record (read on the program's thread, or the hook kept nothing) or
** the trace was compiled here.  Valid until the cache closes. */
const void *jc_trace_prepared(const jc_trace *t, size_t *len);
/* For a client's cost accounting: how long writing this trace ahead took
** (its share, by code size, of the commit that wrote it ahead of its check:
** 0 if it was not), and how long its own commit spent writing others ahead
** (part of that commit's time; 0 if none).  A commit that reloads a bridge
** written ahead is cheap because this part was paid before. */
uint64_t jc_trace_ahead_ns(const jc_trace *t);
uint64_t jc_trace_wrote_ahead_ns(const jc_trace *t);

/* Where guard n's exit jumps now (its stub, or an attached bridge), or NULL. */
void *jc_trace_exit_target(const jc_trace *t, uint32_t guard);

/* The state of the tail after guard `after_guard`; JC_GUARD_ANY: PENDING if
** any tail of the trace is pending, else the state of its first tail. */
jc_tail_state jc_trace_tail(const jc_trace *t, uint32_t after_guard);

/* Entry i of the trace's line table (sorted by offset): code from *off on
** comes from *file:*line.  False past the end. */
bool jc_trace_line_at(const jc_trace *t, size_t i, uint32_t *off,
                      const char **file, uint32_t *line);

/* Point guard n's exit at `target` (a bridge's entry), live; NULL points it
** back at its own stub.  A slot exit (jc_rec_exit_slot) is one atomic store
** into data memory; a rel32 exit is a live patch of the code. */
jc_err jc_trace_attach(jc_trace *t, uint32_t guard, void *target);

/* The live trace with this id, or NULL. */
jc_trace *jc_trace_find(uint64_t id);

/* Forget the trace; code the library allocated is freed.  After this the
** caller must make sure no thread still runs the code. */
void jc_trace_release(jc_trace *t);

#ifdef __cplusplus
}
#endif
#endif
