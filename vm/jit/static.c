/*
** vm/jit/static.c — a lazy bridge bound without its checking iteration.
**
** A bridge saved for an exit is reloaded when that exit gets hot.  Its
** checking iteration (record.c in checking mode) would run the rest of the
** iteration through the recorder only to find the objects the bridge's code
** embeds.  For a bridge they can be found without it: the recorder saved,
** with every GREEN decision and BIND of the bridge's tape, where its object
** comes from (ir.h, jit_origin), and the aux holds that tape (persist.c):
**
**   - the functions of the frames the bridge starts in: the parent's
**     snapshot at the exit has them;
**   - string constants, global cells, methods looked up by name (on a
**     class bound before, or on the superclass of an inlined function's
**     owner): the code objects of those functions, whose content the GREEN
**     fingerprints pin down;
**   - a promoted value (the class of a receiver, a callee, a builtin): the
**     value a global cell holds now (one the bridge reads, or one of the
**     main chunk's: classes and functions defined at top level), or an
**     object the parent binds, or one bound before.  The machine code compares the value with it anyway, so
**     another object of the same fingerprint is only a guard that fails:
**     never wrong code.
**
** So the client reports to the cursor what the check would have: every GREEN
** with the fingerprint of the object found here (libjcache compares it with
** the tape, exactly as in a check: an edited program misses), every BIND
** with that object, and every guard as passed (jc_replay_pass_guards: the
** aux holds no guards, libjcache steps over them).  Anything without an origin, of
** the wrong kind, or out of range leaves the bridge to its checking
** iteration.  --jit-static=verify runs the check anyway and compares what it
** bound with what was found here (tests).
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

#include <jcache/mem.h>

/* One tape entry of the aux's static section, read (the record may sit at
** any alignment: words are copied out). */
typedef struct sentry {
  uint8_t op, okind;
  uint16_t kind;
  uint32_t site, a, b, c;
} sentry;

static void read_entry(const uint8_t *p, sentry *e)
{
  uint32_t w[JIT_AUX_STATIC];
  memcpy(w, p, sizeof w);
  e->op = (uint8_t)w[0];
  e->okind = (uint8_t)(w[0] >> 8);
  e->kind = (uint16_t)(w[0] >> 16);
  e->site = w[1];
  e->a = w[2];
  e->b = w[3];
  e->c = w[4];
}

typedef struct sctx {
  jit_state *J;
  vm_code *root; /* the root frame's code */
  jit_trace *P;  /* a bridge's parent, or NULL */
  const jit_snap *snap;
  void **vals; /* per BIND slot so far: its object */
  uint32_t nvals;
  const char *why;
} sctx;

static bool is(const void *p, uint8_t kind)
{
  return p && ((const vm_obj *)p)->kind == kind;
}

static void *fail(sctx *x, const char *why)
{
  x->why = why;
  return NULL;
}

/* The code object origins name by fs (a BIND slot of a function, or the
** root frame's). */
static vm_code *code_of(sctx *x, uint32_t fs)
{
  if (fs == JIT_O_ROOT)
    return x->root;
  if (fs >= x->nvals || !is(x->vals[fs], VM_O_FUNC))
    return fail(x, "a code object of no function bound before");
  return ((vm_func *)x->vals[fs])->code;
}

static vm_class *class_at(sctx *x, uint32_t slot)
{
  if (slot >= x->nvals || !is(x->vals[slot], VM_O_CLASS))
    return fail(x, "a method of no class bound before");
  return x->vals[slot];
}

static vm_func *method(sctx *x, const vm_class *cls, const vm_code *code, uint32_t k)
{
  if (!cls || !code)
    return NULL;
  if (k >= code->nnames)
    return fail(x, "a method name out of range");
  vm_func *m = vm_class_find_method(cls, code->names[k]);
  return m ? m : fail(x, "no such method");
}

/* A promoted value a global cell holds now. */
static void *cell_value(sctx *x, const vm_cell *cell)
{
  vm_value v = cell->value;
  if (v.tag != VM_T_FUNC && v.tag != VM_T_CLASS && v.tag != VM_T_NATIVE)
    return fail(x, "a global that holds no function or class now");
  return v.u.p;
}

