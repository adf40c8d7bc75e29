/*
 * dump.c — bytecode disassembler and the opcode tables generated from
 * VM_OPCODE_LIST.
 *
 * Output, per function:
 *
 *   function Point.init (prog.jc:3) params=3 slots=4 upvalues=0
 *     constants: 0=1.5 1="hi"
 *     names: 0=x 1=y
 *     globals: 0=print
 *     0000  [   4] SETFIELD     0 0 1        ; .x
 *
 * Each instruction line shows pc, source line, opcode, its operands (in the
 * order of the format letters in bytecode.h) and a comment resolving
 * constants, names, globals and jump targets.
 */
#include "dump.h"

#include <inttypes.h>
#include <string.h>

#include "bytecode.h"
#include "vm.h"

const char *const vm_op_names[VM_OP__COUNT] = {
#define VM_OP_NAME(name, fmt, ops, doc) #name,
    VM_OPCODE_LIST(VM_OP_NAME)
#undef VM_OP_NAME
};

const vm_opfmt vm_op_formats[VM_OP__COUNT] = {
#define VM_OP_FMT(name, fmt, ops, doc) VM_FMT_##fmt,
    VM_OPCODE_LIST(VM_OP_FMT)
#undef VM_OP_FMT
};

const char *const vm_op_operands[VM_OP__COUNT] = {
#define VM_OP_OPS(name, fmt, ops, doc) ops,
    VM_OPCODE_LIST(VM_OP_OPS)
#undef VM_OP_OPS
};

/* Format a constant the way a literal would be written (long strings cut). */
static void format_const(vm_value v, char *buf, size_t n)
{
  switch (v.tag) {
  case VM_T_INT: snprintf(buf, n, "%" PRId64, v.u.i); break;
  case VM_T_FLOAT: {
    char f[32];
    vm_format_float(f, v.u.d);
    snprintf(buf, n, "%s", f);
    break;
  }
  case VM_T_STR: {
    const vm_string *s = v.u.p;
    size_t k = 0;
    buf[k++] = '"';
    for (size_t i = 0; i < s->len && k + 6 < n; i++) {
      unsigned char c = (unsigned char)s->chars[i];
      if (i == 40) {
        k += (size_t)snprintf(buf + k, n - k, "...");
        break;
      }
      if (c == '"' || c == '\\')
        k += (size_t)snprintf(buf + k, n - k, "\\%c", c);
      else if (c < 32 || c >= 127)
        k += (size_t)snprintf(buf + k, n - k, "\\x%02x", c);
      else
        buf[k++] = (char)c;
    }
    snprintf(buf + k, n - k, "\"");
    break;
  }
  default: snprintf(buf, n, "<%s>", vm_tag_name(v.tag)); break;
  }
}

static void dump_insn(const vm_code *code, uint32_t pc, FILE *out)
{
  vm_insn i = code->insns[pc];
  unsigned op = VM_INSN_OP(i);
  if (op >= VM_OP__COUNT) {
    fprintf(out, "  %04u  [%4u] <bad opcode %u>\n", pc, code->lines[pc], op);
    return;
  }
  int64_t ops[3];
  int nops = 0;
  switch (vm_op_formats[op]) {
  case VM_FMT_NONE: break;
  case VM_FMT_A: ops[nops++] = VM_INSN_A(i); break;
  case VM_FMT_AB: ops[nops++] = VM_INSN_A(i); ops[nops++] = VM_INSN_B(i); break;
  case VM_FMT_ABC:
    ops[nops++] = VM_INSN_A(i); ops[nops++] = VM_INSN_B(i); ops[nops++] = VM_INSN_C(i);
    break;
  case VM_FMT_ABX: ops[nops++] = VM_INSN_A(i); ops[nops++] = VM_INSN_BX(i); break;
  case VM_FMT_ASBX: ops[nops++] = VM_INSN_A(i); ops[nops++] = VM_INSN_SBX(i); break;
  case VM_FMT_SBX: ops[nops++] = VM_INSN_SBX(i); break;
  }
  char operands[64] = "";
  size_t len = 0;
  for (int k = 0; k < nops; k++)
    len += (size_t)snprintf(operands + len, sizeof operands - len, k ? " %" PRId64 : "%" PRId64, ops[k]);

  /* Resolve the operands that name table entries or jump targets. */
  char note[160] = "";
  size_t nl = 0;
  const char *letters = vm_op_operands[op];
  for (int k = 0; k < nops && letters[k] && nl < sizeof note - 1; k++) {
    int64_t x = ops[k];
    const char *sep = nl ? " " : "";
    char val[64] = "";
    switch (letters[k]) {
    case 'K':
      if (x >= 0 && (uint64_t)x < code->nconsts)
        format_const(code->consts[x], val, sizeof val);
      break;
    case 'N':
      if (x >= 0 && (uint64_t)x < code->nnames)
        snprintf(val, sizeof val, ".%s", code->names[x]->chars);
      break;
    case 'G':
      if (x >= 0 && (uint64_t)x < code->ncells)
        snprintf(val, sizeof val, "%s", code->cells[x]->name->chars);
      break;
    case 'P':
      if (x >= 0 && (uint64_t)x < code->nprotos)
        snprintf(val, sizeof val, "<fn %s>", code->protos[x]->name->chars);
      break;
    case 'J':
      snprintf(val, sizeof val, "to %04" PRId64, (int64_t)pc + 1 + x);
      break;
    default: break;
    }
    if (val[0])
      nl += (size_t)snprintf(note + nl, sizeof note - nl, "%s%s", sep, val);
  }
  if (note[0])
    fprintf(out, "  %04u  [%4u] %-11s %-14s ; %s\n", pc, code->lines[pc], vm_op_names[op], operands, note);
  else if (operands[0])
    fprintf(out, "  %04u  [%4u] %-11s %s\n", pc, code->lines[pc], vm_op_names[op], operands);
  else
    fprintf(out, "  %04u  [%4u] %s\n", pc, code->lines[pc], vm_op_names[op]);
}

void vm_dump_code(const vm_code *code, FILE *out)
{
  fprintf(out, "function %s (%s:%u) params=%u slots=%u upvalues=%u\n", code->name->chars,
          code->source->chars, code->line, code->nparams, code->nslots, code->nupvals);
  if (code->nconsts) {
    fputs("  constants:", out);
    for (uint32_t k = 0; k < code->nconsts; k++) {
      char val[64];
      format_const(code->consts[k], val, sizeof val);
      fprintf(out, " %u=%s", k, val);
    }
    fputc('\n', out);
  }
  if (code->nnames) {
    fputs("  names:", out);
    for (uint32_t k = 0; k < code->nnames; k++)
      fprintf(out, " %u=%s", k, code->names[k]->chars);
    fputc('\n', out);
  }
  if (code->ncells) {
    fputs("  globals:", out);
    for (uint32_t k = 0; k < code->ncells; k++)
      fprintf(out, " %u=%s", k, code->cells[k]->name->chars);
    fputc('\n', out);
  }
  if (code->nupvals) {
    fputs("  upvalues:", out);
    for (uint32_t k = 0; k < code->nupvals; k++)
      fprintf(out, " %u=%s%u", k, code->upvals[k].from_local ? "local " : "upval ", code->upvals[k].index);
    fputc('\n', out);
  }
  for (uint32_t pc = 0; pc < code->ninsns; pc++)
    dump_insn(code, pc, out);
  for (uint32_t k = 0; k < code->nprotos; k++) {
    fputc('\n', out);
    vm_dump_code(code->protos[k], out);
  }
}
