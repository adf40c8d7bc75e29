/*
** lib/commit.c — reloading a checked path: copy, patch, protect, register.
**
** For each trace on the path, in order: allocate code space in the arena,
** compute every slot's value (bound by replay, resolved by name, or an
** address in this family's code), copy the saved bytes through a write
** window, patch every relocation, give each slot exit its slot (pointing at
** its stub), write the tail guards, point the exit the checking iteration
** left through at the next trace's entry, and close the window.  Nothing is
** reachable before the last step: the loop is entered by the client only
** after this returns, and a lazy bridge is attached to its
** live parent with one atomic store at the very end.  Any failure frees what
** was allocated and is a miss: the client traces the loop normally.
*/
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "arena.h"
#include "internal.h"
#include "probes.h"
#include "reloc.h"
#include "replay.h"
#include "gdbjit.h"

typedef struct commit_ctx {
  jc_replay *r;
  jc_path *p;
  uint8_t *addr[JC_MAX_CHAIN];
  size_t alloc_len[JC_MAX_CHAIN];
  jc_trace *t[JC_MAX_CHAIN];
  uint32_t relocs, guards, bytes;
} commit_ctx;

/* -- Slots ------------------------------------------------------------------------ */

/* The code of the trace an arena slot of level i refers to. */
static jc_err arena_base(commit_ctx *cx, uint32_t i, uint8_t ref,
                         const uint8_t **base, size_t *size) {
  const jc_replay *r = cx->r;
  if (ref == JC_REF_SELF) {
    *base = cx->addr[i];
    *size = cx->p->lv[i].cand->view.code_len;
    return JC_OK;
  }
  if (ref == JC_REF_PARENT) {
    if (i > 0) {
      *base = cx->addr[i - 1];
      *size = cx->p->lv[i - 1].cand->view.code_len;
      return JC_OK;
    }
    if (r->parent) {
      *base = r->parent->code;
      *size = r->parent->size;
      return JC_OK;
    }
  }
  if (ref == JC_REF_ROOT) {
    /* The root is the loop at level 0, or the live loop a lazy bridge's
    ** parent belongs to. */
    if (cx->p->lv[0].cand->view.hdr.kind == JC_FMT_LOOP) {
      *base = cx->addr[0];
      *size = cx->p->lv[0].cand->view.code_len;
      return JC_OK;
    }
    const jc_trace *root =
        !r->parent ? NULL
        : r->parent->root_id ? jc_trace_find(r->parent->root_id)
                             : r->parent;
    if (root && root->code) {
      *base = root->code;
      *size = root->size;
      return JC_OK;
    }
  }
  return jc_fail(JC_MISS, "jcache: arena slot refers to trace %u that does not "
                          "run here", ref);
}

jc_err jc_commit_slot_value(const jc_replay *r, const struct jc_fmt_slot *sl,
                            const char *strings, const uint8_t *base,
                            size_t size, uint64_t *out) {
  if (sl->type == JC_SLOT_SYMBOL) {
    const char *name = strings + sl->arg;
    *out = r->resolve ? r->resolve(r->resolve_ctx, name) : 0;
    if (!*out)
      return jc_fail(JC_SYMBOL, "jcache: symbol '%s' could not be resolved",
                     name);
    return JC_OK;
  }
  if (sl->arg >= size)
    return jc_fail(JC_MISS, "jcache: arena slot offset %u outside a trace "
                            "of %zu bytes", sl->arg, size);
  *out = (uint64_t)(uintptr_t)(base + sl->arg);
  return JC_OK;
}

/* Fill level i's slot values; bound slots were set by replay. */
static jc_err resolve_slots(commit_ctx *cx, uint32_t i) {
  jc_level *l = &cx->p->lv[i];
  const jc_view *v = &l->cand->view;
  for (uint32_t s = 0; s < v->nslots; s++) {
    struct jc_fmt_slot sl;
    jc_view_slot(v, s, &sl);
    if (sl.type != JC_SLOT_SYMBOL && sl.type != JC_SLOT_ARENA) continue;
    const uint8_t *base = NULL;
    size_t size = 0;
    jc_err err = sl.type == JC_SLOT_ARENA
                     ? arena_base(cx, i, sl.ref, &base, &size)
                     : JC_OK;
    if (!err)
      err = jc_commit_slot_value(cx->r, &sl, v->strings, base, size, &l->val[s]);
    if (err) return err;
    l->set[s] = true;
  }
  return JC_OK;
}

/* -- Tails ------------------------------------------------------------------------------- */