/* The object of origin e; NULL with x->why set if there is none (INIT may
** also find none: *none is set then, and x->why is not). */
static void *resolve(sctx *x, const sentry *e, bool *none)
{
  *none = false;
  switch (e->okind) {
  case JIT_O_FRAME: {
    if (!x->P || e->a == 0 || e->a > x->snap->nframe)
      return fail(x, "a frame the exit does not have");
    void *f = x->P->snapframes[x->snap->frame + e->a - 1].func;
    return f ? f : fail(x, "a frame of a pending tail");
  }
  case JIT_O_CONST: {
    vm_code *c = code_of(x, e->a);
    if (!c)
      return NULL;
    if (e->b >= c->nconsts || c->consts[e->b].tag != VM_T_STR)
      return fail(x, "a string constant out of range");
    return c->consts[e->b].u.p;
  }
  case JIT_O_CELL: {
    vm_code *c = code_of(x, e->a);
    if (!c)
      return NULL;
    if (e->b >= c->ncells)
      return fail(x, "a global cell out of range");
    return c->cells[e->b];
  }
  case JIT_O_CELLVAL:
    if (e->a >= x->nvals || !is(x->vals[e->a], VM_O_CELL))
      return fail(x, "the value of no cell bound before");
    return cell_value(x, x->vals[e->a]);
  case JIT_O_MAINCELL: {
    const vm_func *m = x->J->vm->main_func;
    if (!m || e->a >= m->code->ncells)
      return fail(x, "a global of the main chunk out of range");
    return cell_value(x, m->code->cells[e->a]);
  }
  case JIT_O_PARENT: {
    void *p = x->P ? jit_trace_bound(x->P, e->a) : NULL;
    return p ? p : fail(x, "an object the parent does not bind");
  }
  case JIT_O_BIND:
    return e->a < x->nvals ? x->vals[e->a] : fail(x, "a slot not bound before");
  case JIT_O_METHOD:
    return method(x, class_at(x, e->a), code_of(x, e->b), e->c);
  case JIT_O_INIT: {
    vm_class *cls = class_at(x, e->a);
    if (!cls)
      return NULL;
    vm_func *m = vm_class_find_method(cls, x->J->vm->str_init);
    *none = m == NULL;
    return m;
  }
  case JIT_O_SUPER: {
    if (e->a == JIT_O_ROOT || !code_of(x, e->a))
      return fail(x, "a super call outside an inlined function");
    const vm_func *f = x->vals[e->a];
    if (!f->owner || !f->owner->super)
      return fail(x, "a super call without a superclass");
    return method(x, f->owner->super, f->code, e->b);
  }
  default:
    return fail(x, "an object of unknown origin");
  }
}

/* The fingerprint the recorder gave a GREEN decision of this kind about
** object p (see record.c); false if p is not that kind of object. */
static bool green_fp(uint16_t kind, void *p, bool none, uint64_t *fp)
{
  switch (kind) {
  case JIT_GREEN_CLASS:
    if (!is(p, VM_O_CLASS))
      return false;
    *fp = jit_hash_class(p);
    return true;
  case JIT_GREEN_METHOD:
    if (none) {
      *fp = 0; /* a class without init */
      return true;
    }
    /* fall through */
  case JIT_GREEN_CALLEE:
  case JIT_GREEN_SUPER:
    if (!is(p, VM_O_FUNC))
      return false;
    *fp = jit_hash_code(((vm_func *)p)->code);
    return true;
  case JIT_GREEN_GLOBAL:
    if (!is(p, VM_O_CELL))
      return false;
    *fp = jit_hash_strobj(((vm_cell *)p)->name);
    return true;
  case JIT_GREEN_CONST:
    if (!is(p, VM_O_STRING))
      return false;
    *fp = jit_hash_strobj(p);
    return true;
  case JIT_GREEN_BUILTIN:
    if (!is(p, VM_O_NATIVE))
      return false;
    *fp = jit_hash_strobj(((vm_native *)p)->name);
    return true;
  default:
    return false;
  }
}

/* Room in s for n entries (n <= JIT_MAX_TAPE, jit_aux_static checked).
** One block, sized to the tapes met, from libjcache's memory populated
** ahead (jcache/mem.h): the first bound bridge of a process used to malloc
** three arrays of JIT_MAX_TAPE entries, 130 KiB, and met two or three page
** faults in malloc doing it (perf, warm nbody and mandelbrot). */
static bool room(jit_static *s, uint32_t n)
{
  if (n <= s->cap && s->ent)
    return true;
  uint32_t cap = n < 256 ? 256 : n;
  size_t each = sizeof *s->ent + sizeof *s->vals + sizeof *s->vouched;
  uint8_t *p = jc_mem_alloc(cap * each);
  if (!p)
    return false;
  jc_mem_free(s->ent);
  s->ent = (jc_replay_ans *)p;
  s->vals = (void **)(p + cap * sizeof *s->ent);
  s->vouched = p + cap * (sizeof *s->ent + sizeof *s->vals);
  s->cap = cap;
  return true;
}

