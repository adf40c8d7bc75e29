/*
** vm/jit/asm_x86.c — the x86-64 backend: IR + register allocation -> machine
** code in the code arena.
**
** Native frame of a running trace family (set up by the loop trace's
** prologue; bridges run in it too, so they have no prologue of their own):
**
**   [rsp + 0   .. 512)  spill slots (JIT_MAX_SPILL x 8 bytes)
**   [rsp + 512 .. 768)  save area: caller-saved registers around helper calls
**   then 8 bytes of padding, then rbx rbp r12 r13 r14 r15 and the return address
**
** r15 holds the frame base (vm_value *) the trace was called with.
**
** Layout of a loop trace:
**
**   prologue                     push callee-saved, reserve the frame, r15 = rdi
**   preamble:  (preamble_off)    hoisted invariant code; bridges jump back here
**   head:      (head_off)        the body ... SSTOREs; jmp head
**   exit stubs                   per snapshot used by a guard
**   epilogue                     eax = exit id; pop; ret
**
** An exit stub writes its snapshot's slots into the frame (tag and payload),
** then jumps through the exit's slot (`movabs rax, slot; jmp [rax]`), an
** 8-byte word in data memory that first holds the very next instruction
** (`mov eax, snap; lea rdx, [rip - code start]; jmp epilogue`) and then the
** entry of the bridge compiled or reloaded for the exit.  Attaching a bridge
** is one store into data memory: no code is written, no system call made.
** A trace compiled here has its slots in T->exit_slot; reloaded code's are
** libjcache's (jc_rec_exit_slot), which writes their addresses into the
** code at the commit.  Since the stub has written the frame, a bridge starts
** from memory exactly like a loop trace does, and ends by jumping to its
** root's preamble.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jcache/arena.h>

#include "emit_x86.h"
#include "jit.h"

#define FRAME_SIZE (8 + JIT_MAX_SPILL * 8 + 32 * 8)
#define SPILL_OFF(k) ((int32_t)(k)*8)
#define SAVE_OFF(r) ((int32_t)(JIT_MAX_SPILL * 8 + (r)*8))
#define XMM15 15
#define XMM14 14

const char *const jit_helper_names[JIT_H__COUNT] = {
#define JIT_H_NAME(name, type, sym) sym,
    JIT_HELPER_LIST(JIT_H_NAME)
#undef JIT_H_NAME
};

void *const jit_helper_addrs[JIT_H__COUNT] = {
    (void *)jit_h_idiv, (void *)jit_h_imod, (void *)jit_h_fidiv, (void *)jit_h_fmod,
    (void *)jit_h_floor, (void *)jit_h_strchar, (void *)jit_h_ord,
    (void *)jit_h_print, (void *)jit_h_printf, (void *)jit_h_breakpoint, (void *)jit_h_newarray, (void *)jit_h_concat,
    (void *)jit_h_newinst, (void *)jit_h_reserve, (void *)jit_h_str, (void *)jit_h_strf,
    (void *)jit_h_materialize,
};

typedef struct absfix {
  uint32_t field;
  uintptr_t target;
} absfix;

typedef struct asm_state {
  jit_state *J;
  jit_trace *T;
  jit_alloc A;
  mcbuf mc;
  uint32_t *gfix_field, *gfix_snap; /* guard jcc -> stub of snapshot */
  uint32_t ngfix, gfix_cap;
  absfix *afix;
  uint32_t nafix, afix_cap;
  uint32_t *epi_fix; /* stub jmps to the epilogue */
  uint32_t nepi, epi_cap;
  jit_reloc *relocs;
  uint32_t nreloc, reloc_cap;
  jit_line *lines;
  uint32_t nline, line_cap;
  uint32_t pos; /* IR position being assembled */
  /* Patch points after guards, per snapshot: the comparison
  ** that gets it (its last), its offset (0: none) and the condition its
  ** stub redoes (-1: none, the patch point is in front of the guard). */
  jit_ref *gpp_ref;
  uint32_t *gpp_off;
  int8_t *gpp_cc;
  /* Per snapshot: the preamble instruction in front of which its skip
  ** patch point goes (JIT_REF_NONE: none), and that patch point's offset. */
  jit_ref *gpp_skip_ref;
  uint32_t *gpp_skip_off;
  bool fail;
} asm_state;

#define GROW(as, arr, n, cap)                                                                  \
  do {                                                                                         \
    if ((n) == (cap)) {                                                                        \
      uint32_t nc_ = (cap) ? (cap)*2 : 64;                                                     \
      void *p_ = realloc((arr), nc_ * sizeof *(arr));                                          \
      if (!p_) {                                                                               \
        (as)->fail = true;                                                                     \
        break;                                                                                 \
      }                                                                                        \
      (arr) = p_;                                                                              \
      (cap) = nc_;                                                                             \
    }                                                                                          \
  } while (0)

static void add_reloc(asm_state *as, uint32_t off, uint8_t kind, uint32_t bind)
{
  GROW(as, as->relocs, as->nreloc, as->reloc_cap);
  if (as->fail)
    return;
  as->relocs[as->nreloc].off = off;
  as->relocs[as->nreloc].kind = kind;
  as->relocs[as->nreloc].bind = bind;
  as->nreloc++;
}

static void add_afix(asm_state *as, uint32_t field, uintptr_t target)
{
  GROW(as, as->afix, as->nafix, as->afix_cap);
  if (as->fail)
    return;
  as->afix[as->nafix].field = field;
  as->afix[as->nafix].target = target;
  as->nafix++;
}

/* -- Operands -------------------------------------------------------------------- */

