/*
** vm/jit/regalloc.c — linear-scan register allocation over the trace's SSA
** values (after Poletto & Sarkar).
**
** A value's interval runs from its definition to its last use; uses include
** the snapshot entries of every guard (an exit stub reads them).  Values of
** the preamble that the loop body uses live to the end of the trace, since
** the body runs again after the back edge.  Each value gets one location for
** its whole life: a register or, when none is free, a spill slot in the
** native frame (the interval ending last is the one spilled).  Constants never
** get a register: the backend materialises them at each use.
**
** Registers: GPRs for INT/BOOL/PTR, XMM for FLT.  r10/r11 and xmm14/xmm15
** are the backend's scratch registers, r15 holds the frame base, rsp and rbp
** are not allocated.  Caller-saved registers live across a helper call are
** saved around it by the backend.
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

static const int8_t gpr_order[] = {0, 1, 2, 6, 7, 8, 9, 3, 12, 13, 14};
#define NGPR ((int)(sizeof gpr_order / sizeof gpr_order[0]))
#define NXMM 14

void jit_alloc_free(jit_alloc *A)
{
  free(A->reg);
  free(A->spill);
  free(A->last);
  memset(A, 0, sizeof *A);
}

static bool needs_reg(const jit_ins *i)
{
  if (jit_is_const(i) || (i->flags & IRF_GUARD && i->op >= IR_EQ && i->op <= IR_ULT) ||
      (i->flags & IRF_SINK))
    return false;
  switch (i->op) {
  case IR_SSTORE:
  case IR_FSTORE:
  case IR_ASTORE:
  case IR_CSTORE:
  case IR_ASETLEN:
  case IR_LOOP:
  case IR_EXIT:
  case IR_NOP: return false;
  default: return i->type == IRT_INT || i->type == IRT_FLT || i->type == IRT_BOOL || i->type == IRT_PTR;
  }
}

static void use(const jit_trace *T, uint32_t *last, jit_ref r, uint32_t pos)
{
  if (r == JIT_REF_NONE || r >= T->nir || jit_is_const(&T->ir[r]))
    return;
  if (last[r] == JIT_REF_NONE || last[r] < pos)
    last[r] = pos;
}

bool jit_regalloc(const jit_trace *T, jit_alloc *A)
{
  uint32_t n = T->nir;
  memset(A, 0, sizeof *A);
  A->reg = malloc(n * sizeof *A->reg);
  A->spill = malloc(n * sizeof *A->spill);
  A->last = malloc(n * sizeof *A->last);
  uint32_t *active = malloc(n * sizeof *active);
  if (!A->reg || !A->spill || !A->last || !active) {
    free(active);
    jit_alloc_free(A);
    return false;
  }
  for (uint32_t r = 0; r < n; r++) {
    A->reg[r] = -1;
    A->spill[r] = -1;
    A->last[r] = JIT_REF_NONE;
  }
  for (uint32_t p = 0; p < n; p++) {
    const jit_ins *i = &T->ir[p];
    uint8_t m = jit_ir_refmask(i);
    if (m & 1)
      use(T, A->last, i->a, p);
    if (m & 2)
      use(T, A->last, i->b, p);
    if (m & 4)
      use(T, A->last, (jit_ref)i->k, p);
    if (i->flags & IRF_GUARD) {
      /* The exit stub reads them, sunk objects' field values included. */
      const jit_snap *s = &T->snaps[i->snap];
      for (uint32_t e = 0; e < s->nent; e++)
        use(T, A->last, T->snapents[s->ent + e].ref, p);
    }
  }
  if (T->loopref)
    for (uint32_t r = 0; r < T->loopref; r++)
      if (A->last[r] != JIT_REF_NONE && A->last[r] >= T->loopref)
        A->last[r] = n;

  uint32_t nactive = 0;
  uint32_t gfree = 0, xfree = (1u << NXMM) - 1;
  for (int k = 0; k < NGPR; k++)
    gfree |= 1u << gpr_order[k];
  /* A spill slot can take a value defined at d if no other value used it
     after d: a victim is spilled retroactively, from its definition on. */
  uint64_t sbusy = 0;
  uint32_t sfree_since[JIT_MAX_SPILL];
  memset(sfree_since, 0, sizeof sfree_since);
  bool ok = true;
  for (uint32_t p = 0; p < n && ok; p++) {
    /* Expire intervals that ended before p. */
    uint32_t w = 0;
    for (uint32_t k = 0; k < nactive; k++) {
      jit_ref a = active[k];
      if (A->last[a] < p) {
        if (A->reg[a] >= 16)
          xfree |= 1u << (A->reg[a] - 16);
        else if (A->reg[a] >= 0)
          gfree |= 1u << A->reg[a];
        if (A->spill[a] >= 0) {
          sbusy &= ~(1ull << A->spill[a]);
          sfree_since[A->spill[a]] = A->last[a] + 1;
        }
      } else {
        active[w++] = a;
      }
    }
    nactive = w;
    const jit_ins *i = &T->ir[p];
    if (!needs_reg(i) || A->last[p] == JIT_REF_NONE)
      continue;
    bool fp = i->type == IRT_FLT;
    int reg = -1;
    if (fp) {
      if (xfree) {
        int x = __builtin_ctz(xfree);
        xfree &= ~(1u << x);
        reg = 16 + x;
      }
    } else {
      for (int k = 0; k < NGPR; k++)
        if (gfree & (1u << gpr_order[k])) {
          reg = gpr_order[k];
          gfree &= ~(1u << reg);
          break;
        }
    }
    if (reg < 0) {
      /* Spill the interval of this class that ends last. */
      int victim = -1;
      for (uint32_t k = 0; k < nactive; k++) {
        jit_ref a = active[k];
        if (A->reg[a] < 0 || (A->reg[a] >= 16) != fp)
          continue;
        if (victim < 0 || A->last[a] > A->last[victim])
          victim = (int)a;
      }
      bool spill_victim = victim >= 0 && A->last[victim] > A->last[p];
      uint32_t def = spill_victim ? (uint32_t)victim : p;
      int slot = -1;
      for (int k = 0; k < JIT_MAX_SPILL; k++)
        if (!(sbusy & (1ull << k)) && sfree_since[k] <= def) {
          slot = k;
          break;
        }
      if (slot < 0) {
        ok = false;
        break;
      }
      sbusy |= 1ull << slot;
      if (spill_victim) {
        reg = A->reg[victim];
        A->reg[victim] = -1;
        A->spill[victim] = (int16_t)slot;
      } else {
        A->spill[p] = (int16_t)slot;
      }
      A->nspill++;
    }
    A->reg[p] = (int8_t)reg;
    active[nactive++] = p;
  }
  free(active);
  if (!ok)
    jit_alloc_free(A);
  return ok;
}
