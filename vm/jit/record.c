/*
** vm/jit/record.c — the trace recorder.
**
** Recording observes the interpreter: while vm->jit_recording is set, the
** interpreter calls jit_rec_ins() before every instruction, with every value
** of the frame still in memory.  The recorder turns the instruction into IR,
** specialised on what it sees (the tags of the values, the class of a
** receiver, the callee of a call, the direction of a branch) and guarded
** where what it saw may differ next time.  Then the interpreter executes the
** instruction as usual.  Nothing is executed twice and there is no second
** interpreter to keep in sync: only the recorder's model of the frame (the
** slot map: slot -> SSA ref and tag) must follow the bytecode's semantics.
**
** Every handler emits all its guards before it changes the slot map, so the
** snapshot a guard takes is the state *before* the instruction, and an exit
** resumes the interpreter at that instruction, which then does everything
** itself (including raising the error a guard may have protected against).
**
** An instruction the recorder cannot express aborts the recording before the
** interpreter executes it: unsupported ops, allocations other than those
** recorded as CALLA, calls of builtins other than the few inlined ones.
** A RETURN of the root frame and an inner loop's back edge instead end the
** trace there (rec_stop_here): an EXIT hands the state to the interpreter,
** which runs that instruction.
*/
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jit.h"

/* -- Recorder state ----------------------------------------------------------- */

typedef struct rec_slot {
  jit_ref ref; /* JIT_REF_NONE: not loaded (the value is in memory) */
  uint8_t tag;
  uint8_t mod;    /* differs from memory: written back at exits and the end */
  uint8_t loaded; /* the trace read it from the frame (SLOAD) at some point */
} rec_slot;

typedef struct rec_frame {
  vm_func *func;
  uint32_t base;   /* slot of R[0] relative to the root base */
  uint32_t ret_pc; /* caller's pc after the call */
  uint8_t ctor;    /* a constructor's init (returns self) */
  uint32_t fslot;  /* the BIND slot of func (JIT_O_ROOT in the root frame):
                      what origins name its code by (ir.h, jit_origin) */
} rec_frame;

/* Constants interned per recording (more are emitted, not interned). */
#define JIT_REC_MAXK 512
#define JIT_REC_GREENS 256

struct jit_rec {
  jit_state *J;
  vm_vm *vm;
  jit_trace *T;
  bool bridge;
  jit_trace *rootT;      /* bridges: the loop trace they return to */
  vm_frame *rootframe;
  vm_value *base;        /* root frame base */
  vm_code *rootcode;
  uint32_t head_pc, backedge_pc;
  int depth;
  rec_frame frames[JIT_MAX_DEPTH + 1];
  rec_slot slots[JIT_MAX_SLOTS];
  uint32_t maxslot;      /* one past the highest slot touched */
  uint32_t slot_hw;      /* one past the highest slot this recording touched
                            (rec_reset clears up to it, not all 1024) */
  uint32_t nbc;          /* bytecodes recorded */
  bool dirty;            /* slot map changed since the last snapshot */
  uint32_t snap_pc;
  int snap_depth;
  const char *fail;      /* abort reason */
  const char *stop;      /* end the trace before this instruction (why) */
  uint32_t curpc, curline;
  vm_code *curcode;
  uint32_t nbind;
  /* Per BIND slot below JIT_REC_GREENS: the kind and fingerprint of the
  ** last promotion's GREEN about its object (kind 0: none), so that
  ** promoting it again with the same fingerprint adds its GUARD alone
  ** (promote).  Beside the constants, in pages every recording touches. */
  uint16_t gkind[JIT_REC_GREENS];
  uint64_t gfp[JIT_REC_GREENS];
  jit_ref kref[JIT_REC_MAXK];    /* interned constants */
  int64_t kval[JIT_REC_MAXK];    /* their values, and op | type << 8 | tag << 16 */
  uint32_t kkind[JIT_REC_MAXK];
  uint32_t nk;
  /* Their index, open addressing at most half full: a slot is in use if
  ** its generation is this recording's (a new recording bumps kgen instead
  ** of clearing the table; every pointer constant is looked up, and a
  ** check meets dozens). */
  uint32_t kgen;
  uint32_t kslot_gen[2 * JIT_REC_MAXK];
  uint16_t kslot[2 * JIT_REC_MAXK];
  uint64_t t0;
  /* Checking mode (a checking iteration against the cache's candidates):
  ** the same handlers run, but green decisions, binds and guards go to the
  ** replay cursor instead of the tape, snapshots are only numbered, and the
  ** trace is the scratch J->chkT, never compiled. */
  bool check;
  jc_replay *cur;
  jit_trace *chk_parent; /* bridges: the parent trace and its exit */
  uint32_t chk_snap;
  jit_trace *tailT;      /* a tail check: the live trace whose tail guard fired */
  uint32_t level;        /* a check: 0 in the trace it started in, +1 per bridge entered */
  uint32_t native_slot;  /* the BIND slot of the builtin being called (its GREEN's origin) */
};

/* What a checking iteration meets at a guard besides a hit or a miss (set in
** R->fail, handled by jit_rec_ins after the instruction's handler):
**   check_into_bridge  no candidate passes the guard, but a saved bridge of
**                      its exit goes on: the recorder restarts as that
**                      bridge, at this instruction (a bridge recording
**                      starts there after the exit);
**   check_left         every candidate ended at an exit (or a tail check's
**                      iteration left the trace's path): stop checking. */
static const char check_into_bridge[] = "the check continues in a saved bridge";
static const char check_left[] = "the check left the trace at an exit";

/* -- IR emission ----------------------------------------------------------------- */

static jit_ref emit(jit_rec *R, jit_irop op, jit_type t, jit_ref a, jit_ref b)
{
  jit_trace *T = R->T;
  if (T->nir >= JIT_MAX_IR) {
    R->fail = "trace too long";
    return 0;
  }
  jit_ins *i = &T->ir[T->nir];
  memset(i, 0, sizeof *i);
  i->op = (uint8_t)op;
  i->type = (uint8_t)t;
  i->a = a;
  i->b = b;
  i->snap = 0;
  i->pc = R->curpc;
  i->line = R->curline;
  return T->nir++;
}

/* The reason of a replay miss, for --dump-ir (the library's own message). */
static const char *replay_miss(jit_rec *R)
{
  if (!R->J->dump_ir)
    return "replay miss";
  static char why[256];
  snprintf(why, sizeof why, "replay miss: %s", jc_last_error());
  return why;
}

/* A checking iteration's answer from the cursor. */
static void check_answer(jit_rec *R, jc_err err)
{
  if (err == JC_OK)
    return;
  R->fail = err == JC_BRIDGE ? check_into_bridge : err == JC_EXIT ? check_left : replay_miss(R);
}

/* Origins (ir.h): where a GREEN's or BIND's object comes from. */
static jit_origin org(uint8_t kind, uint32_t a, uint32_t b, uint32_t c)
{
  jit_origin o = {kind, a, b, c};
  return o;
}

static const jit_origin org_none = {JIT_O_NONE, 0, 0, 0};

/* The code object of the current frame, as origins name it. */
static uint32_t cur_fs(const jit_rec *R)
{
  return R->frames[R->depth].fslot;
}

/* A green decision (kind, fp) at the current pc, about the object of origin o. */
static void tape(jit_rec *R, jit_tapeop op, uint16_t kind, uint64_t fp, jit_origin o)
{
  jit_trace *T = R->T;
  uint32_t site = jit_hash_code(R->curcode) ^ R->curpc;
  if (R->check) {
    /* The same calls, at the same points, as the recording made. */
    if (!R->fail)
      check_answer(R, jc_replay_green(R->cur, site, kind, fp));
    return;
  }
  if (T->ntape >= JIT_MAX_TAPE) {
    R->fail = "tape too long";
    return;
  }
  jit_tapeent *e = &T->tape[T->ntape++];
  e->op = (uint8_t)op;
  e->kind = kind;
  e->site = site;
  e->fp = fp;
  e->org = o;
}

