/*
 * compile.c — the bytecode compiler: one pass over the syntax tree per
 * function, emitting register bytecode (bytecode.h) into code objects.
 *
 * Register discipline.  Locals occupy the low slots of a frame in
 * declaration order; temporaries are allocated above them like a stack
 * (fs->freereg) and released when the expression that needed them is done.
 * At every statement boundary freereg equals the number of active locals.
 * So during a call every live value sits below the call's base register,
 * which is what lets a callee's frame overlap the caller's temporaries.
 *
 * Variables.  A name resolves to, in order: a local of the current function,
 * an upvalue (a local of an enclosing function, captured), or a global cell.
 * `var`, `fn` and `class` at the outermost level of the main chunk define
 * globals; anywhere else they declare locals of the enclosing block.
 * Assigning to an unresolved name defines the global when done in the main
 * chunk, and requires it to exist (SETGLOBAL) inside a function.
 *
 * Upvalues.  Captured locals are closed (copied into their upvalue) when
 * their block ends (CLOSE), when a loop iteration ends (so each iteration
 * captures a fresh variable) and when the function returns.
 */
#include "compile.h"

#include <stdio.h>
#include <string.h>

#include "bytecode.h"
#include "error.h"
#include "gc.h"
#include "jit/jit.h"
#include "vm.h"

/* Frame slots available to one function; keeps every register operand in
   the 16-bit A/B/C fields. */
#define VM_MAX_SLOTS 65000
#define VM_MAX_ARGS 255
#define VM_MAX_UPVALS 255

typedef struct local {
  vm_string *name; /* NULL for hidden slots (for-loop state) */
  int slot;
  int depth;
  int captured;
} local;

typedef struct jumplist {
  int pc;
  struct jumplist *next;
} jumplist;

typedef struct loopctx {
  struct loopctx *outer;
  int first_slot;   /* first local slot belonging to the loop body */
  int needs_close;  /* a local at or above first_slot was captured */
  jumplist *breaks; /* forward jumps to patch to the loop exit */
  jumplist *continues;
} loopctx;

typedef struct fstate {
  struct fstate *parent;
  vm_code *code;
  local *locals;
  int nlocals, locals_cap;
  int scope_depth;
  int freereg;
  loopctx *loop;
  int is_main;
  int is_method;
  int is_init;      /* the method is init: no value returns */
  int has_super;    /* the method's class has a superclass */
} fstate;

typedef struct compiler {
  vm_vm *vm;
  vm_arena *arena;
  fstate *fs;
  vm_string *source;
  vm_string *self_name; /* "self": the hidden name of a method's slot 0 */
  int line;
} compiler;

static void expr_to(compiler *C, vm_node *n, int dst);
static int expr_any(compiler *C, vm_node *n);
static void stmt_list(compiler *C, vm_node *s);

/* -- Errors -------------------------------------------------------------------- */

#define ERROR_AT(C, n, ...) vm_error_parse((C)->vm, (n)->line, (n)->col, __VA_ARGS__)

/* -- Code object building -------------------------------------------------------- */

/* Grow a side array of the code object by one element. */
#define GROW(C, arr, count, cap)                                                             \
  do {                                                                                       \
    if ((count) == (cap)) {                                                                  \
      uint32_t ncap_ = (cap) ? (cap)*2 : 8;                                                  \
      (arr) = vm_mem_realloc((C)->vm, (arr), (cap) * sizeof *(arr), ncap_ * sizeof *(arr));  \
      (cap) = ncap_;                                                                         \
    }                                                                                        \
  } while (0)

static int emit(compiler *C, vm_insn insn)
{
  vm_code *code = C->fs->code;
  if (code->ninsns == code->insns_cap) {
    uint32_t old = code->insns_cap, ncap = old ? old * 2 : 32;
    if (old >= (1u << 30))
      vm_error_parse(C->vm, C->line, 1, "function too large");
    code->insns = vm_mem_realloc(C->vm, code->insns, old * sizeof *code->insns, ncap * sizeof *code->insns);
    code->lines = vm_mem_realloc(C->vm, code->lines, old * sizeof *code->lines, ncap * sizeof *code->lines);
    code->insns_cap = ncap;
  }
  code->insns[code->ninsns] = insn;
  code->lines[code->ninsns] = (uint32_t)C->line;
  return (int)code->ninsns++;
}

