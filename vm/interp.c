/*
 * interp.c — the bytecode interpreter: one switch-dispatched loop.
 *
 * Frames live in vm->frames and their slots in vm->stack, never on the C
 * stack: a jc-to-jc call pushes a vm_frame and continues the same loop, so
 * recursion depth is bounded by VM_MAX_FRAMES / VM_STACK_SLOTS ("stack
 * overflow") rather than by the C stack, and a JIT can rebuild frames.
 *
 * Calling convention (see bytecode.h): the callee value sits in R[A], the
 * arguments in R[A+1..]; the callee frame's base is &R[A+1], so arguments
 * become its first slots without copying.  A method's self is its slot 0.
 * On return the result overwrites base[-1], i.e. the caller's R[A].
 *
 * Every dispatch stores pc into the frame, so errors (which read the line
 * from frame->pc) and the GC always see a consistent state.
 */
#include "interp.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "object.h"
#include "jit/jit.h"

/* -- JIT attachment point ------------------------------------------------------ */

/*
 * ===================== JIT ATTACHMENT POINT =====================
 * The tracing JIT hooks in here: `frame` is the frame running the loop and
 * `pc` the back-edge instruction (LOOP or FORLOOP) whose hot counter fired.
 * The JIT may start recording (vm->jit_recording): from then on the loop
 * below calls jit_rec_ins() before each instruction.  A compiled loop hangs
 * off its back edge's ic->target and is entered when that edge is taken.
 */
void vm_jit_hotloop(vm_vm *vm, vm_frame *frame, const vm_insn *pc)
{
  vm->hotloop_events++;
  if (vm->jit)
    jit_hotloop(vm->jit, frame, pc);
}

/* Enter the trace of the back edge just taken, if there is one. */
#define JIT_ENTER(ic)                                                                        \
  do {                                                                                       \
    if ((ic)->target && !vm->jit_recording) {                                                \
      frame->pc = pc;                                                                        \
      jit_enter(vm->jit, frame, (ic)->target);                                               \
      LOAD_FRAME();                                                                          \
    }                                                                                        \
  } while (0)

/* -- Upvalues ------------------------------------------------------------------ */

/* The open upvalue for stack slot `loc`, created if needed. */
static vm_upval *find_upval(vm_vm *vm, vm_value *loc)
{
  vm_upval **pp = &vm->open_upvals;
  while (*pp && (*pp)->loc > loc)
    pp = &(*pp)->open_next;
  if (*pp && (*pp)->loc == loc)
    return *pp;
  vm_upval *u = vm_upval_new(vm, loc);
  /* Allocation may have collected, but open upvalues are roots and the list
     order is unchanged, so re-find the insertion point. */
  pp = &vm->open_upvals;
  while (*pp && (*pp)->loc > loc)
    pp = &(*pp)->open_next;
  u->open_next = *pp;
  *pp = u;
  return u;
}

/* Close every open upvalue pointing at or above `level`. */
static void close_upvals(vm_vm *vm, vm_value *level)
{
  while (vm->open_upvals && vm->open_upvals->loc >= level) {
    vm_upval *u = vm->open_upvals;
    u->closed = *u->loc;
    u->loc = &u->closed;
    vm->open_upvals = u->open_next;
  }
}

/* -- Arithmetic ----------------------------------------------------------------- */

static const char *op_symbol(unsigned op)
{
  switch (op) {
  case VM_OP_ADD: return "+";
  case VM_OP_SUB: return "-";
  case VM_OP_MUL: return "*";
  case VM_OP_DIV: return "/";
  case VM_OP_IDIV: return "//";
  case VM_OP_MOD: return "%";
  case VM_OP_LT: return "<";
  case VM_OP_LE: return "<=";
  case VM_OP_CONCAT: return "..";
  default: return "?";
  }
}

static _Noreturn void operand_error(vm_vm *vm, unsigned op, vm_value a, vm_value b)
{
  vm_error_runtime(vm, "unsupported operand types for %s: %s and %s", op_symbol(op),
                   vm_tag_name(a.tag), vm_tag_name(b.tag));
}