/* The outcome of a guard, as a fingerprint: its condition and its constant
** operands (a tag, a bound, a boolean).  The same instruction recorded on
** another path gives another guard here (GE for LT, another tag constant),
** so a checking iteration that goes another way than the candidate at this
** guard reports another fingerprint and leaves the candidate through the
** guard's exit (into a bridge saved for it, if any).  Pointer constants are
** left out: they are bound per run, and the green decision before them (a
** class or callee fingerprint) is what identifies them. */
static uint64_t guard_outcome(const jit_rec *R, jit_irop op, jit_type t, jit_ref a, jit_ref b)
{
  uint64_t h = 0x9e3779b97f4a7c15ull * ((uint64_t)op << 8 | t);
  const jit_ref ops[2] = {a, b};
  for (int k = 0; k < 2; k++) {
    uint64_t v = 0x51ed;
    if (ops[k] < R->T->nir) {
      const jit_ins *i = &R->T->ir[ops[k]];
      if (jit_is_const(i) && i->op != IR_KPTR)
        v = (uint64_t)i->k ^ (uint64_t)i->tag << 56;
    }
    h = (h ^ v) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  return h;
}

/* Guard `snap` with outcome fingerprint fp on the tape (or the cursor). */
static void tape_guard(jit_rec *R, uint32_t snap, uint64_t fp)
{
  if (R->check) {
    if (!R->fail)
      check_answer(R, jc_replay_guard_fp(R->cur, snap, fp));
    return;
  }
  jit_trace *T = R->T;
  if (T->ntape >= JIT_MAX_TAPE) {
    R->fail = "tape too long";
    return;
  }
  jit_tapeent *e = &T->tape[T->ntape++];
  e->op = JIT_TAPE_GUARD;
  e->kind = 0;
  e->site = snap;
  e->fp = fp;
  e->org = org_none;
}

static uint32_t konst_kind(jit_irop op, jit_type t, uint8_t tag)
{
  return (uint32_t)op | (uint32_t)t << 8 | (uint32_t)tag << 16;
}

/* The slot of the index for constant (kind, k): the one that holds it, or the free
** slot where it goes. */
static uint32_t konst_slot(const jit_rec *R, uint32_t kind, int64_t k)
{
  const uint32_t mask = 2 * JIT_REC_MAXK - 1;
  uint64_t h = ((uint64_t)k ^ (uint64_t)kind << 40) * 0x9e3779b97f4a7c15ull;
  uint32_t i = (uint32_t)(h >> 40) & mask;
  while (R->kslot_gen[i] == R->kgen &&
         !(R->kval[R->kslot[i]] == k && R->kkind[R->kslot[i]] == kind))
    i = (i + 1) & mask;
  return i;
}

/* An interned constant, found again by value. */
static jit_ref konst_find(const jit_rec *R, jit_irop op, jit_type t, uint8_t tag, int64_t k)
{
  uint32_t i = konst_slot(R, konst_kind(op, t, tag), k);
  return R->kslot_gen[i] == R->kgen ? R->kref[R->kslot[i]] : JIT_REF_NONE;
}

/* A new constant (not interned yet: konst_find found none). */
static jit_ref konst_new(jit_rec *R, jit_irop op, jit_type t, uint8_t tag, int64_t k)
{
  jit_ref r = emit(R, op, t, 0, 0);
  if (R->fail)
    return 0;
  R->T->ir[r].k = k;
  R->T->ir[r].tag = tag;
  if (R->nk < JIT_REC_MAXK) {
    uint32_t kind = konst_kind(op, t, tag), i = konst_slot(R, kind, k);
    R->kref[R->nk] = r;
    R->kval[R->nk] = k;
    R->kkind[R->nk] = kind;
    R->kslot_gen[i] = R->kgen;
    R->kslot[i] = (uint16_t)R->nk++;
  }
  return r;
}

static jit_ref konst(jit_rec *R, jit_irop op, jit_type t, uint8_t tag, int64_t k)
{
  jit_ref r = konst_find(R, op, t, tag, k);
  return r != JIT_REF_NONE ? r : konst_new(R, op, t, tag, k);
}

static jit_ref kint(jit_rec *R, int64_t v) { return konst(R, IR_KINT, IRT_INT, VM_T_INT, v); }
static jit_ref kbool(jit_rec *R, bool v) { return konst(R, IR_KINT, IRT_BOOL, VM_T_BOOL, v); }
static jit_ref knil(jit_rec *R) { return konst(R, IR_KNIL, IRT_NIL, VM_T_NIL, 0); }

static jit_ref kflt(jit_rec *R, double d)
{
  int64_t bits;
  memcpy(&bits, &d, sizeof bits);
  return konst(R, IR_KFLT, IRT_FLT, VM_T_FLOAT, bits);
}

/* A pointer constant: BIND on the tape (after the GREEN decision that
** produced it), with the origin of p, and kept alive by the trace. */
static jit_ref kptr(jit_rec *R, void *p, uint8_t tag, jit_origin o)
{
  jit_ref r = konst_find(R, IR_KPTR, IRT_PTR, tag, (int64_t)(intptr_t)p);
  if (r != JIT_REF_NONE)
    return r;
  r = konst_new(R, IR_KPTR, IRT_PTR, tag, (int64_t)(intptr_t)p);
  if (R->fail)
    return 0;
  R->T->ir[r].b = R->nbind;
  if (R->nbind < JIT_REC_GREENS)
    R->gkind[R->nbind] = 0;
  if (R->check) {
    if (!R->fail)
      check_answer(R, jc_replay_bind(R->cur, (uint64_t)(uintptr_t)p));
  } else {
    tape(R, JIT_TAPE_BIND, 0, R->nbind, o);
    if (R->nbind < JIT_MAX_TAPE)
      R->T->bindv[R->nbind] = (uint64_t)(uintptr_t)p;
  }
  R->nbind++;
  return r;
}

/* -- Snapshots ------------------------------------------------------------------- */

/* Whether the interpreter, resumed in the current state (the frames of the
** slot map, the innermost at curpc), may read slot s before writing it.  A
** slot belongs to every frame whose window covers it (a callee's window
** overlaps its caller's temporaries); it is needed if it is live in one of
** them (live.c), at the pc that frame resumes at: the innermost at curpc,
** the others after their call.  The call slot of a frame (the callee's
** base - 1) is not: the callee's RETURN overwrites it before the caller reads
** it.  A slot left out keeps the value memory has, which nothing reads. */
static bool snap_needs(jit_rec *R, uint32_t s)
{
  for (int d = R->depth; d >= 0; d--) {
    const rec_frame *f = &R->frames[d];
    vm_code *c = f->func->code;
    if (s < f->base || s - f->base >= c->nslots)
      continue;
    if (d < R->depth && s + 1 == R->frames[d + 1].base)
      continue;
    uint32_t pc = d == R->depth ? R->curpc : R->frames[d + 1].ret_pc;
    if (jit_live_slot(jit_live_at(c, pc), s - f->base))
      return true;
  }
  return false;
}

/* The inlined frames of the previous snapshot, if they are the current
** ones: snapshot s shares them (most guards of an inlined call are in the
** same frames).  Fewer frames to save, and to check at every reload. */
static bool snap_frames_again(jit_rec *R, jit_snap *s)
{
  jit_trace *T = R->T;
  if (T->nsnap == 0 || R->depth == 0)
    return false;
  const jit_snap *p = &T->snaps[T->nsnap - 1];
  if (p->nframe != (uint32_t)R->depth)
    return false;
  for (int d = 1; d <= R->depth; d++) {
    const jit_snapframe *f = &T->snapframes[p->frame + d - 1];
    if (f->func != R->frames[d].func || f->base != R->frames[d].base ||
        f->ret_pc != R->frames[d].ret_pc || f->ctor != R->frames[d].ctor)
      return false;
  }
  s->frame = p->frame;
  s->nframe = p->nframe;
  return true;
}

static uint32_t snapshot(jit_rec *R)
{
  jit_trace *T = R->T;
  if (T->nsnap > 0 && !R->dirty && R->snap_pc == R->curpc && R->snap_depth == R->depth)
    return T->nsnap - 1;
  if (T->nsnap >= JIT_MAX_SNAP) {
    R->fail = "too many snapshots";
    return 0;
  }
  if (R->check) {
    /* Only the numbering matters to the tape (nothing reads a check's
    ** snapshots: they are not even filled in). */
    R->dirty = false;
    R->snap_pc = R->curpc;
    R->snap_depth = R->depth;
    return T->nsnap++;
  }
  jit_snap *s = &T->snaps[T->nsnap];
  s->pc = R->curpc;
  s->ent = T->nsnapent;
  s->frame = T->nsnapframe;
  s->jmp = 0;
  s->mat = 0;
  s->flags = 0;
  s->nent = s->nframe = 0;
  for (uint32_t i = 0; i < R->maxslot; i++) {
    if (!R->slots[i].mod || !snap_needs(R, i))
      continue;
    if (T->nsnapent >= JIT_MAX_SNAPENT) {
      R->fail = "too many snapshot entries";
      return 0;
    }
    jit_snapent *e = &T->snapents[T->nsnapent++];
    e->slot = i;
    e->ref = R->slots[i].ref;
    e->tag = R->slots[i].tag;
  }
  s->nent = T->nsnapent - s->ent;
  if (!snap_frames_again(R, s)) {
    for (int d = 1; d <= R->depth; d++) {
      jit_snapframe *f = &T->snapframes[T->nsnapframe++];
      f->func = R->frames[d].func;
      f->base = R->frames[d].base;
      f->ret_pc = R->frames[d].ret_pc;
      f->ctor = R->frames[d].ctor;
    }
    s->nframe = T->nsnapframe - s->frame;
  }
  R->dirty = false;
  R->snap_pc = R->curpc;
  R->snap_depth = R->depth;
  return T->nsnap++;
}

/* A guard: exit through a snapshot of the current state unless cond(a, b). */
static void guard(jit_rec *R, jit_irop op, jit_type t, jit_ref a, jit_ref b)
{
  uint32_t s = snapshot(R);
  jit_ref r = emit(R, op, t, a, b);
  if (R->fail)
    return;
  R->T->ir[r].flags |= IRF_GUARD;
  R->T->ir[r].snap = s;
  tape_guard(R, s, guard_outcome(R, op, t, a, b));
}

static jit_ref guarded(jit_rec *R, jit_irop op, jit_type t, jit_ref a, jit_ref b)
{
  uint32_t s = snapshot(R);
  jit_ref r = emit(R, op, t, a, b);
  if (R->fail)
    return 0;
  R->T->ir[r].flags |= IRF_GUARD;
  R->T->ir[r].snap = s;
  tape_guard(R, s, guard_outcome(R, op, t, a, b));
  return r;
}

/* A guard on the iteration's path (IRF_BRANCH): a condition's outcome, a
** loop's end.  Type guards and bounds checks are plain guards. */
static void branch(jit_rec *R, jit_irop op, jit_type t, jit_ref a, jit_ref b)
{
  jit_ref r = guarded(R, op, t, a, b);
  if (!R->fail && r)
    R->T->ir[r].flags |= IRF_BRANCH;
}

/* -- The slot map ----------------------------------------------------------------- */

/* Ref of slot s (relative to the root base), loading and type-guarding it from
** the frame the first time. */
static jit_ref getslot(jit_rec *R, uint32_t s, uint8_t *tag)
{
  if (s >= JIT_MAX_SLOTS) {
    R->fail = "frame too large";
    *tag = VM_T_NIL;
    return 0;
  }
  if (R->slots[s].ref != JIT_REF_NONE) {
    *tag = R->slots[s].tag;
    return R->slots[s].ref;
  }
  uint8_t t = (uint8_t)R->base[s].tag;
  *tag = t;
  jit_ref tr = emit(R, IR_SLOADT, IRT_INT, s, 0);
  guard(R, IR_EQ, IRT_INT, tr, kint(R, t));
  jit_ref r;
  if (t == VM_T_NIL) {
    r = knil(R);
  } else {
    r = emit(R, IR_SLOAD, jit_tag_type(t), s, 0);
    R->T->ir[r].tag = t;
  }
  if (R->fail)
    return 0;
  R->slots[s].ref = r;
  R->slots[s].tag = t;
  R->slots[s].mod = 0;
  R->slots[s].loaded = 1;
  if (s + 1 > R->maxslot)
    R->maxslot = s + 1;
  if (R->maxslot > R->slot_hw)
    R->slot_hw = R->maxslot;
  return r;
}

static void setslot(jit_rec *R, uint32_t s, jit_ref ref, uint8_t tag)
{
  if (s >= JIT_MAX_SLOTS) {
    R->fail = "frame too large";
    return;
  }
  R->slots[s].ref = ref;
  R->slots[s].tag = tag;
  R->slots[s].mod = 1;
  R->dirty = true;
  if (s + 1 > R->maxslot)
    R->maxslot = s + 1;
  if (R->maxslot > R->slot_hw)
    R->slot_hw = R->maxslot;
}

/* The value as a double (int converted). */
static jit_ref tofloat(jit_rec *R, jit_ref r, uint8_t tag)
{
  if (tag == VM_T_FLOAT)
    return r;
  return emit(R, IR_I2F, IRT_FLT, r, 0);
}

static double numval(vm_value v)
{
  return v.tag == VM_T_INT ? (double)v.u.i : v.u.d;
}

/* Truthiness of a typed value, guarded if it is a non-constant bool. */
static bool truthy(jit_rec *R, jit_ref r, uint8_t tag, vm_value actual)
{
  if (tag == VM_T_NIL)
    return false;
  if (tag != VM_T_BOOL)
    return true;
  bool v = actual.u.i != 0;
  if (R->T->ir[r].op != IR_KINT)
    branch(R, IR_EQ, IRT_BOOL, r, kbool(R, v));
  return v;
}

/* -- Instructions ------------------------------------------------------------------ */

static void rec_arith(jit_rec *R, unsigned op, uint32_t a, uint32_t b, uint32_t c)
{
  uint8_t tb, tc;
  jit_ref rb = getslot(R, b, &tb), rc = getslot(R, c, &tc);
  vm_value vb = R->base[b], vc = R->base[c];
  if ((tb != VM_T_INT && tb != VM_T_FLOAT) || (tc != VM_T_INT && tc != VM_T_FLOAT)) {
    R->fail = "arithmetic on non-numbers";
    return;
  }
  jit_ref r;
  if (tb == VM_T_INT && tc == VM_T_INT) {
    int64_t x = vb.u.i, y = vc.u.i, z;
    switch (op) {
    case VM_OP_ADD:
    case VM_OP_SUB:
    case VM_OP_MUL: {
      bool ovf = op == VM_OP_ADD   ? __builtin_add_overflow(x, y, &z)
                 : op == VM_OP_SUB ? __builtin_sub_overflow(x, y, &z)
                                   : __builtin_mul_overflow(x, y, &z);
      if (ovf) {
        R->fail = "integer overflow";
        return;
      }
      jit_irop io = op == VM_OP_ADD ? IR_ADD : op == VM_OP_SUB ? IR_SUB : IR_MUL;
      r = guarded(R, io, IRT_INT, rb, rc);
      setslot(R, a, r, VM_T_INT);
      return;
    }
    case VM_OP_DIV:
      if (y == 0) {
        R->fail = "division by zero";
        return;
      }
      guard(R, IR_NE, IRT_INT, rc, kint(R, 0));
      r = emit(R, IR_FDIV, IRT_FLT, tofloat(R, rb, tb), tofloat(R, rc, tc));
      setslot(R, a, r, VM_T_FLOAT);
      return;
    default: /* IDIV, MOD */
      if (y == 0 || y == -1) {
        R->fail = "division by zero or -1";
        return;
      }
      guard(R, IR_NE, IRT_INT, rc, kint(R, 0));
      guard(R, IR_NE, IRT_INT, rc, kint(R, -1));
      r = emit(R, IR_CALLH, IRT_INT, rb, rc);
      R->T->ir[r].k = op == VM_OP_IDIV ? JIT_H_IDIV : JIT_H_IMOD;
      setslot(R, a, r, VM_T_INT);
      return;
    }
  }
  jit_ref fb = tofloat(R, rb, tb), fc = tofloat(R, rc, tc);
  switch (op) {
  case VM_OP_ADD: r = emit(R, IR_FADD, IRT_FLT, fb, fc); break;
  case VM_OP_SUB: r = emit(R, IR_FSUB, IRT_FLT, fb, fc); break;
  case VM_OP_MUL: r = emit(R, IR_FMUL, IRT_FLT, fb, fc); break;
  default:
    if (numval(vc) == 0.0) {
      R->fail = "division by zero";
      return;
    }
    guard(R, IR_NE, IRT_FLT, fc, kflt(R, 0.0));
    if (op == VM_OP_DIV) {
      r = emit(R, IR_FDIV, IRT_FLT, fb, fc);
    } else {
      r = emit(R, IR_CALLH, IRT_FLT, fb, fc);
      R->T->ir[r].k = op == VM_OP_IDIV ? JIT_H_FIDIV : JIT_H_FMOD;
    }
    break;
  }
  setslot(R, a, r, VM_T_FLOAT);
}

/* LT / LE / EQ / NE: the outcome is guarded and R[A] becomes a constant. */
static void rec_compare(jit_rec *R, unsigned op, uint32_t a, uint32_t b, uint32_t c)
{
  uint8_t tb, tc;
  jit_ref rb = getslot(R, b, &tb), rc = getslot(R, c, &tc);
  vm_value vb = R->base[b], vc = R->base[c];
  bool numb = tb == VM_T_INT || tb == VM_T_FLOAT, numc = tc == VM_T_INT || tc == VM_T_FLOAT;
  bool res;
  if (op == VM_OP_LT || op == VM_OP_LE) {
    if (!numb || !numc) {
      R->fail = "ordering on non-numbers";
      return;
    }
    if (tb == VM_T_INT && tc == VM_T_INT) {
      res = op == VM_OP_LT ? vb.u.i < vc.u.i : vb.u.i <= vc.u.i;
      jit_irop g = op == VM_OP_LT ? (res ? IR_LT : IR_GE) : (res ? IR_LE : IR_GT);
      branch(R, g, IRT_INT, rb, rc);
    } else {
      double x = numval(vb), y = numval(vc);
      res = op == VM_OP_LT ? x < y : x <= y;
      jit_irop g = op == VM_OP_LT ? (res ? IR_LT : IR_GE) : (res ? IR_LE : IR_GT);
      branch(R, g, IRT_FLT, tofloat(R, rb, tb), tofloat(R, rc, tc));
    }
  } else {
    bool eq = vm_value_equal(vb, vc);
    if (tb == VM_T_INT && tc == VM_T_INT) {
      branch(R, eq ? IR_EQ : IR_NE, IRT_INT, rb, rc);
    } else if (numb && numc) {
      branch(R, eq ? IR_EQ : IR_NE, IRT_FLT, tofloat(R, rb, tb), tofloat(R, rc, tc));
    } else if (tb == tc && tb != VM_T_NIL) {
      branch(R, eq ? IR_EQ : IR_NE, jit_tag_type(tb), rb, rc);
    }
    /* nil == nil, or different non-number tags: decided by the tag guards. */
    res = op == VM_OP_EQ ? eq : !eq;
  }
  setslot(R, a, kbool(R, res), VM_T_BOOL);
}

/* The BIND slot of pointer constant k. */
static uint32_t bind_of(const jit_rec *R, jit_ref k)
{
  return k < R->T->nir && R->T->ir[k].op == IR_KPTR ? R->T->ir[k].b : JIT_O_ROOT;
}

/* The origin of object p, held by value r, that the trace is about to
** promote (the machine code compares r with it): a constant already bound,
** a global cell's value, or an object the parent binds (static.c binds
** them without a checking iteration); a value of no known origin leaves
** the trace to its check. */
static jit_origin value_origin(const jit_rec *R, jit_ref r, const void *p)
{
  const jit_trace *T = R->T;
  if (R->check || r >= T->nir)
    return org_none;
  const jit_ins *i = &T->ir[r];
  if (i->op == IR_KPTR)
    return org(JIT_O_BIND, i->b, 0, 0);
  if (i->op == IR_CLOAD && i->a < T->nir && T->ir[i->a].op == IR_KPTR)
    return org(JIT_O_CELLVAL, T->ir[i->a].b, 0, 0);
  const jit_trace *P = T->parent;
  for (uint32_t k = 0; P && k < jit_trace_nbound(P); k++)
    if (jit_trace_bound(P, k) == p)
      return org(JIT_O_PARENT, k, 0, 0);
  /* A class or function defined at top level (a receiver's class, most
  ** often: nothing in the trace loaded it). */
  const vm_code *main = R->vm->main_func ? R->vm->main_func->code : NULL;
  for (uint32_t k = 0; main && k < main->ncells; k++)
    if (vm_is_obj(main->cells[k]->value) && main->cells[k]->value.u.p == p)
      return org(JIT_O_MAINCELL, k, 0, 0);
  return org_none;
}

/* A promotion (PyPy's guard_value): a guard that the value r is the object
** p, which becomes a constant the trace relies on.  On the tape: first the
** GUARD, whose outcome is the *name* of the class or function met there,
** then the GREEN decision about what the code derives from it (a layout, a
** code hash), then its BIND.  So a checking iteration that meets another
** class or function at a polymorphic site goes another way at the guard,
** and leaves the candidate through its exit, into the bridge saved for that
** receiver (as the compiled code would); the same name with another layout
** or code is an edited program: a miss.  The machine code compares r with
** the bound object. */
static jit_ref promote(jit_rec *R, jit_ref r, void *p, uint8_t tag, uint16_t kind,
                       const vm_string *name, uint64_t fp)
{
  uint32_t s = snapshot(R);
  uint64_t outcome = guard_outcome(R, IR_EQ, IRT_PTR, r, JIT_REF_NONE) ^ kind ^
                     jit_hash_strobj(name);
  tape_guard(R, s, outcome);
  /* The same object promoted again (a receiver's class at every call on
  ** it), already bound and its fingerprint on the tape: the GUARD alone.
  ** The GREEN would say again what the first said about the object in the
  ** same slot (static binding resolves it once; a check meets the same
  ** object and leaves it out the same way), and the machine code compares
  ** r with that object here too.  A fingerprint that changed (a field added
  ** to the class since) is a GREEN of its own, which a reload must match.
  ** Three GREENs in five on a lazy bridge's tape were such repeats
  ** (richards). */
  jit_ref k = konst_find(R, IR_KPTR, IRT_PTR, tag, (int64_t)(intptr_t)p);
  uint32_t b = k != JIT_REF_NONE ? R->T->ir[k].b : JIT_REC_GREENS;
  if (b >= JIT_REC_GREENS || R->gkind[b] != kind || R->gfp[b] != fp) {
    jit_origin o = value_origin(R, r, p);
    tape(R, JIT_TAPE_GREEN, kind, fp, o);
    if (k == JIT_REF_NONE)
      k = kptr(R, p, tag, o); /* bound already: no BIND (kptr would find it again) */
    if (R->fail)
      return 0;
    b = R->T->ir[k].b;
    if (b < JIT_REC_GREENS) {
      R->gkind[b] = kind;
      R->gfp[b] = fp;
    }
  }
  jit_ref g = emit(R, IR_EQ, IRT_PTR, r, k);
  if (R->fail)
    return 0;
  R->T->ir[g].flags |= IRF_GUARD | IRF_BRANCH;
  R->T->ir[g].snap = s;
  return k;
}

/* The class guard of an instance (promotion): the class becomes a constant
** (*kc, if asked for). */
static vm_class *promote_class(jit_rec *R, jit_ref obj, vm_value v, jit_ref *kc)
{
  vm_instance *in = v.u.p;
  vm_class *cls = in->cls;
  jit_ref cr = emit(R, IR_OBJCLASS, IRT_PTR, obj, 0);
  jit_ref k = promote(R, cr, cls, VM_T_CLASS, JIT_GREEN_CLASS, cls->name, jit_hash_class(cls));
  if (kc)
    *kc = k;
  return cls;
}

/* A typed load of a tagged value: tag load, tag guard, payload load. */
static jit_ref typed_load(jit_rec *R, jit_irop tagop, jit_irop op, jit_ref a, jit_ref b, uint8_t t)
{
  jit_ref tr = emit(R, tagop, IRT_INT, a, b);
  guard(R, IR_EQ, IRT_INT, tr, kint(R, t));
  if (t == VM_T_NIL)
    return knil(R);
  jit_ref r = emit(R, op, jit_tag_type(t), a, b);
  if (!R->fail)
    R->T->ir[r].tag = t;
  return r;
}

static void rec_store(jit_rec *R, jit_irop op, jit_ref a, jit_ref b, jit_ref v, uint8_t tag)
{
  jit_ref r = emit(R, op, jit_tag_type(tag), a, b);
  if (R->fail)
    return;
  R->T->ir[r].k = v;
  R->T->ir[r].tag = tag;
}

/* An allocation: helper k(a, b) (IR_CALLA), exiting if the helper finds a
** collection due.  Its snapshot is its own (JIT_SNAP_GC, never a bridge),
** taken before the instruction changes anything, so the interpreter redoes
** the instruction and collects with every value in memory. */
static jit_ref alloc_call(jit_rec *R, jit_helper h, jit_ref a, jit_ref b, uint8_t tag)
{
  R->dirty = true; /* a snapshot of its own */
  uint32_t s = snapshot(R);
  jit_ref r = emit(R, IR_CALLA, IRT_PTR, a, b);
  if (R->fail)
    return 0;
  R->T->ir[r].k = h;
  R->T->ir[r].tag = tag;
  R->T->ir[r].flags |= IRF_GUARD;
  R->T->ir[r].snap = s;
  if (!R->check)
    R->T->snaps[s].flags |= JIT_SNAP_GC;
  tape_guard(R, s, guard_outcome(R, IR_CALLA, IRT_PTR, a, b) ^ h);
  R->dirty = true; /* no later guard shares this snapshot */
  return r;
}

/* Append v (tag tv) to array arr within its capacity (push, APPEND). */
/* Append v (tag tv) to array arr: within its capacity (guard len < cap),
** or, when this push grew the array, after the RESERVE helper made room
** (an allocation: it exits when a collection is due).  A capacity never
** shrinks, so an ACAP loaded before a growth stays a safe bound. */
static void rec_append(jit_rec *R, jit_ref arr, jit_ref v, uint8_t tv, bool grows)
{
  if (grows)
    alloc_call(R, JIT_H_RESERVE, arr, JIT_REF_NONE, VM_T_ARRAY);
  jit_ref len = emit(R, IR_ALEN, IRT_INT, arr, 0);
  if (!grows) {
    jit_ref cap = emit(R, IR_ACAP, IRT_INT, arr, 0);
    guard(R, IR_LT, IRT_INT, len, cap);
  }
  rec_store(R, IR_ASTORE, arr, len, v, tv);
  jit_ref n1 = emit(R, IR_ADD, IRT_INT, len, kint(R, 1)); /* < cap: no overflow */
  emit(R, IR_ASETLEN, IRT_VOID, arr, n1);
}

/* Builtins the trace inlines; anything else aborts. */
/* push(a, v) and pop(a) within the array's capacity: no allocation, only
** the element and the length change (ASTORE/ALOAD, ASETLEN).  A push that
** must grow the array exits (guard len < cap) and the interpreter grows it. */
static bool rec_pushpop(jit_rec *R, vm_native *n, uint32_t a, unsigned nargs)
{
  const char *name = n->name->chars;
  bool push = strcmp(name, "push") == 0 && nargs == 2;
  bool pop = strcmp(name, "pop") == 0 && nargs == 1;
  if (!push && !pop)
    return false;
  uint8_t t;
  jit_ref arr = getslot(R, a + 1, &t);
  if (R->fail)
    return true;
  if (t != VM_T_ARRAY) {
    R->fail = "push/pop on a non-array";
    return true;
  }
  vm_array *A = R->base[a + 1].u.p;
  if (push) {
    uint8_t tv;
    jit_ref v = getslot(R, a + 2, &tv);
    if (A->len >= A->cap) {
      tape(R, JIT_TAPE_GREEN, JIT_GREEN_BUILTIN, jit_hash_strobj(n->name),
         org(JIT_O_BIND, R->native_slot, 0, 0));
      rec_append(R, arr, v, tv, true);
      setslot(R, a, knil(R), VM_T_NIL);
      return true;
    }
    jit_ref len = emit(R, IR_ALEN, IRT_INT, arr, 0);
    jit_ref cap = emit(R, IR_ACAP, IRT_INT, arr, 0);
    guard(R, IR_LT, IRT_INT, len, cap);
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_BUILTIN, jit_hash_strobj(n->name),
         org(JIT_O_BIND, R->native_slot, 0, 0));
    rec_store(R, IR_ASTORE, arr, len, v, tv);
    jit_ref n1 = emit(R, IR_ADD, IRT_INT, len, kint(R, 1)); /* < cap: no overflow */
    emit(R, IR_ASETLEN, IRT_VOID, arr, n1);
    setslot(R, a, knil(R), VM_T_NIL);
  } else {
    if (A->len == 0) {
      R->fail = "pop from an empty array";
      return true;
    }
    jit_ref len = emit(R, IR_ALEN, IRT_INT, arr, 0);
    guard(R, IR_GT, IRT_INT, len, kint(R, 0));
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_BUILTIN, jit_hash_strobj(n->name),
         org(JIT_O_BIND, R->native_slot, 0, 0));
    jit_ref n1 = emit(R, IR_SUB, IRT_INT, len, kint(R, 1));
    uint8_t et = (uint8_t)A->items[A->len - 1].tag;
    jit_ref r = typed_load(R, IR_ALOADT, IR_ALOAD, arr, n1, et);
    emit(R, IR_ASETLEN, IRT_VOID, arr, n1);
    setslot(R, a, r, et);
  }
  return true;
}

