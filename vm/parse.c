/*
 * parse.c — recursive-descent parser producing the syntax tree of ast.h.
 *
 * Precedence, lowest first (all binary operators left-associative except
 * '..', which is right-associative):
 *
 *   or
 *   and
 *   ==  !=  <  <=  >  >=
 *   ..
 *   +  -
 *   *  /  //  %
 *   unary -  not
 *   postfix: call f(x), field a.b, method a.m(x), index a[i]
 *
 * Nesting of expressions and blocks is limited (VM_PARSE_MAX_DEPTH) so that
 * neither the parser nor the compiler, both recursive, can exhaust the C
 * stack on hostile input.
 */
#include "parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vm.h"

#define VM_PARSE_MAX_DEPTH 200

typedef struct parser {
  vm_vm *vm;
  vm_arena *arena;
  vm_lexer lx;
  int depth;
} parser;

/* -- Arena ----------------------------------------------------------------- */

struct vm_arena_chunk {
  vm_arena_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
};

void *vm_arena_alloc(vm_vm *vm, vm_arena *a, size_t size)
{
  size = (size + 15) & ~(size_t)15;
  vm_arena_chunk *c = a->chunks;
  if (!c || c->cap - c->used < size) {
    size_t cap = size > 65536 ? size : 65536;
    c = malloc(sizeof *c + cap);
    if (!c)
      vm_error_oom(vm);
    c->used = 0;
    c->cap = cap;
    c->next = a->chunks;
    a->chunks = c;
  }
  void *p = c->data + c->used;
  c->used += size;
  memset(p, 0, size);
  return p;
}

void vm_arena_free(vm_arena *a)
{
  while (a->chunks) {
    vm_arena_chunk *c = a->chunks;
    a->chunks = c->next;
    free(c);
  }
}

/* -- Token helpers ----------------------------------------------------------- */

#define TOK (P->lx.tok)

static void next(parser *P) { vm_lex_next(&P->lx); }

/* Describe a token for an error message: 'foo', 42, 'end', end of file. */
static const char *describe(const vm_token *t, char *buf, size_t n)
{
  switch (t->kind) {
  case VM_TOK_NAME:
  case VM_TOK_INT:
  case VM_TOK_FLOAT: {
    int len = t->len > 40 ? 40 : (int)t->len;
    snprintf(buf, n, "'%.*s'", len, t->start);
    return buf;
  }
  default:
    return vm_lex_token_name(t->kind);
  }
}

static void error_at(parser *P, const vm_token *t, const char *what)
{
  char buf[64];
  vm_error_parse(P->vm, t->line, t->col, "expected %s, got %s", what, describe(t, buf, sizeof buf));
}

static int accept(parser *P, vm_tokkind k)
{
  if (TOK.kind != k)
    return 0;
  next(P);
  return 1;
}

static void expect(parser *P, vm_tokkind k)
{
  if (TOK.kind != k)
    error_at(P, &TOK, vm_lex_token_name(k));
  next(P);
}

/* Expect the 'end' closing a construct opened at `line`. */
static void expect_end(parser *P, const char *what, int line)
{
  if (TOK.kind != VM_TOK_END) {
    char buf[64], msg[96];
    snprintf(msg, sizeof msg, "'end' (to close '%s' at line %d)", what, line);
    vm_error_parse(P->vm, TOK.line, TOK.col, "expected %s, got %s", msg,
                   describe(&TOK, buf, sizeof buf));
  }
  next(P);
}

static vm_string *expect_name(parser *P)
{
  if (TOK.kind != VM_TOK_NAME)
    error_at(P, &TOK, "a name");
  vm_string *s = TOK.str;
  next(P);
  return s;
}

static vm_node *mknode(parser *P, vm_nodekind kind, const vm_token *at)
{
  vm_node *n = vm_arena_alloc(P->vm, P->arena, sizeof *n);
  n->kind = kind;
  n->line = at->line;
  n->col = at->col;
  return n;
}