static int emit_abc(compiler *C, vm_opcode op, int a, int b, int c)
{
  return emit(C, vm_insn_abc(op, (unsigned)a, (unsigned)b, (unsigned)c));
}

static int emit_abx(compiler *C, vm_opcode op, int a, uint32_t bx)
{
  return emit(C, vm_insn_abx(op, (unsigned)a, bx));
}

static int here(compiler *C) { return (int)C->fs->code->ninsns; }

/* Emit a forward jump with a placeholder offset; patch it later. */
static int emit_jump(compiler *C, vm_opcode op, int a) { return emit(C, vm_insn_asbx(op, (unsigned)a, 0)); }

static void patch_to(compiler *C, int pc, int target)
{
  vm_insn *i = &C->fs->code->insns[pc];
  *i = vm_insn_asbx((vm_opcode)VM_INSN_OP(*i), VM_INSN_A(*i), (int32_t)(target - (pc + 1)));
}

static void patch_here(compiler *C, int pc) { patch_to(C, pc, here(C)); }

/* The inline caches of a finished code object; a back edge's JIT hook first
** runs after vm->jit_hot back edges. */
static void code_init_ic(vm_vm *vm, vm_code *code)
{
  code->ic = vm_mem_realloc(vm, NULL, 0, code->ninsns * sizeof(vm_icache));
  memset(code->ic, 0, code->ninsns * sizeof(vm_icache));
  for (uint32_t pc = 0; pc < code->ninsns; pc++) {
    vm_opcode op = (vm_opcode)VM_INSN_OP(code->insns[pc]);
    if (op == VM_OP_LOOP || op == VM_OP_FORLOOP)
      code->ic[pc].hot_limit = vm->jit_hot;
  }
}

static void jumplist_add(compiler *C, jumplist **l, int pc)
{
  jumplist *j = vm_arena_alloc(C->vm, C->arena, sizeof *j);
  j->pc = pc;
  j->next = *l;
  *l = j;
}

static void jumplist_patch_here(compiler *C, jumplist *l)
{
  for (; l; l = l->next)
    patch_here(C, l->pc);
}

/* Constant index of an int, float or string, shared between uses. */
static uint32_t add_const(compiler *C, vm_value v)
{
  vm_code *code = C->fs->code;
  for (uint32_t i = 0; i < code->nconsts; i++) {
    vm_value k = code->consts[i];
    /* Compare bits, not values: 0.0 and -0.0 are different constants. */
    if (k.tag == v.tag && k.u.i == v.u.i)
      return i;
  }
  GROW(C, code->consts, code->nconsts, code->consts_cap);
  code->consts[code->nconsts] = v;
  return code->nconsts++;
}

static uint32_t add_name(compiler *C, vm_string *name)
{
  vm_code *code = C->fs->code;
  for (uint32_t i = 0; i < code->nnames; i++)
    if (code->names[i] == name)
      return i;
  if (code->nnames >= 0xffff)
    vm_error_parse(C->vm, C->line, 1, "too many field and method names in one function");
  GROW(C, code->names, code->nnames, code->names_cap);
  code->names[code->nnames] = name;
  return code->nnames++;
}

static uint32_t add_cell(compiler *C, vm_string *name)
{
  vm_code *code = C->fs->code;
  vm_cell *cell = vm_global_cell(C->vm, name);
  for (uint32_t i = 0; i < code->ncells; i++)
    if (code->cells[i] == cell)
      return i;
  GROW(C, code->cells, code->ncells, code->cells_cap);
  code->cells[code->ncells] = cell;
  return code->ncells++;
}

/* -- Registers and scopes -------------------------------------------------------- */

static int reserve(compiler *C, int n)
{
  fstate *fs = C->fs;
  int r = fs->freereg;
  if (fs->freereg + n > VM_MAX_SLOTS)
    vm_error_parse(C->vm, C->line, 1, "function needs too many registers");
  fs->freereg += n;
  if (fs->freereg > fs->code->nslots)
    fs->code->nslots = (uint16_t)fs->freereg;
  return r;
}