static void rec_builtin(jit_rec *R, vm_native *n, uint32_t a, unsigned nargs)
{
  const char *name = n->name->chars;
  if (rec_pushpop(R, n, a, nargs))
    return;
  if (strcmp(name, "breakpoint") == 0 && nargs == 0) {
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_BUILTIN, jit_hash_strobj(n->name),
         org(JIT_O_BIND, R->native_slot, 0, 0));
    jit_ref r = emit(R, IR_CALLS, IRT_VOID, JIT_REF_NONE, JIT_REF_NONE);
    if (R->fail)
      return;
    R->T->ir[r].k = JIT_H_BREAKPOINT;
    setslot(R, a, knil(R), VM_T_NIL);
    return;
  }
  if (nargs != 1) {
    R->fail = "builtin arity";
    return;
  }
  uint8_t t;
  jit_ref x = getslot(R, a + 1, &t);
  jit_ref r;
  uint8_t rt;
  if (strcmp(name, "sqrt") == 0 && (t == VM_T_INT || t == VM_T_FLOAT)) {
    r = emit(R, IR_FSQRT, IRT_FLT, tofloat(R, x, t), 0);
    rt = VM_T_FLOAT;
  } else if (strcmp(name, "len") == 0 && t == VM_T_ARRAY) {
    r = emit(R, IR_ALEN, IRT_INT, x, 0);
    rt = VM_T_INT;
  } else if (strcmp(name, "len") == 0 && t == VM_T_STR) {
    r = emit(R, IR_STRLEN, IRT_INT, x, 0);
    rt = VM_T_INT;
  } else if (strcmp(name, "print") == 0 &&
             (t == VM_T_INT || t == VM_T_FLOAT || t == VM_T_BOOL || t == VM_T_NIL || t == VM_T_STR)) {
    /* One argument whose formatting calls no user code. */
    bool f = t == VM_T_FLOAT;
    jit_ref arg = t == VM_T_NIL ? kint(R, 0) : x;
    r = emit(R, IR_CALLS, IRT_VOID, arg, f ? JIT_REF_NONE : kint(R, t));
    if (R->fail)
      return;
    R->T->ir[r].k = f ? JIT_H_PRINTF : JIT_H_PRINT;
    r = knil(R);
    rt = VM_T_NIL;
  } else if (strcmp(name, "str") == 0 && t == VM_T_STR) {
    r = x;
    rt = VM_T_STR;
  } else if (strcmp(name, "str") == 0 &&
             (t == VM_T_INT || t == VM_T_FLOAT || t == VM_T_BOOL || t == VM_T_NIL)) {
    bool f = t == VM_T_FLOAT;
    r = alloc_call(R, f ? JIT_H_STRF : JIT_H_STR, t == VM_T_NIL ? kint(R, 0) : x,
                   f ? JIT_REF_NONE : kint(R, t), VM_T_STR);
    rt = VM_T_STR;
  } else if (strcmp(name, "ord") == 0 && t == VM_T_STR) {
    if (((vm_string *)R->base[a + 1].u.p)->len != 1) {
      R->fail = "ord of a long string";
      return;
    }
    guard(R, IR_EQ, IRT_INT, emit(R, IR_STRLEN, IRT_INT, x, 0), kint(R, 1));
    r = emit(R, IR_CALLH, IRT_INT, x, JIT_REF_NONE);
    if (R->fail)
      return;
    R->T->ir[r].k = JIT_H_ORD;
    rt = VM_T_INT;
  } else if (strcmp(name, "floor") == 0 && t == VM_T_INT) {
    r = x;
    rt = VM_T_INT;
  } else {
    R->fail = "builtin not inlined";
    return;
  }
  tape(R, JIT_TAPE_GREEN, JIT_GREEN_BUILTIN, jit_hash_strobj(n->name),
         org(JIT_O_BIND, R->native_slot, 0, 0));
  setslot(R, a, r, rt);
}

