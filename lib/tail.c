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

jc_err jc_tail_validate(jc_replay *r, jc_path *p) {
  jc_trace *t = r->tail;
  jc_tail *tl = &t->tails[r->tail_idx];
  const jc_level *l = &p->lv[0];
  uint8_t *at = t->code + tl->pp.off;
  jc_err err = JC_OK;
  uint32_t patched = 0;

  jc_trace_lock();
  if (tl->state != JC_TAIL_PENDING) {
    jc_trace_unlock();
    return jc_fail(JC_STATE, "jcache: tail after guard %u is no longer pending",
                   tl->pp.after_guard);
  }
  /* Every deferred relocation inside this tail needs its slot now. */
  for (uint32_t k = 0; k < t->ndeferred && !err; k++) {
    const struct jc_fmt_reloc *rl = &t->deferred[k];
    if (rl->off < tl->pp.off || rl->off >= tl->pp.end) continue;
    if (!l->set[rl->slot])
      err = jc_fail(JC_MISS, "jcache: slot %u of the tail was never bound",
                    rl->slot);
  }
  /* Patch each deferred relocation where it lies (that code is not
  ** reachable yet), except the bytes that fall inside the patch point: they
  ** go into its original 8 bytes, which are put back last, atomically.  Only
  ** relocation fields are written: the range may hold code that runs (a
  ** client's exit stubs of guards before this one). */
  uint8_t word[8];
  memcpy(word, tl->orig, 8);
  for (uint32_t k = 0; k < t->ndeferred && !err; k++) {
    const struct jc_fmt_reloc *rl = &t->deferred[k];
    if (rl->off < tl->pp.off || rl->off >= tl->pp.end) continue;
    uint8_t field[8];
    unsigned w = jc_reloc_width(rl->kind);
    err = jc_reloc_apply(rl->kind, field, t->code + rl->off, l->val[rl->slot],
                         rl->addend);
    uint32_t in_word = 0; /* leading bytes of the field inside the word */
    while (!err && in_word < w && rl->off + in_word < tl->pp.off + 8) {
      word[rl->off + in_word - tl->pp.off] = field[in_word];
      in_word++;
    }
    if (!err && in_word < w)
      err = jc_arena_write(t->code + rl->off + in_word, field + in_word,
                           w - in_word);
    patched++;
    JC_PROBE(reloc, t->id, (uint64_t)(uintptr_t)(t->code + rl->off), rl->kind,
             l->val[rl->slot]);
  }
  if (!err) err = jc_arena_patch(at, word, 8);
  if (err) {
    jc_trace_unlock();
    return err; /* stays pending: the guard still protects the tail */
  }
  tl->state = JC_TAIL_VALIDATED;
  memcpy(t->slot_val, l->val, (size_t)(t->nslots + 1) * sizeof *t->slot_val);
  memcpy(t->slot_set, l->set, (size_t)(t->nslots + 1) * sizeof *t->slot_set);
  jc_trace_unlock();

  jc_stat_add(tails_validated, 1);
  jc_stat_add(relocs_patched, patched);
  JC_PROBE(tail_validated, t->id, tl->pp.after_guard, (uint64_t)(uintptr_t)at);
  return JC_OK;
}

void jc_tail_invalidate(jc_replay *r, uint32_t site, uint64_t expected,
                        uint64_t observed) {
  jc_trace *t = r->tail;
  jc_tail *tl = &t->tails[r->tail_idx];
  jc_trace_lock();
  bool was_pending = tl->state == JC_TAIL_PENDING;
  if (was_pending) tl->state = JC_TAIL_INVALIDATED;
  jc_trace_unlock();
  if (!was_pending) return;
  jc_stat_add(tails_invalidated, 1);
  JC_PROBE(tail_invalidated, t->id, tl->pp.after_guard,
           (uint64_t)(uintptr_t)(t->code + tl->pp.off), site, expected,
           observed);
}
