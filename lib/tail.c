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
** guard stays, for good, an exit: the tail is invalidated.  A check that
** leaves the trace through a guard inside the tail moves the tail guard
** after that guard (jc_tail_move): the part up to it is checked.
*/
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "internal.h"
#include "jcache/mem.h"
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
  jc_replay *r = jc_mem_calloc(sizeof *r); /* freed by jc_replay_free */
  jc_path *p = jc_mem_calloc(sizeof *p); /* freed with it */
  if (!r || !p) {
    jc_mem_free(r);
    jc_mem_free(p);
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
  if (jc_level_slots(l, t->nslots)) {
    jc_replay_free(r);
    return jc_fail(JC_NOMEM, "jcache: out of memory in tail check");
  }
  /* Bindings are tentative until validation copies them into the trace. */
  memcpy(l->val, t->slot_val, (size_t)(t->nslots + 1) * sizeof *l->val);
  memcpy(l->set, t->slot_set, (size_t)(t->nslots + 1) * sizeof *l->set);
  *out = r;
  return JC_OK;
}

/* An 8-byte patch-point word whose bytes are kept aside while a tail guard
** stands in the code in their place: its original (tl->orig), put back
** later with one atomic store. */
typedef struct kept_word {
  uint32_t off;
  uint8_t *bytes;
} kept_word;