/* Make the local in `slot` visible under `name` (NULL: hidden). */
static void add_local(compiler *C, vm_string *name, int slot)
{
  fstate *fs = C->fs;
  if (fs->nlocals == fs->locals_cap) {
    int ncap = fs->locals_cap ? fs->locals_cap * 2 : 16;
    local *nl = vm_arena_alloc(C->vm, C->arena, (size_t)ncap * sizeof *nl);
    if (fs->nlocals)
      memcpy(nl, fs->locals, (size_t)fs->nlocals * sizeof *nl);
    fs->locals = nl;
    fs->locals_cap = ncap;
  }
  local *l = &fs->locals[fs->nlocals++];
  l->name = name;
  l->slot = slot;
  l->depth = fs->scope_depth;
  l->captured = 0;
}

/* Declare a new local in the current scope (error if the name is taken in
   this very scope). */
static void check_redeclare(compiler *C, vm_node *at, vm_string *name)
{
  fstate *fs = C->fs;
  for (int i = fs->nlocals - 1; i >= 0 && fs->locals[i].depth == fs->scope_depth; i--)
    if (fs->locals[i].name == name)
      ERROR_AT(C, at, "'%s' is already declared in this scope", name->chars);
}

static void begin_scope(compiler *C) { C->fs->scope_depth++; }

/* Pop the scope's locals; with `close`, emit CLOSE if any was captured. */
static void end_scope(compiler *C, int close)
{
  fstate *fs = C->fs;
  int first_captured = -1;
  while (fs->nlocals > 0 && fs->locals[fs->nlocals - 1].depth == fs->scope_depth) {
    local *l = &fs->locals[--fs->nlocals];
    if (l->captured)
      first_captured = l->slot;
    fs->freereg = l->slot;
  }
  if (close && first_captured >= 0)
    emit_abc(C, VM_OP_CLOSE, first_captured, 0, 0);
  fs->scope_depth--;
}

/* Outermost level of the main chunk: declarations there are globals. */
static int at_toplevel(const compiler *C) { return C->fs->is_main && C->fs->scope_depth == 0; }

/* -- Name resolution --------------------------------------------------------------- */

typedef enum { VAR_LOCAL, VAR_UPVAL, VAR_GLOBAL } varkind;

static int find_local(fstate *fs, vm_string *name)
{
  for (int i = fs->nlocals - 1; i >= 0; i--)
    if (fs->locals[i].name == name)
      return i;
  return -1;
}

static int add_upval(compiler *C, fstate *fs, int from_local, int index)
{
  vm_code *code = fs->code;
  for (uint32_t i = 0; i < code->nupvals; i++)
    if (code->upvals[i].from_local == from_local && code->upvals[i].index == index)
      return (int)i;
  if (code->nupvals >= VM_MAX_UPVALS)
    vm_error_parse(C->vm, C->line, 1, "function captures too many variables");
  GROW(C, code->upvals, code->nupvals, code->upvals_cap);
  code->upvals[code->nupvals].from_local = (uint8_t)from_local;
  code->upvals[code->nupvals].index = (uint16_t)index;
  return (int)code->nupvals++;
}

/* Upvalue index of `name` in fs, capturing it from enclosing functions;
   -1 if no enclosing function has it. */
static int resolve_upval(compiler *C, fstate *fs, vm_string *name)
{
  fstate *parent = fs->parent;
  if (!parent)
    return -1;
  int li = find_local(parent, name);
  if (li >= 0) {
    local *l = &parent->locals[li];
    l->captured = 1;
    for (loopctx *lp = parent->loop; lp; lp = lp->outer)
      if (l->slot >= lp->first_slot)
        lp->needs_close = 1;
    return add_upval(C, fs, 1, l->slot);
  }
  int ui = resolve_upval(C, parent, name);
  return ui < 0 ? -1 : add_upval(C, fs, 0, ui);
}

static varkind resolve(compiler *C, vm_string *name, int *index)
{
  int li = find_local(C->fs, name);
  if (li >= 0) {
    *index = C->fs->locals[li].slot;
    return VAR_LOCAL;
  }
  int ui = resolve_upval(C, C->fs, name);
  if (ui >= 0) {
    *index = ui;
    return VAR_UPVAL;
  }
  *index = (int)add_cell(C, name);
  return VAR_GLOBAL;
}

/* -- Functions ------------------------------------------------------------------------ */

/* Compile a FUNC node into a new code object; returns its prototype index
   in the current function.  `qualname` names it in messages and dumps. */