/* Does level i have entries after the exit it was left through? */
static bool tail_unchecked(const jc_level *l) {
  return l->left_guard != JC_NO_GUARD && l->pos < l->ntape;
}

static bool in_range(const struct jc_fmt_patch *pp, const struct jc_fmt_reloc *rl) {
  return rl->off >= pp->off && rl->off + jc_reloc_width(rl->kind) <= pp->end;
}

/* Is relocation `rl` inside a patch point that gets a tail guard? */
static bool in_pending_tail(const jc_view *v, const bool *pick,
                            const struct jc_fmt_reloc *rl) {
  for (uint32_t k = 0; k < v->npatches; k++) {
    if (!pick[k]) continue;
    struct jc_fmt_patch pp;
    jc_view_patch(v, k, &pp);
    if (in_range(&pp, rl)) return true;
  }
  return false;
}

/* Do the patch points marked in pick[] together cover every relocation on
** a slot the checked part left unbound? */
static bool picked_cover(const jc_view *v, const jc_level *l, const bool *pick) {
  for (uint32_t k = 0; k < v->nrelocs; k++) {
    struct jc_fmt_reloc rl;
    jc_view_reloc(v, k, &rl);
    if (rl.slot < l->nslots && !l->set[rl.slot] && !in_pending_tail(v, pick, &rl))
      return false;
  }
  return true;
}

/* The patch points that get the tail guard of level l (which has a tail),
** marked in pick[].  Best are all of those after the guard the check left
** through, if together they cover the tail: the trace runs up to them, and
** so does a bridge on that guard's exit.  All of them, never some: a client
** may declare several for one guard (a loop may skip, with a second one,
** hoisted invariants that need the tail), and only together do they keep
** every path out of the tail.  Else the JC_GUARD_ANY ones: the whole trace
** waits (a client records one where code before a guard may rely on
** decisions after it).  Else, for a client with neither, those after that
** guard: relocations they do not cover make the commit a miss.  The tail
** guards of one commit are one tail: checked, validated and invalidated
** together (tail.c). */
static uint32_t pick_tail(const jc_view *v, const jc_level *l, bool *pick) {
  uint32_t n = 0;
  for (uint32_t k = 0; k < v->npatches; k++) {
    struct jc_fmt_patch pp;
    jc_view_patch(v, k, &pp);
    pick[k] = pp.after_guard == l->left_guard;
    n += pick[k];
  }
  if (n && !picked_cover(v, l, pick)) {
    memset(pick, 0, v->npatches);
    n = 0;
  }
  for (int pass = 0; pass < 2 && n == 0; pass++)
    for (uint32_t k = 0; k < v->npatches; k++) {
      struct jc_fmt_patch pp;
      jc_view_patch(v, k, &pp);
      if (pp.after_guard == (pass == 0 ? JC_GUARD_ANY : l->left_guard))
        pick[k] = true, n++;
    }
  return n;
}

/* Room for the relocations deferred to the pending tails of trace t, and
** its patch points (a tail check may move the tail to later ones). */
static jc_err keep_tail_state(jc_trace *t, const jc_view *v) {
  t->deferred = malloc((size_t)v->nrelocs * sizeof *t->deferred + 1);
  t->patches = malloc((size_t)v->npatches * sizeof *t->patches + 1);
  if (!t->deferred || !t->patches)
    return jc_fail(JC_NOMEM, "jcache: out of memory in commit");
  for (uint32_t k = 0; k < v->npatches; k++) jc_view_patch(v, k, &t->patches[k]);
  t->npatches = v->npatches;
  return JC_OK;
}

/* -- One trace ------------------------------------------------------------------------ */

jc_err jc_commit_trace_init(jc_trace *t, const jc_view *v, uint64_t id,
                            uint8_t *code) {
  t->id = id;
  t->parent_id = v->parent_id;
  t->parent_exit = v->parent_exit;
  t->reloaded = true;
  t->owns_code = true;
  t->code = code;
  t->size = v->code_len;
  t->entry_off = v->hdr.entry_off;
  t->prep = v->prep;
  t->prep_len = v->prep_len;
  jc_trace_parts parts = {
      v->name,  v->slots,   v->exits,   v->tape,   v->relocs, v->lines,
      v->aux,   v->strings, v->nslots,  v->nexits, v->ntape,  v->nrelocs,
      v->nlines, v->strings_len, v->aux_len};
  jc_err err = jc_trace_alloc(t, &parts);
  if (err) return err;
  for (uint32_t k = 0; k < v->nrelocs; k++) {
    struct jc_fmt_reloc rl;
    jc_view_reloc(v, k, &rl);
    if (rl.kind != JC_RELOC_CELL32) continue;
    /* The cells: one per slot, next to the code (rel32 reach). */
    void *cells = NULL;
    err = jc_arena_data_alloc(((size_t)v->nslots + 1) * 8, &cells);
    if (err) return err;
    t->cells = cells;
    break;
  }
  return JC_OK;
}