/* Does pointer constant k live in a cell (a bridge's, see jit_asm)?  Then
** code reads it from there (mov r, [rip+disp32]; cmp r, [rip+disp32]): the
** code's bytes never depend on it, and libjcache fills the cell of a
** reloaded one.  Without cells it is an imm64. */
static bool in_cell(const asm_state *as, const jit_ins *k)
{
  return k->op == IR_KPTR && as->T->cells && k->b < as->T->nbind;
}

/* op r, [rip + k's cell] (op: XO_MOV_LOAD, XO_CMP, ...). */
static void emit_cell_op(asm_state *as, unsigned op, int r, const jit_ins *k)
{
  as->T->cells[k->b] = (uint64_t)k->k;
  mc_rex(&as->mc, 1, r, 0, 0);
  mc_u8(&as->mc, op);
  mc_u8(&as->mc, ((r & 7) << 3) | 5); /* modrm: [rip + disp32] */
  uint32_t field = as->mc.n;
  mc_u32(&as->mc, 0);
  add_afix(as, field, (uintptr_t)&as->T->cells[k->b]);
  add_reloc(as, field, JIT_RELOC_CELL, k->b);
}

/* Materialise a non-float constant into GPR r. */
static void load_const(asm_state *as, int r, const jit_ins *k)
{
  if (in_cell(as, k)) {
    emit_cell_op(as, XO_MOV_LOAD, r, k);
  } else if (k->op == IR_KPTR) {
    uint32_t off = emit_mov_imm64(&as->mc, r, (uint64_t)k->k);
    add_reloc(as, off, JIT_RELOC_ABS64, k->b);
  } else if (k->op == IR_KNIL) {
    emit_mov_imm(&as->mc, r, 0);
  } else {
    emit_mov_imm(&as->mc, r, k->k);
  }
}

/* A GPR holding value `ref` (loaded into `scratch` if needed). */
static int gpr_of(asm_state *as, jit_ref ref, int scratch)
{
  const jit_ins *i = &as->T->ir[ref];
  if (jit_is_const(i)) {
    load_const(as, scratch, i);
    return scratch;
  }
  int r = as->A.reg[ref];
  if (r >= 0 && r < 16)
    return r;
  if (as->A.spill[ref] >= 0) {
    emit_load(&as->mc, scratch, RSP, SPILL_OFF(as->A.spill[ref]));
    return scratch;
  }
  as->fail = true;
  return scratch;
}

/* An XMM register holding value `ref` (0..15). */
static int xmm_of(asm_state *as, jit_ref ref, int scratch)
{
  const jit_ins *i = &as->T->ir[ref];
  if (jit_is_const(i)) {
    if (i->k == 0) {
      emit_xorpd(&as->mc, scratch, scratch);
    } else {
      emit_mov_imm(&as->mc, R11, i->k);
      emit_movq_xr(&as->mc, scratch, R11);
    }
    return scratch;
  }
  int r = as->A.reg[ref];
  if (r >= 16)
    return r - 16;
  if (as->A.spill[ref] >= 0) {
    emit_movsd_load(&as->mc, scratch, RSP, SPILL_OFF(as->A.spill[ref]));
    return scratch;
  }
  as->fail = true;
  return scratch;
}

/* Destination register of instruction `ref` (a scratch if it is spilled). */
static int dst_gpr(asm_state *as, jit_ref ref)
{
  int r = as->A.reg[ref];
  return (r >= 0 && r < 16) ? r : R10;
}

static int dst_xmm(asm_state *as, jit_ref ref)
{
  int r = as->A.reg[ref];
  return r >= 16 ? r - 16 : XMM14;
}

static void finish_gpr(asm_state *as, jit_ref ref, int r)
{
  if (as->A.spill[ref] >= 0)
    emit_store(&as->mc, RSP, SPILL_OFF(as->A.spill[ref]), r);
}

static void finish_xmm(asm_state *as, jit_ref ref, int x)
{
  if (as->A.spill[ref] >= 0)
    emit_movsd_store(&as->mc, RSP, SPILL_OFF(as->A.spill[ref]), x);
}

/* Store a typed value (tag word and payload) at [base + disp]; base is not
** r10 (used for the payload). */
static void store_value(asm_state *as, int base, int32_t disp, jit_ref ref, uint8_t tag)
{
  emit_store_imm(&as->mc, base, disp, tag);
  const jit_ins *i = &as->T->ir[ref];
  if (tag == VM_T_NIL) {
    emit_store_imm(&as->mc, base, disp + 8, 0);
  } else if (jit_is_const(i)) {
    if (i->op != IR_KPTR && i->k >= INT32_MIN && i->k <= INT32_MAX) {
      emit_store_imm(&as->mc, base, disp + 8, (int32_t)i->k);
    } else {
      load_const(as, R10, i);
      emit_store(&as->mc, base, disp + 8, R10);
    }
  } else if (i->type == IRT_FLT) {
    int x = xmm_of(as, ref, XMM15);
    emit_movsd_store(&as->mc, base, disp + 8, x);
  } else {
    int r = gpr_of(as, ref, R10);
    emit_store(&as->mc, base, disp + 8, r);
  }
}

/* -- Guards ------------------------------------------------------------------------ */

/* The rel32 field at `field` jumps to the exit stub of `snap`. */
static void guard_field(asm_state *as, uint32_t field, uint32_t snap)
{
  if (as->ngfix == as->gfix_cap) {
    uint32_t cap = as->gfix_cap ? as->gfix_cap * 2 : 64;
    uint32_t *f = realloc(as->gfix_field, cap * sizeof *f);
    if (f)
      as->gfix_field = f;
    uint32_t *sn = realloc(as->gfix_snap, cap * sizeof *sn);
    if (sn)
      as->gfix_snap = sn;
    if (!f || !sn) {
      as->fail = true;
      return;
    }
    as->gfix_cap = cap;
  }
  as->gfix_field[as->ngfix] = field;
  as->gfix_snap[as->ngfix] = snap;
  as->ngfix++;
}

