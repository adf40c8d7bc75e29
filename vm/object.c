/*
 * object.c — constructors, the intern table, string-keyed tables, printing
 * and equality of values.
 */
#include "object.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gc.h"
#include "vm.h"

const char *vm_tag_name(uint64_t tag)
{
  static const char *const names[] = {
#define VM_TAG_STR(name, str) str,
      VM_TAG_LIST(VM_TAG_STR)
#undef VM_TAG_STR
  };
  return tag < VM_T__COUNT ? names[tag] : "?";
}

/* -- Strings and the intern table ------------------------------------------ */

/* FNV-1a, streamable so a concatenation can be hashed without a copy. */
#define FNV_OFFSET 14695981039346656037ull

static uint64_t hash_update(uint64_t h, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* Grow the bucket array; raw allocation, never collects. */
static void intern_grow(vm_vm *vm)
{
  size_t ncap = vm->intern_cap ? vm->intern_cap * 2 : 1024;
  vm_string **nb = vm_mem_realloc(vm, NULL, 0, ncap * sizeof *nb);
  memset(nb, 0, ncap * sizeof *nb);
  for (size_t i = 0; i < vm->intern_cap; i++) {
    vm_string *s = vm->intern[i];
    while (s) {
      vm_string *next = s->intern_next;
      size_t b = s->hash & (ncap - 1);
      s->intern_next = nb[b];
      nb[b] = s;
      s = next;
    }
  }
  vm_mem_realloc(vm, vm->intern, vm->intern_cap * sizeof *nb, 0);
  vm->intern = nb;
  vm->intern_cap = ncap;
}

/* Find the interned string equal to p1 followed by p2. */
static vm_string *intern_find(vm_vm *vm, const char *p1, size_t n1, const char *p2, size_t n2,
                              uint64_t h)
{
  if (!vm->intern_cap)
    return NULL;
  for (vm_string *s = vm->intern[h & (vm->intern_cap - 1)]; s; s = s->intern_next)
    if (s->hash == h && s->len == n1 + n2 && memcmp(s->chars, p1, n1) == 0 &&
        memcmp(s->chars + n1, p2, n2) == 0)
      return s;
  return NULL;
}

/* Allocate and intern the string p1 followed by p2 (known to be absent).
   May collect: p1/p2 must not point into unrooted heap strings. */
static vm_string *intern_new(vm_vm *vm, const char *p1, size_t n1, const char *p2, size_t n2,
                             uint64_t h)
{
  if (n1 > SIZE_MAX / 4 || n2 > SIZE_MAX / 4)
    vm_error_oom(vm);
  size_t len = n1 + n2;
  vm_string *s = vm_gc_alloc(vm, VM_O_STRING, sizeof(vm_string) + len + 1);
  memcpy(s->chars, p1, n1);
  memcpy(s->chars + n1, p2, n2);
  s->chars[len] = '\0';
  s->len = len;
  s->hash = h;
  if (vm->intern_count + 1 > vm->intern_cap)
    intern_grow(vm);
  size_t b = h & (vm->intern_cap - 1);
  s->intern_next = vm->intern[b];
  vm->intern[b] = s;
  vm->intern_count++;
  return s;
}

vm_string *vm_str_intern(vm_vm *vm, const char *chars, size_t len)
{
  uint64_t h = hash_update(FNV_OFFSET, chars, len);
  vm_string *s = intern_find(vm, chars, len, "", 0, h);
  return s ? s : intern_new(vm, chars, len, "", 0, h);
}

vm_string *vm_str_cstr(vm_vm *vm, const char *s) { return vm_str_intern(vm, s, strlen(s)); }

vm_string *vm_str_concat(vm_vm *vm, vm_string *a, vm_string *b)
{
  uint64_t h = hash_update(hash_update(FNV_OFFSET, a->chars, a->len), b->chars, b->len);
  vm_string *s = intern_find(vm, a->chars, a->len, b->chars, b->len, h);
  return s ? s : intern_new(vm, a->chars, a->len, b->chars, b->len, h);
}

void vm_str_sweep_interned(vm_vm *vm)
{
  for (size_t i = 0; i < vm->intern_cap; i++) {
    vm_string **pp = &vm->intern[i];
    while (*pp) {
      if (!(*pp)->hdr.marked) {
        *pp = (*pp)->intern_next;
        vm->intern_count--;
      } else {
        pp = &(*pp)->intern_next;
      }
    }
  }
}

void vm_str_table_free(vm_vm *vm)
{
  vm_mem_realloc(vm, vm->intern, vm->intern_cap * sizeof *vm->intern, 0);
  vm->intern = NULL;
  vm->intern_cap = vm->intern_count = 0;
}

/* -- Tables ------------------------------------------------------------------ */

static vm_table_entry *table_slot(vm_table_entry *e, uint32_t cap, vm_string *key)
{
  uint32_t i = (uint32_t)key->hash & (cap - 1);
  while (e[i].key && e[i].key != key)
    i = (i + 1) & (cap - 1);
  return &e[i];
}

bool vm_table_get(const vm_table *t, vm_string *key, vm_value *out)
{
  if (!t->count)
    return false;
  vm_table_entry *e = table_slot(t->entries, t->cap, key);
  if (!e->key)
    return false;
  *out = e->val;
  return true;
}

void vm_table_set(vm_vm *vm, vm_table *t, vm_string *key, vm_value val)
{
  if ((t->count + 1) * 4 > t->cap * 3) { /* keep load <= 3/4 */
    uint32_t ncap = t->cap ? t->cap * 2 : 8;
    vm_table_entry *ne = vm_mem_realloc(vm, NULL, 0, ncap * sizeof *ne);
    memset(ne, 0, ncap * sizeof *ne);
    for (uint32_t i = 0; i < t->cap; i++)
      if (t->entries[i].key)
        *table_slot(ne, ncap, t->entries[i].key) = t->entries[i];
    vm_mem_realloc(vm, t->entries, t->cap * sizeof *ne, 0);
    t->entries = ne;
    t->cap = ncap;
  }
  vm_table_entry *e = table_slot(t->entries, t->cap, key);
  if (!e->key) {
    e->key = key;
    t->count++;
  }
  e->val = val;
}

void vm_table_free(vm_vm *vm, vm_table *t)
{
  vm_mem_realloc(vm, t->entries, t->cap * sizeof *t->entries, 0);
  t->entries = NULL;
  t->cap = t->count = 0;
}

/* -- Arrays ------------------------------------------------------------------ */

vm_array *vm_array_new(vm_vm *vm, size_t cap)
{
  vm_array *a = vm_gc_alloc(vm, VM_O_ARRAY, sizeof *a);
  if (cap) {
    if (cap > SIZE_MAX / sizeof(vm_value))
      vm_error_oom(vm);
    a->items = vm_mem_realloc(vm, NULL, 0, cap * sizeof(vm_value));
    a->cap = cap;
  }
  return a;
}

void vm_array_push(vm_vm *vm, vm_array *a, vm_value v)
{
  if (a->len == a->cap) {
    size_t ncap = a->cap ? a->cap * 2 : 4;
    if (ncap > SIZE_MAX / sizeof(vm_value))
      vm_error_oom(vm);
    /* Growth is allocation volume too: give the collector its chance first
       (the caller keeps `a` and `v` rooted on the value stack). */
    vm_gc_step(vm);
    a->items = vm_mem_realloc(vm, a->items, a->cap * sizeof(vm_value), ncap * sizeof(vm_value));
    a->cap = ncap;
  }
  a->items[a->len++] = v;
}

/* -- Classes and instances --------------------------------------------------- */

vm_class *vm_class_new(vm_vm *vm, vm_string *name)
{
  vm_class *c = vm_gc_alloc(vm, VM_O_CLASS, sizeof *c);
  c->name = name;
  return c;
}

bool vm_class_add_field(vm_vm *vm, vm_class *c, vm_string *name)
{
  vm_value dummy;
  if (vm_table_get(&c->fields, name, &dummy))
    return false;
  if (c->nfields == c->field_cap) {
    uint32_t ncap = c->field_cap ? c->field_cap * 2 : 4;
    c->field_names = vm_mem_realloc(vm, c->field_names, c->field_cap * sizeof(vm_string *),
                                    ncap * sizeof(vm_string *));
    c->field_cap = ncap;
  }
  c->field_names[c->nfields] = name;
  vm_table_set(vm, &c->fields, name, vm_int(c->nfields));
  c->nfields++;
  return true;
}

void vm_class_inherit(vm_vm *vm, vm_class *c, vm_class *super)
{
  c->super = super;
  for (uint32_t i = 0; i < super->nfields; i++)
    vm_class_add_field(vm, c, super->field_names[i]);
  for (uint32_t i = 0; i < super->methods.cap; i++)
    if (super->methods.entries[i].key)
      vm_table_set(vm, &c->methods, super->methods.entries[i].key, super->methods.entries[i].val);
}

bool vm_class_field_slot(const vm_class *c, vm_string *name, uint32_t *slot)
{
  vm_value v;
  if (!vm_table_get(&c->fields, name, &v))
    return false;
  *slot = (uint32_t)v.u.i;
  return true;
}

vm_func *vm_class_find_method(const vm_class *c, vm_string *name)
{
  vm_value v;
  return vm_table_get(&c->methods, name, &v) ? (vm_func *)v.u.p : NULL;
}

vm_instance *vm_instance_new(vm_vm *vm, vm_class *c)
{
  vm_instance *in =
      vm_gc_alloc(vm, VM_O_INSTANCE, sizeof *in + (size_t)c->nfields * sizeof(vm_value));
  in->cls = c;
  in->nfields = c->nfields; /* fields are nil: the zero value */
  return in;
}

/* -- Code, functions and friends --------------------------------------------- */

vm_code *vm_code_new(vm_vm *vm, vm_string *name, vm_string *source, uint32_t line)
{
  vm_code *c = vm_gc_alloc(vm, VM_O_CODE, sizeof *c);
  c->name = name;
  c->source = source;
  c->line = line;
  return c;
}

vm_func *vm_func_new(vm_vm *vm, vm_code *code)
{
  vm_func *f =
      vm_gc_alloc(vm, VM_O_FUNC, sizeof *f + (size_t)code->nupvals * sizeof(vm_upval *));
  f->code = code;
  f->nupvals = code->nupvals;
  return f;
}

vm_upval *vm_upval_new(vm_vm *vm, vm_value *loc)
{
  vm_upval *u = vm_gc_alloc(vm, VM_O_UPVAL, sizeof *u);
  u->loc = loc;
  return u;
}

vm_native *vm_native_new(vm_vm *vm, vm_string *name, vm_native_fn fn, int arity)
{
  vm_native *n = vm_gc_alloc(vm, VM_O_NATIVE, sizeof *n);
  n->name = name;
  n->fn = fn;
  n->arity = arity;
  return n;
}

vm_bound *vm_bound_new(vm_vm *vm, vm_value self, vm_func *method)
{
  vm_bound *b = vm_gc_alloc(vm, VM_O_BOUND, sizeof *b);
  b->self = self;
  b->method = method;
  return b;
}

vm_cell *vm_cell_new(vm_vm *vm, vm_string *name)
{
  vm_cell *c = vm_gc_alloc(vm, VM_O_CELL, sizeof *c);
  c->name = name;
  c->value.tag = VM_T_UNDEF;
  return c;
}

void vm_object_free(vm_vm *vm, vm_obj *o)
{
  size_t size = 0;
  switch ((vm_objkind)o->kind) {
  case VM_O_STRING:
    size = sizeof(vm_string) + ((vm_string *)o)->len + 1;
    break;
  case VM_O_ARRAY: {
    vm_array *a = (vm_array *)o;
    vm_mem_realloc(vm, a->items, a->cap * sizeof(vm_value), 0);
    size = sizeof *a;
    break;
  }
  case VM_O_FUNC:
    size = sizeof(vm_func) + ((vm_func *)o)->nupvals * sizeof(vm_upval *);
    break;
  case VM_O_NATIVE:
    size = sizeof(vm_native);
    break;
  case VM_O_CLASS: {
    vm_class *c = (vm_class *)o;
    vm_mem_realloc(vm, c->field_names, c->field_cap * sizeof(vm_string *), 0);
    vm_table_free(vm, &c->fields);
    vm_table_free(vm, &c->methods);
    size = sizeof *c;
    break;
  }
  case VM_O_INSTANCE:
    size = sizeof(vm_instance) + ((vm_instance *)o)->nfields * sizeof(vm_value);
    break;
  case VM_O_BOUND:
    size = sizeof(vm_bound);
    break;
  case VM_O_CODE: {
    vm_code *c = (vm_code *)o;
    vm_mem_realloc(vm, c->insns, c->insns_cap * sizeof *c->insns, 0);
    vm_mem_realloc(vm, c->lines, c->insns_cap * sizeof *c->lines, 0);
    vm_mem_realloc(vm, c->ic, c->ic ? c->ninsns * sizeof *c->ic : 0, 0);
    vm_mem_realloc(vm, c->consts, c->consts_cap * sizeof *c->consts, 0);
    vm_mem_realloc(vm, c->names, c->names_cap * sizeof *c->names, 0);
    vm_mem_realloc(vm, c->cells, c->cells_cap * sizeof *c->cells, 0);
    vm_mem_realloc(vm, c->protos, c->protos_cap * sizeof *c->protos, 0);
    vm_mem_realloc(vm, c->upvals, c->upvals_cap * sizeof *c->upvals, 0);
    free(c->jit_live); /* the JIT's, outside the heap accounting */
    size = sizeof *c;
    break;
  }
  case VM_O_CELL:
    size = sizeof(vm_cell);
    break;
  case VM_O_UPVAL:
    size = sizeof(vm_upval);
    break;
  }
  vm->heap_bytes -= size;
  vm_gc_release(vm, o);
}

/* -- Printing ---------------------------------------------------------------- */

void vm_buf_append(vm_vm *vm, vm_buf *b, const char *s, size_t n)
{
  if (n > SIZE_MAX / 2 - b->len)
    vm_error_oom(vm);
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < b->len + n + 1)
      ncap *= 2;
    b->data = vm_mem_realloc(vm, b->data, b->cap, ncap);
    b->cap = ncap;
  }
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void vm_buf_free(vm_vm *vm, vm_buf *b)
{
  vm_mem_realloc(vm, b->data, b->cap, 0);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* Floats print like Python's repr(): the fewest significant digits that
   read back as the same double, in plain notation when the decimal exponent
   is in [-4, 16), otherwise as d.ddde+XX; an integral value keeps a ".0" so
   floats never look like ints.  nan, inf and -inf print as such. */
void vm_format_float(char out[32], double d)
{
  if (isnan(d)) {
    strcpy(out, "nan");
    return;
  }
  if (isinf(d)) {
    strcpy(out, d > 0 ? "inf" : "-inf");
    return;
  }
  /* Shortest round-tripping scientific form; 17 digits always suffice. */
  char sci[40];
  for (int prec = 0; prec <= 16; prec++) {
    snprintf(sci, sizeof sci, "%.*e", prec, d);
    if (strtod(sci, NULL) == d)
      break;
  }
  /* Split "-d.ddde+XX" into sign, digits and exponent. */
  const char *p = sci;
  int neg = *p == '-';
  if (neg)
    p++;
  char digits[20];
  int nd = 0;
  for (; *p && *p != 'e'; p++)
    if (*p >= '0' && *p <= '9' && nd < 19)
      digits[nd++] = *p;
  digits[nd] = '\0';
  int exp = *p == 'e' ? atoi(p + 1) : 0;
  while (nd > 1 && digits[nd - 1] == '0') /* %.Ne may pad with zeros */
    digits[--nd] = '\0';

  char *o = out;
  if (neg)
    *o++ = '-';
  if (exp >= 16 || exp < -4) {
    *o++ = digits[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, digits + 1, (size_t)nd - 1);
      o += nd - 1;
    }
    snprintf(o, (size_t)(32 - (o - out)), "e%c%02d", exp < 0 ? '-' : '+', (exp < 0 ? -exp : exp) % 1000);
  } else if (exp >= 0) {
    for (int k = 0; k <= exp; k++)
      *o++ = k < nd ? digits[k] : '0';
    *o++ = '.';
    if (nd > exp + 1) {
      memcpy(o, digits + exp + 1, (size_t)(nd - exp - 1));
      o += nd - exp - 1;
    } else {
      *o++ = '0';
    }
    *o = '\0';
  } else {
    *o++ = '0';
    *o++ = '.';
    for (int k = 0; k < -exp - 1; k++)
      *o++ = '0';
    memcpy(o, digits, (size_t)nd);
    o += nd;
    *o = '\0';
  }
}