static uint32_t function(compiler *C, vm_node *fn, vm_string *qualname, int is_method, int has_super)
{
  fstate fs;
  memset(&fs, 0, sizeof fs);
  fs.parent = C->fs;
  fs.is_method = is_method;
  fs.has_super = has_super;
  fs.is_init = is_method && fn->name == C->vm->str_init;
  fs.code = vm_code_new(C->vm, qualname, C->source, (uint32_t)fn->line);
  fs.code->is_method = (uint8_t)is_method;
  C->fs = &fs;
  int saved_line = C->line;
  C->line = fn->line;

  if (is_method)
    add_local(C, C->self_name, reserve(C, 1));
  int nparams = fn->count + (is_method ? 1 : 0);
  if (nparams > VM_MAX_ARGS)
    ERROR_AT(C, fn, "too many parameters");
  for (vm_node *p = fn->a; p; p = p->next) {
    check_redeclare(C, p, p->name);
    add_local(C, p->name, reserve(C, 1));
  }
  fs.code->nparams = (uint16_t)nparams;
  stmt_list(C, fn->body);
  C->line = fn->end_line ? fn->end_line : fn->line;
  emit_abc(C, VM_OP_RETURNNIL, 0, 0, 0);
  if (fs.code->nslots == 0)
    fs.code->nslots = 1; /* every frame has a slot (simplifies the JIT) */
  code_init_ic(C->vm, fs.code);
  /* Complete: the cache's prefetch thread can look its loops up now. */
  if (C->vm->jit)
    jit_cache_prefetch_code(C->vm->jit, fs.code);

  C->fs = fs.parent;
  C->line = saved_line;
  vm_code *parent = C->fs->code;
  GROW(C, parent->protos, parent->nprotos, parent->protos_cap);
  parent->protos[parent->nprotos] = fs.code;
  return parent->nprotos++;
}

/* -- Expressions ---------------------------------------------------------------------- */

static vm_opcode binop_opcode(int tok)
{
  switch (tok) {
  case VM_TOK_PLUS: return VM_OP_ADD;
  case VM_TOK_MINUS: return VM_OP_SUB;
  case VM_TOK_STAR: return VM_OP_MUL;
  case VM_TOK_SLASH: return VM_OP_DIV;
  case VM_TOK_SLASHSLASH: return VM_OP_IDIV;
  case VM_TOK_PERCENT: return VM_OP_MOD;
  case VM_TOK_DOTDOT: return VM_OP_CONCAT;
  case VM_TOK_EQ: return VM_OP_EQ;
  case VM_TOK_NE: return VM_OP_NE;
  case VM_TOK_LT: case VM_TOK_GT: return VM_OP_LT;
  case VM_TOK_LE: case VM_TOK_GE: return VM_OP_LE;
  default: return VM_OP_ADD; /* unreachable: the parser only builds the above */
  }
}

/* Evaluate `args` into consecutive registers starting at freereg. */
static int push_args(compiler *C, vm_node *call, vm_node *args)
{
  int n = 0;
  for (vm_node *a = args; a; a = a->next, n++) {
    if (n >= VM_MAX_ARGS)
      ERROR_AT(C, call, "too many arguments");
    expr_to(C, a, reserve(C, 1));
  }
  return n;
}

/* Compile a call with its callee/result register at `base` (== freereg). */
static void call_at(compiler *C, vm_node *n, int base)
{
  fstate *fs = C->fs;
  reserve(C, 1);
  if (n->kind == VM_N_CALL) {
    expr_to(C, n->a, base);
    int nargs = push_args(C, n, n->b);
    C->line = n->line;
    emit_abc(C, VM_OP_CALL, base, nargs, 0);
  } else if (n->kind == VM_N_METHOD) {
    expr_to(C, n->a, reserve(C, 1));
    int nargs = push_args(C, n, n->b);
    C->line = n->line;
    emit_abc(C, VM_OP_CALLMETHOD, base, nargs, (int)add_name(C, n->name));
  } else { /* VM_N_SUPER */
    if (!fs->is_method)
      ERROR_AT(C, n, "'super' can only be used directly inside a method");
    if (!fs->has_super)
      ERROR_AT(C, n, "'super' used in a class without a superclass");
    emit_abc(C, VM_OP_MOVE, reserve(C, 1), 0, 0);
    int nargs = push_args(C, n, n->b);
    C->line = n->line;
    emit_abc(C, VM_OP_SUPERCALL, base, nargs, (int)add_name(C, n->name));
  }
  fs->freereg = base + 1;
}

