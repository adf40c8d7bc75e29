/*
 * builtins.h — the builtin functions and the `args` global.
 */
#ifndef VM_BUILTINS_H
#define VM_BUILTINS_H

#include "vm.h"

/* Define every builtin as a global, and `args` from argv[0..argc-1]. */
void vm_builtins_install(vm_vm *vm, int argc, char **argv);

#endif /* VM_BUILTINS_H */
