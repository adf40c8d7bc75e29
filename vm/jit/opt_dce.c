/*
** vm/jit/opt_dce.c — dead code elimination.
**
** Roots: guards, stores, LOOP, and every value a snapshot names (an exit
** writes it back).  Everything they do not reach is removed.
*/
#include <stdlib.h>

#include "jit.h"

void jit_opt_dce(jit_trace *T)
{
  uint8_t *live = calloc(T->nir ? T->nir : 1, 1);
  if (!live)
    return;
  for (uint32_t e = 0; e < T->nsnapent; e++)
    if (T->snapents[e].ref < T->nir)
      live[T->snapents[e].ref] = 1;
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