/* Enter an inlined call frame for fn at slot `base`. */
static void push_frame(jit_rec *R, vm_func *fn, uint32_t fslot, uint32_t base, unsigned nargs)
{
  vm_code *code = fn->code;
  if (nargs != code->nparams) {
    R->fail = "arity mismatch";
    return;
  }
  if (R->depth >= JIT_MAX_DEPTH) {
    R->fail = "call depth too deep";
    return;
  }
  if (base + code->nslots >= JIT_MAX_SLOTS) {
    R->fail = "frame too large";
    return;
  }
  vm_vm *vm = R->vm;
  if (vm->frame + 1 + JIT_MAX_DEPTH >= vm->frames + VM_MAX_FRAMES) {
    R->fail = "near the frame limit";
    return;
  }
  R->depth++;
  R->frames[R->depth].func = fn;
  R->frames[R->depth].base = base;
  R->frames[R->depth].ret_pc = R->curpc + 1;
  R->frames[R->depth].ctor = 0;
  R->frames[R->depth].fslot = fslot;
  R->dirty = true;
}

/* Calling class c (the value f in slot a): a new instance (allocated by a
** helper, see alloc_call), then its init inlined as a constructor frame
** (self in its R[0], the instance also in slot a; RETURN yields self). */
static void rec_construct(jit_rec *R, jit_ref f, vm_class *c, uint32_t a, unsigned nargs)
{
  vm_func *init = vm_class_find_method(c, R->vm->str_init);
  if (init ? nargs + 1 != init->code->nparams : nargs != 0) {
    R->fail = "constructor arity";
    return;
  }
  jit_ref kc = promote(R, f, c, VM_T_CLASS, JIT_GREEN_CLASS, c->name, jit_hash_class(c));
  /* Whether and which init runs is decided here too. */
  jit_origin oi = org(JIT_O_INIT, bind_of(R, kc), 0, 0);
  tape(R, JIT_TAPE_GREEN, JIT_GREEN_METHOD, init ? jit_hash_code(init->code) : 0, oi);
  jit_ref args[256];
  if (nargs > 255 || a + nargs + 2 >= JIT_MAX_SLOTS) {
    R->fail = "frame too large";
    return;
  }
  uint8_t tags[256];
  for (unsigned k = 0; k < nargs; k++)
    args[k] = getslot(R, a + 1 + k, &tags[k]);
  jit_ref kinit = init ? kptr(R, init, VM_T_FUNC, oi) : 0;
  if (R->fail)
    return;
  jit_ref in = alloc_call(R, JIT_H_NEWINST, kc, JIT_REF_NONE, VM_T_INSTANCE);
  setslot(R, a, in, VM_T_INSTANCE);
  if (!init)
    return;
  for (unsigned k = 0; k < nargs; k++)
    setslot(R, a + 2 + k, args[k], tags[k]);
  setslot(R, a + 1, in, VM_T_INSTANCE);
  push_frame(R, init, bind_of(R, kinit), a + 1, nargs + 1);
  if (!R->fail)
    R->frames[R->depth].ctor = 1;
}

