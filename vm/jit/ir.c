/*
** vm/jit/ir.c — IR tables, the --dump-ir printer, and renaming/compaction
** shared by the optimizer passes.
*/
#include <stdlib.h>
#include <string.h>

#include "jit.h"

const char *const jit_ir_names[IR__COUNT] = {
#define JIT_IR_NAME(name, ops, doc) #name,
    JIT_IR_LIST(JIT_IR_NAME)
#undef JIT_IR_NAME
};

/* Which fields of an instruction are refs: bit 0 a, bit 1 b, bit 2 k. */
uint8_t jit_ir_refmask(const jit_ins *i)
{
  switch (i->op) {
  case IR_KINT:
  case IR_KFLT:
  case IR_KPTR:
  case IR_KNIL:
  case IR_SLOADT:
  case IR_SLOAD:
  case IR_LOOP:
  case IR_EXIT:
  case IR_NOP: return 0;
  case IR_FLOADT:
  case IR_FLOAD:
  case IR_ALEN:
  case IR_ACAP:
  case IR_CLOADT:
  case IR_CLOAD:
  case IR_OBJCLASS:
  case IR_STRLEN:
  case IR_NEG:
  case IR_BNOT:
  case IR_FNEG:
  case IR_FSQRT:
  case IR_I2F: return 1;
  case IR_SSTORE: return 2;
  case IR_FSTORE: return 1 | 4;
  case IR_ASTORE: return 1 | 2 | 4;
  case IR_CALLH:
  case IR_CALLA: return i->b == JIT_REF_NONE ? 1 : 3;
  case IR_CALLS: return (i->a != JIT_REF_NONE ? 1 : 0) | (i->b != JIT_REF_NONE ? 2 : 0);
  default: return 3;
  }
}

static const char *type_name(uint8_t t)
{
  static const char *const n[] = {"   ", "int", "flt", "bol", "ptr", "nil"};
  return t < 6 ? n[t] : "???";
}

static void dump_ref(const jit_trace *T, jit_ref r, FILE *out)
{
  if (r == JIT_REF_NONE) {
    fprintf(out, " ----");
    return;
  }
  const jit_ins *k = &T->ir[r];
  switch (k->op) {
  case IR_KINT: fprintf(out, " %s%lld", k->type == IRT_BOOL ? "b" : "#", (long long)k->k); break;
  case IR_KFLT: {
    double d;
    memcpy(&d, &k->k, sizeof d);
    fprintf(out, " %.17g", d);
    break;
  }
  case IR_KPTR: fprintf(out, " [%s %p]", vm_tag_name(k->tag), (void *)(intptr_t)k->k); break;
  case IR_KNIL: fprintf(out, " nil"); break;
  default: fprintf(out, " %04u", r); break;
  }
}