void jc_commit_exit_slots(jc_trace *t, const jc_window *w) {
  for (uint32_t k = 0; k < t->nexits; k++) {
    const struct jc_fmt_exit *e = &t->exits[k];
    if (e->kind != JC_EXIT_SLOT) continue;
    t->exit_slot[k] = &t->exit_mem[k];
    t->exit_mem[k] = (uint64_t)(uintptr_t)(t->code + e->stub_off);
    uint64_t a = (uint64_t)(uintptr_t)t->exit_slot[k];
    memcpy(jc_window_at(w, t->code + e->field_off), &a, 8);
  }
}

static jc_err fill_trace(commit_ctx *cx, uint32_t i) {
  const jc_level *l = &cx->p->lv[i];
  const jc_view *v = &l->cand->view;
  jc_trace *t = cx->t[i];
  jc_err err = jc_commit_trace_init(t, v, l->id, cx->addr[i]);
  if (err) return err;
  /* The values the checking iteration bound. */
  memcpy(t->slot_val, l->val, (size_t)(v->nslots + 1) * sizeof *t->slot_val);
  memcpy(t->slot_set, l->set, (size_t)(v->nslots + 1) * sizeof *t->slot_set);
  if (i > 0) {
    t->root_id = cx->t[0]->root_id ? cx->t[0]->root_id : cx->t[0]->id;
  } else if (cx->r->parent) {
    const jc_trace *pt = cx->r->parent;
    t->root_id = pt->root_id ? pt->root_id : pt->id;
  }
  return JC_OK;
}

/* Copy and patch level i through a write window. */
static jc_err write_trace(commit_ctx *cx, uint32_t i) {
  const jc_level *l = &cx->p->lv[i];
  const jc_view *v = &l->cand->view;
  jc_trace *t = cx->t[i];
  uint8_t *code = cx->addr[i];
  bool tail = tail_unchecked(l);
  bool pick_stack[64], *pick = NULL;

  if (tail) {
    pick = v->npatches <= 64 ? pick_stack : malloc(v->npatches);
    if (!pick) return jc_fail(JC_NOMEM, "jcache: out of memory in commit");
    memset(pick, 0, v->npatches);
    pick_tail(v, l, pick);
    jc_err err = keep_tail_state(t, v);
    if (err) {
      if (pick != pick_stack) free(pick);
      return err;
    }
  }

  /* Stage the whole allocation: the code, then int3 padding so no byte of
  ** it is left as whatever a freed trace had there; one store at the end. */
  jc_window w;
  jc_err err = jc_arena_stage_open(code, cx->alloc_len[i], &w);
  if (err) return err;
  memcpy(w.rw, v->code, v->code_len);
  memset(w.rw + v->code_len, 0xCC, cx->alloc_len[i] - v->code_len);

  for (uint32_t k = 0; k < v->nrelocs && !err; k++) {
    struct jc_fmt_reloc rl;
    jc_view_reloc(v, k, &rl);
    bool cell = rl.kind == JC_RELOC_CELL32;
    if (!l->set[rl.slot]) {
      if (!(tail && in_pending_tail(v, pick, &rl))) {
        err = jc_fail(JC_MISS, "jcache: slot %u is used at offset %u but was "
                               "never bound by the checked part", rl.slot,
                      rl.off);
        break;
      }
      t->deferred[t->ndeferred++] = rl; /* patched when validated */
      if (!cell) continue; /* a cell's address goes in now, its value then */
    } else if (cell) {
      t->cells[rl.slot] = l->val[rl.slot]; /* not reachable yet: plain store */
    }
    uint64_t value = cell ? (uint64_t)(uintptr_t)&t->cells[rl.slot]
                          : l->val[rl.slot];
    err = jc_reloc_apply(rl.kind, jc_window_at(&w, code + rl.off),
                         code + rl.off, value, rl.addend);
    if (!err) {
      cx->relocs++;
      JC_PROBE(reloc, l->id, (uint64_t)(uintptr_t)(code + rl.off), rl.kind,
               l->val[rl.slot]);
    }
  }

  /* Slot exits: each gets its slot, pointing at its stub, and the code the
  ** slot's address.  Before the tail guards, like the relocations: a patch
  ** point's kept original bytes must carry the address too. */
  if (!err) jc_commit_exit_slots(t, &w);

  if (!err && tail) {
    /* The unchecked tail: a temporary guard at each of its patch points. */
    uint32_t n = 0;
    t->tails = calloc(v->npatches + 1, sizeof *t->tails);
    if (!t->tails) err = jc_fail(JC_NOMEM, "jcache: out of memory in commit");
    for (uint32_t k = 0; k < v->npatches && !err; k++) {
      struct jc_fmt_patch pp;
      jc_view_patch(v, k, &pp);
      if (!pick[k]) continue;
      jc_tail *tl = &t->tails[n];
      tl->pp = pp;
      tl->pp.after_guard = l->left_guard; /* this tail's guard, for ANY too */
      tl->tape_pos = l->pos;
      tl->state = JC_TAIL_PENDING;
      uint8_t *rw = jc_window_at(&w, code + pp.off);
      memcpy(tl->orig, rw, 8);
      uint8_t guard[8];
      err = jc_reloc_tail_guard(guard, tl->orig, code + pp.off,
                                code + pp.target_off);
      if (err) break;
      memcpy(rw, guard, 8);
      n++;
    }
    t->ntails = n;
    if (!err && n == 0)
      err = jc_fail(JC_MISS, "jcache: the tail after guard %u was not checked "
                             "and has no patch point", l->left_guard);
    cx->guards += n;
  }

  if (!err && i + 1 < cx->p->depth) {
    /* Attach the next bridge to the exit this level was left through. */
    uint8_t *next = cx->addr[i + 1] + cx->p->lv[i + 1].cand->view.hdr.entry_off;
    uint32_t k = 0;
    while (k < t->nexits && t->exits[k].guard != l->left_guard) k++;
    if (k == t->nexits)
      err = jc_fail(JC_MISS, "jcache: guard %u has a bridge but no exit",
                    l->left_guard);
    else if (t->exits[k].kind == JC_EXIT_SLOT)
      t->exit_mem[k] = (uint64_t)(uintptr_t)next;
    else
      err = jc_reloc_rel32(jc_window_at(&w, code + t->exits[k].field_off),
                           code + t->exits[k].field_off, next);
  }
  if (pick && pick != pick_stack) free(pick);
  if (err) jc_arena_stage_abort(&w);
  else err = jc_arena_stage_close(&w);
  if (!err) cx->bytes += v->code_len;
  return err;
}