static void rec_call(jit_rec *R, uint32_t a, unsigned nargs)
{
  uint8_t t;
  jit_ref f = getslot(R, a, &t);
  vm_value v = R->base[a];
  if (R->fail)
    return;
  if (t == VM_T_FUNC) {
    vm_func *fn = v.u.p;
    jit_ref k = promote(R, f, fn, VM_T_FUNC, JIT_GREEN_CALLEE, fn->code->name, jit_hash_code(fn->code));
    if (!R->fail)
      push_frame(R, fn, bind_of(R, k), a + 1, nargs);
  } else if (t == VM_T_NATIVE) {
    jit_ref k = kptr(R, v.u.p, VM_T_NATIVE, value_origin(R, f, v.u.p));
    guard(R, IR_EQ, IRT_PTR, f, k);
    if (R->fail)
      return;
    R->native_slot = bind_of(R, k);
    rec_builtin(R, v.u.p, a, nargs);
  } else if (t == VM_T_CLASS) {
    rec_construct(R, f, v.u.p, a, nargs);
  } else {
    R->fail = "call of a non-function";
  }
}

/* Inline method m, found by a green decision of this kind (on a promoted
** class, or a super call's superclass), called with its receiver at a + 1:
** the decision and the method's BIND, then its frame. */
static void inline_method(jit_rec *R, uint32_t a, unsigned nargs, vm_func *m, uint16_t kind,
                          jit_origin o)
{
  tape(R, JIT_TAPE_GREEN, kind, jit_hash_code(m->code), o);
  jit_ref km = kptr(R, m, VM_T_FUNC, o);
  if (R->fail)
    return;
  setslot(R, a, km, VM_T_FUNC);
  push_frame(R, m, bind_of(R, km), a + 1, nargs + 1);
}

static void rec_callmethod(jit_rec *R, uint32_t a, unsigned nargs, uint32_t nidx)
{
  vm_string *name = R->curcode->names[nidx];
  uint8_t t;
  jit_ref o = getslot(R, a + 1, &t);
  if (t != VM_T_INSTANCE) {
    R->fail = "method call on a non-instance";
    return;
  }
  jit_ref kc = 0;
  vm_class *cls = promote_class(R, o, R->base[a + 1], &kc);
  vm_func *m = vm_class_find_method(cls, name);
  if (!m) {
    R->fail = "method is a field";
    return;
  }
  inline_method(R, a, nargs, m, JIT_GREEN_METHOD, org(JIT_O_METHOD, bind_of(R, kc), cur_fs(R), nidx));
}

/* super.name(args): the method is looked up on the superclass of the
** class that owns the calling function.  In an inlined frame that function
** is a constant of the trace (guarded as a callee, or the method found on a
** promoted class), its owner is set once when its class is built and a
** class's superclass and methods never change after that, so the method
** found is a constant too: a green decision (its code hash) and a BIND, no
** guard.  In the root frame the function is not a constant (another
** closure of the same code, in another class, may run the same loop), so
** the recorder stops there. */
static void rec_supercall(jit_rec *R, uint32_t a, unsigned nargs, uint32_t nidx)
{
  vm_string *name = R->curcode->names[nidx];
  if (R->depth == 0) {
    R->stop = "super call in the root frame";
    return;
  }
  vm_class *owner = R->frames[R->depth].func->owner;
  vm_func *m = owner && owner->super ? vm_class_find_method(owner->super, name) : NULL;
  if (!m) {
    R->fail = "super call that raises an error";
    return;
  }
  inline_method(R, a, nargs, m, JIT_GREEN_SUPER, org(JIT_O_SUPER, cur_fs(R), nidx, 0));
}

/* RETURN of an inlined frame (a RETURN of the root frame stops the trace). */
static void rec_return(jit_rec *R, jit_ref r, uint8_t tag)
{
  vm_vm *vm = R->vm;
  uint32_t cb = R->frames[R->depth].base;
  if (vm->open_upvals && vm->open_upvals->loc >= R->base + cb) {
    R->fail = "open upvalues";
    return;
  }
  if (R->frames[R->depth].ctor)
    r = getslot(R, cb, &tag); /* a constructor returns self */
  R->depth--;
  for (uint32_t s = cb; s < R->maxslot; s++) {
    R->slots[s].ref = JIT_REF_NONE;
    R->slots[s].mod = 0;
  }
  R->maxslot = cb;
  setslot(R, cb - 1, r, tag);
}

/* FORLOOP at `pc`: int or float step, guarded direction.  With `force`, the
** loop is recorded as continuing even if this iteration is its last (the
** root's back edge: the trace is complete either way). */
static void rec_forloop(jit_rec *R, uint32_t a, bool *again_out, bool force)
{
  uint8_t t0, t1, t2;
  jit_ref r0 = getslot(R, a, &t0), r1 = getslot(R, a + 1, &t1), r2 = getslot(R, a + 2, &t2);
  vm_value *v = &R->base[a];
  if (R->fail)
    return;
  bool again;
  if (t0 == VM_T_INT && t1 == VM_T_INT && t2 == VM_T_INT) {
    int64_t n, step = v[2].u.i;
    if (__builtin_add_overflow(v[0].u.i, step, &n)) {
      R->fail = "for loop overflow";
      return;
    }
    guard(R, step > 0 ? IR_GT : IR_LT, IRT_INT, r2, kint(R, 0));
    jit_ref rn = guarded(R, IR_ADD, IRT_INT, r0, r2);
    again = force || (step > 0 ? n < v[1].u.i : n > v[1].u.i);
    if (step > 0)
      branch(R, again ? IR_LT : IR_GE, IRT_INT, rn, r1);
    else
      branch(R, again ? IR_GT : IR_LE, IRT_INT, rn, r1);
    if (again) {
      setslot(R, a, rn, VM_T_INT);
      setslot(R, a + 3, rn, VM_T_INT);
    }
  } else if (t0 == VM_T_FLOAT && t1 == VM_T_FLOAT && t2 == VM_T_FLOAT) {
    double n = v[0].u.d + v[2].u.d;
    bool pos = v[2].u.d > 0;
    jit_ref k0 = kflt(R, 0.0);
    guard(R, pos ? IR_LT : IR_GE, IRT_FLT, k0, r2); /* 0 < step */
    jit_ref rn = emit(R, IR_FADD, IRT_FLT, r0, r2);
    again = force || (pos ? n < v[1].u.d : n > v[1].u.d);
    if (pos)
      branch(R, again ? IR_LT : IR_GE, IRT_FLT, rn, r1);
    else
      branch(R, again ? IR_LT : IR_GE, IRT_FLT, r1, rn);
    if (again) {
      setslot(R, a, rn, VM_T_FLOAT);
      setslot(R, a + 3, rn, VM_T_FLOAT);
    }
  } else {
    R->fail = "for loop types";
    return;
  }
  *again_out = again;
}

static void rec_forprep(jit_rec *R, uint32_t a)
{
  uint8_t t0, t1, t2;
  jit_ref r0 = getslot(R, a, &t0), r1 = getslot(R, a + 1, &t1), r2 = getslot(R, a + 2, &t2);
  vm_value *v = &R->base[a];
  if (R->fail)
    return;
  if (t0 != VM_T_INT || t1 != VM_T_INT || t2 != VM_T_INT || v[2].u.i == 0) {
    R->fail = "for loop setup not int";
    return;
  }
  int64_t step = v[2].u.i;
  guard(R, step > 0 ? IR_GT : IR_LT, IRT_INT, r2, kint(R, 0));
  bool run = step > 0 ? v[0].u.i < v[1].u.i : v[0].u.i > v[1].u.i;
  if (step > 0)
    branch(R, run ? IR_LT : IR_GE, IRT_INT, r0, r1);
  else
    branch(R, run ? IR_GT : IR_LE, IRT_INT, r0, r1);
  if (run)
    setslot(R, a + 3, r0, VM_T_INT);
}

/* -- Start, finish, abort ----------------------------------------------------------- */

static jit_trace *trace_new(void)
{
  jit_trace *T = calloc(1, sizeof *T);
  if (!T)
    return NULL;
  T->ir = malloc(JIT_MAX_IR * sizeof *T->ir);
  T->snaps = malloc(JIT_MAX_SNAP * sizeof *T->snaps);
  T->snapents = malloc(JIT_MAX_SNAPENT * sizeof *T->snapents);
  T->snapframes = malloc(JIT_MAX_SNAP * JIT_MAX_DEPTH * sizeof *T->snapframes);
  T->tape = malloc(JIT_MAX_TAPE * sizeof *T->tape);
  T->bindv = malloc(JIT_MAX_TAPE * sizeof *T->bindv);
  if (!T->ir || !T->snaps || !T->snapents || !T->snapframes || !T->tape || !T->bindv) {
    free(T->bindv);
    free(T->ir);
    free(T->snaps);
    free(T->snapents);
    free(T->snapframes);
    free(T->tape);
    free(T);
    return NULL;
  }
  return T;
}

static void trace_discard(jit_state *J, jit_trace *T)
{
  if (!T || T == J->chkT)
    return;
  free(T->bindv);
  free(T->ir);
  free(T->snaps);
  free(T->snapents);
  free(T->snapframes);
  free(T->tape);
  free(T);
}

/* An empty slot map (slots below R->slot_hw may have been used: every
** slot above it is clean, so a check starts without clearing all
** JIT_MAX_SLOTS) and nothing recorded yet. */
static void rec_reset(jit_rec *R)
{
  for (uint32_t i = 0; i < R->slot_hw; i++) {
    R->slots[i].ref = JIT_REF_NONE;
    R->slots[i].mod = 0;
    R->slots[i].loaded = 0;
  }
  R->maxslot = R->slot_hw = 0;
  R->nbc = 0;
  R->dirty = true;
  R->fail = NULL;
  R->stop = NULL;
  R->nbind = 0;
  R->nk = 0;
  if (++R->kgen == 0) { /* wrapped: every slot's generation is stale again */
    memset(R->kslot_gen, 0, sizeof R->kslot_gen);
    R->kgen = 1;
  }
}

