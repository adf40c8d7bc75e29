/*
** vm/jit/opt_cse.c — common subexpression elimination and redundant guard
** removal.
**
** A trace is straight-line code, so an earlier instruction dominates every
** later one: a pure instruction equal to an earlier one (same op, type, tag
** and operands) is replaced by it, and a guard equal to an earlier guard is
** dropped (the earlier one already exits when it fails).  That removes the
** repeated tag checks of a slot, a field or a receiver's class.
**
** Loads are memory reads: they take part only while no store could have
** changed what they read.  Frame slots are written only at exits and at the
** end of the iteration, array capacities and class pointers never change
** inside a trace (anything that could change them aborts the recording or
** exits), so SLOAD, ACAP and OBJCLASS are always available.  FSTORE to field
** k kills the loads of field k, ASTORE kills array element loads, CSTORE
** kills global loads, ASETLEN (push, pop) kills ALEN: a per-kind epoch is
** part of the load's key.
**
** An FSTORE into an object the trace allocated (a NEWINST CALLA o) kills
** fewer loads: an object x defined before o cannot be o (the trace never
** collects, so no address is reused), so the loads of x's field k survive
** it.  Such stores are kept per field, newest last; a load of x.k takes as
** its epoch the newest store that may alias it (a non-fresh one, or a fresh
** one into some o <= x).
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

typedef struct cse_key {
  uint8_t op, type, tag;
  jit_ref a, b;
  int64_t k;
  uint32_t epoch;
} cse_key;

static uint64_t key_hash(const cse_key *k)
{
  uint64_t h = k->op * 0x9e3779b97f4a7c15ull;
  h ^= (k->type | (uint64_t)k->tag << 8) + (h << 6) + (h >> 2);
  h ^= k->a * 0xff51afd7ed558ccdull + (h << 6) + (h >> 2);
  h ^= k->b * 0xc4ceb9fe1a85ec53ull + (h << 6) + (h >> 2);
  h ^= (uint64_t)k->k + k->epoch + (h << 6) + (h >> 2);
  return h;
}

static bool key_eq(const cse_key *x, const cse_key *y)
{
  return x->op == y->op && x->type == y->type && x->tag == y->tag && x->a == y->a &&
         x->b == y->b && x->k == y->k && x->epoch == y->epoch;
}

#define FIELD_EPOCHS 64
#define FRESH_STORES 16 /* per field: older fresh stores count as plain ones */

typedef struct fresh_store {
  jit_ref obj;
  uint32_t epoch;
} fresh_store;

static bool is_fresh(const jit_trace *T, jit_ref r)
{
  return T->ir[r].op == IR_CALLA && T->ir[r].k == JIT_H_NEWINST;
}

void jit_opt_cse(jit_trace *T)
{
  uint32_t cap = 16;
  while (cap < T->nir * 2)
    cap *= 2;
  cse_key *keys = calloc(cap, sizeof *keys);
  jit_ref *vals = malloc(cap * sizeof *vals);
  jit_ref *map = malloc((T->nir ? T->nir : 1) * sizeof *map);
  if (!keys || !vals || !map) {
    free(keys);
    free(vals);
    free(map);
    return;
  }
  for (uint32_t s = 0; s < cap; s++)
    vals[s] = JIT_REF_NONE;
  uint32_t field_epoch[FIELD_EPOCHS] = {0}, arr_epoch = 0, cell_epoch = 0, len_epoch = 0;
  fresh_store fresh[FIELD_EPOCHS][FRESH_STORES];
  uint8_t nfresh[FIELD_EPOCHS] = {0};
  uint32_t next_epoch = 1;
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
    cse_key k = {i->op, i->type, i->tag, 0, 0, 0, 0};
    bool candidate = true;
    switch (i->op) {
    case IR_KINT:
    case IR_KFLT:
    case IR_KPTR:
    case IR_KNIL: k.k = i->k; break;
    case IR_SLOADT:
    case IR_SLOAD: k.a = i->a; break;
    case IR_FLOADT:
    case IR_FLOAD: {
      uint32_t f = i->b % FIELD_EPOCHS;
      k.a = i->a;
      k.b = i->b;
      k.epoch = field_epoch[f];
      for (uint32_t x = nfresh[f]; x-- > 0;)
        if (fresh[f][x].obj <= i->a) {
          if (fresh[f][x].epoch > k.epoch)
            k.epoch = fresh[f][x].epoch;
          break;
        }
      break;
    }
    case IR_ALOADT:
    case IR_ALOAD:
      k.a = i->a;
      k.b = i->b;
      k.epoch = arr_epoch;
      break;
    case IR_CLOADT:
    case IR_CLOAD:
      k.a = i->a;
      k.epoch = cell_epoch;
      break;
    case IR_ALEN:
      k.a = i->a;
      k.epoch = len_epoch;
      break;
    case IR_FSTORE: {
      uint32_t f = i->b % FIELD_EPOCHS;
      candidate = false;
      if (!is_fresh(T, i->a)) {
        field_epoch[f] = next_epoch++;
        break;
      }
      if (nfresh[f] == FRESH_STORES) {
        if (fresh[f][0].epoch > field_epoch[f])
          field_epoch[f] = fresh[f][0].epoch;
        memmove(&fresh[f][0], &fresh[f][1], (FRESH_STORES - 1) * sizeof fresh[f][0]);
        nfresh[f]--;
      }
      fresh[f][nfresh[f]++] = (fresh_store){i->a, next_epoch++};
      break;
    }
    case IR_ASTORE: arr_epoch = next_epoch++; candidate = false; break;
    case IR_CSTORE: cell_epoch = next_epoch++; candidate = false; break;
    case IR_ASETLEN: len_epoch = next_epoch++; candidate = false; break;
    case IR_SSTORE:
    case IR_LOOP:
    case IR_EXIT:
    case IR_NOP:
    case IR_CALLS:
    case IR_CALLA: candidate = false; break; /* each allocation is a new object */
    case IR_CALLH:
      k.a = i->a;
      k.b = i->b;
      k.k = i->k;
      break;
    default:
      k.a = i->a;
      k.b = (m & 2) ? i->b : 0;
      break;
    }
    if (!candidate)
      continue;
    uint32_t s = (uint32_t)key_hash(&k) & (cap - 1);
    while (vals[s] != JIT_REF_NONE && !key_eq(&keys[s], &k))
      s = (s + 1) & (cap - 1);
    if (vals[s] == JIT_REF_NONE) {
      keys[s] = k;
      vals[s] = r;
    } else {
      /* Same value (or same guard) as vals[s]. */
      map[r] = vals[s];
      i->op = IR_NOP;
      changed = true;
    }
  }
  if (changed) {
    jit_ir_rename(T, map);
    jit_ir_compact(T);
  }
  free(keys);
  free(vals);
  free(map);
}
