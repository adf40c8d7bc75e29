/*
** lib/tail.c — checking a loop tail that was reloaded unchecked.
**
** A tail guard fired: the client's stub left the trace at the patch point and
** now runs the rest of the iteration in checking mode on a tail cursor.  The
** cursor is an ordinary one-level replay over the trace's saved tape, from
** the entry after the guard the first check left through.  On a hit to the
** end, the relocations deferred to the tail are patched (that code is not
** reachable yet) and then the patch point's original 8 bytes are put back
** with one aligned atomic store: the tail is validated.  On a miss the tail
** guard stays, for good, an exit: the tail is invalidated.
*/
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "internal.h"
#include "probes.h"
#include "reloc.h"
#include "replay.h"

JC_API jc_err jc_tail_begin(jc_trace *t, uint32_t after_guard, jc_replay **out) {
  if (!out) return jc_fail(JC_INVAL, "jcache: jc_tail_begin: out is NULL");
  *out = NULL;
  if (!t) return jc_fail(JC_INVAL, "jcache: jc_tail_begin: trace is NULL");
  uint32_t idx = UINT32_MAX;
  for (uint32_t i = 0; i < t->ntails; i++)
    if ((after_guard == JC_GUARD_ANY || t->tails[i].pp.after_guard == after_guard) &&
        t->tails[i].state == JC_TAIL_PENDING) {
      idx = i;
      break;
    }
  if (idx == UINT32_MAX)
    return jc_fail(JC_NOTFOUND, "jcache: trace %016llx has no pending tail "
                                "after guard %u",
                   (unsigned long long)t->id, after_guard);
  jc_replay *r = calloc(1, sizeof *r);
  jc_path *p = calloc(1, sizeof *p);
  if (!r || !p) {
    free(r);
    free(p);
    return jc_fail(JC_NOMEM, "jcache: out of memory in tail check");
  }
  r->paths = p;
  r->npaths = r->cap = 1;
  r->tail = t;
  r->tail_idx = idx;
  r->tail_from = t->tails[idx].tape_pos;
  p->alive = true;
  p->depth = 1;
  jc_level *l = &p->lv[0];
  l->id = t->id;
  l->tape = (const uint8_t *)t->tape;
  l->ntape = t->ntape;
  l->pos = 0; /* the whole iteration is reported again: see tail_from */
  l->left_guard = JC_NO_GUARD;
  l->nslots = t->nslots;
  l->val = malloc((size_t)(t->nslots + 1) * sizeof *l->val);
  l->set = malloc((size_t)(t->nslots + 1) * sizeof *l->set);
  if (!l->val || !l->set) {
    jc_replay_free(r);
    return jc_fail(JC_NOMEM, "jcache: out of memory in tail check");
  }
  /* Bindings are tentative until validation copies them into the trace. */
  memcpy(l->val, t->slot_val, (size_t)(t->nslots + 1) * sizeof *l->val);
  memcpy(l->set, t->slot_set, (size_t)(t->nslots + 1) * sizeof *l->set);
  *out = r;
  return JC_OK;
}

/* The tail guards of one commit are one tail (commit.c, pick_tail): a
** loop may wait at two patch points for it.  Validation patches the
** deferred relocations of all of them and then restores each patch point. */
jc_err jc_tail_validate(jc_replay *r, jc_path *p) {
  jc_trace *t = r->tail;
  const jc_level *l = &p->lv[0];
  jc_err err = JC_OK;
  uint32_t patched = 0;

  jc_trace_lock();
  for (uint32_t i = 0; i < t->ntails; i++)
    if (t->tails[i].state != JC_TAIL_PENDING) {
      jc_trace_unlock();
      return jc_fail(JC_STATE, "jcache: tail after guard %u is no longer pending",
                     t->tails[i].pp.after_guard);
    }
  /* Every deferred relocation needs its slot now. */
  for (uint32_t k = 0; k < t->ndeferred && !err; k++)
    if (!l->set[t->deferred[k].slot])
      err = jc_fail(JC_MISS, "jcache: slot %u of the tail was never bound",
                    t->deferred[k].slot);
  /* Patch each deferred relocation where it lies (that code is not
  ** reachable yet), except the bytes that fall inside a patch point's own 8:
  ** they go into its kept original, which is put back last, atomically.
  ** Only relocation fields are written: a range may hold code that runs (a
  ** client's exit stubs of guards before this one). */
  uint8_t (*words)[8] = err ? NULL : malloc((size_t)t->ntails * 8 + 1);
  if (!err && !words) err = jc_fail(JC_NOMEM, "jcache: out of memory");
  for (uint32_t i = 0; i < t->ntails && !err; i++)
    memcpy(words[i], t->tails[i].orig, 8);
  for (uint32_t k = 0; k < t->ndeferred && !err; k++) {
    const struct jc_fmt_reloc *rl = &t->deferred[k];
    uint8_t field[8];
    unsigned w = jc_reloc_width(rl->kind);
    err = jc_reloc_apply(rl->kind, field, t->code + rl->off, l->val[rl->slot],
                         rl->addend);
    unsigned run = 0; /* bytes [b - run, b) to write as they lie */
    for (unsigned b = 0; b <= w && !err; b++) {
      bool in_word = false;
      for (uint32_t i = 0; i < t->ntails && b < w && !in_word; i++) {
        uint32_t at = rl->off + b;
        if (at >= t->tails[i].pp.off && at < t->tails[i].pp.off + 8) {
          words[i][at - t->tails[i].pp.off] = field[b];
          in_word = true;
        }
      }
      if (b < w && !in_word) {
        run++;
        continue;
      }
      if (run) err = jc_arena_write(t->code + rl->off + b - run, field + b - run, run);
      run = 0;
    }
    patched++;
    JC_PROBE(reloc, t->id, (uint64_t)(uintptr_t)(t->code + rl->off), rl->kind,
             l->val[rl->slot]);
  }
  for (uint32_t i = 0; i < t->ntails && !err; i++)
    err = jc_arena_patch(t->code + t->tails[i].pp.off, words[i], 8);
  free(words);
  if (err) {
    jc_trace_unlock();
    return err; /* stays pending: the guards still protect the tail */
  }
  for (uint32_t i = 0; i < t->ntails; i++) t->tails[i].state = JC_TAIL_VALIDATED;
  memcpy(t->slot_val, l->val, (size_t)(t->nslots + 1) * sizeof *t->slot_val);
  memcpy(t->slot_set, l->set, (size_t)(t->nslots + 1) * sizeof *t->slot_set);
  jc_trace_unlock();

  jc_stat_add(tails_validated, 1);
  jc_stat_add(relocs_patched, patched);
  JC_PROBE(tail_validated, t->id, t->tails[r->tail_idx].pp.after_guard,
           (uint64_t)(uintptr_t)(t->code + t->tails[r->tail_idx].pp.off));
  return JC_OK;
}

void jc_tail_invalidate(jc_replay *r, uint32_t site, uint64_t expected,
                        uint64_t observed) {
  jc_trace *t = r->tail;
  jc_tail *tl = &t->tails[r->tail_idx];
  jc_trace_lock();
  bool was_pending = tl->state == JC_TAIL_PENDING;
  if (was_pending)
    for (uint32_t i = 0; i < t->ntails; i++) t->tails[i].state = JC_TAIL_INVALIDATED;
  jc_trace_unlock();
  if (!was_pending) return;
  jc_stat_add(tails_invalidated, 1);
  JC_PROBE(tail_invalidated, t->id, tl->pp.after_guard,
           (uint64_t)(uintptr_t)(t->code + tl->pp.off), site, expected,
           observed);
}
