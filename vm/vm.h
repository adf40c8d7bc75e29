/*
 * vm.h — the VM state shared by every module: heap, value stack, frames,
 * globals, interned strings, error recovery.
 *
 * One vm_vm per interpreter; there is no hidden global state.
 */
#ifndef VM_VM_H
#define VM_VM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "object.h"
#include "value.h"

/* Limits.  Deep recursion is stopped by VM_MAX_FRAMES or by running out of
   value-stack slots, whichever comes first; both report "stack overflow".
   jc-to-jc calls never recurse on the C stack. */
#define VM_MAX_FRAMES 200000
#define VM_STACK_SLOTS (1u << 22) /* 64 MiB of address space, touched lazily */
#define VM_DEFAULT_MAX_HEAP ((size_t)2048 << 20)

/* An activation record of a jc function.  The callee value sits in base[-1]
   and is overwritten by the result on return. */
typedef struct vm_frame {
  vm_func *func;
  const vm_insn *pc; /* next instruction; saved at every dispatch */
  vm_value *base;    /* R[0] */
  uint8_t is_ctor;   /* return self instead of the result (a class call's init) */
} vm_frame;

/* A registered GC root (vm_gc_add_root). */
typedef struct vm_root {
  vm_value *slot; /* slot[0 .. n) */
  size_t n;
  struct vm_root *next;
} vm_root;

/* Error recovery: vm_error_* print the message and longjmp here. */
typedef struct vm_errjmp {
  jmp_buf buf;
  int status; /* process exit status to use: 1 runtime, 2 parse */
} vm_errjmp;

/* Size classes of the small-object pool (gc.c), 16 bytes apart: objects of
   up to 256 bytes. */
#define VM_POOL_CLASSES 16
#define VM_POOL_AHEAD 4 /* chunks populated ahead at most (gc.c) */

struct vm_vm {
  /* -- heap (gc.c) -- */
  vm_obj *objects;       /* every live heap object */
  size_t heap_bytes;     /* bytes currently allocated (objects + side buffers) */
  size_t gc_threshold;   /* collect when heap_bytes exceeds this */
  size_t max_heap;       /* hard limit: "out of memory" beyond it */
  int gc_paused;         /* >0 while the compiler builds unrooted objects */
  size_t gc_count;       /* collections so far */
  uint64_t gc_ns;        /* time spent collecting (gcclock()) */
  vm_obj **gray;         /* mark stack */
  size_t ngray, gray_cap;
  vm_root *roots;        /* vm_gc_add_root */
  void *pool_free[VM_POOL_CLASSES]; /* small-object pool (gc.c): a free
                            list per 16-byte size class */
  uint8_t *pool_bump, *pool_end; /* the part of the newest chunk not carved */
  void *pool_segs;       /* the reservations chunks are carved from, linked */
  uint8_t *pool_seg_next, *pool_seg_end; /* the newest one's part not carved */
  uint8_t *pool_ahead[VM_POOL_AHEAD]; /* the next chunks, oldest first, being
                            populated on libjcache's thread (gc.c) */
  unsigned pool_nahead, pool_taken;

  /* -- strings (object.c) -- */
  vm_string **intern;    /* chained hash buckets, weak (see gc.c) */
  size_t intern_cap, intern_count;
  vm_string *char_strs[256]; /* one-character strings, kept alive */
  vm_string *str_init;       /* "init" */

  /* -- globals -- */
  vm_table globals;      /* name -> cell; the cell pointer is stored in val.u.p */

  /* -- execution (interp.c) -- */
  vm_value *stack;       /* VM_STACK_SLOTS slots */
  vm_frame *frames;      /* VM_MAX_FRAMES frames */
  vm_frame *frame;       /* innermost active frame, or NULL when not running */
  vm_value *stack_hwm;   /* highest frame top since the last collection */
  vm_upval *open_upvals; /* sorted by loc, highest first */
  vm_func *main_func;

  vm_buf fmt;            /* scratch buffer for print/str (owned, so an error
                            mid-format leaks nothing) */

  /* -- JIT attachment point statistics -- */
  uint64_t hotloop_events;

  /* -- the tracing JIT (vm/jit/) -- */
  struct jit_state *jit; /* NULL: interpreter only */
  uint32_t jit_hot;      /* back edges of a loop before its first vm_jit_hotloop
                            (each back edge's ic->hot_limit starts there) */
  uint8_t jit_recording; /* the recorder sees every instruction before it runs */

  /* -- errors -- */
  vm_errjmp *err;
  const char *source_name; /* file being parsed/compiled, for messages */
};

void vm_init(vm_vm *vm);
void vm_init_strings(vm_vm *vm);
void vm_free(vm_vm *vm);

/* Global cell for `name`, created (undefined) on first mention. */
vm_cell *vm_global_cell(vm_vm *vm, vm_string *name);
/* Define a global from C (builtins, args). */
void vm_global_define(vm_vm *vm, const char *name, vm_value v);

#endif /* VM_VM_H */