static void load_int(compiler *C, int dst, int64_t v)
{
  if (v >= INT32_MIN && v <= INT32_MAX)
    emit(C, vm_insn_asbx(VM_OP_LOADI, (unsigned)dst, (int32_t)v));
  else
    emit_abx(C, VM_OP_LOADK, dst, add_const(C, vm_int(v)));
}

/* A variable read into `dst`. */
static void name_to(compiler *C, vm_node *n, vm_string *name, int dst)
{
  int idx;
  switch (resolve(C, name, &idx)) {
  case VAR_LOCAL:
    if (idx != dst)
      emit_abc(C, VM_OP_MOVE, dst, idx, 0);
    break;
  case VAR_UPVAL:
    emit_abc(C, VM_OP_GETUPVAL, dst, idx, 0);
    break;
  case VAR_GLOBAL:
    if (n->kind == VM_N_SELF)
      ERROR_AT(C, n, "'self' used outside a method");
    emit_abx(C, VM_OP_GETGLOBAL, dst, (uint32_t)idx);
    break;
  }
}

/* Evaluate n into register dst. */
static void expr_to(compiler *C, vm_node *n, int dst)
{
  fstate *fs = C->fs;
  int saved_line = C->line;
  int top = fs->freereg;
  C->line = n->line;

  /* Expressions that write dst before they have read everything else must
     not target a live local (think `a = [a]` or `x = y and x`). */
  if (dst < fs->nlocals &&
      (n->kind == VM_N_ARRAY || n->kind == VM_N_AND || n->kind == VM_N_OR)) {
    int t = reserve(C, 1);
    expr_to(C, n, t);
    emit_abc(C, VM_OP_MOVE, dst, t, 0);
    fs->freereg = top;
    C->line = saved_line;
    return;
  }

  switch (n->kind) {
  case VM_N_NIL: emit_abc(C, VM_OP_LOADNIL, dst, 0, 0); break;
  case VM_N_TRUE: emit_abc(C, VM_OP_LOADTRUE, dst, 0, 0); break;
  case VM_N_FALSE: emit_abc(C, VM_OP_LOADFALSE, dst, 0, 0); break;
  case VM_N_INT: load_int(C, dst, n->ival); break;
  case VM_N_FLOAT: emit_abx(C, VM_OP_LOADK, dst, add_const(C, vm_float(n->fval))); break;
  case VM_N_STRING: emit_abx(C, VM_OP_LOADK, dst, add_const(C, vm_objval(VM_T_STR, n->name))); break;
  case VM_N_NAME: name_to(C, n, n->name, dst); break;
  case VM_N_SELF: name_to(C, n, C->self_name, dst); break;
  case VM_N_ARRAY:
    emit_abx(C, VM_OP_NEWARRAY, dst, (uint32_t)n->count);
    for (vm_node *e = n->a; e; e = e->next) {
      int r = expr_any(C, e);
      C->line = n->line;
      emit_abc(C, VM_OP_APPEND, dst, r, 0);
      fs->freereg = top;
    }
    break;
  case VM_N_FUNC:
    emit_abx(C, VM_OP_CLOSURE, dst, function(C, n, vm_str_cstr(C->vm, "<anonymous>"), 0, 0));
    break;
  case VM_N_BINARY: {
    int l = expr_any(C, n->a);
    int r = expr_any(C, n->b);
    C->line = n->line;
    if (n->op == VM_TOK_GT || n->op == VM_TOK_GE)
      emit_abc(C, binop_opcode(n->op), dst, r, l); /* a > b  is  b < a */
    else
      emit_abc(C, binop_opcode(n->op), dst, l, r);
    break;
  }
  case VM_N_UNARY: {
    int r = expr_any(C, n->a);
    C->line = n->line;
    emit_abc(C, n->op == VM_TOK_NOT ? VM_OP_NOT : VM_OP_UNM, dst, r, 0);
    break;
  }
  case VM_N_AND:
  case VM_N_OR: {
    /* `a and b` is a if a is falsy, else b; `a or b` is a if truthy, else b. */
    expr_to(C, n->a, dst);
    C->line = n->line;
    int j = emit_jump(C, n->kind == VM_N_AND ? VM_OP_JMPF : VM_OP_JMPT, dst);
    expr_to(C, n->b, dst);
    patch_here(C, j);
    break;
  }
  case VM_N_CALL:
  case VM_N_METHOD:
  case VM_N_SUPER: {
    /* If dst is the topmost temporary, the call can use it as its base. */
    int base = fs->freereg;
    if (dst == fs->freereg - 1 && dst >= fs->nlocals) {
      base = dst;
      fs->freereg = dst;
    }
    call_at(C, n, base);
    if (dst != base)
      emit_abc(C, VM_OP_MOVE, dst, base, 0);
    break;
  }
  case VM_N_FIELD: {
    int o = expr_any(C, n->a);
    C->line = n->line;
    emit_abc(C, VM_OP_GETFIELD, dst, o, (int)add_name(C, n->name));
    break;
  }
  case VM_N_INDEX: {
    int o = expr_any(C, n->a);
    int i = expr_any(C, n->b);
    C->line = n->line;
    emit_abc(C, VM_OP_GETINDEX, dst, o, i);
    break;
  }
  default:
    ERROR_AT(C, n, "internal error: unexpected node in expression");
  }
  fs->freereg = top;
  C->line = saved_line;
}

