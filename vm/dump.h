/*
 * dump.h — bytecode disassembler (--dump-bytecode).
 */
#ifndef VM_DUMP_H
#define VM_DUMP_H

#include <stdio.h>

#include "object.h"

/* Print a code object and, after it, every nested prototype. */
void vm_dump_code(const vm_code *code, FILE *out);

#endif /* VM_DUMP_H */