static void guard_jcc(asm_state *as, int cc, uint32_t snap)
{
  guard_field(as, emit_jcc(&as->mc, cc), snap);
}

/* -- Patch points after guards ---------------------------------------------------------
**
** A reloaded trace whose checking iteration left at a guard has an unchecked
** tail: the code after that guard.  libjcache puts the tail guard (a jmp)
** at a patch point recorded for that guard if nothing before it needs a
** slot the tail binds, else at the entry's (where the whole trace waits).
** So the last path decision of each snapshot (gpp_plan) gets one, at no
** cost to the hot path but a nop that aligns it:
**
**   after   the guard's own jcc, aligned to 8 (nops between cmp and jcc
**           keep the flags); its stub redoes the jcc, so the iteration
**           that fails the guard still takes its exit (or bridge), and the
**           one that passes leaves with JIT_TAIL_AT | snap;
**   before  in front of the guard's code, when it compares with a pointer
**           constant: that constant is bound after the guard's decision on
**           the tape (a promoted class), so only code in front of it runs;
**           its stub leaves at once.  Also for a float NE, whose jp jumps
**           over its jcc.
**
** Either stub writes the guard's snapshot (the state before its bytecode,
** as its exit does), then returns JIT_TAIL_AT | snap: the VM resumes there
** and checks the trace's next entry (jit_tail_arm).  Eight bytes of code follow
** each patch point in both cases: the jcc and two bytes, or at least a cmp
** and a jcc. */

/* Is this guard the one of its snapshot that gets a patch point? */
static bool gpp_here(asm_state *as, const jit_ins *i)
{
  return as->gpp_ref && i->snap < as->T->nsnap && as->gpp_ref[i->snap] == as->pos;
}

static void gpp_align(asm_state *as)
{
  emit_nops(&as->mc, (8 - as->mc.n % 8) % 8);
}

/* The skip patch points in front of preamble instruction p (gpp_plan_skip):
** 8 aligned bytes of nop, shared by every snapshot that skips from here. */
static void gpp_skip_here(asm_state *as, jit_ref p)
{
  uint32_t off = 0;
  for (uint32_t s = 0; s < as->T->nsnap; s++) {
    if (as->gpp_skip_ref[s] != p)
      continue;
    if (!off) {
      gpp_align(as);
      off = as->mc.n;
      emit_nops(&as->mc, 8);
    }
    as->gpp_skip_off[s] = off;
  }
}

/* A guard's jcc with the patch point on it (the "after" kind). */
static void guard_jcc_pp(asm_state *as, int cc, uint32_t snap)
{
  gpp_align(as);
  as->gpp_off[snap] = as->mc.n;
  as->gpp_cc[snap] = (int8_t)cc;
  guard_jcc(as, cc, snap);
}

static bool fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

static void asm_guard(asm_state *as, const jit_ins *i)
{
  mcbuf *mc = &as->mc;
  bool pp = gpp_here(as, i);
  if (pp && (as->T->ir[i->a].op == IR_KPTR || as->T->ir[i->b].op == IR_KPTR ||
             (i->type == IRT_FLT && i->op == IR_NE))) {
    gpp_align(as);
    as->gpp_off[i->snap] = mc->n;
    as->gpp_cc[i->snap] = -1;
    pp = false;
  }
  /* The last jcc of this guard: with its patch point, if it gets one. */
  void (*last_jcc)(asm_state *, int, uint32_t) = pp ? guard_jcc_pp : guard_jcc;
  if (i->type == IRT_FLT) {
    int xb = xmm_of(as, i->b, XMM15);
    int xa = xmm_of(as, i->a, XMM14);
    switch (i->op) {
    case IR_LT: emit_ucomisd(mc, xb, xa); last_jcc(as, CC_BE, i->snap); break;
    case IR_GE: emit_ucomisd(mc, xb, xa); last_jcc(as, CC_A, i->snap); break;
    case IR_LE: emit_ucomisd(mc, xb, xa); last_jcc(as, CC_B, i->snap); break;
    case IR_GT: emit_ucomisd(mc, xb, xa); last_jcc(as, CC_AE, i->snap); break;
    case IR_EQ:
      emit_ucomisd(mc, xa, xb);
      guard_jcc(as, CC_NE, i->snap);
      last_jcc(as, CC_P, i->snap);
      break;
    case IR_NE: {
      emit_ucomisd(mc, xa, xb);
      uint32_t skip = emit_jcc(mc, CC_P);
      guard_jcc(as, CC_E, i->snap);
      mc_link(mc, skip, mc->n);
      break;
    }
    default: as->fail = true; break;
    }
    return;
  }
  int ra = gpr_of(as, i->a, R10);
  const jit_ins *kb = &as->T->ir[i->b];
  if (kb->op == IR_KINT && fits32(kb->k)) {
    emit_alu_imm(mc, 7, ra, (int32_t)kb->k);
  } else if (in_cell(as, kb)) {
    emit_cell_op(as, XO_CMP, ra, kb); /* a class or function guard */
  } else {
    int rb = gpr_of(as, i->b, R11);
    emit_op_rr(mc, XO_CMP, ra, rb);
  }
  int cc;
  switch (i->op) {
  case IR_EQ: cc = CC_NE; break;
  case IR_NE: cc = CC_E; break;
  case IR_LT: cc = CC_GE; break;
  case IR_GE: cc = CC_L; break;
  case IR_LE: cc = CC_G; break;
  case IR_GT: cc = CC_LE; break;
  case IR_ULT: cc = CC_AE; break;
  default: as->fail = true; return;
  }
  last_jcc(as, cc, i->snap);
}