/* Patch relocation `rl` with `value` where it lies (that code is not
** reachable yet), except the bytes that fall inside a kept word: they go
** into its copy.  Only the relocation's field is written: a range may hold
** code that runs (a client's exit stubs of guards before the tail). */
static jc_err put_field(jc_trace *t, const struct jc_fmt_reloc *rl,
                        uint64_t value, kept_word *kw, uint32_t nkw) {
  if (rl->kind == JC_RELOC_CELL32) {
    /* The code has the cell's address since the commit: only the value,
    ** in data memory, before the tail guards go (release). */
    __atomic_store_n(&t->cells[rl->slot], value, __ATOMIC_RELEASE);
    JC_PROBE(reloc, t->id, (uint64_t)(uintptr_t)(t->code + rl->off), rl->kind,
             value);
    return JC_OK;
  }
  uint8_t field[8];
  unsigned w = jc_reloc_width(rl->kind);
  jc_err err = jc_reloc_apply(rl->kind, field, t->code + rl->off, value,
                              rl->addend);
  unsigned run = 0; /* bytes [b - run, b) to write as they lie */
  for (unsigned b = 0; b <= w && !err; b++) {
    bool in_word = false;
    for (uint32_t i = 0; i < nkw && b < w && !in_word; i++) {
      uint32_t at = rl->off + b;
      if (at >= kw[i].off && at < kw[i].off + 8) {
        kw[i].bytes[at - kw[i].off] = field[b];
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
  if (!err)
    JC_PROBE(reloc, t->id, (uint64_t)(uintptr_t)(t->code + rl->off), rl->kind,
             value);
  return err;
}

static jc_err all_pending(const jc_trace *t) {
  for (uint32_t i = 0; i < t->ntails; i++)
    if (t->tails[i].state != JC_TAIL_PENDING)
      return jc_fail(JC_STATE, "jcache: tail after guard %u is no longer pending",
                     t->tails[i].pp.after_guard);
  return JC_OK;
}

/* The tail guards of one commit are one tail (commit.c, pick_tail): a
** loop may wait at two patch points for it.  Validation patches the
** deferred relocations of all of them and then restores each patch point. */
jc_err jc_tail_validate(jc_replay *r, jc_path *p) {
  jc_trace *t = r->tail;
  const jc_level *l = &p->lv[0];
  uint32_t patched = 0;

  jc_trace_lock();
  jc_err err = all_pending(t);
  /* Every deferred relocation needs its slot now. */
  for (uint32_t k = 0; k < t->ndeferred && !err; k++)
    if (!l->set[t->deferred[k].slot])
      err = jc_fail(JC_MISS, "jcache: slot %u of the tail was never bound",
                    t->deferred[k].slot);
  kept_word *kw = err ? NULL : malloc((size_t)t->ntails * sizeof *kw + 1);
  uint8_t (*words)[8] = err ? NULL : malloc((size_t)t->ntails * 8 + 1);
  if (!err && (!kw || !words)) err = jc_fail(JC_NOMEM, "jcache: out of memory");
  for (uint32_t i = 0; i < t->ntails && !err; i++) {
    memcpy(words[i], t->tails[i].orig, 8);
    kw[i] = (kept_word){t->tails[i].pp.off, words[i]};
  }
  for (uint32_t k = 0; k < t->ndeferred && !err; k++, patched++)
    err = put_field(t, &t->deferred[k], l->val[t->deferred[k].slot], kw, t->ntails);
  for (uint32_t i = 0; i < t->ntails && !err; i++)
    err = jc_arena_patch(t->code + t->tails[i].pp.off, words[i], 8);
  free(kw);
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

/* Is relocation rl inside one of the patch points marked in pick[]? */
static bool picked_range(const jc_trace *t, const bool *pick,
                         const struct jc_fmt_reloc *rl) {
  for (uint32_t k = 0; k < t->npatches; k++)
    if (pick[k] && rl->off >= t->patches[k].off &&
        rl->off + jc_reloc_width(rl->kind) <= t->patches[k].end)
      return true;
  return false;
}

/* The tail check left the trace through guard m, inside the tail: the part
** of the tail up to m agrees with the program, the rest was not checked.
** Move the tail guard after m, as a first check that left through m would
** have put it: at all the patch points declared after m, if together they
** cover every relocation whose slot is still unbound.  In order, so that
** no path ever runs unchecked code: the relocations bound by the checked
** part are patched (behind the old tail guards), the new tail guards are
** written (atomic stores), and the old ones are lifted, each with its
** original word (atomic stores).  A patch point that is in both keeps its
** tail guard.  The tail stays pending, from the tape entry after m. */
jc_err jc_tail_move(jc_replay *r, jc_path *p) {
  jc_trace *t = r->tail;
  const jc_level *l = &p->lv[0];
  uint32_t m = l->left_guard;
  if (m == JC_NO_GUARD || l->pos <= r->tail_from || l->pos >= l->ntape)
    return jc_fail(JC_STATE, "jcache: the tail check left the trace through "
                             "an exit; the tail guard stays pending");

  jc_trace_lock();
  jc_err err = all_pending(t);
  bool *pick = err ? NULL : calloc(t->npatches + 1, 1);
  if (!err && !pick) err = jc_fail(JC_NOMEM, "jcache: out of memory");
  uint32_t nnew = 0;
  for (uint32_t k = 0; k < t->npatches && !err; k++)
    if (t->patches[k].after_guard == m) pick[k] = true, nnew++;
  if (!err && nnew == 0)
    err = jc_fail(JC_STATE, "jcache: no patch point after guard %u; the tail "
                            "guard stays where it is", m);
  for (uint32_t k = 0; k < t->ndeferred && !err; k++)
    if (!l->set[t->deferred[k].slot] && !picked_range(t, pick, &t->deferred[k]))
      err = jc_fail(JC_STATE, "jcache: the patch points after guard %u do not "
                              "cover the rest of the tail", m);

  /* The new tails; one at the same place as an old one shares its word. */
  uint32_t nold = t->ntails;
  jc_tail *nt = err ? NULL : calloc(nnew + 1, sizeof *nt);
  kept_word *kw = err ? NULL : malloc((size_t)(nold + nnew) * sizeof *kw + 1);
  bool *shared = err ? NULL : calloc(nold + 1, 1);
  if (!err && (!nt || !kw || !shared)) err = jc_fail(JC_NOMEM, "jcache: out of memory");
  uint32_t nkw = 0, n = 0;
  for (uint32_t i = 0; i < nold && !err; i++)
    kw[nkw++] = (kept_word){t->tails[i].pp.off, t->tails[i].orig};
  for (uint32_t k = 0; k < t->npatches && !err; k++) {
    if (!pick[k]) continue;
    jc_tail *tl = &nt[n++];
    tl->pp = t->patches[k];
    tl->state = JC_TAIL_PENDING;
    tl->tape_pos = l->pos;
    uint32_t i = 0;
    while (i < nold && t->tails[i].pp.off != tl->pp.off) i++;
    if (i < nold) {
      shared[i] = true; /* its orig is filled from the old one below */
    } else {
      memcpy(tl->orig, t->code + tl->pp.off, 8);
      kw[nkw++] = (kept_word){tl->pp.off, tl->orig};
    }
  }

  /* Patch what the checked part bound; keep the rest deferred.  From the
  ** first write on, a failure leaves code changed under the tail guards. */
  uint32_t patched = 0, left = 0;
  bool changed = false;
  for (uint32_t k = 0; k < t->ndeferred && !err; k++) {
    const struct jc_fmt_reloc *rl = &t->deferred[k];
    if (l->set[rl->slot]) {
      err = put_field(t, rl, l->val[rl->slot], kw, nkw);
      patched++;
      changed = true;
    } else {
      t->deferred[left++] = *rl;
    }
  }
  for (uint32_t j = 0; j < nnew && !err; j++)
    for (uint32_t i = 0; i < nold; i++)
      if (shared[i] && t->tails[i].pp.off == nt[j].pp.off)
        memcpy(nt[j].orig, t->tails[i].orig, 8);

  /* New tail guards first, then the old ones lifted. */
  for (uint32_t j = 0; j < nnew && !err; j++) {
    uint8_t guard[8];
    err = jc_reloc_tail_guard(guard, nt[j].orig, t->code + nt[j].pp.off,
                              t->code + nt[j].pp.target_off);
    if (!err) err = jc_arena_patch(t->code + nt[j].pp.off, guard, 8);
    changed = true;
  }
  for (uint32_t i = 0; i < nold && !err; i++)
    if (!shared[i]) err = jc_arena_patch(t->code + t->tails[i].pp.off, t->tails[i].orig, 8);
  free(pick);
  free(kw);
  free(shared);
  if (err && changed) {
    /* Code changed under the tail guards: those in place stay, as exits,
    ** and the tail is not checked again (the client drops the trace). */
    for (uint32_t i = 0; i < nold; i++) t->tails[i].state = JC_TAIL_INVALIDATED;
    jc_trace_unlock();
    free(nt);
    jc_stat_add(tails_invalidated, 1);
    return err;
  }
  if (err) {
    jc_trace_unlock();
    free(nt);
    return err;
  }
  free(t->tails);
  t->tails = nt;
  t->ntails = nnew;
  t->ndeferred = left;
  memcpy(t->slot_val, l->val, (size_t)(t->nslots + 1) * sizeof *t->slot_val);
  memcpy(t->slot_set, l->set, (size_t)(t->nslots + 1) * sizeof *t->slot_set);
  jc_trace_unlock();

  jc_stat_add(tail_guards, nnew);
  jc_stat_add(relocs_patched, patched);
  for (uint32_t j = 0; j < nnew; j++)
    JC_PROBE(tail_guard, t->id, m, (uint64_t)(uintptr_t)(t->code + nt[j].pp.off));
  return jc_fail(JC_EXIT, "jcache: the tail check left the trace through guard "
                          "%u; the tail guard moved after it", m);
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
