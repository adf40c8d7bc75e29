/*
 * bytecode.h — jcvm's register bytecode.
 *
 * Every function has a fixed-size frame of value slots R[0..nslots-1]; the
 * parameters arrive in R[0..nparams-1] (for a method R[0] is self).
 * Instructions are 64 bits wide:
 *
 *    63      56 55            40 39            24 23             8 7       0
 *   +----------+----------------+----------------+----------------+---------+
 *   | reserved |       C        |       B        |       A        |   op    |
 *   +----------+----------------+----------------+----------------+---------+
 *   | reserved |          Bx (unsigned) / sBx (signed)            |   A  |op|
 *
 * A, B, C are 16-bit unsigned; Bx/sBx is the 32-bit field in bits 24..55
 * (overlapping B and C).  Jump offsets (sBx) are relative to the instruction
 * after the jump.  Reserved bits are zero.
 *
 * Operand letters used in the table below (and by the disassembler):
 *   R  register (frame slot)          K  constant table index
 *   N  names table index (field or method name, an interned string)
 *   G  global cell table index        P  nested function prototype index
 *   U  upvalue index                  I  signed integer immediate
 *   J  signed jump offset             n  count
 *   -  unused
 *
 * Back edges: every backward jump is a LOOP or FORLOOP.  Both bump the
 * per-instruction hot counter and call the JIT attachment point in interp.c
 * when it crosses the threshold; no other instruction jumps backwards.
 *
 * Calls: CALL/CALLMETHOD/SUPERCALL put the callee (or the method found) in
 * R[A] and its arguments in R[A+1]...; the callee's frame starts at R[A+1]
 * and its single result is written back to R[A].
 */
#ifndef VM_BYTECODE_H
#define VM_BYTECODE_H

#include <stdint.h>

typedef uint64_t vm_insn;

/* Operand formats. */
typedef enum {
  VM_FMT_NONE, /* no operands */
  VM_FMT_A,    /* A */
  VM_FMT_AB,   /* A B */
  VM_FMT_ABC,  /* A B C */
  VM_FMT_ABX,  /* A Bx (unsigned 32-bit) */
  VM_FMT_ASBX, /* A sBx (signed 32-bit) */
  VM_FMT_SBX   /* sBx only */
} vm_opfmt;