static void enter(parser *P)
{
  if (++P->depth > VM_PARSE_MAX_DEPTH)
    vm_error_parse(P->vm, TOK.line, TOK.col, "nesting too deep");
}

static void leave(parser *P) { P->depth--; }

/* -- Expressions ------------------------------------------------------------- */

static vm_node *expr(parser *P);
static vm_node *block(parser *P);

/* Comma-separated expressions up to `close`; returns the list, sets *count. */
static vm_node *expr_list(parser *P, vm_tokkind close, int *count)
{
  vm_node *head = NULL, **tail = &head;
  *count = 0;
  if (TOK.kind != close) {
    do {
      if (TOK.kind == close) /* trailing comma */
        break;
      *tail = expr(P);
      tail = &(*tail)->next;
      (*count)++;
    } while (accept(P, VM_TOK_COMMA));
  }
  expect(P, close);
  return head;
}

/* '(' params ')' block 'end' — shared by fn statements, fn literals, def. */
static vm_node *func_body(parser *P, vm_node *fn, const char *what, int line)
{
  vm_node *head = NULL, **tail = &head;
  expect(P, VM_TOK_LPAREN);
  if (TOK.kind != VM_TOK_RPAREN) {
    do {
      vm_token at = TOK;
      vm_node *p = mknode(P, VM_N_NAME, &at);
      p->name = expect_name(P);
      *tail = p;
      tail = &p->next;
      fn->count++;
    } while (accept(P, VM_TOK_COMMA));
  }
  expect(P, VM_TOK_RPAREN);
  fn->a = head;
  fn->body = block(P);
  fn->end_line = TOK.line;
  expect_end(P, what, line);
  return fn;
}

static vm_node *primary(parser *P)
{
  vm_token t = TOK;
  vm_node *n;
  switch (t.kind) {
  case VM_TOK_NAME:
    n = mknode(P, VM_N_NAME, &t);
    n->name = t.str;
    next(P);
    return n;
  case VM_TOK_INT:
    if (t.int_is_min)
      vm_error_parse(P->vm, t.line, t.col, "integer literal too large");
    n = mknode(P, VM_N_INT, &t);
    n->ival = t.ival;
    next(P);
    return n;
  case VM_TOK_FLOAT:
    n = mknode(P, VM_N_FLOAT, &t);
    n->fval = t.fval;
    next(P);
    return n;
  case VM_TOK_STRING:
    n = mknode(P, VM_N_STRING, &t);
    n->name = t.str;
    next(P);
    return n;
  case VM_TOK_NIL: next(P); return mknode(P, VM_N_NIL, &t);
  case VM_TOK_TRUE: next(P); return mknode(P, VM_N_TRUE, &t);
  case VM_TOK_FALSE: next(P); return mknode(P, VM_N_FALSE, &t);
  case VM_TOK_SELF: next(P); return mknode(P, VM_N_SELF, &t);
  case VM_TOK_LPAREN:
    next(P);
    n = expr(P);
    expect(P, VM_TOK_RPAREN);
    return n;
  case VM_TOK_LBRACKET:
    next(P);
    n = mknode(P, VM_N_ARRAY, &t);
    n->a = expr_list(P, VM_TOK_RBRACKET, &n->count);
    return n;
  case VM_TOK_FN:
    next(P);
    n = mknode(P, VM_N_FUNC, &t);
    return func_body(P, n, "fn", t.line);
  case VM_TOK_SUPER:
    next(P);
    n = mknode(P, VM_N_SUPER, &t);
    expect(P, VM_TOK_DOT);
    n->name = expect_name(P);
    if (TOK.kind != VM_TOK_LPAREN)
      error_at(P, &TOK, "'(' (super can only be used to call a method)");
    next(P);
    n->b = expr_list(P, VM_TOK_RPAREN, &n->count);
    return n;
  default:
    error_at(P, &t, "an expression");
    return NULL;
  }
}

