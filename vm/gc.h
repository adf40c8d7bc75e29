/*
 * gc.h — the non-moving mark-sweep collector and heap accounting.
 *
 * Objects never move, so a pointer held by compiled code stays valid as long
 * as the object is reachable.  Roots: the value stack up to the highest
 * active frame, the frames' functions, the open upvalues, the global table
 * (names and cells), the main function, the VM's pinned strings, and every
 * slot registered with vm_gc_add_root.  Code objects keep their constants,
 * names, cells, prototypes and inline-cached classes alive.  The intern table
 * is weak: unmarked strings are removed from it before the sweep.
 *
 * A collection runs when the bytes allocated exceed a threshold, which is
 * reset to twice the live heap after each collection (never below
 * VM_GC_MIN_THRESHOLD), so heap size stays proportional to live data.
 */
#ifndef VM_GC_H
#define VM_GC_H

#include <stddef.h>

#include "object.h"

typedef struct vm_vm vm_vm;
typedef struct vm_root vm_root;

#define VM_GC_MIN_THRESHOLD ((size_t)4 << 20)

/* Allocate a zeroed object of `size` bytes and link it into the heap.  May
   collect first; every object the caller still needs must be rooted. */
void *vm_gc_alloc(vm_vm *vm, vm_objkind kind, size_t size);
/* Give an object's memory back (the sweep, through vm_object_free). */
void vm_gc_release(vm_vm *vm, vm_obj *o);

/* Resize a side buffer (array items, tables, code arrays) and account for it.
   Never collects, so it is safe while objects are unrooted; raises
   "out of memory" past the heap limit.  new_size 0 frees. */
void *vm_mem_realloc(vm_vm *vm, void *p, size_t old_size, size_t new_size);

/* Collect now if the allocation volume says so (call only with all live
   objects rooted). */
void vm_gc_step(vm_vm *vm);

/* Run a full collection. */
void vm_gc_collect(vm_vm *vm);

/* Register / unregister a value slot as a root (for the JIT and for C code
   holding values across allocations).  The slot must stay valid until it is
   removed.  Removing a slot that was never added is a no-op. */
void vm_gc_add_root(vm_vm *vm, vm_value *slot);
void vm_gc_remove_root(vm_vm *vm, vm_value *slot);
/* The n slots from `slots` on, as one root (a trace's constants): its
** entries may change while registered; removed with vm_gc_remove_root. */
void vm_gc_add_roots(vm_vm *vm, vm_value *slots, size_t n);
/* The same in list entry r, the caller's memory (inside a JIT trace: no
** allocation on a reload); unlinked with vm_gc_unlink_roots before r goes
** (never vm_gc_remove_root, which frees). */
void vm_gc_link_roots(vm_vm *vm, vm_root *r, vm_value *slots, size_t n);
void vm_gc_unlink_roots(vm_vm *vm, vm_root *r);

/* Pause / resume collection (the compiler builds objects that are not yet
   reachable from any root).  Nests. */
void vm_gc_pause(vm_vm *vm);
void vm_gc_resume(vm_vm *vm);

/* Free every object (VM teardown). */
void vm_gc_free_all(vm_vm *vm);

#endif /* VM_GC_H */
