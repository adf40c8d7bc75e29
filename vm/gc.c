/*
 * gc.c — non-moving mark-sweep garbage collector and its small-object pool.
 *
 * Marking uses an explicit gray stack (never C recursion), so arbitrarily
 * deep object graphs (long linked lists of instances) cannot overflow the C
 * stack.  Sweeping walks the single all-objects list.
 *
 * Stale stack slots.  Frames are not nil-filled when pushed: a slot may hold
 * a value left behind by an earlier, deeper call.  That is safe because every
 * collection (a) marks every slot below the highest frame top and (b) clears
 * every slot above it.  So any pointer found in the stack was either live at
 * the last collection or was written since, and in both cases still points to
 * an allocated object.
 */
#include "gc.h"

#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/mman.h>

#include <jcache/mem.h>

#include "error.h"
#include "jit/jit.h"
#include "vm.h"

/* -- Accounting -------------------------------------------------------------- */

/* Raise "out of memory" unless `extra` more bytes fit under the limit. */
static void check_limit(vm_vm *vm, size_t extra)
{
  if (extra > vm->max_heap || vm->heap_bytes > vm->max_heap - extra)
    vm_error_oom(vm);
}

void *vm_mem_realloc(vm_vm *vm, void *p, size_t old_size, size_t new_size)
{
  if (new_size == 0) {
    free(p);
    vm->heap_bytes -= old_size;
    return NULL;
  }
  if (new_size > old_size)
    check_limit(vm, new_size - old_size);
  void *q = realloc(p, new_size);
  if (!q)
    vm_error_oom(vm);
  vm->heap_bytes = vm->heap_bytes - old_size + new_size;
  return q;
}

/* Building with -DVM_GC_STRESS collects at every allocation point, which
   turns any object left unrooted across an allocation into a use-after-free
   that ASan reports (run the test suite with such a build). */
void vm_gc_step(vm_vm *vm)
{
#ifdef VM_GC_STRESS
  if (vm->gc_paused == 0)
    vm_gc_collect(vm);
#else
  if (vm->heap_bytes > vm->gc_threshold && vm->gc_paused == 0)
    vm_gc_collect(vm);
#endif
}

/* -- Small-object pool ----------------------------------------------------------

   Objects of up to POOL_MAX bytes (strings, instances, cells, closures:
   nearly all of them) come from a pool of 16-byte size classes, carved from
   256 KiB chunks and recycled through a free list per class.  With malloc,
   the thousands of small chunks a sweep frees went into glibc's fastbins,
   and the mallocs after the collection paid to consolidate and sort them:
   in deltablue every iteration that followed a collection ran about 1 ms
   (15%) slower, with and without the JIT.  The pool's free and alloc are a
   push and a pop.  Chunks are carved from reservations of POOL_SEG bytes
   (pool_fresh) and go back to the system only when the VM is freed.

   Under AddressSanitizer the pool is off: ASan's own allocator and its
   quarantine are what turn an object freed while still referenced into a
   report (the -DVM_GC_STRESS test build relies on that). */
#define POOL_GRAIN 16
#define POOL_CHUNK ((size_t)256 << 10)
#if defined(__SANITIZE_ADDRESS__)
#define POOL_MAX 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_MAX 0
#endif
#endif
#ifndef POOL_MAX
#define POOL_MAX (POOL_GRAIN * VM_POOL_CLASSES)
#endif

/* A new chunk's pages are given memory in one system call rather than a
   page fault each as objects are carved from it: a fault costs
   microseconds in a virtual machine, and a chunk has 64 pages.  deltablue's
   heap grows over its first iterations: in 10 interleaved runs each, its
   warm run's time above steady state over its first eleven iterations
   went from 2.02 to 1.56 steady iterations, its first iteration from 1.76
   to 1.60 of one (left to fault in, the first chunk kept the first
   iteration where it was).  A small program pays for a chunk it may not
   touch all of: 256 KiB. */
static void pool_populate(uint8_t *c)
{
#ifdef MADV_POPULATE_WRITE
  (void)madvise(c, POOL_CHUNK, MADV_POPULATE_WRITE); /* best effort */
#else
  (void)c;
#endif
}

/* Has every page of chunk c memory already?  mincore costs about 1 us,
   populating the pages that have it again about 17. */
static bool pool_resident(uint8_t *c)
{
  unsigned char v[POOL_CHUNK / 4096];
  if (mincore(c, POOL_CHUNK, v) != 0)
    return false;
  for (size_t k = 0; k < POOL_CHUNK / 4096; k++)
    if (!(v[k] & 1))
      return false;
  return true;
}

/* A reservation chunks are carved from: one mapping, never touched before
   a chunk of it is taken or handed to the populating thread.  Its chunks
   are whole pages (POOL_SEG and POOL_CHUNK are multiples of the page). */
