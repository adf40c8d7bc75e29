/*
** vm/jit/live.c — bytecode register liveness, per code object.
**
** A frame slot is live at pc if some path from pc reads it before writing
** it.  The recorder uses that to write less: a slot dead at the loop head
** needs no SSTORE at the end of the iteration, and a slot dead where an exit
** resumes needs no snapshot entry.  Both matter beyond the stores they save:
** a fresh object that only lives in temporaries is then no longer written to
** the frame, so it does not escape and allocation sinking can remove it
** (opt_sink.c).
**
** The analysis is the textbook backward dataflow over the bytecode's control
** flow graph, live-in(pc) = use(pc) | (OR over successors s of live-in(s)
** & ~def(pc)), iterated to a fixpoint with one bitset of nslots bits per pc.
** It is computed the first time the JIT asks for a code object and cached in
** it (vm_code.jit_live, freed with the code).
**
** Soundness rests on two rules, since a missing use is a miscompile and a
** missing def only keeps a slot live longer:
**   - every slot an instruction may read is a use, also on paths that only
**     raise an error; an opcode this file does not know reads every slot;
**   - defs are only the writes that happen on every path out of the
**     instruction (FORPREP/FORLOOP write their slots on one edge only, so
**     they define nothing here).
** Slots captured by a closure (CLOSURE's from_local upvalues) are read and
** written behind the bytecode's back, through the upvalue: they are live
** everywhere.  RETURN of a method also reads R[0], since a constructor frame
** returns self whatever the instruction names.
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

/* Tables larger than this (in 64-bit words) are not built: the code is then
** treated as having every slot live everywhere. */
#define LIVE_MAX_WORDS (1u << 20)

typedef struct live_ins {
  uint32_t use_lo, use_n; /* uses: slots use_lo .. use_lo+use_n-1 */
  uint32_t use2, use3;    /* two more single uses (UINT32_MAX: none) */
  uint32_t def;           /* UINT32_MAX: none */
  bool all;               /* unknown opcode: reads everything */
} live_ins;

#define NONE UINT32_MAX

static live_ins decode(const vm_code *c, vm_insn i)
{
  unsigned A = VM_INSN_A(i), B = VM_INSN_B(i), C = VM_INSN_C(i);
  live_ins d = {0, 0, NONE, NONE, NONE, false};
  switch ((vm_opcode)VM_INSN_OP(i)) {
  case VM_OP_MOVE:
  case VM_OP_UNM:
  case VM_OP_NOT:
  case VM_OP_GETFIELD: d.use2 = B; d.def = A; break;
  case VM_OP_LOADK:
  case VM_OP_LOADI:
  case VM_OP_LOADNIL:
  case VM_OP_LOADTRUE:
  case VM_OP_LOADFALSE:
  case VM_OP_GETGLOBAL:
  case VM_OP_GETUPVAL:
  case VM_OP_CLOSURE:
  case VM_OP_NEWARRAY:
  case VM_OP_NEWCLASS: d.def = A; break;
  case VM_OP_SETGLOBAL:
  case VM_OP_DEFGLOBAL:
  case VM_OP_SETUPVAL:
  case VM_OP_FIELD:
  case VM_OP_JMPT:
  case VM_OP_JMPF: d.use2 = A; break;
  case VM_OP_CLOSE: break; /* reads captured slots only: live everywhere */
  case VM_OP_APPEND:
  case VM_OP_INHERIT:
  case VM_OP_METHOD: d.use2 = A; d.use3 = B; break;
  case VM_OP_GETINDEX:
  case VM_OP_ADD:
  case VM_OP_SUB:
  case VM_OP_MUL:
  case VM_OP_DIV:
  case VM_OP_IDIV:
  case VM_OP_MOD:
  case VM_OP_CONCAT:
  case VM_OP_EQ:
  case VM_OP_NE:
  case VM_OP_LT:
  case VM_OP_LE: d.use2 = B; d.use3 = C; d.def = A; break;
  case VM_OP_SETINDEX: d.use_lo = A; d.use_n = 1; d.use2 = B; d.use3 = C; break;
  case VM_OP_SETFIELD: d.use2 = A; d.use3 = C; break;
  case VM_OP_JMP:
  case VM_OP_LOOP: break;
  case VM_OP_FORPREP:
  case VM_OP_FORLOOP: d.use_lo = A; d.use_n = 3; break;
  case VM_OP_CALL: d.use_lo = A; d.use_n = B + 1; d.def = A; break;
  case VM_OP_CALLMETHOD:
  case VM_OP_SUPERCALL: d.use_lo = A + 1; d.use_n = B + 1; d.def = A; break;
  case VM_OP_RETURN:
    d.use2 = A;
    if (c->is_method)
      d.use3 = 0;
    break;
  case VM_OP_RETURNNIL:
    if (c->is_method)
      d.use2 = 0;
    break;
  default: d.all = true; break;
  }
  return d;
}

