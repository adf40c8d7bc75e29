/*
 * lex.c — the tokenizer: source bytes to tokens.
 *
 * Newlines are not significant.  Comments run from '#' to the end of the
 * line (so a "#!" first line works too).  Columns count bytes from 1.
 */
#include "lex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "vm.h"

static const char *const token_names[VM_TOK__COUNT] = {
#define VM_TOK_STR(name, str) str,
    VM_TOKEN_LIST(VM_TOK_STR)
#undef VM_TOK_STR
};

const char *vm_lex_token_name(vm_tokkind k) { return k < VM_TOK__COUNT ? token_names[k] : "?"; }

static const struct {
  const char *word;
  vm_tokkind kind;
} keywords[] = {
    {"and", VM_TOK_AND},       {"break", VM_TOK_BREAK},   {"class", VM_TOK_CLASS},
    {"continue", VM_TOK_CONTINUE}, {"def", VM_TOK_DEF},   {"do", VM_TOK_DO},
    {"elif", VM_TOK_ELIF},     {"else", VM_TOK_ELSE},     {"end", VM_TOK_END},
    {"false", VM_TOK_FALSE},   {"fn", VM_TOK_FN},         {"for", VM_TOK_FOR},
    {"if", VM_TOK_IF},         {"nil", VM_TOK_NIL},       {"not", VM_TOK_NOT},
    {"or", VM_TOK_OR},         {"return", VM_TOK_RETURN}, {"self", VM_TOK_SELF},
    {"super", VM_TOK_SUPER},   {"then", VM_TOK_THEN},     {"true", VM_TOK_TRUE},
    {"var", VM_TOK_VAR},       {"while", VM_TOK_WHILE},
};

void vm_lex_init(vm_lexer *lx, vm_vm *vm, const char *src, size_t len)
{
  memset(lx, 0, sizeof *lx);
  lx->vm = vm;
  lx->src = lx->p = src;
  lx->end = src + len;
  lx->line = 1;
  lx->col = 1;
}

/* -- Character helpers ------------------------------------------------------- */

static int peekc(const vm_lexer *lx, size_t k) { return lx->p + k < lx->end ? (unsigned char)lx->p[k] : -1; }