/* -- Helper calls ------------------------------------------------------------------- */

static bool caller_saved(int r)
{
  return r >= 16 || r == RAX || r == RCX || r == RDX || r == RSI || r == RDI || r == R8 ||
         r == R9 || r == R10 || r == R11;
}

static void load_arg(asm_state *as, jit_ref ref, int dst_gpr_reg, int dst_x)
{
  const jit_ins *i = &as->T->ir[ref];
  int r = as->A.reg[ref];
  if (i->type == IRT_FLT) {
    if (jit_is_const(i) || r < 0)
      emit_movapd(&as->mc, dst_x, xmm_of(as, ref, dst_x));
    else
      emit_movsd_load(&as->mc, dst_x, RSP, SAVE_OFF(r)); /* all XMM are caller-saved */
  } else {
    if (!jit_is_const(i) && r >= 0 && caller_saved(r))
      emit_load(&as->mc, dst_gpr_reg, RSP, SAVE_OFF(r));
    else
      emit_mov_rr(&as->mc, dst_gpr_reg, gpr_of(as, ref, dst_gpr_reg));
  }
}

static void asm_callh(asm_state *as, jit_ref p, const jit_ins *i)
{
  mcbuf *mc = &as->mc;
  const jit_alloc *A = &as->A;
  /* Save every caller-saved register holding a value live at p. */
  for (jit_ref r = 0; r < p; r++) {
    if (A->reg[r] < 0 || A->last[r] == JIT_REF_NONE || A->last[r] < p || !caller_saved(A->reg[r]))
      continue;
    if (A->reg[r] >= 16)
      emit_movsd_store(mc, RSP, SAVE_OFF(A->reg[r]), A->reg[r] - 16);
    else
      emit_store(mc, RSP, SAVE_OFF(A->reg[r]), A->reg[r]);
  }
  if (i->a != JIT_REF_NONE)
    load_arg(as, i->a, RDI, 0);
  if (i->b != JIT_REF_NONE)
    load_arg(as, i->b, RSI, 1);
  uint32_t field = emit_call(mc);
  add_afix(as, field, (uintptr_t)jit_helper_addrs[i->k]);
  add_reloc(as, field, JIT_RELOC_CALL, (uint32_t)i->k);
  /* CALLA: flags for the NULL check below; the moves that follow keep them. */
  bool alloc = i->op == IR_CALLA;
  if (alloc)
    emit_alu_imm(mc, 7, RAX, 0);
  if (i->type == IRT_VOID) {
    /* CALLS: no result */
  } else if (i->type == IRT_FLT) {
    int x = dst_xmm(as, p);
    emit_movapd(mc, x, 0);
    finish_xmm(as, p, x);
  } else {
    int r = dst_gpr(as, p);
    emit_mov_rr(mc, r, RAX);
    finish_gpr(as, p, r);
  }
  /* A CALLA's exit stub reads the values its snapshot names (last use p)
     from their registers: restore those too.  None of them shares p's
     register, since intervals ending at p are still active at p. */
  for (jit_ref r = 0; r < p; r++) {
    if (A->reg[r] < 0 || A->last[r] == JIT_REF_NONE || A->last[r] < p + !alloc ||
        !caller_saved(A->reg[r]))
      continue;
    if (A->reg[r] >= 16)
      emit_movsd_load(mc, A->reg[r] - 16, RSP, SAVE_OFF(A->reg[r]));
    else
      emit_load(mc, A->reg[r], RSP, SAVE_OFF(A->reg[r]));
  }
  if (alloc)
    guard_jcc(as, CC_E, i->snap);
}

/* -- Instructions -------------------------------------------------------------------- */

#define FIELD_OFF(k) ((int32_t)(offsetof(vm_instance, fields) + (size_t)(k)*16))

/* r11 = &items[idx] of array ref a, index ref b. */
static void elem_addr(asm_state *as, jit_ref a, jit_ref b)
{
  int arr = gpr_of(as, a, R10);
  int idx = gpr_of(as, b, R11);
  emit_mov_rr(&as->mc, R11, idx);
  emit_shl_imm(&as->mc, R11, 4);
  emit_op_rm(&as->mc, XO_ADD, R11, arr, (int32_t)offsetof(vm_array, items));
}

/* Load the value at [base + disp] of instruction p's type. */
static void load_typed(asm_state *as, jit_ref p, int base, int32_t disp)
{
  const jit_ins *i = &as->T->ir[p];
  if (i->type == IRT_FLT) {
    int x = dst_xmm(as, p);
    emit_movsd_load(&as->mc, x, base, disp);
    finish_xmm(as, p, x);
  } else {
    int r = dst_gpr(as, p);
    emit_load(&as->mc, r, base, disp);
    finish_gpr(as, p, r);
  }
}

static void asm_arith(asm_state *as, jit_ref p, const jit_ins *i)
{
  mcbuf *mc = &as->mc;
  int d = dst_gpr(as, p);
  const jit_ins *kb = i->op == IR_NEG || i->op == IR_BNOT ? NULL : &as->T->ir[i->b];
  int rb = -1;
  if (kb && !(kb->op == IR_KINT && fits32(kb->k)))
    rb = gpr_of(as, i->b, R11);
  emit_mov_rr(mc, d, gpr_of(as, i->a, d));
  switch (i->op) {
  case IR_ADD:
    if (rb < 0)
      emit_alu_imm(mc, 0, d, (int32_t)kb->k);
    else
      emit_op_rr(mc, XO_ADD, d, rb);
    break;
  case IR_SUB:
    if (rb < 0)
      emit_alu_imm(mc, 5, d, (int32_t)kb->k);
    else
      emit_op_rr(mc, XO_SUB, d, rb);
    break;
  case IR_MUL:
    if (rb < 0)
      emit_imul_imm(mc, d, d, (int32_t)kb->k);
    else
      emit_op_rr(mc, XO_IMUL, d, rb);
    break;
  case IR_NEG: emit_neg(mc, d); break;
  case IR_BNOT: emit_alu_imm(mc, 6, d, 1); break;
  default: as->fail = true; break;
  }
  if (i->flags & IRF_GUARD)
    guard_jcc(as, CC_O, i->snap);
  finish_gpr(as, p, d);
}

