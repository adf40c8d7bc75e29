/*
** vm/jit/opt_dce.c — dead code elimination.
**
** Roots: guards, stores, LOOP, and every value a snapshot of a guard names
** (an exit writes it back, or rebuilds a sunk object from it).  Everything
** they do not reach is removed.  A snapshot no guard uses any more (its
** guards were folded, merged or hoisted) keeps no entries.
*/
#include <stdlib.h>

#include "jit.h"

void jit_opt_dce(jit_trace *T)
{
  uint8_t *live = calloc(T->nir ? T->nir : 1, 1);
  uint8_t *used = calloc(T->nsnap ? T->nsnap : 1, 1);
  if (!live || !used) {
    free(live);
    free(used);
    return;
  }
  for (uint32_t r = 0; r < T->nir; r++)
    if ((T->ir[r].flags & IRF_GUARD) && T->ir[r].snap < T->nsnap)
      used[T->ir[r].snap] = 1;
  for (uint32_t s = 0; s < T->nsnap; s++) {
    jit_snap *sn = &T->snaps[s];
    if (!used[s]) {
      sn->nent = 0;
      continue;
    }
    for (uint32_t e = 0; e < sn->nent; e++)
      if (T->snapents[sn->ent + e].ref < T->nir)
        live[T->snapents[sn->ent + e].ref] = 1;
  }
  free(used);
  for (jit_ref r = T->nir; r-- > 0;) {
    jit_ins *i = &T->ir[r];
    switch (i->op) {
    case IR_SSTORE:
    case IR_FSTORE:
    case IR_ASTORE:
    case IR_CSTORE:
    case IR_ASETLEN:
    case IR_CALLS:
    case IR_LOOP: live[r] = 1; break;
    default:
      if (i->flags & IRF_GUARD)
        live[r] = 1;
      break;
    }
    if (!live[r])
      continue;
    uint8_t m = jit_ir_refmask(i);
    if (m & 1)
      live[i->a] = 1;
    if (m & 2)
      live[i->b] = 1;
    if (m & 4)
      live[i->k] = 1;
  }
  bool changed = false;
  for (jit_ref r = 0; r < T->nir; r++)
    if (!live[r] && T->ir[r].op != IR_NOP) {
      T->ir[r].op = IR_NOP;
      changed = true;
    }
  if (changed)
    jit_ir_compact(T);
  free(live);
}
