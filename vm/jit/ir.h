/*
** vm/jit/ir.h — the trace IR: the contract between recorder, optimizer and
** backend.
**
** A trace is one iteration of a hot loop (or one path from a side exit back
** to the loop head, for a bridge), recorded while the interpreter runs that
** iteration, as a linear SSA IR.  Loop-carried state lives in the VM frame:
** the trace loads the frame slots it reads (SLOAD), keeps every value of the
** iteration in registers, and writes the slots it changed back at the end
** (SSTORE before LOOP), then jumps to its own head.  A guard that fails
** leaves through its snapshot: the exit stub writes the changed slots, the
** exit handler rebuilds inlined call frames and the interpreter resumes at
** the snapshot's pc.
**
**   ref       index of an instruction in the trace's ir[]; every instruction,
**             constants included, lives in this one array.  Constants are
**             interned by the recorder (one KINT per value and type) and never
**             get a register: the backend materialises them at each use.
**   type      IRT_* of the value an instruction produces (for a guard: the
**             type of its operands; for a store: the type of the stored value)
**   tag       vm_tag of a typed load's value or of a stored value (the VM tag
**             word the value has in memory)
**   guard     an instruction with IRF_GUARD: if its condition is false the
**             trace leaves through snapshot `snap`
**
** Values are unboxed: an INT is an int64 in a GPR, a FLT a double in an XMM
** register, a PTR an object pointer in a GPR, a BOOL 0/1 in a GPR.  The VM's
** 16-byte tagged values appear only at loads and stores (tag word at offset
** 0, payload at offset 8, see vm/value.h).
**
** The trace is split at `loopref`: instructions below it form the preamble
** (loop-invariant code hoisted by opt_loop.c, run once per entry), the rest is
** the body that repeats.  Bridges have no preamble (loopref 0), and neither
** have traces that stop: they end with EXIT (leave through a snapshot, the
** interpreter goes on there) instead of LOOP.
**
** What the persistent cache (issue 4) needs is kept from the start:
**   - every green decision on the tape (jit_trace.tape), in recording order;
**   - for every pointer constant, the BIND slot it came from (KPTR's b);
**   - from the backend: where each constant and helper call lands in the
**     machine code (relocs), each exit's patchable jump (exits), and a line
**     table.
*/
#ifndef VM_JIT_IR_H
#define VM_JIT_IR_H

#include <stdbool.h>
#include <stdint.h>

#include "../object.h"
#include "../value.h"

typedef uint32_t jit_ref;
#define JIT_REF_NONE 0xffffffffu

/* -- Types -------------------------------------------------------------------- */

typedef enum {
  IRT_VOID = 0, /* no value (stores, LOOP) */
  IRT_INT,      /* int64 */
  IRT_FLT,      /* double */
  IRT_BOOL,     /* 0 or 1 */
  IRT_PTR,      /* object pointer (string, array, instance, class, func, cell) */
  IRT_NIL       /* the nil value: no register needed */
} jit_type;

/* -- Opcodes ------------------------------------------------------------------- */

