/*
 * value.h — the jcvm value representation.
 *
 * A value is 16 bytes: a 64-bit tag word and a 64-bit payload.  The layout is
 * chosen for the tracing JIT that comes next: a type guard is one load and one
 * compare of the tag word against a small immediate, and unboxing is a plain
 * load of the payload word.  No NaN-boxing, no pointer tagging.
 *
 *   offset 0: tag   (vm_tag, zero-extended to 64 bits)
 *   offset 8: u.i   int64 payload (INT, BOOL: 0 or 1)
 *             u.d   double payload (FLOAT)
 *             u.p   object pointer (STR .. BOUND)
 *
 * The all-zero bit pattern is nil, so calloc'ed memory is a valid array of nils.
 */
#ifndef VM_VALUE_H
#define VM_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tag list: X(enum suffix, user-visible type name).  Order is ABI for the JIT. */
#define VM_TAG_LIST(X)            \
  X(NIL, "nil")                   \
  X(BOOL, "bool")                 \
  X(INT, "int")                   \
  X(FLOAT, "float")               \
  X(STR, "string")                \
  X(ARRAY, "array")               \
  X(FUNC, "function")             \
  X(NATIVE, "builtin")            \
  X(CLASS, "class")               \
  X(INSTANCE, "instance")         \
  X(BOUND, "method")              \
  X(UNDEF, "undefined")

typedef enum {
#define VM_TAG_ENUM(name, str) VM_T_##name,
  VM_TAG_LIST(VM_TAG_ENUM)
#undef VM_TAG_ENUM
  VM_T__COUNT
} vm_tag;

/* VM_T_UNDEF never escapes to user code: it marks a global cell that has been
   referenced by compiled code but not yet defined, so reading it raises
   "unknown name" and a JIT guard on the expected type fails for it too. */

typedef struct vm_value {
  uint64_t tag;
  union {
    int64_t i;
    double d;
    void *p;
  } u;
} vm_value;

_Static_assert(sizeof(vm_value) == 16, "vm_value must stay 16 bytes (JIT ABI)");
_Static_assert(offsetof(vm_value, u) == 8, "payload must sit at offset 8 (JIT ABI)");

/* -- Constructors ---------------------------------------------------------- */

static inline vm_value vm_nil(void) { vm_value v = {VM_T_NIL, {0}}; return v; }
static inline vm_value vm_bool(bool b) { vm_value v = {VM_T_BOOL, {.i = b}}; return v; }
static inline vm_value vm_int(int64_t i) { vm_value v = {VM_T_INT, {.i = i}}; return v; }
static inline vm_value vm_float(double d) { vm_value v = {VM_T_FLOAT, {.d = d}}; return v; }
static inline vm_value vm_objval(vm_tag t, void *p) { vm_value v = {t, {.p = p}}; return v; }

/* -- Predicates ------------------------------------------------------------ */

/* nil and false are falsy; everything else (0, "", [] included) is truthy. */
static inline bool vm_truthy(vm_value v)
{
  return !(v.tag == VM_T_NIL || (v.tag == VM_T_BOOL && v.u.i == 0));
}

/* True for tags whose payload is a heap object pointer. */
static inline bool vm_is_obj(vm_value v) { return v.tag >= VM_T_STR && v.tag <= VM_T_BOUND; }

static inline bool vm_is_number(vm_value v) { return v.tag == VM_T_INT || v.tag == VM_T_FLOAT; }

/* User-visible name of a value's type ("int", "string", ...). */
const char *vm_tag_name(uint64_t tag);

#endif /* VM_VALUE_H */