/* The recorder's state, and for checks their scratch trace (J->chkT).
** Made once; a warm run makes them at startup (jit_rec_prepare): a quarter
** megabyte, mapped and first touched on the first check otherwise. */
static bool rec_alloc(jit_state *J, bool check)
{
  if (!J->rec) {
    J->rec = calloc(1, sizeof *J->rec); /* kgen 0 and no slot in use */
    if (!J->rec)
      return false;
    J->rec->slot_hw = JIT_MAX_SLOTS; /* the first reset clears them all */
  }
  return !check || J->chkT || (J->chkT = trace_new()) != NULL;
}

void jit_rec_prepare(jit_state *J)
{
  (void)rec_alloc(J, true); /* best effort: the first check tries again */
}

static bool rec_begin(jit_state *J, vm_frame *rootframe, jc_replay *cur)
{
  if (!rec_alloc(J, cur != NULL))
    return false;
  jit_rec *R = J->rec;
  R->J = J;
  R->vm = J->vm;
  R->check = cur != NULL;
  R->cur = cur;
  R->chk_parent = NULL;
  R->tailT = NULL;
  R->level = 0;
  if (cur) {
    R->T = J->chkT;
    jit_trace *T = R->T;
    T->nir = T->nsnap = T->nsnapent = T->nsnapframe = T->ntape = 0;
    T->parent = NULL;
    T->root = NULL;
    T->parent_snap = 0;
  } else {
    R->T = trace_new();
  }
  if (!R->T)
    return false;
  R->rootframe = rootframe;
  R->base = rootframe->base;
  R->rootcode = rootframe->func->code;
  R->depth = 0;
  R->frames[0].func = rootframe->func;
  R->frames[0].base = 0;
  R->frames[0].ret_pc = 0;
  R->frames[0].ctor = 0;
  R->frames[0].fslot = JIT_O_ROOT;
  rec_reset(R);
  R->t0 = jit_now_ns();
  R->T->code = R->rootcode;
  uint64_t lookup = J->cur.lookup_ns; /* set by the lookup just before a check */
  memset(&J->cur, 0, sizeof J->cur);
  if (cur)
    J->cur.lookup_ns = lookup;
  /* Until the start is done, the time counts as the hook's (see jit_rec_ins). */
  J->hook_in = J->time_hooks ? R->t0 : 0;
  return true;
}

/* The start of a recording or check is done: its time was the hook's. */
static void rec_started(jit_state *J)
{
  if (J->hook_in) {
    J->cur.hook_ns += jit_part_ns(J, J->hook_in, jit_now_ns());
    J->hook_in = 0;
  }
}

static bool rec_begin_check(jit_state *J, vm_frame *rootframe, jc_replay *cur)
{
  if (!rec_begin(J, rootframe, cur)) {
    jc_replay_abort(cur);
    jit_check_done(J);
    if (J->rec)
      J->rec->T = NULL;
    return false;
  }
  return true;
}

static void start_loop(jit_state *J, vm_frame *frame, const vm_insn *backedge)
{
  jit_rec *R = J->rec;
  vm_insn i = *backedge;
  R->bridge = false;
  R->rootT = NULL;
  R->backedge_pc = (uint32_t)(backedge - R->rootcode->insns);
  R->head_pc = (uint32_t)((int64_t)R->backedge_pc + 1 + VM_INSN_SBX(i));
  R->T->head_pc = R->head_pc;
  R->T->backedge_pc = R->backedge_pc;
  R->curpc = R->head_pc;
  R->curcode = R->rootcode;
  R->curline = R->rootcode->lines[R->head_pc];
  knil(R); /* ref 0 */
  snapshot(R); /* snapshot 0: the loop head, nothing changed (the preamble's) */
  J->vm->jit_recording = 1;
}

void jit_rec_start_loop(jit_state *J, vm_frame *frame, const vm_insn *backedge)
{
  if (!rec_begin(J, frame, NULL))
    return;
  start_loop(J, frame, backedge);
  rec_started(J);
}

bool jit_check_start_loop(jit_state *J, vm_frame *frame, const vm_insn *backedge, jc_replay *cur)
{
  if (!rec_begin_check(J, frame, cur))
    return false;
  start_loop(J, frame, backedge);
  rec_started(J);
  return true;
}

/* The start of every bridge's tape, once R->frames hold the inlined frames
** it starts in: their functions are constants of the bridge's snapshots, so
** they are green decisions and binds of the bridge's own tape (a reloaded
** bridge refers to them by slot). */
static void bridge_prologue(jit_rec *R)
{
  knil(R);
  for (int d = 1; d <= R->depth && !R->fail; d++) {
    jit_origin o = org(JIT_O_FRAME, (uint32_t)d, 0, 0);
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_CALLEE, jit_hash_code(R->frames[d].func->code), o);
    R->frames[d].fslot = bind_of(R, kptr(R, R->frames[d].func, VM_T_FUNC, o));
  }
}

static void start_bridge(jit_state *J, jit_trace *P, uint32_t snap)
{
  jit_rec *R = J->rec;
  jit_snap *s = &P->snaps[snap];
  R->bridge = true;
  R->rootT = P->root;
  R->T->parent = P;
  R->T->parent_snap = snap;
  R->T->root = P->root;
  R->head_pc = P->root->head_pc;
  R->backedge_pc = P->root->backedge_pc;
  R->T->head_pc = R->head_pc;
  for (uint32_t f = 0; f < s->nframe; f++) {
    jit_snapframe *sf = &P->snapframes[s->frame + f];
    R->depth++;
    R->frames[R->depth].func = sf->func;
    R->frames[R->depth].base = sf->base;
    R->frames[R->depth].ret_pc = sf->ret_pc;
    R->frames[R->depth].ctor = sf->ctor;
  }
  R->curpc = s->pc;
  R->curcode = R->frames[R->depth].func->code;
  R->curline = R->curcode->lines[s->pc];
  bridge_prologue(R);
  J->vm->jit_recording = 1;
}

/* The checking iteration left the trace it checks at a guard of the
** current instruction, into a saved bridge of that guard's exit: restart
** the recorder as a recording of that bridge would start after the exit,
** from the same inlined frames (the guard's snapshot is the state before
** this instruction, so they are the recorder's frames now), with nothing
** loaded yet (the exit stub wrote everything to the frame; here the
** interpreter's frame is exact anyway).  The cursor goes on. */
static void check_restart_bridge(jit_rec *R)
{
  jit_trace *T = R->T;
  T->nir = T->nsnap = T->nsnapent = T->nsnapframe = T->ntape = 0;
  R->bridge = true;
  R->level++;
  rec_reset(R);
  bridge_prologue(R);
}

void jit_rec_start_bridge(jit_state *J, vm_frame *rootframe, jit_trace *P, uint32_t snap)
{
  if (!rec_begin(J, rootframe, NULL))
    return;
  start_bridge(J, P, snap);
  rec_started(J);
}

bool jit_check_start_bridge(jit_state *J, vm_frame *rootframe, jit_trace *P, uint32_t snap,
                            jc_replay *cur)
{
  if (!rec_begin_check(J, rootframe, cur))
    return false;
  J->rec->chk_parent = P;
  J->rec->chk_snap = snap;
  start_bridge(J, P, snap);
  rec_started(J);
  return true;
}

bool jit_check_start_tail(jit_state *J, vm_frame *rootframe, jit_trace *X)
{
  jc_replay *cur;
  if (jc_tail_begin(X->jt, JC_GUARD_ANY, &cur) != JC_OK)
    return false;
  J->cur.lookup_ns = 0; /* no lookup: the tail belongs to X */
  if (!rec_begin(J, rootframe, cur)) {
    jc_replay_abort(cur);
    if (J->rec)
      J->rec->T = NULL;
    return false;
  }
  J->rec->tailT = X;
  if (X->parent)
    start_bridge(J, X->parent, X->parent_snap);
  else
    start_loop(J, rootframe, X->code->insns + X->backedge_pc);
  rec_started(J);
  return true;
}

static void rec_stop(jit_state *J)
{
  jit_rec *R = J->rec;
  J->vm->jit_recording = 0;
  uint64_t now = jit_now_ns(), dt = now - R->t0;
  if (R->check)
    J->stats.replay_ns += dt;
  else
    J->stats.tracing_ns += dt;
  J->cur.wall_ns = jit_part_ns(J, R->t0, now);
  if (J->hook_in) {
    /* The hook call that ends the recording, so far. */
    J->cur.hook_ns += jit_part_ns(J, J->hook_in, now);
    J->hook_in = 0;
  }
}

static void rec_abort(jit_state *J, const char *why)
{
  jit_rec *R = J->rec;
  rec_stop(J);
  if (R->check) {
    /* A miss (or something the recorder cannot do): trace it normally.  A
    ** tail check that ends early leaves its tail pending, or invalidated
    ** if the cursor met a miss in it (persist.c decides what follows). */
    jc_replay_abort(R->cur);
    R->cur = NULL;
    if (R->tailT)
      jit_tail_done(J, R->tailT, JC_STATE, why);
    else
      jit_reload_miss(J, R->rootcode, R->backedge_pc, R->chk_parent, R->chk_snap, why);
    R->T = NULL;
    return;
  }
  J->stats.aborts++;
  jit_cost(J, 0, JIT_COST_ABORT, R->bridge, 0);
  if (J->dump_ir)
    fprintf(J->dump, "---- trace abort (%s): %s at %s:%u\n", R->bridge ? "bridge" : "loop", why,
            R->curcode->source->chars, R->curline);
  if (R->bridge)
    jit_exit_abort(J, R->T->parent, R->T->parent_snap, why);
  else
    jit_loop_abort(J, R->rootcode, R->backedge_pc, why);
  trace_discard(J, R->T);
  R->T = NULL;
}

/* The interpreter may collect while a recording is active (the instruction
** recorded allocates): the pointer constants of the recording (KPTR, also
** those of a checking iteration) are roots until it ends. */
void jit_rec_gc_mark(jit_state *J, void (*mark)(vm_vm *vm, vm_value v))
{
  jit_rec *R = J->rec;
  if (!R || !R->T)
    return;
  for (uint32_t r = 0; r < R->T->nir; r++) {
    const jit_ins *i = &R->T->ir[r];
    if (i->op == IR_KPTR) {
      vm_value v = {i->tag, {.p = (void *)(intptr_t)i->k}};
      mark(J->vm, v);
    }
  }
}

void jit_rec_free(jit_state *J)
{
  if (J->rec) {
    if (J->rec->check && J->rec->cur) {
      jc_replay_abort(J->rec->cur);
      J->rec->cur = NULL;
    }
    jit_check_done(J);
    trace_discard(J, J->rec->T);
    free(J->rec);
    J->rec = NULL;
  }
}