static vm_node *postfix(parser *P)
{
  vm_node *e = primary(P);
  for (;;) {
    vm_token t = TOK;
    vm_node *n;
    if (accept(P, VM_TOK_DOT)) {
      vm_string *name = expect_name(P);
      if (accept(P, VM_TOK_LPAREN)) {
        n = mknode(P, VM_N_METHOD, &t);
        n->name = name;
        n->a = e;
        n->b = expr_list(P, VM_TOK_RPAREN, &n->count);
      } else {
        n = mknode(P, VM_N_FIELD, &t);
        n->name = name;
        n->a = e;
      }
    } else if (accept(P, VM_TOK_LBRACKET)) {
      n = mknode(P, VM_N_INDEX, &t);
      n->a = e;
      n->b = expr(P);
      expect(P, VM_TOK_RBRACKET);
    } else if (accept(P, VM_TOK_LPAREN)) {
      n = mknode(P, VM_N_CALL, &t);
      n->a = e;
      n->b = expr_list(P, VM_TOK_RPAREN, &n->count);
    } else {
      return e;
    }
    e = n;
  }
}

static vm_node *unary(parser *P)
{
  vm_token t = TOK;
  if (t.kind == VM_TOK_MINUS || t.kind == VM_TOK_NOT) {
    next(P);
    /* -9223372036854775808 is only expressible as a negated literal. */
    if (t.kind == VM_TOK_MINUS && TOK.kind == VM_TOK_INT && TOK.int_is_min) {
      vm_node *n = mknode(P, VM_N_INT, &t);
      n->ival = INT64_MIN;
      next(P);
      return n;
    }
    enter(P);
    vm_node *operand = unary(P);
    leave(P);
    /* Fold negative numeric literals so they load as constants. */
    if (t.kind == VM_TOK_MINUS && operand->kind == VM_N_INT && operand->ival != INT64_MIN) {
      operand->ival = -operand->ival;
      operand->line = t.line;
      operand->col = t.col;
      return operand;
    }
    if (t.kind == VM_TOK_MINUS && operand->kind == VM_N_FLOAT) {
      operand->fval = -operand->fval;
      operand->line = t.line;
      operand->col = t.col;
      return operand;
    }
    vm_node *n = mknode(P, VM_N_UNARY, &t);
    n->op = t.kind;
    n->a = operand;
    return n;
  }
  return postfix(P);
}

/* Binary precedence levels, 1 = loosest.  0: not a binary operator. */
static int precedence(vm_tokkind k)
{
  switch (k) {
  case VM_TOK_OR: return 1;
  case VM_TOK_AND: return 2;
  case VM_TOK_EQ: case VM_TOK_NE: case VM_TOK_LT: case VM_TOK_LE: case VM_TOK_GT: case VM_TOK_GE:
    return 3;
  case VM_TOK_DOTDOT: return 4;
  case VM_TOK_PLUS: case VM_TOK_MINUS: return 5;
  case VM_TOK_STAR: case VM_TOK_SLASH: case VM_TOK_SLASHSLASH: case VM_TOK_PERCENT: return 6;
  default: return 0;
  }
}

/* Precedence climbing: parse operators binding tighter than `min`. */
static vm_node *binary(parser *P, int min)
{
  enter(P);
  vm_node *left = unary(P);
  for (;;) {
    vm_token t = TOK;
    int prec = precedence(t.kind);
    if (prec == 0 || prec < min)
      break;
    next(P);
    /* '..' is right-associative: its right side may contain another '..'. */
    vm_node *right = binary(P, t.kind == VM_TOK_DOTDOT ? prec : prec + 1);
    vm_node *n;
    if (t.kind == VM_TOK_AND || t.kind == VM_TOK_OR) {
      n = mknode(P, t.kind == VM_TOK_AND ? VM_N_AND : VM_N_OR, &t);
    } else {
      n = mknode(P, VM_N_BINARY, &t);
      n->op = t.kind;
    }
    n->a = left;
    n->b = right;
    left = n;
  }
  leave(P);
  return left;
}