/* -- A bridge written ahead ------------------------------------------------------------- */

/* Level 0 is bridge t, written ahead (lib/ahead.c): its code is in place,
** its symbol and arena slots resolved.  Take the values the check bound
** and put them in its cells: nothing else changes, no code is written. */
static jc_err bind_ahead(commit_ctx *cx, jc_trace *t) {
  const jc_level *l = &cx->p->lv[0];
  for (uint32_t s = 0; s < t->nslots; s++)
    if (t->slots[s].type == JC_SLOT_BOUND) {
      t->slot_val[s] = l->val[s];
      t->slot_set[s] = l->set[s];
    }
  for (uint32_t k = 0; k < t->nrelocs; k++) {
    const struct jc_fmt_reloc *rl = &t->relocs[k];
    if (!t->slot_set[rl->slot])
      return jc_fail(JC_MISS, "jcache: slot %u is used at offset %u but was "
                              "never bound by the checked part", rl->slot,
                     rl->off);
    if (rl->kind == JC_RELOC_CELL32) t->cells[rl->slot] = t->slot_val[rl->slot];
    cx->relocs++;
    JC_PROBE(reloc, t->id, (uint64_t)(uintptr_t)(t->code + rl->off), rl->kind,
             t->slot_val[rl->slot]);
  }
  cx->bytes += (uint32_t)t->size;
  return JC_OK;
}

/* The loop at the root of the family a committed path belongs to. */
static const jc_trace *family_root(const commit_ctx *cx) {
  if (cx->p->lv[0].cand->view.hdr.kind == JC_FMT_LOOP) return cx->t[0];
  const jc_trace *pt = cx->r->parent;
  return !pt ? NULL : pt->root_id ? jc_trace_find(pt->root_id) : pt;
}

/* -- The path ---------------------------------------------------------------------------- */