static void append_cstr(vm_vm *vm, vm_buf *b, const char *s) { vm_buf_append(vm, b, s, strlen(s)); }

static void append_quoted(vm_vm *vm, vm_buf *b, const vm_string *s)
{
  vm_buf_append(vm, b, "\"", 1);
  for (size_t i = 0; i < s->len; i++) {
    unsigned char ch = (unsigned char)s->chars[i];
    char esc[8];
    switch (ch) {
    case '"': append_cstr(vm, b, "\\\""); break;
    case '\\': append_cstr(vm, b, "\\\\"); break;
    case '\n': append_cstr(vm, b, "\\n"); break;
    case '\t': append_cstr(vm, b, "\\t"); break;
    case '\r': append_cstr(vm, b, "\\r"); break;
    default:
      if (ch < 32 || ch == 127) {
        snprintf(esc, sizeof esc, "\\x%02x", ch);
        append_cstr(vm, b, esc);
      } else {
        vm_buf_append(vm, b, (const char *)&ch, 1);
      }
    }
  }
  vm_buf_append(vm, b, "\"", 1);
}

/* Arrays nested deeper than this print as "[...]" (also stops cycles). */
#define VM_FORMAT_MAX_DEPTH 16

void vm_value_format(vm_vm *vm, vm_buf *b, vm_value v, bool quote, int depth)
{
  char tmp[64];
  switch ((vm_tag)v.tag) {
  case VM_T_NIL: append_cstr(vm, b, "nil"); break;
  case VM_T_BOOL: append_cstr(vm, b, v.u.i ? "true" : "false"); break;
  case VM_T_INT:
    snprintf(tmp, sizeof tmp, "%" PRId64, v.u.i);
    append_cstr(vm, b, tmp);
    break;
  case VM_T_FLOAT:
    vm_format_float(tmp, v.u.d);
    append_cstr(vm, b, tmp);
    break;
  case VM_T_STR: {
    vm_string *s = v.u.p;
    if (quote)
      append_quoted(vm, b, s);
    else
      vm_buf_append(vm, b, s->chars, s->len);
    break;
  }
  case VM_T_ARRAY: {
    vm_array *a = v.u.p;
    if (depth >= VM_FORMAT_MAX_DEPTH) {
      append_cstr(vm, b, "[...]");
      break;
    }
    append_cstr(vm, b, "[");
    for (size_t i = 0; i < a->len; i++) {
      if (i)
        append_cstr(vm, b, ", ");
      vm_value_format(vm, b, a->items[i], true, depth + 1);
    }
    append_cstr(vm, b, "]");
    break;
  }
  case VM_T_FUNC:
    append_cstr(vm, b, "<fn ");
    append_cstr(vm, b, ((vm_func *)v.u.p)->code->name->chars);
    append_cstr(vm, b, ">");
    break;
  case VM_T_NATIVE:
    append_cstr(vm, b, "<builtin ");
    append_cstr(vm, b, ((vm_native *)v.u.p)->name->chars);
    append_cstr(vm, b, ">");
    break;
  case VM_T_CLASS:
    append_cstr(vm, b, "<class ");
    append_cstr(vm, b, ((vm_class *)v.u.p)->name->chars);
    append_cstr(vm, b, ">");
    break;
  case VM_T_INSTANCE:
    append_cstr(vm, b, "<");
    append_cstr(vm, b, ((vm_instance *)v.u.p)->cls->name->chars);
    append_cstr(vm, b, " instance>");
    break;
  case VM_T_BOUND:
    append_cstr(vm, b, "<method ");
    append_cstr(vm, b, ((vm_bound *)v.u.p)->method->code->name->chars);
    append_cstr(vm, b, ">");
    break;
  default:
    append_cstr(vm, b, "<undefined>");
    break;
  }
}

/* -- Equality ---------------------------------------------------------------- */

bool vm_value_equal(vm_value a, vm_value b)
{
  if (a.tag == b.tag) {
    switch ((vm_tag)a.tag) {
    case VM_T_NIL: return true;
    case VM_T_FLOAT: return a.u.d == b.u.d;
    default: return a.u.i == b.u.i; /* ints, bools, object identity */
    }
  }
  if (a.tag == VM_T_INT && b.tag == VM_T_FLOAT)
    return (double)a.u.i == b.u.d;
  if (a.tag == VM_T_FLOAT && b.tag == VM_T_INT)
    return a.u.d == (double)b.u.i;
  return false;
}
