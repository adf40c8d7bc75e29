/*
 * lex.h — the tokenizer.
 */
#ifndef VM_LEX_H
#define VM_LEX_H

#include <stddef.h>
#include <stdint.h>

#include "object.h"

typedef struct vm_vm vm_vm;

/* X(enum suffix, spelling for messages) */
#define VM_TOKEN_LIST(X)                                                                    \
  X(EOF, "end of file")                                                                     \
  X(NAME, "name")                                                                           \
  X(INT, "integer")                                                                         \
  X(FLOAT, "number")                                                                        \
  X(STRING, "string")                                                                       \
  /* keywords */                                                                            \
  X(AND, "'and'") X(BREAK, "'break'") X(CLASS, "'class'") X(CONTINUE, "'continue'")          \
  X(DEF, "'def'") X(DO, "'do'") X(ELIF, "'elif'") X(ELSE, "'else'") X(END, "'end'")         \
  X(FALSE, "'false'") X(FN, "'fn'") X(FOR, "'for'") X(IF, "'if'") X(NIL, "'nil'")           \
  X(NOT, "'not'") X(OR, "'or'") X(RETURN, "'return'") X(SELF, "'self'")                     \
  X(SUPER, "'super'") X(THEN, "'then'") X(TRUE, "'true'") X(VAR, "'var'")                   \
  X(WHILE, "'while'")                                                                       \
  /* punctuation */                                                                         \
  X(LPAREN, "'('") X(RPAREN, "')'") X(LBRACKET, "'['") X(RBRACKET, "']'")                   \
  X(COMMA, "','") X(DOT, "'.'") X(DOTDOT, "'..'") X(SEMI, "';'")                            \
  X(PLUS, "'+'") X(MINUS, "'-'") X(STAR, "'*'") X(SLASH, "'/'") X(SLASHSLASH, "'//'")       \
  X(PERCENT, "'%'") X(ASSIGN, "'='") X(EQ, "'=='") X(NE, "'!='") X(LT, "'<'")               \
  X(LE, "'<='") X(GT, "'>'") X(GE, "'>='")

typedef enum {
#define VM_TOK_ENUM(name, str) VM_TOK_##name,
  VM_TOKEN_LIST(VM_TOK_ENUM)
#undef VM_TOK_ENUM
  VM_TOK__COUNT
} vm_tokkind;

typedef struct vm_token {
  vm_tokkind kind;
  int line, col;
  const char *start; /* source text of the token */
  size_t len;
  int64_t ival;      /* INT; see int_is_min */
  double fval;       /* FLOAT */
  vm_string *str;    /* NAME and STRING (interned, unescaped) */
  int int_is_min;    /* INT literal 9223372036854775808: only valid after unary '-' */
} vm_token;

typedef struct vm_lexer {
  vm_vm *vm;
  const char *src, *end, *p;
  int line, col;
  vm_token tok;   /* current token */
  vm_token ahead; /* lookahead, valid if has_ahead */
  int has_ahead;
} vm_lexer;

void vm_lex_init(vm_lexer *lx, vm_vm *vm, const char *src, size_t len);
/* Advance to the next token (lx->tok). */
void vm_lex_next(vm_lexer *lx);
/* Peek at the token after the current one. */
const vm_token *vm_lex_peek(vm_lexer *lx);
const char *vm_lex_token_name(vm_tokkind k);

#endif /* VM_LEX_H */