static vm_node *expr(parser *P) { return binary(P, 1); }

/* -- Statements ------------------------------------------------------------ */

static vm_node *statement(parser *P);

static int block_follow(vm_tokkind k)
{
  return k == VM_TOK_END || k == VM_TOK_ELSE || k == VM_TOK_ELIF || k == VM_TOK_EOF;
}

/* Statements up to 'end'/'else'/'elif'/EOF; 'return' must come last. */
static vm_node *block(parser *P)
{
  vm_node *head = NULL, **tail = &head;
  enter(P);
  for (;;) {
    while (accept(P, VM_TOK_SEMI))
      ;
    if (block_follow(TOK.kind))
      break;
    if (TOK.kind == VM_TOK_RETURN) {
      vm_token t = TOK;
      next(P);
      vm_node *r = mknode(P, VM_S_RETURN, &t);
      if (!block_follow(TOK.kind) && TOK.kind != VM_TOK_SEMI)
        r->a = expr(P);
      while (accept(P, VM_TOK_SEMI))
        ;
      if (!block_follow(TOK.kind))
        vm_error_parse(P->vm, TOK.line, TOK.col, "'return' must be the last statement in its block");
      *tail = r;
      break;
    }
    *tail = statement(P);
    while (*tail)
      tail = &(*tail)->next;
  }
  leave(P);
  return head;
}

/* if ... elif ... else ... end.  An elif chain becomes nested IF nodes in
   the else slots, built iteratively so a long chain costs no nesting depth. */
static vm_node *if_stmt(parser *P, const vm_token *t)
{
  vm_node *first = mknode(P, VM_S_IF, t), *n = first;
  for (;;) {
    n->a = expr(P);
    expect(P, VM_TOK_THEN);
    n->body = block(P);
    vm_token e = TOK;
    if (accept(P, VM_TOK_ELIF)) {
      n->c = mknode(P, VM_S_IF, &e);
      n = n->c;
      continue;
    }
    if (accept(P, VM_TOK_ELSE)) {
      vm_node *b = mknode(P, VM_S_BLOCK, &e);
      b->body = block(P);
      n->c = b;
    }
    break;
  }
  expect_end(P, "if", t->line);
  return first;
}

static vm_node *class_stmt(parser *P, const vm_token *t)
{
  vm_node *n = mknode(P, VM_S_CLASS, t);
  n->name = expect_name(P);
  if (accept(P, VM_TOK_LT)) {
    vm_token st = TOK;
    vm_node *s = mknode(P, VM_N_NAME, &st);
    s->name = expect_name(P);
    n->a = s;
  }
  vm_node **ftail = &n->b, **mtail = &n->c;
  for (;;) {
    vm_token m = TOK;
    if (accept(P, VM_TOK_SEMI))
      continue;
    if (accept(P, VM_TOK_VAR)) {
      do {
        vm_token ft = TOK;
        vm_node *f = mknode(P, VM_N_NAME, &ft);
        f->name = expect_name(P);
        *ftail = f;
        ftail = &f->next;
      } while (accept(P, VM_TOK_COMMA));
    } else if (accept(P, VM_TOK_DEF)) {
      vm_node *f = mknode(P, VM_N_FUNC, &m);
      f->name = expect_name(P);
      func_body(P, f, "def", m.line);
      *mtail = f;
      mtail = &f->next;
    } else if (TOK.kind == VM_TOK_END) {
      break;
    } else {
      error_at(P, &TOK, "'var', 'def' or 'end' in class body");
    }
  }
  expect_end(P, "class", t->line);
  return n;
}

