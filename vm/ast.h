/*
 * ast.h — the syntax tree built by parse.c and consumed by compile.c, and
 * the arena both allocate from.  The tree lives only during compilation.
 */
#ifndef VM_AST_H
#define VM_AST_H

#include <stddef.h>
#include <stdint.h>

#include "lex.h"
#include "object.h"

/* -- Arena ----------------------------------------------------------------- */

typedef struct vm_arena_chunk vm_arena_chunk;
typedef struct vm_arena {
  vm_arena_chunk *chunks;
} vm_arena;

/* Zeroed memory that lives until vm_arena_free; exits on malloc failure. */
void *vm_arena_alloc(vm_vm *vm, vm_arena *a, size_t size);
void vm_arena_free(vm_arena *a);

/* -- Nodes ----------------------------------------------------------------- */

/* Node kinds and the fields each uses.  Lists (statements, arguments,
   elements, parameters) are chained through `next`. */
typedef enum {
  /* expressions */
  VM_N_NIL,      /* nil */
  VM_N_TRUE,     /* true */
  VM_N_FALSE,    /* false */
  VM_N_INT,      /* ival */
  VM_N_FLOAT,    /* fval */
  VM_N_STRING,   /* name: the string */
  VM_N_NAME,     /* name */
  VM_N_SELF,     /* self */
  VM_N_ARRAY,    /* a: element list; count */
  VM_N_FUNC,     /* name (or NULL), a: params (NAME list), count: nparams, body */
  VM_N_BINARY,   /* op (token kind), a, b */
  VM_N_UNARY,    /* op (MINUS or NOT), a */
  VM_N_AND,      /* a, b */
  VM_N_OR,       /* a, b */
  VM_N_CALL,     /* a: callee, b: args, count */
  VM_N_METHOD,   /* a: receiver, name, b: args, count */
  VM_N_SUPER,    /* name, b: args, count */
  VM_N_FIELD,    /* a: object, name */
  VM_N_INDEX,    /* a: object, b: index */
  /* statements */
  VM_S_EXPR,     /* a: a call expression */
  VM_S_VAR,      /* name, a: initializer or NULL */
  VM_S_ASSIGN,   /* a: target (NAME, FIELD or INDEX), b: value */
  VM_S_IF,       /* a: condition, body: then-block, c: else part (IF or BLOCK) or NULL */
  VM_S_WHILE,    /* a: condition, body */
  VM_S_FOR,      /* name, a: start, b: limit, c: step or NULL, body */
  VM_S_BREAK,
  VM_S_CONTINUE,
  VM_S_RETURN,   /* a: value or NULL */
  VM_S_FUNC,     /* name, a: FUNC node */
  VM_S_CLASS,    /* name, a: superclass expression or NULL, b: field NAME list, c: method FUNC list */
  VM_S_BLOCK     /* body */
} vm_nodekind;

typedef struct vm_node vm_node;
struct vm_node {
  vm_nodekind kind;
  int line, col;
  int op;
  int count;
  int64_t ival;
  double fval;
  vm_string *name;
  vm_node *a, *b, *c;
  vm_node *body;
  vm_node *next;
  int end_line; /* FUNC: line of the closing 'end' */
};

#endif /* VM_AST_H */