/* X(name, operands, meaning).  Operands: r = ref, i = immediate (in a or b),
** k = the 64-bit k field.  Guards compare and exit when the comparison is
** FALSE (they assert that it holds).  For FLT operands the comparisons are
** those of the interpreter's C code: LT, LE and EQ are false for unordered
** operands (a NaN), and GE, GT and NE are their exact negations (so they
** hold for unordered operands): GE(a,b) == !(a < b). */
#define JIT_IR_LIST(X)                                                         \
  /* Constants (a unused; value in k) */                                       \
  X(KINT, "k", "int64 (or bool) constant")                                     \
  X(KFLT, "k", "double constant (bits in k)")                                  \
  X(KPTR, "k", "pointer constant; b = its BIND slot on the tape")              \
  X(KNIL, "", "nil")                                                           \
  /* Frame and memory loads (the tag loads produce IRT_INT) */                 \
  X(SLOADT, "i", "tag of frame slot a (a = slot relative to trace base)")      \
  X(SLOAD, "i", "payload of frame slot a, typed")                              \
  X(FLOADT, "r i", "tag of field b of instance a")                             \
  X(FLOAD, "r i", "payload of field b of instance a, typed")                   \
  X(ALEN, "r", "length of array a")                                            \
  X(ACAP, "r", "capacity of array a (never changes inside a trace)")           \
  X(ALOADT, "r r", "tag of element b of array a (bounds checked before)")      \
  X(ALOAD, "r r", "payload of element b of array a, typed")                    \
  X(CLOADT, "r", "tag of the value of global cell a")                          \
  X(CLOAD, "r", "payload of the value of global cell a, typed")                \
  X(OBJCLASS, "r", "class pointer of instance a")                              \
  X(STRLEN, "r", "length of string a")                                         \
  /* Stores (tag of the stored value in `tag`) */                              \
  X(SSTORE, "i r", "frame slot a = value b")                                   \
  X(FSTORE, "r i r", "field b of instance a = value k (a ref)")                \
  X(ASTORE, "r r r", "element b of array a = value k (a ref)")                 \
  X(CSTORE, "r r", "value of global cell a = value b")                         \
  X(ASETLEN, "r r", "length of array a = b (push/pop within the capacity)")    \
  /* Integer arithmetic (IRF_GUARD on ADD/SUB/MUL/NEG: exit on overflow) */    \
  X(ADD, "r r", "a + b")                                                       \
  X(SUB, "r r", "a - b")                                                       \
  X(MUL, "r r", "a * b")                                                       \
  X(NEG, "r", "-a")                                                            \
  X(BNOT, "r", "bool: 1 - a")                                                  \
  /* Float arithmetic */                                                       \
  X(FADD, "r r", "a + b")                                                      \
  X(FSUB, "r r", "a - b")                                                      \
  X(FMUL, "r r", "a * b")                                                      \
  X(FDIV, "r r", "a / b")                                                      \
  X(FNEG, "r", "-a")                                                           \
  X(FSQRT, "r", "sqrt(a)")                                                     \
  X(I2F, "r", "(double)a")                                                     \
  /* Guards (IRF_GUARD always; operands of one type: INT, FLT, PTR or BOOL) */ \
  X(EQ, "r r", "guard a == b")                                                 \
  X(NE, "r r", "guard a != b")                                                 \
  X(LT, "r r", "guard a < b")                                                  \
  X(GE, "r r", "guard a >= b")                                                 \
  X(LE, "r r", "guard a <= b")                                                 \
  X(GT, "r r", "guard a > b")                                                  \
  X(ULT, "r r", "guard (uint64)a < (uint64)b: bounds checks")                  \
  /* Helper call: pure C function k (JIT_H_*) of the arguments a, b */         \
  X(CALLH, "r r", "call helper k(a, b) (b may be NONE); typed result")         \
  /* Helper call with side effects (output, SIGTRAP): never moved or removed */ \
  X(CALLS, "r r", "call helper k(a, b) for its effect (a, b may be NONE)")    \
  /* Allocating helper call: a guard that exits when the helper returns NULL */ \
  X(CALLA, "r r", "allocate with helper k(a, b); exit (no GC ran) if NULL")    \
  /* Control */                                                                \
  X(LOOP, "", "end of the iteration: jump to the head (a bridge: to its root)") \
  X(EXIT, "", "end of a trace that stops: leave through snapshot `snap`")     \
  X(NOP, "", "removed by an optimizer pass")

typedef enum {
#define JIT_IR_ENUM(name, ops, doc) IR_##name,
  JIT_IR_LIST(JIT_IR_ENUM)
#undef JIT_IR_ENUM
  IR__COUNT
} jit_irop;

extern const char *const jit_ir_names[IR__COUNT];

enum {
  IRF_GUARD = 1u << 0,     /* leaves through `snap` when the condition fails */
  IRF_INVARIANT = 1u << 1, /* set by the LICM pass: hoisted */
  IRF_SINK = 1u << 2,      /* a sunk allocation (opt_sink.c): no code, only
                              rebuilt by the exits whose snapshots name it */
  IRF_BRANCH = 1u << 3     /* a guard on the iteration's path (a condition, a
                              loop's end, a promoted receiver or callee), not
                              on a type or a bound: where a checking iteration
                              leaves a polymorphic loop; asm_x86.c gives it a
                              patch point for the tail after it */
};

typedef struct jit_ins {
  uint8_t op;    /* jit_irop */
  uint8_t type;  /* jit_type of the result (or of the stored / compared value) */
  uint8_t tag;   /* vm_tag of a typed load's or a store's value; KPTR's tag */
  uint8_t flags;
  jit_ref a, b;  /* operands (refs or immediates, see JIT_IR_LIST) */
  uint32_t ord;  /* loops: position in recording order (set by opt_loop,
                    which moves invariants in front) */
  int64_t k;     /* constants; helper index; third operand of FSTORE/ASTORE */
  uint32_t snap; /* guards: snapshot index */
  uint32_t pc;   /* bytecode pc this instruction was recorded at */
  uint32_t line; /* source line of that pc (for the line table) */
} jit_ins;