/* X(name, format, operand letters, semantics) */
#define VM_OPCODE_LIST(X)                                                                   \
  /* -- Loads and moves -- */                                                               \
  X(MOVE, AB, "RR", "R[A] = R[B]")                                                          \
  X(LOADK, ABX, "RK", "R[A] = K[Bx]")                                                       \
  X(LOADI, ASBX, "RI", "R[A] = sBx (integer)")                                              \
  X(LOADNIL, A, "R", "R[A] = nil")                                                          \
  X(LOADTRUE, A, "R", "R[A] = true")                                                        \
  X(LOADFALSE, A, "R", "R[A] = false")                                                      \
  /* -- Globals (through cells) and upvalues -- */                                          \
  X(GETGLOBAL, ABX, "RG", "R[A] = G[Bx].value; error 'unknown name' if undefined")          \
  X(SETGLOBAL, ABX, "RG", "G[Bx].value = R[A]; error 'unknown name' if undefined")          \
  X(DEFGLOBAL, ABX, "RG", "G[Bx].value = R[A] (defines the global)")                        \
  X(GETUPVAL, AB, "RU", "R[A] = U[B]")                                                      \
  X(SETUPVAL, AB, "RU", "U[B] = R[A]")                                                      \
  X(CLOSE, A, "R", "close open upvalues for slots >= A")                                    \
  X(CLOSURE, ABX, "RP", "R[A] = new closure of P[Bx]")                                      \
  /* -- Arrays, indexing, fields -- */                                                      \
  X(NEWARRAY, ABX, "Rn", "R[A] = new empty array, capacity hint Bx")                        \
  X(APPEND, AB, "RR", "append R[B] to array R[A]")                                          \
  X(GETINDEX, ABC, "RRR", "R[A] = R[B][R[C]]")                                              \
  X(SETINDEX, ABC, "RRR", "R[A][R[B]] = R[C]")                                              \
  X(GETFIELD, ABC, "RRN", "R[A] = R[B].N[C] (field, else bound method); inline cached")     \
  X(SETFIELD, ABC, "RNR", "R[A].N[B] = R[C]; inline cached")                                \
  /* -- Arithmetic, string, logic -- */                                                     \
  X(ADD, ABC, "RRR", "R[A] = R[B] + R[C]")                                                  \
  X(SUB, ABC, "RRR", "R[A] = R[B] - R[C]")                                                  \
  X(MUL, ABC, "RRR", "R[A] = R[B] * R[C]")                                                  \
  X(DIV, ABC, "RRR", "R[A] = R[B] / R[C] (always float)")                                   \
  X(IDIV, ABC, "RRR", "R[A] = R[B] // R[C] (floor division)")                               \
  X(MOD, ABC, "RRR", "R[A] = R[B] % R[C] (floored modulo)")                                 \
  X(UNM, AB, "RR", "R[A] = -R[B]")                                                          \
  X(NOT, AB, "RR", "R[A] = not R[B]")                                                       \
  X(CONCAT, ABC, "RRR", "R[A] = R[B] .. R[C]")                                              \
  X(EQ, ABC, "RRR", "R[A] = R[B] == R[C]")                                                  \
  X(NE, ABC, "RRR", "R[A] = R[B] != R[C]")                                                  \
  X(LT, ABC, "RRR", "R[A] = R[B] < R[C]")                                                   \
  X(LE, ABC, "RRR", "R[A] = R[B] <= R[C]")                                                  \
  /* -- Control flow -- */                                                                  \
  X(JMP, SBX, "J", "pc += sBx (forward only)")                                              \
  X(JMPT, ASBX, "RJ", "if R[A] is truthy: pc += sBx (forward only)")                        \
  X(JMPF, ASBX, "RJ", "if R[A] is falsy: pc += sBx (forward only)")                         \
  X(LOOP, SBX, "J", "loop back edge: hot counter, then pc += sBx (sBx < 0)")                \
  X(FORPREP, ASBX, "RJ",                                                                    \
    "R[A]=start R[A+1]=limit R[A+2]=step: check types, R[A+3] = R[A]; skip loop "           \
    "(pc += sBx) if empty")                                                                 \
  X(FORLOOP, ASBX, "RJ",                                                                    \
    "back edge: R[A] += R[A+2]; if still before limit: R[A+3] = R[A], hot counter, "        \
    "pc += sBx")                                                                            \
  /* -- Calls -- */                                                                         \
  X(CALL, AB, "Rn", "R[A] = R[A](R[A+1] .. R[A+B])")                                        \
  X(CALLMETHOD, ABC, "RnN", "R[A] = R[A+1].N[C](R[A+2] .. R[A+1+B]) with self = R[A+1]")    \
  X(SUPERCALL, ABC, "RnN",                                                                  \
    "like CALLMETHOD, method looked up from the superclass of the current method's class")  \
  X(RETURN, A, "R", "return R[A]")                                                          \
  X(RETURNNIL, NONE, "", "return nil")                                                      \
  /* -- Classes -- */                                                                       \
  X(NEWCLASS, ABX, "RK", "R[A] = new class named K[Bx]")                                    \
  X(INHERIT, AB, "RR", "class R[A] inherits from class R[B] (fields and methods)")          \
  X(FIELD, ABX, "RN", "declare field N[Bx] on class R[A]")                                  \
  X(METHOD, ABC, "RRN", "class R[A] gets method N[C] = R[B]")

typedef enum {
#define VM_OP_ENUM(name, fmt, ops, doc) VM_OP_##name,
  VM_OPCODE_LIST(VM_OP_ENUM)
#undef VM_OP_ENUM
  VM_OP__COUNT
} vm_opcode;

/* -- Encoding and decoding --------------------------------------------------- */

#define VM_INSN_OP(i) ((unsigned)((i)&0xffu))
#define VM_INSN_A(i) ((unsigned)(((i) >> 8) & 0xffffu))
#define VM_INSN_B(i) ((unsigned)(((i) >> 24) & 0xffffu))
#define VM_INSN_C(i) ((unsigned)(((i) >> 40) & 0xffffu))
#define VM_INSN_BX(i) ((uint32_t)(((i) >> 24) & 0xffffffffu))
#define VM_INSN_SBX(i) ((int32_t)VM_INSN_BX(i))

#define VM_MAX_A 0xffffu
#define VM_MAX_BX 0xffffffffu

static inline vm_insn vm_insn_abc(vm_opcode op, unsigned a, unsigned b, unsigned c)
{
  return (vm_insn)op | ((vm_insn)a << 8) | ((vm_insn)b << 24) | ((vm_insn)c << 40);
}

static inline vm_insn vm_insn_abx(vm_opcode op, unsigned a, uint32_t bx)
{
  return (vm_insn)op | ((vm_insn)a << 8) | ((vm_insn)bx << 24);
}

static inline vm_insn vm_insn_asbx(vm_opcode op, unsigned a, int32_t sbx)
{
  return vm_insn_abx(op, a, (uint32_t)sbx);
}

/* Tables generated from VM_OPCODE_LIST (defined in dump.c). */
extern const char *const vm_op_names[VM_OP__COUNT];
extern const vm_opfmt vm_op_formats[VM_OP__COUNT];
extern const char *const vm_op_operands[VM_OP__COUNT];

#endif /* VM_BYTECODE_H */