jc_err jc_commit_path(jc_replay *r, jc_path *p, jc_trace **out, size_t cap,
                      size_t *n) {
  commit_ctx cx;
  memset(&cx, 0, sizeof cx);
  cx.r = r;
  cx.p = p;
  jc_err err = JC_OK;
  JC_PROBE(commit_begin, p->lv[0].id, p->depth);

  jc_trace_lock();
  /* A lazy bridge checked to its end may have been written ahead. */
  jc_trace *ahead = r->parent && p->depth == 1 && !tail_unchecked(&p->lv[0])
                        ? jc_ahead_take(r->parent, r->parent_exit, p->lv[0].id)
                        : NULL;
  if (ahead) {
    cx.t[0] = ahead;
    cx.addr[0] = ahead->code;
    err = bind_ahead(&cx, ahead);
  } else {
    for (uint32_t i = 0; i < p->depth && !err; i++) {
      void *at = NULL;
      err = jc_arena_alloc_nofill(p->lv[i].cand->view.code_len, &at,
                                  &cx.alloc_len[i]);
      cx.addr[i] = at;
      if (!err && !(cx.t[i] = jc_trace_new()))
        err = jc_fail(JC_NOMEM, "jcache: out of memory in commit");
    }
    for (uint32_t i = 0; i < p->depth && !err; i++) err = resolve_slots(&cx, i);
    for (uint32_t i = 0; i < p->depth && !err; i++) err = fill_trace(&cx, i);
    for (uint32_t i = 0; i < p->depth && !err; i++) err = write_trace(&cx, i);
  }
  if (!err && r->parent) {
    /* A lazy bridge goes live last, with one atomic store into its parent. */
    err = jc_trace_attach(r->parent, r->parent_exit,
                          cx.addr[0] + p->lv[0].cand->view.hdr.entry_off);
  }
  if (err) {
    for (uint32_t i = 0; i < p->depth; i++) {
      jc_arena_free(cx.addr[i]);
      jc_trace_destroy(cx.t[i]);
    }
    jc_trace_unlock();
    jc_stat_add(replay_misses, 1);
    JC_PROBE(commit_fail, p->lv[0].id, (int)err, jc_last_error());
    return err;
  }
  for (uint32_t i = 0; i < p->depth; i++) jc_trace_register(cx.t[i]);
  /* The bridges of these traces' exits, written now so that their own
  ** commits write nothing (a bridge written ahead had its own written
  ** ahead with it). */
  const jc_trace *root = ahead ? NULL : family_root(&cx);
  if (root) cx.t[0]->wrote_ahead_ns = jc_ahead_write(r, p, cx.t, root);
  jc_trace_unlock();
  for (uint32_t i = 0; i < p->depth; i++) {
    const struct jc_fmt_hdr *h = &p->lv[i].cand->view.hdr;
    jc_store_touch(r->cache, (jc_key){h->key_lo, h->key_hi}, h->trace_id);
    if (h->kind == JC_FMT_LOOP) jc_program_note(r->cache, (jc_key){h->key_lo, h->key_hi});
  }
  jc_gdbjit_register_n(cx.t, p->depth);

  /* Counters and probes, outside the lock. */
  jc_stat_add(commits, 1);
  jc_stat_add(traces_reloaded, p->depth);
  jc_stat_add(relocs_patched, cx.relocs);
  jc_stat_add(tail_guards, cx.guards);
  jc_stat_add(bytes_reloaded, cx.bytes);
  if (p->depth > 1) jc_stat_add(bridges_attached, p->depth - 1);
  for (uint32_t i = 0; i < p->depth; i++) {
    jc_trace *t = cx.t[i];
    if (i + 1 < p->depth)
      JC_PROBE(bridge_attach, t->id, p->lv[i].left_guard, cx.t[i + 1]->id,
               (uint64_t)(uintptr_t)cx.addr[i + 1]);
    for (uint32_t k = 0; k < t->ntails; k++)
      JC_PROBE(tail_guard, t->id, t->tails[k].pp.after_guard,
               (uint64_t)(uintptr_t)(t->code + t->tails[k].pp.off));
  }
  for (uint32_t i = 0; i < p->depth; i++)
    JC_PROBE(trace_live, cx.t[i]->id, (uint64_t)(uintptr_t)cx.t[i]->code,
             (uint64_t)cx.t[i]->size, 1, cx.t[i]->name);
  JC_PROBE(commit, cx.t[0]->id, (uint64_t)(uintptr_t)cx.addr[0],
           (uint64_t)cx.bytes, p->depth);

  size_t k = 0;
  for (uint32_t i = 0; i < p->depth && out && k < cap; i++) out[k++] = cx.t[i];
  if (n) *n = k;
  return JC_OK;
}