static void asm_farith(asm_state *as, jit_ref p, const jit_ins *i)
{
  mcbuf *mc = &as->mc;
  int d = dst_xmm(as, p);
  switch (i->op) {
  case IR_FADD:
  case IR_FSUB:
  case IR_FMUL:
  case IR_FDIV: {
    int xb = xmm_of(as, i->b, XMM15);
    emit_movapd(mc, d, xmm_of(as, i->a, d));
    unsigned op = i->op == IR_FADD ? SSE_ADDSD : i->op == IR_FSUB ? SSE_SUBSD
                : i->op == IR_FMUL ? SSE_MULSD : SSE_DIVSD;
    emit_sd_op(mc, op, d, xb);
    break;
  }
  case IR_FNEG:
    emit_movapd(mc, d, xmm_of(as, i->a, d));
    emit_mov_imm64(mc, R11, 0x8000000000000000ull);
    emit_movq_xr(mc, XMM15, R11);
    emit_xorpd(mc, d, XMM15);
    break;
  case IR_FSQRT: emit_sd_op(mc, SSE_SQRTSD, d, xmm_of(as, i->a, XMM15)); break;
  case IR_I2F: {
    int r = gpr_of(as, i->a, R11);
    emit_xorpd(mc, d, d);
    emit_cvtsi2sd(mc, d, r);
    break;
  }
  default: as->fail = true; break;
  }
  finish_xmm(as, p, d);
}

static void asm_ins(asm_state *as, jit_ref p)
{
  const jit_ins *i = &as->T->ir[p];
  mcbuf *mc = &as->mc;
  switch (i->op) {
  case IR_KINT:
  case IR_KFLT:
  case IR_KPTR:
  case IR_KNIL:
  case IR_NOP: break;
  case IR_SLOADT:
    if (as->A.last[p] != JIT_REF_NONE)
      load_typed(as, p, R15, (int32_t)i->a * 16);
    break;
  case IR_SLOAD: load_typed(as, p, R15, (int32_t)i->a * 16 + 8); break;
  case IR_FLOADT:
  case IR_FLOAD: {
    int o = gpr_of(as, i->a, R11);
    load_typed(as, p, o, FIELD_OFF(i->b) + (i->op == IR_FLOAD ? 8 : 0));
    break;
  }
  case IR_ALEN: load_typed(as, p, gpr_of(as, i->a, R11), (int32_t)offsetof(vm_array, len)); break;
  case IR_ACAP: load_typed(as, p, gpr_of(as, i->a, R11), (int32_t)offsetof(vm_array, cap)); break;
  case IR_STRLEN: load_typed(as, p, gpr_of(as, i->a, R11), (int32_t)offsetof(vm_string, len)); break;
  case IR_OBJCLASS:
    load_typed(as, p, gpr_of(as, i->a, R11), (int32_t)offsetof(vm_instance, cls));
    break;
  case IR_ALOADT:
  case IR_ALOAD:
    elem_addr(as, i->a, i->b);
    load_typed(as, p, R11, i->op == IR_ALOAD ? 8 : 0);
    break;
  case IR_CLOADT:
  case IR_CLOAD:
    load_typed(as, p, gpr_of(as, i->a, R11),
               (int32_t)offsetof(vm_cell, value) + (i->op == IR_CLOAD ? 8 : 0));
    break;
  case IR_SSTORE: store_value(as, R15, (int32_t)i->a * 16, i->b, i->tag); break;
  case IR_FSTORE: {
    int o = gpr_of(as, i->a, R11);
    store_value(as, o, FIELD_OFF(i->b), (jit_ref)i->k, i->tag);
    break;
  }
  case IR_ASTORE:
    elem_addr(as, i->a, i->b);
    store_value(as, R11, 0, (jit_ref)i->k, i->tag);
    break;
  case IR_CSTORE: {
    int c = gpr_of(as, i->a, R11);
    store_value(as, c, (int32_t)offsetof(vm_cell, value), i->b, i->tag);
    break;
  }
  case IR_ASETLEN: {
    int arr = gpr_of(as, i->a, R11);
    int v = gpr_of(as, i->b, R10);
    emit_store(mc, arr, (int32_t)offsetof(vm_array, len), v);
    break;
  }
  case IR_ADD:
  case IR_SUB:
  case IR_MUL:
  case IR_NEG:
  case IR_BNOT: asm_arith(as, p, i); break;
  case IR_FADD:
  case IR_FSUB:
  case IR_FMUL:
  case IR_FDIV:
  case IR_FNEG:
  case IR_FSQRT:
  case IR_I2F: asm_farith(as, p, i); break;
  case IR_EQ:
  case IR_NE:
  case IR_LT:
  case IR_GE:
  case IR_LE:
  case IR_GT:
  case IR_ULT: asm_guard(as, i); break;
  case IR_CALLH:
  case IR_CALLS:
  case IR_CALLA:
    if (!(i->flags & IRF_SINK)) /* a sunk allocation: only exits rebuild it */
      asm_callh(as, p, i);
    break;
  case IR_LOOP: {
    jit_trace *T = as->T;
    if (!T->parent) {
      uint32_t f = emit_jmp(mc);
      mc_link(mc, f, T->head_off);
    } else {
      uint32_t f = emit_jmp(mc);
      add_afix(as, f, (uintptr_t)(T->root->mcode + T->root->preamble_off));
      add_reloc(as, f, JIT_RELOC_TRACE, 0);
    }
    break;
  }
  case IR_EXIT: guard_field(as, emit_jmp(mc), i->snap); break;
  default: as->fail = true; break;
  }
}

