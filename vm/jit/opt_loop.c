/*
** vm/jit/opt_loop.c — loop-invariant code motion: builds the preamble.
**
** With memory-carried loop state a trace is one iteration that starts from
** the frame, so the loop's invariants are what the iteration reads but never
** writes: a frame slot the trace does not store to, a field no FSTORE of the
** trace writes (by field number; a store into an object the iteration
** allocated does not count, since no invariant value can point to such an
** object: it would have had to be loaded from a slot, field, element or
** global the trace stores to), array elements when there is no ASTORE
** and no ASETLEN, array lengths when there is no ASETLEN (push, pop),
** globals when there is no CSTORE, and everything computed only from those
** and from constants, guards included.  They move, in their original order,
** in front of the loop head (the preamble), which runs once per entry; the
** body jumps back to the head, after them.
**
** A hoisted guard exits through snapshot 0: the loop head with nothing
** changed, which is exactly the state at the start of any iteration, so the
** interpreter simply runs that iteration (and a bridge from that exit is a
** whole iteration, from the head to the head).  Guards keep their relative order,
** so a load never moves above the guard that makes it safe (a class guard
** depends on the same object as the field load it protects).
**
** Bridges jump back to the preamble, not the head: they may have changed
** what the preamble computed.
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

void jit_opt_loop(jit_trace *T)
{
  uint32_t n = T->nir;
  uint8_t *inv = calloc(n ? n : 1, 1);
  uint8_t *slot_mod = calloc(JIT_MAX_SLOTS, 1);
  jit_ref *map = malloc((n ? n : 1) * sizeof *map);
  jit_ins *out = malloc((n ? n : 1) * sizeof *out);
  if (!inv || !slot_mod || !map || !out)
    goto done;
  uint64_t fields_stored = 0; /* by field number mod 64 */
  bool arr_stored = false, cell_stored = false, len_stored = false;
  for (jit_ref r = 0; r < n; r++) {
    const jit_ins *i = &T->ir[r];
    if (i->op == IR_SSTORE && i->a < JIT_MAX_SLOTS)
      slot_mod[i->a] = 1;
    else if (i->op == IR_FSTORE && !(T->ir[i->a].op == IR_CALLA && T->ir[i->a].k == JIT_H_NEWINST))
      fields_stored |= 1ull << (i->b % 64); /* a store into a fresh object: see above */
    else if (i->op == IR_ASTORE)
      arr_stored = true;
    else if (i->op == IR_CSTORE)
      cell_stored = true;
    else if (i->op == IR_ASETLEN)
      len_stored = true;
  }
  uint32_t ninv = 0;
  for (jit_ref r = 0; r < n; r++) {
    const jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    bool ops = (!(m & 1) || inv[i->a]) && (!(m & 2) || inv[i->b]) && (!(m & 4) || inv[i->k]);
    bool v;
    switch (i->op) {
    case IR_KINT:
    case IR_KFLT:
    case IR_KPTR:
    case IR_KNIL: v = true; break;
    case IR_SLOADT:
    case IR_SLOAD: v = i->a < JIT_MAX_SLOTS && !slot_mod[i->a]; break;
    case IR_FLOADT:
    case IR_FLOAD: v = ops && !(fields_stored & (1ull << (i->b % 64))); break;
    case IR_ALOADT:
    case IR_ALOAD: v = ops && !arr_stored && !len_stored; break; /* bounds guards use ALEN */
    case IR_ALEN: v = ops && !len_stored; break;
    case IR_CLOADT:
    case IR_CLOAD: v = ops && !cell_stored; break;
    case IR_SSTORE:
    case IR_FSTORE:
    case IR_ASTORE:
    case IR_CSTORE:
    case IR_ASETLEN:
    case IR_CALLA: /* a new object per iteration */
    case IR_CALLS: /* an effect per iteration */
    case IR_LOOP:
    case IR_EXIT:
    case IR_NOP: v = false; break;
    default: v = ops; break; /* pure arithmetic, helper calls, guards */
    }
    inv[r] = v;
    if (v)
      ninv++;
  }
  /* Reorder: invariants first (the preamble), then the body, each in
  ** recording order, which `ord` keeps (asm_x86.c: a tail's patch points). */
  for (jit_ref r = 0; r < n; r++)
    T->ir[r].ord = r;
  uint32_t k = 0;
  for (jit_ref r = 0; r < n; r++)
    if (inv[r]) {
      map[r] = k;
      out[k] = T->ir[r];
      if (!jit_is_const(&out[k]))
        out[k].flags |= IRF_INVARIANT;
      if (out[k].flags & IRF_GUARD)
        out[k].snap = 0;
      k++;
    }
  uint32_t loop = k;
  for (jit_ref r = 0; r < n; r++)
    if (!inv[r]) {
      map[r] = k;
      out[k++] = T->ir[r];
    }
  memcpy(T->ir, out, n * sizeof *out);
  jit_ir_rename(T, map);
  T->loopref = loop;
  (void)ninv;
done:
  free(inv);
  free(slot_mod);
  free(map);
  free(out);
}