/* Shrink the recording buffers to size. */
static void trace_trim(jit_trace *T)
{
  jit_ins *ir = realloc(T->ir, (T->nir ? T->nir : 1) * sizeof *ir);
  if (ir)
    T->ir = ir;
}

/* The recording is complete: a checking iteration commits; a loop trace
** writes back its modified slots and jumps to its head (LOOP), a bridge to
** its root's preamble; a trace that stops has its EXIT already. */
static void rec_finish(jit_state *J, bool stop)
{
  jit_rec *R = J->rec;
  jit_trace *T = R->T;
  if (R->check) {
    if (R->fail == check_left)
      R->fail = NULL; /* ended at an exit: commit what was checked (a tail
                         check's cursor may move the tail, tail.c) */
    if (R->fail) {
      rec_abort(J, R->fail);
      return;
    }
    rec_stop(J);
    jc_replay *cur = R->cur;
    R->cur = NULL;
    R->T = NULL;
    if (R->tailT) {
      uint64_t t0 = jit_now_ns();
      jc_err verdict = jc_replay_commit(cur, NULL, 0, NULL);
      J->cur.commit_ns = jit_part_ns(J, t0, jit_now_ns());
      jit_tail_done(J, R->tailT, verdict, jc_last_error());
    } else
      jit_reload_commit(J, cur, R->rootcode, R->backedge_pc, R->chk_parent, R->chk_snap);
    return;
  }
  if (!stop) {
    R->curpc = R->head_pc;
    R->curcode = R->rootcode;
    R->curline = R->rootcode->lines[R->head_pc];
    /* Write back the changed slots that are live at the loop head.  A slot
    ** dead there is written before it is read on every path from the head, so
    ** no one reads the stale value memory keeps instead: not the next
    ** iteration (it writes the slot first), not an exit of the next iteration
    ** (at any guard before that write the slot is still dead, or it would be
    ** live at the head; after it, the slot is in the snapshot again), not the
    ** interpreter or a bridge that resumes there.  Keeping temporaries out of
    ** memory is what lets a fresh object held only in them stay unwritten
    ** (opt_sink.c).  A slot the trace loaded from the frame is written back
    ** whatever liveness says: a cheap guard against a wrong use set, and LICM
    ** treats a slot without SSTORE as invariant. */
    const uint64_t *live = jit_live_at(R->rootcode, R->head_pc);
    for (uint32_t s = 0; s < R->maxslot; s++) {
      if (R->slots[s].mod && s < R->rootcode->nslots &&
          (R->slots[s].loaded || jit_live_slot(live, s))) {
        jit_ref r = emit(R, IR_SSTORE, jit_tag_type(R->slots[s].tag), s, R->slots[s].ref);
        if (!R->fail)
          T->ir[r].tag = R->slots[s].tag;
      }
    }
    emit(R, IR_LOOP, IRT_VOID, 0, 0);
  }
  if (R->fail) {
    rec_abort(J, R->fail);
    return;
  }
  rec_stop(J);
  trace_trim(T);
  T->nbind = R->nbind;
  T->stops = stop && !R->bridge;
  R->T = NULL;
  /* Hand over: optimize, assemble, attach (jit.c). */
  if (!T->root)
    T->root = T;
  jit_attach(J, T);
}

/* End the trace before the current instruction, which the interpreter then
** runs: an EXIT through a snapshot of its own (JIT_SNAP_END: never a
** bridge; the stub writes every modified slot and the exit rebuilds the
** inlined frames).  Why: code after a loop's exit up to the function's
** return, and an outer loop's body up to an inner loop (whose own trace the
** interpreter then enters at its back edge), run compiled instead of
** aborting the whole recording.  A trace that would stop at its first
** instruction aborts instead: it would only cost an entry and an exit. */
static void rec_stop_here(jit_state *J, const char *why)
{
  jit_rec *R = J->rec;
  if (R->nbc <= 1) {
    rec_abort(J, why);
    return;
  }
  R->dirty = true; /* a snapshot of its own: its flag is JIT_SNAP_END */
  uint32_t s = snapshot(R);
  jit_ref r = emit(R, IR_EXIT, IRT_VOID, 0, 0);
  if (!R->fail) {
    R->T->ir[r].flags |= IRF_GUARD;
    R->T->ir[r].snap = s;
    if (!R->check)
      R->T->snaps[s].flags |= JIT_SNAP_END;
    tape_guard(R, s, guard_outcome(R, IR_EXIT, IRT_VOID, JIT_REF_NONE, JIT_REF_NONE));
  }
  if (J->dump_ir && !R->check && !R->fail)
    fprintf(J->dump, "---- trace stops (%s): %s at %s:%u\n", R->bridge ? "bridge" : "loop", why,
            R->curcode->source->chars, R->curline);
  rec_finish(J, true);
}

/* A bridge may follow the back edge of a loop that encloses its root loop
** (the outer loop of a nest: that path leads back to the root's head), but
** not of any other loop, which it would only unroll. */
static bool encloses_root(const jit_rec *R, const vm_code *code, uint32_t pcx, vm_insn i)
{
  if (R->depth != 0 || code != R->rootcode)
    return false;
  uint32_t head = (uint32_t)((int64_t)pcx + 1 + VM_INSN_SBX(i));
  return head <= R->head_pc && pcx > R->backedge_pc;
}

/* -- The hook ---------------------------------------------------------------------- */

static void rec_ins(jit_state *J, const vm_insn *pc);
static void rec_ins_done(jit_state *J, const vm_insn *pc);

/* The hook.  With J->time_hooks, the time spent here (what the recording or
** check costs beyond interpreting the iteration) goes to J->cur.hook_ns, less
** the clock reads' own cost. */
static inline void hook(jit_state *J, const vm_insn *pc)
{
  if (!J->time_hooks) {
    rec_ins_done(J, pc);
    return;
  }
  uint64_t t = jit_now_ns();
  J->hook_in = t; /* rec_stop takes it if the recording ends in this call */
  rec_ins_done(J, pc);
  if (J->hook_in) {
    J->cur.hook_ns += jit_part_ns(J, t, jit_now_ns());
    J->hook_in = 0;
  }
}

/* A checking iteration's hook: a function of its own, so that a profiler
** can count what checks cost (bench/check_cost.py runs callgrind with
** --toggle-collect=jit_check_hook).  Not static: the name stays. */
__attribute__((noinline)) void jit_check_hook(jit_state *J, const vm_insn *pc);
__attribute__((noinline)) void jit_check_hook(jit_state *J, const vm_insn *pc)
{
  hook(J, pc);
}

void jit_rec_ins(jit_state *J, const vm_insn *pc)
{
  if (J->rec->check)
    jit_check_hook(J, pc);
  else
    hook(J, pc);
}

static void rec_ins_done(jit_state *J, const vm_insn *pc)
{
  rec_ins(J, pc);
  jit_rec *R = J->rec;
  if (!R || !R->T || (!R->fail && !R->stop))
    return; /* the usual case: the instruction was recorded (or checked) */
  /* The check left the trace it started in at a guard: this iteration goes
  ** another way than the candidate, and what follows would stay unchecked
  ** behind a tail guard that only an iteration on the candidate's path
  ** lifts.  A later iteration is likely to follow it whole (the early
  ** iterations of a loop, or one receiver of a polymorphic exit, are not
  ** what it was recorded on): while tries remain, drop this check and
  ** check again soon (jit_check_defer); the last try commits what it has. */
  if (R && R->T && R->check && !R->tailT && R->level == 0 &&
      (R->fail == check_into_bridge || R->fail == check_left) &&
      jit_check_defer(J, R->rootcode, R->backedge_pc, R->chk_parent, R->chk_snap)) {
    rec_stop(J);
    jit_cost(J, 0, JIT_COST_DEFER, R->chk_parent != NULL, 0);
    jc_replay_abort(R->cur);
    R->cur = NULL;
    jit_check_done(J);
    R->T = NULL;
    return;
  }
  /* A checking iteration that left its trace at a guard of this instruction
  ** (see check_into_bridge): into a bridge, record the instruction again as
  ** the bridge's first; at an exit with nothing after it, commit what was
  ** checked (the rest of the iteration runs in the interpreter). */
  for (int n = 0; R && R->T && R->check && R->fail == check_into_bridge && n < JC_MAX_CHAIN; n++) {
    check_restart_bridge(R);
    if (!R->fail)
      rec_ins(J, pc);
  }
  if (R && R->T && R->check && R->fail == check_left) {
    rec_finish(J, false); /* commits (a tail check's moves its tail, or leaves it pending) */
    return;
  }
  if (R && R->T && R->fail)
    rec_abort(J, R->fail);
  else if (R && R->T && R->stop)
    rec_stop_here(J, R->stop);
}