static int64_t int_floordiv(vm_vm *vm, int64_t a, int64_t b)
{
  if (b == 0)
    vm_error_runtime(vm, "division by zero");
  if (a == INT64_MIN && b == -1)
    vm_error_runtime(vm, "integer overflow");
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0)))
    q--;
  return q;
}

static int64_t int_mod(vm_vm *vm, int64_t a, int64_t b)
{
  if (b == 0)
    vm_error_runtime(vm, "division by zero");
  if (b == -1)
    return 0; /* also avoids INT64_MIN % -1, which traps */
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

static double float_mod(vm_vm *vm, double a, double b)
{
  if (b == 0.0)
    vm_error_runtime(vm, "division by zero");
  double r = fmod(a, b);
  if (r != 0.0 && ((r < 0) != (b < 0)))
    r += b;
  return r;
}

/* Every arithmetic case; the loop inlines only the int/int fast paths. */
static vm_value arith(vm_vm *vm, unsigned op, vm_value a, vm_value b)
{
  if (a.tag == VM_T_INT && b.tag == VM_T_INT) {
    int64_t x = a.u.i, y = b.u.i, r;
    switch (op) {
    case VM_OP_ADD:
      if (__builtin_add_overflow(x, y, &r))
        vm_error_runtime(vm, "integer overflow");
      return vm_int(r);
    case VM_OP_SUB:
      if (__builtin_sub_overflow(x, y, &r))
        vm_error_runtime(vm, "integer overflow");
      return vm_int(r);
    case VM_OP_MUL:
      if (__builtin_mul_overflow(x, y, &r))
        vm_error_runtime(vm, "integer overflow");
      return vm_int(r);
    case VM_OP_DIV:
      if (y == 0)
        vm_error_runtime(vm, "division by zero");
      return vm_float((double)x / (double)y);
    case VM_OP_IDIV: return vm_int(int_floordiv(vm, x, y));
    case VM_OP_MOD: return vm_int(int_mod(vm, x, y));
    }
  }
  if (!vm_is_number(a) || !vm_is_number(b))
    operand_error(vm, op, a, b);
  double x = a.tag == VM_T_INT ? (double)a.u.i : a.u.d;
  double y = b.tag == VM_T_INT ? (double)b.u.i : b.u.d;
  switch (op) {
  case VM_OP_ADD: return vm_float(x + y);
  case VM_OP_SUB: return vm_float(x - y);
  case VM_OP_MUL: return vm_float(x * y);
  case VM_OP_DIV:
    if (y == 0.0)
      vm_error_runtime(vm, "division by zero");
    return vm_float(x / y);
  case VM_OP_IDIV:
    if (y == 0.0)
      vm_error_runtime(vm, "division by zero");
    return vm_float(floor(x / y));
  default: return vm_float(float_mod(vm, x, y));
  }
}

/* a < b (op LT) or a <= b (op LE): numbers, or strings byte-wise. */
static bool compare(vm_vm *vm, unsigned op, vm_value a, vm_value b)
{
  if (a.tag == VM_T_INT && b.tag == VM_T_INT)
    return op == VM_OP_LT ? a.u.i < b.u.i : a.u.i <= b.u.i;
  if (vm_is_number(a) && vm_is_number(b)) {
    double x = a.tag == VM_T_INT ? (double)a.u.i : a.u.d;
    double y = b.tag == VM_T_INT ? (double)b.u.i : b.u.d;
    return op == VM_OP_LT ? x < y : x <= y;
  }
  if (a.tag == VM_T_STR && b.tag == VM_T_STR) {
    vm_string *s = a.u.p, *t = b.u.p;
    size_t n = s->len < t->len ? s->len : t->len;
    int c = memcmp(s->chars, t->chars, n);
    if (c == 0)
      c = (s->len > t->len) - (s->len < t->len);
    return op == VM_OP_LT ? c < 0 : c <= 0;
  }
  operand_error(vm, op, a, b);
}

/* a .. b: strings and numbers (numbers formatted as print shows them). */
static vm_value concat(vm_vm *vm, vm_value a, vm_value b)
{
  if (a.tag == VM_T_STR && b.tag == VM_T_STR)
    return vm_objval(VM_T_STR, vm_str_concat(vm, a.u.p, b.u.p));
  if ((a.tag != VM_T_STR && !vm_is_number(a)) || (b.tag != VM_T_STR && !vm_is_number(b)))
    operand_error(vm, VM_OP_CONCAT, a, b);
  /* Format both into the scratch buffer: no intermediate heap strings, so
     nothing unrooted exists when the result is allocated. */
  vm_buf *buf = &vm->fmt;
  buf->len = 0;
  vm_value_format(vm, buf, a, false, 0);
  vm_value_format(vm, buf, b, false, 0);
  return vm_objval(VM_T_STR, vm_str_intern(vm, buf->data, buf->len));
}

/* -- Indexing and fields --------------------------------------------------------- */

static int64_t check_index(vm_vm *vm, vm_value idx, size_t len, const char *what)
{
  if (idx.tag != VM_T_INT)
    vm_error_runtime(vm, "%s index must be an int, got %s", what, vm_tag_name(idx.tag));
  if (idx.u.i < 0 || (uint64_t)idx.u.i >= len)
    vm_error_runtime(vm, "index %" PRId64 " out of range for %s of length %zu", idx.u.i, what, len);
  return idx.u.i;
}

static vm_value get_index(vm_vm *vm, vm_value o, vm_value idx)
{
  if (o.tag == VM_T_ARRAY) {
    vm_array *a = o.u.p;
    return a->items[check_index(vm, idx, a->len, "array")];
  }
  if (o.tag == VM_T_STR) {
    vm_string *s = o.u.p;
    int64_t i = check_index(vm, idx, s->len, "string");
    return vm_objval(VM_T_STR, vm->char_strs[(unsigned char)s->chars[i]]);
  }
  vm_error_runtime(vm, "cannot index a value of type %s", vm_tag_name(o.tag));
}

static void set_index(vm_vm *vm, vm_value o, vm_value idx, vm_value v)
{
  if (o.tag == VM_T_ARRAY) {
    vm_array *a = o.u.p;
    a->items[check_index(vm, idx, a->len, "array")] = v;
    return;
  }
  if (o.tag == VM_T_STR)
    vm_error_runtime(vm, "strings are immutable");
  vm_error_runtime(vm, "cannot index a value of type %s", vm_tag_name(o.tag));
}

/* -- Calls ------------------------------------------------------------------------ */

/* Push a frame for fn with its slots starting at newbase (nargs arguments
   already there).  Checks arity and stack space while the caller is still
   the current frame, so errors point at the call. */
static vm_frame *push_frame(vm_vm *vm, vm_func *fn, vm_value *newbase, unsigned nargs, int ctor)
{
  vm_code *code = fn->code;
  if (nargs != code->nparams) {
    unsigned self = code->is_method ? 1 : 0;
    unsigned want = code->nparams - self;
    vm_error_runtime(vm, "%s expects %u argument%s, got %u", code->name->chars, want,
                     want == 1 ? "" : "s", nargs - self);
  }
  if (vm->frame + 1 >= vm->frames + VM_MAX_FRAMES ||
      newbase + code->nslots > vm->stack + VM_STACK_SLOTS)
    vm_error_runtime(vm, "stack overflow");
  vm_frame *f = ++vm->frame;
  f->func = fn;
  f->base = newbase;
  f->pc = code->insns;
  f->is_ctor = (uint8_t)ctor;
  if (newbase + code->nslots > vm->stack_hwm)
    vm->stack_hwm = newbase + code->nslots;
  return f;
}

/* Make room for a receiver: slide args fslot[1..nargs] up by one. */
static void shift_args_up(vm_vm *vm, vm_value *fslot, unsigned nargs)
{
  if (fslot + nargs + 2 > vm->stack + VM_STACK_SLOTS)
    vm_error_runtime(vm, "stack overflow");
  memmove(fslot + 2, fslot + 1, nargs * sizeof(vm_value));
}

/* Call the value in *fslot with nargs arguments after it.  Returns true if a
   new jc frame was pushed (the loop must switch to it); otherwise the result
   is already in *fslot. */
static bool call_value(vm_vm *vm, vm_value *fslot, unsigned nargs)
{
  switch (fslot->tag) {
  case VM_T_FUNC:
    push_frame(vm, fslot->u.p, fslot + 1, nargs, 0);
    return true;
  case VM_T_NATIVE: {
    vm_native *n = fslot->u.p;
    if (n->arity >= 0 && nargs != (unsigned)n->arity)
      vm_error_runtime(vm, "%s expects %d argument%s, got %u", n->name->chars, n->arity,
                       n->arity == 1 ? "" : "s", nargs);
    *fslot = n->fn(vm, fslot + 1, (int)nargs);
    return false;
  }
  case VM_T_CLASS: {
    vm_class *c = fslot->u.p;
    vm_func *init = vm_class_find_method(c, vm->str_init);
    if (!init && nargs != 0)
      vm_error_runtime(vm, "%s expects 0 arguments, got %u", c->name->chars, nargs);
    if (init && nargs + 1 != init->code->nparams)
      vm_error_runtime(vm, "%s expects %u argument%s, got %u", init->code->name->chars,
                       init->code->nparams - 1u, init->code->nparams == 2 ? "" : "s", nargs);
    /* The class stays rooted through the instance's class pointer. */
    vm_instance *in = vm_instance_new(vm, c);
    *fslot = vm_objval(VM_T_INSTANCE, in);
    if (!init)
      return false;
    shift_args_up(vm, fslot, nargs);
    fslot[1] = *fslot;
    push_frame(vm, init, fslot + 1, nargs + 1, 1);
    return true;
  }
  case VM_T_BOUND: {
    vm_bound *b = fslot->u.p;
    shift_args_up(vm, fslot, nargs);
    fslot[1] = b->self;
    *fslot = vm_objval(VM_T_FUNC, b->method);
    push_frame(vm, b->method, fslot + 1, nargs + 1, 0);
    return true;
  }
  default:
    vm_error_runtime(vm, "cannot call a value of type %s", vm_tag_name(fslot->tag));
  }
}

/* Call the method `name` of the receiver in fslot[1] (args after it).  With
   `from` set, look it up there (super calls) instead of in the receiver's
   class.  Same return convention as call_value. */
static bool call_method(vm_vm *vm, vm_value *fslot, unsigned nargs, vm_string *name,
                        vm_icache *ic, vm_class *from)
{
  vm_value recv = fslot[1];
  vm_func *m;
  if (from) {
    m = vm_class_find_method(from, name);
    if (!m)
      vm_error_runtime(vm, "superclass %s has no method '%s'", from->name->chars, name->chars);
  } else {
    if (recv.tag != VM_T_INSTANCE)
      vm_error_runtime(vm, "cannot call method '%s' on a value of type %s", name->chars,
                       vm_tag_name(recv.tag));
    vm_instance *in = recv.u.p;
    if (ic->cls == in->cls && ic->target) {
      m = ic->target;
    } else {
      m = vm_class_find_method(in->cls, name);
      if (!m) {
        /* Not a method: a field holding something callable is called
           without self. */
        uint32_t slot;
        if (!vm_class_field_slot(in->cls, name, &slot))
          vm_error_runtime(vm, "%s has no method '%s'", in->cls->name->chars, name->chars);
        *fslot = in->fields[slot];
        memmove(fslot + 1, fslot + 2, nargs * sizeof(vm_value));
        return call_value(vm, fslot, nargs);
      }
      ic->cls = in->cls;
      ic->target = m;
    }
  }
  *fslot = vm_objval(VM_T_FUNC, m);
  push_frame(vm, m, fslot + 1, nargs + 1, 0);
  return true;
}

/* -- The loop ---------------------------------------------------------------------- */

void vm_interp_run(vm_vm *vm, vm_func *main_fn)
{
  vm_frame *const entry = vm->frames;
  vm->stack[0] = vm_objval(VM_T_FUNC, main_fn);
  entry->func = main_fn;
  entry->base = vm->stack + 1;
  entry->pc = main_fn->code->insns;
  entry->is_ctor = 0;
  vm->frame = entry;
  vm->stack_hwm = entry->base + main_fn->code->nslots; /* nslots <= 65000: fits */

  vm_frame *frame;
  vm_value *base;
  vm_code *code;
  const vm_insn *pc;

/* Reload the cached frame state after a call or return. */
#define LOAD_FRAME()                                                                         \
  do {                                                                                       \
    frame = vm->frame;                                                                       \
    base = frame->base;                                                                      \
    code = frame->func->code;                                                                \
    pc = frame->pc;                                                                          \
  } while (0)
#define RA base[A]
#define RB base[B]
#define RC base[C]
#define IC (&code->ic[pc - 1 - code->insns])
/* FORPREP entering its loop: the frame is exactly what the FORLOOP's back
** edge leaves (r[3] = r[0], pc at the body's first instruction), so the
** loop's trace, which hangs off the FORLOOP at FORPREP + sbx, is entered for
** the first iteration too. */
#define FORPREP_ENTER() JIT_ENTER(&code->ic[(pc - 1 - code->insns) + VM_INSN_SBX(i)])

  LOAD_FRAME();
  for (;;) {
    if (__builtin_expect(vm->jit_recording, 0))
      jit_rec_ins(vm->jit, pc);
    const vm_insn i = *pc++;
    frame->pc = pc;
    const unsigned A = VM_INSN_A(i);
    const unsigned B = VM_INSN_B(i);
    const unsigned C = VM_INSN_C(i);
    switch ((vm_opcode)VM_INSN_OP(i)) {

    /* -- Loads and moves -- */
    case VM_OP_MOVE: RA = RB; break;
    case VM_OP_LOADK: RA = code->consts[VM_INSN_BX(i)]; break;
    case VM_OP_LOADI: RA = vm_int(VM_INSN_SBX(i)); break;
    case VM_OP_LOADNIL: RA = vm_nil(); break;
    case VM_OP_LOADTRUE: RA = vm_bool(true); break;
    case VM_OP_LOADFALSE: RA = vm_bool(false); break;

    /* -- Globals and upvalues -- */
    case VM_OP_GETGLOBAL: {
      vm_cell *cell = code->cells[VM_INSN_BX(i)];
      if (cell->value.tag == VM_T_UNDEF)
        vm_error_runtime(vm, "unknown name '%s'", cell->name->chars);
      RA = cell->value;
      break;
    }
    case VM_OP_SETGLOBAL: {
      vm_cell *cell = code->cells[VM_INSN_BX(i)];
      if (cell->value.tag == VM_T_UNDEF)
        vm_error_runtime(vm, "unknown name '%s'", cell->name->chars);
      cell->value = RA;
      break;
    }
    case VM_OP_DEFGLOBAL: code->cells[VM_INSN_BX(i)]->value = RA; break;
    case VM_OP_GETUPVAL: RA = *frame->func->upvals[B]->loc; break;
    case VM_OP_SETUPVAL: *frame->func->upvals[B]->loc = RA; break;
    case VM_OP_CLOSE: close_upvals(vm, &RA); break;
    case VM_OP_CLOSURE: {
      vm_code *proto = code->protos[VM_INSN_BX(i)];
      vm_func *fn = vm_func_new(vm, proto);
      fn->owner = NULL;
      RA = vm_objval(VM_T_FUNC, fn); /* rooted before the upvalues allocate */
      for (uint32_t u = 0; u < proto->nupvals; u++) {
        vm_upvaldesc d = proto->upvals[u];
        fn->upvals[u] = d.from_local ? find_upval(vm, &base[d.index]) : frame->func->upvals[d.index];
      }
      break;
    }

    /* -- Arrays, indexing, fields -- */
    case VM_OP_NEWARRAY: {
      uint32_t cap = VM_INSN_BX(i);
      RA = vm_objval(VM_T_ARRAY, vm_array_new(vm, cap));
      break;
    }
    case VM_OP_APPEND: vm_array_push(vm, RA.u.p, RB); break;
    case VM_OP_GETINDEX: {
      vm_value o = RB, idx = RC;
      if (o.tag == VM_T_ARRAY && idx.tag == VM_T_INT) {
        vm_array *a = o.u.p;
        if ((uint64_t)idx.u.i < a->len) {
          RA = a->items[idx.u.i];
          break;
        }
      }
      RA = get_index(vm, o, idx);
      break;
    }
    case VM_OP_SETINDEX: {
      vm_value o = RA, idx = RB;
      if (o.tag == VM_T_ARRAY && idx.tag == VM_T_INT) {
        vm_array *a = o.u.p;
        if ((uint64_t)idx.u.i < a->len) {
          a->items[idx.u.i] = RC;
          break;
        }
      }
      set_index(vm, o, idx, RC);
      break;
    }
    case VM_OP_GETFIELD: {
      vm_value o = RB;
      vm_string *name = code->names[C];
      if (o.tag != VM_T_INSTANCE)
        vm_error_runtime(vm, "cannot read field '%s' of a value of type %s", name->chars,
                         vm_tag_name(o.tag));
      vm_instance *in = o.u.p;
      vm_icache *ic = IC;
      if (ic->cls == in->cls) {
        RA = in->fields[ic->slot];
        break;
      }
      uint32_t slot;
      if (vm_class_field_slot(in->cls, name, &slot)) {
        ic->cls = in->cls;
        ic->slot = slot;
        RA = in->fields[slot];
        break;
      }
      vm_func *m = vm_class_find_method(in->cls, name);
      if (!m)
        vm_error_runtime(vm, "%s has no field or method '%s'", in->cls->name->chars, name->chars);
      RA = vm_objval(VM_T_BOUND, vm_bound_new(vm, o, m)); /* o stays rooted in RB */
      break;
    }
    case VM_OP_SETFIELD: {
      vm_value o = RA;
      vm_string *name = code->names[B];
      if (o.tag != VM_T_INSTANCE)
        vm_error_runtime(vm, "cannot set field '%s' of a value of type %s", name->chars,
                         vm_tag_name(o.tag));
      vm_instance *in = o.u.p;
      vm_icache *ic = IC;
      if (ic->cls != in->cls) {
        uint32_t slot;
        if (!vm_class_field_slot(in->cls, name, &slot))
          vm_error_runtime(vm, "%s has no field '%s'", in->cls->name->chars, name->chars);
        ic->cls = in->cls;
        ic->slot = slot;
      }
      in->fields[ic->slot] = RC;
      break;
    }

    /* -- Arithmetic -- */
    case VM_OP_ADD: {
      vm_value b = RB, c = RC;
      int64_t r;
      if (b.tag == VM_T_INT && c.tag == VM_T_INT && !__builtin_add_overflow(b.u.i, c.u.i, &r))
        RA = vm_int(r);
      else if (b.tag == VM_T_FLOAT && c.tag == VM_T_FLOAT)
        RA = vm_float(b.u.d + c.u.d);
      else
        RA = arith(vm, VM_OP_ADD, b, c);
      break;
    }
    case VM_OP_SUB: {
      vm_value b = RB, c = RC;
      int64_t r;
      if (b.tag == VM_T_INT && c.tag == VM_T_INT && !__builtin_sub_overflow(b.u.i, c.u.i, &r))
        RA = vm_int(r);
      else if (b.tag == VM_T_FLOAT && c.tag == VM_T_FLOAT)
        RA = vm_float(b.u.d - c.u.d);
      else
        RA = arith(vm, VM_OP_SUB, b, c);
      break;
    }
    case VM_OP_MUL: {
      vm_value b = RB, c = RC;
      int64_t r;
      if (b.tag == VM_T_INT && c.tag == VM_T_INT && !__builtin_mul_overflow(b.u.i, c.u.i, &r))
        RA = vm_int(r);
      else if (b.tag == VM_T_FLOAT && c.tag == VM_T_FLOAT)
        RA = vm_float(b.u.d * c.u.d);
      else
        RA = arith(vm, VM_OP_MUL, b, c);
      break;
    }
    case VM_OP_DIV:
    case VM_OP_IDIV:
    case VM_OP_MOD:
      RA = arith(vm, VM_INSN_OP(i), RB, RC);
      break;
    case VM_OP_UNM: {
      vm_value b = RB;
      if (b.tag == VM_T_INT) {
        if (b.u.i == INT64_MIN)
          vm_error_runtime(vm, "integer overflow");
        RA = vm_int(-b.u.i);
      } else if (b.tag == VM_T_FLOAT) {
        RA = vm_float(-b.u.d);
      } else {
        vm_error_runtime(vm, "unsupported operand type for unary -: %s", vm_tag_name(b.tag));
      }
      break;
    }
    case VM_OP_NOT: RA = vm_bool(!vm_truthy(RB)); break;
    case VM_OP_CONCAT: RA = concat(vm, RB, RC); break;
    case VM_OP_EQ: RA = vm_bool(vm_value_equal(RB, RC)); break;
    case VM_OP_NE: RA = vm_bool(!vm_value_equal(RB, RC)); break;
    case VM_OP_LT: {
      vm_value b = RB, c = RC;
      RA = vm_bool(b.tag == VM_T_INT && c.tag == VM_T_INT ? b.u.i < c.u.i : compare(vm, VM_OP_LT, b, c));
      break;
    }
    case VM_OP_LE: {
      vm_value b = RB, c = RC;
      RA = vm_bool(b.tag == VM_T_INT && c.tag == VM_T_INT ? b.u.i <= c.u.i : compare(vm, VM_OP_LE, b, c));
      break;
    }

    /* -- Control flow -- */
    case VM_OP_JMP: pc += VM_INSN_SBX(i); break;
    case VM_OP_JMPT:
      if (vm_truthy(RA))
        pc += VM_INSN_SBX(i);
      break;
    case VM_OP_JMPF:
      if (!vm_truthy(RA))
        pc += VM_INSN_SBX(i);
      break;
    case VM_OP_LOOP: {
      vm_icache *ic = IC;
      if (++ic->hot >= ic->hot_limit) {
        ic->hot = 0;
        vm_jit_hotloop(vm, frame, pc - 1);
      }
      pc += VM_INSN_SBX(i);
      JIT_ENTER(ic);
      break;
    }
    case VM_OP_FORPREP: {
      vm_value *r = &RA;
      if (r[0].tag == VM_T_INT && r[1].tag == VM_T_INT && r[2].tag == VM_T_INT) {
        int64_t step = r[2].u.i;
        if (step == 0)
          vm_error_runtime(vm, "for loop step is zero");
        if (step > 0 ? r[0].u.i < r[1].u.i : r[0].u.i > r[1].u.i) {
          r[3] = r[0];
          FORPREP_ENTER();
        } else
          pc += VM_INSN_SBX(i);
        break;
      }
      for (int k = 0; k < 3; k++) {
        if (r[k].tag == VM_T_INT)
          r[k] = vm_float((double)r[k].u.i);
        else if (r[k].tag != VM_T_FLOAT)
          vm_error_runtime(vm, "for loop %s must be a number, got %s",
                           k == 0 ? "start" : k == 1 ? "limit" : "step", vm_tag_name(r[k].tag));
      }
      double step = r[2].u.d;
      if (step == 0.0 || isnan(step))
        vm_error_runtime(vm, "for loop step is zero");
      if (step > 0 ? r[0].u.d < r[1].u.d : r[0].u.d > r[1].u.d) {
        r[3] = r[0];
        FORPREP_ENTER();
      } else
        pc += VM_INSN_SBX(i);
      break;
    }
    case VM_OP_FORLOOP: {
      vm_value *r = &RA;
      bool again;
      if (r[0].tag == VM_T_INT) {
        int64_t n, step = r[2].u.i;
        /* Overflow means we are past any representable limit: stop. */
        again = !__builtin_add_overflow(r[0].u.i, step, &n) && (step > 0 ? n < r[1].u.i : n > r[1].u.i);
        if (again) {
          r[0].u.i = n;
          r[3] = vm_int(n);
        }
      } else {
        double n = r[0].u.d + r[2].u.d;
        again = r[2].u.d > 0 ? n < r[1].u.d : n > r[1].u.d;
        if (again) {
          r[0].u.d = n;
          r[3] = vm_float(n);
        }
      }
      if (again) {
        vm_icache *ic = IC;
        if (++ic->hot >= ic->hot_limit) {
          ic->hot = 0;
          vm_jit_hotloop(vm, frame, pc - 1);
        }
        pc += VM_INSN_SBX(i);
        JIT_ENTER(ic);
      }
      break;
    }

    /* -- Calls -- */
    case VM_OP_CALL:
      if (call_value(vm, &RA, B))
        LOAD_FRAME();
      break;
    case VM_OP_CALLMETHOD:
      if (call_method(vm, &RA, B, code->names[C], IC, NULL))
        LOAD_FRAME();
      break;
    case VM_OP_SUPERCALL: {
      /* The compiler only emits this in methods of classes with a superclass. */
      vm_class *owner = frame->func->owner;
      if (!owner || !owner->super)
        vm_error_runtime(vm, "'super' used outside a method of a subclass");
      if (call_method(vm, &RA, B, code->names[C], IC, owner->super))
        LOAD_FRAME();
      break;
    }
    case VM_OP_RETURN:
    case VM_OP_RETURNNIL: {
      vm_value result = VM_INSN_OP(i) == VM_OP_RETURN ? RA : vm_nil();
      if (vm->open_upvals && vm->open_upvals->loc >= base)
        close_upvals(vm, base);
      if (frame->is_ctor)
        result = base[0];
      base[-1] = result;
      if (frame == entry) {
        vm->frame = NULL;
        return;
      }
      vm->frame--;
      LOAD_FRAME();
      break;
    }

    /* -- Classes -- */
    case VM_OP_NEWCLASS:
      RA = vm_objval(VM_T_CLASS, vm_class_new(vm, code->consts[VM_INSN_BX(i)].u.p));
      break;
    case VM_OP_INHERIT: {
      vm_value s = RB;
      if (s.tag != VM_T_CLASS)
        vm_error_runtime(vm, "superclass must be a class, got %s", vm_tag_name(s.tag));
      vm_class_inherit(vm, RA.u.p, s.u.p);
      break;
    }
    case VM_OP_FIELD: {
      vm_class *c = RA.u.p;
      vm_string *name = code->names[VM_INSN_BX(i)];
      if (!vm_class_add_field(vm, c, name))
        vm_error_runtime(vm, "field '%s' is already declared in a superclass of %s", name->chars,
                         c->name->chars);
      break;
    }
    case VM_OP_METHOD: {
      vm_class *c = RA.u.p;
      vm_func *fn = RB.u.p;
      fn->owner = c;
      vm_table_set(vm, &c->methods, code->names[C], RB);
      break;
    }
    default:
      vm_error_runtime(vm, "internal error: bad opcode %u", VM_INSN_OP(i));
    }
  }
#undef LOAD_FRAME
#undef JIT_ENTER
#undef RA
#undef RB
#undef RC
#undef IC
}