/* Bind the trace a candidate's aux describes (the loop at backedge_pc of
** code, or with P a bridge of exit psnap of P): every GREEN's fingerprint
** and BIND's object found from its origin (ir.h), into out.  False
** (out->why) if one has no origin or is not found.  Not inlined: a
** profile shows it apart from the commit. */
static __attribute__((noinline)) bool jit_static_resolve(jit_state *J, vm_code *code,
                                                         uint32_t backedge_pc, jit_trace *P,
                                                         uint32_t psnap, const void *aux,
                                                         size_t alen, jit_static *out)
{
  out->n = out->nbind = 0;
  out->why = NULL;
  uint32_t n = 0;
  const uint8_t *sec = jit_aux_static(aux, alen, code, backedge_pc, P, psnap, &n);
  if (!sec) {
    out->why = "an aux that does not fit its loop or exit";
    return false;
  }
  if (!room(out, n)) {
    out->why = "out of memory";
    return false;
  }
  sctx x = {J, code, P, P ? &P->snaps[psnap] : NULL, out->vals, 0, NULL};
  /* Only GREEN fingerprints are compared with the tape (a BIND has none):
  ** so every object bound must be one a GREEN was about, the last one
  ** before it (the recorder's GREEN-then-BIND), or a later GREEN about that
  ** slot (a builtin's).  A corrupted origin of a BIND alone cannot bind an
  ** object no decision vouches for. */
  void *green_obj = NULL;
  for (uint32_t i = 0; i < n; i++) {
    sentry e;
    read_entry(sec + (size_t)i * JIT_AUX_STATIC * 4, &e);
    jc_replay_ans *s = &out->ent[i];
    s->op = e.op == JIT_TAPE_GREEN ? JC_ANS_GREEN : JC_ANS_BIND;
    s->kind = e.kind;
    s->site = e.site;
    if (e.op != JIT_TAPE_GREEN && e.op != JIT_TAPE_BIND) {
      out->why = "a tape entry of unknown kind";
      return false;
    }
    bool none;
    void *p = resolve(&x, &e, &none);
    if (!p && !(none && e.op == JIT_TAPE_GREEN)) {
      out->why = x.why ? x.why : "a bind that finds nothing";
      return false;
    }
    if (e.op == JIT_TAPE_GREEN) {
      if (!green_fp(e.kind, p, none, &s->value)) {
        out->why = "an object of another kind than its decision";
        return false;
      }
      green_obj = p;
      if (e.okind == JIT_O_BIND)
        out->vouched[e.a] = 1; /* resolve checked e.a < nvals */
    } else {
      s->value = (uint64_t)(uintptr_t)p;
      out->vouched[x.nvals] = p == green_obj;
      x.vals[x.nvals++] = p;
    }
  }
  for (uint32_t b = 0; b < x.nvals; b++)
    if (!out->vouched[b]) {
      out->why = "an object bound that no decision is about";
      return false;
    }
  out->n = n;
  out->nbind = x.nvals;
  return true;
}

void jit_static_free(jit_static *s)
{
  jc_mem_free(s->ent); /* the one block (room) */
  memset(s, 0, sizeof *s);
}

bool jit_static_reload(jit_state *J, vm_code *code, uint32_t backedge_pc, jit_trace *P,
                       uint32_t snap)
{
  J->static_id = 0;
  if (J->static_mode == JIT_STATIC_OFF || (J->static_mode == JIT_STATIC_BRIDGES && !P) ||
      !J->chk_cands)
    return false;
  uint64_t t0 = J->t_mark; /* the lookup's end (jit_cache_find_*) */
  const jc_cands *cs = J->chk_cands;
  size_t i = 0, n = jc_cands_count(cs);
  for (; i < n; i++) {
    size_t alen = 0;
    const void *aux = jc_cands_aux(cs, i, &alen);
    if (jit_static_resolve(J, code, backedge_pc, P, snap, aux, alen, &J->stat))
      break;
  }
  if (i == n) {
    J->stats.static_fallbacks++;
    if (J->dump_ir)
      fprintf(J->dump, "---- %s left to its check: %s\n", P ? "bridge" : "loop", J->stat.why);
    return false;
  }
  if (J->static_mode == JIT_STATIC_VERIFY) {
    J->static_id = jc_cands_id(cs, i);
    return false;
  }
  J->t_mark = jit_now_ns();
  uint64_t dt = J->t_mark - t0;
  J->stats.replay_ns += dt;
  J->cur.wall_ns = J->cur.hook_ns = jit_part_ns(J, t0, J->t_mark); /* the commit's log entry reads them */
  /* libjcache compares the answers with the tape as a check's cursor would
  ** (every guard passed), and commits. */
  if (jit_reload_static(J, i, J->stat.ent, J->stat.n, code, backedge_pc, P, snap)) {
    /* Another program than the one the trace was saved from (a green
    ** fingerprint differs), or another candidate's tape: the check decides. */
    J->stats.static_misses++;
    J->cur.wall_ns = J->cur.hook_ns = 0; /* the check's own, from here on */
    if (J->dump_ir)
      fprintf(J->dump, "---- static binding missed (%s): checking\n", jc_last_error());
    return false;
  }
  J->stats.static_traces++;
  return true;
}

void jit_static_verify(jit_state *J, jc_trace *t)
{
  if (!J->static_id || jc_trace_id(t) != J->static_id)
    return;
  J->static_id = 0;
  bool same = true;
  for (uint32_t b = 0; b < J->stat.nbind; b++) {
    uint64_t v = 0;
    jc_err err = jc_trace_slot(t, b, &v);
    if (err == JC_STATE)
      continue; /* bound in a tail the check did not reach (pending) */
    if (err || v != (uint64_t)(uintptr_t)J->stat.vals[b]) {
      same = false;
      if (J->dump_ir)
        fprintf(J->dump, "---- static binding disagrees at slot %u: %#llx, the check %#llx\n", b,
                (unsigned long long)(uintptr_t)J->stat.vals[b], (unsigned long long)v);
    }
  }
  if (same)
    J->stats.static_agreed++;
  else
    J->stats.static_disagreed++;
}
