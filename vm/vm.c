/*
 * vm.c — VM state lifecycle and the global table.
 */
#include "vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "interp.h"

/* -- Lifecycle --------------------------------------------------------------- */

void vm_init(vm_vm *vm)
{
  memset(vm, 0, sizeof *vm);
  vm->gc_threshold = VM_GC_MIN_THRESHOLD;
  vm->max_heap = VM_DEFAULT_MAX_HEAP;
  vm->jit_hot = VM_JIT_HOT_THRESHOLD;
  /* calloc: all-zero slots are nil, and untouched pages cost nothing. */
  vm->stack = calloc(VM_STACK_SLOTS, sizeof(vm_value));
  vm->frames = calloc(VM_MAX_FRAMES, sizeof(vm_frame));
  if (!vm->stack || !vm->frames) {
    fprintf(stderr, "jcvm: out of memory\n");
    exit(VM_EXIT_RUNTIME);
  }
  vm->stack_hwm = vm->stack;
}

/* Pin the strings the interpreter uses by identity.  Call inside an error
   handler (allocation can fail). */
void vm_init_strings(vm_vm *vm)
{
  for (int i = 0; i < 256; i++) {
    char ch = (char)i;
    vm->char_strs[i] = vm_str_intern(vm, &ch, 1);
  }
  vm->str_init = vm_str_cstr(vm, "init");
}

void vm_free(vm_vm *vm)
{
  vm_gc_free_all(vm);
  vm_table_free(vm, &vm->globals);
  vm_str_table_free(vm);
  vm_buf_free(vm, &vm->fmt);
  free(vm->stack);
  free(vm->frames);
  vm->stack = NULL;
  vm->frames = NULL;
}

/* -- Globals ----------------------------------------------------------------- */

vm_cell *vm_global_cell(vm_vm *vm, vm_string *name)
{
  vm_value v;
  if (vm_table_get(&vm->globals, name, &v))
    return v.u.p;
  vm_cell *c = vm_cell_new(vm, name);
  /* The table holds the cell pointer; the tag is irrelevant (gc.c knows). */
  vm_table_set(vm, &vm->globals, name, vm_objval(VM_T_NIL, c));
  return c;
}

void vm_global_define(vm_vm *vm, const char *name, vm_value v)
{
  /* Paused: the fresh name string is unrooted until the cell is in the table
     (the caller keeps `v` alive). */
  vm_gc_pause(vm);
  vm_cell *c = vm_global_cell(vm, vm_str_cstr(vm, name));
  c->value = v;
  vm_gc_resume(vm);
}
