/*
 * builtins.c — builtin functions.
 *
 * Natives receive their arguments in place on the value stack (so they are
 * rooted) and return one value.  Errors go through vm_error_runtime, which
 * reports the line of the calling instruction.
 */
#include "builtins.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "gc.h"
#include "object.h"

/* -- Helpers ------------------------------------------------------------------- */

static double to_double(vm_vm *vm, const char *fn, vm_value v)
{
  if (v.tag == VM_T_INT)
    return (double)v.u.i;
  if (v.tag == VM_T_FLOAT)
    return v.u.d;
  vm_error_runtime(vm, "%s expects a number, got %s", fn, vm_tag_name(v.tag));
}

static vm_array *want_array(vm_vm *vm, const char *fn, vm_value v)
{
  if (v.tag != VM_T_ARRAY)
    vm_error_runtime(vm, "%s expects an array, got %s", fn, vm_tag_name(v.tag));
  return v.u.p;
}

static vm_string *want_string(vm_vm *vm, const char *fn, vm_value v)
{
  if (v.tag != VM_T_STR)
    vm_error_runtime(vm, "%s expects a string, got %s", fn, vm_tag_name(v.tag));
  return v.u.p;
}

static int64_t want_int(vm_vm *vm, const char *fn, vm_value v)
{
  if (v.tag != VM_T_INT)
    vm_error_runtime(vm, "%s expects an int, got %s", fn, vm_tag_name(v.tag));
  return v.u.i;
}

/* A double to int64, truncating toward zero; errors if not representable. */
static int64_t double_to_int(vm_vm *vm, double d)
{
  /* -2^63 is representable; 2^63 is not. */
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
    char buf[32];
    vm_format_float(buf, d);
    vm_error_runtime(vm, "cannot convert %s to int", buf);
  }
  return (int64_t)d;
}

/* -- Output and conversion ---------------------------------------------------------- */

/* Format print's arguments: separated by one space, then a newline. */
static void format_line(vm_vm *vm, vm_value *args, int nargs)
{
  vm_buf *b = &vm->fmt;
  b->len = 0;
  for (int i = 0; i < nargs; i++) {
    if (i)
      vm_buf_append(vm, b, " ", 1);
    vm_value_format(vm, b, args[i], false, 0);
  }
  vm_buf_append(vm, b, "\n", 1);
}

static vm_value bi_print(vm_vm *vm, vm_value *args, int nargs)
{
  format_line(vm, args, nargs);
  fwrite(vm->fmt.data, 1, vm->fmt.len, stdout);
  return vm_nil();
}

/* eprint(...): like print, to stderr (benchmark timings, diagnostics). */
static vm_value bi_eprint(vm_vm *vm, vm_value *args, int nargs)
{
  format_line(vm, args, nargs);
  fflush(stdout); /* keep the two streams in program order on a terminal */
  fwrite(vm->fmt.data, 1, vm->fmt.len, stderr);
  return vm_nil();
}

static vm_value bi_str(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  if (args[0].tag == VM_T_STR)
    return args[0];
  vm_buf *b = &vm->fmt;
  b->len = 0;
  vm_value_format(vm, b, args[0], false, 0);
  return vm_objval(VM_T_STR, vm_str_intern(vm, b->data, b->len));
}

/* Raise "cannot convert "abc" to TYPE" with the string quoted. */
static _Noreturn void bad_conversion(vm_vm *vm, vm_value v, const char *type)
{
  vm_buf *b = &vm->fmt;
  b->len = 0;
  vm_value_format(vm, b, v, true, 0);
  vm_error_runtime(vm, "cannot convert %.60s to %s", b->data, type);
}

/* True if s is an optional sign followed by one or more decimal digits. */
static bool is_decimal_int(const vm_string *s)
{
  size_t k = (s->len > 0 && (s->chars[0] == '-' || s->chars[0] == '+')) ? 1 : 0;
  if (k == s->len)
    return false;
  for (; k < s->len; k++)
    if (s->chars[k] < '0' || s->chars[k] > '9')
      return false;
  return true;
}

static vm_value bi_int(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_value v = args[0];
  switch (v.tag) {
  case VM_T_INT: return v;
  case VM_T_FLOAT: return vm_int(double_to_int(vm, v.u.d));
  case VM_T_STR: {
    vm_string *s = v.u.p;
    if (!is_decimal_int(s))
      bad_conversion(vm, v, "int");
    errno = 0;
    long long r = strtoll(s->chars, NULL, 10);
    if (errno == ERANGE)
      vm_error_runtime(vm, "integer overflow");
    return vm_int(r);
  }
  default:
    vm_error_runtime(vm, "cannot convert %s to int", vm_tag_name(v.tag));
  }
}

static vm_value bi_float(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_value v = args[0];
  if (v.tag == VM_T_STR) {
    vm_string *s = v.u.p;
    char *end;
    double d = s->len ? strtod(s->chars, &end) : 0;
    /* Whole string, no leading blanks (strtod would skip them). */
    if (s->len == 0 || end != s->chars + s->len || s->chars[0] == ' ' || s->chars[0] == '\t' ||
        s->chars[0] == '\n')
      bad_conversion(vm, v, "float");
    return vm_float(d);
  }
  if (!vm_is_number(v))
    vm_error_runtime(vm, "cannot convert %s to float", vm_tag_name(v.tag));
  return vm_float(to_double(vm, "float", v));
}

