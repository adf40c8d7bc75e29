/*
 * interp.h — the bytecode interpreter.
 */
#ifndef VM_INTERP_H
#define VM_INTERP_H

#include "vm.h"

/* Back-edge executions of one loop before the JIT attachment point is
   called (and again every this many after). */
#define VM_JIT_HOT_THRESHOLD 1000

/* Run a main function (no parameters) to completion.  Runtime errors go
   through vm_error_runtime. */
void vm_interp_run(vm_vm *vm, vm_func *main_fn);

/* JIT attachment point: called by LOOP and FORLOOP (`pc` points at the back
   edge instruction) each time the loop's hot counter crosses vm->jit_hot
   (VM_JIT_HOT_THRESHOLD unless set by a flag); hands the loop to the tracing
   JIT (vm/jit/jit.h) when there is one. */
void vm_jit_hotloop(vm_vm *vm, vm_frame *frame, const vm_insn *pc);

#endif /* VM_INTERP_H */
