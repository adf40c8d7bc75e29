/*
** vm/jit/opt_fold.c — constant folding and algebraic simplification.
**
** One forward pass.  Operations on constants become constants (integer
** arithmetic only when it does not overflow: an overflowing constant
** operation keeps its guard and always exits, as the interpreter would
** raise the error there).  Guards whose outcome is known to hold are removed.
** x + 0, x - 0, x * 1 become x.
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

static bool kint_of(const jit_trace *T, jit_ref r, int64_t *v)
{
  const jit_ins *i = &T->ir[r];
  if (i->op != IR_KINT)
    return false;
  *v = i->k;
  return true;
}

static bool kflt_of(const jit_trace *T, jit_ref r, double *d)
{
  const jit_ins *i = &T->ir[r];
  if (i->op != IR_KFLT)
    return false;
  memcpy(d, &i->k, sizeof *d);
  return true;
}

static void make_kint(jit_ins *i, int64_t v)
{
  i->op = IR_KINT;
  i->flags = 0;
  i->k = v;
  i->a = i->b = 0;
  i->tag = i->type == IRT_BOOL ? VM_T_BOOL : VM_T_INT;
}

static void make_kflt(jit_ins *i, double d)
{
  i->op = IR_KFLT;
  i->flags = 0;
  memcpy(&i->k, &d, sizeof d);
  i->a = i->b = 0;
  i->tag = VM_T_FLOAT;
}

/* Outcome of a guard on two constants: 1 holds, 0 fails, -1 unknown. */
static int guard_outcome(const jit_trace *T, const jit_ins *i)
{
  int64_t x, y;
  double fx, fy;
  if (i->type != IRT_FLT && kint_of(T, i->a, &x) && kint_of(T, i->b, &y)) {
    switch (i->op) {
    case IR_EQ: return x == y;
    case IR_NE: return x != y;
    case IR_LT: return x < y;
    case IR_GE: return x >= y;
    case IR_LE: return x <= y;
    case IR_GT: return x > y;
    case IR_ULT: return (uint64_t)x < (uint64_t)y;
    default: return -1;
    }
  }
  if (i->type == IRT_FLT && kflt_of(T, i->a, &fx) && kflt_of(T, i->b, &fy)) {
    switch (i->op) {
    case IR_EQ: return fx == fy;
    case IR_NE: return !(fx == fy);
    case IR_LT: return fx < fy;
    case IR_GE: return !(fx < fy);
    case IR_LE: return fx <= fy;
    case IR_GT: return !(fx <= fy);
    default: return -1;
    }
  }
  if (i->type == IRT_PTR && T->ir[i->a].op == IR_KPTR && T->ir[i->b].op == IR_KPTR) {
    bool eq = T->ir[i->a].k == T->ir[i->b].k;
    if (i->op == IR_EQ)
      return eq;
    if (i->op == IR_NE)
      return !eq;
  }
  return -1;
}

void jit_opt_fold(jit_trace *T)
{
  jit_ref *map = malloc((T->nir ? T->nir : 1) * sizeof *map);
  if (!map)
    return;
  bool changed = false;
  for (jit_ref r = 0; r < T->nir; r++) {
    map[r] = r;
    jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    if (m & 1)
      i->a = map[i->a];
    if (m & 2)
      i->b = map[i->b];
    if (m & 4)
      i->k = map[i->k];
    int64_t x, y, z;
    double fx, fy;
    switch (i->op) {
    case IR_ADD:
    case IR_SUB:
    case IR_MUL:
      if (kint_of(T, i->a, &x) && kint_of(T, i->b, &y)) {
        bool ovf = i->op == IR_ADD   ? __builtin_add_overflow(x, y, &z)
                   : i->op == IR_SUB ? __builtin_sub_overflow(x, y, &z)
                                     : __builtin_mul_overflow(x, y, &z);
        if (!ovf) {
          make_kint(i, z);
          changed = true;
        }
      } else if (kint_of(T, i->b, &y) &&
                 ((y == 0 && i->op != IR_MUL) || (y == 1 && i->op == IR_MUL))) {
        map[r] = i->a;
        i->op = IR_NOP;
        changed = true;
      }
      break;
    case IR_NEG:
      if (kint_of(T, i->a, &x) && x != INT64_MIN) {
        make_kint(i, -x);
        changed = true;
      }
      break;
    case IR_BNOT:
      if (kint_of(T, i->a, &x)) {
        make_kint(i, !x);
        changed = true;
      }
      break;
    case IR_I2F:
      if (kint_of(T, i->a, &x)) {
        make_kflt(i, (double)x);
        changed = true;
      }
      break;
    case IR_FADD:
    case IR_FSUB:
    case IR_FMUL:
    case IR_FDIV:
      if (kflt_of(T, i->a, &fx) && kflt_of(T, i->b, &fy)) {
        double d = i->op == IR_FADD ? fx + fy : i->op == IR_FSUB ? fx - fy
                 : i->op == IR_FMUL ? fx * fy : fx / fy;
        make_kflt(i, d);
        changed = true;
      }
      break;
    case IR_FNEG:
      if (kflt_of(T, i->a, &fx)) {
        make_kflt(i, -fx);
        changed = true;
      }
      break;
    case IR_EQ:
    case IR_NE:
    case IR_LT:
    case IR_GE:
    case IR_LE:
    case IR_GT:
    case IR_ULT:
      if (guard_outcome(T, i) == 1) {
        i->op = IR_NOP;
        changed = true;
      }
      break;
    default: break;
    }
  }
  if (changed) {
    jit_ir_rename(T, map);
    jit_ir_compact(T);
  }
  free(map);
}
