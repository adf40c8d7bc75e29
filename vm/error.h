/*
 * error.h — reporting parse and runtime errors.
 *
 * Formats (stderr, one line):
 *   parse/compile error:  FILE:LINE:COLUMN: error: MESSAGE        exit status 2
 *   runtime error:        FILE:LINE: runtime error: MESSAGE       exit status 1
 *
 * Both functions print the message and longjmp to vm->err, which main.c sets
 * up around compilation and execution, so no error path ever returns.
 */
#ifndef VM_ERROR_H
#define VM_ERROR_H

#include <stdnoreturn.h>

typedef struct vm_vm vm_vm;

#define VM_EXIT_RUNTIME 1
#define VM_EXIT_PARSE 2

#if defined(__GNUC__)
#define VM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VM_PRINTF(f, a)
#endif

noreturn void vm_error_parse(vm_vm *vm, int line, int col, const char *fmt, ...) VM_PRINTF(4, 5);

/* The line is taken from the innermost frame's saved pc. */
noreturn void vm_error_runtime(vm_vm *vm, const char *fmt, ...) VM_PRINTF(2, 3);

/* Out of memory: a runtime error while running, otherwise a plain message. */
noreturn void vm_error_oom(vm_vm *vm);

/* Source line of the instruction the innermost frame is executing (0 if none). */
int vm_error_current_line(vm_vm *vm);

#endif /* VM_ERROR_H */