static void rec_ins(jit_state *J, const vm_insn *pc)
{
  jit_rec *R = J->rec;
  vm_vm *vm = J->vm;
  if (vm->frame != R->rootframe + R->depth) {
    rec_abort(J, "frame mismatch");
    return;
  }
  vm_code *code = vm->frame->func->code;
  uint32_t pcx = (uint32_t)(pc - code->insns);
  /* The loop head in the root frame ends a recording, unless it is where
  ** the recording starts: a loop trace's first instruction, or a bridge
  ** from an exit at the head (snapshot 0, a hoisted guard that failed:
  ** the bridge is one whole iteration for the case the preamble does not
  ** cover, and it jumps back to the preamble like any bridge). */
  if (R->depth == 0 && pcx == R->head_pc && code == R->rootcode && R->nbc > 0) {
    rec_finish(J, false);
    return;
  }
  if (R->nbc++ >= JIT_MAX_BYTECODES) {
    rec_abort(J, "trace too long");
    return;
  }
  R->curpc = pcx;
  R->curcode = code;
  R->curline = code->lines[pcx];
  const vm_insn i = *pc;
  const uint32_t cb = R->frames[R->depth].base;
  const uint32_t A = cb + VM_INSN_A(i), B = cb + VM_INSN_B(i), C = cb + VM_INSN_C(i);
  uint8_t t;
  jit_ref r;
  switch ((vm_opcode)VM_INSN_OP(i)) {
  case VM_OP_NEWARRAY:
    r = alloc_call(R, JIT_H_NEWARRAY, kint(R, (int64_t)VM_INSN_BX(i)), JIT_REF_NONE, VM_T_ARRAY);
    setslot(R, A, r, VM_T_ARRAY);
    break;
  case VM_OP_APPEND: {
    uint8_t tv;
    jit_ref arr = getslot(R, A, &t);
    jit_ref v = getslot(R, B, &tv);
    if (R->fail)
      break;
    if (t != VM_T_ARRAY) {
      R->fail = "append to a non-array";
      break;
    }
    vm_array *arrp = R->base[A].u.p;
    rec_append(R, arr, v, tv, arrp->len >= arrp->cap);
    break;
  }
  case VM_OP_CONCAT: {
    uint8_t tc;
    jit_ref rb = getslot(R, B, &t), rc = getslot(R, C, &tc);
    if (R->fail)
      break;
    bool okb = t == VM_T_STR || t == VM_T_INT || t == VM_T_FLOAT;
    bool okc = tc == VM_T_STR || tc == VM_T_INT || tc == VM_T_FLOAT;
    if (!okb || !okc) {
      R->fail = "concat of non-strings";
      break;
    }
    /* A number is formatted as str() does (the interpreter formats both
    ** operands the same way); each allocation exits before the instruction. */
    if (t != VM_T_STR)
      rb = alloc_call(R, t == VM_T_FLOAT ? JIT_H_STRF : JIT_H_STR, rb,
                      t == VM_T_FLOAT ? JIT_REF_NONE : kint(R, t), VM_T_STR);
    if (tc != VM_T_STR)
      rc = alloc_call(R, tc == VM_T_FLOAT ? JIT_H_STRF : JIT_H_STR, rc,
                      tc == VM_T_FLOAT ? JIT_REF_NONE : kint(R, tc), VM_T_STR);
    r = alloc_call(R, JIT_H_CONCAT, rb, rc, VM_T_STR);
    setslot(R, A, r, VM_T_STR);
    break;
  }
  case VM_OP_MOVE:
    r = getslot(R, B, &t);
    setslot(R, A, r, t);
    break;
  case VM_OP_LOADK: {
    vm_value k = code->consts[VM_INSN_BX(i)];
    if (k.tag == VM_T_INT) {
      r = kint(R, k.u.i);
    } else if (k.tag == VM_T_FLOAT) {
      r = kflt(R, k.u.d);
    } else if (k.tag == VM_T_STR) {
      vm_string *s = k.u.p;
      jit_origin o = org(JIT_O_CONST, cur_fs(R), VM_INSN_BX(i), 0);
      tape(R, JIT_TAPE_GREEN, JIT_GREEN_CONST, jit_hash_strobj(s), o);
      r = kptr(R, s, VM_T_STR, o);
    } else {
      R->fail = "constant kind";
      break;
    }
    setslot(R, A, r, (uint8_t)k.tag);
    break;
  }
  case VM_OP_LOADI: setslot(R, A, kint(R, VM_INSN_SBX(i)), VM_T_INT); break;
  case VM_OP_LOADNIL: setslot(R, A, knil(R), VM_T_NIL); break;
  case VM_OP_LOADTRUE: setslot(R, A, kbool(R, true), VM_T_BOOL); break;
  case VM_OP_LOADFALSE: setslot(R, A, kbool(R, false), VM_T_BOOL); break;

  case VM_OP_GETGLOBAL: {
    vm_cell *cell = code->cells[VM_INSN_BX(i)];
    uint8_t ct = (uint8_t)cell->value.tag;
    if (ct == VM_T_UNDEF) {
      R->fail = "undefined global";
      break;
    }
    jit_origin o = org(JIT_O_CELL, cur_fs(R), VM_INSN_BX(i), 0);
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_GLOBAL, jit_hash_strobj(cell->name), o);
    jit_ref kc = kptr(R, cell, VM_T_UNDEF, o);
    r = typed_load(R, IR_CLOADT, IR_CLOAD, kc, 0, ct);
    setslot(R, A, r, ct);
    break;
  }
  case VM_OP_SETGLOBAL:
  case VM_OP_DEFGLOBAL: {
    vm_cell *cell = code->cells[VM_INSN_BX(i)];
    if (VM_INSN_OP(i) == VM_OP_SETGLOBAL && cell->value.tag == VM_T_UNDEF) {
      R->fail = "undefined global";
      break;
    }
    r = getslot(R, A, &t);
    jit_origin o = org(JIT_O_CELL, cur_fs(R), VM_INSN_BX(i), 0);
    tape(R, JIT_TAPE_GREEN, JIT_GREEN_GLOBAL, jit_hash_strobj(cell->name), o);
    jit_ref kc = kptr(R, cell, VM_T_UNDEF, o);
    rec_store(R, IR_CSTORE, kc, r, 0, t);
    break;
  }

  case VM_OP_GETINDEX: {
    uint8_t to, ti;
    jit_ref o = getslot(R, B, &to), x = getslot(R, C, &ti);
    if (R->fail)
      break;
    if (to == VM_T_STR && ti == VM_T_INT) {
      /* s[i]: the preallocated one-character string (no allocation). */
      vm_string *s = R->base[B].u.p;
      if ((uint64_t)R->base[C].u.i >= s->len) {
        R->fail = "index out of range";
        break;
      }
      guard(R, IR_ULT, IRT_INT, x, emit(R, IR_STRLEN, IRT_INT, o, 0));
      r = emit(R, IR_CALLH, IRT_PTR, o, x);
      if (R->fail)
        break;
      R->T->ir[r].k = JIT_H_STRCHAR;
      R->T->ir[r].tag = VM_T_STR;
      setslot(R, A, r, VM_T_STR);
      break;
    }
    if (to != VM_T_ARRAY || ti != VM_T_INT) {
      R->fail = "index of a non-array";
      break;
    }
    vm_array *arr = R->base[B].u.p;
    int64_t idx = R->base[C].u.i;
    if ((uint64_t)idx >= arr->len) {
      R->fail = "index out of range";
      break;
    }
    guard(R, IR_ULT, IRT_INT, x, emit(R, IR_ALEN, IRT_INT, o, 0));
    uint8_t et = (uint8_t)arr->items[idx].tag;
    r = typed_load(R, IR_ALOADT, IR_ALOAD, o, x, et);
    setslot(R, A, r, et);
    break;
  }
  case VM_OP_SETINDEX: {
    uint8_t to, ti, tv;
    jit_ref o = getslot(R, A, &to), x = getslot(R, B, &ti), v = getslot(R, C, &tv);
    if (R->fail)
      break;
    if (to != VM_T_ARRAY || ti != VM_T_INT) {
      R->fail = "index of a non-array";
      break;
    }
    vm_array *arr = R->base[A].u.p;
    if ((uint64_t)R->base[B].u.i >= arr->len) {
      R->fail = "index out of range";
      break;
    }
    guard(R, IR_ULT, IRT_INT, x, emit(R, IR_ALEN, IRT_INT, o, 0));
    rec_store(R, IR_ASTORE, o, x, v, tv);
    break;
  }
  case VM_OP_GETFIELD: {
    jit_ref o = getslot(R, B, &t);
    if (R->fail)
      break;
    if (t != VM_T_INSTANCE) {
      R->fail = "field of a non-instance";
      break;
    }
    vm_class *cls = promote_class(R, o, R->base[B], NULL);
    uint32_t slot;
    if (!vm_class_field_slot(cls, code->names[VM_INSN_C(i)], &slot)) {
      R->fail = "bound method";
      break;
    }
    vm_instance *in = R->base[B].u.p;
    uint8_t ft = (uint8_t)in->fields[slot].tag;
    r = typed_load(R, IR_FLOADT, IR_FLOAD, o, slot, ft);
    setslot(R, A, r, ft);
    break;
  }
  case VM_OP_SETFIELD: {
    uint8_t tv;
    jit_ref o = getslot(R, A, &t), v = getslot(R, C, &tv);
    if (R->fail)
      break;
    if (t != VM_T_INSTANCE) {
      R->fail = "field of a non-instance";
      break;
    }
    vm_class *cls = promote_class(R, o, R->base[A], NULL);
    uint32_t slot;
    if (!vm_class_field_slot(cls, code->names[VM_INSN_B(i)], &slot)) {
      R->fail = "no such field";
      break;
    }
    rec_store(R, IR_FSTORE, o, slot, v, tv);
    break;
  }

  case VM_OP_ADD:
  case VM_OP_SUB:
  case VM_OP_MUL:
  case VM_OP_DIV:
  case VM_OP_IDIV:
  case VM_OP_MOD: rec_arith(R, VM_INSN_OP(i), A, B, C); break;
  case VM_OP_UNM: {
    r = getslot(R, B, &t);
    if (t == VM_T_INT) {
      if (R->base[B].u.i == INT64_MIN) {
        R->fail = "integer overflow";
        break;
      }
      setslot(R, A, guarded(R, IR_NEG, IRT_INT, r, 0), VM_T_INT);
    } else if (t == VM_T_FLOAT) {
      setslot(R, A, emit(R, IR_FNEG, IRT_FLT, r, 0), VM_T_FLOAT);
    } else {
      R->fail = "unary minus on a non-number";
    }
    break;
  }
  case VM_OP_NOT: {
    r = getslot(R, B, &t);
    if (t == VM_T_BOOL && R->T->ir[r].op != IR_KINT)
      setslot(R, A, emit(R, IR_BNOT, IRT_BOOL, r, 0), VM_T_BOOL);
    else
      setslot(R, A, kbool(R, !vm_truthy(R->base[B])), VM_T_BOOL);
    break;
  }
  case VM_OP_EQ:
  case VM_OP_NE:
  case VM_OP_LT:
  case VM_OP_LE: rec_compare(R, VM_INSN_OP(i), A, B, C); break;

  case VM_OP_JMP: break;
  case VM_OP_JMPT:
  case VM_OP_JMPF:
    r = getslot(R, A, &t);
    if (!R->fail)
      truthy(R, r, t, R->base[A]);
    break;
  case VM_OP_LOOP:
    if (!R->bridge && R->depth == 0 && pcx == R->backedge_pc && code == R->rootcode) {
      rec_finish(J, false);
      return;
    }
    if (!(R->depth == 0 && pcx == R->backedge_pc && code == R->rootcode) &&
        !(R->bridge && encloses_root(R, code, pcx, i)))
      R->stop = "inner loop";
    break;
  case VM_OP_FORPREP: rec_forprep(R, A); break;
  case VM_OP_FORLOOP: {
    bool root_edge = R->depth == 0 && pcx == R->backedge_pc && code == R->rootcode;
    if (!root_edge && !(R->bridge && encloses_root(R, code, pcx, i))) {
      R->stop = "inner loop";
      break;
    }
    bool again = false;
    rec_forloop(R, A, &again, root_edge && !R->bridge);
    if (!R->fail && root_edge && !R->bridge) {
      rec_finish(J, false);
      return;
    }
    break;
  }

  case VM_OP_CALL: rec_call(R, A, VM_INSN_B(i)); break;
  case VM_OP_CALLMETHOD:
    rec_callmethod(R, A, VM_INSN_B(i), VM_INSN_C(i));
    break;
  case VM_OP_RETURN:
    if (R->depth == 0) {
      R->stop = "return from the root frame";
      break;
    }
    r = getslot(R, A, &t);
    if (!R->fail)
      rec_return(R, r, t);
    break;
  case VM_OP_RETURNNIL:
    if (R->depth == 0)
      R->stop = "return from the root frame";
    else
      rec_return(R, knil(R), VM_T_NIL);
    break;
  case VM_OP_SUPERCALL:
    rec_supercall(R, A, VM_INSN_B(i), VM_INSN_C(i));
    break;

  default: R->fail = vm_op_names[VM_INSN_OP(i)]; break;
  }
  /* R->fail and R->stop are handled by jit_rec_ins. */
}