static vm_value bi_type(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  return vm_objval(VM_T_STR, vm_str_cstr(vm, vm_tag_name(args[0].tag)));
}

/* -- Arrays and strings --------------------------------------------------------------- */

static vm_value bi_len(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  if (args[0].tag == VM_T_STR)
    return vm_int((int64_t)((vm_string *)args[0].u.p)->len);
  if (args[0].tag == VM_T_ARRAY)
    return vm_int((int64_t)((vm_array *)args[0].u.p)->len);
  vm_error_runtime(vm, "len expects a string or an array, got %s", vm_tag_name(args[0].tag));
}

static vm_value bi_push(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_array_push(vm, want_array(vm, "push", args[0]), args[1]);
  return vm_nil();
}

static vm_value bi_pop(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_array *a = want_array(vm, "pop", args[0]);
  if (a->len == 0)
    vm_error_runtime(vm, "pop from an empty array");
  return a->items[--a->len];
}

static vm_value bi_ord(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_string *s = want_string(vm, "ord", args[0]);
  if (s->len != 1)
    vm_error_runtime(vm, "ord expects a one-character string, got length %zu", s->len);
  return vm_int((unsigned char)s->chars[0]);
}

static vm_value bi_chr(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  int64_t c = want_int(vm, "chr", args[0]);
  if (c < 0 || c > 255)
    vm_error_runtime(vm, "chr expects a value in 0..255, got %lld", (long long)c);
  return vm_objval(VM_T_STR, vm->char_strs[c]);
}

/* substr(s, start, end): bytes [start, end), both clamped to [0, len]. */
static vm_value bi_substr(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  vm_string *s = want_string(vm, "substr", args[0]);
  int64_t a = want_int(vm, "substr", args[1]);
  int64_t b = want_int(vm, "substr", args[2]);
  int64_t n = (int64_t)s->len;
  a = a < 0 ? 0 : a > n ? n : a;
  b = b < a ? a : b > n ? n : b;
  /* s->chars is stable: s is rooted in args[0] while we allocate. */
  return vm_objval(VM_T_STR, vm_str_intern(vm, s->chars + a, (size_t)(b - a)));
}

/* -- Math --------------------------------------------------------------------------- */

static vm_value bi_sqrt(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  return vm_float(sqrt(to_double(vm, "sqrt", args[0])));
}

/* floor(x): the largest integer <= x, as an int. */
static vm_value bi_floor(vm_vm *vm, vm_value *args, int nargs)
{
  (void)nargs;
  if (args[0].tag == VM_T_INT)
    return args[0];
  return vm_int(double_to_int(vm, floor(to_double(vm, "floor", args[0]))));
}

/* -- System ------------------------------------------------------------------------- */

static vm_value bi_clock(vm_vm *vm, vm_value *args, int nargs)
{
  (void)vm;
  (void)args;
  (void)nargs;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return vm_float((double)ts.tv_sec + (double)ts.tv_nsec * 1e-9);
}

/* gcclock(): seconds spent collecting garbage so far.  Benchmarks print it
** next to each iteration's time: a stop-the-world collection lands in
** whichever iteration crosses the heap threshold, and warm-up figures
** (bench/warmup/warmup.py) must not mistake it for the JIT warming up. */
static vm_value bi_gcclock(vm_vm *vm, vm_value *args, int nargs)
{
  (void)args;
  (void)nargs;
  return vm_float((double)vm->gc_ns * 1e-9);
}

/* breakpoint(): stop under a debugger right here (SIGTRAP). */
static vm_value bi_breakpoint(vm_vm *vm, vm_value *args, int nargs)
{
  (void)vm;
  (void)args;
  (void)nargs;
  fflush(stdout);
  raise(SIGTRAP);
  return vm_nil();
}

/* -- Installation ------------------------------------------------------------------- */

static const struct {
  const char *name;
  vm_native_fn fn;
  int arity;
} builtins[] = {
    {"print", bi_print, -1}, {"eprint", bi_eprint, -1}, {"str", bi_str, 1},     {"int", bi_int, 1},
    {"float", bi_float, 1},  {"type", bi_type, 1},   {"len", bi_len, 1},
    {"push", bi_push, 2},    {"pop", bi_pop, 1},     {"ord", bi_ord, 1},
    {"chr", bi_chr, 1},      {"substr", bi_substr, 3}, {"sqrt", bi_sqrt, 1},
    {"floor", bi_floor, 1},  {"clock", bi_clock, 0}, {"gcclock", bi_gcclock, 0},
    {"breakpoint", bi_breakpoint, 0},
};

void vm_builtins_install(vm_vm *vm, int argc, char **argv)
{
  /* Setup allocates unrooted objects between steps: no collection. */
  vm_gc_pause(vm);
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
    vm_native *n = vm_native_new(vm, vm_str_cstr(vm, builtins[i].name), builtins[i].fn, builtins[i].arity);
    vm_global_define(vm, builtins[i].name, vm_objval(VM_T_NATIVE, n));
  }
  vm_array *a = vm_array_new(vm, (size_t)argc);
  for (int i = 0; i < argc; i++)
    vm_array_push(vm, a, vm_objval(VM_T_STR, vm_str_cstr(vm, argv[i])));
  vm_global_define(vm, "args", vm_objval(VM_T_ARRAY, a));
  vm_gc_resume(vm);
}
