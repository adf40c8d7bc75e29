/*
** lib/ahead.c — bridges written ahead of their checks.
**
** A lazy bridge's commit used to copy its code, patch it and write it with
** a pwrite: about a microsecond of system call on the program's thread,
** most of such a commit.  When a record's code depends only on where it and
** its cells are (every relocation on a BOUND slot is a CELL32: the values
** live in data memory, not in the code), the code can be written before
** anything is checked.  So the commit of a trace also writes, in one go,
** the saved bridges of its exits that the prefetch thread brought in (and
** theirs, down the family), unattached: each gets its code, its cells,
** its exit slots and its metadata, and waits in its parent's `ahead` list.
** When a check later reloads one of them, the commit fills its cells with
** the bound values and attaches it: no code is written (commit.c,
** jc_commit_path).  Nothing written ahead is reachable: only attaching
** makes it so.  What is never checked is freed with its parent.
*/
#include <stdlib.h>
#include <string.h>

#include "ahead.h"
#include "arena.h"
#include "internal.h"
#include "reloc.h"
#include "replay.h"

/* Per commit: at most this many bridges, this much code (a family larger
** than that reloads the rest the ordinary way). */
#define AHEAD_MAX 64
#define AHEAD_MAX_BYTES ((size_t)256 << 10)

typedef struct ahead_ctx {
  jc_replay *r;
  const jc_trace *root;
  jc_trace *t[AHEAD_MAX];
  size_t len[AHEAD_MAX]; /* arena lengths */
  const jc_view *v[AHEAD_MAX];
  size_t n, bytes;
} ahead_ctx;

/* Are the record's code bytes independent of what a check binds? */
static bool writable_ahead(const jc_view *v) {
  for (uint32_t k = 0; k < v->nrelocs; k++) {
    struct jc_fmt_reloc rl;
    struct jc_fmt_slot sl;
    jc_view_reloc(v, k, &rl);
    jc_view_slot(v, rl.slot, &sl);
    if (sl.type == JC_SLOT_BOUND && rl.kind != JC_RELOC_CELL32) return false;
  }
  return true;
}

/* The values of t's symbol and arena slots (its bound ones wait for the
** check); false if one cannot be had here. */
static bool resolve(const ahead_ctx *a, jc_trace *t, const jc_trace *parent) {
  for (uint32_t s = 0; s < t->nslots; s++) {
    const struct jc_fmt_slot *sl = &t->slots[s];
    if (sl->type != JC_SLOT_SYMBOL && sl->type != JC_SLOT_ARENA) continue;
    const jc_trace *in = sl->ref == JC_REF_SELF     ? t
                         : sl->ref == JC_REF_PARENT ? parent
                         : sl->ref == JC_REF_ROOT   ? a->root
                                                    : NULL;
    if (sl->type == JC_SLOT_ARENA && (!in || !in->code)) return false;
    if (jc_commit_slot_value(a->r, sl, t->strings, in ? in->code : NULL,
                             in ? in->size : 0, &t->slot_val[s]))
      return false;
    t->slot_set[s] = true;
  }
  return true;
}

/* A bridge of `parent` from candidate c, or NULL. */
static jc_trace *make(ahead_ctx *a, jc_trace *parent, const jc_cand *c) {
  void *code = NULL;
  size_t len = 0;
  if (jc_arena_alloc_nofill(c->view.code_len, &code, &len)) return NULL;
  jc_trace *t = jc_trace_new();
  if (!t || jc_commit_trace_init(t, &c->view, c->id, code) ||
      !resolve(a, t, parent)) {
    jc_trace_destroy(t);
    jc_arena_free(code);
    return NULL;
  }
  t->root_id = a->root->id;
  a->t[a->n] = t;
  a->len[a->n] = len;
  a->v[a->n] = &c->view;
  a->n++;
  a->bytes += len;
  t->ahead_next = parent->ahead;
  parent->ahead = t;
  return t;
}

/* Is exit k of t still waiting for a bridge: none written ahead and, if t
** is live (not being written ahead itself), none attached (it goes to its
** stub)? */
static bool exit_open(const jc_trace *t, uint32_t k, bool live) {
  const struct jc_fmt_exit *e = &t->exits[k];
  for (const jc_trace *b = t->ahead; b; b = b->ahead_next)
    if (b->parent_exit == e->guard) return false;
  return !live || (e->stub_off != JC_NO_STUB &&
                   jc_trace_exit_target(t, e->guard) == t->code + e->stub_off);
}

