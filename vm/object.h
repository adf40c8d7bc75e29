/*
 * object.h — heap object layouts: strings, arrays, classes, instances,
 * functions (closures), builtins, bound methods, global cells, upvalues and
 * code objects; plus the string-keyed hash table they share.
 *
 * Every heap object starts with a vm_obj header that links it into the GC's
 * all-objects list.  Layouts are plain C structs so the JIT can address fields
 * with offsetof(); do not reorder fields without telling the JIT.
 */
#ifndef VM_OBJECT_H
#define VM_OBJECT_H

#include "bytecode.h"
#include "value.h"

typedef struct vm_vm vm_vm;

/* Object kinds, for the GC (values carry their own tag, see value.h). */
typedef enum {
  VM_O_STRING,
  VM_O_ARRAY,
  VM_O_FUNC,
  VM_O_NATIVE,
  VM_O_CLASS,
  VM_O_INSTANCE,
  VM_O_BOUND,
  VM_O_CODE,
  VM_O_CELL,
  VM_O_UPVAL
} vm_objkind;

typedef struct vm_obj {
  struct vm_obj *gc_next; /* all-objects list, swept by the GC */
  uint8_t kind;           /* vm_objkind */
  uint8_t marked;
  uint8_t pool_class;     /* gc.c: 1 + size class if from the pool, 0 if malloc'd */
} vm_obj;

/* -- Strings --------------------------------------------------------------- */

/* Immutable and always interned: two strings are equal iff their pointers are
   equal.  chars[] is NUL-terminated for convenience but may contain NULs. */
typedef struct vm_string {
  vm_obj hdr;
  struct vm_string *intern_next; /* chain in the intern table */
  uint64_t hash;
  size_t len;
  char chars[];
} vm_string;

/* -- String-keyed table ---------------------------------------------------- */

/* Open addressing keyed by interned string pointer.  Entries are never
   removed: classes, method tables and the global table only grow. */
typedef struct vm_table_entry {
  vm_string *key; /* NULL = empty */
  vm_value val;
} vm_table_entry;

typedef struct vm_table {
  vm_table_entry *entries;
  uint32_t cap; /* power of two, or 0 */
  uint32_t count;
} vm_table;

/* -- Arrays ---------------------------------------------------------------- */

typedef struct vm_array {
  vm_obj hdr;
  vm_value *items;
  size_t len, cap;
} vm_array;

/* -- Classes and instances ------------------------------------------------- */

/* A class's layout is fixed once its class statement has run: field slots are
   numbered with inherited fields first, so a subclass instance can be used
   wherever a superclass instance is (same slot numbers).  `methods` holds the
   class's own methods plus every inherited one not overridden (copied down at
   INHERIT time), so lookup is a single probe and the result for a given
   (class, name) never changes — a JIT may treat it as a constant once the
   class is known. */
typedef struct vm_class {
  vm_obj hdr;
  vm_string *name;
  struct vm_class *super; /* NULL for a root class */
  uint32_t nfields;
  uint32_t field_cap;
  vm_string **field_names; /* slot -> name */
  vm_table fields;         /* name -> int slot */
  vm_table methods;        /* name -> FUNC value */
  uint64_t jit_fp;         /* the JIT's fingerprint of the layout (jit_hash_class), */
  uint32_t jit_fp_nfields; /* cached for this many fields (0: not yet) */
} vm_class;

typedef struct vm_instance {
  vm_obj hdr;
  vm_class *cls;
  uint32_t nfields;
  vm_value fields[]; /* inline, in slot order */
} vm_instance;

/* -- Code objects ---------------------------------------------------------- */

/* Where a closure's upvalue comes from when CLOSURE runs. */
typedef struct vm_upvaldesc {
  uint8_t from_local; /* 1: enclosing frame's slot `index`; 0: enclosing closure's upvalue `index` */
  uint16_t index;
} vm_upvaldesc;

/* Per-instruction side data for the interpreter's inline caches and the loop
   hot counters (indexed by pc).  `cls` is a strong reference (marked by the GC)
   so a cached class can never be freed and its address reused. */
typedef struct vm_icache {
  struct vm_class *cls; /* GETFIELD/SETFIELD/CALLMETHOD: receiver class seen */
  void *target;         /* CALLMETHOD: vm_func found for cls, or NULL if it is a field */
  union {
    uint32_t slot;      /* GETFIELD/SETFIELD: field slot for cls */
    uint32_t hot_limit; /* LOOP/FORLOOP: back edges until the next JIT hook call
                           (vm->jit_hot at first; the JIT sets it after) */
  };
  uint32_t hot;         /* LOOP/FORLOOP: back-edge counter for the JIT hook */
} vm_icache;