/* Evaluate n into some register: a local's own slot when n is a local, else
   a fresh temporary (left reserved; the caller releases it). */
static int expr_any(compiler *C, vm_node *n)
{
  if (n->kind == VM_N_NAME || n->kind == VM_N_SELF) {
    vm_string *name = n->kind == VM_N_SELF ? C->self_name : n->name;
    int li = find_local(C->fs, name);
    if (li >= 0)
      return C->fs->locals[li].slot;
  }
  int r = reserve(C, 1);
  expr_to(C, n, r);
  return r;
}

/* -- Statements --------------------------------------------------------------------- */

static void block(compiler *C, vm_node *body)
{
  begin_scope(C);
  stmt_list(C, body);
  end_scope(C, 1);
}

static void loop_begin(compiler *C, loopctx *lp, int first_slot)
{
  memset(lp, 0, sizeof *lp);
  lp->outer = C->fs->loop;
  lp->first_slot = first_slot;
  C->fs->loop = lp;
}

/* The loop body's end, where `continue` lands: close the iteration's
   captured variables so the next iteration gets fresh ones. */
static void loop_continue_point(compiler *C, loopctx *lp)
{
  jumplist_patch_here(C, lp->continues);
  if (lp->needs_close)
    emit_abc(C, VM_OP_CLOSE, lp->first_slot, 0, 0);
}

/* After the loop, where `break` lands. */
static void loop_end(compiler *C, loopctx *lp)
{
  jumplist_patch_here(C, lp->breaks);
  if (lp->needs_close && lp->breaks)
    emit_abc(C, VM_OP_CLOSE, lp->first_slot, 0, 0);
  C->fs->loop = lp->outer;
}

static void while_stmt(compiler *C, vm_node *s)
{
  fstate *fs = C->fs;
  loopctx lp;
  int start = here(C);
  int cond = expr_any(C, s->a);
  C->line = s->line;
  int exit = emit_jump(C, VM_OP_JMPF, cond);
  fs->freereg = fs->nlocals;
  loop_begin(C, &lp, fs->freereg);
  begin_scope(C);
  stmt_list(C, s->body);
  loop_continue_point(C, &lp);
  end_scope(C, 0);
  C->line = s->line;
  emit(C, vm_insn_asbx(VM_OP_LOOP, 0, (int32_t)(start - (here(C) + 1))));
  patch_here(C, exit);
  loop_end(C, &lp);
}

static void for_stmt(compiler *C, vm_node *s)
{
  fstate *fs = C->fs;
  loopctx lp;
  begin_scope(C);
  int base = reserve(C, 3);
  expr_to(C, s->a, base);
  expr_to(C, s->b, base + 1);
  if (s->c)
    expr_to(C, s->c, base + 2);
  else
    load_int(C, base + 2, 1);
  add_local(C, NULL, base);
  add_local(C, NULL, base + 1);
  add_local(C, NULL, base + 2);
  C->line = s->line;
  int prep = emit_jump(C, VM_OP_FORPREP, base);
  int body = here(C);
  loop_begin(C, &lp, base + 3);
  begin_scope(C);
  add_local(C, s->name, reserve(C, 1));
  stmt_list(C, s->body);
  loop_continue_point(C, &lp);
  end_scope(C, 0);
  C->line = s->line;
  int back = emit(C, vm_insn_asbx(VM_OP_FORLOOP, (unsigned)base, 0));
  patch_to(C, back, body);
  patch_here(C, prep);
  loop_end(C, &lp);
  end_scope(C, 0);
  (void)fs;
}