/* Helpers a CALLH may name.  Pure: they neither allocate nor fail (the
** recorder guards every case that would raise an error before the call). */
#define JIT_HELPER_LIST(X)                                                     \
  X(IDIV, IRT_INT, "jit_h_idiv")   /* floored int division, b != 0, -1 */      \
  X(IMOD, IRT_INT, "jit_h_imod")   /* floored int modulo, b != 0, -1 */        \
  X(FIDIV, IRT_FLT, "jit_h_fidiv") /* floor(a / b), b != 0 */                  \
  X(FMOD, IRT_FLT, "jit_h_fmod")   /* floored float modulo, b != 0 */          \
  X(FLOOR, IRT_FLT, "jit_h_floor") /* floor(a) */                           \
  X(STRCHAR, IRT_PTR, "jit_h_strchar") /* string a[b], b < len (preallocated) */ \
  X(ORD, IRT_INT, "jit_h_ord")         /* first byte of string a (len 1) */   \
  /* Effects (CALLS only) */                                                \
  X(PRINT, IRT_VOID, "jit_h_print")    /* print value (payload a, tag b) */   \
  X(PRINTF, IRT_VOID, "jit_h_printf")  /* print double a */                  \
  X(BREAKPOINT, IRT_VOID, "jit_h_breakpoint") /* raise SIGTRAP */           \
  /* Allocating helpers (CALLA only): never collect; NULL when a collection \
     is due or the heap limit is near, and the trace exits (see jit.c). */  \
  X(NEWARRAY, IRT_PTR, "jit_h_newarray") /* new array of capacity a */      \
  X(CONCAT, IRT_PTR, "jit_h_concat")     /* string a .. string b */            \
  X(NEWINST, IRT_PTR, "jit_h_newinst")   /* instance of class a, fields nil */ \
  X(RESERVE, IRT_PTR, "jit_h_reserve")   /* array a with len < cap (grown) */ \
  X(STR, IRT_PTR, "jit_h_str")           /* str(value): payload a, tag b */    \
  X(STRF, IRT_PTR, "jit_h_strf")         /* str(double a) */             \
  /* Called by exit stubs only (three arguments, see asm_x86.c) */          \
  X(MATERIALIZE, IRT_VOID, "jit_h_materialize") /* rebuild sunk objects */

typedef enum {
#define JIT_H_ENUM(name, type, sym) JIT_H_##name,
  JIT_HELPER_LIST(JIT_H_ENUM)
#undef JIT_H_ENUM
  JIT_H__COUNT
} jit_helper;

/* -- Snapshots ------------------------------------------------------------------ */

/* One frame slot that differs from the frame in memory at a guard.
**
** After allocation sinking (opt_sink.c) a snapshot's entries may also name a
** sunk allocation (a CALLA with IRF_SINK) as a slot's value, and describe
** how to rebuild it: a record header {JIT_SE_OBJ, the CALLA} followed by one
** {JIT_SE_FIELD | f, value, tag} per field f of its class, in field order,
** after the snapshot's slot entries.  A field's value may be another sunk
** allocation, which then has its own record in the same snapshot. */
typedef struct jit_snapent {
  uint32_t slot; /* relative to the trace's base frame (inlined frames above);
                    or JIT_SE_OBJ / JIT_SE_FIELD | field */
  jit_ref ref;   /* value to write (KNIL / constants allowed) */
  uint8_t tag;   /* vm_tag written to the slot's tag word */
} jit_snapent;

#define JIT_SE_OBJ 0xffffffffu   /* header of a sunk allocation's record */
#define JIT_SE_FIELD 0x80000000u /* a field of the record above it */

/* An inlined call frame alive at a guard, outermost first (the trace's own
** frame is implicit). */
typedef struct jit_snapframe {
  vm_func *func;   /* callee (a constant the trace guarded on) */
  uint32_t base;   /* slot of the callee's R[0], relative to the trace base */
  uint32_t ret_pc; /* caller's pc to return to (index in the caller's code) */
  uint8_t ctor;    /* a constructor's init: its RETURN yields self */
} jit_snapframe;