/* -- Stubs, prologue, epilogue ------------------------------------------------------- */

/* lea rdx, [rip - here]: the start of this trace's code (position
** independent, so reloaded code needs no relocation for it). */
static void emit_code_start(mcbuf *mc, int reg)
{
  mc_u8(mc, reg >= 8 ? 0x4c : 0x48);
  mc_u8(mc, 0x8d);
  mc_u8(mc, 0x05 | (reg & 7) << 3);
  mc_u32(mc, (uint32_t)-(int32_t)(mc->n + 4));
}

/* Return exit number `exitno` and this trace's code start through the
** epilogue. */
static void asm_leave(asm_state *as, uint32_t exitno)
{
  mcbuf *mc = &as->mc;
  mc_u8(mc, 0xb8); /* mov eax, exitno */
  mc_u32(mc, exitno);
  emit_code_start(mc, RDX);
  uint32_t f = emit_jmp(mc);
  GROW(as, as->epi_fix, as->nepi, as->epi_cap);
  if (!as->fail)
    as->epi_fix[as->nepi++] = f;
}

/* The exit stub of snapshot s.  It writes the snapshot's slots into the
** frame.  When the snapshot rebuilds sunk objects (opt_sink.c), a slot that
** holds one gets nil for now, the objects' field values go to the scratch
** area above the frame, in record order, and jit_h_materialize allocates
** and stores the objects: before the patchable jump, so that a bridge
** attached later starts from them too.  Nothing is live in registers after
** the stub (a bridge starts from memory), so the call saves nothing. */
static void stub_writes(asm_state *as, uint32_t s)
{
  jit_trace *T = as->T;
  mcbuf *mc = &as->mc;
  const jit_snap *sn = &T->snaps[s];
  uint32_t scratch = 0;
  for (uint32_t e = 0; e < sn->nent; e++) {
    const jit_snapent *en = &T->snapents[sn->ent + e];
    bool sunk = (T->ir[en->ref].flags & IRF_SINK) != 0;
    if (en->slot == JIT_SE_OBJ)
      continue;
    int32_t disp = (en->slot & JIT_SE_FIELD) ? (int32_t)(JIT_MAX_SLOTS + scratch++) * 16
                                              : (int32_t)en->slot * 16;
    if (sunk && en->tag != VM_T_NIL)
      emit_store_imm(mc, R15, disp, VM_T_NIL); /* the helper stores the object */
    else
      store_value(as, R15, disp, en->ref, en->tag);
  }
  if (sn->mat) {
    emit_mov_rr(mc, RDI, R15);
    emit_mov_imm(mc, RSI, s);
    emit_code_start(mc, RDX);
    uint32_t field = emit_call(mc);
    add_afix(as, field, (uintptr_t)jit_helper_addrs[JIT_H_MATERIALIZE]);
    add_reloc(as, field, JIT_RELOC_CALL, JIT_H_MATERIALIZE);
  }
}

static void asm_stub(asm_state *as, uint32_t s)
{
  mcbuf *mc = &as->mc;
  jit_trace *T = as->T;
  stub_writes(as, s);
  /* The jump through the exit's slot (nothing is live in rax): the slot
  ** holds the stub's own way out, right after it, until a bridge is
  ** attached.  jit_asm points the slots at the code once it is placed. */
  uint32_t field = emit_mov_imm64(mc, RAX, (uint64_t)(uintptr_t)&T->exit_slot[s]);
  mc_u8(mc, 0xff); /* jmp [rax] */
  mc_u8(mc, 0x20);
  T->snaps[s].jmp = field;
  if (mc->n != field + JIT_EXIT_CONT)
    as->fail = true;
  asm_leave(as, s);
}

static const int saved_regs[] = {RBX, RBP, R12, R13, R14, R15};

static void asm_prologue(asm_state *as)
{
  for (int k = 0; k < 6; k++)
    emit_push(&as->mc, saved_regs[k]);
  emit_alu_imm(&as->mc, 5, RSP, FRAME_SIZE);
  emit_mov_rr(&as->mc, R15, RDI);
}

static void asm_epilogue(asm_state *as)
{
  emit_alu_imm(&as->mc, 0, RSP, FRAME_SIZE);
  for (int k = 5; k >= 0; k--)
    emit_pop(&as->mc, saved_regs[k]);
  mc_u8(&as->mc, 0xc3);
}

static void asm_cleanup(asm_state *as)
{
  jit_alloc_free(&as->A);
  free(as->mc.p);
  free(as->gfix_field);
  free(as->gfix_snap);
  free(as->afix);
  free(as->epi_fix);
  free(as->relocs);
  free(as->lines);
  free(as->gpp_ref);
  free(as->gpp_off);
  free(as->gpp_cc);
  free(as->gpp_skip_ref);
  free(as->gpp_skip_off);
}