/* if/elif/else: the elif chain (nested IF nodes) is walked iteratively. */
static void if_stmt(compiler *C, vm_node *s)
{
  fstate *fs = C->fs;
  jumplist *ends = NULL;
  for (;;) {
    C->line = s->line;
    int cond = expr_any(C, s->a);
    C->line = s->line;
    int jfalse = emit_jump(C, VM_OP_JMPF, cond);
    fs->freereg = fs->nlocals;
    block(C, s->body);
    if (!s->c) {
      patch_here(C, jfalse);
      break;
    }
    jumplist_add(C, &ends, emit_jump(C, VM_OP_JMP, 0));
    patch_here(C, jfalse);
    if (s->c->kind != VM_S_IF) {
      block(C, s->c->body);
      break;
    }
    s = s->c;
  }
  jumplist_patch_here(C, ends);
}

/* Bind the value being defined by var/fn/class: at top level to a global
   (value in `reg`), otherwise it already sits in its local slot. */
static void define_global(compiler *C, vm_string *name, int reg)
{
  emit_abx(C, VM_OP_DEFGLOBAL, reg, add_cell(C, name));
}

static void var_stmt(compiler *C, vm_node *s)
{
  if (at_toplevel(C)) {
    int r = s->a ? expr_any(C, s->a) : reserve(C, 1);
    if (!s->a)
      emit_abc(C, VM_OP_LOADNIL, r, 0, 0);
    C->line = s->line;
    define_global(C, s->name, r);
    return;
  }
  check_redeclare(C, s, s->name);
  int slot = reserve(C, 1);
  if (s->a)
    expr_to(C, s->a, slot);
  else
    emit_abc(C, VM_OP_LOADNIL, slot, 0, 0);
  add_local(C, s->name, slot);
}

static void assign_stmt(compiler *C, vm_node *s)
{
  vm_node *t = s->a;
  if (t->kind == VM_N_NAME) {
    int idx;
    switch (resolve(C, t->name, &idx)) {
    case VAR_LOCAL:
      expr_to(C, s->b, idx);
      break;
    case VAR_UPVAL: {
      int r = expr_any(C, s->b);
      C->line = s->line;
      emit_abc(C, VM_OP_SETUPVAL, r, idx, 0);
      break;
    }
    case VAR_GLOBAL: {
      int r = expr_any(C, s->b);
      C->line = s->line;
      emit_abx(C, C->fs->is_main ? VM_OP_DEFGLOBAL : VM_OP_SETGLOBAL, r, (uint32_t)idx);
      break;
    }
    }
    return;
  }
  /* Left to right: object, index, value. */
  int o = expr_any(C, t->a);
  if (t->kind == VM_N_FIELD) {
    int v = expr_any(C, s->b);
    C->line = s->line;
    emit_abc(C, VM_OP_SETFIELD, o, (int)add_name(C, t->name), v);
  } else {
    int i = expr_any(C, t->b);
    int v = expr_any(C, s->b);
    C->line = s->line;
    emit_abc(C, VM_OP_SETINDEX, o, i, v);
  }
}

static void class_stmt(compiler *C, vm_node *s)
{
  fstate *fs = C->fs;
  int global = at_toplevel(C);
  int cls;
  if (!global) {
    check_redeclare(C, s, s->name);
    cls = reserve(C, 1);
    add_local(C, s->name, cls); /* visible to its own methods */
  } else {
    cls = reserve(C, 1);
  }
  emit_abx(C, VM_OP_NEWCLASS, cls, add_const(C, vm_objval(VM_T_STR, s->name)));
  if (s->a) {
    if (s->a->name == s->name)
      ERROR_AT(C, s->a, "class '%s' cannot inherit from itself", s->name->chars);
    int top = fs->freereg;
    int sup = expr_any(C, s->a);
    C->line = s->line;
    emit_abc(C, VM_OP_INHERIT, cls, sup, 0);
    fs->freereg = top;
  }
  for (vm_node *f = s->b; f; f = f->next) {
    C->line = f->line;
    for (vm_node *g = s->b; g != f; g = g->next)
      if (g->name == f->name)
        ERROR_AT(C, f, "duplicate field '%s'", f->name->chars);
    emit_abx(C, VM_OP_FIELD, cls, add_name(C, f->name));
  }
  for (vm_node *m = s->c; m; m = m->next) {
    for (vm_node *g = s->c; g != m; g = g->next)
      if (g->name == m->name)
        ERROR_AT(C, m, "duplicate method '%s'", m->name->chars);
    char qual[256];
    snprintf(qual, sizeof qual, "%s.%s", s->name->chars, m->name->chars);
    int top = fs->freereg;
    int r = reserve(C, 1);
    uint32_t p = function(C, m, vm_str_cstr(C->vm, qual), 1, s->a != NULL);
    C->line = m->line;
    emit_abx(C, VM_OP_CLOSURE, r, p);
    emit_abc(C, VM_OP_METHOD, cls, r, (int)add_name(C, m->name));
    fs->freereg = top;
  }
  C->line = s->line;
  if (global)
    define_global(C, s->name, cls);
}