void jit_dump_trace(const jit_trace *T, FILE *out, const char *when)
{
  vm_code *c = T->code;
  fprintf(out, "---- %s %s: %s:%u (%s, head pc %u)%s", T->parent ? "bridge" : "loop", when,
          c->source->chars, c->lines[T->head_pc], c->name->chars, T->head_pc,
          T->parent ? "" : "\n");
  if (T->parent)
    fprintf(out, " from exit %u of trace %u\n", T->parent_snap, T->parent->id);
  for (uint32_t r = 0; r < T->nir; r++) {
    const jit_ins *i = &T->ir[r];
    if (jit_is_const(i))
      continue;
    if (r == T->loopref && T->loopref)
      fprintf(out, "     ---- loop ----\n");
    /* ^ hoisted into the preamble, } a sunk allocation (no code: the
    ** snapshots that name it rebuild it, see below). */
    fprintf(out, "%04u %s %c %-8s", r, type_name(i->type),
            (i->flags & IRF_SINK) ? '}' : (i->flags & IRF_INVARIANT) ? '^' : ' ',
            jit_ir_names[i->op]);
    uint8_t m = jit_ir_refmask(i);
    switch (i->op) {
    case IR_SLOADT:
    case IR_SLOAD: fprintf(out, " slot %u", i->a); break;
    case IR_SSTORE: fprintf(out, " slot %u", i->a); break;
    case IR_FLOADT:
    case IR_FLOAD:
    case IR_FSTORE:
      dump_ref(T, i->a, out);
      fprintf(out, " field %u", i->b);
      break;
    case IR_CALLH:
    case IR_CALLS:
    case IR_CALLA: fprintf(out, " %s", jit_helper_names[i->k]); break;
    default: break;
    }
    if (m & 1 && i->op != IR_FLOADT && i->op != IR_FLOAD && i->op != IR_FSTORE)
      dump_ref(T, i->a, out);
    if (m & 2)
      dump_ref(T, i->b, out);
    if (m & 4)
      dump_ref(T, (jit_ref)i->k, out);
    if (i->op == IR_SLOAD || i->op == IR_FLOAD || i->op == IR_ALOAD || i->op == IR_CLOAD ||
        (m & 4) || i->op == IR_SSTORE || i->op == IR_CSTORE)
      fprintf(out, " (%s)", vm_tag_name(i->tag));
    if (i->flags & IRF_GUARD)
      fprintf(out, "  >snap %u", i->snap);
    fprintf(out, "   ; line %u\n", i->line);
  }
  for (uint32_t s = 0; s < T->nsnap; s++) {
    const jit_snap *sn = &T->snaps[s];
    fprintf(out, "  snap %u: pc %u [", s, sn->pc);
    /* Slot entries (a sunk object's slot shows }ref), then the records that
    ** rebuild sunk objects: ref={Class field=value ...}. */
    const char *sep = "";
    const vm_class *cls = NULL;
    for (uint32_t e = 0; e < sn->nent; e++) {
      const jit_snapent *en = &T->snapents[sn->ent + e];
      if (en->slot == JIT_SE_OBJ) {
        const jit_ins *a = &T->ir[T->ir[en->ref].a];
        cls = a->op == IR_KPTR ? (const vm_class *)(intptr_t)a->k : NULL;
        fprintf(out, "%s %04u={%s", e && (en[-1].slot & JIT_SE_FIELD) ? "}" : " ]", en->ref,
                cls ? cls->name->chars : "?");
        sep = " ";
        continue;
      }
      if (en->slot & JIT_SE_FIELD) {
        uint32_t f = en->slot & ~JIT_SE_FIELD;
        fprintf(out, " %s=", cls && f < cls->nfields ? cls->field_names[f]->chars : "?");
        if (en->tag == VM_T_NIL)
          fprintf(out, "nil");
        else
          dump_ref(T, en->ref, out);
        continue;
      }
      fprintf(out, "%s%u=%s", sep, en->slot, (T->ir[en->ref].flags & IRF_SINK) ? "}" : "");
      dump_ref(T, en->ref, out);
      sep = " ";
    }
    if (cls)
      fprintf(out, "}");
    else
      fprintf(out, " ]");
    for (uint32_t f = 0; f < sn->nframe; f++) {
      const jit_snapframe *fr = &T->snapframes[sn->frame + f];
      fprintf(out, " {%s base %u ret %u}", fr->func->code->name->chars, fr->base, fr->ret_pc);
    }
    fprintf(out, "\n");
  }
}

/* -- Renaming and compaction ------------------------------------------------------- */

void jit_ir_rename(jit_trace *T, const jit_ref *map)
{
  for (uint32_t r = 0; r < T->nir; r++) {
    jit_ins *i = &T->ir[r];
    uint8_t m = jit_ir_refmask(i);
    if (m & 1)
      i->a = map[i->a];
    if (m & 2)
      i->b = map[i->b];
    if (m & 4)
      i->k = map[i->k];
  }
  /* Only the entries snapshots still own (DCE drops unused snapshots'). */
  for (uint32_t s = 0; s < T->nsnap; s++)
    for (uint32_t e = 0; e < T->snaps[s].nent; e++) {
      jit_snapent *en = &T->snapents[T->snaps[s].ent + e];
      en->ref = map[en->ref];
    }
}

void jit_ir_compact(jit_trace *T)
{
  jit_ref *map = calloc(T->nir ? T->nir : 1, sizeof *map);
  if (!map)
    return;
  uint32_t n = 0, loop = 0;
  for (uint32_t r = 0; r < T->nir; r++) {
    if (r == T->loopref)
      loop = n;
    map[r] = n;
    if (T->ir[r].op != IR_NOP)
      n++;
  }
  if (T->loopref >= T->nir)
    loop = n;
  jit_ir_rename(T, map);
  n = 0;
  for (uint32_t r = 0; r < T->nir; r++)
    if (T->ir[r].op != IR_NOP)
      T->ir[n++] = T->ir[r];
  T->nir = n;
  T->loopref = T->loopref ? loop : 0;
  free(map);
}
