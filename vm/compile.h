/*
 * compile.h — the bytecode compiler: syntax tree to code objects.
 */
#ifndef VM_COMPILE_H
#define VM_COMPILE_H

#include "ast.h"

/* Compile a parsed program into its main function.  The caller pauses the
   GC around parsing and compilation.  Errors go through vm_error_parse. */
vm_func *vm_compile_program(vm_vm *vm, vm_arena *arena, vm_node *prog, const char *source);

#endif /* VM_COMPILE_H */