static void func_stmt(compiler *C, vm_node *s)
{
  if (at_toplevel(C)) {
    int r = reserve(C, 1);
    uint32_t p = function(C, s->a, s->name, 0, 0);
    C->line = s->line;
    emit_abx(C, VM_OP_CLOSURE, r, p);
    define_global(C, s->name, r);
    return;
  }
  check_redeclare(C, s, s->name);
  int slot = reserve(C, 1);
  add_local(C, s->name, slot); /* declared first, so the body can recurse */
  uint32_t p = function(C, s->a, s->name, 0, 0);
  C->line = s->line;
  emit_abx(C, VM_OP_CLOSURE, slot, p);
}

static void stmt(compiler *C, vm_node *s)
{
  fstate *fs = C->fs;
  C->line = s->line;
  switch (s->kind) {
  case VM_S_EXPR: {
    int base = fs->freereg;
    call_at(C, s->a, base);
    break;
  }
  case VM_S_VAR: var_stmt(C, s); break;
  case VM_S_ASSIGN: assign_stmt(C, s); break;
  case VM_S_IF: if_stmt(C, s); break;
  case VM_S_WHILE: while_stmt(C, s); break;
  case VM_S_FOR: for_stmt(C, s); break;
  case VM_S_BLOCK: block(C, s->body); break;
  case VM_S_FUNC: func_stmt(C, s); break;
  case VM_S_CLASS: class_stmt(C, s); break;
  case VM_S_BREAK:
  case VM_S_CONTINUE: {
    if (!fs->loop)
      ERROR_AT(C, s, "'%s' outside a loop", s->kind == VM_S_BREAK ? "break" : "continue");
    int j = emit_jump(C, VM_OP_JMP, 0);
    jumplist_add(C, s->kind == VM_S_BREAK ? &fs->loop->breaks : &fs->loop->continues, j);
    break;
  }
  case VM_S_RETURN:
    if (s->a) {
      if (fs->is_init)
        ERROR_AT(C, s, "'init' cannot return a value");
      int r = expr_any(C, s->a);
      C->line = s->line;
      emit_abc(C, VM_OP_RETURN, r, 0, 0);
    } else {
      emit_abc(C, VM_OP_RETURNNIL, 0, 0, 0);
    }
    break;
  default:
    ERROR_AT(C, s, "internal error: unexpected statement");
  }
  /* Statement boundary: no temporaries survive. */
  fs->freereg = fs->nlocals ? fs->locals[fs->nlocals - 1].slot + 1 : 0;
}

static void stmt_list(compiler *C, vm_node *s)
{
  for (; s; s = s->next)
    stmt(C, s);
}

/* -- Entry point ---------------------------------------------------------------------- */

vm_func *vm_compile_program(vm_vm *vm, vm_arena *arena, vm_node *prog, const char *source)
{
  compiler C0, *C = &C0;
  memset(C, 0, sizeof *C);
  C->vm = vm;
  C->arena = arena;
  C->source = vm_str_cstr(vm, source);
  C->self_name = vm_str_cstr(vm, "self");
  C->line = 1;

  fstate fs;
  memset(&fs, 0, sizeof fs);
  fs.is_main = 1;
  fs.code = vm_code_new(vm, vm_str_cstr(vm, "<main>"), C->source, 1);
  C->fs = &fs;
  stmt_list(C, prog);
  emit_abc(C, VM_OP_RETURNNIL, 0, 0, 0);
  if (fs.code->nslots == 0)
    fs.code->nslots = 1;
  code_init_ic(vm, fs.code);
  return vm_func_new(vm, fs.code);
}