static inline void bit_set(uint64_t *w, uint32_t nslots, uint32_t r)
{
  if (r < nslots)
    w[r >> 6] |= 1ull << (r & 63);
}

static inline void bit_clear(uint64_t *w, uint32_t nslots, uint32_t r)
{
  if (r < nslots)
    w[r >> 6] &= ~(1ull << (r & 63));
}

/* Successors of pc: up to two; returns how many. */
static int succs(const vm_code *c, uint32_t pc, uint32_t s[2])
{
  vm_insn i = c->insns[pc];
  int64_t target = (int64_t)pc + 1 + VM_INSN_SBX(i);
  int n = 0;
  switch ((vm_opcode)VM_INSN_OP(i)) {
  case VM_OP_JMP:
  case VM_OP_LOOP:
    if (target >= 0 && target < c->ninsns)
      s[n++] = (uint32_t)target;
    return n;
  case VM_OP_JMPT:
  case VM_OP_JMPF:
  case VM_OP_FORPREP:
  case VM_OP_FORLOOP:
    if (target >= 0 && target < c->ninsns)
      s[n++] = (uint32_t)target;
    break;
  case VM_OP_RETURN:
  case VM_OP_RETURNNIL: return 0;
  default: break;
  }
  if (pc + 1 < c->ninsns)
    s[n++] = pc + 1;
  return n;
}

static bool compute(vm_code *c)
{
  uint32_t n = c->ninsns, ns = c->nslots, W = (ns + 63) / 64;
  if (n == 0 || W == 0 || (uint64_t)n * W > LIVE_MAX_WORDS)
    return false;
  uint64_t *live = calloc((size_t)n * W, sizeof *live);
  uint64_t *always = calloc(W, sizeof *always);
  uint64_t *out = calloc(W, sizeof *out);
  live_ins *dec = malloc(n * sizeof *dec);
  if (!live || !always || !out || !dec) {
    free(live);
    free(always);
    free(out);
    free(dec);
    return false;
  }
  for (uint32_t pc = 0; pc < n; pc++) {
    vm_insn i = c->insns[pc];
    dec[pc] = decode(c, i);
    if (VM_INSN_OP(i) == VM_OP_CLOSURE && VM_INSN_BX(i) < c->nprotos) {
      const vm_code *p = c->protos[VM_INSN_BX(i)];
      for (uint32_t u = 0; u < p->nupvals; u++)
        if (p->upvals[u].from_local)
          bit_set(always, ns, p->upvals[u].index);
    }
  }
  bool changed = true;
  while (changed) {
    changed = false;
    for (uint32_t pc = n; pc-- > 0;) {
      const live_ins *d = &dec[pc];
      uint64_t *in = &live[(size_t)pc * W];
      if (d->all) {
        for (uint32_t w = 0; w < W; w++)
          if (in[w] != ~0ull) {
            in[w] = ~0ull;
            changed = true;
          }
        continue;
      }
      uint32_t s[2];
      int k = succs(c, pc, s);
      memset(out, 0, W * sizeof *out);
      for (int j = 0; j < k; j++)
        for (uint32_t w = 0; w < W; w++)
          out[w] |= live[(size_t)s[j] * W + w];
      if (d->def != NONE)
        bit_clear(out, ns, d->def);
      for (uint32_t r = 0; r < d->use_n; r++)
        bit_set(out, ns, d->use_lo + r);
      if (d->use2 != NONE)
        bit_set(out, ns, d->use2);
      if (d->use3 != NONE)
        bit_set(out, ns, d->use3);
      for (uint32_t w = 0; w < W; w++)
        out[w] |= always[w];
      if (memcmp(in, out, W * sizeof *out) != 0) {
        memcpy(in, out, W * sizeof *out);
        changed = true;
      }
    }
  }
  free(always);
  free(out);
  free(dec);
  c->jit_live = live;
  return true;
}

const uint64_t *jit_live_at(vm_code *c, uint32_t pc)
{
  if (c->jit_live_state == 0)
    c->jit_live_state = compute(c) ? 1 : 2;
  if (c->jit_live_state != 1 || pc >= c->ninsns)
    return NULL;
  return c->jit_live + (size_t)pc * ((c->nslots + 63u) / 64u);
}
