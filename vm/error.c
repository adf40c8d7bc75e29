/*
 * error.c — printing errors and unwinding to main.
 */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "vm.h"

/* -- Helpers --------------------------------------------------------------- */

/* Hand control back to the handler in main.c (or die if there is none). */
static noreturn void unwind(vm_vm *vm, int status)
{
  fflush(stdout);
  if (vm->err) {
    vm->err->status = status;
    longjmp(vm->err->buf, 1);
  }
  exit(status);
}

int vm_error_current_line(vm_vm *vm)
{
  vm_frame *f = vm->frame;
  if (!f || !f->func)
    return 0;
  vm_code *code = f->func->code;
  /* pc has already advanced past the instruction being executed. */
  ptrdiff_t pc = f->pc - code->insns - 1;
  if (pc < 0)
    pc = 0;
  if ((uint32_t)pc >= code->ninsns)
    return code->ninsns ? (int)code->lines[code->ninsns - 1] : (int)code->line;
  return (int)code->lines[pc];
}

/* -- Error kinds ----------------------------------------------------------- */

void vm_error_parse(vm_vm *vm, int line, int col, const char *fmt, ...)
{
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d:%d: error: ", vm->source_name ? vm->source_name : "?", line, col);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  unwind(vm, VM_EXIT_PARSE);
}

void vm_error_runtime(vm_vm *vm, const char *fmt, ...)
{
  va_list ap;
  const char *file = vm->source_name ? vm->source_name : "?";
  if (vm->frame && vm->frame->func)
    file = vm->frame->func->code->source->chars;
  fflush(stdout);
  fprintf(stderr, "%s:%d: runtime error: ", file, vm_error_current_line(vm));
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  unwind(vm, VM_EXIT_RUNTIME);
}

void vm_error_oom(vm_vm *vm)
{
  if (vm->frame)
    vm_error_runtime(vm, "out of memory");
  fflush(stdout);
  fprintf(stderr, "jcvm: out of memory\n");
  unwind(vm, VM_EXIT_RUNTIME);
}