/* A snapshot is laid out as the aux saves it (persist.c, seven words): a
** reloaded trace's snapshots are read where libjcache keeps its aux, never
** decoded.  So every field is a 32-bit word, and what changes while the
** trace runs is kept apart (T->snap_count). */
typedef struct jit_snap {
  uint32_t pc;            /* resume the interpreter at this pc of the innermost
                             frame's code */
  uint32_t frame;         /* T->snapframes[frame .. frame+nframe) */
  uint32_t nframe : 24;
  uint32_t flags : 8;     /* JIT_SNAP_* */
  uint32_t jmp;           /* offset of the exit stub's slot address (the imm64
                             of `movabs rax, slot; jmp [rax]`), or 0; the stub's
                             own way out is JIT_EXIT_CONT bytes on (asm_x86.c) */
  uint32_t mat;           /* its exit program in T->matprog (0: none): the
                             sunk objects the exit rebuilds (opt_sink.c) */
  uint32_t ent, nent;     /* T->snapents[ent .. ent+nent): compiled here only
                             (0 in the aux) */
} jit_snap;

enum {
  JIT_SNAP_GC = 1,  /* the exit of a CALLA that found a collection due: the
                       interpreter redoes the allocation and collects; never
                       starts a bridge */
  JIT_SNAP_END = 2, /* the EXIT of a trace that stops (at a RETURN of its
                       root frame, an inner loop's back edge, an instruction
                       it cannot record): the interpreter goes on from
                       there; never starts a bridge */
  JIT_SNAP_KNOWN = JIT_SNAP_GC | JIT_SNAP_END /* every flag (reload checks) */
};

/* -- Tape (green decisions, for the persistent cache) -------------------------- */

typedef enum { JIT_TAPE_GREEN = 1, JIT_TAPE_BIND = 2, JIT_TAPE_GUARD = 3 } jit_tapeop;

/* Where the object of a GREEN decision or a BIND comes from, so that a lazy
** bridge can be bound without a checking iteration (vm/jit/static.c): from
** the parent's exit, the code objects of the bridge's frames, and values the
** machine code guards anyway.  `fs` names a code object: the function bound
** in that BIND slot of the same trace, or JIT_O_ROOT for the root frame's. */
typedef enum {
  JIT_O_NONE = 0, /* not derivable: the bridge needs its checking iteration */
  JIT_O_FRAME,    /* a = d: the function of inlined frame d at the parent's exit */
  JIT_O_CONST,    /* a = fs, b = k: string constant k of fs's code */
  JIT_O_CELL,     /* a = fs, b = k: global cell k of fs's code */
  JIT_O_CELLVAL,  /* a = BIND slot of a cell: the value the cell holds now
                     (a promoted value: the code compares it) */
  JIT_O_PARENT,   /* a = a BIND slot of the parent: the object bound there
                     (a promoted value: the code compares it) */
  JIT_O_BIND,     /* a = an earlier BIND slot of this trace: its object */
  JIT_O_METHOD,   /* a = class BIND slot, b = fs, c = k: the method named
                     fs's code name k on that class */
  JIT_O_INIT,     /* a = class BIND slot: its init method (or none: GREEN fp 0) */
  JIT_O_SUPER,    /* a = fs, b = k: the method named fs's code name k on the
                     superclass of the owner of fs's function */
  JIT_O_MAINCELL  /* a = k: the value global cell k of the main chunk's code
                     holds now (a promoted value: a class or function defined
                     at top level) */
} jit_origin_kind;

#define JIT_O_ROOT 0xffffffffu

typedef struct jit_origin {
  uint8_t kind; /* jit_origin_kind */
  uint32_t a, b, c;
} jit_origin;

typedef struct jit_tapeent {
  uint8_t op;    /* jit_tapeop */
  uint16_t kind; /* GREEN: what was decided (JIT_GREEN_*) */
  uint32_t site; /* GREEN: a site number (code-object hash ^ pc);
                    GUARD: snapshot (exit) number */
  uint64_t fp;   /* GREEN: fingerprint of the decision; BIND: slot number;
                    GUARD: fingerprint of the guard's outcome (its condition
                    and constant operands: see guard_outcome in record.c) */
  jit_origin org; /* GREEN, BIND: where its object comes from */
} jit_tapeent;

enum {
  JIT_GREEN_CLASS = 1, /* promoted receiver class: fp = class fingerprint */
  JIT_GREEN_CALLEE,    /* inlined callee: fp = hash of its code object */
  JIT_GREEN_METHOD,    /* method found on a promoted class: fp = code hash */
  JIT_GREEN_GLOBAL,    /* global cell looked up: fp = hash of its name */
  JIT_GREEN_CONST,     /* constant loaded from a code object: fp = value hash */
  JIT_GREEN_BUILTIN,   /* builtin called: fp = hash of its name */
  JIT_GREEN_SUPER      /* method found on the superclass of the caller's
                          owner (a super call): fp = code hash */
};

#endif
