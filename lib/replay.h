/*
** lib/replay.h — replay cursors (internal): paths through candidates.
**
** A cursor follows every candidate at once.  Each candidate is a *path*: a
** chain of levels, the loop (or lazy bridge) first and then the bridges the
** checking iteration entered, each with its tape position and the constants
** bound so far.  A green decision advances every live path and kills those
** that disagree; leaving through an exit forks a path per saved bridge of
** that exit and keeps the bridgeless path (which ends there) as a fallback.
*/
#ifndef JC_LIB_REPLAY_H
#define JC_LIB_REPLAY_H

#include <stdbool.h>

#include "arena.h"
#include "cache.h"
#include "jcache/replay.h"
#include "trace.h"

#define JC_NO_GUARD UINT32_MAX

typedef struct jc_level {
  const jc_cand *cand;   /* NULL for a tail cursor */
  uint64_t id;
  const uint8_t *tape;   /* raw jc_fmt_tape entries */
  uint32_t ntape, pos;
  uint32_t left_guard;   /* guard whose exit was taken, or JC_NO_GUARD */
  uint32_t nslots;
  uint64_t *val;         /* slot values bound so far */
  bool *set;
} jc_level;

typedef struct jc_path {
  bool alive;
  bool exited; /* left the last level through an exit with no bridge */
  uint32_t depth;
  jc_level lv[JC_MAX_CHAIN];
} jc_path;

struct jc_replay {
  jc_cache *cache;
  jc_resolver resolve;
  void *resolve_ctx;
  jc_trace *parent;  /* live parent of a lazy bridge */
  uint32_t parent_exit;

  jc_path *paths;
  uint32_t npaths, cap;
  bool missed;       /* the miss was counted */
  uint64_t hits, binds; /* counted here, added to the process counters once
                           when the cursor ends: no atomic per decision */

  jc_cands **held;   /* bridge lookups made while replaying */
  uint32_t nheld, cap_held;

  bool pass_guards;  /* jc_replay_pass_guards: green and bind step over GUARDs */
  jc_trace *tail;    /* tail cursor: the trace and its patch point */
  uint32_t tail_idx;
  uint32_t tail_from; /* tape position where the tail starts; the entries
                         before it (the checked prefix) are compared with
                         the trace as committed */
};

/* lib/commit.c: a reloaded trace's metadata from its record: id, code at
** `code`, everything jc_trace_alloc copies, and its cells when the record
** has CELL32 relocations (slot values unset). */
jc_err jc_commit_trace_init(jc_trace *t, const jc_view *v, uint64_t id,
                            uint8_t *code);
/* The value of a symbol slot (r's resolver) or of an arena slot (an
** address inside `base`, the `size` bytes of code its ref names), or the
** error that makes the commit a miss. */
jc_err jc_commit_slot_value(const jc_replay *r, const struct jc_fmt_slot *sl,
                            const char *strings, const uint8_t *base,
                            size_t size, uint64_t *out);
/* Give each slot exit of t its slot, pointing at its stub, and write the
** slot's address into the code staged in w (which covers t's code). */
void jc_commit_exit_slots(jc_trace *t, const jc_window *w);
/* lib/commit.c: copy, patch, protect and register the path's traces. */
jc_err jc_commit_path(jc_replay *r, jc_path *p, jc_trace **out, size_t cap,
                      size_t *n);
/* lib/tail.c: validate, move or invalidate the tail of a tail cursor. */
jc_err jc_tail_validate(jc_replay *r, jc_path *p);
jc_err jc_tail_move(jc_replay *r, jc_path *p);
void jc_tail_invalidate(jc_replay *r, uint32_t site, uint64_t expected,
                        uint64_t observed);
/* lib/replay.c */
void jc_replay_free(jc_replay *r);
/* Give level l the room for slots 0..nslots (values and set flags, one
** block that jc_replay_free gives back; contents undefined). */
jc_err jc_level_slots(jc_level *l, uint32_t nslots);

#endif