/* 1 + the highest non-constant preamble instruction that p's code reads (an
** operand, or a value its guard's snapshot names); 0 if none. */
static jit_ref reads_preamble(const jit_trace *T, jit_ref p)
{
  const jit_ins *i = &T->ir[p];
  jit_ref hi = 0;
  jit_ref refs[3] = {JIT_REF_NONE, JIT_REF_NONE, JIT_REF_NONE};
  uint8_t m = jit_ir_refmask(i);
  if (m & 1)
    refs[0] = i->a;
  if (m & 2)
    refs[1] = i->b;
  if (m & 4)
    refs[2] = (jit_ref)i->k;
  for (int k = 0; k < 3; k++)
    if (refs[k] < T->loopref && !jit_is_const(&T->ir[refs[k]]) && refs[k] + 1 > hi)
      hi = refs[k] + 1;
  if ((i->flags & IRF_GUARD || i->op == IR_EXIT) && i->snap < T->nsnap) {
    const jit_snap *sn = &T->snaps[i->snap];
    for (uint32_t e = 0; e < sn->nent; e++) {
      jit_ref r = T->snapents[sn->ent + e].ref;
      if (r < T->loopref && !jit_is_const(&T->ir[r]) && r + 1 > hi)
        hi = r + 1;
    }
  }
  return hi;
}

/* A loop's invariants hoisted from after a path decision (a receiver's
** class guard, a global's cell) need the tail after it, which would put the
** tail guard at the entry.  So each body decision's patch point gets a
** second one, in the preamble in front of the first instruction recorded
** after the decision, that jumps to the loop head: while the tail waits,
** the preamble stops there.  What it skips is used only after the
** decision (an instruction comes after its operands in recording order),
** which is checked here: nothing the preamble runs before it, and nothing
** the body runs up to the decision, reads what it skips; else no skip
** patch point, and the entry's. */
static void gpp_plan_skip(asm_state *as)
{
  jit_trace *T = as->T;
  if (T->parent || T->loopref >= T->nir || T->loopref == 0)
    return;
  as->gpp_skip_ref = malloc(T->nsnap * sizeof *as->gpp_skip_ref);
  as->gpp_skip_off = calloc(T->nsnap, sizeof *as->gpp_skip_off);
  /* hi[p]: reads_preamble at its highest over the preamble up to p, or
  ** over the body up to p. */
  jit_ref *hi = malloc(T->nir * sizeof *hi);
  if (!as->gpp_skip_ref || !as->gpp_skip_off || !hi) {
    free(hi);
    as->fail = true;
    return;
  }
  jit_ref run = 0;
  for (jit_ref p = 0; p < T->nir; p++) {
    if (p == T->loopref)
      run = 0;
    jit_ref r = reads_preamble(T, p);
    hi[p] = run = r > run ? r : run;
  }
  for (uint32_t s = 0; s < T->nsnap; s++) {
    jit_ref g = as->gpp_ref[s];
    as->gpp_skip_ref[s] = JIT_REF_NONE;
    if (g == JIT_REF_NONE || g < T->loopref)
      continue;
    jit_ref q = 0;
    while (q < T->loopref && (T->ir[q].ord < T->ir[g].ord || jit_is_const(&T->ir[q])))
      q++;
    if (q == T->loopref)
      continue; /* nothing hoisted from after it */
    if ((q == 0 || hi[q - 1] <= q) && hi[g] <= q)
      as->gpp_skip_ref[s] = q;
  }
  free(hi);
}

/* Which comparison of each snapshot gets a patch point: its last on the
** iteration's path (IRF_BRANCH: a condition, a loop's end, a promoted
** receiver or callee), where checks leave polymorphic loops; type guards
** and bounds checks get none, which keeps the nops off most guards. */
static void gpp_plan(asm_state *as)
{
  jit_trace *T = as->T;
  if (!T->nsnap)
    return;
  as->gpp_ref = malloc(T->nsnap * sizeof *as->gpp_ref);
  as->gpp_off = calloc(T->nsnap, sizeof *as->gpp_off);
  as->gpp_cc = calloc(T->nsnap, sizeof *as->gpp_cc);
  if (!as->gpp_ref || !as->gpp_off || !as->gpp_cc) {
    as->fail = true;
    return;
  }
  for (uint32_t s = 0; s < T->nsnap; s++)
    as->gpp_ref[s] = JIT_REF_NONE;
  for (jit_ref p = 0; p < T->nir; p++) {
    const jit_ins *i = &T->ir[p];
    if (i->op >= IR_EQ && i->op <= IR_ULT && (i->flags & IRF_BRANCH) && i->snap < T->nsnap)
      as->gpp_ref[i->snap] = p;
  }
  gpp_plan_skip(as);
}

/* The patch points' stubs (see "Patch points after guards"), after the exit
** stubs, and the list persist.c records. */
static void gpp_stubs(asm_state *as, const uint32_t *stub_off)
{
  jit_trace *T = as->T;
  mcbuf *mc = &as->mc;
  free(T->gpp);
  T->gpp = NULL;
  T->ngpp = 0;
  if (!as->gpp_off)
    return;
  uint32_t n = 0;
  for (uint32_t s = 0; s < T->nsnap; s++)
    n += as->gpp_off[s] != 0;
  if (!n)
    return;
  T->gpp = calloc(n, sizeof *T->gpp);
  if (!T->gpp) {
    as->fail = true;
    return;
  }
  for (uint32_t s = 0; s < T->nsnap && !as->fail && !mc->oom; s++) {
    if (!as->gpp_off[s])
      continue;
    T->gpp[T->ngpp].snap = s;
    T->gpp[T->ngpp].off = as->gpp_off[s];
    T->gpp[T->ngpp].target = mc->n;
    T->gpp[T->ngpp].skip = as->gpp_skip_off ? as->gpp_skip_off[s] : 0;
    T->ngpp++;
    if (as->gpp_cc[s] >= 0)
      mc_link(mc, emit_jcc(mc, as->gpp_cc[s]), stub_off[s]);
    stub_writes(as, s);
    asm_leave(as, JIT_TAIL_AT | s);
  }
}