static vm_node *statement(parser *P)
{
  vm_token t = TOK;
  vm_node *n;
  switch (t.kind) {
  case VM_TOK_VAR: {
    /* var a = 1, b, c = 3  → one VAR node per name, chained. */
    vm_node *head = NULL, **tail = &head;
    next(P);
    do {
      vm_token nt = TOK;
      n = mknode(P, VM_S_VAR, &nt);
      n->name = expect_name(P);
      if (accept(P, VM_TOK_ASSIGN))
        n->a = expr(P);
      *tail = n;
      tail = &n->next;
    } while (accept(P, VM_TOK_COMMA));
    return head;
  }
  case VM_TOK_FN:
    if (vm_lex_peek(&P->lx)->kind == VM_TOK_NAME) {
      next(P);
      n = mknode(P, VM_S_FUNC, &t);
      n->name = TOK.str;
      next(P);
      vm_node *f = mknode(P, VM_N_FUNC, &t);
      f->name = n->name;
      n->a = func_body(P, f, "fn", t.line);
      return n;
    }
    break; /* an expression statement starting with a fn literal */
  case VM_TOK_CLASS:
    next(P);
    return class_stmt(P, &t);
  case VM_TOK_IF:
    next(P);
    return if_stmt(P, &t);
  case VM_TOK_WHILE:
    next(P);
    n = mknode(P, VM_S_WHILE, &t);
    n->a = expr(P);
    expect(P, VM_TOK_DO);
    n->body = block(P);
    expect_end(P, "while", t.line);
    return n;
  case VM_TOK_FOR:
    next(P);
    n = mknode(P, VM_S_FOR, &t);
    n->name = expect_name(P);
    expect(P, VM_TOK_ASSIGN);
    n->a = expr(P);
    expect(P, VM_TOK_COMMA);
    n->b = expr(P);
    if (accept(P, VM_TOK_COMMA))
      n->c = expr(P);
    expect(P, VM_TOK_DO);
    n->body = block(P);
    expect_end(P, "for", t.line);
    return n;
  case VM_TOK_BREAK:
    next(P);
    return mknode(P, VM_S_BREAK, &t);
  case VM_TOK_CONTINUE:
    next(P);
    return mknode(P, VM_S_CONTINUE, &t);
  case VM_TOK_DO: {
    next(P);
    n = mknode(P, VM_S_BLOCK, &t);
    n->body = block(P);
    expect_end(P, "do", t.line);
    return n;
  }
  default:
    break;
  }
  /* Expression statement: an assignment or a call. */
  vm_node *e = postfix(P);
  vm_token at = TOK;
  if (accept(P, VM_TOK_ASSIGN)) {
    if (e->kind != VM_N_NAME && e->kind != VM_N_FIELD && e->kind != VM_N_INDEX)
      vm_error_parse(P->vm, at.line, at.col, "cannot assign to this expression");
    n = mknode(P, VM_S_ASSIGN, &at);
    n->a = e;
    n->b = expr(P);
    return n;
  }
  if (e->kind != VM_N_CALL && e->kind != VM_N_METHOD && e->kind != VM_N_SUPER) {
    char buf[64];
    vm_error_parse(P->vm, at.line, at.col, "expected a call or an assignment, got %s",
                   describe(&at, buf, sizeof buf));
  }
  n = mknode(P, VM_S_EXPR, &t);
  n->a = e;
  return n;
}

/* -- Entry point ------------------------------------------------------------- */

vm_node *vm_parse_program(vm_vm *vm, vm_arena *arena, const char *src, size_t len)
{
  parser P0, *P = &P0;
  memset(P, 0, sizeof *P);
  P->vm = vm;
  P->arena = arena;
  vm_lex_init(&P->lx, vm, src, len);
  next(P);
  vm_node *prog = block(P);
  if (TOK.kind != VM_TOK_EOF) {
    char buf[64];
    vm_error_parse(vm, TOK.line, TOK.col, "unexpected %s", describe(&TOK, buf, sizeof buf));
  }
  return prog;
}