typedef struct vm_code {
  vm_obj hdr;
  vm_string *name;   /* "f", "Point.init", "<main>", "<anonymous>" */
  vm_string *source; /* source file name as given on the command line */
  uint32_t line;     /* line of the definition */
  uint16_t nparams;  /* including self for methods */
  uint16_t nslots;   /* frame size in value slots */
  uint8_t is_method;

  vm_insn *insns;
  uint32_t *lines; /* lines[pc] = source line of insns[pc] */
  vm_icache *ic;   /* ic[pc], allocated when the code is finished */
  uint32_t ninsns, insns_cap;

  vm_value *consts; /* K: ints, floats, strings */
  uint32_t nconsts, consts_cap;
  vm_string **names; /* N: field/method names */
  uint32_t nnames, names_cap;
  struct vm_cell **cells; /* G: global cells */
  uint32_t ncells, cells_cap;
  struct vm_code **protos; /* P: nested functions */
  uint32_t nprotos, protos_cap;
  vm_upvaldesc *upvals; /* U: how to capture each upvalue */
  uint32_t nupvals, upvals_cap;

  uint64_t jit_hash; /* content hash for the JIT and its cache; 0: not computed */
  uint64_t *jit_live;     /* register liveness (vm/jit/live.c): a bitset per pc */
  uint8_t jit_live_state; /* 0: not computed, 1: jit_live valid, 2: unavailable */
} vm_code;

/* -- Functions, upvalues, builtins, bound methods, cells ------------------- */

/* An upvalue is open while the captured variable still lives in a frame
   (loc points into the value stack) and closed once that frame is gone
   (loc points at `closed`). */
typedef struct vm_upval {
  vm_obj hdr;
  vm_value *loc;
  vm_value closed;
  struct vm_upval *open_next; /* open list, sorted by loc, highest first */
} vm_upval;

typedef struct vm_func {
  vm_obj hdr;
  vm_code *code;
  vm_class *owner; /* class the method was defined in (for super), or NULL */
  uint32_t nupvals;
  vm_upval *upvals[];
} vm_func;

/* A builtin.  Natives get their arguments in place on the value stack and
   report errors through vm_error_runtime (which does not return). */
typedef vm_value (*vm_native_fn)(vm_vm *vm, vm_value *args, int nargs);

typedef struct vm_native {
  vm_obj hdr;
  vm_string *name;
  vm_native_fn fn;
  int arity; /* -1: variadic */
} vm_native;

/* `obj.method` read as a value: calling it passes obj as self. */
typedef struct vm_bound {
  vm_obj hdr;
  vm_value self;
  vm_func *method;
} vm_bound;

/* One per global name, created the first time any code mentions the name, so
   compiled code can hold the cell pointer instead of looking the name up. */
typedef struct vm_cell {
  vm_obj hdr;
  vm_string *name;
  vm_value value; /* VM_T_UNDEF until defined */
} vm_cell;

/* -- Strings API ----------------------------------------------------------- */

vm_string *vm_str_intern(vm_vm *vm, const char *chars, size_t len);
vm_string *vm_str_cstr(vm_vm *vm, const char *s);
vm_string *vm_str_concat(vm_vm *vm, vm_string *a, vm_string *b);
void vm_str_table_free(vm_vm *vm);
void vm_str_sweep_interned(vm_vm *vm); /* drop unmarked strings (GC) */

/* -- Table API ------------------------------------------------------------- */

bool vm_table_get(const vm_table *t, vm_string *key, vm_value *out);
void vm_table_set(vm_vm *vm, vm_table *t, vm_string *key, vm_value val);
void vm_table_free(vm_vm *vm, vm_table *t);

/* -- Constructors ---------------------------------------------------------- */

vm_array *vm_array_new(vm_vm *vm, size_t cap);
void vm_array_push(vm_vm *vm, vm_array *a, vm_value v);
vm_class *vm_class_new(vm_vm *vm, vm_string *name);
void vm_class_inherit(vm_vm *vm, vm_class *c, vm_class *super);
bool vm_class_add_field(vm_vm *vm, vm_class *c, vm_string *name);
bool vm_class_field_slot(const vm_class *c, vm_string *name, uint32_t *slot);
vm_func *vm_class_find_method(const vm_class *c, vm_string *name);
vm_instance *vm_instance_new(vm_vm *vm, vm_class *c);
vm_code *vm_code_new(vm_vm *vm, vm_string *name, vm_string *source, uint32_t line);
vm_func *vm_func_new(vm_vm *vm, vm_code *code);
vm_upval *vm_upval_new(vm_vm *vm, vm_value *loc);
vm_native *vm_native_new(vm_vm *vm, vm_string *name, vm_native_fn fn, int arity);
vm_bound *vm_bound_new(vm_vm *vm, vm_value self, vm_func *method);
vm_cell *vm_cell_new(vm_vm *vm, vm_string *name);

/* Free one object and its side buffers (GC sweep and VM teardown). */
void vm_object_free(vm_vm *vm, vm_obj *o);

/* -- Printing -------------------------------------------------------------- */

/* Append the printed form of v (as print() and str() show it) to a growable
   buffer; strings nested in arrays are quoted. */
typedef struct vm_buf {
  char *data;
  size_t len, cap;
} vm_buf;

void vm_buf_append(vm_vm *vm, vm_buf *b, const char *s, size_t n);
void vm_buf_free(vm_vm *vm, vm_buf *b);
void vm_value_format(vm_vm *vm, vm_buf *b, vm_value v, bool quote, int depth);
void vm_format_float(char out[32], double d);

/* Equality used by == and !=: numbers by value (1 == 1.0), everything else by
   identity (strings are interned, so that is content equality). */
bool vm_value_equal(vm_value a, vm_value b);

#endif /* VM_OBJECT_H */