static void advance(vm_lexer *lx)
{
  if (*lx->p == '\n') {
    lx->line++;
    lx->col = 1;
  } else {
    lx->col++;
  }
  lx->p++;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_hex(int c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int hex_val(int c) { return is_digit(c) ? c - '0' : (c | 32) - 'a' + 10; }

static void skip_space(vm_lexer *lx)
{
  for (;;) {
    int c = peekc(lx, 0);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      advance(lx);
    } else if (c == '#') {
      while (peekc(lx, 0) != -1 && peekc(lx, 0) != '\n')
        advance(lx);
    } else {
      return;
    }
  }
}

/* -- Token scanners ---------------------------------------------------------- */

static void lex_number(vm_lexer *lx, vm_token *t)
{
  const char *s = lx->p;
  int is_float = 0;
  if (peekc(lx, 0) == '0' && (peekc(lx, 1) == 'x' || peekc(lx, 1) == 'X')) {
    advance(lx);
    advance(lx);
    uint64_t v = 0;
    int ndig = 0;
    while (is_hex(peekc(lx, 0))) {
      if (v > (UINT64_MAX >> 4))
        vm_error_parse(lx->vm, t->line, t->col, "integer literal too large");
      v = (v << 4) | (uint64_t)hex_val(peekc(lx, 0));
      ndig++;
      advance(lx);
    }
    if (ndig == 0 || is_alpha(peekc(lx, 0)) || is_digit(peekc(lx, 0)))
      vm_error_parse(lx->vm, t->line, t->col, "malformed number");
    if (v > (uint64_t)INT64_MAX)
      vm_error_parse(lx->vm, t->line, t->col, "integer literal too large");
    t->kind = VM_TOK_INT;
    t->ival = (int64_t)v;
    return;
  }
  while (is_digit(peekc(lx, 0)))
    advance(lx);
  /* "1..2" is 1 .. 2, and "a.0" style access is not a thing: a '.' only
     starts a fraction when a digit follows. */
  if (peekc(lx, 0) == '.' && is_digit(peekc(lx, 1))) {
    is_float = 1;
    advance(lx);
    while (is_digit(peekc(lx, 0)))
      advance(lx);
  }
  if (peekc(lx, 0) == 'e' || peekc(lx, 0) == 'E') {
    int k = 1;
    if (peekc(lx, 1) == '+' || peekc(lx, 1) == '-')
      k = 2;
    if (!is_digit(peekc(lx, (size_t)k)))
      vm_error_parse(lx->vm, t->line, t->col, "malformed number");
    is_float = 1;
    while (k--)
      advance(lx);
    while (is_digit(peekc(lx, 0)))
      advance(lx);
  }
  if (is_alpha(peekc(lx, 0)))
    vm_error_parse(lx->vm, t->line, t->col, "malformed number");
  size_t n = (size_t)(lx->p - s);
  char buf[400];
  if (n >= sizeof buf)
    vm_error_parse(lx->vm, t->line, t->col, "number literal too long");
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (is_float) {
    t->kind = VM_TOK_FLOAT;
    t->fval = strtod(buf, NULL); /* overflow gives inf, which is fine */
    return;
  }
  errno = 0;
  unsigned long long v = strtoull(buf, NULL, 10);
  t->kind = VM_TOK_INT;
  if (errno == ERANGE || v > (unsigned long long)INT64_MAX + 1)
    vm_error_parse(lx->vm, t->line, t->col, "integer literal too large");
  if (v == (unsigned long long)INT64_MAX + 1) {
    t->int_is_min = 1;
    t->ival = INT64_MIN;
  } else {
    t->ival = (int64_t)v;
  }
}

static void lex_string(vm_lexer *lx, vm_token *t)
{
  vm_buf *b = &lx->vm->fmt;
  b->len = 0;
  advance(lx); /* opening quote */
  for (;;) {
    int c = peekc(lx, 0);
    if (c == -1 || c == '\n')
      vm_error_parse(lx->vm, t->line, t->col, "unterminated string");
    if (c == '"') {
      advance(lx);
      break;
    }
    if (c == '\\') {
      int el = lx->line, ec = lx->col;
      advance(lx);
      int e = peekc(lx, 0);
      char out;
      switch (e) {
      case 'n': out = '\n'; break;
      case 't': out = '\t'; break;
      case 'r': out = '\r'; break;
      case '0': out = '\0'; break;
      case '\\': out = '\\'; break;
      case '"': out = '"'; break;
      case 'x':
        if (!is_hex(peekc(lx, 1)) || !is_hex(peekc(lx, 2)))
          vm_error_parse(lx->vm, el, ec, "invalid \\x escape (two hex digits expected)");
        out = (char)(hex_val(peekc(lx, 1)) * 16 + hex_val(peekc(lx, 2)));
        advance(lx);
        advance(lx);
        break;
      default:
        vm_error_parse(lx->vm, el, ec, "invalid escape sequence");
      }
      advance(lx);
      vm_buf_append(lx->vm, b, &out, 1);
      continue;
    }
    char ch = (char)c;
    vm_buf_append(lx->vm, b, &ch, 1);
    advance(lx);
  }
  t->kind = VM_TOK_STRING;
  t->str = vm_str_intern(lx->vm, b->data ? b->data : "", b->len);
}

/* Two-character operators first, then single characters. */
static void lex_punct(vm_lexer *lx, vm_token *t)
{
  int c = peekc(lx, 0), d = peekc(lx, 1);
  vm_tokkind k;
  int n = 1;
  switch (c) {
  case '(': k = VM_TOK_LPAREN; break;
  case ')': k = VM_TOK_RPAREN; break;
  case '[': k = VM_TOK_LBRACKET; break;
  case ']': k = VM_TOK_RBRACKET; break;
  case ',': k = VM_TOK_COMMA; break;
  case ';': k = VM_TOK_SEMI; break;
  case '+': k = VM_TOK_PLUS; break;
  case '-': k = VM_TOK_MINUS; break;
  case '*': k = VM_TOK_STAR; break;
  case '%': k = VM_TOK_PERCENT; break;
  case '.': k = d == '.' ? (n = 2, VM_TOK_DOTDOT) : VM_TOK_DOT; break;
  case '/': k = d == '/' ? (n = 2, VM_TOK_SLASHSLASH) : VM_TOK_SLASH; break;
  case '=': k = d == '=' ? (n = 2, VM_TOK_EQ) : VM_TOK_ASSIGN; break;
  case '<': k = d == '=' ? (n = 2, VM_TOK_LE) : VM_TOK_LT; break;
  case '>': k = d == '=' ? (n = 2, VM_TOK_GE) : VM_TOK_GT; break;
  case '!':
    if (d == '=') {
      k = VM_TOK_NE;
      n = 2;
      break;
    }
    /* fall through */
  default:
    if (c >= 33 && c < 127)
      vm_error_parse(lx->vm, t->line, t->col, "unexpected character '%c'", c);
    vm_error_parse(lx->vm, t->line, t->col, "unexpected byte 0x%02x", c);
  }
  while (n--)
    advance(lx);
  t->kind = k;
}

/* Scan one token into *t. */
static void scan(vm_lexer *lx, vm_token *t)
{
  skip_space(lx);
  memset(t, 0, sizeof *t);
  t->line = lx->line;
  t->col = lx->col;
  t->start = lx->p;
  int c = peekc(lx, 0);
  if (c == -1) {
    t->kind = VM_TOK_EOF;
  } else if (is_digit(c)) {
    lex_number(lx, t);
  } else if (is_alpha(c)) {
    while (is_alpha(peekc(lx, 0)) || is_digit(peekc(lx, 0)))
      advance(lx);
    size_t n = (size_t)(lx->p - t->start);
    t->kind = VM_TOK_NAME;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
      if (strlen(keywords[i].word) == n && memcmp(keywords[i].word, t->start, n) == 0) {
        t->kind = keywords[i].kind;
        break;
      }
    }
    if (t->kind == VM_TOK_NAME)
      t->str = vm_str_intern(lx->vm, t->start, n);
  } else if (c == '"') {
    lex_string(lx, t);
  } else {
    lex_punct(lx, t);
  }
  t->len = (size_t)(lx->p - t->start);
}

/* -- Public interface ---------------------------------------------------------- */

void vm_lex_next(vm_lexer *lx)
{
  if (lx->has_ahead) {
    lx->tok = lx->ahead;
    lx->has_ahead = 0;
  } else {
    scan(lx, &lx->tok);
  }
}

const vm_token *vm_lex_peek(vm_lexer *lx)
{
  if (!lx->has_ahead) {
    scan(lx, &lx->ahead);
    lx->has_ahead = 1;
  }
  return &lx->ahead;
}