bool jit_asm(jit_state *J, jit_trace *T)
{
  asm_state st;
  asm_state *as = &st;
  memset(as, 0, sizeof *as);
  as->J = J;
  as->T = T;
  if (!T->cells && T->nbind && T->parent) {
    /* A bridge's constants live in cells: its code then does not depend on
    ** them, and libjcache writes a reloaded bridge ahead of its check
    ** (lib/ahead.c), so that reloading it writes no code.  A loop's are
    ** imm64s: its reload writes its code anyway, and a load per use of a
    ** constant costs object-heavy loops about 5% (richards, deltablue,
    ** dispatch).  Best effort: with no data memory, imm64s too. */
    void *cells = NULL;
    if (jc_arena_data_alloc((size_t)T->nbind * 8, &cells) == JC_OK)
      T->cells = cells;
  }
  if (!jit_regalloc(T, &as->A))
    return false;
  mcbuf *mc = &as->mc;
  gpp_plan(as);
  if (!T->parent)
    asm_prologue(as);
  /* The patch point: 8 aligned bytes of nop where every path into the trace
  ** passes (a loop's preamble, which the prologue and every bridge's jump
  ** back reach; a bridge's first bytes).  A reloaded trace whose tail is
  ** not checked yet has a tail guard written there (libjcache). */
  while (mc->n % 8)
    emit_nops(mc, 1);
  T->patch_off = mc->n;
  if (!T->parent)
    T->preamble_off = mc->n;
  emit_nops(mc, 8);
  uint32_t lastline = 0;
  for (jit_ref p = 0; p < T->nir && !as->fail && !mc->oom; p++) {
    if (T->parent == NULL && p == T->loopref) {
      while (mc->n % 16)
        emit_nops(mc, 1);
      T->head_off = mc->n;
    }
    if (as->gpp_skip_ref && p < T->loopref)
      gpp_skip_here(as, p);
    const jit_ins *i = &T->ir[p];
    if (!jit_is_const(i) && i->line != lastline) {
      GROW(as, as->lines, as->nline, as->line_cap);
      if (as->fail)
        break;
      as->lines[as->nline].off = mc->n;
      as->lines[as->nline].line = i->line;
      as->nline++;
      lastline = i->line;
    }
    as->pos = p;
    asm_ins(as, p);
  }
  if (!T->parent && T->loopref >= T->nir)
    as->fail = true; /* no LOOP */
  /* Exit stubs, one per snapshot a guard uses. */
  uint32_t *stub_off = calloc(T->nsnap ? T->nsnap : 1, sizeof *stub_off);
  bool *used = calloc(T->nsnap ? T->nsnap : 1, sizeof *used);
  if (!stub_off || !used)
    as->fail = true;
  for (uint32_t g = 0; g < as->ngfix && !as->fail; g++)
    used[as->gfix_snap[g]] = true;
  for (uint32_t s = 0; s < T->nsnap && !as->fail && !mc->oom; s++) {
    if (!used[s])
      continue;
    stub_off[s] = mc->n;
    asm_stub(as, s);
  }
  for (uint32_t g = 0; g < as->ngfix && !as->fail; g++)
    mc_link(mc, as->gfix_field[g], stub_off[as->gfix_snap[g]]);
  if (!as->fail)
    gpp_stubs(as, stub_off);
  /* The tail guard's stub: leave with JIT_TAIL_EXIT before the trace has
  ** done anything (the frame is as it was at the entry). */
  T->tail_off = mc->n;
  asm_leave(as, JIT_TAIL_EXIT);
  uint32_t epi = mc->n;
  asm_epilogue(as);
  for (uint32_t k = 0; k < as->nepi; k++)
    mc_link(mc, as->epi_fix[k], epi);
  free(stub_off);
  free(used);
  if (as->fail || mc->oom) {
    asm_cleanup(as);
    return false;
  }
  /* Place it, resolve the absolute targets, write it. */
  void *addr;
  if (jc_arena_alloc(mc->n, &addr) != JC_OK) {
    asm_cleanup(as);
    return false;
  }
  for (uint32_t k = 0; k < as->nafix; k++) {
    int64_t rel = (int64_t)as->afix[k].target - ((int64_t)(uintptr_t)addr + as->afix[k].field + 4);
    if (rel < INT32_MIN || rel > INT32_MAX) {
      jc_arena_free(addr);
      asm_cleanup(as);
      return false;
    }
    mc_put32(mc, as->afix[k].field, (uint32_t)(int32_t)rel);
  }
  for (uint32_t s = 0; s < T->nsnap; s++)
    if (T->snaps[s].jmp)
      T->exit_slot[s] = (uint64_t)(uintptr_t)addr + T->snaps[s].jmp + JIT_EXIT_CONT;
  if (jc_arena_write(addr, mc->p, mc->n) != JC_OK) {
    jc_arena_free(addr);
    asm_cleanup(as);
    return false;
  }
  T->mcode = addr;
  T->msize = mc->n;
  T->relocs = as->relocs;
  T->nreloc = as->nreloc;
  T->lines = as->lines;
  T->nline = as->nline;
  as->relocs = NULL;
  as->lines = NULL;
  asm_cleanup(as);
  return true;
}

bool jit_asm_link(jit_trace *T, uint32_t snap, jit_trace *B)
{
  uint32_t field = T->snaps[snap].jmp;
  if (!field)
    return false;
  /* With a libjcache handle, through it: NULL is the stub as libjcache
  ** knows it (checked, for reloaded code, whose slots are libjcache's). */
  if (T->jt)
    return jc_trace_attach(T->jt, snap, B ? B->mcode : NULL) == JC_OK;
  if (!T->exit_slot)
    return false;
  /* No bridge: the stub's own way out, right after its jump. */
  uint8_t *target = B ? B->mcode : T->mcode + field + JIT_EXIT_CONT;
  __atomic_store_n(&T->exit_slot[snap], (uint64_t)(uintptr_t)target, __ATOMIC_RELEASE);
  return true;
}