/* The saved bridges of every open exit of `parent` but `skip` (the exit
** the committed chain goes on through), and theirs, as far as the bounds
** allow.  `live`: parent runs already (it is not one being written ahead
** now).  The prefetch's family entry lists the exits that have bridges:
** one lookup per parent, not one per exit.  Given the record the parent
** came from (pc), a family the prefetch thread has not fetched yet is
** fetched here. */
static void plan(ahead_ctx *a, jc_trace *parent, const jc_cand *pc,
                 uint32_t skip, int depth, bool live) {
  jc_family fam;
  if (parent->nexits == 0) return;
  if (pc ? !jc_prefetch_family_fetch(a->r->cache, pc, &fam)
         : !jc_prefetch_family(a->r->cache, parent->id, &fam))
    return;
  uint32_t k = 0;
  bool open = false;
  for (uint32_t i = 0; i < fam.n; i++) {
    /* The family is in exit order: a new guard is further on. */
    if (i == 0 || fam.guards[i] != fam.guards[i - 1]) {
      while (k < parent->nexits && parent->exits[k].guard != fam.guards[i]) k++;
      if (k == parent->nexits) return; /* not this trace's exits */
      open = fam.guards[i] != skip && exit_open(parent, k, live);
    }
    if (!open) continue;
    const jc_cand *c = &fam.v[i];
    if (a->n == AHEAD_MAX || a->bytes + c->view.code_len > AHEAD_MAX_BYTES)
      return;
    if (!writable_ahead(&c->view)) continue;
    jc_trace *t = make(a, parent, c);
    if (t && depth + 1 < JC_MAX_CHAIN) plan(a, t, c, JC_NO_GUARD, depth + 1, false);
  }
}

/* Stage trace i: its code, int3 padding, every relocation (a CELL32 gets
** its cell's address; the others, on symbol and arena slots, their
** values) and its exit slots. */
static jc_err stage(ahead_ctx *a, size_t i, const jc_window *w) {
  jc_trace *t = a->t[i];
  const jc_view *v = a->v[i];
  uint8_t *rw = jc_window_at(w, t->code);
  memcpy(rw, v->code, v->code_len);
  memset(rw + v->code_len, 0xCC, a->len[i] - v->code_len);
  for (uint32_t k = 0; k < v->nrelocs; k++) {
    struct jc_fmt_reloc rl;
    jc_view_reloc(v, k, &rl);
    uint64_t val = rl.kind == JC_RELOC_CELL32
                       ? (uint64_t)(uintptr_t)&t->cells[rl.slot]
                       : t->slot_val[rl.slot];
    if (rl.kind == JC_RELOC_CELL32 && t->slot_set[rl.slot])
      t->cells[rl.slot] = t->slot_val[rl.slot];
    jc_err err = jc_reloc_apply(rl.kind, jc_window_at(w, t->code + rl.off),
                                t->code + rl.off, val, rl.addend);
    if (err) return err;
  }
  jc_commit_exit_slots(t, w);
  return JC_OK;
}

uint64_t jc_ahead_write(jc_replay *r, const jc_path *p, jc_trace *const *ts,
                        const jc_trace *root) {
  uint64_t t0 = jc_now_ns();
  ahead_ctx a;
  memset(&a, 0, sizeof a);
  a.r = r;
  a.root = root;
  for (size_t i = 0; i < p->depth; i++)
    plan(&a, ts[i], p->lv[i].cand,
         i + 1 < p->depth ? ts[i + 1]->parent_exit : JC_NO_GUARD, (int)i, true);
  /* A lazy bridge's siblings: the prefetch may not have brought their
  ** family in yet when the parent was committed, or held its lock then. */
  if (r->parent) plan(&a, r->parent, NULL, r->parent_exit, 1, true);
  /* The code in runs of adjacent allocations (first fit hands out one
  ** after the other), each run one store: usually one system call. */
  jc_err err = JC_OK;
  for (size_t i = 0, j; i < a.n && !err; i = j) {
    j = i + 1;
    while (j < a.n && a.t[j]->code == a.t[j - 1]->code + a.len[j - 1]) j++;
    uint8_t *from = a.t[i]->code;
    size_t span = (size_t)(a.t[j - 1]->code + a.len[j - 1] - from);
    jc_window w;
    err = jc_arena_stage_open(from, span, &w);
    for (size_t k = i; k < j && !err; k++) err = stage(&a, k, &w);
    if (err) jc_arena_stage_abort(&w);
    else err = jc_arena_stage_close(&w);
  }
  /* Best effort: if some code could not be written, none of it is used. */
  if (err)
    for (size_t i = 0; i < p->depth; i++) jc_ahead_free(ts[i]);
  uint64_t dt = jc_now_ns() - t0;
  for (size_t i = 0; i < a.n && !err; i++)
    a.t[i]->ahead_ns = a.bytes ? (uint64_t)((double)dt * (double)a.len[i] / (double)a.bytes) : 0;
  return dt;
}

jc_trace *jc_ahead_take(jc_trace *parent, uint32_t guard, uint64_t id) {
  for (jc_trace **pp = &parent->ahead; *pp; pp = &(*pp)->ahead_next) {
    jc_trace *t = *pp;
    if (t->id == id && t->parent_exit == guard) {
      *pp = t->ahead_next;
      t->ahead_next = NULL;
      return t;
    }
  }
  return NULL;
}

void jc_ahead_free(jc_trace *parent) {
  jc_trace *t = parent->ahead;
  parent->ahead = NULL;
  while (t) {
    jc_trace *next = t->ahead_next;
    jc_arena_free(t->code);
    jc_trace_destroy(t); /* and its own, in turn */
    t = next;
  }
}
