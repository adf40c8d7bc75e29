/*
 * parse.h — the parser: tokens to a syntax tree (ast.h).
 */
#ifndef VM_PARSE_H
#define VM_PARSE_H

#include "ast.h"

/* Parse a whole program.  Returns the top-level statement list (may be
   NULL for an empty program); syntax errors go through vm_error_parse. */
vm_node *vm_parse_program(vm_vm *vm, vm_arena *arena, const char *src, size_t len);

#endif /* VM_PARSE_H */