typedef struct pool_seg {
  struct pool_seg *next;
  uint8_t *base;
} pool_seg;
#define POOL_SEG ((size_t)32 << 20)

/* A fresh chunk (zero: anonymous memory never written), carved from the
   newest reservation.  With a mapping per chunk (calloc of 256 KiB is an
   mmap, the next chunk ahead's too), taking a chunk the thread had
   populated cost the program's thread 15 to 20 us; carved from a
   reservation, 2 to 3 us (mincore, mostly).  binary-trees' heap grows by
   15 chunks in its first iteration, and that was most of its warm run's
   time above steady state (8 cold and warm runs each, warm first
   iteration over steady: 1.05 to 1.005). */
static uint8_t *pool_fresh(vm_vm *vm)
{
  if (vm->pool_seg_next == vm->pool_seg_end) {
    void *p = mmap(NULL, POOL_SEG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
      return NULL;
    pool_seg *g = malloc(sizeof *g);
    if (!g) {
      munmap(p, POOL_SEG);
      return NULL;
    }
    g->base = p;
    g->next = vm->pool_segs;
    vm->pool_segs = g;
    vm->pool_seg_next = p;
    vm->pool_seg_end = g->base + POOL_SEG;
  }
  uint8_t *c = vm->pool_seg_next;
  vm->pool_seg_next += POOL_CHUNK;
  return c;
}

/* The next chunk, its pages given memory.  Even in one system call, that
   is about 70 us a chunk on the program's thread (a heap growing by 15
   chunks in binary-trees' first iteration: a millisecond, most of its warm
   run's time above steady state).  So as many chunks as were taken so far,
   up to VM_POOL_AHEAD, are kept mapped ahead and handed to libjcache's
   populating thread, on another CPU (jc_mem_populate_ahead); a chunk taken
   before it got there is populated here, as before.  A program that never
   grows its heap past one chunk maps one more: the one ahead. */
static uint8_t *pool_chunk(vm_vm *vm)
{
  uint8_t *c = NULL;
  if (vm->pool_nahead) {
    c = vm->pool_ahead[0];
    memmove(&vm->pool_ahead[0], &vm->pool_ahead[1], --vm->pool_nahead * sizeof *vm->pool_ahead);
  } else {
    c = pool_fresh(vm);
    if (!c)
      return NULL;
  }
  if (!pool_resident(c))
    pool_populate(c);
  vm->pool_taken++;
  while (vm->pool_nahead < VM_POOL_AHEAD && vm->pool_nahead < vm->pool_taken) {
    uint8_t *n = pool_fresh(vm);
    if (!n)
      break;
    vm->pool_ahead[vm->pool_nahead++] = n;
    if (!jc_mem_populate_ahead(n, POOL_CHUNK))
      break; /* no thread: populated when taken */
  }
  return c;
}

/* A zeroed block for an object of `size` (1..POOL_MAX) bytes, or NULL. */
static vm_obj *pool_alloc(vm_vm *vm, size_t size)
{
  size_t cls = (size - 1) / POOL_GRAIN, n = (cls + 1) * POOL_GRAIN;
  void *p = vm->pool_free[cls];
  if (p) {
    vm->pool_free[cls] = *(void **)p;
    memset(p, 0, n);
  } else {
    if ((size_t)(vm->pool_end - vm->pool_bump) < n) {
      /* The tail of the previous chunk is left unused (less than one block
         of the largest class). */
      uint8_t *c = pool_chunk(vm);
      if (!c)
        return NULL;
      vm->pool_bump = c;
      vm->pool_end = c + POOL_CHUNK;
    }
    p = vm->pool_bump;
    vm->pool_bump += n;
  }
  vm_obj *o = p;
  o->pool_class = (uint8_t)(cls + 1);
  return o;
}

void vm_gc_release(vm_vm *vm, vm_obj *o)
{
  if (!o->pool_class) {
    free(o);
    return;
  }
  size_t cls = o->pool_class - 1u;
  *(void **)o = vm->pool_free[cls];
  vm->pool_free[cls] = o;
}

/* Give every chunk back (after every object was released). */
static void pool_free_all(vm_vm *vm)
{
  while (vm->pool_segs) {
    pool_seg *g = vm->pool_segs;
    vm->pool_segs = g->next;
    munmap(g->base, POOL_SEG);
    free(g);
  }
  vm->pool_nahead = 0; /* chunks of those reservations */
  vm->pool_seg_next = vm->pool_seg_end = NULL;
  memset(vm->pool_free, 0, sizeof vm->pool_free);
  vm->pool_bump = vm->pool_end = NULL;
}

void *vm_gc_alloc(vm_vm *vm, vm_objkind kind, size_t size)
{
  vm_gc_step(vm);
  /* Near the limit, a collection may free enough to continue. */
  if (vm->gc_paused == 0 && (size > vm->max_heap || vm->heap_bytes > vm->max_heap - size))
    vm_gc_collect(vm);
  check_limit(vm, size);
  vm_obj *o = size <= POOL_MAX ? pool_alloc(vm, size) : calloc(1, size);
  if (!o)
    vm_error_oom(vm);
  vm->heap_bytes += size;
  o->kind = (uint8_t)kind;
  o->gc_next = vm->objects;
  vm->objects = o;
  return o;
}

void vm_gc_pause(vm_vm *vm) { vm->gc_paused++; }
void vm_gc_resume(vm_vm *vm) { vm->gc_paused--; }

/* -- Roots API ----------------------------------------------------------------- */

void vm_gc_link_roots(vm_vm *vm, vm_root *r, vm_value *slots, size_t n)
{
  /* Roots are few (a range per JIT trace, C temporaries): a list is enough. */
  r->slot = slots;
  r->n = n;
  r->next = vm->roots;
  vm->roots = r;
}

void vm_gc_unlink_roots(vm_vm *vm, vm_root *r)
{
  for (vm_root **pp = &vm->roots; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      return;
    }
}

void vm_gc_add_roots(vm_vm *vm, vm_value *slots, size_t n)
{
  vm_root *r = malloc(sizeof *r);
  if (!r)
    vm_error_oom(vm);
  vm_gc_link_roots(vm, r, slots, n);
}

void vm_gc_add_root(vm_vm *vm, vm_value *slot)
{
  vm_gc_add_roots(vm, slot, 1);
}

void vm_gc_remove_root(vm_vm *vm, vm_value *slot)
{
  for (vm_root **pp = &vm->roots; *pp; pp = &(*pp)->next) {
    if ((*pp)->slot == slot) {
      vm_root *r = *pp;
      *pp = r->next;
      free(r);
      return;
    }
  }
}

/* -- Mark ---------------------------------------------------------------------- */

static void mark_obj(vm_vm *vm, vm_obj *o)
{
  if (!o || o->marked)
    return;
  o->marked = 1;
  if (vm->ngray == vm->gray_cap) {
    size_t cap = vm->gray_cap ? vm->gray_cap * 2 : 1024;
    /* The gray stack is GC bookkeeping, outside the heap limit. */
    vm_obj **g = realloc(vm->gray, cap * sizeof *g);
    if (!g)
      vm_error_oom(vm);
    vm->gray = g;
    vm->gray_cap = cap;
  }
  vm->gray[vm->ngray++] = o;
}

static void mark_value(vm_vm *vm, vm_value v)
{
  if (vm_is_obj(v))
    mark_obj(vm, (vm_obj *)v.u.p);
}

static void mark_table(vm_vm *vm, const vm_table *t)
{
  for (uint32_t i = 0; i < t->cap; i++) {
    if (t->entries[i].key) {
      mark_obj(vm, &t->entries[i].key->hdr);
      mark_value(vm, t->entries[i].val);
    }
  }
}

/* Mark everything directly referenced by a gray object. */
static void blacken(vm_vm *vm, vm_obj *o)
{
  switch ((vm_objkind)o->kind) {
  case VM_O_STRING:
  case VM_O_NATIVE:
    if (o->kind == VM_O_NATIVE)
      mark_obj(vm, &((vm_native *)o)->name->hdr);
    break;
  case VM_O_ARRAY: {
    vm_array *a = (vm_array *)o;
    for (size_t i = 0; i < a->len; i++)
      mark_value(vm, a->items[i]);
    break;
  }
  case VM_O_FUNC: {
    vm_func *f = (vm_func *)o;
    mark_obj(vm, &f->code->hdr);
    if (f->owner)
      mark_obj(vm, &f->owner->hdr);
    for (uint32_t i = 0; i < f->nupvals; i++)
      if (f->upvals[i])
        mark_obj(vm, &f->upvals[i]->hdr);
    break;
  }
  case VM_O_CLASS: {
    vm_class *c = (vm_class *)o;
    mark_obj(vm, &c->name->hdr);
    if (c->super)
      mark_obj(vm, &c->super->hdr);
    for (uint32_t i = 0; i < c->nfields; i++)
      mark_obj(vm, &c->field_names[i]->hdr);
    mark_table(vm, &c->fields);
    mark_table(vm, &c->methods);
    break;
  }
  case VM_O_INSTANCE: {
    vm_instance *in = (vm_instance *)o;
    mark_obj(vm, &in->cls->hdr);
    for (uint32_t i = 0; i < in->nfields; i++)
      mark_value(vm, in->fields[i]);
    break;
  }
  case VM_O_BOUND: {
    vm_bound *b = (vm_bound *)o;
    mark_value(vm, b->self);
    mark_obj(vm, &b->method->hdr);
    break;
  }
  case VM_O_CODE: {
    vm_code *c = (vm_code *)o;
    mark_obj(vm, &c->name->hdr);
    mark_obj(vm, &c->source->hdr);
    for (uint32_t i = 0; i < c->nconsts; i++)
      mark_value(vm, c->consts[i]);
    for (uint32_t i = 0; i < c->nnames; i++)
      mark_obj(vm, &c->names[i]->hdr);
    for (uint32_t i = 0; i < c->ncells; i++)
      mark_obj(vm, &c->cells[i]->hdr);
    for (uint32_t i = 0; i < c->nprotos; i++)
      mark_obj(vm, &c->protos[i]->hdr);
    if (c->ic)
      for (uint32_t i = 0; i < c->ninsns; i++)
        if (c->ic[i].cls)
          mark_obj(vm, &c->ic[i].cls->hdr);
    break;
  }
  case VM_O_CELL: {
    vm_cell *c = (vm_cell *)o;
    mark_obj(vm, &c->name->hdr);
    mark_value(vm, c->value);
    break;
  }
  case VM_O_UPVAL: {
    vm_upval *u = (vm_upval *)o;
    mark_value(vm, *u->loc);
    break;
  }
  }
}

static void mark_roots(vm_vm *vm)
{
  /* Value stack: everything below the highest frame top (see file comment). */
  vm_value *top = vm->stack;
  if (vm->frame) {
    for (vm_frame *f = vm->frames; f <= vm->frame; f++) {
      vm_value *t = f->base + f->func->code->nslots;
      if (t > top)
        top = t;
      mark_obj(vm, &f->func->hdr);
    }
  }
  for (vm_value *v = vm->stack; v < top; v++)
    mark_value(vm, *v);
  /* Clear stale slots above, so they can never name a freed object. */
  for (vm_value *v = top; v < vm->stack_hwm; v++)
    *v = vm_nil();
  vm->stack_hwm = top;

  for (vm_upval *u = vm->open_upvals; u; u = u->open_next)
    mark_obj(vm, &u->hdr);
  for (uint32_t i = 0; i < vm->globals.cap; i++) {
    vm_table_entry *e = &vm->globals.entries[i];
    if (e->key) {
      mark_obj(vm, &e->key->hdr);
      mark_obj(vm, (vm_obj *)e->val.u.p);
    }
  }
  if (vm->main_func)
    mark_obj(vm, &vm->main_func->hdr);
  for (int i = 0; i < 256; i++)
    if (vm->char_strs[i])
      mark_obj(vm, &vm->char_strs[i]->hdr);
  if (vm->str_init)
    mark_obj(vm, &vm->str_init->hdr);
  for (vm_root *r = vm->roots; r; r = r->next)
    for (size_t k = 0; k < r->n; k++)
      mark_value(vm, r->slot[k]);
  /* A recording's constants (it records instructions that allocate), an
  ** exit's objects being rebuilt (allocation sinking). */
  if (vm->jit)
    jit_gc_mark(vm->jit, mark_value);
}

/* -- Sweep --------------------------------------------------------------------- */

static void sweep(vm_vm *vm)
{
  vm_obj **pp = &vm->objects;
  while (*pp) {
    vm_obj *o = *pp;
    if (o->marked) {
      o->marked = 0;
      pp = &o->gc_next;
    } else {
      *pp = o->gc_next;
      vm_object_free(vm, o);
    }
  }
}

/* -- Collection ---------------------------------------------------------------- */

void vm_gc_collect(vm_vm *vm)
{
  if (vm->gc_paused)
    return;
  vm->gc_count++;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  mark_roots(vm);
  while (vm->ngray > 0)
    blacken(vm, vm->gray[--vm->ngray]);
  vm_str_sweep_interned(vm); /* weak: before the sweep frees them */
  sweep(vm);
  size_t next = vm->heap_bytes * 2;
  vm->gc_threshold = next > VM_GC_MIN_THRESHOLD ? next : VM_GC_MIN_THRESHOLD;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  vm->gc_ns += (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
}

void vm_gc_free_all(vm_vm *vm)
{
  vm_obj *o = vm->objects;
  while (o) {
    vm_obj *next = o->gc_next;
    vm_object_free(vm, o);
    o = next;
  }
  vm->objects = NULL;
  pool_free_all(vm);
  free(vm->gray);
  vm->gray = NULL;
  vm->ngray = vm->gray_cap = 0;
  while (vm->roots) {
    vm_root *r = vm->roots;
    vm->roots = r->next;
    free(r);
  }
}
